//! Auth-server hook requests (`hook_requests`): the dedupe lookup, the `[otp]` rate limits and
//! the enqueue in one transaction, so a retry that arrives while the first is being handled
//! still queues nothing; and the janitor that removes texts from sent hook messages.

use super::outbound::{self, NewMessage};
use super::{now_ms, ratelimit, standby, Result, Store};
use crate::store::db::{params, Connection, OptionalExtension};
use crate::verify::ratelimit::{Limited, Limits, Subject};

/// What a hook message's text becomes once it has been sent.
pub const REDACTED_BODY: &str = "[removed after sending: auth-server message]";

/// What became of an [`crate::api::hooks::Outgoing`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Accepted {
    /// Committed to the outbound queue now.
    Queued { message_id: String },
    /// A retry of a request already queued: nothing new was queued.
    Repeated { message_id: String },
}

impl Accepted {
    pub fn message_id(&self) -> &str {
        match self {
            Accepted::Queued { message_id } | Accepted::Repeated { message_id } => message_id,
        }
    }

    pub fn is_repeat(&self) -> bool {
        matches!(self, Accepted::Repeated { .. })
    }
}

/// One auth-server SMS to queue.
#[derive(Debug, Clone)]
pub struct HookSms {
    /// The hook's name (`gotrue`, `zitadel`, `http`).
    pub hook: &'static str,
    /// The caller's idempotent id (`id:…`) or a keyed HMAC over hook, recipient and text.
    pub dedupe_key: String,
    pub to: String,
    pub client_ip: Option<String>,
    pub message: NewMessage,
    pub limits: Limits,
    pub dedupe_window_ms: i64,
}

impl Store {
    /// Queues the SMS unless the dedupe key was seen within the window, applying the limits,
    /// in one transaction.
    pub async fn queue_hook_sms(
        &self,
        sms: HookSms,
    ) -> Result<std::result::Result<Accepted, Limited>> {
        let standby = self.standby().clone();
        self.call(move |c| {
            let tx = c.transaction()?;
            let now = now_ms();
            tx.execute(
                "DELETE FROM hook_requests WHERE created_at <= ?1",
                [now - sms.dedupe_window_ms],
            )?;
            let earlier: Option<String> = tx
                .query_row(
                    "SELECT message_id FROM hook_requests WHERE hook = ?1 AND dedupe_key = ?2",
                    params![sms.hook, sms.dedupe_key],
                    |r| r.get(0),
                )
                .optional()?;
            if let Some(message_id) = earlier {
                tx.commit()?;
                return Ok(Ok(Accepted::Repeated { message_id }));
            }
            let key_label = format!("hook:{}", sms.hook);
            let subject = Subject {
                number: &sms.to,
                key_label: &key_label,
                ip: sms.client_ip.as_deref(),
            };
            if let Err(limited) =
                ratelimit::check_and_record(&tx, &sms.limits, &subject, &key_label, now)?
            {
                return Ok(Err(limited));
            }
            let message_id = outbound::enqueue_in(&tx, &sms.message)?;
            tx.execute(
                "INSERT INTO hook_requests (hook, dedupe_key, message_id, created_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![sms.hook, sms.dedupe_key, message_id, now],
            )?;
            standby::hand_over_in(&tx, &standby, &sms.message)?;
            tx.commit()?;
            Ok(Ok(Accepted::Queued { message_id }))
        })
        .await
    }

    /// One janitor pass at now: see [`redact_sent`].
    pub async fn redact_sent_hook_messages(&self, dedupe_window_ms: i64) -> Result<usize> {
        self.call(move |c| Ok(redact_sent(c, now_ms(), dedupe_window_ms)?))
            .await
    }
}

/// Hook messages sent (or given up) that still carry their text. The literals are
/// [`outbound::PURPOSE_HOOK_CODE`] and [`REDACTED_BODY`], written out so that SQLite reads the partial index
/// `outbound_hooks_unredacted` (only messages not yet redacted), not every hook message.
const SENT_UNREDACTED: &str = "SELECT id FROM outbound_messages
     WHERE purpose = 'hook' AND body != '[removed after sending: auth-server message]'
       AND status NOT IN ('queued', 'sending')";

/// One janitor pass; returns how many messages were redacted.
pub fn redact_sent(
    conn: &mut Connection,
    now_ms: i64,
    dedupe_window_ms: i64,
) -> crate::store::db::Result<usize> {
    let tx = conn.transaction()?;
    tx.execute(
        "DELETE FROM hook_requests WHERE created_at <= ?1",
        [now_ms.saturating_sub(dedupe_window_ms)],
    )?;
    let ids: Vec<String> = {
        let mut stmt = tx.prepare(SENT_UNREDACTED)?;
        let rows = stmt.query_map([], |r| r.get(0))?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::outbound::PURPOSE_HOOK_CODE as PURPOSE;

    #[test]
    fn janitor_redacts_only_sent_hook_messages() {
        let mut conn = crate::store::test_support::test_db();
        let mut ids = Vec::new();
        for (purpose, status) in [
            (PURPOSE, "sent"),
            (PURPOSE, "queued"),
            ("text", "sent"),
            (PURPOSE, "failed"),
        ] {
            let id = outbound::enqueue(
                &mut conn,
                &outbound::NewMessage {
                    recipient: "+14155550100".into(),
                    body: "Your code is 123456".into(),
                    line: None,
                    report: true,
                    encoding: "gsm7".into(),
                    parts: vec![(20, "00".into())],
                    purpose: purpose.into(),
                    purpose_id: Some("gotrue".into()),
                },
            )
            .unwrap();
            conn.execute(
                "UPDATE outbound_messages SET status = ?2 WHERE id = ?1",
                params![id, status],
            )
            .unwrap();
            ids.push(id);
        }
        conn.execute(
            "INSERT INTO hook_requests VALUES ('gotrue', 'id:old', ?1, 1000), ('gotrue', 'id:new', ?1, 90000)",
            [&ids[0]],
        )
        .unwrap();
        assert_eq!(redact_sent(&mut conn, 100_000, 50_000).unwrap(), 2);
        let body = |id: &str| -> String {
            conn.query_row(
                "SELECT body FROM outbound_messages WHERE id = ?1",
                [id],
                |r| r.get(0),
            )
            .unwrap()
        };
        assert_eq!(body(&ids[0]), REDACTED_BODY);
        assert_eq!(body(&ids[1]), "Your code is 123456", "still to be sent");
        assert_eq!(body(&ids[2]), "Your code is 123456", "not a hook message");
        assert_eq!(body(&ids[3]), REDACTED_BODY);
        let keys: i64 = conn
            .query_row("SELECT count(*) FROM hook_requests", [], |r| r.get(0))
            .unwrap();
        assert_eq!(keys, 1, "the old dedupe row is pruned");
        assert_eq!(redact_sent(&mut conn, 100_000, 50_000).unwrap(), 0);
    }

    /// The janitor reads only hook messages still carrying their text, whatever the history
    /// (its cost once grew with every hook message ever sent).
    #[test]
    fn janitor_reads_only_unredacted_hook_messages() {
        assert_eq!(PURPOSE, "hook");
        assert!(SENT_UNREDACTED.contains(&format!("purpose = '{PURPOSE}'")));
        assert!(SENT_UNREDACTED.contains(&format!("body != '{REDACTED_BODY}'")));
        let mut conn = rusqlite::Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut conn).unwrap();
        let plan: Vec<String> = {
            let mut stmt = conn
                .prepare(&format!("EXPLAIN QUERY PLAN {SENT_UNREDACTED}"))
                .unwrap();
            let rows = stmt.query_map([], |r| r.get(3)).unwrap();
            rows.collect::<rusqlite::Result<_>>().unwrap()
        };
        assert!(
            plan.iter()
                .any(|step| step.contains("USING INDEX outbound_hooks_unredacted")),
            "{plan:?}"
        );
    }
}
