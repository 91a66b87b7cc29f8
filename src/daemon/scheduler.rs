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

use std::collections::{BTreeMap, HashMap};
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, Weak};
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::{DateTime, Utc};
use prometheus_client::metrics::counter::Counter;
use tokio::sync::Notify;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::actuator::Actuator;
use crate::config::Resolved;
use crate::metrics::{ActionLabel, Metrics};
use crate::notify::{Level, Notice, Notifier};
use crate::schedule::phase::{decide, override_until, step_toward, Action, Decision, Desired, Override, OverrideKind};
use crate::store::Phase;

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
    /// Invariant: `Some(t)` ⇔ the timer queue holds a live entry for the event at `t`. Firing
    /// the entry clears it.
    next_at: Option<DateTime<Utc>>,
    failures: u32,
    /// The decision for `next_at`, worked out ahead when that boundary is crowded.
    prepared: Option<Box<Prepared>>,
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
}

pub struct Scheduler<A: Actuator> {
    actuator: Arc<A>,
    notifier: Arc<dyn Notifier>,
    metrics: Arc<Metrics>,
    /// The events in force (last good configuration plus retained live events).
    events: Mutex<Snapshot>,
    /// Every event ever reconciled, by id (the timer queue and tasks hold the cells).
    cells: Mutex<HashMap<String, Arc<Cell>>>,
    timers: Mutex<Timers>,
    wake: Notify,
    tracker: TaskTracker,
    /// `metrics.transitions` by action and outcome (ok, error), looked up once.
    transitions: [[OnceLock<Counter>; 2]; 4],
    /// Channels running outside every window longer than this are stopped.
    max_idle_running: Duration,
}

/// How long to wait before retrying an event whose action failed.
fn backoff(failures: u32) -> chrono::Duration {
    let secs = 5u64.saturating_mul(1 << failures.min(7)).min(600);
    chrono::Duration::seconds(secs as i64)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// An action's name in logs and metrics, and its index in [`Scheduler::transitions`].
fn action_name(action: Action) -> (&'static str, usize) {
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
        self.reconcile_many(map.keys().map(String::as_str));
    }

    pub fn reconcile_all(self: &Arc<Self>) {
        let events = self.events();
        self.reconcile_many(events.keys().map(String::as_str));
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
                Some(t) => (t - Utc::now()).to_std().unwrap_or_default(),
                None => Duration::from_secs(3600),
            };
            // At most a second at a time: the queue is in wall-clock time, tokio's timer in
            // monotonic time, so a clock step (NTP, a resumed VM) costs a second, not the wait.
            let coarse = if fine { sleep.saturating_sub(FINE_WAIT) } else { sleep }.min(MAX_SLEEP);
            tokio::select! {
                _ = tokio::time::sleep(coarse) => {}
                _ = self.notified() => continue,
            }
            if let Some(rest) = self.next_wake().and_then(|t| (t - Utc::now()).to_std().ok()).filter(|_| fine) {
                if rest <= FINE_WAIT {
                    std::thread::sleep(rest);
                } else {
                    continue;
                }
            }
            self.fire_due(Utc::now());
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
                start.push(Start { cell, boundary: Some(t), prepared });
            }
        }
        self.start_all(start);
    }

    /// Reconcile one event now, or mark it for another pass if one is running.
    /// `boundary`: the instant this wake-up was scheduled for (to measure lateness).
    pub fn reconcile(self: &Arc<Self>, id: &str, boundary: Option<DateTime<Utc>>) {
        let cell = self.cell(id);
        if claim(&mut lock(&cell.slot)) {
            self.start_all(vec![Start { cell, boundary, prepared: None }]);
        }
    }

    fn reconcile_many<'i>(self: &Arc<Self>, ids: impl Iterator<Item = &'i str>) {
        let start = ids
            .map(|id| self.cell(id))
            .filter(|cell| claim(&mut lock(&cell.slot)))
            .map(|cell| Start { cell, boundary: None, prepared: None })
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
        {
            let mut slot = lock(&cell.slot);
            if ok {
                slot.failures = 0;
            }
            if slot.next_at == at {
                return;
            }
            slot.next_at = at;
            slot.prepared = None;
        }
        let Some(at) = at else { return };
        let mut timers = lock(&self.timers);
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
        let now = Utc::now();
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

    /// Start reconciles, each in a task of its own; a crowd from one task per worker thread,
    /// which runs every reconcile up to its first action, then every follow-up, and gives a
    /// task of its own only to those still waiting (on the engine): thousands of tasks that
    /// finish at once cost more than their work, mostly in the runtime's shared queues.
    fn start_all(self: &Arc<Self>, start: Vec<Start>) {
        if start.len() < CROWD {
            for s in start {
                self.tracker.spawn(self.clone().run(s, false));
            }
            return;
        }
        let workers = tokio::runtime::Handle::current().metrics().num_workers().max(1);
        let chunk = start.len().div_ceil(workers).max(CROWD);
        let mut start = start;
        while !start.is_empty() {
            let rest = start.split_off(chunk.min(start.len()));
            let batch = std::mem::replace(&mut start, rest);
            let this = self.clone();
            self.tracker.spawn(async move {
                let waker = futures::task::noop_waker();
                let mut cx = Context::from_waker(&waker);
                // A reconcile that panics is reported by the panic hook and ends, as a task would.
                let mut poll = |task: &mut Pin<Box<dyn Future<Output = ()> + Send>>| {
                    std::panic::catch_unwind(AssertUnwindSafe(|| task.as_mut().poll(&mut cx)))
                        .unwrap_or(Poll::Ready(()))
                };
                // A slice at a time, so a reload of thousands of events holds few futures at once.
                let mut batch = batch.into_iter().peekable();
                let mut waiting = Vec::with_capacity(SLICE);
                while batch.peek().is_some() {
                    for s in batch.by_ref().take(SLICE) {
                        let mut task: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(this.clone().run(s, true));
                        if poll(&mut task).is_pending() {
                            waiting.push(task);
                        }
                    }
                    for mut task in waiting.drain(..) {
                        if poll(&mut task).is_pending() {
                            // Its first poll in the task registers the task's own waker.
                            this.tracker.spawn(task);
                        }
                    }
                }
            });
        }
    }

    /// One event's reconciles, serialized: again while another pass was asked for meanwhile.
    /// `crowd`: pause once after the first actions (see `start_all`).
    fn run(self: Arc<Self>, start: Start, crowd: bool) -> impl Future<Output = ()> + Send + 'static {
        let span = tracing::info_span!("reconcile", event = %start.cell.id);
        async move {
            let Start { cell, mut boundary, mut prepared } = start;
            let mut pause = crowd;
            loop {
                self.reconcile_once(&cell, boundary.take(), prepared.take(), std::mem::take(&mut pause)).await;
                let mut slot = lock(&cell.slot);
                if slot.dirty {
                    slot.dirty = false;
                    continue;
                }
                slot.running = false;
                break;
            }
        }
        .instrument(span)
    }

    async fn reconcile_once(
        self: &Arc<Self>,
        cell: &Arc<Cell>,
        boundary: Option<DateTime<Utc>>,
        prepared: Option<Box<Prepared>>,
        mut pause: bool,
    ) {
        let id = cell.id.as_str();
        // The snapshot keeps the definition alive through the awaits; no copy of the event.
        let snapshot = lock(&self.events).clone();
        let Some(event) = snapshot.map.get(id) else {
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
            let now = Utc::now();
            let ov = match self.actuator.override_of(id) {
                Ok(o) => o,
                Err(e) => return self.failed(cell, event, "read overrides", &e),
            };
            let decision = match last.take() {
                Some((at, last_ov, d)) if at <= now && last_ov == ov && d.next_boundary.is_none_or(|b| now < b) => d,
                _ => decide(timing, event.spec.enabled, now, ov.as_ref()),
            };
            let actual = match self.actuator.actual(id) {
                Ok(a) => a,
                Err(e) => return self.failed(cell, event, "read state", &e),
            };
            let mut next = decision.next_boundary;
            let mut desired = decision.desired;
            // Cost guard: a channel running outside every window, even by an operator's
            // manual start, is stopped once it has idled there longer than the limit.
            if let (Some(t), Some(Phase::Running), Some(since)) = (timing, actual.phase, actual.since) {
                // The schedule's own answer: the decision above when nothing changed it.
                let scheduled = if event.spec.enabled && ov.is_none() {
                    decision.desired
                } else {
                    decide(Some(t), true, now, None).desired
                };
                let held = ov.as_ref().is_some_and(|o| o.kind == OverrideKind::Hold && o.in_force(now));
                if scheduled != Some(Desired::Running) && !held {
                    let outside_from =
                        decision.window.map(|w| w.stop_at).filter(|s| *s <= now).map_or(since, |s| s.max(since));
                    let limit = chrono::Duration::from_std(self.max_idle_running).unwrap_or(chrono::Duration::MAX);
                    let deadline = outside_from + limit;
                    if now >= deadline {
                        self.notice(
                            event,
                            Level::Warning,
                            format!(
                                "channel RUNNING outside its schedule for over {}; stopping it (cost guard)",
                                humantime::format_duration(self.max_idle_running)
                            ),
                        );
                        let _ = self.actuator.set_override(id, OverrideKind::Stop, override_until(Some(t), now));
                        desired = Some(Desired::Stopped);
                    } else {
                        next = Some(next.map_or(deadline, |n| n.min(deadline)));
                    }
                }
                if let Some(max) = t.max_runtime {
                    let deadline = since + chrono::Duration::from_std(max).unwrap_or(chrono::Duration::MAX);
                    if now >= deadline {
                        self.notice(
                            event,
                            Level::Warning,
                            format!("channel reached max_runtime {}; stopping it", humantime::format_duration(max)),
                        );
                        let _ = self.actuator.set_override(id, OverrideKind::Stop, override_until(Some(t), now));
                        desired = Some(Desired::Stopped);
                    } else {
                        next = Some(next.map_or(deadline, |n| n.min(deadline)));
                    }
                }
            }
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
                let (name, index) = action_name(action);
                if let Some(b) = boundary {
                    let late = (Utc::now() - b).to_std().unwrap_or_default();
                    self.metrics.fire_lateness.observe(late.as_secs_f64());
                }
                tracing::info!(action = %name, desired = desired.as_str(), "acting");
                let outcome = self.actuator.act(event, action).await;
                let (result, r) = if outcome.is_ok() { ("ok", 0) } else { ("error", 1) };
                self.transitions[index][r]
                    .get_or_init(|| {
                        let label = ActionLabel { action: name.to_string(), outcome: result.to_string() };
                        self.metrics.transitions.get_or_create(&label).clone()
                    })
                    .inc();
                if let Err(e) = outcome {
                    return self.failed(cell, event, name, &e);
                }
            }
            last = Some((now, ov, decision));
            if std::mem::take(&mut pause) {
                PauseOnce(false).await;
            }
        }
        // Still not there after several passes: look again soon.
        self.schedule_at(cell, Some(Utc::now() + chrono::Duration::seconds(1)), false);
    }

    fn failed(self: &Arc<Self>, cell: &Arc<Cell>, event: &Resolved, what: &str, error: &str) {
        let failures = {
            let mut slot = lock(&cell.slot);
            slot.failures += 1;
            slot.failures
        };
        let retry = backoff(failures - 1);
        self.notice(
            event,
            Level::Error,
            format!("{what} failed (attempt {failures}, retrying in {}s): {error}", retry.num_seconds()),
        );
        self.schedule_at(cell, Some(Utc::now() + retry), false);
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

/// Pending once (waking its task at once), then ready: lets the rest of a crowd act first.
struct PauseOnce(bool);

impl Future for PauseOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.0 {
            return Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::daemon::actuator::{Actual, BoxFuture};
    use crate::notify::LogNotifier;
    use crate::schedule::{Timing, When};

    #[test]
    fn retries_back_off_to_a_ceiling() {
        assert_eq!(backoff(0).num_seconds(), 5);
        assert_eq!(backoff(1).num_seconds(), 10);
        assert_eq!(backoff(20).num_seconds(), 600);
    }

    /// The engine in memory: every action, in order, per event; acts wait `delay` when set.
    #[derive(Default)]
    struct Fake {
        delay: Option<Duration>,
        phases: Mutex<HashMap<String, Phase>>,
        log: Mutex<Vec<(String, Action, DateTime<Utc>)>>,
    }

    impl Actuator for Fake {
        fn actual(&self, event: &str) -> Result<Actual, String> {
            let phase = lock(&self.phases).get(event).copied();
            Ok(Actual { phase, since: phase.map(|_| Utc::now()) })
        }

        fn override_of(&self, _: &str) -> Result<Option<Override>, String> {
            Ok(None)
        }

        fn set_override(&self, _: &str, _: OverrideKind, _: Option<DateTime<Utc>>) -> Result<(), String> {
            Ok(())
        }

        fn act<'a>(&'a self, event: &'a Resolved, action: Action) -> BoxFuture<'a, Result<(), String>> {
            Box::pin(async move {
                let id = event.spec.id.clone();
                lock(&self.log).push((id.clone(), action, Utc::now()));
                if let Some(d) = self.delay {
                    tokio::time::sleep(d).await;
                }
                let phase = match action {
                    Action::Deploy => Phase::Deployed,
                    Action::Start => Phase::Running,
                    Action::Stop => Phase::Stopped,
                    Action::Teardown => Phase::TornDown,
                };
                lock(&self.phases).insert(id, phase);
                Ok(())
            })
        }
    }

    /// `n` copies of the shipped demo event, all on air from `start` to `end`, no lead times.
    fn crowd(n: usize, start: DateTime<Utc>, end: DateTime<Utc>) -> Vec<Arc<Resolved>> {
        let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ottd.toml");
        let catalog = crate::config::Catalog::load(&config).expect("shipped configuration");
        let template = Resolved::clone(catalog.events.first().expect("an event"));
        let timing = Timing {
            when: When::Once { start, end },
            tz: chrono_tz::UTC,
            deploy_before: Duration::ZERO,
            start_before: Duration::ZERO,
            stop_after: Duration::ZERO,
            teardown_after: Duration::ZERO,
            keep_deployed: false,
            max_runtime: None,
            adaptive_lead: false,
        };
        (0..n)
            .map(|i| {
                let mut e = template.clone();
                e.spec.id = format!("ev-{i}");
                e.spec.timing = Some(timing.clone());
                Arc::new(e)
            })
            .collect()
    }

    /// Every event of a crowd goes through its window once, in order, on time, whether its
    /// actions finish at once (run inline by the crowd's task) or wait (tasks of their own).
    async fn crowd_goes_through_its_window(delay: Option<Duration>) {
        let n = 3 * CROWD;
        let start = Utc::now() + chrono::Duration::milliseconds(700);
        let end = start + chrono::Duration::milliseconds(500);
        let fake = Arc::new(Fake { delay, ..Fake::default() });
        let sched =
            Scheduler::new(fake.clone(), Arc::new(LogNotifier), Arc::new(Metrics::new()), Duration::from_secs(600));
        sched.set_events(crowd(n, start, end));
        let limit = tokio::time::sleep(Duration::from_secs(3));
        tokio::pin!(limit);
        loop {
            tokio::select! {
                _ = sched.drive() => {}
                _ = &mut limit => break,
            }
        }
        assert!(sched.drain(Duration::from_secs(2)).await, "reconciles still running");
        let log = lock(&fake.log).clone();
        for i in 0..n {
            let id = format!("ev-{i}");
            let mine: Vec<_> = log.iter().filter(|(e, _, _)| *e == id).collect();
            let actions: Vec<Action> = mine.iter().map(|(_, a, _)| *a).collect();
            assert_eq!(actions, [Action::Deploy, Action::Start, Action::Stop, Action::Teardown], "{id}");
            assert!(mine[0].2 >= start && mine[2].2 >= end, "{id} acted before its boundary");
            // Loose: a loaded test machine; the benchmark measures the real figure.
            assert!(mine[0].2 - start < chrono::Duration::milliseconds(400), "{id} deployed late");
        }
        assert_eq!(lock(&fake.phases).values().filter(|p| **p == Phase::TornDown).count(), n);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_crowd_whose_actions_finish_at_once_goes_through_its_window() {
        crowd_goes_through_its_window(None).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_crowd_whose_actions_wait_goes_through_its_window() {
        crowd_goes_through_its_window(Some(Duration::from_millis(30))).await;
    }
}
