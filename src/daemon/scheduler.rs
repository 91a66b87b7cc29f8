//! The scheduler: level-triggered reconciliation of every event toward its desired phase.
//!
//! Each event has at most one reconcile running (its steps are serialized); different events
//! run concurrently, so one slow AWS call never blocks another event. A reconcile asks
//! [`decide`] what should exist now, moves the engine there with [`step_toward`], and files
//! the event's next boundary in a timer heap. The main loop sleeps until the earliest entry
//! (a tokio timer, millisecond precision) or until something else wakes it (reload, override,
//! resync). A missed or repeated wake-up never matters: the answer depends only on `now`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::Notify;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::actuator::Actuator;
use crate::config::Resolved;
use crate::metrics::{ActionLabel, Metrics};
use crate::notify::{Level, Notice, Notifier};
use crate::schedule::phase::{decide, override_until, step_toward, Desired, OverrideKind};
use crate::store::Phase;

/// Per-event bookkeeping: whether a reconcile runs, whether another was asked for meanwhile,
/// and the one timer entry that counts (older heap entries for the event are stale).
#[derive(Default)]
struct Slot {
    running: bool,
    dirty: bool,
    next_at: Option<DateTime<Utc>>,
    failures: u32,
}

pub struct Scheduler<A: Actuator> {
    actuator: Arc<A>,
    notifier: Arc<dyn Notifier>,
    metrics: Arc<Metrics>,
    /// The events in force (last good configuration plus retained live events).
    events: Mutex<Arc<HashMap<String, Resolved>>>,
    slots: Mutex<HashMap<String, Slot>>,
    heap: Mutex<BinaryHeap<Reverse<(DateTime<Utc>, String)>>>,
    wake: Notify,
    tracker: TaskTracker,
    /// Channels running outside every window longer than this are stopped.
    max_idle_running: Duration,
}

/// How long to wait before retrying an event whose action failed.
fn backoff(failures: u32) -> chrono::Duration {
    let secs = 5u64.saturating_mul(1 << failures.min(7)).min(600);
    chrono::Duration::seconds(secs as i64)
}

impl<A: Actuator> Scheduler<A> {
    pub fn new(actuator: Arc<A>, notifier: Arc<dyn Notifier>, metrics: Arc<Metrics>, max_idle_running: Duration) -> Arc<Self> {
        Arc::new(Scheduler {
            actuator,
            notifier,
            metrics,
            events: Mutex::new(Arc::new(HashMap::new())),
            slots: Mutex::new(HashMap::new()),
            heap: Mutex::new(BinaryHeap::new()),
            wake: Notify::new(),
            tracker: TaskTracker::new(),
            max_idle_running,
        })
    }

    pub fn events(&self) -> Arc<HashMap<String, Resolved>> {
        self.events.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Put a new set of events in force and reconcile all of them.
    pub fn set_events(self: &Arc<Self>, events: Vec<Resolved>) {
        let map: HashMap<String, Resolved> = events.into_iter().map(|e| (e.spec.id.clone(), e)).collect();
        let ids: Vec<String> = map.keys().cloned().collect();
        *self.events.lock().unwrap_or_else(|p| p.into_inner()) = Arc::new(map);
        for id in ids {
            self.reconcile(&id, None);
        }
    }

    pub fn reconcile_all(self: &Arc<Self>) {
        let ids: Vec<String> = self.events().keys().cloned().collect();
        for id in ids {
            self.reconcile(&id, None);
        }
    }

    /// The earliest timer entry, if any.
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        self.heap.lock().unwrap_or_else(|p| p.into_inner()).peek().map(|Reverse((t, _))| *t)
    }

    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }

    /// Start a reconcile of every event whose timer entry is due at `now`.
    pub fn fire_due(self: &Arc<Self>, now: DateTime<Utc>) {
        let mut due = Vec::new();
        {
            let mut heap = self.heap.lock().unwrap_or_else(|p| p.into_inner());
            while let Some(Reverse((t, _))) = heap.peek() {
                if *t > now {
                    break;
                }
                if let Some(Reverse((t, id))) = heap.pop() {
                    due.push((t, id));
                }
            }
        }
        let slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let due: Vec<_> = due.into_iter().filter(|(t, id)| slots.get(id).is_some_and(|s| s.next_at == Some(*t))).collect();
        drop(slots);
        for (t, id) in due {
            self.reconcile(&id, Some(t));
        }
    }

    fn schedule_at(&self, id: &str, at: Option<DateTime<Utc>>) {
        let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
        let slot = slots.entry(id.to_string()).or_default();
        slot.next_at = at;
        drop(slots);
        if let Some(at) = at {
            let mut heap = self.heap.lock().unwrap_or_else(|p| p.into_inner());
            let earliest = heap.peek().map(|Reverse((t, _))| *t);
            heap.push(Reverse((at, id.to_string())));
            drop(heap);
            if earliest.is_none_or(|e| at < e) {
                self.wake.notify_one();
            }
        }
    }

    /// Reconcile one event now, or mark it for another pass if one is running.
    /// `boundary`: the instant this wake-up was scheduled for (to measure lateness).
    pub fn reconcile(self: &Arc<Self>, id: &str, boundary: Option<DateTime<Utc>>) {
        {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let slot = slots.entry(id.to_string()).or_default();
            if slot.running {
                slot.dirty = true;
                return;
            }
            slot.running = true;
        }
        let this = self.clone();
        let id = id.to_string();
        let span = tracing::info_span!("reconcile", event = %id);
        self.tracker.spawn(
            async move {
                let mut boundary = boundary;
                loop {
                    this.reconcile_once(&id, boundary.take()).await;
                    let mut slots = this.slots.lock().unwrap_or_else(|p| p.into_inner());
                    let slot = slots.entry(id.clone()).or_default();
                    if slot.dirty {
                        slot.dirty = false;
                        continue;
                    }
                    slot.running = false;
                    break;
                }
            }
            .instrument(span),
        );
    }

    async fn reconcile_once(&self, id: &str, boundary: Option<DateTime<Utc>>) {
        let Some(event) = self.events().get(id).cloned() else {
            self.schedule_at(id, None);
            return;
        };
        let timing = event.spec.timing.as_ref();
        // Each pass re-reads state and decides again; a few passes cover deploy+start or
        // finishing an interrupted teardown before a redeploy.
        for _ in 0..4 {
            let now = Utc::now();
            let ov = match self.actuator.override_of(id) {
                Ok(o) => o,
                Err(e) => return self.failed(&event, "read overrides", &e),
            };
            let decision = decide(timing, event.spec.enabled, now, ov.as_ref());
            let actual = match self.actuator.actual(id) {
                Ok(a) => a,
                Err(e) => return self.failed(&event, "read state", &e),
            };
            let mut next = decision.next_boundary;
            let mut desired = decision.desired;
            // Cost guard: a channel running outside every window, even by an operator's
            // manual start, is stopped once it has idled there longer than the limit.
            if let (Some(t), Some(Phase::Running), Some(since)) = (timing, actual.phase, actual.since) {
                let scheduled = decide(Some(t), true, now, None).desired;
                let held = ov.as_ref().is_some_and(|o| o.kind == OverrideKind::Hold && o.in_force(now));
                if scheduled != Some(Desired::Running) && !held {
                    let outside_from = decision.window.map(|w| w.stop_at).filter(|s| *s <= now).map_or(since, |s| s.max(since));
                    let limit = chrono::Duration::from_std(self.max_idle_running).unwrap_or(chrono::Duration::MAX);
                    let deadline = outside_from + limit;
                    if now >= deadline {
                        self.notice(&event, Level::Warning, format!("channel RUNNING outside its schedule for over {}; stopping it (cost guard)", humantime::format_duration(self.max_idle_running)));
                        let _ = self.actuator.set_override(id, OverrideKind::Stop, override_until(Some(t), now));
                        desired = Some(Desired::Stopped);
                    } else {
                        next = Some(next.map_or(deadline, |n| n.min(deadline)));
                    }
                }
                if let Some(max) = t.max_runtime {
                    let deadline = since + chrono::Duration::from_std(max).unwrap_or(chrono::Duration::MAX);
                    if now >= deadline {
                        self.notice(&event, Level::Warning, format!("channel reached max_runtime {}; stopping it", humantime::format_duration(max)));
                        let _ = self.actuator.set_override(id, OverrideKind::Stop, override_until(Some(t), now));
                        desired = Some(Desired::Stopped);
                    } else {
                        next = Some(next.map_or(deadline, |n| n.min(deadline)));
                    }
                }
            }
            let Some(desired) = desired else {
                self.schedule_at(id, next);
                return;
            };
            let actions = step_toward(actual.phase, desired);
            if actions.is_empty() {
                self.slot_ok(id);
                self.schedule_at(id, next);
                return;
            }
            for action in actions {
                let name = format!("{action:?}").to_lowercase();
                if let Some(b) = boundary {
                    let late = (Utc::now() - b).to_std().unwrap_or_default();
                    self.metrics.fire_lateness.observe(late.as_secs_f64());
                }
                tracing::info!(action = %name, desired = desired.as_str(), "acting");
                match self.actuator.act(&event, action).await {
                    Ok(()) => {
                        self.metrics.transitions.get_or_create(&ActionLabel { action: name, outcome: "ok".into() }).inc();
                    }
                    Err(e) => {
                        self.metrics.transitions.get_or_create(&ActionLabel { action: name.clone(), outcome: "error".into() }).inc();
                        return self.failed(&event, &name, &e);
                    }
                }
            }
        }
        // Still not there after several passes: look again soon.
        self.schedule_at(id, Some(Utc::now() + chrono::Duration::seconds(1)));
    }

    fn slot_ok(&self, id: &str) {
        if let Some(s) = self.slots.lock().unwrap_or_else(|p| p.into_inner()).get_mut(id) {
            s.failures = 0;
        }
    }

    fn failed(&self, event: &Resolved, what: &str, error: &str) {
        let id = &event.spec.id;
        let failures = {
            let mut slots = self.slots.lock().unwrap_or_else(|p| p.into_inner());
            let s = slots.entry(id.clone()).or_default();
            s.failures += 1;
            s.failures
        };
        let retry = backoff(failures - 1);
        self.notice(event, Level::Error, format!("{what} failed (attempt {failures}, retrying in {}s): {error}", retry.num_seconds()));
        self.schedule_at(id, Some(Utc::now() + retry));
    }

    fn notice(&self, event: &Resolved, level: Level, text: String) {
        self.notifier.notify(Notice { event: event.spec.id.clone(), level, text, targets: event.spec.notify.clone() });
    }

    /// Stop starting work and wait for in-flight reconciles, at most `grace`.
    pub async fn drain(&self, grace: Duration) -> bool {
        self.tracker.close();
        tokio::time::timeout(grace, self.tracker.wait()).await.is_ok()
    }

    /// Wait until no reconcile is running (tests and benchmarks).
    pub fn idle(&self) -> bool {
        self.tracker.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_to_a_ceiling() {
        assert_eq!(backoff(0).num_seconds(), 5);
        assert_eq!(backoff(1).num_seconds(), 10);
        assert_eq!(backoff(20).num_seconds(), 600);
    }
}
