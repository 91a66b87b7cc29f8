//! Discord's HTTP API, as much as ottd needs: the interaction callback (gateway
//! interactions), edits of the original response and follow-ups (the interaction token is the
//! capability), channel messages (notifications; bot token) and the `/ott` command's
//! registration (bot token). The base URL, version included, comes from
//! `[chat.discord] api_url` so tests point it at a local stand-in.
//!
//! Interaction tokens travel in URL paths: errors are stripped of their URL before anyone can
//! log them. A 429 is waited out once when Discord asks for a short wait; anything longer is
//! an error for the caller to report.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use crate::secret::Redacted;

/// The longest rate-limit wait taken before retrying (once).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(5);
/// How much of an error body is kept for the log.
const BODY_SNIPPET: usize = 300;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("Discord {what}: {source}")]
    Http {
        what: &'static str,
        #[source]
        source: reqwest::Error,
    },
    #[error("Discord {what} answered {status}: {body}")]
    Status { what: &'static str, status: u16, body: String },
    #[error("Discord {what}: no bot token (set DISCORD_TOKEN in the environment or the secrets file)")]
    NoToken { what: &'static str },
}

impl ApiError {
    /// The message the call was about is gone or the token expired (404 Unknown Message,
    /// 401 Invalid Webhook Token).
    pub fn is_gone(&self) -> bool {
        matches!(self, ApiError::Status { status: 401 | 404, .. })
    }
}

pub struct Api {
    base: String,
    http: reqwest::Client,
    bot: Option<Redacted>,
}

impl Api {
    pub fn new(base: &str, bot: Option<Redacted>) -> Api {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Api { base: base.trim_end_matches('/').to_string(), http, bot }
    }

    pub fn has_bot_token(&self) -> bool {
        self.bot.is_some()
    }

    fn bot(&self, what: &'static str) -> Result<&Redacted, ApiError> {
        self.bot.as_ref().ok_or(ApiError::NoToken { what })
    }

    async fn send(
        &self,
        what: &'static str,
        method: Method,
        path: &str,
        bot: Option<&Redacted>,
        body: &Value,
    ) -> Result<Value, ApiError> {
        let url = format!("{}{path}", self.base);
        let http = |e: reqwest::Error| ApiError::Http { what, source: e.without_url() };
        let mut retried = false;
        loop {
            let mut req = self
                .http
                .request(method.clone(), &url)
                .header("content-type", "application/json")
                .body(body.to_string());
            if let Some(token) = bot {
                req = req.header("authorization", format!("Bot {}", token.expose()));
            }
            let resp = req.send().await.map_err(http)?;
            let status = resp.status();
            let bytes = resp.bytes().await.map_err(http)?;
            if status.is_success() {
                return Ok(serde_json::from_slice(&bytes).unwrap_or(Value::Null));
            }
            let text = String::from_utf8_lossy(&bytes);
            if status == StatusCode::TOO_MANY_REQUESTS && !retried {
                if let Some(wait) = retry_after(&text).filter(|w| *w <= MAX_RETRY_AFTER) {
                    tracing::warn!(what, wait_ms = wait.as_millis() as u64, "discord: rate limited, waiting");
                    tokio::time::sleep(wait).await;
                    retried = true;
                    continue;
                }
            }
            let body = crate::chat::message::cut(&text, BODY_SNIPPET);
            return Err(ApiError::Status { what, status: status.as_u16(), body });
        }
    }

    /// Answer an interaction that came over the gateway (the HTTP endpoint answers in its
    /// response instead).
    pub async fn callback(&self, id: &str, token: &str, body: &Value) -> Result<(), ApiError> {
        let path = format!("/interactions/{}/{}/callback", seg(id), seg(token));
        self.send("interaction callback", Method::POST, &path, None, body).await.map(drop)
    }

    /// Replace the interaction's original response (progress, then the result).
    pub async fn edit_original(&self, application: &str, token: &str, body: &Value) -> Result<(), ApiError> {
        let path = format!("/webhooks/{}/{}/messages/@original", seg(application), seg(token));
        self.send("edit of the original response", Method::PATCH, &path, None, body).await.map(drop)
    }

    /// A further message on the interaction (within the token's 15 minutes).
    pub async fn followup(&self, application: &str, token: &str, body: &Value) -> Result<(), ApiError> {
        let path = format!("/webhooks/{}/{}", seg(application), seg(token));
        self.send("follow-up message", Method::POST, &path, None, body).await.map(drop)
    }

    /// Post a message to a channel as the bot; answers the message id.
    pub async fn post_channel(&self, channel: &str, body: &Value) -> Result<String, ApiError> {
        let what = "channel message";
        let token = self.bot(what)?;
        let path = format!("/channels/{}/messages", seg(channel));
        let v = self.send(what, Method::POST, &path, Some(token), body).await?;
        Ok(v["id"].as_str().unwrap_or_default().to_string())
    }

    /// Register (overwrite) the application's commands: in one guild (at once) or globally
    /// (Discord may take up to an hour to show them).
    pub async fn register_commands(
        &self,
        application: &str,
        guild: Option<u64>,
        commands: &Value,
    ) -> Result<(), ApiError> {
        let what = "command registration";
        let token = self.bot(what)?;
        let path = match guild {
            Some(g) => format!("/applications/{}/guilds/{g}/commands", seg(application)),
            None => format!("/applications/{}/commands", seg(application)),
        };
        self.send(what, Method::PUT, &path, Some(token), commands).await.map(drop)
    }
}

/// Everything but RFC 3986's unreserved characters.
const SEGMENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

/// A path segment: ids and tokens from Discord are URL-safe, anything else is encoded.
fn seg(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()
}

/// The wait a 429 asks for: its JSON `retry_after`, in seconds.
fn retry_after(body: &str) -> Option<Duration> {
    let v: Value = serde_json::from_str(body).ok()?;
    let secs = v["retry_after"].as_f64().filter(|s| s.is_finite() && *s >= 0.0)?;
    Some(Duration::from_secs_f64(secs.min(3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_limit_waits_are_read_from_the_body() {
        assert_eq!(
            retry_after(r#"{"message":"You are being rate limited.","retry_after":0.5,"global":false}"#),
            Some(Duration::from_millis(500))
        );
        assert_eq!(retry_after(r#"{"retry_after":-1}"#), None);
        assert_eq!(retry_after("not json"), None);
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(seg("123"), "123");
        assert_eq!(seg("a-b_c.d~e"), "a-b_c.d~e");
        assert_eq!(seg("aW50:ZXJh/Y3Q"), "aW50%3AZXJh%2FY3Q");
    }
}
