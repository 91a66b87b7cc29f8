//! The billing classes of a channel: each input and each output encode classified the way
//! MediaLive bills them, with the dimensions of its `ReservationResourceSpecification`
//! (resource, codec, resolution, maximum bitrate, maximum frame rate, video quality, channel
//! class). Pure: from the workflow and the encoding profile, nothing else.
//!
//! The rules, and where they are assumptions:
//! - **Inputs**: one for the primary input, one more for a backup input of a failover pair
//!   (MediaLive bills every attached input). Codec from the workflow's `codec` (the source's),
//!   resolution and maximum bitrate from the profile's input specification (what the channel
//!   is created with). Inputs have no frame-rate or video-quality dimension.
//! - **Outputs**: one per rendition (ottd's channel has one MediaPackage output group with one
//!   output per rendition). Codec from the profile.
//! - **Resolution** by lines of vertical resolution (the rendition's height): SD below 720,
//!   HD from 720 to 1079, FHD at 1080, UHD above 1080. MediaLive's API model words it "SD is
//!   less than 720 lines, HD is 720 to 1080 lines, FHD is 1080 lines, UHD is greater than 1080
//!   lines", which leaves 1080 itself to either HD or FHD: ottd says FHD, so a 1080p output is
//!   never priced at the HD rate by mistake (without an FHD figure it shows as unpriced). That
//!   720p counts as HD and 540p, 432p, 360p and 288p as SD is also an assumption, to confirm
//!   with `ListOfferings` on a real channel.
//! - **Maximum bitrate**: the rendition's `max_bitrate` (its bitrate when unset): up to 10 Mb/s
//!   MAX_10_MBPS, up to 20 MAX_20_MBPS, anything above MAX_50_MBPS (the highest class).
//! - **Maximum frame rate**: up to 30 fps (29.97 included) MAX_30_FPS, anything above
//!   MAX_60_FPS (the highest class; profiles allow up to 120).
//! - **Video quality**: STANDARD. ottd's profiles have no enhanced-VQ setting, and the encoder
//!   never asks for it.
//! - **Audio**: no line of its own. ottd never makes an audio-only output: the AAC track is
//!   muxed into the rendition(s) marked `audio` (the top one by default), so it rides with
//!   that video output encode, which is billed once as video.

use serde::Serialize;

use crate::config::profile::{InputMaxBitrate, InputResolution, OutputCodec, Profile, Rendition};
use crate::config::workflow::{str_enum, ChannelClass, Codec as SourceCodec, Workflow};

str_enum!(Resource { Input = "INPUT", Output = "OUTPUT" });
str_enum!(Codec { Mpeg2 = "MPEG2", Avc = "AVC", Hevc = "HEVC", Audio = "AUDIO", Link = "LINK", Av1 = "AV1" });
str_enum!(Resolution { Sd = "SD", Hd = "HD", Fhd = "FHD", Uhd = "UHD" });
str_enum!(Bitrate { Max10 = "MAX_10_MBPS", Max20 = "MAX_20_MBPS", Max50 = "MAX_50_MBPS" });
str_enum!(Framerate { Max30 = "MAX_30_FPS", Max60 = "MAX_60_FPS" });
str_enum!(Quality { Standard = "STANDARD", Enhanced = "ENHANCED", Premium = "PREMIUM" });

/// One billing class: what one input or one output encode is priced as. Serialized as its
/// [`Class::key`], MediaLive's own words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Class {
    pub resource: Resource,
    pub codec: Codec,
    pub resolution: Resolution,
    pub bitrate: Bitrate,
    /// Outputs only.
    pub framerate: Option<Framerate>,
    /// Outputs only.
    pub quality: Option<Quality>,
}

impl Class {
    /// The key the price table uses: `INPUT AVC HD MAX_10_MBPS`,
    /// `OUTPUT AVC SD MAX_10_MBPS MAX_30_FPS STANDARD`.
    pub fn key(&self) -> String {
        let mut k = format!("{} {} {} {}", self.resource, self.codec, self.resolution, self.bitrate);
        for extra in [self.framerate.map(Framerate::as_str), self.quality.map(Quality::as_str)].into_iter().flatten() {
            k.push(' ');
            k.push_str(extra);
        }
        k
    }

    /// A key as [`Class::key`] writes it, or why it is not one.
    pub fn parse(key: &str) -> Result<Class, String> {
        let words: Vec<&str> = key.split_whitespace().collect();
        let word = |i: usize, what: &str, all: &[&str]| -> Result<String, String> {
            let w = words.get(i).ok_or_else(|| format!("`{key}` lacks its {what} ({})", all.join(", ")))?;
            if all.contains(w) {
                Ok(w.to_string())
            } else {
                Err(format!("`{w}` is not a {what}: one of {}", all.join(", ")))
            }
        };
        let resource = word(0, "resource", Resource::ALL)?;
        let resource = Resource::parse(&resource).ok_or_else(|| format!("`{resource}` is not a resource"))?;
        let codec = Codec::parse(&word(1, "codec", Codec::ALL)?);
        let resolution = Resolution::parse(&word(2, "resolution", Resolution::ALL)?);
        let bitrate = Bitrate::parse(&word(3, "maximum bitrate", Bitrate::ALL)?);
        let (framerate, quality, len) = match resource {
            Resource::Input => (None, None, 4),
            Resource::Output => (
                Framerate::parse(&word(4, "maximum frame rate", Framerate::ALL)?),
                Quality::parse(&word(5, "video quality", Quality::ALL)?),
                6,
            ),
        };
        if words.len() > len {
            return Err(format!("`{key}` has words past the {len} of an {resource} class"));
        }
        match (codec, resolution, bitrate) {
            (Some(codec), Some(resolution), Some(bitrate)) => {
                Ok(Class { resource, codec, resolution, bitrate, framerate, quality })
            }
            _ => Err(format!("`{key}` is not a billing class")),
        }
    }

    /// How a person reads it: `input HD AVC ≤10 Mb/s`, `output SD AVC ≤10 Mb/s ≤30 fps`
    /// (`enhanced VQ` when not standard).
    pub fn describe(&self) -> String {
        let mut s = format!(
            "{} {} {} ≤{} Mb/s",
            self.resource.as_str().to_lowercase(),
            self.resolution,
            self.codec,
            match self.bitrate {
                Bitrate::Max10 => 10,
                Bitrate::Max20 => 20,
                Bitrate::Max50 => 50,
            }
        );
        if let Some(f) = self.framerate {
            s.push_str(match f {
                Framerate::Max30 => " ≤30 fps",
                Framerate::Max60 => " ≤60 fps",
            });
        }
        match self.quality {
            Some(Quality::Enhanced) => s.push_str(" enhanced VQ"),
            Some(Quality::Premium) => s.push_str(" premium VQ"),
            _ => {}
        }
        s
    }
}

impl Serialize for Class {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.key())
    }
}

/// A channel class as MediaLive writes it (`SINGLE_PIPELINE`), for serde.
pub fn channel_class_name<S: serde::Serializer>(c: &ChannelClass, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(c.as_str())
}

/// One billed resource of the channel: its class and what it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Line {
    pub class: Class,
    /// `input`, `backup input`, or the rendition's name (`1280x720`).
    pub what: String,
}

/// Everything MediaLive bills while the channel runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Channel {
    #[serde(serialize_with = "channel_class_name")]
    pub channel_class: ChannelClass,
    /// Inputs first, then outputs in the profile's order.
    pub lines: Vec<Line>,
}

/// The resolution class of a picture `height` lines high (see the module's rules).
pub fn resolution(height: i32) -> Resolution {
    match height {
        h if h < 720 => Resolution::Sd,
        h if h < 1080 => Resolution::Hd,
        1080 => Resolution::Fhd,
        _ => Resolution::Uhd,
    }
}

/// The maximum-bitrate class of `bits_per_second`.
pub fn bitrate(bits_per_second: i64) -> Bitrate {
    match bits_per_second {
        b if b <= 10_000_000 => Bitrate::Max10,
        b if b <= 20_000_000 => Bitrate::Max20,
        _ => Bitrate::Max50,
    }
}

/// The maximum-frame-rate class of `num/den` frames per second.
pub fn framerate(num: i32, den: i32) -> Framerate {
    // 30 fps exactly is MAX_30; compared in integers, so 30000/1001 and 30/1 need no epsilon.
    if i64::from(num) <= 30 * i64::from(den.max(1)) {
        Framerate::Max30
    } else {
        Framerate::Max60
    }
}

fn output(codec: OutputCodec, r: &Rendition) -> Class {
    Class {
        resource: Resource::Output,
        codec: match codec {
            OutputCodec::Avc => Codec::Avc,
            OutputCodec::Hevc => Codec::Hevc,
        },
        resolution: resolution(r.height),
        bitrate: bitrate(i64::from(r.max_bitrate.max(r.bitrate))),
        framerate: Some(framerate(r.framerate_num, r.framerate_den)),
        quality: Some(Quality::Standard),
    }
}

fn input(source: SourceCodec, p: &Profile) -> Class {
    Class {
        resource: Resource::Input,
        codec: match source {
            SourceCodec::Avc => Codec::Avc,
            SourceCodec::Hevc => Codec::Hevc,
        },
        resolution: match p.input_resolution {
            InputResolution::Sd => Resolution::Sd,
            InputResolution::Hd => Resolution::Hd,
            InputResolution::Uhd => Resolution::Uhd,
        },
        bitrate: match p.input_max_bitrate {
            InputMaxBitrate::Max10 => Bitrate::Max10,
            InputMaxBitrate::Max20 => Bitrate::Max20,
            InputMaxBitrate::Max50 => Bitrate::Max50,
        },
        framerate: None,
        quality: None,
    }
}

/// Classify the channel an event's workflow and profile make.
pub fn classify(wf: &Workflow, profile: &Profile) -> Channel {
    let ml = &wf.media_live;
    let mut lines = vec![Line { class: input(ml.codec, profile), what: "input".to_string() }];
    // The same rule as the plan's: a backup only where the input type can pair.
    if ml.backup_input && ml.input_type.can_fail_over() {
        lines.push(Line { class: input(ml.codec, profile), what: "backup input".to_string() });
    }
    for r in &profile.renditions {
        lines.push(Line { class: output(profile.codec, r), what: r.name.clone() });
    }
    Channel { channel_class: ml.channel_class, lines }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip_and_bad_keys_say_which_word() {
        for key in ["INPUT AVC HD MAX_10_MBPS", "OUTPUT HEVC FHD MAX_20_MBPS MAX_60_FPS ENHANCED"] {
            assert_eq!(Class::parse(key).map(|c| c.key()), Ok(key.to_string()));
        }
        let err = |k: &str| Class::parse(k).expect_err(k);
        assert_eq!(err("INPUT AVC QHD MAX_10_MBPS"), "`QHD` is not a resolution: one of SD, HD, FHD, UHD");
        assert!(err("OUTPUT AVC HD MAX_10_MBPS").contains("lacks its maximum frame rate"));
        assert!(err("INPUT AVC HD MAX_10_MBPS MAX_30_FPS").contains("words past the 4 of an INPUT class"));
        assert!(err("CHANNEL AVC HD MAX_10_MBPS").contains("is not a resource"));
    }

    #[test]
    fn the_boundaries_sit_where_the_module_says() {
        let r: Vec<Resolution> = [288, 540, 719, 720, 1079, 1080, 1081, 2160].into_iter().map(resolution).collect();
        use Resolution::*;
        assert_eq!(r, [Sd, Sd, Sd, Hd, Hd, Fhd, Uhd, Uhd]);
        assert_eq!(bitrate(10_000_000), Bitrate::Max10);
        assert_eq!(bitrate(10_000_001), Bitrate::Max20);
        assert_eq!(bitrate(20_000_001), Bitrate::Max50);
        assert_eq!(framerate(30000, 1001), Framerate::Max30);
        assert_eq!(framerate(30, 1), Framerate::Max30);
        assert_eq!(framerate(50, 1), Framerate::Max60);
        assert_eq!(framerate(60000, 1001), Framerate::Max60);
    }
}
