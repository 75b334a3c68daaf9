//! Online backup: a consistent copy of the live database with SQLite's backup API in one step,
//! which copies the pages of one snapshot of the write-ahead log, so writers go on meanwhile
//! and never restart it. (`VACUUM INTO`, used before, rebuilt every index of the copy: 116 s
//! for a database of a million customers, docs/performance.md.)

use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::Duration;

use rusqlite::backup::StepResult;
use rusqlite::{Connection, OpenFlags};

use super::{StoreError, StoreResult};

/// What a finished backup holds.
#[derive(Clone, Copy, Debug)]
pub struct BackupReport {
    pub pages: i64,
    pub customers: i64,
}

/// Copies the database at `source` into a new file `target`, checks the copy with
/// `PRAGMA quick_check`, and only then moves it into place.
pub fn to_file(source: &Path, target: &Path) -> StoreResult<BackupReport> {
    let src = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    src.busy_timeout(Duration::from_secs(10))?;
    let partial = target.with_extension("partial");
    let _ = std::fs::remove_file(&partial);
    // Created empty and readable by its owner only before a byte of customer data is in it;
    // SQLite writes into an empty file and keeps its mode.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&partial)
        .map_err(|source| StoreError::File {
            doing: "create the backup file",
            source,
        })?;
    let mut dst = Connection::open(&partial)?;
    {
        // One step: the whole copy reads one snapshot, however long it takes.
        let backup = rusqlite::backup::Backup::new(&src, &mut dst)?;
        let mut tries = 0;
        loop {
            match backup.step(-1)? {
                StepResult::Done => break,
                // Another process holds a lock the first read needs: try again shortly, for
                // ten seconds at most.
                _ if tries < 500 => {
                    tries += 1;
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => return Err(StoreError::Busy),
            }
        }
    }
    // Every page and every row's format; not whether each index matches its table, which
    // reads every index once per row (the copy's pages are the source's, byte for byte).
    let check: String = dst.query_row("PRAGMA quick_check", [], |r| r.get(0))?;
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
