//! `POST /slack/commands` and `POST /slack/interactions`: the signature is checked before
//! anything else is read (401 otherwise), then the request goes to [`Slack`].

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

async fn commands(State(e): State<Arc<Endpoint>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = check(&e, &headers, &body) {
        return *r;
    }
    let pairs: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    let c = SlashCommand::from_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.clone())));
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
    // Acknowledge at once; the answer goes to response_url.
    let slack = e.slack.clone();
    tokio::spawn(async move { slack.interaction(&payload).await });
    StatusCode::OK.into_response()
}
