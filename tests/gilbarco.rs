//! A Gilbarco line in the daemon: dispatches with presets by money and by volume, sales
//! served to Mercado Pago's app and paid through the sandbox, a mixed forecourt (a DART
//! line and a Gilbarco line at once, positions numbered across both), totals through the
//! admin API, and a restart in the middle of a Gilbarco dispatch (docs/sale-lifecycle.md).

use std::time::Duration;

use forecourtd::lab::sandbox::CardHolder;
use forecourtd::sale::SaleStatus;
use hyper::StatusCode;
use pump_protocols::{NozzleId, PositionId, PumpStatus, SimAction};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::support::payments::{reference, PaySetup, PayStation};
use crate::support::{
    free_port, get, has_payable, post, ready_to_authorize, ChildDaemon, Rig, PATIENCE,
};

/// One DART pump (position 1) and two Gilbarco pumps (positions 2 and 3, addresses 1, 2).
fn mixed() -> PaySetup {
    PaySetup {
        pumps: 1,
        gilbarco: 2,
        ..PaySetup::default()
    }
}

fn decimal(value: &Value) -> Decimal {
    value
        .to_string()
        .trim_matches('"')
        .parse()
        .unwrap_or_else(|_| panic!("{value} is not a decimal"))
}

async fn positions(s: &PayStation) -> Vec<Value> {
    let (status, body) = get(&s.station.admin, "/api/positions").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body.as_array().expect("positions").clone()
}

async fn wait_ready(s: &PayStation, n: u16) {
    s.station
        .wait_for("pump online and idle", |snap| ready_to_authorize(snap, n))
        .await;
}

/// Authorizes position `n` with `preset` (a JSON body), lifts nozzle 1, waits for the
/// order, hangs up; returns the order.
async fn sell(s: &PayStation, n: u16, preset: Value) -> Value {
    wait_ready(s, n).await;
    let (status, body) = s.station.authorize(n, preset).await;
    assert_eq!(status, StatusCode::OK, "authorize {n}: {body}");
    s.rig.act(n, SimAction::LiftNozzle(NozzleId(1))).await;
    let (_, order) = s.station.wait_for_answer(n, "order").await;
    s.rig.act(n, SimAction::HangNozzle).await;
    order
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mixed_forecourt_numbers_positions_across_its_dart_and_gilbarco_lines() {
    let s = PayStation::start(mixed()).await;
    for n in 1..=3 {
        wait_ready(&s, n).await;
    }
    let positions = positions(&s).await;
    let shape: Vec<(u64, String, u64)> = positions
        .iter()
        .map(|p| {
            (
                p["position"].as_u64().expect("number"),
                p["line"].as_str().expect("line").to_owned(),
                p["address"].as_u64().expect("address"),
            )
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (1, "line1".to_owned(), 0x50),
            (2, "line2".to_owned(), 1),
            (3, "line2".to_owned(), 2)
        ]
    );
    // Every Gilbarco nozzle's totals were read at the session's start, as DART's are.
    for p in &positions[1..] {
        assert_eq!(p["totals"].as_array().map(Vec::len), Some(2), "{p}");
    }
    s.station.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gilbarco_sales_by_money_and_by_volume_are_served_and_paid_beside_a_dart_sale() {
    let s = PayStation::start(mixed()).await;
    // Both lines at once: the DART pump sells while the Gilbarco pumps do.
    let (dart, by_money, by_volume) = tokio::join!(
        sell(&s, 1, json!({ "amount": "8000", "attendant": "7" })),
        sell(&s, 2, json!({ "amount": "5000", "attendant": "7" })),
        sell(&s, 3, json!({ "volume": "3", "attendant": "8" })),
    );
    assert_eq!(
        decimal(&dart["items"][0]["unit_price"]),
        Decimal::from(8000)
    );

    // By money: the pump stops at the preset; the order is for exactly that.
    assert_eq!(
        decimal(&by_money["items"][0]["unit_price"]),
        Decimal::from(5000)
    );
    assert_eq!(
        decimal(&by_money["loyalty"]["products"][0]["unit_price"]),
        Decimal::new(145000, 2)
    );
    let litres = decimal(&by_money["loyalty"]["products"][0]["quantity"]);
    assert_eq!(
        litres,
        Decimal::new(345, 2),
        "5000 / 1450 = 3.448… → 3.45 l"
    );
    assert_eq!(by_money["loyalty"]["store_id"], json!("00029"));

    // By volume: exactly 3 l at the pump's price.
    assert_eq!(
        decimal(&by_volume["loyalty"]["products"][0]["quantity"]),
        Decimal::from(3)
    );
    assert_eq!(
        decimal(&by_volume["items"][0]["unit_price"]),
        Decimal::from(4350)
    );

    // Paid through the sandbox as any other sale; the position is released.
    for (n, order) in [(2, &by_money), (3, &by_volume), (1, &dart)] {
        let payment = s.pay(n, CardHolder::Apro).await;
        assert_eq!(
            payment.external_reference.as_deref(),
            Some(reference(order).as_str())
        );
        let record = s.wait_sale(&reference(order), SaleStatus::Paid).await;
        assert_eq!(record.sale.position, PositionId(n));
    }
    s.station
        .wait_for("every position released", |snap| {
            (1..=3).all(|n| !has_payable(snap, n))
        })
        .await;
    for n in 1..=3 {
        assert_eq!(
            s.station.wait_for_answer(n, "unavailable").await.0,
            StatusCode::BAD_REQUEST
        );
    }
    s.station.stop().await;
}

/// Regression: presets for a Gilbarco line were checked with the default 6-digit mode
/// whatever the line's `digits`, so an 8-digit loop refused any money preset over 999.99.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_presets_on_an_8_digit_loop_are_checked_with_the_lines_digits() {
    let s = PayStation::start(mixed()).await;
    wait_ready(&s, 2).await;
    // Eight money words at two decimals: 999999.99 at most.
    let (status, body) = s
        .station
        .authorize(2, json!({ "amount": "1000000", "attendant": "7" }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert!(body.to_string().contains("8 digits"), "{body}");
    let (status, body) = s
        .station
        .authorize(2, json!({ "amount": "999999.99", "attendant": "7" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.station.stop().await;
}

/// The rules of docs/sale-lifecycle.md on a Gilbarco line: a dispatch that finishes while
/// the daemon is down is booked once, with the pump's figures, after the restart; another
/// restart books nothing more (no phantom sale), and the position sells again (no wedge).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gilbarco_dispatch_that_ends_while_the_daemon_is_down_is_booked_once() {
    let rig = Rig::mixed(1, 1);
    let (public, admin) = (free_port(), free_port());
    let daemon = ChildDaemon::start(&rig, public, admin).await;
    let idle = |p: &Value| {
        p["order_state"] == json!("unavailable")
            && (p["pump_status"] == json!("idle") || p["pump_status"] == json!("completed"))
            && p["dispatch"].is_null()
    };
    daemon.wait_position(2, "idle", idle).await;
    let (status, body) = post(
        &daemon.admin,
        "/api/positions/2/authorize",
        json!({ "amount": "8000", "attendant": "8" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    rig.real_flow(2).await;
    rig.act(2, SimAction::LiftNozzle(NozzleId(2))).await;
    daemon
        .wait_position(2, "filling", |p| p["pump_status"] == json!("filling"))
        .await;
    daemon.kill().await;

    // The pump reaches the preset on its own while nobody polls it.
    let (sim, address) = rig.pump_of(2);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        let view = sim.view().await.expect("view");
        let pump = view.iter().find(|p| p.address == address).expect("pump");
        if pump.status == PumpStatus::Completed {
            assert_eq!(pump.amount.to_string(), "8000.00");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pump never completed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    rig.act(2, SimAction::HangNozzle).await;

    let daemon = ChildDaemon::start(&rig, public, admin).await;
    let position = daemon
        .wait_position(2, "payable after restart", |p| {
            p["order_state"] == json!("payable")
        })
        .await;
    assert_eq!(
        decimal(&position["payable"][0]["amount"]),
        Decimal::from(8000),
        "{position}"
    );
    // The totals read through the admin API grew by exactly the sale (the pump started at 0).
    let totals = &position["totals"][1];
    assert_eq!(totals["nozzle"], json!(2), "{position}");
    assert_eq!(decimal(&totals["amount"]), Decimal::from(8000));
    assert_eq!(
        decimal(&totals["volume"]),
        decimal(&position["payable"][0]["volume"])
    );
    let (status, order) = get(&daemon.public, "/pay-mp?apies=29&pos=2").await;
    assert_eq!(status, StatusCode::OK, "{order}");
    assert_eq!(sales_of(&daemon, 2).await.len(), 1);

    // Another restart: the pump's last sale is not booked again.
    assert!(daemon.terminate().await.success());
    let daemon = ChildDaemon::start(&rig, public, admin).await;
    daemon
        .wait_position(2, "online again", |p| p["last_heard_ms_ago"].is_number())
        .await;
    let (_, again) = get(&daemon.public, "/pay-mp?apies=29&pos=2").await;
    assert_eq!(again["external_reference"], order["external_reference"]);
    assert_eq!(sales_of(&daemon, 2).await.len(), 1, "no phantom sale");

    // And the position is not wedged: it sells again.
    daemon
        .wait_position(2, "idle", |p| p["dispatch"].is_null())
        .await;
    let (status, body) = post(
        &daemon.admin,
        "/api/positions/2/authorize",
        json!({ "volume": "2", "attendant": "7" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    rig.act(2, SimAction::LiftNozzle(NozzleId(1))).await;
    daemon
        .wait_position(2, "a second sale", |p| {
            p["payable"].as_array().is_some_and(|s| s.len() == 2)
        })
        .await;
    rig.act(2, SimAction::HangNozzle).await;
    let sales = sales_of(&daemon, 2).await;
    assert_eq!(sales.len(), 2);
    assert_eq!(decimal(&sales[0]["volume"]), Decimal::from(2), "{sales:?}");
    assert!(daemon.terminate().await.success());
}

/// Position `n`'s sales, newest first.
async fn sales_of(daemon: &ChildDaemon, n: u16) -> Vec<Value> {
    let (status, sales) = get(&daemon.admin, "/api/sales?limit=100").await;
    assert_eq!(status, StatusCode::OK, "{sales}");
    sales
        .as_array()
        .expect("sales")
        .iter()
        .filter(|s| s["position"] == json!(n))
        .cloned()
        .collect()
}

/// Regression: while a Gilbarco pump with two grades at different prices delivered, the
/// live volume was reported as 0 (the loop reads money only, and which grade is flowing is
/// not known until the sale is read); it is unknown (`null`), never a made-up zero, while
/// the live amount moves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_gilbarco_live_volume_is_unknown_rather_than_zero() {
    let s = PayStation::start(mixed()).await;
    wait_ready(&s, 2).await;
    s.rig.real_flow(2).await;
    let (status, body) = s
        .station
        .authorize(2, json!({ "amount": "5000", "attendant": "7" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.rig.act(2, SimAction::LiftNozzle(NozzleId(2))).await;
    s.station
        .wait_for("live money on position 2", |snap| {
            snap.positions
                .get(&PositionId(2))
                .and_then(|p| p.running)
                .is_some_and(|r| !r.amount.is_zero())
        })
        .await;
    let running = positions(&s)
        .await
        .into_iter()
        .find(|p| p["position"] == json!(2))
        .map(|p| p["running"].clone())
        .expect("position 2");
    assert!(running["volume"].is_null(), "{running}");
    assert!(decimal(&running["amount"]) > Decimal::ZERO, "{running}");
    s.station.stop().await;
}

/// Prices go through the same admin API on both protocols: a manager's price set is
/// programmed into the DART pump and the Gilbarco pumps alike, each confirms it, and a
/// Gilbarco sale is priced and journaled under it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_price_set_reaches_dart_and_gilbarco_pumps_and_prices_a_gilbarco_sale() {
    let s = PayStation::start(mixed()).await;
    for n in 1..=3 {
        wait_ready(&s, n).await;
    }
    let (status, set) = post(
        &s.station.admin,
        "/api/prices",
        json!({ "grades": { "super": "1500.00" } }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    let id = set["price_set"].as_i64().expect("price set id");
    s.station
        .wait_for("every pump confirms the new prices", |snap| {
            (1..=3).all(|n| {
                snap.positions
                    .get(&PositionId(n))
                    .is_some_and(|p| p.pricing.target == Some(id) && p.pricing.confirmed)
            })
        })
        .await;

    let order = sell(&s, 2, json!({ "volume": "2", "attendant": "7" })).await;
    assert_eq!(
        decimal(&order["loyalty"]["products"][0]["unit_price"]),
        Decimal::from(1500),
        "{order}"
    );
    assert_eq!(
        decimal(&order["items"][0]["unit_price"]),
        Decimal::from(3000)
    );
    let record = s.wait_sale(&reference(&order), SaleStatus::Ready).await;
    assert_eq!(record.sale.price_set, Some(id));
    s.station.stop().await;
}
