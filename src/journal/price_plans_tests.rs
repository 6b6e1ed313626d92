//! Central price plans through the journal handle: applied once, older plans and the same
//! message recognised, refusals audited and reported, the plan id in the price events.

use std::collections::BTreeMap;

use pump_protocols::{GradeId, PositionId, UnitPrice};
use rust_decimal::Decimal;

use super::tests::{open, ts};
use super::*;

fn receipt(digest: &str, plan: Option<&str>, issued: Option<&str>) -> PlanReceipt {
    PlanReceipt {
        digest: digest.to_owned(),
        key: "store.29".to_owned(),
        plan_id: plan.map(str::to_owned),
        issued_at: issued.map(ts),
    }
}

fn set() -> NewPriceSet {
    NewPriceSet {
        prices: BTreeMap::from([(GradeId(1), UnitPrice::new(Decimal::from(1500)))]),
        effective_at: ts("2026-12-03T12:00:00Z"),
        created_by: "hq".to_owned(),
    }
}

#[tokio::test]
async fn a_plan_applies_once_and_an_older_one_is_recognised() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    let at = ts("2026-12-03T12:00:01Z");
    let first = receipt("d1", Some("p1"), Some("2026-12-03T11:00:00Z"));
    assert_eq!(
        journal
            .price_plan_standing(first.clone())
            .await
            .expect("standing"),
        PlanStanding::New
    );
    let record = journal
        .apply_price_plan(at, first.clone(), set())
        .await
        .expect("applied");
    let standing = |r: PlanReceipt| {
        let journal = journal.clone();
        async move { journal.price_plan_standing(r).await.expect("standing") }
    };
    assert_eq!(standing(first).await, PlanStanding::Handled);
    assert_eq!(
        standing(receipt("d2", Some("p1"), Some("2026-12-03T11:30:00Z"))).await,
        PlanStanding::Replayed
    );
    assert!(matches!(
        standing(receipt("d3", Some("p0"), Some("2026-12-03T10:00:00Z"))).await,
        PlanStanding::Older { .. }
    ));
    assert_eq!(
        standing(receipt("d4", Some("p2"), Some("2026-12-03T11:00:01Z"))).await,
        PlanStanding::New
    );

    journal
        .activate_price_set(record.id, at)
        .await
        .expect("activated");
    journal
        .price_set_pump_step(record.id, PositionId(1), at, PumpStep::Confirmed)
        .await
        .expect("confirmed");
    let events = journal.outbox_unsent(100).await.expect("outbox");
    for kind in [
        "price_set_added",
        "price_set_activated",
        "price_set_confirmed",
    ] {
        let event = events
            .iter()
            .find(|e| e.kind == kind)
            .unwrap_or_else(|| panic!("{kind} in {events:?}"));
        assert_eq!(event.payload["plan"], "p1", "{kind}");
    }
    let audit = journal.audit_trail(10, None).await.expect("audit");
    assert_eq!(audit[0].entry.actor, "hq");
    assert_eq!(audit[0].entry.outcome, AuditOutcome::Ok);
}

#[tokio::test]
async fn a_refused_plan_is_audited_and_reported_and_changes_no_price() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    let at = ts("2026-12-03T12:00:01Z");
    journal
        .refuse_price_plan(at, receipt("bad", None, None), "bad signature".to_owned())
        .await
        .expect("refused");
    assert!(journal.price_sets().await.expect("sets").is_empty());
    let events = journal.outbox_unsent(100).await.expect("outbox");
    let refused = events
        .iter()
        .find(|e| e.kind == "price_plan_refused")
        .expect("reported");
    assert_eq!(refused.payload["reason"], "bad signature");
    assert_eq!(refused.subject, "plan_key:store.29");
    let audit = journal.audit_trail(10, None).await.expect("audit");
    assert_eq!(audit[0].entry.outcome, AuditOutcome::Refused);
    assert_eq!(
        journal
            .price_plan_standing(receipt("bad", None, None))
            .await
            .expect("standing"),
        PlanStanding::Handled
    );
    // A manager's price set carries no plan.
    let manual = journal.add_price_set(set()).await.expect("set");
    let events = journal.outbox_unsent(100).await.expect("outbox");
    let added = events
        .iter()
        .find(|e| e.kind == "price_set_added" && e.payload["price_set"] == manual.id)
        .expect("added");
    assert!(added.payload.get("plan").is_none());
}
