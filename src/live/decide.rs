//! The decision tables: a [`LiveCommand`] and what is known of the channel ([`ChannelView`])
//! give the schedule actions to create with the answer to give, a read, or a refusal that says
//! why. Pure: the channel's state, the ids and the clock are passed in.
//!
//! | command | refused when | creates |
//! |---|---|---|
//! | `break` | a fixed time outside 15 s-14 d; now: channel not running, a break already open | splice insert, id = counter |
//! | `back` | channel not running; no open break | return to network with the open break's id |
//! | `slate on` | not running; slate already up; no slate image | static image on layer 7 |
//! | `slate off` | not running; slate not up | static image off layer 7 |
//! | `switch` | not running; unknown attachment; already there; within a failover pair that prefers primary | input switch |
//! | `schedule-actions` | never | nothing: a read |
//!
//! A switch away from primary while the event is inside its window asks for confirmation.
//! None of these needs a feature activation: the slate is the channel-wide static image
//! (not the per-output overlay) and no input prepare is planned, so the view carries none.

use std::fmt;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

use super::action::{ScheduleAction, Settings, When, SLATE_LAYER};
use super::command::{LiveCommand, SwitchTarget};
use super::inputs::{resolve, InputPreference, Inputs, Slot, TargetError};
use super::naming::{action_name, splice_event_id, ActionKind, ActionName, NamingError};
use super::timing::{check_start, local, Start, TimingError};
use crate::config::workflow::ChannelClass;

/// What is known of the event's channel when a command arrives (DescribeChannel, the store,
/// the configuration, the schedule).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelView {
    /// STANDARD channels delay an immediate input switch by about 10 s (both pipelines switch
    /// together): the answer says so.
    pub class: ChannelClass,
    /// Whether the channel is RUNNING: immediate actions on a channel off air mean nothing.
    pub running: bool,
    pub inputs: Inputs,
    /// `PipelineDetails[].ActiveInputAttachmentName` by pipeline (`None`: not reported).
    pub active: Vec<Option<String>>,
    /// The splice event id of the break that is open: started, not over by its duration, no
    /// return to network yet.
    pub open_break: Option<u32>,
    /// Whether the slate is up (activated on [`SLATE_LAYER`], not deactivated since).
    pub slate_up: bool,
    /// The slate's image (`s3://…` or `https://…`, 32-bit BMP/PNG/TGA, the video's size).
    pub slate_image: Option<String>,
    /// Whether the event is inside its on-air window: leaving primary then asks first.
    pub in_window: bool,
    /// The event's zone, for the times in answers.
    pub tz: Tz,
}

/// What names a command's actions: the deployment's nonce and the counter value recorded for
/// this command (a retry brings the same one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ids<'a> {
    pub nonce: &'a str,
    pub counter: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Create these actions in one BatchUpdateSchedule.
    Write(Plan),
    /// A read: DescribeSchedule, nothing written (`schedule-actions`).
    Read,
    Refuse(Refusal),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub actions: Vec<ScheduleAction>,
    /// `Some(question)`: ask the operator before writing anything.
    pub confirm: Option<String>,
    /// What to answer once MediaLive has taken the batch.
    pub answer: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NotRunning {
        event: String,
        command: &'static str,
    },
    BreakOpen {
        event: String,
        splice_event_id: u32,
    },
    NoOpenBreak {
        event: String,
    },
    SlateUp {
        event: String,
    },
    SlateDown {
        event: String,
    },
    NoSlateImage {
        event: String,
    },
    Target(TargetError),
    AlreadyOn {
        event: String,
        label: String,
    },
    /// MediaLive won't switch between the inputs of a failover pair that prefers primary.
    WithinPair {
        event: String,
        to_backup: bool,
    },
    Timing {
        error: TimingError,
        tz: Tz,
    },
    Naming(NamingError),
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Refusal::NotRunning { event, command } => {
                write!(f, "{event}'s channel is not running: `{command}` needs it on air")
            }
            Refusal::BreakOpen { event, splice_event_id } => write!(
                f,
                "a break is already open on {event} (splice event {splice_event_id}): `/ott back {event}` ends it"
            ),
            Refusal::NoOpenBreak { event } => write!(
                f,
                "no open break on {event} by ottd; a break started elsewhere ends with `/ott back {event} SPLICE_ID` \
                 (`/ott schedule-actions {event}` shows the ids)"
            ),
            Refusal::SlateUp { event } => write!(f, "the slate is already up on {event}"),
            Refusal::SlateDown { event } => write!(f, "the slate is not up on {event}"),
            Refusal::NoSlateImage { event } => write!(f, "{event} has no slate image: its workflow names none"),
            Refusal::Target(e) => write!(f, "{e}"),
            Refusal::AlreadyOn { event, label } => write!(f, "{event} is already on {label}"),
            Refusal::WithinPair { event, to_backup: true } => write!(
                f,
                "{event}'s backup is primary's automatic failover partner and the pair prefers primary: \
                 MediaLive fails over by itself on input loss, and switches within a pair only with \
                 EQUAL_INPUT_PREFERENCE"
            ),
            Refusal::WithinPair { event, to_backup: false } => write!(
                f,
                "{event} is on its backup, primary's automatic failover partner: MediaLive returns to primary \
                 by itself once it is healthy, and switches within a pair only with EQUAL_INPUT_PREFERENCE"
            ),
            Refusal::Timing { error, tz } => f.write_str(&error.in_zone(*tz)),
            Refusal::Naming(e) => write!(f, "can't name the schedule action: {e}"),
        }
    }
}

impl std::error::Error for Refusal {}

/// Whether `cmd` is asked about before it runs: a switch away from primary while the event is
/// inside its window (the chat gate asks before anything is decided, so it goes by what was
/// typed; [`decide`]'s question goes by the attachment it resolves to).
pub fn asks_first(cmd: &LiveCommand, in_window: bool) -> bool {
    in_window && matches!(cmd, LiveCommand::Switch { to, .. } if *to != SwitchTarget::Primary)
}

/// What to do with `cmd` on a channel in the state `ch`, at `now`.
pub fn decide(cmd: &LiveCommand, ch: &ChannelView, ids: Ids<'_>, now: DateTime<Utc>) -> Decision {
    match plan(cmd, ch, ids, now) {
        Ok(Some(p)) => Decision::Write(p),
        Ok(None) => Decision::Read,
        Err(r) => Decision::Refuse(r),
    }
}

fn plan(cmd: &LiveCommand, ch: &ChannelView, ids: Ids<'_>, now: DateTime<Utc>) -> Result<Option<Plan>, Refusal> {
    let event = cmd.event();
    let ev = || event.to_string();
    let start = match cmd {
        LiveCommand::Break { start, .. } => *start,
        LiveCommand::ScheduleActions { .. } => return Ok(None),
        _ => Start::Immediate,
    };
    check_start(now, start).map_err(|error| Refusal::Timing { error, tz: ch.tz })?;
    if start == Start::Immediate && !ch.running {
        return Err(Refusal::NotRunning { event: ev(), command: cmd.word() });
    }
    let name = |kind, counter| action_name(event, ids.nonce, kind, counter).map_err(Refusal::Naming);
    let one = |name: ActionName, settings, answer: String| Plan {
        actions: vec![ScheduleAction { name: name.as_str().to_string(), start: When::Start(start), settings }],
        confirm: None,
        answer,
    };
    Ok(Some(match cmd {
        LiveCommand::Break { duration, .. } => {
            if let (Some(open), Start::Immediate) = (ch.open_break, start) {
                return Err(Refusal::BreakOpen { event: ev(), splice_event_id: open });
            }
            let id = splice_event_id(ids.counter);
            let when = match start {
                Start::Fixed(at) => format!("at {}", local(at, now, &ch.tz)),
                Start::Immediate => "now".to_string(),
            };
            let answer = match duration {
                Some(d) => format!("break on {event} {when} for {d}: splice insert {id} ({} ticks)", d.get()),
                None => format!("break on {event} {when} until `/ott back {event}`: splice insert {id}"),
            };
            let settings = Settings::SpliceInsert { splice_event_id: id, duration: *duration };
            one(name(ActionKind::Break, ids.counter)?, settings, answer)
        }
        LiveCommand::Back { splice, .. } => {
            // A splice id given ends that break, wherever it was started (named by this
            // command's counter: such ids are anyone's); otherwise ottd's open one (named
            // after it: two `back`s for one break are one action).
            let (id, action) = match splice {
                Some(id) => (*id, name(ActionKind::Return, ids.counter)?),
                None => {
                    let id = ch.open_break.ok_or_else(|| Refusal::NoOpenBreak { event: ev() })?;
                    (id, name(ActionKind::Back, id)?)
                }
            };
            let answer = format!("back to the network on {event}: break {id} ends now");
            one(action, Settings::ReturnToNetwork { splice_event_id: id }, answer)
        }
        LiveCommand::Slate { on: true, .. } => {
            if ch.slate_up {
                return Err(Refusal::SlateUp { event: ev() });
            }
            let uri = ch.slate_image.clone().ok_or_else(|| Refusal::NoSlateImage { event: ev() })?;
            let settings = Settings::StaticImageActivate { uri, layer: SLATE_LAYER, duration_ms: None };
            let answer = format!("slate up on {event} (full frame, top layer) until `/ott slate {event} off`");
            one(name(ActionKind::SlateOn, ids.counter)?, settings, answer)
        }
        LiveCommand::Slate { on: false, .. } => {
            if !ch.slate_up {
                return Err(Refusal::SlateDown { event: ev() });
            }
            let settings = Settings::StaticImageDeactivate { layer: SLATE_LAYER };
            one(name(ActionKind::SlateOff, ids.counter)?, settings, format!("slate down on {event}"))
        }
        LiveCommand::Switch { to, .. } => {
            let target = resolve(event, to, &ch.inputs).map_err(Refusal::Target)?;
            let label = ch.inputs.label(target);
            let known: Vec<&str> = ch.active.iter().flatten().map(String::as_str).collect();
            if super::inputs::all_on(&ch.active, target) {
                return Err(Refusal::AlreadyOn { event: ev(), label });
            }
            if ch.inputs.pair == Some(InputPreference::PrimaryPreferred) {
                let slot = ch.inputs.slot(target);
                let from_partner = known.iter().any(|a| ch.inputs.paired(a, target));
                if slot == Some(Slot::Backup) || (slot == Some(Slot::Primary) && from_partner) {
                    return Err(Refusal::WithinPair { event: ev(), to_backup: slot == Some(Slot::Backup) });
                }
            }
            let answer = match ch.class {
                ChannelClass::Standard => {
                    format!("switching {event} to {label} in about 10 s: MediaLive switches both pipelines together")
                }
                ChannelClass::SinglePipeline => format!("switching {event} to {label} now"),
            };
            let settings = Settings::InputSwitch { attachment: target.to_string() };
            let mut plan = one(name(ActionKind::Switch, ids.counter)?, settings, answer);
            if ch.in_window && ch.inputs.slot(target) != Some(Slot::Primary) {
                plan.confirm = Some(format!("{event} is on air: switch it away from primary, to {label}?"));
            }
            plan
        }
        LiveCommand::ScheduleActions { .. } => return Ok(None),
    }))
}
