//! Fuzz target: the PDU decoder and everything that consumes its output.
//! Input layout: first byte's low bit selects "no SMSC field", the rest is
//! the PDU. The checks live in `decode_check.rs`, shared with the stable
//! `tests/codec_fuzz.rs` that runs the same checks without nightly.
#![no_main]

use libfuzzer_sys::fuzz_target;

include!("../decode_check.rs");

fuzz_target!(|data: &[u8]| {
    check_decode_input(data);
});
