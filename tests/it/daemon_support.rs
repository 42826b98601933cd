//! A whole simgate daemon in the test process, on virtual modems the test controls.
//!
//! The daemon opens each virtual modem's pty through its symlink with tokio-serial and speaks AT
//! to it, exactly as with hardware; SQLite is a real file in a temporary directory (or, under
//! `SIMGATE_TEST_BACKEND=postgres`, a fresh PostgreSQL database: tests/it/pg_support.rs); the
//! HTTP API listens on an ephemeral loopback port.

use crate::pg_support::TestBackend;
use simgate::config::{Config, Modem};
use simgate::daemon::{self, RunOptions, Running};
use simgate::modem::{ModemState, Timings};
use simgate::shutdown::Shutdown;
use simgate::sim::{Network, SimModem, SimModemConfig};
use std::time::Duration;
use tokio::sync::watch;

/// Generous bound for anything that should happen "at once".
pub const SOON: Duration = Duration::from_secs(20);
pub const API_KEY: &str = "sk_test_0123456789";

/// Driver timings short enough for tests: fast health/sweep, quick recovery.
pub fn fast_timings() -> Timings {
    Timings {
        command: Duration::from_millis(800),
        send: Duration::from_secs(5),
        health_every: Duration::from_millis(500),
        sweep_every: Duration::from_millis(700),
        commit: Duration::from_secs(5),
        reopen_initial: Duration::from_millis(50),
        reopen_max: Duration::from_millis(400),
        reset_pause: Duration::from_millis(300),
    }
}

pub struct TestDaemon {
    pub network: Network,
    pub modems: Vec<SimModem>,
    /// Holds the database and the config's files; removed when the daemon is dropped.
    _dir: tempfile::TempDir,
    pub config: Config,
    running: Option<Running>,
    shutdown: watch::Sender<bool>,
    /// The SQLite file's place or the PostgreSQL database; last, so the database is dropped
    /// after the daemon.
    _backend: TestBackend,
}

impl TestDaemon {
    /// `n` generic virtual modems (+15550000001…), no send latency.
    pub async fn start(n: u32) -> TestDaemon {
        Self::start_with(n, |_, _| {}, |_| {}).await
    }

    /// Like `start`, with a hook to shape the config.
    pub async fn with_config(n: u32, shape_config: impl FnOnce(&mut Config)) -> TestDaemon {
        Self::start_with(n, |_, _| {}, shape_config).await
    }

    /// Like `start`, with hooks to shape each virtual modem and the config.
    pub async fn start_with(
        n: u32,
        shape_modem: impl Fn(u32, &mut SimModemConfig),
        shape_config: impl FnOnce(&mut Config),
    ) -> TestDaemon {
        let dir = tempfile::tempdir().expect("temp dir");
        let network = Network::new();
        let mut modems = Vec::new();
        for i in 1..=n {
            let mut sim = SimModemConfig::numbered(i);
            sim.send_latency = Duration::ZERO;
            shape_modem(i, &mut sim);
            modems.push(
                network
                    .add_modem(sim, dir.path())
                    .await
                    .expect("virtual modem"),
            );
        }
        let mut config = Config::default();
        config.server.listen = "127.0.0.1:0".into();
        let backend = TestBackend::apply(&mut config, dir.path());
        config.security.secret_file = dir.path().join("secret.key");
        config.auth.api_keys = vec![API_KEY.into()];
        for m in &modems {
            config.modems.push(Modem {
                name: m.name().to_string(),
                port: m.path().to_path_buf(),
                number: Some(m.number().to_string()),
                max_per_minute: 0,
                max_per_hour: 0,
                max_per_day: 0,
                ..Default::default()
            });
        }
        shape_config(&mut config);
        let mut daemon = TestDaemon {
            network,
            modems,
            _dir: dir,
            config,
            running: None,
            shutdown: watch::channel(false).0,
            _backend: backend,
        };
        daemon.boot().await;
        daemon
    }

    /// Starts (or restarts) the daemon on the same database and virtual modems.
    pub async fn boot(&mut self) {
        let (tx, shutdown) = Shutdown::channel();
        let options = RunOptions {
            simulate: 0,
            timings: Some(fast_timings()),
        };
        let running = daemon::start(self.config.clone(), options, shutdown)
            .await
            .expect("daemon starts");
        self.running = Some(running);
        self.shutdown = tx;
    }

    /// Graceful stop (SIGTERM path).
    pub async fn stop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(running) = self.running.take() {
            running.stop().await;
        }
    }

    pub fn running(&self) -> &Running {
        self.running.as_ref().expect("daemon running")
    }

    pub fn state(&self) -> &daemon::AppState {
        &self.running().state
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.running().local_addr)
    }

    /// Waits until every modem named is `ready`.
    pub async fn wait_ready(&self, names: &[&str]) {
        let deadline = tokio::time::Instant::now() + SOON;
        loop {
            let statuses = self.state().modem_statuses();
            let all = names.iter().all(|n| {
                statuses
                    .iter()
                    .any(|s| s.name == *n && s.state == ModemState::Ready)
            });
            if all {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "modems not ready: {statuses:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    pub async fn wait_all_ready(&self) {
        let names: Vec<String> = self.modems.iter().map(|m| m.name().to_string()).collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        self.wait_ready(&refs).await;
    }

    /// Polls `check` until it returns `Some`, or fails after `SOON`.
    pub async fn eventually<T>(&self, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
        let deadline = tokio::time::Instant::now() + SOON;
        loop {
            if let Some(v) = check() {
                return v;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
