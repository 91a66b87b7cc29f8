//! The assets bucket `ottd bootstrap` makes once per prefix, account and region: the files
//! MediaLive must read from S3, which today is the default slate image (MediaLive takes a
//! static image from S3 or HTTPS only, not from the request).
//!
//! The bucket is private and protected like the log bucket (public access blocked, SSE-S3,
//! TLS only, ACLs off); the MediaLive role may read its `slate/` folder and nothing else. The
//! TLS-only policy is why the URI is `s3ssl://`: MediaLive reads an `s3://` image over plain
//! HTTP, which the bucket refuses.

use super::{iam, s3, AwsError};
use crate::plan::TAG_MANAGED_BY;

/// The shipped default slate: 1280x720, 8-bit RGBA PNG, "We'll be right back".
pub const DEFAULT_SLATE: &[u8] = include_bytes!("../../config/slate.png");
/// Where the default slate is kept in the bucket (the MediaLive role reads `slate/*`).
pub const DEFAULT_SLATE_KEY: &str = "slate/default.png";

/// `<prefix>-assets-<account>-<region>`: S3 names are global, so the account and region make
/// it ottd's own in every account and region it runs in. At most 12 + 8 + 12 + 1 + the
/// region's length characters, well within S3's 63.
pub fn bucket_name(prefix: &str, account: &str, region: &str) -> Result<String, String> {
    let name = format!("{prefix}-assets-{account}-{region}");
    check_bucket_name(&name)?;
    Ok(name)
}

/// S3's naming rules for a general purpose bucket, as far as this name can break them.
fn check_bucket_name(name: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("`{name}` can't be an S3 bucket name: {why}"));
    if !(3..=63).contains(&name.len()) {
        return bad("it must be 3 to 63 characters");
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.') {
        return bad("only a-z, 0-9, - and . are allowed");
    }
    let alnum = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    if !alnum(name.chars().next()) || !alnum(name.chars().last()) {
        return bad("it must start and end with a letter or a digit");
    }
    if name.starts_with("xn--") || name.starts_with("sthree-") || name.contains("..") {
        return bad("S3 reserves names starting with xn-- or sthree-, and two dots in a row");
    }
    Ok(())
}

/// The URI MediaLive takes for an object of the bucket (over TLS, see the module's note).
pub fn uri(bucket: &str, key: &str) -> String {
    format!("s3ssl://{bucket}/{key}")
}

/// Make the bucket, put the default slate in it, let the MediaLive role read it. Returns the
/// default slate's URI. Everything is converged, not created: run again, it finds the bucket
/// and the object as they are and writes no object.
pub async fn ensure(
    s3c: &aws_sdk_s3::Client,
    iamc: &aws_sdk_iam::Client,
    prefix: &str,
    medialive_role_arn: &str,
    region: &str,
) -> Result<String, AwsError> {
    let account = iam::account_of(medialive_role_arn).ok_or_else(|| {
        AwsError::invalid("CreateBucket", "S3 assets bucket", format!("role ARN {medialive_role_arn} has no account"))
    })?;
    let bucket = bucket_name(prefix, account, region)
        .map_err(|why| AwsError::invalid("CreateBucket", "S3 assets bucket", why))?;
    let tags = [(TAG_MANAGED_BY.to_string(), "ottd".to_string())];
    s3::ensure_private_bucket(s3c, &bucket, region, &tags).await?;
    if s3::put_if_changed(s3c, &bucket, DEFAULT_SLATE_KEY, DEFAULT_SLATE, "image/png").await? {
        tracing::info!(bucket = %bucket, key = DEFAULT_SLATE_KEY, "uploaded the default slate");
    }
    iam::grant_slate_read(iamc, prefix, &bucket).await?;
    Ok(uri(&bucket, DEFAULT_SLATE_KEY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_is_named_for_prefix_account_and_region() {
        assert_eq!(
            bucket_name("ottd", "123456789012", "eu-west-1").as_deref(),
            Ok("ottd-assets-123456789012-eu-west-1")
        );
        // The longest prefix ottd takes and a long region still fit.
        let long = bucket_name("abcdefghijkl", "123456789012", "ap-southeast-2").expect("fits");
        assert!(long.len() <= 63, "{long}");
        assert!(bucket_name("xn-", "123456789012", "us-east-1").expect_err("reserved").contains("xn--"));
        assert!(bucket_name("ottd", "123456789012", "US_EAST_1").is_err());
        assert_eq!(uri("b", DEFAULT_SLATE_KEY), "s3ssl://b/slate/default.png");
        assert!(crate::config::workflow::check_slate_uri(&uri("ottd-assets-1-r", DEFAULT_SLATE_KEY)).is_ok());
    }

    /// MediaLive overlays 32-bit images only: the PNG header must say 8-bit RGBA (colour
    /// type 6), at the size the README promises.
    #[test]
    fn the_default_slate_is_a_720p_rgba_png_and_small() {
        let png = DEFAULT_SLATE;
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        assert_eq!(&png[12..16], b"IHDR");
        let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        assert_eq!((be(&png[16..20]), be(&png[20..24])), (1280, 720));
        assert_eq!((png[24], png[25]), (8, 6), "bit depth 8, colour type RGBA");
        assert!(png.len() < 60 * 1024, "{} bytes", png.len());
    }
}
