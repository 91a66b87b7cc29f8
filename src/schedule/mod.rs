//! Schedules: which events exist (`file`), when they happen (`timing`).
//!
//! Pure: reads files and computes instants; never touches AWS or the state store.

pub mod file;
pub mod timing;

pub use file::EventSpec;
pub use timing::{Timing, When, Window};
