//! Vendor habits, kept apart from the generic driver as ModemManager keeps its plugins.
//!
//! The generic 3GPP TS 27.005/27.007 path works on every modem; a vendor only adds set-up
//! commands that quiet chatty URCs or enable SMS routing its firmware needs.

/// Modem families with habits worth knowing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Vendor {
    Huawei,
    Quectel,
    Simcom,
    Zte,
    Telit,
    Sierra,
    Generic,
}

impl Vendor {
    /// From the `AT+CGMI` answer (case and decoration vary: "huawei", "Quectel", "SIMCOM INCORPORATED").
    pub fn from_manufacturer(manufacturer: &str) -> Vendor {
        let m = manufacturer.to_ascii_lowercase();
        if m.contains("huawei") {
            Vendor::Huawei
        } else if m.contains("quectel") {
            Vendor::Quectel
        } else if m.contains("simcom") {
            Vendor::Simcom
        } else if m.contains("zte") {
            Vendor::Zte
        } else if m.contains("telit") {
            Vendor::Telit
        } else if m.contains("sierra") {
            Vendor::Sierra
        } else {
            Vendor::Generic
        }
    }

    /// Extra set-up commands, sent after the generic ones; failures are tolerated.
    pub fn extra_init(self) -> &'static [&'static str] {
        match self {
            // ^RSSI/^MODE/^BOOT/^DSFLOWRPT flood the port every few seconds otherwise.
            Vendor::Huawei => &["AT^CURC=0"],
            // URCs on the AT port, not the modem's other interfaces.
            Vendor::Quectel => &["AT+QURCCFG=\"urcport\",\"usbat\""],
            _ => &[],
        }
    }

    /// The command that reads the SIM's ICCID on this family (`AT+CCID` is not universal).
    pub fn iccid_command(self) -> &'static str {
        match self {
            Vendor::Huawei => "AT^ICCID?",
            Vendor::Quectel => "AT+QCCID",
            Vendor::Simcom => "AT+CICCID",
            _ => "AT+CCID",
        }
    }
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

#[cfg(test)]
mod tests {
    #[test]
    fn iccid_forms() {
        use super::parse_iccid;
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

    use super::*;

    #[test]
    fn detects_families() {
        assert_eq!(Vendor::from_manufacturer("huawei"), Vendor::Huawei);
        assert_eq!(Vendor::from_manufacturer("+CGMI: Quectel"), Vendor::Quectel);
        assert_eq!(
            Vendor::from_manufacturer("SIMCOM INCORPORATED"),
            Vendor::Simcom
        );
        assert_eq!(Vendor::from_manufacturer("ZTE CORPORATION"), Vendor::Zte);
        assert_eq!(Vendor::from_manufacturer("Nokia"), Vendor::Generic);
    }

    #[test]
    fn huawei_quiets_its_urcs() {
        assert!(Vendor::Huawei.extra_init().contains(&"AT^CURC=0"));
        assert!(Vendor::Generic.extra_init().is_empty());
    }
}
