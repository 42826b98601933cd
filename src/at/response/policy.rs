//! The modem set-up choices read from test-command answers: which storage to select and
//! sweep (`AT+CPMS=?`), which `AT+CNMI` settings to try and in what order (`AT+CNMI=?`).
//! The session follows these and nothing else: one storage policy, one CNMI chain.

use crate::at::command::CnmiSetting;
use crate::at::fields::{
    expand_value_list, innermost_groups, payload_optional_prefix, split_fields, Field,
};

/// Storage names accepted for `<mem1>`, `<mem2>`, `<mem3>` (`AT+CPMS=?`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CpmsSupport {
    /// Read/list/delete storage choices.
    pub mem1: Vec<String>,
    /// Write/send storage choices.
    pub mem2: Vec<String>,
    /// Storage for newly received messages; empty when the modem does not report it.
    pub mem3: Vec<String>,
}

/// Reads `+CPMS: ("ME","SM"),("ME","SM"),("ME","SM")`; also the Wavecom nesting
/// `(("SM","BM","SR"),("SM"))` and empty lists (`+CPMS: (),(),()`, `+CPMS: `).
pub fn parse_cpms_test(line: &str) -> Option<CpmsSupport> {
    let payload = payload_optional_prefix(line, "+CPMS")?;
    let list = |group: &str| -> Vec<String> {
        split_fields(group)
            .iter()
            .map(Field::value)
            .filter(|name| !name.is_empty())
            .map(str::to_string)
            .collect()
    };
    let groups = innermost_groups(payload);
    let mut lists = groups.into_iter().map(list);
    Some(CpmsSupport {
        mem1: lists.next().unwrap_or_default(),
        mem2: lists.next().unwrap_or_default(),
        mem3: lists.next().unwrap_or_default(),
    })
}

/// Ordered `AT+CPMS=` commands to try: one storage for all three memories so that a
/// `+CMTI` index can be read and deleted without switching. `SM` (the SIM, universal)
/// first, then `ME`, then `MT`; the two-memory form last for modems that reject a
/// third (Wavecom). With unknown support the same list is returned unfiltered.
pub fn choose_cpms(support: &CpmsSupport) -> Vec<String> {
    let supports = |list: &[String], name: &str| {
        list.is_empty() || list.iter().any(|have| have.eq_ignore_ascii_case(name))
    };
    let mut commands = Vec::new();
    for name in ["SM", "ME", "MT"] {
        if supports(&support.mem1, name) && supports(&support.mem2, name) {
            if supports(&support.mem3, name) {
                commands.push(crate::at::command::cpms(name, Some(name), Some(name)));
            }
            commands.push(crate::at::command::cpms(name, Some(name), None));
        }
    }
    commands.dedup();
    commands
}

/// The storages a sweep lists (`AT+CMGL`) for messages whose URC was lost: `MT` where
/// offered (it covers `SM` and `ME`), else `SM` and `ME`; `SR` too for stored status reports.
/// With unknown support, `SM` alone.
pub fn sweep_storages(support: &CpmsSupport) -> Vec<String> {
    let offered = &support.mem1;
    let has = |name: &str| offered.iter().any(|o| o.eq_ignore_ascii_case(name));
    let mut storages: Vec<String> = if has("MT") {
        vec!["MT".into()]
    } else {
        ["SM", "ME"]
            .iter()
            .filter(|s| has(s) || (offered.is_empty() && **s == "SM"))
            .map(|s| s.to_string())
            .collect()
    };
    if has("SR") {
        storages.push("SR".into());
    }
    storages
}

/// Used and total slots of one storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageUsage {
    /// Storage name when the answer includes it (`AT+CPMS?`), `None` for `AT+CPMS=`.
    pub storage: Option<String>,
    /// Occupied slots.
    pub used: u32,
    /// Capacity.
    pub total: u32,
}

/// Reads `+CPMS: "SM",3,30,"SM",3,30,"SM",3,30` (query form) or `+CPMS: 14,50,14,50` /
/// `+CPMS: 1,5000` (set form). `None` when no used/total pair is present.
pub fn parse_cpms(line: &str) -> Option<Vec<StorageUsage>> {
    let payload = payload_optional_prefix(line, "+CPMS")?;
    let fields = split_fields(payload);
    let mut usages = Vec::new();
    let mut index = 0;
    while index < fields.len() {
        let mut storage = None;
        if let Some(field) = fields.get(index) {
            if field.as_u32().is_none() {
                storage = (!field.is_empty()).then(|| field.value().to_string());
                index += 1;
            }
        }
        match (
            fields.get(index).and_then(Field::as_u32),
            fields.get(index + 1).and_then(Field::as_u32),
        ) {
            (Some(used), Some(total)) => {
                usages.push(StorageUsage {
                    storage,
                    used,
                    total,
                });
                index += 2;
            }
            _ => index += 1,
        }
    }
    (!usages.is_empty()).then_some(usages)
}

/// Values accepted for each `AT+CNMI` parameter (`AT+CNMI=?`). An empty list means the
/// modem did not report that parameter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CnmiSupport {
    /// `<mode>`: how indications are buffered while the link is busy.
    pub mode: Vec<u8>,
    /// `<mt>`: SMS-DELIVER indications (1 = store and `+CMTI`).
    pub mt: Vec<u8>,
    /// `<bm>`: cell broadcast indications.
    pub bm: Vec<u8>,
    /// `<ds>`: status reports (1 = `+CDS`, 2 = store and `+CDSI`).
    pub ds: Vec<u8>,
    /// `<bfr>`: what to do with buffered indications when `<mode>` 1..3 is entered.
    pub bfr: Vec<u8>,
}

impl CnmiSupport {
    /// True when the modem reported nothing usable (test command failed or empty).
    pub fn is_unknown(&self) -> bool {
        self.mode.is_empty() && self.mt.is_empty()
    }
}

/// Reads `+CNMI: (0-2),(0-3),(0,2),(0-2),(0,1)` (ranges, lists, odd spacing, missing
/// space after the colon). `None` when no parenthesised group is present.
pub fn parse_cnmi_test(line: &str) -> Option<CnmiSupport> {
    let payload = payload_optional_prefix(line, "+CNMI")?;
    let groups = innermost_groups(payload);
    if groups.is_empty() {
        return None;
    }
    let mut lists = groups.into_iter().map(|group| {
        expand_value_list(group)
            .into_iter()
            .filter_map(|value| u8::try_from(value).ok())
            .collect::<Vec<u8>>()
    });
    Some(CnmiSupport {
        mode: lists.next().unwrap_or_default(),
        mt: lists.next().unwrap_or_default(),
        bm: lists.next().unwrap_or_default(),
        ds: lists.next().unwrap_or_default(),
        bfr: lists.next().unwrap_or_default(),
    })
}

/// Reads the current setting `+CNMI: 2,1,0,2,0` (`AT+CNMI?`).
pub fn parse_cnmi(line: &str) -> Option<CnmiSetting> {
    let payload = payload_optional_prefix(line, "+CNMI")?;
    let values: Vec<Option<u8>> = split_fields(payload)
        .iter()
        .map(|field| field.as_u32().and_then(|value| u8::try_from(value).ok()))
        .collect();
    let value = |index: usize| values.get(index).copied().flatten();
    Some(CnmiSetting {
        mode: value(0)?,
        mt: value(1)?,
        bm: value(2),
        ds: value(3),
        bfr: value(4),
    })
}

/// How new SMS-DELIVERs should reach the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// Stored by the modem and announced with `+CMTI` (`<mt>` 1), then read with `AT+CMGR`
    /// and deleted with `AT+CMGD` after the commit. Safe on every modem.
    Stored,
    /// Routed to the daemon as `+CMT` with the PDU (`<mt>` 2), acknowledged with `AT+CNMA`
    /// after the commit. Only when `AT+CSMS=1` was accepted with `<mt>` 1 in its answer:
    /// then the network delivers again whatever is not acknowledged, so a crash between
    /// receipt and commit loses nothing. Saves the `AT+CMGR` round trip.
    Direct,
}

/// The ordered fallback chain of `AT+CNMI` settings to try (see [`choose_cnmi`]).
///
/// Preferences: `<mt>` 1 (store, then `+CMTI`: nothing is lost if the daemon is busy),
/// then 3, then 2 (`+CMT` routed directly; may need `AT+CNMA` acks); `<mode>` 2 (buffer
/// while the link is busy), then 1, then 3; `<ds>` 2 (store + `+CDSI`), then 1 (`+CDS`),
/// then 0; `<bm>` 0; `<bfr>` 0 then 1, omitted when the modem reports only four
/// parameters. Only reported values are used; the list falls back stepwise (`<ds>`
/// first, then `<mode>`, then `<mt>`) and ends with the two-parameter form. With
/// unknown support (`AT+CNMI=?` failed) a fixed list of widely accepted settings is used.
pub fn cnmi_candidates(support: &CnmiSupport) -> Vec<CnmiSetting> {
    candidates_with_mt_order(support, &[1, 3, 2])
}

/// The chain for `delivery`. [`Delivery::Direct`] puts the `<mt>` 2 settings the modem
/// reports first and then the whole [`Delivery::Stored`] chain, so a modem that refuses
/// them still ends on `<mt>` 1. Status reports keep `<ds>` 2 (store + `+CDSI`) first even
/// then: a report is not worth a second acknowledged flow (one unacknowledged `+CDS` would
/// hold back the next `+CMT`), and the stored path reads it as safely. With unknown
/// support (`AT+CNMI=?` failed) direct routing is not guessed: the stored chain is used.
pub fn cnmi_candidates_for(support: &CnmiSupport, delivery: Delivery) -> Vec<CnmiSetting> {
    let stored = cnmi_candidates(support);
    if delivery == Delivery::Stored || support.is_unknown() || !support.mt.contains(&2) {
        return stored;
    }
    let mut chain: Vec<CnmiSetting> = candidates_with_mt_order(support, &[2])
        .into_iter()
        // The two-parameter form leaves `<ds>` as the modem had it: not for direct routing.
        .filter(|c| c.ds.is_some())
        .collect();
    chain.extend(stored);
    chain
}

/// The ordered `AT+CNMI=` commands for `delivery` (see [`cnmi_candidates_for`]).
pub fn choose_cnmi_for(support: &CnmiSupport, delivery: Delivery) -> Vec<String> {
    cnmi_candidates_for(support, delivery)
        .iter()
        .map(CnmiSetting::to_command)
        .collect()
}

fn candidates_with_mt_order(support: &CnmiSupport, mt_order: &[u8]) -> Vec<CnmiSetting> {
    const MAX_CANDIDATES: usize = 12;
    if support.is_unknown() {
        return UNKNOWN_SUPPORT_CHAIN
            .iter()
            .map(|&(mode, mt, bm, ds, bfr)| CnmiSetting {
                mode,
                mt,
                bm,
                ds,
                bfr,
            })
            .collect();
    }
    let preferred = |reported: &[u8], order: &[u8]| -> Vec<u8> {
        if reported.is_empty() {
            order.to_vec()
        } else {
            order
                .iter()
                .copied()
                .filter(|value| reported.contains(value))
                .collect()
        }
    };
    let modes = preferred(&support.mode, &[2, 1, 3]);
    let mts = preferred(&support.mt, mt_order);
    let dss = preferred(&support.ds, &[2, 1, 0]);
    let bm = if support.bm.is_empty() || support.bm.contains(&0) {
        0
    } else {
        support.bm.iter().copied().min().unwrap_or(0)
    };
    let bfr = if support.bfr.is_empty() {
        None
    } else {
        preferred(&support.bfr, &[0, 1]).first().copied()
    };
    let mut candidates = Vec::new();
    for &mt in &mts {
        for &mode in &modes {
            for &ds in &dss {
                candidates.push(CnmiSetting {
                    mode,
                    mt,
                    bm: Some(bm),
                    ds: Some(ds),
                    bfr,
                });
            }
        }
    }
    candidates.truncate(MAX_CANDIDATES - 1);
    if let (Some(&mode), Some(&mt)) = (modes.first(), mts.first()) {
        candidates.push(CnmiSetting {
            mode,
            mt,
            bm: None,
            ds: None,
            bfr: None,
        });
    }
    candidates.dedup();
    candidates
}

/// `(mode, mt, bm, ds, bfr)` tried in order when the modem did not answer `AT+CNMI=?`;
/// trailing `None`s are left out of the command.
type CnmiTuple = (u8, u8, Option<u8>, Option<u8>, Option<u8>);
const UNKNOWN_SUPPORT_CHAIN: &[CnmiTuple] = &[
    (2, 1, Some(0), Some(2), Some(0)),
    (2, 1, Some(0), Some(2), None),
    (2, 1, Some(0), Some(1), Some(0)),
    (2, 1, Some(0), Some(1), None),
    (2, 1, Some(0), Some(0), Some(0)),
    (2, 1, Some(0), Some(0), None),
    (1, 1, Some(0), Some(2), None),
    (1, 1, Some(0), Some(0), None),
    (3, 1, Some(0), Some(1), None),
    (2, 1, None, None, None),
    (1, 1, None, None, None),
];

/// The ordered `AT+CNMI=` commands to try until one answers `OK`; see
/// [`cnmi_candidates`] for the preferences (and to learn which setting succeeded).
pub fn choose_cnmi(support: &CnmiSupport) -> Vec<String> {
    cnmi_candidates(support)
        .iter()
        .map(CnmiSetting::to_command)
        .collect()
}

/// Reads the services of `AT+CSMS=?` (`+CSMS: (0-1)`, `+CSMS: (0,1,128)`); `None` without
/// a `+CSMS` group.
pub fn parse_csms_test(line: &str) -> Option<Vec<u8>> {
    let payload = payload_optional_prefix(line, "+CSMS")?;
    let group = innermost_groups(payload).into_iter().next()?;
    Some(
        expand_value_list(group)
            .into_iter()
            .filter_map(|value| u8::try_from(value).ok())
            .collect(),
    )
}

/// What the modem supports in the selected message service (27.005 §3.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsmsState {
    /// `<service>` (read form only): 0 phase 2, 1 phase 2+ (acknowledgements with `AT+CNMA`).
    pub service: Option<u8>,
    /// `<mt>`: mobile-terminated messages supported; with service 1, acknowledgements too.
    pub mt: bool,
    /// `<mo>`: mobile-originated messages supported.
    pub mo: bool,
}

/// Reads the set answer `+CSMS: <mt>,<mo>,<bm>` (`AT+CSMS=1`) or, with `read_form`, the
/// read answer `+CSMS: <service>,<mt>,<mo>,<bm>` (`AT+CSMS?`).
pub fn parse_csms(line: &str, read_form: bool) -> Option<CsmsState> {
    let payload = payload_optional_prefix(line, "+CSMS")?;
    let values: Vec<Option<u32>> = split_fields(payload).iter().map(Field::as_u32).collect();
    let offset = usize::from(read_form);
    let flag = |index: usize| values.get(index + offset).copied().flatten() == Some(1);
    let service = if read_form {
        Some(u8::try_from((*values.first()?)?).ok()?)
    } else {
        None
    };
    values.get(offset).copied().flatten()?;
    Some(CsmsState {
        service,
        mt: flag(0),
        mo: flag(1),
    })
}
