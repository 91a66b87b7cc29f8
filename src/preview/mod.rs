//! The preview page the daemon serves: `GET /preview/<event>?t=<token>` shows the event's
//! CloudFront HLS stream in hls.js and its DASH stream in dash.js side by side, with each
//! player's position and live latency, and the stream probe's latest word (from the
//! [`Board`]), which the page polls from `GET /preview/<event>/state?t=<token>`.
//!
//! Access is by the event's token ([`token`]): a wrong or missing token, an unknown event and
//! a malformed request all get the same 404, and no page lists events. The page's players
//! and script are under `/preview/assets/` ([`assets`]), with no token (they are public
//! code). The HTML and its policy are pure ([`page`]); this file reads the state and answers.
//!
//! It may read the state and the event's links; it never changes anything but its own cache.

pub mod assets;
pub mod page;
pub mod token;

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::config::preview::PreviewSettings;
use crate::daemon::stream_watch::Board;
use crate::engine::report::Links;
use crate::ops::workflows::Workflows;
use crate::store::Store;
use assets::Player;
use page::{Page, ProbeView, Source, StateView};

/// How long a token read from the state is trusted before it is read again (a token rotated
/// or removed stops working within this; `rotate-preview` says so).
pub const TOKEN_CACHE: Duration = Duration::from_secs(10);
/// Events whose token is cached at most.
const TOKEN_CACHE_SIZE: usize = 1024;
/// Browsers may keep a player this long before asking again (with its ETag).
const PLAYER_MAX_AGE: &str = "public, max-age=86400";

/// What the preview handlers read.
pub struct Preview {
    store: Arc<Store>,
    /// The event's playback URLs (the engine's `links`).
    workflows: Arc<dyn Workflows>,
    /// The stream probe's latest word per event.
    board: Arc<Board>,
    settings: PreviewSettings,
    /// Tokens read from the state, so the page's polling costs no read per request.
    tokens: Mutex<lru::LruCache<String, (String, Instant)>>,
    /// Whether each player's absence was logged as an error already (once per process).
    told_missing: [AtomicBool; 2],
}

impl Preview {
    /// The handlers' state. Says in the log, once, which player is missing and how to get it.
    pub fn new(
        store: Arc<Store>,
        workflows: Arc<dyn Workflows>,
        board: Arc<Board>,
        settings: PreviewSettings,
    ) -> Arc<Preview> {
        let p = Preview {
            store,
            workflows,
            board,
            settings,
            tokens: Mutex::new(lru::LruCache::new(NonZeroUsize::new(TOKEN_CACHE_SIZE).unwrap_or(NonZeroUsize::MIN))),
            told_missing: [AtomicBool::new(false), AtomicBool::new(false)],
        };
        for player in Player::ALL {
            match p.source(player) {
                Source::Local => {}
                Source::Cdn => tracing::info!(
                    "preview: {} is not in {}: the page loads it from {}",
                    player.label(),
                    p.settings.assets.display(),
                    player.cdn_url()
                ),
                Source::Missing => p.tell_missing(player),
            }
        }
        Arc::new(p)
    }

    fn tell_missing(&self, player: Player) {
        let i = usize::from(player == Player::Dash);
        if !self.told_missing[i].swap(true, Ordering::SeqCst) {
            tracing::error!("{}", player.missing(&self.settings.assets));
        }
    }

    /// Where the page loads `player` from now.
    fn source(&self, player: Player) -> Source {
        match (player.locate(&self.settings.assets), self.settings.player_cdn) {
            (Some(_), _) => Source::Local,
            (None, true) => Source::Cdn,
            (None, false) => Source::Missing,
        }
    }

    /// Whether `given` opens `event`: a valid event id whose stored token it is.
    async fn admits(&self, event: &str, given: Option<&str>) -> Result<bool, Refused> {
        let Some(given) = given else { return Ok(false) };
        if !crate::schedule::file::valid_id(event) {
            return Ok(false);
        }
        let cached = self
            .tokens
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(event)
            .filter(|(_, at)| at.elapsed() < TOKEN_CACHE)
            .map(|(t, _)| t.clone());
        let stored = match cached {
            Some(t) => t,
            None => {
                let read = self.store.meta(&token::key(event)).map_err(|e| {
                    tracing::warn!(event, "preview: cannot read the token: {e}");
                    Refused::Unavailable
                })?;
                // No token: nobody asked for this event's links yet (or no such event).
                let Some(t) = read else { return Ok(false) };
                self.tokens
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .put(event.to_string(), (t.clone(), Instant::now()));
                t
            }
        };
        Ok(token::matches(&stored, given))
    }

    async fn links(&self, event: &str) -> Option<Links> {
        match self.workflows.links(event).await {
            Ok(l) => Some(l),
            Err(crate::engine::EngineError::NotDeployed(_)) => None,
            Err(e) => {
                tracing::warn!(event, "preview: cannot read the playback links: {e}");
                None
            }
        }
    }
}

/// Why a request gets no page.
enum Refused {
    /// Wrong or missing token, unknown event, malformed request: all look the same.
    NotFound,
    /// The state could not be read (for any event alike).
    Unavailable,
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        let (status, text) = match self {
            Refused::NotFound => (StatusCode::NOT_FOUND, "not found\n"),
            Refused::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "the state cannot be read now; try again\n"),
        };
        (status, [(header::CACHE_CONTROL, "no-store"), (header::X_CONTENT_TYPE_OPTIONS, "nosniff")], text)
            .into_response()
    }
}

/// The preview's routes, merged into the daemon's router.
pub fn routes(p: Arc<Preview>) -> Router {
    Router::new()
        .route("/preview/assets/{file}", get(asset))
        .route("/preview/{event}", get(show))
        .route("/preview/{event}/state", get(state))
        .with_state(p)
}

/// The `t` parameter of a query string (the first one).
fn token_of(query: Option<&str>) -> Option<String> {
    url::form_urlencoded::parse(query?.as_bytes()).find(|(k, _)| k == "t").map(|(_, v)| v.into_owned())
}

async fn show(State(p): State<Arc<Preview>>, Path(event): Path<String>, RawQuery(q): RawQuery) -> Response {
    let given = token_of(q.as_deref());
    match p.admits(&event, given.as_deref()).await {
        Ok(true) => {}
        Ok(false) => return Refused::NotFound.into_response(),
        Err(r) => return r.into_response(),
    }
    let links = p.links(&event).await;
    let url_of = |format: &str| {
        links.as_ref().and_then(|l| l.playback.iter().find(|x| x.format == format)).map(|x| x.url.as_str())
    };
    let domain = links.as_ref().map(|l| l.domain.as_str()).filter(|d| page::valid_host(d));
    let (hls_from, dash_from) = (p.source(Player::Hls), p.source(Player::Dash));
    for (player, from) in [(Player::Hls, hls_from), (Player::Dash, dash_from)] {
        if from == Source::Missing {
            p.tell_missing(player);
        }
    }
    let html = page::render(&Page {
        event: &event,
        token: given.as_deref().unwrap_or(""),
        domain,
        hls: url_of("HLS"),
        dash: url_of("DASH"),
        hls_from,
        dash_from,
    });
    let policy = page::csp(domain, hls_from == Source::Cdn || dash_from == Source::Cdn);
    let mut r = html.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    if let Ok(v) = HeaderValue::from_str(&policy) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    no_store(h);
    // The URL carries the token: never send it on to CloudFront or a CDN.
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    r
}

fn no_store(h: &mut HeaderMap) {
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
}

async fn state(State(p): State<Arc<Preview>>, Path(event): Path<String>, RawQuery(q): RawQuery) -> Response {
    state_of(&p, &event, q.as_deref()).await
}

async fn state_of(p: &Preview, event: &str, query: Option<&str>) -> Response {
    match p.admits(event, token_of(query).as_deref()).await {
        Ok(true) => {}
        Ok(false) => return Refused::NotFound.into_response(),
        Err(r) => return r.into_response(),
    }
    let phase = match p.store.deployment(event) {
        Ok(d) => d.map(|d| d.phase.as_str()),
        Err(e) => {
            tracing::warn!(event, "preview: cannot read the phase: {e}");
            return Refused::Unavailable.into_response();
        }
    };
    let domain = p.links(event).await.map(|l| l.domain).filter(|d| page::valid_host(d));
    let view =
        StateView { event: event.to_string(), phase, domain, probe: p.board.get(event).as_ref().map(ProbeView::from) };
    let mut r = axum::Json(view).into_response();
    no_store(r.headers_mut());
    r
}

async fn asset(
    State(p): State<Arc<Preview>>,
    Path(file): Path<String>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> Response {
    // An event may be called `assets`: its state URL lands here.
    if file == "state" {
        return state_of(&p, "assets", q.as_deref()).await;
    }
    // The clock dash.js synchronizes with (instead of its default, a public time server the
    // page's policy does not allow): ours, which the probe's freshness checks need right anyway.
    if file == "now" {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let mut r = now.into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
        no_store(r.headers_mut());
        return r;
    }
    let (bytes, cache, kind): (Vec<u8>, &'static str, &'static str) = match file.as_str() {
        "preview.js" => (assets::PREVIEW_JS.as_bytes().to_vec(), "no-cache", "text/javascript; charset=utf-8"),
        "preview.css" => (assets::PREVIEW_CSS.as_bytes().to_vec(), "no-cache", "text/css; charset=utf-8"),
        name => {
            let Some(player) = Player::from_file(name) else { return Refused::NotFound.into_response() };
            let Some(path) = player.locate(&p.settings.assets) else {
                p.tell_missing(player);
                return Refused::NotFound.into_response();
            };
            match tokio::fs::read(&path).await {
                Ok(b) => (b, PLAYER_MAX_AGE, "text/javascript; charset=utf-8"),
                Err(e) => {
                    tracing::error!("preview: cannot read {}: {e}", path.display());
                    return Refused::NotFound.into_response();
                }
            }
        }
    };
    let tag = assets::etag(&bytes);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag || t.trim() == "*"));
    let mut r = if fresh { StatusCode::NOT_MODIFIED.into_response() } else { bytes.into_response() };
    let h = r.headers_mut();
    if !fresh {
        h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(v) = HeaderValue::from_str(&tag) {
        h.insert(header::ETAG, v);
    }
    r
}

#[cfg(test)]
mod tests;
