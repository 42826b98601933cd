//! Errors of the PDU decoder and encoders. Messages are one line each, so
//! that the CLI can print them as they are.

/// Why a PDU could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    /// Nothing to decode.
    #[error("PDU is empty")]
    Empty,
    /// The input is not an even number of hex digits.
    #[error("PDU is not valid hex: {0}")]
    InvalidHex(String),
    /// The PDU ends before a field it announces.
    #[error("PDU ends inside the {0}")]
    Truncated(&'static str),
    /// A length field is larger than the format allows.
    #[error("{field} length {len} exceeds the maximum of {max}")]
    FieldTooLong {
        /// Which field.
        field: &'static str,
        /// The length it claims.
        len: usize,
        /// The largest length 3GPP TS 23.040 allows there.
        max: usize,
    },
    /// TP-MTI `11` is reserved in 3GPP TS 23.040 §9.2.3.1.
    #[error("TP-MTI 3 is reserved: not an SMS-DELIVER, SMS-SUBMIT or SMS-STATUS-REPORT")]
    ReservedMessageType,
    /// TP-UDL is larger than a short message can carry.
    #[error("user data length {udl} {unit} exceeds the maximum of {max}")]
    UserDataLengthOutOfRange {
        /// TP-UDL as received.
        udl: usize,
        /// "septets" or "octets", depending on the alphabet.
        unit: &'static str,
        /// The maximum for that alphabet.
        max: usize,
    },
    /// TP-UDL announces more user data than the PDU holds.
    #[error("user data length needs {needed} octets but only {available} follow")]
    UserDataTruncated {
        /// Octets TP-UDL implies.
        needed: usize,
        /// Octets actually present.
        available: usize,
    },
    /// The user data header does not fit its own lengths.
    #[error("user data header is malformed: {0}")]
    InvalidHeader(&'static str),
    /// A timestamp field holds something that is not a date.
    #[error("invalid {field}: {reason}")]
    InvalidTimestamp {
        /// "TP-SCTS", "TP-DT" or "TP-VP".
        field: &'static str,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Why a message could not be encoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The destination is not a phone number we can put in TP-DA.
    #[error("invalid destination number {0:?}: use digits (0-9 * # a b c), optionally after '+', at most 20")]
    InvalidNumber(String),
    /// The SMSC is not a phone number.
    #[error("invalid SMSC number {0:?}: use digits, optionally after '+', at most 20")]
    InvalidSmsc(String),
    /// The text needs more parts than a concatenated message may have.
    #[error("text needs {0} parts; a concatenated message has at most 255")]
    TooManyParts(usize),
}
