//! How the typed states ([`crate::states`], [`OtpStatus`]) are stored: as their words, read
//! back strictly (an unknown word is [`super::StoreError::UnknownState`], not a default).

use crate::states::{DeliveryStatus, EventKind, MessageStatus, PartStatus, UnknownState};
use crate::verify::OtpStatus;
use rusqlite::types::{FromSql, FromSqlError, FromSqlResult, ToSql, ToSqlOutput, ValueRef};

macro_rules! stored_as_word {
    ($($name:ty),+) => {$(
        impl ToSql for $name {
            fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
                Ok(ToSqlOutput::from(self.as_str()))
            }
        }

        impl FromSql for $name {
            fn column_result(value: ValueRef<'_>) -> FromSqlResult<Self> {
                let word = value.as_str()?;
                word.parse::<$name>()
                    .map_err(|e: UnknownState| FromSqlError::Other(Box::new(e)))
            }
        }
    )+};
}

stored_as_word!(
    MessageStatus,
    PartStatus,
    DeliveryStatus,
    EventKind,
    OtpStatus
);

/// The [`UnknownState`] inside a rusqlite error, if that is what it is.
pub(super) fn unknown_state(e: &rusqlite::Error) -> Option<UnknownState> {
    match e {
        rusqlite::Error::FromSqlConversionFailure(_, _, inner) => {
            inner.downcast_ref::<UnknownState>().cloned()
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn an_unknown_stored_word_is_an_error() {
        let conn = Connection::open_in_memory().unwrap();
        let read = |word: &str| -> rusqlite::Result<PartStatus> {
            conn.query_row("SELECT ?1", [word], |r| r.get(0))
        };
        assert_eq!(read("uncertain").unwrap(), PartStatus::Uncertain);
        let err = read("maybe").unwrap_err();
        assert_eq!(
            unknown_state(&err),
            Some(UnknownState::new("part status", "maybe"))
        );
        let store_err = super::super::StoreError::from(err);
        assert_eq!(
            store_err.to_string(),
            "the database holds an unknown part status \"maybe\""
        );
    }
}
