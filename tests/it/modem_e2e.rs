//! The modem engine end to end: daemon ⇄ real ptys ⇄ virtual modems ⇄ virtual network.

use crate::daemon_support;

use daemon_support::{TestDaemon, SOON};
use simgate::messaging::{send_text, SendText};
use simgate::store::{inbound as inbound_store, outbound};

fn text(to: &str, body: &str) -> SendText {
    SendText {
        to: to.into(),
        body: body.into(),
        line: None,
        report: false,
        purpose: "text".into(),
        purpose_id: None,
    }
}

async fn outbound_status(d: &TestDaemon, id: &str) -> Option<outbound::OutboundView> {
    let id = id.to_string();
    d.state()
        .store
        .call(move |c| Ok(outbound::get(c, &id)?))
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_single_gsm7_message_to_the_world() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let accepted = send_text(d.state(), text("+447700900001", "Your code is 123456"))
        .await
        .unwrap();
    assert_eq!(accepted.parts, 1);
    let got = d
        .network
        .world()
        .wait_for("+447700900001", SOON)
        .await
        .expect("message reached the world");
    assert_eq!(got.text, "Your code is 123456");
    assert_eq!(got.from, "+15550000001");
    let view = loop {
        let v = outbound_status(&d, &accepted.id).await.unwrap();
        if v.status == "sent" {
            break v;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(view.parts.len(), 1);
    assert!(
        view.parts[0].message_ref.is_some(),
        "message reference captured: {view:?}"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receives_single_message_and_deletes_it_after_commit() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    d.network
        .send_from_world("+447700900002", "+15550000001", "hello simgate")
        .unwrap();
    let store = d.state().store.clone();
    let msg = loop {
        let list = store
            .call(|c| Ok(inbound_store::list(c, 10, None)?))
            .await
            .unwrap();
        if let Some(m) = list.into_iter().next() {
            break m;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert_eq!(msg.body, "hello simgate");
    assert_eq!(msg.from, "+447700900002");
    assert_eq!(msg.to.as_deref(), Some("+15550000001"));
    let modem = d.modems[0].clone();
    assert!(
        modem.wait_until(SOON, |m| m.stored().is_empty()).await,
        "deleted from the SIM after commit"
    );
    let (_, count, _) = simgate::observe::INBOUND_LATENCY.snapshot();
    assert!(count >= 1, "inbound latency recorded");
    d.stop().await;
}

/// Polls the outbound message until `status` (or fails after SOON).
async fn wait_status(d: &TestDaemon, id: &str, status: &str) -> outbound::OutboundView {
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let v = outbound_status(d, id).await.expect("message exists");
        if v.status == status {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "message never reached {status}: {v:#?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

async fn wait_inbound(d: &TestDaemon, count: usize) -> Vec<inbound_store::InboundMessage> {
    let store = d.state().store.clone();
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let list = store
            .call(|c| Ok(inbound_store::list(c, 100, None)?))
            .await
            .unwrap();
        if list.len() >= count {
            return list;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "only {} inbound of {count}",
            list.len()
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_multipart_gsm7_and_ucs2() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let long_gsm = "GSM-7 with extension chars {[€]} and more. ".repeat(8); // > 160 septets
    let long_ucs2 = "Ünïcödé 😀 and Кириллица, 中文 too. ".repeat(5); // > 70 units
    let a = send_text(d.state(), text("+447700900010", &long_gsm))
        .await
        .unwrap();
    let b = send_text(d.state(), text("+447700900011", &long_ucs2))
        .await
        .unwrap();
    assert!(a.parts > 1 && b.parts > 1, "{a:?} {b:?}");
    let got_a = d
        .network
        .world()
        .wait_for("+447700900010", SOON)
        .await
        .unwrap();
    let got_b = d
        .network
        .world()
        .wait_for("+447700900011", SOON)
        .await
        .unwrap();
    assert_eq!(got_a.text, long_gsm);
    assert_eq!(got_a.parts, a.parts);
    assert_eq!(got_b.text, long_ucs2);
    assert_eq!(got_b.parts, b.parts);
    wait_status(&d, &a.id, "sent").await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receives_multipart_out_of_order_and_modem_to_modem() {
    use simgate::sim::{PartOrder, WorldSendOptions};
    let mut d = TestDaemon::start(2).await;
    d.wait_all_ready().await;
    let long = "Part of a long inbound message that needs several SMS. ".repeat(6);
    let options = WorldSendOptions {
        order: PartOrder::Reversed,
        concat_16bit: true,
    };
    let parts = d
        .network
        .send_from_world_with("+447700900020", "+15550000001", &long, &options)
        .unwrap();
    assert!(parts >= 3);
    let got = wait_inbound(&d, 1).await;
    assert_eq!(got[0].body, long);
    assert_eq!(got[0].parts_total as usize, parts);
    // One of our SIMs texting the other goes through the whole path both ways.
    let sent = send_text(
        d.state(),
        SendText {
            line: Some("sim1".into()),
            ..text("+15550000002", "between our own lines")
        },
    )
    .await
    .unwrap();
    let got = wait_inbound(&d, 2).await;
    let m = got
        .iter()
        .find(|m| m.body == "between our own lines")
        .expect("arrived on sim2");
    assert_eq!(m.modem, "sim2");
    assert_eq!(m.from, "+15550000001");
    wait_status(&d, &sent.id, "sent").await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_reports_mark_messages_delivered() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let long = "A two part message with delivery reports requested. ".repeat(4);
    let id = send_text(
        d.state(),
        SendText {
            report: true,
            ..text("+447700900030", &long)
        },
    )
    .await
    .unwrap()
    .id;
    let view = wait_status(&d, &id, "delivered").await;
    assert!(
        view.parts
            .iter()
            .all(|p| p.status == "delivered" && p.report_status == Some(0)),
        "{view:#?}"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enters_the_configured_pin() {
    let mut d = TestDaemon::start_with(
        1,
        |_, sim| sim.pin = Some("4321".into()),
        |config| config.modems[0].pin = Some("4321".into()),
    )
    .await;
    d.wait_all_ready().await;
    send_text(d.state(), text("+447700900040", "after the PIN"))
        .await
        .unwrap();
    assert!(d
        .network
        .world()
        .wait_for("+447700900040", SOON)
        .await
        .is_some());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_pin_is_tried_once_and_never_again() {
    use simgate::modem::ModemState;
    let mut d = TestDaemon::start_with(
        1,
        |_, sim| sim.pin = Some("4321".into()),
        |config| config.modems[0].pin = Some("9999".into()),
    )
    .await;
    let status = d
        .eventually("pin_required", || {
            let s = d.state().modem_statuses().remove(0);
            (s.state == ModemState::PinRequired).then_some(s)
        })
        .await;
    assert!(status.detail.unwrap().contains("rejected"));
    // Several health ticks later, still exactly one PIN attempt on the wire.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let attempts = d.modems[0]
        .commands()
        .iter()
        .filter(|c| c.starts_with("AT+CPIN="))
        .count();
    assert_eq!(attempts, 1);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unplug_goes_offline_and_replug_recovers_with_queued_messages() {
    use simgate::modem::ModemState;
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let modem = d.modems[0].clone();
    modem.unplug().await;
    d.eventually("offline", || {
        (d.state().modem_statuses()[0].state == ModemState::Offline).then_some(())
    })
    .await;
    // Accepted while no modem can send: it waits in the queue, nothing is lost.
    let id = send_text(d.state(), text("+447700900050", "queued while unplugged"))
        .await
        .unwrap()
        .id;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(outbound_status(&d, &id).await.unwrap().status, "queued");
    modem.replug().await.unwrap();
    d.wait_all_ready().await;
    let got = d
        .network
        .world()
        .wait_for("+447700900050", SOON)
        .await
        .expect("sent after replug");
    assert_eq!(got.text, "queued while unplugged");
    assert!(d.state().modem_statuses()[0].opens >= 2);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_modem_is_reinitialised_and_serves_again() {
    use simgate::modem::ModemState;
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let modem = d.modems[0].clone();
    modem.set_hang(true);
    // The next health poll times out; the driver gives up on the session.
    d.eventually("not ready while hung", || {
        (d.state().modem_statuses()[0].state != ModemState::Ready).then_some(())
    })
    .await;
    modem.set_hang(false);
    d.wait_all_ready().await;
    send_text(d.state(), text("+447700900060", "after the hang"))
        .await
        .unwrap();
    assert!(d
        .network
        .world()
        .wait_for("+447700900060", SOON)
        .await
        .is_some());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_on_the_line_is_skipped() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let modem = d.modems[0].clone();
    let mut garbage: Vec<u8> = (0..=255u8).collect();
    garbage.extend_from_slice(b"\r\n+CMTI: \"SM\",\r\nOK\r\n\xff\xfe\x00\r\n+CREG: x,y\r\n");
    modem.inject_garbage(&garbage);
    d.network
        .send_from_world("+447700900070", "+15550000001", "through the noise")
        .unwrap();
    let got = wait_inbound(&d, 1).await;
    assert_eq!(got[0].body, "through the noise");
    send_text(d.state(), text("+447700900071", "out through the noise"))
        .await
        .unwrap();
    assert!(d
        .network
        .world()
        .wait_for("+447700900071", SOON)
        .await
        .is_some());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cms_error_on_send_is_retried_and_sent_once() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    d.modems[0].fail_next_sends(1, 500);
    let id = send_text(d.state(), text("+447700900080", "second time lucky"))
        .await
        .unwrap()
        .id;
    let view = wait_status(&d, &id, "sent").await;
    assert_eq!(view.attempts, 2);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(d.network.world().messages_to("+447700900080").len(), 1);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_permanent_cms_error_fails_the_message() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    d.modems[0].fail_next_sends(1, 21); // short message transfer rejected
    let id = send_text(d.state(), text("+447700900081", "rejected"))
        .await
        .unwrap()
        .id;
    let view = wait_status(&d, &id, "failed").await;
    assert!(view.error.unwrap().contains("CMS ERROR: 21"));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_cmti_is_found_by_the_sweep() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    d.modems[0].drop_next_cmti(1);
    d.network
        .send_from_world("+447700900090", "+15550000001", "no URC for me")
        .unwrap();
    let got = wait_inbound(&d, 1).await;
    assert_eq!(got[0].body, "no URC for me");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_waiting_on_the_sim_are_read_at_start_up() {
    use simgate::codec::{encode_deliver, DeliverOptions, Timestamp};
    let mut d = TestDaemon::start(1).await;
    d.stop().await;
    let ts = Timestamp {
        year: 2026,
        month: 11,
        day: 23,
        hour: 10,
        minute: 0,
        second: 0,
        offset_minutes: 60,
    };
    for (i, pdu) in encode_deliver(
        "+447700900100",
        "left while you were away",
        &ts,
        &DeliverOptions::default(),
    )
    .iter()
    .enumerate()
    {
        d.modems[0]
            .preload(pdu)
            .unwrap_or_else(|e| panic!("preload {i}: {e}"));
    }
    // The same PDU twice on the SIM (a re-delivery) is one message.
    let again = encode_deliver(
        "+447700900100",
        "left while you were away",
        &ts,
        &DeliverOptions::default(),
    );
    d.modems[0].preload(&again[0]).unwrap();
    d.boot().await;
    let got = wait_inbound(&d, 1).await;
    assert_eq!(got[0].body, "left while you were away");
    assert_eq!(got[0].scts.as_deref(), Some("2026-11-23T10:00:00+01:00"));
    let modem = d.modems[0].clone();
    assert!(modem.wait_until(SOON, |m| m.stored().is_empty()).await);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(wait_inbound(&d, 1).await.len(), 1, "duplicate recognised");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn vendor_personalities_initialise_send_and_receive() {
    use simgate::sim::Personality;
    let personalities = [
        Personality::Huawei,
        Personality::Quectel,
        Personality::Simcom,
        Personality::Zte,
    ];
    let mut d = TestDaemon::start_with(
        4,
        |i, sim| sim.personality = personalities[(i - 1) as usize],
        |_| {},
    )
    .await;
    d.wait_all_ready().await;
    for (i, modem) in d.modems.clone().iter().enumerate() {
        let to = format!("+4477009002{i:02}");
        send_text(
            d.state(),
            SendText {
                line: Some(modem.name().into()),
                ..text(&to, "vendor check")
            },
        )
        .await
        .unwrap();
        let got = d
            .network
            .world()
            .wait_for(&to, SOON)
            .await
            .unwrap_or_else(|| panic!("{:?} did not send", personalities[i]));
        assert_eq!(got.from, modem.number());
        d.network
            .send_from_world(&to, modem.number(), &format!("reply to {}", modem.name()))
            .unwrap();
    }
    let got = wait_inbound(&d, 4).await;
    for modem in &d.modems {
        assert!(got
            .iter()
            .any(|m| m.modem == modem.name() && m.body == format!("reply to {}", modem.name())));
    }
    let statuses = d.state().modem_statuses();
    assert_eq!(
        statuses[0]
            .manufacturer
            .as_deref()
            .map(str::to_lowercase)
            .as_deref(),
        Some("huawei")
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pool_of_four_loses_nothing_and_sends_nothing_twice_when_one_is_unplugged() {
    let mut d = TestDaemon::start_with(
        4,
        |_, sim| sim.send_latency = std::time::Duration::from_millis(40),
        |_| {},
    )
    .await;
    d.wait_all_ready().await;
    let mut ids = Vec::new();
    for i in 0..24 {
        ids.push(
            send_text(
                d.state(),
                text(&format!("+4477009003{i:02}"), &format!("pool message {i}")),
            )
            .await
            .unwrap()
            .id,
        );
    }
    tokio::time::sleep(std::time::Duration::from_millis(60)).await;
    d.modems[1].unplug().await;
    for id in &ids {
        let v = outbound_status(&d, id).await.unwrap();
        if v.status != "sent" {
            wait_status(&d, id, "sent").await;
        }
    }
    // Every message left exactly once, except one whose fate the unplug made uncertain (its part was
    // written when the port vanished): that one may have gone out at most once.
    let world = d.network.world().messages();
    for (i, id) in ids.iter().enumerate() {
        let to = format!("+4477009003{i:02}");
        let n = world.iter().filter(|m| m.to == to).count();
        assert!(n <= 1, "{to} sent {n} times");
        if n == 0 {
            let store = d.state().store.clone();
            let id = id.clone();
            let view = store
                .call(move |c| Ok(outbound::get(c, &id)?))
                .await
                .unwrap()
                .unwrap();
            assert!(
                view.parts.iter().any(|p| p.status == "uncertain"),
                "{to} lost: {view:#?}"
            );
        }
    }
    let used: std::collections::HashSet<_> = world.iter().map(|m| m.from.clone()).collect();
    assert!(used.len() >= 3, "work spread over the pool: {used:?}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_modem_that_stays_hung_is_reset_with_cfun() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let modem = d.modems[0].clone();
    modem.hang_until_reset();
    // Never cleared by the test: only the driver's escalation (reinit, reinit, AT+CFUN=1,1) helps.
    assert!(
        modem.wait_for_command("AT+CFUN=1,1", SOON).await,
        "reset sent: {:?}",
        modem.commands()
    );
    d.wait_all_ready().await;
    send_text(d.state(), text("+447700900400", "after the reset"))
        .await
        .unwrap();
    assert!(d
        .network
        .world()
        .wait_for("+447700900400", SOON)
        .await
        .is_some());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn direct_routing_with_cmt_and_cds_when_the_modem_cannot_store_first() {
    use simgate::sim::CnmiRanges;
    // A modem that only routes directly: no mt=1 (+CMTI), no ds=2 (+CDSI).
    let mut d = TestDaemon::start_with(
        1,
        |_, sim| {
            sim.cnmi_ranges = Some(CnmiRanges {
                mode: vec![0, 1, 2],
                mt: vec![0, 2],
                bm: vec![0],
                ds: vec![0, 1],
                bfr: vec![0, 1],
            })
        },
        |_| {},
    )
    .await;
    d.wait_all_ready().await;
    let cnmi = d.modems[0]
        .commands()
        .into_iter()
        .rfind(|c| c.starts_with("AT+CNMI=2"));
    assert!(
        cnmi.as_deref()
            .is_some_and(|c| c.starts_with("AT+CNMI=2,2")),
        "chose direct routing: {cnmi:?}"
    );
    d.network
        .send_from_world("+447700900500", "+15550000001", "routed straight to you")
        .unwrap();
    let got = wait_inbound(&d, 1).await;
    assert_eq!(got[0].body, "routed straight to you");
    let id = send_text(
        d.state(),
        SendText {
            report: true,
            ..text("+447700900501", "report me")
        },
    )
    .await
    .unwrap()
    .id;
    wait_status(&d, &id, "delivered").await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_sim_send_caps_hold_messages_back() {
    let mut d = TestDaemon::with_config(1, |config| config.modems[0].max_per_minute = 2).await;
    d.wait_all_ready().await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(
            send_text(d.state(), text(&format!("+4477009006{i:02}"), "capped"))
                .await
                .unwrap()
                .id,
        );
    }
    wait_status(&d, &ids[0], "sent").await;
    wait_status(&d, &ids[1], "sent").await;
    // The third would exceed 2 parts per minute on this SIM: it waits in the queue.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(outbound_status(&d, &ids[2]).await.unwrap().status, "queued");
    assert_eq!(d.network.world().messages().len(), 2);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modem_state_changes_are_events() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    d.modems[0].unplug().await;
    let store = d.state().store.clone();
    let states = || {
        let store = store.clone();
        async move {
            store
                .call(|c| Ok(simgate::store::events::since(c, 0, 1000)?))
                .await
                .unwrap()
                .into_iter()
                .filter(|e| e.kind == "modem.status")
                .map(|e| e.data["state"].as_str().unwrap_or("").to_string())
                .collect::<Vec<_>>()
        }
    };
    let deadline = tokio::time::Instant::now() + SOON;
    while !states().await.ends_with(&["offline".to_string()]) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            states().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    d.modems[0].replug().await.unwrap();
    d.wait_all_ready().await;
    let deadline = tokio::time::Instant::now() + SOON;
    while !states().await.ends_with(&["ready".to_string()]) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            states().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(states().await.contains(&"initialising".to_string()));
    d.stop().await;
}

/// Two lines where only the first may send for now: the second is out of coverage until the
/// test lets it back in. Both have a per-part latency so a long message is caught mid-way.
async fn first_line_only(restart_after_secs: u64) -> TestDaemon {
    let d = TestDaemon::start_with(
        2,
        |_, sim| sim.send_latency = std::time::Duration::from_millis(150),
        |c| c.outbound.restart_long_message_after_secs = restart_after_secs,
    )
    .await;
    d.wait_all_ready().await;
    d.modems[1].set_registered(false);
    let second = d.modems[1].name().to_string();
    d.eventually("the second line out of service", || {
        let statuses = d.state().modem_statuses();
        let s = statuses.iter().find(|s| s.name == second)?;
        (!s.state.can_send()).then_some(())
    })
    .await;
    d
}

fn numbers(d: &TestDaemon) -> (String, String) {
    (
        d.modems[0].number().to_string(),
        d.modems[1].number().to_string(),
    )
}

/// Queues a three-part message and returns its id once part 1 is on the network.
async fn begin_long_message(d: &TestDaemon, to: &str, body: &str) -> String {
    let sent = send_text(d.state(), text(to, body)).await.unwrap();
    assert_eq!(sent.parts, 3);
    d.eventually("part 1 on the network", || {
        (!d.network.world().parts().is_empty()).then_some(())
    })
    .await;
    sent.id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_message_stays_with_the_modem_that_began_it() {
    let mut d = first_line_only(600).await;
    let (first, second) = numbers(&d);
    // Part 1 goes out, part 2 meets a transient network error: the message goes back to the
    // queue. The second line is free by then, but a phone cannot join parts from two numbers.
    d.modems[0].fail_send_after(1, 500);
    let body = "A long message that needs three parts to arrive whole. ".repeat(6);
    let id = begin_long_message(&d, "+447700900600", &body).await;
    wait_status(&d, &id, "queued").await;
    // Now only the second line can send, for longer than the back-off: it must leave it alone.
    d.modems[0].set_registered(false);
    d.modems[1].set_registered(true);
    d.wait_ready(&[d.modems[1].name()]).await;
    tokio::time::sleep(std::time::Duration::from_secs(4)).await;
    assert!(
        d.network.world().parts().iter().all(|p| p.from != second),
        "the second line took over a message begun on the first"
    );
    d.modems[0].set_registered(true);
    let view = wait_status(&d, &id, "sent").await;
    let got = d
        .network
        .world()
        .wait_for("+447700900600", SOON)
        .await
        .unwrap();
    assert_eq!(got.text, body);
    assert_eq!(got.from, first);
    assert!(
        d.network.world().parts().iter().all(|p| p.from != second),
        "no part from the second line"
    );
    assert!(view.attempts >= 2, "{view:#?}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_message_is_sent_whole_again_when_its_modem_is_gone() {
    let mut d = first_line_only(1).await;
    let (first, second) = numbers(&d);
    let body = "Unplugged half way, but the recipient still reads it all. ".repeat(6);
    let id = begin_long_message(&d, "+447700900601", &body).await;
    d.modems[0].unplug().await;
    d.modems[1].set_registered(true);
    let view = wait_status(&d, &id, "sent").await;
    // The whole message came from the second line; the first one's stray parts stay stray.
    let whole = d
        .network
        .world()
        .wait_for("+447700900601", SOON)
        .await
        .unwrap();
    assert_eq!(whole.text, body);
    assert_eq!(whole.from, second);
    assert_eq!(whole.parts, 3);
    let stray = d
        .network
        .world()
        .parts()
        .iter()
        .filter(|p| p.from == first)
        .count();
    assert!(
        (1..3).contains(&stray),
        "{stray} stray parts from the first line"
    );
    let second_name = d.modems[1].name().to_string();
    assert!(
        view.parts
            .iter()
            .all(|p| p.status == "sent" && p.modem.as_deref() == Some(second_name.as_str())),
        "{view:#?}"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_coverage_holds_messages_and_readyz_until_the_network_returns() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let readyz = || {
        let url = format!("{}/readyz", d.base_url());
        async move { reqwest::get(url).await.unwrap().status().as_u16() }
    };
    assert_eq!(readyz().await, 200);
    d.modems[0].set_registered(false);
    d.eventually("not registered", || {
        let s = d.state().modem_statuses();
        (s[0].state == simgate::modem::ModemState::NotRegistered).then_some(())
    })
    .await;
    assert_eq!(readyz().await, 503, "no line can send");
    let id = send_text(d.state(), text("+447700900700", "waits for coverage"))
        .await
        .unwrap()
        .id;
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(outbound_status(&d, &id).await.unwrap().status, "queued");
    assert!(d.network.world().messages_to("+447700900700").is_empty());
    d.modems[0].set_registered(true);
    wait_status(&d, &id, "sent").await;
    assert_eq!(d.network.world().messages_to("+447700900700").len(), 1);
    assert_eq!(readyz().await, 200);
    d.stop().await;
}

/// A message handed to a standing-by modem before its transaction commits, when that commit
/// fails: the modem, already at the `>` prompt, cancels with ESC; no PDU leaves, nothing of
/// the message stays, the caller gets the error, and the line serves the next message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hand_over_whose_commit_fails_is_cancelled_at_the_prompt() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    d.eventually("the worker stands by", || {
        (!d.state().store.standby().is_empty()).then_some(())
    })
    .await;
    // The commit fails on a deferred foreign key that marking the part `submitting` breaks:
    // after the hand-over, at the COMMIT.
    let (arm, disarm) = match d.state().store.backend() {
        simgate::store::Backend::Sqlite => (
            "CREATE TABLE probe_parent (id INTEGER PRIMARY KEY);
             CREATE TABLE probe (parent INTEGER REFERENCES probe_parent(id) DEFERRABLE INITIALLY DEFERRED);
             CREATE TRIGGER fail_the_commit AFTER UPDATE OF status ON outbound_parts
                 WHEN NEW.status = 'submitting' BEGIN INSERT INTO probe VALUES (42); END;",
            "DROP TRIGGER fail_the_commit",
        ),
        simgate::store::Backend::Postgres => (
            "CREATE TABLE probe_parent (id INTEGER PRIMARY KEY);
             CREATE TABLE probe (parent INTEGER REFERENCES probe_parent(id) DEFERRABLE INITIALLY DEFERRED);
             CREATE FUNCTION fail_the_commit() RETURNS trigger LANGUAGE plpgsql AS
                 'BEGIN INSERT INTO probe VALUES (42); RETURN NEW; END';
             CREATE TRIGGER fail_the_commit AFTER UPDATE OF status ON outbound_parts
                 FOR EACH ROW WHEN (NEW.status = 'submitting') EXECUTE FUNCTION fail_the_commit();",
            "DROP TRIGGER fail_the_commit ON outbound_parts",
        ),
    };
    let store = d.state().store.clone();
    store
        .call(move |c| Ok(c.execute_batch(arm)?))
        .await
        .unwrap();
    let modem = d.modems[0].clone();
    let refused = send_text(d.state(), text("+447700900001", "never sent")).await;
    assert!(refused.is_err(), "the caller learns it failed: {refused:?}");
    d.eventually("the modem is cancelled at its prompt", || {
        modem
            .commands()
            .iter()
            .any(|c| c.starts_with("AT+CMGS="))
            .then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(modem.sent_pdus().is_empty(), "no PDU left the modem");
    assert!(d.network.world().messages_to("+447700900001").is_empty());
    let left: i64 = store
        .call(|c| Ok(c.query_row("SELECT COUNT(*) FROM outbound_messages", [], |r| r.get(0))?))
        .await
        .unwrap();
    assert_eq!(left, 0, "nothing of the message was committed");

    store
        .call(move |c| Ok(c.execute_batch(disarm)?))
        .await
        .unwrap();
    let accepted = send_text(d.state(), text("+447700900002", "sent once"))
        .await
        .unwrap();
    let got = d
        .network
        .world()
        .wait_for("+447700900002", SOON)
        .await
        .expect("the line serves the next message");
    assert_eq!(got.text, "sent once");
    wait_status(&d, &accepted.id, "sent").await;
    assert_eq!(modem.sent_pdus().len(), 1);
    d.stop().await;
}
