//! What an event's channel actually ran, and what that cost, from what the state records
//! durably with times: the audit trail (every start, stop and teardown anyone asked for, when
//! it was admitted and how long it took), the event's phase and since when, and when its
//! channel was deleted. Pure: the records are read by the caller.
//!
//! A run is derived from the audit rows, oldest first:
//! - it **begins** when a `start` is admitted (ended `ok`, or not ended yet). The STARTING
//!   minutes are counted: whether AWS bills them is not known, so the figure leans high. A
//!   person's `deploy` of a workflow with `autoStart` begins one when the deploy ends (its
//!   STARTING minutes are not counted). A failed start begins none.
//! - it **ends** when a `stop` that ended `ok` saw the channel IDLE (its admission plus its
//!   duration), or when a `teardown` (ended `ok` or `pending`) deleted the channel: the
//!   channel's deletion time when it is known and falls inside the teardown (a teardown's
//!   duration also counts CloudFront's slow disabling), else the teardown's end.
//! - a run still open at the end of the rows counts up to now and says "running" while the
//!   event's phase is STARTING, RUNNING or STOPPING (or unknown); otherwise (a stop whose
//!   process died before it recorded its end) it ends when the recorded phase began.
//! - with no open run but a recorded phase of STARTING or RUNNING (a start older than the
//!   audit trail's horizon), a run begins when that phase began.
//!
//! Each run is billed on its own: rounded up to the minute, at least 10 minutes.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::billing::{billed_minutes, minutes_up};
use super::rates::Rates;
use crate::lifecycle::Phase;
use crate::schedule::Timing;
use crate::store::AuditRow;

/// What else the state says, besides the audit rows.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// The event's recorded phase and since when.
    pub phase: Option<(Phase, DateTime<Utc>)>,
    /// When the event's channel was deleted (its resource row, while the deployment's rows
    /// are kept: until the next deploy).
    pub channel_deleted_at: Option<DateTime<Utc>>,
    /// Whether a person's deploy starts the channel (the workflow's `autoStart`).
    pub auto_start: bool,
}

/// One run of the channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Run {
    pub from: DateTime<Utc>,
    /// Now, while `running`.
    pub to: DateTime<Utc>,
    pub running: bool,
    /// Who started it (`cli:alice`, `schedule`), or `phase` when only the phase says so.
    pub started_by: String,
    /// Who ended it; `None` while running.
    pub ended_by: Option<String>,
}

impl Run {
    pub fn billed_minutes(&self) -> u64 {
        billed_minutes(self.to - self.from)
    }
}

fn is_person(actor: &str) -> bool {
    !(actor == "schedule" || actor == "recovery" || actor.starts_with("guard:"))
}

fn end_of(r: &AuditRow) -> DateTime<Utc> {
    let ms = r.duration_ms.map_or(0, |m| i64::try_from(m).unwrap_or(i64::MAX));
    r.at.checked_add_signed(chrono::Duration::milliseconds(ms)).unwrap_or(r.at)
}

/// The channel's runs from `rows` (one event's audit rows, oldest first) and `facts`.
pub fn runs(rows: &[AuditRow], facts: &Facts, now: DateTime<Utc>) -> Vec<Run> {
    let mut out = Vec::new();
    let mut open: Option<(DateTime<Utc>, String)> = None;
    let mut close = |open: &mut Option<(DateTime<Utc>, String)>, at: DateTime<Utc>, by: &str| {
        if let Some((from, started_by)) = open.take() {
            out.push(Run { from, to: at.max(from), running: false, started_by, ended_by: Some(by.to_string()) });
        }
    };
    for r in rows.iter().filter(|r| r.decision != "refused") {
        match (r.operation.as_str(), r.result.as_deref()) {
            ("start", Some("ok") | None) => {
                open.get_or_insert_with(|| (r.at, r.actor.clone()));
            }
            ("deploy", Some("ok")) if facts.auto_start && is_person(&r.actor) => {
                open.get_or_insert_with(|| (end_of(r), r.actor.clone()));
            }
            ("stop", Some("ok")) => close(&mut open, end_of(r), &r.actor),
            ("teardown", result @ (Some("ok" | "pending") | None)) => {
                let deleted = facts.channel_deleted_at.filter(|t| *t >= r.at);
                match (result, deleted) {
                    (Some(_), Some(t)) if t <= end_of(r) => close(&mut open, t, &r.actor),
                    (Some(_), _) => close(&mut open, end_of(r), &r.actor),
                    // Still under way: only a deletion already recorded ends the run.
                    (None, Some(t)) => close(&mut open, t, &r.actor),
                    (None, None) => {}
                }
            }
            _ => {}
        }
    }
    let live = |p: Phase| matches!(p, Phase::Starting | Phase::Running | Phase::Stopping);
    match (open, facts.phase) {
        (Some((from, started_by)), None) => {
            out.push(Run { from, to: now.max(from), running: true, started_by, ended_by: None })
        }
        (Some((from, started_by)), Some((p, _))) if live(p) => {
            out.push(Run { from, to: now.max(from), running: true, started_by, ended_by: None })
        }
        (Some((from, started_by)), Some((p, since))) => out.push(Run {
            from,
            to: since.max(from),
            running: false,
            started_by,
            ended_by: Some(format!("phase {}", p.as_str())),
        }),
        (None, Some((Phase::Starting | Phase::Running, since))) => {
            out.push(Run { from: since, to: now.max(since), running: true, started_by: "phase".into(), ended_by: None })
        }
        (None, _) => {}
    }
    out
}

/// One run priced, with the event window it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunCost {
    pub run: Run,
    pub billed_minutes: u64,
    pub cost: f64,
    /// The on-air minutes of the window the run served (`None`: on-demand, or a run outside
    /// every window, such as one the cost guard stopped).
    pub event_minutes: Option<u64>,
}

impl RunCost {
    /// Billed minutes per event minute (the goal: at most 1.05 for a 1-hour event).
    pub fn ratio(&self) -> Option<f64> {
        self.event_minutes.filter(|m| *m > 0).map(|m| self.billed_minutes as f64 / m as f64)
    }
}

/// The on-air minutes of the window `run` served: the latest on-air time at or before its
/// end whose window (start to stop) overlaps the run.
pub fn event_minutes(timing: Option<&Timing>, run: &Run) -> Option<u64> {
    let t = timing?;
    let on_air = t.occurrence_at_or_before(run.to)?;
    let next = t.occurrences_after(on_air).next();
    let w = t.window_at(on_air, next);
    (w.start_at < run.to && run.from < w.stop_at).then(|| minutes_up(w.off_air - w.on_air))
}

/// What the runs cost at `rates`.
pub fn price(runs: &[Run], rates: &Rates, timing: Option<&Timing>) -> Vec<RunCost> {
    runs.iter()
        .map(|r| {
            let minutes = r.billed_minutes();
            RunCost {
                run: r.clone(),
                billed_minutes: minutes,
                cost: rates.cost(minutes),
                event_minutes: event_minutes(timing, r),
            }
        })
        .collect()
}

/// Runs that began after the last teardown that ended before `rows`' last row: what one
/// deployment ran (the runs a teardown's reply sums up).
pub fn since_last_teardown(rows: &[AuditRow], runs: Vec<Run>) -> Vec<Run> {
    let head = rows.len().saturating_sub(1);
    let last = rows[..head]
        .iter()
        .rev()
        .find(|r| r.operation == "teardown" && matches!(r.result.as_deref(), Some("ok")))
        .map(|r| r.at);
    runs.into_iter().filter(|r| last.is_none_or(|t| r.from >= t)).collect()
}
