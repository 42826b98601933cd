//! The HTTP API without OTP: auth, error formats per face, routing errors, limits, plain SMS
//! (`/send/text`, `/v1/messages`), modems, idempotency, metrics and the OpenAPI document.

use crate::api_support;
use crate::daemon_support;

use api_support::{contiguity_error, contiguity_ok, problem, problem_response, read, Api, Auth};
use daemon_support::{TestDaemon, SOON};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// A daemon whose SIMs (US numbers) may also text the UK numbers these tests use: plain texts
/// obey `otp.allowed_countries` (tests/trust_edge.rs shows the refusal).
async fn start_daemon(modems: u32) -> TestDaemon {
    TestDaemon::with_config(modems, |c| {
        c.otp.allowed_countries = vec!["US".into(), "GB".into()];
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auth_is_required_except_for_health() {
    let mut d = start_daemon(1).await;
    let api = Api::new(&d);
    for path in ["/healthz", "/readyz"] {
        let r = api
            .request(Method::GET, path, Auth::None)
            .send()
            .await
            .unwrap();
        assert_ne!(r.status(), StatusCode::UNAUTHORIZED, "{path}");
    }
    d.wait_all_ready().await;
    let r = api
        .request(Method::GET, "/readyz", Auth::None)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    for auth in [Auth::None, Auth::Wrong] {
        let r = api
            .request(Method::GET, "/v1/modems", auth)
            .send()
            .await
            .unwrap();
        assert!(r.headers().get("www-authenticate").is_some());
        let (slug, _) = problem_response(r, StatusCode::UNAUTHORIZED).await;
        assert_eq!(slug, "unauthorized");

        let r = api
            .request(Method::POST, "/send/text", auth)
            .json(&json!({"to": "+447700900001", "message": "hi"}))
            .send()
            .await
            .unwrap();
        let (status, body) = read(r).await;
        contiguity_error(status, &body, StatusCode::UNAUTHORIZED);

        for path in ["/metrics", "/openapi.json", "/v1/messages"] {
            let r = api.request(Method::GET, path, auth).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{path} {auth:?}");
        }
    }
    // An unknown scheme is refused even with the right key.
    let r = api
        .request(Method::GET, "/v1/modems", Auth::None)
        .header(
            "Authorization",
            format!("Basic {}", daemon_support::API_KEY),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

    for auth in [Auth::Bearer, Auth::Token] {
        let r = api
            .request(Method::GET, "/v1/modems", auth)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{auth:?}");
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_errors_speak_each_face() {
    let mut d = start_daemon(1).await;
    let api = Api::new(&d);

    let r = api
        .request(Method::GET, "/v2/nothing", Auth::Bearer)
        .send()
        .await
        .unwrap();
    let (slug, body) = problem_response(r, StatusCode::NOT_FOUND).await;
    assert_eq!(slug, "route-not-found");
    assert_eq!(body["instance"], "/v2/nothing");

    let r = api
        .request(Method::GET, "/otp/nothing", Auth::Bearer)
        .send()
        .await
        .unwrap();
    let (status, body) = read(r).await;
    contiguity_error(status, &body, StatusCode::NOT_FOUND);

    let r = api
        .request(Method::GET, "/send/text", Auth::Bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers().get("allow").unwrap(), "POST");
    let (status, body) = read(r).await;
    contiguity_error(status, &body, StatusCode::METHOD_NOT_ALLOWED);

    let r = api
        .request(Method::DELETE, "/v1/messages", Auth::Bearer)
        .send()
        .await
        .unwrap();
    let (slug, _) = problem_response(r, StatusCode::METHOD_NOT_ALLOWED).await;
    assert_eq!(slug, "method-not-allowed");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_text_reaches_the_world_and_picks_lines() {
    let mut d = start_daemon(2).await;
    d.wait_all_ready().await;
    let api = Api::new(&d);

    let (status, body) = api
        .post(
            "/send/text",
            json!({"to": "+447700900101", "message": "plain hello"}),
        )
        .await;
    let data = contiguity_ok(status, &body);
    let id = data["message_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("msg_"));
    let got = d
        .network
        .world()
        .wait_for("+447700900101", SOON)
        .await
        .unwrap();
    assert_eq!(got.text, "plain hello");

    // `from` by number picks that SIM; by line name too.
    for (from, number) in [("+15550000002", "+15550000002"), ("sim1", "+15550000001")] {
        let (status, body) = api
            .post(
                "/send/text",
                json!({"to": "+447700900102", "message": "from test", "from": from}),
            )
            .await;
        contiguity_ok(status, &body);
        let got = d
            .network
            .world()
            .wait_for("+447700900102", SOON)
            .await
            .unwrap();
        assert_eq!(got.from, number, "from {from}");
    }

    let (status, body) = api
        .post(
            "/send/text",
            json!({"to": "+447700900102", "message": "x", "from": "+19999999999"}),
        )
        .await;
    contiguity_error(status, &body, StatusCode::BAD_REQUEST);
    assert!(body["detail"].as_str().unwrap().contains("from"));

    // The native view of the Contiguity-sent message.
    let (status, view) = api.get(&format!("/v1/messages/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{view}");
    assert_eq!(view["direction"], "outbound");
    assert_eq!(view["body"], "plain hello");
    d.stop().await;
}

/// Every malformed request to a Contiguity route gets a 4xx Contiguity error, never a 500.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_on_send_text() {
    let mut d = start_daemon(1).await;
    let api = Api::new(&d);
    let cases: Vec<(&str, &str, StatusCode)> = vec![
        ("{", "application/json", StatusCode::BAD_REQUEST),
        ("", "application/json", StatusCode::BAD_REQUEST),
        ("[]", "application/json", StatusCode::BAD_REQUEST),
        ("null", "application/json", StatusCode::BAD_REQUEST),
        (
            r#"{"to": 5, "message": "x"}"#,
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"message": "x"}"#,
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"to": "+447700900001"}"#,
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"to": "12345", "message": "x"}"#,
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"to": "+447700900001", "message": ""}"#,
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            r#"{"to": "+447700900001", "message": "x", "attachments": ["http://x/y.png"]}"#,
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
        (
            "to=%2B447700900001&message=x",
            "application/x-www-form-urlencoded",
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ),
        (
            "\u{0}\u{1}\u{2}",
            "application/json",
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (body, ct, expected) in cases {
        let r = api.post_raw("/send/text", body.to_string(), ct).await;
        let (status, value) = read(r).await;
        contiguity_error(status, &value, expected);
    }
    // JSON labelled as a form (as `curl -d` sends it) is read as JSON.
    let r = api
        .post_raw(
            "/send/text",
            r#"{"to": "+447700900001", "message": "x"}"#.to_string(),
            "application/x-www-form-urlencoded",
        )
        .await;
    let (status, value) = read(r).await;
    contiguity_ok(status, &value);

    // Wrong type names the field.
    let r = api
        .post_raw(
            "/send/text",
            r#"{"to": 5, "message": "x"}"#.to_string(),
            "application/json",
        )
        .await;
    let (_, value) = read(r).await;
    assert!(
        value["detail"]
            .as_str()
            .unwrap()
            .starts_with("to: invalid type"),
        "{value}"
    );

    // A message too long for 10 parts.
    let (status, value) = api
        .post(
            "/send/text",
            json!({"to": "+447700900001", "message": "x".repeat(2000)}),
        )
        .await;
    contiguity_error(status, &value, StatusCode::BAD_REQUEST);

    // Larger than server.max_body_bytes (64 KiB by default): 413, with and without a length.
    let huge = format!(
        r#"{{"to": "+447700900001", "message": "{}"}}"#,
        "a".repeat(200_000)
    );
    let r = api
        .post_raw("/send/text", huge.clone(), "application/json")
        .await;
    let (status, value) = read(r).await;
    contiguity_error(status, &value, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, value) = api_support::chunked_post(&api, "/send/text", huge.as_bytes()).await;
    contiguity_error(status, &value, StatusCode::PAYLOAD_TOO_LARGE);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_messages_send_get_and_list() {
    let mut d = start_daemon(1).await;
    d.wait_all_ready().await;
    let api = Api::new(&d);

    let r = api
        .request(Method::POST, "/v1/messages", Auth::Bearer)
        .json(&json!({"to": "+447700900201", "body": "native hello"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r
        .headers()
        .get("location")
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let (_, created) = read(r).await;
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(location, format!("/v1/messages/{id}"));
    assert_eq!(created["direction"], "outbound");
    assert_eq!(created["to"], "+447700900201");
    assert_eq!(created["parts_total"], 1);
    d.network
        .world()
        .wait_for("+447700900201", SOON)
        .await
        .unwrap();

    // Eventually sent (or delivered), with the part's status and reference.
    let deadline = tokio::time::Instant::now() + SOON;
    let view = loop {
        let (status, view) = api.get(&location).await;
        assert_eq!(status, StatusCode::OK);
        if view["status"] == "sent" || view["status"] == "delivered" {
            break view;
        }
        assert!(tokio::time::Instant::now() < deadline, "never sent: {view}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(view["from"], "+15550000001");
    assert_eq!(view["line"], "sim1");
    assert!(view["parts"][0]["message_ref"].is_u64(), "{view}");
    assert!(view["created_at"].as_str().unwrap().ends_with('Z'));

    // Inbound, then list both directions with paging.
    for i in 0..3 {
        d.network
            .send_from_world("+447700900299", "+15550000001", &format!("inbound {i}"))
            .unwrap();
    }
    let deadline = tokio::time::Instant::now() + SOON;
    let inbound = loop {
        let (status, page) = api.get("/v1/messages?direction=inbound").await;
        assert_eq!(status, StatusCode::OK);
        if page["data"].as_array().unwrap().len() == 3 {
            break page;
        }
        assert!(tokio::time::Instant::now() < deadline, "inbound: {page}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let first = &inbound["data"][0];
    assert_eq!(first["direction"], "inbound");
    assert_eq!(first["from"], "+447700900299");
    assert_eq!(first["to"], "+15550000001");
    let (status, one) = api
        .get(&format!("/v1/messages/{}", first["id"].as_str().unwrap()))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["body"], first["body"]);

    let (_, page1) = api.get("/v1/messages?direction=inbound&limit=2").await;
    assert_eq!(page1["data"].as_array().unwrap().len(), 2);
    assert_eq!(page1["has_more"], true);
    let cursor = page1["next_before"].as_str().unwrap();
    let (_, page2) = api
        .get(&format!(
            "/v1/messages?direction=inbound&limit=2&before={cursor}"
        ))
        .await;
    assert_eq!(page2["data"].as_array().unwrap().len(), 1);
    assert_eq!(page2["has_more"], false);
    let mut bodies: Vec<String> = page1["data"]
        .as_array()
        .unwrap()
        .iter()
        .chain(page2["data"].as_array().unwrap())
        .map(|m| m["body"].as_str().unwrap().to_string())
        .collect();
    bodies.sort();
    assert_eq!(bodies, ["inbound 0", "inbound 1", "inbound 2"]);

    let (status, outbound) = api.get("/v1/messages").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(outbound["data"][0]["id"], id.as_str());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_on_native_routes() {
    let mut d = start_daemon(1).await;
    let api = Api::new(&d);

    let cases: Vec<(Value, &str, &str)> = vec![
        (json!({"to": "12345", "body": "x"}), "invalid-number", "to"),
        (json!({"to": "+447700900001"}), "invalid-request", ""),
        (
            json!({"to": "+447700900001", "body": 7}),
            "invalid-request",
            "body",
        ),
        (
            json!({"to": "+447700900001", "body": "x", "bogus": 1}),
            "invalid-request",
            "",
        ),
        (
            json!({"to": "+447700900001", "body": "x", "line": "nope"}),
            "invalid-request",
            "line",
        ),
        (
            json!({"to": "+447700900001", "body": ""}),
            "invalid-request",
            "body",
        ),
    ];
    for (body, slug, field) in cases {
        let r = api
            .request(Method::POST, "/v1/messages", Auth::Bearer)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (got, problem) = problem_response(r, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(got, slug, "{body}: {problem}");
        if !field.is_empty() {
            assert_eq!(problem["field"], field, "{problem}");
        }
    }
    let r = api
        .post_raw("/v1/messages", "{\"to\":", "application/json")
        .await;
    let (slug, _) = problem_response(r, StatusCode::BAD_REQUEST).await;
    assert_eq!(slug, "malformed-json");

    let r = api
        .request(Method::GET, "/v1/messages/msg_nope", Auth::Bearer)
        .send()
        .await
        .unwrap();
    let (slug, _) = problem_response(r, StatusCode::NOT_FOUND).await;
    assert_eq!(slug, "not-found");
    let r = api
        .request(Method::GET, "/v1/modems/nope", Auth::Bearer)
        .send()
        .await
        .unwrap();
    problem_response(r, StatusCode::NOT_FOUND).await;

    for query in [
        "direction=sideways",
        "limit=0",
        "limit=1000",
        "limit=abc",
        "before=msg_nope",
        "unknown=1",
    ] {
        let r = api
            .request(Method::GET, &format!("/v1/messages?{query}"), Auth::Bearer)
            .send()
            .await
            .unwrap();
        problem_response(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let huge = json!({"to": "+447700900001", "body": "a".repeat(100_000)}).to_string();
    let r = api.post_raw("/v1/messages", huge, "application/json").await;
    let (slug, _) = problem_response(r, StatusCode::PAYLOAD_TOO_LARGE).await;
    assert_eq!(slug, "payload-too-large");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotency_key_replays_and_refuses_reuse() {
    let mut d = start_daemon(1).await;
    d.wait_all_ready().await;
    let api = Api::new(&d);
    let send = |body: Value, key: Option<&'static str>| {
        let mut r = api
            .request(Method::POST, "/v1/messages", Auth::Bearer)
            .json(&body);
        if let Some(k) = key {
            r = r.header("Idempotency-Key", k);
        }
        r.send()
    };
    let body = json!({"to": "+447700900301", "body": "once only"});
    let first = send(body.clone(), Some("key-1")).await.unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    assert!(first.headers().get("idempotent-replayed").is_none());
    let (_, first) = read(first).await;
    let again = send(body.clone(), Some("key-1")).await.unwrap();
    assert_eq!(again.status(), StatusCode::CREATED);
    assert_eq!(again.headers().get("idempotent-replayed").unwrap(), "true");
    assert_eq!(
        again.headers().get("location").unwrap().to_str().unwrap(),
        format!("/v1/messages/{}", first["id"].as_str().unwrap())
    );
    let (_, again) = read(again).await;
    assert_eq!(again["id"], first["id"]);

    let other = send(
        json!({"to": "+447700900301", "body": "changed"}),
        Some("key-1"),
    )
    .await
    .unwrap();
    let (slug, _) = problem_response(other, StatusCode::UNPROCESSABLE_ENTITY).await;
    assert_eq!(slug, "idempotency-key-reused");

    let bad = send(body.clone(), Some("has space")).await.unwrap();
    problem_response(bad, StatusCode::UNPROCESSABLE_ENTITY).await;

    // An error answer is replayed too (the same bad request stays bad).
    let invalid = json!({"to": "nope", "body": "x"});
    let e1 = send(invalid.clone(), Some("key-2")).await.unwrap();
    problem_response(e1, StatusCode::UNPROCESSABLE_ENTITY).await;
    let e2 = send(invalid, Some("key-2")).await.unwrap();
    assert_eq!(e2.headers().get("idempotent-replayed").unwrap(), "true");
    problem_response(e2, StatusCode::UNPROCESSABLE_ENTITY).await;

    // Without a key, two requests are two messages.
    let a = read(send(body.clone(), None).await.unwrap()).await.1;
    let b = read(send(body, None).await.unwrap()).await.1;
    assert_ne!(a["id"], b["id"]);

    // Exactly three messages reached the phone: one for key-1, two without a key.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let deadline = tokio::time::Instant::now() + SOON;
    while d.network.world().messages_to("+447700900301").len() < 3 {
        assert!(tokio::time::Instant::now() < deadline);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(d.network.world().messages_to("+447700900301").len(), 3);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn modems_show_state_signal_and_identity() {
    let mut d = start_daemon(2).await;
    d.wait_all_ready().await;
    let api = Api::new(&d);
    // Wait for the first health poll to publish signal and operator.
    let deadline = tokio::time::Instant::now() + SOON;
    let list = loop {
        let (status, list) = api.get("/v1/modems").await;
        assert_eq!(status, StatusCode::OK);
        if list["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["signal"]["dbm"].is_i64())
        {
            break list;
        }
        assert!(tokio::time::Instant::now() < deadline, "{list}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let modems = list["data"].as_array().unwrap();
    assert_eq!(modems.len(), 2);
    assert_eq!(modems[0]["name"], "sim1");
    assert_eq!(modems[0]["state"], "ready");
    assert_eq!(modems[0]["number"], "+15550000001");
    assert!(modems[0]["identity"]["imei"].is_string(), "{list}");
    assert!(modems[0]["queue_depth"].is_u64());
    assert!(list["queue"]["unassigned"].is_u64());
    let (status, one) = api.get("/v1/modems/sim2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(one["number"], "+15550000002");
    assert!(one["registration"].is_string(), "{one}");
    d.stop().await;
}

/// Parses Prometheus text exposition strictly enough to catch format mistakes.
fn parse_prometheus(text: &str) -> Vec<(String, String, f64)> {
    let mut typed = std::collections::HashSet::new();
    let mut samples = Vec::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let mut it = rest.split(' ');
            let name = it.next().unwrap();
            let kind = it.next().unwrap();
            assert!(["counter", "gauge", "summary", "histogram", "untyped"].contains(&kind));
            assert!(typed.insert(name.to_string()), "TYPE twice for {name}");
            continue;
        }
        if line.starts_with("# HELP ") {
            continue;
        }
        assert!(!line.starts_with('#'), "stray comment {line}");
        let (series, value) = line.rsplit_once(' ').expect("sample has a value");
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
        let (name, labels) = match series.split_once('{') {
            Some((n, l)) => {
                assert!(l.ends_with('}'), "{line}");
                (n.to_string(), l.trim_end_matches('}').to_string())
            }
            None => (series.to_string(), String::new()),
        };
        assert!(
            name.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{name}"
        );
        let family = name
            .trim_end_matches("_sum")
            .trim_end_matches("_count")
            .trim_end_matches("_bucket");
        assert!(
            typed.contains(&name) || typed.contains(family),
            "sample before TYPE: {line}"
        );
        samples.push((name, labels, value));
    }
    samples
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_are_prometheus_text() {
    let mut d = start_daemon(1).await;
    d.wait_all_ready().await;
    let api = Api::new(&d);
    let (_, created) = api
        .post("/v1/messages", json!({"to": "+447700900401", "body": "m"}))
        .await;
    api.get("/v1/messages/msg_unknown").await;
    // Wait until the modem counted the part (after its +CMGS answer).
    let deadline = tokio::time::Instant::now() + SOON;
    while d.state().modem_statuses()[0].sent_parts == 0 {
        assert!(tokio::time::Instant::now() < deadline, "{created}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let r = api
        .request(Method::GET, "/metrics", Auth::Bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain; version=0.0.4"));
    let text = r.text().await.unwrap();
    let samples = parse_prometheus(&text);
    let find = |name: &str, label: &str| {
        samples
            .iter()
            .find(|(n, l, _)| n == name && l.contains(label))
            .map(|s| s.2)
    };
    assert_eq!(
        find(
            "simgate_http_requests_total",
            "route=\"/v1/messages\",method=\"POST\",status=\"201\""
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        find(
            "simgate_http_requests_total",
            "route=\"/v1/messages/{id}\",method=\"GET\",status=\"404\""
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(find("simgate_modem_up", "modem=\"sim1\""), Some(1.0));
    assert!(find("simgate_outbound_queue_depth", "").is_some());
    assert!(
        find("simgate_modem_sent_parts_total", "modem=\"sim1\"").unwrap() >= 1.0,
        "{text}"
    );
    assert!(find("simgate_inbound_messages_total", "").is_some());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_matches_the_router() {
    let mut d = start_daemon(1).await;
    let api = Api::new(&d);
    let (status, doc) = api.get("/openapi.json").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(doc["openapi"], "3.1.0");
    let documented = simgate::api::openapi::operations(&doc);
    // The simulator's controls and the status page's forms are declared but not API.
    let served: std::collections::BTreeSet<(String, String)> = simgate::api::routes()
        .into_iter()
        .filter(|r| r.documented())
        .map(|r| (r.method.to_string(), r.path.to_string()))
        .collect();
    let documented_set: std::collections::BTreeSet<_> = documented.iter().cloned().collect();
    assert_eq!(documented_set, served);
    // Every documented operation is really routed: it never answers route-not-found or 405.
    for (method, path) in documented {
        let concrete = path
            .replace("{id}", "x_unknown")
            .replace("{name}", "x_unknown")
            .replace("{otp_id}", "x_unknown");
        let method = Method::from_bytes(method.as_bytes()).unwrap();
        let r = api
            .request(method.clone(), &concrete, Auth::Bearer)
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        if status == StatusCode::NOT_FOUND {
            // `/hooks/…` answer in their callers' formats (plain text for some).
            let body: Value = r.json().await.unwrap_or(Value::Null);
            assert!(
                !body["type"]
                    .as_str()
                    .unwrap_or("")
                    .ends_with("route-not-found"),
                "{method} {path} is documented but not routed"
            );
        }
        assert!(
            status.as_u16() < 500 || status == StatusCode::SERVICE_UNAVAILABLE,
            "{method} {path}: {status}"
        );
    }
    // The routes the document leaves out on purpose (the status page's forms and assets, the
    // simulator's controls) are routed too, with the method declared.
    for route in simgate::api::routes()
        .into_iter()
        .filter(|r| !r.documented())
    {
        let concrete = route
            .path
            .replace("{id}", "x_unknown")
            .replace("{name}", "x_unknown");
        let r = api
            .request(route.method.clone(), &concrete, Auth::Bearer)
            .send()
            .await
            .unwrap();
        let status = r.status();
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{route:?}");
        let body = r.text().await.unwrap_or_default();
        assert!(!body.contains("route-not-found"), "{route:?}: {body}");
        assert!(status.as_u16() < 500, "{route:?}: {status}");
    }
    d.stop().await;
}

/// No 5xx and no non-JSON error, whatever the body, on every POST route.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_never_yields_500() {
    let mut d = start_daemon(1).await;
    let api = Api::new(&d);
    let bodies = [
        "",
        "{",
        "}",
        "[]",
        "null",
        "true",
        "42",
        "\"str\"",
        "{\"to\":null}",
        "{\"to\":[]}",
        "{\"to\":{}}",
        "{\"otp_id\":5}",
        "{\"to\":\"+1\",\"message\":1e999}",
        "\u{feff}{}",
        "{\"to\":\"\\ud800\"}",
        "{\"a\":1,\"a\":2}",
    ];
    let posts: Vec<&str> = simgate::api::routes()
        .into_iter()
        .filter(|r| r.method == Method::POST && r.kind == simgate::api::RouteKind::Api)
        .map(|r| r.path)
        .collect();
    for path in posts {
        let concrete = path
            .replace("{id}", "x_unknown")
            .replace("{otp_id}", "x_unknown");
        for body in bodies {
            let r = api
                .post_raw(&concrete, body.to_string(), "application/json")
                .await;
            let status = r.status();
            if concrete.starts_with("/hooks/") {
                // Auth-server hooks answer in their callers' conventions (tests/hooks_auth.rs).
                assert!(status.is_client_error(), "{path} {body:?}: {status}");
                continue;
            }
            let (_, value) = read(r).await;
            assert!(
                status.is_client_error(),
                "{path} {body:?}: {status} {value}"
            );
            let expected = status;
            if concrete.starts_with("/v1/") {
                problem(status, &value, expected);
            } else {
                contiguity_error(status, &value, expected);
            }
        }
    }
    d.stop().await;
}
