//! Live control of a running event (issue 21): ad breaks, return to network, the slate and
//! input switches, as MediaLive schedule actions. This module is the pure domain: it decides,
//! it never calls AWS, reads a clock or touches the store.
//!
//! # What is decided here
//! - [`command`]: the grammar, one for chat and the CLI (`break final 90s at 20:15`), into a
//!   [`LiveCommand`], with errors that name the bad word; the role each command needs.
//!   [`words`]: its durations and `at` times.
//! - [`ticks`]: SCTE-35 durations in 90 kHz ticks, 33 bits, exact from milliseconds.
//! - [`naming`]: deterministic action names (`ottd-<event>-<nonce>-<kind>-<counter>`) and
//!   splice event ids from the channel's counter.
//! - [`timing`]: immediate or fixed starts; MediaLive's 15 s-14 days rule with its reason.
//! - [`inputs`]: the channel's attachments (primary, backup, others, a failover pair) and
//!   resolving what `switch` names, with a did-you-mean.
//! - [`action`]: schedule actions as plain values mirroring MediaLive's shapes.
//! - [`decide`]: the decision tables: command + channel view → actions to create and the
//!   answer, a confirmation question, a read, or a refusal with its reason.
//! - [`ledger`]: what ottd's recorded commands say stands now (an open break, the slate) and
//!   settling a command a killed holder left unanswered.
//! - [`outside`]: a switch MediaLive reports that ottd did not make, and what people are told.
//! - [`retry`]: a retried command against what the schedule holds: nothing to do, send, or
//!   refuse because a different action holds the name.
//!
//! # What the edges do (not here)
//! Expected flow for one command: parse ([`command::parse`]) with the events' zones and the
//! clock; check the caller's role ([`LiveCommand::role`]); build the [`ChannelView`] from
//! DescribeChannel (class, state, `PipelineDetails`), the configuration (attachment names,
//! slate image, window) and the store (the open break, the slate); take the next counter value
//! of the channel and record it with the command's intent (fenced like any irreversible step);
//! [`decide`]; ask the operator when the plan says so; send one BatchUpdateSchedule; record the
//! result and answer. On a timeout or "already exists", DescribeSchedule and [`retry::retry`]
//! with the recorded plan, never a new counter. `schedule-actions` is DescribeSchedule and
//! [`action::listing`].

pub mod action;
pub mod command;
pub mod decide;
pub mod inputs;
pub mod ledger;
pub mod naming;
pub mod outside;
pub mod retry;
pub mod ticks;
pub mod timing;
pub mod words;

pub use action::{ScheduleAction, Settings, When};
pub use command::{parse, CommandError, EventZone, LiveCommand, SwitchTarget};
pub use decide::{asks_first, decide, ChannelView, Decision, Ids, Plan, Refusal};
pub use inputs::{InputPreference, Inputs};
pub use naming::{action_name, ActionKind, ActionName};
pub use retry::{retry, Retry};
pub use ticks::Ticks;
pub use timing::{check_fixed, Start, TimingError};

#[cfg(test)]
mod tests;
