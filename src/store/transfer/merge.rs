//! What an import writes: the destination's records (as exported) against the snapshot's,
//! record by record, by the rules of [`super`]'s module doc; and the counts it reports.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::snapshot::{
    AlertRecord, AuditRecord, Counters, DeploymentRecord, LiveCommandRecord, LiveCounterRecord, OverrideRecord,
    Quarantined, RequestRecord, ResourceRecord, Sighting, Snapshot, StepRecord, WindowsRecord,
};
use super::TransferError;
use crate::store::requests::State as RequestState;

/// What an import did with one kind of record.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Count {
    /// Not in the destination: written.
    pub new: usize,
    /// In the destination, older (or less marked): written.
    pub updated: usize,
    /// In the destination as in the snapshot.
    pub unchanged: usize,
    /// In the destination and newer there: the destination's kept.
    pub kept: usize,
    /// Resources of a deployment replaced by a newer one: deleted.
    pub removed: usize,
}

impl Count {
    fn add(&mut self, o: &Count) {
        self.new += o.new;
        self.updated += o.updated;
        self.unchanged += o.unchanged;
        self.kept += o.kept;
        self.removed += o.removed;
    }
}

/// What an import did, by kind of record.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Imported {
    pub deployments: Count,
    pub resources: Count,
    pub steps: Count,
    pub overrides: Count,
    pub known_windows: Count,
    pub meta: Count,
    pub audit: Count,
    pub alerts: Count,
    pub requests: Count,
    pub seen: Count,
    pub envelopes: Count,
    pub quarantine: Count,
    pub live: Count,
    /// Whether a counter had to be raised above the imported ids.
    pub counters_raised: bool,
}

impl Imported {
    pub fn total(&self) -> Count {
        let mut t = Count::default();
        for c in [
            &self.deployments,
            &self.resources,
            &self.steps,
            &self.overrides,
            &self.known_windows,
            &self.meta,
            &self.audit,
            &self.alerts,
            &self.requests,
            &self.seen,
            &self.envelopes,
            &self.quarantine,
            &self.live,
        ] {
            t.add(c);
        }
        t
    }

    /// Records written or deleted: 0 for a snapshot imported before.
    pub fn changed(&self) -> usize {
        let t = self.total();
        t.new + t.updated + t.removed
    }
}

impl std::fmt::Display for Imported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let t = self.total();
        write!(f, "{} new, {} updated, {} unchanged, {} kept newer here", t.new, t.updated, t.unchanged, t.kept)?;
        if t.removed > 0 {
            write!(f, ", {} resources of replaced deployments removed", t.removed)?;
        }
        Ok(())
    }
}

/// What an import writes: the records to upsert as they are, the events whose resources are
/// replaced, and the counters to raise.
#[derive(Debug, Clone, PartialEq)]
pub struct Changes {
    /// Records to write (its `counters` unused: see [`Changes::counters`]; its `live_counters`
    /// are counters to raise to at least these values, never lowered).
    pub records: Snapshot,
    /// Events whose stored resources go before `records.resources` are written (a newer
    /// deployment of the event with another nonce).
    pub replace_resources_of: Vec<String>,
    /// Counters to raise to at least these values.
    pub counters: Option<Counters>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        let r = &self.records;
        r.deployments.is_empty()
            && r.resources.is_empty()
            && r.steps.is_empty()
            && r.overrides.is_empty()
            && r.known_windows.is_empty()
            && r.meta.is_empty()
            && r.audit.is_empty()
            && r.alerts.is_empty()
            && r.requests.is_empty()
            && r.seen.is_empty()
            && r.envelopes.is_empty()
            && r.quarantine.is_empty()
            && r.live.is_empty()
            && r.live_counters.is_empty()
            && self.replace_resources_of.is_empty()
            && self.counters.is_none()
    }
}

/// How an event's resources follow its deployment.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Follow {
    /// Another deployment replaced the destination's: its resources replace the old ones.
    Replace,
    /// The same deployment (or none in the snapshot): row by row, the newer wins.
    Merge,
    /// The destination's deployment is newer: its resources stay as they are.
    Keep,
}

/// Newer-wins for a record with an instant: (count, write it?).
fn newer<T: PartialEq>(here: Option<&T>, there: &T, at: impl Fn(&T) -> DateTime<Utc>, n: &mut Count) -> bool {
    match here {
        None => {
            n.new += 1;
            true
        }
        Some(h) if h == there => {
            n.unchanged += 1;
            false
        }
        Some(h) if at(there) > at(h) => {
            n.updated += 1;
            true
        }
        Some(_) => {
            n.kept += 1;
            false
        }
    }
}

/// Present here: kept as is; absent: written (dedupe keys, quarantine).
fn absent<T: PartialEq>(here: Option<&T>, there: &T, n: &mut Count) -> bool {
    match here {
        None => {
            n.new += 1;
            true
        }
        Some(h) if h == there => {
            n.unchanged += 1;
            false
        }
        Some(_) => {
            n.kept += 1;
            false
        }
    }
}

/// An alert with every mark either side made: a claim (told, acted) once made stays made.
fn merge_alert(h: &AlertRecord, a: &AlertRecord) -> AlertRecord {
    let later = a.last_time > h.last_time;
    let (acked_by, acked_at) =
        if h.acked_by.is_some() { (h.acked_by.clone(), h.acked_at) } else { (a.acked_by.clone(), a.acked_at) };
    let (action, acted_at) =
        if h.acted_at.is_some() { (h.action.clone(), h.acted_at) } else { (a.action.clone(), a.acted_at) };
    AlertRecord {
        message: if later { a.message.clone() } else { h.message.clone() },
        last_time: h.last_time.max(a.last_time),
        cleared_at: h.cleared_at.or(a.cleared_at),
        notified_at: h.notified_at.or(a.notified_at),
        cleared_notified: h.cleared_notified || a.cleared_notified,
        acked_by,
        acked_at,
        action,
        acted_at,
        ..h.clone()
    }
}

/// Decide what importing `there` into a store holding `here` writes, and count it.
pub fn merge(here: &Snapshot, there: &Snapshot) -> std::result::Result<(Changes, Imported), TransferError> {
    let mut out = Snapshot::empty(there.exported_at);
    let mut n = Imported::default();

    let have: HashMap<&str, &DeploymentRecord> = here.deployments.iter().map(|d| (d.event.as_str(), d)).collect();
    let mut follow: HashMap<&str, Follow> = HashMap::new();
    for d in &there.deployments {
        let h = have.get(d.event.as_str()).copied();
        let f = match h {
            None => Follow::Replace,
            Some(h) if h == d => Follow::Merge,
            Some(h) if d.updated_at > h.updated_at && h.nonce == d.nonce => Follow::Merge,
            Some(h) if d.updated_at > h.updated_at => Follow::Replace,
            Some(_) => Follow::Keep,
        };
        if newer(h, d, |d| d.updated_at, &mut n.deployments) {
            out.deployments.push(d.clone());
        }
        follow.insert(d.event.as_str(), f);
    }

    let have: HashMap<(&str, &str), &ResourceRecord> =
        here.resources.iter().map(|r| ((r.event.as_str(), r.key.as_str()), r)).collect();
    let mut replaced = BTreeSet::new();
    for r in &there.resources {
        let h = have.get(&(r.event.as_str(), r.key.as_str())).copied();
        match follow.get(r.event.as_str()).copied().unwrap_or(Follow::Merge) {
            Follow::Merge => {
                if newer(h, r, |r| r.updated_at, &mut n.resources) {
                    out.resources.push(r.clone());
                }
            }
            Follow::Keep => {
                if h == Some(r) {
                    n.resources.unchanged += 1
                } else {
                    n.resources.kept += 1
                }
            }
            Follow::Replace => {
                match h {
                    None => n.resources.new += 1,
                    Some(h) if h == r => n.resources.unchanged += 1,
                    Some(_) => n.resources.updated += 1,
                }
                // Written again in the snapshot's order, after the event's rows are cleared.
                out.resources.push(r.clone());
                replaced.insert(r.event.as_str());
            }
        }
    }
    for (event, f) in &follow {
        if *f != Follow::Replace {
            continue;
        }
        let theirs: HashSet<&str> =
            there.resources.iter().filter(|r| r.event == *event).map(|r| r.key.as_str()).collect();
        let stale = here.resources.iter().filter(|r| r.event == *event && !theirs.contains(r.key.as_str())).count();
        n.resources.removed += stale;
        if stale > 0 {
            replaced.insert(event);
        }
    }

    // Rows with the same content are the same rows: add the copies missing here.
    let mut have: HashMap<&StepRecord, usize> = HashMap::new();
    for s in &here.steps {
        *have.entry(s).or_default() += 1;
    }
    for s in &there.steps {
        match have.get_mut(s) {
            Some(left) if *left > 0 => {
                *left -= 1;
                n.steps.unchanged += 1;
            }
            _ => {
                n.steps.new += 1;
                out.steps.push(s.clone());
            }
        }
    }

    let have: HashMap<&str, &OverrideRecord> = here.overrides.iter().map(|o| (o.event.as_str(), o)).collect();
    for o in &there.overrides {
        if newer(have.get(o.event.as_str()).copied(), o, |o| o.set_at, &mut n.overrides) {
            out.overrides.push(o.clone());
        }
    }
    let have: HashMap<&str, &WindowsRecord> = here.known_windows.iter().map(|w| (w.event.as_str(), w)).collect();
    for w in &there.known_windows {
        if newer(have.get(w.event.as_str()).copied(), w, |w| w.recorded_at, &mut n.known_windows) {
            out.known_windows.push(w.clone());
        }
    }
    for (k, v) in &there.meta {
        match here.meta.get(k) {
            None => n.meta.new += 1,
            Some(h) if h == v => {
                n.meta.unchanged += 1;
                continue;
            }
            Some(_) => n.meta.updated += 1,
        }
        out.meta.insert(k.clone(), v.clone());
    }

    // Audit rows by key. A row keeps its id unless the destination gave it to another row.
    let have: HashMap<&str, &AuditRecord> = here.audit.iter().map(|a| (a.key.as_str(), a)).collect();
    let mut taken: HashSet<i64> = here.audit.iter().map(|a| a.id).collect();
    let top = |s: &Snapshot| s.audit.iter().map(|a| a.id).max().unwrap_or(0).max(s.counters.audit);
    let mut next_id = top(here).max(top(there)) + 1;
    for a in &there.audit {
        match have.get(a.key.as_str()) {
            None => {
                let mut a = a.clone();
                if !taken.insert(a.id) {
                    a.id = next_id;
                    next_id += 1;
                    taken.insert(a.id);
                }
                n.audit.new += 1;
                out.audit.push(a);
            }
            Some(h) if AuditRecord { id: h.id, ..a.clone() } == **h => n.audit.unchanged += 1,
            Some(h) if h.result.is_none() && a.result.is_some() => {
                n.audit.updated += 1;
                out.audit.push(AuditRecord { id: h.id, ..a.clone() });
            }
            Some(_) => n.audit.kept += 1,
        }
    }

    let have: HashMap<i64, &AlertRecord> = here.alerts.iter().map(|a| (a.id, a)).collect();
    for a in &there.alerts {
        let Some(h) = have.get(&a.id) else {
            n.alerts.new += 1;
            out.alerts.push(a.clone());
            continue;
        };
        let same = (&h.event, &h.channel_id, h.pipeline, &h.alarm_id, h.set_at)
            == (&a.event, &a.channel_id, a.pipeline, &a.alarm_id, a.set_at);
        if !same {
            let why = format!(
                "{} {}#{}#{} set at {} here",
                h.event,
                h.channel_id,
                h.pipeline,
                h.alarm_id,
                crate::store::time_str(h.set_at)
            );
            return Err(TransferError::Conflict { what: "alert", id: a.id, why });
        }
        let merged = merge_alert(h, a);
        if merged == **h {
            if *h == a {
                n.alerts.unchanged += 1
            } else {
                n.alerts.kept += 1
            }
        } else {
            n.alerts.updated += 1;
            out.alerts.push(merged);
        }
    }

    let have: HashMap<i64, &RequestRecord> = here.requests.iter().map(|r| (r.id, r)).collect();
    for r in &there.requests {
        let Some(h) = have.get(&r.id) else {
            n.requests.new += 1;
            out.requests.push(r.clone());
            continue;
        };
        if (h.kind, &h.requester, &h.channel, &h.command, h.created_at)
            != (r.kind, &r.requester, &r.channel, &r.command, r.created_at)
        {
            let why = format!("`{}` by {} at {} here", h.command, h.requester, crate::store::time_str(h.created_at));
            return Err(TransferError::Conflict { what: "chat request", id: r.id, why });
        }
        if *h == r {
            n.requests.unchanged += 1;
        } else if h.state == RequestState::Pending && r.state != RequestState::Pending {
            n.requests.updated += 1;
            out.requests.push(r.clone());
        } else {
            n.requests.kept += 1;
        }
    }

    for (mine, theirs, into, count) in [
        (&here.seen, &there.seen, &mut out.seen, &mut n.seen),
        (&here.envelopes, &there.envelopes, &mut out.envelopes, &mut n.envelopes),
    ] {
        let have: HashMap<&str, &Sighting> = mine.iter().map(|s| (s.key.as_str(), s)).collect();
        for s in theirs {
            if absent(have.get(s.key.as_str()).copied(), s, count) {
                into.push(s.clone());
            }
        }
    }
    let have: HashMap<&str, &Quarantined> = here.quarantine.iter().map(|q| (q.source.as_str(), q)).collect();
    for q in &there.quarantine {
        if absent(have.get(q.source.as_str()).copied(), q, &mut n.quarantine) {
            out.quarantine.push(q.clone());
        }
    }

    // Live commands by (event, nonce, counter); the same key for a command taken at another
    // instant or by another actor is another store's history.
    let have: HashMap<(&str, &str, u32), &LiveCommandRecord> =
        here.live.iter().map(|l| ((l.event.as_str(), l.nonce.as_str(), l.counter), l)).collect();
    for l in &there.live {
        let h = have.get(&(l.event.as_str(), l.nonce.as_str(), l.counter)).copied();
        if let Some(h) = h.filter(|h| (h.at, &h.by) != (l.at, &l.by)) {
            let why = format!(
                "{} deployment {} #{} taken by {} at {} here",
                h.event,
                h.nonce,
                h.counter,
                h.by,
                crate::store::time_str(h.at)
            );
            return Err(TransferError::Conflict { what: "live command", id: i64::from(l.counter), why });
        }
        if newer(h, l, |l| l.updated_at, &mut n.live) {
            out.live.push(l.clone());
        }
    }
    // Each deployment's counter at the higher side (both already cover their own commands).
    let have: HashMap<(&str, &str), u32> =
        here.live_counters.iter().map(|c| ((c.event.as_str(), c.nonce.as_str()), c.last)).collect();
    let need = super::snapshot::counters_covering(there.live_counters.clone(), &there.live);
    out.live_counters = need
        .into_iter()
        .filter(|c: &LiveCounterRecord| have.get(&(c.event.as_str(), c.nonce.as_str())).is_none_or(|h| c.last > *h))
        .collect();

    // Every counter above every id it may meet: here, in the snapshot, and as written.
    let max_id = |ids: &mut dyn Iterator<Item = i64>| ids.max().unwrap_or(0);
    let need = Counters {
        alert: there.counters.alert.max(max_id(&mut there.alerts.iter().map(|a| a.id))),
        request: there.counters.request.max(max_id(&mut there.requests.iter().map(|r| r.id))),
        audit: there.counters.audit.max(max_id(&mut out.audit.iter().map(|a| a.id))),
    };
    let c = here.counters;
    let counters = (need.alert > c.alert || need.request > c.request || need.audit > c.audit).then_some(Counters {
        alert: need.alert.max(c.alert),
        request: need.request.max(c.request),
        audit: need.audit.max(c.audit),
    });
    n.counters_raised = counters.is_some() || !out.live_counters.is_empty();
    let replace_resources_of = replaced.into_iter().map(str::to_string).collect();
    Ok((Changes { records: out, replace_resources_of, counters }, n))
}
