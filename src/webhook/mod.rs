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
//! - [`guard`]: which addresses requests may go to (SSRF guard, checked after DNS resolution).
//! - [`Dispatcher`]: the task that does the HTTP.
//!
//! Every request of a delivery carries the same body bytes and the same `webhook-id` (the
//! event id); `webhook-timestamp` and the signatures are made fresh per attempt, since
//! receivers reject old timestamps as replays.
//!
//! Signing keys: a `[[webhook]]`'s own secret ([`endpoint_secret`] of the server pepper and
//! its URL when it has none); an API endpoint's secret (generated at creation unless given,
//! shown once). An event's `target_url` (a reverse verification's `success_url`) is always
//! signed with its own key, [`derived_secret`] of the server pepper (`simgate webhook-secret`):
//! never with an endpoint's secret, so that an app receiving `success_url` calls holds no key
//! that signs anyone else's deliveries, and no configured secret signs its calls.
//!
//! Slots: at most `concurrency` requests in flight, and at most `per_endpoint_concurrency` to
//! one origin (scheme, host, port), so that a slow or black-holed endpoint holds only its own.

pub mod guard;
pub mod policy;
pub mod sign;
/// The outbox tables live behind the storage door.
pub use crate::store::webhooks as store;

pub use policy::{is_valid_pattern, API_VERSION};
pub use sign::{
    contiguity_signature, decode_secret, derived_secret, endpoint_secret, generate_secret,
    standard_signature,
};

use crate::config::Config;
use crate::secret::Secret;
use crate::shutdown::Shutdown;
use crate::store::{now_ms, Store};
use policy::{Next, Response, RetryPolicy};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};
use store::{AttemptRecord, DeliveryKind, DueDelivery, Endpoint, InFlight};
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// Events fanned out per transaction.
const FAN_OUT_BATCH: usize = 200;

/// A signing secret as configured (`whsec_…`) and the HMAC key it decodes to.
#[derive(Clone)]
pub struct SigningKey {
    pub secret: String,
    pub key: Vec<u8>,
}

impl SigningKey {
    fn from_secret(secret: String) -> Option<SigningKey> {
        let key = decode_secret(&secret)?;
        Some(SigningKey { secret, key })
    }
}

/// Delivers webhooks until shutdown. Build with [`Dispatcher::new`], run with
/// [`Dispatcher::run`]; wake it with `notify_waiters()` on the `Notify` it was given (after
/// events were committed, or after a delivery was made due by hand).
pub struct Dispatcher {
    store: Store,
    configured: Vec<Endpoint>,
    /// Keys of the configured endpoints, by endpoint id.
    configured_keys: HashMap<String, SigningKey>,
    /// Key for events' `target_url`.
    target_key: SigningKey,
    policy: RetryPolicy,
    concurrency: usize,
    per_endpoint: usize,
    allow_private_targets: bool,
    poll_interval: Duration,
    client: reqwest::Client,
    wake: Arc<Notify>,
    /// On PostgreSQL, where hosts share the outbox: this host's hold on what it attempts.
    lease: Option<store::Lease>,
    /// This host's name in leases (hand-offs are held under it on either backend).
    host: String,
    /// Leases of this host running out before this (ms) were granted before this dispatcher
    /// was made: [`Dispatcher::run`] releases them.
    release_before: i64,
    /// Deliveries the inbound transaction made and handed over ([`store::Handoff`]); taken
    /// by [`Dispatcher::run`].
    handoff: std::sync::Mutex<Option<tokio::sync::mpsc::UnboundedReceiver<DueDelivery>>>,
}

impl Dispatcher {
    pub fn new(
        store: Store,
        config: &Config,
        pepper: &Secret,
        wake: Arc<Notify>,
    ) -> anyhow::Result<Dispatcher> {
        Dispatcher::with_lookup(store, config, pepper, wake, guard::system_lookup())
    }

    /// Like [`Dispatcher::new`], resolving host names with `lookup` (tests give names any
    /// address this way; the guard still judges what they resolve to).
    pub fn with_lookup(
        store: Store,
        config: &Config,
        pepper: &Secret,
        wake: Arc<Notify>,
        lookup: guard::Lookup,
    ) -> anyhow::Result<Dispatcher> {
        let settings = &config.webhook_delivery;
        let target_key = SigningKey::from_secret(derived_secret(pepper.bytes()))
            .ok_or_else(|| anyhow::anyhow!("derived webhook secret does not decode"))?;
        let configured = store::config_endpoints(config);
        let mut configured_keys = HashMap::new();
        for endpoint in &configured {
            let secret = if endpoint.secret.is_empty() {
                endpoint_secret(pepper.bytes(), &endpoint.url)
            } else {
                endpoint.secret.expose().clone()
            };
            let key = SigningKey::from_secret(secret).ok_or_else(|| {
                anyhow::anyhow!("the secret of webhook {} does not decode", endpoint.url)
            })?;
            configured_keys.insert(endpoint.id.clone(), key);
        }
        let timeout = Duration::from_millis(settings.timeout_ms);
        let connect_timeout = Duration::from_millis(settings.connect_timeout_ms).min(timeout);
        let resolver = guard::GuardedResolver::with_lookup(lookup, settings.allow_private_targets);
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(connect_timeout)
            // Every name is resolved by the guard, and connected to directly: through a proxy
            // the guard would judge the proxy's address, not the target's.
            .dns_resolver(Arc::new(resolver))
            .no_proxy()
            // A redirect is not a delivery: the receiver must answer at the URL it gave.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("simgate-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        // Held this long by the host that attempts it: longer than an attempt can take, plus
        // the time a host may be silent before another takes it for dead.
        let lease = store::Lease {
            host: config.cluster.host_name(),
            duration_ms: (settings.timeout_ms + config.cluster.host_timeout_secs * 1000) as i64,
        };
        let (handoff_tx, handoff_rx) = tokio::sync::mpsc::unbounded_channel();
        // Leases granted from now on are this dispatcher's hand-offs: they run out at or after
        // this (what `run` releases at its start runs out before it).
        let release_before = now_ms() + lease.duration_ms;
        store.set_fan_out_plan(store::FanOutPlan {
            configured: configured.clone(),
            give_up_after: RetryPolicy::from_config(settings).give_up_after,
            batch: FAN_OUT_BATCH,
            handoff: Some(store::Handoff {
                lease: lease.clone(),
                to: handoff_tx,
            }),
        });
        Ok(Dispatcher {
            configured,
            configured_keys,
            target_key,
            policy: RetryPolicy::from_config(settings),
            concurrency: settings.concurrency.max(1) as usize,
            per_endpoint: settings.per_endpoint_concurrency.max(1) as usize,
            allow_private_targets: settings.allow_private_targets,
            poll_interval: Duration::from_millis(settings.poll_interval_ms),
            lease: (store.backend() == crate::store::Backend::Postgres).then(|| lease.clone()),
            host: lease.host,
            release_before,
            handoff: std::sync::Mutex::new(Some(handoff_rx)),
            store,
            client,
            wake,
        })
    }

    /// The loop: fan out new events, start due deliveries (at most `concurrency` in flight,
    /// `per_endpoint_concurrency` per origin),
    /// then sleep until woken, an attempt ends, the next delivery is due, or the safety-net
    /// interval passes. At shutdown, attempts in flight are abandoned: their deliveries are
    /// still pending and go out again after the restart (at-least-once).
    ///
    /// Deliveries handed over by the inbound transaction ([`store::Handoff`]) start at once,
    /// without a look at the tables; those without a free slot are let go of, for a poll.
    pub async fn run(self, mut shutdown: Shutdown) {
        // `run` takes the dispatcher, so the receiver made with it is there, once.
        let mut handoff = self
            .handoff
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .expect("a dispatcher runs once");
        let me = Arc::new(self);
        // What a crash (or the dispatcher this one replaces) left held by this host goes out
        // now, not when its lease lapses; hand-offs already made to this one stay held.
        match me
            .store
            .release_webhook_leases_of(me.host.clone(), me.release_before)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(
                deliveries = n,
                "webhook deliveries held before a restart released"
            ),
            Err(e) => tracing::error!(error = %e, "cannot release held webhook deliveries"),
        }
        let mut tasks = JoinSet::new();
        let mut in_flight: HashMap<tokio::task::Id, (String, String)> = HashMap::new();
        let mut look = true;
        let mut look_again_at = tokio::time::Instant::now();
        loop {
            if shutdown.is_shutdown() {
                break;
            }
            let wake = me.wake.clone();
            let woken = wake.notified();
            tokio::pin!(woken);
            // Registered before looking at the tables, so that a notify during the look is kept.
            woken.as_mut().enable();

            if look {
                let mut busy = InFlight::default();
                for (id, origin) in in_flight.values() {
                    busy.ids.insert(id.clone());
                    *busy.per_origin.entry(origin.clone()).or_insert(0) += 1;
                }
                let free = me.concurrency.saturating_sub(in_flight.len());
                let next_due = match me.poll(busy, free).await {
                    Ok((due, next_due)) => {
                        for delivery in due {
                            start(&me, &mut tasks, &mut in_flight, delivery);
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
                // A deadline, not a duration: hand-offs in between do not push it back.
                look_again_at = tokio::time::Instant::now() + sleep_for;
            }
            let slept = tokio::time::sleep_until(look_again_at);
            look = true;
            tokio::select! {
                biased;
                Some(first) = handoff.recv() => {
                    let mut handed = vec![first];
                    while let Ok(more) = handoff.try_recv() {
                        handed.push(more);
                    }
                    look = me.take_handoffs(handed, &mut tasks, &mut in_flight).await;
                }
                _ = &mut woken => {}
                Some(done) = tasks.join_next_with_id(), if !tasks.is_empty() => {
                    forget(&mut in_flight, done);
                    while let Some(done) = tasks.try_join_next_with_id() {
                        forget(&mut in_flight, done);
                    }
                }
                _ = slept => {}
                _ = shutdown.recv() => {}
            }
        }
        tasks.shutdown().await;
    }

    /// Starts the handed-over deliveries that have a free slot and lets go of the others.
    /// `true` when the tables need a look (something was let go of).
    async fn take_handoffs(
        self: &Arc<Self>,
        handed: Vec<DueDelivery>,
        tasks: &mut JoinSet<()>,
        in_flight: &mut HashMap<tokio::task::Id, (String, String)>,
    ) -> bool {
        let mut per_origin: HashMap<String, usize> = HashMap::new();
        for (_, origin) in in_flight.values() {
            *per_origin.entry(origin.clone()).or_insert(0) += 1;
        }
        let mut let_go = Vec::new();
        for delivery in handed {
            let origin = store::origin_of(&delivery.url);
            let load = per_origin.entry(origin).or_insert(0);
            if in_flight.len() < self.concurrency && *load < self.per_endpoint {
                *load += 1;
                start(self, tasks, in_flight, delivery);
            } else {
                let_go.push(delivery.id);
            }
        }
        if let_go.is_empty() {
            return false;
        }
        if let Err(e) = self.store.release_webhook_leases(let_go).await {
            // Held until their leases lapse, then claimed as usual.
            tracing::error!(error = %e, "cannot let go of webhook hand-offs");
        }
        true
    }

    /// One look at the tables (one blocking call): fan out new events, claim up to `free` due
    /// deliveries (within the per-origin limit), and find when the next one that may start
    /// falls due.
    async fn poll(
        &self,
        busy: InFlight,
        free: usize,
    ) -> crate::store::Result<(Vec<DueDelivery>, Option<i64>)> {
        self.store
            .fan_out_and_claim(
                self.configured.clone(),
                self.policy.give_up_after,
                FAN_OUT_BATCH,
                store::Claiming {
                    busy,
                    per_origin: self.per_endpoint,
                    free,
                    lease: self.lease.clone(),
                },
            )
            .await
    }

    /// The key that signs this delivery, or why it cannot be sent any more.
    fn signing_key(&self, delivery: &DueDelivery) -> Result<SigningKey, String> {
        match delivery.kind {
            DeliveryKind::Target => Ok(self.target_key.clone()),
            DeliveryKind::Config => delivery
                .endpoint_id
                .as_deref()
                .and_then(|id| self.configured_keys.get(id))
                .cloned()
                .ok_or_else(|| "the endpoint is no longer in the config file".to_string()),
            DeliveryKind::Api => {
                if let Some(reason) = &delivery.api_inactive {
                    return Err(reason.clone());
                }
                delivery
                    .api_secret
                    .clone()
                    .and_then(SigningKey::from_secret)
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
        let signing = match key {
            Ok(key) => key,
            Err(reason) => {
                tracing::warn!(delivery = %delivery.id, event = %delivery.event_id, %reason, "webhook delivery dropped");
                let result = self
                    .store
                    .fail_unsent_delivery(delivery.id.clone(), reason)
                    .await;
                if let Err(e) = result {
                    tracing::error!(error = %e, "cannot record a dropped webhook delivery");
                }
                return;
            }
        };
        // IP-literal URLs never reach the resolver: judged here.
        if let Err(refused) = guard::check_url(&delivery.url, self.allow_private_targets) {
            self.record_refused(delivery, refused.to_string(), Duration::ZERO)
                .await;
            return;
        }
        let key = &signing.key;
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
                standard_signature(key, &delivery.event_id, timestamp, body),
            )
            .header(
                "Contiguity-Signature",
                contiguity_signature(key, timestamp, body),
            )
            .body(delivery.body.clone());
        let started = Instant::now();
        let sent = request.send().await;
        let elapsed = started.elapsed();
        match sent {
            Ok(answer) => {
                let code = answer.status().as_u16();
                let retry_after = answer
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| policy::parse_retry_after(v, SystemTime::now()));
                let response = Response::Status { code, retry_after };
                let error = (!answer.status().is_success()).then(|| format!("HTTP {code}"));
                self.record_response(delivery, response, error, elapsed)
                    .await;
            }
            Err(e) => match guard::refusal_in(&e) {
                // A name that resolved only to refused addresses: final, like an IP literal.
                Some(refused) => {
                    self.record_refused(delivery, refused.to_string(), elapsed)
                        .await
                }
                None => {
                    self.record_response(delivery, Response::NoAnswer, Some(describe(e)), elapsed)
                        .await
                }
            },
        }
    }

    /// Records an attempt refused by the guard: the delivery fails at once (another try
    /// would be refused again; a manual retry re-checks).
    async fn record_refused(&self, delivery: DueDelivery, refused: String, elapsed: Duration) {
        tracing::warn!(delivery = %delivery.id, event = %delivery.event_id, outcome = %refused, "webhook target refused");
        let record = AttemptRecord {
            status_code: None,
            error: Some(refused),
            duration_ms: i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX),
            at: now_ms(),
        };
        let next = Next::Failed("the target address is not allowed".to_string());
        self.store_attempt(delivery, record, next, false).await;
    }

    /// Records an attempt that got an answer (or none) and moves the delivery on.
    async fn record_response(
        &self,
        delivery: DueDelivery,
        response: Response,
        error: Option<String>,
        elapsed: Duration,
    ) {
        let duration_ms = i64::try_from(elapsed.as_millis()).unwrap_or(i64::MAX);
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
        self.store_attempt(delivery, record, next, gone).await;
    }

    async fn store_attempt(
        &self,
        delivery: DueDelivery,
        record: AttemptRecord,
        next: Next,
        gone: bool,
    ) {
        let result = self
            .store
            .record_delivery_attempt(delivery, record, next, gone)
            .await;
        if let Err(e) = result {
            // The delivery stays pending at its old time: it will be attempted again.
            tracing::error!(error = %e, "cannot record a webhook attempt");
        }
    }
}

/// Starts one attempt and counts it in flight.
fn start(
    me: &Arc<Dispatcher>,
    tasks: &mut JoinSet<()>,
    in_flight: &mut HashMap<tokio::task::Id, (String, String)>,
    delivery: DueDelivery,
) {
    let id = delivery.id.clone();
    let origin = store::origin_of(&delivery.url);
    let handle = tasks.spawn(me.clone().attempt(delivery));
    in_flight.insert(handle.id(), (id, origin));
}

fn forget(
    in_flight: &mut HashMap<tokio::task::Id, (String, String)>,
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
