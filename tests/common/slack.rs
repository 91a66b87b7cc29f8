//! A local stand-in for Slack, speaking its documented wire formats: the Web API
//! (`chat.postMessage`, `usergroups.list`, `apps.connections.open`) under `/api/`, and
//! `response_url` receivers under `/response/N`. Everything received is kept in order;
//! tests wait on a condition variable for what they expect, never on a sleep.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

/// What the stand-in received.
#[derive(Debug, Clone)]
pub enum Received {
    /// A POST to `/response/N` (a `response_url` follow-up).
    Response { n: u32, body: Value },
    /// A Web API call: method, bearer token, JSON body.
    Api { method: String, token: String, body: Value },
}

pub use super::http_post;

pub type Log = super::received::Log<Received>;

/// The follow-ups posted to `/response/N`, in order.
pub fn responses(items: &[Received], n: u32) -> Vec<Value> {
    items
        .iter()
        .filter_map(|r| match r {
            Received::Response { n: m, body } if *m == n => Some(body.clone()),
            _ => None,
        })
        .collect()
}

pub fn api_calls(items: &[Received], method: &str) -> Vec<Value> {
    items
        .iter()
        .filter_map(|r| match r {
            Received::Api { method: m, body, .. } if m == method => Some(body.clone()),
            _ => None,
        })
        .collect()
}

/// The text of a Block Kit message: its `text` and every mrkdwn/plain text in its blocks.
pub fn text_of(v: &Value) -> String {
    let mut out = v["text"].as_str().unwrap_or_default().to_string();
    fn walk(v: &Value, out: &mut String) {
        match v {
            Value::Object(m) => {
                if let Some(Value::String(t)) = m.get("text") {
                    out.push('\n');
                    out.push_str(t);
                }
                if let Some(Value::String(u)) = m.get("url") {
                    out.push('\n');
                    out.push_str(u);
                }
                for (k, x) in m {
                    if k != "text" || !x.is_string() {
                        walk(x, out);
                    }
                }
            }
            Value::Array(a) => a.iter().for_each(|x| walk(x, out)),
            _ => {}
        }
    }
    walk(&v["blocks"], &mut out);
    out
}

/// The values of the ottd buttons (action ids `ott:*`) in a Block Kit message.
pub fn button_values(v: &Value) -> Vec<String> {
    v["blocks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["type"] == "actions")
        .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
        .filter(|e| e["action_id"].as_str().is_some_and(|a| a.starts_with("ott:")))
        .filter_map(|e| e["value"].as_str().map(str::to_string))
        .collect()
}

struct Shared {
    log: Arc<Log>,
    /// `usergroups.list` answers these: group id → members.
    groups: Mutex<HashMap<String, Vec<String>>>,
    /// `apps.connections.open` answers this URL (Socket Mode stand-ins set it).
    socket_url: Mutex<Option<String>>,
}

pub struct SlackStandIn {
    pub base: String,
    pub log: Arc<Log>,
    shared: Arc<Shared>,
    _runtime: tokio::runtime::Runtime,
}

impl SlackStandIn {
    pub fn start() -> SlackStandIn {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
        let log = Arc::new(Log::new("Slack"));
        let shared = Arc::new(Shared { log: log.clone(), groups: Mutex::default(), socket_url: Mutex::default() });
        let app = Router::new()
            .route("/api/{method}", post(api))
            .route("/response/{n}", post(response))
            .with_state(shared.clone());
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        runtime.spawn(async move { axum::serve(listener, app).await });
        SlackStandIn { base, log, shared, _runtime: runtime }
    }

    /// ottd.toml's `[chat.slack]` over HTTP on this stand-in (its Web API, our workspace, its
    /// `response_url`s the only ones ottd may post to, unless `slack_keys` names others), with
    /// more `[chat.slack]` keys and then `grants` as (role, the `who` list's entries as TOML).
    pub fn http_config(&self, slack_keys: &str, grants: &[(&str, &str)]) -> String {
        let hosts = if slack_keys.contains("response_hosts") {
            String::new()
        } else {
            format!("response_hosts = [\"{}\"]\n", self.base)
        };
        let mut text = format!(
            "\n[chat.slack]\nmode = \"http\"\napi_url = \"{}\"\nteam_id = \"{TEAM}\"\n{hosts}{slack_keys}",
            self.api_url()
        );
        for (role, who) in grants {
            text.push_str(&format!("[[chat.grant]]\nrole = \"{role}\"\nwho = [{who}]\n"));
        }
        text
    }

    /// `[chat.slack] api_url` for ottd.
    pub fn api_url(&self) -> String {
        format!("{}/api", self.base)
    }

    /// A `response_url` for the Nth command of a test.
    pub fn response_url(&self, n: u32) -> String {
        format!("{}/response/{n}", self.base)
    }

    pub fn set_group(&self, group: &str, members: &[&str]) {
        self.shared
            .groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(group.to_string(), members.iter().map(|m| m.to_string()).collect());
    }

    pub fn set_socket_url(&self, url: &str) {
        *self.shared.socket_url.lock().unwrap_or_else(|p| p.into_inner()) = Some(url.to_string());
    }
}

async fn api(
    State(s): State<Arc<Shared>>,
    Path(method): Path<String>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> Json<Value> {
    let token = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .to_string();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.log.push(Received::Api { method: method.clone(), token: token.clone(), body: parsed.clone() });
    let answer = match method.as_str() {
        "chat.postMessage" if token.starts_with("xoxb-") => {
            json!({"ok": true, "channel": parsed["channel"], "ts": "1700000000.000100"})
        }
        "usergroups.list" if token.starts_with("xoxb-") => {
            let groups = s.groups.lock().unwrap_or_else(|p| p.into_inner()).clone();
            let list: Vec<Value> = groups.into_iter().map(|(id, users)| json!({"id": id, "users": users})).collect();
            json!({"ok": true, "usergroups": list})
        }
        "apps.connections.open" if token.starts_with("xapp-") => {
            match s.socket_url.lock().unwrap_or_else(|p| p.into_inner()).clone() {
                Some(url) => json!({"ok": true, "url": url}),
                None => json!({"ok": false, "error": "no_socket_stand_in"}),
            }
        }
        _ if token.is_empty() => json!({"ok": false, "error": "not_authed"}),
        _ => json!({"ok": false, "error": "invalid_auth"}),
    };
    Json(answer)
}

async fn response(State(s): State<Arc<Shared>>, Path(n): Path<u32>, body: axum::body::Bytes) -> &'static str {
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.log.push(Received::Response { n, body: parsed });
    "ok"
}

/// Sign as Slack signs: `v0=hex(HMAC-SHA256(secret, "v0:ts:body"))`.
pub fn sign(secret: &str, ts: i64, body: &str) -> String {
    ottd::chat::slack::verify::sign(secret.as_bytes(), ts, body.as_bytes())
}

/// The workspace the tests' requests come from (`[chat.slack] team_id`).
pub const TEAM: &str = "T0TEST";

/// A trigger id as Slack makes them: unique per command or click.
pub fn trigger_id() -> String {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    format!("{nanos}.{n}.{}", std::process::id())
}

/// A slash command form, as Slack sends it.
pub fn command_form(user: &str, channel: &str, text: &str, response_url: &str) -> String {
    command_form_in(TEAM, user, channel, text, response_url)
}

/// [`command_form`] from the workspace `team`.
pub fn command_form_in(team: &str, user: &str, channel: &str, text: &str, response_url: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("token", "deprecated-verification-token")
        .append_pair("team_id", team)
        .append_pair("team_domain", "live-ops")
        .append_pair("channel_id", channel)
        .append_pair("channel_name", "live-ops")
        .append_pair("user_id", user)
        .append_pair("user_name", "someone")
        .append_pair("command", "/ott")
        .append_pair("text", text)
        .append_pair("api_app_id", "A0TEST")
        .append_pair("response_url", response_url)
        .append_pair("trigger_id", &trigger_id())
        .finish()
}

/// A block_actions interaction form (`payload=<JSON>`), as Slack sends a button click.
pub fn click_form(user: &str, channel: &str, value: &str, response_url: &str) -> String {
    click_form_on(user, channel, value, response_url, false)
}

/// [`click_form`] on a message that is `ephemeral` (only its reader sees it) or not.
pub fn click_form_on(user: &str, channel: &str, value: &str, response_url: &str, ephemeral: bool) -> String {
    let payload = block_actions(user, channel, value, response_url, ephemeral);
    url::form_urlencoded::Serializer::new(String::new()).append_pair("payload", &payload.to_string()).finish()
}

/// The `block_actions` payload of a click on an ottd button with `value` (the same over HTTP
/// and in a Socket Mode envelope).
pub fn block_actions(user: &str, channel: &str, value: &str, response_url: &str, ephemeral: bool) -> Value {
    block_actions_in(TEAM, user, channel, value, response_url, ephemeral)
}

/// [`block_actions`] by a user of the workspace `team`.
pub fn block_actions_in(
    team: &str,
    user: &str,
    channel: &str,
    value: &str,
    response_url: &str,
    ephemeral: bool,
) -> Value {
    json!({
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "team_id": team},
        "api_app_id": "A0TEST",
        "team": {"id": team},
        "container": {"type": "message", "channel_id": channel, "is_ephemeral": ephemeral},
        "channel": {"id": channel, "name": "live-ops"},
        "response_url": response_url,
        "trigger_id": trigger_id(),
        "actions": [{"type": "button", "action_id": "ott:0", "block_id": "b", "value": value, "action_ts": "1.2"}],
    })
}

/// POST a form to the daemon, signed with `secret` at `ts`.
pub fn post_signed(url: &str, secret: &str, ts: i64, form: &str) -> (u16, String) {
    let headers = [
        ("Content-Type", "application/x-www-form-urlencoded".to_string()),
        ("X-Slack-Request-Timestamp", ts.to_string()),
        ("X-Slack-Signature", sign(secret, ts, form)),
    ];
    http_post(url, &headers, form)
}
