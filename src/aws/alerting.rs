//! The alert plumbing `ottd bootstrap` sets up once: an EventBridge rule for MediaLive's
//! channel events, an SQS queue (with a dead-letter queue) the daemon reads them from, and an
//! SNS topic for people (email, SMS) and for ottd's own notifications. Bootstrap converges:
//! every call here is an upsert (bootstrap twice creates nothing new), and what an earlier run
//! added that the configuration no longer asks for is taken away again — the rule's `ottd-*`
//! targets it does not want, ottd's statement in a resource policy that should not have it,
//! and with alerts off the rule itself. Other people's targets and statements stay.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_sdk_eventbridge::types::{RuleState, Target};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

use super::{err, or_absent, AwsError};

/// The MediaLive events the rule sends on: alerts, channel state changes, input switches.
pub const ALERT: &str = "MediaLive Channel Alert";
pub const STATE_CHANGE: &str = "MediaLive Channel State Change";
pub const INPUT_CHANGE: &str = "MediaLive Channel Input Change";
pub const DETAIL_TYPES: [&str; 3] = [ALERT, STATE_CHANGE, INPUT_CHANGE];

/// What bootstrap made, by name and ARN/URL.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Plumbing {
    pub rule_arn: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub dlq_url: String,
    pub dlq_arn: String,
    pub topic_arn: String,
    /// What this run took away that an earlier one had added (described for the operator).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub removed: Vec<String>,
}

/// Names, from the configured prefix.
pub struct Names {
    pub rule: String,
    pub queue: String,
    pub dlq: String,
    pub topic: String,
}

impl Names {
    pub fn new(prefix: &str) -> Names {
        Names {
            rule: format!("{prefix}-medialive-events"),
            queue: format!("{prefix}-medialive-events"),
            dlq: format!("{prefix}-medialive-events-dlq"),
            topic: format!("{prefix}-alerts"),
        }
    }
}

/// Deliveries before a message goes to the dead-letter queue.
pub const MAX_RECEIVES: u32 = 5;

/// The rule's pattern: MediaLive's channel state changes, alerts and input changes.
pub fn event_pattern() -> String {
    serde_json::json!({ "source": ["aws.medialive"], "detail-type": DETAIL_TYPES }).to_string()
}

/// The `Sid` of ottd's statement in the queue's and the topic's resource policies.
pub const STATEMENT_ID: &str = "ottd-eventbridge";
/// ottd's targets on the rule: ids with this prefix are ottd's to add and to remove.
pub const TARGET_PREFIX: &str = "ottd-";
pub const SQS_TARGET: &str = "ottd-sqs";
pub const SNS_TARGET: &str = "ottd-sns";

/// The policy statement letting EventBridge do `action` on `resource` for `rule_arn` only.
fn allow_rule(action: &str, resource: &str, rule_arn: &str) -> serde_json::Value {
    serde_json::json!({
        "Sid": STATEMENT_ID,
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": action,
        "Resource": resource,
        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}
    })
}

/// Only the rule may send to the queue (ottd's statement).
pub fn queue_statement(queue_arn: &str, rule_arn: &str) -> serde_json::Value {
    allow_rule("sqs:SendMessage", queue_arn, rule_arn)
}

/// Only the rule may publish to the topic through EventBridge (ottd publishes with its own
/// credentials, which IAM allows).
pub fn topic_statement(topic_arn: &str, rule_arn: &str) -> serde_json::Value {
    allow_rule("sns:Publish", topic_arn, rule_arn)
}

/// The statement SNS puts in a new topic's policy (the account's own principals may manage
/// and use the topic). An earlier ottd replaced the whole policy with its own statement;
/// when that statement goes, this one comes back rather than an empty policy, which SNS
/// refuses.
pub fn topic_default_statement(topic_arn: &str) -> serde_json::Value {
    let account = topic_arn.split(':').nth(4).unwrap_or_default();
    serde_json::json!({
        "Sid": "__default_statement_ID",
        "Effect": "Allow",
        "Principal": {"AWS": "*"},
        "Action": [
            "SNS:GetTopicAttributes", "SNS:SetTopicAttributes", "SNS:AddPermission", "SNS:RemovePermission",
            "SNS:DeleteTopic", "SNS:Subscribe", "SNS:ListSubscriptionsByTopic", "SNS:Publish"
        ],
        "Resource": topic_arn,
        "Condition": {"StringEquals": {"AWS:SourceOwner": account}}
    })
}

/// `existing` (a resource policy as AWS returns it; `None` or empty: none yet) with ottd's
/// statement replaced by `ours`, or taken out when `ours` is `None`. Everyone else's
/// statements are kept as they are. `None` when the result has no statement left. An
/// unreadable policy is an error: overwriting it would drop what someone else wrote.
pub fn with_statement(existing: Option<&str>, ours: Option<serde_json::Value>) -> Result<Option<String>, String> {
    use serde_json::Value;
    let mut policy = match existing.map(str::trim).filter(|p| !p.is_empty()) {
        Some(text) => serde_json::from_str::<Value>(text).map_err(|e| format!("the policy is not JSON: {e}"))?,
        None => serde_json::json!({"Version": "2012-10-17", "Statement": []}),
    };
    let Some(doc) = policy.as_object_mut() else { return Err("the policy is not a JSON object".to_string()) };
    // The policy grammar allows one statement object instead of a list.
    let statements = match doc.remove("Statement") {
        None => Vec::new(),
        Some(Value::Array(a)) => a,
        Some(one @ Value::Object(_)) => vec![one],
        Some(_) => return Err("the policy's Statement is neither a list nor an object".to_string()),
    };
    let mut kept: Vec<Value> =
        statements.into_iter().filter(|st| st.get("Sid").and_then(Value::as_str) != Some(STATEMENT_ID)).collect();
    kept.extend(ours);
    if kept.is_empty() {
        return Ok(None);
    }
    doc.insert("Statement".to_string(), Value::Array(kept));
    Ok(Some(policy.to_string()))
}

/// The rule's target ids to remove: ottd's (`ottd-*`) that are not `wanted`.
pub fn stale_targets<'a>(present: impl IntoIterator<Item = &'a str>, wanted: &[&str]) -> Vec<String> {
    present.into_iter().filter(|id| id.starts_with(TARGET_PREFIX) && !wanted.contains(id)).map(str::to_string).collect()
}

async fn queue(c: &aws_sdk_sqs::Client, name: &str) -> Result<(String, String), AwsError> {
    let what = format!("SQS queue {name}");
    let url = c
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| err("CreateQueue", &what, e))?
        .queue_url
        .ok_or_else(|| AwsError::invalid("CreateQueue", &what, "no queue URL in the response"))?;
    let attrs = c
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| err("GetQueueAttributes", &what, e))?;
    let arn = attrs
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .ok_or_else(|| AwsError::invalid("GetQueueAttributes", &what, "no queue ARN"))?;
    Ok((url, arn))
}

/// The rule's target ids (every page).
async fn target_ids(events: &aws_sdk_eventbridge::Client, rule: &str, what: &str) -> Result<Vec<String>, AwsError> {
    let mut ids = Vec::new();
    let mut next = None;
    loop {
        let out = events
            .list_targets_by_rule()
            .rule(rule)
            .set_next_token(next)
            .send()
            .await
            .map_err(|e| err("ListTargetsByRule", what, e))?;
        ids.extend(out.targets.unwrap_or_default().into_iter().map(|t| t.id));
        next = out.next_token;
        if next.is_none() {
            return Ok(ids);
        }
    }
}

/// Take `ids` off the rule (RemoveTargets takes at most 100 at a time).
async fn remove_targets(
    events: &aws_sdk_eventbridge::Client,
    rule: &str,
    what: &str,
    ids: &[String],
) -> Result<(), AwsError> {
    for chunk in ids.chunks(100) {
        let out = events
            .remove_targets()
            .rule(rule)
            .set_ids(Some(chunk.to_vec()))
            .send()
            .await
            .map_err(|e| err("RemoveTargets", what, e))?;
        if out.failed_entry_count > 0 {
            return Err(AwsError::invalid("RemoveTargets", what, format!("{:?}", out.failed_entries)));
        }
    }
    Ok(())
}

/// Create (or find) the rule, the queues and the topic, and wire them together, then take
/// away what an earlier bootstrap added and this configuration does not want.
/// `sns_target`: also send the events to the topic (people's email/SMS subscriptions).
pub async fn ensure(
    events: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    sns: &aws_sdk_sns::Client,
    names: &Names,
    sns_target: bool,
) -> Result<Plumbing, AwsError> {
    let mut removed = Vec::new();
    let rule_what = format!("EventBridge rule {}", names.rule);
    let rule_arn = events
        .put_rule()
        .name(&names.rule)
        .description("ottd: MediaLive channel alerts, state and input changes")
        .event_pattern(event_pattern())
        .state(RuleState::Enabled)
        .send()
        .await
        .map_err(|e| err("PutRule", &rule_what, e))?
        .rule_arn
        .ok_or_else(|| AwsError::invalid("PutRule", &rule_what, "no rule ARN in the response"))?;
    let (dlq_url, dlq_arn) = queue(sqs, &names.dlq).await?;
    let (queue_url, queue_arn) = queue(sqs, &names.queue).await?;
    configure_queue(sqs, &names.queue, &queue_url, &queue_arn, &dlq_arn, &rule_arn).await?;
    let topic_arn = ensure_topic(sns, &names.topic, &rule_arn, sns_target, &mut removed).await?;
    let target = |id: &str, arn: &str| {
        Target::builder()
            .id(id)
            .arn(arn)
            .build()
            .map_err(|e| AwsError::invalid("PutTargets", &rule_what, e.to_string()))
    };
    let mut targets = vec![target(SQS_TARGET, &queue_arn)?];
    if sns_target {
        targets.push(target(SNS_TARGET, &topic_arn)?);
    }
    let wanted: Vec<&str> = targets.iter().map(|t| t.id.as_str()).collect();
    let stale = stale_targets(target_ids(events, &names.rule, &rule_what).await?.iter().map(String::as_str), &wanted);
    let out = events
        .put_targets()
        .rule(&names.rule)
        .set_targets(Some(targets))
        .send()
        .await
        .map_err(|e| err("PutTargets", &rule_what, e))?;
    if out.failed_entry_count > 0 {
        return Err(AwsError::invalid("PutTargets", &rule_what, format!("{:?}", out.failed_entries)));
    }
    remove_targets(events, &names.rule, &rule_what, &stale).await?;
    removed.extend(stale.iter().map(|id| format!("{rule_what}: the target {id}")));
    Ok(Plumbing { rule_arn, queue_url, queue_arn, dlq_url, dlq_arn, topic_arn, removed })
}

/// The alert queue's attributes: ottd's statement in its policy (others' kept), the
/// dead-letter queue, long polling, visibility and retention.
async fn configure_queue(
    sqs: &aws_sdk_sqs::Client,
    name: &str,
    queue_url: &str,
    queue_arn: &str,
    dlq_arn: &str,
    rule_arn: &str,
) -> Result<(), AwsError> {
    let queue_what = format!("SQS queue {name}");
    let current = sqs
        .get_queue_attributes()
        .queue_url(queue_url)
        .attribute_names(QueueAttributeName::Policy)
        .send()
        .await
        .map_err(|e| err("GetQueueAttributes", &queue_what, e))?
        .attributes
        .and_then(|mut a| a.remove(&QueueAttributeName::Policy));
    let policy = with_statement(current.as_deref(), Some(queue_statement(queue_arn, rule_arn)))
        .map_err(|e| AwsError::invalid("GetQueueAttributes", &queue_what, e))?
        .unwrap_or_default();
    let redrive =
        serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES.to_string() }).to_string();
    let attrs: HashMap<QueueAttributeName, String> = [
        (QueueAttributeName::Policy, policy),
        (QueueAttributeName::RedrivePolicy, redrive),
        // Long polling by default; a message is invisible to others for 60 s while handled.
        (QueueAttributeName::ReceiveMessageWaitTimeSeconds, "20".to_string()),
        (QueueAttributeName::VisibilityTimeout, "60".to_string()),
        (QueueAttributeName::MessageRetentionPeriod, "345600".to_string()),
    ]
    .into_iter()
    .collect();
    sqs.set_queue_attributes()
        .queue_url(queue_url)
        .set_attributes(Some(attrs))
        .send()
        .await
        .map_err(|e| err("SetQueueAttributes", &queue_what, e))?;
    Ok(())
}

/// The alert topic, with ottd's statement in its policy only while the rule targets it
/// (`sns_target`); a statement taken away is said in `removed`.
async fn ensure_topic(
    sns: &aws_sdk_sns::Client,
    name: &str,
    rule_arn: &str,
    sns_target: bool,
    removed: &mut Vec<String>,
) -> Result<String, AwsError> {
    let topic_what = format!("SNS topic {name}");
    let topic_arn = sns
        .create_topic()
        .name(name)
        .send()
        .await
        .map_err(|e| err("CreateTopic", &topic_what, e))?
        .topic_arn
        .ok_or_else(|| AwsError::invalid("CreateTopic", &topic_what, "no topic ARN in the response"))?;
    let current = sns
        .get_topic_attributes()
        .topic_arn(&topic_arn)
        .send()
        .await
        .map_err(|e| err("GetTopicAttributes", &topic_what, e))?
        .attributes
        .and_then(|mut a| a.remove("Policy"));
    // The rule may publish to the topic only while it is one of the rule's targets.
    let ours = sns_target.then(|| topic_statement(&topic_arn, rule_arn));
    let policy = with_statement(current.as_deref(), ours)
        .map_err(|e| AwsError::invalid("GetTopicAttributes", &topic_what, e))?
        .unwrap_or_else(|| {
            serde_json::json!({"Version": "2012-10-17", "Statement": [topic_default_statement(&topic_arn)]}).to_string()
        });
    if current.as_deref() != Some(policy.as_str()) {
        if !sns_target && current.as_deref().is_some_and(|p| p.contains(STATEMENT_ID)) {
            removed.push(format!("{topic_what}: the policy statement {STATEMENT_ID} (sns_target = false)"));
        }
        sns.set_topic_attributes()
            .topic_arn(&topic_arn)
            .attribute_name("Policy")
            .attribute_value(policy)
            .send()
            .await
            .map_err(|e| err("SetTopicAttributes", &topic_what, e))?;
    }
    Ok(topic_arn)
}

/// With alerts off: take ottd's targets off the rule and delete the rule when nothing else
/// targets it, so MediaLive's events no longer pile up in a queue nobody reads. The queues
/// (messages not yet read) and the topic (people's subscriptions) stay; turning alerts on
/// again finds them. What was removed, for the operator.
pub async fn retire(events: &aws_sdk_eventbridge::Client, names: &Names) -> Result<Vec<String>, AwsError> {
    let rule_what = format!("EventBridge rule {}", names.rule);
    let Some(present) = or_absent(target_ids(events, &names.rule, &rule_what).await)? else {
        return Ok(Vec::new());
    };
    let stale = stale_targets(present.iter().map(String::as_str), &[]);
    remove_targets(events, &names.rule, &rule_what, &stale).await?;
    let mut removed: Vec<String> = stale.iter().map(|id| format!("{rule_what}: the target {id}")).collect();
    if present.len() == stale.len() {
        or_absent(events.delete_rule().name(&names.rule).send().await.map_err(|e| err("DeleteRule", &rule_what, e)))?;
        removed.push(rule_what);
    }
    Ok(removed)
}

/// One message from the queue.
#[derive(Debug, Clone)]
pub struct Message {
    pub id: String,
    pub body: String,
    pub receipt: String,
    /// How many times it has been delivered (the dead-letter queue takes it after
    /// [`MAX_RECEIVES`]).
    pub receives: u32,
}

/// Long-poll for up to `max` messages (`wait_s` seconds at most), each invisible to other
/// readers for the queue's visibility timeout (60 s as bootstrap sets it) while it is handled.
/// How much longer than its wait a long poll may take to answer.
const LONG_POLL_SLACK: Duration = Duration::from_secs(10);

/// A long poll's own timeouts: an empty queue answers only after the wait, which may be longer
/// than the attempt timeout of ordinary calls (half of `engine.call_timeout`).
fn long_poll_timeouts(wait_s: i32) -> TimeoutConfig {
    let patience = Duration::from_secs(u64::try_from(wait_s.clamp(0, 20)).unwrap_or(20)) + LONG_POLL_SLACK;
    TimeoutConfig::builder()
        .operation_attempt_timeout(patience)
        .operation_timeout(patience * 2)
        .connect_timeout(Duration::from_secs(10))
        .build()
}

/// The alert queue, as the daemon's intake sees it: receive and delete, nothing else.
#[derive(Clone)]
pub struct Queue {
    sqs: aws_sdk_sqs::Client,
    url: String,
}

impl Queue {
    pub fn new(aws: &super::Aws, url: impl Into<String>) -> Queue {
        Queue { sqs: aws.sqs.clone(), url: url.into() }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// Up to `max` messages, waiting up to `wait_s` seconds for the first (long polling).
    pub async fn receive(&self, max: i32, wait_s: i32) -> Result<Vec<Message>, AwsError> {
        receive(&self.sqs, &self.url, max, wait_s).await
    }

    pub async fn delete(&self, receipt: &str) -> Result<(), AwsError> {
        delete(&self.sqs, &self.url, receipt).await
    }
}

/// The alert topic, as the notifier sees it: publish, nothing else.
#[derive(Clone)]
pub struct Topic {
    sns: aws_sdk_sns::Client,
    arn: String,
}

impl Topic {
    pub fn new(aws: &super::Aws, arn: impl Into<String>) -> Topic {
        Topic { sns: aws.sns.clone(), arn: arn.into() }
    }

    pub async fn publish(&self, subject: &str, message: &str) -> Result<(), AwsError> {
        publish(&self.sns, &self.arn, subject, message).await
    }
}

async fn receive(c: &aws_sdk_sqs::Client, queue_url: &str, max: i32, wait_s: i32) -> Result<Vec<Message>, AwsError> {
    let out = c
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(max.clamp(1, 10))
        .wait_time_seconds(wait_s.clamp(0, 20))
        .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
        .customize()
        .config_override(aws_sdk_sqs::config::Builder::default().timeout_config(long_poll_timeouts(wait_s)))
        .send()
        .await
        .map_err(|e| err("ReceiveMessage", format!("SQS queue {queue_url}"), e))?;
    Ok(out
        .messages
        .unwrap_or_default()
        .into_iter()
        .filter_map(|m| {
            let receives = m
                .attributes
                .as_ref()
                .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                .and_then(|n| n.parse().ok())
                .unwrap_or(1);
            Some(Message { id: m.message_id?, body: m.body.unwrap_or_default(), receipt: m.receipt_handle?, receives })
        })
        .collect())
}

async fn delete(c: &aws_sdk_sqs::Client, queue_url: &str, receipt: &str) -> Result<(), AwsError> {
    c.delete_message()
        .queue_url(queue_url)
        .receipt_handle(receipt)
        .send()
        .await
        .map_err(|e| err("DeleteMessage", format!("SQS queue {queue_url}"), e))?;
    Ok(())
}

/// Publish a notification to the topic.
async fn publish(c: &aws_sdk_sns::Client, topic_arn: &str, subject: &str, message: &str) -> Result<(), AwsError> {
    // SNS subjects: at most 100 printable ASCII characters, no line breaks.
    let subject: String =
        subject.chars().filter(|c| c.is_ascii() && !c.is_ascii_control()).take(100).collect::<String>();
    c.publish()
        .topic_arn(topic_arn)
        .subject(if subject.is_empty() { "ottd".to_string() } else { subject })
        .message(message)
        .send()
        .await
        .map_err(|e| err("Publish", format!("SNS topic {topic_arn}"), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rule_matches_medialive_channel_events_and_only_the_rule_may_send() {
        let p: serde_json::Value = serde_json::from_str(&event_pattern()).expect("json");
        assert_eq!(p["source"][0], "aws.medialive");
        assert_eq!(p["detail-type"].as_array().map(Vec::len), Some(3));
        let q = queue_statement("arn:aws:sqs:eu-west-1:1:q", "arn:aws:events:eu-west-1:1:rule/r");
        assert_eq!(q["Condition"]["ArnEquals"]["aws:SourceArn"], "arn:aws:events:eu-west-1:1:rule/r");
        assert_eq!(q["Action"], "sqs:SendMessage");
    }

    fn sids(policy: &str) -> Vec<String> {
        let v: serde_json::Value = serde_json::from_str(policy).expect("json");
        v["Statement"].as_array().expect("list").iter().map(|s| s["Sid"].as_str().unwrap_or("").to_string()).collect()
    }

    #[test]
    fn ottds_policy_statement_is_replaced_or_taken_out_and_nobody_elses_is_touched() {
        let ours = || queue_statement("arn:q", "arn:r");
        let fresh = with_statement(None, Some(ours())).expect("ok").expect("a policy");
        assert_eq!(sids(&fresh), [STATEMENT_ID]);
        let theirs = r#"{"Version":"2012-10-17","Id":"x","Statement":[{"Sid":"team","Effect":"Allow"},{"Sid":"ottd-eventbridge","Action":"old"}]}"#;
        let merged = with_statement(Some(theirs), Some(ours())).expect("ok").expect("a policy");
        assert_eq!(sids(&merged), ["team", STATEMENT_ID]);
        assert!(merged.contains(r#""Id":"x""#) && !merged.contains("old"), "{merged}");
        assert_eq!(sids(&with_statement(Some(&merged), None).expect("ok").expect("a policy")), ["team"]);
        // One statement as an object, as the policy grammar allows.
        let single = r#"{"Statement":{"Sid":"ottd-eventbridge"}}"#;
        assert_eq!(with_statement(Some(single), None), Ok(None));
        assert_eq!(with_statement(Some(""), None), Ok(None));
        assert!(with_statement(Some("{not json"), None).is_err(), "never overwrite what cannot be read");
    }

    #[test]
    fn only_ottds_unwanted_targets_are_removed_from_the_rule() {
        let present = ["ottd-sqs", "ottd-sns", "team-archive", "ottd-old"];
        assert_eq!(stale_targets(present, &[SQS_TARGET]), ["ottd-sns", "ottd-old"]);
        assert_eq!(stale_targets(present, &[SQS_TARGET, SNS_TARGET]), ["ottd-old"]);
        assert!(stale_targets(["team-archive"], &[]).is_empty());
    }

    #[test]
    fn the_default_topic_statement_names_the_topics_account() {
        let st = topic_default_statement("arn:aws:sns:eu-west-1:123456789012:ottd-alerts");
        assert_eq!(st["Condition"]["StringEquals"]["AWS:SourceOwner"], "123456789012");
    }
}
