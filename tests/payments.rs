//! Payments beyond the seed tables: forged and lost notifications, duplicate payments,
//! a crash between storing a notification and processing it, refunds.

use std::time::Duration;

use forecourtd::lab::sandbox::{CardHolder, ScanOutcome};
use forecourtd::mercadopago::signature;
use forecourtd::mercadopago::types::PaymentStatus;
use forecourtd::sale::SaleStatus;
use hyper::StatusCode;
use serde_json::{json, Value};

use crate::support::payments::{eventually, reference, ChildPayStation, PaySetup, PayStation};
use crate::support::{get, post};

async fn post_raw(
    base: &str,
    path: &str,
    headers: &[(&str, String)],
    body: Value,
) -> (StatusCode, Value) {
    use http_body_util::{BodyExt, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let mut request =
        hyper::Request::post(format!("{base}{path}")).header("content-type", "application/json");
    for (name, value) in headers {
        request = request.header(*name, value.as_str());
    }
    let request = request
        .body(Full::new(bytes::Bytes::from(body.to_string())))
        .expect("request");
    let response = client.request(request).await.expect("response");
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn notification_count(s: &PayStation) -> i64 {
    count_rows(s, "SELECT count(*) FROM notifications").await
}

/// Each sale was paid by exactly one event.
async fn assert_paid_once(s: &PayStation, sales: &[i64]) {
    for sale in sales {
        let events = s
            .station
            .daemon
            .journal()
            .events_for_sale(*sale)
            .await
            .expect("journal");
        let paid = events.iter().filter(|e| e.kind.contains("paid")).count();
        assert_eq!(paid, 1, "{events:?}");
    }
}

/// The single number a query on the journal gives.
async fn count_rows(s: &PayStation, sql: &'static str) -> i64 {
    let path = s.rig.database();
    tokio::task::spawn_blocking(move || {
        let conn = rusqlite::Connection::open(path).expect("open journal");
        conn.query_row(sql, [], |r| r.get::<_, i64>(0))
            .expect("count")
    })
    .await
    .expect("query")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_webhook_signatures_are_refused_and_nothing_is_stored() {
    let s = PayStation::start(PaySetup::default()).await;
    let order = s.dispatch(1, "5000").await;
    let path = "/mp/notifications?data.id=424242&type=payment";
    let body =
        json!({ "type": "payment", "action": "payment.updated", "data": { "id": "424242" } });
    let now = jiff::Timestamp::now().as_second().unsigned_abs();
    // Signed with the wrong secret.
    let forged = signature::sign(b"not-the-secret", Some("424242"), Some("req-1"), now);
    let (status, answer) = post_raw(
        &s.station.public,
        path,
        &[("x-signature", forged), ("x-request-id", "req-1".into())],
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{answer}");
    // The right secret but a stale timestamp.
    let secret = s.sandbox.webhook_secret().expose().as_bytes().to_vec();
    let stale = signature::sign(&secret, Some("424242"), Some("req-2"), now - 3600);
    let (status, _) = post_raw(
        &s.station.public,
        path,
        &[("x-signature", stale), ("x-request-id", "req-2".into())],
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Garbage header.
    let (status, _) = post_raw(
        &s.station.public,
        path,
        &[
            ("x-signature", "v1=zz,ts=".into()),
            ("x-request-id", "req-3".into()),
        ],
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Not JSON at all, or no id: 400.
    let (status, _) = post_raw(&s.station.public, "/mp/notifications", &[], json!("x")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(notification_count(&s).await, 0);

    // A correctly signed webhook about a payment Mercado Pago does not know is stored,
    // read from the API, found unknown and given up: it pays nothing.
    let good = signature::sign(&secret, Some("424242"), Some("req-4"), now);
    let (status, _) = post_raw(
        &s.station.public,
        path,
        &[("x-signature", good), ("x-request-id", "req-4".into())],
        body,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(notification_count(&s).await, 1);
    assert_eq!(
        s.sale(&reference(&order)).await.sale.status,
        SaleStatus::Ready
    );

    // A delivery for a real payment signed with the wrong key: every attempt is refused
    // with 401 and it decides nothing (the reconciler's search covers such a sale).
    s.sandbox.bad_signatures(1);
    let payment = s.pay(1, CardHolder::Apro).await;
    let refused = eventually("the forged delivery refused", || async {
        s.sandbox.deliveries().into_iter().find(|d| {
            d.resource_id == payment.id
                && d.bad_signature
                && d.attempts.iter().any(|a| a.status == Some(401))
        })
    })
    .await;
    assert!(refused.attempts.iter().all(|a| a.status == Some(401)));
    assert_eq!(
        s.sale(&reference(&order)).await.sale.status,
        SaleStatus::Ready
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_notifications_are_recovered_by_the_reconciler() {
    let s = PayStation::start(PaySetup {
        reconcile_after_secs: 1,
        ..PaySetup::default()
    })
    .await;
    s.sandbox.drop_notifications(1000);
    let order = s.dispatch(2, "3000").await;
    let payment = s.pay(2, CardHolder::Apro).await;
    let record = s.wait_sale(&reference(&order), SaleStatus::Paid).await;
    assert_eq!(record.payment_id, Some(payment.id.to_string()));
    assert_eq!(
        notification_count(&s).await,
        0,
        "paid without any notification"
    );
    let (_, answer) = get(&s.station.public, "/pay-mp?apies=29&pos=2").await;
    assert_eq!(answer["error"]["type"], json!("unavailable"));
}

/// Issue 9, "a paid sale can stay unpaid forever": the station answered the order, then
/// died before recording that it served it, and the notification was lost. The reconciler
/// must search every unpaid sale, served or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paid_sale_never_marked_served_is_found_by_the_reconciler() {
    let s = PayStation::start(PaySetup {
        reconcile_after_secs: 1,
        ..PaySetup::default()
    })
    .await;
    s.sandbox.drop_notifications(1000);
    let sale = s.dispatch_unscanned(1, "4000").await;
    let outcome = s.sandbox.pay_order(s.order_for(&sale), CardHolder::Apro);
    let ScanOutcome::Paid { payment, .. } = outcome else {
        panic!("expected a payment, got {outcome:?}");
    };
    let record = s
        .wait_sale(&sale.external_reference, SaleStatus::Paid)
        .await;
    assert_eq!(record.payment_id, Some(payment.id.to_string()));
    assert_eq!(record.served_count, 0, "never served by the order endpoint");
    assert_eq!(record.first_served_at, None);
    assert_eq!(
        notification_count(&s).await,
        0,
        "paid without any notification"
    );
}

/// Issue 9: every 200 answer wrote to the journal from a detached task. Now the first
/// serving of a sale is journaled once, and the count of later scans is kept in memory and
/// written at shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sale_is_journaled_served_once_however_often_it_is_scanned() {
    let s = PayStation::start(PaySetup::default()).await;
    let order = s.dispatch(1, "2000").await;
    let reference = reference(&order);
    let first = eventually("first serving journaled", || async {
        s.sale(&reference).await.first_served_at
    })
    .await;
    for _ in 0..3 {
        let (status, again) = get(&s.station.public, "/pay-mp?apies=29&pos=1").await;
        assert_eq!(status, StatusCode::OK, "{again}");
    }
    let record = s.sale(&reference).await;
    assert_eq!(record.first_served_at, Some(first));
    assert_eq!(
        record.served_count, 1,
        "later scans are not written one by one"
    );
    let sale = record.sale.id;
    let (rig, sandbox) = s.stop_daemon().await;
    let db = rig.database();
    let (count, events) = tokio::task::spawn_blocking(move || {
        let conn = rusqlite::Connection::open(db).expect("open journal");
        let count: i64 = conn
            .query_row(
                "SELECT served_count FROM sales WHERE id = ?1",
                [sale],
                |r| r.get(0),
            )
            .expect("count");
        let events: i64 = conn
            .query_row(
                "SELECT count(*) FROM events WHERE sale_id = ?1 AND kind = 'sale_served'",
                [sale],
                |r| r.get(0),
            )
            .expect("events");
        (count, events)
    })
    .await
    .expect("query");
    assert_eq!(count, 4, "the counts are written at shutdown");
    assert_eq!(events, 1);
    sandbox.shutdown().await;
}

/// Issue 9, "credentials trouble drops work": a 401 from Mercado Pago (expired or rotated
/// token) gave up every notification received meanwhile. They must wait, uncounted, show
/// in the status, and be applied once the token works again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payments_notified_while_the_token_is_refused_are_applied_once_it_works() {
    let s = PayStation::start(PaySetup::default()).await;
    let first = s.dispatch(1, "3000").await;
    let second = s.dispatch(2, "4000").await;
    s.sandbox.fail_api(1_000_000, 401);
    let paid_first = s.pay(1, CardHolder::Apro).await;
    let paid_second = s.pay(2, CardHolder::Apro).await;
    let status = eventually("the status shows the refused token", || async {
        let (_, body) = get(&s.station.admin, "/api/status").await;
        let mp = &body["mercadopago"];
        (mp["healthy"] == json!(false) && mp["last_failure"]["kind"] == json!("credentials"))
            .then_some(body)
    })
    .await;
    assert_eq!(status["mercadopago"]["last_failure"]["status"], json!(401));
    let line = forecourtd::admin_client::mercadopago_line(&status).expect("a status line");
    assert!(line.contains("access token"), "{line}");
    s.sandbox
        .wait_deliveries(|d| {
            [paid_first.id, paid_second.id].iter().all(|id| {
                d.iter().any(|r| {
                    r.resource_id == *id && r.attempts.iter().any(|a| a.status == Some(200))
                })
            })
        })
        .await;
    // Every notification is still waiting, none given up or charged an attempt.
    assert_eq!(
        count_rows(
            &s,
            "SELECT count(*) FROM notifications WHERE state <> 'pending'"
        )
        .await,
        0
    );
    assert_eq!(
        count_rows(&s, "SELECT coalesce(max(attempts), 0) FROM notifications").await,
        0
    );
    assert_eq!(
        s.sale(&reference(&first)).await.sale.status,
        SaleStatus::Ready
    );

    // The operator installs a valid token (the sandbox takes it again).
    s.sandbox.fail_api(0, 401);
    let one = s.wait_sale(&reference(&first), SaleStatus::Paid).await;
    let two = s.wait_sale(&reference(&second), SaleStatus::Paid).await;
    assert_eq!(one.payment_id, Some(paid_first.id.to_string()));
    assert_eq!(two.payment_id, Some(paid_second.id.to_string()));
    assert_paid_once(&s, &[one.sale.id, two.sale.id]).await;
    eventually("every notification done", || async {
        (count_rows(
            &s,
            "SELECT count(*) FROM notifications WHERE state <> 'done'",
        )
        .await
            == 0)
            .then_some(())
    })
    .await;
    let (_, status) = get(&s.station.admin, "/api/status").await;
    assert_eq!(status["mercadopago"]["healthy"], json!(true), "{status}");
    assert_eq!(forecourtd::admin_client::mercadopago_line(&status), None);
}

async fn second_approved_payment(refund: bool) {
    let s = PayStation::start(PaySetup {
        refund_duplicates: refund,
        ..PaySetup::default()
    })
    .await;
    let order = s.dispatch(1, "5000").await;
    // Notifications are slow: the customer (or a second phone) pays twice before the
    // first payment is applied.
    s.sandbox.delay_notifications(Duration::from_secs(2));
    let first = s.pay(1, CardHolder::Apro).await;
    let second = s.pay(1, CardHolder::Apro).await;
    assert_eq!(first.status, PaymentStatus::Approved);
    assert_eq!(second.status, PaymentStatus::Approved);
    let record = s.wait_sale(&reference(&order), SaleStatus::Paid).await;
    let paid_by = record.payment_id.clone().expect("paid");
    let other = if paid_by == first.id.to_string() {
        &second
    } else {
        &first
    };
    let flagged = s
        .recorded_payment(other.id, |p| p.flagged_reason.is_some())
        .await;
    assert!(flagged
        .flagged_reason
        .as_deref()
        .is_some_and(|r| r.contains("second approved payment")));
    if refund {
        let refunds = eventually("duplicate refunded", || async {
            let r = s.sandbox.refunds(other.id);
            (!r.is_empty()).then_some(r)
        })
        .await;
        assert_eq!(refunds.len(), 1);
        assert_eq!(refunds[0].amount.to_string(), "5000.00");
        assert!(s.sandbox.refunds(paid_by.parse().expect("id")).is_empty());
    } else {
        // Give the processor every chance to (wrongly) refund, then check it did not.
        tokio::time::sleep(Duration::from_secs(1)).await;
        assert!(s.sandbox.refunds(other.id).is_empty());
    }
    // The attendant sees it among the flagged payments.
    let (status, flagged) = get(&s.station.admin, "/api/payments/flagged").await;
    assert_eq!(status, StatusCode::OK);
    assert!(flagged
        .as_array()
        .expect("flagged")
        .iter()
        .any(|p| p["payment_id"] == json!(other.id.to_string())));
    // Exactly one paid sale.
    let (_, sales) = get(&s.station.admin, "/api/sales").await;
    let paid = sales
        .as_array()
        .expect("sales")
        .iter()
        .filter(|s| s["status"] == json!("paid"))
        .count();
    assert_eq!(paid, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_approved_payment_is_flagged() {
    second_approved_payment(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicate_approved_payment_is_refunded_when_allowed() {
    second_approved_payment(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn partial_then_total_refund_adds_up() {
    let s = PayStation::start(PaySetup::default()).await;
    let order = s.dispatch(1, "5000").await;
    let payment = s.pay(1, CardHolder::Apro).await;
    let sale = s
        .wait_sale(&reference(&order), SaleStatus::Paid)
        .await
        .sale
        .id;
    let path = format!("/api/sales/{sale}/refund");
    let (status, body) = post(&s.station.admin, &path, json!({ "amount": "1000.50" })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // More than what is left is refused.
    let (status, _) = post(&s.station.admin, &path, json!({ "amount": "4000.00" })).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = post(&s.station.admin, &path, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["refund"]["amount"].to_string(), "3999.50");
    let (status, _) = post(&s.station.admin, &path, json!({})).await;
    assert_eq!(status, StatusCode::CONFLICT, "nothing left to refund");

    let at_mp: rust_decimal::Decimal = s.sandbox.refunds(payment.id).iter().map(|r| r.amount).sum();
    assert_eq!(at_mp.to_string(), "5000.00");
    let journal = s.station.daemon.journal();
    let refunds = journal
        .refunds_for_payment(&payment.id.to_string())
        .await
        .expect("journal");
    assert_eq!(refunds.len(), 2);
    let recorded: rust_decimal::Decimal = refunds
        .iter()
        .map(|r| r.amount.map(|a| a.value()).unwrap_or_default())
        .sum();
    assert_eq!(recorded.to_string(), "5000.00");
    let stored = journal
        .payment(&payment.id.to_string())
        .await
        .expect("journal")
        .expect("payment");
    assert_eq!(stored.status, "refunded");
    let (_, shown) = get(&s.station.admin, &format!("/api/sales/{sale}")).await;
    assert_eq!(
        shown["payments"][0]["refunds"].as_array().map(Vec::len),
        Some(2)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notification_stored_before_a_crash_is_processed_once_after_restart() {
    let station = ChildPayStation::new(PaySetup::default()).await;
    let daemon = station.start_daemon().await;
    let reference = station.dispatch(&daemon, "3000").await;

    // Mercado Pago's API is down: the notification is stored and answered, but cannot be
    // processed.
    let (rig, sandbox) = (&station.rig, &station.sandbox);
    sandbox.fail_api(100_000, 503);
    let payment = station.pay(CardHolder::Apro).await;
    let db = rig.database();
    let count = |db: std::path::PathBuf| async move {
        tokio::task::spawn_blocking(move || {
            let conn = rusqlite::Connection::open(db).ok()?;
            conn.query_row(
                "SELECT count(*) FROM notifications WHERE state = 'pending'",
                [],
                |r| r.get::<_, i64>(0),
            )
            .ok()
        })
        .await
        .ok()
        .flatten()
    };
    eventually("notification stored", || {
        let db = db.clone();
        async move { count(db).await.filter(|n| *n > 0) }
    })
    .await;
    daemon.kill().await;

    // Back up, with the API working again: the stored notification is processed.
    sandbox.fail_api(0, 503);
    let daemon = station.start_daemon().await;
    let sale = daemon
        .wait_position(1, "released", |p| p["order_state"] == json!("unavailable"))
        .await;
    assert_eq!(sale["payable"], json!([]));
    let (_, sales) = get(&daemon.admin, "/api/sales").await;
    let paid: Vec<&Value> = sales
        .as_array()
        .expect("sales")
        .iter()
        .filter(|s| s["external_reference"] == json!(reference))
        .collect();
    assert_eq!(paid.len(), 1);
    assert_eq!(paid[0]["status"], json!("paid"));
    assert_eq!(paid[0]["payment_id"], json!(payment.id.to_string()));
    let id = paid[0]["id"].as_i64().expect("id");
    let (_, shown) = get(&daemon.admin, &format!("/api/sales/{id}")).await;
    let paid_events = shown["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["kind"].as_str().is_some_and(|k| k.contains("paid")))
        .count();
    assert_eq!(paid_events, 1, "{}", shown["events"]);
    daemon.kill().await;
    station.sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicated_and_reordered_notifications_are_harmless() {
    let s = PayStation::start(PaySetup {
        source_news: "ipn",
        ..PaySetup::default()
    })
    .await;
    let first = s.dispatch(1, "3000").await;
    let second = s.dispatch(2, "5000").await;
    // Every delivery twice, and the first batch held back until after the second.
    s.sandbox.duplicate_notifications(100);
    s.sandbox.reorder_notifications(1);
    let declined = s.pay(1, CardHolder::Othe).await;
    let paid_second = s.pay(2, CardHolder::Apro).await;
    let paid_first = s.pay(1, CardHolder::Apro).await;
    let one = s.wait_sale(&reference(&first), SaleStatus::Paid).await;
    let two = s.wait_sale(&reference(&second), SaleStatus::Paid).await;
    assert_eq!(one.payment_id, Some(paid_first.id.to_string()));
    assert_eq!(two.payment_id, Some(paid_second.id.to_string()));
    let declined = s.recorded_payment(declined.id, |_| true).await;
    assert_eq!(declined.status, "rejected");
    assert_paid_once(&s, &[one.sale.id, two.sale.id]).await;
}

/// Issue 9, "preferences are created with a random idempotency key": the daemon dies after
/// Mercado Pago created the sale's preference but before the journal stored its id. After
/// the restart the creation is retried with the key derived from the sale, and Mercado
/// Pago answers with the same preference instead of making a second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_preference_created_before_a_crash_is_reused_after_restart() {
    let station = ChildPayStation::new(PaySetup {
        mode: "preference",
        ..PaySetup::default()
    })
    .await;
    let sandbox = &station.sandbox;
    sandbox.stall_posts(1);
    let daemon = station.start_daemon().await;
    let reference = station.dispatch(&daemon, "2500").await;
    let created = eventually("the preference created at Mercado Pago", || async {
        sandbox.preferences().pop()
    })
    .await;
    assert_eq!(
        created.external_reference.as_deref(),
        Some(reference.as_str())
    );
    daemon.kill().await;

    let daemon = station.start_daemon().await;
    daemon
        .wait_position(1, "payable", |p| p["order_state"] == json!("payable"))
        .await;
    let payment = station.pay(CardHolder::Apro).await;
    assert_eq!(
        payment.external_reference.as_deref(),
        Some(reference.as_str())
    );
    let preferences = sandbox.preferences();
    assert_eq!(
        preferences.len(),
        1,
        "one preference per sale: {preferences:?}"
    );
    let orders = sandbox.merchant_orders();
    assert_eq!(
        orders.last().and_then(|o| o.preference_id.as_deref()),
        Some(created.id.as_str())
    );
    daemon
        .wait_position(1, "released", |p| p["order_state"] == json!("unavailable"))
        .await;
    daemon.kill().await;
    station.sandbox.shutdown().await;
}

/// Issue 9, "a refund left `requested` by a crash is retried only if someone repeats the
/// call": Mercado Pago made the refund, but the daemon died before recording the answer.
/// After the restart the refund is asked again with its own key, and completes once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_left_requested_by_a_crash_completes_once_after_restart() {
    let station = ChildPayStation::new(PaySetup::default()).await;
    let sandbox = &station.sandbox;
    let daemon = station.start_daemon().await;
    let reference = station.dispatch(&daemon, "3500").await;
    let payment = station.pay(CardHolder::Apro).await;
    let sale = daemon
        .wait_position(1, "released", |p| p["order_state"] == json!("unavailable"))
        .await;
    assert_eq!(sale["payable"], json!([]));
    let (_, sales) = get(&daemon.admin, "/api/sales").await;
    let id = sales
        .as_array()
        .and_then(|all| {
            all.iter()
                .find(|s| s["external_reference"] == json!(reference))
        })
        .and_then(|s| s["id"].as_i64())
        .expect("the sale");

    // The refund is made at Mercado Pago, but its answer never reaches the daemon, which
    // is killed while it waits.
    sandbox.stall_posts(1);
    let admin = daemon.admin.clone();
    let waiting = tokio::spawn(async move {
        let path = format!("/api/sales/{id}/refund");
        let token = crate::support::token_for(&admin);
        let _ = forecourtd::admin_client::call_as(
            &admin,
            token.as_ref(),
            hyper::Method::POST,
            &path,
            Some(&json!({})),
        )
        .await;
    });
    eventually("the refund made at Mercado Pago", || async {
        (!sandbox.refunds(payment.id).is_empty()).then_some(())
    })
    .await;
    daemon.kill().await;
    waiting.abort();
    let db = station.rig.database();
    let left = tokio::task::spawn_blocking(move || {
        let conn = rusqlite::Connection::open(db).expect("open journal");
        conn.query_row("SELECT status FROM refunds", [], |r| r.get::<_, String>(0))
            .expect("one refund row")
    })
    .await
    .expect("query");
    assert_eq!(left, "requested", "the crash left the refund unanswered");

    let daemon = station.start_daemon().await;
    let shown = eventually("the refund recorded as answered", || async {
        let (_, shown) = get(&daemon.admin, &format!("/api/sales/{id}")).await;
        let refund = shown["payments"][0]["refunds"][0].clone();
        (refund["status"] != json!("requested") && !refund.is_null()).then_some(refund)
    })
    .await;
    let at_mp = sandbox.refunds(payment.id);
    assert_eq!(at_mp.len(), 1, "refunded once: {at_mp:?}");
    assert_eq!(shown["status"], json!("approved"));
    assert_eq!(shown["mp_refund_id"], json!(at_mp[0].id.to_string()));
    daemon.kill().await;
    station.sandbox.shutdown().await;
}
