//! Reverse OTP against forged senders, through the whole daemon on virtual modems (issue 10):
//! an alphanumeric sender spelling the person's number, and a numeric sender delivered through
//! a service centre in another country.

use crate::daemon_support;

use daemon_support::{TestDaemon, API_KEY, SOON};
use simgate::codec::{self, Address, DeliverOptions, Timestamp};
use simgate::store::{events, inbound as inbound_store};
use simgate::verify::sender::SmscCountryCheck;
use simgate::verify::{OtpStatus, ReverseInit, ReverseView};
use std::time::Duration;

const PERSON: &str = "+14155552671";
const SIM1: &str = "+15550000001";
const FACTOR: &str = "482913";
/// A UK service centre: where a bulk route abroad would hand forged traffic in.
const FOREIGN_SMSC: &str = "+447785016005";

/// Written by hand, not by the codec (3GPP TS 23.040 §9.2.2.1), so that the decoder is shown
/// to read the attack as the network would deliver it:
///
/// ```text
/// 07 91 5155009099F9      SMSC +15550009999 (the simulator's, international)
/// 04                      SMS-DELIVER, no more messages
/// 12 D0 B458AD56ABC96CB718   originating address: 18 semi-octets, TON 5 alphanumeric,
///                         the GSM 7-bit text "4155552671"
/// 00 00                   PID, DCS (GSM 7-bit)
/// 52102141300000          SCTS 2025-01-12 14:03:00 +00
/// 06 349C2C179B01         6 septets: "482913"
/// ```
const HAND_WRITTEN_SPOOF: &str =
    "07915155009099F90412D0B458AD56ABC96CB71800005210214130000006349C2C179B01";

fn init(number: &str, factor: &str) -> ReverseInit {
    ReverseInit {
        number: number.into(),
        factor: Some(factor.into()),
        api_key: API_KEY.into(),
        ..Default::default()
    }
}

async fn inbound(d: &TestDaemon) -> Vec<inbound_store::InboundMessage> {
    d.state()
        .store
        .call(|c| Ok(inbound_store::list(c, 10_000, None)?))
        .await
        .unwrap()
}

async fn wait_inbound(d: &TestDaemon, count: usize) -> Vec<inbound_store::InboundMessage> {
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let messages = inbound(d).await;
        if messages.len() >= count {
            return messages;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "inbound message {count} not stored"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn received_events(d: &TestDaemon) -> Vec<serde_json::Value> {
    d.state()
        .store
        .call(|c| {
            Ok(events::since(c, 0, 1000)?
                .into_iter()
                .filter(|e| e.kind == "message.received")
                .map(|e| e.data)
                .collect())
        })
        .await
        .unwrap()
}

async fn reverse_verified_count(d: &TestDaemon) -> usize {
    d.state()
        .store
        .call(|c| {
            Ok(events::since(c, 0, 1000)?
                .into_iter()
                .filter(|e| e.kind == "otp.reverse.verified")
                .count())
        })
        .await
        .unwrap()
}

async fn settled(d: &TestDaemon, id: &str) -> ReverseView {
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let view = d.state().verifier.reverse_get(id).await.unwrap();
        if view.status != OtpStatus::Pending || tokio::time::Instant::now() >= deadline {
            return view;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `GET /v1/messages?direction=inbound` as an app sees it.
async fn inbound_listing(d: &TestDaemon) -> Vec<serde_json::Value> {
    let body: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/v1/messages?direction=inbound", d.base_url()))
        .bearer_auth(API_KEY)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    body["data"].as_array().cloned().unwrap_or_default()
}

/// An SMS-DELIVER from an alphanumeric sender (TON 5) whose text is `sender`, built with the
/// codec's encoder.
fn alphanumeric_pdu(sender: &str, text: &str, smsc: &str) -> String {
    let originator = Address {
        digits_or_text: sender.into(),
        type_of_address: codec::address::TOA_ALPHANUMERIC,
    };
    let mut pdus = codec::encode_deliver_from(
        &originator,
        text,
        &stamp(),
        &DeliverOptions {
            smsc: Some(smsc.into()),
            ..Default::default()
        },
    );
    assert_eq!(pdus.len(), 1);
    pdus.remove(0)
}

fn stamp() -> Timestamp {
    Timestamp::from_offset_datetime(time::OffsetDateTime::now_utc())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_alphanumeric_sender_spelling_the_number_never_verifies() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let verifier = d.state().verifier.clone();
    let session = verifier
        .reverse_initiate(init(PERSON, FACTOR))
        .await
        .unwrap();
    assert_eq!(session.to, SIM1);

    // The attack built with the codec's encoder: TON 5, text = the national digits.
    let home_smsc = d.network.smsc().to_string();
    d.network
        .inject_pdu(SIM1, &alphanumeric_pdu("4155552671", FACTOR, &home_smsc))
        .unwrap();
    // The same attack from the hand-written PDU, and one spelling the number internationally.
    let Ok(codec::Pdu::Deliver(hand)) = codec::decode(HAND_WRITTEN_SPOOF, true) else {
        panic!("the hand-written PDU decodes")
    };
    assert_eq!(hand.originator.kind(), codec::AddressKind::Alphanumeric);
    assert_eq!(hand.originator.digits_or_text, "4155552671");
    assert_eq!(hand.user_data.text.as_deref(), Some(FACTOR));
    d.network.inject_pdu(SIM1, HAND_WRITTEN_SPOOF).unwrap();
    d.network
        .inject_pdu(SIM1, &alphanumeric_pdu("14155552671", FACTOR, &home_smsc))
        .unwrap();

    let stored = wait_inbound(&d, 3).await;
    // Nothing verified, and no attempt counted against the person's session.
    let view = verifier.reverse_get(&session.otp_id).await.unwrap();
    assert_eq!(
        (view.status, view.attempts_left),
        (OtpStatus::Pending, 5),
        "{view:?}"
    );
    assert_eq!(reverse_verified_count(&d).await, 0);

    // Stored, and announced with their sender type.
    for m in &stored {
        assert_eq!(m.sender_type, "alphanumeric");
        assert_eq!(m.sender_trust.as_deref(), Some("untrusted"));
        assert_eq!(m.body, FACTOR);
    }
    let announced = received_events(&d).await;
    assert_eq!(announced.len(), 3);
    for event in &announced {
        assert_eq!(event["sender_type"], "alphanumeric", "{event}");
        assert_eq!(event["sender_trust"], "untrusted", "{event}");
        assert!(
            event["sender_trust_reason"]
                .as_str()
                .unwrap()
                .starts_with("alphanumeric_sender: "),
            "{event}"
        );
    }
    let mut senders: Vec<&str> = announced
        .iter()
        .filter_map(|e| e["from"].as_str())
        .collect();
    senders.sort();
    assert_eq!(senders, ["14155552671", "4155552671", "4155552671"]);
    let listed = inbound_listing(&d).await;
    assert!(listed
        .iter()
        .all(|m| m["sender_type"] == "alphanumeric" && m["sender_trust"] == "untrusted"));

    // The person's own phone still verifies.
    d.network.send_from_world(PERSON, SIM1, FACTOR).unwrap();
    assert_eq!(
        settled(&d, &session.otp_id).await.status,
        OtpStatus::Verified
    );
    let listed = inbound_listing(&d).await;
    let genuine = listed.iter().find(|m| m["from"] == PERSON).unwrap();
    assert_eq!(genuine["sender_type"], "international");
    assert_eq!(genuine["sender_trust"], "trusted");
    assert_eq!(genuine["smsc"], "+15550009999");
    assert!(genuine["sender_trust_reason"].is_null());
    d.stop().await;
}

/// A forged numeric sender through a UK service centre, for a US number.
fn forged_pdu(from: &str, text: &str) -> String {
    let mut pdus = codec::encode_deliver(
        from,
        text,
        &stamp(),
        &DeliverOptions {
            smsc: Some(FOREIGN_SMSC.into()),
            ..Default::default()
        },
    );
    assert_eq!(pdus.len(), 1);
    pdus.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_numeric_sender_through_a_foreign_smsc_is_refused_and_counts_as_an_attempt() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let verifier = d.state().verifier.clone();
    let session = verifier
        .reverse_initiate(init(PERSON, FACTOR))
        .await
        .unwrap();
    d.network
        .inject_pdu(SIM1, &forged_pdu(PERSON, FACTOR))
        .unwrap();
    let stored = wait_inbound(&d, 1).await;
    let view = verifier.reverse_get(&session.otp_id).await.unwrap();
    assert_eq!(
        (view.status, view.attempts_left),
        (OtpStatus::Pending, 4),
        "refused, and one failed attempt: {view:?}"
    );
    assert_eq!(reverse_verified_count(&d).await, 0);
    assert_eq!(stored[0].sender_trust.as_deref(), Some("refused"));

    // Why, in the native API's inbound listing and in the event.
    let listed = inbound_listing(&d).await;
    assert_eq!(listed[0]["from"], PERSON);
    assert_eq!(listed[0]["smsc"], FOREIGN_SMSC);
    assert_eq!(listed[0]["sender_trust"], "refused");
    let reason = listed[0]["sender_trust_reason"].as_str().unwrap();
    assert!(reason.starts_with("smsc_country_mismatch: "), "{reason}");
    assert!(reason.contains("GB") && reason.contains("US"), "{reason}");
    let announced = received_events(&d).await;
    assert_eq!(announced[0]["sender_trust"], "refused");
    assert_eq!(announced[0]["sender_type"], "international");

    // Through the home network's centre, the same number verifies.
    d.network.send_from_world(PERSON, SIM1, FACTOR).unwrap();
    assert_eq!(
        settled(&d, &session.otp_id).await.status,
        OtpStatus::Verified
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_flag_mode_a_foreign_smsc_verifies_and_is_marked() {
    let mut d = TestDaemon::with_config(1, |c| {
        c.otp.reverse_smsc_country_check = SmscCountryCheck::Flag;
    })
    .await;
    d.wait_all_ready().await;
    let verifier = d.state().verifier.clone();
    let session = verifier
        .reverse_initiate(init(PERSON, FACTOR))
        .await
        .unwrap();
    d.network
        .inject_pdu(SIM1, &forged_pdu(PERSON, FACTOR))
        .unwrap();
    assert_eq!(
        settled(&d, &session.otp_id).await.status,
        OtpStatus::Verified
    );
    let listed = inbound_listing(&d).await;
    assert_eq!(listed[0]["sender_trust"], "flagged");
    assert!(listed[0]["sender_trust_reason"]
        .as_str()
        .unwrap()
        .starts_with("smsc_country_mismatch: "));
    // Flagging never lets an alphanumeric sender through.
    let second = verifier
        .reverse_initiate(init("+14155552672", "777111"))
        .await
        .unwrap();
    d.network
        .inject_pdu(
            SIM1,
            &alphanumeric_pdu("4155552672", "777111", FOREIGN_SMSC),
        )
        .unwrap();
    wait_inbound(&d, 2).await;
    let view = verifier.reverse_get(&second.otp_id).await.unwrap();
    assert_eq!((view.status, view.attempts_left), (OtpStatus::Pending, 5));
    d.stop().await;
}
