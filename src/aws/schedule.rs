//! MediaLive's channel schedule (BatchUpdateSchedule, DescribeSchedule): the edge of live
//! control. `live::action::ScheduleAction` (plain values, decided in `live`) is turned into the
//! SDK's shapes here and read back from them; nothing is decided here.

use aws_sdk_medialive::types as ml;

use super::{err, or_absent, AwsError};
use crate::live::action::{ScheduleAction, Settings, When};
use crate::live::inputs::{InputPreference, Inputs};
use crate::live::ticks::Ticks;
use crate::live::timing::{fixed_time, parse_fixed_time, Start};

fn start_settings(w: &When) -> ml::ScheduleActionStartSettings {
    let b = ml::ScheduleActionStartSettings::builder();
    match w {
        When::Start(Start::Fixed(at)) => b
            .fixed_mode_schedule_action_start_settings(
                ml::FixedModeScheduleActionStartSettings::builder().time(fixed_time(*at)).build(),
            )
            .build(),
        // ottd never creates follow actions; one read back is written as it would be now.
        When::Start(Start::Immediate) | When::Follow => b
            .immediate_mode_schedule_action_start_settings(
                ml::ImmediateModeScheduleActionStartSettings::builder().build(),
            )
            .build(),
    }
}

fn action_settings(s: &Settings) -> Option<ml::ScheduleActionSettings> {
    let b = ml::ScheduleActionSettings::builder();
    let b = match s {
        Settings::SpliceInsert { splice_event_id, duration } => b.scte35_splice_insert_settings(
            ml::Scte35SpliceInsertScheduleActionSettings::builder()
                .splice_event_id(i64::from(*splice_event_id))
                .set_duration(duration.map(Ticks::as_i64))
                .build(),
        ),
        Settings::ReturnToNetwork { splice_event_id } => b.scte35_return_to_network_settings(
            ml::Scte35ReturnToNetworkScheduleActionSettings::builder()
                .splice_event_id(i64::from(*splice_event_id))
                .build(),
        ),
        Settings::InputSwitch { attachment } => b.input_switch_settings(
            ml::InputSwitchScheduleActionSettings::builder().input_attachment_name_reference(attachment).build(),
        ),
        Settings::StaticImageActivate { uri, layer, duration_ms } => b.static_image_activate_settings(
            ml::StaticImageActivateScheduleActionSettings::builder()
                .image(ml::InputLocation::builder().uri(uri).build())
                .layer(i32::from(*layer))
                .set_duration(duration_ms.and_then(|d| i32::try_from(d).ok()))
                .build(),
        ),
        Settings::StaticImageDeactivate { layer } => b.static_image_deactivate_settings(
            ml::StaticImageDeactivateScheduleActionSettings::builder().layer(i32::from(*layer)).build(),
        ),
        // Read back only: ottd never creates an action it does not know.
        Settings::Other { .. } => return None,
    };
    Some(b.build())
}

/// The SDK's shape of one action (none for a kind ottd only reads).
pub fn to_sdk(a: &ScheduleAction) -> Option<ml::ScheduleAction> {
    Some(
        ml::ScheduleAction::builder()
            .action_name(&a.name)
            .schedule_action_start_settings(start_settings(&a.start))
            .schedule_action_settings(action_settings(&a.settings)?)
            .build(),
    )
}

/// One action as DescribeSchedule gives it back.
pub fn from_sdk(a: &ml::ScheduleAction) -> ScheduleAction {
    let start = a.schedule_action_start_settings();
    let when = match start {
        Some(s) if s.follow_mode_schedule_action_start_settings().is_some() => When::Follow,
        Some(s) => {
            match s.fixed_mode_schedule_action_start_settings().and_then(|f| f.time()).and_then(parse_fixed_time) {
                Some(at) => When::Start(Start::Fixed(at)),
                None => When::Start(Start::Immediate),
            }
        }
        None => When::Start(Start::Immediate),
    };
    let settings = a.schedule_action_settings();
    let id = |v: Option<i64>| v.and_then(|v| u32::try_from(v).ok()).unwrap_or_default();
    let settings = match settings {
        Some(s) if s.scte35_splice_insert_settings().is_some() => {
            let x = s.scte35_splice_insert_settings();
            Settings::SpliceInsert {
                splice_event_id: id(x.and_then(|x| x.splice_event_id())),
                // 0 and none both mean open-ended: MediaLive may give back either.
                duration: x.and_then(|x| x.duration()).filter(|d| *d > 0).and_then(|d| Ticks::from_raw(d).ok()),
            }
        }
        Some(s) if s.scte35_return_to_network_settings().is_some() => Settings::ReturnToNetwork {
            splice_event_id: id(s.scte35_return_to_network_settings().and_then(|x| x.splice_event_id())),
        },
        Some(s) if s.input_switch_settings().is_some() => Settings::InputSwitch {
            attachment: s
                .input_switch_settings()
                .and_then(|x| x.input_attachment_name_reference())
                .unwrap_or_default()
                .to_string(),
        },
        Some(s) if s.static_image_activate_settings().is_some() => {
            let x = s.static_image_activate_settings();
            Settings::StaticImageActivate {
                uri: x.and_then(|x| x.image()).and_then(|i| i.uri()).unwrap_or_default().to_string(),
                layer: x.and_then(|x| x.layer()).and_then(|l| u8::try_from(l).ok()).unwrap_or_default(),
                // 0 and none both mean "until deactivated" (MediaLive's default, which its
                // answers may spell out).
                duration_ms: x.and_then(|x| x.duration()).filter(|d| *d > 0).and_then(|d| u32::try_from(d).ok()),
            }
        }
        Some(s) if s.static_image_deactivate_settings().is_some() => Settings::StaticImageDeactivate {
            layer: s
                .static_image_deactivate_settings()
                .and_then(|x| x.layer())
                .and_then(|l| u8::try_from(l).ok())
                .unwrap_or_default(),
        },
        _ => Settings::Other { kind: "another kind of action".into() },
    };
    ScheduleAction { name: a.action_name().unwrap_or_default().to_string(), start: when, settings }
}

/// What live control reads of a channel (DescribeChannel): its class and state, its input
/// attachments as [`Inputs`], and the active attachment of each pipeline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiveChannel {
    pub class: String,
    pub state: String,
    pub inputs: Inputs,
    /// `PipelineDetails[].ActiveInputAttachmentName`, one per pipeline (two on STANDARD).
    pub active: Vec<Option<String>>,
}

/// The channel's attachments as live control names them: the first is primary; its automatic
/// failover partner (or, with no pair, a second attachment) is backup; the rest by name.
pub fn inputs_of(attachments: &[ml::InputAttachment]) -> Option<Inputs> {
    let first = attachments.first()?;
    let name = |a: &ml::InputAttachment| a.input_attachment_name().unwrap_or_default().to_string();
    let failover = first.automatic_input_failover_settings();
    let partner = failover.and_then(|f| f.secondary_input_id());
    let backup_at = match partner {
        Some(id) => attachments.iter().skip(1).position(|a| a.input_id() == Some(id)).map(|i| i + 1),
        None if attachments.len() == 2 => Some(1),
        None => None,
    };
    let pair = failover.filter(|_| backup_at.is_some()).map(|f| match f.input_preference() {
        Some(ml::InputPreference::EqualInputPreference) => InputPreference::Equal,
        _ => InputPreference::PrimaryPreferred,
    });
    Some(Inputs {
        primary: name(first),
        backup: backup_at.map(|i| name(&attachments[i])),
        others: attachments
            .iter()
            .enumerate()
            .skip(1)
            .filter(|(i, _)| Some(*i) != backup_at)
            .map(|(_, a)| name(a))
            .collect(),
        pair,
    })
}

/// DescribeChannel, as live control needs it (`None`: no such channel).
pub async fn describe_live(c: &aws_sdk_medialive::Client, channel: &str) -> Result<Option<LiveChannel>, AwsError> {
    let what = || format!("MediaLive channel {channel}");
    let out = or_absent(
        c.describe_channel().channel_id(channel).send().await.map_err(|e| err("DescribeChannel", what(), e)),
    )?;
    let Some(ch) = out else { return Ok(None) };
    let class = ch.channel_class().map(|c| c.as_str().to_string()).unwrap_or_else(|| "STANDARD".to_string());
    let pipelines = if class == "SINGLE_PIPELINE" { 1 } else { 2 };
    let mut active = vec![None; pipelines];
    for p in ch.pipeline_details() {
        let i = match p.pipeline_id() {
            Some("1") => 1,
            _ => 0,
        };
        if let Some(slot) = active.get_mut(i) {
            *slot = p.active_input_attachment_name().map(str::to_string);
        }
    }
    let inputs = inputs_of(ch.input_attachments())
        .ok_or_else(|| AwsError::invalid("DescribeChannel", what(), "the channel has no input attachment"))?;
    Ok(Some(LiveChannel {
        class,
        state: ch.state().map(|s| s.as_str().to_string()).unwrap_or_default(),
        inputs,
        active,
    }))
}

/// Create `actions` in one BatchUpdateSchedule: all of them, or none (MediaLive's rule).
pub async fn create(c: &aws_sdk_medialive::Client, channel: &str, actions: &[ScheduleAction]) -> Result<(), AwsError> {
    let what = format!("the schedule of MediaLive channel {channel}");
    let sdk: Vec<ml::ScheduleAction> = actions.iter().filter_map(to_sdk).collect();
    if sdk.len() != actions.len() {
        return Err(AwsError::invalid("BatchUpdateSchedule", what, "an action of a kind ottd does not create"));
    }
    c.batch_update_schedule()
        .channel_id(channel)
        .creates(ml::BatchScheduleActionCreateRequest::builder().set_schedule_actions(Some(sdk)).build())
        .send()
        .await
        .map(|_| ())
        .map_err(|e| err("BatchUpdateSchedule", what, e))
}

/// Every action the channel's schedule holds now (all pages).
pub async fn describe(c: &aws_sdk_medialive::Client, channel: &str) -> Result<Vec<ScheduleAction>, AwsError> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = c
            .describe_schedule()
            .channel_id(channel)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| err("DescribeSchedule", format!("the schedule of MediaLive channel {channel}"), e))?;
        out.extend(page.schedule_actions().iter().map(from_sdk));
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn every_kind_ottd_creates_reads_back_as_it_was() {
        let at = chrono::Utc.with_ymd_and_hms(2026, 12, 4, 20, 0, 5).single().expect("time");
        let actions = [
            ScheduleAction {
                name: "ottd-final-1a2b3c4d-break-17".into(),
                start: When::Start(Start::Immediate),
                settings: Settings::SpliceInsert {
                    splice_event_id: 17,
                    duration: Some(Ticks::from_secs(90).expect("ticks")),
                },
            },
            ScheduleAction {
                name: "b".into(),
                start: When::Start(Start::Fixed(at)),
                settings: Settings::ReturnToNetwork { splice_event_id: 17 },
            },
            ScheduleAction {
                name: "c".into(),
                start: When::Start(Start::Immediate),
                settings: Settings::InputSwitch { attachment: "backup".into() },
            },
            ScheduleAction {
                name: "d".into(),
                start: When::Start(Start::Immediate),
                settings: Settings::StaticImageActivate {
                    uri: "s3://slates/final.png".into(),
                    layer: 7,
                    duration_ms: None,
                },
            },
            ScheduleAction {
                name: "e".into(),
                start: When::Start(Start::Immediate),
                settings: Settings::StaticImageDeactivate { layer: 7 },
            },
        ];
        for a in &actions {
            let sdk = to_sdk(a).expect("a kind ottd creates");
            assert_eq!(&from_sdk(&sdk), a);
        }
        let splice = to_sdk(&actions[0]).expect("sdk");
        let ticks = splice
            .schedule_action_settings()
            .and_then(|s| s.scte35_splice_insert_settings())
            .and_then(|s| s.duration());
        assert_eq!(ticks, Some(8_100_000), "90 s in 90 kHz ticks");
        assert!(
            to_sdk(&ScheduleAction { settings: Settings::Other { kind: "x".into() }, ..actions[0].clone() }).is_none()
        );
    }

    #[test]
    fn defaults_spelled_out_in_an_answer_read_as_what_ottd_sent() {
        // A slate and an open-ended break as MediaLive may describe them: every default given
        // (duration 0 = until deactivated / open-ended, fades, opacity, position).
        let slate = ml::ScheduleAction::builder()
            .action_name("ottd-final-1a2b3c4d-slate-on-4")
            .schedule_action_settings(
                ml::ScheduleActionSettings::builder()
                    .static_image_activate_settings(
                        ml::StaticImageActivateScheduleActionSettings::builder()
                            .image(ml::InputLocation::builder().uri("s3ssl://assets/slate/default.png").build())
                            .layer(7)
                            .duration(0)
                            .fade_in(0)
                            .fade_out(0)
                            .opacity(100)
                            .image_x(0)
                            .image_y(0)
                            .build(),
                    )
                    .build(),
            )
            .build();
        assert_eq!(
            from_sdk(&slate).settings,
            Settings::StaticImageActivate {
                uri: "s3ssl://assets/slate/default.png".into(),
                layer: 7,
                duration_ms: None
            }
        );
        let brk = ml::ScheduleAction::builder()
            .action_name("ottd-final-1a2b3c4d-break-5")
            .schedule_action_settings(
                ml::ScheduleActionSettings::builder()
                    .scte35_splice_insert_settings(
                        ml::Scte35SpliceInsertScheduleActionSettings::builder().splice_event_id(5).duration(0).build(),
                    )
                    .build(),
            )
            .build();
        assert_eq!(from_sdk(&brk).settings, Settings::SpliceInsert { splice_event_id: 5, duration: None });
    }
}
