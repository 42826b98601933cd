//! TP addresses (3GPP TS 23.040 §9.1.2.5) and the SMSC field (TS 24.011 RP
//! address as modems print it in front of the TPDU).
//!
//! A TP address is: length (count of useful semi-octets), type-of-address
//! octet (TON/NPI), then digits as swapped BCD semi-octets, or, for TON
//! "alphanumeric", GSM 7-bit packed text. The SMSC field differs only in that
//! its length counts octets (type-of-address included).

use super::error::PduError;
use super::gsm7;
use super::reader::Reader;

/// Most semi-octets (digits) an address may hold: 10 octets of BCD.
pub const MAX_DIGITS: usize = 20;

/// Type-of-address for an international E.164 number (TON 1, NPI 1 ISDN).
pub const TOA_INTERNATIONAL: u8 = 0x91;
/// Type-of-address for a number of unknown type (TON 0, NPI 1 ISDN), what
/// modems use for national or short numbers typed without `+`.
pub const TOA_UNKNOWN: u8 = 0x81;
/// Type-of-address for an alphanumeric sender (TON 5, NPI 0).
pub const TOA_ALPHANUMERIC: u8 = 0xD0;

/// What kind of address a TON (type of number, TS 23.040 §9.1.2.5) denotes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressKind {
    /// TON 0: read as dialled (a national number with its trunk prefix, a short code…).
    Unknown,
    /// TON 1: digits include the country code.
    International,
    /// TON 2: digits need the country of the network.
    National,
    /// TON 3: a number of the network's own (operator services).
    NetworkSpecific,
    /// TON 4: a subscriber number without its area code.
    Subscriber,
    /// TON 5: a name such as "Telia" in GSM 7-bit, set freely by whoever sends.
    Alphanumeric,
    /// TON 6: an abbreviated number (a short code).
    Abbreviated,
    /// TON 7: reserved.
    Reserved,
}

impl AddressKind {
    /// The kind a type of number (0 to 7) stands for.
    pub fn from_ton(ton: u8) -> AddressKind {
        match ton & 0x07 {
            1 => AddressKind::International,
            2 => AddressKind::National,
            3 => AddressKind::NetworkSpecific,
            4 => AddressKind::Subscriber,
            5 => AddressKind::Alphanumeric,
            6 => AddressKind::Abbreviated,
            7 => AddressKind::Reserved,
            _ => AddressKind::Unknown,
        }
    }

    /// The name used in JSON output (`sender_type`).
    pub fn as_str(self) -> &'static str {
        match self {
            AddressKind::Unknown => "unknown",
            AddressKind::International => "international",
            AddressKind::National => "national",
            AddressKind::NetworkSpecific => "network_specific",
            AddressKind::Subscriber => "subscriber",
            AddressKind::Alphanumeric => "alphanumeric",
            AddressKind::Abbreviated => "abbreviated",
            AddressKind::Reserved => "reserved",
        }
    }
}

/// A decoded TP address or SMSC address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    /// Digits (`0-9`, `*`, `#`, `a`, `b`, `c`) without `+`, or the text of an
    /// alphanumeric address.
    pub digits_or_text: String,
    /// The type-of-address octet as received (bit 7, TON in bits 6-4, NPI in
    /// bits 3-0).
    pub type_of_address: u8,
}

impl Address {
    /// Type of number, bits 6-4 of the type-of-address octet.
    pub fn type_of_number(&self) -> u8 {
        (self.type_of_address >> 4) & 0x07
    }

    /// Numbering plan identification, bits 3-0 of the type-of-address octet.
    pub fn numbering_plan(&self) -> u8 {
        self.type_of_address & 0x0F
    }

    /// The kind of address, from its type of number.
    pub fn kind(&self) -> AddressKind {
        AddressKind::from_ton(self.type_of_number())
    }

    /// How a person would write it: `+` before international numbers.
    pub fn to_display(&self) -> String {
        if self.kind() == AddressKind::International && !self.digits_or_text.is_empty() {
            format!("+{}", self.digits_or_text)
        } else {
            self.digits_or_text.clone()
        }
    }

    /// Reads a phone number as typed by a user: an optional leading `+`
    /// (international, TOA 0x91; otherwise TOA 0x81), then 1 to 20 digits
    /// from `0-9 * # a b c`. Spaces, dashes, dots and parentheses are
    /// ignored, since people paste numbers formatted that way. Returns
    /// `None` for anything else.
    pub fn parse_number(input: &str) -> Option<Address> {
        let trimmed = input.trim();
        let (international, rest) = match trimmed.strip_prefix('+') {
            Some(rest) => (true, rest),
            None => (false, trimmed),
        };
        let mut digits = String::with_capacity(rest.len());
        for c in rest.chars() {
            match c {
                ' ' | '-' | '.' | '(' | ')' => {}
                _ if bcd_value(c).is_some() => digits.push(c.to_ascii_lowercase()),
                _ => return None,
            }
        }
        if digits.is_empty() || digits.len() > MAX_DIGITS {
            return None;
        }
        Some(Address {
            digits_or_text: digits,
            type_of_address: if international {
                TOA_INTERNATIONAL
            } else {
                TOA_UNKNOWN
            },
        })
    }

    /// Builds an alphanumeric address (TON 5). Characters missing from the
    /// GSM 7-bit alphabet become `?` and the text is cut to the 11 septets
    /// that fit in an address field, because a network that emits such a
    /// sender always delivers *something* rather than failing.
    pub fn alphanumeric_lossy(text: &str) -> Address {
        let mut septets = 0;
        let mut out = String::new();
        for c in text.chars() {
            let c = if gsm7::char_to_septets(c).is_some() {
                c
            } else {
                '?'
            };
            let cost = gsm7::char_to_septets(c).map_or(1, gsm7::Septets::count);
            if septets + cost > MAX_ALPHANUMERIC_SEPTETS {
                break;
            }
            septets += cost;
            out.push(c);
        }
        Address {
            digits_or_text: out,
            type_of_address: TOA_ALPHANUMERIC,
        }
    }
}

/// Most septets of alphanumeric text that fit in 10 octets.
const MAX_ALPHANUMERIC_SEPTETS: usize = 11;

fn bcd_value(c: char) -> Option<u8> {
    match c {
        '0'..='9' => Some(c as u8 - b'0'),
        '*' => Some(0x0A),
        '#' => Some(0x0B),
        'a' | 'A' => Some(0x0C),
        'b' | 'B' => Some(0x0D),
        'c' | 'C' => Some(0x0E),
        _ => None,
    }
}

/// The digit a BCD semi-octet stands for (TS 23.040 §9.1.2.3); `None` for the
/// `F` filler.
fn bcd_char(nibble: u8) -> Option<char> {
    match nibble {
        0..=9 => Some(char::from(b'0' + nibble)),
        0x0A => Some('*'),
        0x0B => Some('#'),
        0x0C => Some('a'),
        0x0D => Some('b'),
        0x0E => Some('c'),
        _ => None,
    }
}

/// Decodes swapped-BCD digits, low semi-octet first, stopping after
/// `max_digits`. Filler semi-octets (`F`) are skipped.
fn decode_bcd(octets: &[u8], max_digits: usize) -> String {
    octets
        .iter()
        .flat_map(|&b| [b & 0x0F, b >> 4])
        .take(max_digits)
        .filter_map(bcd_char)
        .collect()
}

/// Encodes digits as swapped BCD, padding an odd count with `F`.
fn encode_bcd(digits: &str, out: &mut Vec<u8>) {
    let nibbles: Vec<u8> = digits.chars().filter_map(bcd_value).collect();
    for pair in nibbles.chunks(2) {
        let low = pair.first().copied().unwrap_or(0x0F);
        let high = pair.get(1).copied().unwrap_or(0x0F);
        out.push((high << 4) | low);
    }
}

/// Reads TP-OA / TP-DA / TP-RA.
pub(crate) fn decode_tp_address(r: &mut Reader<'_>) -> Result<Address, PduError> {
    let len = usize::from(r.u8("address length")?);
    if len > MAX_DIGITS {
        return Err(PduError::FieldTooLong {
            field: "address",
            len,
            max: MAX_DIGITS,
        });
    }
    let type_of_address = r.u8("address type")?;
    let octets = r.take(len.div_ceil(2), "address digits")?;
    let digits_or_text = if (type_of_address >> 4) & 0x07 == 5 {
        // Alphanumeric: the length counts useful semi-octets, 4 bits each.
        let count = len * 4 / 7;
        let septets =
            gsm7::unpack_septets(octets, 0, count).ok_or(PduError::Truncated("address text"))?;
        gsm7::decode_septets(&septets).text
    } else {
        decode_bcd(octets, len)
    };
    Ok(Address {
        digits_or_text,
        type_of_address,
    })
}

/// Reads the SMSC field that modems print before the TPDU; length 0 means
/// "no SMSC given".
pub(crate) fn decode_smsc(r: &mut Reader<'_>) -> Result<Option<Address>, PduError> {
    let len = usize::from(r.u8("SMSC length")?);
    if len == 0 {
        return Ok(None);
    }
    let max = MAX_DIGITS / 2 + 1;
    if len > max {
        return Err(PduError::FieldTooLong {
            field: "SMSC",
            len,
            max,
        });
    }
    let type_of_address = r.u8("SMSC type")?;
    let octets = r.take(len - 1, "SMSC digits")?;
    let digits_or_text = if (type_of_address >> 4) & 0x07 == 5 {
        let septets = gsm7::unpack_septets(octets, 0, octets.len() * 8 / 7)
            .ok_or(PduError::Truncated("SMSC text"))?;
        gsm7::decode_septets(&septets).text
    } else {
        decode_bcd(octets, octets.len() * 2)
    };
    Ok(Some(Address {
        digits_or_text,
        type_of_address,
    }))
}

/// Writes a TP address. Numeric addresses count digits; alphanumeric ones
/// count the semi-octets their packed septets occupy.
pub(crate) fn encode_tp_address(address: &Address, out: &mut Vec<u8>) {
    if address.kind() == AddressKind::Alphanumeric {
        let septets = gsm7::encode_septets(&address.digits_or_text).unwrap_or_default();
        let packed = gsm7::pack_septets(&septets, 0);
        out.push(u8::try_from((septets.len() * 7).div_ceil(4)).unwrap_or(u8::MAX));
        out.push(address.type_of_address);
        out.extend_from_slice(&packed);
    } else {
        let count = address.digits_or_text.chars().filter_map(bcd_value).count();
        out.push(u8::try_from(count).unwrap_or(u8::MAX));
        out.push(address.type_of_address);
        encode_bcd(&address.digits_or_text, out);
    }
}

/// Writes the SMSC field (`00` when absent).
pub(crate) fn encode_smsc(smsc: Option<&Address>, out: &mut Vec<u8>) {
    match smsc {
        None => out.push(0),
        Some(address) => {
            let mut digits = Vec::new();
            encode_bcd(&address.digits_or_text, &mut digits);
            out.push(u8::try_from(digits.len() + 1).unwrap_or(u8::MAX));
            out.push(address.type_of_address);
            out.extend_from_slice(&digits);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_hex_address(hex_text: &str) -> Result<Address, PduError> {
        let bytes = hex::decode(hex_text).expect("test hex");
        decode_tp_address(&mut Reader::new(&bytes))
    }

    #[test]
    fn odd_length_number_ignores_filler() {
        let a = decode_hex_address("0B916171957291F8").expect("valid");
        assert_eq!(a.digits_or_text, "16175927198");
        assert_eq!(a.to_display(), "+16175927198");
        assert_eq!(a.kind(), AddressKind::International);
    }

    #[test]
    fn star_hash_and_abc_digits() {
        let a = decode_hex_address("09E1BADCBE5AF1").expect("valid");
        assert_eq!(a.digits_or_text, "*#abc#*51");
        assert_eq!(a.kind(), AddressKind::Abbreviated);
    }

    #[test]
    fn alphanumeric_odd_length() {
        let a = decode_hex_address("09D0D4323B1D06").expect("valid");
        assert_eq!(a.digits_or_text, "Telia");
        assert_eq!(a.kind(), AddressKind::Alphanumeric);
        let mut out = Vec::new();
        encode_tp_address(&a, &mut out);
        assert_eq!(hex::encode_upper(out), "09D0D4323B1D06");
    }

    #[test]
    fn truncated_and_oversized_addresses_are_errors() {
        assert!(matches!(
            decode_hex_address("0B9161"),
            Err(PduError::Truncated(_))
        ));
        assert!(matches!(
            decode_hex_address("1C91"),
            Err(PduError::FieldTooLong { .. })
        ));
    }

    #[test]
    fn parse_number_rules() {
        let a = Address::parse_number("+1 (555) 000-0001").expect("formatted number");
        assert_eq!(a.digits_or_text, "15550000001");
        assert_eq!(a.type_of_address, TOA_INTERNATIONAL);
        let a = Address::parse_number("0126541234").expect("national");
        assert_eq!(a.type_of_address, TOA_UNKNOWN);
        assert!(Address::parse_number("").is_none());
        assert!(Address::parse_number("+").is_none());
        assert!(Address::parse_number("12x4").is_none());
        assert!(Address::parse_number("123456789012345678901").is_none());
    }

    #[test]
    fn alphanumeric_lossy_replaces_and_truncates() {
        let a = Address::alphanumeric_lossy("Bank日本 of Somewhere");
        assert_eq!(a.digits_or_text, "Bank?? of S");
        assert_eq!(a.kind(), AddressKind::Alphanumeric);
    }

    #[test]
    fn smsc_round_trip() {
        let smsc = Address::parse_number("+12404492164").expect("valid");
        let mut out = Vec::new();
        encode_smsc(Some(&smsc), &mut out);
        assert_eq!(hex::encode_upper(&out), "07912104442961F4");
        let back = decode_smsc(&mut Reader::new(&out)).expect("valid");
        assert_eq!(back, Some(smsc));
    }
}
