//! Admin routes for dispatches that need a person: cancelling one stuck without a pump,
//! and deciding completions the daemon could not vouch for.
//!
//! - `POST /api/positions/{n}/cancel`: closes the open dispatch of a position whose pump
//!   is not dispensing (409 while fuel flows: stop it instead). The journal records who
//!   cancelled it (and the audit trail, like every state change).
//! - `GET /api/attention` (open items, oldest first; `?all=1` for the latest of any state).
//! - `POST /api/attention/{id}/book`: the fuel was dispensed; the reported figures become
//!   a payable sale (once: a second call is 409).
//! - `POST /api/attention/{id}/dismiss` (manager): nothing is owed.

use hyper::StatusCode;
use serde_json::{json, Value};

use super::admin::{position_param, refusal, sale_json};
use super::admin_sales::journal_error;
use super::error::{json_response, ApiError, HttpResponse};
use super::order::form_pairs;
use super::routes::Call;
use crate::journal::{Attention, JournalError, Resolution};

/// `POST /api/positions/{n}/cancel`: the journal names the caller.
pub async fn cancel(call: Call) -> Result<HttpResponse, ApiError> {
    let position = position_param(&call)?;
    let by = call.caller()?.name.clone();
    let dispatch = call
        .context
        .forecourt
        .cancel(position, Some(by))
        .await
        .map_err(refusal)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({ "position": position.0, "dispatch_id": dispatch, "cancelled": true }),
    ))
}

fn attention_json(item: &Attention) -> Value {
    json!({
        "id": item.id,
        "position": item.position.0,
        "dispatch_id": item.dispatch,
        "kind": item.kind,
        "reason": item.detail.get("reason"),
        "completion": item.detail.get("completion"),
        "evidence": item.detail.get("evidence"),
        "created_at": item.created_at.to_string(),
        "resolved_at": item.resolved_at.map(|t| t.to_string()),
        "resolution": item.resolution,
        "resolved_by": item.resolved_by,
        "sale_id": item.sale,
    })
}

/// `GET /api/attention`.
pub async fn list(call: Call) -> Result<HttpResponse, ApiError> {
    let all = form_pairs(call.request.uri().query().unwrap_or_default())
        .iter()
        .any(|(k, v)| k == "all" && (v == "1" || v == "true"));
    let items = call
        .context
        .journal
        .attention_items(!all, 200)
        .await
        .map_err(journal_error)?;
    Ok(json_response(
        StatusCode::OK,
        &Value::Array(items.iter().map(attention_json).collect()),
    ))
}

/// `POST /api/attention/{id}/book`.
pub async fn book(call: Call) -> Result<HttpResponse, ApiError> {
    resolve(call, true).await
}

/// `POST /api/attention/{id}/dismiss`.
pub async fn dismiss(call: Call) -> Result<HttpResponse, ApiError> {
    resolve(call, false).await
}

async fn resolve(call: Call, book: bool) -> Result<HttpResponse, ApiError> {
    let id = call
        .param(0)
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(ApiError::NotFound)?;
    let by = call.caller()?.name.clone();
    let resolution = if book {
        Resolution::Book
    } else {
        Resolution::Dismiss
    };
    let sale = call
        .context
        .journal
        .resolve_attention(id, resolution, Some(by))
        .await
        .map_err(|e| match e {
            JournalError::AttentionNotFound(_) => ApiError::NotFound,
            JournalError::AttentionResolved(_) => ApiError::Conflict(e.to_string()),
            other => journal_error(other),
        })?;
    if let Some(sale) = &sale {
        // The actor offers it to the next scan of the position.
        call.context
            .forecourt
            .sale_booked(sale.clone())
            .await
            .map_err(|e| ApiError::Unavailable(e.to_string()))?;
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "id": id,
            "resolution": if book { "booked" } else { "dismissed" },
            "sale": sale.as_ref().map(sale_json),
        }),
    ))
}
