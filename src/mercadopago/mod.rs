//! Mercado Pago: the API client, webhook signatures and the wire types.
//!
//! This module owns everything that speaks Mercado Pago's language (docs/mercadopago.md):
//!
//! - [`types`]: serde types of payments, merchant orders, POS, preferences, refunds, the
//!   station's order answer and notification bodies. Money is `rust_decimal::Decimal`
//!   written as exact JSON numbers; unknown fields are ignored because MP adds fields.
//! - [`signature`]: `x-signature` verification and signing (§7). Pure: `now` is passed in.
//! - [`client`]: [`MercadoPagoClient`], the HTTP client the daemon uses (§8–§11, §13).
//!
//! The local stand-in for the API and the app lives with the other lab tools, in
//! `crate::lab::sandbox`.
//!
//! It never decides anything about a sale: the daemon's journal and reconciler do that from
//! what this module fetches. It never logs an access token or a URL that carries one.

#![warn(missing_docs)]

pub mod client;
pub mod health;
pub mod query;
pub mod signature;
pub mod types;

pub use client::{ClientSettings, IdempotencyKey, MercadoPagoClient, MpError};
pub use health::{FailureKind, HealthSnapshot, MpHealth};
pub use signature::SignatureError;

pub use crate::secret::Secret;

/// The seller's user id (`collector_id`) carried by an access token.
///
/// Access tokens end in `-<user id>` (seed 003: "the last digits of the access token after
/// the hyphen"), e.g. `TEST-0000000000000000-112326-5f3c…-446566691` → `446566691`.
/// Returns `None` when the last segment is not a positive number.
pub fn collector_id_from_token(token: &str) -> Option<i64> {
    let last = token.rsplit('-').next()?;
    if last.is_empty() || !last.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    last.parse::<i64>().ok().filter(|id| *id > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_id_is_the_last_segment_of_the_token() {
        assert_eq!(
            collector_id_from_token(
                "TEST-0000000000000000-112326-5f3c0d5f8a6e4b7c9d1e2f3a4b5c6d7e-446566691"
            ),
            Some(446566691)
        );
        assert_eq!(
            collector_id_from_token("APP_USR-12-34-1273205088"),
            Some(1273205088)
        );
        assert_eq!(collector_id_from_token("TEST-abc-"), None);
        assert_eq!(collector_id_from_token("TEST-abc-12x"), None);
        assert_eq!(collector_id_from_token("TEST-0"), None);
    }

    #[test]
    fn secrets_never_print() {
        let s = Secret::new("APP_USR-very-secret-1");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(s.expose(), "APP_USR-very-secret-1");
    }
}
