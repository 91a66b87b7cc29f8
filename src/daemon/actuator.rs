//! What the scheduler moves: the engine in production, a recorder in benchmarks. The scheduler
//! never calls AWS; it asks an [`Actuator`] for an event's recorded phase and overrides, and
//! tells it which engine action to take.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;

use crate::aws::Aws;
use crate::config::{Resolved, Settings};
use crate::engine::{Engine, EngineError, TraceProgress};
use crate::metrics::{ErrorLabel, Metrics};
use crate::notify::{Level, Notice, Notifier};
use crate::schedule::phase::{Action, Override, OverrideKind};
use crate::store::{Phase, Store, StoredOverride};

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Recorded facts about one event that the scheduler's decisions need.
#[derive(Debug, Clone, Default)]
pub struct Actual {
    /// The phase the engine last recorded; `None` = never deployed.
    pub phase: Option<Phase>,
    /// Since when it has been in that phase.
    pub since: Option<DateTime<Utc>>,
}

pub trait Actuator: Send + Sync + 'static {
    fn actual(&self, event: &str) -> Result<Actual, String>;
    fn override_of(&self, event: &str) -> Result<Option<Override>, String>;
    /// Record an override the daemon itself sets (the cost guard's stop).
    fn set_override(&self, event: &str, kind: OverrideKind, until: Option<DateTime<Utc>>) -> Result<(), String>;
    fn act<'a>(&'a self, event: &'a Resolved, action: Action) -> BoxFuture<'a, Result<(), String>>;
}

pub fn parse_override(o: &StoredOverride) -> Option<Override> {
    let kind = match o.kind.as_str() {
        "hold" => OverrideKind::Hold,
        "start" => OverrideKind::Start,
        "stop" => OverrideKind::Stop,
        "teardown" => OverrideKind::Teardown,
        "deploy" => OverrideKind::Deploy,
        _ => return None,
    };
    Some(Override { kind, set_at: o.set_at, until: o.until })
}

pub fn override_kind_str(k: OverrideKind) -> &'static str {
    match k {
        OverrideKind::Hold => "hold",
        OverrideKind::Start => "start",
        OverrideKind::Stop => "stop",
        OverrideKind::Teardown => "teardown",
        OverrideKind::Deploy => "deploy",
    }
}

/// What the state file says about an event, as the scheduler needs it (one narrow query).
pub fn recorded_actual(store: &Store, event: &str) -> Result<Actual, String> {
    let row = store.phase(event).map_err(|e| e.to_string())?;
    Ok(Actual { phase: row.map(|(p, _)| p), since: row.map(|(_, s)| s) })
}

/// The event's operator override in the state file, if any.
pub fn recorded_override(store: &Store, event: &str) -> Result<Option<Override>, String> {
    Ok(store.override_of(event).map_err(|e| e.to_string())?.as_ref().and_then(parse_override))
}

/// The real thing: the workflow engine and its state file.
///
/// The engine, and with it the AWS SDK, is set up on the first action: a daemon whose events
/// are on demand or days away neither loads the SDK's configuration nor carries its clients
/// (about 12 MB of memory) until there is work for AWS.
pub struct EngineActuator {
    store: Arc<Store>,
    settings: Settings,
    engine: OnceCell<Arc<Engine>>,
    metrics: Arc<Metrics>,
    notifier: Arc<dyn Notifier>,
}

/// How many of an event's latest measured runs of a step the adaptive lead-time check reads
/// (the state file's upkeep keeps them, whatever their age).
pub const LEAD_HISTORY: usize = 20;
/// Measured runs needed before the adaptive lead-time check speaks.
const LEAD_SAMPLES: usize = 3;
/// Margin added to the measured p95 before a lead time counts as long enough.
const LEAD_MARGIN: Duration = Duration::from_secs(60);

/// The 95th percentile of some durations (ms), `None` with too few samples.
pub fn p95(mut ms: Vec<u64>) -> Option<Duration> {
    if ms.len() < LEAD_SAMPLES {
        return None;
    }
    ms.sort_unstable();
    let i = ((ms.len() as f64) * 0.95).ceil() as usize;
    ms.get(i.saturating_sub(1).min(ms.len() - 1)).map(|v| Duration::from_millis(*v))
}

/// Whether `lead` covers the measured p95 plus the margin; the message says what to set.
pub fn lead_warning(step: &str, key: &str, lead: Duration, p95: Duration) -> Option<String> {
    let need = p95 + LEAD_MARGIN;
    (lead < need).then(|| {
        format!(
            "{key} = {} is shorter than the measured p95 {step} time ({}) plus {}: set {key} to at least {}",
            humantime::format_duration(lead),
            humantime::format_duration(Duration::from_secs(p95.as_secs())),
            humantime::format_duration(LEAD_MARGIN),
            humantime::format_duration(Duration::from_secs(need.as_secs() + 1)),
        )
    })
}

impl EngineActuator {
    pub fn new(store: Arc<Store>, settings: Settings, metrics: Arc<Metrics>, notifier: Arc<dyn Notifier>) -> Self {
        EngineActuator { store, settings, engine: OnceCell::new(), metrics, notifier }
    }

    /// The engine, connected to AWS on first use.
    pub async fn engine(&self) -> &Arc<Engine> {
        self.engine
            .get_or_init(|| async {
                tracing::info!("connecting to AWS");
                let aws = Aws::connect(&self.settings).await;
                Arc::new(Engine::new(aws, self.store.clone(), self.settings.clone(), Arc::new(TraceProgress)))
            })
            .await
    }

    /// Adaptive lead time: after a measured deploy or start, warn when the event's lead time
    /// is shorter than what such steps really take.
    fn check_lead(&self, event: &Resolved, action: Action) {
        let Some(t) = event.spec.timing.as_ref().filter(|t| t.adaptive_lead) else { return };
        let (step, key, lead) = match action {
            Action::Start => ("start", "start_before", t.start_before),
            Action::Deploy => ("deploy", "deploy_before", t.deploy_before.saturating_sub(t.start_before)),
            _ => return,
        };
        let Ok(ms) = self.store.step_durations(&event.spec.id, step, LEAD_HISTORY) else { return };
        if let Some(text) = p95(ms).and_then(|p| lead_warning(step, key, lead, p)) {
            self.notifier.notify(Notice {
                event: event.spec.id.clone(),
                level: Level::Warning,
                text,
                targets: event.spec.notify.clone(),
            });
        }
    }
}

impl Actuator for EngineActuator {
    fn actual(&self, event: &str) -> Result<Actual, String> {
        recorded_actual(&self.store, event)
    }

    fn override_of(&self, event: &str) -> Result<Option<Override>, String> {
        recorded_override(&self.store, event)
    }

    fn set_override(&self, event: &str, kind: OverrideKind, until: Option<DateTime<Utc>>) -> Result<(), String> {
        let o = StoredOverride {
            event: event.to_string(),
            kind: override_kind_str(kind).to_string(),
            set_at: Utc::now(),
            until,
            by: "daemon".to_string(),
        };
        self.store.set_override(&o).map_err(|e| e.to_string())
    }

    fn act<'a>(&'a self, event: &'a Resolved, action: Action) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let id = &event.spec.id;
            let engine = self.engine().await;
            let r = match action {
                Action::Deploy => engine.deploy(event).await.map(|_| ()),
                Action::Start => engine.start(id).await,
                Action::Stop => engine.stop(id).await,
                Action::Teardown => engine.teardown(id).await.map(|_| ()),
            };
            match r {
                Ok(()) => {
                    self.check_lead(event, action);
                    Ok(())
                }
                Err(e) => {
                    if let EngineError::Aws(a) = &e {
                        self.metrics.aws_errors.get_or_create(&ErrorLabel { operation: a.op.to_string() }).inc();
                    }
                    Err(e.to_string())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lead_time_check_needs_samples_and_warns_below_p95_plus_margin() {
        assert_eq!(p95(vec![1_000, 2_000]), None);
        let p = p95(vec![100_000, 120_000, 90_000, 180_000]).expect("p95");
        assert_eq!(p, Duration::from_secs(180));
        assert!(lead_warning("start", "start_before", Duration::from_secs(300), p).is_none());
        let w = lead_warning("start", "start_before", Duration::from_secs(180), p).expect("warning");
        assert!(w.starts_with("start_before = 3m is shorter than the measured p95 start time (3m)"), "{w}");
        assert!(w.ends_with("set start_before to at least 4m 1s"), "{w}");
    }
}
