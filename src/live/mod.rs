//! Live control of a running event (issue 21): ad breaks, return to network, the slate and
//! input switches, as MediaLive schedule actions. This module is the pure domain: it decides,
//! it never calls AWS, reads a clock or touches the store.
//!
//! # What is decided here
//! - [`ticks`]: SCTE-35 durations in 90 kHz ticks, 33 bits, exact from milliseconds.
//! - [`naming`]: deterministic action names (`ottd-<event>-<nonce>-<kind>-<counter>`) and
//!   splice event ids from the channel's counter.
//! - [`timing`]: immediate or fixed starts; MediaLive's 15 s-14 days rule with its reason.

pub mod naming;
pub mod ticks;
pub mod timing;

pub use naming::{action_name, ActionKind, ActionName};
pub use ticks::Ticks;
pub use timing::{check_fixed, Start, TimingError};
