//! The modem driver task: a thin pump between one serial port and its [`Session`].
//!
//! ```text
//!   open port ──► pump ─┬─► port closed / session ended ──► back-off ──► open port
//!      ▲                └─► shutdown
//!      └── back-off ◄── open failed
//! ```
//! The pump reads bytes and feeds them to the session, writes what the session asks, sleeps
//! until the session's next deadline, and acts on its events: a PDU goes to the inbound
//! pipeline and the commit answer goes back; a prompt goes to the pool and its commit answer
//! goes back; a part's outcome goes to the pool. Every decision is the session's (sans-IO,
//! tested in memory with a virtual clock); the pump decides nothing.

use super::recovery::Backoff;
use super::session::{Carry, Event, Session, SessionConfig};
pub use super::session::{InboundSource, SendOutcome, Timings};
use super::state::{ModemState, ModemStatus};
use crate::shutdown::Shutdown;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;

/// What the driver needs to know about its modem.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    pub name: String,
    pub port: PathBuf,
    pub baud: u32,
    pub number: Option<String>,
    pub pin: Option<crate::redact::Redacted<String>>,
    pub timings: Timings,
}

/// An inbound PDU (SMS-DELIVER or SMS-STATUS-REPORT, SMSC field included) for storage.
/// Storage must answer on `committed`: `true` once the PDU is durably stored (or recognised as
/// a duplicate), after which the driver deletes it from the modem.
#[derive(Debug)]
pub struct InboundDelivery {
    pub modem: String,
    pub pdu: String,
    pub source: InboundSource,
    pub committed: oneshot::Sender<bool>,
}

/// A request to send one part through this modem.
///
/// The driver writes `AT+CMGS=<tpdu_len>` and sends `()` on `started`; the pool records the
/// part as submitting (durably) and answers `true` on `commit`, while the modem answers with
/// its prompt. The PDU is written at the prompt once that answer came. This makes a crash
/// between the two steps at most lose a part (it is reported uncertain), never send it
/// twice, and keeps the commit's fsync out of the way of the prompt's round trip.
#[derive(Debug)]
pub struct SendPart {
    pub tpdu_len: usize,
    pub hex: String,
    pub started: oneshot::Sender<()>,
    pub commit: oneshot::Receiver<bool>,
    pub reply: oneshot::Sender<SendOutcome>,
}

#[derive(Debug)]
pub enum Request {
    Send(SendPart),
    /// Sweep all storages now.
    Sweep,
}

/// The pool's view of a running driver.
#[derive(Debug, Clone)]
pub struct ModemHandle {
    pub name: String,
    requests: mpsc::Sender<Request>,
    status: watch::Receiver<ModemStatus>,
}

impl ModemHandle {
    pub fn status(&self) -> ModemStatus {
        self.status.borrow().clone()
    }

    /// The modem's state, without copying the rest of its status.
    pub fn state(&self) -> ModemState {
        self.status.borrow().state
    }

    pub fn subscribe(&self) -> watch::Receiver<ModemStatus> {
        self.status.clone()
    }

    /// Queues a part; the outcome arrives on the part's `reply`.
    pub async fn send(&self, part: SendPart) -> Result<(), SendPart> {
        self.requests
            .send(Request::Send(part))
            .await
            .map_err(|e| match e.0 {
                Request::Send(p) => p,
                Request::Sweep => unreachable!("only a send was queued"),
            })
    }

    /// A handle to no driver: its status is what the test sends, its requests go to the
    /// receiver returned.
    #[cfg(test)]
    pub(crate) fn detached(
        name: &str,
    ) -> (
        watch::Sender<ModemStatus>,
        ModemHandle,
        mpsc::Receiver<Request>,
    ) {
        let (status, status_rx) = watch::channel(ModemStatus::new(name, "/dev/null", None));
        let (requests, requests_rx) = mpsc::channel(16);
        let handle = ModemHandle {
            name: name.to_string(),
            requests,
            status: status_rx,
        };
        (status, handle, requests_rx)
    }

    pub async fn sweep(&self) {
        let _ = self.requests.send(Request::Sweep).await;
    }
}

/// Starts the driver task. It runs until `shutdown` becomes `true`.
pub fn spawn(
    config: DriverConfig,
    inbound: mpsc::Sender<InboundDelivery>,
    shutdown: Shutdown,
) -> (ModemHandle, tokio::task::JoinHandle<()>) {
    let (driver, handle) = Driver::new(config, inbound, shutdown);
    (handle, tokio::spawn(driver.run()))
}

/// How a pump over an open port ended.
enum PumpEnd {
    Shutdown,
    /// Reopen after this pause (or the back-off when `None`).
    Reopen(String, Option<Duration>),
}

struct Driver {
    config: DriverConfig,
    inbound: mpsc::Sender<InboundDelivery>,
    requests: mpsc::Receiver<Request>,
    status: watch::Sender<ModemStatus>,
    shutdown: Shutdown,
    /// What outlives a session: the status and whether the PIN was tried.
    carry: Carry,
    /// The current session reached Ready at least once.
    reached_ready: bool,
}

/// The pool's side of a part the session holds.
struct PartChannels {
    started: Option<oneshot::Sender<()>>,
    commit: Option<oneshot::Receiver<bool>>,
    reply: oneshot::Sender<SendOutcome>,
}

/// One answer the pump waits for besides the port.
enum Wake {
    Read(std::io::Result<usize>),
    Request(Option<Request>),
    Commit(u64, bool),
    Inbound(u64, bool),
    Timeout,
    Shutdown,
}

impl Driver {
    /// A driver for `config`, not yet running, and the handle that reaches it.
    fn new(
        config: DriverConfig,
        inbound: mpsc::Sender<InboundDelivery>,
        shutdown: Shutdown,
    ) -> (Driver, ModemHandle) {
        let status = ModemStatus::new(
            &config.name,
            &config.port.display().to_string(),
            config.number.clone(),
        );
        let (status_tx, status_rx) = watch::channel(status.clone());
        let (req_tx, req_rx) = mpsc::channel(16);
        let handle = ModemHandle {
            name: config.name.clone(),
            requests: req_tx,
            status: status_rx,
        };
        let driver = Driver {
            config,
            inbound,
            requests: req_rx,
            status: status_tx,
            shutdown,
            carry: Carry {
                status,
                pin_tried: false,
            },
            reached_ready: false,
        };
        (driver, handle)
    }

    async fn run(mut self) {
        let mut backoff = Backoff::new(
            self.config.timings.reopen_initial,
            self.config.timings.reopen_max,
        );
        loop {
            if self.shutdown.is_shutdown() {
                break;
            }
            let delay = match self.open().await {
                Ok(port) => {
                    self.carry.status.opens += 1;
                    let (end, port) = self.pump(port).await;
                    // Closing a tty waits for its unsent output (`closing_wait`, 30 s by
                    // default) while the modem takes none: closed on the blocking pool.
                    tokio::task::spawn_blocking(move || drop(port));
                    let (why, pause) = match end {
                        PumpEnd::Shutdown => break,
                        PumpEnd::Reopen(reason, pause) => (reason, pause),
                    };
                    tracing::warn!(modem = %self.config.name, reason = %why, "modem session ended; will reopen");
                    self.set_offline(why);
                    // A session that got as far as Ready earns a fresh back-off.
                    if self.reached_ready {
                        backoff.reset();
                    }
                    pause.unwrap_or_else(|| backoff.next_delay())
                }
                Err(message) => {
                    tracing::warn!(modem = %self.config.name, %message, "cannot open port");
                    self.set_offline(message);
                    backoff.next_delay()
                }
            };
            self.fail_queued_sends("modem offline");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.shutdown.recv() => {}
            }
        }
        self.fail_queued_sends("shutting down");
        self.set_offline("stopped".into());
    }

    async fn open(&self) -> Result<tokio_serial::SerialStream, String> {
        use tokio_serial::SerialPortBuilderExt;
        let path = self.config.port.clone();
        let opened = tokio_serial::new(path.display().to_string(), self.config.baud)
            .timeout(Duration::from_secs(1))
            .open_native_async();
        match opened {
            Ok(port) => Ok(port),
            // Naming who holds the port walks /proc: blocking work, off the runtime.
            Err(e) => {
                tokio::task::spawn_blocking(move || super::port::describe_open_error(&path, &e))
                    .await
                    .map_err(|e| format!("cannot open port: {e}"))
                    .and_then(Err)
            }
        }
    }

    /// Sends waiting in the queue while the modem is down go back to the pool for another line.
    fn fail_queued_sends(&mut self, reason: &str) {
        while let Ok(request) = self.requests.try_recv() {
            if let Request::Send(part) = request {
                let _ = part.reply.send(SendOutcome::NotSent {
                    reason: reason.to_string(),
                });
            }
        }
    }

    fn set_offline(&mut self, detail: String) {
        self.carry.status.state = ModemState::Offline;
        self.carry.status.detail = Some(detail);
        self.publish(&self.carry.status.clone());
    }

    fn publish(&self, status: &ModemStatus) {
        self.status.send_if_modified(|s| {
            let changed = s != status;
            if changed {
                *s = status.clone();
            }
            changed
        });
    }

    /// Moves bytes, answers and deadlines between the port and a fresh session until the
    /// port closes, the session ends, or the daemon stops.
    /// The port is given back, to be closed off the runtime.
    async fn pump<T: AsyncRead + AsyncWrite + Unpin>(&mut self, port: T) -> (PumpEnd, T) {
        let (mut reader, mut writer) = tokio::io::split(port);
        let config = SessionConfig {
            name: self.config.name.clone(),
            pin: self.config.pin.clone(),
            timings: self.config.timings.clone(),
        };
        let clock = Clock::new();
        let mut session = Session::new(config, self.carry.clone(), clock.now());
        let mut parts: HashMap<u64, PartChannels> = HashMap::new();
        let mut next_part = 0u64;
        let mut commit_wait: Option<(u64, oneshot::Receiver<bool>)> = None;
        let mut inbound_wait: Option<(u64, std::time::Instant, oneshot::Receiver<bool>)> = None;
        let mut buf = vec![0u8; 4096];
        self.reached_ready = false;
        let end = loop {
            // 1. Write what the session asks: handed to the kernel, never drained. A serial
            // stream keeps no bytes of ours to flush, and its `flush` is `tcdrain`, a blocking
            // wait for the UART to transmit: it would hold a runtime thread for the whole
            // transmission, and for as long as the modem stops taking bytes (a USB modem whose
            // firmware hangs leaves its writes pending). A port that takes no bytes for a
            // command's deadline is treated as closed.
            let mut write_error = None;
            while let Some(bytes) = session.poll_transmit() {
                let limit = self.config.timings.command;
                write_error = match tokio::time::timeout(limit, writer.write_all(&bytes)).await {
                    Ok(Ok(())) => continue,
                    Ok(Err(e)) => Some(e.to_string()),
                    Err(_) => Some(format!(
                        "the port took no bytes for {} ms (the modem is not reading)",
                        limit.as_millis()
                    )),
                };
                break;
            }
            if let Some(reason) = write_error {
                session.port_closed(&reason);
                self.act_on_events(
                    &mut session,
                    &mut parts,
                    &mut commit_wait,
                    &mut inbound_wait,
                )
                .await;
                break PumpEnd::Reopen(format!("port closed: {reason}"), None);
            }
            // 2. Act on its events.
            if let Some(end) = self
                .act_on_events(
                    &mut session,
                    &mut parts,
                    &mut commit_wait,
                    &mut inbound_wait,
                )
                .await
            {
                break end;
            }
            self.carry = session.carry();
            self.reached_ready |= self.carry.status.state == ModemState::Ready;
            self.publish(&self.carry.status.clone());
            // 3. Wait for the next thing to happen.
            let deadline = session.poll_timeout().map(|at| clock.to_tokio(at));
            let wake = tokio::select! {
                r = reader.read(&mut buf) => Wake::Read(r),
                r = self.requests.recv() => Wake::Request(r),
                r = async { (&mut commit_wait.as_mut().expect("guarded").1).await }, if commit_wait.is_some() => {
                    let (id, _) = commit_wait.take().expect("guarded");
                    Wake::Commit(id, r == Ok(true))
                }
                r = async { (&mut inbound_wait.as_mut().expect("guarded").2).await }, if inbound_wait.is_some() => {
                    let (id, since, _) = inbound_wait.take().expect("guarded");
                    let committed = r == Ok(true);
                    if committed {
                        crate::observe::INBOUND_LATENCY.record(clock.now().saturating_duration_since(since));
                    }
                    Wake::Inbound(id, committed)
                }
                _ = sleep_until(deadline) => Wake::Timeout,
                _ = self.shutdown.recv() => Wake::Shutdown,
            };
            let now = clock.now();
            match wake {
                Wake::Read(Ok(0)) => {
                    session.port_closed("end of file");
                    self.act_on_events(
                        &mut session,
                        &mut parts,
                        &mut commit_wait,
                        &mut inbound_wait,
                    )
                    .await;
                    break PumpEnd::Reopen("port closed: end of file".into(), None);
                }
                Wake::Read(Err(e)) => {
                    session.port_closed(&e.to_string());
                    self.act_on_events(
                        &mut session,
                        &mut parts,
                        &mut commit_wait,
                        &mut inbound_wait,
                    )
                    .await;
                    break PumpEnd::Reopen(format!("port closed: {e}"), None);
                }
                Wake::Read(Ok(n)) => session.handle_input(&buf[..n], now),
                Wake::Request(None) | Wake::Shutdown => {
                    // A part whose PDU is written is reported uncertain, never resent.
                    session.port_closed("shutting down");
                    self.act_on_events(
                        &mut session,
                        &mut parts,
                        &mut commit_wait,
                        &mut inbound_wait,
                    )
                    .await;
                    break PumpEnd::Shutdown;
                }
                Wake::Request(Some(Request::Send(part))) => {
                    let id = next_part;
                    next_part += 1;
                    let SendPart {
                        tpdu_len,
                        hex,
                        started,
                        commit,
                        reply,
                    } = part;
                    parts.insert(
                        id,
                        PartChannels {
                            started: Some(started),
                            commit: Some(commit),
                            reply,
                        },
                    );
                    session.send(id, tpdu_len, hex, now);
                }
                Wake::Request(Some(Request::Sweep)) => session.sweep(now),
                Wake::Commit(id, commit) => session.prompt_answer(id, commit, now),
                Wake::Inbound(id, committed) => session.inbound_answer(id, committed, now),
                Wake::Timeout => session.handle_timeout(now),
            }
        };
        self.carry = session.carry();
        (end, reader.unsplit(writer))
    }

    /// Carries out the session's events; `Some` when the session is over.
    async fn act_on_events(
        &mut self,
        session: &mut Session,
        parts: &mut HashMap<u64, PartChannels>,
        commit_wait: &mut Option<(u64, oneshot::Receiver<bool>)>,
        inbound_wait: &mut Option<(u64, std::time::Instant, oneshot::Receiver<bool>)>,
    ) -> Option<PumpEnd> {
        while let Some(event) = session.poll_event() {
            match event {
                Event::Inbound {
                    id,
                    pdu,
                    source,
                    since,
                } => {
                    let (tx, rx) = oneshot::channel();
                    let delivery = InboundDelivery {
                        modem: self.config.name.clone(),
                        pdu,
                        source,
                        committed: tx,
                    };
                    // A pipeline that is gone never answers: the session's commit deadline
                    // then keeps the message on the modem.
                    if self.inbound.send(delivery).await.is_ok() {
                        *inbound_wait = Some((id, since, rx));
                    }
                }
                Event::Submitting { id } => {
                    if let Some(channels) = parts.get_mut(&id) {
                        if let Some(started) = channels.started.take() {
                            let _ = started.send(());
                        }
                        if let Some(commit) = channels.commit.take() {
                            *commit_wait = Some((id, commit));
                        }
                    }
                }
                Event::SendDone { id, outcome } => {
                    if commit_wait
                        .as_ref()
                        .is_some_and(|(waiting, _)| *waiting == id)
                    {
                        *commit_wait = None;
                    }
                    if let Some(channels) = parts.remove(&id) {
                        let _ = channels.reply.send(outcome);
                    }
                }
                Event::StateChanged { state, detail } => {
                    tracing::info!(modem = %self.config.name, state = state.as_str(), detail = detail.as_deref().unwrap_or(""), "modem state");
                }
                Event::End { reason, pause } => return Some(PumpEnd::Reopen(reason, pause)),
            }
        }
        None
    }
}

/// Sleeps until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Maps tokio's clock (which tests may pause) to the `std::time::Instant`s the session uses.
struct Clock {
    origin_tokio: Instant,
    origin_std: std::time::Instant,
}

impl Clock {
    fn new() -> Clock {
        Clock {
            origin_tokio: Instant::now(),
            origin_std: std::time::Instant::now(),
        }
    }

    fn now(&self) -> std::time::Instant {
        self.origin_std + self.origin_tokio.elapsed()
    }

    fn to_tokio(&self, at: std::time::Instant) -> Instant {
        self.origin_tokio + at.saturating_duration_since(self.origin_std)
    }
}

#[cfg(test)]
mod tests {
    //! The pump over ports that misbehave below the AT protocol. Such ports cannot be made
    //! from a pseudo-terminal (a pty drains at once and takes 20 KiB before a write waits), so
    //! these stand in for a modem that stopped taking bytes.
    use super::*;
    use std::pin::Pin;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Context, Poll};

    /// Reads wait for ever; writes are taken (or, with `takes_bytes` false, wait for ever);
    /// a flush never finishes, as `tcdrain` on a UART whose output cannot leave.
    struct HeldPort {
        takes_bytes: bool,
        written: Arc<AtomicUsize>,
    }

    impl AsyncRead for HeldPort {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            _: &mut tokio::io::ReadBuf<'_>,
        ) -> Poll<std::io::Result<()>> {
            Poll::Pending
        }
    }

    impl AsyncWrite for HeldPort {
        fn poll_write(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &[u8],
        ) -> Poll<std::io::Result<usize>> {
            if !self.takes_bytes {
                return Poll::Pending;
            }
            self.written.fetch_add(buf.len(), Ordering::SeqCst);
            Poll::Ready(Ok(buf.len()))
        }

        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Pending
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
            Poll::Pending
        }
    }

    /// A driver with a 50 ms command deadline, and what keeps it running: its handle (the
    /// request sender) and the shutdown switch (dropping either ends the pump).
    fn driver() -> (Driver, ModemHandle, watch::Sender<bool>) {
        let timings = Timings {
            command: Duration::from_millis(50),
            health_every: Duration::from_millis(200),
            ..Timings::default()
        };
        let config = DriverConfig {
            name: "held".into(),
            port: "/dev/ttyS9".into(),
            baud: 115_200,
            number: None,
            pin: None,
            timings,
        };
        let (inbound, _) = mpsc::channel(1);
        let (stop, shutdown) = Shutdown::channel();
        let (driver, handle) = Driver::new(config, inbound, shutdown);
        (driver, handle, stop)
    }

    #[tokio::test]
    async fn a_port_that_never_drains_does_not_hold_the_driver() {
        let (mut driver, _handle, stop) = driver();
        let written = Arc::new(AtomicUsize::new(0));
        let port = HeldPort {
            takes_bytes: true,
            written: written.clone(),
        };
        let pump = tokio::spawn(async move { driver.pump(port).await.0 });
        // Unanswered, the session's first command times out and it writes again: only a
        // driver that does not wait for the drain gets that far.
        let first = loop {
            let now = written.load(Ordering::SeqCst);
            if now > 0 {
                break now;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        let moved_on = tokio::time::timeout(Duration::from_secs(5), async {
            while written.load(Ordering::SeqCst) == first {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert!(
            moved_on.is_ok(),
            "stuck after its first write ({first} bytes)"
        );
        stop.send(true).unwrap();
        let end = tokio::time::timeout(Duration::from_secs(5), pump)
            .await
            .expect("the pump saw the shutdown")
            .unwrap();
        assert!(matches!(end, PumpEnd::Shutdown));
    }

    #[tokio::test]
    async fn a_port_that_takes_no_bytes_is_closed_after_a_command_deadline() {
        let (mut driver, _handle, _stop) = driver();
        let port = HeldPort {
            takes_bytes: false,
            written: Arc::new(AtomicUsize::new(0)),
        };
        let started = std::time::Instant::now();
        let end = tokio::time::timeout(Duration::from_secs(5), driver.pump(port))
            .await
            .expect("the pump gave the port up")
            .0;
        let PumpEnd::Reopen(reason, _) = end else {
            panic!("the pump ended without a reopen");
        };
        assert!(
            reason.contains("the port took no bytes for 50 ms"),
            "{reason}"
        );
        assert!(started.elapsed() >= Duration::from_millis(50));
    }
}
