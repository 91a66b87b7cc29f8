//! A local stand-in for Discord, speaking its documented wire formats: the HTTP API under
//! `/api/v10` (interaction callbacks, webhook edits and follow-ups, channel messages, command
//! registration, the gateway URL) and a gateway WebSocket (HELLO, IDENTIFY, heartbeats,
//! READY, dispatches the test pushes). Everything received is kept in order; tests wait on a
//! condition variable for what they expect, never on a sleep.
//!
//! Also: interactions as Discord sends them to an endpoint, signed with Ed25519.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use ed25519_dalek::{Signer, SigningKey};
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message as Frame;

pub const APPLICATION: &str = "1100000000000000001";
pub const GUILD: &str = "1200000000000000002";
pub const CHANNEL: &str = "1300000000000000003";
pub const BOT_USER: &str = "1400000000000000004";

/// What the stand-in received.
#[derive(Debug, Clone)]
pub enum Received {
    /// `POST /interactions/{id}/{token}/callback`.
    Callback { id: String, token: String, body: Value },
    /// `PATCH /webhooks/{app}/{token}/messages/{message}`.
    Edit { app: String, token: String, message: String, body: Value },
    /// `POST /webhooks/{app}/{token}`.
    Followup { app: String, token: String, body: Value },
    /// `POST /channels/{id}/messages`, with its `Authorization`.
    ChannelMessage { channel: String, auth: String, body: Value },
    /// `PUT /applications/{app}[/guilds/{guild}]/commands`.
    Commands { app: String, guild: Option<String>, auth: String, body: Value },
    /// `GET /gateway` or `/gateway/bot`.
    GatewayUrl { auth: String },
    /// A gateway connection accepted and left silent.
    BlackHoled,
    /// READY sent on gateway connection `connection`; dispatches may be pushed from now on.
    Ready { connection: u32 },
    /// A gateway frame from the client (IDENTIFY, heartbeat, …), with its connection number.
    Gateway { connection: u32, op: u64, payload: Value },
}

pub type Log = crate::common::received::Log<Received>;

/// The edits of `@original` made with interaction token `token`, in order.
pub fn edits(items: &[Received], token: &str) -> Vec<Value> {
    items
        .iter()
        .filter_map(|r| match r {
            Received::Edit { token: t, message, body, .. } if t == token && message == "@original" => {
                Some(body.clone())
            }
            _ => None,
        })
        .collect()
}

pub fn callbacks(items: &[Received], token: &str) -> Vec<Value> {
    items
        .iter()
        .filter_map(|r| match r {
            Received::Callback { token: t, body, .. } if t == token => Some(body.clone()),
            _ => None,
        })
        .collect()
}

pub fn gateway_frames(items: &[Received], op: u64) -> Vec<Value> {
    items
        .iter()
        .filter_map(|r| match r {
            Received::Gateway { op: o, payload, .. } if *o == op => Some(payload.clone()),
            _ => None,
        })
        .collect()
}

/// Every text of a Discord message (embed titles, descriptions, fields, footers, buttons).
pub fn text_of(v: &Value) -> String {
    let mut out = v["content"].as_str().unwrap_or_default().to_string();
    for e in v["embeds"].as_array().into_iter().flatten() {
        for s in [&e["title"], &e["description"], &e["footer"]["text"]] {
            if let Some(s) = s.as_str() {
                out.push('\n');
                out.push_str(s);
            }
        }
        for f in e["fields"].as_array().into_iter().flatten() {
            out.push_str(&format!(
                "\n{}: {}",
                f["name"].as_str().unwrap_or_default(),
                f["value"].as_str().unwrap_or_default()
            ));
        }
    }
    for row in v["components"].as_array().into_iter().flatten() {
        for b in row["components"].as_array().into_iter().flatten() {
            for k in ["label", "url", "custom_id"] {
                if let Some(s) = b[k].as_str() {
                    out.push('\n');
                    out.push_str(s);
                }
            }
        }
    }
    out
}

/// The custom ids of the buttons on a Discord message.
pub fn custom_ids(v: &Value) -> Vec<String> {
    v["components"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["components"].as_array().cloned().unwrap_or_default())
        .filter_map(|b| b["custom_id"].as_str().map(str::to_string))
        .collect()
}

/// What the test pushes to the connected gateway client.
enum Push {
    /// A dispatch (op 0) with this event name and data.
    Dispatch(String, Value),
    /// Drop the connection without a close frame (a dead link).
    Drop,
    /// Close it with this close code.
    Close(u16),
}

struct Shared {
    log: Arc<Log>,
    /// The gateway URL `GET /gateway` answers.
    ws_url: String,
    /// Where pushed frames go: the current gateway connection's sender.
    push: Mutex<Option<mpsc::UnboundedSender<Push>>>,
    connections: Mutex<u32>,
    /// `heartbeat_interval` in HELLO.
    heartbeat_ms: u64,
    /// The next this many gateway connections are accepted and then left silent (no WebSocket
    /// handshake): a half-dead link.
    black_holes: Mutex<u32>,
}

pub struct DiscordStandIn {
    pub base: String,
    pub log: Arc<Log>,
    shared: Arc<Shared>,
    _runtime: tokio::runtime::Runtime,
}

impl DiscordStandIn {
    pub fn start() -> DiscordStandIn {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let log = Arc::new(Log::new("Discord"));
        let api = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let ws = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let ws_url = format!("ws://{}", ws.local_addr().expect("addr"));
        let shared = Arc::new(Shared {
            log: log.clone(),
            ws_url,
            push: Mutex::default(),
            connections: Mutex::new(0),
            heartbeat_ms: 1000,
            black_holes: Mutex::new(0),
        });
        let app = Router::new()
            .route("/api/v10/gateway", get(gateway_url))
            .route("/api/v10/gateway/bot", get(gateway_url))
            .route("/api/v10/interactions/{id}/{token}/callback", post(callback))
            .route("/api/v10/webhooks/{app}/{token}", post(followup))
            .route("/api/v10/webhooks/{app}/{token}/messages/{message}", patch(edit))
            .route("/api/v10/channels/{channel}/messages", post(channel_message))
            .route("/api/v10/applications/{app}/commands", put(global_commands))
            .route("/api/v10/applications/{app}/guilds/{guild}/commands", put(guild_commands))
            .with_state(shared.clone());
        let base = format!("http://{}", api.local_addr().expect("addr"));
        runtime.spawn(async move { axum::serve(api, app).await });
        runtime.spawn(gateway(ws, shared.clone()));
        DiscordStandIn { base, log, shared, _runtime: runtime }
    }

    /// `[chat.discord] api_url` for ottd.
    pub fn api_url(&self) -> String {
        format!("{}/api/v10", self.base)
    }

    /// Push a dispatch (op 0) with event name `t` to the connected gateway client.
    pub fn dispatch(&self, t: &str, d: Value) {
        self.push(Push::Dispatch(t.to_string(), d));
    }

    /// Drop the gateway connection without a close frame.
    pub fn drop_connection(&self) {
        self.push(Push::Drop);
    }

    /// Close the gateway connection with `code` (4000: unknown error, the client may resume).
    pub fn close_connection(&self, code: u16) {
        self.push(Push::Close(code));
    }

    fn push(&self, p: Push) {
        let tx = self.shared.push.lock().unwrap_or_else(|p| p.into_inner()).take();
        let tx = tx.expect("a gateway connection");
        let keep = matches!(p, Push::Dispatch(..));
        tx.send(p).unwrap_or_else(|_| panic!("the gateway connection is closed"));
        if keep {
            *self.shared.push.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        }
    }

    /// Leave the next `n` gateway connections silent (accepted, never answered).
    pub fn black_hole(&self, n: u32) {
        *self.shared.black_holes.lock().unwrap_or_else(|p| p.into_inner()) = n;
    }

    /// How many gateway connections were accepted so far.
    pub fn connections(&self) -> u32 {
        *self.shared.connections.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn auth(h: &HeaderMap) -> String {
    h.get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string()
}

fn parse(body: &[u8]) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

async fn gateway_url(State(s): State<Arc<Shared>>, headers: HeaderMap) -> Json<Value> {
    s.log.push(Received::GatewayUrl { auth: auth(&headers) });
    Json(json!({
        "url": s.ws_url, "shards": 1,
        "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 14400000, "max_concurrency": 1}
    }))
}

async fn callback(
    State(s): State<Arc<Shared>>,
    Path((id, token)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> StatusCode {
    s.log.push(Received::Callback { id, token, body: parse(&body) });
    StatusCode::NO_CONTENT
}

/// A message as Discord answers it (enough of one for a client that reads it).
fn message_json(id: &str, body: &Value) -> Value {
    json!({
        "id": id, "channel_id": CHANNEL, "type": 20, "content": body["content"].as_str().unwrap_or_default(),
        "author": {"id": BOT_USER, "username": "ottd", "discriminator": "0000", "avatar": null, "bot": true, "global_name": null},
        "embeds": body["embeds"].clone(), "components": body["components"].clone(), "attachments": [], "mentions": [],
        "mention_roles": [], "mention_everyone": false, "pinned": false, "tts": false,
        "timestamp": "2026-01-01T00:00:00.000000+00:00", "edited_timestamp": null, "flags": body["flags"].as_u64().unwrap_or(0),
        "webhook_id": APPLICATION, "application_id": APPLICATION
    })
}

async fn followup(
    State(s): State<Arc<Shared>>,
    Path((app, token)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Json<Value> {
    let body = parse(&body);
    s.log.push(Received::Followup { app, token, body: body.clone() });
    Json(message_json("1500000000000000001", &body))
}

async fn edit(
    State(s): State<Arc<Shared>>,
    Path((app, token, message)): Path<(String, String, String)>,
    body: axum::body::Bytes,
) -> Json<Value> {
    let body = parse(&body);
    s.log.push(Received::Edit { app, token, message, body: body.clone() });
    Json(message_json("1500000000000000002", &body))
}

async fn channel_message(
    State(s): State<Arc<Shared>>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Result<Json<Value>, StatusCode> {
    let body = parse(&body);
    let auth = auth(&headers);
    s.log.push(Received::ChannelMessage { channel, auth: auth.clone(), body: body.clone() });
    if !auth.starts_with("Bot ") {
        return Err(StatusCode::UNAUTHORIZED);
    }
    Ok(Json(message_json("1500000000000000003", &body)))
}

async fn global_commands(
    State(s): State<Arc<Shared>>,
    Path(app): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Json<Value> {
    let body = parse(&body);
    s.log.push(Received::Commands { app, guild: None, auth: auth(&headers), body: body.clone() });
    Json(body)
}

async fn guild_commands(
    State(s): State<Arc<Shared>>,
    Path((app, guild)): Path<(String, String)>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Json<Value> {
    let body = parse(&body);
    s.log.push(Received::Commands { app, guild: Some(guild), auth: auth(&headers), body: body.clone() });
    Json(body)
}

/// The READY dispatch's data: the bot, no guilds yet, our application.
fn ready(ws_url: &str) -> Value {
    json!({
        "v": 10,
        "user": {"id": BOT_USER, "username": "ottd", "discriminator": "0000", "global_name": null, "avatar": null,
                 "bot": true, "verified": true, "mfa_enabled": false, "flags": 0, "email": null},
        "guilds": [{"id": GUILD, "unavailable": true}],
        "session_id": "3f1c0a9e5b7d4c2a8e6f0b1d9c7a5e3f",
        "resume_gateway_url": ws_url,
        "shard": [0, 1],
        "application": {"id": APPLICATION, "flags": 0},
        "private_channels": [], "presences": [], "relationships": [], "guild_join_requests": [], "geo_ordered_rtc_regions": [],
        "session_type": "normal", "auth": {}, "current_location": ["CLIENT"]
    })
}

/// Accept gateway connections, one at a time: HELLO; IDENTIFY → READY; heartbeats answered;
/// RESUME refused (op 9, not resumable: the client must identify again, as after a session
/// Discord forgot); dispatches pushed by the test sent in order with increasing sequence
/// numbers.
async fn gateway(listener: tokio::net::TcpListener, s: Arc<Shared>) {
    let mut held = Vec::new();
    while let Ok((tcp, _)) = listener.accept().await {
        let silent = {
            let mut n = s.black_holes.lock().unwrap_or_else(|p| p.into_inner());
            let silent = *n > 0;
            *n = n.saturating_sub(1);
            silent
        };
        if silent {
            s.log.push(Received::BlackHoled);
            held.push(tcp);
            continue;
        }
        let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else { continue };
        let connection = {
            let mut n = s.connections.lock().unwrap_or_else(|p| p.into_inner());
            *n += 1;
            *n
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<Push>();
        let hello = json!({"op": 10, "d": {"heartbeat_interval": s.heartbeat_ms}, "s": null, "t": null});
        if ws.send(Frame::text(hello.to_string())).await.is_err() {
            continue;
        }
        let mut seq = 0u64;
        let mut identified = false;
        loop {
            tokio::select! {
                frame = ws.next() => {
                    let Some(Ok(frame)) = frame else { break };
                    let text = match frame {
                        Frame::Text(t) => t.to_string(),
                        Frame::Close(_) => break,
                        _ => continue,
                    };
                    let payload: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
                    let op = payload["op"].as_u64().unwrap_or(u64::MAX);
                    s.log.push(Received::Gateway { connection, op, payload: payload.clone() });
                    match op {
                        1 => {
                            let ack = json!({"op": 11, "d": null, "s": null, "t": null});
                            if ws.send(Frame::text(ack.to_string())).await.is_err() { break; }
                        }
                        2 if !identified => {
                            identified = true;
                            seq += 1;
                            let r = json!({"op": 0, "s": seq, "t": "READY", "d": ready(&s.ws_url)});
                            if ws.send(Frame::text(r.to_string())).await.is_err() { break; }
                            *s.push.lock().unwrap_or_else(|p| p.into_inner()) = Some(tx.clone());
                            s.log.push(Received::Ready { connection });
                        }
                        6 => {
                            let invalid = json!({"op": 9, "d": false, "s": null, "t": null});
                            if ws.send(Frame::text(invalid.to_string())).await.is_err() { break; }
                        }
                        _ => {}
                    }
                }
                Some(push) = rx.recv() => match push {
                    Push::Dispatch(t, d) => {
                        seq += 1;
                        let frame = json!({"op": 0, "s": seq, "t": t, "d": d});
                        if ws.send(Frame::text(frame.to_string())).await.is_err() { break; }
                    }
                    Push::Drop => break,
                    Push::Close(code) => {
                        let frame = tokio_tungstenite::tungstenite::protocol::CloseFrame {
                            code: code.into(),
                            reason: "stand-in closes".into(),
                        };
                        let _ = ws.send(Frame::Close(Some(frame))).await;
                        break;
                    }
                }
            }
        }
    }
}

/// A member of the test guild with these roles.
fn member(user: &str, roles: &[&str]) -> Value {
    json!({
        "user": {"id": user, "username": format!("user{user}"), "discriminator": "0", "global_name": "Someone",
                 "avatar": null, "public_flags": 0},
        "roles": roles, "joined_at": "2025-01-01T00:00:00.000000+00:00", "premium_since": null, "deaf": false,
        "mute": false, "flags": 0, "pending": false, "nick": null, "avatar": null, "communication_disabled_until": null,
        "permissions": "2248473465835073"
    })
}

/// The parts every interaction has (a guild member in the test channel).
fn interaction(kind: u64, id: &str, token: &str, user: &str, roles: &[&str], data: Value) -> Value {
    json!({
        "id": id, "application_id": APPLICATION, "type": kind, "data": data, "guild_id": GUILD,
        "channel": {"id": CHANNEL, "type": 0, "name": "live-ops", "guild_id": GUILD, "permissions": "2248473465835073"},
        "channel_id": CHANNEL, "member": member(user, roles), "token": token, "version": 1,
        "app_permissions": "2248473465835073", "locale": "en-US", "guild_locale": "en-US", "entitlements": [],
        "authorizing_integration_owners": {"0": GUILD}, "context": 0, "attachment_size_limit": 10485760
    })
}

/// `/ott SUB` with options `[(name, value)]`, as an APPLICATION_COMMAND.
pub fn command(id: &str, token: &str, user: &str, roles: &[&str], sub: &str, options: &[(&str, Value)]) -> Value {
    let opts: Vec<Value> = options
        .iter()
        .map(|(name, value)| json!({"name": name, "type": if value.is_number() { 4 } else { 3 }, "value": value}))
        .collect();
    let data = json!({"id": "1600000000000000001", "name": "ott", "type": 1, "guild_id": GUILD,
                      "options": [{"name": sub, "type": 1, "options": opts}]});
    interaction(2, id, token, user, roles, data)
}

/// Autocomplete of `/ott SUB event:<typed>`.
pub fn autocomplete(id: &str, token: &str, user: &str, sub: &str, typed: &str) -> Value {
    let data = json!({"id": "1600000000000000001", "name": "ott", "type": 1, "guild_id": GUILD,
                      "options": [{"name": sub, "type": 1, "options": [{"name": "event", "type": 3, "value": typed, "focused": true}]}]});
    interaction(4, id, token, user, &[], data)
}

/// A click on ottd's button `custom_id` (on a message the bot posted).
pub fn click(id: &str, token: &str, user: &str, roles: &[&str], custom_id: &str) -> Value {
    let mut v = interaction(3, id, token, user, roles, json!({"custom_id": custom_id, "component_type": 2}));
    v["message"] = message_json("1500000000000000009", &json!({"embeds": [], "components": []}));
    v
}

/// Sign as Discord signs: Ed25519 over timestamp + body, hex.
pub fn sign(key: &SigningKey, ts: &str, body: &str) -> String {
    hex::encode(key.sign(format!("{ts}{body}").as_bytes()).to_bytes())
}

/// The hex public key of `key` (DISCORD_PUBLIC_KEY).
pub fn public_hex(key: &SigningKey) -> String {
    hex::encode(key.verifying_key().to_bytes())
}

/// POST an interaction to the daemon's endpoint, signed with `key`.
pub fn post_signed(url: &str, key: &SigningKey, body: &Value) -> (u16, String) {
    let body = body.to_string();
    let ts = chrono::Utc::now().timestamp().to_string();
    let headers = [("X-Signature-Ed25519", sign(key, &ts, &body)), ("X-Signature-Timestamp", ts)];
    http_post(url, &headers, &body)
}

/// A plain HTTP/1.1 POST of JSON; answers (status, body).
pub fn http_post(url: &str, headers: &[(&str, String)], body: &str) -> (u16, String) {
    let mut all = vec![("Content-Type", "application/json".to_string())];
    all.extend(headers.iter().cloned());
    crate::common::http_post(url, &all, body)
}
