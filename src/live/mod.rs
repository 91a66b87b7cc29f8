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

pub mod command;
pub mod inputs;
pub mod naming;
pub mod ticks;
pub mod timing;
pub mod words;

pub use command::{parse, CommandError, EventZone, LiveCommand, SwitchTarget};
pub use inputs::{InputPreference, Inputs};
pub use naming::{action_name, ActionKind, ActionName};
pub use ticks::Ticks;
pub use timing::{check_fixed, Start, TimingError};
