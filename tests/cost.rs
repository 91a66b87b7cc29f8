//! `ottd cost` through the binary against the AWS emulator: the estimate before anything runs,
//! the line a stop and a teardown end with, and the run `ottd cost` finds in the audit trail.

mod common;

use common::setup;

const EVENT: &str = r#"
[[event]]
id = "demo"
title = "The demo: single pipeline, HD-720p"
[event.mediaLive]
inputType = "URL_PULL"
channelClass = "SINGLE_PIPELINE"
encodingProfile = "HD-720p"
priUrl = "https://example.com/live/demo/index.m3u8"
"#;

#[test]
fn a_run_through_the_binary_is_estimated_then_billed_with_the_ten_minute_minimum() {
    let s = setup(EVENT);
    s.ottd(&["bootstrap"]);
    let before = s.ottd(&["cost", "demo", "--audience", "1000"]);
    let medialive = "MediaLive (single pipeline, us-east-1, prices of 2026-09-18): input HD AVC ≤10 Mb/s $0.1404/h";
    assert!(before.contains(medialive), "{before}");
    assert!(before.contains("audience of 1,000"), "{before}");
    assert!(before.contains("actual: no run of the channel is recorded"), "{before}");
    let plan = s.ottd(&["plan", "demo"]);
    assert!(plan.contains("cost: about $1.20 MediaLive"), "{plan}");

    // The workflow's autoStart: a person's deploy starts the channel. A run of seconds bills 10 minutes.
    s.ottd(&["deploy", "demo"]);
    let stop = s.ottd(&["stop", "demo"]);
    assert!(stop.contains("this run cost about $0.20 (10 billed minutes)"), "{stop}");
    let json = s.ottd(&["cost", "demo", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(v["actual"]["billed_minutes"], 10, "{json}");
    assert_eq!(v["actual"]["runs"][0]["run"]["running"], false, "{json}");
    assert_eq!(v["estimate"]["medialive"]["lines"][0]["class"], "INPUT AVC HD MAX_10_MBPS", "{json}");
    let down = s.ottd(&["teardown", "demo"]);
    assert!(down.contains("this run cost about $0.20 (10 billed minutes)"), "{down}");
}
