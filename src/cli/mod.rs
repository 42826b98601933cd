//! The `simgate` command line (SPEC §1). Parsing only; each command calls into the library.

pub mod pdu;

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

#[derive(Debug, Parser)]
#[command(
    name = "simgate",
    version,
    about = "Self-hosted SMS gateway and phone-verification daemon"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the daemon.
    Run {
        #[command(flatten)]
        config: ConfigArg,
        /// Add N virtual modems (the built-in simulator on real pseudo-terminals).
        #[arg(long, value_name = "N")]
        simulate: Option<u32>,
    },
    /// Validate and print the effective config (secrets masked).
    CheckConfig {
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Decode or encode SMS PDUs.
    Pdu {
        #[command(subcommand)]
        command: PduCommand,
    },
}

#[derive(Debug, Args)]
pub struct ConfigArg {
    /// Config file (else $SIMGATE_CONFIG, else /etc/simgate/simgate.toml, else defaults).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
}

#[derive(Debug, Subcommand)]
pub enum PduCommand {
    /// Decode an SMS-DELIVER / SMS-STATUS-REPORT / SMS-SUBMIT PDU and print JSON.
    Decode {
        /// The PDU in hex, as a modem prints it.
        hex: String,
        /// The PDU has no SMSC field in front.
        #[arg(long)]
        no_smsc: bool,
    },
    /// Encode an SMS-SUBMIT: one line per part, `<tpdu_len> <hex>`.
    Encode {
        #[arg(long)]
        to: String,
        #[arg(long)]
        text: String,
        /// Request a status report.
        #[arg(long)]
        report: bool,
        /// SMSC number to put in the PDU (default: the SIM's).
        #[arg(long)]
        smsc: Option<String>,
    },
}
