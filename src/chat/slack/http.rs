//! `POST /slack/commands` and `POST /slack/interactions`: the signature is checked before
//! anything else is read (401 otherwise), a replay is answered 200 with no effect (see
//! [`first_time`]), then the request goes to [`Slack`].

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use super::{verify, Slack, SlashCommand};
use crate::secret::Redacted;

/// Slack's payloads are small; anything this big is not Slack.
pub const MAX_BODY: usize = 64 * 1024;

struct Endpoint {
    slack: Arc<Slack>,
    secret: Redacted,
}

pub fn routes(slack: Arc<Slack>, signing_secret: Redacted) -> Router {
    Router::new()
        .route("/slack/commands", post(commands))
        .route("/slack/interactions", post(interactions))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(Arc::new(Endpoint { slack, secret: signing_secret }))
}

fn check(e: &Endpoint, headers: &HeaderMap, body: &[u8]) -> Result<(), Box<Response>> {
    let now = chrono::Utc::now().timestamp();
    verify::verify(e.secret.expose().as_bytes(), headers, body, now).map_err(|err| {
        tracing::warn!("slack: request refused: {err}");
        Box::new((StatusCode::UNAUTHORIZED, "invalid request signature\n").into_response())
    })
}

/// Whether the request with this key is new. A replay gets 200 and nothing else: Slack itself
/// never sends a request twice to an endpoint that answered, so only a copy does.
async fn first_time(e: &Endpoint, key: &str) -> Result<bool, Box<Response>> {
    e.slack.desk.first_sighting(key).await.map_err(|err| {
        tracing::warn!("slack: cannot note the request in the state file, refused: {err}");
        Box::new((StatusCode::SERVICE_UNAVAILABLE, "try again\n").into_response())
    })
}

async fn commands(State(e): State<Arc<Endpoint>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = check(&e, &headers, &body) {
        return *r;
    }
    // A slash command's body has no id of its own (`trigger_id` is not documented as unique
    // for commands). The signature is HMAC(timestamp, body): a replay must carry it verbatim
    // (any change fails the check above), and it is as good a key as a hash of (timestamp,
    // body) without computing one more digest.
    let signature = headers.get("x-slack-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let c = SlashCommand::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.clone())));
    let key = format!("slack:sig:{signature}");
    let first = if crate::chat::access::reads_only(&c.text) {
        e.slack.desk.first_sighting_of_read(&key).map_err(|err| {
            tracing::warn!("slack: cannot read the replay records, refused: {err}");
            Box::new((StatusCode::SERVICE_UNAVAILABLE, "try again\n").into_response())
        })
    } else {
        first_time(&e, &key).await
    };
    match first {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!("slack: a replayed slash command ignored");
            return StatusCode::OK.into_response();
        }
        Err(r) => return *r,
    }
    Json(e.slack.command(&c).await).into_response()
}

async fn interactions(State(e): State<Arc<Endpoint>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = check(&e, &headers, &body) {
        return *r;
    }
    let payload = url::form_urlencoded::parse(&body).find(|(k, _)| k == "payload").map(|(_, v)| v.into_owned());
    let Some(payload) = payload.and_then(|p| serde_json::from_str::<serde_json::Value>(&p).ok()) else {
        return (StatusCode::BAD_REQUEST, "no JSON payload field\n").into_response();
    };
    // Slack gives every interaction its own trigger id; with the action's timestamp it names
    // one click. Without them, the signature does (as for commands).
    let key = match (payload["trigger_id"].as_str(), payload["actions"][0]["action_ts"].as_str()) {
        (Some(t), a) => format!("slack:click:{t}:{}", a.unwrap_or_default()),
        (None, _) => {
            let signature = headers.get("x-slack-signature").and_then(|v| v.to_str().ok()).unwrap_or_default();
            format!("slack:sig:{signature}")
        }
    };
    match first_time(&e, &key).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!("slack: a replayed click ignored");
            return StatusCode::OK.into_response();
        }
        Err(r) => return *r,
    }
    let Some(slot) = e.slack.slot() else {
        e.slack.busy_click(&payload).await;
        return StatusCode::OK.into_response();
    };
    // Acknowledge at once; the answer goes to response_url.
    let slack = e.slack.clone();
    e.slack.desk.tasks().spawn(async move { slack.interaction(&payload, slot).await });
    StatusCode::OK.into_response()
}
