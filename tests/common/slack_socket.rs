//! A local stand-in for Slack's Socket Mode WebSocket (`ws://127.0.0.1:PORT/link/?ticket=…`,
//! what [`super::slack::SlackStandIn::set_socket_url`] makes `apps.connections.open` answer).
//!
//! Each connection gets a `hello`, then whatever the test pushes to it; everything the client
//! sends back is kept (acks with their connection, envelope id and payload; pings). The test
//! can ask the latest connection to send `disconnect`, to close, or to go silent (never read
//! or write again, without closing: what a dead link looks like). Tests wait on a condition
//! variable for what they expect, never on a sleep.

#![allow(dead_code)]

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

/// The one-time ticket in the stand-in's URL (the client must never log it).
pub const TICKET: &str = "tkt-5b1e-not-for-logs";

/// An acknowledgement the client sent.
#[derive(Debug, Clone)]
pub struct Ack {
    /// Which connection (1, 2, …) it came on.
    pub connection: u32,
    pub envelope_id: String,
    /// The immediate answer, if the ack carried one.
    pub payload: Option<Value>,
    pub at: Instant,
}

enum Control {
    Send(String),
    Close,
    Silent,
}

#[derive(Default, Debug)]
pub struct Seen {
    /// Connections accepted so far (each was sent a hello).
    pub connections: u32,
    /// Connections that ended (closed by either side, or dropped), by number.
    pub ended: Vec<u32>,
    pub acks: Vec<Ack>,
    /// Pings received, all connections together.
    pub pings: u32,
    /// Text frames that were not acks.
    pub other: Vec<String>,
}

#[derive(Default)]
struct State {
    seen: Mutex<Seen>,
    /// Control of connection N at index N-1.
    controls: Mutex<Vec<mpsc::UnboundedSender<Control>>>,
    changed: Condvar,
}

impl State {
    fn update(&self, f: impl FnOnce(&mut Seen)) {
        f(&mut self.seen.lock().unwrap_or_else(|p| p.into_inner()));
        self.changed.notify_all();
    }
}

pub struct SocketStandIn {
    port: u16,
    state: Arc<State>,
    _runtime: tokio::runtime::Runtime,
}

impl SocketStandIn {
    pub fn start() -> SocketStandIn {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let state = Arc::new(State::default());
        let st = state.clone();
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                tokio::spawn(serve(st.clone(), tcp));
            }
        });
        SocketStandIn { port, state, _runtime: runtime }
    }

    /// What `apps.connections.open` should answer.
    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}/link/?ticket={TICKET}&app_id=A0TEST", self.port)
    }

    pub fn seen<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.state.seen.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Wait until `want` answers something; after `limit`, say what was awaited and
    /// everything seen.
    pub fn try_wait<T>(&self, what: &str, limit: Duration, want: impl Fn(&Seen) -> Option<T>) -> Result<T, String> {
        let until = Instant::now() + limit;
        let mut seen = self.state.seen.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(t) = want(&seen) {
                return Ok(t);
            }
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("timed out waiting for {what}; the Socket Mode stand-in saw:\n{:#?}", *seen));
            }
            seen = self.state.changed.wait_timeout(seen, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    pub fn wait<T>(&self, what: &str, limit: Duration, want: impl Fn(&Seen) -> Option<T>) -> T {
        self.try_wait(what, limit, want).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Check that `holds` stays true for `span` (an absence can only be watched for a time).
    pub fn holds_for(&self, what: &str, span: Duration, holds: impl Fn(&Seen) -> bool) {
        let until = Instant::now() + span;
        let mut seen = self.state.seen.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            assert!(holds(&seen), "{what} stopped holding; the Socket Mode stand-in saw:\n{:#?}", *seen);
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            seen = self.state.changed.wait_timeout(seen, left).unwrap_or_else(|p| p.into_inner()).0;
        }
    }

    /// Wait for connection `n` (it has been sent its hello).
    pub fn wait_connection(&self, n: u32, limit: Duration) -> Result<(), String> {
        self.try_wait(&format!("connection {n}"), limit, |s| (s.connections >= n).then_some(()))
    }

    /// Wait for connection `n` to end.
    pub fn wait_ended(&self, n: u32, limit: Duration) {
        self.wait(&format!("connection {n} to end"), limit, |s| s.ended.contains(&n).then_some(()));
    }

    /// Wait for the ack of `envelope_id`.
    pub fn wait_ack(&self, envelope_id: &str, limit: Duration) -> Result<Ack, String> {
        self.try_wait(&format!("the ack of {envelope_id}"), limit, |s| {
            s.acks.iter().find(|a| a.envelope_id == envelope_id).cloned()
        })
    }

    fn control(&self, n: u32, c: Control) {
        let controls = self.state.controls.lock().unwrap_or_else(|p| p.into_inner());
        let tx = controls.get((n as usize).wrapping_sub(1)).unwrap_or_else(|| panic!("no connection {n}"));
        assert!(tx.send(c).is_ok(), "connection {n} has ended");
    }

    fn latest(&self) -> u32 {
        let n = self.seen(|s| s.connections);
        assert!(n > 0, "no connection yet");
        n
    }

    /// Send an envelope on connection `n`; answers when.
    pub fn push_to(&self, n: u32, envelope: &Value) -> Instant {
        self.control(n, Control::Send(envelope.to_string()));
        Instant::now()
    }

    /// Send an envelope on the latest connection; answers when.
    pub fn push(&self, envelope: &Value) -> Instant {
        self.push_to(self.latest(), envelope)
    }

    /// `{"type":"disconnect","reason":…}` on the latest connection (which stays open).
    pub fn disconnect(&self, reason: &str) {
        let frame = json!({"type": "disconnect", "reason": reason, "debug_info": {"host": "applink-standin"}});
        self.control(self.latest(), Control::Send(frame.to_string()));
    }

    /// Close the latest connection (a close frame, then the socket).
    pub fn close(&self) {
        self.control(self.latest(), Control::Close);
    }

    /// The latest connection stops reading and writing, without closing.
    pub fn go_silent(&self) {
        self.control(self.latest(), Control::Silent);
    }
}

async fn serve(state: Arc<State>, tcp: tokio::net::TcpStream) {
    let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else { return };
    let (tx, mut rx) = mpsc::unbounded_channel();
    let n = {
        let mut controls = state.controls.lock().unwrap_or_else(|p| p.into_inner());
        controls.push(tx);
        controls.len() as u32
    };
    let hello = json!({
        "type": "hello",
        "num_connections": 1,
        "debug_info": {"host": "applink-standin", "approximate_connection_time": 18060},
        "connection_info": {"app_id": "A0TEST"},
    });
    if ws.send(Message::text(hello.to_string())).await.is_err() {
        state.update(|s| s.ended.push(n));
        return;
    }
    state.update(|s| s.connections = s.connections.max(n));
    loop {
        tokio::select! {
            c = rx.recv() => match c {
                Some(Control::Send(text)) => {
                    if ws.send(Message::text(text)).await.is_err() {
                        break;
                    }
                }
                Some(Control::Close) | None => {
                    let _ = ws.close(None).await;
                    break;
                }
                Some(Control::Silent) => {
                    // Hold the socket open, never touching it again: no reads, no pongs.
                    let _held = ws;
                    std::future::pending::<()>().await;
                    return;
                }
            },
            frame = ws.next() => match frame {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).unwrap_or(Value::Null);
                    match v["envelope_id"].as_str() {
                        Some(id) => {
                            let ack = Ack {
                                connection: n,
                                envelope_id: id.to_string(),
                                payload: v.get("payload").cloned(),
                                at: Instant::now(),
                            };
                            state.update(|s| s.acks.push(ack));
                        }
                        None => state.update(|s| s.other.push(t.to_string())),
                    }
                }
                Some(Ok(Message::Ping(_))) => state.update(|s| s.pings += 1),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                Some(Ok(_)) => {}
            },
        }
    }
    state.update(|s| s.ended.push(n));
}

/// A `slash_commands` envelope for `/ott TEXT`, as Socket Mode delivers it.
pub fn command_envelope(id: &str, user: &str, channel: &str, text: &str, response_url: &str) -> Value {
    json!({
        "envelope_id": id,
        "type": "slash_commands",
        "accepts_response_payload": true,
        "payload": {
            "token": "deprecated-verification-token",
            "team_id": "T0TEST",
            "team_domain": "live-ops",
            "channel_id": channel,
            "channel_name": "live-ops",
            "user_id": user,
            "user_name": "someone",
            "command": "/ott",
            "text": text,
            "api_app_id": "A0TEST",
            "is_enterprise_install": "false",
            "response_url": response_url,
            "trigger_id": crate::common::slack::trigger_id(),
        },
    })
}

/// An `interactive` envelope: a click on an ottd button with `value`.
pub fn click_envelope(id: &str, user: &str, channel: &str, value: &str, response_url: &str) -> Value {
    json!({
        "envelope_id": id,
        "type": "interactive",
        "accepts_response_payload": false,
        "payload": crate::common::slack::block_actions(user, channel, value, response_url, false),
    })
}

/// An `events_api` envelope (ottd subscribes to none; it must still be acked).
pub fn event_envelope(id: &str) -> Value {
    json!({
        "envelope_id": id,
        "type": "events_api",
        "accepts_response_payload": false,
        "payload": {"type": "event_callback", "event": {"type": "app_mention", "text": "hi"}},
    })
}
