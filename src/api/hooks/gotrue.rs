//! Supabase Auth (GoTrue) "Send SMS hook": `POST /hooks/gotrue/send-sms`.
//!
//! What GoTrue sends (supabase/auth `internal/hooks/hookshttp`, `v0hooks`):
//! - headers `webhook-id` (a fresh UUID per attempt), `webhook-timestamp` (Unix seconds) and
//!   `webhook-signature`: one `v1,<base64 HMAC-SHA256(key, "id.timestamp.body")>` per configured
//!   secret, joined with `", "`; the key is the base64 after `v1,whsec_`;
//! - body `{"metadata":{"uuid","time","name":"send-sms","ip_address"},"user":{…,"phone"},
//!   "sms":{"otp","sms_type"?,"phone"?}}`. Phones are digits without `+`. Up to 3 attempts within
//!   one 5 s budget, each with a new `webhook-id` and the same body (so the same `metadata.uuid`).
//!
//! What GoTrue does with the answer: 204, or 200/202 with `Content-Type: application/json`, is
//! success unless the JSON is `{"error":{"http_code","message"}}`, which GoTrue returns to its
//! own client as that status and message. Any other status becomes a generic 500 ("Unexpected
//! status code returned from hook"), and 429/503 with `Retry-After` makes it retry at once. So
//! every refusal about the *request* (rate limit, number, country) is a 200 with `error`,
//! which shows the person a useful message with the right status (429 for a rate limit); only
//! a bad signature is a plain 401 (GoTrue logs "Hook requires authorization token"), since the
//! sender may not be GoTrue at all.

use super::{
    accept, accepted_answer, code_text, fresh, recipient, Dedupe, Hook, HookError, Outgoing,
};
use crate::daemon::AppState;
use crate::redact::Redacted;
use crate::store::now_ms;
use crate::webhook::sign;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

#[derive(Debug, Deserialize)]
struct Payload {
    metadata: Metadata,
    #[serde(default)]
    user: Option<User>,
    sms: Sms,
}

#[derive(Debug, Deserialize)]
struct Metadata {
    uuid: String,
    #[serde(default)]
    ip_address: Option<String>,
}

#[derive(Debug, Deserialize)]
struct User {
    #[serde(default)]
    phone: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Sms {
    otp: String,
    #[serde(default)]
    phone: Option<String>,
}

/// Why a Standard Webhooks signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing {0} header")]
    Missing(&'static str),
    #[error("webhook-timestamp is not a Unix time in seconds")]
    BadTimestamp,
    #[error(
        "webhook-timestamp is more than {0} s away from the gateway's clock (replay or clock skew)"
    )]
    Stale(u64),
    #[error("no webhook-signature matches a [hooks.gotrue] secret")]
    NoMatch,
}

/// The HMAC keys of GoTrue secrets (`v1,whsec_<base64>`); validated at config load.
pub fn keys(secrets: &[Redacted<String>]) -> Vec<Vec<u8>> {
    secrets
        .iter()
        .filter_map(|s| s.strip_prefix("v1,"))
        .filter_map(crate::webhook::decode_secret)
        .collect()
}

/// Checks a Standard Webhooks signature: the timestamp within `tolerance_secs` of `now`, and one
/// of the `v1,<base64>` signatures (space- or `", "`-separated) made with one of `keys`.
pub fn verify(
    keys: &[Vec<u8>],
    headers: &HeaderMap,
    body: &[u8],
    now: i64,
    tolerance_secs: u64,
) -> Result<(), SignatureError> {
    let header = |name: &'static str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
            .ok_or(SignatureError::Missing(name))
    };
    let id = header("webhook-id")?;
    let timestamp = header("webhook-timestamp")?;
    let signatures = header("webhook-signature")?;
    let ts: i64 = timestamp
        .parse()
        .map_err(|_| SignatureError::BadTimestamp)?;
    if !fresh(ts, now, tolerance_secs) {
        return Err(SignatureError::Stale(tolerance_secs));
    }
    let candidates: Vec<Vec<u8>> = signatures
        .split_whitespace()
        .filter_map(|token| {
            let mut parts = token.split(',');
            (parts.next()? == "v1").then_some(())?;
            base64::engine::general_purpose::STANDARD
                .decode(parts.next()?)
                .ok()
        })
        .collect();
    let mut matched = false;
    for key in keys {
        for candidate in &candidates {
            // Constant time; every pair is checked. The timestamp is signed as sent.
            let parts: [&[u8]; 3] = [id.as_bytes(), timestamp.as_bytes(), body];
            matched |= sign::verify_dotted(key, &parts, candidate);
        }
    }
    if matched {
        Ok(())
    } else {
        Err(SignatureError::NoMatch)
    }
}

/// `POST /hooks/gotrue/send-sms`.
pub async fn send_sms(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&state, &headers, &body).await {
        Ok(accepted) => accepted_answer(&accepted),
        Err(e) => answer_error(&e),
    }
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<super::Accepted, HookError> {
    let hooks = &state.config.hooks;
    let config = hooks
        .gotrue
        .as_ref()
        .ok_or(HookError::NotConfigured("gotrue"))?;
    verify(
        &keys(&config.secret),
        headers,
        body,
        now_ms().div_euclid(1000),
        hooks.timestamp_tolerance_secs,
    )
    .map_err(|e| HookError::Unauthorized(e.to_string()))?;
    let payload: Payload = serde_json::from_slice(body)
        .map_err(|e| HookError::Invalid(format!("not a GoTrue send-sms payload: {e}")))?;
    let uuid = payload.metadata.uuid.trim();
    if uuid.is_empty() || uuid.len() > 64 {
        return Err(HookError::Invalid("metadata.uuid is missing".into()));
    }
    let phone = payload
        .sms
        .phone
        .filter(|p| !p.trim().is_empty())
        .or(payload.user.and_then(|u| u.phone))
        .unwrap_or_default();
    let to = recipient(state, &phone, true)?;
    let text = code_text(state, &payload.sms.otp, None)?;
    let client_ip = payload
        .metadata
        .ip_address
        .and_then(|ip| ip.trim().parse().ok());
    accept(
        state,
        Outgoing {
            hook: Hook::GoTrue,
            to,
            text,
            dedupe: Dedupe::Id(uuid.to_string()),
            client_ip,
        },
    )
    .await
}

/// GoTrue's error convention (see the module comment).
fn answer_error(e: &HookError) -> Response {
    let body = Json(json!({
        "error": { "http_code": e.status().as_u16(), "message": e.to_string() }
    }));
    match e {
        HookError::Unauthorized(_) | HookError::NotConfigured(_) => {
            (e.status(), body).into_response()
        }
        _ => (StatusCode::OK, body).into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "v1,whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

    fn signed(id: &str, ts: i64, body: &[u8], secret: &str) -> HeaderMap {
        let key = keys(&[secret.into()]).remove(0);
        let sig = crate::webhook::standard_signature(&key, id, ts, body);
        let mut h = HeaderMap::new();
        h.insert("webhook-id", id.parse().unwrap());
        h.insert("webhook-timestamp", ts.to_string().parse().unwrap());
        h.insert("webhook-signature", sig.parse().unwrap());
        h
    }

    #[test]
    fn accepts_gotrue_signatures_including_a_list() {
        let body = br#"{"sms":{"otp":"123456"}}"#;
        let k = keys(&[SECRET.into()]);
        let h = signed("msg_1", 1_700_000_000, body, SECRET);
        assert_eq!(verify(&k, &h, body, 1_700_000_100, 300), Ok(()));
        // GoTrue joins one signature per secret with ", ".
        let other = "v1,whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let first = signed("msg_1", 1_700_000_000, body, other);
        let mut h2 = h.clone();
        let joined = format!(
            "{}, {}",
            first["webhook-signature"].to_str().unwrap(),
            h["webhook-signature"].to_str().unwrap()
        );
        h2.insert("webhook-signature", joined.parse().unwrap());
        assert_eq!(verify(&k, &h2, body, 1_700_000_000, 300), Ok(()));
        // Rotation: either configured secret verifies.
        let both = keys(&[other.into(), SECRET.into()]);
        assert_eq!(verify(&both, &h, body, 1_700_000_000, 300), Ok(()));
    }

    #[test]
    fn refuses_tampering_staleness_and_missing_headers() {
        let body = br#"{"sms":{"otp":"123456"}}"#;
        let k = keys(&[SECRET.into()]);
        let h = signed("msg_1", 1_700_000_000, body, SECRET);
        assert_eq!(
            verify(&k, &h, br#"{"sms":{"otp":"123457"}}"#, 1_700_000_000, 300),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(&k, &h, body, 1_700_000_301, 300),
            Err(SignatureError::Stale(300))
        );
        assert_eq!(
            verify(&k, &h, body, 1_699_999_699, 300),
            Err(SignatureError::Stale(300))
        );
        let mut no_id = h.clone();
        no_id.remove("webhook-id");
        assert_eq!(
            verify(&k, &no_id, body, 1_700_000_000, 300),
            Err(SignatureError::Missing("webhook-id"))
        );
        // A retry's new id with the old signature does not verify.
        let mut new_id = h.clone();
        new_id.insert("webhook-id", "msg_2".parse().unwrap());
        assert_eq!(
            verify(&k, &new_id, body, 1_700_000_000, 300),
            Err(SignatureError::NoMatch)
        );
        let wrong = keys(&["v1,whsec_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into()]);
        assert_eq!(
            verify(&wrong, &h, body, 1_700_000_000, 300),
            Err(SignatureError::NoMatch)
        );
    }
}
