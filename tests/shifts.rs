//! Shifts: totalizers read at open and close, the report by attendant, grade and payment
//! method, the reconciliation of each nozzle, and who may open and close.

use forecourtd::admin_client;
use forecourtd::lab::sandbox::CardHolder;
use forecourtd::secret::Secret;
use hyper::{Method, StatusCode};
use pump_protocols::{NozzleId, PositionId, SimAction};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::support::bypass::SharedSimulator;
use crate::support::payments::{PaySetup, PayStation};
use crate::support::{
    address, full_dispatch, get, has_payable, post, ready_to_authorize, token_for, Rig, Station,
    FAST_FLOW,
};

fn dec(value: &Value) -> Decimal {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("a decimal, got {value}"))
}

/// The tally of `key` in a report section.
fn tally<'a>(report: &'a Value, section: &str, key: &str) -> &'a Value {
    report[section]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["key"] == key))
        .unwrap_or_else(|| panic!("no {section} row {key} in {report:#}"))
}

fn nozzle(report: &Value, position: u16, nozzle: u8) -> &Value {
    report["nozzles"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r["position"] == position && r["nozzle"] == nozzle)
        })
        .unwrap_or_else(|| panic!("no nozzle {position}/{nozzle} in {report:#}"))
}

/// Authorizes position `n` for `attendant`, fills `amount` through `nozzle` and hangs up;
/// returns the payable sale's id.
async fn sale(
    rig: &Rig,
    station: &Station,
    n: u16,
    nozzle: u8,
    attendant: &str,
    amount: &str,
) -> i64 {
    station
        .wait_for("pump ready", |s| ready_to_authorize(s, n))
        .await;
    let (status, body) = station
        .authorize(n, json!({ "amount": amount, "attendant": attendant }))
        .await;
    assert_eq!(status, StatusCode::OK, "authorize: {body}");
    rig.act(n, SimAction::LiftNozzle(NozzleId(nozzle))).await;
    station
        .wait_for("a payable sale", |s| has_payable(s, n))
        .await;
    rig.act(n, SimAction::HangNozzle).await;
    let snapshot = station.forecourt().snapshot();
    snapshot.positions[&PositionId(n)].payable[0].id
}

#[tokio::test]
async fn a_shift_reports_sales_by_attendant_grade_and_method_and_its_totals_reconcile() {
    let s = PayStation::start(PaySetup::default()).await;
    let admin = &s.station.admin;
    s.station
        .wait_for("pumps ready", |snap| {
            ready_to_authorize(snap, 1) && ready_to_authorize(snap, 2)
        })
        .await;
    let (status, shift) = post(admin, "/api/shifts/open", json!({ "code": "3" })).await;
    assert_eq!(status, StatusCode::OK, "{shift}");
    assert_eq!(shift["code"], "3");
    assert_eq!(
        shift["open_totals"].as_array().map(Vec::len),
        Some(4),
        "{shift}"
    );
    let (status, again) = post(admin, "/api/shifts/open", json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "one shift at a time: {again}");

    // Attendant 7 sells super on pump 1, paid with the QR; the order names the shift.
    let order = full_dispatch(&s.rig, &s.station, 1, "500").await;
    assert_eq!(order["loyalty"]["shift"], "3", "{order}");
    s.pay(1, CardHolder::Apro).await;
    s.station
        .wait_for("pump 1 paid", |snap| !has_payable(snap, 1))
        .await;
    // Attendant 8 sells infinia on pump 2, paid cash at the counter.
    let cash = sale(&s.rig, &s.station, 2, 2, "8", "300").await;
    let (status, body) = post(
        admin,
        &format!("/api/sales/{cash}/settle"),
        json!({ "note": "cash" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, report) = post(admin, "/api/shifts/close", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(
        dec(&tally(&report, "by_attendant", "7")["amount"]),
        Decimal::from(500)
    );
    assert_eq!(
        dec(&tally(&report, "by_attendant", "8")["amount"]),
        Decimal::from(300)
    );
    assert_eq!(
        dec(&tally(&report, "by_grade", "Super")["amount"]),
        Decimal::from(500)
    );
    assert_eq!(
        dec(&tally(&report, "by_grade", "Infinia")["amount"]),
        Decimal::from(300)
    );
    assert_eq!(tally(&report, "by_method", "mercadopago_qr")["sales"], 1);
    assert_eq!(tally(&report, "by_method", "cash")["sales"], 1);
    assert_eq!(dec(&report["total"]["amount"]), Decimal::from(800));
    for (position, n) in [(1, 1), (2, 2)] {
        let line = nozzle(&report, position, n);
        assert_eq!(line["sales"], 1, "{line}");
        assert_eq!(
            dec(&line["totalizer_volume"]),
            dec(&line["sales_volume"]),
            "{line}"
        );
        assert!(dec(&line["sales_volume"]) > Decimal::ZERO, "{line}");
        assert_eq!(line["flag"], Value::Null, "{line}");
    }
    assert_eq!(report["flagged"], false);
    // The totals moved by what the simulator dispensed.
    let truth = s.rig.sim.view().await.expect("simulator view");
    let pump1 = truth
        .iter()
        .find(|p| p.address == address(1))
        .expect("pump 1");
    let close_total = pump1.totals[0].volume.expect("volume total").value();
    assert_eq!(dec(&nozzle(&report, 1, 1)["close_volume"]), close_total);
    // Headquarters gets the same report with the readings, in the close's own event.
    let events = s
        .station
        .daemon
        .journal()
        .outbox_unsent(10_000)
        .await
        .expect("outbox");
    let closed = events
        .iter()
        .find(|e| e.kind == "shift_closed")
        .expect("a shift_closed event");
    assert_eq!(closed.payload["report"], report, "{}", closed.payload);

    // The same report, as CSV: one header, every row as wide as it.
    let id = report["shift"]["id"].as_i64().expect("shift id");
    let token = token_for(admin);
    let (status, csv) = admin_client::call_raw_as(
        admin,
        token.as_ref(),
        Method::GET,
        &format!("/api/shifts/{id}/report.csv"),
        None,
    )
    .await
    .expect("CSV report");
    assert_eq!(status, StatusCode::OK);
    let text = String::from_utf8(csv.to_vec()).expect("UTF-8");
    let rows: Vec<Vec<&str>> = text.lines().map(|l| l.split(',').collect()).collect();
    let width = rows[0].len();
    assert_eq!(rows[0][0], "section");
    assert!(rows.iter().all(|r| r.len() == width), "{text}");
    let cash_row = rows
        .iter()
        .find(|r| r[0] == "method" && r[1] == "cash")
        .expect("cash row");
    assert_eq!(
        cash_row[6].parse::<Decimal>().ok(),
        Some(Decimal::from(300))
    );
    let (status, shown) = get(admin, "/api/shifts/current").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["shift"], Value::Null, "closed: {shown}");
    s.station.stop().await;
}

#[tokio::test]
async fn fuel_dispensed_outside_the_controller_is_flagged_at_close() {
    let shared = SharedSimulator::demo(1);
    let rig = Rig::with_simulator(1, Box::new(shared.clone()), FAST_FLOW);
    let station = rig.start(|t| t).await;
    station
        .wait_for("pump ready", |s| ready_to_authorize(s, 1))
        .await;
    let (status, shift) = post(&station.admin, "/api/shifts/open", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{shift}");
    assert_eq!(shift["code"], "1", "the day's first shift");
    sale(&rig, &station, 1, 1, "7", "200").await;
    station.stop().await;

    // While the daemon is down, the pump is run by hand.
    shared.authorize_behind_the_daemon(address(1));
    rig.act(1, SimAction::LiftNozzle(NozzleId(1))).await;
    shared.wait_for_volume(address(1), Decimal::from(2)).await;
    rig.act(1, SimAction::HangNozzle).await;
    let by_hand = shared.filling_volume(address(1));
    // The pump is switched off and on again: what it would have told a controller about
    // that fill is gone; only its totalizers remember.
    rig.act(1, SimAction::PowerReset).await;

    let station = rig.start(|t| t).await;
    station
        .wait_for("pump back", |s| ready_to_authorize(s, 1))
        .await;
    let (status, report) = post(&station.admin, "/api/shifts/close", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    let line = nozzle(&report, 1, 1);
    assert_eq!(line["sales"], 1, "the hand fill is no sale: {line}");
    assert_eq!(line["flag"], "unrecorded_dispense", "{line}");
    assert_eq!(dec(&line["difference"]), by_hand, "{line}");
    assert_eq!(report["flagged"], true);
    station.stop().await;
}

#[tokio::test]
async fn an_attendant_cannot_open_a_shift_when_the_configuration_says_manager() {
    let rig = Rig::new(1);
    let station = rig
        .start(|t| format!("{t}\n[shifts]\nopen_close = \"manager\"\n"))
        .await;
    let (status, created) = post(
        &station.admin,
        "/api/tokens",
        json!({ "name": "pos-1", "role": "attendant" }),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let attendant = Secret::new(created["token"].as_str().expect("token text"));
    let (status, body) = admin_client::call_as(
        &station.admin,
        Some(&attendant),
        Method::POST,
        "/api/shifts/open",
        Some(&json!({})),
    )
    .await
    .expect("call");
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    let (_, current) = get(&station.admin, "/api/shifts/current").await;
    assert_eq!(current["shift"], Value::Null, "nothing opened");
    station
        .wait_for("pump ready", |s| ready_to_authorize(s, 1))
        .await;
    let (status, shift) = post(&station.admin, "/api/shifts/open", json!({})).await;
    assert_eq!(status, StatusCode::OK, "a manager may: {shift}");
    station.stop().await;
}
