//! The session against real modems' answers (`tests/vectors/modem_transcripts.json`): a
//! responder answers each command as the transcript of one model does, and a plain 3GPP
//! answer where the transcript has none.

use super::*;
use serde_json::Value;

const JSON: &str = include_str!("../vectors/modem_transcripts.json");

struct Scripted {
    answers: Vec<(String, Vec<String>)>,
    /// The transcript shows which `AT+CPMS=` settings the model takes: refuse others.
    storage_listed: bool,
    log: Vec<String>,
}

impl Scripted {
    fn model(name_starts: &str) -> Scripted {
        let all: Value = serde_json::from_str(JSON).unwrap();
        let model = all["models"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["model"].as_str().unwrap_or("").starts_with(name_starts))
            .unwrap_or_else(|| panic!("no model {name_starts}"));
        let answers: Vec<(String, Vec<String>)> = model["exchanges"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|e| {
                let cmd = e["cmd"].as_str()?.to_string();
                let lines = e["response"]
                    .as_array()?
                    .iter()
                    .filter_map(|l| l.as_str().map(str::to_string))
                    .collect();
                Some((cmd, lines))
            })
            .collect();
        let storage_listed = answers.iter().any(|(c, _)| c.starts_with("AT+CPMS=\""));
        Scripted {
            answers,
            storage_listed,
            log: Vec::new(),
        }
    }

    fn answer(&self, command: &str) -> Vec<String> {
        if let Some((_, lines)) = self.answers.iter().find(|(c, _)| c == command) {
            let mut lines = lines.clone();
            let has_final = lines.iter().any(|l| simgate::at::parse_final(l).is_some());
            if !has_final {
                lines.push("OK".into());
            }
            return lines;
        }
        let lines: &[&str] = match command {
            "AT+CPIN?" => &["+CPIN: READY", "OK"],
            "AT+CSQ" => &["+CSQ: 18,99", "OK"],
            "AT+CREG?" => &["+CREG: 0,1", "OK"],
            "AT+COPS?" => &["+COPS: 0,0,\"Transcript\",2", "OK"],
            c if c.starts_with("AT+CPMS=\"") && self.storage_listed => &["ERROR"],
            _ => &["OK"],
        };
        lines.iter().map(|l| l.to_string()).collect()
    }

    /// Answers whatever the session wrote; true when anything was written.
    fn serve(&mut self, session: &mut Session, now: Instant) -> bool {
        let Some(bytes) = session.poll_transmit() else {
            return false;
        };
        let text = String::from_utf8_lossy(&bytes).replace('\x1b', "");
        for command in text.split('\r').filter(|c| !c.is_empty()) {
            self.log.push(command.to_string());
            let mut reply = String::new();
            for line in self.answer(command).iter().filter(|l| !l.is_empty()) {
                reply.push_str(&format!("\r\n{line}\r\n"));
            }
            session.handle_input(reply.as_bytes(), now);
        }
        true
    }
}

/// Runs the session against `modem` until Ready (every answer instant; pauses skipped).
fn start(modem: &mut Scripted) -> (Session, Instant, Vec<Event>) {
    let mut now = Instant::now();
    let config = SessionConfig {
        name: "m".into(),
        pin: None,
        timings: Timings::default(),
    };
    let carry = Carry {
        status: ModemStatus::new("m", "memory", None),
        pin_tried: false,
    };
    let mut session = Session::new(config, carry, now);
    let mut events = Vec::new();
    for _ in 0..1000 {
        while modem.serve(&mut session, now) {}
        while let Some(event) = session.poll_event() {
            events.push(event);
        }
        if session.status().state == ModemState::Ready {
            return (session, now, events);
        }
        now = session.poll_timeout().expect("a deadline").max(now);
        session.handle_timeout(now);
    }
    panic!("never ready: {:?} after {:?}", session.status(), modem.log);
}

#[test]
fn huawei_is_quieted_and_its_rssi_urc_read() {
    let mut modem = Scripted::model("Huawei K3715");
    let (mut session, now, _) = start(&mut modem);
    assert!(
        modem.log.iter().any(|c| c == "AT^CURC=0"),
        "{:?}",
        modem.log
    );
    assert!(modem.log.iter().any(|c| c == "AT^ICCID?"));
    assert_eq!(session.status().model.as_deref(), Some("K3715"));
    // Its chatter (lines from the Huawei transcripts) between commands.
    session.handle_input(b"\r\n^RSSI:99\r\n\r\n^BOOT:20952548,0,0,0,72\r\n", now);
    while modem.serve(&mut session, now) {}
    assert_eq!(session.status().signal_rssi, Some(99));
    assert_eq!(session.status().signal_dbm, None);
    assert_eq!(session.status().state, ModemState::Ready);
}

#[test]
fn wavecom_takes_two_storages_when_it_refuses_three() {
    let mut modem = Scripted::model("Wavecom");
    start(&mut modem);
    // The storage chosen at start-up: the last one tried before the SMS service query.
    let storage: Vec<&String> = modem
        .log
        .iter()
        .take_while(|c| *c != "AT+CSMS?")
        .filter(|c| c.starts_with("AT+CPMS=\""))
        .collect();
    assert_eq!(
        storage.last().map(|c| c.as_str()),
        Some("AT+CPMS=\"SM\",\"SM\""),
        "{storage:?}"
    );
}

#[test]
fn nokia_without_cnmi_or_storage_choice_still_serves() {
    let mut modem = Scripted::model("Nokia");
    let (session, _, _) = start(&mut modem);
    let cnmi_tries = modem
        .log
        .iter()
        .filter(|c| c.starts_with("AT+CNMI=") && *c != "AT+CNMI=?")
        .count();
    assert!(cnmi_tries >= 1);
    // Its multi-line revision is read whole.
    let revision = session.status().revision.clone().unwrap_or_default();
    assert!(
        revision.starts_with("V ICPR72_08w44.1 24-11-08 RM-348"),
        "{revision}"
    );
}

#[test]
fn zte_chatter_before_the_prompt_does_not_stop_a_send() {
    let mut modem = Scripted::model("ZTE K3565-Z");
    let (mut session, now, _) = start(&mut modem);
    assert!(modem.log.iter().any(|c| c == "AT+ZGETICCID"));
    session.send(1, SUBMIT_LEN, SUBMIT.into(), now);
    let written = session.poll_transmit().expect("AT+CMGS");
    assert_eq!(written, format!("AT+CMGS={SUBMIT_LEN}\r").into_bytes());
    assert_eq!(session.poll_event(), Some(Event::Submitting { id: 1 }));
    session.handle_input(
        b"\r\n+ZDONR: \"METEOR\",272,3,\"CS_ONLY\",\"ROAM_OFF\"\r\n\r\n+ZPASR: \"UMTS\"\r\n> ",
        now,
    );
    // At the prompt, waiting for the pool's answer: nothing typed yet.
    assert_eq!(session.poll_transmit(), None);
    session.prompt_answer(1, true, now);
    let pdu = session.poll_transmit().expect("the PDU");
    assert_eq!(pdu.last(), Some(&0x1a));
    session.handle_input(b"\r\n+CMGS: 7\r\n\r\nOK\r\n", now);
    assert_eq!(
        session.poll_event(),
        Some(Event::SendDone {
            id: 1,
            outcome: SendOutcome::Sent {
                message_ref: Some(7)
            }
        })
    );
}

#[test]
fn nordic_cms_error_524_re_enables_indications_and_cmt_is_handed_over() {
    let mut modem = Scripted::model("Nordic");
    let (mut session, now, _) = start(&mut modem);
    let cnmi = modem
        .log
        .iter()
        .rfind(|c| c.starts_with("AT+CNMI=") && *c != "AT+CNMI=?")
        .cloned()
        .expect("a CNMI setting");
    let before = modem.log.len();
    session.handle_input(b"\r\n+CMS ERROR: 524\r\n", now);
    while modem.serve(&mut session, now) {}
    assert_eq!(modem.log[before..], [cnmi]);
    session.handle_input(
        b"\r\n+CMT: \"+1234567890123\",22\r\n0791534874894320040D91214365870921F300001220900285438003CD771A\r\n",
        now,
    );
    match session.poll_event() {
        Some(Event::Inbound { pdu, source, .. }) => {
            assert!(pdu.starts_with("0791534874"));
            assert_eq!(source, InboundSource::Direct);
        }
        other => panic!("{other:?}"),
    }
}

/// A URC in the same read as a final result is handled right after that command, not
/// when the modem next says something.
#[test]
fn a_urc_read_with_the_final_result_is_handled_at_once() {
    let mut modem = Scripted::model("Huawei K3715");
    let (mut session, now, _) = start(&mut modem);
    while modem.serve(&mut session, now) {}
    let later = now + Duration::from_secs(600);
    session.handle_timeout(later);
    let probe = session.poll_transmit().expect("a probe or poll");
    assert!(probe.starts_with(b"AT"), "{probe:?}");
    session.handle_input(b"\r\nOK\r\n\r\n+CMTI: \"SM\",3\r\n", later);
    let mut written = String::new();
    while let Some(bytes) = session.poll_transmit() {
        written.push_str(&String::from_utf8_lossy(&bytes));
    }
    // The poll goes on, then the message is read; or the read comes first.
    for _ in 0..40 {
        if written.contains("AT+CMGR=3") {
            break;
        }
        session.handle_input(b"\r\nOK\r\n", later);
        while let Some(bytes) = session.poll_transmit() {
            written.push_str(&String::from_utf8_lossy(&bytes));
        }
    }
    assert!(written.contains("AT+CMGR=3"), "{written:?}");
}

/// A `> ` nobody asked for (late, after a timeout) is cancelled with ESC at once: a modem
/// at a prompt holds its URCs back and would swallow the next command.
#[test]
fn a_stray_prompt_is_cancelled_at_once() {
    let mut modem = Scripted::model("Huawei K3715");
    let (mut session, now, _) = start(&mut modem);
    while modem.serve(&mut session, now) {}
    assert_eq!(session.poll_transmit(), None);
    session.handle_input(b"\r\n> ", now);
    assert_eq!(session.poll_transmit(), Some(vec![0x1b]));
}

/// The pool's commit usually finishes while the modem answers `AT+CMGS` with its prompt:
/// the answer is kept, nothing is written before the prompt, and the PDU (or ESC, when the
/// pool declined) follows the prompt at once.
#[test]
fn an_answer_before_the_prompt_waits_for_it() {
    for commit in [true, false] {
        let mut modem = Scripted::model("ZTE K3565-Z");
        let (mut session, now, _) = start(&mut modem);
        session.send(1, SUBMIT_LEN, SUBMIT.into(), now);
        let written = session.poll_transmit().expect("AT+CMGS");
        assert_eq!(written, format!("AT+CMGS={SUBMIT_LEN}\r").into_bytes());
        assert_eq!(session.poll_event(), Some(Event::Submitting { id: 1 }));
        session.prompt_answer(1, commit, now);
        assert_eq!(session.poll_transmit(), None, "nothing before the prompt");
        session.handle_input(b"\r\n> ", now);
        let after = session.poll_transmit().expect("written at the prompt");
        if commit {
            assert_eq!(after.last(), Some(&0x1a), "the PDU, ended by Ctrl-Z");
            session.handle_input(b"\r\n+CMGS: 9\r\n\r\nOK\r\n", now);
            assert_eq!(
                session.poll_event(),
                Some(Event::SendDone {
                    id: 1,
                    outcome: SendOutcome::Sent {
                        message_ref: Some(9)
                    }
                })
            );
        } else {
            assert_eq!(after, vec![0x1b], "ESC: the prompt cancelled");
            session.handle_input(b"\r\nOK\r\n", now);
            assert!(matches!(
                session.poll_event(),
                Some(Event::SendDone {
                    id: 1,
                    outcome: SendOutcome::NotSent { .. }
                })
            ));
        }
    }
}
