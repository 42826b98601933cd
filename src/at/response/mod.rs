//! Reading the fields of command responses: pure functions over the `Response` lines
//! the [`AtParser`](crate::at::parser::AtParser) emitted for one command.
//!
//! Every reader is tolerant in the ways real modems require (optional space after the
//! colon, optional quotes, leading zeros, missing or extra fields) and returns `None`
//! rather than guessing when the essential field is absent. Lengths announced by the
//! modem (`+CMGR: 0,,23`) are reported but never trusted: many modems print them wrong.

use crate::at::fields::{
    is_hex, payload_after, payload_optional_prefix, split_fields, split_prefix, Field,
};
use crate::at::parser::{parse_final, CmError, FinalResult};

mod policy;
pub use policy::*;

/// One message read from modem storage by `AT+CMGR` or `AT+CMGL` in PDU mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPdu {
    /// Storage index (from `+CMGL`; `+CMGR` does not report it, the caller knows it).
    pub index: Option<u32>,
    /// `<stat>`: 0 received unread, 1 received read, 2 stored unsent, 3 stored sent.
    pub stat: Option<u8>,
    /// The TPDU length the modem announced. Informational only: often wrong.
    pub length: Option<u32>,
    /// The PDU in hex exactly as printed (SMSC prefix included), case preserved.
    pub pdu: String,
}

/// Reads the message reference from `+CMGS: <mr>[,<scts>|<ackpdu>]`.
///
/// TP-MR is one octet; a value outside 0..=255 means the line is not what we think.
pub fn parse_cmgs(line: &str) -> Option<u8> {
    let payload = payload_optional_prefix(line, "+CMGS")?;
    let fields = split_fields(payload);
    let reference = fields.first()?.as_u32()?;
    u8::try_from(reference).ok()
}

/// Reads an `AT+CMGR=<i>` answer (header line, then the PDU line).
///
/// Accepts every header variant seen in the wild: `<stat>,[<alpha>],<len>`,
/// `<stat>,<len>`, `<len>`, `,,<len>`, `<a>,<b>,,<len>`. Lines before the header (an
/// echo, stray text) and a trailing final result are ignored. Returns `None` when
/// there is no header, no PDU line (empty slot), or the PDU line is not hex.
pub fn parse_cmgr<S: AsRef<str>>(lines: &[S]) -> Option<StoredPdu> {
    let mut lines = lines.iter().map(AsRef::as_ref);
    let header = lines
        .by_ref()
        .find_map(|line| payload_after(line, "+CMGR"))?;
    let fields = split_fields(header);
    let (stat, length) = cmgr_header_fields(&fields);
    let pdu_line = lines.map(str::trim).find(|line| !line.is_empty())?;
    let pdu = clean_pdu_line(pdu_line)?;
    Some(StoredPdu {
        index: None,
        stat,
        length,
        pdu,
    })
}

/// Picks `<stat>` and `<length>` out of the many `+CMGR` header shapes.
fn cmgr_header_fields(fields: &[Field<'_>]) -> (Option<u8>, Option<u32>) {
    let stat_of = |field: Option<&Field<'_>>| {
        field
            .and_then(Field::as_u32)
            .and_then(|value| u8::try_from(value).ok())
    };
    let length = fields.last().and_then(Field::as_u32);
    match fields.len() {
        0 => (None, None),
        1 => (None, length),
        2 | 3 => (stat_of(fields.first()), length),
        // `<a>,<b>,,<len>`: some phones put the index first, others the stat; a stored
        // message's stat is 0..=3, so take the first field that can be one.
        _ => {
            let stat = [fields.first(), fields.get(1)]
                .into_iter()
                .filter_map(stat_of)
                .find(|&stat| stat <= 3);
            (stat, length)
        }
    }
}

/// A PDU line as printed, minus whitespace and stray quotes (one gammu dump ends its PDU
/// with `"`). Must be non-empty hex; an odd digit count (seen from a Pantech) is still
/// returned so that the PDU decoder, not this reader, reports the message as malformed.
fn clean_pdu_line(line: &str) -> Option<String> {
    let text = line.trim().trim_matches('"').trim();
    is_hex(text).then(|| text.to_string())
}

/// Reads an `AT+CMGL=<stat>` listing: pairs of `+CMGL: <index>,<stat>,[<alpha>],<len>`
/// header and PDU line (`<index>,<stat>,<len>` without alpha is accepted too).
///
/// Entries whose header has no index or that are not followed by a hex PDU line are
/// skipped; the rest of the listing is still returned.
pub fn parse_cmgl<S: AsRef<str>>(lines: &[S]) -> Vec<StoredPdu> {
    struct Header {
        index: Option<u32>,
        stat: Option<u8>,
        length: Option<u32>,
    }
    let mut entries = Vec::new();
    let mut header: Option<Header> = None;
    for line in lines.iter().map(AsRef::as_ref) {
        if let Some(payload) = payload_after(line, "+CMGL") {
            let fields = split_fields(payload);
            header = Some(Header {
                index: fields.first().and_then(Field::as_u32),
                stat: fields
                    .get(1)
                    .and_then(Field::as_u32)
                    .and_then(|value| u8::try_from(value).ok()),
                length: if fields.len() >= 3 {
                    fields.last().and_then(Field::as_u32)
                } else {
                    None
                },
            });
            continue;
        }
        if line.trim().is_empty() {
            continue;
        }
        if let Some(current) = header.take() {
            if let (Some(index), Some(pdu)) = (current.index, clean_pdu_line(line)) {
                entries.push(StoredPdu {
                    index: Some(index),
                    stat: current.stat,
                    length: current.length,
                    pdu,
                });
            }
        }
    }
    entries
}

/// Reads `+CSQ: <rssi>,<ber>` (raw values; 99 means unknown). See [`rssi_to_dbm`].
pub fn parse_csq(line: &str) -> Option<(u8, u8)> {
    let payload = payload_optional_prefix(line, "+CSQ")?;
    let fields = split_fields(payload);
    let rssi = u8::try_from(fields.first()?.as_u32()?).ok()?;
    let ber = u8::try_from(fields.get(1)?.as_u32()?).ok()?;
    Some((rssi, ber))
}

/// Converts a 27.007 `<rssi>` (also Huawei `^RSSI`) to dBm: 0 is -113 dBm or less,
/// 31 is -51 dBm or more; 99 (unknown) and out-of-range values give `None`.
pub fn rssi_to_dbm(rssi: u8) -> Option<i16> {
    (rssi <= 31).then(|| -113 + 2 * i16::from(rssi))
}

/// Which registration report a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegKind {
    /// `+CREG`: circuit-switched (what SMS over GSM/UMTS needs).
    Creg,
    /// `+CGREG`: GPRS/packet domain.
    Cgreg,
    /// `+CEREG`: EPS (LTE); SMS over SGs/IMS on LTE-only modems.
    Cereg,
    /// `+C5GREG`: 5G system.
    C5greg,
}

/// 27.007 `<stat>` of `+CREG`/`+CGREG`/`+CEREG`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RegStatus {
    /// 0: not registered, not searching.
    NotRegistered,
    /// 1: registered, home network.
    Home,
    /// 2: not registered, searching.
    Searching,
    /// 3: registration denied.
    Denied,
    /// 4: unknown (also used for codes this crate does not know).
    Unknown,
    /// 5: registered, roaming.
    Roaming,
    /// 6: registered for SMS only, home network.
    HomeSmsOnly,
    /// 7: registered for SMS only, roaming.
    RoamingSmsOnly,
    /// 8: attached for emergency bearer services only.
    EmergencyOnly,
    /// 9: registered for "CSFB not preferred", home network.
    HomeCsfbNotPreferred,
    /// 10: registered for "CSFB not preferred", roaming.
    RoamingCsfbNotPreferred,
}

impl RegStatus {
    /// Maps a `<stat>` code; codes outside 0..=10 are reported as [`RegStatus::Unknown`]
    /// so that a newer modem never makes the whole line unreadable.
    pub fn from_code(code: u32) -> Self {
        match code {
            0 => RegStatus::NotRegistered,
            1 => RegStatus::Home,
            2 => RegStatus::Searching,
            3 => RegStatus::Denied,
            5 => RegStatus::Roaming,
            6 => RegStatus::HomeSmsOnly,
            7 => RegStatus::RoamingSmsOnly,
            8 => RegStatus::EmergencyOnly,
            9 => RegStatus::HomeCsfbNotPreferred,
            10 => RegStatus::RoamingCsfbNotPreferred,
            _ => RegStatus::Unknown,
        }
    }

    /// The 27.007 code.
    pub fn code(self) -> u8 {
        match self {
            RegStatus::NotRegistered => 0,
            RegStatus::Home => 1,
            RegStatus::Searching => 2,
            RegStatus::Denied => 3,
            RegStatus::Unknown => 4,
            RegStatus::Roaming => 5,
            RegStatus::HomeSmsOnly => 6,
            RegStatus::RoamingSmsOnly => 7,
            RegStatus::EmergencyOnly => 8,
            RegStatus::HomeCsfbNotPreferred => 9,
            RegStatus::RoamingCsfbNotPreferred => 10,
        }
    }

    /// Registered in a way that lets SMS flow (SMS-only registrations count).
    pub fn is_registered(self) -> bool {
        matches!(
            self,
            RegStatus::Home
                | RegStatus::Roaming
                | RegStatus::HomeSmsOnly
                | RegStatus::RoamingSmsOnly
                | RegStatus::HomeCsfbNotPreferred
                | RegStatus::RoamingCsfbNotPreferred
        )
    }

    /// Registered on a visited network.
    pub fn is_roaming(self) -> bool {
        matches!(
            self,
            RegStatus::Roaming | RegStatus::RoamingSmsOnly | RegStatus::RoamingCsfbNotPreferred
        )
    }
}

/// A registration report, solicited (`AT+CREG?`) or unsolicited.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    /// Which report this was.
    pub kind: RegKind,
    /// Registration state.
    pub status: RegStatus,
    /// Location/tracking area code as upper-case hex without quotes (e.g. `"8BE3"`).
    pub lac: Option<String>,
    /// Cell id as upper-case hex without quotes (e.g. `"00002BAF"`).
    pub ci: Option<String>,
    /// 27.007 `<AcT>` code (0 GSM, 2 UTRAN, 3 EDGE, 7 E-UTRAN, 11 NR…) when reported.
    pub act: Option<u8>,
}

impl Registration {
    /// The LAC/TAC as a number.
    pub fn lac_value(&self) -> Option<u64> {
        self.lac
            .as_deref()
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
    }

    /// The cell id as a number (NR cell ids are 36 bits, hence `u64`).
    pub fn ci_value(&self) -> Option<u64> {
        self.ci
            .as_deref()
            .and_then(|hex| u64::from_str_radix(hex, 16).ok())
    }
}

/// Reads a `+CREG`/`+CGREG`/`+CEREG`/`+C5GREG` line (the first non-empty line of `text`).
///
/// The solicited form is `<n>,<stat>[,<lac>,<ci>[,<act>…]]`, the unsolicited one
/// `<stat>[,<lac>,<ci>[,<act>…]]`, but modems mix them up (the Sony-Ericsson MD400
/// sends `<n>` in unsolicited reports). Like ModemManager, the layout is decided from
/// the line itself first and from `solicited` only when the line is ambiguous:
/// a quoted second field is a LAC (so no `<n>`); a quoted third field is a LAC (so
/// there is an `<n>`); a second field that cannot be a `<stat>` (`84CD`, `0001`, empty)
/// means no `<n>`; otherwise the field count and the shape of the last field decide.
pub fn parse_registration(text: &str, solicited: bool) -> Option<Registration> {
    let line = text
        .split(['\r', '\n'])
        .map(str::trim)
        .find(|line| !line.is_empty())?;
    let (prefix, payload) = split_prefix(line)?;
    let kind = match prefix.to_ascii_uppercase().as_str() {
        "+CREG" => RegKind::Creg,
        "+CGREG" => RegKind::Cgreg,
        "+CEREG" => RegKind::Cereg,
        "+C5GREG" => RegKind::C5greg,
        _ => return None,
    };
    let fields = split_fields(payload);
    let stat_index = usize::from(registration_has_n(&fields, solicited));
    let status = RegStatus::from_code(fields.get(stat_index)?.as_u32()?);
    let location = fields.get(stat_index + 1..).unwrap_or(&[]);
    let (lac, ci, act) = registration_location(location);
    Some(Registration {
        kind,
        status,
        lac,
        ci,
        act,
    })
}

/// Could this field be a `<stat>` (or `<n>`)? Small decimal, at most 3 digits ("001").
fn is_stat_like(field: &Field<'_>) -> bool {
    !field.quoted && field.value().len() <= 3 && field.as_u32().is_some_and(|value| value <= 11)
}

/// Could this field be an `<AcT>`? One or two decimal digits.
fn is_act_like(field: &Field<'_>) -> bool {
    !field.quoted && field.value().len() <= 3 && field.as_u32().is_some_and(|value| value <= 13)
}

/// Decides whether the line starts with `<n>` (see [`parse_registration`]).
fn registration_has_n(fields: &[Field<'_>], solicited: bool) -> bool {
    let (Some(second), count) = (fields.get(1), fields.len()) else {
        return false;
    };
    if second.quoted {
        return false;
    }
    if fields.get(2).is_some_and(|third| third.quoted) {
        return true;
    }
    if !is_stat_like(second) {
        return false;
    }
    if solicited {
        return true;
    }
    match count {
        2 => true,
        3 => false,
        // `<stat>,<lac>,<ci>,<act>` ends in a small AcT; `<n>,<stat>,<lac>,<ci>` in a CI.
        4 => !fields.get(3).is_some_and(is_act_like),
        _ => true,
    }
}

/// Reads LAC, CI and AcT from the fields after `<stat>`.
///
/// Novatel LTE modems put an extra short field between TAC and CI
/// (`1F00, 20 ,79D903 ,7`); it is recognised by its shape and skipped.
fn registration_location(fields: &[Field<'_>]) -> (Option<String>, Option<String>, Option<u8>) {
    let lac = fields.first().and_then(hex_identifier);
    let novatel_extra = fields.len() >= 4
        && fields
            .get(1)
            .is_some_and(|extra| !extra.quoted && extra.value().len() <= 2)
        && fields.get(2).is_some_and(|ci| ci.value().len() >= 3)
        && fields.get(3).is_some_and(is_act_like);
    let (ci_field, act_field) = if novatel_extra {
        (fields.get(2), fields.get(3))
    } else {
        (fields.get(1), fields.get(2))
    };
    let ci = ci_field.and_then(hex_identifier);
    let act = act_field
        .filter(|field| is_act_like(field))
        .and_then(Field::as_u32)
        .and_then(|value| u8::try_from(value).ok());
    (lac, ci, act)
}

/// A LAC/CI field as upper-case hex. Quotes and spaces are dropped; when spaces split
/// the field (`  0 5`, Qualcomm Gobi) only the first token counts, as in ModemManager.
fn hex_identifier(field: &Field<'_>) -> Option<String> {
    let token = field.value().split_whitespace().next()?;
    (is_hex(token) && token.len() <= 16).then(|| token.to_ascii_uppercase())
}

/// What the SIM (or the modem's view of it) is waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SimState {
    /// No PIN needed; SMS commands will work.
    Ready,
    /// `SIM PIN`: send the PIN.
    PinRequired,
    /// `SIM PUK`: the PIN was blocked; needs the PUK (never guessed automatically).
    PukRequired,
    /// `SIM PIN2`.
    Pin2Required,
    /// `SIM PUK2`.
    Puk2Required,
    /// A phone/network personalisation lock (`PH-SIM PIN`, `PH-NET PIN`…), verbatim.
    DeviceLocked(String),
    /// No SIM in the slot (`+CME ERROR: 10`, `+CPIN: NOT INSERTED`).
    NotInserted,
    /// SIM failure or wrong SIM (`+CME ERROR: 13`/`15`).
    Failure,
    /// SIM still initialising (`+CME ERROR: 14`, `+CPIN: NOT READY`): ask again later.
    Busy,
    /// Any other answer, verbatim.
    Unknown(String),
}

/// Reads `+CPIN: <code>` (`READY`, `SIM PIN`, `SIM PUK`, …).
///
/// A missing SIM usually comes back as a final `+CME ERROR: 10` instead of an
/// information line; map those with [`sim_state_from_final`].
pub fn parse_cpin(line: &str) -> Option<SimState> {
    let payload = payload_optional_prefix(line, "+CPIN")?;
    let code = payload
        .trim_matches('"')
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase();
    let state = match code.as_str() {
        "" => return None,
        "READY" => SimState::Ready,
        "SIM PIN" => SimState::PinRequired,
        "SIM PUK" => SimState::PukRequired,
        "SIM PIN2" => SimState::Pin2Required,
        "SIM PUK2" => SimState::Puk2Required,
        "NOT INSERTED" | "SIM NOT INSERTED" | "NO SIM" | "SIM REMOVED" => SimState::NotInserted,
        "NOT READY" | "SIM BUSY" | "BUSY" => SimState::Busy,
        "SIM FAILURE" | "SIM WRONG" => SimState::Failure,
        other if other.starts_with("PH-") || other.starts_with("PH ") => {
            SimState::DeviceLocked(other.to_string())
        }
        other => SimState::Unknown(other.to_string()),
    };
    Some(state)
}

/// Maps a `+CME ERROR` that describes the SIM (27.007 §9.2) to a [`SimState`].
pub fn sim_state_from_cme(error: &CmError) -> Option<SimState> {
    match error {
        CmError::Code(code) => match code {
            5 => Some(SimState::DeviceLocked("PH-SIM PIN".to_string())),
            10 => Some(SimState::NotInserted),
            11 => Some(SimState::PinRequired),
            12 => Some(SimState::PukRequired),
            13 | 15 => Some(SimState::Failure),
            14 => Some(SimState::Busy),
            17 => Some(SimState::Pin2Required),
            18 => Some(SimState::Puk2Required),
            _ => None,
        },
        CmError::Text(text) => sim_state_from_text(text),
    }
}

/// Maps a `+CMS ERROR` that describes the SIM (27.005 §3.2.5: 310..=318).
pub fn sim_state_from_cms(error: &CmError) -> Option<SimState> {
    match error {
        CmError::Code(code) => match code {
            310 => Some(SimState::NotInserted),
            311 => Some(SimState::PinRequired),
            312 => Some(SimState::DeviceLocked("PH-SIM PIN".to_string())),
            313 | 315 => Some(SimState::Failure),
            314 => Some(SimState::Busy),
            316 => Some(SimState::PukRequired),
            317 => Some(SimState::Pin2Required),
            318 => Some(SimState::Puk2Required),
            _ => None,
        },
        CmError::Text(text) => sim_state_from_text(text),
    }
}

/// Maps any final result that describes the SIM to a [`SimState`].
pub fn sim_state_from_final(result: &FinalResult) -> Option<SimState> {
    match result {
        FinalResult::CmeError(error) => sim_state_from_cme(error),
        FinalResult::CmsError(error) => sim_state_from_cms(error),
        _ => None,
    }
}

/// Verbose (`AT+CMEE=2`) error texts; wording varies by vendor, so match loosely.
fn sim_state_from_text(text: &str) -> Option<SimState> {
    let text = text.to_ascii_lowercase();
    if text.contains("not inserted") || text.contains("no sim") {
        Some(SimState::NotInserted)
    } else if text.contains("puk2") {
        Some(SimState::Puk2Required)
    } else if text.contains("pin2") {
        Some(SimState::Pin2Required)
    } else if text.contains("ph-sim") {
        Some(SimState::DeviceLocked("PH-SIM PIN".to_string()))
    } else if text.contains("sim puk") {
        Some(SimState::PukRequired)
    } else if text.contains("sim pin") {
        Some(SimState::PinRequired)
    } else if text.contains("sim busy") {
        Some(SimState::Busy)
    } else if text.contains("sim failure") || text.contains("sim wrong") {
        Some(SimState::Failure)
    } else {
        None
    }
}

/// Reads the subscriber number from `+CNUM: [<alpha>],<number>,<type>` lines; the first
/// non-empty number wins. A national-looking number with type 145 gets its `+`.
pub fn parse_cnum<S: AsRef<str>>(lines: &[S]) -> Option<String> {
    lines.iter().find_map(|line| {
        let payload = payload_after(line.as_ref(), "+CNUM")?;
        let fields = split_fields(payload);
        let number = fields.get(1)?.value();
        let type_of_address = fields.get(2).and_then(Field::as_u32);
        normalise_number(number, type_of_address)
    })
}

/// Reads the SMSC address from `+CSCA: <sca>,<tosca>`; also the UCS-2 hex form a modem
/// prints after `AT+CSCS="UCS2"` (`002B0037…`).
pub fn parse_csca(line: &str) -> Option<String> {
    let payload = payload_optional_prefix(line, "+CSCA")?;
    let fields = split_fields(payload);
    let raw = fields.first()?.value();
    let type_of_address = fields.get(1).and_then(Field::as_u32);
    let decoded = decode_ucs2_dial_string(raw);
    normalise_number(decoded.as_deref().unwrap_or(raw), type_of_address)
}

/// Decodes UCS-2 hex when every character is a dial-string character; else `None`.
fn decode_ucs2_dial_string(raw: &str) -> Option<String> {
    if raw.len() < 8 || raw.len() % 4 != 0 || !is_hex(raw) {
        return None;
    }
    let mut text = String::new();
    for index in (0..raw.len()).step_by(4) {
        let unit = u16::from_str_radix(raw.get(index..index + 4)?, 16).ok()?;
        let c = char::from_u32(u32::from(unit))?;
        if !(c.is_ascii_digit() || matches!(c, '+' | '*' | '#')) {
            return None;
        }
        text.push(c);
    }
    Some(text)
}

fn normalise_number(number: &str, type_of_address: Option<u32>) -> Option<String> {
    let number = number.trim();
    if number.is_empty() {
        return None;
    }
    if type_of_address == Some(145) && !number.starts_with('+') {
        Some(format!("+{number}"))
    } else {
        Some(number.to_string())
    }
}

/// Reads the operator name from `+COPS: <mode>[,<format>,<oper>[,<act>]]`; `None` when
/// no operator is selected (`+COPS: 0`).
pub fn parse_cops(line: &str) -> Option<String> {
    let payload = payload_optional_prefix(line, "+COPS")?;
    let fields = split_fields(payload);
    let operator = fields.get(2)?.value();
    (!operator.is_empty()).then(|| operator.to_string())
}

/// Reads an identity answer (`AT+CGMI`, `+CGMM`, `+CGMR`, `+CGSN`, `+CIMI`): bare lines
/// or lines prefixed `+CGMI: ` / `+GMI: ` etc. Quotes and padding are removed;
/// several lines (Nokia's multi-line revision) are joined with a space.
pub fn parse_identity<S: AsRef<str>>(lines: &[S]) -> Option<String> {
    const PREFIXES: &[&str] = &[
        "+CGMI", "+CGMM", "+CGMR", "+CGSN", "+CIMI", "+GMI", "+GMM", "+GMR", "+GSN",
    ];
    let parts: Vec<&str> = lines
        .iter()
        .map(|line| line.as_ref().trim())
        .filter(|line| parse_final(line).is_none())
        .map(|line| {
            PREFIXES
                .iter()
                .find_map(|prefix| payload_after(line, prefix))
                .unwrap_or(line)
        })
        .map(|text| text.trim_matches('"').trim())
        .filter(|text| !text.is_empty())
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

#[cfg(test)]
mod tests;
