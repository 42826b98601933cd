//! Counts for `/metrics` and `/v1/modems`, read at scrape or request time: indexed counts,
//! nothing maintained on the hot path.

use super::{now_ms, Result, Store};
use crate::states::MessageStatus;
use crate::store::db::Connection;
use std::collections::HashMap;

/// Messages waiting per line: `(per line, not yet assigned to any line)`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct QueueDepths {
    pub per_line: HashMap<String, u64>,
    pub unassigned: u64,
}

/// A message being sent counts for the modem sending it; a queued one for the line it is pinned
/// to, or as unassigned (any ready line may take it).
pub fn queue_depths(conn: &Connection) -> crate::store::db::Result<QueueDepths> {
    let mut stmt = conn.prepare_cached(
        "SELECT status, line, modem, COUNT(*) FROM outbound_messages
         WHERE status IN ('queued', 'sending') GROUP BY status, line, modem",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, MessageStatus>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, u64>(3)?,
        ))
    })?;
    let mut depths = QueueDepths::default();
    for row in rows {
        let (status, line, modem, count) = row?;
        let owner = if status == MessageStatus::Sending {
            modem.or(line)
        } else {
            line
        };
        match owner {
            Some(name) => *depths.per_line.entry(name).or_default() += count,
            None => depths.unassigned += count,
        }
    }
    Ok(depths)
}

/// Counts read from SQLite at scrape time.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct StoreCounts {
    pub queue_depth: u64,
    pub outbound_by_status: Vec<(String, u64)>,
    pub inbound_messages: u64,
    /// `(status, count)` of verifications, when the table exists.
    pub verifications_by_status: Vec<(String, u64)>,
    /// `(status, count)` of reverse verifications, when the table exists.
    pub reverse_by_status: Vec<(String, u64)>,
    /// `(state, count)` of webhook deliveries, when the table exists.
    pub webhook_deliveries_by_state: Vec<(String, u64)>,
}

/// Tables other parts of simgate own; each is counted only if present, so that this module does
/// not fail on a database from before their migrations.
const VERIFICATIONS: &str = "verifications";
const REVERSE: &str = "reverse_verifications";
const WEBHOOK_DELIVERIES: (&str, &str) = ("webhook_deliveries", "status");

pub fn store_counts(conn: &Connection, now: i64) -> crate::store::db::Result<StoreCounts> {
    Ok(StoreCounts {
        queue_depth: super::outbound::queue_depth(conn)?,
        outbound_by_status: count_by(conn, "outbound_messages", "status")?,
        inbound_messages: conn
            .query_row("SELECT COUNT(*) FROM inbound_messages", [], |r| r.get(0))?,
        verifications_by_status: count_outcomes(conn, VERIFICATIONS, now)?,
        reverse_by_status: count_outcomes(conn, REVERSE, now)?,
        webhook_deliveries_by_state: count_by(conn, WEBHOOK_DELIVERIES.0, WEBHOOK_DELIVERIES.1)?,
    })
}

/// Verifications by outcome, a pending one past its expiry counted as `expired` (the stored
/// status changes only when someone next touches it).
fn count_outcomes(
    conn: &Connection,
    table: &str,
    now: i64,
) -> crate::store::db::Result<Vec<(String, u64)>> {
    if !has_column(conn, table, "expires_at")? || !has_column(conn, table, "status")? {
        return Ok(Vec::new());
    }
    // The table name is a constant of this module, never input.
    let sql = format!(
        "SELECT CASE WHEN status = 'pending' AND expires_at <= ?1 THEN 'expired' ELSE status END AS outcome,
                COUNT(*) FROM {table} GROUP BY outcome ORDER BY outcome"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}

fn has_column(conn: &Connection, table: &str, column: &str) -> crate::store::db::Result<bool> {
    let sql = match conn.backend() {
        super::Backend::Sqlite => "SELECT COUNT(*) FROM pragma_table_info(?1) WHERE name = ?2",
        super::Backend::Postgres => {
            "SELECT COUNT(*) FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = ?1 AND column_name = ?2"
        }
    };
    let present: i64 = conn.query_row(sql, [table, column], |r| r.get(0))?;
    Ok(present > 0)
}

/// `SELECT column, COUNT(*) … GROUP BY column`, or nothing if the table or column is absent.
fn count_by(
    conn: &Connection,
    table: &str,
    column: &str,
) -> crate::store::db::Result<Vec<(String, u64)>> {
    if !has_column(conn, table, column)? {
        return Ok(Vec::new());
    }
    // Both names are constants of this module, never input.
    let sql = format!(
        "SELECT CAST({column} AS TEXT), COUNT(*) FROM {table} GROUP BY {column} ORDER BY 1"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, Option<String>>(0)?.unwrap_or_default(),
            r.get(1)?,
        ))
    })?;
    rows.collect()
}

impl Store {
    /// Counts for `/metrics`, a pending verification past its expiry counted as expired.
    pub async fn counts(&self) -> Result<StoreCounts> {
        let now = now_ms();
        self.call(move |c| Ok(store_counts(c, now)?)).await
    }

    /// Messages waiting per line.
    pub async fn queue_depths(&self) -> Result<QueueDepths> {
        self.call(|c| Ok(queue_depths(c)?)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_tables_count_nothing() {
        let conn = crate::store::test_support::test_db();
        assert!(count_by(&conn, "no_such_table", "status")
            .unwrap()
            .is_empty());
        let counts = store_counts(&conn, 0).unwrap();
        assert_eq!(counts.queue_depth, 0);
        assert_eq!(counts.inbound_messages, 0);
    }

    #[test]
    fn pending_past_expiry_counts_as_expired() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE verifications (id TEXT, status TEXT, expires_at INTEGER);
             INSERT INTO verifications VALUES ('a', 'pending', 100), ('b', 'pending', 300),
                 ('c', 'verified', 100), ('d', 'locked', 300);",
        )
        .unwrap();
        let counts = count_outcomes(&conn, "verifications", 200).unwrap();
        assert_eq!(
            counts,
            [
                ("expired".to_string(), 1),
                ("locked".to_string(), 1),
                ("pending".to_string(), 1),
                ("verified".to_string(), 1)
            ]
        );
    }

    use crate::store::outbound::{self, NewMessage};

    fn message(line: Option<&str>) -> NewMessage {
        NewMessage {
            recipient: "+447700900001".into(),
            body: "x".into(),
            line: line.map(str::to_string),
            report: false,
            encoding: "gsm7".into(),
            parts: vec![(10, "00".into())],
            purpose: "text".into(),
            purpose_id: None,
        }
    }

    #[test]
    fn depths_split_by_line() {
        let mut c = crate::store::test_support::test_db();
        outbound::enqueue(&mut c, &message(None)).unwrap();
        outbound::enqueue(&mut c, &message(None)).unwrap();
        outbound::enqueue(&mut c, &message(Some("sim2"))).unwrap();
        // sim1 claims the oldest unpinned one: it is now sending on sim1.
        outbound::claim_next(&mut c, "sim1", 600_000)
            .unwrap()
            .unwrap();
        let d = queue_depths(&c).unwrap();
        assert_eq!(d.per_line.get("sim1"), Some(&1));
        assert_eq!(d.per_line.get("sim2"), Some(&1));
        assert_eq!(d.unassigned, 1);
    }
}
