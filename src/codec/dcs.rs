//! TP-Data-Coding-Scheme (3GPP TS 23.038 §4): alphabet, message class,
//! compression and message-waiting groups.

use super::Encoding;

/// Message class, which tells the phone where to put the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MessageClass {
    /// Class 0: show immediately ("flash SMS"), do not store.
    Flash,
    /// Class 1: default, store in the phone.
    MobileEquipment,
    /// Class 2: store on the SIM.
    Sim,
    /// Class 3: hand to the terminal equipment.
    TerminalEquipment,
}

impl MessageClass {
    fn from_bits(bits: u8) -> MessageClass {
        match bits & 0x03 {
            0 => MessageClass::Flash,
            1 => MessageClass::MobileEquipment,
            2 => MessageClass::Sim,
            _ => MessageClass::TerminalEquipment,
        }
    }

    /// The class number 0..=3.
    pub fn number(self) -> u8 {
        match self {
            MessageClass::Flash => 0,
            MessageClass::MobileEquipment => 1,
            MessageClass::Sim => 2,
            MessageClass::TerminalEquipment => 3,
        }
    }
}

/// What kind of message is waiting, per the message-waiting DCS groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WaitingKind {
    /// Voicemail.
    Voicemail,
    /// Fax.
    Fax,
    /// E-mail.
    Email,
    /// Anything else.
    Other,
}

/// Message-waiting indication carried in the DCS (groups 1100-1110).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MessageWaiting {
    /// True sets the indicator, false clears it.
    pub active: bool,
    /// Which indicator.
    pub kind: WaitingKind,
    /// False for the "discard message" group: the text need not be kept.
    pub store: bool,
}

/// A decoded TP-DCS octet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DataCoding {
    /// The octet as received.
    pub raw: u8,
    /// Alphabet of the user data. Reserved codings read as GSM 7-bit, as
    /// TS 23.038 asks.
    pub encoding: Encoding,
    /// Message class, when the DCS gives one.
    pub class: Option<MessageClass>,
    /// The text is compressed (TS 23.042); it is then not decoded as text.
    pub compressed: bool,
    /// Automatic deletion group (01xx): delete after reading.
    pub auto_delete: bool,
    /// Message-waiting indication, for groups 1100-1110.
    pub message_waiting: Option<MessageWaiting>,
}

impl DataCoding {
    /// Decodes a DCS octet. Every value maps to something: unknown groups are
    /// treated as GSM 7-bit, per TS 23.038.
    pub fn from_octet(raw: u8) -> DataCoding {
        let mut dcs = DataCoding {
            raw,
            encoding: Encoding::Gsm7,
            class: None,
            compressed: false,
            auto_delete: false,
            message_waiting: None,
        };
        match raw >> 4 {
            // General data coding (00xx) and automatic deletion (01xx).
            0x0..=0x7 => {
                dcs.auto_delete = raw & 0x40 != 0;
                dcs.compressed = raw & 0x20 != 0;
                if raw & 0x10 != 0 {
                    dcs.class = Some(MessageClass::from_bits(raw));
                }
                dcs.encoding = match (raw >> 2) & 0x03 {
                    1 => Encoding::EightBit,
                    2 => Encoding::Ucs2,
                    _ => Encoding::Gsm7,
                };
            }
            // Reserved groups 1000-1011: GSM 7-bit.
            0x8..=0xB => {}
            // Message waiting: discard (GSM 7), store (GSM 7), store (UCS-2).
            group @ 0xC..=0xE => {
                dcs.message_waiting = Some(MessageWaiting {
                    active: raw & 0x08 != 0,
                    kind: match raw & 0x03 {
                        0 => WaitingKind::Voicemail,
                        1 => WaitingKind::Fax,
                        2 => WaitingKind::Email,
                        _ => WaitingKind::Other,
                    },
                    store: group != 0xC,
                });
                if group == 0xE {
                    dcs.encoding = Encoding::Ucs2;
                }
            }
            // Data coding / message class (1111).
            _ => {
                dcs.class = Some(MessageClass::from_bits(raw));
                if raw & 0x04 != 0 {
                    dcs.encoding = Encoding::EightBit;
                }
            }
        }
        dcs
    }

    /// The DCS octet an encoder uses for plain text in `encoding`.
    pub fn octet_for(encoding: Encoding) -> u8 {
        match encoding {
            Encoding::Gsm7 => 0x00,
            Encoding::EightBit => 0x04,
            Encoding::Ucs2 => 0x08,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups() {
        let d = DataCoding::from_octet(0x00);
        assert_eq!((d.encoding, d.class), (Encoding::Gsm7, None));
        let d = DataCoding::from_octet(0x08);
        assert_eq!(d.encoding, Encoding::Ucs2);
        let d = DataCoding::from_octet(0xF4);
        assert_eq!(
            (d.encoding, d.class),
            (Encoding::EightBit, Some(MessageClass::Flash))
        );
        let d = DataCoding::from_octet(0xF1);
        assert_eq!(
            (d.encoding, d.class),
            (Encoding::Gsm7, Some(MessageClass::MobileEquipment))
        );
        let d = DataCoding::from_octet(0x10);
        assert_eq!(d.class, Some(MessageClass::Flash));
        let d = DataCoding::from_octet(0xC8);
        assert_eq!(
            d.message_waiting,
            Some(MessageWaiting {
                active: true,
                kind: WaitingKind::Voicemail,
                store: false
            })
        );
        let d = DataCoding::from_octet(0xE9);
        assert_eq!(d.encoding, Encoding::Ucs2);
        assert_eq!(d.message_waiting.map(|m| m.kind), Some(WaitingKind::Fax));
        let d = DataCoding::from_octet(0x24);
        assert!(d.compressed);
        let d = DataCoding::from_octet(0x48);
        assert!(d.auto_delete);
        assert_eq!(d.encoding, Encoding::Ucs2);
    }
}
