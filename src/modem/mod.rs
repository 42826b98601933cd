//! Modems: one driver task per modem owns its serial port and speaks AT to it.
//!
//! - [`state`]: what is known about a modem (pure).
//! - [`recovery`]: back-off and hang escalation policy (pure).
//! - [`vendor`]: vendor habits kept apart from the generic path.
//! - [`session`]: the sans-IO session: bytes, answers and `now` in; commands, deadlines and
//!   events out. Every decision about a modem is made here.
//! - [`driver`]: the task: a thin pump between the port and the session.
//! - [`port`]: opening errors in words an operator can act on.

pub(crate) mod driver;
pub(crate) mod port;
pub(crate) mod recovery;
pub mod session;
pub(crate) mod state;
pub(crate) mod vendor;

pub use driver::{
    spawn, DriverConfig, InboundDelivery, InboundSource, ModemHandle, SendOutcome, SendPart,
    Timings,
};
pub use state::{ModemState, ModemStatus};
