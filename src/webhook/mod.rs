//! Webhook delivery: a persisted outbox fed from the event log, signed at-least-once delivery
//! with retries, and a log of every attempt.
//!
//! ```text
//!  events (same transaction as their cause) ──notify──► dispatcher
//!     │ fan-out: one webhook_deliveries row per (event, subscribed endpoint) + target_url,
//!     │          the cursor moves in the same transaction (nothing fanned twice, restarts resume)
//!     ▼
//!  due deliveries ──► bounded concurrent POSTs ──► webhook_attempts (every attempt logged)
//!                        2xx: delivered · 410: failed (an API endpoint is disabled)
//!                        else: retry with back-off and jitter, or Retry-After on 429/503,
//!                        until max_attempts or the deadline: failed
//! ```
//!
//! - [`sign`]: the Standard Webhooks and Contiguity signatures (pure).
//! - [`policy`]: subscription patterns, the body, `Retry-After`, the retry schedule (pure).
//! - [`store`]: the tables (blocking SQLite).
//! - [`Dispatcher`]: the task that does the HTTP.
//!
//! Every request of a delivery carries the same body bytes and the same `webhook-id` (the
//! event id); `webhook-timestamp` and the signatures are made fresh per attempt, since
//! receivers reject old timestamps as replays.
//!
//! Signing keys: a `[[webhook]]`'s own secret; an API endpoint's secret (generated at creation
//! unless given, shown once). An event's `target_url` is signed with the first `[[webhook]]`
//! secret in the config; with none, and for a `[[webhook]]` without a secret, with
//! [`derived_secret`] of the server pepper.

pub mod policy;
pub mod sign;
pub mod store;

pub use policy::{is_valid_pattern, API_VERSION};
pub use sign::{
    contiguity_signature, decode_secret, derived_secret, generate_secret, standard_signature,
};

use crate::config::Config;
use crate::secret::Secret;
use crate::store::{now_ms, Store};
use policy::{Next, Response, RetryPolicy};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use store::{AttemptRecord, DeliveryKind, DueDelivery, Endpoint};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

/// Events fanned out per transaction.
const FAN_OUT_BATCH: usize = 200;
/// How often old finished deliveries are pruned.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// The `[[webhook]]` whose secret signs events' `target_url` (a reverse session's
/// `success_url`): the first one with a usable secret. With none, the derived secret signs.
pub fn target_secret_index(config: &Config) -> Option<usize> {
    config
        .webhooks
        .iter()
        .position(|w| decode_secret(&w.secret).is_some())
}

/// Delivers webhooks until shutdown. Build with [`Dispatcher::new`], run with
/// [`Dispatcher::run`]; wake it with `notify_waiters()` on the `Notify` it was given (after
/// events were committed, or after a delivery was made due by hand).
pub struct Dispatcher {
    store: Store,
    configured: Vec<Endpoint>,
    /// Key for events' `target_url`.
    target_key: Vec<u8>,
    /// Key for configured endpoints without a secret.
    derived_key: Vec<u8>,
    policy: RetryPolicy,
    concurrency: usize,
    poll_interval: Duration,
    /// Finished deliveries older than this are deleted (`None`: kept).
    retention: Option<Duration>,
    client: reqwest::Client,
    wake: Arc<Notify>,
}

impl Dispatcher {
    pub fn new(
        store: Store,
        config: &Config,
        pepper: &Secret,
        wake: Arc<Notify>,
    ) -> anyhow::Result<Dispatcher> {
        let settings = &config.webhook_delivery;
        let derived_key = decode_secret(&derived_secret(pepper.bytes()))
            .ok_or_else(|| anyhow::anyhow!("derived webhook secret does not decode"))?;
        let target_key = target_secret_index(config)
            .and_then(|i| decode_secret(&config.webhooks[i].secret))
            .unwrap_or_else(|| derived_key.clone());
        let timeout = Duration::from_millis(settings.timeout_ms);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // A redirect is not a delivery: the receiver must answer at the URL it gave.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("simgate-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Dispatcher {
            store,
            configured: store::config_endpoints(config),
            target_key,
            derived_key,
            policy: RetryPolicy::from_config(settings),
            concurrency: settings.concurrency.max(1) as usize,
            poll_interval: Duration::from_millis(settings.poll_interval_ms),
            retention: (settings.retention_days > 0)
                .then(|| Duration::from_secs(u64::from(settings.retention_days) * 86_400)),
            client,
            wake,
        })
    }

    /// The loop: fan out new events, start due deliveries (at most `concurrency` in flight),
    /// then sleep until woken, an attempt ends, the next delivery is due, or the safety-net
    /// interval passes. At shutdown, attempts in flight are abandoned: their deliveries are
    /// still pending and go out again after the restart (at-least-once).
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let me = Arc::new(self);
        let mut tasks = JoinSet::new();
        let mut in_flight: HashMap<tokio::task::Id, String> = HashMap::new();
        let mut pruned_at: Option<Instant> = None;
        loop {
            if *shutdown.borrow() {
                break;
            }
            if pruned_at.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
                pruned_at = Some(Instant::now());
                me.prune().await;
            }
            let wake = me.wake.clone();
            let woken = wake.notified();
            tokio::pin!(woken);
            // Registered before looking at the tables, so that a notify during the look is kept.
            woken.as_mut().enable();

            let busy: HashSet<String> = in_flight.values().cloned().collect();
            let free = me.concurrency.saturating_sub(in_flight.len());
            let next_due = match me.poll(busy, free).await {
                Ok((due, next_due)) => {
                    for delivery in due {
                        let id = delivery.id.clone();
                        let handle = tasks.spawn(me.clone().attempt(delivery));
                        in_flight.insert(handle.id(), id);
                    }
                    next_due
                }
                Err(e) => {
                    tracing::error!(error = %e, "webhook outbox unreadable; retrying");
                    None
                }
            };
            let mut sleep_for = me.poll_interval;
            if let Some(at) = next_due {
                if in_flight.len() < me.concurrency {
                    let wait = u64::try_from(at.saturating_sub(now_ms())).unwrap_or(0);
                    sleep_for = sleep_for.min(Duration::from_millis(wait));
                }
            }
            tokio::select! {
                _ = &mut woken => {}
                Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                    forget(&mut in_flight, done);
                    while let Some(done) = tasks.try_join_next_with_id() {
                        forget(&mut in_flight, done);
                    }
                }
                _ = tokio::time::sleep(sleep_for) => {}
                changed = shutdown.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        tasks.shutdown().await;
    }

    /// One look at the tables (one blocking call): fan out new events, claim up to `free` due
    /// deliveries, and find when the next unclaimed one falls due.
    async fn poll(
        &self,
        busy: HashSet<String>,
        free: usize,
    ) -> crate::store::Result<(Vec<DueDelivery>, Option<i64>)> {
        let configured = self.configured.clone();
        let give_up_after = self.policy.give_up_after;
        self.store
            .call(move |conn| {
                let now = now_ms();
                while store::fan_out(conn, &configured, give_up_after, now, FAN_OUT_BATCH)?
                    == FAN_OUT_BATCH
                {}
                let due = store::due(conn, now, &busy, free)?;
                let mut claimed = busy;
                claimed.extend(due.iter().map(|d| d.id.clone()));
                let next_due = store::next_due_at(conn, &claimed)?;
                Ok((due, next_due))
            })
            .await
    }

    /// Deletes finished deliveries past the retention period.
    async fn prune(&self) {
        let Some(retention) = self.retention else {
            return;
        };
        let cutoff =
            now_ms().saturating_sub(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX));
        match self.store.call(move |c| Ok(store::prune(c, cutoff)?)).await {
            Ok(0) => {}
            Ok(count) => tracing::info!(count, "pruned old webhook deliveries"),
            Err(e) => tracing::warn!(error = %e, "cannot prune old webhook deliveries"),
        }
    }

    /// The key that signs this delivery, or why it cannot be sent any more.
    fn signing_key(&self, delivery: &DueDelivery) -> Result<Vec<u8>, String> {
        match delivery.kind {
            DeliveryKind::Target => Ok(self.target_key.clone()),
            DeliveryKind::Config => self
                .configured
                .iter()
                .find(|e| delivery.endpoint_id.as_deref() == Some(e.id.as_str()))
                .map(|e| decode_secret(&e.secret).unwrap_or_else(|| self.derived_key.clone()))
                .ok_or_else(|| "the endpoint is no longer in the config file".to_string()),
            DeliveryKind::Api => {
                if let Some(reason) = &delivery.api_inactive {
                    return Err(reason.clone());
                }
                delivery
                    .api_secret
                    .as_deref()
                    .and_then(decode_secret)
                    .ok_or_else(|| "the endpoint's secret does not decode".to_string())
            }
        }
    }

    /// Sends one attempt of a delivery and records what came of it.
    async fn attempt(self: Arc<Self>, delivery: DueDelivery) {
        let usable = reqwest::Url::parse(&delivery.url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some());
        let key = if usable {
            self.signing_key(&delivery)
        } else {
            Err("the URL is not an absolute http(s) URL".to_string())
        };
        let key = match key {
            Ok(key) => key,
            Err(reason) => {
                tracing::warn!(delivery = %delivery.id, event = %delivery.event_id, %reason, "webhook delivery dropped");
                let id = delivery.id.clone();
                let result = self
                    .store
                    .call(move |c| Ok(store::fail_unsent(c, &id, &reason, now_ms())?))
                    .await;
                if let Err(e) = result {
                    tracing::error!(error = %e, "cannot record a dropped webhook delivery");
                }
                return;
            }
        };
        let timestamp = now_ms().div_euclid(1000);
        let body = delivery.body.as_bytes();
        let request = self
            .client
            .post(&delivery.url)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("webhook-id", &delivery.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header(
                "webhook-signature",
                standard_signature(&key, &delivery.event_id, timestamp, body),
            )
            .header(
                "Contiguity-Signature",
                contiguity_signature(&key, timestamp, body),
            )
            .body(delivery.body.clone());
        let started = Instant::now();
        let sent = request.send().await;
        let duration_ms = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
        let (response, error) = match sent {
            Ok(answer) => {
                let code = answer.status().as_u16();
                let retry_after = answer
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| policy::parse_retry_after(v, SystemTime::now()));
                let error = (!answer.status().is_success()).then(|| format!("HTTP {code}"));
                (Response::Status { code, retry_after }, error)
            }
            Err(e) => (Response::NoAnswer, Some(describe(e))),
        };
        let now = now_ms();
        let schedule_attempts = (delivery.attempts + 1).saturating_sub(delivery.schedule_start);
        let next = policy::next_step(
            &self.policy,
            &response,
            schedule_attempts,
            now,
            delivery.give_up_at,
            rand::random::<f64>(),
        );
        let gone = matches!(response, Response::Status { code: 410, .. });
        let record = AttemptRecord {
            status_code: match response {
                Response::Status { code, .. } => Some(code),
                Response::NoAnswer => None,
            },
            error,
            duration_ms,
            at: now,
        };
        match &next {
            Next::Delivered => {
                tracing::debug!(delivery = %delivery.id, event = %delivery.event_id, duration_ms, "webhook delivered")
            }
            Next::RetryAt(at) => tracing::info!(
                delivery = %delivery.id, event = %delivery.event_id,
                outcome = record.error.as_deref().unwrap_or(""), retry_in_ms = at - now,
                "webhook attempt failed; will retry"
            ),
            Next::Failed(reason) => tracing::warn!(
                delivery = %delivery.id, event = %delivery.event_id,
                outcome = record.error.as_deref().unwrap_or(""), %reason, "webhook delivery failed"
            ),
        }
        let result = self
            .store
            .call(move |c| Ok(store::record_attempt(c, &delivery, &record, &next, gone)?))
            .await;
        if let Err(e) = result {
            // The delivery stays pending at its old time: it will be attempted again.
            tracing::error!(error = %e, "cannot record a webhook attempt");
        }
    }
}

fn forget(
    in_flight: &mut HashMap<tokio::task::Id, String>,
    done: Result<(tokio::task::Id, ()), tokio::task::JoinError>,
) {
    let id = match done {
        Ok((id, ())) => id,
        Err(e) => {
            if e.is_panic() {
                tracing::error!("a webhook attempt panicked");
            }
            e.id()
        }
    };
    in_flight.remove(&id);
}

/// A transport error for the log, without the URL (it may carry a token).
fn describe(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let e = e.without_url();
    let mut root: &dyn std::error::Error = &e;
    while let Some(source) = root.source() {
        root = source;
    }
    format!("{kind}: {root}")
}
