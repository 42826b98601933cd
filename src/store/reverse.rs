//! The `reverse_verifications` table (reverse OTP): sessions created with their rate limits in
//! one transaction, and matched against inbound messages inside the inbound transaction
//! ([`InboundTx::match_reverse`]), so a match, its `otp.reverse.verified` event and the stored
//! message commit together; a session moves from `pending` once, by conditional `UPDATE`s.
//! The rules (which senders are trusted, whole-token factor matching) are the pure
//! [`crate::verify::sender`] and [`crate::verify::factor`].

use super::inbound::{InboundMessage, InboundTx};
use super::{events, now_ms, ratelimit, Result, Store};
use crate::phone;
use crate::store::db::{params, Connection, OptionalExtension};
use crate::verify::ratelimit::{Limited, Limits, Subject};
use crate::verify::reverse::{MatchOutcome, ReverseMatcher};
use crate::verify::sender;
use crate::verify::{factor, OtpStatus};

/// A reverse session as stored.
#[derive(Debug, Clone)]
pub struct ReverseRow {
    pub id: String,
    pub number: String,
    pub country: Option<String>,
    pub factor: String,
    pub recipient: String,
    pub status: OtpStatus,
    pub attempts: u32,
    pub max_attempts: u32,
    pub language: String,
    pub success_url: Option<String>,
    pub service: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub verified_at: Option<i64>,
}

impl ReverseRow {
    fn load(conn: &Connection, id: &str) -> crate::store::db::Result<Option<ReverseRow>> {
        conn.query_row(
            "SELECT id, number, country, factor, recipient, status, attempts, max_attempts, language,
                    success_url, service, created_at, expires_at, verified_at
             FROM reverse_verifications WHERE id = ?1",
            [id],
            |r| {
                Ok(ReverseRow {
                    id: r.get(0)?,
                    number: r.get(1)?,
                    country: r.get(2)?,
                    factor: r.get(3)?,
                    recipient: r.get(4)?,
                    status: r.get(5)?,
                    attempts: r.get(6)?,
                    max_attempts: r.get(7)?,
                    language: r.get(8)?,
                    success_url: r.get(9)?,
                    service: r.get(10)?,
                    created_at: r.get(11)?,
                    expires_at: r.get(12)?,
                    verified_at: r.get(13)?,
                })
            },
        )
        .optional()
    }
}

/// A new reverse session.
#[derive(Debug, Clone)]
pub struct NewReverse {
    pub id: String,
    pub number: String,
    pub country: Option<String>,
    pub factor: String,
    /// [`factor::key`] of the factor: what matching compares.
    pub factor_key: String,
    pub recipient: String,
    pub line: Option<String>,
    pub max_attempts: u32,
    pub language: String,
    pub success_url: Option<String>,
    pub service: Option<String>,
    pub key_label: String,
    pub client_ip: Option<String>,
    pub ttl_ms: i64,
}

impl Store {
    /// Rate limits checked and recorded and the session stored, in one transaction.
    pub async fn create_reverse(
        &self,
        new: NewReverse,
        limits: Limits,
    ) -> Result<std::result::Result<Option<ReverseRow>, Limited>> {
        self.call(move |c| {
            let tx = c.transaction()?;
            let now = now_ms();
            let subject = Subject {
                number: &new.number,
                key_label: &new.key_label,
                ip: new.client_ip.as_deref(),
            };
            if let Err(limited) =
                ratelimit::check_and_record(&tx, &limits, &subject, "reverse", now)?
            {
                return Ok(Err(limited));
            }
            tx.execute(
                "INSERT INTO reverse_verifications (id, number, country, factor, factor_key, recipient,
                     line, status, max_attempts, language, success_url, service, key_label, client_ip,
                     created_at, expires_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?16, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?14)",
                params![
                    new.id,
                    new.number,
                    new.country,
                    new.factor,
                    new.factor_key,
                    new.recipient,
                    new.line,
                    new.max_attempts,
                    new.language,
                    new.success_url,
                    new.service,
                    new.key_label,
                    new.client_ip,
                    now,
                    now + new.ttl_ms,
                    OtpStatus::Pending,
                ],
            )?;
            let row = ReverseRow::load(&tx, &new.id)?;
            tx.commit()?;
            Ok(Ok(row))
        })
        .await
    }

    /// The match exactly as the inbound transaction runs it, then rolled back: for
    /// benchmarks and tests (blocking).
    pub fn match_reverse_rolled_back(
        &self,
        matcher: &ReverseMatcher,
        message: &InboundMessage,
        now: i64,
    ) -> Result<MatchOutcome> {
        self.call_blocking(|conn| {
            let tx = conn.transaction()?;
            let outcome = InboundTx { conn: &tx }.match_reverse(matcher, message, now)?;
            tx.rollback()?;
            Ok(outcome)
        })
    }

    /// One reverse session.
    pub async fn reverse_session(&self, id: String) -> Result<Option<ReverseRow>> {
        self.call(move |c| Ok(ReverseRow::load(c, &id)?)).await
    }

    /// Cancels a pending reverse session; returns it as it is after.
    pub async fn cancel_reverse(&self, id: String) -> Result<Option<ReverseRow>> {
        self.call(move |c| {
            c.execute(
                "UPDATE reverse_verifications SET status = ?3, updated_at = ?2
                 WHERE id = ?1 AND status = 'pending' AND expires_at > ?2",
                params![id, now_ms(), OtpStatus::Cancelled],
            )?;
            Ok(ReverseRow::load(c, &id)?)
        })
        .await
    }
}

impl InboundTx<'_> {
    /// Matches `message` at `now`, inside the caller's transaction.
    ///
    /// First the sender is assessed ([`sender::assess`], recorded on the message): only a
    /// numeric originating address the network vouches for is anyone's number (national and
    /// unknown-type senders read in the country of the receiving SIM); alphanumeric senders,
    /// short codes and other types verify nothing and are no one's attempt. A session is then
    /// considered when the sender's number is its number, it is pending, and the message
    /// arrived on its `to` (or, when that modem's number is unknown, on the modem that had
    /// it). Then: past its expiry → expired; the body holds its factor as a whole token and
    /// the sender was not refused (SMSC abroad) → verified (`UPDATE … WHERE status =
    /// 'pending'`: once) with `otp.reverse.verified` appended for the webhooks and its
    /// `success_url`. When the message verified none of the sender's sessions, each
    /// considered one counts a failed attempt and locks at the maximum.
    pub fn match_reverse(
        &self,
        matcher: &ReverseMatcher,
        message: &InboundMessage,
        now: i64,
    ) -> crate::store::db::Result<MatchOutcome> {
        let conn = self.conn;
        let mut outcome = MatchOutcome::default();
        let receiving_country = message
            .to
            .as_deref()
            .and_then(phone::country_of)
            .unwrap_or_else(|| matcher.default_country.clone());
        let verdict = sender::assess(
            &sender::Sender {
                address: &message.from,
                type_of_address: message
                    .sender_toa
                    .unwrap_or_else(|| sender::legacy_type_of_address(&message.sender_type)),
                smsc: message.smsc.as_deref(),
            },
            &receiving_country,
            matcher.smsc_check,
        );
        super::inbound::set_sender_trust(
            conn,
            &message.id,
            verdict.as_str(),
            verdict.reason().map(ToString::to_string).as_deref(),
        )?;
        if !message.complete {
            return Ok(outcome);
        }
        // Alphanumeric senders, short codes and malformed senders are no one's number.
        let Some(sender) = verdict.number().map(str::to_string) else {
            return Ok(outcome);
        };
        let may_verify = verdict.may_verify();
        let sessions = {
            let mut stmt = conn.prepare_cached(
                "SELECT id, factor_key, recipient, line, attempts, max_attempts, expires_at, success_url
                 FROM reverse_verifications WHERE number = ?1 AND status = 'pending'",
            )?;
            let rows = stmt.query_map([&sender], |r| {
                Ok(Session {
                    id: r.get(0)?,
                    factor_key: r.get(1)?,
                    recipient: r.get(2)?,
                    line: r.get(3)?,
                    attempts: r.get(4)?,
                    max_attempts: r.get(5)?,
                    expires_at: r.get(6)?,
                    success_url: r.get(7)?,
                })
            })?;
            rows.collect::<crate::store::db::Result<Vec<_>>>()?
        };
        if sessions.is_empty() {
            return Ok(outcome);
        }
        let body = factor::normalize_body(&message.body);
        let mut considered = Vec::new();
        for session in &sessions {
            let arrived_on_its_line = match &message.to {
                Some(to) => *to == session.recipient,
                None => session.line.as_deref() == Some(message.modem.as_str()),
            };
            if !arrived_on_its_line {
                continue;
            }
            if now >= session.expires_at {
                conn.execute(
                    "UPDATE reverse_verifications SET status = ?3, updated_at = ?2
                     WHERE id = ?1 AND status = 'pending'",
                    params![session.id, now, OtpStatus::Expired],
                )?;
                outcome.expired.push(session.id.clone());
                continue;
            }
            if may_verify && factor::contains_token(&body, &session.factor_key) {
                let changed = conn.execute(
                    "UPDATE reverse_verifications SET status = ?4, verified_at = ?2,
                         message_id = ?3, updated_at = ?2
                     WHERE id = ?1 AND status = 'pending'",
                    params![session.id, now, message.id, OtpStatus::Verified],
                )?;
                if changed == 1 {
                    events::append_with_target(
                        conn,
                        crate::states::EventKind::OtpReverseVerified,
                        &serde_json::json!({
                            "otp_id": session.id,
                            "number": sender,
                            "status": "verified",
                            "verified_at": now,
                        }),
                        session.success_url.as_deref(),
                    )?;
                    outcome.verified.push(session.id.clone());
                }
            } else {
                considered.push(session);
            }
        }
        if outcome.verified.is_empty() {
            for session in considered {
                let attempts = session.attempts + 1;
                let locked = attempts >= session.max_attempts;
                conn.execute(
                    "UPDATE reverse_verifications
                     SET attempts = attempts + 1, status = CASE WHEN ?3 = 1 THEN ?4 ELSE status END,
                         updated_at = ?2
                     WHERE id = ?1 AND status = 'pending'",
                    params![session.id, now, locked, OtpStatus::Locked],
                )?;
                outcome.failed.push(session.id.clone());
                if locked {
                    outcome.locked.push(session.id.clone());
                }
            }
        }
        Ok(outcome)
    }
}

struct Session {
    id: String,
    factor_key: String,
    recipient: String,
    line: Option<String>,
    attempts: u32,
    max_attempts: u32,
    expires_at: i64,
    success_url: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::inbound as inbound_store;
    use crate::store::new_id;
    use crate::verify::sender::SmscCountryCheck;

    /// The match as the inbound pipeline runs it, over a bare connection.
    trait MatchIn {
        fn match_message(
            &self,
            conn: &Connection,
            message: &InboundMessage,
            now: i64,
        ) -> crate::store::db::Result<MatchOutcome>;
    }

    impl MatchIn for ReverseMatcher {
        fn match_message(
            &self,
            conn: &Connection,
            message: &InboundMessage,
            now: i64,
        ) -> crate::store::db::Result<MatchOutcome> {
            InboundTx { conn }.match_reverse(self, message, now)
        }
    }

    fn db() -> Connection {
        crate::store::test_support::test_db()
    }

    fn insert(conn: &Connection, id: &str, number: &str, factor: &str, expires_at: i64) {
        conn.execute(
            "INSERT INTO reverse_verifications (id, number, country, factor, factor_key, recipient, line,
                 status, max_attempts, language, key_label, created_at, expires_at, updated_at)
             VALUES (?1, ?2, 'US', ?3, ?4, '+15550000001', 'sim1', 'pending', 3, 'en', 'k', 0, ?5, 0)",
            params![id, number, factor, factor::key(factor), expires_at],
        )
        .unwrap();
    }

    /// A message as the pipeline stores it: `+…` international, digits of unknown type,
    /// anything else alphanumeric; through the US SMSC of the simulator.
    fn message(from: &str, to: Option<&str>, body: &str) -> InboundMessage {
        let toa = if from.starts_with('+') {
            0x91
        } else if !from.is_empty() && from.bytes().all(|b| b.is_ascii_digit()) {
            0x81
        } else {
            0xD0
        };
        InboundMessage {
            id: new_id("in"),
            modem: "sim1".into(),
            to: to.map(String::from),
            from: from.into(),
            sender_type: crate::codec::AddressKind::from_ton(toa >> 4)
                .as_str()
                .into(),
            sender_toa: Some(toa),
            smsc: Some("+15550009999".into()),
            body: body.into(),
            encoding: "gsm7".into(),
            parts_total: 1,
            complete: true,
            ..Default::default()
        }
    }

    fn status(conn: &Connection, id: &str) -> (String, u32) {
        conn.query_row(
            "SELECT status, attempts FROM reverse_verifications WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    }

    fn events_of(conn: &Connection, kind: &str) -> Vec<(serde_json::Value, Option<String>)> {
        crate::store::events::since(conn, 0, 100)
            .unwrap()
            .into_iter()
            .filter(|e| e.kind == kind)
            .map(|e| (e.data, e.target_url))
            .collect()
    }

    #[test]
    fn verifies_once_with_event_to_success_url() {
        let conn = db();
        insert(&conn, "r_otp_a", "+14155550100", "Blue-Fox", 1000);
        conn.execute(
            "UPDATE reverse_verifications SET success_url = 'https://app.example/ok'",
            [],
        )
        .unwrap();
        let m = ReverseMatcher::new("US");
        let msg = message(
            "+14155550100",
            Some("+15550000001"),
            "  my CODE is blue-fox. ",
        );
        let out = m.match_message(&conn, &msg, 10).unwrap();
        assert_eq!(out.verified, vec!["r_otp_a".to_string()]);
        assert_eq!(status(&conn, "r_otp_a").0, "verified");
        let evs = events_of(&conn, "otp.reverse.verified");
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].0["otp_id"], "r_otp_a");
        assert_eq!(evs[0].0["number"], "+14155550100");
        assert_eq!(evs[0].0["status"], "verified");
        assert_eq!(evs[0].0["verified_at"], 10);
        assert_eq!(evs[0].1.as_deref(), Some("https://app.example/ok"));
        // The same text again: the session is no longer pending.
        let again = m
            .match_message(
                &conn,
                &message("+14155550100", Some("+15550000001"), "blue-fox"),
                11,
            )
            .unwrap();
        assert_eq!(again, MatchOutcome::default());
        assert_eq!(events_of(&conn, "otp.reverse.verified").len(), 1);
    }

    #[test]
    fn national_sender_is_read_in_the_receiving_sims_country() {
        let conn = db();
        insert(&conn, "r_otp_n", "+14155550100", "482913", 1000);
        let m = ReverseMatcher::new("GB");
        let msg = message("4155550100", Some("+15550000001"), "482913");
        assert_eq!(m.match_message(&conn, &msg, 1).unwrap().verified.len(), 1);
    }

    #[test]
    fn nothing_verifies_without_every_condition() {
        let conn = db();
        insert(&conn, "r_otp_b", "+14155550100", "482913", 1000);
        let m = ReverseMatcher::new("US");
        let cases = [
            // Wrong sender.
            message("+14155550199", Some("+15550000001"), "482913"),
            // Alphanumeric sender.
            message("BANK", Some("+15550000001"), "482913"),
            // Another of our numbers.
            message("+14155550100", Some("+15550000002"), "482913"),
        ];
        for msg in &cases {
            assert_eq!(
                m.match_message(&conn, msg, 5).unwrap(),
                MatchOutcome::default()
            );
        }
        // Incomplete message.
        let mut partial = message("+14155550100", Some("+15550000001"), "482913");
        partial.complete = false;
        assert_eq!(
            m.match_message(&conn, &partial, 5).unwrap(),
            MatchOutcome::default()
        );
        assert_eq!(status(&conn, "r_otp_b"), ("pending".into(), 0));
        // Substring of a longer token: a failed attempt.
        let out = m
            .match_message(
                &conn,
                &message("+14155550100", Some("+15550000001"), "4829130"),
                5,
            )
            .unwrap();
        assert_eq!(out.failed, vec!["r_otp_b".to_string()]);
        assert_eq!(status(&conn, "r_otp_b"), ("pending".into(), 1));
        // Unknown modem number: the modem name decides.
        let mut unknown_to = message("+14155550100", None, "nope");
        unknown_to.modem = "sim2".into();
        assert_eq!(
            m.match_message(&conn, &unknown_to, 5).unwrap(),
            MatchOutcome::default()
        );
        unknown_to.modem = "sim1".into();
        assert_eq!(
            m.match_message(&conn, &unknown_to, 5).unwrap().failed.len(),
            1
        );
        // Third failure locks (max 3); the right factor then does nothing.
        let out = m
            .match_message(
                &conn,
                &message("+14155550100", Some("+15550000001"), "wrong"),
                5,
            )
            .unwrap();
        assert_eq!(out.locked, vec!["r_otp_b".to_string()]);
        assert_eq!(status(&conn, "r_otp_b"), ("locked".into(), 3));
        let out = m
            .match_message(
                &conn,
                &message("+14155550100", Some("+15550000001"), "482913"),
                5,
            )
            .unwrap();
        assert!(out.verified.is_empty());
        assert!(events_of(&conn, "otp.reverse.verified").is_empty());
    }

    #[test]
    fn expired_sessions_expire_instead_of_verifying() {
        let conn = db();
        insert(&conn, "r_otp_c", "+14155550100", "482913", 1000);
        let m = ReverseMatcher::new("US");
        let out = m
            .match_message(
                &conn,
                &message("+14155550100", Some("+15550000001"), "482913"),
                1000,
            )
            .unwrap();
        assert_eq!(out.expired, vec!["r_otp_c".to_string()]);
        assert!(out.verified.is_empty());
        assert_eq!(status(&conn, "r_otp_c").0, "expired");
    }

    #[test]
    fn a_match_for_one_session_is_no_failure_for_another() {
        let conn = db();
        insert(&conn, "r_otp_d", "+14155550100", "111111", 1000);
        insert(&conn, "r_otp_e", "+14155550100", "222222", 1000);
        let m = ReverseMatcher::new("US");
        let out = m
            .match_message(
                &conn,
                &message("+14155550100", Some("+15550000001"), "222222"),
                1,
            )
            .unwrap();
        assert_eq!(out.verified, vec!["r_otp_e".to_string()]);
        assert!(out.failed.is_empty());
        assert_eq!(status(&conn, "r_otp_d"), ("pending".into(), 0));
    }

    /// The message as the pipeline would have stored it, so the verdict can be recorded on it.
    fn stored(conn: &Connection, msg: &InboundMessage) -> InboundMessage {
        let part = crate::store::inbound::InboundPart {
            modem: msg.modem.clone(),
            recipient: msg.to.clone(),
            pdu: new_id("pdu"),
            sender: msg.from.clone(),
            sender_type: msg.sender_type.clone(),
            sender_toa: msg.sender_toa,
            smsc: msg.smsc.clone(),
            scts: None,
            encoding: msg.encoding.clone(),
            text: msg.body.clone(),
            concat: None,
        };
        match inbound_store::record_part(conn, &part).unwrap() {
            inbound_store::Recorded::Message(m) => *m,
            other => panic!("{other:?}"),
        }
    }

    fn trust_of(conn: &Connection, id: &str) -> (Option<String>, Option<String>) {
        let m = inbound_store::get(conn, id).unwrap().unwrap();
        (m.sender_trust, m.sender_trust_reason)
    }

    /// Issue 10: an alphanumeric sender whose text is the session's national number, with the
    /// right factor, verifies nothing and costs the session no attempt.
    #[test]
    fn an_alphanumeric_sender_spelling_the_number_verifies_nothing() {
        let conn = db();
        insert(&conn, "r_otp_s", "+14155550100", "482913", 1000);
        let m = ReverseMatcher::new("US");
        for text in ["4155550100", "+14155550100", "14155550100"] {
            let mut msg = message(text, Some("+15550000001"), "482913");
            msg.sender_toa = Some(0xD0);
            msg.sender_type = "alphanumeric".into();
            let msg = stored(&conn, &msg);
            assert_eq!(
                m.match_message(&conn, &msg, 5).unwrap(),
                MatchOutcome::default()
            );
            let (trust, reason) = trust_of(&conn, &msg.id);
            assert_eq!(trust.as_deref(), Some("untrusted"));
            assert!(
                reason
                    .as_deref()
                    .unwrap()
                    .starts_with("alphanumeric_sender: "),
                "{reason:?}"
            );
        }
        // A short code neither.
        let mut short = message("41555", Some("+15550000001"), "482913");
        short.sender_toa = Some(0x81);
        let short = stored(&conn, &short);
        assert_eq!(
            m.match_message(&conn, &short, 5).unwrap(),
            MatchOutcome::default()
        );
        assert!(trust_of(&conn, &short.id)
            .1
            .unwrap()
            .starts_with("short_code: "));
        assert_eq!(status(&conn, "r_otp_s"), ("pending".into(), 0));
        // The real number verifies, and is recorded as trusted.
        let real = stored(
            &conn,
            &message("+14155550100", Some("+15550000001"), "482913"),
        );
        assert_eq!(m.match_message(&conn, &real, 6).unwrap().verified.len(), 1);
        assert_eq!(trust_of(&conn, &real.id), (Some("trusted".into()), None));
    }

    #[test]
    fn an_smsc_abroad_is_a_failed_attempt_or_only_flagged() {
        let conn = db();
        insert(&conn, "r_otp_f", "+14155550100", "482913", 1000);
        let mut forged = message("+14155550100", Some("+15550000001"), "482913");
        forged.smsc = Some("+447785016005".into());
        // Refused (the default): the right factor counts as a failed attempt.
        let refusing = ReverseMatcher::new("US");
        let msg = stored(&conn, &forged);
        let out = refusing.match_message(&conn, &msg, 5).unwrap();
        assert!(out.verified.is_empty());
        assert_eq!(out.failed, vec!["r_otp_f".to_string()]);
        assert_eq!(status(&conn, "r_otp_f"), ("pending".into(), 1));
        let (trust, reason) = trust_of(&conn, &msg.id);
        assert_eq!(trust.as_deref(), Some("refused"));
        assert!(
            reason
                .as_deref()
                .unwrap()
                .starts_with("smsc_country_mismatch: "),
            "{reason:?}"
        );
        assert!(events_of(&conn, "otp.reverse.verified").is_empty());
        // Flag only: matched, and marked.
        let flagging = ReverseMatcher::new("US").with_smsc_check(SmscCountryCheck::Flag);
        let msg = stored(&conn, &forged);
        let out = flagging.match_message(&conn, &msg, 6).unwrap();
        assert_eq!(out.verified, vec!["r_otp_f".to_string()]);
        assert_eq!(trust_of(&conn, &msg.id).0.as_deref(), Some("flagged"));
        // An SMSC of unknown country (absent, or national format) is no mismatch.
        insert(&conn, "r_otp_g", "+14155550101", "111111", 1000);
        let mut no_smsc = message("+14155550101", Some("+15550000001"), "111111");
        no_smsc.smsc = None;
        let msg = stored(&conn, &no_smsc);
        assert_eq!(
            refusing
                .match_message(&conn, &msg, 7)
                .unwrap()
                .verified
                .len(),
            1
        );
    }

    /// Matching stays an index probe however many sessions are pending (see the bench).
    #[test]
    fn matching_uses_the_number_status_index() {
        let conn = db();
        if conn.backend() == crate::store::Backend::Postgres {
            return; // SQLite's planner, read through EXPLAIN QUERY PLAN; PostgreSQL's plans by statistics.
        }
        let plan: Vec<String> = conn
            .prepare(
                "EXPLAIN QUERY PLAN SELECT id, factor_key, recipient, line, attempts, max_attempts, expires_at, success_url
                 FROM reverse_verifications WHERE number = ?1 AND status = 'pending'",
            )
            .unwrap()
            .query_map(["+14155550100"], |r| r.get::<_, String>(3))
            .unwrap()
            .collect::<crate::store::db::Result<_>>()
            .unwrap();
        assert!(
            plan.iter()
                .any(|step| step.contains("USING INDEX reverse_verifications_match")),
            "{plan:?}"
        );
    }
}
