//! What the page shows, read in one go: modem statuses from the pool, everything else from the
//! store in one operation (`Store::dashboard`).

use crate::daemon::AppState;
use crate::modem::ModemStatus;
use crate::store::dashboard::{EventSummary, InboundSummary, OutboundSummary, TrafficBucket};
use crate::store::StoreError;
use crate::webhook::store::{self as webhook_store, DeliveryView, Endpoint};

/// Rows per list: enough to see what just happened, small enough for a phone and a Pi.
const RECENT: usize = 10;
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

pub use crate::store::dashboard::FlowStats;

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
        let mut read = state.store.dashboard(names, RECENT, TRAFFIC_SLICES).await?;
        let mut endpoints = configured;
        endpoints.append(&mut read.endpoints);
        read.endpoints = endpoints;
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
