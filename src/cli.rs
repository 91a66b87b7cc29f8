//! The `ottd` command line: parse arguments, load configuration, call the engine (or the
//! daemon), print what happened. Every command that changes AWS goes through [`Engine`].

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::aws::{iam, Aws};
use crate::config::{Catalog, Settings};
use crate::daemon::actuator::override_kind_str;
use crate::engine::{Engine, Outcome, Progress, StepLine};
use crate::plan::Plan;
use crate::schedule::phase::{override_until, OverrideKind};
use crate::store::{Store, StoredOverride};

#[derive(Parser, Debug)]
#[command(name = "ottd", version, about = "Runs live OTT events on AWS: MediaLive -> MediaPackage -> CloudFront")]
pub struct Cli {
    /// ottd.toml to use.
    #[arg(long, global = true, env = "OTTD_CONFIG", default_value = "config/ottd.toml")]
    pub config: PathBuf,
    /// State file (SQLite); overrides paths.state of ottd.toml.
    #[arg(long, global = true, env = "OTTD_STATE")]
    pub state: Option<PathBuf>,
    /// Output format of plan, status, links and schedule.
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

fn load_settings(cli: &Cli) -> anyhow::Result<Settings> {
    let mut s = Settings::load(&cli.config).map_err(|d| anyhow::anyhow!("{d}"))?;
    if let Some(p) = &cli.state {
        s.state_path = p.clone();
    }
    Ok(s)
}

fn load_catalog(cli: &Cli) -> anyhow::Result<Catalog> {
    let mut c = Catalog::load(&cli.config).map_err(|d| anyhow::anyhow!("{d}"))?;
    if let Some(p) = &cli.state {
        c.settings.state_path = p.clone();
    }
    Ok(c)
}

async fn engine(settings: Settings) -> anyhow::Result<Engine> {
    let store = Store::open(&settings.state_path)?;
    let aws = Aws::connect(&settings).await;
    Ok(Engine::new(aws, Arc::new(store), settings, Arc::new(PrintProgress)))
}

/// A manual command on a timed event is an operator override the daemon respects until the
/// end of the current window (see `schedule::phase`). On-demand events need none.
fn record_override(cli: &Cli, store: &Store, event: &str, kind: OverrideKind) -> anyhow::Result<()> {
    let known = match Catalog::load(&cli.config) {
        Ok(c) => c.event(event).map(|e| e.spec.timing.clone()),
        Err(_) => None,
    };
    let now = chrono::Utc::now();
    let until = match known {
        // On-demand: only commands move it, nothing to override.
        Some(None) => return Ok(()),
        Some(Some(timing)) => override_until(Some(&timing), now),
        // The files don't say (removed, or broken): the daemon may still run it from its last
        // good definition, so the override holds until `ottd resume`.
        None => None,
    };
    store.set_override(&StoredOverride {
        event: event.to_string(),
        kind: override_kind_str(kind).to_string(),
        set_at: now,
        until,
        by: "cli".to_string(),
    })?;
    match until {
        Some(u) => println!("the daemon keeps {event} this way until {u} (`ottd resume {event}` hands it back now)"),
        None => println!("the daemon keeps {event} this way until `ottd resume {event}`"),
    }
    Ok(())
}

fn print_json<T: serde::Serialize>(v: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

pub async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let started = std::time::Instant::now();
    match &cli.command {
        Command::Validate => {
            let c = load_catalog(&cli)?;
            println!(
                "ok: {} ({} encoding profiles, {} events)",
                c.settings.file.display(),
                c.profiles.len(),
                c.events.len()
            );
        }
        Command::Bootstrap => {
            let settings = load_settings(&cli)?;
            let store = Store::open(&settings.state_path)?;
            let aws = Aws::connect(&settings).await;
            let roles = iam::bootstrap(&aws.iam, &settings.prefix).await?;
            store.set_meta("roles.medialive", &roles.medialive)?;
            store.set_meta("roles.mediapackage", &roles.mediapackage)?;
            println!("MediaLive role:    {}", roles.medialive);
            println!("MediaPackage role: {}", roles.mediapackage);
            println!("recorded in {}", settings.state_path.display());
        }
        Command::Plan { event } => {
            let c = load_catalog(&cli)?;
            let ev = c.event(event).with_context(|| format!("event `{event}` is not in any schedule file"))?;
            let store = Store::open(&c.settings.state_path)?;
            let nonce = match store.deployment(event)? {
                Some(d) if d.phase != crate::store::Phase::TornDown => d.nonce,
                _ => "<new>".to_string(),
            };
            let plan = Plan::build(ev, &c.settings, &nonce);
            match cli.output {
                Output::Json => print_json(&plan)?,
                Output::Text => print_plan(&plan),
            }
        }
        Command::Deploy { event } => {
            let c = load_catalog(&cli)?;
            let ev = c.event(event).with_context(|| format!("event `{event}` is not in any schedule file"))?.clone();
            let engine = engine(c.settings.clone()).await?;
            println!("deploying {event}");
            record_override(&cli, &engine.store, event, OverrideKind::Deploy)?;
            let deploy_started = std::time::Instant::now();
            let s = engine.deploy(&ev).await?;
            println!(
                "deployed {} (deployment {}): {} created, deploy took {:.3}s",
                s.event,
                s.nonce,
                s.created,
                deploy_started.elapsed().as_secs_f64()
            );
            // The sample's autoStart, done properly: start and wait for RUNNING.
            if ev.workflow.media_live.auto_start {
                println!("autoStart: starting {event}");
                engine.start(event).await?;
                println!("{event} is RUNNING ({:.2}s)", started.elapsed().as_secs_f64());
            }
        }
        Command::Start { event } => {
            let engine = engine(load_settings(&cli)?).await?;
            println!("starting {event}");
            record_override(&cli, &engine.store, event, OverrideKind::Start)?;
            engine.start(event).await?;
            println!("{event} is RUNNING ({:.2}s)", started.elapsed().as_secs_f64());
        }
        Command::Stop { event } => {
            let engine = engine(load_settings(&cli)?).await?;
            println!("stopping {event}");
            record_override(&cli, &engine.store, event, OverrideKind::Stop)?;
            engine.stop(event).await?;
            println!("{event} is IDLE ({:.2}s)", started.elapsed().as_secs_f64());
        }
        Command::Teardown { event } => {
            let engine = engine(load_settings(&cli)?).await?;
            println!("tearing down {event}");
            record_override(&cli, &engine.store, event, OverrideKind::Teardown)?;
            let s = engine.teardown(event).await?;
            if s.pending {
                println!("{event}: {} deleted; CloudFront is still disabling the distribution: run `ottd teardown {event}` again later", s.deleted);
                return Ok(ExitCode::from(3));
            }
            println!("{event} torn down: {} deleted in {:.2}s", s.deleted, started.elapsed().as_secs_f64());
        }
        Command::Status { event } => {
            let engine = engine(load_settings(&cli)?).await?;
            let events: Vec<String> = match event {
                Some(e) => vec![e.clone()],
                None => engine.store.deployments()?.into_iter().map(|d| d.event).collect(),
            };
            let mut all = Vec::new();
            for e in &events {
                match engine.status(e, true).await {
                    Ok(st) => all.push(st),
                    Err(crate::engine::EngineError::NotDeployed(_)) if cli.output == Output::Text => {
                        println!("{e}: not deployed")
                    }
                    Err(err) => return Err(err.into()),
                }
            }
            let errors = engine.store.meta("daemon.config_errors")?.filter(|e| !e.is_empty());
            let overrides = engine.store.overrides()?;
            if cli.output == Output::Text {
                if let Some(e) = &errors {
                    println!("the daemon could not load the configuration (the last good one is in force):\n{e}\n");
                }
                for o in overrides.iter().filter(|o| event.as_ref().is_none_or(|e| *e == o.event)) {
                    let until = o.until.map(|u| format!(" until {u}")).unwrap_or_default();
                    println!("override: {} {} (by {} at {}){until}", o.event, o.kind, o.by, o.set_at);
                }
            }
            match cli.output {
                Output::Json if event.is_some() => print_json(&all.first())?,
                Output::Json => print_json(&all)?,
                Output::Text => {
                    if all.is_empty() && event.is_none() {
                        println!("no event is deployed");
                    }
                    for s in &all {
                        print_status(s);
                    }
                }
            }
        }
        Command::Run { .. } => {
            crate::daemon::run(crate::daemon::Options { config: cli.config.clone(), state: cli.state.clone() }).await?;
        }
        Command::Schedule => {
            let c = load_catalog(&cli)?;
            crate::schedule::listing::print(&c, chrono::Utc::now(), cli.output == Output::Json)?;
        }
        Command::Hold { event } => {
            let settings = load_settings(&cli)?;
            let store = Store::open(&settings.state_path)?;
            store.set_override(&StoredOverride {
                event: event.clone(),
                kind: "hold".into(),
                set_at: chrono::Utc::now(),
                until: None,
                by: "cli".into(),
            })?;
            println!("{event} is on hold: the daemon leaves it as it is until `ottd resume {event}`");
        }
        Command::Resume { event } => {
            let settings = load_settings(&cli)?;
            let store = Store::open(&settings.state_path)?;
            if store.clear_override(event)? {
                println!("{event}: override cleared, the schedule is in control");
            } else {
                println!("{event} had no override");
            }
        }
        Command::Links { event } => {
            let engine = engine(load_settings(&cli)?).await?;
            let links = engine.links(event)?;
            match cli.output {
                Output::Json => print_json(&links)?,
                Output::Text => print_links(&links),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_plan(plan: &Plan) {
    println!("event {} (deployment {})", plan.event, plan.names.nonce);
    println!(
        "  {} {} input, {} channel, profile {}",
        plan.workflow.media_live.input_type,
        plan.workflow.media_live.source_end_behavior,
        plan.workflow.media_live.channel_class,
        plan.profile_name
    );
    for r in &plan.resources {
        let deps = if r.depends_on.is_empty() { String::new() } else { format!("  after {}", r.depends_on.join(", ")) };
        println!("  {:<22} {:<32} {}{}", r.key, r.kind.label(), r.name, deps);
    }
    println!("  critical path: {} sequential AWS requests", plan.critical_path());
}

fn print_status(s: &crate::engine::report::EventStatus) {
    let live = s.channel_state.as_deref().map(|c| format!(", channel {c}")).unwrap_or_default();
    println!("{}: {}{} (deployment {}, updated {})", s.event, s.phase.as_str(), live, s.deployment, s.updated_at);
    if let Some(e) = &s.last_error {
        println!("  last error: {e}");
    }
    for r in &s.resources {
        println!("  {:<22} {:<10} {}", r.key, r.status.as_str(), r.id.as_deref().unwrap_or(&r.name));
    }
    for (i, d) in s.ingest.iter().enumerate() {
        println!("  ingest {}: {d}", if i == 0 { "primary  " } else { "secondary" });
    }
}

fn print_links(l: &crate::engine::report::Links) {
    println!("{} on {}", l.event, l.domain);
    for p in &l.playback {
        println!("  {:<5} {}", p.format, p.url);
        if let Some(player) = &p.player {
            println!("        player: {player}");
        }
    }
    for (i, d) in l.ingest.iter().enumerate() {
        println!("  push to ({}): {d}", if i == 0 { "primary" } else { "secondary" });
    }
}
