//! Choosing the alphabet and cutting a text into segments
//! (3GPP TS 23.040 §9.2.3.24.1).
//!
//! GSM 7-bit is used when every character has a GSM 7-bit code, otherwise
//! UCS-2. A single message holds 160 septets or 70 UTF-16 units; each segment
//! of a concatenated message loses room to the concatenation header. Cuts fall
//! between characters, so an escape pair or a surrogate pair is never split.

use super::gsm7;
use super::Encoding;

/// Septets in a message without a header.
pub const GSM7_SINGLE_SEPTETS: usize = 160;
/// Septets per segment with an 8-bit-reference concatenation header
/// (6 octets = 7 septets of 160).
pub const GSM7_SEGMENT_SEPTETS: usize = 153;
/// Septets per segment with a 16-bit-reference header (7 octets = 8 septets).
pub const GSM7_SEGMENT_SEPTETS_WIDE: usize = 152;
/// UTF-16 units in a UCS-2 message without a header.
pub const UCS2_SINGLE_UNITS: usize = 70;
/// UTF-16 units per segment with an 8-bit-reference header ((140-6)/2).
pub const UCS2_SEGMENT_UNITS: usize = 67;
/// UTF-16 units per segment with a 16-bit-reference header ((140-7)/2).
pub const UCS2_SEGMENT_UNITS_WIDE: usize = 66;

/// How a text will be sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SplitPlan {
    /// Alphabet for every part.
    pub encoding: Encoding,
    /// Text of each part, in order; their concatenation is the input. An
    /// empty text gives one empty part (an empty SMS is still a message).
    pub parts: Vec<String>,
}

/// Plans a text for sending with 8-bit concatenation references, the usual
/// choice. `plan(text).parts.len()` is the number of SMS it will cost.
pub fn plan(text: &str) -> SplitPlan {
    plan_with(text, false)
}

/// Plans a text; `wide_reference` selects 16-bit concatenation references,
/// whose longer header leaves one septet (GSM 7-bit) or one unit (UCS-2) less
/// per segment.
pub fn plan_with(text: &str, wide_reference: bool) -> SplitPlan {
    match gsm7::septet_len(text) {
        Some(total) => {
            let limit = if wide_reference {
                GSM7_SEGMENT_SEPTETS_WIDE
            } else {
                GSM7_SEGMENT_SEPTETS
            };
            SplitPlan {
                encoding: Encoding::Gsm7,
                parts: cut(text, total, GSM7_SINGLE_SEPTETS, limit, |c| {
                    gsm7::char_to_septets(c).map_or(1, gsm7::Septets::count)
                }),
            }
        }
        None => {
            let limit = if wide_reference {
                UCS2_SEGMENT_UNITS_WIDE
            } else {
                UCS2_SEGMENT_UNITS
            };
            let total = super::ucs2::unit_len(text);
            SplitPlan {
                encoding: Encoding::Ucs2,
                parts: cut(text, total, UCS2_SINGLE_UNITS, limit, char::len_utf16),
            }
        }
    }
}

/// Greedy cut: as many whole characters as fit in each segment.
fn cut(
    text: &str,
    total: usize,
    single_limit: usize,
    segment_limit: usize,
    cost: impl Fn(char) -> usize,
) -> Vec<String> {
    if total <= single_limit {
        return vec![text.to_owned()];
    }
    let mut parts = Vec::with_capacity(total / segment_limit + 1);
    let mut current = String::new();
    let mut used = 0;
    for c in text.chars() {
        let c_cost = cost(c);
        if used + c_cost > segment_limit {
            parts.push(std::mem::take(&mut current));
            used = 0;
        }
        current.push(c);
        used += c_cost;
    }
    if !current.is_empty() {
        parts.push(current);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_gsm7() {
        assert_eq!(plan(&"a".repeat(160)).parts.len(), 1);
        assert_eq!(plan(&"a".repeat(161)).parts.len(), 2);
        assert_eq!(plan(&"a".repeat(306)).parts.len(), 2);
        assert_eq!(plan(&"a".repeat(307)).parts.len(), 3);
        assert_eq!(plan(&"€".repeat(80)).parts.len(), 1);
        assert_eq!(plan(&"€".repeat(81)).parts.len(), 2);
        assert_eq!(plan("").parts, vec![String::new()]);
    }

    #[test]
    fn escape_pair_moves_to_next_part() {
        // 152 + 2 + 10 = 164 septets: two parts, and the euro sign (ESC + e)
        // would straddle septets 153/154, so it starts part 2.
        let text = format!("{}€{}", "1".repeat(152), "x".repeat(10));
        let p = plan(&text);
        assert_eq!(p.encoding, Encoding::Gsm7);
        assert_eq!(
            p.parts,
            vec!["1".repeat(152), format!("€{}", "x".repeat(10))]
        );
    }

    #[test]
    fn boundaries_ucs2_and_surrogates() {
        assert_eq!(plan(&"я".repeat(70)).parts.len(), 1);
        assert_eq!(plan(&"я".repeat(71)).parts.len(), 2);
        assert_eq!(plan(&"я".repeat(134)).parts.len(), 2);
        assert_eq!(plan(&"я".repeat(135)).parts.len(), 3);
        let text = format!("{}😺", "я".repeat(66));
        let p = plan(&format!("{text}{}", "я".repeat(10)));
        assert_eq!(p.encoding, Encoding::Ucs2);
        assert_eq!(
            p.parts.first().map(String::as_str),
            Some("я".repeat(66).as_str())
        );
        assert!(p.parts.get(1).is_some_and(|s| s.starts_with('😺')));
    }

    #[test]
    fn wide_reference_shrinks_segments() {
        assert_eq!(plan_with(&"a".repeat(306), true).parts.len(), 3);
        assert_eq!(plan_with(&"я".repeat(134), true).parts.len(), 3);
    }
}
