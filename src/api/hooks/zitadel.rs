//! Zitadel's HTTP SMS provider: `POST /hooks/zitadel/sms`.
//!
//! What Zitadel sends (zitadel `internal/notification/channels/webhook`, `pkg/actions/signing.go`,
//! docs "Notification providers"):
//! - `ZITADEL-Signature: t=<unix>,v1=<hex HMAC-SHA256(signingKey, "<t>.<body>")>` (one `v1` per
//!   key while a key is being rotated); the key is the `signingKey` string as Zitadel returned it;
//! - body `{"contextInfo":{"eventType","provider":{"id","description"},"recipientPhoneNumber"},
//!   "templateData":{…,"text"},"args":{…,"code"}}`: `templateData.text` is the SMS Zitadel
//!   rendered (with the code in it), `args` its inputs.
//!
//! Zitadel takes any 2xx as sent and retries a failed notification later, with the same body
//! and a new signature: such a retry is recognised by (recipient, text).

use super::{
    accept, accepted_answer, caller_text, code_text, fresh, recipient, Dedupe, Hook, HookError,
    Outgoing,
};
use crate::daemon::AppState;
use crate::redact::Redacted;
use crate::store::now_ms;
use crate::webhook::sign;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};

pub const SIGNATURE_HEADER: &str = "zitadel-signature";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Payload {
    context_info: ContextInfo,
    #[serde(default)]
    template_data: Option<TemplateData>,
    #[serde(default)]
    args: Option<Map<String, Value>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ContextInfo {
    recipient_phone_number: String,
}

#[derive(Debug, Deserialize)]
struct TemplateData {
    #[serde(default)]
    text: Option<String>,
}

/// Why a `ZITADEL-Signature` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing ZITADEL-Signature header")]
    Missing,
    #[error("malformed ZITADEL-Signature header")]
    Malformed,
    #[error("the signature's time is more than {0} s away from the gateway's clock (replay or clock skew)")]
    Stale(u64),
    #[error("no v1 signature matches the [hooks.zitadel] signing_key")]
    NoMatch,
}

/// Checks `t=<unix>,v1=<hex>[,v1=<hex>…]` against every configured key.
pub fn verify(
    keys: &[Redacted<String>],
    header_value: Option<&str>,
    body: &[u8],
    now: i64,
    tolerance_secs: u64,
) -> Result<(), SignatureError> {
    let value = header_value
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .ok_or(SignatureError::Missing)?;
    let mut timestamp: Option<&str> = None;
    let mut signatures = Vec::new();
    for pair in value.split(',') {
        let (name, val) = pair
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match name {
            "t" => timestamp = Some(val),
            "v1" => {
                if let Ok(sig) = hex::decode(val) {
                    signatures.push(sig);
                }
            }
            _ => {}
        }
    }
    let t = timestamp.ok_or(SignatureError::Malformed)?;
    let ts: i64 = t.parse().map_err(|_| SignatureError::Malformed)?;
    if !fresh(ts, now, tolerance_secs) {
        return Err(SignatureError::Stale(tolerance_secs));
    }
    let mut matched = false;
    for key in keys {
        for sig in &signatures {
            matched |= sign::verify_dotted(key.as_bytes(), &[t.as_bytes(), body], sig);
        }
    }
    if matched {
        Ok(())
    } else {
        Err(SignatureError::NoMatch)
    }
}

/// `POST /hooks/zitadel/sms`.
pub async fn sms(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&state, &headers, &body).await {
        Ok(accepted) => accepted_answer(&accepted),
        Err(e) => {
            let mut response = (
                e.status(),
                Json(json!({ "error": e.to_string(), "status": e.status().as_u16() })),
            )
                .into_response();
            if let Some(secs) = e.retry_after_secs() {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(secs));
            }
            response
        }
    }
}

async fn handle(
    state: &AppState,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<super::Accepted, HookError> {
    let hooks = &state.config.hooks;
    let config = hooks
        .zitadel
        .as_ref()
        .ok_or(HookError::NotConfigured("zitadel"))?;
    verify(
        &config.signing_key,
        headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()),
        body,
        now_ms().div_euclid(1000),
        hooks.timestamp_tolerance_secs,
    )
    .map_err(|e| HookError::Unauthorized(e.to_string()))?;
    let payload: Payload = serde_json::from_slice(body)
        .map_err(|e| HookError::Invalid(format!("not a Zitadel SMS payload: {e}")))?;
    let to = recipient(state, &payload.context_info.recipient_phone_number, false)?;
    let rendered = payload
        .template_data
        .and_then(|t| t.text)
        .filter(|t| !t.trim().is_empty());
    let text = match rendered {
        Some(text) => caller_text(&text)?,
        None => {
            // No rendered text: simgate's own, with the code from the arguments.
            let args = payload.args.unwrap_or_default();
            let code = ["code", "otp", "OTP", "oTP"]
                .iter()
                .find_map(|k| args.get(*k).and_then(Value::as_str))
                .ok_or_else(|| {
                    HookError::Invalid("neither templateData.text nor args.code was sent".into())
                })?;
            code_text(state, code, None)?
        }
    };
    accept(
        state,
        Outgoing {
            hook: Hook::Zitadel,
            to,
            text,
            dedupe: Dedupe::Content,
            client_ip: None,
        },
    )
    .await
}

/// `ZITADEL-Signature` for `body` at `t`, as Zitadel computes it (for tests and the README):
/// the same scheme as `Contiguity-Signature`, keyed with the signing key as given.
pub fn signature_header(key: &str, t: i64, body: &[u8]) -> String {
    sign::contiguity_signature_with_secret(key, t, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "zitadel-signing-key-123";

    #[test]
    fn verifies_zitadel_signatures() {
        let body = br#"{"contextInfo":{}}"#;
        let header = signature_header(KEY, 1_700_000_000, body);
        let keys = vec![Redacted::from(KEY)];
        assert_eq!(
            verify(&keys, Some(&header), body, 1_700_000_010, 300),
            Ok(())
        );
        // Two keys during rotation: Zitadel sends one v1 per key.
        let two = format!(
            "{header},v1={}",
            signature_header("other-key-456", 1_700_000_000, body)
                .split_once(",v1=")
                .unwrap()
                .1
        );
        assert_eq!(verify(&keys, Some(&two), body, 1_700_000_000, 300), Ok(()));
        let rotated = vec![Redacted::from("other-key-456")];
        assert_eq!(
            verify(&rotated, Some(&two), body, 1_700_000_000, 300),
            Ok(())
        );
    }

    #[test]
    fn refuses_bad_signatures() {
        let body = br#"{"contextInfo":{}}"#;
        let header = signature_header(KEY, 1_700_000_000, body);
        let keys = vec![Redacted::from(KEY)];
        assert_eq!(
            verify(&keys, Some(&header), b"{}", 1_700_000_000, 300),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(
                &["wrong-key-789".into()],
                Some(&header),
                body,
                1_700_000_000,
                300
            ),
            Err(SignatureError::NoMatch)
        );
        assert_eq!(
            verify(&keys, Some(&header), body, 1_700_000_301, 300),
            Err(SignatureError::Stale(300))
        );
        assert_eq!(
            verify(&keys, None, body, 1_700_000_000, 300),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(&keys, Some("v1=abcd"), body, 1_700_000_000, 300),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(&keys, Some("t=1700000000"), body, 1_700_000_000, 300),
            Err(SignatureError::NoMatch)
        );
    }
}
