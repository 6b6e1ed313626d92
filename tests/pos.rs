//! `forecourtd pos sync`: one Mercado Pago POS per position, found again on a second run,
//! its QR data journaled, and a scan of that QR paying the pump's sale.

use forecourtd::lab::sandbox::{CardHolder, ScanOutcome, ScanTarget};
use forecourtd::sale::SaleStatus;
use hyper::StatusCode;
use serde_json::json;

use crate::support::payments::{reference, PaySetup, PayStation};
use crate::support::{get, post};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pos_sync_creates_one_pos_per_position_once_and_its_qr_pays() {
    let s = PayStation::start(PaySetup::default()).await;
    let (status, body) = post(&s.station.admin, "/api/pos/sync", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let results = body.as_array().expect("results");
    assert_eq!(results.len(), 2);
    assert!(
        results.iter().all(|r| r["outcome"] == json!("created")),
        "{body}"
    );

    let pos = s.sandbox.pos();
    assert_eq!(pos.len(), 2);
    for (n, p) in [(1, &pos[0]), (2, &pos[1])] {
        assert_eq!(
            p.external_id.as_deref(),
            Some(format!("ST29P0{n}").as_str())
        );
        assert_eq!(p.category, Some(473000));
        assert_eq!(p.fixed_amount, Some(true));
        assert_eq!(p.name.as_deref(), Some(format!("Surtidor {n}").as_str()));
        assert_eq!(p.url.as_deref(), Some(s.order_url(n).as_str()));
    }

    // A second run finds them: no duplicates.
    let (status, body) = post(&s.station.admin, "/api/pos/sync", json!({})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(body
        .as_array()
        .expect("results")
        .iter()
        .all(|r| r["outcome"] == json!("found")));
    assert_eq!(s.sandbox.pos().len(), 2);

    let (status, stored) = get(&s.station.admin, "/api/pos").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(stored.as_array().map(Vec::len), Some(2));
    assert_eq!(stored[0]["external_id"], json!("ST29P01"));
    assert!(stored[0]["qr"]["image"]
        .as_str()
        .is_some_and(|u| !u.is_empty()));

    // The customer scans the printed QR (the POS), as the app does.
    let order = s.dispatch(2, "5000").await;
    let outcome = s
        .sandbox
        .scan(
            ScanTarget::PosExternalId("ST29P02".to_owned()),
            CardHolder::Apro,
            &s.sandbox.default_scan_options(),
        )
        .await
        .expect("scan");
    let ScanOutcome::Paid { payment, .. } = outcome else {
        panic!("expected a payment, got {outcome:?}");
    };
    assert_eq!(
        payment.external_reference.as_deref(),
        Some(reference(&order).as_str())
    );
    s.wait_sale(&reference(&order), SaleStatus::Paid).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pos_sync_reports_mercado_pago_refusals() {
    let s = PayStation::start(PaySetup::default()).await;
    // As when Mercado Pago has not enabled the order URL's host (a final answer, not
    // retried).
    s.sandbox.fail_api(1000, 403);
    let (status, body) = post(&s.station.admin, "/api/pos/sync", json!({})).await;
    assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
    assert!(body
        .as_array()
        .expect("results")
        .iter()
        .all(|r| r["outcome"] == json!("failed") && r["note"].is_string()));
    let (_, stored) = get(&s.station.admin, "/api/pos").await;
    assert_eq!(stored, json!([]));
}
