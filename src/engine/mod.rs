//! The workflow engine: deploy, start, stop and tear down one event's workflow.
//!
//! Every caller (CLI, scheduler daemon, later alerts and chat) goes through [`Engine`]. Each
//! operation is a reconcile: it reads what the state file says, looks at AWS where an outcome
//! is unknown, and does only what is missing, so running it twice does nothing new and a run
//! killed at any instant resumes on the next. The state file is written before and after
//! every AWS create and delete (see `store`).
//!
//! Layout: [`dag`] runs steps concurrently in dependency order; [`deploy`] creates,
//! [`teardown`] removes, [`channel`] starts and stops, [`report`] answers status and links.

pub mod channel;
pub mod dag;
pub mod deploy;
pub mod lease;
pub mod live;
pub mod on_air;
pub mod report;
pub mod teardown;

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::aws::{Aws, AwsError};
use crate::config::Settings;
use crate::probe::fetch::HttpFetch;
use crate::probe::look::Fetch;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Aws(#[from] AwsError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("event `{0}` is not in any schedule file")]
    UnknownEvent(String),
    #[error("event `{0}` is not deployed")]
    NotDeployed(String),
    #[error("event `{event}` is being torn down; run `ottd teardown {event}` to finish before deploying again")]
    TearingDown { event: String },
    #[error("{what} did not become {want} within {after:?} (last state {last})")]
    Timeout { what: String, want: &'static str, after: Duration, last: String },
    #[error("{what} is in state {state}, which needs a human: {hint}")]
    BadState { what: String, state: String, hint: &'static str },
    #[error("no {0} role ARN: set roles.{0} in ottd.toml or run `ottd bootstrap`")]
    MissingRole(&'static str),
    #[error("refusing to delete {what}: its tags say deployment {found:?}, not {expected} of event {event}")]
    NotOurs { what: String, event: String, expected: String, found: Option<String> },
    #[error("{0} is still being disabled by CloudFront; run teardown again later to delete it")]
    Pending(String),
    #[error("the state file's plan for `{event}` is unreadable: {message}")]
    BadPlan { event: String, message: String },
    #[error("step {step} was not run because {failed} failed")]
    Skipped { step: String, failed: String },
    #[error("event `{event}` is busy: {doing} by {holder} (lease term {term}); try again when it is done")]
    Busy { event: String, holder: String, doing: String, term: u64 },
    #[error("lost the lease of `{event}` at term {term}: {doing} stopped, another ottd holds it now")]
    LeaseLost { event: String, term: u64, doing: String },
    #[error("`{event}` is RUNNING but its stream is not live after {}: {diagnosis}", humantime::format_duration(*after))]
    NotLive { event: String, after: Duration, diagnosis: String },
    #[error("the stream probe cannot run: {0}")]
    Probe(String),
    /// A live-control command refused by ottd's rules or by MediaLive: nothing was changed.
    #[error("{reason}")]
    LiveRefused { event: String, reason: String },
    /// A live-control command MediaLive did not answer: it may or may not be in the schedule;
    /// the next command on the event settles it.
    #[error("{reason}")]
    LiveUnanswered { event: String, reason: String },
    #[error("injected fault at {0}")]
    Injected(String),
}

impl EngineError {
    /// Teardown that only waits on CloudFront is progress, not failure.
    pub fn is_pending(&self) -> bool {
        matches!(self, EngineError::Pending(_))
    }
}

pub type Result<T> = std::result::Result<T, EngineError>;

/// What happened in one step, for the operator's progress lines and the daemon's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    Found,
    Exists,
    Deleted,
    Absent,
    Started,
    Stopped,
    Waiting,
    /// The stream is live at every hop.
    Live,
    Failed,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Created => "created",
            Outcome::Found => "found",
            Outcome::Exists => "exists",
            Outcome::Deleted => "deleted",
            Outcome::Absent => "absent",
            Outcome::Started => "started",
            Outcome::Stopped => "stopped",
            Outcome::Waiting => "waiting",
            Outcome::Live => "live",
            Outcome::Failed => "FAILED",
        }
    }
}

#[derive(Debug, Clone)]
pub struct StepLine {
    pub event: String,
    pub step: String,
    pub outcome: Outcome,
    pub detail: String,
    pub elapsed: Duration,
}

/// Where progress lines go: the CLI prints them, the daemon logs them.
pub trait Progress: Send + Sync {
    fn step(&self, line: &StepLine);
}

/// Progress through `tracing` (the daemon's sink).
pub struct TraceProgress;

impl Progress for TraceProgress {
    fn step(&self, l: &StepLine) {
        if l.outcome == Outcome::Failed {
            tracing::warn!(event = %l.event, step = %l.step, elapsed_ms = l.elapsed.as_millis() as u64, "{} {}", l.outcome.as_str(), l.detail);
        } else {
            tracing::info!(event = %l.event, step = %l.step, elapsed_ms = l.elapsed.as_millis() as u64, "{} {}", l.outcome.as_str(), l.detail);
        }
    }
}

/// Points at which a test may make the engine fail as if the process died there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultPoint<'a> {
    BeforeCreate(&'a str),
    /// The AWS create succeeded but its result is not yet in the state file.
    AfterCreate(&'a str),
    BeforeDelete(&'a str),
    /// The AWS delete succeeded but is not yet recorded.
    AfterDelete(&'a str),
}

/// Fault injection for resume tests; the default injects nothing.
pub trait Faults: Send + Sync {
    fn check(&self, point: FaultPoint<'_>) -> Result<()>;
}

pub struct NoFaults;

impl Faults for NoFaults {
    fn check(&self, _: FaultPoint<'_>) -> Result<()> {
        Ok(())
    }
}

pub struct Engine {
    pub aws: Aws,
    pub store: Arc<Store>,
    pub settings: Settings,
    progress: Arc<dyn Progress>,
    faults: Arc<dyn Faults>,
    watches: lease::Watches,
    /// The stream probe's HTTP client (none when it could not be built: `fetch_error` says why).
    fetch: Option<Arc<dyn Fetch>>,
    fetch_error: String,
}

impl Engine {
    pub fn new(aws: Aws, store: Arc<Store>, settings: Settings, progress: Arc<dyn Progress>) -> Engine {
        let (fetch, fetch_error) = match HttpFetch::new(&settings.probe) {
            Ok(f) => (Some(Arc::new(f) as Arc<dyn Fetch>), String::new()),
            Err(e) => (None, e.to_string()),
        };
        Engine {
            aws,
            store,
            settings,
            progress,
            faults: Arc::new(NoFaults),
            watches: lease::Watches::default(),
            fetch,
            fetch_error,
        }
    }

    /// The stream probe's fetcher (the daemon's watcher shares it).
    pub fn fetcher(&self) -> Option<Arc<dyn Fetch>> {
        self.fetch.clone()
    }

    pub fn with_faults(mut self, faults: Arc<dyn Faults>) -> Engine {
        self.faults = faults;
        self
    }

    pub(crate) fn report(
        &self,
        event: &str,
        step: &str,
        outcome: Outcome,
        detail: impl Into<String>,
        started: Instant,
    ) {
        self.progress.step(&StepLine {
            event: event.to_string(),
            step: step.to_string(),
            outcome,
            detail: detail.into(),
            elapsed: started.elapsed(),
        });
    }

    pub(crate) fn fault(&self, p: FaultPoint<'_>) -> Result<()> {
        self.faults.check(p)
    }

    /// Role ARNs from ottd.toml, else those `ottd bootstrap` recorded.
    pub fn medialive_role(&self) -> Result<String> {
        match &self.settings.medialive_role_arn {
            Some(a) => Ok(a.clone()),
            None => self.store.meta("roles.medialive")?.ok_or(EngineError::MissingRole("medialive")),
        }
    }

    pub fn mediapackage_role(&self) -> Result<String> {
        match &self.settings.mediapackage_role_arn {
            Some(a) => Ok(a.clone()),
            None => self.store.meta("roles.mediapackage")?.ok_or(EngineError::MissingRole("mediapackage")),
        }
    }

    /// Poll `probe` until `done` says so, backing off from 200 ms to `poll_interval`.
    pub(crate) async fn wait_until<F, Fut>(
        &self,
        event: &str,
        what: &str,
        want: &'static str,
        timeout: Duration,
        mut probe: F,
        done: impl Fn(&str) -> WaitVerdict,
    ) -> Result<String>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<String>>,
    {
        let started = Instant::now();
        let mut pause = Duration::from_millis(200).min(self.settings.engine.poll_interval);
        let mut reported = Instant::now();
        loop {
            let state = probe().await?;
            // On AWS a start takes minutes: say where it stands now and then.
            if reported.elapsed() >= PROGRESS_EVERY {
                reported = Instant::now();
                self.report(event, what, Outcome::Waiting, format!("{state}, waiting for {want}"), started);
            }
            match done(&state) {
                WaitVerdict::Done => return Ok(state),
                WaitVerdict::Fail(hint) => return Err(EngineError::BadState { what: what.to_string(), state, hint }),
                WaitVerdict::Wait => {}
            }
            if started.elapsed() >= timeout {
                return Err(EngineError::Timeout { what: what.to_string(), want, after: timeout, last: state });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(self.settings.engine.poll_interval);
        }
    }
}

/// How often a long wait prints a progress line.
const PROGRESS_EVERY: Duration = Duration::from_secs(15);

pub(crate) enum WaitVerdict {
    Done,
    Wait,
    Fail(&'static str),
}
