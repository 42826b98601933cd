//! The HTTP API (SPEC §3): Contiguity-compatible routes and the native `/v1`.

pub mod simulator;
pub mod webhooks;

use crate::daemon::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(simulator::routes())
        // Until the API branch puts them behind auth.
        .merge(webhooks::routes())
        .with_state(state)
}

async fn healthz() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "status": "ok" }))
}

/// Ready when storage answers and at least one modem is registered.
async fn readyz(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let storage = state.store.ping().await;
    let modems = state.modem_statuses();
    let ready_modems = modems.iter().filter(|m| m.state.can_send()).count();
    let ok = storage && ready_modems > 0;
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        Json(serde_json::json!({
            "ready": ok,
            "storage": storage,
            "modems_ready": ready_modems,
            "modems": modems.iter().map(|m| serde_json::json!({"name": m.name, "state": m.state})).collect::<Vec<_>>(),
        })),
    )
}
