//! Connection settings and schema migrations.
//!
//! Owns the SQL schema. Migrations are a list of SQL steps; `PRAGMA user_version` counts
//! how many are applied. Each pending step runs in its own IMMEDIATE transaction together
//! with the bump of `user_version`, so a crash leaves the file at a step boundary and a
//! reopen applies nothing twice. A file from a newer build is refused, never downgraded.
//! Steps are append-only: a released step is never edited, a change is a new step.
//!
//! Conventions of every table: `STRICT`; amounts, volumes and prices are TEXT exact
//! decimals (never REAL); times are RFC 3339 UTC TEXT with nine fractional digits (so text
//! order is time order); statuses are TEXT with a CHECK.
//!
//! Tables (version 1):
//! - `counters(name, value)`: monotonic counters; `invoice` is N of the sale identity.
//!   Triggers forbid lowering a value or deleting a counter.
//! - `dispatches`: dispatches started by attendants. `sale_id` links the sale it became;
//!   `cancelled_at`/`cancel_reason` close it without a sale. At most one open dispatch
//!   (no sale, not cancelled) per position (partial unique index).
//! - `sales`: one row per completed dispatch with its identity (`external_reference`
//!   unique case-insensitively, as Mercado Pago compares it), figures, lifecycle `status`
//!   and bookkeeping. Sales are never deleted (trigger).
//! - `events`: append-only log; triggers forbid UPDATE and DELETE. `detail` is JSON.
//! - `notifications`: inbox of Mercado Pago notifications, deduplicated by
//!   `(topic, resource_id, request_id)` (`request_id` is `''` when absent, because SQLite
//!   never treats NULLs as equal in a UNIQUE constraint).
//! - `payments`: the last state read from the API for each payment id.
//! - `refunds`: refunds asked for, keyed by idempotency key; `amount` NULL is a total
//!   refund.
//!
//! Version 2:
//! - `pos`: the Mercado Pago POS of each position, as `forecourtd pos sync` created or
//!   found it, with its QR images.
//!
//! Dispatch evidence:
//! - `dispatches.stage`: how far the authorization got (`requested` → `sent` →
//!   `acknowledged`, or `refused`); dispatches open when this step ran become `sent`,
//!   since nobody knows whether their pump got them.
//! - `dispatches.baseline`: JSON list of the pump's totals per nozzle
//!   (`{"nozzle", "volume", "amount"}`) read before the authorization was sent.
//! - `attention`: completions the daemon saw but could not prove were dispensed in their
//!   dispatch, kept for an attendant to book as a sale or dismiss.
//!
//! Access step (`V_ACCESS`):
//! - `users`: attendants (PIN) and managers (password), by unique `name`; `secret_hash`
//!   is an argon2id PHC string (NULL: cannot sign in until a manager sets one); attendants
//!   carry their loyalty document. Users are disabled, never deleted (audit rows and
//!   sales name them).
//! - `service_tokens`: tokens for a POS, a back office or the CLI, by unique `name`,
//!   stored only as an argon2id hash; `revoked_at` ends one.
//! - `audit`: append-only trail of admin actions (who, role, from where, when, what,
//!   outcome); triggers forbid UPDATE and DELETE.
//! - an index over unverified notifications (hints) by arrival, for pruning them.
//!
//! Shifts step (`V_SHIFTS`):
//! - `shifts`: one row per shift, with who opened and closed it and the totalizers of
//!   every nozzle read at open and at close (JSON lists of
//!   `{"position", "nozzle", "volume", "amount", "error"}`). At most one open shift
//!   (partial unique index).
//! - `sales.shift_id`: the shift open when the sale was journaled (set by the insert
//!   itself, so a sale and its shift can never disagree).
//!
//! Price step (`V_PRICE_SETS`):
//! - `price_sets`: grade prices a manager set (`prices` JSON `{"<grade id>": "1450.00"}`),
//!   effective at `effective_at`; `activated_at` once they became the station's prices.
//! - `price_set_pumps`: per price set and position, when the prices were sent to the pump
//!   and when the pump confirmed them.
//! - `sales.price_set_id`: the price set the pump had confirmed when it dispensed the sale.
//!
//! Outbox step (`V_OUTBOX`):
//! - `outbox`: every business event for headquarters, written in the transaction of its
//!   change (see `outbox`): `seq` (AUTOINCREMENT, the station's order, never reused),
//!   unique `event_id`, `kind`, `subject`, JSON `payload`, `created_at`, and `sent_at`
//!   once JetStream acknowledged it. Sent rows are pruned after the retention. The step
//!   copies the existing `events` and `audit` rows into it, in time order.
//!
//! Price plan step (`V_PRICE_PLANS`):
//! - `price_plans`: every central price plan message the station handled, once per
//!   message (`digest`, SHA-256 of its bytes): the KV `key` it came on, its `plan_id` and
//!   `issued_at` when readable, the `outcome` (`applied`, `refused`, `ignored`), why, and
//!   the `price_set_id` it became. A plan id is applied at most once.
//!
//! Pump link step (`V_PUMP_LINK_INDEX`):
//! - `events_pump_link`: a partial index on the `pump_offline`/`pump_online` events, so
//!   the forecourt finds each pump's last recorded link state at start.

use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior};

use super::error::{JournalError, Result};

/// How long a statement waits for another connection's lock (e.g. the CLI) before
/// failing with "database is busy".
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema steps, in order. Index i brings `user_version` from i to i + 1.
pub const MIGRATIONS: &[&str] = &[
    V1,
    V2,
    V_DISPATCH_EVIDENCE,
    V_ACCESS,
    V_SHIFTS,
    V_PRICE_SETS,
    V_OUTBOX,
    V_PRICE_SET_CANCEL,
    V_DISPATCH_GRADES,
    V_PRICE_PLANS,
    V_PUMP_LINK_INDEX,
];

/// The schema version this build writes.
pub fn latest_version() -> i64 {
    // The list is a compile-time constant of a handful of steps.
    i64::try_from(MIGRATIONS.len()).unwrap_or(i64::MAX)
}

/// A dispatch limited to some grades names them (a JSON array of grade ids); NULL lets
/// the customer take any grade of the position.
const V_DISPATCH_GRADES: &str = r#"
ALTER TABLE dispatches ADD COLUMN grades TEXT CHECK (grades IS NULL OR json_valid(grades));
"#;

const V_SHIFTS: &str = r#"
CREATE TABLE shifts (
    id           INTEGER PRIMARY KEY,
    code         TEXT NOT NULL CHECK (length(code) = 1),
    opened_at    TEXT NOT NULL,
    opened_by    TEXT NOT NULL,
    open_totals  TEXT NOT NULL CHECK (json_valid(open_totals)),
    closed_at    TEXT,
    closed_by    TEXT,
    close_totals TEXT CHECK (close_totals IS NULL OR json_valid(close_totals)),
    CHECK ((closed_at IS NULL) = (closed_by IS NULL)),
    CHECK ((closed_at IS NULL) = (close_totals IS NULL))
) STRICT;
CREATE UNIQUE INDEX shifts_one_open ON shifts ((closed_at IS NULL)) WHERE closed_at IS NULL;
ALTER TABLE sales ADD COLUMN shift_id INTEGER REFERENCES shifts (id);
CREATE INDEX sales_by_shift ON sales (shift_id, id) WHERE shift_id IS NOT NULL;
"#;

// A scheduled price set a manager withdrew before its time: it never takes effect.
const V_PRICE_SET_CANCEL: &str = r#"
ALTER TABLE price_sets ADD COLUMN cancelled_at TEXT;
ALTER TABLE price_sets ADD COLUMN cancelled_by TEXT;
"#;

const V_PRICE_SETS: &str = r#"
CREATE TABLE price_sets (
    id           INTEGER PRIMARY KEY,
    prices       TEXT NOT NULL CHECK (json_valid(prices)),
    effective_at TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    created_by   TEXT NOT NULL,
    activated_at TEXT
) STRICT;
CREATE TABLE price_set_pumps (
    price_set_id INTEGER NOT NULL REFERENCES price_sets (id),
    position     INTEGER NOT NULL CHECK (position > 0),
    sent_at      TEXT,
    confirmed_at TEXT,
    last_error   TEXT,
    PRIMARY KEY (price_set_id, position)
) STRICT;
ALTER TABLE sales ADD COLUMN price_set_id INTEGER REFERENCES price_sets (id);
"#;

const V_PRICE_PLANS: &str = r#"
CREATE TABLE price_plans (
    id           INTEGER PRIMARY KEY,
    digest       TEXT NOT NULL UNIQUE,
    key          TEXT NOT NULL,
    plan_id      TEXT,
    issued_at    TEXT,
    received_at  TEXT NOT NULL,
    outcome      TEXT NOT NULL CHECK (outcome IN ('applied', 'refused', 'ignored')),
    reason       TEXT,
    price_set_id INTEGER REFERENCES price_sets (id),
    CHECK ((outcome = 'applied') = (price_set_id IS NOT NULL))
) STRICT;
CREATE UNIQUE INDEX price_plans_applied ON price_plans (plan_id) WHERE outcome = 'applied';
CREATE INDEX price_plans_by_set ON price_plans (price_set_id) WHERE price_set_id IS NOT NULL;
"#;

/// Finds each position's last `pump_offline`/`pump_online` event at start without reading
/// the whole event log (`events::last_pump_links`).
const V_PUMP_LINK_INDEX: &str = r#"
CREATE INDEX events_pump_link ON events (position, id)
    WHERE kind IN ('pump_offline', 'pump_online');
"#;

const V_OUTBOX: &str = r#"
CREATE TABLE outbox (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 64
                                    AND kind NOT GLOB '*[^a-z0-9_]*'),
    subject    TEXT NOT NULL,
    payload    TEXT NOT NULL CHECK (json_valid(payload)),
    created_at TEXT NOT NULL,
    sent_at    TEXT
) STRICT;
CREATE INDEX outbox_unsent ON outbox (seq) WHERE sent_at IS NULL;
CREATE INDEX outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL;
-- The history so far becomes the first outbox rows, in time order, so headquarters
-- receives the station's past too (their ids are random, not time-ordered).
INSERT INTO outbox (event_id, kind, subject, payload, created_at)
SELECT lower(hex(randomblob(16))), kind, subject, payload, at FROM (
    SELECT at, 0 AS source, id, kind,
           CASE WHEN sale_id IS NOT NULL THEN 'sale:' || sale_id
                WHEN position IS NOT NULL THEN 'position:' || position
                ELSE 'station' END AS subject,
           json_object('event', id, 'sale', sale_id, 'position', position,
                       'detail', json(detail), 'schema', 1) AS payload
    FROM events
    WHERE length(kind) BETWEEN 1 AND 64 AND kind NOT GLOB '*[^a-z0-9_]*'
    UNION ALL
    SELECT at, 1, id, 'audit', 'action:' || action,
           json_object('audit', id, 'at', at, 'actor', actor, 'role', role,
                       'source', source, 'method', method, 'path', path,
                       'action', action, 'status', status, 'outcome', outcome,
                       'detail', json(detail), 'schema', 1)
    FROM audit
)
ORDER BY at, source, id;
"#;

const V_DISPATCH_EVIDENCE: &str = r#"
ALTER TABLE dispatches ADD COLUMN stage TEXT NOT NULL DEFAULT 'requested'
    CHECK (stage IN ('requested', 'sent', 'acknowledged', 'refused'));
ALTER TABLE dispatches ADD COLUMN baseline TEXT;
UPDATE dispatches SET stage = 'sent' WHERE sale_id IS NULL AND cancelled_at IS NULL;
UPDATE dispatches SET stage = 'acknowledged' WHERE sale_id IS NOT NULL;
CREATE TABLE attention (
    id          INTEGER PRIMARY KEY,
    position    INTEGER NOT NULL CHECK (position > 0),
    dispatch_id INTEGER REFERENCES dispatches (id),
    kind        TEXT NOT NULL,
    detail      TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    resolved_at TEXT,
    resolution  TEXT CHECK (resolution IN ('booked', 'dismissed')),
    resolved_by TEXT,
    sale_id     INTEGER REFERENCES sales (id),
    CHECK ((resolved_at IS NULL) = (resolution IS NULL)),
    CHECK (sale_id IS NULL OR resolution = 'booked')
) STRICT;
CREATE INDEX attention_open ON attention (id) WHERE resolved_at IS NULL;
"#;

const V_ACCESS: &str = r#"
CREATE TABLE users (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    role            TEXT NOT NULL CHECK (role IN ('attendant', 'manager')),
    display_name    TEXT NOT NULL DEFAULT '',
    secret_hash     TEXT,
    document_type   TEXT,
    document_number TEXT,
    disabled        INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1)),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;
CREATE TRIGGER users_never_deleted BEFORE DELETE ON users
BEGIN SELECT RAISE(ABORT, 'users are disabled, never deleted'); END;

CREATE TABLE service_tokens (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 64),
    role        TEXT NOT NULL CHECK (role IN ('attendant', 'manager')),
    secret_hash TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
) STRICT;

CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    at      TEXT NOT NULL,
    actor   TEXT NOT NULL,
    role    TEXT NOT NULL,
    source  TEXT NOT NULL,
    method  TEXT NOT NULL,
    path    TEXT NOT NULL,
    action  TEXT NOT NULL,
    status  INTEGER NOT NULL,
    outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'refused', 'failed')),
    detail  TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail))
) STRICT;
CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;
CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit trail is append-only'); END;

CREATE INDEX notifications_hints ON notifications (last_received_at)
    WHERE verified != 'valid';
"#;

const V2: &str = r#"
CREATE TABLE pos (
    position          INTEGER PRIMARY KEY NOT NULL CHECK (position > 0),
    mp_pos_id         TEXT NOT NULL,
    external_id       TEXT NOT NULL,
    url               TEXT,
    qr_image          TEXT,
    qr_template_document TEXT,
    qr_template_image TEXT,
    synced_at         TEXT NOT NULL
) STRICT;
"#;

const V1: &str = r#"
CREATE TABLE counters (
    name  TEXT PRIMARY KEY NOT NULL,
    value INTEGER NOT NULL CHECK (value >= 0)
) STRICT;
INSERT INTO counters (name, value) VALUES ('invoice', 0);
CREATE TRIGGER counters_never_decrease BEFORE UPDATE OF value ON counters
    WHEN NEW.value < OLD.value
BEGIN SELECT RAISE(ABORT, 'counters never decrease'); END;
CREATE TRIGGER counters_never_deleted BEFORE DELETE ON counters
BEGIN SELECT RAISE(ABORT, 'counters are never deleted'); END;

CREATE TABLE sales (
    id                 INTEGER PRIMARY KEY,
    external_reference TEXT NOT NULL UNIQUE COLLATE NOCASE,
    transaction_id     TEXT NOT NULL UNIQUE,
    invoice_number     TEXT NOT NULL UNIQUE,
    position           INTEGER NOT NULL,
    nozzle             INTEGER NOT NULL,
    grade              INTEGER,
    volume             TEXT NOT NULL,
    amount             TEXT NOT NULL,
    unit_price         TEXT NOT NULL,
    attendant          TEXT,
    completed_at       TEXT NOT NULL,
    status             TEXT NOT NULL
                       CHECK (status IN ('ready', 'paid', 'settled_other', 'voided')),
    preference_id      TEXT,
    served_count       INTEGER NOT NULL DEFAULT 0 CHECK (served_count >= 0),
    first_served_at    TEXT,
    payment_id         TEXT,
    paid_at            TEXT,
    settled_note       TEXT,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL
) STRICT;
CREATE INDEX sales_ready_by_position ON sales (position, id) WHERE status = 'ready';
CREATE TRIGGER sales_never_deleted BEFORE DELETE ON sales
BEGIN SELECT RAISE(ABORT, 'sales are never deleted'); END;

CREATE TABLE dispatches (
    id            INTEGER PRIMARY KEY,
    position      INTEGER NOT NULL,
    attendant     TEXT,
    preset_kind   TEXT CHECK (preset_kind IN ('amount', 'volume')),
    preset_value  TEXT,
    authorized_at TEXT NOT NULL,
    sale_id       INTEGER REFERENCES sales (id),
    cancelled_at  TEXT,
    cancel_reason TEXT,
    CHECK ((preset_kind IS NULL) = (preset_value IS NULL)),
    CHECK (sale_id IS NULL OR cancelled_at IS NULL)
) STRICT;
CREATE UNIQUE INDEX dispatches_one_open_per_position ON dispatches (position)
    WHERE sale_id IS NULL AND cancelled_at IS NULL;
CREATE UNIQUE INDEX dispatches_by_sale ON dispatches (sale_id) WHERE sale_id IS NOT NULL;

CREATE TABLE events (
    id       INTEGER PRIMARY KEY,
    at       TEXT NOT NULL,
    sale_id  INTEGER REFERENCES sales (id),
    position INTEGER,
    kind     TEXT NOT NULL,
    detail   TEXT NOT NULL DEFAULT '{}' CHECK (json_valid(detail))
) STRICT;
CREATE INDEX events_by_sale ON events (sale_id, id) WHERE sale_id IS NOT NULL;
CREATE TRIGGER events_no_update BEFORE UPDATE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;
CREATE TRIGGER events_no_delete BEFORE DELETE ON events
BEGIN SELECT RAISE(ABORT, 'events are append-only'); END;

CREATE TABLE notifications (
    id               INTEGER PRIMARY KEY,
    received_at      TEXT NOT NULL,
    last_received_at TEXT NOT NULL,
    deliveries       INTEGER NOT NULL DEFAULT 1 CHECK (deliveries >= 1),
    source           TEXT NOT NULL CHECK (source IN ('ipn', 'webhook')),
    topic            TEXT NOT NULL,
    resource_id      TEXT NOT NULL,
    request_id       TEXT NOT NULL DEFAULT '',
    query            TEXT NOT NULL,
    body             TEXT,
    verified         TEXT NOT NULL CHECK (verified IN ('valid', 'unsigned', 'ipn')),
    state            TEXT NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'done', 'failed')),
    attempts         INTEGER NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    next_attempt_at  TEXT NOT NULL,
    last_error       TEXT,
    UNIQUE (topic, resource_id, request_id)
) STRICT;
CREATE INDEX notifications_due ON notifications (next_attempt_at, id) WHERE state = 'pending';

CREATE TABLE payments (
    payment_id         TEXT PRIMARY KEY NOT NULL,
    sale_id            INTEGER REFERENCES sales (id),
    status             TEXT NOT NULL,
    status_detail      TEXT,
    amount             TEXT NOT NULL,
    currency           TEXT NOT NULL,
    external_reference TEXT,
    flagged_reason     TEXT,
    raw                TEXT NOT NULL CHECK (json_valid(raw)),
    seen_at            TEXT NOT NULL
) STRICT;
CREATE INDEX payments_by_sale ON payments (sale_id) WHERE sale_id IS NOT NULL;

CREATE TABLE refunds (
    id              INTEGER PRIMARY KEY,
    payment_id      TEXT NOT NULL REFERENCES payments (payment_id),
    amount          TEXT,
    idempotency_key TEXT NOT NULL UNIQUE,
    mp_refund_id    TEXT,
    status          TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL
) STRICT;
CREATE INDEX refunds_by_payment ON refunds (payment_id, id);
"#;

/// Sets the connection up: busy timeout, WAL, `synchronous=FULL`, foreign keys.
///
/// `synchronous=FULL` makes every commit reach the disk before it returns: a completed
/// sale or a payment is acknowledged only once it would survive a power cut.
pub fn configure(conn: &Connection) -> Result<()> {
    conn.busy_timeout(BUSY_TIMEOUT)?;
    let mode: String = conn.pragma_update_and_check(None, "journal_mode", "wal", |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(JournalError::NoWal(mode));
    }
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}

/// Applies the pending migration steps; returns the version the file is now at.
pub fn migrate(conn: &mut Connection) -> Result<i64> {
    migrate_with(conn, MIGRATIONS)
}

fn migrate_with(conn: &mut Connection, steps: &[&str]) -> Result<i64> {
    let supported = i64::try_from(steps.len()).unwrap_or(i64::MAX);
    loop {
        // IMMEDIATE takes the write lock before reading the version, so two processes
        // opening the same file cannot both apply one step.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let version: i64 = tx.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > supported {
            return Err(JournalError::NewerSchema {
                found: version,
                supported,
            });
        }
        let Some(step) = usize::try_from(version).ok().and_then(|v| steps.get(v)) else {
            return Ok(version);
        };
        tracing::info!(from = version, to = version + 1, "migrating journal schema");
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_version(conn: &Connection) -> i64 {
        conn.pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("user_version readable")
    }

    fn table_count(conn: &Connection) -> i64 {
        conn.query_row(
            "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
            [],
            |r| r.get(0),
        )
        .expect("schema readable")
    }

    #[test]
    fn migrations_apply_once_and_reopen_cleanly() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("j.sqlite");
        {
            let mut conn = Connection::open(&path).expect("open");
            configure(&conn).expect("configure");
            assert_eq!(migrate(&mut conn).expect("migrate"), latest_version());
            assert_eq!(user_version(&conn), latest_version());
        }
        let mut conn = Connection::open(&path).expect("reopen");
        configure(&conn).expect("configure");
        let tables = table_count(&conn);
        assert_eq!(migrate(&mut conn).expect("migrate again"), latest_version());
        assert_eq!(table_count(&conn), tables);
        let invoice_rows: i64 = conn
            .query_row("SELECT count(*) FROM counters", [], |r| r.get(0))
            .expect("counters readable");
        assert_eq!(invoice_rows, 1, "the seed row of step 1 must not run twice");
    }

    #[test]
    fn a_later_step_applies_on_top_of_an_existing_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("j.sqlite");
        let mut conn = Connection::open(&path).expect("open");
        assert_eq!(migrate_with(&mut conn, &[V1]).expect("v1"), 1);
        let v2 = "CREATE TABLE extra (id INTEGER PRIMARY KEY) STRICT;";
        assert_eq!(migrate_with(&mut conn, &[V1, v2]).expect("v2"), 2);
        assert_eq!(migrate_with(&mut conn, &[V1, v2]).expect("again"), 2);
    }

    #[test]
    fn a_failing_step_leaves_the_previous_version() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut conn = Connection::open(dir.path().join("j.sqlite")).expect("open");
        let bad = "CREATE TABLE t (id INTEGER PRIMARY KEY); INSERT INTO nowhere VALUES (1);";
        assert!(migrate_with(&mut conn, &[V1, bad]).is_err());
        assert_eq!(user_version(&conn), 1);
        let t_exists: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_schema WHERE name = 't'",
                [],
                |r| r.get(0),
            )
            .expect("schema readable");
        assert_eq!(t_exists, 0, "the failed step must be rolled back whole");
    }

    #[test]
    fn the_outbox_step_copies_the_history_in_time_order() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut conn = Connection::open(dir.path().join("j.sqlite")).expect("open");
        let before = MIGRATIONS
            .iter()
            .position(|step| *step == V_OUTBOX)
            .expect("V_OUTBOX is a step");
        let older = MIGRATIONS.get(..before).expect("earlier steps");
        migrate_with(&mut conn, older).expect("older schema");
        conn.execute_batch(
            "INSERT INTO audit (at, actor, role, source, method, path, action, status, outcome)
                 VALUES ('2026-11-22T10:00:00.000000000Z', 'manager:ana', 'manager',
                         '127.0.0.1', 'POST', '/api/users', 'user.add', 200, 'ok');
             INSERT INTO events (at, position, kind, detail)
                 VALUES ('2026-11-22T09:00:00.000000000Z', 3, 'pump_offline', '{\"a\":1}');",
        )
        .expect("history");
        migrate(&mut conn).expect("migrate");
        let mut stmt = conn
            .prepare("SELECT kind, subject, payload FROM outbox ORDER BY seq")
            .expect("query");
        let rows: Vec<(String, String, String)> = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .expect("rows")
            .collect::<std::result::Result<_, _>>()
            .expect("outbox rows");
        assert_eq!(rows.len(), 2);
        assert_eq!(
            (rows[0].0.as_str(), rows[0].1.as_str()),
            ("pump_offline", "position:3")
        );
        assert_eq!(
            (rows[1].0.as_str(), rows[1].1.as_str()),
            ("audit", "action:user.add")
        );
        let first: serde_json::Value = serde_json::from_str(&rows[0].2).expect("JSON");
        assert_eq!(first["schema"], serde_json::json!(1));
        assert_eq!(first["detail"]["a"], serde_json::json!(1));
    }

    #[test]
    fn a_newer_file_is_refused() {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut conn = Connection::open(dir.path().join("j.sqlite")).expect("open");
        conn.pragma_update(None, "user_version", latest_version() + 1)
            .expect("set version");
        match migrate(&mut conn) {
            Err(JournalError::NewerSchema { found, supported }) => {
                assert_eq!(found, latest_version() + 1);
                assert_eq!(supported, latest_version());
            }
            other => panic!("expected NewerSchema, got {other:?}"),
        }
        assert_eq!(
            table_count(&conn),
            0,
            "nothing may be created in a newer file"
        );
    }
}
