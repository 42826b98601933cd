//! Safe defaults through the real binary: protected mode, SIGHUP reload, and texts that start
//! with `-` on the command line.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_simgate");
const KEY_A: &str = "sk_live_aaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const KEY_B: &str = "sk_live_bbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn simgate(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(dir)
        .env_remove("SIMGATE_CONFIG")
        .env_remove("SIMGATE_API_KEY")
        .args(args)
        .output()
        .unwrap()
}

fn config(listen: &str, key: &str) -> String {
    format!(
        "[server]\nlisten = \"{listen}\"\n[auth]\napi_keys = [\"{key}\"]\n[otp]\nallowed_countries = [\"US\"]\n"
    )
}

#[test]
fn protected_mode_refuses_the_example_key_off_loopback() {
    let dir = tempfile::tempdir().unwrap();
    for (key, reason) in [
        ("sk_live_change_me", "public example key"),
        ("sk_live_short_key", "shorter than 24"),
    ] {
        std::fs::write(dir.path().join("open.toml"), config("0.0.0.0:0", key)).unwrap();
        for command in ["run", "check-config"] {
            let out = simgate(dir.path(), &[command, "--config", "open.toml"]);
            assert_eq!(out.status.code(), Some(1), "{command} with {key}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            let lines: Vec<&str> = stderr.lines().collect();
            assert_eq!(lines.len(), 1, "one line: {stderr}");
            for needed in ["auth.api_keys[0]", reason, "protected mode", "0.0.0.0:0"] {
                assert!(lines[0].contains(needed), "{command}: {stderr}");
            }
        }
    }
    // The same key on loopback is the quick start: valid.
    std::fs::write(
        dir.path().join("local.toml"),
        config("127.0.0.1:8080", "sk_live_change_me"),
    )
    .unwrap();
    let out = simgate(dir.path(), &["check-config", "--config", "local.toml"]);
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn pdu_encode_accepts_text_starting_with_a_dash() {
    let dir = tempfile::tempdir().unwrap();
    let out = simgate(
        dir.path(),
        &[
            "pdu",
            "encode",
            "--to",
            "+15551234567",
            "--text",
            "-5 degrees",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let hex = stdout.split_whitespace().nth(1).expect("<len> <hex>");
    let decoded = simgate(dir.path(), &["pdu", "decode", hex]);
    assert!(decoded.status.success(), "{decoded:?}");
    let json: serde_json::Value = serde_json::from_slice(&decoded.stdout).unwrap();
    assert_eq!(json["text"], "-5 degrees");
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A GET with a key; the status code (0 when nothing answers).
fn status(port: u16, path: &str, key: &str) -> u16 {
    let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) else {
        return 0;
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {key}\r\nConnection: close\r\n\r\n"
    );
    if s.write_all(request.as_bytes()).is_err() {
        return 0;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// `systemctl reload` sends SIGHUP: new keys are read from the file, the daemon keeps running;
/// `simgate send --text "-5 …"` goes through.
#[test]
fn sighup_reloads_api_keys_and_send_accepts_dashes() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    std::fs::write(dir.path().join("simgate.toml"), config(&listen, KEY_A)).unwrap();
    let mut daemon = Daemon(
        Command::new(BIN)
            .current_dir(dir.path())
            .env_remove("SIMGATE_CONFIG")
            .args(["run", "--config", "simgate.toml"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    eventually("the API", || status(port, "/v1/modems", KEY_A) == 200);

    let out = simgate(
        dir.path(),
        &[
            "send",
            "--config",
            "simgate.toml",
            "--to",
            "+14155550123",
            "--text",
            "-5 degrees tonight",
        ],
    );
    assert!(out.status.success(), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("msg_"),
        "{out:?}"
    );

    std::fs::write(dir.path().join("simgate.toml"), config(&listen, KEY_B)).unwrap();
    let pid = nix::unistd::Pid::from_raw(daemon.0.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    eventually("the new key", || status(port, "/v1/modems", KEY_B) == 200);
    assert_eq!(status(port, "/v1/modems", KEY_A), 401);
    assert!(daemon.0.try_wait().unwrap().is_none(), "still running");

    // A reload that would expose the API with a weak key is refused; the daemon goes on.
    std::fs::write(
        dir.path().join("simgate.toml"),
        config(&listen, "sk_live_change_me").replace(&listen, "0.0.0.0:1"),
    )
    .unwrap();
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(status(port, "/v1/modems", KEY_B), 200);

    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(25);
    let code = loop {
        if let Some(code) = daemon.0.try_wait().unwrap() {
            break code;
        }
        assert!(Instant::now() < deadline, "did not stop");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(code.success(), "{code:?}");
}
