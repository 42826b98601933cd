//! The webhook and event-log routes of the native API, through a whole daemon.

use crate::daemon_support;
use crate::webhook_support;

use daemon_support::TestDaemon;
use simgate::store::events;
use webhook_support::*;

async fn daemon_with_one_configured_endpoint() -> (TestDaemon, Api) {
    let d = TestDaemon::with_config(0, |c| {
        // Nothing listens there: deliveries stay pending, which these tests do not mind.
        c.webhooks
            .push(webhook("http://127.0.0.1:9/configured", &["message.*"]));
        fast_retries(c);
    })
    .await;
    let api = Api::new(d.base_url());
    (d, api)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn endpoints_lifecycle_and_secrets_shown_once() {
    let (mut d, api) = daemon_with_one_configured_endpoint().await;
    let (status, list) = api.get("/v1/webhooks/endpoints").await;
    assert_eq!(status, 200);
    let listed = list["data"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    let configured = &listed[0];
    assert_eq!(configured["source"], "config");
    assert_eq!(configured["events"], serde_json::json!(["message.*"]));
    assert!(configured.get("secret").is_none(), "{configured}");
    assert!(
        !list.to_string().contains("MfKQ9r8"),
        "no secret in the list"
    );

    let (status, created) = api
        .post(
            "/v1/webhooks/endpoints",
            serde_json::json!({"url": "http://127.0.0.1:9/app", "events": ["otp.*", "modem.status"], "description": "my app"}),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let secret = created["secret"].as_str().unwrap().to_string();
    assert!(
        simgate::webhook::decode_secret(&secret).is_some(),
        "{secret}"
    );
    assert_eq!(created["source"], "api");
    assert_eq!(created["status"], "enabled");

    let (status, shown) = api.get(&format!("/v1/webhooks/endpoints/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(shown["description"], "my app");
    assert!(
        shown.get("secret").is_none(),
        "secret shown only at creation: {shown}"
    );
    let (_, list) = api.get("/v1/webhooks/endpoints").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 2);
    assert!(!list.to_string().contains(&secret));

    let (status, _) = api
        .post(
            "/v1/webhooks/endpoints",
            serde_json::json!({"url": "http://127.0.0.1:9/app"}),
        )
        .await;
    assert_eq!(status, 409, "same URL twice");

    let configured_id = configured["id"].as_str().unwrap();
    let (status, content_type, problem) = api
        .delete(&format!("/v1/webhooks/endpoints/{configured_id}"))
        .await;
    assert_eq!(status, 409);
    assert_eq!(content_type, "application/problem+json");
    assert_eq!(problem["status"], 409);

    let (status, _, _) = api.delete(&format!("/v1/webhooks/endpoints/{id}")).await;
    assert_eq!(status, 204);
    let (status, problem) = api.get(&format!("/v1/webhooks/endpoints/{id}")).await;
    assert_eq!(status, 404);
    assert_eq!(problem["title"], "Not Found");
    let (status, _, _) = api.delete(&format!("/v1/webhooks/endpoints/{id}")).await;
    assert_eq!(status, 404);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_gets_problem_documents() {
    let (mut d, api) = daemon_with_one_configured_endpoint().await;
    for (body, expected) in [
        ("{not json", 400),
        (r#"{"url": 5}"#, 422),
        (r#"{"url": "ftp://x/"}"#, 400),
        (r#"{"url": "http://h/", "events": ["Bad*"]}"#, 400),
        (r#"{"url": "http://h/", "secret": "nope"}"#, 400),
        (r#"{"url": "http://h/", "colour": "red"}"#, 422),
    ] {
        let (status, content_type, problem) = api.post_raw("/v1/webhooks/endpoints", body).await;
        assert_eq!(status, expected, "{body}: {problem}");
        assert_eq!(content_type, "application/problem+json", "{body}");
        assert_eq!(problem["status"], expected);
        assert!(
            problem["detail"].as_str().is_some_and(|d| !d.is_empty()),
            "{problem}"
        );
    }
    for path in [
        "/v1/webhooks/deliveries?status=lost",
        "/v1/webhooks/deliveries?limit=0",
        "/v1/webhooks/deliveries?limit=many",
        "/v1/events?after=evt_nope",
        "/v1/events?limit=100000",
    ] {
        let (status, problem) = api.get(path).await;
        assert_eq!(status, 400, "{path}: {problem}");
        assert_eq!(problem["type"], "about:blank");
    }
    let (status, _) = api.get("/v1/webhooks/deliveries/dlv_nope").await;
    assert_eq!(status, 404);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_log_pages_and_deliveries_filter() {
    let (mut d, api) = daemon_with_one_configured_endpoint().await;
    let ids = d
        .state()
        .store
        .call(|c| {
            let mut ids = Vec::new();
            for i in 0..5 {
                let kind = if i % 2 == 0 {
                    "message.received"
                } else {
                    "otp.verified"
                };
                ids.push(events::append(
                    c,
                    kind.parse().expect("a known event kind"),
                    &serde_json::json!({ "n": i }),
                )?);
            }
            Ok(ids)
        })
        .await
        .unwrap();
    d.state().events_appended.notify_waiters();

    let (status, page) = api.get("/v1/events?limit=2").await;
    assert_eq!(status, 200);
    let first = event_ids(&page);
    assert_eq!(
        first,
        ids[..2].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(page["has_more"], true);
    assert_eq!(page["data"][1]["data"]["n"], 1);
    let next = page["next_after"].as_i64().unwrap();
    let (_, rest) = api.get(&format!("/v1/events?after={next}&limit=10")).await;
    let rest_ids = event_ids(&rest);
    assert_eq!(
        rest_ids,
        ids[2..].iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert_eq!(rest["has_more"], false);
    let (_, by_id) = api
        .get(&format!("/v1/events?after={}&limit=1", ids[3]))
        .await;
    assert_eq!(by_id["has_more"], false, "exactly the last one");
    assert_eq!(by_id["data"][0]["id"], ids[4]);

    // Only message.* events reach the configured endpoint; its receiver is down, so they wait.
    let deadline = tokio::time::Instant::now() + daemon_support::SOON;
    let deliveries = loop {
        let (_, list) = api.get("/v1/webhooks/deliveries?status=pending").await;
        let list = list["data"].as_array().unwrap().clone();
        if list.len() == 3 {
            break list;
        }
        assert!(tokio::time::Instant::now() < deadline, "{list:?}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    assert!(deliveries
        .iter()
        .all(|d| d["event_type"] == "message.received"));
    assert!(deliveries.iter().all(|d| d["next_attempt_at"].is_i64()));
    let (_, delivered) = api.get("/v1/webhooks/deliveries?status=delivered").await;
    assert_eq!(delivered["data"].as_array().unwrap().len(), 0);
    let (_, limited) = api.get("/v1/webhooks/deliveries?limit=1").await;
    assert_eq!(limited["data"].as_array().unwrap().len(), 1);
    assert_eq!(limited["data"][0]["event_id"], ids[4], "newest first");
    d.stop().await;
}

/// The event ids of a `/v1/events` page, in order.
fn event_ids(page: &serde_json::Value) -> Vec<&str> {
    page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect()
}
