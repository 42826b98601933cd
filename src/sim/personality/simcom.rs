//! SIMCom SIM7xxx/SIM800 (SIM7600E here): `RDY`, `+CPIN: READY`, `SMS DONE`, `PB DONE`
//! after power-on; `AT+CCID` answers the bare number, `AT+CICCID` with `ICCID: `.

use super::{full_cnmi_ranges, Family, STORE_AND_ANNOUNCE};

pub(super) const FAMILY: Family = Family {
    manufacturer: "SIMCOM INCORPORATED",
    model: "SIMCOM_SIM7600E",
    revision: "LE20B04SIM7600M22",
    first_index: 1,
    unknown_command_reply: "ERROR",
    cnmi_ranges: full_cnmi_ranges,
    boot_cnmi: STORE_AND_ANNOUNCE,
    boot_cmee: 0,
    boot_urcs: &["RDY"],
    announces_sim: true,
    sim_ready_urcs: &["SMS DONE", "PB DONE"],
    before_prompt: &[],
    iccid: &[("+CCID", ""), ("+CICCID", "ICCID: ")],
    fixed_reads: &[],
    has_curc: false,
    periodic_urcs: super::silent,
    empty_read_is_ok: false,
};
