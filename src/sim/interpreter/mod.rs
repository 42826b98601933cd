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

use super::config::{CnmiRanges, CnmiSetting, SimModemConfig};
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
            cmee: config.personality.family().boot_cmee,
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
    acks_refused: bool,
    acks_withheld_on: bool,
    acks_withheld: u32,
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
            acks_refused: false,
            acks_withheld_on: false,
            acks_withheld: 0,
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
        let family = self.config.personality.family();
        for urc in family.boot_urcs {
            self.push_urc(urc);
        }
        if family.announces_sim {
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
        if self.acks_withheld_on && upper.starts_with("AT+CNMA") {
            self.acks_withheld += 1;
            return;
        }
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
                    for urc in self.config.personality.family().before_prompt {
                        self.output
                            .extend_from_slice(format!("\r\n{urc}\r\n").as_bytes());
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
}

mod commands;
mod faults;
mod network;
mod parse;

use parse::*;

#[cfg(test)]
mod tests;
