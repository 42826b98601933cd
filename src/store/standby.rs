//! Idle modems standing by for the next message, so that the transaction that accepts a
//! message also claims it and marks its first part `submitting`: one commit, one fsync,
//! between the API and the wire, where the queue's usual path has two (accept, then the
//! `submitting` mark) plus the claim in between.
//!
//! A pool worker whose modem is ready and whose claim found nothing leaves a [`Ticket`] on
//! the [`StandbyBoard`]. An accepting transaction that finds a matching ticket runs the
//! worker's own claim ([`outbound::claim_in`]) inside itself, so priorities, pinned lines and
//! the send caps' share for codes are exactly what the worker would have applied. It hands
//! the claim over at once, so the modem's `AT+CMGS=` and prompt overlap the commit's fsync,
//! with the commit's outcome to follow ([`Connection::after_commit`]): the modem writes the
//! PDU only on `true`, and cancels at the prompt if the transaction rolled back.
//!
//! The crash rule is unchanged: the part is `submitting` in the database before its PDU can
//! be written, so a crash after the commit leaves it `uncertain`, never sent twice.

use super::outbound::{self, Claim, Claimable, NewMessage};
use crate::store::db::Connection;
use std::collections::VecDeque;
use std::sync::Mutex;
use tokio::sync::oneshot;

/// What a standing-by worker receives: the claim, its first pending part marked
/// `submitting` on the worker's modem by a transaction whose outcome follows on `committed`
/// (`true` once durable; `false` or a closed channel if it rolled back, and then nothing of
/// the claim exists).
#[derive(Debug)]
pub struct HandedOver {
    pub claim: Claim,
    pub committed: oneshot::Receiver<bool>,
    /// The same outcome, for the modem's driver, which waits at the prompt with the PDU: the
    /// worker passes it on untouched, so the PDU leaves one task wake-up after the commit,
    /// not two.
    pub at_the_prompt: oneshot::Receiver<bool>,
}

struct Standing {
    ticket: u64,
    modem: String,
    claimable: Claimable,
    restart_after_ms: i64,
    deliver: oneshot::Sender<HandedOver>,
}

/// The workers standing by, the longest idle first (so work spreads over the lines).
#[derive(Default)]
pub struct StandbyBoard {
    standing: Mutex<VecDeque<Standing>>,
    next_ticket: std::sync::atomic::AtomicU64,
}

/// A worker's place on the board. Leave with [`StandbyBoard::leave`], which also collects a
/// hand-over that was on its way.
pub struct Ticket {
    ticket: u64,
    pub handed_over: oneshot::Receiver<HandedOver>,
}

impl StandbyBoard {
    /// `modem` is ready and found nothing to claim that `claimable` allows.
    pub fn stand_by(&self, modem: &str, claimable: Claimable, restart_after_ms: i64) -> Ticket {
        let ticket = self
            .next_ticket
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let (deliver, handed_over) = oneshot::channel();
        self.lock().push_back(Standing {
            ticket,
            modem: modem.to_string(),
            claimable,
            restart_after_ms,
            deliver,
        });
        Ticket {
            ticket,
            handed_over,
        }
    }

    /// Takes the ticket off the board. If a transaction took it first, waits for that
    /// transaction's end: the hand-over if it committed, `None` if it did not.
    pub async fn leave(&self, ticket: Ticket) -> Option<HandedOver> {
        let still_standing = {
            let mut standing = self.lock();
            let before = standing.len();
            standing.retain(|s| s.ticket != ticket.ticket);
            standing.len() != before
        };
        if still_standing {
            return None;
        }
        ticket.handed_over.await.ok()
    }

    /// How many times a worker stood by since start: one for each look at the queue that
    /// found nothing.
    #[cfg(test)]
    pub(crate) fn stood_by(&self) -> u64 {
        self.next_ticket.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many workers stand by (tests, the status page).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The longest-idle worker that could send `message`: its line, if the message is pinned,
    /// and a claim that allows it (codes only, when plain texts used their share of the caps).
    fn take_for(&self, message: &NewMessage) -> Option<Standing> {
        let code = outbound::priority_for(&message.purpose) > 0;
        let mut standing = self.lock();
        let at = standing.iter().position(|s| {
            message.line.as_ref().is_none_or(|line| *line == s.modem)
                && (code || s.claimable == Claimable::Any)
                && !s.deliver.is_closed()
        })?;
        standing.remove(at)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<Standing>> {
        self.standing.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Inside the transaction that accepted `message`, just before its commit: if a worker stands
/// by for it, claim for that worker (the message, or one the worker's claim puts first), mark
/// the first pending part `submitting` and hand the claim over, the commit's outcome to
/// follow. Returns whether a worker was given work. Without a worker standing by, nothing
/// happens and the pool's wake-up takes the usual path.
pub fn hand_over_in(
    tx: &Connection,
    board: &StandbyBoard,
    message: &NewMessage,
) -> crate::store::db::Result<bool> {
    let Some(standing) = board.take_for(message) else {
        return Ok(false);
    };
    // A savepoint, so that a hand-over nobody takes leaves no claim behind.
    let sp = tx.transaction()?;
    let claim = outbound::claim_in(
        &sp,
        &standing.modem,
        standing.restart_after_ms,
        standing.claimable,
    )?;
    let Some(first) = claim
        .claimed
        .as_ref()
        .and_then(|c| c.pending.first().map(|p| (c.id.clone(), p.seq)))
    else {
        // Nothing for this worker after all; dropping its sender sends it back to the queue.
        return Ok(false);
    };
    outbound::mark_submitting(&sp, &first.0, first.1, &standing.modem)?;
    let (commit, committed) = oneshot::channel();
    let (go, at_the_prompt) = oneshot::channel();
    if standing
        .deliver
        .send(HandedOver {
            claim,
            committed,
            at_the_prompt,
        })
        .is_err()
    {
        // The worker is gone (the runtime is stopping): the message stays queued.
        sp.rollback()?;
        return Ok(false);
    }
    sp.commit()?;
    tx.after_commit(move || {
        // The modem first: it has the PDU waiting.
        let _ = go.send(true);
        let _ = commit.send(true);
    });
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::states::PartStatus;

    /// Awaits one hand-over channel. The tests are synchronous (PostgreSQL's blocking client
    /// may not run inside a runtime), so only the waiting enters one.
    fn wait<F: std::future::Future>(future: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(future)
    }

    fn text(line: Option<&str>, purpose: &str) -> NewMessage {
        NewMessage {
            recipient: "+447700900001".into(),
            body: "body".into(),
            line: line.map(str::to_string),
            report: false,
            encoding: "gsm7".into(),
            parts: vec![(10, "AA".into()), (10, "BB".into())],
            purpose: purpose.into(),
            purpose_id: None,
        }
    }

    fn accept(conn: &mut Connection, board: &StandbyBoard, message: &NewMessage) -> String {
        let tx = conn.transaction().unwrap();
        let id = outbound::enqueue_in(&tx, message).unwrap();
        hand_over_in(&tx, board, message).unwrap();
        tx.commit().unwrap();
        id
    }

    fn part_status(conn: &Connection, id: &str, seq: u32) -> (String, Option<String>) {
        conn.query_row(
            "SELECT status, modem FROM outbound_parts WHERE message_id = ?1 AND seq = ?2",
            crate::params![id, seq],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap()
    }

    #[test]
    fn the_accepting_commit_claims_for_the_worker_standing_by() {
        let mut conn = crate::store::test_support::test_db();
        let board = StandbyBoard::default();
        let mut ticket = board.stand_by("modem0", Claimable::Any, 600_000);
        let id = accept(&mut conn, &board, &text(None, "text"));
        assert!(board.is_empty());
        let handed = wait(&mut ticket.handed_over).unwrap();
        assert_eq!(wait(handed.committed), Ok(true));
        let claimed = handed.claim.claimed.unwrap();
        assert_eq!(claimed.id, id);
        assert_eq!(claimed.pending.len(), 2);
        // Only the first part is marked; the second takes the usual path.
        assert_eq!(
            part_status(&conn, &id, 1),
            (
                PartStatus::Submitting.as_str().to_string(),
                Some("modem0".to_string())
            )
        );
        assert_eq!(part_status(&conn, &id, 2).0, PartStatus::Queued.as_str());
        let status: String = conn
            .query_row(
                "SELECT status FROM outbound_messages WHERE id = ?1",
                [&id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(status, "sending");
    }

    #[test]
    fn a_rolled_back_hand_over_says_so_and_leaves_nothing() {
        let conn = crate::store::test_support::test_db();
        let board = StandbyBoard::default();
        let mut ticket = board.stand_by("modem0", Claimable::Any, 600_000);
        let message = text(None, "text");
        let tx = conn.transaction().unwrap();
        let id = outbound::enqueue_in(&tx, &message).unwrap();
        assert!(hand_over_in(&tx, &board, &message).unwrap());
        drop(tx);
        let handed = wait(&mut ticket.handed_over).unwrap();
        assert!(wait(handed.committed).is_err(), "no commit to announce");
        let rows: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM outbound_parts WHERE message_id = ?1",
                [&id],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rows, 0);
    }

    #[test]
    fn only_a_worker_that_may_send_it_is_given_a_message() {
        let mut conn = crate::store::test_support::test_db();
        let board = StandbyBoard::default();
        // modem1 may send codes only (its plain share of the caps is used); modem2 anything.
        let capped = board.stand_by("modem1", Claimable::CodesOnly, 600_000);
        let elsewhere = board.stand_by("modem2", Claimable::Any, 600_000);
        // A plain text pinned to modem1: neither may take it; it waits in the queue.
        let plain = accept(&mut conn, &board, &text(Some("modem1"), "text"));
        assert_eq!(board.len(), 2);
        assert_eq!(part_status(&conn, &plain, 1).0, PartStatus::Queued.as_str());
        // A code goes to the longest standing worker that may send it: modem1.
        let code = accept(&mut conn, &board, &text(None, outbound::PURPOSE_CODE));
        let handed = wait(board.leave(capped)).unwrap();
        assert_eq!(handed.claim.claimed.unwrap().id, code);
        assert_eq!(part_status(&conn, &code, 1).1.as_deref(), Some("modem1"));
        // Leaving a ticket nobody took gives nothing.
        assert!(wait(board.leave(elsewhere)).is_none());
        assert!(board.is_empty());
    }

    #[test]
    fn a_worker_given_nothing_goes_back_to_the_queue() {
        let conn = crate::store::test_support::test_db();
        let board = StandbyBoard::default();
        let ticket = board.stand_by("modem0", Claimable::Any, 600_000);
        // The worker's claim finds nothing due (the message was dealt with meanwhile): the
        // worker is not given an empty claim, and no mark is left behind.
        let message = text(None, "text");
        let tx = conn.transaction().unwrap();
        let id = outbound::enqueue_in(&tx, &message).unwrap();
        tx.execute(
            "UPDATE outbound_messages SET status = 'sent' WHERE id = ?1",
            [&id],
        )
        .unwrap();
        assert!(!hand_over_in(&tx, &board, &message).unwrap());
        tx.commit().unwrap();
        assert!(wait(board.leave(ticket)).is_none());
    }
}
