//! The `simgate` binary: parse the command line and hand over to the library.

use clap::Parser;
use simgate::cli::{Cli, Command};
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
            Err(e) => {
                eprintln!("simgate: {e}");
                ExitCode::FAILURE
            }
        },
        Command::Run { .. } | Command::Pdu { .. } => {
            eprintln!("simgate: not available in this build yet");
            ExitCode::FAILURE
        }
    }
}
