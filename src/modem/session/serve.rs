//! Serving: URCs, reading and deleting inbound messages, sweeps, health polls, sends.

use std::time::Instant;

use crate::at::command::{self, fixed, ListFilter};
use crate::at::parser::{CmError, FinalResult, Urc};
use crate::at::response::{self, RegStatus};

use super::{Job, Purpose, SendStage, SendState, Session, Setup, Step};
use crate::modem::state::ModemState;
use crate::modem::{InboundSource, SendOutcome};

/// Signal, registration (three kinds: the best one counts), then the operator.
pub(super) fn health_script() -> Vec<Job> {
    let mut jobs = vec![Job::Cmd(fixed::CSQ.into(), Purpose::Signal)];
    for query in [fixed::CREG_QUERY, fixed::CGREG_QUERY, fixed::CEREG_QUERY] {
        jobs.push(Job::Cmd(query.into(), Purpose::Registration));
    }
    jobs.push(Job::Step(Step::ApplyRegistration));
    jobs
}

/// Lists every storage: messages that arrived while the daemon was down, or whose `+CMTI`
/// was lost. Each is handed over, and deleted once committed.
pub(super) fn sweep_script(setup: &Setup) -> Vec<Job> {
    let mut jobs = Vec::new();
    for storage in &setup.sweep_storages {
        jobs.push(Job::UseStorage(storage.clone()));
        jobs.push(Job::Cmd(
            command::cmgl(ListFilter::All),
            Purpose::List {
                storage: storage.clone(),
            },
        ));
    }
    if setup.sweep_storages.len() > 1 {
        if let Some(first) = setup.sweep_storages.first() {
            jobs.push(Job::UseStorage(first.clone()));
        }
    }
    jobs
}

impl Session {
    /// One URC, handled between commands.
    pub(super) fn on_urc(&mut self, urc: Urc, now: Instant) {
        match urc {
            Urc::Cmti { storage, index } | Urc::Cdsi { storage, index } => {
                self.script.push_back(Job::UseStorage(storage.clone()));
                self.script.push_back(Job::Cmd(
                    command::cmgr(index),
                    Purpose::Read {
                        storage,
                        index,
                        since: now,
                    },
                ));
            }
            Urc::Cmt { pdu, .. } | Urc::Cds { pdu, .. } => self.script.push_back(Job::HandOver {
                pdu,
                source: InboundSource::Direct,
                since: now,
                delete: None,
                ack: true,
            }),
            Urc::Registration(reg) => self.apply_registration(reg.status),
            Urc::HuaweiRssi(rssi) => self.status.set_signal(rssi),
            Urc::CmsError(error) => {
                // nRF91 drops its SMS client registration with +CMS ERROR: 524.
                tracing::warn!(modem = %self.config.name, ?error, "unsolicited +CMS ERROR; re-enabling indications");
                if let Some(cnmi) = self.setup.cnmi.clone() {
                    self.script.push_back(Job::Cmd(cnmi, Purpose::Reenable));
                }
            }
            other => tracing::trace!(modem = %self.config.name, urc = ?other, "URC ignored"),
        }
    }

    /// Answers to health and storage commands.
    pub(super) fn on_serving_answer(
        &mut self,
        purpose: Purpose,
        lines: &[String],
        result: &FinalResult,
        _now: Instant,
    ) {
        if !result.is_ok() {
            return;
        }
        match purpose {
            Purpose::Signal => {
                if let Some((rssi, _)) = lines.iter().find_map(|l| response::parse_csq(l)) {
                    self.status.set_signal(rssi);
                }
            }
            Purpose::Registration => {
                for line in lines {
                    if let Some(reg) = response::parse_registration(line, true) {
                        let best = &mut self.setup.best_registration;
                        if best.map(|b| !b.is_registered()).unwrap_or(true) {
                            *best = Some(reg.status);
                        }
                    }
                }
            }
            Purpose::Operator => {
                if let Some(op) = lines.iter().find_map(|l| response::parse_cops(l)) {
                    self.status.operator = Some(op);
                }
            }
            Purpose::OwnNumber => {
                if let Some(number) = response::parse_cnum(lines) {
                    self.status.number = Some(number);
                }
            }
            Purpose::UseStorage(storage) => self.setup.read_storage = Some(storage),
            Purpose::Read {
                storage,
                index,
                since,
            } => {
                let Some(stored) = response::parse_cmgr(lines) else {
                    return;
                };
                if stored.stat.is_some_and(|s| s >= 2) {
                    return; // an outgoing message kept on the SIM: not ours to take
                }
                self.push_front(vec![Job::HandOver {
                    pdu: stored.pdu,
                    source: InboundSource::Stored { storage, index },
                    since,
                    delete: Some(index),
                    ack: false,
                }]);
            }
            Purpose::List { storage } => {
                let jobs = response::parse_cmgl(lines)
                    .into_iter()
                    .filter(|stored| stored.stat.is_none_or(|s| s < 2))
                    .filter_map(|stored| {
                        let index = stored.index?;
                        Some(Job::HandOver {
                            pdu: stored.pdu,
                            source: InboundSource::Stored {
                                storage: storage.clone(),
                                index,
                            },
                            since: _now,
                            delete: Some(index),
                            ack: false,
                        })
                    })
                    .collect();
                self.push_front(jobs);
            }
            _ => {}
        }
    }

    /// The final result of an `AT+CMGS`, whichever stage it came in.
    pub(super) fn on_send_answer(
        &mut self,
        send: SendState,
        lines: &[String],
        result: &FinalResult,
    ) {
        let outcome = match (send.stage, result) {
            (SendStage::Cancel, _) => SendOutcome::NotSent {
                reason: "declined at the commit point".into(),
            },
            (SendStage::Result, FinalResult::Ok) => SendOutcome::Sent {
                message_ref: lines.iter().find_map(|l| response::parse_cmgs(l)),
            },
            (SendStage::Result, FinalResult::CmsError(e)) => SendOutcome::Rejected {
                reason: format!("+CMS ERROR: {}", describe(e)),
                permanent: is_permanent_cms(e),
            },
            (_, other) => SendOutcome::NotSent {
                reason: format!("{other:?}"),
            },
        };
        self.finish_send(send.id, outcome);
    }

    pub(super) fn apply_registration(&mut self, status: RegStatus) {
        self.setup.registered = status.is_registered();
        self.status.registration = Some(reg_words(status).to_string());
        if self.setup.registered {
            self.set_state(ModemState::Ready, None);
        } else {
            self.set_state(
                ModemState::NotRegistered,
                Some(format!("network registration: {}", reg_words(status))),
            );
            self.fail_queued_sends("modem lost network registration");
        }
    }
}

fn describe(e: &CmError) -> String {
    match e {
        CmError::Code(c) => c.to_string(),
        CmError::Text(t) => t.clone(),
    }
}

/// 3GPP TS 27.005 §3.2.5 / TS 24.011: codes that will fail again on any modem for this message
/// (bad destination, barred, invalid PDU), as opposed to network or modem trouble.
pub fn is_permanent_cms(e: &CmError) -> bool {
    match e {
        CmError::Code(code) => matches!(code, 1 | 8 | 10 | 21 | 29 | 50 | 96 | 111 | 304 | 305),
        CmError::Text(t) => {
            let t = t.to_ascii_lowercase();
            t.contains("unassigned") || t.contains("barred") || t.contains("invalid pdu")
        }
    }
}

/// Registration status in the words shown to operators.
fn reg_words(status: RegStatus) -> &'static str {
    use RegStatus::*;
    match status {
        NotRegistered => "not registered",
        Home | HomeSmsOnly | HomeCsfbNotPreferred => "home",
        Searching => "searching",
        Denied => "denied",
        Unknown => "unknown",
        Roaming | RoamingSmsOnly | RoamingCsfbNotPreferred => "roaming",
        EmergencyOnly => "emergency only",
    }
}
