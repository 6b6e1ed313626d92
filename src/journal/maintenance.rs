//! Operator maintenance of a journal file from outside the daemon: online backup and
//! vacuum (`forecourtd backup FILE`, `forecourtd vacuum`).
//!
//! Both work on the file with their own connection while the daemon may be running:
//! WAL mode lets a reader copy a consistent snapshot while the daemon commits. The
//! backup copies every page in one step of SQLite's backup API, inside one read
//! transaction, so the copy is exactly the journal as of one commit; it is written to a
//! temporary name beside the target, checked (`quick_check`), made self-contained
//! (rollback journal mode, no `-wal` file needed), synced and renamed into place, so a
//! `FILE` that exists is always a whole backup.
//!
//! VACUUM rewrites the file and holds the write lock while it runs (the daemon's writes
//! wait, up to the busy timeout); the daemon's pruning already keeps the file from
//! growing, VACUUM only gives freed pages back to the file system.
//!
//! Run both as the service's user: a connection opened by another user can leave `-wal`
//! and `-shm` files the daemon cannot open.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use super::schema::BUSY_TIMEOUT;

/// How often a backup step that found the journal busy is retried, and how long apart.
const BUSY_RETRIES: u32 = 100;
const BUSY_PAUSE: Duration = Duration::from_millis(50);

/// Why a maintenance command failed.
#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    /// The journal file does not exist.
    #[error("no journal at {0}")]
    NoJournal(PathBuf),
    /// The backup target exists already; a backup never overwrites a file.
    #[error("{0} exists already; a backup never overwrites a file")]
    Exists(PathBuf),
    /// A file operation failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// SQLite failed.
    #[error("journal database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// The journal stayed busy through every retry.
    #[error("the journal stayed busy; try again")]
    Busy,
    /// The copy failed its integrity check (it is deleted).
    #[error("the backup failed its integrity check: {0}")]
    Integrity(String),
}

type Result<T> = std::result::Result<T, MaintenanceError>;

/// What a backup wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupReport {
    /// Size of the backup file in bytes.
    pub bytes: u64,
    /// The schema version of the copy (`PRAGMA user_version`).
    pub schema_version: i64,
}

/// What a vacuum gave back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VacuumReport {
    /// Bytes of the database before.
    pub before: u64,
    /// Bytes of the database after.
    pub after: u64,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> MaintenanceError + '_ {
    move |source| MaintenanceError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn open_existing(path: &Path, flags: OpenFlags) -> Result<Connection> {
    if !path.is_file() {
        return Err(MaintenanceError::NoJournal(path.to_path_buf()));
    }
    let conn = Connection::open_with_flags(path, flags | OpenFlags::SQLITE_OPEN_NO_MUTEX)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    Ok(conn)
}

/// Copies the journal at `source` to the new file `target`, consistently, while the
/// daemon may be writing it.
pub fn backup(source: &Path, target: &Path) -> Result<BackupReport> {
    if target.exists() {
        return Err(MaintenanceError::Exists(target.to_path_buf()));
    }
    let src = open_existing(source, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "backup".to_owned());
    let partial = target.with_file_name(format!(".{name}.partial"));
    match std::fs::remove_file(&partial) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(&partial)(e)),
    }
    let result = copy_into(&src, &partial);
    if result.is_err() {
        let _ = std::fs::remove_file(&partial);
        return result;
    }
    std::fs::rename(&partial, target).map_err(io(target))?;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        // The rename is durable only once the directory is.
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io(dir))?;
    }
    result
}

fn copy_into(src: &Connection, partial: &Path) -> Result<BackupReport> {
    let mut dst = Connection::open(partial)?;
    {
        let backup = Backup::new(src, &mut dst)?;
        let mut busy = 0;
        // -1: every page in one step, so the copy is one read transaction's snapshot.
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                StepResult::More => continue,
                StepResult::Busy | StepResult::Locked => {
                    busy += 1;
                    if busy > BUSY_RETRIES {
                        return Err(MaintenanceError::Busy);
                    }
                    std::thread::sleep(BUSY_PAUSE);
                }
                // A future variant: treat as busy rather than guess.
                _ => return Err(MaintenanceError::Busy),
            }
        }
    }
    let check: String = dst.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(MaintenanceError::Integrity(check));
    }
    let schema_version: i64 = dst.pragma_query_value(None, "user_version", |r| r.get(0))?;
    // A backup is one self-contained file: no -wal beside it is needed to read it.
    let _mode: String =
        dst.pragma_update_and_check(None, "journal_mode", "DELETE", |r| r.get(0))?;
    dst.close().map_err(|(_, e)| MaintenanceError::Sqlite(e))?;
    let file = std::fs::File::open(partial).map_err(io(partial))?;
    file.sync_all().map_err(io(partial))?;
    let bytes = file.metadata().map_err(io(partial))?.len();
    Ok(BackupReport {
        bytes,
        schema_version,
    })
}

fn database_bytes(conn: &Connection) -> Result<u64> {
    let pages: i64 = conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
    let size: i64 = conn.pragma_query_value(None, "page_size", |r| r.get(0))?;
    Ok(u64::try_from(pages.saturating_mul(size)).unwrap_or(0))
}

/// Rewrites the journal at `path` to give freed pages back, then folds the WAL in.
pub fn vacuum(path: &Path) -> Result<VacuumReport> {
    let conn = open_existing(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    let before = database_bytes(&conn)?;
    conn.execute_batch("VACUUM")?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    let after = database_bytes(&conn)?;
    conn.close().map_err(|(_, e)| MaintenanceError::Sqlite(e))?;
    Ok(VacuumReport { before, after })
}
