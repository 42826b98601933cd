//! The virtual network seen from the daemon's side: SMS sent with AT+CMGS reach other virtual
//! modems (as +CMTI/+CMT and AT+CMGR) or the outside world; the world answers; status reports
//! come back; faults leave messages for the storage sweep.

use crate::sim_support;

use std::time::{Duration, Instant};

use sim_support::{cmti_index, fast, send_part, Host, SOON};
use simgate::codec::{self, encode_submit, Pdu, SubmitOptions};
use simgate::sim::{Network, PartOrder, Personality, SimModem, SimModemConfig, WorldSendOptions};

const OUTSIDE: &str = "+447700900123";

/// Two modems (`+15550000001`, `+15550000002`) in one network.
async fn two_modems() -> (Network, SimModem, SimModem, tempfile::TempDir) {
    let directory = tempfile::tempdir().unwrap();
    let network = Network::new();
    let first = network.add_modem(fast(1), directory.path()).await.unwrap();
    let second = network.add_modem(fast(2), directory.path()).await.unwrap();
    (network, first, second, directory)
}

/// Opens a host with echo off, numeric errors and `+CMTI` (and `+CDS` when `ds` is 1).
async fn daemon_like_host(modem: &SimModem, cnmi: &str) -> Host {
    let mut host = Host::open_quiet(modem.path()).await;
    assert!(host.command("AT+CMEE=1").await.ends_with("OK\r\n"));
    assert!(host.command("AT+CMGF=0").await.ends_with("OK\r\n"));
    let reply = host.command(&format!("AT+CNMI={cnmi}")).await;
    assert!(reply.ends_with("OK\r\n"), "CNMI refused: {reply:?}");
    host
}

/// Sends `text` to `to` through the host, every part, returning the `+CMGS` references.
async fn send_text(host: &mut Host, to: &str, text: &str, options: &SubmitOptions) -> Vec<u8> {
    let mut references = Vec::new();
    for part in encode_submit(to, text, options).unwrap() {
        let reply = send_part(host, part.tpdu_len, &part.hex).await;
        let line = reply
            .lines()
            .find(|line| line.starts_with("+CMGS: "))
            .unwrap_or_else(|| panic!("no +CMGS in {reply:?}"));
        references.push(line.trim_start_matches("+CMGS: ").trim().parse().unwrap());
    }
    references
}

/// `AT+CMGR=<index>` → the decoded SMS-DELIVER.
async fn read_deliver(host: &mut Host, index: u32) -> codec::Deliver {
    let lines = host.query(&format!("AT+CMGR={index}")).await;
    assert_eq!(lines.len(), 2, "CMGR reply {lines:?}");
    let header = &lines[0];
    let pdu = &lines[1];
    let declared: usize = header.rsplit(',').next().unwrap().parse().unwrap();
    assert_eq!(Some(declared), simgate::sim::tpdu::tpdu_length_of(pdu));
    match codec::decode(pdu, true).unwrap() {
        Pdu::Deliver(deliver) => deliver,
        other => panic!("expected a DELIVER, got {other:?}"),
    }
}

fn text_of(deliver: &codec::Deliver) -> String {
    deliver.user_data.text.clone().unwrap_or_default()
}

#[tokio::test]
async fn cmgs_to_an_outside_number_lands_in_the_world() {
    let (network, first, _second, _directory) = two_modems().await;
    let mut host = daemon_like_host(&first, "2,1,0,0,0").await;
    let references = send_text(
        &mut host,
        OUTSIDE,
        "Your code is 482913",
        &SubmitOptions::default(),
    )
    .await;
    assert_eq!(references, vec![0]);
    let message = network
        .world()
        .wait_for(OUTSIDE, SOON)
        .await
        .expect("in the world");
    assert_eq!(message.text, "Your code is 482913");
    assert_eq!(message.from, first.number());
    assert_eq!(message.to, OUTSIDE);
    assert_eq!(message.parts, 1);
    assert_eq!(message.message_refs, vec![0]);
    let sent = first.sent_pdus();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].to, OUTSIDE);
    assert_eq!(message.pdus, vec![sent[0].pdu_hex.clone()]);
}

#[tokio::test]
async fn modem_to_modem_arrives_as_cmti_reads_back_and_deletes() {
    let (network, first, second, _directory) = two_modems().await;
    let mut sender = daemon_like_host(&first, "2,1,0,0,0").await;
    let mut receiver = daemon_like_host(&second, "2,1,0,0,0").await;
    send_text(
        &mut sender,
        second.number(),
        "ping from one",
        &SubmitOptions::default(),
    )
    .await;
    let urc = receiver.read_until("\r\n+CMTI: \"SM\",1\r\n", SOON).await;
    let index = cmti_index(&urc);
    let deliver = read_deliver(&mut receiver, index).await;
    assert_eq!(deliver.originator.to_display(), first.number());
    assert_eq!(text_of(&deliver), "ping from one");
    assert_eq!(
        deliver.smsc.as_ref().map(|smsc| smsc.to_display()),
        Some(network.smsc().to_string())
    );
    // Read once: now "REC READ".
    let lines = receiver.query(&format!("AT+CMGR={index}")).await;
    assert!(lines[0].starts_with("+CMGR: 1,,"), "{lines:?}");
    assert!(receiver
        .command(&format!("AT+CMGD={index}"))
        .await
        .ends_with("\r\nOK\r\n"));
    assert!(receiver.query("AT+CMGL=4").await.is_empty());
    assert!(second.stored().is_empty());
    assert!(
        network.world().messages().is_empty(),
        "nothing left the simulator"
    );
}

#[tokio::test]
async fn multipart_between_modems_keeps_the_udh() {
    let (_network, first, second, _directory) = two_modems().await;
    let mut sender = daemon_like_host(&first, "2,1,0,0,0").await;
    let mut receiver = daemon_like_host(&second, "2,1,0,0,0").await;
    let text = "A long message that needs two parts. ".repeat(6);
    let options = SubmitOptions {
        concat_ref: 77,
        ..SubmitOptions::default()
    };
    assert_eq!(
        send_text(&mut sender, second.number(), &text, &options).await,
        vec![0, 1]
    );
    let first_urc = receiver.read_until("+CMTI: \"SM\",1\r\n", SOON).await;
    let second_urc = receiver.read_until("+CMTI: \"SM\",2\r\n", SOON).await;
    let mut parts = Vec::new();
    for urc in [first_urc, second_urc] {
        let deliver = read_deliver(&mut receiver, cmti_index(&urc)).await;
        let concat = deliver.user_data.concat().expect("UDH kept");
        assert_eq!(concat.reference, 77);
        assert_eq!(concat.total, 2);
        parts.push((concat.seq, text_of(&deliver)));
    }
    parts.sort();
    assert_eq!(
        parts.iter().map(|(seq, _)| *seq).collect::<Vec<_>>(),
        vec![1, 2]
    );
    let joined: String = parts.into_iter().map(|(_, part)| part).collect();
    assert_eq!(joined, text);
}

#[tokio::test]
async fn multipart_to_the_world_is_joined() {
    let (network, first, _second, _directory) = two_modems().await;
    let mut host = daemon_like_host(&first, "2,1,0,0,0").await;
    // UCS-2 (Cyrillic) long enough for three parts.
    let text = "Привет, это длинное сообщение. ".repeat(5);
    let references = send_text(&mut host, OUTSIDE, &text, &SubmitOptions::default()).await;
    assert_eq!(references.len(), 3);
    let message = network
        .world()
        .wait_for(OUTSIDE, SOON)
        .await
        .expect("joined");
    assert_eq!(message.parts, 3);
    assert_eq!(message.text, text);
    assert_eq!(message.message_refs, references);
    assert_eq!(network.world().incomplete_parts(), 0);
    assert_eq!(network.world().parts().len(), 3);
}

#[tokio::test]
async fn world_to_modem_multipart_out_of_order() {
    let (network, first, _second, _directory) = two_modems().await;
    let mut host = daemon_like_host(&first, "2,1,0,0,0").await;
    let text = "Reply from the outside world, long enough to need a second part. ".repeat(3);
    let options = WorldSendOptions {
        order: PartOrder::Reversed,
        ..WorldSendOptions::default()
    };
    let parts = network
        .send_from_world_with(OUTSIDE, first.number(), &text, &options)
        .unwrap();
    assert_eq!(parts, 2);
    host.read_until("+CMTI: \"SM\",2\r\n", SOON).await;
    let earliest = read_deliver(&mut host, 1).await;
    let latest = read_deliver(&mut host, 2).await;
    assert_eq!(
        earliest.user_data.concat().unwrap().seq,
        2,
        "last part arrived first"
    );
    assert_eq!(latest.user_data.concat().unwrap().seq, 1);
    assert_eq!(earliest.originator.to_display(), OUTSIDE);
    assert_eq!(format!("{}{}", text_of(&latest), text_of(&earliest)), text);
}

#[tokio::test]
async fn world_sender_can_be_alphanumeric() {
    let (network, first, _second, _directory) = two_modems().await;
    let mut host = daemon_like_host(&first, "2,1,0,0,0").await;
    network
        .send_from_world("Google", first.number(), "G-123456 is your code")
        .unwrap();
    let urc = host.read_until("+CMTI:", SOON).await;
    let rest = host.read_until("\r\n", SOON).await;
    let deliver = read_deliver(&mut host, cmti_index(&format!("{urc}{rest}"))).await;
    assert_eq!(deliver.originator.to_display(), "Google");
    assert_eq!(text_of(&deliver), "G-123456 is your code");
}

#[tokio::test]
async fn status_report_comes_back_after_srr() {
    let (network, first, _second, _directory) = two_modems().await;
    let mut host = daemon_like_host(&first, "2,1,0,1,0").await;
    let options = SubmitOptions {
        status_report: true,
        ..SubmitOptions::default()
    };
    let references = send_text(&mut host, OUTSIDE, "report me", &options).await;
    let header = host.read_until("+CDS: ", SOON).await;
    assert!(header.ends_with("+CDS: "));
    let length_line = host.read_until("\r\n", SOON).await;
    let pdu = host.read_until("\r\n", SOON).await;
    let declared: usize = length_line.trim().parse().unwrap();
    assert_eq!(
        Some(declared),
        simgate::sim::tpdu::tpdu_length_of(pdu.trim())
    );
    match codec::decode(pdu.trim(), true).unwrap() {
        Pdu::StatusReport(report) => {
            assert_eq!(report.message_ref, references[0]);
            assert_eq!(report.recipient.to_display(), OUTSIDE);
            assert_eq!(report.status, 0);
        }
        other => panic!("expected a status report, got {other:?}"),
    }
    let message = network.world().wait_for(OUTSIDE, SOON).await.unwrap();
    assert!(message.status_report_requested);
    // With ds=2 the report is stored in SR and announced with +CDSI.
    assert!(host.command("AT+CNMI=2,1,0,2,0").await.ends_with("OK\r\n"));
    send_text(&mut host, OUTSIDE, "again", &options).await;
    host.read_until("+CDSI: \"SR\",1\r\n", SOON).await;
    assert!(host.command("AT+CPMS=\"SR\"").await.ends_with("OK\r\n"));
    let lines = host.query("AT+CMGR=1").await;
    assert!(
        matches!(codec::decode(&lines[1], true), Ok(Pdu::StatusReport(report)) if report.message_ref == 1)
    );
}

#[tokio::test]
async fn direct_routing_with_cmt() {
    let (network, first, _second, _directory) = two_modems().await;
    let mut host = daemon_like_host(&first, "2,2,0,0,0").await;
    network
        .send_from_world(OUTSIDE, first.number(), "straight through")
        .unwrap();
    host.read_until("+CMT: ,", SOON).await;
    let length = host.read_until("\r\n", SOON).await;
    let pdu = host.read_until("\r\n", SOON).await;
    assert_eq!(
        Some(length.trim().parse::<usize>().unwrap()),
        simgate::sim::tpdu::tpdu_length_of(pdu.trim())
    );
    match codec::decode(pdu.trim(), true).unwrap() {
        Pdu::Deliver(deliver) => assert_eq!(text_of(&deliver), "straight through"),
        other => panic!("{other:?}"),
    }
    assert!(first.stored().is_empty(), "+CMT is not stored");
}

#[tokio::test]
async fn dropped_cmti_leaves_the_message_for_the_sweep() {
    let (network, first, _second, _directory) = two_modems().await;
    let mut host = daemon_like_host(&first, "2,1,0,0,0").await;
    first.drop_next_cmti(1);
    network
        .send_from_world(OUTSIDE, first.number(), "silent")
        .unwrap();
    assert!(
        first
            .wait_until(SOON, |modem| modem.stored().len() == 1)
            .await
    );
    let heard = host.drain(Duration::from_millis(200)).await;
    assert!(
        !heard.contains("+CMTI"),
        "URC should have been dropped: {heard:?}"
    );
    let listing = host.query("AT+CMGL=4").await;
    assert_eq!(listing.len(), 2, "{listing:?}");
    assert!(listing[0].starts_with("+CMGL: 1,0,,"));
    match codec::decode(&listing[1], true).unwrap() {
        Pdu::Deliver(deliver) => assert_eq!(text_of(&deliver), "silent"),
        other => panic!("{other:?}"),
    }
    // Only one was dropped.
    network
        .send_from_world(OUTSIDE, first.number(), "loud")
        .unwrap();
    host.read_until("+CMTI: \"SM\",2\r\n", SOON).await;
}

#[tokio::test]
async fn injected_pdus_are_replayed_as_is() {
    let (network, first, _second, _directory) = two_modems().await;
    let mut host = daemon_like_host(&first, "2,1,0,1,0").await;
    // gammu tests/at-sms/03.dump
    let deliver = "0791198948004544040C9119894882006200007050307040042206CF35689E9603";
    network.inject_pdu(first.number(), deliver).unwrap();
    network.inject_pdu(first.number(), deliver).unwrap();
    host.read_until("+CMTI: \"SM\",2\r\n", SOON).await;
    let stored = first.stored();
    assert_eq!(stored.len(), 2);
    assert!(stored.iter().all(|message| message.pdu_hex == deliver));
    let report = "07911326040000F006D60B911326880736F4111011719551401110117195714000";
    network.inject_pdu(first.number(), report).unwrap();
    host.read_until(&format!("+CDS: 25\r\n{report}\r\n"), SOON)
        .await;
    assert!(network.inject_pdu(first.number(), "zz").is_err());
    assert!(network.inject_pdu(first.number(), "07").is_err());
    assert!(network.inject_pdu("+10000000000", deliver).is_err());
}

#[tokio::test]
async fn preloaded_messages_are_there_at_startup() {
    let directory = tempfile::tempdir().unwrap();
    let network = Network::new();
    let modem = network.add_modem(fast(1), directory.path()).await.unwrap();
    let deliver = "0791198948004544040C9119894882006200007050307040042206CF35689E9603";
    assert_eq!(network.preload(&modem, deliver).unwrap(), 1);
    assert!(network.preload(&modem, "not hex").is_err());
    let mut host = Host::open_quiet(modem.path()).await;
    let listing = host.query("AT+CMGL=4").await;
    assert_eq!(
        listing,
        vec!["+CMGL: 1,0,,25".to_string(), deliver.to_string()]
    );
}

#[tokio::test]
async fn messages_for_an_unplugged_modem_arrive_after_replug() {
    let (network, first, _second, _directory) = two_modems().await;
    first.unplug().await;
    network
        .send_from_world(OUTSIDE, first.number(), "while you were away")
        .unwrap();
    assert_eq!(first.network_backlog(), 1);
    first.replug().await.unwrap();
    assert!(
        first
            .wait_until(SOON, |modem| modem.network_backlog() == 0)
            .await
    );
    let mut host = Host::open_quiet(first.path()).await;
    // CNMI is back to its power-on default (mt=0): stored silently, found by listing.
    let listing = host.query("AT+CMGL=4").await;
    assert_eq!(listing.len(), 2, "{listing:?}");
}

#[tokio::test]
async fn unknown_numbers_are_refused() {
    let (network, _first, _second, _directory) = two_modems().await;
    assert!(network
        .send_from_world(OUTSIDE, "+19999999999", "hello")
        .is_err());
    assert!(
        network.modem("+1 555 000 0002").is_some(),
        "digits compared"
    );
    assert!(network.modem("sim1").is_some(), "by name");
}

#[tokio::test]
async fn world_wait_for_hands_out_each_message_once() {
    let (network, first, _second, _directory) = two_modems().await;
    let mut host = daemon_like_host(&first, "2,1,0,0,0").await;
    send_text(&mut host, OUTSIDE, "one", &SubmitOptions::default()).await;
    send_text(&mut host, OUTSIDE, "two", &SubmitOptions::default()).await;
    let world = network.world();
    assert_eq!(world.wait_for(OUTSIDE, SOON).await.unwrap().text, "one");
    assert_eq!(world.wait_for(OUTSIDE, SOON).await.unwrap().text, "two");
    assert!(world
        .wait_for(OUTSIDE, Duration::from_millis(100))
        .await
        .is_none());
    assert_eq!(world.messages_to(OUTSIDE).len(), 2);
}

#[tokio::test]
async fn send_latency_delays_the_cmgs_answer() {
    let directory = tempfile::tempdir().unwrap();
    let network = Network::new();
    let modem = network
        .add_modem(
            SimModemConfig {
                send_latency: Duration::from_millis(300),
                ..SimModemConfig::numbered(1)
            },
            directory.path(),
        )
        .await
        .unwrap();
    let mut host = daemon_like_host(&modem, "2,1,0,0,0").await;
    let part = encode_submit(OUTSIDE, "slow", &SubmitOptions::default())
        .unwrap()
        .remove(0);
    assert!(host
        .command(&format!("AT+CMGS={}", part.tpdu_len))
        .await
        .ends_with("> "));
    let started = Instant::now();
    host.write(&format!("{}\u{1a}", part.hex)).await;
    let reply = host.read_final(SOON).await;
    let waited = started.elapsed();
    assert!(reply.contains("+CMGS: 0"), "{reply:?}");
    assert!(
        waited >= Duration::from_millis(300),
        "answered after {waited:?}"
    );
    assert!(network.world().wait_for(OUTSIDE, SOON).await.is_some());
}

#[tokio::test]
async fn zte_prompt_carries_its_radio_urc() {
    let directory = tempfile::tempdir().unwrap();
    let network = Network::new();
    let modem = network
        .add_modem(
            SimModemConfig {
                personality: Personality::Zte,
                ..fast(1)
            },
            directory.path(),
        )
        .await
        .unwrap();
    let mut host = daemon_like_host(&modem, "2,1,0,0,0").await;
    let part = encode_submit(OUTSIDE, "zte", &SubmitOptions::default())
        .unwrap()
        .remove(0);
    let prompt = host.command(&format!("AT+CMGS={}", part.tpdu_len)).await;
    assert_eq!(prompt, "\r\n+ZPASR: \"UMTS\"\r\n\r\n> ");
    host.write(&format!("{}\u{1a}", part.hex)).await;
    assert!(host.read_final(SOON).await.contains("+CMGS: 0"));
    assert_eq!(
        network.world().wait_for(OUTSIDE, SOON).await.unwrap().text,
        "zte"
    );
}

#[tokio::test]
async fn a_garbled_pdu_is_refused_and_nothing_is_sent() {
    let (network, first, _second, _directory) = two_modems().await;
    let mut host = daemon_like_host(&first, "2,1,0,0,0").await;
    let part = encode_submit(OUTSIDE, "ok", &SubmitOptions::default())
        .unwrap()
        .remove(0);
    let reply = send_part(&mut host, part.tpdu_len + 1, &part.hex).await;
    assert!(reply.ends_with("+CMS ERROR: 304\r\n"), "{reply:?}");
    let reply = send_part(&mut host, part.tpdu_len, "GARBAGE").await;
    assert!(reply.ends_with("+CMS ERROR: 304\r\n"), "{reply:?}");
    assert!(first.sent_pdus().is_empty());
    assert!(network.world().parts().is_empty());
}

#[tokio::test]
async fn numbered_modems_for_simulate_n_reach_each_other() {
    let directory = tempfile::tempdir().unwrap();
    let network = Network::new();
    let modems = network
        .add_numbered_modems(3, directory.path())
        .await
        .unwrap();
    let names: Vec<&str> = modems.iter().map(SimModem::name).collect();
    assert_eq!(names, vec!["sim1", "sim2", "sim3"]);
    for modem in &modems {
        assert_eq!(modem.path(), directory.path().join(modem.name()));
        assert!(std::fs::read_link(modem.path()).is_ok());
    }
    assert_eq!(network.modems().len(), 3);
    let mut sender = daemon_like_host(&modems[0], "2,1,0,0,0").await;
    let mut receiver = daemon_like_host(&modems[2], "2,1,0,0,0").await;
    // The default latency of 2 s applies to numbered modems, as in a demo.
    let part = encode_submit(modems[2].number(), "hello three", &SubmitOptions::default())
        .unwrap()
        .remove(0);
    let reply = send_part(&mut sender, part.tpdu_len, &part.hex).await;
    assert!(reply.contains("+CMGS: 0"), "{reply:?}");
    let urc = receiver.read_until("+CMTI: \"SM\",1\r\n", SOON).await;
    let deliver = read_deliver(&mut receiver, cmti_index(&urc)).await;
    assert_eq!(text_of(&deliver), "hello three");
    assert_eq!(deliver.originator.to_display(), modems[0].number());
}

#[tokio::test]
async fn an_unacknowledged_cmt_falls_back_to_storage() {
    let directory = tempfile::tempdir().unwrap();
    let network = Network::new();
    let modem = network
        .add_modem(
            SimModemConfig {
                ack_timeout: Duration::from_millis(150),
                ..fast(1)
            },
            directory.path(),
        )
        .await
        .unwrap();
    let mut host = daemon_like_host(&modem, "2,1,0,0,0").await;
    assert_eq!(host.query("AT+CSMS=1").await, vec!["+CSMS: 1,1,1"]);
    assert!(host.command("AT+CNMI=2,2,0,0,0").await.ends_with("OK\r\n"));
    // Acknowledged: delivered once, not stored.
    network
        .send_from_world(OUTSIDE, modem.number(), "acked")
        .unwrap();
    host.read_until("+CMT: ,", SOON).await;
    host.read_until("\r\n", SOON).await;
    host.read_until("\r\n", SOON).await;
    assert!(host.command("AT+CNMA").await.ends_with("\r\nOK\r\n"));
    assert!(modem.stored().is_empty());
    // Not acknowledged: the modem keeps it and stops routing, as TS 27.005 says.
    network
        .send_from_world(OUTSIDE, modem.number(), "never acked")
        .unwrap();
    host.read_until("+CMT: ,", SOON).await;
    host.read_until("\r\n", SOON).await;
    host.read_until("\r\n", SOON).await;
    assert!(
        modem
            .wait_until(SOON, |modem| modem.stored().len() == 1)
            .await
    );
    assert_eq!(host.query("AT+CNMI?").await, vec!["+CNMI: 2,0,0,0,0"]);
    let listing = host.query("AT+CMGL=4").await;
    match codec::decode(&listing[1], true).unwrap() {
        Pdu::Deliver(deliver) => assert_eq!(text_of(&deliver), "never acked"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn urcs_never_split_a_response_line() {
    let directory = tempfile::tempdir().unwrap();
    let network = Network::new();
    let modem = network
        .add_modem(
            SimModemConfig {
                sim_capacity: 200,
                ..fast(1)
            },
            directory.path(),
        )
        .await
        .unwrap();
    let mut host = daemon_like_host(&modem, "2,1,0,0,0").await;
    let sender = {
        let network = network.clone();
        let number = modem.number().to_string();
        tokio::spawn(async move {
            for index in 0..60 {
                network
                    .send_from_world(OUTSIDE, &number, &format!("message {index}"))
                    .unwrap();
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
        })
    };
    let mut transcript = String::new();
    for _ in 0..60 {
        host.write("AT+CSQ\r").await;
        transcript.push_str(&host.read_final(SOON).await);
    }
    sender.await.unwrap();
    assert!(
        modem
            .wait_until(SOON, |modem| modem.stored().len() == 60)
            .await
    );
    transcript.push_str(&host.drain(Duration::from_millis(200)).await);
    let mut indications = 0;
    for line in transcript.split("\r\n").filter(|line| !line.is_empty()) {
        if line.starts_with("+CMTI: \"SM\",") {
            indications += 1;
        } else {
            assert!(
                line == "+CSQ: 20,99" || line == "OK",
                "mangled line {line:?}"
            );
        }
    }
    assert_eq!(indications, 60);
    assert_eq!(transcript.matches("+CSQ: 20,99\r\n\r\nOK\r\n").count(), 60);
}

#[tokio::test]
async fn round_trips_and_message_throughput() {
    let (network, first, second, _directory) = two_modems().await;
    let mut sender = daemon_like_host(&first, "2,1,0,0,0").await;
    let mut receiver = daemon_like_host(&second, "2,1,0,0,0").await;
    let started = Instant::now();
    for _ in 0..200 {
        assert_eq!(sender.command("AT").await, "\r\nOK\r\n");
    }
    let per_command = started.elapsed() / 200;
    let part = encode_submit(second.number(), "load", &SubmitOptions::default())
        .unwrap()
        .remove(0);
    let started = Instant::now();
    for index in 0..20u32 {
        let reply = send_part(&mut sender, part.tpdu_len, &part.hex).await;
        assert!(reply.contains(&format!("+CMGS: {index}")), "{reply:?}");
        receiver
            .read_until(&format!("+CMTI: \"SM\",{}\r\n", index + 1), SOON)
            .await;
    }
    let per_message = started.elapsed() / 20;
    println!("AT round trip over the pty: {per_command:?}; SMS modem to modem: {per_message:?}");
    assert!(per_command < Duration::from_millis(50), "{per_command:?}");
    assert!(per_message < Duration::from_millis(200), "{per_message:?}");
    assert_eq!(second.stored().len(), 20);
    assert!(network.world().messages().is_empty());
}

#[tokio::test]
async fn status_report_for_a_virtual_recipient_waits_for_real_delivery() {
    let (_network, first, second, _directory) = two_modems().await;
    let mut sender = daemon_like_host(&first, "2,1,0,1,0").await;
    second.unplug().await;
    let options = SubmitOptions {
        status_report: true,
        ..SubmitOptions::default()
    };
    let references = send_text(&mut sender, second.number(), "are you there?", &options).await;
    let early = sender.drain(Duration::from_millis(300)).await;
    assert!(
        !early.contains("+CDS"),
        "reported before delivery: {early:?}"
    );
    assert_eq!(second.network_backlog(), 1);
    second.replug().await.unwrap();
    sender.read_until("+CDS: ", SOON).await;
    sender.read_until("\r\n", SOON).await;
    let pdu = sender.read_until("\r\n", SOON).await;
    match codec::decode(pdu.trim(), true).unwrap() {
        Pdu::StatusReport(report) => {
            assert_eq!(report.message_ref, references[0]);
            assert_eq!(report.recipient.to_display(), second.number());
            assert_eq!(report.status, 0);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(second.stored().len(), 1);
}
