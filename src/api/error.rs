//! The API's one error type and how each face renders it.
//!
//! Handlers, extractors and middleware return [`ApiError`]; they do not know which face (SPEC §3a
//! or §3b) the request came through. Its `IntoResponse` renders the native problem document and
//! attaches the error itself as a response extension; the outermost layer
//! ([`super::face`]) then re-renders it in the format of the request's face. So every error,
//! wherever it arises, leaves in the right envelope.
//!
//! Status policy (documented in the OpenAPI document too): malformed JSON is 400 on both faces;
//! well-formed input that is wrong (missing fields, wrong types, bad E.164, over-long factor,
//! unknown line) is 400 on the Contiguity face, whose clients expect it, and 422 on `/v1`.

use super::face::Face;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

/// The version string carried by every envelope.
pub const API_VERSION: &str = "v1";

/// What went wrong, in the categories clients act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The body is not JSON (syntax error, truncated, empty).
    MalformedJson,
    /// A `Content-Type` other than JSON.
    UnsupportedMediaType,
    /// Well-formed input that breaks a rule (missing field, wrong type, bad value).
    InvalidRequest,
    /// A phone number that is not E.164.
    InvalidNumber,
    /// A number in a country the operator does not serve.
    CountryNotAllowed,
    /// A reverse-OTP factor that is too long or has characters that cannot travel by SMS.
    InvalidFactor,
    /// A `success_url` that is not an http(s) URL.
    InvalidUrl,
    /// No or wrong API key.
    Unauthorized,
    /// The id names nothing (or nothing this key may see).
    NotFound,
    /// No route has this path.
    RouteNotFound,
    /// The path exists, the method does not.
    MethodNotAllowed,
    /// The body is larger than `server.max_body_bytes`.
    PayloadTooLarge,
    /// The same `Idempotency-Key` came with a different request.
    IdempotencyKeyReused,
    /// A request with this `Idempotency-Key` is still being processed.
    IdempotencyInProgress,
    /// The request conflicts with the resource's state.
    Conflict,
    /// A per-number, per-key or cooldown limit.
    RateLimited,
    /// No modem can carry the message now.
    NoLineAvailable,
    /// The outbound queue holds `outbound.max_queued` messages.
    QueueFull,
    /// The `Host` header names a host this server does not answer for (DNS rebinding).
    HostNotAllowed,
    /// The request took longer than `server.request_timeout_secs`.
    Timeout,
    /// A fault of ours (storage failed…). Never caused by input.
    Internal,
}

impl ErrorKind {
    /// The slug that ends the problem `type` URI.
    pub fn slug(self) -> &'static str {
        match self {
            ErrorKind::MalformedJson => "malformed-json",
            ErrorKind::UnsupportedMediaType => "unsupported-media-type",
            ErrorKind::InvalidRequest => "invalid-request",
            ErrorKind::InvalidNumber => "invalid-number",
            ErrorKind::CountryNotAllowed => "country-not-allowed",
            ErrorKind::InvalidFactor => "invalid-factor",
            ErrorKind::InvalidUrl => "invalid-url",
            ErrorKind::Unauthorized => "unauthorized",
            ErrorKind::NotFound => "not-found",
            ErrorKind::RouteNotFound => "route-not-found",
            ErrorKind::MethodNotAllowed => "method-not-allowed",
            ErrorKind::PayloadTooLarge => "payload-too-large",
            ErrorKind::IdempotencyKeyReused => "idempotency-key-reused",
            ErrorKind::IdempotencyInProgress => "idempotency-key-in-progress",
            ErrorKind::Conflict => "conflict",
            ErrorKind::RateLimited => "rate-limited",
            ErrorKind::NoLineAvailable => "no-line-available",
            ErrorKind::QueueFull => "queue-full",
            ErrorKind::HostNotAllowed => "host-not-allowed",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Internal => "internal",
        }
    }

    pub fn title(self) -> &'static str {
        match self {
            ErrorKind::MalformedJson => "Malformed JSON",
            ErrorKind::UnsupportedMediaType => "Unsupported media type",
            ErrorKind::InvalidRequest => "Invalid request",
            ErrorKind::InvalidNumber => "Invalid phone number",
            ErrorKind::CountryNotAllowed => "Country not allowed",
            ErrorKind::InvalidFactor => "Invalid factor",
            ErrorKind::InvalidUrl => "Invalid URL",
            ErrorKind::Unauthorized => "Unauthorized",
            ErrorKind::NotFound => "Not found",
            ErrorKind::RouteNotFound => "Route not found",
            ErrorKind::MethodNotAllowed => "Method not allowed",
            ErrorKind::PayloadTooLarge => "Payload too large",
            ErrorKind::IdempotencyKeyReused => "Idempotency key reused",
            ErrorKind::IdempotencyInProgress => "Idempotency key in progress",
            ErrorKind::Conflict => "Conflict",
            ErrorKind::RateLimited => "Too many requests",
            ErrorKind::NoLineAvailable => "No line available",
            ErrorKind::QueueFull => "Outbound queue full",
            ErrorKind::HostNotAllowed => "Host not allowed",
            ErrorKind::Timeout => "Request timed out",
            ErrorKind::Internal => "Internal error",
        }
    }

    /// Input errors: 400 on the Contiguity face, 422 on `/v1`.
    fn is_validation(self) -> bool {
        matches!(
            self,
            ErrorKind::InvalidRequest
                | ErrorKind::InvalidNumber
                | ErrorKind::CountryNotAllowed
                | ErrorKind::InvalidFactor
                | ErrorKind::InvalidUrl
        )
    }

    pub fn status(self, face: Face) -> StatusCode {
        if self.is_validation() {
            return match face {
                Face::Contiguity => StatusCode::BAD_REQUEST,
                Face::Native => StatusCode::UNPROCESSABLE_ENTITY,
            };
        }
        match self {
            ErrorKind::MalformedJson => StatusCode::BAD_REQUEST,
            ErrorKind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorKind::Unauthorized => StatusCode::UNAUTHORIZED,
            ErrorKind::NotFound | ErrorKind::RouteNotFound => StatusCode::NOT_FOUND,
            ErrorKind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ErrorKind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            ErrorKind::IdempotencyKeyReused => StatusCode::UNPROCESSABLE_ENTITY,
            ErrorKind::IdempotencyInProgress | ErrorKind::Conflict => StatusCode::CONFLICT,
            ErrorKind::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ErrorKind::NoLineAvailable | ErrorKind::Timeout | ErrorKind::QueueFull => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ErrorKind::HostNotAllowed => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error answer: a kind, a sentence for humans, and what a client needs to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub kind: ErrorKind,
    pub detail: String,
    /// The request field at fault (`to`, `factor`, `body.to`), when one is.
    pub field: Option<String>,
    /// Seconds until a retry can succeed (`Retry-After`).
    pub retry_after_secs: Option<u64>,
}

impl ApiError {
    pub fn new(kind: ErrorKind, detail: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            detail: detail.into(),
            field: None,
            retry_after_secs: None,
        }
    }

    pub fn invalid(field: &str, detail: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::InvalidRequest, detail).with_field(field)
    }

    pub fn not_found(what: &str, id: &str) -> ApiError {
        ApiError::new(ErrorKind::NotFound, format!("no {what} with id {id:?}"))
    }

    pub fn internal(detail: impl Into<String>) -> ApiError {
        ApiError::new(ErrorKind::Internal, detail)
    }

    pub fn with_field(mut self, field: &str) -> ApiError {
        self.field = Some(field.to_string());
        self
    }

    pub fn with_retry_after(mut self, secs: u64) -> ApiError {
        self.retry_after_secs = Some(secs.max(1));
        self
    }

    pub fn status(&self, face: Face) -> StatusCode {
        self.kind.status(face)
    }

    /// The problem `type` URI.
    pub fn type_uri(&self) -> String {
        format!("urn:simgate:problem:{}", self.kind.slug())
    }

    /// The RFC 9457 problem document (the native face's body).
    pub fn problem_body(&self, face: Face, instance: &str) -> Value {
        let status = self.status(face).as_u16();
        let mut body = Map::new();
        body.insert("type".into(), json!(self.type_uri()));
        body.insert("title".into(), json!(self.kind.title()));
        body.insert("status".into(), json!(status));
        body.insert("detail".into(), json!(self.detail));
        body.insert("instance".into(), json!(instance));
        if let Some(field) = &self.field {
            body.insert("field".into(), json!(field));
        }
        if let Some(secs) = self.retry_after_secs {
            body.insert("retry_after".into(), json!(secs));
        }
        Value::Object(body)
    }

    /// The Contiguity error envelope (SPEC §3a): its own fields, `data.error`/`data.status`,
    /// `data.metadata`, and the RFC 9457 members at top level.
    pub fn contiguity_body(&self, id: &str, timestamp_ms: i64) -> Value {
        let status = self.status(Face::Contiguity).as_u16();
        let metadata = json!({
            "id": id,
            "timestamp": timestamp_ms,
            "api_version": API_VERSION,
            "object": "error",
        });
        // Exactly the members SPEC §3a names: clients may check them exactly. The retry delay
        // travels in the Retry-After header.
        json!({
            "id": id,
            "timestamp": timestamp_ms,
            "api_version": API_VERSION,
            "object": "error",
            "data": { "error": self.detail, "status": status, "metadata": metadata },
            "type": self.type_uri(),
            "title": self.kind.title(),
            "status": status,
            "detail": self.detail,
        })
    }

    /// The full response in `face`'s format.
    pub fn render(&self, face: Face, instance: &str) -> Response {
        let status = self.status(face);
        let (body, content_type) = match face {
            Face::Native => (
                self.problem_body(face, instance),
                "application/problem+json",
            ),
            Face::Contiguity => {
                let id = crate::store::new_id("err");
                (
                    self.contiguity_body(&id, crate::store::now_ms()),
                    "application/json",
                )
            }
        };
        let mut response = (status, body.to_string()).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Some(secs) = self.retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if self.kind == ErrorKind::Unauthorized {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"simgate\""),
            );
        }
        response
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.slug(), self.detail)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    /// Renders the native form and carries the error along so that the face layer can
    /// re-render it for the Contiguity face.
    fn into_response(self) -> Response {
        let mut response = self.render(Face::Native, "");
        response.extensions_mut().insert(self);
        response
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> ApiError {
        tracing::error!(error = %e, "storage error while answering a request");
        ApiError::internal("storage error; the request was not completed")
    }
}

impl From<crate::messaging::SendError> for ApiError {
    fn from(e: crate::messaging::SendError) -> ApiError {
        use crate::messaging::SendError;
        match e {
            SendError::InvalidNumber(_) => {
                ApiError::new(ErrorKind::InvalidNumber, e.to_string()).with_field("to")
            }
            SendError::UnknownLine(_) => ApiError::invalid("from", e.to_string()),
            SendError::TooLong(_) | SendError::Encode(_) => {
                ApiError::invalid("message", e.to_string())
            }
            SendError::CountryNotAllowed(_) => {
                ApiError::new(ErrorKind::CountryNotAllowed, e.to_string()).with_field("to")
            }
            SendError::RateLimited {
                retry_after_secs, ..
            } => ApiError::new(ErrorKind::RateLimited, e.to_string())
                .with_retry_after(retry_after_secs),
            SendError::QueueFull {
                retry_after_secs, ..
            } => ApiError::new(ErrorKind::QueueFull, e.to_string())
                .with_retry_after(retry_after_secs),
            SendError::Store(store) => store.into(),
        }
    }
}

impl ApiError {
    /// Maps a verification error; `number_field` names the request field holding the person's
    /// number (`to` for codes, `number` for reverse OTP).
    pub fn from_verify(e: crate::verify::VerifyError, number_field: &str) -> ApiError {
        use crate::verify::VerifyError;
        let detail = e.to_string();
        match e {
            VerifyError::InvalidNumber(_) => {
                ApiError::new(ErrorKind::InvalidNumber, detail).with_field(number_field)
            }
            VerifyError::CountryNotAllowed(_) => {
                ApiError::new(ErrorKind::CountryNotAllowed, detail).with_field(number_field)
            }
            VerifyError::InvalidFactor(_) => {
                ApiError::new(ErrorKind::InvalidFactor, detail).with_field("factor")
            }
            VerifyError::InvalidUrl(_) => {
                ApiError::new(ErrorKind::InvalidUrl, detail).with_field("success_url")
            }
            VerifyError::NotOurNumber(_) => ApiError::invalid("to", detail),
            VerifyError::InvalidSetting { field, .. } => ApiError::invalid(&field, detail),
            VerifyError::RateLimited {
                retry_after_secs, ..
            } => ApiError::new(ErrorKind::RateLimited, detail).with_retry_after(retry_after_secs),
            VerifyError::NotFound => ApiError::new(ErrorKind::NotFound, detail),
            VerifyError::NoLineAvailable => ApiError::new(ErrorKind::NoLineAvailable, detail),
            VerifyError::Send(send) => match send {
                crate::messaging::SendError::InvalidNumber(_) => {
                    ApiError::new(ErrorKind::InvalidNumber, send.to_string())
                        .with_field(number_field)
                }
                other => other.into(),
            },
            VerifyError::Store(store) => store.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_status_depends_on_face() {
        let e = ApiError::new(ErrorKind::InvalidNumber, "bad");
        assert_eq!(e.status(Face::Contiguity), StatusCode::BAD_REQUEST);
        assert_eq!(e.status(Face::Native), StatusCode::UNPROCESSABLE_ENTITY);
        let e = ApiError::new(ErrorKind::MalformedJson, "bad");
        assert_eq!(e.status(Face::Contiguity), StatusCode::BAD_REQUEST);
        assert_eq!(e.status(Face::Native), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn contiguity_body_has_spec_shape() {
        let e = ApiError::new(ErrorKind::NotFound, "no otp");
        let body = e.contiguity_body("err_x", 1234);
        assert_eq!(body["object"], "error");
        assert_eq!(body["id"], "err_x");
        assert_eq!(body["timestamp"], 1234);
        assert_eq!(body["data"]["error"], "no otp");
        assert_eq!(body["data"]["status"], 404);
        assert_eq!(body["data"]["metadata"]["id"], "err_x");
        assert_eq!(body["data"]["metadata"]["object"], "error");
        assert_eq!(body["status"], 404);
        assert_eq!(body["title"], "Not found");
        assert_eq!(body["detail"], "no otp");
        assert_eq!(body["type"], "urn:simgate:problem:not-found");
        let mut keys: Vec<&String> = body.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "api_version",
                "data",
                "detail",
                "id",
                "object",
                "status",
                "timestamp",
                "title",
                "type"
            ]
        );
        let mut data: Vec<&String> = body["data"].as_object().unwrap().keys().collect();
        data.sort();
        assert_eq!(data, ["error", "metadata", "status"]);
    }

    #[test]
    fn problem_body_carries_retry_and_field() {
        let e = ApiError::new(ErrorKind::RateLimited, "slow down")
            .with_field("to")
            .with_retry_after(0);
        let body = e.problem_body(Face::Native, "/v1/x");
        assert_eq!(body["status"], 429);
        assert_eq!(body["retry_after"], 1, "Retry-After is at least 1 s");
        assert_eq!(body["field"], "to");
        assert_eq!(body["instance"], "/v1/x");
    }
}
