//! CloudFront: the distribution in front of the MediaPackage origin, and its two-step removal
//! (disable with the current ETag, wait until Deployed, delete with the new ETag).
//!
//! Cache behaviour follows the AWS sample with AWS's managed policies instead of per-stack
//! copies: manifests and segments use the managed `Elemental-MediaPackage` cache policy
//! (minimum TTL 0, so the origin's Cache-Control decides; cache key = `origin` header and the
//! `aws.manifestfilter`, `m`, `start`, `end` query strings), browsers get the managed
//! `CORS-With-Preflight` response headers, and error responses are cached one second.

use aws_sdk_cloudfront::types as cf;
use aws_smithy_types::error::operation::BuildError;

use super::{err, or_absent, AwsError, Tags};
use crate::config::workflow::CloudFrontParams;
use crate::secret::Redacted;

pub const CDN_HEADER: &str = "X-MediaPackage-CDNIdentifier";
pub const ORIGIN_ID: &str = "mediapackage";
/// Managed cache policy "CachingOptimized".
pub const CACHING_OPTIMIZED: &str = "658327ea-f89d-4fab-a63d-7e88639e58f6";
/// Managed cache policy "Elemental-MediaPackage".
pub const ELEMENTAL_MEDIAPACKAGE: &str = "08627262-05a9-4f76-9ded-b50ca2e3a84f";
/// Managed origin request policy "UserAgentRefererHeaders".
pub const USER_AGENT_REFERER: &str = "acba4595-bd28-49b8-b9fe-13317c0390fa";
/// Managed response headers policy "CORS-With-Preflight".
pub const CORS_WITH_PREFLIGHT: &str = "5cc3b908-e619-4b99-88e5-2cf7f45965bd";
pub const MEDIA_PATTERNS: &[&str] = &["*.m3u8", "*.mpd", "*.ts", "*.mp4"];
pub const ERROR_CODES: &[i32] = &[400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504];
pub const LOG_PREFIX: &str = "distribution-access-logs/";

pub struct DistributionInput<'a> {
    pub caller_reference: &'a str,
    pub comment: &'a str,
    /// Host of the MediaPackage HLS endpoint URL.
    pub origin_host: &'a str,
    pub cdn_identifier: &'a Redacted,
    pub log_bucket: Option<&'a str>,
    pub params: &'a CloudFrontParams,
}

fn methods() -> Result<cf::AllowedMethods, BuildError> {
    let get_head = vec![cf::Method::Get, cf::Method::Head];
    cf::AllowedMethods::builder()
        .quantity(2)
        .set_items(Some(get_head.clone()))
        .cached_methods(cf::CachedMethods::builder().quantity(2).set_items(Some(get_head)).build()?)
        .build()
}

/// The whole DistributionConfig, pure so it can be checked without AWS.
pub fn distribution_config(d: &DistributionInput<'_>) -> Result<cf::DistributionConfig, BuildError> {
    let header =
        cf::OriginCustomHeader::builder().header_name(CDN_HEADER).header_value(d.cdn_identifier.expose()).build()?;
    let origin = cf::Origin::builder()
        .id(ORIGIN_ID)
        .domain_name(d.origin_host)
        .origin_path("")
        .custom_headers(cf::CustomHeaders::builder().quantity(1).items(header).build()?)
        .custom_origin_config(
            cf::CustomOriginConfig::builder()
                .http_port(80)
                .https_port(443)
                .origin_protocol_policy(cf::OriginProtocolPolicy::HttpsOnly)
                .origin_ssl_protocols(
                    cf::OriginSslProtocols::builder().quantity(1).items(cf::SslProtocol::TlSv12).build()?,
                )
                .origin_read_timeout(30)
                .origin_keepalive_timeout(5)
                .build()?,
        )
        .connection_attempts(2)
        .connection_timeout(5)
        .build()?;
    let default = cf::DefaultCacheBehavior::builder()
        .target_origin_id(ORIGIN_ID)
        .viewer_protocol_policy(cf::ViewerProtocolPolicy::RedirectToHttps)
        .allowed_methods(methods()?)
        .compress(true)
        .cache_policy_id(CACHING_OPTIMIZED)
        .origin_request_policy_id(USER_AGENT_REFERER)
        .response_headers_policy_id(CORS_WITH_PREFLIGHT)
        .build()?;
    let mut behaviors = Vec::new();
    for pattern in MEDIA_PATTERNS {
        behaviors.push(
            cf::CacheBehavior::builder()
                .path_pattern(*pattern)
                .target_origin_id(ORIGIN_ID)
                .viewer_protocol_policy(cf::ViewerProtocolPolicy::RedirectToHttps)
                .allowed_methods(methods()?)
                .compress(true)
                .cache_policy_id(ELEMENTAL_MEDIAPACKAGE)
                .origin_request_policy_id(USER_AGENT_REFERER)
                .response_headers_policy_id(CORS_WITH_PREFLIGHT)
                .build()?,
        );
    }
    let mut errors = Vec::new();
    for code in ERROR_CODES {
        errors.push(
            cf::CustomErrorResponse::builder()
                .error_code(*code)
                .error_caching_min_ttl(d.params.error_caching_min_ttl)
                .build()?,
        );
    }
    let logging = match d.log_bucket {
        Some(bucket) => cf::LoggingConfig::builder()
            .enabled(true)
            .include_cookies(false)
            .bucket(format!("{bucket}.s3.amazonaws.com"))
            .prefix(LOG_PREFIX)
            .build(),
        None => cf::LoggingConfig::builder().enabled(false).include_cookies(false).bucket("").prefix("").build(),
    };
    cf::DistributionConfig::builder()
        .caller_reference(d.caller_reference)
        .comment(d.comment)
        .enabled(true)
        .origins(cf::Origins::builder().quantity(1).items(origin).build()?)
        .default_cache_behavior(default)
        .cache_behaviors(
            cf::CacheBehaviors::builder().quantity(behaviors.len() as i32).set_items(Some(behaviors)).build()?,
        )
        .custom_error_responses(
            cf::CustomErrorResponses::builder().quantity(errors.len() as i32).set_items(Some(errors)).build()?,
        )
        .logging(logging)
        .price_class(cf::PriceClass::from(d.params.price_class.as_str()))
        .http_version(cf::HttpVersion::Http2)
        .is_ipv6_enabled(true)
        .viewer_certificate(cf::ViewerCertificate::builder().cloud_front_default_certificate(true).build())
        .build()
}

pub struct Distribution {
    pub id: String,
    pub arn: String,
    pub domain: String,
    /// `InProgress` or `Deployed`.
    pub status: String,
    pub enabled: bool,
}

fn what(id: &str) -> String {
    format!("CloudFront distribution {id}")
}

pub async fn create(
    c: &aws_sdk_cloudfront::Client,
    d: &DistributionInput<'_>,
    tags: &Tags,
) -> Result<Distribution, AwsError> {
    let name = what(d.caller_reference);
    let config = distribution_config(d)
        .map_err(|e| AwsError::invalid("CreateDistributionWithTags", name.clone(), e.to_string()))?;
    let tag_items: Result<Vec<cf::Tag>, BuildError> =
        tags.iter().map(|(k, v)| cf::Tag::builder().key(k).value(v).build()).collect();
    let tag_items =
        tag_items.map_err(|e| AwsError::invalid("CreateDistributionWithTags", name.clone(), e.to_string()))?;
    let with_tags = cf::DistributionConfigWithTags::builder()
        .distribution_config(config)
        .tags(cf::Tags::builder().set_items(Some(tag_items)).build())
        .build();
    let out = c
        .create_distribution_with_tags()
        .distribution_config_with_tags(with_tags)
        .send()
        .await
        .map_err(|e| err("CreateDistributionWithTags", name.clone(), e))?;
    let dist =
        out.distribution.ok_or_else(|| AwsError::invalid("CreateDistributionWithTags", name, "no distribution"))?;
    Ok(Distribution { id: dist.id, arn: dist.arn, domain: dist.domain_name, status: dist.status, enabled: true })
}

/// Find the distribution with this comment and caller reference (after a lost response).
pub async fn find(
    c: &aws_sdk_cloudfront::Client,
    comment: &str,
    caller_reference: &str,
) -> Result<Option<String>, AwsError> {
    let mut marker: Option<String> = None;
    loop {
        let out = c
            .list_distributions()
            .set_marker(marker.clone())
            .send()
            .await
            .map_err(|e| err("ListDistributions", "CloudFront distributions", e))?;
        let Some(list) = out.distribution_list else { return Ok(None) };
        for s in list.items() {
            if s.comment() == comment {
                let cfg = c
                    .get_distribution_config()
                    .id(s.id())
                    .send()
                    .await
                    .map_err(|e| err("GetDistributionConfig", what(s.id()), e))?;
                if cfg.distribution_config().map(|d| d.caller_reference()) == Some(caller_reference) {
                    return Ok(Some(s.id().to_string()));
                }
            }
        }
        match list.next_marker() {
            Some(m) if list.is_truncated() => marker = Some(m.to_string()),
            _ => return Ok(None),
        }
    }
}

pub async fn get(c: &aws_sdk_cloudfront::Client, id: &str) -> Result<Option<Distribution>, AwsError> {
    let out = or_absent(c.get_distribution().id(id).send().await.map_err(|e| err("GetDistribution", what(id), e)))?;
    Ok(out.and_then(|out| out.distribution).map(|d| Distribution {
        enabled: d.distribution_config().map(|c| c.enabled()).unwrap_or(false),
        id: d.id,
        arn: d.arn,
        domain: d.domain_name,
        status: d.status,
    }))
}

pub async fn tags(c: &aws_sdk_cloudfront::Client, arn: &str) -> Result<Vec<(String, String)>, AwsError> {
    let out =
        c.list_tags_for_resource().resource(arn).send().await.map_err(|e| err("ListTagsForResource", what(arn), e))?;
    Ok(out
        .tags()
        .map(|t| t.items().iter().map(|t| (t.key().to_string(), t.value().unwrap_or_default().to_string())).collect())
        .unwrap_or_default())
}

/// Disable with the current ETag. `Ok(false)` when the distribution is gone.
pub async fn disable(c: &aws_sdk_cloudfront::Client, id: &str) -> Result<bool, AwsError> {
    let out = or_absent(
        c.get_distribution_config().id(id).send().await.map_err(|e| err("GetDistributionConfig", what(id), e)),
    )?;
    let Some(out) = out else { return Ok(false) };
    let etag = out.e_tag().unwrap_or_default().to_string();
    let Some(mut config) = out.distribution_config else { return Ok(false) };
    if !config.enabled {
        return Ok(true);
    }
    config.enabled = false;
    c.update_distribution()
        .id(id)
        .if_match(etag)
        .distribution_config(config)
        .send()
        .await
        .map_err(|e| err("UpdateDistribution", what(id), e))?;
    Ok(true)
}

/// Delete a disabled, Deployed distribution with its current ETag. Gone already = done.
pub async fn delete(c: &aws_sdk_cloudfront::Client, id: &str) -> Result<(), AwsError> {
    let out = or_absent(c.get_distribution().id(id).send().await.map_err(|e| err("GetDistribution", what(id), e)))?;
    let Some(out) = out else { return Ok(()) };
    let etag = out.e_tag().unwrap_or_default().to_string();
    or_absent(
        c.delete_distribution().id(id).if_match(etag).send().await.map_err(|e| err("DeleteDistribution", what(id), e)),
    )?;
    Ok(())
}
