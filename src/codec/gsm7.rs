//! GSM 7-bit default alphabet and its extension table (3GPP TS 23.038 §6.2.1),
//! plus septet packing as used in TP-UD (3GPP TS 23.040 §9.2.3.24).
//!
//! Text is handled as a sequence of *septets* (7-bit codes). A character from
//! the extension table costs two septets: the escape code `0x1B` followed by
//! its code in the extension table.

/// The escape septet that switches the next septet to the extension table.
pub const ESCAPE: u8 = 0x1B;

/// Default alphabet, indexed by septet value. Slot `0x1B` is the escape and is
/// never produced as a character (it is handled by [`decode_septets`]).
const DEFAULT_ALPHABET: [char; 128] = [
    '@', '£', '$', '¥', 'è', 'é', 'ù', 'ì', 'ò', 'Ç', '\n', 'Ø', 'ø', '\r', 'Å', 'å', //
    'Δ', '_', 'Φ', 'Γ', 'Λ', 'Ω', 'Π', 'Ψ', 'Σ', 'Θ', 'Ξ', '\u{1B}', 'Æ', 'æ', 'ß', 'É', //
    ' ', '!', '"', '#', '¤', '%', '&', '\'', '(', ')', '*', '+', ',', '-', '.', '/', //
    '0', '1', '2', '3', '4', '5', '6', '7', '8', '9', ':', ';', '<', '=', '>', '?', //
    '¡', 'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', //
    'P', 'Q', 'R', 'S', 'T', 'U', 'V', 'W', 'X', 'Y', 'Z', 'Ä', 'Ö', 'Ñ', 'Ü', '§', //
    '¿', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j', 'k', 'l', 'm', 'n', 'o', //
    'p', 'q', 'r', 's', 't', 'u', 'v', 'w', 'x', 'y', 'z', 'ä', 'ö', 'ñ', 'ü', 'à', //
];

/// Extension table entries: (septet after the escape, character).
const EXTENSION_TABLE: [(u8, char); 10] = [
    (0x0A, '\u{0C}'), // form feed (page break)
    (0x14, '^'),
    (0x28, '{'),
    (0x29, '}'),
    (0x2F, '\\'),
    (0x3C, '['),
    (0x3D, '~'),
    (0x3E, ']'),
    (0x40, '|'),
    (0x65, '€'),
];

/// How one character is written in GSM 7-bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Septets {
    /// A single septet from the default alphabet.
    Basic(u8),
    /// Escape followed by this septet from the extension table.
    Extended(u8),
}

impl Septets {
    /// Number of septets the character occupies (1 or 2).
    pub fn count(self) -> usize {
        match self {
            Septets::Basic(_) => 1,
            Septets::Extended(_) => 2,
        }
    }
}

/// Marks an entry of [`ASCII_TO_SEPTETS`] as an extension-table code.
const EXTENDED_FLAG: u8 = 0x80;
/// Marks an ASCII character with no GSM 7-bit code.
const NO_CODE: u8 = 0xFF;

/// Direct lookup for ASCII characters, built from the two tables at compile
/// time: the common case then costs one index instead of a table scan.
const ASCII_TO_SEPTETS: [u8; 128] = build_ascii_table();

const fn build_ascii_table() -> [u8; 128] {
    let mut table = [NO_CODE; 128];
    let mut code = 0;
    while code < 128 {
        let c = DEFAULT_ALPHABET[code] as u32;
        if c < 128 && code != ESCAPE as usize {
            table[c as usize] = code as u8;
        }
        code += 1;
    }
    let mut i = 0;
    while i < EXTENSION_TABLE.len() {
        let (code, c) = EXTENSION_TABLE[i];
        if (c as u32) < 128 {
            table[c as usize] = EXTENDED_FLAG | code;
        }
        i += 1;
    }
    table
}

/// Looks a character up in the default alphabet, then in the extension table.
pub fn char_to_septets(c: char) -> Option<Septets> {
    if let Some(&entry) = ASCII_TO_SEPTETS.get(c as usize) {
        return match entry {
            NO_CODE => None,
            _ if entry & EXTENDED_FLAG != 0 => Some(Septets::Extended(entry & !EXTENDED_FLAG)),
            _ => Some(Septets::Basic(entry)),
        };
    }
    if let Some(code) = EXTENSION_TABLE
        .iter()
        .find_map(|&(code, ch)| (ch == c).then_some(code))
    {
        return Some(Septets::Extended(code));
    }
    DEFAULT_ALPHABET
        .iter()
        .position(|&ch| ch == c)
        .and_then(|i| u8::try_from(i).ok())
        .map(Septets::Basic)
}

/// True when every character of `text` exists in the default alphabet or its
/// extension table, so the text can be sent with DCS 0x00.
pub fn can_encode(text: &str) -> bool {
    text.chars().all(|c| char_to_septets(c).is_some())
}

/// Number of septets `text` needs in GSM 7-bit (extension characters count
/// 2), or `None` when some character cannot be encoded.
pub fn septet_len(text: &str) -> Option<usize> {
    text.chars()
        .map(|c| char_to_septets(c).map(Septets::count))
        .sum()
}

/// Converts text to septets. Returns `None` if a character is not in the
/// alphabet.
pub fn encode_septets(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match char_to_septets(c)? {
            Septets::Basic(s) => out.push(s),
            Septets::Extended(s) => {
                out.push(ESCAPE);
                out.push(s);
            }
        }
    }
    Some(out)
}

/// Result of turning septets into text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedSeptets {
    /// The decoded characters.
    pub text: String,
    /// The last septet was an escape with nothing after it. In TS 23.038 the
    /// escape only selects the table for the *next* septet of the same user
    /// data, and each segment of a concatenated message is decoded on its own
    /// (TS 23.040 §9.2.3.24.1), so a final escape carries no character: it is
    /// dropped from `text` and reported here. Senders that split an escape
    /// pair across segments are erroneous; carrying the escape over to the
    /// next segment would turn that segment's own first character into a
    /// different one.
    pub dangling_escape: bool,
}

/// Decodes septets (values are masked to 7 bits).
///
/// * `ESC x` with `x` in the extension table gives the extension character.
/// * `ESC x` with `x` not in the table gives the default-alphabet character
///   for `x`, as TS 23.038 §6.2.1.1 asks of a receiver.
/// * `ESC ESC` (escape to a further, undefined table) is shown as a space,
///   as TS 23.038 requires for that reserved code.
/// * A final lone `ESC` is dropped (see [`DecodedSeptets::dangling_escape`]).
pub fn decode_septets(septets: &[u8]) -> DecodedSeptets {
    let mut text = String::with_capacity(septets.len());
    let mut iter = septets.iter().map(|s| s & 0x7F);
    let mut dangling_escape = false;
    while let Some(s) = iter.next() {
        if s != ESCAPE {
            text.push(basic_char(s));
            continue;
        }
        match iter.next() {
            None => dangling_escape = true,
            Some(ESCAPE) => text.push(' '),
            Some(next) => text.push(
                EXTENSION_TABLE
                    .iter()
                    .find_map(|&(code, ch)| (code == next).then_some(ch))
                    .unwrap_or_else(|| basic_char(next)),
            ),
        }
    }
    DecodedSeptets {
        text,
        dangling_escape,
    }
}

fn basic_char(septet: u8) -> char {
    DEFAULT_ALPHABET
        .get(usize::from(septet & 0x7F))
        .copied()
        .unwrap_or(' ')
}

/// Packs septets into octets, least significant bit first, after
/// `fill_bits` zero bits (0..=6) that align the text to a septet boundary
/// following a user data header.
///
/// Unused high bits of the last octet are zero; when 7 bits remain they are
/// padding, not an `@`, because TP-UDL counts the real septets.
pub fn pack_septets(septets: &[u8], fill_bits: usize) -> Vec<u8> {
    let total_bits = fill_bits + septets.len() * 7;
    let mut out = vec![0u8; total_bits.div_ceil(8)];
    let mut bit = fill_bits;
    for &s in septets {
        let value = u16::from(s & 0x7F) << (bit % 8);
        let index = bit / 8;
        if let Some(o) = out.get_mut(index) {
            *o |= (value & 0xFF) as u8;
        }
        if let Some(o) = out.get_mut(index + 1) {
            *o |= (value >> 8) as u8;
        }
        bit += 7;
    }
    out
}

/// Unpacks `count` septets from `octets`, skipping the first `fill_bits`
/// bits. Returns `None` if the octets hold fewer bits than needed.
pub fn unpack_septets(octets: &[u8], fill_bits: usize, count: usize) -> Option<Vec<u8>> {
    let needed_bits = fill_bits.checked_add(count.checked_mul(7)?)?;
    if needed_bits > octets.len().checked_mul(8)? {
        return None;
    }
    let mut out = Vec::with_capacity(count);
    let mut bit = fill_bits;
    for _ in 0..count {
        let index = bit / 8;
        let low = u16::from(*octets.get(index)?);
        let high = u16::from(octets.get(index + 1).copied().unwrap_or(0));
        let value = ((high << 8) | low) >> (bit % 8);
        out.push((value & 0x7F) as u8);
        bit += 7;
    }
    Some(out)
}

/// Number of fill bits that follow a user data header of `header_octets`
/// octets (UDHL byte included) so that text starts on a septet boundary.
pub fn fill_bits_after_header(header_octets: usize) -> usize {
    (7 - (header_octets * 8) % 7) % 7
}

/// Number of septets a user data header of `header_octets` octets occupies
/// when counted in TP-UDL (header plus fill bits).
pub fn header_septets(header_octets: usize) -> usize {
    (header_octets * 8).div_ceil(7)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hellohello_packs_like_the_classic_example() {
        let septets = encode_septets("hellohello").expect("ascii letters encode");
        assert_eq!(
            pack_septets(&septets, 0),
            [0xE8, 0x32, 0x9B, 0xFD, 0x46, 0x97, 0xD9, 0xEC, 0x37]
        );
    }

    #[test]
    fn unpack_inverts_pack_with_fill_bits() {
        let septets: Vec<u8> = (0..=127).collect();
        for fill in 0..7 {
            let packed = pack_septets(&septets, fill);
            assert_eq!(
                unpack_septets(&packed, fill, septets.len()),
                Some(septets.clone())
            );
        }
    }

    #[test]
    fn seven_septets_leave_padding_not_an_at_sign() {
        let packed = pack_septets(&encode_septets("1234567").expect("digits"), 0);
        assert_eq!(packed.len(), 7);
        let decoded = decode_septets(&unpack_septets(&packed, 0, 7).expect("enough bits"));
        assert_eq!(decoded.text, "1234567");
    }

    #[test]
    fn unpack_refuses_missing_bits() {
        assert_eq!(unpack_septets(&[0xE8, 0x32], 0, 3), None);
        assert_eq!(unpack_septets(&[], 0, 1), None);
    }

    #[test]
    fn extension_characters_count_two() {
        assert_eq!(septet_len("€[]{}~^\\|\u{0C}"), Some(20));
        assert_eq!(septet_len("abc"), Some(3));
        assert_eq!(septet_len("日本"), None);
        assert!(can_encode("Hölä @£$¥"));
        assert!(!can_encode("ç"));
        assert!(!can_encode("\u{1B}"));
    }

    #[test]
    fn every_table_character_round_trips() {
        for (code, &c) in DEFAULT_ALPHABET.iter().enumerate() {
            if code == usize::from(ESCAPE) {
                continue;
            }
            let septets = encode_septets(&c.to_string()).expect("table character");
            assert_eq!(decode_septets(&septets).text, c.to_string());
        }
        for &(_, c) in &EXTENSION_TABLE {
            let septets = encode_septets(&c.to_string()).expect("extension character");
            assert_eq!(septets.len(), 2);
            assert_eq!(decode_septets(&septets).text, c.to_string());
        }
    }

    #[test]
    fn escape_edge_cases_follow_23_038() {
        // Unknown extension code falls back to the default character.
        assert_eq!(decode_septets(&[ESCAPE, b'A']).text, "A");
        // ESC ESC is displayed as a space.
        assert_eq!(decode_septets(&[ESCAPE, ESCAPE, b'A']).text, " A");
        // A final lone escape carries no character.
        let d = decode_septets(&[b'1', ESCAPE]);
        assert_eq!(d.text, "1");
        assert!(d.dangling_escape);
    }

    #[test]
    fn fill_bits_for_common_headers() {
        assert_eq!(fill_bits_after_header(6), 1); // 8-bit concat UDH
        assert_eq!(header_septets(6), 7);
        assert_eq!(fill_bits_after_header(7), 0); // 16-bit concat UDH
        assert_eq!(header_septets(7), 8);
    }
}
