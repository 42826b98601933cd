//! OTP over HTTP, both faces: standard codes end to end (the code is read from the SMS that
//! reached the virtual phone), reverse OTP (the phone texts the factor back), limits, errors.

use crate::api_support;
use crate::daemon_support;

use api_support::{contiguity_error, contiguity_ok, problem_response, read, Api, Auth};
use daemon_support::{TestDaemon, SOON};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

const PERSON: &str = "+14155550100";

/// The run of `length` digits in the SMS text: the code.
fn code_in(text: &str, length: usize) -> String {
    text.split(|c: char| !c.is_ascii_digit())
        .find(|run| run.len() == length)
        .unwrap_or_else(|| panic!("no {length}-digit code in {text:?}"))
        .to_string()
}

async fn code_sent_to(d: &TestDaemon, to: &str) -> String {
    let sms = d
        .network
        .world()
        .wait_for(to, SOON)
        .await
        .expect("the code SMS reached the phone");
    code_in(&sms.text, d.config.otp.code_length as usize)
}

fn wrong(code: &str) -> String {
    code.chars()
        .map(|c| {
            if c == '9' {
                '0'
            } else {
                ((c as u8) + 1) as char
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contiguity_otp_new_then_verify_with_the_code_from_the_sms() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let api = Api::new(&d);

    let (status, body) = api
        .post(
            "/otp/new",
            json!({"to": PERSON, "language": "en", "name": "Acme"}),
        )
        .await;
    let data = contiguity_ok(status, &body);
    assert_eq!(
        data.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["otp_id"]
    );
    let otp_id = data["otp_id"].as_str().unwrap().to_string();
    assert!(otp_id.starts_with("otp_"), "{otp_id}");
    let code = code_sent_to(&d, PERSON).await;

    let (status, body) = api
        .post(
            "/otp/verify",
            json!({"otp_id": otp_id, "otp": wrong(&code)}),
        )
        .await;
    assert_eq!(contiguity_ok(status, &body)["verified"], false);

    let (status, body) = api
        .post("/otp/verify", json!({"otp_id": otp_id, "otp": code}))
        .await;
    assert_eq!(contiguity_ok(status, &body)["verified"], true);

    // Single use.
    let (status, body) = api
        .post("/otp/verify", json!({"otp_id": otp_id, "otp": code}))
        .await;
    assert_eq!(contiguity_ok(status, &body)["verified"], false);

    // The alias, with null optionals (as the SDK sends them) and the code as an integer.
    let (status, body) = api
        .post(
            "/otp/send",
            json!({"to": "+14155550101", "language": "en", "name": null}),
        )
        .await;
    let otp_id = contiguity_ok(status, &body)["otp_id"]
        .as_str()
        .unwrap()
        .to_string();
    let code = code_sent_to(&d, "+14155550101").await;
    if !code.starts_with('0') {
        let numeric: u64 = code.parse().unwrap();
        let (status, body) = api
            .post("/otp/verify", json!({"otp_id": otp_id, "otp": numeric}))
            .await;
        assert_eq!(contiguity_ok(status, &body)["verified"], true);
    }

    // The OTP's SMS is visible natively, but never its text.
    let (_, list) = api.get("/v1/messages").await;
    let otp_sms = &list["data"][0];
    assert_eq!(otp_sms["purpose"], "otp");
    assert!(otp_sms["body"].is_null(), "{otp_sms}");
    assert_eq!(otp_sms["body_redacted"], true);
    let (_, one) = api
        .get(&format!("/v1/messages/{}", otp_sms["id"].as_str().unwrap()))
        .await;
    assert!(one["body"].is_null());
    assert!(!one.to_string().contains(&code));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contiguity_otp_errors_and_limits() {
    let mut d = TestDaemon::with_config(1, |c| {
        c.otp.rate_per_number_per_hour = 2;
        c.otp.resend_cooldown_secs = 30;
    })
    .await;
    d.wait_all_ready().await;
    let api = Api::new(&d);

    for (body, field) in [
        (json!({"to": "12"}), "to"),
        (json!({"to": "hello"}), "to"),
        (json!({"to": "+447700900123"}), "to"), // a country this gateway does not serve
        (json!({"to": 14155550100u64}), "to"),
        (json!({}), ""),
    ] {
        let (status, value) = api.post("/otp/new", body.clone()).await;
        contiguity_error(status, &value, StatusCode::BAD_REQUEST);
        if !field.is_empty() {
            assert!(
                value["detail"].as_str().unwrap().contains(field)
                    || value["detail"].as_str().unwrap().contains("phone number")
                    || value["detail"].as_str().unwrap().contains("not allowed"),
                "{body}: {value}"
            );
        }
    }
    let (status, value) = api
        .post(
            "/otp/verify",
            json!({"otp_id": "otp_nope", "otp": "123456"}),
        )
        .await;
    contiguity_error(status, &value, StatusCode::NOT_FOUND);
    for body in [
        json!({"otp_id": "otp_nope", "otp": ""}),
        json!({"otp_id": "otp_nope", "otp": true}),
        json!({"otp_id": "otp_nope", "otp": "1".repeat(100)}),
        json!({"otp": "123456"}),
    ] {
        let (status, value) = api.post("/otp/verify", body).await;
        contiguity_error(status, &value, StatusCode::BAD_REQUEST);
    }
    let (status, value) = api.post("/otp/resend", json!({"otp_id": "otp_nope"})).await;
    contiguity_error(status, &value, StatusCode::NOT_FOUND);

    // Resend inside the cooldown: resent false, with Retry-After.
    let (status, body) = api.post("/otp/new", json!({"to": PERSON})).await;
    let otp_id = contiguity_ok(status, &body)["otp_id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = api
        .request(Method::POST, "/otp/resend", Auth::Token)
        .json(&json!({"otp_id": otp_id}))
        .send()
        .await
        .unwrap();
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&retry), "{retry}");
    let (status, body) = read(r).await;
    assert_eq!(contiguity_ok(status, &body)["resent"], false);

    // Per-number limit: the third request within the hour is 429 with Retry-After.
    let (status, body) = api.post("/otp/new", json!({"to": PERSON})).await;
    contiguity_ok(status, &body);
    let r = api
        .request(Method::POST, "/otp/new", Auth::Bearer)
        .json(&json!({"to": PERSON}))
        .send()
        .await
        .unwrap();
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(retry >= 1);
    let (status, body) = read(r).await;
    contiguity_error(status, &body, StatusCode::TOO_MANY_REQUESTS);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contiguity_reverse_otp_is_verified_by_the_phone_texting_the_factor() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let api = Api::new(&d);

    let (status, body) = api
        .post(
            "/otp/reverse/initiate",
            json!({"number": PERSON, "service": "acme-login", "success_url": "http://127.0.0.1:9/ok"}),
        )
        .await;
    let data = contiguity_ok(status, &body);
    let otp_id = data["otp_id"].as_str().unwrap().to_string();
    assert!(otp_id.starts_with("r_otp_"), "{otp_id}");
    assert_eq!(data["number"], PERSON);
    assert_eq!(data["to"], "+15550000001");
    assert_eq!(data["service"], "acme-login");
    assert_eq!(data["success_url"], "http://127.0.0.1:9/ok");
    let factor = data["factor"].as_str().unwrap().to_string();
    assert_eq!(factor.len(), 6);
    assert_eq!(
        data["ui"]["qr_code"],
        format!("sms:+15550000001?body={factor}")
    );
    assert!(data["ui"]["text"].as_str().unwrap().contains(&factor));
    let expires = data["expires_at"].as_str().unwrap();
    assert!(
        time::OffsetDateTime::parse(expires, &time::format_description::well_known::Rfc3339)
            .is_ok(),
        "{expires}"
    );

    let path = format!("/otp/reverse/verify/{otp_id}");
    let (status, body) = api.get(&path).await;
    let data = contiguity_ok(status, &body);
    assert_eq!(data["status"], "pending");
    assert_eq!(data["verified"], false);
    assert_eq!(data["expires_at"], expires);

    d.network
        .send_from_world(PERSON, "+15550000001", &format!("  {factor} "))
        .unwrap();
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let (status, body) = api.get(&path).await;
        let data = contiguity_ok(status, &body);
        if data["verified"] == true {
            assert_eq!(data["status"], "verified");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never verified: {data}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // A verified session cannot be cancelled.
    let (status, body) = api
        .post(&format!("/otp/reverse/cancel/{otp_id}"), json!({}))
        .await;
    contiguity_error(status, &body, StatusCode::CONFLICT);

    // Another session, cancelled.
    let (status, body) = api
        .post(
            "/otp/reverse/initiate",
            json!({"number": "+14155550102", "factor": "Blue-Tiger"}),
        )
        .await;
    let data = contiguity_ok(status, &body);
    assert_eq!(data["factor"], "Blue-Tiger");
    let second = data["otp_id"].as_str().unwrap().to_string();
    let r = api
        .request(
            Method::POST,
            &format!("/otp/reverse/cancel/{second}"),
            Auth::Token,
        )
        .send()
        .await
        .unwrap();
    let (status, body) = read(r).await;
    let data = contiguity_ok(status, &body);
    assert_eq!(data, json!({"otp_id": second, "status": "cancelled"}));
    let (status, body) = api.get(&format!("/otp/reverse/verify/{second}")).await;
    assert_eq!(contiguity_ok(status, &body)["status"], "cancelled");

    // Bad input.
    for body in [
        json!({"number": PERSON, "factor": "x".repeat(17)}),
        json!({"number": PERSON, "factor": ""}),
        json!({"number": "nope"}),
        json!({"number": PERSON, "success_url": "ftp://x"}),
        json!({"number": PERSON, "to": "+15559999999"}),
        json!({"factor": "123"}),
        json!({"number": PERSON, "factor": {"a": 1}}),
    ] {
        let (status, value) = api.post("/otp/reverse/initiate", body.clone()).await;
        contiguity_error(status, &value, StatusCode::BAD_REQUEST);
    }
    let (status, value) = api
        .post(
            "/otp/reverse/initiate",
            json!({"number": PERSON, "factor": "x".repeat(17)}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(value["type"], "urn:simgate:problem:invalid-factor");
    for (method, path) in [
        (Method::GET, "/otp/reverse/verify/r_otp_nope"),
        (Method::POST, "/otp/reverse/cancel/r_otp_nope"),
    ] {
        let r = api
            .request(method, path, Auth::Bearer)
            .send()
            .await
            .unwrap();
        let (status, value) = read(r).await;
        contiguity_error(status, &value, StatusCode::NOT_FOUND);
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_verifications_lifecycle() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let api = Api::new(&d);

    let r = api
        .request(Method::POST, "/v1/verifications", Auth::Bearer)
        .header("Idempotency-Key", "verify-1")
        .json(&json!({"to": PERSON, "name": "Acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let (_, v) = read(r).await;
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(location, format!("/v1/verifications/{id}"));
    assert_eq!(v["object"], "verification");
    assert_eq!(v["status"], "pending");
    assert_eq!(v["to"], PERSON);
    assert_eq!(v["attempts_left"], d.config.otp.max_attempts);
    assert!(v["message_id"].as_str().unwrap().starts_with("msg_"));
    let code = code_sent_to(&d, PERSON).await;
    assert!(!v.to_string().contains(&code), "the code never appears");

    // A retry with the same key is the same verification, and no second SMS.
    let r = api
        .request(Method::POST, "/v1/verifications", Auth::Bearer)
        .header("Idempotency-Key", "verify-1")
        .json(&json!({"to": PERSON, "name": "Acme"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["idempotent-replayed"], "true");
    let (_, again) = read(r).await;
    assert_eq!(again["id"], id.as_str());

    let check = format!("/v1/verifications/{id}/check");
    let (status, r) = api.post(&check, json!({"code": wrong(&code)})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(r["verified"], false);
    assert_eq!(r["status"], "pending");
    assert_eq!(r["attempts_left"], d.config.otp.max_attempts - 1);

    // Resend within the cooldown: 429 with Retry-After.
    let r = api
        .request(
            Method::POST,
            &format!("/v1/verifications/{id}/resend"),
            Auth::Bearer,
        )
        .send()
        .await
        .unwrap();
    assert!(r.headers().get("retry-after").is_some());
    let (slug, _) = problem_response(r, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(slug, "rate-limited");

    let (status, r) = api.post(&check, json!({"code": code})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(r["verified"], true);
    assert_eq!(r["status"], "verified");
    let (status, v) = api.get(&location).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["verified"], true);
    assert!(v["verified_at"].is_string());

    let r = api
        .request(
            Method::POST,
            &format!("/v1/verifications/{id}/cancel"),
            Auth::Bearer,
        )
        .send()
        .await
        .unwrap();
    problem_response(r, StatusCode::CONFLICT).await;

    // A second one, cancelled; then resend is refused with 409.
    let (status, v) = api
        .post("/v1/verifications", json!({"to": "+14155550103"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let second = v["id"].as_str().unwrap().to_string();
    let (status, v) = api
        .post(&format!("/v1/verifications/{second}/cancel"), json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["status"], "cancelled");
    let r = api
        .request(
            Method::POST,
            &format!("/v1/verifications/{second}/resend"),
            Auth::Bearer,
        )
        .send()
        .await
        .unwrap();
    let (slug, p) = problem_response(r, StatusCode::CONFLICT).await;
    assert_eq!(slug, "conflict");
    assert!(p["detail"].as_str().unwrap().contains("cancelled"));

    // Bad input: 422 on /v1, naming the field.
    for (body, slug) in [
        (json!({"to": "+1"}), "invalid-number"),
        (json!({"to": "+447700900123"}), "country-not-allowed"),
        (json!({"to": PERSON, "extra": true}), "invalid-request"),
        (json!({"phone": PERSON}), "invalid-request"),
    ] {
        let r = api
            .request(Method::POST, "/v1/verifications", Auth::Bearer)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (got, _) = problem_response(r, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(got, slug, "{body}");
    }
    for body in [json!({}), json!({"code": ""}), json!({"code": false})] {
        let r = api
            .request(Method::POST, &check, Auth::Bearer)
            .json(&body)
            .send()
            .await
            .unwrap();
        problem_response(r, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    for (method, path) in [
        (Method::GET, "/v1/verifications/otp_nope"),
        (Method::POST, "/v1/verifications/otp_nope/resend"),
        (Method::POST, "/v1/verifications/otp_nope/cancel"),
    ] {
        let r = api
            .request(method, path, Auth::Bearer)
            .send()
            .await
            .unwrap();
        let (slug, _) = problem_response(r, StatusCode::NOT_FOUND).await;
        assert_eq!(slug, "not-found");
    }
    let r = api
        .request(
            Method::POST,
            "/v1/verifications/otp_nope/check",
            Auth::Bearer,
        )
        .json(&json!({"code": "123456"}))
        .send()
        .await
        .unwrap();
    problem_response(r, StatusCode::NOT_FOUND).await;

    // Outcomes in /metrics: one verified, one cancelled.
    let metrics = api
        .request(Method::GET, "/metrics", Auth::Bearer)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("simgate_verifications{status=\"verified\"} 1\n"),
        "{metrics}"
    );
    assert!(
        metrics.contains("simgate_verifications{status=\"cancelled\"} 1\n"),
        "{metrics}"
    );
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_reverse_verifications() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let api = Api::new(&d);
    let r = api
        .request(Method::POST, "/v1/reverse-verifications", Auth::Bearer)
        .json(&json!({"number": PERSON, "factor": 424242}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let (_, v) = read(r).await;
    let id = v["id"].as_str().unwrap().to_string();
    assert_eq!(location, format!("/v1/reverse-verifications/{id}"));
    assert_eq!(v["object"], "reverse_verification");
    assert_eq!(v["factor"], "424242");
    assert_eq!(v["status"], "pending");
    assert_eq!(v["ui"]["qr_code"], "sms:+15550000001?body=424242");
    assert!(v["proof"].is_null());

    let r = api
        .request(Method::GET, v["qr_svg_url"].as_str().unwrap(), Auth::Bearer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "image/svg+xml");
    let svg = r.text().await.unwrap();
    assert!(svg.contains("<svg"), "{svg:.100}");

    d.network
        .send_from_world(PERSON, "+15550000001", "424242")
        .unwrap();
    let deadline = tokio::time::Instant::now() + SOON;
    let verified = loop {
        let (_, v) = api.get(&location).await;
        if v["status"] == "verified" {
            break v;
        }
        assert!(tokio::time::Instant::now() < deadline, "{v}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert!(verified["verified_at"].is_string());
    assert_eq!(
        verified["proof"].as_str().unwrap().split('.').count(),
        3,
        "a JWT"
    );
    let r = api
        .request(Method::POST, &format!("{location}/cancel"), Auth::Bearer)
        .send()
        .await
        .unwrap();
    problem_response(r, StatusCode::CONFLICT).await;

    let (_, v) = api
        .post("/v1/reverse-verifications", json!({"number": PERSON}))
        .await;
    let second = v["id"].as_str().unwrap().to_string();
    let (status, v) = api
        .post(
            &format!("/v1/reverse-verifications/{second}/cancel"),
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["status"], "cancelled");

    for (body, slug) in [
        (
            json!({"number": PERSON, "factor": "a".repeat(17)}),
            "invalid-factor",
        ),
        (
            json!({"number": PERSON, "success_url": "javascript:alert(1)"}),
            "invalid-url",
        ),
        (json!({"number": "0"}), "invalid-number"),
        (
            json!({"number": PERSON, "to": "+15559999999"}),
            "invalid-request",
        ),
    ] {
        let r = api
            .request(Method::POST, "/v1/reverse-verifications", Auth::Bearer)
            .json(&body)
            .send()
            .await
            .unwrap();
        let (got, _) = problem_response(r, StatusCode::UNPROCESSABLE_ENTITY).await;
        assert_eq!(got, slug, "{body}");
    }
    for path in [
        "/v1/reverse-verifications/r_otp_nope",
        "/v1/reverse-verifications/r_otp_nope/qr.svg",
    ] {
        let r = api
            .request(Method::GET, path, Auth::Bearer)
            .send()
            .await
            .unwrap();
        problem_response(r, StatusCode::NOT_FOUND).await;
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reverse_without_a_ready_line_is_503() {
    let mut d = TestDaemon::start(0).await;
    let api = Api::new(&d);
    let r = api
        .request(Method::POST, "/v1/reverse-verifications", Auth::Bearer)
        .json(&json!({"number": PERSON}))
        .send()
        .await
        .unwrap();
    let (slug, _) = problem_response(r, StatusCode::SERVICE_UNAVAILABLE).await;
    assert_eq!(slug, "no-line-available");
    let (status, body) = api
        .post("/otp/reverse/initiate", json!({"number": PERSON}))
        .await;
    contiguity_error(status, &body, StatusCode::SERVICE_UNAVAILABLE);
    // Standard OTP is still accepted (queued until a line comes up).
    let (status, body) = api.post("/otp/new", json!({"to": PERSON})).await;
    contiguity_ok(status, &body);
    let _: Value = body;
    d.stop().await;
}

/// The per-IP limit applies to the end user's IP the app passes along, not to the app's own
/// address (every request here comes from 127.0.0.1).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_ip_limits_use_the_end_user_ip() {
    let mut d = TestDaemon::with_config(1, |c| c.otp.rate_per_ip_per_hour = 1).await;
    let api = Api::new(&d);
    let otp_new = |to: &'static str, ip: Option<&'static str>| {
        let mut r = api
            .request(Method::POST, "/otp/new", Auth::Bearer)
            .json(&json!({"to": to}));
        if let Some(ip) = ip {
            r = r.header("X-End-User-IP", ip);
        }
        r.send()
    };
    // No IP given: only the number and key limits apply.
    for to in ["+14155550140", "+14155550141"] {
        let (status, body) = read(otp_new(to, None).await.unwrap()).await;
        contiguity_ok(status, &body);
    }
    let (status, body) = read(otp_new("+14155550142", Some("203.0.113.7")).await.unwrap()).await;
    contiguity_ok(status, &body);
    let (status, body) = read(otp_new("+14155550143", Some("203.0.113.7")).await.unwrap()).await;
    contiguity_error(status, &body, StatusCode::TOO_MANY_REQUESTS);
    let (status, body) = read(otp_new("+14155550143", Some("203.0.113.8")).await.unwrap()).await;
    contiguity_ok(status, &body);
    let (status, body) = read(otp_new("+14155550144", Some("not-an-ip")).await.unwrap()).await;
    contiguity_error(status, &body, StatusCode::BAD_REQUEST);

    // Natively, the body field does the same.
    let r = api
        .request(Method::POST, "/v1/verifications", Auth::Bearer)
        .json(&json!({"to": "+14155550145", "client_ip": "203.0.113.8"}))
        .send()
        .await
        .unwrap();
    let (slug, _) = problem_response(r, StatusCode::TOO_MANY_REQUESTS).await;
    assert_eq!(slug, "rate-limited");
    d.stop().await;
}
