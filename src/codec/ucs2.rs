//! UCS-2 user data (DCS alphabet `10`), read and written as UTF-16BE so that
//! characters outside the BMP (emoji) travel as surrogate pairs, as phones do.

/// Encodes text as UTF-16BE octets.
pub fn encode(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// Number of UTF-16 code units `text` needs (an emoji counts 2).
pub fn unit_len(text: &str) -> usize {
    text.chars().map(char::len_utf16).sum()
}

/// Result of decoding UCS-2 user data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedUcs2 {
    /// The text; unpaired surrogates and a stray odd octet become U+FFFD.
    pub text: String,
    /// The data had an odd number of octets. UCS-2 characters are two octets
    /// each, so the final octet is half a character: it is shown as U+FFFD
    /// (rather than guessed at, as some decoders do by reading it as the high
    /// half of `0xXX00`) so that the reader sees that something is missing.
    pub odd_trailing_octet: bool,
}

/// Decodes UTF-16BE octets. Never fails: malformed data is replaced by
/// U+FFFD and flagged, because the rest of a message is still worth reading.
pub fn decode(octets: &[u8]) -> DecodedUcs2 {
    let chunks = octets.chunks_exact(2);
    let odd_trailing_octet = !chunks.remainder().is_empty();
    let units = chunks.map(|pair| u16::from_be_bytes([pair[0], pair[1]]));
    let mut text: String = char::decode_utf16(units)
        .map(|r| r.unwrap_or(char::REPLACEMENT_CHARACTER))
        .collect();
    if odd_trailing_octet {
        text.push(char::REPLACEMENT_CHARACTER);
    }
    DecodedUcs2 {
        text,
        odd_trailing_octet,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emoji_is_a_surrogate_pair() {
        assert_eq!(encode("😺"), [0xD8, 0x3D, 0xDE, 0x3A]);
        assert_eq!(unit_len("a😺"), 3);
        assert_eq!(decode(&[0xD8, 0x3D, 0xDE, 0x3A]).text, "😺");
    }

    #[test]
    fn odd_octet_and_lone_surrogate_become_replacement_characters() {
        let d = decode(&[0x59, 0x7D, 0x5C]);
        assert_eq!(d.text, "好\u{FFFD}");
        assert!(d.odd_trailing_octet);
        let d = decode(&[0xD8, 0x3D, 0x00, 0x41]);
        assert_eq!(d.text, "\u{FFFD}A");
        assert!(!d.odd_trailing_octet);
    }
}
