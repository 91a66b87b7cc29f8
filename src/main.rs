//! `ottd`: the binary. Argument parsing and commands live in `ottd::cli`.

use std::process::ExitCode;

use clap::Parser;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = ottd::cli::Cli::parse();
    let (level, json) = cli.command.log_level();
    ottd::logging::init(json, level);
    match ottd::cli::run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
