//! The workflow parameters: the AWS sample's `mediaLive` / `mediaPackage` sets, with the same
//! key names and defaults, plus ottd's own `cloudFront` options.
//!
//! A workflow file is TOML (`config/workflow.toml`) or the sample's own `configuration.json`,
//! read unchanged. Cross-field rules (STANDARD needs two sources, push inputs need a CIDR, …)
//! are checked here so `ottd validate` reports them with the offending key's position.

use super::doc::Node;
use super::reader::{Ctx, Table};

macro_rules! str_enum {
    ($(#[$m:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
        pub enum $name { $($variant),+ }
        impl $name {
            pub const ALL: &'static [&'static str] = &[$($text),+];
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some(Self::$variant),)+ _ => None }
            }
            pub fn all() -> &'static [$name] {
                &[$(Self::$variant),+]
            }
        }
        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use str_enum;

str_enum!(ChannelClass { Standard = "STANDARD", SinglePipeline = "SINGLE_PIPELINE" });
str_enum!(
    /// The nine input types of the sample (UDP_PUSH included, which the sample fails to deploy).
    InputType {
        UdpPush = "UDP_PUSH",
        RtpPush = "RTP_PUSH",
        RtmpPush = "RTMP_PUSH",
        RtmpPull = "RTMP_PULL",
        UrlPull = "URL_PULL",
        Mp4File = "MP4_FILE",
        InputDevice = "INPUT_DEVICE",
        TsFile = "TS_FILE",
        MediaConnect = "MEDIACONNECT",
    }
);
str_enum!(SourceEndBehavior { Loop = "LOOP", Continue = "CONTINUE" });
str_enum!(Codec { Avc = "AVC", Hevc = "HEVC" });
str_enum!(AdMarkers { Passthrough = "PASSTHROUGH", Scte35Enhanced = "SCTE35_ENHANCED", None = "NONE" });
str_enum!(StreamOrder {
    Original = "ORIGINAL",
    VideoBitrateAscending = "VIDEO_BITRATE_ASCENDING",
    VideoBitrateDescending = "VIDEO_BITRATE_DESCENDING",
});
str_enum!(SegmentTemplate {
    TimeWithTimeline = "TIME_WITH_TIMELINE",
    NumberWithTimeline = "NUMBER_WITH_TIMELINE",
    NumberWithDuration = "NUMBER_WITH_DURATION",
});
str_enum!(DashProfile { None = "NONE", Hbbtv15 = "HBBTV_1_5", Hybridcast = "HYBRIDCAST", DvbDash2014 = "DVB_DASH_2014" });
str_enum!(PeriodTrigger { Ads = "ADS", None = "NONE" });
str_enum!(PriceClass { All = "PriceClass_All", P200 = "PriceClass_200", P100 = "PriceClass_100" });

impl InputType {
    /// Encoder pushes to MediaLive: needs an input security group and gives destinations.
    pub fn is_push(self) -> bool {
        matches!(self, Self::UdpPush | Self::RtpPush | Self::RtmpPush)
    }
    /// MediaLive pulls from URLs (or reads files): takes `sourceEndBehavior`.
    pub fn is_pull(self) -> bool {
        matches!(self, Self::RtmpPull | Self::UrlPull | Self::Mp4File | Self::TsFile)
    }
    /// Whether two inputs of this type can be an automatic input failover pair.
    ///
    /// MediaLive user guide, "Implementing automatic input failover" and its "in a
    /// single-pipeline channel" / "in a standard channel" pages: a failover pair is two *push*
    /// inputs, never pull inputs (so no URL_PULL, RTMP_PULL, MP4_FILE or TS_FILE, and no slate
    /// file as a backup); the pair uses up the channel's quota of two push inputs. The set-up
    /// pages cover CDI (not an ottd input type), MediaConnect, and RTMP push and RTP push, each
    /// pair being two inputs of the *same* type, standard-class, with two sources each on a
    /// STANDARD channel (four in all; MediaConnect: flows A and C in one zone, B and D in the
    /// other) and one each on a SINGLE_PIPELINE channel. UDP_PUSH (a legacy type the guide no
    /// longer lists) and INPUT_DEVICE (Elemental Link) have no documented failover set-up, so
    /// ottd refuses them rather than let CreateChannel find out.
    pub fn can_fail_over(self) -> bool {
        matches!(self, Self::RtpPush | Self::RtmpPush | Self::MediaConnect)
    }
}

impl ChannelClass {
    pub fn pipelines(self) -> usize {
        match self {
            Self::Standard => 2,
            Self::SinglePipeline => 1,
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MediaLiveParams {
    pub auto_start: bool,
    pub stream_name: String,
    pub channel_class: ChannelClass,
    pub input_type: InputType,
    pub source_end_behavior: SourceEndBehavior,
    /// Codec of the *source* (InputSpecification); the output codec comes from the profile.
    pub codec: Codec,
    pub encoding_profile: String,
    pub pri_link: String,
    pub sec_link: String,
    pub input_cidr: String,
    pub pri_url: String,
    pub sec_url: String,
    pub pri_flow: String,
    pub sec_flow: String,
    /// ottd's own (`backupInput`): a second input of the same type, paired with the first for
    /// MediaLive's automatic input failover (see [`InputType::can_fail_over`]).
    pub backup_input: bool,
    /// MEDIACONNECT backup input: the flows feeding it (`backupPriFlow` / `backupSecFlow`);
    /// other flows than the primary's, since a flow feeds one input at a time.
    pub backup_pri_flow: String,
    pub backup_sec_flow: String,
    /// `failoverLossMs`: milliseconds without content before MediaLive fails over to the backup
    /// (InputLossFailoverSettings.InputLossThresholdMsec).
    pub failover_loss_ms: i32,
    /// `failoverPreference` (ottd's own): `EQUAL_INPUT_PREFERENCE` when true, MediaLive staying
    /// on whichever input of the pair it is on, so operators and recovery can switch between
    /// them with schedule actions; `PRIMARY_INPUT_PREFERRED` (the default) when false, MediaLive
    /// returning to primary by itself and taking no scheduled switch within the pair.
    pub failover_equal: bool,
    /// ottd's own (`slate`): the full-frame image `/ott slate EVENT on` shows, where MediaLive
    /// reads it (`s3://`, `s3ssl://` or `https://`, a 32-bit PNG, BMP or TGA no larger than
    /// the video). `None`: the default slate `ottd bootstrap` uploaded (see [`slate_image`]).
    pub slate: Option<String>,
}

impl MediaLiveParams {
    /// Why a schedule input switch to the backup can't work on this workflow's channel (none
    /// when it can): it needs a backup input, in a pair MediaLive lets a switch go within
    /// (`EQUAL_INPUT_PREFERENCE`; with PRIMARY_INPUT_PREFERRED MediaLive fails over by itself
    /// and refuses a scheduled switch to the backup).
    pub fn backup_switch_refusal(&self, event: &str) -> Option<String> {
        if !self.backup_input {
            return Some(format!("{event} has no backup input"));
        }
        (!self.failover_equal).then(|| {
            format!(
                "{event}'s inputs are a PRIMARY_INPUT_PREFERRED pair: MediaLive fails over by itself and refuses a \
                 scheduled switch to the backup (failoverPreference = \"EQUAL_INPUT_PREFERENCE\" allows it)"
            )
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct StreamSelection {
    pub max_video_bits_per_second: i32,
    pub min_video_bits_per_second: i32,
    pub stream_order: StreamOrder,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MediaPackageParams {
    pub ad_markers: AdMarkers,
    pub hls_segment_duration_seconds: i32,
    pub hls_playlist_window_seconds: i32,
    pub hls_program_date_interval: i32,
    pub hls_include_i_frame: bool,
    pub hls_audio_rendition_group: bool,
    pub hls_stream: StreamSelection,
    pub dash_period_triggers: PeriodTrigger,
    pub dash_segment_duration_seconds: i32,
    pub dash_segment_template: SegmentTemplate,
    pub dash_profile: DashProfile,
    pub dash_manifest_window_seconds: i32,
    pub dash_stream: StreamSelection,
    pub cmaf_segment_duration_seconds: i32,
    pub cmaf_playlist_window_seconds: i32,
    pub cmaf_include_i_frame: bool,
    pub cmaf_program_date_interval: i32,
    pub cmaf_stream: StreamSelection,
    /// ottd's own key: the sample reads the `mss_*` keys but never makes the endpoint.
    pub mss_enabled: bool,
    pub mss_segment_duration_seconds: i32,
    pub mss_manifest_window_seconds: i32,
    pub mss_stream: StreamSelection,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CloudFrontParams {
    /// Standard access logs to an ottd-made S3 bucket.
    pub access_logs: bool,
    pub price_class: PriceClass,
    /// Seconds error responses are cached (a live origin recovers quickly).
    pub error_caching_min_ttl: i64,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Workflow {
    pub media_live: MediaLiveParams,
    pub media_package: MediaPackageParams,
    pub cloud_front: CloudFrontParams,
}

/// What each number of a workflow may be (inclusive); `ottd validate` refuses anything else,
/// naming the key. MediaPackage's and CloudFront's own limits.
pub mod limits {
    use std::ops::RangeInclusive;

    /// `*_segment_duration_seconds` (HLS, DASH, CMAF, MSS).
    pub const SEGMENT_SECONDS: RangeInclusive<i64> = 1..=30;
    /// `hls_playlist_window_seconds`, `dash_manifest_window_seconds`,
    /// `cmaf_playlist_window_seconds`, `mss_manifest_window_seconds`.
    pub const WINDOW_SECONDS: RangeInclusive<i64> = 1..=5400;
    /// `hls_program_date_interval`, `cmaf_program_date_interval` (0 = never).
    pub const PROGRAM_DATE_INTERVAL: RangeInclusive<i64> = 0..=3600;
    /// `*_min_video_bits_per_second` and `*_max_video_bits_per_second` (min must not exceed
    /// max): MediaPackage takes any 32-bit count.
    pub const VIDEO_BITS_PER_SECOND: RangeInclusive<i64> = 0..=i32::MAX as i64;
    /// `cloudFront.error_caching_min_ttl`, seconds (CloudFront's limit: a year).
    pub const ERROR_CACHING_MIN_TTL: RangeInclusive<i64> = 0..=31_536_000;
    /// `mediaLive.failoverLossMs`: MediaLive's InputLossThresholdMsec is an `__integerMin100`
    /// in its API model (at least 100 ms; any 32-bit count above).
    pub const FAILOVER_LOSS_MS: RangeInclusive<i64> = 100..=i32::MAX as i64;
}

/// `mediaLive.failoverLossMs` when unset: fail over after a second without content.
pub const DEFAULT_FAILOVER_LOSS_MS: i32 = 1000;

/// `mediaLive.failoverPreference`: MediaLive's InputPreference of the failover pair.
pub const FAILOVER_PREFERENCES: [&str; 2] = ["PRIMARY_INPUT_PREFERRED", "EQUAL_INPUT_PREFERENCE"];

const MAX_BITS: i64 = *limits::VIDEO_BITS_PER_SECOND.end();

impl Workflow {
    /// Parse and compile a whole workflow document, every problem reported.
    pub fn from_source(src: &super::doc::Source) -> Result<Workflow, super::doc::Diags> {
        let root = src.parse()?;
        let ctx = Ctx::new(src);
        let wf = Workflow::compile(&ctx, &root);
        let diags = ctx.into_diags();
        match wf {
            Some(w) if diags.is_empty() => Ok(w),
            _ => Err(diags),
        }
    }
}

impl Workflow {
    /// Compile a parsed workflow document; problems are reported to `ctx`.
    /// `None` only when something was reported.
    pub fn compile(ctx: &Ctx<'_>, root: &Node) -> Option<Workflow> {
        let t = ctx.root(root);
        let ml = t.table("mediaLive");
        let mp = t.table("mediaPackage");
        let cf = t.table("cloudFront");
        if ml.is_none() && !t.has("mediaLive") {
            t.error("mediaLive", "required section is missing");
        }
        let media_live = ml.as_ref().and_then(media_live);
        let media_package = match &mp {
            Some(mp) => media_package(mp),
            None => media_package(&ctx.root(&Node::table(root.pos))),
        };
        let cloud_front = match &cf {
            Some(cf) => cloud_front(cf),
            None => cloud_front(&ctx.root(&Node::table(root.pos))),
        };
        if ctx.has_errors() {
            return None;
        }
        Some(Workflow { media_live: media_live?, media_package: media_package?, cloud_front: cloud_front? })
    }
}

fn enum_or<T: Copy>(
    t: &Table<'_, '_, '_>,
    key: &str,
    all: &[&str],
    parse: fn(&str) -> Option<T>,
    default: T,
) -> Option<T> {
    match t.has(key) {
        false => {
            t.raw(key);
            Some(default)
        }
        true => t.one_of(key, all).and_then(|s| parse(&s)),
    }
}

fn media_live(t: &Table<'_, '_, '_>) -> Option<MediaLiveParams> {
    let s = |k: &str, d: &str| t.str(k).unwrap_or_else(|| d.to_string()).trim().to_string();
    let channel_class = enum_or(t, "channelClass", ChannelClass::ALL, ChannelClass::parse, ChannelClass::Standard);
    let input_type = enum_or(t, "inputType", InputType::ALL, InputType::parse, InputType::UrlPull);
    let source_end_behavior =
        enum_or(t, "sourceEndBehavior", SourceEndBehavior::ALL, SourceEndBehavior::parse, SourceEndBehavior::Loop);
    let codec = enum_or(t, "codec", Codec::ALL, Codec::parse, Codec::Avc);
    let p = MediaLiveParams {
        auto_start: t.bool("autoStart").unwrap_or(false),
        stream_name: s("streamName", "live"),
        channel_class: channel_class.unwrap_or(ChannelClass::Standard),
        input_type: input_type.unwrap_or(InputType::UrlPull),
        source_end_behavior: source_end_behavior.unwrap_or(SourceEndBehavior::Loop),
        codec: codec.unwrap_or(Codec::Avc),
        encoding_profile: s("encodingProfile", "HD-720p"),
        pri_link: s("priLink", ""),
        sec_link: s("secLink", ""),
        input_cidr: s("inputCidr", ""),
        pri_url: s("priUrl", ""),
        sec_url: s("secUrl", ""),
        pri_flow: s("priFlow", ""),
        sec_flow: s("secFlow", ""),
        backup_input: t.bool("backupInput").unwrap_or(false),
        backup_pri_flow: s("backupPriFlow", ""),
        backup_sec_flow: s("backupSecFlow", ""),
        // The range ends at i32::MAX, so the narrowing cannot fail.
        failover_loss_ms: t
            .int_within("failoverLossMs", &limits::FAILOVER_LOSS_MS)
            .map_or(DEFAULT_FAILOVER_LOSS_MS, |v| v as i32),
        failover_equal: t.one_of("failoverPreference", &FAILOVER_PREFERENCES).as_deref()
            == Some("EQUAL_INPUT_PREFERENCE"),
        slate: slate(t),
    };
    // Read only to be refused with a reason: MediaLive pairs push inputs, never pull ones.
    let backup_url = s("backupUrl", "");
    // Cross-field rules only make sense when the input type itself was understood.
    if input_type.is_some() {
        check_sources(t, &p);
        check_backup(t, &p, &backup_url);
    }
    channel_class?;
    source_end_behavior?;
    codec?;
    Some(p)
}

/// The per-input-type rules the sample leaves to a failed CloudFormation deploy.
fn check_sources(t: &Table<'_, '_, '_>, p: &MediaLiveParams) {
    let standard = p.channel_class == ChannelClass::Standard;
    let need = |pri: &str, pri_val: &str, sec: &str, sec_val: &str, what: &str| {
        if pri_val.is_empty() {
            t.error(pri, format!("{} input needs {what} in {pri}", p.input_type));
        }
        if standard && sec_val.is_empty() {
            t.error(
                sec,
                format!("STANDARD channel with {} input needs {what} for its second pipeline in {sec} (or use SINGLE_PIPELINE)", p.input_type),
            );
        }
    };
    match p.input_type {
        InputType::UdpPush | InputType::RtpPush | InputType::RtmpPush => {
            if p.input_cidr.is_empty() {
                t.error(
                    "inputCidr",
                    format!("push input {} needs inputCidr (the encoder's address range)", p.input_type),
                );
            } else if let Err(msg) = check_cidr(&p.input_cidr) {
                t.error("inputCidr", msg);
            }
            if p.input_type == InputType::RtmpPush && p.stream_name.is_empty() {
                t.error("streamName", "RTMP_PUSH input needs a streamName");
            }
        }
        InputType::RtmpPull | InputType::UrlPull | InputType::Mp4File | InputType::TsFile => {
            need("priUrl", &p.pri_url, "secUrl", &p.sec_url, "a source URL");
            for (k, v) in [("priUrl", &p.pri_url), ("secUrl", &p.sec_url)] {
                if !v.is_empty() && !v.contains("://") {
                    t.error(k, format!("`{v}` is not a URL"));
                }
            }
        }
        InputType::InputDevice => need("priLink", &p.pri_link, "secLink", &p.sec_link, "an input device id"),
        InputType::MediaConnect => {
            need("priFlow", &p.pri_flow, "secFlow", &p.sec_flow, "a MediaConnect flow ARN");
            for (k, v) in [("priFlow", &p.pri_flow), ("secFlow", &p.sec_flow)] {
                if !v.is_empty() && !v.starts_with("arn:") {
                    t.error(k, format!("`{v}` is not a MediaConnect flow ARN"));
                }
            }
        }
    }
}

/// The failover pair rules ([`InputType::can_fail_over`]): which input types pair, and the
/// backup's own sources where the type has any.
fn check_backup(t: &Table<'_, '_, '_>, p: &MediaLiveParams, backup_url: &str) {
    let no_pair = |what: &str| {
        format!(
            "{} inputs can't be an automatic input failover pair: {what}; MediaLive pairs two push inputs of the same type (RTP_PUSH, RTMP_PUSH or MEDIACONNECT)",
            p.input_type
        )
    };
    if !backup_url.is_empty() {
        let why = match p.input_type.is_pull() {
            true => no_pair("MediaLive fails over between push inputs only, not pull or file inputs"),
            false => format!(
                "{} inputs have no source URL; a backup input of the same type is `backupInput = true`",
                p.input_type
            ),
        };
        t.error("backupUrl", why);
    }
    let flows_set = !p.backup_pri_flow.is_empty() || !p.backup_sec_flow.is_empty();
    if !p.backup_input {
        if flows_set {
            let key = if p.backup_pri_flow.is_empty() { "backupSecFlow" } else { "backupPriFlow" };
            t.error(key, "a backup flow is set but backupInput is not true");
        }
        return;
    }
    if !p.input_type.can_fail_over() {
        let why = match p.input_type {
            InputType::UdpPush | InputType::InputDevice => {
                "MediaLive documents automatic input failover for RTP, RTMP push, MediaConnect and CDI inputs only"
            }
            _ => "MediaLive fails over between push inputs only, not pull or file inputs",
        };
        t.error("backupInput", no_pair(why));
        return;
    }
    if p.input_type != InputType::MediaConnect {
        if flows_set {
            let key = if p.backup_pri_flow.is_empty() { "backupSecFlow" } else { "backupPriFlow" };
            t.error(key, format!("{} inputs take no flows", p.input_type));
        }
        return;
    }
    let standard = p.channel_class == ChannelClass::Standard;
    if p.backup_pri_flow.is_empty() {
        t.error("backupPriFlow", "MEDIACONNECT backup input needs a MediaConnect flow ARN in backupPriFlow");
    }
    if standard && p.backup_sec_flow.is_empty() {
        t.error(
            "backupSecFlow",
            "STANDARD channel with a MEDIACONNECT backup input needs a flow for its second pipeline in backupSecFlow (or use SINGLE_PIPELINE)",
        );
    }
    let primary = [p.pri_flow.as_str(), p.sec_flow.as_str()];
    for (k, v) in [("backupPriFlow", &p.backup_pri_flow), ("backupSecFlow", &p.backup_sec_flow)] {
        if v.is_empty() {
            continue;
        }
        if !v.starts_with("arn:") {
            t.error(k, format!("`{v}` is not a MediaConnect flow ARN"));
        } else if primary.contains(&v.as_str()) {
            // A flow's output feeds one MediaLive input at a time.
            t.error(k, format!("`{v}` already feeds the primary input; the backup needs its own flows"));
        }
    }
}

/// `mediaLive.slate`, checked; an empty string is no slate of the workflow's own.
fn slate(t: &Table<'_, '_, '_>) -> Option<String> {
    let uri = t.str("slate")?;
    if uri.trim().is_empty() {
        return None;
    }
    match check_slate_uri(&uri) {
        Ok(()) => Some(uri),
        Err(msg) => {
            t.error("slate", msg);
            None
        }
    }
}

/// The schemes MediaLive reads a static image from (StaticImageActivate's `Image.Uri`).
pub const SLATE_SCHEMES: &[&str] = &["s3://", "s3ssl://", "https://"];
/// The image formats MediaLive overlays (32-bit, which a file name can't show).
pub const SLATE_EXTENSIONS: &[&str] = &[".png", ".bmp", ".tga"];
/// The longest `Image.Uri` MediaLive's schedule takes.
pub const SLATE_URI_MAX: usize = 2048;

/// A slate image URI MediaLive can read: one of [`SLATE_SCHEMES`], a host (the bucket for
/// S3), and a path ending in one of [`SLATE_EXTENSIONS`], any case. An https URL's query is
/// not part of its path.
pub fn check_slate_uri(uri: &str) -> Result<(), String> {
    if uri.len() > SLATE_URI_MAX {
        return Err(format!(
            "the slate image URI is {} characters, MediaLive takes at most {SLATE_URI_MAX}",
            uri.len()
        ));
    }
    if uri.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("`{uri}` has a space or control character; percent-encode it"));
    }
    let Some(rest) = SLATE_SCHEMES.iter().find_map(|s| uri.strip_prefix(s)) else {
        return Err(format!("`{uri}` is not an image MediaLive can read: use s3://, s3ssl:// or https://"));
    };
    let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
    if host.is_empty() {
        return Err(format!("`{uri}` names no host (for S3, the bucket)"));
    }
    let path = match uri.starts_with("https://") {
        true => path.split(['?', '#']).next().unwrap_or_default(),
        false => path,
    };
    let file = path.rsplit('/').next().unwrap_or_default();
    let lower = file.to_ascii_lowercase();
    if !SLATE_EXTENSIONS.iter().any(|ext| lower.len() > ext.len() && lower.ends_with(ext)) {
        return Err(format!(
            "`{uri}` is not a .png, .bmp or .tga file: MediaLive overlays 32-bit PNG, BMP or TGA images"
        ));
    }
    Ok(())
}

/// The slate image of an event: the workflow's own `slate` when it has one, else the default
/// `ottd bootstrap` uploaded (recorded in the state file), else none.
pub fn slate_image(workflow: Option<&str>, default: Option<&str>) -> Option<String> {
    workflow.or(default).filter(|u| !u.trim().is_empty()).map(str::to_string)
}

/// An IPv4 CIDR like `203.0.113.0/24` (what MediaLive whitelist rules take).
pub fn check_cidr(cidr: &str) -> Result<(), String> {
    let bad = || format!("`{cidr}` is not an IPv4 CIDR like 203.0.113.0/24");
    let (addr, len) = cidr.split_once('/').ok_or_else(bad)?;
    addr.parse::<std::net::Ipv4Addr>().map_err(|_| bad())?;
    match len.parse::<u8>() {
        Ok(n) if n <= 32 => Ok(()),
        _ => Err(bad()),
    }
}

fn stream_selection(t: &Table<'_, '_, '_>, prefix: &str) -> Option<StreamSelection> {
    let bits = &limits::VIDEO_BITS_PER_SECOND;
    let max = t.int_within(&format!("{prefix}_max_video_bits_per_second"), bits);
    let min_key = format!("{prefix}_min_video_bits_per_second");
    let min = t.int_within(&min_key, bits);
    if let (Some(lo), hi) = (min, max.unwrap_or(MAX_BITS)) {
        if lo > hi {
            t.error(&min_key, format!("{lo} is above {prefix}_max_video_bits_per_second ({hi}): no rendition fits"));
        }
    }
    let order_key = format!("{prefix}_stream_order");
    let order = enum_or(t, &order_key, StreamOrder::ALL, StreamOrder::parse, StreamOrder::Original)?;
    Some(StreamSelection {
        max_video_bits_per_second: max.unwrap_or(MAX_BITS) as i32,
        min_video_bits_per_second: min.unwrap_or(0) as i32,
        stream_order: order,
    })
}

fn media_package(t: &Table<'_, '_, '_>) -> Option<MediaPackageParams> {
    // Every range ends below i32::MAX, so the narrowing cannot fail.
    let secs = |k: &str, d: i64, range| t.int_within(k, range).unwrap_or(d) as i32;
    let (seg, window, pdt) = (&limits::SEGMENT_SECONDS, &limits::WINDOW_SECONDS, &limits::PROGRAM_DATE_INTERVAL);
    let ad_markers = enum_or(t, "ad_markers", AdMarkers::ALL, AdMarkers::parse, AdMarkers::Passthrough);
    let dash_period_triggers =
        enum_or(t, "dash_period_triggers", PeriodTrigger::ALL, PeriodTrigger::parse, PeriodTrigger::Ads);
    let dash_segment_template = enum_or(
        t,
        "dash_segment_template",
        SegmentTemplate::ALL,
        SegmentTemplate::parse,
        SegmentTemplate::TimeWithTimeline,
    );
    let dash_profile = enum_or(t, "dash_profile", DashProfile::ALL, DashProfile::parse, DashProfile::None);
    let hls_stream = stream_selection(t, "hls");
    let dash_stream = stream_selection(t, "dash");
    let cmaf_stream = stream_selection(t, "cmaf");
    let mss_stream = stream_selection(t, "mss");
    let p = MediaPackageParams {
        ad_markers: ad_markers?,
        hls_segment_duration_seconds: secs("hls_segment_duration_seconds", 4, seg),
        hls_playlist_window_seconds: secs("hls_playlist_window_seconds", 60, window),
        hls_program_date_interval: secs("hls_program_date_interval", 60, pdt),
        hls_include_i_frame: t.bool("hls_include_I_frame").unwrap_or(false),
        hls_audio_rendition_group: t.bool("hls_audio_rendition_group").unwrap_or(true),
        hls_stream: hls_stream?,
        dash_period_triggers: dash_period_triggers?,
        dash_segment_duration_seconds: secs("dash_segment_duration_seconds", 2, seg),
        dash_segment_template: dash_segment_template?,
        dash_profile: dash_profile?,
        dash_manifest_window_seconds: secs("dash_manifest_window_seconds", 60, window),
        dash_stream: dash_stream?,
        cmaf_segment_duration_seconds: secs("cmaf_segment_duration_seconds", 4, seg),
        cmaf_playlist_window_seconds: secs("cmaf_playlist_window_seconds", 60, window),
        cmaf_include_i_frame: t.bool("cmaf_include_I_frame").unwrap_or(false),
        cmaf_program_date_interval: secs("cmaf_program_date_interval", 60, pdt),
        cmaf_stream: cmaf_stream?,
        mss_enabled: t.bool("mss_enabled").unwrap_or(false),
        mss_segment_duration_seconds: secs("mss_segment_duration_seconds", 2, seg),
        mss_manifest_window_seconds: secs("mss_manifest_window_seconds", 60, window),
        mss_stream: mss_stream?,
    };
    Some(p)
}

fn cloud_front(t: &Table<'_, '_, '_>) -> Option<CloudFrontParams> {
    let price_class = enum_or(t, "price_class", PriceClass::ALL, PriceClass::parse, PriceClass::All);
    Some(CloudFrontParams {
        access_logs: t.bool("access_logs").unwrap_or(true),
        price_class: price_class?,
        error_caching_min_ttl: t.int_within("error_caching_min_ttl", &limits::ERROR_CACHING_MIN_TTL).unwrap_or(1),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::doc::Source;

    fn compile(name: &str, text: &str) -> Result<Workflow, String> {
        Workflow::from_source(&Source::inline(name, text)).map_err(|d| d.to_string())
    }

    #[test]
    fn defaults_follow_the_sample() {
        let wf = compile("w.toml", "[mediaLive]\npriUrl = \"https://a/x.m3u8\"\nsecUrl = \"https://b/x.m3u8\"\n")
            .expect("valid");
        assert_eq!(wf.media_live.channel_class, ChannelClass::Standard);
        assert_eq!(wf.media_live.encoding_profile, "HD-720p");
        assert_eq!(wf.media_package.hls_segment_duration_seconds, 4);
        assert_eq!(wf.media_package.dash_segment_duration_seconds, 2);
        assert_eq!(wf.media_package.hls_stream.max_video_bits_per_second, i32::MAX);
        assert!(wf.media_package.hls_audio_rendition_group);
        assert_eq!(wf.cloud_front.error_caching_min_ttl, 1);
    }

    #[test]
    fn every_error_is_reported_at_once_with_its_line() {
        let text = "[mediaLive]\nchannelClass = \"STANDARD\"\ninputType = \"RTMP_PUSH\"\ncodec = \"VP9\"\nbogus = 1\n[mediaPackage]\nhls_stream_order = \"RANDOM\"\n";
        let err = compile("w.toml", text).expect_err("invalid");
        assert!(err.contains("w.toml:4:9: mediaLive.codec: `VP9` is not one of AVC, HEVC"), "{err}");
        assert!(err.contains("w.toml:5:9: mediaLive.bogus: unknown key"), "{err}");
        assert!(err.contains("mediaLive.inputCidr: push input RTMP_PUSH needs inputCidr"), "{err}");
        assert!(err.contains("w.toml:7:20: mediaPackage.hls_stream_order"), "{err}");
    }

    #[test]
    fn standard_with_one_url_is_an_error_single_pipeline_is_not() {
        let one = "[mediaLive]\ninputType = \"URL_PULL\"\npriUrl = \"https://a/x.m3u8\"\n";
        let err = compile("w.toml", one).expect_err("needs secUrl");
        assert!(err.contains("mediaLive.secUrl: STANDARD channel"), "{err}");
        let single = format!("{one}channelClass = \"SINGLE_PIPELINE\"\n");
        compile("w.toml", &single).expect("single pipeline needs one url");
    }

    #[test]
    fn mediaconnect_needs_flows_and_cidr_must_parse() {
        let err = compile("w.toml", "[mediaLive]\ninputType = \"MEDIACONNECT\"\nchannelClass = \"SINGLE_PIPELINE\"\n")
            .expect_err("no flow");
        assert!(err.contains("mediaLive.priFlow: MEDIACONNECT input needs a MediaConnect flow ARN"), "{err}");
        let err = compile("w.toml", "[mediaLive]\ninputType = \"UDP_PUSH\"\ninputCidr = \"10.0.0.0/33\"\n")
            .expect_err("bad cidr");
        assert!(err.contains("is not an IPv4 CIDR"), "{err}");
    }

    #[test]
    fn numbers_out_of_range_and_an_empty_stream_selection_are_named() {
        let text = "[mediaLive]\nchannelClass = \"SINGLE_PIPELINE\"\npriUrl = \"https://a/x.m3u8\"\n[mediaPackage]\nhls_segment_duration_seconds = 0\ndash_manifest_window_seconds = 9223372036854775807\ncmaf_min_video_bits_per_second = 2000000\ncmaf_max_video_bits_per_second = 1000000\n[cloudFront]\nerror_caching_min_ttl = -1\n";
        let err = compile("w.toml", text).expect_err("invalid");
        let want = [
            "w.toml:5:32: mediaPackage.hls_segment_duration_seconds: 0 is out of range 1..=30",
            "w.toml:6:32: mediaPackage.dash_manifest_window_seconds: 9223372036854775807 is out of range 1..=5400",
            "w.toml:7:34: mediaPackage.cmaf_min_video_bits_per_second: 2000000 is above cmaf_max_video_bits_per_second (1000000): no rendition fits",
            "w.toml:10:25: cloudFront.error_caching_min_ttl: -1 is out of range 0..=31536000",
        ];
        assert_eq!(err.lines().collect::<Vec<_>>(), want, "{err}");
    }

    #[test]
    fn impossible_failover_pairs_are_named_at_their_key() {
        // A second source URL or a slate file: pull inputs never pair.
        let text = "[mediaLive]\nchannelClass = \"SINGLE_PIPELINE\"\npriUrl = \"https://a/x.m3u8\"\nbackupUrl = \"https://b/slate.mp4\"\n";
        let err = compile("w.toml", text).expect_err("pull inputs don't pair");
        assert!(
            err.contains("w.toml:4:13: mediaLive.backupUrl: URL_PULL inputs can't be an automatic input failover pair"),
            "{err}"
        );
        let text = "[mediaLive]\ninputType = \"MP4_FILE\"\nchannelClass = \"SINGLE_PIPELINE\"\npriUrl = \"https://a/x.mp4\"\nbackupInput = true\n";
        let err = compile("w.toml", text).expect_err("file inputs don't pair");
        assert!(err.contains("w.toml:5:15: mediaLive.backupInput: MP4_FILE inputs can't be"), "{err}");
        assert!(err.contains("push inputs only"), "{err}");
        for t in ["UDP_PUSH", "INPUT_DEVICE"] {
            let text = format!("[mediaLive]\ninputType = \"{t}\"\nchannelClass = \"SINGLE_PIPELINE\"\ninputCidr = \"10.0.0.0/8\"\npriLink = \"hd-1\"\nbackupInput = true\n");
            let err = compile("w.toml", &text).expect_err("undocumented pair");
            assert!(err.contains(&format!("w.toml:6:15: mediaLive.backupInput: {t} inputs can't be")), "{err}");
        }
        // MEDIACONNECT: the backup needs its own flows, two on a STANDARD channel.
        let flows =
            "priFlow = \"arn:aws:mediaconnect:r:1:flow:a:a\"\nsecFlow = \"arn:aws:mediaconnect:r:1:flow:b:b\"\n";
        let text = format!("[mediaLive]\ninputType = \"MEDIACONNECT\"\n{flows}backupInput = true\nbackupPriFlow = \"arn:aws:mediaconnect:r:1:flow:a:a\"\n");
        let err = compile("w.toml", &text).expect_err("flows");
        assert!(err.contains("w.toml:6:17: mediaLive.backupPriFlow: `arn:aws:mediaconnect:r:1:flow:a:a` already feeds the primary input"), "{err}");
        assert!(
            err.contains("mediaLive.backupSecFlow: STANDARD channel with a MEDIACONNECT backup input needs"),
            "{err}"
        );
        // RTP push pairs with nothing more; the loss threshold has MediaLive's floor.
        let rtp = "[mediaLive]\ninputType = \"RTP_PUSH\"\ninputCidr = \"10.0.0.0/8\"\nbackupInput = true\n";
        let wf = compile("w.toml", rtp).expect("RTP push pairs");
        assert!(wf.media_live.backup_input);
        assert_eq!(wf.media_live.failover_loss_ms, DEFAULT_FAILOVER_LOSS_MS);
        let err = compile("w.toml", &format!("{rtp}failoverLossMs = 99\n")).expect_err("below 100 ms");
        assert!(err.contains("w.toml:5:18: mediaLive.failoverLossMs: 99 is out of range 100..=2147483647"), "{err}");
        let err = compile("w.toml", &format!("{rtp}backupPriFlow = \"arn:x\"\n")).expect_err("no flows");
        assert!(err.contains("mediaLive.backupPriFlow: RTP_PUSH inputs take no flows"), "{err}");
    }

    #[test]
    fn slate_uris_are_checked_and_named_at_their_key() {
        let base = "[mediaLive]\nchannelClass = \"SINGLE_PIPELINE\"\npriUrl = \"https://a/x.m3u8\"\n";
        let wf = compile("w.toml", base).expect("valid");
        assert_eq!(wf.media_live.slate, None, "no slate of its own: the default applies");
        for good in [
            "s3://ottd-assets/slate/default.png",
            "s3ssl://my-bucket/slates/Final.PNG",
            "https://cdn.example.com/slate.tga",
            "https://cdn.example.com/a/b/slate.Bmp?v=2",
        ] {
            let wf =
                compile("w.toml", &format!("{base}slate = \"{good}\"\n")).unwrap_or_else(|e| panic!("{good}: {e}"));
            assert_eq!(wf.media_live.slate.as_deref(), Some(good));
        }
        let empty = compile("w.toml", &format!("{base}slate = \"\"\n")).expect("empty = none");
        assert_eq!(empty.media_live.slate, None);
        for (bad, why) in [
            ("http://cdn.example.com/slate.png", "use s3://, s3ssl:// or https://"),
            ("ftp://host/slate.png", "use s3://, s3ssl:// or https://"),
            ("/var/slate.png", "use s3://, s3ssl:// or https://"),
            ("s3:///slate.png", "names no host"),
            ("s3://bucket", "is not a .png, .bmp or .tga file"),
            ("s3://bucket/", "is not a .png, .bmp or .tga file"),
            ("s3://bucket/.png", "is not a .png, .bmp or .tga file"),
            ("s3://bucket/slate.jpg", "is not a .png, .bmp or .tga file"),
            ("https://host/slate.png.html", "is not a .png, .bmp or .tga file"),
            ("https://host/slate?f=x.png", "is not a .png, .bmp or .tga file"),
            ("s3://bucket/my slate.png", "percent-encode it"),
        ] {
            let err = compile("w.toml", &format!("{base}slate = \"{bad}\"\n")).expect_err(bad);
            assert!(err.starts_with("w.toml:4:9: mediaLive.slate: "), "{bad}: {err}");
            assert!(err.contains(why), "{bad}: {err}");
        }
        let long = format!("s3://b/{}.png", "a".repeat(SLATE_URI_MAX));
        assert!(check_slate_uri(&long).expect_err("too long").contains("at most 2048"));
        let err = compile("w.toml", &format!("{base}slate = 7\n")).expect_err("not a string");
        assert!(err.contains("w.toml:4:9: mediaLive.slate: expected a string, found integer"), "{err}");
    }

    #[test]
    fn the_workflows_slate_wins_over_the_default() {
        let default = Some("s3ssl://ottd-assets-123456789012-us-east-1/slate/default.png");
        assert_eq!(
            slate_image(Some("https://cdn.example.com/s.png"), default).as_deref(),
            Some("https://cdn.example.com/s.png")
        );
        assert_eq!(slate_image(None, default).as_deref(), default);
        assert_eq!(slate_image(None, None), None);
        assert_eq!(slate_image(None, Some("")), None, "an empty record is no slate");
    }
}
