//! Unit tests of the module above.
use super::*;

fn events(parser: &mut AtParser) -> Vec<AtEvent> {
    std::iter::from_fn(|| parser.next_event()).collect()
}

fn run(command: Option<&str>, stream: &[u8]) -> Vec<AtEvent> {
    let mut parser = AtParser::new();
    if let Some(command) = command {
        parser.command_started(command);
    }
    parser.push(stream);
    events(&mut parser)
}

fn response(text: &str) -> AtEvent {
    AtEvent::Response(text.to_string())
}

#[test]
fn finals() {
    assert_eq!(parse_final("OK"), Some(FinalResult::Ok));
    assert_eq!(parse_final(" ERROR "), Some(FinalResult::Error));
    assert_eq!(
        parse_final("+CME ERROR: 10"),
        Some(FinalResult::CmeError(CmError::Code(10)))
    );
    assert_eq!(
        parse_final("+CME ERROR: SIM not inserted"),
        Some(FinalResult::CmeError(CmError::Text(
            "SIM not inserted".into()
        )))
    );
    assert_eq!(
        parse_final("+CMS ERROR:330"),
        Some(FinalResult::CmsError(CmError::Code(330)))
    );
    assert_eq!(
        parse_final("COMMAND NOT SUPPORT"),
        Some(FinalResult::CommandNotSupport)
    );
    assert_eq!(parse_final("OKAY"), None);
    assert_eq!(parse_final("+CMGS: 1"), None);
}

#[test]
fn echo_variants() {
    assert!(is_echo("AT+CMGR=3", "AT+CMGR=3"));
    assert!(is_echo("at+cmgr=3", "AT+CMGR=3"));
    assert!(is_echo("T+CMGR=3", "AT+CMGR=3"));
    assert!(is_echo("AT+CMG", "AT+CMGR=3"));
    assert!(is_echo("AT+CMHR=3", "AT+CMGR=3"));
    assert!(!is_echo("+CMGR: 3", "AT+CMGR=3"));
    assert!(!is_echo("huawei", "AT+CGMI"));
    assert!(!is_echo("111111111111111", "AT+CIMI"));
    assert!(!is_echo("+CSQ: 18,99", "AT+CSQ"));
}

#[test]
fn prefixes() {
    assert_eq!(command_prefix("AT+CMGR=3").as_deref(), Some("+CMGR"));
    assert_eq!(command_prefix("at+creg?").as_deref(), Some("+CREG"));
    assert_eq!(command_prefix("AT^SYSINFO").as_deref(), Some("^SYSINFO"));
    assert_eq!(command_prefix("ATI4"), None);
    assert_eq!(command_prefix("AT"), None);
    assert_eq!(command_prefix("AT+"), None);
}

#[test]
fn echo_dropped_and_response_kept_verbatim() {
    let got = run(
        Some("AT+CGMM"),
        b"AT+CGMM\r\r\n MULTIBAND  900E  1800 \r\n\r\nOK\r\n",
    );
    assert_eq!(
        got,
        vec![
            response(" MULTIBAND  900E  1800 "),
            AtEvent::Final(FinalResult::Ok)
        ]
    );
}

#[test]
fn garbled_echo_is_dropped() {
    let got = run(
        Some("AT+CMGR=3"),
        b"\x00\xffA\x13T+CMGR=3\r\r\n+CMGR: 0,,2\r\n00AB\r\nOK\r\n",
    );
    assert_eq!(
        got,
        vec![
            response("+CMGR: 0,,2"),
            response("00AB"),
            AtEvent::Final(FinalResult::Ok)
        ]
    );
}

#[test]
fn prompt_after_echo_and_zte_urcs_then_payload_echo() {
    let mut parser = AtParser::new();
    parser.command_started("AT+CMGS=23");
    parser.push(b"AT+CMGS=23\r\r\n+ZDONR: \"METEOR\",272,3,\"CS_ONLY\",\"ROAM_OFF\"\r\n");
    parser.push(b"\r\n+ZPASR: \"UMTS\"\r\n\r\n>");
    parser.push(b" 0011000B91\x1a\r\n+CMGS: 12\r\n\r\nOK\r\n");
    let got = events(&mut parser);
    assert_eq!(
        got,
        vec![
            AtEvent::Urc(Urc::Other(
                "+ZDONR: \"METEOR\",272,3,\"CS_ONLY\",\"ROAM_OFF\"".into()
            )),
            AtEvent::Urc(Urc::Other("+ZPASR: \"UMTS\"".into())),
            AtEvent::Prompt,
            response("+CMGS: 12"),
            AtEvent::Final(FinalResult::Ok),
        ]
    );
    assert!(!parser.is_command_pending());
}

#[test]
fn stray_prompt_is_still_reported() {
    assert_eq!(run(None, b"\r\n> "), vec![AtEvent::Prompt]);
    assert_eq!(
        run(None, b"\r\n>x\r\n"),
        vec![AtEvent::Urc(Urc::Other(">x".into()))]
    );
}

#[test]
fn urc_inside_listing_and_two_line_cmt_inside_command() {
    let got = run(
        Some("AT+CMGL=4"),
        b"\r\n+CMGL: 1,0,,5\r\n00AA\r\n+CMTI: \"SM\",3\r\n+CMT: ,23\r\n0791AB\r\n+CMGL: 2,0,,5\r\n00BB\r\n\r\nOK\r\n",
    );
    assert_eq!(
        got,
        vec![
            response("+CMGL: 1,0,,5"),
            response("00AA"),
            AtEvent::Urc(Urc::Cmti {
                storage: "SM".into(),
                index: 3
            }),
            AtEvent::Urc(Urc::Cmt {
                alpha: None,
                length: Some(23),
                pdu: "0791AB".into()
            }),
            response("+CMGL: 2,0,,5"),
            response("00BB"),
            AtEvent::Final(FinalResult::Ok),
        ]
    );
}

#[test]
fn creg_is_response_only_for_creg_query() {
    let solicited = run(
        Some("AT+CREG?"),
        b"\r\n+CREG: 2,5,\"0502\",\"0404736D\"\r\nOK\r\n",
    );
    assert_eq!(solicited[0], response("+CREG: 2,5,\"0502\",\"0404736D\""));
    let unsolicited = run(Some("AT+CSQ"), b"\r\n+CREG: 2,5,\"0502\",\"0404736D\"\r\n");
    match &unsolicited[..] {
        [AtEvent::Urc(Urc::Registration(registration))] => {
            assert_eq!(registration.status.code(), 5);
            assert_eq!(registration.lac.as_deref(), Some("0502"));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn header_without_pdu_becomes_other() {
    let got = run(None, b"+CMT: ,23\r\nRING\r\n");
    assert_eq!(
        got,
        vec![
            AtEvent::Urc(Urc::Other("+CMT: ,23".into())),
            AtEvent::Urc(Urc::Ring)
        ]
    );
    let text_mode_cds = run(None, b"+CDS: 6,233,\"+123\",145\r\n");
    assert_eq!(
        text_mode_cds,
        vec![AtEvent::Urc(Urc::Other("+CDS: 6,233,\"+123\",145".into()))]
    );
}

#[test]
fn glued_final_is_split() {
    let got = run(
        Some("AT+CNUM"),
        b"\r\n+CME ERROR: 25+CNUM: \"\",\"+33671651906\",145\r\n",
    );
    assert_eq!(
        got,
        vec![
            AtEvent::Final(FinalResult::CmeError(CmError::Code(25))),
            AtEvent::Urc(Urc::Other("+CNUM: \"\",\"+33671651906\",145".into())),
        ]
    );
    let got = run(Some("AT+CNUM"), b"\r\nERROR+CNUM: \"\",\"+1\",145\r\n");
    assert_eq!(got[0], AtEvent::Final(FinalResult::Error));
}

#[test]
fn unsolicited_cms_error_and_idle_finals() {
    assert_eq!(
        run(None, b"\r\n+CMS ERROR: 524\r\n\r\nNO CARRIER\r\n"),
        vec![
            AtEvent::Urc(Urc::CmsError(CmError::Code(524))),
            AtEvent::Urc(Urc::Other("NO CARRIER".into()))
        ]
    );
}

#[test]
fn overlong_line_is_dropped_and_bounded() {
    let mut parser = AtParser::new();
    parser.push(&vec![b'A'; MAX_LINE_LEN * 3]);
    assert!(parser.buffered_len() <= MAX_LINE_LEN);
    parser.push(b"\r\nRING\r\n");
    assert_eq!(events(&mut parser), vec![AtEvent::Urc(Urc::Ring)]);
    assert_eq!(parser.discarded_lines(), 1);
}

#[test]
fn invalid_utf8_is_other_never_response() {
    let got = run(Some("AT+CGMI"), b"\r\n\xc3\x28abc\r\nhuawei\r\nOK\r\n");
    assert!(matches!(&got[0], AtEvent::Urc(Urc::Other(_))));
    assert_eq!(got[1], response("huawei"));
    assert_eq!(got[2], AtEvent::Final(FinalResult::Ok));
}

#[test]
fn vendor_urcs() {
    let got = run(
        None,
        b"^RSSI:99\r\n^BOOT:20952548,0,0,0,72\r\n^MODE:5,4\r\nSMS DONE\r\n+QIND: SMS DONE\r\n+QIND: \"csq\",20,99\r\n+CLIP: \"+27820001234\",145,,,,0\r\n+CRING: VOICE\r\n",
    );
    assert_eq!(
        got,
        vec![
            AtEvent::Urc(Urc::HuaweiRssi(99)),
            AtEvent::Urc(Urc::Boot),
            AtEvent::Urc(Urc::Mode("5,4".into())),
            AtEvent::Urc(Urc::SmsDone),
            AtEvent::Urc(Urc::SmsDone),
            AtEvent::Urc(Urc::Qind("\"csq\",20,99".into())),
            AtEvent::Urc(Urc::Clip {
                number: "+27820001234".into()
            }),
            AtEvent::Urc(Urc::Ring),
        ]
    );
}

#[test]
fn call_progress_ends_only_dial_commands() {
    let got = run(
        Some("AT+CMGL=4"),
        b"\r\n+CMGL: 1,0,,2\r\nRING\r\n\r\nNO CARRIER\r\n00AB\r\nOK\r\n",
    );
    assert_eq!(
        got,
        vec![
            response("+CMGL: 1,0,,2"),
            AtEvent::Urc(Urc::Ring),
            AtEvent::Urc(Urc::Other("NO CARRIER".into())),
            response("00AB"),
            AtEvent::Final(FinalResult::Ok),
        ]
    );
    assert_eq!(
        run(Some("ATD+15550001;"), b"\r\nBUSY\r\n"),
        vec![AtEvent::Final(FinalResult::Busy)]
    );
    assert!(is_dial_command("ata"));
    assert!(!is_dial_command("AT+CMGD=1"));
    assert!(!is_dial_command("ATE0"));
}

#[test]
fn latin1_text_is_kept_binary_noise_is_not() {
    let got = run(
        Some("AT+COPS?"),
        b"\r\n+COPS: 0,0,\"Telef\xf3nica\"\r\nOK\r\n",
    );
    assert_eq!(got[0], response("+COPS: 0,0,\"Telef\u{fffd}nica\""));
    assert_eq!(got[1], AtEvent::Final(FinalResult::Ok));
    let noise = run(Some("AT+COPS?"), b"\r\n\x81\x92\xa3Z\xc4\r\n");
    assert!(matches!(&noise[..], [AtEvent::Urc(Urc::Other(_))]));
}

#[test]
fn edit_distance_bounds() {
    assert!(within_edit_distance(b"ABC", b"ABD", 1));
    assert!(!within_edit_distance(b"ABC", b"XYZ", 2));
    assert!(!within_edit_distance(b"A", b"ABCDEF", 2));
}
