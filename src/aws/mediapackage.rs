//! MediaPackage (v1): the channel MediaLive pushes to and its origin endpoints (HLS, DASH,
//! CMAF, optional MSS), each with CDN authorization, every parameter mapped as the AWS sample
//! maps it.

use std::collections::HashMap;

use aws_sdk_mediapackage::types as mp;

use super::{err, or_absent, AwsError, Tags};
use crate::config::workflow::{MediaPackageParams, PeriodTrigger, StreamSelection};
use crate::plan::Packaging;

fn tag_map(tags: &Tags) -> HashMap<String, String> {
    tags.iter().cloned().collect()
}

pub struct Found {
    pub arn: String,
    pub tags: Vec<(String, String)>,
}

pub async fn create_channel(
    c: &aws_sdk_mediapackage::Client,
    id: &str,
    event: &str,
    tags: &Tags,
) -> Result<String, AwsError> {
    let out = c
        .create_channel()
        .id(id)
        .description(format!("ottd event {event}"))
        .set_tags(Some(tag_map(tags)))
        .send()
        .await
        .map_err(|e| err("CreateChannel", format!("MediaPackage channel {id}"), e))?;
    out.arn.ok_or_else(|| AwsError::invalid("CreateChannel", format!("MediaPackage channel {id}"), "no ARN"))
}

pub async fn describe_channel(c: &aws_sdk_mediapackage::Client, id: &str) -> Result<Option<Found>, AwsError> {
    let out = or_absent(
        c.describe_channel()
            .id(id)
            .send()
            .await
            .map_err(|e| err("DescribeChannel", format!("MediaPackage channel {id}"), e)),
    )?;
    Ok(out.map(|out| Found {
        arn: out.arn.unwrap_or_default(),
        tags: out.tags.unwrap_or_default().into_iter().collect(),
    }))
}

pub async fn delete_channel(c: &aws_sdk_mediapackage::Client, id: &str) -> Result<(), AwsError> {
    or_absent(
        c.delete_channel()
            .id(id)
            .send()
            .await
            .map_err(|e| err("DeleteChannel", format!("MediaPackage channel {id}"), e)),
    )?;
    Ok(())
}

/// The SCTE-35 message types that become ad markers. `SPLICE_INSERT` is what MediaLive
/// sends for a scheduled break (the channel's avail configuration is splice insert); the rest
/// carry through what a source's own time signals say.
const AD_TRIGGERS: &[mp::AdTriggersElement] = &[
    mp::AdTriggersElement::Break,
    mp::AdTriggersElement::DistributorAdvertisement,
    mp::AdTriggersElement::DistributorOverlayPlacementOpportunity,
    mp::AdTriggersElement::DistributorPlacementOpportunity,
    mp::AdTriggersElement::ProviderAdvertisement,
    mp::AdTriggersElement::ProviderOverlayPlacementOpportunity,
    mp::AdTriggersElement::ProviderPlacementOpportunity,
    mp::AdTriggersElement::SpliceInsert,
];

/// AWS's default, said explicitly: time signals count as ads when their segmentation
/// descriptors carry delivery restrictions. Splice inserts have no such flags and are ads
/// whenever `SPLICE_INSERT` is among the triggers, so a break marks every packaging below
/// but MSS, whose package has no SCTE-35 settings on MediaPackage v1.
const ADS_ON_DELIVERY_RESTRICTIONS: mp::AdsOnDeliveryRestrictions = mp::AdsOnDeliveryRestrictions::Restricted;

fn selection(s: &StreamSelection) -> mp::StreamSelection {
    mp::StreamSelection::builder()
        .max_video_bits_per_second(s.max_video_bits_per_second)
        .min_video_bits_per_second(s.min_video_bits_per_second)
        .stream_order(mp::StreamOrder::from(s.stream_order.as_str()))
        .build()
}

/// `ADS` is the only trigger MediaPackage knows; "no period triggers" is an empty list (the
/// sample's one-item list would send `NONE`, which the API rejects). MediaPackage v1 writes
/// SCTE-35 into an MPD as the EventStream of a new period, so `ADS` is also what makes a break
/// show in DASH at all.
fn period_triggers(t: PeriodTrigger) -> Vec<mp::PeriodTriggersElement> {
    match t {
        PeriodTrigger::Ads => vec![mp::PeriodTriggersElement::Ads],
        PeriodTrigger::None => Vec::new(),
    }
}

/// The request body for one endpoint, pure so it can be checked without AWS.
pub struct EndpointSpec {
    pub hls: Option<mp::HlsPackage>,
    pub dash: Option<mp::DashPackage>,
    pub cmaf: Option<mp::CmafPackageCreateOrUpdateParameters>,
    pub mss: Option<mp::MssPackage>,
}

pub fn endpoint_spec(p: Packaging, id: &str, m: &MediaPackageParams) -> EndpointSpec {
    let ad_markers = mp::AdMarkers::from(m.ad_markers.as_str());
    let mut spec = EndpointSpec { hls: None, dash: None, cmaf: None, mss: None };
    match p {
        Packaging::Hls => {
            spec.hls = Some(
                mp::HlsPackage::builder()
                    .ad_markers(ad_markers)
                    .set_ad_triggers(Some(AD_TRIGGERS.to_vec()))
                    .ads_on_delivery_restrictions(ADS_ON_DELIVERY_RESTRICTIONS)
                    .segment_duration_seconds(m.hls_segment_duration_seconds)
                    .playlist_window_seconds(m.hls_playlist_window_seconds)
                    .program_date_time_interval_seconds(m.hls_program_date_interval)
                    .include_iframe_only_stream(m.hls_include_i_frame)
                    .use_audio_rendition_group(m.hls_audio_rendition_group)
                    .stream_selection(selection(&m.hls_stream))
                    .build(),
            )
        }
        Packaging::Dash => {
            spec.dash = Some(
                mp::DashPackage::builder()
                    .set_ad_triggers(Some(AD_TRIGGERS.to_vec()))
                    .ads_on_delivery_restrictions(ADS_ON_DELIVERY_RESTRICTIONS)
                    .set_period_triggers(Some(period_triggers(m.dash_period_triggers)))
                    .segment_duration_seconds(m.dash_segment_duration_seconds)
                    .min_update_period_seconds(m.dash_segment_duration_seconds)
                    .min_buffer_time_seconds(10)
                    .segment_template_format(mp::SegmentTemplateFormat::from(m.dash_segment_template.as_str()))
                    .profile(mp::Profile::from(m.dash_profile.as_str()))
                    .manifest_window_seconds(m.dash_manifest_window_seconds)
                    .stream_selection(selection(&m.dash_stream))
                    .build(),
            )
        }
        Packaging::Cmaf => {
            let manifest = mp::HlsManifestCreateOrUpdateParameters::builder()
                .id(id)
                .manifest_name("index")
                .playlist_window_seconds(m.cmaf_playlist_window_seconds)
                .include_iframe_only_stream(m.cmaf_include_i_frame)
                .program_date_time_interval_seconds(m.cmaf_program_date_interval)
                .ad_markers(ad_markers)
                .set_ad_triggers(Some(AD_TRIGGERS.to_vec()))
                .ads_on_delivery_restrictions(ADS_ON_DELIVERY_RESTRICTIONS)
                .build();
            spec.cmaf = Some(
                mp::CmafPackageCreateOrUpdateParameters::builder()
                    .segment_duration_seconds(m.cmaf_segment_duration_seconds)
                    .segment_prefix("cmaf")
                    .stream_selection(selection(&m.cmaf_stream))
                    .hls_manifests(manifest)
                    .build(),
            )
        }
        Packaging::Mss => {
            spec.mss = Some(
                mp::MssPackage::builder()
                    .segment_duration_seconds(m.mss_segment_duration_seconds)
                    .manifest_window_seconds(m.mss_manifest_window_seconds)
                    .stream_selection(selection(&m.mss_stream))
                    .build(),
            )
        }
    }
    spec
}

/// What ottd keeps of an endpoint: its playback URL (for CMAF, the HLS manifest's URL).
pub struct Endpoint {
    pub arn: String,
    pub url: String,
    pub tags: Vec<(String, String)>,
}

fn playback_url(p: Packaging, url: Option<&str>, cmaf: Option<&mp::CmafPackage>) -> String {
    if p == Packaging::Cmaf {
        if let Some(u) = cmaf.and_then(|c| c.hls_manifests().first()).and_then(|m| m.url()) {
            return u.to_string();
        }
    }
    url.unwrap_or_default().to_string()
}

#[allow(clippy::too_many_arguments)]
pub async fn create_endpoint(
    c: &aws_sdk_mediapackage::Client,
    p: Packaging,
    channel_id: &str,
    id: &str,
    params: &MediaPackageParams,
    secret_arn: &str,
    role_arn: &str,
    tags: &Tags,
) -> Result<Endpoint, AwsError> {
    let spec = endpoint_spec(p, id, params);
    let auth = mp::Authorization::builder().cdn_identifier_secret(secret_arn).secrets_role_arn(role_arn).build();
    let out = c
        .create_origin_endpoint()
        .channel_id(channel_id)
        .id(id)
        .description(format!("ottd {} endpoint", p.suffix()))
        .authorization(auth)
        .set_hls_package(spec.hls)
        .set_dash_package(spec.dash)
        .set_cmaf_package(spec.cmaf)
        .set_mss_package(spec.mss)
        .set_tags(Some(tag_map(tags)))
        .send()
        .await
        .map_err(|e| err("CreateOriginEndpoint", format!("MediaPackage endpoint {id}"), e))?;
    Ok(Endpoint {
        url: playback_url(p, out.url(), out.cmaf_package()),
        arn: out.arn.unwrap_or_default(),
        tags: out.tags.unwrap_or_default().into_iter().collect(),
    })
}

pub async fn describe_endpoint(
    c: &aws_sdk_mediapackage::Client,
    p: Packaging,
    id: &str,
) -> Result<Option<Endpoint>, AwsError> {
    let out = or_absent(
        c.describe_origin_endpoint()
            .id(id)
            .send()
            .await
            .map_err(|e| err("DescribeOriginEndpoint", format!("MediaPackage endpoint {id}"), e)),
    )?;
    Ok(out.map(|out| Endpoint {
        url: playback_url(p, out.url(), out.cmaf_package()),
        arn: out.arn.unwrap_or_default(),
        tags: out.tags.unwrap_or_default().into_iter().collect(),
    }))
}

pub async fn delete_endpoint(c: &aws_sdk_mediapackage::Client, id: &str) -> Result<(), AwsError> {
    or_absent(
        c.delete_origin_endpoint()
            .id(id)
            .send()
            .await
            .map_err(|e| err("DeleteOriginEndpoint", format!("MediaPackage endpoint {id}"), e)),
    )?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::doc::Source;
    use crate::config::workflow::Workflow;

    fn params(extra: &str) -> MediaPackageParams {
        let text = format!("[mediaLive]\npriUrl = \"https://a/x.m3u8\"\nsecUrl = \"https://b/x.m3u8\"\n{extra}");
        Workflow::from_source(&Source::inline("w.toml", &text)).expect("valid").media_package
    }

    fn triggers_splice_insert(t: &[mp::AdTriggersElement]) -> bool {
        t.contains(&mp::AdTriggersElement::SpliceInsert)
    }

    /// A break scheduled on MediaLive (a splice insert) must reach every manifest that can
    /// carry it: the HLS and CMAF playlists' cue tags, the DASH MPD's ad period.
    #[test]
    fn every_packaging_that_can_carry_scte35_passes_splice_inserts_by_default() {
        let m = params("");
        let restricted = Some(&mp::AdsOnDeliveryRestrictions::Restricted);

        let hls = endpoint_spec(Packaging::Hls, "e-hls", &m).hls.expect("hls");
        assert_eq!(hls.ad_markers(), Some(&mp::AdMarkers::Passthrough));
        assert!(triggers_splice_insert(hls.ad_triggers()), "{:?}", hls.ad_triggers());
        assert_eq!(hls.ads_on_delivery_restrictions(), restricted);

        let cmaf = endpoint_spec(Packaging::Cmaf, "e-cmaf", &m).cmaf.expect("cmaf");
        let manifest = &cmaf.hls_manifests()[0];
        assert_eq!(manifest.ad_markers(), Some(&mp::AdMarkers::Passthrough));
        assert!(triggers_splice_insert(manifest.ad_triggers()), "{:?}", manifest.ad_triggers());
        assert_eq!(manifest.ads_on_delivery_restrictions(), restricted);

        let dash = endpoint_spec(Packaging::Dash, "e-dash", &m).dash.expect("dash");
        assert!(triggers_splice_insert(dash.ad_triggers()), "{:?}", dash.ad_triggers());
        assert_eq!(dash.ads_on_delivery_restrictions(), restricted);
        assert_eq!(dash.period_triggers(), [mp::PeriodTriggersElement::Ads]);

        // MSS: MediaPackage v1's MssPackage has no ad settings to pass; nothing else is set.
        let spec = endpoint_spec(Packaging::Mss, "e-mss", &m);
        assert!(spec.mss.is_some() && spec.hls.is_none() && spec.dash.is_none() && spec.cmaf.is_none());
    }

    #[test]
    fn the_workflow_may_turn_markers_off_and_its_choice_is_sent() {
        let m = params("[mediaPackage]\nad_markers = \"SCTE35_ENHANCED\"\ndash_period_triggers = \"NONE\"\n");
        let hls = endpoint_spec(Packaging::Hls, "e-hls", &m).hls.expect("hls");
        assert_eq!(hls.ad_markers(), Some(&mp::AdMarkers::Scte35Enhanced));
        let cmaf = endpoint_spec(Packaging::Cmaf, "e-cmaf", &m).cmaf.expect("cmaf");
        assert_eq!(cmaf.hls_manifests()[0].ad_markers(), Some(&mp::AdMarkers::Scte35Enhanced));
        let dash = endpoint_spec(Packaging::Dash, "e-dash", &m).dash.expect("dash");
        assert!(dash.period_triggers().is_empty(), "NONE is an empty list, not `NONE`");
        let off = params("[mediaPackage]\nad_markers = \"NONE\"\n");
        let hls = endpoint_spec(Packaging::Hls, "e-hls", &off).hls.expect("hls");
        assert_eq!(hls.ad_markers(), Some(&mp::AdMarkers::None));
    }
}
