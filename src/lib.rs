//! ottd: runs live OTT events on AWS end to end (MediaLive -> MediaPackage -> CloudFront).
//!
//! # Layout
//! - [`config`]: ottd.toml, workflows, encoding profiles; every problem reported at once.
//! - [`lifecycle`]: the domain's lifecycle words: phases, resource statuses, overrides,
//!   MediaLive's alerts.
//! - [`target`]: where a notice goes (`notify` entries), checked with a did-you-mean.
//! - [`schedule`]: schedule files, event timing and the desired phase (pure).
//! - [`plan`]: what one event's workflow is made of: resources, names, settings (pure).
//! - [`cost`]: what an event costs: billing classes, the dated price table, the estimate,
//!   the recorded runs (pure).
//! - [`store`]: the SQLite state file; every AWS create/delete is recorded before and after.
//! - [`aws`]: one small adapter per AWS service, the only code that calls the SDK.
//! - [`alerts`]: MediaLive alerts in (SQS), recovery (a pure policy) and its actions out.
//! - [`chat`]: `/ott` on Slack and Discord: grammar, roles, approvals, the front desk, the
//!   platforms' adapters, notices to channels.
//! - [`engine`]: deploy / start / stop / teardown of one event, resumable and idempotent.
//! - [`live`]: live control of a running event (breaks, back, slate, input switches): the
//!   grammar and decisions, pure; the edges call MediaLive's schedule.
//! - [`ops`]: the operations layer: every actor's one path to act on events (policy,
//!   overrides, one worker per event, audit trail, reply model).
//! - [`daemon`]: `ottd run`, the scheduler daemon: reconcile loop, reload, signals.
//! - [`http`]: the daemon's HTTP listener (health, readiness, metrics, SNS deliveries; chat
//!   and the preview page add their routes).
//! - [`preview`]: the preview page: hls.js and dash.js side by side with the probe's word,
//!   behind a per-event token.
//! - [`metrics`]: Prometheus metrics.
//! - [`notify`]: the seam notifications go through.
//! - [`cli`]: the `ottd` command line.
//! - [`logging`]: tracing output, human or JSON.
//! - [`secret`]: a value that never shows in logs.
//! - [`clock`]: the clock decisions read (system, manual or tokio-driven in tests).
#![forbid(unsafe_code)]

pub mod alerts;
pub mod aws;
pub mod chat;
pub mod cli;
pub mod clock;
pub mod config;
pub mod cost;
pub mod daemon;
pub mod engine;
pub mod http;
pub mod lease;
pub mod lifecycle;
pub mod live;
pub mod logging;
pub mod metrics;
pub mod notify;
pub mod ops;
pub mod outbound;
pub mod plan;
pub mod preview;
pub mod probe;
pub mod schedule;
pub mod secret;
pub mod store;
pub mod target;
