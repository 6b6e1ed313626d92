//! The test-scenario tables of the two integration guides, one test per case:
//! seed 000 (integrated QR with payment preferences, 10 cases) and seed 003 (QR at fuel
//! stations, 6 cases). Each drives simulated DART pumps over a pseudo-terminal, the
//! daemon, and the Mercado Pago sandbox playing the API and the customer's app.

use forecourtd::lab::sandbox::{CardHolder, SandboxHandle, ScanOutcome};
use forecourtd::mercadopago::types::PaymentStatus;
use forecourtd::sale::SaleStatus;
use hyper::StatusCode;
use pump_protocols::{NozzleId, PositionId, PumpStatus, SimAction};
use serde_json::json;

use crate::support::payments::{eventually, reference, PaySetup, PayStation};
use crate::support::{get, post, ready_to_authorize};

fn error_kind(outcome: &ScanOutcome) -> Option<&str> {
    match outcome {
        ScanOutcome::Error { kind, .. } => Some(kind.as_str()),
        _ => None,
    }
}

async fn programmed(s: &PayStation, n: u16) {
    s.station
        .wait_for("pump programmed", |snap| ready_to_authorize(snap, n))
        .await;
}

/// Authorizes position `n` and lifts the nozzle; returns once fuel flows.
async fn start_filling(s: &PayStation, n: u16, amount: &str) {
    programmed(s, n).await;
    let (status, body) = s
        .station
        .authorize(n, json!({ "amount": amount, "attendant": "7" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.rig.real_flow(n).await;
    s.rig.act(n, SimAction::LiftNozzle(NozzleId(1))).await;
    s.station
        .wait_for("filling", |snap| {
            snap.positions
                .get(&PositionId(n))
                .is_some_and(|p| p.pump_status == PumpStatus::Filling)
        })
        .await;
}

// ---- seed 000: integrated QR with payment preferences ----

/// Case 1: the user scans a valid QR before the order is placed: "you must enter the code
/// first" (unavailable).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_case_01_scan_before_the_order() {
    let s = PayStation::start(PaySetup::default()).await;
    programmed(&s, 1).await;
    let outcome = s.scan(1, CardHolder::Apro, 1).await;
    assert_eq!(error_kind(&outcome), Some("unavailable"), "{outcome:?}");
    assert!(s.sandbox.payments().is_empty());
}

/// Case 2: scan during the order: "loading; pay when the order is placed" (in_process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_case_02_scan_during_the_order() {
    let s = PayStation::start(PaySetup::default()).await;
    start_filling(&s, 1, "8000").await;
    let outcome = s.scan(1, CardHolder::Apro, 1).await;
    assert_eq!(error_kind(&outcome), Some("in_process"), "{outcome:?}");
    assert!(s.sandbox.payments().is_empty());
}

/// Case 3: a QR with invalid parameters (unknown point of sale): "something went wrong".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_case_03_invalid_parameters() {
    let s = PayStation::start(PaySetup::default()).await;
    for url in [
        format!("{}/pay-mp?apies=29&pos=9", s.station.public),
        format!("{}/pay-mp?apies=31&pos=1", s.station.public),
        format!("{}/pay-mp?locationId=29", s.station.public),
    ] {
        let outcome = s
            .sandbox
            .scan(
                forecourtd::lab::sandbox::ScanTarget::Url(url.clone()),
                CardHolder::Apro,
                &s.sandbox.default_scan_options(),
            )
            .await
            .expect("scan");
        assert_eq!(error_kind(&outcome), Some("invalid"), "{url}: {outcome:?}");
    }
}

/// Case 4: scan after the order is placed: the regular payment flow; the sale is paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_case_04_scan_after_the_order() {
    let s = PayStation::start(PaySetup::default()).await;
    let order = s.dispatch(1, "5000").await;
    let payment = s.pay(1, CardHolder::Apro).await;
    assert_eq!(payment.status, PaymentStatus::Approved);
    assert_eq!(payment.transaction_amount.to_string(), "5000.00");
    assert_eq!(
        payment.external_reference.as_deref(),
        Some(reference(&order).as_str())
    );
    let record = s.wait_sale(&reference(&order), SaleStatus::Paid).await;
    assert_eq!(record.payment_id, Some(payment.id.to_string()));
}

/// Case 5: several scans with the order placed: the same order every time, paid once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_case_05_repeated_scans() {
    let s = PayStation::start(PaySetup::default()).await;
    let order = s.dispatch(1, "3000").await;
    for _ in 0..4 {
        let (status, again) = get(&s.station.public, "/pay-mp?apies=29&pos=1").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(again, order);
    }
    s.pay(1, CardHolder::Apro).await;
    s.wait_sale(&reference(&order), SaleStatus::Paid).await;
    let approved = s
        .sandbox
        .payments()
        .into_iter()
        .filter(|p| p.status == PaymentStatus::Approved)
        .count();
    assert_eq!(approved, 1);
}

/// Case 6: the user scans while the order is being placed and waits: the app keeps
/// asking, and pays once the amount is known.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_case_06_scan_waits_for_the_order() {
    let s = PayStation::start(PaySetup::default()).await;
    start_filling(&s, 2, "3000").await;
    // 3000 at 1450/l takes about three seconds at the simulated flow rate; the app polls
    // every 200 ms for up to a minute.
    let outcome = s.scan(2, CardHolder::Apro, 300).await;
    let ScanOutcome::Paid { payment, .. } = outcome else {
        panic!("expected a payment, got {outcome:?}");
    };
    assert_eq!(payment.transaction_amount.to_string(), "3000.00");
    let reference = payment.external_reference.clone().expect("reference");
    s.wait_sale(&reference, SaleStatus::Paid).await;
}

/// Case 7: pay, then scan again after the notification: "place an order first"
/// (unavailable).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_case_07_scan_after_paying() {
    let s = PayStation::start(PaySetup::default()).await;
    let order = s.dispatch(1, "5000").await;
    s.pay(1, CardHolder::Apro).await;
    s.wait_sale(&reference(&order), SaleStatus::Paid).await;
    let outcome = s.scan(1, CardHolder::Apro, 1).await;
    assert_eq!(error_kind(&outcome), Some("unavailable"), "{outcome:?}");
    assert_eq!(s.sandbox.payments().len(), 1);
}

/// Case 8: the user aborts, pays by another means (cash at the counter), scans again:
/// unavailable. A Mercado Pago payment that still arrives for that sale is refunded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_case_08_paid_by_other_means() {
    let s = PayStation::start(PaySetup {
        refund_duplicates: true,
        ..PaySetup::default()
    })
    .await;
    let order = s.dispatch(1, "5000").await;
    let sale = s.sale(&reference(&order)).await.sale.id;
    let (status, body) = post(
        &s.station.admin,
        &format!("/api/sales/{sale}/settle"),
        json!({ "note": "cash" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["status"], json!("settled_other"));
    let outcome = s.scan(1, CardHolder::Apro, 1).await;
    assert_eq!(error_kind(&outcome), Some("unavailable"), "{outcome:?}");
    assert!(s.sandbox.payments().is_empty());
    // Settling twice is refused, nothing changes.
    let (status, _) = post(
        &s.station.admin,
        &format!("/api/sales/{sale}/settle"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
}

/// Case 8, the late payment: the customer's phone had the order; the payment is approved
/// after the sale was settled in cash. It is flagged and refunded in full.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_case_08_late_payment_after_cash_is_refunded() {
    let s = PayStation::start(PaySetup {
        refund_duplicates: true,
        ..PaySetup::default()
    })
    .await;
    let order = s.dispatch(1, "5000").await;
    let sale = s.sale(&reference(&order)).await.sale.id;
    // The notification is on its way but late; meanwhile the attendant takes cash.
    s.sandbox
        .delay_notifications(std::time::Duration::from_secs(2));
    let payment = s.pay(1, CardHolder::Apro).await;
    let (status, _) = post(
        &s.station.admin,
        &format!("/api/sales/{sale}/settle"),
        json!({ "note": "cash" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let refunds = eventually("the late payment refunded", || async {
        let refunds = s.sandbox.refunds(payment.id);
        (!refunds.is_empty()).then_some(refunds)
    })
    .await;
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].amount.to_string(), "5000.00");
    let record = s.sale(&reference(&order)).await;
    assert_eq!(record.sale.status, SaleStatus::SettledOther);
    let stored = s
        .recorded_payment(payment.id, |p| p.flagged_reason.is_some())
        .await;
    assert!(stored.flagged_reason.is_some());
}

/// Case 9: the CALL card is declined ("contact your card service"), then another method
/// pays: exactly one paid sale, the declined attempt recorded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_case_09_declined_then_approved() {
    let s = PayStation::start(PaySetup::default()).await;
    let order = s.dispatch(1, "8000").await;
    let declined = s.pay(1, CardHolder::Call).await;
    assert_eq!(declined.status, PaymentStatus::Rejected);
    assert_eq!(declined.status_detail, "cc_rejected_call_for_authorize");
    // The declined payment is recorded and the sale stays payable.
    s.recorded_payment(declined.id, |_| true).await;
    assert_eq!(
        s.sale(&reference(&order)).await.sale.status,
        SaleStatus::Ready
    );
    let (status, again) = get(&s.station.public, "/pay-mp?apies=29&pos=1").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again, order);
    let approved = s.pay(1, CardHolder::Apro).await;
    let record = s.wait_sale(&reference(&order), SaleStatus::Paid).await;
    assert_eq!(record.payment_id, Some(approved.id.to_string()));
    let payments = s
        .station
        .daemon
        .journal()
        .payments_for_sale(record.sale.id)
        .await
        .expect("journal");
    assert_eq!(payments.len(), 2);
}

/// Case 10: two orders pending payment on one position: the latest is offered first, the
/// other next; both get paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_case_10_two_orders_pending() {
    let s = PayStation::start(PaySetup::default()).await;
    let first = s.dispatch(1, "3000").await;
    let second = s.dispatch(1, "5000").await;
    let paid_second = s.pay(1, CardHolder::Apro).await;
    assert_eq!(
        paid_second.external_reference.as_deref(),
        Some(reference(&second).as_str())
    );
    s.wait_sale(&reference(&second), SaleStatus::Paid).await;
    let paid_first = s.pay(1, CardHolder::Apro).await;
    assert_eq!(
        paid_first.external_reference.as_deref(),
        Some(reference(&first).as_str())
    );
    s.wait_sale(&reference(&first), SaleStatus::Paid).await;
    let outcome = s.scan(1, CardHolder::Apro, 1).await;
    assert_eq!(error_kind(&outcome), Some("unavailable"));
}

/// Seed 000 is the preference model: the answer is a preference id, created once per sale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_preference_model_pays_through_a_preference() {
    let s = PayStation::start(PaySetup {
        mode: "preference",
        ..PaySetup::default()
    })
    .await;
    programmed(&s, 1).await;
    let (status, body) = s
        .station
        .authorize(1, json!({ "amount": "5000", "attendant": "7" }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    s.rig.act(1, SimAction::LiftNozzle(NozzleId(1))).await;
    let (_, answer) = s.station.wait_for_answer(1, "order").await;
    s.rig.act(1, SimAction::HangNozzle).await;
    let id = answer["preference_id"]
        .as_str()
        .expect("preference id")
        .to_owned();
    assert!(
        id.starts_with(&format!("{}-", s.sandbox.collector_id())),
        "{id}"
    );
    for _ in 0..3 {
        let (_, again) = get(&s.station.public, "/pay-mp?apies=29&pos=1").await;
        assert_eq!(again["preference_id"], json!(id));
    }
    assert_eq!(s.sandbox.preferences().len(), 1);
    let payment = s.pay(1, CardHolder::Apro).await;
    let reference = payment.external_reference.clone().expect("reference");
    s.wait_sale(&reference, SaleStatus::Paid).await;
    let outcome = s.scan(1, CardHolder::Apro, 1).await;
    assert_eq!(error_kind(&outcome), Some("unavailable"));
}

/// Preference mode while Mercado Pago misbehaves (`trouble`, set before the sale exists):
/// the scan answers `timeout` within the bound, never hangs; once `cure` runs, the next
/// scans get the sale's one preference.
async fn preference_through_api_trouble(
    trouble: impl Fn(&SandboxHandle),
    during: impl Fn(&SandboxHandle),
    cure: impl Fn(&SandboxHandle),
) {
    let s = PayStation::start(PaySetup {
        mode: "preference",
        ..PaySetup::default()
    })
    .await;
    programmed(&s, 1).await;
    s.station.authorize(1, json!({ "amount": "3000" })).await;
    trouble(&s.sandbox);
    s.rig.act(1, SimAction::LiftNozzle(NozzleId(1))).await;
    s.station
        .wait_for("sale payable", |snap| crate::support::has_payable(snap, 1))
        .await;
    let (status, answer) = get(&s.station.public, "/pay-mp?apies=29&pos=1").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(answer["error"]["type"], json!("timeout"));
    during(&s.sandbox);
    cure(&s.sandbox);
    let (_, answer) = s.station.wait_for_answer(1, "order").await;
    assert!(answer["preference_id"].is_string(), "{answer}");
    assert_eq!(s.sandbox.preferences().len(), 1);
}

/// Preference mode with a failing API: `timeout`, then the preference once it recovers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_preference_api_failure_answers_timeout() {
    preference_through_api_trouble(
        |mp| mp.fail_api(1_000_000, 500),
        |mp| assert!(mp.preferences().is_empty()),
        |mp| mp.fail_api(0, 500),
    )
    .await;
}

/// Preference mode with a slow API (4 s a call, the endpoint may wait 2.5 s): `timeout`
/// while the creation goes on; a later scan gets its result.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_000_preference_slow_api_answers_timeout_then_the_preference() {
    preference_through_api_trouble(
        |mp| mp.slow_api(1_000_000, std::time::Duration::from_secs(4)),
        |_| {},
        |mp| mp.slow_api(0, std::time::Duration::ZERO),
    )
    .await;
}

// ---- seed 003: QR at fuel stations ----

/// Seed 003 has Mercado Pago notify by IPN (payment and merchant_order topics).
fn ipn() -> PaySetup {
    PaySetup {
        source_news: "ipn",
        ..PaySetup::default()
    }
}

/// "El usuario escanea un código válido antes de finalizar el pedido": tell the attendant
/// and wait (unavailable before the dispatch, in_process once authorized).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_003_case_1_scan_before_the_dispatch_ends() {
    let s = PayStation::start(ipn()).await;
    programmed(&s, 2).await;
    let outcome = s.scan(2, CardHolder::Apro, 1).await;
    assert_eq!(error_kind(&outcome), Some("unavailable"));
    s.station.authorize(2, json!({ "volume": "2" })).await;
    let outcome = s.scan(2, CardHolder::Apro, 1).await;
    assert_eq!(error_kind(&outcome), Some("in_process"), "{outcome:?}");
}

/// "Durante un pedido": a dispatch is running; pay when it ends (in_process).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_003_case_2_scan_during_the_dispatch() {
    let s = PayStation::start(ipn()).await;
    start_filling(&s, 1, "12000").await;
    let outcome = s.scan(1, CardHolder::Apro, 2).await;
    assert_eq!(error_kind(&outcome), Some("in_process"), "{outcome:?}");
}

/// "La URL que tiene el QR no responde": the app reports the station cannot operate with
/// this payment method.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_003_case_3_url_does_not_answer() {
    let s = PayStation::start(ipn()).await;
    let order = s.dispatch(1, "3000").await;
    let url = s.order_url(1);
    let (rig, sandbox) = s.stop_daemon().await;
    let outcome = sandbox
        .scan(
            forecourtd::lab::sandbox::ScanTarget::Url(url),
            CardHolder::Apro,
            &sandbox.default_scan_options(),
        )
        .await
        .expect("scan");
    assert!(
        matches!(outcome, ScanOutcome::StationUnreachable { .. }),
        "{outcome:?}"
    );
    assert!(sandbox.payments().is_empty());
    // Nothing is lost: the sale is still payable when the station is back.
    let station = crate::support::payments::start_daemon(&rig, &sandbox, &ipn()).await;
    let (_, again) = station.wait_for_answer(1, "order").await;
    assert_eq!(again["external_reference"], order["external_reference"]);
}

/// "La URL tiene parámetros inválidos": something went wrong (invalid).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_003_case_4_invalid_parameters() {
    let s = PayStation::start(ipn()).await;
    let (status, body) = get(&s.station.public, "/pay-mp?apies=29&pos=77").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(body["error"]["type"], json!("invalid"));
    let url = format!("{}/pay-mp?apies=abc&pos=1", s.station.public);
    let outcome = s
        .sandbox
        .scan(
            forecourtd::lab::sandbox::ScanTarget::Url(url),
            CardHolder::Apro,
            &s.sandbox.default_scan_options(),
        )
        .await
        .expect("scan");
    assert_eq!(error_kind(&outcome), Some("invalid"));
}

/// "Una vez finalizado el pedido": the checkout shows the order with its loyalty data.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_003_case_5_scan_after_the_dispatch_shows_the_checkout() {
    let s = PayStation::start(ipn()).await;
    let order = s.dispatch(2, "8000").await;
    assert_eq!(order["items"][0]["title"], json!("$8000.00 de Super"));
    assert_eq!(order["collector_id"], json!(s.sandbox.collector_id()));
    assert_eq!(
        order["loyalty"]["transaction_amount"].to_string(),
        "8000.00"
    );
    let outcome = s.scan(2, CardHolder::Cont, 2).await;
    let ScanOutcome::Paid {
        payment,
        merchant_order,
    } = outcome
    else {
        panic!("expected the checkout, got {outcome:?}");
    };
    // A pending payment (CONT) leaves the sale payable.
    assert_eq!(payment.status, PaymentStatus::InProcess);
    assert_eq!(
        merchant_order.external_reference.as_deref(),
        Some(reference(&order).as_str())
    );
    s.recorded_payment(payment.id, |_| true).await;
    assert_eq!(
        s.sale(&reference(&order)).await.sale.status,
        SaleStatus::Ready
    );
}

/// "Realiza el pago": the point of sale receives the payment: the sale is paid with the
/// payment id kept for refunds, the position released, and the sale shows on the admin API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn seed_003_case_6_payment_reaches_the_point_of_sale() {
    let s = PayStation::start(ipn()).await;
    let order = s.dispatch(1, "12000").await;
    let payment = s.pay(1, CardHolder::Apro).await;
    let record = s.wait_sale(&reference(&order), SaleStatus::Paid).await;
    assert_eq!(record.payment_id, Some(payment.id.to_string()));
    assert!(record.paid_at.is_some());
    let (status, shown) = get(&s.station.admin, &format!("/api/sales/{}", record.sale.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(shown["status"], json!("paid"));
    assert_eq!(
        shown["payments"][0]["payment_id"],
        json!(payment.id.to_string())
    );
    assert_eq!(shown["payments"][0]["status"], json!("approved"));
    let (_, answer) = get(&s.station.public, "/pay-mp?apies=29&pos=1").await;
    assert_eq!(answer["error"]["type"], json!("unavailable"));
}
