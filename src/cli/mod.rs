//! The `simgate` command line (SPEC §1). Parsing only; each command calls into the library.

pub mod client;
pub mod pdu;
pub mod secret;

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
    /// List the running daemon's modems and their state.
    Modems {
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Send an SMS through the running daemon.
    Send {
        /// Recipient in E.164, e.g. +15551234567.
        #[arg(long)]
        to: String,
        /// The message; may start with `-` ("-5 degrees").
        #[arg(long, allow_hyphen_values = true)]
        text: String,
        /// Send from this line (modem name or its number).
        #[arg(long)]
        from: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Print the secret that signs `success_url` deliveries (derived from the server secret
    /// file; give it to the apps that receive them, keep it private).
    WebhookSecret {
        /// Instead, the secret of the `[[webhook]]` with this URL, configured without one.
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        #[command(flatten)]
        config: ConfigArg,
    },
    /// Drive the built-in simulator of a daemon started with --simulate.
    Sim {
        #[command(subcommand)]
        command: SimCommand,
    },
}

/// How to reach a running daemon.
#[derive(Debug, Args)]
pub struct ClientArgs {
    #[command(flatten)]
    pub config: ConfigArg,
    /// API base URL (default: http://<server.listen> from the config).
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,
    /// API key (default: $SIMGATE_API_KEY, else the config's first key).
    #[arg(
        long,
        value_name = "KEY",
        env = "SIMGATE_API_KEY",
        hide_env_values = true
    )]
    pub api_key: Option<crate::redact::Redacted<String>>,
}

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// A virtual phone texts one of the virtual SIMs (e.g. to finish a reverse-OTP demo).
    Inject {
        /// The phone's number, E.164.
        #[arg(long)]
        from: String,
        /// The virtual SIM's number (default: the first modem's).
        #[arg(long)]
        to: Option<String>,
        #[arg(long, allow_hyphen_values = true)]
        text: String,
        #[command(flatten)]
        client: ClientArgs,
    },
    /// Show what the virtual SIMs sent to phones (e.g. to read an OTP code).
    Outbox {
        /// Only messages to this number.
        #[arg(long)]
        to: Option<String>,
        #[command(flatten)]
        client: ClientArgs,
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
        /// The message; may start with `-` ("-5 degrees").
        #[arg(long, allow_hyphen_values = true)]
        text: String,
        /// Request a status report.
        #[arg(long)]
        report: bool,
        /// SMSC number to put in the PDU (default: the SIM's).
        #[arg(long)]
        smsc: Option<String>,
    },
}
