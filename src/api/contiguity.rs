//! The Contiguity-compatible face (SPEC §3a): envelopes and the `/otp/…` routes.
//!
//! Success: `{"id":"req_…","timestamp":<ms>,"api_version":"v1","object":"response","data":{…,
//! "metadata":{"id","timestamp","api_version","object"}}}`. The official Python SDK (3.x)
//! decodes exactly this: it reads `id`, `timestamp` (an integer), `api_version` and `object` at
//! the top and the route's fields inside `data`.

use super::error::{ApiError, ErrorKind, API_VERSION};
use super::extract::{ApiJson, ApiPath, Caller, Text};
use super::face::set_header;
use super::rfc3339;
use super::verifications::{checked_code, NewReverse, OtpSettings};
use crate::daemon::AppState;
use crate::store::{new_id, now_ms};
use crate::verify::{CreateOtp, OtpStatus, ReverseView};
use axum::extract::State;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// A successful Contiguity answer; `data` must be a JSON object.
#[derive(Debug, Clone)]
pub struct Envelope {
    pub status: StatusCode,
    pub data: Value,
}

impl Envelope {
    pub fn ok(data: Value) -> Envelope {
        Envelope {
            status: StatusCode::OK,
            data,
        }
    }

    /// The whole document, with the given id and time.
    pub fn body(&self, id: &str, timestamp_ms: i64) -> Value {
        let metadata = json!({
            "id": id,
            "timestamp": timestamp_ms,
            "api_version": API_VERSION,
            "object": "response",
        });
        let mut data = match &self.data {
            Value::Object(map) => map.clone(),
            other => {
                let mut map = Map::new();
                map.insert("value".into(), other.clone());
                map
            }
        };
        data.insert("metadata".into(), metadata);
        json!({
            "id": id,
            "timestamp": timestamp_ms,
            "api_version": API_VERSION,
            "object": "response",
            "data": Value::Object(data),
        })
    }
}

impl IntoResponse for Envelope {
    fn into_response(self) -> Response {
        let id = new_id("req");
        let body = self.body(&id, now_ms());
        let mut response = (self.status, axum::Json(body)).into_response();
        set_header(&mut response, "x-request-id", &id);
        response
    }
}

/// `POST /otp/new` (and `/otp/send`): `{to, language?, name?}` → `{otp_id}`.
///
/// Also takes the native per-request settings (`code_length`, `code_type`, `ttl_secs`,
/// `max_attempts`, `template`, `templates`, `from`, `callback_url`, `service`) and sms.cx's
/// names for them (`pinLength`, `pinType` = `numbers`|`letters`|`alphanumeric`, `ttl`,
/// `maxAttempts`, `template_xx` per language, `callbackUrl`). Other unknown fields are ignored,
/// as on every Contiguity route.
#[derive(Debug, Deserialize)]
pub struct OtpNew {
    pub to: String,
    pub language: Option<String>,
    pub name: Option<String>,
    #[serde(flatten)]
    pub settings: OtpSettings,
    #[serde(rename = "pinLength")]
    pub pin_length: Option<u32>,
    #[serde(rename = "pinType")]
    pub pin_type: Option<String>,
    pub ttl: Option<u64>,
    #[serde(rename = "maxAttempts")]
    pub max_attempts_alias: Option<u32>,
    #[serde(rename = "callbackUrl")]
    pub callback_url_alias: Option<String>,
    /// `template_fr`… (sms.cx) and anything else.
    #[serde(flatten)]
    pub rest: BTreeMap<String, Value>,
}

impl OtpNew {
    /// The settings with sms.cx's aliases folded in (a native name wins when both are given).
    fn settings(self) -> Result<OtpSettings, ApiError> {
        let mut s = self.settings;
        s.code_length = s.code_length.or(self.pin_length);
        s.code_type = s.code_type.or(self.pin_type);
        s.ttl_secs = s.ttl_secs.or(self.ttl);
        s.max_attempts = s.max_attempts.or(self.max_attempts_alias);
        s.callback_url = s.callback_url.or(self.callback_url_alias);
        for (key, value) in self.rest {
            let Some(lang) = key.strip_prefix("template_") else {
                continue;
            };
            let Value::String(text) = value else {
                return Err(ApiError::invalid(&key, format!("{key} must be a string")));
            };
            s.templates
                .get_or_insert_with(BTreeMap::new)
                .entry(lang.to_string())
                .or_insert(text);
        }
        Ok(s)
    }
}

pub async fn otp_new(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<OtpNew>,
) -> Result<Envelope, ApiError> {
    let (to, language, name) = (
        request.to.clone(),
        request.language.clone(),
        request.name.clone(),
    );
    let options = request.settings()?.into_options(&state)?;
    let created = state
        .verifier
        .create_with(
            CreateOtp {
                to,
                language,
                name,
                api_key: caller.key_id,
                client_ip: caller.ip,
            },
            options,
        )
        .await
        .map_err(|e| ApiError::from_verify(e, "to"))?;
    Ok(Envelope::ok(json!({ "otp_id": created.otp_id })))
}

/// `POST /otp/verify`: `{otp_id, otp}` → `{verified}`; a wrong code is 200 with `false`.
#[derive(Debug, Deserialize)]
pub struct OtpVerify {
    pub otp_id: String,
    pub otp: Text,
}

pub async fn otp_verify(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<OtpVerify>,
) -> Result<Envelope, ApiError> {
    let code = checked_code(&request.otp.0, "otp")?;
    let result = state
        .verifier
        .check(&request.otp_id, &code)
        .await
        .map_err(|e| otp_error(e, &request.otp_id))?;
    Ok(Envelope::ok(json!({ "verified": result.verified })))
}

/// `POST /otp/resend`: `{otp_id}` → `{resent}`. Within the cooldown the answer is
/// `resent: false` with `Retry-After`; the expiry is never extended.
#[derive(Debug, Deserialize)]
pub struct OtpResend {
    pub otp_id: String,
}

pub async fn otp_resend(
    State(state): State<AppState>,
    ApiJson(request): ApiJson<OtpResend>,
) -> Result<Response, ApiError> {
    let resent = state
        .verifier
        .resend(&request.otp_id)
        .await
        .map_err(|e| otp_error(e, &request.otp_id))?;
    let mut response = Envelope::ok(json!({ "resent": resent.resent })).into_response();
    if let Some(secs) = resent.retry_after_secs {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    Ok(response)
}

fn otp_error(e: crate::verify::VerifyError, id: &str) -> ApiError {
    match e {
        crate::verify::VerifyError::NotFound => ApiError::not_found("OTP", id),
        other => ApiError::from_verify(other, "to"),
    }
}

/// The session's status in the four words of SPEC §3a: a session locked by wrong factors is
/// over, like an expired one.
pub fn contiguity_status(status: OtpStatus) -> &'static str {
    match status {
        OtpStatus::Pending => "pending",
        OtpStatus::Verified => "verified",
        OtpStatus::Cancelled => "cancelled",
        OtpStatus::Expired | OtpStatus::Locked => "expired",
    }
}

/// `POST /otp/reverse/initiate`.
pub async fn reverse_initiate(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<ReverseInitiate>,
) -> Result<Envelope, ApiError> {
    let init = NewReverse {
        number: request.number,
        factor: request.factor,
        to: request.to,
        language: request.language,
        success_url: request.success_url,
        service: request.service,
        client_ip: None,
    };
    let view = state
        .verifier
        .reverse_initiate(init.into_init(caller)?)
        .await
        .map_err(|e| ApiError::from_verify(e, "number"))?;
    Ok(Envelope::ok(reverse_initiated_json(&view)))
}

/// Unlike the native request, unknown fields are ignored (Contiguity clients may send more).
#[derive(Debug, Deserialize)]
pub struct ReverseInitiate {
    pub number: String,
    pub factor: Option<Text>,
    pub to: Option<String>,
    pub language: Option<String>,
    pub success_url: Option<String>,
    pub service: Option<String>,
}

pub fn reverse_initiated_json(view: &ReverseView) -> Value {
    json!({
        "otp_id": view.otp_id,
        "number": view.number,
        "number_masked": view.number_masked,
        "factor": view.factor,
        "to": view.to,
        "expires_at": rfc3339(view.expires_at),
        "ui": { "text": view.ui_text, "qr_code": view.qr_code },
        "success_url": view.success_url,
        "service": view.service,
    })
}

/// `GET /otp/reverse/verify/{otp_id}` → `{otp_id, status, verified, expires_at}`.
pub async fn reverse_verify(
    State(state): State<AppState>,
    ApiPath(otp_id): ApiPath<String>,
) -> Result<Envelope, ApiError> {
    let view = state
        .verifier
        .reverse_get(&otp_id)
        .await
        .map_err(|e| reverse_error(e, &otp_id))?;
    Ok(Envelope::ok(json!({
        "otp_id": view.otp_id,
        "status": contiguity_status(view.status),
        "verified": view.verified,
        "expires_at": rfc3339(view.expires_at),
    })))
}

/// `POST /otp/reverse/cancel/{otp_id}` → `{otp_id, status: "cancelled"}`. A verified session
/// cannot be cancelled (409); an expired one answers with its status.
pub async fn reverse_cancel(
    State(state): State<AppState>,
    ApiPath(otp_id): ApiPath<String>,
) -> Result<Envelope, ApiError> {
    let view = state
        .verifier
        .reverse_cancel(&otp_id)
        .await
        .map_err(|e| reverse_error(e, &otp_id))?;
    if view.status == OtpStatus::Verified {
        return Err(ApiError::new(
            ErrorKind::Conflict,
            "the session is already verified and cannot be cancelled",
        ));
    }
    Ok(Envelope::ok(json!({
        "otp_id": view.otp_id,
        "status": contiguity_status(view.status),
    })))
}

fn reverse_error(e: crate::verify::VerifyError, id: &str) -> ApiError {
    match e {
        crate::verify::VerifyError::NotFound => ApiError::not_found("reverse OTP session", id),
        other => ApiError::from_verify(other, "number"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_has_spec_shape() {
        let e = Envelope::ok(json!({"otp_id": "otp_1"}));
        let body = e.body("req_1", 42);
        assert_eq!(body["id"], "req_1");
        assert_eq!(body["timestamp"], 42);
        assert!(body["timestamp"].is_i64());
        assert_eq!(body["api_version"], API_VERSION);
        assert_eq!(body["object"], "response");
        assert_eq!(body["data"]["otp_id"], "otp_1");
        assert_eq!(
            body["data"]["metadata"],
            json!({"id": "req_1", "timestamp": 42, "api_version": API_VERSION, "object": "response"})
        );
        let top: Vec<&String> = body.as_object().unwrap().keys().collect();
        assert_eq!(top.len(), 5, "{top:?}");
    }
}
