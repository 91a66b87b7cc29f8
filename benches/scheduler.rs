//! Scheduler benchmark (issue 8): 10,000 events driven by the real [`Scheduler`] and its
//! timer loop ([`Scheduler::drive`], the one `ottd run` uses), with the engine replaced by a
//! recorder.
//!
//! - 5,000 one-off events whose on-air times are spread evenly over one minute;
//! - 5,000 recurring events, cron `*/10 * * * * *` (every 10 s, UTC), 5 s on air.
//!
//! Every event has short lead and tail times (deploy 2 s before, start 1 s before, stop at the
//! end, tear down 2 s after), so each window has four boundaries with one action each. The
//! run starts between two cron windows, so every boundary after the start has an action. The
//! recorder keeps each event's phase in memory and, for every action, the lateness: the
//! instant `act` is called minus the boundary the schedule says (worked out here from the
//! constants below, not taken from the scheduler). Actions whose boundary precedes the start
//! (catch-up) are counted apart.
//!
//! Prints `key=value` lines for `scripts/bench-scheduler.sh`: fire count (and how many the
//! schedule implies), lateness p50/p99/max in ms, peak RSS (VmHWM). Runs about 72 s.
//!
//! - `BENCH_BURSTS=1`: also a line per crowded boundary (first, p50, p99, last action).
//! - `BENCH_STORE=dynamodb` (with `AWS_ENDPOINT_URL`): the same on a DynamoDB table.
//! - `BENCH_STORE=1`: the daemon's real path: every action through the operations layer (as
//!   the `schedule` actor: override check, per-event worker, audit row opened and closed) to
//!   an engine stand-in that writes the phase to the SQLite state file as the engine does;
//!   phases and overrides read from the state file per reconcile, and the main loop's 1 s poll
//!   of overrides and phases. Lateness is measured where the engine is called.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ottd::aws::AwsError;
use ottd::clock::SystemClock;
use ottd::config::{Catalog, Resolved};
use ottd::daemon::actuator::{Actual, Actuator, BoxFuture, OpsActuator, Why};
use ottd::daemon::scheduler::Scheduler;
use ottd::engine::deploy::DeploySummary;
use ottd::engine::report::{EventStatus, Links};
use ottd::engine::teardown::TeardownSummary;
use ottd::engine::EngineError;
use ottd::lifecycle::Phase;
use ottd::metrics::Metrics;
use ottd::notify::LogNotifier;
use ottd::ops::{InForce, OpError, Ops, Workflows};
use ottd::schedule::phase::{Action, Override};
use ottd::schedule::timing::{parse_cron, Timing, When};
use ottd::store::{Holder, Store};

const ONCE: usize = 5_000;
const CRON: usize = 5_000;
const CRON_EXPR: &str = "*/10 * * * * *";
const PERIOD_S: i64 = 10;
/// One-off on-air times: from `FIRST_ON_AIR_S` after the start, spread over `SPREAD_S`.
const FIRST_ON_AIR_S: i64 = 3;
const SPREAD_S: i64 = 60;
const ON_AIR_S: i64 = 5;
const DEPLOY_BEFORE_S: i64 = 2;
const START_BEFORE_S: i64 = 1;
const TEARDOWN_AFTER_S: i64 = 2;
/// Resync interval of the daemon's main loop (`[daemon] resync_interval`, default 60 s).
const RESYNC: Duration = Duration::from_secs(60);

const SEC_US: i64 = 1_000_000;

/// Where each action's boundary lies relative to the on-air time, in µs.
fn offset_us(action: Action) -> i64 {
    match action {
        Action::Deploy => -DEPLOY_BEFORE_S * SEC_US,
        Action::Start => -START_BEFORE_S * SEC_US,
        Action::Stop => ON_AIR_S * SEC_US,
        Action::Teardown => (ON_AIR_S + TEARDOWN_AFTER_S) * SEC_US,
    }
}

/// An event's on-air times, to find the boundary an action answers.
#[derive(Clone, Copy)]
enum Expect {
    Once {
        on_air_us: i64,
    },
    /// Every `PERIOD_S`, aligned on the epoch (a `*/10` seconds cron in UTC).
    Cron,
}

impl Expect {
    /// The latest boundary of `action` at or before `fired_us`.
    fn boundary_us(self, action: Action, fired_us: i64) -> Option<i64> {
        let off = offset_us(action);
        match self {
            Expect::Once { on_air_us } => Some(on_air_us + off).filter(|b| *b <= fired_us),
            Expect::Cron => {
                let p = PERIOD_S * SEC_US;
                Some((fired_us - off).div_euclid(p) * p + off)
            }
        }
    }
}

#[derive(Default)]
struct Log {
    /// Lateness of every scheduled action, µs.
    lateness_us: Vec<i64>,
    /// (boundary, lateness) of each action, µs, with BENCH_BURSTS set.
    bursts: Vec<(i64, i64)>,
    /// Actions for boundaries before the run started (catch-up at load).
    catch_up: u64,
    /// Actions that answer no boundary at all (must stay 0).
    unexpected: u64,
}

/// The engine stand-in: phases in memory, one log line per action.
struct Recorder {
    expect: Vec<Expect>,
    /// One lock per event, as the engine's state is per event.
    phases: Vec<Mutex<Actual>>,
    /// Sharded by event, so concurrent reconciles rarely share a lock.
    logs: Vec<Mutex<Log>>,
    start_us: i64,
    /// Keep (boundary, lateness) pairs for a per-boundary summary (BENCH_BURSTS=1).
    bursts: bool,
}

const LOG_SHARDS: usize = 16;

/// The event's index, from its id (`once-0042`, `cron-0042`).
fn index(id: &str) -> Option<usize> {
    let (kind, n) = id.split_once('-')?;
    let n: usize = n.parse().ok()?;
    match kind {
        "once" if n < ONCE => Some(n),
        "cron" if n < CRON => Some(ONCE + n),
        _ => None,
    }
}

fn unknown() -> OpError {
    OpError::refused("unknown event")
}

impl Actuator for Recorder {
    fn actual(&self, event: &str) -> Result<Actual, OpError> {
        let i = index(event).ok_or_else(unknown)?;
        Ok(self.phases[i].lock().expect("phases").clone())
    }

    fn override_of(&self, _event: &str) -> Result<Option<Override>, OpError> {
        Ok(None)
    }

    fn act<'a>(
        &'a self,
        event: &'a Resolved,
        action: Action,
        _: Why,
        _: Option<&'a Override>,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(std::future::ready(self.record(&event.spec.id, action)))
    }
}

impl Recorder {
    /// Note the action's lateness (and, for the in-memory run, the event's new phase).
    fn record(&self, id: &str, action: Action) -> Result<(), OpError> {
        let fired = Utc::now();
        let fired_us = fired.timestamp_micros();
        match index(id) {
            Some(i) => {
                let phase = match action {
                    Action::Deploy => Phase::Deployed,
                    Action::Start => Phase::Running,
                    Action::Stop => Phase::Stopped,
                    Action::Teardown => Phase::TornDown,
                };
                *self.phases[i].lock().expect("phases") = Actual { phase: Some(phase), since: Some(fired) };
                let mut log = self.logs[i % LOG_SHARDS].lock().expect("log");
                match self.expect[i].boundary_us(action, fired_us) {
                    Some(b) if b >= self.start_us => {
                        log.lateness_us.push(fired_us - b);
                        if self.bursts {
                            log.bursts.push((b, fired_us - b));
                        }
                    }
                    Some(_) => log.catch_up += 1,
                    None => log.unexpected += 1,
                }
                Ok(())
            }
            None => Err(unknown()),
        }
    }
}

/// The engine stand-in behind the real operations layer (BENCH_STORE=1): notes the lateness
/// when called, then writes the phase to the state file as the engine does (awaiting the
/// writer, so a crowd's writes share commits).
struct BenchEngine {
    recorder: Arc<Recorder>,
    store: Arc<Store>,
}

type EngineResult<T> = ottd::engine::Result<T>;

impl BenchEngine {
    async fn act(&self, id: &str, action: Action) -> EngineResult<()> {
        if self.recorder.record(id, action).is_err() {
            return Err(EngineError::UnknownEvent(id.to_string()));
        }
        // As the engine does: the event's lease for the action, fenced writes, the lease given
        // back (queued, not waited for).
        let me = Holder::new("bench");
        let grant = match self.store.acquire_lease(id, &me, Duration::from_secs(15), None).await? {
            Ok(g) => g,
            Err(held) => {
                return Err(EngineError::Busy {
                    event: id.to_string(),
                    holder: held.holder,
                    doing: held.doing,
                    term: held.term,
                })
            }
        };
        let fence = &grant.fence;
        let phase = match action {
            Action::Deploy => {
                self.store.begin_deployment(fence, "bench", "{}").await?;
                Phase::Deployed
            }
            Action::Start => Phase::Running,
            Action::Stop => Phase::Stopped,
            Action::Teardown => Phase::TornDown,
        };
        let written = self.store.set_phase(fence, phase, None).await;
        self.store.release_lease(fence).detach();
        Ok(written?)
    }
}

impl Workflows for BenchEngine {
    fn deploy<'a>(&'a self, event: &'a Resolved) -> BoxFuture<'a, EngineResult<DeploySummary>> {
        Box::pin(async move {
            self.act(&event.spec.id, Action::Deploy).await?;
            Ok(DeploySummary { event: event.spec.id.clone(), nonce: "bench".into(), created: 0, critical_path: 0 })
        })
    }
    fn start<'a>(&'a self, event: &'a str) -> BoxFuture<'a, EngineResult<()>> {
        Box::pin(self.act(event, Action::Start))
    }
    fn stop<'a>(&'a self, event: &'a str) -> BoxFuture<'a, EngineResult<()>> {
        Box::pin(self.act(event, Action::Stop))
    }
    fn teardown<'a>(&'a self, event: &'a str) -> BoxFuture<'a, EngineResult<TeardownSummary>> {
        Box::pin(async move {
            self.act(event, Action::Teardown).await?;
            Ok(TeardownSummary { event: event.to_string(), deleted: 0, pending: false })
        })
    }
    fn restart_pipeline<'a>(&'a self, event: &'a str, _: u8) -> BoxFuture<'a, EngineResult<()>> {
        Box::pin(std::future::ready(Err(EngineError::NotDeployed(event.to_string()))))
    }
    fn live_state<'a>(&'a self, _: &'a str) -> BoxFuture<'a, EngineResult<Option<String>>> {
        Box::pin(std::future::ready(Ok(None)))
    }
    fn status<'a>(&'a self, event: &'a str) -> BoxFuture<'a, EngineResult<EventStatus>> {
        Box::pin(std::future::ready(Err(EngineError::NotDeployed(event.to_string()))))
    }
    fn links<'a>(&'a self, event: &'a str) -> BoxFuture<'a, EngineResult<Links>> {
        Box::pin(std::future::ready(Err(EngineError::NotDeployed(event.to_string()))))
    }
    fn live<'a>(
        &'a self,
        cmd: &'a ottd::live::LiveCommand,
        _: &'a ottd::engine::live::LiveContext,
    ) -> BoxFuture<'a, EngineResult<ottd::engine::live::LiveDone>> {
        Box::pin(std::future::ready(Err(EngineError::NotDeployed(cmd.event().to_string()))))
    }
    fn schedule_actions<'a>(&'a self, event: &'a str) -> BoxFuture<'a, EngineResult<ottd::engine::live::LiveListing>> {
        Box::pin(std::future::ready(Err(EngineError::NotDeployed(event.to_string()))))
    }
    fn bootstrap(&self) -> BoxFuture<'_, Result<ottd::ops::workflows::Bootstrapped, AwsError>> {
        Box::pin(std::future::ready(Err(AwsError::invalid("Bootstrap", "bench", "not in the benchmark"))))
    }
}

/// Load the events at `start_us` and run the daemon's main loop until `stop_us`: the timer
/// loop, the resync tick and, with a state file, the 1 s poll of overrides and phases.
/// Returns how long loading took, in ms, and the peak RSS once the first reconciles are done.
async fn run<A: Actuator>(
    actuator: Arc<A>,
    events: Vec<Arc<Resolved>>,
    start_us: i64,
    stop_us: i64,
    store: Option<Arc<Store>>,
) -> (f64, u64) {
    tokio::time::sleep(Duration::from_micros((start_us - Utc::now().timestamp_micros()).max(0) as u64)).await;
    let sched = Scheduler::new(
        actuator,
        Arc::new(LogNotifier),
        Arc::new(Metrics::new()),
        Duration::from_secs(600),
        Arc::new(SystemClock),
    );
    sched.set_events(events);
    let load_ms = (Utc::now().timestamp_micros() - start_us) as f64 / 1000.0;
    for _ in 0..50 {
        if sched.idle() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let loaded_peak_kb = status_kb("VmHWM:");
    assert!(
        cron_boundaries(start_us, Utc::now().timestamp_micros()).is_empty(),
        "the events took too long to load: a cron boundary passed"
    );
    // The daemon's main loop, minus signals, file polling and the watchdog.
    let until =
        tokio::time::Instant::now() + Duration::from_micros((stop_us - Utc::now().timestamp_micros()).max(0) as u64);
    let mut resync = tokio::time::interval(RESYNC);
    resync.tick().await;
    let mut poll = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = sched.drive() => {}
            _ = resync.tick() => sched.reconcile_all(),
            _ = poll.tick(), if store.is_some() => {
                if let Some(store) = &store {
                    let _ = store.overrides().expect("overrides");
                    let _ = store.phases().expect("phases");
                }
            }
            _ = tokio::time::sleep_until(until) => break,
        }
    }
    for _ in 0..500 {
        if sched.idle() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    (load_ms, loaded_peak_kb)
}

fn status_kb(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.trim().strip_suffix("kB")?.trim().parse().ok())
        .expect("field in /proc/self/status")
}

fn timing(when: When) -> Timing {
    Timing {
        when,
        tz: chrono_tz::UTC,
        deploy_before: Duration::from_secs(DEPLOY_BEFORE_S as u64),
        start_before: Duration::from_secs(START_BEFORE_S as u64),
        stop_after: Duration::ZERO,
        teardown_after: Duration::from_secs(TEARDOWN_AFTER_S as u64),
        keep_deployed: false,
        max_runtime: None,
        adaptive_lead: false,
    }
}

fn at_us(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).expect("instant in range")
}

/// The cron boundaries (all actions) in `[from, to)`, per event.
fn cron_boundaries(from_us: i64, to_us: i64) -> Vec<i64> {
    let p = PERIOD_S * SEC_US;
    let mut out = Vec::new();
    for action in [Action::Deploy, Action::Start, Action::Stop, Action::Teardown] {
        let off = offset_us(action);
        let mut b = (from_us - off).div_euclid(p) * p + off;
        if b < from_us {
            b += p;
        }
        while b < to_us {
            out.push(b);
            b += p;
        }
    }
    out
}

fn pct(sorted: &[i64], q: f64) -> f64 {
    let rank = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1] as f64 / 1000.0
}

#[tokio::main]
async fn main() {
    let config = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ottd.toml");
    let catalog = Catalog::load(&config).expect("the shipped configuration loads");
    let template = Resolved::clone(catalog.events.first().expect("the shipped schedule has an event"));
    let settings = catalog.settings.clone();
    drop(catalog);
    let rss_before = status_kb("VmRSS:");

    // Start in the gap between two cron windows (after a teardown, before the next deploy), so
    // no window is open at load and every cron boundary after the start has an action.
    let p = PERIOD_S * SEC_US;
    let gap = offset_us(Action::Teardown).rem_euclid(p) + 300_000;
    let now_us = Utc::now().timestamp_micros();
    let mut start_us = now_us.div_euclid(p) * p + gap;
    while start_us < now_us + 200_000 {
        start_us += p;
    }
    let first_on_air = start_us + FIRST_ON_AIR_S * SEC_US;
    let step_us = SPREAD_S * SEC_US / ONCE as i64;
    let cron = parse_cron(CRON_EXPR).expect("cron");
    let mut events = Vec::with_capacity(ONCE + CRON);
    let mut expect = Vec::with_capacity(ONCE + CRON);
    for i in 0..ONCE {
        let on_air_us = first_on_air + i as i64 * step_us;
        let mut e = template.clone();
        e.spec.id = format!("once-{i:04}");
        let start = at_us(on_air_us);
        let end = at_us(on_air_us + ON_AIR_S * SEC_US);
        e.spec.timing = Some(timing(When::Once { start, end }));
        events.push(Arc::new(e));
        expect.push(Expect::Once { on_air_us });
    }
    let rss_once = status_kb("VmRSS:");
    for i in 0..CRON {
        let mut e = template.clone();
        e.spec.id = format!("cron-{i:04}");
        let when = When::Recurring {
            cron: cron.clone(),
            expr: CRON_EXPR.to_string(),
            duration: Duration::from_secs(ON_AIR_S as u64),
        };
        e.spec.timing = Some(timing(when));
        events.push(Arc::new(e));
        expect.push(Expect::Cron);
    }
    let recorder = Arc::new(Recorder {
        expect,
        phases: (0..ONCE + CRON).map(|_| Mutex::new(Actual::default())).collect(),
        logs: (0..LOG_SHARDS)
            .map(|_| Mutex::new(Log { lateness_us: Vec::with_capacity(200_000 / LOG_SHARDS), ..Log::default() }))
            .collect(),
        start_us,
        bursts: std::env::var_os("BENCH_BURSTS").is_some(),
    });

    // Stop once the last one-off teardown is past, at an instant clear of every cron boundary
    // (so the expected count is exact).
    let last_teardown = first_on_air + (ONCE as i64 - 1) * step_us + offset_us(Action::Teardown);
    let mut stop_us = last_teardown + 500_000;
    for _ in 0..100 {
        if cron_boundaries(stop_us - 300_000, stop_us + 300_000).is_empty() {
            break;
        }
        stop_us += 100_000;
    }
    let expected = 4 * ONCE + CRON * cron_boundaries(start_us, stop_us).len();

    let rss_events = status_kb("VmRSS:");
    let mut peak_before_audit = None;
    let (load_ms, loaded_peak_kb) = match std::env::var_os("BENCH_STORE") {
        None => run(recorder.clone(), events, start_us, stop_us, None).await,
        Some(_) => {
            let dir = tempfile::tempdir().expect("temp dir");
            let store = if std::env::var("BENCH_STORE").as_deref() == Ok("dynamodb") {
                // The table on whatever AWS_ENDPOINT_URL names (the emulator, through the
                // request-logging proxy in scripts/bench-scheduler.sh).
                let conf = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
                ottd::store::dynamo::create_table(&conf, "ottd-bench").await.expect("state table");
                println!("state: DynamoDB, every action through the operations layer with its audit rows");
                Arc::new(Store::open_dynamo(&conf, "ottd-bench").await.expect("state table"))
            } else {
                println!("state: SQLite, every action through the operations layer with its audit rows");
                Arc::new(Store::open(&dir.path().join("ottd.db")).expect("state file"))
            };
            let engine = Arc::new(BenchEngine { recorder: recorder.clone(), store: store.clone() });
            let definitions = Arc::new(InForce::new(settings, None));
            definitions.set(Arc::new(events.iter().map(|e| (e.spec.id.clone(), e.clone())).collect()));
            let ops = Arc::new(Ops::new(store.clone(), engine, definitions, Arc::new(SystemClock)));
            let actuator = Arc::new(OpsActuator::new(ops, Arc::new(Metrics::new()), Arc::new(LogNotifier)));
            let r = run(actuator, events, start_us, stop_us, Some(store.clone())).await;
            // The peak before reading the audit trail back (that read holds every row).
            let peak_kb = status_kb("VmHWM:");
            let audit = store.audit(None, None, true, usize::MAX >> 1).expect("audit rows");
            let closed = audit.iter().filter(|a| a.result.as_deref() == Some("ok")).count();
            println!("audit_rows={} closed_ok={closed}", audit.len());
            drop(audit);
            peak_before_audit = Some(peak_kb);
            r
        }
    };

    let peak_kb = peak_before_audit.unwrap_or_else(|| status_kb("VmHWM:"));
    let mut log = Log::default();
    for shard in &recorder.logs {
        let mut shard = shard.lock().expect("log");
        log.lateness_us.append(&mut shard.lateness_us);
        log.catch_up += shard.catch_up;
        log.unexpected += shard.unexpected;
        log.bursts.append(&mut shard.bursts);
    }
    if !log.bursts.is_empty() {
        log.bursts.sort_unstable();
        for group in log.bursts.chunk_by(|a, b| a.0 == b.0).filter(|g| g.len() >= 100) {
            let mut l: Vec<i64> = group.iter().map(|x| x.1).collect();
            l.sort_unstable();
            println!(
                "burst at {} n={} first={:.3} p50={:.3} p99={:.3} last={:.3} ms",
                at_us(group[0].0).format("%S%.3f"),
                l.len(),
                pct(&l, 0.0),
                pct(&l, 0.5),
                pct(&l, 0.99),
                pct(&l, 1.0)
            );
        }
    }
    let mut late = log.lateness_us;
    late.sort_unstable();
    let (p50, p99, max) =
        if late.is_empty() { (0.0, 0.0, 0.0) } else { (pct(&late, 0.50), pct(&late, 0.99), pct(&late, 1.0)) };
    let over_10ms = late.iter().filter(|l| **l > 10_000).count();
    println!("events={} once={ONCE} cron={CRON} ({CRON_EXPR}, {ON_AIR_S}s on air)", ONCE + CRON);
    println!("load_ms={load_ms:.1} run_s={:.1}", (stop_us - start_us) as f64 / 1e6);
    println!("fires={} expected={expected} catch_up={} unexpected={}", late.len(), log.catch_up, log.unexpected);
    println!("lateness_ms p50={p50:.3} p99={p99:.3} max={max:.3} over_10ms={over_10ms}");
    println!(
        "rss_mb before_events={:.1} once_events=+{:.1} cron_events=+{:.1} peak_after_load={:.1} peak={:.1} (at the end: anon {:.1}, file {:.1})",
        rss_before as f64 / 1024.0,
        (rss_once - rss_before) as f64 / 1024.0,
        (rss_events - rss_once) as f64 / 1024.0,
        loaded_peak_kb as f64 / 1024.0,
        peak_kb as f64 / 1024.0,
        status_kb("RssAnon:") as f64 / 1024.0,
        status_kb("RssFile:") as f64 / 1024.0,
    );
}
