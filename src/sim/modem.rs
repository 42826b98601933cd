//! One virtual modem at run time: the tokio task that moves bytes between its pty and its
//! [`ModemCore`], and the [`SimModem`] handle tests and demos hold to watch it and to break it.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot, watch, Notify};
use tokio::time::Interval;

use super::config::SimModemConfig;
use super::interpreter::{Effect, Inbound, ModemCore, OutgoingSubmit, SentPdu};
use super::network::NetworkShared;
use super::pty::VirtualPort;
use super::storage::{Memory, MessageStatus, StoredMessage};
use super::SimError;

/// Bytes waiting for a host that does not read are capped here; beyond it new output is
/// dropped, as a modem's UART buffer overflows.
const OUTBOX_LIMIT: usize = 1 << 20;
/// How long a reset waits for the host to read the `OK` before the port goes away.
const RESET_DRAIN_LIMIT: Duration = Duration::from_secs(1);
/// Retry period when a pty cannot be created on re-enumeration.
const REOPEN_RETRY: Duration = Duration::from_secs(1);

/// State shared by a modem's task, its handles and the network.
#[derive(Debug)]
pub(crate) struct ModemShared {
    pub(crate) config: SimModemConfig,
    pub(crate) link: PathBuf,
    core: Mutex<ModemCore>,
    /// Wakes the task after a handle or the network changed the core.
    wake: Notify,
    /// Bumped after every change, for [`SimModem::wait_until`].
    changes: watch::Sender<u64>,
    device: Mutex<Option<PathBuf>>,
}

impl ModemShared {
    pub(crate) fn new(config: SimModemConfig, link: PathBuf, smsc: &str) -> ModemShared {
        let core = ModemCore::new(config.clone(), smsc);
        ModemShared {
            config,
            link,
            core: Mutex::new(core),
            wake: Notify::new(),
            changes: watch::Sender::new(0),
            device: Mutex::new(None),
        }
    }

    fn lock_core(&self) -> MutexGuard<'_, ModemCore> {
        self.core.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs `change` on the core, then lets the task flush whatever it produced.
    pub(crate) fn change<R>(&self, change: impl FnOnce(&mut ModemCore) -> R) -> R {
        let result = change(&mut self.lock_core());
        self.wake.notify_one();
        self.bump();
        result
    }

    fn inspect<R>(&self, look: impl FnOnce(&ModemCore) -> R) -> R {
        look(&self.lock_core())
    }

    fn bump(&self) {
        self.changes
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    /// The network hands over an SMS or a status report.
    pub(crate) fn receive(&self, inbound: Inbound) {
        self.change(|core| core.receive_from_network(inbound, Instant::now()));
    }

    fn set_device(&self, device: Option<PathBuf>) {
        *self.device.lock().unwrap_or_else(PoisonError::into_inner) = device;
    }

    fn device(&self) -> Option<PathBuf> {
        self.device
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Requests only the task can carry out, because it owns the port.
#[derive(Debug)]
pub(crate) enum Control {
    Unplug(oneshot::Sender<()>),
    Replug(oneshot::Sender<io::Result<()>>),
}

/// A handle on one virtual modem. Cheap to clone; all clones drive the same modem.
#[derive(Debug, Clone)]
pub struct SimModem {
    pub(crate) shared: Arc<ModemShared>,
    control: mpsc::UnboundedSender<Control>,
}

impl SimModem {
    pub(crate) fn new(shared: Arc<ModemShared>, control: mpsc::UnboundedSender<Control>) -> Self {
        SimModem { shared, control }
    }

    /// The port path to give the daemon (`<link_dir>/<name>`, a symlink to `/dev/pts/N`).
    pub fn path(&self) -> &Path {
        &self.shared.link
    }

    /// The pty behind [`SimModem::path`] right now; `None` while unplugged.
    pub fn device(&self) -> Option<PathBuf> {
        self.shared.device()
    }

    /// Whether the modem is plugged in.
    pub fn is_plugged(&self) -> bool {
        self.device().is_some()
    }

    /// The SIM's number.
    pub fn number(&self) -> &str {
        &self.shared.config.number
    }

    /// The modem's name (the symlink's file name).
    pub fn name(&self) -> &str {
        &self.shared.config.name
    }

    /// The configuration it was created with.
    pub fn config(&self) -> &SimModemConfig {
        &self.shared.config
    }

    /// Pulls the USB plug: the pty closes (the daemon's reads end with EOF/EIO), the symlink
    /// disappears, and SMS for this modem wait in the network. Returns once that is done.
    pub async fn unplug(&self) {
        let (done, finished) = oneshot::channel();
        if self.control.send(Control::Unplug(done)).is_ok() {
            let _ = finished.await;
        }
    }

    /// Plugs it back: a new pty, the symlink re-pointed, the modem booted (echo on, SIM
    /// locked again if it has a PIN, vendor start-up URCs).
    pub async fn replug(&self) -> io::Result<()> {
        let (done, finished) = oneshot::channel();
        self.control
            .send(Control::Replug(done))
            .map_err(|_| io::Error::new(io::ErrorKind::NotConnected, "simulator stopped"))?;
        finished
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::NotConnected, "simulator stopped"))?
    }

    /// Hangs the firmware (reads and ignores everything, answers nothing) or un-hangs it.
    pub fn set_hang(&self, hung: bool) {
        self.shared
            .change(|core| core.set_hung(hung, Instant::now()));
    }

    /// Hangs the firmware so that only `AT+CFUN=1,1` (a reset) brings it back.
    pub fn hang_until_reset(&self) {
        self.shared
            .change(|core| core.set_hung_until_reset(Instant::now()));
    }

    /// Writes raw bytes to the daemon between two responses.
    pub fn inject_garbage(&self, bytes: &[u8]) {
        self.shared.change(|core| core.inject_garbage(bytes));
    }

    /// The next `count` sends fail with `+CMS ERROR: <code>`.
    pub fn fail_next_sends(&self, count: u32, code: u16) {
        self.shared.change(|core| core.fail_next_sends(count, code));
    }

    /// After `ok` more successful sends, the next one fails with `+CMS ERROR: <code>`.
    pub fn fail_send_after(&self, ok: u32, code: u16) {
        self.shared.change(|core| core.fail_send_after(ok, code));
    }

    /// The next `count` received SMS are stored without a `+CMTI`.
    pub fn drop_next_cmti(&self, count: u32) {
        self.shared.change(|core| core.drop_next_cmti(count));
    }

    /// While on, `AT+CNMA` lines never reach the firmware (see
    /// [`ModemCore::withhold_acks`]): the host's acknowledgement is lost.
    pub fn withhold_acks(&self, withhold: bool) {
        self.shared.change(|core| core.withhold_acks(withhold));
    }

    /// `AT+CNMA` lines lost while [`SimModem::withhold_acks`] was on.
    pub fn acks_withheld(&self) -> u32 {
        self.shared.inspect(ModemCore::acks_withheld)
    }

    /// A `+CMT` is out and waits for its acknowledgement.
    pub fn is_awaiting_ack(&self) -> bool {
        self.shared.inspect(ModemCore::is_awaiting_ack)
    }

    /// Network coverage on or off (`+CREG` stat 1 or 2, with URCs if the host enabled them).
    pub fn set_registered(&self, registered: bool) {
        self.shared
            .change(|core| core.set_registered(registered, Instant::now()));
    }

    /// Signal quality for `AT+CSQ` and Huawei `^RSSI`.
    pub fn set_signal(&self, rssi: u8) {
        self.shared.change(|core| core.set_signal(rssi));
    }

    /// Locks the SIM behind `pin` now (`+CPIN: SIM PIN`) until the host enters it.
    pub fn require_pin(&self, pin: &str) {
        self.shared
            .change(|core| core.require_pin(pin, Instant::now()));
    }

    /// Puts an SMS-DELIVER (hex with SMSC) on the SIM as an unread message, without any URC:
    /// messages that arrived while the daemon was down.
    pub fn preload(&self, pdu_hex: &str) -> Result<u32, SimError> {
        self.preload_in(Memory::Sm, MessageStatus::ReceivedUnread, pdu_hex)
    }

    /// [`SimModem::preload`] into any memory with any status.
    pub fn preload_in(
        &self,
        memory: Memory,
        status: MessageStatus,
        pdu_hex: &str,
    ) -> Result<u32, SimError> {
        if super::tpdu::tpdu_length_of(pdu_hex).is_none() {
            return Err(SimError::InvalidPdu(pdu_hex.to_string()));
        }
        self.shared
            .change(|core| core.preload(memory, status, pdu_hex))
            .map_err(SimError::Storage)
    }

    /// Messages in the modem's memories.
    pub fn stored(&self) -> Vec<StoredMessage> {
        self.shared.inspect(ModemCore::stored)
    }

    /// Command lines received, oldest first (the last 4096).
    pub fn commands(&self) -> Vec<String> {
        self.shared.inspect(ModemCore::commands)
    }

    /// Command lines received since the modem was created.
    pub fn commands_total(&self) -> u64 {
        self.shared.inspect(ModemCore::commands_total)
    }

    /// PDUs this modem sent that the network accepted (the last 4096).
    pub fn sent_pdus(&self) -> Vec<SentPdu> {
        self.shared.inspect(ModemCore::sent_pdus)
    }

    /// SMS and reports the network holds for this modem (unplugged, unregistered, full…).
    pub fn network_backlog(&self) -> usize {
        self.shared.inspect(ModemCore::network_backlog)
    }

    /// Waits until `condition` holds (checked after every change to the modem), at most
    /// `timeout`. Returns whether it held.
    pub async fn wait_until(
        &self,
        timeout: Duration,
        mut condition: impl FnMut(&SimModem) -> bool,
    ) -> bool {
        let mut changes = self.shared.changes.subscribe();
        let waiting = async {
            loop {
                if condition(self) {
                    return;
                }
                if changes.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, waiting).await.is_ok()
    }

    /// Waits until the host sent a command line starting with `prefix` (case-insensitive).
    pub async fn wait_for_command(&self, prefix: &str, timeout: Duration) -> bool {
        let prefix = prefix.to_ascii_uppercase();
        self.wait_until(timeout, |modem| {
            modem
                .commands()
                .iter()
                .any(|line| line.to_ascii_uppercase().starts_with(&prefix))
        })
        .await
    }
}

/// Everything the task keeps between two events.
struct Driver {
    shared: Arc<ModemShared>,
    network: Arc<NetworkShared>,
    port: Option<VirtualPort>,
    outbox: Vec<u8>,
    in_flight: Option<(tokio::time::Instant, OutgoingSubmit)>,
    reset_requested: bool,
    comes_back_at: Option<tokio::time::Instant>,
}

impl Driver {
    /// Moves the core's output to the outbox and its effects to the driver's timers; returns
    /// the core's next deadline.
    fn collect(&mut self) -> Option<tokio::time::Instant> {
        let mut receipts = Vec::new();
        let deadline = self.collect_from_core(&mut receipts);
        // Outside the core's lock: the report goes to another modem's core (maybe this one).
        for receipt in receipts {
            self.network.confirm_delivery(receipt);
        }
        deadline
    }

    fn collect_from_core(&mut self, receipts: &mut Vec<u64>) -> Option<tokio::time::Instant> {
        let mut core = self.shared.lock_core();
        let bytes = core.take_output();
        if self.outbox.len() + bytes.len() <= OUTBOX_LIMIT {
            self.outbox.extend_from_slice(&bytes);
        }
        for effect in core.take_effects() {
            match effect {
                Effect::Submit(submit) => {
                    let due = tokio::time::Instant::now() + self.shared.config.send_latency;
                    self.in_flight = Some((due, submit));
                }
                Effect::Reset => self.reset_requested = true,
                Effect::Delivered(receipt) => receipts.push(receipt),
            }
        }
        core.next_deadline().map(tokio::time::Instant::from_std)
    }

    /// Hands the submit under way to the network and gives the modem its outcome.
    fn route_in_flight(&mut self) {
        if let Some((_, submit)) = self.in_flight.take() {
            let outcome = self.network.route_submit(&self.shared, &submit);
            self.shared
                .lock_core()
                .complete_submit(outcome, Instant::now());
        }
    }

    /// The port is gone (unplug, reset, broken pty): power off and forget what was under way.
    fn power_down(&mut self) {
        self.port = None;
        self.outbox.clear();
        self.in_flight = None;
        self.reset_requested = false;
        self.shared.set_device(None);
        self.shared.lock_core().power_off();
    }

    fn power_up(&mut self) -> io::Result<()> {
        let port = VirtualPort::open(&self.shared.link)?;
        self.shared.set_device(Some(port.device().to_path_buf()));
        self.port = Some(port);
        self.comes_back_at = None;
        self.shared.lock_core().boot(Instant::now());
        Ok(())
    }
}

/// The modem's task: runs until `shutdown` flips (or the network is dropped).
pub(crate) async fn drive(
    shared: Arc<ModemShared>,
    network: Arc<NetworkShared>,
    port: VirtualPort,
    mut control: mpsc::UnboundedReceiver<Control>,
    mut shutdown: crate::shutdown::Shutdown,
) {
    shared.set_device(Some(port.device().to_path_buf()));
    shared.lock_core().boot(Instant::now());
    let mut vendor_chatter = shared.config.vendor_urc_interval.map(|period| {
        let period = period.max(Duration::from_millis(10));
        tokio::time::interval_at(tokio::time::Instant::now() + period, period)
    });
    let mut driver = Driver {
        shared,
        network,
        port: Some(port),
        outbox: Vec::new(),
        in_flight: None,
        reset_requested: false,
        comes_back_at: None,
    };
    let mut buffer = vec![0u8; 4096];
    loop {
        let core_deadline = driver.collect();
        if driver.reset_requested && driver.outbox.is_empty() {
            if let Some(port) = driver.port.take() {
                port.drain(RESET_DRAIN_LIMIT).await;
            }
            driver.power_down();
            driver.comes_back_at =
                Some(tokio::time::Instant::now() + driver.shared.config.reset_delay);
            driver.shared.bump();
            continue;
        }
        let in_flight_due = driver.in_flight.as_ref().map(|(due, _)| *due);
        // A submit already due (zero send latency) goes to the network now: a timer would be
        // rounded up to the next millisecond tick, which API→wire benches would count.
        if in_flight_due.is_some_and(|due| due <= tokio::time::Instant::now()) {
            driver.route_in_flight();
            driver.shared.bump();
            continue;
        }
        tokio::select! {
            _ = shutdown.recv() => break,
            request = control.recv() => match request {
                None => break,
                Some(Control::Unplug(done)) => {
                    driver.power_down();
                    driver.comes_back_at = None;
                    let _ = done.send(());
                }
                Some(Control::Replug(done)) => {
                    let result = if driver.port.is_some() { Ok(()) } else { driver.power_up() };
                    let _ = done.send(result);
                }
            },
            _ = driver.shared.wake.notified() => {}
            result = read_port(driver.port.as_ref(), &mut buffer), if driver.port.is_some() => {
                match result {
                    Ok(count) if count > 0 => {
                        let received = buffer.get(..count).unwrap_or(&[]);
                        driver.shared.lock_core().feed(received, Instant::now());
                    }
                    // The master never reads EOF while the simulator holds a slave: treat
                    // anything else as a dead port.
                    _ => driver.power_down(),
                }
            }
            result = write_port(driver.port.as_ref(), &driver.outbox), if driver.port.is_some() && !driver.outbox.is_empty() => {
                match result {
                    Ok(count) => {
                        driver.outbox.drain(..count.min(driver.outbox.len()));
                    }
                    Err(_) => driver.power_down(),
                }
            }
            _ = sleep_until(in_flight_due), if in_flight_due.is_some() => driver.route_in_flight(),
            _ = sleep_until(core_deadline), if core_deadline.is_some() => {
                driver.shared.lock_core().handle_timeout(Instant::now());
            }
            _ = tick(vendor_chatter.as_mut()), if vendor_chatter.is_some() => {
                driver.shared.lock_core().vendor_tick();
            }
            _ = sleep_until(driver.comes_back_at), if driver.comes_back_at.is_some() => {
                if let Err(error) = driver.power_up() {
                    tracing::warn!(modem = %driver.shared.config.name, %error, "virtual modem could not re-enumerate; retrying");
                    driver.comes_back_at = Some(tokio::time::Instant::now() + REOPEN_RETRY);
                }
            }
        }
        driver.shared.bump();
    }
    driver.shared.set_device(None);
    // Dropping the driver closes the pty and removes the symlink.
}

async fn read_port(port: Option<&VirtualPort>, buffer: &mut [u8]) -> io::Result<usize> {
    match port {
        Some(port) => port.read(buffer).await,
        None => std::future::pending().await,
    }
}

async fn write_port(port: Option<&VirtualPort>, bytes: &[u8]) -> io::Result<usize> {
    match port {
        Some(port) => port.write(bytes).await,
        None => std::future::pending().await,
    }
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

async fn tick(interval: Option<&mut Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}
