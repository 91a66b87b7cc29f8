//! `ottd run`: the scheduler daemon. Wiring, signals, hot reload and shutdown; the decisions
//! live in `schedule::phase`, the reconcile loop in [`scheduler`], the AWS work in the engine.
//!
//! One `select!` loop owns the process: timer wake-ups, file changes and operator overrides
//! (polled every second), SIGHUP → reload, SIGTERM/SIGINT → shutdown (a second one exits at
//! once), the resync tick, the cron jobs ([`housekeeping`]) and the systemd watchdog.

pub mod actuator;
pub mod housekeeping;
pub mod scheduler;
pub mod stream_watch;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::signal::unix::{signal, SignalKind};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::clock::SystemClock;
use crate::config::{Catalog, Resolved};
use crate::http::{self, HttpState};
use crate::lifecycle::Phase;
use crate::metrics::{ActionLabel, Metrics, PhaseLabel};
use crate::notify::LogNotifier;
use crate::ops::{EngineWorkflows, InForce, Ops};
use crate::store::{KnownWindow, Store};
use actuator::OpsActuator;
use housekeeping::{Chore, Housekeeping};
use scheduler::Scheduler;

/// What the main loop reacts to besides timers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Reload,
    Shutdown,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("configuration is invalid, not starting:\n{0}")]
    Config(crate::config::Diags),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: std::net::SocketAddr, source: std::io::Error },
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error(transparent)]
    Housekeeping(#[from] housekeeping::HousekeepingError),
    #[error("[alerts.sns_https]: {0}")]
    SnsPush(crate::alerts::sns_push::SetupError),
    #[error("[chat]: {0}")]
    Chat(#[from] crate::chat::ChatError),
}

/// The files whose change means a reload: ottd.toml, the schedule and profile folders and
/// their files, the workflows in use. Taken from the configuration in force, so a poll only
/// looks at metadata and never parses a file.
fn watched(catalog: &Catalog, config: &Path) -> Vec<PathBuf> {
    let s = &catalog.settings;
    let mut paths =
        vec![config.to_path_buf(), s.schedules_dir.clone(), s.profiles_dir.clone(), s.default_workflow.clone()];
    paths.extend(catalog.events.iter().filter_map(|e| e.spec.workflow.clone()));
    paths.sort();
    paths.dedup();
    paths
}

/// What a poll compares: each watched path's modification time and size, and the files in
/// the watched folders (a file added or removed changes the listing).
fn fingerprint(watched: &[PathBuf]) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    let mut paths = watched.to_vec();
    for dir in watched.iter().filter(|p| p.is_dir()) {
        if let Ok(rd) = std::fs::read_dir(dir) {
            paths.extend(rd.filter_map(|e| e.ok().map(|e| e.path())));
        }
    }
    paths.sort();
    paths.dedup();
    paths
        .into_iter()
        .map(|p| {
            let m = std::fs::metadata(&p).ok();
            let (mtime, len) = (m.as_ref().and_then(|m| m.modified().ok()), m.map_or(0, |m| m.len()));
            (p, mtime, len)
        })
        .collect()
}

pub struct Options {
    pub config: PathBuf,
    pub state: Option<PathBuf>,
}

fn load(opts: &Options) -> Result<Catalog, crate::config::Diags> {
    let mut c = Catalog::load(&opts.config)?;
    if let Some(p) = &opts.state {
        c.settings.state_path = p.clone();
    }
    // At start and at every reload: what loads but will not work as written.
    for w in c.warnings() {
        tracing::warn!("{w}");
    }
    Ok(c)
}

/// Events of the new configuration, plus live events whose definition disappeared: they run
/// to their scheduled end (the old definition stays in force), with a warning.
fn merge_retained(new: &Catalog, old: &HashMap<String, Arc<Resolved>>, store: &Store) -> Vec<Arc<Resolved>> {
    let mut events = new.events.clone();
    for (id, ev) in old {
        if new.event(id).is_some() {
            continue;
        }
        let live = store.deployment(id).ok().flatten().is_some_and(|d| d.phase != Phase::TornDown);
        if live {
            tracing::warn!(event = %id, "event removed from the schedule files while deployed: it keeps its last definition and runs to its scheduled end");
            events.push(ev.clone());
        }
    }
    events
}

/// The signals the daemon answers, installed before anything else so a SIGHUP during
/// start-up is not fatal.
struct Signals {
    hup: tokio::signal::unix::Signal,
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    fn install() -> Result<Signals, DaemonError> {
        let on = |kind| signal(kind).map_err(DaemonError::Signals);
        Ok(Signals {
            hup: on(SignalKind::hangup())?,
            term: on(SignalKind::terminate())?,
            int: on(SignalKind::interrupt())?,
        })
    }

    /// A second SIGTERM or SIGINT (during shutdown: exit now).
    async fn stop(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
    }
}

/// The running daemon's parts, wired once by [`Daemon::start`].
struct Daemon {
    opts: Options,
    /// As the daemon started: the keys a reload does not apply stay as they were.
    settings: crate::config::Settings,
    /// The configuration in force (the last good one).
    catalog: Catalog,
    store: Arc<Store>,
    metrics: Arc<Metrics>,
    definitions: Arc<InForce>,
    ops: Arc<Ops>,
    sched: Arc<Scheduler<OpsActuator>>,
    /// Chat's front desk, handed new roles and approval rules on reload.
    chat_desk: Arc<crate::chat::desk::Desk>,
    /// Recovery, handed new policies on reload (`None`: alerts are off).
    runner: Option<Arc<crate::alerts::runner::Runner>>,
    /// Cancelled at shutdown: every loop that takes new work stops taking it.
    shutdown: CancellationToken,
    /// Notice delivery, stopped last so it takes what the finishing work reports.
    deliveries: TaskTracker,
    deliveries_stop: CancellationToken,
    server: tokio::task::JoinHandle<()>,
    /// Every event's phase, read once per look at the store's pace and shared: the phase gauge
    /// and the stream watch both read it (on DynamoDB each read is a billed query).
    phases: tokio::sync::watch::Sender<Phases>,
}

/// Every event's recorded phase and since when, as the main loop last read it.
pub type Phases = Arc<Vec<(String, Phase, chrono::DateTime<chrono::Utc>)>>;

pub async fn run(opts: Options) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let mut signals = Signals::install()?;
    let catalog = load(&opts).map_err(DaemonError::Config)?;
    let mut daemon = Daemon::start(opts, catalog, started).await?;
    daemon.serve(&mut signals).await?;
    daemon.stop(&mut signals).await;
    Ok(())
}

/// Alerts: the queue and topic `ottd bootstrap` made, if it did and alerts are on.
struct Plumbing {
    queue_url: String,
    topic_arn: Option<String>,
    /// Reading them needs AWS from the start; without them the daemon connects on its first
    /// action.
    aws: crate::aws::Aws,
}

impl Daemon {
    async fn start(opts: Options, catalog: Catalog, started: std::time::Instant) -> Result<Daemon, DaemonError> {
        let settings = catalog.settings.clone();
        let store = Arc::new(Store::configured(&settings, false).await?);
        let metrics = Arc::new(Metrics::new());
        let plumbing = match (settings.alerts.enabled, store.meta("alerts.queue_url")?) {
            (true, Some(queue_url)) => Some(Plumbing {
                queue_url,
                topic_arn: store.meta("alerts.topic_arn")?,
                aws: crate::aws::Aws::connect(&settings).await,
            }),
            _ => {
                tracing::info!("alerts: off (no queue: run `ottd bootstrap` with [alerts] enabled)");
                None
            }
        };
        let chat_secrets = crate::chat::Chat::secrets(&settings.chat)?;
        let chat_clients = crate::chat::Clients::new(&settings.chat, &chat_secrets);
        let (deliveries, deliveries_stop) = (TaskTracker::new(), CancellationToken::new());
        let notifier = notifier(plumbing.as_ref(), &chat_clients, &deliveries, &deliveries_stop);
        let clock = Arc::new(SystemClock);
        let definitions = Arc::new(InForce::new(settings.clone(), opts.state.clone()));
        let hub = EngineWorkflows::traced_hub();
        let workflows = Arc::new(EngineWorkflows::new(store.clone(), settings.clone(), hub.clone()));
        let board = Arc::new(stream_watch::Board::default());
        let listener = tokio::net::TcpListener::bind(settings.daemon.listen)
            .await
            .map_err(|source| DaemonError::Listen { addr: settings.daemon.listen, source })?;
        let local =
            listener.local_addr().map_err(|source| DaemonError::Listen { addr: settings.daemon.listen, source })?;
        // Links to the preview page: the public URL, else the address bound (a port 0 resolved;
        // a wildcard address by the machine's name).
        let preview_base = settings.daemon.link_base(local, crate::config::settings::host_name().as_deref());
        if settings.daemon.public_url.is_none() && local.ip().is_unspecified() {
            tracing::warn!(
                "[daemon] public_url is not set and the daemon listens on {local}: preview links say {preview_base}; \
                 set public_url to the address people reach it at"
            );
        }
        let ops = Arc::new(
            Ops::new(store.clone(), workflows.clone(), definitions.clone(), clock.clone())
                .with_progress(hub)
                .with_preview_base(preview_base),
        );
        let actuator = OpsActuator::new(ops.clone(), metrics.clone(), notifier.clone());
        let sched = Scheduler::new(
            Arc::new(actuator),
            notifier.clone(),
            metrics.clone(),
            settings.daemon.max_idle_running,
            clock.clone(),
        );
        // An operation inside the daemon (chat, recovery) that changes an override: look now.
        let weak = Arc::downgrade(&sched);
        ops.on_override_change(move |event| {
            if let Some(s) = weak.upgrade() {
                s.reconcile(event, None);
            }
        });
        // Alert intakes (SQS, and SNS pushes on POST /sns) tell recovery what changed.
        let (alerts_tx, alerts_rx) = tokio::sync::mpsc::channel(1024);
        let sns = match (settings.alerts.enabled, &settings.alerts.sns_https) {
            (true, Some(c)) => Some(Arc::new(
                crate::alerts::sns_push::SnsPush::new(c, store.clone(), alerts_tx.clone())
                    .map_err(DaemonError::SnsPush)?,
            )),
            _ => None,
        };
        let http_state = Arc::new(HttpState {
            metrics: metrics.clone(),
            ready: Default::default(),
            sns: sns.clone(),
            tasks: Some(ops.tasks().clone()),
        });
        let shutdown = CancellationToken::new();
        let chat = crate::chat::Chat::start(
            &settings.chat,
            &chat_secrets,
            &chat_clients,
            ops.clone(),
            definitions.clone(),
            clock.clone(),
            shutdown.clone(),
        )?;
        let preview =
            crate::preview::Preview::new(store.clone(), workflows.clone(), board.clone(), settings.preview.clone());
        let routes = http::app(http_state.clone()).merge(chat.routes).merge(crate::preview::routes(preview));
        let server = serve_http(listener, routes, shutdown.clone());
        store.set_meta("daemon.config_errors", "").await?;
        put_in_force(&sched, &definitions, &store, catalog.events.clone());
        announce_ready(&sched, &http_state, local, catalog.events.len(), started);
        let watch_tx = alerts_tx.clone();
        let (phases, phases_rx) = tokio::sync::watch::channel(Phases::default());
        let runner = start_alerts(
            plumbing.as_ref(),
            sns.is_some(),
            &ops,
            &definitions,
            &settings,
            &notifier,
            &clock,
            alerts_tx,
            alerts_rx,
            &shutdown,
        );
        start_stream_watch(
            &settings,
            &store,
            &workflows,
            &metrics,
            runner.as_ref().map(|_| watch_tx),
            &board,
            &ops,
            phases_rx,
            &shutdown,
        );
        Ok(Daemon {
            opts,
            settings,
            catalog,
            store,
            metrics,
            definitions,
            ops,
            sched,
            chat_desk: chat.desk,
            runner,
            shutdown,
            deliveries,
            deliveries_stop,
            server,
            phases,
        })
    }

    /// The main loop, until SIGTERM or SIGINT: timer wake-ups, reloads (SIGHUP or a changed
    /// file), overrides written by other processes, the resync tick, upkeep, the watchdog.
    async fn serve(&mut self, signals: &mut Signals) -> Result<(), DaemonError> {
        // Ping at half the interval systemd gives, from this loop, so a stuck loop is noticed.
        let watchdog = sd_notify::watchdog_enabled().map(|d| d / 2);
        let mut dog = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
        let mut watching = watched(&self.catalog, &self.opts.config);
        let mut files = fingerprint(&watching);
        let mut seen_overrides = self.store.overrides()?;
        let mut poll = tokio::time::interval(Duration::from_secs(1));
        // Changes other processes wrote to the state: as often as the backend makes cheap.
        let mut look = tokio::time::interval(self.store.poll_interval());
        let mut resync = tokio::time::interval(self.settings.daemon.resync_interval);
        let mut chores = Housekeeping::start(&self.settings.daemon.upkeep).await?;
        loop {
            let control = tokio::select! {
                // Timer wake-ups: never returns, cancel-safe.
                _ = self.sched.drive() => None,
                _ = signals.hup.recv() => Some(Control::Reload),
                _ = signals.term.recv() => Some(Control::Shutdown),
                _ = signals.int.recv() => Some(Control::Shutdown),
                _ = resync.tick() => { self.sched.reconcile_all(); None }
                Some(chore) = chores.next() => {
                    match chore {
                        Chore::Upkeep => upkeep(&self.store, self.settings.daemon.keep_step_log),
                    }
                    None
                }
                _ = dog.tick() => { if watchdog.is_some() { let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]); } None }
                _ = look.tick() => {
                    self.overrides_changed(&mut seen_overrides);
                    self.read_phases();
                    None
                }
                _ = poll.tick() => {
                    let now_files = fingerprint(&watching);
                    if now_files != files { files = now_files; Some(Control::Reload) } else { None }
                }
            };
            match control {
                None => {}
                Some(Control::Reload) => {
                    self.reload().await;
                    watching = watched(&self.catalog, &self.opts.config);
                    files = fingerprint(&watching);
                }
                Some(Control::Shutdown) => {
                    chores.stop().await;
                    return Ok(());
                }
            }
        }
    }

    /// Overrides another process (the CLI) wrote: reconcile the events they name. A state
    /// file busy or failing for a moment must not stop the daemon: the next poll tries again.
    fn overrides_changed(&self, seen: &mut Vec<crate::store::StoredOverride>) {
        match self.store.overrides() {
            Ok(overrides) if overrides != *seen => {
                for o in overrides.iter().chain(seen.iter()) {
                    self.sched.reconcile(&o.event, None);
                }
                *seen = overrides;
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot read operator overrides from the state file: {e}"),
        }
    }

    /// Load the configuration again; a bad one leaves the last good one in force.
    async fn reload(&mut self) {
        let outcome = |label: &str| ActionLabel { action: "reload".into(), outcome: label.into() };
        match load(&self.opts) {
            Ok(new) => {
                let events = merge_retained(&new, &self.sched.events(), &self.store);
                let count = events.len();
                self.metrics.reloads.get_or_create(&outcome("ok")).inc();
                record_config_errors(&self.store, "").await;
                self.definitions.set_problems(None);
                put_in_force(&self.sched, &self.definitions, &self.store, events);
                // Chat roles and approval rules, and recovery policies, apply at once; every
                // other key of ottd.toml at the next start (said per key).
                self.chat_desk.set_settings(new.settings.chat.clone());
                if let Some(r) = &self.runner {
                    r.set_policies(new.settings.alerts.policies.clone());
                }
                for key in crate::config::reload::restart_keys(&self.settings, &new.settings) {
                    tracing::warn!(
                        key,
                        "{key} changed in {}: it takes effect at the next restart",
                        self.opts.config.display()
                    );
                }
                self.catalog = new;
                // Said once all of it is in force (tests act on this line).
                tracing::info!(events = count, "configuration reloaded");
            }
            Err(diags) => {
                for d in &diags.0 {
                    tracing::error!("{d}");
                }
                tracing::error!("configuration NOT reloaded: the last good configuration stays in force");
                self.metrics.reloads.get_or_create(&outcome("error")).inc();
                record_config_errors(&self.store, &diags.to_string()).await;
                self.definitions.set_problems(Some(diags.to_string()));
            }
        }
    }

    /// Stop taking new work (the alert intake, chat connections and the HTTP listener go
    /// quiet), let what was taken on finish within one cap for all of it, deliver the notices
    /// it produced, and commit every queued write.
    async fn stop(self, signals: &mut Signals) {
        tracing::info!("shutting down: waiting for in-flight work (at most {}s)", DRAIN.as_secs());
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
        self.shutdown.cancel();
        let deadline = tokio::time::Instant::now() + DRAIN;
        let tasks = self.ops.tasks().clone();
        tasks.close();
        let drained = tokio::select! {
            (d, ()) = futures::future::join(self.sched.drain(DRAIN), tasks.wait()) => d,
            _ = tokio::time::sleep_until(deadline) => false,
            _ = signals.stop() => false,
        };
        if !drained {
            tracing::warn!(
                still_running = tasks.len(),
                "stopped before in-flight work finished; the next start resumes it from the state file"
            );
        }
        self.deliveries_stop.cancel();
        self.deliveries.close();
        let left = deadline.saturating_duration_since(tokio::time::Instant::now()).max(NOTICE_DRAIN);
        if tokio::time::timeout(left, self.deliveries.wait()).await.is_err() {
            tracing::warn!("notices still queued at exit were not delivered (the log has them)");
        }
        // Queued writes (audit rows nobody waited for) reach the state file before the exit.
        if let Err(e) = self.store.flush().await {
            tracing::warn!("state file writes may be lost: {e}");
        }
        // Open HTTP connections get a moment to finish; then the listener goes regardless.
        if tokio::time::timeout(HTTP_DRAIN, self.server).await.is_err() {
            tracing::warn!("HTTP connections still open after {}s; closing them", HTTP_DRAIN.as_secs());
        }
    }
}

/// The daemon's HTTP listener until `shutdown` (then open connections get [`HTTP_DRAIN`]).
fn serve_http(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    shutdown: CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let r = axum::serve(listener, app).with_graceful_shutdown(async move { shutdown.cancelled().await }).await;
        if let Err(e) = r {
            tracing::error!("HTTP server failed: {e}");
        }
    })
}

/// Ready once every event has been decided (its timer filed or its first action begun):
/// `/readyz` answers 200, systemd hears READY=1, the log says how long it took.
fn announce_ready(
    sched: &Arc<Scheduler<OpsActuator>>,
    http_state: &Arc<HttpState>,
    local: std::net::SocketAddr,
    events: usize,
    started: std::time::Instant,
) {
    let (sched, http_state) = (sched.clone(), http_state.clone());
    // Untracked: it acts on nothing, so shutdown need not wait for it.
    tokio::spawn(async move {
        sched.ready().await;
        http_state.ready.store(true, Ordering::SeqCst);
        tracing::info!(listen = %local, events, ready_ms = started.elapsed().as_millis() as u64, "ottd daemon ready");
        let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
    });
}

/// The alert intake (SQS) and recovery, when alerts are on: `plumbing` (bootstrap's queue),
/// `sns` (SNS deliveries on POST /sns). Both run on the operations layer's tracker until
/// `shutdown`; recovery is returned for reloads.
#[allow(clippy::too_many_arguments)]
fn start_alerts(
    plumbing: Option<&Plumbing>,
    sns: bool,
    ops: &Arc<Ops>,
    definitions: &Arc<InForce>,
    settings: &crate::config::Settings,
    notifier: &Arc<dyn crate::notify::Notifier>,
    clock: &Arc<SystemClock>,
    alerts_tx: tokio::sync::mpsc::Sender<crate::alerts::intake::Changed>,
    alerts_rx: tokio::sync::mpsc::Receiver<crate::alerts::intake::Changed>,
    shutdown: &CancellationToken,
) -> Option<Arc<crate::alerts::runner::Runner>> {
    let store = ops.store();
    if let Some(p) = &plumbing {
        let intake = Arc::new(crate::alerts::intake::Intake {
            queue: crate::aws::alerting::Queue::new(&p.aws, p.queue_url.clone()),
            store: store.clone(),
            changed: alerts_tx.clone(),
            tasks: ops.tasks().clone(),
        });
        tracing::info!(queue = %p.queue_url, "alerts: reading MediaLive events from SQS");
        ops.tasks().spawn(intake.run(shutdown.clone()));
    }
    if plumbing.is_some() || sns {
        let recovery = Arc::new(crate::alerts::runner::Runner::new(
            ops.clone(),
            definitions.clone(),
            settings.alerts.policies.clone(),
            notifier.clone(),
            clock.clone(),
            settings.daemon.resync_interval,
        ));
        if sns {
            tracing::info!("alerts: taking SNS deliveries on POST /sns");
        }
        ops.tasks().spawn(recovery.clone().run(alerts_rx, shutdown.clone()));
        return Some(recovery);
    }
    None
}

/// Watching while live (`[probe]`): one task on the operations layer's tracker, until
/// `shutdown`. Without a fetcher (a CA bundle that cannot be read) it says so and stays off.
#[allow(clippy::too_many_arguments)]
fn start_stream_watch(
    settings: &crate::config::Settings,
    store: &Arc<Store>,
    workflows: &Arc<EngineWorkflows>,
    metrics: &Arc<Metrics>,
    changed: Option<tokio::sync::mpsc::Sender<crate::alerts::intake::Changed>>,
    board: &Arc<stream_watch::Board>,
    ops: &Arc<Ops>,
    phases: tokio::sync::watch::Receiver<Phases>,
    shutdown: &CancellationToken,
) {
    if !settings.probe.enabled {
        tracing::info!("stream probe: off ([probe] enabled = false): \"on air\" means RUNNING");
        return;
    }
    let fetch = match crate::probe::fetch::HttpFetch::new(&settings.probe) {
        Ok(f) => Arc::new(f),
        Err(e) => {
            tracing::error!("stream probe: off: {e}");
            return;
        }
    };
    if changed.is_none() {
        tracing::info!("stream probe: alerts are off, so stale streams are recorded and logged but not acted on");
    }
    let watch = Arc::new(stream_watch::StreamWatch {
        store: store.clone(),
        workflows: workflows.clone(),
        fetch,
        settings: settings.probe.clone(),
        metrics: metrics.clone(),
        changed,
        board: board.clone(),
    });
    ops.tasks().spawn(watch.run(phases, shutdown.clone()));
}

/// Where notices go: the log always, the SNS topic `bootstrap` made, the chat channels events
/// name. Delivery runs on `deliveries` until `stop`.
fn notifier(
    plumbing: Option<&Plumbing>,
    chat: &crate::chat::Clients,
    deliveries: &TaskTracker,
    stop: &CancellationToken,
) -> Arc<dyn crate::notify::Notifier> {
    let mut sinks: Vec<Arc<dyn crate::notify::Notifier>> = vec![Arc::new(LogNotifier)];
    if let Some((p, topic)) = plumbing.and_then(|p| p.topic_arn.clone().map(|t| (p, t))) {
        let topic = crate::aws::alerting::Topic::new(&p.aws, topic);
        sinks.push(Arc::new(crate::notify::SnsNotifier::start(topic, deliveries, stop.clone())));
    }
    if let Some(chat) = crate::chat::Chat::notifier(chat, deliveries, stop) {
        sinks.push(Arc::new(chat));
    }
    Arc::new(crate::notify::Fanout(sinks))
}

/// How long shutdown waits for the work in flight (scheduled steps, recovery, chat commands,
/// alert messages being recorded) before it exits anyway.
pub const DRAIN: Duration = Duration::from_secs(30);
/// The least time notices queued at shutdown get to go out.
const NOTICE_DRAIN: Duration = Duration::from_secs(2);

/// How long shutdown waits for open HTTP connections.
const HTTP_DRAIN: Duration = Duration::from_secs(5);

/// How many upcoming windows of each timed event the state file remembers (for overrides
/// set while the files are broken).
const KNOWN_WINDOWS: usize = 4;

/// Put a set of events in force: for the operations layer, in the state file (their coming
/// windows, so a manual command while the files are broken still gets a bounded override),
/// and for the scheduler, which reconciles them all.
fn put_in_force(sched: &Arc<Scheduler<OpsActuator>>, definitions: &InForce, store: &Store, events: Vec<Arc<Resolved>>) {
    let now = chrono::Utc::now();
    let windows: Vec<(String, Vec<KnownWindow>)> = events
        .iter()
        .filter_map(|e| {
            let t = e.spec.timing.as_ref()?;
            let w = t.windows_from(now, KNOWN_WINDOWS);
            Some((
                e.spec.id.clone(),
                w.into_iter().map(|w| KnownWindow { deploy_at: w.deploy_at, teardown_at: w.teardown_at }).collect(),
            ))
        })
        .collect();
    // Not waited for: the writer applies it before any later write.
    store.set_known_windows(windows).detach();
    definitions.set(Arc::new(events.iter().map(|e| (e.spec.id.clone(), e.clone())).collect()));
    sched.set_events(events);
}

/// Record the configuration errors `ottd status` shows (empty: none). The daemon goes on if
/// the state file refuses the write; the log has the errors anyway.
async fn record_config_errors(store: &Store, text: &str) {
    if let Err(e) = store.set_meta("daemon.config_errors", text).await {
        tracing::warn!("cannot record the configuration errors in the state file: {e}");
    }
}

/// The state file's upkeep, on a blocking thread (the main loop keeps its timers).
fn upkeep(store: &Arc<Store>, keep_step_log: Duration) {
    let store = store.clone();
    let keep = chrono::Duration::from_std(keep_step_log).unwrap_or(chrono::Duration::MAX);
    let before = chrono::Utc::now().checked_sub_signed(keep).unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
    // Chat confirmations and approvals expire within a day; their audit rows stay.
    let requests_before = chrono::Utc::now() - chrono::Duration::days(7);
    tokio::task::spawn_blocking(move || {
        let pruned = store
            .prune_step_log(before, actuator::LEAD_HISTORY)
            .wait()
            .and_then(|n| Ok(n + store.prune_audit(before).wait()?))
            .and_then(|n| Ok(n + store.prune_alerts(before).wait()?))
            .and_then(|n| Ok(n + store.requests_prune(requests_before).wait()?))
            .and_then(|n| Ok(n + store.sightings_prune(chrono::Utc::now()).wait()?))
            .and_then(|n| store.checkpoint().wait().map(|()| n));
        match pruned {
            Ok(n) => tracing::info!(pruned = n, "state file upkeep done"),
            Err(e) => tracing::warn!("state file upkeep failed: {e}"),
        }
    });
}

impl Daemon {
    /// One read of every event's phase: the phase gauge from it, and the stream watch told.
    fn read_phases(&self) {
        let phases = match self.store.phases() {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!("cannot read the events' phases (looking again at the next tick): {e}");
                return;
            }
        };
        for phase in Phase::ALL {
            let n = phases.iter().filter(|(_, p, _)| *p == phase).count();
            let n = i64::try_from(n).unwrap_or(i64::MAX);
            self.metrics.events_by_phase.get_or_create(&PhaseLabel { phase: phase.as_str().to_string() }).set(n);
        }
        self.phases.send_replace(Arc::new(phases));
    }
}
