//! Discord: `/ott` as an application command and ottd's buttons, arriving over the HTTP
//! interactions endpoint ([`http`], signed: [`verify`]) or the gateway ([`gateway`], serenity),
//! answered as embeds ([`embeds`]) with edits of the original response ([`api`]). The command's
//! definition and the way from its options back to `/ott …` text live in [`command`].
//!
//! Both transports hand the interaction's JSON to [`Discord::interaction`], which answers the
//! initial response (the HTTP endpoint returns it, the gateway posts it to the callback URL)
//! and what follows ([`Follow`], delivered by [`Discord::follow`]).
//!
//! Expected flow: Discord wants the initial response within 3 s. The front desk answers at once
//! for long work ("under way") and within [`super::deadline::QUICK`] otherwise, so ottd
//! answers type 4 (a message) with the desk's first message, which carries the right
//! visibility: only the desk knows whether the answer is ephemeral (a refusal) or for the
//! channel (a deploy), and Discord fixes that at the first response. Should the desk not have
//! answered within [`super::deadline::ANSWER_WITHIN`], ottd defers (type 5, visibility
//! guessed from the command word) and edits the result in. Progress and the result replace the original response
//! (`PATCH …/messages/@original`), at most one edit per [`EDIT_GAP`], the latest message
//! winning; the final one is always sent.

pub mod api;
pub mod command;
pub mod embeds;
pub mod gateway;
pub mod http;
pub mod verify;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;
use tracing::Instrument;

use super::access::{self, Caller};
use super::deadline::ANSWER_WITHIN;
use super::desk::{Desk, Turn};
use super::message::{Message, Tone, Visibility};
use super::pace::{pace, Early, Pacing};
use crate::ops::Platform;
use api::Api;

/// Edits of one response are at least this far apart (progress; the result waits too, so
/// that it never overtakes the initial response).
pub const EDIT_GAP: Duration = Duration::from_secs(1);
/// Every edit waits its turn, progress and result alike; none is dropped but for a later one.
const PACING: Pacing = Pacing { gap: EDIT_GAP, progress_limit: None, early: Early::Wait };
/// An interaction token works 15 minutes; after this, results go to the channel as the bot.
pub const TOKEN_LIFE: Duration = Duration::from_secs(14 * 60);

/// What a user is told when every slot is taken.
const BUSY: &str = "ottd is busy: try again in a moment";

/// Interaction types.
const PING: u64 = 1;
const APPLICATION_COMMAND: u64 = 2;
const MESSAGE_COMPONENT: u64 = 3;
const AUTOCOMPLETE: u64 = 4;

/// Interaction callback types.
const PONG: u64 = 1;
const CHANNEL_MESSAGE: u64 = 4;
const DEFERRED_CHANNEL_MESSAGE: u64 = 5;
const UPDATE_MESSAGE: u64 = 7;
const AUTOCOMPLETE_RESULT: u64 = 8;

pub struct Discord {
    desk: Arc<Desk>,
    api: Arc<Api>,
    /// Interactions in hand, each from its arrival to its last edit (`[chat.discord]
    /// max_in_flight`): past it, the user is told "busy" rather than work piling up.
    slots: Arc<Semaphore>,
}

/// A slot of [`Discord::slots`], shared by the desk's work and the edits that follow it.
type Slot = Arc<OwnedSemaphorePermit>;

/// What follows the initial response: the desk's further messages, or (when ottd deferred)
/// the whole turn once the desk has it.
pub struct Follow {
    application: String,
    token: String,
    channel: String,
    /// When the interaction arrived (its token lives 15 minutes from then).
    arrived: Instant,
    rest: Rest,
    /// Held until the last edit is sent.
    slot: Option<Slot>,
}

enum Rest {
    Messages(mpsc::UnboundedReceiver<Message>),
    Turn(oneshot::Receiver<Turn>),
}

/// The initial response, and what follows it.
pub struct Answer {
    pub response: Value,
    pub follow: Option<Follow>,
}

impl Answer {
    fn now(response: Value) -> Answer {
        Answer { response, follow: None }
    }
}

/// A PING (Discord checking the endpoint): answered PONG, acts on nothing.
pub(crate) fn is_ping(v: &Value) -> bool {
    v["type"].as_u64() == Some(PING)
}

/// A snowflake, as Discord sends it (a string) or as some serializers do (a number).
pub(crate) fn id_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Who asked where: the member in a guild, the user in a DM.
fn caller_of(v: &Value) -> Option<Caller> {
    let user = id_of(&v["member"]["user"]["id"]).or_else(|| id_of(&v["user"]["id"]))?;
    let groups = v["member"]["roles"].as_array().into_iter().flatten().filter_map(id_of).collect();
    let channel = id_of(&v["channel_id"]).or_else(|| id_of(&v["channel"]["id"])).unwrap_or_default();
    Some(Caller { platform: Platform::Discord, user, groups, channel })
}

/// A message as an edit's body: everything but the flags (ephemerality is fixed at the first
/// response; Discord refuses other flags on edits).
pub fn edit_body(m: &Message) -> Value {
    let mut v = embeds::message(m);
    if let Some(o) = v.as_object_mut() {
        o.remove("flags");
    }
    v
}

fn refusal(text: &str) -> Value {
    let m = Message::line(text, Visibility::Ephemeral, Tone::Failed);
    json!({"type": CHANNEL_MESSAGE, "data": embeds::message(&m)})
}

impl Discord {
    pub fn new(desk: Arc<Desk>, api: Arc<Api>, max_in_flight: usize) -> Discord {
        Discord { desk, api, slots: Arc::new(Semaphore::new(max_in_flight.max(1))) }
    }

    pub fn api(&self) -> &Arc<Api> {
        &self.api
    }

    pub fn desk(&self) -> &Arc<Desk> {
        &self.desk
    }

    /// An interaction's JSON (as Discord sends it to the endpoint or over the gateway): the
    /// initial response, and what follows it.
    pub async fn interaction(&self, v: &Value) -> Answer {
        let kind = v["type"].as_u64().unwrap_or_default();
        if kind == PING {
            return Answer::now(json!({"type": PONG}));
        }
        // A refusal in the form the interaction takes (autocomplete only takes choices).
        let refuse = |text: &str| match kind {
            AUTOCOMPLETE => Answer::now(json!({"type": AUTOCOMPLETE_RESULT, "data": {"choices": []}})),
            _ => Answer::now(refusal(text)),
        };
        let Some(caller) = caller_of(v) else {
            tracing::warn!(kind, "discord: an interaction without a user");
            return refuse("ottd cannot tell who asked");
        };
        // `[chat.discord] guild_id` (as reloaded): interactions from anywhere else, DMs
        // included, are refused, so a `discord:*` grant means "anyone in our server", not
        // anyone who installs the app.
        let here = id_of(&v["guild_id"]);
        let ours = self.desk.settings().discord.guild_id;
        if let Some(g) = ours.filter(|g| here.as_deref() != Some(g.to_string().as_str())) {
            let seen = here.as_deref().unwrap_or("none (a DM)");
            tracing::warn!(user = %caller.label(), guild = seen, ours = g, "discord: refused an interaction from outside ottd's server");
            // Autocomplete is keystrokes, not a request: refused, not audited.
            if kind != AUTOCOMPLETE {
                let asked =
                    command::text_of(&v["data"]).ok().or_else(|| v["data"]["custom_id"].as_str().map(str::to_string));
                let why = format!("interaction from guild {seen}, not {g}");
                self.desk.refuse_outsider(&caller, &asked.unwrap_or_default(), &why, json!({"guild": seen}));
            }
            return refuse("ottd answers only in its own Discord server");
        }
        let span = tracing::info_span!("discord", user = %caller.label(), channel = %caller.channel_label());
        self.answer(kind, v, caller).instrument(span).await
    }

    async fn answer(&self, kind: u64, v: &Value, caller: Caller) -> Answer {
        let data = &v["data"];
        let (application, token) =
            (id_of(&v["application_id"]).unwrap_or_default(), v["token"].as_str().unwrap_or_default());
        let (channel, arrived) = (caller.channel.clone(), Instant::now());
        let follow = move |rest| Follow { application, token: token.to_string(), channel, arrived, rest, slot: None };
        let slot = || {
            let slot = self.slots.clone().try_acquire_owned().ok().map(Arc::new);
            if slot.is_none() {
                tracing::warn!("discord: every [chat.discord] max_in_flight slot is taken: answered busy");
            }
            slot
        };
        match kind {
            AUTOCOMPLETE => {
                let typed = command::focused(data).unwrap_or_default();
                let choices: Vec<Value> =
                    self.desk.complete(&typed).into_iter().map(|id| json!({"name": id, "value": id})).collect();
                Answer::now(json!({"type": AUTOCOMPLETE_RESULT, "data": {"choices": choices}}))
            }
            APPLICATION_COMMAND => {
                let text = match command::text_of(data) {
                    Ok(t) => t,
                    Err(e) => return Answer::now(refusal(&format!("ottd does not know that command: {e}"))),
                };
                tracing::info!(text = %text, "discord: /ott");
                let Some(slot) = slot() else { return Answer::now(refusal(BUSY)) };
                let first = text.split_whitespace().next().unwrap_or_default().to_lowercase();
                // Commands that change something answer for the channel (see the desk), so a
                // deferred answer to them is not ephemeral.
                let visibility = if access::changes(&first) { Visibility::InChannel } else { Visibility::Ephemeral };
                let desk = self.desk.clone();
                let work = async move { desk.command(&caller, &text).await };
                self.respond(work, visibility, follow, slot).await
            }
            MESSAGE_COMPONENT => {
                let Some(value) = data["custom_id"].as_str().map(str::to_string) else {
                    return Answer::now(refusal("ottd does not know that button"));
                };
                tracing::info!(value = %value, "discord: button");
                let Some(slot) = slot() else { return Answer::now(refusal(BUSY)) };
                // An ephemeral message (a confirmation) cannot become the channel's: what a
                // click on it starts for the channel is said in a new message instead.
                let from_ephemeral = v["message"]["flags"].as_u64().is_some_and(|f| f & embeds::EPHEMERAL != 0);
                let desk = self.desk.clone();
                let work = async move {
                    let mut turn = desk.press(&caller, &value).await;
                    if from_ephemeral && turn.first.visibility == Visibility::InChannel {
                        turn.replace = false;
                    }
                    turn
                };
                self.respond(work, Visibility::Ephemeral, follow, slot).await
            }
            other => {
                tracing::warn!(kind = other, "discord: an interaction type ottd does not handle");
                Answer::now(refusal("ottd does not handle this kind of interaction"))
            }
        }
    }

    /// Run the desk's `work`; answer its first message, or defer when it takes too long.
    /// `slot` is held by the work and by what follows, until both are done.
    async fn respond(
        &self,
        work: impl Future<Output = Turn> + Send + 'static,
        deferred: Visibility,
        follow: impl FnOnce(Rest) -> Follow,
        slot: Slot,
    ) -> Answer {
        let follow = |rest| Follow { slot: Some(slot.clone()), ..follow(rest) };
        let (tx, mut rx) = oneshot::channel();
        let held = slot.clone();
        self.desk.tasks().spawn(
            async move {
                let _slot = held;
                let _ = tx.send(work.await);
            }
            .in_current_span(),
        );
        match tokio::time::timeout(ANSWER_WITHIN, &mut rx).await {
            Ok(Ok(Turn { first, more, replace })) => {
                let response = if replace {
                    json!({"type": UPDATE_MESSAGE, "data": edit_body(&first)})
                } else {
                    json!({"type": CHANNEL_MESSAGE, "data": embeds::message(&first)})
                };
                Answer { response, follow: more.map(|m| follow(Rest::Messages(m))) }
            }
            Ok(Err(_)) => Answer::now(refusal("ottd failed to answer (see its log)")),
            Err(_) => {
                tracing::warn!("discord: the desk is slow: deferring the answer");
                let flags = if deferred == Visibility::Ephemeral { embeds::EPHEMERAL } else { 0 };
                Answer {
                    response: json!({"type": DEFERRED_CHANNEL_MESSAGE, "data": {"flags": flags}}),
                    follow: Some(follow(Rest::Turn(rx))),
                }
            }
        }
    }

    /// Deliver what follows an initial response, in the background.
    pub fn follow(&self, f: Option<Follow>) {
        let Some(f) = f else { return };
        let api = self.api.clone();
        self.desk.tasks().spawn(deliver(api, f).in_current_span());
    }
}

async fn deliver(api: Arc<Api>, f: Follow) {
    let Follow { application, token, channel, arrived, rest, slot: _slot } = f;
    let edit = |m: Message, retry: bool| {
        let (api, application, token, channel) = (api.clone(), application.clone(), token.clone(), channel.clone());
        async move {
            let late = arrived.elapsed() >= TOKEN_LIFE;
            let mut result = if late { Ok(()) } else { api.edit_original(&application, &token, &edit_body(&m)).await };
            if retry && matches!(&result, Err(e) if e.is_gone()) {
                // The initial response may not be in place yet.
                tokio::time::sleep(EDIT_GAP).await;
                result = api.edit_original(&application, &token, &edit_body(&m)).await;
            }
            let gone = matches!(&result, Err(e) if e.is_gone());
            if let Err(e) = &result {
                tracing::warn!("discord: edit not delivered: {e}");
            }
            if m.is_final() && (late || gone) {
                // The token has expired: the result still reaches the channel when it may.
                if m.visibility == Visibility::InChannel && api.has_bot_token() && !channel.is_empty() {
                    if let Err(e) = api.post_channel(&channel, &edit_body(&m)).await {
                        tracing::warn!("discord: result not delivered to the channel either: {e}");
                    }
                } else {
                    tracing::warn!("discord: the interaction expired before its result: not delivered");
                }
            }
        }
    };
    let mut rx = match rest {
        Rest::Messages(rx) => rx,
        Rest::Turn(turn) => {
            let Ok(Turn { first, more, .. }) = turn.await else {
                edit(Message::line("ottd failed to answer (see its log)", Visibility::Ephemeral, Tone::Failed), true)
                    .await;
                return;
            };
            edit(first, true).await;
            match more {
                Some(rx) => rx,
                None => return,
            }
        }
    };
    if !pace(&mut rx, PACING, Instant::now(), edit).await {
        edit(Message::line("the operation ended without an answer", Visibility::Ephemeral, Tone::Failed), false).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caller_is_the_member_in_a_guild_and_the_user_in_a_dm() {
        let guild = json!({
            "member": {"user": {"id": "80351110224678912"}, "roles": ["111", "222"]},
            "channel_id": "555", "guild_id": "1"
        });
        let c = caller_of(&guild).expect("caller");
        assert_eq!(
            (c.user.as_str(), c.groups.clone(), c.channel.as_str()),
            ("80351110224678912", vec!["111".to_string(), "222".to_string()], "555")
        );
        assert_eq!(c.label(), "discord:80351110224678912");
        let dm = json!({"user": {"id": 42}, "channel": {"id": "9"}});
        let c = caller_of(&dm).expect("caller");
        assert_eq!((c.user.as_str(), c.groups.len(), c.channel.as_str()), ("42", 0, "9"));
        assert!(caller_of(&json!({"member": {"user": {}}})).is_none());
    }

    #[test]
    fn edits_never_carry_the_ephemeral_flag() {
        let m = Message::line("x", Visibility::Ephemeral, Tone::Done);
        assert_eq!(embeds::message(&m)["flags"], embeds::EPHEMERAL);
        assert!(edit_body(&m).get("flags").is_none());
    }
}
