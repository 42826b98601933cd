//! The webhook tables: endpoints created through the API, the delivery outbox, the attempt log
//! and the fan-out cursor: SQLite functions, and the `Store` operations (at the end) callers use.

use crate::redact::Redacted;
use crate::states::DeliveryStatus;
use crate::store::db::{params, Connection, OptionalExtension, Row};
use crate::store::events::{self, Event};
use crate::store::{new_id, now_ms, Result, Store};
use crate::webhook::policy::{self, Next};
use serde::Serialize;
use std::collections::HashSet;
use std::time::Duration;

/// Where an endpoint comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EndpointSource {
    /// A `[[webhook]]` table of the config file: read-only through the API.
    Config,
    /// Created through the API, persisted in `webhook_endpoints`.
    Api,
}

/// A subscribed endpoint. `Debug` never shows the secret.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    pub id: String,
    pub url: String,
    /// `whsec_…`; empty for a `[[webhook]]` without one (then the derived secret signs).
    pub secret: Redacted<String>,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub source: EndpointSource,
    /// Why it receives nothing more (it answered 410 Gone), if so.
    pub disabled_reason: Option<String>,
    pub created_at: Option<i64>,
}

/// Id of a configured endpoint: derived from its URL (unique in a valid config), so that its
/// pending deliveries find it again after a restart even if the tables were reordered.
pub fn config_endpoint_id(url: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(url.as_bytes());
    format!("cfg_{}", &hex::encode(digest)[..16])
}

/// The `[[webhook]]` tables as endpoints.
pub fn config_endpoints(config: &crate::config::Config) -> Vec<Endpoint> {
    config
        .webhooks
        .iter()
        .map(|w| Endpoint {
            id: config_endpoint_id(&w.url),
            url: w.url.clone(),
            secret: w.secret.clone(),
            events: w.events.clone(),
            description: None,
            source: EndpointSource::Config,
            disabled_reason: None,
            created_at: None,
        })
        .collect()
}

/// Which kind of destination a delivery has.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryKind {
    Config,
    Api,
    /// The event's own `target_url` (a reverse verification's `success_url`).
    Target,
}

impl DeliveryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryKind::Config => "config",
            DeliveryKind::Api => "api",
            DeliveryKind::Target => "target",
        }
    }
}

/// Read strictly: an unknown kind is an error, never taken for another.
impl crate::store::db::FromSql for DeliveryKind {
    fn column_result(
        value: crate::store::db::ValueRef<'_>,
    ) -> crate::store::db::FromSqlResult<Self> {
        match value.as_str()? {
            "config" => Ok(DeliveryKind::Config),
            "api" => Ok(DeliveryKind::Api),
            "target" => Ok(DeliveryKind::Target),
            other => Err(crate::store::db::FromSqlError::Other(Box::new(
                crate::states::UnknownState::new("webhook endpoint kind", other),
            ))),
        }
    }
}

/// Fans out up to `batch` events after the cursor into deliveries, one per subscribed active
/// endpoint plus the event's `target_url`, and moves the cursor past them, in one transaction:
/// an event is fanned out exactly once, and a restart resumes after the last one.
/// Returns how many events were read (fewer than `batch`: the log is drained).
pub fn fan_out(
    conn: &Connection,
    configured: &[Endpoint],
    give_up_after: Duration,
    now: i64,
    batch: usize,
) -> crate::store::db::Result<usize> {
    Ok(fan_out_with(conn, configured, give_up_after, now, batch, None)?.0)
}

/// [`fan_out`], with the deliveries it makes held under `lease` and returned, so the caller
/// can hand them to the dispatcher once its transaction is committed ([`Handoff`]).
pub fn fan_out_leased(
    conn: &Connection,
    configured: &[Endpoint],
    give_up_after: Duration,
    now: i64,
    batch: usize,
    lease: &Lease,
) -> crate::store::db::Result<Vec<DueDelivery>> {
    Ok(fan_out_with(conn, configured, give_up_after, now, batch, Some(lease))?.1)
}

fn fan_out_with(
    conn: &Connection,
    configured: &[Endpoint],
    give_up_after: Duration,
    now: i64,
    batch: usize,
    lease: Option<&Lease>,
) -> crate::store::db::Result<(usize, Vec<DueDelivery>)> {
    let tx = conn.transaction()?;
    let cursor: i64 = tx.query_row(
        "SELECT last_seq FROM webhook_cursor WHERE id = 1",
        [],
        |r| r.get(0),
    )?;
    let new_events = events::since(&tx, cursor, batch)?;
    let Some(last) = new_events.last().map(|e| e.seq) else {
        return Ok((0, Vec::new()));
    };
    let held = lease.map(|l| (l.host.as_str(), now.saturating_add(l.duration_ms)));
    let mut made = Vec::new();
    let mut endpoints = configured.to_vec();
    endpoints.extend(active_api_endpoints(&tx)?);
    let give_up_at =
        now.saturating_add(i64::try_from(give_up_after.as_millis()).unwrap_or(i64::MAX));
    for event in &new_events {
        let body = policy::event_body(event);
        let mut urls = HashSet::new();
        for endpoint in endpoints
            .iter()
            .filter(|e| policy::subscribes(&e.events, event.kind.as_str()))
        {
            let kind = match endpoint.source {
                EndpointSource::Config => DeliveryKind::Config,
                EndpointSource::Api => DeliveryKind::Api,
            };
            if urls.insert(endpoint.url.as_str()) {
                let made_one = NewDelivery {
                    event,
                    kind,
                    endpoint: Some(endpoint),
                    url: &endpoint.url,
                    body: &body,
                };
                made.extend(insert_delivery(&tx, made_one, now, give_up_at, held)?);
            }
        }
        // The target gets the event once, even when it is also a subscribed endpoint.
        if let Some(target) = event.target_url.as_deref().filter(|t| !urls.contains(t)) {
            let made_one = NewDelivery {
                event,
                kind: DeliveryKind::Target,
                endpoint: None,
                url: target,
                body: &body,
            };
            made.extend(insert_delivery(&tx, made_one, now, give_up_at, held)?);
        }
    }
    tx.execute(
        "UPDATE webhook_cursor SET last_seq = ?1 WHERE id = 1",
        [last],
    )?;
    tx.commit()?;
    Ok((new_events.len(), made))
}

/// One delivery [`fan_out`] makes.
struct NewDelivery<'a> {
    event: &'a Event,
    kind: DeliveryKind,
    endpoint: Option<&'a Endpoint>,
    url: &'a str,
    body: &'a str,
}

/// Inserts a pending delivery. Held by `held` = (host, until), it is also returned as the
/// dispatcher would read it back, for the first attempt from memory; unheld, a poll reads it.
fn insert_delivery(
    conn: &Connection,
    new: NewDelivery<'_>,
    now: i64,
    give_up_at: i64,
    held: Option<(&str, i64)>,
) -> crate::store::db::Result<Option<DueDelivery>> {
    let id = new_id("dlv");
    let endpoint_id = new.endpoint.map(|e| e.id.as_str());
    conn.prepare_cached(
        "INSERT INTO webhook_deliveries (id, event_seq, event_id, event_type, endpoint_kind, endpoint_id, url, body, status, next_attempt_at, give_up_at, created_at, updated_at, lease_host, lease_until)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 'pending', ?9, ?10, ?9, ?9, ?11, ?12)",
    )?
    .execute(params![
        id,
        new.event.seq,
        new.event.id,
        new.event.kind,
        new.kind.as_str(),
        endpoint_id,
        new.url,
        new.body,
        now,
        give_up_at,
        held.map(|h| h.0),
        held.map(|h| h.1)
    ])?;
    if held.is_none() {
        return Ok(None);
    }
    let api_secret = match (new.kind, new.endpoint) {
        (DeliveryKind::Api, Some(e)) => Some(e.secret.expose().clone()),
        _ => None,
    };
    Ok(Some(DueDelivery {
        id,
        event_id: new.event.id.clone(),
        kind: new.kind,
        endpoint_id: endpoint_id.map(str::to_string),
        url: new.url.to_string(),
        body: new.body.to_string(),
        attempts: 0,
        schedule_start: 0,
        give_up_at,
        api_secret,
        // Fanned out only to active endpoints, in this transaction.
        api_inactive: None,
    }))
}

/// [`super::Store::release_webhook_leases_of`] in the caller's connection.
pub fn release_leases_of(
    conn: &Connection,
    host: &str,
    cutoff: i64,
) -> crate::store::db::Result<usize> {
    conn.execute(
        "UPDATE webhook_deliveries SET lease_host = NULL, lease_until = NULL
         WHERE lease_host = ?1 AND lease_until < ?2",
        params![host, cutoff],
    )
}

/// Lets go of deliveries this host held but will not attempt now (the dispatcher had no free
/// slot for a hand-off), so the next poll, here or on another host, may claim them.
pub fn release_leases(conn: &Connection, ids: &[String]) -> crate::store::db::Result<()> {
    for id in ids {
        conn.execute(
            "UPDATE webhook_deliveries SET lease_host = NULL, lease_until = NULL WHERE id = ?1 AND status = 'pending'",
            [id],
        )?;
    }
    Ok(())
}

/// A pending delivery whose time has come, with what the dispatcher needs to send it.
#[derive(Clone)]
pub struct DueDelivery {
    pub id: String,
    pub event_id: String,
    pub kind: DeliveryKind,
    pub endpoint_id: Option<String>,
    pub url: String,
    pub body: String,
    /// Attempts so far, and how many of them came before the current schedule.
    pub attempts: u32,
    pub schedule_start: u32,
    pub give_up_at: i64,
    /// For `api` deliveries: the endpoint's secret, and why it is inactive (deleted or
    /// disabled), if it is.
    pub api_secret: Option<String>,
    pub api_inactive: Option<String>,
}

impl std::fmt::Debug for DueDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DueDelivery")
            .field("id", &self.id)
            .field("event_id", &self.event_id)
            .field("kind", &self.kind)
            .field("endpoint_id", &self.endpoint_id)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// Up to `limit` pending deliveries due at `now`, oldest due first, skipping those in `busy`
/// (already being attempted).
pub fn due(
    conn: &Connection,
    now: i64,
    busy: &HashSet<String>,
    limit: usize,
) -> crate::store::db::Result<Vec<DueDelivery>> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare_cached(
        "SELECT d.id, d.event_id, d.endpoint_kind, d.endpoint_id, d.url, d.body, d.attempts, d.schedule_start, d.give_up_at,
                e.secret, e.deleted_at, e.disabled_at, e.disabled_reason, e.id
         FROM webhook_deliveries d
         LEFT JOIN webhook_endpoints e ON d.endpoint_kind = 'api' AND e.id = d.endpoint_id
         WHERE d.status = 'pending' AND d.next_attempt_at <= ?1
         ORDER BY d.next_attempt_at LIMIT ?2",
    )?;
    let fetch = (limit + busy.len()) as i64;
    let rows = stmt.query_map(params![now, fetch], due_from)?;
    let mut out = Vec::with_capacity(limit);
    for row in rows {
        let row = row?;
        if !busy.contains(&row.id) {
            out.push(row);
            if out.len() == limit {
                break;
            }
        }
    }
    Ok(out)
}

/// When the next pending delivery not in `busy` falls due (ms), if any.
pub fn next_due_at(
    conn: &Connection,
    busy: &HashSet<String>,
) -> crate::store::db::Result<Option<i64>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, next_attempt_at FROM webhook_deliveries WHERE status = 'pending' ORDER BY next_attempt_at LIMIT ?1",
    )?;
    let rows = stmt.query_map([(busy.len() + 1) as i64], |r| {
        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
    })?;
    for row in rows {
        let (id, at) = row?;
        if !busy.contains(&id) {
            return Ok(Some(at));
        }
    }
    Ok(None)
}

/// How many pending deliveries one [`claim`] looks at, at most: it skips those it may not
/// start, so a backlog for one saturated endpoint must not make every poll read the whole table.
const CLAIM_SCAN: i64 = 5_000;

/// Requests in flight, as the dispatcher counts them.
#[derive(Debug, Default, Clone)]
pub struct InFlight {
    /// Deliveries being attempted.
    pub ids: HashSet<String>,
    /// Attempts in flight per origin ([`origin_of`]).
    pub per_origin: std::collections::HashMap<String, usize>,
}

/// What requests are grouped by for the per-endpoint limit: scheme, host and port of the URL
/// (so that many `success_url`s on one slow host count as one endpoint). An unparsable URL is
/// its own group.
pub fn origin_of(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!(
            "{}://{}:{}",
            u.scheme(),
            u.host_str().unwrap_or(""),
            u.port_or_known_default().unwrap_or(0)
        ),
        Err(_) => url.to_string(),
    }
}

/// Claims up to `limit` due deliveries, oldest due first, skipping those in flight and those
/// whose origin already has `per_origin` attempts in flight (counting the ones claimed here),
/// so that one slow or black-holed endpoint cannot take every slot. Also returns when the
/// next delivery that could start falls due (`None`: nothing pending that may start).
pub fn claim(
    conn: &Connection,
    now: i64,
    in_flight: &InFlight,
    per_origin: usize,
    limit: usize,
) -> crate::store::db::Result<(Vec<DueDelivery>, Option<i64>)> {
    let mut stmt = conn.prepare_cached(
        "SELECT d.id, d.event_id, d.endpoint_kind, d.endpoint_id, d.url, d.body, d.attempts, d.schedule_start, d.give_up_at,
                e.secret, e.deleted_at, e.disabled_at, e.disabled_reason, e.id, d.next_attempt_at
         FROM webhook_deliveries d
         LEFT JOIN webhook_endpoints e ON d.endpoint_kind = 'api' AND e.id = d.endpoint_id
         WHERE d.status = 'pending' AND (d.lease_until IS NULL OR d.lease_until <= ?2)
         ORDER BY d.next_attempt_at LIMIT ?1",
    )?;
    // Each row read whole (the scan is bounded by CLAIM_SCAN), then chosen from in order.
    let rows = stmt.query_map([CLAIM_SCAN, now], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(4)?,
            r.get::<_, i64>(14)?,
            due_from(r)?,
        ))
    })?;
    let mut load = in_flight.per_origin.clone();
    let mut out = Vec::new();
    let mut next_due = None;
    for row in rows {
        let (id, url, at, due) = row?;
        if in_flight.ids.contains(&id) {
            continue;
        }
        let origin = origin_of(&url);
        let count = load.entry(origin).or_insert(0);
        if *count >= per_origin {
            continue;
        }
        if at > now || out.len() >= limit {
            next_due = Some(at);
            break;
        }
        *count += 1;
        out.push(due);
    }
    Ok((out, next_due))
}

fn due_from(r: &Row<'_>) -> crate::store::db::Result<DueDelivery> {
    let kind: DeliveryKind = r.get(2)?;
    let deleted: Option<i64> = r.get(10)?;
    let disabled: Option<i64> = r.get(11)?;
    let found: Option<String> = r.get(13)?;
    let api_inactive = match kind {
        DeliveryKind::Api if found.is_none() || deleted.is_some() => {
            Some("the endpoint was deleted".to_string())
        }
        DeliveryKind::Api if disabled.is_some() => Some(format!(
            "the endpoint is disabled ({})",
            r.get::<_, Option<String>>(12)?.unwrap_or_default()
        )),
        _ => None,
    };
    Ok(DueDelivery {
        id: r.get(0)?,
        event_id: r.get(1)?,
        kind,
        endpoint_id: r.get(3)?,
        url: r.get(4)?,
        body: r.get(5)?,
        attempts: r.get(6)?,
        schedule_start: r.get(7)?,
        give_up_at: r.get(8)?,
        api_secret: r.get(9)?,
        api_inactive,
    })
}

/// One HTTP attempt, for the log.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub at: i64,
}

/// Logs an attempt and moves the delivery on, in one transaction. When the endpoint answered
/// 410 and is an API endpoint, it is disabled and its other pending deliveries fail.
pub fn record_attempt(
    conn: &mut Connection,
    delivery: &DueDelivery,
    attempt: &AttemptRecord,
    next: &Next,
    gone: bool,
) -> crate::store::db::Result<()> {
    let tx = conn.transaction()?;
    let attempts: u32 = tx
        .query_row(
            "SELECT attempts FROM webhook_deliveries WHERE id = ?1",
            [&delivery.id],
            |r| r.get(0),
        )
        .optional()?
        .unwrap_or(delivery.attempts);
    tx.execute(
        "INSERT INTO webhook_attempts (delivery_id, attempt, status_code, error, duration_ms, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![delivery.id, attempts + 1, attempt.status_code, attempt.error, attempt.duration_ms, attempt.at],
    )?;
    let (status, next_at, error, delivered_at) = match next {
        Next::Delivered => ("delivered", attempt.at, None, Some(attempt.at)),
        Next::RetryAt(at) => ("pending", *at, attempt.error.clone(), None),
        Next::Failed(reason) => (
            "failed",
            attempt.at,
            Some(match &attempt.error {
                Some(e) => format!("{e}; {reason}"),
                None => reason.clone(),
            }),
            None,
        ),
    };
    tx.execute(
        "UPDATE webhook_deliveries SET attempts = ?2, status = ?3, next_attempt_at = ?4, last_status_code = ?5,
                last_error = ?6, updated_at = ?7, delivered_at = COALESCE(?8, delivered_at),
                lease_host = NULL, lease_until = NULL
         WHERE id = ?1",
        params![
            delivery.id,
            attempts + 1,
            status,
            next_at,
            attempt.status_code,
            error,
            attempt.at,
            delivered_at
        ],
    )?;
    if gone && delivery.kind == DeliveryKind::Api {
        if let Some(endpoint) = &delivery.endpoint_id {
            let reason = "the endpoint answered 410 Gone";
            tx.execute(
                "UPDATE webhook_endpoints SET disabled_at = ?2, disabled_reason = ?3 WHERE id = ?1 AND disabled_at IS NULL",
                params![endpoint, attempt.at, reason],
            )?;
            fail_pending_of(
                &tx,
                endpoint,
                &format!("the endpoint is disabled ({reason})"),
                attempt.at,
            )?;
        }
    }
    tx.commit()
}

/// Marks a delivery failed without an attempt (its endpoint is gone).
pub fn fail_unsent(
    conn: &Connection,
    id: &str,
    reason: &str,
    now: i64,
) -> crate::store::db::Result<()> {
    conn.execute(
        "UPDATE webhook_deliveries SET status = 'failed', last_error = ?2, updated_at = ?3 WHERE id = ?1 AND status = 'pending'",
        params![id, reason, now],
    )?;
    Ok(())
}

fn fail_pending_of(
    conn: &Connection,
    endpoint_id: &str,
    reason: &str,
    now: i64,
) -> crate::store::db::Result<usize> {
    conn.execute(
        "UPDATE webhook_deliveries SET status = 'failed', last_error = ?2, updated_at = ?3
         WHERE endpoint_kind = 'api' AND endpoint_id = ?1 AND status = 'pending'",
        params![endpoint_id, reason, now],
    )
}

/// Deletes up to `batch` finished (delivered or failed) deliveries created before `cutoff`
/// (ms), with their attempts, in one transaction. Pending ones are kept whatever their age.
/// Returns how many deliveries went (fewer than `batch`: nothing more to prune).
pub fn prune(conn: &mut Connection, cutoff: i64, batch: usize) -> crate::store::db::Result<usize> {
    // The same ordered selection twice in one transaction: the same deliveries.
    const SELECTION: &str = "SELECT id FROM webhook_deliveries
         WHERE created_at < ?1 AND status != 'pending' ORDER BY created_at, id LIMIT ?2";
    let tx = conn.transaction()?;
    tx.execute(
        &format!("DELETE FROM webhook_attempts WHERE delivery_id IN ({SELECTION})"),
        params![cutoff, batch as i64],
    )?;
    let gone = tx.execute(
        &format!("DELETE FROM webhook_deliveries WHERE id IN ({SELECTION})"),
        params![cutoff, batch as i64],
    )?;
    tx.commit()?;
    Ok(gone)
}

// ---- endpoints created through the API ----

/// A new endpoint as validated by the API. `Debug` never shows the secret.
#[derive(Debug, Clone)]
pub struct NewEndpoint {
    pub url: String,
    pub secret: Redacted<String>,
    pub events: Vec<String>,
    pub description: Option<String>,
}

const ENDPOINT_COLUMNS: &str = "id, url, secret, events, description, disabled_reason, created_at";

fn endpoint_from(r: &Row<'_>) -> crate::store::db::Result<Endpoint> {
    let events: String = r.get(3)?;
    Ok(Endpoint {
        id: r.get(0)?,
        url: r.get(1)?,
        secret: r.get(2)?,
        events: serde_json::from_str(&events).unwrap_or_default(),
        description: r.get(4)?,
        source: EndpointSource::Api,
        disabled_reason: r.get(5)?,
        created_at: r.get(6)?,
    })
}

pub fn insert_endpoint(
    conn: &Connection,
    new: &NewEndpoint,
    now: i64,
) -> crate::store::db::Result<Endpoint> {
    let id = new_id("wep");
    let events = serde_json::to_string(&new.events).unwrap_or_else(|_| "[]".into());
    conn.execute(
        "INSERT INTO webhook_endpoints (id, url, secret, events, description, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![id, new.url, new.secret, events, new.description, now],
    )?;
    Ok(Endpoint {
        id,
        url: new.url.clone(),
        secret: new.secret.clone(),
        events: new.events.clone(),
        description: new.description.clone(),
        source: EndpointSource::Api,
        disabled_reason: None,
        created_at: Some(now),
    })
}

/// API endpoints not deleted (disabled ones included), oldest first.
pub fn api_endpoints(conn: &Connection) -> crate::store::db::Result<Vec<Endpoint>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE deleted_at IS NULL ORDER BY created_at, id"
    ))?;
    let rows = stmt.query_map([], endpoint_from)?;
    rows.collect()
}

fn active_api_endpoints(conn: &Connection) -> crate::store::db::Result<Vec<Endpoint>> {
    Ok(api_endpoints(conn)?
        .into_iter()
        .filter(|e| e.disabled_reason.is_none())
        .collect())
}

pub fn get_api_endpoint(conn: &Connection, id: &str) -> crate::store::db::Result<Option<Endpoint>> {
    conn.query_row(
        &format!(
            "SELECT {ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = ?1 AND deleted_at IS NULL"
        ),
        [id],
        endpoint_from,
    )
    .optional()
}

/// Deletes an API endpoint (kept for the log) and fails its pending deliveries. False if unknown.
pub fn delete_endpoint(
    conn: &mut Connection,
    id: &str,
    now: i64,
) -> crate::store::db::Result<bool> {
    let tx = conn.transaction()?;
    let changed = tx.execute(
        "UPDATE webhook_endpoints SET deleted_at = ?2 WHERE id = ?1 AND deleted_at IS NULL",
        params![id, now],
    )?;
    if changed > 0 {
        fail_pending_of(&tx, id, "the endpoint was deleted", now)?;
    }
    tx.commit()?;
    Ok(changed > 0)
}

// ---- the delivery log ----

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AttemptView {
    pub attempt: u32,
    pub status_code: Option<u16>,
    pub error: Option<String>,
    pub duration_ms: i64,
    pub at: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DeliveryView {
    pub id: String,
    pub event_id: String,
    pub event_type: String,
    pub endpoint_kind: DeliveryKind,
    pub endpoint_id: Option<String>,
    pub url: String,
    pub status: DeliveryStatus,
    pub attempt_count: u32,
    /// When the next attempt is due (pending deliveries only).
    pub next_attempt_at: Option<i64>,
    pub last_status_code: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub delivered_at: Option<i64>,
    /// Every attempt, oldest first (single-delivery views only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<Vec<AttemptView>>,
}

const DELIVERY_COLUMNS: &str = "id, event_id, event_type, endpoint_kind, endpoint_id, url, status, attempts, next_attempt_at, last_status_code, last_error, created_at, updated_at, delivered_at";

fn delivery_from(r: &Row<'_>) -> crate::store::db::Result<DeliveryView> {
    let status: DeliveryStatus = r.get(6)?;
    let next: i64 = r.get(8)?;
    Ok(DeliveryView {
        id: r.get(0)?,
        event_id: r.get(1)?,
        event_type: r.get(2)?,
        endpoint_kind: r.get(3)?,
        endpoint_id: r.get(4)?,
        url: r.get(5)?,
        next_attempt_at: (status == DeliveryStatus::Pending).then_some(next),
        status,
        attempt_count: r.get(7)?,
        last_status_code: r.get(9)?,
        last_error: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
        delivered_at: r.get(13)?,
        attempts: None,
    })
}

/// Filters of the delivery list.
#[derive(Debug, Clone, Default)]
pub struct DeliveryFilter {
    pub status: Option<DeliveryStatus>,
    pub endpoint_id: Option<String>,
    pub event_id: Option<String>,
}

/// Deliveries, newest first.
pub fn list_deliveries(
    conn: &Connection,
    filter: &DeliveryFilter,
    limit: usize,
) -> crate::store::db::Result<Vec<DeliveryView>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries
         WHERE (CAST(?1 AS TEXT) IS NULL OR status = ?1) AND (CAST(?2 AS TEXT) IS NULL OR endpoint_id = ?2)
           AND (CAST(?3 AS TEXT) IS NULL OR event_id = ?3)
         ORDER BY created_at DESC, rowid DESC LIMIT ?4"
    ))?;
    let rows = stmt.query_map(
        params![
            filter.status,
            filter.endpoint_id,
            filter.event_id,
            limit as i64
        ],
        delivery_from,
    )?;
    rows.collect()
}

/// One delivery with its attempts.
pub fn get_delivery(conn: &Connection, id: &str) -> crate::store::db::Result<Option<DeliveryView>> {
    let Some(mut view) = conn
        .query_row(
            &format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ?1"),
            [id],
            delivery_from,
        )
        .optional()?
    else {
        return Ok(None);
    };
    let mut stmt = conn.prepare_cached(
        "SELECT attempt, status_code, error, duration_ms, at FROM webhook_attempts WHERE delivery_id = ?1 ORDER BY attempt, id",
    )?;
    let attempts = stmt
        .query_map([id], |r| {
            Ok(AttemptView {
                attempt: r.get(0)?,
                status_code: r.get(1)?,
                error: r.get(2)?,
                duration_ms: r.get(3)?,
                at: r.get(4)?,
            })
        })?
        .collect::<crate::store::db::Result<Vec<_>>>()?;
    view.attempts = Some(attempts);
    Ok(Some(view))
}

/// What a manual retry came to.
#[derive(Debug, Clone, PartialEq)]
pub enum RetryOutcome {
    Scheduled(Box<DeliveryView>),
    NotFound,
    /// The destination no longer takes deliveries (deleted or disabled API endpoint).
    EndpointInactive(String),
}

/// Makes a delivery due now with a fresh schedule (attempt budget and deadline), whatever its
/// status: a failed one is tried again, a delivered one is sent once more.
pub fn schedule_retry(
    conn: &mut Connection,
    id: &str,
    now: i64,
    give_up_after: Duration,
) -> crate::store::db::Result<RetryOutcome> {
    let tx = conn.transaction()?;
    let found: Option<(String, Option<String>)> = tx
        .query_row(
            "SELECT endpoint_kind, endpoint_id FROM webhook_deliveries WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let Some((kind, endpoint_id)) = found else {
        return Ok(RetryOutcome::NotFound);
    };
    if kind == "api" {
        let state: Option<(Option<i64>, Option<String>)> = tx
            .query_row(
                "SELECT deleted_at, disabled_reason FROM webhook_endpoints WHERE id = ?1",
                [&endpoint_id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        match state {
            None | Some((Some(_), _)) => {
                return Ok(RetryOutcome::EndpointInactive(
                    "the endpoint was deleted".into(),
                ))
            }
            Some((None, Some(reason))) => {
                return Ok(RetryOutcome::EndpointInactive(format!(
                    "the endpoint is disabled ({reason})"
                )))
            }
            Some((None, None)) => {}
        }
    }
    let give_up_at =
        now.saturating_add(i64::try_from(give_up_after.as_millis()).unwrap_or(i64::MAX));
    tx.execute(
        "UPDATE webhook_deliveries SET status = 'pending', schedule_start = attempts, next_attempt_at = ?2,
                give_up_at = ?3, updated_at = ?2
         WHERE id = ?1",
        params![id, now, give_up_at],
    )?;
    let view = tx.query_row(
        &format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE id = ?1"),
        [id],
        delivery_from,
    )?;
    tx.commit()?;
    Ok(RetryOutcome::Scheduled(Box::new(view)))
}

// ---- the door: the operations callers use ----

/// How new events become deliveries: the configured endpoints (the API's are read from the
/// database) and how long a delivery is tried. Set by the dispatcher, so that the inbound
/// transaction can fan its `message.received` out itself ([`super::Store::fan_out_plan`]).
#[derive(Debug, Clone)]
pub struct FanOutPlan {
    pub configured: Vec<Endpoint>,
    pub give_up_after: Duration,
    pub batch: usize,
    /// Where the deliveries go once committed, if the dispatcher takes them straight from
    /// memory.
    pub handoff: Option<Handoff>,
}

/// The first attempt without reading the outbox back: the inbound transaction writes its
/// deliveries held by this host ([`Lease`]), so no poll (here or on another host) claims
/// them, and after the commit sends them here; the dispatcher attempts them at once, or lets
/// go of the lease when it has no free slot. The outbox stays the source of truth: a
/// hand-off lost in a crash is a pending row whose lease lapses (or is released at start).
#[derive(Debug, Clone)]
pub struct Handoff {
    pub lease: Lease,
    pub to: tokio::sync::mpsc::UnboundedSender<DueDelivery>,
}

/// Fans out, inside the caller's transaction, the events it appended (and any older ones not
/// fanned out yet), as `plan` says: with a [`Handoff`], the deliveries are held for this
/// host's dispatcher and go to it from memory once the outermost transaction has committed
/// ([`Connection::after_commit`]: on PostgreSQL, where the store call's own transaction is
/// the outermost, not before its `COMMIT`), so no webhook announces what might still be
/// undone. `handed_off` is notified then too, for whoever else follows the log, since the
/// dispatcher's poll is not woken. Returns whether the dispatcher must still be woken to poll
/// for them (no hand-off, or no plan yet: the events wait for its first fan-out).
pub(crate) fn fan_out_in_transaction(
    conn: &Connection,
    plan: Option<&FanOutPlan>,
    handed_off: &std::sync::Arc<tokio::sync::Notify>,
) -> crate::store::db::Result<bool> {
    let Some(plan) = plan else { return Ok(true) };
    let now = now_ms();
    let Some(handoff) = &plan.handoff else {
        fan_out(conn, &plan.configured, plan.give_up_after, now, plan.batch)?;
        return Ok(true);
    };
    let handed = fan_out_leased(
        conn,
        &plan.configured,
        plan.give_up_after,
        now,
        plan.batch,
        &handoff.lease,
    )?;
    let to = handoff.to.clone();
    let handed_off = handed_off.clone();
    conn.after_commit(move || {
        for delivery in handed {
            // A dispatcher that is gone (shutting down): the lease lapses, or is released at
            // the next start, and the row is attempted then.
            let _ = to.send(delivery);
        }
        handed_off.notify_waiters();
    });
    Ok(false)
}

/// What the dispatcher may claim: up to `free` deliveries, at most `per_origin` in flight per
/// origin counting `busy`, held with `lease` when hosts share the outbox.
#[derive(Debug, Clone)]
pub struct Claiming {
    pub busy: InFlight,
    pub per_origin: usize,
    pub free: usize,
    pub lease: Option<Lease>,
}

/// A host's hold on the deliveries it attempts (several hosts sharing one database).
#[derive(Debug, Clone)]
pub struct Lease {
    pub host: String,
    /// Longer than an attempt can take, plus the time a host may be silent before it is
    /// taken for dead.
    pub duration_ms: i64,
}

/// Why an API endpoint was not created.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndpointRefused {
    /// `max` endpoints exist already.
    TooMany { max: usize },
    /// An endpoint with this URL exists.
    UrlTaken,
}

impl Store {
    /// Dispatcher poll: fans out every new event (in batches of `fan_out_batch`), then claims
    /// up to `free` due deliveries within the per-origin limit, and tells when the next one that
    /// may start falls due.
    pub async fn fan_out_and_claim(
        &self,
        configured: Vec<Endpoint>,
        give_up_after: Duration,
        fan_out_batch: usize,
        claiming: Claiming,
    ) -> Result<(Vec<DueDelivery>, Option<i64>)> {
        self.call(move |conn| {
            let now = now_ms();
            while fan_out(conn, &configured, give_up_after, now, fan_out_batch)? == fan_out_batch {}
            let Claiming {
                busy,
                per_origin,
                free,
                lease,
            } = claiming;
            let (claimed, next) = claim(conn, now, &busy, per_origin, free)?;
            if let Some(lease) = &lease {
                // Hosts sharing the database: this one attempts these; the others skip them
                // until the attempt is recorded or the lease lapses (this host died).
                for d in &claimed {
                    conn.execute(
                        "UPDATE webhook_deliveries SET lease_host = ?2, lease_until = ?3 WHERE id = ?1",
                        params![d.id, lease.host, now + lease.duration_ms],
                    )?;
                }
            }
            Ok((claimed, next))
        })
        .await
    }

    /// Lets go of hand-offs the dispatcher cannot attempt now ([`release_leases`]).
    pub async fn release_webhook_leases(&self, ids: Vec<String>) -> Result<()> {
        self.call(move |c| Ok(release_leases(c, &ids)?)).await
    }

    /// When a dispatcher starts: lets go of the deliveries `host` held under leases that run
    /// out before `cutoff` (hand-offs and attempts that a crash, or the dispatcher this one
    /// replaces, cut short), so they are attempted again now rather than when their leases
    /// lapse. Leases granted after the new dispatcher's hand-offs were set up run out later
    /// and are kept: those deliveries are already on their way to it, and released they
    /// would also be claimed by its first poll, and sent twice.
    pub async fn release_webhook_leases_of(&self, host: String, cutoff: i64) -> Result<usize> {
        self.call(move |c| Ok(release_leases_of(c, &host, cutoff)?))
            .await
    }

    /// A delivery that cannot be sent any more is failed without an attempt.
    pub async fn fail_unsent_delivery(&self, id: String, reason: String) -> Result<()> {
        self.call(move |c| Ok(fail_unsent(c, &id, &reason, now_ms())?))
            .await
    }

    /// Records one attempt and moves the delivery on (`gone`: the endpoint answered 410).
    ///
    /// Committed without waiting for the disk: an outcome lost to a power cut leaves the
    /// delivery pending under this host's lease, which the next start releases, so it is
    /// attempted again: at-least-once, as promised, with the same `webhook-id`. Its fsync
    /// was one of the two each inbound SMS cost; the next durable commit (or checkpoint)
    /// makes it durable anyway.
    pub async fn record_delivery_attempt(
        &self,
        delivery: DueDelivery,
        record: AttemptRecord,
        next: Next,
        gone: bool,
    ) -> Result<()> {
        self.call(move |c| {
            Ok(c.without_waiting_for_disk(|c| record_attempt(c, &delivery, &record, &next, gone))?)
        })
        .await
    }

    /// The endpoints created through the API (not deleted).
    pub async fn webhook_endpoints(&self) -> Result<Vec<Endpoint>> {
        self.call(|c| Ok(api_endpoints(c)?)).await
    }

    /// Creates an API endpoint unless `max` exist or one has its URL (checked and inserted
    /// under the one connection, so two concurrent creations cannot both pass).
    pub async fn create_webhook_endpoint(
        &self,
        new: NewEndpoint,
        max: usize,
    ) -> Result<std::result::Result<Endpoint, EndpointRefused>> {
        self.call(move |c| {
            let existing = api_endpoints(c)?;
            if existing.len() >= max {
                return Ok(Err(EndpointRefused::TooMany { max }));
            }
            if existing.iter().any(|e| e.url == new.url) {
                return Ok(Err(EndpointRefused::UrlTaken));
            }
            Ok(Ok(insert_endpoint(c, &new, now_ms())?))
        })
        .await
    }

    /// One API endpoint (deleted ones included, with their reason).
    pub async fn webhook_endpoint(&self, id: String) -> Result<Option<Endpoint>> {
        self.call(move |c| Ok(get_api_endpoint(c, &id)?)).await
    }

    /// Deletes an API endpoint and fails its pending deliveries.
    pub async fn delete_webhook_endpoint(&self, id: String) -> Result<bool> {
        self.call(move |c| Ok(delete_endpoint(c, &id, now_ms())?))
            .await
    }

    /// Deliveries, newest first, filtered.
    pub async fn webhook_deliveries(
        &self,
        filter: DeliveryFilter,
        limit: usize,
    ) -> Result<Vec<DeliveryView>> {
        self.call(move |c| Ok(list_deliveries(c, &filter, limit)?))
            .await
    }

    /// One delivery with its attempts.
    pub async fn webhook_delivery(&self, id: String) -> Result<Option<DeliveryView>> {
        self.call(move |c| Ok(get_delivery(c, &id)?)).await
    }

    /// Makes a delivery due now with a fresh schedule.
    pub async fn retry_webhook_delivery(
        &self,
        id: String,
        give_up_after: Duration,
    ) -> Result<RetryOutcome> {
        self.call(move |c| Ok(schedule_retry(c, &id, now_ms(), give_up_after)?))
            .await
    }
}

#[cfg(test)]
mod tests;
