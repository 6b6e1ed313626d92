//! The checkout around a scan (docs/mercadopago.md §4, §6): preferences (model A), the
//! station's own answers to MP's order call (model B with loyalty, model A, errors) and
//! the IPN and webhook notification bodies MP sends afterwards.
//!
//! Shapes only, as the parent module says; it never answers a scan or handles a
//! notification.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{
    decimal, id_from_number_or_string, required_string_from_number_or_string,
    string_from_number_or_string, Item,
};

/// Body of `POST /checkout/preferences` (docs/mercadopago.md §4.4).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreferenceRequest {
    /// Items to pay.
    pub items: Vec<Item>,
    /// The sale's reference.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_reference: Option<String>,
    /// Where notifications go.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_url: Option<String>,
    /// Whether the preference expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires: Option<bool>,
    /// Start of validity (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_date_from: Option<String>,
    /// End of validity (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiration_date_to: Option<String>,
    /// Last day a cash payment may be made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub date_of_expiration: Option<String>,
    /// Approve or reject at once, no pending states.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binary_mode: Option<bool>,
    /// Free metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// A created preference.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preference {
    /// `<collector_id>-<uuid>`: what the order endpoint answers in model A.
    pub id: String,
    /// Checkout URL.
    #[serde(default)]
    pub init_point: Option<String>,
    /// Seller.
    #[serde(default)]
    pub collector_id: Option<i64>,
    /// Application id.
    #[serde(default, deserialize_with = "string_from_number_or_string")]
    pub client_id: Option<String>,
    /// Items.
    #[serde(default)]
    pub items: Vec<Item>,
    /// The sale's reference.
    #[serde(default)]
    pub external_reference: Option<String>,
    /// Where notifications go.
    #[serde(default)]
    pub notification_url: Option<String>,
    /// Creation time.
    #[serde(default)]
    pub date_created: Option<String>,
}

// ----- What the station answers on a scan (docs/mercadopago.md §4) -----

/// The station's 200 answer in model B: the order with loyalty (seed 003).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct QrOrder {
    /// Seller's user id.
    pub collector_id: i64,
    /// Integrator's account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sponsor_id: Option<i64>,
    /// Items: one, quantity 1, unit_price = the total, in the seeds.
    pub items: Vec<Item>,
    /// The sale's reference: uppercase alphanumeric, stable across scans.
    pub external_reference: String,
    /// Where MP sends notifications (its `source_news` picks the channel).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_url: Option<String>,
    /// Loyalty programme data.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loyalty: Option<Loyalty>,
}

impl QrOrder {
    /// Sum of the items, exact.
    pub fn total(&self) -> Decimal {
        self.items.iter().map(Item::total).sum()
    }
}

/// `loyalty` of a [`QrOrder`] (docs/mercadopago.md §4.3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Loyalty {
    /// Programme (`serviclub`, `payback`).
    pub program: String,
    /// ≤ 40 chars, unique across integrators.
    pub transaction_id: String,
    /// Exactly 8 chars, zero-padded.
    pub invoice_number: String,
    /// ISO 8601 with offset.
    pub transaction_date: String,
    /// Total of the transaction.
    #[serde(with = "decimal")]
    pub transaction_amount: Decimal,
    /// 5 chars, zero-padded (APIES, SiteID).
    pub store_id: String,
    /// Products, fuel first.
    pub products: Vec<LoyaltyProduct>,
    /// The attendant.
    pub cashier_identification: CashierIdentification,
    /// 4 chars (`0000` if n/a).
    pub period: String,
    /// 1 char.
    pub shift: String,
    /// 1 char (`7`).
    pub affinity_plan: String,
}

/// One product of [`Loyalty`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoyaltyProduct {
    /// Programme's product code.
    pub code: String,
    /// Quantity, ≤ 3 decimals.
    #[serde(with = "decimal")]
    pub quantity: Decimal,
    /// `litre` or `piece`.
    pub unit: String,
    /// Unit price.
    #[serde(with = "decimal")]
    pub unit_price: Decimal,
}

/// `cashier_identification` of [`Loyalty`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CashierIdentification {
    /// Document type (`DNI`).
    #[serde(rename = "type")]
    pub kind: String,
    /// Document number (`00000000` if unknown).
    pub number: String,
}

/// The station's 200 answer in model A (seed 000).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreferenceAnswer {
    /// The stored preference id.
    pub preference_id: String,
}

/// The station's 400 answer: `{"error":{"type","message"}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderErrorAnswer {
    /// The error.
    pub error: OrderError,
}

/// Inside [`OrderErrorAnswer`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderError {
    /// `in_process`, `unavailable`, `invalid` or `timeout`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Optional plain text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

// ----- Notification bodies (docs/mercadopago.md §6) -----

/// IPN body: `{"resource","topic"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IpnBody {
    /// The id, or the resource URL for merchant orders.
    pub resource: String,
    /// `payment` or `merchant_order`.
    pub topic: String,
}

/// `data` of a webhook body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookData {
    /// The resource id, as a string.
    #[serde(deserialize_with = "required_string_from_number_or_string")]
    pub id: String,
}

/// Webhook body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookBody {
    /// Notification id.
    pub id: i64,
    /// False for test credentials.
    #[serde(default)]
    pub live_mode: bool,
    /// `payment`.
    #[serde(rename = "type")]
    pub kind: String,
    /// When MP created the notification.
    #[serde(default)]
    pub date_created: Option<String>,
    /// The seller.
    #[serde(default, deserialize_with = "id_from_number_or_string")]
    pub user_id: Option<i64>,
    /// `v1`.
    #[serde(default)]
    pub api_version: Option<String>,
    /// `payment.created` or `payment.updated`.
    #[serde(default)]
    pub action: Option<String>,
    /// The resource.
    pub data: WebhookData,
    /// The application.
    #[serde(default, deserialize_with = "id_from_number_or_string")]
    pub application_id: Option<i64>,
    /// Grows per resource.
    #[serde(default)]
    pub version: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("test decimal")
    }

    #[test]
    fn seed_003_order_decodes() {
        let seed = r#"{
           "collector_id": 178106235, "sponsor_id": 334249281,
           "items":[{"title":" $500.00 de Premium", "currency_id": "MXN",
                     "description":"$500.00 de Premium", "quantity": 1.0, "unit_price": 500.00}],
           "external_reference":"45ea80da",
           "notification_url":"https://www.tusitio.com/notifiaction",
           "loyalty":{"program":"payback","transaction_id":"45ea80da","invoice_number":"3592",
              "transaction_date":"2018-09-21T12:33:13.000+00:00","transaction_amount":500.00,
              "store_id":"802",
              "products":[{"code":"1","quantity":1.0,"unit":"litre","unit_price":500.00}],
              "cashier_identification":{"type":"INE","number":"00000000"},
              "period":"0000","shift":"1","affinity_plan":"7"}}"#;
        let order: QrOrder = serde_json::from_str(seed).expect("seed order decodes");
        assert_eq!(order.total(), dec("500.00"));
        assert_eq!(order.collector_id, 178106235);
        let loyalty = order.loyalty.as_ref().expect("loyalty");
        assert_eq!(loyalty.cashier_identification.kind, "INE");
        let again: QrOrder =
            serde_json::from_str(&serde_json::to_string(&order).expect("encodes")).expect("again");
        assert_eq!(again, order);
    }

    #[test]
    fn webhook_body_accepts_numeric_or_string_ids() {
        let b: WebhookBody = serde_json::from_str(
            r#"{"id": 12, "live_mode": true, "type": "payment", "user_id": "44444",
                "api_version": "v1", "action": "payment.created", "data": {"id": 999}}"#,
        )
        .expect("decodes");
        assert_eq!(b.data.id, "999");
        assert_eq!(b.user_id, Some(44444));
    }
}
