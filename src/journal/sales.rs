//! Sales: recording a completed dispatch and moving it through its lifecycle.
//!
//! Owns the `sales` table and the invoice counter. `complete` is one transaction: bump
//! the counter, insert the sale as `ready` with its identity ([`super::identity`]), link
//! the dispatch, write the event. Each later transition (`paid`, `settled_other`,
//! `voided`) is allowed only from `ready`, checked and applied in one transaction with its
//! event; a refused transition changes nothing. This module never talks to Mercado Pago
//! and never decides whether a payment is good: callers do, then call `mark_paid`.

use jiff::Timestamp;
use pump_protocols::{GradeId, Money, NozzleId, PositionId, UnitPrice, Volume};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::{json, Value};

use crate::sale::{Sale, SaleId, SaleStatus};

use super::dispatches::{self, DispatchId};
use super::error::{JournalError, Result};
use super::events::{self, kind, NewEvent};
use super::identity::{SaleIdentity, StoreId};
use super::row::{decimal_text, time_text, RowReader};

/// The figures of a completed dispatch, as the pump reported them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompletedSale {
    /// The dispatch it completes, if an attendant started one.
    pub dispatch: Option<DispatchId>,
    /// The position.
    pub position: PositionId,
    /// The nozzle used.
    pub nozzle: NozzleId,
    /// The grade, if the nozzle is mapped.
    pub grade: Option<GradeId>,
    /// Volume dispensed.
    pub volume: Volume,
    /// Amount charged (the pump's figure).
    pub amount: Money,
    /// Unit price the pump used.
    pub unit_price: UnitPrice,
    /// The attendant; when `None`, the dispatch's attendant is used.
    pub attendant: Option<String>,
    /// When the pump reported the completion.
    pub completed_at: Timestamp,
    /// The price set the pump had confirmed for this dispatch, when known.
    pub price_set: Option<i64>,
}

/// A sale with the journal's bookkeeping (for the admin page and the reconciler).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleRecord {
    /// The sale.
    pub sale: Sale,
    /// The dispatch it completed, if any.
    pub dispatch: Option<DispatchId>,
    /// How many times the order endpoint served it.
    pub served_count: u32,
    /// When it was first served.
    pub first_served_at: Option<Timestamp>,
    /// The Mercado Pago payment that paid it.
    pub payment_id: Option<String>,
    /// When the payment was confirmed.
    pub paid_at: Option<Timestamp>,
    /// The note given when it was settled another way or voided.
    pub settled_note: Option<String>,
    /// When the journal recorded it.
    pub created_at: Timestamp,
    /// When the journal last changed it.
    pub updated_at: Timestamp,
}

const COLUMNS: &str = "s.id, s.external_reference, s.transaction_id, s.invoice_number, \
     s.position, s.nozzle, s.grade, s.volume, s.amount, s.unit_price, s.attendant, \
     s.completed_at, s.status, s.preference_id, s.served_count, s.first_served_at, \
     s.payment_id, s.paid_at, s.settled_note, s.created_at, s.updated_at, \
     s.shift_id, s.price_set_id, sh.code AS shift_code, d.id AS dispatch_id";

const FROM: &str = "FROM sales s LEFT JOIN dispatches d ON d.sale_id = s.id \
     LEFT JOIN shifts sh ON sh.id = s.shift_id";

fn decode(row: &rusqlite::Row<'_>) -> Result<SaleRecord> {
    let r = RowReader::new(row, "sales", "id")?;
    let invoice: String = r.get("invoice_number")?;
    let invoice_number = if invoice.len() == 8 && invoice.bytes().all(|b| b.is_ascii_digit()) {
        invoice
            .parse::<u64>()
            .map_err(|e| r.corrupt("invoice_number", e.to_string()))?
    } else {
        return Err(r.corrupt("invoice_number", format!("{invoice:?} is not 8 digits")));
    };
    let sale = Sale {
        id: r.id(),
        external_reference: r.get("external_reference")?,
        transaction_id: r.get("transaction_id")?,
        invoice_number,
        position: PositionId(r.int("position")?),
        nozzle: NozzleId(r.int("nozzle")?),
        grade: r.opt_int::<u16>("grade")?.map(GradeId),
        volume: Volume::new(r.decimal("volume")?),
        amount: Money::new(r.decimal("amount")?),
        unit_price: UnitPrice::new(r.decimal("unit_price")?),
        attendant: r.opt_text("attendant")?,
        completed_at: r.time("completed_at")?,
        status: r.named("status", SaleStatus::parse)?,
        preference_id: r.opt_text("preference_id")?,
        shift: match (r.get::<Option<i64>>("shift_id")?, r.opt_text("shift_code")?) {
            (Some(id), Some(code)) => Some(crate::sale::ShiftTag { id, code }),
            _ => None,
        },
        price_set: r.get("price_set_id")?,
    };
    Ok(SaleRecord {
        sale,
        dispatch: r.get("dispatch_id")?,
        served_count: r.int("served_count")?,
        first_served_at: r.opt_time("first_served_at")?,
        payment_id: r.opt_text("payment_id")?,
        paid_at: r.opt_time("paid_at")?,
        settled_note: r.opt_text("settled_note")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

fn query(
    conn: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<SaleRecord>> {
    let mut stmt = conn.prepare_cached(&format!("SELECT {COLUMNS} {FROM} {filter}"))?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// One sale with its bookkeeping.
pub(crate) fn record(conn: &Connection, id: SaleId) -> Result<Option<SaleRecord>> {
    Ok(query(conn, "WHERE s.id = ?1", [id])?.pop())
}

/// The sales journaled during a shift, oldest first.
pub(crate) fn for_shift(conn: &Connection, shift: i64) -> Result<Vec<SaleRecord>> {
    query(conn, "WHERE s.shift_id = ?1 ORDER BY s.id", [shift])
}

/// One sale.
pub(crate) fn get(conn: &Connection, id: SaleId) -> Result<Option<Sale>> {
    Ok(record(conn, id)?.map(|r| r.sale))
}

/// A sale by its external reference, ignoring case (the column collates NOCASE, as
/// Mercado Pago compares references).
pub(crate) fn by_reference(conn: &Connection, reference: &str) -> Result<Option<Sale>> {
    Ok(query(conn, "WHERE s.external_reference = ?1", [reference])?
        .pop()
        .map(|r| r.sale))
}

/// Every payable sale, oldest first.
pub(crate) fn unpaid(conn: &Connection) -> Result<Vec<Sale>> {
    Ok(query(conn, "WHERE s.status = 'ready' ORDER BY s.id", [])?
        .into_iter()
        .map(|r| r.sale)
        .collect())
}

/// The newest payable sale of a position: the one the order endpoint serves.
pub(crate) fn latest_payable(conn: &Connection, position: PositionId) -> Result<Option<Sale>> {
    Ok(query(
        conn,
        "WHERE s.status = 'ready' AND s.position = ?1 ORDER BY s.id DESC LIMIT 1",
        [position.0],
    )?
    .pop()
    .map(|r| r.sale))
}

/// The newest `limit` sales, newest first.
/// The latest sale of a position, whatever its status.
pub(crate) fn last_for(conn: &Connection, position: PositionId) -> Result<Option<Sale>> {
    let mut stmt =
        conn.prepare_cached("SELECT id FROM sales WHERE position = ?1 ORDER BY id DESC LIMIT 1")?;
    let id: Option<SaleId> = stmt.query_row([position.0], |row| row.get(0)).optional()?;
    match id {
        Some(id) => get(conn, id),
        None => Ok(None),
    }
}

pub(crate) fn recent(conn: &Connection, limit: u32) -> Result<Vec<SaleRecord>> {
    query(conn, "ORDER BY s.id DESC LIMIT ?1", [limit])
}

/// What a sales search asks for; every field given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SaleFilter {
    /// The position.
    pub position: Option<u16>,
    /// The attendant's id.
    pub attendant: Option<String>,
    /// Part of the external reference (case does not matter).
    pub reference: Option<String>,
    /// The status (`ready`, `paid`, `settled_other`, `voided`).
    pub status: Option<String>,
    /// Completed at or after.
    pub from: Option<Timestamp>,
    /// Completed before.
    pub to: Option<Timestamp>,
    /// At most this many, newest first.
    pub limit: u32,
}

/// Sales matching `filter`, newest first.
pub(crate) fn search(conn: &Connection, filter: &SaleFilter) -> Result<Vec<SaleRecord>> {
    // LIKE's own wildcards in a reference are matched literally.
    let reference = filter.reference.as_ref().map(|r| {
        r.replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_")
    });
    query(
        conn,
        "WHERE (?1 IS NULL OR s.position = ?1) AND (?2 IS NULL OR s.attendant = ?2) \
         AND (?3 IS NULL OR s.external_reference LIKE '%' || ?3 || '%' ESCAPE '\\') \
         AND (?4 IS NULL OR s.status = ?4) AND (?5 IS NULL OR s.completed_at >= ?5) \
         AND (?6 IS NULL OR s.completed_at < ?6) ORDER BY s.id DESC LIMIT ?7",
        rusqlite::params![
            filter.position,
            filter.attendant,
            reference,
            filter.status,
            filter.from.map(time_text),
            filter.to.map(time_text),
            filter.limit,
        ],
    )
}

/// Takes the next invoice number; the caller's transaction makes it durable or not.
/// How many sales are in each state (`/metrics`).
pub(crate) fn counts_by_status(conn: &Connection) -> Result<Vec<(String, u64)>> {
    let mut statement =
        conn.prepare_cached("SELECT status, count(*) FROM sales GROUP BY status ORDER BY status")?;
    let rows = statement.query_map([], |row| {
        Ok((row.get::<_, String>(0)?, row.get::<_, i64>(1)?))
    })?;
    let mut counts = Vec::new();
    for row in rows {
        let (status, count) = row?;
        counts.push((status, u64::try_from(count).unwrap_or(0)));
    }
    Ok(counts)
}

fn next_invoice(conn: &Connection) -> Result<u64> {
    let n: i64 = conn
        .query_row(
            "UPDATE counters SET value = value + 1 WHERE name = 'invoice' RETURNING value",
            [],
            |r| r.get(0),
        )
        .optional()?
        .ok_or_else(|| JournalError::Corrupt {
            table: "counters",
            column: "name",
            row: -1,
            reason: "the invoice counter row is missing".to_owned(),
        })?;
    u64::try_from(n).map_err(|_| JournalError::Corrupt {
        table: "counters",
        column: "value",
        row: -1,
        reason: format!("invoice counter {n} is negative"),
    })
}

/// Records a completed dispatch as a `ready` sale; durable when it returns.
pub(crate) fn complete(
    conn: &mut Connection,
    store: &StoreId,
    now: Timestamp,
    new: &CompletedSale,
) -> Result<Sale> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let sale = complete_in(&tx, store, now, new)?;
    tx.commit()?;
    Ok(sale)
}

/// [`complete`] inside a caller's transaction, for changes that must commit with the sale.
pub(crate) fn complete_in(
    tx: &Connection,
    store: &StoreId,
    now: Timestamp,
    new: &CompletedSale,
) -> Result<Sale> {
    let mut attendant = new.attendant.clone();
    if let Some(dispatch_id) = new.dispatch {
        let dispatch =
            dispatches::get(tx, dispatch_id)?.ok_or(JournalError::DispatchNotFound(dispatch_id))?;
        if !dispatch.is_open() {
            return Err(JournalError::DispatchNotOpen(dispatch_id));
        }
        if dispatch.position != new.position {
            return Err(JournalError::DispatchPositionMismatch {
                dispatch: dispatch_id,
                expected: dispatch.position,
                got: new.position,
            });
        }
        if attendant.is_none() {
            attendant = dispatch.attendant;
        }
    }
    let n = next_invoice(tx)?;
    let identity = SaleIdentity::new(store, new.position, n)?;
    let now_text = time_text(now);
    tx.execute(
        "INSERT INTO sales (external_reference, transaction_id, invoice_number, position, nozzle,
             grade, volume, amount, unit_price, attendant, completed_at, status,
             created_at, updated_at, price_set_id, shift_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 'ready', ?12, ?12, ?13,
             (SELECT id FROM shifts WHERE closed_at IS NULL))",
        params![
            identity.external_reference,
            identity.transaction_id,
            identity.invoice_number,
            new.position.0,
            new.nozzle.0,
            new.grade.map(|g| g.0),
            decimal_text(new.volume.value()),
            decimal_text(new.amount.value()),
            decimal_text(new.unit_price.value()),
            attendant,
            time_text(new.completed_at),
            now_text,
            new.price_set,
        ],
    )?;
    let id = tx.last_insert_rowid();
    if let Some(dispatch_id) = new.dispatch {
        tx.execute(
            "UPDATE dispatches SET sale_id = ?2 WHERE id = ?1",
            params![dispatch_id, id],
        )?;
    }
    events::append(
        tx,
        now,
        &NewEvent {
            sale: Some(id),
            position: Some(new.position),
            kind: kind::SALE_COMPLETED.to_owned(),
            detail: json!({
                "dispatch": new.dispatch,
                "invoice_number": identity.invoice_number,
                "external_reference": identity.external_reference,
                "nozzle": new.nozzle.0,
                "grade": new.grade.map(|g| g.0),
                "volume": decimal_text(new.volume.value()),
                "amount": decimal_text(new.amount.value()),
                "unit_price": decimal_text(new.unit_price.value()),
                "completed_at": new.completed_at.to_string(),
                "price_set": new.price_set,
            }),
        },
    )?;
    get(tx, id)?.ok_or(JournalError::SaleNotFound(id))
}

/// Servings of one sale by the order endpoint, counted in memory since the last write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServedTally {
    /// The sale served.
    pub sale: SaleId,
    /// Servings since the last write.
    pub count: u32,
    /// When it was first served, if this tally holds its first serving.
    pub first_at: Option<Timestamp>,
}

/// Adds the tallies to the sales' served counts in one transaction. The first serving of a
/// sale (its `first_served_at` was empty) also writes the `sale_served` event; later ones
/// only move the count. A tally for an unknown sale is skipped.
pub(crate) fn record_served(
    conn: &mut Connection,
    now: Timestamp,
    tallies: &[ServedTally],
) -> Result<()> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    for tally in tallies {
        let Some(before) = record(&tx, tally.sale)? else {
            continue;
        };
        let first_at = before.first_served_at.or(tally.first_at);
        let count: i64 = tx.query_row(
            "UPDATE sales SET served_count = served_count + ?2, first_served_at = ?3,
                 updated_at = ?4
             WHERE id = ?1 RETURNING served_count",
            params![
                tally.sale,
                tally.count,
                first_at.map(time_text),
                time_text(now)
            ],
            |r| r.get(0),
        )?;
        if let (None, Some(at)) = (before.first_served_at, first_at) {
            events::append(
                &tx,
                now,
                &NewEvent {
                    sale: Some(tally.sale),
                    position: Some(before.sale.position),
                    kind: kind::SALE_SERVED.to_owned(),
                    detail: json!({ "served_count": count, "at": at.to_string() }),
                },
            )?;
        }
    }
    tx.commit()?;
    Ok(())
}

/// Payable sales the order endpoint has served at least once.
pub(crate) fn served_unpaid(conn: &Connection) -> Result<Vec<SaleId>> {
    Ok(query(
        conn,
        "WHERE s.status = 'ready' AND s.first_served_at IS NOT NULL ORDER BY s.id",
        [],
    )?
    .into_iter()
    .map(|r| r.sale.id)
    .collect())
}

/// Stores the sale's preference id unless one is stored already; returns the stored one,
/// so two racing creations still serve one preference.
pub(crate) fn set_preference(
    conn: &mut Connection,
    now: Timestamp,
    id: SaleId,
    preference: &str,
) -> Result<String> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let sale = get(&tx, id)?.ok_or(JournalError::SaleNotFound(id))?;
    if let Some(existing) = sale.preference_id {
        return Ok(existing);
    }
    tx.execute(
        "UPDATE sales SET preference_id = ?2, updated_at = ?3 WHERE id = ?1",
        params![id, preference, time_text(now)],
    )?;
    events::append(
        &tx,
        now,
        &NewEvent {
            sale: Some(id),
            position: Some(sale.position),
            kind: kind::PREFERENCE_SET.to_owned(),
            detail: json!({ "preference_id": preference }),
        },
    )?;
    tx.commit()?;
    Ok(preference.to_owned())
}

/// The change a lifecycle transition makes besides `status`.
pub(crate) enum Outcome<'a> {
    /// Paid by this Mercado Pago payment at this time.
    Paid {
        /// Payment id.
        payment_id: &'a str,
        /// When it was confirmed.
        paid_at: Timestamp,
    },
    /// Settled another way, with a note.
    SettledOther(&'a str),
    /// Voided, with a note.
    Voided(&'a str),
}

/// Moves a `ready` sale to paid, settled_other or voided, with its event, atomically.
pub(crate) fn finish(
    conn: &mut Connection,
    now: Timestamp,
    id: SaleId,
    outcome: Outcome<'_>,
) -> Result<Sale> {
    let (to, event_kind) = match outcome {
        Outcome::Paid { .. } => (SaleStatus::Paid, kind::SALE_PAID),
        Outcome::SettledOther(_) => (SaleStatus::SettledOther, kind::SALE_SETTLED_OTHER),
        Outcome::Voided(_) => (SaleStatus::Voided, kind::SALE_VOIDED),
    };
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let sale = get(&tx, id)?.ok_or(JournalError::SaleNotFound(id))?;
    if sale.status != SaleStatus::Ready {
        return Err(JournalError::InvalidTransition {
            id,
            from: sale.status,
            to,
        });
    }
    let now_text = time_text(now);
    let detail: Value = match outcome {
        Outcome::Paid {
            payment_id,
            paid_at,
        } => {
            tx.execute(
                "UPDATE sales SET status = 'paid', payment_id = ?2, paid_at = ?3, updated_at = ?4
                 WHERE id = ?1",
                params![id, payment_id, time_text(paid_at), now_text],
            )?;
            json!({ "payment_id": payment_id, "paid_at": paid_at.to_string() })
        }
        Outcome::SettledOther(note) | Outcome::Voided(note) => {
            tx.execute(
                "UPDATE sales SET status = ?2, settled_note = ?3, updated_at = ?4 WHERE id = ?1",
                params![id, to.as_str(), note, now_text],
            )?;
            json!({ "note": note })
        }
    };
    events::append(
        &tx,
        now,
        &NewEvent {
            sale: Some(id),
            position: Some(sale.position),
            kind: event_kind.to_owned(),
            detail,
        },
    )?;
    let sale = get(&tx, id)?.ok_or(JournalError::SaleNotFound(id))?;
    tx.commit()?;
    Ok(sale)
}
