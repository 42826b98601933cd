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
use crate::store::{now_ms, Store};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rusqlite::{params, Connection, OptionalExtension};
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

/// A stored answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub status: u16,
    pub content_type: Option<String>,
    pub location: Option<String>,
    pub body: Vec<u8>,
}

/// What to do with a request that carries a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Begin {
    /// First time: a pending record was written; run the request.
    Fresh,
    Replay(Stored),
    Mismatch,
    InProgress,
}

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

/// Looks the key up and, if it is new (or expired, or abandoned), claims it.
pub fn begin(
    conn: &mut Connection,
    key_id: &str,
    key: &str,
    hash: &str,
    now: i64,
    stale_after_ms: i64,
) -> rusqlite::Result<Begin> {
    let tx = conn.transaction()?;
    tx.execute("DELETE FROM idempotency_keys WHERE expires_at <= ?1", [now])?;
    type Row = (
        String,
        Option<u16>,
        Option<String>,
        Option<String>,
        Option<Vec<u8>>,
        i64,
    );
    let row: Option<Row> = tx
        .query_row(
            "SELECT request_hash, status, content_type, location, body, created_at
             FROM idempotency_keys WHERE key_id = ?1 AND idem_key = ?2",
            params![key_id, key],
            |r| {
                Ok((
                    r.get(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get(4)?,
                    r.get(5)?,
                ))
            },
        )
        .optional()?;
    let outcome = match row {
        None => {
            tx.execute(
                "INSERT INTO idempotency_keys (key_id, idem_key, request_hash, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![key_id, key, hash, now, now + KEEP_FOR.as_millis() as i64],
            )?;
            Begin::Fresh
        }
        Some((stored_hash, _, _, _, _, _)) if stored_hash != hash => Begin::Mismatch,
        Some((_, None, _, _, _, created_at)) => {
            if now - created_at > stale_after_ms {
                tx.execute(
                    "UPDATE idempotency_keys SET created_at = ?3 WHERE key_id = ?1 AND idem_key = ?2",
                    params![key_id, key, now],
                )?;
                Begin::Fresh
            } else {
                Begin::InProgress
            }
        }
        Some((_, Some(status), content_type, location, body, _)) => Begin::Replay(Stored {
            status,
            content_type,
            location,
            body: body.unwrap_or_default(),
        }),
    };
    tx.commit()?;
    Ok(outcome)
}

/// Keeps the answer for replays.
pub fn finish(conn: &Connection, key_id: &str, key: &str, stored: &Stored) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE idempotency_keys SET status = ?3, content_type = ?4, location = ?5, body = ?6
         WHERE key_id = ?1 AND idem_key = ?2",
        params![
            key_id,
            key,
            stored.status,
            stored.content_type,
            stored.location,
            stored.body
        ],
    )?;
    Ok(())
}

/// Forgets the key (the answer was one a retry may change).
pub fn release(conn: &Connection, key_id: &str, key: &str) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM idempotency_keys WHERE key_id = ?1 AND idem_key = ?2",
        params![key_id, key],
    )?;
    Ok(())
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
            .call(move |c| Ok(begin(c, &key_id, &key, &hash, now_ms(), stale_ms)?))
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
        let _ = store.call(move |c| Ok(release(c, &key_id, &key)?)).await;
        return response;
    }
    let (parts, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, MAX_STORED_BODY).await {
        Ok(b) => b,
        Err(_) => {
            let _ = context
                .store
                .call(move |c| Ok(release(c, &key_id, &key)?))
                .await;
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
    if let Err(e) = context
        .store
        .call(move |c| Ok(finish(c, &key_id, &key, &stored)?))
        .await
    {
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

    fn conn() -> Connection {
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut c).unwrap();
        c
    }

    fn stored(status: u16) -> Stored {
        Stored {
            status,
            content_type: Some("application/json".into()),
            location: None,
            body: b"{\"id\":1}".to_vec(),
        }
    }

    #[test]
    fn fresh_then_in_progress_then_replay() {
        let mut c = conn();
        assert_eq!(
            begin(&mut c, "k", "a", "h1", 1000, 60_000).unwrap(),
            Begin::Fresh
        );
        assert_eq!(
            begin(&mut c, "k", "a", "h1", 1001, 60_000).unwrap(),
            Begin::InProgress
        );
        finish(&c, "k", "a", &stored(201)).unwrap();
        assert_eq!(
            begin(&mut c, "k", "a", "h1", 1002, 60_000).unwrap(),
            Begin::Replay(stored(201))
        );
    }

    #[test]
    fn different_request_is_a_mismatch() {
        let mut c = conn();
        begin(&mut c, "k", "a", "h1", 1000, 60_000).unwrap();
        finish(&c, "k", "a", &stored(201)).unwrap();
        assert_eq!(
            begin(&mut c, "k", "a", "h2", 1001, 60_000).unwrap(),
            Begin::Mismatch
        );
    }

    #[test]
    fn keys_are_scoped_by_api_key() {
        let mut c = conn();
        begin(&mut c, "k1", "a", "h1", 1000, 60_000).unwrap();
        assert_eq!(
            begin(&mut c, "k2", "a", "h2", 1000, 60_000).unwrap(),
            Begin::Fresh
        );
    }

    #[test]
    fn expired_and_abandoned_keys_are_reusable() {
        let mut c = conn();
        begin(&mut c, "k", "a", "h1", 0, 60_000).unwrap();
        // Abandoned (still pending after the stale time): taken over.
        assert_eq!(
            begin(&mut c, "k", "a", "h1", 61_000, 60_000).unwrap(),
            Begin::Fresh
        );
        finish(&c, "k", "a", &stored(201)).unwrap();
        let later = 61_000 + KEEP_FOR.as_millis() as i64 + 1;
        assert_eq!(
            begin(&mut c, "k", "a", "h2", later, 60_000).unwrap(),
            Begin::Fresh
        );
    }

    #[test]
    fn released_key_starts_over() {
        let mut c = conn();
        begin(&mut c, "k", "a", "h1", 0, 60_000).unwrap();
        release(&c, "k", "a").unwrap();
        assert_eq!(
            begin(&mut c, "k", "a", "h2", 1, 60_000).unwrap(),
            Begin::Fresh
        );
    }

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
