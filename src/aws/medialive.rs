//! MediaLive: input security group (push inputs), input, channel; start and stop.
//!
//! MediaLive names are not unique and the idempotency token is not honoured everywhere, so
//! every create carries ottd's tags and `find_*` looks resources up by name and deployment tag.
//! CreateInput and CreateChannel carry a `RequestId` (the SDK's retries reuse it, so a retry
//! returns the first resource); CreateInputSecurityGroup has none, see [`create_security_group`].

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_medialive::config::retry::RetryConfig;
use aws_sdk_medialive::types as ml;

use super::encoder;
use super::{err, has_tag, or_absent, AwsError, ErrorClass, Tags};
use crate::config::profile::Profile;
use crate::config::workflow::Workflow;
use crate::plan::{InputWiring, TAG_DEPLOYMENT};

fn tag_map(tags: &Tags) -> HashMap<String, String> {
    tags.iter().cloned().collect()
}

fn tags_of(m: Option<&HashMap<String, String>>) -> Vec<(String, String)> {
    m.map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect()).unwrap_or_default()
}

// ---- input security group -------------------------------------------------------------

/// Create the deployment's input security group, or adopt the one an attempt whose answer
/// was lost created. Returns its id.
///
/// CreateInputSecurityGroup has no name and no idempotency token, so a blind retry of an
/// attempt that did create a group (its answer lost to a timeout or a dropped connection)
/// creates a second one, and the first is orphaned. So the call goes out with the SDK's
/// retries off, and after a transient failure the group is looked up by the deployment tag
/// it carries ([`find_security_group`], as a deploy resuming a `creating` row does): adopted
/// if found, created again if not. At most the client's `max_attempts` creates
/// (`engine.max_attempts`), with the SDK's backoff between them, and no new attempt once its
/// operation timeout (`engine.call_timeout`) has passed; the last transient error is
/// returned. Without a deployment tag in `tags` nothing could be found, so nothing is retried.
pub async fn create_security_group(c: &aws_sdk_medialive::Client, cidr: &str, tags: &Tags) -> Result<String, AwsError> {
    let tags = tag_map(tags);
    let nonce = tags.get(TAG_DEPLOYMENT).cloned();
    let retry = c.config().retry_config().cloned().unwrap_or_else(RetryConfig::disabled);
    let started = Instant::now();
    let within = |wait: Duration| {
        let limit = c.config().timeout_config().and_then(|t| t.operation_timeout());
        limit.is_none_or(|limit| started.elapsed() + wait < limit)
    };
    let mut attempt = 1;
    loop {
        let e = match create_security_group_once(c, cidr, &tags).await {
            Err(e) if e.class == ErrorClass::Transient && attempt < retry.max_attempts() => e,
            done => return done,
        };
        let wait = backoff(&retry, attempt);
        let Some(nonce) = nonce.as_deref().filter(|_| within(wait)) else { return Err(e) };
        tokio::time::sleep(wait).await;
        attempt += 1;
        if let Some(id) = find_security_group(c, nonce).await? {
            tracing::info!(id = %id, error = %e, "adopted the input security group an unanswered create made");
            return Ok(id);
        }
        tracing::info!(error = %e, attempt, "no input security group found after a failed create; creating it again");
    }
}

/// One CreateInputSecurityGroup call, never retried by the SDK.
async fn create_security_group_once(
    c: &aws_sdk_medialive::Client,
    cidr: &str,
    tags: &HashMap<String, String>,
) -> Result<String, AwsError> {
    let out = c
        .create_input_security_group()
        .whitelist_rules(ml::InputWhitelistRuleCidr::builder().cidr(cidr).build())
        .set_tags(Some(tags.clone()))
        .customize()
        .config_override(aws_sdk_medialive::config::Builder::default().retry_config(RetryConfig::disabled()))
        .send()
        .await
        .map_err(|e| err("CreateInputSecurityGroup", format!("input security group for {cidr}"), e))?;
    out.security_group
        .and_then(|g| g.id)
        .ok_or_else(|| AwsError::invalid("CreateInputSecurityGroup", "input security group", "no id in the response"))
}

/// The wait before attempt `attempt + 1`, as the SDK's standard retry computes it: a random
/// fraction of `initial_backoff * 2^(attempt - 1)`, at most `max_backoff`.
fn backoff(retry: &RetryConfig, attempt: u32) -> Duration {
    let ceiling = retry.initial_backoff().as_secs_f64() * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
    Duration::from_secs_f64((rand::random::<f64>() * ceiling).min(retry.max_backoff().as_secs_f64()))
}

/// The deployment's security group, found by its tags (the API offers no name or token).
pub async fn find_security_group(c: &aws_sdk_medialive::Client, nonce: &str) -> Result<Option<String>, AwsError> {
    let mut pages = c.list_input_security_groups().into_paginator().items().send();
    while let Some(g) = pages.next().await {
        let g = g.map_err(|e| err("ListInputSecurityGroups", "input security groups", e))?;
        let tags = tags_of(g.tags());
        if has_tag(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())), TAG_DEPLOYMENT, nonce) {
            return Ok(g.id);
        }
    }
    Ok(None)
}

pub async fn security_group_tags(
    c: &aws_sdk_medialive::Client,
    id: &str,
) -> Result<Option<Vec<(String, String)>>, AwsError> {
    let out = or_absent(
        c.describe_input_security_group()
            .input_security_group_id(id)
            .send()
            .await
            .map_err(|e| err("DescribeInputSecurityGroup", format!("input security group {id}"), e)),
    )?;
    Ok(out.map(|out| tags_of(out.tags())))
}

pub async fn delete_security_group(c: &aws_sdk_medialive::Client, id: &str) -> Result<(), AwsError> {
    or_absent(
        c.delete_input_security_group()
            .input_security_group_id(id)
            .send()
            .await
            .map_err(|e| err("DeleteInputSecurityGroup", format!("input security group {id}"), e)),
    )?;
    Ok(())
}

// ---- input ------------------------------------------------------------------------------

pub struct Input {
    pub id: String,
    pub arn: String,
    /// Push inputs: where the encoder must send (one per pipeline).
    pub destinations: Vec<String>,
    pub state: String,
    pub tags: Vec<(String, String)>,
}

fn input_of(
    id: Option<&str>,
    arn: Option<&str>,
    dests: &[ml::InputDestination],
    state: Option<&ml::InputState>,
    tags: Option<&HashMap<String, String>>,
) -> Input {
    Input {
        id: id.unwrap_or_default().to_string(),
        arn: arn.unwrap_or_default().to_string(),
        destinations: dests.iter().filter_map(|d| d.url().map(str::to_string)).collect(),
        state: state.map(|s| s.as_str().to_string()).unwrap_or_default(),
        tags: tags_of(tags),
    }
}

/// The CreateInput request, per input type, as the plan wired it.
#[allow(clippy::too_many_arguments)]
pub async fn create_input(
    c: &aws_sdk_medialive::Client,
    name: &str,
    wf: &Workflow,
    wiring: &InputWiring,
    security_group: Option<&str>,
    role_arn: Option<&str>,
    request_id: &str,
    tags: &Tags,
) -> Result<Input, AwsError> {
    let mut req = c
        .create_input()
        .name(name)
        .r#type(ml::InputType::from(wf.media_live.input_type.as_str()))
        .request_id(request_id)
        .set_tags(Some(tag_map(tags)));
    for url in &wiring.sources {
        req = req.sources(ml::InputSourceRequest::builder().url(url).build());
    }
    for stream in wiring.destinations.iter().filter(|s| !s.is_empty()) {
        req = req.destinations(ml::InputDestinationRequest::builder().stream_name(stream).build());
    }
    for id in &wiring.devices {
        req = req.input_devices(ml::InputDeviceSettings::builder().id(id).build());
    }
    for flow in &wiring.flows {
        req = req.media_connect_flows(ml::MediaConnectFlowRequest::builder().flow_arn(flow).build());
    }
    if let Some(sg) = security_group {
        req = req.input_security_groups(sg);
    }
    if wiring.needs_role {
        req = req.set_role_arn(role_arn.map(str::to_string));
    }
    let out = req.send().await.map_err(|e| err("CreateInput", format!("MediaLive input {name}"), e))?;
    let i = out.input.ok_or_else(|| {
        AwsError::invalid("CreateInput", format!("MediaLive input {name}"), "no input in the response")
    })?;
    Ok(input_of(i.id(), i.arn(), i.destinations(), i.state(), i.tags()))
}

pub async fn find_input(c: &aws_sdk_medialive::Client, name: &str, nonce: &str) -> Result<Option<Input>, AwsError> {
    let mut pages = c.list_inputs().into_paginator().items().send();
    while let Some(i) = pages.next().await {
        let i = i.map_err(|e| err("ListInputs", "MediaLive inputs", e))?;
        let tags = tags_of(i.tags());
        let gone = matches!(i.state(), Some(ml::InputState::Deleted | ml::InputState::Deleting));
        if i.name() == Some(name)
            && !gone
            && has_tag(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())), TAG_DEPLOYMENT, nonce)
        {
            return Ok(Some(input_of(i.id(), i.arn(), i.destinations(), i.state(), i.tags())));
        }
    }
    Ok(None)
}

pub async fn describe_input(c: &aws_sdk_medialive::Client, id: &str) -> Result<Option<Input>, AwsError> {
    let out = or_absent(
        c.describe_input()
            .input_id(id)
            .send()
            .await
            .map_err(|e| err("DescribeInput", format!("MediaLive input {id}"), e)),
    )?;
    Ok(out.map(|i| input_of(i.id(), i.arn(), i.destinations(), i.state(), i.tags())))
}

pub async fn delete_input(c: &aws_sdk_medialive::Client, id: &str) -> Result<(), AwsError> {
    or_absent(
        c.delete_input().input_id(id).send().await.map_err(|e| err("DeleteInput", format!("MediaLive input {id}"), e)),
    )?;
    Ok(())
}

// ---- channel ----------------------------------------------------------------------------

pub struct Channel {
    pub id: String,
    pub arn: String,
    pub state: String,
    pub tags: Vec<(String, String)>,
}

pub struct ChannelRequest<'a> {
    pub name: &'a str,
    pub workflow: &'a Workflow,
    pub profile: &'a Profile,
    pub wiring: &'a InputWiring,
    pub input_id: &'a str,
    pub input_name: &'a str,
    /// The backup input, paired with the primary for automatic input failover.
    pub failover: Option<Failover<'a>>,
    pub package_channel_id: &'a str,
    pub role_arn: &'a str,
    pub request_id: &'a str,
}

/// The second input of an automatic input failover pair.
pub struct Failover<'a> {
    pub input_id: &'a str,
    pub input_name: &'a str,
    /// InputLossThresholdMsec: milliseconds without content before MediaLive switches.
    pub loss_ms: i32,
    /// EQUAL_INPUT_PREFERENCE (schedule switches allowed within the pair, no automatic return)
    /// instead of PRIMARY_INPUT_PREFERRED.
    pub equal: bool,
}

fn attachment(r: &ChannelRequest<'_>, id: &str, name: &str) -> ml::builders::InputAttachmentBuilder {
    let mut settings = ml::InputSettings::builder().audio_selectors(encoder::audio_selector());
    if r.wiring.source_end_behavior {
        settings = settings
            .source_end_behavior(ml::InputSourceEndBehavior::from(r.workflow.media_live.source_end_behavior.as_str()));
    }
    ml::InputAttachment::builder().input_id(id).input_attachment_name(name).input_settings(settings.build())
}

/// The channel's InputAttachments: the primary input and, with a backup, the backup too,
/// paired on the primary's attachment. PRIMARY_INPUT_PREFERRED makes MediaLive switch back
/// once the primary has been healthy for ErrorClearTimeMsec (left to MediaLive's default);
/// the only condition is input loss, which MediaLive detects itself and acts on within the
/// threshold, with no call from ottd. The primary attachment comes first: a channel whose
/// attachments are only the pair starts on it.
pub fn input_attachments(r: &ChannelRequest<'_>) -> Vec<ml::InputAttachment> {
    let primary = attachment(r, r.input_id, r.input_name);
    let Some(f) = &r.failover else { return vec![primary.build()] };
    let loss = ml::InputLossFailoverSettings::builder().input_loss_threshold_msec(f.loss_ms).build();
    let condition = ml::FailoverCondition::builder()
        .failover_condition_settings(ml::FailoverConditionSettings::builder().input_loss_settings(loss).build())
        .build();
    let failover = ml::AutomaticInputFailoverSettings::builder()
        .secondary_input_id(f.input_id)
        .input_preference(match f.equal {
            true => ml::InputPreference::EqualInputPreference,
            false => ml::InputPreference::PrimaryInputPreferred,
        })
        .failover_conditions(condition)
        .build();
    vec![primary.automatic_input_failover_settings(failover).build(), attachment(r, f.input_id, f.input_name).build()]
}

pub fn destination(package_channel_id: &str) -> ml::OutputDestination {
    ml::OutputDestination::builder()
        .id(encoder::DESTINATION_ID)
        .media_package_settings(
            ml::MediaPackageOutputDestinationSettings::builder().channel_id(package_channel_id).build(),
        )
        .build()
}

pub async fn create_channel(
    c: &aws_sdk_medialive::Client,
    r: &ChannelRequest<'_>,
    tags: &Tags,
) -> Result<Channel, AwsError> {
    let what = format!("MediaLive channel {}", r.name);
    let out = c
        .create_channel()
        .name(r.name)
        .channel_class(ml::ChannelClass::from(r.workflow.media_live.channel_class.as_str()))
        .role_arn(r.role_arn)
        .request_id(r.request_id)
        .input_specification(encoder::input_specification(r.workflow.media_live.codec, r.profile))
        .set_input_attachments(Some(input_attachments(r)))
        .destinations(destination(r.package_channel_id))
        .encoder_settings(encoder::encoder_settings(r.profile))
        .log_level(ml::LogLevel::Warning)
        .set_tags(Some(tag_map(tags)))
        .send()
        .await
        .map_err(|e| err("CreateChannel", what.clone(), e))?;
    let ch = out.channel.ok_or_else(|| AwsError::invalid("CreateChannel", what, "no channel in the response"))?;
    Ok(Channel {
        id: ch.id().unwrap_or_default().to_string(),
        arn: ch.arn().unwrap_or_default().to_string(),
        state: ch.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
        tags: tags_of(ch.tags()),
    })
}

pub async fn find_channel(c: &aws_sdk_medialive::Client, name: &str, nonce: &str) -> Result<Option<Channel>, AwsError> {
    let mut pages = c.list_channels().into_paginator().items().send();
    while let Some(ch) = pages.next().await {
        let ch = ch.map_err(|e| err("ListChannels", "MediaLive channels", e))?;
        let tags = tags_of(ch.tags());
        let gone = matches!(ch.state(), Some(ml::ChannelState::Deleted | ml::ChannelState::Deleting));
        if ch.name() == Some(name)
            && !gone
            && has_tag(tags.iter().map(|(k, v)| (k.as_str(), v.as_str())), TAG_DEPLOYMENT, nonce)
        {
            return Ok(Some(Channel {
                id: ch.id().unwrap_or_default().to_string(),
                arn: ch.arn().unwrap_or_default().to_string(),
                state: ch.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
                tags,
            }));
        }
    }
    Ok(None)
}

/// The channel, or `None` when it is gone (not found, or DELETED).
pub async fn describe_channel(c: &aws_sdk_medialive::Client, id: &str) -> Result<Option<Channel>, AwsError> {
    let out = or_absent(
        c.describe_channel()
            .channel_id(id)
            .send()
            .await
            .map_err(|e| err("DescribeChannel", format!("MediaLive channel {id}"), e)),
    )?;
    let Some(ch) = out.filter(|ch| !matches!(ch.state(), Some(ml::ChannelState::Deleted))) else { return Ok(None) };
    Ok(Some(Channel {
        id: ch.id().unwrap_or_default().to_string(),
        arn: ch.arn().unwrap_or_default().to_string(),
        state: ch.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
        tags: tags_of(ch.tags()),
    }))
}

pub async fn start_channel(c: &aws_sdk_medialive::Client, id: &str) -> Result<(), AwsError> {
    c.start_channel()
        .channel_id(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| err("StartChannel", format!("MediaLive channel {id}"), e))
}

/// Restart one pipeline of a running channel (MediaLive refuses it for a channel that is not
/// RUNNING: a conflict).
pub async fn restart_pipeline(c: &aws_sdk_medialive::Client, id: &str, pipeline: u8) -> Result<(), AwsError> {
    let p = if pipeline == 0 {
        ml::ChannelPipelineIdToRestart::Pipeline0
    } else {
        ml::ChannelPipelineIdToRestart::Pipeline1
    };
    c.restart_channel_pipelines()
        .channel_id(id)
        .pipeline_ids(p)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| err("RestartChannelPipelines", format!("MediaLive channel {id} pipeline {pipeline}"), e))
}

pub async fn stop_channel(c: &aws_sdk_medialive::Client, id: &str) -> Result<(), AwsError> {
    c.stop_channel()
        .channel_id(id)
        .send()
        .await
        .map(|_| ())
        .map_err(|e| err("StopChannel", format!("MediaLive channel {id}"), e))
}

pub async fn delete_channel(c: &aws_sdk_medialive::Client, id: &str) -> Result<(), AwsError> {
    or_absent(
        c.delete_channel()
            .channel_id(id)
            .send()
            .await
            .map_err(|e| err("DeleteChannel", format!("MediaLive channel {id}"), e)),
    )?;
    Ok(())
}
