//! Nordic nRF91 (nRF9160, nRF9151: LTE-M/NB-IoT).
//!
//! - Proprietary URCs start with `%` (`%CESQ`, `%XSIM`, `%MDMEV`); ignored.
//! - The SMS client registration is dropped now and then with an unsolicited
//!   `+CMS ERROR: 524`: the accepted `AT+CNMI` is sent again (the session does this for
//!   any unsolicited `+CMS ERROR`, harmless elsewhere).
//! - Messages are routed directly (`AT+CNMI=3,2,0,1`): `+CMT`/`+CDS` with their PDU, each
//!   acknowledged with `AT+CNMA` after the commit; `+CDS` PDUs come without the SMSC field.
//! - ICCID through `AT%XICCID`.

use crate::at::parser::Urc;

pub const STARTUP: &[&str] = &[];
pub const ICCID: &str = "AT%XICCID";
/// nRF91 acknowledges with `AT+CNMA=1` (RP-ACK; the nRF Connect SDK's SMS library sends
/// that form); the generic forms follow as fallbacks. Its SMS client needs the
/// acknowledgement whatever `AT+CSMS` says, and it has no store + `+CMTI` path to fall back
/// to (its transcript also shows `AT+CNMA` answered `ERROR` with the message delivered).
pub const DIRECT: super::DirectDelivery = super::DirectDelivery {
    allowed: true,
    acks: &[
        "AT+CNMA=1",
        crate::at::command::fixed::CNMA,
        crate::at::command::fixed::CNMA_ZERO,
    ],
    always_acks: true,
    falls_back: false,
};

/// Any `%…` line is Nordic's.
pub fn classify(prefix: &str, _payload: &str, line: &str) -> Option<Urc> {
    prefix
        .starts_with('%')
        .then(|| Urc::Other(line.to_string()))
}

#[cfg(test)]
mod tests {
    use super::super::transcripts::{parse_idle, urcs};
    use crate::at::parser::{CmError, Urc};

    #[test]
    fn transcript_urcs_classify() {
        let lines = urcs("nordic");
        let find = |prefix: &str| {
            let line = lines.iter().find(|l| l.starts_with(prefix)).expect(prefix);
            parse_idle(&line.replace("\\r\\n", "\r\n"))
        };
        assert!(matches!(find("%CESQ"), Urc::Other(_)));
        assert_eq!(find("+CMS ERROR"), Urc::CmsError(CmError::Code(524)));
        assert!(matches!(find("+CMT"), Urc::Cmt { .. }));
        assert!(matches!(find("+CDS"), Urc::Cds { .. }));
    }
}
