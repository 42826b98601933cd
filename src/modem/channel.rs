//! The AT channel: one command at a time over a byte stream, with a deadline per command.
//!
//! This is the I/O edge around the pure [`AtParser`]: it writes commands, feeds whatever bytes
//! arrive to the parser, and sorts the parser's events into the current command's response or
//! the queue of unsolicited result codes, which the driver handles between commands.

use crate::at::parser::{AtEvent, AtParser, FinalResult, Urc};
use std::collections::VecDeque;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

/// Anything the channel can run over: a serial port, or a pty in tests.
pub trait Transport: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Transport for T {}

/// Why a command produced no final result.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    /// The port is gone (EOF or an I/O error such as EIO after an unplug).
    #[error("port closed: {0}")]
    Closed(String),
    /// No final result within the command's deadline.
    #[error("no answer to {command} within {timeout:?}")]
    Timeout { command: String, timeout: Duration },
}

/// A command's answer: its information lines and its final result.
#[derive(Debug, Clone)]
pub struct Response {
    pub lines: Vec<String>,
    pub result: FinalResult,
}

impl Response {
    pub fn is_ok(&self) -> bool {
        matches!(self.result, FinalResult::Ok)
    }

    /// The first line starting with `prefix` (e.g. "+CSQ:").
    pub fn line_with(&self, prefix: &str) -> Option<&str> {
        self.lines
            .iter()
            .map(String::as_str)
            .find(|l| l.starts_with(prefix))
    }

    /// The first information line, for bare answers such as `AT+CGMI` → `huawei`.
    pub fn first_line(&self) -> Option<&str> {
        self.lines.first().map(String::as_str)
    }
}

/// One AT command at a time over a transport.
pub struct AtChannel<T> {
    port: T,
    parser: AtParser,
    urcs: VecDeque<Urc>,
    buf: Box<[u8; 4096]>,
    /// Commands are logged at debug level, except those carrying secrets.
    log_commands: bool,
    /// A `> ` prompt came when no command wanted one; ESC goes out before the next write.
    escape_pending: bool,
}

impl<T: Transport> AtChannel<T> {
    pub fn new(port: T) -> Self {
        AtChannel {
            port,
            parser: AtParser::new(),
            urcs: VecDeque::new(),
            buf: Box::new([0u8; 4096]),
            log_commands: true,
            escape_pending: false,
        }
    }

    /// Ends the current command. Whatever the parser already holds beyond its final result
    /// (bytes of a URC that came in the same read) is sorted now: left in the parser, it would
    /// wait for the next bytes from the modem, which may be a health poll away.
    fn command_done(&mut self) {
        self.parser.command_finished();
        self.sort_idle_events();
    }

    /// Sorts the parser's events while no command runs: URCs are queued, a prompt nobody
    /// waits for (late, after a timeout) is cancelled before the next write, since it would
    /// swallow the next command; other lines (a late answer) are dropped.
    fn sort_idle_events(&mut self) {
        while let Some(event) = self.parser.next_event() {
            match event {
                AtEvent::Urc(u) => self.urcs.push_back(u),
                AtEvent::Prompt => self.escape_pending = true,
                other => tracing::trace!(?other, "stray line between commands"),
            }
        }
    }

    /// Sends the ESC owed to a stray prompt, if any. A modem waiting at a prompt holds back
    /// its URCs, so the driver settles before it waits for the modem.
    pub async fn settle(&mut self) -> Result<(), ChannelError> {
        if std::mem::take(&mut self.escape_pending) {
            self.write_all(b"\x1b").await?;
        }
        Ok(())
    }

    /// Unsolicited result codes received so far and not yet handled.
    pub fn take_urc(&mut self) -> Option<Urc> {
        self.urcs.pop_front()
    }

    /// Runs one command and collects its answer. A timeout leaves the parser ready for the next
    /// command: a late answer is then read as stray lines, never as the next command's answer.
    pub async fn command(
        &mut self,
        command: &str,
        timeout: Duration,
    ) -> Result<Response, ChannelError> {
        if self.log_commands && !command.starts_with("AT+CPIN=") {
            tracing::debug!(command, "AT >");
        }
        self.settle().await?;
        self.parser.command_started(command);
        let mut line = Vec::with_capacity(command.len() + 1);
        line.extend_from_slice(command.as_bytes());
        line.push(b'\r');
        self.write_all(&line).await?;
        let deadline = Instant::now() + timeout;
        let mut lines = Vec::new();
        loop {
            while let Some(event) = self.parser.next_event() {
                match event {
                    AtEvent::Response(l) => lines.push(l),
                    AtEvent::Final(result) => {
                        self.command_done();
                        return Ok(Response { lines, result });
                    }
                    AtEvent::Urc(u) => self.urcs.push_back(u),
                    AtEvent::Prompt => {}
                }
            }
            if !self.read_until(deadline).await? {
                self.command_done();
                return Err(ChannelError::Timeout {
                    command: redact(command),
                    timeout,
                });
            }
        }
    }

    /// Sends one SMS part: `AT+CMGS=<len>`, waits for the `> ` prompt, asks `commit` whether
    /// to go on (the caller records the part as submitted first), then writes the PDU and
    /// Ctrl-Z. Returns `Ok(None)` when `commit` declined and the prompt was cancelled with ESC.
    pub async fn send_pdu<F, Fut>(
        &mut self,
        tpdu_len: usize,
        hex: &str,
        timeout: Duration,
        commit: F,
    ) -> Result<Option<Response>, ChannelError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let command = format!("AT+CMGS={tpdu_len}");
        tracing::debug!(command, "AT >");
        self.settle().await?;
        self.parser.command_started(&command);
        self.write_all(format!("{command}\r").as_bytes()).await?;
        let deadline = Instant::now() + timeout;
        // Phase 1: the prompt, or an early final result (an error).
        let mut lines = Vec::new();
        'prompt: loop {
            while let Some(event) = self.parser.next_event() {
                match event {
                    AtEvent::Prompt => break 'prompt,
                    AtEvent::Final(result) => {
                        self.command_done();
                        return Ok(Some(Response { lines, result }));
                    }
                    AtEvent::Response(l) => lines.push(l),
                    AtEvent::Urc(u) => self.urcs.push_back(u),
                }
            }
            if !self.read_until(deadline).await? {
                // Cancel a prompt we may have missed so the modem does not eat the next command.
                let _ = self.write_all(b"\x1b").await;
                self.command_done();
                return Err(ChannelError::Timeout { command, timeout });
            }
        }
        if !commit().await {
            self.write_all(b"\x1b").await?;
            // The modem answers the cancelled prompt with OK (or nothing); drain it briefly.
            let drain_deadline = Instant::now() + Duration::from_millis(500);
            loop {
                while let Some(event) = self.parser.next_event() {
                    match event {
                        AtEvent::Final(_) => {
                            self.command_done();
                            return Ok(None);
                        }
                        AtEvent::Urc(u) => self.urcs.push_back(u),
                        _ => {}
                    }
                }
                if !self.read_until(drain_deadline).await? {
                    self.command_done();
                    return Ok(None);
                }
            }
        }
        let mut payload = Vec::with_capacity(hex.len() + 1);
        payload.extend_from_slice(hex.as_bytes());
        payload.push(0x1a);
        self.write_all(&payload).await?;
        // Phase 2: the final result with +CMGS: <mr>.
        loop {
            while let Some(event) = self.parser.next_event() {
                match event {
                    AtEvent::Response(l) => lines.push(l),
                    AtEvent::Final(result) => {
                        self.command_done();
                        return Ok(Some(Response { lines, result }));
                    }
                    AtEvent::Urc(u) => self.urcs.push_back(u),
                    AtEvent::Prompt => {}
                }
            }
            if !self.read_until(deadline).await? {
                self.command_done();
                return Err(ChannelError::Timeout { command, timeout });
            }
        }
    }

    /// Waits for bytes while no command runs, queueing any URCs. Cancel-safe: meant for
    /// `select!` against the driver's other work.
    pub async fn read_idle(&mut self) -> Result<(), ChannelError> {
        let n = self
            .port
            .read(&mut self.buf[..])
            .await
            .map_err(|e| ChannelError::Closed(e.to_string()))?;
        if n == 0 {
            return Err(ChannelError::Closed("end of file".into()));
        }
        self.parser.push(&self.buf[..n]);
        self.sort_idle_events();
        self.settle().await
    }

    /// Reads once, with a deadline; `Ok(false)` when the deadline passed.
    async fn read_until(&mut self, deadline: Instant) -> Result<bool, ChannelError> {
        match tokio::time::timeout_at(deadline, self.port.read(&mut self.buf[..])).await {
            Err(_) => Ok(false),
            Ok(Err(e)) => Err(ChannelError::Closed(e.to_string())),
            Ok(Ok(0)) => Err(ChannelError::Closed("end of file".into())),
            Ok(Ok(n)) => {
                self.parser.push(&self.buf[..n]);
                Ok(true)
            }
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> Result<(), ChannelError> {
        self.port
            .write_all(bytes)
            .await
            .map_err(|e| ChannelError::Closed(e.to_string()))?;
        self.port
            .flush()
            .await
            .map_err(|e| ChannelError::Closed(e.to_string()))
    }

    /// Writes raw bytes (ESC to cancel a prompt left over from a previous life).
    pub async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), ChannelError> {
        self.write_all(bytes).await
    }
}

/// Commands are shown in errors and logs; the PIN never is.
fn redact(command: &str) -> String {
    if command.starts_with("AT+CPIN=") {
        "AT+CPIN=****".to_string()
    } else {
        command.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{duplex, AsyncReadExt, AsyncWriteExt, DuplexStream};
    use tokio::task::JoinHandle;

    const SOON: Duration = Duration::from_secs(2);

    /// The modem's end of the pipe: reads exactly `expect` (failing the test on anything
    /// else), writes `answer` in one go, and hands the pipe back.
    fn modem_answering(
        mut modem: DuplexStream,
        expect: &'static [u8],
        answer: &'static [u8],
    ) -> JoinHandle<DuplexStream> {
        tokio::spawn(async move {
            let mut seen = Vec::new();
            let mut buf = [0u8; 64];
            while seen.len() < expect.len() {
                let read = tokio::time::timeout(SOON, modem.read(&mut buf)).await;
                let n = read
                    .unwrap_or_else(|_| panic!("waited for {expect:?}, got {seen:?}"))
                    .unwrap();
                seen.extend_from_slice(&buf[..n]);
            }
            assert_eq!(seen, expect);
            modem.write_all(answer).await.unwrap();
            modem
        })
    }

    /// A URC in the same read as the final result is queued when the command returns, not when
    /// the modem next says something.
    #[tokio::test]
    async fn a_urc_read_with_the_final_result_is_queued_at_once() {
        let (ours, modem) = duplex(1024);
        let mut channel = AtChannel::new(ours);
        let peer = modem_answering(modem, b"AT+CMGD=2\r", b"\r\nOK\r\n\r\n+CMTI: \"SM\",3\r\n");
        assert!(channel.command("AT+CMGD=2", SOON).await.unwrap().is_ok());
        let _modem = peer.await.unwrap();
        match channel.take_urc() {
            Some(Urc::Cmti { storage, index }) => assert_eq!((storage.as_str(), index), ("SM", 3)),
            other => panic!("expected the +CMTI, got {other:?}"),
        }
    }

    /// A prompt that arrives after the final result (late, unasked) is cancelled with ESC
    /// before the next command goes out.
    #[tokio::test]
    async fn a_stray_prompt_after_a_final_result_is_cancelled_before_the_next_command() {
        let (ours, modem) = duplex(1024);
        let mut channel = AtChannel::new(ours);
        let peer = modem_answering(modem, b"AT\r", b"\r\nOK\r\n> ");
        assert!(channel.command("AT", SOON).await.unwrap().is_ok());
        let modem = peer.await.unwrap();
        let peer = modem_answering(modem, b"\x1bAT+CSQ\r", b"\r\n+CSQ: 20,99\r\n\r\nOK\r\n");
        let csq = channel.command("AT+CSQ", SOON).await.unwrap();
        assert_eq!(csq.line_with("+CSQ:"), Some("+CSQ: 20,99"));
        peer.await.expect("the modem got ESC before the command");
    }

    /// The driver settles before it waits for the modem: the ESC goes out without waiting for
    /// the next command (a modem at a prompt holds its URCs back).
    #[tokio::test]
    async fn settling_cancels_a_stray_prompt_at_once() {
        let (ours, modem) = duplex(1024);
        let mut channel = AtChannel::new(ours);
        let peer = modem_answering(modem, b"AT\r", b"\r\nOK\r\n> ");
        assert!(channel.command("AT", SOON).await.unwrap().is_ok());
        let modem = peer.await.unwrap();
        let peer = modem_answering(modem, b"\x1b", b"");
        channel.settle().await.unwrap();
        peer.await.expect("the modem got ESC");
    }
}
