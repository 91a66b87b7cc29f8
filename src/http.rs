//! The daemon's HTTP listener (loopback by default): health, readiness, metrics, and SNS's
//! HTTPS deliveries of MediaLive events on `POST /sns` when `[alerts.sns_https]` is set. Chat
//! endpoints and the preview page (`crate::preview::routes`) join the same router later
//! through [`app`]'s `Router::merge`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::Router;

use crate::alerts::sns_push::{self, SnsPush};
use crate::metrics::Metrics;

pub struct HttpState {
    pub metrics: Arc<Metrics>,
    /// Set once the first reconcile of every event has been scheduled.
    pub ready: AtomicBool,
    /// `POST /sns` takes SNS deliveries (None: `[alerts.sns_https]` is not set, 404).
    pub sns: Option<Arc<SnsPush>>,
    /// The operations layer's task tracker: `ottd_tasks` says how many work now.
    pub tasks: Option<tokio_util::task::TaskTracker>,
}

pub fn app(state: Arc<HttpState>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        // Bodies of MAX_BODY bytes or more are refused (413) before the handler runs.
        .route("/sns", post(sns).layer(DefaultBodyLimit::max(sns_push::MAX_BODY - 1)))
        .with_state(state)
}

async fn sns(State(s): State<Arc<HttpState>>, headers: HeaderMap, body: Bytes) -> (StatusCode, &'static str) {
    match &s.sns {
        Some(push) => push.handle(&headers, &body).await,
        None => (StatusCode::NOT_FOUND, "SNS deliveries are not enabled ([alerts.sns_https])\n"),
    }
}

async fn readyz(State(s): State<Arc<HttpState>>) -> impl IntoResponse {
    if s.ready.load(Ordering::SeqCst) {
        (StatusCode::OK, "ready\n")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "starting\n")
    }
}

async fn metrics(State(s): State<Arc<HttpState>>) -> impl IntoResponse {
    if let Some(t) = &s.tasks {
        s.metrics.tasks.set(i64::try_from(t.len()).unwrap_or(i64::MAX));
    }
    ([(header::CONTENT_TYPE, "application/openmetrics-text; version=1.0.0; charset=utf-8")], s.metrics.render())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt;

    #[tokio::test]
    async fn readiness_follows_the_flag_and_metrics_are_served() {
        let state = Arc::new(HttpState {
            metrics: Arc::new(Metrics::new()),
            ready: AtomicBool::new(false),
            sns: None,
            tasks: None,
        });
        let call = |path: &'static str| {
            let app = app(state.clone());
            async move {
                let r = app.oneshot(Request::get(path).body(Body::empty()).expect("request")).await.expect("response");
                let status = r.status();
                let body = axum::body::to_bytes(r.into_body(), 1 << 20).await.expect("body");
                (status, String::from_utf8_lossy(&body).to_string())
            }
        };
        assert_eq!(call("/healthz").await.0, StatusCode::OK);
        assert_eq!(call("/readyz").await.0, StatusCode::SERVICE_UNAVAILABLE);
        state.ready.store(true, Ordering::SeqCst);
        assert_eq!(call("/readyz").await.0, StatusCode::OK);
        let (status, body) = call("/metrics").await;
        assert_eq!(status, StatusCode::OK);
        assert!(body.contains("ottd_fire_lateness_seconds"), "{body}");
        let r = app(state.clone()).oneshot(Request::post("/sns").body(Body::from("{}")).expect("request"));
        assert_eq!(r.await.expect("response").status(), StatusCode::NOT_FOUND, "no [alerts.sns_https]");
    }
}
