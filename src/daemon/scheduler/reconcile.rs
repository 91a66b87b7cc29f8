//! One reconcile of one event: decide what should exist now, move the engine there, file the
//! next wake-up. A failure is retried as its class says (see [`Scheduler::failed`]).

use std::sync::Arc;

use super::crowd::PauseOnce;
use super::{action_name, backoff, lock, Cell, Prepared, Scheduler};
use crate::config::Resolved;
use crate::daemon::actuator::{Actual, Actuator, Seen, Why};
use crate::lifecycle::{Override, OverrideKind, Phase};
use crate::metrics::ActionLabel;
use crate::notify::Level;
use crate::ops::{ErrorKind, OpError};
use crate::schedule::phase::{decide, step_toward, Decision, Desired};
use crate::schedule::Timing;

/// How soon an event whose teardown waits on CloudFront is looked at again.
const PENDING_RETRY: chrono::Duration = chrono::Duration::seconds(60);
/// How soon an event busy with another holder is tried again.
const BUSY_RETRY: chrono::Duration = chrono::Duration::seconds(5);
/// How soon a refused action is asked again (the next boundary comes first when sooner).
const REFUSED_RETRY: chrono::Duration = chrono::Duration::minutes(10);
/// Transient failures in a row before a notice says someone must act.
const ESCALATE_AFTER: u32 = 3;

fn plus(t: chrono::DateTime<chrono::Utc>, d: chrono::Duration) -> chrono::DateTime<chrono::Utc> {
    t.checked_add_signed(d).unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

impl<A: Actuator> Scheduler<A> {
    pub(super) async fn reconcile_once(
        self: &Arc<Self>,
        cell: &Arc<Cell>,
        boundary: Option<chrono::DateTime<chrono::Utc>>,
        prepared: Option<Box<Prepared>>,
        mut seen: Option<Seen>,
        mut pause: bool,
    ) {
        let id = cell.id.as_str();
        // The snapshot keeps the definition alive through the awaits; no copy of the event.
        let snapshot = lock(&self.events).clone();
        let Some(event) = snapshot.map.get(id) else {
            self.decided(cell);
            self.schedule_at(cell, None, false);
            return;
        };
        let timing = event.spec.timing.as_ref();
        // The last decision, when it was made and on which override: `decide` promises the
        // same answer until its `next_boundary`, so a later pass reuses it.
        let mut last = prepared.filter(|p| p.generation == snapshot.generation).map(|p| (p.at, p.ov, p.decision));
        // Each pass re-reads state and decides again; a few passes cover deploy+start or
        // finishing an interrupted teardown before a redeploy.
        for _ in 0..4 {
            let now = self.clock.now();
            // The first pass of a crowd's reconcile uses what was read for the whole crowd.
            let seen = seen.take();
            let ov = match seen.as_ref().map(|s| s.ov.clone()) {
                Some(o) => o,
                None => match self.actuator.override_of(id) {
                    Ok(o) => o,
                    Err(e) => return self.failed(cell, event, "read overrides", &e, None),
                },
            };
            let decision = match last.take() {
                Some((at, last_ov, d)) if at <= now && last_ov == ov && d.next_boundary.is_none_or(|b| now < b) => d,
                _ => decide(timing, event.spec.enabled, now, ov.as_ref()),
            };
            let actual = match seen.map(|s| s.actual) {
                Some(a) => a,
                None => match self.actuator.actual(id) {
                    Ok(a) => a,
                    Err(e) => return self.failed(cell, event, "read state", &e, decision.next_boundary),
                },
            };
            self.decided(cell);
            let (desired, why, next) = self.guards(event, timing, &actual, ov.as_ref(), &decision, now);
            let Some(desired) = desired else {
                self.schedule_at(cell, next, false);
                return;
            };
            let actions = step_toward(actual.phase, desired);
            if actions.is_empty() {
                self.schedule_at(cell, next, true);
                return;
            }
            for action in actions {
                // Shutting down: finish the step in flight, start no other.
                if self.tracker.is_closed() {
                    return;
                }
                let (name, index) = action_name(action);
                if let Some(b) = boundary {
                    let late = (self.clock.now() - b).to_std().unwrap_or_default();
                    self.metrics.fire_lateness.observe(late.as_secs_f64());
                }
                tracing::info!(action = %name, desired = desired.as_str(), "acting");
                let outcome = self.actuator.act(event, action, why, ov.as_ref()).await;
                let (result, r) = if outcome.is_ok() { ("ok", 0) } else { ("error", 1) };
                self.transitions[index][r]
                    .get_or_init(|| {
                        let label = ActionLabel { action: name.to_string(), outcome: result.to_string() };
                        self.metrics.transitions.get_or_create(&label).clone()
                    })
                    .inc();
                if let Err(e) = outcome {
                    return self.failed(cell, event, name, &e, next);
                }
            }
            last = Some((now, ov, decision));
            if std::mem::take(&mut pause) {
                PauseOnce(false).await;
            }
        }
        // Still not there after several passes: look again soon.
        self.schedule_at(cell, Some(plus(self.clock.now(), chrono::Duration::seconds(1))), false);
    }

    /// The cost guard and `max_runtime` on top of the schedule's decision: a channel RUNNING
    /// past either limit must stop now (`desired` and `why` change), or `next` moves up to
    /// when it would.
    fn guards(
        &self,
        event: &Resolved,
        timing: Option<&Timing>,
        actual: &Actual,
        ov: Option<&Override>,
        decision: &Decision,
        now: chrono::DateTime<chrono::Utc>,
    ) -> (Option<Desired>, Why, Option<chrono::DateTime<chrono::Utc>>) {
        let mut next = decision.next_boundary;
        let mut desired = decision.desired;
        let mut why = Why::Schedule;
        // Cost guard: a channel running outside every window, even by an operator's
        // manual start, is stopped once it has idled there longer than the limit.
        if let (Some(t), Some(Phase::Running), Some(since)) = (timing, actual.phase, actual.since) {
            // The schedule's own answer: the decision above when nothing changed it.
            let scheduled = if event.spec.enabled && ov.is_none() {
                decision.desired
            } else {
                decide(Some(t), true, now, None).desired
            };
            let held = ov.is_some_and(|o| o.kind == OverrideKind::Hold && o.in_force(now));
            if scheduled != Some(Desired::Running) && !held {
                let outside_from =
                    decision.window.map(|w| w.stop_at).filter(|s| *s <= now).map_or(since, |s| s.max(since));
                let limit = chrono::Duration::from_std(self.max_idle_running).unwrap_or(chrono::Duration::MAX);
                let deadline = plus(outside_from, limit);
                if now >= deadline {
                    self.notice(
                        event,
                        Level::Warning,
                        format!(
                            "channel RUNNING outside its schedule for over {}; stopping it (cost guard)",
                            humantime::format_duration(self.max_idle_running)
                        ),
                    );
                    desired = Some(Desired::Stopped);
                    why = Why::CostGuard;
                } else {
                    next = Some(next.map_or(deadline, |n| n.min(deadline)));
                }
            }
            if let Some(max) = t.max_runtime {
                let deadline = plus(since, chrono::Duration::from_std(max).unwrap_or(chrono::Duration::MAX));
                if now >= deadline {
                    self.notice(
                        event,
                        Level::Warning,
                        format!("channel reached max_runtime {}; stopping it", humantime::format_duration(max)),
                    );
                    desired = Some(Desired::Stopped);
                    why = Why::MaxRuntime;
                } else {
                    next = Some(next.map_or(deadline, |n| n.min(deadline)));
                }
            }
        }
        (desired, why, next)
    }

    /// Retry as the error's class says: transient and permanent failures back off (5 s
    /// doubling to 10 min) and are notified, permanent ones as needing a human at once,
    /// transient ones from the third in a row; a teardown waiting on CloudFront is looked at
    /// again in a minute without alarm; a busy event in a few seconds; a refused action at its
    /// next boundary (or in 10 minutes). `next`: the decision's next boundary, if known.
    pub(super) fn failed(
        self: &Arc<Self>,
        cell: &Arc<Cell>,
        event: &Resolved,
        what: &str,
        error: &OpError,
        next: Option<chrono::DateTime<chrono::Utc>>,
    ) {
        let now = self.clock.now();
        let (retry_at, level, text) = match error.kind {
            ErrorKind::Pending => {
                (plus(now, PENDING_RETRY), Level::Info, format!("{what} in progress, looking again in 60s: {error}"))
            }
            ErrorKind::Busy => (plus(now, BUSY_RETRY), Level::Info, format!("{what} waits: {error}")),
            ErrorKind::Refused => {
                let at = next.map_or(plus(now, REFUSED_RETRY), |n| n.min(plus(now, REFUSED_RETRY)));
                (at, Level::Warning, format!("{what} refused: {error}"))
            }
            ErrorKind::Transient | ErrorKind::Permanent => {
                let failures = {
                    let mut slot = lock(&cell.slot);
                    slot.failures = slot.failures.saturating_add(1);
                    slot.failures
                };
                let retry = backoff(failures - 1);
                let (level, lead) = match error.kind {
                    ErrorKind::Permanent => (Level::Error, "needs a human: "),
                    _ if failures >= ESCALATE_AFTER => (Level::Error, ""),
                    _ => (Level::Warning, ""),
                };
                let text =
                    format!("{lead}{what} failed (attempt {failures}, retrying in {}s): {error}", retry.num_seconds());
                (plus(now, retry), level, text)
            }
        };
        self.notice(event, level, text);
        self.schedule_at(cell, Some(retry_at), false);
    }
}
