//! The web console's routes: its files, the alert list and the emergency stop.
//!
//! - `GET /` and `GET /console/{file}`: the console itself, plain HTML, CSS and JavaScript
//!   modules compiled into the binary (the station may be offline; nothing is fetched from
//!   elsewhere). Open: the page holds no data; everything it shows comes from the API
//!   after sign-in, through the same checks as any other client.
//! - `GET /api/alerts`: what needs a person now ([`super::alerts`]).
//! - `POST /api/positions/stop-all`: stops every dispatch in progress. Answers
//!   `{"stopped": [n…], "idle": [n…], "failed": [{"position", "error"}]}`; 200 even when
//!   some failed (the page shows which), as each position is its own request to the actor.
//!
//! The live feed is `GET /api/events` ([`super::events`]).

use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde_json::{json, Value};

use super::admin::{refusal, AdminContext};
use super::alerts::{alerts, AlertInputs};
use super::error::{full, json_response, ApiError, HttpResponse};
use super::routes::Call;
use crate::forecourt::dispatch::RequestRefused;
use crate::forecourt::ForecourtError;
use crate::lines::now;

/// One file of the console.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $type:literal) => {
        Asset {
            name: $name,
            content_type: $type,
            bytes: include_bytes!(concat!("console/", $name)),
        }
    };
}

/// Every file the console is made of.
static ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("console.css", "text/css; charset=utf-8"),
    asset!("app.js", "text/javascript; charset=utf-8"),
    asset!("api.js", "text/javascript; charset=utf-8"),
    asset!("i18n.js", "text/javascript; charset=utf-8"),
    asset!("grid.js", "text/javascript; charset=utf-8"),
    asset!("sales.js", "text/javascript; charset=utf-8"),
    asset!("alerts.js", "text/javascript; charset=utf-8"),
    asset!("prices.js", "text/javascript; charset=utf-8"),
    asset!("shifts.js", "text/javascript; charset=utf-8"),
    asset!("panels.css", "text/css; charset=utf-8"),
    asset!("grades.js", "text/javascript; charset=utf-8"),
    asset!("icon.svg", "image/svg+xml"),
];

fn serve(name: &str) -> Result<HttpResponse, ApiError> {
    let asset = ASSETS
        .iter()
        .find(|a| a.name == name)
        .ok_or(ApiError::NotFound)?;
    let mut response = Response::new(full(asset.bytes));
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    Ok(response)
}

/// `GET /`.
pub async fn page(_call: Call) -> Result<HttpResponse, ApiError> {
    serve("index.html")
}

/// `GET /console/{file}`.
pub async fn file(call: Call) -> Result<HttpResponse, ApiError> {
    serve(call.param(0))
}

/// The alerts in force now.
pub async fn current_alerts(context: &AdminContext) -> Value {
    let snapshot = context.forecourt.snapshot();
    let health = context
        .payments
        .as_ref()
        .map(|p| p.client.health().snapshot());
    // An unreadable journal must not hide the pump alerts; it is an alert itself.
    let (attention, journal_error) = match context.journal.attention_items(true, 50).await {
        Ok(items) => (items, None),
        Err(e) => (Vec::new(), Some(e.to_string())),
    };
    let mut list = alerts(&AlertInputs {
        snapshot: &snapshot,
        now: now(),
        wall: jiff::Timestamp::now(),
        unpaid_after: context.console.unpaid_alert_after,
        mercadopago: health.as_ref(),
        attention: &attention,
    });
    // The uplink to headquarters: only when configured; a station without one is not late.
    if let Some(chain) = &context.chain {
        match context.journal.outbox_state().await {
            Ok(backlog) => {
                let waiting = backlog
                    .oldest
                    .map(|t| crate::chain::status::age(jiff::Timestamp::now(), t));
                list.extend(super::alerts::chain_backlog(
                    backlog.events,
                    waiting,
                    chain.backlog_alert_after(),
                    chain.last_error().as_deref(),
                ));
            }
            Err(e) => tracing::warn!(error = %e, "outbox backlog unreadable for the alerts"),
        }
    }
    if let Some(message) = journal_error {
        list.insert(
            0,
            json!({ "id": "journal_unavailable", "kind": "journal_unavailable", "message": message }),
        );
    }
    Value::Array(list)
}

/// `GET /api/alerts`.
pub async fn list_alerts(call: Call) -> Result<HttpResponse, ApiError> {
    Ok(json_response(
        StatusCode::OK,
        &current_alerts(&call.context).await,
    ))
}

/// `POST /api/positions/stop-all`.
pub async fn stop_all(call: Call) -> Result<HttpResponse, ApiError> {
    let forecourt = &call.context.forecourt;
    let positions: Vec<_> = forecourt.snapshot().positions.keys().copied().collect();
    let (mut stopped, mut idle, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for position in positions {
        match forecourt.stop(position).await {
            Ok(()) => stopped.push(position.0),
            Err(ForecourtError::Refused(RequestRefused::NothingToStop(_))) => idle.push(position.0),
            Err(e) => failed.push(json!({
                "position": position.0,
                "error": refusal(e).message(),
            })),
        }
    }
    if !failed.is_empty() {
        tracing::warn!(
            ?stopped,
            failed = failed.len(),
            "emergency stop could not reach every pump"
        );
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({ "stopped": stopped, "idle": idle, "failed": failed }),
    ))
}
