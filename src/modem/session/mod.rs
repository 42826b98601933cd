//! The modem session: everything the daemon decides about one open port, free of I/O.
//!
//! Shaped like quinn-proto's `Connection`: the driver feeds it what happened —
//! [`Session::handle_input`] (bytes from the port), [`Session::handle_timeout`] (a deadline
//! passed), [`Session::send`] / [`Session::prompt_answer`] (the pool), and
//! [`Session::inbound_answer`] (the inbound pipeline) — always with `now` passed in, and
//! pulls what to do: [`Session::poll_transmit`] (bytes to write), [`Session::poll_timeout`]
//! (when to call back) and [`Session::poll_event`] (a message arrived, a part needs its commit, a
//! part's outcome, the state changed, the port must be reopened).
//!
//! ```text
//!   probing ──answer──► starting ──SIM ready──► serving ──no answer──► probing
//!      │  (AT until       (identity, SIM,          (URCs, sends,          (not ready;
//!      │   answered)       storage, CNMI)           health, sweep, probe)  sends go back)
//!      └──silent for long──► resetting (AT+CFUN=1,1) ──► end: reopen the port
//! ```
//!
//! One command is in flight at a time, each with the deadline of its phase ([`Deadlines`]):
//! an ordinary command and the `> ` prompt take milliseconds on a live modem, so a few
//! seconds of silence mean it stopped answering; only the final result after the PDU (the
//! network's answer) and storage reads may take longer. A quiet line is probed with a bare
//! `AT`, so a modem that stops answering is noticed within seconds even when nothing is
//! being sent, and a modem that answers again is set up again at once over the same port.

mod deadlines;
mod direct;
mod serve;
mod silence;
mod startup;

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::at::command::{self, fixed, ESCAPE};
use crate::at::parser::{AtEvent, AtParser, FinalResult, Urc};
use crate::at::response::RegStatus;

use super::state::{ModemState, ModemStatus};
use super::vendor::Vendor;
pub use deadlines::{Deadlines, Timings};

/// Identifies one part handed to [`Session::send`]; chosen by the caller.
pub type SendId = u64;
/// Identifies one PDU handed out in [`Event::Inbound`].
pub type InboundId = u64;

/// What the session needs to know about its modem.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub name: String,
    pub pin: Option<crate::redact::Redacted<String>>,
    pub timings: Timings,
}

/// What outlives one session (one open port): the status shown to operators and whether
/// the configured PIN was already tried (a wrong PIN retried would lock the SIM).
#[derive(Debug, Clone)]
pub struct Carry {
    pub status: ModemStatus,
    pub pin_tried: bool,
}

/// Where an inbound PDU was found on the modem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundSource {
    /// Stored at `index` in `storage` (announced by `+CMTI`/`+CDSI`, or found by a sweep).
    Stored { storage: String, index: u32 },
    /// Routed directly to us (`+CMT`/`+CDS`).
    Direct,
}

/// How one part's send ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendOutcome {
    /// Accepted by the network, with its TP message reference.
    Sent { message_ref: Option<u8> },
    /// Definitely not sent (no prompt, error before the PDU was written, modem not ready,
    /// or the caller declined at the commit point): safe to try again or elsewhere.
    NotSent { reason: String },
    /// The network rejected the part (`+CMS ERROR`) after the PDU was written.
    Rejected { reason: String, permanent: bool },
    /// The PDU was written but no answer came (hung modem or unplug): it may have gone out,
    /// so it must not be sent again.
    Uncertain { reason: String },
}

/// What the session asks of the driver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Commit this PDU, then call [`Session::inbound_answer`]; the modem keeps it until then.
    Inbound {
        id: InboundId,
        pdu: String,
        source: InboundSource,
        /// When the session learnt of the message (for the inbound latency).
        since: Instant,
    },
    /// `AT+CMGS=` for this part is written: record the part as submitting, then call
    /// [`Session::prompt_answer`]. The PDU waits at the `> ` prompt for that answer, so the
    /// commit overlaps the prompt's round trip instead of following it; nothing is written
    /// after the prompt until the answer came.
    Submitting { id: SendId },
    /// How a part handed to [`Session::send`] ended.
    SendDone { id: SendId, outcome: SendOutcome },
    /// The modem's state changed (the status snapshot has the rest).
    StateChanged {
        state: ModemState,
        detail: Option<String>,
    },
    /// The session is over: close the port and open it again after `pause` (or the
    /// driver's back-off).
    End {
        reason: String,
        pause: Option<Duration>,
    },
}

/// Where the session is in its life (see the module diagram).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Sending `AT` until the modem answers. `since`: when the silence began.
    Probing {
        since: Instant,
    },
    Starting,
    /// The SIM needs a human; re-checked at each health tick.
    SimWait,
    Serving,
    Resetting,
    Ended,
}

/// Why a command was sent: decides what its answer means.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Purpose {
    Probe,
    /// The answer does not matter (set-up commands a modem may refuse).
    Ignore,
    Identity(usize),
    SimState,
    PinEntered,
    Imsi,
    Iccid,
    PduMode,
    StorageTest,
    StorageSet {
        remaining: Vec<String>,
    },
    /// `AT+CSMS=?`: is phase 2+ (service 1) offered?
    CsmsTest,
    /// `AT+CSMS=1`: accepted with `<mt>` 1 means `+CMT` can be acknowledged.
    CsmsSet,
    /// `AT+CSMS?`: the service in force (a firmware may boot with 1).
    Csms,
    /// `AT+CSMS=0` after acknowledgements failed.
    CsmsReset,
    CnmiTest,
    Cnmi {
        remaining: Vec<String>,
    },
    /// Back to store + `+CMTI` while serving (acknowledgements failed).
    Redirect {
        remaining: Vec<String>,
    },
    /// `AT+CNMI?`: a modem that missed an acknowledgement switches routing off.
    CnmiCheck,
    /// `AT+CNMA` in one of its forms; `next`: the forms left to try if refused.
    Ack {
        next: Vec<&'static str>,
    },
    Signal,
    Registration,
    Operator,
    OwnNumber,
    UseStorage(String),
    Read {
        storage: String,
        index: u32,
        since: Instant,
    },
    List {
        storage: String,
    },
    Reenable,
    Send(SendState),
    Reset,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct SendState {
    id: SendId,
    hex: String,
    stage: SendStage,
    /// The pool's answer when it came before the prompt.
    answer: Option<bool>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SendStage {
    /// `AT+CMGS=` written; waiting for `> `.
    Prompt,
    /// At the prompt; waiting for the pool to record the part.
    Commit,
    /// The PDU is written: from here a lost answer makes the part uncertain.
    Result,
    /// The pool declined: ESC written, draining the modem's answer.
    Cancel,
}

/// The command in flight.
#[derive(Debug)]
struct InFlight {
    command: String,
    purpose: Purpose,
    lines: Vec<String>,
    deadline: Instant,
}

/// One step of a script: most are commands; some are decided when reached.
#[derive(Debug)]
enum Job {
    Cmd(String, Purpose),
    /// Select `storage` for reading and deleting, unless it already is.
    UseStorage(String),
    /// Hand a PDU to the inbound pipeline; delete `delete` from the modem once committed.
    HandOver {
        pdu: String,
        source: InboundSource,
        since: Instant,
        delete: Option<u32>,
        ack: bool,
    },
    /// Nothing goes out before this much time has passed.
    Pause(Duration),
    Step(Step),
}

/// Script steps decided when reached (they depend on earlier answers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    VendorStartup,
    SimReady,
    ApplyRegistration,
    StartupDone,
}

/// A part waiting for its turn.
#[derive(Debug)]
struct QueuedSend {
    id: SendId,
    tpdu_len: usize,
    hex: String,
}

/// An inbound PDU handed out, waiting for the pipeline's answer.
#[derive(Debug)]
struct Awaiting {
    id: InboundId,
    deadline: Instant,
    delete: Option<u32>,
    ack: bool,
}

/// What this session learnt about the modem's set-up.
#[derive(Debug, Default)]
struct Setup {
    vendor: Option<Vendor>,
    identity: [Option<String>; 4],
    /// Storage selected for reading and deleting (`AT+CPMS` mem1).
    read_storage: Option<String>,
    /// Storages to sweep (MT covers SM and ME where offered; SR for reports).
    sweep_storages: Vec<String>,
    /// `+CMT`/`+CDS` must be acknowledged with `AT+CNMA` (`AT+CSMS` service 1).
    ack_direct: bool,
    /// `AT+CSMS=1` accepted with acknowledgements: `<mt>` 2 goes first in the CNMI chain.
    want_direct: bool,
    /// The accepted `AT+CNMI` routes new SMS as `+CMT` (`<mt>` 2 or 3).
    direct: bool,
    /// What `AT+CNMI=?` offered (for the fall-back chain while serving).
    cnmi_support: Option<crate::at::response::CnmiSupport>,
    /// The acknowledgement forms to try, the one that worked last first.
    acks: Vec<&'static str>,
    /// The accepted `AT+CNMI=` setting, sent again when the modem drops it.
    cnmi: Option<String>,
    registered: bool,
    /// Best registration seen by the current health poll.
    best_registration: Option<RegStatus>,
    /// `AT+CPIN?` answered busy this many times.
    sim_tries: u32,
}

/// The sans-IO session; see the [module documentation](self).
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    deadlines: Deadlines,
    status: ModemStatus,
    pin_tried: bool,
    parser: AtParser,
    transmit: Vec<u8>,
    events: VecDeque<Event>,
    phase: Phase,
    inflight: Option<InFlight>,
    awaiting: Option<Awaiting>,
    script: VecDeque<Job>,
    urcs: VecDeque<Urc>,
    sends: VecDeque<QueuedSend>,
    setup: Setup,
    /// A `> ` prompt nobody asked for: ESC goes out before anything else.
    escape_pending: bool,
    /// Last time the modem said anything.
    last_heard: Instant,
    /// Nothing is written before this (a pause in a script).
    resume_at: Option<Instant>,
    next_health: Instant,
    next_sweep: Instant,
    next_inbound: InboundId,
    /// The modem refused every `AT+CNMA` form: store + `+CMTI` for the rest of this
    /// session, set-ups after silence included (safer than losing acknowledgements).
    direct_refused: bool,
}

impl Session {
    /// A session on a freshly opened port: it starts by probing the modem with `AT`.
    pub fn new(config: SessionConfig, carry: Carry, now: Instant) -> Session {
        let deadlines = Deadlines::from_timings(&config.timings);
        let mut session = Session {
            deadlines,
            status: carry.status,
            pin_tried: carry.pin_tried,
            parser: AtParser::new(),
            transmit: Vec::new(),
            events: VecDeque::new(),
            phase: Phase::Probing { since: now },
            inflight: None,
            awaiting: None,
            script: VecDeque::new(),
            urcs: VecDeque::new(),
            sends: VecDeque::new(),
            setup: Setup::default(),
            // A prompt left open by a previous life of the daemon would swallow our commands.
            escape_pending: true,
            last_heard: now,
            resume_at: None,
            next_health: now,
            next_sweep: now,
            next_inbound: 0,
            direct_refused: false,
            config,
        };
        session.set_state(ModemState::Initialising, None);
        session.drive(now);
        session
    }

    /// What outlives this session, for the next one.
    pub fn carry(&self) -> Carry {
        Carry {
            status: self.status.clone(),
            pin_tried: self.pin_tried,
        }
    }

    /// The modem as operators see it.
    pub fn status(&self) -> &ModemStatus {
        &self.status
    }

    /// True while new SMS are pushed as `+CMT` and acknowledged after their commit
    /// (direct delivery); false on store + `+CMTI` + read.
    pub fn delivers_directly(&self) -> bool {
        self.setup.direct && !self.direct_refused
    }

    /// The deadlines in use.
    pub fn deadlines(&self) -> &Deadlines {
        &self.deadlines
    }

    /// True once the session asked for the port to be reopened.
    pub fn is_ended(&self) -> bool {
        self.phase == Phase::Ended
    }

    // ------------------------------------------------------------------------------------
    // Inputs.

    /// Bytes read from the port.
    pub fn handle_input(&mut self, bytes: &[u8], now: Instant) {
        if bytes.is_empty() || self.is_ended() {
            return;
        }
        self.last_heard = now;
        self.parser.push(bytes);
        while let Some(event) = self.parser.next_event() {
            self.on_at_event(event, now);
        }
        self.drive(now);
    }

    /// Call when [`Session::poll_timeout`]'s moment has come (early calls are harmless).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_ended() {
            return;
        }
        if self.resume_at.is_some_and(|at| at <= now) {
            self.resume_at = None;
        }
        if self.inflight.as_ref().is_some_and(|f| f.deadline <= now) {
            self.on_deadline(now);
        }
        if self.awaiting.as_ref().is_some_and(|a| a.deadline <= now) {
            tracing::warn!(modem = %self.config.name, "inbound commit not confirmed in time; the message stays on the modem");
            self.awaiting = None;
        }
        self.drive(now);
    }

    /// Queues one part. The outcome comes as [`Event::SendDone`]; a modem that is not ready
    /// answers at once, so the pool can try another line.
    pub fn send(&mut self, id: SendId, tpdu_len: usize, hex: String, now: Instant) {
        // Ready already while the start-up finishes (registration is polled before the
        // last steps): the part waits for its turn.
        let serving_soon = matches!(self.phase, Phase::Serving | Phase::Starting);
        if !self.status.state.can_send() || !serving_soon {
            let outcome = SendOutcome::NotSent {
                reason: self.not_ready_reason(),
            };
            self.events.push_back(Event::SendDone { id, outcome });
            return;
        }
        self.sends.push_back(QueuedSend { id, tpdu_len, hex });
        self.drive(now);
    }

    /// The pool's answer to [`Event::Submitting`]: `true` once the part is recorded as
    /// submitting (then the PDU is written at the prompt), `false` to cancel the prompt
    /// without sending. Kept until the prompt when it comes first.
    pub fn prompt_answer(&mut self, id: SendId, commit: bool, now: Instant) {
        let Some(flight) = self.inflight.as_mut() else {
            return;
        };
        let Purpose::Send(send) = &mut flight.purpose else {
            return;
        };
        if send.id != id {
            return;
        }
        match send.stage {
            SendStage::Prompt => send.answer = Some(commit),
            SendStage::Commit => self.answer_at_prompt(commit, now),
            SendStage::Result | SendStage::Cancel => {}
        }
    }

    /// At the prompt with the pool's answer: the PDU, or ESC.
    fn answer_at_prompt(&mut self, commit: bool, now: Instant) {
        let Some(flight) = self.inflight.as_mut() else {
            return;
        };
        let Purpose::Send(send) = &mut flight.purpose else {
            return;
        };
        if commit {
            send.stage = SendStage::Result;
            flight.deadline = now + self.deadlines.send_result;
            self.transmit
                .extend_from_slice(&command::pdu_payload(&send.hex));
        } else {
            send.stage = SendStage::Cancel;
            flight.deadline = now + Duration::from_millis(500);
            self.transmit.push(ESCAPE);
        }
    }

    /// The inbound pipeline's answer for an [`Event::Inbound`]: `true` once committed (or
    /// recognised as a duplicate); only then is the message deleted or acknowledged. A
    /// `false` (or no answer before the commit deadline) leaves a stored message on the
    /// modem for the sweep and a `+CMT` unacknowledged, so the network delivers it again.
    pub fn inbound_answer(&mut self, id: InboundId, committed: bool, now: Instant) {
        let Some(awaiting) = self.awaiting.take_if(|a| a.id == id) else {
            return;
        };
        if committed {
            self.status.received += 1;
            if awaiting.ack && self.setup.ack_direct {
                // Only now may the modem tell the network it has the message.
                let mut forms = self.setup.acks.clone();
                if forms.is_empty() {
                    forms.push(fixed::CNMA);
                }
                let first = forms.remove(0);
                self.script
                    .push_front(Job::Cmd(first.into(), Purpose::Ack { next: forms }));
            }
            if let Some(index) = awaiting.delete {
                self.script
                    .push_front(Job::Cmd(command::cmgd(index), Purpose::Ignore));
            }
        }
        self.drive(now);
    }

    /// Sweep all storages now (messages whose URC was lost).
    pub fn sweep(&mut self, now: Instant) {
        self.next_sweep = now;
        self.drive(now);
    }

    /// The port is gone: every part in hand gets its outcome (uncertain when its PDU was
    /// written), and the session ends.
    pub fn port_closed(&mut self, reason: &str) {
        if let Some(flight) = self.inflight.take() {
            if let Purpose::Send(send) = flight.purpose {
                let outcome = if send.stage == SendStage::Result {
                    SendOutcome::Uncertain {
                        reason: format!("port closed: {reason}"),
                    }
                } else {
                    SendOutcome::NotSent {
                        reason: format!("port closed: {reason}"),
                    }
                };
                self.finish_send(send.id, outcome);
            }
        }
        self.fail_queued_sends(&format!("port closed: {reason}"));
        self.phase = Phase::Ended;
    }

    // ------------------------------------------------------------------------------------
    // Outputs.

    /// Bytes to write to the port, if any.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.transmit.is_empty()).then(|| std::mem::take(&mut self.transmit))
    }

    /// The next thing for the driver to do.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Session::handle_timeout`] must be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.is_ended() {
            return None;
        }
        let mut earliest: Option<Instant> = None;
        let mut consider = |at: Instant| {
            earliest = Some(earliest.map_or(at, |e| e.min(at)));
        };
        if let Some(flight) = &self.inflight {
            consider(flight.deadline);
        }
        if let Some(awaiting) = &self.awaiting {
            consider(awaiting.deadline);
        }
        if let Some(at) = self.resume_at {
            consider(at);
        }
        if self.is_idle() {
            match self.phase {
                Phase::Serving => {
                    consider(self.next_health);
                    consider(self.next_sweep);
                    consider(self.last_heard + self.deadlines.quiet);
                }
                Phase::SimWait => consider(self.next_health),
                _ => {}
            }
        }
        earliest
    }

    // ------------------------------------------------------------------------------------
    // The machinery.

    fn is_idle(&self) -> bool {
        self.inflight.is_none() && self.awaiting.is_none()
    }

    fn on_at_event(&mut self, event: AtEvent, now: Instant) {
        match event {
            AtEvent::Response(line) => match self.inflight.as_mut() {
                Some(flight) => flight.lines.push(line),
                None => tracing::trace!(modem = %self.config.name, %line, "stray line"),
            },
            AtEvent::Final(result) => match self.inflight.take() {
                Some(flight) => self.on_answer(flight, result, now),
                None => tracing::trace!(modem = %self.config.name, ?result, "stray final result"),
            },
            AtEvent::Prompt => {
                let mut decided = None;
                match self.inflight.as_mut() {
                    Some(InFlight {
                        purpose: Purpose::Send(send),
                        deadline,
                        ..
                    }) if send.stage == SendStage::Prompt => {
                        send.stage = SendStage::Commit;
                        *deadline = now + self.deadlines.commit;
                        decided = send.answer;
                    }
                    // A modem at a prompt holds its URCs back: cancel it now.
                    _ => self.escape_pending = true,
                }
                // The commit finished during the prompt's round trip: go on at once.
                if let Some(commit) = decided {
                    self.answer_at_prompt(commit, now);
                }
            }
            AtEvent::Urc(urc) => self.urcs.push_back(urc),
        }
    }

    /// A command got its final result.
    fn on_answer(&mut self, flight: InFlight, result: FinalResult, now: Instant) {
        let InFlight {
            command,
            purpose,
            lines,
            ..
        } = flight;
        tracing::trace!(modem = %self.config.name, command = %redact(&command), ?result, "AT <");
        if let Phase::Probing { .. } = self.phase {
            // Any final result proves the modem is alive again.
            self.on_alive(now);
            return;
        }
        match purpose {
            Purpose::Send(send) => self.on_send_answer(send, &lines, &result),
            Purpose::Probe | Purpose::Ignore | Purpose::Reenable => {}
            Purpose::Reset => self.end_after_reset(),
            other => self.on_setup_answer(other, &command, &lines, &result, now),
        }
    }

    /// The modem answered after silence (or for the first time on this port).
    fn on_alive(&mut self, now: Instant) {
        if self.status.state == ModemState::Offline {
            tracing::info!(modem = %self.config.name, "modem answers again; setting it up");
        }
        self.phase = Phase::Starting;
        self.script.clear();
        self.setup = Setup::default();
        self.set_state(ModemState::Initialising, None);
        self.script.extend(startup::script());
        self.drive(now);
    }

    fn end(&mut self, reason: String, pause: Option<Duration>) {
        self.fail_queued_sends(&reason);
        self.phase = Phase::Ended;
        self.events.push_back(Event::End { reason, pause });
    }

    /// Issues whatever comes next while nothing is in flight.
    fn drive(&mut self, now: Instant) {
        loop {
            if self.is_ended() {
                return;
            }
            if std::mem::take(&mut self.escape_pending) {
                self.transmit.push(ESCAPE);
            }
            if !self.is_idle() || self.resume_at.is_some_and(|at| at > now) {
                return;
            }
            self.resume_at = None;
            if let Some(job) = self.script.pop_front() {
                self.run_job(job, now);
                continue;
            }
            match self.phase {
                Phase::Probing { .. } => {
                    self.issue(fixed::AT.into(), Purpose::Probe, now);
                }
                Phase::Serving => {
                    if let Some(urc) = self.urcs.pop_front() {
                        self.on_urc(urc, now);
                    } else if let Some(send) = self.sends.pop_front() {
                        self.start_send(send, now);
                    } else if now >= self.next_sweep {
                        self.next_sweep = now + self.config.timings.sweep_every;
                        self.script.extend(serve::sweep_script(&self.setup));
                    } else if now >= self.next_health {
                        self.next_health = now + self.config.timings.health_every;
                        self.script.extend(serve::health_script());
                        let watch = self.cnmi_watch_jobs();
                        self.script.extend(watch);
                    } else if now >= self.last_heard + self.deadlines.quiet {
                        self.issue(fixed::AT.into(), Purpose::Probe, now);
                    } else {
                        return;
                    }
                }
                Phase::SimWait => {
                    self.urcs.clear();
                    if now >= self.next_health {
                        self.next_health = now + self.config.timings.health_every;
                        self.issue(fixed::CPIN_QUERY.into(), Purpose::SimState, now);
                    } else {
                        return;
                    }
                }
                Phase::Starting | Phase::Resetting | Phase::Ended => return,
            }
        }
    }

    fn run_job(&mut self, job: Job, now: Instant) {
        match job {
            Job::Cmd(command, purpose) => self.issue(command, purpose, now),
            Job::UseStorage(storage) => {
                if self.setup.read_storage.as_deref() != Some(storage.as_str()) {
                    let command = command::cpms(&storage, None, None);
                    self.issue(command, Purpose::UseStorage(storage), now);
                }
            }
            Job::HandOver {
                pdu,
                source,
                since,
                delete,
                ack,
            } => {
                let id = self.next_inbound;
                self.next_inbound += 1;
                self.awaiting = Some(Awaiting {
                    id,
                    deadline: now + self.deadlines.commit,
                    delete,
                    ack,
                });
                self.events.push_back(Event::Inbound {
                    id,
                    pdu,
                    source,
                    since,
                });
            }
            Job::Pause(pause) => self.resume_at = Some(now + pause),
            Job::Step(step) => self.run_step(step, now),
        }
    }

    /// Writes one command and makes it the one in flight.
    fn issue(&mut self, command: String, purpose: Purpose, now: Instant) {
        tracing::debug!(modem = %self.config.name, command = %redact(&command), "AT >");
        self.parser.command_started(&command);
        self.transmit.extend_from_slice(&command::to_wire(&command));
        let deadline = now + self.deadline_of(&purpose);
        self.inflight = Some(InFlight {
            command,
            purpose,
            lines: Vec::new(),
            deadline,
        });
    }

    fn deadline_of(&self, purpose: &Purpose) -> Duration {
        match purpose {
            Purpose::Probe => self.deadlines.probe,
            Purpose::Read { .. } | Purpose::List { .. } => self.deadlines.read,
            Purpose::Send(_) => self.deadlines.prompt,
            Purpose::Reset => Duration::from_secs(2),
            _ => self.deadlines.command,
        }
    }

    fn set_state(&mut self, state: ModemState, detail: Option<String>) {
        if self.status.state == state && self.status.detail == detail {
            return;
        }
        self.status.state = state;
        self.status.detail = detail.clone();
        self.events.push_back(Event::StateChanged { state, detail });
    }

    fn not_ready_reason(&self) -> String {
        match &self.status.detail {
            Some(detail) => format!("modem is {}: {detail}", self.status.state.as_str()),
            None => format!("modem is {}", self.status.state.as_str()),
        }
    }

    fn finish_send(&mut self, id: SendId, outcome: SendOutcome) {
        match outcome {
            SendOutcome::Sent { .. } => self.status.sent_parts += 1,
            _ => self.status.send_failures += 1,
        }
        self.events.push_back(Event::SendDone { id, outcome });
    }

    fn fail_queued_sends(&mut self, reason: &str) {
        while let Some(send) = self.sends.pop_front() {
            self.events.push_back(Event::SendDone {
                id: send.id,
                outcome: SendOutcome::NotSent {
                    reason: reason.to_string(),
                },
            });
        }
    }

    fn start_send(&mut self, send: QueuedSend, now: Instant) {
        if !self.status.state.can_send() {
            let outcome = SendOutcome::NotSent {
                reason: self.not_ready_reason(),
            };
            self.events.push_back(Event::SendDone {
                id: send.id,
                outcome,
            });
            return;
        }
        let id = send.id;
        let state = SendState {
            id,
            hex: send.hex,
            stage: SendStage::Prompt,
            answer: None,
        };
        self.issue(command::cmgs(send.tpdu_len), Purpose::Send(state), now);
        self.events.push_back(Event::Submitting { id });
    }
}

/// Commands are shown in logs and errors; the PIN never is.
pub(crate) fn redact(command: &str) -> String {
    if command.starts_with("AT+CPIN=") {
        "AT+CPIN=****".to_string()
    } else {
        command.to_string()
    }
}
