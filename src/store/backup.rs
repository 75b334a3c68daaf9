//! Online backup: a consistent copy of the live database through SQLite's backup API, taken
//! in small steps so that the server keeps answering meanwhile.

use std::path::Path;
use std::time::Duration;

use rusqlite::backup::Backup;
use rusqlite::{Connection, OpenFlags};

use super::{StoreError, StoreResult};

/// What a finished backup holds.
#[derive(Clone, Copy, Debug)]
pub struct BackupReport {
    pub pages: i64,
    pub customers: i64,
}

/// Copies the database at `source` into a new file `target`, checks the copy with
/// `PRAGMA integrity_check`, and only then moves it into place.
pub fn to_file(source: &Path, target: &Path) -> StoreResult<BackupReport> {
    let src = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    src.busy_timeout(Duration::from_secs(10))?;
    let partial = target.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    let mut dst = Connection::open(&partial)?;
    {
        let backup = Backup::new(&src, &mut dst)?;
        // 512 pages a step with a short pause: writers are blocked only for one step at a time.
        backup.run_to_completion(512, Duration::from_millis(5), None)?;
    }
    let check: String = dst.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if check != "ok" {
        return Err(StoreError::BadCopy(check));
    }
    let pages: i64 = dst.query_row("PRAGMA page_count", [], |r| r.get(0))?;
    let customers: i64 = dst
        .query_row("SELECT COUNT(*) FROM customers", [], |r| r.get(0))
        .unwrap_or(0);
    // The copy is a standalone file: no WAL beside it.
    dst.execute_batch("PRAGMA journal_mode = DELETE;")?;
    drop(dst);
    std::fs::rename(&partial, target).map_err(|source| StoreError::File {
        doing: "move the copy into place",
        source,
    })?;
    Ok(BackupReport { pages, customers })
}
