//! Journal maintenance: `forecourtd backup` takes a consistent copy while the journal is
//! being written; `forecourtd vacuum` shrinks the file; pruning forgets finished
//! notifications and keeps everything the station owes or was paid.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use forecourtd::journal::maintenance;
use forecourtd::journal::{
    schema, Journal, JournalSettings, NewEvent, NewNotification, NotificationOutcome,
    NotificationSource, StoreOutcome, Verification,
};
use jiff::{SignedDuration, Timestamp};
use rusqlite::Connection;
use serde_json::json;

async fn open(path: &std::path::Path) -> Journal {
    Journal::open(
        path,
        JournalSettings {
            store_id: "29".to_owned(),
        },
    )
    .await
    .expect("journal opens")
}

/// Runs `forecourtd ARGS --database DB`.
async fn forecourtd(args: &[&std::ffi::OsStr], db: &std::path::Path) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_forecourtd"))
        .args(args)
        .arg("--database")
        .arg(db)
        .output()
        .await
        .expect("run forecourtd")
}

fn event(n: u64) -> NewEvent {
    NewEvent {
        sale: None,
        position: None,
        kind: "test_write".to_owned(),
        detail: json!({ "n": n, "padding": "x".repeat(512) }),
    }
}

/// Events in a backup, after checking it is whole and self-contained.
fn events_in(backup: &std::path::Path) -> u64 {
    let conn = Connection::open(backup).expect("backup opens");
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("integrity check");
    assert_eq!(check, "ok");
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .expect("journal mode");
    assert_eq!(mode, "delete", "a backup needs no -wal file");
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, schema::latest_version());
    let count: i64 = conn
        .query_row(
            "SELECT count(*) FROM events WHERE kind = 'test_write'",
            [],
            |r| r.get(0),
        )
        .expect("count");
    // The writes are numbered 0.. in commit order: a consistent snapshot holds a prefix.
    let max: Option<i64> = conn
        .query_row(
            "SELECT max(json_extract(detail, '$.n')) FROM events WHERE kind = 'test_write'",
            [],
            |r| r.get(0),
        )
        .expect("max");
    assert_eq!(max.map(|m| m + 1).unwrap_or(0), count, "not a prefix");
    u64::try_from(count).expect("count")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_is_a_consistent_copy_while_the_journal_is_written() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("journal.db");
    let journal = open(&db).await;
    let committed = Arc::new(AtomicU64::new(0));
    let stop = tokio_util::sync::CancellationToken::new();
    let writer = {
        let (journal, committed, stop) = (journal.clone(), committed.clone(), stop.clone());
        tokio::spawn(async move {
            let mut n = 0;
            while !stop.is_cancelled() {
                journal.append_event(event(n)).await.expect("write");
                n += 1;
                committed.store(n, Ordering::SeqCst);
            }
        })
    };
    // Let some writes land first, so the copies have something to be consistent about.
    while committed.load(Ordering::SeqCst) < 50 {
        tokio::task::yield_now().await;
    }

    let mut counts = Vec::new();
    for i in 0..3 {
        let before = committed.load(Ordering::SeqCst);
        let target = dir.path().join(format!("backup-{i}.db"));
        let source = db.clone();
        let copy = target.clone();
        let report = tokio::task::spawn_blocking(move || maintenance::backup(&source, &copy))
            .await
            .expect("backup thread")
            .expect("backup");
        let after = committed.load(Ordering::SeqCst);
        assert_eq!(report.schema_version, schema::latest_version());
        let count = events_in(&target);
        assert!(
            (before..=after).contains(&count),
            "{before} <= {count} <= {after}"
        );
        counts.push(count);
    }

    // The command line, as an operator runs it.
    let target = dir.path().join("from-cli.db");
    let out = forecourtd(&["backup".as_ref(), target.as_os_str()], &db).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(events_in(&target) >= counts[2]);
    // Never overwrites.
    let again = forecourtd(&["backup".as_ref(), target.as_os_str()], &db).await;
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("exists already"));

    stop.cancel();
    writer.await.expect("writer");
    journal.close().await.expect("close");
}

#[tokio::test]
async fn vacuum_gives_freed_space_back() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let db = dir.path().join("journal.db");
    let journal = open(&db).await;
    for n in 0..200 {
        journal.append_event(event(n)).await.expect("write");
    }
    journal.close().await.expect("close");
    // Free pages as pruning would (events are append-only, so drop the guard here).
    {
        let conn = Connection::open(&db).expect("open");
        conn.execute_batch(
            "DROP TRIGGER events_no_delete; DELETE FROM events WHERE kind = 'test_write';",
        )
        .expect("free pages");
    }
    let out = forecourtd(&["vacuum".as_ref()], &db).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report = maintenance::vacuum(&db).expect("vacuum again");
    assert_eq!(report.before, report.after, "already compact");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let sizes: Vec<u64> = stdout
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    assert_eq!(sizes.len(), 2, "{stdout}");
    assert!(sizes[1] < sizes[0], "{stdout}");
    assert_eq!(sizes[1], report.after);
}

async fn notification(journal: &Journal, id: &str, received_at: Timestamp) -> i64 {
    let stored = journal
        .store_notification(NewNotification {
            received_at,
            source: NotificationSource::Ipn,
            topic: "payment".to_owned(),
            resource_id: id.to_owned(),
            request_id: None,
            query: format!("topic=payment&id={id}"),
            body: Some("{}".to_owned()),
            verified: Verification::Ipn,
        })
        .await
        .expect("store");
    match stored {
        StoreOutcome::Inserted(id) => id,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn pruning_forgets_old_finished_notifications_and_keeps_the_rest() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let journal = open(&dir.path().join("journal.db")).await;
    let now = Timestamp::now();
    let old = now - SignedDuration::from_hours(24 * 40);
    let recent = now - SignedDuration::from_hours(24);
    let old_done = notification(&journal, "1", old).await;
    let old_failed = notification(&journal, "2", old).await;
    let old_pending = notification(&journal, "3", old).await;
    let recent_done = notification(&journal, "4", recent).await;
    journal
        .finish_notification(old_done, NotificationOutcome::Done)
        .await
        .expect("finish");
    journal
        .finish_notification(old_failed, NotificationOutcome::Failed("gone".into()))
        .await
        .expect("finish");
    journal
        .finish_notification(recent_done, NotificationOutcome::Done)
        .await
        .expect("finish");
    journal.append_event(event(0)).await.expect("event");
    let events_before = journal.recent_events(100).await.expect("events").len();

    let cutoff = now - SignedDuration::from_hours(24 * 30);
    let report = journal.prune(cutoff).await.expect("prune");
    assert_eq!(report.notifications, 2);
    assert!(journal
        .notification(old_done)
        .await
        .expect("read")
        .is_none());
    assert!(journal
        .notification(old_failed)
        .await
        .expect("read")
        .is_none());
    assert!(journal
        .notification(old_pending)
        .await
        .expect("read")
        .is_some());
    assert!(journal
        .notification(recent_done)
        .await
        .expect("read")
        .is_some());
    // The audit trail is untouched.
    assert_eq!(
        journal.recent_events(100).await.expect("events").len(),
        events_before
    );
    // A second pass finds nothing more.
    assert_eq!(journal.prune(cutoff).await.expect("prune").notifications, 0);
    journal.close().await.expect("close");
}
