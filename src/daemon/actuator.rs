//! What the scheduler moves: the operations layer in production (as the `schedule` actor, or
//! the cost guard), a recorder in benchmarks. The scheduler never calls AWS; it asks an
//! [`Actuator`] for an event's recorded phase and override, and tells it which action to take.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::config::Resolved;
use crate::lifecycle::{Override, Phase};
use crate::metrics::{ErrorLabel, Metrics};
use crate::notify::{Level, Notice, Notifier};
use crate::ops::{Actor, Given, OpError, Operation, Ops};
use crate::schedule::phase::Action;
use crate::store::Store;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Recorded facts about one event that the scheduler's decisions need.
#[derive(Debug, Clone, Default)]
pub struct Actual {
    /// The phase the engine last recorded; `None` = never deployed.
    pub phase: Option<Phase>,
    /// Since when it has been in that phase.
    pub since: Option<DateTime<Utc>>,
}

/// Why the scheduler acts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Why {
    /// The schedule says so.
    Schedule,
    /// A channel running outside every window past `daemon.max_idle_running`.
    CostGuard,
    /// A channel running longer than the event's `max_runtime`.
    MaxRuntime,
}

/// What the scheduler read about an event: its recorded phase and its override.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub actual: Actual,
    pub ov: Option<Override>,
}

pub trait Actuator: Send + Sync + 'static {
    fn actual(&self, event: &str) -> Result<Actual, OpError>;
    fn override_of(&self, event: &str) -> Result<Option<Override>, OpError>;
    /// What many events' records say, read at once (a crowd at its boundary: two queries
    /// instead of two per event). `None`: read them one by one.
    fn read_many(&self, _events: &[&str]) -> Option<HashMap<String, Seen>> {
        None
    }
    /// Take `action`; `ov` is the override the decision was made on, read just now.
    fn act<'a>(
        &'a self,
        event: &'a Resolved,
        action: Action,
        why: Why,
        ov: Option<&'a Override>,
    ) -> BoxFuture<'a, Result<(), OpError>>;
}

/// What the state file says about an event, as the scheduler needs it (one narrow query).
pub fn recorded_actual(store: &Store, event: &str) -> Result<Actual, OpError> {
    let row = store.phase(event)?;
    Ok(Actual { phase: row.map(|(p, _)| p), since: row.map(|(_, s)| s) })
}

/// The event's operator override in the state file, if any.
pub fn recorded_override(store: &Store, event: &str) -> Result<Option<Override>, OpError> {
    Ok(store.override_of(event)?.map(|o| o.as_override()))
}

/// The operation an action is.
pub fn operation(event: &str, action: Action) -> Operation {
    let event = event.to_string();
    match action {
        Action::Deploy => Operation::Deploy { event },
        Action::Start => Operation::Start { event },
        Action::Stop => Operation::Stop { event },
        Action::Teardown => Operation::Teardown { event },
    }
}

/// The real thing: every action through the operations layer, audited like anyone's.
pub struct OpsActuator {
    ops: Arc<Ops>,
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

/// A lead time as the schedule file sets it, and how much of it the step may use.
#[derive(Debug, Clone, Copy)]
pub struct Lead {
    /// The key in the schedule file (`start_before`, `deploy_before`).
    pub key: &'static str,
    /// Its value.
    pub set: Duration,
    /// The time the step has: for a deploy, `deploy_before - start_before` (it must be done
    /// when the start begins).
    pub available: Duration,
}

/// Whether the lead covers the measured p95 plus the margin; the message says what to set
/// the key to (its value, not the gap it leaves).
pub fn lead_warning(step: &str, lead: Lead, p95: Duration) -> Option<String> {
    let need = p95.saturating_add(LEAD_MARGIN);
    (lead.available < need).then(|| {
        let suggest = lead.set.saturating_sub(lead.available).saturating_add(need);
        let leaves = if lead.available == lead.set {
            String::new()
        } else {
            format!(" leaves {} for the {step}, which", humantime::format_duration(lead.available))
        };
        format!(
            "{} = {}{leaves} is shorter than the measured p95 {step} time ({}) plus {}: set {} to at least {}",
            lead.key,
            humantime::format_duration(lead.set),
            humantime::format_duration(Duration::from_secs(p95.as_secs())),
            humantime::format_duration(LEAD_MARGIN),
            lead.key,
            humantime::format_duration(Duration::from_secs(suggest.as_secs().saturating_add(1))),
        )
    })
}

impl OpsActuator {
    pub fn new(ops: Arc<Ops>, metrics: Arc<Metrics>, notifier: Arc<dyn Notifier>) -> Self {
        OpsActuator { ops, metrics, notifier }
    }

    /// Adaptive lead time: after a measured deploy or start, warn when the event's lead time
    /// is shorter than what such steps really take.
    fn check_lead(&self, event: &Resolved, action: Action) {
        let Some(t) = event.spec.timing.as_ref().filter(|t| t.adaptive_lead) else { return };
        let (step, lead) = match action {
            Action::Start => ("start", Lead { key: "start_before", set: t.start_before, available: t.start_before }),
            Action::Deploy => (
                "deploy",
                Lead {
                    key: "deploy_before",
                    set: t.deploy_before,
                    available: t.deploy_before.saturating_sub(t.start_before),
                },
            ),
            _ => return,
        };
        let Ok(ms) = self.ops.store().step_durations(&event.spec.id, step, LEAD_HISTORY) else { return };
        if let Some(text) = p95(ms).and_then(|p| lead_warning(step, lead, p)) {
            self.notifier.notify(Notice {
                event: event.spec.id.clone(),
                level: Level::Warning,
                text,
                targets: event.spec.notify.clone(),
                buttons: Vec::new(),
            });
        }
    }
}

impl Actuator for OpsActuator {
    fn actual(&self, event: &str) -> Result<Actual, OpError> {
        recorded_actual(self.ops.store(), event)
    }

    fn override_of(&self, event: &str) -> Result<Option<Override>, OpError> {
        recorded_override(self.ops.store(), event)
    }

    fn read_many(&self, events: &[&str]) -> Option<HashMap<String, Seen>> {
        let store = self.ops.store();
        let (phases, overrides) = match (store.phases_of(events), store.overrides()) {
            (Ok(p), Ok(o)) => (p, o),
            _ => return None,
        };
        let mut seen: HashMap<String, Seen> = events.iter().map(|e| (e.to_string(), Seen::default())).collect();
        for (event, phase, since) in phases {
            if let Some(s) = seen.get_mut(&event) {
                s.actual = Actual { phase: Some(phase), since: Some(since) };
            }
        }
        for o in overrides {
            if let Some(s) = seen.get_mut(&o.event) {
                s.ov = Some(o.as_override());
            }
        }
        Some(seen)
    }

    fn act<'a>(
        &'a self,
        event: &'a Resolved,
        action: Action,
        why: Why,
        ov: Option<&'a Override>,
    ) -> BoxFuture<'a, Result<(), OpError>> {
        Box::pin(async move {
            let actor = match why {
                Why::Schedule => Actor::Schedule,
                Why::CostGuard => Actor::Guard { reason: "cost-guard".into() },
                Why::MaxRuntime => Actor::Guard { reason: "max-runtime".into() },
            };
            let known = Given { override_read: Some(ov.cloned()), ..Given::default() };
            match self.ops.execute_with(&actor, operation(&event.spec.id, action), known).await {
                Ok(reply) => {
                    self.check_lead(event, action);
                    if !self.first_to_tell(&event.spec.id).await {
                        return Ok(());
                    }
                    // What the run a stop or teardown ended cost, as its reply says.
                    let cost = reply.lines.iter().find(|l| crate::cost::report::is_run_cost(l));
                    let cost = cost.map(|l| format!("; {l}")).unwrap_or_default();
                    // One line per phase change the daemon made, for the event's channels.
                    self.notifier.notify(Notice {
                        event: event.spec.id.clone(),
                        level: Level::Info,
                        text: format!("{} ({actor}){cost}", phase_line(action)),
                        targets: event.spec.notify.clone(),
                        buttons: Vec::new(),
                    });
                    Ok(())
                }
                Err(e) => {
                    if let Some(op) = e.aws_operation {
                        self.metrics.aws_errors.get_or_create(&ErrorLabel { operation: op.to_string() }).inc();
                    }
                    Err(e)
                }
            }
        })
    }
}

impl OpsActuator {
    /// Whether this daemon is the one to tell people about the event's phase as it stands now.
    /// In a group every daemon's scheduler acts at a boundary; the one that waited for the
    /// lease finds the work done. Keyed by the phase and since when, so the change is told once
    /// whoever made it. A store error tells (twice is better than never).
    async fn first_to_tell(&self, event: &str) -> bool {
        let store = self.ops.store();
        let Ok(Some((phase, since))) = store.phase(event) else { return true };
        let key = format!("phase-notice:{event}:{}:{}", phase.as_str(), since.timestamp_millis());
        store.first_sighting(&key, chrono::Utc::now()).await.unwrap_or(true)
    }
}

/// What a phase change the daemon made is called in chat.
fn phase_line(action: Action) -> &'static str {
    match action {
        Action::Deploy => "deployed",
        Action::Start => "on air",
        Action::Stop => "stopped",
        Action::Teardown => "torn down",
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
        let start =
            |secs| Lead { key: "start_before", set: Duration::from_secs(secs), available: Duration::from_secs(secs) };
        assert!(lead_warning("start", start(300), p).is_none());
        let w = lead_warning("start", start(180), p).expect("warning");
        assert!(w.starts_with("start_before = 3m is shorter than the measured p95 start time (3m)"), "{w}");
        assert!(w.ends_with("set start_before to at least 4m 1s"), "{w}");
    }

    #[test]
    fn the_deploy_warning_names_deploy_before_and_suggests_a_value_for_it_not_for_the_gap() {
        // deploy_before 30m, start_before 10m: the deploy has 20m; it takes 25m at p95.
        let lead =
            Lead { key: "deploy_before", set: Duration::from_secs(30 * 60), available: Duration::from_secs(20 * 60) };
        let w = lead_warning("deploy", lead, Duration::from_secs(25 * 60)).expect("warning");
        assert!(w.starts_with("deploy_before = 30m leaves 20m for the deploy, which is shorter"), "{w}");
        // 10m of start lead + 25m deploy + 1m margin.
        assert!(w.ends_with("set deploy_before to at least 36m 1s"), "{w}");
    }
}
