//! Retention: stored data is kept only as long as it is needed (`[retention]`).
//!
//! A background pass deletes old rows in small batches (one short transaction each, so that
//! inbound SMS and API writes are never held up for long), then truncates the WAL so that
//! deleted pages do not linger there. `PRAGMA secure_delete` (set at open) overwrites what is
//! deleted with zeros, so codes and factors in old message bodies do not stay in free pages.
//!
//! What goes, and what is kept whatever its age:
//!
//! | rows | deleted when older than | kept |
//! |---|---|---|
//! | `outbound_messages` + parts | messages: last change | queued or sending |
//! | `status_reports` | messages: received | |
//! | `inbound_messages`, `inbound_parts` | messages: received | |
//! | `events` | events: created | not yet fanned out to webhooks |
//! | `webhook_deliveries` + attempts | `webhooks.retention_days` (else `days`): created | pending |
//! | `verifications`, `reverse_verifications` | verifications: expiry | |
//! | `verify_requests` (rate-limit log) | [`RATE_LOG_KEEP_MS`] | |
//! | `idempotency_keys` | their own expiry | |

use super::{now_ms, Store};
use crate::config::Config;
use crate::store::db::{params, Connection};
use std::time::Duration;

/// Rows deleted per transaction.
pub const BATCH: usize = 500;
/// How often the pass runs.
pub const EVERY: Duration = Duration::from_secs(600);
/// The rate-limit log is needed only for its windows (the longest is an hour; a day is kept).
pub const RATE_LOG_KEEP_MS: i64 = 24 * 3600 * 1000;

const DAY_MS: i64 = 86_400_000;

/// Retention periods in milliseconds; `None` keeps rows for ever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub messages: Option<i64>,
    pub events: Option<i64>,
    pub deliveries: Option<i64>,
    pub verifications: Option<i64>,
}

fn days(d: u32) -> Option<i64> {
    (d > 0).then(|| i64::from(d) * DAY_MS)
}

impl Policy {
    pub fn from_config(config: &Config) -> Policy {
        let r = &config.retention;
        Policy {
            messages: days(r.messages_days.unwrap_or(r.days)),
            events: days(r.events_days.unwrap_or(r.days)),
            deliveries: days(config.webhook_delivery.retention_days.unwrap_or(r.days)),
            verifications: days(r.verifications_days.unwrap_or(r.days)),
        }
    }
}

/// Rows deleted by one pass, per kind.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub outbound_messages: usize,
    pub inbound_messages: usize,
    pub inbound_parts: usize,
    pub status_reports: usize,
    pub events: usize,
    pub deliveries: usize,
    pub verifications: usize,
    pub reverse_verifications: usize,
    pub rate_log: usize,
    pub idempotency_keys: usize,
}

impl Pruned {
    pub fn total(&self) -> usize {
        self.outbound_messages
            + self.inbound_messages
            + self.inbound_parts
            + self.status_reports
            + self.events
            + self.deliveries
            + self.verifications
            + self.reverse_verifications
            + self.rate_log
            + self.idempotency_keys
    }
}

/// One batch of one kind: deletes up to `batch` rows and returns how many went.
type Step = fn(&mut Connection, i64, usize) -> crate::store::db::Result<usize>;

/// Deletes `table` rows chosen by `selection` (a `SELECT rowid …`, or `SELECT seq …` for the
/// event log, with `?1` = cutoff and `?2` = batch size).
fn delete_selected(
    conn: &Connection,
    table: &str,
    selection: &str,
    cutoff: i64,
    batch: usize,
) -> crate::store::db::Result<usize> {
    conn.execute(
        &format!(
            "DELETE FROM {table} WHERE {} IN ({selection})",
            if selection.starts_with("SELECT seq") {
                "seq"
            } else {
                "rowid"
            }
        ),
        params![cutoff, batch as i64],
    )
}

/// Finished outbound messages (sent, delivered, failed, withdrawn) last changed before the cutoff, with
/// their parts. Queued and sending ones stay: nothing accepted is lost.
fn outbound_messages(
    conn: &mut Connection,
    cutoff: i64,
    batch: usize,
) -> crate::store::db::Result<usize> {
    const SELECTION: &str = "SELECT id FROM outbound_messages
         WHERE updated_at < ?1 AND status IN ('sent', 'delivered', 'failed', 'withdrawn')
         ORDER BY updated_at, id LIMIT ?2";
    let tx = conn.transaction()?;
    tx.execute(
        &format!("DELETE FROM outbound_parts WHERE message_id IN ({SELECTION})"),
        params![cutoff, batch as i64],
    )?;
    let gone = tx.execute(
        &format!("DELETE FROM outbound_messages WHERE id IN ({SELECTION})"),
        params![cutoff, batch as i64],
    )?;
    tx.commit()?;
    Ok(gone)
}

fn status_reports(
    conn: &mut Connection,
    cutoff: i64,
    batch: usize,
) -> crate::store::db::Result<usize> {
    delete_selected(
        conn,
        "status_reports",
        "SELECT rowid FROM status_reports WHERE received_at < ?1 LIMIT ?2",
        cutoff,
        batch,
    )
}

fn inbound_messages(
    conn: &mut Connection,
    cutoff: i64,
    batch: usize,
) -> crate::store::db::Result<usize> {
    delete_selected(
        conn,
        "inbound_messages",
        "SELECT rowid FROM inbound_messages WHERE received_at < ?1 LIMIT ?2",
        cutoff,
        batch,
    )
}

/// Parts, joined or not: an unjoined part older than the retention period is long past the
/// time after which an incomplete message is surfaced.
fn inbound_parts(
    conn: &mut Connection,
    cutoff: i64,
    batch: usize,
) -> crate::store::db::Result<usize> {
    delete_selected(
        conn,
        "inbound_parts",
        "SELECT rowid FROM inbound_parts WHERE received_at < ?1 LIMIT ?2",
        cutoff,
        batch,
    )
}

/// Events before the cutoff that were already fanned out (an event is kept until the webhook
/// cursor has passed it, whatever its age).
fn events(conn: &mut Connection, cutoff: i64, batch: usize) -> crate::store::db::Result<usize> {
    delete_selected(
        conn,
        "events",
        "SELECT seq FROM events
         WHERE created_at < ?1 AND seq <= (SELECT last_seq FROM webhook_cursor WHERE id = 1)
         ORDER BY seq LIMIT ?2",
        cutoff,
        batch,
    )
}

fn deliveries(conn: &mut Connection, cutoff: i64, batch: usize) -> crate::store::db::Result<usize> {
    super::webhooks::prune(conn, cutoff, batch)
}

fn verifications(
    conn: &mut Connection,
    cutoff: i64,
    batch: usize,
) -> crate::store::db::Result<usize> {
    delete_selected(
        conn,
        "verifications",
        "SELECT rowid FROM verifications WHERE expires_at < ?1 LIMIT ?2",
        cutoff,
        batch,
    )
}

fn reverse_verifications(
    conn: &mut Connection,
    cutoff: i64,
    batch: usize,
) -> crate::store::db::Result<usize> {
    delete_selected(
        conn,
        "reverse_verifications",
        "SELECT rowid FROM reverse_verifications WHERE expires_at < ?1 LIMIT ?2",
        cutoff,
        batch,
    )
}

fn rate_log(conn: &mut Connection, cutoff: i64, batch: usize) -> crate::store::db::Result<usize> {
    delete_selected(
        conn,
        "verify_requests",
        "SELECT rowid FROM verify_requests WHERE created_at < ?1 LIMIT ?2",
        cutoff,
        batch,
    )
}

/// Idempotency records past their own expiry (the cutoff is `now`).
fn idempotency_keys(
    conn: &mut Connection,
    cutoff: i64,
    batch: usize,
) -> crate::store::db::Result<usize> {
    delete_selected(
        conn,
        "idempotency_keys",
        "SELECT rowid FROM idempotency_keys WHERE expires_at <= ?1 LIMIT ?2",
        cutoff,
        batch,
    )
}

/// Runs `step` in batches until a batch comes back short. Each batch is its own call on the
/// store, so other work gets the connection between batches.
async fn drain(store: &Store, step: Step, cutoff: i64, batch: usize) -> super::Result<usize> {
    let mut total = 0;
    loop {
        let gone = store.call(move |c| Ok(step(c, cutoff, batch)?)).await?;
        total += gone;
        if gone < batch {
            return Ok(total);
        }
        tokio::task::yield_now().await;
    }
}

/// One retention pass at `now`, `batch` rows per transaction. Returns what went.
pub async fn run_once(
    store: &Store,
    policy: &Policy,
    now: i64,
    batch: usize,
) -> super::Result<Pruned> {
    let before = |period: Option<i64>| period.map(|p| now.saturating_sub(p));
    let mut pruned = Pruned::default();
    if let Some(cutoff) = before(policy.messages) {
        pruned.outbound_messages = drain(store, outbound_messages, cutoff, batch).await?;
        pruned.status_reports = drain(store, status_reports, cutoff, batch).await?;
        pruned.inbound_messages = drain(store, inbound_messages, cutoff, batch).await?;
        pruned.inbound_parts = drain(store, inbound_parts, cutoff, batch).await?;
    }
    if let Some(cutoff) = before(policy.events) {
        pruned.events = drain(store, events, cutoff, batch).await?;
    }
    if let Some(cutoff) = before(policy.deliveries) {
        pruned.deliveries = drain(store, deliveries, cutoff, batch).await?;
    }
    if let Some(cutoff) = before(policy.verifications) {
        pruned.verifications = drain(store, verifications, cutoff, batch).await?;
        pruned.reverse_verifications = drain(store, reverse_verifications, cutoff, batch).await?;
    }
    pruned.rate_log = drain(store, rate_log, now - RATE_LOG_KEEP_MS, batch).await?;
    pruned.idempotency_keys = drain(store, idempotency_keys, now, batch).await?;
    if pruned.total() > 0 {
        // Old page images (message bodies among them) stay in the WAL until a checkpoint
        // overwrites them; truncating it removes them now.
        store
            .call(|c| {
                // PostgreSQL's own vacuum reclaims space; there is no WAL file of ours to trim.
                if c.backend() == super::Backend::Sqlite {
                    c.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
                }
                Ok(())
            })
            .await?;
    }
    Ok(pruned)
}

/// Runs a pass at start and then every [`EVERY`], until shutdown.
pub async fn run(store: Store, policy: Policy, mut shutdown: crate::shutdown::Shutdown) {
    let mut tick = tokio::time::interval(EVERY);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = shutdown.recv() => return,
        }
        match run_once(&store, &policy, now_ms(), BATCH).await {
            Ok(p) if p.total() == 0 => {}
            Ok(p) => tracing::info!(
                outbound = p.outbound_messages,
                inbound = p.inbound_messages,
                events = p.events,
                deliveries = p.deliveries,
                verifications = p.verifications + p.reverse_verifications,
                other = p.inbound_parts + p.status_reports + p.rate_log + p.idempotency_keys,
                "retention: old rows deleted"
            ),
            Err(e) => tracing::warn!(error = %e, "retention pass failed; retrying later"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{events, outbound};

    const NOW: i64 = 1_000 * DAY_MS;

    fn policy(days_: u32) -> Policy {
        let d = days(days_);
        Policy {
            messages: d,
            events: d,
            deliveries: d,
            verifications: d,
        }
    }

    fn message(conn: &mut Connection, to: &str) -> String {
        outbound::enqueue(
            conn,
            &outbound::NewMessage {
                recipient: to.into(),
                body: "hello".into(),
                line: None,
                report: true,
                encoding: "gsm7".into(),
                parts: vec![(10, "00".into()), (10, "01".into())],
                purpose: "text".into(),
                purpose_id: None,
            },
        )
        .unwrap()
    }

    fn count(store: &Store, table: &'static str) -> i64 {
        store
            .call_blocking(|c| {
                Ok(c.query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))?)
            })
            .unwrap()
    }

    fn exec(store: &Store, sql: &str) {
        store
            .call_blocking(|c| {
                c.execute_batch(sql)?;
                Ok(())
            })
            .unwrap();
    }

    /// Old finished rows go, in batches smaller than their number; what is still in use stays
    /// whatever its age; recent rows stay.
    #[tokio::test]
    async fn old_rows_go_and_rows_in_use_stay() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("simgate.db")).unwrap();
        let old = NOW - 40 * DAY_MS;
        let recent = NOW - 2 * DAY_MS;
        store
            .call_blocking(|c| {
                for i in 0..5 {
                    let id = message(c, "+15550000009");
                    let status = if i == 4 { "queued" } else { "delivered" };
                    c.execute(
                        "UPDATE outbound_messages SET status = ?2, created_at = ?3, updated_at = ?3 WHERE id = ?1",
                        params![id, status, old],
                    )?;
                }
                let id = message(c, "+15550000009");
                c.execute(
                    "UPDATE outbound_messages SET status = 'sent', updated_at = ?2 WHERE id = ?1",
                    params![id, recent],
                )?;
                for _ in 0..3 {
                    events::append(c, crate::states::EventKind::MessageStatus, &serde_json::json!({}))?;
                }
                Ok(())
            })
            .unwrap();
        // Two events fanned out (cursor past them), the third not yet; all old.
        exec(
            &store,
            &format!(
                "UPDATE events SET created_at = {old};
                 UPDATE webhook_cursor SET last_seq = (SELECT seq FROM events ORDER BY seq LIMIT 1 OFFSET 1);
                 INSERT INTO inbound_messages (id, modem, sender, sender_type, body, encoding, parts_total, complete, received_at)
                   VALUES ('in_old', 'sim1', '+1', 'international', 'code 123456', 'gsm7', 1, 1, {old}),
                          ('in_new', 'sim1', '+1', 'international', 'hi', 'gsm7', 1, 1, {recent});
                 INSERT INTO inbound_parts (modem, pdu, pdu_key, sender, sender_type, encoding, received_at)
                   VALUES ('sim1', '00', 'k1', '+1', 'international', 'gsm7', {old}),
                          ('sim1', '00', 'k2', '+1', 'international', 'gsm7', {recent});
                 INSERT INTO status_reports (modem, pdu_key, message_ref, recipient, status, matched, received_at)
                   VALUES ('sim1', 'r1', 1, '+1', 0, 1, {old});
                 INSERT INTO webhook_deliveries (id, event_seq, event_id, event_type, endpoint_kind, url, body, status, next_attempt_at, give_up_at, created_at, updated_at)
                   VALUES ('dlv_done', 1, 'evt', 'x', 'target', 'http://a/', '{{}}', 'delivered', {old}, {old}, {old}, {old}),
                          ('dlv_pending', 1, 'evt', 'x', 'target', 'http://a/', '{{}}', 'pending', {old}, {old}, {old}, {old});
                 INSERT INTO webhook_attempts (delivery_id, attempt, duration_ms, at) VALUES ('dlv_done', 1, 5, {old});
                 INSERT INTO verifications (id, recipient, code_hmac, status, max_attempts, last_sent_at, language, message_id, key_label, created_at, expires_at, updated_at)
                   VALUES ('otp_old', '+1', x'00', 'verified', 5, {old}, 'en', 'm', 'k', {old}, {old}, {old}),
                          ('otp_new', '+1', x'00', 'expired', 5, {recent}, 'en', 'm', 'k', {recent}, {recent}, {recent});
                 INSERT INTO reverse_verifications (id, number, factor, factor_key, recipient, status, max_attempts, language, key_label, created_at, expires_at, updated_at)
                   VALUES ('r_otp_old', '+1', 'F', 'f', '+2', 'expired', 5, 'en', 'k', {old}, {old}, {old});
                 INSERT INTO verify_requests (kind, recipient, key_label, created_at)
                   VALUES ('otp', '+1', 'k', {recent}), ('otp', '+1', 'k', {NOW});
                 INSERT INTO idempotency_keys (key_id, idem_key, request_hash, created_at, expires_at)
                   VALUES ('k', 'a', 'h', {recent}, {recent}), ('k', 'b', 'h', {NOW}, {later});",
                later = NOW + DAY_MS
            ),
        );
        assert_eq!(count(&store, "outbound_parts"), 12);

        let pruned = run_once(&store, &policy(30), NOW, 2).await.unwrap();
        assert_eq!(pruned.outbound_messages, 4, "the finished old ones");
        assert_eq!(
            count(&store, "outbound_messages"),
            2,
            "queued (old) and recent"
        );
        assert_eq!(count(&store, "outbound_parts"), 4);
        assert_eq!(
            (pruned.events, count(&store, "events")),
            (2, 1),
            "the event not yet fanned out stays"
        );
        assert_eq!(count(&store, "inbound_messages"), 1);
        assert_eq!(count(&store, "inbound_parts"), 1);
        assert_eq!(count(&store, "status_reports"), 0);
        assert_eq!(pruned.deliveries, 1);
        assert_eq!(count(&store, "webhook_deliveries"), 1, "pending stays");
        assert_eq!(count(&store, "webhook_attempts"), 0);
        assert_eq!(count(&store, "verifications"), 1);
        assert_eq!(count(&store, "reverse_verifications"), 0);
        assert_eq!(count(&store, "verify_requests"), 1, "only the last day");
        assert_eq!(count(&store, "idempotency_keys"), 1, "only unexpired");

        // 0 keeps everything but the rows with their own expiry.
        let again = run_once(&store, &policy(0), NOW + 100 * DAY_MS, 2)
            .await
            .unwrap();
        assert_eq!(again.total(), again.rate_log + again.idempotency_keys);
        assert_eq!(count(&store, "outbound_messages"), 2);
        assert_eq!(count(&store, "inbound_messages"), 1);
    }

    #[test]
    fn per_kind_overrides() {
        let config = Config::parse(
            "[retention]\ndays = 10\nevents_days = 0\nmessages_days = 2\n[webhooks]\nretention_days = 5",
        )
        .unwrap();
        let p = Policy::from_config(&config);
        assert_eq!(p.messages, Some(2 * DAY_MS));
        assert_eq!(p.events, None);
        assert_eq!(p.deliveries, Some(5 * DAY_MS));
        assert_eq!(p.verifications, Some(10 * DAY_MS));
    }
}
