//! The states rows move through, as types: outbound message and part status, webhook delivery
//! status and event kinds (verification status is [`crate::verify::OtpStatus`], shared by
//! standard and reverse OTP). Each is stored as its word (`as_str`), checked by the schema
//! (`CHECK (status IN (…))`), and read back strictly: an unknown word is an error
//! ([`UnknownState`]), never a default. Pure: no I/O.

use std::fmt;

/// A stored word that is not one of a state's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {what} {value:?}")]
pub struct UnknownState {
    pub what: &'static str,
    pub value: String,
}

impl UnknownState {
    pub fn new(what: &'static str, value: &str) -> UnknownState {
        UnknownState {
            what,
            value: value.to_string(),
        }
    }
}

/// Declares a state enum with its stored words, `as_str`, `FromStr` (strict), `Display`,
/// `ALL`, and serde as the word.
macro_rules! states {
    ($(#[$meta:meta])* $name:ident, $what:literal { $($(#[$vmeta:meta])* $variant:ident => $word:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $word)] $variant,)+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The stored (and API) word.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)+
                }
            }
        }

        impl std::str::FromStr for $name {
            type Err = UnknownState;

            fn from_str(s: &str) -> Result<$name, UnknownState> {
                match s {
                    $($word => Ok($name::$variant),)+
                    _ => Err(UnknownState::new($what, s)),
                }
            }
        }

        /// Compares with a stored word (tests and filters read more clearly so).
        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

states! {
    /// An outbound message (`outbound_messages.status`).
    MessageStatus, "message status" {
        /// Waiting for a modem (also after a failed attempt, until `not_before`).
        Queued => "queued",
        /// A pool worker holds it.
        Sending => "sending",
        /// Every part left.
        Sent => "sent",
        /// Every part reported delivered.
        Delivered => "delivered",
        Failed => "failed",
        /// A code SMS whose verification ended before it was sent: never sent.
        Withdrawn => "withdrawn",
    }
}

states! {
    /// One SMS part (`outbound_parts.status`).
    PartStatus, "part status" {
        Queued => "queued",
        /// Committed before the PDU is written: as `AT+CMGS=` is, or with the message's
        /// acceptance when its modem stood by (`store::standby`).
        Submitting => "submitting",
        Sent => "sent",
        /// A crash or hang after `submitting`: never sent again.
        Uncertain => "uncertain",
        Delivered => "delivered",
        Failed => "failed",
        Withdrawn => "withdrawn",
    }
}

states! {
    /// A webhook delivery (`webhook_deliveries.status`).
    DeliveryStatus, "webhook delivery status" {
        Pending => "pending",
        Delivered => "delivered",
        Failed => "failed",
    }
}

states! {
    /// What an event (`events.type`) announces.
    EventKind, "event kind" {
        MessageReceived => "message.received",
        /// An inbound PDU that could not be decoded (kept, announced, not joined).
        MessageUndecodable => "message.undecodable",
        MessageStatus => "message.status",
        ModemStatus => "modem.status",
        OtpVerified => "otp.verified",
        OtpFailed => "otp.failed",
        OtpExpired => "otp.expired",
        OtpReverseVerified => "otp.reverse.verified",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip<T>(all: &[T])
    where
        T: Copy + PartialEq + fmt::Debug + std::str::FromStr<Err = UnknownState>,
        T: fmt::Display + serde::Serialize,
    {
        for &value in all {
            let word = value.to_string();
            assert_eq!(word.parse::<T>(), Ok(value));
            assert_eq!(
                serde_json::to_string(&value).unwrap(),
                format!("\"{word}\"")
            );
        }
    }

    #[test]
    fn every_state_round_trips_through_its_word() {
        round_trip(MessageStatus::ALL);
        round_trip(PartStatus::ALL);
        round_trip(DeliveryStatus::ALL);
        round_trip(EventKind::ALL);
    }

    #[test]
    fn an_unknown_word_is_an_error_not_a_default() {
        let err = "queueed".parse::<PartStatus>().unwrap_err();
        assert_eq!(err, UnknownState::new("part status", "queueed"));
        assert_eq!(err.to_string(), "unknown part status \"queueed\"");
        assert!("".parse::<MessageStatus>().is_err());
        assert!("Pending".parse::<DeliveryStatus>().is_err());
        assert!("otp.verified.x".parse::<EventKind>().is_err());
    }
}
