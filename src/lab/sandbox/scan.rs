//! The app side of the sandbox: a customer scanning a pump's QR (docs/mercadopago.md §4, §15).
//!
//! 1. GET the POS `url` with `User-Agent: MercadoPago-Android/<ver>`.
//! 2. While the station answers 400 `in_process`, wait and ask again (bounded).
//! 3. On 200, read the order (model B) or `{"preference_id"}` (model A, resolved from
//!    the sandbox's preferences), create a merchant order for this scan and a payment
//!    whose status follows the card holder name, then hand the notifications to
//!    `notify.rs`.
//!
//! A station that refuses the connection or does not answer within the bound is
//! [`ScanOutcome::StationUnreachable`] (seed 003: "the URL does not answer"). A 400 with
//! another type is [`ScanOutcome::Error`]. Anything off-contract (no JSON content type,
//! a body that does not parse, a foreign `collector_id`) is [`ScanOutcome::BadAnswer`],
//! so tests of a station see exactly what it got wrong.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{ACCEPT, CONTENT_TYPE, USER_AGENT};
use hyper::{Request, StatusCode, Uri};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::mercadopago::types::{MerchantOrder, OrderErrorAnswer, Payment, Pos, QrOrder};

use super::cards::CardHolder;
use super::state::Checkout;
use super::{notify, Shared};

/// Largest order answer read from a station.
const MAX_ANSWER: usize = 256 * 1024;

/// How the app behaves during one scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScanOptions {
    /// Wait between polls while the station answers `in_process`.
    pub poll_interval: Duration,
    /// Calls before giving up on `in_process` (at least one call is made).
    pub max_polls: u32,
    /// Bound on one call, connect included; past it the station is unreachable.
    pub answer_timeout: Duration,
    /// `User-Agent` of the app.
    pub user_agent: String,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            poll_interval: Duration::from_secs(2),
            max_polls: 30,
            answer_timeout: Duration::from_secs(5),
            user_agent: "MercadoPago-Android/2.290.0".to_owned(),
        }
    }
}

/// What was scanned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanTarget {
    /// A POS `url` (scanned as is).
    Url(String),
    /// The `external_id` of a POS the sandbox knows; its `url` is scanned.
    PosExternalId(String),
}

/// How a scan ended, as the app would show it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum ScanOutcome {
    /// Connection refused or no answer in time: "the station cannot operate with this
    /// payment method".
    StationUnreachable {
        /// What failed.
        detail: String,
    },
    /// The station answered 400 (`unavailable`, `invalid`, `timeout`, or `in_process`
    /// after the last poll).
    Error {
        /// The error `type`.
        #[serde(rename = "type")]
        kind: String,
        /// The optional `message`.
        #[serde(default)]
        message: Option<String>,
        /// Calls made.
        polls: u32,
    },
    /// The station's answer broke the contract.
    BadAnswer {
        /// HTTP status received.
        status: u16,
        /// What was wrong.
        detail: String,
    },
    /// The customer paid: a payment attempt exists (its `status` says how it went) and
    /// the notifications are on their way.
    Paid {
        /// The payment.
        payment: Box<Payment>,
        /// The merchant order created for this scan.
        merchant_order: Box<MerchantOrder>,
    },
}

/// A scan that could not start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// No POS has this `external_id`.
    #[error("no POS with external_id {0}")]
    UnknownPos(String),
    /// The POS has no `url` to call.
    #[error("POS {0} has no url")]
    PosWithoutUrl(String),
    /// The URL is not an absolute `http(s)://` URL.
    #[error("cannot scan {0:?}: not an absolute http(s) URL")]
    InvalidUrl(String),
}

enum Reply {
    Order(Box<QrOrder>),
    Preference(String),
    Waiting(OrderErrorAnswer),
    Error(OrderErrorAnswer),
    Bad(u16, String),
}

/// A 200 answer the customer can pay.
enum Ready {
    Order(Box<QrOrder>),
    Preference(String),
}

fn resolve(shared: &Shared, target: &ScanTarget) -> Result<(String, Option<Pos>), ScanError> {
    let state = shared.lock();
    let pos = &state.store.pos;
    match target {
        ScanTarget::Url(url) => Ok((url.clone(), pos.by_url(url).cloned())),
        ScanTarget::PosExternalId(id) => {
            let found = pos
                .by_external_id(id)
                .ok_or_else(|| ScanError::UnknownPos(id.clone()))?;
            let url = found
                .url
                .clone()
                .ok_or_else(|| ScanError::PosWithoutUrl(id.clone()))?;
            Ok((url, Some(found.clone())))
        }
    }
}

async fn call(
    shared: &Shared,
    uri: &Uri,
    options: &ScanOptions,
) -> Result<(StatusCode, Option<String>, Bytes), String> {
    let request = Request::get(uri.clone())
        .header(USER_AGENT, options.user_agent.as_str())
        .header(ACCEPT, "application/json")
        .body(Full::new(Bytes::new()))
        .map_err(|e| format!("cannot build the request: {e}"))?;
    let exchange = async {
        let response = shared.http.request(request).await.map_err(|e| {
            format!(
                "{e}: {}",
                std::error::Error::source(&e)
                    .map(|s| s.to_string())
                    .unwrap_or_default()
            )
        })?;
        let (parts, body) = response.into_parts();
        let content_type = parts
            .headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = Limited::new(body, MAX_ANSWER)
            .collect()
            .await
            .map_err(|e| format!("reading the answer failed: {e}"))?
            .to_bytes();
        Ok((parts.status, content_type, body))
    };
    match tokio::time::timeout(options.answer_timeout, exchange).await {
        Ok(result) => result,
        Err(_) => Err(format!("no answer within {:?}", options.answer_timeout)),
    }
}

fn classify(status: StatusCode, content_type: Option<&str>, body: &[u8]) -> Reply {
    let code = status.as_u16();
    let is_json = content_type.is_some_and(|c| {
        c.split(';')
            .next()
            .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
    });
    if !is_json && matches!(code, 200 | 400) {
        return Reply::Bad(
            code,
            "the answer lacks Content-Type: application/json".to_owned(),
        );
    }
    match code {
        200 => {
            let value: Value = match serde_json::from_slice(body) {
                Ok(v) => v,
                Err(e) => return Reply::Bad(code, format!("the body is not JSON: {e}")),
            };
            if let Some(pref) = value.get("preference_id") {
                return match pref.as_str() {
                    Some(id) if !id.is_empty() => Reply::Preference(id.to_owned()),
                    _ => Reply::Bad(code, "preference_id is not a string".to_owned()),
                };
            }
            match serde_json::from_value::<QrOrder>(value) {
                Ok(order) => Reply::Order(Box::new(order)),
                Err(e) => Reply::Bad(code, format!("the order does not parse: {e}")),
            }
        }
        400 => match serde_json::from_slice::<OrderErrorAnswer>(body) {
            Ok(err) if err.error.kind == "in_process" => Reply::Waiting(err),
            Ok(err) => Reply::Error(err),
            Err(e) => Reply::Bad(
                code,
                format!("the 400 body is not {{\"error\":{{\"type\"}}}}: {e}"),
            ),
        },
        _ => Reply::Bad(
            code,
            format!(
                "unexpected status; body: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ),
        ),
    }
}

fn checkout_from_order(
    shared: &Shared,
    order: QrOrder,
    pos: Option<&Pos>,
) -> Result<Checkout, String> {
    if order.collector_id != shared.collector_id {
        return Err(format!(
            "collector_id {} is not the seller {}",
            order.collector_id, shared.collector_id
        ));
    }
    if order.external_reference.trim().is_empty() {
        return Err("external_reference is empty".to_owned());
    }
    check_items(&order.items)?;
    Ok(Checkout {
        external_reference: Some(order.external_reference),
        items: order.items,
        notification_url: order.notification_url,
        sponsor_id: order.sponsor_id,
        preference_id: None,
        pos_id: pos.map(|p| p.id.to_string()),
        store_id: pos.and_then(|p| p.store_id.clone()),
    })
}

fn check_items(items: &[crate::mercadopago::types::Item]) -> Result<(), String> {
    if items.is_empty() {
        return Err("the order has no items".to_owned());
    }
    if items
        .iter()
        .any(|i| i.quantity <= Decimal::ZERO || i.unit_price <= Decimal::ZERO)
    {
        return Err("an item has a quantity or unit_price that is not positive".to_owned());
    }
    Ok(())
}

/// Runs one scan; see the module docs.
pub(super) async fn scan(
    shared: &Arc<Shared>,
    target: ScanTarget,
    holder: CardHolder,
    options: &ScanOptions,
) -> Result<ScanOutcome, ScanError> {
    let (url, pos) = resolve(shared, &target)?;
    let uri: Uri = url
        .parse()
        .map_err(|_| ScanError::InvalidUrl(url.clone()))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(ScanError::InvalidUrl(url));
    }
    let max_polls = options.max_polls.max(1);
    let mut polls = 0;
    let reply = loop {
        polls += 1;
        let (status, content_type, body) = match call(shared, &uri, options).await {
            Ok(answer) => answer,
            Err(detail) => {
                tracing::info!(%url, %detail, "scan: station unreachable");
                return Ok(ScanOutcome::StationUnreachable { detail });
            }
        };
        match classify(status, content_type.as_deref(), &body) {
            Reply::Waiting(_) if polls < max_polls => {
                tokio::select! {
                    _ = tokio::time::sleep(options.poll_interval) => continue,
                    _ = shared.shutdown.cancelled() => {
                        return Ok(ScanOutcome::StationUnreachable { detail: "sandbox shutting down".to_owned() });
                    }
                }
            }
            Reply::Waiting(err) | Reply::Error(err) => {
                return Ok(ScanOutcome::Error {
                    kind: err.error.kind,
                    message: err.error.message,
                    polls,
                })
            }
            Reply::Bad(status, detail) => return Ok(ScanOutcome::BadAnswer { status, detail }),
            Reply::Order(order) => break Ready::Order(order),
            Reply::Preference(id) => break Ready::Preference(id),
        }
    };
    let checkout = match reply {
        Ready::Order(order) => checkout_from_order(shared, *order, pos.as_ref()),
        Ready::Preference(id) => {
            let state = shared.lock();
            match state.store.preference(&id) {
                Some(pref) => check_items(&pref.items).map(|()| Checkout {
                    external_reference: pref.external_reference.clone(),
                    items: pref.items.clone(),
                    notification_url: pref.notification_url.clone(),
                    sponsor_id: None,
                    preference_id: Some(id.clone()),
                    pos_id: pos.as_ref().map(|p| p.id.to_string()),
                    store_id: pos.as_ref().and_then(|p| p.store_id.clone()),
                }),
                None => Err(format!("unknown preference_id {id}")),
            }
        }
    };
    match checkout {
        Ok(checkout) => Ok(pay(shared, checkout, holder)),
        Err(detail) => Ok(ScanOutcome::BadAnswer {
            status: 200,
            detail,
        }),
    }
}

/// The app pays an order it already holds, without calling the station: the answer to an
/// earlier scan that the station may not have recorded (a crash right after answering).
pub(super) fn pay_order(shared: &Arc<Shared>, order: QrOrder, holder: CardHolder) -> ScanOutcome {
    match checkout_from_order(shared, order, None) {
        Ok(checkout) => pay(shared, checkout, holder),
        Err(detail) => ScanOutcome::BadAnswer {
            status: 200,
            detail,
        },
    }
}

/// Creates the merchant order and the payment of a checkout and sends the notifications.
fn pay(shared: &Arc<Shared>, checkout: Checkout, holder: CardHolder) -> ScanOutcome {
    let now = shared.now();
    let (payment, order) = shared.lock().store.record_scan(checkout, holder, now);
    tracing::info!(
        payment_id = payment.id,
        merchant_order_id = order.id,
        status = %payment.status,
        amount = %payment.transaction_amount,
        "scan: payment created"
    );
    notify::dispatch(
        shared,
        order.notification_url.as_deref(),
        payment.id,
        order.id,
    );
    ScanOutcome::Paid {
        payment: Box::new(payment),
        merchant_order: Box::new(order),
    }
}
