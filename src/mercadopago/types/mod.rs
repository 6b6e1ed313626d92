//! Serde types of what Mercado Pago sends and receives (mercadopago.md §4–§11).
//!
//! - Money and quantities are `rust_decimal::Decimal` written as exact JSON numbers
//!   (`8000.00` stays `8000.00`), read from numbers or strings; never `f64`.
//! - Unknown fields are ignored: MP adds fields without notice.
//! - Optional response fields default, so a sparse answer still decodes; optional request
//!   fields are left out when `None`, so MP never sees a `null` it did not ask for.
//!
//! This module owns shapes only: no I/O, no validation beyond what serde does.

use std::fmt;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

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

/// A payment's `status` (mercadopago.md §8). Unknown values are kept as they came.
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

/// A payment, `GET /v1/payments/{id}` (mercadopago.md §8).
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

/// `GET /v1/payments/search` answer (mercadopago.md §10).
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

/// A refund (mercadopago.md §11).
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

/// A merchant order, `GET /merchant_orders/{id}` (mercadopago.md §9).
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

/// Body of `POST /pos` and `PUT /pos/{id}` (mercadopago.md §5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PosRequest {
    /// Display name, under 45 characters.
    pub name: String,
    /// `true` whenever `url` is set.
    pub fixed_amount: bool,
    /// MCC: 473000 fuel station, 621102 gastronomy, `None` general.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<u32>,
    /// MP's numeric store id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store_id: Option<String>,
    /// The integrator's store id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_store_id: Option<String>,
    /// The pump face: letters and digits only, under 40 characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    /// The order URL MP calls on a scan (unattended model).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// `qr` of a POS: the printable images.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PosQr {
    /// The bare code.
    #[serde(default)]
    pub image: Option<String>,
    /// Printable sticker, PDF.
    #[serde(default)]
    pub template_document: Option<String>,
    /// Printable sticker, PNG.
    #[serde(default)]
    pub template_image: Option<String>,
}

/// A POS as MP returns it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pos {
    /// POS id.
    pub id: i64,
    /// `active`.
    #[serde(default)]
    pub status: Option<String>,
    /// MP's uuid of the QR.
    #[serde(default)]
    pub uuid: Option<String>,
    /// Owner (collector).
    #[serde(default)]
    pub user_id: Option<i64>,
    /// Display name.
    #[serde(default)]
    pub name: Option<String>,
    /// Fixed amount flag.
    #[serde(default)]
    pub fixed_amount: Option<bool>,
    /// MCC.
    #[serde(default)]
    pub category: Option<u32>,
    /// MP store id.
    #[serde(default, deserialize_with = "string_from_number_or_string")]
    pub store_id: Option<String>,
    /// Integrator's store id.
    #[serde(default)]
    pub external_store_id: Option<String>,
    /// Integrator's POS id.
    #[serde(default)]
    pub external_id: Option<String>,
    /// Order URL.
    #[serde(default)]
    pub url: Option<String>,
    /// QR images.
    #[serde(default)]
    pub qr: Option<PosQr>,
    /// Creation time.
    #[serde(default)]
    pub date_created: Option<String>,
    /// Last change.
    #[serde(default)]
    pub date_last_updated: Option<String>,
}

/// `GET /pos` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PosList {
    /// Paging.
    #[serde(default)]
    pub paging: Paging,
    /// POS on this page.
    #[serde(default)]
    pub results: Vec<Pos>,
}

/// Body of `POST /checkout/preferences` (mercadopago.md §4.4).
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

/// MP's error body: `{"message","error","status","cause"|"causes"}` (mercadopago.md §13).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApiErrorBody {
    /// Human text.
    #[serde(default)]
    pub message: Option<String>,
    /// Machine code (`pos_obtainment_error`, `NAME_TOO_LONG`, …).
    #[serde(default)]
    pub error: Option<String>,
    /// HTTP status, repeated.
    #[serde(default)]
    pub status: Option<u16>,
    /// Causes, when MP uses the singular key (shape varies: list or object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Value>,
    /// Causes, when MP uses the plural key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub causes: Option<Value>,
}

impl fmt::Display for ApiErrorBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let error = self.error.as_deref().unwrap_or("-");
        let message = self.message.as_deref().unwrap_or("");
        write!(f, "{error}: {message}")
    }
}

/// `POST /oauth/token` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OAuthToken {
    /// The access token.
    pub access_token: String,
    /// `bearer`.
    #[serde(default)]
    pub token_type: Option<String>,
    /// Lifetime in seconds.
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// Granted scope.
    #[serde(default)]
    pub scope: Option<String>,
    /// The user the token belongs to.
    #[serde(default)]
    pub user_id: Option<i64>,
    /// False for test credentials.
    #[serde(default)]
    pub live_mode: Option<bool>,
}

/// `POST /users/test_user` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TestUser {
    /// User id.
    pub id: i64,
    /// Nickname.
    pub nickname: String,
    /// Password for the app.
    pub password: String,
    /// `active`.
    pub site_status: String,
    /// E-mail.
    pub email: String,
}

// ----- What the station answers on a scan (mercadopago.md §4) -----

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

/// `loyalty` of a [`QrOrder`] (mercadopago.md §4.3).
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

// ----- Notification bodies (mercadopago.md §6) -----

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

    #[test]
    fn error_body_takes_cause_or_causes() {
        let e: ApiErrorBody = serde_json::from_str(
            r#"{"error":"pos_obtainment_error","message":"Point of sale not found","status":404,"causes":[]}"#,
        )
        .expect("decodes");
        assert_eq!(e.status, Some(404));
        assert_eq!(
            e.to_string(),
            "pos_obtainment_error: Point of sale not found"
        );
        let e: ApiErrorBody =
            serde_json::from_str(r#"{"message":"m","cause":{"code":1}}"#).expect("decodes");
        assert!(e.cause.is_some());
    }
}
