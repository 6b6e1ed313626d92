//! Admin routes for grade prices.
//!
//! - `GET /api/prices`: the prices in force (`current`: set id and every grade's price),
//!   the sets scheduled for later, and per pump the set it should have, whether it
//!   confirmed it, and the last failure; `grade_names` maps each grade key to its name.
//! - `POST /api/prices` (manager): `{"grades": {"super": "1500.00"}, "at"?:
//!   "2026-12-03T06:00:00-03:00"}`. Grades by key or id. A price must be positive and fit
//!   every pump that sells the grade (its decimals and digits: never rounded), else 400
//!   and nothing changes. The set is journaled and in force at once, or at `at`; each
//!   pump is programmed when it is idle.
//! - `POST /api/prices/{id}/cancel` (manager): withdraws a set scheduled for later; it
//!   never takes effect. 404 for an unknown set, 409 for one in force or cancelled
//!   already. Answers `{"price_set", "at", "cancelled_at", "by"}`.

use std::collections::BTreeMap;
use std::str::FromStr;

use hyper::StatusCode;
use pump_protocols::{GradeId, UnitPrice};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::admin::{refusal, StationInfo};
use super::error::{json_response, ApiError, HttpResponse};
use super::order::json_decimal;
use super::routes::Call;
use crate::forecourt::prices::check_pumps_take;
use crate::forecourt::Snapshot;
use crate::journal::{JournalError, NewPriceSet};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PricesBody {
    grades: Map<String, Value>,
    at: Option<String>,
}

fn grades_json(station: &StationInfo, grades: &BTreeMap<GradeId, UnitPrice>) -> Value {
    Value::Object(
        grades
            .iter()
            .map(|(g, p)| (station.grade_key(*g), json_decimal(p.value())))
            .collect(),
    )
}

/// `GET /api/prices`.
pub async fn show(call: Call) -> Result<HttpResponse, ApiError> {
    let snapshot = call.context.forecourt.snapshot();
    Ok(json_response(
        StatusCode::OK,
        &prices_json(&call.context.station, &snapshot),
    ))
}

/// What `GET /api/prices` answers (also the console's `prices` event).
pub fn prices_json(station: &StationInfo, snapshot: &Snapshot) -> Value {
    let book = &snapshot.prices;
    let pumps: Vec<Value> = snapshot
        .positions
        .values()
        .map(|p| {
            let pricing = &p.pricing;
            json!({
                "position": p.setup.position.0,
                "pump_status": p.pump_status.as_str(),
                "price_set": pricing.target,
                "confirmed": pricing.confirmed,
                "applied_price_set": pricing.applied,
                "sent": pricing.sent_at.is_some(),
                "last_error": pricing.last_error,
                "prices": pricing.target_prices.iter().map(|(n, price)| json!({
                    "nozzle": n.0, "price": json_decimal(price.value()),
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let scheduled: Vec<Value> = book
        .scheduled
        .iter()
        .map(|s| {
            json!({
                "id": s.id,
                "at": s.effective_at.to_string(),
                "grades": grades_json(station, &s.prices),
            })
        })
        .collect();
    let names: Map<String, Value> = station
        .grades
        .iter()
        .map(|(_, key, name)| (key.clone(), Value::String(name.clone())))
        .collect();
    json!({
        "grade_names": names,
        "current": { "price_set": book.current, "grades": grades_json(station, &book.grades) },
        "scheduled": scheduled,
        "pumps": pumps,
    })
}

fn price_of(key: &str, value: &Value) -> Result<UnitPrice, ApiError> {
    let text = match value {
        Value::String(s) => s.trim().to_owned(),
        Value::Number(n) => n.to_string(),
        _ => {
            return Err(ApiError::BadRequest(format!(
                "price of {key} must be a decimal number"
            )))
        }
    };
    let price = Decimal::from_str(&text)
        .map_err(|_| ApiError::BadRequest(format!("price of {key} must be a decimal number")))?;
    if price <= Decimal::ZERO {
        return Err(ApiError::BadRequest(format!(
            "price of {key} must be positive"
        )));
    }
    Ok(UnitPrice::new(price))
}

/// `POST /api/prices`.
pub async fn set(call: Call) -> Result<HttpResponse, ApiError> {
    let by = call.caller()?.to_string();
    let body: PricesBody = serde_json::from_slice(call.request.body())
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
    if body.grades.is_empty() {
        return Err(ApiError::BadRequest(
            "grades: give at least one price".to_owned(),
        ));
    }
    let station = &call.context.station;
    let mut prices = BTreeMap::new();
    for (key, value) in &body.grades {
        let grade = station
            .grade_by_name(key)
            .ok_or_else(|| ApiError::BadRequest(format!("unknown grade {key:?}")))?;
        prices.insert(grade, price_of(key, value)?);
    }
    check_pumps_take(&call.context.forecourt.snapshot(), &prices).map_err(ApiError::BadRequest)?;
    let now = call.context.clock.now();
    let effective_at = match &body.at {
        None => now,
        Some(text) => parse_time(text)?,
    };
    let record = call
        .context
        .journal
        .add_price_set(NewPriceSet {
            prices,
            effective_at,
            created_by: by,
        })
        .await
        .map_err(|e| ApiError::Unavailable(format!("journal: {e}")))?;
    let id = record.id;
    let in_force = call
        .context
        .forecourt
        .price_set(record)
        .await
        .map_err(refusal)?;
    tracing::info!(price_set = id, in_force, at = %effective_at, "price set recorded");
    Ok(json_response(
        StatusCode::OK,
        &json!({ "price_set": id, "at": effective_at.to_string(), "in_force": in_force }),
    ))
}

/// `POST /api/prices/{id}/cancel`.
pub async fn cancel(call: Call) -> Result<HttpResponse, ApiError> {
    let by = call.caller()?.to_string();
    let id: i64 = call.param(0).parse().map_err(|_| ApiError::NotFound)?;
    let now = call.context.clock.now();
    let record = call
        .context
        .journal
        .cancel_price_set(id, now, by.clone())
        .await
        .map_err(|e| match e {
            JournalError::PriceSetNotFound(_) => ApiError::NotFound,
            JournalError::PriceSetInForce(_) | JournalError::PriceSetCancelled(_) => {
                ApiError::Conflict(e.to_string())
            }
            e => ApiError::Unavailable(format!("journal: {e}")),
        })?;
    call.context
        .forecourt
        .price_set_cancelled(id)
        .await
        .map_err(refusal)?;
    tracing::info!(price_set = id, by, "scheduled price set cancelled");
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "price_set": id,
            "at": record.effective_at.to_string(),
            "cancelled_at": now.to_string(),
            "by": by,
        }),
    ))
}

/// RFC 3339 with an offset (`2026-12-03T06:00:00-03:00` or `…Z`).
fn parse_time(text: &str) -> Result<jiff::Timestamp, ApiError> {
    text.parse::<jiff::Timestamp>().map_err(|_| {
        ApiError::BadRequest(format!(
            "at must be an RFC 3339 time with an offset, got {text:?}"
        ))
    })
}
