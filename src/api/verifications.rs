//! Native verifications (`/v1/verifications`, `/v1/reverse-verifications`) and the views both
//! faces build from the verifier's answers. Codes never appear in any answer; a reverse
//! session's factor does (the person must be shown what to text).

use super::error::{ApiError, ErrorKind};
use super::extract::{parse_ip, ApiJson, ApiPath, Caller, Text};
use super::rfc3339;
use crate::daemon::AppState;
use crate::verify::{
    CodeType, CreateOtp, OtpOptions, OtpStatus, OtpView, ReverseInit, ReverseView,
};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::BTreeMap;

/// Longest code accepted for checking; longer input cannot be a code.
pub const MAX_CODE_CHARS: usize = 64;

pub fn verification_json(v: &OtpView) -> Value {
    json!({
        "id": v.otp_id,
        "object": "verification",
        "to": v.to,
        "to_masked": v.to_masked,
        "code_type": v.code_type.as_str(),
        "code_length": v.code_length,
        "from": v.line,
        "callback_url": v.callback_url,
        "service": v.service,
        "proof": v.proof,
        "country": v.country,
        "status": v.status.as_str(),
        "verified": v.verified,
        "attempts": v.attempts,
        "attempts_left": v.attempts_left,
        "max_attempts": v.max_attempts,
        "resends": v.resends,
        "language": v.language,
        "name": v.name,
        "message_id": v.message_id,
        "created_at": rfc3339(v.created_at),
        "expires_at": rfc3339(v.expires_at),
        "verified_at": v.verified_at.map(rfc3339),
    })
}

pub fn reverse_json(v: &ReverseView) -> Value {
    json!({
        "id": v.otp_id,
        "object": "reverse_verification",
        "number": v.number,
        "number_masked": v.number_masked,
        "factor": v.factor,
        "to": v.to,
        "status": v.status.as_str(),
        "verified": v.verified,
        "attempts_left": v.attempts_left,
        "language": v.language,
        "created_at": rfc3339(v.created_at),
        "expires_at": rfc3339(v.expires_at),
        "verified_at": v.verified_at.map(rfc3339),
        "ui": { "text": v.ui_text, "qr_code": v.qr_code },
        "qr_svg_url": format!("/v1/reverse-verifications/{}/qr.svg", v.otp_id),
        "success_url": v.success_url,
        "service": v.service,
        "proof": v.proof,
    })
}

fn created(location: String, body: Value) -> Response {
    (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response()
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewVerification {
    /// The person's number (E.164, or national in `otp.default_country`).
    pub to: String,
    pub language: Option<String>,
    /// App name shown in the SMS.
    pub name: Option<String>,
    /// The end user's IP, for per-IP rate limits (overrides `X-End-User-IP`).
    pub client_ip: Option<String>,
    #[serde(flatten)]
    pub settings: OtpSettings,
}

/// Per-request OTP settings, shared by `/v1/verifications` and `/otp/new`.
#[derive(Debug, Default, Deserialize)]
pub struct OtpSettings {
    /// 4..=10.
    pub code_length: Option<u32>,
    /// `numeric` | `alpha` | `alphanumeric`.
    pub code_type: Option<String>,
    /// 30..=3600.
    pub ttl_secs: Option<u64>,
    /// 1..=10.
    pub max_attempts: Option<u32>,
    pub template: Option<String>,
    pub templates: Option<BTreeMap<String, String>>,
    /// A line name or one of our numbers: only that modem sends the code.
    pub from: Option<String>,
    pub callback_url: Option<String>,
    /// The app the proof is for (its `aud`).
    pub service: Option<String>,
}

impl OtpSettings {
    /// Checked into the verifier's options; `from` is resolved to a line.
    pub fn into_options(self, state: &AppState) -> Result<OtpOptions, ApiError> {
        let code_type = match self.code_type.as_deref() {
            None => None,
            Some(name) => Some(CodeType::parse(name).ok_or_else(|| {
                ApiError::invalid(
                    "code_type",
                    format!(
                        "code_type {name:?} is not one of \"numeric\", \"alpha\", \"alphanumeric\""
                    ),
                )
            })?),
        };
        let line = match self.from.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(from) => Some(super::messages::resolve_line(state, from).ok_or_else(|| {
                ApiError::invalid(
                    "from",
                    format!(
                        "from {from:?} is neither one of this gateway's numbers nor a line name"
                    ),
                )
            })?),
        };
        Ok(OtpOptions {
            code_length: self.code_length,
            code_type,
            ttl_secs: self.ttl_secs,
            max_attempts: self.max_attempts,
            template: self.template,
            templates: self.templates.unwrap_or_default(),
            line,
            callback_url: self.callback_url,
            service: self.service,
        })
    }
}

/// `POST /v1/verifications`.
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<NewVerification>,
) -> Result<Response, ApiError> {
    let client_ip = match &request.client_ip {
        Some(ip) => Some(parse_ip(ip, "client_ip")?),
        None => caller.ip,
    };
    let options = request.settings.into_options(&state)?;
    let created_otp = state
        .verifier
        .create_with(
            CreateOtp {
                to: request.to,
                language: request.language,
                name: request.name,
                api_key: caller.key_id,
                client_ip,
            },
            options,
        )
        .await
        .map_err(|e| ApiError::from_verify(e, "to"))?;
    let view = state
        .verifier
        .get(&created_otp.otp_id)
        .await
        .map_err(|e| ApiError::from_verify(e, "to"))?;
    Ok(created(
        format!("/v1/verifications/{}", view.otp_id),
        verification_json(&view),
    ))
}

/// `GET /v1/verifications/{id}`.
pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let view = state
        .verifier
        .get(&id)
        .await
        .map_err(|e| not_found_or(e, "verification", &id))?;
    Ok(Json(verification_json(&view)))
}

fn not_found_or(e: crate::verify::VerifyError, what: &str, id: &str) -> ApiError {
    match e {
        crate::verify::VerifyError::NotFound => ApiError::not_found(what, id),
        other => ApiError::from_verify(other, "to"),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CheckRequest {
    pub code: Text,
}

/// Rejects input that cannot be a code before it costs an attempt.
pub fn checked_code(code: &str, field: &str) -> Result<String, ApiError> {
    let code = code.trim();
    if code.is_empty() {
        return Err(ApiError::invalid(
            field,
            format!("{field} must not be empty"),
        ));
    }
    if code.chars().count() > MAX_CODE_CHARS {
        return Err(ApiError::invalid(
            field,
            format!("{field} is longer than {MAX_CODE_CHARS} characters"),
        ));
    }
    Ok(code.to_string())
}

/// `POST /v1/verifications/{id}/check`: a wrong code is 200 with `verified: false`.
pub async fn check(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiJson(request): ApiJson<CheckRequest>,
) -> Result<Json<Value>, ApiError> {
    let code = checked_code(&request.code.0, "code")?;
    let result = state
        .verifier
        .check(&id, &code)
        .await
        .map_err(|e| not_found_or(e, "verification", &id))?;
    Ok(Json(json!({
        "id": id,
        "object": "verification_check",
        "verified": result.verified,
        "status": result.status.as_str(),
        "attempts_left": result.attempts_left,
    })))
}

/// `POST /v1/verifications/{id}/resend`: the same code again, expiry unchanged. Within the
/// cooldown: 429 with `Retry-After`; when the verification is over or its resends are used up:
/// 409.
pub async fn resend(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let resent = state
        .verifier
        .resend(&id)
        .await
        .map_err(|e| not_found_or(e, "verification", &id))?;
    if resent.resent {
        let view = state
            .verifier
            .get(&id)
            .await
            .map_err(|e| not_found_or(e, "verification", &id))?;
        return Ok(Json(verification_json(&view)));
    }
    if let Some(secs) = resent.retry_after_secs {
        return Err(ApiError::new(
            ErrorKind::RateLimited,
            format!("a resend is allowed {secs} s after the previous send"),
        )
        .with_retry_after(secs));
    }
    let view = state
        .verifier
        .get(&id)
        .await
        .map_err(|e| not_found_or(e, "verification", &id))?;
    let detail = if view.status != OtpStatus::Pending {
        format!(
            "the verification is {}; start a new one",
            view.status.as_str()
        )
    } else {
        "this verification's resends are used up; start a new one".to_string()
    };
    Err(ApiError::new(ErrorKind::Conflict, detail))
}

/// `POST /v1/verifications/{id}/cancel`: a verified verification cannot be cancelled (409);
/// cancelling an ended one returns it as it is.
pub async fn cancel(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let view = state
        .verifier
        .cancel(&id)
        .await
        .map_err(|e| not_found_or(e, "verification", &id))?;
    if view.status == OtpStatus::Verified {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            "the verification is already verified and cannot be cancelled",
        ));
    }
    Ok(Json(verification_json(&view)))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewReverse {
    /// The person's number: the sender to wait for.
    pub number: String,
    /// What the person must text; default 6 random digits; at most 16 characters.
    pub factor: Option<Text>,
    /// Which of our numbers the person texts; default a ready line.
    pub to: Option<String>,
    pub language: Option<String>,
    pub success_url: Option<String>,
    pub service: Option<String>,
    /// The end user's IP, for per-IP rate limits (overrides `X-End-User-IP`).
    pub client_ip: Option<String>,
}

impl NewReverse {
    pub fn into_init(self, caller: Caller) -> Result<ReverseInit, ApiError> {
        let client_ip = match &self.client_ip {
            Some(ip) => Some(parse_ip(ip, "client_ip")?),
            None => caller.ip,
        };
        Ok(ReverseInit {
            number: self.number,
            factor: self.factor.map(|f| f.0),
            to: self.to,
            language: self.language,
            success_url: self.success_url,
            service: self.service,
            api_key: caller.key_id,
            client_ip,
        })
    }
}

/// `POST /v1/reverse-verifications`.
pub async fn reverse_create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<NewReverse>,
) -> Result<Response, ApiError> {
    let view = state
        .verifier
        .reverse_initiate(request.into_init(caller)?)
        .await
        .map_err(|e| ApiError::from_verify(e, "number"))?;
    Ok(created(
        format!("/v1/reverse-verifications/{}", view.otp_id),
        reverse_json(&view),
    ))
}

/// `GET /.well-known/jwks.json`: the public keys of verification proofs (no API key).
pub async fn jwks(State(state): State<AppState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "application/jwk-set+json"),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        Json(state.verifier.jwks()),
    )
        .into_response()
}

/// `GET /v1/reverse-verifications/{id}`.
pub async fn reverse_get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let view = state
        .verifier
        .reverse_get(&id)
        .await
        .map_err(|e| not_found_or(e, "reverse verification", &id))?;
    Ok(Json(reverse_json(&view)))
}

/// `POST /v1/reverse-verifications/{id}/cancel`.
pub async fn reverse_cancel(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let view = state
        .verifier
        .reverse_cancel(&id)
        .await
        .map_err(|e| not_found_or(e, "reverse verification", &id))?;
    if view.status == OtpStatus::Verified {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            "the reverse verification is already verified and cannot be cancelled",
        ));
    }
    Ok(Json(reverse_json(&view)))
}

/// `GET /v1/reverse-verifications/{id}/qr.svg`: the `sms:` link as a QR code.
pub async fn reverse_qr(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Response, ApiError> {
    let view = state
        .verifier
        .reverse_get(&id)
        .await
        .map_err(|e| not_found_or(e, "reverse verification", &id))?;
    let svg = state.verifier.reverse_qr_svg(&view);
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "private, max-age=60"),
        ],
        svg,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The settings are flattened into the request, and unknown fields are still refused.
    #[test]
    fn new_verification_takes_settings_and_refuses_unknown_fields() {
        let ok: NewVerification = serde_json::from_value(json!({
            "to": "+14155550100", "code_length": 8, "code_type": "alpha",
            "templates": {"fr": "{{code}}"}, "from": "sim1", "service": "shop"
        }))
        .unwrap();
        assert_eq!(ok.settings.code_length, Some(8));
        assert_eq!(ok.settings.templates.unwrap()["fr"], "{{code}}");
        let err = serde_json::from_value::<NewVerification>(
            json!({"to": "+14155550100", "pinLength": 5}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("pinLength"), "{err}");
    }

    #[test]
    fn codes_are_checked_for_shape() {
        assert_eq!(checked_code(" 123456 ", "otp").unwrap(), "123456");
        assert_eq!(
            checked_code("", "otp").unwrap_err().field.as_deref(),
            Some("otp")
        );
        assert!(checked_code(&"1".repeat(65), "otp").is_err());
    }
}
