//! The journal's typed errors.
//!
//! Owns [`JournalError`] only. A corrupted row is never papered over: it becomes
//! [`JournalError::Corrupt`] naming the table, column and row, so an operator can find it.

use std::path::PathBuf;

use pump_protocols::PositionId;

use crate::sale::{SaleId, SaleStatus};

use super::dispatches::DispatchId;

/// Everything that can go wrong in the journal.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The directory that should hold the database does not exist (it is never created
    /// here: systemd's `StateDirectory=` or the operator owns it).
    #[error("journal directory {0} does not exist")]
    MissingDirectory(PathBuf),
    /// The configured store id cannot make a valid sale identity.
    #[error("invalid store id {0:?}: expected 1 to 5 ASCII letters or digits")]
    InvalidStoreId(String),
    /// The database was written by a newer forecourtd; opening it could corrupt it.
    #[error(
        "journal schema version {found} is newer than this build supports ({supported}); \
         run the newer forecourtd or restore a backup"
    )]
    NewerSchema {
        /// `PRAGMA user_version` found in the file.
        found: i64,
        /// The newest version this build knows.
        supported: i64,
    },
    /// SQLite refused to open the file in WAL mode (e.g. a network filesystem).
    #[error("journal could not switch to WAL mode (got {0:?})")]
    NoWal(String),
    /// An outbox event kind that is not 1 to 64 of `[a-z0-9_]` (it becomes a NATS
    /// subject token); nothing was changed.
    #[error("invalid outbox event kind {0:?}: expected 1 to 64 of [a-z0-9_]")]
    InvalidEventKind(String),
    /// An SQLite error.
    #[error("journal database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored value does not decode (bad decimal text, unknown status, bad time).
    #[error("corrupt journal value in {table}.{column} of row {row}: {reason}")]
    Corrupt {
        /// Table name.
        table: &'static str,
        /// Column name.
        column: &'static str,
        /// Row id (the table's primary key; -1 when the key itself is unreadable).
        row: i64,
        /// What is wrong with it.
        reason: String,
    },
    /// A sale state change that the lifecycle does not allow; nothing was changed.
    #[error("sale {id} cannot go from {} to {}", from.as_str(), to.as_str())]
    InvalidTransition {
        /// The sale.
        id: SaleId,
        /// Its current status.
        from: SaleStatus,
        /// The status asked for.
        to: SaleStatus,
    },
    /// No sale with this id.
    #[error("no sale with id {0}")]
    SaleNotFound(SaleId),
    /// No dispatch with this id.
    #[error("no dispatch with id {0}")]
    DispatchNotFound(DispatchId),
    /// The dispatch already has a sale or was cancelled.
    #[error("dispatch {0} is no longer open")]
    DispatchNotOpen(DispatchId),
    /// No attention item with this id.
    #[error("no attention item with id {0}")]
    AttentionNotFound(i64),
    /// The attention item was already booked or dismissed.
    #[error("attention item {0} is already resolved")]
    AttentionResolved(i64),
    /// A position holds at most one open dispatch; cancel or complete it first.
    #[error("position {position} already has open dispatch {existing}")]
    DispatchAlreadyOpen {
        /// The position.
        position: PositionId,
        /// The dispatch still open there.
        existing: DispatchId,
    },
    /// A sale was completed against a dispatch of another position.
    #[error("dispatch {dispatch} belongs to position {expected}, not {got}")]
    DispatchPositionMismatch {
        /// The dispatch.
        dispatch: DispatchId,
        /// Its position.
        expected: PositionId,
        /// The position of the completed sale.
        got: PositionId,
    },
    /// The invoice counter no longer fits the 8-digit invoice number (docs/mercadopago.md §4.3).
    #[error("invoice counter {0} does not fit an 8-digit invoice number")]
    InvoiceCounterExhausted(u64),
    /// No notification with this id.
    #[error("no notification with id {0}")]
    NotificationNotFound(i64),
    /// No payment with this id.
    #[error("no payment with id {0:?}")]
    PaymentNotFound(String),
    /// No refund with this id.
    #[error("no refund with id {0}")]
    RefundNotFound(i64),
    /// An idempotency key was reused for a different refund.
    #[error(
        "refund idempotency key {key:?} is already used by refund {existing} with other figures"
    )]
    IdempotencyConflict {
        /// The key.
        key: String,
        /// The refund already holding it.
        existing: i64,
    },
    /// A user or service token with this name exists already.
    #[error("the name {0:?} is already taken")]
    NameTaken(String),
    /// No user or service token with this name.
    #[error("no user or token named {0:?}")]
    UnknownUser(String),
    /// A shift is open already: close it first.
    #[error("shift {0} is still open; close it first")]
    ShiftOpen(i64),
    /// No shift is open.
    #[error("no shift is open")]
    NoShiftOpen,
    /// No shift with this id.
    #[error("no shift {0}")]
    ShiftNotFound(i64),
    /// No price set with this id.
    #[error("no price set {0}")]
    PriceSetNotFound(i64),
    /// The price set is in force already: it can no longer be cancelled.
    #[error("price set {0} is in force already")]
    PriceSetInForce(i64),
    /// The price set was cancelled: it never takes effect.
    #[error("price set {0} was cancelled")]
    PriceSetCancelled(i64),
    /// Too many unverified notifications are stored and none can be pruned yet.
    #[error("the store of unverified notifications is full")]
    HintsFull,
    /// A JSON text given to the journal does not parse.
    #[error("invalid JSON for {what}: {reason}")]
    InvalidJson {
        /// Which field.
        what: &'static str,
        /// The parser's message.
        reason: String,
    },
    /// The journal thread could not be started.
    #[error("could not start the journal thread: {0}")]
    Spawn(#[source] std::io::Error),
    /// The journal is closed (or its thread stopped); the request was not run.
    #[error("the journal is closed")]
    Closed,
    /// The journal thread dropped the request without answering (it panicked while
    /// running it; its transaction was rolled back).
    #[error("the journal lost the request (the journal thread failed while running it)")]
    Lost,
}

/// Shorthand for journal results.
pub type Result<T, E = JournalError> = std::result::Result<T, E>;
