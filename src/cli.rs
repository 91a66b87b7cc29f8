//! The `ottd` command line: parse arguments, hand the operation to the operations layer
//! ([`crate::ops`]) as the current OS user, render its reply as text or JSON. No command
//! semantics live here: what a command means is the same from chat or the daemon.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand, ValueEnum};

use crate::clock::SystemClock;
use crate::config::settings::StateBackend;
use crate::engine::{Outcome, Progress, StepLine};
use crate::ops::{Actor, EngineWorkflows, ErrorKind, Files, Operation, Ops};
use crate::store::transfer::SnapshotError;
use crate::store::{AuditEnd, AuditEntry, Snapshot, Store, TransferError};

#[derive(Parser, Debug)]
#[command(name = "ottd", version, about = "Runs live OTT events on AWS: MediaLive -> MediaPackage -> CloudFront")]
pub struct Cli {
    /// ottd.toml to use.
    #[arg(long, global = true, env = "OTTD_CONFIG", default_value = "config/ottd.toml")]
    pub config: PathBuf,
    /// State file (SQLite); overrides paths.state of ottd.toml.
    #[arg(long, global = true, env = "OTTD_STATE")]
    pub state: Option<PathBuf>,
    /// Output format of plan, status, links, schedule and audit.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Text,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Check ottd.toml, every workflow, encoding profile and schedule file; report every error.
    Validate,
    /// Create the two IAM service roles (MediaLive, MediaPackage) once and record their ARNs.
    Bootstrap,
    /// Show what deploying EVENT would create (names, dependencies, critical path).
    Plan { event: String },
    /// Create the event's workflow (idempotent; resumes an interrupted deploy).
    Deploy { event: String },
    /// Start the event's MediaLive channel and wait until it is RUNNING.
    Start { event: String },
    /// Stop the event's MediaLive channel and wait until it is IDLE.
    Stop { event: String },
    /// Stop the channel and delete everything the event owns (resumable).
    Teardown { event: String },
    /// Phase, resources and channel state of one event, or of every deployed event.
    Status { event: Option<String> },
    /// Playback URLs, test-player links and (push inputs) ingest destinations.
    Links { event: String },
    /// What EVENT will cost (its window with lead and tail, or per hour) and what its
    /// recorded runs cost, with the price table's date.
    Cost {
        event: String,
        /// Viewers assumed for MediaPackage origination and CloudFront (a low-high range).
        #[arg(long, default_value_t = crate::cost::DEFAULT_AUDIENCE)]
        audience: u64,
        /// Print the estimate and the runs as JSON (as `--output json`).
        #[arg(long)]
        json: bool,
    },
    /// Run the scheduler daemon: put every timed event on air on time, reload on change.
    Run {
        /// Log JSON lines instead of human-readable text.
        #[arg(long)]
        json_logs: bool,
    },
    /// Timed events with their next phase changes, in local time and UTC.
    Schedule,
    /// Tell the daemon to leave EVENT alone until `ottd resume EVENT`.
    Hold { event: String },
    /// Clear any operator override of EVENT: the schedule is in control again.
    Resume { event: String },
    /// Active MediaLive alerts (with --all, the history too), of one event or all.
    Alerts {
        event: Option<String>,
        #[arg(long)]
        all: bool,
    },
    /// Say a human has ALERT (its number in `ottd alerts`): no more repeat notifications.
    Ack { alert: i64 },
    /// Who did what, when, and how it ended: CLI users, the schedule, recovery, chat users.
    Audit {
        event: Option<String>,
        /// Only rows from this long ago on, e.g. 2h or 7d.
        #[arg(long, value_parser = humantime::parse_duration)]
        since: Option<std::time::Duration>,
        /// Reads too (status, links, plan…), not only what changed something.
        #[arg(long)]
        all: bool,
    },
    /// An SCTE-35 ad break on the running channel, now or at a time in the event's zone:
    /// `ottd break final 90s`, `ottd break final 30s at 20:15`; no duration: until `ottd back`.
    Break {
        event: String,
        /// A duration (90s, 1m30s, 2m) and/or `at HH:MM[:SS]`.
        words: Vec<String>,
    },
    /// Return to the network: end the event's open break.
    Back {
        event: String,
        /// The splice event id of a break started elsewhere (the console, another tool), as
        /// `schedule-actions` shows it; none: ottd's open break.
        #[arg(value_name = "SPLICE_ID")]
        splice_id: Option<u32>,
    },
    /// The full-frame slate image on the event's channel, on or off.
    Slate {
        event: String,
        /// `on` or `off`.
        #[arg(value_name = "on|off")]
        on_off: String,
    },
    /// Switch the running channel's input: primary, backup or an input attachment's name.
    Switch { event: String, to: String },
    /// What the event's channel schedule holds now, and each pipeline's active input.
    ScheduleActions { event: String },
    /// A new preview page link for EVENT: the old one stops opening (a link that went too far).
    RotatePreview { event: String },
    /// Move the state between backends (one box to a pair and back): export every record,
    /// import it into the store ottd.toml names.
    State {
        #[command(subcommand)]
        action: StateAction,
    },
}

#[derive(Subcommand, Debug)]
pub enum StateAction {
    /// Write every durable record of the configured store as JSON (leases excepted).
    Export {
        /// Write it to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
    },
    /// Read a snapshot written by `ottd state export` into the configured store (created if it
    /// is a missing DynamoDB table). Idempotent; refused while a daemon holds an event's lease.
    Import {
        /// A snapshot file written by `ottd state export`.
        file: PathBuf,
    },
}

impl Command {
    /// The daemon logs at info level (its log is its output); commands only warn.
    pub fn log_level(&self) -> (&'static str, bool) {
        match self {
            Command::Run { json_logs } => ("info", *json_logs),
            _ => ("warn", false),
        }
    }
}

/// Progress lines on stdout: one per step, with its duration.
struct PrintProgress;

impl Progress for PrintProgress {
    fn step(&self, l: &StepLine) {
        let mark = if l.outcome == Outcome::Failed { "!" } else { " " };
        let detail = if l.detail.is_empty() { String::new() } else { format!("  {}", l.detail) };
        let mut out = std::io::stdout().lock();
        let _ =
            writeln!(out, "{mark} {:>7.2}s  {:<8} {}{}", l.elapsed.as_secs_f64(), l.outcome.as_str(), l.step, detail);
    }
}

/// A live-control command's text, parsed by live control's grammar once the events' zones are
/// known (the same grammar as chat's).
fn live_text(c: &Command) -> Option<String> {
    Some(match c {
        Command::Break { event, words } => format!("break {event} {}", words.join(" ")),
        Command::Back { event, splice_id: None } => format!("back {event}"),
        Command::Back { event, splice_id: Some(id) } => format!("back {event} {id}"),
        Command::Slate { event, on_off } => format!("slate {event} {on_off}"),
        Command::Switch { event, to } => format!("switch {event} {to}"),
        Command::ScheduleActions { event } => format!("schedule-actions {event}"),
        _ => return None,
    })
}

/// The operation a command asks for; `None` for `run`, `state` and live control's.
fn operation(c: &Command) -> Option<Operation> {
    let e = |s: &String| s.clone();
    Some(match c {
        Command::Validate => Operation::Validate,
        Command::Bootstrap => Operation::Bootstrap,
        Command::Plan { event } => Operation::Plan { event: e(event) },
        Command::Deploy { event } => Operation::Deploy { event: e(event) },
        Command::Start { event } => Operation::Start { event: e(event) },
        Command::Stop { event } => Operation::Stop { event: e(event) },
        Command::Teardown { event } => Operation::Teardown { event: e(event) },
        Command::Status { event } => Operation::Status { event: event.clone() },
        Command::Links { event } => Operation::Links { event: e(event) },
        Command::Cost { event, audience, .. } => Operation::Cost { event: e(event), audience: *audience },
        Command::Schedule => Operation::Schedule,
        Command::Hold { event } => Operation::Hold { event: e(event) },
        Command::Resume { event } => Operation::Resume { event: e(event) },
        Command::Audit { event, since, all } => Operation::Audit { event: event.clone(), since: *since, all: *all },
        Command::Alerts { event, all } => Operation::Alerts { event: event.clone(), all: *all },
        Command::Ack { alert } => Operation::Ack { alert: *alert },
        Command::RotatePreview { event } => Operation::RotatePreview { event: e(event) },
        Command::Run { .. }
        | Command::State { .. }
        | Command::Break { .. }
        | Command::Back { .. }
        | Command::Slate { .. }
        | Command::Switch { .. }
        | Command::ScheduleActions { .. } => return None,
    })
}

/// Live control's words against the configured events and their zones.
fn live_command(files: &Files, text: &str) -> anyhow::Result<crate::live::LiveCommand> {
    let events = crate::ops::Definitions::events(files);
    let zones: Vec<crate::live::EventZone<'_>> = events
        .iter()
        .map(|e| crate::live::EventZone { id: &e.spec.id, tz: e.spec.timing.as_ref().map_or(chrono_tz::UTC, |t| t.tz) })
        .collect();
    crate::live::parse(text, &zones, chrono::Utc::now()).map_err(|e| anyhow::anyhow!("{e}"))
}

/// `ottd state export|import`: straight to the store, not through the operations layer (no
/// event, no engine, no lease: an operator's offline move). An import is audited as one row.
async fn state(cli: &Cli, action: &StateAction) -> anyhow::Result<ExitCode> {
    let files = Files::load(&cli.config, cli.state.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let settings = crate::ops::Definitions::settings(&files).clone();
    let source = match &settings.state {
        StateBackend::Sqlite => format!("state file {}", settings.state_path.display()),
        StateBackend::Dynamodb { table } => format!("DynamoDB table {table}"),
    };
    match action {
        StateAction::Export { out } => {
            let store = Store::configured(&settings, false).await?;
            for l in store.leases()?.into_iter().filter(|l| !l.is_free()) {
                eprintln!(
                    "warning: {}'s lease is held by {} ({}): a daemon may be running, and what it writes from now on \
                     is not in this snapshot",
                    l.event, l.holder, l.doing
                );
            }
            let snapshot = store.export()?;
            let text = snapshot.to_json();
            let summary = format!("exported {} from {source}", snapshot.summary());
            match out {
                None => {
                    println!("{text}");
                    eprintln!("{summary}");
                }
                Some(path) => {
                    write_whole(path, &text)?;
                    println!("{summary} to {}", path.display());
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        StateAction::Import { file } => {
            let shown = file.display();
            let text = std::fs::read_to_string(file).map_err(|e| anyhow::anyhow!("cannot read {shown}: {e}"))?;
            let snapshot = Snapshot::parse(&text).map_err(|e| match e {
                SnapshotError::Json { line, column, message } => {
                    anyhow::anyhow!("{shown}:{line}:{column}: {message} (nothing imported)")
                }
                other => anyhow::anyhow!("{shown}: {other} (nothing imported)"),
            })?;
            let store = Store::configured(&settings, true).await?;
            let started = std::time::Instant::now();
            let imported = store.import(&snapshot).await;
            let (decision, result, error) = match &imported {
                Ok(_) => ("allowed", "ok", None),
                Err(e @ (TransferError::LeaseHeld(_) | TransferError::Conflict { .. })) => {
                    ("refused", "refused", Some(e.to_string()))
                }
                Err(e) => ("allowed", "permanent", Some(e.to_string())),
            };
            let args = serde_json::json!({
                "file": file.display().to_string(),
                "exported_at": snapshot.exported_at,
                "imported": imported.as_ref().ok(),
            });
            let entry = AuditEntry {
                at: chrono::Utc::now(),
                actor: Actor::cli().label(),
                event: None,
                operation: "state-import".to_string(),
                args: args.to_string(),
                decision: decision.to_string(),
                changes: true,
            };
            let duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
            store.audit_record(&entry, AuditEnd { result, duration_ms, error });
            store.flush().await?;
            let imported = imported.map_err(|e| anyhow::anyhow!("cannot import {shown} into {source}: {e}"))?;
            println!("imported {shown} into {source}: {imported} ({})", snapshot.summary());
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Write `text` to `path` whole or not at all (a temporary file beside it, then a rename), so
/// an export cut short never leaves half a snapshot under the name.
fn write_whole(path: &std::path::Path, text: &str) -> anyhow::Result<()> {
    let shown = path.display();
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".partial");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, format!("{text}\n")).map_err(|e| anyhow::anyhow!("cannot write {}: {e}", tmp.display()))?;
    std::fs::rename(&tmp, path).map_err(|e| anyhow::anyhow!("cannot write {shown}: {e}"))
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    if let Command::State { action } = &cli.command {
        return state(&cli, action).await;
    }
    let live = live_text(&cli.command);
    let op = match (operation(&cli.command), &live) {
        (Some(op), _) => Some(op),
        (None, Some(_)) => None,
        (None, None) => {
            crate::daemon::run(crate::daemon::Options { config: cli.config.clone(), state: cli.state.clone() }).await?;
            return Ok(ExitCode::SUCCESS);
        }
    };
    let files = Files::load(&cli.config, cli.state.clone()).map_err(|e| anyhow::anyhow!("{e}"))?;
    let op = match (op, live) {
        (Some(op), _) => op,
        (None, text) => Operation::Live(live_command(&files, text.as_deref().unwrap_or_default())?),
    };
    let settings = crate::ops::Definitions::settings(&files).clone();
    // `ottd bootstrap` creates the DynamoDB state table before using it.
    let store = Arc::new(Store::configured(&settings, matches!(op, Operation::Bootstrap)).await?);
    let hub = EngineWorkflows::traced_hub();
    let workflows = Arc::new(EngineWorkflows::new(store.clone(), settings, hub.clone()));
    let ops = Ops::new(store, workflows, Arc::new(files), Arc::new(SystemClock)).with_progress(hub);
    let output = match cli.command {
        Command::Cost { json: true, .. } => Output::Json,
        _ => cli.output,
    };
    match ops.execute(&Actor::cli(), op, Some(Arc::new(PrintProgress))).await {
        Ok(reply) => {
            match output {
                Output::Json => println!("{}", reply.json()),
                Output::Text => print!("{}", reply.text()),
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) if e.kind == ErrorKind::Pending => {
            println!("{}", e.message);
            Ok(ExitCode::from(3))
        }
        Err(e) => Err(anyhow::anyhow!("{}", e.message)),
    }
}
