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

pub async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let depths = state.store.queue_depths().await?;
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
    let depths = state.store.queue_depths().await?;
    Ok(Json(modem_json(
        &status,
        depths.per_line.get(&status.name).copied().unwrap_or(0),
    )))
}
