//! Knobs and faults tests turn, and what tests observe.

use std::time::Instant;

use super::*;

impl ModemCore {
    // ----------------------------------------------------------------------------------------
    // Knobs and faults.

    /// Network coverage on/off; registration URCs follow when enabled by `AT+CREG=n`.
    pub fn set_registered(&mut self, registered: bool, now: Instant) {
        self.registered = registered;
        self.refresh_registration(now);
    }

    /// `AT+CSQ` RSSI (0..31, 99).
    pub fn set_signal(&mut self, rssi: u8) {
        self.signal_rssi = rssi;
    }

    /// A hung firmware reads and discards everything and says nothing; clearing the hang
    /// forgets any half-typed line.
    pub fn set_hung(&mut self, hung: bool, now: Instant) {
        self.hung = hung;
        self.hang_reset_cures = false;
        self.hung_line.clear();
        self.line.clear();
        self.output.clear();
        self.urcs.clear();
        if !hung {
            self.process_network_queue(now);
        }
    }

    /// A hang that only `AT+CFUN=1,1` cures: everything else is read and discarded.
    pub fn set_hung_until_reset(&mut self, now: Instant) {
        self.set_hung(true, now);
        self.hang_reset_cures = true;
    }

    pub(super) fn feed_while_hung(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            if byte == b'\r' || byte == b'\n' {
                let line = String::from_utf8_lossy(&self.hung_line)
                    .trim()
                    .to_ascii_uppercase();
                self.hung_line.clear();
                if line.ends_with("AT+CFUN=1,1") {
                    self.commands_total += 1;
                    if self.commands.len() >= COMMAND_LOG_LIMIT {
                        self.commands.pop_front();
                    }
                    self.commands.push_back("AT+CFUN=1,1".to_string());
                    self.hung = false;
                    self.hang_reset_cures = false;
                    // No OK: the firmware is stuck; the reset itself still happens.
                    self.effects.push_back(Effect::Reset);
                    return;
                }
            } else if self.hung_line.len() < 64 {
                self.hung_line.push(byte);
            }
        }
    }

    /// Whether the modem is hung.
    pub fn is_hung(&self) -> bool {
        self.hung
    }

    /// Raw bytes on the line between two responses (line noise, a crashing firmware).
    pub fn inject_garbage(&mut self, bytes: &[u8]) {
        if self.powered && !self.hung {
            self.urcs.push_back(bytes.to_vec());
        }
    }

    /// The next `count` sends fail with `+CMS ERROR: <code>`.
    pub fn fail_next_sends(&mut self, count: u32, code: u16) {
        self.failing_sends
            .extend(std::iter::repeat_n(Some(code), count as usize));
    }

    /// After `ok` more successful sends, the next one fails with `+CMS ERROR: <code>`.
    pub fn fail_send_after(&mut self, ok: u32, code: u16) {
        self.failing_sends
            .extend(std::iter::repeat_n(None, ok as usize));
        self.failing_sends.push_back(Some(code));
    }

    /// The next `count` stored messages get no `+CMTI` (the daemon's sweep must find them).
    pub fn drop_next_cmti(&mut self, count: u32) {
        self.cmti_to_drop = self.cmti_to_drop.saturating_add(count);
    }

    /// A firmware that refuses `AT+CNMA` in every form (plain `ERROR`), as some do in PDU
    /// mode: the `+CMT` waits for an acknowledgement that never comes.
    pub fn refuse_acks(&mut self, refuse: bool) {
        self.acks_refused = refuse;
    }

    /// While on, an `AT+CNMA` line is lost on its way to the firmware: logged, never
    /// answered, never acknowledging (the host died or the line dropped it). Counted in
    /// [`ModemCore::acks_withheld`].
    pub fn withhold_acks(&mut self, withhold: bool) {
        self.acks_withheld_on = withhold;
    }

    /// `AT+CNMA` lines lost to [`ModemCore::withhold_acks`].
    pub fn acks_withheld(&self) -> u32 {
        self.acks_withheld
    }

    /// A `+CMT`/`+CDS` is out and waits for its `AT+CNMA`.
    pub fn is_awaiting_ack(&self) -> bool {
        self.awaiting_ack.is_some()
    }

    /// Locks the SIM behind `pin` now, as if a locked SIM had been inserted.
    pub fn require_pin(&mut self, pin: &str, now: Instant) {
        self.config.pin = Some(pin.to_string());
        self.pin_attempts_left = PIN_ATTEMPTS;
        self.sim_lock = SimLock::PinRequired;
        if self.powered {
            self.push_urc("+CPIN: SIM PIN");
        }
        self.refresh_registration(now);
    }

    /// The SIM lock state.
    pub fn sim_lock(&self) -> SimLock {
        self.sim_lock
    }

    /// Puts a message straight into a memory (a SIM filled before the daemon starts).
    pub fn preload(
        &mut self,
        memory: Memory,
        status: MessageStatus,
        pdu_hex: &str,
    ) -> Result<u32, StorageError> {
        let tpdu_len = tpdu_length_of(pdu_hex).ok_or(StorageError::InvalidIndex)?;
        self.store.store(memory, status, pdu_hex, tpdu_len)
    }

    // ----------------------------------------------------------------------------------------
    // Observation.

    /// Every stored message (`SM`, `ME`, `SR`).
    pub fn stored(&self) -> Vec<StoredMessage> {
        self.store.snapshot()
    }

    /// The last command lines received (up to 4096), oldest first.
    pub fn commands(&self) -> Vec<String> {
        self.commands.iter().cloned().collect()
    }

    /// Command lines received since creation.
    pub fn commands_total(&self) -> u64 {
        self.commands_total
    }

    /// PDUs accepted by the network from this modem (up to 4096), oldest first.
    pub fn sent_pdus(&self) -> Vec<SentPdu> {
        self.sent.iter().cloned().collect()
    }

    /// The current `+CNMI` setting.
    pub fn cnmi_setting(&self) -> CnmiSetting {
        self.settings.cnmi
    }

    /// Whether echo is on.
    pub fn echo_enabled(&self) -> bool {
        self.settings.echo
    }
}
