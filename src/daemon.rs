//! The daemon: wires storage, modems, the pool, the inbound pipeline and the HTTP API together,
//! and takes them down gracefully.
//!
//! ```text
//!   API ──► store (outbound queue) ──► pool workers ──► modem drivers ──► serial ──► network
//!   network ──► serial ──► modem drivers ──► inbound pipeline ──► store (+ match, events) ──► webhooks
//! ```

use crate::config::Config;
use crate::inbound::Inbound;
use crate::modem::{self, DriverConfig, ModemStatus, Timings};
use crate::pool::{Caps, Pool, PoolOptions};
use crate::secret::Secret;
use crate::store::{outbound, Store};
use crate::verify::Verifier;
use anyhow::Context;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch, Notify};

/// State shared by the API handlers and background tasks.
#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub pool: Pool,
    pub secret: Secret,
    /// Woken whenever events were appended (webhook delivery is event-driven).
    pub events_appended: Arc<Notify>,
    /// The virtual network when running with `--simulate`.
    pub sim: Option<crate::sim::Network>,
    /// Standard and reverse OTP.
    pub verifier: Verifier,
    /// Turns true at shutdown: long-lived responses (the status page's event stream) end then.
    pub shutdown: watch::Receiver<bool>,
}

impl AppState {
    pub fn modem_statuses(&self) -> Vec<ModemStatus> {
        self.pool.statuses()
    }
}

/// Options beyond the config file.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Virtual modems to add.
    pub simulate: u32,
    /// Driver timings (tests shorten them).
    pub timings: Option<Timings>,
}

/// Runs the daemon until SIGINT or SIGTERM.
pub async fn run(config: Config, options: RunOptions) -> anyhow::Result<()> {
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let running = start(config, options, shutdown_rx).await?;
    crate::systemd::notify("READY=1\nSTATUS=serving");
    let watchdog = crate::systemd::watchdog_interval().map(|period| {
        let store = running.state.store.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(period / 2);
            loop {
                tick.tick().await;
                // Ping only while the database answers: a wedged daemon gets restarted.
                if store.ping().await {
                    crate::systemd::notify("WATCHDOG=1");
                }
            }
        })
    });
    wait_for_signal().await;
    tracing::info!("shutting down: finishing the current AT commands");
    crate::systemd::notify("STOPPING=1");
    let _ = shutdown_tx.send(true);
    running.stop().await;
    if let Some(w) = watchdog {
        w.abort();
    }
    Ok(())
}

/// A started daemon.
pub struct Running {
    pub state: AppState,
    pub local_addr: std::net::SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// Waits (bounded) for every task to end after shutdown was signalled.
    pub async fn stop(self) {
        let all = futures_join(self.tasks);
        if tokio::time::timeout(Duration::from_secs(20), all)
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not stop within 20 s");
        }
        if let Some(sim) = &self.state.sim {
            sim.shutdown().await;
        }
    }
}

async fn futures_join(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for t in tasks {
        let _ = t.await;
    }
}

/// Starts everything; returns once the API listens.
pub async fn start(
    mut config: Config,
    options: RunOptions,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<Running> {
    let store = Store::open(&config.storage.path).context("opening the database")?;
    let (uncertain, requeued) = store.call(|c| Ok(outbound::recover(c)?)).await?;
    if uncertain + requeued > 0 {
        tracing::warn!(
            uncertain,
            requeued,
            "recovered the outbound queue after an unclean stop"
        );
    }
    if config
        .auth
        .api_keys
        .iter()
        .any(|k| k == "sk_live_change_me")
    {
        tracing::warn!("the API accepts the default key sk_live_change_me: set auth.api_keys");
    }
    let secret = Secret::load_or_create(&config.security.secret_file)
        .with_context(|| format!("secret file {}", config.security.secret_file.display()))?;

    let sim = if options.simulate > 0 {
        Some(start_simulator(&mut config, options.simulate).await?)
    } else {
        None
    };

    let mut tasks = Vec::new();
    let (inbound_tx, inbound_rx) = mpsc::channel(64);
    let timings = options.timings.clone().unwrap_or_default();
    let mut modems = Vec::new();
    for m in &config.modems {
        let driver = DriverConfig {
            name: m.name.clone(),
            port: m.port.clone(),
            baud: m.baud,
            number: m.number.clone(),
            pin: m.pin.clone(),
            timings: timings.clone(),
        };
        let (handle, task) = modem::spawn(driver, inbound_tx.clone(), shutdown.clone());
        tasks.push(task);
        let caps = Caps {
            per_minute: m.max_per_minute,
            per_hour: m.max_per_hour,
            per_day: m.max_per_day,
        };
        modems.push((handle, caps));
    }
    drop(inbound_tx);
    let events_appended = Arc::new(Notify::new());
    let pool_options = PoolOptions {
        max_attempts: config.outbound.max_attempts,
        retry_base: Duration::from_millis(config.outbound.retry_base_ms),
        restart_multipart_after: Duration::from_secs(
            config.outbound.restart_long_message_after_secs,
        ),
        events_appended: events_appended.clone(),
        ..PoolOptions::default()
    };
    let pool = Pool::new(store.clone(), modems, pool_options);
    tasks.extend(pool.start(shutdown.clone()));
    let verifier = Verifier::new(
        &config,
        store.clone(),
        pool.clone(),
        secret.clone(),
        events_appended.clone(),
    );
    tasks.push(tokio::spawn(
        verifier
            .clone()
            .run_janitor(Duration::from_secs(30), shutdown.clone()),
    ));
    for handle in pool.handles() {
        tasks.push(tokio::spawn(announce_modem_status(
            handle.subscribe(),
            store.clone(),
            events_appended.clone(),
            shutdown.clone(),
        )));
    }
    let numbers_pool = pool.clone();
    let inbound = Inbound {
        store: store.clone(),
        number_of: Arc::new(move |name: &str| {
            numbers_pool.handle(name).and_then(|h| h.status().number)
        }),
        hooks: vec![Arc::new(verifier.reverse_matcher())],
        events_appended: events_appended.clone(),
        incomplete_after: Duration::from_secs(600),
    };
    tasks.push(tokio::spawn(inbound.run(inbound_rx, shutdown.clone())));
    let webhooks =
        crate::webhook::Dispatcher::new(store.clone(), &config, &secret, events_appended.clone())
            .context("starting webhook delivery")?;
    tasks.push(tokio::spawn(webhooks.run(shutdown.clone())));

    let state = AppState {
        config: Arc::new(config.clone()),
        store,
        pool,
        secret,
        events_appended,
        sim,
        verifier,
        shutdown: shutdown.clone(),
    };
    let listener = tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .with_context(|| format!("binding the API to {}", config.server.listen))?;
    let local_addr = listener.local_addr()?;
    tracing::info!(%local_addr, "API listening");
    let app = crate::api::router(state.clone());
    let mut api_shutdown = shutdown.clone();
    tasks.push(tokio::spawn(async move {
        let serve = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = api_shutdown.wait_for(|s| *s).await;
        });
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "API server stopped");
        }
    }));
    Ok(Running {
        state,
        local_addr,
        tasks,
    })
}

/// Creates the virtual modems and adds them to the config as ordinary serial modems.
async fn start_simulator(config: &mut Config, count: u32) -> anyhow::Result<crate::sim::Network> {
    let link_dir: PathBuf = match &config.simulator.link_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("simgate-sim-{}", std::process::id())),
    };
    std::fs::create_dir_all(&link_dir)
        .with_context(|| format!("creating {}", link_dir.display()))?;
    let network = crate::sim::Network::new();
    let first: u64 = config
        .simulator
        .first_number
        .trim_start_matches('+')
        .parse()
        .context("simulator.first_number")?;
    let latency = Duration::from_millis(config.simulator.send_latency_ms);
    for i in 0..count {
        let name = format!("sim{}", i + 1);
        let number = format!("+{}", first + u64::from(i));
        let sim_config = crate::sim::SimModemConfig {
            name: name.clone(),
            number: number.clone(),
            send_latency: latency,
            ..Default::default()
        };
        let modem = network
            .add_modem(sim_config, &link_dir)
            .await
            .with_context(|| format!("starting virtual modem {name}"))?;
        tracing::info!(%name, %number, port = %modem.path().display(), "virtual modem ready");
        config.modems.push(crate::config::Modem {
            name,
            port: modem.path().to_path_buf(),
            number: Some(number),
            ..Default::default()
        });
    }
    Ok(network)
}

/// Appends a `modem.status` event whenever a modem's state changes (ready, offline, pin_required…).
async fn announce_modem_status(
    mut status: watch::Receiver<ModemStatus>,
    store: Store,
    events_appended: Arc<Notify>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut last = None;
    loop {
        let current = status.borrow_and_update().clone();
        if last != Some(current.state) {
            last = Some(current.state);
            let data = serde_json::json!({
                "modem": current.name,
                "state": current.state,
                "detail": current.detail,
                "number": current.number,
                "signal_dbm": current.signal_dbm,
                "registration": current.registration,
                "operator": current.operator,
            });
            let appended = store
                .call(move |c| Ok(crate::store::events::append(c, "modem.status", &data)?))
                .await;
            match appended {
                Ok(_) => events_appended.notify_waiters(),
                Err(e) => tracing::warn!(error = %e, "cannot record modem.status"),
            }
        }
        tokio::select! {
            changed = status.changed() => if changed.is_err() { return },
            _ = shutdown.changed() => return,
        }
    }
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("installing the SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
