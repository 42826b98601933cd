//! Decoder for the PDUs a modem prints after `+CMGR`, `+CMGL`, `+CMT` and
//! `+CDS`: SMS-DELIVER, SMS-SUBMIT (messages stored by the user) and
//! SMS-STATUS-REPORT (3GPP TS 23.040 §9.2.2), optionally preceded by the SMSC
//! field. The message type comes from TP-MTI, as gammu and ModemManager read
//! stored messages, since the modem's storage can hold both directions.

use super::address::{decode_smsc, decode_tp_address, Address};
use super::dcs::DataCoding;
use super::error::PduError;
use super::gsm7;
use super::reader::Reader;
use super::timestamp::Timestamp;
use super::ucs2;
use super::udh::{Concat, UserDataHeader};
use super::Encoding;

/// Most septets of GSM 7-bit user data (140 octets).
pub const MAX_SEPTETS: usize = 160;
/// Most octets of 8-bit or UCS-2 user data.
pub const MAX_OCTETS: usize = 140;

/// A decoded PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pdu {
    /// A message from the network to us.
    Deliver(Deliver),
    /// A delivery report for a message we sent.
    StatusReport(StatusReport),
    /// A message on its way out (as stored in the modem's outbox).
    Submit(Submit),
}

impl Pdu {
    /// The SMSC field, if the PDU had one.
    pub fn smsc(&self) -> Option<&Address> {
        match self {
            Pdu::Deliver(m) => m.smsc.as_ref(),
            Pdu::StatusReport(m) => m.smsc.as_ref(),
            Pdu::Submit(m) => m.smsc.as_ref(),
        }
    }

    /// The user data, if the PDU carries any.
    pub fn user_data(&self) -> Option<&UserData> {
        match self {
            Pdu::Deliver(m) => Some(&m.user_data),
            Pdu::StatusReport(m) => m.user_data.as_ref(),
            Pdu::Submit(m) => Some(&m.user_data),
        }
    }
}

/// Decoded TP-User-Data.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserData {
    /// The user data header, when TP-UDHI is set.
    pub header: Option<UserDataHeader>,
    /// The text for GSM 7-bit and UCS-2; `None` for 8-bit data and
    /// compressed text.
    pub text: Option<String>,
    /// TP-UD octets covered by TP-UDL, header included.
    pub raw: Vec<u8>,
    /// The octets after the header: the data of an 8-bit message.
    pub payload: Vec<u8>,
    /// GSM 7-bit text ended with an escape that had no character after it;
    /// see [`gsm7::DecodedSeptets::dangling_escape`].
    pub dangling_escape: bool,
    /// UCS-2 data had an odd number of octets; see
    /// [`ucs2::DecodedUcs2::odd_trailing_octet`].
    pub odd_ucs2_octet: bool,
}

impl UserData {
    /// Concatenation information from the header.
    pub fn concat(&self) -> Option<Concat> {
        self.header.as_ref().and_then(UserDataHeader::concat)
    }
}

/// SMS-DELIVER (TS 23.040 §9.2.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deliver {
    /// Service centre that handed the message over.
    pub smsc: Option<Address>,
    /// The first octet as received.
    pub first_octet: u8,
    /// TP-MMS inverted: the SC has more messages waiting for us.
    pub more_messages: bool,
    /// TP-LP: loop prevention (forwarded message).
    pub loop_prevention: bool,
    /// TP-SRI: the sender asked for a status report.
    pub status_report_indication: bool,
    /// TP-RP: reply path set.
    pub reply_path: bool,
    /// TP-OA, the sender.
    pub originator: Address,
    /// TP-PID.
    pub pid: u8,
    /// TP-DCS.
    pub dcs: DataCoding,
    /// TP-SCTS.
    pub timestamp: Timestamp,
    /// TP-UD.
    pub user_data: UserData,
}

/// TP-VP in its three formats (TS 23.040 §9.2.3.12).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValidityPeriod {
    /// Relative, one octet.
    Relative(u8),
    /// Absolute time.
    Absolute(Timestamp),
    /// Enhanced format, seven octets kept as received.
    Enhanced([u8; 7]),
}

impl ValidityPeriod {
    /// Minutes a relative validity stands for, per the TS 23.040 table.
    pub fn relative_minutes(octet: u8) -> u32 {
        let v = u32::from(octet);
        match octet {
            0..=143 => (v + 1) * 5,
            144..=167 => 12 * 60 + (v - 143) * 30,
            168..=196 => (v - 166) * 24 * 60,
            _ => (v - 192) * 7 * 24 * 60,
        }
    }

    /// The smallest relative octet whose period is at least `minutes`
    /// (capped at 63 weeks, the largest the field holds).
    pub fn relative_octet_for(minutes: u32) -> u8 {
        (0..=u8::MAX)
            .find(|&octet| Self::relative_minutes(octet) >= minutes)
            .unwrap_or(u8::MAX)
    }
}

/// SMS-SUBMIT (TS 23.040 §9.2.2.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Submit {
    /// SMSC field.
    pub smsc: Option<Address>,
    /// The first octet as received.
    pub first_octet: u8,
    /// TP-RD: reject duplicates.
    pub reject_duplicates: bool,
    /// TP-SRR: a status report is requested.
    pub status_report_request: bool,
    /// TP-RP.
    pub reply_path: bool,
    /// TP-MR.
    pub message_ref: u8,
    /// TP-DA, the recipient.
    pub destination: Address,
    /// TP-PID.
    pub pid: u8,
    /// TP-DCS.
    pub dcs: DataCoding,
    /// TP-VP, when TP-VPF announces one.
    pub validity: Option<ValidityPeriod>,
    /// TP-UD.
    pub user_data: UserData,
}

/// What a TP-Status value says about delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryOutcome {
    /// 0x00-0x1F: the transaction completed.
    Delivered,
    /// 0x20-0x3F: temporary error, the SC is still trying.
    Pending,
    /// 0x40-0x7F: permanent error, or temporary error the SC gave up on;
    /// reserved values (0x80-0xFF) count here too, as TS 23.040 tells a
    /// receiver to read them as "service rejected".
    Failed,
}

impl DeliveryOutcome {
    /// Classifies a TP-ST value.
    pub fn from_status(status: u8) -> DeliveryOutcome {
        match status {
            0x00..=0x1F => DeliveryOutcome::Delivered,
            0x20..=0x3F => DeliveryOutcome::Pending,
            _ => DeliveryOutcome::Failed,
        }
    }
}

/// SMS-STATUS-REPORT (TS 23.040 §9.2.2.3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReport {
    /// SMSC field.
    pub smsc: Option<Address>,
    /// The first octet as received.
    pub first_octet: u8,
    /// TP-MMS inverted.
    pub more_messages: bool,
    /// TP-SRQ: this reports on an SMS-COMMAND rather than an SMS-SUBMIT.
    pub reports_command: bool,
    /// TP-MR of the message this reports on.
    pub message_ref: u8,
    /// TP-RA, the recipient of that message.
    pub recipient: Address,
    /// TP-SCTS: when the SC received the message.
    pub timestamp: Timestamp,
    /// TP-DT: when the SC delivered it (or last tried).
    pub discharge_time: Timestamp,
    /// TP-ST.
    pub status: u8,
    /// Optional TP-PID (after TP-PI).
    pub pid: Option<u8>,
    /// Optional TP-DCS.
    pub dcs: Option<DataCoding>,
    /// Optional TP-UD.
    pub user_data: Option<UserData>,
}

impl StatusReport {
    /// What the status says about delivery.
    pub fn outcome(&self) -> DeliveryOutcome {
        DeliveryOutcome::from_status(self.status)
    }
}

/// Decodes a PDU given as hex (either case; surrounding whitespace is
/// ignored). `has_smsc` says whether the SMSC field comes first, as in
/// `+CMGR`/`+CMGL`/`+CMT` output; `+CDS` on some modems omits it.
pub fn decode(hex_text: &str, has_smsc: bool) -> Result<Pdu, PduError> {
    let trimmed = hex_text.trim();
    if trimmed.is_empty() {
        return Err(PduError::Empty);
    }
    let bytes = hex::decode(trimmed).map_err(|e| PduError::InvalidHex(e.to_string()))?;
    decode_bytes(&bytes, has_smsc)
}

/// Decodes a PDU given as octets; see [`decode`].
pub fn decode_bytes(bytes: &[u8], has_smsc: bool) -> Result<Pdu, PduError> {
    if bytes.is_empty() {
        return Err(PduError::Empty);
    }
    let mut r = Reader::new(bytes);
    let smsc = if has_smsc { decode_smsc(&mut r)? } else { None };
    let first_octet = r.u8("first octet")?;
    match first_octet & 0x03 {
        0b00 => decode_deliver(&mut r, smsc, first_octet).map(Pdu::Deliver),
        0b01 => decode_submit(&mut r, smsc, first_octet).map(Pdu::Submit),
        0b10 => decode_status_report(&mut r, smsc, first_octet).map(Pdu::StatusReport),
        _ => Err(PduError::ReservedMessageType),
    }
}

const UDHI: u8 = 0x40;

fn decode_deliver(
    r: &mut Reader<'_>,
    smsc: Option<Address>,
    first_octet: u8,
) -> Result<Deliver, PduError> {
    let originator = decode_tp_address(r)?;
    let pid = r.u8("TP-PID")?;
    let dcs = DataCoding::from_octet(r.u8("TP-DCS")?);
    let timestamp = Timestamp::decode(r.take7("TP-SCTS")?, "TP-SCTS")?;
    let udl = r.u8("TP-UDL")?;
    let user_data = decode_user_data(r.rest(), udl, first_octet & UDHI != 0, &dcs)?;
    Ok(Deliver {
        smsc,
        first_octet,
        more_messages: first_octet & 0x04 == 0,
        loop_prevention: first_octet & 0x08 != 0,
        status_report_indication: first_octet & 0x20 != 0,
        reply_path: first_octet & 0x80 != 0,
        originator,
        pid,
        dcs,
        timestamp,
        user_data,
    })
}

fn decode_submit(
    r: &mut Reader<'_>,
    smsc: Option<Address>,
    first_octet: u8,
) -> Result<Submit, PduError> {
    let message_ref = r.u8("TP-MR")?;
    let destination = decode_tp_address(r)?;
    let pid = r.u8("TP-PID")?;
    let dcs = DataCoding::from_octet(r.u8("TP-DCS")?);
    let validity = match (first_octet >> 3) & 0x03 {
        0b00 => None,
        0b10 => Some(ValidityPeriod::Relative(r.u8("TP-VP")?)),
        0b01 => Some(ValidityPeriod::Enhanced(r.take7("TP-VP")?)),
        _ => Some(ValidityPeriod::Absolute(Timestamp::decode(
            r.take7("TP-VP")?,
            "TP-VP",
        )?)),
    };
    let udl = r.u8("TP-UDL")?;
    let user_data = decode_user_data(r.rest(), udl, first_octet & UDHI != 0, &dcs)?;
    Ok(Submit {
        smsc,
        first_octet,
        reject_duplicates: first_octet & 0x04 != 0,
        status_report_request: first_octet & 0x20 != 0,
        reply_path: first_octet & 0x80 != 0,
        message_ref,
        destination,
        pid,
        dcs,
        validity,
        user_data,
    })
}

fn decode_status_report(
    r: &mut Reader<'_>,
    smsc: Option<Address>,
    first_octet: u8,
) -> Result<StatusReport, PduError> {
    let message_ref = r.u8("TP-MR")?;
    let recipient = decode_tp_address(r)?;
    let timestamp = Timestamp::decode(r.take7("TP-SCTS")?, "TP-SCTS")?;
    let discharge_time = Timestamp::decode(r.take7("TP-DT")?, "TP-DT")?;
    let status = r.u8("TP-ST")?;
    let mut report = StatusReport {
        smsc,
        first_octet,
        more_messages: first_octet & 0x04 == 0,
        reports_command: first_octet & 0x20 != 0,
        message_ref,
        recipient,
        timestamp,
        discharge_time,
        status,
        pid: None,
        dcs: None,
        user_data: None,
    };
    // The optional part (TP-PI and what it announces) is read only when it
    // is complete: some modems pad reports with stray octets, and the
    // mandatory fields above already say all the daemon needs.
    if !r.is_empty() {
        if let Ok((pid, dcs, user_data)) = decode_status_report_options(r, first_octet) {
            report.pid = pid;
            report.dcs = dcs;
            report.user_data = user_data;
        }
    }
    Ok(report)
}

type ReportOptions = (Option<u8>, Option<DataCoding>, Option<UserData>);

fn decode_status_report_options(
    r: &mut Reader<'_>,
    first_octet: u8,
) -> Result<ReportOptions, PduError> {
    let indicator = r.u8("TP-PI")?;
    let pid = if indicator & 0x01 != 0 {
        Some(r.u8("TP-PID")?)
    } else {
        None
    };
    let dcs = if indicator & 0x02 != 0 {
        Some(DataCoding::from_octet(r.u8("TP-DCS")?))
    } else {
        None
    };
    let user_data = if indicator & 0x04 != 0 {
        let udl = r.u8("TP-UDL")?;
        let coding = dcs.unwrap_or_else(|| DataCoding::from_octet(0));
        Some(decode_user_data(
            r.rest(),
            udl,
            first_octet & UDHI != 0,
            &coding,
        )?)
    } else {
        None
    };
    Ok((pid, dcs, user_data))
}

/// Decodes TP-UD. TP-UDL counts septets for GSM 7-bit and octets otherwise,
/// header included; the data must hold all of it. Octets beyond what TP-UDL
/// covers are ignored (some modems pad).
fn decode_user_data(
    data: &[u8],
    udl: u8,
    has_header: bool,
    dcs: &DataCoding,
) -> Result<UserData, PduError> {
    let udl = usize::from(udl);
    let septets = dcs.encoding == Encoding::Gsm7;
    let (max, unit, needed) = if septets {
        (MAX_SEPTETS, "septets", (udl * 7).div_ceil(8))
    } else {
        (MAX_OCTETS, "octets", udl)
    };
    if udl > max {
        return Err(PduError::UserDataLengthOutOfRange { udl, unit, max });
    }
    let raw = data.get(..needed).ok_or(PduError::UserDataTruncated {
        needed,
        available: data.len(),
    })?;

    let (header, header_octets) = if has_header {
        let udhl = usize::from(*raw.first().ok_or(PduError::InvalidHeader(
            "TP-UDHI is set but there is no user data",
        ))?);
        let header_octets = udhl + 1;
        let fits = if septets {
            gsm7::header_septets(header_octets) <= udl
        } else {
            header_octets <= udl
        };
        let body = raw
            .get(1..header_octets)
            .filter(|_| fits)
            .ok_or(PduError::InvalidHeader("longer than the user data"))?;
        (Some(UserDataHeader::parse(body)?), header_octets)
    } else {
        (None, 0)
    };
    let payload = raw.get(header_octets..).unwrap_or(&[]);

    let mut user_data = UserData {
        header,
        text: None,
        raw: raw.to_vec(),
        payload: payload.to_vec(),
        dangling_escape: false,
        odd_ucs2_octet: false,
    };
    if dcs.compressed {
        return Ok(user_data);
    }
    match dcs.encoding {
        Encoding::Gsm7 => {
            let (fill, skip) = if has_header {
                (
                    gsm7::fill_bits_after_header(header_octets),
                    gsm7::header_septets(header_octets),
                )
            } else {
                (0, 0)
            };
            let count = udl.saturating_sub(skip);
            let text_septets = gsm7::unpack_septets(payload, fill, count)
                .ok_or(PduError::Truncated("user data"))?;
            let decoded = gsm7::decode_septets(&text_septets);
            user_data.text = Some(decoded.text);
            user_data.dangling_escape = decoded.dangling_escape;
        }
        Encoding::Ucs2 => {
            let decoded = ucs2::decode(payload);
            user_data.text = Some(decoded.text);
            user_data.odd_ucs2_octet = decoded.odd_trailing_octet;
        }
        Encoding::EightBit => {}
    }
    Ok(user_data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classic_deliver() {
        let pdu = decode(
            "07911326040000F0040B911346610089F60000208062917314800CC8F71D14969741F977FD07",
            true,
        )
        .expect("valid");
        let Pdu::Deliver(d) = pdu else {
            panic!("expected a deliver, got {pdu:?}");
        };
        assert_eq!(d.originator.to_display(), "+31641600986");
        assert_eq!(d.user_data.text.as_deref(), Some("How are you?"));
        assert_eq!(d.timestamp.to_rfc3339(), "2002-08-26T19:37:41+02:00");
    }

    #[test]
    fn padding_is_not_an_at_sign_but_a_counted_at_is_kept() {
        // "1234567": 7 septets fill 7 octets with 7 zero bits left over.
        let seven = "0001000B917228001011F1000007_31D98C56B3DD00".replace('_', "");
        let Ok(Pdu::Submit(s)) = decode(&seven, true) else {
            panic!("valid submit");
        };
        assert_eq!(s.user_data.text.as_deref(), Some("1234567"));
        // "123456@": the same 7 octets' worth of bits, but TP-UDL = 7 counts
        // the zero septet, so it is a real '@'.
        let with_at = "0001000B917228001011F1000007_31D98C56B30100".replace('_', "");
        let Ok(Pdu::Submit(s)) = decode(&with_at, true) else {
            panic!("valid submit");
        };
        assert_eq!(s.user_data.text.as_deref(), Some("123456@"));
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(decode("", true), Err(PduError::Empty));
        assert!(matches!(decode("0G", true), Err(PduError::InvalidHex(_))));
        assert!(matches!(decode("123", true), Err(PduError::InvalidHex(_))));
        assert!(matches!(
            decode("0003", true),
            Err(PduError::ReservedMessageType)
        ));
        assert!(matches!(decode("00", true), Err(PduError::Truncated(_))));
    }

    #[test]
    fn relative_validity_table() {
        assert_eq!(ValidityPeriod::relative_minutes(0), 5);
        assert_eq!(ValidityPeriod::relative_minutes(5), 30);
        assert_eq!(ValidityPeriod::relative_minutes(143), 720);
        assert_eq!(ValidityPeriod::relative_minutes(167), 1440);
        assert_eq!(ValidityPeriod::relative_minutes(0xA9), 3 * 1440);
        assert_eq!(ValidityPeriod::relative_minutes(0xF4), 52 * 7 * 1440);
        assert_eq!(ValidityPeriod::relative_octet_for(30), 5);
        assert_eq!(ValidityPeriod::relative_octet_for(31), 6);
        assert_eq!(ValidityPeriod::relative_octet_for(4 * 1440), 0xAA);
        assert_eq!(ValidityPeriod::relative_octet_for(u32::MAX), 0xFF);
    }

    #[test]
    fn delivery_outcome_ranges() {
        assert_eq!(
            DeliveryOutcome::from_status(0x00),
            DeliveryOutcome::Delivered
        );
        assert_eq!(DeliveryOutcome::from_status(0x30), DeliveryOutcome::Pending);
        assert_eq!(DeliveryOutcome::from_status(0x43), DeliveryOutcome::Failed);
        assert_eq!(DeliveryOutcome::from_status(0x65), DeliveryOutcome::Failed);
        assert_eq!(DeliveryOutcome::from_status(0x80), DeliveryOutcome::Failed);
    }
}
