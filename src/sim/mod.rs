//! The built-in modem simulator: virtual modems on real pseudo-terminals, joined by a virtual
//! network, so that tests, demos and `simgate run --simulate N` exercise the daemon through
//! the very code path it uses with hardware.
//!
//! Each virtual modem sits on the master side of a pty; the daemon opens the slave side through
//! a stable symlink (`<dir>/sim1` → `/dev/pts/7`, like udev's `/dev/simgate/sim1`) with
//! tokio-serial and speaks AT byte for byte. Nothing in the serial layer is mocked.
//!
//! Layers, from pure to I/O:
//! * [`tpdu`]: the octet layout of SMS-SUBMIT, enough to validate `AT+CMGS` and turn a SUBMIT
//!   into the DELIVER the recipient gets (text is the codec's business);
//! * [`storage`]: the `SM`/`ME`/`MT`/`SR` memories;
//! * [`personality`]: the vendor families, one file each (as `modem::vendor` on the daemon side);
//! * [`interpreter`]: [`ModemCore`], the AT interpreter, SIM, URC rules and fault knobs —
//!   bytes in, bytes and [`Effect`]s out, time passed in;
//! * [`pty`]: the pseudo-terminal and its symlink;
//! * [`modem`]: the task per modem and the [`SimModem`] handle;
//! * [`network`]: [`Network`] (routing, status reports) and the [`World`] outside it.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use simgate::sim::{Network, SimModemConfig};
//! use std::time::Duration;
//!
//! let network = Network::new();
//! let modem = network
//!     .add_modem(SimModemConfig::default(), "/tmp/simgate-demo")
//!     .await?;
//! // Give modem.path() to the daemon as the port, then:
//! network
//!     .send_from_world("+447700900123", modem.number(), "Hello")
//!     .expect("modem exists");
//! let reply = network
//!     .world()
//!     .wait_for("+447700900123", Duration::from_secs(30))
//!     .await;
//! # let _ = reply;
//! network.shutdown().await;
//! # Ok(())
//! # }
//! ```

pub(crate) mod config;
pub(crate) mod interpreter;
pub(crate) mod modem;
pub(crate) mod network;
pub(crate) mod personality;
pub(crate) mod pty;
pub(crate) mod storage;
pub mod tpdu;

pub use config::{CnmiRanges, CnmiSetting, Personality, SimModemConfig};
pub use interpreter::{Effect, Inbound, ModemCore, SentPdu, SimLock, SubmitOutcome};
pub use modem::SimModem;
pub use network::{
    Network, NetworkConfig, PartOrder, World, WorldMessage, WorldPart, WorldSendOptions,
};
pub use storage::{Memory, MessageStatus, StorageError, StoredMessage};

/// Why a simulator request was refused.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    /// No virtual modem has this number.
    #[error("no virtual modem has number {0}")]
    UnknownNumber(String),
    /// The PDU is not hex with a well-formed SMSC field and first octet.
    #[error("malformed PDU: {0}")]
    InvalidPdu(String),
    /// The memory refused the message.
    #[error("storage refused the message: {0:?}")]
    Storage(StorageError),
}
