//! What the daemon knows about one modem, and how that knowledge changes. Pure.

use serde::Serialize;

/// Where a modem is in its life, as shown to operators and used by the pool to pick a line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ModemState {
    /// Port open, initialisation running.
    Initialising,
    /// Registered and set up: can send and receive.
    Ready,
    /// No SIM inserted (or SIM failure).
    NoSim,
    /// The SIM asks for a PIN and none is configured (or it was rejected: never retried, to
    /// avoid locking the SIM with a PUK).
    PinRequired,
    /// The SIM is PUK-locked: needs a human.
    PukRequired,
    /// SIM ready but not registered on a network (searching, denied, no signal).
    NotRegistered,
    /// The port is gone or does not answer; the driver is reopening it with back-off.
    Offline,
}

impl ModemState {
    pub fn can_send(self) -> bool {
        self == ModemState::Ready
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ModemState::Initialising => "initialising",
            ModemState::Ready => "ready",
            ModemState::NoSim => "no_sim",
            ModemState::PinRequired => "pin_required",
            ModemState::PukRequired => "puk_required",
            ModemState::NotRegistered => "not_registered",
            ModemState::Offline => "offline",
        }
    }
}

/// A snapshot of one modem, published by its driver on every change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModemStatus {
    pub name: String,
    pub port: String,
    pub state: ModemState,
    /// Why the modem is not ready, in words an operator can act on.
    pub detail: Option<String>,
    /// This SIM's number (from config, else `AT+CNUM`).
    pub number: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub revision: Option<String>,
    pub imei: Option<String>,
    pub imsi: Option<String>,
    pub iccid: Option<String>,
    pub operator: Option<String>,
    /// `AT+CSQ` RSSI, 0..=31 (99 = unknown), as reported.
    pub signal_rssi: Option<u8>,
    /// Signal in dBm derived from the RSSI.
    pub signal_dbm: Option<i32>,
    /// Registration status words ("home", "roaming", "searching"…).
    pub registration: Option<String>,
    /// Parts sent since start.
    pub sent_parts: u64,
    /// Sends that ended in an error since start.
    pub send_failures: u64,
    /// Inbound messages handed to storage since start.
    pub received: u64,
    /// Times the port was (re)opened.
    pub opens: u64,
}

impl ModemStatus {
    pub fn new(name: &str, port: &str, number: Option<String>) -> Self {
        ModemStatus {
            name: name.to_string(),
            port: port.to_string(),
            state: ModemState::Offline,
            detail: None,
            number,
            manufacturer: None,
            model: None,
            revision: None,
            imei: None,
            imsi: None,
            iccid: None,
            operator: None,
            signal_rssi: None,
            signal_dbm: None,
            registration: None,
            sent_parts: 0,
            send_failures: 0,
            received: 0,
            opens: 0,
        }
    }

    pub fn set_signal(&mut self, rssi: u8) {
        self.signal_rssi = Some(rssi);
        self.signal_dbm = crate::at::response::rssi_to_dbm(rssi).map(i32::from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signal_in_dbm_follows_the_rssi() {
        let mut status = ModemStatus::new("m", "/dev/null", None);
        status.set_signal(31);
        assert_eq!(status.signal_dbm, Some(-51));
        status.set_signal(99);
        assert_eq!((status.signal_rssi, status.signal_dbm), (Some(99), None));
    }

    #[test]
    fn only_ready_sends() {
        assert!(ModemState::Ready.can_send());
        for s in [
            ModemState::Initialising,
            ModemState::NoSim,
            ModemState::PinRequired,
            ModemState::PukRequired,
            ModemState::NotRegistered,
            ModemState::Offline,
        ] {
            assert!(!s.can_send(), "{s:?}");
        }
    }
}
