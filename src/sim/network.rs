//! The virtual network: joins the virtual modems, turns their SMS-SUBMITs into SMS-DELIVERs for
//! the recipient, sends status reports back, and keeps everything addressed to numbers outside
//! the simulator in the [`World`], from which tests and demos can also answer.

use std::collections::{HashMap, HashSet};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime};

use rand::seq::SliceRandom;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::codec::{self, DeliverOptions, Pdu, Timestamp};

use super::config::SimModemConfig;
use super::interpreter::{Inbound, OutgoingSubmit, SubmitOutcome};
use super::modem::{drive, ModemShared, SimModem};
use super::pty::VirtualPort;
use super::tpdu;
use super::SimError;

/// Settings of the whole network.
#[derive(Debug, Clone)]
pub struct NetworkConfig {
    /// The SMSC number every modem reports in `AT+CSCA?` and that prefixes delivered PDUs.
    pub smsc: String,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            smsc: "+15550009999".to_string(),
        }
    }
}

/// In which order the parts of a multipart message reach the recipient modem.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PartOrder {
    /// 1, 2, 3…
    #[default]
    InOrder,
    /// Last part first.
    Reversed,
    /// A random order.
    Shuffled,
}

/// Options of [`Network::send_from_world_with`].
#[derive(Debug, Clone, Default)]
pub struct WorldSendOptions {
    /// Delivery order of the parts.
    pub order: PartOrder,
    /// Use a 16-bit concatenation reference.
    pub concat_16bit: bool,
}

/// The state shared by the network's handles and the modem tasks.
#[derive(Debug)]
pub(crate) struct NetworkShared {
    config: NetworkConfig,
    modems: Mutex<Vec<SimModem>>,
    world: World,
    next_concat_ref: AtomicU16,
    next_receipt: AtomicU64,
    pending_reports: Mutex<HashMap<u64, PendingReport>>,
}

impl NetworkShared {
    fn modems(&self) -> MutexGuard<'_, Vec<SimModem>> {
        self.modems.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn find_modem(&self, number: &str) -> Option<SimModem> {
        let wanted = number_key(number);
        if wanted.is_empty() {
            return None;
        }
        self.modems()
            .iter()
            .find(|modem| number_key(modem.number()) == wanted)
            .cloned()
    }

    /// What the network does with one SUBMIT part: deliver it to the modem that has the
    /// number, else keep it in the world. If TP-SRR asked for a status report, the world
    /// "delivers" at once; a virtual recipient only once its modem has taken the message
    /// (see [`NetworkShared::confirm_delivery`]).
    pub(crate) fn route_submit(
        &self,
        sender: &Arc<ModemShared>,
        submit: &OutgoingSubmit,
    ) -> SubmitOutcome {
        let arrival = time::OffsetDateTime::now_utc();
        let recipient = submit.layout.destination_number();
        let report = PendingReport {
            sender: Arc::clone(sender),
            message_ref: submit.message_ref,
            recipient: recipient.clone(),
            submitted: arrival,
        };
        let wants_report = submit.layout.status_report_requested();
        match self.find_modem(&recipient) {
            Some(target) => {
                let pdu_hex = tpdu::deliver_from_submit(
                    &submit.layout,
                    &sender.config.number,
                    &self.config.smsc,
                    arrival,
                );
                let receipt = wants_report.then(|| {
                    let receipt = self.next_receipt.fetch_add(1, Ordering::Relaxed);
                    self.pending_reports().insert(receipt, report.clone());
                    receipt
                });
                target.shared.receive(Inbound::Deliver { pdu_hex, receipt });
            }
            None => {
                self.world
                    .record_part(&sender.config.number, &recipient, submit);
                if wants_report {
                    self.send_report(&report);
                }
            }
        }
        SubmitOutcome::Accepted
    }

    fn pending_reports(&self) -> MutexGuard<'_, HashMap<u64, PendingReport>> {
        self.pending_reports
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A recipient modem took the message that carried `receipt`: report it delivered.
    pub(crate) fn confirm_delivery(&self, receipt: u64) {
        let pending = self.pending_reports().remove(&receipt);
        if let Some(report) = pending {
            self.send_report(&report);
        }
    }

    fn send_report(&self, report: &PendingReport) {
        let submitted = Timestamp::from_offset_datetime(report.submitted);
        let discharged = Timestamp::from_offset_datetime(time::OffsetDateTime::now_utc());
        let pdu_hex = codec::encode_status_report(
            report.message_ref,
            &report.recipient,
            &submitted,
            &discharged,
            0,
            Some(&self.config.smsc),
        );
        report.sender.receive(Inbound::StatusReport { pdu_hex });
    }
}

/// A status report owed to a sender once its message reaches a virtual recipient.
#[derive(Debug, Clone)]
struct PendingReport {
    sender: Arc<ModemShared>,
    message_ref: u8,
    recipient: String,
    submitted: time::OffsetDateTime,
}

/// Compares numbers by their digits only, so `+1 555 000 0001` and `+15550000001` match.
fn number_key(number: &str) -> String {
    number.chars().filter(char::is_ascii_digit).collect()
}

/// `number_key(number) == key`, without building the key.
fn same_digits(number: &str, key: &str) -> bool {
    number.chars().filter(char::is_ascii_digit).eq(key.chars())
}

/// Owns the modem tasks; dropping the last [`Network`] clone stops them.
#[derive(Debug)]
struct NetworkOwner {
    shared: Arc<NetworkShared>,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for NetworkOwner {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        for task in self
            .tasks
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
        {
            task.abort();
        }
    }
}

/// A network of virtual modems. Clones share it; it shuts down (every modem task stopped,
/// every pty closed, every symlink removed) when [`Network::shutdown`] is awaited or the last
/// clone is dropped.
#[derive(Debug, Clone)]
pub struct Network {
    owner: Arc<NetworkOwner>,
}

impl Default for Network {
    fn default() -> Self {
        Network::new()
    }
}

impl Network {
    /// A network with the default SMSC and no modems.
    pub fn new() -> Network {
        Network::with_config(NetworkConfig::default())
    }

    /// A network with explicit settings.
    pub fn with_config(config: NetworkConfig) -> Network {
        let (shutdown, _) = watch::channel(false);
        let shared = Arc::new(NetworkShared {
            config,
            modems: Mutex::new(Vec::new()),
            world: World::default(),
            next_concat_ref: AtomicU16::new(1),
            next_receipt: AtomicU64::new(1),
            pending_reports: Mutex::new(HashMap::new()),
        });
        Network {
            owner: Arc::new(NetworkOwner {
                shared,
                shutdown,
                tasks: Mutex::new(Vec::new()),
            }),
        }
    }

    fn shared(&self) -> &Arc<NetworkShared> {
        &self.owner.shared
    }

    /// Creates a modem whose port appears as `<link_dir>/<config.name>` and starts its task.
    /// Must be called inside a tokio runtime.
    pub async fn add_modem(
        &self,
        config: SimModemConfig,
        link_dir: impl AsRef<Path>,
    ) -> io::Result<SimModem> {
        let invalid = |message: String| io::Error::new(io::ErrorKind::InvalidInput, message);
        if config.name.is_empty() || config.name.contains('/') || config.name.starts_with('.') {
            return Err(invalid(format!("invalid modem name {:?}", config.name)));
        }
        {
            let modems = self.shared().modems();
            if modems.iter().any(|modem| modem.name() == config.name) {
                return Err(invalid(format!("a modem is already named {}", config.name)));
            }
            let key = number_key(&config.number);
            if !key.is_empty() && modems.iter().any(|modem| number_key(modem.number()) == key) {
                return Err(invalid(format!(
                    "number {} is already in use",
                    config.number
                )));
            }
        }
        let link = link_dir.as_ref().join(&config.name);
        let port = VirtualPort::open(&link)?;
        let shared = Arc::new(ModemShared::new(config, link, &self.shared().config.smsc));
        let (control_sender, control_receiver) = mpsc::unbounded_channel();
        let modem = SimModem::new(Arc::clone(&shared), control_sender);
        let task = tokio::spawn(drive(
            shared,
            Arc::clone(self.shared()),
            port,
            control_receiver,
            crate::shutdown::Shutdown::new(self.owner.shutdown.subscribe()),
        ));
        self.owner
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(task);
        self.shared().modems().push(modem.clone());
        Ok(modem)
    }

    /// Adds `count` modems named `sim1`…`simN` with numbers `+15550000001`… (see
    /// [`SimModemConfig::numbered`]), as `simgate run --simulate N` does.
    pub async fn add_numbered_modems(
        &self,
        count: u32,
        link_dir: impl AsRef<Path>,
    ) -> io::Result<Vec<SimModem>> {
        let mut modems = Vec::new();
        for index in 1..=count {
            modems.push(
                self.add_modem(SimModemConfig::numbered(index), link_dir.as_ref())
                    .await?,
            );
        }
        Ok(modems)
    }

    /// All modems, in creation order.
    pub fn modems(&self) -> Vec<SimModem> {
        self.shared().modems().clone()
    }

    /// The modem with this number (digits compared) or this name.
    pub fn modem(&self, number_or_name: &str) -> Option<SimModem> {
        self.shared().find_modem(number_or_name).or_else(|| {
            self.shared()
                .modems()
                .iter()
                .find(|modem| modem.name() == number_or_name)
                .cloned()
        })
    }

    /// Everything sent to numbers outside the simulator.
    pub fn world(&self) -> World {
        self.shared().world.clone()
    }

    /// The SMSC number.
    pub fn smsc(&self) -> &str {
        &self.shared().config.smsc
    }

    /// Someone outside (`from`: a number or an alphanumeric name) texts the modem whose
    /// number is `to`: the text is encoded as a real SMSC would (GSM-7 or UCS-2, split into
    /// concatenated parts) and delivered part by part. Returns the number of parts.
    pub fn send_from_world(&self, from: &str, to: &str, text: &str) -> Result<usize, SimError> {
        self.send_from_world_with(from, to, text, &WorldSendOptions::default())
    }

    /// [`Network::send_from_world`] with a part order and reference width.
    pub fn send_from_world_with(
        &self,
        from: &str,
        to: &str,
        text: &str,
        options: &WorldSendOptions,
    ) -> Result<usize, SimError> {
        let target = self
            .shared()
            .find_modem(to)
            .ok_or_else(|| SimError::UnknownNumber(to.to_string()))?;
        let mut parts = self.encode_from_world(from, text, options.concat_16bit);
        match options.order {
            PartOrder::InOrder => {}
            PartOrder::Reversed => parts.reverse(),
            PartOrder::Shuffled => parts.shuffle(&mut rand::rng()),
        }
        let count = parts.len();
        for pdu_hex in parts {
            target.shared.receive(Inbound::deliver(pdu_hex));
        }
        Ok(count)
    }

    /// The SMS-DELIVER PDUs (hex with SMSC field) this network's SMSC makes of a text from
    /// `from`, stamped now, with a fresh concatenation reference: what
    /// [`Network::send_from_world`] delivers, for tests that replay them with
    /// [`Network::inject_pdu`].
    pub fn encode_from_world(&self, from: &str, text: &str, concat_16bit: bool) -> Vec<String> {
        let concat_ref = self
            .shared()
            .next_concat_ref
            .fetch_add(1, Ordering::Relaxed);
        let stamp = Timestamp::from_offset_datetime(time::OffsetDateTime::now_utc());
        codec::encode_deliver(
            from,
            text,
            &stamp,
            &DeliverOptions {
                smsc: Some(self.smsc().to_string()),
                concat_ref,
                concat_16bit,
            },
        )
    }

    /// Hands a raw PDU (hex with SMSC field) to the modem whose number is `to`, as is: an
    /// SMS-DELIVER is received as an SMS, an SMS-STATUS-REPORT as a report. For replays,
    /// duplicates and malformed-but-framed PDUs.
    pub fn inject_pdu(&self, to: &str, pdu_hex: &str) -> Result<(), SimError> {
        let target = self
            .shared()
            .find_modem(to)
            .ok_or_else(|| SimError::UnknownNumber(to.to_string()))?;
        let octets =
            hex::decode(pdu_hex.trim()).map_err(|_| SimError::InvalidPdu(pdu_hex.to_string()))?;
        let smsc_len = usize::from(
            *octets
                .first()
                .ok_or_else(|| SimError::InvalidPdu(pdu_hex.to_string()))?,
        );
        let first_octet = *octets
            .get(1 + smsc_len)
            .ok_or_else(|| SimError::InvalidPdu(pdu_hex.to_string()))?;
        let pdu_hex = pdu_hex.trim().to_ascii_uppercase();
        let inbound = match first_octet & 0x03 {
            0x02 => Inbound::StatusReport { pdu_hex },
            _ => Inbound::deliver(pdu_hex),
        };
        target.shared.receive(inbound);
        Ok(())
    }

    /// Puts an SMS-DELIVER on `modem`'s SIM before the daemon starts (no URC).
    pub fn preload(&self, modem: &SimModem, pdu_hex: &str) -> Result<u32, SimError> {
        modem.preload(pdu_hex)
    }

    /// Stops every modem task and waits for them: ptys closed, symlinks removed.
    pub async fn shutdown(&self) {
        let _ = self.owner.shutdown.send(true);
        let tasks: Vec<JoinHandle<()>> = self
            .owner
            .tasks
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .drain(..)
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    }
}

/// One SMS-SUBMIT part that left the simulator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldPart {
    /// Sender modem's number.
    pub from: String,
    /// Destination from TP-DA.
    pub to: String,
    /// TP-MR the modem assigned.
    pub message_ref: u8,
    /// The PDU as sent (SMSC field first).
    pub pdu_hex: String,
    /// Text of this part (empty for 8-bit data or an undecodable part).
    pub text: String,
    /// Concatenation header, if any.
    pub concat: Option<codec::Concat>,
    /// TP-SRR.
    pub status_report_requested: bool,
}

/// A complete message that left the simulator (all its parts arrived).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldMessage {
    /// Arrival order in the world, from 1.
    pub id: u64,
    /// Sender modem's number.
    pub from: String,
    /// Destination number.
    pub to: String,
    /// The parts' texts joined in sequence order.
    pub text: String,
    /// How many parts it had.
    pub parts: usize,
    /// The PDUs in sequence order.
    pub pdus: Vec<String>,
    /// The TP-MRs in sequence order.
    pub message_refs: Vec<u8>,
    /// Whether any part asked for a status report.
    pub status_report_requested: bool,
    /// When the last part arrived.
    pub received_at: SystemTime,
}

type PendingKey = (String, String, u16, u8);

#[derive(Debug, Default)]
struct WorldState {
    messages: Vec<WorldMessage>,
    parts: Vec<WorldPart>,
    pending: HashMap<PendingKey, Vec<WorldPart>>,
    handed_out: HashSet<u64>,
    /// Every message before this index was handed out: waits look from here on, so that a
    /// long run's history does not slow each wait (and, under the same lock, each delivery).
    first_not_handed_out: usize,
}

#[derive(Debug)]
struct WorldShared {
    state: Mutex<WorldState>,
    changes: watch::Sender<u64>,
}

/// Everything the simulator sent to numbers it does not own: the phones of the outside world.
#[derive(Debug, Clone)]
pub struct World {
    shared: Arc<WorldShared>,
}

impl Default for World {
    fn default() -> Self {
        World {
            shared: Arc::new(WorldShared {
                state: Mutex::new(WorldState::default()),
                changes: watch::Sender::new(0),
            }),
        }
    }
}

impl World {
    fn state(&self) -> MutexGuard<'_, WorldState> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn record_part(&self, from: &str, to: &str, submit: &OutgoingSubmit) {
        // When the network had the part: before decoding it or waiting for the lock.
        let received_at = SystemTime::now();
        let (text, concat) = match codec::decode(&submit.pdu_hex, true) {
            Ok(Pdu::Submit(decoded)) => (
                decoded.user_data.text.clone().unwrap_or_default(),
                decoded.user_data.concat(),
            ),
            _ => (String::new(), None),
        };
        let part = WorldPart {
            from: from.to_string(),
            to: to.to_string(),
            message_ref: submit.message_ref,
            pdu_hex: submit.pdu_hex.clone(),
            text,
            concat,
            status_report_requested: submit.layout.status_report_requested(),
        };
        {
            let mut state = self.state();
            state.parts.push(part.clone());
            let complete = match part.concat {
                Some(concat) if concat.total > 1 => {
                    let key = (
                        part.from.clone(),
                        part.to.clone(),
                        concat.reference,
                        concat.total,
                    );
                    let waiting = state.pending.entry(key.clone()).or_default();
                    if !waiting
                        .iter()
                        .any(|held| held.concat.map(|c| c.seq) == Some(concat.seq))
                    {
                        waiting.push(part);
                    }
                    if waiting.len() >= usize::from(concat.total) {
                        state.pending.remove(&key)
                    } else {
                        None
                    }
                }
                _ => Some(vec![part]),
            };
            if let Some(mut parts) = complete {
                parts.sort_by_key(|held| held.concat.map(|c| c.seq).unwrap_or(0));
                let id = state.messages.len() as u64 + 1;
                let message = WorldMessage {
                    id,
                    from: from.to_string(),
                    to: to.to_string(),
                    text: parts.iter().map(|held| held.text.as_str()).collect(),
                    parts: parts.len(),
                    pdus: parts.iter().map(|held| held.pdu_hex.clone()).collect(),
                    message_refs: parts.iter().map(|held| held.message_ref).collect(),
                    status_report_requested: parts.iter().any(|held| held.status_report_requested),
                    received_at,
                };
                state.messages.push(message);
            }
        }
        self.shared
            .changes
            .send_modify(|count| *count = count.wrapping_add(1));
    }

    /// Complete messages, in arrival order.
    pub fn messages(&self) -> Vec<WorldMessage> {
        self.state().messages.clone()
    }

    /// Complete messages to `to` (digits compared).
    pub fn messages_to(&self, to: &str) -> Vec<WorldMessage> {
        let wanted = number_key(to);
        self.state()
            .messages
            .iter()
            .filter(|message| number_key(&message.to) == wanted)
            .cloned()
            .collect()
    }

    /// Every part received, complete or not, in arrival order.
    pub fn parts(&self) -> Vec<WorldPart> {
        self.state().parts.clone()
    }

    /// Parts of multipart messages still missing other parts.
    pub fn incomplete_parts(&self) -> usize {
        self.state().pending.values().map(Vec::len).sum()
    }

    /// Waits for the next complete message to `to` that no earlier `wait_for` returned, at
    /// most `timeout`.
    pub async fn wait_for(&self, to: &str, timeout: Duration) -> Option<WorldMessage> {
        let wanted = number_key(to);
        self.wait_next(timeout, |message| same_digits(&message.to, &wanted))
            .await
    }

    /// Waits for the next complete message (to anyone) that no earlier wait returned.
    pub async fn wait_for_any(&self, timeout: Duration) -> Option<WorldMessage> {
        self.wait_next(timeout, |_| true).await
    }

    async fn wait_next(
        &self,
        timeout: Duration,
        matches: impl Fn(&WorldMessage) -> bool,
    ) -> Option<WorldMessage> {
        let mut changes = self.shared.changes.subscribe();
        let waiting = async {
            loop {
                {
                    let mut state = self.state();
                    let from = state.first_not_handed_out;
                    let found = state.messages[from..]
                        .iter()
                        .find(|message| !state.handed_out.contains(&message.id) && matches(message))
                        .cloned();
                    if let Some(message) = found {
                        state.handed_out.insert(message.id);
                        let state = &mut *state;
                        while let Some(next) = state.messages.get(state.first_not_handed_out) {
                            if !state.handed_out.remove(&next.id) {
                                break;
                            }
                            state.first_not_handed_out += 1;
                        }
                        return message;
                    }
                }
                if changes.changed().await.is_err() {
                    std::future::pending::<()>().await;
                }
            }
        };
        tokio::time::timeout(timeout, waiting).await.ok()
    }
}
