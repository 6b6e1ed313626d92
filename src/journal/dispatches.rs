//! Dispatches started by attendants.
//!
//! Owns the `dispatches` table. A dispatch is open from `start` until a sale links it
//! ([`super::sales`]) or it is cancelled; a position holds at most one open dispatch. On
//! restart, an open dispatch whose pump reports a completed transaction means the sale
//! completed while the daemon was down: the caller records it with `complete_sale`
//! naming this dispatch. This module never decides pump state.

use jiff::Timestamp;
use pump_protocols::{GradeId, Money, NozzleId, PositionId, Preset, Volume};
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

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
    /// The grades the dispatch is limited to; empty lets the customer take any.
    pub grades: Vec<GradeId>,
    /// When the authorization was sent.
    pub authorized_at: Timestamp,
}

/// How far an authorization got. Each step is journaled before the next one is taken, so
/// a restart knows whether the pump can have received it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum DispatchStage {
    /// Accepted from the attendant; not handed to the line yet.
    Requested,
    /// Handed to the line for the pump (it may or may not have arrived).
    Sent,
    /// The pump acknowledged the block that carried it.
    Acknowledged,
    /// The pump refused it, or it could not be delivered; the dispatch is closed.
    Refused,
}

impl DispatchStage {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            DispatchStage::Requested => "requested",
            DispatchStage::Sent => "sent",
            DispatchStage::Acknowledged => "acknowledged",
            DispatchStage::Refused => "refused",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "requested" => DispatchStage::Requested,
            "sent" => DispatchStage::Sent,
            "acknowledged" => DispatchStage::Acknowledged,
            "refused" => DispatchStage::Refused,
            _ => return None,
        })
    }
}

/// The electronic totals of one nozzle as read from the pump (evidence of what flowed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TotalsReading {
    /// The nozzle.
    pub nozzle: NozzleId,
    /// Volume total, if the pump reported it.
    pub volume: Option<Volume>,
    /// Amount total, if the pump reported it.
    pub amount: Option<Money>,
}

/// The stored form of a baseline: `[{"nozzle": 1, "volume": "123.45", "amount": "…"}]`,
/// decimals as text so nothing is rounded.
pub fn baseline_json(readings: &[TotalsReading]) -> Value {
    Value::Array(
        readings
            .iter()
            .map(|r| {
                json!({
                    "nozzle": r.nozzle.0,
                    "volume": r.volume.map(|v| decimal_text(v.value())),
                    "amount": r.amount.map(|a| decimal_text(a.value())),
                })
            })
            .collect(),
    )
}

/// The stored form of a grade limit: `[2, 3]`, or NULL for none.
fn grades_text(grades: &[GradeId]) -> Option<String> {
    (!grades.is_empty())
        .then(|| Value::Array(grades.iter().map(|g| json!(g.0)).collect()).to_string())
}

fn parse_grades(text: &str) -> Option<Vec<GradeId>> {
    let Value::Array(items) = serde_json::from_str::<Value>(text).ok()? else {
        return None;
    };
    items
        .iter()
        .map(|g| g.as_u64().and_then(|n| u16::try_from(n).ok()).map(GradeId))
        .collect()
}

fn parse_baseline(text: &str) -> Option<Vec<TotalsReading>> {
    let decimal = |v: &Value| -> Option<Option<rust_decimal::Decimal>> {
        match v {
            Value::Null => Some(None),
            Value::String(s) => super::row::parse_decimal(s).map(Some),
            _ => None,
        }
    };
    let Value::Array(items) = serde_json::from_str::<Value>(text).ok()? else {
        return None;
    };
    items
        .iter()
        .map(|item| {
            let nozzle = u8::try_from(item.get("nozzle")?.as_u64()?).ok()?;
            Some(TotalsReading {
                nozzle: NozzleId(nozzle),
                volume: decimal(item.get("volume")?)?.map(Volume::new),
                amount: decimal(item.get("amount")?)?.map(Money::new),
            })
        })
        .collect()
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
    /// The grades it was limited to; empty for any grade.
    pub grades: Vec<GradeId>,
    /// When the authorization was sent.
    pub authorized_at: Timestamp,
    /// The sale it became, once completed.
    pub sale: Option<SaleId>,
    /// When it was cancelled, if it was.
    pub cancelled_at: Option<Timestamp>,
    /// Why it was cancelled.
    pub cancel_reason: Option<String>,
    /// How far the authorization got.
    pub stage: DispatchStage,
    /// The pump's totals read before the authorization was sent, when they could be read.
    pub baseline: Option<Vec<TotalsReading>>,
}

impl Dispatch {
    /// True while neither a sale nor a cancellation closed it.
    pub fn is_open(&self) -> bool {
        self.sale.is_none() && self.cancelled_at.is_none()
    }
}

const COLUMNS: &str =
    "id, position, attendant, preset_kind, preset_value, authorized_at, sale_id, \
                       cancelled_at, cancel_reason, stage, baseline, grades";

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
    let stage_text: String = r.get("stage")?;
    let stage = DispatchStage::parse(&stage_text)
        .ok_or_else(|| r.corrupt("stage", format!("unknown stage {stage_text:?}")))?;
    let baseline = match r.opt_text("baseline")? {
        None => None,
        Some(text) => Some(
            parse_baseline(&text)
                .ok_or_else(|| r.corrupt("baseline", format!("{text:?} is not a totals list")))?,
        ),
    };
    let grades = match r.opt_text("grades")? {
        None => Vec::new(),
        Some(text) => parse_grades(&text)
            .ok_or_else(|| r.corrupt("grades", format!("{text:?} is not a grade list")))?,
    };
    Ok(Dispatch {
        stage,
        baseline,
        grades,
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
        "INSERT INTO dispatches (position, attendant, preset_kind, preset_value, authorized_at,
                                 grades)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            new.position.0,
            new.attendant,
            preset_kind,
            preset_value,
            time_text(new.authorized_at),
            grades_text(&new.grades),
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
                "grades": new.grades.iter().map(|g| g.0).collect::<Vec<_>>(),
                "authorized_at": new.authorized_at.to_string(),
            }),
        },
    )?;
    tx.commit()?;
    Ok(id)
}

/// How a dispatch is closed without a sale.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchClosure {
    /// Why, in words the attendant reads.
    pub reason: String,
    /// True when the pump refused the authorization or it could not be delivered.
    pub refused: bool,
    /// Who closed it, when a person did (attendant, manager, token name).
    pub by: Option<String>,
}

/// Closes an open dispatch without a sale.
pub(crate) fn cancel(
    conn: &mut Connection,
    now: Timestamp,
    id: DispatchId,
    closure: &DispatchClosure,
) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let dispatch = get(&tx, id)?.ok_or(JournalError::DispatchNotFound(id))?;
    if !dispatch.is_open() {
        return Err(JournalError::DispatchNotOpen(id));
    }
    let stage = if closure.refused {
        DispatchStage::Refused
    } else {
        dispatch.stage
    };
    tx.execute(
        "UPDATE dispatches SET cancelled_at = ?2, cancel_reason = ?3, stage = ?4 WHERE id = ?1",
        params![id, time_text(now), closure.reason, stage.as_str()],
    )?;
    events::append(
        &tx,
        now,
        &NewEvent {
            sale: None,
            position: Some(dispatch.position),
            kind: kind::DISPATCH_CANCELLED.to_owned(),
            detail: json!({
                "dispatch": id,
                "reason": closure.reason,
                "refused": closure.refused,
                "by": closure.by,
                "stage": dispatch.stage.as_str(),
            }),
        },
    )?;
    tx.commit()?;
    Ok(())
}

/// Moves an open dispatch forward to `stage` (never back), storing the baseline totals
/// when given, with its event, in one transaction.
pub(crate) fn advance(
    conn: &mut Connection,
    now: Timestamp,
    id: DispatchId,
    stage: DispatchStage,
    baseline: Option<&[TotalsReading]>,
) -> Result<()> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let dispatch = get(&tx, id)?.ok_or(JournalError::DispatchNotFound(id))?;
    if !dispatch.is_open() {
        return Err(JournalError::DispatchNotOpen(id));
    }
    if stage <= dispatch.stage && baseline.is_none() {
        return Ok(());
    }
    let stage = stage.max(dispatch.stage);
    let baseline_text = baseline.map(|b| baseline_json(b).to_string());
    tx.execute(
        "UPDATE dispatches SET stage = ?2, baseline = COALESCE(?3, baseline) WHERE id = ?1",
        params![id, stage.as_str(), baseline_text],
    )?;
    events::append(
        &tx,
        now,
        &NewEvent {
            sale: None,
            position: Some(dispatch.position),
            kind: kind::DISPATCH_STAGE.to_owned(),
            detail: json!({
                "dispatch": id,
                "stage": stage.as_str(),
                "baseline": baseline.map(baseline_json),
            }),
        },
    )?;
    tx.commit()?;
    Ok(())
}
