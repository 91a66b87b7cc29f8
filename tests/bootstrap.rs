//! `ottd bootstrap` converges: against the emulator through the AWS SDK, a rerun after a
//! configuration change makes the alert plumbing match the configuration, removing what an
//! earlier run added and the configuration no longer asks for, and nothing that is not ottd's;
//! the assets bucket with the default slate is made once and left alone by a rerun.

mod common;

use common::{setup, Setup};

const RULE: &str = "ottd-medialive-events";

/// The test's ottd.toml with `alerts` as its `[alerts]` table (rewritten, not appended: a
/// second `[alerts]` would be a duplicate table).
fn with_alerts(s: &Setup, base: &str, alerts: &str) {
    std::fs::write(&s.config, format!("{base}\n[alerts]\n{alerts}\n")).expect("rewrite the test config");
}

async fn target_ids(s: &Setup) -> Vec<String> {
    let aws = s.aws().await;
    let out = aws.events.list_targets_by_rule().rule(RULE).send().await.expect("ListTargetsByRule");
    let mut ids: Vec<String> = out.targets.unwrap_or_default().into_iter().map(|t| t.id).collect();
    ids.sort();
    ids
}

fn statement_ids(policy: &str) -> Vec<String> {
    let v: serde_json::Value = serde_json::from_str(policy).expect("policy JSON");
    let mut sids: Vec<String> = match &v["Statement"] {
        serde_json::Value::Array(a) => a.iter().map(|s| s["Sid"].as_str().unwrap_or("").to_string()).collect(),
        one => vec![one["Sid"].as_str().unwrap_or("").to_string()],
    };
    sids.sort();
    sids
}

async fn topic_policy(s: &Setup) -> String {
    let aws = s.aws().await;
    let topics = aws.sns.list_topics().send().await.expect("ListTopics").topics.unwrap_or_default();
    let arn = topics
        .into_iter()
        .filter_map(|t| t.topic_arn)
        .find(|a| a.ends_with(":ottd-alerts"))
        .expect("bootstrap made the topic");
    let attrs = aws.sns.get_topic_attributes().topic_arn(&arn).send().await.expect("GetTopicAttributes");
    attrs.attributes.and_then(|a| a.get("Policy").cloned()).unwrap_or_default()
}

async fn queue_policy(s: &Setup) -> String {
    let aws = s.aws().await;
    let url = aws.sqs.get_queue_url().queue_name(RULE).send().await.expect("GetQueueUrl").queue_url.expect("url");
    let attrs = aws
        .sqs
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::Policy)
        .send()
        .await
        .expect("GetQueueAttributes");
    attrs.attributes.and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::Policy).cloned()).unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_removes_the_sns_target_and_its_topic_permission_once_sns_target_is_off() {
    let s = setup("");
    let base = std::fs::read_to_string(&s.config).expect("config");
    s.ottd(&["bootstrap"]);
    assert_eq!(target_ids(&s).await, ["ottd-sns", "ottd-sqs"]);
    assert!(statement_ids(&topic_policy(&s).await).contains(&"ottd-eventbridge".to_string()));

    // Someone else's target on the rule and statement on the queue are not ottd's to remove.
    let aws = s.aws().await;
    let foreign = aws_sdk_eventbridge::types::Target::builder()
        .id("team-archive")
        .arn("arn:aws:sqs:us-east-1:123456789012:team-archive")
        .build()
        .expect("target");
    aws.events.put_targets().rule(RULE).targets(foreign).send().await.expect("PutTargets");

    with_alerts(&s, &base, "sns_target = false");
    let out = s.ottd(&["bootstrap"]);
    assert_eq!(target_ids(&s).await, ["ottd-sqs", "team-archive"], "{out}");
    assert!(
        !statement_ids(&topic_policy(&s).await).contains(&"ottd-eventbridge".to_string()),
        "the topic still lets the rule publish: {}",
        topic_policy(&s).await
    );
    assert!(out.contains("removed"), "bootstrap says what it removed:\n{out}");

    // And back: the target and the permission return, once each.
    with_alerts(&s, &base, "sns_target = true");
    s.ottd(&["bootstrap"]);
    s.ottd(&["bootstrap"]);
    assert_eq!(target_ids(&s).await, ["ottd-sns", "ottd-sqs", "team-archive"]);
    let sids = statement_ids(&topic_policy(&s).await);
    assert_eq!(sids.iter().filter(|s| *s == "ottd-eventbridge").count(), 1, "{sids:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_keeps_other_statements_of_the_queue_policy_and_its_own_once() {
    let s = setup("");
    s.ottd(&["bootstrap"]);
    let aws = s.aws().await;
    let url = aws.sqs.get_queue_url().queue_name(RULE).send().await.expect("GetQueueUrl").queue_url.expect("url");
    let mut policy: serde_json::Value = serde_json::from_str(&queue_policy(&s).await).expect("policy");
    let theirs = serde_json::json!({
        "Sid": "team-audit", "Effect": "Allow",
        "Principal": {"AWS": "arn:aws:iam::123456789012:root"},
        "Action": "sqs:GetQueueAttributes", "Resource": "*"
    });
    match policy["Statement"].as_array_mut() {
        Some(a) => a.push(theirs),
        None => panic!("no statements: {policy}"),
    }
    aws.sqs
        .set_queue_attributes()
        .queue_url(&url)
        .attributes(aws_sdk_sqs::types::QueueAttributeName::Policy, policy.to_string())
        .send()
        .await
        .expect("SetQueueAttributes");
    s.ottd(&["bootstrap"]);
    assert_eq!(statement_ids(&queue_policy(&s).await), ["ottd-eventbridge", "team-audit"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_with_alerts_off_takes_its_targets_off_the_rule_and_deletes_the_rule() {
    let s = setup("");
    let base = std::fs::read_to_string(&s.config).expect("config");
    s.ottd(&["bootstrap"]);
    assert_eq!(target_ids(&s).await, ["ottd-sns", "ottd-sqs"]);
    with_alerts(&s, &base, "enabled = false");
    let out = s.ottd(&["bootstrap"]);
    let aws = s.aws().await;
    let rules = aws.events.list_rules().name_prefix(RULE).send().await.expect("ListRules").rules.unwrap_or_default();
    assert!(rules.is_empty(), "the rule is still there:\n{out}");
    // The queues and the topic stay: messages not yet read, and people's subscriptions.
    aws.sqs.get_queue_url().queue_name(RULE).send().await.expect("the queue is kept");
    assert!(!topic_policy(&s).await.is_empty());
    // A second run has nothing left to remove and does not fail.
    s.ottd(&["bootstrap"]);
}

/// IAM answers policy documents URL-encoded (RFC 3986), as AWS does.
fn policy_json(doc: &str) -> serde_json::Value {
    let decoded = percent_encoding::percent_decode_str(doc).decode_utf8().expect("utf-8 policy");
    serde_json::from_str(&decoded).expect("policy JSON")
}

/// Everything of the assets bucket a rerun must leave as it was.
#[derive(Debug, PartialEq)]
struct Assets {
    buckets: Vec<String>,
    keys: Vec<String>,
    etag: Option<String>,
    last_modified: Option<aws_sdk_s3::primitives::DateTime>,
    slate_policy: serde_json::Value,
    policy_names: Vec<String>,
}

async fn assets(s: &Setup, bucket: &str) -> Assets {
    let aws = s.aws().await;
    let mut buckets: Vec<String> = aws
        .s3
        .list_buckets()
        .send()
        .await
        .expect("ListBuckets")
        .buckets()
        .iter()
        .filter_map(|b| b.name().map(str::to_string))
        .filter(|n| n.contains("-assets-"))
        .collect();
    buckets.sort();
    let listed = aws.s3.list_objects_v2().bucket(bucket).send().await.expect("ListObjectsV2");
    let keys = listed.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect();
    let head = aws.s3.head_object().bucket(bucket).key("slate/default.png").send().await.expect("HeadObject");
    let role = "ottd-medialive";
    let doc = aws.iam.get_role_policy().role_name(role).policy_name("ottd-slate").send().await.expect("GetRolePolicy");
    let mut policy_names =
        aws.iam.list_role_policies().role_name(role).send().await.expect("ListRolePolicies").policy_names;
    policy_names.sort();
    Assets {
        buckets,
        keys,
        etag: head.e_tag().map(str::to_string),
        last_modified: head.last_modified().copied(),
        slate_policy: policy_json(doc.policy_document()),
        policy_names,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bootstrap_makes_the_assets_bucket_with_the_default_slate_once() {
    let s = setup("");
    s.ottd(&["bootstrap"]);
    let aws = s.aws().await;
    let role = aws.iam.get_role().role_name("ottd-medialive").send().await.expect("GetRole").role.expect("role");
    let account = ottd::aws::iam::account_of(&role.arn).expect("account").to_string();
    let bucket = ottd::aws::assets::bucket_name("ottd", &account, "us-east-1").expect("name");
    assert_eq!(bucket, format!("ottd-assets-{account}-us-east-1"));

    // The slate, byte for byte what the binary carries, typed for MediaLive.
    let got = aws.s3.get_object().bucket(&bucket).key("slate/default.png").send().await.expect("GetObject");
    assert_eq!(got.content_type(), Some("image/png"));
    let bytes = got.body.collect().await.expect("body").into_bytes();
    assert!(bytes[..] == *ottd::aws::assets::DEFAULT_SLATE, "the bucket holds other bytes ({} bytes)", bytes.len());

    // Protected like the log bucket: no public access, encrypted, TLS only; ACLs off.
    let pab = aws.s3.get_public_access_block().bucket(&bucket).send().await.expect("public access block");
    let pab = pab.public_access_block_configuration().expect("configuration");
    assert_eq!(
        (pab.block_public_acls(), pab.ignore_public_acls(), pab.block_public_policy(), pab.restrict_public_buckets()),
        (Some(true), Some(true), Some(true), Some(true))
    );
    aws.s3.get_bucket_encryption().bucket(&bucket).send().await.expect("encryption");
    let own = aws.s3.get_bucket_ownership_controls().bucket(&bucket).send().await.expect("ownership");
    assert_eq!(own.ownership_controls().map(|o| o.rules()[0].object_ownership().as_str()), Some("BucketOwnerEnforced"));
    let policy = aws.s3.get_bucket_policy().bucket(&bucket).send().await.expect("bucket policy");
    let policy: serde_json::Value = serde_json::from_str(policy.policy().expect("policy")).expect("JSON");
    assert_eq!(policy["Statement"][0]["Condition"]["Bool"]["aws:SecureTransport"], "false", "{policy}");

    // The MediaLive role may read the slates, and only them.
    let first = assets(&s, &bucket).await;
    let statement = &first.slate_policy["Statement"][0];
    assert_eq!(statement["Effect"], "Allow");
    assert_eq!(statement["Action"], serde_json::json!(["s3:GetObject"]));
    assert_eq!(statement["Resource"], format!("arn:aws:s3:::{bucket}/slate/*"));
    assert_eq!(first.buckets, std::slice::from_ref(&bucket));
    assert_eq!(first.keys, ["slate/default.png"]);
    assert_eq!(first.policy_names, ["ottd-medialive", "ottd-slate"]);

    // A second run changes nothing: same bucket, same object (not written again: S3 dates
    // objects to the second, hence the pause), same grant.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    s.ottd(&["bootstrap"]);
    assert_eq!(assets(&s, &bucket).await, first);
}
