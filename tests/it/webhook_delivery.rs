//! Webhook delivery end to end: a whole daemon, a real HTTP receiver on 127.0.0.1, and
//! signatures checked independently of simgate's signing code.

use crate::daemon_support;
use crate::webhook_support;

use daemon_support::{TestDaemon, SOON};
use simgate::store::events;
use std::time::Duration;
use webhook_support::*;

/// Appends an event the way its cause's transaction would, and wakes the dispatcher.
async fn append(
    d: &TestDaemon,
    kind: events::EventKind,
    data: serde_json::Value,
    target: Option<&str>,
) -> String {
    let target = target.map(str::to_string);
    let id = d
        .state()
        .store
        .call(move |c| {
            Ok(events::append_with_target(
                c,
                kind,
                &data,
                target.as_deref(),
            )?)
        })
        .await
        .unwrap();
    d.state().events_appended.notify_waiters();
    id
}

/// A daemon without modems whose one `[[webhook]]` takes every event, with fast retries.
async fn daemon_posting_to(
    listener: &Listener,
    shape: impl FnOnce(&mut simgate::config::Config),
) -> TestDaemon {
    let url = listener.url.clone();
    TestDaemon::with_config(0, |c| {
        c.webhooks.push(webhook(&url, &["*"]));
        fast_retries(c);
        shape(c);
    })
    .await
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_sms_is_delivered_signed() {
    let listener = Listener::start().await;
    let url = listener.url.clone();
    let mut d = TestDaemon::with_config(1, |c| {
        c.webhooks.push(webhook(&url, &["message.received"]));
        fast_retries(c);
    })
    .await;
    d.wait_all_ready().await;
    d.network
        .send_from_world("+447700900123", "+15550000001", "hello webhook")
        .unwrap();
    let got = listener.wait_for(1, SOON).await;
    let r = &got[0];
    let body = r.json();
    assert_eq!(body["type"], "message.received");
    assert_eq!(body["data"]["body"], "hello webhook");
    assert_eq!(body["data"]["from"], "+447700900123");
    assert_eq!(body["data"]["to"], "+15550000001");
    assert_eq!(body["api_version"], simgate::webhook::API_VERSION);
    let id = body["id"].as_str().unwrap();
    assert!(id.starts_with("evt_"), "{id}");
    assert_eq!(r.header("webhook-id"), id);
    assert_eq!(r.header("content-type"), "application/json");
    let sent_at: i64 = r.header("webhook-timestamp").parse().unwrap();
    assert!((sent_at - now_secs()).abs() <= 5, "fresh webhook-timestamp");
    let event_time = body["timestamp"].as_i64().expect("integer seconds");
    assert!((event_time - now_secs()).abs() <= 5);
    assert!(
        standard_signature_ok(SECRET, r),
        "Standard Webhooks signature: {:?}",
        r.headers
    );
    assert!(
        contiguity_signature_ok(SECRET, r),
        "Contiguity signature: {:?}",
        r.headers
    );
    assert!(!standard_signature_ok(
        "whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        r
    ));
    let api = Api::new(d.base_url());
    let delivery = api.wait_delivery_status(id, "delivered", SOON).await;
    assert_eq!(delivery["attempt_count"], 1);
    assert_eq!(delivery["attempts"][0]["status_code"], 200);
    d.stop().await;
}

/// How many deliveries this host holds (hand-offs not yet attempted, or leased attempts).
async fn held(d: &TestDaemon) -> i64 {
    d.state()
        .store
        .call(|c| {
            Ok(c.query_row(
                "SELECT COUNT(*) FROM webhook_deliveries WHERE lease_host IS NOT NULL",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap()
}

/// An inbound message's deliveries go to the dispatcher with its commit, held by this host
/// meanwhile. With one slot for a burst of eight (most hand-offs find it taken and are let
/// go of, for a poll) and a first attempt that fails (retried from the outbox), each event
/// still goes out exactly once, and nothing stays held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handed_over_deliveries_go_out_once_each_even_without_a_free_slot() {
    let listener = Listener::start().await;
    listener.script([Reply::status(500)]);
    let url = listener.url.clone();
    let mut d = TestDaemon::with_config(1, |c| {
        c.webhooks.push(webhook(&url, &["message.received"]));
        fast_retries(c);
        c.webhook_delivery.concurrency = 1;
        c.webhook_delivery.per_endpoint_concurrency = 1;
    })
    .await;
    d.wait_all_ready().await;
    for i in 0..8 {
        d.network
            .send_from_world("+447700900123", "+15550000001", &format!("burst {i}"))
            .unwrap();
    }
    listener.wait_for(9, SOON).await;
    // Long enough for several polls and for any second copy to arrive.
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    let got = listener.received();
    assert_eq!(
        got.len(),
        9,
        "eight events, one of them twice (500, then 200)"
    );
    let mut per_event: std::collections::HashMap<String, Vec<u16>> = Default::default();
    for r in &got {
        per_event
            .entry(r.header("webhook-id").to_string())
            .or_default()
            .push(r.answered);
    }
    assert_eq!(per_event.len(), 8);
    let mut shapes: Vec<Vec<u16>> = per_event.values().cloned().collect();
    shapes.sort();
    assert_eq!(shapes.iter().filter(|s| **s == vec![200]).count(), 7);
    assert!(shapes.contains(&vec![500, 200]), "{shapes:?}");
    let api = Api::new(d.base_url());
    for id in per_event.keys() {
        api.wait_delivery_status(id, "delivered", SOON).await;
    }
    assert_eq!(
        held(&d).await,
        0,
        "every hold released when its attempt was recorded"
    );
    d.stop().await;
}

/// A sent SMS is recorded with its `message.status` "sent" event in the commit that records
/// its last part, and that event's delivery goes to the dispatcher with the commit: the
/// webhook arrives once, after the message reads `sent`, and nothing stays held.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sent_sms_is_announced_once_by_the_commit_that_records_it() {
    let listener = Listener::start().await;
    let url = listener.url.clone();
    let mut d = TestDaemon::with_config(1, |c| {
        c.webhooks.push(webhook(&url, &["message.status"]));
        fast_retries(c);
    })
    .await;
    d.wait_all_ready().await;
    let api = Api::new(d.base_url());
    let (status, created) = api
        .post(
            "/v1/messages",
            serde_json::json!({"to": "+14155550501", "body": "announced once"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    // The network's status report may be announced (`delivered`) before `sent` arrives:
    // each event has its own delivery, and they go out side by side.
    let announced = listener
        .wait_for_event(SOON, |e| e["data"]["status"] == "sent")
        .await;
    let body = announced.json();
    assert_eq!(body["type"], "message.status");
    assert_eq!(body["data"]["message_id"], id.as_str());
    assert!(standard_signature_ok(SECRET, &announced));
    // Stored by the time it was announced (the simulated network's status report may have
    // taken it on to `delivered` since).
    let (status, message) = api.get(&format!("/v1/messages/{id}")).await;
    assert_eq!(status, 200);
    assert!(
        message["status"] == "sent" || message["status"] == "delivered",
        "{message}"
    );
    assert!(message["parts"][0]["message_ref"].is_u64(), "{message}");
    let event = body["id"].as_str().unwrap().to_string();
    let delivery = api.wait_delivery_status(&event, "delivered", SOON).await;
    assert_eq!(delivery["attempt_count"], 1);
    // Long enough for several polls: a hand-off also claimed by a poll would arrive twice.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let received = listener.received();
    let sent: Vec<_> = received
        .iter()
        .filter(|r| r.json()["data"]["status"] == "sent")
        .collect();
    assert_eq!(sent.len(), 1, "announced once");
    let ids: std::collections::HashSet<&str> =
        received.iter().map(|r| r.header("webhook-id")).collect();
    assert_eq!(ids.len(), received.len(), "no event twice");
    assert_eq!(held(&d).await, 0, "the hold was released with the attempt");
    d.stop().await;
}

/// A delivery held by this host when it stopped (a hand-off or an attempt cut short by a
/// crash) is not claimed by a poll while held, and goes out at the next start instead of
/// when its lease lapses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_held_when_the_daemon_stopped_goes_out_after_the_restart() {
    let listener = Listener::start().await;
    listener.otherwise(Reply::status(503));
    // After the first answer, the next attempt is a minute away: only the hold stands
    // between the row made due below and a poll.
    let mut d = daemon_posting_to(&listener, |c| {
        c.webhook_delivery.retry_base_ms = 60_000;
        c.webhook_delivery.retry_max_ms = 120_000;
    })
    .await;
    let id = append(
        &d,
        events::EventKind::MessageStatus,
        serde_json::json!({"status": "sent"}),
        None,
    )
    .await;
    listener.wait_for(1, SOON).await;
    let api = Api::new(d.base_url());
    let first = api.wait_delivery_status(&id, "pending", SOON).await;
    assert_eq!(first["attempt_count"], 1);
    // As a hand-off cut short leaves it: due now, held by this host for as long as the
    // daemon holds one (its attempt's time limit and a host's silence).
    let host = d.config.cluster.host_name();
    let lease_ms =
        (d.config.webhook_delivery.timeout_ms + d.config.cluster.host_timeout_secs * 1000) as i64;
    let event = id.clone();
    d.state()
        .store
        .call(move |c| {
            let now = simgate::store::now_ms();
            Ok(c.execute(
                "UPDATE webhook_deliveries SET lease_host = ?1, lease_until = ?2, next_attempt_at = ?3 WHERE event_id = ?4",
                simgate::store::db::params![host, now + lease_ms, now, event],
            )?)
        })
        .await
        .unwrap();
    let before = listener.received().len();
    tokio::time::sleep(Duration::from_millis(1_000)).await;
    assert_eq!(listener.received().len(), before, "held: no poll claims it");
    d.stop().await;
    listener.otherwise(Reply::status(200));
    d.boot().await;
    let got = listener.wait_for(before + 1, SOON).await;
    assert_eq!(got.last().unwrap().answered, 200);
    let api = Api::new(d.base_url());
    api.wait_delivery_status(&id, "delivered", SOON).await;
    assert_eq!(held(&d).await, 0);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_are_retried_with_the_same_id_and_body() {
    let listener = Listener::start().await;
    listener.script([Reply::status(500), Reply::status(500)]);
    let mut d = daemon_posting_to(&listener, |_| {}).await;
    let id = append(
        &d,
        events::EventKind::MessageStatus,
        serde_json::json!({"status": "sent"}),
        None,
    )
    .await;
    let got = listener.wait_for(3, SOON).await;
    assert_eq!(got.len(), 3);
    assert_eq!(
        got.iter().map(|r| r.answered).collect::<Vec<_>>(),
        vec![500, 500, 200]
    );
    for r in &got {
        assert_eq!(r.header("webhook-id"), id);
        assert_eq!(r.body, got[0].body, "the same bytes on every attempt");
        assert!(standard_signature_ok(SECRET, r));
        assert!(contiguity_signature_ok(SECRET, r));
    }
    let api = Api::new(d.base_url());
    let delivery = api.wait_delivery_status(&id, "delivered", SOON).await;
    assert_eq!(delivery["attempt_count"], 3);
    let codes: Vec<_> = delivery["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["status_code"].as_u64().unwrap())
        .collect();
    assert_eq!(codes, vec![500, 500, 200]);
    assert_eq!(delivery["attempts"][0]["error"], "HTTP 500");
    // Nothing more once delivered.
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(listener.received().len(), 3);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gone_stops_at_once_and_disables_an_api_endpoint() {
    let listener = Listener::start().await;
    listener.otherwise(Reply::status(410));
    let mut d = TestDaemon::with_config(0, fast_retries).await;
    let api = Api::new(d.base_url());
    let (status, created) = api
        .post(
            "/v1/webhooks/endpoints",
            serde_json::json!({"url": listener.url, "events": ["otp.*"]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let endpoint = created["id"].as_str().unwrap().to_string();
    let secret = created["secret"].as_str().unwrap().to_string();
    let id = append(
        &d,
        events::EventKind::OtpVerified,
        serde_json::json!({}),
        None,
    )
    .await;
    let got = listener.wait_for(1, SOON).await;
    assert!(
        standard_signature_ok(&secret, &got[0]),
        "signed with the endpoint's own secret"
    );
    let delivery = api.wait_delivery_status(&id, "failed", SOON).await;
    assert_eq!(delivery["attempt_count"], 1);
    assert!(
        delivery["last_error"].as_str().unwrap().contains("410"),
        "{delivery}"
    );
    let (_, shown) = api.get(&format!("/v1/webhooks/endpoints/{endpoint}")).await;
    assert_eq!(shown["status"], "disabled", "{shown}");
    // Several retry periods later: still one request, and new events do not go there.
    append(
        &d,
        events::EventKind::OtpVerified,
        serde_json::json!({}),
        None,
    )
    .await;
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(listener.received().len(), 1);
    let (status, problem) = api
        .post(
            &format!(
                "/v1/webhooks/deliveries/{}/retry",
                delivery["id"].as_str().unwrap()
            ),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 409, "{problem}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let listener = Listener::start().await;
    listener.script([Reply::status(429).with_header("retry-after", "1")]);
    let mut d = daemon_posting_to(&listener, |_| {}).await;
    let id = append(
        &d,
        events::EventKind::ModemStatus,
        serde_json::json!({}),
        None,
    )
    .await;
    let got = listener.wait_for(2, SOON).await;
    let gap = got[1].at - got[0].at;
    // The normal back-off here is 100 ms: only Retry-After explains a second's wait. The
    // stored times are whole milliseconds, hence the small allowance.
    assert!(gap >= Duration::from_millis(995), "retried after {gap:?}");
    assert!(gap < Duration::from_secs(3), "retried after {gap:?}");
    assert_eq!(got[1].header("webhook-id"), id);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pending_delivery_survives_a_restart() {
    let listener = Listener::start().await;
    listener.otherwise(Reply::status(503));
    let mut d = daemon_posting_to(&listener, |_| {}).await;
    let id = append(
        &d,
        events::EventKind::MessageReceived,
        serde_json::json!({"body": "x"}),
        None,
    )
    .await;
    listener.wait_for(1, SOON).await;
    let api = Api::new(d.base_url());
    let before = api.delivery_of(&id).await;
    assert_eq!(before["status"], "pending");
    d.stop().await;
    let seen_while_up = listener.received().len();
    listener.otherwise(Reply::status(200));
    d.boot().await;
    let got = listener.wait_for(seen_while_up + 1, SOON).await;
    let api = Api::new(d.base_url());
    let after = api.wait_delivery_status(&id, "delivered", SOON).await;
    assert_eq!(after["id"], before["id"], "the same delivery");
    assert_eq!(got.last().unwrap().answered, 200);
    for r in &got {
        assert_eq!(r.header("webhook-id"), id);
        assert_eq!(r.body, got[0].body);
    }
    // The event was fanned out once: one delivery, not one per start.
    let (_, all) = api.get("/v1/webhooks/deliveries").await;
    assert_eq!(all["data"].as_array().unwrap().len(), 1, "{all}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_retry_resends_a_failed_delivery() {
    let listener = Listener::start().await;
    listener.otherwise(Reply::status(500));
    let mut d = daemon_posting_to(&listener, |c| c.webhook_delivery.max_attempts = 2).await;
    let api = Api::new(d.base_url());
    let id = append(
        &d,
        events::EventKind::OtpVerified,
        serde_json::json!({}),
        None,
    )
    .await;
    let failed = api.wait_delivery_status(&id, "failed", SOON).await;
    assert_eq!(failed["attempt_count"], 2);
    assert!(
        failed["last_error"].as_str().unwrap().contains("gave up"),
        "{failed}"
    );
    assert_eq!(listener.received().len(), 2);
    listener.otherwise(Reply::status(204));
    let (status, scheduled) = api
        .post(
            &format!(
                "/v1/webhooks/deliveries/{}/retry",
                failed["id"].as_str().unwrap()
            ),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 202, "{scheduled}");
    assert_eq!(scheduled["status"], "pending");
    let got = listener.wait_for(3, SOON).await;
    assert_eq!(got[2].header("webhook-id"), id);
    assert_eq!(got[2].body, got[0].body);
    let delivered = api.wait_delivery_status(&id, "delivered", SOON).await;
    assert_eq!(delivered["attempt_count"], 3);
    let (status, problem) = api
        .post(
            "/v1/webhooks/deliveries/dlv_unknown/retry",
            serde_json::json!({}),
        )
        .await;
    assert_eq!(status, 404);
    assert_eq!(problem["status"], 404);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_are_filtered_by_type_and_targets_get_their_event() {
    let messages = Listener::start().await;
    let reverse = Listener::start().await;
    let target = Listener::start().await;
    let url = messages.url.clone();
    let mut d = TestDaemon::with_config(0, |c| {
        c.webhooks.push(webhook(&url, &["message.*"]));
        fast_retries(c);
    })
    .await;
    let api = Api::new(d.base_url());
    let (status, created) = api
        .post(
            "/v1/webhooks/endpoints",
            serde_json::json!({"url": reverse.url, "events": ["otp.reverse.verified"]}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let reverse_secret = created["secret"].as_str().unwrap().to_string();
    // Appended in one transaction, so they are fanned out together.
    let target_url = target.url.clone();
    let ids = d
        .state()
        .store
        .call(move |c| {
            let tx = c.transaction()?;
            let ids = vec![
                events::append(&tx, events::EventKind::OtpVerified, &serde_json::json!({}))?,
                events::append(
                    &tx,
                    events::EventKind::MessageStatus,
                    &serde_json::json!({}),
                )?,
                events::append_with_target(
                    &tx,
                    events::EventKind::OtpReverseVerified,
                    &serde_json::json!({"otp_id": "r_otp_1"}),
                    Some(&target_url),
                )?,
                events::append(&tx, events::EventKind::ModemStatus, &serde_json::json!({}))?,
            ];
            tx.commit()?;
            Ok(ids)
        })
        .await
        .unwrap();
    d.state().events_appended.notify_waiters();
    let to_messages = messages.wait_for(1, SOON).await;
    let to_reverse = reverse.wait_for(1, SOON).await;
    let to_target = target.wait_for(1, SOON).await;
    assert_eq!(to_messages[0].header("webhook-id"), ids[1]);
    assert_eq!(to_reverse[0].header("webhook-id"), ids[2]);
    assert_eq!(to_target[0].header("webhook-id"), ids[2]);
    assert_eq!(to_target[0].body, to_reverse[0].body);
    assert!(standard_signature_ok(&reverse_secret, &to_reverse[0]));
    // The target is signed with its own key, never a configured endpoint's secret.
    assert!(!standard_signature_ok(SECRET, &to_target[0]));
    assert!(!standard_signature_ok(&reverse_secret, &to_target[0]));
    let (_, all) = api.get("/v1/webhooks/deliveries").await;
    let mut fanned: Vec<(String, String)> = all["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["event_type"].as_str().unwrap().to_string(),
                d["endpoint_kind"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    fanned.sort();
    assert_eq!(
        fanned,
        vec![
            ("message.status".to_string(), "config".to_string()),
            ("otp.reverse.verified".to_string(), "api".to_string()),
            ("otp.reverse.verified".to_string(), "target".to_string()),
        ]
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unusable_target_url_fails_without_an_attempt() {
    let mut d = TestDaemon::with_config(0, fast_retries).await;
    let id = append(
        &d,
        events::EventKind::OtpReverseVerified,
        serde_json::json!({}),
        Some("javascript:alert(1)"),
    )
    .await;
    let api = Api::new(d.base_url());
    let failed = api.wait_delivery_status(&id, "failed", SOON).await;
    assert_eq!(failed["endpoint_kind"], "target");
    assert_eq!(failed["attempt_count"], 0);
    assert!(
        failed["last_error"].as_str().unwrap().contains("URL"),
        "{failed}"
    );
    d.stop().await;
}

/// `simgate webhook-secret` with a config naming `secret_file`: (exit ok, stdout, stderr).
fn webhook_secret_cli(secret_file: &std::path::Path) -> (bool, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("simgate.toml");
    std::fs::write(
        &config,
        format!(
            "[security]\nsecret_file = {:?}\n",
            secret_file.display().to_string()
        ),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_simgate"))
        .arg("webhook-secret")
        .arg("--config")
        .arg(&config)
        .env_remove("SIMGATE_CONFIG")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_url_with_no_webhook_configured_verifies_with_the_printed_secret() {
    let target = Listener::start().await;
    let mut d = TestDaemon::start(0).await;
    let (ok, printed, stderr) = webhook_secret_cli(&d.config.security.secret_file);
    assert!(ok, "{stderr}");
    assert!(printed.starts_with("whsec_"), "{printed}");
    let id = append(
        &d,
        events::EventKind::OtpReverseVerified,
        serde_json::json!({"otp_id": "r_otp_1"}),
        Some(&target.url),
    )
    .await;
    let got = target.wait_for(1, SOON).await;
    assert_eq!(got[0].header("webhook-id"), id);
    assert!(standard_signature_ok(&printed, &got[0]));
    assert!(contiguity_signature_ok(&printed, &got[0]));
    assert!(
        !standard_signature_ok(SECRET, &got[0]),
        "not some fixed key"
    );
    d.stop().await;
}

#[test]
fn webhook_secret_says_when_there_is_no_server_secret_yet() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("secret.key");
    let (ok, stdout, stderr) = webhook_secret_cli(&missing);
    assert!(!ok);
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.contains("created when the daemon first starts"),
        "{stderr}"
    );
    assert!(!missing.exists(), "the CLI does not create the secret");
}
