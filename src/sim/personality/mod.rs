//! The simulator's vendor families, one file per family, mirroring `modem::vendor` (and so
//! ModemManager's plugins): what a family answers and when it talks unasked. The interpreter
//! asks [`Personality::family`] instead of matching on the family itself.

use super::config::{CnmiRanges, CnmiSetting};

mod generic;
mod huawei;
mod quectel;
mod simcom;
mod zte;

/// Which family of real modems the virtual one imitates.
///
/// Only the behaviour a daemon has to cope with differs: identity strings, the `AT+CNMI=?` ranges,
/// the boot-time defaults, the vendor URCs and the way unknown commands are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Personality {
    /// A well-behaved 3GPP TS 27.005/27.007 modem; indices start at 1.
    #[default]
    Generic,
    /// Huawei E-series dongles: `^RSSI`/`^BOOT`/`^MODE` URCs until `AT^CURC=0`, storage indices
    /// start at 0, `COMMAND NOT SUPPORT` for unknown commands, `AT^ICCID?`.
    Huawei,
    /// Quectel EC2x/EG9x: `RDY` … `+QIND: SMS DONE` after start and reset, `AT+QCCID`.
    Quectel,
    /// SIMCom SIM7xxx/SIM800: `RDY`, `+CPIN: READY`, `SMS DONE` after start, `AT+CCID`.
    Simcom,
    /// ZTE MF-series: `+ZPASR: "UMTS"` between `AT+CMGS=` and the `> ` prompt, a narrower
    /// `AT+CNMI=?` (no direct `+CMT` routing), `COMMAND NOT SUPPORT` for unknown commands.
    Zte,
}

/// Everything one family does its own way.
#[derive(Debug)]
pub struct Family {
    pub manufacturer: &'static str,
    pub model: &'static str,
    pub revision: &'static str,
    /// The index of the first storage slot.
    pub first_index: u32,
    /// What the modem answers to a command it does not know.
    pub unknown_command_reply: &'static str,
    /// `AT+CNMI=?` ranges this family advertises (and enforces).
    pub cnmi_ranges: fn() -> CnmiRanges,
    /// `AT+CNMI` values right after power-on.
    pub boot_cnmi: CnmiSetting,
    /// `AT+CMEE` right after power-on.
    pub boot_cmee: u8,
    /// URCs at power-on, before the SIM is read.
    pub boot_urcs: &'static [&'static str],
    /// Announces the SIM state (`+CPIN: …`) by itself at power-on and unlock.
    pub announces_sim: bool,
    /// URCs once the SIM is readable (after `+CPIN: READY`).
    pub sim_ready_urcs: &'static [&'static str],
    /// URCs printed between `AT+CMGS=` and the `> ` prompt.
    pub before_prompt: &'static [&'static str],
    /// ICCID commands it knows: (command name, answer prefix; empty for a bare number).
    pub iccid: &'static [(&'static str, &'static str)],
    /// Vendor read commands with fixed answers (`AT+ZPAS?`).
    pub fixed_reads: &'static [(&'static str, &'static str)],
    /// Has `AT^CURC` to switch its periodic URCs off.
    pub has_curc: bool,
    /// Periodic chatter for vendor tick `tick` at signal `rssi` (while not switched off).
    pub periodic_urcs: fn(tick: u64, rssi: u8) -> Vec<String>,
    /// `AT+CMGR` of an empty slot answers a bare `OK` (else `+CMS ERROR: 321`).
    pub empty_read_is_ok: bool,
}

impl Family {
    /// The answer prefix of an ICCID command this family knows (`""`: a bare number).
    pub fn iccid_prefix(&self, command: &str) -> Option<&'static str> {
        self.iccid
            .iter()
            .find(|(name, _)| *name == command)
            .map(|(_, prefix)| *prefix)
    }

    /// The fixed answer of a vendor read command.
    pub fn fixed_read(&self, command: &str) -> Option<&'static str> {
        self.fixed_reads
            .iter()
            .find(|(name, _)| *name == command)
            .map(|(_, answer)| *answer)
    }
}

impl Personality {
    /// All personalities, handy for tests that loop over them.
    pub const ALL: [Personality; 5] = [
        Personality::Generic,
        Personality::Huawei,
        Personality::Quectel,
        Personality::Simcom,
        Personality::Zte,
    ];

    /// This family's habits.
    pub fn family(self) -> &'static Family {
        match self {
            Personality::Generic => &generic::FAMILY,
            Personality::Huawei => &huawei::FAMILY,
            Personality::Quectel => &quectel::FAMILY,
            Personality::Simcom => &simcom::FAMILY,
            Personality::Zte => &zte::FAMILY,
        }
    }

    /// `AT+CGMI` answer.
    pub fn manufacturer(self) -> &'static str {
        self.family().manufacturer
    }

    /// `AT+CGMM` answer.
    pub fn model(self) -> &'static str {
        self.family().model
    }

    /// `AT+CGMR` answer.
    pub fn revision(self) -> &'static str {
        self.family().revision
    }

    /// The index of the first storage slot: Huawei firmware counts from 0, most others from 1.
    pub fn first_index(self) -> u32 {
        self.family().first_index
    }

    /// What the modem answers to a command it does not know.
    pub fn unknown_command_reply(self) -> &'static str {
        self.family().unknown_command_reply
    }

    /// The `AT+CNMI=?` ranges this family advertises (and enforces).
    pub fn cnmi_ranges(self) -> CnmiRanges {
        (self.family().cnmi_ranges)()
    }

    /// `AT+CNMI` values right after power-on, before the host configures anything.
    pub fn boot_cnmi(self) -> CnmiSetting {
        self.family().boot_cnmi
    }
}

/// No periodic chatter.
fn silent(_tick: u64, _rssi: u8) -> Vec<String> {
    Vec::new()
}

/// The ranges of a modem that offers everything 27.005 lists.
fn full_cnmi_ranges() -> CnmiRanges {
    CnmiRanges {
        mode: vec![0, 1, 2, 3],
        mt: vec![0, 1, 2, 3],
        bm: vec![0, 1, 2, 3],
        ds: vec![0, 1, 2],
        bfr: vec![0, 1],
    }
}

/// Store and announce (`+CMTI`) from power-on, as Quectel and SIMCom do.
const STORE_AND_ANNOUNCE: CnmiSetting = CnmiSetting {
    mode: 2,
    mt: 1,
    bm: 0,
    ds: 0,
    bfr: 0,
};

/// Nothing announced until the host asks (27.005 defaults).
const QUIET: CnmiSetting = CnmiSetting {
    mode: 0,
    mt: 0,
    bm: 0,
    ds: 0,
    bfr: 0,
};
