//! The stream probe end to end: the emulator encodes a real live stream (ffmpeg, HLS and DASH)
//! for each RUNNING channel and serves it at the MediaPackage endpoints and the CloudFront
//! domain over TLS; ottd looks at it at both hops through its real HTTP client. "On air" only
//! once segments flow; a frozen stream becomes `Stream Stale`, recovery restarts the pipeline
//! and the alert clears; a CDN hop answering 403 is diagnosed as the CDN's.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use ottd::engine::{EngineError, Outcome};
use ottd::lifecycle::Phase;
use ottd::store::Store;

use common::{channel_id, http_get, on_air_event, phase, setup_live, wait_for, Daemon, Lines, ON_DEMAND_FINAL};

fn first_segment_at(s: &common::Setup, channel: &str) -> DateTime<Utc> {
    let stream = s.emu.stream(channel).expect("the channel's stream");
    let at = stream["first_segment_at"].as_str().unwrap_or_else(|| panic!("no first segment yet: {stream}"));
    DateTime::parse_from_rfc3339(at).expect("an RFC 3339 time").with_timezone(&Utc)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_says_on_air_only_once_segments_flow_and_names_a_broken_cdn_hop() {
    let s = setup_live(ON_DEMAND_FINAL, "deadline = \"6s\"\n");
    let lines = Arc::new(Lines::default());
    let engine = s.engine(lines.clone()).await;
    let catalog = s.catalog();
    let event = catalog.events.iter().find(|e| e.spec.id == "final").expect("final").clone();
    engine.deploy(&event).await.expect("deploy");

    engine.start("final").await.expect("start: on air");
    let live_at = Utc::now();
    let store = Store::open(&s.state_path()).expect("state");
    let channel = channel_id(&store, "final");
    let seen = lines.0.lock().expect("lines").clone();
    let stream: Vec<_> = seen.iter().filter(|l| l.step == "stream").collect();
    // It said what it waited for before it said "on air", and "on air" came last.
    let waiting = stream
        .iter()
        .position(|l| l.outcome == Outcome::Waiting && l.detail.starts_with("RUNNING, waiting for the stream: "));
    let live = stream.iter().position(|l| l.outcome == Outcome::Live);
    assert!(waiting.is_some() && live.is_some() && waiting < live, "{stream:#?}");
    let on_air = &stream[live.expect("live")];
    for label in ["HLS live", "DASH live", "CMAF live"] {
        assert!(on_air.detail.contains(label), "{}", on_air.detail);
    }
    // Live only after the first segment reached the origin, and not long after.
    let first = first_segment_at(&s, &channel);
    assert!(first < live_at, "on air at {live_at}, before the first segment at {first}");

    // CloudFront answers 403, the origin still works: start fails after its deadline and
    // names the hop.
    s.emu.stream_control(&channel, "break");
    let started = Instant::now();
    let err = engine.start("final").await.expect_err("not live through CloudFront");
    assert!(started.elapsed() >= Duration::from_secs(6), "it waited for the deadline: {:?}", started.elapsed());
    match &err {
        EngineError::NotLive { diagnosis, .. } => {
            assert!(diagnosis.contains("origin fresh, CloudFront 403: check the CDN secret / behaviour"), "{diagnosis}")
        }
        other => panic!("expected NotLive, got {other}"),
    }
    assert_eq!(phase(&store, "final"), Some(Phase::Running), "the channel still runs: only the start's wait failed");

    s.emu.stream_control(&channel, "mend");
    engine.start("final").await.expect("on air again once CloudFront answers");
}

/// The daemon: a timed event is told on air only once its stream is live; a frozen stream
/// raises `Stream Stale`; recovery restarts the pipeline (the emulator's encoder restarts, a
/// new media sequence); the alert clears when segments flow again.
#[test]
fn a_frozen_stream_raises_stream_stale_recovery_restarts_the_pipeline_and_it_clears() {
    let s = setup_live(&on_air_event("final", 180, ""), "every = \"1s\"\n");
    let boot = s.ottd(&["bootstrap"]);
    assert!(boot.contains("alert queue:"), "{boot}");
    let store = Store::open(&s.state_path()).expect("state");
    let d = Daemon::start(&s, "probe");
    wait_for("the event on air", &d, Duration::from_secs(60), || {
        phase(&store, "final") == Some(Phase::Running) && d.log().contains("on air: HLS live")
    });
    let log = d.log();
    let waiting = log.find("RUNNING, waiting for the stream").expect("it waited for the stream");
    let live = log.find("on air: HLS live").expect("then said on air");
    assert!(waiting < live, "{log}");
    let channel = channel_id(&store, "final");

    let open = |t: &str| {
        store
            .alerts(Some("final"), true)
            .expect("alerts")
            .into_iter()
            .find(|a| a.alert_type == t && a.cleared_at.is_none())
    };
    // Give the watcher its first looks, then freeze the encoder.
    wait_for("the stream's age in /metrics", &d, Duration::from_secs(20), || {
        http_get(&format!("{}/metrics", d.base_url())).1.contains("ottd_stream_age_seconds{event=\"final\"}")
    });
    assert!(open("Stream Stale").is_none(), "no alert while the stream flows");
    let frozen = Instant::now();
    s.emu.stream_control(&channel, "freeze");
    wait_for("Stream Stale", &d, Duration::from_secs(20), || open("Stream Stale").is_some());
    let detected = frozen.elapsed();
    // 1 s segments: 1.5 target durations apart to call it stale, looks every second, plus
    // what the CDN's copy and the daemon's tick add.
    assert!(detected <= Duration::from_secs(8), "stale detected after {detected:?}");
    let alert = open("Stream Stale").expect("open");
    assert!(alert.message.contains("origin stale"), "{}", alert.message);

    // Recovery (shipped policy: restart the pipeline after 5 s) restarts it in MediaLive.
    wait_for("the pipeline restart", &d, Duration::from_secs(30), || {
        let (_, body) = http_get(&format!("{}/ottd-emulator/restarts?channel_id={channel}", s.emu.url));
        body.contains(&channel)
    });
    wait_for("Stream Stale cleared", &d, Duration::from_secs(30), || {
        store
            .alerts(Some("final"), true)
            .expect("alerts")
            .iter()
            .any(|a| a.alert_type == "Stream Stale" && a.cleared_at.is_some())
    });
    let rows = store.alerts(Some("final"), true).expect("alerts");
    let stale: Vec<_> = rows.iter().filter(|a| a.alert_type == "Stream Stale").collect();
    assert_eq!(stale.len(), 1, "one alert for one freeze: {stale:#?}");
    assert_eq!(stale[0].action.as_deref(), Some("restart-pipeline"), "{stale:#?}");
    assert!(open("Stream Broken").is_none(), "a frozen stream is stale, not broken");

    // CloudFront answers 403 while the origin is fine: Stream Broken, the CDN's fault, told
    // (the shipped policy only notifies: restarting the encoder would not mend a CDN).
    let restarts_before = http_get(&format!("{}/ottd-emulator/restarts?channel_id={channel}", s.emu.url)).1;
    s.emu.stream_control(&channel, "break");
    wait_for("Stream Broken", &d, Duration::from_secs(20), || open("Stream Broken").is_some());
    let broken = open("Stream Broken").expect("open");
    assert!(broken.message.contains("origin fresh, CloudFront 403"), "{}", broken.message);
    s.emu.stream_control(&channel, "mend");
    wait_for("Stream Broken cleared", &d, Duration::from_secs(20), || open("Stream Broken").is_none());
    let restarts_after = http_get(&format!("{}/ottd-emulator/restarts?channel_id={channel}", s.emu.url)).1;
    assert_eq!(restarts_before, restarts_after, "no restart for a CDN fault");
}

/// Nothing the watcher knows lives only in memory: an alert it raised is in the state, so a
/// daemon killed (kill -9) while the stream is stale is followed by one that clears it when the
/// stream flows again, without raising it twice.
#[test]
fn a_stream_alert_open_at_a_kill_9_is_cleared_by_the_next_daemon_once_segments_flow() {
    let s = setup_live(&on_air_event("final", 180, ""), "every = \"1s\"\n");
    // Told, not acted on: the stream comes back by itself here.
    s.append_config("\n[alerts.policy.\"Stream Stale\"]\nremedy = \"notify\"\n");
    let boot = s.ottd(&["bootstrap"]);
    assert!(boot.contains("alert queue:"), "{boot}");
    let store = Store::open(&s.state_path()).expect("state");
    let d = Daemon::start(&s, "probe-a");
    wait_for("the event on air", &d, Duration::from_secs(60), || {
        phase(&store, "final") == Some(Phase::Running) && d.log().contains("on air: HLS live")
    });
    let channel = channel_id(&store, "final");
    let stale = || -> Vec<ottd::store::alerts::AlertRow> {
        store
            .alerts(Some("final"), true)
            .expect("alerts")
            .into_iter()
            .filter(|a| a.alert_type == "Stream Stale")
            .collect()
    };
    s.emu.stream_control(&channel, "freeze");
    wait_for("Stream Stale", &d, Duration::from_secs(20), || stale().iter().any(|a| a.cleared_at.is_none()));
    d.kill9();

    s.emu.stream_control(&channel, "thaw");
    let d = Daemon::start(&s, "probe-b");
    wait_for("Stream Stale cleared by the next daemon", &d, Duration::from_secs(30), || {
        stale().iter().all(|a| a.cleared_at.is_some())
    });
    assert_eq!(stale().len(), 1, "raised once, cleared once: {:#?}", stale());
    let restarts = http_get(&format!("{}/ottd-emulator/restarts?channel_id={channel}", s.emu.url)).1;
    assert!(!restarts.contains(&channel), "the policy only notifies: {restarts}");
}
