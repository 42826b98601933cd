//! simgate as the SMS provider of self-hosted auth servers (`/hooks/…`), end to end: each test
//! posts the bytes the server sends (headers, signatures and body as the server's own source
//! builds them; signatures computed here independently of simgate's code), then reads what the
//! simulated modem put on the network. Retries with new ids reach the phone once; a bad
//! signature, a stale timestamp or a wrong credential is refused with nothing queued.

use crate::daemon_support;

use base64::Engine;
use daemon_support::{TestDaemon, SOON};
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const GOTRUE_SECRET: &str = "v1,whsec_dGhpcyBpcyBhIHRlc3Qgc2VjcmV0IGZvciBnb3RydWU=";
const GOTRUE_OLD_SECRET: &str = "v1,whsec_b2xkIHNlY3JldCBiZWluZyByb3RhdGVkIG91dCE=";
const ZITADEL_KEY: &str = "zQ8vH1kLw2xN4pR7tY0uI3oP6aS9dF2g";
const AUTHENTIK_TOKEN: &str = "ak_sms_7f3c2a9e41d0";
const LOGTO_TOKEN: &str = "logto_sms_5b1e8d2c77aa";
const KEYCLOAK_BASIC: &str = "keycloak:kc-pass-92ab41";
const KRATOS_KEY: &str = "kratos_courier_0c4d9e";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn hmac(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// What GoTrue's `generateSignatures` produces: per secret, the Standard Webhooks `v1,<b64>`
/// with the base64 after `v1,whsec_` as key; joined with ", ".
fn gotrue_signature(secrets: &[&str], id: &str, ts: i64, body: &[u8]) -> String {
    secrets
        .iter()
        .map(|s| {
            let key = base64::engine::general_purpose::STANDARD
                .decode(s.strip_prefix("v1,whsec_").unwrap())
                .unwrap();
            let tag = hmac(
                &key,
                &[id.as_bytes(), b".", ts.to_string().as_bytes(), b".", body],
            );
            format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(tag)
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A GoTrue send-sms body as Go's `json.Marshal` writes `v0hooks.SendSMSInput` (field order
/// of the structs, no spaces; `user` is `models.User`).
fn gotrue_body(uuid: &str, phone: &str, otp: &str) -> String {
    format!(
        concat!(
            r#"{{"metadata":{{"uuid":"{uuid}","time":"2026-03-02T10:11:12.345678Z","name":"send-sms","ip_address":"203.0.113.7"}},"#,
            r#""user":{{"id":"5b8a3f64-3f1e-4c1a-9a0e-2f6b7c8d9e01","aud":"authenticated","role":"authenticated","email":"","phone":"{phone}","#,
            r#""confirmation_sent_at":"2026-03-02T10:11:12.3Z","app_metadata":{{"provider":"phone","providers":["phone"]}},"user_metadata":{{}},"#,
            r#""identities":null,"created_at":"2026-03-02T10:11:12.3Z","updated_at":"2026-03-02T10:11:12.3Z","is_anonymous":false}},"#,
            r#""sms":{{"otp":"{otp}","phone":"{phone}"}}}}"#
        ),
        uuid = uuid,
        phone = phone,
        otp = otp
    )
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

/// POSTs like GoTrue's `runHTTPHook`: one attempt with a fresh `webhook-id`.
async fn gotrue_post(
    d: &TestDaemon,
    secrets: &[&str],
    id: &str,
    ts: i64,
    body: &str,
) -> (u16, String, Value) {
    let response = client()
        .post(format!("{}/hooks/gotrue/send-sms", d.base_url()))
        .header("Content-Type", "application/json")
        .header("webhook-id", id)
        .header("webhook-timestamp", ts.to_string())
        .header(
            "webhook-signature",
            gotrue_signature(secrets, id, ts, body.as_bytes()),
        )
        .header("Accept-Encoding", "identity")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let json = response.json().await.unwrap_or(Value::Null);
    (status, content_type, json)
}

async fn queued_to(d: &TestDaemon, number: &str) -> i64 {
    let number = number.to_string();
    d.state()
        .store
        .call(move |c| {
            Ok(c.query_row(
                "SELECT count(*) FROM outbound_messages WHERE recipient = ?1",
                [number],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap()
}

/// The SMS reaches the phone with `code` in it, and stays the only one after `retry` ran.
async fn arrives_once(d: &TestDaemon, to: &str, code: &str) {
    let sms = d
        .network
        .world()
        .wait_for(to, SOON)
        .await
        .expect("the SMS reached the phone");
    assert!(sms.text.contains(code), "{:?}", sms.text);
    // Give a wrongly queued second copy time to show up on the network.
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(d.network.world().messages_to(to).len(), 1);
    assert_eq!(queued_to(d, to).await, 1);
}

fn hooks_config(c: &mut simgate::config::Config) {
    use simgate::config::{GoTrueHook, HttpHook, ZitadelHook};
    c.hooks.gotrue = Some(GoTrueHook {
        secret: vec![GOTRUE_OLD_SECRET.into(), GOTRUE_SECRET.into()],
    });
    c.hooks.zitadel = Some(ZitadelHook {
        signing_key: vec![ZITADEL_KEY.into()],
    });
    c.hooks.authentik = Some(HttpHook {
        bearer_tokens: vec![AUTHENTIK_TOKEN.into()],
        ..Default::default()
    });
    c.hooks.logto = Some(HttpHook {
        bearer_tokens: vec![LOGTO_TOKEN.into()],
        ..Default::default()
    });
    c.hooks.keycloak = Some(HttpHook {
        basic: vec![KEYCLOAK_BASIC.into()],
        ..Default::default()
    });
    c.hooks.kratos = Some(HttpHook {
        api_keys: vec![KRATOS_KEY.into()],
        api_key_header: "X-Courier-Key".into(),
        ..Default::default()
    });
    c.hooks.app_name = Some("Acme".into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gotrue_send_sms_hook_sends_once_across_retries() {
    let mut d = TestDaemon::with_config(1, hooks_config).await;
    d.wait_all_ready().await;
    let phone = "+14155550123";
    let body = gotrue_body(
        "0f9f6c44-8c1b-4a57-b1e4-3d2c1b0a9f87",
        "14155550123",
        "902817",
    );

    // First attempt, signed with both configured secrets as GoTrue does during rotation.
    let ts = now();
    let (status, content_type, answer) = gotrue_post(
        &d,
        &[GOTRUE_OLD_SECRET, GOTRUE_SECRET],
        "9b2e5b0e-6f4b-4c8e-8d57-1b0f7f6a2c31",
        ts,
        &body,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    assert!(answer["error"].is_null(), "{answer}");
    assert_eq!(answer["status"], "queued");
    let message_id = answer["message_id"].as_str().unwrap().to_string();

    // GoTrue's retries: new webhook-id and timestamp, same body (same metadata.uuid).
    for (i, id) in [
        "1c7d5b3a-0e4f-4b8a-9c2d-6e5f4a3b2c1d",
        "2d8e6c4b-1f5a-4c9b-8d3e-7f6a5b4c3d2e",
    ]
    .iter()
    .enumerate()
    {
        let (status, _, answer) =
            gotrue_post(&d, &[GOTRUE_SECRET], id, ts + 2 + i as i64, &body).await;
        assert_eq!(status, 200, "{answer}");
        assert_eq!(answer["status"], "duplicate");
        assert_eq!(answer["message_id"], message_id.as_str());
    }
    arrives_once(&d, phone, "902817").await;
    let sms = d.network.world().messages_to(phone).remove(0);
    assert!(sms.text.contains("Acme"), "app_name is used: {}", sms.text);

    // A new code for the same person is a new invocation (new uuid): sent.
    let body2 = gotrue_body(
        "7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "14155550123",
        "118822",
    );
    let (status, _, answer) = gotrue_post(
        &d,
        &[GOTRUE_SECRET],
        "3e9f7d5c-2a6b-4d0c-9e4f-8a7b6c5d4e3f",
        now(),
        &body2,
    )
    .await;
    assert_eq!((status, answer["status"].as_str()), (200, Some("queued")));
    let second = d.network.world().wait_for(phone, SOON).await.unwrap();
    assert!(second.text.contains("118822"));

    // The code is not kept in the queue once sent (the janitor runs every 30 s; run it now).
    let id = message_id.clone();
    d.state()
        .store
        .call(|c| {
            Ok(simgate::api::hooks::redact_sent(
                c,
                simgate::store::now_ms(),
                600_000,
            )?)
        })
        .await
        .unwrap();
    let stored: String = d
        .state()
        .store
        .call(move |c| {
            Ok(c.query_row(
                "SELECT body FROM outbound_messages WHERE id = ?1",
                [id],
                |r| r.get(0),
            )?)
        })
        .await
        .unwrap();
    assert!(!stored.contains("902817"), "{stored}");
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gotrue_refusals_send_nothing_and_use_gotrue_conventions() {
    let mut d = TestDaemon::with_config(1, |c| {
        hooks_config(c);
        c.otp.rate_per_number_per_hour = 2;
    })
    .await;
    d.wait_all_ready().await;
    let phone = "+14155550130";
    let body = gotrue_body(
        "aa11bb22-cc33-4d44-8e55-ff6677889900",
        "14155550130",
        "556677",
    );

    // Wrong secret, stale and future timestamps, tampered body, missing headers: 401, nothing queued.
    let wrong = "v1,whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let (status, _, answer) = gotrue_post(&d, &[wrong], "id-1", now(), &body).await;
    assert_eq!(status, 401, "{answer}");
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("signature"));
    let (status, _, _) = gotrue_post(&d, &[GOTRUE_SECRET], "id-2", now() - 301, &body).await;
    assert_eq!(status, 401);
    let (status, _, _) = gotrue_post(&d, &[GOTRUE_SECRET], "id-3", now() + 301, &body).await;
    assert_eq!(status, 401);
    let signed_for_other = gotrue_signature(&[GOTRUE_SECRET], "id-4", now(), body.as_bytes());
    let tampered = body.replace("556677", "556678");
    let response = client()
        .post(format!("{}/hooks/gotrue/send-sms", d.base_url()))
        .header("webhook-id", "id-4")
        .header("webhook-timestamp", now().to_string())
        .header("webhook-signature", signed_for_other)
        .body(tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    let response = client()
        .post(format!("{}/hooks/gotrue/send-sms", d.base_url()))
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(queued_to(&d, phone).await, 0);

    // Refusals about the request itself: 200 with GoTrue's error object (GoTrue answers its
    // client with that status and message).
    let bad_number = gotrue_body("bb11bb22-cc33-4d44-8e55-ff6677889901", "12", "556677");
    let (status, _, answer) = gotrue_post(&d, &[GOTRUE_SECRET], "id-5", now(), &bad_number).await;
    assert_eq!(status, 200);
    assert_eq!(answer["error"]["http_code"], 400, "{answer}");
    let abroad = gotrue_body(
        "cc11bb22-cc33-4d44-8e55-ff6677889902",
        "79161234567",
        "556677",
    );
    let (status, _, answer) = gotrue_post(&d, &[GOTRUE_SECRET], "id-6", now(), &abroad).await;
    assert_eq!(status, 200);
    assert_eq!(answer["error"]["http_code"], 422, "{answer}");
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not allowed"));

    // Per-number limit (2 an hour here): the third invocation is refused with 429.
    for (i, uuid) in [
        "dd11bb22-cc33-4d44-8e55-ff6677889903",
        "ee11bb22-cc33-4d44-8e55-ff6677889904",
    ]
    .iter()
    .enumerate()
    {
        let b = gotrue_body(uuid, "14155550130", &format!("55667{i}"));
        let (status, _, answer) =
            gotrue_post(&d, &[GOTRUE_SECRET], &format!("id-7{i}"), now(), &b).await;
        assert_eq!((status, answer["status"].as_str()), (200, Some("queued")));
    }
    let b = gotrue_body(
        "ff11bb22-cc33-4d44-8e55-ff6677889905",
        "14155550130",
        "556679",
    );
    let (status, _, answer) = gotrue_post(&d, &[GOTRUE_SECRET], "id-8", now(), &b).await;
    assert_eq!(status, 200);
    assert_eq!(answer["error"]["http_code"], 429, "{answer}");
    assert_eq!(queued_to(&d, phone).await, 2);
    d.stop().await;
}

fn zitadel_signature(key: &str, t: i64, body: &[u8]) -> String {
    format!(
        "t={t},v1={}",
        hex::encode(hmac(
            key.as_bytes(),
            &[t.to_string().as_bytes(), b".", body]
        ))
    )
}

/// The body Zitadel's HTTP SMS provider sends (`messages.JSON` of the notification, Go
/// `json.Marshal`: contextInfo, templateData, args).
fn zitadel_body(phone: &str, code: &str) -> String {
    format!(
        concat!(
            r#"{{"contextInfo":{{"eventType":"user.human.phone.code.added","provider":{{"id":"285181292935381356","description":"simgate"}},"recipientPhoneNumber":"{phone}"}},"#,
            r##""templateData":{{"title":"Zitadel - Verify Phone","preHeader":"Verify Phone","subject":"Verify Phone","greeting":"Hello GivenName FamilyName,","text":"Please use the code {code} to verify your phone number.","url":"","buttonText":"Verify Phone","primaryColor":"#5469d4","backgroundColor":"#fafafa","fontColor":"#000000","fontFamily":"-apple-system, BlinkMacSystemFont, Segoe UI, Lato, Arial, Helvetica, sans-serif","footerText":"VerifyPhone.Footer"}},"##,
            r#""args":{{"changeDate":"2026-03-02T10:58:50.73237+02:00","code":"{code}","creationDate":"2026-03-02T10:58:50.73237+02:00","displayName":"GivenName FamilyName","firstName":"GivenName","lastEmail":"example@zitadel.com","lastName":"FamilyName","lastPhone":"{phone}","loginNames":["Username"],"nickName":"","preferredLoginName":"Username","userName":"Username","verifiedEmail":"example@zitadel.com","verifiedPhone":""}}}}"#
        ),
        phone = phone,
        code = code
    )
}

async fn zitadel_post(d: &TestDaemon, signature: &str, body: &str) -> (u16, Value) {
    let response = client()
        .post(format!("{}/hooks/zitadel/sms", d.base_url()))
        .header("Content-Type", "application/json")
        .header("ZITADEL-Signature", signature)
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zitadel_http_sms_provider() {
    let mut d = TestDaemon::with_config(1, hooks_config).await;
    d.wait_all_ready().await;
    let phone = "+14155550140";
    let body = zitadel_body(phone, "A1B2C3");

    // Wrong key, stale, tampered: 401 and nothing queued.
    let (status, _) = zitadel_post(
        &d,
        &zitadel_signature("not-the-signing-key", now(), body.as_bytes()),
        &body,
    )
    .await;
    assert_eq!(status, 401);
    let (status, answer) = zitadel_post(
        &d,
        &zitadel_signature(ZITADEL_KEY, now() - 400, body.as_bytes()),
        &body,
    )
    .await;
    assert_eq!(status, 401, "{answer}");
    let (status, _) = zitadel_post(
        &d,
        &zitadel_signature(ZITADEL_KEY, now(), body.as_bytes()),
        &body.replace("A1B2C3", "A1B2C4"),
    )
    .await;
    assert_eq!(status, 401);
    assert_eq!(queued_to(&d, phone).await, 0);

    // Zitadel's text as rendered, once, although Zitadel retried (new t, same body).
    let t = now();
    let (status, answer) = zitadel_post(
        &d,
        &zitadel_signature(ZITADEL_KEY, t, body.as_bytes()),
        &body,
    )
    .await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("queued")),
        "{answer}"
    );
    let (status, answer) = zitadel_post(
        &d,
        &zitadel_signature(ZITADEL_KEY, t + 30, body.as_bytes()),
        &body,
    )
    .await;
    assert_eq!(
        (status, answer["status"].as_str()),
        (200, Some("duplicate"))
    );
    arrives_once(&d, phone, "A1B2C3").await;
    let sms = d.network.world().messages_to(phone).remove(0);
    assert_eq!(
        sms.text,
        "Please use the code A1B2C3 to verify your phone number."
    );
    d.stop().await;
}

async fn post_json(
    d: &TestDaemon,
    path: &str,
    headers: &[(&str, String)],
    body: &str,
) -> (u16, String, String) {
    let mut request = client()
        .post(format!("{}{}", d.base_url(), path))
        .header("Content-Type", "application/json")
        .body(body.to_string());
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, content_type, response.text().await.unwrap())
}

fn basic(pair: &str) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentik_logto_keycloak_and_kratos_shapes() {
    let mut d = TestDaemon::with_config(1, hooks_config).await;
    d.wait_all_ready().await;

    // authentik `send_generic`: requests' json= (", " and ": " separators), Bearer auth.
    let to = "+14155550150";
    let body = format!(
        r#"{{"From": "+15550000001", "To": "{to}", "Body": "314159", "Message": "Use this code to authenticate in authentik: 314159"}}"#
    );
    let bearer = |t: &str| vec![("Authorization", format!("Bearer {t}"))];
    let (status, content_type, text) =
        post_json(&d, "/hooks/authentik/sms", &bearer(LOGTO_TOKEN), &body).await;
    assert_eq!(status, 401, "another hook's token is not this hook's");
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    assert!(text.starts_with("SMS not sent:"), "{text}");
    assert_eq!(queued_to(&d, to).await, 0);
    let (status, _, text) =
        post_json(&d, "/hooks/authentik/sms", &bearer(AUTHENTIK_TOKEN), &body).await;
    assert_eq!(status, 200, "{text}");
    let (status, _, text) =
        post_json(&d, "/hooks/authentik/sms", &bearer(AUTHENTIK_TOKEN), &body).await;
    assert_eq!(status, 200);
    assert!(text.contains("duplicate"), "{text}");
    arrives_once(&d, to, "314159").await;
    assert_eq!(
        d.network.world().messages_to(to)[0].text,
        "Use this code to authenticate in authentik: 314159"
    );
    // authentik shows an error body to the person: one plain sentence.
    let (status, _, text) = post_json(
        &d,
        "/hooks/authentik/sms",
        &bearer(AUTHENTIK_TOKEN),
        r#"{"From": "", "To": "not a number", "Body": "1", "Message": "x"}"#,
    )
    .await;
    assert_eq!(status, 400);
    assert!(text.contains("invalid phone number"), "{text}");

    // Logto `connector-http-sms`: got's json (compact), Authorization verbatim, digits without +.
    let to = "+14155550151";
    let body = r#"{"to":"14155550151","type":"SignIn","payload":{"code":"271828","locale":"fr"},"ip":"198.51.100.4"}"#;
    let (status, _, text) = post_json(&d, "/hooks/logto/sms", &bearer(LOGTO_TOKEN), body).await;
    assert_eq!(status, 200, "{text}");
    arrives_once(&d, to, "271828").await;
    let sms = d.network.world().messages_to(to).remove(0);
    assert!(
        sms.text.starts_with("Votre code Acme est 271828"),
        "{}",
        sms.text
    );

    // Keycloak sms-authenticator `ApiSmsService.getJsonBody` (text, to, from), Basic auth.
    let to = "+14155550152";
    let body = format!(
        r#"{{"text":"Your SMS code is 161803 and is valid for 5 minutes.","to":"{to}","from":"simgate"}}"#
    );
    let (status, _, _) = post_json(
        &d,
        "/hooks/keycloak/sms",
        &[("Authorization", basic("keycloak:wrong-password"))],
        &body,
    )
    .await;
    assert_eq!(status, 401);
    let (status, _, text) = post_json(
        &d,
        "/hooks/keycloak/sms",
        &[("Authorization", basic(KEYCLOAK_BASIC))],
        &body,
    )
    .await;
    assert_eq!(status, 200, "{text}");
    arrives_once(&d, to, "161803").await;

    // Kratos HTTP courier with the README's jsonnet, api_key auth in a header; Kratos retries a
    // message whose delivery failed: same body, recognised.
    let to = "+14155550153";
    let body = format!(
        r#"{{"recipient":"{to}","body":"Your login code is: 141421","template_type":"login_code_valid"}}"#
    );
    let key = [("X-Courier-Key", KRATOS_KEY.to_string())];
    let (status, _, _) = post_json(
        &d,
        "/hooks/kratos/sms",
        &[("X-Courier-Key", "kratos_courier_wrong".to_string())],
        &body,
    )
    .await;
    assert_eq!(status, 401);
    let (status, _, text) = post_json(&d, "/hooks/kratos/sms", &key, &body).await;
    assert_eq!(status, 200, "{text}");
    let (status, _, text) = post_json(&d, "/hooks/kratos/sms", &key, &body).await;
    assert_eq!((status, text.contains("duplicate")), (200, true), "{text}");
    arrives_once(&d, to, "141421").await;
    d.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unconfigured_hooks_are_not_served_and_need_no_api_key() {
    let mut d = TestDaemon::start(1).await;
    let body = gotrue_body(
        "0f9f6c44-8c1b-4a57-b1e4-3d2c1b0a9f87",
        "14155550160",
        "123456",
    );
    let (status, _, answer) = gotrue_post(&d, &[GOTRUE_SECRET], "id", now(), &body).await;
    assert_eq!(status, 404, "{answer}");
    assert!(answer["error"]["message"]
        .as_str()
        .unwrap()
        .contains("[hooks.gotrue]"));
    let (status, _, text) = post_json(&d, "/hooks/kratos/sms", &[], "{}").await;
    assert_eq!(status, 404);
    assert!(text.contains("[hooks.kratos]"), "{text}");
    d.stop().await;
}
