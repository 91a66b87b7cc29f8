//! The seam between the operations layer and the AWS work: [`Workflows`]. Production uses
//! the engine ([`EngineWorkflows`], connected to AWS on first use); the operations layer's
//! tests use a recording stand-in over a temp state file.
//!
//! Progress lines go through a [`ProgressHub`]: always to the log, and to whoever asked for
//! the operation while it runs (the CLI's terminal, a chat message being edited).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::sync::OnceCell;

use crate::aws::{Aws, AwsError};
use crate::config::{Resolved, Settings};
use crate::engine::deploy::DeploySummary;
use crate::engine::live::{LiveContext, LiveDone, LiveListing};
use crate::engine::report::{EventStatus, Links};
use crate::engine::teardown::TeardownSummary;
use crate::engine::{Engine, Progress, StepLine, TraceProgress};
use crate::live::LiveCommand;
use crate::store::Store;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
type EngineResult<T> = crate::engine::Result<T>;

/// What the operations layer asks of the AWS side.
pub trait Workflows: Send + Sync {
    fn deploy<'a>(&'a self, event: &'a Resolved) -> BoxFuture<'a, EngineResult<DeploySummary>>;
    fn start<'a>(&'a self, event: &'a str) -> BoxFuture<'a, EngineResult<()>>;
    fn stop<'a>(&'a self, event: &'a str) -> BoxFuture<'a, EngineResult<()>>;
    fn teardown<'a>(&'a self, event: &'a str) -> BoxFuture<'a, EngineResult<TeardownSummary>>;
    fn restart_pipeline<'a>(&'a self, event: &'a str, pipeline: u8) -> BoxFuture<'a, EngineResult<()>>;
    /// The channel's state as AWS reports it now (`None`: the event has no channel).
    fn live_state<'a>(&'a self, event: &'a str) -> BoxFuture<'a, EngineResult<Option<String>>>;
    /// The event's status; the live channel state from AWS too.
    fn status<'a>(&'a self, event: &'a str) -> BoxFuture<'a, EngineResult<EventStatus>>;
    fn links<'a>(&'a self, event: &'a str) -> BoxFuture<'a, EngineResult<Links>>;
    /// A live-control command that writes the channel's schedule (break, back, slate, switch).
    fn live<'a>(&'a self, cmd: &'a LiveCommand, ctx: &'a LiveContext) -> BoxFuture<'a, EngineResult<LiveDone>>;
    /// What the event's channel schedule holds, and each pipeline's active input.
    fn schedule_actions<'a>(&'a self, event: &'a str) -> BoxFuture<'a, EngineResult<LiveListing>>;
    /// The one-time AWS set-up: the IAM service roles, and the alert plumbing (`None` when
    /// alerts are off).
    fn bootstrap(&self) -> BoxFuture<'_, Result<Bootstrapped, AwsError>>;
}

pub use crate::aws::Bootstrapped;

/// Progress lines to the log and to the current caller of each event's operation.
pub struct ProgressHub {
    base: Arc<dyn Progress>,
    callers: Mutex<HashMap<String, Arc<dyn Progress>>>,
}

impl ProgressHub {
    pub fn new(base: Arc<dyn Progress>) -> Arc<ProgressHub> {
        Arc::new(ProgressHub { base, callers: Mutex::default() })
    }

    /// Send `event`'s lines to `sink` until the returned guard drops (the operation ends).
    pub fn follow(self: &Arc<Self>, event: &str, sink: Arc<dyn Progress>) -> Following {
        self.callers.lock().unwrap_or_else(|p| p.into_inner()).insert(event.to_string(), sink);
        Following { hub: self.clone(), event: event.to_string() }
    }
}

impl Progress for ProgressHub {
    fn step(&self, line: &StepLine) {
        self.base.step(line);
        let sink = self.callers.lock().unwrap_or_else(|p| p.into_inner()).get(&line.event).cloned();
        if let Some(s) = sink {
            s.step(line);
        }
    }
}

pub struct Following {
    hub: Arc<ProgressHub>,
    event: String,
}

impl Drop for Following {
    fn drop(&mut self) {
        self.hub.callers.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.event);
    }
}

/// The real thing: the workflow engine, connected to AWS on its first use (a daemon whose
/// events are on demand or days away never loads the SDK: about 12 MB).
pub struct EngineWorkflows {
    store: Arc<Store>,
    settings: Settings,
    progress: Arc<ProgressHub>,
    engine: OnceCell<Arc<Engine>>,
}

impl EngineWorkflows {
    pub fn new(store: Arc<Store>, settings: Settings, progress: Arc<ProgressHub>) -> EngineWorkflows {
        EngineWorkflows { store, settings, progress, engine: OnceCell::new() }
    }

    /// A hub that logs through `tracing` (the daemon's and the CLI's base sink).
    pub fn traced_hub() -> Arc<ProgressHub> {
        ProgressHub::new(Arc::new(TraceProgress))
    }

    pub async fn engine(&self) -> &Arc<Engine> {
        self.engine
            .get_or_init(|| async {
                tracing::info!("connecting to AWS");
                let aws = Aws::connect(&self.settings).await;
                let progress: Arc<dyn Progress> = self.progress.clone();
                Arc::new(Engine::new(aws, self.store.clone(), self.settings.clone(), progress))
            })
            .await
    }
}

impl Workflows for EngineWorkflows {
    fn deploy<'a>(&'a self, event: &'a Resolved) -> BoxFuture<'a, EngineResult<DeploySummary>> {
        Box::pin(async move { self.engine().await.deploy(event).await })
    }
    fn start<'a>(&'a self, event: &'a str) -> BoxFuture<'a, EngineResult<()>> {
        Box::pin(async move { self.engine().await.start(event).await })
    }
    fn stop<'a>(&'a self, event: &'a str) -> BoxFuture<'a, EngineResult<()>> {
        Box::pin(async move { self.engine().await.stop(event).await })
    }
    fn teardown<'a>(&'a self, event: &'a str) -> BoxFuture<'a, EngineResult<TeardownSummary>> {
        Box::pin(async move { self.engine().await.teardown(event).await })
    }
    fn restart_pipeline<'a>(&'a self, event: &'a str, pipeline: u8) -> BoxFuture<'a, EngineResult<()>> {
        Box::pin(async move { self.engine().await.restart_pipeline(event, pipeline).await })
    }
    fn live_state<'a>(&'a self, event: &'a str) -> BoxFuture<'a, EngineResult<Option<String>>> {
        Box::pin(async move {
            let engine = self.engine().await;
            match engine.channel_id(event) {
                Ok(id) => engine.channel_state(&id).await.map(Some),
                Err(crate::engine::EngineError::NotDeployed(_)) => Ok(None),
                Err(e) => Err(e),
            }
        })
    }
    fn status<'a>(&'a self, event: &'a str) -> BoxFuture<'a, EngineResult<EventStatus>> {
        Box::pin(async move { self.engine().await.status(event, true).await })
    }
    fn links<'a>(&'a self, event: &'a str) -> BoxFuture<'a, EngineResult<Links>> {
        Box::pin(async move { self.engine().await.links(event) })
    }
    fn live<'a>(&'a self, cmd: &'a LiveCommand, ctx: &'a LiveContext) -> BoxFuture<'a, EngineResult<LiveDone>> {
        Box::pin(async move { self.engine().await.live(cmd, ctx).await })
    }
    fn schedule_actions<'a>(&'a self, event: &'a str) -> BoxFuture<'a, EngineResult<LiveListing>> {
        Box::pin(async move { self.engine().await.schedule_actions(event).await })
    }
    fn bootstrap(&self) -> BoxFuture<'_, Result<Bootstrapped, AwsError>> {
        Box::pin(async move { self.engine().await.aws.bootstrap(&self.settings.prefix, &self.settings.alerts).await })
    }
}
