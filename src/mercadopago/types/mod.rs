//! Serde types of what Mercado Pago sends and receives (docs/mercadopago.md §4–§11).
//!
//! - Money and quantities are `rust_decimal::Decimal` written as exact JSON numbers
//!   (`8000.00` stays `8000.00`), read from numbers or strings; never `f64`.
//! - Unknown fields are ignored: MP adds fields without notice.
//! - Optional response fields default, so a sparse answer still decodes; optional request
//!   fields are left out when `None`, so MP never sees a `null` it did not ask for.
//!
//! This module owns shapes only: no I/O, no validation beyond what serde does.
//!
//! Layout: `payment` holds payments, refunds, the payment search and merchant orders;
//! `pos` the points of sale; `checkout` preferences, the station's answers to a scan and
//! notification bodies; `error` MP's error body; `account` OAuth tokens and test users.
//! This file keeps what they share (exact decimals, paging, items, lenient id readers) and
//! re-exports everything, so callers name it all `types::X`.

mod account;
mod checkout;
mod error;
mod payment;
mod pos;

pub use account::{OAuthToken, TestUser};
pub use checkout::{
    CashierIdentification, IpnBody, Loyalty, LoyaltyProduct, OrderError, OrderErrorAnswer,
    Preference, PreferenceAnswer, PreferenceRequest, QrOrder, WebhookBody, WebhookData,
};
pub use error::ApiErrorBody;
pub use payment::{
    Collector, MerchantOrder, MerchantOrderPayment, Payment, PaymentOrder, PaymentSearch,
    PaymentStatus, Refund, RefundRequest, RefundSource, TransactionDetails,
};
pub use pos::{Pos, PosList, PosQr, PosRequest};

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// Exact-decimal JSON numbers (`arbitrary_precision`), also accepted as strings.
pub mod decimal {
    use rust_decimal::Decimal;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Writes the decimal as a JSON number with its scale (`8000.00`).
    pub fn serialize<S: Serializer>(value: &Decimal, s: S) -> Result<S::Ok, S::Error> {
        rust_decimal::serde::arbitrary_precision::serialize(value, s)
    }

    /// Reads a JSON number (or numeric string) without going through `f64`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Decimal, D::Error> {
        rust_decimal::serde::arbitrary_precision::deserialize(d)
    }

    /// The same for `Option<Decimal>`; `null` and a missing field are `None`.
    pub mod option {
        use super::*;

        #[derive(Deserialize)]
        struct Exact(#[serde(with = "super")] Decimal);

        /// Writes `Some` as an exact number and `None` as `null`.
        pub fn serialize<S: Serializer>(value: &Option<Decimal>, s: S) -> Result<S::Ok, S::Error> {
            rust_decimal::serde::arbitrary_precision_option::serialize(value, s)
        }

        /// Reads an exact number, a numeric string or `null`.
        pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Decimal>, D::Error> {
            Ok(Option::<Exact>::deserialize(d)?.map(|e| e.0))
        }
    }
}

/// `{"paging":{…}}` of MP's list answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paging {
    /// Number of matching resources.
    #[serde(default)]
    pub total: u64,
    /// Offset of the first result.
    #[serde(default)]
    pub offset: u64,
    /// Page size.
    #[serde(default)]
    pub limit: u64,
}

/// One item of an order, preference or merchant order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Item {
    /// Item id, when MP assigns one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Title shown in the app.
    pub title: String,
    /// Currency (`ARS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency_id: Option<String>,
    /// Longer text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Quantity (documented as an integer; seeds send `1` or `1.0`).
    #[serde(with = "decimal")]
    pub quantity: Decimal,
    /// Unit price.
    #[serde(with = "decimal")]
    pub unit_price: Decimal,
}

impl Item {
    /// `quantity × unit_price`, exact.
    pub fn total(&self) -> Decimal {
        self.quantity * self.unit_price
    }
}

// ----- Lenient id readers: MP writes some ids as numbers in one place, strings in another -----

#[derive(Deserialize)]
#[serde(untagged)]
enum NumOrStr {
    Num(serde_json::Number),
    Str(String),
}

fn string_from_number_or_string<'de, D>(d: D) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(Option::<NumOrStr>::deserialize(d)?.map(|v| match v {
        NumOrStr::Num(n) => n.to_string(),
        NumOrStr::Str(s) => s,
    }))
}

fn required_string_from_number_or_string<'de, D>(d: D) -> Result<String, D::Error>
where
    D: serde::Deserializer<'de>,
{
    Ok(match NumOrStr::deserialize(d)? {
        NumOrStr::Num(n) => n.to_string(),
        NumOrStr::Str(s) => s,
    })
}

fn id_from_number_or_string<'de, D>(d: D) -> Result<Option<i64>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    match Option::<NumOrStr>::deserialize(d)? {
        None => Ok(None),
        Some(NumOrStr::Num(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("id {n} is not an integer"))),
        Some(NumOrStr::Str(s)) if s.is_empty() => Ok(None),
        Some(NumOrStr::Str(s)) => s
            .parse()
            .map(Some)
            .map_err(|_| D::Error::custom(format!("id {s:?} is not an integer"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("test decimal")
    }

    #[test]
    fn money_round_trips_exactly_with_its_scale() {
        let body = r#"{"amount": 8000.10}"#;
        let r: RefundRequest = serde_json::from_str(body).expect("decodes");
        assert_eq!(r.amount, dec("8000.10"));
        assert_eq!(r.amount.scale(), 2);
        assert_eq!(
            serde_json::to_string(&r).expect("encodes"),
            r#"{"amount":8000.10}"#
        );
        // A value f64 cannot hold exactly stays exact.
        let r: RefundRequest =
            serde_json::from_str(r#"{"amount": 0.30000000000000000001}"#).expect("decodes");
        assert_eq!(r.amount, dec("0.30000000000000000001"));
        // Strings are accepted too.
        let r: RefundRequest = serde_json::from_str(r#"{"amount": "10.50"}"#).expect("decodes");
        assert_eq!(r.amount, dec("10.50"));
    }
}
