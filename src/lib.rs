//! ottd: runs live OTT events on AWS end to end (MediaLive -> MediaPackage -> CloudFront).
//!
//! # Layout
//! - [`config`]: ottd.toml, workflows, encoding profiles; every problem reported at once.
//! - [`schedule`]: schedule files and event timing (pure).
//! - [`plan`]: what one event's workflow is made of: resources, names, settings (pure).
//! - [`store`]: the SQLite state file; every AWS create/delete is recorded before and after.
//! - [`aws`]: one small adapter per AWS service, the only code that calls the SDK.
//! - [`engine`]: deploy / start / stop / teardown of one event, resumable and idempotent.
//! - [`cli`]: the `ottd` command line.
//! - [`logging`]: tracing output, human or JSON.
//! - [`secret`]: a value that never shows in logs.
#![forbid(unsafe_code)]

pub mod config;
pub mod schedule;
pub mod plan;
pub mod store;
pub mod aws;
pub mod cli;
pub mod engine;
pub mod logging;
pub mod secret;
