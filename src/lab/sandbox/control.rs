//! The sandbox's control surface under `/_sandbox/…`, for a demo or a test in another
//! process. Not Mercado Pago behaviour, and needs no token (the sandbox binds loopback only).
//!
//! | route | does |
//! |---|---|
//! | `GET /_sandbox` | base URL, collector id |
//! | `POST /_sandbox/scan` `{"url"\|"pos_external_id", "card_holder", "poll_interval_ms"?, "max_polls"?, "answer_timeout_ms"?}` | a scan; 200 with the [`ScanOutcome`](super::ScanOutcome) |
//! | `GET /_sandbox/knobs`, `POST /_sandbox/knobs {…}` | read or change [`Knobs`](super::Knobs) (given fields only) |
//! | `POST /_sandbox/release_held` | send held notifications |
//! | `GET /_sandbox/{payments,merchant_orders,pos,preferences,deliveries}` | read state |

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Response};
use serde::Deserialize;
use serde_json::{json, Value};

use super::api::{failure, json, ApiRequest};
use super::cards::CardHolder;
use super::scan::{ScanError, ScanTarget};
use super::state::ApiFailure;
use super::{notify, scan, Knobs, Shared};

/// Body of `POST /_sandbox/scan`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ScanCommand {
    url: Option<String>,
    pos_external_id: Option<String>,
    #[serde(default = "approved")]
    card_holder: CardHolder,
    poll_interval_ms: Option<u64>,
    max_polls: Option<u32>,
    answer_timeout_ms: Option<u64>,
}

fn approved() -> CardHolder {
    CardHolder::Apro
}

pub(super) async fn handle(shared: &Arc<Shared>, req: ApiRequest) -> Response<Full<Bytes>> {
    let result = match (&req.method, req.path.trim_end_matches('/')) {
        (&Method::GET, "/_sandbox") => Ok(json(
            200,
            &json!({"base_url": shared.base_url, "collector_id": shared.collector_id}),
        )),
        (&Method::POST, "/_sandbox/scan") => run_scan(shared, &req).await,
        (&Method::GET, "/_sandbox/knobs") => Ok(json(200, &shared.lock().knobs)),
        (&Method::POST, "/_sandbox/knobs") => update_knobs(shared, &req),
        (&Method::POST, "/_sandbox/release_held") => {
            notify::release_held(shared);
            Ok(json(200, &json!({})))
        }
        (&Method::GET, "/_sandbox/payments") => Ok(json(200, &shared.lock().store.payments())),
        (&Method::GET, "/_sandbox/merchant_orders") => {
            Ok(json(200, &shared.lock().store.merchant_orders()))
        }
        (&Method::GET, "/_sandbox/pos") => Ok(json(200, &shared.lock().store.pos.all())),
        (&Method::GET, "/_sandbox/preferences") => {
            Ok(json(200, &shared.lock().store.preferences()))
        }
        (&Method::GET, "/_sandbox/deliveries") => Ok(json(200, &shared.lock().deliveries)),
        _ => Err(ApiFailure::not_found(
            "not_found",
            format!("No control route for {} {}", req.method, req.path),
        )),
    };
    result.unwrap_or_else(|f| failure(&f))
}

async fn run_scan(
    shared: &Arc<Shared>,
    req: &ApiRequest,
) -> Result<Response<Full<Bytes>>, ApiFailure> {
    let cmd: ScanCommand = serde_json::from_value(req.json()?)
        .map_err(|e| ApiFailure::bad_request("bad_request", format!("Invalid scan: {e}")))?;
    let target = match (cmd.url, cmd.pos_external_id) {
        (Some(url), None) => ScanTarget::Url(url),
        (None, Some(id)) => ScanTarget::PosExternalId(id),
        _ => {
            return Err(ApiFailure::bad_request(
                "bad_request",
                "give exactly one of url and pos_external_id",
            ))
        }
    };
    let mut options = shared.settings.scan.clone();
    if let Some(ms) = cmd.poll_interval_ms {
        options.poll_interval = Duration::from_millis(ms);
    }
    if let Some(n) = cmd.max_polls {
        options.max_polls = n;
    }
    if let Some(ms) = cmd.answer_timeout_ms {
        options.answer_timeout = Duration::from_millis(ms);
    }
    match scan::scan(shared, target, cmd.card_holder, &options).await {
        Ok(outcome) => Ok(json(200, &outcome)),
        Err(e @ ScanError::UnknownPos(_)) => Err(ApiFailure::not_found("not_found", e.to_string())),
        Err(e) => Err(ApiFailure::bad_request("bad_request", e.to_string())),
    }
}

/// Merges the given fields into the knobs; unknown fields are refused.
fn update_knobs(shared: &Shared, req: &ApiRequest) -> Result<Response<Full<Bytes>>, ApiFailure> {
    let Value::Object(changes) = req.json()? else {
        return Err(ApiFailure::bad_request(
            "bad_request",
            "knobs must be a JSON object",
        ));
    };
    let mut state = shared.lock();
    let mut current = serde_json::to_value(&state.knobs)
        .map_err(|e| ApiFailure::new(500, "internal_error", e.to_string()))?;
    if let Value::Object(fields) = &mut current {
        fields.extend(changes);
    }
    let knobs: Knobs = serde_json::from_value(current)
        .map_err(|e| ApiFailure::bad_request("bad_request", format!("Invalid knobs: {e}")))?;
    state.knobs = knobs.clone();
    Ok(json(200, &knobs))
}
