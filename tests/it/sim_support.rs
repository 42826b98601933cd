//! A minimal AT host for the simulator tests: opens a virtual modem's symlink with
//! tokio-serial, exactly as the daemon opens a USB modem, and reads replies line by line.

use std::path::Path;
use std::time::Duration;

use simgate::sim::{Network, SimModem, SimModemConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_serial::SerialPortBuilderExt;

/// Generous bound for anything that should happen at once.
pub const SOON: Duration = Duration::from_secs(5);

/// What came back from the port, plus whether the port ended (EOF or EIO).
pub struct Host {
    port: tokio_serial::SerialStream,
    pending: Vec<u8>,
}

/// Final result lines of a command.
fn is_final(line: &str) -> bool {
    line == "OK"
        || line == "ERROR"
        || line == "COMMAND NOT SUPPORT"
        || line.starts_with("+CME ERROR:")
        || line.starts_with("+CMS ERROR:")
}

impl Host {
    /// Opens the port the way the daemon does.
    pub fn open(path: &Path) -> Host {
        let port = tokio_serial::new(path.to_string_lossy(), 115_200)
            .open_native_async()
            .unwrap_or_else(|error| panic!("open {}: {error}", path.display()));
        Host {
            port,
            pending: Vec::new(),
        }
    }

    /// Opens the port and turns echo off, checking the modem answers.
    pub async fn open_quiet(path: &Path) -> Host {
        let mut host = Host::open(path);
        host.drain(Duration::from_millis(50)).await;
        host.write("ATE0\r").await;
        let reply = host.read_final(SOON).await;
        assert!(reply.ends_with("OK\r\n"), "ATE0 answered {reply:?}");
        host.pending.clear();
        host
    }

    pub async fn write(&mut self, text: &str) {
        self.write_bytes(text.as_bytes()).await;
    }

    pub async fn write_bytes(&mut self, bytes: &[u8]) {
        self.port.write_all(bytes).await.expect("write to modem");
        self.port.flush().await.expect("flush");
    }

    /// Reads more bytes; `Ok(0)` or an error mean the port ended.
    async fn fill(&mut self, deadline: tokio::time::Instant) -> Result<usize, String> {
        let mut chunk = [0u8; 1024];
        match tokio::time::timeout_at(deadline, self.port.read(&mut chunk)).await {
            Err(_) => Err("timeout".to_string()),
            Ok(Ok(0)) => Err("eof".to_string()),
            Ok(Ok(count)) => {
                self.pending.extend_from_slice(&chunk[..count]);
                Ok(count)
            }
            Ok(Err(error)) => Err(format!("io error: {error}")),
        }
    }

    /// Everything up to and including the first occurrence of `needle`.
    pub async fn read_until(&mut self, needle: &str, timeout: Duration) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        let needle_bytes = needle.as_bytes();
        loop {
            let found = self
                .pending
                .windows(needle_bytes.len())
                .position(|window| window == needle_bytes);
            if let Some(position) = found {
                let taken: Vec<u8> = self
                    .pending
                    .drain(..position + needle_bytes.len())
                    .collect();
                return String::from_utf8_lossy(&taken).into_owned();
            }
            if let Err(why) = self.fill(deadline).await {
                let text = String::from_utf8_lossy(&self.pending);
                panic!("waiting for {needle:?}: {why}; got {text:?}");
            }
        }
    }

    /// Everything up to and including the final result line (or the `> ` prompt).
    pub async fn read_final(&mut self, timeout: Duration) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let text = String::from_utf8_lossy(&self.pending).into_owned();
            let mut consumed = 0;
            for line in text.split_inclusive("\r\n") {
                consumed += line.len();
                if line.ends_with("\r\n") && is_final(line.trim()) {
                    self.pending.drain(..consumed);
                    return text[..consumed].to_string();
                }
            }
            if text.ends_with("> ") {
                self.pending.clear();
                return text;
            }
            if let Err(why) = self.fill(deadline).await {
                panic!("waiting for a final result: {why}; got {text:?}");
            }
        }
    }

    /// Sends `command` + CR and returns the reply up to its final result.
    pub async fn command(&mut self, command: &str) -> String {
        self.write(&format!("{command}\r")).await;
        self.read_final(SOON).await
    }

    /// The information lines of a reply (blank lines and the final result removed).
    pub async fn query(&mut self, command: &str) -> Vec<String> {
        let reply = self.command(command).await;
        reply
            .split("\r\n")
            .map(str::trim)
            .filter(|line| !line.is_empty() && !is_final(line))
            .map(str::to_string)
            .collect()
    }

    /// Reads whatever arrives within `quiet`, and returns it.
    pub async fn drain(&mut self, quiet: Duration) -> String {
        let deadline = tokio::time::Instant::now() + quiet;
        while self.fill(deadline).await.is_ok() {}
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending.clear();
        text
    }

    /// Reads until the port ends; returns how it ended ("eof" or "io error: …").
    pub async fn wait_for_hangup(&mut self, timeout: Duration) -> String {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match self.fill(deadline).await {
                Ok(_) => continue,
                Err(why) if why == "timeout" => panic!("port did not end"),
                Err(why) => return why,
            }
        }
    }
}

/// A network with one modem (echo, latency 0) in a fresh temporary directory.
pub async fn one_modem(config: SimModemConfig) -> (Network, SimModem, tempfile::TempDir) {
    let directory = tempfile::tempdir().expect("tempdir");
    let network = Network::new();
    let modem = network
        .add_modem(
            SimModemConfig {
                send_latency: Duration::ZERO,
                ..config
            },
            directory.path(),
        )
        .await
        .expect("add modem");
    (network, modem, directory)
}

/// Config of modem `index` with no send latency and no vendor chatter.
pub fn fast(index: u32) -> SimModemConfig {
    SimModemConfig {
        send_latency: Duration::ZERO,
        vendor_urc_interval: None,
        ..SimModemConfig::numbered(index)
    }
}

/// Sends one part through `AT+CMGS` and returns the reply after the PDU.
pub async fn send_part(host: &mut Host, tpdu_len: usize, hex: &str) -> String {
    let prompt = host.command(&format!("AT+CMGS={tpdu_len}")).await;
    assert!(prompt.ends_with("> "), "no prompt: {prompt:?}");
    host.write(&format!("{hex}\u{1a}")).await;
    host.read_final(SOON).await
}

/// The `+CMTI: "<mem>",<index>` index in a URC text.
pub fn cmti_index(text: &str) -> u32 {
    let line = text
        .lines()
        .find(|line| line.starts_with("+CMTI:"))
        .unwrap_or_else(|| panic!("no +CMTI in {text:?}"));
    line.rsplit(',')
        .next()
        .and_then(|index| index.trim().parse().ok())
        .unwrap_or_else(|| panic!("bad +CMTI line {line:?}"))
}
