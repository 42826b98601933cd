//! Property tests for the AT stream parser: the events never depend on how the bytes
//! were chunked, and no input (however hostile) panics it or grows its buffers.

use proptest::prelude::*;
use simgate::at::response::{
    choose_cnmi, parse_cmgl, parse_cmgr, parse_cmgs, parse_cnmi_test, parse_cnum, parse_cops,
    parse_cpin, parse_cpms, parse_cpms_test, parse_csca, parse_csq, parse_identity,
    parse_registration,
};
use simgate::at::{AtEvent, AtParser, FinalResult, Urc, MAX_LINE_LEN};

/// One step of a session: optionally the driver starts a command, then bytes arrive.
#[derive(Debug, Clone)]
struct Step {
    command: Option<&'static str>,
    bytes: Vec<u8>,
}

fn step(command: Option<&'static str>, bytes: &[u8]) -> Step {
    Step {
        command,
        bytes: bytes.to_vec(),
    }
}

const DELIVER_PDU: &str = "07918497483252F0040B918496445078F700007121320144744004D4F29C0E";
const REPORT_PDU: &str = "07914875215652F006360B914892347527F3817003018104808170030181448000";

/// Realistic pieces of modem traffic, each with the command (if any) the driver issued.
fn realistic_steps() -> Vec<Step> {
    let cmt = format!("\r\n+CMT: ,23\r\n{DELIVER_PDU}\r\n");
    let cds = format!("+CDS:25\r{REPORT_PDU}\r");
    let listing = format!(
        "AT+CMGL=4\r\r\n+CMGL: 1,0,,23\r\n{DELIVER_PDU}\r\n+CMTI: \"SM\",3\r\n{cmt}+CMGL: 2,1,,23\r\n{DELIVER_PDU}\r\n\r\nOK\r\n"
    );
    let read = format!("\r\n+CMGR: 0,,23\r\n{DELIVER_PDU}\r\n^RSSI:17\r\n\r\nOK\r\n");
    vec![
        step(Some("AT+CMGL=4"), listing.as_bytes()),
        step(Some("AT+CMGR=3"), read.as_bytes()),
        step(
            Some("AT+CMGS=23"),
            b"AT+CMGS=23\r\r\n+ZDONR: \"METEOR\",272,3,\"CS_ONLY\",\"ROAM_OFF\"\r\n+ZPASR: \"UMTS\"\r\n> ",
        ),
        step(
            None,
            b"0011000B916407281553F80000AA0AE8329BFD4697D9EC37\x1a\r\n+ZPASR: \"UMTS\"\r\n+CMGS: 12\r\n\r\nOK\r\n",
        ),
        step(
            Some("AT+CREG?"),
            b"\r\n+CREG: 2,1,\"8BE3\",\"00002BAF\"\r\n\r\n+CGREG: 1,\"8BE3\",\"00002B5D\",3\r\nOK\r\n",
        ),
        step(Some("AT+CGMI"), b"AT+CGMI\r\r\nhuawei\r\n\r\nOK\r\n"),
        step(Some("AT+CPIN?"), b"\r\n+CME ERROR: 10\r\n"),
        step(None, cmt.as_bytes()),
        step(None, cds.as_bytes()),
        step(None, b"\r\n+CMTI: \"ME\",1\r\n\r\n^BOOT:20952548,0,0,0,72\r\nRING\r\n"),
        step(None, b"\r\n+CREG: 1,\"CE00\",\"00005449\"\r\n%CESQ: 54,2,16,2\n"),
        step(None, b"\r\n+CMS ERROR: 524\r\n+QIND: SMS DONE\r\n"),
        step(None, b"\x00\xff\xff\x00\r\n\x1b\xc3\x28\r\n"),
    ]
}

/// Feeds `steps` with each step's bytes split at the given cut points.
fn run(steps: &[Step], cuts: &[Vec<usize>]) -> Vec<AtEvent> {
    let mut parser = AtParser::new();
    let mut events = Vec::new();
    for (index, step) in steps.iter().enumerate() {
        if let Some(command) = step.command {
            parser.command_started(command);
        }
        let mut points: Vec<usize> = cuts
            .get(index)
            .map(|cuts| {
                cuts.iter()
                    .map(|cut| cut % (step.bytes.len() + 1))
                    .collect()
            })
            .unwrap_or_default();
        points.push(0);
        points.push(step.bytes.len());
        points.sort_unstable();
        points.dedup();
        for window in points.windows(2) {
            parser.push(&step.bytes[window[0]..window[1]]);
            // Pulling events between chunks must not change anything either.
            events.extend(std::iter::from_fn(|| parser.next_event()));
        }
        assert!(parser.buffered_len() <= MAX_LINE_LEN);
    }
    events
}

fn session() -> impl Strategy<Value = (Vec<Step>, Vec<Vec<usize>>)> {
    let pieces = realistic_steps();
    (
        prop::collection::vec(prop::sample::select(pieces), 1..12),
        prop::collection::vec(prop::collection::vec(any::<usize>(), 0..24), 12),
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_split_points_give_the_same_events((steps, cuts) in session()) {
        let whole = run(&steps, &[]);
        let chunked = run(&steps, &cuts);
        prop_assert_eq!(&chunked, &whole);
        let one_byte: Vec<Vec<usize>> = steps.iter().map(|s| (0..s.bytes.len()).collect()).collect();
        prop_assert_eq!(&run(&steps, &one_byte), &whole);
    }

    #[test]
    fn garbage_never_panics_nor_grows(
        bytes in prop::collection::vec(any::<u8>(), 0..12_000),
        cuts in prop::collection::vec(any::<usize>(), 0..64),
        command in prop::sample::select(vec![None, Some("AT+CMGS=23"), Some("AT+CMGL=4"), Some("ATI")]),
    ) {
        let steps = vec![Step { command, bytes: bytes.clone() }];
        let whole = run(&steps, &[]);
        prop_assert!(whole.len() <= bytes.len());
        for event in &whole {
            if let AtEvent::Response(line) | AtEvent::Urc(Urc::Other(line)) = event {
                prop_assert!(line.len() <= MAX_LINE_LEN * 3);
            }
        }
        prop_assert_eq!(run(&steps, &[cuts]), whole);
    }

    #[test]
    fn readers_never_panic(lines in prop::collection::vec(".{0,80}", 0..6), solicited in any::<bool>()) {
        for line in &lines {
            let _ = parse_cmgs(line);
            let _ = parse_csq(line);
            let _ = parse_cpin(line);
            let _ = parse_cops(line);
            let _ = parse_csca(line);
            let _ = parse_cpms(line);
            let _ = parse_cpms_test(line);
            if let Some(support) = parse_cnmi_test(line) {
                prop_assert!(!choose_cnmi(&support).is_empty());
            }
            let _ = parse_registration(line, solicited);
        }
        let _ = parse_cmgr(&lines);
        let _ = parse_cnum(&lines);
        let _ = parse_identity(&lines);
        for entry in parse_cmgl(&lines) {
            prop_assert!(entry.pdu.bytes().all(|b| b.is_ascii_hexdigit()));
        }
    }

    #[test]
    fn registration_lines_with_random_fields_never_panic(
        prefix in prop::sample::select(vec!["+CREG", "+CGREG", "+CEREG", "+C5GREG"]),
        fields in prop::collection::vec("[ \"0-9A-Fa-f]{0,10}", 0..8),
        solicited in any::<bool>(),
    ) {
        let line = format!("{prefix}: {}", fields.join(","));
        if let Some(registration) = parse_registration(&line, solicited) {
            prop_assert!(registration.status.code() <= 10);
            prop_assert!(registration.lac.iter().chain(&registration.ci).all(|id| id.bytes().all(|b| b.is_ascii_hexdigit())));
        }
    }
}

#[test]
fn realistic_steps_give_the_expected_shape() {
    let steps = realistic_steps();
    let events = run(&steps, &[]);
    let finals = events
        .iter()
        .filter(|event| matches!(event, AtEvent::Final(_)))
        .count();
    // Six commands, each ends exactly once (AT+CMGS ends in its continuation step).
    assert_eq!(finals, 6);
    assert_eq!(events.iter().filter(|e| **e == AtEvent::Prompt).count(), 1);
    assert!(events.contains(&AtEvent::Final(FinalResult::CmeError(
        simgate::at::CmError::Code(10)
    ))));
    let cmts = events
        .iter()
        .filter(|e| matches!(e, AtEvent::Urc(Urc::Cmt { pdu, .. }) if pdu == DELIVER_PDU))
        .count();
    assert_eq!(cmts, 2, "one inside the listing, one idle");
    assert!(events
        .iter()
        .any(|e| matches!(e, AtEvent::Urc(Urc::Cds { pdu, .. }) if pdu == REPORT_PDU)));
    assert!(events.contains(&AtEvent::Response("+CMGS: 12".into())));
}
