//! The cost module against the shipped profiles and price table, and against runs recorded
//! through the store's API on a temp SQLite file.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::actual::{self, Facts};
use super::class::classify;
use super::estimate::{estimate, Span};
use super::report;
use super::*;
use crate::config::workflow::ChannelClass;
use crate::config::{Catalog, Resolved};
use crate::lifecycle::Phase;
use crate::store::{AuditEnd, AuditEntry, Store};

fn t(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc)
}

fn shipped() -> Catalog {
    let config = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config/ottd.toml");
    Catalog::load(&config).unwrap_or_else(|d| panic!("shipped configuration: {d}"))
}

/// The shipped `demo` event (URL_PULL, AVC source) with `profile` on a `class` channel.
fn demo_with(c: &Catalog, profile: &str, class: ChannelClass, backup: bool) -> Resolved {
    let mut ev = (**c.event("demo").expect("demo")).clone();
    ev.profile = c.profile(profile).unwrap_or_else(|| panic!("profile {profile}")).clone();
    let mut wf = (*ev.workflow).clone();
    wf.media_live.channel_class = class;
    if backup {
        wf.media_live.input_type = crate::config::workflow::InputType::RtmpPush;
        wf.media_live.backup_input = true;
    }
    ev.workflow = Arc::new(wf);
    ev
}

fn keys(ev: &Resolved) -> Vec<(String, String)> {
    classify(&ev.workflow, &ev.profile).lines.into_iter().map(|l| (l.what, l.class.key())).collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

const SD_AVC_30: &str = "OUTPUT AVC SD MAX_10_MBPS MAX_30_FPS STANDARD";
const HD_AVC_30: &str = "OUTPUT AVC HD MAX_10_MBPS MAX_30_FPS STANDARD";
const SD_HEVC_30: &str = "OUTPUT HEVC SD MAX_10_MBPS MAX_30_FPS STANDARD";
const HD_HEVC_30: &str = "OUTPUT HEVC HD MAX_10_MBPS MAX_30_FPS STANDARD";

#[test]
fn every_shipped_profile_is_classified_as_written_here() {
    let c = shipped();
    let single = ChannelClass::SinglePipeline;
    let expected: [(&str, Vec<(&str, &str)>); 5] = [
        (
            "HD-720p",
            vec![
                ("input", "INPUT AVC HD MAX_10_MBPS"),
                ("512x288", SD_AVC_30),
                ("640x360", SD_AVC_30),
                ("960x540", SD_AVC_30),
                ("1280x720", HD_AVC_30),
            ],
        ),
        (
            "HD-1080p",
            vec![
                ("input", "INPUT AVC HD MAX_20_MBPS"),
                ("512x288", SD_AVC_30),
                ("640x360", SD_AVC_30),
                ("768x432", SD_AVC_30),
                ("960x540", SD_AVC_30),
                ("1280x720", HD_AVC_30),
                ("1920x1080", "OUTPUT AVC FHD MAX_10_MBPS MAX_30_FPS STANDARD"),
            ],
        ),
        (
            "HEVC-720p",
            vec![
                ("input", "INPUT AVC HD MAX_10_MBPS"),
                ("512x288", SD_HEVC_30),
                ("640x360", SD_HEVC_30),
                ("960x540", SD_HEVC_30),
                ("1280x720", HD_HEVC_30),
            ],
        ),
        (
            "HEVC-1080p",
            vec![
                ("input", "INPUT AVC HD MAX_20_MBPS"),
                ("512x288", SD_HEVC_30),
                ("640x360", SD_HEVC_30),
                ("768x432", SD_HEVC_30),
                ("960x540", SD_HEVC_30),
                ("1280x720", HD_HEVC_30),
                ("1920x1080", "OUTPUT HEVC FHD MAX_10_MBPS MAX_30_FPS STANDARD"),
            ],
        ),
        (
            "SD-540p",
            vec![
                ("input", "INPUT AVC SD MAX_10_MBPS"),
                ("512x288", SD_AVC_30),
                ("640x360", SD_AVC_30),
                ("768x432", SD_AVC_30),
                ("960x540", SD_AVC_30),
            ],
        ),
    ];
    assert_eq!(c.profiles.len(), expected.len(), "a new shipped profile needs its expected classes here");
    for (profile, want) in expected {
        let ev = demo_with(&c, profile, single, false);
        assert_eq!(keys(&ev), pairs(&want), "{profile}");
        assert_eq!(classify(&ev.workflow, &ev.profile).channel_class, single);
    }
    // A backup input is a second input line of the same class.
    let ev = demo_with(&c, "HD-720p", ChannelClass::Standard, true);
    let k = keys(&ev);
    assert_eq!(k[..2], pairs(&[("input", "INPUT AVC HD MAX_10_MBPS"), ("backup input", "INPUT AVC HD MAX_10_MBPS")]));
    assert_eq!(k.len(), 6);
}

#[test]
fn the_worked_example_single_pipeline_about_1_20_an_hour_standard_about_2_00() {
    let c = shipped();
    let table = PriceTable::built_in().unwrap_or_else(|d| panic!("{d}"));
    let now = t("2026-12-18T20:00:00Z");
    for (class, per_hour) in [(ChannelClass::SinglePipeline, 1.1988), (ChannelClass::Standard, 1.998)] {
        let ev = demo_with(&c, "HD-720p", class, false);
        let e = estimate(&ev, &table, "us-east-1", 100, now);
        assert!((e.medialive_per_hour - per_hour).abs() < 1e-9, "{class}: {}", e.medialive_per_hour);
        assert_eq!((e.span, e.billed_minutes), (Span::PerHour, 60), "on demand: per hour");
        assert!((e.medialive_cost - per_hour).abs() < 1e-9);
        // 5.7 Mb/s of video and 96 kb/s of audio: about 2.6 GB an hour per pipeline, at $0.03.
        let pipelines = class.pipelines() as f64;
        assert!((e.ingest.priced.gb - 2.6082 * pipelines).abs() < 1e-3, "{}", e.ingest.priced.gb);
        assert!((e.ingest.priced.cost.unwrap_or(0.0) - 0.078246 * pipelines).abs() < 1e-5);
        assert!(e.unpriced.iter().any(|u| u == "unpriced: CloudFront data transfer out per GB"), "{:?}", e.unpriced);
        assert_eq!(e.medialive.unpriced(), Vec::<String>::new(), "every MediaLive line of HD-720p is priced");
        let line = report::medialive(&e.medialive);
        println!("{line}");
        if class == ChannelClass::SinglePipeline {
            assert_eq!(
                line,
                "MediaLive (single pipeline, us-east-1, prices of 2026-09-18): input HD AVC ≤10 Mb/s $0.1404/h, \
                 3 × output SD AVC ≤10 Mb/s ≤30 fps $0.2124/h, output HD AVC ≤10 Mb/s ≤30 fps $0.4212/h = $1.1988/h"
            );
        }
    }
}

#[test]
fn what_the_table_does_not_price_is_reported_never_zero() {
    let c = shipped();
    let table = PriceTable::built_in().unwrap_or_else(|d| panic!("{d}"));
    let now = t("2026-12-18T20:00:00Z");
    let e = estimate(&demo_with(&c, "HD-1080p", ChannelClass::SinglePipeline, false), &table, "us-east-1", 100, now);
    assert_eq!(
        e.unpriced[..2],
        [
            "unpriced: INPUT AVC HD MAX_20_MBPS (input, SINGLE_PIPELINE us-east-1)".to_string(),
            "unpriced: OUTPUT AVC FHD MAX_10_MBPS MAX_30_FPS STANDARD (1920x1080, SINGLE_PIPELINE us-east-1)"
                .to_string(),
        ]
    );
    assert!((e.medialive_per_hour - (0.4212 + 4.0 * 0.2124)).abs() < 1e-9, "the priced lines only");
    let text = report::estimate(&e).join("\n");
    assert!(text.contains("input HD AVC ≤20 Mb/s unpriced"), "{text}");
    assert!(text.contains("(priced lines only)"), "{text}");
    // Another region: nothing is priced, and every line says so.
    let e = estimate(&demo_with(&c, "HEVC-720p", ChannelClass::Standard, false), &table, "eu-west-1", 100, now);
    assert_eq!(e.medialive_per_hour, 0.0);
    assert!(e.unpriced.iter().any(|u| u.starts_with("unpriced: 3 × OUTPUT HEVC SD")), "{:?}", e.unpriced);
    assert!(e.unpriced.iter().any(|u| u == "unpriced: MediaPackage ingest per GB (eu-west-1)"), "{:?}", e.unpriced);
}

#[test]
fn per_hour_figures_of_every_shipped_profile() {
    // What `ottd cost` says per hour for each shipped profile in us-east-1 with the shipped
    // table (printed for the record; the assertions pin the priced sums).
    let c = shipped();
    let table = PriceTable::built_in().unwrap_or_else(|d| panic!("{d}"));
    let now = t("2026-12-18T20:00:00Z");
    let want = [
        ("HD-720p", 1.1988, 1.998, 0),
        ("HD-1080p", 1.2708, 2.118, 2),
        ("HEVC-720p", 0.1404, 0.2340, 4),
        ("HEVC-1080p", 0.0, 0.0, 7),
        ("SD-540p", 0.8496, 1.416, 1),
    ];
    for (profile, single, standard, unpriced) in want {
        for (class, per_hour) in [(ChannelClass::SinglePipeline, single), (ChannelClass::Standard, standard)] {
            let e = estimate(&demo_with(&c, profile, class, false), &table, "us-east-1", 100, now);
            println!("{profile} {class}: {}", report::medialive(&e.medialive));
            println!("  {}", report::plan_line(&e).trim());
            assert!((e.medialive_per_hour - per_hour).abs() < 1e-9, "{profile} {class}: {}", e.medialive_per_hour);
            let n: usize = e.medialive.groups().iter().filter(|g| g.per_hour.is_none()).map(|g| g.count).sum();
            assert_eq!(n, unpriced, "{profile} {class}: unpriced lines");
        }
    }
}

#[test]
fn a_timed_event_is_estimated_over_its_window_with_lead_and_tail_and_an_audience_range() {
    let c = shipped();
    let table = PriceTable::built_in().unwrap_or_else(|d| panic!("{d}"));
    let mut ev = demo_with(&c, "HD-720p", ChannelClass::SinglePipeline, false);
    // On air 20:00-21:00, started 10 min before, stopped 2 min after.
    ev.spec.timing = Some(crate::schedule::Timing {
        when: crate::schedule::When::Once { start: t("2026-12-18T20:00:00Z"), end: t("2026-12-18T21:00:00Z") },
        tz: chrono_tz::UTC,
        deploy_before: std::time::Duration::from_secs(30 * 60),
        start_before: std::time::Duration::from_secs(10 * 60),
        stop_after: std::time::Duration::from_secs(2 * 60),
        teardown_after: std::time::Duration::from_secs(5 * 60),
        keep_deployed: false,
        max_runtime: None,
        adaptive_lead: false,
    });
    // Before, during and after the window: the same window.
    for now in ["2026-12-01T00:00:00Z", "2026-12-18T20:30:00Z", "2027-01-01T00:00:00Z"] {
        let e = estimate(&ev, &table, "us-east-1", 1000, t(now));
        assert_eq!((e.billed_minutes, e.event_minutes), (72, 60), "{now}");
        assert!((e.ratio() - 1.2).abs() < 1e-9);
        assert!((e.medialive_cost - 1.1988 * 72.0 / 60.0).abs() < 1e-9);
        let a = &e.audience;
        assert_eq!((a.low.rendition.as_str(), a.high.rendition.as_str()), ("512x288", "1280x720"));
        // 1000 viewers for an hour at 0.496 Mb/s: 223.2 GB; 10 % of it from the origin.
        assert!((a.low.transfer.gb - 223.2).abs() < 1e-6, "{}", a.low.transfer.gb);
        assert!((a.low.origination.gb - 22.32).abs() < 1e-6);
        assert!((a.high.transfer.gb - 1258.2).abs() < 1e-6, "{}", a.high.transfer.gb);
        // 900 four-second segments, 4 requests each (video and audio playlists and segments).
        assert_eq!(a.requests, 1000 * 900 * 4);
        assert!((a.requests_cost.unwrap_or(0.0) - 3.6).abs() < 1e-9);
        assert!(e.total_low < e.total_high);
    }
    let e = estimate(&ev, &table, "us-east-1", 1, t("2026-12-18T20:30:00Z"));
    assert!((e.audience.high.origination.gb - e.audience.high.transfer.gb).abs() < 1e-9, "one viewer: one copy");
    let text = report::estimate(&e).join("\n");
    assert!(
        text.contains("window 2026-12-18 19:50 → 21:02 UTC (on air 20:00 → 21:00, 1h): 72 billed minutes, 1.20 ×"),
        "{text}"
    );
}

fn record(store: &Store, actor: &str, op: &str, at: &str, result: Option<&'static str>, ms: u64) {
    let e = AuditEntry {
        at: t(at),
        actor: actor.into(),
        event: Some("demo".into()),
        operation: op.into(),
        args: "{}".into(),
        decision: "allowed".into(),
        changes: op != "status",
    };
    match result {
        Some(result) => store.audit_record(&e, AuditEnd { result, duration_ms: ms, error: None }),
        None => {
            store.audit_open(&e);
        }
    }
}

#[test]
fn recorded_runs_are_billed_each_with_the_ten_minute_minimum() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(&dir.path().join("ottd.db")).expect("open");
    // A 3-minute run (start admitted 20:00, stop saw IDLE at 20:03).
    record(&store, "cli:alice", "start", "2026-12-18T20:00:00Z", Some("ok"), 90_000);
    record(&store, "cli:alice", "stop", "2026-12-18T20:02:30Z", Some("ok"), 30_000);
    // A failed start begins nothing; a refused one neither.
    record(&store, "schedule", "start", "2026-12-18T20:30:00Z", Some("permanent"), 1_000);
    // 10 min 1 s: 11 billed minutes.
    record(&store, "schedule", "start", "2026-12-18T21:00:00Z", Some("ok"), 60_000);
    record(&store, "schedule", "stop", "2026-12-18T21:09:00Z", Some("ok"), 61_000);
    // Reads do not count; a status never ends a run.
    record(&store, "cli:bob", "status", "2026-12-18T21:30:00Z", Some("ok"), 3);
    // Still running at 22:30 (the clock of the test).
    record(&store, "recovery", "start", "2026-12-18T22:00:00Z", Some("ok"), 60_000);
    let rows = store.audit(Some("demo"), None, false, 100).expect("audit");
    assert_eq!(rows.len(), 6, "the read is not among what changed something");
    let now = t("2026-12-18T22:30:00Z");
    let facts = Facts { phase: Some((Phase::Running, t("2026-12-18T22:01:00Z"))), ..Facts::default() };
    let runs = actual::runs(&rows, &facts, now);
    let spans: Vec<(DateTime<Utc>, DateTime<Utc>, bool, u64)> =
        runs.iter().map(|r| (r.from, r.to, r.running, r.billed_minutes())).collect();
    assert_eq!(
        spans,
        [
            (t("2026-12-18T20:00:00Z"), t("2026-12-18T20:03:00Z"), false, 10),
            (t("2026-12-18T21:00:00Z"), t("2026-12-18T21:10:01Z"), false, 11),
            (t("2026-12-18T22:00:00Z"), now, true, 30),
        ]
    );
    let c = shipped();
    let table = PriceTable::built_in().unwrap_or_else(|d| panic!("{d}"));
    let ev = demo_with(&c, "HD-720p", ChannelClass::SinglePipeline, false);
    let rates = Rates::of(&classify(&ev.workflow, &ev.profile), &table, "us-east-1");
    let priced = actual::price(&runs, &rates, None);
    let costs: Vec<f64> = priced.iter().map(|r| (r.cost * 1e6).round() / 1e6).collect();
    assert_eq!(costs, [0.1998, 0.21978, 0.5994]);
    let text = report::actual(&priced).join("\n");
    assert!(text.contains("2026-12-18 22:00:00 → now, running UTC (recovery): 30 billed minutes, $0.60"), "{text}");
    assert!(text.contains("total: 3 runs, 51 billed minutes, $1.02 MediaLive"), "{text}");
    assert_eq!(report::run_line(&priced[..1], 0), "this run cost about $0.20 (10 billed minutes)");
}

#[test]
fn a_teardown_ends_a_run_when_the_channel_was_deleted_and_a_died_stop_at_the_recorded_phase() {
    let dir = tempfile::tempdir().expect("tmp");
    let store = Store::open(&dir.path().join("ottd.db")).expect("open");
    record(&store, "schedule", "start", "2026-12-18T19:50:00Z", Some("ok"), 120_000);
    // The teardown waited 20 minutes on CloudFront; the channel was gone at 21:01:30.
    record(&store, "schedule", "teardown", "2026-12-18T21:00:00Z", Some("ok"), 20 * 60_000);
    record(&store, "cli:alice", "start", "2026-12-19T10:00:00Z", Some("ok"), 60_000);
    // A stop whose process died before it recorded its end; the phase says stopped since 10:20.
    record(&store, "cli:alice", "stop", "2026-12-19T10:19:00Z", None, 0);
    let rows = store.audit(Some("demo"), None, false, 100).expect("audit");
    let facts = Facts {
        phase: Some((Phase::Stopped, t("2026-12-19T10:20:00Z"))),
        channel_deleted_at: Some(t("2026-12-18T21:01:30Z")),
        auto_start: false,
    };
    let runs = actual::runs(&rows, &facts, t("2026-12-19T12:00:00Z"));
    let spans: Vec<(DateTime<Utc>, DateTime<Utc>, Option<&str>)> =
        runs.iter().map(|r| (r.from, r.to, r.ended_by.as_deref())).collect();
    assert_eq!(
        spans,
        [
            (t("2026-12-18T19:50:00Z"), t("2026-12-18T21:01:30Z"), Some("schedule")),
            (t("2026-12-19T10:00:00Z"), t("2026-12-19T10:20:00Z"), Some("phase stopped")),
        ]
    );
    // A 1-hour event started 10 min early and stopped on time: 72 billed minutes.
    let mut ev = (**shipped().event("demo").expect("demo")).clone();
    ev.spec.timing = Some(crate::schedule::Timing {
        when: crate::schedule::When::Once { start: t("2026-12-18T20:00:00Z"), end: t("2026-12-18T21:00:00Z") },
        tz: chrono_tz::UTC,
        deploy_before: std::time::Duration::from_secs(30 * 60),
        start_before: std::time::Duration::from_secs(10 * 60),
        stop_after: std::time::Duration::ZERO,
        teardown_after: std::time::Duration::from_secs(5 * 60),
        keep_deployed: false,
        max_runtime: None,
        adaptive_lead: false,
    });
    let table = PriceTable::built_in().unwrap_or_else(|d| panic!("{d}"));
    let rates = Rates::of(&classify(&ev.workflow, &ev.profile), &table, "us-east-1");
    let priced = actual::price(&runs, &rates, ev.spec.timing.as_ref());
    assert_eq!((priced[0].billed_minutes, priced[0].event_minutes), (72, Some(60)));
    assert_eq!(priced[0].ratio().map(|r| (r * 100.0).round()), Some(120.0));
    assert_eq!(priced[1].event_minutes, None, "the next day's run served no window");
    // With no start recorded, a RUNNING phase still begins a run.
    let runs = actual::runs(
        &[],
        &Facts { phase: Some((Phase::Running, t("2026-12-19T11:00:00Z"))), ..Facts::default() },
        t("2026-12-19T11:03:00Z"),
    );
    assert_eq!(runs.iter().map(|r| (r.running, r.billed_minutes())).collect::<Vec<_>>(), [(true, 10)]);
}
