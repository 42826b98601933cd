//! Reverse-OTP factors: what a person texts us. Validation, and finding a factor in a body.

/// Longest factor accepted.
pub const MAX_FACTOR_CHARS: usize = 16;

/// Why a factor was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FactorProblem {
    Empty,
    TooLong,
    /// Whitespace or a character other than letters, digits, `-` and `_`.
    NotOneToken,
}

impl std::fmt::Display for FactorProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            FactorProblem::Empty => "the factor is empty",
            FactorProblem::TooLong => "the factor is longer than 16 characters",
            FactorProblem::NotOneToken => {
                "the factor must be one word of letters, digits, '-' or '_'"
            }
        })
    }
}

/// Checks a caller's factor; returns it trimmed. Letters and digits of any script are fine (a
/// person types them), punctuation other than `-`/`_` is not: it would make "a whole token"
/// ambiguous and breaks on some handsets' SMS links.
pub fn validate(factor: &str) -> Result<String, FactorProblem> {
    let factor = factor.trim();
    if factor.is_empty() {
        return Err(FactorProblem::Empty);
    }
    if factor.chars().count() > MAX_FACTOR_CHARS {
        return Err(FactorProblem::TooLong);
    }
    if !factor.chars().all(is_factor_char) {
        return Err(FactorProblem::NotOneToken);
    }
    Ok(factor.to_string())
}

fn is_factor_char(c: char) -> bool {
    c.is_alphanumeric() || c == '-' || c == '_'
}

/// The form factors are compared in: lower case.
pub fn key(factor: &str) -> String {
    factor.trim().to_lowercase()
}

/// The body as matched: trimmed, runs of whitespace collapsed to one space, lower case.
pub fn normalize_body(body: &str) -> String {
    body.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Does the (normalised) body contain `factor_key` as a whole token — not preceded or followed
/// by a letter, digit, `-` or `_`? `"my code is 482913."` and `"CODE:482913"` contain
/// `482913`; `"4829130"` and `"x482913"` do not.
pub fn contains_token(normalized_body: &str, factor_key: &str) -> bool {
    if factor_key.is_empty() {
        return false;
    }
    let mut from = 0;
    while let Some(found) = normalized_body[from..].find(factor_key) {
        let start = from + found;
        let end = start + factor_key.len();
        let before_ok = normalized_body[..start]
            .chars()
            .next_back()
            .is_none_or(|c| !is_factor_char(c));
        let after_ok = normalized_body[end..]
            .chars()
            .next()
            .is_none_or(|c| !is_factor_char(c));
        if before_ok && after_ok {
            return true;
        }
        // Continue after the first character of this occurrence (occurrences may overlap).
        from = start
            + normalized_body[start..]
                .chars()
                .next()
                .map_or(1, char::len_utf8);
    }
    false
}

/// The `sms:` link of a reverse verification: `sms:+15550000001?body=482913`, the body
/// percent-encoded.
pub fn sms_uri(to: &str, factor: &str) -> String {
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    /// Everything but RFC 3986 unreserved characters.
    const BODY: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~');
    format!("sms:{to}?body={}", utf8_percent_encode(factor, BODY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation() {
        assert_eq!(validate(" 482913 ").unwrap(), "482913");
        assert_eq!(validate("Blue-Fox_7").unwrap(), "Blue-Fox_7");
        assert_eq!(validate("Ünïcode").unwrap(), "Ünïcode");
        assert_eq!(validate("a".repeat(16).as_str()).unwrap().len(), 16);
        assert_eq!(validate(""), Err(FactorProblem::Empty));
        assert_eq!(validate("   "), Err(FactorProblem::Empty));
        assert_eq!(validate(&"a".repeat(17)), Err(FactorProblem::TooLong));
        assert_eq!(validate("two words"), Err(FactorProblem::NotOneToken));
        assert_eq!(validate("tab\there"), Err(FactorProblem::NotOneToken));
        assert_eq!(validate("a.b"), Err(FactorProblem::NotOneToken));
        assert_eq!(validate("<script>"), Err(FactorProblem::NotOneToken));
    }

    #[test]
    fn whole_tokens_only() {
        let body = |s: &str| normalize_body(s);
        assert!(contains_token(&body("my code is 482913"), "482913"));
        assert!(contains_token(&body("482913"), "482913"));
        assert!(contains_token(&body("  482913.  "), "482913"));
        assert!(contains_token(&body("CODE:482913!"), "482913"));
        assert!(contains_token(&body("(482913)"), "482913"));
        assert!(contains_token(&body("Blue-Fox please"), "blue-fox"));
        assert!(contains_token(&body("yes BLUE-FOX"), &key("Blue-Fox")));
        // Substring of a longer token: no.
        assert!(!contains_token(&body("4829130"), "482913"));
        assert!(!contains_token(&body("x482913"), "482913"));
        assert!(!contains_token(&body("482913_2"), "482913"));
        assert!(!contains_token(&body("blue-foxes"), "blue-fox"));
        // A later whole occurrence after a partial one still counts.
        assert!(contains_token(&body("14829131 then 482913"), "482913"));
        // Overlapping occurrences.
        assert!(contains_token(&body("aaa aa"), "aa"));
        assert!(!contains_token(&body("aaa-aa"), "aa"));
        assert!(!contains_token(&body("aaa"), "aa"));
        assert!(!contains_token(&body("anything"), ""));
        // Whitespace collapsing and case.
        assert_eq!(normalize_body("  My\n\tCODE   is  X "), "my code is x");
        // Non-ASCII around the factor.
        assert!(contains_token(&body("código: 482913 ✓"), "482913"));
        assert!(!contains_token(&body("é482913"), "482913"));
    }

    #[test]
    fn sms_links() {
        assert_eq!(
            sms_uri("+15550000001", "482913"),
            "sms:+15550000001?body=482913"
        );
        assert_eq!(
            sms_uri("+15550000001", "Blue-Fox"),
            "sms:+15550000001?body=Blue-Fox"
        );
        assert_eq!(sms_uri("+1", "ü"), "sms:+1?body=%C3%BC");
        assert_eq!(sms_uri("+1", "a b&c=d"), "sms:+1?body=a%20b%26c%3Dd");
    }
}
