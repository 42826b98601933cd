//! Codes live only as HMACs once a verification is over: the SMS text and PDUs that had to carry
//! the code are redacted by the janitor.

use crate::daemon_support;

use daemon_support::{TestDaemon, SOON};
use simgate::verify::{redact_finished_codes, CreateOtp, REDACTED_BODY};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn codes_are_removed_from_the_queue_after_verification() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let verifier = d.state().verifier.clone();
    let created = verifier
        .create(CreateOtp {
            to: "+15557654321".into(),
            language: None,
            name: Some("Demo".into()),
            api_key: "test".into(),
            client_ip: None,
        })
        .await
        .unwrap();
    let sms = d
        .network
        .world()
        .wait_for("+15557654321", SOON)
        .await
        .expect("code sent");
    let code: String = sms
        .text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .expect("a 6-digit code")
        .to_string();
    // Still pending: the code must stay (resends need it).
    let store = d.state().store.clone();
    let now = simgate::store::now_ms();
    assert_eq!(
        store
            .call(move |c| Ok(redact_finished_codes(c, now)?))
            .await
            .unwrap(),
        0
    );
    assert!(
        verifier
            .check(&created.otp_id, &code)
            .await
            .unwrap()
            .verified
    );
    // Wait until the SMS itself is no longer queued, then redact.
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let now = simgate::store::now_ms();
        if store
            .call(move |c| Ok(redact_finished_codes(c, now)?))
            .await
            .unwrap()
            == 1
        {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never redacted");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let id = created.message_id.clone();
    let (body, pdus): (String, String) = store
        .call(move |c| {
            // The PDUs joined here, not with SQLite's group_concat: the same on PostgreSQL.
            let body: String = c.query_row(
                "SELECT body FROM outbound_messages WHERE id = ?1",
                [&id],
                |r| r.get(0),
            )?;
            let mut parts = c.prepare("SELECT pdu FROM outbound_parts WHERE message_id = ?1")?;
            let pdus = parts
                .query_map([&id], |r| r.get::<_, Option<String>>(0))?
                .collect::<Result<Vec<_>, _>>()?;
            Ok((body, pdus.into_iter().flatten().collect::<String>()))
        })
        .await
        .unwrap();
    assert_eq!(body, REDACTED_BODY);
    assert!(pdus.is_empty());
    assert!(!body.contains(&code));
    d.stop().await;
}
