//! The scheduler on tokio's paused clock: every instant is exact, a test of seconds takes
//! milliseconds, and a loaded machine changes nothing.

use super::*;
use crate::clock::TokioClock;
use crate::daemon::actuator::{Actual, BoxFuture, Why};
use crate::lifecycle::Phase;
use crate::notify::LogNotifier;
use crate::ops::OpError;
use crate::schedule::{Timing, When};

#[test]
fn retries_back_off_to_a_ceiling() {
    assert_eq!(backoff(0).num_seconds(), 5);
    assert_eq!(backoff(1).num_seconds(), 10);
    assert_eq!(backoff(20).num_seconds(), 600);
}

/// The engine in memory: every action, in order, per event, at the clock's time; acts wait
/// `delay` when set; `panic_on` makes the first action on that event panic.
struct Fake {
    clock: Arc<dyn Clock>,
    delay: Option<Duration>,
    panic_on: Mutex<Option<String>>,
    phases: Mutex<HashMap<String, Phase>>,
    log: Mutex<Vec<(String, Action, DateTime<Utc>)>>,
}

impl Fake {
    fn new(clock: Arc<dyn Clock>, delay: Option<Duration>) -> Fake {
        Fake { clock, delay, panic_on: Mutex::default(), phases: Mutex::default(), log: Mutex::default() }
    }

    fn actions(&self, id: &str) -> Vec<Action> {
        lock(&self.log).iter().filter(|(e, _, _)| e == id).map(|(_, a, _)| *a).collect()
    }
}

impl Actuator for Fake {
    fn actual(&self, event: &str) -> Result<Actual, OpError> {
        let phase = lock(&self.phases).get(event).copied();
        Ok(Actual { phase, since: phase.map(|_| self.clock.now()) })
    }

    fn override_of(&self, _: &str) -> Result<Option<Override>, OpError> {
        Ok(None)
    }

    fn act<'a>(
        &'a self,
        event: &'a Resolved,
        action: Action,
        _: Why,
        _: Option<&'a Override>,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(async move {
            let id = event.spec.id.clone();
            lock(&self.log).push((id.clone(), action, self.clock.now()));
            if lock(&self.panic_on).take_if(|p| *p == id).is_some() {
                panic!("injected panic in {id}");
            }
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

fn anchor() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-12-18T20:00:00Z").expect("anchor").with_timezone(&Utc)
}

/// A scheduler on a clock that follows tokio's (paused) time.
fn scheduler(delay: Option<Duration>) -> (Arc<Scheduler<Fake>>, Arc<Fake>, Arc<dyn Clock>) {
    let clock: Arc<dyn Clock> = Arc::new(TokioClock::new(anchor()));
    let fake = Arc::new(Fake::new(clock.clone(), delay));
    let sched = Scheduler::new(
        fake.clone(),
        Arc::new(LogNotifier),
        Arc::new(Metrics::new()),
        Duration::from_secs(600),
        clock.clone(),
    );
    (sched, fake, clock)
}

/// Run the timer loop for `d` of (paused) time.
async fn drive_for(sched: &Arc<Scheduler<Fake>>, d: Duration) {
    let limit = tokio::time::sleep(d);
    tokio::pin!(limit);
    loop {
        tokio::select! {
            _ = sched.drive() => {}
            _ = &mut limit => break,
        }
    }
}

/// Every event of a crowd goes through its window once, in order, exactly on time, whether
/// its actions finish at once (run inline by the crowd's task) or wait (tasks of their own).
async fn crowd_goes_through_its_window(delay: Option<Duration>) {
    let n = 3 * CROWD;
    let start = anchor() + chrono::Duration::milliseconds(700);
    let end = start + chrono::Duration::milliseconds(500);
    let (sched, fake, _) = scheduler(delay);
    sched.set_events(crowd(n, start, end));
    drive_for(&sched, Duration::from_secs(3)).await;
    assert!(sched.drain(Duration::from_secs(2)).await, "reconciles still running");
    let log = lock(&fake.log).clone();
    for i in 0..n {
        let id = format!("ev-{i}");
        let mine: Vec<_> = log.iter().filter(|(e, _, _)| *e == id).collect();
        let actions: Vec<Action> = mine.iter().map(|(_, a, _)| *a).collect();
        assert_eq!(actions, [Action::Deploy, Action::Start, Action::Stop, Action::Teardown], "{id}");
        assert_eq!(mine[0].2, start, "{id} deployed at its start, not before or after");
        assert_eq!(mine[2].2, end, "{id} stopped at its end");
    }
    assert_eq!(lock(&fake.phases).values().filter(|p| **p == Phase::TornDown).count(), n);
}

#[tokio::test(start_paused = true)]
async fn a_crowd_whose_actions_finish_at_once_goes_through_its_window() {
    crowd_goes_through_its_window(None).await;
}

#[tokio::test(start_paused = true)]
async fn a_crowd_whose_actions_wait_goes_through_its_window() {
    crowd_goes_through_its_window(Some(Duration::from_millis(30))).await;
}

#[tokio::test(start_paused = true)]
async fn a_panic_in_one_reconcile_does_not_stop_that_event_from_being_reconciled_again() {
    let start = anchor() + chrono::Duration::seconds(1);
    let end = start + chrono::Duration::seconds(60);
    let (sched, fake, _) = scheduler(None);
    *lock(&fake.panic_on) = Some("ev-0".into());
    sched.set_events(crowd(2, start, end));
    // The first deploy panics at `start`; the retry comes after the first backoff (5 s).
    drive_for(&sched, Duration::from_secs(30)).await;
    assert_eq!(fake.actions("ev-1"), [Action::Deploy, Action::Start], "the other event is unaffected");
    assert_eq!(
        fake.actions("ev-0"),
        [Action::Deploy, Action::Deploy, Action::Start],
        "the panicking event is retried, not left marked running"
    );
    assert!(!lock(&sched.cell("ev-0").slot).running);
}

#[tokio::test(start_paused = true)]
async fn readiness_waits_until_every_event_has_been_decided() {
    let (sched, _fake, _) = scheduler(None);
    let far = anchor() + chrono::Duration::days(1);
    sched.set_events(crowd(3, far, far + chrono::Duration::hours(1)));
    let ready = sched.ready();
    tokio::pin!(ready);
    // Nothing has run yet: the reconciles are spawned, not done.
    assert!(futures::poll!(&mut ready).is_pending(), "ready before any timer was filed");
    tokio::time::timeout(Duration::from_secs(1), ready).await.expect("ready once decided");
    assert!(sched.next_wake().is_some(), "every event's timer is filed");
}

#[tokio::test(start_paused = true)]
async fn on_shutdown_an_inflight_reconcile_finishes_its_step_and_starts_no_other() {
    let start = anchor();
    let (sched, fake, _) = scheduler(Some(Duration::from_secs(10)));
    sched.set_events(crowd(1, start, start + chrono::Duration::hours(1)));
    // The deploy is in flight (10 s) when shutdown begins.
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(fake.actions("ev-0"), [Action::Deploy]);
    assert!(sched.drain(Duration::from_secs(30)).await, "the deploy finishes within the grace");
    assert_eq!(fake.actions("ev-0"), [Action::Deploy], "no start after the deploy once stopping");
    assert_eq!(lock(&fake.phases).get("ev-0"), Some(&Phase::Deployed));
}

#[tokio::test(start_paused = true)]
async fn events_no_longer_in_force_are_forgotten_not_kept_for_the_daemons_life() {
    let (sched, _fake, _) = scheduler(None);
    let far = anchor() + chrono::Duration::days(1);
    sched.set_events(crowd(50, far, far + chrono::Duration::hours(1)));
    drive_for(&sched, Duration::from_secs(1)).await;
    assert_eq!(sched.known(), 50);
    // A reload keeps one of them; the other 49 had their timers filed for tomorrow.
    sched.set_events(crowd(1, far, far + chrono::Duration::hours(1)));
    drive_for(&sched, Duration::from_secs(1)).await;
    sched.reconcile_all();
    assert_eq!(sched.known(), 1, "only the event in force is kept");
    drive_for(&sched, Duration::from_secs(1)).await;
    assert_eq!(lock(&sched.timers).values().map(Vec::len).sum::<usize>(), 1, "one timer: ev-0's");
}
