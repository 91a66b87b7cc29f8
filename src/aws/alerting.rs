//! The alert plumbing `ottd bootstrap` sets up once: an EventBridge rule for MediaLive's
//! channel events, an SQS queue (with a dead-letter queue) the daemon reads them from, and an
//! SNS topic for people (email, SMS) and for ottd's own notifications. Every call here is an
//! upsert: bootstrap twice creates nothing new.

use std::collections::HashMap;
use std::time::Duration;

use aws_config::timeout::TimeoutConfig;
use aws_sdk_eventbridge::types::{RuleState, Target};
use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};

use super::{err, AwsError};
use crate::alerts::event::DETAIL_TYPES;

/// What bootstrap made, by name and ARN/URL.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Plumbing {
    pub rule_arn: String,
    pub queue_url: String,
    pub queue_arn: String,
    pub dlq_url: String,
    pub dlq_arn: String,
    pub topic_arn: String,
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

/// A resource policy letting EventBridge do `action` on `resource` for `rule_arn` only.
fn allow_rule(action: &str, resource: &str, rule_arn: &str) -> String {
    serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{
            "Sid": "ottd-eventbridge",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": action,
            "Resource": resource,
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}}
        }]
    })
    .to_string()
}

/// Only the rule may send to the queue.
pub fn queue_policy(queue_arn: &str, rule_arn: &str) -> String {
    allow_rule("sqs:SendMessage", queue_arn, rule_arn)
}

/// Only the rule may publish to the topic through EventBridge (ottd publishes with its own
/// credentials, which IAM allows).
pub fn topic_policy(topic_arn: &str, rule_arn: &str) -> String {
    allow_rule("sns:Publish", topic_arn, rule_arn)
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

/// Create (or find) the rule, the queues and the topic, and wire them together.
/// `sns_target`: also send the events to the topic (people's email/SMS subscriptions).
pub async fn ensure(
    events: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
    sns: &aws_sdk_sns::Client,
    names: &Names,
    sns_target: bool,
) -> Result<Plumbing, AwsError> {
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
    let redrive =
        serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": MAX_RECEIVES.to_string() }).to_string();
    let attrs: HashMap<QueueAttributeName, String> = [
        (QueueAttributeName::Policy, queue_policy(&queue_arn, &rule_arn)),
        (QueueAttributeName::RedrivePolicy, redrive),
        // Long polling by default; a message is invisible to others for 60 s while handled.
        (QueueAttributeName::ReceiveMessageWaitTimeSeconds, "20".to_string()),
        (QueueAttributeName::VisibilityTimeout, "60".to_string()),
        (QueueAttributeName::MessageRetentionPeriod, "345600".to_string()),
    ]
    .into_iter()
    .collect();
    sqs.set_queue_attributes()
        .queue_url(&queue_url)
        .set_attributes(Some(attrs))
        .send()
        .await
        .map_err(|e| err("SetQueueAttributes", format!("SQS queue {}", names.queue), e))?;
    let topic_what = format!("SNS topic {}", names.topic);
    let topic_arn = sns
        .create_topic()
        .name(&names.topic)
        .send()
        .await
        .map_err(|e| err("CreateTopic", &topic_what, e))?
        .topic_arn
        .ok_or_else(|| AwsError::invalid("CreateTopic", &topic_what, "no topic ARN in the response"))?;
    sns.set_topic_attributes()
        .topic_arn(&topic_arn)
        .attribute_name("Policy")
        .attribute_value(topic_policy(&topic_arn, &rule_arn))
        .send()
        .await
        .map_err(|e| err("SetTopicAttributes", &topic_what, e))?;
    let target = |id: &str, arn: &str| {
        Target::builder()
            .id(id)
            .arn(arn)
            .build()
            .map_err(|e| AwsError::invalid("PutTargets", &rule_what, e.to_string()))
    };
    let mut targets = vec![target("ottd-sqs", &queue_arn)?];
    if sns_target {
        targets.push(target("ottd-sns", &topic_arn)?);
    }
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
    Ok(Plumbing { rule_arn, queue_url, queue_arn, dlq_url, dlq_arn, topic_arn })
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

pub async fn receive(
    c: &aws_sdk_sqs::Client,
    queue_url: &str,
    max: i32,
    wait_s: i32,
) -> Result<Vec<Message>, AwsError> {
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

pub async fn delete(c: &aws_sdk_sqs::Client, queue_url: &str, receipt: &str) -> Result<(), AwsError> {
    c.delete_message()
        .queue_url(queue_url)
        .receipt_handle(receipt)
        .send()
        .await
        .map_err(|e| err("DeleteMessage", format!("SQS queue {queue_url}"), e))?;
    Ok(())
}

/// Publish a notification to the topic.
pub async fn publish(c: &aws_sdk_sns::Client, topic_arn: &str, subject: &str, message: &str) -> Result<(), AwsError> {
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
        let q: serde_json::Value =
            serde_json::from_str(&queue_policy("arn:aws:sqs:eu-west-1:1:q", "arn:aws:events:eu-west-1:1:rule/r"))
                .expect("json");
        assert_eq!(q["Statement"][0]["Condition"]["ArnEquals"]["aws:SourceArn"], "arn:aws:events:eu-west-1:1:rule/r");
        assert_eq!(q["Statement"][0]["Action"], "sqs:SendMessage");
    }
}
