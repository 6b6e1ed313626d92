//! The inbox of Mercado Pago notifications.
//!
//! Owns the `notifications` table: the HTTP handler stores each delivery and answers at
//! once; a worker takes the due ones, re-reads the resource from the API and finishes or
//! reschedules them, so retries survive restarts (docs/architecture.md "Payments"). Deliveries are
//! deduplicated by `(topic, resource_id, request_id)`. A repeat of a pending notification
//! is a plain duplicate (the worker will read the latest state anyway); so is a repeat of
//! a finished delivery with the same `x-request-id` (a replayed signed webhook costs no
//! second API read). A repeat of a finished one without a request id is re-armed, because
//! Mercado Pago notifies the same resource again when it changes (docs/mercadopago.md §6).
//! Unverified deliveries (hints) are stored by [`super::hints`] instead. This module never verifies signatures or calls the API.

use jiff::Timestamp;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::error::{JournalError, Result};
use super::row::{time_text, RowReader};

/// Journal row id of a notification.
pub type NotificationId = i64;

/// Which channel delivered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationSource {
    /// IPN form: `?topic=…&id=…`.
    Ipn,
    /// Webhook form: `?type=…&data.id=…` with a JSON body.
    Webhook,
}

impl NotificationSource {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ipn => "ipn",
            Self::Webhook => "webhook",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ipn" => Some(Self::Ipn),
            "webhook" => Some(Self::Webhook),
            _ => None,
        }
    }
}

/// What the signature check said (docs/mercadopago.md §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verification {
    /// A webhook whose `x-signature` verified.
    Valid,
    /// A webhook without a signature, accepted as a hint.
    Unsigned,
    /// An IPN delivery, never verifiable, accepted as a hint.
    Ipn,
}

impl Verification {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Valid => "valid",
            Self::Unsigned => "unsigned",
            Self::Ipn => "ipn",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "valid" => Some(Self::Valid),
            "unsigned" => Some(Self::Unsigned),
            "ipn" => Some(Self::Ipn),
            _ => None,
        }
    }
}

/// Where the processing of a notification is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NotificationState {
    /// Waiting for (another) attempt at `next_attempt_at`.
    Pending,
    /// Processed.
    Done,
    /// Given up on (e.g. an unknown topic); kept for the record.
    Failed,
}

impl NotificationState {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Done => "done",
            Self::Failed => "failed",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "done" => Some(Self::Done),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// A delivery to store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewNotification {
    /// When it arrived.
    pub received_at: Timestamp,
    /// Channel.
    pub source: NotificationSource,
    /// `topic` (IPN) or `type` (webhook), e.g. `payment`, `merchant_order`.
    pub topic: String,
    /// The resource id (`id` or `data.id`).
    pub resource_id: String,
    /// `x-request-id`, if sent.
    pub request_id: Option<String>,
    /// The raw query string, for the record.
    pub query: String,
    /// The body as received (lossy UTF-8), never trusted.
    pub body: Option<String>,
    /// The signature verdict.
    pub verified: Verification,
}

/// A stored notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    /// Row id.
    pub id: NotificationId,
    /// First arrival.
    pub received_at: Timestamp,
    /// Latest arrival of the same key.
    pub last_received_at: Timestamp,
    /// How many deliveries had this key.
    pub deliveries: u32,
    /// Channel.
    pub source: NotificationSource,
    /// Topic or type.
    pub topic: String,
    /// Resource id.
    pub resource_id: String,
    /// `x-request-id`, if sent.
    pub request_id: Option<String>,
    /// Raw query string.
    pub query: String,
    /// Body as received.
    pub body: Option<String>,
    /// Signature verdict.
    pub verified: Verification,
    /// Processing state.
    pub state: NotificationState,
    /// Processing attempts so far.
    pub attempts: u32,
    /// When the next attempt is due (meaningful while pending).
    pub next_attempt_at: Timestamp,
    /// The last attempt's error, if any.
    pub last_error: Option<String>,
}

/// What storing a delivery did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOutcome {
    /// A new notification.
    Inserted(NotificationId),
    /// Same key as a pending notification; nothing new to do.
    Duplicate(NotificationId),
    /// Same key as a finished notification, which is pending again (the resource may
    /// have changed).
    Rearmed(NotificationId),
}

impl StoreOutcome {
    /// The notification's id, whatever happened.
    pub fn id(self) -> NotificationId {
        match self {
            Self::Inserted(id) | Self::Duplicate(id) | Self::Rearmed(id) => id,
        }
    }
}

/// How an attempt ended for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotificationOutcome {
    /// Processed.
    Done,
    /// Given up, with the reason.
    Failed(String),
}

const COLUMNS: &str = "id, received_at, last_received_at, deliveries, source, topic, \
     resource_id, request_id, query, body, verified, state, attempts, next_attempt_at, last_error";

fn decode(row: &rusqlite::Row<'_>) -> Result<Notification> {
    let r = RowReader::new(row, "notifications", "id")?;
    let request_id: String = r.get("request_id")?;
    Ok(Notification {
        id: r.id(),
        received_at: r.time("received_at")?,
        last_received_at: r.time("last_received_at")?,
        deliveries: r.int("deliveries")?,
        source: r.named("source", NotificationSource::parse)?,
        topic: r.get("topic")?,
        resource_id: r.get("resource_id")?,
        request_id: (!request_id.is_empty()).then_some(request_id),
        query: r.get("query")?,
        body: r.opt_text("body")?,
        verified: r.named("verified", Verification::parse)?,
        state: r.named("state", NotificationState::parse)?,
        attempts: r.int("attempts")?,
        next_attempt_at: r.time("next_attempt_at")?,
        last_error: r.opt_text("last_error")?,
    })
}

/// One notification by id.
pub(crate) fn get(conn: &Connection, id: NotificationId) -> Result<Option<Notification>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM notifications WHERE id = ?1"
    ))?;
    stmt.query_row([id], |row| Ok(decode(row)))
        .optional()?
        .transpose()
}

/// Stores a delivery, deduplicating by key (see the module docs).
pub(crate) fn store(conn: &mut Connection, new: &NewNotification) -> Result<StoreOutcome> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let request_id = new.request_id.as_deref().unwrap_or("");
    let received = time_text(new.received_at);
    let existing: Option<(i64, String)> = tx
        .query_row(
            "SELECT id, state FROM notifications
             WHERE topic = ?1 AND resource_id = ?2 AND request_id = ?3",
            params![new.topic, new.resource_id, request_id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()?;
    let outcome = match existing {
        // A non-empty request id names one delivery: its repeat is a retry or a replay of
        // what was already read, never a change of the resource.
        Some((id, state))
            if state == NotificationState::Pending.as_str() || !request_id.is_empty() =>
        {
            tx.execute(
                "UPDATE notifications SET deliveries = deliveries + 1, last_received_at = ?2
                 WHERE id = ?1",
                params![id, received],
            )?;
            StoreOutcome::Duplicate(id)
        }
        Some((id, _)) => {
            tx.execute(
                "UPDATE notifications SET deliveries = deliveries + 1, last_received_at = ?2,
                     state = 'pending', attempts = 0, next_attempt_at = ?2, last_error = NULL
                 WHERE id = ?1",
                params![id, received],
            )?;
            StoreOutcome::Rearmed(id)
        }
        None => {
            tx.execute(
                "INSERT INTO notifications (received_at, last_received_at, source, topic,
                     resource_id, request_id, query, body, verified, next_attempt_at)
                 VALUES (?1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?1)",
                params![
                    received,
                    new.source.as_str(),
                    new.topic,
                    new.resource_id,
                    request_id,
                    new.query,
                    new.body,
                    new.verified.as_str()
                ],
            )?;
            StoreOutcome::Inserted(tx.last_insert_rowid())
        }
    };
    tx.commit()?;
    Ok(outcome)
}

/// Pending notifications due at `now`, earliest first, at most `limit`.
pub(crate) fn pending(conn: &Connection, now: Timestamp, limit: u32) -> Result<Vec<Notification>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM notifications
         WHERE state = 'pending' AND next_attempt_at <= ?1
         ORDER BY next_attempt_at, id LIMIT ?2"
    ))?;
    let mut rows = stmt.query(params![time_text(now), limit])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// Ends processing of a notification (one more attempt counted).
pub(crate) fn finish(
    conn: &Connection,
    id: NotificationId,
    outcome: &NotificationOutcome,
) -> Result<()> {
    let (state, error) = match outcome {
        NotificationOutcome::Done => (NotificationState::Done, None),
        NotificationOutcome::Failed(e) => (NotificationState::Failed, Some(e.as_str())),
    };
    let changed = conn.execute(
        "UPDATE notifications SET state = ?2, attempts = attempts + 1, last_error = ?3
         WHERE id = ?1",
        params![id, state.as_str(), error],
    )?;
    if changed == 0 {
        return Err(JournalError::NotificationNotFound(id));
    }
    Ok(())
}

/// Records a failed attempt and when to try again.
pub(crate) fn retry(
    conn: &Connection,
    id: NotificationId,
    error: &str,
    next_attempt_at: Timestamp,
) -> Result<()> {
    let changed = conn.execute(
        "UPDATE notifications SET state = 'pending', attempts = attempts + 1, last_error = ?2,
             next_attempt_at = ?3
         WHERE id = ?1",
        params![id, error, time_text(next_attempt_at)],
    )?;
    if changed == 0 {
        return Err(JournalError::NotificationNotFound(id));
    }
    Ok(())
}

/// Records why a pending notification waits, without counting an attempt or moving its
/// turn (the API refused the station's credentials, not the notification).
pub(crate) fn defer(conn: &Connection, id: NotificationId, error: &str) -> Result<()> {
    let changed = conn.execute(
        "UPDATE notifications SET last_error = ?2 WHERE id = ?1 AND state = 'pending'",
        params![id, error],
    )?;
    if changed == 0 {
        return Err(JournalError::NotificationNotFound(id));
    }
    Ok(())
}
