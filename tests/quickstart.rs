//! The README's quick start, as a newcomer runs it: the real binary with `--simulate 2`, then
//! a reverse OTP driven to "verified" with curl-style HTTP calls and the `simgate sim` commands,
//! then a standard OTP whose code is read back with `simgate sim outbox`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const KEY: &str = "sk_live_change_me";

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        // SIGTERM first (graceful path), then make sure.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.0.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
    }
}

fn simgate(dir: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_simgate"));
    c.current_dir(dir)
        .env_remove("SIMGATE_CONFIG")
        .env_remove("SIMGATE_API_KEY");
    c
}

/// Starts `simgate run --simulate 2` as the README says; only the port (a free one, so tests can
/// run beside anything on 8080) and the simulated send latency come from a config file.
fn start(dir: &std::path::Path) -> (Daemon, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        dir.join("simgate.toml"),
        format!("[server]\nlisten = \"127.0.0.1:{port}\"\n[simulator]\nsend_latency_ms = 50\n"),
    )
    .unwrap();
    let mut child = simgate(dir)
        .args(["run", "--simulate", "2", "--config", "simgate.toml"])
        .stderr(Stdio::piped())
        .spawn()
        .expect("simgate runs");
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let base = format!("http://127.0.0.1:{port}");
    let daemon = Daemon(child);
    // Ready: storage ok and modems registered.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Ok(r) = reqwest::blocking_get(&format!("{base}/readyz")) {
            if r.0 == 200 {
                break;
            }
        }
        while let Ok(line) = rx.try_recv() {
            eprintln!("daemon: {line}");
        }
        assert!(Instant::now() < deadline, "daemon never ready");
        std::thread::sleep(Duration::from_millis(100));
    }
    (daemon, base)
}

/// Tiny blocking HTTP helpers over reqwest's async client (no blocking feature in the build).
mod reqwest {
    pub fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    pub fn blocking_get(url: &str) -> Result<(u16, serde_json::Value), String> {
        call(url, None)
    }

    pub fn call(
        url: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(u16, serde_json::Value), String> {
        runtime().block_on(async {
            let client = ::reqwest::Client::new();
            let request = match body {
                Some(b) => client.post(url).json(&b),
                None => client.get(url),
            };
            let r = request
                .header("Authorization", format!("Bearer {}", super::KEY))
                .send()
                .await
                .map_err(|e| e.to_string())?;
            let status = r.status().as_u16();
            let json = r.json().await.unwrap_or(serde_json::Value::Null);
            Ok((status, json))
        })
    }
}

#[test]
fn readme_quick_start_reverse_and_standard_otp() {
    let dir = tempfile::tempdir().unwrap();
    let (_daemon, base) = start(dir.path());
    let client_args = ["--url", base.as_str(), "--api-key", KEY];

    // `simgate modems` lists the two virtual modems, ready.
    let out = simgate(dir.path())
        .arg("modems")
        .args(client_args)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(listing.matches("ready").count(), 2, "{listing}");

    // Reverse OTP: initiate, the phone texts the factor, the status is verified.
    let (status, json) = reqwest::call(
        &format!("{base}/otp/reverse/initiate"),
        Some(serde_json::json!({"number": "+15557654321"})),
    )
    .unwrap();
    assert_eq!(status, 200, "{json}");
    let otp_id = json["data"]["otp_id"].as_str().unwrap().to_string();
    let factor = json["data"]["factor"].as_str().unwrap().to_string();
    let to = json["data"]["to"].as_str().unwrap().to_string();
    let out = simgate(dir.path())
        .args([
            "sim",
            "inject",
            "--from",
            "+15557654321",
            "--to",
            &to,
            "--text",
            &factor,
        ])
        .args(client_args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (_, json) =
            reqwest::blocking_get(&format!("{base}/otp/reverse/verify/{otp_id}")).unwrap();
        if json["data"]["status"] == "verified" {
            assert_eq!(json["data"]["verified"], true);
            break;
        }
        assert!(Instant::now() < deadline, "never verified: {json}");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Standard OTP: the code is read from what the "phone" received.
    let (status, json) = reqwest::call(
        &format!("{base}/otp/new"),
        Some(serde_json::json!({"to": "+15557654321"})),
    )
    .unwrap();
    assert_eq!(status, 200, "{json}");
    let otp_id = json["data"]["otp_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let code = loop {
        let out = simgate(dir.path())
            .args(["sim", "outbox", "--to", "+15557654321"])
            .args(client_args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let code: Option<String> = text
            .split(|c: char| !c.is_ascii_digit())
            .find(|w| w.len() == 6)
            .map(str::to_string);
        if let Some(code) = code {
            break code;
        }
        assert!(Instant::now() < deadline, "no code in the outbox: {text}");
        std::thread::sleep(Duration::from_millis(100));
    };
    let (_, json) = reqwest::call(
        &format!("{base}/otp/verify"),
        Some(serde_json::json!({"otp_id": otp_id, "otp": code})),
    )
    .unwrap();
    assert_eq!(json["data"]["verified"], true, "{json}");
}
