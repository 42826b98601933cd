//! The `simgate` binary: parse the command line and hand over to the library.

use clap::Parser;
use simgate::cli::{self, client, Cli, Command, PduCommand, SimCommand};
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
        Command::WebhookSecret { url, config } => {
            let shown = Config::locate(config.config.as_deref())
                .map_err(|e| e.to_string())
                .and_then(|(config, _)| cli::secret::webhook_secret(&config, url.as_deref()));
            match shown {
                Ok(secret) => {
                    println!("{secret}");
                    ExitCode::SUCCESS
                }
                Err(e) => fail(e),
            }
        }
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
        Command::Modems { client } => {
            with_client(&client, |c| async move { client::modems(&c).await })
        }
        Command::Send {
            to,
            text,
            from,
            client,
        } => with_client(&client, |c| async move {
            client::send(&c, &to, &text, from.as_deref()).await
        }),
        Command::Sim { command } => match command {
            SimCommand::Inject {
                from,
                to,
                text,
                client,
            } => with_client(&client, |c| async move {
                client::sim_inject(&c, &from, to.as_deref(), &text).await
            }),
            SimCommand::Outbox { to, client } => with_client(&client, |c| async move {
                client::sim_outbox(&c, to.as_deref()).await
            }),
        },
        Command::Run { config, simulate } => {
            let (config, path) = match Config::locate(config.config.as_deref()) {
                Ok(found) => found,
                Err(e) => return fail(e),
            };
            init_logging();
            limit_malloc_arenas();
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
            match runtime.block_on(simgate::daemon::run_from(config, path, options)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => fail(format!("{e:#}")),
            }
        }
    }
}

/// Runs a client command against the daemon and prints its answer.
fn with_client<F, Fut>(args: &cli::ClientArgs, f: F) -> ExitCode
where
    F: FnOnce(client::Client) -> Fut,
    Fut: std::future::Future<Output = Result<String, String>>,
{
    let client = match client::Client::from_args(args) {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    match runtime.block_on(f(client)) {
        Ok(out) => {
            print!(
                "{}",
                if out.ends_with('\n') || out.is_empty() {
                    out
                } else {
                    out + "\n"
                }
            );
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// One line on stderr, exit 1: what scripts and systemd show.
fn fail(e: impl std::fmt::Display) -> ExitCode {
    eprintln!("simgate: {e}");
    ExitCode::FAILURE
}

/// One malloc arena for the whole daemon, unless `MALLOC_ARENA_MAX` says otherwise. glibc gives
/// each thread that allocates its own arena (up to eight per core), and every tokio worker and
/// blocking-pool thread keeps one alive: 1.2 MiB of the idle resident set (BENCHMARKS.md,
/// "Process"). The daemon allocates at the pace of SMS and HTTP requests, and glibc's per-thread
/// caches keep small allocations off the arena's lock anyway.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only tunes the allocator; it runs before the runtime starts any thread.
        unsafe {
            nix::libc::mallopt(nix::libc::M_ARENA_MAX, 1);
        }
    }
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
