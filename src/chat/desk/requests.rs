//! The part of the front desk that asks before it acts: a confirmation or an approval is
//! kept as a request ([`Desk::ask`]), and a pressed button settles it ([`Desk::press`]).
//!
//! A click counts only in the request's own channel (a button copied elsewhere, or a forged
//! click, must not run it where other people hold other roles), and an approval runs the
//! command only if the requester still holds the role it needs there: grants may have been
//! reloaded since the request, and the command runs as the requester. The requester's groups
//! are those the platform told with the request (Discord sends roles only with the member's
//! own interaction).

use chrono::{DateTime, Utc};
use serde_json::json;

use super::{actor_of, mention, Desk, Turn};
use crate::chat::access::needed;
use crate::chat::access::Caller;
use crate::chat::approval::{self, Click, Kind, Request, Situation, State, Verdict};
use crate::chat::grammar::Command;
use crate::chat::message::{Button, Message, Style, Tone, Visibility};
use crate::live::LiveCommand;
use crate::ops::{Actor, Operation, Reply};

impl Desk {
    /// Keep a request for a confirmation or approval and ask for it.
    pub(super) async fn ask(&self, caller: &Caller, op: &Operation, kind: Kind, situation: Situation) -> Turn {
        let now = self.clock.now();
        let within = match kind {
            Kind::Confirm => self.settings().approvals.confirm_within,
            Kind::Approve => self.settings().approvals.approve_within,
        };
        let expires = now + chrono::Duration::from_std(within).unwrap_or(chrono::Duration::minutes(15));
        let text = self.text_of(op);
        let id = match self
            .ops
            .store()
            .request_open(kind, &caller.label(), &caller.groups, &caller.channel_label(), &text, now, expires)
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
                    Operation::Live(LiveCommand::Switch { to, .. }) => {
                        format!("Switch {event} to {to}? It is on air now: viewers see that input from the switch on.")
                    }
                    Operation::Live(_) => format!("Run `/ott {text}`? {event} is on air now: viewers see it."),
                    Operation::Teardown { .. } => format!("Tear down {event}? Everything it owns in AWS is deleted."),
                    _ => format!("Run `/ott {text}` on {event}?"),
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
                if situation.in_window {
                    reply.notes.push(format!("{event} is inside its scheduled window now."));
                }
                Message::new(reply, Visibility::InChannel, Tone::Asking)
                    .button(Button::new("Approve", format!("approve:{id}"), Style::Primary))
                    .button(Button::new("Deny", format!("deny:{id}"), Style::Danger))
            }
        };
        Turn::one(m.context(self.context(op.event())))
    }

    /// A pressed button: its value as ottd set it. What the click does is
    /// [`approval::decide`]'s; here it is read (`pressed`) and carried out.
    pub async fn press(&self, caller: &Caller, value: &str) -> Turn {
        if let Some(text) = value.strip_prefix("run:") {
            return self.command(caller, text).await;
        }
        let p = match self.pressed(caller, value) {
            Ok(p) => p,
            Err(why) => return failed(why),
        };
        let may = self.settings().access.check(caller, &Command::Op(p.op.clone())).is_ok();
        let now = self.clock.now();
        match approval::decide(&p.req, p.click, &caller.label(), may, now) {
            Verdict::Refuse(why) => {
                let args = json!({"request": p.req.id, "click": p.click.as_str()});
                self.audit(caller, &p.op, "denied", args, Some(why.clone()));
                failed(why)
            }
            Verdict::Settled { state, by } => failed(format!(
                "`/ott {}` was already {}{}",
                p.req.command,
                settled_word(state),
                by.map(|b| format!(" by {b}")).unwrap_or_default()
            )),
            Verdict::Run if p.req.kind == Kind::Approve => self.approved(caller, p, now).await,
            Verdict::Run => self.confirmed(caller, p, now).await,
            Verdict::Cancel => self.closed(caller, p, State::Cancelled, now).await,
            Verdict::Reject => self.closed(caller, p, State::Rejected, now).await,
            Verdict::Expired => self.closed(caller, p, State::Expired, now).await,
        }
    }

    /// A click read and checked: a button ottd set, on a request it still keeps, whose command
    /// still names an event ottd knows, clicked in the request's own channel. Else why not, for
    /// the clicker.
    fn pressed(&self, caller: &Caller, value: &str) -> Result<Pressed, String> {
        let parsed = value.split_once(':').and_then(|(c, id)| Some((Click::parse(c)?, id.parse::<i64>().ok()?)));
        let Some((click, id)) = parsed else {
            return Err("ottd does not know that button".into());
        };
        let req = match self.ops.store().request(id) {
            Ok(Some(r)) => r,
            Ok(None) => return Err("that request is gone (kept for a week): run the command again".into()),
            Err(e) => return Err(e.to_string()),
        };
        let Ok(Command::Op(op)) = self.parse(&req.command) else {
            return Err(format!("`{}` no longer names an event ottd knows", req.command));
        };
        if caller.channel_label() != req.channel {
            let why = format!("this button belongs to a request made in another channel ({})", req.channel);
            let args = json!({"request": id, "click": click.as_str(), "request_channel": req.channel});
            self.audit(caller, &op, "denied", args, Some(why.clone()));
            return Err(why);
        }
        Ok(Pressed { click, req, op })
    }

    /// A second person approved: the command runs as the requester, if they still hold the
    /// role it needs there.
    async fn approved(&self, caller: &Caller, p: Pressed, now: DateTime<Utc>) -> Turn {
        let Pressed { click, req, op } = p;
        let requester = match self.requester(&req) {
            Ok(r) => r,
            Err(e) => return failed(e),
        };
        if let Err(denied) = self.settings().access.check(&requester, &Command::Op(op.clone())) {
            let why = format!(
                "{} no longer holds the {} role `/ott {}` needs here: it will not run",
                req.requester, denied.need, req.command
            );
            let args = json!({"request": req.id, "click": click.as_str(), "requester": req.requester});
            self.audit(caller, &op, "denied", args, Some(why.clone()));
            return failed(why);
        }
        if let Some(t) = self.settle_or_say(req.id, State::Done, &caller.label(), now, &req.command).await {
            return t;
        }
        let why = format!("approved by {} (request {})", caller.label(), req.id);
        self.run(&requester, op, Some(why)).await.replacing()
    }

    /// The requester confirmed: the clicker is the requester, in the request's channel.
    async fn confirmed(&self, caller: &Caller, p: Pressed, now: DateTime<Utc>) -> Turn {
        let Pressed { req, op, .. } = p;
        if let Some(t) = self.settle_or_say(req.id, State::Done, &caller.label(), now, &req.command).await {
            return t;
        }
        self.run(caller, op, Some(format!("confirmed (request {})", req.id))).await.replacing()
    }

    /// A request closed without running (`Cancelled`, `Rejected` or `Expired`): settled,
    /// audited, and said where the request was.
    async fn closed(&self, caller: &Caller, p: Pressed, state: State, now: DateTime<Utc>) -> Turn {
        let Pressed { req, op, .. } = p;
        if let Some(t) = self.settle_or_say(req.id, state, &caller.label(), now, &req.command).await {
            return t;
        }
        let vis = if req.kind == Kind::Approve { Visibility::InChannel } else { Visibility::Ephemeral };
        let who = mention(caller.platform, &caller.label());
        let (id, requester) = (req.id, &req.requester);
        let text = match state {
            State::Cancelled => {
                self.audit(caller, &op, "cancelled", json!({"request": id}), None);
                format!("`/ott {}` cancelled by {who}", req.command)
            }
            State::Rejected => {
                let args = json!({"request": id, "requester": requester});
                self.audit(caller, &op, "rejected", args, Some("denied by a second person".into()));
                format!("`/ott {}` denied by {who}: it will not run", req.command)
            }
            _ => {
                let args = json!({"request": id, "requester": requester});
                self.audit(caller, &op, "expired", args, Some("expired".into()));
                format!("`/ott {}` expired at {}: run it again", req.command, req.expires_at.format("%H:%M UTC"))
            }
        };
        Turn::one(Message::line(text, vis, Tone::Failed)).replacing()
    }
}

/// A click on a request, read and checked by [`Desk::pressed`].
struct Pressed {
    click: Click,
    req: Request,
    /// The request's command, parsed again against today's events.
    op: Operation,
}

/// A refusal or failure only the clicker sees.
fn failed(text: impl Into<String>) -> Turn {
    Turn::one(Message::line(text, Visibility::Ephemeral, Tone::Failed))
}

impl Desk {
    /// The requester of `req`, as they asked: their groups then, the request's channel.
    fn requester(&self, req: &Request) -> Result<Caller, String> {
        let Some(Actor::Chat { platform, user }) = actor_of(&req.requester) else {
            return Err(format!("the request names no chat user ({})", req.requester));
        };
        let groups = self.ops.store().request_groups(req.id).map_err(|e| e.to_string())?;
        let channel = req.channel.split_once(':').map_or(req.channel.as_str(), |(_, c)| c).to_string();
        Ok(Caller { platform, user, groups, channel })
    }

    /// Settle request `id`; `None` when done, else the answer to give (someone else settled it
    /// first, or the state file failed).
    async fn settle_or_say(&self, id: i64, state: State, by: &str, now: DateTime<Utc>, command: &str) -> Option<Turn> {
        match self.ops.store().request_settle(id, state, by, now).await {
            Ok(true) => None,
            Ok(false) => Some(Turn::one(Message::line(
                format!("`/ott {command}` was decided a moment ago by someone else"),
                Visibility::Ephemeral,
                Tone::Failed,
            ))),
            Err(e) => Some(Turn::one(Message::line(format!("{e}"), Visibility::Ephemeral, Tone::Failed))),
        }
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
