//! Secrets Manager: the CDN-authorization secret MediaPackage checks CloudFront's header against.

use aws_sdk_secretsmanager::types::Tag;

use super::{err, or_absent, AwsError, Tags};
use crate::secret::Redacted;

/// The JSON key MediaPackage reads from the secret.
pub const CDN_IDENTIFIER_KEY: &str = "MediaPackageCDNIdentifier";

pub struct Found {
    pub arn: String,
    pub tags: Vec<(String, String)>,
}

fn what(name: &str) -> String {
    format!("secret {name}")
}

/// Create the secret; the name is deterministic and the token stable, so a retry after a
/// lost response either returns the same version or answers `ResourceExistsException`.
pub async fn create(
    c: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &Redacted,
    token: &str,
    tags: &Tags,
) -> Result<String, AwsError> {
    let body = serde_json::json!({ CDN_IDENTIFIER_KEY: value.expose() }).to_string();
    let out = c
        .create_secret()
        .name(name)
        .description("ottd: CloudFront to MediaPackage CDN authorization")
        .secret_string(body)
        .client_request_token(token)
        .set_tags(Some(tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect()))
        .send()
        .await
        .map_err(|e| err("CreateSecret", what(name), e))?;
    out.arn.ok_or_else(|| AwsError::invalid("CreateSecret", what(name), "no ARN in the response"))
}

pub async fn describe(c: &aws_sdk_secretsmanager::Client, name: &str) -> Result<Option<Found>, AwsError> {
    let out =
        or_absent(c.describe_secret().secret_id(name).send().await.map_err(|e| err("DescribeSecret", what(name), e)))?;
    let Some(out) = out.filter(|out| out.deleted_date.is_none()) else { return Ok(None) };
    let tags = out
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or_default().to_string(), t.value().unwrap_or_default().to_string()))
        .collect();
    Ok(out.arn.map(|arn| Found { arn, tags }))
}

pub async fn value(c: &aws_sdk_secretsmanager::Client, name: &str) -> Result<Redacted, AwsError> {
    let out = c.get_secret_value().secret_id(name).send().await.map_err(|e| err("GetSecretValue", what(name), e))?;
    let text = out.secret_string().unwrap_or_default();
    let json: serde_json::Value = serde_json::from_str(text)
        .map_err(|_| AwsError::invalid("GetSecretValue", what(name), "secret is not JSON"))?;
    json.get(CDN_IDENTIFIER_KEY)
        .and_then(|v| v.as_str())
        .map(|s| Redacted::new(s.to_string()))
        .ok_or_else(|| AwsError::invalid("GetSecretValue", what(name), format!("secret has no {CDN_IDENTIFIER_KEY}")))
}

/// Delete at once (no recovery window): the value is ottd's own and the name is never reused.
pub async fn delete(c: &aws_sdk_secretsmanager::Client, name: &str) -> Result<(), AwsError> {
    or_absent(
        c.delete_secret()
            .secret_id(name)
            .force_delete_without_recovery(true)
            .send()
            .await
            .map_err(|e| err("DeleteSecret", what(name), e)),
    )?;
    Ok(())
}
