//! SMS PDU codec (3GPP TS 23.040 / 23.038), pure and free of I/O.
//!
//! * [`decode`] reads what a modem prints after `+CMGR`/`+CMGL`/`+CMT`/`+CDS`.
//! * [`encode_submit`] builds what the daemon sends after `AT+CMGS=<len>`.
//! * [`encode_deliver`] and [`encode_status_report`] build what a network
//!   sends, for the simulator.
//! * [`plan`] picks the alphabet and cuts long texts; [`concat`](mod@concat) joins parts.

pub mod address;
pub mod concat;
pub(crate) mod dcs;
pub(crate) mod error;
pub mod gsm7;
pub(crate) mod network;
pub(crate) mod pdu;
mod reader;
pub(crate) mod split;
pub(crate) mod submit;
pub(crate) mod timestamp;
pub mod ucs2;
pub(crate) mod udh;

pub use address::{Address, AddressKind};
pub use concat::{join_in_order, Reassembler};
pub use dcs::{DataCoding, MessageClass};
pub use error::{EncodeError, PduError};
pub use network::{encode_deliver, encode_deliver_from, encode_status_report, DeliverOptions};
pub use pdu::{
    decode, decode_bytes, Deliver, DeliveryOutcome, Pdu, StatusReport, Submit, UserData,
    ValidityPeriod,
};
pub use split::{plan, plan_with, SplitPlan};
pub use submit::{encode_submit, EncodedPart, SubmitOptions};
pub use timestamp::Timestamp;
pub use udh::{Concat, UserDataHeader};

/// Alphabet of the user data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Encoding {
    /// GSM 7-bit default alphabet (with its extension table).
    #[serde(rename = "gsm7")]
    Gsm7,
    /// UCS-2, read and written as UTF-16BE.
    #[serde(rename = "ucs2")]
    Ucs2,
    /// 8-bit binary data.
    #[serde(rename = "8bit")]
    EightBit,
}

impl Encoding {
    /// The name used in JSON ("gsm7", "ucs2", "8bit").
    pub fn as_str(self) -> &'static str {
        match self {
            Encoding::Gsm7 => "gsm7",
            Encoding::Ucs2 => "ucs2",
            Encoding::EightBit => "8bit",
        }
    }
}
