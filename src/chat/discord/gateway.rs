//! The Discord gateway client (serenity 0.12): no public URL needed. One shard, no intents
//! (slash commands need none). On READY, `/ott` is registered ([`super::command`]) in the
//! configured guild (globally without one); each INTERACTION_CREATE goes to
//! [`super::Discord`] like an HTTP interaction, its initial response posted to the callback URL
//! and what follows sent as webhook edits ([`super::api`], shared with the HTTP endpoint).
//!
//! Supervision: serenity 0.12.5 can leave a shard dead after a failed resume (fixed only on
//! its unreleased branch, serenity PR #3369). A watcher looks at the shard manager's record of
//! the shard every [`CHECK_EVERY`] ([`watch`]): when the shard has not been connected for
//! [`Limits::down`], or its record has not changed for [`Limits::silent`] (a runner stuck in a
//! reconnect stops updating it: the heartbeat latency, refreshed at every acknowledgement, is
//! then frozen and the stage stale), the whole client is shut down and built again, after a
//! growing pause ([`backoff`]). A client that ends by itself (a bad token, a network failure at
//! start) is rebuilt the same way.
//!
//! Pointing serenity elsewhere (tests): serenity builds its URLs as
//! `https://discord.com/api/v10/…` and its `proxy` only swaps the `https://discord.com`
//! origin, and only when its rate limiter is off (the limiter ignores the proxy in 0.12.5).
//! So a non-default `api_url` must end in `/api/v10`; its origin becomes the proxy and the
//! limiter is turned off. serenity itself only asks for the gateway URL: everything else goes
//! through [`super::api`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serenity::all::{ConnectionStage, Context, EventHandler, GatewayIntents, Interaction, Ready};
use serenity::client::ClientBuilder;
use serenity::http::HttpBuilder;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{command, Discord};
use crate::config::chat::{DiscordSettings, DISCORD_API};
use crate::secret::Redacted;

/// How often the shard's record is looked at.
pub const CHECK_EVERY: Duration = Duration::from_secs(5);

/// When the watcher gives up on a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Not connected this long (serenity resumes and re-identifies by itself well within it).
    pub down: Duration,
    /// Connected on record, but the record unchanged this long: Discord's heartbeat interval is
    /// about 41 s, so this is several missed refreshes.
    pub silent: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { down: Duration::from_secs(60), silent: Duration::from_secs(150) }
    }
}

/// The longest pause between two client builds.
pub const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// How long a shut-down client gets to finish before it is dropped.
const STOP_WITHIN: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error("[chat.discord] api_url `{0}` does not end in /api/v10: the gateway client cannot use it")]
    ApiUrl(String),
}

/// The proxy origin serenity needs for `api_url`: none for Discord's own API.
pub fn proxy_for(api_url: &str) -> Result<Option<String>, GatewayError> {
    let url = api_url.trim_end_matches('/');
    if url == DISCORD_API {
        return Ok(None);
    }
    match url.strip_suffix("/api/v10") {
        Some(origin) if origin.starts_with("http://") || origin.starts_with("https://") => Ok(Some(origin.to_string())),
        _ => Err(GatewayError::ApiUrl(api_url.to_string())),
    }
}

/// One look at the shard manager's record of the shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look {
    pub connected: bool,
    /// The last heartbeat's round trip (refreshed at each acknowledgement).
    pub latency: Option<Duration>,
}

/// What the watcher remembers between looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Watch {
    /// Since when the shard is seen not connected.
    down_since: Option<Instant>,
    /// The latency last seen, and since when it is unchanged.
    latency: Option<(Option<Duration>, Instant)>,
}

/// What the watcher concludes from one look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Up,
    /// Not connected, for this long so far: serenity may still bring it back.
    Down(Duration),
    /// Not connected for too long: rebuild the client.
    RestartDown,
    /// Connected on record but the record frozen for too long: rebuild the client.
    RestartSilent,
}

/// One look: the next state and the verdict.
pub fn watch(w: Watch, look: Look, now: Instant, limits: Limits) -> (Watch, Verdict) {
    if !look.connected {
        let since = w.down_since.unwrap_or(now);
        let down = now.saturating_duration_since(since);
        let verdict = if down >= limits.down { Verdict::RestartDown } else { Verdict::Down(down) };
        return (Watch { down_since: Some(since), latency: None }, verdict);
    }
    let since = match w.latency {
        Some((seen, since)) if seen == look.latency => since,
        _ => now,
    };
    let w = Watch { down_since: None, latency: Some((look.latency, since)) };
    if now.saturating_duration_since(since) >= limits.silent {
        (w, Verdict::RestartSilent)
    } else {
        (w, Verdict::Up)
    }
}

/// The pause before the `attempt`th rebuild (1, 2, …): 5 s doubling, at most [`BACKOFF_MAX`].
pub fn backoff(attempt: u32) -> Duration {
    if attempt == 0 {
        return Duration::ZERO;
    }
    let secs = 5u64.saturating_mul(1u64 << (attempt - 1).min(16));
    Duration::from_secs(secs).min(BACKOFF_MAX)
}

struct Handler {
    discord: Arc<Discord>,
    guild: Option<u64>,
    /// `/ott` is registered once per process (READY comes again after each re-identify).
    registered: Arc<AtomicBool>,
}

#[serenity::async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        tracing::info!(bot = %ready.user.name, "discord: gateway ready");
        if self.registered.load(Ordering::SeqCst) {
            return;
        }
        let app = ready.application.id.to_string();
        match self.discord.api().register_commands(&app, self.guild, &command::definitions()).await {
            Ok(()) => {
                self.registered.store(true, Ordering::SeqCst);
                match self.guild {
                    Some(g) => tracing::info!(guild = g, "discord: /ott registered in the guild"),
                    None => tracing::info!("discord: /ott registered globally (Discord may take up to an hour to show it; set [chat.discord] guild_id for at once)"),
                }
            }
            Err(e) => tracing::warn!("discord: cannot register /ott: {e}"),
        }
    }

    async fn interaction_create(&self, _ctx: Context, interaction: Interaction) {
        let mut v = match serde_json::to_value(&interaction) {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("discord: cannot read an interaction from the gateway: {e}");
                return;
            }
        };
        // serenity keeps the type as the enum's variant, not in the serialized interaction.
        v["type"] = serde_json::json!(u8::from(interaction.kind()));
        let (id, token) = (interaction.id().to_string(), interaction.token().to_string());
        let answer = self.discord.interaction(&v).await;
        if let Err(e) = self.discord.api().callback(&id, &token, &answer.response).await {
            tracing::warn!("discord: interaction not answered: {e}");
            return;
        }
        self.discord.follow(answer.follow);
    }
}

/// Start the gateway client and its supervisor.
pub fn spawn(
    discord: Arc<Discord>,
    token: Redacted,
    settings: &DiscordSettings,
    shutdown: CancellationToken,
) -> Result<(), GatewayError> {
    let proxy = proxy_for(&settings.api_url)?;
    let guild = settings.guild_id;
    let limits = Limits { down: settings.shard_down, silent: settings.shard_silent };
    tokio::spawn(supervise(discord, token, proxy, guild, limits, shutdown));
    Ok(())
}

/// How one client's run ended.
enum Ended {
    ByItself(String),
    Restarted,
}

async fn supervise(
    discord: Arc<Discord>,
    token: Redacted,
    proxy: Option<String>,
    guild: Option<u64>,
    limits: Limits,
    shutdown: CancellationToken,
) {
    let registered = Arc::new(AtomicBool::new(false));
    let mut attempt = 0u32;
    loop {
        let pause = backoff(attempt);
        if !pause.is_zero() {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(pause) => {}
            }
        }
        attempt = attempt.saturating_add(1);
        let mut http = HttpBuilder::new(token.expose());
        if let Some(p) = &proxy {
            http = http.proxy(p.clone()).ratelimiter_disabled(true);
        }
        let handler = Handler { discord: discord.clone(), guild, registered: registered.clone() };
        let built = ClientBuilder::new_with_http(http.build(), GatewayIntents::empty()).event_handler(handler).await;
        let mut client = match built {
            Ok(c) => c,
            Err(e) => {
                tracing::error!("discord: cannot build the gateway client: {e}");
                continue;
            }
        };
        let manager = client.shard_manager.clone();
        let mut run = tokio::spawn(async move { client.start().await });
        let mut tick = tokio::time::interval(CHECK_EVERY);
        let mut state = Watch::default();
        let ended = loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    let stop = async {
                        manager.shutdown_all().await;
                        let _ = (&mut run).await;
                    };
                    let _ = tokio::time::timeout(STOP_WITHIN, stop).await;
                    run.abort();
                    return;
                }
                r = &mut run => break Ended::ByItself(match r {
                    Ok(Ok(())) => "it stopped".to_string(),
                    Ok(Err(e)) => e.to_string(),
                    Err(e) => format!("its task failed: {e}"),
                }),
                _ = tick.tick() => {
                    let look = {
                        let runners = manager.runners.lock().await;
                        let shard = runners.values().next();
                        Look {
                            connected: shard.is_some_and(|r| r.stage == ConnectionStage::Connected),
                            latency: shard.and_then(|r| r.latency),
                        }
                    };
                    let (next, verdict) = watch(state, look, Instant::now(), limits);
                    state = next;
                    let why = match verdict {
                        Verdict::Up => {
                            attempt = 0;
                            continue;
                        }
                        Verdict::Down(_) => continue,
                        Verdict::RestartDown => format!("the shard stayed disconnected {}s", limits.down.as_secs()),
                        Verdict::RestartSilent => format!("the shard's record did not change in {}s", limits.silent.as_secs()),
                    };
                    tracing::warn!("discord: {why}: rebuilding the gateway client");
                    let stop = async {
                        manager.shutdown_all().await;
                        let _ = (&mut run).await;
                    };
                    if tokio::time::timeout(STOP_WITHIN, stop).await.is_err() {
                        run.abort();
                    }
                    break Ended::Restarted;
                }
            }
        };
        if let Ended::ByItself(why) = ended {
            tracing::error!(retry_in_s = backoff(attempt).as_secs(), "discord: the gateway client ended: {why}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_shard_down_longer_than_the_limit_means_a_rebuild() {
        let t0 = Instant::now();
        let limits = Limits { down: Duration::from_secs(60), silent: Duration::from_secs(150) };
        let at = |s| t0 + Duration::from_secs(s);
        let down = Look { connected: false, latency: None };
        let up = |ms| Look { connected: true, latency: Some(Duration::from_millis(ms)) };
        let (w, v) = watch(Watch::default(), up(40), t0, limits);
        assert_eq!(v, Verdict::Up);
        let (w, v) = watch(w, down, at(5), limits);
        assert_eq!(v, Verdict::Down(Duration::ZERO));
        let (w2, v) = watch(w, down, at(64), limits);
        assert_eq!(v, Verdict::Down(Duration::from_secs(59)));
        let (_, v) = watch(w2, down, at(65), limits);
        assert_eq!(v, Verdict::RestartDown);
        // Back up in between: the count starts again.
        let (w, _) = watch(w2, up(41), at(30), limits);
        let (_, v) = watch(w, down, at(91), limits);
        assert_eq!(v, Verdict::Down(Duration::ZERO));
    }

    #[test]
    fn a_connected_record_that_stops_changing_means_a_rebuild() {
        let t0 = Instant::now();
        let limits = Limits { down: Duration::from_secs(60), silent: Duration::from_secs(150) };
        let at = |s| t0 + Duration::from_secs(s);
        let up = |ms| Look { connected: true, latency: Some(Duration::from_millis(ms)) };
        // Heartbeats every ~41 s refresh the latency: fine however long it runs.
        let mut w = Watch::default();
        for (i, s) in (0..1000).step_by(41).enumerate() {
            let (next, v) = watch(w, up(40 + i as u64 % 7), at(s), limits);
            assert_eq!(v, Verdict::Up, "at {s}s");
            w = next;
        }
        // The same latency for 150 s: the runner is stuck, its record stale.
        let (w, v) = watch(Watch::default(), up(40), t0, limits);
        assert_eq!(v, Verdict::Up);
        let (w, v) = watch(w, up(40), at(149), limits);
        assert_eq!(v, Verdict::Up);
        let (_, v) = watch(w, up(40), at(150), limits);
        assert_eq!(v, Verdict::RestartSilent);
        // Before the first acknowledgement there is no latency yet: the same rule applies.
        let (w, _) = watch(Watch::default(), Look { connected: true, latency: None }, t0, limits);
        let (_, v) = watch(w, Look { connected: true, latency: None }, at(150), limits);
        assert_eq!(v, Verdict::RestartSilent);
    }

    #[test]
    fn rebuilds_back_off_up_to_a_ceiling() {
        assert_eq!(backoff(0), Duration::ZERO);
        assert_eq!(backoff(1), Duration::from_secs(5));
        assert_eq!(backoff(2), Duration::from_secs(10));
        assert_eq!(backoff(7), BACKOFF_MAX);
        assert_eq!(backoff(u32::MAX), BACKOFF_MAX);
    }

    #[test]
    fn serenity_is_pointed_at_the_origin_of_api_url() {
        assert_eq!(proxy_for("https://discord.com/api/v10"), Ok(None));
        assert_eq!(proxy_for("http://127.0.0.1:8080/api/v10/"), Ok(Some("http://127.0.0.1:8080".into())));
        assert!(matches!(proxy_for("http://127.0.0.1:8080/api/v9"), Err(GatewayError::ApiUrl(_))));
        assert!(matches!(proxy_for("/api/v10"), Err(GatewayError::ApiUrl(_))));
    }
}
