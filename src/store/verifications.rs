//! The `verifications` table (standard OTP): each operation is one transaction, so the
//! invariants of [`crate::verify`] hold: a verification and its SMS are committed together,
//! attempts are counted before the comparison, a code SMS still queued when its verification
//! ends is withdrawn in the transaction that ends it, and `otp.*` events are written in the
//! transaction that caused them.
//!
//! The decisions that need secrets or policy (does this code match? what text does a resend
//! carry?) are made by the caller's closures; the state moves are made here.

use super::{events, now_ms, outbound, ratelimit, standby, Result, Store};
use crate::store::db::{params, Connection, OptionalExtension};
use crate::store::outbound::NewMessage;
use crate::verify::ratelimit::{Limited, Limits, Subject};
use crate::verify::{CheckResult, CodeType, OtpStatus, Resent};

/// A verification as stored (with its code's HMAC: never shown).
#[derive(Debug, Clone)]
pub struct VerificationRow {
    pub id: String,
    pub recipient: String,
    pub country: Option<String>,
    pub code_hmac: Vec<u8>,
    pub status: OtpStatus,
    pub attempts: u32,
    pub max_attempts: u32,
    pub resends: u32,
    pub last_sent_at: i64,
    pub language: String,
    pub app_name: Option<String>,
    pub message_id: String,
    pub key_label: String,
    pub client_ip: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub verified_at: Option<i64>,
    pub code_type: CodeType,
    pub code_length: Option<u32>,
    pub line: Option<String>,
    pub callback_url: Option<String>,
    pub service: Option<String>,
}

impl VerificationRow {
    fn load(conn: &Connection, id: &str) -> crate::store::db::Result<Option<VerificationRow>> {
        conn.query_row(
            "SELECT id, recipient, country, code_hmac, status, attempts, max_attempts, resends,
                    last_sent_at, language, app_name, message_id, key_label, client_ip,
                    created_at, expires_at, verified_at,
                    code_type, code_length, line, callback_url, service
             FROM verifications WHERE id = ?1",
            [id],
            |r| {
                Ok(VerificationRow {
                    id: r.get(0)?,
                    recipient: r.get(1)?,
                    country: r.get(2)?,
                    code_hmac: r.get(3)?,
                    status: r.get(4)?,
                    attempts: r.get(5)?,
                    max_attempts: r.get(6)?,
                    resends: r.get(7)?,
                    last_sent_at: r.get(8)?,
                    language: r.get(9)?,
                    app_name: r.get(10)?,
                    message_id: r.get(11)?,
                    key_label: r.get(12)?,
                    client_ip: r.get(13)?,
                    created_at: r.get(14)?,
                    expires_at: r.get(15)?,
                    verified_at: r.get(16)?,
                    code_type: CodeType::from_db(r.get::<_, Option<String>>(17)?.as_deref()),
                    code_length: r.get(18)?,
                    line: r.get(19)?,
                    callback_url: r.get(20)?,
                    service: r.get(21)?,
                })
            },
        )
        .optional()
    }

    /// Attempts left, as the API shows them.
    pub fn attempts_left(&self) -> u32 {
        if self.status == OtpStatus::Locked {
            0
        } else {
            self.max_attempts.saturating_sub(self.attempts)
        }
    }
}

/// A new verification, as [`Store::create_verification`] stores it.
#[derive(Debug, Clone)]
pub struct NewVerification {
    pub id: String,
    pub recipient: String,
    pub country: Option<String>,
    pub code_hmac: Vec<u8>,
    pub max_attempts: u32,
    pub ttl_ms: i64,
    pub language: String,
    pub app_name: Option<String>,
    pub key_label: String,
    pub client_ip: Option<String>,
    pub code_type: CodeType,
    pub code_length: u32,
    pub line: Option<String>,
    pub callback_url: Option<String>,
    pub service: Option<String>,
}

/// What a resend may do, from `[otp]`.
#[derive(Debug, Clone, Copy)]
pub struct ResendPolicy {
    pub max_resends: u32,
    pub cooldown_ms: i64,
    pub limits: Limits,
}

/// Why a resend did not happen, when it is not simply refused.
#[derive(Debug)]
pub enum ResendBlocked<E> {
    NotFound,
    RateLimited(Limited),
    /// The caller's `prepare` refused the message.
    Prepare(E),
}

/// Ends a pending verification as `status` (locked or expired); when that changed the row and
/// the verification has a `callback_url`, appends `otp.failed` / `otp.expired` for it.
fn finish(
    conn: &Connection,
    row: &VerificationRow,
    status: OtpStatus,
    now: i64,
) -> crate::store::db::Result<bool> {
    let changed = conn.execute(
        "UPDATE verifications SET status = ?2, updated_at = ?3 WHERE id = ?1 AND status = 'pending'",
        params![row.id, status, now],
    )? == 1;
    if changed {
        if let Some(url) = row.callback_url.as_deref() {
            let (kind, word) = match status {
                OtpStatus::Locked => (events::EventKind::OtpFailed, "failed"),
                _ => (events::EventKind::OtpExpired, "expired"),
            };
            events::append_with_target(
                conn,
                kind,
                &serde_json::json!({
                    "otp_id": row.id,
                    "to": row.recipient,
                    "status": word,
                    "at": now,
                }),
                Some(url),
            )?;
        }
    }
    Ok(changed)
}

/// Marks pending verifications past their expiry as expired, with `otp.expired` for those
/// with a `callback_url`. Returns how many expired.
pub fn expire_due(conn: &mut Connection, now_ms: i64) -> crate::store::db::Result<usize> {
    let tx = conn.transaction()?;
    let ids: Vec<String> = {
        let mut stmt = tx.prepare(
            "SELECT id FROM verifications WHERE status = 'pending' AND expires_at <= ?1 LIMIT 500",
        )?;
        let rows = stmt.query_map([now_ms], |r| r.get(0))?;
        rows.collect::<crate::store::db::Result<_>>()?
    };
    let mut expired = 0;
    for id in &ids {
        if let Some(row) = VerificationRow::load(&tx, id)? {
            expired += usize::from(finish(&tx, &row, OtpStatus::Expired, now_ms)?);
        }
    }
    tx.commit()?;
    Ok(expired)
}

/// What replaces a code-bearing SMS text once the code is dead.
pub const REDACTED_BODY: &str = "[code removed after the verification ended]";

/// OTP messages still carrying their code whose verification is over (`?1`: now). The body
/// literal is [`REDACTED_BODY`], written out so that SQLite reads the partial index
/// `outbound_codes_unredacted` (only messages not yet redacted) instead of every OTP message.
const FINISHED_CODES: &str =
    "SELECT m.id FROM outbound_messages m JOIN verifications v ON v.id = m.purpose_id
     WHERE m.purpose = 'otp' AND m.body != '[code removed after the verification ended]'
       AND m.status NOT IN ('queued', 'sending')
       AND (v.status != 'pending' OR v.expires_at <= ?1)";

/// Replaces the text and PDUs of OTP messages whose verification is over (verified, locked,
/// cancelled, or past its expiry) and whose SMS is no longer waiting to be sent. Returns how
/// many messages were redacted.
pub fn redact_finished_codes(
    conn: &mut Connection,
    now_ms: i64,
) -> crate::store::db::Result<usize> {
    let tx = conn.transaction()?;
    let ids: Vec<String> = {
        let mut stmt = tx.prepare(FINISHED_CODES)?;
        let rows = stmt.query_map([now_ms], |r| r.get(0))?;
        rows.collect::<crate::store::db::Result<_>>()?
    };
    for id in &ids {
        tx.execute(
            "UPDATE outbound_messages SET body = ?2 WHERE id = ?1",
            params![id, REDACTED_BODY],
        )?;
        tx.execute(
            "UPDATE outbound_parts SET pdu = '' WHERE message_id = ?1",
            [id],
        )?;
    }
    tx.commit()?;
    Ok(ids.len())
}

impl Store {
    /// Rate limits checked and recorded, the code SMS queued and the verification stored, in
    /// one transaction. Returns the message id and the expiry.
    pub async fn create_verification(
        &self,
        new: NewVerification,
        message: NewMessage,
        limits: Limits,
    ) -> Result<std::result::Result<(String, i64), Limited>> {
        let standby = self.standby().clone();
        self.call(move |c| {
            let tx = c.transaction()?;
            let now = now_ms();
            let subject = Subject {
                number: &new.recipient,
                key_label: &new.key_label,
                ip: new.client_ip.as_deref(),
            };
            if let Err(limited) = ratelimit::check_and_record(&tx, &limits, &subject, "otp", now)? {
                return Ok(Err(limited));
            }
            let message_id = outbound::enqueue_in(&tx, &message)?;
            let expires_at = now + new.ttl_ms;
            tx.execute(
                "INSERT INTO verifications (id, recipient, country, code_hmac, status, max_attempts,
                     last_sent_at, language, app_name, message_id, key_label, client_ip,
                     created_at, expires_at, updated_at,
                     code_type, code_length, line, callback_url, service)
                 VALUES (?1, ?2, ?3, ?4, ?18, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?6, ?12, ?6,
                     ?13, ?14, ?15, ?16, ?17)",
                params![
                    new.id,
                    new.recipient,
                    new.country,
                    new.code_hmac,
                    new.max_attempts,
                    now,
                    new.language,
                    new.app_name,
                    message_id,
                    new.key_label,
                    new.client_ip,
                    expires_at,
                    new.code_type.as_str(),
                    new.code_length,
                    new.line,
                    new.callback_url,
                    new.service,
                    OtpStatus::Pending,
                ],
            )?;
            standby::hand_over_in(&tx, &standby, &message)?;
            tx.commit()?;
            Ok(Ok((message_id, expires_at)))
        })
        .await
    }

    /// Checks a code: the attempt is counted before `matches` compares it, and the
    /// verification locks when the attempts are used up; a queued code SMS of a verification
    /// that ended is withdrawn. Returns the result and how many SMS were withdrawn; `None`:
    /// no such verification.
    pub async fn check_code<F>(
        &self,
        id: String,
        matches: F,
    ) -> Result<Option<(CheckResult, usize)>>
    where
        F: FnOnce(&VerificationRow) -> bool + Send + 'static,
    {
        self.call(move |c| {
            let tx = c.transaction()?;
            let Some(row) = VerificationRow::load(&tx, &id)? else {
                return Ok(None);
            };
            let now = now_ms();
            let status = row.status.at(row.expires_at, now);
            if status != OtpStatus::Pending {
                if status == OtpStatus::Expired && row.status == OtpStatus::Pending {
                    finish(&tx, &row, OtpStatus::Expired, now)?;
                }
                let withdrawn = outbound::withdraw_ended_codes(&tx, now)?.len();
                tx.commit()?;
                return Ok(Some((
                    CheckResult {
                        verified: false,
                        status,
                        attempts_left: row.attempts_left(),
                    },
                    withdrawn,
                )));
            }
            let counted = tx.execute(
                "UPDATE verifications SET attempts = attempts + 1, updated_at = ?2
                 WHERE id = ?1 AND status = 'pending' AND attempts < max_attempts",
                params![id, now],
            )?;
            if counted == 0 {
                finish(&tx, &row, OtpStatus::Locked, now)?;
                let withdrawn = outbound::withdraw_ended_codes(&tx, now)?.len();
                tx.commit()?;
                return Ok(Some((
                    CheckResult {
                        verified: false,
                        status: OtpStatus::Locked,
                        attempts_left: 0,
                    },
                    withdrawn,
                )));
            }
            let attempts = row.attempts + 1;
            let attempts_left = row.max_attempts.saturating_sub(attempts);
            let result = if matches(&row) {
                tx.execute(
                    "UPDATE verifications SET status = ?3, verified_at = ?2, updated_at = ?2
                     WHERE id = ?1 AND status = 'pending'",
                    params![id, now, OtpStatus::Verified],
                )?;
                events::append_with_target(
                    &tx,
                    events::EventKind::OtpVerified,
                    &serde_json::json!({
                        "otp_id": id,
                        "to": row.recipient,
                        "status": "verified",
                        "verified_at": now,
                    }),
                    row.callback_url.as_deref(),
                )?;
                CheckResult {
                    verified: true,
                    status: OtpStatus::Verified,
                    attempts_left,
                }
            } else if attempts >= row.max_attempts {
                finish(&tx, &row, OtpStatus::Locked, now)?;
                CheckResult {
                    verified: false,
                    status: OtpStatus::Locked,
                    attempts_left: 0,
                }
            } else {
                CheckResult {
                    verified: false,
                    status: OtpStatus::Pending,
                    attempts_left,
                }
            };
            // A code SMS still queued (a resend) is of no use any more.
            let withdrawn = if result.status == OtpStatus::Pending {
                0
            } else {
                outbound::withdraw_ended_codes(&tx, now)?.len()
            };
            tx.commit()?;
            Ok(Some((result, withdrawn)))
        })
        .await
    }

    /// Queues the same code again (the first SMS's text, through `prepare`), without extending
    /// the expiry, under the resend policy and the rate limits, in one transaction.
    pub async fn resend_code<F, E>(
        &self,
        id: String,
        policy: ResendPolicy,
        prepare: F,
    ) -> Result<std::result::Result<Resent, ResendBlocked<E>>>
    where
        F: FnOnce(&VerificationRow, String) -> std::result::Result<NewMessage, E> + Send + 'static,
        E: Send + 'static,
    {
        let standby = self.standby().clone();
        self.call(move |c| {
            let tx = c.transaction()?;
            let Some(row) = VerificationRow::load(&tx, &id)? else {
                return Ok(Err(ResendBlocked::NotFound));
            };
            let now = now_ms();
            let refused = |retry_after_secs| {
                Ok(Ok(Resent {
                    resent: false,
                    retry_after_secs,
                }))
            };
            if row.status.at(row.expires_at, now) != OtpStatus::Pending
                || row.resends >= policy.max_resends
            {
                return refused(None);
            }
            let cooldown_ends = row.last_sent_at + policy.cooldown_ms;
            if now < cooldown_ends {
                return refused(Some(crate::verify::ratelimit::retry_secs(
                    cooldown_ends - now,
                )));
            }
            let subject = Subject {
                number: &row.recipient,
                key_label: &row.key_label,
                ip: row.client_ip.as_deref(),
            };
            if let Err(limited) =
                ratelimit::check_and_record(&tx, &policy.limits, &subject, "resend", now)?
            {
                return Ok(Err(ResendBlocked::RateLimited(limited)));
            }
            // The first SMS holds the code; the code itself is not kept anywhere else.
            let body: Option<String> = tx
                .query_row(
                    "SELECT body FROM outbound_messages WHERE id = ?1",
                    [&row.message_id],
                    |r| r.get(0),
                )
                .optional()?;
            let Some(body) = body else {
                return refused(None);
            };
            let message = match prepare(&row, body) {
                Ok(message) => message,
                Err(e) => return Ok(Err(ResendBlocked::Prepare(e))),
            };
            outbound::enqueue_in(&tx, &message)?;
            tx.execute(
                "UPDATE verifications SET resends = resends + 1, last_sent_at = ?2, updated_at = ?2 WHERE id = ?1",
                params![id, now],
            )?;
            standby::hand_over_in(&tx, &standby, &message)?;
            tx.commit()?;
            Ok(Ok(Resent {
                resent: true,
                retry_after_secs: None,
            }))
        })
        .await
    }

    /// Cancels a pending verification (its queued code SMS withdrawn, in the same
    /// transaction); returns the row as it is after, and how many SMS were withdrawn.
    pub async fn cancel_verification(
        &self,
        id: String,
    ) -> Result<(Option<VerificationRow>, usize)> {
        self.call(move |c| {
            let now = now_ms();
            let tx = c.transaction()?;
            tx.execute(
                "UPDATE verifications SET status = ?3, updated_at = ?2
                 WHERE id = ?1 AND status = 'pending' AND expires_at > ?2",
                params![id, now, OtpStatus::Cancelled],
            )?;
            let withdrawn = outbound::withdraw_ended_codes(&tx, now)?.len();
            let row = VerificationRow::load(&tx, &id)?;
            tx.commit()?;
            Ok((row, withdrawn))
        })
        .await
    }

    /// One verification.
    pub async fn verification(&self, id: String) -> Result<Option<VerificationRow>> {
        self.call(move |c| Ok(VerificationRow::load(c, &id)?)).await
    }

    /// Expiry sweep: see [`expire_due`].
    pub async fn expire_verifications(&self) -> Result<usize> {
        self.call(|c| Ok(expire_due(c, now_ms())?)).await
    }

    /// Janitor: withdraws the queued code SMS of ended verifications (expired ones end by time
    /// alone), then removes codes from finished OTP messages. Returns (withdrawn, redacted).
    pub async fn withdraw_and_redact_codes(&self) -> Result<(usize, usize)> {
        self.call(|c| {
            let now = now_ms();
            let tx = c.transaction()?;
            let withdrawn = outbound::withdraw_ended_codes(&tx, now)?.len();
            tx.commit()?;
            Ok((withdrawn, redact_finished_codes(c, now)?))
        })
        .await
    }

    /// [`redact_finished_codes`] at `now`.
    pub async fn redact_finished_codes(&self, now: i64) -> Result<usize> {
        self.call(move |c| Ok(redact_finished_codes(c, now)?)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn db() -> Connection {
        crate::store::test_support::test_db()
    }

    /// The code janitor reads only OTP messages still carrying a code, whatever the history
    /// (its cost once grew with every OTP ever sent, every 30 s, holding the connection).
    #[test]
    fn code_janitor_reads_only_unredacted_messages() {
        assert!(FINISHED_CODES.contains(&format!("m.body != '{REDACTED_BODY}'")));
        let conn = db();
        if conn.backend() == crate::store::Backend::Postgres {
            return; // SQLite's planner, read through EXPLAIN QUERY PLAN.
        }
        let plan: Vec<String> = {
            let mut stmt = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {FINISHED_CODES}"))
                .unwrap();
            let rows = stmt.query_map([0i64], |r| r.get(3)).unwrap();
            rows.collect::<crate::store::db::Result<_>>().unwrap()
        };
        assert!(
            plan.iter()
                .any(|step| step.contains("USING INDEX outbound_codes_unredacted")),
            "{plan:?}"
        );
    }

    fn insert(conn: &Connection, id: &str, expires_at: i64, callback: Option<&str>) {
        conn.execute(
            "INSERT INTO verifications (id, recipient, code_hmac, status, max_attempts, last_sent_at,
                 language, message_id, key_label, created_at, expires_at, updated_at, callback_url)
             VALUES (?1, '+14155550100', x'00', 'pending', 3, 0, 'en', 'msg_x', 'k', 0, ?2, 0, ?3)",
            params![id, expires_at, callback],
        )
        .unwrap();
    }

    /// The sweep ends pending verifications past their expiry, once, and tells the callback
    /// URL of those that have one.
    #[test]
    fn expiry_sweep_marks_expired_and_notifies_callbacks() {
        let mut conn = db();
        insert(&conn, "otp_a", 100, Some("https://app.example/otp"));
        insert(&conn, "otp_b", 100, None);
        insert(&conn, "otp_c", 500, Some("https://app.example/otp"));
        assert_eq!(expire_due(&mut conn, 99).unwrap(), 0);
        assert_eq!(expire_due(&mut conn, 100).unwrap(), 2);
        assert_eq!(expire_due(&mut conn, 101).unwrap(), 0, "only once");
        let status = |id: &str| -> String {
            conn.query_row(
                "SELECT status FROM verifications WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(status("otp_a"), "expired");
        assert_eq!(status("otp_b"), "expired");
        assert_eq!(status("otp_c"), "pending");
        let events = events::since(&conn, 0, 10).unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(events[0].kind, "otp.expired");
        assert_eq!(events[0].data["otp_id"], "otp_a");
        assert_eq!(events[0].data["status"], "expired");
        assert_eq!(
            events[0].target_url.as_deref(),
            Some("https://app.example/otp")
        );
    }
}
