//! Modems: one driver task per modem owns its serial port and speaks AT to it.
//!
//! - [`state`]: what is known about a modem (pure).
//! - [`recovery`]: back-off and hang escalation policy (pure).
//! - [`vendor`]: vendor habits kept apart from the generic path.
//! - [`channel`]: one AT command at a time over a byte stream (I/O edge around `at::parser`).
//! - [`driver`]: the task: open, initialise, send, receive, watch health, recover.

pub mod channel;
pub mod driver;
pub mod port;
pub mod recovery;
pub mod state;
pub mod vendor;

pub use driver::{
    spawn, DriverConfig, InboundDelivery, InboundSource, ModemHandle, SendOutcome, SendPart,
    Timings,
};
pub use state::{ModemState, ModemStatus};
