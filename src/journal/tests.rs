//! Tests of the journal through its async handle, on temporary databases.

use std::collections::BTreeSet;
use std::str::FromStr;

use jiff::Timestamp;
use pump_protocols::{GradeId, Money, NozzleId, PositionId, Preset, UnitPrice, Volume};
use rust_decimal::Decimal;
use serde_json::json;

use tokio::sync::oneshot;

use super::*;
use crate::sale::SaleStatus;

pub(super) fn ts(s: &str) -> Timestamp {
    Timestamp::from_str(s).expect("valid time literal")
}

fn dec(s: &str) -> Decimal {
    Decimal::from_str_exact(s).expect("valid decimal literal")
}

fn settings() -> JournalSettings {
    JournalSettings {
        store_id: "29".to_owned(),
    }
}

pub(super) async fn open(dir: &tempfile::TempDir) -> Journal {
    Journal::open(dir.path().join("journal.sqlite"), settings())
        .await
        .expect("journal opens")
}

pub(super) fn completed(position: u16, amount: &str) -> CompletedSale {
    CompletedSale {
        dispatch: None,
        position: PositionId(position),
        nozzle: NozzleId(1),
        grade: Some(GradeId(2)),
        volume: Volume::new(dec("10.000")),
        amount: Money::new(dec(amount)),
        unit_price: UnitPrice::new(dec("800.00")),
        attendant: None,
        completed_at: ts("2026-11-22T13:40:49Z"),
        price_set: None,
    }
}

fn new_dispatch(position: u16) -> NewDispatch {
    NewDispatch {
        position: PositionId(position),
        attendant: Some("A17".to_owned()),
        preset: Some(Preset::Amount(Money::new(dec("8000.00")))),
        grades: Vec::new(),
        authorized_at: ts("2026-11-22T13:38:00Z"),
    }
}

#[tokio::test]
async fn a_dispatch_limited_to_grades_keeps_the_limit_in_its_row_and_event() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    let limited = journal
        .start_dispatch(NewDispatch {
            grades: vec![GradeId(2), GradeId(3)],
            ..new_dispatch(3)
        })
        .await
        .expect("dispatch started");
    let any = journal
        .start_dispatch(new_dispatch(4))
        .await
        .expect("dispatch started");
    let read = |id| {
        let journal = journal.clone();
        async move {
            journal
                .dispatch(id)
                .await
                .expect("read")
                .expect("dispatch")
                .grades
        }
    };
    assert_eq!(read(limited).await, vec![GradeId(2), GradeId(3)]);
    assert!(read(any).await.is_empty(), "no limit is stored as none");
    let details: Vec<String> = journal
        .call(|db| {
            let mut stmt = db
                .conn
                .prepare("SELECT detail FROM events WHERE kind = 'dispatch_started' ORDER BY id")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
        })
        .await
        .expect("events");
    let first: serde_json::Value = serde_json::from_str(&details[0]).expect("JSON");
    let second: serde_json::Value = serde_json::from_str(&details[1]).expect("JSON");
    assert_eq!(first["grades"], json!([2, 3]));
    assert_eq!(second["grades"], json!([]));
}

#[tokio::test]
async fn opens_migrates_and_reopens_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    journal.close().await.expect("close");
    let journal = open(&dir).await;
    let version: i64 = journal
        .call(|db| {
            Ok(db
                .conn
                .pragma_query_value(None, "user_version", |r| r.get(0))?)
        })
        .await
        .expect("version readable");
    assert_eq!(version, schema::latest_version());
    let mode: String = journal
        .call(|db| {
            Ok(db
                .conn
                .pragma_query_value(None, "journal_mode", |r| r.get(0))?)
        })
        .await
        .expect("mode readable");
    assert_eq!(mode, "wal");
    let sync: i64 = journal
        .call(|db| {
            Ok(db
                .conn
                .pragma_query_value(None, "synchronous", |r| r.get(0))?)
        })
        .await
        .expect("synchronous readable");
    assert_eq!(sync, 2, "synchronous must be FULL");
    let fk: i64 = journal
        .call(|db| {
            Ok(db
                .conn
                .pragma_query_value(None, "foreign_keys", |r| r.get(0))?)
        })
        .await
        .expect("foreign_keys readable");
    assert_eq!(fk, 1);
    journal.close().await.expect("close");
}

#[tokio::test]
async fn a_newer_schema_is_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("journal.sqlite");
    {
        let conn = Connection::open(&path).expect("open raw");
        conn.pragma_update(None, "user_version", schema::latest_version() + 3)
            .expect("set version");
    }
    let err = Journal::open(&path, settings())
        .await
        .expect_err("must refuse");
    match &err {
        JournalError::NewerSchema { found, supported } => {
            assert_eq!(*found, schema::latest_version() + 3);
            assert_eq!(*supported, schema::latest_version());
        }
        other => panic!("expected NewerSchema, got {other:?}"),
    }
    assert!(err.to_string().contains("newer"), "{err}");
}

#[tokio::test]
async fn a_missing_directory_or_bad_store_id_is_refused() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("absent").join("journal.sqlite");
    let err = Journal::open(&path, settings())
        .await
        .expect_err("must refuse");
    assert!(matches!(err, JournalError::MissingDirectory(p) if p == dir.path().join("absent")));
    assert!(
        !dir.path().join("absent").exists(),
        "the directory is never created"
    );

    let bad = JournalSettings {
        store_id: "29-A".to_owned(),
    };
    let err = Journal::open(dir.path().join("j.sqlite"), bad)
        .await
        .expect_err("must refuse");
    assert!(matches!(err, JournalError::InvalidStoreId(_)));
}

#[tokio::test]
async fn the_invoice_counter_is_monotonic_and_survives_reopen() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    let mut invoices = Vec::new();
    for position in [3, 4, 3] {
        let sale = journal
            .complete_sale(completed(position, "8000.00"))
            .await
            .expect("sale recorded");
        invoices.push(sale.invoice_number);
    }
    let sale = journal.sale(1).await.expect("read").expect("sale 1 exists");
    assert_eq!(sale.external_reference, "ST29P03T000001");
    assert_eq!(sale.transaction_id, "00029-P03-000001");
    journal.close().await.expect("close");

    let journal = open(&dir).await;
    let sale = journal
        .complete_sale(completed(4, "100.00"))
        .await
        .expect("sale recorded");
    invoices.push(sale.invoice_number);
    assert_eq!(invoices, vec![1, 2, 3, 4]);
    assert_eq!(sale.external_reference, "ST29P04T000004");
    assert_eq!(sale.transaction_id, "00029-P04-000004");
    journal.close().await.expect("close");
}

#[tokio::test]
async fn identities_past_six_digits_and_the_eight_digit_limit() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    journal
        .raw(|c| {
            c.execute("UPDATE counters SET value = 1234566", [])
                .map(|_| ())
        })
        .await
        .expect("counter moved");
    let sale = journal
        .complete_sale(completed(12, "1.00"))
        .await
        .expect("sale recorded");
    assert_eq!(sale.invoice_number, 1_234_567);
    assert_eq!(sale.external_reference, "ST29P12T1234567");
    assert_eq!(sale.transaction_id, "00029-P12-1234567");

    journal
        .raw(|c| {
            c.execute("UPDATE counters SET value = 99999999", [])
                .map(|_| ())
        })
        .await
        .expect("counter moved");
    let err = journal
        .complete_sale(completed(12, "1.00"))
        .await
        .expect_err("no 9-digit invoice");
    assert!(matches!(
        err,
        JournalError::InvoiceCounterExhausted(100_000_000)
    ));
    let value: i64 = journal
        .call(|db| {
            Ok(db.conn.query_row(
                "SELECT value FROM counters WHERE name = 'invoice'",
                [],
                |r| r.get(0),
            )?)
        })
        .await
        .expect("counter readable");
    assert_eq!(value, 99_999_999, "a refused sale consumes no number");
    assert_eq!(journal.unpaid_sales().await.expect("read").len(), 1);
}

#[tokio::test]
async fn the_counter_cannot_go_back() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    journal
        .complete_sale(completed(3, "1.00"))
        .await
        .expect("sale");
    let err = journal
        .raw(|c| c.execute("UPDATE counters SET value = 0", []).map(|_| ()))
        .await
        .expect_err("trigger refuses");
    assert!(err.to_string().contains("never decrease"), "{err}");
}

#[tokio::test]
async fn complete_sale_links_the_dispatch_and_is_durable_without_close() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    let dispatch = journal
        .start_dispatch(new_dispatch(3))
        .await
        .expect("dispatch started");
    let open_now = journal
        .open_dispatch(PositionId(3))
        .await
        .expect("read")
        .expect("open dispatch");
    assert_eq!(open_now.id, dispatch);
    assert_eq!(
        open_now.preset,
        Some(Preset::Amount(Money::new(dec("8000.00"))))
    );

    let mut c = completed(3, "8000.00");
    c.dispatch = Some(dispatch);
    let sale = journal.complete_sale(c).await.expect("sale recorded");
    assert_eq!(sale.status, SaleStatus::Ready);
    assert_eq!(
        sale.attendant.as_deref(),
        Some("A17"),
        "taken from the dispatch"
    );
    assert_eq!(sale.amount, Money::new(dec("8000.00")));
    assert_eq!(sale.amount.to_string(), "8000.00", "the scale is kept");

    // No close, no checkpoint, the thread still holds its connection: the sale must
    // already be in the files for a second connection to see.
    std::mem::forget(journal);
    let journal = open(&dir).await;
    let record = journal
        .sale_record(sale.id)
        .await
        .expect("read")
        .expect("sale persisted");
    assert_eq!(record.sale, sale);
    assert_eq!(record.dispatch, Some(dispatch));
    let d = journal
        .dispatch(dispatch)
        .await
        .expect("read")
        .expect("dispatch");
    assert_eq!(d.sale, Some(sale.id));
    assert!(journal
        .open_dispatch(PositionId(3))
        .await
        .expect("read")
        .is_none());
    let kinds: Vec<String> = journal
        .events_for_sale(sale.id)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(kinds, vec![events::kind::SALE_COMPLETED]);
}

#[tokio::test]
async fn dispatch_rules_one_open_per_position() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    let first = journal
        .start_dispatch(new_dispatch(3))
        .await
        .expect("first");
    let err = journal
        .start_dispatch(new_dispatch(3))
        .await
        .expect_err("second open dispatch refused");
    assert!(matches!(
        err,
        JournalError::DispatchAlreadyOpen { existing, .. } if existing == first
    ));
    let other = journal
        .start_dispatch(new_dispatch(4))
        .await
        .expect("other position");
    let open_all = journal.open_dispatches().await.expect("read");
    assert_eq!(
        open_all.iter().map(|d| d.id).collect::<Vec<_>>(),
        vec![first, other]
    );

    let mut wrong = completed(5, "1.00");
    wrong.dispatch = Some(first);
    let err = journal
        .complete_sale(wrong)
        .await
        .expect_err("position mismatch");
    assert!(matches!(err, JournalError::DispatchPositionMismatch { .. }));

    journal
        .cancel_dispatch(first, closure("customer left"))
        .await
        .expect("cancel");
    let mut late = completed(3, "1.00");
    late.dispatch = Some(first);
    let err = journal
        .complete_sale(late)
        .await
        .expect_err("cancelled dispatch");
    assert!(matches!(err, JournalError::DispatchNotOpen(id) if id == first));
    assert!(matches!(
        journal.cancel_dispatch(first, closure("again")).await,
        Err(JournalError::DispatchNotOpen(_))
    ));
    assert!(journal.unpaid_sales().await.expect("read").is_empty());
    let d = journal
        .dispatch(first)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(d.cancel_reason.as_deref(), Some("customer left"));
    journal
        .start_dispatch(new_dispatch(3))
        .await
        .expect("position free again");
}

#[tokio::test]
async fn invalid_transitions_change_nothing() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    let sale = journal
        .complete_sale(completed(3, "8000.00"))
        .await
        .expect("sale");
    let paid_at = ts("2026-11-22T13:42:00Z");
    let paid = journal
        .mark_paid(sale.id, "123456789", paid_at)
        .await
        .expect("paid");
    assert_eq!(paid.status, SaleStatus::Paid);
    let before = journal
        .sale_record(sale.id)
        .await
        .expect("read")
        .expect("exists");
    let events_before = journal.events_for_sale(sale.id).await.expect("events");

    let err = journal
        .void(sale.id, "oops")
        .await
        .expect_err("paid cannot be voided");
    assert!(matches!(
        err,
        JournalError::InvalidTransition {
            from: SaleStatus::Paid,
            to: SaleStatus::Voided,
            ..
        }
    ));
    assert!(matches!(
        journal.settle_other(sale.id, "cash").await,
        Err(JournalError::InvalidTransition {
            from: SaleStatus::Paid,
            to: SaleStatus::SettledOther,
            ..
        })
    ));
    assert!(matches!(
        journal.mark_paid(sale.id, "999", paid_at).await,
        Err(JournalError::InvalidTransition {
            from: SaleStatus::Paid,
            to: SaleStatus::Paid,
            ..
        })
    ));
    assert!(matches!(
        journal.void(424242, "none").await,
        Err(JournalError::SaleNotFound(424242))
    ));

    let after = journal
        .sale_record(sale.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(after, before);
    assert_eq!(after.payment_id.as_deref(), Some("123456789"));
    assert_eq!(after.paid_at, Some(paid_at));
    assert_eq!(
        journal.events_for_sale(sale.id).await.expect("events"),
        events_before
    );

    let other = journal
        .complete_sale(completed(3, "5.00"))
        .await
        .expect("sale");
    let voided = journal.void(other.id, "test dispatch").await.expect("void");
    assert_eq!(voided.status, SaleStatus::Voided);
    assert!(matches!(
        journal.settle_other(other.id, "cash").await,
        Err(JournalError::InvalidTransition {
            from: SaleStatus::Voided,
            ..
        })
    ));
    let third = journal
        .complete_sale(completed(4, "5.00"))
        .await
        .expect("sale");
    let settled = journal
        .settle_other(third.id, "cash")
        .await
        .expect("settle");
    assert_eq!(settled.status, SaleStatus::SettledOther);
    let record = journal
        .sale_record(third.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(record.settled_note.as_deref(), Some("cash"));
}

#[tokio::test]
async fn unpaid_sales_and_latest_payable_choose_correctly() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    let a = journal
        .complete_sale(completed(3, "100.00"))
        .await
        .expect("a");
    let c = journal
        .complete_sale(completed(4, "300.00"))
        .await
        .expect("c");
    let b = journal
        .complete_sale(completed(3, "200.00"))
        .await
        .expect("b");

    let unpaid: Vec<SaleId> = journal
        .unpaid_sales()
        .await
        .expect("read")
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(unpaid, vec![a.id, c.id, b.id]);
    let latest = journal.latest_payable(PositionId(3)).await.expect("read");
    assert_eq!(
        latest.map(|s| s.id),
        Some(b.id),
        "the newest ready sale of the position"
    );
    assert_eq!(
        journal
            .latest_payable(PositionId(4))
            .await
            .expect("read")
            .map(|s| s.id),
        Some(c.id)
    );
    assert_eq!(
        journal.latest_payable(PositionId(5)).await.expect("read"),
        None
    );

    journal
        .mark_paid(b.id, "1", ts("2026-11-22T14:00:00Z"))
        .await
        .expect("paid");
    let latest = journal.latest_payable(PositionId(3)).await.expect("read");
    assert_eq!(
        latest.map(|s| s.id),
        Some(a.id),
        "the older one is still owed"
    );
    journal.void(a.id, "drive-off").await.expect("void");
    assert_eq!(
        journal.latest_payable(PositionId(3)).await.expect("read"),
        None
    );
    let unpaid: Vec<SaleId> = journal
        .unpaid_sales()
        .await
        .expect("read")
        .iter()
        .map(|s| s.id)
        .collect();
    assert_eq!(unpaid, vec![c.id]);
    let recent: Vec<SaleId> = journal
        .recent_sales(2)
        .await
        .expect("read")
        .iter()
        .map(|r| r.sale.id)
        .collect();
    assert_eq!(recent, vec![b.id, c.id]);
}

#[tokio::test]
async fn references_are_found_ignoring_case() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    let sale = journal
        .complete_sale(completed(3, "100.00"))
        .await
        .expect("sale");
    let found = journal
        .sale_by_reference(&sale.external_reference.to_ascii_lowercase())
        .await
        .expect("read");
    assert_eq!(found.map(|s| s.id), Some(sale.id));
    assert_eq!(
        journal
            .sale_by_reference("ST29P03T999999")
            .await
            .expect("read"),
        None
    );
}

#[tokio::test]
async fn serving_and_preferences() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    let sale = journal
        .complete_sale(completed(3, "100.00"))
        .await
        .expect("sale");
    let first = ts("2026-11-22T13:41:00Z");
    let tally = |count, first_at| ServedTally {
        sale: sale.id,
        count,
        first_at,
    };
    journal
        .record_served(vec![tally(1, Some(first))])
        .await
        .expect("served");
    assert_eq!(
        journal.served_unpaid_sales().await.expect("read"),
        vec![sale.id]
    );
    // A later first serving (e.g. counted again after a restart) keeps the first time and
    // writes no second event; a tally for an unknown sale is skipped.
    journal
        .record_served(vec![
            tally(1, Some(ts("2026-11-22T13:41:30Z"))),
            ServedTally {
                sale: sale.id + 100,
                count: 3,
                first_at: None,
            },
        ])
        .await
        .expect("served");
    let record = journal
        .sale_record(sale.id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(record.served_count, 2);
    assert_eq!(record.first_served_at, Some(first));

    let stored = journal
        .set_preference(sale.id, "1273205088-aaa")
        .await
        .expect("set");
    assert_eq!(stored, "1273205088-aaa");
    let stored = journal
        .set_preference(sale.id, "1273205088-bbb")
        .await
        .expect("set");
    assert_eq!(stored, "1273205088-aaa", "the first preference wins");
    let sale = journal.sale(sale.id).await.expect("read").expect("exists");
    assert_eq!(sale.preference_id.as_deref(), Some("1273205088-aaa"));
    let kinds: Vec<String> = journal
        .events_for_sale(sale.id)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            events::kind::SALE_COMPLETED,
            events::kind::SALE_SERVED,
            events::kind::PREFERENCE_SET
        ]
    );
}

#[tokio::test]
async fn events_cannot_be_updated_or_deleted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    let id = journal
        .append_event(NewEvent {
            sale: None,
            position: Some(PositionId(3)),
            kind: "pump_offline".to_owned(),
            detail: json!({ "line": "ttyUSB0" }),
        })
        .await
        .expect("appended");
    let before = journal.event(id).await.expect("read").expect("exists");
    assert_eq!(before.detail, json!({ "line": "ttyUSB0" }));

    let err = journal
        .raw(move |c| {
            c.execute("UPDATE events SET kind = 'edited' WHERE id = ?1", [id])
                .map(|_| ())
        })
        .await
        .expect_err("update refused");
    assert!(err.to_string().contains("append-only"), "{err}");
    let err = journal
        .raw(move |c| {
            c.execute("DELETE FROM events WHERE id = ?1", [id])
                .map(|_| ())
        })
        .await
        .expect_err("delete refused");
    assert!(err.to_string().contains("append-only"), "{err}");
    assert_eq!(journal.event(id).await.expect("read"), Some(before));
    assert_eq!(journal.recent_events(10).await.expect("read").len(), 1);
}

fn notification(
    topic: &str,
    resource: &str,
    request_id: Option<&str>,
    at: &str,
) -> NewNotification {
    NewNotification {
        received_at: ts(at),
        source: if request_id.is_some() {
            NotificationSource::Webhook
        } else {
            NotificationSource::Ipn
        },
        topic: topic.to_owned(),
        resource_id: resource.to_owned(),
        request_id: request_id.map(str::to_owned),
        query: format!("topic={topic}&id={resource}"),
        body: Some("{}".to_owned()),
        verified: if request_id.is_some() {
            Verification::Valid
        } else {
            Verification::Ipn
        },
    }
}

#[tokio::test]
async fn notifications_are_deduplicated_by_key() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    let t0 = "2026-11-22T13:42:00Z";
    let ipn = journal
        .store_notification(notification("payment", "123", None, t0))
        .await
        .expect("stored");
    let StoreOutcome::Inserted(ipn_id) = ipn else {
        panic!("expected Inserted, got {ipn:?}")
    };
    let again = journal
        .store_notification(notification("payment", "123", None, "2026-11-22T13:42:01Z"))
        .await
        .expect("stored");
    assert_eq!(again, StoreOutcome::Duplicate(ipn_id));
    let signed = journal
        .store_notification(notification("payment", "123", Some("req-1"), t0))
        .await
        .expect("stored");
    assert!(matches!(signed, StoreOutcome::Inserted(id) if id != ipn_id));
    let signed_again = journal
        .store_notification(notification("payment", "123", Some("req-1"), t0))
        .await
        .expect("stored");
    assert_eq!(signed_again, StoreOutcome::Duplicate(signed.id()));
    let other_topic = journal
        .store_notification(notification("merchant_order", "123", None, t0))
        .await
        .expect("stored");
    assert!(matches!(other_topic, StoreOutcome::Inserted(_)));

    let n = journal
        .notification(ipn_id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(n.deliveries, 2);
    assert_eq!(n.received_at, ts(t0));
    assert_eq!(n.last_received_at, ts("2026-11-22T13:42:01Z"));
    assert_eq!(n.request_id, None);
    assert_eq!(n.state, NotificationState::Pending);

    // A finished notification repeated later is pending again (the resource changed).
    journal
        .finish_notification(ipn_id, NotificationOutcome::Done)
        .await
        .expect("finished");
    let later = journal
        .store_notification(notification("payment", "123", None, "2026-11-22T14:00:00Z"))
        .await
        .expect("stored");
    assert_eq!(later, StoreOutcome::Rearmed(ipn_id));
    let n = journal
        .notification(ipn_id)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(
        (n.state, n.attempts, n.deliveries),
        (NotificationState::Pending, 0, 3)
    );
}

#[tokio::test]
async fn pending_notifications_follow_their_schedule() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    let a = journal
        .store_notification(notification("payment", "1", None, "2026-11-22T13:00:00Z"))
        .await
        .expect("a")
        .id();
    let b = journal
        .store_notification(notification("payment", "2", None, "2026-11-22T13:00:00.5Z"))
        .await
        .expect("b")
        .id();
    let c = journal
        .store_notification(notification("payment", "3", None, "2026-11-22T13:05:00Z"))
        .await
        .expect("c")
        .id();
    let due = |now: &'static str| {
        let journal = journal.clone();
        async move {
            journal
                .pending_notifications(ts(now), 10)
                .await
                .expect("read")
                .iter()
                .map(|n| n.id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(due("2026-11-22T12:59:59Z").await, Vec::<i64>::new());
    assert_eq!(due("2026-11-22T13:00:00Z").await, vec![a]);
    assert_eq!(due("2026-11-22T13:01:00Z").await, vec![a, b]);

    journal
        .retry_notification(a, "API 503", ts("2026-11-22T13:10:00Z"))
        .await
        .expect("retry");
    journal
        .finish_notification(b, NotificationOutcome::Failed("unknown topic".to_owned()))
        .await
        .expect("failed");
    assert_eq!(due("2026-11-22T13:06:00Z").await, vec![c]);
    assert_eq!(due("2026-11-22T13:10:00Z").await, vec![c, a]);
    let n = journal
        .notification(a)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!((n.attempts, n.last_error.as_deref()), (1, Some("API 503")));
    let n = journal
        .notification(b)
        .await
        .expect("read")
        .expect("exists");
    assert_eq!(n.state, NotificationState::Failed);
    assert!(matches!(
        journal
            .finish_notification(999, NotificationOutcome::Done)
            .await,
        Err(JournalError::NotificationNotFound(999))
    ));
}

fn payment(id: &str, sale: Option<SaleId>, status: &str) -> PaymentRecord {
    PaymentRecord {
        payment_id: id.to_owned(),
        sale,
        status: status.to_owned(),
        status_detail: Some("accredited".to_owned()),
        amount: Money::new(dec("8000.00")),
        currency: "ARS".to_owned(),
        external_reference: Some("ST29P03T000001".to_owned()),
        flagged_reason: None,
        raw: r#"{"id":123,"transaction_amount":8000.00}"#.to_owned(),
        seen_at: ts("2026-11-22T13:42:00Z"),
    }
}

#[tokio::test]
async fn payments_and_refunds_round_trip() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    let sale = journal
        .complete_sale(completed(3, "8000.00"))
        .await
        .expect("sale");
    let p = payment("123", Some(sale.id), "approved");
    assert_eq!(
        journal.upsert_payment(p.clone()).await.expect("upsert"),
        PaymentChange::Inserted
    );
    assert_eq!(
        journal.upsert_payment(p.clone()).await.expect("upsert"),
        PaymentChange::Unchanged
    );
    let mut refunded = p.clone();
    refunded.status = "refunded".to_owned();
    refunded.flagged_reason = Some("refunded".to_owned());
    assert_eq!(
        journal
            .upsert_payment(refunded.clone())
            .await
            .expect("upsert"),
        PaymentChange::Updated
    );
    assert_eq!(journal.payment("123").await.expect("read"), Some(refunded));
    assert_eq!(
        journal
            .payments_for_sale(sale.id)
            .await
            .expect("read")
            .len(),
        1
    );
    let mut bad = p.clone();
    bad.raw = "not json".to_owned();
    assert!(matches!(
        journal.upsert_payment(bad).await,
        Err(JournalError::InvalidJson { .. })
    ));

    let ask = NewRefund {
        payment_id: "123".to_owned(),
        amount: Some(Money::new(dec("1000.00"))),
        idempotency_key: "key-1".to_owned(),
        created_at: ts("2026-11-22T15:00:00Z"),
    };
    let RefundOutcome::Inserted(first) = journal.insert_refund(ask.clone()).await.expect("refund")
    else {
        panic!("expected a new refund")
    };
    assert_eq!(first.status, payments::REFUND_REQUESTED);
    assert_eq!(
        journal.insert_refund(ask.clone()).await.expect("refund"),
        RefundOutcome::Existing(first.clone())
    );
    let mut conflicting = ask.clone();
    conflicting.amount = None;
    assert!(matches!(
        journal.insert_refund(conflicting).await,
        Err(JournalError::IdempotencyConflict { existing, .. }) if existing == first.id
    ));
    let mut unknown = ask.clone();
    unknown.payment_id = "999".to_owned();
    unknown.idempotency_key = "key-2".to_owned();
    assert!(matches!(
        journal.insert_refund(unknown).await,
        Err(JournalError::PaymentNotFound(_))
    ));
    let updated = journal
        .update_refund(first.id, Some("r-77".to_owned()), "approved")
        .await
        .expect("updated");
    assert_eq!(
        (updated.mp_refund_id.as_deref(), updated.status.as_str()),
        (Some("r-77"), "approved")
    );
    let all = journal.refunds_for_payment("123").await.expect("read");
    assert_eq!(all, vec![updated]);
    let kinds: Vec<String> = journal
        .events_for_sale(sale.id)
        .await
        .expect("events")
        .into_iter()
        .map(|e| e.kind)
        .collect();
    assert_eq!(
        kinds,
        vec![
            events::kind::SALE_COMPLETED,
            events::kind::PAYMENT_RECORDED,
            events::kind::PAYMENT_RECORDED,
            events::kind::REFUND_REQUESTED,
            events::kind::REFUND_UPDATED,
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_callers_get_consistent_results() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    const TASKS: u16 = 8;
    const EACH: usize = 25;
    let mut tasks = tokio::task::JoinSet::new();
    for task in 0..TASKS {
        let journal = journal.clone();
        tasks.spawn(async move {
            let mut mine = Vec::new();
            for _ in 0..EACH {
                let sale = journal
                    .complete_sale(completed(task + 1, "1.00"))
                    .await
                    .expect("sale recorded");
                // Read back through another request: it must see this task's own write.
                let latest = journal
                    .latest_payable(PositionId(task + 1))
                    .await
                    .expect("read")
                    .expect("a payable sale");
                assert_eq!(latest.id, sale.id);
                mine.push(sale);
            }
            mine
        });
    }
    let mut invoices = BTreeSet::new();
    let mut references = BTreeSet::new();
    while let Some(done) = tasks.join_next().await {
        for sale in done.expect("task finished") {
            assert!(invoices.insert(sale.invoice_number), "duplicate invoice");
            assert!(
                references.insert(sale.external_reference),
                "duplicate reference"
            );
        }
    }
    let total = usize::from(TASKS) * EACH;
    let expected: BTreeSet<u64> = (1..=u64::try_from(total).expect("small")).collect();
    assert_eq!(invoices, expected, "no gaps, no repeats");
    assert_eq!(journal.unpaid_sales().await.expect("read").len(), total);
    assert_eq!(
        journal.recent_events(1000).await.expect("read").len(),
        total
    );
    journal.close().await.expect("close");
}

#[tokio::test]
async fn close_answers_queued_requests_then_refuses() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;

    // Hold the journal thread inside a request, so that the close and the requests
    // after it pile up in the queue in a known order.
    let (started_tx, started_rx) = oneshot::channel::<()>();
    let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
    let blocker = {
        let j = journal.clone();
        tokio::spawn(async move {
            j.call(move |_| {
                let _ = started_tx.send(());
                let _ = gate_rx.recv();
                Ok(())
            })
            .await
        })
    };
    started_rx
        .await
        .expect("the journal thread runs the blocker");

    let closer = {
        let j = journal.clone();
        tokio::spawn(async move { j.close().await })
    };
    // On this single-threaded runtime, yielding lets every spawned task run up to its
    // first wait, i.e. until its message is in the queue.
    for _ in 0..5 {
        tokio::task::yield_now().await;
    }
    let mut queued = Vec::new();
    for _ in 0..20 {
        let j = journal.clone();
        queued.push(tokio::spawn(async move {
            j.complete_sale(completed(3, "1.00")).await
        }));
    }
    for _ in 0..5 {
        tokio::task::yield_now().await;
    }
    gate_tx.send(()).expect("blocker still waiting");

    blocker.await.expect("task").expect("blocker answered");
    closer.await.expect("task").expect("close");
    for handle in queued {
        handle
            .await
            .expect("task")
            .expect("a request queued before the thread saw the close is answered");
    }
    assert!(matches!(
        journal.unpaid_sales().await,
        Err(JournalError::Closed)
    ));
    journal.close().await.expect("closing twice is harmless");

    // The close folded the WAL into the main file.
    let wal = dir.path().join("journal.sqlite-wal");
    let wal_len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(wal_len, 0, "the WAL is checkpointed on close");

    let journal = open(&dir).await;
    assert_eq!(journal.unpaid_sales().await.expect("read").len(), 20);
}

#[tokio::test]
async fn a_corrupted_row_is_a_typed_error() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    let sale = journal
        .complete_sale(completed(3, "8000.00"))
        .await
        .expect("sale");
    let id = sale.id;
    journal
        .raw(move |c| {
            c.execute("UPDATE sales SET amount = '8.000,00' WHERE id = ?1", [id])
                .map(|_| ())
        })
        .await
        .expect("corrupted");
    match journal.sale(id).await {
        Err(JournalError::Corrupt {
            table,
            column,
            row,
            reason,
        }) => {
            assert_eq!((table, column, row), ("sales", "amount", id));
            assert!(reason.contains("8.000,00"), "{reason}");
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    assert!(matches!(
        journal.unpaid_sales().await,
        Err(JournalError::Corrupt {
            column: "amount",
            ..
        })
    ));

    let other = journal
        .complete_sale(completed(4, "1.00"))
        .await
        .expect("sale")
        .id;
    journal
        .raw(move |c| {
            c.pragma_update(None, "ignore_check_constraints", true)?;
            c.execute("UPDATE sales SET status = 'lost' WHERE id = ?1", [other])?;
            c.pragma_update(None, "ignore_check_constraints", false)
        })
        .await
        .expect("corrupted");
    assert!(matches!(
        journal.sale(other).await,
        Err(JournalError::Corrupt { table: "sales", column: "status", row, .. }) if row == other
    ));
    assert!(matches!(
        journal.void(other, "x").await,
        Err(JournalError::Corrupt {
            column: "status",
            ..
        })
    ));
}

#[tokio::test]
async fn a_request_runs_to_its_end_even_if_the_caller_stops_waiting() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    let (started_tx, started_rx) = oneshot::channel::<()>();
    let (gate_tx, gate_rx) = std::sync::mpsc::channel::<()>();
    let blocker = {
        let j = journal.clone();
        tokio::spawn(async move {
            j.call(move |_| {
                let _ = started_tx.send(());
                let _ = gate_rx.recv();
                Ok(())
            })
            .await
        })
    };
    started_rx
        .await
        .expect("the journal thread runs the blocker");
    let caller = {
        let j = journal.clone();
        tokio::spawn(async move { j.complete_sale(completed(3, "1.00")).await })
    };
    for _ in 0..5 {
        tokio::task::yield_now().await;
    }
    // The HTTP handler (say) is cancelled while its sale waits in the queue.
    caller.abort();
    assert!(caller.await.is_err_and(|e| e.is_cancelled()));
    gate_tx.send(()).expect("blocker still waiting");
    blocker.await.expect("task").expect("blocker answered");
    let unpaid = journal.unpaid_sales().await.expect("read");
    assert_eq!(unpaid.len(), 1, "the queued sale was recorded all the same");
}

fn closure(reason: &str) -> crate::journal::DispatchClosure {
    crate::journal::DispatchClosure {
        reason: reason.to_owned(),
        refused: false,
        by: None,
    }
}

fn totals(position: u16, volume: &str) -> NozzleTotals {
    NozzleTotals {
        position: PositionId(position),
        nozzle: NozzleId(1),
        grade: Some(GradeId(2)),
        volume: Some(Volume::new(dec(volume))),
        amount: None,
        error: None,
    }
}

#[tokio::test]
async fn one_shift_at_a_time_and_its_sales_carry_it() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    let before = journal
        .complete_sale(completed(3, "100.00"))
        .await
        .expect("sale");
    assert_eq!(before.shift, None, "no shift open yet");
    let shift = journal
        .open_shift(NewShift {
            code: "2".to_owned(),
            at: ts("2026-12-03T09:00:00Z"),
            by: "attendant:7".to_owned(),
            totals: vec![totals(3, "100.00")],
        })
        .await
        .expect("opens");
    let again = journal
        .open_shift(NewShift {
            code: "3".to_owned(),
            at: ts("2026-12-03T09:01:00Z"),
            by: "attendant:7".to_owned(),
            totals: Vec::new(),
        })
        .await;
    assert!(matches!(again, Err(JournalError::ShiftOpen(id)) if id == shift.id));
    let during = journal
        .complete_sale(completed(3, "200.00"))
        .await
        .expect("sale");
    assert_eq!(
        during.shift,
        Some(crate::sale::ShiftTag {
            id: shift.id,
            code: "2".to_owned()
        })
    );
    let closed = journal
        .close_shift(
            ts("2026-12-03T17:00:00Z"),
            "manager:ana".to_owned(),
            vec![totals(3, "110.00")],
            Box::new(|_, _| serde_json::Value::Null),
        )
        .await
        .expect("closes");
    assert_eq!(closed.open_totals, vec![totals(3, "100.00")]);
    assert_eq!(closed.close_totals, Some(vec![totals(3, "110.00")]));
    assert!(matches!(
        journal
            .close_shift(
                ts("2026-12-03T17:01:00Z"),
                "x".to_owned(),
                Vec::new(),
                Box::new(|_, _| serde_json::Value::Null),
            )
            .await,
        Err(JournalError::NoShiftOpen)
    ));
    let sales = journal.shift_sales(shift.id).await.expect("sales");
    assert_eq!(
        sales.iter().map(|r| r.sale.id).collect::<Vec<_>>(),
        vec![during.id]
    );
    assert_eq!(
        journal
            .shifts_opened_since(ts("2026-12-03T00:00:00Z"))
            .await
            .expect("count"),
        1
    );
}

#[tokio::test]
async fn a_price_set_records_activation_and_each_pumps_confirmation() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    let set = journal
        .add_price_set(NewPriceSet {
            prices: [(GradeId(2), UnitPrice::new(dec("1500.00")))].into(),
            effective_at: ts("2026-12-04T09:00:00Z"),
            created_by: "manager:ana".to_owned(),
        })
        .await
        .expect("recorded");
    assert_eq!(set.activated_at, None);
    journal
        .activate_price_set(set.id, ts("2026-12-04T09:00:00Z"))
        .await
        .expect("activated");
    let at = ts("2026-12-04T09:00:01Z");
    for step in [
        PumpStep::Sent,
        PumpStep::Failed("NoAnswer".to_owned()),
        PumpStep::Confirmed,
    ] {
        journal
            .price_set_pump_step(set.id, PositionId(3), at, step)
            .await
            .expect("step");
    }
    let mut new = completed(3, "300.00");
    new.price_set = Some(set.id);
    let sale = journal.complete_sale(new).await.expect("sale");
    assert_eq!(sale.price_set, Some(set.id));
    let sets = journal.price_sets().await.expect("sets");
    assert_eq!(sets.len(), 1);
    assert_eq!(sets[0].activated_at, Some(ts("2026-12-04T09:00:00Z")));
    assert_eq!(
        sets[0].prices.get(&GradeId(2)),
        Some(&UnitPrice::new(dec("1500.00")))
    );
    let pump = &sets[0].pumps[0];
    assert_eq!((pump.sent_at, pump.confirmed_at), (Some(at), Some(at)));
    assert_eq!(pump.last_error, None, "confirmation clears the failure");
    assert!(matches!(
        journal.activate_price_set(99, at).await,
        Err(JournalError::PriceSetNotFound(99))
    ));
}

#[tokio::test]
async fn a_cancelled_price_set_cannot_be_activated_nor_an_active_one_cancelled() {
    let dir = tempfile::tempdir().expect("temp dir");
    let journal = open(&dir).await;
    let new = |grade: u16| NewPriceSet {
        prices: [(GradeId(grade), UnitPrice::new(dec("1500.00")))].into(),
        effective_at: ts("2026-12-04T09:00:00Z"),
        created_by: "manager:ana".to_owned(),
    };
    let withdrawn = journal.add_price_set(new(1)).await.expect("recorded");
    let kept = journal.add_price_set(new(2)).await.expect("recorded");
    let at = ts("2026-12-04T08:00:00Z");
    let cancelled = journal
        .cancel_price_set(withdrawn.id, at, "manager:ana".to_owned())
        .await
        .expect("cancelled");
    assert_eq!(cancelled.cancelled_at, Some(at));
    assert_eq!(cancelled.cancelled_by.as_deref(), Some("manager:ana"));
    assert!(matches!(
        journal
            .activate_price_set(withdrawn.id, ts("2026-12-04T09:00:00Z"))
            .await,
        Err(JournalError::PriceSetCancelled(id)) if id == withdrawn.id
    ));
    assert!(matches!(
        journal
            .cancel_price_set(withdrawn.id, at, "manager:ana".to_owned())
            .await,
        Err(JournalError::PriceSetCancelled(_))
    ));
    journal
        .activate_price_set(kept.id, ts("2026-12-04T09:00:00Z"))
        .await
        .expect("activated");
    assert!(matches!(
        journal
            .cancel_price_set(kept.id, at, "manager:ana".to_owned())
            .await,
        Err(JournalError::PriceSetInForce(_))
    ));
    assert!(matches!(
        journal
            .cancel_price_set(99, at, "manager:ana".to_owned())
            .await,
        Err(JournalError::PriceSetNotFound(99))
    ));
    let sets = journal.price_sets().await.expect("sets");
    assert_eq!(
        sets[0].activated_at, None,
        "the cancelled set never activated"
    );
    assert_eq!(sets[1].cancelled_at, None);
}
