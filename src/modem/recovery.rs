//! Fault policy: how long to wait before reopening a port, and what to do when a modem stops
//! answering. Pure, so the policy is tested without clocks or ports.

use std::time::Duration;

/// Exponential back-off for reopening a port: 0.5 s doubling to a cap, reset after a good run.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Self {
        Backoff {
            initial,
            max,
            next: initial,
        }
    }

    /// The delay before the next attempt; each call doubles the following one up to the cap.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = (self.next * 2).min(self.max);
        delay
    }

    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(Duration::from_millis(500), Duration::from_secs(30))
    }
}

/// What the driver should do after a command got no answer in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HangAction {
    /// Try the next command normally: one lost answer happens on busy modems.
    Continue,
    /// Close and reopen the port, then initialise again.
    Reinitialise,
    /// Reinitialising did not help: reset the modem (`AT+CFUN=1,1`), then reopen.
    Reset,
}

/// Counts consecutive timeouts and escalates: a few → reinitialise, repeated reinits → reset.
#[derive(Debug, Clone, Default)]
pub struct HangPolicy {
    consecutive_timeouts: u32,
    reinits_without_success: u32,
}

impl HangPolicy {
    /// Timeouts in a row before the port is reopened.
    pub const TIMEOUTS_BEFORE_REINIT: u32 = 2;
    /// Reinitialisations in a row (with no successful command between) before a reset.
    pub const REINITS_BEFORE_RESET: u32 = 2;

    pub fn on_timeout(&mut self) -> HangAction {
        self.consecutive_timeouts += 1;
        if self.consecutive_timeouts < Self::TIMEOUTS_BEFORE_REINIT {
            return HangAction::Continue;
        }
        self.on_dead_session()
    }

    /// A fresh session got no answer at all: that reinitialisation failed.
    pub fn on_dead_session(&mut self) -> HangAction {
        self.consecutive_timeouts = 0;
        self.reinits_without_success += 1;
        if self.reinits_without_success > Self::REINITS_BEFORE_RESET {
            self.reinits_without_success = 0;
            HangAction::Reset
        } else {
            HangAction::Reinitialise
        }
    }

    /// A command was answered: the modem is alive.
    pub fn on_answer(&mut self) {
        self.consecutive_timeouts = 0;
        self.reinits_without_success = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_to_cap_and_resets() {
        let mut b = Backoff::new(Duration::from_millis(500), Duration::from_secs(4));
        let delays: Vec<_> = (0..6).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, vec![500, 1000, 2000, 4000, 4000, 4000]);
        b.reset();
        assert_eq!(b.next_delay(), Duration::from_millis(500));
    }

    #[test]
    fn hang_policy_escalates() {
        let mut p = HangPolicy::default();
        let actions: Vec<_> = (0..8).map(|_| p.on_timeout()).collect();
        use HangAction::*;
        assert_eq!(
            actions,
            vec![
                Continue,
                Reinitialise,
                Continue,
                Reinitialise,
                Continue,
                Reset,
                Continue,
                Reinitialise
            ]
        );
    }

    #[test]
    fn dead_sessions_escalate_to_a_reset() {
        let mut p = HangPolicy::default();
        // The session that saw the first timeouts already counted one reinit.
        assert_eq!(p.on_timeout(), HangAction::Continue);
        assert_eq!(p.on_timeout(), HangAction::Reinitialise);
        assert_eq!(p.on_dead_session(), HangAction::Reinitialise);
        assert_eq!(p.on_dead_session(), HangAction::Reset);
        p.on_answer();
        assert_eq!(p.on_dead_session(), HangAction::Reinitialise);
    }

    #[test]
    fn an_answer_clears_the_count() {
        let mut p = HangPolicy::default();
        assert_eq!(p.on_timeout(), HangAction::Continue);
        p.on_answer();
        assert_eq!(p.on_timeout(), HangAction::Continue);
        assert_eq!(p.on_timeout(), HangAction::Reinitialise);
        p.on_answer();
        for _ in 0..2 {
            p.on_timeout();
        }
        // Only one reinit since the last answer: no reset yet.
        assert_eq!(p.on_timeout(), HangAction::Continue);
        assert_eq!(p.on_timeout(), HangAction::Reinitialise);
    }
}
