//! SIMCom (SIM800, SIM7600).
//!
//! - Boots with `RDY`, `+CPIN: READY`, `Call Ready`, `SMS Ready` / `SMS DONE`.
//! - Network time as `*PSUTTZ`/`+PSUTTZ`; ignored.
//! - ICCID through `AT+CICCID` (SIM7600) — `AT+CCID` on older firmware answers too.

use crate::at::parser::Urc;

pub const STARTUP: &[&str] = &[];
pub const ICCID: &str = "AT+CICCID";

/// SIMCom's network-time URCs.
pub fn classify(prefix: &str, _payload: &str, line: &str) -> Option<Urc> {
    matches!(prefix, "*PSUTTZ" | "+PSUTTZ" | "+SIMCARD").then(|| Urc::Other(line.to_string()))
}

/// `SMS DONE` / `SMS Ready` (the SMS subsystem is up), `Call Ready`, `PB DONE`.
pub fn classify_word(upper: &str, line: &str) -> Option<Urc> {
    match upper {
        "SMS DONE" | "SMS READY" => Some(Urc::SmsDone),
        "CALL READY" | "PB DONE" => Some(Urc::Other(line.to_string())),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::super::transcripts::parse_idle;
    use super::super::Vendor;
    use crate::at::parser::Urc;

    #[test]
    fn boot_words() {
        assert_eq!(parse_idle("SMS DONE"), Urc::SmsDone);
        assert_eq!(parse_idle("SMS Ready"), Urc::SmsDone);
        assert!(matches!(parse_idle("Call Ready"), Urc::Other(_)));
        assert!(matches!(
            parse_idle("*PSUTTZ: 2024,1,1,0,0,0,\"+0\",0"),
            Urc::Other(_)
        ));
    }

    #[test]
    fn detected_with_its_iccid_command() {
        assert_eq!(
            Vendor::from_manufacturer("SIMCOM INCORPORATED"),
            Vendor::Simcom
        );
        assert_eq!(Vendor::Simcom.iccid_command(), "AT+CICCID");
    }
}
