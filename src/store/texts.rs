//! Accepting outbound texts: the queue bound, the `[messages]` rate limits and the enqueue in
//! one transaction ("accepted means committed", and concurrent requests cannot both slip under
//! a limit or the bound).

use super::outbound::{self, NewMessage};
use super::{now_ms, ratelimit, standby, Result, Store};
use crate::verify::ratelimit::{Limited, Limits, Subject};

/// Why a plain text was not queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TextRefused {
    /// The queue holds `outbound.max_queued` messages or more.
    QueueFull {
        queued: u64,
    },
    RateLimited(Limited),
}

impl Store {
    /// Queues a message with no abuse limits (the gateway's own messages); returns its id.
    pub async fn enqueue(&self, message: NewMessage) -> Result<String> {
        let standby = self.standby().clone();
        self.call(move |c| {
            let tx = c.transaction()?;
            let id = outbound::enqueue_in(&tx, &message)?;
            standby::hand_over_in(&tx, &standby, &message)?;
            tx.commit()?;
            Ok(id)
        })
        .await
    }

    /// Queues a plain text from an API caller: refused while the queue holds `max_queued`
    /// (0: unbounded) or when a `[messages]` limit is reached; all in one transaction.
    pub async fn enqueue_text(
        &self,
        message: NewMessage,
        limits: Limits,
        key_label: String,
        max_queued: u64,
    ) -> Result<std::result::Result<String, TextRefused>> {
        let standby = self.standby().clone();
        self.call(move |c| {
            let tx = c.transaction()?;
            if max_queued > 0 {
                let queued = outbound::queue_depth(&tx)?;
                if queued >= max_queued {
                    return Ok(Err(TextRefused::QueueFull { queued }));
                }
            }
            let subject = Subject {
                number: &message.recipient,
                key_label: &key_label,
                ip: None,
            };
            if let Err(limited) =
                ratelimit::check_and_record_text(&tx, &limits, &subject, now_ms())?
            {
                return Ok(Err(TextRefused::RateLimited(limited)));
            }
            let id = outbound::enqueue_in(&tx, &message)?;
            standby::hand_over_in(&tx, &standby, &message)?;
            tx.commit()?;
            Ok(Ok(id))
        })
        .await
    }
}
