//! Crash safety: `kill -9` the daemon (a real process) at random moments while it sends and
//! receives; the virtual modems live in this test process and survive, like hardware. After the
//! last restart: every accepted message went to the network at most once (and exactly once unless
//! the kill fell between writing its PDU and the modem's answer, which the store records as
//! `uncertain`), every inbound SMS is stored exactly once, and webhook ids are stable.
//!
//! And one deterministic kill: between the commit of a directly delivered `+CMT` and its
//! `AT+CNMA` (the modem withholds the acknowledgement from its firmware, as if the daemon
//! had died before writing it): the modem keeps the message, the restarted daemon reads it
//! again, the store recognises the duplicate, and it is announced once.

use rand::Rng;
use simgate::sim::{Network, SimModemConfig};
use std::collections::{HashMap, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const KEY: &str = "sk_test_crash_0123";

struct Daemon(Child);

impl Daemon {
    fn kill9(mut self) {
        let _ = self.0.kill(); // SIGKILL
        let _ = self.0.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Deliveries seen by the webhook receiver: webhook-id → bodies.
type Seen = Arc<Mutex<HashMap<String, Vec<String>>>>;

async fn receiver() -> (String, Seen) {
    use axum::{body::Bytes, http::HeaderMap, routing::post, Router};
    let seen: Seen = Arc::default();
    let sink = seen.clone();
    let app = Router::new().route(
        "/hooks",
        post(move |headers: HeaderMap, body: Bytes| {
            let sink = sink.clone();
            async move {
                let id = headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_string();
                sink.lock()
                    .unwrap()
                    .entry(id)
                    .or_default()
                    .push(String::from_utf8_lossy(&body).into_owned());
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hooks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

fn start_daemon(config: &std::path::Path) -> Daemon {
    let child = Command::new(env!("CARGO_BIN_EXE_simgate"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("simgate starts");
    Daemon(child)
}

/// A daemon whose inbound pipeline logs each PDU's outcome to `log`.
fn start_daemon_logging(config: &std::path::Path, log: &std::path::Path) -> Daemon {
    let child = Command::new(env!("CARGO_BIN_EXE_simgate"))
        .args(["run", "--config"])
        .arg(config)
        .env("RUST_LOG", "warn,simgate::inbound=debug")
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).expect("log file"))
        .spawn()
        .expect("simgate starts");
    Daemon(child)
}

/// Polls `check` every 20 ms until it holds; panics with `what` after `limit`.
async fn eventually(limit: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn count(db: &std::path::Path, sql: &str) -> i64 {
    rusqlite::Connection::open(db)
        .and_then(|conn| conn.query_row(sql, [], |r| r.get(0)))
        .unwrap_or(-1)
}

async fn wait_ready(http: &reqwest::Client, base: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = http.get(format!("{base}/readyz")).send().await {
            if r.status() == 200 {
                return;
            }
        }
        assert!(Instant::now() < deadline, "daemon never ready");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_points_loses_nothing_and_sends_nothing_twice() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new();
    let mut modems = Vec::new();
    for i in 1..=2 {
        let mut sim = SimModemConfig::numbered(i);
        // Wide windows between prompt and answer, so kills land inside sends too.
        sim.send_latency = Duration::from_millis(120);
        modems.push(network.add_modem(sim, dir.path()).await.unwrap());
    }
    let (hook_url, seen) = receiver().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let mut config = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\npath = \"{}\"\n[security]\nsecret_file = \"{}\"\n\
         [auth]\napi_keys = [\"{KEY}\"]\n[otp]\nallowed_countries = [\"US\", \"GB\"]\n[messages]\nper_key_per_minute = 0\n[webhooks]\nretry_base_ms = 100\nretry_max_ms = 500\npoll_interval_ms = 200\n\
         [[webhook]]\nurl = \"{hook_url}\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\nevents = [\"*\"]\n",
        dir.path().join("simgate.db").display(),
        dir.path().join("secret.key").display(),
    );
    for m in &modems {
        config.push_str(&format!(
            "[[modem]]\nname = \"{}\"\nport = \"{}\"\nnumber = \"{}\"\nmax_per_minute = 0\nmax_per_hour = 0\nmax_per_day = 0\n",
            m.name(),
            m.path().display(),
            m.number()
        ));
    }
    let config_path = dir.path().join("simgate.toml");
    std::fs::write(&config_path, config).unwrap();

    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let mut rng = rand::rng();
    let mut accepted: Vec<(String, String)> = Vec::new(); // (message_id, body)
    let mut inbound_sent: Vec<String> = Vec::new();
    let mut counter = 0;
    for _round in 0..6 {
        let daemon = start_daemon(&config_path);
        wait_ready(&http, &base).await;
        let kill_after = Duration::from_millis(rng.random_range(100..900));
        let started = Instant::now();
        while started.elapsed() < kill_after {
            counter += 1;
            let body = format!("crash test message {counter}");
            let to = format!("+4477009{counter:05}");
            let r = http
                .post(format!("{base}/send/text"))
                .bearer_auth(KEY)
                .json(&serde_json::json!({"to": to, "message": body}))
                .send()
                .await;
            if let Ok(r) = r {
                if r.status() == 200 {
                    let json: serde_json::Value = r.json().await.unwrap();
                    accepted.push((
                        json["data"]["message_id"].as_str().unwrap().to_string(),
                        body,
                    ));
                }
            }
            let text = format!("inbound crash test {counter}");
            let sim = &modems[counter % 2];
            network
                .send_from_world(&format!("+4477008{counter:05}"), sim.number(), &text)
                .unwrap();
            inbound_sent.push(text);
            tokio::time::sleep(Duration::from_millis(rng.random_range(0..60))).await;
        }
        daemon.kill9();
    }
    assert!(accepted.len() >= 10, "enough traffic: {}", accepted.len());

    // The last life: let it finish everything.
    let daemon = start_daemon(&config_path);
    wait_ready(&http, &base).await;
    let db = dir.path().join("simgate.db");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let conn = rusqlite::Connection::open(&db).unwrap();
        let pending: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM outbound_messages WHERE status IN ('queued','sending')",
                [],
                |r| r.get(0),
            )
            .unwrap();
        let inbound: i64 = conn
            .query_row("SELECT COUNT(*) FROM inbound_messages", [], |r| r.get(0))
            .unwrap();
        let undelivered: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM webhook_deliveries WHERE status != 'delivered'",
                [],
                |r| r.get(0),
            )
            .unwrap_or(1);
        let unfanned: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM events WHERE seq > (SELECT COALESCE(MAX(last_seq), 0) FROM webhook_cursor)",
                [],
                |r| r.get(0),
            )
            .unwrap_or(0);
        if pending == 0
            && inbound as usize >= inbound_sent.len()
            && undelivered == 0
            && unfanned == 0
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not settled: pending {pending}, inbound {inbound}/{}, webhooks undelivered {undelivered}",
            inbound_sent.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    daemon.kill9();

    let conn = rusqlite::Connection::open(&db).unwrap();
    // Outbound: at most once on the network; exactly once unless recorded uncertain.
    let world = network.world().messages();
    let mut uncertain = 0;
    for (id, body) in &accepted {
        let copies = world.iter().filter(|m| &m.text == body).count();
        assert!(copies <= 1, "{body:?} reached the network {copies} times");
        let status: String = conn
            .query_row(
                "SELECT status FROM outbound_messages WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap();
        if copies == 0 {
            let parts: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM outbound_parts WHERE message_id = ?1 AND status = 'uncertain'",
                    [id],
                    |r| r.get(0),
                )
                .unwrap();
            assert!(
                parts > 0,
                "{body:?} ({id}, {status}) was accepted but never sent"
            );
            uncertain += 1;
        } else {
            assert!(
                status == "sent" || status == "delivered",
                "{id} is {status}"
            );
        }
    }
    // Any message the network got twice, accepted or not, would be a duplicate send.
    let mut texts = HashSet::new();
    for m in &world {
        assert!(texts.insert(m.text.clone()), "{:?} sent twice", m.text);
    }
    // Inbound: every SMS exactly once.
    for text in &inbound_sent {
        let n: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM inbound_messages WHERE body = ?1",
                [text],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "{text:?} stored {n} times");
    }
    // Webhooks: every event delivered; each webhook-id always carried the same body.
    let seen = seen.lock().unwrap().clone();
    let events: Vec<String> = {
        let mut stmt = conn
            .prepare("SELECT id FROM events WHERE type = 'message.received'")
            .unwrap();
        stmt.query_map([], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    };
    assert_eq!(events.len(), inbound_sent.len());
    for id in &events {
        let bodies = seen
            .get(id)
            .unwrap_or_else(|| panic!("event {id} never delivered"));
        assert!(
            bodies.windows(2).all(|w| w[0] == w[1]),
            "{id} delivered with different bodies"
        );
    }
    eprintln!(
        "crash test: {} accepted, {} uncertain after kill -9, {} inbound, {} webhook ids",
        accepted.len(),
        uncertain,
        inbound_sent.len(),
        seen.len()
    );
    network.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_between_the_commit_of_a_cmt_and_its_cnma_loses_nothing_and_announces_once() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new();
    let mut sim = SimModemConfig::numbered(1);
    // The modem's patience for an acknowledgement (the network's timer on real hardware).
    sim.ack_timeout = Duration::from_secs(2);
    let modem = network.add_modem(sim, dir.path()).await.unwrap();
    let (hook_url, seen) = receiver().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let base = format!("http://127.0.0.1:{port}");
    let db = dir.path().join("simgate.db");
    let config = format!(
        "[server]\nlisten = \"127.0.0.1:{port}\"\n[storage]\npath = \"{}\"\n[security]\nsecret_file = \"{}\"\n\
         [auth]\napi_keys = [\"{KEY}\"]\n[otp]\nallowed_countries = [\"US\", \"GB\"]\n[webhooks]\nretry_base_ms = 100\nretry_max_ms = 500\npoll_interval_ms = 200\n\
         [[webhook]]\nurl = \"{hook_url}\"\nsecret = \"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw\"\nevents = [\"*\"]\n\
         [[modem]]\nname = \"{}\"\nport = \"{}\"\nnumber = \"{}\"\n",
        db.display(),
        dir.path().join("secret.key").display(),
        modem.name(),
        modem.path().display(),
        modem.number(),
    );
    let config_path = dir.path().join("simgate.toml");
    std::fs::write(&config_path, config).unwrap();
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();

    let daemon = start_daemon(&config_path);
    wait_ready(&http, &base).await;
    let commands = modem.commands();
    assert!(commands.iter().any(|c| c == "AT+CSMS=1"), "{commands:?}");
    assert!(
        commands.iter().any(|c| c.starts_with("AT+CNMI=2,2,")),
        "direct delivery chosen: {commands:?}"
    );

    // The daemon's acknowledgement will never reach the firmware.
    modem.withhold_acks(true);
    let text = "direct delivery crash test";
    network
        .send_from_world("+447700900123", modem.number(), text)
        .unwrap();
    let by_body = format!("SELECT COUNT(*) FROM inbound_messages WHERE body = '{text}'");
    // The daemon writes AT+CNMA only once the commit is confirmed: seeing it withheld
    // means the message is committed and the modem still waits for the acknowledgement.
    eventually(Duration::from_secs(10), "no AT+CNMA written", || {
        modem.acks_withheld() >= 1
    })
    .await;
    assert!(
        modem.is_awaiting_ack(),
        "the modem never got the acknowledgement"
    );
    daemon.kill9();
    assert_eq!(count(&db, &by_body), 1, "committed before the kill");
    let received = "SELECT COUNT(*) FROM events WHERE type = 'message.received'";
    assert_eq!(count(&db, received), 1);

    // Unacknowledged, the modem keeps the message (the network would deliver it again).
    modem.withhold_acks(false);
    assert!(
        modem
            .wait_until(Duration::from_secs(10), |m| !m.is_awaiting_ack()
                && m.stored().len() == 1)
            .await,
        "the modem kept the unacknowledged message"
    );

    // The next life reads it again; the store recognises it; the modem lets it go.
    let log = dir.path().join("second-life.log");
    let daemon = start_daemon_logging(&config_path, &log);
    wait_ready(&http, &base).await;
    assert!(
        modem
            .wait_until(Duration::from_secs(20), |m| m.stored().is_empty())
            .await,
        "deleted from the modem after the second commit"
    );
    let undelivered = "SELECT COUNT(*) FROM webhook_deliveries WHERE status != 'delivered'";
    eventually(Duration::from_secs(20), "webhooks not settled", || {
        count(&db, undelivered) == 0 && count(&db, received) == 1
    })
    .await;
    let outcomes = std::fs::read_to_string(&log).unwrap_or_default();
    daemon.kill9();

    assert_eq!(
        count(&db, &by_body),
        1,
        "stored once: never lost, never twice"
    );
    assert_eq!(count(&db, received), 1, "one message.received event");
    assert!(
        outcomes
            .lines()
            .any(|l| l.contains("inbound PDU committed") && l.contains("duplicate")),
        "the second delivery was recognised as a duplicate: {outcomes}"
    );
    // Announced once: one webhook id for message.received (sent again only with the same
    // id and body, as at-least-once allows).
    let seen = seen.lock().unwrap().clone();
    let announced: Vec<&String> = seen
        .iter()
        .filter(|(_, bodies)| bodies.iter().any(|b| b.contains("message.received")))
        .map(|(id, _)| id)
        .collect();
    assert_eq!(announced.len(), 1, "announced exactly once: {seen:?}");
    assert!(seen[announced[0]].iter().any(|b| b.contains(text)));
    network.shutdown().await;
}
