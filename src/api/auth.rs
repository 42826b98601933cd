//! API key authentication (SPEC §3c).
//!
//! A key arrives as `Authorization: Bearer <key>` or `Authorization: Token <key>` (the
//! Contiguity SDK sends `Token`). The presented key is hashed and compared with the hash of every
//! configured key in constant time, without stopping at the first match, so neither the content
//! nor the length of a key leaks through timing. The request then carries the key's id (a short
//! hash, never the key) for rate limits and idempotency scopes.

use super::error::{ApiError, ErrorKind};
use super::extract::KeyId;
use crate::redact::Redacted;
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use std::sync::{Arc, RwLock};
use subtle::ConstantTimeEq;

/// The configured keys, as hashes with their ids. Clones share the set, which
/// [`Keys::replace`] swaps at once for every clone (a reload, SIGHUP).
#[derive(Clone)]
pub struct Keys {
    keys: Arc<RwLock<Arc<KeySet>>>,
}

type KeySet = Vec<([u8; 32], String)>;

impl Keys {
    pub fn new(configured: &[Redacted<String>]) -> Keys {
        Keys {
            keys: Arc::new(RwLock::new(Arc::new(hash_all(configured)))),
        }
    }

    /// From now on, these keys and no others are accepted.
    pub fn replace(&self, configured: &[Redacted<String>]) {
        let set = Arc::new(hash_all(configured));
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = set;
    }

    /// The id of the matching key, checking every key in constant time.
    pub fn check(&self, presented: &str) -> Option<String> {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner()).clone();
        let presented = digest(presented);
        let mut found: Option<String> = None;
        for (hash, id) in keys.iter() {
            let equal: bool = hash.ct_eq(&presented).into();
            if equal && found.is_none() {
                found = Some(id.clone());
            }
        }
        found
    }
}

fn hash_all(configured: &[Redacted<String>]) -> KeySet {
    configured
        .iter()
        .map(|k| (digest(k.trim()), key_id(k.trim())))
        .collect()
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A stable, non-secret name for a key: `key_` and 16 hex digits of its SHA-256.
pub fn key_id(key: &str) -> String {
    format!("key_{}", hex::encode(&digest(key)[..8]))
}

/// The key from an `Authorization` header value, for the `Bearer` and `Token` schemes
/// (case-insensitive, as RFC 9110 has auth schemes).
pub fn presented_key(value: &str) -> Option<&str> {
    let (scheme, rest) = value.trim().split_once(char::is_whitespace)?;
    let key = rest.trim();
    let known = scheme.eq_ignore_ascii_case("bearer") || scheme.eq_ignore_ascii_case("token");
    (known && !key.is_empty()).then_some(key)
}

/// Middleware: 401 unless a configured key is presented.
pub async fn require_key(State(keys): State<Keys>, mut request: Request, next: Next) -> Response {
    let header_value = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or(""));
    let Some(value) = header_value else {
        return unauthorized(
            "missing Authorization header; send \"Authorization: Bearer <key>\" or \"Token <key>\"",
        );
    };
    let Some(key) = presented_key(value) else {
        return unauthorized(
            "unsupported Authorization header; send \"Authorization: Bearer <key>\" or \"Token <key>\"",
        );
    };
    match keys.check(key) {
        Some(id) => {
            request.extensions_mut().insert(KeyId(id));
            next.run(request).await
        }
        None => unauthorized("invalid API key"),
    }
}

fn unauthorized(detail: &str) -> Response {
    ApiError::new(ErrorKind::Unauthorized, detail).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        assert_eq!(presented_key("Bearer sk_abc"), Some("sk_abc"));
        assert_eq!(presented_key("Token sk_abc"), Some("sk_abc"));
        assert_eq!(presented_key("bearer   sk_abc "), Some("sk_abc"));
        assert_eq!(presented_key("TOKEN sk_abc"), Some("sk_abc"));
        assert_eq!(presented_key("Basic c2s6"), None);
        assert_eq!(presented_key("sk_abc"), None);
        assert_eq!(presented_key("Bearer "), None);
    }

    #[test]
    fn matches_any_configured_key() {
        let keys = Keys::new(&["sk_first_key".into(), "sk_second_key".into()]);
        assert_eq!(keys.check("sk_second_key"), Some(key_id("sk_second_key")));
        assert_eq!(keys.check("sk_first_key"), Some(key_id("sk_first_key")));
        assert_eq!(keys.check("sk_first_ke"), None);
        assert_eq!(keys.check(""), None);
        assert_ne!(key_id("sk_first_key"), key_id("sk_second_key"));
        assert!(!key_id("sk_first_key").contains("first"));
    }

    #[test]
    fn replaced_keys_apply_to_every_clone() {
        let keys = Keys::new(&["sk_old_key_0001".into()]);
        let in_router = keys.clone();
        keys.replace(&["sk_new_key_0002".into()]);
        assert_eq!(in_router.check("sk_old_key_0001"), None);
        assert_eq!(
            in_router.check("sk_new_key_0002"),
            Some(key_id("sk_new_key_0002"))
        );
    }

    #[test]
    fn no_keys_no_access() {
        assert_eq!(Keys::new(&[]).check("anything"), None);
    }
}
