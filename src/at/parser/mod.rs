//! Sans-IO framing of the byte stream a modem sends: lines, the `> ` prompt, final
//! results, command responses and unsolicited result codes (URCs).
//!
//! The driver owns the serial port. It tells the parser which command it is about to
//! write ([`AtParser::command_started`]), feeds whatever bytes arrive
//! ([`AtParser::push`]), and pulls classified events ([`AtParser::next_event`]).
//! Bytes are classified as they are pushed, so the events do not depend on how the
//! stream was chunked, nor on when the driver gets round to pulling them.
//!
//! Classification rules, in order, for each complete line:
//! 1. A hex line right after a `+CMT:`/`+CDS:` header is that URC's PDU.
//! 2. With a command pending: a final result code ends it (call-progress results such
//!    as `NO CARRIER` only end dial commands; otherwise a call ended on its own and the
//!    line is a URC); its echo (exact, truncated or slightly garbled) is dropped; a line carrying the command's own prefix
//!    (`+CMGR:` for `AT+CMGR=3`) is a response line; a recognised URC is a URC; any
//!    other line (`huawei`, a PDU, `+BEARTYPE:` for `AT+ZPAS?`) is a response line.
//! 3. With no command pending everything is a URC: classified when recognised,
//!    [`Urc::Other`] otherwise.
//!
//! Line noise (NUL, other control bytes, 0xFE/0xFF) is dropped byte by byte; a line that
//! is not UTF-8 is still read as text when it is mostly printable ASCII (Latin-1
//! operator names), and reported as [`Urc::Other`] when it is binary junk; a line
//! longer than [`MAX_LINE_LEN`] is dropped whole. Memory stays bounded by that limit
//! plus the events not yet pulled.
//!
//! The parser ends the command itself on the final result (so that a URC arriving in
//! the same read is already a URC); [`AtParser::command_finished`] is for abandoning a
//! command, e.g. after a timeout.

use std::collections::VecDeque;

use crate::at::fields::{
    is_hex, payload_after, split_fields, split_prefix, starts_with_ignore_case,
};
use crate::at::response::{parse_registration, Registration};
use crate::modem::vendor;

/// Longest line kept. The longest legitimate line seen is a Huawei `+CLAC` answer of
/// about 1.3 KB; anything longer is noise and is dropped up to its line end.
pub const MAX_LINE_LEN: usize = 4096;

const CTRL_Z: u8 = 0x1A;
const ESCAPE: u8 = 0x1B;

/// What the parser recognised in the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AtEvent {
    /// An information line of the current command's response (e.g. `+CMGR: 0,,24`, a
    /// PDU hex line, or `huawei` for `AT+CGMI`), without its line terminator and with
    /// its own spacing preserved (`" MULTIBAND  900E  1800 "`).
    Response(String),
    /// Final result of the current command; the parser is idle again afterwards.
    Final(FinalResult),
    /// The `> ` prompt after `AT+CMGS=<len>`: write the PDU and Ctrl-Z now. A prompt
    /// outside such a command is reported too; answer it with ESC.
    Prompt,
    /// An unsolicited result code.
    Urc(Urc),
}

/// Final result codes that end a command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FinalResult {
    /// `OK`.
    Ok,
    /// `ERROR` (also Huawei's `TOO MANY PARAMETERS`).
    Error,
    /// `+CME ERROR: <err>` (equipment/SIM errors, 27.007 §9.2).
    CmeError(CmError),
    /// `+CMS ERROR: <err>` (SMS errors, 27.005 §3.2.5).
    CmsError(CmError),
    /// `NO CARRIER`.
    NoCarrier,
    /// `BUSY`.
    Busy,
    /// `NO ANSWER`.
    NoAnswer,
    /// `NO DIALTONE`.
    NoDialtone,
    /// Huawei/ZTE `COMMAND NOT SUPPORT` for unknown commands.
    CommandNotSupport,
}

impl FinalResult {
    /// True for `OK`.
    pub fn is_ok(&self) -> bool {
        matches!(self, FinalResult::Ok)
    }
}

/// The argument of `+CME ERROR` / `+CMS ERROR`: numeric (`AT+CMEE=1`) or verbose
/// (`AT+CMEE=2`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CmError {
    /// `+CME ERROR: 10`.
    Code(u16),
    /// `+CME ERROR: SIM not inserted`.
    Text(String),
}

impl CmError {
    /// The numeric code, when the modem gave one.
    pub fn code(&self) -> Option<u16> {
        match self {
            CmError::Code(code) => Some(*code),
            CmError::Text(_) => None,
        }
    }

    fn parse(argument: &str) -> Self {
        let argument = argument.trim();
        let digits_end = argument
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(argument.len());
        match argument
            .get(..digits_end)
            .and_then(|d| d.parse::<u16>().ok())
        {
            Some(code) => CmError::Code(code),
            None => CmError::Text(argument.trim_matches('"').to_string()),
        }
    }
}

/// An unsolicited result code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Urc {
    /// `+CMTI: "SM",3`: a new SMS was stored at `index` in `storage` (also `"ME"`,
    /// `"MT"`, unquoted, or with extra trailing fields as in MMS-push notifications).
    Cmti {
        /// Storage name without quotes.
        storage: String,
        /// Storage index.
        index: u32,
    },
    /// `+CMT: [<alpha>],<length>` followed by the PDU line: an SMS routed directly.
    Cmt {
        /// Phone-book name of the sender, when the modem adds one (not the address).
        alpha: Option<String>,
        /// Announced TPDU length (not trusted).
        length: Option<u32>,
        /// The PDU hex line (SMSC prefix included).
        pdu: String,
    },
    /// `+CDS: <length>` followed by the PDU line: a status report routed directly.
    Cds {
        /// Announced TPDU length (not trusted).
        length: Option<u32>,
        /// The PDU hex line. Some modems (Nordic) omit the SMSC prefix here.
        pdu: String,
    },
    /// `+CDSI: "SR",0`: a status report was stored.
    Cdsi {
        /// Storage name without quotes.
        storage: String,
        /// Storage index.
        index: u32,
    },
    /// `+CREG`/`+CGREG`/`+CEREG`/`+C5GREG` registration change.
    Registration(Registration),
    /// Huawei `^RSSI:<rssi>` (27.007 scale, 99 unknown).
    HuaweiRssi(u8),
    /// Huawei `^BOOT:…` keep-alive.
    Boot,
    /// Huawei `^MODE:<sys_mode>,<sys_submode>` (payload verbatim).
    Mode(String),
    /// The SMS subsystem became ready (`SMS DONE`, `SMS Ready`, `+QIND: SMS DONE`).
    SmsDone,
    /// Quectel `+QIND: …` other than SMS DONE (payload verbatim).
    Qind(String),
    /// Incoming call (`RING`, `+CRING: VOICE`).
    Ring,
    /// Caller id `+CLIP: "<number>",<type>,…`.
    Clip {
        /// The number as printed.
        number: String,
    },
    /// `+CMS ERROR` while no command was pending (nRF91 `+CMS ERROR: 524`: the SMS
    /// client registration was dropped).
    CmsError(CmError),
    /// Recognised as unsolicited but not interesting (`^DSFLOWRPT`, `+ZPASR`, `%CESQ`,
    /// `+CUSD`, `+WIND`…), a stray line, or undecodable bytes. Trimmed, verbatim.
    Other(String),
}

/// Parses a final result code line (`OK`, `ERROR`, `+CME ERROR: 10`, …).
pub fn parse_final(line: &str) -> Option<FinalResult> {
    let line = line.trim();
    if let Some(argument) = payload_after(line, "+CME ERROR") {
        return Some(FinalResult::CmeError(CmError::parse(argument)));
    }
    if let Some(argument) = payload_after(line, "+CMS ERROR") {
        return Some(FinalResult::CmsError(CmError::parse(argument)));
    }
    if line.len() > 24 {
        return None;
    }
    let result = match line.to_ascii_uppercase().as_str() {
        "OK" => FinalResult::Ok,
        "ERROR" | "TOO MANY PARAMETERS" => FinalResult::Error,
        "NO CARRIER" => FinalResult::NoCarrier,
        "BUSY" => FinalResult::Busy,
        "NO ANSWER" => FinalResult::NoAnswer,
        "NO DIALTONE" | "NO DIAL TONE" => FinalResult::NoDialtone,
        "COMMAND NOT SUPPORT" | "COMMAND NOT SUPPORTED" => FinalResult::CommandNotSupport,
        _ => return None,
    };
    Some(result)
}

/// A final result glued to the next line without a line break, as captured from a
/// Huawei stream: `+CME ERROR: 25+CNUM: …`, `ERROR+CNUM: …`.
fn split_glued_final(line: &str) -> Option<(FinalResult, &str)> {
    let glued = |rest: &str| rest.starts_with(['+', '^']);
    for keyword in ["OK", "ERROR"] {
        if let Some(rest) = line.strip_prefix(keyword) {
            if glued(rest) {
                return Some((parse_final(keyword)?, rest));
            }
        }
    }
    for prefix in ["+CME ERROR", "+CMS ERROR"] {
        let Some(argument) = payload_after(line, prefix) else {
            continue;
        };
        let digits_end = argument.find(|c: char| !c.is_ascii_digit())?;
        let (digits, rest) = (argument.get(..digits_end)?, argument.get(digits_end..)?);
        if !digits.is_empty() && glued(rest) {
            let error = CmError::parse(digits);
            let result = if prefix == "+CME ERROR" {
                FinalResult::CmeError(error)
            } else {
                FinalResult::CmsError(error)
            };
            return Some((result, rest));
        }
    }
    None
}

/// Standard URC prefixes that are recognised but carry nothing the gateway acts on.
/// Vendors' own codes (`^RSSI`, `+QIND`, `+ZPASR`, `%CESQ`…) are classified by their family
/// files in `modem::vendor`, asked for any prefix not known here.
const UNINTERESTING_URC_PREFIXES: &[&str] = &[
    "+CUSD", "+CIEV", "+CGEV", "+CTZV", "+CTZE", "+CTZEU", "+NITZ", "+CPIN", "+CFUN", "+CSQN",
    "+CUSATP", "+STIN", "+CSCON", "+CEDRXP", "+CRTDCP", "+CNEC", "+ECSQ", "+CCWA", "+CSSI",
    "+CSSU", "+CCCM", "+CBM", "+CBMI", "+CPINR", "+CMGS", "+CMGR", "+CMGL",
];

/// Plain-text URCs seen during calls or power-down (only checked while a command is
/// pending; with none pending every line is a URC anyway). Vendors' boot words (`RDY`,
/// `SMS DONE`) are in `modem::vendor`.
const UNINTERESTING_URC_WORDS: &[&str] = &[
    "NORMAL POWER DOWN",
    "POWERED DOWN",
    "HANGUP:",
    "CONNECT",
    "+PBREADY",
];

/// What a line that looks unsolicited turned out to be.
enum Unsolicited {
    Complete(Urc),
    /// A `+CMT`/`+CDS` header whose PDU comes on the next line.
    Header(TwoLineHeader),
}

#[derive(Debug, Clone)]
enum TwoLineKind {
    Cmt {
        alpha: Option<String>,
        length: Option<u32>,
    },
    Cds {
        length: Option<u32>,
    },
}

#[derive(Debug, Clone)]
struct TwoLineHeader {
    kind: TwoLineKind,
    /// The header as received, reported as [`Urc::Other`] if no PDU follows.
    line: String,
}

impl TwoLineHeader {
    fn complete(self, pdu: &str) -> Urc {
        let pdu = pdu.to_string();
        match self.kind {
            TwoLineKind::Cmt { alpha, length } => Urc::Cmt { alpha, length, pdu },
            TwoLineKind::Cds { length } => Urc::Cds { length, pdu },
        }
    }
}

/// Recognises a URC line; `None` when the line is not a known URC.
fn classify_unsolicited(line: &str) -> Option<Unsolicited> {
    let upper = line.to_ascii_uppercase();
    if upper == "RING" {
        return Some(Unsolicited::Complete(Urc::Ring));
    }
    if let Some(urc) = vendor::classify_word(&upper, line) {
        return Some(Unsolicited::Complete(urc));
    }
    if UNINTERESTING_URC_WORDS
        .iter()
        .any(|word| upper.starts_with(word))
    {
        return Some(Unsolicited::Complete(Urc::Other(line.to_string())));
    }
    let (prefix, payload) = split_prefix(line)?;
    let prefix = prefix.to_ascii_uppercase();
    let other = || Unsolicited::Complete(Urc::Other(line.to_string()));
    let complete = Unsolicited::Complete;
    let classified = match prefix.as_str() {
        "+CMTI" | "+CDSI" => match storage_and_index(payload) {
            Some((storage, index)) if prefix == "+CMTI" => complete(Urc::Cmti { storage, index }),
            Some((storage, index)) => complete(Urc::Cdsi { storage, index }),
            None => other(),
        },
        "+CMT" => {
            let fields = split_fields(payload);
            let length = fields.last().and_then(|field| field.as_u32());
            let alpha = if fields.len() >= 2 {
                fields
                    .first()
                    .map(|field| field.value())
                    .filter(|alpha| !alpha.is_empty())
                    .map(str::to_string)
            } else {
                None
            };
            Unsolicited::Header(TwoLineHeader {
                kind: TwoLineKind::Cmt { alpha, length },
                line: line.to_string(),
            })
        }
        "+CDS" => {
            let fields = split_fields(payload);
            match fields.as_slice() {
                [only] if only.as_u32().is_some() => Unsolicited::Header(TwoLineHeader {
                    kind: TwoLineKind::Cds {
                        length: only.as_u32(),
                    },
                    line: line.to_string(),
                }),
                // Text-mode status report: everything is on this one line.
                _ => other(),
            }
        }
        "+CREG" | "+CGREG" | "+CEREG" | "+C5GREG" => match parse_registration(line, false) {
            Some(registration) => complete(Urc::Registration(registration)),
            None => other(),
        },
        "+CRING" => complete(Urc::Ring),
        "+CLIP" => match split_fields(payload).first().map(|field| field.value()) {
            Some(number) if !number.is_empty() => complete(Urc::Clip {
                number: number.to_string(),
            }),
            _ => other(),
        },
        _ if UNINTERESTING_URC_PREFIXES.contains(&prefix.as_str()) => other(),
        _ => return vendor::classify_urc(&prefix, payload, line).map(Unsolicited::Complete),
    };
    Some(classified)
}

/// `"SM",3` / `SM,3` / `"MT",3,"MMS PUSH"` → `("SM", 3)`.
fn storage_and_index(payload: &str) -> Option<(String, u32)> {
    let fields = split_fields(payload);
    let storage = fields.first()?.value();
    let index = fields.get(1)?.as_u32()?;
    Some((storage.to_string(), index))
}

/// The command the driver is waiting on.
#[derive(Debug, Clone)]
struct PendingCommand {
    text: String,
    /// Upper-case response prefix (`+CMGR` for `AT+CMGR=3`), when the command has one.
    prefix: Option<String>,
    /// `AT+CMGS=`/`AT+CMGW=`/`AT+CMGC=`: a `> ` prompt and a payload echo may come.
    expects_prompt: bool,
    prompt_seen: bool,
    awaiting_echo: bool,
    info_seen: bool,
    /// `ATD…`/`ATA`/`ATO`: call-progress results (`NO CARRIER`, `BUSY`…) end it.
    /// For any other command they are a call ending on its own, i.e. unsolicited.
    is_dial: bool,
}

impl PendingCommand {
    fn new(command: &str) -> Self {
        let text = command.trim().to_string();
        let prefix = command_prefix(&text);
        let expects_prompt = prefix
            .as_deref()
            .is_some_and(|prefix| matches!(prefix, "+CMGS" | "+CMGW" | "+CMGC"))
            && text.contains('=')
            && !text.ends_with("=?");
        let is_dial = is_dial_command(&text);
        PendingCommand {
            text,
            prefix,
            expects_prompt,
            prompt_seen: false,
            awaiting_echo: true,
            info_seen: false,
            is_dial,
        }
    }
}

/// `ATD+1555;`, `ATA`, `ATO`: commands whose outcome is a call-progress result.
fn is_dial_command(command: &str) -> bool {
    let Some(body) = starts_with_ignore_case(command, "AT")
        .then(|| command.get(2..))
        .flatten()
    else {
        return false;
    };
    body.starts_with(['D', 'd'])
        || ["A", "O", "O0"]
            .iter()
            .any(|dial| body.eq_ignore_ascii_case(dial))
}

/// `AT+CMGR=3` → `+CMGR`; `AT^SYSINFO` → `^SYSINFO`; `ATI4`/`ATE0` → none.
fn command_prefix(command: &str) -> Option<String> {
    let body = if starts_with_ignore_case(command, "AT") {
        command.get(2..)?
    } else {
        command
    };
    if !body.starts_with(['+', '^', '%', '$', '*', '#']) {
        return None;
    }
    let end = body
        .find(|c: char| matches!(c, '=' | '?' | ';') || c.is_whitespace())
        .unwrap_or(body.len());
    let prefix = body.get(..end)?;
    (prefix.len() >= 2).then(|| prefix.to_ascii_uppercase())
}

/// Is `line` the echo of `command`, possibly damaged?
///
/// Echo can lose its first bytes (the modem was still waking up), be cut short, or
/// have a byte or two corrupted at a bad baud-rate moment. Only checked before the
/// first response line, so a real answer is never mistaken for it; the tolerance
/// (one edit per five characters) is far below the distance between a command and
/// any answer it gets.
fn is_echo(line: &str, command: &str) -> bool {
    let normalise = |text: &str| -> Vec<u8> {
        text.bytes()
            .filter(u8::is_ascii_graphic)
            .map(|b| b.to_ascii_uppercase())
            .collect()
    };
    let (line, command) = (normalise(line), normalise(command));
    if line.is_empty() || command.is_empty() {
        return false;
    }
    if line == command {
        return true;
    }
    if line.len() >= 4 && command.ends_with(&line) && line.len() * 2 >= command.len() {
        return true;
    }
    if line.len() >= 3 && line.starts_with(b"AT") && command.starts_with(&line) {
        return true;
    }
    command.len() >= 5 && within_edit_distance(&line, &command, (command.len() / 5).max(1))
}

/// Levenshtein distance of `a` and `b` is at most `limit` (bails out early on length).
fn within_edit_distance(a: &[u8], b: &[u8], limit: usize) -> bool {
    if a.len().abs_diff(b.len()) > limit {
        return false;
    }
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, &ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()] <= limit
}

/// What to do with one complete, non-empty line.
enum Decision {
    Drop,
    Final(FinalResult),
    Unsolicited(Unsolicited),
    Response,
}

/// Classifies a line while `command` is pending (rule 2 of the module docs).
fn decide_for_command(command: &mut PendingCommand, line: &str) -> Decision {
    if command.expects_prompt && !command.info_seen && is_hex(line) {
        // Echo of the PDU typed after the prompt (its Ctrl-Z got lost).
        return Decision::Drop;
    }
    if let Some(result) = parse_final(line) {
        let call_progress = matches!(
            result,
            FinalResult::NoCarrier
                | FinalResult::Busy
                | FinalResult::NoAnswer
                | FinalResult::NoDialtone
        );
        if call_progress && !command.is_dial {
            return Decision::Unsolicited(Unsolicited::Complete(Urc::Other(line.to_string())));
        }
        return Decision::Final(result);
    }
    if command.awaiting_echo && is_echo(line, &command.text) {
        command.awaiting_echo = false;
        return Decision::Drop;
    }
    let own_prefix = command
        .prefix
        .as_deref()
        .is_some_and(|prefix| payload_after(line, prefix).is_some());
    if !own_prefix {
        if let Some(unsolicited) = classify_unsolicited(line) {
            return Decision::Unsolicited(unsolicited);
        }
    }
    command.info_seen = true;
    command.awaiting_echo = false;
    Decision::Response
}

/// Classifies a line while no command is pending (rule 3 of the module docs).
fn decide_idle(line: &str) -> Decision {
    let urc = match parse_final(line) {
        Some(FinalResult::CmsError(error)) => Urc::CmsError(error),
        Some(_) => Urc::Other(line.to_string()),
        None => match classify_unsolicited(line) {
            Some(unsolicited) => return Decision::Unsolicited(unsolicited),
            None => Urc::Other(line.to_string()),
        },
    };
    Decision::Unsolicited(Unsolicited::Complete(urc))
}

/// At most one byte in eight outside printable ASCII: text with a few 8-bit characters,
/// as opposed to binary noise (where about two bytes in three are outside it).
fn mostly_text(bytes: &[u8]) -> bool {
    let printable = bytes
        .iter()
        .filter(|b| b.is_ascii_graphic() || **b == b' ')
        .count();
    printable * 8 >= bytes.len() * 7 && bytes.iter().any(u8::is_ascii_alphanumeric)
}

/// How a line ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LineEnd {
    /// CR or LF (any combination; empty lines are skipped).
    Newline,
    /// Ctrl-Z or ESC: the echo of a PDU we typed after the prompt.
    Payload,
}

/// Sans-IO AT stream parser; see the [module documentation](self).
#[derive(Debug, Default)]
pub struct AtParser {
    line: Vec<u8>,
    /// The current line exceeded [`MAX_LINE_LEN`]; drop bytes up to its end.
    overflowed: bool,
    events: VecDeque<AtEvent>,
    command: Option<PendingCommand>,
    two_line: Option<TwoLineHeader>,
    /// A prompt `>` was just reported; its following space is part of it.
    swallow_prompt_space: bool,
    discarded_lines: u64,
}

impl AtParser {
    /// A parser with no command pending.
    pub fn new() -> Self {
        Self::default()
    }

    /// The driver is about to write `command` (e.g. `"AT+CMGR=3"`, without `\r`). Lets
    /// the parser drop its echo and tell the command's response lines from URCs.
    /// Replaces any command still pending.
    pub fn command_started(&mut self, command: &str) {
        self.command = Some(PendingCommand::new(command));
    }

    /// Abandons the pending command (e.g. after a timeout); lines after this are URCs.
    /// Harmless when the final result already ended it.
    pub fn command_finished(&mut self) {
        self.command = None;
    }

    /// True between [`command_started`](Self::command_started) and its final result.
    pub fn is_command_pending(&self) -> bool {
        self.command.is_some()
    }

    /// Forgets all state and queued events (after the port was reopened).
    pub fn reset(&mut self) {
        *self = Self::default();
    }

    /// Feeds bytes as they arrived; any chunking gives the same events.
    pub fn push(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.push_byte(byte);
        }
    }

    /// The next event, in stream order.
    pub fn next_event(&mut self) -> Option<AtEvent> {
        self.events.pop_front()
    }

    /// Bytes of an unfinished line held back (at most [`MAX_LINE_LEN`]).
    pub fn buffered_len(&self) -> usize {
        self.line.len()
    }

    /// Lines dropped for exceeding [`MAX_LINE_LEN`] (for diagnostics).
    pub fn discarded_lines(&self) -> u64 {
        self.discarded_lines
    }

    fn prompt_expected(&self) -> bool {
        self.command
            .as_ref()
            .is_some_and(|command| command.expects_prompt && !command.prompt_seen)
    }

    fn push_byte(&mut self, byte: u8) {
        if std::mem::take(&mut self.swallow_prompt_space) && byte == b' ' {
            return;
        }
        match byte {
            b'\r' | b'\n' => self.end_line(LineEnd::Newline),
            CTRL_Z | ESCAPE => self.end_line(LineEnd::Payload),
            b'>' if self.line.is_empty() && !self.overflowed && self.prompt_expected() => {
                self.emit_prompt();
                self.swallow_prompt_space = true;
            }
            // "> " at the start of a line when no prompt was expected (late prompt after
            // a timeout): still a prompt, the driver cancels it with ESC.
            b' ' if self.line == b">" => {
                self.line.clear();
                self.emit_prompt();
            }
            // NUL, other C0 controls, DEL, and bytes that never occur in UTF-8: line
            // noise from a modem resetting or a wrong baud rate. Tab is kept.
            0x00..=0x08 | 0x0B | 0x0C | 0x0E..=0x1F | 0x7F | 0xFE | 0xFF => {}
            _ => self.store(byte),
        }
    }

    fn store(&mut self, byte: u8) {
        if self.overflowed {
            return;
        }
        if self.line.len() >= MAX_LINE_LEN {
            self.overflowed = true;
            self.line.clear();
            return;
        }
        self.line.push(byte);
    }

    fn emit_prompt(&mut self) {
        if let Some(command) = self.command.as_mut() {
            command.prompt_seen = true;
        }
        self.events.push_back(AtEvent::Prompt);
    }

    fn end_line(&mut self, end: LineEnd) {
        if self.overflowed {
            self.overflowed = false;
            self.line.clear();
            self.discarded_lines += 1;
            self.abandon_two_line();
            return;
        }
        if self.line.is_empty() {
            return;
        }
        let bytes = std::mem::take(&mut self.line);
        if end == LineEnd::Payload {
            return;
        }
        match String::from_utf8(bytes) {
            Ok(text) => self.handle_line(&text),
            Err(error) => {
                let bytes = error.as_bytes();
                let text = String::from_utf8_lossy(bytes);
                if mostly_text(bytes) {
                    // Text in a legacy 8-bit charset (an operator name in Latin-1):
                    // classify it normally, the odd characters replaced.
                    self.handle_line(&text);
                } else {
                    self.abandon_two_line();
                    self.events
                        .push_back(AtEvent::Urc(Urc::Other(text.trim().to_string())));
                }
            }
        }
    }

    /// A `+CMT`/`+CDS` header not followed by its PDU is reported as [`Urc::Other`].
    fn abandon_two_line(&mut self) {
        if let Some(header) = self.two_line.take() {
            self.events.push_back(AtEvent::Urc(Urc::Other(header.line)));
        }
    }

    fn handle_line(&mut self, text: &str) {
        let line = text.trim();
        if line.is_empty() {
            return;
        }
        if let Some(header) = self.two_line.take() {
            if is_hex(line) {
                self.events.push_back(AtEvent::Urc(header.complete(line)));
                return;
            }
            self.events.push_back(AtEvent::Urc(Urc::Other(header.line)));
        }
        if self.command.is_some() {
            if let Some((result, rest)) = split_glued_final(line) {
                self.finish(result);
                // The command is over, so this cannot recurse more than once.
                self.handle_line(rest);
                return;
            }
        }
        let decision = match self.command.as_mut() {
            Some(command) => decide_for_command(command, line),
            None => decide_idle(line),
        };
        match decision {
            Decision::Drop => {}
            Decision::Final(result) => self.finish(result),
            Decision::Unsolicited(unsolicited) => self.emit_unsolicited(unsolicited),
            Decision::Response => self.events.push_back(AtEvent::Response(text.to_string())),
        }
    }

    fn emit_unsolicited(&mut self, unsolicited: Unsolicited) {
        match unsolicited {
            Unsolicited::Complete(urc) => self.events.push_back(AtEvent::Urc(urc)),
            Unsolicited::Header(header) => self.two_line = Some(header),
        }
    }

    fn finish(&mut self, result: FinalResult) {
        self.command = None;
        self.events.push_back(AtEvent::Final(result));
    }
}

#[cfg(test)]
mod tests;
