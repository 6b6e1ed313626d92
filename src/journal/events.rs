//! The append-only event log.
//!
//! Owns the `events` table: every state change of a dispatch, sale, payment or refund
//! writes one row in the same transaction as the change. Rows are never updated or
//! deleted (triggers refuse it). `detail` is a JSON object; decimals in it are strings.
//! Each event is also written to the outbox ([`super::outbox`]) in the same transaction,
//! as `{"sale", "position", "detail"}` under the same kind.

use jiff::Timestamp;
use pump_protocols::PositionId;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use crate::sale::SaleId;

use super::error::{JournalError, Result};
use super::outbox;
use super::row::{time_text, RowReader};

/// Journal row id of an event.
pub type EventId = i64;

/// Kinds written by the journal itself; other modules may use their own names.
pub mod kind {
    /// An attendant started a dispatch.
    pub const DISPATCH_STARTED: &str = "dispatch_started";
    /// A dispatch was closed without a sale.
    pub const DISPATCH_CANCELLED: &str = "dispatch_cancelled";
    /// A dispatch's authorization moved a step (sent, acknowledged by the pump).
    pub const DISPATCH_STAGE: &str = "dispatch_stage";
    /// A completion the daemon could not prove was dispensed in its dispatch.
    pub const ATTENTION_RAISED: &str = "attention_raised";
    /// An attendant booked or dismissed such a completion.
    pub const ATTENTION_RESOLVED: &str = "attention_resolved";
    /// A sale was recorded (status ready).
    pub const SALE_COMPLETED: &str = "sale_completed";
    /// The order endpoint served the sale.
    pub const SALE_SERVED: &str = "sale_served";
    /// A Mercado Pago preference was stored for the sale.
    pub const PREFERENCE_SET: &str = "preference_set";
    /// The sale was paid through Mercado Pago.
    pub const SALE_PAID: &str = "sale_paid";
    /// The sale was settled another way.
    pub const SALE_SETTLED_OTHER: &str = "sale_settled_other";
    /// The sale was voided.
    pub const SALE_VOIDED: &str = "sale_voided";
    /// A payment was first seen or its state changed.
    pub const PAYMENT_RECORDED: &str = "payment_recorded";
    /// A refund was asked for.
    pub const REFUND_REQUESTED: &str = "refund_requested";
    /// Mercado Pago answered a refund.
    pub const REFUND_UPDATED: &str = "refund_updated";
    /// A pump stopped answering (its protocol's offline rule fired).
    pub const PUMP_OFFLINE: &str = "pump_offline";
    /// A pump reported offline answers again.
    pub const PUMP_ONLINE: &str = "pump_online";
}

/// An event to append.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// The sale it concerns, if any.
    pub sale: Option<SaleId>,
    /// The position it concerns, if any.
    pub position: Option<PositionId>,
    /// What happened (see [`kind`] for the journal's own names).
    pub kind: String,
    /// Details as a JSON value (an object by convention).
    pub detail: Value,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Row id (order of writing).
    pub id: EventId,
    /// When it was written.
    pub at: Timestamp,
    /// The sale it concerns, if any.
    pub sale: Option<SaleId>,
    /// The position it concerns, if any.
    pub position: Option<PositionId>,
    /// What happened.
    pub kind: String,
    /// Details.
    pub detail: Value,
}

/// Appends one event at `at`, and its outbox row; `conn` must be the open transaction of
/// the change (a bare connection would commit the two rows separately).
pub(crate) fn append(conn: &Connection, at: Timestamp, event: &NewEvent) -> Result<EventId> {
    let detail = serde_json::to_string(&event.detail).map_err(|e| JournalError::InvalidJson {
        what: "event detail",
        reason: e.to_string(),
    })?;
    conn.execute(
        "INSERT INTO events (at, sale_id, position, kind, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            time_text(at),
            event.sale,
            event.position.map(|p| p.0),
            event.kind,
            detail
        ],
    )?;
    let id = conn.last_insert_rowid();
    let subject = match (event.sale, event.position) {
        (Some(sale), _) => format!("sale:{sale}"),
        (None, Some(position)) => format!("position:{}", position.0),
        (None, None) => "station".to_owned(),
    };
    outbox::record(
        conn,
        at,
        &event.kind,
        &subject,
        json!({
            "event": id,
            "sale": event.sale,
            "position": event.position.map(|p| p.0),
            "detail": event.detail,
        }),
    )?;
    Ok(id)
}

const COLUMNS: &str = "id, at, sale_id, position, kind, detail";

fn decode(row: &rusqlite::Row<'_>) -> Result<Event> {
    let r = RowReader::new(row, "events", "id")?;
    let detail_text: String = r.get("detail")?;
    let detail = serde_json::from_str(&detail_text)
        .map_err(|e| r.corrupt("detail", format!("not JSON: {e}")))?;
    Ok(Event {
        id: r.id(),
        at: r.time("at")?,
        sale: r.get("sale_id")?,
        position: r.opt_int::<u16>("position")?.map(PositionId),
        kind: r.get("kind")?,
        detail,
    })
}

fn query(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<Event>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// Events of one sale, oldest first.
pub(crate) fn for_sale(conn: &Connection, sale: SaleId) -> Result<Vec<Event>> {
    query(
        conn,
        &format!("SELECT {COLUMNS} FROM events WHERE sale_id = ?1 ORDER BY id"),
        [sale],
    )
}

/// The latest `limit` events, newest first.
pub(crate) fn recent(conn: &Connection, limit: u32) -> Result<Vec<Event>> {
    query(
        conn,
        &format!("SELECT {COLUMNS} FROM events ORDER BY id DESC LIMIT ?1"),
        [limit],
    )
}

/// The last `pump_offline` or `pump_online` event of every position that has one, in
/// position order (the `events_pump_link` index keeps this off a scan of the whole log).
pub(crate) fn last_pump_links(conn: &Connection) -> Result<Vec<Event>> {
    query(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM events WHERE id IN (
                 SELECT max(id) FROM events
                 WHERE kind IN ('pump_offline', 'pump_online') AND position IS NOT NULL
                 GROUP BY position)
             ORDER BY position"
        ),
        [],
    )
}

/// One event by id.
pub(crate) fn get(conn: &Connection, id: EventId) -> Result<Option<Event>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM events WHERE id = ?1"))?;
    stmt.query_row([id], |row| Ok(decode(row)))
        .optional()?
        .transpose()
}
