//! The workflow engine against the AWS emulator, through the real SDK: what deploy creates and
//! with which settings, idempotency, resume after a crash at every step, and that teardown
//! leaves nothing behind.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use ottd::aws::Aws;
use ottd::engine::{Engine, EngineError, FaultPoint, Faults};
use ottd::lifecycle::{Phase, Status};
use ottd::plan::Kind;

use common::{census, setup, tag_is, Census, Lines, Proxy, Setup};

const EVENTS: &str = r#"
[[event]]
id = "full"
title = "Full ladder, every endpoint"
[event.mediaLive]
channelClass = "STANDARD"
inputType = "URL_PULL"
encodingProfile = "HD-1080p"
codec = "HEVC"
priUrl = "https://example.com/a/index.m3u8"
secUrl = "https://example.com/b/index.m3u8"
sourceEndBehavior = "CONTINUE"
[event.mediaPackage]
mss_enabled = true
hls_segment_duration_seconds = 6
dash_segment_duration_seconds = 4

[[event]]
id = "rtmp"
[event.mediaLive]
inputType = "RTMP_PUSH"
channelClass = "STANDARD"
inputCidr = "203.0.113.0/24"
streamName = "live"

[[event]]
id = "udp"
[event.mediaLive]
inputType = "UDP_PUSH"
channelClass = "SINGLE_PIPELINE"
inputCidr = "198.51.100.0/24"
encodingProfile = "SD-540p"
[event.cloudFront]
access_logs = false
"#;

fn nothing() -> Census {
    Census::default()
}

async fn engine(s: &Setup) -> Engine {
    s.engine(Arc::new(Lines::default())).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploy_creates_every_resource_with_the_workflow_settings() {
    let s = setup(EVENTS);
    let engine = engine(&s).await;
    let cat = s.catalog();
    let ev = cat.event("full").expect("event").clone();
    let summary = engine.deploy(&ev).await.expect("deploy");
    assert_eq!(summary.created, 10, "secret, package channel, 4 endpoints, bucket, distribution, input, channel");
    let aws = &engine.aws;
    let rows = engine.store.resources("full").expect("rows");
    let row = |k: &str| rows.iter().find(|r| r.key == k).cloned().unwrap_or_else(|| panic!("no row {k}"));

    // Secret: the CDN identifier MediaPackage checks.
    let secret = row("secret");
    let value = aws.secrets.get_secret_value().secret_id(&secret.name).send().await.expect("secret");
    let json: serde_json::Value = serde_json::from_str(value.secret_string().unwrap_or_default()).expect("json");
    let cdn_id = json["MediaPackageCDNIdentifier"].as_str().expect("identifier").to_string();
    assert_eq!(cdn_id.len(), 32);

    // Endpoints: every packaging, CDN authorization, parameters mapped.
    let role = engine.mediapackage_role().expect("role");
    for key in ["endpoint-hls", "endpoint-dash", "endpoint-cmaf", "endpoint-mss"] {
        let ep = aws.mediapackage.describe_origin_endpoint().id(row(key).name).send().await.expect(key);
        let auth = ep.authorization().expect("authorization");
        assert_eq!(auth.cdn_identifier_secret(), secret.arn.as_deref());
        assert_eq!(auth.secrets_role_arn(), Some(role.as_str()));
        assert_eq!(ep.channel_id(), Some(row("package-channel").name.as_str()));
    }
    let hls = aws.mediapackage.describe_origin_endpoint().id(row("endpoint-hls").name).send().await.expect("hls");
    let pkg = hls.hls_package().expect("hls package");
    assert_eq!(pkg.segment_duration_seconds(), Some(6));
    assert_eq!(pkg.playlist_window_seconds(), Some(60));
    assert_eq!(pkg.use_audio_rendition_group(), Some(true));
    assert_eq!(pkg.ad_markers().map(|a| a.as_str()), Some("PASSTHROUGH"));
    let dash = aws.mediapackage.describe_origin_endpoint().id(row("endpoint-dash").name).send().await.expect("dash");
    let dp = dash.dash_package().expect("dash package");
    assert_eq!((dp.segment_duration_seconds(), dp.min_update_period_seconds()), (Some(4), Some(4)));
    assert_eq!(dp.min_buffer_time_seconds(), Some(10));
    let cmaf = row("endpoint-cmaf");
    assert!(
        cmaf.attr("url").is_some_and(|u| u.ends_with("/index.m3u8")),
        "CMAF link is its HLS manifest: {:?}",
        cmaf.attrs
    );

    // CloudFront: MediaPackage origin with the CDN header, media behaviors, errors, logs.
    let dist = row("distribution");
    let cfg =
        aws.cloudfront.get_distribution_config().id(dist.aws_id.clone().expect("id")).send().await.expect("config");
    let cfg = cfg.distribution_config().expect("config");
    let origin = &cfg.origins().expect("origins").items()[0];
    let hls_url = row("endpoint-hls").attr("url").expect("url").to_string();
    assert_eq!(Some(origin.domain_name()), ottd::engine::deploy::url_host(&hls_url));
    let header = &origin.custom_headers().expect("headers").items()[0];
    assert_eq!((header.header_name(), header.header_value()), ("X-MediaPackage-CDNIdentifier", cdn_id.as_str()));
    assert_eq!(origin.custom_origin_config().map(|c| c.origin_protocol_policy().as_str()), Some("https-only"));
    let patterns: Vec<&str> =
        cfg.cache_behaviors().expect("behaviors").items().iter().map(|b| b.path_pattern()).collect();
    assert_eq!(patterns, ["*.m3u8", "*.mpd", "*.ts", "*.mp4"]);
    let errors = cfg.custom_error_responses().expect("errors").items();
    assert_eq!(errors.len(), 11);
    assert!(errors.iter().all(|e| e.error_caching_min_ttl() == Some(1)));
    assert_eq!(cfg.default_cache_behavior().map(|b| b.viewer_protocol_policy().as_str()), Some("redirect-to-https"));
    let logging = cfg.logging().expect("logging");
    assert!(logging.enabled());
    assert_eq!(logging.bucket(), format!("{}.s3.amazonaws.com", row("log-bucket").name));

    // Log bucket: encrypted, public access blocked, object-writer ownership.
    let bucket = row("log-bucket").name;
    let pab = aws.s3.get_public_access_block().bucket(&bucket).send().await.expect("public access block");
    assert_eq!(pab.public_access_block_configuration().and_then(|c| c.block_public_acls()), Some(true));
    let own = aws.s3.get_bucket_ownership_controls().bucket(&bucket).send().await.expect("ownership");
    assert_eq!(own.ownership_controls().map(|o| o.rules()[0].object_ownership().as_str()), Some("ObjectWriter"));
    aws.s3.get_bucket_encryption().bucket(&bucket).send().await.expect("encryption");

    // MediaLive: input with two sources, channel wired to it and to MediaPackage.
    let input =
        aws.medialive.describe_input().input_id(row("input").aws_id.expect("input id")).send().await.expect("input");
    assert_eq!(input.r#type().map(|t| t.as_str()), Some("URL_PULL"));
    assert_eq!(input.sources().len(), 2);
    let ch = aws
        .medialive
        .describe_channel()
        .channel_id(row("channel").aws_id.expect("channel id"))
        .send()
        .await
        .expect("channel");
    assert_eq!(ch.channel_class().map(|c| c.as_str()), Some("STANDARD"));
    assert_eq!(ch.state().map(|s| s.as_str()), Some("IDLE"));
    let spec = ch.input_specification().expect("input spec");
    assert_eq!(spec.codec().map(|c| c.as_str()), Some("HEVC"), "the source codec from the workflow");
    assert_eq!(spec.maximum_bitrate().map(|c| c.as_str()), Some("MAX_20_MBPS"));
    let att = &ch.input_attachments()[0];
    assert_eq!(att.input_id(), input.id());
    let settings = att.input_settings().expect("input settings");
    assert_eq!(settings.source_end_behavior().map(|b| b.as_str()), Some("CONTINUE"));
    let selectors: Vec<_> = settings.audio_selectors().iter().map(|a| a.name()).collect();
    let enc = ch.encoder_settings().expect("encoder settings");
    assert_eq!(enc.video_descriptions().len(), 6);
    for a in enc.audio_descriptions() {
        assert!(
            selectors.contains(&a.audio_selector_name()),
            "audio selector {:?} is defined",
            a.audio_selector_name()
        );
    }
    let dest = &ch.destinations()[0];
    assert_eq!(dest.media_package_settings()[0].channel_id(), Some(row("package-channel").name.as_str()));
    assert!(tag_is(ch.tags(), "ottd:managed-by", "ottd") && tag_is(ch.tags(), "ottd:event", "full"));
    assert!(tag_is(ch.tags(), "Project", "tests"));

    // Links: endpoint paths on the CloudFront domain.
    let links = engine.links("full").expect("links");
    assert_eq!(links.playback.iter().map(|p| p.format).collect::<Vec<_>>(), ["HLS", "DASH", "CMAF", "MSS"]);
    let domain = dist.attr("domain").expect("domain");
    assert!(links.playback.iter().all(|p| p.url.starts_with(&format!("https://{domain}/"))));
    assert_eq!(
        census(aws, "full").await,
        Census {
            channels: 1,
            inputs: 1,
            security_groups: 0,
            package_channels: 1,
            endpoints: 4,
            distributions: 1,
            buckets: 1,
            secrets: 1
        }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deploying_twice_creates_nothing_new() {
    let s = setup(EVENTS);
    let engine = engine(&s).await;
    let ev = s.catalog().event("udp").expect("event").clone();
    let first = engine.deploy(&ev).await.expect("deploy");
    let before = census(&engine.aws, "udp").await;
    let second = engine.deploy(&ev).await.expect("deploy again");
    assert_eq!(second.created, 0);
    assert_eq!(second.nonce, first.nonce);
    assert_eq!(census(&engine.aws, "udp").await, before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn push_inputs_get_a_security_group_and_ingest_destinations() {
    let s = setup(EVENTS);
    let engine = engine(&s).await;
    let cat = s.catalog();
    for (event, pipelines, cidr) in [("rtmp", 2, "203.0.113.0/24"), ("udp", 1, "198.51.100.0/24")] {
        engine.deploy(cat.event(event).expect("event")).await.expect("deploy");
        let rows = engine.store.resources(event).expect("rows");
        let sg_id = rows.iter().find(|r| r.key == "input-security-group").and_then(|r| r.aws_id.clone()).expect("sg");
        let sg = engine
            .aws
            .medialive
            .describe_input_security_group()
            .input_security_group_id(&sg_id)
            .send()
            .await
            .expect("sg");
        assert_eq!(sg.whitelist_rules()[0].cidr(), Some(cidr));
        let input_id = rows.iter().find(|r| r.key == "input").and_then(|r| r.aws_id.clone()).expect("input");
        let input = engine.aws.medialive.describe_input().input_id(&input_id).send().await.expect("input");
        assert_eq!(input.security_groups(), std::slice::from_ref(&sg_id));
        let status = engine.status(event, false).await.expect("status");
        assert_eq!(status.ingest.len(), pipelines, "{event}: {:?}", status.ingest);
        if event == "rtmp" {
            assert!(status.ingest[0].ends_with("/live/primary") && status.ingest[1].ends_with("/live/secondary"));
        }
        assert_eq!(engine.links(event).expect("links").ingest, status.ingest);
        engine.teardown(event).await.expect("teardown");
        assert_eq!(census(&engine.aws, event).await, nothing());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_input_is_created_paired_for_failover_and_torn_down() {
    let s = setup(
        r#"
[[event]]
id = "pair"
[event.mediaLive]
inputType = "RTP_PUSH"
channelClass = "STANDARD"
inputCidr = "203.0.113.0/24"
backupInput = true
failoverLossMs = 500
[event.cloudFront]
access_logs = false
"#,
    );
    let engine = engine(&s).await;
    let ev = s.catalog().event("pair").expect("event").clone();
    let summary = engine.deploy(&ev).await.expect("deploy");
    assert_eq!(summary.created, 10, "secret, package channel, 3 endpoints, distribution, sg, 2 inputs, channel");
    let rows = engine.store.resources("pair").expect("rows");
    let row = |k: &str| rows.iter().find(|r| r.key == k).cloned().unwrap_or_else(|| panic!("no row {k}"));
    let (primary, backup) = (row("input"), row("input-backup"));
    assert_eq!(backup.name, format!("{}-backup", primary.name));
    let sg = row("input-security-group").aws_id.expect("sg");
    let ml = &engine.aws.medialive;
    for r in [&primary, &backup] {
        let i = ml.describe_input().input_id(r.aws_id.clone().expect("id")).send().await.expect("input");
        assert_eq!(i.r#type().map(|t| t.as_str()), Some("RTP_PUSH"));
        assert_eq!(i.name(), Some(r.name.as_str()));
        assert_eq!(i.security_groups(), std::slice::from_ref(&sg), "one security group serves the pair");
        assert!(tag_is(i.tags(), "ottd:event", "pair"));
    }
    let ch =
        ml.describe_channel().channel_id(row("channel").aws_id.expect("channel id")).send().await.expect("channel");
    let atts = ch.input_attachments();
    assert_eq!(atts.len(), 2);
    assert_eq!(atts[0].input_id(), primary.aws_id.as_deref());
    assert_eq!(atts[1].input_id(), backup.aws_id.as_deref());
    let f = atts[0].automatic_input_failover_settings().expect("failover settings on the primary");
    assert_eq!(f.secondary_input_id(), backup.aws_id.as_deref());
    assert_eq!(f.input_preference().map(|p| p.as_str()), Some("PRIMARY_INPUT_PREFERRED"));
    let loss = f.failover_conditions()[0].failover_condition_settings().and_then(|c| c.input_loss_settings());
    assert_eq!(loss.and_then(|l| l.input_loss_threshold_msec()), Some(500));
    assert_eq!(census(&engine.aws, "pair").await.inputs, 2);
    // Where the encoders push: the primary's destinations and the backup's, both listed.
    let st = engine.status("pair", false).await.expect("status");
    assert_eq!((st.ingest.len(), st.backup_ingest.len()), (2, 2), "{st:?}");

    // Teardown handles the backup as any input row: after the channel, before the group.
    let t = engine.teardown("pair").await.expect("teardown");
    assert_eq!(t.deleted, 10);
    assert_eq!(census(&engine.aws, "pair").await, nothing());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_lifecycle_ends_with_nothing_left() {
    let s = setup(EVENTS);
    let engine = engine(&s).await;
    let ev = s.catalog().event("full").expect("event").clone();
    engine.deploy(&ev).await.expect("deploy");
    engine.start("full").await.expect("start");
    let st = engine.status("full", true).await.expect("status");
    assert_eq!((st.phase, st.channel_state.as_deref()), (Phase::Running, Some("RUNNING")));
    engine.start("full").await.expect("starting a running channel is a no-op");
    engine.stop("full").await.expect("stop");
    let st = engine.status("full", true).await.expect("status");
    assert_eq!((st.phase, st.channel_state.as_deref()), (Phase::Stopped, Some("IDLE")));
    engine.start("full").await.expect("start again");
    // Teardown of a running channel stops it first.
    let t = engine.teardown("full").await.expect("teardown");
    assert!(!t.pending);
    assert_eq!(t.deleted, 10);
    assert_eq!(census(&engine.aws, "full").await, nothing());
    assert_eq!(engine.store.deployment("full").expect("q").map(|d| d.phase), Some(Phase::TornDown));
    assert!(matches!(engine.start("full").await, Err(EngineError::NotDeployed(_))));
    let again = engine.teardown("full").await.expect("teardown again");
    assert_eq!(again.deleted, 0);
    // A redeploy after teardown is a fresh deployment with new names.
    let redo = engine.deploy(&ev).await.expect("redeploy");
    assert_eq!(redo.created, 10);
}

/// Fails once at one point, as if the process died there.
struct FailAt {
    point: &'static str,
    key: String,
}

impl Faults for FailAt {
    fn check(&self, p: FaultPoint<'_>) -> ottd::engine::Result<()> {
        let (point, key) = match p {
            FaultPoint::BeforeCreate(k) => ("before-create", k),
            FaultPoint::AfterCreate(k) => ("after-create", k),
            FaultPoint::BeforeDelete(k) => ("before-delete", k),
            FaultPoint::AfterDelete(k) => ("after-delete", k),
        };
        if point == self.point && key == self.key {
            return Err(EngineError::Injected(format!("{point} {key}")));
        }
        Ok(())
    }
}

const DEPLOY_KEYS: &[&str] = &[
    "secret",
    "package-channel",
    "endpoint-hls",
    "log-bucket",
    "distribution",
    "input-security-group",
    "input",
    "channel",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_killed_at_any_step_resumes_without_orphans_or_duplicates() {
    let s = setup(EVENTS);
    let engine = engine(&s).await;
    let ev = s.catalog().event("rtmp").expect("event").clone();
    let full = Census {
        channels: 1,
        inputs: 1,
        security_groups: 1,
        package_channels: 1,
        endpoints: 3,
        distributions: 1,
        buckets: 1,
        secrets: 1,
    };
    for point in ["before-create", "after-create"] {
        for key in DEPLOY_KEYS {
            let faulty = s
                .engine(Arc::new(Lines::default()))
                .await
                .with_faults(Arc::new(FailAt { point, key: key.to_string() }));
            match faulty.deploy(&ev).await {
                Err(EngineError::Injected(_)) => {}
                other => panic!("{point} {key}: expected the injected fault, got {other:?}"),
            }
            let resumed = engine.deploy(&ev).await.unwrap_or_else(|e| panic!("{point} {key}: resume failed: {e}"));
            assert!(resumed.created >= 1, "{point} {key}: the resumed deploy finished the job");
            assert_eq!(census(&engine.aws, "rtmp").await, full, "{point} {key}: exactly one of each");
            engine.teardown("rtmp").await.unwrap_or_else(|e| panic!("{point} {key}: teardown: {e}"));
            assert_eq!(census(&engine.aws, "rtmp").await, nothing(), "{point} {key}: teardown left something");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teardown_killed_at_any_step_resumes_and_leaves_nothing() {
    let s = setup(EVENTS);
    let engine = engine(&s).await;
    let ev = s.catalog().event("rtmp").expect("event").clone();
    for point in ["before-delete", "after-delete"] {
        for key in DEPLOY_KEYS {
            engine.deploy(&ev).await.expect("deploy");
            engine.start("rtmp").await.expect("start");
            let faulty = s
                .engine(Arc::new(Lines::default()))
                .await
                .with_faults(Arc::new(FailAt { point, key: key.to_string() }));
            match faulty.teardown("rtmp").await {
                Err(EngineError::Injected(_)) => {}
                other => panic!("{point} {key}: expected the injected fault, got {other:?}"),
            }
            assert_eq!(engine.store.deployment("rtmp").expect("q").map(|d| d.phase), Some(Phase::TearingDown));
            assert!(
                matches!(engine.deploy(&ev).await, Err(EngineError::TearingDown { .. })),
                "no redeploy over a half-done teardown"
            );
            engine.teardown("rtmp").await.unwrap_or_else(|e| panic!("{point} {key}: resume: {e}"));
            assert_eq!(census(&engine.aws, "rtmp").await, nothing(), "{point} {key}: teardown left something");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teardown_tolerates_a_deploy_that_never_finished() {
    let s = setup(EVENTS);
    let engine = engine(&s).await;
    let ev = s.catalog().event("full").expect("event").clone();
    for key in ["endpoint-hls", "distribution", "channel"] {
        let faulty = s
            .engine(Arc::new(Lines::default()))
            .await
            .with_faults(Arc::new(FailAt { point: "after-create", key: key.into() }));
        assert!(faulty.deploy(&ev).await.is_err());
        let t = engine.teardown("full").await.unwrap_or_else(|e| panic!("after {key}: {e}"));
        assert!(!t.pending);
        assert_eq!(census(&engine.aws, "full").await, nothing(), "after a deploy cut at {key}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teardown_waiting_for_cloudfront_says_so_and_the_next_one_finishes() {
    let s = setup(EVENTS);
    // Wait one second for CloudFront, not ten: the emulator holds the disable anyway.
    let config = std::fs::read_to_string(&s.config).expect("read config");
    let held = config.replace("distribution_wait = \"10s\"", "distribution_wait = \"1s\"");
    assert_ne!(config, held, "the test config sets distribution_wait");
    std::fs::write(&s.config, held).expect("write config");
    let engine = engine(&s).await;
    let ev = s.catalog().event("udp").expect("event").clone();
    engine.deploy(&ev).await.expect("deploy");

    s.emu.hold_cloudfront();
    let t = engine.teardown("udp").await.expect("teardown");
    assert!(t.pending, "CloudFront is still disabling the distribution");
    let left = census(&engine.aws, "udp").await;
    assert_eq!(left, Census { distributions: 1, ..nothing() }, "everything else is gone");
    let d = engine.store.deployment("udp").expect("q").expect("row");
    assert_eq!(d.phase, Phase::TearingDown);
    assert!(d.last_error.is_some_and(|e| e.contains("waiting for CloudFront")));
    let row = engine.store.resources("udp").expect("q").into_iter().find(|r| r.kind == Kind::Distribution);
    assert_eq!(row.map(|r| r.status), Some(Status::Disabling));

    // The command says so with exit status 3, and changes nothing.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_ottd"))
        .args(["teardown", "udp"])
        .envs(s.env())
        .output()
        .expect("run ottd teardown");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(3), "{text}");
    assert!(text.contains("disabling"), "{text}");
    assert_eq!(census(&engine.aws, "udp").await, left);

    s.emu.settle_cloudfront();
    let t = engine.teardown("udp").await.expect("teardown again");
    assert!(!t.pending);
    assert_eq!(census(&engine.aws, "udp").await, nothing());
    assert_eq!(engine.store.deployment("udp").expect("q").map(|d| d.phase), Some(Phase::TornDown));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_aws_errors_are_retried_and_create_nothing_twice() {
    let mut s = setup(EVENTS);
    // 503 to the first creates of the MediaLive channel (twice), the MediaPackage channel and
    // the distribution: the SDK's standard retry (engine.max_attempts = 5) gets through. The
    // input security group's create is not retried by the SDK (it has no idempotency token):
    // its adapter finds no group by tag after the 503 and creates it again.
    let proxy = Proxy::start(
        &s.emu.url,
        &[
            "^POST /prod/channels$=2",
            "^POST /channels$=1",
            r"^POST /2020-05-31/distribution\?WithTags$=1",
            "^POST /prod/inputSecurityGroups$=1",
        ],
    );
    s.endpoint = proxy.url.clone();
    let engine = engine(&s).await;
    let ev = s.catalog().event("udp").expect("event").clone();
    engine.deploy(&ev).await.expect("the deploy gets through transient 503s");
    let log = proxy.log();
    assert_eq!(log.matches("delay_proxy: 503 for").count(), 5, "every rule fired:\n{log}");
    let expected = Census {
        channels: 1,
        inputs: 1,
        security_groups: 1,
        package_channels: 1,
        endpoints: 3,
        distributions: 1,
        buckets: 0,
        secrets: 1,
    };
    assert_eq!(census(&engine.aws, "udp").await, expected, "exactly one of each");
    engine.teardown("udp").await.expect("teardown");
    assert_eq!(census(&engine.aws, "udp").await, nothing());
}

/// The creates of a deploy of `rtmp` (one resource of every kind), as the proxy keys their
/// requests (see `tests/emulator/delay_proxy.py`), with how many matching requests a rule
/// loses: one per resource the operation creates or configures.
const CREATES: &[(&str, &str, usize)] = &[
    ("CreateSecret", r"^POST / secretsmanager\.CreateSecret$", 1),
    ("MediaPackage CreateChannel", r"^POST /channels$", 1),
    ("CreateOriginEndpoint, each of 3", r"^POST /origin_endpoints$", 3),
    ("CreateBucket", r"^PUT /[^/?]+-cf-logs/$", 1),
    ("PutBucket*, each of 5", r"^PUT /[^/?]+-cf-logs/\?", 5),
    ("CreateDistributionWithTags", r"^POST /2020-05-31/distribution\?WithTags$", 1),
    ("CreateInputSecurityGroup", r"^POST /prod/inputSecurityGroups$", 1),
    ("CreateInput", r"^POST /prod/inputs$", 1),
    ("MediaLive CreateChannel", r"^POST /prod/channels$", 1),
];

/// What AWS holds for one event, by kind: each resource by the identifier the state file
/// keeps for it (its id; for the secret, its ARN), sorted.
async fn live(aws: &Aws, event: &str) -> BTreeMap<Kind, Vec<String>> {
    let prefix = format!("ottd-{event}-");
    let ours = |tags| tag_is(tags, "ottd:event", event);
    let mut found: Vec<(Kind, Option<&str>)> = Vec::new();
    let chans = aws.medialive.list_channels().send().await.expect("list channels");
    let gone = |s: Option<&str>| matches!(s, Some("DELETED" | "DELETING"));
    for ch in chans.channels().iter().filter(|ch| ours(ch.tags()) && !gone(ch.state().map(|s| s.as_str()))) {
        found.push((Kind::Channel, ch.id()));
    }
    let inputs = aws.medialive.list_inputs().send().await.expect("list inputs");
    for i in inputs.inputs().iter().filter(|i| ours(i.tags()) && !gone(i.state().map(|s| s.as_str()))) {
        found.push((Kind::Input, i.id()));
    }
    let sgs = aws.medialive.list_input_security_groups().send().await.expect("list security groups");
    for g in sgs.input_security_groups().iter().filter(|g| ours(g.tags())) {
        found.push((Kind::SecurityGroup, g.id()));
    }
    let mp = aws.mediapackage.list_channels().send().await.expect("list package channels");
    for ch in mp.channels().iter().filter(|ch| ch.id().is_some_and(|i| i.starts_with(&prefix))) {
        found.push((Kind::PackageChannel, ch.id()));
    }
    let eps = aws.mediapackage.list_origin_endpoints().send().await.expect("list endpoints");
    for e in eps.origin_endpoints().iter().filter(|e| e.id().is_some_and(|i| i.starts_with(&prefix))) {
        found.push((Kind::Endpoint, e.id()));
    }
    let dists = aws.cloudfront.list_distributions().send().await.expect("list distributions");
    for d in dists.distribution_list().map(|l| l.items()).unwrap_or_default() {
        if d.comment().starts_with(&format!("ottd {event} ")) {
            found.push((Kind::Distribution, Some(d.id())));
        }
    }
    let buckets = aws.s3.list_buckets().send().await.expect("list buckets");
    for b in buckets.buckets().iter().filter(|b| b.name().is_some_and(|n| n.starts_with(&prefix))) {
        found.push((Kind::LogBucket, b.name()));
    }
    let secrets = aws.secrets.list_secrets().send().await.expect("list secrets");
    let secret_prefix = format!("ottd/{event}/");
    for s in secrets.secret_list().iter().filter(|s| s.name().is_some_and(|n| n.starts_with(&secret_prefix))) {
        found.push((Kind::Secret, s.arn()));
    }
    let mut by_kind: BTreeMap<Kind, Vec<String>> = BTreeMap::new();
    for (kind, id) in found {
        by_kind.entry(kind).or_default().push(id.unwrap_or("(no id)").to_string());
    }
    by_kind.values_mut().for_each(|ids| ids.sort());
    by_kind
}

/// Deploy `rtmp` through a proxy that loses the answer to the first `times` requests matching
/// `rule`: with the SDK's standard retry (`sdk_retries`), or with a single attempt, so the
/// lost answer fails the deploy and the next deploy resumes from the state file. Either way
/// AWS must end up holding exactly what the state file records, one of each, by real id.
async fn deploy_losing(op: &'static str, rule: &'static str, times: usize, sdk_retries: bool) {
    let mut s = setup(EVENTS);
    if !sdk_retries {
        let config = std::fs::read_to_string(&s.config).expect("read config");
        let once = config.replace("[engine]\n", "[engine]\nmax_attempts = 1\n");
        assert_ne!(config, once, "the test config has an [engine] table");
        std::fs::write(&s.config, once).expect("write config");
    }
    let proxy = Proxy::start_args(&s.emu.url, &["--lose", &format!("{rule}={times}")]);
    s.endpoint = proxy.url.clone();
    let engine = engine(&s).await;
    let ev = s.catalog().event("rtmp").expect("event").clone();
    let first = engine.deploy(&ev).await;
    // The proxy logs a lost answer before it closes the connection the SDK waits on.
    let log = proxy.log();
    assert_eq!(log.matches("delay_proxy: lost the answer").count(), times, "{op}: the rule fired:\n{log}");
    match (first, sdk_retries) {
        (Ok(_), true) => {}
        (Ok(_), false) => panic!("{op}: with one attempt, a lost answer fails the deploy"),
        (Err(e), _) => {
            eprintln!("{op}: the first deploy failed ({e}); deploying again");
            engine.deploy(&ev).await.unwrap_or_else(|e| panic!("{op}: the next deploy failed: {e}"));
        }
    }
    let deployment = engine.store.deployment("rtmp").expect("deployment").expect("a deployment");
    assert_eq!(deployment.phase, Phase::Deployed, "{op}");
    let rows = engine.store.resources("rtmp").expect("rows");
    let unfinished: Vec<_> = rows.iter().filter(|r| r.status != Status::Created).map(|r| &r.key).collect();
    assert!(unfinished.is_empty(), "{op}: not recorded as created: {unfinished:?}");
    assert_eq!(
        rows.len(),
        10,
        "{op}: secret, package channel, 3 endpoints, bucket, distribution, group, input, channel"
    );
    let mut recorded: BTreeMap<Kind, Vec<String>> = BTreeMap::new();
    for r in &rows {
        let id = if r.kind == Kind::Secret { r.arn.clone() } else { r.aws_id.clone() };
        recorded.entry(r.kind).or_default().push(id.unwrap_or_else(|| panic!("{op}: {} has no id", r.key)));
    }
    recorded.values_mut().for_each(|ids| ids.sort());
    assert_eq!(live(&engine.aws, "rtmp").await, recorded, "{op}: AWS (left) holds what the state file (right) records");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_whose_answer_is_lost_is_not_made_twice() {
    let started = Instant::now();
    let mut failures = Vec::new();
    for &(op, rule, times) in CREATES {
        for sdk_retries in [true, false] {
            let how = if sdk_retries { "retried by the SDK" } else { "resumed by the next deploy" };
            let case = Instant::now();
            // Every case runs to the end, so one run says which creates are made twice.
            if let Err(e) = tokio::spawn(deploy_losing(op, rule, times, sdk_retries)).await {
                let panic = e.into_panic();
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|m| m.to_string()));
                failures.push(format!("{op}, {how}: {}", msg.unwrap_or_default()));
            }
            eprintln!("  {op}, {how}: {:.1}s", case.elapsed().as_secs_f64());
        }
    }
    eprintln!("{} cases in {:.1}s", CREATES.len() * 2, started.elapsed().as_secs_f64());
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        CREATES.len() * 2,
        failures.join("\n\n")
    );
}

/// Live control's gated schedule actions must work on every channel ottd deploys: the
/// features can't be turned on once the channel runs, so CreateChannel sets them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deployed_channel_has_the_schedule_features_live_control_needs() {
    use aws_sdk_medialive::types as ml;
    let s = setup(EVENTS);
    let engine = engine(&s).await;
    engine.deploy(s.catalog().event("udp").expect("event")).await.expect("deploy");
    let rows = engine.store.resources("udp").expect("rows");
    let id = rows.iter().find(|r| r.key == "channel").and_then(|r| r.aws_id.clone()).expect("channel id");
    let ch = engine.aws.medialive.describe_channel().channel_id(&id).send().await.expect("DescribeChannel");
    let enc = ch.encoder_settings().expect("encoder settings");
    let f = enc.feature_activations().expect("feature activations");
    assert_eq!(f.input_prepare_schedule_actions().map(|v| v.as_str()), Some("ENABLED"));
    assert_eq!(f.output_static_image_overlay_schedule_actions().map(|v| v.as_str()), Some("ENABLED"));

    // And the schedule takes the actions those features gate, on this very channel.
    let attachment = ch.input_attachments()[0].input_attachment_name().expect("attachment name").to_string();
    let output = enc.output_groups()[0].outputs()[0].output_name().expect("output name").to_string();
    let at = (chrono::Utc::now() + chrono::Duration::seconds(120)).format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let start = ml::ScheduleActionStartSettings::builder()
        .fixed_mode_schedule_action_start_settings(ml::FixedModeScheduleActionStartSettings::builder().time(at).build())
        .build();
    let image = ml::InputLocation::builder().uri("s3ssl://b/slate/default.png").build();
    let actions = [
        (
            "prepare",
            ml::ScheduleActionSettings::builder()
                .input_prepare_settings(
                    ml::InputPrepareScheduleActionSettings::builder()
                        .input_attachment_name_reference(&attachment)
                        .build(),
                )
                .build(),
        ),
        (
            "overlay",
            ml::ScheduleActionSettings::builder()
                .static_image_output_activate_settings(
                    ml::StaticImageOutputActivateScheduleActionSettings::builder()
                        .image(image)
                        .output_names(&output)
                        .layer(7)
                        .build(),
                )
                .build(),
        ),
    ];
    let mut creates = ml::BatchScheduleActionCreateRequest::builder();
    for (name, settings) in actions {
        creates = creates.schedule_actions(
            ml::ScheduleAction::builder()
                .action_name(name)
                .schedule_action_start_settings(start.clone())
                .schedule_action_settings(settings)
                .build(),
        );
    }
    let out = engine
        .aws
        .medialive
        .batch_update_schedule()
        .channel_id(&id)
        .creates(creates.build())
        .send()
        .await
        .expect("the gated actions are accepted");
    let made: Vec<&str> = out
        .creates()
        .map(|c| c.schedule_actions().iter().filter_map(|a| a.action_name()).collect())
        .unwrap_or_default();
    assert_eq!(made, ["prepare", "overlay"]);
}
