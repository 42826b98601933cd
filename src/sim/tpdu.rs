//! The few TPDU operations a network element needs without understanding text: check that an
//! SMS-SUBMIT is well-formed and that `AT+CMGS=<len>` matches it, stamp the modem's TP-MR into
//! it, and turn one SUBMIT part into the DELIVER the recipient sees with the user data (UDH
//! included) copied byte for byte, as an SMSC does.
//!
//! Decoding text is the codec's job (`crate::codec`); this module only walks the octet layout of
//! 3GPP TS 23.040 §9.2.2.2, so it never needs the alphabet tables.

use crate::codec::address::{encode_smsc, encode_tp_address};
use crate::codec::{Address, Timestamp};
use std::fmt;

/// Why a PDU typed after the `> ` prompt was refused (`+CMS ERROR: 304` on a real modem).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TpduError {
    /// Not an even number of hex digits.
    NotHex,
    /// The SMSC length octet points past the end.
    BadSmscLength,
    /// `AT+CMGS=<declared>` but the TPDU after the SMSC field has `actual` octets.
    LengthMismatch {
        /// The `<length>` given to `AT+CMGS`.
        declared: usize,
        /// Octets after the SMSC field.
        actual: usize,
    },
    /// The TP-MTI is not SMS-SUBMIT.
    NotSubmit,
    /// The TPDU ends before a field it announces.
    Truncated(&'static str),
    /// TP-UDL disagrees with the number of user-data octets.
    UserDataLength {
        /// Octets TP-UDL implies.
        expected: usize,
        /// Octets present.
        actual: usize,
    },
}

impl fmt::Display for TpduError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TpduError::NotHex => write!(formatter, "PDU is not hexadecimal"),
            TpduError::BadSmscLength => write!(formatter, "SMSC length exceeds the PDU"),
            TpduError::LengthMismatch { declared, actual } => write!(
                formatter,
                "AT+CMGS length {declared} but the TPDU has {actual} octets"
            ),
            TpduError::NotSubmit => write!(formatter, "TPDU is not an SMS-SUBMIT"),
            TpduError::Truncated(field) => write!(formatter, "TPDU truncated in {field}"),
            TpduError::UserDataLength { expected, actual } => write!(
                formatter,
                "TP-UDL implies {expected} user-data octets, found {actual}"
            ),
        }
    }
}

impl std::error::Error for TpduError {}

/// The user-data alphabet a DCS selects (TS 23.038 §4), which fixes how TP-UDL counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alphabet {
    /// TP-UDL counts septets.
    Gsm7,
    /// TP-UDL counts octets.
    EightBit,
    /// TP-UDL counts octets.
    Ucs2,
}

impl Alphabet {
    /// The alphabet of a data coding scheme octet.
    pub fn from_dcs(dcs: u8) -> Alphabet {
        match dcs >> 4 {
            // General data coding (0x00-0x3F) and automatic deletion (0x40-0x7F).
            0x0..=0x7 => match (dcs >> 2) & 0x03 {
                0x01 => Alphabet::EightBit,
                0x02 => Alphabet::Ucs2,
                _ => Alphabet::Gsm7,
            },
            0xC | 0xD => Alphabet::Gsm7,
            0xE => Alphabet::Ucs2,
            0xF if dcs & 0x04 != 0 => Alphabet::EightBit,
            0xF => Alphabet::Gsm7,
            // Reserved groups: treat as 8-bit, the safest reading of unknown data.
            _ => Alphabet::EightBit,
        }
    }

    /// User-data octets for a TP-UDL value.
    pub fn octets_for_udl(self, udl: u8) -> usize {
        match self {
            Alphabet::Gsm7 => (usize::from(udl) * 7).div_ceil(8),
            Alphabet::EightBit | Alphabet::Ucs2 => usize::from(udl),
        }
    }
}

/// The octet layout of one SMS-SUBMIT TPDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubmitLayout {
    /// TP-MTI/RD/VPF/SRR/UDHI/RP octet.
    pub first_octet: u8,
    /// TP-MR.
    pub message_ref: u8,
    /// TP-DA as encoded: length (digits), type of address, semi-octets.
    pub destination: Vec<u8>,
    /// TP-PID.
    pub protocol_id: u8,
    /// TP-DCS.
    pub data_coding: u8,
    /// TP-UDL.
    pub user_data_len: u8,
    /// TP-UD, including the UDH when TP-UDHI is set.
    pub user_data: Vec<u8>,
}

impl SubmitLayout {
    /// Walks an SMS-SUBMIT TPDU (no SMSC field) and checks every length it announces.
    pub fn parse(tpdu: &[u8]) -> Result<SubmitLayout, TpduError> {
        let mut cursor = Cursor { bytes: tpdu, at: 0 };
        let first_octet = cursor.take_one("first octet")?;
        if first_octet & 0x03 != 0x01 {
            return Err(TpduError::NotSubmit);
        }
        let message_ref = cursor.take_one("TP-MR")?;
        let digit_count = cursor.peek("TP-DA")?;
        let address_octets = 2 + usize::from(digit_count).div_ceil(2);
        let destination = cursor.take(address_octets, "TP-DA")?.to_vec();
        let protocol_id = cursor.take_one("TP-PID")?;
        let data_coding = cursor.take_one("TP-DCS")?;
        let validity_octets = match (first_octet >> 3) & 0x03 {
            0x00 => 0,
            0x02 => 1,
            _ => 7,
        };
        cursor.take(validity_octets, "TP-VP")?;
        let user_data_len = cursor.take_one("TP-UDL")?;
        let user_data = cursor.rest().to_vec();
        let expected = Alphabet::from_dcs(data_coding).octets_for_udl(user_data_len);
        if expected != user_data.len() {
            return Err(TpduError::UserDataLength {
                expected,
                actual: user_data.len(),
            });
        }
        Ok(SubmitLayout {
            first_octet,
            message_ref,
            destination,
            protocol_id,
            data_coding,
            user_data_len,
            user_data,
        })
    }

    /// TP-SRR: the sender asked for a status report.
    pub fn status_report_requested(&self) -> bool {
        self.first_octet & 0x20 != 0
    }

    /// TP-UDHI: the user data starts with a header (concatenation, ports…).
    pub fn has_user_data_header(&self) -> bool {
        self.first_octet & 0x40 != 0
    }

    /// The destination as a dialable string: `+` and digits for international numbers, the
    /// digits otherwise (alphanumeric destinations do not occur in SUBMITs a phone sends).
    pub fn destination_number(&self) -> String {
        decode_semi_octet_address(&self.destination)
    }
}

struct Cursor<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn peek(&self, field: &'static str) -> Result<u8, TpduError> {
        self.bytes
            .get(self.at)
            .copied()
            .ok_or(TpduError::Truncated(field))
    }

    fn take_one(&mut self, field: &'static str) -> Result<u8, TpduError> {
        let value = self.peek(field)?;
        self.at += 1;
        Ok(value)
    }

    fn take(&mut self, count: usize, field: &'static str) -> Result<&'a [u8], TpduError> {
        let end = self
            .at
            .checked_add(count)
            .ok_or(TpduError::Truncated(field))?;
        let slice = self
            .bytes
            .get(self.at..end)
            .ok_or(TpduError::Truncated(field))?;
        self.at = end;
        Ok(slice)
    }

    fn rest(&self) -> &'a [u8] {
        self.bytes.get(self.at..).unwrap_or(&[])
    }
}

/// A PDU as typed after `AT+CMGS=<len>`: SMSC field then TPDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypedSubmit {
    /// The SMSC field as typed (`00` = use the stored SMSC).
    pub smsc_field: Vec<u8>,
    /// The TPDU octets.
    pub tpdu: Vec<u8>,
    /// Its layout.
    pub layout: SubmitLayout,
}

impl TypedSubmit {
    /// Validates what came between `> ` and Ctrl-Z against the length given to `AT+CMGS`.
    pub fn parse(hex_text: &str, declared_len: usize) -> Result<TypedSubmit, TpduError> {
        let octets = hex::decode(hex_text.trim()).map_err(|_| TpduError::NotHex)?;
        let smsc_len = usize::from(*octets.first().ok_or(TpduError::NotHex)?);
        let tpdu_start = 1 + smsc_len;
        if tpdu_start > octets.len() {
            return Err(TpduError::BadSmscLength);
        }
        let (smsc_field, tpdu) = octets.split_at(tpdu_start);
        if tpdu.len() != declared_len {
            return Err(TpduError::LengthMismatch {
                declared: declared_len,
                actual: tpdu.len(),
            });
        }
        let layout = SubmitLayout::parse(tpdu)?;
        Ok(TypedSubmit {
            smsc_field: smsc_field.to_vec(),
            tpdu: tpdu.to_vec(),
            layout,
        })
    }

    /// Replaces TP-MR with the reference the modem assigned (real modems number their own
    /// submissions; the status report quotes that number).
    pub fn stamp_message_ref(&mut self, message_ref: u8) {
        if let Some(octet) = self.tpdu.get_mut(1) {
            *octet = message_ref;
        }
        self.layout.message_ref = message_ref;
    }

    /// The full PDU (SMSC field + TPDU) as upper-case hex.
    pub fn to_hex(&self) -> String {
        let mut all = self.smsc_field.clone();
        all.extend_from_slice(&self.tpdu);
        hex::encode_upper(all)
    }
}

/// An address field for `number` through the codec (`+` → international), or an empty one.
fn encode_number_address(number: &str) -> Vec<u8> {
    let mut field = Vec::with_capacity(12);
    match Address::parse_number(number) {
        Some(address) => encode_tp_address(&address, &mut field),
        None => field.extend_from_slice(&[0, 0x81]),
    }
    field
}

/// Reads a numeric address field back (`+` for type 0x91). Filler and non-decimal semi-octets
/// are skipped.
pub fn decode_semi_octet_address(field: &[u8]) -> String {
    let digit_count = usize::from(field.first().copied().unwrap_or(0));
    let type_of_address = field.get(1).copied().unwrap_or(0x81);
    let mut text = String::new();
    if type_of_address & 0x70 == 0x10 {
        text.push('+');
    }
    for octet in field.get(2..).unwrap_or(&[]) {
        for nibble in [octet & 0x0F, octet >> 4] {
            if text.trim_start_matches('+').len() < digit_count && nibble < 10 {
                text.push(char::from(b'0' + nibble));
            }
        }
    }
    text
}

/// The SMS-DELIVER the recipient receives for one SUBMIT part: the SMSC prefix, TP-OA = the
/// sender, the SUBMIT's PID, DCS, UDL and UD (UDH included) unchanged, TP-SCTS = `arrival`.
/// Returned as the hex a modem prints (SMSC field first).
pub fn deliver_from_submit(
    submit: &SubmitLayout,
    sender_number: &str,
    smsc_number: &str,
    arrival: time::OffsetDateTime,
) -> String {
    // TP-MTI = 00 (DELIVER), TP-MMS = 1 (no more messages waiting), TP-UDHI copied.
    let mut first_octet = 0x04;
    if submit.has_user_data_header() {
        first_octet |= 0x40;
    }
    let mut pdu = Vec::with_capacity(176);
    encode_smsc(Address::parse_number(smsc_number).as_ref(), &mut pdu);
    pdu.push(first_octet);
    pdu.extend_from_slice(&encode_number_address(sender_number));
    pdu.push(submit.protocol_id);
    pdu.push(submit.data_coding);
    pdu.extend_from_slice(&Timestamp::from_offset_datetime(arrival).encode());
    pdu.push(submit.user_data_len);
    pdu.extend_from_slice(&submit.user_data);
    hex::encode_upper(pdu)
}

/// Octets after the SMSC field of a PDU printed by a modem: the `<length>` of `+CMGR`, `+CMT`
/// and `+CDS`. `None` when the text is not hex or the SMSC length is impossible.
pub fn tpdu_length_of(pdu_hex: &str) -> Option<usize> {
    let octets = hex::decode(pdu_hex.trim()).ok()?;
    let smsc_len = usize::from(*octets.first()?);
    octets.len().checked_sub(1 + smsc_len)
}

#[cfg(test)]
mod tests {
    use super::*;

    // From ModemManager's test_create_pdu_ucs2_with_smsc (tests/vectors/submit_pdus.json).
    const UCS2_SUBMIT: &str = "07919130079229F011000B915155551532F40008003A041404300020043704340440043004320441044204320443043504420020043A043E0440043E043B044C002C0020043404350442043A04300021";

    #[test]
    fn a_real_submit_parses_with_its_cmgs_length() {
        let typed = TypedSubmit::parse(UCS2_SUBMIT, 72).expect("valid submit");
        assert_eq!(typed.layout.destination_number(), "+15555551234");
        assert_eq!(Alphabet::from_dcs(typed.layout.data_coding), Alphabet::Ucs2);
        assert_eq!(typed.layout.user_data.len(), 58);
        assert!(!typed.layout.status_report_requested());
        assert_eq!(typed.to_hex(), UCS2_SUBMIT);
    }

    #[test]
    fn wrong_length_garbage_and_truncation_are_refused() {
        assert_eq!(
            TypedSubmit::parse(UCS2_SUBMIT, 71),
            Err(TpduError::LengthMismatch {
                declared: 71,
                actual: 72
            })
        );
        assert_eq!(TypedSubmit::parse("ZZ", 0), Err(TpduError::NotHex));
        assert_eq!(TypedSubmit::parse("", 0), Err(TpduError::NotHex));
        assert_eq!(TypedSubmit::parse("0791", 0), Err(TpduError::BadSmscLength));
        assert_eq!(
            TypedSubmit::parse("000100", 2),
            Err(TpduError::Truncated("TP-DA"))
        );
        // A DELIVER typed where a SUBMIT is expected.
        assert_eq!(TypedSubmit::parse("0004", 1), Err(TpduError::NotSubmit));
        // TP-UDL says 5 septets (5 octets) but only 2 follow.
        assert!(matches!(
            TypedSubmit::parse("0001000B915155551532F4000005C834", 15),
            Err(TpduError::UserDataLength { .. })
        ));
    }

    #[test]
    fn stamping_the_message_ref_changes_the_second_octet() {
        let mut typed = TypedSubmit::parse(UCS2_SUBMIT, 72).unwrap();
        typed.stamp_message_ref(0x2A);
        assert_eq!(typed.tpdu[1], 0x2A);
        assert_eq!(typed.layout.message_ref, 0x2A);
    }

    #[test]
    fn addresses_round_trip() {
        let field = encode_number_address("+15555551234");
        assert_eq!(hex::encode_upper(&field), "0B915155551532F4");
        assert_eq!(decode_semi_octet_address(&field), "+15555551234");
        assert_eq!(
            decode_semi_octet_address(&encode_number_address("0612")),
            "0612"
        );
    }

    #[test]
    fn deliver_keeps_the_user_data_and_header_flag() {
        let typed = TypedSubmit::parse(UCS2_SUBMIT, 72).unwrap();
        let moment = time::macros::datetime!(2011-02-28 11:50:50 -05:00);
        let deliver = deliver_from_submit(&typed.layout, "+16175927198", "+12404492164", moment);
        let expected_tail = hex::encode_upper(&typed.layout.user_data);
        let expected =
            format!("07912104442961F4040B916171957291F800081120821105050A3A{expected_tail}");
        assert_eq!(deliver, expected);
        assert_eq!(tpdu_length_of(&deliver), Some(1 + 8 + 1 + 1 + 7 + 1 + 58));
    }

    #[test]
    fn gsm7_user_data_length_counts_septets() {
        assert_eq!(Alphabet::Gsm7.octets_for_udl(160), 140);
        assert_eq!(Alphabet::Gsm7.octets_for_udl(153 + 7), 140);
        assert_eq!(Alphabet::from_dcs(0x00), Alphabet::Gsm7);
        assert_eq!(Alphabet::from_dcs(0x04), Alphabet::EightBit);
        assert_eq!(Alphabet::from_dcs(0xF4), Alphabet::EightBit);
        assert_eq!(Alphabet::from_dcs(0xF0), Alphabet::Gsm7);
    }
}
