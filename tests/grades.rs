//! Dispatches limited to grades, through the admin API and the CLI down to the simulated
//! pumps: the allowed nozzles reach a DART pump, which dispenses from no other nozzle; a
//! limit a pump cannot enforce, or a grade the position does not sell, is refused.

use hyper::StatusCode;
use pump_protocols::{GradeId, NozzleId, PositionId, PumpStatus, SimAction};
use serde_json::{json, Value};

use crate::support::{get, post, ready_to_authorize, Rig};

fn position(
    snapshot: &forecourtd::forecourt::Snapshot,
    n: u16,
) -> Option<&forecourtd::forecourt::dispatch::PositionState> {
    snapshot.positions.get(&PositionId(n))
}

#[tokio::test]
async fn a_dispatch_limited_to_grade_2_dispenses_nothing_from_grade_1s_nozzle() {
    let rig = Rig::new(1);
    let station = rig.start(|t| t).await;
    station
        .wait_for("pump 1 programmed", |s| ready_to_authorize(s, 1))
        .await;
    let (status, body) = station
        .authorize(
            1,
            json!({ "amount": "1720", "attendant": "7", "grades": ["infinia"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["grades"], json!([2]));
    let dispatch = body["dispatch_id"].as_i64().expect("dispatch id");
    station
        .wait_for("the pump authorized", |s| {
            position(s, 1).is_some_and(|p| p.pump_status == PumpStatus::Authorized)
        })
        .await;
    let (_, positions) = get(&station.admin, "/api/positions").await;
    assert_eq!(
        positions[0]["dispatch"]["grades"],
        json!([2]),
        "{positions}"
    );
    assert_eq!(
        positions[0]["grades"],
        json!([
            { "grade": 1, "key": "super", "name": "Super", "nozzles": [1] },
            { "grade": 2, "key": "infinia", "name": "Infinia", "nozzles": [2] },
        ])
    );

    // Grade 1's nozzle: the pump stays authorized and nothing flows.
    rig.act(1, SimAction::LiftNozzle(NozzleId(1))).await;
    let view = rig.sim.view().await.expect("simulator view");
    assert_eq!(view[0].status, PumpStatus::Authorized, "{view:?}");
    assert!(view[0].volume.value().is_zero(), "{view:?}");
    station
        .wait_for("the daemon sees nozzle 1 out", |s| {
            position(s, 1).is_some_and(|p| p.nozzle_out == Some(NozzleId(1)))
        })
        .await;
    let p = station.forecourt().snapshot();
    let p = position(&p, 1).expect("position 1");
    assert_eq!(p.pump_status, PumpStatus::Authorized);
    assert!(p.running.is_none() && p.payable.is_empty(), "{p:?}");
    rig.act(1, SimAction::HangNozzle).await;

    // Grade 2's nozzle fills to the preset.
    rig.act(1, SimAction::LiftNozzle(NozzleId(2))).await;
    station
        .wait_for("the grade 2 sale", |s| {
            position(s, 1).is_some_and(|p| !p.payable.is_empty())
        })
        .await;
    let snapshot = station.forecourt().snapshot();
    let sale = &position(&snapshot, 1).expect("position 1").payable[0];
    assert_eq!((sale.nozzle, sale.grade), (NozzleId(2), Some(GradeId(2))));
    assert_eq!(sale.amount.to_string(), "1720.00");

    // The journal and the audit trail keep the limit.
    let row = station
        .daemon
        .journal()
        .dispatch(dispatch)
        .await
        .expect("journal")
        .expect("dispatch row");
    assert_eq!(row.grades, vec![GradeId(2)]);
    let (_, audit) = get(&station.admin, "/api/audit?limit=20").await;
    let authorize = audit
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r["action"] == json!("position.authorize"))
        })
        .expect("an audit row for the authorization");
    assert_eq!(authorize["detail"]["request"]["grades"], json!(["infinia"]));
    station.stop().await;
}

/// A grade configured at the station that no nozzle of the test pumps dispenses.
fn with_diesel(text: String) -> String {
    text.replacen(
        "[loyalty]",
        "[grades.diesel]\nid = 3\nname = \"Diesel 500\"\ncode = \"2\"\nprice = \"1500.00\"\n\n\
         [loyalty]",
        1,
    )
}

fn error_type(body: &Value) -> &str {
    body["error"]["type"].as_str().unwrap_or("?")
}

#[tokio::test]
async fn grade_limits_the_position_or_its_pump_cannot_take_are_refused() {
    let rig = Rig::mixed(1, 1);
    let station = rig.start(with_diesel).await;
    for n in [1, 2] {
        station
            .wait_for("pumps programmed", |s| ready_to_authorize(s, n))
            .await;
    }
    let refused = |status: StatusCode, body: &Value, kind: &str| {
        assert_eq!(
            (status, error_type(body)),
            (StatusCode::UNPROCESSABLE_ENTITY, kind),
            "{body}"
        );
    };
    let (status, body) = station.authorize(1, json!({ "grades": [9] })).await;
    refused(status, &body, "unknown_grade");
    let (status, body) = station.authorize(1, json!({ "grades": ["diesel"] })).await;
    refused(status, &body, "grade_not_at_position");
    let (status, body) = station.authorize(1, json!({ "grades": 2 })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");

    // Position 2 is a Gilbarco pump: it names a grade only in a preset block.
    let (status, body) = station.authorize(2, json!({ "grades": [2] })).await;
    refused(status, &body, "grade_limit_unsupported");
    let snapshot = station.forecourt().snapshot();
    assert!(
        [1, 2]
            .iter()
            .all(|n| position(&snapshot, *n).is_some_and(|p| p.dispatch.is_none())),
        "a refused authorization starts nothing"
    );
    let (status, body) = station
        .authorize(2, json!({ "amount": "1000", "grades": [2] }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (_, audit) = get(&station.admin, "/api/audit?limit=20").await;
    let refusals = audit
        .as_array()
        .map(|rows| {
            rows.iter()
                .filter(|r| r["action"] == json!("position.authorize") && r["status"] == json!(422))
                .count()
        })
        .unwrap_or(0);
    assert_eq!(refusals, 3, "{audit}");
    station.stop().await;
}

#[tokio::test]
async fn the_cli_authorizes_limited_to_grades() {
    let rig = Rig::new(1);
    let station = rig.start(|t| t).await;
    station
        .wait_for("pump 1 programmed", |s| ready_to_authorize(s, 1))
        .await;
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_forecourtd"))
        .args(["authorize", "1", "--amount", "500", "--grade", "Infinia"])
        .args(["--admin", &station.admin, "--token-file"])
        .arg(rig.dir.path().join("cli.token"))
        .output()
        .await
        .expect("run forecourtd authorize");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (_, positions) = get(&station.admin, "/api/positions").await;
    assert_eq!(
        positions[0]["dispatch"]["grades"],
        json!([2]),
        "{positions}"
    );
    let (status, _) = post(&station.admin, "/api/positions/1/stop", json!({})).await;
    assert_eq!(status, StatusCode::OK);
    station.stop().await;
}
