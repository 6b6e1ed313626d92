//! Admin routes for field captures (docs/captures.md), manager only:
//!
//! - `GET /api/lines/{name}/capture`: the line's capture state (`capturing`, `path`,
//!   `file_bytes`, `records`, `dropped`, `rotations`, `max_bytes`, `keep`).
//! - `POST /api/lines/{name}/capture` `{"action": "start", "max_bytes": N, "keep": N}`
//!   (sizes optional) starts recording into the line's configured capture file, or
//!   `captures/LINE.cap` next to the journal; `{"action": "stop"}` stops it and answers
//!   once the file is flushed. A request never names the file: the API must not become a
//!   way to write anywhere the daemon can.

use hyper::StatusCode;
use serde::Deserialize;

use super::error::{json_response, ApiError, HttpResponse};
use super::routes::Call;
use crate::capture::{CaptureError, CaptureTap};

fn tap(call: &Call) -> Result<std::sync::Arc<CaptureTap>, ApiError> {
    call.context
        .captures
        .tap(call.param(0))
        .ok_or(ApiError::NotFound)
}

/// `GET /api/lines/{name}/capture`.
pub async fn show(call: Call) -> Result<HttpResponse, ApiError> {
    Ok(json_response(StatusCode::OK, &tap(&call)?.status()))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "snake_case")]
enum Action {
    Start,
    Stop,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SwitchBody {
    action: Action,
    max_bytes: Option<u64>,
    keep: Option<u32>,
}

/// `POST /api/lines/{name}/capture`.
pub async fn switch(call: Call) -> Result<HttpResponse, ApiError> {
    let tap = tap(&call)?;
    let body: SwitchBody = serde_json::from_slice(call.request.body())
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))?;
    match body.action {
        Action::Start => {
            if body
                .max_bytes
                .is_some_and(|m| !(4096..=1_000_000_000).contains(&m))
            {
                return Err(ApiError::BadRequest(
                    "max_bytes must be 4096..=1000000000".into(),
                ));
            }
            if body.keep.is_some_and(|k| k > 100) {
                return Err(ApiError::BadRequest("keep must be 0..=100".into()));
            }
            let settings = call
                .context
                .captures
                .settings_for(call.param(0), body.max_bytes, body.keep)
                .ok_or(ApiError::NotFound)?;
            let by = call.caller()?.to_string();
            // Opening (and rotating away) the file is disk work: off the async workers.
            let starting = tap.clone();
            tokio::task::spawn_blocking(move || starting.start(settings, &by))
                .await
                .map_err(|e| ApiError::Unavailable(format!("capture start: {e}")))?
                .map_err(|e| match e {
                    e @ CaptureError::Running(_) => ApiError::Conflict(e.to_string()),
                    e @ CaptureError::Io { .. } => ApiError::Unavailable(e.to_string()),
                })?;
        }
        Action::Stop => {
            if let Some(thread) = tap.stop() {
                // The answer means the file is complete, so wait for the writer's flush.
                let _ = tokio::task::spawn_blocking(move || thread.join()).await;
            }
        }
    }
    Ok(json_response(StatusCode::OK, &tap.status()))
}
