//! The cost as replies say it: `ottd cost`'s lines, `ottd plan`'s one line, and the line a
//! stop or teardown ends with. Plain text; the structured answer is the serialized
//! [`Estimate`] and runs.

use super::actual::RunCost;
use super::billing::{hm, rate, usd};
use super::estimate::{Estimate, Priced, Span};
use super::rates::Rates;
use crate::config::workflow::ChannelClass;

/// How the line a stop or teardown reply gets begins.
pub const RUN_COST: &str = "this run cost about";

/// Whether a reply's line is the cost of the runs it ended (the daemon's notices repeat it).
pub fn is_run_cost(line: &str) -> bool {
    line.contains(" cost about $") || line.starts_with("no run of the channel is recorded")
}

fn class_words(c: ChannelClass) -> &'static str {
    match c {
        ChannelClass::SinglePipeline => "single pipeline",
        ChannelClass::Standard => "standard",
    }
}

/// `MediaLive (single pipeline, us-east-1, prices of 2026-09-18): input HD AVC ≤10 Mb/s
/// $0.1404/h, … = $1.2048/h`.
pub fn medialive(r: &Rates) -> String {
    let lines: Vec<String> = r
        .groups()
        .iter()
        .map(|g| {
            let n = if g.count > 1 { format!("{} × ", g.count) } else { String::new() };
            let price = g.per_hour.map_or_else(|| "unpriced".to_string(), |p| format!("{}/h", rate(p)));
            format!("{n}{} {price}", g.class.describe())
        })
        .collect();
    let partial = if r.lines.iter().any(|l| l.per_hour.is_none()) { " (priced lines only)" } else { "" };
    format!(
        "MediaLive ({}, {}, prices of {}): {} = {}/h{partial}",
        class_words(r.channel_class),
        r.region,
        r.as_of,
        lines.join(", "),
        rate(r.per_hour())
    )
}

fn gb(x: f64) -> String {
    match x {
        x if x < 10.0 => format!("{x:.2} GB"),
        x if x < 1000.0 => format!("{x:.1} GB"),
        x => format!("{x:.0} GB"),
    }
}

fn mbps(bps: f64) -> String {
    format!("{:.2} Mb/s", bps / 1e6)
}

/// `1234567` as `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn priced(p: &Priced) -> String {
    match (p.per_gb, p.cost) {
        (Some(per), Some(cost)) => format!("{} × {}/GB = {}", gb(p.gb), rate(per), usd(cost)),
        _ => format!("{}: unpriced", gb(p.gb)),
    }
}

fn range(low: &Priced, high: &Priced) -> String {
    match (low.per_gb, low.cost, high.cost) {
        (Some(per), Some(l), Some(h)) => {
            format!("{}–{} × {}/GB = {}–{}", gb(low.gb).trim_end_matches(" GB"), gb(high.gb), rate(per), usd(l), usd(h))
        }
        _ => format!("{}–{}: unpriced", gb(low.gb).trim_end_matches(" GB"), gb(high.gb)),
    }
}

fn span(e: &Estimate) -> String {
    match e.span {
        Span::PerHour => format!("per hour (an on-demand event): {} billed minutes", e.billed_minutes),
        Span::Window { start_at, on_air, off_air, stop_at } => format!(
            "window {} → {} UTC (on air {} → {}, {}): {} billed minutes, {:.2} × the event's minutes (goal ≤ 1.05)",
            start_at.format("%Y-%m-%d %H:%M"),
            // A window past midnight says which day it ends.
            stop_at.format(if stop_at.date_naive() == start_at.date_naive() { "%H:%M" } else { "%Y-%m-%d %H:%M" }),
            on_air.format("%H:%M"),
            off_air.format("%H:%M"),
            hm(e.event_minutes),
            e.billed_minutes,
            e.ratio()
        ),
    }
}

/// `ottd cost`'s estimate.
pub fn estimate(e: &Estimate) -> Vec<String> {
    let a = &e.audience;
    let requests = match (a.requests_per_10k, a.requests_cost) {
        (Some(p), Some(c)) => format!("{} × {}/10k = {}", thousands(a.requests), rate(p), usd(c)),
        _ => format!("{}: unpriced", thousands(a.requests)),
    };
    let mut out = vec![
        medialive(&e.medialive),
        format!("estimate, {}", span(e)),
        format!("  {:<26}{}", "MediaLive", usd(e.medialive_cost)),
        format!(
            "  {:<26}{} × {} pipeline{}: {}",
            "MediaPackage ingest",
            mbps(e.ingest.bits_per_second),
            e.ingest.pipelines,
            if e.ingest.pipelines > 1 { "s" } else { "" },
            priced(&e.ingest.priced)
        ),
        format!(
            "  audience of {} (low: everyone on {} at {}, high: everyone on {} at {}; cache hit ratio assumed {:.0} %)",
            thousands(a.viewers),
            a.low.rendition,
            mbps(a.low.bits_per_second),
            a.high.rendition,
            mbps(a.high.bits_per_second),
            a.cache_hit_ratio * 100.0
        ),
        format!("  {:<26}{}", "MediaPackage origination", range(&a.low.origination, &a.high.origination)),
        format!("  {:<26}{}", "CloudFront transfer out", range(&a.low.transfer, &a.high.transfer)),
        format!("  {:<26}{}", "CloudFront requests", requests),
        format!(
            "  {:<26}{}–{}{}",
            "total",
            usd(e.total_low),
            usd(e.total_high),
            if e.unpriced.is_empty() { "" } else { " (priced lines only)" }
        ),
    ];
    out.extend(e.unpriced.iter().map(|u| format!("  {u}")));
    out
}

/// `ottd plan`'s one line.
pub fn plan_line(e: &Estimate) -> String {
    let when = match e.span {
        Span::PerHour => "per hour on air".to_string(),
        Span::Window { .. } => format!("{} billed for this window", hm(e.billed_minutes)),
    };
    // The MediaLive lines and ingest this line adds up; CloudFront is `ottd cost`'s.
    let n =
        e.medialive.lines.iter().filter(|l| l.per_hour.is_none()).count() + usize::from(e.ingest.priced.cost.is_none());
    let unpriced = match n {
        0 => String::new(),
        n => format!("; {n} line{} unpriced", if n > 1 { "s" } else { "" }),
    };
    format!(
        "  cost: {} {} MediaLive + {} MediaPackage ingest, {when} ({}/h, {}, {}, prices of {}){unpriced}; `ottd cost {}` for the audience",
        if n > 0 { "at least" } else { "about" },
        usd(e.medialive_cost),
        e.ingest.priced.cost.map_or_else(|| "unpriced".to_string(), usd),
        rate(e.medialive_per_hour),
        class_words(e.medialive.channel_class),
        e.region,
        e.prices_as_of,
        e.event
    )
}

/// `ottd cost`'s recorded runs.
pub fn actual(runs: &[RunCost]) -> Vec<String> {
    if runs.is_empty() {
        return vec!["actual: no run of the channel is recorded".to_string()];
    }
    let mut out = vec!["actual, from the audit trail (each run rounded up to the minute, at least 10):".to_string()];
    for r in runs {
        let run = &r.run;
        let to = if run.running { "now, running".to_string() } else { run.to.format("%Y-%m-%d %H:%M:%S").to_string() };
        let by = match &run.ended_by {
            Some(e) => format!("{} → {e}", run.started_by),
            None => run.started_by.clone(),
        };
        let ratio = match (r.event_minutes, r.ratio()) {
            (Some(m), Some(x)) => format!("; on air {}: {x:.2} × (goal ≤ 1.05)", hm(m)),
            _ => "; outside any window".to_string(),
        };
        out.push(format!(
            "  {} → {to} UTC ({by}): {} billed minutes, {}{ratio}",
            run.from.format("%Y-%m-%d %H:%M:%S"),
            r.billed_minutes,
            usd(r.cost)
        ));
    }
    let minutes: u64 = runs.iter().map(|r| r.billed_minutes).sum();
    let cost = runs.iter().map(|r| r.cost).fold(0.0, |a, b| a + b);
    out.push(format!(
        "  total: {} run{}, {minutes} billed minutes, {} MediaLive",
        runs.len(),
        if runs.len() > 1 { "s" } else { "" },
        usd(cost)
    ));
    out
}

/// The line a stop or teardown reply ends with, for the runs it closed.
pub fn run_line(runs: &[RunCost], unpriced: usize) -> String {
    let minutes: u64 = runs.iter().map(|r| r.billed_minutes).sum();
    let cost = runs.iter().map(|r| r.cost).fold(0.0, |a, b| a + b);
    let more = if unpriced > 0 {
        format!(", {unpriced} unpriced line{}", if unpriced > 1 { "s" } else { "" })
    } else {
        String::new()
    };
    match runs.len() {
        0 => "no run of the channel is recorded: no MediaLive running cost".to_string(),
        1 => format!("{RUN_COST} {} ({minutes} billed minutes{more})", usd(cost)),
        n => format!("its {n} runs cost about {} ({minutes} billed minutes{more})", usd(cost)),
    }
}
