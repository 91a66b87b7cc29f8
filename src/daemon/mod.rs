//! `ottd run`: the scheduler daemon. Wiring, signals, hot reload and shutdown; the decisions
//! live in `schedule::phase`, the reconcile loop in [`scheduler`], the AWS work in the engine.
//!
//! One `select!` loop owns the process: timer wake-ups, file changes and operator overrides
//! (polled every second), SIGHUP → reload, SIGTERM/SIGINT → shutdown (a second one exits at
//! once), the resync tick, the cron jobs ([`housekeeping`]) and the systemd watchdog.

pub mod actuator;
pub mod housekeeping;
pub mod scheduler;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::signal::unix::{signal, SignalKind};

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

/// The files whose change means a reload: ottd.toml, schedules, profiles, workflows in use.
fn fingerprint(catalog: Option<&Catalog>, config: &Path) -> Vec<(PathBuf, Option<SystemTime>, u64)> {
    let mut paths = vec![config.to_path_buf()];
    if let Ok(settings) = crate::config::Settings::load(config) {
        for dir in [&settings.schedules_dir, &settings.profiles_dir] {
            if let Ok(rd) = std::fs::read_dir(dir) {
                paths.extend(rd.filter_map(|e| e.ok().map(|e| e.path())));
            }
            paths.push(dir.clone());
        }
        paths.push(settings.default_workflow.clone());
    }
    if let Some(c) = catalog {
        paths.extend(c.events.iter().filter_map(|e| e.spec.workflow.clone()));
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

pub async fn run(opts: Options) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    // Signals first, so a SIGHUP during start-up is not fatal.
    let mut hup = signal(SignalKind::hangup()).map_err(DaemonError::Signals)?;
    let mut term = signal(SignalKind::terminate()).map_err(DaemonError::Signals)?;
    let mut int = signal(SignalKind::interrupt()).map_err(DaemonError::Signals)?;

    let catalog = load(&opts).map_err(DaemonError::Config)?;
    let settings = catalog.settings.clone();
    let store = Arc::new(Store::open(&settings.state_path)?);
    let metrics = Arc::new(Metrics::new());
    // Alerts: the queue and topic `ottd bootstrap` made, if it did and alerts are on. Reading
    // them needs AWS from the start; without them the daemon connects on its first action.
    let plumbing = match (settings.alerts.enabled, store.meta("alerts.queue_url")?, store.meta("alerts.topic_arn")?) {
        (true, Some(queue), topic) => Some((queue, topic)),
        _ => None,
    };
    let aws_conf = match &plumbing {
        Some(_) => Some(crate::aws::Aws::loader(&settings).load().await),
        None => {
            tracing::info!("alerts: off (no queue: run `ottd bootstrap` with [alerts] enabled)");
            None
        }
    };
    let chat_secrets = crate::chat::Chat::secrets(&settings.chat)?;
    let mut sinks: Vec<Arc<dyn crate::notify::Notifier>> = vec![Arc::new(LogNotifier)];
    if let (Some(conf), Some(topic)) = (&aws_conf, plumbing.as_ref().and_then(|p| p.1.clone())) {
        sinks.push(Arc::new(crate::notify::SnsNotifier::start(aws_sdk_sns::Client::new(conf), topic)));
    }
    let chat_clients = crate::chat::Clients::new(&settings.chat, &chat_secrets);
    if let Some(chat) = crate::chat::Chat::notifier(&chat_clients) {
        sinks.push(Arc::new(chat));
    }
    let notifier: Arc<dyn crate::notify::Notifier> = Arc::new(crate::notify::Fanout(sinks));
    let clock = Arc::new(SystemClock);
    let definitions = Arc::new(InForce::new(settings.clone(), opts.state.clone()));
    let hub = EngineWorkflows::traced_hub();
    let workflows = Arc::new(EngineWorkflows::new(store.clone(), settings.clone(), hub.clone()));
    let ops = Arc::new(Ops::new(store.clone(), workflows, definitions.clone(), clock.clone()).with_progress(hub));
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
            crate::alerts::sns_push::SnsPush::new(c, store.clone(), alerts_tx.clone()).map_err(DaemonError::SnsPush)?,
        )),
        _ => None,
    };
    let http_state = Arc::new(HttpState { metrics: metrics.clone(), ready: Default::default(), sns: sns.clone() });
    let listener = tokio::net::TcpListener::bind(settings.daemon.listen)
        .await
        .map_err(|source| DaemonError::Listen { addr: settings.daemon.listen, source })?;
    let local = listener.local_addr().map_err(|source| DaemonError::Listen { addr: settings.daemon.listen, source })?;
    let shutdown = tokio_util::sync::CancellationToken::new();
    let http_shutdown = shutdown.clone();
    let chat = crate::chat::Chat::start(
        &settings.chat,
        &chat_secrets,
        &chat_clients,
        ops.clone(),
        definitions.clone(),
        clock.clone(),
        shutdown.clone(),
    )?;
    let chat_desk = chat.desk.clone();
    let app = http::app(http_state.clone()).merge(chat.routes);
    let server = tokio::spawn(async move {
        let r = axum::serve(listener, app).with_graceful_shutdown(async move { http_shutdown.cancelled().await }).await;
        if let Err(e) = r {
            tracing::error!("HTTP server failed: {e}");
        }
    });
    store.set_meta("daemon.config_errors", "").await?;
    put_in_force(&sched, &definitions, &store, catalog.events.clone());
    // Ready once every event has been decided: its timer filed or its first action begun.
    {
        let (sched, http_state, events) = (sched.clone(), http_state.clone(), catalog.events.len());
        tokio::spawn(async move {
            sched.ready().await;
            http_state.ready.store(true, Ordering::SeqCst);
            tracing::info!(listen = %local, events, ready_ms = started.elapsed().as_millis() as u64, "ottd daemon ready");
            let _ = sd_notify::notify(&[sd_notify::NotifyState::Ready]);
        });
    }
    // Ping at half the interval systemd gives, from the main loop, so a stuck loop is noticed.
    let watchdog = sd_notify::watchdog_enabled().map(|d| d / 2);

    let mut catalog = catalog;
    let mut files = fingerprint(Some(&catalog), &opts.config);
    let mut seen_overrides = store.overrides()?;
    let mut poll = tokio::time::interval(Duration::from_secs(1));
    let mut resync = tokio::time::interval(settings.daemon.resync_interval);
    let mut chores = Housekeeping::start(&settings.daemon.upkeep).await?;
    if let (Some(conf), Some((queue_url, _))) = (&aws_conf, &plumbing) {
        let intake = Arc::new(crate::alerts::intake::Intake {
            sqs: aws_sdk_sqs::Client::new(conf),
            queue_url: queue_url.clone(),
            store: store.clone(),
            changed: alerts_tx.clone(),
        });
        tracing::info!(queue = %queue_url, "alerts: reading MediaLive events from SQS");
        tokio::spawn(intake.run(shutdown.clone()));
    }
    if plumbing.is_some() || sns.is_some() {
        let runner = Arc::new(crate::alerts::runner::Runner::new(
            ops.clone(),
            definitions.clone(),
            settings.alerts.policies.clone(),
            notifier.clone(),
            clock.clone(),
            settings.daemon.resync_interval,
        ));
        if sns.is_some() {
            tracing::info!("alerts: taking SNS deliveries on POST /sns");
        }
        tokio::spawn(runner.run(alerts_rx, shutdown.clone()));
    }
    drop(alerts_tx);
    let mut dog = tokio::time::interval(watchdog.unwrap_or(Duration::from_secs(3600)));
    loop {
        let control = tokio::select! {
            // Timer wake-ups: never returns, cancel-safe.
            _ = sched.drive() => None,
            _ = hup.recv() => Some(Control::Reload),
            _ = term.recv() => Some(Control::Shutdown),
            _ = int.recv() => Some(Control::Shutdown),
            _ = resync.tick() => { sched.reconcile_all(); None }
            Some(chore) = chores.next() => {
                match chore {
                    Chore::Upkeep => upkeep(&store, settings.daemon.keep_step_log),
                }
                None
            }
            _ = dog.tick() => { if watchdog.is_some() { let _ = sd_notify::notify(&[sd_notify::NotifyState::Watchdog]); } None }
            _ = poll.tick() => {
                let now_files = fingerprint(Some(&catalog), &opts.config);
                // A state file busy or failing for a moment must not stop the daemon: the
                // next poll tries again.
                match store.overrides() {
                    Ok(overrides) if overrides != seen_overrides => {
                        for o in overrides.iter().chain(seen_overrides.iter()) {
                            sched.reconcile(&o.event, None);
                        }
                        seen_overrides = overrides;
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!("cannot read operator overrides from the state file: {e}"),
                }
                update_phase_gauge(&metrics, &store);
                if now_files != files { files = now_files; Some(Control::Reload) } else { None }
            }
        };
        match control {
            None => {}
            Some(Control::Reload) => {
                match load(&opts) {
                    Ok(new) => {
                        let events = merge_retained(&new, &sched.events(), &store);
                        tracing::info!(events = events.len(), "configuration reloaded");
                        metrics
                            .reloads
                            .get_or_create(&ActionLabel { action: "reload".into(), outcome: "ok".into() })
                            .inc();
                        record_config_errors(&store, "");
                        definitions.set_problems(None);
                        put_in_force(&sched, &definitions, &store, events);
                        // Chat grants and approval rules apply at once; adapters and secrets
                        // at the next start.
                        chat_desk.set_settings(new.settings.chat.clone());
                        catalog = new;
                    }
                    Err(diags) => {
                        for d in &diags.0 {
                            tracing::error!("{d}");
                        }
                        tracing::error!("configuration NOT reloaded: the last good configuration stays in force");
                        metrics
                            .reloads
                            .get_or_create(&ActionLabel { action: "reload".into(), outcome: "error".into() })
                            .inc();
                        record_config_errors(&store, &diags.to_string());
                        definitions.set_problems(Some(diags.to_string()));
                    }
                }
                files = fingerprint(Some(&catalog), &opts.config);
            }
            Some(Control::Shutdown) => break,
        }
    }
    tracing::info!("shutting down: waiting for in-flight steps");
    let _ = sd_notify::notify(&[sd_notify::NotifyState::Stopping]);
    shutdown.cancel();
    let drained = tokio::select! {
        d = sched.drain(Duration::from_secs(30)) => d,
        _ = term.recv() => false,
        _ = int.recv() => false,
    };
    if !drained {
        tracing::warn!("stopped before in-flight steps finished; the next start resumes them from the state file");
    }
    chores.stop().await;
    // Queued writes (audit rows nobody waited for) reach the state file before the exit.
    if let Err(e) = store.flush().await {
        tracing::warn!("state file writes may be lost: {e}");
    }
    // Open HTTP connections get a moment to finish; then the listener goes regardless.
    if tokio::time::timeout(HTTP_DRAIN, server).await.is_err() {
        tracing::warn!("HTTP connections still open after {}s; closing them", HTTP_DRAIN.as_secs());
    }
    Ok(())
}

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
fn record_config_errors(store: &Store, text: &str) {
    if let Err(e) = store.set_meta("daemon.config_errors", text).wait() {
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

fn update_phase_gauge(metrics: &Metrics, store: &Store) {
    let Ok(counts) = store.phase_counts() else { return };
    for phase in Phase::ALL {
        let n = counts.iter().find(|(p, _)| *p == phase).map_or(0, |(_, n)| *n as i64);
        metrics.events_by_phase.get_or_create(&PhaseLabel { phase: phase.as_str().to_string() }).set(n);
    }
}
