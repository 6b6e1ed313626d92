//! Price sets: grade prices a manager set, when they take effect, and which pump
//! confirmed them.
//!
//! Owns `price_sets` and `price_set_pumps`. A set lists only the grades it changes; the
//! station's prices are the configured ones overlaid with every activated set in order
//! (the forecourt actor folds them). Activation, sending and confirmation are recorded
//! as they happen, so a restart knows which pump still needs the current prices. A set
//! cancelled before its time stays journaled (with who and when) but never takes effect.

use std::collections::BTreeMap;

use jiff::Timestamp;
use pump_protocols::{GradeId, PositionId, UnitPrice};
use rusqlite::{params, Connection};
use serde_json::{json, Map, Value};

use super::error::{JournalError, Result};
use super::row::{decimal_text, parse_decimal, time_text, RowReader};

/// Journal id of a price set.
pub type PriceSetId = i64;

/// A price set to record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewPriceSet {
    /// The grades it changes and their new unit prices.
    pub prices: BTreeMap<GradeId, UnitPrice>,
    /// When it takes effect.
    pub effective_at: Timestamp,
    /// Who set it.
    pub created_by: String,
}

/// One pump's progress with a price set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PumpProgress {
    /// The position.
    pub position: PositionId,
    /// When the prices were last sent.
    pub sent_at: Option<Timestamp>,
    /// When the pump confirmed them.
    pub confirmed_at: Option<Timestamp>,
    /// The last failure to program them.
    pub last_error: Option<String>,
}

/// A price set as journaled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceSetRecord {
    /// Journal id.
    pub id: PriceSetId,
    /// The grades it changes.
    pub prices: BTreeMap<GradeId, UnitPrice>,
    /// When it takes effect.
    pub effective_at: Timestamp,
    /// When it was recorded.
    pub created_at: Timestamp,
    /// Who set it.
    pub created_by: String,
    /// When it became the station's prices.
    pub activated_at: Option<Timestamp>,
    /// When a manager cancelled it before its time (it never takes effect).
    pub cancelled_at: Option<Timestamp>,
    /// Who cancelled it.
    pub cancelled_by: Option<String>,
    /// Per pump, once programming started.
    pub pumps: Vec<PumpProgress>,
}

fn prices_text(prices: &BTreeMap<GradeId, UnitPrice>) -> String {
    let map: Map<String, Value> = prices
        .iter()
        .map(|(g, p)| (g.0.to_string(), Value::String(decimal_text(p.value()))))
        .collect();
    Value::Object(map).to_string()
}

fn decode(conn: &Connection, row: &rusqlite::Row<'_>) -> Result<PriceSetRecord> {
    let r = RowReader::new(row, "price_sets", "id")?;
    let text: String = r.get("prices")?;
    let value: Value =
        serde_json::from_str(&text).map_err(|e| r.corrupt("prices", e.to_string()))?;
    let object = value
        .as_object()
        .ok_or_else(|| r.corrupt("prices", "not an object"))?;
    let mut prices = BTreeMap::new();
    for (grade, price) in object {
        let grade = grade
            .parse::<u16>()
            .map_err(|_| r.corrupt("prices", format!("grade {grade:?}")))?;
        let price = price
            .as_str()
            .and_then(parse_decimal)
            .ok_or_else(|| r.corrupt("prices", format!("price of grade {grade}")))?;
        prices.insert(GradeId(grade), UnitPrice::new(price));
    }
    let id = r.id();
    Ok(PriceSetRecord {
        id,
        prices,
        effective_at: r.time("effective_at")?,
        created_at: r.time("created_at")?,
        created_by: r.get("created_by")?,
        activated_at: r.opt_time("activated_at")?,
        cancelled_at: r.opt_time("cancelled_at")?,
        cancelled_by: r.opt_text("cancelled_by")?,
        pumps: pumps(conn, id)?,
    })
}

fn pumps(conn: &Connection, id: PriceSetId) -> Result<Vec<PumpProgress>> {
    let mut stmt = conn.prepare_cached(
        "SELECT rowid, position, sent_at, confirmed_at, last_error FROM price_set_pumps \
         WHERE price_set_id = ?1 ORDER BY position",
    )?;
    let mut rows = stmt.query([id])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let r = RowReader::with_rowid(row, "price_set_pumps")?;
        out.push(PumpProgress {
            position: PositionId(r.int("position")?),
            sent_at: r.opt_time("sent_at")?,
            confirmed_at: r.opt_time("confirmed_at")?,
            last_error: r.opt_text("last_error")?,
        });
    }
    Ok(out)
}

/// Records a new price set.
pub(crate) fn add(conn: &Connection, now: Timestamp, new: &NewPriceSet) -> Result<PriceSetRecord> {
    let tx = conn.unchecked_transaction()?;
    let record = insert(&tx, now, new, None)?;
    tx.commit()?;
    Ok(record)
}

/// Records a new price set inside the open transaction `tx`; `plan` is the central price
/// plan it comes from, named in its outbox event.
pub(crate) fn insert(
    tx: &Connection,
    now: Timestamp,
    new: &NewPriceSet,
    plan: Option<&str>,
) -> Result<PriceSetRecord> {
    tx.execute(
        "INSERT INTO price_sets (prices, effective_at, created_at, created_by) \
         VALUES (?1, ?2, ?3, ?4)",
        params![
            prices_text(&new.prices),
            time_text(new.effective_at),
            time_text(now),
            new.created_by
        ],
    )?;
    let id = tx.last_insert_rowid();
    let record = get(tx, id)?.ok_or(JournalError::PriceSetNotFound(id))?;
    let mut payload = json!({
        "price_set": id,
        "prices": serde_json::from_str::<Value>(&prices_text(&new.prices)).unwrap_or(Value::Null),
        "effective_at": time_text(new.effective_at),
        "by": new.created_by,
    });
    if let (Some(plan), Some(object)) = (plan, payload.as_object_mut()) {
        object.insert("plan".to_owned(), Value::from(plan));
    }
    super::outbox::record(
        tx,
        now,
        "price_set_added",
        &format!("price_set:{id}"),
        payload,
    )?;
    Ok(record)
}

/// One price set.
pub(crate) fn get(conn: &Connection, id: PriceSetId) -> Result<Option<PriceSetRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, prices, effective_at, created_at, created_by, activated_at, \
         cancelled_at, cancelled_by FROM price_sets WHERE id = ?1",
    )?;
    let mut rows = stmt.query([id])?;
    match rows.next()? {
        Some(row) => Ok(Some(decode(conn, row)?)),
        None => Ok(None),
    }
}

/// Every price set, oldest first.
pub(crate) fn all(conn: &Connection) -> Result<Vec<PriceSetRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, prices, effective_at, created_at, created_by, activated_at, \
         cancelled_at, cancelled_by FROM price_sets ORDER BY id",
    )?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode(conn, row)?);
    }
    Ok(out)
}

/// Marks a price set as the station's prices from `at`.
pub(crate) fn activate(conn: &Connection, id: PriceSetId, at: Timestamp) -> Result<()> {
    let tx = conn.unchecked_transaction()?;
    let changed = tx.execute(
        "UPDATE price_sets SET activated_at = ?2 \
         WHERE id = ?1 AND activated_at IS NULL AND cancelled_at IS NULL",
        params![id, time_text(at)],
    )?;
    if changed == 0 {
        match get(&tx, id)? {
            None => return Err(JournalError::PriceSetNotFound(id)),
            Some(set) if set.activated_at.is_none() => {
                return Err(JournalError::PriceSetCancelled(id))
            }
            Some(_) => {}
        }
    }
    if changed > 0 {
        super::outbox::record(
            &tx,
            at,
            "price_set_activated",
            &format!("price_set:{id}"),
            super::price_plans::with_plan(&tx, id, json!({ "price_set": id }))?,
        )?;
    }
    tx.commit()?;
    Ok(())
}

/// Cancels a price set that is not in force yet, in the same transaction as its outbox
/// event; the journal decides, so a cancel and the set's activation cannot both win.
pub(crate) fn cancel(
    conn: &Connection,
    id: PriceSetId,
    at: Timestamp,
    by: &str,
) -> Result<PriceSetRecord> {
    let tx = conn.unchecked_transaction()?;
    let changed = tx.execute(
        "UPDATE price_sets SET cancelled_at = ?2, cancelled_by = ?3 \
         WHERE id = ?1 AND activated_at IS NULL AND cancelled_at IS NULL",
        params![id, time_text(at), by],
    )?;
    let record = get(&tx, id)?.ok_or(JournalError::PriceSetNotFound(id))?;
    if changed == 0 {
        return Err(if record.activated_at.is_some() {
            JournalError::PriceSetInForce(id)
        } else {
            JournalError::PriceSetCancelled(id)
        });
    }
    super::outbox::record(
        &tx,
        at,
        "price_set_cancelled",
        &format!("price_set:{id}"),
        json!({
            "price_set": id,
            "effective_at": time_text(record.effective_at),
            "by": by,
        }),
    )?;
    tx.commit()?;
    Ok(record)
}

/// What happened to a price set at one pump.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PumpStep {
    /// The prices were sent to the pump.
    Sent,
    /// The pump confirmed them.
    Confirmed,
    /// Programming failed; it is tried again.
    Failed(String),
}

/// Records a step of programming a price set into a pump.
pub(crate) fn pump_step(
    conn: &Connection,
    id: PriceSetId,
    position: PositionId,
    at: Timestamp,
    step: &PumpStep,
) -> Result<()> {
    let tx = conn.unchecked_transaction()?;
    tx.execute(
        "INSERT INTO price_set_pumps (price_set_id, position) VALUES (?1, ?2) \
         ON CONFLICT (price_set_id, position) DO NOTHING",
        params![id, position.0],
    )?;
    let when = time_text(at);
    match step {
        PumpStep::Sent => tx.execute(
            "UPDATE price_set_pumps SET sent_at = ?3 \
             WHERE price_set_id = ?1 AND position = ?2",
            params![id, position.0, when],
        )?,
        PumpStep::Confirmed => tx.execute(
            "UPDATE price_set_pumps SET confirmed_at = ?3, last_error = NULL \
             WHERE price_set_id = ?1 AND position = ?2",
            params![id, position.0, when],
        )?,
        PumpStep::Failed(reason) => tx.execute(
            "UPDATE price_set_pumps SET last_error = ?3 \
             WHERE price_set_id = ?1 AND position = ?2",
            params![id, position.0, reason],
        )?,
    };
    if *step == PumpStep::Confirmed {
        // The price change is applied at this pump: headquarters' price plans close here.
        super::outbox::record(
            &tx,
            at,
            "price_set_confirmed",
            &format!("position:{}", position.0),
            super::price_plans::with_plan(
                &tx,
                id,
                json!({ "price_set": id, "position": position.0 }),
            )?,
        )?;
    }
    tx.commit()?;
    Ok(())
}
