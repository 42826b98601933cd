//! Quectel EC2x/EG9x (EC25 here): `RDY`, `+CFUN: 1`, `+CPIN: READY`, then `+QUSIM: 1`,
//! `+QIND: SMS DONE`, `+QIND: PB DONE`; numeric errors from power-on; `AT+QCCID`.

use super::{CnmiRanges, Family, STORE_AND_ANNOUNCE};

pub(super) const FAMILY: Family = Family {
    manufacturer: "Quectel",
    model: "EC25",
    revision: "EC25EFAR06A06M4G",
    first_index: 1,
    unknown_command_reply: "ERROR",
    cnmi_ranges,
    boot_cnmi: STORE_AND_ANNOUNCE,
    boot_cmee: 1,
    boot_urcs: &["RDY", "+CFUN: 1"],
    announces_sim: true,
    sim_ready_urcs: &["+QUSIM: 1", "+QIND: SMS DONE", "+QIND: PB DONE"],
    before_prompt: &[],
    iccid: &[("+CCID", "+CCID: "), ("+QCCID", "+QCCID: ")],
    fixed_reads: &[],
    has_curc: false,
    periodic_urcs: super::silent,
    empty_read_is_ok: false,
};

fn cnmi_ranges() -> CnmiRanges {
    CnmiRanges {
        mode: vec![0, 1, 2],
        mt: vec![0, 1, 2, 3],
        bm: vec![0, 2],
        ds: vec![0, 1, 2],
        bfr: vec![0, 1],
    }
}
