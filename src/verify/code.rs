//! Verification codes: generated from a CSPRNG with uniform symbols (digits, letters, or both
//! without look-alikes), stored only as a keyed HMAC, compared in constant time.

use hmac::{Hmac, Mac};
use rand::{CryptoRng, RngCore};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

/// Bytes at or above this are rejected: 250 is the largest multiple of 10 that fits in a byte,
/// so `byte % 10` over `0..250` gives every digit exactly 25 times (no modulo bias).
const UNBIASED_BYTE_LIMIT: u8 = 250;

/// `length` uniform decimal digits from `rng`, by rejection sampling.
///
/// The bound `CryptoRng` keeps a non-cryptographic generator from being passed by mistake.
pub fn generate_digits<R: RngCore + CryptoRng>(rng: &mut R, length: usize) -> String {
    let mut code = String::with_capacity(length);
    let mut buffer = [0u8; 16];
    while code.len() < length {
        rng.fill_bytes(&mut buffer);
        for &byte in &buffer {
            if code.len() == length {
                break;
            }
            if byte < UNBIASED_BYTE_LIMIT {
                code.push(char::from(b'0' + byte % 10));
            }
        }
    }
    code
}

/// A fresh code from the thread-local CSPRNG (ChaCha seeded by the OS).
pub fn generate(length: usize) -> String {
    generate_digits(&mut rand::rng(), length)
}

/// What a code is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CodeType {
    /// `0-9`.
    #[default]
    Numeric,
    /// Upper-case letters without `I`, `L` and `O` (read as 1, 1 and 0).
    Alpha,
    /// Digits and upper-case letters without the look-alike pairs 0/O, 1/I/L.
    Alphanumeric,
}

/// Letters of [`CodeType::Alpha`]: 23.
pub const ALPHA: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ";
/// Symbols of [`CodeType::Alphanumeric`]: 8 digits and 23 letters.
pub const ALPHANUMERIC: &[u8] = b"23456789ABCDEFGHJKMNPQRSTUVWXYZ";

impl CodeType {
    pub fn as_str(self) -> &'static str {
        match self {
            CodeType::Numeric => "numeric",
            CodeType::Alpha => "alpha",
            CodeType::Alphanumeric => "alphanumeric",
        }
    }

    /// Reads simgate's names and sms.cx's (`numbers`, `letters`), any case.
    pub fn parse(name: &str) -> Option<CodeType> {
        match name.trim().to_ascii_lowercase().as_str() {
            "numeric" | "numbers" | "number" | "digits" => Some(CodeType::Numeric),
            "alpha" | "letters" | "alphabetic" => Some(CodeType::Alpha),
            "alphanumeric" | "alnum" => Some(CodeType::Alphanumeric),
            _ => None,
        }
    }

    /// Stored value back to a type; anything unknown (rows from before code types) is numeric.
    pub fn from_db(value: Option<&str>) -> CodeType {
        value.and_then(CodeType::parse).unwrap_or_default()
    }

    /// What a person typed, as the code was generated: trimmed, and letters upper-cased (the SMS
    /// shows capitals; phones often type lower case). Digits are left as they are.
    pub fn normalize_input(self, input: &str) -> String {
        let trimmed = input.trim();
        match self {
            CodeType::Numeric => trimmed.to_string(),
            CodeType::Alpha | CodeType::Alphanumeric => trimmed.to_ascii_uppercase(),
        }
    }
}

/// `length` symbols drawn uniformly from `alphabet` (at most 256 symbols), by rejection
/// sampling: bytes at or above the largest multiple of the alphabet size are skipped.
pub fn generate_from<R: RngCore + CryptoRng>(
    rng: &mut R,
    alphabet: &[u8],
    length: usize,
) -> String {
    let n = alphabet.len();
    assert!((2..=256).contains(&n), "alphabet of 2 to 256 symbols");
    let limit = 256 - 256 % n;
    let mut code = String::with_capacity(length);
    let mut buffer = [0u8; 16];
    while code.len() < length {
        rng.fill_bytes(&mut buffer);
        for &byte in &buffer {
            if code.len() == length {
                break;
            }
            if usize::from(byte) < limit {
                code.push(char::from(alphabet[usize::from(byte) % n]));
            }
        }
    }
    code
}

/// A fresh code of `code_type` from the thread-local CSPRNG.
pub fn generate_typed(code_type: CodeType, length: usize) -> String {
    let mut rng = rand::rng();
    match code_type {
        CodeType::Numeric => generate_digits(&mut rng, length),
        CodeType::Alpha => generate_from(&mut rng, ALPHA, length),
        CodeType::Alphanumeric => generate_from(&mut rng, ALPHANUMERIC, length),
    }
}

/// What is stored for a code: HMAC-SHA256 keyed by the server pepper over the verification id
/// and the code. The id binds the digest to one verification, so equal codes of two
/// verifications have unrelated digests and a digest cannot be moved between rows.
pub fn digest(pepper: &[u8], otp_id: &str, code: &str) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(pepper).expect("HMAC accepts keys of any length");
    mac.update(otp_id.as_bytes());
    mac.update(b"\x00");
    mac.update(code.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Does `code` match the stored digest? Constant time in the digest comparison; the code is
/// trimmed of surrounding whitespace (people paste with spaces) but not otherwise changed.
pub fn matches(pepper: &[u8], otp_id: &str, code: &str, stored: &[u8]) -> bool {
    let candidate = digest(pepper, otp_id, code.trim());
    candidate.as_slice().ct_eq(stored).into()
}

/// A key for one purpose derived from the pepper, so that one secret file serves codes,
/// rate-limit keys and proof tokens without any of them being usable for another.
pub fn derive_key(pepper: &[u8], purpose: &str) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(pepper).expect("HMAC accepts keys of any length");
    mac.update(b"simgate key derivation\x00");
    mac.update(purpose.as_bytes());
    mac.finalize().into_bytes().into()
}

/// A stable, non-reversible label for an API key (rate limits are kept per key without
/// storing the key).
pub fn key_label(pepper: &[u8], api_key: &str) -> String {
    let key = derive_key(pepper, "api-key-label");
    let mut mac = HmacSha256::new_from_slice(&key).expect("HMAC accepts keys of any length");
    mac.update(api_key.as_bytes());
    hex::encode(&mac.finalize().into_bytes()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    #[test]
    fn codes_have_the_length_and_only_digits() {
        for length in 4..=10 {
            let code = generate(length);
            assert_eq!(code.len(), length);
            assert!(code.bytes().all(|b| b.is_ascii_digit()), "{length}");
        }
    }

    /// Chi-square goodness of fit over 10 digit classes (9 degrees of freedom): with 600 000
    /// digits a fair source exceeds 27.88 with probability 0.001, while a `byte % 10` source
    /// (6 of 10 digits 1.6 % more frequent) scores about 150. The seeded generator makes the
    /// test deterministic; the rejection logic is the same for every CSPRNG.
    #[test]
    fn digits_are_uniform_chi_square() {
        let mut rng = StdRng::seed_from_u64(0x5eed);
        let mut counts = [0u64; 10];
        let samples = 100_000;
        for _ in 0..samples {
            for b in generate_digits(&mut rng, 6).bytes() {
                counts[usize::from(b - b'0')] += 1;
            }
        }
        let total: u64 = counts.iter().sum();
        assert_eq!(total, samples * 6);
        let expected = total as f64 / 10.0;
        let chi2: f64 = counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 27.88, "chi-square {chi2} for {counts:?}");

        // The same statistic catches the biased method, so the bound has teeth.
        let mut biased = [0u64; 10];
        let mut bytes = vec![0u8; total as usize];
        rng.fill_bytes(&mut bytes);
        for b in bytes {
            biased[usize::from(b % 10)] += 1;
        }
        let chi2_biased: f64 = biased
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2_biased > 27.88, "biased source scored {chi2_biased}");
    }

    /// A generator that yields only rejected bytes first: the code must skip them all.
    struct Scripted(Vec<u8>, usize);
    impl RngCore for Scripted {
        fn next_u32(&mut self) -> u32 {
            let mut b = [0u8; 4];
            self.fill_bytes(&mut b);
            u32::from_le_bytes(b)
        }
        fn next_u64(&mut self) -> u64 {
            let mut b = [0u8; 8];
            self.fill_bytes(&mut b);
            u64::from_le_bytes(b)
        }
        fn fill_bytes(&mut self, dest: &mut [u8]) {
            for d in dest {
                *d = self.0[self.1 % self.0.len()];
                self.1 += 1;
            }
        }
    }
    impl CryptoRng for Scripted {}

    #[test]
    fn bytes_from_250_up_are_rejected() {
        let mut script = vec![250, 251, 255, 252, 253, 254, 250, 255];
        script.extend([249, 9, 10, 0, 123, 250, 7, 8, 255, 1, 2, 3, 4, 5, 6, 7]);
        let mut rng = Scripted(script, 0);
        assert_eq!(generate_digits(&mut rng, 6), "990037");
    }

    #[test]
    fn typed_codes_use_their_alphabet_without_look_alikes() {
        for length in 4..=10 {
            let alpha = generate_typed(CodeType::Alpha, length);
            assert_eq!(alpha.len(), length);
            assert!(alpha.bytes().all(|b| ALPHA.contains(&b)), "{alpha}");
            let mixed = generate_typed(CodeType::Alphanumeric, length);
            assert!(mixed.bytes().all(|b| ALPHANUMERIC.contains(&b)), "{mixed}");
            let digits = generate_typed(CodeType::Numeric, length);
            assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{digits}");
        }
        for confusing in b"01ILO" {
            assert!(!ALPHA.contains(confusing) && !ALPHANUMERIC.contains(confusing));
        }
        assert_eq!(ALPHA.len(), 23);
        assert_eq!(ALPHANUMERIC.len(), 31);
    }

    /// Every symbol of the alphanumeric alphabet comes up about equally often (chi-square, 30
    /// degrees of freedom: 59.70 is the 0.001 critical value).
    #[test]
    fn alphanumeric_symbols_are_uniform() {
        let mut rng = StdRng::seed_from_u64(0xa1fa);
        let mut counts = [0u64; 31];
        for _ in 0..20_000 {
            for b in generate_from(&mut rng, ALPHANUMERIC, 10).bytes() {
                counts[ALPHANUMERIC.iter().position(|&s| s == b).unwrap()] += 1;
            }
        }
        let expected = 200_000.0 / 31.0;
        let chi2: f64 = counts
            .iter()
            .map(|&c| (c as f64 - expected).powi(2) / expected)
            .sum();
        assert!(chi2 < 59.70, "chi-square {chi2}");
    }

    #[test]
    fn code_type_names_and_input() {
        assert_eq!(CodeType::parse("Letters"), Some(CodeType::Alpha));
        assert_eq!(CodeType::parse("numbers"), Some(CodeType::Numeric));
        assert_eq!(
            CodeType::parse("alphanumeric"),
            Some(CodeType::Alphanumeric)
        );
        assert_eq!(CodeType::parse("hex"), None);
        assert_eq!(CodeType::from_db(None), CodeType::Numeric);
        assert_eq!(CodeType::Alpha.normalize_input(" abXy "), "ABXY");
        assert_eq!(CodeType::Numeric.normalize_input(" 0123 "), "0123");
    }

    #[test]
    fn digests_bind_id_and_code() {
        let pepper = b"0123456789abcdef0123456789abcdef";
        let d = digest(pepper, "otp_a", "123456");
        assert!(matches(pepper, "otp_a", "123456", &d));
        assert!(matches(pepper, "otp_a", " 123456\n", &d));
        assert!(!matches(pepper, "otp_a", "123457", &d));
        assert!(!matches(pepper, "otp_b", "123456", &d));
        assert!(!matches(b"another pepper!!", "otp_a", "123456", &d));
        assert!(!matches(pepper, "otp_a", "123456", &d[..31]));
        // The id/code boundary is unambiguous.
        assert_ne!(digest(pepper, "otp_a1", "23456"), d);
    }

    #[test]
    fn derived_keys_and_labels_differ_by_purpose() {
        let pepper = b"0123456789abcdef";
        assert_ne!(derive_key(pepper, "a"), derive_key(pepper, "b"));
        let label = key_label(pepper, "sk_live_x");
        assert_eq!(label.len(), 32);
        assert_eq!(label, key_label(pepper, "sk_live_x"));
        assert_ne!(label, key_label(pepper, "sk_live_y"));
        assert!(!label.contains("sk_live"));
    }
}
