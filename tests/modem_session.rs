//! The sans-IO modem session against the simulator's `ModemCore`, in memory: a quinn-style
//! pair exchanging bytes with no pty, no task and no sleeping. Time is virtual: both sides get
//! the same `now`, moved from one deadline to the next, so every run is the same and the
//! timing claims (not ready within 10 s of silence, ready within 5 s of answering again) are
//! exact.

use simgate::modem::session::{Carry, Event, Session, SessionConfig};
use simgate::modem::{InboundSource, ModemState, ModemStatus, SendOutcome, Timings};
use simgate::sim::{CnmiRanges, Effect, Inbound, ModemCore, SimModemConfig, SubmitOutcome};
use std::time::{Duration, Instant};

/// A GSM-7 SMS-DELIVER (gammu tests/at-sms/03.dump).
const DELIVER: &str = "0791198948004544040C9119894882006200007050307040042206CF35689E9603";
/// A GSM-7 SMS-SUBMIT with TP-SRR set (diafaan, tests/vectors/sms_pdus.json `pgm_submit_diafaan`).
const SUBMIT: &str = "07911326040000F0310D0B911326880736F40000A90FF7FBDD454E87CDE1B0DB357EB701";
const SUBMIT_LEN: usize = 28;
/// An SMS-STATUS-REPORT with SMSC (`atl_sr_214_smsc`).
const STATUS_REPORT: &str = "07911326040000F006D60B911326880736F4111011719551401110117195714000";

/// What the pair saw of the session's events.
#[derive(Default)]
struct Seen {
    inbound: Vec<(u64, String, InboundSource)>,
    prompts: Vec<u64>,
    done: Vec<(u64, SendOutcome)>,
    states: Vec<(Duration, ModemState, Option<String>)>,
    ends: Vec<String>,
}

/// A session and a virtual modem joined in memory.
struct Pair {
    session: Session,
    core: ModemCore,
    config: SessionConfig,
    start: Instant,
    now: Instant,
    seen: Seen,
    /// Inbound PDUs are confirmed committed at once (else the test answers).
    auto_commit: bool,
    /// The pool records the part at the prompt at once (else the test answers).
    auto_prompt: bool,
    /// Parts the network has yet to answer: (due, message).
    submits: Vec<Instant>,
    /// The session's port is reopened at this moment (after the session ended).
    reopen_at: Option<Instant>,
    /// The modem powers on again at this moment (after a reset).
    boot_at: Option<Instant>,
    /// Rewrites the modem's output (a firmware that advertises what it refuses).
    rewrite: Option<(String, String)>,
}

impl Pair {
    fn new(sim: SimModemConfig, pin: Option<&str>, timings: Timings) -> Pair {
        Pair::with_setup(sim, pin, timings, |_| {})
    }

    /// `setup` runs on the booted modem before the session opens the port.
    fn with_setup(
        sim: SimModemConfig,
        pin: Option<&str>,
        timings: Timings,
        setup: impl FnOnce(&mut ModemCore),
    ) -> Pair {
        let start = Instant::now();
        let mut core = ModemCore::new(sim, "+15550009999");
        core.boot(start);
        setup(&mut core);
        core.take_output();
        let config = SessionConfig {
            name: "sim1".into(),
            pin: pin.map(str::to_string),
            timings,
        };
        let carry = Carry {
            status: ModemStatus::new("sim1", "memory", None),
            pin_tried: false,
        };
        let session = Session::new(config.clone(), carry, start);
        Pair {
            session,
            core,
            config,
            start,
            now: start,
            seen: Seen::default(),
            auto_commit: true,
            auto_prompt: true,
            submits: Vec::new(),
            reopen_at: None,
            boot_at: None,
            rewrite: None,
        }
    }

    fn elapsed(&self) -> Duration {
        self.now - self.start
    }

    fn state(&self) -> ModemState {
        self.session.status().state
    }

    /// Moves bytes, effects and events both ways until nothing moves.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(bytes) = self.session.poll_transmit() {
                self.core.feed(&bytes, self.now);
                moved = true;
            }
            let mut output = self.core.take_output();
            if !output.is_empty() {
                if let Some((from, to)) = &self.rewrite {
                    output = String::from_utf8_lossy(&output)
                        .replace(from.as_str(), to)
                        .into_bytes();
                }
                self.session.handle_input(&output, self.now);
                moved = true;
            }
            for effect in self.core.take_effects() {
                moved = true;
                match effect {
                    Effect::Submit(_) => self.submits.push(self.now + Duration::from_millis(300)),
                    Effect::Reset => {
                        self.core.power_off();
                        self.boot_at = Some(self.now + Duration::from_millis(500));
                    }
                    Effect::Delivered(_) => {}
                }
            }
            while let Some(event) = self.session.poll_event() {
                moved = true;
                self.on_event(event);
            }
            if !moved {
                return;
            }
        }
        panic!("the pair never settled");
    }

    fn on_event(&mut self, event: Event) {
        let now = self.now;
        match event {
            Event::Inbound {
                id, pdu, source, ..
            } => {
                self.seen.inbound.push((id, pdu, source));
                if self.auto_commit {
                    self.session.inbound_answer(id, true, now);
                }
            }
            Event::Prompt { id } => {
                self.seen.prompts.push(id);
                if self.auto_prompt {
                    self.session.prompt_answer(id, true, now);
                }
            }
            Event::SendDone { id, outcome } => self.seen.done.push((id, outcome)),
            Event::StateChanged { state, detail } => {
                self.seen.states.push((self.elapsed(), state, detail))
            }
            Event::End { reason, pause } => {
                self.seen.ends.push(reason);
                let pause = pause.unwrap_or(Duration::from_millis(500));
                self.reopen_at = Some(self.reopen_at.unwrap_or(now).max(now + pause));
            }
        }
    }

    /// The next moment anything is due, on either side.
    fn next_due(&self) -> Option<Instant> {
        [
            self.session.poll_timeout(),
            self.core.next_deadline(),
            self.submits.iter().min().copied(),
            self.reopen_at,
            self.boot_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs both sides to `now + span`, stopping at every deadline on the way.
    fn advance(&mut self, span: Duration) {
        let until = self.now + span;
        self.run_until(until, |_| false);
    }

    /// Runs until `done` holds (checked after each step) or `until`; true when it held.
    fn run_until(&mut self, until: Instant, mut done: impl FnMut(&Pair) -> bool) -> bool {
        for _ in 0..100_000 {
            self.settle();
            if done(self) {
                return true;
            }
            let next = self.next_due().map_or(until, |due| due.min(until));
            self.now = self.now.max(next);
            self.fire();
            if self.now >= until {
                self.settle();
                return done(self);
            }
        }
        panic!("time stood still");
    }

    fn fire(&mut self) {
        let now = self.now;
        let due: Vec<Instant> = self.submits.iter().copied().filter(|t| *t <= now).collect();
        self.submits.retain(|t| *t > now);
        for _ in due {
            self.core.complete_submit(SubmitOutcome::Accepted, now);
        }
        if self.boot_at.is_some_and(|at| at <= now) {
            self.boot_at = None;
            self.core.boot(now);
        }
        if self.reopen_at.is_some_and(|at| at <= now) {
            self.reopen_at = None;
            // What the modem printed while the port was closed is lost.
            self.core.take_output();
            let carry = self.session.carry();
            self.session = Session::new(self.config.clone(), carry, now);
        }
        self.core.handle_timeout(now);
        self.session.handle_timeout(now);
    }

    /// Runs until the session says Ready; the virtual time it took.
    fn until_ready(&mut self, limit: Duration) -> Duration {
        let from = self.now;
        assert!(
            self.run_until(from + limit, |p| p.state() == ModemState::Ready),
            "not ready within {limit:?}: {:?}",
            self.session.status()
        );
        self.now - from
    }

    fn commands(&self) -> Vec<String> {
        self.core.commands()
    }

    fn deliver(&mut self, pdu: &str) {
        self.core
            .receive_from_network(Inbound::deliver(pdu), self.now);
    }
}

fn sim() -> SimModemConfig {
    SimModemConfig {
        vendor_urc_interval: None,
        ..SimModemConfig::default()
    }
}

#[test]
fn start_up_sets_the_modem_up_and_reads_what_it_is() {
    let mut pair = Pair::new(sim(), None, Timings::default());
    let took = pair.until_ready(Duration::from_secs(5));
    // Every answer is instant: no deadline or pause is waited for on the way.
    assert_eq!(took, Duration::ZERO, "{:?}", pair.seen.states);
    let commands = pair.commands();
    for expected in [
        "ATE0",
        "AT+CMEE=1",
        "AT+CPIN?",
        "AT+CMGF=0",
        "AT+CNMI=?",
        "AT+CREG=1",
    ] {
        assert!(
            commands.iter().any(|c| c == expected),
            "{expected} in {commands:?}"
        );
    }
    assert!(commands.iter().any(|c| c.starts_with("AT+CPMS=\"SM\"")));
    let status = pair.session.status();
    assert_eq!(status.manufacturer.as_deref(), Some("SIMGATE"));
    assert_eq!(status.imsi.as_deref(), Some("310260000000001"));
    assert_eq!(status.iccid.as_deref(), Some("8901260000000000001"));
    assert_eq!(status.operator.as_deref(), Some("SimNet"));
    assert_eq!(status.signal_rssi, Some(20));
    assert_eq!(pair.core.cnmi_setting().mt, 1, "stored, then +CMTI");
    // Quiet afterwards: no command goes out before the next probe, health poll or sweep.
    let before = pair.core.commands_total();
    pair.advance(Duration::from_secs(3));
    assert_eq!(pair.core.commands_total(), before);
}

#[test]
fn the_pin_is_entered_once_and_a_wrong_one_never_again() {
    let locked = SimModemConfig {
        pin: Some("1234".into()),
        ..sim()
    };
    let mut pair = Pair::new(locked.clone(), Some("1234"), Timings::default());
    pair.until_ready(Duration::from_secs(5));
    let entered = |p: &Pair| {
        p.commands()
            .iter()
            .filter(|c| c.starts_with("AT+CPIN="))
            .count()
    };
    assert_eq!(entered(&pair), 1);

    let mut wrong = Pair::new(locked, Some("0000"), Timings::default());
    wrong.advance(Duration::from_secs(5));
    assert_eq!(wrong.state(), ModemState::PinRequired);
    assert_eq!(entered(&wrong), 1);
    // A new session on the same modem (port reopened) carries the memory of the try.
    let carry = wrong.session.carry();
    wrong.session = Session::new(wrong.config.clone(), carry, wrong.now);
    wrong.advance(Duration::from_secs(120));
    assert_eq!(wrong.state(), ModemState::PinRequired);
    assert_eq!(entered(&wrong), 1, "the wrong PIN is never retried");
}

#[test]
fn cnmi_falls_back_when_the_modem_refuses_what_it_advertises() {
    // The firmware advertises status reports stored (ds=2) but refuses them.
    let sim = SimModemConfig {
        cnmi_ranges: Some(CnmiRanges {
            mode: vec![0, 1, 2],
            mt: vec![0, 1],
            bm: vec![0],
            ds: vec![0, 1],
            bfr: vec![0, 1],
        }),
        ..sim()
    };
    let mut pair = Pair::new(sim, None, Timings::default());
    pair.rewrite = Some(("(0,1),(0,1)".into(), "(0-2),(0,1)".into()));
    pair.until_ready(Duration::from_secs(5));
    let tried: Vec<String> = pair
        .commands()
        .into_iter()
        .filter(|c| c.starts_with("AT+CNMI=") && c != "AT+CNMI=?")
        .collect();
    assert_eq!(tried.first().map(String::as_str), Some("AT+CNMI=2,1,0,2,0"));
    assert_eq!(tried.get(1).map(String::as_str), Some("AT+CNMI=2,1,0,1,0"));
    assert_eq!(pair.core.cnmi_setting().ds, 1);
}

#[test]
fn an_inbound_message_is_deleted_only_after_its_commit_is_confirmed() {
    let mut pair = Pair::new(sim(), None, Timings::default());
    pair.until_ready(Duration::from_secs(5));
    pair.auto_commit = false;
    pair.deliver(DELIVER);
    pair.settle();
    let (id, pdu, source) = pair.seen.inbound.last().cloned().expect("handed over");
    assert_eq!(pdu, DELIVER);
    assert!(matches!(source, InboundSource::Stored { ref storage, .. } if storage == "SM"));
    // Not confirmed yet: kept on the modem, not deleted, however long we wait for the answer.
    pair.advance(Duration::from_secs(2));
    assert!(!pair.commands().iter().any(|c| c.starts_with("AT+CMGD")));
    assert_eq!(pair.core.stored().len(), 1);
    pair.session.inbound_answer(id, true, pair.now);
    pair.settle();
    assert!(pair.commands().iter().any(|c| c.starts_with("AT+CMGD")));
    assert!(pair.core.stored().is_empty());
    assert_eq!(pair.session.status().received, 1);
}

#[test]
fn an_unconfirmed_message_stays_and_the_sweep_hands_it_over_again() {
    let mut pair = Pair::new(sim(), None, Timings::default());
    pair.until_ready(Duration::from_secs(5));
    pair.auto_commit = false;
    pair.deliver(DELIVER);
    pair.settle();
    let (id, _, _) = pair.seen.inbound[0].clone();
    pair.session.inbound_answer(id, false, pair.now);
    pair.auto_commit = true;
    pair.settle();
    assert_eq!(pair.core.stored().len(), 1, "kept after a failed commit");
    pair.advance(Timings::default().sweep_every + Duration::from_secs(1));
    assert_eq!(pair.seen.inbound.len(), 2, "the sweep found it again");
    assert!(pair.core.stored().is_empty());
}

#[test]
fn a_direct_cmt_is_acknowledged_only_after_its_commit() {
    let sim = SimModemConfig {
        cnmi_ranges: Some(CnmiRanges {
            mode: vec![0, 1, 2],
            mt: vec![0, 2],
            bm: vec![0],
            ds: vec![0, 1],
            bfr: vec![0, 1],
        }),
        ..sim()
    };
    // A firmware whose SMS service is 1 out of the box: +CMT must be acknowledged.
    let mut pair = Pair::with_setup(sim, None, Timings::default(), |core| {
        core.feed(b"AT+CSMS=1\r", Instant::now());
    });
    pair.until_ready(Duration::from_secs(5));
    pair.auto_commit = false;
    pair.deliver(DELIVER);
    pair.settle();
    let (id, pdu, source) = pair.seen.inbound.last().cloned().expect("handed over");
    assert_eq!((pdu.as_str(), source), (DELIVER, InboundSource::Direct));
    assert!(!pair.commands().iter().any(|c| c == "AT+CNMA"));
    pair.session.inbound_answer(id, true, pair.now);
    pair.settle();
    assert!(pair.commands().iter().any(|c| c == "AT+CNMA"));
    // Acknowledged in time: the modem does not fall back to storing it.
    pair.advance(Duration::from_secs(30));
    assert!(pair.core.stored().is_empty());
    assert_eq!(pair.seen.inbound.len(), 1);
}

#[test]
fn a_status_report_is_read_from_its_storage() {
    let mut pair = Pair::new(sim(), None, Timings::default());
    pair.until_ready(Duration::from_secs(5));
    pair.core.receive_from_network(
        Inbound::StatusReport {
            pdu_hex: STATUS_REPORT.into(),
        },
        pair.now,
    );
    pair.settle();
    let (_, pdu, source) = pair.seen.inbound.last().cloned().expect("handed over");
    assert_eq!(pdu, STATUS_REPORT);
    assert!(matches!(source, InboundSource::Stored { .. }), "{source:?}");
    assert!(pair.core.stored().is_empty(), "deleted after the commit");
}

#[test]
fn a_part_is_written_only_after_the_pool_recorded_it_at_the_prompt() {
    let mut pair = Pair::new(sim(), None, Timings::default());
    pair.until_ready(Duration::from_secs(5));
    pair.auto_prompt = false;
    pair.session.send(7, SUBMIT_LEN, SUBMIT.into(), pair.now);
    pair.settle();
    assert_eq!(pair.seen.prompts, vec![7]);
    // At the prompt and nothing typed: the network has nothing.
    pair.advance(Duration::from_secs(1));
    assert!(pair.core.sent_pdus().is_empty());
    assert!(pair.seen.done.is_empty());
    pair.session.prompt_answer(7, true, pair.now);
    pair.advance(Duration::from_secs(2));
    assert_eq!(pair.core.sent_pdus().len(), 1);
    match pair.seen.done.as_slice() {
        [(
            7,
            SendOutcome::Sent {
                message_ref: Some(_),
            },
        )] => {}
        other => panic!("{other:?}"),
    }

    // Declined at the prompt: cancelled with ESC, nothing sent, and the modem still serves.
    pair.session.send(8, SUBMIT_LEN, SUBMIT.into(), pair.now);
    pair.settle();
    pair.session.prompt_answer(8, false, pair.now);
    pair.advance(Duration::from_secs(2));
    assert_eq!(pair.core.sent_pdus().len(), 1);
    assert!(matches!(
        pair.seen.done.last(),
        Some((8, SendOutcome::NotSent { .. }))
    ));
    assert_eq!(pair.state(), ModemState::Ready);
}

#[test]
fn a_modem_that_stops_answering_is_not_ready_within_10s_and_ready_within_5s_of_answering() {
    let mut pair = Pair::new(sim(), None, Timings::default());
    pair.until_ready(Duration::from_secs(5));
    // Some quiet time first, so the hang falls at an arbitrary point of the cycle.
    pair.advance(Duration::from_millis(2345));
    let hung_at = pair.now;
    pair.core.set_hung(true, hung_at);
    assert!(
        pair.run_until(hung_at + Duration::from_secs(10), |p| p.state()
            != ModemState::Ready)
    );
    let noticed = pair.now - hung_at;
    eprintln!("silent modem not ready after {noticed:?} of virtual time");
    assert!(noticed <= Duration::from_secs(10), "{noticed:?}");
    let detail = pair.session.status().detail.clone().unwrap_or_default();
    assert!(
        detail.starts_with("not answering: no answer to"),
        "{detail}"
    );
    // A part asked for while it is silent goes back at once, for another modem.
    pair.session.send(1, SUBMIT_LEN, SUBMIT.into(), pair.now);
    pair.settle();
    assert!(matches!(
        pair.seen.done.last(),
        Some((1, SendOutcome::NotSent { .. }))
    ));
    // Silent for a minute: not reset (that waits for a longer silence), still probed.
    pair.advance(Duration::from_secs(60));
    assert_eq!(pair.state(), ModemState::Offline);
    assert!(pair.seen.ends.is_empty());
    pair.core.set_hung(false, pair.now);
    let back = pair.until_ready(Duration::from_secs(5));
    eprintln!("ready again {back:?} after it answered");
    assert!(back <= Duration::from_secs(5), "{back:?}");
    assert!(pair.seen.ends.is_empty(), "same port, no reopen");
}

#[test]
fn a_modem_that_hangs_before_the_prompt_gives_the_part_back_in_seconds() {
    let mut pair = Pair::new(sim(), None, Timings::default());
    pair.until_ready(Duration::from_secs(5));
    pair.core.set_hung(true, pair.now);
    let asked = pair.now;
    pair.session.send(3, SUBMIT_LEN, SUBMIT.into(), asked);
    assert!(pair.run_until(asked + Duration::from_secs(90), |p| !p.seen.done.is_empty()));
    assert!(
        pair.now - asked <= Duration::from_secs(5),
        "{:?}",
        pair.now - asked
    );
    assert!(matches!(
        pair.seen.done[0],
        (3, SendOutcome::NotSent { .. })
    ));
    assert_ne!(pair.state(), ModemState::Ready);
}

#[test]
fn a_modem_silent_for_long_is_reset_and_set_up_again() {
    let mut pair = Pair::new(sim(), None, Timings::default());
    pair.until_ready(Duration::from_secs(5));
    pair.core.set_hung_until_reset(pair.now);
    let limit = Timings::default().health_every * 6 + Duration::from_secs(30);
    let from = pair.now;
    assert!(pair.run_until(from + limit, |p| !p.seen.ends.is_empty()));
    assert!(pair.commands().iter().any(|c| c == "AT+CFUN=1,1"));
    pair.until_ready(Duration::from_secs(30));
}

#[test]
fn garbage_on_the_line_changes_nothing() {
    let mut pair = Pair::new(sim(), None, Timings::default());
    pair.until_ready(Duration::from_secs(5));
    pair.core
        .inject_garbage(b"\xff\xfe\x00\x13junk\r\n\x1b> \r\n+CMTI: \"XX\r\n");
    pair.settle();
    pair.advance(Duration::from_secs(1));
    pair.deliver(DELIVER);
    pair.advance(Duration::from_secs(1));
    assert_eq!(pair.state(), ModemState::Ready);
    assert_eq!(pair.seen.inbound.len(), 1);
    assert!(pair.core.stored().is_empty());
}

#[test]
fn every_personality_starts_and_receives() {
    for personality in simgate::sim::Personality::ALL {
        let mut pair = Pair::new(
            SimModemConfig {
                personality,
                ..SimModemConfig::default()
            },
            None,
            Timings::default(),
        );
        pair.until_ready(Duration::from_secs(10));
        pair.deliver(DELIVER);
        pair.advance(Duration::from_secs(12));
        assert_eq!(pair.seen.inbound.len(), 1, "{personality:?}");
        assert!(pair.core.stored().is_empty(), "{personality:?}");
        assert_eq!(pair.state(), ModemState::Ready, "{personality:?}");
    }
}

/// The session against real modems' answers (`tests/vectors/modem_transcripts.json`): a
/// responder answers each command as the transcript of one model does, and a plain 3GPP
/// answer where the transcript has none.
mod transcripts {
    use super::*;
    use serde_json::Value;

    const JSON: &str = include_str!("vectors/modem_transcripts.json");

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
        session.handle_input(
            b"\r\n+ZDONR: \"METEOR\",272,3,\"CS_ONLY\",\"ROAM_OFF\"\r\n\r\n+ZPASR: \"UMTS\"\r\n> ",
            now,
        );
        assert_eq!(session.poll_event(), Some(Event::Prompt { id: 1 }));
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
}
