//! Quectel (EC2x, EG9x, M35).
//!
//! - Boots with `RDY`, `+CFUN: 1`, `+CPIN: READY`, then `+QIND: SMS DONE` once the SMS
//!   subsystem is up (SMS commands fail with `+CMS ERROR` before it).
//! - URCs can go to any of its USB interfaces: `AT+QURCCFG="urcport","usbat"` keeps them on
//!   the AT port we read.
//! - ICCID through `AT+QCCID`.

use crate::at::parser::Urc;

/// URCs on the AT port, not the modem's other interfaces.
pub const STARTUP: &[&str] = &["AT+QURCCFG=\"urcport\",\"usbat\""];
pub const ICCID: &str = "AT+QCCID";

/// `+QIND: SMS DONE` (the SMS subsystem is up), other `+QIND`, and Quectel's SIM and
/// toolkit chatter.
pub fn classify(prefix: &str, payload: &str, line: &str) -> Option<Urc> {
    let urc = match prefix {
        "+QIND" => {
            if payload
                .trim_matches('"')
                .trim()
                .eq_ignore_ascii_case("SMS DONE")
            {
                Urc::SmsDone
            } else {
                Urc::Qind(payload.to_string())
            }
        }
        "+QUSIM" | "+QSTK" | "+QIURC" => Urc::Other(line.to_string()),
        _ => return None,
    };
    Some(urc)
}

/// `RDY` at boot.
pub fn classify_word(upper: &str, line: &str) -> Option<Urc> {
    (upper == "RDY").then(|| Urc::Other(line.to_string()))
}

#[cfg(test)]
mod tests {
    use super::super::transcripts::{models, parse_idle};
    use super::super::Vendor;
    use crate::at::parser::Urc;

    #[test]
    fn sms_done_and_other_qind() {
        assert_eq!(parse_idle("+QIND: SMS DONE"), Urc::SmsDone);
        assert_eq!(parse_idle("+QIND: \"SMS DONE\""), Urc::SmsDone);
        assert_eq!(
            parse_idle("+QIND: \"csq\",20,99"),
            Urc::Qind("\"csq\",20,99".into())
        );
        assert!(matches!(parse_idle("RDY"), Urc::Other(_)));
    }

    #[test]
    fn transcripts_have_a_quectel_and_it_is_detected() {
        assert!(!models("quectel").is_empty());
        assert_eq!(Vendor::from_manufacturer("Quectel"), Vendor::Quectel);
        assert_eq!(Vendor::Quectel.iccid_command(), "AT+QCCID");
    }
}
