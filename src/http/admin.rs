//! The admin API: the attendants' and operators' way to see and change the forecourt.
//!
//! Bound to loopback by default and never exposed publicly. It only *sends* requests to
//! the forecourt actor and reads snapshots; it never touches state directly, so every
//! change goes through the same rules and the same journal as everything else.
//!
//! - `GET  /api/positions`: live state of every position.
//! - `POST /api/positions/{n}/authorize`: `{"amount": "500"}` or `{"volume": "20"}`
//!   (optional), `"attendant": "7"` (optional, must be configured).
//! - `POST /api/positions/{n}/stop`: stops a running dispatch; one whose pump is not
//!   dispensing is closed at once.
//! - `GET  /api/status`: `{"mercadopago": {"healthy", "last_success", "failing_since",
//!   "last_failure": {"kind", "status", "at", "message"}, …}}`.
//! - cancel and attention: see [`super::admin_dispatch`]; sales: see [`super::admin_sales`].

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Instant;

use bytes::Bytes;
use hyper::{Method, Request, StatusCode};
use pump_protocols::{Money, PositionId, Preset, Volume};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

use super::admin_dispatch;
use super::admin_sales;
use super::error::{json_response, ApiError, HttpResponse};
use super::order::json_decimal;
use crate::forecourt::dispatch::{OrderState, PositionState, RequestRefused};
use crate::forecourt::{ForecourtError, ForecourtHandle, Snapshot};
use crate::journal::Journal;
use crate::payments::pos_sync::{self, PosPlan};
use crate::payments::processor::PaymentApplier;
use crate::sale::Sale;
use std::sync::Arc;

/// What the admin API needs.
#[derive(Clone)]
pub struct AdminContext {
    /// The forecourt actor.
    pub forecourt: ForecourtHandle,
    /// Configured attendant ids.
    pub attendants: HashSet<String>,
    /// The journal (sales, payments, refunds).
    pub journal: Journal,
    /// Payments through Mercado Pago, when an access token is configured.
    pub payments: Option<PaymentApplier>,
    /// The POS each position needs, or why they cannot be built.
    pub pos_plans: Arc<Result<Vec<PosPlan>, String>>,
}

/// Routes an admin request.
pub async fn handle(
    context: &AdminContext,
    request: Request<Bytes>,
    now: Instant,
) -> Result<HttpResponse, ApiError> {
    let path = request.uri().path().trim_end_matches('/').to_owned();
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    match segments.as_slice() {
        ["api", "positions"] => {
            require(&request, &Method::GET, "GET")?;
            Ok(json_response(
                StatusCode::OK,
                &positions_json(&context.forecourt.snapshot(), now),
            ))
        }
        ["api", "positions", n, action @ ("authorize" | "stop")] => {
            require(&request, &Method::POST, "POST")?;
            let position = n
                .parse::<u16>()
                .map(PositionId)
                .map_err(|_| ApiError::NotFound)?;
            if *action == "authorize" {
                authorize(context, position, request.body()).await
            } else {
                context.forecourt.stop(position).await.map_err(refusal)?;
                Ok(json_response(
                    StatusCode::OK,
                    &json!({ "position": position.0, "stopping": true }),
                ))
            }
        }
        ["api", "positions", n, "cancel"] => {
            require(&request, &Method::POST, "POST")?;
            let position = n
                .parse::<u16>()
                .map(PositionId)
                .map_err(|_| ApiError::NotFound)?;
            admin_dispatch::cancel(context, position, request.body()).await
        }
        ["api", "attention"] => {
            require(&request, &Method::GET, "GET")?;
            admin_dispatch::list(context, request.uri().query()).await
        }
        ["api", "attention", id, action @ ("book" | "dismiss")] => {
            require(&request, &Method::POST, "POST")?;
            let id = id
                .parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or(ApiError::NotFound)?;
            admin_dispatch::resolve(context, id, *action == "book", request.body()).await
        }
        ["api", "pos"] => {
            require(&request, &Method::GET, "GET")?;
            let records = context
                .journal
                .pos_records()
                .await
                .map_err(|e| ApiError::Unavailable(format!("journal: {e}")))?;
            let body: Vec<Value> = records
                .iter()
                .map(|r| {
                    json!({
                        "position": r.position.0,
                        "mp_pos_id": r.mp_pos_id,
                        "external_id": r.external_id,
                        "qr": { "image": r.qr_image, "template_document": r.qr_template_document,
                                "template_image": r.qr_template_image },
                        "synced_at": r.synced_at.to_string(),
                    })
                })
                .collect();
            Ok(json_response(StatusCode::OK, &Value::Array(body)))
        }
        ["api", "pos", "sync"] => {
            require(&request, &Method::POST, "POST")?;
            let applier = context.payments.as_ref().ok_or_else(|| {
                ApiError::Unavailable("no Mercado Pago access token configured".to_owned())
            })?;
            let plans = context
                .pos_plans
                .as_ref()
                .as_ref()
                .map_err(|e| ApiError::Conflict(e.clone()))?;
            let results = pos_sync::sync(&applier.client, &context.journal, plans).await;
            let failed = results.iter().any(|r| r.outcome == "failed");
            let body = Value::Array(results.iter().map(|r| r.to_json()).collect());
            let status = if failed {
                StatusCode::BAD_GATEWAY
            } else {
                StatusCode::OK
            };
            Ok(json_response(status, &body))
        }
        ["api", "status"] => {
            require(&request, &Method::GET, "GET")?;
            let mercadopago = context.payments.as_ref().map_or_else(
                || json!({ "configured": false }),
                |p| p.client.health().snapshot().to_json(),
            );
            Ok(json_response(
                StatusCode::OK,
                &json!({ "mercadopago": mercadopago }),
            ))
        }
        ["api", "payments", "flagged"] => {
            require(&request, &Method::GET, "GET")?;
            admin_sales::flagged(context).await
        }
        ["api", "sales"] => {
            require(&request, &Method::GET, "GET")?;
            admin_sales::list(context, request.uri().query()).await
        }
        ["api", "sales", id] => {
            require(&request, &Method::GET, "GET")?;
            admin_sales::show(context, sale_id(id)?).await
        }
        ["api", "sales", id, action @ ("settle" | "void" | "refund")] => {
            require(&request, &Method::POST, "POST")?;
            let id = sale_id(id)?;
            match *action {
                "refund" => admin_sales::refund(context, id, request.body()).await,
                other => admin_sales::close(context, id, request.body(), other == "void").await,
            }
        }
        _ => Err(ApiError::NotFound),
    }
}

fn sale_id(text: &str) -> Result<crate::sale::SaleId, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(ApiError::NotFound)
}

fn require(
    request: &Request<Bytes>,
    method: &Method,
    allowed: &'static str,
) -> Result<(), ApiError> {
    if request.method() == method {
        Ok(())
    } else {
        Err(ApiError::MethodNotAllowed(allowed))
    }
}

/// The body of an authorization. Quantities are strings or numbers, read exactly.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizeBody {
    amount: Option<Value>,
    volume: Option<Value>,
    attendant: Option<Value>,
}

fn decimal_field(name: &str, value: &Value) -> Result<Decimal, ApiError> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => {
            return Err(ApiError::BadRequest(format!(
                "{name} must be a decimal number"
            )))
        }
    };
    let d = Decimal::from_str(text.trim())
        .map_err(|_| ApiError::BadRequest(format!("{name} must be a decimal number")))?;
    if d <= Decimal::ZERO {
        return Err(ApiError::BadRequest(format!("{name} must be positive")));
    }
    Ok(d)
}

async fn authorize(
    context: &AdminContext,
    position: PositionId,
    body: &Bytes,
) -> Result<HttpResponse, ApiError> {
    let body: AuthorizeBody = if body.iter().all(u8::is_ascii_whitespace) {
        AuthorizeBody::default()
    } else {
        serde_json::from_slice(body)
            .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?
    };
    let preset = match (&body.amount, &body.volume) {
        (Some(_), Some(_)) => {
            return Err(ApiError::BadRequest(
                "give either amount or volume, not both".to_owned(),
            ))
        }
        (Some(a), None) => Some(Preset::Amount(Money::new(decimal_field("amount", a)?))),
        (None, Some(v)) => Some(Preset::Volume(Volume::new(decimal_field("volume", v)?))),
        (None, None) => None,
    };
    let attendant = match &body.attendant {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err(ApiError::BadRequest("attendant must be an id".to_owned())),
    };
    if let Some(a) = &attendant {
        if !context.attendants.contains(a) {
            return Err(ApiError::BadRequest(format!("unknown attendant {a:?}")));
        }
    }
    let dispatch = context
        .forecourt
        .authorize(position, preset, attendant)
        .await
        .map_err(refusal)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "position": position.0, "dispatch_id": dispatch, "authorized": true }),
    ))
}

/// The HTTP answer to a refused forecourt request.
pub fn refusal(error: ForecourtError) -> ApiError {
    match error {
        ForecourtError::UnknownPosition(_) => ApiError::NotFound,
        ForecourtError::Refused(r @ RequestRefused::NotForThisPump { .. }) => {
            ApiError::BadRequest(r.to_string())
        }
        ForecourtError::Refused(r @ RequestRefused::Busy(_))
        | ForecourtError::Refused(r @ RequestRefused::NothingToStop(_))
        | ForecourtError::Refused(r @ RequestRefused::NothingToCancel(_))
        | ForecourtError::Refused(r @ RequestRefused::Flowing(_))
        | ForecourtError::Refused(r @ RequestRefused::Offline(_))
        | ForecourtError::Refused(r @ RequestRefused::NotProgrammed(_)) => {
            ApiError::Conflict(r.to_string())
        }
        e
        @ (ForecourtError::Journal(_) | ForecourtError::LineDown(_) | ForecourtError::Stopped) => {
            ApiError::Unavailable(e.to_string())
        }
    }
}

/// The admin view of a sale.
pub fn sale_json(sale: &Sale) -> Value {
    json!({
        "id": sale.id,
        "external_reference": sale.external_reference,
        "transaction_id": sale.transaction_id,
        "invoice_number": format!("{:08}", sale.invoice_number),
        "position": sale.position.0,
        "nozzle": sale.nozzle.0,
        "grade": sale.grade.map(|g| g.0),
        "volume": json_decimal(sale.volume.value()),
        "amount": json_decimal(sale.amount.value()),
        "unit_price": json_decimal(sale.unit_price.value()),
        "attendant": sale.attendant,
        "completed_at": sale.completed_at.to_string(),
        "status": sale.status.as_str(),
    })
}

fn position_json(state: &PositionState, now: Instant) -> Value {
    let order = match state.order_state(now) {
        OrderState::Timeout => "timeout",
        OrderState::InProcess => "in_process",
        OrderState::Payable(_) => "payable",
        OrderState::Unavailable => "unavailable",
    };
    let preset = state
        .dispatch
        .as_ref()
        .and_then(|d| d.preset)
        .map(|p| match p {
            Preset::Amount(m) => json!({ "amount": json_decimal(m.value()) }),
            Preset::Volume(v) => json!({ "volume": json_decimal(v.value()) }),
        });
    json!({
        "position": state.setup.position.0,
        "line": state.setup.line,
        "address": state.setup.address.0,
        "pump_status": state.pump_status.as_str(),
        "order_state": order,
        "nozzle_out": state.nozzle_out.map(|n| n.0),
        "running": state.running.map(|r| json!({
            "volume": json_decimal(r.volume.value()),
            "amount": json_decimal(r.amount.value()),
        })),
        "last_heard_ms_ago": state
            .last_heard
            .map(|at| u64::try_from(now.saturating_duration_since(at).as_millis()).unwrap_or(u64::MAX)),
        "dispatch": state.dispatch.as_ref().map(|d| json!({
            "id": d.id,
            "attendant": d.attendant,
            "preset": preset,
            "stage": if d.awaiting.is_some() { "reading_totals" } else { d.stage.as_str() },
            "verifying": d.verifying.is_some(),
        })),
        "last_dispatch_end": state.last_ended.as_ref().map(|e| json!({
            "dispatch_id": e.id,
            "reason": e.reason,
            "refused": e.refused,
        })),
        "payable": state.payable.iter().rev().map(sale_json).collect::<Vec<_>>(),
    })
}

/// Every position, in number order.
pub fn positions_json(snapshot: &Snapshot, now: Instant) -> Value {
    Value::Array(
        snapshot
            .positions
            .values()
            .map(|state| position_json(state, now))
            .collect(),
    )
}
