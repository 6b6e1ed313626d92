//! Admin API for sales: list and inspect, settle by other means (cash), void, refund.
//!
//! - `GET  /api/sales[?limit=N&position=N&attendant=ID&reference=TEXT&status=S&from=T&to=T]`:
//!   sales, newest first (see [`sale_filter`]); an attendant sees only their own.
//! - `GET  /api/sales/{id}`: one sale with its payments, refunds and events.
//! - `GET  /api/payments/flagged`: payments that need a person (amount mismatch, a second
//!   payment, a payment after cash, refunds, chargebacks).
//! - `POST /api/sales/{id}/settle` `{"note": "cash"}`: paid at the counter; the position is
//!   released, and a Mercado Pago payment arriving later for it is flagged (and refunded
//!   when the station allows it).
//! - `POST /api/sales/{id}/void` `{"note": "…"}`: nothing is owed.
//! - `POST /api/sales/{id}/refund` `{"amount": "10.50"}` (omit for the rest of the
//!   payment): refunds through Mercado Pago with an idempotency key derived from the
//!   journal, so retrying a refund whose answer was lost never pays twice.

use std::str::FromStr;

use bytes::Bytes;
use hyper::StatusCode;
use pump_protocols::Money;
use rust_decimal::Decimal;
use serde_json::{json, Value};

use super::admin::{sale_id, sale_json, AdminContext};
use super::error::{json_response, ApiError, HttpResponse};
use super::order::{form_pairs, json_decimal};
use super::routes::Call;
use crate::journal::payments::REFUND_REQUESTED;
use crate::journal::{JournalError, SaleFilter, SaleRecord};
use crate::payments::processor::ProcessError;
use crate::sale::{SaleId, SaleStatus};

pub(crate) fn journal_error(e: JournalError) -> ApiError {
    match e {
        JournalError::InvalidTransition { .. } => ApiError::Conflict(e.to_string()),
        other => ApiError::Unavailable(format!("journal: {other}")),
    }
}

fn record_json(record: &SaleRecord) -> Value {
    let mut value = sale_json(&record.sale);
    if let Value::Object(map) = &mut value {
        map.insert("payment_id".into(), json!(record.payment_id));
        map.insert(
            "paid_at".into(),
            json!(record.paid_at.map(|t| t.to_string())),
        );
        map.insert("served_count".into(), json!(record.served_count));
        map.insert("note".into(), json!(record.settled_note));
    }
    value
}

pub(crate) fn body_json(body: &Bytes) -> Result<Value, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(json!({}));
    }
    let value: Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
    if !value.is_object() {
        return Err(ApiError::BadRequest(
            "the body must be a JSON object".to_owned(),
        ));
    }
    Ok(value)
}

fn note(body: &Value, default: &str) -> Result<String, ApiError> {
    match &body["note"] {
        Value::Null => Ok(default.to_owned()),
        Value::String(s) if s.chars().count() <= 200 => Ok(s.clone()),
        _ => Err(ApiError::BadRequest(
            "note must be text of at most 200 characters".to_owned(),
        )),
    }
}

async fn record(context: &AdminContext, id: SaleId) -> Result<SaleRecord, ApiError> {
    context
        .journal
        .sale_record(id)
        .await
        .map_err(journal_error)?
        .ok_or(ApiError::NotFound)
}

/// The attendant whose sales alone the caller may see: a signed-in attendant sees their
/// own; managers and service tokens see every sale.
fn only_of(call: &Call) -> Result<Option<&str>, ApiError> {
    let caller = call.caller()?;
    Ok(caller.is_attendant_person().then_some(caller.name.as_str()))
}

/// The search a `GET /api/sales` query asks for: `limit` (50, at most 500), `position`,
/// `attendant`, `reference` (part of it), `status`, `from` and `to` (RFC 3339 instants,
/// `to` excluded).
fn sale_filter(query: &str) -> Result<SaleFilter, ApiError> {
    let mut filter = SaleFilter {
        limit: 50,
        ..SaleFilter::default()
    };
    let bad = |what: &str| ApiError::BadRequest(what.to_owned());
    let time = |v: &str, key: &str| {
        v.parse::<jiff::Timestamp>()
            .map_err(|_| bad(&format!("{key} must be an RFC 3339 time with an offset")))
    };
    for (key, value) in form_pairs(query) {
        if value.is_empty() {
            continue;
        }
        match key.as_str() {
            "limit" => {
                filter.limit = value
                    .parse::<u32>()
                    .map_err(|_| bad("limit must be a number"))?
                    .min(500)
            }
            "position" => {
                filter.position = Some(
                    value
                        .parse()
                        .map_err(|_| bad("position must be a number"))?,
                )
            }
            "attendant" => filter.attendant = Some(value),
            "reference" => filter.reference = Some(value),
            "status" => {
                if SaleStatus::parse(&value).is_none() {
                    return Err(bad("status must be ready, paid, settled_other or voided"));
                }
                filter.status = Some(value)
            }
            "from" => filter.from = Some(time(&value, "from")?),
            "to" => filter.to = Some(time(&value, "to")?),
            _ => {}
        }
    }
    Ok(filter)
}

/// `GET /api/sales`.
pub async fn list(call: Call) -> Result<HttpResponse, ApiError> {
    let context = &call.context;
    let mut filter = sale_filter(call.request.uri().query().unwrap_or_default())?;
    if let Some(only) = only_of(&call)? {
        // An attendant's search covers their own sales, whatever it names.
        if filter.attendant.as_deref().is_some_and(|a| a != only) {
            return Ok(json_response(StatusCode::OK, &Value::Array(Vec::new())));
        }
        filter.attendant = Some(only.to_owned());
    }
    let sales = context
        .journal
        .search_sales(filter)
        .await
        .map_err(journal_error)?;
    Ok(json_response(
        StatusCode::OK,
        &Value::Array(sales.iter().map(record_json).collect()),
    ))
}

/// `GET /api/sales/{id}`.
pub async fn show(call: Call) -> Result<HttpResponse, ApiError> {
    let context = &call.context;
    let id = sale_id(call.param(0))?;
    let record = record(context, id).await?;
    if let Some(only) = only_of(&call)? {
        // Another attendant's sale does not exist for this caller.
        if record.sale.attendant.as_deref() != Some(only) {
            return Err(ApiError::NotFound);
        }
    }
    let journal = &context.journal;
    let payments = journal.payments_for_sale(id).await.map_err(journal_error)?;
    let mut payments_json = Vec::new();
    for p in &payments {
        let refunds = journal
            .refunds_for_payment(&p.payment_id)
            .await
            .map_err(journal_error)?;
        payments_json.push(json!({
            "payment_id": p.payment_id,
            "status": p.status,
            "status_detail": p.status_detail,
            "amount": json_decimal(p.amount.value()),
            "currency": p.currency,
            "flagged": p.flagged_reason,
            "refunds": refunds.iter().map(|r| json!({
                "id": r.id,
                "amount": r.amount.map(|a| json_decimal(a.value())),
                "status": r.status,
                "mp_refund_id": r.mp_refund_id,
            })).collect::<Vec<_>>(),
        }));
    }
    let events = journal.events_for_sale(id).await.map_err(journal_error)?;
    let mut value = record_json(&record);
    if let Value::Object(map) = &mut value {
        map.insert("payments".into(), Value::Array(payments_json));
        map.insert(
            "events".into(),
            Value::Array(
                events
                    .iter()
                    .map(|e| json!({ "at": e.at.to_string(), "kind": e.kind, "detail": e.detail }))
                    .collect(),
            ),
        );
    }
    Ok(json_response(StatusCode::OK, &value))
}

/// `GET /api/payments/flagged`: what needs a manager's attention.
pub async fn flagged(call: Call) -> Result<HttpResponse, ApiError> {
    let context = &call.context;
    let payments = context
        .journal
        .flagged_payments(200)
        .await
        .map_err(journal_error)?;
    let body: Vec<Value> = payments
        .iter()
        .map(|p| {
            json!({
                "payment_id": p.payment_id,
                "sale": p.sale,
                "status": p.status,
                "status_detail": p.status_detail,
                "amount": json_decimal(p.amount.value()),
                "currency": p.currency,
                "external_reference": p.external_reference,
                "flagged": p.flagged_reason,
                "seen_at": p.seen_at.to_string(),
            })
        })
        .collect();
    Ok(json_response(StatusCode::OK, &Value::Array(body)))
}

/// `POST /api/sales/{id}/settle`.
pub async fn settle(call: Call) -> Result<HttpResponse, ApiError> {
    close(&call, false).await
}

/// `POST /api/sales/{id}/void`.
pub async fn void(call: Call) -> Result<HttpResponse, ApiError> {
    close(&call, true).await
}

async fn close(call: &Call, void: bool) -> Result<HttpResponse, ApiError> {
    let context = &call.context;
    let id = sale_id(call.param(0))?;
    let body = body_json(call.request.body())?;
    let note = note(&body, if void { "voided" } else { "cash" })?;
    let journal = &context.journal;
    let sale = if void {
        journal.void(id, note).await
    } else {
        journal.settle_other(id, note).await
    }
    .map_err(journal_error)?;
    if context.forecourt.sale_closed(sale.id).await.is_err() {
        tracing::warn!("forecourt stopped; the sale is closed in the journal");
    }
    tracing::info!(
        sale = sale.id,
        status = sale.status.as_str(),
        "sale closed by staff"
    );
    Ok(json_response(StatusCode::OK, &sale_json(&sale)))
}

/// `POST /api/sales/{id}/refund`.
pub async fn refund(call: Call) -> Result<HttpResponse, ApiError> {
    let context = &call.context;
    let id = sale_id(call.param(0))?;
    let body = body_json(call.request.body())?;
    let amount = match &body["amount"] {
        Value::Null => None,
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => {
            return Err(ApiError::BadRequest(
                "amount must be a decimal number".to_owned(),
            ))
        }
    }
    .map(|s| {
        Decimal::from_str(&s)
            .ok()
            .filter(|d| *d > Decimal::ZERO && d.scale() <= 2)
            .ok_or_else(|| {
                ApiError::BadRequest("amount must be positive with at most 2 decimals".to_owned())
            })
    })
    .transpose()?;
    let applier = context.payments.as_ref().ok_or_else(|| {
        ApiError::Unavailable("no Mercado Pago access token configured".to_owned())
    })?;
    let record = record(context, id).await?;
    if record.sale.status != SaleStatus::Paid {
        return Err(ApiError::Conflict(format!(
            "sale {id} is {}; only a sale paid through Mercado Pago can be refunded",
            record.sale.status.as_str()
        )));
    }
    let payment_id = record
        .payment_id
        .clone()
        .ok_or_else(|| ApiError::Conflict(format!("sale {id} has no payment")))?;
    let numeric: i64 = payment_id
        .parse()
        .map_err(|_| ApiError::Conflict(format!("payment {payment_id} is not refundable here")))?;
    let journal = &context.journal;
    let payment = journal
        .payment(&payment_id)
        .await
        .map_err(journal_error)?
        .ok_or_else(|| ApiError::Conflict(format!("payment {payment_id} is not in the journal")))?;
    let refunds = journal
        .refunds_for_payment(&payment_id)
        .await
        .map_err(journal_error)?;
    // A refund whose answer was lost is retried with its own key, never a new one.
    let (key, amount) = match refunds.iter().find(|r| r.status == REFUND_REQUESTED) {
        Some(pending) => (pending.idempotency_key.clone(), pending.amount),
        None => {
            let refunded: Decimal = refunds
                .iter()
                .map(|r| r.amount.map(Money::value).unwrap_or(payment.amount.value()))
                .sum();
            let remaining = payment.amount.value() - refunded;
            let wanted = amount.unwrap_or(remaining);
            if remaining <= Decimal::ZERO || wanted > remaining {
                return Err(ApiError::Conflict(format!(
                    "only {remaining} of payment {payment_id} is left to refund"
                )));
            }
            let key = format!("S{id}P{payment_id}R{}", refunds.len() + 1);
            // A refund of everything that is left goes out as a total refund only when
            // nothing was refunded before (Mercado Pago's total refund takes no amount).
            let amount = if refunds.is_empty() && wanted == payment.amount.value() {
                None
            } else {
                Some(Money::new(wanted))
            };
            (key, amount)
        }
    };
    let refund = applier
        .refund(numeric, amount, key)
        .await
        .map_err(|e| match e {
            // The refund stays `requested` and is retried with its key once the token works.
            ProcessError::Transient(m) | ProcessError::Credentials(m) => ApiError::Unavailable(m),
            ProcessError::Permanent(m) => ApiError::Conflict(m),
        })?;
    if let Err(e) = applier.refresh(numeric).await {
        tracing::warn!(payment = %payment_id, error = %e, "could not re-read the refunded payment");
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "sale": id,
            "payment_id": payment_id,
            "refund": {
                "id": refund.id,
                "amount": refund.amount.map(|a| json_decimal(a.value())),
                "status": refund.status,
                "mp_refund_id": refund.mp_refund_id,
            },
        }),
    ))
}
