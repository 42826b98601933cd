//! Auth servers that send plain JSON with a credential: one route per body shape.
//!
//! | route | server | body (from the server's source) | text |
//! |---|---|---|---|
//! | `/hooks/authentik/sms` | authentik generic SMS provider (`stages/authenticator_sms/models.py`) | `{"From","To","Body":<code>,"Message":<text>}` | `Message`, else simgate's with `Body` |
//! | `/hooks/logto/sms` | Logto HTTP SMS connector (`connector-http-sms`) | `{"to","type","payload":{"code","locale"?},"ip"?}` | simgate's with `payload.code` |
//! | `/hooks/keycloak/sms` | Keycloak sms-authenticator API gateway (netzbegruenung, `ApiSmsService`) | `{"text","to","from"}` (attribute names as configured in Keycloak) | `text` |
//! | `/hooks/kratos/sms` | Ory Kratos HTTP courier (jsonnet body, see README) | `{"recipient","body","template_type"?}` | `body` |
//!
//! Credentials, per route (`[hooks.<server>]`): `Authorization: Bearer <token>` (Logto and the
//! Keycloak plugin send their configured `Authorization` value verbatim, so configure
//! `Bearer <token>` there), HTTP Basic, or an API key in `api_key_header` (Kratos `api_key`
//! auth). All four take any 2xx as sent; authentik shows the body of a 4xx to the person, so
//! errors are one plain-text sentence.

use super::{
    accept, caller_text, code_text, recipient, secret_eq, Dedupe, Hook, HookError, Outgoing,
};
use crate::config::HttpHook;
use crate::daemon::AppState;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use base64::Engine;
use serde::Deserialize;
use serde_json::json;

/// Does the request carry one of the hook's credentials? Every configured credential is
/// compared (in constant time), whichever matches.
pub fn authorized(hook: &HttpHook, headers: &HeaderMap) -> bool {
    let mut ok = false;
    if let Some(auth) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, value) = auth.trim().split_once(' ').unwrap_or(("", ""));
        let value = value.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            for token in &hook.bearer_tokens {
                ok |= secret_eq(token.as_bytes(), value.as_bytes());
            }
        } else if scheme.eq_ignore_ascii_case("basic") {
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(value)
                .unwrap_or_default();
            for pair in &hook.basic {
                ok |= secret_eq(pair.as_bytes(), &decoded);
            }
        }
    }
    if let Some(key) = headers
        .get(hook.api_key_header.as_str())
        .and_then(|v| v.to_str().ok())
    {
        for configured in &hook.api_keys {
            ok |= secret_eq(configured.as_bytes(), key.trim().as_bytes());
        }
    }
    ok
}

/// authentik's generic provider (`send_generic`).
#[derive(Debug, Deserialize)]
struct Authentik {
    #[serde(rename = "To")]
    to: String,
    #[serde(rename = "Body", default)]
    body: Option<String>,
    #[serde(rename = "Message", default)]
    message: Option<String>,
}

/// Logto's HTTP SMS connector (`SendMessageData`).
#[derive(Debug, Deserialize)]
struct Logto {
    to: String,
    #[serde(default)]
    payload: LogtoPayload,
    #[serde(default)]
    ip: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
struct LogtoPayload {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    locale: Option<String>,
}

/// The Keycloak sms-authenticator's JSON body with `messageattribute = text`,
/// `receiverattribute = to`, `senderattribute = from`.
#[derive(Debug, Deserialize)]
struct Keycloak {
    text: String,
    to: String,
}

/// The body the README's Kratos jsonnet renders.
#[derive(Debug, Deserialize)]
struct Kratos {
    recipient: String,
    body: String,
}

/// `POST /hooks/authentik/sms`.
pub async fn authentik(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let hook = checked(&state, &headers, Hook::Authentik)?;
        let p: Authentik = parse(&body, "authentik generic SMS")?;
        let to = recipient(&state, &p.to, false)?;
        let text = match (p.message.filter(|m| !m.trim().is_empty()), p.body) {
            (Some(message), _) => caller_text(&message)?,
            (None, Some(code)) => code_text(&state, &code, None)?,
            (None, None) => {
                return Err(HookError::Invalid(
                    "neither Message nor Body was sent".into(),
                ))
            }
        };
        send(&state, hook, to, text, None).await
    }
    .await;
    answer(result)
}

/// `POST /hooks/logto/sms`.
pub async fn logto(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let hook = checked(&state, &headers, Hook::Logto)?;
        let p: Logto = parse(&body, "Logto HTTP SMS")?;
        let to = recipient(&state, &p.to, true)?;
        let code = p
            .payload
            .code
            .ok_or_else(|| HookError::Invalid("payload.code is missing".into()))?;
        let text = code_text(&state, &code, p.payload.locale.as_deref())?;
        let ip = p.ip.and_then(|ip| ip.trim().parse().ok());
        send(&state, hook, to, text, ip).await
    }
    .await;
    answer(result)
}

/// `POST /hooks/keycloak/sms`.
pub async fn keycloak(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let hook = checked(&state, &headers, Hook::Keycloak)?;
        let p: Keycloak = parse(&body, "Keycloak sms-authenticator")?;
        let to = recipient(&state, &p.to, false)?;
        let text = caller_text(&p.text)?;
        send(&state, hook, to, text, None).await
    }
    .await;
    answer(result)
}

/// `POST /hooks/kratos/sms`.
pub async fn kratos(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let hook = checked(&state, &headers, Hook::Kratos)?;
        let p: Kratos = parse(&body, "Kratos courier")?;
        let to = recipient(&state, &p.recipient, false)?;
        let text = caller_text(&p.body)?;
        send(&state, hook, to, text, None).await
    }
    .await;
    answer(result)
}

fn checked(state: &AppState, headers: &HeaderMap, hook: Hook) -> Result<Hook, HookError> {
    let hooks = &state.config.hooks;
    let config = match hook {
        Hook::Authentik => &hooks.authentik,
        Hook::Logto => &hooks.logto,
        Hook::Keycloak => &hooks.keycloak,
        Hook::Kratos => &hooks.kratos,
        Hook::GoTrue | Hook::Zitadel => &None,
    };
    let config = config
        .as_ref()
        .ok_or(HookError::NotConfigured(hook.name()))?;
    if !authorized(config, headers) {
        return Err(HookError::Unauthorized(format!(
            "missing or wrong credential for the {} hook",
            hook.name()
        )));
    }
    Ok(hook)
}

fn parse<T: serde::de::DeserializeOwned>(body: &[u8], shape: &str) -> Result<T, HookError> {
    serde_json::from_slice(body).map_err(|e| HookError::Invalid(format!("not a {shape} body: {e}")))
}

async fn send(
    state: &AppState,
    hook: Hook,
    to: String,
    text: String,
    client_ip: Option<std::net::IpAddr>,
) -> Result<super::Accepted, HookError> {
    accept(
        state,
        Outgoing {
            hook,
            to,
            text,
            dedupe: Dedupe::Content,
            client_ip,
        },
    )
    .await
}

fn answer(result: Result<super::Accepted, HookError>) -> Response {
    match result {
        Ok(accepted) => (
            StatusCode::OK,
            Json(json!({
                "message_id": accepted.message_id(),
                "status": if accepted.is_repeat() { "duplicate" } else { "queued" },
            })),
        )
            .into_response(),
        Err(e) => {
            let mut response = (
                e.status(),
                [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
                format!("SMS not sent: {e}"),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn hook() -> HttpHook {
        HttpHook {
            bearer_tokens: vec!["tok_0123456789".into()],
            basic: vec!["keycloak:pass-word-1".into()],
            api_keys: vec!["key_0123456789".into()],
            api_key_header: "X-Api-Key".into(),
        }
    }

    fn with(name: &str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
        h
    }

    #[test]
    fn credentials() {
        let h = hook();
        assert!(authorized(
            &h,
            &with("authorization", "Bearer tok_0123456789")
        ));
        assert!(authorized(
            &h,
            &with("authorization", "bearer  tok_0123456789 ")
        ));
        let basic = base64::engine::general_purpose::STANDARD.encode("keycloak:pass-word-1");
        assert!(authorized(
            &h,
            &with("authorization", &format!("Basic {basic}"))
        ));
        assert!(authorized(&h, &with("x-api-key", "key_0123456789")));

        assert!(!authorized(&h, &HeaderMap::new()));
        assert!(!authorized(
            &h,
            &with("authorization", "Bearer tok_012345678")
        ));
        assert!(!authorized(&h, &with("authorization", "tok_0123456789")));
        assert!(!authorized(
            &h,
            &with("authorization", "Token tok_0123456789")
        ));
        let wrong = base64::engine::general_purpose::STANDARD.encode("keycloak:pass-word-2");
        assert!(!authorized(
            &h,
            &with("authorization", &format!("Basic {wrong}"))
        ));
        assert!(!authorized(&h, &with("authorization", "Basic !!!")));
        // A key is not a bearer token, nor the other way round.
        assert!(!authorized(
            &h,
            &with("authorization", "Bearer key_0123456789")
        ));
        assert!(!authorized(&h, &with("x-api-key", "tok_0123456789")));
    }
}
