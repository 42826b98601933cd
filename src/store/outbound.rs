//! The outbound queue. A message is accepted only once it and its encoded parts are committed
//! here; the pool then claims messages one at a time per modem.
//!
//! Part states and the crash rule: a part is marked `submitting` *before* its PDU is written to
//! the modem, `sent` when the modem answers `+CMGS`. After a crash, a `submitting` part may or
//! may not have reached the network, so it becomes `uncertain` and is never sent again: simgate
//! prefers a rare lost part to a duplicate SMS.

use super::{events, new_id, now_ms};
use crate::states::{MessageStatus, PartStatus};
use crate::store::db::{params, Connection, OptionalExtension};
use serde::Serialize;

/// A message to enqueue, already encoded.
#[derive(Debug, Clone)]
pub struct NewMessage {
    pub recipient: String,
    pub body: String,
    pub line: Option<String>,
    pub report: bool,
    pub encoding: String,
    /// `(tpdu_len, hex)` per part, as `AT+CMGS` takes them.
    pub parts: Vec<(usize, String)>,
    pub purpose: String,
    pub purpose_id: Option<String>,
}

/// Inserts the message and its parts in one transaction; returns the new id (`msg_…`).
pub fn enqueue(conn: &mut Connection, message: &NewMessage) -> crate::store::db::Result<String> {
    let tx = conn.transaction()?;
    let id = enqueue_in(&tx, message)?;
    tx.commit()?;
    Ok(id)
}

/// Purpose of the SMS that carry verification codes.
pub const PURPOSE_CODE: &str = "otp";

/// Purpose of an SMS carrying an auth server's code (`/hooks/…`).
pub const PURPOSE_HOOK_CODE: &str = "hook";

/// Claim priority of a message: verification codes, ours or an auth server's (they expire, and a
/// person is waiting for them), before everything else.
pub fn priority_for(purpose: &str) -> i64 {
    i64::from(purpose == PURPOSE_CODE || purpose == PURPOSE_HOOK_CODE)
}

/// The same inside the caller's transaction (an OTP and its SMS commit together).
pub fn enqueue_in(conn: &Connection, message: &NewMessage) -> crate::store::db::Result<String> {
    let id = new_id("msg");
    let now = now_ms();
    conn.execute(
        "INSERT INTO outbound_messages (id, recipient, body, line, status, encoding, parts_total, report,
             purpose, purpose_id, created_at, updated_at, priority)
         VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11)",
        params![
            id,
            message.recipient,
            message.body,
            message.line,
            message.encoding,
            message.parts.len() as i64,
            message.report,
            message.purpose,
            message.purpose_id,
            now,
            priority_for(&message.purpose)
        ],
    )?;
    let mut insert = conn.prepare_cached(
        "INSERT INTO outbound_parts (message_id, seq, tpdu_len, pdu, status) VALUES (?1, ?2, ?3, ?4, 'queued')",
    )?;
    for (i, (len, hex)) in message.parts.iter().enumerate() {
        insert.execute(params![id, i as i64 + 1, *len as i64, hex])?;
    }
    Ok(id)
}

/// A message claimed by one modem, with the parts still to send.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: String,
    pub recipient: String,
    pub attempts: u32,
    pub pending: Vec<PendingPart>,
    /// Set when the message was started on another modem that went away: its parts are sent
    /// again, all of them, from this one (see [`claim_next`]).
    pub restarted_from: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PendingPart {
    pub seq: u32,
    pub tpdu_len: usize,
    pub pdu: String,
}

/// Which messages a claim may take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claimable {
    /// Any: codes first, then the oldest.
    Any,
    /// Verification codes only (plain texts have used their share of the send caps).
    CodesOnly,
}

/// What [`claim`] did.
#[derive(Debug, Default)]
pub struct Claim {
    pub claimed: Option<Claimed>,
    /// Code SMS withdrawn on the way because their verification had ended.
    pub withdrawn: Vec<String>,
}

/// [`claim`] of any message, codes first.
pub fn claim_next(
    conn: &mut Connection,
    modem: &str,
    restart_after_ms: i64,
) -> crate::store::db::Result<Option<Claimed>> {
    Ok(claim(conn, modem, restart_after_ms, Claimable::Any)?.claimed)
}

/// Claims the next due message this modem may send (unpinned, or pinned to it): verification
/// codes first, then the oldest. Code SMS whose verification has ended are withdrawn first, in
/// the same transaction, so a dead code is never sent.
///
/// A phone joins the parts of a long SMS only when they come from the same number, so a
/// message some of whose parts already left from another modem stays with that modem. Only
/// when it has been back in the queue for `restart_after_ms` (that modem is gone, or keeps
/// failing) may this modem take it, and then it sends the whole message again: the recipient
/// gets it complete from this number, plus the stray first parts from the old one.
pub fn claim(
    conn: &mut Connection,
    modem: &str,
    restart_after_ms: i64,
    claimable: Claimable,
) -> crate::store::db::Result<Claim> {
    let tx = conn.transaction()?;
    let claim = claim_in(&tx, modem, restart_after_ms, claimable)?;
    tx.commit()?;
    Ok(claim)
}

/// [`claim`] inside the caller's transaction (an accepting transaction claiming for a modem
/// that stands by: [`super::standby`]).
pub fn claim_in(
    tx: &Connection,
    modem: &str,
    restart_after_ms: i64,
    claimable: Claimable,
) -> crate::store::db::Result<Claim> {
    let now = now_ms();
    let withdrawn = withdraw_ended_codes(tx, now)?;
    let row: Option<(String, String, u32)> = tx
        .query_row(
            "SELECT id, recipient, attempts FROM outbound_messages m
             WHERE status = 'queued' AND not_before <= ?1 AND (line IS NULL OR line = ?2)
               AND (?4 = 0 OR priority > 0)
               AND (updated_at <= ?3 OR NOT (
                     EXISTS (SELECT 1 FROM outbound_parts p
                             WHERE p.message_id = m.id AND p.modem IS NOT NULL AND p.modem != ?2)
                 AND EXISTS (SELECT 1 FROM outbound_parts p
                             WHERE p.message_id = m.id AND p.status = 'queued')))
             ORDER BY priority DESC, created_at LIMIT 1",
            params![
                now,
                modem,
                now - restart_after_ms,
                claimable == Claimable::CodesOnly
            ],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let Some((id, recipient, attempts)) = row else {
        return Ok(Claim {
            claimed: None,
            withdrawn,
        });
    };
    let started_elsewhere: Option<String> = tx
        .query_row(
            "SELECT p.modem FROM outbound_parts p
             WHERE p.message_id = ?1 AND p.modem IS NOT NULL AND p.modem != ?2
               AND EXISTS (SELECT 1 FROM outbound_parts q WHERE q.message_id = ?1 AND q.status = 'queued')
             ORDER BY p.seq LIMIT 1",
            params![id, modem],
            |r| r.get(0),
        )
        .optional()?;
    if let Some(old) = &started_elsewhere {
        tx.execute(
            "UPDATE outbound_parts SET status = 'queued', modem = NULL, message_ref = NULL,
                 submitted_at = NULL, sent_at = NULL, report_status = NULL, report_at = NULL,
                 error = ?2
             WHERE message_id = ?1",
            params![
                id,
                format!("restarted on {modem}: {old} went away mid-message")
            ],
        )?;
    }
    tx.execute(
        "UPDATE outbound_messages SET status = 'sending', modem = ?2, attempts = attempts + 1, updated_at = ?3 WHERE id = ?1",
        params![id, modem, now],
    )?;
    let pending = {
        let mut stmt = tx.prepare_cached(
            "SELECT seq, tpdu_len, pdu FROM outbound_parts WHERE message_id = ?1 AND status = 'queued' ORDER BY seq",
        )?;
        let rows = stmt.query_map([&id], |r| {
            Ok(PendingPart {
                seq: r.get(0)?,
                tpdu_len: r.get::<_, i64>(1)? as usize,
                pdu: r.get(2)?,
            })
        })?;
        rows.collect::<crate::store::db::Result<Vec<_>>>()?
    };
    Ok(Claim {
        claimed: Some(Claimed {
            id,
            recipient,
            attempts: attempts + 1,
            pending,
            restarted_from: started_elsewhere,
        }),
        withdrawn,
    })
}

/// Queued code SMS whose verification is over (verified, locked, cancelled, or past its expiry)
/// are withdrawn: status `withdrawn`, parts too, with a `message.status` event. A message
/// already being sent is left to finish. Returns the withdrawn ids. Served by the
/// index `outbound_codes_waiting` (purpose, status).
pub fn withdraw_ended_codes(conn: &Connection, now: i64) -> crate::store::db::Result<Vec<String>> {
    let ended: Vec<(String, crate::verify::OtpStatus)> = {
        let mut stmt = conn.prepare_cached(
            "SELECT m.id, v.status FROM outbound_messages m JOIN verifications v ON v.id = m.purpose_id
             WHERE m.status = 'queued' AND m.purpose = 'otp'
               AND (v.status != 'pending' OR v.expires_at <= ?1)",
        )?;
        let rows = stmt.query_map([now], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<crate::store::db::Result<_>>()?
    };
    let mut withdrawn = Vec::with_capacity(ended.len());
    for (id, verification) in ended {
        let why = match verification {
            crate::verify::OtpStatus::Pending => "the verification expired".to_string(),
            other => format!("the verification is {}", other.as_str()),
        };
        let reason = format!("withdrawn before sending: {why}");
        let changed = conn.execute(
            "UPDATE outbound_messages SET status = 'withdrawn', error = ?2, updated_at = ?3
             WHERE id = ?1 AND status = 'queued'",
            params![id, reason, now],
        )?;
        if changed == 0 {
            continue;
        }
        conn.execute(
            "UPDATE outbound_parts SET status = 'withdrawn' WHERE message_id = ?1 AND status = 'queued'",
            [&id],
        )?;
        status_event(conn, &id, MessageStatus::Withdrawn, Some(&reason))?;
        withdrawn.push(id);
    }
    Ok(withdrawn)
}

/// The part is about to be written to the modem (see the crash rule above).
pub fn mark_submitting(
    conn: &Connection,
    id: &str,
    seq: u32,
    modem: &str,
) -> crate::store::db::Result<()> {
    conn.execute(
        "UPDATE outbound_parts SET status = 'submitting', modem = ?3, submitted_at = ?4 WHERE message_id = ?1 AND seq = ?2",
        params![id, seq, modem, now_ms()],
    )?;
    Ok(())
}

pub fn mark_sent(
    conn: &Connection,
    id: &str,
    seq: u32,
    message_ref: Option<u8>,
) -> crate::store::db::Result<()> {
    let tx = conn.unchecked_transaction()?;
    tx.execute(
        "UPDATE outbound_parts SET status = 'sent', message_ref = ?3, sent_at = ?4 WHERE message_id = ?1 AND seq = ?2",
        params![id, seq, message_ref, now_ms()],
    )?;
    if let Some(message_ref) = message_ref {
        apply_early_reports(&tx, id, seq, message_ref)?;
    }
    tx.commit()
}

/// Unmatched reports about one part (`?1` message, `?2` seq, `?3` reference), oldest first;
/// served by the partial index `status_reports_unmatched`.
const EARLY_REPORTS: &str = "SELECT r.id, r.status FROM status_reports r JOIN outbound_parts p
       ON p.message_id = ?1 AND p.seq = ?2 AND r.modem = p.modem
     WHERE r.message_ref = ?3 AND r.matched = 0 AND r.received_at >= p.submitted_at
     ORDER BY r.received_at, r.id";

/// A status report can overtake the record of its own send: the modem answers `+CMGS` and
/// the `+CDS` in one breath, and the report is committed before the pool has stored the
/// reference. Such a report was kept unmatched; it is applied now, once the part has its
/// reference. Only reports received after the part was submitted can be about it.
fn apply_early_reports(
    conn: &Connection,
    id: &str,
    seq: u32,
    message_ref: u8,
) -> crate::store::db::Result<()> {
    let early: Vec<(i64, u8)> = {
        let mut stmt = conn.prepare_cached(EARLY_REPORTS)?;
        let rows = stmt.query_map(params![id, seq, message_ref], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        rows.collect::<crate::store::db::Result<_>>()?
    };
    for (report, status) in early {
        apply_report_to_part(conn, id, seq, status)?;
        conn.execute(
            "UPDATE status_reports SET matched = 1 WHERE id = ?1",
            [report],
        )?;
    }
    Ok(())
}

/// The PDU was written but the modem never answered: never resend it.
pub fn mark_uncertain(
    conn: &Connection,
    id: &str,
    seq: u32,
    reason: &str,
) -> crate::store::db::Result<()> {
    conn.execute(
        "UPDATE outbound_parts SET status = 'uncertain', error = ?3, sent_at = ?4 WHERE message_id = ?1 AND seq = ?2",
        params![id, seq, reason, now_ms()],
    )?;
    Ok(())
}

/// A part that was cancelled at the prompt goes back to the queue state.
pub fn unmark_submitting(conn: &Connection, id: &str, seq: u32) -> crate::store::db::Result<()> {
    conn.execute(
        "UPDATE outbound_parts SET status = 'queued', modem = NULL, submitted_at = NULL WHERE message_id = ?1 AND seq = ?2 AND status = 'submitting'",
        params![id, seq],
    )?;
    Ok(())
}

/// Every part went out: the message is sent.
pub fn finish_sent(conn: &Connection, id: &str) -> crate::store::db::Result<()> {
    let tx = conn.transaction()?;
    tx.execute(
        "UPDATE outbound_messages SET status = 'sent', error = NULL, updated_at = ?2 WHERE id = ?1",
        params![id, now_ms()],
    )?;
    status_event(&tx, id, MessageStatus::Sent, None)?;
    // Reports that came while the later parts were going out.
    roll_up(&tx, id)?;
    tx.commit()
}

/// Gives a message back to the queue after a failed attempt, or fails it for good once it has
/// had `max_attempts` tries.
pub fn release(
    conn: &mut Connection,
    id: &str,
    reason: &str,
    retry_in_ms: i64,
    max_attempts: u32,
) -> crate::store::db::Result<()> {
    let tx = conn.transaction()?;
    let attempts: u32 = tx.query_row(
        "SELECT attempts FROM outbound_messages WHERE id = ?1",
        [id],
        |r| r.get(0),
    )?;
    if attempts >= max_attempts {
        fail_in(&tx, id, &format!("{reason} (after {attempts} attempts)"))?;
    } else {
        tx.execute(
            "UPDATE outbound_messages SET status = 'queued', modem = NULL, error = ?2, not_before = ?3, updated_at = ?4 WHERE id = ?1",
            params![id, reason, now_ms() + retry_in_ms, now_ms()],
        )?;
    }
    tx.commit()
}

pub fn fail(conn: &mut Connection, id: &str, reason: &str) -> crate::store::db::Result<()> {
    let tx = conn.transaction()?;
    fail_in(&tx, id, reason)?;
    tx.commit()
}

fn fail_in(conn: &Connection, id: &str, reason: &str) -> crate::store::db::Result<()> {
    conn.execute(
        "UPDATE outbound_messages SET status = 'failed', error = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, reason, now_ms()],
    )?;
    conn.execute(
        "UPDATE outbound_parts SET status = 'failed', error = ?2 WHERE message_id = ?1 AND status = 'queued'",
        params![id, reason],
    )?;
    status_event(conn, id, MessageStatus::Failed, Some(reason))?;
    Ok(())
}

fn status_event(
    conn: &Connection,
    id: &str,
    status: MessageStatus,
    error: Option<&str>,
) -> crate::store::db::Result<()> {
    let (recipient, modem, purpose, purpose_id): (String, Option<String>, String, Option<String>) =
        conn.query_row(
            "SELECT recipient, modem, purpose, purpose_id FROM outbound_messages WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
        )?;
    events::append(
        conn,
        crate::states::EventKind::MessageStatus,
        &serde_json::json!({
            "message_id": id, "to": recipient, "status": status, "modem": modem,
            "error": error, "purpose": purpose, "purpose_id": purpose_id,
        }),
    )?;
    Ok(())
}

/// After a crash: parts caught between commit and answer become `uncertain` (never resent);
/// messages caught mid-send go back to the queue for their remaining parts. Their clock
/// restarts, so a long message waits for the modem that began it however long we were down.
pub fn recover(conn: &mut Connection) -> crate::store::db::Result<(usize, usize)> {
    recover_modems(conn, None)
}

/// [`recover`] limited to the work of these modems (a host sharing the database recovers only
/// its own, or a silent host's); `None`: all of it.
pub fn recover_modems(
    conn: &Connection,
    modems: Option<&[String]>,
) -> crate::store::db::Result<(usize, usize)> {
    let tx = conn.transaction()?;
    let (mut uncertain, mut requeued) = (0, 0);
    let everything = [None];
    let scopes: Vec<Option<&String>> = match modems {
        None => everything.to_vec(),
        Some(names) => names.iter().map(Some).collect(),
    };
    for modem in scopes {
        uncertain += tx.execute(
            "UPDATE outbound_parts SET status = 'uncertain', error = 'daemon stopped while the modem was sending', sent_at = submitted_at
             WHERE status = 'submitting' AND (CAST(?1 AS TEXT) IS NULL OR modem = ?1)",
            [modem],
        )?;
        requeued += tx.execute(
            "UPDATE outbound_messages SET status = 'queued', modem = NULL, updated_at = ?1
             WHERE status = 'sending' AND (CAST(?2 AS TEXT) IS NULL OR modem = ?2)",
            params![now_ms(), modem],
        )?;
    }
    // A requeued message whose parts all went out is simply sent.
    let done: Vec<String> = {
        let mut stmt = tx.prepare(
            "SELECT id FROM outbound_messages m WHERE status = 'queued'
             AND NOT EXISTS (SELECT 1 FROM outbound_parts p WHERE p.message_id = m.id AND p.status = 'queued')",
        )?;
        let rows = stmt.query_map([], |r| r.get(0))?;
        rows.collect::<crate::store::db::Result<_>>()?
    };
    for id in done {
        tx.execute(
            "UPDATE outbound_messages SET status = 'sent', updated_at = ?2 WHERE id = ?1",
            params![id, now_ms()],
        )?;
        status_event(&tx, &id, MessageStatus::Sent, None)?;
    }
    tx.commit()?;
    Ok((uncertain, requeued))
}

/// Parts this modem put on the network in the last minute, hour and day (for send caps).
pub fn sent_counts(conn: &Connection, modem: &str) -> crate::store::db::Result<[u32; 3]> {
    let now = now_ms();
    let mut stmt = conn.prepare_cached(
        "SELECT
            COALESCE(SUM(CASE WHEN submitted_at > ?2 THEN 1 ELSE 0 END), 0),
            COALESCE(SUM(CASE WHEN submitted_at > ?3 THEN 1 ELSE 0 END), 0),
            COUNT(*)
         FROM outbound_parts WHERE modem = ?1 AND submitted_at > ?4",
    )?;
    stmt.query_row(
        params![modem, now - 60_000, now - 3_600_000, now - 86_400_000],
        |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?]),
    )
}

/// Applies a status report to the most recent part this modem sent with that reference.
/// Returns the message id and its new status when the message changed state.
pub fn apply_status_report(
    conn: &Connection,
    modem: &str,
    message_ref: u8,
    status: u8,
) -> crate::store::db::Result<Option<ReportMatch>> {
    let found: Option<(String, u32)> = conn
        .query_row(
            "SELECT message_id, seq FROM outbound_parts
             WHERE modem = ?1 AND message_ref = ?2 AND sent_at > ?3
             ORDER BY sent_at DESC LIMIT 1",
            params![modem, message_ref, now_ms() - 7 * 86_400_000],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((id, seq)) = found else {
        return Ok(None);
    };
    let changed_to = apply_report_to_part(conn, id.as_str(), seq, status)?;
    Ok(Some(ReportMatch {
        message_id: id,
        changed_to,
    }))
}

/// The part a status report was about, and the message's new status if the report changed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportMatch {
    pub message_id: String,
    pub changed_to: Option<MessageStatus>,
}

/// Records a report's verdict on one part and rolls it up into the message.
fn apply_report_to_part(
    conn: &Connection,
    id: &str,
    seq: u32,
    status: u8,
) -> crate::store::db::Result<Option<MessageStatus>> {
    let part_status = match status {
        0x00..=0x1f => PartStatus::Delivered,
        0x20..=0x3f => PartStatus::Sent, // the SMSC is still trying
        _ => PartStatus::Failed,
    };
    conn.execute(
        "UPDATE outbound_parts SET status = ?3, report_status = ?4, report_at = ?5 WHERE message_id = ?1 AND seq = ?2",
        params![id, seq, part_status, status, now_ms()],
    )?;
    roll_up(conn, id)
}

/// Moves a sent message to `delivered` once every part is, or to `failed` once a report failed
/// one. A message still being sent is left alone: [`finish_sent`] rolls it up at the end.
fn roll_up(conn: &Connection, id: &str) -> crate::store::db::Result<Option<MessageStatus>> {
    let (total, delivered, failed, report_status): (u32, u32, u32, Option<u8>) = conn.query_row(
        "SELECT COUNT(*), COALESCE(SUM(CASE WHEN status = 'delivered' THEN 1 ELSE 0 END), 0), COALESCE(SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END), 0),
                MAX(CASE WHEN status = 'failed' THEN report_status END)
         FROM outbound_parts WHERE message_id = ?1",
        [id],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    )?;
    let current: MessageStatus = conn.query_row(
        "SELECT status FROM outbound_messages WHERE id = ?1",
        [id],
        |r| r.get(0),
    )?;
    if !matches!(current, MessageStatus::Sent | MessageStatus::Delivered) {
        return Ok(None);
    }
    let next = if failed > 0 {
        MessageStatus::Failed
    } else if delivered == total {
        MessageStatus::Delivered
    } else {
        return Ok(None);
    };
    if current == next {
        return Ok(None);
    }
    let error = report_status.map(|status| format!("status report {status:#04x}"));
    conn.execute(
        "UPDATE outbound_messages SET status = ?2, error = ?3, updated_at = ?4 WHERE id = ?1",
        params![id, next, error, now_ms()],
    )?;
    status_event(conn, id, next, error.as_deref())?;
    Ok(Some(next))
}

/// An outbound message as the API shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OutboundView {
    pub id: String,
    pub to: String,
    pub body: String,
    pub status: MessageStatus,
    pub encoding: String,
    pub parts_total: u32,
    pub modem: Option<String>,
    pub attempts: u32,
    pub error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub parts: Vec<PartView>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PartView {
    pub seq: u32,
    pub status: PartStatus,
    pub modem: Option<String>,
    pub message_ref: Option<u8>,
    pub report_status: Option<u8>,
}

pub fn get(conn: &Connection, id: &str) -> crate::store::db::Result<Option<OutboundView>> {
    let view = conn
        .query_row(
            "SELECT id, recipient, body, status, encoding, parts_total, modem, attempts, error, created_at, updated_at
             FROM outbound_messages WHERE id = ?1",
            [id],
            |r| {
                Ok(OutboundView {
                    id: r.get(0)?,
                    to: r.get(1)?,
                    body: r.get(2)?,
                    status: r.get(3)?,
                    encoding: r.get(4)?,
                    parts_total: r.get(5)?,
                    modem: r.get(6)?,
                    attempts: r.get(7)?,
                    error: r.get(8)?,
                    created_at: r.get(9)?,
                    updated_at: r.get(10)?,
                    parts: Vec::new(),
                })
            },
        )
        .optional()?;
    let Some(mut view) = view else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT seq, status, modem, message_ref, report_status FROM outbound_parts WHERE message_id = ?1 ORDER BY seq",
    )?;
    view.parts = stmt
        .query_map([id], |r| {
            Ok(PartView {
                seq: r.get(0)?,
                status: r.get(1)?,
                modem: r.get(2)?,
                message_ref: r.get(3)?,
                report_status: r.get(4)?,
            })
        })?
        .collect::<crate::store::db::Result<_>>()?;
    Ok(Some(view))
}

/// Messages waiting to be sent (for queue depth metrics).
pub fn queue_depth(conn: &Connection) -> crate::store::db::Result<u64> {
    conn.query_row(
        "SELECT COUNT(*) FROM outbound_messages WHERE status IN ('queued', 'sending')",
        [],
        |r| r.get(0),
    )
}

#[cfg(test)]
mod tests;
