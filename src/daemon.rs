//! The daemon: wires storage, modems, the pool, the inbound pipeline and the HTTP API together,
//! and takes them down gracefully.
//!
//! ```text
//!   API ──► store (outbound queue) ──► pool workers ──► modem drivers ──► serial ──► network
//!   network ──► serial ──► modem drivers ──► inbound pipeline ──► store (+ match, events) ──► webhooks
//! ```

use crate::api::auth::Keys;
use crate::api::metrics::HttpMetrics;
use crate::config::Config;
use crate::inbound::Inbound;
use crate::modem::{self, DriverConfig, ModemStatus, Timings};
use crate::pool::{Caps, Pool, PoolOptions};
use crate::secret::Secret;
use crate::shutdown::Shutdown;
use crate::store::Store;
/// What [`Running::failed`] reports.
pub use crate::supervise::TaskFailure;
use crate::supervise::{Ended, Supervisor};
use crate::verify::Verifier;
use anyhow::Context;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch, Notify};

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
    /// The accepted API keys; replaced on reload.
    pub keys: Keys,
    /// Request and connection counters for `/metrics`.
    pub http_metrics: Arc<HttpMetrics>,
    /// Turns true at shutdown: long-lived responses (the status page's event stream) end then.
    pub shutdown: Shutdown,
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
    run_from(config, None, options).await
}

/// Runs the daemon until SIGINT or SIGTERM, or a background task panics (then an error, so
/// that the process exits non-zero and systemd restarts it). SIGHUP re-reads API keys and
/// webhook endpoints from `config_path` ([`Running::reload`]).
pub async fn run_from(
    config: Config,
    config_path: Option<PathBuf>,
    options: RunOptions,
) -> anyhow::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut hangup = signal(SignalKind::hangup()).context("installing the SIGHUP handler")?;
    let (shutdown_tx, shutdown) = Shutdown::channel();
    let mut running = start(config, options, shutdown).await?;
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
    let outcome = loop {
        enum Wake {
            Stop,
            Reload,
            Failed(TaskFailure),
        }
        let wake = tokio::select! {
            _ = wait_for_signal() => Wake::Stop,
            _ = hangup.recv() => Wake::Reload,
            failure = running.failed() => Wake::Failed(failure),
        };
        match wake {
            Wake::Stop => break Ok(()),
            Wake::Failed(failure) => break Err(failure),
            Wake::Reload => {
                crate::systemd::notify("RELOADING=1");
                match &config_path {
                    None => tracing::warn!("SIGHUP: no config file to reload (built-in defaults)"),
                    Some(path) => match running.reload_from(path).await {
                        Ok(()) => {
                            tracing::info!(path = %path.display(), "reloaded API keys and webhook endpoints")
                        }
                        Err(e) => {
                            tracing::error!("reload refused, the previous settings stay: {e:#}")
                        }
                    },
                }
                crate::systemd::notify("READY=1");
            }
        }
    };
    match &outcome {
        Ok(()) => tracing::info!("shutting down: finishing the current AT commands"),
        Err(failure) => tracing::error!("{failure}; stopping so that the service is restarted"),
    }
    crate::systemd::notify("STOPPING=1");
    let _ = shutdown_tx.send(true);
    running.stop().await;
    if let Some(w) = watchdog {
        w.abort();
    }
    outcome.map_err(|failure| anyhow::anyhow!("{failure}"))
}

/// A started daemon.
pub struct Running {
    pub state: AppState,
    pub local_addr: std::net::SocketAddr,
    supervisor: Supervisor,
    webhooks: WebhookTask,
    shutdown: Shutdown,
}

impl Running {
    /// Waits (bounded) for every task to end after shutdown was signalled.
    pub async fn stop(self) {
        if tokio::time::timeout(Duration::from_secs(20), self.supervisor.join())
            .await
            .is_err()
        {
            tracing::warn!("some tasks did not stop within 20 s");
        }
        if let Some(sim) = &self.state.sim {
            sim.shutdown().await;
        }
    }

    /// Watches one more background task: its panic stops the daemon like any other's.
    pub fn watch(&mut self, task: impl Into<String>, handle: tokio::task::JoinHandle<()>) {
        self.supervisor.watch(task, handle);
    }

    /// The first background task that panicked (pending while none has).
    pub async fn failed(&mut self) -> TaskFailure {
        self.supervisor.failed().await
    }

    /// Reads the config file again and applies [`Running::reload`].
    pub async fn reload_from(&mut self, path: &Path) -> anyhow::Result<()> {
        let config = Config::load(path)?;
        self.reload(&config).await
    }

    /// Applies the parts of `config` that can change while running: the API keys (at once, for
    /// new requests) and the `[[webhook]]` endpoints (the dispatcher is restarted; deliveries in
    /// flight are sent again by the new one, with the same ids). Everything else (listen
    /// address, modems, storage, limits) keeps its running value until a restart. The new keys
    /// must pass protected mode for the running listen address, else nothing changes.
    pub async fn reload(&mut self, config: &Config) -> anyhow::Result<()> {
        let mut checked = config.clone();
        checked.server.listen = self.state.config.server.listen.clone();
        checked.check_protected_mode()?;
        let mut merged = (*self.state.config).clone();
        merged.webhooks = config.webhooks.clone();
        let (task, handle) = WebhookTask::spawn(&self.state, &merged, self.shutdown.clone())?;
        // The old dispatcher stops first, so no delivery is attempted by both.
        let old = std::mem::replace(&mut self.webhooks, task);
        old.stop().await;
        let ended = self.supervisor.watch("webhook dispatcher", handle.0);
        self.webhooks.ended = Some(ended);
        let _ = handle.1.send(());
        self.state.keys.replace(&config.auth.api_keys);
        Ok(())
    }
}

/// The webhook dispatcher, restartable on reload: it stops on the daemon's shutdown or when
/// told to (then a new one takes over).
struct WebhookTask {
    stop: Option<oneshot::Sender<()>>,
    ended: Option<Ended>,
}

/// A dispatcher task not yet running, and the trigger that lets it start.
type PendingDispatcher = (tokio::task::JoinHandle<()>, oneshot::Sender<()>);

impl WebhookTask {
    fn spawn(
        state: &AppState,
        config: &Config,
        shutdown: Shutdown,
    ) -> anyhow::Result<(WebhookTask, PendingDispatcher)> {
        let dispatcher = crate::webhook::Dispatcher::new(
            state.store.clone(),
            config,
            &state.secret,
            state.events_appended.clone(),
        )
        .context("starting webhook delivery")?;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let (go_tx, go_rx) = oneshot::channel::<()>();
        let (dispatcher_stop_tx, dispatcher_stop) = Shutdown::channel();
        let mut shutdown = shutdown;
        let handle = tokio::spawn(async move {
            // Started only once the previous dispatcher has ended.
            if go_rx.await.is_err() {
                return;
            }
            let run = dispatcher.run(dispatcher_stop);
            tokio::pin!(run);
            let mut stop_rx = stop_rx;
            tokio::select! {
                _ = &mut run => return,
                _ = shutdown.recv() => {}
                _ = &mut stop_rx => {}
            }
            let _ = dispatcher_stop_tx.send(true);
            run.await;
        });
        let task = WebhookTask {
            stop: Some(stop_tx),
            ended: None,
        };
        Ok((task, (handle, go_tx)))
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(ended) = self.ended.take() {
            if tokio::time::timeout(Duration::from_secs(15), ended.wait())
                .await
                .is_err()
            {
                tracing::warn!("the previous webhook dispatcher did not stop within 15 s");
            }
        }
    }
}

/// Starts everything; returns once the API listens.
pub async fn start(
    mut config: Config,
    options: RunOptions,
    shutdown: Shutdown,
) -> anyhow::Result<Running> {
    // Opened on the blocking pool: PostgreSQL's client blocks while it connects and migrates.
    let storage = config.storage.clone();
    let store = tokio::task::spawn_blocking(move || Store::open_configured(&storage))
        .await
        .context("opening the database")?
        .context("opening the database")?;
    // Alone on a SQLite file, everything left mid-send is this host's; hosts sharing a
    // PostgreSQL database recover only their own work, when they join (below).
    let alone = store.backend() == crate::store::Backend::Sqlite;
    let (uncertain, requeued) = if alone {
        store.recover_outbound().await?
    } else {
        (0, 0)
    };
    if uncertain + requeued > 0 {
        tracing::warn!(
            uncertain,
            requeued,
            "recovered the outbound queue after an unclean stop"
        );
    }
    config.check_protected_mode()?;
    if config
        .auth
        .api_keys
        .iter()
        .any(|k| k == crate::config::EXAMPLE_API_KEY)
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

    let mut tasks = Supervisor::new();
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
        tasks.watch(format!("modem driver {}", m.name), task);
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
        code_headroom_percent: config.outbound.code_headroom_percent,
        ..PoolOptions::default()
    };
    let pool = Pool::new(store.clone(), modems, pool_options);
    let proof_keys_path = config.proof_keys_path();
    let proof_keys =
        crate::verify::ProofKeys::load_or_create(&proof_keys_path).with_context(|| {
            format!(
                "proof keys (proofs.keys_file) {}",
                proof_keys_path.display()
            )
        })?;
    if !alone {
        // Before the workers start: this host's work from a previous life is recovered first.
        let joined = crate::cluster::join(
            &store,
            &config,
            crate::cluster::fingerprints(&secret, &proof_keys),
        )
        .await?;
        if joined.uncertain + joined.requeued > 0 {
            tracing::warn!(
                uncertain = joined.uncertain,
                requeued = joined.requeued,
                "recovered this host's outbound work after an unclean stop"
            );
        }
        tasks.watch(
            "cluster heartbeat",
            tokio::spawn(crate::cluster::run_heartbeat(
                store.clone(),
                pool.clone(),
                config.clone(),
                shutdown.clone(),
            )),
        );
    }
    for (i, worker) in pool.start(shutdown.clone()).into_iter().enumerate() {
        tasks.watch(format!("pool worker {i}"), worker);
    }
    let verifier = Verifier::new(
        &config,
        store.clone(),
        pool.clone(),
        secret.clone(),
        proof_keys,
        events_appended.clone(),
    );
    tasks.watch(
        "janitor",
        tokio::spawn(
            verifier
                .clone()
                .run_janitor(Duration::from_secs(30), shutdown.clone()),
        ),
    );
    tasks.watch(
        "hooks janitor",
        tokio::spawn(crate::api::hooks::run_janitor(
            store.clone(),
            Duration::from_secs(30),
            Duration::from_secs(config.hooks.dedupe_window_secs),
            shutdown.clone(),
        )),
    );
    for handle in pool.handles() {
        let name = format!("modem status of {}", handle.status().name);
        tasks.watch(
            name,
            tokio::spawn(announce_modem_status(
                handle.subscribe(),
                store.clone(),
                events_appended.clone(),
                shutdown.clone(),
            )),
        );
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
    tasks.watch(
        "inbound pipeline",
        tokio::spawn(inbound.run(inbound_rx, shutdown.clone())),
    );
    // Old rows are deleted in batches ([retention]).
    tasks.watch(
        "retention",
        tokio::spawn(crate::store::retention::run(
            store.clone(),
            crate::store::retention::Policy::from_config(&config),
            shutdown.clone(),
        )),
    );

    let state = AppState {
        config: Arc::new(config.clone()),
        store,
        pool,
        secret,
        events_appended,
        sim,
        verifier,
        keys: Keys::new(&config.auth.api_keys),
        http_metrics: Arc::new(HttpMetrics::default()),
        shutdown: shutdown.clone(),
    };
    let (mut webhooks, (dispatcher, go)) = WebhookTask::spawn(&state, &config, shutdown.clone())?;
    webhooks.ended = Some(tasks.watch("webhook dispatcher", dispatcher));
    let _ = go.send(());
    let listener = tokio::net::TcpListener::bind(&config.server.listen)
        .await
        .with_context(|| format!("binding the API to {}", config.server.listen))?;
    let local_addr = listener.local_addr()?;
    tracing::info!(%local_addr, "API listening");
    let app = crate::api::router(state.clone());
    let serve = crate::api::serve::serve(
        listener,
        app,
        crate::api::serve::ServeOptions::from_config(&config.server),
        state.http_metrics.clone(),
        shutdown.clone(),
    );
    tasks.watch("API server", tokio::spawn(serve));
    Ok(Running {
        state,
        local_addr,
        supervisor: tasks,
        webhooks,
        shutdown,
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
        let name = format!("{}{}", config.simulator.name_prefix, i + 1);
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
    mut shutdown: Shutdown,
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
                .append_event(crate::states::EventKind::ModemStatus, data)
                .await;
            match appended {
                Ok(_) => events_appended.notify_waiters(),
                Err(e) => tracing::warn!(error = %e, "cannot record modem.status"),
            }
        }
        // Woken by a new state only, not by the counters every SMS changes.
        tokio::select! {
            changed = status.wait_for(|s| Some(s.state) != last) => if changed.is_err() { return },
            _ = shutdown.recv() => return,
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
