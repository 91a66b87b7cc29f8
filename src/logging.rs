//! Log output through `tracing`: human-readable by default, JSON lines with `json`.
//! `RUST_LOG` filters as usual; without it, other crates log warnings and ottd logs at `level`.
//! Colours only on a terminal: journald and log files get plain text.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

pub fn init(json: bool, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(format!("warn,ottd={level}")));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal());
    // A second init (tests) is harmless: the first subscriber stays.
    let _ = if json { builder.json().try_init() } else { builder.try_init() };
}
