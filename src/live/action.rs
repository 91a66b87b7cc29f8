//! MediaLive schedule actions as plain values: the shapes of `ScheduleAction` that ottd
//! creates, and enough of the others to recognise them when DescribeSchedule returns them.
//! The AWS adapter maps these to and from the SDK's types; nothing here knows the SDK.

use chrono::{DateTime, Utc};

use chrono_tz::Tz;

use super::ticks::Ticks;
use super::timing::{fixed_time, local, Start};

/// The layer of the slate: the top one of MediaLive's eight (0-7), above any other graphic.
pub const SLATE_LAYER: u8 = 7;

/// One `ScheduleAction`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ScheduleAction {
    /// `ActionName`: ottd's come from [`super::naming::action_name`]; others' may be anything.
    pub name: String,
    /// `ScheduleActionStartSettings`.
    pub start: When,
    /// `ScheduleActionSettings`.
    pub settings: Settings,
}

/// When an action starts: what ottd creates ([`Start`]), or a follow start that only
/// someone else's action has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum When {
    Start(Start),
    /// `FollowModeScheduleActionStartSettings`: ottd never makes one.
    Follow,
}

impl When {
    pub fn immediate() -> When {
        When::Start(Start::Immediate)
    }

    pub fn fixed(at: DateTime<Utc>) -> When {
        When::Start(Start::Fixed(at))
    }

    /// `Time` of a fixed start, as MediaLive takes it.
    pub fn fixed_time(&self) -> Option<String> {
        match self {
            When::Start(Start::Fixed(at)) => Some(fixed_time(*at)),
            _ => None,
        }
    }
}

/// `ScheduleActionSettings`, one of.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Settings {
    /// `Scte35SpliceInsertSettings`: `duration` `None` = until a return to network.
    SpliceInsert { splice_event_id: u32, duration: Option<Ticks> },
    /// `Scte35ReturnToNetworkSettings`: ends the splice insert with the same id.
    ReturnToNetwork { splice_event_id: u32 },
    /// `InputSwitchSettings.InputAttachmentNameReference` (no clipping, no URL path).
    InputSwitch { attachment: String },
    /// `StaticImageActivateSettings`: the image at its own size at (0, 0), full opacity.
    StaticImageActivate { uri: String, layer: u8, duration_ms: Option<u32> },
    /// `StaticImageDeactivateSettings`.
    StaticImageDeactivate { layer: u8 },
    /// Anything else a schedule may hold (time signal, pause, motion graphics…), by the name
    /// of its settings field (`Scte35TimeSignalSettings`): ottd only shows and compares it.
    Other { kind: String },
}

impl Settings {
    /// A line for `schedule-actions` and answers.
    pub fn describe(&self) -> String {
        match self {
            Settings::SpliceInsert { splice_event_id, duration: Some(d) } => {
                format!("break {splice_event_id} for {d} ({} ticks)", d.get())
            }
            Settings::SpliceInsert { splice_event_id, duration: None } => {
                format!("break {splice_event_id} until back")
            }
            Settings::ReturnToNetwork { splice_event_id } => format!("back from break {splice_event_id}"),
            Settings::InputSwitch { attachment } => format!("switch to `{attachment}`"),
            Settings::StaticImageActivate { uri, layer, .. } => format!("image `{uri}` on layer {layer}"),
            Settings::StaticImageDeactivate { layer } => format!("image off layer {layer}"),
            Settings::Other { kind } => kind.clone(),
        }
    }
}

/// The answer to `schedule-actions`: one line per action, in the schedule's order, times in
/// the event's zone.
pub fn listing(event: &str, actions: &[ScheduleAction], now: DateTime<Utc>, tz: Tz) -> String {
    if actions.is_empty() {
        return format!("{event}'s schedule is empty");
    }
    let mut out = format!("{event}'s schedule:");
    for a in actions {
        let when = match a.start {
            When::Start(Start::Fixed(at)) => local(at, now, &tz),
            When::Start(Start::Immediate) => "immediate".to_string(),
            When::Follow => "after another action".to_string(),
        };
        out.push_str(&format!("\n- {when} `{}`: {}", a.name, a.settings.describe()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_describe_themselves_for_operators() {
        let d = Ticks::from_secs(90).ok();
        assert_eq!(
            Settings::SpliceInsert { splice_event_id: 17, duration: d }.describe(),
            "break 17 for 1m30s (8100000 ticks)"
        );
        assert_eq!(Settings::SpliceInsert { splice_event_id: 17, duration: None }.describe(), "break 17 until back");
        assert_eq!(Settings::StaticImageDeactivate { layer: SLATE_LAYER }.describe(), "image off layer 7");
        let at = DateTime::parse_from_rfc3339("2026-12-18T19:00:05Z").expect("time").with_timezone(&Utc);
        assert_eq!(When::fixed(at).fixed_time().as_deref(), Some("2026-12-18T19:00:05.000Z"));
        assert_eq!(When::immediate().fixed_time(), None);
    }

    #[test]
    fn the_listing_shows_each_action_on_a_line() {
        let now = DateTime::parse_from_rfc3339("2026-12-18T19:00:00Z").expect("time").with_timezone(&Utc);
        let tz = chrono_tz::Europe::Paris;
        assert_eq!(listing("final", &[], now, tz), "final's schedule is empty");
        let actions = [
            ScheduleAction {
                name: "ottd-final-1a2b3c4d-switch-3".into(),
                start: When::immediate(),
                settings: Settings::InputSwitch { attachment: "backup".into() },
            },
            ScheduleAction {
                name: "ottd-final-1a2b3c4d-break-4".into(),
                start: When::fixed(now + chrono::Duration::minutes(15)),
                settings: Settings::SpliceInsert { splice_event_id: 4, duration: Ticks::from_secs(90).ok() },
            },
            ScheduleAction {
                name: "console-ts".into(),
                start: When::Follow,
                settings: Settings::Other { kind: "Scte35TimeSignalSettings".into() },
            },
        ];
        assert_eq!(
            listing("final", &actions, now, tz),
            "final's schedule:\n- immediate `ottd-final-1a2b3c4d-switch-3`: switch to `backup`\n\
             - 20:15:00 CET `ottd-final-1a2b3c4d-break-4`: break 4 for 1m30s (8100000 ticks)\n\
             - after another action `console-ts`: Scte35TimeSignalSettings"
        );
    }
}
