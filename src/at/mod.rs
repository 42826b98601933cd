//! The AT channel's pure logic: framing the modem's byte stream into responses, final
//! results, prompts and URCs ([`parser`]), reading response fields ([`response`]), and
//! building the commands the driver sends ([`command`]). No I/O happens here; the
//! async driver feeds bytes in and acts on the events that come out.
//!
//! On the `at-commands` crate (0.5, `no_std` builder and parser): it was considered and
//! not used. Its parser reads a fixed, known-in-advance sequence of typed fields with
//! byte-exact identifiers (`+CSQ: ` does not match `+CSQ:`) and decimal-only integers,
//! whereas the replies we must read vary in field count and quoting (the `+CREG`
//! layout is only decided after seeing the fields, LAC/CI are hex, `+CMGR` has five
//! header shapes) and it does no framing, echo or URC separation at all. Its builder
//! adds little over `format!` for the dozen commands we send, so a small tolerant field
//! splitter of our own (the private `fields` module) serves better than a dependency.

pub mod command;
pub(crate) mod fields;
pub(crate) mod parser;
pub mod response;

pub use parser::{parse_final, AtEvent, AtParser, CmError, FinalResult, Urc, MAX_LINE_LEN};
pub use response::{RegKind, RegStatus, Registration, SimState, StoredPdu};
