//! Unverified notifications ("hints"): deduplicated, stored without bodies, pruned,
//! bounded.
//!
//! IPN deliveries and unsigned webhooks cannot be authenticated, so anyone can send them.
//! They share the `notifications` inbox with signed deliveries (the processor reads one
//! queue), but are stored by this module under stricter rules, so a flood of forged hints
//! can neither grow the journal nor multiply Mercado Pago reads:
//!
//! - the key is `(topic, resource_id)` alone (`request_id` is stored as `''`), so random
//!   request ids do not make new rows; the body and the raw query are never kept (a
//!   canonical query is);
//! - a repeat of a pending hint changes nothing but the delivery count; a repeat of a
//!   finished hint is re-armed (one more API read), due no sooner than
//!   [`HintPolicy::rearm_after`] after the hint was last accepted (`last_received_at` of a
//!   hint is the time it was last accepted or is due, not the time of the last repeat), so
//!   a resource that changed is read again and a repeated one costs one read per interval;
//! - finished hints older than [`HintPolicy::retention`] are deleted, and at most
//!   [`HintPolicy::capacity`] hints are kept: past that the oldest finished ones go, and
//!   when every stored hint is still pending a new one is refused
//!   ([`JournalError::HintsFull`]).

use std::time::Duration;

use jiff::Timestamp;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::error::{JournalError, Result};
use super::notifications::{NewNotification, NotificationState, StoreOutcome};
use super::row::time_text;

/// Bounds on stored hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HintPolicy {
    /// A finished hint repeated sooner than this is not read again.
    pub rearm_after: Duration,
    /// Finished hints older than this are deleted.
    pub retention: Duration,
    /// Most hints kept at once (pending and finished).
    pub capacity: u32,
}

impl Default for HintPolicy {
    fn default() -> Self {
        Self {
            rearm_after: Duration::from_secs(10),
            retention: Duration::from_secs(3600),
            capacity: 5000,
        }
    }
}

const UNVERIFIED: &str = "verified != 'valid'";

fn signed(span: Duration) -> jiff::SignedDuration {
    jiff::SignedDuration::try_from(span).unwrap_or(jiff::SignedDuration::MAX)
}

fn before(now: Timestamp, span: Duration) -> String {
    time_text(now.checked_sub(signed(span)).unwrap_or(Timestamp::MIN))
}

/// Stores an unverified delivery under the rules of the module docs.
pub(crate) fn store(
    conn: &mut Connection,
    new: &NewNotification,
    policy: HintPolicy,
) -> Result<StoreOutcome> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let now = new.received_at;
    tx.execute(
        &format!(
            "DELETE FROM notifications WHERE {UNVERIFIED} AND state != 'pending'
             AND last_received_at < ?1"
        ),
        [before(now, policy.retention)],
    )?;
    let existing: Option<(i64, String, String)> = tx
        .query_row(
            "SELECT id, state, last_received_at FROM notifications
             WHERE topic = ?1 AND resource_id = ?2 AND request_id = ''",
            params![new.topic, new.resource_id],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()?;
    let received = time_text(now);
    let outcome = match existing {
        Some((id, state, last)) if state != NotificationState::Pending.as_str() => {
            // Re-armed, but read no sooner than `rearm_after` after the last accepted
            // delivery: a changed resource is never missed, a repeated one costs at most
            // one read per interval.
            let earliest = last
                .parse::<Timestamp>()
                .ok()
                .and_then(|t| t.checked_add(signed(policy.rearm_after)).ok())
                .unwrap_or(now);
            let at = time_text(earliest.max(now));
            tx.execute(
                "UPDATE notifications SET deliveries = deliveries + 1,
                     last_received_at = ?2, state = 'pending', attempts = 0,
                     next_attempt_at = ?2, last_error = NULL
                 WHERE id = ?1",
                params![id, at],
            )?;
            StoreOutcome::Rearmed(id)
        }
        Some((id, _, _)) => {
            tx.execute(
                "UPDATE notifications SET deliveries = deliveries + 1 WHERE id = ?1",
                [id],
            )?;
            StoreOutcome::Duplicate(id)
        }
        None => {
            make_room(&tx, policy.capacity)?;
            let query = match new.source {
                super::NotificationSource::Ipn => {
                    format!("topic={}&id={}", new.topic, new.resource_id)
                }
                super::NotificationSource::Webhook => {
                    format!("type={}&data.id={}", new.topic, new.resource_id)
                }
            };
            tx.execute(
                "INSERT INTO notifications (received_at, last_received_at, source, topic,
                     resource_id, request_id, query, body, verified, next_attempt_at)
                 VALUES (?1, ?1, ?2, ?3, ?4, '', ?5, NULL, ?6, ?1)",
                params![
                    received,
                    new.source.as_str(),
                    new.topic,
                    new.resource_id,
                    query,
                    new.verified.as_str()
                ],
            )?;
            StoreOutcome::Inserted(tx.last_insert_rowid())
        }
    };
    tx.commit()?;
    Ok(outcome)
}

/// Deletes the oldest finished hints until one more fits; refuses when none can go.
fn make_room(conn: &Connection, capacity: u32) -> Result<()> {
    let count: u32 = conn.query_row(
        &format!("SELECT count(*) FROM notifications WHERE {UNVERIFIED}"),
        [],
        |r| r.get(0),
    )?;
    if count < capacity {
        return Ok(());
    }
    let excess = count + 1 - capacity;
    conn.execute(
        &format!(
            "DELETE FROM notifications WHERE id IN (
                 SELECT id FROM notifications WHERE {UNVERIFIED} AND state != 'pending'
                 ORDER BY last_received_at, id LIMIT ?1)"
        ),
        [excess],
    )?;
    let left: u32 = conn.query_row(
        &format!("SELECT count(*) FROM notifications WHERE {UNVERIFIED}"),
        [],
        |r| r.get(0),
    )?;
    if left >= capacity {
        return Err(JournalError::HintsFull);
    }
    Ok(())
}

/// How many hints are stored.
pub(crate) fn count(conn: &Connection) -> Result<u32> {
    Ok(conn.query_row(
        &format!("SELECT count(*) FROM notifications WHERE {UNVERIFIED}"),
        [],
        |r| r.get(0),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::{schema, NotificationSource, Verification};

    fn conn() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut conn = Connection::open(dir.path().join("j.sqlite")).expect("open");
        schema::configure(&conn).expect("configure");
        schema::migrate(&mut conn).expect("migrate");
        (dir, conn)
    }

    fn hint(id: &str, at: &str, request: &str) -> NewNotification {
        NewNotification {
            received_at: at.parse().expect("time"),
            source: NotificationSource::Ipn,
            topic: "payment".to_owned(),
            resource_id: id.to_owned(),
            request_id: Some(request.to_owned()),
            query: format!("topic=payment&id={id}&junk={}", "x".repeat(500)),
            body: Some("{\"big\":\"body\"}".to_owned()),
            verified: Verification::Ipn,
        }
    }

    fn finish(conn: &Connection, id: i64) {
        conn.execute(
            "UPDATE notifications SET state = 'done' WHERE id = ?1",
            [id],
        )
        .expect("finish");
    }

    #[test]
    fn deduplicated_by_topic_and_id_without_body() {
        let (_dir, mut conn) = conn();
        let policy = HintPolicy::default();
        let t0 = "2026-11-22T13:00:00Z";
        let first = store(&mut conn, &hint("1", t0, "r1"), policy).expect("stored");
        let again = store(&mut conn, &hint("1", t0, "r2"), policy).expect("stored");
        assert_eq!(again, StoreOutcome::Duplicate(first.id()));
        let (body, query, request): (Option<String>, String, String) = conn
            .query_row(
                "SELECT body, query, request_id FROM notifications WHERE id = ?1",
                [first.id()],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .expect("row");
        assert_eq!(
            (body, query.as_str(), request.as_str()),
            (None, "topic=payment&id=1", "")
        );
        // Finished and repeated at once: re-armed, due only after `rearm_after`.
        finish(&conn, first.id());
        let rearmed =
            store(&mut conn, &hint("1", "2026-11-22T13:00:01Z", "r3"), policy).expect("stored");
        assert_eq!(rearmed, StoreOutcome::Rearmed(first.id()));
        let due: String = conn
            .query_row(
                "SELECT next_attempt_at FROM notifications WHERE id = ?1",
                [first.id()],
                |r| r.get(0),
            )
            .expect("row");
        assert!(due.starts_with("2026-11-22T13:00:10"), "{due}");
    }

    #[test]
    fn bounded_and_pruned() {
        let (_dir, mut conn) = conn();
        let policy = HintPolicy {
            capacity: 3,
            ..HintPolicy::default()
        };
        let t0 = "2026-11-22T13:00:00Z";
        for id in ["1", "2", "3"] {
            let stored = store(&mut conn, &hint(id, t0, "r"), policy).expect("stored");
            finish(&conn, stored.id());
        }
        // Full of finished hints: the oldest goes.
        store(&mut conn, &hint("4", t0, "r"), policy).expect("stored");
        assert_eq!(count(&conn).expect("count"), 3);
        // Full of pending hints: refused.
        conn.execute("UPDATE notifications SET state = 'pending'", [])
            .expect("pending");
        assert!(matches!(
            store(&mut conn, &hint("5", t0, "r"), policy),
            Err(JournalError::HintsFull)
        ));
        // Finished hints past the retention are deleted.
        conn.execute("UPDATE notifications SET state = 'done'", [])
            .expect("done");
        store(&mut conn, &hint("6", "2026-11-22T15:00:00Z", "r"), policy).expect("stored");
        assert_eq!(count(&conn).expect("count"), 1);
    }
}
