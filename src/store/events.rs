//! The append-only event log. Every event is written in the transaction that caused it, so an
//! event exists if and only if its cause was committed; webhook delivery reads from here.

use super::{new_id, now_ms, Result, Store};
pub use crate::states::EventKind;
use crate::store::db::{params, Connection, OptionalExtension};

/// Appends an event; returns its stable id (`evt_…`), reused by every delivery attempt.
pub fn append(
    conn: &Connection,
    kind: EventKind,
    data: &serde_json::Value,
) -> crate::store::db::Result<String> {
    append_with_target(conn, kind, data, None)
}

/// Appends an event that must also reach `target_url` (besides subscribed endpoints).
pub fn append_with_target(
    conn: &Connection,
    kind: EventKind,
    data: &serde_json::Value,
    target_url: Option<&str>,
) -> crate::store::db::Result<String> {
    let id = new_id("evt");
    conn.execute(
        "INSERT INTO events (id, type, data, target_url, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![id, kind, data.to_string(), target_url, now_ms()],
    )?;
    Ok(id)
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub seq: i64,
    pub id: String,
    pub kind: EventKind,
    pub data: serde_json::Value,
    pub target_url: Option<String>,
    pub created_at: i64,
}

/// Events after `after_seq`, oldest first.
pub fn since(
    conn: &Connection,
    after_seq: i64,
    limit: usize,
) -> crate::store::db::Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, id, type, data, target_url, created_at FROM events WHERE seq > ?1 ORDER BY seq LIMIT ?2",
    )?;
    let rows = stmt.query_map(params![after_seq, limit as i64], |r| {
        let data: String = r.get(3)?;
        Ok(Event {
            seq: r.get(0)?,
            id: r.get(1)?,
            kind: r.get(2)?,
            data: serde_json::from_str(&data).unwrap_or(serde_json::Value::Null),
            target_url: r.get(4)?,
            created_at: r.get(5)?,
        })
    })?;
    rows.collect()
}

impl Store {
    /// Up to `limit` events after `after` (empty: from the start; a seq; or an event id), with
    /// the seq they follow; `Err(after)` if `after` is neither a seq nor a known event id.
    pub async fn events_after(
        &self,
        after: String,
        limit: usize,
    ) -> Result<std::result::Result<(i64, Vec<Event>), String>> {
        self.call(move |c| {
            let after_seq = if after.is_empty() {
                0
            } else if let Ok(seq) = after.parse::<i64>() {
                seq.max(0)
            } else {
                let seq: Option<i64> = c
                    .query_row("SELECT seq FROM events WHERE id = ?1", [&after], |r| {
                        r.get(0)
                    })
                    .optional()?;
                match seq {
                    Some(seq) => seq,
                    None => return Ok(Err(after)),
                }
            };
            Ok(Ok((after_seq, since(c, after_seq, limit)?)))
        })
        .await
    }
}
