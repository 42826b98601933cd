//! Knobs of one virtual modem.
//!
//! Everything has a default so that `SimModemConfig { number: "+1555…".into(), ..Default::default() }`
//! is a working modem; tests turn individual knobs to reproduce one vendor quirk at a time.

use std::time::Duration;

pub use super::personality::Personality;

/// The values accepted for each `AT+CNMI` parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CnmiRanges {
    /// `<mode>`: URC buffering.
    pub mode: Vec<u8>,
    /// `<mt>`: SMS-DELIVER indication (0 none, 1 `+CMTI`, 2 `+CMT`, 3 class 3 as `+CMT`).
    pub mt: Vec<u8>,
    /// `<bm>`: cell broadcast.
    pub bm: Vec<u8>,
    /// `<ds>`: status reports (0 none, 1 `+CDS`, 2 `+CDSI`).
    pub ds: Vec<u8>,
    /// `<bfr>`: what to do with buffered URCs when `<mode>` leaves 0.
    pub bfr: Vec<u8>,
}

impl CnmiRanges {
    /// The `+CNMI: (..),(..),..` line, written with ranges where the values are contiguous,
    /// the way most firmwares print it.
    pub fn to_test_response(&self) -> String {
        let lists: Vec<String> = [&self.mode, &self.mt, &self.bm, &self.ds, &self.bfr]
            .iter()
            .map(|values| format!("({})", format_value_list(values)))
            .collect();
        format!("+CNMI: {}", lists.join(","))
    }

    /// Whether a full setting is within the advertised ranges.
    pub fn allows(&self, setting: &CnmiSetting) -> bool {
        self.mode.contains(&setting.mode)
            && self.mt.contains(&setting.mt)
            && self.bm.contains(&setting.bm)
            && self.ds.contains(&setting.ds)
            && self.bfr.contains(&setting.bfr)
    }
}

/// `0,1,2,3` → `0-3`; `0,2` → `0,2`.
fn format_value_list(values: &[u8]) -> String {
    let contiguous = values.len() > 2 && values.windows(2).all(|pair| pair[1] == pair[0] + 1);
    match (contiguous, values.first(), values.last()) {
        (true, Some(first), Some(last)) => format!("{first}-{last}"),
        _ => values
            .iter()
            .map(|value| value.to_string())
            .collect::<Vec<_>>()
            .join(","),
    }
}

/// One `AT+CNMI=<mode>,<mt>,<bm>,<ds>,<bfr>` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CnmiSetting {
    /// `<mode>`: 0 buffers URCs inside the modem, 1..3 forwards them.
    pub mode: u8,
    /// `<mt>`: 0 store silently, 1 store + `+CMTI`, 2/3 route as `+CMT`.
    pub mt: u8,
    /// `<bm>`: cell broadcast routing (accepted, unused).
    pub bm: u8,
    /// `<ds>`: 0 store status reports silently, 1 route as `+CDS`, 2 store + `+CDSI`.
    pub ds: u8,
    /// `<bfr>`: 0 flush buffered URCs when `<mode>` becomes 1..3, 1 clear them.
    pub bfr: u8,
}

/// Configuration of one virtual modem. `Default` gives a registered Generic modem with echo on,
/// no PIN and a 2 s per-part send latency.
#[derive(Debug, Clone)]
pub struct SimModemConfig {
    /// Name of the port symlink inside the link directory (`sim1` → `<dir>/sim1`).
    pub name: String,
    /// The SIM's own number in E.164 (`+15550000001`); other modems and the world reach it there.
    pub number: String,
    /// Which vendor family to imitate.
    pub personality: Personality,
    /// Echo state after power-on (real modems boot with `E1`).
    pub echo: bool,
    /// How long the network takes to accept one SMS-SUBMIT part before `+CMGS:` comes back.
    pub send_latency: Duration,
    /// SIM PIN; `Some` means the SIM boots locked (`+CPIN: SIM PIN`) until `AT+CPIN="<pin>"`.
    pub pin: Option<String>,
    /// Whether the modem registers on the network after power-on.
    pub registered: bool,
    /// `AT+CSQ` RSSI (0..31, 99 unknown).
    pub signal_rssi: u8,
    /// `AT+CIMI`.
    pub imsi: String,
    /// `AT+CGSN`.
    pub imei: String,
    /// `AT+CCID` / `AT^ICCID?` / `AT+QCCID`.
    pub iccid: String,
    /// Operator name in `AT+COPS?`.
    pub operator: String,
    /// SIM (`SM`) capacity in messages.
    pub sim_capacity: usize,
    /// Phone memory (`ME`) capacity in messages.
    pub phone_capacity: usize,
    /// Status-report memory (`SR`) capacity.
    pub status_report_capacity: usize,
    /// Overrides the personality's `AT+CNMI=?` ranges (to reproduce one specific firmware).
    pub cnmi_ranges: Option<CnmiRanges>,
    /// How long a `+CMT`/`+CDS` waits for `AT+CNMA` (when `AT+CSMS=1` asks for acks) before the
    /// modem falls back to storing it, as 3GPP TS 27.005 §3.4.1 describes.
    pub ack_timeout: Duration,
    /// Period of vendor URCs (Huawei `^RSSI` and friends). `None` turns them off.
    pub vendor_urc_interval: Option<Duration>,
    /// How long the port stays away after `AT+CFUN=1,1` before it re-enumerates.
    pub reset_delay: Duration,
}

impl Default for SimModemConfig {
    fn default() -> Self {
        SimModemConfig {
            name: "sim1".to_string(),
            number: "+15550000001".to_string(),
            personality: Personality::Generic,
            echo: true,
            send_latency: Duration::from_secs(2),
            pin: None,
            registered: true,
            signal_rssi: 20,
            imsi: "310260000000001".to_string(),
            imei: "356938035643809".to_string(),
            iccid: "8901260000000000001".to_string(),
            operator: "SimNet".to_string(),
            sim_capacity: 30,
            phone_capacity: 100,
            status_report_capacity: 20,
            cnmi_ranges: None,
            ack_timeout: Duration::from_secs(15),
            vendor_urc_interval: Some(Duration::from_secs(5)),
            reset_delay: Duration::from_millis(500),
        }
    }
}

impl SimModemConfig {
    /// A config for modem `index` (1-based) with a distinct name, number, IMSI, IMEI and ICCID,
    /// as `simgate run --simulate N` needs.
    pub fn numbered(index: u32) -> Self {
        SimModemConfig {
            name: format!("sim{index}"),
            number: format!("+1555000{index:04}"),
            imsi: format!("31026{index:010}"),
            imei: format!("35693803{index:07}"),
            iccid: format!("89012600000{index:08}"),
            ..SimModemConfig::default()
        }
    }

    /// The `AT+CNMI=?` ranges in force: the override, else the personality's.
    pub fn effective_cnmi_ranges(&self) -> CnmiRanges {
        self.cnmi_ranges
            .clone()
            .unwrap_or_else(|| self.personality.cnmi_ranges())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cnmi_test_response_uses_ranges_only_for_contiguous_runs() {
        assert_eq!(
            Personality::Generic.cnmi_ranges().to_test_response(),
            "+CNMI: (0-3),(0-3),(0-3),(0-2),(0,1)"
        );
        assert_eq!(
            Personality::Zte.cnmi_ranges().to_test_response(),
            "+CNMI: (0-2),(0,1),(0,2),(0,2),(0,1)"
        );
    }

    #[test]
    fn numbered_configs_differ() {
        let first = SimModemConfig::numbered(1);
        let second = SimModemConfig::numbered(2);
        assert_eq!(first.name, "sim1");
        assert_eq!(first.number, "+15550000001");
        assert_ne!(first.number, second.number);
        assert_ne!(first.imei, second.imei);
        assert_eq!(first.imei.len(), 15);
        assert_eq!(first.imsi.len(), 15);
    }

    #[test]
    fn boot_cnmi_is_within_the_advertised_ranges() {
        for personality in Personality::ALL {
            assert!(personality.cnmi_ranges().allows(&personality.boot_cnmi()));
        }
    }
}
