//! S3: the CloudFront access-log bucket (encrypted, public access blocked, TLS only, object
//! ownership CloudFront standard logging needs), emptied before it is deleted; and the
//! private buckets `bootstrap` keeps ottd's assets in, protected the same way, with ACLs off.

use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, Delete, ObjectIdentifier, ObjectOwnership, OwnershipControls,
    OwnershipControlsRule, PublicAccessBlockConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule, Tag, Tagging,
};

use super::{err, or_absent, AwsError, Tags};

fn what(name: &str) -> String {
    format!("S3 bucket {name}")
}

fn build_err(op: &'static str, name: &str, e: impl std::fmt::Display) -> AwsError {
    AwsError::invalid(op, what(name), e.to_string())
}

/// Create the bucket, then set its protections concurrently.
pub async fn create_log_bucket(c: &aws_sdk_s3::Client, name: &str, region: &str, tags: &Tags) -> Result<(), AwsError> {
    create(c, name, region).await?;
    protect(c, name, tags, ObjectOwnership::ObjectWriter).await
}

/// A bucket only ottd's own principals read: created unless it is already ours, then
/// protected like the log bucket but with ACLs disabled (the bucket owner owns every object).
/// Run again, it sets the same settings again and changes nothing.
pub async fn ensure_private_bucket(
    c: &aws_sdk_s3::Client,
    name: &str,
    region: &str,
    tags: &Tags,
) -> Result<(), AwsError> {
    create(c, name, region).await?;
    protect(c, name, tags, ObjectOwnership::BucketOwnerEnforced).await
}

/// CreateBucket; a bucket of ours that already exists is not an error.
async fn create(c: &aws_sdk_s3::Client, name: &str, region: &str) -> Result<(), AwsError> {
    let mut req = c.create_bucket().bucket(name);
    if region != "us-east-1" {
        req = req.create_bucket_configuration(
            CreateBucketConfiguration::builder().location_constraint(BucketLocationConstraint::from(region)).build(),
        );
    }
    if let Err(e) = req.send().await {
        let e = err("CreateBucket", what(name), e);
        // Our own bucket from an earlier, interrupted attempt.
        if e.code.as_deref() != Some("BucketAlreadyOwnedByYou") {
            return Err(e);
        }
    }
    Ok(())
}

async fn protect(
    c: &aws_sdk_s3::Client,
    name: &str,
    tags: &Tags,
    object_ownership: ObjectOwnership,
) -> Result<(), AwsError> {
    let block = PublicAccessBlockConfiguration::builder()
        .block_public_acls(true)
        .ignore_public_acls(true)
        .block_public_policy(true)
        .restrict_public_buckets(true)
        .build();
    let sse = ServerSideEncryptionConfiguration::builder()
        .rules(
            ServerSideEncryptionRule::builder()
                .apply_server_side_encryption_by_default(
                    ServerSideEncryptionByDefault::builder()
                        .sse_algorithm(ServerSideEncryption::Aes256)
                        .build()
                        .map_err(|e| build_err("PutBucketEncryption", name, e))?,
                )
                .build(),
        )
        .build()
        .map_err(|e| build_err("PutBucketEncryption", name, e))?;
    let ownership = OwnershipControls::builder()
        .rules(
            OwnershipControlsRule::builder()
                .object_ownership(object_ownership)
                .build()
                .map_err(|e| build_err("PutBucketOwnershipControls", name, e))?,
        )
        .build()
        .map_err(|e| build_err("PutBucketOwnershipControls", name, e))?;
    let policy = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "TlsOnly",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [format!("arn:aws:s3:::{name}"), format!("arn:aws:s3:::{name}/*")],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}}
        }]
    })
    .to_string();
    let tag_set: Result<Vec<Tag>, _> = tags.iter().map(|(k, v)| Tag::builder().key(k).value(v).build()).collect();
    let tagging = Tagging::builder()
        .set_tag_set(Some(tag_set.map_err(|e| build_err("PutBucketTagging", name, e))?))
        .build()
        .map_err(|e| build_err("PutBucketTagging", name, e))?;
    let (a, b, c1, d, e) = tokio::join!(
        c.put_public_access_block().bucket(name).public_access_block_configuration(block).send(),
        c.put_bucket_encryption().bucket(name).server_side_encryption_configuration(sse).send(),
        c.put_bucket_ownership_controls().bucket(name).ownership_controls(ownership).send(),
        c.put_bucket_policy().bucket(name).policy(policy).send(),
        c.put_bucket_tagging().bucket(name).tagging(tagging).send(),
    );
    a.map_err(|e| err("PutPublicAccessBlock", what(name), e))?;
    b.map_err(|e| err("PutBucketEncryption", what(name), e))?;
    c1.map_err(|e| err("PutBucketOwnershipControls", what(name), e))?;
    d.map_err(|e| err("PutBucketPolicy", what(name), e))?;
    e.map_err(|e| err("PutBucketTagging", what(name), e))?;
    Ok(())
}

/// The object's user metadata key that holds the SHA-256 of its bytes, as ottd put them.
const SHA256_META: &str = "ottd-sha256";

/// Put `body` at `key` unless the object there already has these bytes and content type
/// (known by the SHA-256 ottd records in its metadata): a rerun writes nothing, and a new
/// body (another ottd version's default) replaces the old. Returns whether it wrote.
pub async fn put_if_changed(
    c: &aws_sdk_s3::Client,
    bucket: &str,
    key: &str,
    body: &'static [u8],
    content_type: &str,
) -> Result<bool, AwsError> {
    let what = format!("S3 object s3://{bucket}/{key}");
    let sha = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(body));
    let head = or_absent(
        c.head_object().bucket(bucket).key(key).send().await.map_err(|e| err("HeadObject", what.clone(), e)),
    )?;
    let same = head.is_some_and(|h| {
        h.metadata().and_then(|m| m.get(SHA256_META)) == Some(&sha) && h.content_type() == Some(content_type)
    });
    if same {
        return Ok(false);
    }
    c.put_object()
        .bucket(bucket)
        .key(key)
        .body(aws_sdk_s3::primitives::ByteStream::from_static(body))
        .content_type(content_type)
        .metadata(SHA256_META, sha)
        .send()
        .await
        .map_err(|e| err("PutObject", what, e))?;
    Ok(true)
}

/// The bucket's tags, or `None` when the bucket does not exist.
pub async fn tags(c: &aws_sdk_s3::Client, name: &str) -> Result<Option<Vec<(String, String)>>, AwsError> {
    let out = c.get_bucket_tagging().bucket(name).send().await.map_err(|e| err("GetBucketTagging", what(name), e));
    // An untagged bucket answers `NoSuchTagSet`, which classifies as not-found: catch it first.
    let out = match out {
        Err(e) if e.code.as_deref() == Some("NoSuchTagSet") => return Ok(Some(Vec::new())),
        out => or_absent(out)?,
    };
    Ok(out.map(|out| out.tag_set().iter().map(|t| (t.key().to_string(), t.value().to_string())).collect()))
}

/// Delete every object (and version), then the bucket. Gone already = done.
pub async fn empty_and_delete(c: &aws_sdk_s3::Client, name: &str) -> Result<u64, AwsError> {
    let mut removed = 0u64;
    loop {
        let page = or_absent(
            c.list_object_versions()
                .bucket(name)
                .max_keys(1000)
                .send()
                .await
                .map_err(|e| err("ListObjectVersions", what(name), e)),
        )?;
        let Some(page) = page else { return Ok(removed) };
        let mut ids: Vec<ObjectIdentifier> = Vec::new();
        for v in page.versions() {
            if let Some(k) = v.key() {
                let id = ObjectIdentifier::builder().key(k).set_version_id(v.version_id().map(str::to_string)).build();
                ids.push(id.map_err(|e| build_err("DeleteObjects", name, e))?);
            }
        }
        for m in page.delete_markers() {
            if let Some(k) = m.key() {
                let id = ObjectIdentifier::builder().key(k).set_version_id(m.version_id().map(str::to_string)).build();
                ids.push(id.map_err(|e| build_err("DeleteObjects", name, e))?);
            }
        }
        if ids.is_empty() {
            break;
        }
        removed += ids.len() as u64;
        let delete = Delete::builder()
            .set_objects(Some(ids))
            .quiet(true)
            .build()
            .map_err(|e| build_err("DeleteObjects", name, e))?;
        c.delete_objects().bucket(name).delete(delete).send().await.map_err(|e| err("DeleteObjects", what(name), e))?;
    }
    or_absent(c.delete_bucket().bucket(name).send().await.map_err(|e| err("DeleteBucket", what(name), e)))?;
    Ok(removed)
}
