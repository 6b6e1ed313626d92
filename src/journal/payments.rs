//! Payments read from the Mercado Pago API, and refunds asked of it.
//!
//! Owns the `payments` and `refunds` tables: storage and simple queries only. Whether a
//! payment releases a sale, and flagging mismatches, is the payments logic's call (it then
//! uses `mark_paid`); this module records what it is told. A payment row holds the latest
//! state read from the API; each first sighting or change of status, amount, sale or flag
//! writes an event. A refund is keyed by its idempotency key, so asking twice with one key
//! records one refund.

use jiff::Timestamp;
use pump_protocols::Money;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};
use serde_json::json;

use crate::sale::SaleId;

use super::error::{JournalError, Result};
use super::events::{self, kind, NewEvent};
use super::row::{decimal_text, time_text, RowReader};

/// A payment as last read from the API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentRecord {
    /// Mercado Pago payment id (digits today; text so other id forms fit).
    pub payment_id: String,
    /// The sale it pays, once matched.
    pub sale: Option<SaleId>,
    /// `status` (approved, rejected, refunded, …).
    pub status: String,
    /// `status_detail`.
    pub status_detail: Option<String>,
    /// `transaction_amount`.
    pub amount: Money,
    /// `currency_id`.
    pub currency: String,
    /// `external_reference`, as the API gave it.
    pub external_reference: Option<String>,
    /// Why it needs a person (amount mismatch, refund, chargeback…), if it does.
    pub flagged_reason: Option<String>,
    /// The API's JSON answer, verbatim.
    pub raw: String,
    /// When it was read.
    pub seen_at: Timestamp,
}

/// What an upsert did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaymentChange {
    /// First sighting.
    Inserted,
    /// Status, detail, amount, sale or flag changed.
    Updated,
    /// Same state as before (only `raw` and `seen_at` refreshed).
    Unchanged,
}

/// A refund to ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewRefund {
    /// The payment to refund.
    pub payment_id: String,
    /// Partial amount; `None` refunds the whole payment.
    pub amount: Option<Money>,
    /// The `X-Idempotency-Key` sent to Mercado Pago.
    pub idempotency_key: String,
    /// When it was asked for.
    pub created_at: Timestamp,
}

/// A refund as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    /// Row id.
    pub id: i64,
    /// The payment refunded.
    pub payment_id: String,
    /// Partial amount; `None` for a total refund.
    pub amount: Option<Money>,
    /// The idempotency key.
    pub idempotency_key: String,
    /// Mercado Pago's refund id, once answered.
    pub mp_refund_id: Option<String>,
    /// `requested` until Mercado Pago answers, then its status.
    pub status: String,
    /// When it was asked for.
    pub created_at: Timestamp,
    /// When it last changed.
    pub updated_at: Timestamp,
}

/// What inserting a refund did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundOutcome {
    /// A new refund.
    Inserted(Refund),
    /// The key was already used for the same payment and amount: the earlier refund.
    Existing(Refund),
}

/// The status of a refund not yet answered.
pub const REFUND_REQUESTED: &str = "requested";

const PAYMENT_COLUMNS: &str = "rowid AS rowid, payment_id, sale_id, status, status_detail, \
     amount, currency, external_reference, flagged_reason, raw, seen_at";

fn decode_payment(row: &rusqlite::Row<'_>) -> Result<PaymentRecord> {
    let r = RowReader::with_rowid(row, "payments")?;
    Ok(PaymentRecord {
        payment_id: r.get("payment_id")?,
        sale: r.get("sale_id")?,
        status: r.get("status")?,
        status_detail: r.opt_text("status_detail")?,
        amount: Money::new(r.decimal("amount")?),
        currency: r.get("currency")?,
        external_reference: r.opt_text("external_reference")?,
        flagged_reason: r.opt_text("flagged_reason")?,
        raw: r.get("raw")?,
        seen_at: r.time("seen_at")?,
    })
}

fn payments(
    conn: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<PaymentRecord>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {PAYMENT_COLUMNS} FROM payments {filter}"))?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode_payment(row)?);
    }
    Ok(out)
}

/// One payment by id.
pub(crate) fn get(conn: &Connection, payment_id: &str) -> Result<Option<PaymentRecord>> {
    Ok(payments(conn, "WHERE payment_id = ?1", [payment_id])?.pop())
}

/// Payments matched to a sale, by id.
pub(crate) fn for_sale(conn: &Connection, sale: SaleId) -> Result<Vec<PaymentRecord>> {
    payments(conn, "WHERE sale_id = ?1 ORDER BY payment_id", [sale])
}

/// Payments that need a person, most recently seen first.
pub(crate) fn flagged(conn: &Connection, limit: u32) -> Result<Vec<PaymentRecord>> {
    payments(
        conn,
        "WHERE flagged_reason IS NOT NULL ORDER BY seen_at DESC LIMIT ?1",
        [limit],
    )
}

fn check_json(what: &'static str, text: &str) -> Result<()> {
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map(|_| ())
        .map_err(|e| JournalError::InvalidJson {
            what,
            reason: e.to_string(),
        })
}

/// Inserts or refreshes a payment; an event is written when its state changed.
pub(crate) fn upsert(
    conn: &mut Connection,
    now: Timestamp,
    p: &PaymentRecord,
) -> Result<PaymentChange> {
    check_json("payment raw", &p.raw)?;
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let before = get(&tx, &p.payment_id)?;
    let change = match &before {
        None => PaymentChange::Inserted,
        Some(b)
            if b.status == p.status
                && b.status_detail == p.status_detail
                && b.amount == p.amount
                && b.sale == p.sale
                && b.flagged_reason == p.flagged_reason =>
        {
            PaymentChange::Unchanged
        }
        Some(_) => PaymentChange::Updated,
    };
    tx.execute(
        "INSERT INTO payments (payment_id, sale_id, status, status_detail, amount, currency,
             external_reference, flagged_reason, raw, seen_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
         ON CONFLICT (payment_id) DO UPDATE SET
             sale_id = excluded.sale_id, status = excluded.status,
             status_detail = excluded.status_detail, amount = excluded.amount,
             currency = excluded.currency, external_reference = excluded.external_reference,
             flagged_reason = excluded.flagged_reason, raw = excluded.raw,
             seen_at = excluded.seen_at",
        params![
            p.payment_id,
            p.sale,
            p.status,
            p.status_detail,
            decimal_text(p.amount.value()),
            p.currency,
            p.external_reference,
            p.flagged_reason,
            p.raw,
            time_text(p.seen_at)
        ],
    )?;
    if change != PaymentChange::Unchanged {
        events::append(
            &tx,
            now,
            &NewEvent {
                sale: p.sale,
                position: None,
                kind: kind::PAYMENT_RECORDED.to_owned(),
                detail: json!({
                    "payment_id": p.payment_id,
                    "status": p.status,
                    "status_detail": p.status_detail,
                    "amount": decimal_text(p.amount.value()),
                    "currency": p.currency,
                    "external_reference": p.external_reference,
                    "flagged_reason": p.flagged_reason,
                    "previous_status": before.map(|b| b.status),
                }),
            },
        )?;
    }
    tx.commit()?;
    Ok(change)
}

const REFUND_COLUMNS: &str =
    "id, payment_id, amount, idempotency_key, mp_refund_id, status, created_at, updated_at";

fn decode_refund(row: &rusqlite::Row<'_>) -> Result<Refund> {
    let r = RowReader::new(row, "refunds", "id")?;
    Ok(Refund {
        id: r.id(),
        payment_id: r.get("payment_id")?,
        amount: r.opt_decimal("amount")?.map(Money::new),
        idempotency_key: r.get("idempotency_key")?,
        mp_refund_id: r.opt_text("mp_refund_id")?,
        status: r.get("status")?,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

fn refunds(conn: &Connection, filter: &str, params: impl rusqlite::Params) -> Result<Vec<Refund>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {REFUND_COLUMNS} FROM refunds {filter}"))?;
    let mut rows = stmt.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode_refund(row)?);
    }
    Ok(out)
}

/// Refunds of a payment, oldest first.
pub(crate) fn refunds_for(conn: &Connection, payment_id: &str) -> Result<Vec<Refund>> {
    refunds(conn, "WHERE payment_id = ?1 ORDER BY id", [payment_id])
}

/// Refunds still waiting for Mercado Pago's answer, oldest first.
pub(crate) fn requested_refunds(conn: &Connection) -> Result<Vec<Refund>> {
    refunds(conn, "WHERE status = ?1 ORDER BY id", [REFUND_REQUESTED])
}

/// Records a refund request, or returns the earlier one with the same key.
pub(crate) fn insert_refund(
    conn: &mut Connection,
    now: Timestamp,
    new: &NewRefund,
) -> Result<RefundOutcome> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if let Some(existing) =
        refunds(&tx, "WHERE idempotency_key = ?1", [&new.idempotency_key])?.pop()
    {
        if existing.payment_id == new.payment_id && existing.amount == new.amount {
            return Ok(RefundOutcome::Existing(existing));
        }
        return Err(JournalError::IdempotencyConflict {
            key: new.idempotency_key.clone(),
            existing: existing.id,
        });
    }
    let payment = get(&tx, &new.payment_id)?
        .ok_or_else(|| JournalError::PaymentNotFound(new.payment_id.clone()))?;
    let amount = new.amount.map(|a| decimal_text(a.value()));
    let created = time_text(new.created_at);
    tx.execute(
        "INSERT INTO refunds (payment_id, amount, idempotency_key, status, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
        params![
            new.payment_id,
            amount,
            new.idempotency_key,
            REFUND_REQUESTED,
            created
        ],
    )?;
    let id = tx.last_insert_rowid();
    events::append(
        &tx,
        now,
        &NewEvent {
            sale: payment.sale,
            position: None,
            kind: kind::REFUND_REQUESTED.to_owned(),
            detail: json!({
                "refund": id,
                "payment_id": new.payment_id,
                "amount": amount,
                "idempotency_key": new.idempotency_key,
            }),
        },
    )?;
    let refund = refunds(&tx, "WHERE id = ?1", [id])?
        .pop()
        .ok_or(JournalError::RefundNotFound(id))?;
    tx.commit()?;
    Ok(RefundOutcome::Inserted(refund))
}

/// Records Mercado Pago's answer to a refund.
pub(crate) fn update_refund(
    conn: &mut Connection,
    now: Timestamp,
    id: i64,
    mp_refund_id: Option<&str>,
    status: &str,
) -> Result<Refund> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let changed = tx.execute(
        "UPDATE refunds SET mp_refund_id = coalesce(?2, mp_refund_id), status = ?3, updated_at = ?4
         WHERE id = ?1",
        params![id, mp_refund_id, status, time_text(now)],
    )?;
    if changed == 0 {
        return Err(JournalError::RefundNotFound(id));
    }
    let refund = refunds(&tx, "WHERE id = ?1", [id])?
        .pop()
        .ok_or(JournalError::RefundNotFound(id))?;
    let sale: Option<SaleId> = tx
        .query_row(
            "SELECT sale_id FROM payments WHERE payment_id = ?1",
            [&refund.payment_id],
            |r| r.get(0),
        )
        .optional()?
        .flatten();
    events::append(
        &tx,
        now,
        &NewEvent {
            sale,
            position: None,
            kind: kind::REFUND_UPDATED.to_owned(),
            detail: json!({
                "refund": id,
                "payment_id": refund.payment_id,
                "mp_refund_id": refund.mp_refund_id,
                "status": status,
            }),
        },
    )?;
    tx.commit()?;
    Ok(refund)
}
