//! Every other modem: plain 3GPP TS 27.005/27.007, plus the odd older family whose only
//! habit is a URC to ignore (Wavecom `+WIND`).

use crate::at::command::fixed;
use crate::at::parser::Urc;

pub const STARTUP: &[&str] = &[];
pub const ICCID: &str = fixed::CCID;
/// Phase 2+ modems route `+CMT` and take the bare `AT+CNMA` (27.005 §3.4.4).
pub const DIRECT: super::DirectDelivery = super::DirectDelivery {
    allowed: true,
    acks: super::ACKS,
    always_acks: false,
    falls_back: true,
};

/// Wavecom's `+WIND` indications.
pub fn classify(prefix: &str, _payload: &str, line: &str) -> Option<Urc> {
    (prefix == "+WIND").then(|| Urc::Other(line.to_string()))
}

#[cfg(test)]
mod tests {
    use super::super::transcripts::{parse_idle, urcs};
    use crate::at::parser::Urc;

    #[test]
    fn wavecom_indications_are_ignored() {
        for line in urcs("wavecom") {
            assert!(matches!(parse_idle(&line), Urc::Other(_)), "{line}");
        }
    }
}
