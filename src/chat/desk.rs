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
use std::time::Duration;

use serde_json::json;
use tokio::sync::mpsc;

use super::access::{needed, Access, Caller, Role};
use super::approval::{self, Click, Gate, Kind, Situation, State, Verdict};
use super::grammar::{self, Command};
use super::message::{Button, Message, Style, Tone, Visibility};
use crate::clock::Clock;
use crate::config::chat::ChatSettings;
use crate::engine::{Progress, StepLine};
use crate::ops::{Actor, Definitions, ErrorKind, Given, Operation, Ops, Platform, Reply};
use crate::store::{AuditEnd, AuditEntry};

/// How long a quick command may take before the answer says "working on it" and the result
/// follows (platforms want an answer within 3 s).
pub const QUICK: Duration = Duration::from_millis(2000);

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
    chat: Arc<ChatSettings>,
}

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

/// What a word of `/ott` needs, for help.
fn word_role(word: &str) -> Role {
    match word {
        "teardown" => Role::Admin,
        "deploy" | "start" | "stop" | "hold" | "resume" | "ack" | "restart" => Role::Operator,
        _ => Role::Viewer,
    }
}

impl Desk {
    pub fn new(ops: Arc<Ops>, definitions: Arc<dyn Definitions>, clock: Arc<dyn Clock>) -> Desk {
        let chat = Arc::new(definitions.settings().chat.clone());
        Desk { ops, definitions, clock, chat }
    }

    /// The same desk with other chat settings (tests).
    pub fn with_settings(mut self, chat: ChatSettings) -> Desk {
        self.chat = Arc::new(chat);
        self
    }

    fn access(&self) -> &Access {
        &self.chat.access
    }

    fn events(&self) -> Vec<String> {
        let mut ids: Vec<String> = self.definitions.events().iter().map(|e| e.spec.id.clone()).collect();
        ids.sort();
        ids
    }

    /// Event ids starting with (or close to) `prefix`, for Discord's autocomplete.
    pub fn complete(&self, prefix: &str) -> Vec<String> {
        let prefix = prefix.to_lowercase();
        let mut ids: Vec<String> =
            self.events().into_iter().filter(|e| e.to_lowercase().starts_with(&prefix)).collect();
        if ids.is_empty() {
            ids.extend(grammar::closest(&prefix, self.events().iter().map(String::as_str)));
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

    fn audit(&self, caller: &Caller, op: &Operation, decision: &str, extra: serde_json::Value, error: Option<String>) {
        let mut args = serde_json::to_value(op).unwrap_or_default();
        if let (Some(m), Some(extra)) = (args.as_object_mut(), extra.as_object()) {
            m.insert("channel".into(), json!(caller.channel_label()));
            for (k, v) in extra {
                m.insert(k.clone(), v.clone());
            }
        }
        let entry = AuditEntry {
            at: self.clock.now(),
            actor: caller.label(),
            event: op.event().map(str::to_string),
            operation: op.name().to_string(),
            args: args.to_string(),
            decision: decision.to_string(),
            changes: op.changes_something(),
        };
        let result = if error.is_some() { "refused" } else { "ok" };
        self.ops.store().audit_record(&entry, AuditEnd { result, duration_ms: 0, error });
    }

    /// The chat-only reads (`help`, `list`): audited like the operations layer's reads.
    fn audit_read(&self, caller: &Caller, name: &str) {
        let entry = AuditEntry {
            at: self.clock.now(),
            actor: caller.label(),
            event: None,
            operation: name.to_string(),
            args: json!({"channel": caller.channel_label()}).to_string(),
            decision: "allowed".to_string(),
            changes: false,
        };
        self.ops.store().audit_record(&entry, AuditEnd { result: "ok", duration_ms: 0, error: None });
    }

    /// A typed `/ott TEXT`.
    pub async fn command(&self, caller: &Caller, text: &str) -> Turn {
        let events = self.events();
        let names: Vec<&str> = events.iter().map(String::as_str).collect();
        match grammar::parse(text, &names) {
            Err(e) => Turn::one(Message::line(e.to_string(), Visibility::Ephemeral, Tone::Failed)),
            Ok(Command::Help) => {
                self.audit_read(caller, "help");
                Turn::one(self.help(caller))
            }
            Ok(cmd) => self.checked(caller, cmd).await,
        }
    }

    fn help(&self, caller: &Caller) -> Message {
        let role = self.access().may_run(caller);
        let mut reply = match role {
            None => Reply::new("You have no ottd role here, so there is nothing you may run. Ask an ottd admin."),
            Some(r) => Reply::new(format!("What you may run here (you are {r}):")),
        };
        for (word, takes, what) in grammar::WORDS {
            if role.is_some_and(|r| r >= word_role(word)) {
                let arg = match (*word, takes) {
                    ("ack", _) => " ALERT",
                    ("restart", _) => " EVENT PIPELINE",
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
        if let Err(denied) = self.access().check(caller, &cmd) {
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
        match approval::gate(&op, situation, &self.chat.approvals) {
            Gate::Run => self.run(caller, op, None).await,
            Gate::Confirm => self.ask(caller, &op, Kind::Confirm).await,
            Gate::Approve => self.ask(caller, &op, Kind::Approve).await,
        }
    }

    fn situation(&self, op: &Operation) -> Situation {
        let Some(event) = op.event() else { return Situation { phase: None, in_window: false } };
        let phase = self.ops.store().phase(event).ok().flatten().map(|(p, _)| p);
        let now = self.clock.now();
        let in_window = self
            .definitions
            .event(event)
            .and_then(|e| e.spec.timing.clone())
            .is_some_and(|t| t.windows_from(now, 1).first().is_some_and(|w| w.start_at <= now && now < w.stop_at));
        Situation { phase, in_window }
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

    /// Keep a request for a confirmation or approval and ask for it.
    async fn ask(&self, caller: &Caller, op: &Operation, kind: Kind) -> Turn {
        let now = self.clock.now();
        let within = match kind {
            Kind::Confirm => self.chat.approvals.confirm_within,
            Kind::Approve => self.chat.approvals.approve_within,
        };
        let expires = now + chrono::Duration::from_std(within).unwrap_or(chrono::Duration::minutes(15));
        let text = grammar::format(&Command::Op(op.clone()));
        let id = match self
            .ops
            .store()
            .request_open(kind, &caller.label(), &caller.channel_label(), &text, now, expires)
            .await
        {
            Ok(id) => id,
            Err(e) => {
                return Turn::one(Message::line(
                    format!("cannot keep the request in the state file: {e}"),
                    Visibility::Ephemeral,
                    Tone::Failed,
                ))
            }
        };
        let until = expires.format("%H:%M UTC");
        let event = op.event().unwrap_or_default();
        let m = match kind {
            Kind::Confirm => {
                let what = match op {
                    Operation::Stop { .. } => format!("Stop {event}? It is on air now: viewers lose the stream."),
                    _ => format!("Tear down {event}? Everything it owns in AWS is deleted."),
                };
                Message::line(what, Visibility::Ephemeral, Tone::Asking)
                    .button(Button::new(format!("Yes, {text}"), format!("confirm:{id}"), Style::Danger))
                    .button(Button::new("Cancel", format!("cancel:{id}"), Style::Plain))
            }
            Kind::Approve => {
                self.audit(caller, op, "awaiting-approval", json!({"request": id}), None);
                let need = needed(&Command::Op(op.clone()));
                let mut reply = Reply::new(format!(
                    "{} asks to run `/ott {text}`: a second person with the {need} role must approve (until {until}).",
                    mention(caller.platform, &caller.label())
                ));
                if self.situation(op).in_window {
                    reply.notes.push(format!("{event} is inside its scheduled window now."));
                }
                Message::new(reply, Visibility::InChannel, Tone::Asking)
                    .button(Button::new("Approve", format!("approve:{id}"), Style::Primary))
                    .button(Button::new("Deny", format!("deny:{id}"), Style::Danger))
            }
        };
        Turn::one(m.context(self.context(op.event())))
    }

    /// A pressed button: its value as ottd set it.
    pub async fn press(&self, caller: &Caller, value: &str) -> Turn {
        if let Some(text) = value.strip_prefix("run:") {
            return self.command(caller, text).await;
        }
        let parsed = value.split_once(':').and_then(|(c, id)| Some((Click::parse(c)?, id.parse::<i64>().ok()?)));
        let Some((click, id)) = parsed else {
            return Turn::one(Message::line("ottd does not know that button", Visibility::Ephemeral, Tone::Failed));
        };
        let req = match self.ops.store().request(id) {
            Ok(Some(r)) => r,
            Ok(None) => {
                return Turn::one(Message::line(
                    "that request is gone (kept for a week): run the command again",
                    Visibility::Ephemeral,
                    Tone::Failed,
                ))
            }
            Err(e) => return Turn::one(Message::line(format!("{e}"), Visibility::Ephemeral, Tone::Failed)),
        };
        let events = self.events();
        let names: Vec<&str> = events.iter().map(String::as_str).collect();
        let Ok(Command::Op(op)) = grammar::parse(&req.command, &names) else {
            return Turn::one(Message::line(
                format!("`{}` no longer names an event ottd knows", req.command),
                Visibility::Ephemeral,
                Tone::Failed,
            ));
        };
        let may = self.access().check(caller, &Command::Op(op.clone())).is_ok();
        let now = self.clock.now();
        let me = caller.label();
        let settle = |state: State| async move { self.ops.store().request_settle(id, state, &me, now).await };
        let who = mention(caller.platform, &caller.label());
        match approval::decide(&req, click, &caller.label(), may, now) {
            Verdict::Refuse(why) => {
                self.audit(caller, &op, "denied", json!({"request": id, "click": click.as_str()}), Some(why.clone()));
                Turn::one(Message::line(why, Visibility::Ephemeral, Tone::Failed))
            }
            Verdict::Settled { state, by } => Turn::one(Message::line(
                format!(
                    "`/ott {}` was already {}{}",
                    req.command,
                    settled_word(state),
                    by.map(|b| format!(" by {b}")).unwrap_or_default()
                ),
                Visibility::Ephemeral,
                Tone::Failed,
            )),
            verdict => {
                let state = match verdict {
                    Verdict::Run => State::Done,
                    Verdict::Cancel => State::Cancelled,
                    Verdict::Reject => State::Rejected,
                    _ => State::Expired,
                };
                match settle(state).await {
                    Ok(true) => {}
                    Ok(false) => {
                        return Turn::one(Message::line(
                            format!("`/ott {}` was decided a moment ago by someone else", req.command),
                            Visibility::Ephemeral,
                            Tone::Failed,
                        ))
                    }
                    Err(e) => return Turn::one(Message::line(format!("{e}"), Visibility::Ephemeral, Tone::Failed)),
                }
                let vis = if req.kind == Kind::Approve { Visibility::InChannel } else { Visibility::Ephemeral };
                match state {
                    State::Done => {
                        let Some(requester) = actor_of(&req.requester) else {
                            return Turn::one(Message::line("bad requester", Visibility::Ephemeral, Tone::Failed));
                        };
                        let why = match req.kind {
                            Kind::Confirm => format!("confirmed (request {id})"),
                            Kind::Approve => format!("approved by {} (request {id})", caller.label()),
                        };
                        let requester_caller = Caller { user: requester_user(&requester), ..caller.clone() };
                        let asker = if req.kind == Kind::Approve { &requester_caller } else { caller };
                        self.run(asker, op, Some(why)).await.replacing()
                    }
                    State::Cancelled => {
                        self.audit(caller, &op, "cancelled", json!({"request": id}), None);
                        Turn::one(Message::line(
                            format!("`/ott {}` cancelled by {who}", req.command),
                            vis,
                            Tone::Failed,
                        ))
                        .replacing()
                    }
                    State::Rejected => {
                        self.audit(
                            caller,
                            &op,
                            "rejected",
                            json!({"request": id, "requester": req.requester}),
                            Some("denied by a second person".into()),
                        );
                        Turn::one(Message::line(
                            format!("`/ott {}` denied by {who}: it will not run", req.command),
                            vis,
                            Tone::Failed,
                        ))
                        .replacing()
                    }
                    _ => {
                        self.audit(
                            caller,
                            &op,
                            "expired",
                            json!({"request": id, "requester": req.requester}),
                            Some("expired".into()),
                        );
                        Turn::one(Message::line(
                            format!(
                                "`/ott {}` expired at {}: run it again",
                                req.command,
                                req.expires_at.format("%H:%M UTC")
                            ),
                            vis,
                            Tone::Failed,
                        ))
                        .replacing()
                    }
                }
            }
        }
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
            title: grammar::format(&Command::Op(op.clone())),
            steps: Mutex::default(),
            visibility,
            context: context.clone(),
        });
        let given = Given { progress: Some(sink), why, channel: Some(caller.channel_label()), ..Given::default() };
        let ops = self.ops.clone();
        let who = mention(caller.platform, &caller.label());
        let title = grammar::format(&Command::Op(op.clone()));
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
            tokio::spawn(async move {
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
        match tokio::time::timeout(QUICK, &mut work).await {
            Ok(m) => Turn::one(m),
            Err(_) => {
                let (tx, rx) = mpsc::unbounded_channel();
                tokio::spawn(async move {
                    let _ = tx.send(work.await);
                });
                let first =
                    Message::line(format!("`/ott {title}`: working on it"), visibility, Tone::Working).context(context);
                Turn { first, more: Some(rx), replace: false }
            }
        }
    }
}

fn requester_user(a: &Actor) -> String {
    match a {
        Actor::Chat { user, .. } => user.clone(),
        other => other.label(),
    }
}

fn settled_word(s: State) -> &'static str {
    match s {
        State::Pending => "pending",
        State::Done => "run",
        State::Cancelled => "cancelled",
        State::Rejected => "denied",
        State::Expired => "expired",
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
mod tests {
    use super::*;
    use crate::chat::access::{Grant, Principal};
    use crate::ops::tests::{world, World};

    fn grant(role: Role, who: &str) -> Grant {
        Grant { role, who: vec![Principal::parse(who).expect("who")], events: None, channels: None }
    }

    /// The operations world of `ops::tests` (final on air 20:00-22:00, the clock at 20:30) with
    /// viewers, an operator group and two admins.
    fn desk() -> (World, Desk) {
        let w = world(Duration::ZERO);
        let mut chat = ChatSettings::default();
        chat.access.grants = vec![
            grant(Role::Viewer, "slack:*"),
            grant(Role::Operator, "slack:group:SOPS"),
            grant(Role::Admin, "slack:ULEAD"),
            grant(Role::Admin, "slack:ULEAD2"),
        ];
        let desk = Desk::new(w.ops.clone(), w.definitions.clone(), w.clock.clone()).with_settings(chat);
        (w, desk)
    }

    fn who(user: &str, groups: &[&str]) -> Caller {
        Caller {
            platform: Platform::Slack,
            user: user.into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
            channel: "CLIVE".into(),
        }
    }

    async fn result(turn: Turn) -> Message {
        let mut last = turn.first;
        if let Some(mut rx) = turn.more {
            while let Some(m) = rx.recv().await {
                let done = m.is_final();
                last = m;
                if done {
                    break;
                }
            }
        }
        last
    }

    fn value(m: &Message, prefix: &str) -> String {
        m.buttons.iter().find(|b| b.value.starts_with(prefix)).map(|b| b.value.clone()).expect("button")
    }

    #[tokio::test]
    async fn a_viewer_is_refused_politely_and_the_refusal_is_audited() {
        let (w, desk) = desk();
        let m = desk.command(&who("UVIEW", &[]), "start final").await.first;
        assert_eq!((m.tone, m.visibility), (Tone::Failed, Visibility::Ephemeral));
        assert!(m.reply.headline.starts_with("this needs the operator role on final; you are viewer here"));
        assert!(w.engine.calls().is_empty());
        let rows = w.store.audit(Some("final"), None, true, 10).expect("audit");
        assert!(rows.iter().any(|r| r.actor == "slack:UVIEW" && r.decision == "denied"), "{rows:?}");
    }

    #[tokio::test]
    async fn stop_inside_the_window_needs_a_second_person_and_runs_once() {
        let (w, desk) = desk();
        w.ops
            .execute(&crate::ops::Actor::Schedule, Operation::Deploy { event: "final".into() }, None)
            .await
            .expect("deploy");
        w.ops
            .execute(&crate::ops::Actor::Schedule, Operation::Start { event: "final".into() }, None)
            .await
            .expect("start");
        let op = who("UOP", &["SOPS"]);
        let ask = desk.command(&op, "stop final").await.first;
        assert_eq!((ask.tone, ask.visibility), (Tone::Asking, Visibility::InChannel));
        assert!(ask.reply.notes.iter().any(|n| n.contains("inside its scheduled window")), "{:?}", ask.reply.notes);
        let approve = value(&ask, "approve:");
        let own = desk.press(&op, &approve).await.first;
        assert!(own.reply.headline.contains("a different person must approve"), "{}", own.reply.headline);
        let viewer = desk.press(&who("UVIEW", &[]), &approve).await.first;
        assert_eq!(viewer.tone, Tone::Failed);
        let calls_before = w.engine.calls().len();
        let done = result(desk.press(&who("UOP2", &["SOPS"]), &approve).await).await;
        assert!(done.reply.headline.starts_with("final is IDLE"), "{}", done.reply.headline);
        assert_eq!(w.engine.calls().len(), calls_before + 1, "one stop: {:?}", w.engine.calls());
        let again = desk.press(&who("ULEAD", &[]), &approve).await.first;
        assert!(again.reply.headline.contains("was already run by slack:UOP2"), "{}", again.reply.headline);
        assert_eq!(w.engine.calls().len(), calls_before + 1, "a second approval runs nothing");
        let rows = w.store.audit(Some("final"), None, true, 20).expect("audit");
        let stop = rows.iter().find(|r| r.operation == "stop" && r.decision == "allowed").expect("the stop");
        assert_eq!(stop.actor, "slack:UOP", "the requester's command, run on approval");
        assert!(
            stop.args.to_string().contains("approved by slack:UOP2") && stop.args.to_string().contains("slack:CLIVE"),
            "{}",
            stop.args
        );
    }

    #[tokio::test]
    async fn an_approval_expires_and_then_nothing_runs() {
        let (w, desk) = desk();
        let ask = desk.command(&who("ULEAD", &[]), "teardown final").await.first;
        let approve = value(&ask, "approve:");
        w.clock.advance(chrono::Duration::minutes(16));
        let late = desk.press(&who("ULEAD2", &[]), &approve).await;
        assert!(late.replace, "the request message is replaced");
        assert!(late.first.reply.headline.contains("expired"), "{}", late.first.reply.headline);
        assert!(w.engine.calls().is_empty(), "{:?}", w.engine.calls());
        let rows = w.store.audit(Some("final"), None, true, 20).expect("audit");
        assert!(rows.iter().any(|r| r.decision == "awaiting-approval" && r.actor == "slack:ULEAD"), "{rows:?}");
        assert!(rows.iter().any(|r| r.decision == "expired" && r.actor == "slack:ULEAD2"), "{rows:?}");
    }

    #[tokio::test]
    async fn help_lists_only_what_the_caller_may_run() {
        let (_w, desk) = desk();
        let viewer = desk.command(&who("UVIEW", &[]), "help").await.first.reply.lines.join("\n");
        assert!(viewer.contains("/ott links EVENT") && !viewer.contains("/ott start"), "{viewer}");
        let admin = desk.command(&who("ULEAD", &[]), "help").await.first.reply.lines.join("\n");
        assert!(admin.contains("/ott teardown EVENT") && admin.contains("/ott restart EVENT PIPELINE"), "{admin}");
        let outsider = Caller { platform: Platform::Discord, ..who("UX", &[]) };
        let none = desk.command(&outsider, "help").await.first;
        assert!(none.reply.headline.starts_with("You have no ottd role here"), "{}", none.reply.headline);
    }
}
