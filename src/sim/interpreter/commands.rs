//! The AT commands the virtual modem knows: identity, SIM, network, SMS set-up, messages.

use std::time::Instant;

use super::*;

impl ModemCore {
    pub(super) fn execute(&mut self, command: &Command, now: Instant) -> CommandResult {
        let name = command.name.as_str();
        if let Some(failure) = self.sim_gate(name) {
            return Err(failure);
        }
        let personality = self.config.personality;
        let family = personality.family();
        match (name, &command.kind) {
            // Basic commands.
            ("E", CommandKind::Execute(value)) => {
                self.settings.echo = match value.as_str() {
                    "" | "0" => false,
                    "1" => true,
                    _ => return Err(Failure::Error),
                };
                done()
            }
            ("V", CommandKind::Execute(value)) if value.is_empty() || value == "1" => done(),
            ("Q", CommandKind::Execute(value)) if value.is_empty() || value == "0" => done(),
            ("Z" | "&F", CommandKind::Execute(_)) => {
                self.settings = Settings::power_on(&self.config);
                done()
            }
            ("I", CommandKind::Execute(_)) => Ok(Step::Done(vec![
                format!("Manufacturer: {}", personality.manufacturer()),
                format!("Model: {}", personality.model()),
                format!("Revision: {}", personality.revision()),
                format!("IMEI: {}", self.config.imei),
            ])),
            ("&C" | "&D" | "&W" | "X" | "L" | "M", CommandKind::Execute(_)) => done(),
            (register, CommandKind::Read) if is_s_register(register) => lines(["000"]),
            (register, _) if is_s_register(register) => done(),

            // Error reporting and identity.
            ("+CMEE", kind) => {
                let value = &mut self.settings.cmee;
                small_setting(kind, "+CMEE", value, 2, "(0-2)")
            }
            ("+CGMI" | "+GMI", CommandKind::Execute(_)) => lines([personality.manufacturer()]),
            ("+CGMM" | "+GMM", CommandKind::Execute(_)) => lines([personality.model()]),
            ("+CGMR" | "+GMR", CommandKind::Execute(_)) => lines([personality.revision()]),
            ("+CGSN" | "+GSN", CommandKind::Execute(_)) => lines([self.config.imei.as_str()]),
            (
                "+CGMI" | "+GMI" | "+CGMM" | "+GMM" | "+CGMR" | "+GMR" | "+CGSN" | "+GSN",
                CommandKind::Test,
            ) => done(),
            ("+CIMI", CommandKind::Execute(_)) => lines([self.config.imsi.as_str()]),
            ("+GCAP", CommandKind::Execute(_)) => lines(["+GCAP: +CGSM,+DS,+ES"]),
            (_, CommandKind::Execute(_) | CommandKind::Read)
                if family.iccid_prefix(name).is_some() =>
            {
                let prefix = family.iccid_prefix(name).unwrap_or_default();
                Ok(Step::Done(vec![format!("{prefix}{}", self.config.iccid)]))
            }
            ("+CNUM", CommandKind::Execute(_)) => {
                let number = self.config.number.clone();
                if number.is_empty() {
                    return done();
                }
                let type_of_number = if number.starts_with('+') { 145 } else { 129 };
                Ok(Step::Done(vec![format!(
                    "+CNUM: \"\",\"{number}\",{type_of_number}"
                )]))
            }

            // SIM and power.
            ("+CPIN", kind) => self.cpin(kind, now),
            ("+CFUN", kind) => self.cfun(kind, now),

            // Network.
            ("+CSQ", CommandKind::Execute(_)) => {
                Ok(Step::Done(vec![format!("+CSQ: {},99", self.signal_rssi)]))
            }
            ("+CSQ", CommandKind::Test) => lines(["+CSQ: (0-31,99),(0-7,99)"]),
            ("+CREG" | "+CGREG" | "+CEREG", kind) => self.registration_command(name, kind),
            ("+COPS", CommandKind::Read) => {
                if self.registration_status() == 1 {
                    Ok(Step::Done(vec![format!(
                        "+COPS: 0,0,\"{}\",7",
                        self.config.operator
                    )]))
                } else {
                    lines(["+COPS: 0"])
                }
            }
            ("+COPS", CommandKind::Test) => Ok(Step::Done(vec![format!(
                "+COPS: (2,\"{0}\",\"{0}\",\"00101\",7),,(0-4),(0-2)",
                self.config.operator
            )])),
            ("+COPS", CommandKind::Set(_) | CommandKind::Execute(_)) => done(),

            // SMS configuration.
            ("+CMGF", CommandKind::Set(args)) => match args.trim() {
                "0" => {
                    self.settings.text_mode = false;
                    done()
                }
                "1" => {
                    self.settings.text_mode = true;
                    done()
                }
                _ => Err(Failure::Cms(303)),
            },
            ("+CMGF", CommandKind::Read) => Ok(Step::Done(vec![format!(
                "+CMGF: {}",
                u8::from(self.settings.text_mode)
            )])),
            ("+CMGF", CommandKind::Test) => lines(["+CMGF: (0-1)"]),
            ("+CSCA", CommandKind::Read) => {
                if self.smsc.is_empty() {
                    return Err(Failure::Cms(330));
                }
                let type_of_number = if self.smsc.starts_with('+') { 145 } else { 129 };
                Ok(Step::Done(vec![format!(
                    "+CSCA: \"{}\",{type_of_number}",
                    self.smsc
                )]))
            }
            ("+CSCA", CommandKind::Set(args)) => {
                let arguments = split_arguments(args);
                match arguments.first() {
                    Some(number) if !number.is_empty() => {
                        self.smsc = number.clone();
                        done()
                    }
                    _ => Err(Failure::Cms(304)),
                }
            }
            ("+CSMS", kind) => self.csms(kind),
            ("+CPMS", kind) => self.cpms(kind),
            ("+CNMI", kind) => self.cnmi(kind),
            ("+CNMA", CommandKind::Execute(_) | CommandKind::Set(_)) => {
                if self.acks_refused {
                    Err(Failure::Error)
                } else if self.awaiting_ack.take().is_some() {
                    self.process_network_queue(now);
                    done()
                } else {
                    Err(Failure::Cms(340))
                }
            }
            ("+CNMA", CommandKind::Test) => lines(["+CNMA: (0-2)"]),
            ("+CSCS", CommandKind::Read) => lines(["+CSCS: \"GSM\""]),
            ("+CSCS", CommandKind::Test) => lines(["+CSCS: (\"GSM\",\"IRA\",\"UCS2\")"]),
            (
                "+CSCS" | "+CSMP" | "+CSDH" | "+CMMS" | "+CGSMS" | "+CVHU" | "+IFC" | "+IPR"
                | "+CLIP" | "+CRC" | "+CSCB" | "+CGEREP" | "+CTZU" | "+CTZR",
                CommandKind::Set(_) | CommandKind::Test,
            ) => done(),

            // Messages.
            ("+CMGS", CommandKind::Set(args)) => {
                if self.settings.text_mode {
                    return Err(Failure::Cms(302));
                }
                match args.trim().parse::<usize>() {
                    Ok(length) if (1..=255).contains(&length) => Ok(Step::Prompt(length)),
                    _ => Err(Failure::Cms(304)),
                }
            }
            ("+CMGS", CommandKind::Test) => done(),
            ("+CMGR", CommandKind::Set(args)) => self.cmgr(args),
            ("+CMGR", CommandKind::Test) => done(),
            ("+CMGL", CommandKind::Execute(_)) => self.cmgl("0"),
            ("+CMGL", CommandKind::Set(args)) => self.cmgl(args),
            ("+CMGL", CommandKind::Test) => lines(["+CMGL: (0-4)"]),
            ("+CMGD", CommandKind::Set(args)) => self.cmgd(args, now),
            ("+CMGD", CommandKind::Test) => {
                let used: Vec<String> = self
                    .store
                    .list(self.settings.storages[0], None, false)
                    .iter()
                    .map(|message| message.index.to_string())
                    .collect();
                Ok(Step::Done(vec![format!(
                    "+CMGD: ({}),(0-4)",
                    used.join(",")
                )]))
            }

            // Vendor commands.
            ("^CURC", kind) if family.has_curc => {
                let mut value = u8::from(self.settings.vendor_urcs);
                let result = small_setting(kind, "^CURC", &mut value, 1, "(0-1)");
                self.settings.vendor_urcs = value == 1;
                result
            }
            (_, CommandKind::Read) if family.fixed_read(name).is_some() => {
                lines([family.fixed_read(name).unwrap_or_default()])
            }
            _ => Err(Failure::Unknown),
        }
    }

    /// Commands that need an unlocked SIM answer `SIM PIN required` while it is locked:
    /// `+CMS ERROR: 311` for SMS commands, `+CME ERROR: 11` for the others (PUK: 316/12).
    pub(super) fn sim_gate(&self, name: &str) -> Option<Failure> {
        if self.sim_lock == SimLock::Ready {
            return None;
        }
        let allowed_without_sim = matches!(
            name,
            "E" | "V"
                | "Q"
                | "Z"
                | "&F"
                | "I"
                | "&C"
                | "&D"
                | "&W"
                | "X"
                | "L"
                | "M"
                | "+CMEE"
                | "+CGMI"
                | "+GMI"
                | "+CGMM"
                | "+GMM"
                | "+CGMR"
                | "+GMR"
                | "+CGSN"
                | "+GSN"
                | "+GCAP"
                | "+CPIN"
                | "+CFUN"
                | "+CSQ"
                | "+CREG"
                | "+CGREG"
                | "+CEREG"
                | "+COPS"
                | "^CURC"
                | "+IFC"
                | "+IPR"
                | "+CSCS"
        ) || is_s_register(name)
            || self
                .config
                .personality
                .family()
                .iccid_prefix(name)
                .is_some();
        if allowed_without_sim {
            return None;
        }
        let puk = self.sim_lock == SimLock::PukRequired;
        let sms_command = name.starts_with("+CMG")
            || matches!(
                name,
                "+CPMS" | "+CNMI" | "+CSCA" | "+CNMA" | "+CSMS" | "+CSMP"
            );
        Some(match (sms_command, puk) {
            (true, false) => Failure::Cms(311),
            (true, true) => Failure::Cms(316),
            (false, false) => Failure::Cme(11),
            (false, true) => Failure::Cme(12),
        })
    }

    pub(super) fn cpin(&mut self, kind: &CommandKind, now: Instant) -> CommandResult {
        match kind {
            CommandKind::Read => lines([match self.sim_lock {
                SimLock::Ready => "+CPIN: READY",
                SimLock::PinRequired => "+CPIN: SIM PIN",
                SimLock::PukRequired => "+CPIN: SIM PUK",
            }]),
            CommandKind::Test => done(),
            CommandKind::Set(args) => {
                let arguments = split_arguments(args);
                let first = arguments.first().cloned().unwrap_or_default();
                match self.sim_lock {
                    SimLock::Ready => Err(Failure::Cme(3)),
                    SimLock::PinRequired => {
                        if Some(first.as_str()) == self.config.pin.as_deref() {
                            self.pin_attempts_left = PIN_ATTEMPTS;
                            self.unlock_sim(now);
                            done()
                        } else {
                            self.pin_attempts_left = self.pin_attempts_left.saturating_sub(1);
                            if self.pin_attempts_left == 0 {
                                self.sim_lock = SimLock::PukRequired;
                            }
                            Err(Failure::Cme(16))
                        }
                    }
                    SimLock::PukRequired => match arguments.get(1) {
                        Some(new_pin) if first == SIM_PUK && !new_pin.is_empty() => {
                            self.config.pin = Some(new_pin.clone());
                            self.pin_attempts_left = PIN_ATTEMPTS;
                            self.unlock_sim(now);
                            done()
                        }
                        _ => Err(Failure::Cme(16)),
                    },
                }
            }
            CommandKind::Execute(_) => Err(Failure::Cme(50)),
        }
    }

    pub(super) fn unlock_sim(&mut self, now: Instant) {
        self.sim_lock = SimLock::Ready;
        if self.config.personality.family().announces_sim {
            self.announce_sim_state();
        }
        self.refresh_registration(now);
    }

    /// `+CPIN:` and, once the SIM is readable, the "SMS DONE" URCs of Quectel and SIMCom.
    pub(super) fn announce_sim_state(&mut self) {
        match self.sim_lock {
            SimLock::Ready => self.push_urc("+CPIN: READY"),
            SimLock::PinRequired => self.push_urc("+CPIN: SIM PIN"),
            SimLock::PukRequired => self.push_urc("+CPIN: SIM PUK"),
        }
        if self.sim_lock != SimLock::Ready {
            return;
        }
        for urc in self.config.personality.family().sim_ready_urcs {
            self.push_urc(urc);
        }
    }

    pub(super) fn cfun(&mut self, kind: &CommandKind, now: Instant) -> CommandResult {
        match kind {
            CommandKind::Read => Ok(Step::Done(vec![format!("+CFUN: {}", self.functionality)])),
            CommandKind::Test => lines(["+CFUN: (0,1,4),(0-1)"]),
            CommandKind::Set(args) => {
                let arguments = split_arguments(args);
                let level = arguments.first().and_then(|value| value.parse::<u8>().ok());
                let reset = arguments.get(1).map(String::as_str);
                match (level, reset) {
                    (Some(0 | 1 | 4), Some("1")) => Ok(Step::ResetAfterOk),
                    (Some(level @ (0 | 1 | 4)), None | Some("0")) => {
                        self.functionality = level;
                        self.refresh_registration(now);
                        done()
                    }
                    _ => Err(Failure::Cme(50)),
                }
            }
            CommandKind::Execute(_) => Err(Failure::Cme(50)),
        }
    }

    pub(super) fn registration_command(&mut self, name: &str, kind: &CommandKind) -> CommandResult {
        let mode = match name {
            "+CREG" => self.settings.creg_mode,
            "+CGREG" => self.settings.cgreg_mode,
            _ => self.settings.cereg_mode,
        };
        match kind {
            CommandKind::Read => {
                let status = self.registration_status();
                let mut line = format!("{name}: {mode},{status}");
                if mode == 2 && matches!(status, 1 | 5) {
                    line.push_str(&location_suffix(name));
                }
                Ok(Step::Done(vec![line]))
            }
            CommandKind::Test => Ok(Step::Done(vec![format!("{name}: (0-2)")])),
            CommandKind::Set(args) => {
                let value = match args.trim().parse::<u8>() {
                    Ok(value @ 0..=2) => value,
                    _ => return Err(Failure::Cme(50)),
                };
                match name {
                    "+CREG" => self.settings.creg_mode = value,
                    "+CGREG" => self.settings.cgreg_mode = value,
                    _ => self.settings.cereg_mode = value,
                }
                done()
            }
            CommandKind::Execute(_) => Err(Failure::Cme(50)),
        }
    }

    pub(super) fn csms(&mut self, kind: &CommandKind) -> CommandResult {
        match kind {
            CommandKind::Read => Ok(Step::Done(vec![format!(
                "+CSMS: {},1,1,1",
                self.settings.csms_service
            )])),
            CommandKind::Test => lines(["+CSMS: (0-1)"]),
            CommandKind::Set(args) => match args.trim() {
                "0" | "1" => {
                    self.settings.csms_service = u8::from(args.trim() == "1");
                    lines(["+CSMS: 1,1,1"])
                }
                _ => Err(Failure::Cms(303)),
            },
            CommandKind::Execute(_) => Err(Failure::Cms(304)),
        }
    }

    pub(super) fn cpms(&mut self, kind: &CommandKind) -> CommandResult {
        match kind {
            CommandKind::Test => lines([
                "+CPMS: (\"SM\",\"ME\",\"MT\",\"SR\"),(\"SM\",\"ME\",\"MT\"),(\"SM\",\"ME\",\"MT\")",
            ]),
            CommandKind::Read => {
                let parts: Vec<String> = self
                    .settings
                    .storages
                    .iter()
                    .map(|memory| {
                        format!(
                            "\"{memory}\",{},{}",
                            self.store.used(*memory),
                            self.store.capacity(*memory)
                        )
                    })
                    .collect();
                Ok(Step::Done(vec![format!("+CPMS: {}", parts.join(","))]))
            }
            CommandKind::Set(args) => {
                let arguments = split_arguments(args);
                if arguments.is_empty() || arguments.len() > 3 {
                    return Err(Failure::Cms(302));
                }
                let mut chosen = self.settings.storages;
                for (position, argument) in arguments.iter().enumerate() {
                    let memory = Memory::parse(argument).ok_or(Failure::Cms(302))?;
                    if position > 0 && memory == Memory::Sr {
                        return Err(Failure::Cms(302));
                    }
                    if let Some(slot) = chosen.get_mut(position) {
                        *slot = memory;
                    }
                }
                self.settings.storages = chosen;
                let counts: Vec<String> = chosen
                    .iter()
                    .map(|memory| {
                        format!(
                            "{},{}",
                            self.store.used(*memory),
                            self.store.capacity(*memory)
                        )
                    })
                    .collect();
                Ok(Step::Done(vec![format!("+CPMS: {}", counts.join(","))]))
            }
            CommandKind::Execute(_) => Err(Failure::Cms(302)),
        }
    }

    pub(super) fn cnmi(&mut self, kind: &CommandKind) -> CommandResult {
        match kind {
            CommandKind::Test => Ok(Step::Done(vec![self.cnmi_ranges.to_test_response()])),
            CommandKind::Read => {
                let cnmi = self.settings.cnmi;
                Ok(Step::Done(vec![format!(
                    "+CNMI: {},{},{},{},{}",
                    cnmi.mode, cnmi.mt, cnmi.bm, cnmi.ds, cnmi.bfr
                )]))
            }
            CommandKind::Set(args) => {
                let arguments = split_arguments(args);
                if arguments.len() > 5 {
                    return Err(Failure::Cms(303));
                }
                let mut values = [
                    self.settings.cnmi.mode,
                    self.settings.cnmi.mt,
                    self.settings.cnmi.bm,
                    self.settings.cnmi.ds,
                    self.settings.cnmi.bfr,
                ];
                for (slot, argument) in values.iter_mut().zip(arguments.iter()) {
                    if argument.is_empty() {
                        continue;
                    }
                    *slot = argument.parse::<u8>().map_err(|_| Failure::Cms(303))?;
                }
                let [mode, mt, bm, ds, bfr] = values;
                let wanted = CnmiSetting {
                    mode,
                    mt,
                    bm,
                    ds,
                    bfr,
                };
                if !self.cnmi_ranges.allows(&wanted) {
                    return Err(Failure::Cms(303));
                }
                let was_buffering = self.settings.cnmi.mode == 0;
                self.settings.cnmi = wanted;
                if was_buffering && wanted.mode != 0 {
                    let buffered = std::mem::take(&mut self.buffered_indications);
                    if wanted.bfr == 0 {
                        self.urcs.extend(buffered);
                    }
                }
                done()
            }
            CommandKind::Execute(_) => Err(Failure::Cms(303)),
        }
    }

    pub(super) fn cmgr(&mut self, args: &str) -> CommandResult {
        if self.settings.text_mode {
            return Err(Failure::Cms(302));
        }
        let index = args.trim().parse::<u32>().map_err(|_| Failure::Cms(321))?;
        let memory = self.settings.storages[0];
        match self.store.read(memory, index, true) {
            Ok(Some(message)) => Ok(Step::Done(vec![
                format!("+CMGR: {},,{}", message.status.code(), message.tpdu_len),
                message.pdu_hex,
            ])),
            // Huawei answers a bare OK for an empty slot; others report an invalid index.
            Ok(None) if self.config.personality.family().empty_read_is_ok => done(),
            Ok(None) | Err(StorageError::InvalidIndex) | Err(StorageError::Full) => {
                Err(Failure::Cms(321))
            }
        }
    }

    pub(super) fn cmgl(&mut self, args: &str) -> CommandResult {
        if self.settings.text_mode {
            return Err(Failure::Cms(302));
        }
        let status = match args.trim().parse::<u8>() {
            Ok(4) => None,
            Ok(code) => Some(MessageStatus::from_code(code).ok_or(Failure::Cms(303))?),
            Err(_) => return Err(Failure::Cms(303)),
        };
        let memory = self.settings.storages[0];
        let mut listing = Vec::new();
        for message in self.store.list(memory, status, true) {
            listing.push(format!(
                "+CMGL: {},{},,{}",
                message.index,
                message.status.code(),
                message.tpdu_len
            ));
            listing.push(message.pdu_hex);
        }
        Ok(Step::Done(listing))
    }

    pub(super) fn cmgd(&mut self, args: &str, now: Instant) -> CommandResult {
        let arguments = split_arguments(args);
        let index = arguments
            .first()
            .and_then(|value| value.parse::<u32>().ok())
            .ok_or(Failure::Cms(321))?;
        let flag = match arguments.get(1) {
            None => 0,
            Some(value) => match value.parse::<u8>() {
                Ok(flag @ 0..=4) => flag,
                _ => return Err(Failure::Cms(303)),
            },
        };
        let memory = self.settings.storages[0];
        if flag == 0 {
            self.store
                .delete(memory, index)
                .map_err(|_| Failure::Cms(321))?;
        } else {
            self.store.delete_by_flag(memory, flag);
        }
        // Space was freed: the network may hand over messages it held back.
        self.process_network_queue(now);
        done()
    }
}
