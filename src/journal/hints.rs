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
//!   finished hint is re-armed (one more API read) only when the hint was last accepted at
//!   least [`HintPolicy::rearm_after`] ago (`last_received_at` of a hint is the time it was
//!   last accepted, not the time of the last repeat);
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
            rearm_after: Duration::from_secs(60),
            retention: Duration::from_secs(3600),
            capacity: 5000,
        }
    }
}

const UNVERIFIED: &str = "verified != 'valid'";

fn before(now: Timestamp, span: Duration) -> String {
    let span = jiff::SignedDuration::try_from(span).unwrap_or(jiff::SignedDuration::MAX);
    time_text(now.checked_sub(span).unwrap_or(Timestamp::MIN))
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
        Some((id, state, last)) => {
            let finished = state != NotificationState::Pending.as_str();
            if finished && last <= before(now, policy.rearm_after) {
                tx.execute(
                    "UPDATE notifications SET deliveries = deliveries + 1,
                         last_received_at = ?2, state = 'pending', attempts = 0,
                         next_attempt_at = ?2, last_error = NULL
                     WHERE id = ?1",
                    params![id, received],
                )?;
                StoreOutcome::Rearmed(id)
            } else {
                tx.execute(
                    "UPDATE notifications SET deliveries = deliveries + 1 WHERE id = ?1",
                    [id],
                )?;
                StoreOutcome::Duplicate(id)
            }
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
