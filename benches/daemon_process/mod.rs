//! What the process benches share: the release daemon as a child process, one virtual modem on a
//! real pty in the bench's own process (so the daemon runs no simulator), a webhook receiver on
//! 127.0.0.1 and an HTTP client. Every timestamp is taken in the bench process, on one clock.

#![allow(dead_code)]

pub mod peer;

use axum::body::Bytes;
use axum::extract::State;
use simgate::sim::{Network, SimModem, SimModemConfig};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::Notify;

pub const API_KEY: &str = "sk_bench_0123456789abcdef";
pub const WEBHOOK_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// An environment knob: `name` parsed, else `default`.
pub fn knob<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// One webhook request as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Hook {
    pub at: Instant,
    pub event: serde_json::Value,
}

#[derive(Default)]
struct HookLog {
    hooks: Mutex<Vec<Hook>>,
    arrived: Notify,
}

/// A webhook receiver: a real HTTP server on 127.0.0.1 that answers 200 at once and notes the
/// arrival time of each request before anything else.
pub struct Receiver {
    pub url: String,
    log: Arc<HookLog>,
}

async fn receive(State(log): State<Arc<HookLog>>, body: Bytes) -> &'static str {
    let at = Instant::now();
    let event = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    log.hooks.lock().unwrap().push(Hook { at, event });
    log.arrived.notify_waiters();
    ""
}

impl Receiver {
    pub async fn start() -> Receiver {
        let log = Arc::new(HookLog::default());
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(log.clone());
        let socket = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", socket.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(socket, app).await.unwrap() });
        Receiver { url, log }
    }

    /// Waits for (and removes) the first request whose event satisfies `wanted`.
    pub async fn take(
        &self,
        timeout: Duration,
        wanted: impl Fn(&serde_json::Value) -> bool,
    ) -> Option<Hook> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let arrived = self.log.arrived.notified();
            tokio::pin!(arrived);
            arrived.as_mut().enable();
            {
                let mut hooks = self.log.hooks.lock().unwrap();
                if let Some(i) = hooks.iter().position(|h| wanted(&h.event)) {
                    return Some(hooks.swap_remove(i));
                }
            }
            if tokio::time::timeout_at(deadline, arrived).await.is_err() {
                return None;
            }
        }
    }

    /// Requests received and not taken.
    pub fn pending(&self) -> usize {
        self.log.hooks.lock().unwrap().len()
    }
}

/// The daemon under test, a child process; stopped when dropped (SIGTERM, as systemd does, so
/// that a profiler wrapped around it writes its report; SIGKILL if it has not exited in 30 s).
pub struct Daemon {
    child: Child,
    pub base: String,
    pub http: reqwest::Client,
    pub db: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        use nix::sys::signal::{kill, Signal};
        use nix::unistd::Pid;
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `VmRSS`, `RssAnon`, `RssFile`, `VmHWM` in kB, from `/proc/PID/status`.
    pub fn memory(&self) -> Memory {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        let field = |name: &str| -> u64 {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or(0)
        };
        Memory {
            rss: field("VmRSS:"),
            anon: field("RssAnon:"),
            file: field("RssFile:"),
            hwm: field("VmHWM:"),
            threads: field("Threads:"),
        }
    }

    /// The database's bytes on disk: the file, its WAL and shared-memory index.
    pub fn db_bytes(&self) -> u64 {
        ["", "-wal", "-shm"]
            .iter()
            .filter_map(|suffix| {
                let mut path = self.db.clone().into_os_string();
                path.push(suffix);
                std::fs::metadata(path).ok().map(|m| m.len())
            })
            .sum()
    }

    pub async fn post(&self, path: &str, body: serde_json::Value) -> serde_json::Value {
        let response = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(API_KEY)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = response.status();
        let json: serde_json::Value = response.json().await.unwrap_or_default();
        assert!(status.is_success(), "POST {path}: {status} {json}");
        json
    }

    pub async fn get(&self, path: &str) -> serde_json::Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = response.status();
        let json: serde_json::Value = response.json().await.unwrap_or_default();
        assert!(status.is_success(), "GET {path}: {status} {json}");
        json
    }
}

/// Resident memory of a process, kB.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    pub rss: u64,
    pub anon: u64,
    pub file: u64,
    pub hwm: u64,
    pub threads: u64,
}

impl std::fmt::Display for Memory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mb = |kb: u64| kb as f64 / 1024.0;
        write!(
            f,
            "VmRSS {:.1} MiB (RssAnon {:.1}, RssFile {:.1}), VmHWM {:.1} MiB, {} threads",
            mb(self.rss),
            mb(self.anon),
            mb(self.file),
            mb(self.hwm),
            self.threads
        )
    }
}

/// One virtual modem, a webhook receiver and the daemon started on them.
pub struct Rig {
    pub network: Network,
    pub modem: SimModem,
    pub receiver: Receiver,
    pub daemon: Daemon,
    pub dir: tempfile::TempDir,
}

/// The binary under test: `$SIMGATE_BENCH_BIN`, else the release binary as it ships.
///
/// Not the one cargo built beside this bench (`CARGO_BIN_EXE_simgate`): a bench build unifies
/// the dev-dependencies' features into the daemon's crates, so the binary differs from the
/// shipped one, and the crate hashes in its function names no longer match
/// `link/hot-functions.txt` (build.rs): its code is not laid out, and idle memory reads about
/// 2.5 MiB more. So the shipped binary is built here, by `cargo build --release`, into a target
/// directory of its own (`target/shipped`; the first run compiles everything once), so that
/// the two builds do not overwrite each other in `target/release`.
pub fn binary() -> PathBuf {
    static SHIPPED: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    if let Some(path) = std::env::var_os("SIMGATE_BENCH_BIN") {
        return PathBuf::from(path);
    }
    SHIPPED.get_or_init(build_shipped_binary).clone()
}

fn build_shipped_binary() -> PathBuf {
    // This bench runs as target/<profile>/deps/<bench>-<hash>.
    let target = std::env::current_exe()
        .ok()
        .and_then(|exe| Some(exe.parent()?.parent()?.parent()?.to_path_buf()))
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"))
        .join("shipped");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    eprintln!(
        "building the shipped binary: cargo build --release --locked --target-dir {}",
        target.display()
    );
    let status = std::process::Command::new(cargo)
        .args([
            "build",
            "--release",
            "--locked",
            "--bin",
            "simgate",
            "--target-dir",
        ])
        .arg(&target)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("cargo runs");
    assert!(
        status.success(),
        "cargo build --release failed ({status}); or set SIMGATE_BENCH_BIN"
    );
    target.join("release").join("simgate")
}

impl Rig {
    /// Starts everything and waits until `/readyz` answers 200. `events`: the webhook's
    /// subscriptions.
    pub async fn start(events: &[&str]) -> Rig {
        let dir = tempfile::tempdir().expect("temporary directory");
        let (network, modem, receiver) = modem_and_receiver(dir.path()).await;
        let port = free_port();
        let db = dir.path().join("simgate.db");
        let events = events
            .iter()
            .map(|e| format!("\"{e}\""))
            .collect::<Vec<_>>()
            .join(", ");
        // `SIMGATE_BENCH_STORAGE_URL=postgres://…`: the same daemon on PostgreSQL instead.
        let storage = match std::env::var("SIMGATE_BENCH_STORAGE_URL") {
            Ok(url) => format!("url = \"{url}\""),
            Err(_) => format!("path = \"{}\"", db.display()),
        };
        let config = format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n\
             [storage]\n{storage}\n\
             [security]\nsecret_file = \"{secret}\"\n\
             [auth]\napi_keys = [\"{API_KEY}\"]\n\
             [otp]\nrate_per_number_per_hour = 0\nrate_per_key_per_minute = 0\nrate_per_ip_per_hour = 0\n\
             [messages]\nper_number_per_hour = 0\nper_key_per_minute = 0\n\
             [[webhook]]\nurl = \"{url}\"\nsecret = \"{WEBHOOK_SECRET}\"\nevents = [{events}]\n\
             [[modem]]\nname = \"{name}\"\nport = \"{path}\"\nnumber = \"{number}\"\n\
             max_per_minute = 0\nmax_per_hour = 0\nmax_per_day = 0\n",
            secret = dir.path().join("secret.key").display(),
            url = receiver.url,
            name = modem.name(),
            path = modem.path().display(),
            number = modem.number(),
        );
        let config_path = dir.path().join("simgate.toml");
        std::fs::write(&config_path, config).expect("config written");
        let daemon = spawn(&binary(), &config_path, dir.path(), db).await;
        Rig {
            network,
            modem,
            receiver,
            daemon,
            dir,
        }
    }
}

/// The bench's side of every rig: one virtual modem on a real pty (its network takes no time:
/// what is measured is the daemon) and a webhook receiver.
pub async fn modem_and_receiver(dir: &Path) -> (Network, SimModem, Receiver) {
    let network = Network::new();
    let mut sim = SimModemConfig::numbered(1);
    sim.send_latency = Duration::ZERO;
    let modem = network.add_modem(sim, dir).await.expect("virtual modem");
    let receiver = Receiver::start().await;
    (network, modem, receiver)
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn spawn(binary: &Path, config: &Path, dir: &Path, db: PathBuf) -> Daemon {
    let port = std::fs::read_to_string(config)
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("listen = \"127.0.0.1:"))
                .map(|rest| rest.trim_end_matches('"').to_string())
        })
        .expect("listen port");
    let child = start_daemon(binary, config, dir);
    let daemon = Daemon {
        child,
        base: format!("http://127.0.0.1:{port}"),
        // Long enough for a daemon run under valgrind (benches/hot_functions.sh), whose first
        // number builds libphonenumber's metadata some fifty times slower than natively.
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
        db,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = daemon
            .http
            .get(format!("{}/readyz", daemon.base))
            .send()
            .await
        {
            if r.status() == 200 {
                return daemon;
            }
        }
        if Instant::now() > deadline {
            let log = std::fs::read_to_string(dir.join("daemon.log")).unwrap_or_default();
            panic!("the daemon never became ready; its log:\n{log}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Starts `simgate run --config <config>` in `dir`, its log (warnings and up) in
/// `dir/daemon.log`; it dies with the bench.
pub fn start_daemon(binary: &Path, config: &Path, dir: &Path) -> Child {
    let log = std::fs::File::create(dir.join("daemon.log")).expect("log file");
    let mut command = Command::new(binary);
    command
        .args(["run", "--config"])
        .arg(config)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::from(log));
    dies_with_the_bench(&mut command);
    command
        .spawn()
        .unwrap_or_else(|e| panic!("{} starts: {e}", binary.display()))
}

/// Makes the daemon get SIGKILL when the bench ends, even by SIGKILL itself (when it ends
/// normally, dropping [`Daemon`] stops it first). The kernel sends the signal when the
/// *thread* that forked the child ends, so this is asked for only when that thread is the
/// main one, whose end is the process's: the benches start their daemons from the future
/// `block_on` runs there. From a runtime worker the daemon would die with that worker.
pub fn dies_with_the_bench(command: &mut Command) {
    use nix::sys::signal::Signal;
    use std::os::unix::process::CommandExt;
    let bench = nix::unistd::getpid();
    if nix::unistd::gettid() != bench {
        return;
    }
    // SAFETY: between fork and exec the closure makes two system calls and allocates nothing
    // (an `Errno` converts to an OS error without a heap box), so no lock another thread held
    // at the fork can stop it.
    unsafe {
        command.pre_exec(move || {
            nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)?;
            // The bench may have ended before the request took effect.
            if nix::unistd::getppid() != bench {
                return Err(nix::errno::Errno::ESRCH.into());
            }
            Ok(())
        });
    }
}

/// min / median / max of durations, in ms.
pub struct Summary {
    pub n: usize,
    pub min: f64,
    pub median: f64,
    pub p90: f64,
    pub max: f64,
}

impl Summary {
    pub fn of(samples: &[Duration]) -> Option<Summary> {
        if samples.is_empty() {
            return None;
        }
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(|a, b| a.total_cmp(b));
        let at = |q: f64| ms[((ms.len() - 1) as f64 * q).round() as usize];
        let median = if ms.len() % 2 == 0 {
            (ms[ms.len() / 2 - 1] + ms[ms.len() / 2]) / 2.0
        } else {
            ms[ms.len() / 2]
        };
        Some(Summary {
            n: ms.len(),
            min: ms[0],
            median,
            p90: at(0.9),
            max: ms[ms.len() - 1],
        })
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "min {:.2} / median {:.2} / max {:.2} ms (p90 {:.2}, n={})",
            self.min, self.median, self.max, self.p90, self.n
        )
    }
}

/// "min / median / max" or "-" when there is nothing.
pub fn summary(samples: &[Duration]) -> String {
    Summary::of(samples).map_or_else(|| "-".to_string(), |s| s.to_string())
}
