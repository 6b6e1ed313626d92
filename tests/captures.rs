//! Field captures through the daemon: switched on by configuration and by the admin API,
//! recorded from simulated pumps, and replayed offline through the protocol masters; and
//! the captures kept under `pump-protocols/testdata/`, replayed with their sales.

use std::path::{Path, PathBuf};

use forecourtd::replay::{replay_file, Replayed};
use hyper::StatusCode;
use pump_protocols::capture::ReplayItem;
use pump_protocols::{CompletionReason, NozzleId, PumpEventKind, PumpStatus, SimAction};
use rust_decimal::Decimal;
use serde_json::{json, Value};

use crate::support::{full_dispatch, get, post, Rig, Station};

/// Adds `capture = { path = DIR/LINE.cap }` to every line of a generated configuration.
fn with_captures(dir: &Path) -> impl Fn(String) -> String + '_ {
    move |text: String| {
        let mut out = String::new();
        for line in text.lines() {
            out.push_str(line);
            out.push('\n');
            if let Some(name) = line
                .strip_prefix("name = \"line")
                .and_then(|rest| rest.strip_suffix('"'))
            {
                out.push_str(&format!(
                    "capture = {{ path = {:?}, max_bytes = 50000000, keep = 1 }}\n",
                    dir.join(format!("line{name}.cap")).display().to_string()
                ));
            }
        }
        out
    }
}

/// A whole sale on position `n` by `preset` (a JSON body), nozzle 1; waits until the
/// position is idle and unpaid-sale-free of anything in flight.
async fn sell(rig: &Rig, station: &Station, n: u16, preset: Value) {
    station
        .wait_for("pump ready", |s| crate::support::ready_to_authorize(s, n))
        .await;
    let mut body = preset;
    body["attendant"] = json!("7");
    let (status, answer) = station.authorize(n, body).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    rig.act(n, SimAction::LiftNozzle(NozzleId(1))).await;
    station.wait_for_answer(n, "order").await;
    rig.act(n, SimAction::HangNozzle).await;
    station
        .wait_for("pump idle after the sale", |s| {
            crate::support::ready_to_authorize(s, n)
        })
        .await;
}

/// Records one sale on a DART pump (position 1, by money) and one on a Gilbarco pump
/// (position 2, by volume) through the daemon's configured captures; returns the files.
async fn record_two_sales(rig: &Rig, dir: &Path) -> (PathBuf, PathBuf) {
    let station = rig.start(with_captures(dir)).await;
    tokio::join!(
        sell(rig, &station, 1, json!({ "amount": "5000" })),
        sell(rig, &station, 2, json!({ "volume": "3" })),
    );
    // A clean stop flushes the files.
    station.stop().await;
    (dir.join("line1.cap"), dir.join("line2.cap"))
}

fn sales(replayed: &Replayed) -> Vec<pump_protocols::CompletedTransaction> {
    replayed.sales().into_iter().copied().collect()
}

fn states(replayed: &Replayed) -> Vec<PumpStatus> {
    replayed
        .items
        .iter()
        .filter_map(|i| match i {
            ReplayItem::State { to, .. } => Some(*to),
            _ => None,
        })
        .collect()
}

/// What every replayed whole-dispatch capture shows: the master's writes reproduced byte
/// for byte, the pump going through a dispatch, and exactly one sale with these figures.
fn assert_one_sale(replayed: &Replayed, amount: Decimal, volume: Decimal) {
    let around: Vec<String> = replayed
        .items
        .iter()
        .enumerate()
        .filter(|(_, i)| i.is_divergence())
        .flat_map(|(n, _)| replayed.items[n.saturating_sub(6)..=n].iter())
        .map(ToString::to_string)
        .collect();
    assert_eq!(replayed.divergences(), 0, "{around:#?}");
    let sales = sales(replayed);
    assert_eq!(sales.len(), 1, "{sales:?}");
    assert_eq!(sales[0].amount.value(), amount);
    assert_eq!(sales[0].volume.value(), volume);
    assert_eq!(sales[0].reason, CompletionReason::PresetReached);
    let states = states(replayed);
    // (A Gilbarco pump with the nozzle already out goes from call straight to busy.)
    for status in [PumpStatus::Filling, PumpStatus::Completed] {
        assert!(states.contains(&status), "{status:?} not in {states:?}");
    }
    assert!(replayed.items.iter().any(|i| matches!(i,
        ReplayItem::Event { event, .. } if matches!(event.kind, PumpEventKind::Totals(_)))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_captures_record_both_lines_and_replay_to_the_same_sales() {
    let rig = Rig::mixed(1, 1);
    let dir = tempfile::tempdir().expect("temporary directory");
    let (dart, gilbarco) = record_two_sales(&rig, dir.path()).await;

    let replayed = replay_file(&dart, None).expect("DART capture replays");
    assert_eq!(replayed.line.protocol.as_str(), "dart");
    assert_one_sale(&replayed, Decimal::from(5000), Decimal::new(345, 2));

    let replayed = replay_file(&gilbarco, None).expect("Gilbarco capture replays");
    assert_eq!(replayed.line.protocol.as_str(), "gilbarco");
    assert_eq!(replayed.line.pumps[0].position.0, 2);
    assert_one_sale(&replayed, Decimal::from(4350), Decimal::from(3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_starts_and_stops_a_capture_next_to_the_journal() {
    let rig = Rig::mixed(1, 1);
    let station = rig.start(|t| t).await;
    let admin = &station.admin;
    let (status, body) = get(admin, "/api/lines/line2/capture").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["capturing"], json!(false), "{body}");
    assert_eq!(
        post(admin, "/api/lines/nope/capture", json!({"action": "start"}))
            .await
            .0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post(
            admin,
            "/api/lines/line2/capture",
            json!({"action": "start", "path": "/etc/x"})
        )
        .await
        .0,
        StatusCode::BAD_REQUEST,
        "a request never names the file"
    );

    let (status, body) = post(
        admin,
        "/api/lines/line2/capture",
        json!({"action": "start", "max_bytes": 100000, "keep": 2}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["capturing"], json!(true));
    let path = PathBuf::from(body["path"].as_str().expect("path"));
    assert_eq!(path, rig.dir.path().join("captures/line2.cap"));
    let (status, _) = post(
        admin,
        "/api/lines/line2/capture",
        json!({"action": "start"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::CONFLICT,
        "one capture per line at a time"
    );

    full_dispatch(&rig, &station, 2, "1000").await;
    let (status, body) = post(admin, "/api/lines/line2/capture", json!({"action": "stop"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["capturing"], json!(false));
    assert_eq!(body["dropped"], json!(0));
    let records = body["records"].as_u64().expect("records");
    assert!(records > 10, "{body}");

    // Started in the middle of a session: the file is complete and readable, and says who
    // started it.
    let text = std::fs::read_to_string(&path).expect("capture file");
    let capture = pump_protocols::capture::parse(&text).expect("valid capture");
    assert_eq!(capture.records.len() as u64, records);
    assert_eq!(
        capture.meta("started").and_then(|m| m.get("by")),
        Some("token:cli"),
        "{:?}",
        capture.meta
    );
    station.stop().await;
}

/// The captures kept under `pump-protocols/testdata/` (docs/captures.md).
fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("pump-protocols/testdata")
        .join(name)
}

#[test]
fn the_kept_dart_capture_replays_a_whole_dispatch_with_its_sale() {
    let replayed = replay_file(&testdata("dart-sale.cap"), None).expect("replays");
    assert!(replayed
        .capture
        .notes
        .iter()
        .any(|n| n.starts_with("provenance:")));
    assert_one_sale(&replayed, Decimal::from(5000), Decimal::new(345, 2));
}

#[test]
fn the_kept_gilbarco_capture_replays_a_whole_dispatch_with_its_sale() {
    let replayed = replay_file(&testdata("gilbarco-sale.cap"), None).expect("replays");
    assert!(replayed
        .capture
        .notes
        .iter()
        .any(|n| n.starts_with("provenance:")));
    assert_one_sale(&replayed, Decimal::from(4350), Decimal::from(3));
}

/// Writes the captures kept under `pump-protocols/testdata/`: run with
/// `cargo test --test tests record_testdata_captures -- --ignored` after a change to
/// the wire conversation, and check the replays above still pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "writes pump-protocols/testdata; run by hand"]
async fn record_testdata_captures() {
    let rig = Rig::mixed(1, 1);
    let dir = tempfile::tempdir().expect("temporary directory");
    let (dart, gilbarco) = record_two_sales(&rig, dir.path()).await;
    let provenance = |what: &str| {
        format!(
            "# provenance: recorded by forecourtd's own line capture (config capture = {{…}}) \
             from the simulated pumps of tests/support on a pseudo-terminal, by `cargo test \
             --test tests record_testdata_captures -- --ignored` (tests/captures.rs): daemon \
             start, session, totals, {what}, totals again, clean stop\n"
        )
    };
    for (from, name, what) in [
        (
            dart,
            "dart-sale.cap",
            "one sale by money preset 5000 on nozzle 1 of pump 0x50",
        ),
        (
            gilbarco,
            "gilbarco-sale.cap",
            "one sale by volume preset 3 l on grade 1 of pump 1 (8-digit mode)",
        ),
    ] {
        let text = std::fs::read_to_string(&from).expect("capture");
        let (first, rest) = text.split_once('\n').expect("header");
        let kept = format!("{first}\n{}{rest}", provenance(what));
        std::fs::write(testdata(name), kept).expect("write testdata");
    }
}
