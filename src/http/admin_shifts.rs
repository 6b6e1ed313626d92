//! Admin routes for shifts: open, close, list, and the shift report.
//!
//! - `POST /api/shifts/open` `{"code"?: "2"}`: reads every pump's totalizers, then opens
//!   the shift (409 while another is open or a pump is dispensing). The code is the
//!   order's `loyalty.shift`: one letter or digit; by default the count of shifts opened
//!   since local midnight, plus one (1 to 9).
//! - `POST /api/shifts/close`: reads the totalizers again and closes the open shift;
//!   answers the report.
//! - `GET /api/shifts` (latest first), `GET /api/shifts/current` (`{"shift": null}` when
//!   none is open; `open_close`: the least role that opens and closes, for the console).
//! - `GET /api/shifts/{id}/report` (JSON) and `GET /api/shifts/{id}/report.csv`; `latest`
//!   for `{id}` names the most recent shift.
//!
//! Who opens and closes is `[shifts] open_close`; a manager always may.

use hyper::header::{HeaderValue, CONTENT_DISPOSITION, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use pump_protocols::PumpStatus;
use serde::Deserialize;
use serde_json::{json, Value};

use super::admin::{optional_body, refusal};
use super::error::{json_response, ApiError, HttpResponse};
use super::routes::Call;
use crate::journal::ShiftReporter;
use crate::journal::{JournalError, NewShift, NozzleTotals, Shift};
use crate::shift_report::{shift_json, ShiftReport};

fn journal_error(e: JournalError) -> ApiError {
    match e {
        JournalError::ShiftOpen(_) | JournalError::NoShiftOpen => ApiError::Conflict(e.to_string()),
        JournalError::ShiftNotFound(_) => ApiError::NotFound,
        other => ApiError::Unavailable(format!("journal: {other}")),
    }
}

/// Refuses a caller below `[shifts] open_close`.
fn may_open_close(call: &Call) -> Result<String, ApiError> {
    let caller = call.caller()?;
    let needed = call.context.station.shift_role;
    if !caller.role.allows(needed) {
        return Err(ApiError::Forbidden(format!(
            "only a {} may open or close a shift here",
            needed.as_str()
        )));
    }
    Ok(caller.to_string())
}

/// Reads every nozzle's totals, refusing while a pump is dispensing (its totalizer moves).
async fn read_totals(call: &Call) -> Result<Vec<NozzleTotals>, ApiError> {
    let snapshot = call.context.forecourt.snapshot();
    if let Some(busy) = snapshot.positions.values().find(|p| {
        matches!(
            p.pump_status,
            PumpStatus::Authorized | PumpStatus::Filling | PumpStatus::Suspended
        )
    }) {
        return Err(ApiError::Conflict(format!(
            "position {} is busy ({}); open or close the shift when it is idle",
            busy.setup.position,
            busy.pump_status.as_str()
        )));
    }
    call.context
        .forecourt
        .read_all_totals()
        .await
        .map_err(refusal)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OpenBody {
    code: Option<String>,
}

/// `POST /api/shifts/open`.
pub async fn open(call: Call) -> Result<HttpResponse, ApiError> {
    let by = may_open_close(&call)?;
    let body: OpenBody = optional_body(&call)?;
    let journal = &call.context.journal;
    if let Some(open) = journal.current_shift().await.map_err(journal_error)? {
        return Err(ApiError::Conflict(format!(
            "shift {} is still open; close it first",
            open.id
        )));
    }
    let now = call.context.clock.now();
    let code = match body.code {
        Some(code) if code.len() == 1 && code.bytes().all(|b| b.is_ascii_alphanumeric()) => code,
        Some(code) => {
            return Err(ApiError::BadRequest(format!(
                "code must be one letter or digit, got {code:?}"
            )))
        }
        None => {
            let midnight = now
                .to_zoned(call.context.station.time_zone.clone())
                .start_of_day()
                .map(|z| z.timestamp())
                .unwrap_or(now);
            let today = journal
                .shifts_opened_since(midnight)
                .await
                .map_err(journal_error)?;
            (today + 1).min(9).to_string()
        }
    };
    let totals = read_totals(&call).await?;
    let shift = journal
        .open_shift(NewShift {
            code,
            at: now,
            by,
            totals,
        })
        .await
        .map_err(journal_error)?;
    tracing::info!(shift = shift.id, code = %shift.code, by = %shift.opened_by, "shift opened");
    Ok(json_response(StatusCode::OK, &shift_json(&shift)))
}

/// `POST /api/shifts/close`: answers the report.
pub async fn close(call: Call) -> Result<HttpResponse, ApiError> {
    let by = may_open_close(&call)?;
    let journal = &call.context.journal;
    if journal
        .current_shift()
        .await
        .map_err(journal_error)?
        .is_none()
    {
        return Err(ApiError::Conflict("no shift is open".to_owned()));
    }
    let totals = read_totals(&call).await?;
    let station = call.context.station.clone();
    let reporter: ShiftReporter = Box::new(move |shift, sales| {
        ShiftReport::new(shift, sales, |g| station.grade_name(g)).to_json()
    });
    let shift = journal
        .close_shift(call.context.clock.now(), by, totals, reporter)
        .await
        .map_err(journal_error)?;
    let report = report_of(&call, shift).await?;
    tracing::info!(
        shift = report.shift.id,
        flagged = report.flagged(),
        "shift closed"
    );
    Ok(json_response(StatusCode::OK, &report.to_json()))
}

/// `GET /api/shifts`.
pub async fn list(call: Call) -> Result<HttpResponse, ApiError> {
    let shifts = call
        .context
        .journal
        .recent_shifts(50)
        .await
        .map_err(journal_error)?;
    Ok(json_response(
        StatusCode::OK,
        &Value::Array(shifts.iter().map(shift_json).collect()),
    ))
}

/// `GET /api/shifts/current`.
pub async fn current(call: Call) -> Result<HttpResponse, ApiError> {
    let shift = call
        .context
        .journal
        .current_shift()
        .await
        .map_err(journal_error)?;
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "shift": shift.as_ref().map(shift_json),
            "open_close": call.context.station.shift_role.as_str(),
        }),
    ))
}

async fn report_of(call: &Call, shift: Shift) -> Result<ShiftReport, ApiError> {
    let sales = call
        .context
        .journal
        .shift_sales(shift.id)
        .await
        .map_err(journal_error)?;
    let station = &call.context.station;
    Ok(ShiftReport::new(shift, &sales, |g| station.grade_name(g)))
}

async fn report_by_id(call: &Call) -> Result<ShiftReport, ApiError> {
    let journal = &call.context.journal;
    let shift = if call.param(0) == "latest" {
        journal.recent_shifts(1).await.map_err(journal_error)?.pop()
    } else {
        let id = call
            .param(0)
            .parse::<i64>()
            .map_err(|_| ApiError::NotFound)?;
        journal.shift(id).await.map_err(journal_error)?
    };
    let shift = shift.ok_or(ApiError::NotFound)?;
    report_of(call, shift).await
}

/// `GET /api/shifts/{id}/report`.
pub async fn report(call: Call) -> Result<HttpResponse, ApiError> {
    let report = report_by_id(&call).await?;
    Ok(json_response(StatusCode::OK, &report.to_json()))
}

/// `GET /api/shifts/{id}/report.csv`.
pub async fn report_csv(call: Call) -> Result<HttpResponse, ApiError> {
    let report = report_by_id(&call).await?;
    let mut response = Response::new(super::error::full(report.to_csv()));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    let disposition = format!("attachment; filename=\"shift-{}.csv\"", report.shift.id);
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        response.headers_mut().insert(CONTENT_DISPOSITION, value);
    }
    Ok(response)
}
