//! Central price plans as the station handled them.
//!
//! Owns `price_plans`: one row per plan message (keyed by the SHA-256 of its bytes), so a
//! message delivered again after a reconnect or a restart is handled once, and a plan id
//! is applied at most once. Applying a plan records its price set, the plan row and an
//! audit row (actor `hq`) in one transaction; refusing one records the plan row, an audit
//! row and the outbox event `price_plan_refused` in one transaction, so headquarters
//! learns of every refusal and nothing else changes.

use jiff::Timestamp;
use rusqlite::{params, Connection, OptionalExtension};
use serde_json::{json, Value};

use super::audit::{self, AuditEntry, AuditOutcome};
use super::error::Result;
use super::prices::{self, NewPriceSet, PriceSetId, PriceSetRecord};
use super::row::time_text;

/// The actor (and role) of audit rows written for central price plans.
pub const HQ_ACTOR: &str = "hq";

/// Audit action of a central price plan.
pub const PLAN_ACTION: &str = "prices.plan";

/// Outbox kind of a refused plan.
pub const REFUSED_KIND: &str = "price_plan_refused";

/// A plan message as received, with what could be read of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanReceipt {
    /// SHA-256 (hex) of the message bytes.
    pub digest: String,
    /// The key-value key it came on (`store.29`, `group.north`).
    pub key: String,
    /// The plan id, once the signature checked out.
    pub plan_id: Option<String>,
    /// When headquarters issued it, once the signature checked out.
    pub issued_at: Option<Timestamp>,
}

/// Whether a plan message is new to the station.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlanStanding {
    /// Never handled: apply or refuse it.
    New,
    /// This very message was handled before (applied, refused or ignored).
    Handled,
    /// A plan with this id was applied already.
    Replayed,
    /// A plan issued later was applied already.
    Older {
        /// When the newest applied plan was issued.
        newest: Timestamp,
    },
}

/// How `receipt` stands against the plans handled so far.
pub(crate) fn standing(conn: &Connection, receipt: &PlanReceipt) -> Result<PlanStanding> {
    let seen: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM price_plans WHERE digest = ?1)",
        [&receipt.digest],
        |r| r.get(0),
    )?;
    if seen {
        return Ok(PlanStanding::Handled);
    }
    if let Some(plan_id) = &receipt.plan_id {
        let applied: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM price_plans WHERE plan_id = ?1 AND outcome = 'applied')",
            [plan_id],
            |r| r.get(0),
        )?;
        if applied {
            return Ok(PlanStanding::Replayed);
        }
    }
    if let Some(issued_at) = receipt.issued_at {
        // Every issued_at is written by `time_text`: fixed width, so text order is time order.
        let newest: Option<String> = conn
            .query_row(
                "SELECT issued_at FROM price_plans WHERE outcome = 'applied' \
                 AND issued_at IS NOT NULL ORDER BY issued_at DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()?;
        if let Some(newest) = newest.and_then(|t| t.parse::<Timestamp>().ok()) {
            if issued_at <= newest {
                return Ok(PlanStanding::Older { newest });
            }
        }
    }
    Ok(PlanStanding::New)
}

fn insert_row(
    tx: &Connection,
    at: Timestamp,
    receipt: &PlanReceipt,
    outcome: &str,
    reason: Option<&str>,
    price_set: Option<PriceSetId>,
) -> Result<()> {
    tx.execute(
        "INSERT INTO price_plans (digest, key, plan_id, issued_at, received_at, outcome, \
         reason, price_set_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            receipt.digest,
            receipt.key,
            receipt.plan_id,
            receipt.issued_at.map(time_text),
            time_text(at),
            outcome,
            reason,
            price_set
        ],
    )?;
    Ok(())
}

fn audit_row(
    tx: &Connection,
    at: Timestamp,
    receipt: &PlanReceipt,
    outcome: AuditOutcome,
    detail: Value,
) -> Result<()> {
    audit::append(
        tx,
        &AuditEntry {
            at,
            actor: HQ_ACTOR.to_owned(),
            role: HQ_ACTOR.to_owned(),
            source: "nats".to_owned(),
            method: "KV".to_owned(),
            path: receipt.key.clone(),
            action: PLAN_ACTION.to_owned(),
            status: if outcome == AuditOutcome::Ok {
                200
            } else {
                400
            },
            outcome,
            detail,
        },
    )?;
    Ok(())
}

/// Records plan `receipt` as applied: its price set `new`, the plan row and the audit
/// row, in one transaction. `receipt.plan_id` must be set.
pub(crate) fn apply(
    conn: &Connection,
    at: Timestamp,
    receipt: &PlanReceipt,
    new: &NewPriceSet,
) -> Result<PriceSetRecord> {
    let tx = conn.unchecked_transaction()?;
    let record = prices::insert(&tx, at, new, receipt.plan_id.as_deref())?;
    insert_row(&tx, at, receipt, "applied", None, Some(record.id))?;
    audit_row(
        &tx,
        at,
        receipt,
        AuditOutcome::Ok,
        json!({
            "plan": receipt.plan_id,
            "price_set": record.id,
            "effective_at": new.effective_at.to_string(),
        }),
    )?;
    tx.commit()?;
    Ok(record)
}

/// Records plan `receipt` as refused for `reason`: the plan row, an audit row and the
/// outbox event [`REFUSED_KIND`], in one transaction.
pub(crate) fn refuse(
    conn: &Connection,
    at: Timestamp,
    receipt: &PlanReceipt,
    reason: &str,
) -> Result<()> {
    let tx = conn.unchecked_transaction()?;
    insert_row(&tx, at, receipt, "refused", Some(reason), None)?;
    let detail = json!({
        "plan": receipt.plan_id,
        "key": receipt.key,
        "digest": receipt.digest,
        "reason": reason,
    });
    audit_row(&tx, at, receipt, AuditOutcome::Refused, detail.clone())?;
    let subject = match &receipt.plan_id {
        Some(id) => format!("plan:{id}"),
        None => format!("plan_key:{}", receipt.key),
    };
    super::outbox::record(&tx, at, REFUSED_KIND, &subject, detail)?;
    tx.commit()?;
    Ok(())
}

/// Records plan `receipt` as ignored (replayed or older): only the plan row, so the same
/// message is not looked at again.
pub(crate) fn ignore(
    conn: &Connection,
    at: Timestamp,
    receipt: &PlanReceipt,
    reason: &str,
) -> Result<()> {
    insert_row(conn, at, receipt, "ignored", Some(reason), None)
}

/// `payload` with `"plan": <plan id>` added when price set `id` came from a central plan.
pub(crate) fn with_plan(conn: &Connection, id: PriceSetId, mut payload: Value) -> Result<Value> {
    let plan: Option<Option<String>> = conn
        .query_row(
            "SELECT plan_id FROM price_plans WHERE price_set_id = ?1 AND outcome = 'applied'",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    if let (Some(Some(plan)), Some(object)) = (plan, payload.as_object_mut()) {
        object.insert("plan".to_owned(), Value::from(plan));
    }
    Ok(payload)
}
