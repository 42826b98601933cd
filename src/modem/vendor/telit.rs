//! Telit (HE910, GE/GL family).
//!
//! - `+CMGR` headers carry an empty quoted alpha (`+CMGR: 0,"",50`), read by the generic
//!   reader; `+CREG` with quoted LAC/CI and AcT.
//! - ICCID through `AT#CCID`.

pub const STARTUP: &[&str] = &[];
pub const ICCID: &str = "AT#CCID";

#[cfg(test)]
mod tests {
    use super::super::transcripts::answer;
    use crate::at::response::{parse_cmgr, parse_registration, RegStatus};

    #[test]
    fn transcript_answers_read() {
        let creg = answer("telit", "AT+CREG?").expect("a Telit +CREG");
        let reg = parse_registration(&creg, true).expect("registration");
        assert_eq!(reg.status, RegStatus::Home);
        let header = answer("telit", "AT+CMGR=<i>").expect("a Telit +CMGR");
        let read = parse_cmgr(&[header.as_str(), "0791"]).expect("read");
        assert_eq!(read.stat, Some(0));
    }
}
