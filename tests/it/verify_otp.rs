//! Standard OTP through the whole daemon: the code SMS goes out through a virtual modem to the
//! world, is read there, and is checked back through the service.

use crate::daemon_support;

use daemon_support::{TestDaemon, SOON};
use simgate::store::events;
use simgate::verify::{CreateOtp, OtpStatus, VerifyError};
use std::time::Duration;

const PERSON: &str = "+14155550100";
/// A little over the 2 s resend cooldown of the resend test.
const COOLDOWN: Duration = Duration::from_millis(2050);

fn request(to: &str) -> CreateOtp {
    CreateOtp {
        to: to.into(),
        language: None,
        name: Some("Acme".into()),
        api_key: daemon_support::API_KEY.into(),
        client_ip: None,
    }
}

/// The first run of `length` digits in `text`.
fn code_in(text: &str, length: usize) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == length)
        .unwrap_or_else(|| panic!("no {length}-digit code in {text:?}"))
        .to_string()
}

async fn receive_code(d: &TestDaemon, to: &str) -> (String, String) {
    let sms = d
        .network
        .world()
        .wait_for(to, SOON)
        .await
        .expect("the code SMS reached the phone");
    let code = code_in(&sms.text, d.config.otp.code_length as usize);
    (code, sms.text)
}

/// A code that is surely wrong.
fn other_than(code: &str) -> String {
    code.chars()
        .map(|c| {
            if c == '9' {
                '0'
            } else {
                char::from(c as u8 + 1)
            }
        })
        .collect()
}

async fn events_of(d: &TestDaemon, kind: &'static str) -> Vec<events::Event> {
    d.state()
        .store
        .call(move |c| {
            Ok(events::since(c, 0, 1000)?
                .into_iter()
                .filter(|e| e.kind == kind)
                .collect())
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_arrives_by_sms_and_verifies_once() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let verifier = d.state().verifier.clone();
    // National format, read with the default country (US).
    let created = verifier.create(request("(415) 555-0100")).await.unwrap();
    assert!(created.otp_id.starts_with("otp_"), "{}", created.otp_id);
    assert_eq!(created.to, PERSON);
    assert_eq!(created.parts, 1);
    let (code, text) = receive_code(&d, PERSON).await;
    assert_eq!(code.len(), 6);
    assert!(text.contains("Acme"), "{text}");
    assert!(text.contains("5 min"), "{text}");

    let view = verifier.get(&created.otp_id).await.unwrap();
    assert_eq!(view.status, OtpStatus::Pending);
    assert_eq!(view.message_id, created.message_id);
    assert!(view.expires_at > view.created_at);

    let ok = verifier.check(&created.otp_id, &code).await.unwrap();
    assert!(ok.verified);
    assert_eq!(ok.status, OtpStatus::Verified);
    assert_eq!(ok.attempts_left, 4);
    // Single use.
    let again = verifier.check(&created.otp_id, &code).await.unwrap();
    assert!(!again.verified);
    assert_eq!(again.status, OtpStatus::Verified);

    let view = verifier.get(&created.otp_id).await.unwrap();
    assert!(view.verified);
    assert!(view.verified_at.is_some());
    let verified = events_of(&d, "otp.verified").await;
    assert_eq!(verified.len(), 1);
    assert_eq!(verified[0].data["otp_id"], created.otp_id.as_str());
    assert_eq!(verified[0].data["to"], PERSON);
    assert_eq!(
        verified[0].data["verified_at"].as_i64(),
        view.verified_at,
        "{:?}",
        verified[0].data
    );

    // The verification row holds a 32-byte HMAC, not the code.
    let id = created.otp_id.clone();
    let stored: Vec<u8> = d
        .state()
        .store
        .call(move |c| {
            Ok(c.query_row(
                "SELECT code_hmac FROM verifications WHERE id = ?1",
                [&id],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap();
    assert_eq!(stored.len(), 32);
    assert_ne!(stored, code.as_bytes());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_codes_count_and_lock() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let verifier = d.state().verifier.clone();
    let created = verifier.create(request(PERSON)).await.unwrap();
    let (code, _) = receive_code(&d, PERSON).await;
    let wrong = other_than(&code);
    for left in (1..5).rev() {
        let r = verifier.check(&created.otp_id, &wrong).await.unwrap();
        assert!(!r.verified);
        assert_eq!(r.status, OtpStatus::Pending);
        assert_eq!(r.attempts_left, left);
    }
    let last = verifier.check(&created.otp_id, &wrong).await.unwrap();
    assert_eq!(last.status, OtpStatus::Locked);
    assert_eq!(last.attempts_left, 0);
    // Locked: even the right code fails now.
    let right = verifier.check(&created.otp_id, &code).await.unwrap();
    assert!(!right.verified);
    assert_eq!(right.status, OtpStatus::Locked);
    assert!(events_of(&d, "otp.verified").await.is_empty());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_never_exceed_max_attempts() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let verifier = d.state().verifier.clone();
    let created = verifier.create(request(PERSON)).await.unwrap();
    let (code, _) = receive_code(&d, PERSON).await;
    let wrong = other_than(&code);
    let mut guesses = Vec::new();
    for _ in 0..20 {
        let (v, id, w) = (verifier.clone(), created.otp_id.clone(), wrong.clone());
        guesses.push(tokio::spawn(async move { v.check(&id, &w).await.unwrap() }));
    }
    let mut locked = 0;
    for g in guesses {
        let r = g.await.unwrap();
        assert!(!r.verified);
        if r.status == OtpStatus::Locked {
            locked += 1;
        }
    }
    assert_eq!(locked, 16, "the 5th guess locks, 15 more find it locked");
    let view = verifier.get(&created.otp_id).await.unwrap();
    assert_eq!(view.attempts, 5);
    assert_eq!(view.status, OtpStatus::Locked);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_expire() {
    let mut d = TestDaemon::with_config(1, |c| c.otp.ttl_secs = 1).await;
    d.wait_all_ready().await;
    let verifier = d.state().verifier.clone();
    let created = verifier.create(request(PERSON)).await.unwrap();
    let (code, text) = receive_code(&d, PERSON).await;
    assert!(text.contains("1 min"), "{text}");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let r = verifier.check(&created.otp_id, &code).await.unwrap();
    assert!(!r.verified);
    assert_eq!(r.status, OtpStatus::Expired);
    assert_eq!(
        verifier.get(&created.otp_id).await.unwrap().status,
        OtpStatus::Expired
    );
    let resent = verifier.resend(&created.otp_id).await.unwrap();
    assert!(!resent.resent);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resend_keeps_code_and_expiry_with_cooldown_and_cap() {
    let mut d = TestDaemon::with_config(1, |c| {
        c.otp.resend_cooldown_secs = 2;
        c.otp.max_resends = 2;
    })
    .await;
    d.wait_all_ready().await;
    let verifier = d.state().verifier.clone();
    let created = verifier.create(request(PERSON)).await.unwrap();
    let early = verifier.resend(&created.otp_id).await.unwrap();
    assert!(!early.resent);
    assert!(matches!(early.retry_after_secs, Some(1..=2)), "{early:?}");
    let (code, first_text) = receive_code(&d, PERSON).await;

    for _ in 0..2 {
        tokio::time::sleep(COOLDOWN).await;
        let r = verifier.resend(&created.otp_id).await.unwrap();
        assert!(r.resent, "{r:?}");
        let (again, text) = receive_code(&d, PERSON).await;
        assert_eq!(again, code, "a resend carries the same code");
        assert_eq!(text, first_text);
    }
    tokio::time::sleep(COOLDOWN).await;
    let capped = verifier.resend(&created.otp_id).await.unwrap();
    assert!(!capped.resent);
    assert_eq!(capped.retry_after_secs, None);

    let view = verifier.get(&created.otp_id).await.unwrap();
    assert_eq!(view.resends, 2);
    assert_eq!(view.expires_at, created.expires_at, "expiry not extended");
    assert!(
        verifier
            .check(&created.otp_id, &code)
            .await
            .unwrap()
            .verified
    );
    // Once verified there is nothing to resend.
    tokio::time::sleep(COOLDOWN).await;
    assert!(!verifier.resend(&created.otp_id).await.unwrap().resent);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_number_limit_survives_a_restart() {
    let mut d = TestDaemon::with_config(1, |c| c.otp.rate_per_number_per_hour = 2).await;
    d.wait_all_ready().await;
    let verifier = d.state().verifier.clone();
    verifier.create(request(PERSON)).await.unwrap();
    verifier.create(request(PERSON)).await.unwrap();
    let limited = verifier.create(request(PERSON)).await.unwrap_err();
    match limited {
        VerifyError::RateLimited {
            retry_after_secs,
            scope,
        } => {
            assert_eq!(scope, "number");
            assert!(
                (3590..=3600).contains(&retry_after_secs),
                "{retry_after_secs}"
            );
        }
        other => panic!("expected a rate limit, got {other:?}"),
    }
    // Another number is not limited.
    verifier.create(request("+14155550101")).await.unwrap();

    d.stop().await;
    d.boot().await;
    let err = d
        .state()
        .verifier
        .create(request(PERSON))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            VerifyError::RateLimited {
                scope: "number",
                ..
            }
        ),
        "{err:?}"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_ip_and_per_key_limits() {
    let mut d = TestDaemon::with_config(1, |c| {
        c.otp.rate_per_ip_per_hour = 1;
        c.otp.rate_per_key_per_minute = 3;
    })
    .await;
    let verifier = d.state().verifier.clone();
    let with_ip = |to: &str, ip: &str| CreateOtp {
        client_ip: Some(ip.parse().unwrap()),
        ..request(to)
    };
    verifier
        .create(with_ip("+14155550110", "203.0.113.5"))
        .await
        .unwrap();
    let err = verifier
        .create(with_ip("+14155550111", "203.0.113.5"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, VerifyError::RateLimited { scope: "ip", .. }),
        "{err:?}"
    );
    verifier
        .create(with_ip("+14155550112", "203.0.113.6"))
        .await
        .unwrap();
    verifier.create(request("+14155550113")).await.unwrap();
    let err = verifier.create(request("+14155550114")).await.unwrap_err();
    assert!(
        matches!(err, VerifyError::RateLimited { scope: "key", .. }),
        "{err:?}"
    );
    let other_key = CreateOtp {
        api_key: "sk_other_key_123".into(),
        ..request("+14155550114")
    };
    verifier.create(other_key).await.unwrap();
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn countries_numbers_and_ids() {
    let mut d = TestDaemon::start(1).await;
    let verifier = d.state().verifier.clone();
    // Default allow-list: the SIM's country (US) and the default country (US).
    let err = verifier.create(request("+447700900123")).await.unwrap_err();
    assert!(
        matches!(&err, VerifyError::CountryNotAllowed(c) if c == "GB"),
        "{err:?}"
    );
    for bad in ["", "hello", "+1", "12345", "+999123456789"] {
        let err = verifier.create(request(bad)).await.unwrap_err();
        assert!(
            matches!(
                err,
                VerifyError::InvalidNumber(_) | VerifyError::CountryNotAllowed(_)
            ),
            "{bad:?}: {err:?}"
        );
        assert!(err.is_client_error());
    }
    assert!(matches!(
        verifier.check("otp_nope", "123456").await,
        Err(VerifyError::NotFound)
    ));
    assert!(matches!(
        verifier.get("otp_nope").await,
        Err(VerifyError::NotFound)
    ));
    assert!(matches!(
        verifier.resend("otp_nope").await,
        Err(VerifyError::NotFound)
    ));
    assert!(matches!(
        verifier.cancel("otp_nope").await,
        Err(VerifyError::NotFound)
    ));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allowed_countries_and_languages() {
    let mut d = TestDaemon::with_config(1, |c| {
        c.otp.allowed_countries = vec!["GB".into(), "BR".into()]
    })
    .await;
    d.wait_all_ready().await;
    let verifier = d.state().verifier.clone();
    // With an explicit list, the home country is no longer implied.
    assert!(matches!(
        verifier.create(request(PERSON)).await,
        Err(VerifyError::CountryNotAllowed(_))
    ));
    let created = verifier
        .create(CreateOtp {
            language: Some("pt-BR".into()),
            ..request("+55 11 98765-4321")
        })
        .await
        .unwrap();
    assert_eq!(created.to, "+5511987654321");
    let (_, text) = receive_code(&d, "+5511987654321").await;
    assert!(text.starts_with("Seu codigo Acme"), "{text}");
    verifier
        .create(CreateOtp {
            language: Some("klingon".into()),
            name: None,
            ..request("+44 7700 900123")
        })
        .await
        .unwrap();
    let (_, text) = receive_code(&d, "+447700900123").await;
    assert!(text.starts_with("Your verification code is"), "{text}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancelled_codes_do_not_verify() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let verifier = d.state().verifier.clone();
    let created = verifier.create(request(PERSON)).await.unwrap();
    let (code, _) = receive_code(&d, PERSON).await;
    let view = verifier.cancel(&created.otp_id).await.unwrap();
    assert_eq!(view.status, OtpStatus::Cancelled);
    let r = verifier.check(&created.otp_id, &code).await.unwrap();
    assert!(!r.verified);
    assert_eq!(r.status, OtpStatus::Cancelled);
    // Cancelling again changes nothing.
    assert_eq!(
        verifier.cancel(&created.otp_id).await.unwrap().status,
        OtpStatus::Cancelled
    );
    d.stop().await;
}
