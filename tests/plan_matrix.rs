//! Every input type x channel class x shipped profile: the plan (resources, wiring, critical
//! path) and the AWS request bodies built from it (MediaLive encoder settings and input
//! specification, MediaPackage endpoints, CloudFront distribution). Pure: nothing is sent.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;

use aws_sdk_cloudfront::types as cf;
use aws_sdk_medialive::types as ml;
use aws_sdk_mediapackage::types as mp;
use proptest::prelude::*;

use ottd::aws::cloudfront::{self, DistributionInput};
use ottd::aws::{encoder, medialive, mediapackage};
use ottd::config::doc::{Node, Pos, Source};
use ottd::config::profile::{self, OutputCodec, Profile};
use ottd::config::reader::Ctx;
use ottd::config::workflow::{
    AdMarkers, ChannelClass, CloudFrontParams, Codec, InputType, MediaPackageParams, PeriodTrigger, PriceClass,
    Workflow,
};
use ottd::config::{Resolved, Settings};
use ottd::plan::{self, Kind, Packaging, Plan};
use ottd::schedule::EventSpec;
use ottd::secret::Redacted;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn settings() -> Settings {
    Settings::load(&repo().join("config/ottd.toml")).unwrap_or_else(|d| panic!("{d}"))
}

fn profiles() -> Vec<Arc<Profile>> {
    let all = profile::load_dir(&repo().join("encoding-profiles")).unwrap_or_else(|d| panic!("{d}"));
    all.into_iter().map(Arc::new).collect()
}

/// The knobs of one combination.
#[derive(Debug, Clone)]
struct Combo {
    input: InputType,
    class: ChannelClass,
    profile: usize,
    source_codec: Codec,
    stream_name: String,
    mss: bool,
    access_logs: bool,
}

impl Combo {
    fn new(input: InputType, class: ChannelClass, profile: usize) -> Combo {
        Combo {
            input,
            class,
            profile,
            source_codec: Codec::Avc,
            stream_name: "live".into(),
            mss: false,
            access_logs: true,
        }
    }
}

/// A workflow text as an operator would write it; every source key is set, whatever the
/// input type, so each combination exercises the parser's per-type rules.
fn workflow_text(c: &Combo, profile_name: &str) -> String {
    format!(
        r#"[mediaLive]
inputType = "{input}"
channelClass = "{class}"
codec = "{codec}"
encodingProfile = "{profile_name}"
streamName = "{stream}"
inputCidr = "203.0.113.0/24"
priUrl = "https://example.com/a/index.m3u8"
secUrl = "https://example.com/b/index.m3u8"
priLink = "hd-0123456789abcdef01234567"
secLink = "hd-76543210fedcba9876543210"
priFlow = "arn:aws:mediaconnect:us-east-1:111122223333:flow:1-pri:pri"
secFlow = "arn:aws:mediaconnect:us-east-1:111122223333:flow:1-sec:sec"
[mediaPackage]
mss_enabled = {mss}
[cloudFront]
access_logs = {logs}
"#,
        input = c.input,
        class = c.class,
        codec = c.source_codec,
        stream = c.stream_name,
        mss = c.mss,
        logs = c.access_logs,
    )
}

fn compile(text: &str) -> Workflow {
    let src = Source::inline("matrix.toml", text);
    let root = src.parse().unwrap_or_else(|d| panic!("{d}"));
    let ctx = Ctx::new(&src);
    let wf = Workflow::compile(&ctx, &root);
    let diags = ctx.into_diags();
    match wf {
        Some(w) if diags.is_empty() => w,
        _ => panic!("{diags}\n{text}"),
    }
}

fn resolved(id: &str, workflow: Workflow, profile: Arc<Profile>) -> Resolved {
    let spec = EventSpec {
        id: id.to_string(),
        title: id.to_string(),
        file: Arc::new(PathBuf::from("matrix.toml")),
        pos: Pos::default(),
        workflow: None,
        overrides: Node::table(Pos::default()),
        enabled: true,
        notify: Vec::new(),
        timing: None,
    };
    Resolved { spec, workflow: Arc::new(workflow), profile }
}

const NONCE: &str = "0a1b2c3d";

fn build(c: &Combo, event: &str, nonce: &str, settings: &Settings, profiles: &[Arc<Profile>]) -> Plan {
    let p = profiles[c.profile].clone();
    let wf = compile(&workflow_text(c, &p.name));
    Plan::build(&resolved(event, wf, p), settings, nonce)
}

/// Everything a plan must satisfy for its combination.
fn check_plan(plan: &Plan, c: &Combo, event: &str, nonce: &str) {
    let keys: Vec<&str> = plan.resources.iter().map(|r| r.key.as_str()).collect();
    let set: HashSet<&str> = keys.iter().copied().collect();
    assert_eq!(set.len(), keys.len(), "resource keys are unique: {keys:?}");
    let mut want: HashSet<String> =
        [plan::SECRET, plan::PACKAGE_CHANNEL, plan::DISTRIBUTION, plan::INPUT, plan::CHANNEL]
            .iter()
            .map(|s| s.to_string())
            .collect();
    for p in [Packaging::Hls, Packaging::Dash, Packaging::Cmaf] {
        want.insert(plan::endpoint_key(p));
    }
    if c.mss {
        want.insert(plan::endpoint_key(Packaging::Mss));
    }
    if c.access_logs {
        want.insert(plan::LOG_BUCKET.to_string());
    }
    if c.input.is_push() {
        want.insert(plan::SECURITY_GROUP.to_string());
    }
    let got: HashSet<String> = keys.iter().map(|k| k.to_string()).collect();
    assert_eq!(got, want, "{c:?}");

    // Dependencies name resources of the plan, and the graph has no cycle (Kahn).
    for r in &plan.resources {
        for d in &r.depends_on {
            assert!(set.contains(d.as_str()), "{} depends on unknown {d}", r.key);
        }
    }
    let mut done: HashSet<&str> = HashSet::new();
    while done.len() < plan.resources.len() {
        let ready: Vec<&str> = plan
            .resources
            .iter()
            .filter(|r| !done.contains(r.key.as_str()) && r.depends_on.iter().all(|d| done.contains(d.as_str())))
            .map(|r| r.key.as_str())
            .collect();
        assert!(!ready.is_empty(), "dependency cycle among {:?}", plan.resources);
        done.extend(ready);
    }
    let deps = |key: &str| -> Vec<&str> {
        plan.resource(key).map(|r| r.depends_on.iter().map(String::as_str).collect()).unwrap_or_default()
    };
    assert!(deps(plan::CHANNEL).contains(&plan::INPUT) && deps(plan::CHANNEL).contains(&plan::PACKAGE_CHANNEL));
    assert!(deps(plan::DISTRIBUTION).contains(&plan::endpoint_key(Packaging::Hls).as_str()));
    assert_eq!(deps(plan::DISTRIBUTION).contains(&plan::LOG_BUCKET), c.access_logs);
    assert_eq!(deps(plan::INPUT).contains(&plan::SECURITY_GROUP), c.input.is_push());

    // Names: deterministic, carry prefix, event and nonce; endpoint ids distinct.
    let base = format!("ottd-{event}-{nonce}");
    for r in &plan.resources {
        match r.kind {
            Kind::Secret => assert_eq!(r.name, format!("ottd/{event}/{nonce}/cdn-identifier")),
            _ => assert!(r.name.starts_with(&base), "{} = {}", r.key, r.name),
        }
    }
    let endpoint_names: HashSet<&str> =
        plan.resources.iter().filter(|r| r.kind == Kind::Endpoint).map(|r| r.name.as_str()).collect();
    assert_eq!(endpoint_names.len(), if c.mss { 4 } else { 3 });
    assert_eq!(
        plan.resource(plan::INPUT).map(|r| r.name.clone()),
        Some(format!("{base}-{}", c.input.as_str().to_ascii_lowercase().replace('_', "-")))
    );
    for t in [plan::TAG_EVENT, plan::TAG_MANAGED_BY, plan::TAG_DEPLOYMENT] {
        assert!(plan.tags.iter().any(|(k, _)| k == t), "tag {t}");
    }
    assert!(plan.tags.contains(&("Project".into(), "live-ott".into())));

    // Input wiring: one entry per pipeline, in the field of its input type.
    let n = match c.class {
        ChannelClass::Standard => 2,
        ChannelClass::SinglePipeline => 1,
    };
    let w = &plan.input;
    let counts = (w.sources.len(), w.destinations.len(), w.devices.len(), w.flows.len());
    let expected = match c.input {
        InputType::RtmpPull | InputType::UrlPull | InputType::Mp4File | InputType::TsFile => (n, 0, 0, 0),
        InputType::UdpPush | InputType::RtpPush | InputType::RtmpPush => (0, n, 0, 0),
        InputType::InputDevice => (0, 0, n, 0),
        InputType::MediaConnect => (0, 0, 0, n),
    };
    assert_eq!(counts, expected, "{c:?}");
    assert_eq!(w.needs_security_group, c.input.is_push());
    assert_eq!(w.needs_role, c.input == InputType::MediaConnect);
    assert_eq!(w.source_end_behavior, c.input.is_pull());
    match c.input {
        InputType::RtmpPush => {
            let name = c.stream_name.trim_matches('/');
            let all = [format!("{name}/primary"), format!("{name}/secondary")];
            assert_eq!(w.destinations, all[..n]);
        }
        InputType::UdpPush | InputType::RtpPush => {
            assert!(w.destinations.iter().all(String::is_empty))
        }
        InputType::UrlPull | InputType::RtmpPull | InputType::Mp4File | InputType::TsFile => {
            assert!(w.sources[0].ends_with("/a/index.m3u8"));
            if n == 2 {
                assert!(w.sources[1].ends_with("/b/index.m3u8"));
            }
        }
        InputType::InputDevice => assert!(w.devices[0].starts_with("hd-0123")),
        InputType::MediaConnect => assert!(w.flows.iter().all(|f| f.starts_with("arn:aws:mediaconnect:"))),
    }

    // secret -> package channel -> HLS endpoint -> distribution is the longest chain (1 + 1 +
    // 1 + 1); the MediaLive side (security group, input, channel create + describe) and the
    // log bucket (create + configure) fit beside it.
    assert_eq!(plan.critical_path(), 4, "{c:?}");
}

#[test]
fn every_input_type_channel_class_and_profile_plans_correctly() {
    let settings = settings();
    let profiles = profiles();
    assert_eq!(profiles.len(), 5);
    let mut combos = 0;
    for &input in InputType::all() {
        for &class in ChannelClass::all() {
            for i in 0..profiles.len() {
                let c = Combo::new(input, class, i);
                let plan = build(&c, "final", NONCE, &settings, &profiles);
                check_plan(&plan, &c, "final", NONCE);
                assert_eq!(plan.profile_name, profiles[i].name);
                assert_eq!(plan.workflow.media_live.channel_class, class);
                combos += 1;
            }
        }
    }
    assert_eq!(combos, 9 * 2 * 5);
}

#[test]
fn rtmp_push_destinations_follow_the_stream_name() {
    let settings = settings();
    let profiles = profiles();
    let mut c = Combo::new(InputType::RtmpPush, ChannelClass::Standard, 0);
    let plan = build(&c, "final", NONCE, &settings, &profiles);
    assert_eq!(plan.input.destinations, ["live/primary", "live/secondary"]);
    c.class = ChannelClass::SinglePipeline;
    c.stream_name = "/studio-a/".into();
    let plan = build(&c, "final", NONCE, &settings, &profiles);
    assert_eq!(plan.input.destinations, ["studio-a/primary"]);
}

/// The combination's workflow with a backup input (and, for MEDIACONNECT, its own flows).
fn backup_text(c: &Combo, profile_name: &str, loss: Option<i64>) -> String {
    let mut text = workflow_text(c, profile_name).replacen(
        "[mediaPackage]",
        "backupInput = true\nbackupPriFlow = \"arn:aws:mediaconnect:us-east-1:111122223333:flow:2-pri:bpri\"\n[mediaPackage]",
        1,
    );
    if c.class == ChannelClass::Standard {
        text = text.replacen(
            "[mediaPackage]",
            "backupSecFlow = \"arn:aws:mediaconnect:us-east-1:111122223333:flow:2-sec:bsec\"\n[mediaPackage]",
            1,
        );
    }
    if let Some(ms) = loss {
        text = text.replacen("[mediaPackage]", &format!("failoverLossMs = {ms}\n[mediaPackage]"), 1);
    }
    if c.input != InputType::MediaConnect {
        // Only MEDIACONNECT takes backup flows; the other pairs have no backup source keys.
        text = text
            .lines()
            .filter(|l| !l.starts_with("backup") || l.starts_with("backupInput"))
            .collect::<Vec<_>>()
            .join("\n");
    }
    text
}

#[test]
fn a_backup_input_is_planned_beside_the_primary_and_paired_on_the_channel() {
    let settings = settings();
    let profiles = profiles();
    let pairable = [InputType::RtpPush, InputType::RtmpPush, InputType::MediaConnect];
    for &input in InputType::all() {
        assert_eq!(input.can_fail_over(), pairable.contains(&input), "{input}");
    }
    for input in pairable {
        for &class in ChannelClass::all() {
            let c = Combo::new(input, class, 0);
            let p = profiles[0].clone();
            let loss = (class == ChannelClass::Standard).then_some(250);
            let wf = compile(&backup_text(&c, &p.name, loss));
            assert!(wf.media_live.backup_input);
            assert_eq!(wf.media_live.failover_loss_ms, loss.unwrap_or(1000) as i32);
            let plan = Plan::build(&resolved("final", wf, p.clone()), &settings, NONCE);

            // The backup input: a second Input row, named after the primary, same deps.
            let primary = plan.resource(plan::INPUT).expect("primary input");
            let backup = plan.resource(plan::BACKUP_INPUT).expect("backup input");
            assert_eq!(backup.kind, Kind::Input);
            assert_eq!(backup.name, format!("{}-backup", primary.name));
            assert_eq!(backup.depends_on, primary.depends_on, "{c:?}");
            let channel = plan.resource(plan::CHANNEL).expect("channel");
            for dep in [plan::INPUT, plan::BACKUP_INPUT, plan::PACKAGE_CHANNEL] {
                assert!(channel.depends_on.iter().any(|d| d == dep), "channel waits for {dep}: {c:?}");
            }
            assert_eq!(plan.critical_path(), 4, "the backup is made beside the primary: {c:?}");

            // Its wiring: the primary's shape, one entry per pipeline; its own flows.
            let w = plan.backup.as_ref().expect("backup wiring");
            let n = class.pipelines();
            assert_eq!(w.needs_security_group, plan.input.needs_security_group);
            match input {
                InputType::MediaConnect => {
                    assert_eq!(w.flows.len(), n);
                    assert!(w.flows.iter().all(|f| f.contains(":flow:2-")), "{:?}", w.flows);
                    assert!(w.flows.iter().all(|f| !plan.input.flows.contains(f)));
                }
                _ => assert_eq!(w.destinations, plan.input.destinations),
            }

            // The channel's InputAttachments: the primary, paired with the backup, then the backup.
            let req = medialive::ChannelRequest {
                name: &channel.name,
                workflow: &plan.workflow,
                profile: &plan.profile,
                wiring: &plan.input,
                input_id: "1111111",
                input_name: &primary.name,
                failover: Some(medialive::Failover {
                    input_id: "2222222",
                    input_name: &backup.name,
                    loss_ms: plan.workflow.media_live.failover_loss_ms,
                    equal: plan.workflow.media_live.failover_equal,
                }),
                package_channel_id: "pkg",
                role_arn: "arn:aws:iam::111122223333:role/ml",
                request_id: "req",
            };
            let atts = medialive::input_attachments(&req);
            assert_eq!(atts.len(), 2);
            assert_eq!(atts[0].input_id(), Some("1111111"));
            assert_eq!(atts[1].input_id(), Some("2222222"));
            assert_eq!(atts[1].input_attachment_name(), Some(backup.name.as_str()));
            assert!(atts[1].automatic_input_failover_settings().is_none());
            let f = atts[0].automatic_input_failover_settings().expect("failover on the primary");
            assert_eq!(f.secondary_input_id(), Some("2222222"));
            assert_eq!(f.input_preference(), Some(&ml::InputPreference::PrimaryInputPreferred));
            let conds = f.failover_conditions();
            assert_eq!(conds.len(), 1);
            let lossy = conds[0].failover_condition_settings().and_then(|s| s.input_loss_settings());
            assert_eq!(lossy.and_then(|l| l.input_loss_threshold_msec()), Some(loss.unwrap_or(1000) as i32));
            for a in &atts {
                assert!(a.input_settings().is_some_and(|s| !s.audio_selectors().is_empty()));
            }
        }
    }
}

#[test]
fn without_a_backup_the_channel_has_one_attachment_and_no_failover() {
    let settings = settings();
    let profiles = profiles();
    let c = Combo::new(InputType::RtpPush, ChannelClass::Standard, 0);
    let plan = build(&c, "final", NONCE, &settings, &profiles);
    assert!(plan.resource(plan::BACKUP_INPUT).is_none() && plan.backup.is_none());
    let req = medialive::ChannelRequest {
        name: "ch",
        workflow: &plan.workflow,
        profile: &plan.profile,
        wiring: &plan.input,
        input_id: "1111111",
        input_name: "in",
        failover: None,
        package_channel_id: "pkg",
        role_arn: "arn:aws:iam::111122223333:role/ml",
        request_id: "req",
    };
    let atts = medialive::input_attachments(&req);
    assert_eq!(atts.len(), 1);
    assert!(atts[0].automatic_input_failover_settings().is_none());
}

// ---------------------------------------------------------------------------------------------
// MediaLive: encoder settings and input specification per profile.

fn enabled(on: bool) -> &'static str {
    if on {
        "ENABLED"
    } else {
        "DISABLED"
    }
}

fn check_encoder(p: &Profile) {
    let es = encoder::encoder_settings(p);
    let at = &p.name;
    let vds = es.video_descriptions();
    assert_eq!(vds.len(), p.renditions.len(), "{at}: one video description per rendition");
    for (vd, r) in vds.iter().zip(&p.renditions) {
        assert_eq!(vd.name(), Some(encoder::video_description_name(r).as_str()));
        assert_eq!((vd.width(), vd.height()), (Some(r.width), Some(r.height)), "{at}");
        let cs = vd.codec_settings().expect("codec settings");
        match p.codec {
            OutputCodec::Avc => {
                assert!(cs.h265_settings().is_none(), "{at}");
                let h = cs.h264_settings().expect("H.264 for an AVC profile");
                assert_eq!((h.bitrate(), h.max_bitrate()), (Some(r.bitrate), Some(r.max_bitrate)), "{at}");
                assert_eq!(h.buf_size(), Some(2 * r.bitrate), "{at}: buffer = 2 x bitrate");
                assert_eq!(h.rate_control_mode().map(|m| m.as_str()), Some("QVBR"));
                assert_eq!(h.qvbr_quality_level(), Some(r.qvbr_quality), "{at}");
                assert_eq!(h.profile().map(|v| v.as_str()), Some(r.profile.as_str()), "{at}");
                assert_eq!(h.entropy_encoding().map(|v| v.as_str()), Some(r.entropy.as_str()), "{at}");
                assert_eq!(h.gop_num_b_frames(), Some(r.b_frames), "{at}");
                assert_eq!(h.gop_b_reference().map(|v| v.as_str()), Some(enabled(r.b_reference)));
                assert_eq!(h.subgop_length().map(|v| v.as_str()), Some(r.sub_gop.as_str()), "{at}");
                assert_eq!(h.scene_change_detect().map(|v| v.as_str()), Some(enabled(r.scene_change_detect)));
                assert_eq!(h.num_ref_frames(), Some(5), "{at}");
                assert_eq!(
                    (h.framerate_numerator(), h.framerate_denominator()),
                    (Some(r.framerate_num), Some(r.framerate_den))
                );
                assert_eq!(h.gop_size(), Some(2.0), "{at}");
                assert_eq!(h.gop_size_units().map(|v| v.as_str()), Some("SECONDS"));
                assert_eq!(h.gop_closed_cadence(), Some(1));
                assert_eq!(h.level().map(|v| v.as_str()), Some("H264_LEVEL_AUTO"));
                assert_eq!(h.look_ahead_rate_control().map(|v| v.as_str()), Some("HIGH"));
            }
            OutputCodec::Hevc => {
                assert!(cs.h264_settings().is_none(), "{at}");
                let h = cs.h265_settings().expect("H.265 for an HEVC profile");
                assert_eq!((h.bitrate(), h.max_bitrate()), (Some(r.bitrate), Some(r.max_bitrate)), "{at}");
                assert_eq!(h.buf_size(), Some(2 * r.bitrate), "{at}");
                assert_eq!(h.rate_control_mode().map(|m| m.as_str()), Some("QVBR"));
                assert_eq!(h.qvbr_quality_level(), Some(r.qvbr_quality), "{at}");
                assert_eq!(h.profile().map(|v| v.as_str()), Some(r.profile.as_str()), "{at}");
                assert_eq!(h.tier().map(|v| v.as_str()), Some("MAIN"), "{at}");
                assert_eq!(h.gop_num_b_frames(), Some(r.b_frames), "{at}");
                assert_eq!(h.subgop_length().map(|v| v.as_str()), Some(r.sub_gop.as_str()), "{at}");
                assert_eq!(
                    (h.framerate_numerator(), h.framerate_denominator()),
                    (Some(r.framerate_num), Some(r.framerate_den))
                );
                assert_eq!(h.gop_size(), Some(2.0), "{at}");
                assert_eq!(h.level().map(|v| v.as_str()), Some("H265_LEVEL_AUTO"));
            }
        }
    }

    // One AAC description, pointing at the selector the input attachment defines.
    let ads = es.audio_descriptions();
    assert_eq!(ads.len(), 1, "{at}");
    let selector = encoder::audio_selector();
    assert!(selector.name().is_some());
    assert_eq!(ads[0].audio_selector_name(), selector.name(), "{at}: the audio selector must exist");
    let aac = ads[0].codec_settings().and_then(|c| c.aac_settings()).expect("AAC");
    assert_eq!((aac.bitrate(), aac.sample_rate()), (Some(96_000.0), Some(48_000.0)));
    assert_eq!(aac.coding_mode().map(|m| m.as_str()), Some("CODING_MODE_2_0"));

    // One MediaPackage output group, one output per rendition, audio on the top one only.
    let groups = es.output_groups();
    assert_eq!(groups.len(), 1, "{at}");
    let dest = groups[0]
        .output_group_settings()
        .and_then(|s| s.media_package_group_settings())
        .and_then(|m| m.destination())
        .and_then(|d| d.destination_ref_id());
    assert_eq!(dest, Some(encoder::DESTINATION_ID));
    let outputs = groups[0].outputs();
    assert_eq!(outputs.len(), p.renditions.len());
    let names: HashSet<&str> = outputs.iter().filter_map(|o| o.output_name()).collect();
    assert_eq!(names.len(), outputs.len(), "{at}: output names are unique");
    let vd_names: HashSet<&str> = vds.iter().filter_map(|v| v.name()).collect();
    let ad_names: HashSet<&str> = ads.iter().filter_map(|a| a.name()).collect();
    let top = p.top().expect("top");
    for (o, r) in outputs.iter().zip(&p.renditions) {
        assert_eq!(o.output_name(), Some(format!("_{}x{}", r.width, r.height).as_str()), "{at}");
        assert!(o.video_description_name().is_some_and(|v| vd_names.contains(v)), "{at}");
        assert!(o.audio_description_names().iter().all(|a| ad_names.contains(a.as_str())));
        assert_eq!(!o.audio_description_names().is_empty(), r.name == top.name, "{at} {}", r.name);
    }
    assert!(!names.iter().any(|n| n.contains("764x432")), "the sample's misnamed output is not copied");

    assert_eq!(es.timecode_config().and_then(|t| t.source()).map(|s| s.as_str()), Some("EMBEDDED"));
    let splice = es
        .avail_configuration()
        .and_then(|a| a.avail_settings())
        .and_then(|s| s.scte35_splice_insert())
        .expect("SCTE-35 splice insert");
    assert_eq!(splice.web_delivery_allowed_flag().map(|f| f.as_str()), Some("FOLLOW"));
    assert_eq!(splice.no_regional_blackout_flag().map(|f| f.as_str()), Some("FOLLOW"));
}

#[test]
fn encoder_settings_follow_each_shipped_ladder() {
    for p in profiles() {
        check_encoder(&p);
    }
}

#[test]
fn input_specification_takes_the_source_codec_from_the_workflow_and_the_rest_from_the_profile() {
    let want = [
        ("HD-1080p", "HD", "MAX_20_MBPS"),
        ("HD-720p", "HD", "MAX_10_MBPS"),
        ("SD-540p", "SD", "MAX_10_MBPS"),
        ("HEVC-1080p", "HD", "MAX_20_MBPS"),
        ("HEVC-720p", "HD", "MAX_10_MBPS"),
    ];
    let profiles = profiles();
    for (name, res, max) in want {
        let p = profiles.iter().find(|p| p.name == name).expect("shipped");
        for codec in [Codec::Avc, Codec::Hevc] {
            let spec = encoder::input_specification(codec, p);
            assert_eq!(spec.codec().map(|c| c.as_str()), Some(codec.as_str()), "{name}");
            assert_eq!(spec.resolution().map(|r| r.as_str()), Some(res), "{name}");
            assert_eq!(spec.maximum_bitrate().map(|m| m.as_str()), Some(max), "{name}");
        }
    }
    // The source codec is independent of the output codec.
    let hevc = profiles.iter().find(|p| p.name == "HEVC-720p").expect("shipped");
    let spec = encoder::input_specification(Codec::Avc, hevc);
    assert!(matches!(spec.codec(), Some(ml::InputCodec::Avc)));
}

// ---------------------------------------------------------------------------------------------
// MediaPackage endpoints.

const AD_TRIGGERS: usize = 8;

fn check_endpoints(m: &MediaPackageParams, endpoint_id: &str) {
    let hls = mediapackage::endpoint_spec(Packaging::Hls, endpoint_id, m);
    assert!(hls.dash.is_none() && hls.cmaf.is_none() && hls.mss.is_none());
    let h = hls.hls.expect("HLS package");
    assert_eq!(h.ad_markers().map(|a| a.as_str()), Some(m.ad_markers.as_str()));
    assert_eq!(h.ad_triggers().len(), AD_TRIGGERS);
    assert!(h.ad_triggers().contains(&mp::AdTriggersElement::SpliceInsert));
    assert_eq!(h.segment_duration_seconds(), Some(m.hls_segment_duration_seconds));
    assert_eq!(h.playlist_window_seconds(), Some(m.hls_playlist_window_seconds));
    assert_eq!(h.program_date_time_interval_seconds(), Some(m.hls_program_date_interval));
    assert_eq!(h.include_iframe_only_stream(), Some(m.hls_include_i_frame));
    assert_eq!(h.use_audio_rendition_group(), Some(m.hls_audio_rendition_group));
    check_selection(h.stream_selection(), &m.hls_stream);

    let dash = mediapackage::endpoint_spec(Packaging::Dash, endpoint_id, m);
    assert!(dash.hls.is_none() && dash.cmaf.is_none() && dash.mss.is_none());
    let d = dash.dash.expect("DASH package");
    assert_eq!(d.segment_duration_seconds(), Some(m.dash_segment_duration_seconds));
    assert_eq!(d.min_update_period_seconds(), Some(m.dash_segment_duration_seconds), "MinUpdatePeriod = segment");
    assert_eq!(d.min_buffer_time_seconds(), Some(10));
    assert_eq!(d.manifest_window_seconds(), Some(m.dash_manifest_window_seconds));
    assert_eq!(d.segment_template_format().map(|f| f.as_str()), Some(m.dash_segment_template.as_str()));
    assert_eq!(d.profile().map(|p| p.as_str()), Some(m.dash_profile.as_str()));
    assert_eq!(d.ad_triggers().len(), AD_TRIGGERS);
    // `ADS` is the one trigger MediaPackage knows; no period triggers is an empty list.
    let triggers: Vec<&str> = d.period_triggers().iter().map(|t| t.as_str()).collect();
    match m.dash_period_triggers {
        PeriodTrigger::Ads => assert_eq!(triggers, ["ADS"]),
        PeriodTrigger::None => assert!(triggers.is_empty(), "{triggers:?}"),
    }
    assert!(d.period_triggers().iter().all(|t| mp::PeriodTriggersElement::values().contains(&t.as_str())));
    check_selection(d.stream_selection(), &m.dash_stream);

    let cmaf = mediapackage::endpoint_spec(Packaging::Cmaf, endpoint_id, m);
    assert!(cmaf.hls.is_none() && cmaf.dash.is_none() && cmaf.mss.is_none());
    let c = cmaf.cmaf.expect("CMAF package");
    assert_eq!(c.segment_duration_seconds(), Some(m.cmaf_segment_duration_seconds));
    assert_eq!(c.segment_prefix(), Some("cmaf"));
    check_selection(c.stream_selection(), &m.cmaf_stream);
    let manifests = c.hls_manifests();
    assert_eq!(manifests.len(), 1);
    let hm = &manifests[0];
    assert_eq!(hm.id(), Some(endpoint_id));
    assert_eq!(hm.manifest_name(), Some("index"));
    assert_eq!(hm.playlist_window_seconds(), Some(m.cmaf_playlist_window_seconds));
    assert_eq!(hm.include_iframe_only_stream(), Some(m.cmaf_include_i_frame));
    assert_eq!(hm.program_date_time_interval_seconds(), Some(m.cmaf_program_date_interval));
    assert_eq!(hm.ad_markers().map(|a| a.as_str()), Some(m.ad_markers.as_str()));
    assert_eq!(hm.ad_triggers().len(), AD_TRIGGERS);

    let mss = mediapackage::endpoint_spec(Packaging::Mss, endpoint_id, m);
    assert!(mss.hls.is_none() && mss.dash.is_none() && mss.cmaf.is_none());
    let s = mss.mss.expect("MSS package");
    assert_eq!(s.segment_duration_seconds(), Some(m.mss_segment_duration_seconds));
    assert_eq!(s.manifest_window_seconds(), Some(m.mss_manifest_window_seconds));
    check_selection(s.stream_selection(), &m.mss_stream);
}

fn check_selection(got: Option<&mp::StreamSelection>, want: &ottd::config::workflow::StreamSelection) {
    let got = got.expect("stream selection");
    assert_eq!(got.max_video_bits_per_second(), Some(want.max_video_bits_per_second));
    assert_eq!(got.min_video_bits_per_second(), Some(want.min_video_bits_per_second));
    assert_eq!(got.stream_order().map(|o| o.as_str()), Some(want.stream_order.as_str()));
}

#[test]
fn endpoints_map_the_shipped_defaults_as_the_sample_does() {
    let settings = settings();
    let profiles = profiles();
    let plan = build(&Combo::new(InputType::UrlPull, ChannelClass::Standard, 0), "final", NONCE, &settings, &profiles);
    let m = &plan.workflow.media_package;
    let id = plan.names.endpoint(Packaging::Cmaf);
    check_endpoints(m, &id);
    let d = mediapackage::endpoint_spec(Packaging::Dash, &id, m).dash.expect("dash");
    assert_eq!(
        (d.segment_duration_seconds(), d.min_update_period_seconds(), d.min_buffer_time_seconds()),
        (Some(2), Some(2), Some(10))
    );
    let h = mediapackage::endpoint_spec(Packaging::Hls, &id, m).hls.expect("hls");
    assert_eq!(h.ad_markers(), Some(&mp::AdMarkers::Passthrough));
    assert_eq!(h.segment_duration_seconds(), Some(4));
}

// ---------------------------------------------------------------------------------------------
// CloudFront.

fn check_distribution(params: &CloudFrontParams, log_bucket: Option<&str>) {
    let secret = Redacted::new("cdn-identifier-value-for-tests".into());
    let input = DistributionInput {
        caller_reference: "ottd-final-0a1b2c3d",
        comment: "ottd event final",
        origin_host: "abc123.mediapackage.us-east-1.amazonaws.com",
        cdn_identifier: &secret,
        log_bucket,
        params,
    };
    let d = cloudfront::distribution_config(&input).expect("a complete DistributionConfig");
    assert!(d.enabled());
    assert_eq!(d.caller_reference(), "ottd-final-0a1b2c3d");

    let origins = d.origins().expect("origins");
    assert_eq!((origins.quantity(), origins.items().len()), (1, 1));
    let o = &origins.items()[0];
    assert_eq!(o.domain_name(), input.origin_host);
    assert_eq!(o.origin_path().unwrap_or(""), "");
    let headers = o.custom_headers().expect("custom headers");
    assert_eq!(headers.quantity() as usize, headers.items().len());
    let h = headers.items().iter().find(|h| h.header_name() == "X-MediaPackage-CDNIdentifier").expect("CDN header");
    assert_eq!(h.header_value(), secret.expose());
    let co = o.custom_origin_config().expect("custom origin");
    assert_eq!(co.origin_protocol_policy(), &cf::OriginProtocolPolicy::HttpsOnly);
    let tls = co.origin_ssl_protocols().expect("TLS versions");
    assert_eq!(tls.items(), [cf::SslProtocol::TlSv12]);
    assert_eq!((o.connection_attempts(), o.connection_timeout()), (Some(2), Some(5)));

    let def = d.default_cache_behavior().expect("default behavior");
    assert_eq!(def.target_origin_id(), o.id());
    assert_eq!(def.viewer_protocol_policy(), &cf::ViewerProtocolPolicy::RedirectToHttps);

    let behaviors = d.cache_behaviors().expect("behaviors");
    assert_eq!((behaviors.quantity(), behaviors.items().len()), (4, 4));
    let patterns: HashSet<&str> = behaviors.items().iter().map(|b| b.path_pattern()).collect();
    assert_eq!(patterns, HashSet::from(["*.m3u8", "*.ts", "*.mpd", "*.mp4"]));
    for b in behaviors.items() {
        assert_eq!(b.target_origin_id(), o.id());
        assert_eq!(b.viewer_protocol_policy(), &cf::ViewerProtocolPolicy::RedirectToHttps, "{}", b.path_pattern());
        assert_eq!(b.compress(), Some(true));
        let methods = b.allowed_methods().expect("methods");
        assert_eq!(methods.items(), [cf::Method::Get, cf::Method::Head]);
    }

    let errors = d.custom_error_responses().expect("error responses");
    assert_eq!(errors.quantity() as usize, errors.items().len());
    let codes: Vec<i32> = errors.items().iter().map(|e| e.error_code()).collect();
    assert_eq!(codes, [400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504]);
    for e in errors.items() {
        assert_eq!(e.error_caching_min_ttl(), Some(params.error_caching_min_ttl), "{}", e.error_code());
    }

    let logging = d.logging().expect("logging");
    match log_bucket {
        Some(b) => {
            assert!(logging.enabled());
            assert_eq!(logging.bucket(), format!("{b}.s3.amazonaws.com"));
            assert_eq!(logging.prefix(), "distribution-access-logs/");
        }
        None => assert!(!logging.enabled()),
    }
    assert_eq!(d.price_class().map(|p| p.as_str()), Some(params.price_class.as_str()));
    assert_eq!(d.http_version(), Some(&cf::HttpVersion::Http2));
    assert_eq!(d.is_ipv6_enabled(), Some(true));
}

#[test]
fn distribution_follows_the_shipped_cloudfront_section() {
    let settings = settings();
    let profiles = profiles();
    let plan = build(&Combo::new(InputType::UrlPull, ChannelClass::Standard, 0), "final", NONCE, &settings, &profiles);
    let cfp = &plan.workflow.cloud_front;
    assert_eq!(cfp.error_caching_min_ttl, 1);
    let bucket = plan.resource(plan::LOG_BUCKET).map(|r| r.name.clone()).expect("access logs are on by default");
    check_distribution(cfp, Some(&bucket));
    check_distribution(cfp, None);
}

// ---------------------------------------------------------------------------------------------
// Any valid combination.

fn any_input() -> impl Strategy<Value = InputType> {
    prop::sample::select(InputType::all().to_vec())
}

fn any_class() -> impl Strategy<Value = ChannelClass> {
    prop::sample::select(ChannelClass::all().to_vec())
}

fn any_combo() -> impl Strategy<Value = Combo> {
    (
        any_input(),
        any_class(),
        0usize..5,
        prop::sample::select(Codec::all().to_vec()),
        "[a-z][a-z0-9_-]{0,15}",
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(input, class, profile, source_codec, stream_name, mss, access_logs)| Combo {
            input,
            class,
            profile,
            source_codec,
            stream_name,
            mss,
            access_logs,
        })
}

/// A `[mediaPackage]` section with every key drawn from its valid range.
fn any_media_package() -> impl Strategy<Value = String> {
    let ad = prop::sample::select(AdMarkers::ALL.to_vec());
    let trig = prop::sample::select(PeriodTrigger::ALL.to_vec());
    let tmpl = prop::sample::select(ottd::config::workflow::SegmentTemplate::ALL.to_vec());
    let prof = prop::sample::select(ottd::config::workflow::DashProfile::ALL.to_vec());
    let order = prop::sample::select(ottd::config::workflow::StreamOrder::ALL.to_vec());
    let seg = 1i64..=30;
    let window = 1i64..=5400;
    let pdt = 0i64..=3600;
    (
        (ad, trig, tmpl, prof, order.clone()),
        (seg.clone(), seg.clone(), seg.clone(), seg),
        (window.clone(), window.clone(), window.clone(), window),
        (pdt.clone(), pdt, any::<bool>(), any::<bool>(), any::<bool>()),
        (0i64..=i32::MAX as i64, 0i64..=i32::MAX as i64, order),
    )
        .prop_map(|((ad, trig, tmpl, prof, order), (hs, ds, cs, ms), (hw, dw, cw, mw), (hp, cp, hi, ci, arg), (a, b, order2))| {
            let (min, max) = (a.min(b), a.max(b));
            let mut s = format!(
                "[mediaPackage]\nad_markers = \"{ad}\"\ndash_period_triggers = \"{trig}\"\n\
                 dash_segment_template = \"{tmpl}\"\ndash_profile = \"{prof}\"\n\
                 hls_segment_duration_seconds = {hs}\ndash_segment_duration_seconds = {ds}\n\
                 cmaf_segment_duration_seconds = {cs}\nmss_segment_duration_seconds = {ms}\n\
                 hls_playlist_window_seconds = {hw}\ndash_manifest_window_seconds = {dw}\n\
                 cmaf_playlist_window_seconds = {cw}\nmss_manifest_window_seconds = {mw}\n\
                 hls_program_date_interval = {hp}\ncmaf_program_date_interval = {cp}\n\
                 hls_include_I_frame = {hi}\ncmaf_include_I_frame = {ci}\nhls_audio_rendition_group = {arg}\n"
            );
            for (i, p) in ["hls", "dash", "cmaf", "mss"].iter().enumerate() {
                let o = if i % 2 == 0 { order } else { order2 };
                s.push_str(&format!(
                    "{p}_max_video_bits_per_second = {max}\n{p}_min_video_bits_per_second = {min}\n{p}_stream_order = \"{o}\"\n"
                ));
            }
            s
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn any_valid_combination_plans_and_encodes(
        c in any_combo(),
        event in "[a-z][a-z0-9-]{0,10}[a-z0-9]",
        nonce in "[0-9a-f]{8}",
    ) {
        let settings = settings();
        let profiles = profiles();
        let plan = build(&c, &event, &nonce, &settings, &profiles);
        check_plan(&plan, &c, &event, &nonce);
        let p = &plan.profile;
        let spec = encoder::input_specification(plan.workflow.media_live.codec, p);
        prop_assert_eq!(spec.codec().map(|x| x.as_str()), Some(c.source_codec.as_str()));
        check_encoder(p);
    }

    #[test]
    fn any_valid_media_package_section_maps_onto_the_endpoints(section in any_media_package()) {
        let text = format!("[mediaLive]\npriUrl = \"https://example.com/a.m3u8\"\nsecUrl = \"https://example.com/b.m3u8\"\n{section}");
        let wf = compile(&text);
        check_endpoints(&wf.media_package, "ottd-final-0a1b2c3d-cmaf");
    }

    #[test]
    fn any_cloudfront_section_maps_onto_the_distribution(
        ttl in 0i64..=31_536_000,
        price in prop::sample::select(PriceClass::ALL.to_vec()),
        logs in any::<bool>(),
    ) {
        let text = format!(
            "[mediaLive]\npriUrl = \"https://example.com/a.m3u8\"\nsecUrl = \"https://example.com/b.m3u8\"\n\
             [cloudFront]\nerror_caching_min_ttl = {ttl}\nprice_class = \"{price}\"\naccess_logs = {logs}\n"
        );
        let wf = compile(&text);
        prop_assert_eq!(wf.cloud_front.error_caching_min_ttl, ttl);
        let bucket = logs.then_some("ottd-final-0a1b2c3d-cf-logs");
        check_distribution(&wf.cloud_front, bucket);
    }
}
