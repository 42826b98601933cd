//! The network side: registration, messages handed over by the network, timers.

use std::time::Instant;

use super::*;

impl ModemCore {
    // ----------------------------------------------------------------------------------------
    // Network side.

    /// `+CREG` `<stat>`: 1 registered, 2 searching (knob off), 0 radio off or SIM locked.
    pub fn registration_status(&self) -> u8 {
        if !self.powered || self.functionality != 1 || self.sim_lock != SimLock::Ready {
            0
        } else if self.registered {
            1
        } else {
            2
        }
    }

    pub(super) fn refresh_registration(&mut self, now: Instant) {
        let status = self.registration_status();
        if status != self.last_registration {
            self.last_registration = status;
            let modes = [
                ("+CREG", self.settings.creg_mode),
                ("+CGREG", self.settings.cgreg_mode),
                ("+CEREG", self.settings.cereg_mode),
            ];
            for (name, mode) in modes {
                if mode == 0 {
                    continue;
                }
                let mut line = format!("{name}: {status}");
                if mode == 2 && status == 1 {
                    line.push_str(&location_suffix(name));
                }
                self.push_urc(&line);
            }
        }
        self.process_network_queue(now);
    }

    /// The network hands over an SMS or status report. It is taken when the modem can
    /// receive (powered, registered, SIM ready, not hung, not waiting for an ack, room in the
    /// memory); until then the network keeps it, as a real SMSC retries.
    pub fn receive_from_network(&mut self, inbound: Inbound, now: Instant) {
        self.network_queue.push_back(inbound);
        self.process_network_queue(now);
    }

    /// Messages the network still holds for this modem.
    pub fn network_backlog(&self) -> usize {
        self.network_queue.len()
    }

    pub(super) fn process_network_queue(&mut self, now: Instant) {
        while let Some(inbound) = self.network_queue.front().cloned() {
            if self.hung || self.registration_status() != 1 || self.awaiting_ack.is_some() {
                return;
            }
            if !self.accept(inbound, now) {
                return;
            }
            self.network_queue.pop_front();
        }
    }

    /// Delivers one message according to `+CNMI`; `false` when it must stay queued.
    pub(super) fn accept(&mut self, inbound: Inbound, now: Instant) -> bool {
        let cnmi = self.settings.cnmi;
        let pdu_hex = inbound.pdu_hex().to_ascii_uppercase();
        let Some(tpdu_len) = tpdu_length_of(&pdu_hex) else {
            // Unusable PDU (only possible through inject_pdu): a network would drop it.
            return true;
        };
        let ack_needed = self.settings.csms_service == 1;
        match &inbound {
            Inbound::Deliver { receipt, .. } => {
                let receipt = *receipt;
                let memory = self.settings.storages[2];
                if !self.store.has_room(memory) {
                    return false;
                }
                if cnmi.mt == 2 && cnmi.mode != 0 {
                    self.urcs
                        .push_back(format!("\r\n+CMT: ,{tpdu_len}\r\n{pdu_hex}\r\n").into_bytes());
                    if ack_needed {
                        self.awaiting_ack = Some(AckWait {
                            inbound,
                            deadline: now + self.config.ack_timeout,
                        });
                    }
                    self.effects.extend(receipt.map(Effect::Delivered));
                    return true;
                }
                let Ok(index) =
                    self.store
                        .store(memory, MessageStatus::ReceivedUnread, &pdu_hex, tpdu_len)
                else {
                    return false;
                };
                if cnmi.mt != 0 {
                    if self.cmti_to_drop > 0 {
                        self.cmti_to_drop -= 1;
                    } else {
                        self.push_indication(format!("+CMTI: \"{memory}\",{index}"));
                    }
                }
                self.effects.extend(receipt.map(Effect::Delivered));
                true
            }
            Inbound::StatusReport { .. } => {
                if cnmi.ds == 1 && cnmi.mode != 0 {
                    self.urcs
                        .push_back(format!("\r\n+CDS: {tpdu_len}\r\n{pdu_hex}\r\n").into_bytes());
                    if ack_needed {
                        self.awaiting_ack = Some(AckWait {
                            inbound,
                            deadline: now + self.config.ack_timeout,
                        });
                    }
                    return true;
                }
                // A full SR memory loses the report, as on hardware.
                if let Ok(index) = self.store.store(
                    Memory::Sr,
                    MessageStatus::ReceivedUnread,
                    &pdu_hex,
                    tpdu_len,
                ) {
                    if cnmi.ds == 2 {
                        self.push_indication(format!("+CDSI: \"SR\",{index}"));
                    }
                }
                true
            }
        }
    }

    pub(super) fn store_without_indication(&mut self, inbound: &Inbound) {
        let pdu_hex = inbound.pdu_hex().to_ascii_uppercase();
        let Some(tpdu_len) = tpdu_length_of(&pdu_hex) else {
            return;
        };
        let memory = match inbound {
            Inbound::Deliver { .. } => self.settings.storages[2],
            Inbound::StatusReport { .. } => Memory::Sr,
        };
        // With no room the message is lost here; the network already counted it delivered.
        let _ = self
            .store
            .store(memory, MessageStatus::ReceivedUnread, &pdu_hex, tpdu_len);
    }

    /// The next moment [`ModemCore::handle_timeout`] must run, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.awaiting_ack.as_ref().map(|waiting| waiting.deadline)
    }

    /// Timers: a `+CMT`/`+CDS` not acknowledged in time is stored instead and routing to
    /// the host is switched off (`<mt>` and `<ds>` set to 0, TS 27.005 §3.4.1).
    pub fn handle_timeout(&mut self, now: Instant) {
        let expired = self
            .awaiting_ack
            .as_ref()
            .is_some_and(|waiting| waiting.deadline <= now);
        if !expired {
            return;
        }
        if let Some(waiting) = self.awaiting_ack.take() {
            self.store_without_indication(&waiting.inbound);
            self.settings.cnmi.mt = 0;
            self.settings.cnmi.ds = 0;
        }
        self.process_network_queue(now);
    }

    /// One period of vendor chatter: Huawei's `^RSSI` (and now and then `^MODE`, `^BOOT`,
    /// `^DSFLOWRPT`) unless `AT^CURC=0`.
    pub fn vendor_tick(&mut self) {
        if !self.powered || self.hung {
            return;
        }
        self.vendor_ticks += 1;
        if !self.settings.vendor_urcs {
            return;
        }
        let chatter =
            (self.config.personality.family().periodic_urcs)(self.vendor_ticks, self.signal_rssi);
        for urc in chatter {
            self.push_urc(&urc);
        }
    }
}
