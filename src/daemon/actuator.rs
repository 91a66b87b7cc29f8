//! What the scheduler moves: the engine in production, a recorder in benchmarks. The scheduler
//! never calls AWS; it asks an [`Actuator`] for an event's recorded phase and overrides, and
//! tells it which engine action to take.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::config::Resolved;
use crate::engine::Engine;
use crate::schedule::phase::{Action, Override, OverrideKind};
use crate::store::{Phase, StoredOverride};

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

/// The real thing: the workflow engine and its state file.
pub struct EngineActuator(pub Arc<Engine>);

impl Actuator for EngineActuator {
    fn actual(&self, event: &str) -> Result<Actual, String> {
        let d = self.0.store.deployment(event).map_err(|e| e.to_string())?;
        Ok(Actual { phase: d.as_ref().map(|d| d.phase), since: d.map(|d| d.phase_since) })
    }

    fn override_of(&self, event: &str) -> Result<Option<Override>, String> {
        let all = self.0.store.overrides().map_err(|e| e.to_string())?;
        Ok(all.iter().find(|o| o.event == event).and_then(parse_override))
    }

    fn set_override(&self, event: &str, kind: OverrideKind, until: Option<DateTime<Utc>>) -> Result<(), String> {
        let o = StoredOverride {
            event: event.to_string(),
            kind: override_kind_str(kind).to_string(),
            set_at: Utc::now(),
            until,
            by: "daemon".to_string(),
        };
        self.0.store.set_override(&o).map_err(|e| e.to_string())
    }

    fn act<'a>(&'a self, event: &'a Resolved, action: Action) -> BoxFuture<'a, Result<(), String>> {
        Box::pin(async move {
            let id = &event.spec.id;
            let r = match action {
                Action::Deploy => self.0.deploy(event).await.map(|_| ()),
                Action::Start => self.0.start(id).await,
                Action::Stop => self.0.stop(id).await,
                Action::Teardown => self.0.teardown(id).await.map(|_| ()),
            };
            r.map_err(|e| e.to_string())
        })
    }
}
