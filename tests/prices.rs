//! Prices: a manager's price set is programmed into idle pumps (never mid-dispatch),
//! confirmed per pump, carried by every sale, scheduled for a given time (and cancelled
//! before it, never taking effect), and refused whole when malformed.

use std::sync::Arc;

use forecourtd::app::Daemon;
use forecourtd::clock::ManualClock;
use forecourtd::config::Config;
use hyper::StatusCode;
use pump_protocols::{NozzleId, PositionId, PumpStatus, SimAction};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::support::{get, has_payable, post, ready_to_authorize, Rig, Station};

/// A JSON number (or string) as an exact decimal.
fn num(value: &Value) -> Decimal {
    value
        .to_string()
        .trim_matches('"')
        .parse()
        .unwrap_or_else(|_| panic!("a decimal, got {value}"))
}

fn confirmed(snapshot: &forecourtd::forecourt::Snapshot, n: u16, set: i64) -> bool {
    snapshot
        .positions
        .get(&PositionId(n))
        .is_some_and(|p| p.pricing.target == Some(set) && p.pricing.confirmed)
}

fn payable(station: &Station, n: u16) -> forecourtd::sale::Sale {
    station.forecourt().snapshot().positions[&PositionId(n)]
        .payable
        .last()
        .cloned()
        .expect("a payable sale")
}

#[tokio::test]
async fn a_price_change_waits_for_a_filling_pump_and_every_sale_carries_its_price_set() {
    let rig = Rig::new(2);
    let station = rig.start(|t| t).await;
    let admin = &station.admin;
    station
        .wait_for("pumps ready", |s| {
            ready_to_authorize(s, 1) && ready_to_authorize(s, 2)
        })
        .await;
    // Pump 2 is filling (no preset: it runs until the nozzle is hung up).
    rig.real_flow(2).await;
    let (status, body) = station.authorize(2, json!({ "attendant": "7" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    rig.act(2, SimAction::LiftNozzle(NozzleId(1))).await;
    station
        .wait_for("pump 2 filling", |s| {
            s.positions[&PositionId(2)].pump_status == PumpStatus::Filling
        })
        .await;

    let (status, set) = post(
        admin,
        "/api/prices",
        json!({ "grades": { "super": "1500.00" } }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["in_force"], true);
    let id = set["price_set"].as_i64().expect("price set id");
    station
        .wait_for("pump 1 confirms", |s| confirmed(s, 1, id))
        .await;
    let snapshot = station.forecourt().snapshot();
    let pump2 = &snapshot.positions[&PositionId(2)];
    assert_eq!(pump2.pump_status, PumpStatus::Filling);
    assert!(!pump2.pricing.confirmed, "never programmed mid-dispatch");
    assert_eq!(pump2.pricing.sent_at, None, "not even sent");
    let (_, shown) = get(admin, "/api/prices").await;
    assert_eq!(shown["current"]["price_set"], id, "{shown}");
    assert_eq!(
        num(&shown["current"]["grades"]["super"]),
        Decimal::from(1500)
    );
    assert_eq!(shown["pumps"][0]["confirmed"], true, "{shown}");
    assert_eq!(shown["pumps"][1]["confirmed"], false, "{shown}");

    // Pump 2's sale was dispensed at the old price, under no set; then it takes the new.
    rig.act(2, SimAction::HangNozzle).await;
    station.wait_for("pump 2 sale", |s| has_payable(s, 2)).await;
    let old = payable(&station, 2);
    assert_eq!(old.unit_price.value(), Decimal::new(145000, 2));
    assert_eq!(old.price_set, None);
    station
        .wait_for("pump 2 confirms once idle", |s| confirmed(s, 2, id))
        .await;

    // A sale on pump 1 is dispensed at the new price and carries the set.
    let (status, body) = station
        .authorize(1, json!({ "amount": "750", "attendant": "7" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    rig.act(1, SimAction::LiftNozzle(NozzleId(1))).await;
    station.wait_for("pump 1 sale", |s| has_payable(s, 1)).await;
    let new = payable(&station, 1);
    assert_eq!(new.unit_price.value(), Decimal::new(150000, 2));
    assert_eq!(new.price_set, Some(id));
    let (_, listed) = get(admin, &format!("/api/sales/{}", new.id)).await;
    assert_eq!(listed["price_set"], id, "{listed}");
    station.stop().await;
}

/// One pump and a daemon whose wall clock starts at 2026-12-03T08:00:00Z and moves only
/// when the test sets it.
async fn start_on_a_manual_clock(rig: &Rig) -> (Station, Arc<ManualClock>) {
    let start: jiff::Timestamp = "2026-12-03T08:00:00Z".parse().expect("time");
    let clock = Arc::new(ManualClock::new(start));
    let text = rig.config_text("127.0.0.1:0", "127.0.0.1:0", |t| t);
    let config = Config::from_toml_str(&text, rig.dir.path()).expect("configuration");
    let daemon = Daemon::start_with(config, None, clock.clone())
        .await
        .expect("daemon starts");
    let station = Station::new(daemon);
    station
        .wait_for("pump ready", |s| ready_to_authorize(s, 1))
        .await;
    (station, clock)
}

#[tokio::test]
async fn a_scheduled_price_set_takes_effect_at_its_time() {
    let rig = Rig::new(1);
    let (station, clock) = start_on_a_manual_clock(&rig).await;
    let (status, set) = post(
        &station.admin,
        "/api/prices",
        json!({ "grades": { "infinia": "1800" }, "at": "2026-12-03T06:00:00-03:00" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{set}");
    assert_eq!(set["in_force"], false);
    let id = set["price_set"].as_i64().expect("id");
    let (_, shown) = get(&station.admin, "/api/prices").await;
    assert_eq!(shown["scheduled"][0]["id"], id, "{shown}");
    assert_eq!(shown["current"]["price_set"], Value::Null);

    clock.set("2026-12-03T08:59:59Z".parse().expect("time"));
    // Still early: the actor goes on turning (a tick every 250 ms) and leaves it waiting.
    // Snapshots are published only on change, so the wait is a bounded pause: what is
    // checked is that nothing happens.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let snapshot = station.forecourt().snapshot();
    assert_eq!(snapshot.prices.current, None);
    assert_eq!(snapshot.prices.scheduled.len(), 1);

    clock.set(
        "2026-12-03T09:00:00Z"
            .parse::<jiff::Timestamp>()
            .expect("time"),
    );
    station
        .wait_for("the set in force and confirmed", |s| confirmed(s, 1, id))
        .await;
    let snapshot = station.forecourt().snapshot();
    assert!(snapshot.prices.scheduled.is_empty());
    let pricing = &snapshot.positions[&PositionId(1)].pricing;
    assert!(pricing.target_prices.contains(&(
        NozzleId(2),
        pump_protocols::UnitPrice::new(Decimal::from(1800))
    )));
    station.stop().await;
}

#[tokio::test]
async fn malformed_prices_are_refused_and_change_nothing() {
    let rig = Rig::new(1);
    let station = rig.start(|t| t).await;
    station
        .wait_for("pump ready", |s| ready_to_authorize(s, 1))
        .await;
    for (grades, why) in [
        (json!({ "super": "-1" }), "negative"),
        (json!({ "super": "0" }), "zero"),
        (
            json!({ "super": "1450.123" }),
            "more decimals than the pump",
        ),
        (json!({ "gasoil": "1200" }), "unknown grade"),
        (json!({ "super": "12345678" }), "more digits than the pump"),
        (json!({ "super": "abc" }), "not a number"),
        (json!({}), "nothing"),
    ] {
        let (status, body) = post(&station.admin, "/api/prices", json!({ "grades": grades })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{why}: {body}");
    }
    let (status, body) = post(
        &station.admin,
        "/api/prices",
        json!({ "grades": { "super": "1500" }, "at": "tomorrow" }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    let sets = station
        .daemon
        .journal()
        .price_sets()
        .await
        .expect("journal");
    assert!(sets.is_empty(), "nothing journaled: {sets:?}");
    let (_, shown) = get(&station.admin, "/api/prices").await;
    assert_eq!(shown["current"]["price_set"], Value::Null);
    assert_eq!(
        num(&shown["current"]["grades"]["super"]),
        Decimal::from(1450)
    );
    station.stop().await;
}

#[tokio::test]
async fn a_cancelled_price_set_never_takes_effect() {
    let rig = Rig::new(1);
    let (station, clock) = start_on_a_manual_clock(&rig).await;
    let schedule = |grades: Value, at: &'static str| {
        let admin = station.admin.clone();
        async move {
            let (status, set) =
                post(&admin, "/api/prices", json!({ "grades": grades, "at": at })).await;
            assert_eq!(status, StatusCode::OK, "{set}");
            set["price_set"].as_i64().expect("id")
        }
    };
    let (_, before) = get(&station.admin, "/api/prices").await;
    let infinia = num(&before["current"]["grades"]["infinia"]);
    assert_ne!(infinia, Decimal::from(1800));
    let withdrawn = schedule(json!({ "infinia": "1800" }), "2026-12-03T06:00:00-03:00").await;
    let kept = schedule(json!({ "super": "1500" }), "2026-12-03T06:30:00-03:00").await;

    let cancel = |id: i64| {
        let admin = station.admin.clone();
        async move { post(&admin, &format!("/api/prices/{id}/cancel"), json!({})).await }
    };
    let (status, body) = cancel(withdrawn).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["price_set"], withdrawn);
    let (status, body) = cancel(withdrawn).await;
    assert_eq!(status, StatusCode::CONFLICT, "cancelled twice: {body}");
    let (status, body) = cancel(9999).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (_, shown) = get(&station.admin, "/api/prices").await;
    let scheduled: Vec<i64> = shown["scheduled"]
        .as_array()
        .expect("scheduled sets")
        .iter()
        .filter_map(|s| s["id"].as_i64())
        .collect();
    assert_eq!(scheduled, vec![kept], "{shown}");

    // Past both times: the kept set comes into force after the withdrawn one's time, so
    // once the pump confirmed it the withdrawn one had its chance and did not take it.
    clock.set("2026-12-03T10:00:00Z".parse().expect("time"));
    station
        .wait_for("the kept set in force and confirmed", |s| {
            confirmed(s, 1, kept)
        })
        .await;
    let (_, shown) = get(&station.admin, "/api/prices").await;
    assert_eq!(shown["current"]["price_set"], kept, "{shown}");
    assert_eq!(
        num(&shown["current"]["grades"]["infinia"]),
        infinia,
        "the withdrawn price never applied: {shown}"
    );
    assert_eq!(
        num(&shown["current"]["grades"]["super"]),
        Decimal::from(1500)
    );
    let (status, body) = cancel(kept).await;
    assert_eq!(status, StatusCode::CONFLICT, "in force already: {body}");

    let journal = station.daemon.journal();
    let sets = journal.price_sets().await.expect("journal");
    let set = sets.iter().find(|s| s.id == withdrawn).expect("journaled");
    assert_eq!(set.activated_at, None);
    assert!(set.cancelled_at.is_some());
    assert!(set.pumps.is_empty(), "no pump was programmed: {set:?}");
    let events = journal.outbox_unsent(1000).await.expect("outbox");
    let about = |kind: &str| {
        events
            .iter()
            .filter(|e| e.kind == kind && e.payload["price_set"] == withdrawn)
            .count()
    };
    assert_eq!(about("price_set_cancelled"), 1);
    assert_eq!(about("price_set_activated"), 0);
    assert_eq!(about("price_set_confirmed"), 0);
    station.stop().await;
}
