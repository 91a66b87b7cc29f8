//! No value in a file crashes ottd. Every number and duration of `ottd.toml`, the workflow, an
//! encoding profile (TOML and console template) and a schedule event is set to extreme values
//! (zero, negative, fractional, tiny, huge, beyond 64 bits, not a number) and loaded the way
//! `ottd validate` loads (`Catalog::load`): the load refuses the value with an error naming the
//! key at its `file:line:col`, and nothing else, or accepts it with a value the daemon can use.
//! One test also runs the real daemon with the edge values of every daemon and engine range.
//!
//! Pure: no AWS, no network (the daemon test listens on loopback, its events are on demand).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ottd::config::{settings, Catalog, Diags};
use ottd::schedule::{self, Timing, When};
use proptest::prelude::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn write(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
}

/// Copy every file of `from` (not recursive) into `to`.
fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read dir").map(|e| e.expect("dir entry")) {
        if entry.file_type().expect("file type").is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy");
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The configuration tree and the keys under test.

/// The file a key lives in.
#[derive(Debug, Clone, Copy, PartialEq)]
enum File {
    Settings,
    Workflow,
    Profile,
    Template,
    Schedule,
}

/// A timed one-off event (event[0]) and a recurring one (event[1]), both valid, on top of the
/// shipped on-demand `demo`.
const EVENTS: &str = r#"[[event]]
id = "final"
start = 2030-06-01T20:00:00Z
end = 2030-06-01T22:15:00Z
deploy_before = "45m"
start_before = "15m"
stop_after = "5m"
teardown_after = "10m"
max_runtime = "4h"
[event.mediaLive]
channelClass = "SINGLE_PIPELINE"
priUrl = "https://example.com/final/index.m3u8"

[[event]]
id = "magazine"
cron = "0 0 19 * * MON-FRI"
duration = "30m"
timezone = "Europe/Paris"
keep_deployed = true
[event.mediaLive]
channelClass = "SINGLE_PIPELINE"
priUrl = "https://example.com/magazine/index.m3u8"
"#;

/// A copy of the shipped `config/`, `schedules/` and `encoding-profiles/`, plus a console
/// template profile and the timed events of [`EVENTS`].
struct Tree {
    dir: tempfile::TempDir,
    base: Vec<(File, PathBuf, String)>,
}

impl Tree {
    fn new() -> Tree {
        let dir = tempfile::tempdir().expect("tempdir");
        for sub in ["config", "schedules", "encoding-profiles"] {
            copy_dir(&repo().join(sub), &dir.path().join(sub));
        }
        let template = dir.path().join("encoding-profiles/custom-720p.json");
        std::fs::copy(repo().join("tests/fixtures/extreme/custom-720p.json"), &template).expect("copy");
        let events = dir.path().join("schedules/events.toml");
        write(&events, EVENTS);
        let base = [
            (File::Settings, dir.path().join("config/ottd.toml")),
            (File::Workflow, dir.path().join("config/workflow.toml")),
            (File::Profile, dir.path().join("encoding-profiles/hd-1080p.toml")),
            (File::Template, template),
            (File::Schedule, events),
        ]
        .into_iter()
        .map(|(f, p)| {
            let text = read(&p);
            (f, p, text)
        })
        .collect();
        let tree = Tree { dir, base };
        tree.load().unwrap_or_else(|d| panic!("the base tree must be valid:\n{d}"));
        tree
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("config/ottd.toml")
    }

    fn file(&self, file: File) -> (&Path, &str) {
        let (_, p, t) = self.base.iter().find(|(f, _, _)| *f == file).expect("known file");
        (p, t)
    }

    fn load(&self) -> Result<Catalog, Diags> {
        Catalog::load(&self.config())
    }

    /// Load with `file` holding `text`, then put the base text back.
    fn load_with(&self, file: File, text: &str) -> Result<Catalog, Diags> {
        let (path, base) = self.file(file);
        write(path, text);
        let loaded = self.load();
        write(path, base);
        loaded
    }
}

/// A key under test: where it is, the field errors name, and the keys a cross-field rule may
/// blame instead when this one changes (start_before must not exceed deploy_before, ...).
#[derive(Debug, Clone, Copy)]
struct Key {
    /// TOML: the table header the key sits under (`""` = top of the file), its occurrence
    /// (`[[rendition]]` 0, `[[event]]` 1). JSON: the dotted path of the key's object.
    section: &'static str,
    nth: usize,
    key: &'static str,
    /// The field errors name.
    field: &'static str,
    also: &'static [&'static str],
    values: Values,
}

/// What kind of extreme values a key gets.
#[derive(Debug, Clone, Copy)]
enum Values {
    Duration,
    Int,
    Float,
    Bitrate,
    Framerate,
    Size,
    Listen,
}

const fn key(section: &'static str, key: &'static str, field: &'static str, values: Values) -> Key {
    Key { section, nth: 0, key, field, also: &[], values }
}

const SETTINGS: &[Key] = &[
    key("[engine]", "start_timeout", "engine.start_timeout", Values::Duration),
    key("[engine]", "stop_timeout", "engine.stop_timeout", Values::Duration),
    key("[engine]", "poll_interval", "engine.poll_interval", Values::Duration),
    key("[engine]", "distribution_wait", "engine.distribution_wait", Values::Duration),
    key("[engine]", "max_attempts", "engine.max_attempts", Values::Int),
    key("[engine]", "call_timeout", "engine.call_timeout", Values::Duration),
    key("[daemon]", "listen", "daemon.listen", Values::Listen),
    key("[daemon]", "max_idle_running", "daemon.max_idle_running", Values::Duration),
    key("[daemon]", "resync_interval", "daemon.resync_interval", Values::Duration),
    key("[daemon]", "keep_step_log", "daemon.keep_step_log", Values::Duration),
    key("[alerts]", "breaker", "alerts.breaker", Values::Int),
    key("[alerts]", "breaker_window", "alerts.breaker_window", Values::Duration),
    key("[chat]", "confirm_within", "chat.confirm_within", Values::Duration),
    key("[chat]", "approve_within", "chat.approve_within", Values::Duration),
    key("[chat.slack]", "watchdog", "chat.slack.watchdog", Values::Duration),
    key("[chat.slack]", "max_in_flight", "chat.slack.max_in_flight", Values::Int),
    key("[chat.discord]", "shard_down", "chat.discord.shard_down", Values::Duration),
    key("[chat.discord]", "shard_silent", "chat.discord.shard_silent", Values::Duration),
    key("[chat.discord]", "max_in_flight", "chat.discord.max_in_flight", Values::Int),
];

macro_rules! media_package {
    ($($k:literal),+ $(,)?) => {
        &[$(key("[mediaPackage]", $k, concat!("mediaPackage.", $k), Values::Int)),+]
    };
}

const WORKFLOW: &[Key] = media_package!(
    "hls_segment_duration_seconds",
    "hls_playlist_window_seconds",
    "hls_program_date_interval",
    "hls_max_video_bits_per_second",
    "hls_min_video_bits_per_second",
    "dash_segment_duration_seconds",
    "dash_manifest_window_seconds",
    "dash_max_video_bits_per_second",
    "dash_min_video_bits_per_second",
    "cmaf_segment_duration_seconds",
    "cmaf_playlist_window_seconds",
    "cmaf_program_date_interval",
    "cmaf_max_video_bits_per_second",
    "cmaf_min_video_bits_per_second",
    "mss_segment_duration_seconds",
    "mss_manifest_window_seconds",
    "mss_max_video_bits_per_second",
    "mss_min_video_bits_per_second",
);

const CLOUDFRONT_TTL: Key =
    key("[cloudFront]", "error_caching_min_ttl", "cloudFront.error_caching_min_ttl", Values::Int);

const PROFILE: &[Key] = &[
    key("", "framerate", "framerate", Values::Framerate),
    key("", "gop_seconds", "gop_seconds", Values::Float),
    key("", "b_frames", "b_frames", Values::Int),
    key("", "ref_frames", "ref_frames", Values::Int),
    key("", "level", "level", Values::Float),
    key("[audio]", "bitrate", "audio.bitrate", Values::Bitrate),
    key("[audio]", "sample_rate", "audio.sample_rate", Values::Int),
    key("[[rendition]]", "size", "rendition[0].size", Values::Size),
    key("[[rendition]]", "bitrate", "rendition[0].bitrate", Values::Bitrate),
    key("[[rendition]]", "max_bitrate", "rendition[0].max_bitrate", Values::Bitrate),
    key("[[rendition]]", "qvbr_quality", "rendition[0].qvbr_quality", Values::Int),
    key("[[rendition]]", "framerate", "rendition[0].framerate", Values::Framerate),
    key("[[rendition]]", "gop_seconds", "rendition[0].gop_seconds", Values::Float),
    key("[[rendition]]", "b_frames", "rendition[0].b_frames", Values::Int),
    key("[[rendition]]", "ref_frames", "rendition[0].ref_frames", Values::Int),
];

const H264: &str = "videoDescriptions.0.codecSettings.h264Settings";

macro_rules! h264 {
    ($k:literal, $values:expr $(, also: $($also:literal),+)?) => {
        Key {
            section: H264,
            nth: 0,
            key: $k,
            field: concat!("videoDescriptions[0].codecSettings.h264Settings.", $k),
            also: &[$($(concat!("videoDescriptions[0].codecSettings.h264Settings.", $also)),+)?],
            values: $values,
        }
    };
}

const TEMPLATE: &[Key] = &[
    key("videoDescriptions.0", "width", "videoDescriptions[0].width", Values::Int),
    key("videoDescriptions.0", "height", "videoDescriptions[0].height", Values::Int),
    h264!("bitrate", Values::Int, also: "maxBitrate", "bufSize"),
    h264!("maxBitrate", Values::Int),
    h264!("bufSize", Values::Int),
    h264!("gopSize", Values::Float),
    h264!("framerateNumerator", Values::Int, also: "gopSize"),
    h264!("framerateDenominator", Values::Int, also: "framerateNumerator", "gopSize"),
    h264!("gopNumBFrames", Values::Int),
    h264!("numRefFrames", Values::Int),
    h264!("qvbrQualityLevel", Values::Int),
    key(
        "audioDescriptions.0.codecSettings.aacSettings",
        "bitrate",
        "audioDescriptions[0].codecSettings.aacSettings.bitrate",
        Values::Int,
    ),
    key(
        "audioDescriptions.0.codecSettings.aacSettings",
        "sampleRate",
        "audioDescriptions[0].codecSettings.aacSettings.sampleRate",
        Values::Int,
    ),
    key("timecodeConfig", "syncThreshold", "timecodeConfig.syncThreshold", Values::Int),
    key(
        "availConfiguration.availSettings.scte35SpliceInsert",
        "adAvailOffset",
        "availConfiguration.availSettings.scte35SpliceInsert.adAvailOffset",
        Values::Int,
    ),
];

const fn event(nth: usize, key: &'static str, field: &'static str, also: &'static [&'static str]) -> Key {
    Key { section: "[[event]]", nth, key, field, also, values: Values::Duration }
}

const SCHEDULE: &[Key] = &[
    event(0, "deploy_before", "event[0].deploy_before", &["event[0].start_before"]),
    event(0, "start_before", "event[0].start_before", &[]),
    event(0, "stop_after", "event[0].stop_after", &[]),
    event(0, "teardown_after", "event[0].teardown_after", &[]),
    event(0, "max_runtime", "event[0].max_runtime", &[]),
    event(1, "duration", "event[1].duration", &[]),
    event(1, "max_runtime", "event[1].max_runtime", &[]),
    event(1, "deploy_before", "event[1].deploy_before", &["event[1].start_before"]),
];

/// `text` with `key = value` set in `section` (replacing the key, or its commented-out line,
/// or added under the header), and the 1-based line it is on.
fn set_toml(text: &str, section: &str, nth: usize, key: &str, value: &str) -> (String, usize) {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let is_header = |l: &str| l.trim_start().starts_with('[');
    let start = match section {
        "" => 0,
        _ => {
            let header = lines
                .iter()
                .enumerate()
                .filter(|(_, l)| l.trim() == section)
                .nth(nth)
                .map(|(i, _)| i)
                .unwrap_or_else(|| panic!("no {section} #{nth}"));
            header + 1
        }
    };
    let end = (start..lines.len()).find(|i| is_header(&lines[*i])).unwrap_or(lines.len());
    let line = format!("{key} = {value}");
    let existing = (start..end).find(|i| {
        let l = lines[*i].trim_start().trim_start_matches('#').trim_start();
        l.starts_with(&format!("{key} = "))
    });
    let at = match existing {
        Some(i) => {
            lines[i] = line;
            i
        }
        None => {
            lines.insert(start, line);
            start
        }
    };
    (lines.join("\n") + "\n", at + 1)
}

/// `text` (JSON) with `value` at `section.key`, objects made on the way.
fn set_json(text: &str, section: &str, key: &str, value: &str) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(text).expect("template JSON");
    let value: serde_json::Value = serde_json::from_str(value).expect("a JSON value");
    let mut at = &mut doc;
    for part in section.split('.') {
        at = match part.parse::<usize>() {
            Ok(i) => &mut at[i],
            Err(_) => &mut at[part],
        };
    }
    at[key] = value;
    serde_json::to_string_pretty(&doc).expect("serialize")
}

// ---------------------------------------------------------------------------------------------
// Extreme values.

/// A value as a TOML or JSON literal.
#[derive(Debug, Clone)]
enum Val {
    /// An integer literal, possibly beyond 64 bits.
    Int(String),
    Float(f64),
    Str(String),
}

impl Val {
    fn toml(&self) -> String {
        match self {
            Val::Int(s) => s.clone(),
            Val::Float(f) if f.is_nan() => "nan".into(),
            Val::Float(f) if f.is_infinite() => if *f > 0.0 { "inf" } else { "-inf" }.into(),
            Val::Float(f) => format!("{f:e}"),
            Val::Str(s) => format!("{s:?}"),
        }
    }

    /// JSON has no NaN or infinity: those become strings.
    fn json(&self) -> String {
        match self {
            Val::Float(f) if !f.is_finite() => format!("\"{f}\""),
            Val::Float(f) => format!("{f:e}"),
            Val::Int(s) => s.clone(),
            Val::Str(s) => format!("{s:?}"),
        }
    }
}

/// Numbers at and around every edge: zero, one, the bounds of the ranges, the ends of i32, i64
/// and u64, and beyond.
fn edge_ints() -> impl Strategy<Value = i128> {
    const SMALL: &[i128] = &[
        0, 1, -1, 2, 7, 8, 10, 11, 29, 30, 31, 59, 60, 100, 999, 1000, 1001, 3600, 5400, 5401, 16_000, 44_100, 48_000,
        65_535, 65_536, 100_000, 120_000, 576_000, 40_000_000, 80_000_000, 31_536_000, 31_536_001,
    ];
    let large = [i32::MIN.into(), i32::MAX.into(), 999_999_999_999, i64::MIN.into(), i64::MAX.into(), u64::MAX.into()];
    let edges: Vec<i128> =
        SMALL.iter().copied().chain(large.into_iter().flat_map(|n: i128| [n - 1, n, n + 1])).collect();
    prop_oneof![prop::sample::select(edges), any::<i64>().prop_map(i128::from), (-100i128..=100_000)]
}

fn edge_floats() -> impl Strategy<Value = f64> {
    const SMALL: &[f64] = &[0.0, -0.0, 0.05, 0.1, 0.5, 1.5, 2.0, 29.97, 30.0, 30.000001, 59.94, 120.0, 120.1, -1.5];
    let large = [1e-300, 1e300, f64::MAX, f64::MIN_POSITIVE, f64::NAN, f64::INFINITY, f64::NEG_INFINITY];
    let edges: Vec<f64> = SMALL.iter().copied().chain(large).collect();
    prop_oneof![prop::sample::select(edges), any::<f64>(), -10.0f64..1000.0]
}

/// Durations written as humans (and machines gone wrong) write them.
fn duration_text() -> impl Strategy<Value = String> {
    let unit = prop::sample::select(vec!["ns", "us", "ms", "s", "m", "min", "h", "d", "w", "M", "y", "years", ""]);
    let number = prop_oneof![
        prop::sample::select(
            "0 1 59 60 99 100 1.5 0.5 0.0001 7 8 10 11 24 168 999999999999 9223372036854775807 \
             18446744073709551615 18446744073709551616 -1 -0"
                .split_whitespace()
                .collect::<Vec<_>>(),
        )
        .prop_map(str::to_string),
        any::<u64>().prop_map(|n| n.to_string()),
        (0u32..100_000).prop_map(|n| n.to_string()),
    ];
    prop_oneof![
        (number, unit).prop_map(|(n, u)| format!("{n}{u}")),
        prop::sample::select(vec!["", "1h 30m", "1h30m", "7d 1s", "1ns", "10y 1s", "1d -1s", "soon", "P1D", " 60s "])
            .prop_map(str::to_string),
    ]
}

fn value(kind: Values) -> BoxedStrategy<Val> {
    let int = edge_ints().prop_map(|n| Val::Int(n.to_string())).boxed();
    let huge = Just(Val::Int("9".repeat(40))).boxed();
    let float = edge_floats().prop_map(Val::Float).boxed();
    let any_number = prop_oneof![4 => int.clone(), 1 => huge.clone(), 2 => float.clone()];
    let int_string = edge_ints().prop_map(|n| Val::Str(n.to_string()));
    match kind {
        Values::Duration => prop_oneof![8 => duration_text().prop_map(Val::Str), 1 => any_number].boxed(),
        Values::Int => prop_oneof![8 => int, 1 => huge, 2 => float, 1 => int_string].boxed(),
        Values::Float => prop_oneof![6 => float, 3 => int, 1 => huge].boxed(),
        Values::Bitrate => {
            let suffix = prop::sample::select(vec!["", "k", "K", "M", "m"]);
            let text = (
                prop_oneof![edge_ints().prop_map(|n| n.to_string()), edge_floats().prop_map(|f| f.to_string())],
                suffix,
            )
                .prop_map(|(n, s)| Val::Str(format!("{n}{s}")));
            prop_oneof![4 => text, 3 => int, 1 => huge, 1 => float].boxed()
        }
        Values::Framerate => {
            let ratio = (edge_ints(), edge_ints()).prop_map(|(n, d)| Val::Str(format!("{n}/{d}")));
            let text = edge_floats().prop_map(|f| Val::Str(f.to_string()));
            prop_oneof![3 => ratio, 2 => text, 3 => int, 2 => float].boxed()
        }
        Values::Size => (edge_ints(), edge_ints()).prop_map(|(w, h)| Val::Str(format!("{w}x{h}"))).boxed(),
        Values::Listen => {
            let host = prop::sample::select(vec!["127.0.0.1", "0.0.0.0", "[::1]", "localhost", ""]);
            (host, edge_ints()).prop_map(|(h, p)| Val::Str(format!("{h}:{p}"))).boxed()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The property: refused with the key named, or accepted with values the daemon can use.

/// A current-thread runtime with timers, to build what the daemon builds (a tokio interval).
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime")
}

/// Set `key` to `value` in `file`, load, and check the outcome: `Ok(true)` when accepted.
fn check(tree: &Tree, rt: &tokio::runtime::Runtime, file: File, key: &Key, value: &Val) -> Result<bool, TestCaseError> {
    let (path, base) = tree.file(file);
    let (text, line) = match file {
        File::Template => (set_json(base, key.section, key.key, &value.json()), None),
        _ => {
            let (text, line) = set_toml(base, key.section, key.nth, key.key, &value.toml());
            (text, Some(line))
        }
    };
    match tree.load_with(file, &text) {
        Ok(catalog) => {
            accepted(&catalog, rt);
            Ok(true)
        }
        Err(diags) => {
            let report = diags.to_string();
            for d in &diags.0 {
                prop_assert!(
                    d.field == key.field || key.also.contains(&d.field.as_str()),
                    "an error about another key than {}:\n{report}\n--- {}:\n{text}",
                    key.field,
                    path.display()
                );
            }
            let named = diags.0.iter().find(|d| d.field == key.field);
            let Some(d) = named else {
                // Only a cross-field rule spoke (start_before against a shorter deploy_before).
                return Ok(false);
            };
            let same = |p: &Path| p.canonicalize().ok();
            prop_assert_eq!(same(&d.file), same(path), "{}", report);
            prop_assert!(d.pos.line >= 1 && d.pos.col >= 1, "{}", report);
            if let Some(line) = line {
                let at = format!("{}:{line}:{}: {}: ", d.file.display(), key.key.len() + 4, key.field);
                prop_assert!(report.lines().any(|l| l.starts_with(&at)), "expected `{at}…` in:\n{report}");
            }
            Ok(false)
        }
    }
}

/// What the daemon builds from an accepted configuration, without running it: none of it may
/// panic, and every value lies in the range its module documents.
fn accepted(c: &Catalog, rt: &tokio::runtime::Runtime) {
    let (e, d) = (&c.settings.engine, &c.settings.daemon);
    use settings::limits as l;
    assert!(l::START_TIMEOUT.contains(&e.start_timeout) && l::STOP_TIMEOUT.contains(&e.stop_timeout));
    assert!(l::POLL_INTERVAL.contains(&e.poll_interval) && l::CALL_TIMEOUT.contains(&e.call_timeout));
    assert!(l::DISTRIBUTION_WAIT.contains(&e.distribution_wait));
    assert!(l::MAX_ATTEMPTS.contains(&i64::from(e.max_attempts)));
    assert!(l::MAX_IDLE_RUNNING.contains(&d.max_idle_running) && l::RESYNC_INTERVAL.contains(&d.resync_interval));
    assert!(l::KEEP_STEP_LOG.contains(&d.keep_step_log));
    let alerts = &c.settings.alerts.policies;
    assert!(ottd::config::alerts::limits::BREAKER.contains(&i64::from(alerts.breaker_max)));
    assert!(ottd::config::alerts::limits::BREAKER_WINDOW.contains(&alerts.breaker_window));
    let chat = &c.settings.chat;
    use ottd::config::chat::limits as cl;
    assert!(cl::CONFIRM_WITHIN.contains(&chat.approvals.confirm_within));
    assert!(cl::APPROVE_WITHIN.contains(&chat.approvals.approve_within));
    assert!(cl::WATCHDOG.contains(&chat.slack.watchdog));
    assert!(cl::SHARD_DOWN.contains(&chat.discord.shard_down) && cl::SHARD_SILENT.contains(&chat.discord.shard_silent));
    let in_flight = |n: usize| i64::try_from(n).is_ok_and(|n| cl::MAX_IN_FLIGHT.contains(&n));
    assert!(in_flight(chat.slack.max_in_flight) && in_flight(chat.discord.max_in_flight));
    // tokio panics on a zero period; the engine's poll backoff and the SDK's per-attempt
    // timeout (half the call timeout) must not be zero either.
    assert!(!d.resync_interval.is_zero() && !e.poll_interval.is_zero() && !(e.call_timeout / 2).is_zero());
    rt.block_on(async {
        let _ = tokio::time::interval(d.resync_interval);
        let _ = tokio::time::interval(Duration::from_millis(200).min(e.poll_interval));
    });
    // The daemon adds and subtracts these from the clock unchecked: they must fit.
    let now = Utc::now();
    for dur in [d.max_idle_running, d.keep_step_log, e.start_timeout, e.stop_timeout, e.distribution_wait] {
        let delta = chrono::Duration::from_std(dur).expect("fits chrono");
        assert!(now.checked_add_signed(delta).is_some() && now.checked_sub_signed(delta).is_some());
    }
    for ev in &c.events {
        let Some(t) = &ev.spec.timing else { continue };
        if let Some(max) = t.max_runtime {
            let delta = chrono::Duration::from_std(max).expect("fits chrono");
            assert!(now.checked_add_signed(delta).is_some(), "max_runtime {max:?}");
        }
        exercise(t, now);
    }
}

/// Every computation the scheduler makes on a timing, at and around `now`.
fn exercise(t: &Timing, now: DateTime<Utc>) {
    let _ = t.windows_from(now, 4);
    let _ = t.occurrence_at_or_before(now);
    let _ = t.occurrences_after(now).take(4).count();
    let _ = schedule::decide(Some(t), true, now, None);
    let _ = schedule::next_boundaries(Some(t), now, 4);
    let _ = schedule::override_until(Some(t), now);
}

/// `cases` random (key, value) pairs of `keys` in `file`, on a tree of the test's own (the
/// tests run in parallel and each load reads every file). Failures are kept in
/// `tests/extreme_values.proptest-regressions`, as `proptest!` would.
fn run(file: File, keys: Vec<Key>, cases: u32) {
    let strategy = prop::sample::select(keys).prop_flat_map(|k| (Just(k), value(k.values)));
    let persistence = proptest::test_runner::FileFailurePersistence::WithSource("proptest-regressions");
    let config = ProptestConfig {
        cases,
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(persistence)),
        ..ProptestConfig::default()
    };
    let (tree, rt) = (Tree::new(), runtime());
    let outcomes = std::cell::Cell::new((0u32, 0u32));
    let mut runner = proptest::test_runner::TestRunner::new(config);
    runner
        .run(&strategy, |(k, v)| {
            let ok = check(&tree, &rt, file, &k, &v)?;
            let (a, r) = outcomes.get();
            outcomes.set(if ok { (a + 1, r) } else { (a, r + 1) });
            Ok(())
        })
        .unwrap_or_else(|e| panic!("{e}"));
    // Both sides of the property were exercised (shrinking adds a few runs to the count).
    let (accepted, refused) = outcomes.get();
    eprintln!("{file:?}: {accepted} accepted, {refused} refused");
    assert!(accepted > cases / 100 && refused > cases / 100, "{file:?}: {accepted} accepted, {refused} refused");
}

/// Cases per file: five files make 3,000 loads.
const CASES: u32 = 600;

#[test]
fn every_number_and_duration_of_ottd_toml_is_refused_by_name_or_usable() {
    run(File::Settings, SETTINGS.to_vec(), CASES);
}

#[test]
fn every_number_of_the_workflow_is_refused_by_name_or_usable() {
    run(File::Workflow, WORKFLOW.iter().copied().chain([CLOUDFRONT_TTL]).collect(), CASES);
}

#[test]
fn every_number_of_an_encoding_profile_is_refused_by_name_or_usable() {
    run(File::Profile, PROFILE.to_vec(), CASES);
}

#[test]
fn every_number_of_a_console_template_is_refused_by_name_or_usable() {
    run(File::Template, TEMPLATE.to_vec(), CASES);
}

#[test]
fn every_duration_of_a_schedule_event_is_refused_by_name_or_usable() {
    run(File::Schedule, SCHEDULE.to_vec(), CASES);
}

// ---------------------------------------------------------------------------------------------
// Arithmetic at the ends of time, whatever a timing holds.

#[test]
fn window_arithmetic_saturates_instead_of_overflowing() {
    let huge = Duration::MAX;
    let cron = schedule::timing::parse_cron("0 0 19 * * *").expect("cron");
    let once = When::Once { start: DateTime::<Utc>::MIN_UTC, end: DateTime::<Utc>::MAX_UTC };
    let recurring = When::Recurring { cron, expr: "0 0 19 * * *".into(), duration: huge };
    for when in [once, recurring] {
        let t = Timing {
            when,
            tz: chrono_tz::Pacific::Apia,
            deploy_before: huge,
            start_before: huge,
            stop_after: huge,
            teardown_after: huge,
            keep_deployed: true,
            max_runtime: Some(huge),
            adaptive_lead: true,
        };
        for now in [DateTime::<Utc>::MIN_UTC, Utc::now(), DateTime::<Utc>::MAX_UTC] {
            let w = t.window_for(now, now);
            assert_eq!((w.deploy_at, w.start_at), (DateTime::<Utc>::MIN_UTC, DateTime::<Utc>::MIN_UTC));
            assert_eq!((w.stop_at, w.teardown_at), (DateTime::<Utc>::MAX_UTC, DateTime::<Utc>::MAX_UTC));
            let _ = t.window_at(now, Some(now));
            exercise(&t, now);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The real daemon with the edge values of every daemon and engine range.

/// A loopback port free a moment ago (`listen = "127.0.0.1:0"` would not tell us which).
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    l.local_addr().expect("addr").port()
}

/// `GET /healthz` over HTTP/1.0; the status code, if anything answered.
fn healthz(port: u16) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.write_all(b"GET /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut answer = String::new();
    s.read_to_string(&mut answer).ok()?;
    answer.split_whitespace().nth(1)?.parse().ok()
}

fn humane(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

/// The shipped configuration (its on-demand schedule only) with every engine and daemon value
/// at the low or the high end of its range.
fn edge_config(dir: &Path, port: u16, low: bool) -> PathBuf {
    for sub in ["config", "schedules", "encoding-profiles"] {
        copy_dir(&repo().join(sub), &dir.join(sub));
    }
    use settings::limits as l;
    let end = |r: &RangeInclusive<Duration>| if low { *r.start() } else { *r.end() };
    let attempts = if low { l::MAX_ATTEMPTS.start() } else { l::MAX_ATTEMPTS.end() };
    let values = [
        ("[engine]", "start_timeout", humane(end(&l::START_TIMEOUT))),
        ("[engine]", "stop_timeout", humane(end(&l::STOP_TIMEOUT))),
        ("[engine]", "poll_interval", humane(end(&l::POLL_INTERVAL))),
        ("[engine]", "distribution_wait", humane(end(&l::DISTRIBUTION_WAIT))),
        ("[engine]", "call_timeout", humane(end(&l::CALL_TIMEOUT))),
        ("[daemon]", "max_idle_running", humane(end(&l::MAX_IDLE_RUNNING))),
        ("[daemon]", "resync_interval", humane(end(&l::RESYNC_INTERVAL))),
        ("[daemon]", "keep_step_log", humane(end(&l::KEEP_STEP_LOG))),
        ("[daemon]", "listen", format!("127.0.0.1:{port}")),
    ];
    let config = dir.join("config/ottd.toml");
    let mut text = read(&config);
    for (section, key, v) in values {
        text = set_toml(&text, section, 0, key, &format!("{v:?}")).0;
    }
    text = set_toml(&text, "[engine]", 0, "max_attempts", &attempts.to_string()).0;
    write(&config, &text);
    config
}

#[test]
fn the_daemon_starts_and_answers_with_every_edge_value_of_its_ranges() {
    for (name, low) in [("minimum", true), ("maximum", false)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port();
        let config = edge_config(dir.path(), port, low);
        let catalog = Catalog::load(&config).unwrap_or_else(|d| panic!("{name} values must be valid:\n{d}"));
        assert!(catalog.events.iter().all(|e| e.spec.timing.is_none()), "on-demand events only: no AWS");
        let log = dir.path().join("ottd.log");
        let out = std::fs::File::create(&log).expect("log");
        let mut child = Command::new(env!("CARGO_BIN_EXE_ottd"))
            .arg("--config")
            .arg(&config)
            .arg("--state")
            .arg(dir.path().join("ottd.db"))
            .arg("run")
            // Nothing may reach AWS; should anything try, it finds a closed loopback port.
            .env("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("OTTD_CONFIG")
            .env_remove("OTTD_STATE")
            .stdout(Stdio::from(out.try_clone().expect("log")))
            .stderr(Stdio::from(out))
            .spawn()
            .expect("start ottd run");
        let mut status = None;
        for _ in 0..300 {
            if let Some(exit) = child.try_wait().expect("wait") {
                panic!("ottd run exited ({exit}) with the {name} values:\n{}", read(&log));
            }
            status = healthz(port);
            if status == Some(200) {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(status, Some(200), "GET /healthz with the {name} values; daemon log:\n{}", read(&log));
    }
}
