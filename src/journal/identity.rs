//! Sale identity: invoice number, external reference and loyalty transaction id.
//!
//! Owns the formats of docs/mercadopago.md §4.3, derived from one value N of the station's
//! invoice counter (which the journal bumps, never reuses, and keeps across restarts):
//!
//! | field | rule | example (store 29, position 3, N = 184) |
//! | --- | --- | --- |
//! | `invoice_number` | N zero-padded to exactly 8 digits | `00000184` |
//! | `external_reference` | `ST` + store + `P` + position (2+ digits) + `T` + N (6+ digits), uppercase alphanumeric | `ST29P03T000184` |
//! | `transaction_id` | store padded to 5 + `-P` + position (2+ digits) + `-` + N (6+ digits), ≤ 40 chars | `00029-P03-000184` |
//!
//! The store id is written without leading zeros in the reference (as in the POS
//! `external_id` `ST29P03`) and zero-padded to 5 in the transaction id (the loyalty
//! `store_id`), so `29` and `00029` configure the same store. Uniqueness comes from N
//! alone; position and store make the references readable. A position above 99 or N above
//! 999999 simply uses more digits (the `P`/`T` markers keep the parts apart), but N above
//! 99999999 cannot make an 8-digit invoice number and is refused. Pure code, no I/O.

use pump_protocols::PositionId;

use super::error::{JournalError, Result};

/// The largest N that still fits the 8-digit invoice number.
pub const MAX_INVOICE: u64 = 99_999_999;

/// A validated store id in its two written forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreId {
    /// Uppercase, without leading zeros (`29`).
    short: String,
    /// Uppercase, zero-padded to 5 (`00029`).
    padded: String,
}

impl StoreId {
    /// Validates a configured store id: 1 to 5 ASCII letters or digits (letters are
    /// uppercased, because references must be uppercase alphanumeric).
    pub fn parse(raw: &str) -> Result<Self> {
        let valid = (1..=5).contains(&raw.len()) && raw.bytes().all(|b| b.is_ascii_alphanumeric());
        if !valid {
            return Err(JournalError::InvalidStoreId(raw.to_owned()));
        }
        let upper = raw.to_ascii_uppercase();
        let trimmed = upper.trim_start_matches('0');
        let short = if trimmed.is_empty() { "0" } else { trimmed }.to_owned();
        let padded = format!("{short:0>5}");
        Ok(Self { short, padded })
    }

    /// The form used in references (`29`).
    pub fn short(&self) -> &str {
        &self.short
    }

    /// The 5-character loyalty `store_id` (`00029`).
    pub fn padded(&self) -> &str {
        &self.padded
    }
}

/// The three identifiers of one sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleIdentity {
    /// 8-digit invoice number.
    pub invoice_number: String,
    /// Reference given to Mercado Pago.
    pub external_reference: String,
    /// Loyalty transaction id.
    pub transaction_id: String,
}

impl SaleIdentity {
    /// The identity of invoice `n` of `store` sold on `position`.
    pub fn new(store: &StoreId, position: PositionId, n: u64) -> Result<Self> {
        if n > MAX_INVOICE {
            return Err(JournalError::InvoiceCounterExhausted(n));
        }
        let p = position.0;
        Ok(Self {
            invoice_number: format!("{n:08}"),
            external_reference: format!("ST{}P{p:02}T{n:06}", store.short()),
            transaction_id: format!("{}-P{p:02}-{n:06}", store.padded()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store(raw: &str) -> StoreId {
        StoreId::parse(raw).expect("valid store id in test")
    }

    /// Checks the rules of docs/mercadopago.md §4.3 without reusing the formatting code.
    fn assert_rules(id: &SaleIdentity, store_digits: &str, position: u16, n: u64) {
        let inv = &id.invoice_number;
        assert_eq!(inv.len(), 8, "{inv}");
        assert!(inv.bytes().all(|b| b.is_ascii_digit()), "{inv}");
        assert_eq!(inv.parse::<u64>().ok(), Some(n));

        let r = &id.external_reference;
        assert!(r.len() <= 64, "{r}");
        assert!(
            r.bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()),
            "{r}"
        );
        let rest = r.strip_prefix("ST").expect("reference starts with ST");
        let (st, rest) = rest.split_once('P').expect("reference has P");
        let (pos, num) = rest.split_once('T').expect("reference has T");
        assert_eq!(st, store_digits);
        assert!(
            pos.len() >= 2 && pos.parse::<u16>().ok() == Some(position),
            "{r}"
        );
        assert!(num.len() >= 6 && num.parse::<u64>().ok() == Some(n), "{r}");

        let t = &id.transaction_id;
        assert!(t.len() <= 40, "{t}");
        let parts: Vec<&str> = t.split('-').collect();
        assert_eq!(parts.len(), 3, "{t}");
        assert_eq!(parts[0].len(), 5, "{t}");
        assert_eq!(parts[0].trim_start_matches('0'), store_digits);
        let tp = parts[1].strip_prefix('P').expect("P before the position");
        assert!(
            tp.len() >= 2 && tp.parse::<u16>().ok() == Some(position),
            "{t}"
        );
        assert!(
            parts[2].len() >= 6 && parts[2].parse::<u64>().ok() == Some(n),
            "{t}"
        );
    }

    #[test]
    fn matches_the_worked_example() {
        let id = SaleIdentity::new(&store("29"), PositionId(3), 184).expect("in range");
        assert_eq!(id.invoice_number, "00000184");
        assert_eq!(id.external_reference, "ST29P03T000184");
        assert_eq!(id.transaction_id, "00029-P03-000184");
    }

    #[test]
    fn follows_the_rules_over_positions_and_counters() {
        for raw in ["29", "00029", "7", "12345"] {
            let s = store(raw);
            let digits = raw.trim_start_matches('0');
            for position in [1, 3, 9, 10, 12, 32, 99, 100, 999] {
                for n in [1, 9, 184, 999_999, 1_000_000, 1_234_567, MAX_INVOICE] {
                    let id = SaleIdentity::new(&s, PositionId(position), n).expect("in range");
                    assert_rules(&id, digits, position, n);
                }
            }
        }
    }

    #[test]
    fn large_counters_use_more_digits() {
        let id = SaleIdentity::new(&store("29"), PositionId(3), 1_234_567).expect("in range");
        assert_eq!(id.invoice_number, "01234567");
        assert_eq!(id.external_reference, "ST29P03T1234567");
        assert_eq!(id.transaction_id, "00029-P03-1234567");
    }

    #[test]
    fn refuses_a_counter_past_eight_digits() {
        let err = SaleIdentity::new(&store("29"), PositionId(3), MAX_INVOICE + 1);
        assert!(
            matches!(err, Err(JournalError::InvoiceCounterExhausted(n)) if n == MAX_INVOICE + 1)
        );
    }

    #[test]
    fn store_ids_are_normalised_or_refused() {
        assert_eq!(store("00029"), store("29"));
        assert_eq!(store("a7").short(), "A7");
        assert_eq!(store("a7").padded(), "000A7");
        assert_eq!(store("0").short(), "0");
        assert_eq!(store("00000").padded(), "00000");
        for bad in ["", "123456", "29-1", "2 9", "２９", "ST_1"] {
            assert!(
                matches!(StoreId::parse(bad), Err(JournalError::InvalidStoreId(_))),
                "{bad:?} must be refused"
            );
        }
    }
}
