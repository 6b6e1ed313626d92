//! The outbox through the journal handle: one event per change, in the change's
//! transaction, in order, sent and pruned.

use std::collections::BTreeSet;

use serde_json::json;

use super::tests::{completed, open, ts};
use super::*;

fn audit_entry() -> AuditEntry {
    AuditEntry {
        at: ts("2026-11-22T13:45:00Z"),
        actor: "manager:ana".to_owned(),
        role: "manager".to_owned(),
        source: "127.0.0.1".to_owned(),
        method: "POST".to_owned(),
        path: "/api/sales/1/void".to_owned(),
        action: "sale.void".to_owned(),
        status: 200,
        outcome: AuditOutcome::Ok,
        detail: json!({ "note": "test" }),
    }
}

#[tokio::test]
async fn every_change_writes_one_outbox_event_in_order() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    let first = journal
        .complete_sale(completed(3, "8000.00"))
        .await
        .expect("sale");
    journal
        .mark_paid(first.id, "123", ts("2026-11-22T13:42:00Z"))
        .await
        .expect("paid");
    let second = journal
        .complete_sale(completed(4, "500.00"))
        .await
        .expect("sale");
    journal.void(second.id, "test pump").await.expect("void");
    journal.audit(audit_entry()).await.expect("audit");

    let events = journal.outbox_unsent(100).await.expect("unsent");
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "sale_completed",
            "sale_paid",
            "sale_completed",
            "sale_voided",
            "audit"
        ]
    );
    let seqs: Vec<i64> = events.iter().map(|e| e.seq).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "in order: {seqs:?}");
    let ids: BTreeSet<&str> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids.len(), events.len(), "ids are unique");
    assert!(events.iter().all(|e| e.payload["schema"] == json!(1)));
    assert_eq!(events[0].subject, format!("sale:{}", first.id));
    assert_eq!(events[0].payload["detail"]["amount"], json!("8000.00"));
    assert_eq!(events[4].payload["action"], json!("sale.void"));
    assert_eq!(journal.outbox_backlog().await.expect("backlog"), 5);
}

#[tokio::test]
async fn a_refused_change_writes_no_event_and_a_refused_event_no_change() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    let sale = journal
        .complete_sale(completed(3, "8000.00"))
        .await
        .expect("sale");
    journal.void(sale.id, "first").await.expect("void");
    let before = journal.outbox_backlog().await.expect("backlog");
    journal
        .void(sale.id, "again")
        .await
        .expect_err("voided twice");
    assert_eq!(journal.outbox_backlog().await.expect("backlog"), before);

    // The outbox refuses the kind, so the event row of the same transaction is gone too.
    let events_before = journal.recent_events(100).await.expect("events").len();
    let err = journal
        .append_event(NewEvent {
            sale: None,
            position: None,
            kind: "Not A Token".to_owned(),
            detail: json!({}),
        })
        .await
        .expect_err("kind refused");
    assert!(matches!(err, JournalError::InvalidEventKind(_)));
    assert_eq!(
        journal.recent_events(100).await.expect("events").len(),
        events_before
    );
    assert_eq!(journal.outbox_backlog().await.expect("backlog"), before);
}

#[tokio::test]
async fn sent_events_leave_the_backlog_and_are_pruned_unsent_ones_stay() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    for position in 1..=3 {
        journal
            .complete_sale(completed(position, "100.00"))
            .await
            .expect("sale");
    }
    let events = journal.outbox_unsent(2).await.expect("unsent");
    assert_eq!(events.len(), 2);
    journal
        .outbox_mark_sent(events.iter().map(|e| e.seq).collect())
        .await
        .expect("mark");
    assert_eq!(journal.outbox_backlog().await.expect("backlog"), 1);
    let rest = journal.outbox_unsent(10).await.expect("unsent");
    assert_eq!(rest.len(), 1);
    assert!(rest[0].seq > events[1].seq);
    let state = journal.outbox_state().await.expect("state");
    assert_eq!(state.events, 1);
    assert_eq!(state.oldest, Some(rest[0].created_at), "the oldest unsent");
    assert!(state
        .last_sent_at
        .is_some_and(|t| t >= events[1].created_at));

    let far = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_hours(1))
        .expect("in range");
    let report = journal.prune(far).await.expect("prune");
    assert_eq!(report.outbox, 2);
    assert_eq!(journal.outbox_backlog().await.expect("backlog"), 1);
    let report = journal.prune(far).await.expect("prune");
    assert_eq!(report.outbox, 0, "the unsent one is never pruned");
}

#[tokio::test]
async fn shifts_and_price_changes_reach_the_outbox_with_their_readings() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    let reading = NozzleTotals {
        position: pump_protocols::PositionId(1),
        nozzle: pump_protocols::NozzleId(1),
        grade: None,
        volume: Some(pump_protocols::Volume::new(rust_decimal::Decimal::from(
            1000,
        ))),
        amount: None,
        error: None,
    };
    let shift = journal
        .open_shift(NewShift {
            code: "M".to_owned(),
            at: ts("2026-11-22T06:00:00Z"),
            by: "attendant:7".to_owned(),
            totals: vec![reading.clone()],
        })
        .await
        .expect("open");
    journal
        .close_shift(
            ts("2026-11-22T14:00:00Z"),
            "attendant:7".to_owned(),
            vec![reading],
            Box::new(|shift, sales| serde_json::json!({ "shift": shift.id, "sales": sales.len() })),
        )
        .await
        .expect("close");
    let set = journal
        .add_price_set(NewPriceSet {
            prices: [(
                pump_protocols::GradeId(1),
                pump_protocols::UnitPrice::new(rust_decimal::Decimal::from(1500)),
            )]
            .into_iter()
            .collect(),
            effective_at: ts("2026-11-22T15:00:00Z"),
            created_by: "manager:ana".to_owned(),
        })
        .await
        .expect("price set");
    journal
        .activate_price_set(set.id, ts("2026-11-22T15:00:00Z"))
        .await
        .expect("activate");
    for step in [PumpStep::Sent, PumpStep::Confirmed] {
        journal
            .price_set_pump_step(
                set.id,
                pump_protocols::PositionId(1),
                ts("2026-11-22T15:00:01Z"),
                step,
            )
            .await
            .expect("step");
    }

    let events = journal.outbox_unsent(100).await.expect("unsent");
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "shift_opened",
            "shift_closed",
            "price_set_added",
            "price_set_activated",
            "price_set_confirmed"
        ]
    );
    assert_eq!(events[0].subject, format!("shift:{}", shift.id));
    assert_eq!(events[1].payload["totals"][0]["volume"], json!("1000"));
    assert_eq!(
        events[1].payload["report"],
        json!({ "shift": shift.id, "sales": 0 })
    );
    assert_eq!(events[2].payload["prices"]["1"], json!("1500"));
    assert_eq!(events[4].payload["position"], json!(1));
}
