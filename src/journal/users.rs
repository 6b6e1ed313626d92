//! People and service tokens that may use the admin API.
//!
//! Owns the `users` and `service_tokens` tables. Secrets arrive here already hashed
//! (argon2id PHC strings, [`crate::access::secrets`]); this module never sees a PIN, a
//! password or a token, and never decides whether one is right. Users are disabled, never
//! deleted, so the audit trail and the sales keep naming someone who existed.

use jiff::Timestamp;
use rusqlite::{params, Connection, OptionalExtension};

use super::error::{JournalError, Result};
use super::row::{time_text, RowReader};
use crate::access::Role;

/// A user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Row id.
    pub id: i64,
    /// Unique login name: the attendant id (`7`) or a manager's username.
    pub name: String,
    /// What the user may do.
    pub role: Role,
    /// Name shown to people.
    pub display_name: String,
    /// argon2id hash of the PIN or password; `None` until one is set.
    pub secret_hash: Option<String>,
    /// Loyalty document type (attendants), e.g. `DNI`.
    pub document_type: Option<String>,
    /// Loyalty document number (attendants).
    pub document_number: Option<String>,
    /// A disabled user cannot sign in and their sessions end.
    pub disabled: bool,
    /// When the row was created.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// A user to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    /// Unique login name.
    pub name: String,
    /// Role.
    pub role: Role,
    /// Name shown to people.
    pub display_name: String,
    /// argon2id hash of the first PIN or password, if any.
    pub secret_hash: Option<String>,
    /// Loyalty document type.
    pub document_type: Option<String>,
    /// Loyalty document number.
    pub document_number: Option<String>,
}

/// A service token as stored (its secret only as a hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceToken {
    /// Row id.
    pub id: i64,
    /// Unique name, part of the token text.
    pub name: String,
    /// What the token may do.
    pub role: Role,
    /// argon2id hash of the token's secret part.
    pub secret_hash: String,
    /// When it was created (or last replaced).
    pub created_at: Timestamp,
    /// When it was revoked.
    pub revoked_at: Option<Timestamp>,
}

const USER_COLUMNS: &str = "id, name, role, display_name, secret_hash, document_type, \
     document_number, disabled, created_at, updated_at";

fn decode_user(row: &rusqlite::Row<'_>) -> Result<User> {
    let r = RowReader::new(row, "users", "id")?;
    Ok(User {
        id: r.id(),
        name: r.get("name")?,
        role: r.named("role", Role::parse)?,
        display_name: r.get("display_name")?,
        secret_hash: r.opt_text("secret_hash")?,
        document_type: r.opt_text("document_type")?,
        document_number: r.opt_text("document_number")?,
        disabled: r.int::<i64>("disabled")? != 0,
        created_at: r.time("created_at")?,
        updated_at: r.time("updated_at")?,
    })
}

/// One user by name.
pub(crate) fn by_name(conn: &Connection, name: &str) -> Result<Option<User>> {
    let mut stmt =
        conn.prepare_cached(&format!("SELECT {USER_COLUMNS} FROM users WHERE name = ?1"))?;
    stmt.query_row([name], |row| Ok(decode_user(row)))
        .optional()?
        .transpose()
}

/// Every user, managers first, then by name.
pub(crate) fn all(conn: &Connection) -> Result<Vec<User>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM users ORDER BY role DESC, name"
    ))?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode_user(row)?);
    }
    Ok(out)
}

/// Creates a user; a taken name is [`JournalError::NameTaken`].
pub(crate) fn add(conn: &Connection, now: Timestamp, new: &NewUser) -> Result<User> {
    let at = time_text(now);
    let inserted = conn.execute(
        "INSERT INTO users (name, role, display_name, secret_hash, document_type,
             document_number, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7) ON CONFLICT (name) DO NOTHING",
        params![
            new.name,
            new.role.as_str(),
            new.display_name,
            new.secret_hash,
            new.document_type,
            new.document_number,
            at
        ],
    )?;
    if inserted == 0 {
        return Err(JournalError::NameTaken(new.name.clone()));
    }
    by_name(conn, &new.name)?.ok_or_else(|| JournalError::UnknownUser(new.name.clone()))
}

/// Creates each user whose name is not taken yet; returns how many were created.
pub(crate) fn seed(conn: &mut Connection, now: Timestamp, users: &[NewUser]) -> Result<usize> {
    let tx = conn.transaction()?;
    let mut created = 0;
    for user in users {
        match add(&tx, now, user) {
            Ok(_) => created += 1,
            Err(JournalError::NameTaken(_)) => {}
            Err(e) => return Err(e),
        }
    }
    tx.commit()?;
    Ok(created)
}

/// A change to an existing user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UserChange {
    /// A new PIN or password hash.
    Secret(String),
    /// Disabled (`true`) or enabled again.
    Disabled(bool),
}

/// Applies `change` to the user `name`.
pub(crate) fn change(
    conn: &Connection,
    now: Timestamp,
    name: &str,
    change: &UserChange,
) -> Result<User> {
    let at = time_text(now);
    let changed = match change {
        UserChange::Secret(hash) => conn.execute(
            "UPDATE users SET secret_hash = ?2, updated_at = ?3 WHERE name = ?1",
            params![name, hash, at],
        )?,
        UserChange::Disabled(disabled) => conn.execute(
            "UPDATE users SET disabled = ?2, updated_at = ?3 WHERE name = ?1",
            params![name, i64::from(*disabled), at],
        )?,
    };
    if changed == 0 {
        return Err(JournalError::UnknownUser(name.to_owned()));
    }
    by_name(conn, name)?.ok_or_else(|| JournalError::UnknownUser(name.to_owned()))
}

const TOKEN_COLUMNS: &str = "id, name, role, secret_hash, created_at, revoked_at";

fn decode_token(row: &rusqlite::Row<'_>) -> Result<ServiceToken> {
    let r = RowReader::new(row, "service_tokens", "id")?;
    Ok(ServiceToken {
        id: r.id(),
        name: r.get("name")?,
        role: r.named("role", Role::parse)?,
        secret_hash: r.get("secret_hash")?,
        created_at: r.time("created_at")?,
        revoked_at: r.opt_time("revoked_at")?,
    })
}

/// One token by name.
pub(crate) fn token(conn: &Connection, name: &str) -> Result<Option<ServiceToken>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TOKEN_COLUMNS} FROM service_tokens WHERE name = ?1"
    ))?;
    stmt.query_row([name], |row| Ok(decode_token(row)))
        .optional()?
        .transpose()
}

/// Every token, by name.
pub(crate) fn tokens(conn: &Connection) -> Result<Vec<ServiceToken>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {TOKEN_COLUMNS} FROM service_tokens ORDER BY name"
    ))?;
    let mut rows = stmt.query([])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(decode_token(row)?);
    }
    Ok(out)
}

/// Stores a token under `name`. With `replace`, an existing token of that name is
/// replaced (and un-revoked); without, a taken name is [`JournalError::NameTaken`].
pub(crate) fn put_token(
    conn: &Connection,
    now: Timestamp,
    name: &str,
    role: Role,
    secret_hash: &str,
    replace: bool,
) -> Result<ServiceToken> {
    let sql = if replace {
        "INSERT INTO service_tokens (name, role, secret_hash, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (name) DO UPDATE SET role = excluded.role,
             secret_hash = excluded.secret_hash, created_at = excluded.created_at,
             revoked_at = NULL"
    } else {
        "INSERT INTO service_tokens (name, role, secret_hash, created_at) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (name) DO NOTHING"
    };
    let changed = conn.execute(
        sql,
        params![name, role.as_str(), secret_hash, time_text(now)],
    )?;
    if changed == 0 {
        return Err(JournalError::NameTaken(name.to_owned()));
    }
    token(conn, name)?.ok_or_else(|| JournalError::UnknownUser(name.to_owned()))
}

/// Revokes the token `name` (revoking twice keeps the first time).
pub(crate) fn revoke_token(conn: &Connection, now: Timestamp, name: &str) -> Result<ServiceToken> {
    let changed = conn.execute(
        "UPDATE service_tokens SET revoked_at = coalesce(revoked_at, ?2) WHERE name = ?1",
        params![name, time_text(now)],
    )?;
    if changed == 0 {
        return Err(JournalError::UnknownUser(name.to_owned()));
    }
    token(conn, name)?.ok_or_else(|| JournalError::UnknownUser(name.to_owned()))
}
