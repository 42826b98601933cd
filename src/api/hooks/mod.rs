//! simgate as the SMS provider of self-hosted auth servers: `POST /hooks/…`.
//!
//! ```text
//!  auth server ─► /hooks/<server>/… ─► its own check (signature / credentials)
//!              ─► body in that server's shape ─► recipient (E.164, allowed country) + text
//!              ─► one transaction: dedupe? ─► rate limits ─► outbound queue ─► answer
//! ```
//!
//! - [`gotrue`]: Supabase Auth's Send SMS hook (Standard Webhooks signature, `metadata.uuid`).
//! - [`zitadel`]: Zitadel's HTTP SMS provider (`ZITADEL-Signature`).
//! - [`http`]: authentik, Logto, Keycloak (sms-authenticator) and Ory Kratos, which send plain
//!   JSON with Bearer, Basic or API-key credentials.
//!
//! Rules every hook keeps:
//! - **Checked before anything else**: a request whose signature or credential does not match
//!   is refused before its body is even parsed; nothing is queued.
//! - **Answered at once**: "accepted" means committed to the outbound queue (the same invariant
//!   as the API); the modem sends afterwards. Callers give a hook about 5 s.
//! - **One code, one SMS**: a retry is recognised in the transaction that would queue it. GoTrue
//!   gives every invocation a `metadata.uuid` that its retries keep (each retry has a new
//!   `webhook-id`), so that is the key. The other servers send no idempotent id, and a retry
//!   repeats the same recipient and text (a new code means a new text), so the key is a keyed
//!   HMAC over (hook, recipient, text), valid for `[hooks] dedupe_window_secs`. Keyed, so the
//!   table never holds something a 6-digit code could be brute-forced from.
//! - **Limits**: the OTP limits of `[otp]` (per number, per hook as if it were an API key, per
//!   end-user IP when the server passes it) and the country allow-list, as for `/otp/new`.
//! - **The code is never logged**; the SMS text (which holds it) is replaced in the queue once
//!   the message is sent ([`run_janitor`]).

pub mod gotrue;
pub mod http;
pub mod zitadel;

use crate::daemon::AppState;
use crate::messaging::{self, SendError, SendText};
use crate::phone;
use crate::store::hooks::HookSms;
use crate::store::Store;
use crate::verify::ratelimit::{self, Limits};
use crate::verify::{code, template, VerifyError};
use axum::http::StatusCode;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::net::IpAddr;
use std::time::Duration;

/// `purpose` of the outbound messages hooks queue.
pub const PURPOSE: &str = crate::store::outbound::PURPOSE_HOOK_CODE;
/// Longest code accepted from a caller that sends only a code.
pub const MAX_CODE_CHARS: usize = 32;

/// Which auth server a request is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hook {
    GoTrue,
    Zitadel,
    Authentik,
    Logto,
    Keycloak,
    Kratos,
}

impl Hook {
    pub fn name(self) -> &'static str {
        match self {
            Hook::GoTrue => "gotrue",
            Hook::Zitadel => "zitadel",
            Hook::Authentik => "authentik",
            Hook::Logto => "logto",
            Hook::Keycloak => "keycloak",
            Hook::Kratos => "kratos",
        }
    }
}

/// How a retry of this request is recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Dedupe {
    /// The caller's own idempotent id (GoTrue's `metadata.uuid`).
    Id(String),
    /// Same recipient and text within the window.
    Content,
}

/// An SMS an auth server asked for, checked and ready to queue.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub hook: Hook,
    /// E.164.
    pub to: String,
    pub text: String,
    pub dedupe: Dedupe,
    /// The end user's IP, when the server passes it (GoTrue, Logto).
    pub client_ip: Option<IpAddr>,
}

pub use crate::store::hooks::{redact_sent, Accepted, REDACTED_BODY};

/// Why a hook request was refused. Each family renders it in its caller's convention.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    #[error("this hook is not configured: add a [hooks.{0}] table to simgate's config")]
    NotConfigured(&'static str),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Invalid(String),
    #[error("SMS to {0} are not allowed by this gateway (otp.allowed_countries)")]
    CountryNotAllowed(String),
    #[error("too many SMS for this {scope}; try again in {retry_after_secs} s")]
    RateLimited {
        retry_after_secs: u64,
        scope: &'static str,
    },
    #[error("the SMS gateway could not queue the message: {0}")]
    Internal(String),
}

impl HookError {
    pub fn status(&self) -> StatusCode {
        match self {
            HookError::NotConfigured(_) => StatusCode::NOT_FOUND,
            HookError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            HookError::Invalid(_) => StatusCode::BAD_REQUEST,
            HookError::CountryNotAllowed(_) => StatusCode::UNPROCESSABLE_ENTITY,
            HookError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            HookError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn retry_after_secs(&self) -> Option<u64> {
        match self {
            HookError::RateLimited {
                retry_after_secs, ..
            } => Some(*retry_after_secs),
            _ => None,
        }
    }
}

/// The recipient as E.164, refused outside the allowed countries. `digits_are_international`:
/// the caller writes international numbers without `+` (GoTrue, Logto: `14155550100`).
pub fn recipient(
    state: &AppState,
    raw: &str,
    digits_are_international: bool,
) -> Result<String, HookError> {
    let raw = raw.trim();
    let invalid = || HookError::Invalid(format!("invalid phone number {raw:?}"));
    if raw.is_empty() {
        return Err(HookError::Invalid(
            "the recipient's phone number is missing".into(),
        ));
    }
    let international;
    let input = if digits_are_international
        && raw.len() >= 8
        && raw.chars().all(|c| c.is_ascii_digit())
        && !raw.starts_with('0')
    {
        international = format!("+{raw}");
        international.as_str()
    } else {
        raw
    };
    let e164 = phone::normalize(input, &state.config.otp.default_country).map_err(|_| invalid())?;
    let country = phone::country_of(&e164);
    state
        .verifier
        .check_country(&e164, country.as_deref())
        .map_err(|e| match e {
            VerifyError::CountryNotAllowed(c) => HookError::CountryNotAllowed(c),
            other => HookError::Invalid(other.to_string()),
        })?;
    Ok(e164)
}

/// simgate's code SMS, for callers that send only the code.
pub fn code_text(
    state: &AppState,
    code: &str,
    language: Option<&str>,
) -> Result<String, HookError> {
    let code = code.trim();
    if code.is_empty() {
        return Err(HookError::Invalid("the code is missing".into()));
    }
    if code.chars().count() > MAX_CODE_CHARS || code.chars().any(|c| c.is_control() || c == '{') {
        return Err(HookError::Invalid(format!(
            "the code must be at most {MAX_CODE_CHARS} printable characters"
        )));
    }
    let hooks = &state.config.hooks;
    let language = template::language(Some(language.unwrap_or(&hooks.language)));
    let name = template::clean_name(hooks.app_name.as_deref());
    Ok(template::render_code(
        language,
        name.as_deref(),
        code,
        hooks.code_ttl_secs,
    ))
}

/// A text the caller rendered itself: trimmed, not empty.
pub fn caller_text(text: &str) -> Result<String, HookError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(HookError::Invalid("the message text is empty".into()));
    }
    Ok(text.to_string())
}

/// The dedupe key of a content-keyed request: HMAC(pepper-derived key, hook, to, text).
pub fn content_key(pepper: &[u8], hook: Hook, to: &str, text: &str) -> String {
    let key = code::derive_key(pepper, "hook request dedupe");
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC accepts any key length");
    for part in [hook.name(), to, text] {
        mac.update(part.as_bytes());
        mac.update(&[0]);
    }
    format!("sha256:{}", hex::encode(mac.finalize().into_bytes()))
}

/// The JSON answer of the signed hooks (GoTrue, Zitadel) once the SMS is queued, or recognised
/// as a retry of one already queued.
pub fn accepted_answer(accepted: &Accepted) -> axum::response::Response {
    use axum::response::IntoResponse;
    (
        StatusCode::OK,
        axum::Json(serde_json::json!({
            "message_id": accepted.message_id(),
            "status": if accepted.is_repeat() { "duplicate" } else { "queued" },
        })),
    )
        .into_response()
}

/// Queues the SMS unless it is a retry, applying the limits, in one transaction; then wakes
/// the pool. Returns once the message is committed: the caller can answer.
pub async fn accept(state: &AppState, out: Outgoing) -> Result<Accepted, HookError> {
    let hook = out.hook;
    let dedupe_key = match &out.dedupe {
        Dedupe::Id(id) => format!("id:{id}"),
        Dedupe::Content => content_key(state.secret.bytes(), hook, &out.to, &out.text),
    };
    let (message, _) = messaging::prepare(
        state,
        &SendText {
            to: out.to.clone(),
            body: out.text,
            line: None,
            report: true,
            purpose: PURPOSE.into(),
            purpose_id: Some(hook.name().into()),
        },
    )
    .map_err(|e| match e {
        SendError::Store(e) => HookError::Internal(e.to_string()),
        other => HookError::Invalid(other.to_string()),
    })?;
    let limits = Limits::from_config(&state.config.otp);
    let window_ms = state.config.hooks.dedupe_window_secs as i64 * 1000;
    let outcome = state
        .store
        .queue_hook_sms(HookSms {
            hook: hook.name(),
            dedupe_key,
            to: out.to,
            client_ip: out.client_ip.map(ratelimit::ip_scope),
            message,
            limits,
            dedupe_window_ms: window_ms,
        })
        .await
        .map_err(|e| HookError::Internal(e.to_string()))?
        .map_err(|limited| HookError::RateLimited {
            retry_after_secs: limited.retry_after_secs,
            scope: limited.scope,
        })?;
    if !outcome.is_repeat() {
        state.pool.wake();
    }
    // Never the number or the text: the text holds the code.
    tracing::info!(
        hook = hook.name(),
        message = outcome.message_id(),
        repeat = outcome.is_repeat(),
        "auth-server SMS accepted"
    );
    Ok(outcome)
}

/// Replaces the text (and PDUs) of hook messages that have left the queue, every `every`, until
/// shutdown; also prunes the dedupe table past `dedupe_window`.
pub async fn run_janitor(
    store: Store,
    every: Duration,
    dedupe_window: Duration,
    mut shutdown: crate::shutdown::Shutdown,
) {
    let mut tick = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.recv() => return,
        }
        let window_ms = i64::try_from(dedupe_window.as_millis()).unwrap_or(i64::MAX);
        let result = store.redact_sent_hook_messages(window_ms).await;
        match result {
            Ok(0) => {}
            Ok(n) => tracing::debug!(messages = n, "texts removed from sent hook messages"),
            Err(e) => tracing::warn!(error = %e, "cannot redact sent hook messages"),
        }
    }
}

/// Constant-time equality of two secrets of any length (compared as SHA-256 digests).
pub fn secret_eq(a: &[u8], b: &[u8]) -> bool {
    use sha2::Digest;
    use subtle::ConstantTimeEq;
    let a = Sha256::digest(a);
    let b = Sha256::digest(b);
    a.ct_eq(&b).into()
}

/// Is `timestamp` (Unix seconds) within `tolerance` of `now`, either way?
pub fn fresh(timestamp: i64, now: i64, tolerance_secs: u64) -> bool {
    timestamp.abs_diff(now) <= tolerance_secs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_keys_are_keyed_and_distinct() {
        let a = content_key(b"pepper-1", Hook::Zitadel, "+14155550100", "Code 123456");
        assert_eq!(
            a,
            content_key(b"pepper-1", Hook::Zitadel, "+14155550100", "Code 123456")
        );
        assert_ne!(
            a,
            content_key(b"pepper-2", Hook::Zitadel, "+14155550100", "Code 123456")
        );
        assert_ne!(
            a,
            content_key(b"pepper-1", Hook::Kratos, "+14155550100", "Code 123456")
        );
        assert_ne!(
            a,
            content_key(b"pepper-1", Hook::Zitadel, "+14155550100", "Code 123457")
        );
        // Field boundaries matter: ("+1", "23") is not ("+12", "3").
        assert_ne!(
            content_key(b"p", Hook::Logto, "+1", "23"),
            content_key(b"p", Hook::Logto, "+12", "3")
        );
        assert!(!a.contains("123456"));
    }

    #[test]
    fn freshness_is_symmetric() {
        assert!(fresh(1000, 1000, 300));
        assert!(fresh(700, 1000, 300));
        assert!(fresh(1300, 1000, 300));
        assert!(!fresh(699, 1000, 300));
        assert!(!fresh(1301, 1000, 300));
        assert!(!fresh(i64::MIN, 1000, 300));
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(secret_eq(b"token-123", b"token-123"));
        assert!(!secret_eq(b"token-123", b"token-12"));
        assert!(!secret_eq(b"token-123", b"token-124"));
        assert!(!secret_eq(b"", b"x"));
    }
}
