//! Message listings for the API: one message, and pages of outbound and inbound messages,
//! newest first, with a `before` cursor.

use super::inbound::{self, InboundMessage};
use super::outbound::{self, OutboundView};
use super::{Result, Store};
use crate::store::db::{params, Connection, OptionalExtension};

/// Outbound messages, newest first, older than the `before` message. `None` when `before`
/// names no outbound message.
pub fn list_outbound(
    conn: &Connection,
    limit: u32,
    before: Option<&str>,
) -> crate::store::db::Result<Option<Vec<(OutboundView, String)>>> {
    let cursor = match before {
        None => (i64::MAX, String::new()),
        Some(id) => {
            let found: Option<i64> = conn
                .query_row(
                    "SELECT created_at FROM outbound_messages WHERE id = ?1",
                    [id],
                    |r| r.get(0),
                )
                .optional()?;
            match found {
                Some(t) => (t, id.to_string()),
                None => return Ok(None),
            }
        }
    };
    let ids: Vec<(String, String)> = {
        let mut stmt = conn.prepare_cached(
            "SELECT id, purpose FROM outbound_messages
             WHERE created_at < ?1 OR (created_at = ?1 AND id < ?2)
             ORDER BY created_at DESC, id DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![cursor.0, cursor.1, limit], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
        rows.collect::<crate::store::db::Result<_>>()?
    };
    let mut views = Vec::with_capacity(ids.len());
    for (id, purpose) in ids {
        if let Some(v) = outbound::get(conn, &id)? {
            views.push((v, purpose));
        }
    }
    Ok(Some(views))
}

/// Inbound messages, newest first, older than the `before` message.
pub fn list_inbound(
    conn: &Connection,
    limit: u32,
    before: Option<&str>,
) -> crate::store::db::Result<Option<Vec<InboundMessage>>> {
    let cursor = match before {
        None => (i64::MAX, String::new()),
        Some(id) => match inbound::get(conn, id)? {
            Some(m) => (m.received_at, m.id),
            None => return Ok(None),
        },
    };
    let ids: Vec<String> = {
        let mut stmt = conn.prepare_cached(
            "SELECT id FROM inbound_messages
             WHERE received_at < ?1 OR (received_at = ?1 AND id < ?2)
             ORDER BY received_at DESC, id DESC LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![cursor.0, cursor.1, limit], |r| r.get(0))?;
        rows.collect::<crate::store::db::Result<_>>()?
    };
    let mut messages = Vec::with_capacity(ids.len());
    for id in ids {
        if let Some(m) = inbound::get(conn, &id)? {
            messages.push(m);
        }
    }
    Ok(Some(messages))
}

impl Store {
    /// An outbound message with its purpose (`text`, `otp`, `hook`…).
    pub async fn outbound_message(&self, id: String) -> Result<Option<(OutboundView, String)>> {
        self.call(move |c| {
            let view = outbound::get(c, &id)?;
            let purpose = match &view {
                Some(_) => c
                    .query_row(
                        "SELECT purpose FROM outbound_messages WHERE id = ?1",
                        [&id],
                        |r| r.get::<_, String>(0),
                    )
                    .optional()?,
                None => None,
            };
            Ok(view.map(|v| (v, purpose.unwrap_or_else(|| "text".into()))))
        })
        .await
    }

    /// An inbound message.
    pub async fn inbound_message(&self, id: String) -> Result<Option<InboundMessage>> {
        self.call(move |c| Ok(inbound::get(c, &id)?)).await
    }

    /// See [`list_outbound`].
    pub async fn outbound_page(
        &self,
        limit: u32,
        before: Option<String>,
    ) -> Result<Option<Vec<(OutboundView, String)>>> {
        self.call(move |c| Ok(list_outbound(c, limit, before.as_deref())?))
            .await
    }

    /// See [`list_inbound`].
    pub async fn inbound_page(
        &self,
        limit: u32,
        before: Option<String>,
    ) -> Result<Option<Vec<InboundMessage>>> {
        self.call(move |c| Ok(list_inbound(c, limit, before.as_deref())?))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listing_pages_through_outbound_in_order() {
        let mut c = crate::store::test_support::test_db();
        let mut ids = Vec::new();
        for i in 0..5 {
            let m = outbound::NewMessage {
                recipient: "+447700900001".into(),
                body: format!("m{i}"),
                line: None,
                report: false,
                encoding: "gsm7".into(),
                parts: vec![(10, "00".into())],
                purpose: "text".into(),
                purpose_id: None,
            };
            ids.push(outbound::enqueue(&mut c, &m).unwrap());
        }
        let first = list_outbound(&c, 2, None).unwrap().unwrap();
        assert_eq!(first.len(), 2);
        let second = list_outbound(&c, 10, Some(&first[1].0.id))
            .unwrap()
            .unwrap();
        assert_eq!(second.len(), 3);
        let mut all: Vec<String> = first
            .iter()
            .chain(&second)
            .map(|(v, _)| v.id.clone())
            .collect();
        all.sort();
        ids.sort();
        assert_eq!(all, ids, "every message once");
        assert!(list_outbound(&c, 2, Some("msg_nope")).unwrap().is_none());
    }
}
