//! Secrets that never show up in logs.
//!
//! [`Redacted<T>`] holds a secret (the SIM PIN, an API key, a webhook secret, a hook's token)
//! and prints `****` for both `Debug` and `Display`, so a struct holding one may derive `Debug`
//! and still be logged or put in an error whole. The value is read on purpose, with
//! [`Redacted::expose`] (or through `Deref`, which reads like the value it wraps).
//!
//! Serde is transparent: the config file is read as before, and serializing writes the value.
//! The one place the config is printed, `check-config`, masks explicitly
//! ([`crate::config::Config::to_redacted_toml`]), keeping a short prefix of API keys so that an
//! operator can tell them apart. SQLite reads and writes the value too (webhook secrets are
//! stored; they must be, to sign).

use serde::{Deserialize, Serialize};
use std::fmt;

/// What `Debug` and `Display` print instead of the value.
pub const MASK: &str = "****";

/// A secret value: `Debug` and `Display` print [`MASK`].
#[derive(Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Redacted<T>(T);

impl<T> Redacted<T> {
    pub fn new(value: T) -> Redacted<T> {
        Redacted(value)
    }

    /// The secret itself; the name makes every read visible in review.
    pub fn expose(&self) -> &T {
        &self.0
    }

    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> fmt::Debug for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl<T> fmt::Display for Redacted<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(MASK)
    }
}

impl<T> std::ops::Deref for Redacted<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> From<T> for Redacted<T> {
    fn from(value: T) -> Redacted<T> {
        Redacted(value)
    }
}

impl From<&str> for Redacted<String> {
    fn from(value: &str) -> Redacted<String> {
        Redacted(value.to_owned())
    }
}

impl PartialEq<str> for Redacted<String> {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

impl PartialEq<&str> for Redacted<String> {
    fn eq(&self, other: &&str) -> bool {
        self.0 == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_mask_the_value() {
        let pin: Redacted<String> = "4321".into();
        assert_eq!(format!("{pin:?}"), "****");
        assert_eq!(format!("{pin}"), "****");
        assert_eq!(format!("{:?}", Some(pin.clone())), "Some(****)");
        assert_eq!(pin.expose(), "4321");
        assert_eq!(pin.len(), 4, "Deref reads the value");
    }

    #[test]
    fn serde_is_transparent() {
        #[derive(Serialize, Deserialize, Debug)]
        struct Modem {
            pin: Option<Redacted<String>>,
        }
        let m: Modem = toml::from_str("pin = \"4321\"").unwrap();
        assert_eq!(m.pin.as_deref().map(String::as_str), Some("4321"));
        assert!(!format!("{m:?}").contains("4321"));
        assert!(toml::to_string(&m).unwrap().contains("4321"));
    }
}
