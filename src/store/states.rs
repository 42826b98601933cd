//! How the typed states ([`crate::states`], [`OtpStatus`]) are stored: as their words, read
//! back strictly (an unknown word is [`super::StoreError::UnknownState`], not a default).

use crate::states::{DeliveryStatus, EventKind, MessageStatus, PartStatus, UnknownState};
use crate::store::db::{self, FromSql, FromSqlError, FromSqlResult, ToSql, ValueRef};
use crate::verify::OtpStatus;

macro_rules! stored_as_word {
    ($($name:ty),+) => {$(
        impl ToSql for $name {
            fn to_sql(&self) -> ValueRef<'_> {
                ValueRef::Text(self.as_str())
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

/// The [`UnknownState`] inside a database error, if that is what it is.
pub(super) fn unknown_state(e: &db::Error) -> Option<UnknownState> {
    match e {
        db::Error::FromSql {
            source: FromSqlError::Other(inner),
            ..
        } => inner.downcast_ref::<UnknownState>().cloned(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_stored_word_is_an_error() {
        let conn = crate::store::test_support::test_db();
        let read = |word: &str| -> crate::store::db::Result<PartStatus> {
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
