//! `[[webhook]]` endpoints and the `[webhooks]` delivery schedule.

use super::{invalid, ConfigError};
use crate::redact::Redacted;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Webhook {
    pub url: String,
    /// Standard Webhooks secret (`whsec_` + base64).
    pub secret: Redacted<String>,
    /// Event types to deliver; `*` for all.
    pub events: Vec<String>,
}

impl Default for Webhook {
    fn default() -> Self {
        Webhook {
            url: String::new(),
            secret: Redacted::default(),
            events: vec!["*".into()],
        }
    }
}

/// Webhook delivery: the retry schedule and limits, shared by every endpoint.
///
/// The delay after the n-th failed attempt is drawn uniformly between `retry_base_ms` and
/// `retry_base_ms · retry_factor^(n-1)` (capped at `retry_max_ms`): exponential back-off with
/// jitter, so receivers coming back from an outage are not hit by every delivery at once.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebhookDelivery {
    /// First retry delay; also the smallest delay ever chosen.
    pub retry_base_ms: u64,
    /// Growth of the delay ceiling per failed attempt.
    pub retry_factor: u32,
    /// Largest delay between two attempts (a `Retry-After` may ask for longer).
    pub retry_max_ms: u64,
    /// Attempts before a delivery is marked `failed`.
    pub max_attempts: u32,
    /// A delivery not delivered this long after its event is marked `failed`.
    pub give_up_after_secs: u64,
    /// Time limit of one HTTP request (connect, send, response headers).
    pub timeout_ms: u64,
    /// Requests in flight at once, over all endpoints.
    pub concurrency: u32,
    /// Safety-net wake-up of the dispatcher when no event woke it.
    pub poll_interval_ms: u64,
    /// Finished deliveries (and their attempt logs) older than this are deleted; 0 keeps them.
    /// Unset: `retention.days`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retention_days: Option<u32>,
    /// Loopback and private addresses (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) may
    /// receive webhooks. Link-local, metadata, multicast and unspecified addresses never may.
    pub allow_private_targets: bool,
    /// Requests in flight at once to one endpoint (scheme, host and port), so that a slow one
    /// cannot hold every slot of `concurrency`.
    pub per_endpoint_concurrency: u32,
    /// Time limit to open a connection (part of `timeout_ms`).
    pub connect_timeout_ms: u64,
}

impl Default for WebhookDelivery {
    fn default() -> Self {
        WebhookDelivery {
            retry_base_ms: 5_000,
            retry_factor: 6,
            retry_max_ms: 3_600_000,
            max_attempts: 50,
            give_up_after_secs: 24 * 3600,
            timeout_ms: 10_000,
            concurrency: 8,
            poll_interval_ms: 5_000,
            retention_days: None,
            allow_private_targets: true,
            per_endpoint_concurrency: 2,
            connect_timeout_ms: 3_000,
        }
    }
}

impl WebhookDelivery {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if self.retry_base_ms == 0 {
            return Err(invalid("webhooks.retry_base_ms", "must be greater than 0"));
        }
        if !(1..=100).contains(&self.retry_factor) {
            return Err(invalid(
                "webhooks.retry_factor",
                "must be between 1 and 100",
            ));
        }
        if self.retry_max_ms < self.retry_base_ms {
            return Err(invalid(
                "webhooks.retry_max_ms",
                "must be at least webhooks.retry_base_ms",
            ));
        }
        if self.max_attempts == 0 {
            return Err(invalid("webhooks.max_attempts", "must be greater than 0"));
        }
        if self.give_up_after_secs == 0 {
            return Err(invalid(
                "webhooks.give_up_after_secs",
                "must be greater than 0",
            ));
        }
        if !(100..=600_000).contains(&self.timeout_ms) {
            return Err(invalid(
                "webhooks.timeout_ms",
                "must be between 100 and 600000",
            ));
        }
        if !(1..=256).contains(&self.concurrency) {
            return Err(invalid("webhooks.concurrency", "must be between 1 and 256"));
        }
        if self.poll_interval_ms < 10 {
            return Err(invalid("webhooks.poll_interval_ms", "must be at least 10"));
        }
        if !(1..=self.concurrency).contains(&self.per_endpoint_concurrency) {
            return Err(invalid(
                "webhooks.per_endpoint_concurrency",
                "must be between 1 and webhooks.concurrency",
            ));
        }
        if !(100..=600_000).contains(&self.connect_timeout_ms) {
            return Err(invalid(
                "webhooks.connect_timeout_ms",
                "must be between 100 and 600000",
            ));
        }
        Ok(())
    }
}
