//! `ottd`: the binary. Argument parsing and commands live in `ottd::cli`.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = ottd::cli::Cli::parse();
    // Progress lines are the CLI's own output; the log only adds warnings and errors.
    ottd::logging::init(false, "warn");
    match ottd::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
