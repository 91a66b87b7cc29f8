//! The files ottd ships (`config/`, `encoding-profiles/`, `schedules/`) load, say what the AWS
//! sample says, and broken variants of them are reported completely. Pure: no AWS, no network.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ottd::config::doc::Source;
use ottd::config::profile::{
    self, Entropy, InputMaxBitrate, InputResolution, OutputCodec, Profile, RateControl, SubGop, TimecodeSource,
};
use ottd::config::workflow::{
    AdMarkers, ChannelClass, Codec, DashProfile, InputType, PeriodTrigger, PriceClass, SegmentTemplate,
    SourceEndBehavior, StreamOrder, Workflow,
};
use ottd::config::{Catalog, Settings};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Compile a workflow file the way `Catalog` does, returning every diagnostic as text.
fn compile_workflow(path: &Path) -> Result<Workflow, String> {
    let src = Source::read(path).map_err(|d| d.to_string())?;
    Workflow::from_source(&src).map_err(|d| d.to_string())
}

/// 1-based line and column of the value of the first `key = ` line containing `needle`
/// (how the parser positions a TOML value).
fn value_pos(text: &str, needle: &str) -> (usize, usize) {
    for (i, line) in text.lines().enumerate() {
        if line.contains(needle) && !line.trim_start().starts_with('#') {
            let eq = line.find(" = ").unwrap_or_else(|| panic!("no ` = ` in `{line}`"));
            return (i + 1, eq + 4);
        }
    }
    panic!("`{needle}` not found");
}

// ---------------------------------------------------------------------------------------------
// The shipped configuration as a whole.

#[test]
fn shipped_config_loads_and_the_demo_event_resolves() {
    let cfg = repo().join("config/ottd.toml");
    let catalog = Catalog::load(&cfg).unwrap_or_else(|d| panic!("shipped config is invalid:\n{d}"));

    let s = &catalog.settings;
    assert_eq!(s.region.as_deref(), Some("us-east-1"));
    assert_eq!(s.profile, None, "the AWS profile is commented out");
    assert_eq!(s.state_path, repo().join("config/../state/ottd.db"));
    assert_eq!(s.default_workflow, repo().join("config/workflow.toml"));
    assert_eq!(s.schedules_dir, repo().join("config/../schedules"));
    assert_eq!(s.profiles_dir, repo().join("config/../encoding-profiles"));
    assert_eq!(s.prefix, "ottd");
    assert!(s.tags.contains(&("Project".to_string(), "live-ott".to_string())), "{:?}", s.tags);
    assert_eq!((s.medialive_role_arn.as_ref(), s.mediapackage_role_arn.as_ref()), (None, None));

    let mut names: Vec<&str> = catalog.profiles.iter().map(|p| p.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["HD-1080p", "HD-720p", "HEVC-1080p", "HEVC-720p", "SD-540p"]);

    let demo = catalog.event("demo").expect("the demo event is shipped");
    assert_eq!(demo.spec.timing, None, "demo is on-demand");
    assert!(demo.spec.enabled);
    assert!(!demo.spec.title.is_empty() && demo.spec.title != "demo", "demo has a title");
    let ml = &demo.workflow.media_live;
    assert_eq!(ml.channel_class, ChannelClass::SinglePipeline);
    assert_eq!(ml.input_type, InputType::UrlPull);
    assert_eq!(ml.encoding_profile, "HD-720p");
    assert!(ml.pri_url.starts_with("https://example.com/"), "{}", ml.pri_url);
    // Everything the event does not override comes from the default workflow.
    assert_eq!(ml.codec, Codec::Avc);
    assert_eq!(ml.source_end_behavior, SourceEndBehavior::Loop);
    assert_eq!(ml.stream_name, "live");
    let base = compile_workflow(&repo().join("config/workflow.toml")).expect("valid");
    assert_eq!(demo.workflow.media_package, base.media_package);
    assert_eq!(demo.workflow.cloud_front, base.cloud_front);

    let p = &demo.profile;
    assert_eq!(p.name, "HD-720p");
    assert_eq!(p.codec, OutputCodec::Avc);
    let heights: Vec<i32> = p.renditions.iter().map(|r| r.height).collect();
    assert_eq!(heights, [288, 360, 540, 720]);
    for r in &p.renditions {
        assert_eq!((r.framerate_num, r.framerate_den), (25, 1), "{}", r.name);
    }
    assert_eq!((p.input_resolution, p.input_max_bitrate), (InputResolution::Hd, InputMaxBitrate::Max10));
}

#[test]
fn the_commented_engine_and_daemon_values_are_the_real_defaults() {
    // Uncomment every `# key = value` of [engine] and [daemon]: nothing may change.
    let text = read(&repo().join("config/ottd.toml"));
    let mut section = String::new();
    let mut uncommented = String::new();
    for line in text.lines() {
        if line.starts_with('[') {
            section = line.to_string();
        }
        let is_setting = line.starts_with("# ")
            && line[2..]
                .split_once(" = ")
                .is_some_and(|(k, _)| !k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_'));
        // public_url has no default: its line is an example.
        let example = line.starts_with("# public_url = ");
        if (section == "[engine]" || section == "[daemon]") && is_setting && !example {
            uncommented.push_str(&line[2..]);
        } else {
            uncommented.push_str(line);
        }
        uncommented.push('\n');
    }
    assert!(uncommented.contains("\nstart_timeout = ") && uncommented.contains("\nlisten = "));
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("ottd.toml");
    std::fs::write(&path, uncommented).expect("write");
    let explicit = Settings::load(&path).unwrap_or_else(|d| panic!("{d}"));
    let shipped = Settings::load(&repo().join("config/ottd.toml")).expect("valid");
    assert_eq!(explicit.engine, shipped.engine);
    assert_eq!(explicit.daemon, shipped.daemon);
    assert_eq!(shipped.engine.start_timeout, Duration::from_secs(15 * 60));
    assert_eq!(shipped.engine.max_attempts, 5);
    assert_eq!(shipped.daemon.listen.to_string(), "127.0.0.1:9180");
}

#[test]
fn state_folder_is_ignored_by_git() {
    let ignore = read(&repo().join(".gitignore"));
    assert!(ignore.lines().any(|l| l.trim() == "/state/"), "{ignore}");
}

#[test]
fn shipped_files_name_no_real_source_host() {
    // Placeholders live on the reserved example.com domain; nothing else is ever contacted.
    for path in ["config/workflow.toml", "schedules/demo.toml", "tests/fixtures/configuration.json"] {
        let text = read(&repo().join(path));
        for (i, line) in text.lines().enumerate() {
            let mut rest = line;
            while let Some(at) = rest.find("://") {
                let host: String = rest[at + 3..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '.' || *c == '-')
                    .collect();
                assert!(host == "example.com" || host.ends_with(".example.com"), "{path}:{}: {host}", i + 1);
                rest = &rest[at + 3..];
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding profiles: the sample's ladders, exactly.

struct Rung {
    size: (i32, i32),
    bitrate: i32,
    qvbr: i32,
    profile: &'static str,
    entropy: Entropy,
    b_frames: i32,
}

struct Ladder {
    file: &'static str,
    name: &'static str,
    codec: OutputCodec,
    fps: i32,
    sub_gop: SubGop,
    scene_change: bool,
    input: (InputResolution, InputMaxBitrate),
    rungs: Vec<Rung>,
}

fn rung(size: (i32, i32), bitrate: i32, qvbr: i32, profile: &'static str, entropy: Entropy, b_frames: i32) -> Rung {
    Rung { size, bitrate, qvbr, profile, entropy, b_frames }
}

fn ladders() -> Vec<Ladder> {
    use Entropy::{Cabac, Cavlc};
    let hevc = |size, bitrate, qvbr| rung(size, bitrate, qvbr, "MAIN", Cabac, 3);
    vec![
        Ladder {
            file: "hd-720p.toml",
            name: "HD-720p",
            codec: OutputCodec::Avc,
            fps: 25,
            sub_gop: SubGop::Fixed,
            scene_change: false,
            input: (InputResolution::Hd, InputMaxBitrate::Max10),
            rungs: vec![
                rung((512, 288), 400_000, 6, "BASELINE", Cavlc, 0),
                rung((640, 360), 800_000, 7, "BASELINE", Cavlc, 0),
                rung((960, 540), 1_800_000, 8, "MAIN", Cabac, 3),
                rung((1280, 720), 2_700_000, 9, "HIGH", Cabac, 3),
            ],
        },
        Ladder {
            file: "hd-1080p.toml",
            name: "HD-1080p",
            codec: OutputCodec::Avc,
            fps: 30,
            sub_gop: SubGop::Dynamic,
            scene_change: true,
            input: (InputResolution::Hd, InputMaxBitrate::Max20),
            rungs: vec![
                rung((512, 288), 400_000, 6, "MAIN", Cavlc, 3),
                rung((640, 360), 800_000, 7, "MAIN", Cabac, 3),
                rung((768, 432), 1_200_000, 7, "MAIN", Cabac, 3),
                rung((960, 540), 1_800_000, 8, "MAIN", Cabac, 3),
                rung((1280, 720), 2_700_000, 8, "MAIN", Cabac, 3),
                rung((1920, 1080), 4_100_000, 9, "HIGH", Cabac, 3),
            ],
        },
        Ladder {
            file: "sd-540p.toml",
            name: "SD-540p",
            codec: OutputCodec::Avc,
            fps: 30,
            sub_gop: SubGop::Dynamic,
            scene_change: true,
            input: (InputResolution::Sd, InputMaxBitrate::Max10),
            rungs: vec![
                rung((512, 288), 400_000, 6, "MAIN", Cavlc, 3),
                rung((640, 360), 800_000, 7, "MAIN", Cavlc, 3),
                rung((768, 432), 1_200_000, 7, "MAIN", Cabac, 3),
                rung((960, 540), 1_800_000, 9, "MAIN", Cabac, 3),
            ],
        },
        Ladder {
            file: "hevc-1080p.toml",
            name: "HEVC-1080p",
            codec: OutputCodec::Hevc,
            fps: 30,
            sub_gop: SubGop::Dynamic,
            scene_change: true,
            input: (InputResolution::Hd, InputMaxBitrate::Max20),
            rungs: vec![
                hevc((512, 288), 270_000, 6),
                hevc((640, 360), 520_000, 7),
                hevc((768, 432), 800_000, 7),
                hevc((960, 540), 1_200_000, 8),
                hevc((1280, 720), 1_800_000, 8),
                hevc((1920, 1080), 2_700_000, 9),
            ],
        },
        Ladder {
            file: "hevc-720p.toml",
            name: "HEVC-720p",
            codec: OutputCodec::Hevc,
            fps: 25,
            sub_gop: SubGop::Fixed,
            scene_change: false,
            input: (InputResolution::Hd, InputMaxBitrate::Max10),
            rungs: vec![
                hevc((512, 288), 270_000, 6),
                hevc((640, 360), 520_000, 7),
                hevc((960, 540), 1_200_000, 8),
                hevc((1280, 720), 1_800_000, 9),
            ],
        },
    ]
}

fn load_profile(file: &str) -> Profile {
    let path = repo().join("encoding-profiles").join(file);
    profile::load_file(&path).unwrap_or_else(|d| panic!("{file}:\n{d}"))
}

#[test]
fn every_shipped_profile_matches_its_ladder() {
    for l in ladders() {
        let p = load_profile(l.file);
        let f = l.file;
        assert_eq!(p.name, l.name, "{f}");
        assert_eq!(p.codec, l.codec, "{f}");
        assert_eq!((p.input_resolution, p.input_max_bitrate), l.input, "{f}");
        assert_eq!(p.timecode_source, TimecodeSource::Embedded, "{f}");
        assert_eq!(
            (p.audio.bitrate, p.audio.sample_rate, p.audio.coding_mode.as_str()),
            (96_000, 48_000, "2.0"),
            "{f}"
        );
        assert_eq!(p.renditions.len(), l.rungs.len(), "{f}");
        let top = p.top().expect("a ladder has a top rung").name.clone();
        for (r, want) in p.renditions.iter().zip(&l.rungs) {
            let at = format!("{f} {}", r.name);
            // Named after the size: the sample's `_764x432` for 768x432 is not repeated.
            assert_eq!(r.name, format!("{}x{}", want.size.0, want.size.1), "{at}");
            assert_eq!((r.width, r.height), want.size, "{at}");
            assert_eq!((r.bitrate, r.max_bitrate), (want.bitrate, want.bitrate), "{at}: max bitrate = bitrate");
            assert_eq!(r.rate_control, RateControl::Qvbr, "{at}");
            assert_eq!(r.qvbr_quality, want.qvbr, "{at}");
            assert_eq!((r.framerate_num, r.framerate_den), (l.fps, 1), "{at}");
            assert_eq!(r.gop_seconds, 2.0, "{at}");
            assert_eq!(r.ref_frames, 5, "{at}");
            assert_eq!(r.level, "AUTO", "{at}");
            assert_eq!(r.profile, want.profile, "{at}");
            assert_eq!(r.entropy, want.entropy, "{at}");
            assert_eq!(r.b_frames, want.b_frames, "{at}");
            assert_eq!(r.b_reference, want.b_frames > 0, "{at}: B-frames are used as references");
            assert_eq!(r.sub_gop, l.sub_gop, "{at}");
            assert_eq!(r.scene_change_detect, l.scene_change, "{at}");
            assert_eq!(r.audio, r.name == top, "{at}: audio rides on the top rung only");
            if l.codec == OutputCodec::Hevc {
                assert_eq!(r.tier, "MAIN", "{at}");
                assert!(profile::HEVC_PROFILES.contains(&r.profile.as_str()), "{at}");
            }
        }
        assert_eq!(p.renditions.iter().filter(|r| r.audio).count(), 1, "{f}");
    }
}

#[test]
fn hevc_ladders_run_at_60_to_70_percent_of_their_avc_twins() {
    for (hevc, avc) in [("hevc-1080p.toml", "hd-1080p.toml"), ("hevc-720p.toml", "hd-720p.toml")] {
        let (h, a) = (load_profile(hevc), load_profile(avc));
        assert_eq!(h.renditions.len(), a.renditions.len(), "{hevc}");
        for (hr, ar) in h.renditions.iter().zip(&a.renditions) {
            assert_eq!((hr.width, hr.height), (ar.width, ar.height), "{hevc}");
            assert_eq!(hr.framerate_num, ar.framerate_num, "{hevc}");
            let ratio = f64::from(hr.bitrate) / f64::from(ar.bitrate);
            assert!((0.6..=0.7).contains(&ratio), "{hevc} {}: {ratio:.3}", hr.name);
        }
        assert_eq!((h.input_resolution, h.input_max_bitrate), (a.input_resolution, a.input_max_bitrate));
    }
}

#[test]
fn the_profile_folder_loads_as_a_whole_and_every_file_says_what_it_is_for() {
    let dir = repo().join("encoding-profiles");
    let all = profile::load_dir(&dir).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(all.len(), 5);
    for p in &all {
        let text = read(&p.file);
        assert!(text.starts_with("# "), "{} must open with a comment", p.file.display());
        let rungs = text.lines().filter(|l| l.trim() == "[[rendition]]").count();
        assert_eq!(rungs, p.renditions.len(), "{}", p.file.display());
    }
}

// ---------------------------------------------------------------------------------------------
// The sample's own configuration.json, read unchanged.

#[test]
fn the_samples_configuration_json_compiles_with_the_samples_defaults() {
    let path = repo().join("tests/fixtures/configuration.json");
    let text = read(&path);
    // The quirks of the sample's file are part of the fixture: stray spaces before commas and
    // trailing spaces.
    assert!(text.contains("\" ,"), "the fixture keeps a space before a comma");
    assert!(text.lines().any(|l| l.ends_with(' ')), "the fixture keeps trailing spaces");

    let wf = compile_workflow(&path).unwrap_or_else(|e| panic!("{e}"));
    let ml = &wf.media_live;
    assert!(ml.auto_start);
    assert_eq!(ml.stream_name, "live");
    assert_eq!(ml.channel_class, ChannelClass::Standard);
    assert_eq!(ml.input_type, InputType::UrlPull);
    assert_eq!(ml.source_end_behavior, SourceEndBehavior::Loop);
    assert_eq!(ml.codec, Codec::Avc);
    assert_eq!(ml.encoding_profile, "HD-720p");
    assert_eq!(ml.input_cidr, "0.0.0.0/0");
    assert_eq!(ml.pri_url, ml.sec_url, "the sample pulls one URL on both pipelines");
    for empty in [&ml.pri_link, &ml.sec_link, &ml.pri_flow, &ml.sec_flow] {
        assert_eq!(empty, "");
    }

    let mp = &wf.media_package;
    assert_eq!(mp.ad_markers, AdMarkers::Passthrough);
    assert_eq!(
        (mp.hls_segment_duration_seconds, mp.hls_playlist_window_seconds, mp.hls_program_date_interval),
        (4, 60, 60)
    );
    assert!(!mp.hls_include_i_frame && mp.hls_audio_rendition_group);
    assert_eq!(mp.dash_period_triggers, PeriodTrigger::Ads);
    assert_eq!((mp.dash_segment_duration_seconds, mp.dash_manifest_window_seconds), (2, 60));
    assert_eq!(mp.dash_segment_template, SegmentTemplate::TimeWithTimeline);
    assert_eq!(mp.dash_profile, DashProfile::None);
    assert_eq!(
        (mp.cmaf_segment_duration_seconds, mp.cmaf_playlist_window_seconds, mp.cmaf_program_date_interval),
        (4, 60, 60)
    );
    assert!(!mp.cmaf_include_i_frame);
    assert!(!mp.mss_enabled, "the sample never creates the MSS endpoint");
    assert_eq!((mp.mss_segment_duration_seconds, mp.mss_manifest_window_seconds), (2, 60));
    for s in [mp.hls_stream, mp.dash_stream, mp.cmaf_stream, mp.mss_stream] {
        assert_eq!((s.max_video_bits_per_second, s.min_video_bits_per_second), (i32::MAX, 0));
        assert_eq!(s.stream_order, StreamOrder::Original);
    }

    // No cloudFront section in the sample: ottd's defaults.
    assert!(wf.cloud_front.access_logs);
    assert_eq!(wf.cloud_front.price_class, PriceClass::All);
    assert_eq!(wf.cloud_front.error_caching_min_ttl, 1);
}

#[test]
fn the_shipped_workflow_toml_says_exactly_what_the_sample_json_says() {
    let toml = compile_workflow(&repo().join("config/workflow.toml")).unwrap_or_else(|e| panic!("{e}"));
    let json = compile_workflow(&repo().join("tests/fixtures/configuration.json")).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(toml, json);
}

#[test]
fn json_errors_name_the_line_of_the_key() {
    let text = read(&repo().join("tests/fixtures/configuration.json"))
        .replace("\"URL_PULL\"", "\"SDI_IN\"")
        .replace("\"dash_profile\": \"NONE\"", "\"dash_profile\": \"NONE\", \"dash_colour\": 1");
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("configuration.json");
    std::fs::write(&path, &text).expect("write");
    let err = compile_workflow(&path).expect_err("invalid");
    let line_of = |needle: &str| text.lines().position(|l| l.contains(needle)).map(|i| i + 1).expect("present");
    let input_line = line_of("SDI_IN");
    let colour_line = line_of("dash_colour");
    assert!(
        err.contains(&format!("configuration.json:{input_line}:"))
            && err.contains("mediaLive.inputType: `SDI_IN` is not one of"),
        "{err}"
    );
    assert!(
        err.contains(&format!("configuration.json:{colour_line}:"))
            && err.contains("mediaPackage.dash_colour: unknown key"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------------
// Broken files: every problem, at once, with file:line:col and field.

const BROKEN_WORKFLOW: &str = r#"[mediaLive]
channelClass = "STANDARD"
inputType = "UDP_PUSH"
codec = "VP9"
inputCidr = "10.0.0.0/33"
encodingProfile = "HD-720p"
frameRate = 50
[mediaPackage]
hls_segment_duration_seconds = 0
[cloudFront]
price_class = "PriceClass_Cheap"
"#;

const EVENTS: &str = r#"[[event]]
id = "uses-broken"
workflow = "../config/broken.toml"

[[event]]
id = "push-no-cidr"
[event.mediaLive]
inputType = "RTP_PUSH"
inputCidr = ""

[[event]]
id = "one-url"
[event.mediaLive]
channelClass = "STANDARD"
secUrl = ""

[[event]]
id = "flowless"
[event.mediaLive]
inputType = "MEDIACONNECT"
channelClass = "SINGLE_PIPELINE"

[[event]]
id = "no-profile"
[event.mediaLive]
encodingProfile = "UHD-2160p"

[[event]]
id = "typos"
[event.mediaLive]
channelClas = "STANDARD"
inputType = "SDI"

[[event]]
id = "fine"
title = "A valid event among broken ones"
"#;

/// A config tree in a tempdir: the shipped workflow and profiles, plus the broken files.
fn broken_tree(events: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tmp");
    let config = dir.path().join("config");
    let schedules = dir.path().join("schedules");
    std::fs::create_dir_all(&config).expect("mkdir");
    std::fs::create_dir_all(&schedules).expect("mkdir");
    let profiles = repo().join("encoding-profiles");
    let ottd = format!(
        "[paths]\nstate = \"../state/ottd.db\"\nschedules = \"../schedules\"\nencoding_profiles = {}\n",
        toml_string(&profiles.display().to_string())
    );
    std::fs::write(config.join("ottd.toml"), ottd).expect("write");
    std::fs::copy(repo().join("config/workflow.toml"), config.join("workflow.toml")).expect("copy");
    std::fs::write(config.join("broken.toml"), BROKEN_WORKFLOW).expect("write");
    std::fs::write(schedules.join("events.toml"), events).expect("write");
    (dir, config.join("ottd.toml"))
}

fn toml_string(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

#[test]
fn a_broken_workflow_and_schedule_report_every_error_at_once() {
    let (_dir, cfg) = broken_tree(EVENTS);
    let err = Catalog::load(&cfg).expect_err("broken").to_string();
    let workflow_text = read(&repo().join("config/workflow.toml"));

    let at = |file: &str, text: &str, needle: &str| {
        let (l, c) = value_pos(text, needle);
        format!("{file}:{l}:{c}: ")
    };
    let expect = [
        // The broken workflow file, all of its problems.
        at("broken.toml", BROKEN_WORKFLOW, "codec = ") + "mediaLive.codec: `VP9` is not one of AVC, HEVC",
        at("broken.toml", BROKEN_WORKFLOW, "inputCidr = ") + "mediaLive.inputCidr: `10.0.0.0/33` is not an IPv4 CIDR",
        at("broken.toml", BROKEN_WORKFLOW, "frameRate = ") + "mediaLive.frameRate: unknown key",
        at("broken.toml", BROKEN_WORKFLOW, "hls_segment_duration_seconds = ")
            + "mediaPackage.hls_segment_duration_seconds: 0 is out of range 1..=30",
        at("broken.toml", BROKEN_WORKFLOW, "price_class = ")
            + "cloudFront.price_class: `PriceClass_Cheap` is not one of",
        // Event overrides, positioned in the schedule file.
        at("events.toml", EVENTS, "inputCidr = \"\"") + "mediaLive.inputCidr: push input RTP_PUSH needs inputCidr",
        at("events.toml", EVENTS, "secUrl = \"\"")
            + "mediaLive.secUrl: STANDARD channel with URL_PULL input needs a source URL for its second pipeline",
        at("events.toml", EVENTS, "UHD-2160p")
            + "mediaLive.encodingProfile: event `no-profile`: no encoding profile `UHD-2160p`",
        at("events.toml", EVENTS, "channelClas = ") + "mediaLive.channelClas: unknown key",
        at("events.toml", EVENTS, "inputType = \"SDI\"") + "mediaLive.inputType: `SDI` is not one of",
        // A rule broken by an override but about a key the event left alone: positioned at the
        // key in the workflow file.
        at("workflow.toml", &workflow_text, "priFlow = ")
            + "mediaLive.priFlow: MEDIACONNECT input needs a MediaConnect flow ARN",
    ];
    for e in &expect {
        assert!(err.contains(e.as_str()), "missing `{e}` in:\n{err}");
    }
    assert_eq!(err.lines().count(), expect.len(), "one line per problem, no noise:\n{err}");
    assert!(!err.contains("`fine`"), "{err}");
}

#[test]
fn schedule_file_errors_are_reported_together_across_files() {
    let dir = tempfile::tempdir().expect("tmp");
    let a = "[[event]]\nid = \"Bad_Id\"\n\n[[event]]\nid = \"ok-one\"\ncolour = \"red\"\n";
    let b = "[[event]]\ntitle = \"no id\"\n[event.mediaLive]\nencodingProfile = 1080\n\n[[event]]\nid = \"ok-two\"\nmediaLive = \"HD\"\n";
    std::fs::write(dir.path().join("a.toml"), a).expect("write");
    std::fs::write(dir.path().join("b.toml"), b).expect("write");
    std::fs::write(dir.path().join("notes.txt"), "not a schedule").expect("write");
    let err = ottd::schedule::file::load_dir(dir.path()).expect_err("broken").to_string();
    for e in [
        "a.toml:2:6: event[0].id: must be 1-24 characters",
        "a.toml:6:10: event[1].colour: unknown key",
        "b.toml:1:1: event[0].id: required key is missing",
        "b.toml:8:13: event[1].mediaLive: expected a table of mediaLive keys",
    ] {
        assert!(err.contains(e), "missing `{e}` in:\n{err}");
    }
}

#[test]
fn one_broken_file_does_not_hide_or_distort_the_problems_of_the_others() {
    // A broken profile must not make every event report "no encoding profile", and a broken
    // schedule file must not hide the problems of the events in the other files.
    let (dir, cfg) = broken_tree("[[event]]\nid = \"Bad_Id\"\n");
    let profiles = dir.path().join("profiles");
    std::fs::create_dir_all(&profiles).expect("mkdir");
    for f in ["hd-720p.toml", "hd-1080p.toml"] {
        std::fs::copy(repo().join("encoding-profiles").join(f), profiles.join(f)).expect("copy");
    }
    std::fs::write(profiles.join("uhd.toml"), "name = \"UHD\"\ncodec = \"AV1\"\n").expect("write");
    std::fs::write(
        &cfg,
        "[paths]\nstate = \"../state/ottd.db\"\nschedules = \"../schedules\"\nencoding_profiles = \"../profiles\"\n",
    )
    .expect("write");
    let other = "[[event]]\nid = \"final\"\n[event.mediaLive]\ncodec = \"MPEG2\"\n\n[[event]]\nid = \"good\"\n";
    std::fs::write(dir.path().join("schedules/other.toml"), other).expect("write");

    let err = Catalog::load(&cfg).expect_err("broken").to_string();
    for e in [
        "uhd.toml:2:9: codec: `AV1` is not one of AVC, HEVC",
        "uhd.toml:1:1: rendition: a profile needs at least one [[rendition]]",
        "events.toml:2:6: event[0].id: must be 1-24 characters",
        "other.toml:4:9: mediaLive.codec: `MPEG2` is not one of AVC, HEVC",
    ] {
        assert!(err.contains(e), "missing `{e}` in:\n{err}");
    }
    assert!(!err.contains("no encoding profile"), "{err}");
    assert_eq!(err.lines().count(), 4, "{err}");
}

#[test]
fn two_timed_events_on_one_input_device_in_overlapping_windows_are_an_error() {
    let start = chrono::Utc::now() + chrono::Duration::days(2);
    let event = |id: &str, offset_h: i64, link: &str| {
        let s = start + chrono::Duration::hours(offset_h);
        format!(
            "[[event]]\nid = \"{id}\"\nstart = \"{}\"\nend = \"{}\"\n[event.mediaLive]\ninputType = \"INPUT_DEVICE\"\nchannelClass = \"SINGLE_PIPELINE\"\npriLink = \"{link}\"\n",
            s.to_rfc3339(),
            (s + chrono::Duration::hours(2)).to_rfc3339()
        )
    };
    // Overlapping windows on the same device: an error naming both events.
    let text = format!("{}{}", event("semi-1", 0, "hd-abc123"), event("semi-2", 1, "hd-abc123"));
    let (_dir, config) = broken_tree(&text);
    let err = Catalog::load(&config).expect_err("conflict").to_string();
    assert!(err.contains("event `semi-2` and event `semi-1`") && err.contains("both use input `hd-abc123`"), "{err}");
    assert!(err.contains("events.toml:"), "{err}");
    // A day apart, or on different devices: fine.
    let text = format!(
        "{}{}{}",
        event("semi-1", 0, "hd-abc123"),
        event("semi-2", 24, "hd-abc123"),
        event("other", 1, "hd-xyz")
    );
    let (_dir, config) = broken_tree(&text);
    Catalog::load(&config).unwrap_or_else(|e| panic!("no conflict expected:\n{e}"));
}

#[test]
fn a_backup_inputs_mediaconnect_flow_counts_in_the_overlap_check() {
    let start = chrono::Utc::now() + chrono::Duration::days(2);
    let flow = |n: &str| format!("arn:aws:mediaconnect:us-east-1:123456789012:flow:1-abc:{n}");
    let event = |id: &str, offset_h: i64, primary: &str, backup: Option<&str>| {
        let s = start + chrono::Duration::hours(offset_h);
        let backup = backup.map(|b| format!("backupInput = true\nbackupPriFlow = \"{b}\"\n")).unwrap_or_default();
        format!(
            "[[event]]\nid = \"{id}\"\nstart = \"{}\"\nend = \"{}\"\n[event.mediaLive]\ninputType = \"MEDIACONNECT\"\nchannelClass = \"SINGLE_PIPELINE\"\npriFlow = \"{primary}\"\n{backup}",
            s.to_rfc3339(),
            (s + chrono::Duration::hours(2)).to_rfc3339()
        )
    };
    // semi-2's primary flow is semi-1's backup flow, in overlapping windows.
    let text = format!(
        "{}{}",
        event("semi-1", 0, &flow("main1"), Some(&flow("spare"))),
        event("semi-2", 1, &flow("spare"), None)
    );
    let (_dir, config) = broken_tree(&text);
    let err = Catalog::load(&config).expect_err("conflict").to_string();
    assert!(err.contains("event `semi-2` and event `semi-1`") && err.contains("spare"), "{err}");
}

#[test]
fn events_with_the_same_workflow_share_one_compiled_copy() {
    let events = r#"
[[event]]
id = "plain-a"
[[event]]
id = "plain-b"
[[event]]
id = "hd-a"
[event.mediaLive]
encodingProfile = "HD-1080p"
[[event]]
id = "hd-b"
[event.mediaLive]
encodingProfile = "HD-1080p"
[[event]]
id = "sd"
[event.mediaLive]
encodingProfile = "SD-540p"
"#;
    let (_dir, config) = broken_tree(events);
    let catalog = Catalog::load(&config).unwrap_or_else(|e| panic!("loads:\n{e}"));
    let wf = |id: &str| catalog.event(id).unwrap_or_else(|| panic!("event {id}")).workflow.clone();
    assert!(Arc::ptr_eq(&wf("plain-a"), &wf("plain-b")), "same file, no overrides");
    assert!(Arc::ptr_eq(&wf("hd-a"), &wf("hd-b")), "same overrides");
    assert!(!Arc::ptr_eq(&wf("hd-a"), &wf("sd")) && !Arc::ptr_eq(&wf("plain-a"), &wf("hd-a")));
    assert_eq!(wf("sd").media_live.encoding_profile, "SD-540p");
    assert_eq!(catalog.event("sd").map(|e| e.profile.name.as_str()), Some("SD-540p"));
}

/// Every ```toml block of the README that holds `[[event]]` tables, with its first line.
fn readme_schedule_examples() -> Vec<(usize, String)> {
    let readme = read(&repo().join("README.md"));
    let mut out = Vec::new();
    let mut block: Option<(usize, String)> = None;
    for (i, line) in readme.lines().enumerate() {
        match (&mut block, line.trim_start()) {
            (None, "```toml") => block = Some((i + 2, String::new())),
            (Some(_), "```") => {
                if let Some((at, text)) = block.take() {
                    if text.contains("[[event]]") {
                        out.push((at, text));
                    }
                }
            }
            (Some((_, text)), _) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

#[test]
fn the_readmes_schedule_examples_validate() {
    let examples = readme_schedule_examples();
    assert!(!examples.is_empty(), "the README shows no schedule");
    for (line, text) in examples {
        let src = Source::inline(&format!("README.md (block at line {line})"), &text);
        if let Err(e) = ottd::schedule::file::parse(&src) {
            panic!("the README's schedule example does not validate:\n{e}");
        }
    }
}

#[test]
fn validate_refuses_a_notify_entry_no_notifier_takes_at_its_position_with_a_did_you_mean() {
    let events = "[[event]]\nid = \"final\"\nnotify = [\"#live-ops\", \"discord:123456789012345678\"]\n";
    let (_dir, cfg) = broken_tree(events);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ottd"))
        .arg("--config")
        .arg(&cfg)
        .arg("validate")
        .output()
        .expect("run ottd validate");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "validate took it:\n{text}");
    assert!(
        text.contains(
            "events.toml:3:11: event[0].notify[0]: `#live-ops` is not a notify target: did you mean `slack:#live-ops`?"
        ),
        "{text}"
    );
    assert!(!text.contains("notify[1]"), "a Discord channel id is a target:\n{text}");
}

#[test]
fn a_switch_to_backup_policy_names_the_events_whose_channel_cannot_take_it() {
    let dir = tempfile::tempdir().expect("tmp");
    let (config, schedules) = (dir.path().join("config"), dir.path().join("schedules"));
    std::fs::create_dir_all(&config).expect("mkdir");
    std::fs::create_dir_all(&schedules).expect("mkdir");
    let profiles = repo().join("encoding-profiles");
    let ottd = format!(
        "[paths]\nstate = \"../state/ottd.db\"\nschedules = \"../schedules\"\nencoding_profiles = {}\n\
         [alerts.policy.\"Video Not Detected\"]\nremedy = \"switch-to-backup\"\nwait = \"5s\"\n",
        toml_string(&profiles.display().to_string())
    );
    std::fs::write(config.join("ottd.toml"), ottd).expect("write");
    std::fs::copy(repo().join("config/workflow.toml"), config.join("workflow.toml")).expect("copy");
    let event = |id: &str, ml: &str| {
        format!("[[event]]\nid = \"{id}\"\n[event.mediaLive]\nchannelClass = \"STANDARD\"\ninputType = \"RTP_PUSH\"\ninputCidr = \"203.0.113.0/24\"\n{ml}")
    };
    let events = [
        event("plain", ""),
        event("paired", "backupInput = true\n"),
        event("equal", "backupInput = true\nfailoverPreference = \"EQUAL_INPUT_PREFERENCE\"\n"),
    ]
    .concat();
    std::fs::write(schedules.join("events.toml"), events).expect("write");
    let cfg = config.join("ottd.toml");

    let catalog = Catalog::load(&cfg).expect("it loads: a warning, not an error");
    let warnings = catalog.warnings();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = &warnings[0];
    assert!(w.contains("[alerts.policy.\"Video Not Detected\"]") && w.contains("2 event(s)"), "{w}");
    assert!(
        w.contains("plain has no backup input") && w.contains("paired's inputs are a PRIMARY_INPUT_PREFERRED pair"),
        "{w}"
    );
    assert!(!w.contains("equal has") && !w.contains("equal's"), "{w}");
    // `ottd validate` says it too, and succeeds.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ottd"))
        .arg("--config")
        .arg(&cfg)
        .arg("validate")
        .output()
        .expect("run");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.contains("plain has no backup input"), "{text}");
}
