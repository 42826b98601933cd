//! Which inbound senders may verify a reverse-OTP session: the pure rule, free of I/O.
//!
//! Reverse OTP trusts the mobile network to vouch for the sender. It does so only for a
//! *numeric* originating address: whoever submits through a bulk-SMS route can set an
//! alphanumeric sender to any text, `4155552671` included. So the type of address decides
//! first, and only then are the digits read as a phone number:
//!
//! | type of number (TON) | numbering plan (NPI) | verdict |
//! |---|---|---|
//! | 1 international | 1 ISDN/E.164 or 0 unknown | `+digits`, if E.164 with a possible length |
//! | 2 national | 1 or 0 | read as a national number of the receiving SIM's country |
//! | 0 unknown | 1 or 0 | read as dialled in the receiving SIM's country (`00…`, trunk prefix) |
//! | 0 or 2 with at most 6 digits, or 6 abbreviated | any | a short code: never a person's number |
//! | 5 alphanumeric | any | never verifies, whatever its text |
//! | 3 network specific, 4 subscriber, 7 reserved | any | never verifies |
//! | numeric TON | any other plan (X.121, telex, private…) | never verifies |
//!
//! NPI "unknown" (0) is accepted with the numeric types: some service centres leave it unset,
//! and whoever can choose the digits can choose the plan too, so refusing it would turn away
//! real people without stopping anyone.
//!
//! Numeric senders can be forged as well, on routes that let a customer set a numeric sender
//! id. A person's SMS reaches us through their own network's service centre, whose address is
//! in every SMS-DELIVER; forged traffic comes through an aggregator's, usually in another
//! country. [`assess`] compares the two countries (by calling code, so the countries that share
//! one, such as the 25 of +1, count as one) and, as configured, refuses or flags the message.

use crate::codec::AddressKind;
use crate::phone;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Senders of national or unknown type with at most this many digits are short codes (3 to 6
/// digits nearly everywhere). The few countries with subscriber numbers this short (Niue,
/// Tokelau, St Helena…) are reachable when their network sends the international format.
pub const SHORT_CODE_MAX_DIGITS: usize = 6;

/// What to do with a reverse-OTP text whose SMSC is in another country than the sender's
/// number (`otp.reverse_smsc_country_check`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmscCountryCheck {
    /// The text verifies nothing and counts as a failed attempt on the sender's sessions.
    #[default]
    Refuse,
    /// The text is matched as usual; the mismatch is recorded on the message.
    Flag,
    /// No check.
    Off,
}

/// The sender of an inbound message as the network gave it.
#[derive(Debug, Clone, Copy)]
pub struct Sender<'a> {
    /// `+` and digits for an international number, digits for other numeric types, the text
    /// of an alphanumeric sender.
    pub address: &'a str,
    /// The type-of-address octet (TON in bits 6-4, NPI in bits 3-0).
    pub type_of_address: u8,
    /// The service centre that delivered it, as shown (`+…` when international), if the PDU
    /// carried one.
    pub smsc: Option<&'a str>,
}

/// Why a sender cannot, or should not, verify a session. Shown on the message as
/// `code: detail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reason {
    /// `alphanumeric_sender`, `short_code`, `untrusted_type_of_number`,
    /// `untrusted_numbering_plan`, `not_a_number` or `smsc_country_mismatch`.
    pub code: &'static str,
    pub detail: String,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.detail)
    }
}

/// What reverse OTP makes of a sender.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// A number the network vouches for, its SMSC consistent with it (or unknown, or unchecked).
    Trusted { number: String },
    /// A number delivered through an SMSC in another country, in `flag` mode: it may verify,
    /// and the message says why it is suspect.
    Flagged { number: String, reason: Reason },
    /// A number delivered through an SMSC in another country, in `refuse` mode: it verifies
    /// nothing, and counts as a failed attempt on that number's sessions.
    Refused { number: String, reason: Reason },
    /// No one's number (alphanumeric, short code, other types): it verifies nothing and is
    /// no one's attempt.
    Untrusted { reason: Reason },
}

impl Verdict {
    /// The word stored on the message (`sender_trust`).
    pub fn as_str(&self) -> &'static str {
        match self {
            Verdict::Trusted { .. } => "trusted",
            Verdict::Flagged { .. } => "flagged",
            Verdict::Refused { .. } => "refused",
            Verdict::Untrusted { .. } => "untrusted",
        }
    }

    pub fn reason(&self) -> Option<&Reason> {
        match self {
            Verdict::Trusted { .. } => None,
            Verdict::Flagged { reason, .. }
            | Verdict::Refused { reason, .. }
            | Verdict::Untrusted { reason } => Some(reason),
        }
    }

    /// The sender's E.164 number, when it is one.
    pub fn number(&self) -> Option<&str> {
        match self {
            Verdict::Trusted { number }
            | Verdict::Flagged { number, .. }
            | Verdict::Refused { number, .. } => Some(number),
            Verdict::Untrusted { .. } => None,
        }
    }

    /// May this message verify a session?
    pub fn may_verify(&self) -> bool {
        matches!(self, Verdict::Trusted { .. } | Verdict::Flagged { .. })
    }
}

/// Assesses a sender: national and unknown-type numbers are read in `receiving_country` (the
/// country of the SIM that received the text, else `otp.default_country`).
pub fn assess(sender: &Sender<'_>, receiving_country: &str, check: SmscCountryCheck) -> Verdict {
    let number = match number_of(sender, receiving_country) {
        Ok(number) => number,
        Err(reason) => return Verdict::Untrusted { reason },
    };
    if check == SmscCountryCheck::Off {
        return Verdict::Trusted { number };
    }
    match smsc_mismatch(&number, sender.smsc) {
        None => Verdict::Trusted { number },
        Some(reason) if check == SmscCountryCheck::Flag => Verdict::Flagged { number, reason },
        Some(reason) => Verdict::Refused { number, reason },
    }
}

/// The E.164 number a sender is, when the network vouches for it as one.
pub fn number_of(sender: &Sender<'_>, receiving_country: &str) -> Result<String, Reason> {
    let toa = sender.type_of_address;
    let kind = AddressKind::from_ton(toa >> 4);
    let refuse = |code, detail: String| Err(Reason { code, detail });
    match kind {
        AddressKind::International | AddressKind::National | AddressKind::Unknown => {}
        AddressKind::Alphanumeric => {
            return refuse(
                "alphanumeric_sender",
                "an alphanumeric sender is set freely by whoever sends; it is no one's number"
                    .into(),
            )
        }
        AddressKind::Abbreviated => {
            return refuse(
                "short_code",
                "an abbreviated number (short code) is no person's number".into(),
            )
        }
        other => {
            return refuse(
                "untrusted_type_of_number",
                format!("a {} address is not a phone number", other.as_str()),
            )
        }
    }
    let plan = toa & 0x0F;
    if plan > 1 {
        return refuse(
            "untrusted_numbering_plan",
            format!("numbering plan {plan} is not the telephone numbering plan (E.164)"),
        );
    }
    let digits = sender.address.strip_prefix('+').unwrap_or(sender.address);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return refuse(
            "not_a_number",
            "the address has characters other than digits".into(),
        );
    }
    let read = if kind == AddressKind::International {
        phone::normalize(&format!("+{digits}"), receiving_country)
    } else {
        if digits.len() <= SHORT_CODE_MAX_DIGITS {
            return refuse(
                "short_code",
                format!(
                    "{} digits without a country code: a short code, never an E.164 number",
                    digits.len()
                ),
            );
        }
        phone::normalize(digits, receiving_country)
    };
    read.map_err(|e| Reason {
        code: "not_a_number",
        detail: format!("the {} number cannot be read as E.164: {e}", kind.as_str()),
    })
}

/// `Some` when the SMSC's calling code is known and differs from the number's.
pub fn smsc_mismatch(number: &str, smsc: Option<&str>) -> Option<Reason> {
    let smsc = smsc?.trim();
    // Only an international SMSC address says which country it is in.
    if !smsc.starts_with('+') || !crate::config::is_e164(smsc) {
        return None;
    }
    let smsc_code = phone::calling_code(smsc)?;
    let number_code = phone::calling_code(number)?;
    if smsc_code == number_code {
        return None;
    }
    let place = |e164: &str, code: u16| match phone::country_of(e164) {
        Some(country) => format!("{country}, +{code}"),
        None => format!("+{code}"),
    };
    Some(Reason {
        code: "smsc_country_mismatch",
        detail: format!(
            "delivered through the service centre {smsc} ({}), not one of the sender's country ({})",
            place(smsc, smsc_code),
            place(number, number_code)
        ),
    })
}

/// The type-of-address octet of a stored `sender_type`, for messages recorded before the
/// octet itself was kept. Only the types that named a number then are read as one.
pub fn legacy_type_of_address(sender_type: &str) -> u8 {
    match sender_type {
        "international" => 0x91,
        "national" => 0xA1,
        "unknown" => 0x81,
        "alphanumeric" => 0xD0,
        _ => 0xF0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US_SMSC: Option<&str> = Some("+15550009999");

    fn sender(address: &str, toa: u8) -> Sender<'_> {
        Sender {
            address,
            type_of_address: toa,
            smsc: US_SMSC,
        }
    }

    fn verdict(address: &str, toa: u8) -> Verdict {
        assess(&sender(address, toa), "US", SmscCountryCheck::Refuse)
    }

    fn untrusted_code(v: &Verdict) -> &'static str {
        match v {
            Verdict::Untrusted { reason } => reason.code,
            other => panic!("expected untrusted, got {other:?}"),
        }
    }

    #[test]
    fn numeric_types_with_a_telephone_plan_are_numbers() {
        let trusted = |number: &str| Verdict::Trusted {
            number: number.into(),
        };
        // International, ISDN and unknown plan.
        assert_eq!(verdict("+14155552671", 0x91), trusted("+14155552671"));
        assert_eq!(verdict("+14155552671", 0x90), trusted("+14155552671"));
        // National: read in the receiving SIM's country.
        assert_eq!(verdict("4155552671", 0xA1), trusted("+14155552671"));
        // Unknown type: as dialled (with the trunk prefix, or an international prefix).
        assert_eq!(verdict("14155552671", 0x81), trusted("+14155552671"));
        assert_eq!(verdict("4155552671", 0x80), trusted("+14155552671"));
        assert_eq!(verdict("01114155552671", 0x81), trusted("+14155552671"));
        let gb = Sender {
            address: "07700900123",
            type_of_address: 0x81,
            smsc: Some("+447785016005"),
        };
        assert_eq!(
            assess(&gb, "GB", SmscCountryCheck::Refuse),
            trusted("+447700900123")
        );
    }

    /// The attack of issue 10: an alphanumeric sender whose text is a national number.
    #[test]
    fn alphanumeric_senders_are_never_numbers_whatever_their_text() {
        for text in ["4155552671", "+14155552671", "14155552671", "BANK"] {
            assert_eq!(
                untrusted_code(&verdict(text, 0xD0)),
                "alphanumeric_sender",
                "{text}"
            );
            // Whatever the numbering plan bits say.
            assert_eq!(untrusted_code(&verdict(text, 0xD1)), "alphanumeric_sender");
        }
    }

    #[test]
    fn other_types_and_plans_are_not_numbers() {
        // Network specific, subscriber, reserved.
        for toa in [0xB1, 0xC1, 0xF1] {
            assert_eq!(
                untrusted_code(&verdict("4155552671", toa)),
                "untrusted_type_of_number",
                "{toa:#x}"
            );
        }
        // Data (X.121), telex, service-centre specific, national plan, private, ERMES.
        for toa in [0x93, 0x94, 0x95, 0x98, 0x99, 0x9A, 0xA9, 0x89] {
            assert_eq!(
                untrusted_code(&verdict("14155552671", toa)),
                "untrusted_numbering_plan",
                "{toa:#x}"
            );
        }
        // Digits BCD can carry but numbers do not have.
        assert_eq!(untrusted_code(&verdict("*#123#", 0x81)), "not_a_number");
        assert_eq!(untrusted_code(&verdict("", 0x91)), "not_a_number");
        // An international number of no possible length.
        assert_eq!(untrusted_code(&verdict("+1415", 0x91)), "not_a_number");
    }

    #[test]
    fn short_codes_never_match_a_number() {
        // Abbreviated type, whatever its digits.
        assert_eq!(untrusted_code(&verdict("4155552671", 0xE1)), "short_code");
        // National or unknown type with 3 to 6 digits, in any country.
        for (digits, toa) in [("72345", 0x81), ("123", 0xA1), ("898211", 0x81)] {
            for country in ["US", "GB", "DE", "SH", "NU"] {
                let v = assess(&sender(digits, toa), country, SmscCountryCheck::Off);
                assert_eq!(untrusted_code(&v), "short_code", "{digits} in {country}");
            }
        }
    }

    #[test]
    fn an_smsc_abroad_is_refused_flagged_or_ignored_as_configured() {
        let forged = Sender {
            address: "+14155552671",
            type_of_address: 0x91,
            smsc: Some("+447785016005"),
        };
        let refused = assess(&forged, "US", SmscCountryCheck::Refuse);
        let Verdict::Refused { number, reason } = &refused else {
            panic!("{refused:?}")
        };
        assert_eq!(number, "+14155552671");
        assert_eq!(reason.code, "smsc_country_mismatch");
        assert!(reason.detail.contains("GB"), "{}", reason.detail);
        assert!(reason.detail.contains("US"), "{}", reason.detail);
        assert!(!refused.may_verify());
        let flagged = assess(&forged, "US", SmscCountryCheck::Flag);
        assert!(matches!(flagged, Verdict::Flagged { .. }), "{flagged:?}");
        assert!(flagged.may_verify());
        assert_eq!(flagged.reason(), refused.reason());
        assert_eq!(
            assess(&forged, "US", SmscCountryCheck::Off),
            Verdict::Trusted {
                number: "+14155552671".into()
            }
        );
    }

    #[test]
    fn an_unknown_smsc_country_is_no_mismatch() {
        let number = "+14155552671";
        // Absent, national-format, too short to be E.164, or an unknown calling code.
        for smsc in [
            None,
            Some("5550009999"),
            Some("+1555"),
            Some("+99912345678"),
        ] {
            assert_eq!(smsc_mismatch(number, smsc), None, "{smsc:?}");
        }
        // Countries sharing a calling code count as one (Canada's SMSC, a US number).
        assert_eq!(smsc_mismatch(number, Some("+16135550100")), None);
        // Another code is a mismatch, including a non-geographic one.
        assert!(smsc_mismatch(number, Some("+447785016005")).is_some());
        assert!(smsc_mismatch("+447700900123", Some("+14155550100")).is_some());
    }

    #[test]
    fn untrusted_senders_are_checked_before_the_smsc() {
        let alpha = Sender {
            address: "4155552671",
            type_of_address: 0xD0,
            smsc: Some("+447785016005"),
        };
        let v = assess(&alpha, "US", SmscCountryCheck::Refuse);
        assert_eq!(untrusted_code(&v), "alphanumeric_sender");
        assert_eq!(v.number(), None);
        assert_eq!(v.as_str(), "untrusted");
    }

    #[test]
    fn legacy_types() {
        assert_eq!(legacy_type_of_address("international"), 0x91);
        assert_eq!(legacy_type_of_address("alphanumeric"), 0xD0);
        assert_eq!(
            AddressKind::from_ton(legacy_type_of_address("abbreviated") >> 4),
            AddressKind::Reserved
        );
    }
}
