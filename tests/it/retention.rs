//! Retention through a whole daemon: messages, events, deliveries and verifications made by
//! real traffic (virtual modem, API, webhook receiver), aged, then pruned by a retention pass.

use crate::api_support;
use crate::daemon_support;
use crate::webhook_support;

use api_support::{contiguity_ok, Api};
use daemon_support::{TestDaemon, SOON};
use serde_json::json;
use simgate::store::now_ms;
use simgate::store::retention::{self, Policy};
use webhook_support::{fast_retries, webhook, Listener};

const DAY_MS: i64 = 86_400_000;

/// Row counts of the tables retention looks after.
async fn counts(d: &TestDaemon) -> Vec<(&'static str, i64)> {
    const TABLES: [&str; 10] = [
        "outbound_messages",
        "outbound_parts",
        "inbound_messages",
        "inbound_parts",
        "events",
        "webhook_deliveries",
        "webhook_attempts",
        "verifications",
        "reverse_verifications",
        "verify_requests",
    ];
    d.state()
        .store
        .call(|c| {
            let mut out = Vec::new();
            for t in TABLES {
                out.push((
                    t,
                    c.query_row(&format!("SELECT count(*) FROM {t}"), [], |r| r.get(0))?,
                ));
            }
            Ok(out)
        })
        .await
        .unwrap()
}

/// Moves every stored time `days` into the past, as if the rows had been made then.
async fn age_everything(d: &TestDaemon, days: i64) {
    let shift = days * DAY_MS;
    d.state()
        .store
        .call(move |c| {
            c.execute_batch(&format!(
                "UPDATE outbound_messages SET created_at = created_at - {shift}, updated_at = updated_at - {shift};
                 UPDATE inbound_messages SET received_at = received_at - {shift};
                 UPDATE inbound_parts SET received_at = received_at - {shift};
                 UPDATE status_reports SET received_at = received_at - {shift};
                 UPDATE events SET created_at = created_at - {shift};
                 UPDATE webhook_deliveries SET created_at = created_at - {shift};
                 UPDATE verifications SET created_at = created_at - {shift}, expires_at = expires_at - {shift};
                 UPDATE reverse_verifications SET created_at = created_at - {shift}, expires_at = expires_at - {shift};
                 UPDATE verify_requests SET created_at = created_at - {shift};"
            ))?;
            Ok(())
        })
        .await
        .unwrap();
}

async fn settled(d: &TestDaemon) -> bool {
    d.state()
        .store
        .call(|c| {
            Ok(c.query_row(
                "SELECT (SELECT count(*) FROM outbound_messages WHERE status IN ('queued', 'sending'))
                      + (SELECT count(*) FROM webhook_deliveries WHERE status = 'pending')
                      + (SELECT count(*) FROM events WHERE seq > (SELECT last_seq FROM webhook_cursor))",
                [],
                |r| r.get::<_, i64>(0),
            )? == 0)
        })
        .await
        .unwrap()
}

async fn wait_settled(d: &TestDaemon) {
    let deadline = tokio::time::Instant::now() + SOON;
    while !settled(d).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "traffic never settled"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// One round of traffic: a plain SMS out, an OTP, a reverse session, an SMS in; every event
/// delivered to the receiver.
async fn traffic(d: &TestDaemon, api: &Api, receiver: &Listener, round: usize) -> String {
    let (status, body) = api
        .post(
            "/send/text",
            json!({"to": "+447700900101", "message": "plain hello"}),
        )
        .await;
    let message_id = contiguity_ok(status, &body)["message_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (status, body) = api.post("/otp/new", json!({"to": "+15557654321"})).await;
    contiguity_ok(status, &body);
    let (status, body) = api
        .post("/otp/reverse/initiate", json!({"number": "+15557654322"}))
        .await;
    contiguity_ok(status, &body);
    d.network
        .send_from_world("+447700900123", "+15550000001", &format!("inbound {round}"))
        .unwrap();
    let text = format!("inbound {round}");
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let text = text.clone();
        let stored: i64 = d
            .state()
            .store
            .call(move |c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM inbound_messages WHERE body = ?1",
                    [text],
                    |r| r.get(0),
                )?)
            })
            .await
            .unwrap();
        if stored == 1 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "inbound never stored"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    receiver.wait_for(1, SOON).await;
    wait_settled(d).await;
    message_id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_removes_old_traffic_and_keeps_recent() {
    let receiver = Listener::start().await;
    let url = receiver.url.clone();
    let mut d = TestDaemon::with_config(1, |c| {
        c.webhooks.push(webhook(&url, &["*"]));
        fast_retries(c);
        // The traffic texts a GB number; plain texts obey the country allow-list.
        c.otp.allowed_countries = vec!["US".into(), "GB".into()];
    })
    .await;
    d.wait_all_ready().await;
    let api = Api::new(&d);
    let old_message = traffic(&d, &api, &receiver, 1).await;
    let old = counts(&d).await;
    assert!(
        old.iter().all(|(_, n)| *n > 0),
        "every table has rows: {old:?}"
    );
    age_everything(&d, 40).await;

    let new_message = traffic(&d, &api, &receiver, 2).await;
    let both = counts(&d).await;

    let policy = Policy::from_config(&d.config);
    let pruned = retention::run_once(&d.state().store, &policy, now_ms(), 3)
        .await
        .unwrap();
    assert!(pruned.total() > 0);
    let after = counts(&d).await;
    for (((table, before), (_, all)), (_, left)) in old.iter().zip(&both).zip(&after) {
        let recent = all - before;
        if *table == "verify_requests" {
            // The rate limiter itself drops rows past its hour when it records: what is left
            // after the recent round is all recent, and kept (one day).
            assert_eq!(left, all, "{table}");
        } else {
            assert_eq!(
                *left, recent,
                "{table}: only the recent round is left ({before} old, {all} in all)"
            );
        }
    }
    let (status, _) = api.get(&format!("/v1/messages/{old_message}")).await;
    assert_eq!(status, 404, "the old message is gone");
    let (status, _) = api.get(&format!("/v1/messages/{new_message}")).await;
    assert_eq!(status, 200, "the recent one is kept");
    d.stop().await;
}
