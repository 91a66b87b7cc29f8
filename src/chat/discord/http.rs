//! `POST /discord/interactions`: Discord's HTTP interactions endpoint. The Ed25519 signature is
//! checked before anything else is read (401 otherwise: Discord probes with bad signatures and
//! drops endpoints that accept them), a copy of an interaction already taken (same id, also
//! after a restart) is refused (409), then the interaction goes to [`Discord`], whose initial
//! response is the HTTP answer; what follows goes out as webhook edits.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};

use super::verify::PublicKey;
use super::Discord;

/// Interactions are small; anything this big is not Discord.
pub const MAX_BODY: usize = 64 * 1024;

struct Endpoint {
    discord: Arc<Discord>,
    key: PublicKey,
}

pub fn routes(discord: Arc<Discord>, key: PublicKey) -> Router {
    Router::new()
        .route("/discord/interactions", post(interactions))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(Arc::new(Endpoint { discord, key }))
}

async fn interactions(State(e): State<Arc<Endpoint>>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(err) = e.key.verify(&headers, &body, chrono::Utc::now().timestamp()) {
        tracing::warn!("discord: request refused: {err}");
        return (StatusCode::UNAUTHORIZED, "invalid request signature\n").into_response();
    }
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&body) else {
        return (StatusCode::BAD_REQUEST, "not a JSON interaction\n").into_response();
    };
    // Discord sends each interaction once: a second copy is a replay. PINGs act on nothing.
    if !super::is_ping(&v) {
        let Some(id) = super::id_of(&v["id"]) else {
            return (StatusCode::BAD_REQUEST, "an interaction without an id\n").into_response();
        };
        match e.discord.desk().first_sighting(&format!("discord:{id}")).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(id, "discord: a replayed interaction refused");
                return (StatusCode::CONFLICT, "interaction already handled\n").into_response();
            }
            Err(err) => {
                tracing::warn!("discord: cannot note the interaction in the state file, refused: {err}");
                return (StatusCode::SERVICE_UNAVAILABLE, "try again\n").into_response();
            }
        }
    }
    let answer = e.discord.interaction(&v).await;
    e.discord.follow(answer.follow);
    Json(answer.response).into_response()
}
