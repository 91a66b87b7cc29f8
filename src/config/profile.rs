//! Encoding profiles: the ABR ladder MediaLive encodes, as plain data.
//!
//! A profile comes from a readable TOML file in `encoding-profiles/` (one `[[rendition]]` per
//! rung) or from a MediaLive custom template exported from the console (camelCase JSON, the
//! same key names as the MediaLive API). Both compile into [`Profile`]; `aws::encoder` turns a
//! profile into MediaLive `EncoderSettings`. A new file in the folder is a new profile.

use std::path::{Path, PathBuf};

use super::doc::{Diags, Node, Source};
use super::reader::{Ctx, Table};
use super::workflow::str_enum;

str_enum!(OutputCodec { Avc = "AVC", Hevc = "HEVC" });
str_enum!(RateControl { Qvbr = "QVBR", Cbr = "CBR", Vbr = "VBR" });
str_enum!(SubGop { Fixed = "FIXED", Dynamic = "DYNAMIC" });
str_enum!(Entropy { Cabac = "CABAC", Cavlc = "CAVLC" });
str_enum!(InputResolution { Sd = "SD", Hd = "HD", Uhd = "UHD" });
str_enum!(InputMaxBitrate { Max10 = "MAX_10_MBPS", Max20 = "MAX_20_MBPS", Max50 = "MAX_50_MBPS" });
str_enum!(TimecodeSource { Embedded = "EMBEDDED", SystemClock = "SYSTEMCLOCK", ZeroBased = "ZEROBASED" });

/// What each number of a profile (TOML or console template) may be, inclusive: what MediaLive
/// accepts, narrowed where a value is legal but never sane for live OTT. `ottd validate`
/// refuses anything else, naming the key.
pub mod limits {
    use std::ops::RangeInclusive;

    /// H.264 `bitrate` / `max_bitrate` (`bitrate` / `maxBitrate`), bits per second.
    pub const AVC_BITRATE: RangeInclusive<i64> = 1_000..=80_000_000;
    /// H.265 `bitrate` / `max_bitrate`: MediaLive's H.265 range.
    pub const HEVC_BITRATE: RangeInclusive<i64> = 100_000..=40_000_000;
    /// AAC `[audio] bitrate` (`aacSettings.bitrate`).
    pub const AUDIO_BITRATE: RangeInclusive<i64> = 16_000..=576_000;
    /// AAC sample rates MediaLive offers.
    pub const SAMPLE_RATES: [i64; 3] = [32_000, 44_100, 48_000];
    /// Width of `size = "WxH"` (`width`), even.
    pub const WIDTH: RangeInclusive<i64> = 32..=4096;
    /// Height of `size = "WxH"` (`height`), even.
    pub const HEIGHT: RangeInclusive<i64> = 32..=2160;
    /// Frame rate, frames per second (`framerate`, or numerator / denominator).
    pub const FPS: RangeInclusive<f64> = 1.0..=120.0;
    /// `framerateNumerator` (`120000/1001` is 119.88 fps).
    pub const FRAMERATE_NUMERATOR: RangeInclusive<i64> = 1..=120_000;
    /// `framerateDenominator` (1001 for the NTSC rates, 1000 for `12.5`).
    pub const FRAMERATE_DENOMINATOR: RangeInclusive<i64> = 1..=1001;
    /// `gop_seconds` (`gopSize`, in seconds or converted from frames).
    pub const GOP_SECONDS: RangeInclusive<f64> = 0.1..=30.0;
    /// `qvbr_quality` (`qvbrQualityLevel`).
    pub const QVBR_QUALITY: RangeInclusive<i64> = 1..=10;
    /// `b_frames` (`gopNumBFrames`).
    pub const B_FRAMES: RangeInclusive<i64> = 0..=7;
    /// `ref_frames` (`numRefFrames`).
    pub const REF_FRAMES: RangeInclusive<i64> = 1..=6;
    /// Template `timecodeConfig.syncThreshold`, frames.
    pub const SYNC_THRESHOLD: RangeInclusive<i64> = 1..=1_000_000;
    /// Template `scte35SpliceInsert.adAvailOffset`, milliseconds.
    pub const AD_AVAIL_OFFSET: RangeInclusive<i64> = -1000..=1000;

    pub fn video_bitrate(codec: super::OutputCodec) -> &'static RangeInclusive<i64> {
        match codec {
            super::OutputCodec::Avc => &AVC_BITRATE,
            super::OutputCodec::Hevc => &HEVC_BITRATE,
        }
    }
}

/// Why a frame rate `num/den` is out of [`limits`], if it is.
pub fn framerate_problem(num: i64, den: i64) -> Option<String> {
    let (n, d) = (&limits::FRAMERATE_NUMERATOR, &limits::FRAMERATE_DENOMINATOR);
    let rate = num as f64 / den as f64;
    if n.contains(&num) && d.contains(&den) && limits::FPS.contains(&rate) {
        return None;
    }
    let fps = &limits::FPS;
    Some(format!(
        "{num}/{den} is out of range: must be between {} and {} fps, numerator {n:?}, denominator {d:?}",
        fps.start(),
        fps.end()
    ))
}

/// Why a GOP of `seconds` is out of [`limits`], if it is.
pub fn gop_problem(seconds: f64) -> Option<String> {
    let r = &limits::GOP_SECONDS;
    (!r.contains(&seconds))
        .then(|| format!("{seconds} s is out of range: must be between {} and {} s", r.start(), r.end()))
}

/// H.264 profiles MediaLive offers.
pub const AVC_PROFILES: &[&str] = &["BASELINE", "MAIN", "HIGH", "HIGH_10BIT", "HIGH_422", "HIGH_422_10BIT"];
/// H.265 profiles MediaLive offers.
pub const HEVC_PROFILES: &[&str] = &["MAIN", "MAIN_10BIT"];

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Rendition {
    /// Names the video description and the output (`_1280x720` by default).
    pub name: String,
    pub width: i32,
    pub height: i32,
    pub bitrate: i32,
    pub max_bitrate: i32,
    pub rate_control: RateControl,
    pub qvbr_quality: i32,
    pub framerate_num: i32,
    pub framerate_den: i32,
    pub gop_seconds: f64,
    /// `BASELINE`/`MAIN`/`HIGH` (AVC) or `MAIN`/`MAIN_10BIT` (HEVC).
    pub profile: String,
    /// `AUTO` or a number like `4.1`.
    pub level: String,
    /// HEVC only: `MAIN` or `HIGH`.
    pub tier: String,
    pub entropy: Entropy,
    pub b_frames: i32,
    pub b_reference: bool,
    pub sub_gop: SubGop,
    pub scene_change_detect: bool,
    pub ref_frames: i32,
    /// Whether the audio track is muxed into this rendition's output.
    pub audio: bool,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Audio {
    pub bitrate: i32,
    pub sample_rate: i32,
    /// `2.0` or `1.0`.
    pub coding_mode: String,
    pub language_code: String,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Profile {
    pub name: String,
    pub file: PathBuf,
    pub codec: OutputCodec,
    pub input_resolution: InputResolution,
    pub input_max_bitrate: InputMaxBitrate,
    pub timecode_source: TimecodeSource,
    pub renditions: Vec<Rendition>,
    pub audio: Audio,
}

impl Profile {
    pub fn top(&self) -> Option<&Rendition> {
        self.renditions.iter().max_by_key(|r| (r.height, r.bitrate))
    }
}

/// Load every `*.toml` and `*.json` profile in `dir`, reporting all problems of all files.
pub fn load_dir(dir: &Path) -> Result<Vec<Profile>, Diags> {
    let (profiles, diags) = load_dir_partial(dir);
    diags.finish(profiles)
}

/// Every profile of `dir` that loads, and the problems of those that do not: one broken file
/// must not make every event that uses another profile report it as missing.
pub fn load_dir_partial(dir: &Path) -> (Vec<Profile>, Diags) {
    let mut diags = Diags::default();
    let mut out: Vec<Profile> = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) => {
            let src = Source::inline(&dir.display().to_string(), "");
            let d = src.diag(Default::default(), "", format!("cannot read encoding profile folder: {e}"));
            return (out, Diags(vec![d]));
        }
    };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| matches!(p.extension().and_then(|e| e.to_str()), Some("toml" | "json")))
        .collect();
    paths.sort();
    for path in paths {
        match load_file(&path) {
            Ok(p) => {
                if let Some(prev) = out.iter().find(|q| q.name.eq_ignore_ascii_case(&p.name)) {
                    let src = Source::inline(&path.display().to_string(), "");
                    diags.0.push(src.diag(
                        Default::default(),
                        "name",
                        format!("profile `{}` is also defined in {}", p.name, prev.file.display()),
                    ));
                } else {
                    out.push(p);
                }
            }
            Err(d) => diags.extend(d),
        }
    }
    (out, diags)
}

pub fn load_file(path: &Path) -> Result<Profile, Diags> {
    let src = Source::read(path)?;
    let root = src.parse()?;
    let ctx = Ctx::new(&src);
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("profile").to_string();
    let profile = if src.file.extension().and_then(|e| e.to_str()) == Some("json") {
        super::template::compile(&ctx, &root, &stem, path)
    } else {
        compile_toml(&ctx, &root, &stem, path)
    };
    let diags = ctx.into_diags();
    match profile {
        Some(p) if diags.is_empty() => Ok(p),
        _ => Err(diags),
    }
}

/// Parse `25`, `29.97`, `30000/1001` into a numerator/denominator pair.
pub fn parse_framerate(s: &str) -> Option<(i32, i32)> {
    let s = s.trim();
    if let Some((n, d)) = s.split_once('/') {
        let (n, d) = (n.trim().parse().ok()?, d.trim().parse().ok()?);
        return (n > 0 && d > 0).then_some((n, d));
    }
    if let Ok(n) = s.parse::<i32>() {
        return (n > 0).then_some((n, 1));
    }
    let f: f64 = s.parse().ok()?;
    if !(f > 0.0 && f < 1000.0) {
        return None;
    }
    // 29.97 and friends are the NTSC rates n*1000/1001.
    let ntsc = (f * 1.001).round();
    if ntsc >= 1.0 && (ntsc / 1.001 - f).abs() < 0.005 {
        return Some((ntsc as i32 * 1000, 1001));
    }
    let millis = (f * 1000.0).round();
    (millis >= 1.0).then_some((millis as i32, 1000))
}

/// `400k`, `2.7M` or a plain number of bits per second.
pub fn parse_bitrate(node: &Node) -> Option<i64> {
    use super::doc::Value;
    match &node.value {
        Value::Int(i) => Some(*i),
        Value::Str(s) => {
            let s = s.trim();
            let (num, mul) = match s.chars().last()? {
                'k' | 'K' => (&s[..s.len() - 1], 1_000.0),
                'm' | 'M' => (&s[..s.len() - 1], 1_000_000.0),
                _ => (s, 1.0),
            };
            num.trim().parse::<f64>().ok().map(|n| (n * mul).round() as i64)
        }
        _ => None,
    }
}

fn bitrate(t: &Table<'_, '_, '_>, key: &str, range: &std::ops::RangeInclusive<i64>) -> Option<i32> {
    let node = t.raw(key)?;
    let Some(b) = parse_bitrate(node) else {
        t.error(key, "expected a bitrate such as 2700000, \"2700k\" or \"2.7M\"");
        return None;
    };
    match i32::try_from(b) {
        Ok(b) if range.contains(&i64::from(b)) => Some(b),
        _ => {
            let (lo, hi) = (range.start(), range.end());
            t.error(key, format!("{b} bits/s is out of range: must be between {lo} and {hi}"));
            None
        }
    }
}

/// Per-rendition settings that may also stand at the top of the file as defaults.
struct Defaults {
    framerate: Option<(i32, i32)>,
    /// `framerate` is written here (refused when `framerate` is `None`: already reported).
    framerate_written: bool,
    gop_seconds: Option<f64>,
    rate_control: Option<RateControl>,
    profile: Option<String>,
    level: Option<String>,
    tier: Option<String>,
    entropy: Option<Entropy>,
    b_frames: Option<i32>,
    b_reference: Option<bool>,
    sub_gop: Option<SubGop>,
    scene_change_detect: Option<bool>,
    ref_frames: Option<i32>,
}

/// `framerate = 25` / `"29.97"`, `level = 4.1` / `"4.1"`: a string or a bare number, as text.
/// (Asking `str` first would already report a number as a type error.)
fn text_or_number(t: &Table<'_, '_, '_>, key: &str) -> Option<String> {
    use super::doc::Value;
    let node = t.raw(key)?;
    match &node.value {
        Value::Str(s) => Some(s.clone()),
        Value::Int(i) => Some(i.to_string()),
        Value::Float(f) => Some(f.to_string()),
        _ => {
            t.error(key, format!("expected a string or a number, found {}", node.type_name()));
            None
        }
    }
}

fn read_defaults(t: &Table<'_, '_, '_>, codec: OutputCodec) -> Defaults {
    let framerate = text_or_number(t, "framerate");
    let framerate = framerate.and_then(|f| match parse_framerate(&f) {
        None => {
            t.error("framerate", format!("`{f}` is not a frame rate such as 25, 29.97 or 30000/1001"));
            None
        }
        Some((n, d)) => match framerate_problem(n.into(), d.into()) {
            Some(problem) => {
                t.error("framerate", format!("`{f}` = {problem}"));
                None
            }
            None => Some((n, d)),
        },
    });
    let profiles = match codec {
        OutputCodec::Avc => AVC_PROFILES,
        OutputCodec::Hevc => HEVC_PROFILES,
    };
    let level = text_or_number(t, "level");
    if let Some(l) = &level {
        if l != "AUTO" && level_enum(codec, l).is_none() {
            t.error("level", format!("`{l}` is not AUTO or a {codec} level such as 4.1"));
        }
    }
    Defaults {
        framerate,
        framerate_written: t.has("framerate"),
        gop_seconds: t.float("gop_seconds").filter(|g| match gop_problem(*g) {
            Some(problem) => {
                t.error("gop_seconds", problem);
                false
            }
            None => true,
        }),
        rate_control: t.one_of("rate_control", RateControl::ALL).and_then(|s| RateControl::parse(&s)),
        profile: t.one_of("profile", profiles),
        level,
        tier: t.one_of("tier", &["MAIN", "HIGH"]),
        entropy: t.one_of("entropy", Entropy::ALL).and_then(|s| Entropy::parse(&s)),
        b_frames: t.int_within("b_frames", &limits::B_FRAMES).map(|n| n as i32),
        b_reference: t.bool("b_reference"),
        sub_gop: t.one_of("sub_gop", SubGop::ALL).and_then(|s| SubGop::parse(&s)),
        scene_change_detect: t.bool("scene_change_detect"),
        ref_frames: t.int_within("ref_frames", &limits::REF_FRAMES).map(|n| n as i32),
    }
}

/// MediaLive's level enum value for `4.1` (`H264_LEVEL_4_1` / `H265_LEVEL_4_1`).
pub fn level_enum(codec: OutputCodec, level: &str) -> Option<String> {
    let prefix = match codec {
        OutputCodec::Avc => "H264_LEVEL_",
        OutputCodec::Hevc => "H265_LEVEL_",
    };
    if level == "AUTO" {
        return Some(format!("{prefix}AUTO"));
    }
    let avc = ["1", "1.1", "1.2", "1.3", "2", "2.1", "2.2", "3", "3.1", "3.2", "4", "4.1", "4.2", "5", "5.1", "5.2"];
    let hevc = ["1", "2", "2.1", "3", "3.1", "4", "4.1", "5", "5.1", "5.2", "6", "6.1", "6.2"];
    let known = match codec {
        OutputCodec::Avc => &avc[..],
        OutputCodec::Hevc => &hevc[..],
    };
    known.contains(&level).then(|| format!("{prefix}{}", level.replace('.', "_")))
}

fn compile_toml(ctx: &Ctx<'_>, root: &Node, stem: &str, path: &Path) -> Option<Profile> {
    let t = ctx.root(root);
    let name = t.str("name").unwrap_or_else(|| stem.to_string());
    let _description = t.str("description");
    let codec = t.one_of("codec", OutputCodec::ALL).and_then(|s| OutputCodec::parse(&s));
    let codec_or_avc = codec.unwrap_or(OutputCodec::Avc);
    let defaults = read_defaults(&t, codec_or_avc);
    let timecode_source = match t.has("timecode_source") {
        true => t.one_of("timecode_source", TimecodeSource::ALL).and_then(|s| TimecodeSource::parse(&s)),
        false => Some(TimecodeSource::Embedded),
    };
    let audio = match t.table("audio") {
        Some(a) => read_audio(&a),
        None => Some(default_audio()),
    };
    let rungs = t.tables("rendition");
    if rungs.is_empty() {
        t.error("rendition", "a profile needs at least one [[rendition]]");
    }
    let mut renditions: Vec<Rendition> =
        rungs.iter().filter_map(|r| read_rendition(r, codec_or_avc, &defaults)).collect();
    drop(rungs);
    let input_resolution = match t.has("input_resolution") {
        true => t.one_of("input_resolution", InputResolution::ALL).and_then(|s| InputResolution::parse(&s)),
        false => None,
    };
    let input_max_bitrate = match t.has("input_max_bitrate") {
        true => t.one_of("input_max_bitrate", InputMaxBitrate::ALL).and_then(|s| InputMaxBitrate::parse(&s)),
        false => None,
    };
    finish_audio_placement(&mut renditions);
    check_unique_names(&t, &renditions);
    let (res, max) = derive_input_spec(&renditions);
    if ctx.has_errors() {
        return None;
    }
    Some(Profile {
        name,
        file: path.to_path_buf(),
        codec: codec?,
        input_resolution: input_resolution.unwrap_or(res),
        input_max_bitrate: input_max_bitrate.unwrap_or(max),
        timecode_source: timecode_source?,
        renditions,
        audio: audio?,
    })
}

pub(super) fn default_audio() -> Audio {
    Audio { bitrate: 96_000, sample_rate: 48_000, coding_mode: "2.0".into(), language_code: String::new() }
}

fn read_audio(a: &Table<'_, '_, '_>) -> Option<Audio> {
    let d = default_audio();
    // A refused bitrate is reported; the other keys are still read.
    let rate = if a.has("bitrate") { bitrate(a, "bitrate", &limits::AUDIO_BITRATE) } else { None };
    Some(Audio {
        bitrate: rate.unwrap_or(d.bitrate),
        sample_rate: match a.int("sample_rate") {
            Some(r) if limits::SAMPLE_RATES.contains(&r) => r as i32,
            Some(r) => {
                a.error("sample_rate", format!("{r} is not an AAC sample rate MediaLive offers (32000, 44100, 48000)"));
                d.sample_rate
            }
            None => d.sample_rate,
        },
        coding_mode: a.one_of("coding_mode", &["1.0", "2.0"]).unwrap_or(d.coding_mode),
        language_code: a.str("language_code").unwrap_or_default(),
    })
}

fn read_rendition(r: &Table<'_, '_, '_>, codec: OutputCodec, d: &Defaults) -> Option<Rendition> {
    let own = read_defaults(r, codec);
    let size = r.req_str("size");
    // No early return: the keys below still count as read, whatever is wrong with this one.
    let size = match size.as_deref().map(parse_size) {
        Some(None) => {
            let (w, h) = (&limits::WIDTH, &limits::HEIGHT);
            r.error("size", format!("expected WIDTHxHEIGHT such as 1280x720: even numbers, width {w:?}, height {h:?}"));
            None
        }
        wh => wh.flatten(),
    };
    let range = limits::video_bitrate(codec);
    let bitrate_v = if r.has("bitrate") {
        bitrate(r, "bitrate", range)
    } else {
        r.error("bitrate", "required key is missing");
        None
    };
    let max_bitrate = if r.has("max_bitrate") { bitrate(r, "max_bitrate", range) } else { bitrate_v };
    if let (Some(b), Some(m)) = (bitrate_v, max_bitrate) {
        if m < b {
            r.error("max_bitrate", format!("{m} is below the rendition's bitrate ({b})"));
        }
    }
    let qvbr = r.int_within("qvbr_quality", &limits::QVBR_QUALITY).map(|n| n as i32);
    let audio = r.bool("audio");
    let name = r.str("name");
    let pick = |a: &Option<String>, b: &Option<String>, dflt: &str| {
        a.clone().or_else(|| b.clone()).unwrap_or_else(|| dflt.to_string())
    };
    let framerate = own.framerate.or(d.framerate);
    if framerate.is_none() && !own.framerate_written && !d.framerate_written {
        r.error("framerate", "no frame rate: set it on the rendition or at the top of the file");
    }
    let profile = pick(&own.profile, &d.profile, "MAIN");
    let b_frames = own.b_frames.or(d.b_frames).unwrap_or(3);
    if profile == "BASELINE" && b_frames > 0 {
        r.error("b_frames", "the BASELINE profile has no B-frames: set b_frames = 0");
    }
    let ((width, height), (fnum, fden)) = (size?, framerate?);
    Some(Rendition {
        name: name.unwrap_or_else(|| format!("{width}x{height}")),
        width,
        height,
        bitrate: bitrate_v?,
        max_bitrate: max_bitrate?,
        rate_control: own.rate_control.or(d.rate_control).unwrap_or(RateControl::Qvbr),
        qvbr_quality: qvbr.unwrap_or(7),
        framerate_num: fnum,
        framerate_den: fden,
        gop_seconds: own.gop_seconds.or(d.gop_seconds).unwrap_or(2.0),
        entropy: own.entropy.or(d.entropy).unwrap_or(if profile == "BASELINE" {
            Entropy::Cavlc
        } else {
            Entropy::Cabac
        }),
        profile,
        level: pick(&own.level, &d.level, "AUTO"),
        tier: pick(&own.tier, &d.tier, "MAIN"),
        b_frames,
        b_reference: own.b_reference.or(d.b_reference).unwrap_or(b_frames > 0),
        sub_gop: own.sub_gop.or(d.sub_gop).unwrap_or(SubGop::Dynamic),
        scene_change_detect: own.scene_change_detect.or(d.scene_change_detect).unwrap_or(true),
        ref_frames: own.ref_frames.or(d.ref_frames).unwrap_or(5),
        audio: audio.unwrap_or(false),
    })
}

pub fn parse_size(s: &str) -> Option<(i32, i32)> {
    let (w, h) = s.trim().split_once(['x', 'X'])?;
    let (w, h): (i32, i32) = (w.trim().parse().ok()?, h.trim().parse().ok()?);
    let ok = limits::WIDTH.contains(&w.into()) && limits::HEIGHT.contains(&h.into()) && w % 2 == 0 && h % 2 == 0;
    ok.then_some((w, h))
}

/// The sample muxes audio only into the top rendition; a file may mark others with
/// `audio = true`. If none is marked, the top one carries it.
pub(super) fn finish_audio_placement(renditions: &mut [Rendition]) {
    if renditions.iter().any(|r| r.audio) {
        return;
    }
    let top = renditions.iter().enumerate().max_by_key(|(_, r)| (r.height, r.bitrate)).map(|(i, _)| i);
    if let Some(i) = top {
        renditions[i].audio = true;
    }
}

fn check_unique_names(t: &Table<'_, '_, '_>, renditions: &[Rendition]) {
    for (i, r) in renditions.iter().enumerate() {
        if renditions[..i].iter().any(|q| q.name == r.name) {
            t.error("rendition", format!("two renditions are named `{}`", r.name));
        }
    }
}

/// The input specification the sample derives from the profile name, from the ladder itself.
pub(super) fn derive_input_spec(renditions: &[Rendition]) -> (InputResolution, InputMaxBitrate) {
    let top = renditions.iter().map(|r| r.height).max().unwrap_or(0);
    match top {
        h if h > 1080 => (InputResolution::Uhd, InputMaxBitrate::Max50),
        h if h > 720 => (InputResolution::Hd, InputMaxBitrate::Max20),
        h if h >= 720 => (InputResolution::Hd, InputMaxBitrate::Max10),
        _ => (InputResolution::Sd, InputMaxBitrate::Max10),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framerates_parse_including_ntsc() {
        assert_eq!(parse_framerate("25"), Some((25, 1)));
        assert_eq!(parse_framerate("30000/1001"), Some((30000, 1001)));
        assert_eq!(parse_framerate("29.97"), Some((30000, 1001)));
        assert_eq!(parse_framerate("59.94"), Some((60000, 1001)));
        assert_eq!(parse_framerate("12.5"), Some((12500, 1000)));
        assert_eq!(parse_framerate("0"), None);
        assert_eq!(parse_framerate("0.0001"), None, "no rate rounds to a zero numerator");
        assert_eq!(parse_framerate("fast"), None);
    }

    #[test]
    fn sizes_must_be_even_and_sane() {
        assert_eq!(parse_size("1280x720"), Some((1280, 720)));
        assert_eq!(parse_size("1281x720"), None);
        assert_eq!(parse_size("720"), None);
    }

    #[test]
    fn bitrates_take_suffixes() {
        let n =
            |s: &str| Node { pos: Default::default(), value: super::super::doc::Value::Str(s.into()), origin: None };
        assert_eq!(parse_bitrate(&n("400k")), Some(400_000));
        assert_eq!(parse_bitrate(&n("2.7M")), Some(2_700_000));
        assert_eq!(parse_bitrate(&n("fast")), None);
    }

    #[test]
    fn frame_rates_and_levels_may_be_bare_numbers() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("n.toml");
        let text = "codec = \"AVC\"\nframerate = 25\nlevel = 4.1\n[[rendition]]\nsize = \"1280x720\"\nbitrate = \"2.7M\"\nframerate = 29.97\nlevel = 4\n";
        std::fs::write(&path, text).expect("write");
        let p = load_file(&path).unwrap_or_else(|d| panic!("{d}"));
        let r = &p.renditions[0];
        assert_eq!((r.framerate_num, r.framerate_den, r.level.as_str()), (30000, 1001, "4"));
        std::fs::write(&path, "framerate = true\n[[rendition]]\nsize = \"640x360\"\nbitrate = 1000000\n")
            .expect("write");
        let err = load_file(&path).expect_err("boolean").to_string();
        assert!(err.contains("n.toml:1:13: framerate: expected a string or a number, found boolean"), "{err}");
    }

    #[test]
    fn a_bad_profile_reports_each_problem() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("bad.toml");
        std::fs::write(
            &path,
            "codec = \"AVC\"\nframerate = 25\n[[rendition]]\nsize = \"1281x720\"\nbitrate = \"1M\"\n[[rendition]]\nsize = \"640x360\"\nprofile = \"BASELINE\"\nb_frames = 2\nbitrate = \"fast\"\ncolour = 1\n",
        )
        .expect("write");
        let err = load_file(&path).expect_err("invalid").to_string();
        assert!(err.contains("bad.toml:4:8: rendition[0].size: expected WIDTHxHEIGHT"), "{err}");
        assert!(err.contains("rendition[1].b_frames: the BASELINE profile has no B-frames"), "{err}");
        assert!(err.contains("bad.toml:10:11: rendition[1].bitrate: expected a bitrate"), "{err}");
        assert!(err.contains("bad.toml:11:10: rendition[1].colour: unknown key"), "{err}");
    }
}
