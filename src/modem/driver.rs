//! The modem driver task: owns one serial port for its whole life.
//!
//! ```text
//!   open port ──► initialise ──► serve ─┬─► port closed ──► back-off ──► open port
//!      ▲                                ├─► hung: reinitialise (or reset) ──┘
//!      └── back-off ◄── open failed     └─► shutdown
//! ```
//! While serving, the task waits on three things at once: bytes from the modem (URCs), requests
//! from the pool (send one SMS part), and timers (health poll, storage sweep). Commands never
//! overlap: the task runs one, collects its answer, then handles the URCs that came meanwhile.
//!
//! Inbound messages are handed to storage through [`InboundDelivery`] and deleted from the modem
//! only once storage confirms the commit.

use super::channel::{AtChannel, ChannelError, Response, Transport};
use super::recovery::{Backoff, HangAction, HangPolicy};
use super::state::{ModemState, ModemStatus};
use super::vendor::Vendor;
use crate::at::parser::{CmError, FinalResult, Urc};
use crate::at::response;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, watch};

/// Timings of the driver. Defaults suit real modems; tests shorten them.
#[derive(Debug, Clone)]
pub struct Timings {
    /// Deadline of an ordinary command.
    pub command: Duration,
    /// Deadline of one `AT+CMGS` (networks can take tens of seconds).
    pub send: Duration,
    /// How often signal, registration and operator are polled.
    pub health_every: Duration,
    /// How often all storages are swept for messages whose URC was lost.
    pub sweep_every: Duration,
    /// How long storage may take to confirm an inbound commit.
    pub commit: Duration,
    /// First delay before reopening a port; doubles up to `reopen_max`.
    pub reopen_initial: Duration,
    pub reopen_max: Duration,
    /// How long a reset modem is left alone before reopening.
    pub reset_pause: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            command: Duration::from_secs(10),
            send: Duration::from_secs(90),
            health_every: Duration::from_secs(30),
            sweep_every: Duration::from_secs(120),
            commit: Duration::from_secs(15),
            reopen_initial: Duration::from_millis(500),
            reopen_max: Duration::from_secs(30),
            reset_pause: Duration::from_secs(10),
        }
    }
}

/// What the driver needs to know about its modem.
#[derive(Debug, Clone)]
pub struct DriverConfig {
    pub name: String,
    pub port: PathBuf,
    pub baud: u32,
    pub number: Option<String>,
    pub pin: Option<String>,
    pub timings: Timings,
}

/// Where an inbound PDU was found on the modem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundSource {
    /// Stored at `index` in `storage` (announced by `+CMTI`/`+CDSI`, or found by a sweep).
    Stored { storage: String, index: u32 },
    /// Routed directly to us (`+CMT`/`+CDS`).
    Direct,
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

/// How one part's send ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Accepted by the network, with its TP message reference.
    Sent { message_ref: Option<u8> },
    /// Definitely not sent (no prompt, error before the PDU was written, modem not ready,
    /// or the caller declined at the commit point): safe to try again or elsewhere.
    NotSent { reason: String },
    /// The network rejected the part (`+CMS ERROR`) after the PDU was written.
    Rejected { reason: String, permanent: bool },
    /// The PDU was written but no answer came (hung modem or unplug): it may have gone out,
    /// so it must not be sent again.
    Uncertain { reason: String },
}

/// A request to send one part through this modem.
///
/// The driver writes `AT+CMGS=<tpdu_len>`, and when the modem shows its prompt, sends `()` on
/// `at_prompt` and waits on `commit`: the pool records the part as submitted, then answers
/// `true`. Only then is the PDU written. This makes a crash between the two steps at most
/// lose a part, never send it twice.
#[derive(Debug)]
pub struct SendPart {
    pub tpdu_len: usize,
    pub hex: String,
    pub at_prompt: oneshot::Sender<()>,
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

    pub async fn sweep(&self) {
        let _ = self.requests.send(Request::Sweep).await;
    }
}

/// Starts the driver task. It runs until `shutdown` becomes `true`.
pub fn spawn(
    config: DriverConfig,
    inbound: mpsc::Sender<InboundDelivery>,
    shutdown: watch::Receiver<bool>,
) -> (ModemHandle, tokio::task::JoinHandle<()>) {
    let status = ModemStatus::new(
        &config.name,
        &config.port.display().to_string(),
        config.number.clone(),
    );
    let (status_tx, status_rx) = watch::channel(status);
    let (req_tx, req_rx) = mpsc::channel(16);
    let driver = Driver {
        config: config.clone(),
        inbound,
        requests: req_rx,
        status: status_tx,
        shutdown,
        pin_tried: false,
        hang: HangPolicy::default(),
        session: Session::default(),
    };
    let task = tokio::spawn(driver.run());
    (
        ModemHandle {
            name: config.name,
            requests: req_tx,
            status: status_rx,
        },
        task,
    )
}

/// How a session with an open port ended.
enum SessionEnd {
    Shutdown,
    Closed(String),
    Reinitialise(String),
    Reset(String),
}

impl From<ChannelError> for SessionEnd {
    fn from(e: ChannelError) -> Self {
        match e {
            ChannelError::Closed(r) => SessionEnd::Closed(r),
            ChannelError::Timeout { .. } => SessionEnd::Reinitialise(e.to_string()),
        }
    }
}

/// What one session learnt about the modem's set-up.
#[derive(Debug, Default, Clone)]
struct Session {
    vendor: Option<Vendor>,
    /// Storage selected for reading and deleting (`AT+CPMS` mem1).
    read_storage: Option<String>,
    /// Storages to sweep (e.g. SM and ME; MT covers both where offered).
    sweep_storages: Vec<String>,
    /// `+CMT`/`+CDS` must be acknowledged with `AT+CNMA` (`AT+CSMS` service 1).
    ack_direct: bool,
    /// The `AT+CNMI=` setting that was accepted, re-sent when the modem drops it.
    cnmi: Option<String>,
    registered: bool,
}

struct Driver {
    config: DriverConfig,
    inbound: mpsc::Sender<InboundDelivery>,
    requests: mpsc::Receiver<Request>,
    status: watch::Sender<ModemStatus>,
    shutdown: watch::Receiver<bool>,
    /// The configured PIN is entered at most once per daemon life: a wrong PIN retried would
    /// lock the SIM behind its PUK.
    pin_tried: bool,
    hang: HangPolicy,
    session: Session,
}

enum Wake {
    Read(Result<(), ChannelError>),
    Request(Option<Request>),
    Health,
    Sweep,
    Shutdown,
}

impl Driver {
    async fn run(mut self) {
        let mut backoff = Backoff::new(
            self.config.timings.reopen_initial,
            self.config.timings.reopen_max,
        );
        loop {
            if *self.shutdown.borrow() {
                break;
            }
            self.set_state(ModemState::Offline, None);
            let delay = match self.open() {
                Ok(port) => {
                    self.status.send_modify(|s| s.opens += 1);
                    let mut channel = AtChannel::new(port);
                    let end = self.session(&mut channel).await;
                    let (why, pause) = match end {
                        SessionEnd::Shutdown => break,
                        SessionEnd::Closed(reason) => (format!("port closed: {reason}"), None),
                        SessionEnd::Reinitialise(reason) => {
                            (format!("not answering: {reason}"), None)
                        }
                        SessionEnd::Reset(reason) => {
                            let _ = channel.write_raw(b"\x1b").await;
                            let _ = channel.command("AT+CFUN=1,1", Duration::from_secs(2)).await;
                            (
                                format!("reset with AT+CFUN=1,1 after: {reason}"),
                                Some(self.config.timings.reset_pause),
                            )
                        }
                    };
                    tracing::warn!(modem = %self.config.name, reason = %why, "modem session ended; will reopen");
                    self.set_state(ModemState::Offline, Some(why));
                    pause.unwrap_or_else(|| backoff.next_delay())
                }
                Err(message) => {
                    tracing::warn!(modem = %self.config.name, %message, "cannot open port");
                    self.set_state(ModemState::Offline, Some(message));
                    backoff.next_delay()
                }
            };
            // A session that got as far as Ready earns a fresh back-off.
            if self.session.registered {
                backoff.reset();
            }
            self.session = Session::default();
            self.fail_queued_sends("modem offline");
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = self.shutdown.changed() => {}
            }
        }
        self.fail_queued_sends("shutting down");
        self.set_state(ModemState::Offline, Some("stopped".into()));
    }

    fn open(&self) -> Result<tokio_serial::SerialStream, String> {
        use tokio_serial::SerialPortBuilderExt;
        let path = self.config.port.display().to_string();
        tokio_serial::new(&path, self.config.baud)
            .timeout(Duration::from_secs(1))
            .open_native_async()
            .map_err(|e| super::port::describe_open_error(&self.config.port, &e))
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

    fn set_state(&self, state: ModemState, detail: Option<String>) {
        self.status.send_if_modified(|s| {
            let changed = s.state != state || s.detail != detail;
            s.state = state;
            s.detail = detail.clone();
            changed
        });
    }

    async fn session<T: Transport>(&mut self, ch: &mut AtChannel<T>) -> SessionEnd {
        self.set_state(ModemState::Initialising, None);
        match self.initialise(ch).await {
            Ok(()) => {}
            Err(end) => return end,
        }
        self.hang.on_answer();
        if let Err(end) = self.sweep(ch).await {
            return end;
        }
        let timings = self.config.timings.clone();
        let mut health = tokio::time::interval(timings.health_every);
        health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        health.reset();
        let mut sweep = tokio::time::interval(timings.sweep_every);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        sweep.reset();
        loop {
            if let Err(end) = self.handle_urcs(ch).await {
                return end;
            }
            if let Err(e) = ch.settle().await {
                return SessionEnd::from(e);
            }
            let wake = tokio::select! {
                r = ch.read_idle() => Wake::Read(r),
                r = self.requests.recv() => Wake::Request(r),
                _ = health.tick() => Wake::Health,
                _ = sweep.tick() => Wake::Sweep,
                _ = self.shutdown.changed() => Wake::Shutdown,
            };
            let result = match wake {
                Wake::Read(r) => r.map_err(SessionEnd::from),
                Wake::Request(None) | Wake::Shutdown => return SessionEnd::Shutdown,
                Wake::Request(Some(Request::Send(part))) => self.send(ch, part).await,
                Wake::Request(Some(Request::Sweep)) | Wake::Sweep => self.sweep(ch).await,
                Wake::Health => self.poll_health(ch).await,
            };
            if let Err(end) = result {
                return end;
            }
        }
    }

    /// Runs a command; a timeout is judged by the hang policy.
    async fn cmd<T: Transport>(
        &mut self,
        ch: &mut AtChannel<T>,
        command: &str,
    ) -> Result<Response, SessionEnd> {
        self.cmd_with(ch, command, self.config.timings.command)
            .await
    }

    async fn cmd_with<T: Transport>(
        &mut self,
        ch: &mut AtChannel<T>,
        command: &str,
        timeout: Duration,
    ) -> Result<Response, SessionEnd> {
        loop {
            match ch.command(command, timeout).await {
                Ok(r) => {
                    self.hang.on_answer();
                    return Ok(r);
                }
                Err(ChannelError::Closed(r)) => return Err(SessionEnd::Closed(r)),
                Err(e @ ChannelError::Timeout { .. }) => match self.hang.on_timeout() {
                    HangAction::Continue => {
                        tracing::debug!(modem = %self.config.name, error = %e, "timeout; retrying once");
                        continue;
                    }
                    HangAction::Reinitialise => {
                        return Err(SessionEnd::Reinitialise(e.to_string()))
                    }
                    HangAction::Reset => return Err(SessionEnd::Reset(e.to_string())),
                },
            }
        }
    }

    async fn initialise<T: Transport>(&mut self, ch: &mut AtChannel<T>) -> Result<(), SessionEnd> {
        // A prompt left open by a previous life of the daemon would swallow our commands.
        ch.write_raw(b"\x1b").await?;
        // The modem may still be booting: a few short tries before the normal deadline.
        let probe = self.config.timings.command.min(Duration::from_secs(1));
        let mut alive = false;
        for _ in 0..3 {
            match ch.command("AT", probe).await {
                Ok(_) => {
                    alive = true;
                    break;
                }
                Err(ChannelError::Closed(r)) => return Err(SessionEnd::Closed(r)),
                Err(ChannelError::Timeout { .. }) => continue,
            }
        }
        if !alive {
            return match self.hang.on_dead_session() {
                HangAction::Reset => Err(SessionEnd::Reset("no answer to AT".into())),
                _ => Err(SessionEnd::Reinitialise("no answer to AT".into())),
            };
        }
        self.cmd(ch, "ATE0").await?;
        // Numeric errors (CMEE=1) are unambiguous across vendors and languages.
        self.cmd(ch, "AT+CMEE=1").await?;
        self.read_identity(ch).await?;
        let vendor = self.session.vendor.unwrap_or(Vendor::Generic);
        for extra in vendor.extra_init() {
            self.cmd(ch, extra).await?;
        }
        if !self.unlock_sim(ch).await? {
            // Not usable until a human acts; keep the port open and check back periodically.
            return self.wait_for_sim(ch).await;
        }
        self.read_sim_identity(ch).await?;
        let pdu_mode = self.cmd(ch, "AT+CMGF=0").await?;
        if !pdu_mode.is_ok() {
            self.set_state(
                ModemState::Offline,
                Some("modem refuses PDU mode (AT+CMGF=0)".into()),
            );
            return Err(SessionEnd::Reinitialise("AT+CMGF=0 refused".into()));
        }
        self.select_storage(ch).await?;
        self.enable_indications(ch).await?;
        for enable in ["AT+CREG=1", "AT+CGREG=1", "AT+CEREG=1"] {
            // Not every modem has every registration kind; an ERROR is fine.
            self.cmd(ch, enable).await?;
        }
        self.poll_health(ch).await?;
        if self.status.borrow().number.is_none() {
            let r = self.cmd(ch, "AT+CNUM").await?;
            if let Some(number) = response::parse_cnum(&r.lines) {
                self.status.send_modify(|s| s.number = Some(number));
            }
        }
        tracing::info!(modem = %self.config.name, state = self.status.borrow().state.as_str(), "modem initialised");
        Ok(())
    }

    async fn read_identity<T: Transport>(
        &mut self,
        ch: &mut AtChannel<T>,
    ) -> Result<(), SessionEnd> {
        let mut fields: [Option<String>; 4] = Default::default();
        for (slot, command) in fields
            .iter_mut()
            .zip(["AT+CGMI", "AT+CGMM", "AT+CGMR", "AT+CGSN"])
        {
            let r = self.cmd(ch, command).await?;
            if r.is_ok() {
                *slot = response::parse_identity(&r.lines);
            }
        }
        let [manufacturer, model, revision, imei] = fields;
        self.session.vendor = Some(Vendor::from_manufacturer(
            manufacturer.as_deref().unwrap_or(""),
        ));
        self.status.send_modify(|s| {
            s.manufacturer = manufacturer;
            s.model = model;
            s.revision = revision;
            s.imei = imei;
        });
        Ok(())
    }

    async fn read_sim_identity<T: Transport>(
        &mut self,
        ch: &mut AtChannel<T>,
    ) -> Result<(), SessionEnd> {
        let imsi = self.cmd(ch, "AT+CIMI").await?;
        let iccid_command = self
            .session
            .vendor
            .unwrap_or(Vendor::Generic)
            .iccid_command();
        let iccid = self.cmd(ch, iccid_command).await?;
        self.status.send_modify(|s| {
            if imsi.is_ok() {
                s.imsi = response::parse_identity(&imsi.lines);
            }
            if iccid.is_ok() {
                s.iccid = iccid
                    .lines
                    .iter()
                    .find_map(|l| super::vendor::parse_iccid(l));
            }
        });
        Ok(())
    }

    /// Brings the SIM to READY. `Ok(false)` when it needs a human (no SIM, PIN unknown or
    /// rejected, PUK).
    async fn unlock_sim<T: Transport>(
        &mut self,
        ch: &mut AtChannel<T>,
    ) -> Result<bool, SessionEnd> {
        use response::SimState;
        // SIM busy right after boot is common: give it some seconds.
        for _ in 0..10 {
            let r = self.cmd(ch, "AT+CPIN?").await?;
            let state = match &r.result {
                FinalResult::Ok => r.lines.iter().find_map(|l| response::parse_cpin(l)),
                other => response::sim_state_from_final(other),
            };
            match state {
                Some(SimState::Ready) => return Ok(true),
                Some(SimState::PinRequired) => {
                    let Some(pin) = self.config.pin.clone() else {
                        self.set_state(
                            ModemState::PinRequired,
                            Some("SIM asks for a PIN; set pin in the modem's config".into()),
                        );
                        return Ok(false);
                    };
                    if self.pin_tried {
                        self.set_state(
                            ModemState::PinRequired,
                            Some(
                                "the configured PIN was rejected; not retrying to avoid a PUK lock"
                                    .into(),
                            ),
                        );
                        return Ok(false);
                    }
                    self.pin_tried = true;
                    let Ok(command) = crate::at::command::cpin(&pin) else {
                        self.set_state(
                            ModemState::PinRequired,
                            Some("the configured PIN is not 4 to 8 digits".into()),
                        );
                        return Ok(false);
                    };
                    let entered = self.cmd(ch, &command).await?;
                    if !entered.is_ok() {
                        tracing::error!(modem = %self.config.name, "SIM rejected the configured PIN");
                        self.set_state(
                            ModemState::PinRequired,
                            Some(
                                "the configured PIN was rejected; not retrying to avoid a PUK lock"
                                    .into(),
                            ),
                        );
                        return Ok(false);
                    }
                    // The SIM takes a moment after the PIN; loop to confirm READY.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Some(SimState::PukRequired) => {
                    self.set_state(ModemState::PukRequired, Some("SIM is PUK-locked".into()));
                    return Ok(false);
                }
                Some(SimState::NotInserted) => {
                    self.set_state(ModemState::NoSim, Some("no SIM inserted".into()));
                    return Ok(false);
                }
                Some(SimState::Busy) | None => {
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
                Some(other) => {
                    self.set_state(
                        ModemState::NoSim,
                        Some(format!("SIM not usable: {other:?}")),
                    );
                    return Ok(false);
                }
            }
        }
        self.set_state(ModemState::NoSim, Some("SIM stayed busy".into()));
        Ok(false)
    }

    /// Parks a modem whose SIM needs attention: answers sends with NotSent, re-checks the SIM
    /// at each health tick, and reinitialises once it is usable.
    async fn wait_for_sim<T: Transport>(
        &mut self,
        ch: &mut AtChannel<T>,
    ) -> Result<(), SessionEnd> {
        let mut tick = tokio::time::interval(self.config.timings.health_every);
        tick.reset();
        loop {
            let wake = tokio::select! {
                r = ch.read_idle() => Wake::Read(r),
                r = self.requests.recv() => Wake::Request(r),
                _ = tick.tick() => Wake::Health,
                _ = self.shutdown.changed() => Wake::Shutdown,
            };
            match wake {
                Wake::Read(r) => {
                    r?;
                    while ch.take_urc().is_some() {}
                }
                Wake::Request(None) | Wake::Shutdown => return Err(SessionEnd::Shutdown),
                Wake::Request(Some(Request::Send(part))) => {
                    let detail = self.status.borrow().detail.clone().unwrap_or_default();
                    let _ = part.reply.send(SendOutcome::NotSent { reason: detail });
                }
                Wake::Request(Some(Request::Sweep)) | Wake::Sweep => {}
                Wake::Health => {
                    let r = self.cmd(ch, "AT+CPIN?").await?;
                    let ready = r.is_ok()
                        && r.lines.iter().find_map(|l| response::parse_cpin(l))
                            == Some(response::SimState::Ready);
                    if ready {
                        return Err(SessionEnd::Reinitialise("SIM became ready".into()));
                    }
                }
            }
        }
    }

    async fn select_storage<T: Transport>(
        &mut self,
        ch: &mut AtChannel<T>,
    ) -> Result<(), SessionEnd> {
        let r = self.cmd(ch, "AT+CPMS=?").await?;
        let offered = r
            .line_with("+CPMS:")
            .and_then(response::parse_cpms_test)
            .map(|support| support.mem1)
            .unwrap_or_default();
        let has = |s: &str| offered.iter().any(|o| o.eq_ignore_ascii_case(s));
        let primary = if has("SM") || offered.is_empty() {
            "SM"
        } else if has("ME") {
            "ME"
        } else {
            "MT"
        };
        let set = self
            .cmd(
                ch,
                &format!("AT+CPMS=\"{primary}\",\"{primary}\",\"{primary}\""),
            )
            .await?;
        if !set.is_ok() {
            // Some modems only take mem1.
            self.cmd(ch, &format!("AT+CPMS=\"{primary}\"")).await?;
        }
        self.session.read_storage = Some(primary.to_string());
        self.session.sweep_storages = if has("MT") {
            vec!["MT".into()]
        } else {
            ["SM", "ME"]
                .iter()
                .filter(|s| has(s) || (offered.is_empty() && **s == "SM"))
                .map(|s| s.to_string())
                .collect()
        };
        if has("SR") {
            self.session.sweep_storages.push("SR".into());
        }
        Ok(())
    }

    /// `AT+CNMI` probed from `AT+CNMI=?` with a fallback chain, so new messages are announced.
    async fn enable_indications<T: Transport>(
        &mut self,
        ch: &mut AtChannel<T>,
    ) -> Result<(), SessionEnd> {
        let csms = self.cmd(ch, "AT+CSMS?").await?;
        self.session.ack_direct = csms
            .line_with("+CSMS:")
            .map(|l| l.trim_start_matches("+CSMS:").trim().starts_with('1'))
            .unwrap_or(false);
        let test = self.cmd(ch, "AT+CNMI=?").await?;
        let chain = test
            .line_with("+CNMI:")
            .and_then(response::parse_cnmi_test)
            .map(|support| response::choose_cnmi(&support))
            .unwrap_or_default();
        let fallbacks = [
            "AT+CNMI=2,1,0,2,0",
            "AT+CNMI=2,1,0,1,0",
            "AT+CNMI=1,1,0,2,0",
            "AT+CNMI=1,1,0,0,0",
            "AT+CNMI=2,1",
        ];
        let candidates = chain
            .into_iter()
            .chain(fallbacks.iter().map(|s| s.to_string()));
        for candidate in candidates {
            if self.cmd(ch, &candidate).await?.is_ok() {
                tracing::debug!(modem = %self.config.name, cnmi = %candidate, "new-message indications on");
                self.session.cnmi = Some(candidate);
                return Ok(());
            }
        }
        tracing::warn!(modem = %self.config.name, "no AT+CNMI setting accepted; relying on the periodic sweep");
        Ok(())
    }

    async fn poll_health<T: Transport>(&mut self, ch: &mut AtChannel<T>) -> Result<(), SessionEnd> {
        let csq = self.cmd(ch, "AT+CSQ").await?;
        if let Some((rssi, _)) = csq.line_with("+CSQ:").and_then(response::parse_csq) {
            self.status.send_modify(|s| s.set_signal(rssi));
        }
        let mut best: Option<response::RegStatus> = None;
        for query in ["AT+CREG?", "AT+CGREG?", "AT+CEREG?"] {
            let r = self.cmd(ch, query).await?;
            if !r.is_ok() {
                continue;
            }
            for line in &r.lines {
                if let Some(reg) = response::parse_registration(line, true) {
                    if best.map(|b| !b.is_registered()).unwrap_or(true) {
                        best = Some(reg.status);
                    }
                }
            }
        }
        if let Some(status) = best {
            self.apply_registration(status);
        }
        if self.session.registered {
            let cops = self.cmd(ch, "AT+COPS?").await?;
            if let Some(op) = cops.line_with("+COPS:").and_then(response::parse_cops) {
                self.status.send_modify(|s| s.operator = Some(op));
            }
        }
        Ok(())
    }

    fn apply_registration(&mut self, status: response::RegStatus) {
        self.session.registered = status.is_registered();
        self.status
            .send_modify(|s| s.registration = Some(reg_words(status).to_string()));
        if self.session.registered {
            self.set_state(ModemState::Ready, None);
        } else {
            self.set_state(
                ModemState::NotRegistered,
                Some(format!("network registration: {}", reg_words(status))),
            );
        }
    }

    async fn handle_urcs<T: Transport>(&mut self, ch: &mut AtChannel<T>) -> Result<(), SessionEnd> {
        while let Some(urc) = ch.take_urc() {
            match urc {
                Urc::Cmti { storage, index } | Urc::Cdsi { storage, index } => {
                    self.read_stored(ch, &storage, index).await?;
                }
                Urc::Cmt { pdu, .. } | Urc::Cds { pdu, .. } => {
                    let committed = self.hand_over(pdu, InboundSource::Direct).await;
                    if self.session.ack_direct && committed {
                        self.cmd(ch, "AT+CNMA").await?;
                    }
                }
                Urc::Registration(reg) => self.apply_registration(reg.status),
                Urc::HuaweiRssi(rssi) => self.status.send_modify(|s| s.set_signal(rssi)),
                Urc::CmsError(e) => {
                    // nRF91 drops its SMS client registration with +CMS ERROR: 524.
                    tracing::warn!(modem = %self.config.name, error = ?e, "unsolicited +CMS ERROR; re-enabling indications");
                    if let Some(cnmi) = self.session.cnmi.clone() {
                        self.cmd(ch, &cnmi).await?;
                    }
                }
                other => tracing::trace!(modem = %self.config.name, urc = ?other, "URC ignored"),
            }
        }
        Ok(())
    }

    /// Reads one stored message, hands it over, deletes it once committed.
    async fn read_stored<T: Transport>(
        &mut self,
        ch: &mut AtChannel<T>,
        storage: &str,
        index: u32,
    ) -> Result<(), SessionEnd> {
        let since = tokio::time::Instant::now();
        self.use_storage(ch, storage).await?;
        let r = self.cmd(ch, &format!("AT+CMGR={index}")).await?;
        if !r.is_ok() {
            return Ok(());
        }
        let Some(stored) = response::parse_cmgr(&r.lines) else {
            return Ok(());
        };
        if stored.stat.is_some_and(|s| s >= 2) {
            return Ok(()); // an outgoing message kept on the SIM: not ours to take
        }
        let source = InboundSource::Stored {
            storage: storage.to_string(),
            index,
        };
        if self.hand_over_since(stored.pdu, source, since).await {
            self.cmd(ch, &format!("AT+CMGD={index}")).await?;
        }
        Ok(())
    }

    async fn use_storage<T: Transport>(
        &mut self,
        ch: &mut AtChannel<T>,
        storage: &str,
    ) -> Result<(), SessionEnd> {
        if self.session.read_storage.as_deref() != Some(storage) {
            let r = self.cmd(ch, &format!("AT+CPMS=\"{storage}\"")).await?;
            if r.is_ok() {
                self.session.read_storage = Some(storage.to_string());
            }
        }
        Ok(())
    }

    /// Lists every storage and hands over what is there: messages that arrived while the daemon
    /// was down, or whose `+CMTI` was lost.
    async fn sweep<T: Transport>(&mut self, ch: &mut AtChannel<T>) -> Result<(), SessionEnd> {
        let storages = self.session.sweep_storages.clone();
        for storage in &storages {
            self.use_storage(ch, storage).await?;
            let r = self.cmd(ch, "AT+CMGL=4").await?;
            if !r.is_ok() {
                continue;
            }
            for stored in response::parse_cmgl(&r.lines) {
                if stored.stat.is_some_and(|s| s >= 2) {
                    continue;
                }
                let Some(index) = stored.index else { continue };
                let source = InboundSource::Stored {
                    storage: storage.clone(),
                    index,
                };
                if self.hand_over(stored.pdu, source).await {
                    self.cmd(ch, &format!("AT+CMGD={index}")).await?;
                }
            }
        }
        if let Some(first) = storages.first() {
            if storages.len() > 1 {
                self.use_storage(ch, first).await?;
            }
        }
        Ok(())
    }

    /// Gives a PDU to storage and waits for its commit. `false`: keep it on the modem.
    async fn hand_over(&mut self, pdu: String, source: InboundSource) -> bool {
        self.hand_over_since(pdu, source, tokio::time::Instant::now())
            .await
    }

    /// [`Self::hand_over`], recording the inbound latency from `since` (when the driver learnt
    /// of the message) to the commit.
    async fn hand_over_since(
        &mut self,
        pdu: String,
        source: InboundSource,
        since: tokio::time::Instant,
    ) -> bool {
        let (tx, rx) = oneshot::channel();
        let delivery = InboundDelivery {
            modem: self.config.name.clone(),
            pdu,
            source,
            committed: tx,
        };
        if self.inbound.send(delivery).await.is_err() {
            return false;
        }
        let committed = matches!(
            tokio::time::timeout(self.config.timings.commit, rx).await,
            Ok(Ok(true))
        );
        if committed {
            crate::observe::INBOUND_LATENCY.record(since.elapsed());
            self.status.send_modify(|s| s.received += 1);
        }
        committed
    }

    async fn send<T: Transport>(
        &mut self,
        ch: &mut AtChannel<T>,
        part: SendPart,
    ) -> Result<(), SessionEnd> {
        let SendPart {
            tpdu_len,
            hex,
            at_prompt,
            commit,
            reply,
        } = part;
        if !self.status.borrow().state.can_send() {
            let state = self.status.borrow().state.as_str();
            let _ = reply.send(SendOutcome::NotSent {
                reason: format!("modem is {state}"),
            });
            return Ok(());
        }
        let commit_wait = self.config.timings.commit;
        let mut committed = false;
        let result = ch
            .send_pdu(tpdu_len, &hex, self.config.timings.send, || async {
                let _ = at_prompt.send(());
                committed = matches!(
                    tokio::time::timeout(commit_wait, commit).await,
                    Ok(Ok(true))
                );
                committed
            })
            .await;
        let (outcome, end) = match result {
            Ok(None) => (
                SendOutcome::NotSent {
                    reason: "declined at the commit point".into(),
                },
                None,
            ),
            Ok(Some(response)) => {
                self.hang.on_answer();
                let outcome = match &response.result {
                    FinalResult::Ok => SendOutcome::Sent {
                        message_ref: response.line_with("+CMGS:").and_then(response::parse_cmgs),
                    },
                    FinalResult::CmsError(e) if committed => SendOutcome::Rejected {
                        reason: format!("+CMS ERROR: {}", describe(e)),
                        permanent: is_permanent_cms(e),
                    },
                    other => SendOutcome::NotSent {
                        reason: format!("{other:?}"),
                    },
                };
                (outcome, None)
            }
            Err(e) => {
                let reason = e.to_string();
                let outcome = if committed {
                    SendOutcome::Uncertain {
                        reason: reason.clone(),
                    }
                } else {
                    SendOutcome::NotSent {
                        reason: reason.clone(),
                    }
                };
                let end = match e {
                    ChannelError::Closed(r) => SessionEnd::Closed(r),
                    ChannelError::Timeout { .. } => match self.hang.on_timeout() {
                        HangAction::Reset => SessionEnd::Reset(reason),
                        // A send that timed out is a strong sign: reopen rather than carry on.
                        _ => SessionEnd::Reinitialise(reason),
                    },
                };
                (outcome, Some(end))
            }
        };
        self.status.send_modify(|s| match outcome {
            SendOutcome::Sent { .. } => s.sent_parts += 1,
            _ => s.send_failures += 1,
        });
        let _ = reply.send(outcome);
        match end {
            Some(end) => Err(end),
            None => Ok(()),
        }
    }
}

fn describe(e: &CmError) -> String {
    match e {
        CmError::Code(c) => c.to_string(),
        CmError::Text(t) => t.clone(),
    }
}

/// 3GPP TS 27.005 §3.2.5 / TS 24.011: codes that will fail again on any modem for this message
/// (bad destination, barred, invalid PDU), as opposed to network or modem trouble.
fn is_permanent_cms(e: &CmError) -> bool {
    match e {
        CmError::Code(code) => matches!(code, 1 | 8 | 10 | 21 | 29 | 50 | 96 | 111 | 304 | 305),
        CmError::Text(t) => {
            let t = t.to_ascii_lowercase();
            t.contains("unassigned") || t.contains("barred") || t.contains("invalid pdu")
        }
    }
}

/// Registration status in the words shown to operators.
fn reg_words(status: response::RegStatus) -> &'static str {
    use response::RegStatus::*;
    match status {
        NotRegistered => "not registered",
        Home | HomeSmsOnly | HomeCsfbNotPreferred => "home",
        Searching => "searching",
        Denied => "denied",
        Unknown => "unknown",
        Roaming | RoamingSmsOnly | RoamingCsfbNotPreferred => "roaming",
        EmergencyOnly => "emergency only",
    }
}
