//! Read-only queries for the status page (`src/api/ui`): traffic over the last hour, recent
//! messages without their texts, verification funnels per country, the latest events.
//!
//! Every function reads; none writes. Message bodies are never selected here (they may hold
//! codes and factors): the page fetches one body on request through [`super::inbound::get`].

use crate::store::db::{params, Connection};

use super::{metrics, now_ms, outbound, webhooks, Store};
use webhooks::{DeliveryFilter, DeliveryView, Endpoint};

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;

/// Verifications of one flow over the last 24 h.
#[derive(Debug, Clone, Default)]
pub struct FlowStats {
    pub total: Funnel,
    pub per_country: Vec<(Option<String>, Funnel)>,
    pub recent: Vec<VerificationSummary>,
}

/// Everything the status page reads from the database, in one transaction-free read.
pub struct DashboardRead {
    pub now: i64,
    pub depths: metrics::QueueDepths,
    /// Parts sent per minute/hour/day by each line, in the order of the names asked for.
    pub sent: Vec<[u32; 3]>,
    pub traffic: Vec<TrafficBucket>,
    pub outbound: Vec<OutboundSummary>,
    pub inbound: Vec<InboundSummary>,
    pub standard: FlowStats,
    pub reverse: FlowStats,
    /// Endpoints created through the API (the config's are the caller's to add).
    pub endpoints: Vec<Endpoint>,
    /// Newest first, each with its attempt log.
    pub deliveries: Vec<DeliveryView>,
    pub events: Vec<EventSummary>,
}

impl Store {
    /// The status page's read: `recent` rows per list, the last hour in `slices` slices.
    pub async fn dashboard(
        &self,
        lines: Vec<String>,
        recent: usize,
        slices: usize,
    ) -> super::Result<DashboardRead> {
        self.call(move |c| {
            let now = now_ms();
            let depths = metrics::queue_depths(c)?;
            let mut sent = Vec::with_capacity(lines.len());
            for name in &lines {
                sent.push(outbound::sent_counts(c, name)?);
            }
            let flow = |flow| -> crate::store::db::Result<FlowStats> {
                let funnels = funnel(c, flow, now - DAY_MS, now)?;
                Ok(FlowStats {
                    total: funnels.total,
                    per_country: funnels.per_country,
                    recent: recent_verifications(c, flow, now, recent)?,
                })
            };
            let standard = flow(Flow::Standard)?;
            let reverse = flow(Flow::Reverse)?;
            let endpoints = webhooks::api_endpoints(c)?;
            let mut deliveries = Vec::new();
            for d in webhooks::list_deliveries(c, &DeliveryFilter::default(), recent)? {
                // With its attempts (one small indexed query each).
                deliveries.push(webhooks::get_delivery(c, &d.id)?.unwrap_or(d));
            }
            Ok(DashboardRead {
                now,
                depths,
                sent,
                traffic: traffic(c, now, HOUR_MS, slices)?,
                outbound: recent_outbound(c, recent)?,
                inbound: recent_inbound(c, recent)?,
                standard,
                reverse,
                endpoints,
                deliveries,
                events: recent_events(c, recent)?,
            })
        })
        .await
    }
}

/// One slice of the traffic chart.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrafficBucket {
    /// Start of the slice (ms since the epoch).
    pub start: i64,
    /// Outbound messages with a part put on the network in this slice.
    pub sent: u32,
    /// Outbound messages that became `delivered` (status report) in this slice.
    pub delivered: u32,
    /// Outbound messages that became `failed` in this slice.
    pub failed: u32,
    /// Inbound messages stored in this slice.
    pub received: u32,
}

/// `buckets` equal slices of `window_ms`, oldest first; the last one holds `now`. Slices are
/// aligned to multiples of their width, so they stay the same until the clock enters the next.
pub fn traffic(
    conn: &Connection,
    now: i64,
    window_ms: i64,
    buckets: usize,
) -> crate::store::db::Result<Vec<TrafficBucket>> {
    let buckets = buckets.max(1);
    let width = (window_ms / buckets as i64).max(1);
    let end = (now.div_euclid(width) + 1) * width;
    let since = end - width * buckets as i64;
    let mut out: Vec<TrafficBucket> = (0..buckets)
        .map(|i| TrafficBucket {
            start: since + width * i as i64,
            ..Default::default()
        })
        .collect();
    // (which counter, SQL yielding one timestamp per counted thing after ?1)
    let series: [(usize, &str); 4] = [
        (
            0,
            "SELECT MIN(sent_at) FROM outbound_parts WHERE sent_at > ?1 GROUP BY message_id",
        ),
        (
            1,
            "SELECT updated_at FROM outbound_messages WHERE updated_at > ?1 AND status = 'delivered'",
        ),
        (
            2,
            "SELECT updated_at FROM outbound_messages WHERE updated_at > ?1 AND status = 'failed'",
        ),
        (
            3,
            "SELECT received_at FROM inbound_messages WHERE received_at > ?1",
        ),
    ];
    for (which, sql) in series {
        let mut stmt = conn.prepare_cached(sql)?;
        let times = stmt.query_map([since], |r| r.get::<_, i64>(0))?;
        for t in times {
            let t = t?;
            let i = ((t - since) / width).clamp(0, buckets as i64 - 1) as usize;
            let b = &mut out[i];
            match which {
                0 => b.sent += 1,
                1 => b.delivered += 1,
                2 => b.failed += 1,
                _ => b.received += 1,
            }
        }
    }
    Ok(out)
}

/// An outbound message as the page lists it: no text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboundSummary {
    pub id: String,
    pub to: String,
    /// `text`, `otp`, `otp_resend`…
    pub purpose: String,
    pub status: String,
    pub modem: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    /// Each part's state, in order (`queued`, `sent`, `delivered`, `failed`, `uncertain`…).
    pub parts: Vec<String>,
}

/// The newest outbound messages, newest first, with the state of each part.
pub fn recent_outbound(
    conn: &Connection,
    limit: usize,
) -> crate::store::db::Result<Vec<OutboundSummary>> {
    let mut stmt = conn.prepare_cached(
        "SELECT m.id, m.recipient, m.purpose, m.status, m.modem, m.error, m.created_at,
                (SELECT string_agg(status, ',' ORDER BY seq) FROM outbound_parts p
                    WHERE p.message_id = m.id)
         FROM outbound_messages m ORDER BY m.created_at DESC, m.rowid DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit as i64], |r| {
        let parts: Option<String> = r.get(7)?;
        Ok(OutboundSummary {
            id: r.get(0)?,
            to: r.get(1)?,
            purpose: r.get(2)?,
            status: r.get(3)?,
            modem: r.get(4)?,
            error: r.get(5)?,
            created_at: r.get(6)?,
            parts: parts
                .map(|p| p.split(',').map(str::to_string).collect())
                .unwrap_or_default(),
        })
    })?;
    rows.collect()
}

/// An inbound message as the page lists it: no text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboundSummary {
    pub id: String,
    pub modem: String,
    pub from: String,
    pub sender_type: String,
    pub parts_total: u32,
    pub complete: bool,
    pub received_at: i64,
}

/// The newest inbound messages, newest first.
pub fn recent_inbound(
    conn: &Connection,
    limit: usize,
) -> crate::store::db::Result<Vec<InboundSummary>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, modem, sender, sender_type, parts_total, complete, received_at
         FROM inbound_messages ORDER BY received_at DESC, rowid DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit as i64], |r| {
        Ok(InboundSummary {
            id: r.get(0)?,
            modem: r.get(1)?,
            from: r.get(2)?,
            sender_type: r.get(3)?,
            parts_total: r.get(4)?,
            complete: r.get(5)?,
            received_at: r.get(6)?,
        })
    })?;
    rows.collect()
}

/// Which kind of verification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    /// A code sent by SMS (`verifications`).
    Standard,
    /// The person texts a factor to our SIM (`reverse_verifications`).
    Reverse,
}

impl Flow {
    fn table(self) -> &'static str {
        match self {
            Flow::Standard => "verifications",
            Flow::Reverse => "reverse_verifications",
        }
    }
}

/// How verifications started in a window ended (so far).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Funnel {
    pub started: u32,
    pub verified: u32,
    /// Still pending and within their time.
    pub pending: u32,
    /// Expired (marked, or pending past `expires_at`).
    pub expired: u32,
    /// Locked after too many wrong attempts.
    pub failed: u32,
    pub cancelled: u32,
}

impl Funnel {
    /// Verified out of started, 0..=1; `None` when nothing started.
    pub fn conversion(&self) -> Option<f64> {
        (self.started > 0).then(|| f64::from(self.verified) / f64::from(self.started))
    }

    fn add(&mut self, other: &Funnel) {
        self.started += other.started;
        self.verified += other.verified;
        self.pending += other.pending;
        self.expired += other.expired;
        self.failed += other.failed;
        self.cancelled += other.cancelled;
    }
}

/// A funnel as a total and per country.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Funnels {
    pub total: Funnel,
    /// ISO country code (`None` when the number's country is unknown), by volume.
    pub per_country: Vec<(Option<String>, Funnel)>,
}

/// The funnel of verifications created after `since`.
pub fn funnel(
    conn: &Connection,
    flow: Flow,
    since: i64,
    now: i64,
) -> crate::store::db::Result<Funnels> {
    let sql = format!(
        "SELECT country, COUNT(*),
                COALESCE(SUM(CASE WHEN status = 'verified' THEN 1 ELSE 0 END), 0),
                COALESCE(SUM(CASE WHEN status = 'pending' AND expires_at > ?2 THEN 1 ELSE 0 END), 0),
                COALESCE(SUM(CASE WHEN status = 'expired' OR (status = 'pending' AND expires_at <= ?2) THEN 1 ELSE 0 END), 0),
                COALESCE(SUM(CASE WHEN status = 'locked' THEN 1 ELSE 0 END), 0),
                COALESCE(SUM(CASE WHEN status = 'cancelled' THEN 1 ELSE 0 END), 0)
         FROM {} WHERE created_at > ?1 GROUP BY country ORDER BY COUNT(*) DESC, country",
        flow.table()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![since, now], |r| {
        Ok((
            r.get::<_, Option<String>>(0)?,
            Funnel {
                started: r.get(1)?,
                verified: r.get(2)?,
                pending: r.get(3)?,
                expired: r.get(4)?,
                failed: r.get(5)?,
                cancelled: r.get(6)?,
            },
        ))
    })?;
    let per_country = rows.collect::<crate::store::db::Result<Vec<_>>>()?;
    let mut total = Funnel::default();
    for (_, f) in &per_country {
        total.add(f);
    }
    Ok(Funnels { total, per_country })
}

/// A verification as the page lists it (no code, no factor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationSummary {
    pub id: String,
    pub number: String,
    /// As seen at `now`: a pending one past its time is `expired`.
    pub status: String,
    pub created_at: i64,
    pub verified_at: Option<i64>,
}

/// The newest verifications of a flow, newest first.
pub fn recent_verifications(
    conn: &Connection,
    flow: Flow,
    now: i64,
    limit: usize,
) -> crate::store::db::Result<Vec<VerificationSummary>> {
    let number = match flow {
        Flow::Standard => "recipient",
        Flow::Reverse => "number",
    };
    let sql = format!(
        "SELECT id, {number},
                CASE WHEN status = 'pending' AND expires_at <= ?1 THEN 'expired' ELSE status END,
                created_at, verified_at
         FROM {} ORDER BY created_at DESC, rowid DESC LIMIT ?2",
        flow.table()
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![now, limit as i64], |r| {
        Ok(VerificationSummary {
            id: r.get(0)?,
            number: r.get(1)?,
            status: r.get(2)?,
            created_at: r.get(3)?,
            verified_at: r.get(4)?,
        })
    })?;
    rows.collect()
}

/// An event as the page's activity list shows it: its type and the ids it is about, never
/// texts or codes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSummary {
    pub seq: i64,
    pub kind: String,
    pub created_at: i64,
    /// `key=value` pairs of non-secret fields (ids, modem, status, state).
    pub subject: Vec<(String, String)>,
}

/// Fields of an event's data that may be shown: identifiers and states only.
const SHOWN_FIELDS: &[&str] = &["id", "otp_id", "message_id", "modem", "status", "state"];

/// The newest events, newest first.
pub fn recent_events(
    conn: &Connection,
    limit: usize,
) -> crate::store::db::Result<Vec<EventSummary>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, type, data, created_at FROM events ORDER BY seq DESC LIMIT ?1",
    )?;
    let rows = stmt.query_map([limit as i64], |r| {
        let data: String = r.get(2)?;
        let data: serde_json::Value = serde_json::from_str(&data).unwrap_or_default();
        let subject = SHOWN_FIELDS
            .iter()
            .filter_map(|k| {
                let v = data.get(*k)?;
                let text = match v {
                    serde_json::Value::String(s) => s.clone(),
                    serde_json::Value::Number(n) => n.to_string(),
                    serde_json::Value::Bool(b) => b.to_string(),
                    _ => return None,
                };
                Some((k.to_string(), text))
            })
            .collect();
        Ok(EventSummary {
            seq: r.get(0)?,
            kind: r.get(1)?,
            created_at: r.get(3)?,
            subject,
        })
    })?;
    rows.collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::outbound::{self, NewMessage};

    fn db() -> Connection {
        crate::store::test_support::test_db()
    }

    fn message(parts: usize) -> NewMessage {
        NewMessage {
            recipient: "+447700900001".into(),
            body: "your code is 123456".into(),
            line: None,
            report: true,
            encoding: "gsm7".into(),
            parts: (0..parts).map(|i| (10, format!("{i:02X}"))).collect(),
            purpose: "otp".into(),
            purpose_id: None,
        }
    }

    #[test]
    fn traffic_counts_each_series_in_its_slice() {
        let mut c = db();
        let now = 10_000_000;
        let sent = outbound::enqueue(&mut c, &message(2)).unwrap();
        // Both parts sent in the last slice: one message.
        c.execute(
            "UPDATE outbound_parts SET status = 'sent', sent_at = ?1 WHERE message_id = ?2",
            params![now - 1_000, sent],
        )
        .unwrap();
        let failed = outbound::enqueue(&mut c, &message(1)).unwrap();
        c.execute(
            "UPDATE outbound_messages SET status = 'failed', updated_at = ?1 WHERE id = ?2",
            params![now - 52 * 60_000, failed],
        )
        .unwrap();
        c.execute(
            "INSERT INTO inbound_messages (id, modem, sender, sender_type, body, encoding, parts_total, complete, received_at)
             VALUES ('in_1', 'sim1', '+1', 'international', 'x', 'gsm7', 1, 1, ?1),
                    ('in_old', 'sim1', '+1', 'international', 'x', 'gsm7', 1, 1, ?2)",
            params![now - 2_000, now - 2 * 3_600_000],
        )
        .unwrap();
        let t = traffic(&c, now, 3_600_000, 12).unwrap();
        assert_eq!(t.len(), 12);
        // Aligned slices: 10_000_000 lies in the one that ends at 10_200_000.
        assert_eq!(t[0].start, 6_600_000);
        assert_eq!(t[11].start, 9_900_000);
        assert_eq!(t[11].sent, 1, "two parts, one message");
        assert_eq!(t[11].received, 1, "the old one is outside the window");
        assert_eq!(t[0].failed, 1, "52 minutes ago is in the first slice");
        let total: u32 = t
            .iter()
            .map(|b| b.sent + b.delivered + b.failed + b.received)
            .sum();
        assert_eq!(total, 3);
    }

    #[test]
    fn recent_outbound_has_part_states_and_no_text() {
        let mut c = db();
        let id = outbound::enqueue(&mut c, &message(3)).unwrap();
        c.execute(
            "UPDATE outbound_parts SET status = 'delivered' WHERE message_id = ?1 AND seq = 1",
            [&id],
        )
        .unwrap();
        let list = recent_outbound(&c, 10).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].id, id);
        assert_eq!(list[0].parts[0], "delivered");
        assert_eq!(list[0].parts.len(), 3);
        assert!(!format!("{list:?}").contains("123456"));
    }

    fn verification(c: &Connection, id: &str, country: &str, status: &str, expires_at: i64) {
        c.execute(
            "INSERT INTO reverse_verifications (id, number, country, factor, factor_key, recipient, status,
                 max_attempts, language, key_label, created_at, expires_at, updated_at)
             VALUES (?1, '+14155550100', ?2, 'F', 'f', '+15550000001', ?3, 5, 'en', 'k', 1000, ?4, 1000)",
            params![id, country, status, expires_at],
        )
        .unwrap();
    }

    #[test]
    fn funnel_per_country_reads_expiry_off_the_clock() {
        let c = db();
        let now = 5_000;
        verification(&c, "r1", "US", "verified", 9_000);
        verification(&c, "r2", "US", "pending", 4_000); // past its time
        verification(&c, "r3", "US", "pending", 9_000);
        verification(&c, "r4", "GB", "locked", 9_000);
        let Funnels { total, per_country } = funnel(&c, Flow::Reverse, 0, now).unwrap();
        assert_eq!(total.started, 4);
        assert_eq!(total.verified, 1);
        assert_eq!(total.expired, 1);
        assert_eq!(total.pending, 1);
        assert_eq!(total.failed, 1);
        assert_eq!(total.conversion(), Some(0.25));
        assert_eq!(per_country[0].0.as_deref(), Some("US"));
        assert_eq!(per_country[0].1.started, 3);
        assert_eq!(per_country[1].0.as_deref(), Some("GB"));
        let later = funnel(&c, Flow::Reverse, 2_000, now).unwrap().total;
        assert_eq!(later.started, 0, "created before the window");
        assert_eq!(later.conversion(), None);
        let recent = recent_verifications(&c, Flow::Reverse, now, 10).unwrap();
        let r2 = recent.iter().find(|v| v.id == "r2").unwrap();
        assert_eq!(r2.status, "expired");
        assert_eq!(funnel(&c, Flow::Standard, 0, now).unwrap().total.started, 0);
    }

    #[test]
    fn events_show_ids_and_states_only() {
        let c = db();
        crate::store::events::append(
            &c,
            crate::states::EventKind::MessageReceived,
            &serde_json::json!({"id": "in_1", "modem": "sim1", "text": "code 424242", "from": "+1"}),
        )
        .unwrap();
        let list = recent_events(&c, 5).unwrap();
        assert_eq!(list[0].kind, "message.received");
        assert_eq!(
            list[0].subject,
            vec![
                ("id".to_string(), "in_1".to_string()),
                ("modem".to_string(), "sim1".to_string())
            ]
        );
        assert!(!format!("{list:?}").contains("424242"));
    }
}
