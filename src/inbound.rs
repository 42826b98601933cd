//! The inbound pipeline: PDUs handed over by the modem drivers are decoded and committed, and
//! only then acknowledged (so the driver may delete them from the modem).
//!
//! In one transaction per PDU: the part is recorded (re-deliveries recognised), a complete
//! message is joined, hooks (reverse-OTP matching) run, and the resulting events are appended.
//! Status reports update the outbound part they report on.

use crate::codec;
use crate::modem::InboundDelivery;
use crate::shutdown::Shutdown;
use crate::store::inbound::{InboundMessage, InboundPart};
use crate::store::Store;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};

pub use crate::store::inbound::InboundHook;

/// Our SIM numbers by modem name, for the `to` of inbound messages.
pub type NumberOf = Arc<dyn Fn(&str) -> Option<String> + Send + Sync>;

/// What the pipeline needs.
#[derive(Clone)]
pub struct Inbound {
    pub store: Store,
    pub number_of: NumberOf,
    pub hooks: Vec<Arc<dyn InboundHook>>,
    /// Woken after each commit that appended events (the webhook dispatcher listens).
    pub events_appended: Arc<Notify>,
    /// How long a multipart message may wait for missing parts before it is surfaced.
    pub incomplete_after: Duration,
}

/// What happened to one PDU.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Message(Box<InboundMessage>),
    Partial,
    Duplicate,
    StatusReport {
        matched: bool,
    },
    /// Not a PDU we can read: kept raw in the event log, and removed from the modem.
    Undecodable(String),
    /// An SMS-SUBMIT found in storage (our own outbox copy): nothing to do.
    Ignored,
}

impl Outcome {
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Message(_) => "message",
            Outcome::Partial => "partial",
            Outcome::Duplicate => "duplicate",
            Outcome::StatusReport { .. } => "status_report",
            Outcome::Undecodable(_) => "undecodable",
            Outcome::Ignored => "ignored",
        }
    }
}

impl Inbound {
    /// Runs until every driver has dropped its sender or shutdown is signalled.
    pub async fn run(
        self,
        mut deliveries: mpsc::Receiver<InboundDelivery>,
        mut shutdown: Shutdown,
    ) {
        let mut sweep = tokio::time::interval(Duration::from_secs(30));
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                delivery = deliveries.recv() => {
                    let Some(delivery) = delivery else { return };
                    let InboundDelivery { modem, pdu, committed, .. } = delivery;
                    match self.process(&modem, &pdu).await {
                        Ok(outcome) => {
                            // Bodies may hold verification factors: log what happened, not the text.
                            tracing::debug!(%modem, outcome = outcome.kind(), "inbound PDU committed");
                            let _ = committed.send(true);
                        }
                        Err(e) => {
                            // Not acknowledged: the message stays on the modem and comes back
                            // with the next sweep.
                            tracing::error!(%modem, error = %e, "cannot store inbound PDU");
                            let _ = committed.send(false);
                        }
                    }
                }
                _ = sweep.tick() => {
                    if let Err(e) = self.surface_incomplete().await {
                        tracing::error!(error = %e, "incomplete multipart sweep failed");
                    }
                }
                _ = shutdown.recv() => return,
            }
        }
    }

    /// Decodes and commits one PDU.
    pub async fn process(&self, modem: &str, pdu: &str) -> crate::store::Result<Outcome> {
        let decoded =
            codec::decode(pdu, true).or_else(|first| codec::decode(pdu, false).map_err(|_| first));
        let modem = modem.to_string();
        let pdu = pdu.trim().to_string();
        let recipient = (self.number_of)(&modem);
        // The events' deliveries go to the dispatcher with the commit, unless it takes no
        // hand-offs (then it is woken to fan them out).
        let (outcome, left_for_a_poll) = self
            .store
            .commit_inbound_pdu(modem, pdu, recipient, decoded, self.hooks.clone())
            .await?;
        if left_for_a_poll {
            self.events_appended.notify_waiters();
        }
        Ok(outcome)
    }

    async fn surface_incomplete(&self) -> crate::store::Result<()> {
        let max_age = self.incomplete_after.as_millis() as i64;
        let surfaced = self
            .store
            .surface_incomplete_messages(max_age, self.number_of.clone(), self.hooks.clone())
            .await?;
        if surfaced > 0 {
            tracing::warn!(
                count = surfaced,
                "multipart messages surfaced with parts missing"
            );
            self.events_appended.notify_waiters();
        }
        Ok(())
    }
}

pub(crate) fn part_from(
    modem: &str,
    recipient: Option<String>,
    pdu: &str,
    deliver: &codec::Deliver,
) -> InboundPart {
    let data = &deliver.user_data;
    let text = match &data.text {
        Some(t) => t.clone(),
        // 8-bit data (WAP push, binary): kept as hex so nothing is lost.
        None => hex::encode_upper(&data.payload),
    };
    InboundPart {
        modem: modem.to_string(),
        recipient,
        pdu: pdu.to_string(),
        sender: deliver.originator.to_display(),
        sender_type: deliver.originator.kind().as_str().to_string(),
        sender_toa: Some(deliver.originator.type_of_address),
        smsc: deliver.smsc.as_ref().map(|a| a.to_display()),
        scts: Some(deliver.timestamp.to_rfc3339()),
        encoding: deliver.dcs.encoding.as_str().to_string(),
        text,
        concat: data.concat().map(|c| (c.reference, c.total, c.seq)),
    }
}

/// The `data` of a `message.received` event.
pub fn message_event(m: &InboundMessage) -> serde_json::Value {
    serde_json::json!({
        "message_id": m.id,
        "from": m.from,
        "sender_type": m.sender_type,
        "smsc": m.smsc,
        "sender_trust": m.sender_trust,
        "sender_trust_reason": m.sender_trust_reason,
        "to": m.to,
        "modem": m.modem,
        "body": m.body,
        "encoding": m.encoding,
        "parts": m.parts_total,
        "complete": m.complete,
        "sent_at": m.scts,
        "received_at": m.received_at,
    })
}
