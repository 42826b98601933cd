//! Deadlines: what a command that got no answer in time means. A lost answer makes the modem
//! not ready at once (the pool sends elsewhere) and starts the probing; a part whose PDU was
//! written becomes uncertain; a long silence ends in a reset.

use std::time::{Duration, Instant};

use crate::at::command::{fixed, ESCAPE};

use super::{redact, InFlight, Phase, Purpose, SendStage, Session};
use crate::modem::state::ModemState;
use crate::modem::SendOutcome;

impl Session {
    /// A deadline passed with a command in flight.
    pub(super) fn on_deadline(&mut self, now: Instant) {
        let Some(flight) = self.inflight.take() else {
            return;
        };
        let cancelling =
            matches!(&flight.purpose, Purpose::Send(send) if send.stage == SendStage::Commit);
        if !cancelling {
            // A late answer is then read as stray lines, never as the next command's.
            self.parser.command_finished();
        }
        let waited = match &flight.purpose {
            Purpose::Send(send) => match send.stage {
                SendStage::Commit => {
                    // The pool did not record the part in time: cancel, send nothing.
                    let mut send = send.clone();
                    send.stage = SendStage::Cancel;
                    self.transmit.push(ESCAPE);
                    self.inflight = Some(InFlight {
                        deadline: now + Duration::from_millis(500),
                        purpose: Purpose::Send(send),
                        ..flight
                    });
                    return;
                }
                SendStage::Cancel => {
                    self.finish_send(
                        send.id,
                        SendOutcome::NotSent {
                            reason: "declined at the commit point".into(),
                        },
                    );
                    return;
                }
                SendStage::Prompt => {
                    // Cancel a prompt we may have missed, so it does not eat the next command.
                    self.transmit.push(ESCAPE);
                    self.finish_send(
                        send.id,
                        SendOutcome::NotSent {
                            reason: format!("no > prompt within {:?}", self.deadlines.prompt),
                        },
                    );
                    format!("no > prompt within {:?}", self.deadlines.prompt)
                }
                SendStage::Result => {
                    let reason = format!(
                        "no answer to {} within {:?} after the PDU",
                        flight.command, self.deadlines.send_result
                    );
                    self.finish_send(
                        send.id,
                        SendOutcome::Uncertain {
                            reason: reason.clone(),
                        },
                    );
                    reason
                }
            },
            Purpose::Reset => {
                self.end_after_reset();
                return;
            }
            _ => format!(
                "no answer to {} within {:?}",
                redact(&flight.command),
                self.deadline_of(&flight.purpose)
            ),
        };
        match self.phase {
            Phase::Probing { since } => {
                if self.status.state != ModemState::Offline {
                    self.set_state(
                        ModemState::Offline,
                        Some(format!("not answering: {waited}")),
                    );
                }
                if now.saturating_duration_since(since) >= self.deadlines.reset_after {
                    self.reset(now, since);
                }
            }
            _ => self.on_silence(waited, now),
        }
    }

    /// The modem stopped answering: not ready at once (the pool sends elsewhere), and
    /// probed until it answers.
    fn on_silence(&mut self, reason: String, now: Instant) {
        tracing::warn!(modem = %self.config.name, %reason, "modem not answering");
        self.set_state(
            ModemState::Offline,
            Some(format!("not answering: {reason}")),
        );
        self.fail_queued_sends(&format!("modem not answering: {reason}"));
        self.script.clear();
        self.resume_at = None;
        self.escape_pending = true;
        self.phase = Phase::Probing { since: now };
    }

    /// Silent for too long: reset the modem; the port goes away and is reopened.
    fn reset(&mut self, now: Instant, since: Instant) {
        let silent = now.saturating_duration_since(since);
        tracing::warn!(modem = %self.config.name, ?silent, "modem silent; resetting it with AT+CFUN=1,1");
        self.phase = Phase::Resetting;
        self.escape_pending = true;
        self.issue(fixed::CFUN_RESET.into(), Purpose::Reset, now);
    }

    pub(super) fn end_after_reset(&mut self) {
        let reason = "reset with AT+CFUN=1,1 after a long silence".to_string();
        self.set_state(ModemState::Offline, Some(reason.clone()));
        self.end(reason, Some(self.config.timings.reset_pause));
    }
}
