//! The admin API: the attendants' and operators' way to see and change the forecourt.
//!
//! Loopback by default; on the station LAN only with TLS (README "Access"). It only
//! *sends* requests to the forecourt actor and reads snapshots; it never touches state
//! directly, so every change goes through the same rules and the same journal as
//! everything else. Every route is a row of [`ROUTES`] with the role it needs; the
//! pipeline in [`super::routes`] checks host, origin, identity, role and CSRF token, and
//! audits every state change.
//!
//! - `GET  /api/positions`: live state of every position.
//! - `POST /api/positions/{n}/authorize`: `{"amount": "500"}` or `{"volume": "20"}`
//!   (optional), `"attendant": "7"` (optional; an attendant signed in acts as themself),
//!   `"grades": [2]` (optional; see [`super::grade_limit`]).
//! - `POST /api/positions/{n}/stop`: stops a running dispatch; one whose pump is not
//!   dispensing is closed at once.
//! - `POST /api/positions/stop-all`, `GET /api/alerts`, the console's files: see
//!   [`super::admin_console`]; `GET /api/events` (live feed): see [`super::events`].
//! - `GET  /api/status`: `{"mercadopago": {"healthy", "last_success", "failing_since",
//!   "last_failure": {"kind", "status", "at", "message"}, …}}`.
//! - shifts: see [`super::admin_shifts`]; prices: see [`super::admin_prices`].
//! - `GET|POST /api/lines/{name}/capture`: field captures, see [`super::admin_capture`].
//! - cancel and attention: see [`super::admin_dispatch`]; sales: see
//!   [`super::admin_sales`]; sign-in, users, tokens, audit: see [`super::admin_access`].

use std::str::FromStr;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use hyper::{Request, StatusCode};
use pump_protocols::{Money, PositionId, Preset, Volume};
use rust_decimal::Decimal;
use serde::Deserialize;
use serde_json::{json, Value};

use super::admin_access;
use super::admin_capture;
use super::admin_console;
use super::admin_dispatch;
use super::admin_prices;
use super::admin_sales;
use super::admin_shifts;
use super::cashiers::Cashiers;
use super::error::{json_response, ApiError, HttpResponse};
use super::events;
use super::grade_limit;
use super::guard::GuardSettings;
use super::order::json_decimal;
use super::routes::{route, Access, Call, MetricsAccess, Route, Verb};
use crate::access::counters::RefusalCounters;
use crate::access::sessions::Sessions;
use crate::access::throttle::Throttle;
use crate::access::tokens::TokenChecker;
use crate::access::Role;
use crate::capture::Captures;
use crate::chain::publisher::ChainStatus;
use crate::forecourt::dispatch::{OrderState, PositionState, RequestRefused};
use crate::forecourt::{ForecourtError, ForecourtHandle, Snapshot};
use crate::journal::Journal;
use crate::payments::pos_sync::{self, PosPlan};
use crate::payments::processor::PaymentApplier;
use crate::sale::Sale;

/// What the admin API needs.
#[derive(Clone)]
pub struct AdminContext {
    /// The forecourt actor.
    pub forecourt: ForecourtHandle,
    /// The journal (sales, payments, refunds, users, audit).
    pub journal: Journal,
    /// Attendants' loyalty identities, reloaded whenever a manager changes a user.
    pub cashiers: Cashiers,
    /// Payments through Mercado Pago, when an access token is configured.
    pub payments: Option<PaymentApplier>,
    /// The POS each position needs, or why they cannot be built.
    pub pos_plans: Arc<Result<Vec<PosPlan>, String>>,
    /// Identities, sessions and the gate.
    pub access: Arc<AccessState>,
    /// The daemon's metrics (`/metrics`).
    pub metrics: Arc<crate::metrics::Metrics>,
    /// What the console warns about.
    pub console: crate::config::Console,
    /// Fires when the daemon stops: open event streams end so the listener can drain.
    pub shutdown: tokio_util::sync::CancellationToken,
    /// Station facts the shift and price routes need.
    pub station: Arc<StationInfo>,
    /// The wall clock (shift times, price schedules).
    pub clock: Arc<dyn crate::clock::Clock>,
    /// The chain uplink's status, when `[chain]` is configured.
    pub chain: Option<ChainStatus>,
    /// Every line's field capture switch.
    pub captures: Arc<Captures>,
}

/// Station facts from the configuration, for shifts and prices.
#[derive(Debug, Clone)]
pub struct StationInfo {
    /// The least role that opens and closes a shift.
    pub shift_role: Role,
    /// The station's time zone (a day's first shift).
    pub time_zone: jiff::tz::TimeZone,
    /// Every grade: id, TOML key, display name.
    pub grades: Vec<(pump_protocols::GradeId, String, String)>,
}

impl StationInfo {
    /// A grade's display name (its id when unknown).
    pub fn grade_name(&self, id: pump_protocols::GradeId) -> String {
        self.grades
            .iter()
            .find(|(g, _, _)| *g == id)
            .map_or_else(|| id.0.to_string(), |(_, _, name)| name.clone())
    }

    /// A grade's key (its id when unknown).
    pub fn grade_key(&self, id: pump_protocols::GradeId) -> String {
        self.grades
            .iter()
            .find(|(g, _, _)| *g == id)
            .map_or_else(|| id.0.to_string(), |(_, key, _)| key.clone())
    }

    /// The grade named by its key or its numeric id.
    pub fn grade_by_name(&self, text: &str) -> Option<pump_protocols::GradeId> {
        self.grades
            .iter()
            .find(|(g, key, _)| key == text || g.0.to_string() == text)
            .map(|(g, _, _)| *g)
    }
}

/// The admin listener's access state.
pub struct AccessState {
    /// Host names, address and TLS of the listener.
    pub guard: GuardSettings,
    /// Browser sessions.
    pub sessions: Sessions,
    /// Failed sign-ins and tokens.
    pub throttle: Throttle,
    /// Service tokens.
    pub tokens: TokenChecker,
    /// Refusal counters (shared with the public listener).
    pub counters: Arc<RefusalCounters>,
    /// Who may read `/metrics`.
    pub metrics: MetricsAccess,
}

const ATTENDANT: Access = Access::Role(Role::Attendant);
const MANAGER: Access = Access::Role(Role::Manager);

/// Every admin route: method, path, who may call it, its audit name, its handler.
#[rustfmt::skip]
pub static ROUTES: &[Route] = &[
    route(Verb::Get, "/", Access::Open, "console.page", |c| Box::pin(admin_console::page(c))),
    route(Verb::Get, "/console/{file}", Access::Open, "console.file", |c| Box::pin(admin_console::file(c))),
    route(Verb::Get, "/healthz", Access::Open, "health", |c| Box::pin(admin_access::health(c))),
    route(Verb::Get, "/metrics", Access::Metrics, "metrics", |c| Box::pin(admin_access::metrics(c))),
    route(Verb::Post, "/api/login", Access::Open, "session.login", |c| Box::pin(admin_access::login(c))),
    route(Verb::Post, "/api/logout", ATTENDANT, "session.logout", |c| Box::pin(admin_access::logout(c))),
    route(Verb::Get, "/api/me", ATTENDANT, "session.me", |c| Box::pin(admin_access::me(c))),
    route(Verb::Get, "/api/positions", ATTENDANT, "position.list", |c| Box::pin(positions(c))),
    route(Verb::Post, "/api/positions/stop-all", ATTENDANT, "position.stop_all", |c| Box::pin(admin_console::stop_all(c))),
    route(Verb::Get, "/api/events", ATTENDANT, "events.stream", |c| Box::pin(events::stream(c))),
    route(Verb::Get, "/api/alerts", ATTENDANT, "alert.list", |c| Box::pin(admin_console::list_alerts(c))),
    route(Verb::Post, "/api/positions/{n}/authorize", ATTENDANT, "position.authorize", |c| Box::pin(authorize(c))),
    route(Verb::Post, "/api/positions/{n}/stop", ATTENDANT, "position.stop", |c| Box::pin(stop(c))),
    route(Verb::Post, "/api/positions/{n}/cancel", ATTENDANT, "position.cancel", |c| Box::pin(admin_dispatch::cancel(c))),
    route(Verb::Get, "/api/attention", ATTENDANT, "attention.list", |c| Box::pin(admin_dispatch::list(c))),
    route(Verb::Post, "/api/attention/{id}/book", ATTENDANT, "attention.book", |c| Box::pin(admin_dispatch::book(c))),
    route(Verb::Post, "/api/attention/{id}/dismiss", MANAGER, "attention.dismiss", |c| Box::pin(admin_dispatch::dismiss(c))),
    route(Verb::Post, "/api/shifts/open", ATTENDANT, "shift.open", |c| Box::pin(admin_shifts::open(c))),
    route(Verb::Post, "/api/shifts/close", ATTENDANT, "shift.close", |c| Box::pin(admin_shifts::close(c))),
    route(Verb::Get, "/api/shifts", ATTENDANT, "shift.list", |c| Box::pin(admin_shifts::list(c))),
    route(Verb::Get, "/api/shifts/current", ATTENDANT, "shift.current", |c| Box::pin(admin_shifts::current(c))),
    route(Verb::Get, "/api/shifts/{id}/report", MANAGER, "shift.report", |c| Box::pin(admin_shifts::report(c))),
    route(Verb::Get, "/api/shifts/{id}/report.csv", MANAGER, "shift.report_csv", |c| Box::pin(admin_shifts::report_csv(c))),
    route(Verb::Get, "/api/prices", ATTENDANT, "price.show", |c| Box::pin(admin_prices::show(c))),
    route(Verb::Post, "/api/prices", MANAGER, "price.set", |c| Box::pin(admin_prices::set(c))),
    route(Verb::Post, "/api/prices/{id}/cancel", MANAGER, "price.cancel", |c| Box::pin(admin_prices::cancel(c))),
    route(Verb::Get, "/api/status", ATTENDANT, "status", |c| Box::pin(status(c))),
    route(Verb::Get, "/api/sales", ATTENDANT, "sale.list", |c| Box::pin(admin_sales::list(c))),
    route(Verb::Get, "/api/sales/{id}", ATTENDANT, "sale.show", |c| Box::pin(admin_sales::show(c))),
    route(Verb::Post, "/api/sales/{id}/settle", ATTENDANT, "sale.settle", |c| Box::pin(admin_sales::settle(c))),
    route(Verb::Post, "/api/sales/{id}/void", MANAGER, "sale.void", |c| Box::pin(admin_sales::void(c))),
    route(Verb::Post, "/api/sales/{id}/refund", MANAGER, "sale.refund", |c| Box::pin(admin_sales::refund(c))),
    route(Verb::Get, "/api/payments/flagged", MANAGER, "payment.flagged", |c| Box::pin(admin_sales::flagged(c))),
    route(Verb::Get, "/api/pos", MANAGER, "pos.list", |c| Box::pin(pos_list(c))),
    route(Verb::Post, "/api/pos/sync", MANAGER, "pos.sync", |c| Box::pin(pos_sync(c))),
    route(Verb::Get, "/api/users", MANAGER, "user.list", |c| Box::pin(admin_access::users(c))),
    route(Verb::Post, "/api/users", MANAGER, "user.add", |c| Box::pin(admin_access::add_user(c))),
    route(Verb::Post, "/api/users/{name}/disable", MANAGER, "user.disable", |c| Box::pin(admin_access::disable_user(c))),
    route(Verb::Post, "/api/users/{name}/enable", MANAGER, "user.enable", |c| Box::pin(admin_access::enable_user(c))),
    route(Verb::Post, "/api/users/{name}/reset", MANAGER, "user.reset", |c| Box::pin(admin_access::reset_user(c))),
    route(Verb::Get, "/api/tokens", MANAGER, "token.list", |c| Box::pin(admin_access::tokens(c))),
    route(Verb::Post, "/api/tokens", MANAGER, "token.add", |c| Box::pin(admin_access::add_token(c))),
    route(Verb::Post, "/api/tokens/{name}/revoke", MANAGER, "token.revoke", |c| Box::pin(admin_access::revoke_token(c))),
    route(Verb::Get, "/api/audit", MANAGER, "audit.list", |c| Box::pin(admin_access::audit(c))),
    route(Verb::Get, "/api/lines/{name}/capture", MANAGER, "line.capture.show", |c| Box::pin(admin_capture::show(c))),
    route(Verb::Post, "/api/lines/{name}/capture", MANAGER, "line.capture", |c| Box::pin(admin_capture::switch(c))),
];

/// Routes an admin request through the pipeline of [`super::routes`].
pub async fn handle(
    context: &AdminContext,
    request: Request<Bytes>,
    peer: std::net::SocketAddr,
    now: Instant,
) -> HttpResponse {
    super::routes::dispatch(ROUTES, context.clone(), request, peer, now).await
}

fn ok(body: Value) -> Result<HttpResponse, ApiError> {
    Ok(json_response(StatusCode::OK, &body))
}

async fn positions(call: Call) -> Result<HttpResponse, ApiError> {
    ok(positions_json(
        &call.context.forecourt.snapshot(),
        &call.context.station,
        call.now,
    ))
}

fn position(call: &Call) -> Result<PositionId, ApiError> {
    call.param(0)
        .parse::<u16>()
        .map(PositionId)
        .map_err(|_| ApiError::NotFound)
}

async fn stop(call: Call) -> Result<HttpResponse, ApiError> {
    let position = position(&call)?;
    call.context
        .forecourt
        .stop(position)
        .await
        .map_err(refusal)?;
    ok(json!({ "position": position.0, "stopping": true }))
}

async fn status(call: Call) -> Result<HttpResponse, ApiError> {
    let mercadopago = call.context.payments.as_ref().map_or_else(
        || json!({ "configured": false }),
        |p| p.client.health().snapshot().to_json(),
    );
    // The outbox fills whether or not the uplink is configured; its size is shown anyway.
    let backlog = call
        .context
        .journal
        .outbox_state()
        .await
        .map_err(|e| ApiError::Unavailable(format!("journal: {e}")))?;
    let now = jiff::Timestamp::now();
    let chain = match &call.context.chain {
        Some(status) => status.to_json(&backlog, now),
        None => crate::chain::status::unconfigured_json(&backlog, now),
    };
    ok(json!({ "mercadopago": mercadopago, "chain": chain }))
}

/// The position number of a `/api/positions/{n}/…` route.
pub(crate) fn position_param(call: &Call) -> Result<PositionId, ApiError> {
    position(call)
}

async fn pos_list(call: Call) -> Result<HttpResponse, ApiError> {
    let records = call
        .context
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
    ok(Value::Array(body))
}

async fn pos_sync(call: Call) -> Result<HttpResponse, ApiError> {
    let context = &call.context;
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

/// A sale id from a path segment (an unknown shape is 404).
pub(super) fn sale_id(text: &str) -> Result<crate::sale::SaleId, ApiError> {
    text.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(ApiError::NotFound)
}

/// The body of an authorization. Quantities are strings or numbers, read exactly.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuthorizeBody {
    amount: Option<Value>,
    volume: Option<Value>,
    attendant: Option<Value>,
    grades: Option<Value>,
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

async fn authorize(call: Call) -> Result<HttpResponse, ApiError> {
    let position = position(&call)?;
    let caller = call.caller()?;
    let context = &call.context;
    let body: AuthorizeBody = optional_body(&call)?;
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
    let grades = grade_limit::requested_grades(body.grades.as_ref(), &context.station)?;
    let attendant = match &body.attendant {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(_) => return Err(ApiError::BadRequest("attendant must be an id".to_owned())),
    };
    // An attendant signed in as a person always acts as themself.
    let attendant = if caller.is_attendant_person() {
        match attendant {
            Some(a) if a != caller.name => {
                return Err(ApiError::Forbidden(format!(
                    "{caller} cannot authorize as attendant {a:?}"
                )))
            }
            _ => Some(caller.name.clone()),
        }
    } else {
        attendant
    };
    if let Some(a) = &attendant {
        let known = context
            .journal
            .user(a)
            .await
            .map_err(|e| ApiError::Unavailable(format!("journal: {e}")))?
            .is_some_and(|u| u.role == Role::Attendant && !u.disabled);
        if !known {
            return Err(ApiError::BadRequest(format!("unknown attendant {a:?}")));
        }
    }
    let dispatch = context
        .forecourt
        .authorize(position, preset, grades.clone(), attendant)
        .await
        .map_err(refusal)?;
    ok(json!({
        "position": position.0,
        "dispatch_id": dispatch,
        "authorized": true,
        "grades": grades.iter().map(|g| g.0).collect::<Vec<_>>(),
    }))
}

/// A JSON body whose every field is optional: an empty body is the default.
pub(crate) fn optional_body<T: Default + serde::de::DeserializeOwned>(
    call: &Call,
) -> Result<T, ApiError> {
    let body = call.request.body();
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

/// The HTTP answer to a refused forecourt request.
pub fn refusal(error: ForecourtError) -> ApiError {
    match error {
        ForecourtError::UnknownPosition(_) => ApiError::NotFound,
        ForecourtError::Refused(
            ref r @ (RequestRefused::GradeNotHere { .. }
            | RequestRefused::GradeLimitUnsupported { .. }),
        ) => grade_limit::refusal(r).unwrap_or_else(|| ApiError::BadRequest(r.to_string())),
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
        "shift": sale.shift.as_ref().map(|t| json!({ "id": t.id, "code": t.code })),
        "price_set": sale.price_set,
    })
}

fn position_json(state: &PositionState, station: &StationInfo, now: Instant) -> Value {
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
        "grades": grade_limit::position_grades(&state.setup, station),
        "running": state.running.map(|r| json!({
            "volume": r.volume.map(|v| json_decimal(v.value())),
            "amount": json_decimal(r.amount.value()),
        })),
        "last_heard_ms_ago": state
            .last_heard
            .map(|at| u64::try_from(now.saturating_duration_since(at).as_millis()).unwrap_or(u64::MAX)),
        "dispatch": state.dispatch.as_ref().map(|d| json!({
            "id": d.id,
            "attendant": d.attendant,
            "preset": preset,
            "grades": d.grades.iter().map(|g| g.0).collect::<Vec<_>>(),
            "stage": if d.awaiting.is_some() { "reading_totals" } else { d.stage.as_str() },
            "verifying": d.verifying.is_some(),
        })),
        "totals": crate::journal::baseline_json(&state.totals),
        "last_dispatch_end": state.last_ended.as_ref().map(|e| json!({
            "dispatch_id": e.id,
            "reason": e.reason,
            "refused": e.refused,
        })),
        "payable": state.payable.iter().rev().map(sale_json).collect::<Vec<_>>(),
    })
}

/// Every position, in number order.
pub fn positions_json(snapshot: &Snapshot, station: &StationInfo, now: Instant) -> Value {
    Value::Array(
        snapshot
            .positions_now()
            .map(|state| position_json(&state, station, now))
            .collect(),
    )
}
