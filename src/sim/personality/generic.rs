//! A well-behaved 3GPP TS 27.005/27.007 modem.

use super::{full_cnmi_ranges, silent, Family, QUIET};

pub(super) const FAMILY: Family = Family {
    manufacturer: "SIMGATE",
    model: "VIRTUAL-1",
    revision: "1.0.0",
    first_index: 1,
    unknown_command_reply: "ERROR",
    cnmi_ranges: full_cnmi_ranges,
    boot_cnmi: QUIET,
    boot_cmee: 0,
    boot_urcs: &[],
    announces_sim: false,
    sim_ready_urcs: &[],
    before_prompt: &[],
    iccid: &[("+CCID", "+CCID: ")],
    fixed_reads: &[],
    has_curc: false,
    periodic_urcs: silent,
    empty_read_is_ok: false,
};
