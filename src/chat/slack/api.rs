//! Slack's Web API, as much as ottd needs: `apps.connections.open` (Socket Mode, app token),
//! `chat.postMessage` (notifications, bot token), `usergroups.list` (who is in which user
//! group, for grants to `slack:group:…`), and `response_url` follow-ups. The base URL comes
//! from `[chat.slack] api_url` so tests point it at a local stand-in.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::secret::Redacted;

/// How long the user-group membership read from Slack is trusted.
const GROUPS_TTL: Duration = Duration::from_secs(300);

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Slack {method}: {source}")]
    Http { method: String, source: reqwest::Error },
    #[error("Slack {method} answered ok=false: {error}")]
    Slack { method: String, error: String },
    #[error("Slack {method}: no {token} token (set it in the environment or the secrets file)")]
    NoToken { method: String, token: &'static str },
}

/// When the user-group membership was read, and user → groups.
type GroupCache = (Instant, HashMap<String, Vec<String>>);

pub struct WebApi {
    base: String,
    http: reqwest::Client,
    bot: Option<Redacted>,
    app: Option<Redacted>,
    groups: Mutex<Option<GroupCache>>,
}

impl WebApi {
    pub fn new(base: &str, bot: Option<Redacted>, app: Option<Redacted>) -> WebApi {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        WebApi { base: base.trim_end_matches('/').to_string(), http, bot, app, groups: Mutex::default() }
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

    /// A follow-up to a command or a click (no token: the URL is the capability).
    pub async fn respond(&self, response_url: &str, body: &Value) -> Result<(), ApiError> {
        let http = |source| ApiError::Http { method: "response_url".into(), source };
        self.http
            .post(response_url)
            .header("content-type", "application/json; charset=utf-8")
            .body(body.to_string())
            .send()
            .await
            .map_err(http)?
            .error_for_status()
            .map_err(http)?;
        Ok(())
    }

    /// The user groups `user` belongs to (empty without a bot token or on error: grants to
    /// groups then simply do not apply).
    pub async fn groups_of(&self, user: &str) -> Vec<String> {
        let Some(token) = &self.bot else { return Vec::new() };
        let cached = {
            let g = self.groups.lock().unwrap_or_else(|p| p.into_inner());
            g.as_ref()
                .filter(|(at, _)| at.elapsed() < GROUPS_TTL)
                .map(|(_, m)| m.get(user).cloned().unwrap_or_default())
        };
        if let Some(c) = cached {
            return c;
        }
        let body = serde_json::json!({"include_users": true});
        let map = match self.call("usergroups.list", token, Some(&body)).await {
            Ok(v) => {
                let mut map: HashMap<String, Vec<String>> = HashMap::new();
                for g in v["usergroups"].as_array().into_iter().flatten() {
                    let Some(id) = g["id"].as_str() else { continue };
                    for u in g["users"].as_array().into_iter().flatten().filter_map(Value::as_str) {
                        map.entry(u.to_string()).or_default().push(id.to_string());
                    }
                }
                map
            }
            Err(e) => {
                tracing::warn!("cannot read Slack user groups (grants to slack:group:… do not apply): {e}");
                HashMap::new()
            }
        };
        let mine = map.get(user).cloned().unwrap_or_default();
        *self.groups.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), map));
        mine
    }
}
