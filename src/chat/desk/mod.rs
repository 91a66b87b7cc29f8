//! The front desk every chat platform talks to: a typed `/ott …` or a pressed button comes in
//! with who asked where ([`Caller`]); out come [`Message`]s the adapter renders and delivers.
//!
//! In order: the grammar ([`super::grammar`]), the caller's role ([`super::access`]), the
//! confirmation or two-person gate ([`super::approval`]), then the operations layer as
//! `slack:U…` / `discord:…`, which audits and serializes the action like everyone else's.
//! Decisions taken here before the operations layer (denied, awaiting approval, cancelled,
//! rejected, expired) are audited here. Long work answers at once and reports progress, one
//! message per engine step, then the result.

use std::sync::{Arc, Mutex};

use serde_json::json;
use tokio::sync::mpsc;

mod requests;

use super::access::{word_role, Caller};
use super::approval::{self, Gate, Kind, Situation};
use super::deadline;
use super::grammar::{self, Command};
use super::message::{Message, Tone, Visibility};
use crate::clock::Clock;
use crate::config::chat::ChatSettings;
use crate::ops::{Actor, Definitions, ErrorKind, Given, Operation, Ops, Platform, Progress, Reply, StepLine};
use crate::store::{AuditEnd, AuditEntry};

/// What the desk answers: the first message at once, and, when work goes on, a stream of
/// progress messages ending with one whose [`Message::is_final`] holds.
pub struct Turn {
    pub first: Message,
    pub more: Option<mpsc::UnboundedReceiver<Message>>,
    /// The first message replaces the one whose button was pressed (else it is a new one).
    pub replace: bool,
}

impl Turn {
    fn one(m: Message) -> Turn {
        Turn { first: m, more: None, replace: false }
    }

    fn replacing(mut self) -> Turn {
        self.replace = true;
        self
    }
}

pub struct Desk {
    ops: Arc<Ops>,
    definitions: Arc<dyn Definitions>,
    clock: Arc<dyn Clock>,
    /// Roles and approval rules: replaced on reload (adapters and secrets need a restart).
    chat: std::sync::RwLock<Arc<ChatSettings>>,
    /// Request ids taken by this process, newest [`SEEN_IN_MEMORY`]: a replay is refused here
    /// without waiting for the state file (which keeps them across restarts).
    seen: Mutex<lru::LruCache<String, ()>>,
}

/// Request ids remembered in memory (about 100 bytes each); older ones are in the state file.
const SEEN_IN_MEMORY: usize = 16_384;

fn actor_of(label: &str) -> Option<Actor> {
    let (platform, user) = label.split_once(':')?;
    let platform = match platform {
        "slack" => Platform::Slack,
        "discord" => Platform::Discord,
        _ => return None,
    };
    Some(Actor::Chat { platform, user: user.to_string() })
}

fn mention(platform: Platform, label: &str) -> String {
    let user = label.split_once(':').map_or(label, |(_, u)| u);
    match platform {
        Platform::Slack => format!("<@{user}>"),
        Platform::Discord => format!("<@{user}>"),
    }
}

impl Desk {
    pub fn new(ops: Arc<Ops>, definitions: Arc<dyn Definitions>, clock: Arc<dyn Clock>) -> Desk {
        let chat = std::sync::RwLock::new(Arc::new(definitions.settings().chat.clone()));
        let seen = Mutex::new(lru::LruCache::new(
            std::num::NonZeroUsize::new(SEEN_IN_MEMORY).unwrap_or(std::num::NonZeroUsize::MIN),
        ));
        Desk { ops, definitions, clock, chat, seen }
    }

    /// The same desk with other chat settings (tests).
    pub fn with_settings(self, chat: ChatSettings) -> Desk {
        self.set_settings(chat);
        self
    }

    /// The chat settings of a reloaded configuration: grants and approval rules apply to the
    /// next command.
    pub fn set_settings(&self, chat: ChatSettings) {
        *self.chat.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(chat);
    }

    /// Where chat work runs: the operations layer's tracker, so shutdown waits for it.
    pub fn tasks(&self) -> &tokio_util::task::TaskTracker {
        self.ops.tasks()
    }

    /// The chat settings in force.
    pub(super) fn settings(&self) -> Arc<ChatSettings> {
        self.chat.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn events(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.definitions.events().iter().map(|e| e.spec.id.clone()).collect();
        ids.sort();
        ids
    }

    /// The text after `/ott` (or a request's or button's) as a command, against the events
    /// that exist now, their zones and the clock.
    fn parse(&self, text: &str) -> Result<Command, grammar::ParseError> {
        let events = self.events();
        let zones: Vec<grammar::EventZone<'_>> =
            events.iter().map(|id| grammar::EventZone { id, tz: self.ops.zone(id) }).collect();
        grammar::parse(text, &zones, self.clock.now())
    }

    /// The text that parses back to `op`, times in its event's zone.
    fn text_of(&self, op: &Operation) -> String {
        let tz = op.event().map_or(chrono_tz::UTC, |e| self.ops.zone(e));
        grammar::format_in(&Command::Op(op.clone()), tz)
    }

    /// Event ids starting with (or close to) `prefix`, for Discord's autocomplete.
    pub fn complete(&self, prefix: &str) -> Vec<String> {
        let prefix = prefix.to_lowercase();
        let events = self.events();
        let mut ids: Vec<String> = events.iter().filter(|e| e.to_lowercase().starts_with(&prefix)).cloned().collect();
        if ids.is_empty() {
            ids.extend(grammar::closest(&prefix, events.iter().map(String::as_str)));
        }
        ids.truncate(25);
        ids
    }

    /// `now` in the event's zone and in UTC: "final · 21:04 CET · 20:04 UTC".
    fn context(&self, event: Option<&str>) -> Option<String> {
        let now = self.clock.now();
        let utc = now.format("%Y-%m-%d %H:%M UTC").to_string();
        let Some(event) = event else { return Some(format!("ottd · {utc}")) };
        let zone = self.definitions.event(event).and_then(|e| e.spec.timing.as_ref().map(|t| t.tz));
        Some(match zone {
            Some(tz) if tz != chrono_tz::UTC => {
                format!("{event} · {} {} · {utc}", now.with_timezone(&tz).format("%H:%M"), tz.name())
            }
            _ => format!("{event} · {utc}"),
        })
    }

    /// A decision taken here, in the audit trail: `extra` joins the operation's arguments.
    fn audit(&self, caller: &Caller, op: &Operation, decision: &str, extra: serde_json::Value, error: Option<String>) {
        let mut args = serde_json::to_value(op).unwrap_or_default();
        if let (Some(m), Some(extra)) = (args.as_object_mut(), extra.as_object()) {
            m.extend(extra.clone());
        }
        self.record(caller, op.event(), op.name(), args, decision, op.changes_something(), error);
    }

    /// A request refused before it reaches the grammar (another workspace or server, a DM):
    /// audited as `denied` with `why` and `from` (where it came from). `asked`: the `/ott`
    /// text or the button's value; when it reads as a command, the row names its operation and
    /// event, so `ottd audit EVENT` shows who tried what on it.
    pub fn refuse_outsider(&self, caller: &Caller, asked: &str, why: &str, mut from: serde_json::Value) {
        if let Some(m) = from.as_object_mut() {
            m.insert("asked".into(), json!(asked));
        }
        match self.parse(asked.strip_prefix("run:").unwrap_or(asked)) {
            Ok(Command::Op(op)) => self.audit(caller, &op, "denied", from, Some(why.to_string())),
            _ => self.record(caller, None, "chat", from, "denied", false, Some(why.to_string())),
        }
    }

    /// Note a request's id (`slack:sig:…`, `discord:…`) as taken: `true` the first time,
    /// `false` for a replay, which must then have no effect. In the state file, so a replay
    /// after a restart is caught too: committed before anything runs, since the request may
    /// change something.
    pub async fn first_sighting(&self, key: &str) -> Result<bool, crate::store::StoreError> {
        let first = self.ops.store().first_sighting(key, self.clock.now()).await?;
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).put(key.to_string(), ());
        Ok(first)
    }

    /// [`Desk::first_sighting`] for a request that only reads (`access::reads_only`): decided
    /// in memory and by a read of the state file (ids from before a restart), its record
    /// written without waiting. A kill -9 in the moment before that write commits can let one
    /// replay of a read through after the restart; a read changes nothing.
    pub fn first_sighting_of_read(&self, key: &str) -> Result<bool, crate::store::StoreError> {
        if self.seen.lock().unwrap_or_else(|p| p.into_inner()).put(key.to_string(), ()).is_some() {
            return Ok(false);
        }
        if self.ops.store().sighted(key)? {
            return Ok(false);
        }
        self.ops.store().first_sighting(key, self.clock.now()).detach();
        Ok(true)
    }

    /// The chat-only reads (`help`, `list`): audited like the operations layer's reads.
    fn audit_read(&self, caller: &Caller, name: &str) {
        self.record(caller, None, name, json!({}), "allowed", false, None);
    }

    /// One finished audit row for `caller`, the channel added to `args`.
    #[allow(clippy::too_many_arguments)]
    fn record(
        &self,
        caller: &Caller,
        event: Option<&str>,
        operation: &str,
        mut args: serde_json::Value,
        decision: &str,
        changes: bool,
        error: Option<String>,
    ) {
        if let Some(m) = args.as_object_mut() {
            m.insert("channel".into(), json!(caller.channel_label()));
        }
        let entry = AuditEntry {
            at: self.clock.now(),
            actor: caller.label(),
            event: event.map(str::to_string),
            operation: operation.to_string(),
            args: args.to_string(),
            decision: decision.to_string(),
            changes,
        };
        let result = if error.is_some() { "refused" } else { "ok" };
        self.ops.store().audit_record(&entry, AuditEnd { result, duration_ms: 0, error });
    }

    /// A typed `/ott TEXT`.
    pub async fn command(&self, caller: &Caller, text: &str) -> Turn {
        match self.parse(text) {
            Err(e) => Turn::one(Message::line(e.to_string(), Visibility::Ephemeral, Tone::Failed)),
            Ok(Command::Help) => {
                self.audit_read(caller, "help");
                Turn::one(self.help(caller))
            }
            Ok(cmd) => self.checked(caller, cmd).await,
        }
    }

    fn help(&self, caller: &Caller) -> Message {
        let role = self.settings().access.may_run(caller);
        let mut reply = match role {
            None => Reply::new("You have no ottd role here, so there is nothing you may run. Ask an ottd admin."),
            Some(r) => Reply::new(format!("What you may run here (you are {r}):")),
        };
        for (word, takes, what) in grammar::WORDS {
            if role.is_some_and(|r| r >= word_role(word)) {
                let arg = match (*word, takes) {
                    ("ack", _) => " ALERT",
                    ("cost", _) => " EVENT [VIEWERS]",
                    ("restart", _) => " EVENT PIPELINE",
                    ("break", _) => " EVENT [90s] [at 20:15]",
                    ("slate", _) => " EVENT on|off",
                    ("switch", _) => " EVENT primary|backup|ATTACHMENT",
                    (_, Some(true)) => " EVENT",
                    (_, Some(false)) => " [EVENT]",
                    (_, None) => "",
                };
                reply.lines.push(format!("/ott {word}{arg}  {what}"));
            }
        }
        Message::new(reply, Visibility::Ephemeral, Tone::Done).context(self.context(None))
    }

    async fn checked(&self, caller: &Caller, cmd: Command) -> Turn {
        if let Err(denied) = self.settings().access.check(caller, &cmd) {
            let op = match &cmd {
                Command::Op(op) => op.clone(),
                _ => Operation::Status { event: None },
            };
            self.audit(caller, &op, "denied", json!({"need": denied.need}), Some(denied.to_string()));
            return Turn::one(Message::line(denied.to_string(), Visibility::Ephemeral, Tone::Failed));
        }
        let op = match cmd {
            Command::Op(op) => op,
            _ => {
                self.audit_read(caller, "list");
                return Turn::one(self.list());
            }
        };
        // Only changes can need a confirmation or a second person.
        if !op.changes_something() {
            return self.run(caller, op, None).await;
        }
        let situation = self.situation(&op);
        match approval::gate(&op, situation, &self.settings().approvals) {
            Gate::Run => self.run(caller, op, None).await,
            Gate::Confirm => self.ask(caller, &op, Kind::Confirm, situation).await,
            Gate::Approve => self.ask(caller, &op, Kind::Approve, situation).await,
        }
    }

    fn situation(&self, op: &Operation) -> Situation {
        let Some(event) = op.event() else { return Situation { phase: None, in_window: false } };
        let phase = self.ops.store().phase(event).ok().flatten().map(|(p, _)| p);
        Situation { phase, in_window: self.ops.in_window(event) }
    }

    /// Every event with its phase and its next scheduled change.
    fn list(&self) -> Message {
        let now = self.clock.now();
        let events = self.definitions.events();
        let mut reply = Reply::new(format!("{} events", events.len()));
        for ev in &events {
            let id = &ev.spec.id;
            let phase = self.ops.store().phase(id).ok().flatten().map_or("not deployed", |(p, _)| p.as_str());
            let next = crate::schedule::phase::next_boundaries(ev.spec.timing.as_ref(), now, 1)
                .first()
                .map(|(at, d)| format!("{} at {}", d.as_str(), at.format("%Y-%m-%d %H:%M UTC")))
                .unwrap_or_else(|| "on demand".to_string());
            reply.lines.push(format!("{id:<20} {phase:<13} next: {next}"));
        }
        Message::new(reply, Visibility::Ephemeral, Tone::Done).context(self.context(None))
    }

    /// Run `op` through the operations layer as `caller`.
    async fn run(&self, caller: &Caller, op: Operation, why: Option<String>) -> Turn {
        let actor = Actor::Chat { platform: caller.platform, user: caller.user.clone() };
        let long = op.changes_aws();
        let visibility = if op.changes_something() { Visibility::InChannel } else { Visibility::Ephemeral };
        let (tx, rx) = mpsc::unbounded_channel();
        let context = self.context(op.event());
        let sink: Arc<dyn Progress> = Arc::new(ChatProgress {
            tx: tx.clone(),
            title: self.text_of(&op),
            steps: Mutex::default(),
            visibility,
            context: context.clone(),
        });
        let given = Given { progress: Some(sink), why, channel: Some(caller.channel_label()), ..Given::default() };
        let ops = self.ops.clone();
        let who = mention(caller.platform, &caller.label());
        let title = self.text_of(&op);
        let task_title = title.clone();
        let ctx = context.clone();
        let span = tracing::info_span!("chat", event = op.event().unwrap_or(""), actor = %actor);
        let work = tracing::Instrument::instrument(
            async move {
                let r = ops.execute_with(&actor, op.clone(), given).await;
                let m = match r {
                    Ok(mut reply) => {
                        if reply.headline.is_empty() {
                            // Some answers are all lines (status of every event): say what they answer.
                            reply.headline = format!("/ott {task_title}");
                        }
                        if matches!(op, Operation::Start { .. }) {
                            reply.headline = format!("{} is on air", op.event().unwrap_or_default());
                        }
                        Message::new(reply, visibility, Tone::Done)
                    }
                    Err(e) if e.kind == ErrorKind::Pending => Message::line(
                        format!("`/ott {task_title}`: not finished yet: {}", e.message),
                        visibility,
                        Tone::Pending,
                    ),
                    Err(e) => Message::line(format!("`/ott {task_title}` failed: {e}"), visibility, Tone::Failed),
                };
                m.context(ctx)
            },
            span,
        );
        if long {
            self.ops.tasks().spawn(async move {
                let m = work.await;
                let _ = tx.send(m);
            });
            let first = Message::line(format!("`/ott {title}` by {who}: under way"), visibility, Tone::Working)
                .context(context);
            return Turn { first, more: Some(rx), replace: false };
        }
        // Quick work runs here; only if it outlasts the platform's patience does it go on in
        // a task of its own, its answer following the "working on it".
        drop(tx);
        let mut work = Box::pin(work);
        match tokio::time::timeout(deadline::QUICK, &mut work).await {
            Ok(m) => Turn::one(m),
            Err(_) => {
                let (tx, rx) = mpsc::unbounded_channel();
                self.ops.tasks().spawn(async move {
                    let _ = tx.send(work.await);
                });
                let first =
                    Message::line(format!("`/ott {title}`: working on it"), visibility, Tone::Working).context(context);
                Turn { first, more: Some(rx), replace: false }
            }
        }
    }
}

/// The engine's progress as chat messages: one per step, each listing the steps so far.
struct ChatProgress {
    tx: mpsc::UnboundedSender<Message>,
    title: String,
    steps: Mutex<Vec<String>>,
    visibility: Visibility,
    context: Option<String>,
}

impl Progress for ChatProgress {
    fn step(&self, l: &StepLine) {
        let lines = {
            let mut steps = self.steps.lock().unwrap_or_else(|p| p.into_inner());
            steps.push(format!("{:<28} {:?} ({:.1}s)", l.step, l.outcome, l.elapsed.as_secs_f64()));
            steps.clone()
        };
        let mut reply = Reply::new(format!("`/ott {}`: {}", self.title, l.step));
        reply.lines = lines;
        let m = Message::new(reply, self.visibility, Tone::Working).context(self.context.clone());
        let _ = self.tx.send(m);
    }
}

#[cfg(test)]
mod tests;
