//! Slack's Web API, as much as ottd needs: `apps.connections.open` (Socket Mode, app token),
//! `chat.postMessage` (notifications, bot token), `usergroups.list` (who is in which user
//! group, for grants to `slack:group:…`), and `response_url` follow-ups. The base URL comes
//! from `[chat.slack] api_url` so tests point it at a local stand-in.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::response_url::{self, Origin};
use crate::secret::Redacted;

/// How long the user-group membership read from Slack is trusted.
const GROUPS_TTL: Duration = Duration::from_secs(300);
/// After a failed read, the last good membership is kept and the read tried again this soon
/// (a blip at Slack must not take every group grant away for [`GROUPS_TTL`]).
const GROUPS_RETRY: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Slack {method}: {source}")]
    Http { method: String, source: reqwest::Error },
    #[error("Slack {method} answered ok=false: {error}")]
    Slack { method: String, error: String },
    #[error("Slack {method}: no {token} token (set it in the environment or the secrets file)")]
    NoToken { method: String, token: &'static str },
    #[error("follow-up not sent: {0}")]
    ResponseUrl(#[from] response_url::Refused),
}

/// The user-group membership as last read (user → groups), and until when it is trusted.
#[derive(Default)]
struct Groups {
    members: Option<Arc<HashMap<String, Vec<String>>>>,
    fresh_until: Option<Instant>,
}

pub struct WebApi {
    base: String,
    http: reqwest::Client,
    bot: Option<Redacted>,
    app: Option<Redacted>,
    /// Origins follow-ups may be posted to (`[chat.slack] response_hosts`).
    response_hosts: Vec<Origin>,
    groups: Mutex<Groups>,
    /// One `usergroups.list` in flight at a time: callers arriving meanwhile wait for it
    /// and take its answer, rather than all asking Slack at once when the cache expires.
    refresh: tokio::sync::Mutex<()>,
    groups_ttl: Duration,
    groups_retry: Duration,
}

impl WebApi {
    /// `response_hosts`: origins as `[chat.slack] response_hosts` has them (unreadable ones,
    /// which validation refuses, are skipped).
    pub fn new(base: &str, bot: Option<Redacted>, app: Option<Redacted>, response_hosts: &[String]) -> WebApi {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        WebApi {
            base: base.trim_end_matches('/').to_string(),
            http,
            bot,
            app,
            response_hosts: response_hosts.iter().filter_map(|h| Origin::parse(h)).collect(),
            groups: Mutex::default(),
            refresh: tokio::sync::Mutex::new(()),
            groups_ttl: GROUPS_TTL,
            groups_retry: GROUPS_RETRY,
        }
    }

    /// The same client with other user-group timings (tests).
    pub fn with_group_timing(mut self, ttl: Duration, retry: Duration) -> WebApi {
        self.groups_ttl = ttl;
        self.groups_retry = retry;
        self
    }

    pub fn has_bot_token(&self) -> bool {
        self.bot.is_some()
    }

    async fn call(&self, method: &str, token: &Redacted, body: Option<&Value>) -> Result<Value, ApiError> {
        let url = format!("{}/{method}", self.base);
        let req = self.http.post(&url).bearer_auth(token.expose());
        let req = match body {
            Some(b) => req.header("content-type", "application/json; charset=utf-8").body(b.to_string()),
            None => req,
        };
        let http = |source| ApiError::Http { method: method.to_string(), source };
        let bytes = req.send().await.map_err(http)?.error_for_status().map_err(http)?.bytes().await.map_err(http)?;
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| ApiError::Slack { method: method.to_string(), error: format!("not JSON: {e}") })?;
        if v["ok"] == Value::Bool(true) {
            Ok(v)
        } else {
            let error = v["error"].as_str().unwrap_or("unknown error").to_string();
            Err(ApiError::Slack { method: method.to_string(), error })
        }
    }

    /// A fresh Socket Mode WebSocket URL.
    pub async fn open_connection(&self) -> Result<String, ApiError> {
        let method = "apps.connections.open";
        let token = self.app.as_ref().ok_or(ApiError::NoToken { method: method.into(), token: "app (xapp-)" })?;
        let v = self.call(method, token, None).await?;
        v["url"].as_str().map(str::to_string).ok_or(ApiError::Slack { method: method.into(), error: "no url".into() })
    }

    /// Post a message (`chat.postMessage` body); answers its `ts`.
    pub async fn post_message(&self, body: &Value) -> Result<String, ApiError> {
        let method = "chat.postMessage";
        let token = self.bot.as_ref().ok_or(ApiError::NoToken { method: method.into(), token: "bot (xoxb-)" })?;
        let v = self.call(method, token, Some(body)).await?;
        Ok(v["ts"].as_str().unwrap_or_default().to_string())
    }

    /// A follow-up to a command or a click (no token: the URL is the capability), only to
    /// an allowed origin ([`response_url`]); errors carry no URL.
    pub async fn respond(&self, response_url: &str, body: &Value) -> Result<(), ApiError> {
        let url = response_url::check(response_url, &self.response_hosts)?;
        let http =
            |source: reqwest::Error| ApiError::Http { method: "response_url".into(), source: source.without_url() };
        self.http
            .post(url)
            .header("content-type", "application/json; charset=utf-8")
            .body(body.to_string())
            .send()
            .await
            .map_err(http)?
            .error_for_status()
            .map_err(http)?;
        Ok(())
    }

    /// The user groups `user` belongs to (empty without a bot token, or when Slack has never
    /// answered: grants to groups then simply do not apply). A failed read keeps the last good
    /// membership and is tried again after [`GROUPS_RETRY`].
    pub async fn groups_of(&self, user: &str) -> Vec<String> {
        let Some(token) = &self.bot else { return Vec::new() };
        if let Some(m) = self.fresh_groups() {
            return m.get(user).cloned().unwrap_or_default();
        }
        let _one = self.refresh.lock().await;
        // Whoever held the lock before may have just read them.
        if let Some(m) = self.fresh_groups() {
            return m.get(user).cloned().unwrap_or_default();
        }
        let body = serde_json::json!({"include_users": true});
        let read = self.call("usergroups.list", token, Some(&body)).await;
        let mut g = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        match read {
            Ok(v) => {
                let mut map: HashMap<String, Vec<String>> = HashMap::new();
                for group in v["usergroups"].as_array().into_iter().flatten() {
                    let Some(id) = group["id"].as_str() else { continue };
                    for u in group["users"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                        map.entry(u.to_string()).or_default().push(id.to_string());
                    }
                }
                g.members = Some(Arc::new(map));
                g.fresh_until = Some(Instant::now() + self.groups_ttl);
            }
            Err(e) => {
                let kept = if g.members.is_some() {
                    "the last membership read stays in force"
                } else {
                    "grants to slack:group:… do not apply yet"
                };
                tracing::warn!("cannot read Slack user groups ({kept}; next try in {:?}): {e}", self.groups_retry);
                g.fresh_until = Some(Instant::now() + self.groups_retry);
            }
        }
        g.members.as_ref().and_then(|m| m.get(user).cloned()).unwrap_or_default()
    }

    /// The membership while it is trusted.
    fn fresh_groups(&self) -> Option<Arc<HashMap<String, Vec<String>>>> {
        let g = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        let fresh = g.fresh_until.is_some_and(|until| Instant::now() < until);
        if fresh {
            Some(g.members.clone().unwrap_or_default())
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use super::*;

    /// A `usergroups.list` stand-in, slow enough for callers to overlap; counts its calls and
    /// fails from the call `fail_from` on.
    async fn stand_in(calls: Arc<AtomicUsize>, fail_from: usize) -> String {
        let app = axum::Router::new().route(
            "/usergroups.list",
            axum::routing::post(move || {
                let calls = calls.clone();
                async move {
                    let n = calls.fetch_add(1, Ordering::SeqCst) + 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    if n >= fail_from {
                        return axum::Json(serde_json::json!({"ok": false, "error": "ratelimited"}));
                    }
                    axum::Json(serde_json::json!({"ok": true, "usergroups": [{"id": "S1", "users": ["U1"]}]}))
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        base
    }

    #[tokio::test]
    async fn one_usergroups_read_at_a_time() {
        let calls = Arc::new(AtomicUsize::new(0));
        let base = stand_in(calls.clone(), usize::MAX).await;
        let api = Arc::new(WebApi::new(&base, Some(Redacted::new("xoxb-t".into())), None, &[]));
        let asks = (0..8).map(|_| {
            let api = api.clone();
            tokio::spawn(async move { api.groups_of("U1").await })
        });
        for groups in futures::future::join_all(asks).await {
            assert_eq!(groups.expect("task"), ["S1"]);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "eight callers, one read");
    }

    #[tokio::test]
    async fn a_failed_usergroups_read_keeps_the_last_good_groups() {
        let calls = Arc::new(AtomicUsize::new(0));
        let base = stand_in(calls.clone(), 2).await;
        // Always stale: every call reads again, unless a failure set the retry time.
        let api = WebApi::new(&base, Some(Redacted::new("xoxb-t".into())), None, &[])
            .with_group_timing(Duration::ZERO, Duration::from_secs(3600));
        assert_eq!(api.groups_of("U1").await, ["S1"]);
        assert_eq!(api.groups_of("U1").await, ["S1"], "Slack failed: the last good membership stays");
        assert_eq!(api.groups_of("U1").await, ["S1"]);
        assert_eq!(calls.load(Ordering::SeqCst), 2, "after a failure, no new read before the retry time");
    }
}
