//! ZTE MF-series (MF626 here): `+ZPASR: "UMTS"` between `AT+CMGS=` and the `> ` prompt, no
//! direct `+CMT` routing in `AT+CNMI=?`, `COMMAND NOT SUPPORT`, `AT+ZGETICCID`, `AT+ZPAS?`.

use super::{CnmiRanges, Family, QUIET};

pub(super) const FAMILY: Family = Family {
    manufacturer: "ZTE INCORPORATED",
    model: "MF626",
    revision: "BD_P673A2V1.0.0B09",
    first_index: 1,
    unknown_command_reply: "COMMAND NOT SUPPORT",
    cnmi_ranges,
    boot_cnmi: QUIET,
    boot_cmee: 0,
    boot_urcs: &[],
    announces_sim: false,
    sim_ready_urcs: &[],
    before_prompt: &["+ZPASR: \"UMTS\""],
    iccid: &[("+CCID", "+CCID: "), ("+ZGETICCID", "+ZGETICCID: ")],
    fixed_reads: &[("+ZPAS", "+ZPAS: \"UMTS\",\"CS_PS\"")],
    has_curc: false,
    periodic_urcs: super::silent,
    empty_read_is_ok: false,
};

fn cnmi_ranges() -> CnmiRanges {
    CnmiRanges {
        mode: vec![0, 1, 2],
        mt: vec![0, 1],
        bm: vec![0, 2],
        ds: vec![0, 2],
        bfr: vec![0, 1],
    }
}
