//! Payments, refunds, the payment search and merchant orders (docs/mercadopago.md §8–§11):
//! what the station reads to learn whether a sale was paid, and the refund it sends.
//!
//! Shapes only, as the parent module says; it never fetches or decides anything.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{decimal, id_from_number_or_string, string_from_number_or_string, Item, Paging};

/// A payment's `status` (docs/mercadopago.md §8). Unknown values are kept as they came.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum PaymentStatus {
    /// Approved and accredited.
    Approved,
    /// Authorized, pending capture.
    Authorized,
    /// Under review.
    InProcess,
    /// Waiting for the buyer (transfer, cash).
    Pending,
    /// Rejected; the buyer may retry with another method.
    Rejected,
    /// Refunded in full.
    Refunded,
    /// Cancelled.
    Cancelled,
    /// In a dispute.
    InMediation,
    /// Charged back on the card.
    ChargedBack,
    /// A value this code does not know.
    Other(String),
}

impl PaymentStatus {
    /// The wire value.
    pub fn as_str(&self) -> &str {
        match self {
            PaymentStatus::Approved => "approved",
            PaymentStatus::Authorized => "authorized",
            PaymentStatus::InProcess => "in_process",
            PaymentStatus::Pending => "pending",
            PaymentStatus::Rejected => "rejected",
            PaymentStatus::Refunded => "refunded",
            PaymentStatus::Cancelled => "cancelled",
            PaymentStatus::InMediation => "in_mediation",
            PaymentStatus::ChargedBack => "charged_back",
            PaymentStatus::Other(s) => s,
        }
    }
}

impl From<String> for PaymentStatus {
    fn from(s: String) -> Self {
        match s.as_str() {
            "approved" => PaymentStatus::Approved,
            "authorized" => PaymentStatus::Authorized,
            "in_process" => PaymentStatus::InProcess,
            "pending" => PaymentStatus::Pending,
            "rejected" => PaymentStatus::Rejected,
            "refunded" => PaymentStatus::Refunded,
            "cancelled" => PaymentStatus::Cancelled,
            "in_mediation" => PaymentStatus::InMediation,
            "charged_back" => PaymentStatus::ChargedBack,
            _ => PaymentStatus::Other(s),
        }
    }
}

impl From<PaymentStatus> for String {
    fn from(s: PaymentStatus) -> Self {
        s.as_str().to_owned()
    }
}

impl fmt::Display for PaymentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `order` of a payment: the merchant order it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentOrder {
    /// Merchant order id.
    #[serde(default, deserialize_with = "id_from_number_or_string")]
    pub id: Option<i64>,
    /// Kind of order (`mercadopago`).
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// `transaction_details` of a payment.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TransactionDetails {
    /// What the buyer paid.
    #[serde(default, with = "decimal::option")]
    pub total_paid_amount: Option<Decimal>,
    /// What the seller receives after fees.
    #[serde(default, with = "decimal::option")]
    pub net_received_amount: Option<Decimal>,
}

/// A payment, `GET /v1/payments/{id}` (docs/mercadopago.md §8).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Payment {
    /// Payment id (keep it: refunds need it).
    pub id: i64,
    /// Status.
    pub status: PaymentStatus,
    /// Detail of the status (`accredited`, `cc_rejected_other_reason`, …).
    #[serde(default)]
    pub status_detail: String,
    /// False for test credentials.
    #[serde(default)]
    pub live_mode: bool,
    /// Amount charged.
    #[serde(with = "decimal")]
    pub transaction_amount: Decimal,
    /// Amount refunded so far.
    #[serde(default, with = "decimal::option")]
    pub transaction_amount_refunded: Option<Decimal>,
    /// Currency (`ARS`).
    #[serde(default)]
    pub currency_id: Option<String>,
    /// The station's reference for the sale.
    #[serde(default)]
    pub external_reference: Option<String>,
    /// Seller's user id.
    #[serde(default)]
    pub collector_id: Option<i64>,
    /// Integrator's account.
    #[serde(default)]
    pub sponsor_id: Option<i64>,
    /// POS the QR belonged to.
    #[serde(default, deserialize_with = "string_from_number_or_string")]
    pub pos_id: Option<String>,
    /// Store of that POS.
    #[serde(default, deserialize_with = "string_from_number_or_string")]
    pub store_id: Option<String>,
    /// The merchant order.
    #[serde(default)]
    pub order: Option<PaymentOrder>,
    /// Creation time (ISO 8601).
    #[serde(default)]
    pub date_created: Option<String>,
    /// Approval time.
    #[serde(default)]
    pub date_approved: Option<String>,
    /// Last change.
    #[serde(default)]
    pub date_last_updated: Option<String>,
    /// Card brand or method (`master`, `visa`, `account_money`).
    #[serde(default)]
    pub payment_method_id: Option<String>,
    /// `credit_card`, `debit_card`, `account_money`…
    #[serde(default)]
    pub payment_type_id: Option<String>,
    /// `regular_payment` (a zero-amount `card_validation` has been seen).
    #[serde(default)]
    pub operation_type: Option<String>,
    /// Amounts paid and received.
    #[serde(default)]
    pub transaction_details: Option<TransactionDetails>,
    /// Description shown to the buyer.
    #[serde(default)]
    pub description: Option<String>,
    /// Refunds of this payment.
    #[serde(default)]
    pub refunds: Vec<Refund>,
    /// Free metadata.
    #[serde(default)]
    pub metadata: Option<Value>,
}

impl Payment {
    /// The refunded amount, zero when MP left the field out.
    pub fn refunded(&self) -> Decimal {
        self.transaction_amount_refunded.unwrap_or(Decimal::ZERO)
    }
}

/// `GET /v1/payments/search` answer (docs/mercadopago.md §10).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PaymentSearch {
    /// Paging.
    #[serde(default)]
    pub paging: Paging,
    /// Matching payments.
    #[serde(default)]
    pub results: Vec<Payment>,
}

/// `source` of a refund.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundSource {
    /// Who refunded (user id).
    #[serde(default, deserialize_with = "string_from_number_or_string")]
    pub id: Option<String>,
    /// Their name.
    #[serde(default)]
    pub name: Option<String>,
    /// `collector`.
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
}

/// A refund (docs/mercadopago.md §11).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refund {
    /// Refund id.
    pub id: i64,
    /// The refunded payment.
    pub payment_id: i64,
    /// Amount refunded.
    #[serde(with = "decimal")]
    pub amount: Decimal,
    /// Adjustment.
    #[serde(default, with = "decimal::option")]
    pub adjustment_amount: Option<Decimal>,
    /// `approved` once done.
    #[serde(default)]
    pub status: Option<String>,
    /// `standard`.
    #[serde(default)]
    pub refund_mode: Option<String>,
    /// Free text.
    #[serde(default)]
    pub reason: Option<String>,
    /// Who refunded.
    #[serde(default)]
    pub source: Option<RefundSource>,
    /// Creation time.
    #[serde(default)]
    pub date_created: Option<String>,
    /// Acquirer's sequence number.
    #[serde(default)]
    pub unique_sequence_number: Option<String>,
    /// Free metadata.
    #[serde(default)]
    pub metadata: Option<Value>,
}

/// Body of a partial refund; a total refund sends no body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RefundRequest {
    /// Amount to refund.
    #[serde(with = "decimal")]
    pub amount: Decimal,
}

/// `collector` of a merchant order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Collector {
    /// Seller's user id.
    pub id: i64,
    /// Seller's nickname.
    #[serde(default)]
    pub nickname: Option<String>,
}

/// A payment as listed in a merchant order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MerchantOrderPayment {
    /// Payment id.
    pub id: i64,
    /// Its status.
    pub status: PaymentStatus,
    /// Its detail.
    #[serde(default)]
    pub status_detail: Option<String>,
    /// Amount charged.
    #[serde(with = "decimal")]
    pub transaction_amount: Decimal,
    /// Amount paid.
    #[serde(default, with = "decimal::option")]
    pub total_paid_amount: Option<Decimal>,
    /// Amount refunded.
    #[serde(default, with = "decimal::option")]
    pub amount_refunded: Option<Decimal>,
    /// `regular_payment`.
    #[serde(default)]
    pub operation_type: Option<String>,
    /// Currency.
    #[serde(default)]
    pub currency_id: Option<String>,
    /// Approval time.
    #[serde(default)]
    pub date_approved: Option<String>,
    /// Creation time.
    #[serde(default)]
    pub date_created: Option<String>,
    /// Last change.
    #[serde(default)]
    pub last_modified: Option<String>,
}

/// A merchant order, `GET /merchant_orders/{id}` (docs/mercadopago.md §9).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MerchantOrder {
    /// Merchant order id.
    pub id: i64,
    /// `opened` until approved payments reach `total_amount`, then `closed`.
    #[serde(default)]
    pub status: Option<String>,
    /// `payment_required`, `paid`, … (U8: decide on `status` + `payments`).
    #[serde(default)]
    pub order_status: Option<String>,
    /// The station's reference.
    #[serde(default)]
    pub external_reference: Option<String>,
    /// Preference, in model A.
    #[serde(default)]
    pub preference_id: Option<String>,
    /// The seller.
    #[serde(default)]
    pub collector: Option<Collector>,
    /// Integrator's account.
    #[serde(default)]
    pub sponsor_id: Option<i64>,
    /// Site (`MLA`).
    #[serde(default)]
    pub site_id: Option<String>,
    /// Items.
    #[serde(default)]
    pub items: Vec<Item>,
    /// Payment attempts.
    #[serde(default)]
    pub payments: Vec<MerchantOrderPayment>,
    /// Sum of approved payments.
    #[serde(default, with = "decimal::option")]
    pub paid_amount: Option<Decimal>,
    /// Sum refunded.
    #[serde(default, with = "decimal::option")]
    pub refunded_amount: Option<Decimal>,
    /// Total of the order.
    #[serde(default, with = "decimal::option")]
    pub total_amount: Option<Decimal>,
    /// Cancelled flag.
    #[serde(default)]
    pub cancelled: Option<bool>,
    /// Where notifications go.
    #[serde(default)]
    pub notification_url: Option<String>,
    /// Creation time.
    #[serde(default)]
    pub date_created: Option<String>,
    /// Last change.
    #[serde(default)]
    pub last_updated: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn dec(s: &str) -> Decimal {
        Decimal::from_str(s).expect("test decimal")
    }

    #[test]
    fn optional_money_keeps_its_scale_and_accepts_null() {
        let p: Payment = serde_json::from_str(
            r#"{"id": 1, "status": "approved", "transaction_amount": 100.00,
                "transaction_amount_refunded": 10.50, "brand_new_field": {"x": 1}}"#,
        )
        .expect("decodes");
        assert_eq!(p.transaction_amount_refunded, Some(dec("10.50")));
        assert_eq!(p.transaction_amount.to_string(), "100.00");
        let p: Payment = serde_json::from_str(
            r#"{"id": 1, "status": "weird", "transaction_amount": 1,
                "transaction_amount_refunded": null}"#,
        )
        .expect("decodes");
        assert_eq!(p.transaction_amount_refunded, None);
        assert_eq!(p.status, PaymentStatus::Other("weird".into()));
        assert_eq!(p.refunded(), Decimal::ZERO);
    }
}
