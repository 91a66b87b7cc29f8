//! The operations layer: the one path every actor takes to act on events. The CLI, the
//! scheduler, recovery and chat users all call [`Ops::execute`] with an [`Actor`] and an
//! [`Operation`]; it decides whether the operation is allowed now ([`policy`]), records the
//! operator override a person's action on a timed event implies, queues the action behind any
//! other on the same event ([`worker`]), writes the audit row, calls the engine through
//! [`Workflows`], and answers a [`Reply`] each front end renders its own way. Errors come back
//! classified ([`ErrorKind`]) so callers know whether to retry, wait or call a human.
//!
//! It owns command semantics; it may not render text for a particular front end beyond the
//! reply's plain lines, and it never calls AWS itself.

pub mod actor;
mod cost;
pub mod definitions;
pub mod error;
pub mod operation;
pub mod policy;
pub mod reply;
pub mod worker;
pub mod workflows;

#[cfg(test)]
pub(crate) mod tests;

use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio_util::task::TaskTracker;
use tracing::Instrument;

/// Progress is part of the reply model front ends see (a line per engine step, then the
/// [`Reply`]); the engine defines it because it emits it, and front ends take it from here so
/// that none of them depends on the engine.
pub use crate::engine::{Progress, StepLine};
pub use actor::{Actor, Platform};
pub use definitions::{Definitions, Files, InForce};
pub use error::{ErrorKind, OpError};
pub use operation::Operation;
pub use reply::{Outcome, Reply};
pub use workflows::{EngineWorkflows, ProgressHub, Workflows};

use crate::clock::Clock;
use crate::engine::live::LiveContext;
use crate::engine::EngineError;
use crate::lifecycle::{Override, OverrideKind, Phase};
use crate::plan::Plan;
use crate::store::{AuditEnd, AuditEntry, Store, StoredOverride};
use policy::Known;
use worker::{Admission, Doing, Workers};

/// Where `ottd bootstrap` records the default slate image's URI (MediaLive reads it from S3).
pub const SLATE_DEFAULT_KEY: &str = "slate.default_uri";

/// How many audit rows `audit` shows at most.
pub const AUDIT_LIMIT: usize = 500;

type Changed = Arc<dyn Fn(&str) + Send + Sync>;

/// What the caller of an operation brings besides the operation.
#[derive(Default)]
pub struct Given {
    /// Where the engine's progress lines for the event go while it runs.
    pub progress: Option<Arc<dyn Progress>>,
    /// The event's override as the caller read it just now (the scheduler decides on it):
    /// spares a second read on a crowded boundary.
    pub override_read: Option<Option<Override>>,
    /// Why the actor asks (recovery: which alert), kept in the audit row's arguments.
    pub why: Option<String>,
    /// Where a chat command was asked (`slack:C0123`), kept in the audit row's arguments.
    pub channel: Option<String>,
}

pub struct Ops {
    store: Arc<Store>,
    workflows: Arc<dyn Workflows>,
    definitions: Arc<dyn Definitions>,
    clock: Arc<dyn Clock>,
    /// Where a caller's progress sink is attached while its operation runs.
    progress: Option<Arc<ProgressHub>>,
    workers: Workers,
    /// Told when an event's override changed, so an in-process scheduler looks again now.
    changed: Mutex<Option<Changed>>,
    /// Every task that works on the daemon's behalf (recovery passes, chat commands, the alert
    /// intake): shutdown closes it and waits for them, with a cap. Notifiers deliver on a
    /// tracker of their own, drained after this one.
    tasks: TaskTracker,
    /// Where links to the preview page start (the daemon: its public URL or the address it
    /// listens on; none: `[daemon]` of the configuration says).
    preview_base: Option<String>,
}

impl Ops {
    pub fn new(
        store: Arc<Store>,
        workflows: Arc<dyn Workflows>,
        definitions: Arc<dyn Definitions>,
        clock: Arc<dyn Clock>,
    ) -> Ops {
        Ops {
            store,
            workflows,
            definitions,
            clock,
            progress: None,
            workers: Workers::default(),
            changed: Mutex::default(),
            tasks: TaskTracker::new(),
            preview_base: None,
        }
    }

    /// Links to the preview page start with `base` (no trailing slash).
    pub fn with_preview_base(mut self, base: String) -> Ops {
        self.preview_base = Some(base);
        self
    }

    pub fn with_progress(mut self, hub: Arc<ProgressHub>) -> Ops {
        self.progress = Some(hub);
        self
    }

    /// Call `f(event)` whenever an operation changes an event's override.
    pub fn on_override_change(&self, f: impl Fn(&str) + Send + Sync + 'static) {
        *self.changed.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::new(f));
    }

    /// Where the daemon's background work is spawned, so shutdown can wait for it.
    pub fn tasks(&self) -> &TaskTracker {
        &self.tasks
    }

    pub fn store(&self) -> &Arc<Store> {
        &self.store
    }

    /// The event's channel state as AWS reports it now (a read: not audited).
    pub async fn live_state(&self, event: &str) -> Result<Option<String>, OpError> {
        Ok(self.workflows.live_state(event).await?)
    }

    /// What the event's channel schedule holds and where each pipeline is, read now (a read of
    /// AWS outside any lease, for recovery's own decisions).
    pub async fn schedule_of(&self, event: &str) -> Result<crate::engine::live::LiveListing, OpError> {
        Ok(self.workflows.schedule_actions(event).await?)
    }

    /// What `event`'s worker in this process is doing now, if anything.
    pub fn doing(&self, event: &str) -> Option<Doing> {
        self.workers.doing(event)
    }

    /// Run `op` for `actor`: the one entry point. `sink` receives the engine's progress lines
    /// for the event while the operation runs.
    pub async fn execute(
        &self,
        actor: &Actor,
        op: Operation,
        sink: Option<Arc<dyn Progress>>,
    ) -> Result<Reply, OpError> {
        self.execute_with(actor, op, Given { progress: sink, ..Given::default() }).await
    }

    /// [`Ops::execute`] with what the caller already knows.
    pub async fn execute_with(&self, actor: &Actor, op: Operation, known: Given) -> Result<Reply, OpError> {
        let sink = known.progress;
        let span = tracing::info_span!("op", op = op.name(), event = op.event().unwrap_or(""), actor = %actor);
        async move {
            let started = Instant::now();
            let now = self.clock.now();
            let mut entry = AuditEntry {
                at: now,
                actor: actor.label(),
                event: op.event().map(str::to_string),
                operation: op.name().to_string(),
                args: match (&known.why, &known.channel) {
                    (None, None) => op.args_json(),
                    (why, channel) => {
                        let mut v = serde_json::to_value(&op).unwrap_or_default();
                        if let Some(m) = v.as_object_mut() {
                            for (k, val) in [("why", why), ("channel", channel)] {
                                if let Some(val) = val {
                                    m.insert(k.into(), serde_json::Value::String(val.clone()));
                                }
                            }
                        }
                        v.to_string()
                    }
                },
                decision: "allowed".to_string(),
                changes: op.changes_something(),
            };
            let Some(event) = op.event().filter(|_| op.changes_aws()).map(str::to_string) else {
                let r = self.quick(actor, &op, now).await;
                self.audit_once(&entry, &r, started);
                return r;
            };
            let ov = match known.override_read {
                Some(ov) => ov,
                None => self.store.override_of(&event)?.map(|o| o.as_override()),
            };
            if let Err(e) = policy::admit(actor, &op, ov.as_ref(), now) {
                entry.decision = "refused".to_string();
                self.audit_once(&entry, &Err(e.clone()), started);
                return Err(e);
            }
            let mut notes = Vec::new();
            if actor.is_human() || matches!(actor, Actor::Guard { .. }) {
                if let Some(kind) = op.implied_override() {
                    notes.extend(self.record_override(actor, &event, kind, ov.as_ref(), now).await?);
                }
            }
            let doing = Doing { actor: actor.label(), operation: op.name(), since: now };
            let (turn, queued) = match self.workers.admit(&event, doing) {
                Admission::Now(turn) => (Ok(turn), None),
                Admission::Queued { behind, ticket } => (Err(ticket), Some(behind)),
            };
            if let Some(behind) = &queued {
                entry.decision = "queued".to_string();
                let what = behind.as_ref().map_or_else(|| "another action".to_string(), |d| d.to_string());
                notes.push(format!("{event} is busy ({what}): queued behind it"));
            }
            let audit = self.store.audit_open(&entry);
            let _turn = match turn {
                Ok(t) => t,
                Err(ticket) => ticket.wait().await,
            };
            // While it waited, an operator may have put the event on hold: the daemon's own
            // actors decide again on the override as it is when their turn comes.
            if queued.is_some() && !actor.is_human() {
                let again =
                    self.store.override_of(&event).map_err(OpError::from).and_then(|ov| {
                        policy::admit(actor, &op, ov.map(|o| o.as_override()).as_ref(), self.clock.now())
                    });
                if let Err(e) = again {
                    let (result, error) = outcome(&Err(e.clone()));
                    self.store.audit_refuse(&audit, AuditEnd { result, duration_ms: elapsed_ms(started), error });
                    return Err(e);
                }
            }
            let _following = match (&self.progress, sink) {
                (Some(hub), Some(sink)) => Some(hub.follow(&event, sink)),
                _ => None,
            };
            let r = self.act(actor, &op, &event, started).await.map(|mut reply| {
                notes.append(&mut reply.notes);
                reply.notes = notes;
                reply
            });
            let (result, error) = outcome(&r);
            self.store.audit_close(&audit, AuditEnd { result, duration_ms: elapsed_ms(started), error });
            r
        }
        .instrument(span)
        .await
    }

    fn audit_once(&self, entry: &AuditEntry, r: &Result<Reply, OpError>, started: Instant) {
        let (result, error) = outcome(r);
        self.store.audit_record(entry, AuditEnd { result, duration_ms: elapsed_ms(started), error });
    }

    fn changed(&self, event: &str) {
        let f = self.changed.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some(f) = f {
            f(event);
        }
    }

    /// Record the override a person's (or the cost guard's) action implies; the notes say
    /// how long it lasts. A hold in force stays: the person acts, the daemon still waits.
    async fn record_override(
        &self,
        actor: &Actor,
        event: &str,
        kind: OverrideKind,
        current: Option<&Override>,
        now: DateTime<Utc>,
    ) -> Result<Vec<String>, OpError> {
        if current.is_some_and(|o| o.kind == OverrideKind::Hold && o.in_force(now)) {
            return Ok(vec![format!("{event} stays on hold: the daemon leaves it alone until `ottd resume {event}`")]);
        }
        let windows;
        let definition = self.definitions.event(event);
        let known = match &definition {
            Some(ev) => Known::Defined(ev.spec.timing.as_ref()),
            None => {
                windows = self.store.known_windows(event)?;
                Known::Recorded(&windows)
            }
        };
        let Some(until) = policy::override_end(known, now) else { return Ok(Vec::new()) };
        self.store
            .set_override(&StoredOverride {
                event: event.to_string(),
                kind,
                set_at: now,
                until: Some(until),
                by: actor.label(),
            })
            .await?;
        self.changed(event);
        Ok(vec![format!(
            "the daemon keeps {event} this way until {} (`ottd resume {event}` hands it back now)",
            until.format("%Y-%m-%d %H:%M:%S UTC")
        )])
    }

    /// The operations that change AWS, on the event's worker.
    async fn act(&self, actor: &Actor, op: &Operation, event: &str, started: Instant) -> Result<Reply, OpError> {
        let secs = || started.elapsed().as_secs_f64();
        match op {
            Operation::Deploy { .. } => {
                let ev = self.definitions.event(event).ok_or_else(|| self.unknown(event))?;
                let s = self.workflows.deploy(&ev).await?;
                let mut reply = Reply::new(format!(
                    "deployed {} (deployment {}): {} created, deploy took {:.3}s",
                    s.event,
                    s.nonce,
                    s.created,
                    secs()
                ))
                .field("deployment", &s.nonce)
                .field("phase", Phase::Deployed.as_str());
                // The sample's autoStart, done properly: start and wait for RUNNING. The
                // schedule starts its events itself, at their start time.
                if ev.workflow.media_live.auto_start && actor.is_human() {
                    self.workflows.start(event).await?;
                    reply.lines.push(format!("autoStart: {event} is on air ({:.2}s)", secs()));
                    reply.fields.retain(|f| f.name != "phase");
                    reply = reply.field("phase", Phase::Running.as_str());
                    self.add_links(&mut reply, event).await;
                }
                Ok(reply)
            }
            Operation::Start { .. } => {
                self.workflows.start(event).await?;
                let mut reply =
                    Reply::new(format!("{event} is on air ({:.2}s)", secs())).field("phase", Phase::Running.as_str());
                self.add_links(&mut reply, event).await;
                Ok(reply)
            }
            Operation::Stop { .. } => {
                let prior = self.store.phase(event).ok().flatten();
                self.workflows.stop(event).await?;
                let mut reply =
                    Reply::new(format!("{event} is IDLE ({:.2}s)", secs())).field("phase", Phase::Stopped.as_str());
                reply.lines.extend(self.run_cost_line(event, false, prior).await);
                Ok(reply)
            }
            Operation::Teardown { .. } => {
                let prior = self.store.phase(event).ok().flatten();
                let s = self.workflows.teardown(event).await?;
                if s.pending {
                    return Err(OpError::new(
                        ErrorKind::Pending,
                        format!(
                            "{event}: {} deleted; CloudFront is still disabling the distribution: run `ottd teardown {event}` again later",
                            s.deleted
                        ),
                    ));
                }
                // Its channel is gone: its open alerts can no longer clear.
                if let Err(e) = self.store.close_alerts_of(event, self.clock.now()).await {
                    tracing::warn!(event, "cannot close the torn-down event's alerts: {e}");
                }
                let mut reply = Reply::new(format!("{event} torn down: {} deleted in {:.2}s", s.deleted, secs()))
                    .field("phase", Phase::TornDown.as_str());
                reply.lines.extend(self.run_cost_line(event, true, prior).await);
                Ok(reply)
            }
            Operation::RestartPipeline { pipeline, .. } => {
                self.workflows.restart_pipeline(event, *pipeline).await?;
                Ok(Reply::new(format!("{event}: pipeline {pipeline} restarted ({:.2}s)", secs())))
            }
            Operation::Live(cmd) => {
                let ctx = self.live_context(actor, event).await;
                let done = self.workflows.live(cmd, &ctx).await?;
                let mut reply = Reply::new(done.answer).field("counter", done.counter.to_string());
                reply.lines.push(match done.verified {
                    true => format!("done: {} ({:.2}s)", done.detail, secs()),
                    false => format!("scheduled, not seen yet: {}", done.detail),
                });
                Ok(reply.field("verified", if done.verified { "yes" } else { "no" }))
            }
            other => Err(OpError::new(ErrorKind::Permanent, format!("{} is not an action", other.name()))),
        }
    }

    /// Playback links for a reply that puts an event on air (best effort: the start worked).
    async fn add_links(&self, reply: &mut Reply, event: &str) {
        if let Ok(mut l) = self.workflows.links(event).await {
            l.preview = self.preview_link(event).await;
            link_buttons(reply, &l);
        }
    }

    /// The event's preview page, its token made now if it has none (none, and a warning, when
    /// the state refuses: the other links still go out).
    async fn preview_link(&self, event: &str) -> Option<String> {
        let base = self.preview_base.clone().unwrap_or_else(|| self.definitions.settings().daemon.base_url());
        match crate::preview::token::token_for(&self.store, event).await {
            Ok(t) => Some(crate::preview::token::page_url(&base, event, &t)),
            Err(e) => {
                tracing::warn!(event, "no preview link: cannot read or store its token: {e}");
                None
            }
        }
    }

    /// Whether `event` is inside its scheduled window now (on demand: never).
    pub fn in_window(&self, event: &str) -> bool {
        let now = self.clock.now();
        self.definitions
            .event(event)
            .and_then(|e| e.spec.timing.clone())
            .is_some_and(|t| t.windows_from(now, 1).first().is_some_and(|w| w.start_at <= now && now < w.stop_at))
    }

    /// The event's zone (UTC for an event with no timing or none in the configuration).
    pub fn zone(&self, event: &str) -> chrono_tz::Tz {
        self.definitions.event(event).and_then(|e| e.spec.timing.as_ref().map(|t| t.tz)).unwrap_or(chrono_tz::UTC)
    }

    /// What live control needs of the configuration and the state for one command.
    async fn live_context(&self, actor: &Actor, event: &str) -> LiveContext {
        let default = match self.store.meta(SLATE_DEFAULT_KEY) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(event, "cannot read the default slate's location: {e}");
                None
            }
        };
        let own = self.definitions.event(event).and_then(|e| e.workflow.media_live.slate.clone());
        let slate_image = crate::config::workflow::slate_image(own.as_deref(), default.as_deref());
        LiveContext {
            tz: self.zone(event),
            in_window: self.in_window(event),
            slate_image,
            by: actor.label(),
            now: self.clock.now(),
        }
    }

    /// `schedule-actions`: the channel's schedule and each pipeline's active input.
    async fn schedule_actions(&self, event: &str) -> Result<Reply, OpError> {
        let l = self.workflows.schedule_actions(event).await?;
        let tz = self.zone(event);
        let listing = crate::live::action::listing(event, &l.actions, self.clock.now(), tz);
        let mut lines = listing.lines();
        let mut reply = Reply::new(lines.next().unwrap_or_default().to_string());
        reply.lines = lines.map(str::to_string).collect();
        let active: Vec<String> = l
            .active
            .iter()
            .enumerate()
            .map(|(i, a)| format!("pipeline {i} on {}", a.as_deref().map_or("?".to_string(), |a| format!("`{a}`"))))
            .collect();
        reply.lines.push(format!("channel {}: {}", l.state, active.join(", ")));
        Ok(reply)
    }

    fn unknown(&self, event: &str) -> OpError {
        match self.definitions.problems() {
            Some(p) => OpError::refused(format!(
                "event `{event}` is not in any schedule file that loads; the configuration has errors:\n{p}"
            )),
            None => OpError::refused(format!("event `{event}` is not in any schedule file")),
        }
    }

    /// Operations that read, or only write an override: no worker needed.
    async fn quick(&self, actor: &Actor, op: &Operation, now: DateTime<Utc>) -> Result<Reply, OpError> {
        match op {
            Operation::Validate => {
                let c = self.definitions.reload().map_err(|d| OpError::new(ErrorKind::Permanent, d))?;
                let prices = self.check_prices(&c.settings)?;
                let mut reply = Reply::new(format!(
                    "ok: {} ({} encoding profiles, {} events)",
                    c.settings.file.display(),
                    c.profiles.len(),
                    c.events.len()
                ));
                reply.lines.push(prices);
                reply.lines.extend(c.warnings());
                Ok(reply)
            }
            Operation::Bootstrap => self.bootstrap().await,
            Operation::Plan { event } => {
                let ev = self.definitions.event(event).ok_or_else(|| self.unknown(event))?;
                let nonce = match self.store.deployment(event)? {
                    Some(d) if d.phase != Phase::TornDown => d.nonce,
                    _ => "<new>".to_string(),
                };
                let plan = Plan::build(&ev, self.definitions.settings(), &nonce);
                let mut reply = Reply::new(format!("event {} (deployment {})", plan.event, plan.names.nonce));
                reply.lines = render::plan(&plan);
                reply.lines.push(self.plan_cost_line(&ev));
                Ok(reply.with_data(&plan))
            }
            Operation::Status { event } => self.status(event.as_deref()).await,
            Operation::Links { event } => {
                let mut l = self.workflows.links(event).await?;
                l.preview = self.preview_link(event).await;
                let mut reply = Reply::new(format!("{} on {}", l.event, l.domain));
                reply.lines = render::links(&l);
                link_buttons(&mut reply, &l);
                Ok(reply.with_data(&l))
            }
            Operation::Hold { event } => {
                // An override row per name anyone types would grow without bound: only events
                // ottd knows (in the configuration, or deployed) can be held.
                if self.definitions.event(event).is_none() && self.store.deployment(event)?.is_none() {
                    return Err(self.unknown(event));
                }
                self.store
                    .set_override(&StoredOverride {
                        event: event.clone(),
                        kind: OverrideKind::Hold,
                        set_at: now,
                        until: None,
                        by: actor.label(),
                    })
                    .await?;
                self.changed(event);
                Ok(Reply::new(format!("{event} is on hold: the daemon leaves it as it is until `ottd resume {event}`")))
            }
            Operation::Resume { event } => {
                let cleared = self.store.clear_override(event).await?;
                self.changed(event);
                Ok(Reply::new(if cleared {
                    format!("{event}: override cleared, the schedule is in control")
                } else {
                    format!("{event} had no override")
                }))
            }
            Operation::Schedule => {
                let events = self.definitions.events();
                let list = crate::schedule::listing::entries(&events, now, 5);
                let mut reply = Reply::new(String::new());
                reply.lines = render::schedule(&list);
                Ok(reply.with_data(&list))
            }
            Operation::Audit { event, since, all } => {
                let since =
                    since.and_then(|d| chrono::Duration::from_std(d).ok()).and_then(|d| now.checked_sub_signed(d));
                // Rows still queued count too; waiting for them must not block a runtime thread.
                self.store.flush().await?;
                let rows = self.store.audit_committed(event.as_deref(), since, *all, AUDIT_LIMIT)?;
                let mut reply = Reply::new(String::new());
                reply.lines = render::audit(&rows);
                Ok(reply.with_data(&rows))
            }
            Operation::Cost { event, audience } => self.cost(event, *audience).await,
            Operation::Live(cmd) => self.schedule_actions(cmd.event()).await,
            Operation::RotatePreview { event } => {
                if self.definitions.event(event).is_none() && self.store.deployment(event)?.is_none() {
                    return Err(self.unknown(event));
                }
                let token = crate::preview::token::generate();
                self.store.set_meta(&crate::preview::token::key(event), token.expose()).await?;
                let base = self.preview_base.clone().unwrap_or_else(|| self.definitions.settings().daemon.base_url());
                let url = crate::preview::token::page_url(&base, event, &token);
                let mut reply = Reply::new(format!(
                    "{event} has a new preview link; the old one stops opening within {}s (daemons cache a token that long)",
                    crate::preview::TOKEN_CACHE.as_secs()
                ));
                reply.link("Preview", &url);
                Ok(reply)
            }
            Operation::Alerts { event, all } => {
                let rows = self.store.alerts(event.as_deref(), *all)?;
                let mut reply = Reply::new(String::new());
                reply.lines = render::alerts(&rows);
                Ok(reply.with_data(&rows))
            }
            Operation::Ack { alert } => {
                let Some(row) = self.store.alert(*alert)? else {
                    return Err(OpError::refused(format!("there is no alert {alert}")));
                };
                self.store.ack_alert(*alert, &actor.label()).await?;
                Ok(Reply::new(format!(
                    "alert {alert} ({} on {} pipeline {}) acknowledged by {actor}: no more repeat notifications",
                    row.alert_type, row.event, row.pipeline
                )))
            }
            Operation::Deploy { .. }
            | Operation::Start { .. }
            | Operation::Stop { .. }
            | Operation::Teardown { .. }
            | Operation::RestartPipeline { .. } => {
                Err(OpError::new(ErrorKind::Permanent, format!("{} needs an event", op.name())))
            }
        }
    }

    /// `bootstrap`: the one-time AWS set-up, recorded in the state file for the daemon.
    async fn bootstrap(&self) -> Result<Reply, OpError> {
        let done = self.workflows.bootstrap().await.map_err(|e| OpError::from(EngineError::Aws(e)))?;
        let roles = done.roles;
        self.store.set_meta("roles.medialive", &roles.medialive).await?;
        self.store.set_meta("roles.mediapackage", &roles.mediapackage).await?;
        let mut reply = Reply::new(format!("recorded in {}", self.definitions.settings().state_path.display()));
        reply.notes = vec![
            format!("MediaLive role:    {}", roles.medialive),
            format!("MediaPackage role: {}", roles.mediapackage),
        ];
        reply = reply.field("medialive_role", &roles.medialive).field("mediapackage_role", &roles.mediapackage);
        if let Some(uri) = &done.slate_uri {
            self.store.set_meta(SLATE_DEFAULT_KEY, uri).await?;
            reply.notes.push(format!("default slate:     {uri}"));
            reply = reply.field("slate", uri);
        }
        match done.alerts {
            Some(p) => {
                for (key, value) in [
                    ("alerts.rule_arn", &p.rule_arn),
                    ("alerts.queue_url", &p.queue_url),
                    ("alerts.dlq_url", &p.dlq_url),
                    ("alerts.topic_arn", &p.topic_arn),
                ] {
                    self.store.set_meta(key, value).await?;
                }
                reply.notes.push(format!("alert rule:        {}", p.rule_arn));
                reply.notes.push(format!("alert queue:       {} (dead letters: {})", p.queue_url, p.dlq_url));
                reply.notes.push(format!("alert topic:       {}", p.topic_arn));
                reply = reply.field("alert_rule", &p.rule_arn).field("alert_queue", &p.queue_url);
                reply = reply.field("alert_topic", &p.topic_arn);
            }
            None => reply.notes.push("alerts: off ([alerts] enabled = false)".to_string()),
        }
        for what in &done.removed {
            reply.notes.push(format!("removed:           {what}"));
        }
        Ok(reply)
    }

    async fn status(&self, event: Option<&str>) -> Result<Reply, OpError> {
        let events: Vec<String> = match event {
            Some(e) => vec![e.to_string()],
            None => self.store.phases()?.into_iter().map(|(event, _, _)| event).collect(),
        };
        let mut reply = Reply::new(String::new());
        let mut all = Vec::new();
        for e in &events {
            match self.workflows.status(e).await {
                Ok(st) => all.push(st),
                Err(EngineError::NotDeployed(_)) => reply.notes.push(format!("{e}: not deployed")),
                Err(err) => return Err(err.into()),
            }
        }
        if let Some(errors) = self.store.meta("daemon.config_errors")?.filter(|e| !e.is_empty()) {
            reply.notes.push(format!(
                "the daemon could not load the configuration (the last good one is in force):\n{errors}\n"
            ));
        }
        for o in self.store.overrides()?.iter().filter(|o| event.is_none_or(|e| e == o.event)) {
            reply.notes.push(render::override_line(o));
        }
        if let Some(queue) = self.store.meta("alerts.queue_url")? {
            let topic = self.store.meta("alerts.topic_arn")?.unwrap_or_default();
            reply.notes.push(format!("alerts: queue {queue}, topic {topic}"));
        }
        let active = self.store.alerts(event, false)?;
        if !active.is_empty() {
            let which = event.map_or_else(String::new, |e| format!(" {e}"));
            reply.notes.push(format!("{} active alerts (`ottd alerts{which}`)", active.len()));
        }
        if all.is_empty() && event.is_none() {
            reply.headline = "no event is deployed".to_string();
        }
        for s in &all {
            reply.lines.extend(render::status(s));
        }
        if let [one] = all.as_slice() {
            reply = reply.field("phase", one.phase.as_str()).field("deployment", &one.deployment);
            if let Some(c) = &one.channel_state {
                reply = reply.field("channel", c);
            }
        }
        Ok(match event {
            Some(_) => reply.with_data(&all.first()),
            None => reply.with_data(&all),
        })
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// An operation's result as the audit trail records it: `ok` or the error's class, and the
/// error's text.
fn outcome(r: &Result<Reply, OpError>) -> (&'static str, Option<String>) {
    match r {
        Ok(_) => ("ok", None),
        Err(e) => (e.kind.as_str(), Some(e.message.clone())),
    }
}

pub mod render;

/// The buttons of a reply that carries an event's links: each playback URL, its test player,
/// and the preview page beside them.
fn link_buttons(reply: &mut Reply, l: &crate::engine::report::Links) {
    for p in &l.playback {
        reply.link(p.format, &p.url);
        if let Some(player) = &p.player {
            reply.link(format!("{} player", p.format), player);
        }
    }
    if let Some(p) = &l.preview {
        reply.link("Preview", p);
    }
}
