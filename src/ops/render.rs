//! Plain-text lines of replies (the terminal's view; chat renders the structured parts).

use crate::engine::report::{EventStatus, Links};
use crate::plan::Plan;
use crate::schedule::listing::Entry;
use crate::store::alerts::AlertRow;
use crate::store::{AuditRow, StoredOverride};

pub fn plan(plan: &Plan) -> Vec<String> {
    let mut out = vec![format!(
        "  {} {} input, {} channel, profile {}",
        plan.workflow.media_live.input_type,
        plan.workflow.media_live.source_end_behavior,
        plan.workflow.media_live.channel_class,
        plan.profile_name
    )];
    for r in &plan.resources {
        let deps = if r.depends_on.is_empty() { String::new() } else { format!("  after {}", r.depends_on.join(", ")) };
        out.push(format!("  {:<22} {:<32} {}{}", r.key, r.kind.label(), r.name, deps));
    }
    out.push(format!("  critical path: {} sequential AWS requests", plan.critical_path()));
    out
}

pub fn status(s: &EventStatus) -> Vec<String> {
    let live = s.channel_state.as_deref().map(|c| format!(", channel {c}")).unwrap_or_default();
    let mut out = vec![format!(
        "{}: {}{} (deployment {}, updated {})",
        s.event,
        s.phase.as_str(),
        live,
        s.deployment,
        s.updated_at
    )];
    if let Some(e) = &s.last_error {
        out.push(format!("  last error: {e}"));
    }
    if let Some(l) = &s.lease {
        match (&l.holder, &l.doing) {
            (Some(h), Some(d)) => out.push(format!("  lease: term {}, held by {h} ({d})", l.term)),
            _ => out.push(format!("  lease: term {}, free", l.term)),
        }
    }
    match s.live {
        Some(l) if l.open_break.is_some() || l.slate_up => {
            let mut on = Vec::new();
            if let Some(id) = l.open_break {
                on.push(format!("break {id} open (`back {}` ends it)", s.event));
            }
            if l.slate_up {
                on.push(format!("the slate is up (`slate {} off`)", s.event));
            }
            out.push(format!("  on air now: {}", on.join("; ")));
        }
        _ => {}
    }
    for r in &s.resources {
        out.push(format!("  {:<22} {:<10} {}", r.key, r.status.as_str(), r.id.as_deref().unwrap_or(&r.name)));
    }
    for (i, d) in s.ingest.iter().enumerate() {
        out.push(format!("  ingest {}: {d}", if i == 0 { "primary  " } else { "secondary" }));
    }
    for (i, d) in s.backup_ingest.iter().enumerate() {
        out.push(format!("  ingest backup {}: {d}", if i == 0 { "primary  " } else { "secondary" }));
    }
    out
}

pub fn links(l: &Links) -> Vec<String> {
    let mut out = Vec::new();
    for p in &l.playback {
        out.push(format!("  {:<5} {}", p.format, p.url));
        if let Some(player) = &p.player {
            out.push(format!("        player: {player}"));
        }
    }
    if let Some(p) = &l.preview {
        out.push(format!("  preview {p}"));
    }
    for (i, d) in l.ingest.iter().enumerate() {
        out.push(format!("  push to ({}): {d}", if i == 0 { "primary" } else { "secondary" }));
    }
    for (i, d) in l.backup_ingest.iter().enumerate() {
        out.push(format!("  push backup to ({}): {d}", if i == 0 { "primary" } else { "secondary" }));
    }
    out
}

pub fn override_line(o: &StoredOverride) -> String {
    let until = o.until.map(|u| format!(" until {}", u.format("%Y-%m-%d %H:%M:%S UTC"))).unwrap_or_default();
    format!(
        "override: {} {} (by {} at {}){until}",
        o.event,
        o.kind.as_str(),
        o.by,
        o.set_at.format("%Y-%m-%d %H:%M:%S UTC")
    )
}

pub fn schedule(list: &[Entry]) -> Vec<String> {
    let mut out = Vec::new();
    for e in list {
        let state = e.now.unwrap_or("on demand");
        let off = if e.enabled { "" } else { " (disabled)" };
        out.push(format!("{} — {}{off}: now {state} [{}]", e.event, e.title, e.timing));
        for ch in &e.next {
            out.push(format!("  {:<10} {}   ({})", ch.phase, ch.local, ch.utc));
        }
    }
    out
}

pub fn alerts(rows: &[AlertRow]) -> Vec<String> {
    if rows.is_empty() {
        return vec!["no alerts".to_string()];
    }
    rows.iter()
        .map(|a| {
            let state = match a.cleared_at {
                Some(c) => format!("cleared {}", c.format("%H:%M:%S")),
                None => "SET".to_string(),
            };
            let acted = a.action.as_deref().map(|x| format!("  recovery: {x}")).unwrap_or_default();
            let acked = a.acked_by.as_deref().map(|x| format!("  acked by {x}")).unwrap_or_default();
            format!(
                "#{:<5} {}  {:<10} p{}  {:<40} {state}{acted}{acked}",
                a.id,
                a.set_at.format("%Y-%m-%d %H:%M:%S"),
                a.event,
                a.pipeline,
                a.alert_type
            )
        })
        .collect()
}

pub fn audit(rows: &[AuditRow]) -> Vec<String> {
    if rows.is_empty() {
        return vec!["no audit rows".to_string()];
    }
    rows.iter()
        .map(|r| {
            let result = r.result.as_deref().unwrap_or("running");
            let took = r.duration_ms.map(|ms| format!(" {:.1}s", ms as f64 / 1000.0)).unwrap_or_default();
            let error = r.error.as_deref().map(|e| format!("  {}", e.lines().next().unwrap_or(""))).unwrap_or_default();
            let on = if r.instance.is_empty() { String::new() } else { format!("  on {}", r.instance) };
            format!(
                "{}  {:<16} {:<10} {:<9} {:<8} {}{took}{error}{on}",
                r.at.format("%Y-%m-%d %H:%M:%S"),
                r.actor,
                r.event.as_deref().unwrap_or("-"),
                r.operation,
                r.decision,
                result
            )
        })
        .collect()
}
