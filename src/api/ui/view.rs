//! What the page shows, read in one go: modem statuses from the pool, everything else from the
//! store (SQL in `store::dashboard`, `store::outbound`, `webhook::store`).

use crate::api::modems::queue_depths;
use crate::daemon::AppState;
use crate::modem::ModemStatus;
use crate::store::dashboard::{
    self, EventSummary, Flow, Funnel, InboundSummary, OutboundSummary, TrafficBucket,
    VerificationSummary,
};
use crate::store::{now_ms, outbound, StoreError};
use crate::webhook::store::{self as webhook_store, DeliveryFilter, DeliveryView, Endpoint};

/// Rows per list: enough to see what just happened, small enough for a phone and a Pi.
const RECENT: usize = 10;
const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Slices of the last hour in the traffic chart.
pub const TRAFFIC_SLICES: usize = 12;

/// One modem's card.
#[derive(Debug, Clone)]
pub struct ModemCard {
    pub status: ModemStatus,
    /// Parts put on the network in the last minute, hour, day.
    pub sent: [u32; 3],
    /// The configured caps per minute, hour, day (0 = none).
    pub caps: [u32; 3],
    /// Messages queued for or being sent by this line.
    pub queue_depth: u64,
}

/// Verifications of one flow over the last 24 h.
#[derive(Debug, Clone, Default)]
pub struct FlowStats {
    pub total: Funnel,
    pub per_country: Vec<(Option<String>, Funnel)>,
    pub recent: Vec<VerificationSummary>,
}

/// Everything on the page at one moment.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub now: i64,
    pub modems: Vec<ModemCard>,
    /// Messages waiting or being sent, all lines.
    pub queue_depth: u64,
    /// Of those, not yet bound to a line.
    pub unassigned: u64,
    pub traffic: Vec<TrafficBucket>,
    pub outbound: Vec<OutboundSummary>,
    pub inbound: Vec<InboundSummary>,
    pub standard: FlowStats,
    pub reverse: FlowStats,
    pub endpoints: Vec<Endpoint>,
    /// Newest first, each with its attempt log.
    pub deliveries: Vec<DeliveryView>,
    pub events: Vec<EventSummary>,
}

impl Snapshot {
    pub async fn load(state: &AppState) -> Result<Snapshot, StoreError> {
        let statuses = state.modem_statuses();
        let names: Vec<String> = statuses.iter().map(|s| s.name.clone()).collect();
        let configured = webhook_store::config_endpoints(&state.config);
        let read = state
            .store
            .call(move |c| {
                let now = now_ms();
                let depths = queue_depths(c)?;
                let mut sent = Vec::with_capacity(names.len());
                for name in &names {
                    sent.push(outbound::sent_counts(c, name)?);
                }
                let flow = |flow| -> rusqlite::Result<FlowStats> {
                    let funnels = dashboard::funnel(c, flow, now - DAY_MS, now)?;
                    Ok(FlowStats {
                        total: funnels.total,
                        per_country: funnels.per_country,
                        recent: dashboard::recent_verifications(c, flow, now, RECENT)?,
                    })
                };
                let standard = flow(Flow::Standard)?;
                let reverse = flow(Flow::Reverse)?;
                let mut endpoints = configured;
                endpoints.extend(webhook_store::api_endpoints(c)?);
                let mut deliveries = Vec::new();
                for d in webhook_store::list_deliveries(c, &DeliveryFilter::default(), RECENT)? {
                    // With its attempts (one small indexed query each).
                    deliveries.push(webhook_store::get_delivery(c, &d.id)?.unwrap_or(d));
                }
                Ok(Loaded {
                    now,
                    depths,
                    sent,
                    traffic: dashboard::traffic(c, now, HOUR_MS, TRAFFIC_SLICES)?,
                    outbound: dashboard::recent_outbound(c, RECENT)?,
                    inbound: dashboard::recent_inbound(c, RECENT)?,
                    standard,
                    reverse,
                    endpoints,
                    deliveries,
                    events: dashboard::recent_events(c, RECENT)?,
                })
            })
            .await?;
        let modems = statuses
            .into_iter()
            .zip(read.sent)
            .map(|(status, sent)| {
                let caps = state
                    .config
                    .modems
                    .iter()
                    .find(|m| m.name == status.name)
                    .map(|m| [m.max_per_minute, m.max_per_hour, m.max_per_day])
                    .unwrap_or_default();
                let queue_depth = read.depths.per_line.get(&status.name).copied().unwrap_or(0);
                ModemCard {
                    status,
                    sent,
                    caps,
                    queue_depth,
                }
            })
            .collect();
        let queue_depth = read.depths.per_line.values().sum::<u64>() + read.depths.unassigned;
        Ok(Snapshot {
            now: read.now,
            modems,
            queue_depth,
            unassigned: read.depths.unassigned,
            traffic: read.traffic,
            outbound: read.outbound,
            inbound: read.inbound,
            standard: read.standard,
            reverse: read.reverse,
            endpoints: read.endpoints,
            deliveries: read.deliveries,
            events: read.events,
        })
    }
}

struct Loaded {
    now: i64,
    depths: crate::api::modems::QueueDepths,
    sent: Vec<[u32; 3]>,
    traffic: Vec<TrafficBucket>,
    outbound: Vec<OutboundSummary>,
    inbound: Vec<InboundSummary>,
    standard: FlowStats,
    reverse: FlowStats,
    endpoints: Vec<Endpoint>,
    deliveries: Vec<DeliveryView>,
    events: Vec<EventSummary>,
}
