//! Inbound parts and messages. A part is recorded once (re-deliveries are recognised by a key
//! over the modem and the PDU); multipart messages are joined when their last part arrives, in
//! the same transaction, or surfaced incomplete after a timeout.

use super::{new_id, now_ms};
use crate::store::db::{params, Connection, OptionalExtension};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// A decoded inbound SMS part, ready to record.
#[derive(Debug, Clone)]
pub struct InboundPart {
    pub modem: String,
    /// Our SIM's number, when known.
    pub recipient: Option<String>,
    pub pdu: String,
    pub sender: String,
    pub sender_type: String,
    /// The originating address's type-of-address octet (TON and NPI), as received.
    pub sender_toa: Option<u8>,
    pub smsc: Option<String>,
    pub scts: Option<String>,
    pub encoding: String,
    pub text: String,
    /// `(reference, total, seq)` for a part of a concatenated message.
    pub concat: Option<(u16, u8, u8)>,
}

/// A whole inbound message.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct InboundMessage {
    pub id: String,
    pub modem: String,
    pub to: Option<String>,
    pub from: String,
    pub sender_type: String,
    /// The originating address's type-of-address octet; `None` for messages stored before it
    /// was kept.
    pub sender_toa: Option<u8>,
    /// The service centre that delivered it (`+…` when international), if the PDU said.
    pub smsc: Option<String>,
    pub body: String,
    pub encoding: String,
    pub parts_total: u32,
    pub complete: bool,
    pub scts: Option<String>,
    pub received_at: i64,
    /// What reverse OTP made of the sender (`trusted`, `flagged`, `refused`, `untrusted`;
    /// see [`crate::verify::sender`]), set by the matcher in the storing transaction.
    pub sender_trust: Option<String>,
    /// Why, when not `trusted`: `code: detail`.
    pub sender_trust_reason: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Recorded {
    /// Seen before: nothing changed.
    Duplicate,
    /// A part of a message still missing other parts.
    Partial,
    /// A whole message is now complete.
    Message(Box<InboundMessage>),
}

/// The key that recognises a re-delivered PDU on the same modem.
pub fn pdu_key(modem: &str, pdu: &str) -> String {
    let mut h = Sha256::new();
    h.update(modem.as_bytes());
    h.update(b":");
    h.update(pdu.trim().to_ascii_uppercase().as_bytes());
    hex::encode(&h.finalize()[..16])
}

/// Records a part inside the caller's transaction; joins its message when complete.
pub fn record_part(conn: &Connection, part: &InboundPart) -> crate::store::db::Result<Recorded> {
    let key = pdu_key(&part.modem, &part.pdu);
    let now = now_ms();
    // A single part is its message: inserted with the message's id, so neither a second
    // statement nor the index of parts waiting for their group is touched.
    let group = match part.concat {
        Some((reference, total, _)) if total > 1 => Some((reference, total)),
        _ => None,
    };
    let message_id = new_id("in");
    let inserted: Option<i64> = conn
        .query_row(
        "INSERT INTO inbound_parts (modem, pdu, pdu_key, sender, sender_type, smsc, scts, encoding, text,
             concat_ref, concat_total, concat_seq, received_at, sender_toa, message_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)
         ON CONFLICT DO NOTHING RETURNING id",
        params![
            part.modem,
            part.pdu,
            key,
            part.sender,
            part.sender_type,
            part.smsc,
            part.scts,
            part.encoding,
            part.text,
            part.concat.map(|c| c.0),
            part.concat.map(|c| c.1),
            part.concat.map(|c| c.2),
            now,
            part.sender_toa,
            group.is_none().then_some(&message_id)
        ],
        |r| r.get(0),
    )
        .optional()?;
    if inserted.is_none() {
        return Ok(Recorded::Duplicate);
    }
    let Some((reference, total)) = group else {
        let message = insert_message(conn, message_id, part, &part.text, 1, true, now)?;
        return Ok(Recorded::Message(Box::new(message)));
    };
    let group = group_parts(conn, &part.modem, &part.sender, reference, total)?;
    let seqs: std::collections::BTreeSet<u8> = group.iter().map(|p| p.seq).collect();
    let complete = (1..=total).all(|s| seqs.contains(&s));
    if !complete {
        return Ok(Recorded::Partial);
    }
    let body = join(&group);
    let message = insert_message(conn, message_id, part, &body, u32::from(total), true, now)?;
    claim_group(conn, &group, &message.id)?;
    Ok(Recorded::Message(Box::new(message)))
}

#[derive(Debug)]
struct GroupPart {
    id: i64,
    seq: u8,
    text: String,
}

fn group_parts(
    conn: &Connection,
    modem: &str,
    sender: &str,
    reference: u16,
    total: u8,
) -> crate::store::db::Result<Vec<GroupPart>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, concat_seq, COALESCE(text, '') FROM inbound_parts
         WHERE modem = ?1 AND sender = ?2 AND concat_ref = ?3 AND concat_total = ?4 AND message_id IS NULL
         ORDER BY concat_seq, id",
    )?;
    let rows = stmt.query_map(params![modem, sender, reference, total], |r| {
        Ok(GroupPart {
            id: r.get(0)?,
            seq: r.get(1)?,
            text: r.get(2)?,
        })
    })?;
    rows.collect()
}

/// Joins parts in sequence order, one text per sequence number (the first one recorded).
fn join(group: &[GroupPart]) -> String {
    let mut body = String::new();
    let mut last = None;
    for p in group {
        if last == Some(p.seq) {
            continue;
        }
        body.push_str(&p.text);
        last = Some(p.seq);
    }
    body
}

fn claim_group(
    conn: &Connection,
    group: &[GroupPart],
    message_id: &str,
) -> crate::store::db::Result<()> {
    let mut stmt = conn.prepare_cached("UPDATE inbound_parts SET message_id = ?2 WHERE id = ?1")?;
    for p in group {
        stmt.execute(params![p.id, message_id])?;
    }
    Ok(())
}

fn insert_message(
    conn: &Connection,
    id: String,
    part: &InboundPart,
    body: &str,
    parts_total: u32,
    complete: bool,
    now: i64,
) -> crate::store::db::Result<InboundMessage> {
    let message = InboundMessage {
        id,
        modem: part.modem.clone(),
        to: part.recipient.clone(),
        from: part.sender.clone(),
        sender_type: part.sender_type.clone(),
        sender_toa: part.sender_toa,
        smsc: part.smsc.clone(),
        body: body.to_string(),
        encoding: part.encoding.clone(),
        parts_total,
        complete,
        scts: part.scts.clone(),
        received_at: now,
        sender_trust: None,
        sender_trust_reason: None,
    };
    conn.execute(
        "INSERT INTO inbound_messages (id, modem, recipient, sender, sender_type, body, encoding, parts_total, complete, scts, received_at,
             sender_toa, smsc)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        params![
            message.id,
            message.modem,
            message.to,
            message.from,
            message.sender_type,
            message.body,
            message.encoding,
            message.parts_total,
            message.complete,
            message.scts,
            message.received_at,
            message.sender_toa,
            message.smsc
        ],
    )?;
    Ok(message)
}

/// Multipart groups whose first part is older than `max_age_ms` and still incomplete are
/// surfaced as incomplete messages (what arrived, in order), so nothing waits forever.
pub fn surface_incomplete(
    conn: &Connection,
    max_age_ms: i64,
    recipient_of: impl Fn(&str) -> Option<String>,
) -> crate::store::db::Result<Vec<InboundMessage>> {
    let cutoff = now_ms() - max_age_ms;
    let groups: Vec<(String, String, u16, u8)> = {
        let mut stmt = conn.prepare(
            "SELECT modem, sender, concat_ref, concat_total FROM inbound_parts
             WHERE message_id IS NULL AND concat_ref IS NOT NULL
             GROUP BY modem, sender, concat_ref, concat_total HAVING MIN(received_at) < ?1",
        )?;
        let rows = stmt.query_map([cutoff], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        rows.collect::<crate::store::db::Result<_>>()?
    };
    let mut surfaced = Vec::new();
    for (modem, sender, reference, total) in groups {
        let group = group_parts(conn, &modem, &sender, reference, total)?;
        let Some(first) = group.first() else { continue };
        #[allow(clippy::type_complexity)]
        let (sender_type, encoding, scts, smsc, sender_toa): (
            String,
            String,
            Option<String>,
            Option<String>,
            Option<u8>,
        ) = conn.query_row(
            "SELECT sender_type, encoding, scts, smsc, sender_toa FROM inbound_parts WHERE id = ?1",
            [first.id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
        )?;
        let template = InboundPart {
            recipient: recipient_of(&modem),
            modem,
            pdu: String::new(),
            sender,
            sender_type,
            sender_toa,
            smsc,
            scts,
            encoding,
            text: String::new(),
            concat: None,
        };
        let message = insert_message(
            conn,
            new_id("in"),
            &template,
            &join(&group),
            u32::from(total),
            false,
            now_ms(),
        )?;
        claim_group(conn, &group, &message.id)?;
        surfaced.push(message);
    }
    Ok(surfaced)
}

pub fn get(conn: &Connection, id: &str) -> crate::store::db::Result<Option<InboundMessage>> {
    conn.query_row(
        "SELECT id, modem, recipient, sender, sender_type, body, encoding, parts_total, complete, scts, received_at,
                sender_toa, smsc, sender_trust, sender_trust_reason
         FROM inbound_messages WHERE id = ?1",
        [id],
        row_to_message,
    )
    .optional()
}

/// Newest first.
pub fn list(
    conn: &Connection,
    limit: usize,
    before_ms: Option<i64>,
) -> crate::store::db::Result<Vec<InboundMessage>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, modem, recipient, sender, sender_type, body, encoding, parts_total, complete, scts, received_at,
                sender_toa, smsc, sender_trust, sender_trust_reason
         FROM inbound_messages WHERE received_at < ?1 ORDER BY received_at DESC, id LIMIT ?2",
    )?;
    let rows = stmt.query_map(
        params![before_ms.unwrap_or(i64::MAX), limit as i64],
        row_to_message,
    )?;
    rows.collect()
}

fn row_to_message(r: &crate::store::db::Row<'_>) -> crate::store::db::Result<InboundMessage> {
    Ok(InboundMessage {
        id: r.get(0)?,
        modem: r.get(1)?,
        to: r.get(2)?,
        from: r.get(3)?,
        sender_type: r.get(4)?,
        body: r.get(5)?,
        encoding: r.get(6)?,
        parts_total: r.get(7)?,
        complete: r.get(8)?,
        scts: r.get(9)?,
        received_at: r.get(10)?,
        sender_toa: r.get(11)?,
        smsc: r.get(12)?,
        sender_trust: r.get(13)?,
        sender_trust_reason: r.get(14)?,
    })
}

/// Records what reverse OTP made of a message's sender (inside the storing transaction).
pub fn set_sender_trust(
    conn: &Connection,
    id: &str,
    trust: &str,
    reason: Option<&str>,
) -> crate::store::db::Result<()> {
    conn.execute(
        "UPDATE inbound_messages SET sender_trust = ?2, sender_trust_reason = ?3 WHERE id = ?1",
        params![id, trust, reason],
    )?;
    Ok(())
}

/// A status report as recorded.
#[derive(Debug, Clone)]
pub struct StatusReportRow<'a> {
    pub modem: &'a str,
    pub pdu: &'a str,
    pub message_ref: u8,
    pub recipient: &'a str,
    pub status: u8,
    pub discharge_time: Option<&'a str>,
    /// Whether it matched one of our sent parts.
    pub matched: bool,
}

/// Records a status report once (by PDU key); `false` when it was seen before.
pub fn record_status_report(
    conn: &Connection,
    r: &StatusReportRow<'_>,
) -> crate::store::db::Result<bool> {
    let inserted = conn.execute(
        "INSERT INTO status_reports (modem, pdu_key, message_ref, recipient, status, discharge_time, matched, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT DO NOTHING",
        params![r.modem, pdu_key(r.modem, r.pdu), r.message_ref, r.recipient, r.status, r.discharge_time, r.matched, now_ms()],
    )?;
    Ok(inserted > 0)
}

// ---- the inbound transaction, as the pipeline and its hooks see it ----

/// The inbound transaction, opened by [`super::Store::commit_inbound_pdu`] and
/// [`super::Store::surface_incomplete_messages`]: hooks get it to do their work inside it (the
/// reverse-OTP match: [`InboundTx::match_reverse`]), never the connection itself.
pub struct InboundTx<'a> {
    pub(super) conn: &'a Connection,
}

/// Work done inside the inbound transaction when a whole message has arrived (reverse-OTP
/// matching lives behind this). Runs on the blocking pool with the transaction open.
pub trait InboundHook: Send + Sync {
    fn on_message(&self, tx: &InboundTx<'_>, message: &InboundMessage) -> super::Result<()>;
}

/// The message as stored now (hooks may have added to it), or as it was if it is gone.
fn reload(
    tx: &Connection,
    message: Box<InboundMessage>,
) -> crate::store::db::Result<Box<InboundMessage>> {
    Ok(get(tx, &message.id)?.map_or(message, Box::new))
}

impl super::Store {
    /// Commits one PDU in one transaction: the part recorded (re-deliveries recognised), a
    /// complete message joined, the hooks run, and the events appended; a status report
    /// applied to its part; an undecodable PDU kept in the event log. Returns what happened,
    /// and whether the dispatcher must be woken to fan its events out (it was not handed them).
    pub async fn commit_inbound_pdu(
        &self,
        modem: String,
        pdu: String,
        recipient: Option<String>,
        decoded: std::result::Result<crate::codec::Pdu, crate::codec::PduError>,
        hooks: Vec<std::sync::Arc<dyn InboundHook>>,
    ) -> super::Result<(crate::inbound::Outcome, bool)> {
        use crate::codec::Pdu;
        use crate::inbound::{message_event, part_from, Outcome};
        use crate::states::EventKind;
        let plan = self.fan_out_plan();
        let handed_off = self.handed_off().clone();
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let outcome = match decoded {
                Ok(Pdu::Deliver(deliver)) => {
                    let part = part_from(&modem, recipient, &pdu, &deliver);
                    match record_part(&tx, &part)? {
                        Recorded::Duplicate => Outcome::Duplicate,
                        Recorded::Partial => Outcome::Partial,
                        Recorded::Message(message) => {
                            for hook in &hooks {
                                hook.on_message(&InboundTx { conn: &tx }, &message)?;
                            }
                            // As the hooks left it (the sender's trust).
                            let message = reload(&tx, message)?;
                            super::events::append(
                                &tx,
                                EventKind::MessageReceived,
                                &message_event(&message),
                            )?;
                            Outcome::Message(message)
                        }
                    }
                }
                Ok(Pdu::StatusReport(report)) => {
                    let matched = super::outbound::apply_status_report(
                        &tx,
                        &modem,
                        report.message_ref,
                        report.status,
                    )?;
                    let recipient = report.recipient.to_display();
                    let discharge = report.discharge_time.to_rfc3339();
                    let fresh = record_status_report(
                        &tx,
                        &StatusReportRow {
                            modem: &modem,
                            pdu: &pdu,
                            message_ref: report.message_ref,
                            recipient: &recipient,
                            status: report.status,
                            discharge_time: Some(&discharge),
                            matched: matched.is_some(),
                        },
                    )?;
                    if !fresh {
                        Outcome::Duplicate
                    } else {
                        Outcome::StatusReport {
                            matched: matched.is_some(),
                        }
                    }
                }
                Ok(Pdu::Submit(_)) => Outcome::Ignored,
                Err(e) => {
                    super::events::append(
                        &tx,
                        EventKind::MessageUndecodable,
                        &serde_json::json!({ "modem": modem, "pdu": pdu, "error": e.to_string() }),
                    )?;
                    Outcome::Undecodable(e.to_string())
                }
            };
            let appended = matches!(
                outcome,
                Outcome::Message(_)
                    | Outcome::Undecodable(_)
                    | Outcome::StatusReport { matched: true }
            );
            let left_for_a_poll = if appended {
                // The events' deliveries in the same commit, held for the dispatcher, which
                // gets them from memory after it: no second commit, no read-back.
                super::webhooks::fan_out_in_transaction(&tx, plan.as_deref(), &handed_off)?
            } else {
                false
            };
            tx.commit()?;
            Ok((outcome, left_for_a_poll))
        })
        .await
    }

    /// Surfaces multipart messages that waited longer than `max_age_ms` for missing parts,
    /// with the hooks and `message.received`, in one transaction. Returns how many.
    pub async fn surface_incomplete_messages(
        &self,
        max_age_ms: i64,
        number_of: crate::inbound::NumberOf,
        hooks: Vec<std::sync::Arc<dyn InboundHook>>,
    ) -> super::Result<usize> {
        use crate::inbound::message_event;
        self.call(move |conn| {
            let tx = conn.transaction()?;
            let messages = surface_incomplete(&tx, max_age_ms, |m| number_of(m))?;
            for message in messages.iter().cloned() {
                for hook in &hooks {
                    hook.on_message(&InboundTx { conn: &tx }, &message)?;
                }
                let message = reload(&tx, Box::new(message))?;
                super::events::append(
                    &tx,
                    crate::states::EventKind::MessageReceived,
                    &message_event(&message),
                )?;
            }
            tx.commit()?;
            Ok(messages.len())
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        crate::store::test_support::test_db()
    }

    fn part(pdu: &str, text: &str, concat: Option<(u16, u8, u8)>) -> InboundPart {
        InboundPart {
            modem: "sim1".into(),
            recipient: Some("+15550000001".into()),
            pdu: pdu.into(),
            sender: "+15551234567".into(),
            sender_type: "international".into(),
            sender_toa: Some(0x91),
            smsc: None,
            scts: None,
            encoding: "gsm7".into(),
            text: text.into(),
            concat,
        }
    }

    #[test]
    fn single_part_is_a_message_and_redelivery_is_a_duplicate() {
        let c = conn();
        let r = record_part(&c, &part("00AA", "hello", None)).unwrap();
        let Recorded::Message(m) = r else {
            panic!("{r:?}")
        };
        assert_eq!(m.body, "hello");
        assert_eq!(
            record_part(&c, &part("00aa", "hello", None)).unwrap(),
            Recorded::Duplicate
        );
        assert_eq!(list(&c, 10, None).unwrap().len(), 1);
    }

    #[test]
    fn parts_out_of_order_join_in_sequence() {
        let c = conn();
        assert_eq!(
            record_part(&c, &part("P3", "c", Some((7, 3, 3)))).unwrap(),
            Recorded::Partial
        );
        assert_eq!(
            record_part(&c, &part("P1", "a", Some((7, 3, 1)))).unwrap(),
            Recorded::Partial
        );
        // A different reference from the same sender is a different message.
        assert_eq!(
            record_part(&c, &part("Q1", "x", Some((8, 3, 2)))).unwrap(),
            Recorded::Partial
        );
        let Recorded::Message(m) = record_part(&c, &part("P2", "b", Some((7, 3, 2)))).unwrap()
        else {
            panic!()
        };
        assert_eq!(m.body, "abc");
        assert_eq!(m.parts_total, 3);
        assert!(m.complete);
    }

    #[test]
    fn stale_groups_surface_incomplete() {
        let c = conn();
        record_part(&c, &part("P1", "first ", Some((9, 2, 1)))).unwrap();
        assert!(surface_incomplete(&c, 60_000, |_| None).unwrap().is_empty());
        let surfaced = surface_incomplete(&c, -1, |_| None).unwrap();
        assert_eq!(surfaced.len(), 1);
        assert_eq!(surfaced[0].body, "first ");
        assert!(!surfaced[0].complete);
        // Claimed: not surfaced twice.
        assert!(surface_incomplete(&c, -1, |_| None).unwrap().is_empty());
    }

    /// The dispatcher's fan-out rules for one configured endpoint taking `message.*`.
    fn plan_for_one_endpoint(
        handoff: Option<crate::store::webhooks::Handoff>,
    ) -> crate::store::webhooks::FanOutPlan {
        use crate::store::webhooks::{Endpoint, EndpointSource, FanOutPlan};
        FanOutPlan {
            configured: vec![Endpoint {
                id: "wh_config".into(),
                url: "http://127.0.0.1:9/hooks".into(),
                secret: String::new().into(),
                events: vec!["message.*".into()],
                description: None,
                source: EndpointSource::Config,
                disabled_reason: None,
                created_at: None,
            }],
            give_up_after: std::time::Duration::from_secs(3600),
            batch: 200,
            handoff,
        }
    }

    /// With the dispatcher's fan-out rules set, the inbound commit holds the message, its
    /// `message.received` event and that event's deliveries, and moves the cursor past it:
    /// nothing is left for a second commit before the first attempt.
    #[tokio::test]
    async fn the_inbound_commit_carries_its_webhook_deliveries() {
        use crate::codec::{network::encode_deliver, DeliverOptions, Timestamp};
        let (store, _dir) = crate::store::test_support::test_store();
        store.set_fan_out_plan(plan_for_one_endpoint(None));
        let stamp = Timestamp::from_offset_datetime(time::OffsetDateTime::now_utc());
        let pdu =
            encode_deliver("+447700900123", "hello", &stamp, &DeliverOptions::default()).remove(0);
        let decoded = crate::codec::decode(&pdu, true);
        let (outcome, left_for_a_poll) = store
            .commit_inbound_pdu("sim1".into(), pdu, None, decoded, Vec::new())
            .await
            .unwrap();
        assert!(matches!(outcome, crate::inbound::Outcome::Message(_)));
        assert!(left_for_a_poll, "no hand-off: the dispatcher is woken");
        let (deliveries, cursor, last_event): (i64, i64, i64) = store
            .call(|c| {
                Ok(c.query_row(
                    "SELECT (SELECT COUNT(*) FROM webhook_deliveries WHERE event_type = 'message.received'),
                            (SELECT last_seq FROM webhook_cursor WHERE id = 1),
                            (SELECT MAX(seq) FROM events)",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )?)
            })
            .await
            .unwrap();
        assert_eq!(deliveries, 1);
        assert_eq!(cursor, last_event);
    }

    /// With a hand-off, the deliveries the inbound commit makes reach the dispatcher from
    /// memory (the same rows the outbox holds) only after the commit, held by this host: a
    /// poll claims none of them until the hold is let go of.
    #[tokio::test]
    async fn the_inbound_commit_hands_its_deliveries_over_held() {
        use crate::codec::{network::encode_deliver, DeliverOptions, Timestamp};
        use crate::store::webhooks::{claim, release_leases, Handoff, InFlight, Lease};
        let (store, _dir) = crate::store::test_support::test_store();
        let (to, mut handed) = tokio::sync::mpsc::unbounded_channel();
        store.set_fan_out_plan(plan_for_one_endpoint(Some(Handoff {
            lease: Lease {
                host: "here".into(),
                duration_ms: 60_000,
            },
            to,
        })));
        let stamp = Timestamp::from_offset_datetime(time::OffsetDateTime::now_utc());
        let pdu =
            encode_deliver("+447700900123", "hello", &stamp, &DeliverOptions::default()).remove(0);
        let decoded = crate::codec::decode(&pdu, true);
        // The status page follows the log here, since the dispatcher is not woken.
        let page_woken = store.handed_off().clone();
        let page_woken = page_woken.notified();
        tokio::pin!(page_woken);
        page_woken.as_mut().enable();
        let (_, left_for_a_poll) = store
            .commit_inbound_pdu(
                "sim1".into(),
                pdu.clone(),
                None,
                decoded.clone(),
                Vec::new(),
            )
            .await
            .unwrap();
        assert!(
            !left_for_a_poll,
            "handed over: the dispatcher's poll is not woken"
        );
        let delivery = handed.try_recv().expect("handed over with the commit");
        tokio::time::timeout(std::time::Duration::from_secs(5), page_woken)
            .await
            .expect("Store::handed_off notified");
        assert!(handed.try_recv().is_err(), "one endpoint, one delivery");
        assert_eq!(delivery.url, "http://127.0.0.1:9/hooks");
        assert_eq!(delivery.attempts, 0);
        let id = delivery.id.clone();
        let (row_body, host): (String, Option<String>) = store
            .call(move |c| {
                Ok(c.query_row(
                    "SELECT body, lease_host FROM webhook_deliveries WHERE id = ?1",
                    [id],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?)
            })
            .await
            .unwrap();
        assert_eq!(row_body, delivery.body, "the same bytes as the outbox row");
        assert_eq!(host.as_deref(), Some("here"));
        let polled = |store: crate::store::Store| async move {
            store
                .call(|c| Ok(claim(c, now_ms(), &InFlight::default(), 8, 8)?.0.len()))
                .await
                .unwrap()
        };
        assert_eq!(polled(store.clone()).await, 0, "held: not for a poll");
        let ids = vec![delivery.id.clone()];
        store
            .call(move |c| Ok(release_leases(c, &ids)?))
            .await
            .unwrap();
        assert_eq!(
            polled(store.clone()).await,
            1,
            "let go of: the poll takes it"
        );
        // A re-delivered PDU is a duplicate: nothing new is handed over.
        store
            .commit_inbound_pdu("sim1".into(), pdu, None, decoded, Vec::new())
            .await
            .unwrap();
        assert!(handed.try_recv().is_err());
    }
}
