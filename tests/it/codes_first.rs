//! Codes first (issue 10), through the whole daemon on a virtual modem: a verification SMS
//! jumps a backlog of plain texts under the default per-SIM caps, plain texts leave the last
//! part of the caps to codes, and a code SMS whose verification ended is withdrawn unsent.

use crate::daemon_support;

use daemon_support::{TestDaemon, API_KEY, SOON};
use simgate::config::Modem;
use simgate::messaging::{send_text, SendText};
use simgate::modem::ModemState;
use simgate::store::{events, outbound};
use simgate::verify::CreateOtp;
use std::time::Duration;

fn plain(to: &str, body: &str) -> SendText {
    SendText {
        to: to.into(),
        body: body.into(),
        line: None,
        report: false,
        purpose: "text".into(),
        purpose_id: None,
    }
}

fn otp(to: &str) -> CreateOtp {
    CreateOtp {
        to: to.into(),
        api_key: API_KEY.into(),
        ..Default::default()
    }
}

async fn outbound_view(d: &TestDaemon, id: &str) -> outbound::OutboundView {
    let id = id.to_string();
    d.state()
        .store
        .call(move |c| Ok(outbound::get(c, &id)?))
        .await
        .unwrap()
        .expect("message exists")
}

/// Waits for a message to be out (the world may see an SMS before the pool records it).
async fn wait_out(d: &TestDaemon, id: &str) {
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let view = outbound_view(d, id).await;
        if matches!(view.status.as_str(), "sent" | "delivered") {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{id} is {}, not out",
            view.status
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The default per-SIM caps of `[[modem]]` (10 a minute, 200 an hour, 1000 a day).
fn default_caps(config: &mut simgate::config::Config) {
    let defaults = Modem::default();
    for m in &mut config.modems {
        m.max_per_minute = defaults.max_per_minute;
        m.max_per_hour = defaults.max_per_hour;
        m.max_per_day = defaults.max_per_day;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_jumps_a_backlog_of_plain_texts_under_the_default_caps() {
    let mut d = TestDaemon::start_with(
        1,
        // A real network takes a while per SMS; the backlog is still there when the code comes.
        |_, sim| sim.send_latency = Duration::from_millis(150),
        default_caps,
    )
    .await;
    d.wait_all_ready().await;
    let world = d.network.world();
    let mut backlog = Vec::new();
    for i in 0..16 {
        let to = format!("+1415555{:04}", 1000 + i);
        backlog.push(
            send_text(d.state(), plain(&to, &format!("newsletter {i}")))
                .await
                .unwrap(),
        );
    }
    world
        .wait_for("+14155551000", SOON)
        .await
        .expect("the first plain text is on the wire");

    let on_wire_before = world.messages().len();
    let code = d
        .state()
        .verifier
        .create(otp("+14155550123"))
        .await
        .unwrap();
    let sent = world
        .wait_for("+14155550123", SOON)
        .await
        .expect("the code reached the world");
    // At most one plain text was between its claim and the wire when the code was queued.
    assert!(
        sent.id as usize <= on_wire_before + 2,
        "the code was message {} on the wire; {on_wire_before} were out when it was queued",
        sent.id
    );
    assert!(sent.text.contains("code"), "{}", sent.text);
    wait_out(&d, &code.message_id).await;

    // Plain texts stop at 8 of the 10 parts a minute (20 % headroom) ...
    let deadline = tokio::time::Instant::now() + SOON;
    while world.messages().len() < 8 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "plain texts stalled"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        world.messages().len(),
        8,
        "plain texts used the codes' headroom"
    );
    let mut still_queued = 0;
    for m in &backlog {
        if outbound_view(&d, &m.id).await.status == "queued" {
            still_queued += 1;
        }
    }
    assert_eq!(still_queued, 16 - 7, "7 plain texts and the code went out");

    // ... and a new code still goes at once, in the room they left.
    let second = d
        .state()
        .verifier
        .create(otp("+14155550124"))
        .await
        .unwrap();
    let got = world
        .wait_for("+14155550124", SOON)
        .await
        .expect("the second code reached the world behind the capped backlog");
    assert_eq!(got.id, 9);
    wait_out(&d, &second.message_id).await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_sms_of_ended_verifications_are_withdrawn_not_sent() {
    let mut d = TestDaemon::with_config(1, |c| c.otp.ttl_secs = 2).await;
    d.wait_all_ready().await;
    // The line drops off the network: everything queues.
    d.modems[0].set_registered(false);
    d.eventually("the modem to leave ready", || {
        d.state()
            .modem_statuses()
            .iter()
            .all(|s| s.state != ModemState::Ready)
            .then_some(())
    })
    .await;
    let verifier = d.state().verifier.clone();

    // Cancelled: withdrawn at once.
    let cancelled = verifier.create(otp("+14155550131")).await.unwrap();
    verifier.cancel(&cancelled.otp_id).await.unwrap();
    let view = outbound_view(&d, &cancelled.message_id).await;
    assert_eq!(view.status, "withdrawn");
    assert!(view.error.unwrap().contains("cancelled"));

    // Verified (the person read the code some other way, say a resend): withdrawn at once.
    let verified = verifier.create(otp("+14155550132")).await.unwrap();
    let body = outbound_view(&d, &verified.message_id).await.body;
    let code: String = body.chars().filter(char::is_ascii_digit).take(6).collect();
    assert!(
        verifier
            .check(&verified.otp_id, &code)
            .await
            .unwrap()
            .verified
    );
    assert_eq!(
        outbound_view(&d, &verified.message_id).await.status,
        "withdrawn"
    );

    // Expired while queued: withdrawn when the line comes back, before anything is sent.
    let expiring = verifier.create(otp("+14155550133")).await.unwrap();
    let also_expiring = verifier.create(otp("+14155550134")).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let fresh = verifier.create(otp("+14155550135")).await.unwrap();
    d.modems[0].set_registered(true);
    let world = d.network.world();
    world
        .wait_for("+14155550135", SOON)
        .await
        .expect("the live code is sent");
    assert_eq!(
        outbound_view(&d, &expiring.message_id).await.status,
        "withdrawn"
    );
    // Both codes that expired in the queue.
    assert_eq!(
        outbound_view(&d, &also_expiring.message_id).await.status,
        "withdrawn"
    );
    wait_out(&d, &fresh.message_id).await;
    let reached: Vec<String> = world.messages().into_iter().map(|m| m.to).collect();
    assert_eq!(reached, ["+14155550135"], "only the live code went out");

    let withdrawn_events = d
        .state()
        .store
        .call(|c| {
            Ok(events::since(c, 0, 1000)?
                .into_iter()
                .filter(|e| e.kind == "message.status" && e.data["status"] == "withdrawn")
                .count())
        })
        .await
        .unwrap();
    assert_eq!(withdrawn_events, 4);
    d.stop().await;
}
