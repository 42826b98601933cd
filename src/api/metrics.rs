//! `GET /metrics`: Prometheus text exposition (format 0.0.4), written by hand.
//!
//! Two sources: request counters kept in memory by the face layer, and a snapshot taken at scrape
//! time from the modems' published status and from SQLite (queue depth, messages, verifications,
//! webhook deliveries). Scrapes are rare and the queries are indexed counts, so nothing is
//! maintained on the hot path but one mutex-protected map increment per request.

use crate::daemon::AppState;
use crate::modem::{ModemState, ModemStatus};
use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct RequestStats {
    count: u64,
    seconds: f64,
}

/// Requests answered, by (route template, method, status), and the connections the server
/// holds. Every label comes from a bounded set: route templates (or `unmatched`), the methods
/// of [`method_label`], status codes.
#[derive(Debug, Default)]
pub struct HttpMetrics {
    requests: Mutex<BTreeMap<(String, &'static str, u16), RequestStats>>,
    connections_open: AtomicU64,
    closed_slow_headers: AtomicU64,
    closed_idle: AtomicU64,
}

/// The method as a metrics label: the standard methods by name, anything invented by a client
/// as `OTHER` (one label, however many methods are tried).
pub fn method_label(method: &str) -> &'static str {
    const KNOWN: [&str; 9] = [
        "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT",
    ];
    KNOWN
        .into_iter()
        .find(|known| *known == method)
        .unwrap_or("OTHER")
}

impl HttpMetrics {
    pub fn connection_opened(&self) {
        self.connections_open.fetch_add(1, Ordering::Relaxed);
    }

    /// A connection ended; `closed` says why when the server closed it.
    pub fn connection_closed(&self, closed: Option<super::serve::Closed>) {
        self.connections_open.fetch_sub(1, Ordering::Relaxed);
        match closed {
            Some(super::serve::Closed::SlowHeaders) => &self.closed_slow_headers,
            Some(super::serve::Closed::Idle) => &self.closed_idle,
            None => return,
        }
        .fetch_add(1, Ordering::Relaxed);
    }

    pub fn record(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        let mut map = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let entry = map
            .entry((route.to_string(), method_label(method), status))
            .or_default();
        entry.count += 1;
        entry.seconds += elapsed.as_secs_f64();
    }

    pub(crate) fn snapshot(&self) -> Vec<((String, String, u16), RequestStats)> {
        self.requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .iter()
            .map(|((route, method, status), v)| ((route.clone(), method.to_string(), *status), *v))
            .collect()
    }
}

pub use crate::store::metrics::StoreCounts;

/// Renders the whole exposition.
pub async fn render(
    state: &AppState,
    http: &HttpMetrics,
) -> Result<String, crate::store::StoreError> {
    let counts = state.store.counts().await?;
    Ok(render_text(&state.modem_statuses(), &counts, http))
}

pub fn render_text(modems: &[ModemStatus], counts: &StoreCounts, http: &HttpMetrics) -> String {
    let mut out = String::with_capacity(4096);
    let mut family = |name: &str, kind: &str, help: &str, samples: Vec<(String, String)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in samples {
            if labels.is_empty() {
                let _ = writeln!(out, "{name} {value}");
            } else {
                let _ = writeln!(out, "{name}{{{labels}}} {value}");
            }
        }
    };

    family(
        "simgate_outbound_queue_depth",
        "gauge",
        "Outbound messages queued or being sent.",
        vec![(String::new(), counts.queue_depth.to_string())],
    );
    family(
        "simgate_outbound_messages",
        "gauge",
        "Outbound messages stored, by status.",
        counts
            .outbound_by_status
            .iter()
            .map(|(s, n)| (labels(&[("status", s)]), n.to_string()))
            .collect(),
    );
    family(
        "simgate_inbound_messages_total",
        "counter",
        "Inbound messages stored (complete or surfaced incomplete).",
        vec![(String::new(), counts.inbound_messages.to_string())],
    );
    family(
        "simgate_verifications",
        "gauge",
        "OTP verifications stored, by outcome.",
        counts
            .verifications_by_status
            .iter()
            .map(|(s, n)| (labels(&[("status", s)]), n.to_string()))
            .collect(),
    );
    family(
        "simgate_reverse_verifications",
        "gauge",
        "Reverse-OTP sessions stored, by outcome.",
        counts
            .reverse_by_status
            .iter()
            .map(|(s, n)| (labels(&[("status", s)]), n.to_string()))
            .collect(),
    );
    family(
        "simgate_webhook_deliveries",
        "gauge",
        "Webhook deliveries stored, by state.",
        counts
            .webhook_deliveries_by_state
            .iter()
            .map(|(s, n)| (labels(&[("state", s)]), n.to_string()))
            .collect(),
    );

    let per_modem = |f: &dyn Fn(&ModemStatus) -> Option<String>| -> Vec<(String, String)> {
        modems
            .iter()
            .filter_map(|m| f(m).map(|v| (labels(&[("modem", &m.name)]), v)))
            .collect()
    };
    family(
        "simgate_modem_up",
        "gauge",
        "1 when the modem is ready to send and receive.",
        per_modem(&|m| Some(u8::from(m.state == ModemState::Ready).to_string())),
    );
    family(
        "simgate_modem_state",
        "gauge",
        "The modem's current state (1 for the state it is in).",
        modems
            .iter()
            .map(|m| {
                (
                    labels(&[("modem", &m.name), ("state", m.state.as_str())]),
                    "1".to_string(),
                )
            })
            .collect(),
    );
    family(
        "simgate_modem_registered",
        "gauge",
        "1 when the modem is registered on a network (home or roaming).",
        per_modem(&|m| {
            let registered = matches!(m.registration.as_deref(), Some("home" | "roaming"));
            Some(u8::from(registered).to_string())
        }),
    );
    family(
        "simgate_modem_signal_dbm",
        "gauge",
        "Signal strength in dBm (from AT+CSQ), when known.",
        per_modem(&|m| m.signal_dbm.map(|d| d.to_string())),
    );
    family(
        "simgate_modem_sent_parts_total",
        "counter",
        "SMS parts the modem put on the network since start.",
        per_modem(&|m| Some(m.sent_parts.to_string())),
    );
    family(
        "simgate_modem_send_failures_total",
        "counter",
        "Sends that ended in an error since start.",
        per_modem(&|m| Some(m.send_failures.to_string())),
    );
    family(
        "simgate_modem_received_total",
        "counter",
        "Inbound messages the modem handed to storage since start.",
        per_modem(&|m| Some(m.received.to_string())),
    );
    family(
        "simgate_modem_opens_total",
        "counter",
        "Times the modem's port was opened (more than 1 means reconnects).",
        per_modem(&|m| Some(m.opens.to_string())),
    );

    family(
        "simgate_http_connections_open",
        "gauge",
        "HTTP connections open now (at most server.max_connections).",
        vec![(
            String::new(),
            http.connections_open.load(Ordering::Relaxed).to_string(),
        )],
    );
    family(
        "simgate_http_connections_closed_total",
        "counter",
        "HTTP connections closed by the server: headers too slow, or idle.",
        vec![
            (
                labels(&[("reason", "slow_headers")]),
                http.closed_slow_headers.load(Ordering::Relaxed).to_string(),
            ),
            (
                labels(&[("reason", "idle")]),
                http.closed_idle.load(Ordering::Relaxed).to_string(),
            ),
        ],
    );

    let requests = http.snapshot();
    family(
        "simgate_http_requests_total",
        "counter",
        "HTTP requests answered, by route template, method and status.",
        requests
            .iter()
            .map(|((route, method, status), stats)| {
                (
                    labels(&[
                        ("route", route),
                        ("method", method),
                        ("status", &status.to_string()),
                    ]),
                    stats.count.to_string(),
                )
            })
            .collect(),
    );
    let mut durations: BTreeMap<(String, String), RequestStats> = BTreeMap::new();
    for ((route, method, _), stats) in &requests {
        let entry = durations
            .entry((route.clone(), method.clone()))
            .or_default();
        entry.count += stats.count;
        entry.seconds += stats.seconds;
    }
    let (buckets, count, sum) = crate::observe::INBOUND_LATENCY.snapshot();
    let _ = writeln!(
        out,
        "# HELP simgate_inbound_latency_seconds From an inbound SMS's URC (or sweep) to its commit."
    );
    let _ = writeln!(out, "# TYPE simgate_inbound_latency_seconds histogram");
    for (le, n) in buckets {
        let _ = writeln!(
            out,
            "simgate_inbound_latency_seconds_bucket{{le=\"{le}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "simgate_inbound_latency_seconds_bucket{{le=\"+Inf\"}} {count}"
    );
    let _ = writeln!(out, "simgate_inbound_latency_seconds_sum {sum:.6}");
    let _ = writeln!(out, "simgate_inbound_latency_seconds_count {count}");

    // A summary without quantiles: `_sum` and `_count` per series.
    let _ = writeln!(
        out,
        "# HELP simgate_http_request_duration_seconds Time to answer HTTP requests."
    );
    let _ = writeln!(out, "# TYPE simgate_http_request_duration_seconds summary");
    for ((route, method), stats) in &durations {
        let l = labels(&[("route", route), ("method", method)]);
        let _ = writeln!(
            out,
            "simgate_http_request_duration_seconds_sum{{{l}}} {:.6}",
            stats.seconds
        );
        let _ = writeln!(
            out,
            "simgate_http_request_duration_seconds_count{{{l}}} {}",
            stats.count
        );
    }
    out
}

/// `a="x",b="y"` with Prometheus escaping.
fn labels(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
        .collect::<Vec<_>>()
        .join(",")
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invented_methods_share_one_label() {
        let http = HttpMetrics::default();
        for method in ["GET", "FOO", "BAR", "PROPFIND", "get"] {
            http.record("unmatched", method, 401, Duration::from_millis(1));
        }
        let methods: Vec<String> = http
            .snapshot()
            .into_iter()
            .map(|((_, m, _), _)| m)
            .collect();
        assert_eq!(methods, ["GET", "OTHER"]);
        let other = http
            .snapshot()
            .into_iter()
            .find(|((_, m, _), _)| m == "OTHER")
            .unwrap()
            .1;
        assert_eq!(other.count, 4);
    }

    #[test]
    fn escapes_label_values() {
        assert_eq!(labels(&[("a", "x\"y\\z\n")]), "a=\"x\\\"y\\\\z\\n\"");
    }

    #[test]
    fn renders_modems_and_requests() {
        let mut m = ModemStatus::new("sim1", "/dev/x", None);
        m.state = ModemState::Ready;
        m.registration = Some("home".into());
        m.set_signal(20);
        m.sent_parts = 7;
        let http = HttpMetrics::default();
        http.record("/v1/messages", "POST", 201, Duration::from_millis(5));
        http.record("/v1/messages", "POST", 201, Duration::from_millis(5));
        let counts = StoreCounts {
            queue_depth: 3,
            ..Default::default()
        };
        let text = render_text(&[m], &counts, &http);
        assert!(text.contains("simgate_outbound_queue_depth 3\n"), "{text}");
        assert!(text.contains("simgate_modem_up{modem=\"sim1\"} 1\n"));
        assert!(text.contains("simgate_modem_registered{modem=\"sim1\"} 1\n"));
        assert!(text.contains("simgate_modem_signal_dbm{modem=\"sim1\"} -73\n"));
        assert!(text.contains("simgate_modem_sent_parts_total{modem=\"sim1\"} 7\n"));
        assert!(text.contains(
            "simgate_http_requests_total{route=\"/v1/messages\",method=\"POST\",status=\"201\"} 2\n"
        ));
        assert!(text.contains(
            "simgate_http_request_duration_seconds_count{route=\"/v1/messages\",method=\"POST\"} 2\n"
        ));
    }
}
