//! `Idempotency-Key` records (`idempotency_keys`): a key is claimed, answered or released,
//! scoped by API key; the rules are in [`crate::api::idempotency`].

use super::{now_ms, Result, Store};
use crate::store::db::{params, Connection, OptionalExtension};
use std::time::Duration;

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

/// Looks the key up and, if it is new (or expired, or abandoned), claims it.
pub fn begin(
    conn: &mut Connection,
    key_id: &str,
    key: &str,
    hash: &str,
    now: i64,
    keep_for_ms: i64,
    stale_after_ms: i64,
) -> crate::store::db::Result<Begin> {
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
                params![key_id, key, hash, now, now + keep_for_ms],
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
pub fn finish(
    conn: &Connection,
    key_id: &str,
    key: &str,
    stored: &Stored,
) -> crate::store::db::Result<()> {
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
pub fn release(conn: &Connection, key_id: &str, key: &str) -> crate::store::db::Result<()> {
    conn.execute(
        "DELETE FROM idempotency_keys WHERE key_id = ?1 AND idem_key = ?2",
        params![key_id, key],
    )?;
    Ok(())
}

impl Store {
    /// Looks the key up and, if it is new (or expired, or abandoned after `stale_after_ms`),
    /// claims it for `keep_for`.
    pub async fn begin_idempotent(
        &self,
        key_id: String,
        key: String,
        hash: String,
        keep_for: Duration,
        stale_after_ms: i64,
    ) -> Result<Begin> {
        let keep_for_ms = keep_for.as_millis() as i64;
        self.call(move |c| {
            Ok(begin(
                c,
                &key_id,
                &key,
                &hash,
                now_ms(),
                keep_for_ms,
                stale_after_ms,
            )?)
        })
        .await
    }

    /// Keeps the answer for replays.
    pub async fn finish_idempotent(
        &self,
        key_id: String,
        key: String,
        stored: Stored,
    ) -> Result<()> {
        self.call(move |c| Ok(finish(c, &key_id, &key, &stored)?))
            .await
    }

    /// Forgets the key (the answer was one a retry may change).
    pub async fn release_idempotent(&self, key_id: String, key: String) -> Result<()> {
        self.call(move |c| Ok(release(c, &key_id, &key)?)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEEP: i64 = 24 * 3600 * 1000;

    fn conn() -> Connection {
        crate::store::test_support::test_db()
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
            begin(&mut c, "k", "a", "h1", 1000, KEEP, 60_000).unwrap(),
            Begin::Fresh
        );
        assert_eq!(
            begin(&mut c, "k", "a", "h1", 1001, KEEP, 60_000).unwrap(),
            Begin::InProgress
        );
        finish(&c, "k", "a", &stored(201)).unwrap();
        assert_eq!(
            begin(&mut c, "k", "a", "h1", 1002, KEEP, 60_000).unwrap(),
            Begin::Replay(stored(201))
        );
    }

    #[test]
    fn different_request_is_a_mismatch() {
        let mut c = conn();
        begin(&mut c, "k", "a", "h1", 1000, KEEP, 60_000).unwrap();
        finish(&c, "k", "a", &stored(201)).unwrap();
        assert_eq!(
            begin(&mut c, "k", "a", "h2", 1001, KEEP, 60_000).unwrap(),
            Begin::Mismatch
        );
    }

    #[test]
    fn keys_are_scoped_by_api_key() {
        let mut c = conn();
        begin(&mut c, "k1", "a", "h1", 1000, KEEP, 60_000).unwrap();
        assert_eq!(
            begin(&mut c, "k2", "a", "h2", 1000, KEEP, 60_000).unwrap(),
            Begin::Fresh
        );
    }

    #[test]
    fn expired_and_abandoned_keys_are_reusable() {
        let mut c = conn();
        begin(&mut c, "k", "a", "h1", 0, KEEP, 60_000).unwrap();
        // Abandoned (still pending after the stale time): taken over.
        assert_eq!(
            begin(&mut c, "k", "a", "h1", 61_000, KEEP, 60_000).unwrap(),
            Begin::Fresh
        );
        finish(&c, "k", "a", &stored(201)).unwrap();
        let later = 61_000 + KEEP + 1;
        assert_eq!(
            begin(&mut c, "k", "a", "h2", later, KEEP, 60_000).unwrap(),
            Begin::Fresh
        );
    }

    #[test]
    fn released_key_starts_over() {
        let mut c = conn();
        begin(&mut c, "k", "a", "h1", 0, KEEP, 60_000).unwrap();
        release(&c, "k", "a").unwrap();
        assert_eq!(
            begin(&mut c, "k", "a", "h2", 1, KEEP, 60_000).unwrap(),
            Begin::Fresh
        );
    }
}
