//! Messages: `POST /v1/messages`, `GET /v1/messages/{id}`, `GET /v1/messages`, and the
//! Contiguity-compatible `POST /send/text`.
//!
//! Bodies of messages the gateway sent for its own purposes (OTP codes) are never shown: they
//! hold secrets that only the phone's owner may see. Plain texts sent through the API are shown.

use super::contiguity::Envelope;
use super::error::ApiError;
use super::extract::Caller;
use super::extract::{ApiJson, ApiPath, ApiQuery};
use super::rfc3339;
use crate::daemon::AppState;
use crate::messaging::{send_text_checked, SendText};
use crate::store::{inbound, outbound};
use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// `POST /v1/messages`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewMessageRequest {
    /// Recipient in E.164.
    pub to: String,
    /// The text.
    pub body: String,
    /// Send through this line (modem name) only.
    pub line: Option<String>,
    /// Ask for a delivery report (default true).
    pub report: Option<bool>,
}

pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<NewMessageRequest>,
) -> Result<Response, ApiError> {
    if request.body.is_empty() {
        return Err(ApiError::invalid("body", "body must not be empty"));
    }
    let accepted = send_text_checked(
        &state,
        SendText {
            to: request.to,
            body: request.body,
            line: request.line,
            report: request.report.unwrap_or(true),
            purpose: "text".into(),
            purpose_id: None,
        },
        &caller.key_id,
    )
    .await
    .map_err(|e| match e {
        crate::messaging::SendError::UnknownLine(_) => ApiError::invalid("line", e.to_string()),
        crate::messaging::SendError::TooLong(_) | crate::messaging::SendError::Encode(_) => {
            ApiError::invalid("body", e.to_string())
        }
        other => other.into(),
    })?;
    let view = outbound_view(&state, &accepted.id)
        .await?
        .ok_or_else(|| ApiError::internal("the accepted message could not be read back"))?;
    let location = format!("/v1/messages/{}", accepted.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        axum::Json(view),
    )
        .into_response())
}

/// `GET /v1/messages/{id}`: an outbound (`msg_…`) or inbound (`in_…`) message.
pub async fn get(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<axum::Json<Value>, ApiError> {
    if let Some(view) = outbound_view(&state, &id).await? {
        return Ok(axum::Json(view));
    }
    let found = state.store.inbound_message(id.clone()).await?;
    match found {
        Some(m) => Ok(axum::Json(inbound_json(&m))),
        None => Err(ApiError::not_found("message", &id)),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// `outbound` (default) or `inbound`.
    pub direction: Option<String>,
    /// 1..=100, default 50.
    pub limit: Option<u32>,
    /// A message id: list the messages older than it (the `next_before` of the previous page).
    pub before: Option<String>,
}

pub const DEFAULT_LIMIT: u32 = 50;
pub const MAX_LIMIT: u32 = 100;

/// `GET /v1/messages?direction=inbound|outbound&limit=&before=`: newest first.
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<axum::Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::invalid(
            "limit",
            format!("limit must be between 1 and {MAX_LIMIT}"),
        ));
    }
    let direction = query.direction.as_deref().unwrap_or("outbound");
    let before = query.before.clone();
    let items: Vec<Value> = match direction {
        "outbound" => {
            let rows = state.store.outbound_page(limit + 1, before).await?;
            let Some(rows) = rows else {
                return Err(unknown_cursor(query.before.as_deref()));
            };
            let numbers = line_numbers(&state);
            rows.iter()
                .map(|(v, purpose)| outbound_json_for(v, purpose, &numbers))
                .collect()
        }
        "inbound" => {
            let rows = state.store.inbound_page(limit + 1, before).await?;
            let Some(rows) = rows else {
                return Err(unknown_cursor(query.before.as_deref()));
            };
            rows.iter().map(inbound_json).collect()
        }
        other => {
            return Err(ApiError::invalid(
                "direction",
                format!("direction must be \"inbound\" or \"outbound\", not {other:?}"),
            ))
        }
    };
    Ok(axum::Json(page(items, limit as usize)))
}

fn unknown_cursor(before: Option<&str>) -> ApiError {
    ApiError::invalid(
        "before",
        format!(
            "before names no message in this direction: {:?}",
            before.unwrap_or("")
        ),
    )
}

/// `{data, has_more, next_before}` from `limit + 1` rows.
fn page(mut items: Vec<Value>, limit: usize) -> Value {
    let has_more = items.len() > limit;
    items.truncate(limit);
    let next_before = if has_more {
        items.last().and_then(|v| v.get("id")).cloned()
    } else {
        None
    };
    json!({ "data": items, "has_more": has_more, "next_before": next_before })
}

/// Line name → its number, for showing which number a message went out from.
pub fn line_numbers(state: &AppState) -> Vec<(String, Option<String>)> {
    state
        .modem_statuses()
        .into_iter()
        .map(|s| (s.name, s.number))
        .collect()
}

async fn outbound_view(state: &AppState, id: &str) -> Result<Option<Value>, ApiError> {
    let found = state.store.outbound_message(id.to_string()).await?;
    let numbers = line_numbers(state);
    Ok(found.map(|(view, purpose)| outbound_json_for(&view, &purpose, &numbers)))
}

/// The message as shown, its body hidden unless it is a plain text sent through the API.
fn outbound_json_for(
    view: &outbound::OutboundView,
    purpose: &str,
    numbers: &[(String, Option<String>)],
) -> Value {
    let mut json = outbound_json(view, numbers);
    json["purpose"] = json!(purpose);
    if purpose != "text" {
        json["body"] = Value::Null;
        json["body_redacted"] = json!(true);
    }
    json
}

/// Parts' delivery status as the API shows it.
#[derive(Debug, Serialize)]
struct PartJson<'a> {
    seq: u32,
    status: &'a str,
    line: Option<&'a str>,
    message_ref: Option<u8>,
    /// TP-Status of the delivery report (0 = delivered), when one came.
    report_status: Option<u8>,
}

pub fn outbound_json(v: &outbound::OutboundView, numbers: &[(String, Option<String>)]) -> Value {
    let from = v.modem.as_ref().and_then(|m| {
        numbers
            .iter()
            .find(|(name, _)| name == m)
            .and_then(|(_, n)| n.clone())
    });
    let parts: Vec<PartJson<'_>> = v
        .parts
        .iter()
        .map(|p| PartJson {
            seq: p.seq,
            status: p.status.as_str(),
            line: p.modem.as_deref(),
            message_ref: p.message_ref,
            report_status: p.report_status,
        })
        .collect();
    json!({
        "id": v.id,
        "object": "message",
        "direction": "outbound",
        "to": v.to,
        "from": from,
        "line": v.modem,
        "body": v.body,
        "status": v.status,
        "encoding": v.encoding,
        "parts_total": v.parts_total,
        "attempts": v.attempts,
        "error": v.error,
        "created_at": rfc3339(v.created_at),
        "updated_at": rfc3339(v.updated_at),
        "parts": parts,
    })
}

pub fn inbound_json(m: &inbound::InboundMessage) -> Value {
    json!({
        "id": m.id,
        "object": "message",
        "direction": "inbound",
        "from": m.from,
        "sender_type": m.sender_type,
        "smsc": m.smsc,
        "sender_trust": m.sender_trust,
        "sender_trust_reason": m.sender_trust_reason,
        "to": m.to,
        "line": m.modem,
        "body": m.body,
        "encoding": m.encoding,
        "parts_total": m.parts_total,
        "complete": m.complete,
        "received_at": rfc3339(m.received_at),
    })
}

/// `POST /send/text` (Contiguity): `{to, message, from?}` → `{message_id}`.
#[derive(Debug, Deserialize)]
pub struct SendTextRequest {
    pub to: String,
    pub message: String,
    /// One of this gateway's numbers, or a line (modem) name.
    pub from: Option<String>,
    /// Contiguity's SDK may send this; SMS carries none.
    pub attachments: Option<Vec<String>>,
}

pub async fn send_text_contiguity(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(request): ApiJson<SendTextRequest>,
) -> Result<Envelope, ApiError> {
    if request.message.is_empty() {
        return Err(ApiError::invalid("message", "message must not be empty"));
    }
    if request.attachments.as_ref().is_some_and(|a| !a.is_empty()) {
        return Err(ApiError::invalid(
            "attachments",
            "attachments are not supported: SMS carries text only",
        ));
    }
    let line = match request.from.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(from) => Some(resolve_line(&state, from).ok_or_else(|| {
            ApiError::invalid(
                "from",
                format!("from {from:?} is neither one of this gateway's numbers nor a line name"),
            )
        })?),
    };
    let accepted = send_text_checked(
        &state,
        SendText {
            to: request.to,
            body: request.message,
            line,
            report: true,
            purpose: "text".into(),
            purpose_id: None,
        },
        &caller.key_id,
    )
    .await?;
    Ok(Envelope::ok(json!({ "message_id": accepted.id })))
}

/// A line name, or the line whose number is `from` (digits compared, so `+1555…` and
/// `1555…` agree).
pub fn resolve_line(state: &AppState, from: &str) -> Option<String> {
    let statuses = state.modem_statuses();
    if let Some(s) = statuses.iter().find(|s| s.name == from) {
        return Some(s.name.clone());
    }
    let digits = |n: &str| n.chars().filter(char::is_ascii_digit).collect::<String>();
    let wanted = digits(from);
    if wanted.is_empty() {
        return None;
    }
    let configured = state
        .config
        .modems
        .iter()
        .map(|m| (m.name.clone(), m.number.clone()));
    let published = statuses.iter().map(|s| (s.name.clone(), s.number.clone()));
    configured
        .chain(published)
        .find(|(_, number)| number.as_deref().is_some_and(|n| digits(n) == wanted))
        .map(|(name, _)| name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sets_cursor_only_when_more() {
        let items: Vec<Value> = (0..3).map(|i| json!({"id": format!("m{i}")})).collect();
        let p = page(items.clone(), 2);
        assert_eq!(p["has_more"], true);
        assert_eq!(p["next_before"], "m1");
        assert_eq!(p["data"].as_array().unwrap().len(), 2);
        let p = page(items, 3);
        assert_eq!(p["has_more"], false);
        assert!(p["next_before"].is_null());
    }
}
