//! The preview routes through `Router::oneshot`, on the operations layer's recording engine:
//! who gets a page, what its headers say, what the state endpoint answers, the assets.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use tower::ServiceExt;

use super::*;
use crate::daemon::stream_watch::Board;
use crate::ops::tests::world;
use crate::ops::Definitions;

struct Answer {
    status: StatusCode,
    headers: axum::http::HeaderMap,
    body: String,
}

async fn get_with(p: &Arc<Preview>, uri: &str, etag: Option<&str>) -> Answer {
    let mut req = Request::get(uri);
    if let Some(t) = etag {
        req = req.header(header::IF_NONE_MATCH, t);
    }
    let r = routes(p.clone()).oneshot(req.body(Body::empty()).expect("request")).await.expect("response");
    let (status, headers) = (r.status(), r.headers().clone());
    let body = axum::body::to_bytes(r.into_body(), 8 << 20).await.expect("body");
    Answer { status, headers, body: String::from_utf8_lossy(&body).to_string() }
}

async fn get(p: &Arc<Preview>, uri: &str) -> Answer {
    get_with(p, uri, None).await
}

/// The preview on a world where `demo` is deployed, with players in a temp `assets` folder.
async fn preview(assets: &std::path::Path, cdn: bool) -> (crate::ops::tests::World, Arc<Preview>, Arc<Board>) {
    let w = world(Duration::ZERO);
    let demo = w.definitions.event("demo").expect("demo");
    w.engine.deploy(&demo).await.expect("deploy");
    let board = Arc::new(Board::default());
    let settings = PreviewSettings { assets: assets.to_path_buf(), player_cdn: cdn };
    let p = Preview::new(w.store.clone(), w.engine.clone(), board.clone(), settings);
    (w, p, board)
}

#[tokio::test]
async fn only_the_right_token_opens_the_page_and_everything_else_looks_alike() {
    let dir = tempfile::tempdir().expect("tmp");
    let (w, p, _) = preview(dir.path(), false).await;
    let t = token::token_for(&w.store, "demo").await.expect("token");
    let page = get(&p, &format!("/preview/demo?t={}", t.expose())).await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    assert_eq!(page.headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert_eq!(page.headers[header::REFERRER_POLICY], "no-referrer");
    assert_eq!(page.headers[header::CACHE_CONTROL], "no-store");
    let csp = page.headers[header::CONTENT_SECURITY_POLICY].to_str().expect("csp");
    assert!(csp.contains("media-src blob: https://d111.cloudfront.net;"), "{csp}");
    assert!(page.body.contains("https://d111.cloudfront.net/out/v1/x/index.m3u8"), "{}", page.body);

    let wrong = format!("/preview/demo?t={}", token::generate().expose());
    let refused = [
        wrong.as_str(),
        "/preview/demo",
        "/preview/demo?t=",
        "/preview/demo?x=1",
        "/preview/demo?t=%ZZ",
        // An event that exists in the configuration but has no token yet, one that does not
        // exist, and one no event can be called: the same answer.
        "/preview/final?t=00",
        "/preview/nope?t=00",
        "/preview/Bad_Name?t=00",
        "/preview",
        "/preview/",
    ];
    for uri in refused {
        let a = get(&p, uri).await;
        assert_eq!(a.status, StatusCode::NOT_FOUND, "{uri}");
        assert!(a.body.is_empty() || a.body == "not found\n", "{uri}: {}", a.body);
    }
    let state = get(&p, &format!("/preview/demo/state?t={}", &t.expose()[..8])).await;
    assert_eq!(state.status, StatusCode::NOT_FOUND, "a prefix of the token is no token");
}

#[tokio::test]
async fn the_state_endpoint_says_the_phase_domain_and_the_probe_word() {
    let dir = tempfile::tempdir().expect("tmp");
    let (w, p, board) = preview(dir.path(), false).await;
    let t = token::token_for(&w.store, "demo").await.expect("token");
    let uri = format!("/preview/demo/state?t={}", t.expose());
    let a = get(&p, &uri).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers[header::CACHE_CONTROL], "no-store");
    let v: serde_json::Value = serde_json::from_str(&a.body).expect("json");
    assert_eq!((v["phase"].as_str(), v["domain"].as_str()), (Some("deployed"), Some("d111.cloudfront.net")));
    assert!(v["probe"].is_null(), "nothing looked yet: {v}");
    board.set(
        "demo",
        crate::daemon::stream_watch::Latest {
            state: crate::probe::OnAir::Live { age: None },
            diagnosis: "HLS live".into(),
            at: chrono::Utc::now(),
            since: None,
        },
    );
    let v: serde_json::Value = serde_json::from_str(&get(&p, &uri).await.body).expect("json");
    assert_eq!((v["probe"]["state"].as_str(), v["probe"]["diagnosis"].as_str()), (Some("live"), Some("HLS live")));
}

#[tokio::test]
async fn players_are_served_with_type_cache_and_etag_and_a_missing_one_is_said() {
    let dir = tempfile::tempdir().expect("tmp");
    let (w, p, _) = preview(dir.path(), false).await;
    let t = token::token_for(&w.store, "demo").await.expect("token");
    // Missing: 404, and the page loads no script for it and says so through preview.js.
    assert_eq!(get(&p, "/preview/assets/hls.light.min.js").await.status, StatusCode::NOT_FOUND);
    let page = get(&p, &format!("/preview/demo?t={}", t.expose())).await.body;
    assert!(page.contains(r#"data-player="missing""#) && !page.contains("hls.light.min.js"), "{page}");

    let hls = dir.path().join("hls.js/dist");
    std::fs::create_dir_all(&hls).expect("mkdir");
    std::fs::write(hls.join("hls.light.min.js"), "var Hls = 1;").expect("write");
    let a = get(&p, "/preview/assets/hls.light.min.js").await;
    assert_eq!((a.status, a.body.as_str()), (StatusCode::OK, "var Hls = 1;"));
    assert_eq!(a.headers[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
    assert_eq!(a.headers[header::CACHE_CONTROL], "public, max-age=86400");
    let tag = a.headers[header::ETAG].to_str().expect("etag").to_string();
    let again = get_with(&p, "/preview/assets/hls.light.min.js", Some(&tag)).await;
    assert_eq!(again.status, StatusCode::NOT_MODIFIED);
    let page = get(&p, &format!("/preview/demo?t={}", t.expose())).await.body;
    assert!(page.contains(r#"<script src="assets/hls.light.min.js"></script>"#), "found now, no restart: {page}");

    let js = get(&p, "/preview/assets/preview.js").await;
    assert_eq!(
        (js.status, js.headers[header::CONTENT_TYPE].to_str().ok()),
        (StatusCode::OK, Some("text/javascript; charset=utf-8"))
    );
    assert_eq!(get(&p, "/preview/assets/preview.css").await.headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    let now = get(&p, "/preview/assets/now").await;
    assert_eq!((now.status, now.headers[header::CACHE_CONTROL].to_str().ok()), (StatusCode::OK, Some("no-store")));
    let at = chrono::DateTime::parse_from_rfc3339(&now.body).expect("an ISO time for dash.js");
    assert!((chrono::Utc::now() - at.with_timezone(&chrono::Utc)).num_seconds().abs() < 5);
    for bad in ["/preview/assets/..%2Fottd.db", "/preview/assets/hls.js", "/preview/assets/dash.all.min.js"] {
        assert_eq!(get(&p, bad).await.status, StatusCode::NOT_FOUND, "{bad}");
    }
}

#[tokio::test]
async fn with_player_cdn_a_missing_player_comes_from_the_cdn_and_the_policy_allows_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let (w, p, _) = preview(dir.path(), true).await;
    let t = token::token_for(&w.store, "demo").await.expect("token");
    let page = get(&p, &format!("/preview/demo?t={}", t.expose())).await;
    assert!(page.body.contains(&Player::Hls.cdn_url()) && page.body.contains(Player::Hls.integrity()));
    let csp = page.headers[header::CONTENT_SECURITY_POLICY].to_str().expect("csp");
    assert!(csp.contains("script-src 'self' https://cdn.jsdelivr.net;"), "{csp}");
}

#[tokio::test]
async fn an_event_called_assets_still_has_its_state() {
    let dir = tempfile::tempdir().expect("tmp");
    let (w, p, _) = preview(dir.path(), false).await;
    let t = token::token_for(&w.store, "assets").await.expect("token");
    let a = get(&p, &format!("/preview/assets/state?t={}", t.expose())).await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let v: serde_json::Value = serde_json::from_str(&a.body).expect("json");
    assert!(v["phase"].is_null() && v["domain"].is_null(), "never deployed: {v}");
    assert_eq!(get(&p, "/preview/assets/state?t=00").await.status, StatusCode::NOT_FOUND);
}
