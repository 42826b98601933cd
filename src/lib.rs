//! simgate: a self-hosted SMS gateway and phone-verification daemon.
//!
//! The layout follows the data flow (see `ARCHITECTURE.md`):
//! pure logic (`codec`, `at`, `modem::state`) at the core, I/O at the edges
//! (`modem::driver`, `sim`, `store`, `api`, `webhook`).

pub mod api;
pub mod at;
pub mod cli;
pub mod codec;
pub mod config;
pub mod daemon;
pub mod inbound;
pub mod messaging;
pub mod modem;
pub mod observe;
pub mod phone;
pub mod pool;
pub mod secret;
pub mod sim;
pub mod states;
pub mod store;
pub mod supervise;
pub mod systemd;
pub mod verify;
pub mod webhook;
