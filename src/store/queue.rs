//! The outbound queue as the pool drives it: one operation per step of a send, each its own
//! transaction, in the order that keeps "at most once to the network" (`submitting` is
//! committed at the `>` prompt, before the PDU is written). The SQL is in [`super::outbound`].

use super::outbound::{self, Claim, Claimable};
use super::{events, Result, Store};
use crate::states::EventKind;

impl Store {
    /// Parts this modem sent in each cap window (minute, hour, day).
    pub async fn sent_counts(&self, modem: String) -> Result<[u32; 3]> {
        self.call(move |c| Ok(outbound::sent_counts(c, &modem)?))
            .await
    }

    /// Withdraws dead code SMS, then claims the next message this modem may send (codes
    /// first; a long message stays with the modem that began it unless `restart_after_ms`
    /// passed), in one transaction.
    ///
    /// Committed without waiting for the disk: a claim lost to a power cut leaves the message
    /// `queued`, which is what crash recovery makes of a claim anyway, and the `submitting`
    /// commit at the prompt (durable, and ordered after this one) is what at-most-once rests
    /// on. One fsync fewer between the API and the wire.
    pub async fn claim_next_message(
        &self,
        modem: String,
        restart_after_ms: i64,
        claimable: Claimable,
    ) -> Result<Claim> {
        self.call(move |c| {
            Ok(c.without_waiting_for_disk(|c| {
                outbound::claim(c, &modem, restart_after_ms, claimable)
            })?)
        })
        .await
    }

    /// The modem showed its `>` prompt for this part: committed before the PDU is written.
    pub async fn mark_part_submitting(&self, id: String, seq: u32, modem: String) -> Result<()> {
        self.call(move |c| Ok(outbound::mark_submitting(c, &id, seq, &modem)?))
            .await
    }

    /// The network took the part (with its reference, for status reports).
    pub async fn mark_part_sent(
        &self,
        id: String,
        seq: u32,
        message_ref: Option<u8>,
    ) -> Result<()> {
        self.call(move |c| Ok(outbound::mark_sent(c, &id, seq, message_ref)?))
            .await
    }

    /// The message's last part left: the part, the message's `sent` and its `message.status`
    /// event in one commit, the event's webhook deliveries handed to the dispatcher with it.
    /// Returns whether the dispatcher must still be woken to poll for them.
    pub async fn finish_with_last_part(
        &self,
        id: String,
        seq: u32,
        message_ref: Option<u8>,
    ) -> Result<bool> {
        let plan = self.fan_out_plan();
        let handed_off = self.handed_off().clone();
        self.call(move |c| {
            let tx = c.transaction()?;
            outbound::mark_sent(&tx, &id, seq, message_ref)?;
            outbound::finish_sent(&tx, &id)?;
            let left_for_a_poll =
                super::webhooks::fan_out_in_transaction(&tx, plan.as_deref(), &handed_off)?;
            tx.commit()?;
            Ok(left_for_a_poll)
        })
        .await
    }

    /// The part may or may not have left: never sent again.
    pub async fn mark_part_uncertain(&self, id: String, seq: u32, reason: String) -> Result<()> {
        self.call(move |c| Ok(outbound::mark_uncertain(c, &id, seq, &reason)?))
            .await
    }

    /// The modem refused the part before it left: back to `queued`.
    pub async fn unmark_part_submitting(&self, id: String, seq: u32) -> Result<()> {
        self.call(move |c| Ok(outbound::unmark_submitting(c, &id, seq)?))
            .await
    }

    /// Every part left: the message is sent (with its `message.status` event).
    pub async fn finish_sent_message(&self, id: String) -> Result<()> {
        self.call(move |c| Ok(outbound::finish_sent(c, &id)?)).await
    }

    /// An attempt failed: back in the queue after `retry_in_ms`, or failed after
    /// `max_attempts`.
    pub async fn release_message(
        &self,
        id: String,
        reason: String,
        retry_in_ms: i64,
        max_attempts: u32,
    ) -> Result<()> {
        self.call(move |c| {
            Ok(outbound::release(
                c,
                &id,
                &reason,
                retry_in_ms,
                max_attempts,
            )?)
        })
        .await
    }

    /// The message failed for good (with its `message.status` event).
    pub async fn fail_message(&self, id: String, reason: String) -> Result<()> {
        self.call(move |c| Ok(outbound::fail(c, &id, &reason)?))
            .await
    }

    /// Start-up after a crash: `submitting` parts become `uncertain`, `sending` messages are
    /// queued again. Returns (uncertain parts, requeued messages).
    pub async fn recover_outbound(&self) -> Result<(usize, usize)> {
        self.call(|c| Ok(outbound::recover(c)?)).await
    }

    /// Appends an event that no stored row caused (a modem's state changed).
    pub async fn append_event(&self, kind: EventKind, data: serde_json::Value) -> Result<String> {
        self.call(move |c| Ok(events::append(c, kind, &data)?))
            .await
    }
}
