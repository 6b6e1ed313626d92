//! The order endpoint: Mercado Pago's call when a customer scans a pump's QR.
//!
//! `GET <path>?apies=<store>&pos=<position>` (aliases `locationId`/`positionId`, seed 000).
//! The answer is decided from the forecourt snapshot only, in docs/order-endpoint.md's order: invalid
//! parameters, a silent pump (`timeout`), a dispatch in process, the latest unpaid sale
//! (200 with the seed-003 `order` object and its `loyalty` block), otherwise
//! `unavailable`. It never waits on a pump, the journal or Mercado Pago, so the phone
//! always gets an answer at once. Answers are rendered by [`OrderRenderer`] when a
//! position changes and kept as bytes in the snapshot; a request only checks its
//! parameters and picks the bytes.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use hyper::{Method, Request, StatusCode};
use jiff::tz::TimeZone;
use pump_protocols::{GradeId, PositionId};
use rust_decimal::Decimal;
use serde_json::{json, Map, Value};

use super::error::{json_bytes_response, ApiError, HttpResponse, OrderErrorKind};
use crate::forecourt::answers::{AnswerRenderer, OrderAnswer};
use crate::forecourt::dispatch::OrderState;
use crate::forecourt::Snapshot;
use crate::sale::Sale;
use crate::secret::Secret;

/// What the order body needs from the configuration.
#[derive(Debug, Clone)]
pub struct OrderSettings {
    /// The station's APIES / store id as configured (digits).
    pub store_id: String,
    /// The store id zero-padded to 5 characters, for `loyalty.store_id`.
    pub store_id_padded: String,
    /// Optional secret the POS URL carries as `token=`.
    pub token: Option<Secret>,
    /// Methods Mercado Pago may use (GET and HEAD by default).
    pub allowed_methods: Vec<Method>,
    /// The seller's Mercado Pago user id.
    pub collector_id: u64,
    /// The integrator's account, if any.
    pub sponsor_id: Option<u64>,
    /// Where Mercado Pago sends payment notifications.
    pub notification_url: String,
    /// ISO 4217 currency of the station.
    pub currency: String,
    /// The station's time zone, for `transaction_date`.
    pub time_zone: TimeZone,
    /// Loyalty program settings; no `loyalty` block without them.
    pub loyalty: Option<LoyaltySettings>,
    /// Name, product code and unit of each grade.
    pub grades: HashMap<GradeId, GradeInfo>,
    /// Document of each attendant, by attendant id, kept in step with the journal.
    pub attendants: Cashiers,
    /// Label of a position in item descriptions ("Surtidor 3").
    pub position_label: String,
}

/// Loyalty fields that come from configuration.
#[derive(Debug, Clone)]
pub struct LoyaltySettings {
    /// Program name (serviclub, payback…).
    pub program: String,
    /// Affinity plan, one character.
    pub affinity_plan: String,
    /// Period, four characters.
    pub period: String,
    /// Shift, one character, for sales journaled while no shift was open.
    pub shift: String,
}

/// Grade facts shown to the customer.
#[derive(Debug, Clone)]
pub struct GradeInfo {
    /// Display name ("Super").
    pub name: String,
    /// Product code of the loyalty program.
    pub code: String,
    /// `litre` or `piece`.
    pub unit: String,
}

pub use super::cashiers::{Cashier, Cashiers};

/// The parsed location of a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    /// The position asked for.
    pub position: PositionId,
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::order(OrderErrorKind::Invalid, message)
}

/// Parses and checks the query: the store must be ours, the position a number, the
/// token (when configured) must match.
pub fn parse_location(query: Option<&str>, settings: &OrderSettings) -> Result<Location, ApiError> {
    let mut store = None;
    let mut position = None;
    let mut token = None;
    for (key, value) in decoded_pairs(query.unwrap_or_default()) {
        let slot = match key.as_ref() {
            "apies" | "locationId" => &mut store,
            "pos" | "positionId" => &mut position,
            "token" => &mut token,
            // Mercado Pago may add parameters of its own; they do not change the answer.
            _ => continue,
        };
        match slot {
            Some(previous) if *previous != value => {
                return Err(invalid(format!("parameter {key} given twice")));
            }
            _ => *slot = Some(value),
        }
    }
    let store = store.ok_or_else(|| invalid("missing parameter apies"))?;
    let position = position.ok_or_else(|| invalid("missing parameter pos"))?;
    if let Some(expected) = &settings.token {
        let given = token.unwrap_or_default();
        if !expected.matches(&given) {
            return Err(invalid("unknown location"));
        }
    }
    if !same_number(&store, &settings.store_id) {
        return Err(invalid(format!("unknown store {}", printable(&store))));
    }
    let position = parse_number(&position)
        .and_then(|n| u16::try_from(n).ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| invalid(format!("malformed position {}", printable(&position))))?;
    Ok(Location {
        position: PositionId(position),
    })
}

/// What the order endpoint answers for a position in `state`: the order body of the
/// sale offered, or the error (docs/order-endpoint.md).
pub fn decide<'a>(
    state: OrderState<'a>,
    settings: &OrderSettings,
) -> Result<(Value, &'a Sale), ApiError> {
    match state {
        OrderState::Timeout => Err(ApiError::order(
            OrderErrorKind::Timeout,
            "the pump does not answer",
        )),
        OrderState::InProcess => Err(ApiError::order(
            OrderErrorKind::InProcess,
            "dispatch in process; pay when it ends",
        )),
        OrderState::Unavailable => Err(ApiError::order(
            OrderErrorKind::Unavailable,
            "nothing in process or pending payment at this position",
        )),
        OrderState::Payable(sale) => Ok((order_body(sale, settings), sale)),
    }
}

/// Renders each position's answer when the forecourt changes (see
/// [`crate::forecourt::answers`]), with the same bytes [`decide`] gives.
pub struct OrderRenderer {
    /// Settings of the order body.
    pub settings: Arc<OrderSettings>,
}

impl AnswerRenderer for OrderRenderer {
    fn generation(&self) -> u64 {
        self.settings.attendants.version()
    }

    fn render(&self, state: OrderState<'_>) -> OrderAnswer {
        match decide(state, &self.settings) {
            Ok((body, sale)) => OrderAnswer {
                status: StatusCode::OK.as_u16(),
                body: Bytes::from(body.to_string()),
                sale: Some(sale.id),
                label: "order",
            },
            Err(error) => OrderAnswer {
                status: error.status().as_u16(),
                body: Bytes::from(error.body().to_string()),
                sale: None,
                label: error.label(),
            },
        }
    }
}

/// The ready answer for a call at `now`: the request is checked (method, parameters,
/// token), the answer itself was rendered when the position last changed.
pub fn handle(
    request: &Request<Bytes>,
    snapshot: &Snapshot,
    settings: &OrderSettings,
    now: std::time::Instant,
) -> Result<Arc<OrderAnswer>, ApiError> {
    answer(
        request.method(),
        request.uri().query(),
        snapshot,
        settings,
        now,
    )
}

/// The ready answer for a call with `method` and `query` at `now` (see [`handle`]).
pub fn answer(
    method: &Method,
    query: Option<&str>,
    snapshot: &Snapshot,
    settings: &OrderSettings,
    now: std::time::Instant,
) -> Result<Arc<OrderAnswer>, ApiError> {
    if !settings.allowed_methods.contains(method) {
        return Err(ApiError::MethodNotAllowed(allowed_header(
            &settings.allowed_methods,
        )));
    }
    let location = parse_location(query, settings)?;
    snapshot
        .answers
        .get(&location.position)
        .map(|answer| answer.at(now).clone())
        .ok_or_else(|| invalid(format!("unknown position {}", location.position)))
}

/// An answer as it goes on the wire.
pub fn response(answer: &OrderAnswer) -> HttpResponse {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_REQUEST);
    json_bytes_response(status, answer.body.clone())
}

fn allowed_header(methods: &[Method]) -> &'static str {
    let has = |m: &Method| methods.contains(m);
    match (has(&Method::GET), has(&Method::HEAD), has(&Method::POST)) {
        (true, true, true) => "GET, HEAD, POST",
        (true, true, false) => "GET, HEAD",
        (true, false, true) => "GET, POST",
        (true, false, false) => "GET",
        (false, _, true) => "POST",
        _ => "GET",
    }
}

/// A decimal as an exact JSON number (never through f64).
pub fn json_decimal(value: Decimal) -> Value {
    value
        .to_string()
        .parse::<serde_json::Number>()
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Money with at least two decimals, as shown to the customer and sent as amounts.
fn money(value: Decimal) -> Decimal {
    let mut v = value.normalize();
    if v.scale() < 2 {
        v.rescale(2);
    }
    v
}

/// The item title shown in the app: "$500.00 de Premium".
pub fn item_title(sale: &Sale, settings: &OrderSettings) -> String {
    let grade = sale.grade.and_then(|g| settings.grades.get(&g));
    let grade_name = grade.map(|g| g.name.as_str()).unwrap_or("Combustible");
    format!("${} de {grade_name}", money(sale.amount.value()))
}

/// The seed-003 `order` object for a sale.
pub fn order_body(sale: &Sale, settings: &OrderSettings) -> Value {
    let grade = sale.grade.and_then(|g| settings.grades.get(&g));
    let grade_name = grade.map(|g| g.name.as_str()).unwrap_or("Combustible");
    let amount = money(sale.amount.value());
    let unit = grade.map(|g| g.unit.as_str()).unwrap_or("litre");
    let unit_short = if unit == "litre" { "l" } else { unit };
    let title = item_title(sale, settings);
    let description = format!(
        "{} {}, {} {} {}",
        settings.position_label,
        sale.position,
        sale.volume.value().normalize(),
        unit_short,
        grade_name
    );
    let mut order = Map::new();
    order.insert("collector_id".into(), json!(settings.collector_id));
    if let Some(sponsor) = settings.sponsor_id {
        order.insert("sponsor_id".into(), json!(sponsor));
    }
    order.insert(
        "items".into(),
        json!([{
            "title": title,
            "currency_id": settings.currency,
            "description": description,
            "quantity": 1,
            "unit_price": json_decimal(amount),
        }]),
    );
    order.insert("external_reference".into(), json!(sale.external_reference));
    order.insert("notification_url".into(), json!(settings.notification_url));
    if let Some(loyalty) = &settings.loyalty {
        order.insert(
            "loyalty".into(),
            loyalty_body(sale, settings, loyalty, grade),
        );
    }
    Value::Object(order)
}

fn loyalty_body(
    sale: &Sale,
    settings: &OrderSettings,
    loyalty: &LoyaltySettings,
    grade: Option<&GradeInfo>,
) -> Value {
    let date = sale
        .completed_at
        .to_zoned(settings.time_zone.clone())
        .strftime("%Y-%m-%dT%H:%M:%S%.3f%:z")
        .to_string();
    let cashier = sale
        .attendant
        .as_deref()
        .and_then(|a| settings.attendants.get(a));
    let (doc_type, doc_number) = match &cashier {
        Some(c) => (c.document_type.as_str(), c.document_number.as_str()),
        // seed 003 / docs/mercadopago.md §4.3: unknown cashier → 00000000.
        None => ("DNI", "00000000"),
    };
    // Loyalty quantities carry at most 3 decimals (docs/mercadopago.md §4.3).
    let quantity = sale.volume.value().round_dp(3).normalize();
    json!({
        "program": loyalty.program,
        "transaction_id": sale.transaction_id,
        "invoice_number": format!("{:08}", sale.invoice_number),
        "transaction_date": date,
        "transaction_amount": json_decimal(money(sale.amount.value())),
        "store_id": settings.store_id_padded,
        "products": [{
            "code": grade.map(|g| g.code.as_str()).unwrap_or("0"),
            "quantity": json_decimal(quantity),
            "unit": grade.map(|g| g.unit.as_str()).unwrap_or("litre"),
            "unit_price": json_decimal(money(sale.unit_price.value())),
        }],
        "cashier_identification": { "type": doc_type, "number": doc_number },
        "period": loyalty.period,
        // The shift open when the sale was journaled; the configured one before any.
        "shift": sale.shift.as_ref().map_or(loyalty.shift.as_str(), |s| s.code.as_str()),
        "affinity_plan": loyalty.affinity_plan,
    })
}

/// Splits an `application/x-www-form-urlencoded` query into decoded pairs.
pub fn form_pairs(query: &str) -> Vec<(String, String)> {
    decoded_pairs(query)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The pairs of a query, borrowed where nothing needs decoding (the order call's usual
/// `apies=29&pos=3` allocates nothing).
fn decoded_pairs(query: &str) -> impl Iterator<Item = (Cow<'_, str>, Cow<'_, str>)> {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k), decode(v))
    })
}

fn decode(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b == b'%' || b == b'+') {
        Cow::Owned(percent_decode(s))
    } else {
        Cow::Borrowed(s)
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok())
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(v) => {
                        out.push(v);
                        i += 2;
                    }
                    None => out.push(b),
                }
            }
            _ => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn parse_number(s: &str) -> Option<u64> {
    if s.is_empty() || s.len() > 9 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Store ids compare as numbers: `29`, `029` and `00029` name the same APIES.
fn same_number(given: &str, configured: &str) -> bool {
    match (parse_number(given), parse_number(configured)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Echoes untrusted input in messages without control characters or unbounded length.
fn printable(s: &str) -> String {
    let cleaned: String = s.chars().filter(|c| !c.is_control()).take(40).collect();
    format!("{cleaned:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> OrderSettings {
        OrderSettings {
            store_id: "29".into(),
            store_id_padded: "00029".into(),
            token: None,
            allowed_methods: vec![Method::GET, Method::HEAD],
            collector_id: 446566691,
            sponsor_id: Some(446559784),
            notification_url: "https://station.example/mp/notifications".into(),
            currency: "ARS".into(),
            time_zone: TimeZone::get("America/Argentina/Buenos_Aires").unwrap_or(TimeZone::UTC),
            loyalty: None,
            grades: HashMap::new(),
            attendants: Cashiers::default(),
            position_label: "Surtidor".into(),
        }
    }

    #[test]
    fn parses_both_parameter_spellings() {
        let s = settings();
        assert_eq!(
            parse_location(Some("apies=29&pos=3"), &s),
            Ok(Location {
                position: PositionId(3)
            })
        );
        assert_eq!(
            parse_location(Some("locationId=00029&positionId=03&x=1"), &s),
            Ok(Location {
                position: PositionId(3)
            })
        );
    }

    #[test]
    fn rejects_bad_locations() {
        let s = settings();
        for query in [
            None,
            Some(""),
            Some("apies=29"),
            Some("pos=3"),
            Some("apies=30&pos=3"),
            Some("apies=29&pos=x"),
            Some("apies=29&pos=0"),
            Some("apies=29&pos=-1"),
            Some("apies=29&pos=3&pos=4"),
            Some("apies=%ff%fe&pos=3"),
            Some("apies=29&pos=99999999999999999999"),
        ] {
            let result = parse_location(query, &s);
            assert!(
                matches!(
                    result,
                    Err(ApiError::Order {
                        kind: OrderErrorKind::Invalid,
                        ..
                    })
                ),
                "{query:?} gave {result:?}"
            );
        }
    }

    #[test]
    fn token_must_match() {
        let mut s = settings();
        s.token = Some(Secret::new("s3cret"));
        assert!(parse_location(Some("apies=29&pos=3"), &s).is_err());
        assert!(parse_location(Some("apies=29&pos=3&token=nope"), &s).is_err());
        assert!(parse_location(Some("apies=29&pos=3&token=s3cret"), &s).is_ok());
    }

    #[test]
    fn decimals_stay_exact_in_json() {
        let v = json!({ "a": json_decimal(Decimal::new(50000, 2)) });
        assert_eq!(v.to_string(), r#"{"a":500.00}"#);
        assert_eq!(money(Decimal::new(3477, 0)).to_string(), "3477.00");
    }
}
