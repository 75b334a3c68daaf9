//! What a customer import needs from the store beyond creating customers: a larger page cache
//! while it runs, and a scratch table of the ids, emails and identifiers met in the file so far.
//! Both keep the import's memory bounded however long the file is.

use super::sql::{Db, Dialect, OptionalRow, params};

use super::StoreResult;

/// The page cache an import's connection gets while it runs (SQLite's default is 2 MiB): a
/// million new customers touch far more pages than that, and every page pushed out of the
/// cache in the middle of the transaction is written to the WAL, often more than once.
const IMPORT_CACHE_KIB: i64 = 32 * 1024;

/// The larger page cache of an import, put back to what it was when dropped.
/// (SQLite only: PostgreSQL's shared buffers are the server's to size.)
pub struct ImportCache<'c> {
    conn: Option<&'c rusqlite::Connection>,
    before: i64,
}

impl<'c> ImportCache<'c> {
    pub fn enlarge(db: &Db<'c>) -> StoreResult<ImportCache<'c>> {
        let Some(conn) = db.as_sqlite() else {
            return Ok(ImportCache {
                conn: None,
                before: 0,
            });
        };
        let before = conn.query_row("PRAGMA main.cache_size", [], |row| row.get(0))?;
        conn.execute_batch(&format!("PRAGMA main.cache_size = -{IMPORT_CACHE_KIB}"))?;
        Ok(ImportCache {
            conn: Some(conn),
            before,
        })
    }
}

impl Drop for ImportCache<'_> {
    fn drop(&mut self) {
        // The pool's next user of this connection would otherwise keep the larger cache.
        if let Some(conn) = self.conn {
            let _ = conn.execute_batch(&format!("PRAGMA main.cache_size = {}", self.before));
        }
    }
}

/// The ids, emails and identifiers of the rows read so far, with the line each was first on: a
/// table of the connection's temporary database, which SQLite keeps in a file once it
/// outgrows its cache. Emptied when made and when done.
pub struct Seen<'d, 'c> {
    conn: &'d Db<'c>,
}

impl<'d, 'c> Seen<'d, 'c> {
    pub fn new(conn: &'d Db<'c>) -> StoreResult<Seen<'d, 'c>> {
        let rows = match conn.dialect() {
            Dialect::Sqlite => "WITHOUT ROWID",
            Dialect::Postgres => "",
        };
        conn.execute_batch(&format!(
            "CREATE TEMP TABLE IF NOT EXISTS import_seen (
                 kind  TEXT NOT NULL,
                 value TEXT NOT NULL,
                 line  BIGINT NOT NULL,
                 PRIMARY KEY (kind, value)
             ) {rows};
             DELETE FROM import_seen;"
        ))?;
        Ok(Seen { conn })
    }

    /// Notes `value` of `kind` (`id`, `email`, `identifier`) on `line`; answers the earlier line it
    /// was first seen on, if any.
    pub fn first_seen(&self, kind: &str, value: &str, line: u64) -> StoreResult<Option<u64>> {
        let added = self
            .conn
            .prepare_cached(
                "INSERT INTO import_seen (kind, value, line) VALUES (?1, ?2, ?3)
                 ON CONFLICT DO NOTHING",
            )?
            .execute(params![kind, value, line as i64])?;
        if added == 1 {
            return Ok(None);
        }
        let first: Option<i64> = self
            .conn
            .prepare_cached("SELECT line FROM import_seen WHERE kind = ?1 AND value = ?2")?
            .query_row(params![kind, value], |row| row.only())
            .optional()?;
        Ok(first.map(|line| line as u64))
    }

    /// Whether `value` of `kind` was noted.
    pub fn contains(&self, kind: &str, value: &str) -> StoreResult<bool> {
        self.conn
            .prepare_cached(
                "SELECT EXISTS(SELECT 1 FROM import_seen WHERE kind = ?1 AND value = ?2)",
            )?
            .query_row(params![kind, value], |row| row.only())
    }

    /// Empties the table (kept, so that no cached statement of the connection is invalidated).
    pub fn finish(self) -> StoreResult<()> {
        self.conn.execute_batch("DELETE FROM import_seen")?;
        Ok(())
    }
}
