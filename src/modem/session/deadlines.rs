//! How long the session waits for each phase of a command, and how often it polls.

use std::time::Duration;

/// Timings of a modem's session. Defaults suit real modems; tests shorten them.
#[derive(Debug, Clone)]
pub struct Timings {
    /// Deadline of an ordinary command and of the `> ` prompt (a live modem answers in
    /// milliseconds); reads get three times this, the quiet-line probe at most 3 s.
    pub command: Duration,
    /// Deadline of the final `+CMGS` result after the PDU (networks can take tens of seconds).
    pub send: Duration,
    /// How often signal, registration and operator are polled (and a parked SIM checked).
    /// A line quiet for this long (at most 4 s) is probed with `AT`; a modem silent for six
    /// times this long is reset.
    pub health_every: Duration,
    /// How often all storages are swept for messages whose URC was lost.
    pub sweep_every: Duration,
    /// How long storage may take to confirm an inbound commit.
    pub commit: Duration,
    /// First delay before reopening a port; doubles up to `reopen_max`.
    pub reopen_initial: Duration,
    pub reopen_max: Duration,
    /// How long a reset modem is left alone before reopening.
    pub reset_pause: Duration,
}

impl Default for Timings {
    fn default() -> Self {
        Timings {
            command: Duration::from_secs(5),
            send: Duration::from_secs(90),
            health_every: Duration::from_secs(30),
            sweep_every: Duration::from_secs(120),
            commit: Duration::from_secs(15),
            reopen_initial: Duration::from_millis(500),
            reopen_max: Duration::from_secs(30),
            reset_pause: Duration::from_secs(10),
        }
    }
}

/// Deadlines per phase, derived from [`Timings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadlines {
    /// Echo and final result of an ordinary command.
    pub command: Duration,
    /// The `> ` prompt after `AT+CMGS=`.
    pub prompt: Duration,
    /// The final `+CMGS` result after the PDU: the network's answer.
    pub send_result: Duration,
    /// `AT+CMGR`/`AT+CMGL` (a full storage listing takes a while on slow SIMs).
    pub read: Duration,
    /// The light `AT` probe.
    pub probe: Duration,
    /// A line quiet this long is probed.
    pub quiet: Duration,
    /// How long the pool and the inbound pipeline may take to answer.
    pub commit: Duration,
    /// Silent this long: reset the modem (`AT+CFUN=1,1`).
    pub reset_after: Duration,
}

impl Deadlines {
    pub fn from_timings(t: &Timings) -> Deadlines {
        Deadlines {
            command: t.command,
            prompt: t.command,
            send_result: t.send,
            read: t.command * 3,
            probe: t.command.min(Duration::from_secs(3)),
            quiet: t.health_every.min(Duration::from_secs(4)),
            commit: t.commit,
            reset_after: t.health_every * 6,
        }
    }
}
