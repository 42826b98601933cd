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
/// Another SMS-DELIVER (tests/at_chunking.rs).
const DELIVER_2: &str = "07918497483252F0040B918496445078F700007121320144744004D4F29C0E";
/// A GSM-7 SMS-SUBMIT with TP-SRR set (diafaan, tests/vectors/sms_pdus.json `pgm_submit_diafaan`).
const SUBMIT: &str = "07911326040000F0310D0B911326880736F40000A90FF7FBDD454E87CDE1B0DB357EB701";
const SUBMIT_LEN: usize = 28;
/// An SMS-STATUS-REPORT with SMSC (`atl_sr_214_smsc`).
const STATUS_REPORT: &str = "07911326040000F006D60B911326880736F4111011719551401110117195714000";

/// What the pair saw of the session's events.
#[derive(Default)]
struct Seen {
    inbound: Vec<(u64, String, InboundSource)>,
    submitting: Vec<u64>,
    done: Vec<(u64, SendOutcome)>,
    states: Vec<(Duration, ModemState, Option<String>)>,
    ends: Vec<String>,
    /// The store's side, modelled: keys of committed PDUs (the real store dedupes over
    /// (modem, PDU); one modem here), how many were announced (new) and how many were
    /// recognised as duplicates.
    committed: std::collections::HashSet<String>,
    announced: usize,
    duplicates: usize,
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
    /// With `auto_commit`: the commit happens but its confirmation never reaches the
    /// session (a crash, or a pipeline that stalls after the commit).
    lose_confirmations: bool,
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
    /// The modem's process is stopped (SIGSTOP): what the session writes waits in the
    /// pty's buffer, and nothing comes back.
    frozen: Option<Vec<u8>>,
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
            pin: pin.map(Into::into),
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
            lose_confirmations: false,
            auto_prompt: true,
            submits: Vec::new(),
            reopen_at: None,
            boot_at: None,
            rewrite: None,
            frozen: None,
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
                match self.frozen.as_mut() {
                    Some(buffer) => buffer.extend_from_slice(&bytes),
                    None => self.core.feed(&bytes, self.now),
                }
                moved = true;
            }
            if self.frozen.is_some() {
                while let Some(event) = self.session.poll_event() {
                    self.on_event(event);
                    moved = true;
                }
                if moved {
                    continue;
                }
                return;
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
                self.seen.inbound.push((id, pdu.clone(), source));
                if self.auto_commit {
                    if self.seen.committed.insert(pdu) {
                        self.seen.announced += 1;
                    } else {
                        self.seen.duplicates += 1;
                    }
                    if !self.lose_confirmations {
                        self.session.inbound_answer(id, true, now);
                    }
                }
            }
            Event::Submitting { id } => {
                self.seen.submitting.push(id);
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

/// A pair whose modem offers no phase 2+ service (`+CSMS: (0)`): store + `+CMTI` + read.
fn stored_path_pair() -> Pair {
    let mut pair = Pair::new(sim(), None, Timings::default());
    pair.rewrite = Some(("+CSMS: (0-1)".into(), "+CSMS: (0)".into()));
    pair
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
    // The modem offers phase 2+ and acknowledges: new SMS are pushed as +CMT.
    assert!(commands.iter().any(|c| c == "AT+CSMS=1"), "{commands:?}");
    assert_eq!(pair.core.cnmi_setting().mt, 2, "+CMT, acknowledged");
    assert!(pair.session.delivers_directly());
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
    let mut pair = stored_path_pair();
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
    let mut pair = stored_path_pair();
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

/// The commands the modem got after `from` (an index into its log).
fn commands_since(pair: &Pair, from: usize) -> Vec<String> {
    pair.commands().into_iter().skip(from).collect()
}

#[test]
fn a_modem_that_acknowledges_gets_cmt_pushes_acknowledged_only_after_the_commit() {
    let mut pair = Pair::new(sim(), None, Timings::default());
    pair.until_ready(Duration::from_secs(5));
    let commands = pair.commands();
    let position = |wanted: &str| commands.iter().position(|c| c == wanted);
    let (test, set) = (position("AT+CSMS=?"), position("AT+CSMS=1"));
    assert!(test.is_some() && test < set, "{commands:?}");
    // <mt> 2 is the first setting tried; status reports stay stored (+CDSI).
    let first_cnmi = commands
        .iter()
        .find(|c| c.starts_with("AT+CNMI=") && *c != "AT+CNMI=?");
    assert_eq!(first_cnmi.map(String::as_str), Some("AT+CNMI=2,2,0,2,0"));
    assert_eq!(pair.core.cnmi_setting().ds, 2);
    assert!(pair.session.delivers_directly());

    pair.auto_commit = false;
    let from = pair.commands().len();
    pair.deliver(DELIVER);
    pair.settle();
    let (id, pdu, source) = pair.seen.inbound.last().cloned().expect("handed over");
    assert_eq!((pdu.as_str(), source), (DELIVER, InboundSource::Direct));
    // No read round trip, and no acknowledgement before the commit is confirmed, however
    // long the pipeline takes (within the modem's patience).
    pair.advance(Duration::from_secs(5));
    let seen = commands_since(&pair, from);
    assert!(!seen.iter().any(|c| c.starts_with("AT+CMGR")), "{seen:?}");
    assert!(!seen.iter().any(|c| c.starts_with("AT+CNMA")), "{seen:?}");
    assert!(pair.core.is_awaiting_ack());
    pair.session.inbound_answer(id, true, pair.now);
    pair.settle();
    let seen = commands_since(&pair, from);
    assert_eq!(
        seen.iter().filter(|c| c.starts_with("AT+CNMA")).count(),
        1,
        "{seen:?}"
    );
    assert!(!pair.core.is_awaiting_ack(), "acknowledged");
    pair.advance(Duration::from_secs(60));
    assert!(
        pair.core.stored().is_empty(),
        "nothing fell back to storage"
    );
    assert_eq!(pair.seen.inbound.len(), 1);
    assert_eq!(pair.core.cnmi_setting().mt, 2, "routing stays on");
    assert_eq!(pair.session.status().received, 1);
}

#[test]
fn an_unconfirmed_cmt_is_not_acknowledged_and_its_redelivery_is_announced_once() {
    let mut pair = Pair::new(sim(), None, Timings::default());
    pair.until_ready(Duration::from_secs(5));
    assert!(pair.session.delivers_directly());
    // A commit refused outright: no acknowledgement.
    pair.auto_commit = false;
    let from = pair.commands().len();
    pair.deliver(DELIVER_2);
    pair.settle();
    let (refused, _, _) = pair.seen.inbound[0].clone();
    pair.session.inbound_answer(refused, false, pair.now);
    pair.settle();
    assert!(!commands_since(&pair, from)
        .iter()
        .any(|c| c.starts_with("AT+CNMA")));
    // The modem's timer runs out: it keeps the message and switches routing off; the
    // health poll sees that, sets routing again and sweeps: the message is committed.
    pair.auto_commit = true;
    assert!(
        pair.run_until(pair.now + Duration::from_secs(90), |p| p.seen.announced
            == 1)
    );
    assert_eq!(pair.seen.inbound.len(), 2);

    // A commit that happens but whose confirmation is lost (the daemon dies after the
    // commit): no acknowledgement either, and the delivery that follows is a duplicate.
    pair.lose_confirmations = true;
    let from = pair.commands().len();
    pair.deliver(DELIVER);
    pair.settle();
    assert_eq!(pair.seen.announced, 2);
    assert_eq!(
        pair.seen.inbound.last().map(|i| i.2.clone()),
        Some(InboundSource::Direct)
    );
    pair.lose_confirmations = false;
    assert!(
        pair.run_until(pair.now + Duration::from_secs(120), |p| p.seen.duplicates
            == 1
            && p.core.stored().is_empty())
    );
    let seen = commands_since(&pair, from);
    assert!(!seen.iter().any(|c| c.starts_with("AT+CNMA")), "{seen:?}");
    assert!(
        seen.iter().any(|c| c == "AT+CNMI?"),
        "the routing check: {seen:?}"
    );
    assert_eq!(pair.seen.announced, 2, "announced once");
    assert_eq!(pair.core.cnmi_setting().mt, 2, "routing back on");
    assert!(
        pair.core.stored().is_empty(),
        "deleted after the duplicate was recognised"
    );

    // Still direct afterwards.
    pair.deliver(DELIVER_2);
    pair.settle();
    assert_eq!(
        pair.seen.inbound.last().map(|i| i.2.clone()),
        Some(InboundSource::Direct)
    );
    assert!(!pair.core.is_awaiting_ack());
}

#[test]
fn a_modem_that_refuses_csms_1_stays_on_cmti_and_read() {
    let refusals = [
        // Phase 2+ not offered.
        ("+CSMS: (0-1)", "+CSMS: (0)"),
        // Offered, but AT+CSMS=1 refused.
        ("+CSMS: 1,1,1\r\n\r\nOK", "+CMS ERROR: 303"),
        // Accepted without acknowledgements (<mt> 0).
        ("+CSMS: 1,1,1", "+CSMS: 0,1,1"),
    ];
    for (from, to) in refusals {
        let mut pair = Pair::new(sim(), None, Timings::default());
        pair.rewrite = Some((from.to_string(), to.to_string()));
        pair.until_ready(Duration::from_secs(5));
        assert!(!pair.session.delivers_directly(), "{to}");
        assert_eq!(pair.core.cnmi_setting().mt, 1, "{to}");
        pair.deliver(DELIVER);
        pair.advance(Duration::from_secs(2));
        let (_, _, source) = pair.seen.inbound.last().cloned().expect("handed over");
        assert!(
            matches!(source, InboundSource::Stored { .. }),
            "{to}: {source:?}"
        );
        let commands = pair.commands();
        assert!(commands.iter().any(|c| c.starts_with("AT+CMGD")), "{to}");
        assert!(!commands.iter().any(|c| c.starts_with("AT+CNMA")), "{to}");
        assert!(pair.core.stored().is_empty(), "{to}");
    }
}

#[test]
fn a_modem_that_refuses_cnma_goes_back_to_cmti_for_the_session() {
    let mut pair = Pair::with_setup(sim(), None, Timings::default(), |core| {
        core.refuse_acks(true)
    });
    pair.until_ready(Duration::from_secs(5));
    assert!(pair.session.delivers_directly());
    let from = pair.commands().len();
    pair.deliver(DELIVER);
    pair.settle();
    assert_eq!(
        pair.seen.announced, 1,
        "committed before any acknowledgement"
    );
    let seen = commands_since(&pair, from);
    // Both acknowledgement forms tried, then <mt> 1.
    assert!(seen.iter().any(|c| c == "AT+CNMA"), "{seen:?}");
    assert!(seen.iter().any(|c| c == "AT+CNMA=0"), "{seen:?}");
    assert!(seen.iter().any(|c| c == "AT+CSMS=0"), "{seen:?}");
    assert!(!pair.session.delivers_directly());
    assert_eq!(pair.core.cnmi_setting().mt, 1);
    // The unacknowledged message reaches the store again (the modem kept it): a duplicate.
    assert!(
        pair.run_until(pair.now + Duration::from_secs(120), |p| p.seen.duplicates
            == 1
            && p.core.stored().is_empty())
    );
    assert_eq!(pair.seen.announced, 1);
    // New SMS now come as +CMTI, read and deleted after the commit; no acknowledgement.
    let from = pair.commands().len();
    pair.deliver(DELIVER_2);
    pair.advance(Duration::from_secs(2));
    let (_, pdu, source) = pair.seen.inbound.last().cloned().expect("handed over");
    assert_eq!(pdu, DELIVER_2);
    assert!(matches!(source, InboundSource::Stored { .. }), "{source:?}");
    let seen = commands_since(&pair, from);
    assert!(seen.iter().any(|c| c.starts_with("AT+CMGR")), "{seen:?}");
    assert!(!seen.iter().any(|c| c.starts_with("AT+CNMA")), "{seen:?}");
    assert_eq!(pair.seen.announced, 2);
    assert_eq!(
        pair.core.cnmi_setting().mt,
        1,
        "for the rest of the session"
    );
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
    assert_eq!(pair.seen.submitting, vec![7]);
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
fn a_pool_that_does_not_answer_at_the_prompt_sends_nothing() {
    let mut pair = Pair::new(sim(), None, Timings::default());
    pair.until_ready(Duration::from_secs(5));
    pair.auto_prompt = false;
    pair.session.send(9, SUBMIT_LEN, SUBMIT.into(), pair.now);
    pair.advance(Timings::default().commit + Duration::from_secs(2));
    assert_eq!(pair.seen.submitting, vec![9]);
    assert!(pair.core.sent_pdus().is_empty());
    assert!(matches!(
        pair.seen.done.as_slice(),
        [(9, SendOutcome::NotSent { .. })]
    ));
    // The modem answered the cancelled prompt: it is not taken for a silent one.
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

/// The report that started this design: the modem's process stopped (SIGSTOP) for 95 s just
/// as a send began. Then: ready the whole time, 90 s waiting for the prompt, 31 s to be ready
/// again. Now: not ready and the part back within seconds, ready within 5 s of resuming,
/// nothing sent twice, no reset.
#[test]
fn a_modem_stopped_for_95s_during_a_send() {
    let mut pair = Pair::new(sim(), None, Timings::default());
    pair.until_ready(Duration::from_secs(5));
    pair.advance(Duration::from_millis(700));
    pair.frozen = Some(Vec::new());
    let stopped = pair.now;
    pair.session.send(5, SUBMIT_LEN, SUBMIT.into(), stopped);
    assert!(pair.run_until(stopped + Duration::from_secs(10), |p| !p
        .seen
        .done
        .is_empty()));
    let gave_back = pair.now - stopped;
    assert!(gave_back <= Duration::from_secs(5), "{gave_back:?}");
    assert!(matches!(
        pair.seen.done[0],
        (5, SendOutcome::NotSent { .. })
    ));
    assert_ne!(pair.state(), ModemState::Ready);
    pair.advance(stopped + Duration::from_secs(95) - pair.now);
    // Resumed: it reads everything written meanwhile and answers it all at once.
    let written = pair.frozen.take().expect("frozen");
    pair.core.feed(&written, pair.now);
    let back = pair.until_ready(Duration::from_secs(5));
    assert!(back <= Duration::from_secs(5), "{back:?}");
    assert!(pair.core.sent_pdus().is_empty(), "the part was never typed");
    assert!(!pair.commands().iter().any(|c| c.contains("CFUN")));
    pair.advance(Duration::from_secs(30));
    assert_eq!(pair.state(), ModemState::Ready);
    eprintln!("stopped 95 s: part back after {gave_back:?}, ready {back:?} after resuming");
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

#[path = "modem_session/transcripts.rs"]
mod transcripts;
