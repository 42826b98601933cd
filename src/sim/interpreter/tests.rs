//! Unit tests of the AT interpreter: bytes in, bytes and effects out, time passed by hand.

use super::*;
use crate::sim::config::Personality;
use std::time::Duration;

/// A GSM-7 SMS-SUBMIT with TP-SRR set (diafaan, tests/vectors/sms_pdus.json `pgm_submit_diafaan`).
const SUBMIT_WITH_SRR: &str =
    "07911326040000F0310D0B911326880736F40000A90FF7FBDD454E87CDE1B0DB357EB701";
const SUBMIT_WITH_SRR_LEN: usize = 28;
/// A GSM-7 SMS-DELIVER (gammu tests/at-sms/03.dump).
const DELIVER: &str = "0791198948004544040C9119894882006200007050307040042206CF35689E9603";
const DELIVER_LEN: usize = 25;
/// An SMS-STATUS-REPORT with SMSC (`atl_sr_214_smsc`).
const STATUS_REPORT: &str = "07911326040000F006D60B911326880736F4111011719551401110117195714000";

struct Bench {
    core: ModemCore,
    now: Instant,
}

impl Bench {
    fn new(config: SimModemConfig) -> Bench {
        let mut core = ModemCore::new(config, "+15550009999");
        let now = Instant::now();
        core.boot(now);
        core.take_output();
        Bench { core, now }
    }

    fn generic() -> Bench {
        Bench::new(SimModemConfig::default())
    }

    fn with(personality: Personality) -> Bench {
        Bench::new(SimModemConfig {
            personality,
            ..SimModemConfig::default()
        })
    }

    /// Sends bytes and returns everything the modem prints in reply.
    fn send(&mut self, input: &str) -> String {
        self.core.feed(input.as_bytes(), self.now);
        self.read()
    }

    fn read(&mut self) -> String {
        String::from_utf8_lossy(&self.core.take_output()).into_owned()
    }

    /// Echo off, numeric errors: the way a daemon configures a modem.
    fn quiet(mut self) -> Bench {
        self.send("ATE0\r");
        self.send("AT+CMEE=1\r");
        self
    }

    fn deliver(&mut self, pdu_hex: &str) {
        self.core
            .receive_from_network(Inbound::deliver(pdu_hex), self.now);
    }

    fn report(&mut self, pdu_hex: &str) {
        self.core.receive_from_network(
            Inbound::StatusReport {
                pdu_hex: pdu_hex.to_string(),
            },
            self.now,
        );
    }

    fn submit_effect(&mut self) -> OutgoingSubmit {
        let effects = self.core.take_effects();
        match effects.as_slice() {
            [Effect::Submit(submit)] => submit.clone(),
            other => panic!("expected one submit effect, got {other:?}"),
        }
    }
}

#[test]
fn echo_is_on_after_power_on_and_ate0_turns_it_off() {
    let mut bench = Bench::generic();
    assert_eq!(bench.send("AT\r"), "AT\r\r\nOK\r\n");
    assert_eq!(bench.send("ATE0\r"), "ATE0\r\r\nOK\r\n");
    assert_eq!(bench.send("AT\r"), "\r\nOK\r\n");
    assert_eq!(bench.send("ATE1\r"), "\r\nOK\r\n");
    assert_eq!(bench.send("at\r"), "at\r\r\nOK\r\n");
}

#[test]
fn bytes_split_anywhere_give_the_same_reply() {
    let mut whole = Bench::generic();
    let expected = whole.send("AT+CGMI\r\nAT+CSQ\r");
    let mut split = Bench::generic();
    let mut got = String::new();
    for byte in "AT+CGMI\r\nAT+CSQ\r".bytes() {
        split.core.feed(&[byte], split.now);
        got.push_str(&split.read());
    }
    assert_eq!(got, expected);
    assert!(expected.contains("\r\nSIMGATE\r\n\r\nOK\r\n"));
    assert!(expected.contains("\r\n+CSQ: 20,99\r\n\r\nOK\r\n"));
}

#[test]
fn identity_follows_the_personality() {
    let mut huawei = Bench::with(Personality::Huawei).quiet();
    assert_eq!(huawei.send("AT+CGMI\r"), "\r\nhuawei\r\n\r\nOK\r\n");
    assert_eq!(
        huawei.send("AT+CGSN\r"),
        "\r\n356938035643809\r\n\r\nOK\r\n"
    );
    assert_eq!(
        huawei.send("AT^ICCID?\r"),
        "\r\n^ICCID: 8901260000000000001\r\n\r\nOK\r\n"
    );
    assert_eq!(huawei.send("AT+CCID\r"), "\r\nCOMMAND NOT SUPPORT\r\n");
    let mut quectel = Bench::with(Personality::Quectel).quiet();
    assert_eq!(
        quectel.send("AT+QCCID\r"),
        "\r\n+QCCID: 8901260000000000001\r\n\r\nOK\r\n"
    );
    let mut simcom = Bench::with(Personality::Simcom).quiet();
    assert_eq!(
        simcom.send("AT+CCID\r"),
        "\r\n8901260000000000001\r\n\r\nOK\r\n"
    );
    let mut generic = Bench::generic().quiet();
    assert_eq!(
        generic.send("AT+CIMI\r"),
        "\r\n310260000000001\r\n\r\nOK\r\n"
    );
    assert_eq!(
        generic.send("AT+CNUM\r"),
        "\r\n+CNUM: \"\",\"+15550000001\",145\r\n\r\nOK\r\n"
    );
}

#[test]
fn unknown_commands_are_refused_the_vendor_way() {
    assert_eq!(Bench::generic().quiet().send("AT+WIND?\r"), "\r\nERROR\r\n");
    assert_eq!(
        Bench::with(Personality::Huawei).quiet().send("AT+WIND?\r"),
        "\r\nCOMMAND NOT SUPPORT\r\n"
    );
    assert_eq!(
        Bench::with(Personality::Zte).quiet().send("AT^CURC=0\r"),
        "\r\nCOMMAND NOT SUPPORT\r\n"
    );
}

#[test]
fn lines_without_attention_prefix_are_ignored() {
    let mut bench = Bench::generic().quiet();
    assert_eq!(bench.send("hello\r"), "");
    assert_eq!(bench.send("\u{0}\u{0}AT\r"), "\r\nOK\r\n");
}

#[test]
fn chained_commands_run_in_order_and_stop_at_the_first_error() {
    let mut bench = Bench::generic();
    assert_eq!(
        bench.send("ATE0;+CMEE=1;+CMGF=0\r"),
        "ATE0;+CMEE=1;+CMGF=0\r\r\nOK\r\n"
    );
    assert!(!bench.core.echo_enabled());
    assert_eq!(
        bench.send("AT+CMGF?;+CSQ\r"),
        "\r\n+CMGF: 0\r\n+CSQ: 20,99\r\n\r\nOK\r\n"
    );
    assert_eq!(bench.send("AT+CMEE=2;+BOGUS;E1\r"), "\r\nERROR\r\n");
    assert!(
        !bench.core.echo_enabled(),
        "E1 after the failure must not run"
    );
}

#[test]
fn cmee_selects_plain_numeric_or_verbose_errors() {
    let config = SimModemConfig {
        pin: Some("1234".into()),
        ..SimModemConfig::default()
    };
    let mut bench = Bench::new(config);
    bench.send("ATE0\r");
    bench.send("AT+CMEE=0\r");
    assert_eq!(bench.send("AT+CPIN=\"0000\"\r"), "\r\nERROR\r\n");
    bench.send("AT+CMEE=1\r");
    assert_eq!(bench.send("AT+CPIN=\"0000\"\r"), "\r\n+CME ERROR: 16\r\n");
    bench.send("AT+CMEE=2\r");
    assert_eq!(
        bench.send("AT+CPIN=\"0000\"\r"),
        "\r\n+CME ERROR: incorrect password\r\n"
    );
    assert_eq!(bench.send("AT+CMEE?\r"), "\r\n+CMEE: 2\r\n\r\nOK\r\n");
    assert_eq!(
        bench.send("AT+CMEE=7\r"),
        "\r\n+CME ERROR: incorrect parameters\r\n"
    );
}

#[test]
fn sim_pin_gates_commands_until_the_right_pin() {
    let config = SimModemConfig {
        pin: Some("1234".into()),
        ..SimModemConfig::default()
    };
    let mut bench = Bench::new(config).quiet();
    assert_eq!(bench.send("AT+CPIN?\r"), "\r\n+CPIN: SIM PIN\r\n\r\nOK\r\n");
    assert_eq!(bench.send("AT+CIMI\r"), "\r\n+CME ERROR: 11\r\n");
    assert_eq!(bench.send("AT+CMGL=4\r"), "\r\n+CMS ERROR: 311\r\n");
    assert_eq!(bench.send("AT+CREG?\r"), "\r\n+CREG: 0,0\r\n\r\nOK\r\n");
    assert_eq!(bench.send("AT+CPIN=\"9999\"\r"), "\r\n+CME ERROR: 16\r\n");
    assert_eq!(bench.send("AT+CPIN=\"1234\"\r"), "\r\nOK\r\n");
    assert_eq!(bench.send("AT+CPIN?\r"), "\r\n+CPIN: READY\r\n\r\nOK\r\n");
    assert_eq!(bench.send("AT+CREG?\r"), "\r\n+CREG: 0,1\r\n\r\nOK\r\n");
    assert_eq!(bench.send("AT+CIMI\r"), "\r\n310260000000001\r\n\r\nOK\r\n");
}

#[test]
fn three_wrong_pins_need_the_puk() {
    let config = SimModemConfig {
        pin: Some("1234".into()),
        ..SimModemConfig::default()
    };
    let mut bench = Bench::new(config).quiet();
    for _ in 0..3 {
        assert_eq!(bench.send("AT+CPIN=\"1111\"\r"), "\r\n+CME ERROR: 16\r\n");
    }
    assert_eq!(bench.send("AT+CPIN?\r"), "\r\n+CPIN: SIM PUK\r\n\r\nOK\r\n");
    assert_eq!(bench.send("AT+CPIN=\"1234\"\r"), "\r\n+CME ERROR: 16\r\n");
    assert_eq!(bench.send("AT+CIMI\r"), "\r\n+CME ERROR: 12\r\n");
    assert_eq!(
        bench.send(&format!("AT+CPIN=\"{SIM_PUK}\",\"4321\"\r")),
        "\r\nOK\r\n"
    );
    assert_eq!(bench.core.sim_lock(), SimLock::Ready);
}

#[test]
fn cmgs_prompts_validates_and_answers_after_the_network() {
    let mut bench = Bench::generic().quiet();
    assert_eq!(tpdu_length_of(SUBMIT_WITH_SRR), Some(SUBMIT_WITH_SRR_LEN));
    assert_eq!(
        bench.send(&format!("AT+CMGS={SUBMIT_WITH_SRR_LEN}\r")),
        "\r\n> "
    );
    assert_eq!(bench.send(&format!("{SUBMIT_WITH_SRR}\u{1a}")), "");
    let submit = bench.submit_effect();
    assert_eq!(submit.message_ref, 0);
    assert_eq!(submit.tpdu_len, SUBMIT_WITH_SRR_LEN);
    assert_eq!(submit.layout.destination_number(), "+31628870634");
    assert!(submit.layout.status_report_requested());
    // Commands typed while the network works wait for the answer.
    assert_eq!(bench.send("AT\r"), "");
    bench
        .core
        .complete_submit(SubmitOutcome::Accepted, bench.now);
    assert_eq!(bench.read(), "\r\n+CMGS: 0\r\n\r\nOK\r\n\r\nOK\r\n");
    let sent = bench.core.sent_pdus();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, "+31628870634");
    // The second part gets the next reference, stamped into the PDU.
    bench.send(&format!(
        "AT+CMGS={SUBMIT_WITH_SRR_LEN}\r{SUBMIT_WITH_SRR}\u{1a}"
    ));
    let second = bench.submit_effect();
    assert_eq!(second.message_ref, 1);
    assert_eq!(&second.pdu_hex[16..20], "3101");
}

#[test]
fn command_and_pdu_in_one_write_work_without_waiting_for_the_prompt() {
    let mut bench = Bench::generic().quiet();
    let reply = bench.send(&format!(
        "AT+CMGS={SUBMIT_WITH_SRR_LEN}\r{SUBMIT_WITH_SRR}\u{1a}"
    ));
    assert_eq!(reply, "\r\n> ");
    bench.submit_effect();
    bench
        .core
        .complete_submit(SubmitOutcome::Accepted, bench.now);
    assert_eq!(bench.read(), "\r\n+CMGS: 0\r\n\r\nOK\r\n");
}

#[test]
fn cmgs_refuses_bad_lengths_and_garbage_with_304() {
    let mut bench = Bench::generic().quiet();
    bench.send(&format!("AT+CMGS={}\r", SUBMIT_WITH_SRR_LEN + 1));
    assert_eq!(
        bench.send(&format!("{SUBMIT_WITH_SRR}\u{1a}")),
        "\r\n+CMS ERROR: 304\r\n"
    );
    bench.send("AT+CMGS=10\r");
    assert_eq!(
        bench.send("not hex at all\u{1a}"),
        "\r\n+CMS ERROR: 304\r\n"
    );
    bench.send(&format!("AT+CMGS={DELIVER_LEN}\r"));
    assert_eq!(
        bench.send(&format!("{DELIVER}\u{1a}")),
        "\r\n+CMS ERROR: 304\r\n",
        "a DELIVER is not a SUBMIT"
    );
    assert_eq!(bench.send("AT+CMGS=0\r"), "\r\n+CMS ERROR: 304\r\n");
    assert_eq!(bench.send("AT+CMGS=abc\r"), "\r\n+CMS ERROR: 304\r\n");
    assert!(bench.core.take_effects().is_empty());
    assert_eq!(bench.send("AT\r"), "\r\nOK\r\n");
}

#[test]
fn escape_cancels_the_prompt() {
    let mut bench = Bench::generic().quiet();
    bench.send("AT+CMGS=29\r");
    assert_eq!(bench.send("0011\u{1b}"), "\r\nOK\r\n");
    assert!(bench.core.take_effects().is_empty());
    assert_eq!(bench.send("AT\r"), "\r\nOK\r\n");
}

#[test]
fn pdu_is_echoed_when_echo_is_on() {
    let mut bench = Bench::generic();
    let reply = bench.send(&format!("AT+CMGS={SUBMIT_WITH_SRR_LEN}\r"));
    assert_eq!(reply, format!("AT+CMGS={SUBMIT_WITH_SRR_LEN}\r\r\n> "));
    assert_eq!(
        bench.send(&format!("{SUBMIT_WITH_SRR}\u{1a}")),
        SUBMIT_WITH_SRR
    );
}

#[test]
fn sends_fail_when_unregistered_and_on_injected_errors() {
    let mut bench = Bench::generic().quiet();
    bench.core.set_registered(false, bench.now);
    let line = format!("AT+CMGS={SUBMIT_WITH_SRR_LEN}\r{SUBMIT_WITH_SRR}\u{1a}");
    assert_eq!(bench.send(&line), "\r\n> \r\n+CMS ERROR: 331\r\n");
    bench.core.set_registered(true, bench.now);
    bench.core.fail_next_sends(2, 500);
    assert_eq!(bench.send(&line), "\r\n> \r\n+CMS ERROR: 500\r\n");
    assert_eq!(bench.send(&line), "\r\n> \r\n+CMS ERROR: 500\r\n");
    assert_eq!(bench.send(&line), "\r\n> ");
    assert_eq!(bench.submit_effect().message_ref, 0);
}

#[test]
fn network_refusal_is_a_cms_error() {
    let mut bench = Bench::generic().quiet();
    bench.send(&format!(
        "AT+CMGS={SUBMIT_WITH_SRR_LEN}\r{SUBMIT_WITH_SRR}\u{1a}"
    ));
    bench.submit_effect();
    bench
        .core
        .complete_submit(SubmitOutcome::Failed(332), bench.now);
    assert_eq!(bench.read(), "\r\n+CMS ERROR: 332\r\n");
    assert!(bench.core.sent_pdus().is_empty());
}

#[test]
fn zte_reports_its_radio_between_cmgs_and_the_prompt() {
    let mut bench = Bench::with(Personality::Zte).quiet();
    assert_eq!(bench.send("AT+CMGS=29\r"), "\r\n+ZPASR: \"UMTS\"\r\n\r\n> ");
}

#[test]
fn inbound_sms_is_stored_announced_read_and_deleted() {
    let mut bench = Bench::generic().quiet();
    bench.send("AT+CNMI=2,1,0,0,0\r");
    bench.deliver(DELIVER);
    assert_eq!(bench.read(), "\r\n+CMTI: \"SM\",1\r\n");
    assert_eq!(
        bench.send("AT+CMGR=1\r"),
        format!("\r\n+CMGR: 0,,{DELIVER_LEN}\r\n{DELIVER}\r\n\r\nOK\r\n")
    );
    assert_eq!(
        bench.send("AT+CMGR=1\r"),
        format!("\r\n+CMGR: 1,,{DELIVER_LEN}\r\n{DELIVER}\r\n\r\nOK\r\n"),
        "reading marks the message read"
    );
    assert_eq!(
        bench.send("AT+CPMS?\r"),
        "\r\n+CPMS: \"SM\",1,30,\"SM\",1,30,\"SM\",1,30\r\n\r\nOK\r\n"
    );
    assert_eq!(bench.send("AT+CMGD=1\r"), "\r\nOK\r\n");
    assert_eq!(bench.send("AT+CMGR=1\r"), "\r\n+CMS ERROR: 321\r\n");
    assert_eq!(bench.send("AT+CMGR=99\r"), "\r\n+CMS ERROR: 321\r\n");
    assert!(bench.core.stored().is_empty());
}

#[test]
fn huawei_counts_from_zero() {
    let mut bench = Bench::with(Personality::Huawei).quiet();
    bench.send("AT^CURC=0\r");
    bench.send("AT+CNMI=2,1,0,0,0\r");
    bench.deliver(DELIVER);
    assert_eq!(bench.read(), "\r\n+CMTI: \"SM\",0\r\n");
    assert!(bench
        .send("AT+CMGR=0\r")
        .starts_with("\r\n+CMGR: 0,,25\r\n"));
    // Huawei answers a bare OK for an empty slot.
    assert_eq!(bench.send("AT+CMGR=5\r"), "\r\nOK\r\n");
}

#[test]
fn cmgl_lists_by_status_and_marks_read() {
    let mut bench = Bench::generic().quiet();
    bench.send("AT+CNMI=2,1,0,0,0\r");
    bench.deliver(DELIVER);
    bench.deliver(DELIVER);
    bench.read();
    bench.send("AT+CMGR=2\r");
    let unread = bench.send("AT+CMGL=0\r");
    assert_eq!(
        unread,
        format!("\r\n+CMGL: 1,0,,{DELIVER_LEN}\r\n{DELIVER}\r\n\r\nOK\r\n")
    );
    assert_eq!(
        bench.send("AT+CMGL=0\r"),
        "\r\nOK\r\n",
        "listed unread became read"
    );
    let all = bench.send("AT+CMGL=4\r");
    assert_eq!(all.matches("+CMGL: ").count(), 2);
    assert_eq!(bench.send("AT+CMGL=9\r"), "\r\n+CMS ERROR: 303\r\n");
    assert_eq!(bench.send("AT+CMGD=1,4\r"), "\r\nOK\r\n");
    assert_eq!(bench.send("AT+CMGL=4\r"), "\r\nOK\r\n");
}

#[test]
fn cpms_switches_memories_and_reports_counts() {
    let mut bench = Bench::generic().quiet();
    assert_eq!(
        bench.send("AT+CPMS=?\r"),
        "\r\n+CPMS: (\"SM\",\"ME\",\"MT\",\"SR\"),(\"SM\",\"ME\",\"MT\"),(\"SM\",\"ME\",\"MT\")\r\n\r\nOK\r\n"
    );
    assert_eq!(
        bench.send("AT+CPMS=\"ME\",\"ME\",\"ME\"\r"),
        "\r\n+CPMS: 0,100,0,100,0,100\r\n\r\nOK\r\n"
    );
    bench.send("AT+CNMI=2,1,0,0,0\r");
    bench.deliver(DELIVER);
    assert_eq!(bench.read(), "\r\n+CMTI: \"ME\",1\r\n");
    assert_eq!(bench.core.stored()[0].memory, Memory::Me);
    assert_eq!(bench.send("AT+CPMS=\"XX\"\r"), "\r\n+CMS ERROR: 302\r\n");
}

mod sms;
