//! simgate: a self-hosted SMS gateway and phone-verification daemon.
//!
//! The layout follows the data flow (see `ARCHITECTURE.md`):
//! pure logic (`codec`, `at`, `modem::state`) at the core, I/O at the edges
//! (`modem::driver`, `sim`, `store`, `api`, `webhook`).
//!
//! The public surface is what the binary, `tests/` and `benches/` use; everything else is
//! `pub(crate)`, so that code nothing calls is reported by the compiler instead of hiding
//! behind `pub`.

pub mod api;
pub mod at;
pub mod cli;
pub mod cluster;
pub mod codec;
pub mod config;
pub mod daemon;
pub(crate) mod inbound;
pub(crate) mod memory;
pub mod messaging;
pub mod modem;
pub mod observe;
pub(crate) mod phone;
pub mod pool;
pub mod redact;
pub mod secret;
pub mod shutdown;
pub mod sim;
pub mod states;
pub mod store;
pub(crate) mod supervise;
pub(crate) mod systemd;
pub mod verify;
pub mod webhook;
