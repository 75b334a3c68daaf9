//! Whether the database takes writes: a full disk or a read-only file system is told apart from
//! other failures, remembered until a write succeeds again, and checked again on demand.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use rustix::fs::StatVfsMountFlags;

use super::sql::Db;
use super::{StoreError, StoreResult};

/// Below this much free space, an I/O error on a write is put down to a full disk.
const LOW_SPACE_BYTES: u64 = 1 << 20;

/// Why the database takes no writes now; reads go on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unwritable {
    /// The file system holding the database has no space left.
    Full,
    /// The file system holding the database is read-only.
    ReadOnly,
    /// This user may not write the database file or the directory holding it (where SQLite
    /// keeps its `-wal` and `-shm` files): a file restored as another user, say.
    Denied,
}

impl Unwritable {
    /// The name `/healthz` reports: `full` or `read_only`.
    pub fn name(self) -> &'static str {
        match self {
            Unwritable::Full => "full",
            Unwritable::ReadOnly => "read_only",
            Unwritable::Denied => "permission_denied",
        }
    }
}

impl std::fmt::Display for Unwritable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Unwritable::Full => "the disk holding it is full",
            Unwritable::ReadOnly => "it is on a read-only file system",
            Unwritable::Denied => {
                "permission denied: this user may not write the file or the directory holding it \
                 (SQLite writes its -wal and -shm files beside it); give both to the service's \
                 user (chown)"
            }
        })
    }
}

/// What the store knows of its last write: whether it failed for want of space or of write
/// access. Shared by the store's clones.
#[derive(Clone, Debug)]
pub(super) struct WriteHealth {
    path: PathBuf,
    last: Arc<AtomicU8>,
}

const WRITABLE: u8 = 0;
const FULL: u8 = 1;
const READ_ONLY: u8 = 2;
const DENIED: u8 = 3;

impl WriteHealth {
    pub(super) fn new(path: &Path) -> WriteHealth {
        WriteHealth {
            path: path.to_owned(),
            last: Arc::new(AtomicU8::new(WRITABLE)),
        }
    }

    /// The condition the last write ran into, if it ran into one.
    pub(super) fn last(&self) -> Option<Unwritable> {
        match self.last.load(Ordering::Relaxed) {
            FULL => Some(Unwritable::Full),
            READ_ONLY => Some(Unwritable::ReadOnly),
            DENIED => Some(Unwritable::Denied),
            _ => None,
        }
    }

    /// Names the condition behind a failed write and remembers the outcome of this one: a
    /// commit clears the condition, a failure for want of space or write access sets it.
    pub(super) fn record<R>(&self, result: StoreResult<R>) -> StoreResult<R> {
        let result = result.map_err(|e| self.explain(e));
        let state = match &result {
            Ok(_) => WRITABLE,
            Err(StoreError::Unwritable(Unwritable::Full)) => FULL,
            Err(StoreError::Unwritable(Unwritable::ReadOnly)) => READ_ONLY,
            Err(StoreError::Unwritable(Unwritable::Denied)) => DENIED,
            Err(_) => return result,
        };
        let before = self.last.swap(state, Ordering::Relaxed);
        if before != state {
            match &result {
                Ok(_) => tracing::info!("the database takes writes again"),
                Err(e) => tracing::error!(error = %e, "the database takes no writes"),
            }
        }
        result
    }

    /// An I/O error is what a full or read-only file system gives at some steps of a write
    /// (SQLite says SQLITE_FULL or SQLITE_READONLY only at others): the file system tells which.
    /// SQLITE_READONLY is also what a file this user may not write gives: told apart likewise.
    pub(super) fn explain(&self, err: StoreError) -> StoreError {
        match &err {
            StoreError::Sqlite(e) if is_io_error(e) => match diagnose(&self.path) {
                Some(condition) => StoreError::Unwritable(condition),
                None => err,
            },
            StoreError::Unwritable(Unwritable::ReadOnly) => match diagnose(&self.path) {
                Some(Unwritable::Denied) => StoreError::Unwritable(Unwritable::Denied),
                _ => err,
            },
            _ => err,
        }
    }
}

fn is_io_error(err: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::{CannotOpen, SystemIoFailure};
    matches!(err.sqlite_error_code(), Some(SystemIoFailure | CannotOpen))
}

/// Whether the file system holding `database` is read-only or (nearly) full; `None` when it
/// is neither or cannot be asked.
pub fn diagnose(database: &Path) -> Option<Unwritable> {
    let dir = match database.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let stat = rustix::fs::statvfs(dir).ok()?;
    if stat.f_flag.contains(StatVfsMountFlags::RDONLY) {
        return Some(Unwritable::ReadOnly);
    }
    if stat.f_bavail.saturating_mul(stat.f_frsize) < LOW_SPACE_BYTES {
        return Some(Unwritable::Full);
    }
    refuses_writes(database).or_else(|| denies_directory(dir))
}

/// Why the kernel refuses to open the database for writing, if it does. A file system that an
/// error turned read-only under open files (ext4's `errors=remount-ro`) may still be mounted
/// `rw` as far as `statvfs` tells; opening the file for writing, without writing a byte, says.
fn refuses_writes(database: &Path) -> Option<Unwritable> {
    match std::fs::OpenOptions::new().write(true).open(database) {
        Ok(_) => None,
        Err(e) => match e.kind() {
            std::io::ErrorKind::ReadOnlyFilesystem => Some(Unwritable::ReadOnly),
            std::io::ErrorKind::PermissionDenied => Some(Unwritable::Denied),
            _ => None,
        },
    }
}

/// Whether this user may not create files in `dir`, as SQLite must for the `-wal` and `-shm`
/// files of a database in WAL mode.
fn denies_directory(dir: &Path) -> Option<Unwritable> {
    match rustix::fs::access(dir, rustix::fs::Access::WRITE_OK) {
        Err(rustix::io::Errno::ACCESS | rustix::io::Errno::PERM) => Some(Unwritable::Denied),
        Err(rustix::io::Errno::ROFS) => Some(Unwritable::ReadOnly),
        _ => None,
    }
}

/// Writes one page for real (the header's `user_version`, rewritten unchanged, which this
/// program does not otherwise use): whether the database takes a write now. On PostgreSQL,
/// whether the server takes writes (not a standby, not read-only).
pub fn probe(db: &Db) -> StoreResult<()> {
    let Some(conn) = db.as_sqlite() else {
        return db.execute_batch("UPDATE schema_migrations SET version = version WHERE false");
    };
    let version: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    conn.pragma_update(None, "user_version", version)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AppError;
    use rusqlite::{Connection, OpenFlags};

    #[test]
    fn a_write_to_a_read_only_database_answers_unavailable_not_internal_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("read-only.db");
        Connection::open(&path)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let conn = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let refused = conn.execute("INSERT INTO t VALUES (1)", []).unwrap_err();
        let err = StoreError::from(refused);
        assert!(
            matches!(err, StoreError::Unwritable(Unwritable::ReadOnly)),
            "{err:?}"
        );
        assert!(matches!(AppError::from(err), AppError::Unavailable));
    }

    #[test]
    fn a_write_that_succeeds_clears_what_a_full_disk_left() {
        let health = WriteHealth::new(Path::new("db"));
        let full: StoreResult<()> = Err(StoreError::Unwritable(Unwritable::Full));
        assert!(health.record(full).is_err());
        assert_eq!(health.last(), Some(Unwritable::Full));
        health.record(Ok(())).unwrap();
        assert_eq!(health.last(), None);
    }
}
