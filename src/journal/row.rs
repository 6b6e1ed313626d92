//! Reading and writing column values: exact decimals and RFC 3339 times as text.
//!
//! Owns the text formats of the journal's values and the decoding of one row into typed
//! values. A value that does not decode is a [`JournalError::Corrupt`] naming table,
//! column and row id; nothing here unwraps or guesses. It never runs a statement.

use std::str::FromStr;

use jiff::fmt::temporal::DateTimePrinter;
use jiff::Timestamp;
use rusqlite::types::{FromSql, ValueRef};
use rust_decimal::Decimal;

use super::error::{JournalError, Result};

/// Times are written in UTC with exactly nine fractional digits, so that text order is
/// time order and `WHERE next_attempt_at <= ?` compares correctly in SQL.
const TIME_PRINTER: DateTimePrinter = DateTimePrinter::new().precision(Some(9));

/// The stored text of a time: RFC 3339, UTC, fixed width.
pub(crate) fn time_text(at: Timestamp) -> String {
    TIME_PRINTER.timestamp_to_string(&at)
}

/// The stored text of an exact decimal: its plain `Display` form (never exponent, never
/// through `f64`).
pub(crate) fn decimal_text(value: Decimal) -> String {
    value.to_string()
}

/// One row being decoded, with enough context to name a corrupted value.
pub(crate) struct RowReader<'r, 's> {
    row: &'r rusqlite::Row<'s>,
    table: &'static str,
    id: i64,
}

impl<'r, 's> RowReader<'r, 's> {
    /// Starts decoding `row` of `table`; `id_column` is its primary key, read first so
    /// every later error can name the row.
    pub(crate) fn new(
        row: &'r rusqlite::Row<'s>,
        table: &'static str,
        id_column: &'static str,
    ) -> Result<Self> {
        let mut reader = Self { row, table, id: -1 };
        reader.id = reader.get::<i64>(id_column)?;
        Ok(reader)
    }

    /// Like [`new`](Self::new) for tables whose key is text: the row is named by its
    /// SQLite `rowid`, which the query must select as `rowid`.
    pub(crate) fn with_rowid(row: &'r rusqlite::Row<'s>, table: &'static str) -> Result<Self> {
        Self::new(row, table, "rowid")
    }

    /// The row id used in error messages.
    pub(crate) fn id(&self) -> i64 {
        self.id
    }

    /// A corruption error for `column` of this row.
    pub(crate) fn corrupt(&self, column: &'static str, reason: impl Into<String>) -> JournalError {
        JournalError::Corrupt {
            table: self.table,
            column,
            row: self.id,
            reason: reason.into(),
        }
    }

    /// A value of any plain SQLite-convertible type; a wrong storage type is corruption.
    pub(crate) fn get<T: FromSql>(&self, column: &'static str) -> Result<T> {
        self.row.get::<_, T>(column).map_err(|e| match e {
            rusqlite::Error::InvalidColumnType(_, _, ty) => {
                self.corrupt(column, format!("unexpected storage type {ty}"))
            }
            rusqlite::Error::FromSqlConversionFailure(_, _, err) => {
                self.corrupt(column, err.to_string())
            }
            rusqlite::Error::IntegralValueOutOfRange(_, v) => {
                self.corrupt(column, format!("integer {v} out of range"))
            }
            other => JournalError::Sqlite(other),
        })
    }

    /// Text, or `None` for NULL.
    pub(crate) fn opt_text(&self, column: &'static str) -> Result<Option<String>> {
        self.get::<Option<String>>(column)
    }

    /// An integer that must fit `T` (e.g. a `u8` nozzle).
    pub(crate) fn int<T: TryFrom<i64>>(&self, column: &'static str) -> Result<T> {
        let raw: i64 = self.get(column)?;
        T::try_from(raw).map_err(|_| self.corrupt(column, format!("integer {raw} out of range")))
    }

    /// Like [`int`](Self::int), `None` for NULL.
    pub(crate) fn opt_int<T: TryFrom<i64>>(&self, column: &'static str) -> Result<Option<T>> {
        match self.get::<Option<i64>>(column)? {
            None => Ok(None),
            Some(raw) => T::try_from(raw)
                .map(Some)
                .map_err(|_| self.corrupt(column, format!("integer {raw} out of range"))),
        }
    }

    /// An exact decimal stored as text.
    pub(crate) fn decimal(&self, column: &'static str) -> Result<Decimal> {
        match self.opt_decimal(column)? {
            Some(value) => Ok(value),
            None => Err(self.corrupt(column, "NULL where a decimal is required")),
        }
    }

    /// An exact decimal stored as text, `None` for NULL.
    pub(crate) fn opt_decimal(&self, column: &'static str) -> Result<Option<Decimal>> {
        // Only text is accepted: an INTEGER or REAL here means someone wrote the row
        // around the journal, and a REAL may already have lost cents.
        let text = match self.value(column)? {
            ValueRef::Null => return Ok(None),
            ValueRef::Text(bytes) => std::str::from_utf8(bytes)
                .map_err(|_| self.corrupt(column, "decimal text is not UTF-8"))?
                .to_owned(),
            other => {
                return Err(self.corrupt(
                    column,
                    format!("decimal stored as {}, not text", other.data_type()),
                ))
            }
        };
        parse_decimal(&text)
            .map(Some)
            .ok_or_else(|| self.corrupt(column, format!("{text:?} is not an exact decimal")))
    }

    /// A time stored as RFC 3339 text.
    pub(crate) fn time(&self, column: &'static str) -> Result<Timestamp> {
        match self.opt_time(column)? {
            Some(at) => Ok(at),
            None => Err(self.corrupt(column, "NULL where a time is required")),
        }
    }

    /// A time stored as RFC 3339 text, `None` for NULL.
    pub(crate) fn opt_time(&self, column: &'static str) -> Result<Option<Timestamp>> {
        match self.opt_text(column)? {
            None => Ok(None),
            Some(text) => Timestamp::from_str(&text).map(Some).map_err(|e| {
                self.corrupt(column, format!("{text:?} is not an RFC 3339 time: {e}"))
            }),
        }
    }

    /// Text that must parse with `parse` (a status or kind name).
    pub(crate) fn named<T>(
        &self,
        column: &'static str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<T> {
        let text: String = self.get(column)?;
        parse(&text).ok_or_else(|| self.corrupt(column, format!("unknown value {text:?}")))
    }

    fn value(&self, column: &'static str) -> Result<ValueRef<'_>> {
        self.row.get_ref(column).map_err(JournalError::Sqlite)
    }
}

/// Parses the journal's decimal text: plain notation only, no rounding.
pub(crate) fn parse_decimal(text: &str) -> Option<Decimal> {
    // `from_str_exact` refuses values that would need rounding to fit; the extra check
    // refuses exponent forms and stray spaces, which `decimal_text` never writes.
    let plain = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-');
    if !plain {
        return None;
    }
    Decimal::from_str_exact(text).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_text_is_fixed_width_and_sorts_as_time() {
        let a: Timestamp = "2026-11-22T13:40:49Z".parse().expect("valid literal");
        let b: Timestamp = "2026-11-22T13:40:49.5Z".parse().expect("valid literal");
        let (ta, tb) = (time_text(a), time_text(b));
        assert_eq!(ta, "2026-11-22T13:40:49.000000000Z");
        assert_eq!(ta.len(), tb.len());
        assert!(ta < tb);
        assert_eq!(Timestamp::from_str(&tb).ok(), Some(b));
    }

    #[test]
    fn decimal_text_round_trips_exactly() {
        for text in [
            "0",
            "8000.00",
            "10.000",
            "0.428",
            "-1.5",
            "79228162514264337593543950335",
        ] {
            let d = parse_decimal(text).expect("valid decimal literal");
            assert_eq!(decimal_text(d), text);
        }
        for bad in ["", "1e3", " 1", "1,5", "abc", "1.2.3", "NaN"] {
            assert_eq!(parse_decimal(bad), None, "{bad:?} must be refused");
        }
    }
}
