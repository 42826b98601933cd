//! Logins to the status page: a random session id in an `HttpOnly`, `SameSite=Strict` cookie,
//! the session itself in memory.
//!
//! The cookie carries only the id (256 random bits); the API key never leaves the login form.
//! The store keeps the SHA-256 of each id, so that even a memory dump shows no usable cookie.
//! Each session has its own CSRF token, compared in constant time on every POST. Sessions end
//! at logout, after `ui.session_ttl_secs`, or when the daemon restarts.

use base64::Engine;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use subtle::ConstantTimeEq;

/// Name of the cookie.
pub const COOKIE: &str = "simgate_ui";
/// Bound on live sessions; the oldest goes when a new one would pass it.
const MAX_SESSIONS: usize = 1024;

/// A logged-in browser.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The id of the API key used to log in (a hash, never the key).
    pub key_id: String,
    /// Sent back with every form, checked on POST.
    pub csrf: String,
    pub expires_at: Instant,
}

/// The live sessions.
#[derive(Clone)]
pub struct Sessions {
    inner: Arc<Mutex<HashMap<[u8; 32], Session>>>,
    ttl: Duration,
}

fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    pub fn new(ttl: Duration) -> Sessions {
        Sessions {
            inner: Arc::new(Mutex::new(HashMap::new())),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Session>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts a session for a checked key; returns the id to put in the cookie.
    pub fn create(&self, key_id: String) -> String {
        let id = random_token();
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, s| s.expires_at > now);
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.expires_at)
                .map(|(k, _)| *k)
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            digest(&id),
            Session {
                key_id,
                csrf: random_token(),
                expires_at: now + self.ttl,
            },
        );
        id
    }

    /// The live session with this id, if any.
    pub fn get(&self, id: &str) -> Option<Session> {
        let key = digest(id);
        let mut map = self.lock();
        match map.get(&key) {
            Some(s) if s.expires_at > Instant::now() => Some(s.clone()),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    pub fn remove(&self, id: &str) {
        self.lock().remove(&digest(id));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

impl Session {
    /// Is `presented` this session's CSRF token? Constant time.
    pub fn csrf_matches(&self, presented: &str) -> bool {
        let a = Sha256::digest(self.csrf.as_bytes());
        let b = Sha256::digest(presented.as_bytes());
        a.ct_eq(&b).into()
    }
}

/// The session id from a `Cookie` header, if our cookie is there.
pub fn from_cookie_header(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

/// `Set-Cookie` for a new session.
pub fn set_cookie(id: &str, ttl: Duration) -> String {
    format!(
        "{COOKIE}={id}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}",
        ttl.as_secs()
    )
}

/// `Set-Cookie` that removes the cookie.
pub fn clear_cookie() -> String {
    format!("{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_get_remove() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let id = sessions.create("key_a".into());
        assert!(id.len() >= 43, "256 bits");
        let s = sessions.get(&id).unwrap();
        assert_eq!(s.key_id, "key_a");
        assert!(s.csrf_matches(&s.csrf));
        assert!(!s.csrf_matches(""));
        assert!(!s.csrf_matches(&s.csrf[1..]));
        let other = sessions.create("key_a".into());
        assert_ne!(id, other);
        assert_ne!(sessions.get(&other).unwrap().csrf, s.csrf);
        sessions.remove(&id);
        assert_eq!(sessions.get(&id), None);
        assert!(sessions.get(&other).is_some());
        assert_eq!(sessions.get("made-up"), None);
    }

    #[test]
    fn sessions_expire() {
        let sessions = Sessions::new(Duration::ZERO);
        let id = sessions.create("key_a".into());
        assert_eq!(sessions.get(&id), None);
        assert_eq!(sessions.len(), 0, "an expired session is dropped when seen");
    }

    #[test]
    fn bounded() {
        let sessions = Sessions::new(Duration::from_secs(60));
        let first = sessions.create("k".into());
        for _ in 0..MAX_SESSIONS {
            sessions.create("k".into());
        }
        assert_eq!(sessions.len(), MAX_SESSIONS);
        assert_eq!(sessions.get(&first), None, "the oldest made room");
    }

    #[test]
    fn cookie_header() {
        assert_eq!(from_cookie_header("a=1; simgate_ui=abc; b=2"), Some("abc"));
        assert_eq!(from_cookie_header("simgate_ui_x=abc"), None);
        assert_eq!(from_cookie_header("simgate_ui="), None);
        let set = set_cookie("abc", Duration::from_secs(60));
        for attr in ["HttpOnly", "SameSite=Strict", "Path=/ui", "Max-Age=60"] {
            assert!(set.contains(attr), "{set}");
        }
        assert!(clear_cookie().contains("Max-Age=0"));
    }
}
