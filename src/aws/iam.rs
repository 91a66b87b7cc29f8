//! IAM, for `ottd bootstrap` only: the two service roles the workflow needs, least privilege.
//! The MediaPackage role may read only secrets under ottd's own name prefix; the MediaLive role
//! may read only the slate images in ottd's assets bucket (a policy of its own, see
//! [`grant_slate_read`]).

use super::{err, or_absent, AwsError};

pub struct Roles {
    pub medialive: String,
    pub mediapackage: String,
}

fn trust(service: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]
    })
    .to_string()
}

/// What MediaLive needs for a MediaPackage output, MediaConnect inputs and channel logs.
pub fn medialive_policy() -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["mediapackage:DescribeChannel"], "Resource": "*"},
            {"Effect": "Allow", "Action": [
                "mediaconnect:ManagedDescribeFlow", "mediaconnect:ManagedAddOutput", "mediaconnect:ManagedRemoveOutput"
            ], "Resource": "*"},
            {"Effect": "Allow", "Action": [
                "logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents",
                "logs:DescribeLogStreams", "logs:DescribeLogGroups"
            ], "Resource": "arn:aws:logs:*:*:log-group:ElementalMediaLive*"}
        ]
    })
    .to_string()
}

/// Read access to ottd's CDN secrets only (`<prefix>/...`); ListSecrets has no resource
/// scope in IAM and reveals names, not values.
pub fn mediapackage_policy(account: &str, prefix: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": [
                "secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret", "secretsmanager:ListSecretVersionIds"
            ], "Resource": format!("arn:aws:secretsmanager:*:{account}:secret:{prefix}/*")},
            {"Effect": "Allow", "Action": ["secretsmanager:ListSecrets"], "Resource": "*"}
        ]
    })
    .to_string()
}

/// The name of the inline policy on the MediaLive role that lets it read slate images.
pub const SLATE_POLICY: &str = "ottd-slate";

/// Read access to the slate images of the assets bucket, and nothing else of it: MediaLive
/// fetches a static image with the channel's role when its URI is `s3://` or `s3ssl://`.
pub fn slate_policy(bucket: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadSlates", "Effect": "Allow", "Action": ["s3:GetObject"],
             "Resource": format!("arn:aws:s3:::{bucket}/slate/*")}
        ]
    })
    .to_string()
}

/// The MediaLive role's name for a prefix (the role `bootstrap` makes).
pub fn medialive_role_name(prefix: &str) -> String {
    format!("{prefix}-medialive")
}

/// Put [`slate_policy`] on the MediaLive role. A policy apart from `ottd-medialive` because it
/// names the assets bucket, whose name holds the account id that only the role's ARN tells.
/// PutRolePolicy replaces a policy of the same name, so a rerun leaves one, unchanged.
pub async fn grant_slate_read(c: &aws_sdk_iam::Client, prefix: &str, bucket: &str) -> Result<(), AwsError> {
    let role = medialive_role_name(prefix);
    c.put_role_policy()
        .role_name(&role)
        .policy_name(SLATE_POLICY)
        .policy_document(slate_policy(bucket))
        .send()
        .await
        .map_err(|e| err("PutRolePolicy", format!("IAM role {role}"), e))?;
    Ok(())
}

async fn ensure_role(c: &aws_sdk_iam::Client, name: &str, service: &str) -> Result<String, AwsError> {
    let found = or_absent(
        c.get_role().role_name(name).send().await.map_err(|e| err("GetRole", format!("IAM role {name}"), e)),
    )?;
    if let Some(r) = found.and_then(|out| out.role) {
        return Ok(r.arn);
    }
    let out = c
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust(service))
        .description("ottd: live OTT workflow")
        .tags(
            aws_sdk_iam::types::Tag::builder()
                .key("ottd:managed-by")
                .value("ottd")
                .build()
                .map_err(|e| AwsError::invalid("CreateRole", name, e.to_string()))?,
        )
        .send()
        .await
        .map_err(|e| err("CreateRole", format!("IAM role {name}"), e))?;
    out.role.map(|r| r.arn).ok_or_else(|| AwsError::invalid("CreateRole", name, "no role in the response"))
}

/// `arn:aws:iam::123456789012:role/x` -> `123456789012`.
pub fn account_of(arn: &str) -> Option<&str> {
    arn.split(':').nth(4).filter(|a| !a.is_empty())
}

pub async fn bootstrap(c: &aws_sdk_iam::Client, prefix: &str) -> Result<Roles, AwsError> {
    let ml_name = medialive_role_name(prefix);
    let mp_name = format!("{prefix}-mediapackage");
    let medialive = ensure_role(c, &ml_name, "medialive.amazonaws.com").await?;
    let account = account_of(&medialive)
        .ok_or_else(|| AwsError::invalid("CreateRole", ml_name.clone(), "role ARN has no account"))?
        .to_string();
    c.put_role_policy()
        .role_name(&ml_name)
        .policy_name("ottd-medialive")
        .policy_document(medialive_policy())
        .send()
        .await
        .map_err(|e| err("PutRolePolicy", format!("IAM role {ml_name}"), e))?;
    let mediapackage = ensure_role(c, &mp_name, "mediapackage.amazonaws.com").await?;
    c.put_role_policy()
        .role_name(&mp_name)
        .policy_name("ottd-cdn-secrets")
        .policy_document(mediapackage_policy(&account, prefix))
        .send()
        .await
        .map_err(|e| err("PutRolePolicy", format!("IAM role {mp_name}"), e))?;
    Ok(Roles { medialive, mediapackage })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_medialive_role_reads_only_slates_of_the_assets_bucket() {
        let v: serde_json::Value =
            serde_json::from_str(&slate_policy("ottd-assets-123456789012-eu-west-1")).expect("json");
        let statements = v["Statement"].as_array().expect("statements");
        assert_eq!(statements.len(), 1);
        assert_eq!(statements[0]["Action"], serde_json::json!(["s3:GetObject"]));
        assert_eq!(statements[0]["Resource"], "arn:aws:s3:::ottd-assets-123456789012-eu-west-1/slate/*");
        assert_eq!(account_of("arn:aws:iam::123456789012:role/ottd-medialive"), Some("123456789012"));
        assert_eq!(account_of("arn:aws:iam:::role/x"), None);
    }
}
