//! Per-request OTP settings through the API, each seen where it acts: on the wire (the code SMS
//! read from the virtual phone), in what verify accepts, or at the callback URL; masked
//! numbers; and proofs checked offline from the JWKS by PyJWT (a second implementation).

use crate::api_support;
use crate::daemon_support;
use crate::webhook_support;

use api_support::{contiguity_ok, read, Api, Auth};
use daemon_support::{TestDaemon, SOON};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use std::process::{Command, Stdio};
use webhook_support::{standard_signature_ok, webhook, Listener, SECRET};

const PERSON: &str = "+14155550100";

async fn sms_to(d: &TestDaemon, to: &str) -> simgate::sim::WorldMessage {
    d.network
        .world()
        .wait_for(to, SOON)
        .await
        .expect("the code SMS reached the phone")
}

/// The run of `length` symbols from `alphabet` in `text`.
fn code_in(text: &str, length: usize, alphabet: &[u8]) -> String {
    text.split(|c: char| !alphabet.contains(&(c as u8)) || !c.is_ascii())
        .find(|run| run.len() == length)
        .unwrap_or_else(|| panic!("no {length}-symbol code in {text:?}"))
        .to_string()
}

async fn create(api: &Api, body: Value) -> (StatusCode, Value) {
    let r = api
        .request(Method::POST, "/v1/verifications", Auth::Bearer)
        .json(&body)
        .send()
        .await
        .unwrap();
    read(r).await
}

async fn check(api: &Api, id: &str, code: &str) -> Value {
    let (status, body) = api
        .post(
            &format!("/v1/verifications/{id}/check"),
            json!({ "code": code }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn code_length_and_type_shape_the_code_and_letters_verify_in_any_case() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let api = Api::new(&d);

    let (status, v) = create(
        &api,
        json!({"to": PERSON, "code_length": 8, "code_type": "alpha", "name": "Acme"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["to_masked"], "+1***-***-0100");
    assert_eq!(v["code_type"], "alpha");
    assert_eq!(v["code_length"], 8);
    assert!(v["proof"].is_null());
    let sms = sms_to(&d, PERSON).await;
    let code = code_in(&sms.text, 8, simgate::verify::code::ALPHA);
    assert!(code.bytes().all(|b| b.is_ascii_uppercase()), "{code}");
    let id = v["id"].as_str().unwrap();
    let result = check(&api, id, &code.to_ascii_lowercase()).await;
    assert_eq!(
        result["verified"], true,
        "lower case letters verify: {result}"
    );

    // Alphanumeric: 10 symbols, none of 0 O 1 I L.
    let (_, v) = create(
        &api,
        json!({"to": "+14155550101", "code_length": 10, "code_type": "alphanumeric"}),
    )
    .await;
    let sms = sms_to(&d, "+14155550101").await;
    let code = code_in(&sms.text, 10, simgate::verify::code::ALPHANUMERIC);
    assert!(!code.contains(['0', 'O', '1', 'I', 'L']), "{code}");
    let result = check(&api, v["id"].as_str().unwrap(), &code).await;
    assert_eq!(result["verified"], true);

    // Numeric, 4 digits, and the default (6) when nothing is asked.
    create(&api, json!({"to": "+14155550102", "code_length": 4})).await;
    let sms = sms_to(&d, "+14155550102").await;
    let code = code_in(&sms.text, 4, b"0123456789");
    assert_eq!(
        sms.text.matches(char::is_numeric).count(),
        4 + 1,
        "code and minutes: {}",
        sms.text
    );
    assert_eq!(code.len(), 4);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn templates_per_language_ttl_and_max_attempts() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let api = Api::new(&d);

    let (status, v) = create(
        &api,
        json!({
            "to": PERSON,
            "language": "fr-CA",
            "name": "Acme",
            "ttl_secs": 120,
            "max_attempts": 1,
            "template": "Your {{name}} PIN: {{code}}",
            "templates": {"fr": "Code {{name}} : {{pin}} ({{minutes}} min)"},
        }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["language"], "fr");
    assert_eq!(v["max_attempts"], 1);
    let created = time::OffsetDateTime::parse(
        v["created_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let expires = time::OffsetDateTime::parse(
        v["expires_at"].as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    assert_eq!((expires - created).whole_seconds(), 120);
    let sms = sms_to(&d, PERSON).await;
    let code = code_in(&sms.text, 6, b"0123456789");
    assert_eq!(sms.text, format!("Code Acme : {code} (2 min)"));
    // max_attempts 1: one wrong code locks it; the right one then fails.
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let result = check(&api, v["id"].as_str().unwrap(), wrong).await;
    assert_eq!(result["status"], "locked", "{result}");
    let result = check(&api, v["id"].as_str().unwrap(), &code).await;
    assert_eq!(result["verified"], false);

    // No entry for the language: the generic template.
    create(
        &api,
        json!({"to": "+14155550101", "language": "de", "template": "Your {{name}} PIN: {{code}}", "name": "Acme"}),
    )
    .await;
    let sms = sms_to(&d, "+14155550101").await;
    let code = code_in(&sms.text, 6, b"0123456789");
    assert_eq!(sms.text, format!("Your Acme PIN: {code}"));

    // No template: the built-in text of the language (here Japanese, UCS-2, one part).
    create(
        &api,
        json!({"to": "+14155550102", "language": "ja", "name": "Acme"}),
    )
    .await;
    let sms = sms_to(&d, "+14155550102").await;
    assert!(sms.text.starts_with("Acmeの認証コードは"), "{}", sms.text);
    assert_eq!(sms.parts, 1);
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_bounds_settings_are_refused_naming_the_field() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let api = Api::new(&d);
    let too_long_ucs2 = format!("{} {{{{code}}}}", "я".repeat(65));
    for (extra, field) in [
        (json!({"code_length": 3}), "code_length"),
        (json!({"code_length": 11}), "code_length"),
        (json!({"code_type": "hex"}), "code_type"),
        (json!({"ttl_secs": 10}), "ttl_secs"),
        (json!({"ttl_secs": 7200}), "ttl_secs"),
        (json!({"max_attempts": 0}), "max_attempts"),
        (json!({"max_attempts": 11}), "max_attempts"),
        (json!({"template": "Hello there"}), "template"),
        (json!({"template": "{{code}} {{secret}}"}), "template"),
        (json!({"template": too_long_ucs2}), "template"),
        (json!({"templates": {"fr": "Bonjour"}}), "templates.fr"),
        (
            json!({"templates": {"not a tag": "{{code}}"}}),
            "templates.not a tag",
        ),
        (json!({"from": "+15559999999"}), "from"),
        (json!({"callback_url": "ftp://x/y"}), "callback_url"),
    ] {
        let mut body = json!({"to": PERSON});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let (status, problem) = create(&api, body.clone()).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{body}: {problem}"
        );
        assert_eq!(problem["field"], field, "{body}: {problem}");
        assert!(problem["detail"].as_str().unwrap().len() > 10, "{problem}");
    }
    // Unknown fields are still refused on the native route.
    let (status, problem) = create(&api, json!({"to": PERSON, "pin_length": 5})).await;
    assert!(status.is_client_error(), "{problem}");
    // Nothing was sent for any of them.
    assert!(d
        .network
        .world()
        .wait_for(PERSON, std::time::Duration::from_millis(300))
        .await
        .is_none());
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_picks_the_sending_line_by_number_or_name() {
    let mut d = TestDaemon::start(2).await;
    d.wait_all_ready().await;
    let api = Api::new(&d);
    let second = d.modems[1].number().to_string();
    let second_name = d.modems[1].name().to_string();
    for (i, from) in [second.clone(), second_name, second.clone()]
        .iter()
        .enumerate()
    {
        let to = format!("+1415555011{i}");
        let (status, v) = create(&api, json!({"to": to, "from": from})).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        assert_eq!(v["from"], d.modems[1].name());
        let sms = sms_to(&d, &to).await;
        assert_eq!(sms.from, second, "sent from the chosen line");
    }
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn callback_url_gets_signed_verified_and_failed_events() {
    let listener = Listener::start().await;
    let other = Listener::start().await;
    let callback = listener.url.clone();
    let mut d = TestDaemon::with_config(1, |c| {
        webhook_support::fast_retries(c);
        // An endpoint with a secret of its own, subscribed to nothing OTP-related: its secret
        // must never sign a callback delivery.
        c.webhooks.push(webhook(&other.url, &["modem.status"]));
    })
    .await;
    d.wait_all_ready().await;
    let api = Api::new(&d);
    // Callback deliveries are signed like success_url ones: with the key derived from the
    // server secret that `simgate webhook-secret` prints.
    let callback_secret = simgate::webhook::sign::derived_secret(d.state().secret.bytes());

    let (_, v) = create(&api, json!({"to": PERSON, "callback_url": callback})).await;
    let sms = sms_to(&d, PERSON).await;
    let code = code_in(&sms.text, 6, b"0123456789");
    check(&api, v["id"].as_str().unwrap(), &code).await;
    let got = listener.wait_for(1, SOON).await;
    let event = got[0].json();
    assert_eq!(event["type"], "otp.verified");
    assert_eq!(event["data"]["otp_id"], v["id"]);
    assert_eq!(event["data"]["status"], "verified");
    assert!(
        standard_signature_ok(&callback_secret, &got[0]),
        "signed like success_url deliveries"
    );
    assert!(
        !standard_signature_ok(SECRET, &got[0]),
        "never with an endpoint's secret"
    );

    let (_, v) = create(
        &api,
        json!({"to": "+14155550101", "callback_url": callback, "max_attempts": 2}),
    )
    .await;
    let sms = sms_to(&d, "+14155550101").await;
    let code = code_in(&sms.text, 6, b"0123456789");
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let id = v["id"].as_str().unwrap();
    check(&api, id, wrong).await;
    check(&api, id, wrong).await;
    let got = listener.wait_for(2, SOON).await;
    let event = got[1].json();
    assert_eq!(event["type"], "otp.failed");
    assert_eq!(event["data"]["otp_id"], id);
    assert_eq!(event["data"]["status"], "failed");
    assert!(standard_signature_ok(&callback_secret, &got[1]));

    // Expired: requests allow 30 s at least, so the config's TTL (no lower bound but 1 s) makes
    // a code that is over by the time it is checked.
    d.stop().await;
    d.config.otp.ttl_secs = 1;
    d.boot().await;
    d.wait_all_ready().await;
    let api = Api::new(&d);
    let (_, v) = create(
        &api,
        json!({"to": "+14155550102", "callback_url": callback}),
    )
    .await;
    sms_to(&d, "+14155550102").await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let result = check(&api, v["id"].as_str().unwrap(), "123456").await;
    assert_eq!(result["status"], "expired", "{result}");
    // At least once: a delivery in flight at the restart may arrive twice, so look for the
    // expiry among what arrived rather than at a fixed position.
    let mut seen = 3;
    let expired = loop {
        let got = listener.wait_for(seen, SOON).await;
        if let Some(i) = got.iter().position(|r| r.json()["type"] == "otp.expired") {
            break got[i].clone();
        }
        assert!(seen < 8, "no otp.expired delivery among {seen}");
        seen += 1;
    };
    let event = expired.json();
    assert_eq!(event["data"]["otp_id"], v["id"]);
    assert!(standard_signature_ok(&callback_secret, &expired));
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn contiguity_otp_new_takes_the_settings_and_sms_cx_names() {
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let api = Api::new(&d);
    let (status, body) = api
        .post(
            "/otp/new",
            json!({
                "to": PERSON,
                "language": "fr",
                "pinLength": 5,
                "pinType": "letters",
                "ttl": 600,
                "maxAttempts": 2,
                "template": "Code: {{pin}}",
                "template_fr": "Votre code : {{pin}}",
                "something_else": true,
            }),
        )
        .await;
    let otp_id = contiguity_ok(status, &body)["otp_id"]
        .as_str()
        .unwrap()
        .to_string();
    let sms = sms_to(&d, PERSON).await;
    let code = code_in(&sms.text, 5, simgate::verify::code::ALPHA);
    assert_eq!(sms.text, format!("Votre code : {code}"));
    let (_, v) = api.get(&format!("/v1/verifications/{otp_id}")).await;
    assert_eq!(v["max_attempts"], 2);
    assert_eq!(v["code_type"], "alpha");
    let (status, body) = api
        .post(
            "/otp/verify",
            json!({"otp_id": otp_id, "otp": code.to_lowercase()}),
        )
        .await;
    assert_eq!(contiguity_ok(status, &body)["verified"], true);

    // The reverse session's answer shows the masked number there too.
    let (status, body) = api
        .post("/otp/reverse/initiate", json!({"number": "+14155557890"}))
        .await;
    let data = contiguity_ok(status, &body);
    assert_eq!(data["number_masked"], "+1***-***-7890", "{data}");

    // Native names work there too, and bounds are checked the same way.
    let (status, body) = api
        .post("/otp/new", json!({"to": PERSON, "code_length": 12}))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body["detail"].as_str().unwrap().contains("code_length"));
    d.stop().await;
}

fn pyjwt_available() -> bool {
    Command::new("python3")
        .args(["-c", "import jwt, cryptography"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

/// Runs tests/sdk/check_proof.py against the daemon's JWKS URL.
async fn pyjwt_check(d: &TestDaemon, token: &str, audience: &str) -> Value {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/sdk/check_proof.py");
    let args = [
        script.to_string(),
        format!("{}/.well-known/jwks.json", d.base_url()),
        token.to_string(),
        audience.to_string(),
        "simgate".to_string(),
        d.config.proofs.lifetime_secs.to_string(),
    ];
    // Blocking, off the runtime that serves the JWKS to it.
    let output = tokio::task::spawn_blocking(move || Command::new("python3").args(args).output())
        .await
        .unwrap()
        .expect("python3 runs");
    assert!(
        output.status.success(),
        "PyJWT refused the proof: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON line")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn proofs_verify_offline_with_pyjwt_from_the_jwks() {
    if !pyjwt_available() {
        eprintln!("skipped: python3 cannot import jwt/cryptography (CI installs PyJWT[crypto])");
        return;
    }
    let mut d = TestDaemon::start(1).await;
    d.wait_all_ready().await;
    let api = Api::new(&d);

    // The JWKS needs no API key.
    let r = api
        .request(Method::GET, "/.well-known/jwks.json", Auth::None)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/jwk-set+json");
    let jwks: Value = r.json().await.unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "OKP");
    assert!(jwks["keys"][0].get("d").is_none(), "{jwks}");

    // Standard OTP, for the "shop" service.
    let (_, v) = create(&api, json!({"to": PERSON, "service": "shop"})).await;
    let sms = sms_to(&d, PERSON).await;
    let code = code_in(&sms.text, 6, b"0123456789");
    let id = v["id"].as_str().unwrap().to_string();
    check(&api, &id, &code).await;
    let (_, v) = api.get(&format!("/v1/verifications/{id}")).await;
    let token = v["proof"]
        .as_str()
        .expect("a proof once verified")
        .to_string();
    let judged = pyjwt_check(&d, &token, "shop").await;
    let claims = &judged["claims"];
    assert_eq!(claims["sub"], PERSON);
    assert_eq!(claims["aud"], "shop");
    assert_eq!(claims["iss"], "simgate");
    assert_eq!(claims["verification_id"], id.as_str());
    assert_eq!(claims["method"], "sms_otp");
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        3600
    );
    assert_eq!(judged["header"]["alg"], "EdDSA");
    assert_eq!(judged["header"]["kid"], jwks["keys"][0]["kid"]);
    assert_eq!(judged["wrong_audience"], "rejected");
    assert_eq!(judged["expired"], "rejected");
    assert_eq!(judged["tampered"], "rejected");

    // Reverse OTP, no service: the configured audience; the masked number in the answer.
    let r = api
        .request(Method::POST, "/v1/reverse-verifications", Auth::Bearer)
        .json(&json!({"number": PERSON, "factor": "515151"}))
        .send()
        .await
        .unwrap();
    let (_, rv) = read(r).await;
    assert_eq!(rv["number_masked"], "+1***-***-0100");
    d.network
        .send_from_world(PERSON, d.modems[0].number(), "515151")
        .unwrap();
    let path = format!("/v1/reverse-verifications/{}", rv["id"].as_str().unwrap());
    let deadline = tokio::time::Instant::now() + SOON;
    let verified = loop {
        let (_, v) = api.get(&path).await;
        if v["status"] == "verified" {
            break v;
        }
        assert!(tokio::time::Instant::now() < deadline, "{v}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    let token = verified["proof"].as_str().unwrap();
    let judged = pyjwt_check(&d, token, "simgate").await;
    assert_eq!(judged["claims"]["method"], "reverse_sms");
    assert_eq!(judged["claims"]["sub"], PERSON);
    assert_eq!(judged["claims"]["verification_id"], rv["id"]);
    assert_eq!(judged["wrong_audience"], "rejected");

    // Rotation: a key appended to the file (as `openssl genpkey -algorithm ed25519 >>` does)
    // signs after a restart; the old one is still published, so earlier proofs still verify.
    d.stop().await;
    let keys_file = d.config.proof_keys_path();
    let text = std::fs::read_to_string(&keys_file).expect("created at first start");
    assert_eq!(text.matches("BEGIN PRIVATE KEY").count(), 1);
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    let appended = pem::encode(&pem::Pem::new("PRIVATE KEY", pkcs8.as_ref().to_vec()));
    std::fs::write(&keys_file, format!("{text}{appended}")).unwrap();
    d.boot().await;
    d.wait_all_ready().await;
    let api = Api::new(&d);
    let (_, rotated) = api.get("/.well-known/jwks.json").await;
    let kids: Vec<&str> = rotated["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["kid"].as_str().unwrap())
        .collect();
    assert_eq!(kids.len(), 2, "{rotated}");
    assert_eq!(
        kids[0],
        jwks["keys"][0]["kid"].as_str().unwrap(),
        "the old key stays"
    );
    let judged = pyjwt_check(&d, token, "simgate").await;
    assert_eq!(judged["claims"]["sub"], PERSON);
    assert_eq!(judged["header"]["kid"], kids[0]);
    // A proof made now is signed by the new key (the same verification, signed afresh).
    let (_, v) = api.get(&path).await;
    let judged = pyjwt_check(&d, v["proof"].as_str().unwrap(), "simgate").await;
    assert_eq!(judged["header"]["kid"], kids[1]);
    d.stop().await;
}
