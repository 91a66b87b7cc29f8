//! Slack Socket Mode: the daemon opens a WebSocket to Slack, so Slack needs no public URL.
//!
//! Owns the connection and its upkeep (open, hello, acknowledgements, refresh, watchdog,
//! reconnect); hands what arrives to [`Slack`] exactly as the HTTP endpoints do. Knows
//! nothing of commands: a slash command's answer is whatever [`Slack::command`] returns.
//!
//! Expected flow: `apps.connections.open` (app token) gives a one-time `wss://…?ticket=…`
//! URL; the handshake goes through reqwest (TLS as for the Web API) and the WebSocket
//! protocol through tokio-tungstenite. Slack says `hello`, then sends envelopes, each to be
//! acknowledged with `{"envelope_id"}` within 3 s: a slash command's ack carries its first
//! answer, a button is acked at once and answered on `response_url`, anything else is acked
//! and ignored. Slack says `disconnect` before it closes a connection (refreshes every few
//! hours): a new connection opens at once while the old one retires (it keeps sending its
//! acks for [`RETIRE_GRACE`], then closes).
//!
//! Guarantees: the read loop never waits on a command (one task per envelope, acks back
//! through a queue); an envelope redelivered (same `envelope_id`, also after a restart) is
//! acked and does nothing; a connection on which nothing (text, ping, pong) arrives for the
//! watchdog is dropped, pings every third of it keep a healthy one talking; reconnects back
//! off 1 s doubling to 30 s, starting over after a hello, never more than one open a second;
//! `link_disabled` and Slack refusing `apps.connections.open` (`ok=false`, e.g. a revoked
//! token) are logged as errors and retried every [`SLOW_RETRY`] rather than abandoned, so
//! turning Socket Mode back on heals without a restart. On shutdown, a close frame.
//!
//! Never logged: the tokens (only [`super::api::WebApi`] holds them) and the URL's query
//! (Slack's `ticket`, see [`shown`]).
//!
//! Why not tokio-tungstenite's own `wss://` connector: the build enables both of rustls'
//! crypto providers (ring and aws-lc-rs), so its default client config panics with "no
//! process-level CryptoProvider" (see `a_wss_url_fails_as_an_error_not_a_panic`).

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::{self, handshake, protocol::Role, protocol::WebSocketConfig, Message};
use tokio_tungstenite::WebSocketStream;
use tokio_util::sync::CancellationToken;

use super::api::ApiError;
use super::{blocks, Slack, SlashCommand};
use crate::chat::message::{Message as ChatMessage, Tone, Visibility};
use crate::config::chat::limits;

mod envelope;
pub use envelope::*;

/// How long a connection Slack asked us to leave keeps serving (acks in flight).
pub const RETIRE_GRACE: Duration = Duration::from_secs(10);
/// Envelopes being handled at once (a burst beyond it is answered "busy").
pub const MAX_IN_FLIGHT: usize = 32;
/// apps.connections.open plus the handshake.
const HANDSHAKE_WITHIN: Duration = Duration::from_secs(15);
/// Acks waiting for the writer.
const ACK_QUEUE: usize = 64;
/// Slack's payloads are a few kB; a block_actions one carries its message, still far less.
const MAX_MESSAGE: usize = 4 << 20;

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error(transparent)]
    Open(#[from] ApiError),
    #[error("Slack gave a Socket Mode URL that is not ws:// or wss://: {0}")]
    Url(String),
    #[error("WebSocket handshake with {url}: {source}")]
    Handshake {
        url: String,
        #[source]
        source: reqwest::Error,
    },
    #[error("WebSocket handshake with {url}: answered HTTP {status}, not 101")]
    Refused { url: String, status: u16 },
    #[error("WebSocket handshake with {url}: wrong Sec-WebSocket-Accept")]
    Accept { url: String },
    #[error("WebSocket handshake: no answer within {0:?}")]
    HandshakeTimeout(Duration),
    #[error("WebSocket: {0}")]
    Socket(#[from] tungstenite::Error),
    #[error("closed by Slack{0}")]
    Closed(String),
    #[error("nothing received for {0:?} (watchdog)")]
    Silent(Duration),
    #[error("a send took over {0:?}")]
    SendTimeout(Duration),
    #[error("the connection's task stopped")]
    Gone,
}

/// Start the client; it runs until `shutdown`.
pub fn spawn(slack: Arc<Slack>, watchdog: Duration, shutdown: CancellationToken) {
    let watchdog = watchdog.clamp(*limits::WATCHDOG.start(), *limits::WATCHDOG.end());
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .redirect(reqwest::redirect::Policy::none())
        // The WebSocket upgrade is HTTP/1.1 only, whatever features reqwest gains one day.
        .http1_only()
        .build()
        .unwrap_or_else(|_| reqwest::Client::new());
    let client =
        Arc::new(Client { slack, http, watchdog, shutdown, handlers: Arc::new(Semaphore::new(MAX_IN_FLIGHT)) });
    tokio::spawn(client.run());
}

type Ws = WebSocketStream<reqwest::Upgraded>;

struct Client {
    slack: Arc<Slack>,
    /// The handshake's own client: no redirects, no total timeout on the upgraded stream.
    http: reqwest::Client,
    watchdog: Duration,
    shutdown: CancellationToken,
    /// Bounds the envelopes being handled, across connections.
    handlers: Arc<Semaphore>,
}

/// How a connection ended, or that it was asked to retire (it then goes on alone).
#[derive(Debug)]
enum End {
    Disconnect(Reason),
    Lost(SocketError),
    Retired,
    Shutdown,
}

/// A connection's one report to the supervisor.
#[derive(Debug)]
struct Report {
    greeted: bool,
    end: End,
}

impl Client {
    /// The supervisor: one connection at a time (plus a retiring one), reconnecting forever.
    async fn run(self: Arc<Self>) {
        let mut backoff = Backoff::default();
        let mut n: u64 = 0;
        let mut wait = Duration::ZERO;
        loop {
            if !wait.is_zero() {
                tracing::info!("slack socket: reconnecting in {}", human(wait));
                tokio::select! {
                    _ = self.shutdown.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
            }
            n += 1;
            let opened = Instant::now();
            let connected = tokio::select! {
                _ = self.shutdown.cancelled() => return,
                r = tokio::time::timeout(HANDSHAKE_WITHIN, self.open()) => {
                    r.unwrap_or(Err(SocketError::HandshakeTimeout(HANDSHAKE_WITHIN)))
                }
            };
            let (greeted, after) = match connected {
                Ok((ws, url)) => {
                    tracing::info!(connection = n, "slack socket: connected to {url}");
                    let (tx, rx) = oneshot::channel();
                    tokio::spawn(self.clone().serve(n, ws, tx));
                    let report = tokio::select! {
                        _ = self.shutdown.cancelled() => return,
                        r = rx => r.unwrap_or(Report { greeted: false, end: End::Lost(SocketError::Gone) }),
                    };
                    (report.greeted, self.after(n, report.end))
                }
                Err(SocketError::Open(ApiError::NoToken { .. })) => {
                    tracing::error!("slack socket: no app token (SLACK_APP_TOKEN): Socket Mode stops");
                    return;
                }
                Err(SocketError::Open(e @ ApiError::Slack { .. })) => {
                    tracing::error!(
                        "slack socket: {e}: check the app token and that Socket Mode is on in the app's settings; retrying every {}",
                        human(SLOW_RETRY)
                    );
                    (false, After::Disabled)
                }
                Err(e) => {
                    tracing::warn!(connection = n, "slack socket: cannot connect: {e}");
                    (false, After::Lost)
                }
            };
            wait = backoff.next(greeted, after, opened.elapsed());
        }
    }

    fn after(&self, n: u64, end: End) -> After {
        match end {
            End::Disconnect(Reason::LinkDisabled) => {
                tracing::error!(
                    connection = n,
                    "slack socket: Slack turned Socket Mode off for this app (link_disabled): turn it on in the app's settings; retrying every {}",
                    human(SLOW_RETRY)
                );
                After::Disabled
            }
            End::Disconnect(reason) => {
                tracing::info!(connection = n, "slack socket: Slack asks for a new connection ({reason})");
                After::Refresh
            }
            End::Lost(e) => {
                tracing::warn!(connection = n, "slack socket: connection lost: {e}");
                After::Lost
            }
            End::Retired | End::Shutdown => After::Lost,
        }
    }

    /// `apps.connections.open`, then the WebSocket handshake; answers the URL as logs show it.
    async fn open(&self) -> Result<(Ws, String), SocketError> {
        let url = self.slack.api.open_connection().await?;
        let ws = connect(&self.http, &url).await?;
        Ok((ws, shown(&url)))
    }

    /// One connection: read, dispatch, write acks, ping, watch. Reports once: when Slack
    /// asks to disconnect (then retires on its own) or when it ends.
    async fn serve(self: Arc<Self>, n: u64, mut ws: Ws, report: oneshot::Sender<Report>) {
        let mut report = Some(report);
        let (acks, mut queued) = mpsc::channel::<String>(ACK_QUEUE);
        let every = self.watchdog / 3;
        let mut ping = tokio::time::interval_at(Instant::now() + every, every);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut heard = Instant::now();
        let mut greeted = false;
        let mut retire_by: Option<Instant> = None;
        let end = loop {
            let silent_at = heard + self.watchdog;
            let deadline = retire_by.map_or(silent_at, |r| r.min(silent_at));
            tokio::select! {
                biased;
                _ = self.shutdown.cancelled() => {
                    close(&mut ws).await;
                    break End::Shutdown;
                }
                frame = ws.next() => {
                    let text = match frame {
                        None => break End::Lost(SocketError::Closed(String::new())),
                        Some(Err(e)) => break End::Lost(e.into()),
                        Some(Ok(Message::Close(f))) => {
                            let why = f.map(|f| format!(" ({}: {})", u16::from(f.code), f.reason)).unwrap_or_default();
                            close(&mut ws).await; // flushes the answering close frame
                            break End::Lost(SocketError::Closed(why));
                        }
                        Some(Ok(Message::Text(t))) => t,
                        Some(Ok(_)) => {
                            heard = Instant::now();
                            continue;
                        }
                    };
                    heard = Instant::now();
                    match read(text.as_str()) {
                        Inbound::Hello => {
                            greeted = true;
                            tracing::debug!(connection = n, "slack socket: hello");
                        }
                        Inbound::Disconnect(reason) => {
                            if retire_by.is_none() {
                                retire_by = Some(Instant::now() + RETIRE_GRACE);
                                if let Some(r) = report.take() {
                                    let _ = r.send(Report { greeted, end: End::Disconnect(reason) });
                                }
                            }
                        }
                        inbound => {
                            if let Some(now) = self.dispatch(n, inbound, &acks) {
                                if let Err(e) = send(&mut ws, Message::text(now), self.watchdog).await {
                                    break End::Lost(e);
                                }
                            }
                        }
                    }
                }
                Some(a) = queued.recv() => {
                    if let Err(e) = send(&mut ws, Message::text(a), self.watchdog).await {
                        break End::Lost(e);
                    }
                }
                _ = ping.tick() => {
                    if let Err(e) = send(&mut ws, Message::Ping(Default::default()), self.watchdog).await {
                        break End::Lost(e);
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    if retire_by.is_some_and(|r| Instant::now() >= r) {
                        close(&mut ws).await;
                        break End::Retired;
                    }
                    break End::Lost(SocketError::Silent(self.watchdog));
                }
            }
        };
        match report.take() {
            Some(r) => {
                let _ = r.send(Report { greeted, end });
            }
            None => tracing::debug!(connection = n, "slack socket: retired connection ended: {end:?}"),
        }
    }

    /// Start what an envelope asks; answers the ack to send at once, if any.
    fn dispatch(&self, n: u64, inbound: Inbound, acks: &mpsc::Sender<String>) -> Option<String> {
        match inbound {
            Inbound::Command { envelope_id, payload, in_ack } => {
                let Ok(permit) = self.handlers.clone().try_acquire_owned() else {
                    tracing::warn!(
                        connection = n,
                        "slack socket: {MAX_IN_FLIGHT} envelopes in hand: /ott answered busy"
                    );
                    let busy = line("ottd is busy: try again in a moment", Tone::Failed);
                    return Some(ack(&envelope_id, in_ack.then_some(busy)));
                };
                let (slack, acks) = (self.slack.clone(), acks.clone());
                self.slack.desk.tasks().spawn(async move {
                    if !first_time(&slack, &envelope_id).await {
                        let _ = acks.send(ack(&envelope_id, None)).await;
                        drop(permit);
                        return;
                    }
                    let c = SlashCommand::from_json(&payload);
                    let body = slack.command(&c).await;
                    let sent = if in_ack {
                        acks.send(ack(&envelope_id, Some(body))).await
                    } else {
                        let sent = acks.send(ack(&envelope_id, None)).await;
                        if let Err(e) = slack.api.respond(&c.response_url, &body).await {
                            tracing::warn!("slack socket: /ott answer not delivered on response_url: {e}");
                        }
                        sent
                    };
                    if sent.is_err() {
                        tracing::warn!(
                            connection = n,
                            "slack socket: the connection ended before /ott was acknowledged"
                        );
                    }
                    drop(permit);
                });
                None
            }
            Inbound::Interaction { envelope_id, payload } => {
                match self.handlers.clone().try_acquire_owned() {
                    Ok(permit) => {
                        let (slack, id) = (self.slack.clone(), envelope_id.clone());
                        self.slack.desk.tasks().spawn(async move {
                            if first_time(&slack, &id).await {
                                match slack.slot() {
                                    Some(slot) => slack.interaction(&payload, slot).await,
                                    None => slack.busy_click(&payload).await,
                                }
                            }
                            drop(permit);
                        });
                    }
                    Err(_) => tracing::warn!(
                        connection = n,
                        "slack socket: {MAX_IN_FLIGHT} envelopes in hand: a button press is dropped"
                    ),
                }
                Some(ack(&envelope_id, None))
            }
            Inbound::Other { envelope_id, kind } => {
                tracing::debug!(connection = n, kind, "slack socket: acknowledged and ignored");
                Some(ack(&envelope_id, None))
            }
            Inbound::Unreadable(why) => {
                tracing::warn!(connection = n, "slack socket: dropped a frame: {why}");
                None
            }
            Inbound::Hello | Inbound::Disconnect(_) => None,
        }
    }
}

/// Whether the envelope is new. Slack redelivers an envelope (same `envelope_id`) when its
/// ack was late or lost; a copy is acked and does nothing. A state file that cannot say is
/// taken as "new": envelopes come only from Slack over our own connection, so a copy is a
/// redelivery, not someone's replay, and dropping a command would be worse.
async fn first_time(slack: &Slack, envelope_id: &str) -> bool {
    match slack.desk.first_sighting(&format!("slack:envelope:{envelope_id}")).await {
        Ok(first) => {
            if !first {
                tracing::warn!("slack socket: a redelivered envelope ignored");
            }
            first
        }
        Err(e) => {
            tracing::warn!("slack socket: cannot note the envelope in the state file: {e}");
            true
        }
    }
}

/// A wait for logs, to the millisecond.
fn human(d: Duration) -> humantime::FormattedDuration {
    humantime::format_duration(Duration::from_millis(d.as_millis().try_into().unwrap_or(u64::MAX)))
}

fn line(text: &str, tone: Tone) -> Value {
    blocks::response(&ChatMessage::line(text, Visibility::Ephemeral, tone), false)
}

async fn send(ws: &mut Ws, m: Message, within: Duration) -> Result<(), SocketError> {
    match tokio::time::timeout(within, ws.send(m)).await {
        Ok(r) => Ok(r?),
        Err(_) => Err(SocketError::SendTimeout(within)),
    }
}

async fn close(ws: &mut Ws) {
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
}

/// The WebSocket handshake to `url` (`ws://` or `wss://`), as an HTTP/1.1 upgrade through
/// reqwest: TLS as for the Web API (see the module doc for why).
pub async fn connect(http: &reqwest::Client, url: &str) -> Result<Ws, SocketError> {
    use reqwest::header::{CONNECTION, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_VERSION, UPGRADE};
    let shown = shown(url);
    let mut target = url::Url::parse(url).map_err(|_| SocketError::Url(shown.clone()))?;
    let scheme = match target.scheme() {
        "wss" => "https",
        "ws" => "http",
        _ => return Err(SocketError::Url(shown)),
    };
    target.set_scheme(scheme).map_err(|_| SocketError::Url(shown.clone()))?;
    let key = handshake::client::generate_key();
    let handshake =
        |source: reqwest::Error| SocketError::Handshake { url: shown.clone(), source: source.without_url() };
    let response = http
        .get(target)
        .header(CONNECTION, "Upgrade")
        .header(UPGRADE, "websocket")
        .header(SEC_WEBSOCKET_VERSION, "13")
        .header(SEC_WEBSOCKET_KEY, &key)
        .send()
        .await
        .map_err(handshake)?;
    if response.status() != reqwest::StatusCode::SWITCHING_PROTOCOLS {
        return Err(SocketError::Refused { url: shown, status: response.status().as_u16() });
    }
    let expected = handshake::derive_accept_key(key.as_bytes());
    if response.headers().get(SEC_WEBSOCKET_ACCEPT).and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return Err(SocketError::Accept { url: shown });
    }
    let io = response.upgrade().await.map_err(handshake)?;
    let config = WebSocketConfig::default().max_message_size(Some(MAX_MESSAGE)).max_frame_size(Some(MAX_MESSAGE));
    Ok(WebSocketStream::from_raw_socket(io, Role::Client, Some(config)).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_wss_url_fails_as_an_error_not_a_panic() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let _ = listener.accept().await;
        });
        let url = format!("wss://localhost:{port}/link/?ticket=sekrit");
        let e = connect(&reqwest::Client::new(), &url).await.expect_err("no TLS server there");
        assert!(matches!(e, SocketError::Handshake { .. }), "{e:?}");
        assert!(!format!("{e} {e:?}").contains("sekrit"), "{e:?}");
    }

    #[tokio::test]
    async fn the_handshake_speaks_websocket_over_plain_ws() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("addr").port();
        tokio::spawn(async move {
            let Ok((tcp, _)) = listener.accept().await else { return };
            let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else { return };
            let _ = ws.send(Message::text(r#"{"type":"hello"}"#)).await;
            while let Some(Ok(m)) = ws.next().await {
                if m.is_text() {
                    let _ = ws.send(m).await;
                }
            }
        });
        let mut ws =
            connect(&reqwest::Client::new(), &format!("ws://127.0.0.1:{port}/link/?ticket=t")).await.expect("connect");
        let hello = ws.next().await.and_then(Result::ok).and_then(|m| m.into_text().ok());
        assert_eq!(hello.as_deref().map(read), Some(Inbound::Hello));
        ws.send(Message::text(ack("e1", None))).await.expect("send");
        let echo = ws.next().await.and_then(Result::ok).and_then(|m| m.into_text().ok());
        assert_eq!(echo.as_deref(), Some(r#"{"envelope_id":"e1"}"#));
    }
}
