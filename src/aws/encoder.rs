//! An encoding [`Profile`] as MediaLive `EncoderSettings` and `InputSpecification`.
//!
//! Pure: builds SDK values, sends nothing. The shared settings follow the AWS sample's
//! profiles (QVBR, buffer 2x bitrate filled 90 %, closed GOP, look-ahead and AQ high, colour
//! metadata, PAR 1:1, progressive), without its defects: the audio selector the descriptions
//! name is defined (see [`audio_selector`]), and every key is spelled right.

use aws_sdk_medialive::types as ml;

use crate::config::profile::{level_enum, OutputCodec, Profile, RateControl, Rendition};
use crate::config::workflow::Codec;

/// Name of the audio selector every audio description points at; defined on the input
/// attachment by [`audio_selector`].
pub const AUDIO_SELECTOR: &str = "default";
pub const AUDIO_DESCRIPTION: &str = "audio_aac";
/// The channel's one destination, MediaPackage.
pub const DESTINATION_ID: &str = "media-destination";

pub fn video_description_name(r: &Rendition) -> String {
    format!("video_{}", r.name)
}

pub fn output_name(r: &Rendition) -> String {
    format!("_{}", r.name)
}

fn enabled(on: bool) -> &'static str {
    if on {
        "ENABLED"
    } else {
        "DISABLED"
    }
}

fn h264(r: &Rendition) -> ml::H264Settings {
    let level = level_enum(OutputCodec::Avc, &r.level).unwrap_or_else(|| "H264_LEVEL_AUTO".into());
    let mut b = ml::H264Settings::builder()
        .adaptive_quantization(ml::H264AdaptiveQuantization::High)
        .afd_signaling(ml::AfdSignaling::None)
        .bitrate(r.bitrate)
        .buf_fill_pct(90)
        .buf_size(r.bitrate.saturating_mul(2))
        .color_metadata(ml::H264ColorMetadata::Insert)
        .entropy_encoding(ml::H264EntropyEncoding::from(r.entropy.as_str()))
        .flicker_aq(ml::H264FlickerAq::Enabled)
        .framerate_control(ml::H264FramerateControl::Specified)
        .framerate_numerator(r.framerate_num)
        .framerate_denominator(r.framerate_den)
        .gop_b_reference(ml::H264GopBReference::from(enabled(r.b_reference)))
        .gop_closed_cadence(1)
        .gop_num_b_frames(r.b_frames)
        .gop_size(r.gop_seconds)
        .gop_size_units(ml::H264GopSizeUnits::Seconds)
        .level(ml::H264Level::from(level.as_str()))
        .look_ahead_rate_control(ml::H264LookAheadRateControl::High)
        .num_ref_frames(r.ref_frames)
        .par_control(ml::H264ParControl::Specified)
        .par_numerator(1)
        .par_denominator(1)
        .profile(ml::H264Profile::from(r.profile.as_str()))
        .rate_control_mode(ml::H264RateControlMode::from(r.rate_control.as_str()))
        .scan_type(ml::H264ScanType::Progressive)
        .scene_change_detect(ml::H264SceneChangeDetect::from(enabled(r.scene_change_detect)))
        .spatial_aq(ml::H264SpatialAq::Enabled)
        .subgop_length(ml::H264SubGopLength::from(r.sub_gop.as_str()))
        .syntax(ml::H264Syntax::Default)
        .temporal_aq(ml::H264TemporalAq::Enabled)
        .timecode_insertion(ml::H264TimecodeInsertionBehavior::Disabled);
    b = match r.rate_control {
        RateControl::Qvbr => b.max_bitrate(r.max_bitrate).qvbr_quality_level(r.qvbr_quality),
        RateControl::Vbr => b.max_bitrate(r.max_bitrate),
        RateControl::Cbr => b,
    };
    b.build()
}

fn h265(r: &Rendition) -> ml::H265Settings {
    let level = level_enum(OutputCodec::Hevc, &r.level).unwrap_or_else(|| "H265_LEVEL_AUTO".into());
    let mut b = ml::H265Settings::builder()
        .adaptive_quantization(ml::H265AdaptiveQuantization::High)
        .afd_signaling(ml::AfdSignaling::None)
        .alternative_transfer_function(ml::H265AlternativeTransferFunction::Omit)
        .bitrate(r.bitrate)
        .buf_size(r.bitrate.saturating_mul(2))
        .color_metadata(ml::H265ColorMetadata::Insert)
        .flicker_aq(ml::H265FlickerAq::Enabled)
        .framerate_numerator(r.framerate_num)
        .framerate_denominator(r.framerate_den)
        .gop_closed_cadence(1)
        .gop_size(r.gop_seconds)
        .gop_size_units(ml::H265GopSizeUnits::Seconds)
        .gop_num_b_frames(r.b_frames)
        .gop_b_reference(ml::H265GopBReference::from(enabled(r.b_reference)))
        .level(ml::H265Level::from(level.as_str()))
        .look_ahead_rate_control(ml::H265LookAheadRateControl::High)
        .par_numerator(1)
        .par_denominator(1)
        .profile(ml::H265Profile::from(r.profile.as_str()))
        .rate_control_mode(ml::H265RateControlMode::from(r.rate_control.as_str()))
        .scan_type(ml::H265ScanType::Progressive)
        .scene_change_detect(ml::H265SceneChangeDetect::from(enabled(r.scene_change_detect)))
        .subgop_length(ml::H265SubGopLength::from(r.sub_gop.as_str()))
        .tier(ml::H265Tier::from(r.tier.as_str()))
        .timecode_insertion(ml::H265TimecodeInsertionBehavior::Disabled);
    b = match r.rate_control {
        RateControl::Qvbr => b.max_bitrate(r.max_bitrate).qvbr_quality_level(r.qvbr_quality),
        RateControl::Vbr => b.max_bitrate(r.max_bitrate),
        RateControl::Cbr => b,
    };
    b.build()
}

fn video_description(codec: OutputCodec, r: &Rendition) -> ml::VideoDescription {
    let settings = match codec {
        OutputCodec::Avc => ml::VideoCodecSettings::builder().h264_settings(h264(r)).build(),
        OutputCodec::Hevc => ml::VideoCodecSettings::builder().h265_settings(h265(r)).build(),
    };
    ml::VideoDescription::builder()
        .name(video_description_name(r))
        .width(r.width)
        .height(r.height)
        .codec_settings(settings)
        .respond_to_afd(ml::VideoDescriptionRespondToAfd::None)
        .scaling_behavior(ml::VideoDescriptionScalingBehavior::Default)
        .sharpness(50)
        .build()
}

fn audio_description(p: &Profile) -> ml::AudioDescription {
    let aac = ml::AacSettings::builder()
        .bitrate(p.audio.bitrate as f64)
        .coding_mode(if p.audio.coding_mode == "1.0" {
            ml::AacCodingMode::CodingMode10
        } else {
            ml::AacCodingMode::CodingMode20
        })
        .input_type(ml::AacInputType::Normal)
        .profile(ml::AacProfile::Lc)
        .rate_control_mode(ml::AacRateControlMode::Cbr)
        .raw_format(ml::AacRawFormat::None)
        .sample_rate(p.audio.sample_rate as f64)
        .spec(ml::AacSpec::Mpeg4)
        .build();
    let mut b = ml::AudioDescription::builder()
        .name(AUDIO_DESCRIPTION)
        .audio_selector_name(AUDIO_SELECTOR)
        .audio_type_control(ml::AudioDescriptionAudioTypeControl::FollowInput)
        .language_code_control(ml::AudioDescriptionLanguageCodeControl::FollowInput)
        .codec_settings(ml::AudioCodecSettings::builder().aac_settings(aac).build());
    if !p.audio.language_code.is_empty() {
        b = b.language_code(&p.audio.language_code);
    }
    b.build()
}

/// The full encoder settings: one video description per rendition, one AAC description,
/// one MediaPackage output group with one output per rendition.
pub fn encoder_settings(p: &Profile) -> ml::EncoderSettings {
    let outputs = p.renditions.iter().map(|r| {
        let mut o = ml::Output::builder()
            .output_name(output_name(r))
            .video_description_name(video_description_name(r))
            .output_settings(
                ml::OutputSettings::builder()
                    .media_package_output_settings(ml::MediaPackageOutputSettings::builder().build())
                    .build(),
            );
        if r.audio {
            o = o.audio_description_names(AUDIO_DESCRIPTION);
        }
        o.build()
    });
    let group = ml::OutputGroup::builder()
        .name("MediaPackage")
        .output_group_settings(
            ml::OutputGroupSettings::builder()
                .media_package_group_settings(
                    ml::MediaPackageGroupSettings::builder()
                        .destination(ml::OutputLocationRef::builder().destination_ref_id(DESTINATION_ID).build())
                        .build(),
                )
                .build(),
        )
        .set_outputs(Some(outputs.collect()))
        .build();
    let avail = ml::AvailConfiguration::builder()
        .avail_settings(
            ml::AvailSettings::builder()
                .scte35_splice_insert(
                    ml::Scte35SpliceInsert::builder()
                        .web_delivery_allowed_flag(ml::Scte35SpliceInsertWebDeliveryAllowedBehavior::Follow)
                        .no_regional_blackout_flag(ml::Scte35SpliceInsertNoRegionalBlackoutBehavior::Follow)
                        .build(),
                )
                .build(),
        )
        .build();
    ml::EncoderSettings::builder()
        .set_video_descriptions(Some(p.renditions.iter().map(|r| video_description(p.codec, r)).collect()))
        .audio_descriptions(audio_description(p))
        .output_groups(group)
        .timecode_config(
            ml::TimecodeConfig::builder().source(ml::TimecodeConfigSource::from(p.timecode_source.as_str())).build(),
        )
        .avail_configuration(avail)
        .feature_activations(feature_activations())
        .build()
}

/// The schedule actions live control may need that MediaLive gates behind a channel feature:
/// input prepare (a faster unplanned input switch) and per-output static image overlays.
/// Both can only be turned on when the channel is created (or updated while idle), never on a
/// running channel, so every channel ottd makes has them on; they cost nothing unused.
pub fn feature_activations() -> ml::FeatureActivations {
    ml::FeatureActivations::builder()
        .input_prepare_schedule_actions(ml::FeatureActivationsInputPrepareScheduleActions::Enabled)
        .output_static_image_overlay_schedule_actions(
            ml::FeatureActivationsOutputStaticImageOverlayScheduleActions::Enabled,
        )
        .build()
}

/// What MediaLive should expect from the source: its codec (from the workflow, as the sample
/// does), resolution and maximum bitrate (from the profile).
pub fn input_specification(source_codec: Codec, p: &Profile) -> ml::InputSpecification {
    ml::InputSpecification::builder()
        .codec(ml::InputCodec::from(match source_codec {
            Codec::Avc => "AVC",
            Codec::Hevc => "HEVC",
        }))
        .resolution(ml::InputResolution::from(p.input_resolution.as_str()))
        .maximum_bitrate(ml::InputMaximumBitrate::from(p.input_max_bitrate.as_str()))
        .build()
}

/// The audio selector the descriptions name, selecting the source's first audio track.
pub fn audio_selector() -> ml::AudioSelector {
    ml::AudioSelector::builder().name(AUDIO_SELECTOR).build()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::profile::load_dir;

    fn shipped_profiles() -> Vec<Profile> {
        load_dir(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("encoding-profiles")).expect("profiles")
    }

    /// Live control's input prepare and per-output overlays need these at CreateChannel: a
    /// running channel can't turn them on.
    #[test]
    fn every_channel_is_created_with_both_schedule_features_enabled() {
        for p in shipped_profiles() {
            let f = encoder_settings(&p).feature_activations.unwrap_or_else(|| panic!("{}: no activations", p.name));
            assert_eq!(f.input_prepare_schedule_actions().map(|v| v.as_str()), Some("ENABLED"), "{}", p.name);
            assert_eq!(
                f.output_static_image_overlay_schedule_actions().map(|v| v.as_str()),
                Some("ENABLED"),
                "{}",
                p.name
            );
        }
    }

    #[test]
    fn breaks_become_splice_inserts_in_every_output() {
        for p in shipped_profiles() {
            let avail = encoder_settings(&p).avail_configuration.expect("avail configuration");
            let splice = avail.avail_settings().and_then(|s| s.scte35_splice_insert()).expect("splice insert");
            assert_eq!(splice.web_delivery_allowed_flag().map(|v| v.as_str()), Some("FOLLOW"), "{}", p.name);
        }
    }
}
