//! Native routes for webhooks and the event log:
//!
//! - `GET /v1/webhooks/endpoints`, `POST /v1/webhooks/endpoints` — configured endpoints are
//!   listed read-only next to those created here; a secret is shown only in the creation answer.
//! - `GET /v1/webhooks/endpoints/{id}`, `DELETE /v1/webhooks/endpoints/{id}`
//! - `GET /v1/webhooks/deliveries?status=&endpoint_id=&event_id=&limit=` — newest first.
//! - `GET /v1/webhooks/deliveries/{id}` — with every attempt.
//! - `POST /v1/webhooks/deliveries/{id}/retry` — due now with a fresh schedule (failed and
//!   delivered ones too).
//! - `GET /v1/events?after=&limit=` — the event log, oldest first, `after` a seq or an event id.
//!
//! Errors are RFC 9457 problem documents (`application/problem+json`).

use super::Table;
use crate::daemon::AppState;
use crate::states::DeliveryStatus;
use crate::store::StoreError;
use crate::webhook::store::{
    self as webhook_store, DeliveryFilter, DeliveryKind, Endpoint, EndpointRefused, EndpointSource,
    NewEndpoint, RetryOutcome,
};
use crate::webhook::{decode_secret, generate_secret, is_valid_pattern};
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{header, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use std::time::Duration;

/// Endpoints that may be created through the API (each event is fanned out to all of them).
pub const MAX_API_ENDPOINTS: usize = 100;
const DEFAULT_LIMIT: u32 = 50;
const MAX_LIMIT: u32 = 500;

pub fn table() -> Table {
    Table::new()
        .route(Method::GET, "/v1/webhooks/endpoints", list_endpoints)
        .route(Method::POST, "/v1/webhooks/endpoints", create_endpoint)
        .route(Method::GET, "/v1/webhooks/endpoints/{id}", get_endpoint)
        .route(
            Method::DELETE,
            "/v1/webhooks/endpoints/{id}",
            delete_endpoint,
        )
        .route(Method::GET, "/v1/webhooks/deliveries", list_deliveries)
        .route(Method::GET, "/v1/webhooks/deliveries/{id}", get_delivery)
        .route(
            Method::POST,
            "/v1/webhooks/deliveries/{id}/retry",
            retry_delivery,
        )
        .route(Method::GET, "/v1/events", list_events)
}

/// An RFC 9457 problem.
#[derive(Debug)]
pub struct Problem {
    status: StatusCode,
    detail: String,
}

impl Problem {
    fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem {
            status,
            detail: detail.into(),
        }
    }

    fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, detail)
    }

    fn not_found(what: &str, id: &str) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, format!("no {what} with id {id:?}"))
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let body = json!({
            "type": "about:blank",
            "title": self.status.canonical_reason().unwrap_or("Error"),
            "status": self.status.as_u16(),
            "detail": self.detail,
        });
        (
            self.status,
            [(header::CONTENT_TYPE, "application/problem+json")],
            body.to_string(),
        )
            .into_response()
    }
}

impl From<StoreError> for Problem {
    fn from(e: StoreError) -> Problem {
        tracing::error!(error = %e, "webhook API: storage error");
        Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "storage error")
    }
}

impl From<JsonRejection> for Problem {
    fn from(e: JsonRejection) -> Problem {
        Problem::new(e.status(), e.body_text())
    }
}

impl From<QueryRejection> for Problem {
    fn from(e: QueryRejection) -> Problem {
        Problem::bad_request(e.body_text())
    }
}

type ApiResult = Result<Response, Problem>;

fn endpoint_json(e: &Endpoint) -> Value {
    json!({
        "id": e.id,
        "url": e.url,
        "events": e.events,
        "description": e.description,
        "source": e.source,
        "status": if e.disabled_reason.is_some() { "disabled" } else { "enabled" },
        "disabled_reason": e.disabled_reason,
        "created_at": e.created_at,
    })
}

async fn list_endpoints(State(state): State<AppState>) -> ApiResult {
    let mut all = webhook_store::config_endpoints(&state.config);
    all.extend(state.store.webhook_endpoints().await?);
    let data: Vec<Value> = all.iter().map(endpoint_json).collect();
    Ok(Json(json!({ "data": data })).into_response())
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateEndpoint {
    url: String,
    #[serde(default)]
    events: Option<Vec<String>>,
    #[serde(default)]
    secret: Option<String>,
    #[serde(default)]
    description: Option<String>,
}

/// Checks a creation request; the secret is generated when not given.
fn validate_new_endpoint(request: CreateEndpoint) -> Result<NewEndpoint, Problem> {
    let url = request.url.trim().to_string();
    let parsed = reqwest::Url::parse(&url)
        .map_err(|_| Problem::bad_request("url: expected an absolute http:// or https:// URL"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(Problem::bad_request(
            "url: expected an absolute http:// or https:// URL",
        ));
    }
    if url.len() > 2048 {
        return Err(Problem::bad_request("url: longer than 2048 characters"));
    }
    let events = request.events.unwrap_or_else(|| vec!["*".into()]);
    if events.is_empty() || events.len() > 50 {
        return Err(Problem::bad_request(
            "events: give 1 to 50 patterns (\"*\" for every event)",
        ));
    }
    if let Some((i, bad)) = events
        .iter()
        .enumerate()
        .find(|(_, p)| !is_valid_pattern(p))
    {
        return Err(Problem::bad_request(format!(
            "events[{i}]: {bad:?} is not \"*\", an event type like \"message.received\", or a prefix like \"message.*\""
        )));
    }
    let secret = match request.secret {
        None => generate_secret(),
        Some(s) => match decode_secret(&s) {
            Some(key) if (16..=64).contains(&key.len()) => s,
            _ => {
                return Err(Problem::bad_request(
                    "secret: expected whsec_ followed by base64 of 16 to 64 bytes",
                ))
            }
        },
    };
    let description = request.description.map(|d| d.trim().to_string());
    if description
        .as_ref()
        .is_some_and(|d| d.chars().count() > 256)
    {
        return Err(Problem::bad_request(
            "description: longer than 256 characters",
        ));
    }
    Ok(NewEndpoint {
        url,
        secret: secret.into(),
        events,
        description,
    })
}

async fn create_endpoint(
    State(state): State<AppState>,
    body: Result<Json<CreateEndpoint>, JsonRejection>,
) -> ApiResult {
    let Json(request) = body?;
    let new = validate_new_endpoint(request)?;
    if state.config.webhooks.iter().any(|w| w.url == new.url) {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "url: this URL is already a configured [[webhook]]",
        ));
    }
    let created = state
        .store
        .create_webhook_endpoint(new, MAX_API_ENDPOINTS)
        .await?
        .map_err(|refused| match refused {
            EndpointRefused::TooMany { max } => Problem::new(
                StatusCode::CONFLICT,
                format!("at most {max} endpoints; delete one first"),
            ),
            EndpointRefused::UrlTaken => Problem::new(
                StatusCode::CONFLICT,
                "url: an endpoint with this URL exists",
            ),
        })?;
    let mut body = endpoint_json(&created);
    // The only time the secret leaves the server.
    body["secret"] = Value::String(created.secret.expose().clone());
    Ok((StatusCode::CREATED, Json(body)).into_response())
}

async fn find_endpoint(state: &AppState, id: String) -> Result<Endpoint, Problem> {
    if let Some(e) = webhook_store::config_endpoints(&state.config)
        .into_iter()
        .find(|e| e.id == id)
    {
        return Ok(e);
    }
    state
        .store
        .webhook_endpoint(id.clone())
        .await?
        .ok_or_else(|| Problem::not_found("webhook endpoint", &id))
}

async fn get_endpoint(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let endpoint = find_endpoint(&state, id).await?;
    Ok(Json(endpoint_json(&endpoint)).into_response())
}

async fn delete_endpoint(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let endpoint = find_endpoint(&state, id).await?;
    if endpoint.source == EndpointSource::Config {
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "this endpoint is a [[webhook]] of the config file; remove it there",
        ));
    }
    let endpoint_id = endpoint.id.clone();
    state.store.delete_webhook_endpoint(endpoint_id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

fn limit_of(limit: Option<u32>) -> Result<usize, Problem> {
    match limit.unwrap_or(DEFAULT_LIMIT) {
        n @ 1..=MAX_LIMIT => Ok(n as usize),
        _ => Err(Problem::bad_request(format!(
            "limit: must be between 1 and {MAX_LIMIT}"
        ))),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DeliveriesQuery {
    status: Option<String>,
    endpoint_id: Option<String>,
    event_id: Option<String>,
    limit: Option<u32>,
}

async fn list_deliveries(
    State(state): State<AppState>,
    query: Result<Query<DeliveriesQuery>, QueryRejection>,
) -> ApiResult {
    let Query(q) = query?;
    let limit = limit_of(q.limit)?;
    let status = q
        .status
        .as_deref()
        .map(str::parse::<DeliveryStatus>)
        .transpose()
        .map_err(|_| Problem::bad_request("status: expected pending, delivered or failed"))?;
    let filter = DeliveryFilter {
        status,
        endpoint_id: q.endpoint_id,
        event_id: q.event_id,
    };
    let data = state.store.webhook_deliveries(filter, limit).await?;
    Ok(Json(json!({ "data": data })).into_response())
}

async fn get_delivery(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let view = state
        .store
        .webhook_delivery(id.clone())
        .await?
        .ok_or_else(|| Problem::not_found("webhook delivery", &id))?;
    Ok(Json(view).into_response())
}

async fn retry_delivery(State(state): State<AppState>, Path(id): Path<String>) -> ApiResult {
    let current = state
        .store
        .webhook_delivery(id.clone())
        .await?
        .ok_or_else(|| Problem::not_found("webhook delivery", &id))?;
    if current.endpoint_kind == DeliveryKind::Config {
        let configured = webhook_store::config_endpoints(&state.config);
        if !configured
            .iter()
            .any(|e| current.endpoint_id.as_deref() == Some(e.id.as_str()))
        {
            return Err(Problem::new(
                StatusCode::CONFLICT,
                "the endpoint is no longer in the config file",
            ));
        }
    }
    let give_up_after = Duration::from_secs(state.config.webhook_delivery.give_up_after_secs);
    let outcome = state
        .store
        .retry_webhook_delivery(id, give_up_after)
        .await?;
    match outcome {
        RetryOutcome::Scheduled(view) => {
            // The dispatcher sleeps on this; it fans out (nothing new) and finds the delivery due.
            state.events_appended.notify_waiters();
            Ok((StatusCode::ACCEPTED, Json(view)).into_response())
        }
        RetryOutcome::NotFound => Err(Problem::not_found("webhook delivery", &current.id)),
        RetryOutcome::EndpointInactive(reason) => Err(Problem::new(StatusCode::CONFLICT, reason)),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    /// A seq, or an event id (`evt_…`): events after it.
    after: Option<String>,
    limit: Option<u32>,
}

async fn list_events(
    State(state): State<AppState>,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> ApiResult {
    let Query(q) = query?;
    let limit = limit_of(q.limit)?;
    let after = q.after.unwrap_or_default();
    let listed = state
        .store
        // One more than asked tells whether there are more.
        .events_after(after, limit + 1)
        .await?;
    let (after_seq, mut list) = listed.map_err(|unknown| {
        Problem::bad_request(format!(
            "after: {unknown:?} is neither a sequence number nor a known event id"
        ))
    })?;
    let has_more = list.len() > limit;
    list.truncate(limit);
    let next_after = list.last().map_or(after_seq, |e| e.seq);
    let data: Vec<Value> = list
        .iter()
        .map(|e| {
            json!({
                "seq": e.seq,
                "id": e.id,
                "type": e.kind,
                "data": e.data,
                "target_url": e.target_url,
                "created_at": e.created_at,
            })
        })
        .collect();
    Ok(
        Json(json!({ "data": data, "next_after": next_after, "has_more": has_more }))
            .into_response(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(url: &str) -> CreateEndpoint {
        CreateEndpoint {
            url: url.into(),
            events: None,
            secret: None,
            description: None,
        }
    }

    #[test]
    fn new_endpoints_are_checked() {
        let ok = validate_new_endpoint(request("http://127.0.0.1:9000/hooks")).unwrap();
        assert_eq!(ok.events, vec!["*"]);
        assert!(decode_secret(&ok.secret).is_some(), "a secret is generated");
        for bad_url in ["", "127.0.0.1:9000", "ftp://x/", "http://", "mailto:a@b"] {
            let err = validate_new_endpoint(request(bad_url)).unwrap_err();
            assert_eq!(err.status, StatusCode::BAD_REQUEST, "{bad_url}");
            assert!(err.detail.starts_with("url"), "{bad_url}: {}", err.detail);
        }
        let mut r = request("http://h/");
        r.events = Some(vec!["message.*".into(), "Nope".into()]);
        assert!(validate_new_endpoint(r)
            .unwrap_err()
            .detail
            .starts_with("events[1]"));
        let mut r = request("http://h/");
        r.events = Some(vec![]);
        assert!(validate_new_endpoint(r)
            .unwrap_err()
            .detail
            .starts_with("events"));
        let mut r = request("http://h/");
        r.secret = Some("whsec_AAAA".into());
        assert!(
            validate_new_endpoint(r)
                .unwrap_err()
                .detail
                .starts_with("secret"),
            "too short a key"
        );
        let mut r = request("http://h/");
        r.secret = Some("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into());
        assert_eq!(
            validate_new_endpoint(r).unwrap().secret,
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
        );
        let mut r = request("http://h/");
        r.description = Some("x".repeat(257));
        assert!(validate_new_endpoint(r)
            .unwrap_err()
            .detail
            .starts_with("description"));
    }

    #[test]
    fn limits() {
        assert_eq!(limit_of(None).unwrap(), DEFAULT_LIMIT as usize);
        assert_eq!(limit_of(Some(1)).unwrap(), 1);
        assert!(limit_of(Some(0)).is_err());
        assert!(limit_of(Some(MAX_LIMIT + 1)).is_err());
    }
}
