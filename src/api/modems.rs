//! `GET /v1/modems` and `GET /v1/modems/{name}`: each line's state, signal, registration,
//! operator, identity and queue depth.

use super::error::ApiError;
use super::extract::ApiPath;
use crate::daemon::AppState;
use crate::modem::ModemStatus;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

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

/// This host's modem, with the host's name and "now" as its heartbeat.
fn local_json(state: &AppState, s: &ModemStatus, queue_depth: u64) -> Value {
    let mut v = modem_json(s, queue_depth);
    v["host"] = json!(state.config.cluster.host_name());
    v["heartbeat_at"] = json!(crate::store::now_ms());
    v
}

/// Another host's modem as it last published it (PostgreSQL: several hosts, one service).
fn published_json(m: &crate::store::cluster::PublishedModem, queue_depth: u64) -> Value {
    let mut v = m.status.clone();
    if !v.is_object() {
        v = json!({ "name": m.name, "object": "modem", "number": m.number });
    }
    v["host"] = json!(m.host);
    v["heartbeat_at"] = json!(m.heartbeat_at);
    v["ready"] = json!(m.ready);
    if !m.ready {
        v["state"] = json!("offline");
    }
    v["queue_depth"] = json!(queue_depth);
    v
}

/// Every host's modems: this host's live, the others' as of their last heartbeat.
pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let depths = state.store.queue_depths().await?;
    let depth = |name: &str| depths.per_line.get(name).copied().unwrap_or(0);
    let mut data: Vec<Value> = state
        .modem_statuses()
        .iter()
        .map(|s| local_json(&state, s, depth(&s.name)))
        .collect();
    data.extend(
        state
            .pool
            .elsewhere()
            .iter()
            .map(|m| published_json(m, depth(&m.name))),
    );
    Ok(Json(json!({
        "data": data,
        "queue": { "unassigned": depths.unassigned },
    })))
}

pub async fn get(
    State(state): State<AppState>,
    ApiPath(name): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let depths = state.store.queue_depths().await?;
    let depth = |name: &str| depths.per_line.get(name).copied().unwrap_or(0);
    if let Some(status) = state.modem_statuses().into_iter().find(|s| s.name == name) {
        return Ok(Json(local_json(&state, &status, depth(&status.name))));
    }
    state
        .pool
        .elsewhere()
        .iter()
        .find(|m| m.name == name)
        .map(|m| Json(published_json(m, depth(&m.name))))
        .ok_or_else(|| {
            ApiError::new(
                super::error::ErrorKind::NotFound,
                format!("no modem named {name:?}"),
            )
        })
}
