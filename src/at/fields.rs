//! Tolerant splitting of AT information lines into a prefix and fields.
//!
//! Real modems disagree on nearly every detail of the V.250 syntax: a space after the
//! colon or not, quotes around strings or not, spaces inside fields, leading zeros,
//! quotes that are not closed. Every reader in [`crate::at::response`] goes through
//! these few helpers so that the tolerance rules live in one place.

/// One comma-separated field of an information line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Field<'a> {
    /// The field with surrounding whitespace removed (quotes kept).
    pub(crate) raw: &'a str,
    /// Whether the field started with a double quote.
    pub(crate) quoted: bool,
}

impl<'a> Field<'a> {
    fn new(piece: &'a str) -> Self {
        let raw = piece.trim();
        Field {
            raw,
            quoted: raw.starts_with('"'),
        }
    }

    /// The field's text without quotes or surrounding whitespace.
    pub(crate) fn value(&self) -> &'a str {
        self.raw.trim_matches('"').trim()
    }

    /// The field as a decimal number (leading zeros accepted); `None` if empty or not a number.
    pub(crate) fn as_u32(&self) -> Option<u32> {
        parse_decimal(self.value())
    }

    /// True when the field is empty (`,,`) or an empty quoted string (`""`).
    pub(crate) fn is_empty(&self) -> bool {
        self.value().is_empty()
    }
}

/// Parses a plain decimal number, tolerating leading zeros but nothing else.
pub(crate) fn parse_decimal(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Case-insensitive "starts with" that never slices inside a UTF-8 character.
pub(crate) fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// Splits `"+CREG: 2,1"` into `("+CREG", "2,1")`.
///
/// The prefix is whatever precedes the first colon, provided it is a single short
/// token (so `"Manufacturer: huawei"` does not count, nor does `"12:30"`).
pub(crate) fn split_prefix(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    let colon = line.find(':')?;
    let prefix = line.get(..colon)?.trim_end();
    let rest = line.get(colon + 1..)?.trim();
    let first = prefix.chars().next()?;
    let looks_like_prefix = prefix.len() <= 32
        && matches!(first, '+' | '^' | '%' | '$' | '*' | '#')
        && prefix.len() > 1
        && prefix
            .chars()
            .skip(1)
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    looks_like_prefix.then_some((prefix, rest))
}

/// Returns the text after `prefix:` when `line` starts with that prefix (any case,
/// with or without a space after the colon); `None` otherwise.
pub(crate) fn payload_after<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    let line = line.trim();
    if !starts_with_ignore_case(line, prefix) {
        return None;
    }
    let rest = line.get(prefix.len()..)?.trim_start();
    rest.strip_prefix(':').map(str::trim)
}

/// The payload of an information line whose prefix is optional: `"+CSQ: 18,99"` and
/// `"18,99"` both give `"18,99"`. A line with a *different* prefix (`+CMS ERROR: 330`,
/// `^RSSI:9`) or a final result code (`OK`, `ERROR`) gives `None`.
pub(crate) fn payload_optional_prefix<'a>(line: &'a str, prefix: &str) -> Option<&'a str> {
    if let Some(payload) = payload_after(line, prefix) {
        return Some(payload);
    }
    let line = line.trim();
    let prefixed = line.starts_with(['+', '^', '%', '$', '*', '#']);
    (!prefixed && crate::at::parser::parse_final(line).is_none()).then_some(line)
}

/// Splits a payload on commas, honouring quotes when they are balanced.
///
/// With unbalanced quotes (`2,1,"0B,"0100701",7`, seen in the wild) quote tracking
/// would swallow the rest of the line, so the split falls back to plain commas; no
/// field we read ever contains a comma except phone-book names, which come balanced.
pub(crate) fn split_fields(payload: &str) -> Vec<Field<'_>> {
    let payload = payload.trim();
    if payload.is_empty() {
        return Vec::new();
    }
    let balanced = payload.bytes().filter(|&b| b == b'"').count() % 2 == 0;
    if !balanced {
        return payload.split(',').map(Field::new).collect();
    }
    let mut fields = Vec::new();
    let mut in_quotes = false;
    let mut start = 0;
    for (i, c) in payload.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ',' if !in_quotes => {
                fields.push(Field::new(payload.get(start..i).unwrap_or("")));
                start = i + 1;
            }
            _ => {}
        }
    }
    fields.push(Field::new(payload.get(start..).unwrap_or("")));
    fields
}

/// Finds the innermost parenthesised groups of a test-command answer:
/// `(0-2),(0,1,3)` gives `["0-2", "0,1,3"]`; `(("SM","BM"),("SM"))` gives
/// `["\"SM\",\"BM\"", "\"SM\""]`. Unclosed groups are ignored.
pub(crate) fn innermost_groups(payload: &str) -> Vec<&str> {
    let mut groups = Vec::new();
    let mut open: Option<usize> = None;
    let mut in_quotes = false;
    for (i, c) in payload.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '(' if !in_quotes => open = Some(i + 1),
            ')' if !in_quotes => {
                if let Some(start) = open.take() {
                    groups.push(payload.get(start..i).unwrap_or(""));
                }
            }
            _ => {}
        }
    }
    groups
}

/// Expands a value list such as `0-1,3` or `0,2` into its members (capped, so a
/// hostile `0-4000000000` cannot allocate much).
pub(crate) fn expand_value_list(list: &str) -> Vec<u32> {
    const MAX_MEMBERS: usize = 256;
    let mut values = Vec::new();
    for item in list.split(',') {
        let item = item.trim().trim_matches('"').trim();
        if let Some((low, high)) = item.split_once('-') {
            let (Some(low), Some(high)) = (parse_decimal(low.trim()), parse_decimal(high.trim()))
            else {
                continue;
            };
            for value in low..=high.min(low.saturating_add(MAX_MEMBERS as u32)) {
                if values.len() >= MAX_MEMBERS {
                    break;
                }
                values.push(value);
            }
        } else if let Some(value) = parse_decimal(item) {
            if values.len() < MAX_MEMBERS {
                values.push(value);
            }
        }
    }
    values.sort_unstable();
    values.dedup();
    values
}

/// True when `text` is a non-empty run of hexadecimal digits.
pub(crate) fn is_hex(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_split_accepts_missing_space_and_rejects_prose() {
        assert_eq!(split_prefix("+CSQ:4,0"), Some(("+CSQ", "4,0")));
        assert_eq!(split_prefix("^RSSI: 99"), Some(("^RSSI", "99")));
        assert_eq!(split_prefix("Manufacturer: huawei"), None);
        assert_eq!(split_prefix("12:30"), None);
        assert_eq!(split_prefix("+: x"), None);
    }

    #[test]
    fn payload_after_is_case_insensitive_and_needs_colon() {
        assert_eq!(payload_after("+cmgs: 12", "+CMGS"), Some("12"));
        assert_eq!(payload_after("+CMGS : 12", "+CMGS"), Some("12"));
        assert_eq!(payload_after("+CMGSX: 12", "+CMGS"), None);
        assert_eq!(payload_after("é+CMGS: 1", "+CMGS"), None);
    }

    #[test]
    fn optional_prefix_rejects_other_prefixes_and_finals() {
        assert_eq!(payload_optional_prefix("+CSQ: 1,2", "+CSQ"), Some("1,2"));
        assert_eq!(payload_optional_prefix(" 1,2 ", "+CSQ"), Some("1,2"));
        assert_eq!(payload_optional_prefix("+CMS ERROR: 330", "+CSCA"), None);
        assert_eq!(payload_optional_prefix("^RSSI:9", "+CSQ"), None);
        assert_eq!(payload_optional_prefix("OK", "+CPIN"), None);
    }

    #[test]
    fn fields_honour_balanced_quotes_only() {
        let fields = split_fields(r#""Doe, John","+123",145"#);
        assert_eq!(fields.len(), 3);
        assert_eq!(fields[0].value(), "Doe, John");
        assert!(fields[0].quoted);
        assert_eq!(fields[2].as_u32(), Some(145));

        let broken = split_fields(r#"2,1,"0B,"0100701",7"#);
        assert_eq!(broken.len(), 5);
        assert_eq!(broken[2].value(), "0B");
        assert!(broken[2].quoted);
        assert_eq!(broken[3].value(), "0100701");
    }

    #[test]
    fn empty_fields_are_kept() {
        let fields = split_fields(",,,");
        assert_eq!(fields.len(), 4);
        assert!(fields.iter().all(Field::is_empty));
        assert!(split_fields("  ").is_empty());
    }

    #[test]
    fn groups_and_ranges() {
        assert_eq!(
            innermost_groups("(0-2),(0,1,3),(0)"),
            vec!["0-2", "0,1,3", "0"]
        );
        assert_eq!(
            innermost_groups(r#"(("SM","BM","SR"),("SM"))"#),
            vec![r#""SM","BM","SR""#, r#""SM""#]
        );
        assert_eq!(expand_value_list("0-1,3"), vec![0, 1, 3]);
        assert_eq!(expand_value_list(" 2 "), vec![2]);
        assert_eq!(expand_value_list("0-4000000000").len(), 256);
        assert!(expand_value_list("x-y,").is_empty());
    }

    #[test]
    fn decimal_and_hex() {
        assert_eq!(parse_decimal("007"), Some(7));
        assert_eq!(parse_decimal("-1"), None);
        assert_eq!(parse_decimal("99999999999"), None);
        assert!(is_hex("0791aF"));
        assert!(!is_hex("07 91"));
        assert!(!is_hex(""));
    }
}
