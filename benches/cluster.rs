//! Several hosts, one service (issue 13), measured from outside: release daemons as child
//! processes (`simgate run --config …`), each driving two virtual modems (no send latency, no
//! per-SIM caps) on real ptys in this process, driven over HTTP on loopback. Prints min/median/max latency and requests per second of
//!
//! * OTP create (`POST /otp/new`) and verify (`POST /otp/verify`, the right code), each a fixed
//!   number of requests at a fixed concurrency, on: one host on SQLite, one host on PostgreSQL,
//!   three hosts on one PostgreSQL database (requests spread round-robin; each code is verified
//!   through another host than the one that created it);
//! * the reverse-OTP match on PostgreSQL: the user's SMS handed to the virtual modem → the
//!   session reads `verified` (`GET /otp/reverse/verify`,
//!   polled every 2 ms), with no other session and then with 1,000,000 other pending sessions
//!   (bulk-inserted with one `INSERT … SELECT generate_series`, copies of a real session).
//!
//! Needs `SIMGATE_TEST_POSTGRES=postgres://user:password@host:port/db` (a role with CREATEDB: each
//! rig gets a database of its own, dropped afterwards); without it the bench says so and ends.
//! Run: `cargo bench --bench cluster`. Knobs (environment): `SIMGATE_BENCH_REQUESTS` (400 per
//! phase), `SIMGATE_BENCH_CONCURRENCY` (8), `SIMGATE_BENCH_PENDING` (1000000),
//! `SIMGATE_BENCH_MATCHES` (30 samples each), `SIMGATE_BENCH_BIN` (another binary).

mod daemon_process;
#[allow(dead_code)]
#[path = "../tests/it/pg_support.rs"]
mod pg_support;

use daemon_process::{knob, summary};
use pg_support::TestDatabase;
use serde_json::{json, Value};
use simgate::sim::{Network, SimModemConfig};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const API_KEY: &str = daemon_process::API_KEY;
const WAIT: Duration = Duration::from_secs(60);

fn main() {
    if pg_support::server_url().is_none() {
        println!(
            "cluster bench: skipped: set {} to a PostgreSQL server with a CREATEDB role",
            pg_support::SERVER_VAR
        );
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(run());
}

async fn run() {
    let requests: usize = knob("SIMGATE_BENCH_REQUESTS", 400);
    let concurrency: usize = knob("SIMGATE_BENCH_CONCURRENCY", 8);
    let pending: u64 = knob("SIMGATE_BENCH_PENDING", 1_000_000);
    let matches: usize = knob("SIMGATE_BENCH_MATCHES", 30);
    println!("binary: {}", daemon_process::binary().display());
    println!("{requests} requests per phase, {concurrency} at a time");

    for (label, backend, hosts) in [
        ("SQLite, 1 host", Backend::Sqlite, 1),
        ("PostgreSQL, 1 host", Backend::Postgres, 1),
        ("PostgreSQL, 3 hosts", Backend::Postgres, 3),
    ] {
        let rig = Rig::start(backend, hosts).await;
        otp_phases(&rig, label, requests, concurrency).await;
    }

    let rig = Rig::start(Backend::Postgres, 1).await;
    reverse_match(&rig, pending, matches).await;
}

#[derive(Clone, Copy, PartialEq)]
enum Backend {
    Sqlite,
    Postgres,
}

struct Daemon {
    child: Child,
    base: String,
    dir: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One to three hosts on one store.
struct Rig {
    network: Network,
    hosts: Vec<Daemon>,
    http: reqwest::Client,
    db: Option<TestDatabase>,
    _dir: tempfile::TempDir,
}

impl Rig {
    async fn start(backend: Backend, hosts: usize) -> Rig {
        let dir = tempfile::tempdir().expect("temporary directory");
        let db = (backend == Backend::Postgres).then(TestDatabase::create);
        let shared = dir.path().join("shared");
        std::fs::create_dir_all(&shared).unwrap();
        simgate::secret::Secret::load_or_create(&shared.join("secret.key")).unwrap();
        simgate::verify::ProofKeys::load_or_create(&shared.join("proof_keys.pem")).unwrap();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .pool_max_idle_per_host(64)
            .build()
            .unwrap();
        let mut rig = Rig {
            network: Network::new(),
            hosts: Vec::new(),
            http,
            db,
            _dir: dir,
        };
        for i in 0..hosts {
            let host_dir = rig._dir.path().join(format!("host{i}"));
            std::fs::create_dir_all(host_dir.join("links")).unwrap();
            for file in ["secret.key", "proof_keys.pem"] {
                std::fs::copy(shared.join(file), host_dir.join(file)).unwrap();
            }
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let storage = match &rig.db {
                Some(db) => format!("url = \"{}\"", db.url()),
                None => format!("path = \"{}/simgate.db\"", host_dir.display()),
            };
            let letter = (b'a' + i as u8) as char;
            let mut modems = String::new();
            for k in 1..=2u32 {
                let mut sim = SimModemConfig::numbered(i as u32 * 2 + k);
                sim.name = format!("{letter}-sim{k}");
                sim.number = format!("+1555{:03}000{k}", i + 1);
                sim.send_latency = Duration::ZERO;
                let modem = rig
                    .network
                    .add_modem(sim, host_dir.join("links"))
                    .await
                    .expect("virtual modem");
                modems.push_str(&format!(
                    "[[modem]]\nname = \"{}\"\nport = \"{}\"\nnumber = \"{}\"\n\
                     max_per_minute = 0\nmax_per_hour = 0\nmax_per_day = 0\n",
                    modem.name(),
                    modem.path().display(),
                    modem.number()
                ));
            }
            let config = format!(
                "[server]\nlisten = \"127.0.0.1:{port}\"\n\
                 [storage]\n{storage}\n\
                 [cluster]\nname = \"host{letter}\"\nheartbeat_secs = 1\nhost_timeout_secs = 3\n\
                 [security]\nsecret_file = \"{dir}/secret.key\"\n\
                 [proofs]\nkeys_file = \"{dir}/proof_keys.pem\"\n\
                 [auth]\napi_keys = [\"{API_KEY}\"]\n\
                 [otp]\nallowed_countries = [\"US\"]\nrate_per_number_per_hour = 0\n\
                 rate_per_key_per_minute = 0\nrate_per_ip_per_hour = 0\nreverse_ttl_secs = 3600\n\
                 {modems}",
                dir = host_dir.display(),
            );
            let path = host_dir.join("simgate.toml");
            std::fs::write(&path, config).unwrap();
            let daemon = spawn(&path, &host_dir, port);
            rig.hosts.push(daemon);
            // The first host makes the schema alone.
            if i == 0 {
                rig.wait_ready(0).await;
            }
        }
        for i in 0..hosts {
            rig.wait_ready(i).await;
        }
        rig
    }

    async fn wait_ready(&self, i: usize) {
        let host = &self.hosts[i];
        let deadline = Instant::now() + WAIT;
        loop {
            if let Ok(r) = self.http.get(format!("{}/readyz", host.base)).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(host.dir.join("daemon.log")).unwrap_or_default();
                panic!("host {i} never became ready; its log:\n{log}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn post(&self, host: usize, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.hosts[host].base))
            .bearer_auth(API_KEY)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or_default())
    }

    async fn get(&self, host: usize, path: &str) -> (u16, Value) {
        let r = self
            .http
            .get(format!("{}{path}", self.hosts[host].base))
            .bearer_auth(API_KEY)
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or_default())
    }
}

fn spawn(config: &Path, dir: &Path, port: u16) -> Daemon {
    let child = daemon_process::start_daemon(&daemon_process::binary(), config, dir);
    Daemon {
        child,
        base: format!("http://127.0.0.1:{port}"),
        dir: dir.to_path_buf(),
    }
}

/// Runs `count` jobs, `concurrency` at a time; returns each job's latency and the wall time.
async fn timed<F, Fut>(count: usize, concurrency: usize, job: F) -> (Vec<Duration>, Duration)
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(count)));
    let start = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (job, next, latencies) = (job.clone(), next.clone(), latencies.clone());
        workers.spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= count {
                    return;
                }
                let began = Instant::now();
                job(i).await;
                latencies.lock().unwrap().push(began.elapsed());
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.expect("worker");
    }
    let wall = start.elapsed();
    let latencies = std::mem::take(&mut *latencies.lock().unwrap());
    (latencies, wall)
}

fn rate(count: usize, wall: Duration) -> String {
    format!("{:.0} req/s", count as f64 / wall.as_secs_f64())
}

static ROUND: AtomicUsize = AtomicUsize::new(0);

/// Create `requests` OTPs (distinct numbers), wait until every code is out, verify them all.
async fn otp_phases(rig: &Rig, label: &str, requests: usize, concurrency: usize) {
    let rig_hosts = rig.hosts.len();
    let round = ROUND.fetch_add(1, Ordering::Relaxed);
    let number = move |i: usize| format!("+1415{:07}", round * 100_000 + i);
    // Warm-up: connections made, statements prepared.
    for i in 0..rig_hosts {
        let (status, body) = rig
            .post(
                i,
                "/otp/new",
                json!({"to": format!("+1628{:07}", round * 10 + i)}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let shared = Arc::new(RigHandle::of(rig));
    let ids = Arc::new(Mutex::new(HashMap::<String, (usize, String)>::new()));
    let (created, wall) = {
        let (shared, ids) = (shared.clone(), ids.clone());
        timed(requests, concurrency, move |i| {
            let (shared, ids) = (shared.clone(), ids.clone());
            async move {
                let host = i % shared.bases.len();
                let to = number(i);
                let (status, body) = shared.post(host, "/otp/new", json!({"to": to})).await;
                assert_eq!(status, 200, "create {i}: {body}");
                let id = body["data"]["otp_id"].as_str().expect("otp_id").to_string();
                ids.lock().unwrap().insert(to, (host, id));
            }
        })
        .await
    };
    println!(
        "{label}: OTP create  {} ; {}",
        summary(&created),
        rate(requests, wall)
    );

    // Every code, from what the virtual modems sent (not timed).
    let mut codes: HashMap<String, String> = HashMap::new();
    let deadline = Instant::now() + WAIT;
    while codes.len() < requests {
        let wanted = ids.lock().unwrap().clone();
        for m in rig.network.world().messages() {
            if !wanted.contains_key(&m.to) {
                continue;
            }
            if let Some(code) = m
                .text
                .split(|c: char| !c.is_ascii_digit())
                .find(|run| run.len() == 6)
            {
                codes.insert(m.to.clone(), code.to_string());
            }
        }
        assert!(
            Instant::now() < deadline,
            "{label}: only {} of {requests} codes sent",
            codes.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let checks: Arc<Vec<(usize, String, String)>> = Arc::new(
        (0..requests)
            .map(|i| {
                let to = number(i);
                let (created_on, id) = ids.lock().unwrap()[&to].clone();
                // Through another host than the one that created it, when there is one.
                ((created_on + 1) % rig_hosts, id, codes[&to].clone())
            })
            .collect(),
    );
    let (verified, wall) = {
        let shared = shared.clone();
        timed(requests, concurrency, move |i| {
            let (shared, checks) = (shared.clone(), checks.clone());
            async move {
                let (host, id, code) = &checks[i];
                let (status, body) = shared
                    .post(*host, "/otp/verify", json!({"otp_id": id, "otp": code}))
                    .await;
                assert_eq!(status, 200, "verify {i}: {body}");
                assert_eq!(body["data"]["verified"], true, "verify {i}: {body}");
            }
        })
        .await
    };
    println!(
        "{label}: OTP verify  {} ; {}",
        summary(&verified),
        rate(requests, wall)
    );
}

/// What the timed jobs need of a rig, shareable across tasks.
struct RigHandle {
    bases: Vec<String>,
    http: reqwest::Client,
}

impl RigHandle {
    fn of(rig: &Rig) -> RigHandle {
        RigHandle {
            bases: rig.hosts.iter().map(|h| h.base.clone()).collect(),
            http: rig.http.clone(),
        }
    }

    async fn post(&self, host: usize, path: &str, body: Value) -> (u16, Value) {
        let r = self
            .http
            .post(format!("{}{path}", self.bases[host]))
            .bearer_auth(API_KEY)
            .json(&body)
            .send()
            .await
            .unwrap_or_else(|e| panic!("POST {path}: {e}"));
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or_default())
    }
}

/// Inject → verified, `samples` times, with no other session and with `pending` more.
async fn reverse_match(rig: &Rig, pending: u64, samples: usize) {
    let (_, modems) = rig.get(0, "/v1/modems").await;
    let to = modems["data"][0]["number"]
        .as_str()
        .expect("a modem number")
        .to_string();
    let mut sample = 0usize;
    let mut one = |rig_pending: &'static str| {
        sample += 1;
        let phone = format!("+1212{:07}", sample);
        let to = to.clone();
        async move {
            let (status, body) = rig
                .post(
                    0,
                    "/otp/reverse/initiate",
                    json!({"number": phone, "to": to}),
                )
                .await;
            assert_eq!(status, 200, "{rig_pending}: {body}");
            let id = body["data"]["otp_id"].as_str().unwrap().to_string();
            let factor = body["data"]["factor"].as_str().unwrap().to_string();
            let start = Instant::now();
            rig.network
                .send_from_world(&phone, &to, &factor)
                .expect("the virtual modem takes the SMS");
            loop {
                let (_, body) = rig.get(0, &format!("/otp/reverse/verify/{id}")).await;
                if body["data"]["status"] == "verified" {
                    return (start.elapsed(), id);
                }
                assert!(
                    start.elapsed() < WAIT,
                    "{rig_pending}: never verified: {body}"
                );
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        }
    };
    let mut empty = Vec::new();
    let mut template = String::new();
    for _ in 0..3 + samples {
        let (took, id) = one("no other session").await;
        empty.push(took);
        template = id;
    }
    println!(
        "PostgreSQL, 1 host: reverse match, no other pending session   {}",
        summary(&empty[3..])
    );

    let db = rig.db.as_ref().expect("a PostgreSQL rig");
    // The sync client runs a runtime of its own: on a plain thread, outside tokio's.
    let url = db.url().to_string();
    let filled = tokio::task::spawn_blocking(move || {
        std::thread::spawn(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
            let started = Instant::now();
            bulk_insert(&mut client, &template, pending);
            started.elapsed()
        })
        .join()
        .expect("bulk insert")
    })
    .await
    .unwrap();
    println!(
        "bulk insert of {pending} pending sessions: {:.1} s",
        filled.as_secs_f64()
    );
    let mut full = Vec::new();
    for _ in 0..3 + samples {
        full.push(one("1,000,000 pending").await.0);
    }
    println!(
        "PostgreSQL, 1 host: reverse match, {pending} pending sessions {}",
        summary(&full[3..])
    );
}

/// `pending` copies of session `template` (a verified one: its columns are valid), each with an
/// id, sender number and factor of its own, pending. The column list is read from the
/// database, so that the copy follows the schema.
fn bulk_insert(client: &mut postgres::Client, template: &str, pending: u64) {
    let columns: Vec<String> = client
        .query(
            "SELECT column_name FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = 'reverse_verifications'
             ORDER BY ordinal_position",
            &[],
        )
        .expect("columns of reverse_verifications")
        .iter()
        .map(|r| r.get::<_, String>(0))
        .collect();
    assert!(!columns.is_empty(), "no reverse_verifications table");
    let value = |c: &str| -> String {
        match c {
            "id" => "'r_otp_bulk' || g".into(),
            "number" => "'+1650' || lpad(g::text, 7, '0')".into(),
            "factor" => "'F' || g".into(),
            "factor_key" => "'f' || g".into(),
            "status" => "'pending'".into(),
            "message_id" | "verified_at" => "NULL".into(),
            "attempts" => "0".into(),
            other => format!("t.{other}"),
        }
    };
    let sql =
        format!(
        "INSERT INTO reverse_verifications ({}) SELECT {} FROM generate_series(1, {pending}) g, \
         (SELECT * FROM reverse_verifications WHERE id = $1) t",
        columns.join(", "),
        columns.iter().map(|c| value(c)).collect::<Vec<_>>().join(", ")
    );
    let inserted = client.execute(&sql, &[&template]).expect("bulk insert");
    assert_eq!(inserted, pending, "one row per session");
    client
        .batch_execute("ANALYZE reverse_verifications")
        .expect("analyze");
}
