//! Start-up: identity, vendor set-up, SIM and PIN, PDU mode, storage, new-message
//! indications, registration URCs; then the first health poll and sweep.

use std::time::{Duration, Instant};

use crate::at::command::{self, fixed};
use crate::at::parser::FinalResult;
use crate::at::response::{self, SimState};

use super::{serve, Job, Phase, Purpose, Session, Step};
use crate::modem::state::ModemState;
use crate::modem::vendor::{self, Vendor};

/// How many times a busy SIM is asked again (a second apart) before giving up.
const SIM_BUSY_TRIES: u32 = 10;
const PARKED_PIN_REJECTED: &str =
    "the configured PIN was rejected; not retrying to avoid a PUK lock";

/// The first commands once the modem answers.
pub(super) fn script() -> Vec<Job> {
    vec![
        Job::Cmd(fixed::ECHO_OFF.into(), Purpose::Ignore),
        // Numeric errors (CMEE=1) are unambiguous across vendors and languages.
        Job::Cmd(fixed::CMEE_NUMERIC.into(), Purpose::Ignore),
        Job::Cmd(fixed::CGMI.into(), Purpose::Identity(0)),
        Job::Cmd(fixed::CGMM.into(), Purpose::Identity(1)),
        Job::Cmd(fixed::CGMR.into(), Purpose::Identity(2)),
        Job::Cmd(fixed::CGSN.into(), Purpose::Identity(3)),
        Job::Step(Step::VendorStartup),
        Job::Cmd(fixed::CPIN_QUERY.into(), Purpose::SimState),
    ]
}

impl Session {
    /// Answers to set-up, health and storage commands.
    pub(super) fn on_setup_answer(
        &mut self,
        purpose: Purpose,
        command: &str,
        lines: &[String],
        result: &FinalResult,
        now: Instant,
    ) {
        let Some(purpose) = self.on_direct_answer(purpose, command, lines, result, now) else {
            return;
        };
        let ok = result.is_ok();
        match purpose {
            Purpose::Identity(slot) => {
                if ok {
                    self.setup.identity[slot] = response::parse_identity(lines);
                }
            }
            Purpose::SimState => self.on_sim_state(lines, result, now),
            Purpose::PinEntered => {
                if ok {
                    // The SIM takes a moment after the PIN; ask again to confirm READY.
                    self.push_front(vec![
                        Job::Pause(Duration::from_millis(200)),
                        Job::Cmd(fixed::CPIN_QUERY.into(), Purpose::SimState),
                    ]);
                } else {
                    tracing::error!(modem = %self.config.name, "SIM rejected the configured PIN");
                    self.park(ModemState::PinRequired, PARKED_PIN_REJECTED, now);
                }
            }
            Purpose::Imsi => {
                if ok {
                    self.status.imsi = response::parse_identity(lines);
                }
            }
            Purpose::Iccid => {
                if ok {
                    self.status.iccid = lines.iter().find_map(|l| vendor::parse_iccid(l));
                }
            }
            Purpose::PduMode => {
                if ok {
                    self.push_front(vec![Job::Cmd(
                        fixed::CPMS_TEST.into(),
                        Purpose::StorageTest,
                    )]);
                } else {
                    self.set_state(
                        ModemState::Offline,
                        Some("modem refuses PDU mode (AT+CMGF=0)".into()),
                    );
                    self.end("modem refuses PDU mode (AT+CMGF=0)".into(), None);
                }
            }
            Purpose::StorageTest => {
                let support = lines
                    .iter()
                    .find_map(|l| response::parse_cpms_test(l))
                    .filter(|_| ok)
                    .unwrap_or_default();
                self.setup.sweep_storages = response::sweep_storages(&support);
                let mut chain = response::choose_cpms(&support);
                // Some modems take mem1 only.
                if let Some(first) = chain.first().and_then(|c| storage_of(c)) {
                    chain.push(command::cpms(&first, None, None));
                }
                self.try_storage(chain);
            }
            Purpose::StorageSet { remaining } => {
                if ok {
                    self.setup.read_storage = storage_of(command);
                    self.after_storage();
                } else {
                    self.try_storage(remaining);
                }
            }
            Purpose::CnmiTest => {
                let support = lines
                    .iter()
                    .find_map(|l| response::parse_cnmi_test(l))
                    .filter(|_| ok);
                self.setup.cnmi_support = support.clone();
                let chain = cnmi_chain(support, self.delivery());
                self.try_cnmi(chain);
            }
            Purpose::Cnmi { remaining } => {
                if ok {
                    self.setup.direct = super::direct::mt_of(command).is_some_and(|mt| mt == 2);
                    if self.setup.direct {
                        tracing::debug!(modem = %self.config.name, cnmi = %command, "new messages pushed as +CMT, acknowledged after the commit");
                    } else {
                        tracing::debug!(modem = %self.config.name, cnmi = %command, "new-message indications on");
                    }
                    self.setup.cnmi = Some(command.to_string());
                    self.after_cnmi();
                } else {
                    self.try_cnmi(remaining);
                }
            }
            other => self.on_serving_answer(other, lines, result, now),
        }
    }

    pub(super) fn run_step(&mut self, step: Step, now: Instant) {
        match step {
            Step::VendorStartup => {
                let [manufacturer, model, revision, imei] =
                    std::mem::take(&mut self.setup.identity);
                let vendor = Vendor::from_manufacturer(manufacturer.as_deref().unwrap_or(""));
                self.setup.vendor = Some(vendor);
                self.setup.acks = vendor.direct_delivery().acks.to_vec();
                self.status.manufacturer = manufacturer;
                self.status.model = model;
                self.status.revision = revision;
                self.status.imei = imei;
                let extra = vendor
                    .startup_commands()
                    .iter()
                    .map(|c| Job::Cmd(c.to_string(), Purpose::Ignore))
                    .collect();
                self.push_front(extra);
            }
            Step::SimReady => {
                let vendor = self.setup.vendor.unwrap_or(Vendor::Generic);
                self.push_front(vec![
                    Job::Cmd(fixed::CIMI.into(), Purpose::Imsi),
                    Job::Cmd(vendor.iccid_command().into(), Purpose::Iccid),
                    Job::Cmd(fixed::CMGF_PDU.into(), Purpose::PduMode),
                ]);
            }
            Step::ApplyRegistration => {
                if let Some(status) = self.setup.best_registration.take() {
                    self.apply_registration(status);
                }
                if self.setup.registered {
                    self.push_front(vec![Job::Cmd(fixed::COPS_QUERY.into(), Purpose::Operator)]);
                }
            }
            Step::StartupDone => {
                tracing::info!(modem = %self.config.name, state = self.status.state.as_str(), "modem initialised");
                self.phase = Phase::Serving;
                self.next_health = now + self.config.timings.health_every;
                // Messages that arrived while nobody listened are read at once.
                self.next_sweep = now;
            }
        }
    }

    fn on_sim_state(&mut self, lines: &[String], result: &FinalResult, now: Instant) {
        let state = match result {
            FinalResult::Ok => lines.iter().find_map(|l| response::parse_cpin(l)),
            other => response::sim_state_from_final(other),
        };
        if self.phase == Phase::SimWait {
            if state == Some(SimState::Ready) {
                tracing::info!(modem = %self.config.name, "SIM became ready; setting the modem up again");
                self.on_alive(now);
            }
            return;
        }
        match state {
            Some(SimState::Ready) => self.push_front(vec![Job::Step(Step::SimReady)]),
            Some(SimState::PinRequired) => self.enter_pin(now),
            Some(SimState::PukRequired) => {
                self.park(ModemState::PukRequired, "SIM is PUK-locked", now)
            }
            Some(SimState::NotInserted) => self.park(ModemState::NoSim, "no SIM inserted", now),
            Some(SimState::Busy) | None => {
                // SIM busy right after boot is common: give it some seconds.
                self.setup.sim_tries += 1;
                if self.setup.sim_tries >= SIM_BUSY_TRIES {
                    self.park(ModemState::NoSim, "SIM stayed busy", now);
                } else {
                    self.push_front(vec![
                        Job::Pause(Duration::from_secs(1)),
                        Job::Cmd(fixed::CPIN_QUERY.into(), Purpose::SimState),
                    ]);
                }
            }
            Some(other) => {
                let detail = format!("SIM not usable: {other:?}");
                self.park(ModemState::NoSim, &detail, now);
            }
        }
    }

    fn enter_pin(&mut self, now: Instant) {
        let Some(pin) = self.config.pin.clone() else {
            return self.park(
                ModemState::PinRequired,
                "SIM asks for a PIN; set pin in the modem's config",
                now,
            );
        };
        if self.pin_tried {
            return self.park(ModemState::PinRequired, PARKED_PIN_REJECTED, now);
        }
        self.pin_tried = true;
        match command::cpin(&pin) {
            Ok(command) => self.push_front(vec![Job::Cmd(command, Purpose::PinEntered)]),
            Err(_) => self.park(
                ModemState::PinRequired,
                "the configured PIN is not 4 to 8 digits",
                now,
            ),
        }
    }

    /// The SIM needs a human: not ready; the SIM is checked again at each health tick.
    fn park(&mut self, state: ModemState, detail: &str, now: Instant) {
        self.set_state(state, Some(detail.to_string()));
        self.fail_queued_sends(detail);
        self.script.clear();
        self.phase = Phase::SimWait;
        self.next_health = now + self.config.timings.health_every;
    }

    fn try_storage(&mut self, mut chain: Vec<String>) {
        if chain.is_empty() {
            tracing::warn!(modem = %self.config.name, "no AT+CPMS setting accepted; using the modem's default storage");
            return self.after_storage();
        }
        let first = chain.remove(0);
        self.push_front(vec![Job::Cmd(
            first,
            Purpose::StorageSet { remaining: chain },
        )]);
    }

    fn after_storage(&mut self) {
        self.start_message_service();
    }

    fn try_cnmi(&mut self, mut chain: Vec<String>) {
        if chain.is_empty() {
            tracing::warn!(modem = %self.config.name, "no AT+CNMI setting accepted; relying on the periodic sweep");
            return self.after_cnmi();
        }
        let first = chain.remove(0);
        self.push_front(vec![Job::Cmd(first, Purpose::Cnmi { remaining: chain })]);
    }

    fn after_cnmi(&mut self) {
        let mut jobs: Vec<Job> = [fixed::CREG_URC_ON, fixed::CGREG_URC_ON, fixed::CEREG_URC_ON]
            .iter()
            // Not every modem has every registration kind; an ERROR is fine.
            .map(|c| Job::Cmd(c.to_string(), Purpose::Ignore))
            .collect();
        jobs.extend(serve::health_script());
        if self.status.number.is_none() {
            jobs.push(Job::Cmd(fixed::CNUM.into(), Purpose::OwnNumber));
        }
        jobs.push(Job::Step(Step::StartupDone));
        self.push_front(jobs);
    }

    /// Puts `jobs` at the head of the script, in order.
    pub(super) fn push_front(&mut self, jobs: Vec<Job>) {
        for job in jobs.into_iter().rev() {
            self.script.push_front(job);
        }
    }
}

/// The mem1 storage of an `AT+CPMS="SM",…` command.
fn storage_of(command: &str) -> Option<String> {
    command
        .split('"')
        .nth(1)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

/// The `AT+CNMI` chain: what `AT+CNMI=?` allows (`<mt>` 2 first for direct delivery),
/// then widely accepted settings.
fn cnmi_chain(support: Option<response::CnmiSupport>, delivery: response::Delivery) -> Vec<String> {
    let mut chain = support
        .map(|s| crate::at::response::choose_cnmi_for(&s, delivery))
        .unwrap_or_default();
    for fallback in crate::at::response::choose_cnmi(&response::CnmiSupport::default()) {
        if !chain.contains(&fallback) {
            chain.push(fallback);
        }
    }
    chain
}
