//! The sandbox's store: what the fake Mercado Pago knows, and the rules that change it.
//!
//! Every operation is a plain synchronous function over [`Store`] with `now` passed in,
//! returning the resource or an [`ApiFailure`] shaped like MP's error body. The HTTP layer
//! (`api.rs`) and the app side (`scan.rs`) call these under one short lock; nothing here
//! awaits, reads a clock or does I/O.

use std::collections::{BTreeMap, HashMap};

use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::mercadopago::types::{
    ApiErrorBody, Collector, Item, MerchantOrder, MerchantOrderPayment, Paging, Payment,
    PaymentOrder, PaymentSearch, PaymentStatus, Preference, PreferenceRequest, Refund,
    RefundSource, TestUser, TransactionDetails,
};

use super::cards::CardHolder;

pub(crate) use super::pos::PosStore;

/// At most this many partial refunds per payment (docs/mercadopago.md §11).
pub const MAX_PARTIAL_REFUNDS: usize = 20;

/// Largest page of payment search (MP's error 1000 beyond it).
pub const MAX_SEARCH_LIMIT: usize = 1000;

/// An API answer other than 2xx, with MP's error body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiFailure {
    /// HTTP status.
    pub status: u16,
    /// Machine code (`error`).
    pub error: String,
    /// Human text (`message`).
    pub message: String,
}

impl ApiFailure {
    /// A failure with the given status and code.
    pub fn new(status: u16, error: &str, message: impl Into<String>) -> Self {
        ApiFailure {
            status,
            error: error.to_owned(),
            message: message.into(),
        }
    }

    /// 400.
    pub fn bad_request(error: &str, message: impl Into<String>) -> Self {
        Self::new(400, error, message)
    }

    /// 404.
    pub fn not_found(error: &str, message: impl Into<String>) -> Self {
        Self::new(404, error, message)
    }

    /// MP's JSON error body.
    pub fn body(&self) -> ApiErrorBody {
        ApiErrorBody {
            message: Some(self.message.clone()),
            error: Some(self.error.clone()),
            status: Some(self.status),
            cause: Some(json!([])),
            causes: None,
        }
    }
}

/// MP's date format: `2019-08-22T14:11:12.000Z` (UTC; fixed width, so it sorts).
pub fn mp_date(now: jiff::Timestamp) -> String {
    now.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The seller the sandbox knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seller {
    /// Its user id (`collector_id`).
    pub collector_id: i64,
    /// Its nickname.
    pub nickname: String,
}

/// Fixed facts of the sandbox that resources carry.
#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// The seller.
    pub seller: Seller,
    /// Site (`MLA`).
    pub site_id: String,
    /// Default currency when an order names none.
    pub currency_id: String,
    /// `live_mode` of payments and notifications.
    pub live_mode: bool,
    /// Application (client) id.
    pub client_id: String,
    /// The sandbox's own base URL, for links it hands out.
    pub base_url: String,
    /// Hosts a POS `url` may use; `None` enables every host.
    pub enabled_url_hosts: Option<Vec<String>>,
}

/// What a scan resolved to, ready to be paid.
#[derive(Debug, Clone)]
pub struct Checkout {
    /// The station's reference.
    pub external_reference: Option<String>,
    /// Items to pay.
    pub items: Vec<Item>,
    /// Where notifications go.
    pub notification_url: Option<String>,
    /// Integrator's account.
    pub sponsor_id: Option<i64>,
    /// The preference, in model A.
    pub preference_id: Option<String>,
    /// POS scanned, if the sandbox knows it.
    pub pos_id: Option<String>,
    /// Its store.
    pub store_id: Option<String>,
}

/// The sandbox's resources.
#[derive(Debug)]
pub struct Store {
    /// Fixed facts.
    pub config: StoreConfig,
    /// POS and their rules.
    pub pos: PosStore,
    next_id: i64,
    preferences: BTreeMap<String, Preference>,
    payments: BTreeMap<i64, Payment>,
    merchant_orders: BTreeMap<i64, MerchantOrder>,
    /// Idempotency key → (payment id, refund id).
    refund_keys: HashMap<String, (i64, i64)>,
    /// Idempotency key → preference id.
    preference_keys: HashMap<String, String>,
    partial_refunds: HashMap<i64, usize>,
    test_users: Vec<TestUser>,
}

// Id ranges differ per resource so a test that mixes up ids fails instead of passing.
const PAYMENT_IDS: i64 = 1_319_000_000;
const MERCHANT_ORDER_IDS: i64 = 9_100_000_000;
const REFUND_IDS: i64 = 1_800_000_000;
const TEST_USER_IDS: i64 = 1_100_000_000;

impl Store {
    /// An empty store.
    pub fn new(config: StoreConfig) -> Self {
        let pos = PosStore::new(
            config.seller.collector_id,
            config.base_url.clone(),
            config.enabled_url_hosts.clone(),
        );
        Store {
            config,
            pos,
            next_id: 0,
            preferences: BTreeMap::new(),
            payments: BTreeMap::new(),
            merchant_orders: BTreeMap::new(),
            refund_keys: HashMap::new(),
            preference_keys: HashMap::new(),
            partial_refunds: HashMap::new(),
            test_users: Vec::new(),
        }
    }

    fn next(&mut self, base: i64) -> i64 {
        self.next_id += 1;
        base + self.next_id
    }

    /// `POST /users/test_user`.
    pub fn create_test_user(&mut self, body: &Value) -> Result<TestUser, ApiFailure> {
        let site = body
            .get("site_id")
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
            .ok_or_else(|| ApiFailure::bad_request("bad_request", "site_id is required"))?;
        let id = self.next(TEST_USER_IDS);
        let user = TestUser {
            id,
            nickname: format!("TESTUSER{}{id}", site.to_ascii_uppercase()),
            password: format!("qatest{}", id % 10_000),
            site_status: "active".to_owned(),
            email: format!("test_user_{id}@testuser.com"),
        };
        self.test_users.push(user.clone());
        Ok(user)
    }

    /// `POST /checkout/preferences`. The same idempotency key returns the first
    /// preference again (docs/mercadopago.md §13: MP's SDKs send a key on every POST).
    pub fn create_preference(
        &mut self,
        request: PreferenceRequest,
        idempotency_key: Option<&str>,
        now: jiff::Timestamp,
    ) -> Result<Preference, ApiFailure> {
        if let Some(earlier) = idempotency_key
            .and_then(|key| self.preference_keys.get(key))
            .and_then(|id| self.preferences.get(id))
        {
            return Ok(earlier.clone());
        }
        if request.items.is_empty() {
            return Err(ApiFailure::bad_request(
                "invalid_items",
                "items are required",
            ));
        }
        for item in &request.items {
            if item.title.trim().is_empty() {
                return Err(ApiFailure::bad_request(
                    "invalid_items",
                    "item title is required",
                ));
            }
            if item.quantity <= Decimal::ZERO || item.unit_price <= Decimal::ZERO {
                return Err(ApiFailure::bad_request(
                    "invalid_items",
                    "item quantity and unit_price must be positive",
                ));
            }
        }
        let collector = self.config.seller.collector_id;
        let id = format!("{collector}-{}", uuid::Uuid::new_v4());
        let preference = Preference {
            init_point: Some(format!(
                "{}/checkout/v1/redirect?pref_id={id}",
                self.config.base_url
            )),
            id: id.clone(),
            collector_id: Some(collector),
            client_id: Some(self.config.client_id.clone()),
            items: request.items,
            external_reference: request.external_reference,
            notification_url: request.notification_url,
            date_created: Some(mp_date(now)),
        };
        if let Some(key) = idempotency_key {
            self.preference_keys.insert(key.to_owned(), id.clone());
        }
        self.preferences.insert(id, preference.clone());
        Ok(preference)
    }

    /// A stored preference.
    pub fn preference(&self, id: &str) -> Option<&Preference> {
        self.preferences.get(id)
    }

    /// Every preference.
    pub fn preferences(&self) -> Vec<Preference> {
        self.preferences.values().cloned().collect()
    }

    /// Records one scan paid with `holder`: a new merchant order (one per scan, as MP
    /// does) holding one payment whose status follows the card (§15.1).
    pub fn record_scan(
        &mut self,
        checkout: Checkout,
        holder: CardHolder,
        now: jiff::Timestamp,
    ) -> (Payment, MerchantOrder) {
        let date = mp_date(now);
        let total: Decimal = checkout.items.iter().map(Item::total).sum();
        let currency = checkout
            .items
            .iter()
            .find_map(|i| i.currency_id.clone())
            .unwrap_or_else(|| self.config.currency_id.clone());
        let (status, detail) = holder.outcome();
        let approved = status == PaymentStatus::Approved;
        let mo_id = self.next(MERCHANT_ORDER_IDS);
        let payment_id = self.next(PAYMENT_IDS);
        let payment = Payment {
            id: payment_id,
            status: status.clone(),
            status_detail: detail.to_owned(),
            live_mode: self.config.live_mode,
            transaction_amount: total,
            transaction_amount_refunded: Some(Decimal::ZERO),
            currency_id: Some(currency.clone()),
            external_reference: checkout.external_reference.clone(),
            collector_id: Some(self.config.seller.collector_id),
            sponsor_id: checkout.sponsor_id,
            pos_id: checkout.pos_id,
            store_id: checkout.store_id,
            order: Some(PaymentOrder {
                id: Some(mo_id),
                kind: Some("mercadopago".to_owned()),
            }),
            date_created: Some(date.clone()),
            date_approved: approved.then(|| date.clone()),
            date_last_updated: Some(date.clone()),
            payment_method_id: Some("master".to_owned()),
            payment_type_id: Some("credit_card".to_owned()),
            operation_type: Some("regular_payment".to_owned()),
            transaction_details: Some(TransactionDetails {
                total_paid_amount: Some(total),
                net_received_amount: Some(total),
            }),
            description: checkout.items.first().map(|i| i.title.clone()),
            refunds: Vec::new(),
            metadata: Some(json!({ "card_holder": holder.name() })),
        };
        let order = MerchantOrder {
            id: mo_id,
            status: Some(if approved { "closed" } else { "opened" }.to_owned()),
            order_status: Some(if approved { "paid" } else { "payment_required" }.to_owned()),
            external_reference: checkout.external_reference,
            preference_id: checkout.preference_id,
            collector: Some(Collector {
                id: self.config.seller.collector_id,
                nickname: Some(self.config.seller.nickname.clone()),
            }),
            sponsor_id: checkout.sponsor_id,
            site_id: Some(self.config.site_id.clone()),
            items: checkout.items,
            payments: vec![mo_payment(&payment)],
            paid_amount: Some(if approved { total } else { Decimal::ZERO }),
            refunded_amount: Some(Decimal::ZERO),
            total_amount: Some(total),
            cancelled: Some(false),
            notification_url: checkout.notification_url,
            date_created: Some(date.clone()),
            last_updated: Some(date),
        };
        self.payments.insert(payment.id, payment.clone());
        self.merchant_orders.insert(order.id, order.clone());
        (payment, order)
    }

    /// `GET /v1/payments/{id}`.
    pub fn payment(&self, id: i64) -> Result<&Payment, ApiFailure> {
        self.payments
            .get(&id)
            .ok_or_else(|| ApiFailure::not_found("not_found", format!("Payment not found: {id}")))
    }

    /// Every payment, oldest first.
    pub fn payments(&self) -> Vec<Payment> {
        self.payments.values().cloned().collect()
    }

    /// `GET /merchant_orders/{id}`.
    pub fn merchant_order(&self, id: i64) -> Result<&MerchantOrder, ApiFailure> {
        self.merchant_orders.get(&id).ok_or_else(|| {
            ApiFailure::not_found("not_found", format!("Merchant order not found: {id}"))
        })
    }

    /// Every merchant order, oldest first.
    pub fn merchant_orders(&self) -> Vec<MerchantOrder> {
        self.merchant_orders.values().cloned().collect()
    }

    /// `GET /v1/payments/search` (docs/mercadopago.md §10): equality filters, `sort`,
    /// `criteria`, `limit` (default 30), `offset`.
    pub fn search_payments(
        &self,
        params: &[(String, String)],
    ) -> Result<PaymentSearch, ApiFailure> {
        let mut sort = "date_created";
        let mut descending = false;
        let mut limit = 30usize;
        let mut offset = 0usize;
        let mut filters: Vec<(&str, &str)> = Vec::new();
        for (key, value) in params {
            match key.as_str() {
                "sort" => sort = value,
                "criteria" => {
                    descending = match value.as_str() {
                        "asc" => false,
                        "desc" => true,
                        _ => return Err(ApiFailure::bad_request("1004", "Invalid criteria")),
                    }
                }
                "limit" => {
                    limit = value
                        .parse()
                        .map_err(|_| ApiFailure::bad_request("bad_request", "Invalid limit"))?;
                    if limit > MAX_SEARCH_LIMIT {
                        return Err(ApiFailure::bad_request("1000", "Row limit exceeded"));
                    }
                }
                "offset" => {
                    offset = value
                        .parse()
                        .map_err(|_| ApiFailure::bad_request("bad_request", "Invalid offset"))?
                }
                // Auth and date-range parameters do not filter here.
                "access_token" | "range" | "begin_date" | "end_date" => {}
                other => {
                    if !SEARCH_FILTERS.contains(&other) {
                        return Err(ApiFailure::bad_request(
                            "bad_request",
                            format!("Unknown search filter: {other}"),
                        ));
                    }
                    filters.push((other, value));
                }
            }
        }
        if !matches!(
            sort,
            "date_created" | "date_approved" | "date_last_updated" | "id"
        ) {
            return Err(ApiFailure::bad_request("1003", "Invalid sort"));
        }
        let mut found: Vec<&Payment> = self
            .payments
            .values()
            .filter(|p| {
                filters
                    .iter()
                    .all(|(k, v)| search_field(p, k).as_deref() == Some(*v))
            })
            .collect();
        found.sort_by(|a, b| {
            let key = |p: &Payment| match sort {
                "id" => format!("{:020}", p.id),
                "date_approved" => p.date_approved.clone().unwrap_or_default(),
                "date_last_updated" => p.date_last_updated.clone().unwrap_or_default(),
                _ => p.date_created.clone().unwrap_or_default(),
            };
            key(a).cmp(&key(b)).then(a.id.cmp(&b.id))
        });
        if descending {
            found.reverse();
        }
        let total = found.len();
        let results = found
            .into_iter()
            .skip(offset)
            .take(limit)
            .cloned()
            .collect();
        Ok(PaymentSearch {
            paging: Paging {
                total: total as u64,
                offset: offset as u64,
                limit: limit as u64,
            },
            results,
        })
    }

    /// `POST /v1/payments/{id}/refunds` (docs/mercadopago.md §11). `amount: None` is a total
    /// refund. The same idempotency key returns the first refund again.
    pub fn refund(
        &mut self,
        payment_id: i64,
        amount: Option<Decimal>,
        idempotency_key: &str,
        now: jiff::Timestamp,
    ) -> Result<Refund, ApiFailure> {
        if let Some(&(pid, rid)) = self.refund_keys.get(idempotency_key) {
            return self
                .payments
                .get(&pid)
                .and_then(|p| p.refunds.iter().find(|r| r.id == rid))
                .cloned()
                .ok_or_else(|| ApiFailure::new(500, "internal_error", "lost refund"));
        }
        let partials = self.partial_refunds.get(&payment_id).copied().unwrap_or(0);
        let payment = self.payments.get(&payment_id).ok_or_else(|| {
            ApiFailure::not_found("not_found", format!("Payment not found: {payment_id}"))
        })?;
        if payment.status != PaymentStatus::Approved {
            return Err(ApiFailure::bad_request(
                "invalid_status",
                format!("Payment in status {} cannot be refunded", payment.status),
            ));
        }
        let remaining = payment.transaction_amount - payment.refunded();
        let partial = amount.is_some();
        let amount = match amount {
            None => remaining,
            Some(a) if a <= Decimal::ZERO || a.normalize().scale() > 2 => {
                return Err(ApiFailure::bad_request(
                    "invalid_amount",
                    "Invalid refund amount",
                ))
            }
            Some(a) if a > remaining => {
                return Err(ApiFailure::bad_request(
                    "amount_exceeded",
                    format!("The amount {a} exceeds the refundable {remaining}"),
                ))
            }
            Some(_) if partials >= MAX_PARTIAL_REFUNDS => {
                return Err(ApiFailure::bad_request(
                    "max_refunds_exceeded",
                    "At most 20 partial refunds per payment",
                ))
            }
            Some(a) => a,
        };
        if amount <= Decimal::ZERO {
            return Err(ApiFailure::bad_request(
                "invalid_amount",
                "Nothing left to refund",
            ));
        }
        let refund_id = self.next(REFUND_IDS);
        let date = mp_date(now);
        let refund = Refund {
            id: refund_id,
            payment_id,
            amount,
            adjustment_amount: Some(Decimal::ZERO),
            status: Some("approved".to_owned()),
            refund_mode: Some("standard".to_owned()),
            reason: None,
            source: Some(RefundSource {
                id: Some(self.config.seller.collector_id.to_string()),
                name: Some(self.config.seller.nickname.clone()),
                kind: Some("collector".to_owned()),
            }),
            date_created: Some(date.clone()),
            unique_sequence_number: None,
            metadata: Some(json!({})),
        };
        let Some(payment) = self.payments.get_mut(&payment_id) else {
            return Err(ApiFailure::new(500, "internal_error", "lost payment"));
        };
        let refunded = payment.refunded() + amount;
        payment.transaction_amount_refunded = Some(refunded);
        if refunded == payment.transaction_amount {
            payment.status = PaymentStatus::Refunded;
            payment.status_detail = "refunded".to_owned();
        } else {
            payment.status_detail = "partially_refunded".to_owned();
        }
        payment.date_last_updated = Some(date.clone());
        payment.refunds.push(refund.clone());
        let entry = mo_payment(payment);
        if let Some(mo) = payment
            .order
            .as_ref()
            .and_then(|o| o.id)
            .and_then(|id| self.merchant_orders.get_mut(&id))
        {
            for p in mo.payments.iter_mut().filter(|p| p.id == payment_id) {
                *p = entry.clone();
            }
            mo.refunded_amount = Some(mo.refunded_amount.unwrap_or(Decimal::ZERO) + amount);
            mo.last_updated = Some(date);
        }
        if partial {
            *self.partial_refunds.entry(payment_id).or_insert(0) += 1;
        }
        self.refund_keys
            .insert(idempotency_key.to_owned(), (payment_id, refund_id));
        Ok(refund)
    }

    /// `GET /v1/payments/{id}/refunds`.
    pub fn refunds(&self, payment_id: i64) -> Result<Vec<Refund>, ApiFailure> {
        Ok(self.payment(payment_id)?.refunds.clone())
    }
}

fn mo_payment(p: &Payment) -> MerchantOrderPayment {
    MerchantOrderPayment {
        id: p.id,
        status: p.status.clone(),
        status_detail: Some(p.status_detail.clone()),
        transaction_amount: p.transaction_amount,
        total_paid_amount: Some(p.transaction_amount),
        amount_refunded: Some(p.refunded()),
        operation_type: p.operation_type.clone(),
        currency_id: p.currency_id.clone(),
        date_approved: p.date_approved.clone(),
        date_created: p.date_created.clone(),
        last_modified: p.date_last_updated.clone(),
    }
}

/// Filters `GET /v1/payments/search` understands; another one is refused rather than
/// ignored, so a misspelt filter in the daemon cannot match every payment.
const SEARCH_FILTERS: [&str; 14] = [
    "id",
    "external_reference",
    "status",
    "status_detail",
    "collector.id",
    "collector_id",
    "sponsor_id",
    "pos_id",
    "store_id",
    "payment_type_id",
    "payment_method_id",
    "operation_type",
    "currency_id",
    "order.id",
];

/// The value of a [`SEARCH_FILTERS`] field of a payment, `None` when it lacks it.
fn search_field(p: &Payment, key: &str) -> Option<String> {
    match key {
        "id" => Some(p.id.to_string()),
        "external_reference" => p.external_reference.clone(),
        "status" => Some(p.status.as_str().to_owned()),
        "status_detail" => Some(p.status_detail.clone()),
        "collector.id" | "collector_id" => p.collector_id.map(|c| c.to_string()),
        "sponsor_id" => p.sponsor_id.map(|c| c.to_string()),
        "pos_id" => p.pos_id.clone(),
        "store_id" => p.store_id.clone(),
        "payment_type_id" => p.payment_type_id.clone(),
        "payment_method_id" => p.payment_method_id.clone(),
        "operation_type" => p.operation_type.clone(),
        "currency_id" => p.currency_id.clone(),
        "order.id" => p.order.as_ref().and_then(|o| o.id).map(|i| i.to_string()),
        _ => None,
    }
}
