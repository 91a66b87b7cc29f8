//! Chat (Slack, Discord): one more actor over the operations layer.
//!
//! - [`grammar`]: `/ott …` text → a command, with "did you mean";
//! - [`access`]: who may run what (roles from `[[chat.grant]]`, default deny for changes);
//! - [`approval`]: confirmations and the two-person rule;
//! - [`deadline`]: the one budget for a first answer, and how the desk and adapters share it;
//! - [`desk`]: the front desk every platform calls, which runs the operations layer;
//! - [`message`]: the platform-neutral message, rendered by [`slack::blocks`] and
//!   [`discord::embeds`];
//! - [`pace`]: "latest progress wins", how each adapter paces a turn's follow-ups;
//! - [`slack`], [`discord`]: the adapters (signatures, HTTP endpoints, Socket Mode, gateway,
//!   follow-ups);
//! - [`secrets`]: tokens from the environment or a file, never from ottd.toml.

pub mod access;
pub mod approval;
pub mod deadline;
pub mod desk;
pub mod discord;
pub mod grammar;
pub mod message;
pub mod notify;
pub mod pace;
pub mod secrets;
pub mod slack;

use std::sync::Arc;

use crate::clock::Clock;
use crate::config::chat::ChatSettings;
use crate::ops::{Definitions, Ops};
use desk::Desk;
use secrets::Secrets;

/// The chat adapters the daemon runs, as its configuration and secrets allow.
pub struct Chat {
    /// Routes to merge into the daemon's HTTP listener (`/slack/*`, `/discord/*`).
    pub routes: axum::Router,
    /// The front desk, to hand it the grants and approval rules of a reloaded configuration.
    pub desk: Arc<Desk>,
}

/// The platforms' HTTP APIs, made once from the secrets: the notifier and the adapters share
/// them (and their connection pools).
pub struct Clients {
    /// When any Slack secret is set.
    pub slack: Option<Arc<slack::api::WebApi>>,
    /// When any Discord secret is set.
    pub discord: Option<Arc<discord::api::Api>>,
}

impl Clients {
    pub fn new(chat: &ChatSettings, secrets: &Secrets) -> Clients {
        let any_slack = secrets.slack_bot_token.is_some()
            || secrets.slack_app_token.is_some()
            || secrets.slack_signing_secret.is_some();
        let slack = any_slack.then(|| {
            Arc::new(slack::api::WebApi::new(
                &chat.slack.api_url,
                secrets.slack_bot_token.clone(),
                secrets.slack_app_token.clone(),
                &chat.slack.response_hosts,
            ))
        });
        let any_discord = secrets.discord_token.is_some() || secrets.discord_public_key.is_some();
        let discord =
            any_discord.then(|| Arc::new(discord::api::Api::new(&chat.discord.api_url, secrets.discord_token.clone())));
        Clients { slack, discord }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ChatError {
    #[error(transparent)]
    Secrets(#[from] secrets::SecretsError),
    #[error("{0}")]
    Discord(String),
}

impl Chat {
    /// The secrets, read once at start (env first, then `[chat] secrets_file`).
    pub fn secrets(chat: &ChatSettings) -> Result<Secrets, ChatError> {
        Ok(Secrets::load(chat.secrets_file.as_deref(), |k| std::env::var(k).ok())?)
    }

    /// Notices to the Slack and Discord channels named in events' `notify` lists, when a bot
    /// token is there to post them.
    pub fn notifier(
        clients: &Clients,
        tasks: &tokio_util::task::TaskTracker,
        stop: &tokio_util::sync::CancellationToken,
    ) -> Option<notify::ChatNotifier> {
        let slack = clients.slack.clone().filter(|a| a.has_bot_token()).map(|a| a as Arc<dyn notify::ChannelPoster>);
        let discord =
            clients.discord.clone().filter(|a| a.has_bot_token()).map(|a| a as Arc<dyn notify::ChannelPoster>);
        (slack.is_some() || discord.is_some()).then(|| notify::ChatNotifier::start(slack, discord, tasks, stop.clone()))
    }

    /// Start what the secrets allow; say at start what is on and what is off, and why.
    pub fn start(
        chat: &ChatSettings,
        secrets: &Secrets,
        clients: &Clients,
        ops: Arc<Ops>,
        definitions: Arc<dyn Definitions>,
        clock: Arc<dyn Clock>,
        shutdown: tokio_util::sync::CancellationToken,
    ) -> Result<Chat, ChatError> {
        let desk = Arc::new(Desk::new(ops, definitions, clock));
        let mut routes = axum::Router::new();
        if let Some(api) = &clients.slack {
            let s = Arc::new(slack::Slack::new(desk.clone(), api.clone(), chat.slack.max_in_flight));
            match (&secrets.slack_signing_secret, chat.slack.mode.http()) {
                (Some(secret), true) => {
                    routes = routes.merge(slack::http::routes(s.clone(), secret.clone()));
                    tracing::info!("chat: Slack on POST /slack/commands and /slack/interactions");
                }
                (None, true) => tracing::warn!("chat: Slack HTTP endpoints off: no SLACK_SIGNING_SECRET"),
                _ => {}
            }
            match (&secrets.slack_app_token, chat.slack.mode.socket()) {
                (Some(_), true) => {
                    slack::socket::spawn(s.clone(), chat.slack.watchdog, shutdown.clone());
                    tracing::info!("chat: Slack Socket Mode on");
                }
                (None, true) => tracing::warn!("chat: Slack Socket Mode off: no SLACK_APP_TOKEN"),
                _ => {}
            }
            if secrets.slack_bot_token.is_none() {
                tracing::warn!("chat: no SLACK_BOT_TOKEN: no notifications to Slack channels, no user-group grants");
            }
        } else {
            tracing::info!("chat: Slack off (no SLACK_* secrets)");
        }
        if let Some(api) = &clients.discord {
            let d = Arc::new(discord::Discord::new(desk.clone(), api.clone(), chat.discord.max_in_flight));
            match &secrets.discord_public_key {
                Some(key) => {
                    let key = discord::verify::PublicKey::from_hex(key.expose()).map_err(ChatError::Discord)?;
                    routes = routes.merge(discord::http::routes(d.clone(), key));
                    tracing::info!("chat: Discord interactions on POST /discord/interactions");
                }
                None => tracing::info!("chat: Discord HTTP interactions off: no DISCORD_PUBLIC_KEY"),
            }
            match (&secrets.discord_token, chat.discord.gateway) {
                (Some(token), true) => {
                    discord::gateway::spawn(d.clone(), token.clone(), &chat.discord, shutdown.clone())
                        .map_err(|e| ChatError::Discord(e.to_string()))?;
                    tracing::info!("chat: Discord gateway on");
                }
                (None, true) => tracing::warn!("chat: Discord gateway off: no DISCORD_TOKEN"),
                (_, false) => tracing::info!("chat: Discord gateway off ([chat.discord] gateway = false)"),
            }
            if secrets.discord_token.is_none() {
                tracing::warn!("chat: no DISCORD_TOKEN: no notifications to Discord channels");
            }
        } else {
            tracing::info!("chat: Discord off (no DISCORD_* secrets)");
        }
        Ok(Chat { routes, desk })
    }
}
