//! The modem pool: drains the outbound queue (in SQLite) through the modems.
//!
//! Each modem has a worker that, while its modem is ready and under its send caps, claims the
//! next due message it may send (verification codes first, then the oldest) and sends its
//! parts. Plain texts stop short of the caps by `code_headroom_percent`, so a code always finds
//! a send slot. A free modem takes the next message, so
//! work spreads to the least busy lines by itself; a message pinned to a line waits for that
//! line. A failed attempt puts the message back with a back-off, and any other ready modem
//! may take it: that is the failover.

use crate::modem::{ModemHandle, ModemStatus, SendOutcome, SendPart};
use crate::shutdown::Shutdown;
use crate::store::standby::HandedOver;
use crate::store::{outbound, Store};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{oneshot, Notify};

/// Per-SIM send caps (parts), so operators do not bar the SIM for bulk sending. 0 = no cap.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Caps {
    pub per_minute: u32,
    pub per_hour: u32,
    pub per_day: u32,
}

impl Caps {
    /// The caps plain texts live under: each cap less `headroom_percent` of it (rounded to the
    /// nearest part), which only verification codes may use, so that a code finds room in every
    /// window whatever the backlog of plain texts. Plain texts always keep at least one part.
    pub fn for_plain_texts(&self, headroom_percent: u32) -> Caps {
        let reduce = |cap: u32| {
            if cap == 0 {
                return 0;
            }
            let reserved = (u64::from(cap) * u64::from(headroom_percent) + 50) / 100;
            cap - (reserved as u32).min(cap - 1)
        };
        Caps {
            per_minute: reduce(self.per_minute),
            per_hour: reduce(self.per_hour),
            per_day: reduce(self.per_day),
        }
    }

    /// No cap at all: nothing to count before a send.
    pub fn is_unlimited(&self) -> bool {
        self.per_minute == 0 && self.per_hour == 0 && self.per_day == 0
    }

    /// `None` when another part may go now, else how long to wait before asking again.
    pub fn wait(&self, sent: [u32; 3]) -> Option<Duration> {
        let limits = [
            (self.per_day, sent[2], Duration::from_secs(600)),
            (self.per_hour, sent[1], Duration::from_secs(60)),
            (self.per_minute, sent[0], Duration::from_secs(5)),
        ];
        limits
            .iter()
            .find(|(cap, count, _)| *cap > 0 && count >= cap)
            .map(|(_, _, wait)| *wait)
    }
}

/// Tuning of the pool.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    /// Attempts before a message is failed.
    pub max_attempts: u32,
    /// Back-off after the first failed attempt; doubles per attempt.
    pub retry_base: Duration,
    /// How often idle workers look at the queue without being woken (for back-offs ending).
    pub idle_poll: Duration,
    /// How long a long message begun on one modem waits for it before another modem sends it
    /// again from the start (a phone joins parts only from one number).
    pub restart_multipart_after: Duration,
    /// Woken when a message's status event was appended (webhook delivery listens).
    pub events_appended: Arc<Notify>,
    /// Share of each send cap kept for verification codes (`outbound.code_headroom_percent`).
    pub code_headroom_percent: u32,
}

impl Default for PoolOptions {
    fn default() -> Self {
        PoolOptions {
            max_attempts: 5,
            retry_base: Duration::from_secs(2),
            idle_poll: Duration::from_secs(1),
            restart_multipart_after: Duration::from_secs(600),
            events_appended: Arc::new(Notify::new()),
            code_headroom_percent: 20,
        }
    }
}

struct Line {
    handle: ModemHandle,
    caps: Caps,
}

/// The set of modems and the workers that feed them.
#[derive(Clone)]
pub struct Pool {
    lines: Arc<Vec<Line>>,
    store: Store,
    wake: Arc<Notify>,
    options: PoolOptions,
    /// Other hosts' modems, as of the last heartbeat ([`crate::cluster`]); empty alone.
    elsewhere: Arc<std::sync::RwLock<Vec<crate::store::cluster::PublishedModem>>>,
}

impl Pool {
    pub fn new(store: Store, modems: Vec<(ModemHandle, Caps)>, options: PoolOptions) -> Pool {
        let lines = modems
            .into_iter()
            .map(|(handle, caps)| Line { handle, caps })
            .collect();
        Pool {
            lines: Arc::new(lines),
            store,
            wake: Arc::new(Notify::new()),
            options,
            elsewhere: Arc::default(),
        }
    }

    /// Tells the workers that a message was queued.
    pub fn wake(&self) {
        self.wake.notify_waiters();
    }

    pub fn statuses(&self) -> Vec<ModemStatus> {
        self.lines.iter().map(|l| l.handle.status()).collect()
    }

    /// The modems other hosts sharing the database published at their last heartbeat.
    pub fn elsewhere(&self) -> Vec<crate::store::cluster::PublishedModem> {
        self.elsewhere
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn set_elsewhere(&self, modems: Vec<crate::store::cluster::PublishedModem>) {
        *self.elsewhere.write().unwrap_or_else(|p| p.into_inner()) = modems;
    }

    pub fn handle(&self, name: &str) -> Option<&ModemHandle> {
        self.lines
            .iter()
            .find(|l| l.handle.name == name)
            .map(|l| &l.handle)
    }

    pub fn handles(&self) -> impl Iterator<Item = &ModemHandle> {
        self.lines.iter().map(|l| &l.handle)
    }

    /// Starts one worker per modem; they stop when `shutdown` turns true.
    pub fn start(&self, shutdown: Shutdown) -> Vec<tokio::task::JoinHandle<()>> {
        (0..self.lines.len())
            .map(|i| {
                let pool = self.clone();
                let shutdown = shutdown.clone();
                tokio::spawn(async move { pool.worker(i, shutdown).await })
            })
            .collect()
    }

    async fn worker(self, index: usize, mut shutdown: Shutdown) {
        let line = &self.lines[index];
        let name = line.handle.name.clone();
        let mut status = line.handle.subscribe();
        let board = self.store.standby().clone();
        let restart_after = self.options.restart_multipart_after.as_millis() as i64;
        loop {
            if shutdown.is_shutdown() {
                return;
            }
            // Register for a wake-up before looking, so a message queued meanwhile is not missed.
            let woken = self.wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            // Taken before the look too: if the modem turns ready or unready during it, the
            // wait below ends at once.
            let could_send = line.handle.state().can_send();
            let (pause, mut ticket) = match self.try_one(line).await {
                Looked::Worked => continue,
                Looked::NotReady => (self.options.idle_poll, None),
                Looked::Wait(wait) => (wait, None),
                // Ready with nothing to claim: stand by, so that the transaction accepting the
                // next message claims it for this modem (one commit to the wire).
                Looked::Idle { claimable, pause } => {
                    (pause, Some(board.stand_by(&name, claimable, restart_after)))
                }
            };
            let mut handed = None;
            tokio::select! {
                over = async { (&mut ticket.as_mut().expect("guarded").handed_over).await }, if ticket.is_some() => {
                    handed = over.ok();
                    ticket = None;
                }
                _ = &mut woken => {}
                // Only a modem turning ready or unready: its counters change with every SMS
                // received or sent, and a look at the queue for each would be a store
                // transaction per SMS.
                _ = status.wait_for(|s| s.state.can_send() != could_send) => {}
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.recv() => {}
            }
            if let Some(ticket) = ticket {
                handed = board.leave(ticket).await;
            }
            if let Some(handed) = handed {
                self.take_handed_over(line, handed, shutdown.is_shutdown())
                    .await;
                continue;
            }
            tracing::trace!(modem = %name, "worker looking at the queue");
        }
    }

    /// A claim made for this line by the transaction that accepted a message, its first part
    /// marked `submitting` in that transaction, whose outcome follows. Sent at once (the
    /// modem's prompt overlaps the commit); on shutdown, put back in the queue unsent.
    async fn take_handed_over(&self, line: &Line, handed: HandedOver, stopping: bool) {
        let HandedOver {
            claim,
            mut committed,
            at_the_prompt,
        } = handed;
        let Some(claimed) = claim.claimed else {
            return;
        };
        if stopping {
            if (&mut committed).await != Ok(true) {
                return;
            }
            // Nothing reached the modem: the mark is undone and the message waits, queued.
            if let Some(first) = claimed.pending.first() {
                let (id, seq) = (claimed.id.clone(), first.seq);
                self.log_store(self.store.unmark_part_submitting(id, seq).await);
            }
            let reason = "the daemon stopped before sending".to_string();
            let max = self.options.max_attempts;
            self.log_store(self.store.release_message(claimed.id, reason, 0, max).await);
            return;
        }
        if !claim.withdrawn.is_empty() {
            tracing::info!(messages = ?claim.withdrawn, "code SMS withdrawn: their verification ended");
            self.options.events_appended.notify_waiters();
        }
        self.send_claimed(line, claimed, Some((committed, at_the_prompt)))
            .await;
    }

    /// Sends one message through this line if it can.
    async fn try_one(&self, line: &Line) -> Looked {
        if !line.handle.state().can_send() {
            return Looked::NotReady;
        }
        let name = line.handle.name.clone();
        let caps = line.caps;
        // The count covers the last day of this modem's parts, so its cost follows the traffic;
        // with caps it stays below them, without caps it would grow all day, on every send
        // (BENCHMARKS.md, "Soak"), for a figure nothing reads.
        let counted = if caps.is_unlimited() {
            Ok([0; 3])
        } else {
            let name = name.clone();
            self.store.sent_counts(name).await
        };
        // Plain texts stop short of the caps; codes may use what is left.
        let plain_wait = match counted {
            Ok(sent) => {
                if let Some(wait) = caps.wait(sent) {
                    tracing::debug!(modem = %name, ?sent, "send cap reached");
                    return Looked::Wait(wait);
                }
                caps.for_plain_texts(self.options.code_headroom_percent)
                    .wait(sent)
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot read send counts");
                return Looked::Wait(Duration::from_secs(1));
            }
        };
        let claimable = if plain_wait.is_some() {
            outbound::Claimable::CodesOnly
        } else {
            outbound::Claimable::Any
        };
        let claim = {
            let name = name.clone();
            let restart_after = self.options.restart_multipart_after.as_millis() as i64;
            self.store
                .claim_next_message(name, restart_after, claimable)
                .await
        };
        let claim = match claim {
            Ok(claim) => claim,
            Err(e) => {
                tracing::error!(error = %e, "cannot claim from the queue");
                return Looked::Wait(Duration::from_secs(1));
            }
        };
        if !claim.withdrawn.is_empty() {
            tracing::info!(messages = ?claim.withdrawn, "code SMS withdrawn: their verification ended");
            self.options.events_appended.notify_waiters();
        }
        let claimed = match (claim.claimed, plain_wait) {
            (Some(c), _) => c,
            (None, None) => {
                return Looked::Idle {
                    claimable,
                    pause: self.options.idle_poll,
                }
            }
            (None, Some(wait)) => {
                tracing::debug!(modem = %name, "plain texts at their share of the send caps");
                return Looked::Idle {
                    claimable,
                    pause: wait,
                };
            }
        };
        self.send_claimed(line, claimed, None).await;
        Looked::Worked
    }

    /// Sends the claimed message's parts. `handed_over`: the claim came from an accepting
    /// transaction (see [`crate::store::standby`]), which marked the first part `submitting`
    /// and answers whether it committed, here and to the modem at its prompt.
    async fn send_claimed(
        &self,
        line: &Line,
        claimed: outbound::Claimed,
        mut handed_over: Option<CommitAnswers>,
    ) {
        let name = line.handle.name.clone();
        let id = claimed.id.clone();
        if let Some(old) = &claimed.restarted_from {
            tracing::warn!(message = %id, modem = %name, from = %old, "long message begun on a modem that went away; sending it whole again");
        }
        tracing::info!(message = %id, modem = %name, parts = claimed.pending.len(), attempt = claimed.attempts, "sending");
        let parts = claimed.pending.len();
        for (i, part) in claimed.pending.iter().enumerate() {
            let last = i + 1 == parts;
            match self
                .send_part(line, &id, part, handed_over.take(), last)
                .await
            {
                PartResult::Sent => continue,
                // The accepting transaction rolled back: none of it exists.
                PartResult::Undone => return,
                PartResult::Retry(reason) => {
                    let retry = self.options.retry_base
                        * 2u32
                            .saturating_pow(claimed.attempts.saturating_sub(1))
                            .min(64);
                    let max = self.options.max_attempts;
                    tracing::warn!(message = %id, modem = %name, %reason, "attempt failed; message back in the queue");
                    let (id, reason) = (id.clone(), reason.clone());
                    self.log_store(
                        self.store
                            .release_message(id, reason, retry.as_millis() as i64, max)
                            .await,
                    );
                    // The release may have failed the message for good (a status event).
                    self.options.events_appended.notify_waiters();
                    self.wake();
                    return;
                }
                PartResult::Failed(reason) => {
                    tracing::warn!(message = %id, modem = %name, %reason, "message failed");
                    let (id, reason) = (id.clone(), reason.clone());
                    self.log_store(self.store.fail_message(id, reason).await);
                    self.options.events_appended.notify_waiters();
                    return;
                }
            }
        }
        if parts == 0 {
            // Nothing was left to send (a message begun elsewhere, all its parts gone).
            let id2 = id.clone();
            self.log_store(self.store.finish_sent_message(id2).await);
            self.options.events_appended.notify_waiters();
        }
        tracing::info!(message = %id, modem = %name, "sent");
    }

    /// Sends one part. `handed_over`: it is marked `submitting` by an accepting transaction
    /// that answers whether it committed, here and to the modem, which writes the PDU only on
    /// `true`. `last`: the message's last part, whose record also finishes the message.
    async fn send_part(
        &self,
        line: &Line,
        id: &str,
        part: &outbound::PendingPart,
        handed_over: Option<CommitAnswers>,
        last: bool,
    ) -> PartResult {
        let (started_tx, started_rx) = oneshot::channel();
        let (reply_tx, mut reply_rx) = oneshot::channel();
        if let Some((committed, at_the_prompt)) = handed_over {
            let request = SendPart {
                tpdu_len: part.tpdu_len,
                hex: part.pdu.clone(),
                started: started_tx,
                commit: at_the_prompt,
                reply: reply_tx,
            };
            let outcome = if line.handle.send(request).await.is_ok() {
                reply_rx.await
            } else {
                Ok(SendOutcome::NotSent {
                    reason: "modem driver stopped".into(),
                })
            };
            // Known by now unless the modem gave up before its prompt.
            if committed.await != Ok(true) {
                return PartResult::Undone;
            }
            return self.part_outcome(id, part.seq, outcome, true, last).await;
        }
        let (commit_tx, commit_rx) = oneshot::channel();
        let request = SendPart {
            tpdu_len: part.tpdu_len,
            hex: part.pdu.clone(),
            started: started_tx,
            commit: commit_rx,
            reply: reply_tx,
        };
        if line.handle.send(request).await.is_err() {
            return PartResult::Retry("modem driver stopped".into());
        }
        let modem = line.handle.name.clone();
        let mut submitting = false;
        // Either the modem starts on the part (then we record the commit point, while it
        // answers with its prompt) or the outcome comes first.
        let outcome = tokio::select! {
            started = started_rx => {
                if started.is_ok() {
                    let (id, modem, seq) = (id.to_string(), modem.clone(), part.seq);
                    let marked = self.store.mark_part_submitting(id, seq, modem).await;
                    submitting = marked.is_ok();
                    let _ = commit_tx.send(submitting);
                }
                reply_rx.await
            }
            outcome = &mut reply_rx => outcome,
        };
        self.part_outcome(id, part.seq, outcome, submitting, last)
            .await
    }

    /// Records what the modem said of a part; `submitting`: the part is marked so; `last`:
    /// the message's last part, whose record finishes the message in the same commit.
    async fn part_outcome(
        &self,
        id: &str,
        seq: u32,
        outcome: Result<SendOutcome, oneshot::error::RecvError>,
        submitting: bool,
        last: bool,
    ) -> PartResult {
        let outcome = outcome.unwrap_or(SendOutcome::NotSent {
            reason: "modem driver stopped".into(),
        });
        let id = id.to_string();
        match outcome {
            SendOutcome::Sent { message_ref } if last => {
                // One flush for the part, the message and its `message.status` event, whose
                // webhook deliveries go to the dispatcher with the commit.
                let finished = self.store.finish_with_last_part(id, seq, message_ref).await;
                if !matches!(finished, Ok(false)) {
                    self.options.events_appended.notify_waiters();
                }
                self.log_store(finished);
                PartResult::Sent
            }
            SendOutcome::Sent { message_ref } => {
                self.log_store(self.store.mark_part_sent(id, seq, message_ref).await);
                PartResult::Sent
            }
            SendOutcome::Uncertain { reason } => {
                let r = reason.clone();
                self.log_store(self.store.mark_part_uncertain(id, seq, r).await);
                // Counted as gone; the remaining parts continue on another attempt.
                PartResult::Retry(format!("part {seq} uncertain: {reason}"))
            }
            SendOutcome::NotSent { reason } => {
                if submitting {
                    self.log_store(self.store.unmark_part_submitting(id, seq).await);
                }
                PartResult::Retry(reason)
            }
            SendOutcome::Rejected { reason, permanent } => {
                self.log_store(self.store.unmark_part_submitting(id, seq).await);
                if permanent {
                    PartResult::Failed(reason)
                } else {
                    PartResult::Retry(reason)
                }
            }
        }
    }

    fn log_store<T>(&self, r: crate::store::Result<T>) {
        if let Err(e) = r {
            tracing::error!(error = %e, "store update failed");
        }
    }
}

/// An accepting transaction's outcome, twice: for the worker, and for the modem's driver
/// waiting at its prompt (see [`HandedOver`]).
type CommitAnswers = (oneshot::Receiver<bool>, oneshot::Receiver<bool>);

/// What a worker's look at the queue came to.
enum Looked {
    /// It sent (or tried to send) a message.
    Worked,
    /// The modem cannot send now.
    NotReady,
    /// Capped, or the store failed: look again after this.
    Wait(Duration),
    /// Ready, and nothing it may claim is due; look again after `pause` (or when woken).
    Idle {
        claimable: outbound::Claimable,
        pause: Duration,
    },
}

enum PartResult {
    Sent,
    /// The transaction that claimed it rolled back.
    Undone,
    Retry(String),
    Failed(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modem::ModemState;

    /// Waits up to 5 s for `done`.
    async fn eventually(what: &str, done: impl Fn() -> bool) {
        for _ in 0..500 {
            if done() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("not within 5 s: {what}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_worker_looks_at_the_queue_when_its_modem_turns_ready_not_when_it_counts_an_sms() {
        let (store, _dir) = crate::store::test_support::test_store();
        let (status, handle, _requests) = ModemHandle::detached("m1");
        let options = PoolOptions {
            idle_poll: Duration::from_secs(600),
            ..PoolOptions::default()
        };
        let pool = Pool::new(store.clone(), vec![(handle, Caps::default())], options);
        let (stop, shutdown) = Shutdown::channel();
        let workers = pool.start(shutdown);
        let board = store.standby().clone();

        status.send_modify(|s| s.state = ModemState::Ready);
        eventually("the ready modem's worker stands by", || board.len() == 1).await;
        let looks = board.stood_by();
        for _ in 0..50 {
            status.send_modify(|s| {
                s.received += 1;
                s.sent_parts += 1;
            });
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(
            board.stood_by(),
            looks,
            "counters sent the worker to the queue"
        );
        assert_eq!(board.len(), 1);

        status.send_modify(|s| s.state = ModemState::Offline);
        eventually("the worker leaves the board", || board.is_empty()).await;
        status.send_modify(|s| s.state = ModemState::Ready);
        eventually("the worker stands by again", || board.len() == 1).await;
        assert_eq!(board.stood_by(), looks + 1);

        stop.send(true).unwrap();
        for worker in workers {
            worker.await.unwrap();
        }
    }

    #[test]
    fn caps() {
        let caps = Caps {
            per_minute: 2,
            per_hour: 10,
            per_day: 0,
        };
        assert_eq!(caps.wait([1, 1, 1]), None);
        assert_eq!(caps.wait([2, 2, 2]), Some(Duration::from_secs(5)));
        assert_eq!(caps.wait([0, 10, 10]), Some(Duration::from_secs(60)));
        // per_day 0 = no cap.
        assert_eq!(caps.wait([0, 0, 1_000_000]), None);
        assert_eq!(Caps::default().wait([99, 99, 99]), None);
    }

    /// Without caps the pool does not count sends at all, which is only right if no count
    /// could ever make it wait.
    #[test]
    fn unlimited_caps_never_wait_whatever_the_count() {
        let none = Caps::default();
        assert!(none.is_unlimited());
        for sent in [[0, 0, 0], [u32::MAX; 3], [5, 500, 50_000]] {
            assert_eq!(none.wait(sent), None);
            assert_eq!(none.for_plain_texts(20).wait(sent), None);
        }
        for one in [[1, 0, 0], [0, 1, 0], [0, 0, 1]] {
            let caps = Caps {
                per_minute: one[0],
                per_hour: one[1],
                per_day: one[2],
            };
            assert!(!caps.is_unlimited());
        }
    }

    #[test]
    fn plain_texts_leave_headroom_for_codes() {
        let caps = Caps {
            per_minute: 10,
            per_hour: 200,
            per_day: 1000,
        };
        let plain = caps.for_plain_texts(20);
        assert_eq!(
            plain,
            Caps {
                per_minute: 8,
                per_hour: 160,
                per_day: 800
            }
        );
        // Eight plain parts in the minute: plain texts wait, codes still go.
        assert_eq!(plain.wait([8, 8, 8]), Some(Duration::from_secs(5)));
        assert_eq!(caps.wait([8, 8, 8]), None);
        assert_eq!(caps.wait([10, 10, 10]), Some(Duration::from_secs(5)));
        // Rounded to the nearest part, leaving plain texts at least one; 0 stays "no cap".
        let small = Caps {
            per_minute: 3,
            per_hour: 1,
            per_day: 0,
        };
        assert_eq!(
            small.for_plain_texts(20),
            Caps {
                per_minute: 2,
                per_hour: 1,
                per_day: 0
            }
        );
        assert_eq!(caps.for_plain_texts(0), caps);
        let two = Caps {
            per_minute: 2,
            per_hour: 10,
            per_day: 1,
        };
        assert_eq!(
            two.for_plain_texts(20),
            Caps {
                per_minute: 2,
                per_hour: 8,
                per_day: 1
            }
        );
        assert_eq!(
            two.for_plain_texts(90),
            Caps {
                per_minute: 1,
                per_hour: 1,
                per_day: 1
            }
        );
    }
}
