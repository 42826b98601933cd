//! The peer, morgverd/sms-server (AGPL-3.0), measured beside simgate by the process bench when
//! `SIMGATE_PEER_BIN` names its binary (issue 12). Nothing of it is in this repository: build it
//! from its public repository (see BENCHMARKS.md). Only its documented interfaces are used here:
//!
//! * config (`-c FILE`, TOML): `[database] database_url, encryption_key` (base64 of 32 bytes),
//!   `[modem] device` (any serial path; a pty works), `[http] enabled, address,
//!   websocket_enabled`, `[[webhooks]] url, events = ["incoming"]`;
//! * the API key comes from the environment (`SMS_HTTP_AUTH_TOKEN`), sent as a bearer token;
//! * send: `POST /sms/send {"to", "content"}`, answered once the modem said `+CMGS: n` / `OK`;
//! * inbound: it sets `AT+CNMI=2,2,0,1,0` with `AT+CSMS` left at 0, so the modem pushes `+CMT`
//!   and expects no `AT+CNMA`; each message is posted unsigned to the webhook as
//!   `{"type": "incoming", "data": {"phone_number", "message_content", …}}`;
//! * it has no readiness route: `GET /sms/signal-strength` (an `AT+CSQ` round trip) answering
//!   200 means the HTTP server is up and the modem session initialised.
//!
//! The virtual modem is the bench's own (`simgate::sim`), unchanged: it answers every command
//! the peer's start-up sends (`ATZ`, `ATE0`, `AT+CMGF=0`, `AT+CSCS="GSM"`, `AT+CNMI=2,2,0,1,0`,
//! `AT+CSMP=49,167,0,0`, `AT+CPMS="ME","ME","ME"`) and its `AT+CMGS` / `AT+CSQ`.

use super::{free_port, modem_and_receiver, Daemon, Rig, API_KEY};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The route that sends one SMS.
pub const SEND_PATH: &str = "/sms/send";

/// Any fixed 32-byte key (`simgate-bench-peer-key-32-bytes!`), base64: the peer encrypts
/// message bodies at rest with it.
const ENCRYPTION_KEY: &str = "c2ltZ2F0ZS1iZW5jaC1wZWVyLWtleS0zMi1ieXRlcyE=";

/// The peer's binary: `$SIMGATE_PEER_BIN`, if set.
pub fn binary() -> Option<PathBuf> {
    std::env::var_os("SIMGATE_PEER_BIN")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// The body of a send request.
pub fn send_body(to: &str, text: &str) -> serde_json::Value {
    serde_json::json!({ "to": to, "content": text })
}

/// Whether `event` is the peer's announcement of the inbound SMS `text`.
pub fn is_incoming(event: &serde_json::Value, text: &str) -> bool {
    event["type"] == "incoming" && event["data"]["message_content"] == text
}

/// The configuration the peer is run with (written next to its database).
fn config(dir: &std::path::Path, port: u16, device: &std::path::Path, webhook: &str) -> String {
    format!(
        "[database]\ndatabase_url = \"{db}\"\nencryption_key = \"{ENCRYPTION_KEY}\"\n\
         [modem]\ndevice = \"{device}\"\n\
         [http]\nenabled = true\naddress = \"127.0.0.1:{port}\"\nwebsocket_enabled = false\n\
         [[webhooks]]\nurl = \"{webhook}\"\nevents = [\"incoming\"]\n",
        db = dir.join("peer.db").display(),
        device = device.display(),
    )
}

/// The same rig as [`Rig::start`] (a fresh virtual modem and webhook receiver), with the peer
/// as the daemon; returns once the peer's modem session answers.
pub async fn start(binary: &std::path::Path) -> Rig {
    let dir = tempfile::tempdir().expect("temporary directory");
    let (network, modem, receiver) = modem_and_receiver(dir.path()).await;
    let port = free_port();
    let config_path = dir.path().join("peer.toml");
    std::fs::write(
        &config_path,
        config(dir.path(), port, modem.path(), &receiver.url),
    )
    .expect("config written");
    let spawn = || {
        let log = std::fs::File::create(dir.path().join("peer.log")).expect("log file");
        let mut command = Command::new(binary);
        command
            .arg("-c")
            .arg(&config_path)
            .current_dir(dir.path())
            .env("SMS_HTTP_AUTH_TOKEN", API_KEY)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log));
        super::dies_with_the_bench(&mut command);
        command
            .spawn()
            .unwrap_or_else(|e| panic!("{} starts: {e}", binary.display()))
    };
    let mut daemon = Daemon {
        child: spawn(),
        base: format!("http://127.0.0.1:{port}"),
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .build()
            .unwrap(),
        db: dir.path().join("peer.db"),
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut restarts = 0;
    loop {
        let answer = daemon
            .http
            .get(format!("{}/sms/signal-strength", daemon.base))
            .bearer_auth(API_KEY)
            .timeout(Duration::from_secs(2))
            .send()
            .await;
        if matches!(&answer, Ok(r) if r.status() == 200) {
            break;
        }
        let log = || std::fs::read_to_string(dir.path().join("peer.log")).unwrap_or_default();
        // Its start can fail on a fresh database ("database is locked" while its connection
        // pool opens): start it again, as a supervisor would, and say so.
        if let Ok(Some(status)) = daemon.child.try_wait() {
            restarts += 1;
            assert!(
                restarts <= 3,
                "the peer keeps exiting ({status}); its log:\n{}",
                log()
            );
            let first = log().lines().next().unwrap_or_default().to_string();
            println!("peer exited at start ({status}: {first}); starting it again");
            daemon.child = spawn();
        }
        if Instant::now() > deadline {
            panic!(
                "the peer never answered /sms/signal-strength; its log:\n{}",
                log()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Rig {
        network,
        modem,
        receiver,
        daemon,
        dir,
    }
}

/// What the peer logged (at `warn` and above) during a round: the line count and the last line.
pub fn log_summary(rig: &Rig) -> String {
    let log = std::fs::read_to_string(rig.dir.path().join("peer.log")).unwrap_or_default();
    match log.lines().rfind(|l| !l.trim().is_empty()) {
        None => "log: nothing at warn or above".to_string(),
        Some(last) => format!("log: {} lines, last: {last}", log.lines().count()),
    }
}
