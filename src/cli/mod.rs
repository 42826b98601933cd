//! (being written)

pub mod pdu;
