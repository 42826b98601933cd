//! The virtual modem's brain, free of I/O: bytes from the host go in through [`ModemCore::feed`],
//! bytes for the host come out of [`ModemCore::take_output`], and whatever needs the outside
//! world (the network, a timer, re-enumerating the port) comes out of
//! [`ModemCore::take_effects`]. Time is passed in, never read, so unit tests drive it exactly.
//!
//! The behaviour follows 3GPP TS 27.005 / 27.007 and what real firmwares do where they differ
//! (see `tests/vectors/modem_transcripts.json`): echo on after power-on, `\r`-terminated command
//! lines, `\r\n`-framed responses, `+CMS ERROR` for SMS commands and `+CME ERROR` for the rest,
//! unsolicited result codes only between responses.

use std::collections::VecDeque;
use std::time::Instant;

use super::config::{CnmiRanges, CnmiSetting, Personality, SimModemConfig};
use super::storage::{Memory, MessageStatus, MessageStore, StorageError, StoredMessage};
use super::tpdu::{tpdu_length_of, SubmitLayout, TypedSubmit};

/// Longest command line kept; longer lines are answered with `ERROR` (real modems have a
/// similar input buffer and refuse the overflow).
const MAX_COMMAND_LINE: usize = 2048;
/// Longest PDU accepted after `> `: an SMSC field and a 255-octet TPDU, in hex.
const MAX_PDU_HEX: usize = 2 * (12 + 256);
/// `+CNMI` mode 0 buffers indications; a real TA buffer is small and drops the oldest.
const MAX_BUFFERED_INDICATIONS: usize = 32;
/// How many command lines [`ModemCore::commands`] remembers (the total is always counted).
const COMMAND_LOG_LIMIT: usize = 4096;
/// How many sent PDUs [`ModemCore::sent_pdus`] remembers.
const SENT_LOG_LIMIT: usize = 4096;
/// PIN attempts before the SIM asks for the PUK.
const PIN_ATTEMPTS: u8 = 3;
/// The PUK of every virtual SIM.
pub const SIM_PUK: &str = "12345678";

/// Something the network hands to the modem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// An SMS-DELIVER, hex with SMSC prefix.
    Deliver {
        /// The PDU as the modem will print it.
        pdu_hex: String,
        /// Set when the sender asked for a status report: the modem announces
        /// [`Effect::Delivered`] with it once it has really taken the message, so the report
        /// says "delivered" only when it is true (not while the recipient is unplugged).
        receipt: Option<u64>,
    },
    /// An SMS-STATUS-REPORT, hex with SMSC prefix.
    StatusReport {
        /// The PDU as the modem will print it.
        pdu_hex: String,
    },
}

impl Inbound {
    /// An SMS-DELIVER with no status report attached.
    pub fn deliver(pdu_hex: impl Into<String>) -> Inbound {
        Inbound::Deliver {
            pdu_hex: pdu_hex.into(),
            receipt: None,
        }
    }

    fn pdu_hex(&self) -> &str {
        match self {
            Inbound::Deliver { pdu_hex, .. } | Inbound::StatusReport { pdu_hex } => pdu_hex,
        }
    }
}

/// An SMS-SUBMIT part the modem accepted from the host and now hands to the network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingSubmit {
    /// The TP-MR the modem assigned (and will print in `+CMGS:`).
    pub message_ref: u8,
    /// The PDU as typed, with the assigned TP-MR stamped in (SMSC field first).
    pub pdu_hex: String,
    /// The `AT+CMGS` length.
    pub tpdu_len: usize,
    /// The SUBMIT's octet layout.
    pub layout: SubmitLayout,
}

/// One PDU this modem sent, for test assertions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentPdu {
    /// The TP-MR printed in `+CMGS:`.
    pub message_ref: u8,
    /// Destination number from TP-DA.
    pub to: String,
    /// The PDU (SMSC field first, TP-MR stamped).
    pub pdu_hex: String,
    /// TPDU octets.
    pub tpdu_len: usize,
}

/// What the modem needs done outside itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Hand this part to the network after the send latency, then call
    /// [`ModemCore::complete_submit`].
    Submit(OutgoingSubmit),
    /// `AT+CFUN=1,1`: once the `OK` is written, drop the port and bring it back after the
    /// reset delay, then [`ModemCore::boot`].
    Reset,
    /// The SMS-DELIVER carrying this receipt is now in the modem (stored or shown as `+CMT`):
    /// the network may send the sender its status report.
    Delivered(u64),
}

/// The network's answer to an [`Effect::Submit`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SubmitOutcome {
    /// Accepted: `+CMGS: <mr>` `OK`.
    Accepted,
    /// Refused with this `+CMS ERROR` code.
    Failed(u16),
}

/// State of the SIM lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SimLock {
    /// Unlocked.
    Ready,
    /// `+CPIN: SIM PIN`.
    PinRequired,
    /// `+CPIN: SIM PUK` after too many wrong PINs.
    PukRequired,
}

/// Settings that power-on and `ATZ` restore.
#[derive(Debug, Clone)]
struct Settings {
    echo: bool,
    cmee: u8,
    text_mode: bool,
    storages: [Memory; 3],
    cnmi: CnmiSetting,
    csms_service: u8,
    creg_mode: u8,
    cgreg_mode: u8,
    cereg_mode: u8,
    vendor_urcs: bool,
}

impl Settings {
    fn power_on(config: &SimModemConfig) -> Settings {
        Settings {
            echo: config.echo,
            cmee: if config.personality == Personality::Quectel {
                1
            } else {
                0
            },
            text_mode: false,
            storages: [Memory::Sm; 3],
            cnmi: config.personality.boot_cnmi(),
            csms_service: 0,
            creg_mode: 0,
            cgreg_mode: 0,
            cereg_mode: 0,
            vendor_urcs: true,
        }
    }
}

#[derive(Debug, Clone)]
enum InputMode {
    /// Reading a command line.
    Command,
    /// After `> `: collecting hex until Ctrl-Z (send) or ESC (cancel).
    Pdu { declared_len: usize, hex: Vec<u8> },
    /// The network has the part; input waits until `+CMGS` is answered.
    AwaitingSubmit(OutgoingSubmit),
}

#[derive(Debug, Clone)]
struct AckWait {
    inbound: Inbound,
    deadline: Instant,
}

/// A final result other than `OK`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Failure {
    /// Plain `ERROR`.
    Error,
    /// The personality's reply to an unknown command.
    Unknown,
    /// `+CME ERROR: <n>` (plain `ERROR` under `AT+CMEE=0`).
    Cme(u16),
    /// `+CMS ERROR: <n>`.
    Cms(u16),
}

/// What one command asks the line executor to do next.
enum Step {
    /// Information lines; go on with the next command of the line.
    Done(Vec<String>),
    /// Show `> ` and collect a PDU of this TPDU length.
    Prompt(usize),
    /// Answer `OK`, then reset the modem.
    ResetAfterOk,
}

type CommandResult = Result<Step, Failure>;

/// One command of a command line (`AT+CMGF=0;+CNMI=2,1` holds two).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Command {
    /// Upper-cased name: `E`, `Z`, `&F`, `+CMGF`, `^CURC`…
    name: String,
    kind: CommandKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum CommandKind {
    /// `AT+X` / `ATE1` (the digits of a basic command are its argument).
    Execute(String),
    /// `AT+X?`
    Read,
    /// `AT+X=?`
    Test,
    /// `AT+X=<args>`
    Set(String),
}

/// The pure modem: AT interpreter, SIM, message memories, URC logic and fault knobs.
#[derive(Debug)]
pub struct ModemCore {
    config: SimModemConfig,
    cnmi_ranges: CnmiRanges,
    smsc: String,
    store: MessageStore,
    next_message_ref: u8,
    pin_attempts_left: u8,
    sim_lock: SimLock,
    // Knobs changed at run time.
    registered: bool,
    signal_rssi: u8,
    hung: bool,
    /// While hung, the firmware still obeys `AT+CFUN=1,1` (and nothing else): the kind of hang
    /// a host's reset escalation is for.
    hang_reset_cures: bool,
    /// What arrived while hung, scanned for the reset command.
    hung_line: Vec<u8>,
    /// Scripted outcomes of the next sends: `None` lets one through, `Some(code)` fails it.
    failing_sends: VecDeque<Option<u16>>,
    cmti_to_drop: u32,
    // Power and volatile state.
    powered: bool,
    functionality: u8,
    settings: Settings,
    input: InputMode,
    line: Vec<u8>,
    line_overflowed: bool,
    deferred_input: Vec<u8>,
    output: Vec<u8>,
    urcs: VecDeque<Vec<u8>>,
    buffered_indications: VecDeque<Vec<u8>>,
    effects: VecDeque<Effect>,
    network_queue: VecDeque<Inbound>,
    awaiting_ack: Option<AckWait>,
    last_registration: u8,
    vendor_ticks: u64,
    // Observation.
    commands: VecDeque<String>,
    commands_total: u64,
    sent: VecDeque<SentPdu>,
}

impl ModemCore {
    /// A powered-off modem; call [`ModemCore::boot`] to switch it on.
    pub fn new(config: SimModemConfig, smsc: &str) -> ModemCore {
        let store = MessageStore::new(
            config.personality.first_index(),
            config.sim_capacity,
            config.phone_capacity,
            config.status_report_capacity,
        );
        ModemCore {
            cnmi_ranges: config.effective_cnmi_ranges(),
            smsc: smsc.to_string(),
            store,
            next_message_ref: 0,
            pin_attempts_left: PIN_ATTEMPTS,
            sim_lock: SimLock::Ready,
            registered: config.registered,
            signal_rssi: config.signal_rssi,
            hung: false,
            hang_reset_cures: false,
            hung_line: Vec::new(),
            failing_sends: VecDeque::new(),
            cmti_to_drop: 0,
            powered: false,
            functionality: 1,
            settings: Settings::power_on(&config),
            input: InputMode::Command,
            line: Vec::new(),
            line_overflowed: false,
            deferred_input: Vec::new(),
            output: Vec::new(),
            urcs: VecDeque::new(),
            buffered_indications: VecDeque::new(),
            effects: VecDeque::new(),
            network_queue: VecDeque::new(),
            awaiting_ack: None,
            last_registration: 0,
            vendor_ticks: 0,
            commands: VecDeque::new(),
            commands_total: 0,
            sent: VecDeque::new(),
            config,
        }
    }

    // ----------------------------------------------------------------------------------------
    // Power.

    /// Power-on (first start, replug, or the end of an `AT+CFUN=1,1` reset): volatile settings
    /// return to their defaults, a hang is cured, the SIM locks again if it has a PIN, stored
    /// messages stay, and the vendor's start-up URCs are queued.
    pub fn boot(&mut self, now: Instant) {
        self.powered = true;
        // A power cycle is what cures a hung firmware on real hardware too.
        self.hung = false;
        self.functionality = 1;
        self.settings = Settings::power_on(&self.config);
        self.input = InputMode::Command;
        self.line.clear();
        self.line_overflowed = false;
        self.deferred_input.clear();
        self.output.clear();
        self.urcs.clear();
        self.buffered_indications.clear();
        self.effects.clear();
        if self.sim_lock != SimLock::PukRequired {
            self.sim_lock = if self.config.pin.is_some() {
                SimLock::PinRequired
            } else {
                SimLock::Ready
            };
        }
        self.last_registration = self.registration_status();
        let personality = self.config.personality;
        match personality {
            Personality::Quectel => {
                self.push_urc("RDY");
                self.push_urc("+CFUN: 1");
            }
            Personality::Simcom => self.push_urc("RDY"),
            _ => {}
        }
        if matches!(personality, Personality::Quectel | Personality::Simcom) {
            self.announce_sim_state();
        }
        self.process_network_queue(now);
    }

    /// Power-off (unplug, or the first half of a reset). A `+CMT` still waiting for its
    /// `AT+CNMA` is kept in storage, as the network would deliver it again; a part still
    /// waiting for `+CMGS` is lost with the power.
    pub fn power_off(&mut self) {
        if let Some(waiting) = self.awaiting_ack.take() {
            self.store_without_indication(&waiting.inbound);
        }
        self.powered = false;
        self.input = InputMode::Command;
        self.line.clear();
        self.deferred_input.clear();
        self.output.clear();
        self.urcs.clear();
        self.buffered_indications.clear();
        self.effects.clear();
    }

    /// Whether the modem is switched on.
    pub fn is_powered(&self) -> bool {
        self.powered
    }

    // ----------------------------------------------------------------------------------------
    // Host I/O.

    /// Bytes written by the host.
    pub fn feed(&mut self, bytes: &[u8], now: Instant) {
        if self.powered && self.hung && self.hang_reset_cures {
            return self.feed_while_hung(bytes);
        }
        if !self.powered || self.hung {
            return;
        }
        for (position, &byte) in bytes.iter().enumerate() {
            match &mut self.input {
                InputMode::AwaitingSubmit(_) => {
                    self.deferred_input
                        .extend_from_slice(bytes.get(position..).unwrap_or(&[]));
                    return;
                }
                InputMode::Pdu { .. } => self.pdu_byte(byte),
                InputMode::Command => self.command_byte(byte, now),
            }
        }
    }

    /// Bytes for the host: responses, then the URCs that may go out now.
    pub fn take_output(&mut self) -> Vec<u8> {
        if !self.powered || self.hung {
            self.output.clear();
            self.urcs.clear();
            return Vec::new();
        }
        let mut bytes = std::mem::take(&mut self.output);
        if self.urc_window_open() {
            for urc in self.urcs.drain(..) {
                bytes.extend_from_slice(&urc);
            }
        }
        bytes
    }

    /// Work for the driver, oldest first.
    pub fn take_effects(&mut self) -> Vec<Effect> {
        self.effects.drain(..).collect()
    }

    /// URCs are held while the host is in the middle of something a URC would corrupt: the
    /// PDU after `> `, or an echoed command line that is not finished.
    fn urc_window_open(&self) -> bool {
        let typing_echoed_line = self.settings.echo && !self.line.is_empty();
        !matches!(self.input, InputMode::Pdu { .. }) && !typing_echoed_line
    }

    fn echo(&mut self, byte: u8) {
        if self.settings.echo {
            self.output.push(byte);
        }
    }

    fn command_byte(&mut self, byte: u8, now: Instant) {
        match byte {
            b'\r' => {
                self.echo(byte);
                let line = std::mem::take(&mut self.line);
                let overflowed = std::mem::replace(&mut self.line_overflowed, false);
                self.execute_line(&line, overflowed, now);
            }
            // LF after CR, and stray Ctrl-Z/ESC outside a prompt, are ignored like on hardware.
            b'\n' | 0x1A | 0x1B => {}
            0x08 | 0x7F => {
                if self.line.pop().is_some() {
                    self.echo(byte);
                }
            }
            _ => {
                self.echo(byte);
                if self.line.len() < MAX_COMMAND_LINE {
                    self.line.push(byte);
                } else {
                    self.line_overflowed = true;
                }
            }
        }
    }

    fn pdu_byte(&mut self, byte: u8) {
        let InputMode::Pdu { declared_len, hex } = &mut self.input else {
            return;
        };
        match byte {
            0x1A => {
                let declared_len = *declared_len;
                let typed = std::mem::take(hex);
                self.input = InputMode::Command;
                self.finish_pdu(declared_len, &typed);
            }
            0x1B => {
                self.input = InputMode::Command;
                self.respond(&[], "OK");
            }
            b'\r' | b'\n' => {}
            _ => {
                if hex.len() <= MAX_PDU_HEX {
                    hex.push(byte);
                }
                self.echo(byte);
            }
        }
    }

    fn finish_pdu(&mut self, declared_len: usize, typed: &[u8]) {
        let text = String::from_utf8_lossy(typed);
        let mut submit = match TypedSubmit::parse(&text, declared_len) {
            Ok(submit) if typed.len() <= MAX_PDU_HEX => submit,
            _ => return self.respond_failure(&[], Failure::Cms(304)),
        };
        if self.registration_status() != 1 {
            return self.respond_failure(&[], Failure::Cms(331));
        }
        if let Some(Some(code)) = self.failing_sends.pop_front() {
            return self.respond_failure(&[], Failure::Cms(code));
        }
        let message_ref = self.next_message_ref;
        self.next_message_ref = self.next_message_ref.wrapping_add(1);
        submit.stamp_message_ref(message_ref);
        let outgoing = OutgoingSubmit {
            message_ref,
            pdu_hex: submit.to_hex(),
            tpdu_len: declared_len,
            layout: submit.layout,
        };
        self.effects.push_back(Effect::Submit(outgoing.clone()));
        self.input = InputMode::AwaitingSubmit(outgoing);
    }

    /// The network's verdict on the part handed out with [`Effect::Submit`].
    pub fn complete_submit(&mut self, outcome: SubmitOutcome, now: Instant) {
        let InputMode::AwaitingSubmit(outgoing) = &self.input else {
            return;
        };
        let outgoing = outgoing.clone();
        self.input = InputMode::Command;
        match outcome {
            SubmitOutcome::Accepted => {
                if self.sent.len() >= SENT_LOG_LIMIT {
                    self.sent.pop_front();
                }
                self.sent.push_back(SentPdu {
                    message_ref: outgoing.message_ref,
                    to: outgoing.layout.destination_number(),
                    pdu_hex: outgoing.pdu_hex.clone(),
                    tpdu_len: outgoing.tpdu_len,
                });
                self.respond(&[format!("+CMGS: {}", outgoing.message_ref)], "OK");
            }
            SubmitOutcome::Failed(code) => self.respond_failure(&[], Failure::Cms(code)),
        }
        let deferred = std::mem::take(&mut self.deferred_input);
        self.feed(&deferred, now);
    }

    // ----------------------------------------------------------------------------------------
    // Responses.

    fn respond(&mut self, info: &[String], final_line: &str) {
        if !info.is_empty() {
            self.output.extend_from_slice(b"\r\n");
            self.output.extend_from_slice(info.join("\r\n").as_bytes());
            self.output.extend_from_slice(b"\r\n");
        }
        self.output.extend_from_slice(b"\r\n");
        self.output.extend_from_slice(final_line.as_bytes());
        self.output.extend_from_slice(b"\r\n");
    }

    fn respond_failure(&mut self, info: &[String], failure: Failure) {
        let text = self.failure_text(failure);
        self.respond(info, &text);
    }

    fn failure_text(&self, failure: Failure) -> String {
        match failure {
            Failure::Error => "ERROR".to_string(),
            Failure::Unknown => self.config.personality.unknown_command_reply().to_string(),
            Failure::Cme(code) => match self.settings.cmee {
                0 => "ERROR".to_string(),
                2 => match cme_text(code) {
                    Some(text) => format!("+CME ERROR: {text}"),
                    None => format!("+CME ERROR: {code}"),
                },
                _ => format!("+CME ERROR: {code}"),
            },
            // TS 27.005 reports +CMS ERROR whatever +CMEE says; verbose only under CMEE=2.
            Failure::Cms(code) => match (self.settings.cmee, cms_text(code)) {
                (2, Some(text)) => format!("+CMS ERROR: {text}"),
                _ => format!("+CMS ERROR: {code}"),
            },
        }
    }

    fn push_urc(&mut self, text: &str) {
        self.urcs.push_back(format!("\r\n{text}\r\n").into_bytes());
    }

    /// SMS indications obey `+CNMI` `<mode>`: 0 keeps them inside the modem.
    fn push_indication(&mut self, text: String) {
        let framed = format!("\r\n{text}\r\n").into_bytes();
        if self.settings.cnmi.mode == 0 {
            if self.buffered_indications.len() >= MAX_BUFFERED_INDICATIONS {
                self.buffered_indications.pop_front();
            }
            self.buffered_indications.push_back(framed);
        } else {
            self.urcs.push_back(framed);
        }
    }

    // ----------------------------------------------------------------------------------------
    // Command lines.

    fn execute_line(&mut self, raw: &[u8], overflowed: bool, now: Instant) {
        let text = String::from_utf8_lossy(raw);
        let trimmed = text.trim();
        if trimmed.is_empty() {
            return;
        }
        self.commands_total += 1;
        if self.commands.len() >= COMMAND_LOG_LIMIT {
            self.commands.pop_front();
        }
        self.commands.push_back(trimmed.to_string());
        if overflowed {
            return self.respond_failure(&[], Failure::Error);
        }
        // Like a UART modem, skip noise until the "AT" attention prefix.
        let upper = trimmed.to_ascii_uppercase();
        let Some(start) = upper.find("AT") else {
            return;
        };
        let body = trimmed.get(start + 2..).unwrap_or("");
        let commands = match split_command_line(body) {
            Ok(commands) => commands,
            Err(()) => return self.respond_failure(&[], Failure::Error),
        };
        let mut info = Vec::new();
        for command in commands {
            match self.execute(&command, now) {
                Ok(Step::Done(lines)) => info.extend(lines),
                Ok(Step::Prompt(declared_len)) => {
                    if !info.is_empty() {
                        self.output.extend_from_slice(b"\r\n");
                        self.output.extend_from_slice(info.join("\r\n").as_bytes());
                        self.output.extend_from_slice(b"\r\n");
                    }
                    if self.config.personality == Personality::Zte {
                        self.output.extend_from_slice(b"\r\n+ZPASR: \"UMTS\"\r\n");
                    }
                    self.output.extend_from_slice(b"\r\n> ");
                    self.input = InputMode::Pdu {
                        declared_len,
                        hex: Vec::new(),
                    };
                    return;
                }
                Ok(Step::ResetAfterOk) => {
                    self.respond(&info, "OK");
                    self.effects.push_back(Effect::Reset);
                    return;
                }
                Err(failure) => return self.respond_failure(&info, failure),
            }
        }
        self.respond(&info, "OK");
    }

    fn execute(&mut self, command: &Command, now: Instant) -> CommandResult {
        let name = command.name.as_str();
        if let Some(failure) = self.sim_gate(name) {
            return Err(failure);
        }
        let personality = self.config.personality;
        match (name, &command.kind) {
            // Basic commands.
            ("E", CommandKind::Execute(value)) => {
                self.settings.echo = match value.as_str() {
                    "" | "0" => false,
                    "1" => true,
                    _ => return Err(Failure::Error),
                };
                done()
            }
            ("V", CommandKind::Execute(value)) if value.is_empty() || value == "1" => done(),
            ("Q", CommandKind::Execute(value)) if value.is_empty() || value == "0" => done(),
            ("Z" | "&F", CommandKind::Execute(_)) => {
                self.settings = Settings::power_on(&self.config);
                done()
            }
            ("I", CommandKind::Execute(_)) => Ok(Step::Done(vec![
                format!("Manufacturer: {}", personality.manufacturer()),
                format!("Model: {}", personality.model()),
                format!("Revision: {}", personality.revision()),
                format!("IMEI: {}", self.config.imei),
            ])),
            ("&C" | "&D" | "&W" | "X" | "L" | "M", CommandKind::Execute(_)) => done(),
            (register, CommandKind::Read) if is_s_register(register) => lines(["000"]),
            (register, _) if is_s_register(register) => done(),

            // Error reporting and identity.
            ("+CMEE", kind) => {
                let value = &mut self.settings.cmee;
                small_setting(kind, "+CMEE", value, 2, "(0-2)")
            }
            ("+CGMI" | "+GMI", CommandKind::Execute(_)) => lines([personality.manufacturer()]),
            ("+CGMM" | "+GMM", CommandKind::Execute(_)) => lines([personality.model()]),
            ("+CGMR" | "+GMR", CommandKind::Execute(_)) => lines([personality.revision()]),
            ("+CGSN" | "+GSN", CommandKind::Execute(_)) => lines([self.config.imei.as_str()]),
            (
                "+CGMI" | "+GMI" | "+CGMM" | "+GMM" | "+CGMR" | "+GMR" | "+CGSN" | "+GSN",
                CommandKind::Test,
            ) => done(),
            ("+CIMI", CommandKind::Execute(_)) => lines([self.config.imsi.as_str()]),
            ("+GCAP", CommandKind::Execute(_)) => lines(["+GCAP: +CGSM,+DS,+ES"]),
            ("+CCID", CommandKind::Execute(_) | CommandKind::Read)
                if personality != Personality::Huawei =>
            {
                if personality == Personality::Simcom {
                    lines([self.config.iccid.as_str()])
                } else {
                    Ok(Step::Done(vec![format!("+CCID: {}", self.config.iccid)]))
                }
            }
            ("+CICCID", CommandKind::Execute(_)) if personality == Personality::Simcom => {
                Ok(Step::Done(vec![format!("ICCID: {}", self.config.iccid)]))
            }
            ("^ICCID", CommandKind::Read) if personality == Personality::Huawei => {
                Ok(Step::Done(vec![format!("^ICCID: {}", self.config.iccid)]))
            }
            ("+QCCID", CommandKind::Execute(_)) if personality == Personality::Quectel => {
                Ok(Step::Done(vec![format!("+QCCID: {}", self.config.iccid)]))
            }
            ("+ZGETICCID", CommandKind::Execute(_)) if personality == Personality::Zte => Ok(
                Step::Done(vec![format!("+ZGETICCID: {}", self.config.iccid)]),
            ),
            ("+CNUM", CommandKind::Execute(_)) => {
                let number = self.config.number.clone();
                if number.is_empty() {
                    return done();
                }
                let type_of_number = if number.starts_with('+') { 145 } else { 129 };
                Ok(Step::Done(vec![format!(
                    "+CNUM: \"\",\"{number}\",{type_of_number}"
                )]))
            }

            // SIM and power.
            ("+CPIN", kind) => self.cpin(kind, now),
            ("+CFUN", kind) => self.cfun(kind, now),

            // Network.
            ("+CSQ", CommandKind::Execute(_)) => {
                Ok(Step::Done(vec![format!("+CSQ: {},99", self.signal_rssi)]))
            }
            ("+CSQ", CommandKind::Test) => lines(["+CSQ: (0-31,99),(0-7,99)"]),
            ("+CREG" | "+CGREG" | "+CEREG", kind) => self.registration_command(name, kind),
            ("+COPS", CommandKind::Read) => {
                if self.registration_status() == 1 {
                    Ok(Step::Done(vec![format!(
                        "+COPS: 0,0,\"{}\",7",
                        self.config.operator
                    )]))
                } else {
                    lines(["+COPS: 0"])
                }
            }
            ("+COPS", CommandKind::Test) => Ok(Step::Done(vec![format!(
                "+COPS: (2,\"{0}\",\"{0}\",\"00101\",7),,(0-4),(0-2)",
                self.config.operator
            )])),
            ("+COPS", CommandKind::Set(_) | CommandKind::Execute(_)) => done(),

            // SMS configuration.
            ("+CMGF", CommandKind::Set(args)) => match args.trim() {
                "0" => {
                    self.settings.text_mode = false;
                    done()
                }
                "1" => {
                    self.settings.text_mode = true;
                    done()
                }
                _ => Err(Failure::Cms(303)),
            },
            ("+CMGF", CommandKind::Read) => Ok(Step::Done(vec![format!(
                "+CMGF: {}",
                u8::from(self.settings.text_mode)
            )])),
            ("+CMGF", CommandKind::Test) => lines(["+CMGF: (0-1)"]),
            ("+CSCA", CommandKind::Read) => {
                if self.smsc.is_empty() {
                    return Err(Failure::Cms(330));
                }
                let type_of_number = if self.smsc.starts_with('+') { 145 } else { 129 };
                Ok(Step::Done(vec![format!(
                    "+CSCA: \"{}\",{type_of_number}",
                    self.smsc
                )]))
            }
            ("+CSCA", CommandKind::Set(args)) => {
                let arguments = split_arguments(args);
                match arguments.first() {
                    Some(number) if !number.is_empty() => {
                        self.smsc = number.clone();
                        done()
                    }
                    _ => Err(Failure::Cms(304)),
                }
            }
            ("+CSMS", kind) => self.csms(kind),
            ("+CPMS", kind) => self.cpms(kind),
            ("+CNMI", kind) => self.cnmi(kind),
            ("+CNMA", CommandKind::Execute(_) | CommandKind::Set(_)) => {
                if self.awaiting_ack.take().is_some() {
                    self.process_network_queue(now);
                    done()
                } else {
                    Err(Failure::Cms(340))
                }
            }
            ("+CNMA", CommandKind::Test) => lines(["+CNMA: (0-2)"]),
            ("+CSCS", CommandKind::Read) => lines(["+CSCS: \"GSM\""]),
            ("+CSCS", CommandKind::Test) => lines(["+CSCS: (\"GSM\",\"IRA\",\"UCS2\")"]),
            (
                "+CSCS" | "+CSMP" | "+CSDH" | "+CMMS" | "+CGSMS" | "+CVHU" | "+IFC" | "+IPR"
                | "+CLIP" | "+CRC" | "+CSCB" | "+CGEREP" | "+CTZU" | "+CTZR",
                CommandKind::Set(_) | CommandKind::Test,
            ) => done(),

            // Messages.
            ("+CMGS", CommandKind::Set(args)) => {
                if self.settings.text_mode {
                    return Err(Failure::Cms(302));
                }
                match args.trim().parse::<usize>() {
                    Ok(length) if (1..=255).contains(&length) => Ok(Step::Prompt(length)),
                    _ => Err(Failure::Cms(304)),
                }
            }
            ("+CMGS", CommandKind::Test) => done(),
            ("+CMGR", CommandKind::Set(args)) => self.cmgr(args),
            ("+CMGR", CommandKind::Test) => done(),
            ("+CMGL", CommandKind::Execute(_)) => self.cmgl("0"),
            ("+CMGL", CommandKind::Set(args)) => self.cmgl(args),
            ("+CMGL", CommandKind::Test) => lines(["+CMGL: (0-4)"]),
            ("+CMGD", CommandKind::Set(args)) => self.cmgd(args, now),
            ("+CMGD", CommandKind::Test) => {
                let used: Vec<String> = self
                    .store
                    .list(self.settings.storages[0], None, false)
                    .iter()
                    .map(|message| message.index.to_string())
                    .collect();
                Ok(Step::Done(vec![format!(
                    "+CMGD: ({}),(0-4)",
                    used.join(",")
                )]))
            }

            // Vendor commands.
            ("^CURC", kind) if personality == Personality::Huawei => {
                let mut value = u8::from(self.settings.vendor_urcs);
                let result = small_setting(kind, "^CURC", &mut value, 1, "(0-1)");
                self.settings.vendor_urcs = value == 1;
                result
            }
            ("+ZPAS", CommandKind::Read) if personality == Personality::Zte => {
                lines(["+ZPAS: \"UMTS\",\"CS_PS\""])
            }
            _ => Err(Failure::Unknown),
        }
    }

    /// Commands that need an unlocked SIM answer `SIM PIN required` while it is locked:
    /// `+CMS ERROR: 311` for SMS commands, `+CME ERROR: 11` for the others (PUK: 316/12).
    fn sim_gate(&self, name: &str) -> Option<Failure> {
        if self.sim_lock == SimLock::Ready {
            return None;
        }
        let allowed_without_sim = matches!(
            name,
            "E" | "V"
                | "Q"
                | "Z"
                | "&F"
                | "I"
                | "&C"
                | "&D"
                | "&W"
                | "X"
                | "L"
                | "M"
                | "+CMEE"
                | "+CGMI"
                | "+GMI"
                | "+CGMM"
                | "+GMM"
                | "+CGMR"
                | "+GMR"
                | "+CGSN"
                | "+GSN"
                | "+GCAP"
                | "+CPIN"
                | "+CFUN"
                | "+CSQ"
                | "+CREG"
                | "+CGREG"
                | "+CEREG"
                | "+COPS"
                | "+CCID"
                | "^ICCID"
                | "+QCCID"
                | "+CICCID"
                | "+ZGETICCID"
                | "^CURC"
                | "+IFC"
                | "+IPR"
                | "+CSCS"
        ) || is_s_register(name);
        if allowed_without_sim {
            return None;
        }
        let puk = self.sim_lock == SimLock::PukRequired;
        let sms_command = name.starts_with("+CMG")
            || matches!(
                name,
                "+CPMS" | "+CNMI" | "+CSCA" | "+CNMA" | "+CSMS" | "+CSMP"
            );
        Some(match (sms_command, puk) {
            (true, false) => Failure::Cms(311),
            (true, true) => Failure::Cms(316),
            (false, false) => Failure::Cme(11),
            (false, true) => Failure::Cme(12),
        })
    }

    fn cpin(&mut self, kind: &CommandKind, now: Instant) -> CommandResult {
        match kind {
            CommandKind::Read => lines([match self.sim_lock {
                SimLock::Ready => "+CPIN: READY",
                SimLock::PinRequired => "+CPIN: SIM PIN",
                SimLock::PukRequired => "+CPIN: SIM PUK",
            }]),
            CommandKind::Test => done(),
            CommandKind::Set(args) => {
                let arguments = split_arguments(args);
                let first = arguments.first().cloned().unwrap_or_default();
                match self.sim_lock {
                    SimLock::Ready => Err(Failure::Cme(3)),
                    SimLock::PinRequired => {
                        if Some(first.as_str()) == self.config.pin.as_deref() {
                            self.pin_attempts_left = PIN_ATTEMPTS;
                            self.unlock_sim(now);
                            done()
                        } else {
                            self.pin_attempts_left = self.pin_attempts_left.saturating_sub(1);
                            if self.pin_attempts_left == 0 {
                                self.sim_lock = SimLock::PukRequired;
                            }
                            Err(Failure::Cme(16))
                        }
                    }
                    SimLock::PukRequired => match arguments.get(1) {
                        Some(new_pin) if first == SIM_PUK && !new_pin.is_empty() => {
                            self.config.pin = Some(new_pin.clone());
                            self.pin_attempts_left = PIN_ATTEMPTS;
                            self.unlock_sim(now);
                            done()
                        }
                        _ => Err(Failure::Cme(16)),
                    },
                }
            }
            CommandKind::Execute(_) => Err(Failure::Cme(50)),
        }
    }

    fn unlock_sim(&mut self, now: Instant) {
        self.sim_lock = SimLock::Ready;
        if matches!(
            self.config.personality,
            Personality::Quectel | Personality::Simcom
        ) {
            self.announce_sim_state();
        }
        self.refresh_registration(now);
    }

    /// `+CPIN:` and, once the SIM is readable, the "SMS DONE" URCs of Quectel and SIMCom.
    fn announce_sim_state(&mut self) {
        match self.sim_lock {
            SimLock::Ready => self.push_urc("+CPIN: READY"),
            SimLock::PinRequired => self.push_urc("+CPIN: SIM PIN"),
            SimLock::PukRequired => self.push_urc("+CPIN: SIM PUK"),
        }
        if self.sim_lock != SimLock::Ready {
            return;
        }
        if self.config.personality == Personality::Quectel {
            self.push_urc("+QUSIM: 1");
            self.push_urc("+QIND: SMS DONE");
            self.push_urc("+QIND: PB DONE");
        } else {
            self.push_urc("SMS DONE");
            self.push_urc("PB DONE");
        }
    }

    fn cfun(&mut self, kind: &CommandKind, now: Instant) -> CommandResult {
        match kind {
            CommandKind::Read => Ok(Step::Done(vec![format!("+CFUN: {}", self.functionality)])),
            CommandKind::Test => lines(["+CFUN: (0,1,4),(0-1)"]),
            CommandKind::Set(args) => {
                let arguments = split_arguments(args);
                let level = arguments.first().and_then(|value| value.parse::<u8>().ok());
                let reset = arguments.get(1).map(String::as_str);
                match (level, reset) {
                    (Some(0 | 1 | 4), Some("1")) => Ok(Step::ResetAfterOk),
                    (Some(level @ (0 | 1 | 4)), None | Some("0")) => {
                        self.functionality = level;
                        self.refresh_registration(now);
                        done()
                    }
                    _ => Err(Failure::Cme(50)),
                }
            }
            CommandKind::Execute(_) => Err(Failure::Cme(50)),
        }
    }

    fn registration_command(&mut self, name: &str, kind: &CommandKind) -> CommandResult {
        let mode = match name {
            "+CREG" => self.settings.creg_mode,
            "+CGREG" => self.settings.cgreg_mode,
            _ => self.settings.cereg_mode,
        };
        match kind {
            CommandKind::Read => {
                let status = self.registration_status();
                let mut line = format!("{name}: {mode},{status}");
                if mode == 2 && matches!(status, 1 | 5) {
                    line.push_str(&location_suffix(name));
                }
                Ok(Step::Done(vec![line]))
            }
            CommandKind::Test => Ok(Step::Done(vec![format!("{name}: (0-2)")])),
            CommandKind::Set(args) => {
                let value = match args.trim().parse::<u8>() {
                    Ok(value @ 0..=2) => value,
                    _ => return Err(Failure::Cme(50)),
                };
                match name {
                    "+CREG" => self.settings.creg_mode = value,
                    "+CGREG" => self.settings.cgreg_mode = value,
                    _ => self.settings.cereg_mode = value,
                }
                done()
            }
            CommandKind::Execute(_) => Err(Failure::Cme(50)),
        }
    }

    fn csms(&mut self, kind: &CommandKind) -> CommandResult {
        match kind {
            CommandKind::Read => Ok(Step::Done(vec![format!(
                "+CSMS: {},1,1,1",
                self.settings.csms_service
            )])),
            CommandKind::Test => lines(["+CSMS: (0-1)"]),
            CommandKind::Set(args) => match args.trim() {
                "0" | "1" => {
                    self.settings.csms_service = u8::from(args.trim() == "1");
                    lines(["+CSMS: 1,1,1"])
                }
                _ => Err(Failure::Cms(303)),
            },
            CommandKind::Execute(_) => Err(Failure::Cms(304)),
        }
    }

    fn cpms(&mut self, kind: &CommandKind) -> CommandResult {
        match kind {
            CommandKind::Test => lines([
                "+CPMS: (\"SM\",\"ME\",\"MT\",\"SR\"),(\"SM\",\"ME\",\"MT\"),(\"SM\",\"ME\",\"MT\")",
            ]),
            CommandKind::Read => {
                let parts: Vec<String> = self
                    .settings
                    .storages
                    .iter()
                    .map(|memory| {
                        format!(
                            "\"{memory}\",{},{}",
                            self.store.used(*memory),
                            self.store.capacity(*memory)
                        )
                    })
                    .collect();
                Ok(Step::Done(vec![format!("+CPMS: {}", parts.join(","))]))
            }
            CommandKind::Set(args) => {
                let arguments = split_arguments(args);
                if arguments.is_empty() || arguments.len() > 3 {
                    return Err(Failure::Cms(302));
                }
                let mut chosen = self.settings.storages;
                for (position, argument) in arguments.iter().enumerate() {
                    let memory = Memory::parse(argument).ok_or(Failure::Cms(302))?;
                    if position > 0 && memory == Memory::Sr {
                        return Err(Failure::Cms(302));
                    }
                    if let Some(slot) = chosen.get_mut(position) {
                        *slot = memory;
                    }
                }
                self.settings.storages = chosen;
                let counts: Vec<String> = chosen
                    .iter()
                    .map(|memory| {
                        format!(
                            "{},{}",
                            self.store.used(*memory),
                            self.store.capacity(*memory)
                        )
                    })
                    .collect();
                Ok(Step::Done(vec![format!("+CPMS: {}", counts.join(","))]))
            }
            CommandKind::Execute(_) => Err(Failure::Cms(302)),
        }
    }

    fn cnmi(&mut self, kind: &CommandKind) -> CommandResult {
        match kind {
            CommandKind::Test => Ok(Step::Done(vec![self.cnmi_ranges.to_test_response()])),
            CommandKind::Read => {
                let cnmi = self.settings.cnmi;
                Ok(Step::Done(vec![format!(
                    "+CNMI: {},{},{},{},{}",
                    cnmi.mode, cnmi.mt, cnmi.bm, cnmi.ds, cnmi.bfr
                )]))
            }
            CommandKind::Set(args) => {
                let arguments = split_arguments(args);
                if arguments.len() > 5 {
                    return Err(Failure::Cms(303));
                }
                let mut values = [
                    self.settings.cnmi.mode,
                    self.settings.cnmi.mt,
                    self.settings.cnmi.bm,
                    self.settings.cnmi.ds,
                    self.settings.cnmi.bfr,
                ];
                for (slot, argument) in values.iter_mut().zip(arguments.iter()) {
                    if argument.is_empty() {
                        continue;
                    }
                    *slot = argument.parse::<u8>().map_err(|_| Failure::Cms(303))?;
                }
                let [mode, mt, bm, ds, bfr] = values;
                let wanted = CnmiSetting {
                    mode,
                    mt,
                    bm,
                    ds,
                    bfr,
                };
                if !self.cnmi_ranges.allows(&wanted) {
                    return Err(Failure::Cms(303));
                }
                let was_buffering = self.settings.cnmi.mode == 0;
                self.settings.cnmi = wanted;
                if was_buffering && wanted.mode != 0 {
                    let buffered = std::mem::take(&mut self.buffered_indications);
                    if wanted.bfr == 0 {
                        self.urcs.extend(buffered);
                    }
                }
                done()
            }
            CommandKind::Execute(_) => Err(Failure::Cms(303)),
        }
    }

    fn cmgr(&mut self, args: &str) -> CommandResult {
        if self.settings.text_mode {
            return Err(Failure::Cms(302));
        }
        let index = args.trim().parse::<u32>().map_err(|_| Failure::Cms(321))?;
        let memory = self.settings.storages[0];
        match self.store.read(memory, index, true) {
            Ok(Some(message)) => Ok(Step::Done(vec![
                format!("+CMGR: {},,{}", message.status.code(), message.tpdu_len),
                message.pdu_hex,
            ])),
            // Huawei answers a bare OK for an empty slot; others report an invalid index.
            Ok(None) if self.config.personality == Personality::Huawei => done(),
            Ok(None) | Err(StorageError::InvalidIndex) | Err(StorageError::Full) => {
                Err(Failure::Cms(321))
            }
        }
    }

    fn cmgl(&mut self, args: &str) -> CommandResult {
        if self.settings.text_mode {
            return Err(Failure::Cms(302));
        }
        let status = match args.trim().parse::<u8>() {
            Ok(4) => None,
            Ok(code) => Some(MessageStatus::from_code(code).ok_or(Failure::Cms(303))?),
            Err(_) => return Err(Failure::Cms(303)),
        };
        let memory = self.settings.storages[0];
        let mut listing = Vec::new();
        for message in self.store.list(memory, status, true) {
            listing.push(format!(
                "+CMGL: {},{},,{}",
                message.index,
                message.status.code(),
                message.tpdu_len
            ));
            listing.push(message.pdu_hex);
        }
        Ok(Step::Done(listing))
    }

    fn cmgd(&mut self, args: &str, now: Instant) -> CommandResult {
        let arguments = split_arguments(args);
        let index = arguments
            .first()
            .and_then(|value| value.parse::<u32>().ok())
            .ok_or(Failure::Cms(321))?;
        let flag = match arguments.get(1) {
            None => 0,
            Some(value) => match value.parse::<u8>() {
                Ok(flag @ 0..=4) => flag,
                _ => return Err(Failure::Cms(303)),
            },
        };
        let memory = self.settings.storages[0];
        if flag == 0 {
            self.store
                .delete(memory, index)
                .map_err(|_| Failure::Cms(321))?;
        } else {
            self.store.delete_by_flag(memory, flag);
        }
        // Space was freed: the network may hand over messages it held back.
        self.process_network_queue(now);
        done()
    }

    // ----------------------------------------------------------------------------------------
    // Network side.

    /// `+CREG` `<stat>`: 1 registered, 2 searching (knob off), 0 radio off or SIM locked.
    pub fn registration_status(&self) -> u8 {
        if !self.powered || self.functionality != 1 || self.sim_lock != SimLock::Ready {
            0
        } else if self.registered {
            1
        } else {
            2
        }
    }

    fn refresh_registration(&mut self, now: Instant) {
        let status = self.registration_status();
        if status != self.last_registration {
            self.last_registration = status;
            let modes = [
                ("+CREG", self.settings.creg_mode),
                ("+CGREG", self.settings.cgreg_mode),
                ("+CEREG", self.settings.cereg_mode),
            ];
            for (name, mode) in modes {
                if mode == 0 {
                    continue;
                }
                let mut line = format!("{name}: {status}");
                if mode == 2 && status == 1 {
                    line.push_str(&location_suffix(name));
                }
                self.push_urc(&line);
            }
        }
        self.process_network_queue(now);
    }

    /// The network hands over an SMS or status report. It is taken when the modem can
    /// receive (powered, registered, SIM ready, not hung, not waiting for an ack, room in the
    /// memory); until then the network keeps it, as a real SMSC retries.
    pub fn receive_from_network(&mut self, inbound: Inbound, now: Instant) {
        self.network_queue.push_back(inbound);
        self.process_network_queue(now);
    }

    /// Messages the network still holds for this modem.
    pub fn network_backlog(&self) -> usize {
        self.network_queue.len()
    }

    fn process_network_queue(&mut self, now: Instant) {
        while let Some(inbound) = self.network_queue.front().cloned() {
            if self.hung || self.registration_status() != 1 || self.awaiting_ack.is_some() {
                return;
            }
            if !self.accept(inbound, now) {
                return;
            }
            self.network_queue.pop_front();
        }
    }

    /// Delivers one message according to `+CNMI`; `false` when it must stay queued.
    fn accept(&mut self, inbound: Inbound, now: Instant) -> bool {
        let cnmi = self.settings.cnmi;
        let pdu_hex = inbound.pdu_hex().to_ascii_uppercase();
        let Some(tpdu_len) = tpdu_length_of(&pdu_hex) else {
            // Unusable PDU (only possible through inject_pdu): a network would drop it.
            return true;
        };
        let ack_needed = self.settings.csms_service == 1;
        match &inbound {
            Inbound::Deliver { receipt, .. } => {
                let receipt = *receipt;
                let memory = self.settings.storages[2];
                if !self.store.has_room(memory) {
                    return false;
                }
                if cnmi.mt == 2 && cnmi.mode != 0 {
                    self.urcs
                        .push_back(format!("\r\n+CMT: ,{tpdu_len}\r\n{pdu_hex}\r\n").into_bytes());
                    if ack_needed {
                        self.awaiting_ack = Some(AckWait {
                            inbound,
                            deadline: now + self.config.ack_timeout,
                        });
                    }
                    self.effects.extend(receipt.map(Effect::Delivered));
                    return true;
                }
                let Ok(index) =
                    self.store
                        .store(memory, MessageStatus::ReceivedUnread, &pdu_hex, tpdu_len)
                else {
                    return false;
                };
                if cnmi.mt != 0 {
                    if self.cmti_to_drop > 0 {
                        self.cmti_to_drop -= 1;
                    } else {
                        self.push_indication(format!("+CMTI: \"{memory}\",{index}"));
                    }
                }
                self.effects.extend(receipt.map(Effect::Delivered));
                true
            }
            Inbound::StatusReport { .. } => {
                if cnmi.ds == 1 && cnmi.mode != 0 {
                    self.urcs
                        .push_back(format!("\r\n+CDS: {tpdu_len}\r\n{pdu_hex}\r\n").into_bytes());
                    if ack_needed {
                        self.awaiting_ack = Some(AckWait {
                            inbound,
                            deadline: now + self.config.ack_timeout,
                        });
                    }
                    return true;
                }
                // A full SR memory loses the report, as on hardware.
                if let Ok(index) = self.store.store(
                    Memory::Sr,
                    MessageStatus::ReceivedUnread,
                    &pdu_hex,
                    tpdu_len,
                ) {
                    if cnmi.ds == 2 {
                        self.push_indication(format!("+CDSI: \"SR\",{index}"));
                    }
                }
                true
            }
        }
    }

    fn store_without_indication(&mut self, inbound: &Inbound) {
        let pdu_hex = inbound.pdu_hex().to_ascii_uppercase();
        let Some(tpdu_len) = tpdu_length_of(&pdu_hex) else {
            return;
        };
        let memory = match inbound {
            Inbound::Deliver { .. } => self.settings.storages[2],
            Inbound::StatusReport { .. } => Memory::Sr,
        };
        // With no room the message is lost here; the network already counted it delivered.
        let _ = self
            .store
            .store(memory, MessageStatus::ReceivedUnread, &pdu_hex, tpdu_len);
    }

    /// The next moment [`ModemCore::handle_timeout`] must run, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.awaiting_ack.as_ref().map(|waiting| waiting.deadline)
    }

    /// Timers: a `+CMT`/`+CDS` not acknowledged in time is stored instead and routing to
    /// the host is switched off (`<mt>` and `<ds>` set to 0, TS 27.005 §3.4.1).
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired = self
            .awaiting_ack
            .as_ref()
            .is_some_and(|waiting| waiting.deadline <= now);
        if !expired {
            return;
        }
        if let Some(waiting) = self.awaiting_ack.take() {
            self.store_without_indication(&waiting.inbound);
            self.settings.cnmi.mt = 0;
            self.settings.cnmi.ds = 0;
        }
        self.process_network_queue(now);
    }

    /// One period of vendor chatter: Huawei's `^RSSI` (and now and then `^MODE`, `^BOOT`,
    /// `^DSFLOWRPT`) unless `AT^CURC=0`.
    pub fn vendor_tick(&mut self) {
        if !self.powered || self.hung {
            return;
        }
        self.vendor_ticks += 1;
        if self.config.personality != Personality::Huawei || !self.settings.vendor_urcs {
            return;
        }
        let rssi = format!("^RSSI:{}", self.signal_rssi);
        self.push_urc(&rssi);
        if self.vendor_ticks % 3 == 0 {
            self.push_urc("^MODE:5,4");
        }
        if self.vendor_ticks % 4 == 0 {
            self.push_urc("^BOOT:20952548,0,0,0,72");
        }
        if self.vendor_ticks % 5 == 0 {
            self.push_urc(
                "^DSFLOWRPT:00000001,00000000,00000000,0000000000000000,0000000000000000,0003E800,0003E800",
            );
        }
    }

    // ----------------------------------------------------------------------------------------
    // Knobs and faults.

    /// Network coverage on/off; registration URCs follow when enabled by `AT+CREG=n`.
    pub fn set_registered(&mut self, registered: bool, now: Instant) {
        self.registered = registered;
        self.refresh_registration(now);
    }

    /// `AT+CSQ` RSSI (0..31, 99).
    pub fn set_signal(&mut self, rssi: u8) {
        self.signal_rssi = rssi;
    }

    /// A hung firmware reads and discards everything and says nothing; clearing the hang
    /// forgets any half-typed line.
    pub fn set_hung(&mut self, hung: bool, now: Instant) {
        self.hung = hung;
        self.hang_reset_cures = false;
        self.hung_line.clear();
        self.line.clear();
        self.output.clear();
        self.urcs.clear();
        if !hung {
            self.process_network_queue(now);
        }
    }

    /// A hang that only `AT+CFUN=1,1` cures: everything else is read and discarded.
    pub fn set_hung_until_reset(&mut self, now: Instant) {
        self.set_hung(true, now);
        self.hang_reset_cures = true;
    }

    fn feed_while_hung(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if byte == b'\r' || byte == b'\n' {
                let line = String::from_utf8_lossy(&self.hung_line)
                    .trim()
                    .to_ascii_uppercase();
                self.hung_line.clear();
                if line.ends_with("AT+CFUN=1,1") {
                    self.commands_total += 1;
                    if self.commands.len() >= COMMAND_LOG_LIMIT {
                        self.commands.pop_front();
                    }
                    self.commands.push_back("AT+CFUN=1,1".to_string());
                    self.hung = false;
                    self.hang_reset_cures = false;
                    // No OK: the firmware is stuck; the reset itself still happens.
                    self.effects.push_back(Effect::Reset);
                    return;
                }
            } else if self.hung_line.len() < 64 {
                self.hung_line.push(byte);
            }
        }
    }

    /// Whether the modem is hung.
    pub fn is_hung(&self) -> bool {
        self.hung
    }

    /// Raw bytes on the line between two responses (line noise, a crashing firmware).
    pub fn inject_garbage(&mut self, bytes: &[u8]) {
        if self.powered && !self.hung {
            self.urcs.push_back(bytes.to_vec());
        }
    }

    /// The next `count` sends fail with `+CMS ERROR: <code>`.
    pub fn fail_next_sends(&mut self, count: u32, code: u16) {
        self.failing_sends
            .extend(std::iter::repeat_n(Some(code), count as usize));
    }

    /// After `ok` more successful sends, the next one fails with `+CMS ERROR: <code>`.
    pub fn fail_send_after(&mut self, ok: u32, code: u16) {
        self.failing_sends
            .extend(std::iter::repeat_n(None, ok as usize));
        self.failing_sends.push_back(Some(code));
    }

    /// The next `count` stored messages get no `+CMTI` (the daemon's sweep must find them).
    pub fn drop_next_cmti(&mut self, count: u32) {
        self.cmti_to_drop = self.cmti_to_drop.saturating_add(count);
    }

    /// Locks the SIM behind `pin` now, as if a locked SIM had been inserted.
    pub fn require_pin(&mut self, pin: &str, now: Instant) {
        self.config.pin = Some(pin.to_string());
        self.pin_attempts_left = PIN_ATTEMPTS;
        self.sim_lock = SimLock::PinRequired;
        if self.powered {
            self.push_urc("+CPIN: SIM PIN");
        }
        self.refresh_registration(now);
    }

    /// The SIM lock state.
    pub fn sim_lock(&self) -> SimLock {
        self.sim_lock
    }

    /// Puts a message straight into a memory (a SIM filled before the daemon starts).
    pub fn preload(
        &mut self,
        memory: Memory,
        status: MessageStatus,
        pdu_hex: &str,
    ) -> Result<u32, StorageError> {
        let tpdu_len = tpdu_length_of(pdu_hex).ok_or(StorageError::InvalidIndex)?;
        self.store.store(memory, status, pdu_hex, tpdu_len)
    }

    // ----------------------------------------------------------------------------------------
    // Observation.

    /// Every stored message (`SM`, `ME`, `SR`).
    pub fn stored(&self) -> Vec<StoredMessage> {
        self.store.snapshot()
    }

    /// The last command lines received (up to 4096), oldest first.
    pub fn commands(&self) -> Vec<String> {
        self.commands.iter().cloned().collect()
    }

    /// Command lines received since creation.
    pub fn commands_total(&self) -> u64 {
        self.commands_total
    }

    /// PDUs accepted by the network from this modem (up to 4096), oldest first.
    pub fn sent_pdus(&self) -> Vec<SentPdu> {
        self.sent.iter().cloned().collect()
    }

    /// The current `+CNMI` setting.
    pub fn cnmi_setting(&self) -> CnmiSetting {
        self.settings.cnmi
    }

    /// Whether echo is on.
    pub fn echo_enabled(&self) -> bool {
        self.settings.echo
    }
}

fn done() -> CommandResult {
    Ok(Step::Done(Vec::new()))
}

fn lines<const N: usize>(texts: [&str; N]) -> CommandResult {
    Ok(Step::Done(
        texts.iter().map(|text| text.to_string()).collect(),
    ))
}

/// Read/set/test of a single small integer setting (`+CMEE`, `^CURC`).
fn small_setting(
    kind: &CommandKind,
    name: &str,
    value: &mut u8,
    max: u8,
    test_ranges: &str,
) -> CommandResult {
    match kind {
        CommandKind::Read => Ok(Step::Done(vec![format!("{name}: {value}")])),
        CommandKind::Test => Ok(Step::Done(vec![format!("{name}: {test_ranges}")])),
        CommandKind::Set(args) => match args.trim().parse::<u8>() {
            Ok(parsed) if parsed <= max => {
                *value = parsed;
                done()
            }
            _ => Err(Failure::Cme(50)),
        },
        CommandKind::Execute(_) => Err(Failure::Cme(50)),
    }
}

fn is_s_register(name: &str) -> bool {
    name.len() > 1
        && name.starts_with('S')
        && name.bytes().skip(1).all(|byte| byte.is_ascii_digit())
}

/// `,"<lac>","<ci>"` for `+CREG`/`+CGREG`, `,"<tac>","<ci>",7` for `+CEREG`.
fn location_suffix(name: &str) -> String {
    if name == "+CEREG" {
        ",\"1A2B\",\"01C3D4E5\",7".to_string()
    } else {
        ",\"1A2B\",\"01C3D4E5\"".to_string()
    }
}

fn cme_text(code: u16) -> Option<&'static str> {
    Some(match code {
        3 => "operation not allowed",
        4 => "operation not supported",
        10 => "SIM not inserted",
        11 => "SIM PIN required",
        12 => "SIM PUK required",
        13 => "SIM failure",
        14 => "SIM busy",
        16 => "incorrect password",
        30 => "no network service",
        50 => "incorrect parameters",
        100 => "unknown",
        _ => return None,
    })
}

fn cms_text(code: u16) -> Option<&'static str> {
    Some(match code {
        300 => "ME failure",
        302 => "operation not allowed",
        303 => "operation not supported",
        304 => "invalid PDU mode parameter",
        310 => "SIM not inserted",
        311 => "SIM PIN required",
        316 => "SIM PUK required",
        321 => "invalid memory index",
        322 => "memory full",
        330 => "SMSC address unknown",
        331 => "no network service",
        332 => "network timeout",
        340 => "no +CNMA acknowledgement expected",
        500 => "unknown error",
        _ => return None,
    })
}

/// Splits what follows `AT` into commands: extended ones (`+CMGF=0`, `^CURC=0`) run to the next
/// `;` outside quotes, basic ones (`E0`, `&F`, `S0=0`, `Z`) are a letter and their digits.
fn split_command_line(body: &str) -> Result<Vec<Command>, ()> {
    let chars: Vec<char> = body.chars().collect();
    let mut commands = Vec::new();
    let mut at = 0;
    while let Some(&current) = chars.get(at) {
        if current == ' ' || current == ';' {
            at += 1;
            continue;
        }
        if matches!(current, '+' | '^' | '$' | '%' | '*' | '#') {
            let start = at;
            let mut quoted = false;
            while let Some(&next) = chars.get(at) {
                if next == '"' {
                    quoted = !quoted;
                } else if next == ';' && !quoted {
                    break;
                }
                at += 1;
            }
            let text: String = chars.get(start..at).unwrap_or(&[]).iter().collect();
            commands.push(parse_extended(&text));
            continue;
        }
        if current == '&' {
            let letter = chars.get(at + 1).copied().ok_or(())?;
            at += 2;
            let digits = take_digits(&chars, &mut at);
            commands.push(Command {
                name: format!("&{}", letter.to_ascii_uppercase()),
                kind: CommandKind::Execute(digits),
            });
            continue;
        }
        if current.eq_ignore_ascii_case(&'S') && chars.get(at + 1).is_some_and(char::is_ascii_digit)
        {
            at += 1;
            let register = take_digits(&chars, &mut at);
            let name = format!("S{register}");
            let kind = match chars.get(at) {
                Some('?') => {
                    at += 1;
                    CommandKind::Read
                }
                Some('=') => {
                    at += 1;
                    CommandKind::Set(take_digits(&chars, &mut at))
                }
                _ => CommandKind::Execute(String::new()),
            };
            commands.push(Command { name, kind });
            continue;
        }
        if current.is_ascii_alphabetic() {
            at += 1;
            let digits = take_digits(&chars, &mut at);
            commands.push(Command {
                name: current.to_ascii_uppercase().to_string(),
                kind: CommandKind::Execute(digits),
            });
            continue;
        }
        return Err(());
    }
    Ok(commands)
}

fn take_digits(chars: &[char], at: &mut usize) -> String {
    let mut digits = String::new();
    while let Some(&next) = chars.get(*at) {
        if !next.is_ascii_digit() {
            break;
        }
        digits.push(next);
        *at += 1;
    }
    digits
}

fn parse_extended(text: &str) -> Command {
    let split = text.find(['=', '?']).unwrap_or(text.len());
    let (name, rest) = text.split_at(split);
    let name = name.trim().to_ascii_uppercase();
    let kind = if rest.is_empty() {
        CommandKind::Execute(String::new())
    } else if rest == "?" {
        CommandKind::Read
    } else if rest == "=?" {
        CommandKind::Test
    } else if let Some(arguments) = rest.strip_prefix('=') {
        CommandKind::Set(arguments.to_string())
    } else {
        // `AT+X?junk`: keep it as a set with unparseable arguments, which every handler refuses.
        CommandKind::Set(rest.to_string())
    };
    Command { name, kind }
}

/// Splits `"SM","ME",1` into `SM`, `ME`, `1` (commas inside quotes are kept).
fn split_arguments(arguments: &str) -> Vec<String> {
    let mut values = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    for character in arguments.chars() {
        match character {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                values.push(current.trim().to_string());
                current.clear();
            }
            _ => current.push(character),
        }
    }
    if !current.trim().is_empty() || !values.is_empty() {
        values.push(current.trim().to_string());
    }
    values
}

#[cfg(test)]
mod tests;
