//! The audit trail of the admin API.
//!
//! Owns the append-only `audit` table: one row per state-changing admin request (and per
//! sign-in attempt) with who, in which role, from where, when, what and how it ended.
//! Triggers forbid changing or deleting a row. What goes into `detail` is decided by the
//! caller, which leaves secrets out; this module only stores and lists. Each row is also
//! an outbox event for headquarters, written in the same transaction.

use jiff::Timestamp;
use rusqlite::{params, Connection};
use serde_json::{json, Value};

use super::error::{JournalError, Result};
use super::outbox;
use super::row::{time_text, RowReader};

/// How an audited request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuditOutcome {
    /// Done (2xx).
    Ok,
    /// Refused before anything changed (wrong role, bad request, conflict, 4xx).
    Refused,
    /// Failed on the way (5xx): look at the state before trying again.
    Failed,
}

impl AuditOutcome {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Refused => "refused",
            Self::Failed => "failed",
        }
    }

    /// Parses [`as_str`](Self::as_str)'s output.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ok" => Some(Self::Ok),
            "refused" => Some(Self::Refused),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }

    /// The outcome of an HTTP status.
    pub fn of_status(status: u16) -> Self {
        match status {
            200..=399 => Self::Ok,
            500.. => Self::Failed,
            _ => Self::Refused,
        }
    }
}

/// One audited action.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditEntry {
    /// When it was answered.
    pub at: Timestamp,
    /// Who: `manager:ana`, `attendant:7`, `token:cli`, or the name tried at a failed
    /// sign-in.
    pub actor: String,
    /// Their role (`-` when unknown).
    pub role: String,
    /// Where from: the peer address.
    pub source: String,
    /// HTTP method.
    pub method: String,
    /// Path, without the query.
    pub path: String,
    /// The route's action name, e.g. `sale.refund`.
    pub action: String,
    /// HTTP status of the answer.
    pub status: u16,
    /// Outcome.
    pub outcome: AuditOutcome,
    /// What was asked (the request body without secrets) and, for failures, why.
    pub detail: Value,
}

/// A stored audit row.
#[derive(Debug, Clone, PartialEq)]
pub struct AuditRecord {
    /// Row id (sequential).
    pub id: i64,
    /// The entry.
    pub entry: AuditEntry,
}

/// Appends an entry and its outbox event (kind [`outbox::AUDIT_KIND`]); `conn` must be an
/// open transaction so the two rows commit together.
pub(crate) fn append(conn: &Connection, entry: &AuditEntry) -> Result<i64> {
    conn.execute(
        "INSERT INTO audit (at, actor, role, source, method, path, action, status, outcome,
             detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            time_text(entry.at),
            entry.actor,
            entry.role,
            entry.source,
            entry.method,
            entry.path,
            entry.action,
            entry.status,
            entry.outcome.as_str(),
            entry.detail.to_string()
        ],
    )?;
    let id = conn.last_insert_rowid();
    outbox::record(
        conn,
        entry.at,
        outbox::AUDIT_KIND,
        &format!("action:{}", entry.action),
        json!({
            "audit": id,
            "at": entry.at.to_string(),
            "actor": entry.actor,
            "role": entry.role,
            "source": entry.source,
            "method": entry.method,
            "path": entry.path,
            "action": entry.action,
            "status": entry.status,
            "outcome": entry.outcome.as_str(),
            "detail": entry.detail,
        }),
    )?;
    Ok(id)
}

/// The newest `limit` rows older than `before` (all when `None`), newest first.
pub(crate) fn recent(
    conn: &Connection,
    limit: u32,
    before: Option<i64>,
) -> Result<Vec<AuditRecord>> {
    let mut stmt = conn.prepare_cached(
        "SELECT id, at, actor, role, source, method, path, action, status, outcome, detail
         FROM audit WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
    )?;
    let mut rows = stmt.query(params![before.unwrap_or(i64::MAX), limit])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let r = RowReader::new(row, "audit", "id")?;
        let detail: String = r.get("detail")?;
        out.push(AuditRecord {
            id: r.id(),
            entry: AuditEntry {
                at: r.time("at")?,
                actor: r.get("actor")?,
                role: r.get("role")?,
                source: r.get("source")?,
                method: r.get("method")?,
                path: r.get("path")?,
                action: r.get("action")?,
                status: r.int("status")?,
                outcome: r.named("outcome", AuditOutcome::parse)?,
                detail: serde_json::from_str(&detail).map_err(|e| JournalError::InvalidJson {
                    what: "audit.detail",
                    reason: e.to_string(),
                })?,
            },
        });
    }
    Ok(out)
}
