//! The order endpoint end to end: simulated DART pumps on a pseudo-terminal, the daemon on
//! the other end, Mercado Pago's call over HTTP. Each test asserts the exact status, error
//! type and JSON fields.

use std::time::Duration;

use hyper::StatusCode;
use pump_protocols::{NozzleId, PositionId, PumpStatus, SimAction};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::support::{self, answer_kind, full_dispatch, get, Rig};

fn error_type(answer: &(StatusCode, Value)) -> &str {
    answer.1["error"]["type"].as_str().unwrap_or("?")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_walks_through_every_answer_and_ends_with_the_exact_order() {
    let rig = Rig::new(2);
    let station = rig.start(|t| t).await;
    station
        .wait_for("pump 1 programmed and idle", |s| {
            s.positions.get(&PositionId(1)).is_some_and(|p| {
                p.pump_status == PumpStatus::Completed || p.pump_status == PumpStatus::Idle
            })
        })
        .await;

    // Before the dispatch: nothing to pay.
    let answer = station.scan(1).await;
    assert_eq!(answer.0, StatusCode::BAD_REQUEST);
    assert_eq!(error_type(&answer), "unavailable");

    // Authorized: the amount is not known yet.
    let (status, body) = station
        .authorize(1, json!({ "amount": "5000", "attendant": "7" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let answer = station.scan(1).await;
    assert_eq!(answer.0, StatusCode::BAD_REQUEST);
    assert_eq!(error_type(&answer), "in_process");

    // Nozzle up and filling: still in process.
    rig.real_flow(1).await;
    rig.act(1, SimAction::LiftNozzle(NozzleId(1))).await;
    station
        .wait_for("filling on position 1", |s| {
            s.positions
                .get(&PositionId(1))
                .is_some_and(|p| p.pump_status == PumpStatus::Filling)
        })
        .await;
    let answer = station.scan(1).await;
    assert_eq!(error_type(&answer), "in_process");

    // The preset stops the pump; the sale is served with the pump's exact figures.
    let (status, order) = station.wait_for_answer(1, "order").await;
    assert_eq!(status, StatusCode::OK);
    let pump = rig
        .sim
        .view()
        .await
        .expect("simulator view")
        .into_iter()
        .find(|p| p.address == support::address(1))
        .expect("pump 1");
    assert_eq!(pump.amount.to_string(), "5000.00");

    let reference = order["external_reference"]
        .as_str()
        .expect("reference")
        .to_owned();
    assert!(reference.starts_with("ST29P01T"), "{reference}");
    assert!(reference
        .chars()
        .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
    assert_eq!(order["collector_id"], json!(446566691));
    assert_eq!(order["sponsor_id"], json!(446559784));
    let item = &order["items"][0];
    assert_eq!(item["title"], json!("$5000.00 de Super"));
    assert_eq!(item["currency_id"], json!("ARS"));
    assert_eq!(item["quantity"], json!(1));
    assert_eq!(item["unit_price"].to_string(), "5000.00");
    let loyalty = &order["loyalty"];
    assert_eq!(loyalty["program"], json!("serviclub"));
    assert_eq!(loyalty["store_id"], json!("00029"));
    assert_eq!(loyalty["transaction_amount"].to_string(), "5000.00");
    let invoice = loyalty["invoice_number"].as_str().expect("invoice");
    assert_eq!(invoice.len(), 8);
    assert!(
        reference.ends_with(&invoice[2..]),
        "{reference} / {invoice}"
    );
    assert!(loyalty["transaction_id"]
        .as_str()
        .is_some_and(|t| t.starts_with("00029-P01-") && t.len() <= 40));
    let date = loyalty["transaction_date"].as_str().expect("date");
    assert!(
        date.ends_with("-03:00") && date.contains('T') && date.contains('.'),
        "{date}"
    );
    let product = &loyalty["products"][0];
    assert_eq!(product["code"], json!("1"));
    assert_eq!(product["unit"], json!("litre"));
    assert_eq!(product["unit_price"].to_string(), "1450.00");
    assert_eq!(
        product["quantity"].to_string(),
        pump.volume.value().normalize().to_string()
    );
    assert_eq!(
        loyalty["cashier_identification"],
        json!({ "type": "DNI", "number": "30123456" })
    );
    assert_eq!(loyalty["period"], json!("0000"));
    assert_eq!(loyalty["shift"], json!("1"));
    assert_eq!(loyalty["affinity_plan"], json!("7"));

    // Repeated scans: the same order, the same reference.
    for _ in 0..3 {
        let again = station.scan(1).await;
        assert_eq!(again.0, StatusCode::OK);
        assert_eq!(again.1, order);
    }
    // The other position is untouched.
    assert_eq!(error_type(&station.scan(2).await), "unavailable");
    station.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_parameters_are_invalid_and_other_requests_get_json_errors() {
    let rig = Rig::new(1);
    let station = rig.start(|t| t).await;
    for query in [
        "/pay-mp",
        "/pay-mp?",
        "/pay-mp?apies=29",
        "/pay-mp?pos=1",
        "/pay-mp?apies=30&pos=1",
        "/pay-mp?apies=29&pos=7",
        "/pay-mp?apies=29&pos=abc",
        "/pay-mp?apies=29&pos=1&pos=2",
        "/pay-mp?apies=%00%ff&pos=%zz",
        "/pay-mp?locationId=29&positionId=9",
    ] {
        let answer = get(&station.public, query).await;
        assert_eq!(answer.0, StatusCode::BAD_REQUEST, "{query}");
        assert_eq!(error_type(&answer), "invalid", "{query}: {answer:?}");
    }
    // The seed-000 spelling works.
    let answer = get(&station.public, "/pay-mp?locationId=00029&positionId=01").await;
    assert_ne!(error_type(&answer), "invalid");

    let answer = get(&station.public, "/nope").await;
    assert_eq!(answer.0, StatusCode::NOT_FOUND);
    assert_eq!(error_type(&answer), "not_found");
    let answer = support::post(&station.public, "/pay-mp?apies=29&pos=1", json!({})).await;
    assert_eq!(answer.0, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error_type(&answer), "method_not_allowed");

    // Garbage on the socket: the connection is refused politely, the daemon keeps serving.
    let mut socket = tokio::net::TcpStream::connect(station.daemon.public_addr)
        .await
        .expect("connect");
    socket
        .write_all(b"\x16\x03\x01\x02\x00garbage that is not HTTP\r\n\r\n")
        .await
        .expect("write");
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut reply)).await;
    assert!(
        reply.is_empty() || reply.starts_with(b"HTTP/1.1 400"),
        "{}",
        String::from_utf8_lossy(&reply)
    );
    // An oversized header block is refused without hurting anyone else.
    let long = "x".repeat(64 * 1024);
    let mut socket = tokio::net::TcpStream::connect(station.daemon.public_addr)
        .await
        .expect("connect");
    let request =
        format!("GET /pay-mp?apies=29&pos=1 HTTP/1.1\r\nHost: a\r\nX-Long: {long}\r\n\r\n");
    let _ = socket.write_all(request.as_bytes()).await;
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut reply)).await;
    assert!(!reply.starts_with(b"HTTP/1.1 200"));
    let answer = get(&station.public, "/pay-mp?apies=29&pos=1").await;
    assert_ne!(error_type(&answer), "invalid");

    // Regression: on a keep-alive connection only the first request's head was checked; a
    // garbage or oversized second request got hyper's bare status line instead of JSON.
    for (second, status) in [
        ("\x16\x03 not HTTP at all\r\n\r\n".to_owned(), "400"),
        (
            format!("GET / HTTP/1.1\r\nHost: a\r\nX-Long: {long}\r\n\r\n"),
            "431",
        ),
    ] {
        let mut socket = tokio::net::TcpStream::connect(station.daemon.public_addr)
            .await
            .expect("connect");
        let first = "GET /pay-mp?apies=29&pos=1 HTTP/1.1\r\nHost: a\r\n\r\n";
        let _ = socket
            .write_all(format!("{first}{second}").as_bytes())
            .await;
        let mut reply = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), socket.read_to_end(&mut reply)).await;
        let reply = String::from_utf8_lossy(&reply);
        let answers: Vec<&str> = reply.split("HTTP/1.1 ").skip(1).collect();
        assert_eq!(answers.len(), 2, "two answers on one connection: {reply}");
        assert!(answers[1].starts_with(status), "{reply}");
        assert!(
            answers[1].contains("application/json") && answers[1].contains("bad_request"),
            "{reply}"
        );
    }
    station.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_pump_answers_timeout_at_once_and_recovers() {
    let rig = Rig::new(2);
    let station = rig
        .start(|t| {
            t.replace(
                "protocol = \"dart\"\n",
                "protocol = \"dart\"\nstale_limit_ms = 1000\n",
            )
        })
        .await;
    station.wait_for_answer(1, "unavailable").await;
    rig.act(1, SimAction::Silent(true)).await;
    // Within the stale limit the last known state still holds; past it the answer is
    // `timeout`. Either way every call is answered at once: the endpoint never waits on
    // the pump.
    let answer = station.wait_for_answer(1, "timeout").await;
    assert_eq!(answer.0, StatusCode::BAD_REQUEST);
    assert_eq!(answer_kind(&station.scan(2).await), "unavailable");
    rig.act(1, SimAction::Silent(false)).await;
    station.wait_for_answer(1, "unavailable").await;
    station.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_and_broken_frames_on_the_line_do_not_stop_a_dispatch() {
    let rig = Rig::new(1);
    let station = rig.start(|t| t).await;
    station
        .wait_for("pump 1 programmed", |s| support::ready_to_authorize(s, 1))
        .await;
    let (status, body) = station
        .authorize(1, json!({ "amount": "3000", "attendant": "8" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The noise starts once the pump has taken the authorization: this is about a
    // dispatch in progress (a lost authorization is another test's subject).
    station
        .wait_for("authorization acknowledged", |s| {
            s.positions[&PositionId(1)]
                .dispatch
                .as_ref()
                .is_some_and(|d| d.stage == forecourtd::journal::DispatchStage::Acknowledged)
        })
        .await;
    rig.act(1, SimAction::CorruptAnswers(3)).await;
    rig.sim
        .inject(vec![
            0xFA, 0x50, 0x30, 0x01, 0xFF, 0x10, 0xFA, 0x03, 0xFA, 0x00, 0x55,
        ])
        .await
        .expect("inject");
    rig.act(1, SimAction::LiftNozzle(NozzleId(1))).await;
    rig.act(1, SimAction::DropAnswers(2)).await;
    rig.sim.inject(vec![0xBC; 600]).await.expect("inject");
    let (_, order) = station.wait_for_answer(1, "order").await;
    assert_eq!(order["items"][0]["unit_price"].to_string(), "3000.00");
    // Exactly one sale came out of it.
    let snapshot = station.forecourt().snapshot();
    assert_eq!(snapshot.positions[&PositionId(1)].payable.len(), 1);
    station.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_unpaid_sales_offer_the_latest_and_survive_a_clean_restart() {
    let rig = Rig::new(1);
    let station = rig.start(|t| t).await;
    let first = full_dispatch(&rig, &station, 1, "3000").await;
    let second = full_dispatch(&rig, &station, 1, "8000").await;
    assert_ne!(first["external_reference"], second["external_reference"]);
    assert_eq!(station.scan(1).await.1, second);
    station.stop().await;

    let station = rig.start(|t| t).await;
    let (status, again) = station.wait_for_answer(1, "order").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, second);
    station.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_daemon_serves_the_same_order_and_records_a_sale_completed_while_down() {
    let rig = Rig::new(2);
    let (public, admin) = (support::free_port(), support::free_port());
    let daemon = support::ChildDaemon::start(&rig, public, admin).await;
    let programmed = |p: &Value| {
        p["order_state"] == json!("unavailable")
            && (p["pump_status"] == json!("idle") || p["pump_status"] == json!("completed"))
    };
    daemon.wait_position(1, "programmed", programmed).await;
    daemon.wait_position(2, "programmed", programmed).await;

    // Position 1: a completed, unpaid sale.
    let (status, body) = support::post(
        &daemon.admin,
        "/api/positions/1/authorize",
        json!({ "amount": "5000", "attendant": "7" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    rig.act(1, SimAction::LiftNozzle(NozzleId(1))).await;
    daemon
        .wait_position(1, "payable", |p| p["order_state"] == json!("payable"))
        .await;
    rig.act(1, SimAction::HangNozzle).await;
    let (status, order) = get(&daemon.public, "/pay-mp?apies=29&pos=1").await;
    assert_eq!(status, StatusCode::OK);

    // Position 2: authorized and filling when the daemon dies.
    let (status, body) = support::post(
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

    // The pump finishes on its own while nobody polls it.
    let deadline = tokio::time::Instant::now() + support::PATIENCE;
    loop {
        let view = rig.sim.view().await.expect("view");
        let pump = view
            .iter()
            .find(|p| p.address == support::address(2))
            .expect("pump 2");
        if pump.status == PumpStatus::Completed {
            assert_eq!(pump.amount.to_string(), "8000.00");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "pump 2 never completed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    rig.act(2, SimAction::HangNozzle).await;

    let daemon = support::ChildDaemon::start(&rig, public, admin).await;
    // The unpaid sale is served again, identical.
    daemon
        .wait_position(1, "payable after restart", |p| {
            p["order_state"] == json!("payable")
        })
        .await;
    let (status, again) = get(&daemon.public, "/pay-mp?apies=29&pos=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, order);
    // The sale completed while the daemon was down is recorded from the pump's figures.
    let position = daemon
        .wait_position(2, "sale recorded after restart", |p| {
            p["order_state"] == json!("payable")
        })
        .await;
    assert_eq!(position["payable"][0]["amount"].to_string(), "8000.00");
    assert_eq!(position["payable"][0]["attendant"], json!("8"));
    let (status, recovered) = get(&daemon.public, "/pay-mp?apies=29&pos=2").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(recovered["items"][0]["title"], json!("$8000.00 de Infinia"));
    daemon.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_finishes_writes_and_exits_cleanly() {
    let rig = Rig::new(1);
    let (public, admin) = (support::free_port(), support::free_port());
    let daemon = support::ChildDaemon::start(&rig, public, admin).await;
    daemon
        .wait_position(1, "programmed", |p| {
            p["pump_status"] == json!("completed") || p["pump_status"] == json!("idle")
        })
        .await;
    let (status, body) = support::post(
        &daemon.admin,
        "/api/positions/1/authorize",
        json!({ "volume": "2", "attendant": "7" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Once the authorization is journaled as sent, a restart must keep the dispatch (one
    // still being prepared is closed at start: the pump cannot have it).
    daemon
        .wait_position(1, "authorization sent", |p| {
            p["dispatch"]["stage"] == json!("sent")
                || p["dispatch"]["stage"] == json!("acknowledged")
        })
        .await;
    let exit = daemon.terminate().await;
    assert!(exit.success(), "{exit:?}");
    // The journal was closed: its write-ahead log is checkpointed into the database.
    let wal = rig.database().with_extension("db-wal");
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal_len, 0, "{} still holds {wal_len} bytes", wal.display());
    // The dispatch journaled before the signal is still open after a restart.
    let daemon = support::ChildDaemon::start(&rig, public, admin).await;
    let position = daemon
        .wait_position(1, "dispatch restored", |p| p["dispatch"]["id"].is_i64())
        .await;
    assert_eq!(position["dispatch"]["attendant"], json!("7"));
    daemon.kill().await;
}

/// Regression (issue "Never a phantom sale, never a wedged pump"): presets the pump cannot
/// take were answered 200, dropped by the line, and wedged the position in `in_process`
/// until a restart. They are refused before anything is journaled, and the position stays
/// usable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn regression_presets_the_pump_cannot_take_are_refused_and_wedge_nothing() {
    let rig = Rig::new(1);
    let station = rig.start(|t| t).await;
    station
        .wait_for("pump 1 programmed", |s| support::ready_to_authorize(s, 1))
        .await;
    for body in [
        json!({ "amount": "1000000.00", "attendant": "7" }),
        json!({ "amount": "1.005", "attendant": "7" }),
        json!({ "volume": "0.0001", "attendant": "7" }),
    ] {
        let (status, answer) = station.authorize(1, body.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("cannot take"), "{message}");
        assert_eq!(answer_kind(&station.scan(1).await), "unavailable");
    }
    let snapshot = station.forecourt().snapshot();
    assert!(snapshot.positions[&PositionId(1)].dispatch.is_none());
    // The position takes a dispatch it can express, and sells it.
    let order = full_dispatch(&rig, &station, 1, "3000").await;
    assert_eq!(order["items"][0]["unit_price"].to_string(), "3000.00");
    station.stop().await;
}
