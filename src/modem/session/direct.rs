//! Direct delivery: new SMS pushed as `+CMT` with their PDU and acknowledged with
//! `AT+CNMA` once committed, instead of stored, announced with `+CMTI`, read with
//! `AT+CMGR` and deleted with `AT+CMGD` (one round trip less per message).
//!
//! Only where the modem acknowledges: `AT+CSMS=?` offers service 1 and `AT+CSMS=1` answers
//! `+CSMS: 1,…` (`<mt>` 1: acknowledgements supported). Then the network delivers again
//! whatever is not acknowledged, so the rule "deleted only after committed" holds as
//! "acknowledged only after committed": a crash or a failed commit between the push and
//! the acknowledgement loses nothing, and the store recognises the second delivery by its
//! (modem, PDU) key. Anything refused on the way keeps the modem on `<mt>` 1: CSMS=1,
//! every `<mt>` 2 setting, or every acknowledgement form (then the modem is put back on
//! `<mt>` 1 for the rest of the session). A modem that missed an acknowledgement may switch
//! routing off (27.005 §3.4.1: `<mt>` and `<ds>` to 0) and keep the message in storage, so
//! the health poll checks `AT+CNMI?`, sets it again and sweeps.

use std::time::Instant;

use crate::at::command::fixed;
use crate::at::parser::{CmError, FinalResult};
use crate::at::response::{self, Delivery};

use super::{Job, Purpose, Session};
use crate::modem::vendor::Vendor;

/// `+CMS ERROR: 340`: no acknowledgement expected (the modem's own timer ran out first).
const NO_ACK_EXPECTED: u16 = 340;

impl Session {
    /// After the storage is chosen: learn the message service, then set up indications.
    pub(super) fn start_message_service(&mut self) {
        let first = if self.vendor().direct_delivery().allowed && !self.direct_refused {
            Job::Cmd(fixed::CSMS_TEST.into(), Purpose::CsmsTest)
        } else {
            Job::Cmd(fixed::CSMS_QUERY.into(), Purpose::Csms)
        };
        self.push_front(vec![
            first,
            Job::Cmd(fixed::CNMI_TEST.into(), Purpose::CnmiTest),
        ]);
    }

    fn vendor(&self) -> Vendor {
        self.setup.vendor.unwrap_or(Vendor::Generic)
    }

    /// How new SMS should arrive, from what the message service allowed.
    pub(super) fn delivery(&self) -> Delivery {
        if self.setup.want_direct && self.setup.ack_direct && !self.direct_refused {
            Delivery::Direct
        } else {
            Delivery::Stored
        }
    }

    /// Answers to the commands of this module; `None` when `purpose` is someone else's.
    pub(super) fn on_direct_answer(
        &mut self,
        purpose: Purpose,
        command: &str,
        lines: &[String],
        result: &FinalResult,
        now: Instant,
    ) -> Option<Purpose> {
        let ok = result.is_ok();
        match purpose {
            Purpose::CsmsTest => {
                let offers_phase2plus = ok
                    && lines
                        .iter()
                        .find_map(|l| response::parse_csms_test(l))
                        .is_some_and(|services| services.contains(&1));
                let next = if offers_phase2plus {
                    Job::Cmd(fixed::CSMS_PHASE2PLUS.into(), Purpose::CsmsSet)
                } else {
                    Job::Cmd(fixed::CSMS_QUERY.into(), Purpose::Csms)
                };
                self.push_front(vec![next]);
            }
            Purpose::CsmsSet => {
                let acks = ok
                    && lines
                        .iter()
                        .find_map(|l| response::parse_csms(l, false))
                        .is_some_and(|state| state.mt);
                if acks {
                    self.setup.ack_direct = true;
                    self.setup.want_direct = true;
                } else {
                    tracing::debug!(modem = %self.config.name, ?result, "AT+CSMS=1 refused or without acknowledgements; keeping +CMTI");
                    let mut jobs = Vec::new();
                    if ok {
                        jobs.push(Job::Cmd(fixed::CSMS_PHASE2.into(), Purpose::Ignore));
                    }
                    jobs.push(Job::Cmd(fixed::CSMS_QUERY.into(), Purpose::Csms));
                    self.push_front(jobs);
                }
            }
            Purpose::Csms => {
                // A firmware may run service 1 out of the box: its +CMT/+CDS need acks.
                self.setup.ack_direct = self.vendor().direct_delivery().always_acks
                    || lines
                        .iter()
                        .find_map(|l| response::parse_csms(l, true))
                        .and_then(|state| state.service)
                        == Some(1);
            }
            Purpose::CsmsReset => {
                if ok {
                    self.setup.ack_direct = false;
                }
            }
            Purpose::Ack { mut next } => self.on_ack_answer(command, &mut next, result, now),
            Purpose::Redirect { remaining } => {
                if ok {
                    tracing::info!(modem = %self.config.name, cnmi = %command, "new messages are stored and announced with +CMTI again");
                    self.setup.cnmi = Some(command.to_string());
                    self.setup.direct = false;
                    // What arrived while routing changed is read now.
                    self.next_sweep = now;
                } else {
                    self.redirect(remaining);
                }
            }
            Purpose::CnmiCheck => {
                let current = lines.iter().find_map(|l| response::parse_cnmi(l));
                let wanted = self.setup.cnmi.clone();
                if let (true, Some(current), Some(wanted)) = (ok, current, wanted) {
                    let wanted_mt = mt_of(&wanted);
                    if wanted_mt.is_some_and(|mt| mt != current.mt) {
                        tracing::warn!(modem = %self.config.name, mt = current.mt, "the modem switched new-message routing off (a missed acknowledgement?); setting it again");
                        self.push_front(vec![Job::Cmd(wanted, Purpose::Reenable)]);
                        // It stored what it could not route: read it now.
                        self.next_sweep = now;
                    }
                }
            }
            other => return Some(other),
        }
        None
    }

    fn on_ack_answer(
        &mut self,
        command: &str,
        next: &mut Vec<&'static str>,
        result: &FinalResult,
        now: Instant,
    ) {
        match result {
            FinalResult::Ok => {
                // Remember the form that works: it goes first from now on.
                if let Some(at) = self.setup.acks.iter().position(|a| *a == command) {
                    let form = self.setup.acks.remove(at);
                    self.setup.acks.insert(0, form);
                }
            }
            FinalResult::CmsError(CmError::Code(NO_ACK_EXPECTED)) => {
                // Too late: the modem's own timer ran out and it kept or refused the
                // message; the network delivers it again and the store knows it.
                tracing::warn!(modem = %self.config.name, "acknowledgement came too late for the modem");
            }
            refused if !next.is_empty() => {
                let form = next.remove(0);
                tracing::debug!(modem = %self.config.name, %command, ?refused, "acknowledgement refused; trying {form}");
                self.push_front(vec![Job::Cmd(
                    form.into(),
                    Purpose::Ack {
                        next: std::mem::take(next),
                    },
                )]);
            }
            refused if !self.vendor().direct_delivery().falls_back => {
                tracing::warn!(modem = %self.config.name, ?refused, "acknowledgement refused; this modem has no stored path to fall back to");
            }
            refused => {
                tracing::warn!(modem = %self.config.name, ?refused, "the modem refuses AT+CNMA; new messages are stored and announced with +CMTI for the rest of this session");
                self.direct_refused = true;
                let support = self.setup.cnmi_support.clone().unwrap_or_default();
                let chain = response::choose_cnmi_for(&support, Delivery::Stored);
                let mut jobs = vec![Job::Cmd(fixed::CSMS_PHASE2.into(), Purpose::CsmsReset)];
                if let Some((first, rest)) = chain.split_first() {
                    jobs.push(Job::Cmd(
                        first.clone(),
                        Purpose::Redirect {
                            remaining: rest.to_vec(),
                        },
                    ));
                }
                self.push_front(jobs);
                self.next_sweep = now;
            }
        }
    }

    fn redirect(&mut self, mut chain: Vec<String>) {
        if chain.is_empty() {
            tracing::warn!(modem = %self.config.name, "no AT+CNMI setting accepted; relying on the periodic sweep");
            self.setup.cnmi = None;
            self.setup.direct = false;
            return;
        }
        let first = chain.remove(0);
        self.push_front(vec![Job::Cmd(
            first,
            Purpose::Redirect { remaining: chain },
        )]);
    }

    /// Health: a modem whose routing may be switched off by a missed acknowledgement.
    pub(super) fn cnmi_watch_jobs(&self) -> Vec<Job> {
        if self.setup.cnmi.is_some() && (self.setup.ack_direct || self.direct_refused) {
            vec![Job::Cmd(fixed::CNMI_QUERY.into(), Purpose::CnmiCheck)]
        } else {
            Vec::new()
        }
    }
}

/// The `<mt>` of an `AT+CNMI=<mode>,<mt>,…` command.
pub(super) fn mt_of(command: &str) -> Option<u8> {
    command
        .strip_prefix("AT+CNMI=")?
        .split(',')
        .nth(1)?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::mt_of;

    #[test]
    fn reads_mt_from_the_command() {
        assert_eq!(mt_of("AT+CNMI=2,2,0,2,0"), Some(2));
        assert_eq!(mt_of("AT+CNMI=2,1"), Some(1));
        assert_eq!(mt_of("AT+CNMI?"), None);
    }
}
