//! SMS-SUBMIT encoder: what the daemon sends with `AT+CMGS=<tpdu_len>`.

use super::address::{encode_smsc, encode_tp_address, Address};
use super::dcs::DataCoding;
use super::error::EncodeError;
use super::gsm7;
use super::pdu::ValidityPeriod;
use super::split::plan_with;
use super::ucs2;
use super::udh::{Concat, InformationElement, UserDataHeader};
use super::Encoding;

/// Choices for [`encode_submit`]. `Default` gives: modem's SMSC, no status
/// report, no validity period, 8-bit concatenation reference 0, TP-MR 0.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubmitOptions {
    /// SMSC to put in front of the TPDU; `None` (or empty) lets the modem use
    /// the one on the SIM (`00`).
    pub smsc: Option<String>,
    /// Ask for a status report (TP-SRR).
    pub status_report: bool,
    /// Relative validity period, rounded up to the next value TP-VP can
    /// express; `None` sends no TP-VP (the SC's default applies).
    pub validity_minutes: Option<u32>,
    /// Concatenation reference shared by all parts (only the low 8 bits
    /// unless `concat_16bit`).
    pub concat_ref: u16,
    /// Use a 16-bit concatenation reference.
    pub concat_16bit: bool,
    /// TP-MR of the first part; later parts count up from it. Most modems
    /// replace it with their own counter.
    pub message_ref: u8,
}

/// One part ready for the modem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedPart {
    /// Octets of the TPDU, SMSC field excluded: the `<length>` of
    /// `AT+CMGS=<length>`.
    pub tpdu_len: usize,
    /// Uppercase hex of the whole PDU, SMSC field (`00` when none) included.
    pub hex: String,
}

/// Encodes a text message to `to` as one or more SMS-SUBMIT PDUs.
///
/// The number may start with `+` (international, TOA 0x91); without it the
/// type is "unknown" (0x81), which networks read as national.
pub fn encode_submit(
    to: &str,
    text: &str,
    opts: &SubmitOptions,
) -> Result<Vec<EncodedPart>, EncodeError> {
    let destination =
        Address::parse_number(to).ok_or_else(|| EncodeError::InvalidNumber(to.to_owned()))?;
    let smsc = match opts.smsc.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(s) => {
            Some(Address::parse_number(s).ok_or_else(|| EncodeError::InvalidSmsc(s.to_owned()))?)
        }
    };
    let plan = plan_with(text, opts.concat_16bit);
    let total =
        u8::try_from(plan.parts.len()).map_err(|_| EncodeError::TooManyParts(plan.parts.len()))?;
    let validity = opts
        .validity_minutes
        .map(ValidityPeriod::relative_octet_for);

    let mut parts = Vec::with_capacity(plan.parts.len());
    for (index, part_text) in plan.parts.iter().enumerate() {
        let concat = (total > 1).then(|| Concat {
            reference: if opts.concat_16bit {
                opts.concat_ref
            } else {
                opts.concat_ref & 0xFF
            },
            total,
            seq: u8::try_from(index + 1).unwrap_or(u8::MAX),
            wide_reference: opts.concat_16bit,
        });
        let mut pdu = Vec::with_capacity(176);
        encode_smsc(smsc.as_ref(), &mut pdu);
        let smsc_len = pdu.len();
        let mut first_octet = 0x01; // TP-MTI = SMS-SUBMIT
        if validity.is_some() {
            first_octet |= 0x10; // TP-VPF = relative
        }
        if opts.status_report {
            first_octet |= 0x20;
        }
        if concat.is_some() {
            first_octet |= 0x40;
        }
        pdu.push(first_octet);
        pdu.push(opts.message_ref.wrapping_add((index & 0xFF) as u8));
        encode_tp_address(&destination, &mut pdu);
        pdu.push(0x00); // TP-PID: plain SME-to-SME
        pdu.push(DataCoding::octet_for(plan.encoding));
        if let Some(vp) = validity {
            pdu.push(vp);
        }
        encode_user_data(plan.encoding, part_text, concat, &mut pdu);
        parts.push(EncodedPart {
            tpdu_len: pdu.len() - smsc_len,
            hex: hex::encode_upper(&pdu),
        });
    }
    Ok(parts)
}

/// Appends TP-UDL and TP-UD for one part of text, with a concatenation
/// header when `concat` is given. The text must fit `encoding` (it comes from
/// a [`super::SplitPlan`]); characters that do not are sent as `?` rather
/// than failing half-way through a message.
pub(crate) fn encode_user_data(
    encoding: Encoding,
    text: &str,
    concat: Option<Concat>,
    out: &mut Vec<u8>,
) {
    let header = concat.map(|c| {
        UserDataHeader {
            elements: vec![InformationElement::Concat(c)],
        }
        .encode()
    });
    let header_octets = header.as_ref().map_or(0, Vec::len);
    match encoding {
        Encoding::Gsm7 => {
            let septets = gsm7_septets_lossy(text);
            let udl = gsm7::header_septets(header_octets) + septets.len();
            out.push(u8::try_from(udl).unwrap_or(u8::MAX));
            if let Some(h) = &header {
                out.extend_from_slice(h);
            }
            out.extend(gsm7::pack_septets(
                &septets,
                gsm7::fill_bits_after_header(header_octets),
            ));
        }
        Encoding::Ucs2 | Encoding::EightBit => {
            let body = if encoding == Encoding::Ucs2 {
                ucs2::encode(text)
            } else {
                text.as_bytes().to_vec()
            };
            out.push(u8::try_from(header_octets + body.len()).unwrap_or(u8::MAX));
            if let Some(h) = &header {
                out.extend_from_slice(h);
            }
            out.extend_from_slice(&body);
        }
    }
}

fn gsm7_septets_lossy(text: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    for c in text.chars() {
        match gsm7::char_to_septets(c) {
            Some(gsm7::Septets::Basic(s)) => out.push(s),
            Some(gsm7::Septets::Extended(s)) => out.extend_from_slice(&[gsm7::ESCAPE, s]),
            None => out.push(b'?'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hello_world_without_smsc() {
        let parts = encode_submit("+27820001111", "Hello World!", &SubmitOptions::default())
            .expect("valid");
        assert_eq!(
            parts,
            vec![EncodedPart {
                tpdu_len: 24,
                hex: "0001000B917228001011F100000CC8329BFD065DDF72363904".into()
            }]
        );
    }

    #[test]
    fn options_set_header_bits() {
        let opts = SubmitOptions {
            smsc: Some("+44000000000".into()),
            status_report: true,
            validity_minutes: Some(30),
            ..SubmitOptions::default()
        };
        let parts = encode_submit("+34616585119", "hola", &opts).expect("valid");
        assert_eq!(
            parts.first().map(|p| p.hex.as_str()),
            Some("07914400000000F031000B914316565811F900000504E8373B0C")
        );
        assert_eq!(parts.first().map(|p| p.tpdu_len), Some(18));
    }

    #[test]
    fn bad_numbers_are_errors() {
        let opts = SubmitOptions::default();
        assert!(matches!(
            encode_submit("hello", "x", &opts),
            Err(EncodeError::InvalidNumber(_))
        ));
        let opts = SubmitOptions {
            smsc: Some("nope".into()),
            ..SubmitOptions::default()
        };
        assert!(matches!(
            encode_submit("+1555", "x", &opts),
            Err(EncodeError::InvalidSmsc(_))
        ));
    }

    #[test]
    fn too_many_parts() {
        let text = "a".repeat(153 * 256);
        assert_eq!(
            encode_submit("+1555", &text, &SubmitOptions::default()),
            Err(EncodeError::TooManyParts(256))
        );
    }
}
