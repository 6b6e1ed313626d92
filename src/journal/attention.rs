//! Completions that need an attendant's eyes.
//!
//! Owns the `attention` table. When the daemon sees a pump report a completed filling
//! for an open dispatch but cannot prove the fuel flowed in that dispatch (no totals to
//! compare, totals that do not add up, a report identical to the last journaled sale),
//! it books nothing and raises an item here with everything it saw. An attendant then
//! books it as a sale (one transaction: the sale and the resolution) or dismisses it.
//! This module never decides whether a completion is new.

use jiff::Timestamp;
use pump_protocols::{GradeId, Money, NozzleId, PositionId, UnitPrice, Volume};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::{json, Value};

use crate::sale::{Sale, SaleId};

use super::dispatches::DispatchId;
use super::error::{JournalError, Result};
use super::events::{self, kind, NewEvent};
use super::identity::StoreId;
use super::row::{decimal_text, parse_decimal, time_text, RowReader};
use super::sales::{self, CompletedSale};

/// Row id of an attention item.
pub type AttentionId = i64;

/// The figures the pump reported for a completion nobody could vouch for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenCompletion {
    /// The nozzle used.
    pub nozzle: NozzleId,
    /// Its grade, if mapped.
    pub grade: Option<GradeId>,
    /// Volume reported.
    pub volume: Volume,
    /// Amount reported.
    pub amount: Money,
    /// Unit price reported.
    pub unit_price: UnitPrice,
    /// The attendant of the dispatch it was reported for.
    pub attendant: Option<String>,
}

/// An item to raise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttention {
    /// The position.
    pub position: PositionId,
    /// The dispatch that was open when the completion was reported.
    pub dispatch: Option<DispatchId>,
    /// A short machine-readable kind (e.g. `unproven_completion`).
    pub kind: String,
    /// Why the daemon could not decide, in words.
    pub reason: String,
    /// What the pump reported.
    pub completion: SeenCompletion,
    /// Everything else the daemon saw (totals before and after, last sale), as JSON.
    pub evidence: Value,
}

/// An item as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attention {
    /// Row id.
    pub id: AttentionId,
    /// The position.
    pub position: PositionId,
    /// The dispatch, if one was open.
    pub dispatch: Option<DispatchId>,
    /// Kind.
    pub kind: String,
    /// `{"reason", "completion", "evidence"}`.
    pub detail: Value,
    /// When it was raised.
    pub created_at: Timestamp,
    /// When it was resolved.
    pub resolved_at: Option<Timestamp>,
    /// `booked` or `dismissed`.
    pub resolution: Option<String>,
    /// Who resolved it.
    pub resolved_by: Option<String>,
    /// The sale booked from it.
    pub sale: Option<SaleId>,
}

const COLUMNS: &str = "id, position, dispatch_id, kind, detail, created_at, resolved_at, \
                       resolution, resolved_by, sale_id";

fn decode(row: &rusqlite::Row<'_>) -> Result<Attention> {
    let r = RowReader::new(row, "attention", "id")?;
    let detail_text: String = r.get("detail")?;
    let detail = serde_json::from_str(&detail_text)
        .map_err(|e| r.corrupt("detail", format!("not JSON: {e}")))?;
    Ok(Attention {
        id: r.id(),
        position: PositionId(r.int("position")?),
        dispatch: r.get("dispatch_id")?,
        kind: r.get("kind")?,
        detail,
        created_at: r.time("created_at")?,
        resolved_at: r.opt_time("resolved_at")?,
        resolution: r.opt_text("resolution")?,
        resolved_by: r.opt_text("resolved_by")?,
        sale: r.get("sale_id")?,
    })
}

fn completion_json(c: &SeenCompletion) -> Value {
    json!({
        "nozzle": c.nozzle.0,
        "grade": c.grade.map(|g| g.0),
        "volume": decimal_text(c.volume.value()),
        "amount": decimal_text(c.amount.value()),
        "unit_price": decimal_text(c.unit_price.value()),
        "attendant": c.attendant,
    })
}

fn completion_from(item: &Attention) -> Option<SeenCompletion> {
    let c = item.detail.get("completion")?;
    let decimal = |name: &str| parse_decimal(c.get(name)?.as_str()?);
    Some(SeenCompletion {
        nozzle: NozzleId(u8::try_from(c.get("nozzle")?.as_u64()?).ok()?),
        grade: match c.get("grade") {
            Some(Value::Null) | None => None,
            Some(g) => Some(GradeId(u16::try_from(g.as_u64()?).ok()?)),
        },
        volume: Volume::new(decimal("volume")?),
        amount: Money::new(decimal("amount")?),
        unit_price: UnitPrice::new(decimal("unit_price")?),
        attendant: c
            .get("attendant")
            .and_then(Value::as_str)
            .map(str::to_owned),
    })
}

/// Raises an item with its event.
pub(crate) fn raise(
    conn: &mut Connection,
    now: Timestamp,
    new: &NewAttention,
) -> Result<AttentionId> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let detail = json!({
        "reason": new.reason,
        "completion": completion_json(&new.completion),
        "evidence": new.evidence,
    });
    tx.execute(
        "INSERT INTO attention (position, dispatch_id, kind, detail, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            new.position.0,
            new.dispatch,
            new.kind,
            detail.to_string(),
            time_text(now)
        ],
    )?;
    let id = tx.last_insert_rowid();
    events::append(
        &tx,
        now,
        &NewEvent {
            sale: None,
            position: Some(new.position),
            kind: kind::ATTENTION_RAISED.to_owned(),
            detail: json!({ "attention": id, "kind": new.kind, "dispatch": new.dispatch,
                            "detail": detail }),
        },
    )?;
    tx.commit()?;
    Ok(id)
}

/// One item.
pub(crate) fn get(conn: &Connection, id: AttentionId) -> Result<Option<Attention>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {COLUMNS} FROM attention WHERE id = ?1"))?;
    stmt.query_row([id], |row| Ok(decode(row)))
        .optional()?
        .transpose()
}

/// Items not resolved yet, oldest first, then the latest resolved ones up to `limit` in all.
pub(crate) fn list(conn: &Connection, open_only: bool, limit: u32) -> Result<Vec<Attention>> {
    let sql = if open_only {
        format!("SELECT {COLUMNS} FROM attention WHERE resolved_at IS NULL ORDER BY id LIMIT ?1")
    } else {
        format!("SELECT {COLUMNS} FROM attention ORDER BY id DESC LIMIT ?1")
    };
    let mut stmt = conn.prepare_cached(&sql)?;
    let mut rows = stmt.query([limit])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// How an attendant resolves an item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// The fuel was dispensed: book the reported figures as a payable sale.
    Book,
    /// Nothing is owed (e.g. the figures are the previous customer's).
    Dismiss,
}

/// Resolves an open item; booking creates the sale in the same transaction, so an item
/// is never booked twice.
pub(crate) fn resolve(
    conn: &mut Connection,
    store: &StoreId,
    now: Timestamp,
    id: AttentionId,
    resolution: &Resolution,
    by: Option<&str>,
) -> Result<Option<Sale>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let item = get(&tx, id)?.ok_or(JournalError::AttentionNotFound(id))?;
    if item.resolved_at.is_some() {
        return Err(JournalError::AttentionResolved(id));
    }
    let sale = match resolution {
        Resolution::Dismiss => None,
        Resolution::Book => {
            let c = completion_from(&item).ok_or_else(|| JournalError::Corrupt {
                table: "attention",
                column: "detail",
                row: id,
                reason: "no readable completion figures".to_owned(),
            })?;
            Some(sales::complete_in(
                &tx,
                store,
                now,
                &CompletedSale {
                    dispatch: None,
                    position: item.position,
                    nozzle: c.nozzle,
                    grade: c.grade,
                    volume: c.volume,
                    amount: c.amount,
                    unit_price: c.unit_price,
                    attendant: c.attendant,
                    completed_at: item.created_at,
                    // The figures were reported, not dispensed under a known set.
                    price_set: None,
                },
            )?)
        }
    };
    let name = match resolution {
        Resolution::Book => "booked",
        Resolution::Dismiss => "dismissed",
    };
    tx.execute(
        "UPDATE attention SET resolved_at = ?2, resolution = ?3, resolved_by = ?4, sale_id = ?5
         WHERE id = ?1",
        params![id, time_text(now), name, by, sale.as_ref().map(|s| s.id)],
    )?;
    events::append(
        &tx,
        now,
        &NewEvent {
            sale: sale.as_ref().map(|s| s.id),
            position: Some(item.position),
            kind: kind::ATTENTION_RESOLVED.to_owned(),
            detail: json!({ "attention": id, "resolution": name, "by": by }),
        },
    )?;
    tx.commit()?;
    Ok(sale)
}
