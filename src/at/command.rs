//! Builders for the commands the modem driver sends.
//!
//! Builders return the command text without the terminating `\r` (the driver appends it
//! when writing, see [`to_wire`]) so that the same text can be handed to
//! [`AtParser::command_started`](crate::at::parser::AtParser::command_started).
//! Anything that comes from configuration (PIN, storage names) is validated: a stray
//! `"` or `\r` in a PIN must not turn into a second command on the serial line.

use std::fmt;

/// Rejected input for a command builder.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CommandError {
    /// PINs are 4 to 8 digits; PUKs are 8 digits (27.007 / 3GPP TS 31.101).
    #[error("a SIM {what} must be {min} to {max} digits")]
    InvalidCode {
        /// "PIN" or "PUK".
        what: &'static str,
        /// Minimum length.
        min: usize,
        /// Maximum length.
        max: usize,
    },
}

/// Terminates a command for the serial line.
pub fn to_wire(command: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(command.len() + 1);
    bytes.extend_from_slice(command.as_bytes());
    bytes.push(b'\r');
    bytes
}

/// Ctrl-Z: ends the PDU typed after the `> ` prompt and sends it.
pub const CTRL_Z: u8 = 0x1A;
/// ESC: abandons the PDU input after the `> ` prompt without sending.
pub const ESCAPE: u8 = 0x1B;

/// Plain commands the driver uses verbatim.
pub mod fixed {
    /// Attention; answers `OK` when the modem is alive.
    pub const AT: &str = "AT";
    /// Echo off (the parser copes with echo on, but off halves the traffic).
    pub const ECHO_OFF: &str = "ATE0";
    /// Numeric `+CME ERROR` codes (mapped by `sim_state_from_cme`).
    pub const CMEE_NUMERIC: &str = "AT+CMEE=1";
    /// PDU mode for SMS.
    pub const CMGF_PDU: &str = "AT+CMGF=0";
    /// SIM state query.
    pub const CPIN_QUERY: &str = "AT+CPIN?";
    /// Signal quality.
    pub const CSQ: &str = "AT+CSQ";
    /// Circuit-switched registration query.
    pub const CREG_QUERY: &str = "AT+CREG?";
    /// Packet registration query.
    pub const CGREG_QUERY: &str = "AT+CGREG?";
    /// EPS registration query.
    pub const CEREG_QUERY: &str = "AT+CEREG?";
    /// Registration URCs with location (`+CREG: <stat>,<lac>,<ci>`).
    pub const CREG_ENABLE_URC: &str = "AT+CREG=2";
    /// Operator query; long alphanumeric format is set with [`COPS_FORMAT_LONG`].
    pub const COPS_QUERY: &str = "AT+COPS?";
    /// Report the operator in long alphanumeric format.
    pub const COPS_FORMAT_LONG: &str = "AT+COPS=3,0";
    /// Own number(s) stored on the SIM.
    pub const CNUM: &str = "AT+CNUM";
    /// SMSC address.
    pub const CSCA_QUERY: &str = "AT+CSCA?";
    /// Supported storages.
    pub const CPMS_TEST: &str = "AT+CPMS=?";
    /// Current storages and usage.
    pub const CPMS_QUERY: &str = "AT+CPMS?";
    /// Supported new-message indication settings.
    pub const CNMI_TEST: &str = "AT+CNMI=?";
    /// Current new-message indication setting.
    pub const CNMI_QUERY: &str = "AT+CNMI?";
    /// Acknowledge a `+CMT`/`+CDS` routed directly (needed with `AT+CSMS=1`).
    pub const CNMA: &str = "AT+CNMA";
    /// Manufacturer.
    pub const CGMI: &str = "AT+CGMI";
    /// Model.
    pub const CGMM: &str = "AT+CGMM";
    /// Firmware revision.
    pub const CGMR: &str = "AT+CGMR";
    /// IMEI.
    pub const CGSN: &str = "AT+CGSN";
    /// IMSI.
    pub const CIMI: &str = "AT+CIMI";
    /// Registration URCs without location, circuit-switched (`+CREG: <stat>`).
    pub const CREG_URC_ON: &str = "AT+CREG=1";
    /// Registration URCs without location, packet-switched.
    pub const CGREG_URC_ON: &str = "AT+CGREG=1";
    /// Registration URCs without location, EPS (LTE).
    pub const CEREG_URC_ON: &str = "AT+CEREG=1";
    /// SMS service in use (`+CSMS: <service>,…`; service 1 needs `AT+CNMA` acks).
    pub const CSMS_QUERY: &str = "AT+CSMS?";
    /// Message services offered (`+CSMS: (0-1)`).
    pub const CSMS_TEST: &str = "AT+CSMS=?";
    /// Phase 2+ service: `+CMT`/`+CDS` must be acknowledged with `AT+CNMA`, and the network
    /// delivers again what is not.
    pub const CSMS_PHASE2PLUS: &str = "AT+CSMS=1";
    /// Phase 2 service: no acknowledgements.
    pub const CSMS_PHASE2: &str = "AT+CSMS=0";
    /// The explicit form of [`CNMA`] (`<n>` 0: same as omitted), which some firmwares
    /// want in PDU mode.
    pub const CNMA_ZERO: &str = "AT+CNMA=0";
    /// Full functionality with a modem reset: the last resort for a hung firmware.
    pub const CFUN_RESET: &str = "AT+CFUN=1,1";
    /// Generic ICCID read (vendors have their own, see `modem::vendor`).
    pub const CCID: &str = "AT+CCID";
    /// Huawei: stop periodic `^RSSI`/`^BOOT`/`^DSFLOWRPT` chatter.
    pub const HUAWEI_CURC_OFF: &str = "AT^CURC=0";
}

/// `AT+CMGS=<length>`: `tpdu_length` is the TPDU octet count, *without* the SMSC part.
pub fn cmgs(tpdu_length: usize) -> String {
    format!("AT+CMGS={tpdu_length}")
}

/// The bytes to write after the `> ` prompt: the PDU hex, then Ctrl-Z.
pub fn pdu_payload(pdu_hex: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(pdu_hex.len() + 1);
    bytes.extend_from_slice(pdu_hex.as_bytes());
    bytes.push(CTRL_Z);
    bytes
}

/// `AT+CMGR=<index>`: read one stored message.
pub fn cmgr(index: u32) -> String {
    format!("AT+CMGR={index}")
}

/// `AT+CMGD=<index>`: delete one stored message.
pub fn cmgd(index: u32) -> String {
    format!("AT+CMGD={index}")
}

/// `<stat>` filter of `AT+CMGL` in PDU mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFilter {
    /// 0: received, unread.
    ReceivedUnread = 0,
    /// 1: received, read.
    ReceivedRead = 1,
    /// 2: stored, unsent.
    StoredUnsent = 2,
    /// 3: stored, sent.
    StoredSent = 3,
    /// 4: everything (what the storage sweep uses).
    All = 4,
}

/// `AT+CMGL=<stat>`: list stored messages (PDU mode numeric filter).
pub fn cmgl(filter: ListFilter) -> String {
    format!("AT+CMGL={}", filter as u8)
}

/// `AT+CPIN="<pin>"`: the PIN quoted, as 27.007 specifies and some modems require.
pub fn cpin(pin: &str) -> Result<String, CommandError> {
    let pin = validated_code(pin, "PIN", 4, 8)?;
    Ok(format!("AT+CPIN=\"{pin}\""))
}

/// `AT+CPIN="<puk>","<new pin>"`: unblock with the PUK and set a new PIN.
pub fn cpin_unblock(puk: &str, new_pin: &str) -> Result<String, CommandError> {
    let puk = validated_code(puk, "PUK", 8, 8)?;
    let new_pin = validated_code(new_pin, "PIN", 4, 8)?;
    Ok(format!("AT+CPIN=\"{puk}\",\"{new_pin}\""))
}

fn validated_code<'a>(
    code: &'a str,
    what: &'static str,
    min: usize,
    max: usize,
) -> Result<&'a str, CommandError> {
    let code = code.trim();
    if (min..=max).contains(&code.len()) && code.bytes().all(|b| b.is_ascii_digit()) {
        Ok(code)
    } else {
        Err(CommandError::InvalidCode { what, min, max })
    }
}

/// One `AT+CNMI` setting. `None` parameters are left empty (keep the modem's current
/// value) or, when trailing, left out: some modems reject a fifth parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CnmiSetting {
    /// `<mode>`.
    pub mode: u8,
    /// `<mt>`.
    pub mt: u8,
    /// `<bm>`.
    pub bm: Option<u8>,
    /// `<ds>`.
    pub ds: Option<u8>,
    /// `<bfr>`.
    pub bfr: Option<u8>,
}

impl CnmiSetting {
    /// The `AT+CNMI=…` command for this setting.
    pub fn to_command(&self) -> String {
        self.to_string()
    }

    /// New SMS arrive as `+CMT` with their PDU (mt 2, or class 3 with mt 3) instead of
    /// being stored; with `AT+CSMS=1` each must be acknowledged with `AT+CNMA`.
    pub fn delivers_directly(&self) -> bool {
        matches!(self.mt, 2 | 3)
    }

    /// Status reports arrive as `+CDS` with their PDU (ds 1) instead of `+CDSI`.
    pub fn reports_directly(&self) -> bool {
        self.ds == Some(1)
    }
}

impl fmt::Display for CnmiSetting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AT+CNMI={},{}", self.mode, self.mt)?;
        let optional = [self.bm, self.ds, self.bfr];
        let present = optional
            .iter()
            .rposition(Option::is_some)
            .map_or(0, |last| last + 1);
        for value in optional.iter().take(present) {
            match value {
                Some(value) => write!(f, ",{value}")?,
                None => f.write_str(",")?,
            }
        }
        Ok(())
    }
}

/// `AT+CNMI=…` for a setting (see [`crate::at::response::choose_cnmi`] for the chain).
pub fn cnmi(setting: &CnmiSetting) -> String {
    setting.to_command()
}

/// `AT+CPMS="<mem1>"[,"<mem2>"[,"<mem3>"]]`. Storage names are two-to-four letter
/// codes; anything else is dropped to an empty string rather than sent.
pub fn cpms(mem1: &str, mem2: Option<&str>, mem3: Option<&str>) -> String {
    let clean = |name: &str| -> String {
        let name = name.trim().trim_matches('"');
        if !name.is_empty()
            && name.len() <= 8
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            name.to_ascii_uppercase()
        } else {
            String::new()
        }
    };
    let mut command = format!("AT+CPMS=\"{}\"", clean(mem1));
    for name in [mem2, mem3].into_iter().map_while(|name| name) {
        command.push_str(&format!(",\"{}\"", clean(name)));
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sms_commands() {
        assert_eq!(cmgs(23), "AT+CMGS=23");
        assert_eq!(cmgr(3), "AT+CMGR=3");
        assert_eq!(cmgd(7), "AT+CMGD=7");
        assert_eq!(cmgl(ListFilter::All), "AT+CMGL=4");
        assert_eq!(cmgl(ListFilter::ReceivedUnread), "AT+CMGL=0");
        assert_eq!(pdu_payload("00AB"), b"00AB\x1a".to_vec());
        assert_eq!(to_wire("AT"), b"AT\r".to_vec());
    }

    #[test]
    fn pin_is_quoted_and_validated() {
        assert_eq!(cpin("1234").as_deref(), Ok("AT+CPIN=\"1234\""));
        assert_eq!(cpin(" 12345678 ").as_deref(), Ok("AT+CPIN=\"12345678\""));
        assert!(cpin("12\"3").is_err());
        assert!(cpin("123").is_err());
        assert!(cpin("1234\rAT+CMGD=1").is_err());
        assert_eq!(
            cpin_unblock("12345678", "0000").as_deref(),
            Ok("AT+CPIN=\"12345678\",\"0000\"")
        );
        assert!(cpin_unblock("1234", "0000").is_err());
    }

    #[test]
    fn cnmi_formatting_drops_trailing_and_keeps_middle_gaps() {
        let full = CnmiSetting {
            mode: 2,
            mt: 1,
            bm: Some(0),
            ds: Some(2),
            bfr: Some(0),
        };
        assert_eq!(cnmi(&full), "AT+CNMI=2,1,0,2,0");
        let four = CnmiSetting { bfr: None, ..full };
        assert_eq!(four.to_command(), "AT+CNMI=2,1,0,2");
        let two = CnmiSetting {
            bm: None,
            ds: None,
            bfr: None,
            ..full
        };
        assert_eq!(two.to_command(), "AT+CNMI=2,1");
        let gap = CnmiSetting {
            bm: None,
            ds: Some(1),
            bfr: None,
            ..full
        };
        assert_eq!(gap.to_command(), "AT+CNMI=2,1,,1");
        assert!(gap.reports_directly());
        assert!(!full.delivers_directly());
    }

    #[test]
    fn cpms_quotes_and_sanitises() {
        assert_eq!(
            cpms("SM", Some("SM"), Some("SM")),
            "AT+CPMS=\"SM\",\"SM\",\"SM\""
        );
        assert_eq!(cpms("me", None, Some("SM")), "AT+CPMS=\"ME\"");
        assert_eq!(cpms("S\"M", Some("ME"), None), "AT+CPMS=\"\",\"ME\"");
    }
}
