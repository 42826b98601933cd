//! The built-in modem simulator: virtual modems on real pseudo-terminals, joined by a virtual
//! network.

pub mod config;
pub mod interpreter;
pub mod storage;
pub mod tpdu;
