//! The `simgate` binary: parse the command line and hand over to the library.

use clap::Parser;
use simgate::cli::{self, Cli, Command, PduCommand};
use simgate::config::Config;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::CheckConfig { config } => match Config::locate(config.config.as_deref()) {
            Ok((config, path)) => {
                match path {
                    Some(p) => println!("# config: {} (valid)", p.display()),
                    None => println!("# config: built-in defaults (valid)"),
                }
                print!("{}", config.to_redacted_toml());
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        },
        Command::Pdu { command } => match command {
            PduCommand::Decode { hex, no_smsc } => match cli::pdu::decode_to_json(&hex, no_smsc) {
                Ok(json) => {
                    println!("{json}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            },
            PduCommand::Encode {
                to,
                text,
                report,
                smsc,
            } => match cli::pdu::encode_lines(&to, &text, report, smsc.as_deref()) {
                Ok(lines) => {
                    for line in lines {
                        println!("{line}");
                    }
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            },
        },
        Command::Run { config, simulate } => {
            let config = match Config::locate(config.config.as_deref()) {
                Ok((config, _)) => config,
                Err(e) => return fail(e),
            };
            init_logging();
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
            {
                Ok(r) => r,
                Err(e) => return fail(e),
            };
            let options = simgate::daemon::RunOptions {
                simulate: simulate.unwrap_or(0),
                timings: None,
            };
            match runtime.block_on(simgate::daemon::run(config, options)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(format!("{e:#}")),
            }
        }
    }
}

/// One line on stderr, exit 1: what scripts and systemd show.
fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("simgate: {e}");
    ExitCode::FAILURE
}

/// Logs to stderr (journald picks it up under systemd); `RUST_LOG` overrides the level.
fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
