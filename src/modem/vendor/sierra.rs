//! Sierra Wireless (312U, Mercury, MC/EM series).
//!
//! - `+CREG` with unquoted LAC/CI in both the solicited and the unsolicited form.
//! - ICCID through `AT!ICCID?`.

pub const STARTUP: &[&str] = &[];
pub const ICCID: &str = "AT!ICCID?";

#[cfg(test)]
mod tests {
    use super::super::transcripts::urcs;
    use crate::at::parser::{AtEvent, AtParser, Urc};
    use crate::at::response::RegStatus;

    #[test]
    fn unquoted_registration_urc() {
        let line = urcs("sierra").into_iter().next().expect("a Sierra URC");
        let mut parser = AtParser::new();
        parser.push(format!("\r\n{line}\r\n").as_bytes());
        match parser.next_event() {
            Some(AtEvent::Urc(Urc::Registration(reg))) => assert_eq!(reg.status, RegStatus::Home),
            other => panic!("{other:?}"),
        }
    }
}
