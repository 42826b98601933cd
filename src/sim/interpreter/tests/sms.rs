//! Unit tests of the interpreter, continued: indications, routing, storage and sends.

use super::*;

#[test]
fn cnmi_test_and_validation_follow_the_personality() {
    let mut generic = Bench::generic().quiet();
    assert_eq!(
        generic.send("AT+CNMI=?\r"),
        "\r\n+CNMI: (0-3),(0-3),(0-3),(0-2),(0,1)\r\n\r\nOK\r\n"
    );
    assert_eq!(generic.send("AT+CNMI=2,2,0,1,0\r"), "\r\nOK\r\n");
    assert_eq!(
        generic.send("AT+CNMI?\r"),
        "\r\n+CNMI: 2,2,0,1,0\r\n\r\nOK\r\n"
    );
    assert_eq!(generic.send("AT+CNMI=9,1\r"), "\r\n+CMS ERROR: 303\r\n");
    assert_eq!(generic.send("AT+CNMI=x\r"), "\r\n+CMS ERROR: 303\r\n");
    let mut zte = Bench::with(Personality::Zte).quiet();
    assert_eq!(
        zte.send("AT+CNMI=?\r"),
        "\r\n+CNMI: (0-2),(0,1),(0,2),(0,2),(0,1)\r\n\r\nOK\r\n"
    );
    assert_eq!(zte.send("AT+CNMI=2,2,0,1,0\r"), "\r\n+CMS ERROR: 303\r\n");
    assert_eq!(zte.send("AT+CNMI=2,1,0,2,0\r"), "\r\nOK\r\n");
    let custom = SimModemConfig {
        cnmi_ranges: Some(CnmiRanges {
            mode: vec![2],
            mt: vec![0, 1, 3],
            bm: vec![0],
            ds: vec![0, 1],
            bfr: vec![0],
        }),
        ..SimModemConfig::default()
    };
    let mut custom = Bench::new(custom).quiet();
    assert_eq!(
        custom.send("AT+CNMI=?\r"),
        "\r\n+CNMI: (2),(0,1,3),(0),(0,1),(0)\r\n\r\nOK\r\n"
    );
}

#[test]
fn boot_cnmi_differs_per_vendor() {
    let mut quectel = Bench::with(Personality::Quectel).quiet();
    assert_eq!(
        quectel.send("AT+CNMI?\r"),
        "\r\n+CNMI: 2,1,0,0,0\r\n\r\nOK\r\n"
    );
    let mut generic = Bench::generic().quiet();
    assert_eq!(
        generic.send("AT+CNMI?\r"),
        "\r\n+CNMI: 0,0,0,0,0\r\n\r\nOK\r\n"
    );
    // mt=0: stored silently.
    generic.deliver(DELIVER);
    assert_eq!(generic.read(), "");
    assert_eq!(generic.core.stored().len(), 1);
}

#[test]
fn cnmi_mode_zero_buffers_indications_until_mode_changes() {
    let mut bench = Bench::generic().quiet();
    bench.send("AT+CNMI=0,1,0,0,0\r");
    bench.deliver(DELIVER);
    assert_eq!(bench.read(), "");
    assert_eq!(
        bench.send("AT+CNMI=2,1,0,0,0\r"),
        "\r\nOK\r\n\r\n+CMTI: \"SM\",1\r\n"
    );
    // bfr=1 clears instead of flushing.
    bench.send("AT+CNMI=0,1,0,0,0\r");
    bench.deliver(DELIVER);
    assert_eq!(bench.send("AT+CNMI=2,1,0,0,1\r"), "\r\nOK\r\n");
    assert_eq!(bench.core.stored().len(), 2);
}

#[test]
fn direct_delivery_with_cmt_needs_no_ack_by_default() {
    let mut bench = Bench::generic().quiet();
    bench.send("AT+CNMI=2,2,0,0,0\r");
    bench.deliver(DELIVER);
    assert_eq!(
        bench.read(),
        format!("\r\n+CMT: ,{DELIVER_LEN}\r\n{DELIVER}\r\n")
    );
    assert!(bench.core.stored().is_empty());
    assert_eq!(bench.send("AT+CNMA\r"), "\r\n+CMS ERROR: 340\r\n");
    bench.deliver(DELIVER);
    assert!(bench.read().starts_with("\r\n+CMT: "));
}

#[test]
fn acked_cmt_is_not_stored_and_unacked_cmt_falls_back_to_storage() {
    let mut bench = Bench::generic().quiet();
    assert_eq!(bench.send("AT+CSMS=1\r"), "\r\n+CSMS: 1,1,1\r\n\r\nOK\r\n");
    bench.send("AT+CNMI=2,2,0,0,0\r");
    bench.deliver(DELIVER);
    bench.deliver(DELIVER);
    assert_eq!(
        bench.read().matches("+CMT: ").count(),
        1,
        "second waits for the ack"
    );
    assert_eq!(
        bench.send("AT+CNMA\r"),
        format!("\r\nOK\r\n\r\n+CMT: ,{DELIVER_LEN}\r\n{DELIVER}\r\n")
    );
    assert!(bench.core.next_deadline().is_some());
    // No ack this time: after the timeout the message is stored and routing switched off.
    let late = bench.now + Duration::from_secs(16);
    bench.core.handle_timeout(late);
    assert_eq!(bench.core.stored().len(), 1);
    assert_eq!(bench.core.cnmi_setting().mt, 0);
    assert_eq!(bench.core.next_deadline(), None);
}

#[test]
fn status_reports_follow_ds() {
    let mut bench = Bench::generic().quiet();
    bench.send("AT+CNMI=2,1,0,1,0\r");
    bench.report(STATUS_REPORT);
    let tpdu_len = tpdu_length_of(STATUS_REPORT).unwrap();
    assert_eq!(
        bench.read(),
        format!("\r\n+CDS: {tpdu_len}\r\n{STATUS_REPORT}\r\n")
    );
    bench.send("AT+CNMI=2,1,0,2,0\r");
    bench.report(STATUS_REPORT);
    assert_eq!(bench.read(), "\r\n+CDSI: \"SR\",1\r\n");
    bench.send("AT+CPMS=\"SR\"\r");
    assert_eq!(
        bench.send("AT+CMGR=1\r"),
        format!("\r\n+CMGR: 0,,{tpdu_len}\r\n{STATUS_REPORT}\r\n\r\nOK\r\n")
    );
}

#[test]
fn urcs_wait_for_a_half_typed_echoed_line_and_for_the_pdu_prompt() {
    let mut bench = Bench::generic();
    bench.send("AT+CNMI=2,1,0,0,0\r");
    assert_eq!(bench.send("AT+CS"), "AT+CS");
    bench.deliver(DELIVER);
    assert_eq!(bench.read(), "", "no URC inside the echoed line");
    assert_eq!(
        bench.send("Q\r"),
        "Q\r\r\n+CSQ: 20,99\r\n\r\nOK\r\n\r\n+CMTI: \"SM\",1\r\n"
    );
    bench.send("ATE0\r");
    bench.send(&format!("AT+CMGS={SUBMIT_WITH_SRR_LEN}\r"));
    bench.deliver(DELIVER);
    assert_eq!(bench.read(), "", "no URC after the prompt");
    assert_eq!(
        bench.send(&format!("{SUBMIT_WITH_SRR}\u{1a}")),
        "\r\n+CMTI: \"SM\",2\r\n"
    );
}

#[test]
fn dropped_cmti_leaves_the_message_for_the_sweep() {
    let mut bench = Bench::generic().quiet();
    bench.send("AT+CNMI=2,1,0,0,0\r");
    bench.core.drop_next_cmti(1);
    bench.deliver(DELIVER);
    assert_eq!(bench.read(), "");
    assert!(bench
        .send("AT+CMGL=4\r")
        .contains(&format!("+CMGL: 1,0,,{DELIVER_LEN}")));
    bench.deliver(DELIVER);
    assert_eq!(bench.read(), "\r\n+CMTI: \"SM\",2\r\n");
}

#[test]
fn registration_urcs_when_enabled() {
    let mut bench = Bench::generic().quiet();
    assert_eq!(bench.send("AT+CREG?\r"), "\r\n+CREG: 0,1\r\n\r\nOK\r\n");
    bench.send("AT+CREG=1;+CEREG=2\r");
    bench.core.set_registered(false, bench.now);
    assert_eq!(bench.read(), "\r\n+CREG: 2\r\n\r\n+CEREG: 2\r\n");
    bench.core.set_registered(true, bench.now);
    assert_eq!(
        bench.read(),
        "\r\n+CREG: 1\r\n\r\n+CEREG: 1,\"1A2B\",\"01C3D4E5\",7\r\n"
    );
    assert_eq!(
        bench.send("AT+COPS?\r"),
        "\r\n+COPS: 0,0,\"SimNet\",7\r\n\r\nOK\r\n"
    );
    bench.send("AT+CREG=2\r");
    assert_eq!(
        bench.send("AT+CREG?\r"),
        "\r\n+CREG: 2,1,\"1A2B\",\"01C3D4E5\"\r\n\r\nOK\r\n"
    );
}

#[test]
fn messages_wait_in_the_network_while_unregistered() {
    let mut bench = Bench::generic().quiet();
    bench.send("AT+CNMI=2,1,0,0,0\r");
    bench.core.set_registered(false, bench.now);
    bench.deliver(DELIVER);
    assert_eq!(bench.core.network_backlog(), 1);
    assert_eq!(bench.read(), "");
    bench.core.set_registered(true, bench.now);
    assert_eq!(bench.core.network_backlog(), 0);
    assert_eq!(bench.read(), "\r\n+CMTI: \"SM\",1\r\n");
}

#[test]
fn a_full_sim_holds_messages_back_until_space_is_freed() {
    let config = SimModemConfig {
        sim_capacity: 1,
        ..SimModemConfig::default()
    };
    let mut bench = Bench::new(config).quiet();
    bench.send("AT+CNMI=2,1,0,0,0\r");
    bench.deliver(DELIVER);
    bench.deliver(DELIVER);
    assert_eq!(bench.read(), "\r\n+CMTI: \"SM\",1\r\n");
    assert_eq!(bench.core.network_backlog(), 1);
    assert_eq!(
        bench.send("AT+CMGD=1\r"),
        "\r\nOK\r\n\r\n+CMTI: \"SM\",1\r\n"
    );
    assert_eq!(bench.core.network_backlog(), 0);
}

#[test]
fn cfun_reset_answers_ok_then_asks_for_a_reset() {
    let mut bench = Bench::with(Personality::Quectel).quiet();
    assert_eq!(bench.send("AT+CFUN=1,1\r"), "\r\nOK\r\n");
    assert_eq!(bench.core.take_effects(), vec![Effect::Reset]);
    bench.core.power_off();
    assert_eq!(bench.send("AT\r"), "", "a modem without power says nothing");
    bench.core.boot(bench.now);
    let banner = bench.read();
    assert!(banner.starts_with("\r\nRDY\r\n"));
    assert!(banner.contains("\r\n+CPIN: READY\r\n"));
    assert!(banner.contains("\r\n+QIND: SMS DONE\r\n"));
    // Echo is back on after the reset.
    assert_eq!(bench.send("AT\r"), "AT\r\r\nOK\r\n");
}

#[test]
fn simcom_waits_for_the_pin_before_sms_done() {
    let config = SimModemConfig {
        personality: Personality::Simcom,
        pin: Some("1234".into()),
        ..SimModemConfig::default()
    };
    let mut core = ModemCore::new(config, "+15550009999");
    let now = Instant::now();
    core.boot(now);
    let banner = String::from_utf8_lossy(&core.take_output()).into_owned();
    assert_eq!(banner, "\r\nRDY\r\n\r\n+CPIN: SIM PIN\r\n");
    core.feed(b"AT+CPIN=1234\r", now);
    let reply = String::from_utf8_lossy(&core.take_output()).into_owned();
    assert_eq!(
        reply,
        "AT+CPIN=1234\r\r\nOK\r\n\r\n+CPIN: READY\r\n\r\nSMS DONE\r\n\r\nPB DONE\r\n"
    );
}

#[test]
fn cfun_zero_deregisters() {
    let mut bench = Bench::generic().quiet();
    assert_eq!(bench.send("AT+CFUN=0\r"), "\r\nOK\r\n");
    assert_eq!(bench.send("AT+CFUN?\r"), "\r\n+CFUN: 0\r\n\r\nOK\r\n");
    assert_eq!(bench.send("AT+CREG?\r"), "\r\n+CREG: 0,0\r\n\r\nOK\r\n");
    assert_eq!(bench.send("AT+CFUN=1\r"), "\r\nOK\r\n");
    assert_eq!(bench.send("AT+CREG?\r"), "\r\n+CREG: 0,1\r\n\r\nOK\r\n");
}

#[test]
fn a_hung_modem_says_nothing_until_cleared() {
    let mut bench = Bench::generic().quiet();
    bench.send("AT+CNMI=2,1,0,0,0\r");
    bench.core.set_hung(true, bench.now);
    assert_eq!(bench.send("AT\r"), "");
    bench.deliver(DELIVER);
    bench.core.vendor_tick();
    assert_eq!(bench.read(), "");
    bench.core.set_hung(false, bench.now);
    assert_eq!(bench.read(), "\r\n+CMTI: \"SM\",1\r\n");
    assert_eq!(bench.send("AT\r"), "\r\nOK\r\n");
    // A power cycle cures a hang as well.
    bench.core.set_hung(true, bench.now);
    bench.core.power_off();
    bench.core.boot(bench.now);
    assert!(!bench.core.is_hung());
    assert_eq!(bench.send("AT\r"), "AT\r\r\nOK\r\n");
}

#[test]
fn garbage_goes_out_between_responses() {
    let mut bench = Bench::generic().quiet();
    bench.core.inject_garbage(b"\xff\x00junk");
    assert_eq!(bench.core.take_output(), b"\xff\x00junk".to_vec());
}

#[test]
fn huawei_chatters_until_curc_zero() {
    let mut bench = Bench::with(Personality::Huawei).quiet();
    bench.core.vendor_tick();
    assert_eq!(bench.read(), "\r\n^RSSI:20\r\n");
    bench.core.vendor_tick();
    bench.core.vendor_tick();
    let third = bench.read();
    assert!(third.contains("^MODE:5,4"));
    assert_eq!(bench.send("AT^CURC=0\r"), "\r\nOK\r\n");
    bench.core.vendor_tick();
    assert_eq!(bench.read(), "");
    let mut generic = Bench::generic().quiet();
    generic.core.vendor_tick();
    assert_eq!(generic.read(), "");
}

#[test]
fn power_off_keeps_an_unacked_cmt_in_storage() {
    let mut bench = Bench::generic().quiet();
    bench.send("AT+CSMS=1\r");
    bench.send("AT+CNMI=2,2,0,0,0\r");
    bench.deliver(DELIVER);
    assert!(bench.read().contains("+CMT: "));
    bench.core.power_off();
    assert_eq!(bench.core.stored().len(), 1);
}

#[test]
fn preload_puts_messages_on_the_sim() {
    let mut bench = Bench::generic().quiet();
    let index = bench
        .core
        .preload(Memory::Sm, MessageStatus::ReceivedUnread, DELIVER)
        .unwrap();
    assert_eq!(index, 1);
    assert!(bench.send("AT+CMGL=4\r").contains(DELIVER));
    assert!(bench
        .core
        .preload(Memory::Sm, MessageStatus::ReceivedUnread, "zz")
        .is_err());
}

#[test]
fn commands_are_logged() {
    let mut bench = Bench::generic();
    bench.send("AT\rATE0\r\rAT+CSQ\r");
    assert_eq!(bench.core.commands(), vec!["AT", "ATE0", "AT+CSQ"]);
    assert_eq!(bench.core.commands_total(), 3);
}

#[test]
fn overlong_lines_are_refused() {
    let mut bench = Bench::generic().quiet();
    let long = format!("AT{}\r", "A".repeat(MAX_COMMAND_LINE + 10));
    assert_eq!(bench.send(&long), "\r\nERROR\r\n");
    assert_eq!(bench.send("AT\r"), "\r\nOK\r\n");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Whatever the host writes, the modem neither panics nor stops answering.
        #[test]
        fn arbitrary_input_never_breaks_the_modem(input in proptest::collection::vec(any::<u8>(), 0..400)) {
            let mut bench = Bench::generic();
            let feed_and_settle = |bench: &mut Bench, bytes: &[u8]| {
                bench.core.feed(bytes, bench.now);
                // Answer every submit, including those typed while an earlier one waited.
                while bench
                    .core
                    .take_effects()
                    .iter()
                    .any(|effect| matches!(effect, Effect::Submit(_)))
                {
                    bench.core.complete_submit(SubmitOutcome::Accepted, bench.now);
                }
                String::from_utf8_lossy(&bench.core.take_output()).into_owned()
            };
            feed_and_settle(&mut bench, &input);
            // Leave any prompt, finish any line, then the modem must answer AT.
            feed_and_settle(&mut bench, b"\x1b\r");
            feed_and_settle(&mut bench, b"ATE0\r");
            let reply = feed_and_settle(&mut bench, b"AT\r");
            prop_assert!(reply.ends_with("\r\nOK\r\n"), "reply was {:?}", reply);
        }

        /// Arbitrary command lines get a final result (or are ignored), never a panic.
        #[test]
        fn arbitrary_command_lines_get_a_final_result(body in "[A-Z+^=?,\"0-9;&]{0,40}") {
            let mut bench = Bench::generic().quiet();
            let reply = bench.send(&format!("AT{body}\r"));
            prop_assert!(
                reply.is_empty() || reply.contains("> ") || reply.ends_with("OK\r\n")
                    || reply.contains("ERROR") || reply.contains("NOT SUPPORT"),
                "reply was {:?}", reply
            );
        }
    }
}

#[test]
fn a_receipt_is_announced_only_when_the_message_is_taken() {
    let mut bench = Bench::generic().quiet();
    bench.send("AT+CNMI=2,1,0,0,0\r");
    bench.core.set_registered(false, bench.now);
    let with_receipt = Inbound::Deliver {
        pdu_hex: DELIVER.to_string(),
        receipt: Some(7),
    };
    bench.core.receive_from_network(with_receipt, bench.now);
    assert!(
        bench.core.take_effects().is_empty(),
        "not delivered while unregistered"
    );
    bench.core.set_registered(true, bench.now);
    assert_eq!(bench.core.take_effects(), vec![Effect::Delivered(7)]);
    bench.deliver(DELIVER);
    assert!(bench.core.take_effects().is_empty(), "no receipt asked");
}
