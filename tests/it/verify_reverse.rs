//! Reverse OTP through the whole daemon: a phone in the virtual world texts one of our SIMs,
//! the inbound pipeline stores the message and the matcher verifies the session.

use crate::daemon_support;

use daemon_support::{TestDaemon, SOON};
use simgate::store::{events, inbound as inbound_store};
use simgate::verify::{OtpStatus, ReverseInit, ReverseView, VerifyError};
use std::time::Duration;

const PERSON: &str = "+14155550100";
const SIM1: &str = "+15550000001";
const SIM2: &str = "+15550000002";

fn init(number: &str) -> ReverseInit {
    ReverseInit {
        number: number.into(),
        api_key: daemon_support::API_KEY.into(),
        ..Default::default()
    }
}

async fn inbound_count(d: &TestDaemon) -> usize {
    d.state()
        .store
        .call(|c| Ok(inbound_store::list(c, 10_000, None)?.len()))
        .await
        .unwrap()
}

/// Waits until `count` inbound messages are stored.
async fn wait_inbound(d: &TestDaemon, count: usize) {
    let deadline = tokio::time::Instant::now() + SOON;
    while inbound_count(d).await < count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "inbound message {count} not stored"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits for the session to leave `pending`, or returns it pending after `SOON`.
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

async fn reverse_events(d: &TestDaemon) -> Vec<events::Event> {
    d.state()
        .store
        .call(|c| {
            Ok(events::since(c, 0, 1000)?
                .into_iter()
                .filter(|e| e.kind == "otp.reverse.verified")
                .collect())
        })
        .await
        .unwrap()
}

/// The one PDU the network's SMSC makes of a short text, to deliver it more than once.
fn deliver_pdu(d: &TestDaemon, from: &str, text: &str) -> String {
    let mut parts = d.network.encode_from_world(from, text, false);
    assert_eq!(parts.len(), 1);
    parts.remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn texting_the_factor_verifies_and_notifies_the_success_url() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let verifier = d.state().verifier.clone();
    let view = verifier
        .reverse_initiate(ReverseInit {
            success_url: Some("https://app.example/verified".into()),
            service: Some("shop".into()),
            ..init("(415) 555-0100")
        })
        .await
        .unwrap();
    assert!(view.otp_id.starts_with("r_otp_"), "{}", view.otp_id);
    assert_eq!(view.number, PERSON);
    assert_eq!(view.to, SIM1);
    assert_eq!(view.factor.len(), 6);
    assert!(view.factor.bytes().all(|b| b.is_ascii_digit()));
    assert_eq!(view.status, OtpStatus::Pending);
    assert_eq!(
        view.ui_text,
        format!("Text {} to (555) 000-0001", view.factor)
    );
    assert_eq!(view.qr_code, format!("sms:{SIM1}?body={}", view.factor));
    assert_eq!(view.service.as_deref(), Some("shop"));
    assert!(view.proof.is_none());
    let svg = verifier.reverse_qr_svg(&view);
    assert!(svg.contains("<svg"), "{svg}");

    d.network
        .send_from_world(PERSON, SIM1, &format!("my code is {}", view.factor))
        .unwrap();
    let done = settled(&d, &view.otp_id).await;
    assert_eq!(done.status, OtpStatus::Verified);
    assert!(done.verified);
    let verified_at = done.verified_at.expect("verified_at");
    let claims = verifier
        .verify_proof(
            done.proof.as_deref().expect("a proof once verified"),
            "shop",
        )
        .expect("the proof checks");
    assert_eq!(claims.sub, PERSON);
    assert_eq!(claims.verification_id, view.otp_id);
    assert_eq!(claims.method, "reverse_sms");
    assert!(verifier
        .verify_proof(done.proof.as_deref().unwrap(), "another-app")
        .is_none());

    let evs = reverse_events(&d).await;
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].data["otp_id"], view.otp_id.as_str());
    assert_eq!(evs[0].data["number"], PERSON);
    assert_eq!(evs[0].data["status"], "verified");
    assert_eq!(evs[0].data["verified_at"].as_i64(), Some(verified_at));
    assert_eq!(
        evs[0].target_url.as_deref(),
        Some("https://app.example/verified")
    );
    // The same text again verifies nothing more.
    d.network
        .send_from_world(PERSON, SIM1, &view.factor)
        .unwrap();
    wait_inbound(&d, 2).await;
    assert_eq!(reverse_events(&d).await.len(), 1);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_sender_wrong_factor_and_substrings_do_not_verify() {
    let mut d = TestDaemon::with_config(1, |c| c.otp.max_attempts = 3).await;
    d.wait_all_ready().await;
    let verifier = d.state().verifier.clone();
    let view = verifier
        .reverse_initiate(ReverseInit {
            factor: Some("Blue-Fox".into()),
            language: Some("es".into()),
            ..init(PERSON)
        })
        .await
        .unwrap();
    assert_eq!(view.ui_text, "Envía Blue-Fox por SMS al (555) 000-0001");
    assert_eq!(view.attempts_left, 3);

    // Another phone sends the right factor: not an attempt, not a match.
    d.network
        .send_from_world("+14155550199", SIM1, "blue-fox")
        .unwrap();
    wait_inbound(&d, 1).await;
    let v = verifier.reverse_get(&view.otp_id).await.unwrap();
    assert_eq!((v.status, v.attempts_left), (OtpStatus::Pending, 3));

    // The right phone, a wrong factor: one attempt.
    d.network.send_from_world(PERSON, SIM1, "red fox").unwrap();
    wait_inbound(&d, 2).await;
    let v = verifier.reverse_get(&view.otp_id).await.unwrap();
    assert_eq!((v.status, v.attempts_left), (OtpStatus::Pending, 2));

    // The factor inside a longer token: another attempt.
    d.network
        .send_from_world(PERSON, SIM1, "my code is blue-foxes")
        .unwrap();
    wait_inbound(&d, 3).await;
    let v = verifier.reverse_get(&view.otp_id).await.unwrap();
    assert_eq!((v.status, v.attempts_left), (OtpStatus::Pending, 1));

    // The third failure locks; the right factor afterwards is too late.
    d.network.send_from_world(PERSON, SIM1, "BlueFox").unwrap();
    wait_inbound(&d, 4).await;
    let v = verifier.reverse_get(&view.otp_id).await.unwrap();
    assert_eq!((v.status, v.attempts_left), (OtpStatus::Locked, 0));
    d.network
        .send_from_world(PERSON, SIM1, "  BLUE-FOX  ")
        .unwrap();
    wait_inbound(&d, 5).await;
    assert_eq!(
        verifier.reverse_get(&view.otp_id).await.unwrap().status,
        OtpStatus::Locked
    );
    assert!(reverse_events(&d).await.is_empty());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_and_cancelled_sessions_do_not_verify() {
    let mut d = TestDaemon::with_config(1, |c| c.otp.reverse_ttl_secs = 1).await;
    d.wait_all_ready().await;
    let verifier = d.state().verifier.clone();
    let expiring = verifier.reverse_initiate(init(PERSON)).await.unwrap();
    let cancelled = verifier
        .reverse_initiate(init("+14155550101"))
        .await
        .unwrap();
    let view = verifier.reverse_cancel(&cancelled.otp_id).await.unwrap();
    assert_eq!(view.status, OtpStatus::Cancelled);
    assert!(!view.verified);

    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        verifier.reverse_get(&expiring.otp_id).await.unwrap().status,
        OtpStatus::Expired
    );
    d.network
        .send_from_world(PERSON, SIM1, &expiring.factor)
        .unwrap();
    d.network
        .send_from_world("+14155550101", SIM1, &cancelled.factor)
        .unwrap();
    wait_inbound(&d, 2).await;
    assert_eq!(
        verifier.reverse_get(&expiring.otp_id).await.unwrap().status,
        OtpStatus::Expired
    );
    assert_eq!(
        verifier
            .reverse_get(&cancelled.otp_id)
            .await
            .unwrap()
            .status,
        OtpStatus::Cancelled
    );
    // Cancelling an expired session leaves it expired.
    assert_eq!(
        verifier
            .reverse_cancel(&expiring.otp_id)
            .await
            .unwrap()
            .status,
        OtpStatus::Expired
    );
    assert!(reverse_events(&d).await.is_empty());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_pdus_neither_verify_again_nor_count_twice() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let verifier = d.state().verifier.clone();
    let first = verifier
        .reverse_initiate(ReverseInit {
            factor: Some("Zebra7".into()),
            ..init(PERSON)
        })
        .await
        .unwrap();

    // A wrong factor delivered twice: one attempt.
    let wrong = deliver_pdu(&d, PERSON, "zebra8");
    d.network.inject_pdu(SIM1, &wrong).unwrap();
    d.network.inject_pdu(SIM1, &wrong).unwrap();
    // A marker from someone else: once it is stored, both copies above were handled.
    d.network
        .send_from_world("+14155550177", SIM1, "marker one")
        .unwrap();
    wait_inbound(&d, 2).await;
    let v = verifier.reverse_get(&first.otp_id).await.unwrap();
    assert_eq!(v.attempts_left, 4, "the duplicate counted no attempt");

    // The right factor delivered twice: verified once, one event.
    let right = deliver_pdu(&d, PERSON, "ok ZEBRA7");
    d.network.inject_pdu(SIM1, &right).unwrap();
    d.network.inject_pdu(SIM1, &right).unwrap();
    d.network
        .send_from_world("+14155550177", SIM1, "marker two")
        .unwrap();
    wait_inbound(&d, 4).await;
    assert_eq!(
        verifier.reverse_get(&first.otp_id).await.unwrap().status,
        OtpStatus::Verified
    );
    assert_eq!(reverse_events(&d).await.len(), 1);

    // A new session with the same factor: the old PDU replayed does not approve it.
    let second = verifier
        .reverse_initiate(ReverseInit {
            factor: Some("Zebra7".into()),
            ..init(PERSON)
        })
        .await
        .unwrap();
    d.network.inject_pdu(SIM1, &right).unwrap();
    d.network
        .send_from_world("+14155550177", SIM1, "marker three")
        .unwrap();
    wait_inbound(&d, 5).await;
    let v = verifier.reverse_get(&second.otp_id).await.unwrap();
    assert_eq!((v.status, v.attempts_left), (OtpStatus::Pending, 5));
    assert_eq!(reverse_events(&d).await.len(), 1);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lines_are_taken_in_turn_and_a_chosen_line_is_the_only_one_that_counts() {
    let mut d = TestDaemon::start(2).await;
    d.wait_all_ready().await;
    let verifier = d.state().verifier.clone();
    let a = verifier.reverse_initiate(init(PERSON)).await.unwrap();
    let b = verifier
        .reverse_initiate(init("+14155550102"))
        .await
        .unwrap();
    let mut tos = vec![a.to.clone(), b.to.clone()];
    tos.sort();
    assert_eq!(tos, vec![SIM1.to_string(), SIM2.to_string()]);

    let pinned = verifier
        .reverse_initiate(ReverseInit {
            to: Some("(555) 000-0002".into()),
            ..init("+14155550103")
        })
        .await
        .unwrap();
    assert_eq!(pinned.to, SIM2);
    // The right factor to the other SIM does not count.
    d.network
        .send_from_world("+14155550103", SIM1, &pinned.factor)
        .unwrap();
    wait_inbound(&d, 1).await;
    let v = verifier.reverse_get(&pinned.otp_id).await.unwrap();
    assert_eq!((v.status, v.attempts_left), (OtpStatus::Pending, 5));
    d.network
        .send_from_world("+14155550103", SIM2, &pinned.factor)
        .unwrap();
    assert_eq!(
        settled(&d, &pinned.otp_id).await.status,
        OtpStatus::Verified
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_requests_are_refused() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let verifier = d.state().verifier.clone();
    for factor in ["", "two words", "seventeen-chars-x", "semi;colon"] {
        let err = verifier
            .reverse_initiate(ReverseInit {
                factor: Some(factor.into()),
                ..init(PERSON)
            })
            .await
            .unwrap_err();
        assert!(
            matches!(err, VerifyError::InvalidFactor(_)),
            "{factor:?}: {err:?}"
        );
    }
    let err = verifier
        .reverse_initiate(ReverseInit {
            success_url: Some("javascript:alert(1)".into()),
            ..init(PERSON)
        })
        .await
        .unwrap_err();
    assert!(matches!(err, VerifyError::InvalidUrl(_)), "{err:?}");
    let err = verifier
        .reverse_initiate(ReverseInit {
            to: Some("+15550000099".into()),
            ..init(PERSON)
        })
        .await
        .unwrap_err();
    assert!(matches!(err, VerifyError::NotOurNumber(_)), "{err:?}");
    let err = verifier.reverse_initiate(init("nope")).await.unwrap_err();
    assert!(matches!(err, VerifyError::InvalidNumber(_)), "{err:?}");
    let err = verifier
        .reverse_initiate(init("+447700900123"))
        .await
        .unwrap_err();
    assert!(matches!(err, VerifyError::CountryNotAllowed(_)), "{err:?}");
    assert!(matches!(
        verifier.reverse_get("r_otp_nope").await,
        Err(VerifyError::NotFound)
    ));
    assert!(matches!(
        verifier.reverse_cancel("r_otp_nope").await,
        Err(VerifyError::NotFound)
    ));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_line_no_session() {
    let mut d = TestDaemon::start(0).await;
    let err = d
        .state()
        .verifier
        .reverse_initiate(init(PERSON))
        .await
        .unwrap_err();
    assert!(matches!(err, VerifyError::NoLineAvailable), "{err:?}");
    d.stop().await;
}
