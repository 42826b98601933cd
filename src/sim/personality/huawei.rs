//! Huawei E-series dongles (E3372 here): periodic `^RSSI`, `^MODE`, `^BOOT`, `^DSFLOWRPT`
//! until `AT^CURC=0`; storage indices from 0; `COMMAND NOT SUPPORT`; `AT^ICCID?`; an empty
//! slot read with `AT+CMGR` answers a bare `OK`.

use super::{CnmiRanges, Family, QUIET};

pub(super) const FAMILY: Family = Family {
    manufacturer: "huawei",
    model: "E3372",
    revision: "22.328.62.00.00",
    first_index: 0,
    unknown_command_reply: "COMMAND NOT SUPPORT",
    cnmi_ranges,
    boot_cnmi: QUIET,
    boot_cmee: 0,
    boot_urcs: &[],
    announces_sim: false,
    sim_ready_urcs: &[],
    before_prompt: &[],
    iccid: &[("^ICCID", "^ICCID: ")],
    fixed_reads: &[],
    has_curc: true,
    periodic_urcs,
    empty_read_is_ok: true,
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

/// `^RSSI` every tick; now and then `^MODE`, `^BOOT`, `^DSFLOWRPT`.
fn periodic_urcs(tick: u64, rssi: u8) -> Vec<String> {
    let mut urcs = vec![format!("^RSSI:{rssi}")];
    if tick % 3 == 0 {
        urcs.push("^MODE:5,4".into());
    }
    if tick % 4 == 0 {
        urcs.push("^BOOT:20952548,0,0,0,72".into());
    }
    if tick % 5 == 0 {
        urcs.push(
            "^DSFLOWRPT:00000001,00000000,00000000,0000000000000000,0000000000000000,0003E800,0003E800"
                .into(),
        );
    }
    urcs
}
