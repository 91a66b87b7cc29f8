//! Schedules: which events exist (`file`), when they happen (`timing`).
//!
//! Pure: reads files and computes instants; never touches AWS or the state store.

pub mod conflicts;
pub mod file;
pub mod listing;
pub mod phase;
pub mod timing;

pub use file::EventSpec;
pub use phase::{
    decide, next_boundaries, override_until, step_toward, Action, Decision, Desired, Override, OverrideKind,
};
pub use timing::{Timing, When, Window};
