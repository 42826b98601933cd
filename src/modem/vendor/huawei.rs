//! Huawei (E-series dongles: E160, E1752, E3372, K3715).
//!
//! - Periodic `^RSSI`, `^MODE`, `^BOOT`, `^DSFLOWRPT` until `AT^CURC=0`; `^RSSI` still
//!   carries the signal (27.007 scale), the rest is ignored.
//! - Storage indices start at 0; unknown commands answer `COMMAND NOT SUPPORT` (a final
//!   result the parser knows); final results sometimes glued to the next line.
//! - ICCID through `AT^ICCID?`.
//! - Direct delivery: acknowledged with `AT+CNMA=0` first (see [`DIRECT`]).

use crate::at::command::fixed;
use crate::at::fields::split_fields;
use crate::at::parser::Urc;

/// Quiet the periodic chatter: it floods the port every few seconds otherwise.
pub const STARTUP: &[&str] = &[fixed::HUAWEI_CURC_OFF];
pub const ICCID: &str = "AT^ICCID?";
/// Some firmwares refuse the bare `AT+CNMA` in PDU mode and want `AT+CNMA=0`: that form
/// first, the bare one next; a modem that refuses both goes back to `+CMTI`.
pub const DIRECT: super::DirectDelivery = super::DirectDelivery {
    allowed: true,
    acks: &[fixed::CNMA_ZERO, fixed::CNMA],
    always_acks: false,
    falls_back: true,
};

/// `^RSSI`, `^BOOT`, `^MODE`; any other `^…` line is Huawei's and ignored.
pub fn classify(prefix: &str, payload: &str, line: &str) -> Option<Urc> {
    let other = || Urc::Other(line.to_string());
    let urc = match prefix {
        "^RSSI" => split_fields(payload)
            .first()
            .and_then(|field| field.as_u32())
            .and_then(|rssi| u8::try_from(rssi).ok())
            .map_or_else(other, Urc::HuaweiRssi),
        "^BOOT" => Urc::Boot,
        "^MODE" => Urc::Mode(payload.to_string()),
        _ if prefix.starts_with('^') => other(),
        _ => return None,
    };
    Some(urc)
}

#[cfg(test)]
mod tests {
    use super::super::transcripts::{answer, parse_idle, urcs};
    use super::super::Vendor;
    use crate::at::parser::Urc;

    #[test]
    fn transcripts_identify_huawei() {
        let cgmi = answer("huawei", "AT+CGMI").expect("a Huawei AT+CGMI answer");
        assert_eq!(Vendor::from_manufacturer(&cgmi), Vendor::Huawei);
        assert_eq!(Vendor::Huawei.iccid_command(), "AT^ICCID?");
        assert!(Vendor::Huawei.startup_commands().contains(&"AT^CURC=0"));
    }

    #[test]
    fn transcript_urcs_classify() {
        let lines = urcs("huawei");
        let find = |prefix: &str| {
            let line = lines.iter().find(|l| l.starts_with(prefix)).expect(prefix);
            parse_idle(line)
        };
        assert_eq!(find("^RSSI"), Urc::HuaweiRssi(99));
        assert_eq!(find("^BOOT"), Urc::Boot);
        assert_eq!(find("^MODE"), Urc::Mode("5,4".into()));
        assert!(matches!(find("^DSFLOWRPT"), Urc::Other(_)));
        assert!(matches!(find("+CMTI"), Urc::Cmti { index: 26, .. }));
    }
}
