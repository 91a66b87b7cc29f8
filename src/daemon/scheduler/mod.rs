//! The scheduler: level-triggered reconciliation of every event toward its desired phase.
//!
//! Each event has at most one reconcile running (its steps are serialized); different events
//! run concurrently, so one slow AWS call never blocks another event. A reconcile asks
//! [`decide`] what should exist now, moves the engine there with [`step_toward`], and files
//! the event's next boundary in a timer queue. The main loop ([`Scheduler::drive`]) sleeps
//! until the earliest entry or until something else wakes it (reload, override, resync). A
//! missed or repeated wake-up never matters: the answer depends only on `now`.
//!
//! Thousands of events may share a boundary (one cron for many events): a crowd. Its timer
//! entry is one map entry, fired at once; its decisions are worked out shortly before the
//! boundary, while the scheduler is idle (`prepare`); and at the boundary a task per worker
//! thread runs the crowd's reconciles, every first action before any follow-up, giving a task
//! of its own only to a reconcile that waits (`start_all`). `decide` answers the same until
//! its `next_boundary`, so a decision made for the boundary instant holds when it fires; a
//! changed override or configuration voids it.
//!
//! Layout: this file holds the timer queue and the tasks; [`reconcile`] one event's pass and
//! what a failure leads to. Time comes from an injected [`Clock`], so tests run on tokio's
//! paused clock.

mod crowd;
mod reconcile;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::Notify;
use tokio_util::task::TaskTracker;

use super::actuator::{Actuator, Seen};
use crate::clock::Clock;
use crate::config::Resolved;
use crate::metrics::Metrics;
use crate::notify::{Level, Notice, Notifier};
use crate::schedule::phase::{decide, Action, Decision, Override};

/// One event's bookkeeping, shared by its timer entries and its reconcile task, so neither
/// looks the event up by name nor takes a lock other events need.
struct Cell {
    id: String,
    slot: Mutex<Slot>,
}

/// Whether a reconcile runs, whether another was asked for meanwhile, and the one timer entry
/// that counts (older entries for the event are stale).
#[derive(Default)]
struct Slot {
    running: bool,
    dirty: bool,
    /// The earliest boundary whose wake-up found a pass running: the next pass acts for it
    /// (and measures its lateness from it).
    missed: Option<DateTime<Utc>>,
    /// Invariant: `Some(t)` ⇔ the timer queue holds a live entry for the event at `t`. Firing
    /// the entry clears it.
    next_at: Option<DateTime<Utc>>,
    failures: u32,
    /// The decision for `next_at`, worked out ahead when that boundary is crowded.
    prepared: Option<Box<Prepared>>,
    /// A reconcile has decided for this event at least once (readiness).
    decided: bool,
    /// Counted in [`Scheduler::undecided`].
    counted: bool,
}

/// A decision made ahead of its boundary; see the module documentation.
struct Prepared {
    at: DateTime<Utc>,
    /// The configuration it was made from (a reload voids it).
    generation: u64,
    ov: Option<Override>,
    decision: Decision,
}

/// The timer queue: events by the instant they wake up at. A crowd is one map entry, so
/// firing it is one removal, not thousands of heap operations.
type Timers = BTreeMap<DateTime<Utc>, Vec<Arc<Cell>>>;

/// From this many events on one boundary, they are handled as a crowd.
const CROWD: usize = 64;
/// How much of a wait [`Scheduler::drive`] sleeps on its thread rather than on tokio's timer.
const FINE_WAIT: Duration = Duration::from_millis(2);
/// The longest [`Scheduler::drive`] sleeps before looking at the wall clock again.
const MAX_SLEEP: Duration = Duration::from_secs(1);
/// How many reconciles of a crowd act before their follow-ups run.
const SLICE: usize = 1024;
/// How long before a crowded boundary its decisions are prepared: after the previous crowd,
/// usually, and not much earlier than needed (an override set meanwhile voids the work).
const PREPARE_AHEAD: Duration = Duration::from_millis(500);

/// The events in force and a generation number that changes with them.
#[derive(Clone, Default)]
struct Snapshot {
    generation: u64,
    map: Arc<HashMap<String, Arc<Resolved>>>,
}

/// A reconcile to start: the event, the boundary that woke it, its prepared decision.
struct Start {
    cell: Arc<Cell>,
    boundary: Option<DateTime<Utc>>,
    prepared: Option<Box<Prepared>>,
    /// The event's records, read with the rest of its crowd.
    seen: Option<Seen>,
}

pub struct Scheduler<A: Actuator> {
    actuator: Arc<A>,
    notifier: Arc<dyn Notifier>,
    metrics: Arc<Metrics>,
    /// The events in force (last good configuration plus retained live events).
    events: Mutex<Snapshot>,
    /// Events in force or still held by a timer or task, by id (the timer queue and tasks
    /// hold the cells; [`Scheduler::forget_retired`] drops the others).
    cells: Mutex<HashMap<String, Arc<Cell>>>,
    timers: Mutex<Timers>,
    wake: Notify,
    tracker: TaskTracker,
    /// `metrics.transitions` by action and outcome (ok, error), looked up once.
    transitions: [[OnceLock<Counter>; 2]; 4],
    /// Channels running outside every window longer than this are stopped.
    max_idle_running: Duration,
    clock: Arc<dyn Clock>,
    /// Events in force not yet decided once; the daemon is ready at zero.
    undecided: AtomicUsize,
    all_decided: Notify,
}

/// How long to wait before retrying an event whose action failed.
pub(crate) fn backoff(failures: u32) -> chrono::Duration {
    let secs = 5u64.saturating_mul(1 << failures.min(7)).min(600);
    chrono::Duration::seconds(secs as i64)
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An action's name in logs and metrics, and its index in [`Scheduler::transitions`].
pub(crate) fn action_name(action: Action) -> (&'static str, usize) {
    match action {
        Action::Deploy => ("deploy", 0),
        Action::Start => ("start", 1),
        Action::Stop => ("stop", 2),
        Action::Teardown => ("teardown", 3),
    }
}

/// Mark the event running, or ask its running reconcile for another pass.
fn claim(slot: &mut Slot) -> bool {
    if slot.running {
        slot.dirty = true;
        return false;
    }
    slot.running = true;
    true
}

impl<A: Actuator> Scheduler<A> {
    pub fn new(
        actuator: Arc<A>,
        notifier: Arc<dyn Notifier>,
        metrics: Arc<Metrics>,
        max_idle_running: Duration,
        clock: Arc<dyn Clock>,
    ) -> Arc<Self> {
        Arc::new(Scheduler {
            actuator,
            notifier,
            metrics,
            events: Mutex::new(Snapshot::default()),
            cells: Mutex::new(HashMap::new()),
            timers: Mutex::new(BTreeMap::new()),
            wake: Notify::new(),
            tracker: TaskTracker::new(),
            transitions: Default::default(),
            max_idle_running,
            clock,
            undecided: AtomicUsize::new(0),
            all_decided: Notify::new(),
        })
    }

    pub fn events(&self) -> Arc<HashMap<String, Arc<Resolved>>> {
        lock(&self.events).map.clone()
    }

    /// Put a new set of events in force and reconcile all of them.
    pub fn set_events(self: &Arc<Self>, events: Vec<Arc<Resolved>>) {
        let map: HashMap<String, Arc<Resolved>> = events.into_iter().map(|e| (e.spec.id.clone(), e)).collect();
        let map = Arc::new(map);
        {
            let mut current = lock(&self.events);
            current.generation += 1;
            current.map = map.clone();
        }
        for id in map.keys() {
            let cell = self.cell(id);
            let mut slot = lock(&cell.slot);
            if !slot.decided && !slot.counted {
                slot.counted = true;
                self.undecided.fetch_add(1, Ordering::SeqCst);
            }
        }
        self.reconcile_many(map.keys().map(String::as_str));
        // Events no longer in force: one last pass drops their timers, and the next
        // `forget_retired` drops them.
        let retired: Vec<String> = lock(&self.cells).keys().filter(|id| !map.contains_key(*id)).cloned().collect();
        self.reconcile_many(retired.iter().map(String::as_str));
        self.forget_retired();
    }

    pub fn reconcile_all(self: &Arc<Self>) {
        self.forget_retired();
        let events = self.events();
        self.reconcile_many(events.keys().map(String::as_str));
    }

    /// Forget events that are not in force and that nothing holds (no timer, no reconcile,
    /// no override pass): the map of cells stays as large as the events in force, however
    /// many come and go over the daemon's life.
    fn forget_retired(&self) {
        let in_force = self.events();
        lock(&self.cells).retain(|id, cell| in_force.contains_key(id) || Arc::strong_count(cell) > 1);
    }

    /// How many events the scheduler keeps a cell for (tests, benchmarks).
    pub fn known(&self) -> usize {
        lock(&self.cells).len()
    }

    /// Wait until every event in force has been decided once (its timer filed, or its first
    /// action begun): what `/readyz` and systemd's READY wait for.
    pub async fn ready(&self) {
        loop {
            let notified = self.all_decided.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.undecided.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    /// Count the event as decided (once).
    fn decided(&self, cell: &Cell) {
        let mut slot = lock(&cell.slot);
        if slot.decided {
            return;
        }
        slot.decided = true;
        if slot.counted && self.undecided.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.all_decided.notify_waiters();
        }
    }

    /// The earliest timer entry, if any.
    pub fn next_wake(&self) -> Option<DateTime<Utc>> {
        lock(&self.timers).first_key_value().map(|(t, _)| *t)
    }

    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.wake.notified()
    }

    /// The timer half of the daemon's main loop: sleep until the earliest timer entry (or
    /// until an earlier one is filed), fire what is due, repeat. Never returns; cancel-safe
    /// (firing is synchronous), so the daemon `select!`s it with signals and ticks.
    ///
    /// tokio's timer counts whole milliseconds and rounds up, which makes every boundary up
    /// to a millisecond late: on a multi-thread runtime the timer wakes up to 2 ms early and
    /// the rest is slept on this thread, the main loop's (not a worker's).
    pub async fn drive(self: &Arc<Self>) {
        let fine = tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread;
        loop {
            let sleep = match self.next_wake() {
                Some(t) => (t - self.clock.now()).to_std().unwrap_or_default(),
                None => Duration::from_secs(3600),
            };
            // At most a second at a time: the queue is in wall-clock time, tokio's timer in
            // monotonic time, so a clock step (NTP, a resumed VM) costs a second, not the wait.
            let coarse = if fine { sleep.saturating_sub(FINE_WAIT) } else { sleep }.min(MAX_SLEEP);
            tokio::select! {
                _ = tokio::time::sleep(coarse) => {}
                _ = self.notified() => continue,
            }
            if let Some(rest) = self.next_wake().and_then(|t| (t - self.clock.now()).to_std().ok()).filter(|_| fine) {
                if rest <= FINE_WAIT {
                    std::thread::sleep(rest);
                } else {
                    continue;
                }
            }
            self.fire_due(self.clock.now());
        }
    }

    /// Start a reconcile of every event whose timer entry is due at `now`.
    pub fn fire_due(self: &Arc<Self>, now: DateTime<Utc>) {
        let mut due = Vec::new();
        {
            let mut timers = lock(&self.timers);
            while let Some(entry) = timers.first_entry() {
                if *entry.key() > now {
                    break;
                }
                due.push(entry.remove_entry());
            }
        }
        let mut start = Vec::with_capacity(due.iter().map(|(_, cells)| cells.len()).sum());
        for (t, cells) in due {
            for cell in cells {
                let prepared = {
                    let mut slot = lock(&cell.slot);
                    if slot.next_at != Some(t) {
                        continue; // stale: the event was rescheduled since
                    }
                    slot.next_at = None;
                    let prepared = slot.prepared.take().filter(|p| p.at == t);
                    if !claim(&mut slot) {
                        continue;
                    }
                    prepared
                };
                start.push(Start { cell, boundary: Some(t), prepared, seen: None });
            }
        }
        self.start_all(start);
    }

    /// Reconcile one event now, or mark it for another pass if one is running.
    /// `boundary`: the instant this wake-up was scheduled for (to measure lateness).
    pub fn reconcile(self: &Arc<Self>, id: &str, boundary: Option<DateTime<Utc>>) {
        let cell = self.cell(id);
        let claimed = {
            let mut slot = lock(&cell.slot);
            let claimed = claim(&mut slot);
            if !claimed {
                slot.missed = match (slot.missed, boundary) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
            claimed
        };
        if claimed {
            self.start_all(vec![Start { cell, boundary, prepared: None, seen: None }]);
        }
    }

    fn reconcile_many<'i>(self: &Arc<Self>, ids: impl Iterator<Item = &'i str>) {
        let start = ids
            .map(|id| self.cell(id))
            .filter(|cell| claim(&mut lock(&cell.slot)))
            .map(|cell| Start { cell, boundary: None, prepared: None, seen: None })
            .collect();
        self.start_all(start);
    }

    fn cell(&self, id: &str) -> Arc<Cell> {
        let mut cells = lock(&self.cells);
        if let Some(cell) = cells.get(id) {
            return cell.clone();
        }
        let cell = Arc::new(Cell { id: id.to_string(), slot: Mutex::default() });
        cells.insert(id.to_string(), cell.clone());
        cell
    }

    /// File the event's next wake-up (`None`: none), unless that very entry is already filed.
    /// `ok`: the last pass succeeded, so the failure count restarts.
    fn schedule_at(self: &Arc<Self>, cell: &Arc<Cell>, at: Option<DateTime<Utc>>, ok: bool) {
        let before = {
            let mut slot = lock(&cell.slot);
            if ok {
                slot.failures = 0;
            }
            if slot.next_at == at {
                return;
            }
            let before = std::mem::replace(&mut slot.next_at, at);
            slot.prepared = None;
            before
        };
        let mut timers = lock(&self.timers);
        // The entry it replaces goes now, not when it would have fired: a rescheduled or
        // retired event holds no timer (nor its cell) until then.
        if let Some(before) = before {
            if let Some(cells) = timers.get_mut(&before) {
                cells.retain(|c| !Arc::ptr_eq(c, cell));
                if cells.is_empty() {
                    timers.remove(&before);
                }
            }
        }
        let Some(at) = at else { return };
        let earlier = timers.first_key_value().is_none_or(|(e, _)| at < *e);
        let cells = timers.entry(at).or_default();
        cells.push(cell.clone());
        let crowded = cells.len() == CROWD;
        drop(timers);
        if earlier {
            self.wake.notify_one();
        }
        if crowded {
            self.prepare(at);
        }
    }

    /// Work out the decisions of the crowd due at `at`, shortly before it, in a task of its
    /// own (untracked: it acts on nothing, so shutdown need not wait for it).
    fn prepare(self: &Arc<Self>, at: DateTime<Utc>) {
        let now = self.clock.now();
        let ahead = chrono::Duration::from_std(PREPARE_AHEAD).unwrap_or_default();
        let begin = (at - ahead).max(now + ahead / 5);
        // Too close: the work would compete with the boundary it is meant to speed up.
        if begin + ahead / 25 >= at {
            return;
        }
        let delay = (begin - now).to_std().unwrap_or_default();
        let this: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let Some(this) = this.upgrade() else { return };
            let cells = lock(&this.timers).get(&at).cloned().unwrap_or_default();
            let snapshot = lock(&this.events).clone();
            for (n, cell) in cells.into_iter().enumerate() {
                if n % 256 == 255 {
                    tokio::task::yield_now().await;
                }
                let Some(event) = snapshot.map.get(&cell.id) else { continue };
                let Ok(ov) = this.actuator.override_of(&cell.id) else { continue };
                let decision = decide(event.spec.timing.as_ref(), event.spec.enabled, at, ov.as_ref());
                let mut slot = lock(&cell.slot);
                if slot.next_at == Some(at) {
                    slot.prepared = Some(Box::new(Prepared { at, generation: snapshot.generation, ov, decision }));
                }
            }
        });
    }

    fn notice(&self, event: &Resolved, level: Level, text: String) {
        self.notifier.notify(Notice {
            event: event.spec.id.clone(),
            level,
            text,
            targets: event.spec.notify.clone(),
            buttons: Vec::new(),
        });
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
mod tests;
