//! Dispatches started by attendants.
//!
//! Owns the `dispatches` table. A dispatch is open from `start` until a sale links it
//! ([`super::sales`]) or it is cancelled; a position holds at most one open dispatch. On
//! restart, an open dispatch whose pump reports a completed transaction means the sale
//! completed while the daemon was down: the caller records it with `complete_sale`
//! naming this dispatch. This module never decides pump state.

use jiff::Timestamp;
use pump_protocols::{Money, PositionId, Preset, Volume};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::json;

use crate::sale::SaleId;

use super::error::{JournalError, Result};
use super::events::{self, kind, NewEvent};
use super::row::{decimal_text, time_text, RowReader};

/// Journal row id of a dispatch.
pub type DispatchId = i64;

/// A dispatch to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDispatch {
    /// The position authorized.
    pub position: PositionId,
    /// The attendant who authorized it, if known.
    pub attendant: Option<String>,
    /// The preset sent with the authorization, if any.
    pub preset: Option<Preset>,
    /// When the authorization was sent.
    pub authorized_at: Timestamp,
}

/// A dispatch as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispatch {
    /// Row id.
    pub id: DispatchId,
    /// The position authorized.
    pub position: PositionId,
    /// The attendant who authorized it, if known.
    pub attendant: Option<String>,
    /// The preset, if any.
    pub preset: Option<Preset>,
    /// When the authorization was sent.
    pub authorized_at: Timestamp,
    /// The sale it became, once completed.
    pub sale: Option<SaleId>,
    /// When it was cancelled, if it was.
    pub cancelled_at: Option<Timestamp>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
}

impl Dispatch {
    /// True while neither a sale nor a cancellation closed it.
    pub fn is_open(&self) -> bool {
        self.sale.is_none() && self.cancelled_at.is_none()
    }
}

const COLUMNS: &str =
    "id, position, attendant, preset_kind, preset_value, authorized_at, sale_id, cancelled_at, cancel_reason";

fn decode(row: &rusqlite::Row<'_>) -> Result<Dispatch> {
    let r = RowReader::new(row, "dispatches", "id")?;
    let preset_kind = r.opt_text("preset_kind")?;
    let preset_value = r.opt_decimal("preset_value")?;
    let preset = match (preset_kind.as_deref(), preset_value) {
        (None, None) => None,
        (Some("amount"), Some(v)) => Some(Preset::Amount(Money::new(v))),
        (Some("volume"), Some(v)) => Some(Preset::Volume(Volume::new(v))),
        (kind, value) => {
            return Err(r.corrupt(
                "preset_kind",
                format!("kind {kind:?} does not go with value {value:?}"),
            ))
        }
    };
    Ok(Dispatch {
        id: r.id(),
        position: PositionId(r.int("position")?),
        attendant: r.opt_text("attendant")?,
        preset,
        authorized_at: r.time("authorized_at")?,
        sale: r.get("sale_id")?,
        cancelled_at: r.opt_time("cancelled_at")?,
        cancel_reason: r.opt_text("cancel_reason")?,
    })
}

fn query(conn: &Connection, sql: &str, params: impl rusqlite::Params) -> Result<Vec<Dispatch>> {
    let mut stmt = conn.prepare_cached(sql)?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// One dispatch by id.
pub(crate) fn get(conn: &Connection, id: DispatchId) -> Result<Option<Dispatch>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM dispatches WHERE id = ?1"))?;
    stmt.query_row([id], |row| Ok(decode(row)))
        .optional()?
        .transpose()
}

/// The open dispatch of a position, if any.
pub(crate) fn open_for(conn: &Connection, position: PositionId) -> Result<Option<Dispatch>> {
    Ok(query(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM dispatches
             WHERE position = ?1 AND sale_id IS NULL AND cancelled_at IS NULL"
        ),
        [position.0],
    )?
    .pop())
}

/// Every open dispatch, by position.
pub(crate) fn open_all(conn: &Connection) -> Result<Vec<Dispatch>> {
    query(
        conn,
        &format!(
            "SELECT {COLUMNS} FROM dispatches
             WHERE sale_id IS NULL AND cancelled_at IS NULL ORDER BY position, id"
        ),
        [],
    )
}

/// Records a new dispatch and its event.
pub(crate) fn start(
    conn: &mut Connection,
    now: Timestamp,
    new: &NewDispatch,
) -> Result<DispatchId> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    if let Some(existing) = open_for(&tx, new.position)? {
        return Err(JournalError::DispatchAlreadyOpen {
            position: new.position,
            existing: existing.id,
        });
    }
    let (preset_kind, preset_value) = match new.preset {
        None => (None, None),
        Some(Preset::Amount(m)) => (Some("amount"), Some(decimal_text(m.value()))),
        Some(Preset::Volume(v)) => (Some("volume"), Some(decimal_text(v.value()))),
    };
    tx.execute(
        "INSERT INTO dispatches (position, attendant, preset_kind, preset_value, authorized_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            new.position.0,
            new.attendant,
            preset_kind,
            preset_value,
            time_text(new.authorized_at)
        ],
    )?;
    let id = tx.last_insert_rowid();
    events::append(
        &tx,
        now,
        &NewEvent {
            sale: None,
            position: Some(new.position),
            kind: kind::DISPATCH_STARTED.to_owned(),
            detail: json!({
                "dispatch": id,
                "attendant": new.attendant,
                "preset_kind": preset_kind,
                "preset_value": preset_value,
                "authorized_at": new.authorized_at.to_string(),
            }),
        },
    )?;
    tx.commit()?;
    Ok(id)
}

/// Closes an open dispatch without a sale.
pub(crate) fn cancel(
    conn: &mut Connection,
    now: Timestamp,
    id: DispatchId,
    reason: &str,
) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let dispatch = get(&tx, id)?.ok_or(JournalError::DispatchNotFound(id))?;
    if !dispatch.is_open() {
        return Err(JournalError::DispatchNotOpen(id));
    }
    tx.execute(
        "UPDATE dispatches SET cancelled_at = ?2, cancel_reason = ?3 WHERE id = ?1",
        params![id, time_text(now), reason],
    )?;
    events::append(
        &tx,
        now,
        &NewEvent {
            sale: None,
            position: Some(dispatch.position),
            kind: kind::DISPATCH_CANCELLED.to_owned(),
            detail: json!({ "dispatch": id, "reason": reason }),
        },
    )?;
    tx.commit()?;
    Ok(())
}
