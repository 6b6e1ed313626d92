//! The outbox: every business event, waiting to be published to headquarters.
//!
//! Owns the `outbox` table. Every change that writes an `events` row (sales, dispatches,
//! payments, refunds, attention) and every audit row also writes one outbox row **in the
//! same transaction** through [`record`], so an event exists exactly when its change does.
//! Rows are written whether or not the chain uplink is configured: a row costs a few
//! hundred bytes, and a station that enables the uplink later publishes its history
//! instead of losing it. Sent rows are pruned after the journal's retention
//! ([`prune_sent`]); unsent rows are never pruned (the outbox is bounded only by disk).
//!
//! A row's identity: `seq` orders the station's events (AUTOINCREMENT, never reused even
//! after pruning) and `event_id` (a UUIDv7, time-ordered) names the event everywhere
//! else: it is the JetStream message id (de-duplication) and headquarters' primary key.
//! `payload` is a JSON object with `"schema": 1` ([`PAYLOAD_SCHEMA`]); its fields are
//! documented in docs/chain.md.
//!
//! To publish a new kind of event from another journal module (shifts, price changes),
//! call [`record`] with the open transaction of the change, a kind from
//! `[a-z0-9_]` (it becomes the last token of the NATS subject) and a payload object.
//! Nothing else is needed: the publisher sends every kind.

use jiff::Timestamp;
use rusqlite::{params, Connection};
use serde_json::{Map, Value};

use super::error::{JournalError, Result};
use super::row::{time_text, RowReader};

/// Version of the payload layout, written as `"schema"` in every payload.
pub const PAYLOAD_SCHEMA: u32 = 1;

/// Kind of the events written for audit rows.
pub const AUDIT_KIND: &str = "audit";

/// An outbox row.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEvent {
    /// The station's order of events.
    pub seq: i64,
    /// Unique id (UUIDv7 text).
    pub event_id: String,
    /// What happened, `[a-z0-9_]+`.
    pub kind: String,
    /// What it is about, e.g. `sale:42`, `position:3`, `station`.
    pub subject: String,
    /// The event's data, a JSON object carrying `"schema"`.
    pub payload: Value,
    /// When the change was made.
    pub created_at: Timestamp,
}

/// True when `kind` may be written: 1 to 64 of `[a-z0-9_]` (a valid NATS subject token).
pub fn valid_kind(kind: &str) -> bool {
    !kind.is_empty()
        && kind.len() <= 64
        && kind
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

/// Writes one event; `tx` is the open transaction of the change it describes.
/// A payload that is not an object is wrapped as `{"value": …}`; `"schema"` is set.
/// Returns the event id.
pub fn record(
    tx: &Connection,
    at: Timestamp,
    kind: &str,
    subject: &str,
    payload: Value,
) -> Result<String> {
    if !valid_kind(kind) {
        return Err(JournalError::InvalidEventKind(kind.to_owned()));
    }
    let mut object = match payload {
        Value::Object(map) => map,
        other => {
            let mut map = Map::new();
            map.insert("value".to_owned(), other);
            map
        }
    };
    object.insert("schema".to_owned(), Value::from(PAYLOAD_SCHEMA));
    let text = serde_json::to_string(&object).map_err(|e| JournalError::InvalidJson {
        what: "outbox payload",
        reason: e.to_string(),
    })?;
    let event_id = uuid::Uuid::now_v7().to_string();
    tx.execute(
        "INSERT INTO outbox (event_id, kind, subject, payload, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![event_id, kind, subject, text, time_text(at)],
    )?;
    Ok(event_id)
}

fn decode(row: &rusqlite::Row<'_>) -> Result<OutboxEvent> {
    let r = RowReader::new(row, "outbox", "seq")?;
    let payload_text: String = r.get("payload")?;
    let payload = serde_json::from_str(&payload_text)
        .map_err(|e| r.corrupt("payload", format!("not JSON: {e}")))?;
    Ok(OutboxEvent {
        seq: r.id(),
        event_id: r.get("event_id")?,
        kind: r.get("kind")?,
        subject: r.get("subject")?,
        payload,
        created_at: r.time("created_at")?,
    })
}

/// The oldest `limit` unsent events, in order.
pub(crate) fn unsent(conn: &Connection, limit: u32) -> Result<Vec<OutboxEvent>> {
    let mut stmt = conn.prepare_cached(
        "SELECT seq, event_id, kind, subject, payload, created_at FROM outbox
         WHERE sent_at IS NULL ORDER BY seq LIMIT ?1",
    )?;
    let mut rows = stmt.query([limit])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// Marks the events `seqs` sent at `at` (those already marked keep their time).
pub(crate) fn mark_sent(conn: &mut Connection, at: Timestamp, seqs: &[i64]) -> Result<()> {
    let tx = conn.transaction()?;
    {
        let mut stmt =
            tx.prepare_cached("UPDATE outbox SET sent_at = ?2 WHERE seq = ?1 AND sent_at IS NULL")?;
        for seq in seqs {
            stmt.execute(params![seq, time_text(at)])?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// How many events wait to be sent.
pub(crate) fn backlog(conn: &Connection) -> Result<u64> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM outbox WHERE sent_at IS NULL",
        [],
        |r| r.get(0),
    )?;
    Ok(u64::try_from(n).unwrap_or(0))
}

/// The unsent part of the outbox, as metrics and the console show it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Backlog {
    /// Events waiting to be sent.
    pub events: u64,
    /// When the oldest of them was made; `None` when nothing waits.
    pub oldest: Option<Timestamp>,
    /// When the broker last acknowledged an event (the newest `sent_at` still kept).
    pub last_sent_at: Option<Timestamp>,
}

/// How much waits, since when, and when the last event went out. Three index lookups
/// (`outbox_unsent`, `outbox_sent`), cheap enough for every scrape.
pub(crate) fn backlog_state(conn: &Connection) -> Result<Backlog> {
    let (events, oldest, last_sent) = conn.query_row(
        "SELECT (SELECT count(*) FROM outbox WHERE sent_at IS NULL),
                (SELECT created_at FROM outbox WHERE sent_at IS NULL ORDER BY seq LIMIT 1),
                (SELECT max(sent_at) FROM outbox WHERE sent_at IS NOT NULL)",
        [],
        |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        },
    )?;
    let time = |column: &'static str, text: Option<String>| -> Result<Option<Timestamp>> {
        text.map(|t| {
            t.parse::<Timestamp>().map_err(|e| JournalError::Corrupt {
                table: "outbox",
                column,
                row: -1,
                reason: format!("{t:?} is not an RFC 3339 time: {e}"),
            })
        })
        .transpose()
    };
    Ok(Backlog {
        events: u64::try_from(events).unwrap_or(0),
        oldest: time("created_at", oldest)?,
        last_sent_at: time("sent_at", last_sent)?,
    })
}

/// Deletes events sent before `cutoff`; returns how many.
pub(crate) fn prune_sent(conn: &Connection, cutoff: Timestamp) -> Result<u64> {
    let deleted = conn.execute(
        "DELETE FROM outbox WHERE sent_at IS NOT NULL AND sent_at < ?1",
        [time_text(cutoff)],
    )?;
    Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
}
