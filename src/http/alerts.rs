//! What needs a person's eye now: the console's alert list, decided from the live
//! snapshot, Mercado Pago's health and the open attention items.
//!
//! Pure: the caller gathers the inputs (and the clocks), so the rules are tested without
//! a pump, a journal or a network. Alerts are served by `GET /api/alerts` and pushed on
//! the event stream; each has a stable `kind` the console translates, and an `id` that
//! stays the same while the condition lasts, so a page can tell new alerts from old.
//!
//! Kinds: `line_down` (every pump of a line silent), `pump_offline` (one pump silent or
//! offline on a line that answers), `unpaid_sale` (a completed sale waiting for payment
//! longer than `[console] unpaid_alert_after_secs`), `mercadopago_unreachable` and
//! `mercadopago_token_refused` (docs/mercadopago.md, health), `attention_open` (a
//! completion the daemon could not vouch for), `chain_backlog` (the uplink to
//! headquarters is configured and its oldest unsent event is older than `[chain]
//! backlog_alert_after_secs`; [`chain_backlog`]).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use pump_protocols::PumpStatus;
use serde_json::{json, Value};

use super::order::json_decimal;
use crate::forecourt::dispatch::PositionState;
use crate::forecourt::Snapshot;
use crate::journal::Attention;
use crate::mercadopago::health::{FailureKind, HealthSnapshot};

/// Everything the alert rules look at.
pub struct AlertInputs<'a> {
    /// The forecourt.
    pub snapshot: &'a Snapshot,
    /// Monotonic now (pump silence).
    pub now: Instant,
    /// Wall-clock now (how long a sale has waited).
    pub wall: Timestamp,
    /// A sale unpaid longer than this is an alert.
    pub unpaid_after: Duration,
    /// Mercado Pago's health, when payments are configured.
    pub mercadopago: Option<&'a HealthSnapshot>,
    /// Open attention items.
    pub attention: &'a [Attention],
}

fn silent(state: &PositionState, now: Instant) -> bool {
    match state.last_heard {
        Some(at) => now.saturating_duration_since(at) > state.setup.stale_limit,
        None => true,
    }
}

/// The alerts in force, most serious first (lines, pumps, payments, sales, attention).
pub fn alerts(inputs: &AlertInputs<'_>) -> Vec<Value> {
    let mut out = Vec::new();
    // `positions_now`, not `positions`: a published snapshot keeps the instant its pumps
    // were last heard only as of its publication, and an idle station publishes rarely.
    let current: Vec<PositionState> = inputs.snapshot.positions_now().collect();
    let mut lines: BTreeMap<&str, Vec<&PositionState>> = BTreeMap::new();
    for state in &current {
        lines
            .entry(state.setup.line.as_str())
            .or_default()
            .push(state);
    }
    for (line, positions) in &lines {
        if positions.iter().all(|p| silent(p, inputs.now)) {
            out.push(json!({
                "id": format!("line_down:{line}"),
                "kind": "line_down",
                "line": line,
                "positions": positions.iter().map(|p| p.setup.position.0).collect::<Vec<_>>(),
            }));
            continue;
        }
        for p in positions {
            if silent(p, inputs.now) || p.pump_status == PumpStatus::Offline {
                out.push(json!({
                    "id": format!("pump_offline:{}", p.setup.position.0),
                    "kind": "pump_offline",
                    "line": line,
                    "position": p.setup.position.0,
                }));
            }
        }
    }
    if let Some(health) = inputs.mercadopago {
        if let (Some(since), Some(failure)) = (health.failing_since, &health.last_failure) {
            let kind = match failure.kind {
                FailureKind::Credentials => "mercadopago_token_refused",
                FailureKind::Unavailable => "mercadopago_unreachable",
            };
            out.push(json!({
                "id": kind,
                "kind": kind,
                "since": since.to_string(),
                "status": failure.status,
                "message": failure.message,
            }));
        }
    }
    for state in inputs.snapshot.positions.values() {
        for sale in &state.payable {
            let waited = inputs.wall.duration_since(sale.completed_at);
            let waited = u64::try_from(waited.as_secs()).unwrap_or(0);
            if waited >= inputs.unpaid_after.as_secs() {
                out.push(json!({
                    "id": format!("unpaid_sale:{}", sale.id),
                    "kind": "unpaid_sale",
                    "position": sale.position.0,
                    "sale_id": sale.id,
                    "external_reference": sale.external_reference,
                    "amount": json_decimal(sale.amount.value()),
                    "waiting_secs": waited,
                }));
            }
        }
    }
    for item in inputs.attention {
        out.push(json!({
            "id": format!("attention_open:{}", item.id),
            "kind": "attention_open",
            "position": item.position.0,
            "attention_id": item.id,
            "reason": item.detail.get("reason"),
        }));
    }
    out
}

/// The `chain_backlog` alert: `events` unsent, the oldest made `waiting` ago, alarming
/// past `after`. `None` while the backlog is younger (a flaky uplink catches up by
/// itself) or empty.
pub fn chain_backlog(
    events: u64,
    waiting: Option<Duration>,
    after: Duration,
    last_error: Option<&str>,
) -> Option<Value> {
    let waiting = waiting.filter(|w| events > 0 && *w > after)?;
    Some(json!({
        "id": "chain_backlog",
        "kind": "chain_backlog",
        "backlog": events,
        "waiting_secs": waiting.as_secs(),
        "message": last_error,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mercadopago::health::Failure;
    use crate::sale::{Sale, SaleStatus};
    use pump_protocols::{Money, NozzleId, PositionId, UnitPrice, Volume};
    use rust_decimal::Decimal;

    fn position(n: u16, line: &str) -> PositionState {
        let mut setup = crate::forecourt::dispatch::tests::setup();
        setup.position = PositionId(n);
        setup.line = line.to_owned();
        PositionState::new(setup)
    }

    fn sale(id: i64, n: u16, completed_at: Timestamp) -> Sale {
        Sale {
            id,
            external_reference: format!("REF{id}"),
            transaction_id: format!("T{id}"),
            invoice_number: 1,
            position: PositionId(n),
            nozzle: NozzleId(1),
            grade: None,
            volume: Volume::new(Decimal::from(10)),
            amount: Money::new(Decimal::from(8000)),
            unit_price: UnitPrice::new(Decimal::from(800)),
            attendant: None,
            completed_at,
            status: SaleStatus::Ready,
            preference_id: None,
            shift: None,
            price_set: None,
        }
    }

    fn kinds(alerts: &[Value]) -> Vec<String> {
        alerts
            .iter()
            .map(|a| a["id"].as_str().unwrap_or("").to_owned())
            .collect()
    }

    #[test]
    fn a_silent_line_is_one_alert_and_a_silent_pump_on_a_live_line_is_another() {
        let now = Instant::now();
        let mut snapshot = Snapshot::default();
        let mut heard = position(1, "a");
        heard.last_heard = Some(now);
        heard.pump_status = PumpStatus::Idle;
        snapshot.positions.insert(PositionId(1), heard);
        snapshot.positions.insert(PositionId(2), position(2, "a"));
        snapshot.positions.insert(PositionId(3), position(3, "b"));
        snapshot.positions.insert(PositionId(4), position(4, "b"));
        let inputs = AlertInputs {
            snapshot: &snapshot,
            now,
            wall: Timestamp::now(),
            unpaid_after: Duration::from_secs(300),
            mercadopago: None,
            attention: &[],
        };
        assert_eq!(kinds(&alerts(&inputs)), ["pump_offline:2", "line_down:b"]);
    }

    #[test]
    fn a_sale_is_an_alert_only_once_it_waited_the_configured_time() {
        let now = Instant::now();
        let wall = Timestamp::now();
        let mut p = position(1, "a");
        p.last_heard = Some(now);
        p.pump_status = PumpStatus::Idle;
        let fresh = wall - jiff::SignedDuration::from_secs(299);
        let old = wall - jiff::SignedDuration::from_secs(301);
        p.payable = vec![sale(7, 1, old), sale(8, 1, fresh)];
        let mut snapshot = Snapshot::default();
        snapshot.positions.insert(PositionId(1), p);
        let inputs = AlertInputs {
            snapshot: &snapshot,
            now,
            wall,
            unpaid_after: Duration::from_secs(300),
            mercadopago: None,
            attention: &[],
        };
        let found = alerts(&inputs);
        assert_eq!(kinds(&found), ["unpaid_sale:7"]);
        assert_eq!(found[0]["amount"], json!(8000));
    }

    #[test]
    fn mercadopago_failures_name_their_kind_and_clear_when_healthy() {
        let snapshot = Snapshot::default();
        let at = Timestamp::now();
        let mut health = HealthSnapshot {
            failing_since: Some(at),
            last_failure: Some(Failure {
                kind: FailureKind::Credentials,
                status: Some(401),
                at,
                message: "GET /v1/payments/search".to_owned(),
            }),
            ..HealthSnapshot::default()
        };
        let check = |health: &HealthSnapshot| {
            kinds(&alerts(&AlertInputs {
                snapshot: &snapshot,
                now: Instant::now(),
                wall: at,
                unpaid_after: Duration::from_secs(300),
                mercadopago: Some(health),
                attention: &[],
            }))
        };
        assert_eq!(check(&health), ["mercadopago_token_refused"]);
        health.failing_since = None;
        assert!(check(&health).is_empty());
    }

    #[test]
    fn a_chain_backlog_is_an_alert_only_past_its_threshold() {
        let after = Duration::from_secs(900);
        let waited = |s| Some(Duration::from_secs(s));
        assert_eq!(chain_backlog(5, waited(900), after, None), None);
        assert_eq!(chain_backlog(0, waited(5000), after, None), None);
        assert_eq!(chain_backlog(5, None, after, None), None);
        let alert =
            chain_backlog(5, waited(901), after, Some("authorization violation")).expect("alert");
        assert_eq!(alert["kind"], json!("chain_backlog"));
        assert_eq!(alert["backlog"], json!(5));
        assert_eq!(alert["waiting_secs"], json!(901));
        assert_eq!(alert["message"], json!("authorization violation"));
    }
}
