//! Slack: `/ott` as a slash command and ottd's buttons, over HTTP ([`http`]: signed
//! requests, [`verify`]) or Socket Mode ([`socket`]), answered in Block Kit ([`blocks`]) with
//! follow-ups to the request's `response_url` ([`api`]).
//!
//! Both transports hand the same payloads to [`Slack`]: a slash command's fields, or an
//! interaction's JSON. Each transport drops replays by the request's own id before that
//! (HTTP: the signature or the trigger id; Socket Mode: the envelope id), [`team`] refuses
//! other workspaces, and [`response_url`] keeps follow-ups on Slack's hosts. The first answer
//! goes back in the acknowledgement (within Slack's 3 s: [`super::deadline`]); progress and the
//! result follow on `response_url`, which takes at most 5 messages: ottd sends at most 3
//! progress edits (the latest step each time, at least [`PROGRESS_GAP`] apart: [`super::pace`])
//! and keeps one for the result.

pub mod api;
pub mod blocks;
pub mod http;
pub mod response_url;
pub mod socket;
pub mod team;
pub mod verify;

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use super::access::Caller;
use super::deadline::ANSWER_WITHIN;
use super::desk::{Desk, Turn};
use super::message::{Message, Tone, Visibility};
use super::pace::{pace, Early, Pacing};
use crate::ops::Platform;
use api::WebApi;

/// Progress edits sent to one `response_url` at most (Slack takes 5 messages in all).
pub const PROGRESS_EDITS: usize = 3;
/// Progress edits are at least this far apart; the latest step wins.
pub const PROGRESS_GAP: Duration = Duration::from_secs(2);
/// Progress that comes sooner than the gap, or past the budget, is dropped; the result goes
/// at once (see [`super::pace`]).
const PACING: Pacing = Pacing { gap: PROGRESS_GAP, progress_limit: Some(PROGRESS_EDITS), early: Early::DropProgress };

/// What a user is told when [`Slack`] already has `max_in_flight` requests in hand.
pub const BUSY: &str = "ottd is busy: try again in a moment";

/// What a slash command brings (form fields over HTTP, the payload in Socket Mode).
#[derive(Debug, Clone, Default)]
pub struct SlashCommand {
    pub user_id: String,
    pub channel_id: String,
    pub text: String,
    pub response_url: String,
    pub team_id: String,
    pub enterprise_id: String,
}

impl SlashCommand {
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> SlashCommand {
        let mut c = SlashCommand::default();
        for (k, v) in pairs {
            match k {
                "user_id" => c.user_id = v,
                "channel_id" => c.channel_id = v,
                "text" => c.text = v,
                "response_url" => c.response_url = v,
                "team_id" => c.team_id = v,
                "enterprise_id" => c.enterprise_id = v,
                _ => {}
            }
        }
        c
    }

    pub fn from_json(v: &Value) -> SlashCommand {
        let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
        SlashCommand {
            user_id: s("user_id"),
            channel_id: s("channel_id"),
            text: s("text"),
            response_url: s("response_url"),
            team_id: s("team_id"),
            enterprise_id: s("enterprise_id"),
        }
    }

    fn from(&self) -> team::From {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_string());
        team::From { team: some(&self.team_id), user_team: None, enterprise: some(&self.enterprise_id) }
    }
}

pub struct Slack {
    pub desk: Arc<Desk>,
    pub api: Arc<WebApi>,
    /// Requests in hand, each from its arrival to its last follow-up (`[chat.slack]
    /// max_in_flight`): past it, the user is told "busy" rather than work piling up (a slow
    /// command's work goes on after its acknowledgement, and a viewer's reads call AWS).
    slots: Arc<Semaphore>,
}

impl Slack {
    pub fn new(desk: Arc<Desk>, api: Arc<WebApi>, max_in_flight: usize) -> Slack {
        Slack { desk, api, slots: Arc::new(Semaphore::new(max_in_flight.max(1))) }
    }

    /// A slot for one more request, if one is free.
    pub fn slot(&self) -> Option<OwnedSemaphorePermit> {
        let slot = self.slots.clone().try_acquire_owned().ok();
        if slot.is_none() {
            tracing::warn!("slack: every [chat.slack] max_in_flight slot is taken: answered busy");
        }
        slot
    }

    /// Whether the request comes from our workspace; if not, audited and the refusal said.
    fn foreign(&self, caller: &Caller, from: &team::From, what: &str) -> Option<Message> {
        let settings = self.desk.settings();
        let (ours, org) = (settings.slack.team_id.as_deref(), settings.slack.enterprise_id.as_deref());
        let why = team::check(ours, org, from).err()?;
        tracing::warn!(user = %caller.label(), "slack: refused: {why}");
        self.desk.refuse_outsider(caller, what, &why.to_string(), from.describe());
        Some(Message::line(team::REFUSAL, Visibility::Ephemeral, Tone::Failed))
    }

    /// Tell the clicker ottd is busy (a click's acknowledgement carries no message), briefly:
    /// this runs before the acknowledgement.
    pub async fn busy_click(&self, payload: &Value) {
        let Some(url) = payload["response_url"].as_str() else { return };
        let mut body = blocks::response(&Message::line(BUSY, Visibility::Ephemeral, Tone::Failed), false);
        body["replace_original"] = Value::Bool(false);
        match tokio::time::timeout(Duration::from_secs(1), self.api.respond(url, &body)).await {
            Ok(Err(e)) => tracing::warn!("slack: cannot say busy on response_url: {e}"),
            Err(_) => tracing::warn!("slack: cannot say busy on response_url: no answer within 1s"),
            Ok(Ok(())) => {}
        }
    }

    async fn caller(&self, user: &str, channel: &str) -> Caller {
        Caller {
            platform: Platform::Slack,
            user: user.to_string(),
            groups: self.api.groups_of(user).await,
            channel: channel.to_string(),
        }
    }

    /// A slash command: the acknowledgement's body, within [`ANSWER_WITHIN`] whatever the
    /// transport; when the answer takes longer (Slack's user groups slow to read, say), "working
    /// on it" now and the answer on `response_url`. Follow-ups go on by themselves.
    pub async fn command(self: &Arc<Self>, c: &SlashCommand) -> Value {
        let Some(slot) = self.slot() else {
            return blocks::response(&Message::line(BUSY, Visibility::Ephemeral, Tone::Failed), false);
        };
        let mut work = Box::pin({
            let (slack, c) = (self.clone(), c.clone());
            async move { slack.answer(&c, slot).await }
        });
        match tokio::time::timeout(ANSWER_WITHIN, &mut work).await {
            Ok(body) => body,
            Err(_) => {
                tracing::warn!(
                    "slack: /ott {:?} took over {ANSWER_WITHIN:?}: its answer follows on response_url",
                    c.text
                );
                let (api, url) = (self.api.clone(), c.response_url.clone());
                self.desk.tasks().spawn(async move {
                    let body = work.await;
                    if let Err(e) = api.respond(&url, &body).await {
                        tracing::warn!("slack: late /ott answer not delivered: {e}");
                    }
                });
                blocks::response(&Message::line("working on it…", Visibility::Ephemeral, Tone::Working), false)
            }
        }
    }

    /// The first answer to a slash command, however long it takes; `slot` is held until its
    /// last follow-up.
    async fn answer(&self, c: &SlashCommand, slot: OwnedSemaphorePermit) -> Value {
        if c.user_id.is_empty() {
            return blocks::response(
                &Message::line("no user in the request", Visibility::Ephemeral, Tone::Failed),
                false,
            );
        }
        // Checked before anything is asked of Slack for this user.
        let outsider = Caller {
            platform: Platform::Slack,
            user: c.user_id.clone(),
            groups: Vec::new(),
            channel: c.channel_id.clone(),
        };
        if let Some(refusal) = self.foreign(&outsider, &c.from(), &c.text) {
            return blocks::response(&refusal, false);
        }
        let caller = self.caller(&c.user_id, &c.channel_id).await;
        let turn = self.desk.command(&caller, &c.text).await;
        tracing::info!(user = %caller.label(), channel = %caller.channel_label(), text = %c.text, "slack: /ott");
        let first = blocks::response(&turn.first, false);
        self.follow(turn.more, c.response_url.clone(), slot);
        first
    }

    /// A block action (a button ottd put on a message). Everything is sent to `response_url`:
    /// interactions take no message in their acknowledgement. `slot` (see [`Slack::slot`]) is
    /// held until the last follow-up.
    pub async fn interaction(&self, payload: &Value, slot: OwnedSemaphorePermit) {
        if payload["type"] != "block_actions" {
            return;
        }
        let Some(action) = payload["actions"].as_array().and_then(|a| a.first()) else { return };
        let is_ours = action["action_id"].as_str().is_some_and(|a| a.starts_with(blocks::ACTION_PREFIX));
        let (Some(value), true) = (action["value"].as_str(), is_ours) else { return };
        let user = payload["user"]["id"].as_str().unwrap_or_default();
        let channel =
            payload["channel"]["id"].as_str().or(payload["container"]["channel_id"].as_str()).unwrap_or_default();
        let response_url = payload["response_url"].as_str().unwrap_or_default().to_string();
        let outsider = Caller {
            platform: Platform::Slack,
            user: user.to_string(),
            groups: Vec::new(),
            channel: channel.to_string(),
        };
        if let Some(refusal) = self.foreign(&outsider, &team::From::interaction(payload), value) {
            let mut body = blocks::response(&refusal, false);
            body["replace_original"] = Value::Bool(false);
            if let Err(e) = self.api.respond(&response_url, &body).await {
                tracing::warn!("slack: cannot answer a button on response_url: {e}");
            }
            return;
        }
        let caller = self.caller(user, channel).await;
        tracing::info!(user = %caller.label(), channel = %caller.channel_label(), value, "slack: button");
        let Turn { first, more, replace } = self.desk.press(&caller, value).await;
        // An ephemeral message (a confirmation) cannot become the channel's: it is removed,
        // and what the click started is said in the channel in new messages.
        let from_ephemeral = payload["container"]["is_ephemeral"] == Value::Bool(true);
        if replace && from_ephemeral && first.visibility == Visibility::InChannel {
            let delete = serde_json::json!({"delete_original": true});
            if let Err(e) = self.api.respond(&response_url, &delete).await {
                tracing::warn!("slack: cannot remove an answered confirmation: {e}");
            }
            let mut body = blocks::response(&first, false);
            body["replace_original"] = Value::Bool(false);
            if let Err(e) = self.api.respond(&response_url, &body).await {
                tracing::warn!("slack: cannot answer a button on response_url: {e}");
            }
            self.follow_new(more, response_url, slot);
            return;
        }
        let mut body = blocks::response(&first, replace);
        if !replace {
            body["replace_original"] = Value::Bool(false);
        }
        if let Err(e) = self.api.respond(&response_url, &body).await {
            tracing::warn!("slack: cannot answer a button on response_url: {e}");
        }
        self.follow(more, response_url, slot);
    }

    /// Only the result of a turn, as a new message (its first message was new too, and edits
    /// would land on the removed original).
    fn follow_new(
        &self,
        more: Option<mpsc::UnboundedReceiver<Message>>,
        response_url: String,
        slot: OwnedSemaphorePermit,
    ) {
        let Some(mut rx) = more else { return };
        let api = self.api.clone();
        self.desk.tasks().spawn(async move {
            let _slot = slot;
            let only_result = Pacing { gap: Duration::ZERO, progress_limit: Some(0), early: Early::DropProgress };
            pace(&mut rx, only_result, Instant::now(), |m, _| {
                let mut body = blocks::response(&m, false);
                body["replace_original"] = Value::Bool(false);
                let (api, url) = (api.clone(), response_url.clone());
                async move {
                    if let Err(e) = api.respond(&url, &body).await {
                        tracing::warn!("slack: result not delivered: {e}");
                    }
                }
            })
            .await;
        });
    }

    /// Send the rest of a turn to `response_url`, paced (see the module doc).
    fn follow(&self, more: Option<mpsc::UnboundedReceiver<Message>>, response_url: String, slot: OwnedSemaphorePermit) {
        let Some(mut rx) = more else { return };
        let api = self.api.clone();
        self.desk.tasks().spawn(async move {
            let _slot = slot;
            pace(&mut rx, PACING, Instant::now(), |m, _| {
                let body = blocks::response(&m, true);
                let (api, url) = (api.clone(), response_url.clone());
                async move {
                    if let Err(e) = api.respond(&url, &body).await {
                        tracing::warn!("slack: follow-up not delivered: {e}");
                    }
                }
            })
            .await;
        });
    }
}
