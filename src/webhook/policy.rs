//! The pure rules of delivery: which endpoints get an event, the bytes they get, and what
//! happens after each attempt. No I/O and no clock or randomness of their own: the dispatcher
//! passes `now` and a uniform random number in, so every rule is testable as it stands.

use crate::config::WebhookDelivery;
use crate::store::events::Event;
use std::time::{Duration, SystemTime};

/// Version of the event payload format, sent as `api_version` in every body.
pub const API_VERSION: &str = "v1";

/// Is `pattern` a valid subscription: `*`, an exact type (`otp.reverse.verified`) or a prefix
/// (`message.*`)? Types are dot-separated segments of lower-case letters, digits and `_`.
pub fn is_valid_pattern(pattern: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    if pattern.is_empty() || pattern.len() > 100 {
        return false;
    }
    let exact = pattern.strip_suffix(".*").unwrap_or(pattern);
    exact.split('.').all(|segment| {
        !segment.is_empty()
            && segment
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    })
}

/// Does `pattern` select events of type `kind`? `message.*` selects `message.received` and
/// `message.status` (any depth below `message.`), but not `message` itself.
pub fn pattern_matches(pattern: &str, kind: &str) -> bool {
    if pattern == "*" {
        return true;
    }
    match pattern.strip_suffix('*') {
        Some(prefix) => {
            prefix.ends_with('.') && kind.starts_with(prefix) && kind.len() > prefix.len()
        }
        None => pattern == kind,
    }
}

/// Does an endpoint subscribed to `patterns` want events of type `kind`?
pub fn subscribes(patterns: &[String], kind: &str) -> bool {
    patterns.iter().any(|p| pattern_matches(p, kind))
}

/// The request body of an event: the same bytes on every attempt to every endpoint.
/// Fields in the documented order: `id`, `type`, `timestamp` (seconds), `api_version`, `data`.
pub fn event_body(event: &Event) -> String {
    #[derive(serde::Serialize)]
    struct Body<'a> {
        id: &'a str,
        #[serde(rename = "type")]
        kind: &'a str,
        timestamp: i64,
        api_version: &'a str,
        data: &'a serde_json::Value,
    }
    let body = Body {
        id: &event.id,
        kind: event.kind.as_str(),
        timestamp: event.created_at.div_euclid(1000),
        api_version: API_VERSION,
        data: &event.data,
    };
    // Serialising plain strings, integers and a `Value` cannot fail.
    serde_json::to_string(&body).unwrap_or_default()
}

/// `Retry-After` as a delay from `now`: delta-seconds (`120`) or an HTTP date. A date in the
/// past means "now". Anything else is ignored (`None`): the normal back-off applies.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        // An absurd number of seconds saturates; the give-up deadline bounds it anyway.
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let at = httpdate::parse_http_date(value).ok()?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// When to try again and when to stop.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    pub base: Duration,
    pub factor: u32,
    pub max: Duration,
    pub max_attempts: u32,
    pub give_up_after: Duration,
}

impl RetryPolicy {
    pub fn from_config(c: &WebhookDelivery) -> RetryPolicy {
        RetryPolicy {
            base: Duration::from_millis(c.retry_base_ms),
            factor: c.retry_factor.max(1),
            max: Duration::from_millis(c.retry_max_ms.max(c.retry_base_ms)),
            max_attempts: c.max_attempts.max(1),
            give_up_after: Duration::from_secs(c.give_up_after_secs),
        }
    }

    /// Upper bound of the delay after `failed` consecutive failed attempts (1 = the first):
    /// `base · factor^(failed-1)`, capped at `max`.
    pub fn ceiling(&self, failed: u32) -> Duration {
        let exponent = failed.saturating_sub(1);
        let growth = u128::from(self.factor)
            .checked_pow(exponent)
            .unwrap_or(u128::MAX);
        let millis = self.base.as_millis().saturating_mul(growth);
        Duration::from_millis(millis.min(self.max.as_millis()) as u64)
    }

    /// The delay after `failed` failed attempts with jitter: uniform between `base` and the
    /// ceiling, `unit` being a uniform random number in `[0, 1)`.
    pub fn delay(&self, failed: u32, unit: f64) -> Duration {
        let floor = self.base.min(self.max);
        let ceiling = self.ceiling(failed);
        let spread = ceiling.saturating_sub(floor);
        let unit = if unit.is_finite() {
            unit.clamp(0.0, 1.0)
        } else {
            0.0
        };
        floor + spread.mul_f64(unit)
    }
}

/// What one HTTP attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Response {
    /// The endpoint answered with this status; `retry_after` is its parsed `Retry-After`.
    Status {
        code: u16,
        retry_after: Option<Duration>,
    },
    /// No answer: connection refused, timeout, TLS failure…
    NoAnswer,
}

/// The next state of a delivery after an attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum Next {
    Delivered,
    /// Try again at this time (ms since the epoch).
    RetryAt(i64),
    /// Stop: the reason is kept in the delivery log.
    Failed(String),
}

/// Decides what follows an attempt. `attempts` counts the attempts of the current schedule,
/// this one included (a manual retry starts a new schedule); `give_up_at` ends it (ms).
pub fn next_step(
    policy: &RetryPolicy,
    response: &Response,
    attempts: u32,
    now_ms: i64,
    give_up_at: i64,
    unit: f64,
) -> Next {
    let retry_after = match response {
        Response::Status { code, .. } if (200..300).contains(code) => return Next::Delivered,
        Response::Status { code: 410, .. } => {
            return Next::Failed("the endpoint answered 410 Gone".into())
        }
        // Only 429 and 503 carry a meaningful Retry-After for a POST.
        Response::Status {
            code: 429 | 503,
            retry_after,
        } => *retry_after,
        _ => None,
    };
    if attempts >= policy.max_attempts {
        return Next::Failed(format!("gave up after {attempts} attempts"));
    }
    let delay = retry_after.unwrap_or_else(|| policy.delay(attempts, unit));
    let at = now_ms.saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX));
    if at > give_up_at {
        return Next::Failed(format!(
            "gave up after {attempts} attempts: the next one would fall past the delivery deadline"
        ));
    }
    Next::RetryAt(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RetryPolicy {
        RetryPolicy::from_config(&WebhookDelivery::default())
    }

    #[test]
    fn patterns() {
        for valid in [
            "*",
            "message.received",
            "message.*",
            "otp.reverse.verified",
            "a_b.c1",
        ] {
            assert!(is_valid_pattern(valid), "{valid}");
        }
        for invalid in [
            "",
            "message.",
            ".x",
            "message.*.x",
            "Message",
            "message*",
            "a..b",
            "*.x",
            "a b",
        ] {
            assert!(!is_valid_pattern(invalid), "{invalid}");
        }
        assert!(pattern_matches("*", "anything.at.all"));
        assert!(pattern_matches("message.*", "message.received"));
        assert!(pattern_matches("otp.*", "otp.reverse.verified"));
        assert!(!pattern_matches("message.*", "message"));
        assert!(!pattern_matches("message.*", "messages.received"));
        assert!(pattern_matches("otp.verified", "otp.verified"));
        assert!(!pattern_matches("otp.verified", "otp.verified.x"));
        assert!(!pattern_matches("otp.verified", "otp.reverse.verified"));
        let subs = vec!["modem.status".to_string(), "otp.*".to_string()];
        assert!(subscribes(&subs, "otp.reverse.verified"));
        assert!(subscribes(&subs, "modem.status"));
        assert!(!subscribes(&subs, "message.received"));
        assert!(!subscribes(&[], "message.received"));
    }

    #[test]
    fn body_has_the_documented_shape_and_order() {
        let event = Event {
            seq: 7,
            id: "evt_abc".into(),
            kind: crate::states::EventKind::MessageReceived,
            data: serde_json::json!({"body": "hi \"there\"", "n": 2}),
            target_url: None,
            created_at: 1_700_000_123_999,
        };
        let body = event_body(&event);
        assert!(body.starts_with(r#"{"id":"evt_abc","type":"message.received","timestamp":1700000123,"api_version":""#), "{body}");
        let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(parsed["data"], event.data);
        assert_eq!(parsed["api_version"], API_VERSION);
        assert_eq!(body, event_body(&event), "the same bytes every time");
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        // 784111777 is Sun, 06 Nov 1994 08:49:37 GMT.
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past means now"
        );
        for junk in ["", "-5", "1.5", "soon", "99999999999999999999x"] {
            assert_eq!(parse_retry_after(junk, now), None, "{junk:?}");
        }
        assert!(parse_retry_after("99999999999999999999999", now).is_some());
    }

    #[test]
    fn backoff_grows_to_its_cap() {
        let p = policy();
        let ceilings: Vec<u64> = (1..=7).map(|n| p.ceiling(n).as_secs()).collect();
        assert_eq!(ceilings, vec![5, 30, 180, 1080, 3600, 3600, 3600]);
        assert_eq!(p.ceiling(u32::MAX), Duration::from_secs(3600));
        assert_eq!(p.ceiling(0), Duration::from_secs(5));
    }

    #[test]
    fn jitter_spans_base_to_ceiling() {
        let p = policy();
        assert_eq!(p.delay(1, 0.0), Duration::from_secs(5));
        assert_eq!(
            p.delay(1, 0.99),
            Duration::from_secs(5),
            "first retry: the base"
        );
        assert_eq!(p.delay(3, 0.0), Duration::from_secs(5));
        assert_eq!(p.delay(3, 0.5), Duration::from_millis(92_500));
        assert!(p.delay(3, 0.999_999) <= Duration::from_secs(180));
        assert_eq!(
            p.delay(3, 7.0),
            Duration::from_secs(180),
            "out-of-range unit clamped"
        );
        assert_eq!(
            p.delay(3, f64::NAN),
            Duration::from_secs(5),
            "NaN never panics"
        );
    }

    #[test]
    fn next_steps() {
        let p = policy();
        let now = 1_000_000;
        let far = now + 86_400_000;
        let status = |code| Response::Status {
            code,
            retry_after: None,
        };
        assert_eq!(
            next_step(&p, &status(200), 1, now, far, 0.5),
            Next::Delivered
        );
        assert_eq!(
            next_step(&p, &status(204), 9, now, far, 0.5),
            Next::Delivered
        );
        assert!(
            matches!(next_step(&p, &status(410), 1, now, far, 0.5), Next::Failed(r) if r.contains("410"))
        );
        assert_eq!(
            next_step(&p, &status(500), 1, now, far, 0.5),
            Next::RetryAt(now + 5_000)
        );
        assert_eq!(
            next_step(&p, &Response::NoAnswer, 2, now, far, 1.0),
            Next::RetryAt(now + 30_000)
        );
        assert_eq!(
            next_step(&p, &status(301), 1, now, far, 0.0),
            Next::RetryAt(now + 5_000)
        );
        let limited = Response::Status {
            code: 429,
            retry_after: Some(Duration::from_secs(1)),
        };
        assert_eq!(
            next_step(&p, &limited, 4, now, far, 0.9),
            Next::RetryAt(now + 1_000)
        );
        // Retry-After on other codes is not honoured.
        let odd = Response::Status {
            code: 500,
            retry_after: Some(Duration::from_secs(1)),
        };
        assert_eq!(
            next_step(&p, &odd, 1, now, far, 0.0),
            Next::RetryAt(now + 5_000)
        );
        assert!(
            matches!(next_step(&p, &status(500), p.max_attempts, now, far, 0.0), Next::Failed(r) if r.contains("attempts"))
        );
        assert!(
            matches!(next_step(&p, &status(500), 1, now, now + 1_000, 0.0), Next::Failed(r) if r.contains("deadline"))
        );
        let forever = Response::Status {
            code: 503,
            retry_after: Some(Duration::from_secs(u64::MAX)),
        };
        assert!(matches!(
            next_step(&p, &forever, 1, now, far, 0.0),
            Next::Failed(_)
        ));
    }
}
