//! MediaLive custom templates (camelCase JSON exported from the console, the same key names as
//! the AWS sample's profile files) compiled into a [`Profile`].
//!
//! What ottd models is mapped; what ottd always sets the same way is accepted when the template
//! agrees; anything else is an error naming the key, so nothing in a template is silently lost.

use std::path::Path;

use super::doc::{Node, Value};
use super::profile::{
    default_audio, derive_input_spec, finish_audio_placement, framerate_problem, gop_problem, limits, Audio, Entropy,
    OutputCodec, Profile, RateControl, Rendition, SubGop, TimecodeSource,
};
use super::reader::{Ctx, Table};

/// Keys ottd always sets to one value; a template may repeat them but not change them.
const FIXED_VIDEO: &[(&str, &str)] = &[
    ("adaptiveQuantization", "HIGH"),
    ("afdSignaling", "NONE"),
    ("colorMetadata", "INSERT"),
    ("flickerAq", "ENABLED"),
    ("spatialAq", "ENABLED"),
    ("temporalAq", "ENABLED"),
    ("lookAheadRateControl", "HIGH"),
    ("parControl", "SPECIFIED"),
    ("parNumerator", "1"),
    ("parDenominator", "1"),
    ("scanType", "PROGRESSIVE"),
    ("syntax", "DEFAULT"),
    ("timecodeInsertion", "DISABLED"),
    ("gopClosedCadence", "1"),
    ("framerateControl", "SPECIFIED"),
    ("bufFillPct", "90"),
    ("forceFieldPictures", "DISABLED"),
    ("alternativeTransferFunction", "OMIT"),
];
const FIXED_DESCRIPTION: &[(&str, &str)] =
    &[("respondToAfd", "NONE"), ("scalingBehavior", "DEFAULT"), ("sharpness", "50")];
const FIXED_AAC: &[(&str, &str)] =
    &[("profile", "LC"), ("rateControlMode", "CBR"), ("inputType", "NORMAL"), ("rawFormat", "NONE"), ("spec", "MPEG4")];
const FIXED_AUDIO: &[(&str, &str)] = &[
    ("audioSelectorName", "default"),
    ("audioTypeControl", "FOLLOW_INPUT"),
    ("languageCodeControl", "FOLLOW_INPUT"),
    ("audioType", "UNDEFINED"),
];

fn text(node: &Node) -> String {
    match &node.value {
        Value::Str(s) => s.clone(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Bool(b) => b.to_string(),
        other => format!("{other:?}"),
    }
}

fn check_fixed(t: &Table<'_, '_, '_>, fixed: &[(&str, &str)]) {
    for (key, want) in fixed {
        if let Some(node) = t.raw(key) {
            let got = text(node);
            if !got.eq_ignore_ascii_case(want) {
                t.error(key, format!("ottd always sets {want}; `{got}` cannot be mapped"));
            }
        }
    }
}

pub(super) fn compile(ctx: &Ctx<'_>, root: &Node, stem: &str, path: &Path) -> Option<Profile> {
    let outer = ctx.root(root);
    // A console export may wrap the settings; the sample's files do not.
    let wrapped = outer.has("encoderSettings");
    let holder;
    let t = if wrapped {
        holder = outer.table("encoderSettings")?;
        &holder
    } else {
        &outer
    };
    let mut codec = None;
    let mut renditions = Vec::new();
    // Names of the descriptions that did not compile (reported): outputs may name them.
    let mut broken = Vec::new();
    for vd in t.tables("videoDescriptions") {
        let compiled = video_description(&vd);
        if compiled.is_none() {
            if let Some(Value::Str(name)) = vd.node().get("name").map(|n| &n.value) {
                broken.push(name.clone());
            }
        }
        if let Some((c, r)) = compiled {
            if codec.is_some_and(|k| k != c) {
                vd.error("codecSettings", "all renditions of a profile must use one codec");
            }
            codec = Some(c);
            renditions.push(r);
        }
    }
    if renditions.is_empty() && !ctx.has_errors() {
        t.error("videoDescriptions", "a template needs at least one video description");
    }
    let audio = audio_descriptions(t);
    let timecode_source = t.table("timecodeConfig").and_then(|tc| {
        let _ = tc.int_within("syncThreshold", &limits::SYNC_THRESHOLD);
        tc.one_of("source", TimecodeSource::ALL).and_then(|s| TimecodeSource::parse(&s))
    });
    if let Some(avail) = t.table("availConfiguration") {
        if let Some(settings) = avail.table("availSettings") {
            if let Some(scte) = settings.table("scte35SpliceInsert") {
                check_fixed(&scte, &[("webDeliveryAllowedFlag", "FOLLOW"), ("noRegionalBlackoutFlag", "FOLLOW")]);
                let _ = scte.int_within("adAvailOffset", &limits::AD_AVAIL_OFFSET);
            }
        }
    }
    outputs(t, &mut renditions, &broken);
    drop(outer);
    finish_audio_placement(&mut renditions);
    let (input_resolution, input_max_bitrate) = derive_input_spec(&renditions);
    if ctx.has_errors() {
        return None;
    }
    Some(Profile {
        name: stem.to_string(),
        file: path.to_path_buf(),
        codec: codec?,
        input_resolution,
        input_max_bitrate,
        timecode_source: timecode_source.unwrap_or(TimecodeSource::Embedded),
        renditions,
        audio: audio?,
    })
}

fn video_description(vd: &Table<'_, '_, '_>) -> Option<(OutputCodec, Rendition)> {
    let name = vd.req_str("name");
    let even = |key: &str, v: i64| {
        if v % 2 != 0 {
            vd.error(key, format!("{v} is odd: MediaLive takes even sizes"));
        }
        v
    };
    let width = vd.int_within("width", &limits::WIDTH).map(|w| even("width", w));
    let height = vd.int_within("height", &limits::HEIGHT).map(|h| even("height", h));
    check_fixed(vd, FIXED_DESCRIPTION);
    let cs = vd.table("codecSettings")?;
    let (codec, key) = if cs.has("h264Settings") {
        (OutputCodec::Avc, "h264Settings")
    } else if cs.has("h265Settings") {
        (OutputCodec::Hevc, "h265Settings")
    } else {
        cs.error("h264Settings", "only h264Settings and h265Settings can be mapped");
        return None;
    };
    let s = cs.table(key)?;
    check_fixed(&s, FIXED_VIDEO);
    let rates = limits::video_bitrate(codec);
    let bitrate = s.int_within("bitrate", rates).map(|n| n as i32);
    let max_bitrate = s.int_within("maxBitrate", rates).map(|n| n as i32);
    let buf_size = s.int("bufSize");
    let rate_control = s.one_of("rateControlMode", RateControl::ALL).and_then(|m| RateControl::parse(&m));
    let gop = s.float("gopSize");
    let gop_units = s.one_of("gopSizeUnits", &["SECONDS", "FRAMES"]);
    let fnum = s.int_within("framerateNumerator", &limits::FRAMERATE_NUMERATOR).map(|n| n as i32);
    let fden = s.int_within("framerateDenominator", &limits::FRAMERATE_DENOMINATOR).map(|n| n as i32);
    let profile = s.str("profile");
    let level =
        s.str("level").map(|l| l.trim_start_matches("H264_LEVEL_").trim_start_matches("H265_LEVEL_").replace('_', "."));
    let entropy = s.one_of("entropyEncoding", Entropy::ALL).and_then(|e| Entropy::parse(&e));
    let b_frames = s.int_within("gopNumBFrames", &limits::B_FRAMES).map(|n| n as i32);
    let b_reference = s.one_of("gopBReference", &["ENABLED", "DISABLED"]).map(|v| v == "ENABLED");
    let sub_gop = s.one_of("subgopLength", SubGop::ALL).and_then(|v| SubGop::parse(&v));
    let scene = s.one_of("sceneChangeDetect", &["ENABLED", "DISABLED"]).map(|v| v == "ENABLED");
    let ref_frames = s.int_within("numRefFrames", &limits::REF_FRAMES).map(|n| n as i32);
    let qvbr = s.int_within("qvbrQualityLevel", &limits::QVBR_QUALITY).map(|n| n as i32);
    let tier = s.one_of("tier", &["MAIN", "HIGH"]);
    let (fnum, fden) = (fnum.unwrap_or(30), fden.unwrap_or(1));
    if let Some(problem) = framerate_problem(fnum.into(), fden.into()) {
        s.error("framerateNumerator", problem);
    }
    let gop_seconds = match (gop, gop_units.as_deref()) {
        (Some(g), Some("FRAMES")) => g * fden as f64 / fnum as f64,
        (Some(g), _) => g,
        (None, _) => 2.0,
    };
    if let Some(problem) = gop_problem(gop_seconds) {
        s.error("gopSize", problem);
    }
    if let (Some(b), Some(m)) = (bitrate, max_bitrate) {
        if m < b {
            s.error("maxBitrate", format!("{m} is below the bitrate ({b})"));
        }
    }
    let bitrate = bitrate.or(max_bitrate)?;
    if let Some(b) = buf_size {
        if b != 2 * bitrate as i64 {
            s.error(
                "bufSize",
                format!(
                    "ottd always sets bufSize to twice the bitrate ({}); `{b}` cannot be mapped",
                    2 * bitrate as i64
                ),
            );
        }
    }
    let profile = profile.unwrap_or_else(|| "MAIN".into());
    let (w, h) = (width?, height?);
    let rendition = Rendition {
        name: name?,
        width: w as i32,
        height: h as i32,
        bitrate,
        max_bitrate: max_bitrate.unwrap_or(bitrate),
        rate_control: rate_control.unwrap_or(RateControl::Qvbr),
        qvbr_quality: qvbr.unwrap_or(7),
        framerate_num: fnum,
        framerate_den: fden,
        gop_seconds,
        entropy: entropy.unwrap_or(if profile == "BASELINE" { Entropy::Cavlc } else { Entropy::Cabac }),
        profile,
        level: level.unwrap_or_else(|| "AUTO".into()),
        tier: tier.unwrap_or_else(|| "MAIN".into()),
        b_frames: b_frames.unwrap_or(3),
        b_reference: b_reference.unwrap_or(false),
        sub_gop: sub_gop.unwrap_or(SubGop::Dynamic),
        scene_change_detect: scene.unwrap_or(true),
        ref_frames: ref_frames.unwrap_or(5),
        audio: false,
    };
    Some((codec, rendition))
}

fn audio_descriptions(t: &Table<'_, '_, '_>) -> Option<Audio> {
    let descs = t.tables("audioDescriptions");
    if descs.len() > 1 {
        t.error("audioDescriptions", "ottd maps one audio description; this template has several");
    }
    let Some(ad) = descs.first() else { return Some(default_audio()) };
    let _name = ad.str("name");
    check_fixed(ad, FIXED_AUDIO);
    let language_code = ad.str("languageCode").unwrap_or_default();
    let cs = ad.table("codecSettings")?;
    let Some(aac) = cs.table("aacSettings") else {
        cs.error("aacSettings", "only AAC audio can be mapped");
        return None;
    };
    check_fixed(&aac, FIXED_AAC);
    let d = default_audio();
    let coding_mode = aac.one_of("codingMode", &["CODING_MODE_1_0", "CODING_MODE_2_0"]);
    Some(Audio {
        bitrate: aac.int_within("bitrate", &limits::AUDIO_BITRATE).map(|n| n as i32).unwrap_or(d.bitrate),
        sample_rate: sample_rate(&aac).unwrap_or(d.sample_rate),
        coding_mode: coding_mode
            .map(|m| if m.ends_with("1_0") { "1.0".to_string() } else { "2.0".to_string() })
            .unwrap_or(d.coding_mode),
        language_code,
    })
}

fn sample_rate(aac: &Table<'_, '_, '_>) -> Option<i32> {
    let r = aac.int("sampleRate")?;
    if !limits::SAMPLE_RATES.contains(&r) {
        aac.error("sampleRate", format!("{r} is not an AAC sample rate MediaLive offers (32000, 44100, 48000)"));
        return None;
    }
    i32::try_from(r).ok()
}

/// Outputs say which rendition carries audio; their group must be a MediaPackage group.
fn outputs(t: &Table<'_, '_, '_>, renditions: &mut [Rendition], broken: &[String]) {
    let groups = t.tables("outputGroups");
    if groups.len() > 1 {
        t.error("outputGroups", "ottd maps one MediaPackage output group; this template has several");
    }
    for g in groups.iter().take(1) {
        let _ = g.str("name");
        if let Some(settings) = g.table("outputGroupSettings") {
            if let Some(mp) = settings.table("mediaPackageGroupSettings") {
                let _ = mp.table("destination").map(|d| d.allow_unknown());
            } else {
                let other = settings.keys().first().map(|k| k.to_string()).unwrap_or_default();
                settings.raw(&other);
                settings.error(&other, "only a MediaPackage output group can be mapped");
            }
        }
        for o in g.tables("outputs") {
            let _ = o.str("outputName");
            let _ = o.table("outputSettings").map(|s| s.allow_unknown());
            let video = o.str("videoDescriptionName");
            let audio = o.strings("audioDescriptionNames").unwrap_or_default();
            let _ = o.strings("captionDescriptionNames");
            let Some(video) = video else {
                // A name of the wrong type is reported already.
                if !o.has("videoDescriptionName") {
                    o.error("videoDescriptionName", "names no video description of this template");
                }
                continue;
            };
            match renditions.iter_mut().find(|r| r.name == video) {
                Some(r) => r.audio = !audio.is_empty(),
                None if broken.contains(&video) => {}
                None => o.error("videoDescriptionName", "names no video description of this template"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::profile::load_file;

    const TEMPLATE: &str = r#"{
  "audioDescriptions": [{
    "audioSelectorName": "default", "name": "audio_1", "audioTypeControl": "FOLLOW_INPUT",
    "languageCodeControl": "FOLLOW_INPUT",
    "codecSettings": {"aacSettings": {"bitrate": 96000, "codingMode": "CODING_MODE_2_0",
      "profile": "LC", "rateControlMode": "CBR", "sampleRate": 48000}}
  }],
  "videoDescriptions": [
    {"name": "_1280x720", "width": 1280, "height": 720, "respondToAfd": "NONE",
     "codecSettings": {"h264Settings": {"bitrate": 2700000, "maxBitrate": 2700000, "bufSize": 5400000,
       "rateControlMode": "QVBR", "qvbrQualityLevel": 9, "profile": "HIGH", "level": "H264_LEVEL_AUTO",
       "gopSize": 2, "gopSizeUnits": "SECONDS", "framerateNumerator": 25, "framerateDenominator": 1,
       "gopNumBFrames": 3, "gopBReference": "ENABLED", "entropyEncoding": "CABAC", "spatialAq": "ENABLED"}}},
    {"name": "_640x360", "width": 640, "height": 360,
     "codecSettings": {"h264Settings": {"bitrate": 800000, "profile": "BASELINE", "gopNumBFrames": 0,
       "gopSize": 50, "gopSizeUnits": "FRAMES", "framerateNumerator": 25, "framerateDenominator": 1}}}
  ],
  "outputGroups": [{"outputGroupSettings": {"mediaPackageGroupSettings": {"destination": {"destinationRefId": "media-destination"}}},
    "outputs": [
      {"outputName": "_1280x720", "videoDescriptionName": "_1280x720", "audioDescriptionNames": ["audio_1"], "outputSettings": {"mediaPackageOutputSettings": {}}},
      {"outputName": "_640x360", "videoDescriptionName": "_640x360", "outputSettings": {"mediaPackageOutputSettings": {}}}
    ]}],
  "timecodeConfig": {"source": "EMBEDDED"}
}"#;

    #[test]
    fn a_console_template_maps_to_a_profile() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("custom-720p.json");
        std::fs::write(&path, TEMPLATE).expect("write");
        let p = load_file(&path).expect("maps");
        assert_eq!(p.name, "custom-720p");
        assert_eq!(p.renditions.len(), 2);
        let top = &p.renditions[0];
        assert_eq!((top.width, top.height, top.bitrate, top.qvbr_quality), (1280, 720, 2_700_000, 9));
        assert!(top.audio && !p.renditions[1].audio);
        assert!((p.renditions[1].gop_seconds - 2.0).abs() < 1e-9);
    }

    #[test]
    fn what_cannot_be_mapped_is_named() {
        let bad = TEMPLATE
            .replace("\"spatialAq\": \"ENABLED\"", "\"spatialAq\": \"DISABLED\", \"filterSettings\": {}")
            .replace("\"audioSelectorName\": \"default\"", "\"auldioSelectorName\": \"default\"");
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("bad.json");
        std::fs::write(&path, bad).expect("write");
        let err = load_file(&path).expect_err("unmappable").to_string();
        assert!(err.contains("h264Settings.spatialAq: ottd always sets ENABLED; `DISABLED` cannot be mapped"), "{err}");
        assert!(err.contains("h264Settings.filterSettings: unknown key"), "{err}");
        assert!(err.contains("bad.json:3:5: audioDescriptions[0].auldioSelectorName: unknown key"), "{err}");
    }
}
