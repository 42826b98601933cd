//! `GET /v1/modems` and `GET /v1/modems/{name}`: each line's state, signal, registration,
//! operator, identity and queue depth.

use super::error::ApiError;
use super::extract::ApiPath;
use crate::daemon::AppState;
use crate::modem::ModemStatus;
use axum::extract::State;
use axum::Json;
use rusqlite::Connection;
use serde_json::{json, Value};
use std::collections::HashMap;

/// Messages waiting per line: `(per line, not yet assigned to any line)`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct QueueDepths {
    pub per_line: HashMap<String, u64>,
    pub unassigned: u64,
}

/// A message being sent counts for the modem sending it; a queued one for the line it is pinned
/// to, or as unassigned (any ready line may take it).
pub fn queue_depths(conn: &Connection) -> rusqlite::Result<QueueDepths> {
    let mut stmt = conn.prepare_cached(
        "SELECT status, line, modem, COUNT(*) FROM outbound_messages
         WHERE status IN ('queued', 'sending') GROUP BY status, line, modem",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, Option<String>>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, u64>(3)?,
        ))
    })?;
    let mut depths = QueueDepths::default();
    for row in rows {
        let (status, line, modem, count) = row?;
        let owner = if status == "sending" {
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

pub fn modem_json(s: &ModemStatus, queue_depth: u64) -> Value {
    json!({
        "name": s.name,
        "object": "modem",
        "port": s.port,
        "state": s.state.as_str(),
        "ready": s.state.can_send(),
        "detail": s.detail,
        "number": s.number,
        "operator": s.operator,
        "registration": s.registration,
        "signal": {
            "rssi": s.signal_rssi,
            "dbm": s.signal_dbm,
        },
        "identity": {
            "manufacturer": s.manufacturer,
            "model": s.model,
            "revision": s.revision,
            "imei": s.imei,
            "imsi": s.imsi,
            "iccid": s.iccid,
        },
        "counters": {
            "sent_parts": s.sent_parts,
            "send_failures": s.send_failures,
            "received": s.received,
            "opens": s.opens,
        },
        "queue_depth": queue_depth,
    })
}

pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let depths = state.store.call(|c| Ok(queue_depths(c)?)).await?;
    let data: Vec<Value> = state
        .modem_statuses()
        .iter()
        .map(|s| modem_json(s, depths.per_line.get(&s.name).copied().unwrap_or(0)))
        .collect();
    Ok(Json(json!({
        "data": data,
        "queue": { "unassigned": depths.unassigned },
    })))
}

pub async fn get(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let status = state
        .modem_statuses()
        .into_iter()
        .find(|s| s.name == name)
        .ok_or_else(|| {
            ApiError::new(
                super::error::ErrorKind::NotFound,
                format!("no modem named {name:?}"),
            )
        })?;
    let depths = state.store.call(|c| Ok(queue_depths(c)?)).await?;
    Ok(Json(modem_json(
        &status,
        depths.per_line.get(&status.name).copied().unwrap_or(0),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
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
        let mut c = Connection::open_in_memory().unwrap();
        crate::store::schema::migrate(&mut c).unwrap();
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
