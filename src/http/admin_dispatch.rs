//! Admin routes for dispatches that need a person: cancelling one stuck without a pump,
//! and deciding completions the daemon could not vouch for.
//!
//! - `POST /api/positions/{n}/cancel` `{"attendant": "7"}` (optional): closes the open
//!   dispatch of a position whose pump is not dispensing (409 while fuel flows: stop it
//!   instead). The journal records who cancelled it.
//! - `GET /api/attention` (open items, oldest first; `?all=1` for the latest of any state).
//! - `POST /api/attention/{id}/book`: the fuel was dispensed; the reported figures become
//!   a payable sale (once: a second call is 409).
//! - `POST /api/attention/{id}/dismiss` `{"note": …}`: nothing is owed.

use bytes::Bytes;
use hyper::StatusCode;
use pump_protocols::PositionId;
use serde_json::{json, Value};

use super::admin::{refusal, sale_json, AdminContext};
use super::admin_sales::{body_json, journal_error};
use super::error::{json_response, ApiError, HttpResponse};
use super::order::form_pairs;
use crate::journal::{Attention, JournalError, Resolution};

fn who(body: &Value) -> Result<Option<String>, ApiError> {
    match &body["attendant"] {
        Value::Null => Ok(None),
        Value::String(s) if !s.is_empty() && s.chars().count() <= 64 => Ok(Some(s.clone())),
        Value::Number(n) => Ok(Some(n.to_string())),
        _ => Err(ApiError::BadRequest("attendant must be an id".to_owned())),
    }
}

/// `POST /api/positions/{n}/cancel`.
pub async fn cancel(
    context: &AdminContext,
    position: PositionId,
    body: &Bytes,
) -> Result<HttpResponse, ApiError> {
    let by = who(&body_json(body)?)?;
    if let Some(a) = &by {
        if !context.attendants.contains(a) {
            return Err(ApiError::BadRequest(format!("unknown attendant {a:?}")));
        }
    }
    let dispatch = context
        .forecourt
        .cancel(position, by)
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
pub async fn list(context: &AdminContext, query: Option<&str>) -> Result<HttpResponse, ApiError> {
    let all = form_pairs(query.unwrap_or_default())
        .iter()
        .any(|(k, v)| k == "all" && (v == "1" || v == "true"));
    let items = context
        .journal
        .attention_items(!all, 200)
        .await
        .map_err(journal_error)?;
    Ok(json_response(
        StatusCode::OK,
        &Value::Array(items.iter().map(attention_json).collect()),
    ))
}

/// `POST /api/attention/{id}/book` and `…/dismiss`.
pub async fn resolve(
    context: &AdminContext,
    id: i64,
    book: bool,
    body: &Bytes,
) -> Result<HttpResponse, ApiError> {
    let by = who(&body_json(body)?)?;
    let resolution = if book {
        Resolution::Book
    } else {
        Resolution::Dismiss
    };
    let sale = context
        .journal
        .resolve_attention(id, resolution, by)
        .await
        .map_err(|e| match e {
            JournalError::AttentionNotFound(_) => ApiError::NotFound,
            JournalError::AttentionResolved(_) => ApiError::Conflict(e.to_string()),
            other => journal_error(other),
        })?;
    if let Some(sale) = &sale {
        // The actor offers it to the next scan of the position.
        context
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
