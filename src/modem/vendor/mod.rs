//! Vendor habits, one file per family, laid out as ModemManager lays out its plugins.
//!
//! The generic 3GPP TS 27.005/27.007 path works on every modem; a family file holds only
//! what its firmware does differently: start-up commands (quieting chatty URCs, routing
//! URCs to the AT port), the command that reads the ICCID, the unsolicited codes only it
//! sends (the parser asks [`classify_urc`] about any line it does not know), and notes on
//! its quirks. Each file tests itself against `tests/vectors/modem_transcripts.json`.

use crate::at::command::fixed;
use crate::at::parser::Urc;

pub mod generic;
pub mod huawei;
pub mod nordic;
pub mod quectel;
pub mod sierra;
pub mod simcom;
pub mod telit;
pub mod zte;

/// Modem families with habits worth knowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Huawei,
    Quectel,
    Simcom,
    Zte,
    Nordic,
    Telit,
    Sierra,
    Generic,
}

impl Vendor {
    /// From the `AT+CGMI` answer (case and decoration vary: "huawei", "Quectel",
    /// "SIMCOM INCORPORATED", "Nordic Semiconductor ASA").
    pub fn from_manufacturer(manufacturer: &str) -> Vendor {
        let m = manufacturer.to_ascii_lowercase();
        [
            ("huawei", Vendor::Huawei),
            ("quectel", Vendor::Quectel),
            ("simcom", Vendor::Simcom),
            ("zte", Vendor::Zte),
            ("nordic", Vendor::Nordic),
            ("telit", Vendor::Telit),
            ("sierra", Vendor::Sierra),
        ]
        .into_iter()
        .find(|(name, _)| m.contains(name))
        .map_or(Vendor::Generic, |(_, vendor)| vendor)
    }

    /// Extra set-up commands, sent after the generic ones; failures are tolerated.
    pub fn startup_commands(self) -> &'static [&'static str] {
        match self {
            Vendor::Huawei => huawei::STARTUP,
            Vendor::Quectel => quectel::STARTUP,
            Vendor::Simcom => simcom::STARTUP,
            Vendor::Zte => zte::STARTUP,
            Vendor::Nordic => nordic::STARTUP,
            Vendor::Telit => telit::STARTUP,
            Vendor::Sierra => sierra::STARTUP,
            Vendor::Generic => generic::STARTUP,
        }
    }

    /// Direct delivery (`+CMT` acknowledged with `AT+CNMA`) on this family.
    pub fn direct_delivery(self) -> DirectDelivery {
        match self {
            Vendor::Huawei => huawei::DIRECT,
            Vendor::Zte => zte::DIRECT,
            Vendor::Nordic => nordic::DIRECT,
            Vendor::Quectel | Vendor::Simcom | Vendor::Telit | Vendor::Sierra | Vendor::Generic => {
                generic::DIRECT
            }
        }
    }

    /// The command that reads the SIM's ICCID on this family (`AT+CCID` is not universal).
    pub fn iccid_command(self) -> &'static str {
        match self {
            Vendor::Huawei => huawei::ICCID,
            Vendor::Quectel => quectel::ICCID,
            Vendor::Simcom => simcom::ICCID,
            Vendor::Zte => zte::ICCID,
            Vendor::Nordic => nordic::ICCID,
            Vendor::Telit => telit::ICCID,
            Vendor::Sierra => sierra::ICCID,
            Vendor::Generic => generic::ICCID,
        }
    }
}

/// Whether a family takes new SMS as acknowledged `+CMT` pushes, and how it wants them
/// acknowledged. The session asks for direct delivery only where the modem also accepts
/// `AT+CSMS=1` with acknowledgements (`+CSMS: 1,…`) and `<mt>` 2 in `AT+CNMI`; any refusal
/// on the way (CSMS, CNMI, or an `AT+CNMA` answered with an error) keeps or puts the modem
/// back on store + `+CMTI` + read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectDelivery {
    /// Try `AT+CSMS=1` and `<mt>` 2 at all.
    pub allowed: bool,
    /// The acknowledgement forms to try, in order; the next is tried when one is refused.
    pub acks: &'static [&'static str],
    /// `+CMT`/`+CDS` are acknowledged even when `AT+CSMS` does not report service 1.
    pub always_acks: bool,
    /// A modem that refuses every form is put back on store + `+CMTI`; false where that
    /// path does not exist.
    pub falls_back: bool,
}

/// The two forms 27.005 allows for a plain positive acknowledgement in PDU mode.
pub const ACKS: &[&str] = &[fixed::CNMA, fixed::CNMA_ZERO];

/// Classifies a vendor's unsolicited line. `prefix` is upper case (`^RSSI`), `payload` what
/// follows the colon. The parser does not know which modem it reads (the identity comes
/// later), so every family is asked; their prefixes do not overlap.
pub fn classify_urc(prefix: &str, payload: &str, line: &str) -> Option<Urc> {
    huawei::classify(prefix, payload, line)
        .or_else(|| quectel::classify(prefix, payload, line))
        .or_else(|| simcom::classify(prefix, payload, line))
        .or_else(|| zte::classify(prefix, payload, line))
        .or_else(|| nordic::classify(prefix, payload, line))
        .or_else(|| generic::classify(prefix, payload, line))
}

/// Classifies a vendor's plain-word line (`SMS DONE`, `RDY`); `upper` is upper case.
pub fn classify_word(upper: &str, line: &str) -> Option<Urc> {
    simcom::classify_word(upper, line).or_else(|| quectel::classify_word(upper, line))
}

/// Reads an ICCID answer, whichever vendor's form: `+CCID: "8944..."`, `^ICCID: 98...`,
/// `+QCCID: 8944...`, `+ICCID: ...`, or a bare line. ICCIDs are 18 to 22 digits, some ending
/// in `F` padding.
pub fn parse_iccid(line: &str) -> Option<String> {
    let value = match line.split_once(':') {
        Some((prefix, rest)) if prefix.trim_start().starts_with(['+', '^']) => rest,
        _ => line,
    };
    let value = value.trim().trim_matches('"').trim();
    let digits = value.trim_end_matches(['F', 'f']);
    ((18..=22).contains(&value.len())
        && !digits.is_empty()
        && digits.chars().all(|c| c.is_ascii_digit()))
    .then(|| digits.to_string())
}

/// The real transcripts, for each family's tests.
#[cfg(test)]
pub(crate) mod transcripts {
    use serde_json::Value;

    const JSON: &str = include_str!("../../../tests/vectors/modem_transcripts.json");

    /// Every model of `vendor` (as the JSON spells it).
    pub fn models(vendor: &str) -> Vec<Value> {
        let all: Value = serde_json::from_str(JSON).expect("transcripts are JSON");
        all["models"]
            .as_array()
            .expect("models")
            .iter()
            .filter(|m| m["vendor"].as_str() == Some(vendor))
            .cloned()
            .collect()
    }

    /// The URC lines recorded for `vendor`.
    pub fn urcs(vendor: &str) -> Vec<String> {
        models(vendor)
            .iter()
            .flat_map(|m| m["urcs"].as_array().cloned().unwrap_or_default())
            .filter_map(|u| u["urc"].as_str().map(str::to_string))
            .collect()
    }

    /// The first answer line of `command` in `vendor`'s transcripts.
    pub fn answer(vendor: &str, command: &str) -> Option<String> {
        models(vendor).iter().find_map(|m| {
            m["exchanges"].as_array()?.iter().find_map(|e| {
                (e["cmd"].as_str() == Some(command))
                    .then(|| e["response"][0].as_str().map(str::to_string))
                    .flatten()
            })
        })
    }

    /// Runs one line through the real parser with no command pending.
    pub fn parse_idle(line: &str) -> crate::at::parser::Urc {
        let mut parser = crate::at::parser::AtParser::new();
        parser.push(format!("\r\n{line}\r\n").as_bytes());
        match parser.next_event() {
            Some(crate::at::parser::AtEvent::Urc(urc)) => urc,
            other => panic!("{line:?} gave {other:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iccid_forms() {
        assert_eq!(
            parse_iccid("+CCID: \"89441000301234567890\"").as_deref(),
            Some("89441000301234567890")
        );
        assert_eq!(
            parse_iccid("^ICCID: 98681031098310243514").as_deref(),
            Some("98681031098310243514")
        );
        assert_eq!(
            parse_iccid("+QCCID: 8931440301234567890F").as_deref(),
            Some("8931440301234567890")
        );
        assert_eq!(
            parse_iccid("89441000301234567890").as_deref(),
            Some("89441000301234567890")
        );
        assert_eq!(parse_iccid("+CME ERROR: 10"), None);
        assert_eq!(parse_iccid("OK"), None);
    }

    #[test]
    fn detects_families() {
        assert_eq!(Vendor::from_manufacturer("huawei"), Vendor::Huawei);
        assert_eq!(Vendor::from_manufacturer("+CGMI: Quectel"), Vendor::Quectel);
        assert_eq!(
            Vendor::from_manufacturer("SIMCOM INCORPORATED"),
            Vendor::Simcom
        );
        assert_eq!(Vendor::from_manufacturer("ZTE CORPORATION"), Vendor::Zte);
        assert_eq!(
            Vendor::from_manufacturer("Nordic Semiconductor ASA"),
            Vendor::Nordic
        );
        assert_eq!(Vendor::from_manufacturer("Nokia"), Vendor::Generic);
    }

    #[test]
    fn direct_delivery_is_kept_from_zte_and_acknowledged_in_two_forms_elsewhere() {
        assert!(!Vendor::Zte.direct_delivery().allowed);
        for vendor in [
            Vendor::Generic,
            Vendor::Huawei,
            Vendor::Nordic,
            Vendor::Quectel,
        ] {
            let direct = vendor.direct_delivery();
            assert!(direct.allowed, "{vendor:?}");
            assert!(direct.acks.len() >= 2, "{vendor:?}: a fallback form");
            assert!(direct.acks.iter().all(|a| a.starts_with("AT+CNMA")));
        }
        assert_eq!(Vendor::Nordic.direct_delivery().acks[0], "AT+CNMA=1");
        assert!(Vendor::Nordic.direct_delivery().always_acks);
        assert!(!Vendor::Nordic.direct_delivery().falls_back);
        assert!(Vendor::Generic.direct_delivery().falls_back);
        assert_eq!(Vendor::Huawei.direct_delivery().acks[0], "AT+CNMA=0");
    }

    #[test]
    fn only_some_families_need_start_up_commands() {
        assert!(Vendor::Generic.startup_commands().is_empty());
        assert_eq!(Vendor::Generic.iccid_command(), "AT+CCID");
    }
}
