//! Shifts: who opened and closed each one, and the pumps' totalizers at both ends.
//!
//! Owns the `shifts` table. At most one shift is open (a partial unique index says so
//! too); a sale journaled while it is open carries its id (`sales.shift_id`, set by the
//! sale's own insert in [`super::sales`]). The totalizers are stored as the daemon read
//! them, missing readings included with the reason, so a report can say what it could not
//! compare. Reports themselves are computed elsewhere ([`crate::shift_report`]).

use jiff::Timestamp;
use pump_protocols::{GradeId, Money, NozzleId, PositionId, Volume};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::{json, Value};

use super::error::{JournalError, Result};
use super::row::{decimal_text, parse_decimal, time_text, RowReader};

/// Journal id of a shift.
pub type ShiftId = i64;

/// One nozzle's totalizers as read at a shift's open or close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NozzleTotals {
    /// The position.
    pub position: PositionId,
    /// The nozzle.
    pub nozzle: NozzleId,
    /// Its grade, per configuration.
    pub grade: Option<GradeId>,
    /// Volume total, if read.
    pub volume: Option<Volume>,
    /// Amount total, if read.
    pub amount: Option<Money>,
    /// Why it could not be read (pump offline, no answer).
    pub error: Option<String>,
}

impl NozzleTotals {
    /// The stored JSON form.
    pub fn to_json(&self) -> Value {
        json!({
            "position": self.position.0,
            "nozzle": self.nozzle.0,
            "grade": self.grade.map(|g| g.0),
            "volume": self.volume.map(|v| decimal_text(v.value())),
            "amount": self.amount.map(|a| decimal_text(a.value())),
            "error": self.error,
        })
    }

    fn from_json(value: &Value) -> Option<Self> {
        let int = |key: &str| value.get(key).and_then(Value::as_u64);
        let decimal = |key: &str| {
            value
                .get(key)
                .and_then(Value::as_str)
                .and_then(parse_decimal)
        };
        Some(Self {
            position: PositionId(u16::try_from(int("position")?).ok()?),
            nozzle: NozzleId(u8::try_from(int("nozzle")?).ok()?),
            grade: int("grade")
                .and_then(|g| u16::try_from(g).ok())
                .map(GradeId),
            volume: decimal("volume").map(Volume::new),
            amount: decimal("amount").map(Money::new),
            error: value
                .get("error")
                .and_then(Value::as_str)
                .map(str::to_owned),
        })
    }
}

fn totals_text(totals: &[NozzleTotals]) -> String {
    Value::Array(totals.iter().map(NozzleTotals::to_json).collect()).to_string()
}

/// A shift as journaled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shift {
    /// Journal id.
    pub id: ShiftId,
    /// One-character code, the order's `loyalty.shift`.
    pub code: String,
    /// When it opened.
    pub opened_at: Timestamp,
    /// Who opened it (`attendant:7`, `manager:ana`, `token:cli`).
    pub opened_by: String,
    /// Totalizers read at open.
    pub open_totals: Vec<NozzleTotals>,
    /// When it closed.
    pub closed_at: Option<Timestamp>,
    /// Who closed it.
    pub closed_by: Option<String>,
    /// Totalizers read at close.
    pub close_totals: Option<Vec<NozzleTotals>>,
}

/// A shift to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewShift {
    /// Its one-character code.
    pub code: String,
    /// When.
    pub at: Timestamp,
    /// Who.
    pub by: String,
    /// Totalizers read just before.
    pub totals: Vec<NozzleTotals>,
}

const COLUMNS: &str =
    "id, code, opened_at, opened_by, open_totals, closed_at, closed_by, close_totals";

fn parse_totals(r: &RowReader<'_, '_>, column: &'static str) -> Result<Option<Vec<NozzleTotals>>> {
    let Some(text) = r.opt_text(column)? else {
        return Ok(None);
    };
    let value: Value = serde_json::from_str(&text).map_err(|e| r.corrupt(column, e.to_string()))?;
    let list = value
        .as_array()
        .ok_or_else(|| r.corrupt(column, "not a list"))?
        .iter()
        .map(|item| NozzleTotals::from_json(item).ok_or_else(|| r.corrupt(column, "bad entry")))
        .collect::<Result<Vec<_>>>()?;
    Ok(Some(list))
}

fn decode(row: &rusqlite::Row<'_>) -> Result<Shift> {
    let r = RowReader::new(row, "shifts", "id")?;
    Ok(Shift {
        id: r.id(),
        code: r.get("code")?,
        opened_at: r.time("opened_at")?,
        opened_by: r.get("opened_by")?,
        open_totals: parse_totals(&r, "open_totals")?.unwrap_or_default(),
        closed_at: r.opt_time("closed_at")?,
        closed_by: r.opt_text("closed_by")?,
        close_totals: parse_totals(&r, "close_totals")?,
    })
}

fn query(conn: &Connection, filter: &str, params: impl rusqlite::Params) -> Result<Vec<Shift>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} FROM shifts {filter}"))?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// The open shift, if any.
pub(crate) fn current(conn: &Connection) -> Result<Option<Shift>> {
    Ok(query(conn, "WHERE closed_at IS NULL", [])?.pop())
}

/// One shift.
pub(crate) fn get(conn: &Connection, id: ShiftId) -> Result<Option<Shift>> {
    Ok(query(conn, "WHERE id = ?1", [id])?.pop())
}

/// The latest shifts, newest first.
pub(crate) fn recent(conn: &Connection, limit: u32) -> Result<Vec<Shift>> {
    query(conn, "ORDER BY id DESC LIMIT ?1", [limit])
}

/// How many shifts opened at or after `since`.
pub(crate) fn opened_since(conn: &Connection, since: Timestamp) -> Result<u32> {
    let count: i64 = conn.query_row(
        "SELECT count(*) FROM shifts WHERE opened_at >= ?1",
        [time_text(since)],
        |r| r.get(0),
    )?;
    Ok(u32::try_from(count).unwrap_or(u32::MAX))
}

/// Opens a shift; refused while another is open.
pub(crate) fn open(conn: &mut Connection, new: &NewShift) -> Result<Shift> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if let Some(open) = current(&tx)? {
        return Err(JournalError::ShiftOpen(open.id));
    }
    tx.execute(
        "INSERT INTO shifts (code, opened_at, opened_by, open_totals) VALUES (?1, ?2, ?3, ?4)",
        params![
            new.code,
            time_text(new.at),
            new.by,
            totals_text(&new.totals)
        ],
    )?;
    let id = tx.last_insert_rowid();
    let shift = get(&tx, id)?.ok_or(JournalError::ShiftNotFound(id))?;
    super::outbox::record(
        &tx,
        new.at,
        "shift_opened",
        &format!("shift:{id}"),
        json!({
            "shift": id,
            "code": new.code,
            "by": new.by,
            "totals": new.totals.iter().map(NozzleTotals::to_json).collect::<Vec<_>>(),
        }),
    )?;
    tx.commit()?;
    Ok(shift)
}

/// What a closed shift's report says, rendered by whoever knows the grade names: the
/// journal keeps sales, not the station's configuration.
pub type ShiftReporter = Box<dyn FnOnce(Shift, &[super::SaleRecord]) -> Value + Send>;

/// Closes the open shift with the totalizers read just before; the `shift_closed` event
/// carries the readings and the report `reporter` renders from the shift's sales.
pub(crate) fn close(
    conn: &mut Connection,
    at: Timestamp,
    by: &str,
    totals: &[NozzleTotals],
    reporter: ShiftReporter,
) -> Result<Shift> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let id: ShiftId = tx
        .query_row("SELECT id FROM shifts WHERE closed_at IS NULL", [], |r| {
            r.get(0)
        })
        .optional()?
        .ok_or(JournalError::NoShiftOpen)?;
    tx.execute(
        "UPDATE shifts SET closed_at = ?2, closed_by = ?3, close_totals = ?4 WHERE id = ?1",
        params![id, time_text(at), by, totals_text(totals)],
    )?;
    let shift = get(&tx, id)?.ok_or(JournalError::ShiftNotFound(id))?;
    // The report as the station printed it travels with the readings, so headquarters
    // sees the same figures the attendant signed, whatever it computes itself.
    let sales = super::sales::for_shift(&tx, id)?;
    let report = reporter(shift.clone(), &sales);
    super::outbox::record(
        &tx,
        at,
        "shift_closed",
        &format!("shift:{id}"),
        json!({
            "shift": id,
            "by": by,
            "totals": totals.iter().map(NozzleTotals::to_json).collect::<Vec<_>>(),
            "report": report,
        }),
    )?;
    tx.commit()?;
    Ok(shift)
}
