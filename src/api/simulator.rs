//! Routes of the built-in simulator, present only under `simgate run --simulate N`: make a
//! virtual phone text one of our SIMs, and read what our SIMs sent to the virtual world. They
//! let anyone finish a reverse-OTP or OTP demo by hand, with no hardware.

use super::{RouteKind, Table};
use crate::daemon::AppState;
use axum::extract::{Query, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

pub fn table() -> Table {
    Table::new()
        .route(Method::POST, "/v1/simulator/inbound", inbound)
        .route(Method::GET, "/v1/simulator/outbox", outbox)
        .kind(RouteKind::Simulator)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InboundRequest {
    /// The virtual phone's number (E.164).
    pub from: String,
    /// One of our virtual SIMs' numbers.
    pub to: String,
    pub text: String,
}

fn problem(status: StatusCode, detail: impl Into<String>) -> Response {
    let body = serde_json::json!({
        "type": "about:blank",
        "title": status.canonical_reason().unwrap_or("error"),
        "status": status.as_u16(),
        "detail": detail.into(),
    });
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        body.to_string(),
    )
        .into_response()
}

async fn inbound(State(state): State<AppState>, body: axum::body::Bytes) -> Response {
    let Some(network) = &state.sim else {
        return problem(
            StatusCode::NOT_FOUND,
            "the simulator is not running (start with --simulate N)",
        );
    };
    let request: InboundRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return problem(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")),
    };
    if !crate::config::is_e164(&request.from) {
        return problem(
            StatusCode::BAD_REQUEST,
            "from: expected E.164 like +15551234567",
        );
    }
    match network.send_from_world(&request.from, &request.to, &request.text) {
        Ok(parts) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "parts": parts })),
        )
            .into_response(),
        Err(e) => problem(StatusCode::BAD_REQUEST, e.to_string()),
    }
}

#[derive(Debug, Deserialize)]
pub struct OutboxQuery {
    /// Only messages to this number.
    pub to: Option<String>,
}

async fn outbox(State(state): State<AppState>, Query(query): Query<OutboxQuery>) -> Response {
    let Some(network) = &state.sim else {
        return problem(
            StatusCode::NOT_FOUND,
            "the simulator is not running (start with --simulate N)",
        );
    };
    let world = network.world();
    let messages = match &query.to {
        Some(to) => world.messages_to(to),
        None => world.messages(),
    };
    let data: Vec<_> = messages
        .iter()
        .map(
            |m| serde_json::json!({ "from": m.from, "to": m.to, "text": m.text, "parts": m.parts }),
        )
        .collect();
    Json(serde_json::json!({ "data": data })).into_response()
}
