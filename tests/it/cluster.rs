//! Several hosts, one service (issue 13): three real `simgate run --simulate 2` processes on one
//! fresh PostgreSQL database, each with its own config (port, `[cluster] name`, simulated modems
//! `a-sim1`/`a-sim2`… with numbers of their own), the same secret file, proof keys and API key.
//!
//! Each case boots its own three hosts and database. They need a PostgreSQL server named by
//! `SIMGATE_TEST_POSTGRES` (a role with CREATEDB; `.ci/run` starts one); without it each case
//! prints why it is skipped and passes.

use crate::daemon_support::API_KEY;
use crate::pg_support::{self, TestDatabase};
use crate::webhook_support::{self, Api, Listener};
use serde_json::{json, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::time::Instant;

/// Bound for start-up and for anything that should happen "at once" across hosts.
const WAIT: Duration = Duration::from_secs(30);
/// Bound for work a dead host left behind: its leases must expire first.
const TAKEOVER: Duration = Duration::from_secs(120);
/// A phone in the outside world (US, so allowed by default).
const PHONE: &str = "+14155550142";

/// One host: name in the cluster, prefix of its modems' names, number of its first modem.
struct Spec {
    name: &'static str,
    prefix: &'static str,
    first_number: &'static str,
}

const SPECS: [Spec; 3] = [
    Spec {
        name: "hostA",
        prefix: "a-sim",
        first_number: "+15550010001",
    },
    Spec {
        name: "hostB",
        prefix: "b-sim",
        first_number: "+15550020001",
    },
    Spec {
        name: "hostC",
        prefix: "c-sim",
        first_number: "+15550030001",
    },
];

/// Modems per host (`--simulate 2`).
const MODEMS_PER_HOST: usize = 2;

/// What a case changes in the hosts' configs (default: no send latency, no per-number limit,
/// no webhook).
#[derive(Clone, Default)]
struct Options {
    /// Time each virtual modem takes per SMS.
    send_latency_ms: u64,
    /// `[otp] rate_per_number_per_hour`.
    rate_per_number_per_hour: u32,
    /// A `[[webhook]]` on every host: URL and events.
    webhook: Option<(String, Vec<&'static str>)>,
}

/// The PostgreSQL server, or `None` after saying why the case is skipped.
fn server_or_skip(case: &str) -> Option<String> {
    let server = pg_support::server_url();
    if server.is_none() {
        eprintln!(
            "cluster::{case}: skipped: {} is not set (a PostgreSQL server with a CREATEDB role, \
             e.g. postgres://simgate:simgate@127.0.0.1:5432/simgate; .ci/run starts one)",
            pg_support::SERVER_VAR
        );
    }
    server
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Host {
    spec: &'static Spec,
    dir: PathBuf,
    config: PathBuf,
    api: Api,
    child: Option<Child>,
}

impl Host {
    fn log_path(&self) -> PathBuf {
        self.dir.join("daemon.log")
    }

    fn spawn(&mut self) {
        let log = std::fs::File::create(self.log_path()).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_simgate"))
            .args([
                "run",
                "--simulate",
                &MODEMS_PER_HOST.to_string(),
                "--config",
            ])
            .arg(&self.config)
            .current_dir(&self.dir)
            .env_remove("SIMGATE_CONFIG")
            .env_remove("SIMGATE_API_KEY")
            .env("RUST_LOG", "warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", self.spec.name));
        self.child = Some(child);
    }

    /// `kill -9`: no shutdown path runs, leases and `submitting` rows stay as they were.
    fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill(); // SIGKILL
            let _ = child.wait();
        }
    }

    /// Fails (with its log) when the process has ended.
    fn assert_alive(&mut self) {
        if let Some(child) = &mut self.child {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "{} exited ({status}); its log:\n{}",
                    self.spec.name,
                    self.log()
                );
            }
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    async fn wait_ready(&mut self) {
        let deadline = Instant::now() + WAIT;
        let http = reqwest::Client::new();
        loop {
            self.assert_alive();
            if let Ok(r) = http.get(format!("{}/readyz", self.api.base)).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "{} never became ready; its log:\n{}",
                self.spec.name,
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn modem_names(&self) -> Vec<String> {
        (1..=MODEMS_PER_HOST)
            .map(|i| format!("{}{i}", self.spec.prefix))
            .collect()
    }

    /// The number of this host's `i`-th modem (1-based).
    fn number(&self, i: usize) -> String {
        let first: u64 = self.spec.first_number[1..].parse().unwrap();
        format!("+{}", first + i as u64 - 1)
    }

    /// Everything this host's virtual modems sent to `to`.
    async fn outbox(&self, to: &str) -> Vec<Value> {
        let (status, body) = self
            .api
            .get(&format!(
                "/v1/simulator/outbox?to={}",
                to.replace('+', "%2B")
            ))
            .await;
        assert_eq!(status, 200, "{}: outbox: {body}", self.spec.name);
        body["data"].as_array().expect("outbox data").clone()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        self.kill9();
    }
}

struct Cluster {
    hosts: Vec<Host>,
    /// Declared after the hosts: dropped once they are dead.
    _db: TestDatabase,
    _root: tempfile::TempDir,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if std::thread::panicking() {
            for host in &self.hosts {
                eprintln!("---- log of {} ----\n{}", host.spec.name, host.log());
            }
        }
    }
}

fn host_config(spec: &Spec, port: u16, dir: &Path, db_url: &str, options: &Options) -> String {
    let mut text = format!(
        r#"[server]
listen = "127.0.0.1:{port}"

[storage]
url = "{db_url}"

[cluster]
name = "{name}"
heartbeat_secs = 1
host_timeout_secs = 3

[security]
secret_file = "{dir}/secret.key"

[proofs]
keys_file = "{dir}/proof_keys.pem"

[auth]
api_keys = ["{API_KEY}"]

[otp]
allowed_countries = ["US"]
rate_per_number_per_hour = {rate}
rate_per_key_per_minute = 0
rate_per_ip_per_hour = 0

[messages]
per_number_per_hour = 0
per_key_per_minute = 0

[simulator]
name_prefix = "{prefix}"
first_number = "{first}"
send_latency_ms = {latency}
link_dir = "{dir}/links"

[webhooks]
retry_base_ms = 100
retry_factor = 2
retry_max_ms = 500
poll_interval_ms = 200
timeout_ms = 2000
"#,
        name = spec.name,
        dir = dir.display(),
        rate = options.rate_per_number_per_hour,
        prefix = spec.prefix,
        first = spec.first_number,
        latency = options.send_latency_ms,
    );
    if let Some((url, events)) = &options.webhook {
        let events: Vec<String> = events.iter().map(|e| format!("{e:?}")).collect();
        text.push_str(&format!(
            "\n[[webhook]]\nurl = \"{url}\"\nsecret = \"{}\"\nevents = [{}]\n",
            webhook_support::SECRET,
            events.join(", ")
        ));
    }
    text
}

impl Cluster {
    /// Three hosts on one new database, each ready, each seeing all six modems.
    async fn start(options: Options) -> Cluster {
        let root = tempfile::tempdir().expect("temp dir");
        let db = TestDatabase::create();
        // One service secret and one set of proof keys, made once and copied to every host,
        // as an operator provisions them (README "Several hosts").
        let shared = root.path().join("shared");
        std::fs::create_dir_all(&shared).unwrap();
        simgate::secret::Secret::load_or_create(&shared.join("secret.key")).expect("secret");
        simgate::verify::ProofKeys::load_or_create(&shared.join("proof_keys.pem"))
            .expect("proof keys");
        let mut hosts = Vec::new();
        for spec in &SPECS {
            let dir = root.path().join(spec.name);
            std::fs::create_dir_all(dir.join("links")).unwrap();
            for file in ["secret.key", "proof_keys.pem"] {
                std::fs::copy(shared.join(file), dir.join(file)).unwrap();
            }
            let port = free_port();
            let config = dir.join("simgate.toml");
            std::fs::write(&config, host_config(spec, port, &dir, db.url(), &options)).unwrap();
            hosts.push(Host {
                spec,
                dir,
                config,
                api: Api::new(format!("http://127.0.0.1:{port}")),
                child: None,
            });
        }
        let mut cluster = Cluster {
            hosts,
            _db: db,
            _root: root,
        };
        // A first, alone (it makes the schema); then B and C at once, racing each other.
        cluster.hosts[0].spawn();
        cluster.hosts[0].wait_ready().await;
        cluster.hosts[1].spawn();
        cluster.hosts[2].spawn();
        cluster.hosts[1].wait_ready().await;
        cluster.hosts[2].wait_ready().await;
        for i in 0..cluster.hosts.len() {
            cluster.wait_modems_seen_by(i).await;
        }
        cluster
    }

    fn host(&self, name: &str) -> &Host {
        self.hosts
            .iter()
            .find(|h| h.spec.name == name)
            .expect("a host of that name")
    }

    /// Every host's modems as host `i`'s `GET /v1/modems` lists them (all of them, ready).
    async fn wait_modems_seen_by(&self, i: usize) -> Vec<Value> {
        let all: HashSet<String> = self.hosts.iter().flat_map(Host::modem_names).collect();
        let deadline = Instant::now() + WAIT;
        loop {
            let (status, body) = self.hosts[i].api.get("/v1/modems").await;
            assert_eq!(status, 200, "{body}");
            let modems = body["data"].as_array().cloned().unwrap_or_default();
            let ready: HashSet<String> = modems
                .iter()
                .filter(|m| m["ready"] == true)
                .filter_map(|m| m["name"].as_str().map(str::to_string))
                .collect();
            if all.is_subset(&ready) {
                return modems;
            }
            assert!(
                Instant::now() < deadline,
                "{} never listed every host's modems as ready: {body:#}",
                self.hosts[i].spec.name
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// What every live host's modems sent to `to`, by host name.
    async fn outboxes(&self, to: &str) -> BTreeMap<&'static str, Vec<Value>> {
        let mut out = BTreeMap::new();
        for host in self.hosts.iter().filter(|h| h.child.is_some()) {
            out.insert(host.spec.name, host.outbox(to).await);
        }
        out
    }

    /// Polls every host's outbox until a message to `to` satisfies `wanted`.
    async fn wait_sent(&self, to: &str, wanted: impl Fn(&Value) -> bool) -> (&'static str, Value) {
        let deadline = Instant::now() + WAIT;
        loop {
            for (host, messages) in self.outboxes(to).await {
                if let Some(m) = messages.into_iter().find(|m| wanted(m)) {
                    return (host, m);
                }
            }
            assert!(
                Instant::now() < deadline,
                "no host's modem sent the message to {to}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// The first run of `len` digits in `text`.
fn code_in(text: &str, len: usize) -> Option<String> {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == len)
        .map(str::to_string)
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// `GET /v1/modems` on every host lists all six modems with the host that drives each and a
/// fresh heartbeat; `/readyz` answered 200 on each (in `start`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_host_lists_every_hosts_modems() {
    if server_or_skip("every_host_lists_every_hosts_modems").is_none() {
        return;
    }
    let cluster = Cluster::start(Options::default()).await;
    for i in 0..cluster.hosts.len() {
        let modems = cluster.wait_modems_seen_by(i).await;
        for host in &cluster.hosts {
            for (k, name) in host.modem_names().iter().enumerate() {
                let m = modems
                    .iter()
                    .find(|m| m["name"] == name.as_str())
                    .unwrap_or_else(|| panic!("{name} missing from {modems:#?}"));
                assert_eq!(m["host"], host.spec.name, "{m:#}");
                assert_eq!(m["number"], host.number(k + 1), "{m:#}");
                let heartbeat = m["heartbeat_at"]
                    .as_i64()
                    .unwrap_or_else(|| panic!("heartbeat_at in ms: {m:#}"));
                assert!(
                    (now_ms() - heartbeat).abs() < 60_000,
                    "a recent heartbeat: {m:#}"
                );
            }
        }
    }
}

/// An OTP created through host C goes out on some host's modem and verifies through host A,
/// once: a wrong code through B first counts, the right code through A verifies, the same code
/// again through C does not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otp_created_on_c_is_sent_by_some_modem_and_verified_through_a() {
    if server_or_skip("otp_created_on_c_is_sent_by_some_modem_and_verified_through_a").is_none() {
        return;
    }
    let cluster = Cluster::start(Options::default()).await;
    let (status, body) = cluster
        .host("hostC")
        .api
        .post("/otp/new", json!({"to": PHONE, "name": "Cluster"}))
        .await;
    assert_eq!(status, 200, "{body}");
    let otp_id = body["data"]["otp_id"].as_str().expect("otp_id").to_string();
    let (sender, sms) = cluster
        .wait_sent(PHONE, |m| {
            m["text"].as_str().is_some_and(|t| t.contains("Cluster"))
        })
        .await;
    let text = sms["text"].as_str().unwrap();
    let code = code_in(text, 6).unwrap_or_else(|| panic!("a 6-digit code in {text:?}"));
    let from = sms["from"].as_str().unwrap_or_default();
    assert!(
        (1..=MODEMS_PER_HOST).any(|i| cluster.host(sender).number(i) == from),
        "sent from {from}, one of {sender}'s modems"
    );
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let (status, body) = cluster
        .host("hostB")
        .api
        .post("/otp/verify", json!({"otp_id": otp_id, "otp": wrong}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["verified"], false, "{body}");
    let (status, body) = cluster
        .host("hostA")
        .api
        .post("/otp/verify", json!({"otp_id": otp_id, "otp": code}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["verified"], true, "{body}");
    let (status, body) = cluster
        .host("hostC")
        .api
        .post("/otp/verify", json!({"otp_id": otp_id, "otp": code}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["verified"], false, "single use: {body}");
}

/// A reverse session created on A for B's number is verified by the user's SMS arriving on B's
/// modem, and C reads it as verified.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reverse_session_from_a_is_verified_on_b_and_read_on_c() {
    if server_or_skip("reverse_session_from_a_is_verified_on_b_and_read_on_c").is_none() {
        return;
    }
    let cluster = Cluster::start(Options::default()).await;
    let b_number = cluster.host("hostB").number(1);
    let (status, body) = cluster
        .host("hostA")
        .api
        .post(
            "/otp/reverse/initiate",
            json!({"number": PHONE, "to": b_number}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let session = &body["data"];
    assert_eq!(session["to"], b_number.as_str(), "{body}");
    let otp_id = session["otp_id"].as_str().expect("otp_id").to_string();
    let factor = session["factor"].as_str().expect("factor").to_string();
    let (status, body) = cluster
        .host("hostC")
        .api
        .get(&format!("/otp/reverse/verify/{otp_id}"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["status"], "pending", "{body}");

    let (status, body) = cluster
        .host("hostB")
        .api
        .post(
            "/v1/simulator/inbound",
            json!({"from": PHONE, "to": b_number, "text": format!("my code {factor}")}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let deadline = Instant::now() + WAIT;
    loop {
        let (status, body) = cluster
            .host("hostC")
            .api
            .get(&format!("/otp/reverse/verify/{otp_id}"))
            .await;
        assert_eq!(status, 200, "{body}");
        if body["data"]["status"] == "verified" {
            assert_eq!(body["data"]["verified"], true, "{body}");
            break;
        }
        assert_eq!(body["data"]["status"], "pending", "{body}");
        assert!(
            Instant::now() < deadline,
            "never verified as C sees it: {body}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// One SMS arriving on one host, a `[[webhook]]` for `message.received` configured on all three:
/// the receiver gets the event exactly once (one webhook-id, one request), signed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_inbound_sms_gives_one_message_received_delivery() {
    if server_or_skip("one_inbound_sms_gives_one_message_received_delivery").is_none() {
        return;
    }
    let receiver = Listener::start().await;
    let cluster = Cluster::start(Options {
        webhook: Some((receiver.url.clone(), vec!["message.received"])),
        ..Options::default()
    })
    .await;
    let b_number = cluster.host("hostB").number(2);
    let text = "hello from the outside world";
    let (status, body) = cluster
        .host("hostB")
        .api
        .post(
            "/v1/simulator/inbound",
            json!({"from": PHONE, "to": b_number, "text": text}),
        )
        .await;
    assert_eq!(status, 202, "{body}");
    let got = receiver.wait_for(1, WAIT).await;
    let event = got[0].json();
    assert_eq!(event["type"], "message.received", "{event}");
    assert_eq!(event["data"]["body"], text, "{event}");
    assert!(webhook_support::standard_signature_ok(
        webhook_support::SECRET,
        &got[0]
    ));
    let event_id = event["id"].as_str().expect("event id").to_string();
    // Every host reports the delivery done; then a quiet period of several dispatcher polls
    // (poll_interval_ms = 200) on every host, in which a host that took the delivery for its
    // own would send it again.
    for host in &cluster.hosts {
        host.api
            .wait_delivery_status(&event_id, "delivered", WAIT)
            .await;
    }
    let quiet_until = Instant::now() + Duration::from_secs(3);
    loop {
        let received = receiver.received();
        let ids: Vec<&str> = received.iter().map(|r| r.header("webhook-id")).collect();
        assert_eq!(
            received.len(),
            1,
            "one request, not one per host: webhook-ids {ids:?}"
        );
        if Instant::now() >= quiet_until {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A burst of OTPs to one number, spread over the three hosts at once: exactly the per-number
/// limit succeeds cluster-wide, the rest are 429.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_otps_to_one_number_is_limited_cluster_wide() {
    if server_or_skip("a_burst_of_otps_to_one_number_is_limited_cluster_wide").is_none() {
        return;
    }
    const LIMIT: u32 = 4;
    const BURST: usize = 15;
    let cluster = Cluster::start(Options {
        rate_per_number_per_hour: LIMIT,
        ..Options::default()
    })
    .await;
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..BURST {
        let api = Api::new(cluster.hosts[i % cluster.hosts.len()].api.base.clone());
        tasks.spawn(async move {
            let (status, body) = api.post("/otp/new", json!({"to": PHONE})).await;
            (i, status, body)
        });
    }
    let mut by_status: BTreeMap<u16, Vec<usize>> = BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        let (i, status, body) = done.expect("request task");
        assert!(
            status == 200 || status == 429,
            "request {i}: {status} {body}"
        );
        by_status.entry(status).or_default().push(i);
    }
    let ok = by_status.get(&200).map_or(0, Vec::len);
    let limited = by_status.get(&429).map_or(0, Vec::len);
    assert_eq!(
        (ok, limited),
        (LIMIT as usize, BURST - LIMIT as usize),
        "by status (request numbers; host = number % 3): {by_status:?}"
    );
    // And the limit holds afterwards on every host.
    for host in &cluster.hosts {
        let (status, body) = host.api.post("/otp/new", json!({"to": PHONE})).await;
        assert_eq!(status, 429, "{}: {body}", host.spec.name);
    }
}

/// 30 plain messages queued across the hosts; B is killed (SIGKILL) while the modems work
/// through them. Every message ends sent (as the survivors' API shows it), at most one went to
/// the network twice, and each one's `message.status` "sent" webhook arrives (from a survivor
/// when B died before delivering it), always under one webhook-id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_one_host_mid_queue_every_message_is_sent_and_announced() {
    if server_or_skip("kill_9_one_host_mid_queue_every_message_is_sent_and_announced").is_none() {
        return;
    }
    const MESSAGES: usize = 30;
    let receiver = Listener::start().await;
    let mut cluster = Cluster::start(Options {
        send_latency_ms: 300,
        webhook: Some((receiver.url.clone(), vec!["message.status"])),
        ..Options::default()
    })
    .await;
    let mut ids = Vec::new();
    for i in 0..MESSAGES {
        let host = &cluster.hosts[i % cluster.hosts.len()];
        let (status, body) = host
            .api
            .post(
                "/v1/messages",
                json!({"to": PHONE, "body": format!("queued message {i:02}")}),
            )
            .await;
        assert_eq!(status, 201, "{}: {body}", host.spec.name);
        ids.push(body["id"].as_str().expect("message id").to_string());
    }

    // Kill B once its modems have sent two of them (the queue still long), keeping the last
    // view of what B's modems had sent: after the kill it is gone with the process.
    let victim = 1;
    let deadline = Instant::now() + WAIT;
    let before_kill = loop {
        let sent = cluster.hosts[victim].outbox(PHONE).await;
        if sent.len() >= 2 {
            cluster.hosts[victim].kill9();
            break sent;
        }
        assert!(Instant::now() < deadline, "B's modems never sent anything");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    let killed_at = Instant::now();
    let victim_modems = cluster.hosts[victim].modem_names();
    assert!(
        before_kill.len() < MESSAGES,
        "killed mid-queue: {} of {MESSAGES} already sent by B",
        before_kill.len()
    );

    // Every message reaches a final sent state, as each survivor reads it.
    let survivors = [0, 2];
    let deadline = Instant::now() + TAKEOVER;
    let mut views: HashMap<String, Value> = HashMap::new();
    for id in &ids {
        loop {
            let host = &cluster.hosts[survivors[views.len() % 2]];
            let (status, view) = host.api.get(&format!("/v1/messages/{id}")).await;
            assert_eq!(status, 200, "{}: {view}", host.spec.name);
            if view["status"] == "sent" || view["status"] == "delivered" {
                views.insert(id.clone(), view);
                break;
            }
            assert!(
                ["queued", "sending"].contains(&view["status"].as_str().unwrap_or("")),
                "{id}: {view:#}"
            );
            assert!(Instant::now() < deadline, "{id} never sent: {view:#}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    // What reached the network: the survivors' outboxes and B's last view.
    let mut times_sent: BTreeMap<String, usize> = BTreeMap::new();
    let mut sent_by: HashMap<String, Vec<&'static str>> = HashMap::new();
    let outboxes = cluster.outboxes(PHONE).await;
    assert_eq!(outboxes.len(), 2, "two survivors");
    for (host, messages) in outboxes
        .iter()
        .map(|(h, m)| (*h, m))
        .chain([(SPECS[victim].name, &before_kill)])
    {
        for m in messages {
            let text = m["text"].as_str().unwrap_or_default().to_string();
            *times_sent.entry(text.clone()).or_default() += 1;
            sent_by.entry(text).or_default().push(host);
        }
    }
    let twice: Vec<_> = times_sent.iter().filter(|(_, n)| **n > 1).collect();
    assert!(
        twice.len() <= 1 && twice.iter().all(|(_, n)| **n == 2),
        "at most the in-flight message twice: {twice:?} (by {sent_by:?})"
    );
    for (i, id) in ids.iter().enumerate() {
        let view = &views[id];
        let text = format!("queued message {i:02}");
        if times_sent.contains_key(&text) {
            continue;
        }
        // The part's line: a message taken over from a dead host has no line of its own.
        let on_victim = view["parts"].as_array().is_some_and(|parts| {
            parts.iter().all(|p| {
                victim_modems.iter().any(|m| p["line"] == m.as_str())
                    && (p["status"] == "sent" || p["status"] == "uncertain")
            })
        });
        // Not in any outbox seen: only B can have sent it, between its last view and the kill
        // (or its part was left `submitting` and is `uncertain` now: never sent again).
        assert!(
            on_victim,
            "{id} ({text:?}) is {} yet no modem sent it: {view:#}",
            view["status"]
        );
    }

    let uncertain: Vec<&String> = ids
        .iter()
        .filter(|id| {
            views[*id]["parts"]
                .as_array()
                .is_some_and(|parts| parts.iter().any(|p| p["status"] == "uncertain"))
        })
        .collect();
    eprintln!(
        "kill -9: B had sent {} of {MESSAGES}; all sent {:.1} s after the kill; \
         uncertain (B's in-flight parts): {uncertain:?}; sent twice: {twice:?}",
        before_kill.len(),
        killed_at.elapsed().as_secs_f64()
    );

    // One `message.status` "sent" per message, each under one webhook-id (at-least-once:
    // repeats keep their id).
    let deadline = Instant::now() + TAKEOVER;
    loop {
        let mut ids_of: HashMap<String, HashSet<String>> = HashMap::new();
        for r in receiver.received() {
            let event = r.json();
            if event["type"] == "message.status" && event["data"]["status"] == "sent" {
                if let Some(message) = event["data"]["message_id"].as_str() {
                    ids_of
                        .entry(message.to_string())
                        .or_default()
                        .insert(r.header("webhook-id").to_string());
                }
            }
        }
        for (message, webhook_ids) in &ids_of {
            assert_eq!(
                webhook_ids.len(),
                1,
                "{message}: one event, one webhook-id: {webhook_ids:?}"
            );
        }
        let missing: Vec<&String> = ids.iter().filter(|id| !ids_of.contains_key(*id)).collect();
        if missing.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no message.status \"sent\" webhook for {missing:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    for i in survivors {
        cluster.hosts[i].assert_alive();
    }
}
