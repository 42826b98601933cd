//! `Idempotency-Key` on `POST /v1/…`: a client that retries a request it is unsure about (a
//! timeout, a dropped connection) gets the first answer again instead of a second SMS.
//!
//! Rules:
//! - The key is scoped by API key and kept for [`KEEP_FOR`].
//! - Same key, same request (method, path, body bytes) → the stored response is replayed, with
//!   `Idempotent-Replayed: true`.
//! - Same key, different request → 422 `idempotency-key-reused`.
//! - Same key while the first request is still running → 409 `idempotency-key-in-progress`.
//! - Responses that a retry could change (5xx, 429) are not kept: the key is released.

use super::error::{ApiError, ErrorKind};
use crate::store::Store;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::time::Duration;

pub const HEADER: &str = "idempotency-key";
pub const REPLAYED_HEADER: &str = "idempotent-replayed";
/// How long a key is remembered.
pub const KEEP_FOR: Duration = Duration::from_secs(24 * 3600);
/// Largest response body kept for replay (API responses are far smaller).
const MAX_STORED_BODY: usize = 1 << 20;

/// What the middleware needs.
#[derive(Clone)]
pub struct IdempotencyContext {
    pub store: Store,
    pub max_body_bytes: usize,
    /// A pending record older than this belongs to a request that was abandoned (timeout,
    /// crash) and may be taken over.
    pub stale_after: Duration,
}

pub use crate::store::idempotency::{Begin, Stored};

/// The hash that tells "the same request" apart.
pub fn request_hash(method: &Method, path: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(method.as_str().as_bytes());
    h.update(b" ");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex::encode(h.finalize())
}

/// A key is 1 to 255 visible ASCII characters (UUIDs, ULIDs, anything printable).
pub fn valid_key(key: &str) -> bool {
    (1..=255).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

fn keepable(status: StatusCode) -> bool {
    !(status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS)
}

/// Middleware for the native POST routes (runs after auth, so the key id is known).
pub async fn layer(
    State(context): State<IdempotencyContext>,
    request: Request,
    next: Next,
) -> Response {
    if request.method() != Method::POST {
        return next.run(request).await;
    }
    let Some(raw_key) = request.headers().get(HEADER) else {
        return next.run(request).await;
    };
    let key = match raw_key.to_str() {
        Ok(k) if valid_key(k) => k.to_string(),
        _ => {
            return ApiError::invalid(
                "Idempotency-Key",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            )
            .into_response()
        }
    };
    let Some(key_id) = request
        .extensions()
        .get::<super::extract::KeyId>()
        .map(|k| k.0.clone())
    else {
        return ApiError::new(ErrorKind::Unauthorized, "a valid API key is required")
            .into_response();
    };
    let (parts, body) = request.into_parts();
    let bytes = match axum::body::to_bytes(body, context.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            return ApiError::new(
                ErrorKind::PayloadTooLarge,
                "the request body is larger than the server accepts (server.max_body_bytes)",
            )
            .into_response()
        }
    };
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_default();
    let hash = request_hash(&parts.method, &path, &bytes);
    let stale_ms = context.stale_after.as_millis() as i64;
    let begun = {
        let (key_id, key, hash) = (key_id.clone(), key.clone(), hash.clone());
        context
            .store
            .begin_idempotent(key_id, key, hash, KEEP_FOR, stale_ms)
            .await
    };
    match begun {
        Err(e) => return ApiError::from(e).into_response(),
        Ok(Begin::Mismatch) => {
            return ApiError::new(
                ErrorKind::IdempotencyKeyReused,
                "this Idempotency-Key was already used with a different request; use a new key",
            )
            .with_field("Idempotency-Key")
            .into_response()
        }
        Ok(Begin::InProgress) => {
            return ApiError::new(
                ErrorKind::IdempotencyInProgress,
                "a request with this Idempotency-Key is still being processed; retry shortly",
            )
            .with_retry_after(1)
            .into_response()
        }
        Ok(Begin::Replay(stored)) => return replay(stored),
        Ok(Begin::Fresh) => {}
    }
    let response = next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await;
    let status = response.status();
    if !keepable(status) {
        let store = context.store.clone();
        let _ = store.release_idempotent(key_id, key).await;
        return response;
    }
    let (parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, MAX_STORED_BODY).await {
        Ok(b) => b,
        Err(_) => {
            let _ = context.store.release_idempotent(key_id, key).await;
            return ApiError::internal("the response could not be read").into_response();
        }
    };
    let header_text = |name: header::HeaderName| {
        parts
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    let stored = Stored {
        status: status.as_u16(),
        content_type: header_text(header::CONTENT_TYPE),
        location: header_text(header::LOCATION),
        body: body.to_vec(),
    };
    if let Err(e) = context.store.finish_idempotent(key_id, key, stored).await {
        tracing::warn!(error = %e, "could not keep an idempotent response");
    }
    Response::from_parts(parts, Body::from(body))
}

fn replay(stored: Stored) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    let mut response = (status, stored.body).into_response();
    let headers = response.headers_mut();
    if let Some(ct) = stored
        .content_type
        .and_then(|v| HeaderValue::from_str(&v).ok())
    {
        headers.insert(header::CONTENT_TYPE, ct);
    }
    if let Some(loc) = stored.location.and_then(|v| HeaderValue::from_str(&v).ok()) {
        headers.insert(header::LOCATION, loc);
    }
    headers.insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_covers_method_path_and_body() {
        let a = request_hash(&Method::POST, "/v1/messages", b"{}");
        assert_ne!(a, request_hash(&Method::POST, "/v1/verifications", b"{}"));
        assert_ne!(a, request_hash(&Method::POST, "/v1/messages", b"{ }"));
        assert_eq!(a, request_hash(&Method::POST, "/v1/messages", b"{}"));
    }

    #[test]
    fn key_syntax() {
        assert!(valid_key("3f2a-uuid"));
        assert!(!valid_key(""));
        assert!(!valid_key("has space"));
        assert!(!valid_key(&"x".repeat(256)));
    }
}
