//! Encoders for what the *network* sends: SMS-DELIVER and
//! SMS-STATUS-REPORT. The simulator uses them to give the daemon the same
//! PDUs a real SMSC would.

use super::address::{encode_smsc, encode_tp_address, Address, TOA_UNKNOWN};
use super::dcs::DataCoding;
use super::split::plan_with;
use super::submit::encode_user_data;
use super::timestamp::Timestamp;
use super::udh::Concat;

/// Choices for [`encode_deliver`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliverOptions {
    /// SMSC to put in front of each PDU (`None` or unparsable: `00`).
    pub smsc: Option<String>,
    /// Concatenation reference for multipart messages.
    pub concat_ref: u16,
    /// Use a 16-bit concatenation reference.
    pub concat_16bit: bool,
}

/// Encodes `text` from `sender` as SMS-DELIVER PDUs (hex with the SMSC
/// field), one per part, with concatenation headers when it needs several.
///
/// `sender` is a number (`+` and digits: international; digits: unknown
/// type) or else an alphanumeric name, written lossily (see
/// [`Address::alphanumeric_lossy`]). Parts beyond 255 are dropped, since a
/// concatenated message cannot number them; the simulator never sends that
/// much.
pub fn encode_deliver(
    sender: &str,
    text: &str,
    ts: &Timestamp,
    opts: &DeliverOptions,
) -> Vec<String> {
    encode_deliver_from(&sender_address(sender), text, ts, opts)
}

/// [`encode_deliver`] from an originating address given whole, type-of-address included: for
/// senders a network may deliver but [`encode_deliver`] never guesses, such as an
/// alphanumeric sender whose text is all digits.
pub fn encode_deliver_from(
    originator: &Address,
    text: &str,
    ts: &Timestamp,
    opts: &DeliverOptions,
) -> Vec<String> {
    let smsc = opts.smsc.as_deref().and_then(Address::parse_number);
    let plan = plan_with(text, opts.concat_16bit);
    let total = u8::try_from(plan.parts.len()).unwrap_or(u8::MAX);
    let timestamp = ts.encode();
    plan.parts
        .iter()
        .take(usize::from(total))
        .enumerate()
        .map(|(index, part_text)| {
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
            // TP-MTI = SMS-DELIVER, TP-MMS = no more messages, TP-UDHI.
            pdu.push(if concat.is_some() { 0x44 } else { 0x04 });
            encode_tp_address(originator, &mut pdu);
            pdu.push(0x00);
            pdu.push(DataCoding::octet_for(plan.encoding));
            pdu.extend_from_slice(&timestamp);
            encode_user_data(plan.encoding, part_text, concat, &mut pdu);
            hex::encode_upper(&pdu)
        })
        .collect()
}

/// Encodes an SMS-STATUS-REPORT (hex with the SMSC field) for the message
/// with TP-MR `message_ref` sent to `recipient`; `status` is TP-ST (0x00
/// delivered, 0x20.. pending, 0x40.. failed).
pub fn encode_status_report(
    message_ref: u8,
    recipient: &str,
    scts: &Timestamp,
    discharge: &Timestamp,
    status: u8,
    smsc: Option<&str>,
) -> String {
    let recipient = Address::parse_number(recipient).unwrap_or_else(|| Address {
        digits_or_text: recipient
            .chars()
            .filter(char::is_ascii_digit)
            .take(super::address::MAX_DIGITS)
            .collect(),
        type_of_address: TOA_UNKNOWN,
    });
    let smsc = smsc.and_then(Address::parse_number);
    let mut pdu = Vec::with_capacity(40);
    encode_smsc(smsc.as_ref(), &mut pdu);
    pdu.push(0x06); // TP-MTI = SMS-STATUS-REPORT, TP-MMS = no more messages
    pdu.push(message_ref);
    encode_tp_address(&recipient, &mut pdu);
    pdu.extend_from_slice(&scts.encode());
    pdu.extend_from_slice(&discharge.encode());
    pdu.push(status);
    hex::encode_upper(&pdu)
}

/// A sender made only of digits (after an optional `+`) is a number;
/// anything else, including the letters a-c that BCD could carry, is a name.
fn sender_address(sender: &str) -> Address {
    let trimmed = sender.trim();
    let digits = trimmed.strip_prefix('+').unwrap_or(trimmed);
    if !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit()) {
        if let Some(address) = Address::parse_number(trimmed) {
            return address;
        }
    }
    Address::alphanumeric_lossy(trimmed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::pdu::{decode, Pdu};

    fn ts() -> Timestamp {
        Timestamp {
            year: 2024,
            month: 12,
            day: 8,
            hour: 19,
            minute: 52,
            second: 55,
            offset_minutes: 60,
        }
    }

    #[test]
    fn deliver_round_trips_through_the_decoder() {
        let opts = DeliverOptions {
            smsc: Some("+4792001201".into()),
            ..DeliverOptions::default()
        };
        let pdus = encode_deliver("Telia", "Hei!", &ts(), &opts);
        assert_eq!(pdus.len(), 1);
        let decoded = decode(pdus.first().map_or("", String::as_str), true).expect("own output");
        let Pdu::Deliver(d) = decoded else {
            panic!("expected a deliver, got {decoded:?}");
        };
        assert_eq!(d.originator.to_display(), "Telia");
        assert_eq!(
            d.smsc.map(|s| s.to_display()).as_deref(),
            Some("+4792001201")
        );
        assert_eq!(d.user_data.text.as_deref(), Some("Hei!"));
        assert_eq!(d.timestamp, ts());
    }

    #[test]
    fn status_report_round_trips() {
        let hex_text = encode_status_report(214, "+31628870634", &ts(), &ts(), 0, None);
        let decoded = decode(&hex_text, true).expect("own output");
        let Pdu::StatusReport(sr) = decoded else {
            panic!("expected a status report, got {decoded:?}");
        };
        assert_eq!(sr.message_ref, 214);
        assert_eq!(sr.recipient.to_display(), "+31628870634");
        assert_eq!(sr.status, 0);
        assert_eq!(sr.discharge_time, ts());
    }

    #[test]
    fn an_all_digit_alphanumeric_sender_stays_alphanumeric() {
        let originator = Address {
            digits_or_text: "4155552671".into(),
            type_of_address: super::super::address::TOA_ALPHANUMERIC,
        };
        let pdus = encode_deliver_from(&originator, "482913", &ts(), &DeliverOptions::default());
        let Ok(Pdu::Deliver(d)) = decode(&pdus[0], true) else {
            panic!("{pdus:?}")
        };
        assert_eq!(d.originator.kind(), crate::codec::AddressKind::Alphanumeric);
        assert_eq!(d.originator.digits_or_text, "4155552671");
    }

    #[test]
    fn sender_kinds() {
        assert_eq!(sender_address("+15550000001").type_of_address, 0x91);
        assert_eq!(sender_address("12345").type_of_address, 0x81);
        assert_eq!(sender_address("cab").type_of_address, 0xD0);
        assert_eq!(sender_address("").type_of_address, 0xD0);
    }
}
