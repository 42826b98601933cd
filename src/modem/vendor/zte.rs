//! ZTE (MF626, K3565-Z, Qualcomm-built M6280).
//!
//! - `+ZPASR`/`+ZDONR` arrive *between* `AT+CMGS=` and the `> ` prompt (python-gsmmodem
//!   issue 11): they are URCs, never the command's answer.
//! - No direct `+CMT` routing in `AT+CNMI=?`; unknown commands answer `COMMAND NOT SUPPORT`.
//! - ICCID through `AT+ZGETICCID`.

use crate::at::parser::Urc;

pub const STARTUP: &[&str] = &[];
pub const ICCID: &str = "AT+ZGETICCID";
/// No direct delivery: the models we know offer no `<mt>` 2, and firmwares that do are
/// reported to refuse `AT+CNMA` in PDU mode; store + `+CMTI` + read is what works.
pub const DIRECT: super::DirectDelivery = super::DirectDelivery {
    allowed: false,
    acks: super::ACKS,
    always_acks: false,
    falls_back: true,
};

/// ZTE's radio-access, operator and SIM URCs.
pub fn classify(prefix: &str, _payload: &str, line: &str) -> Option<Urc> {
    matches!(prefix, "+ZPASR" | "+ZDONR" | "+ZUSIMR" | "+ZEND")
        .then(|| Urc::Other(line.to_string()))
}

#[cfg(test)]
mod tests {
    use super::super::transcripts::{answer, urcs};
    use super::super::Vendor;
    use crate::at::parser::{AtEvent, AtParser, FinalResult, Urc};

    #[test]
    fn transcripts_identify_zte() {
        let cgmi = answer("zte", "AT+CGMI").expect("a ZTE AT+CGMI answer");
        assert_eq!(Vendor::from_manufacturer(&cgmi), Vendor::Zte);
    }

    /// The transcript's URCs between `AT+CMGS=` and the prompt stay URCs.
    #[test]
    fn urcs_before_the_prompt_are_not_the_answer() {
        let mut parser = AtParser::new();
        parser.command_started("AT+CMGS=23");
        let mut stream = String::new();
        for urc in urcs("zte") {
            stream.push_str(&format!("\r\n{urc}\r\n"));
        }
        stream.push_str("> ");
        parser.push(stream.as_bytes());
        let events: Vec<AtEvent> = std::iter::from_fn(|| parser.next_event()).collect();
        assert_eq!(events.last(), Some(&AtEvent::Prompt));
        assert!(events[..events.len() - 1]
            .iter()
            .all(|e| matches!(e, AtEvent::Urc(Urc::Other(_)))));
        parser.push(b"\r\n+CMGS: 7\r\n\r\nOK\r\n");
        let rest: Vec<AtEvent> = std::iter::from_fn(|| parser.next_event()).collect();
        assert_eq!(rest.last(), Some(&AtEvent::Final(FinalResult::Ok)));
    }
}
