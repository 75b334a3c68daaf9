//! The store: one SQLite file in WAL mode, or one PostgreSQL database ([`pg`]) that several
//! instances may share, each behind an r2d2 pool. All SQL of the product lives in this
//! module's children, written once for both through [`sql`]; callers get typed values back
//! and never see a connection on the async executor.
//!
//! - Reads ([`Store::read`]) run on the store's reader threads, in parallel, and get a
//!   [`ReadDb`], which cannot change data: a store function that only reads takes one.
//! - Writes ([`Store::write`]) run on the writer's lane, where the writes queued together
//!   share one transaction and its commit ([`writer`], the one place that decides what is
//!   acknowledged as stored), and get a [`Db`], which also serves wherever a `ReadDb` is asked
//!   for. A write that touches one customer's rows only may say so ([`Store::write_in`],
//!   [`Scope`]): on PostgreSQL it then runs beside other customers' writes.
//! - Blocking callers (the CLI, migrations, backup) take a connection of their own
//!   ([`Store::connection`]) and write through [`write_tx`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use r2d2::Pool;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::ErrorCode;
use sql::{Db, ReadDb, params};

use crate::config;
use crate::lanes::{Lane, Refused};
pub use health::Unwritable;
pub use writer::Scope;

pub mod activity;
pub mod audit;
pub mod backup;
pub mod codes;
pub mod copy;
pub mod counters;
pub mod customers;
pub mod deliverability;
pub mod devices;
pub mod export;
pub mod export_all;
pub mod health;
pub mod import;
pub mod keys;
pub mod leases;
pub mod lock;
pub mod migrations;
pub mod outbox;
pub mod passkeys;
pub mod pg;
#[cfg(test)]
mod plans;
pub mod requests;
pub mod sessions;
pub mod sign_ups;
pub mod sql;
pub mod staff;
pub mod staff_passkeys;
pub mod stats;
pub mod subscriptions;
pub mod totp;
pub mod undo;
pub mod webhooks;
mod writer;

/// A failure of the store itself, as opposed to an answer such as "not found".
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No connection became free in time, or the database stayed locked: try again shortly.
    #[error("the database is busy")]
    Busy,
    /// The database takes no writes now (disk full, read-only); nothing was changed.
    #[error("the database cannot be written: {0}")]
    Unwritable(Unwritable),
    /// A unique column already holds this value.
    #[error("{field} is already in use")]
    Duplicate { field: &'static str },
    #[error(transparent)]
    Sqlite(rusqlite::Error),
    #[error("database: {}", described(.0))]
    Postgres(postgres::Error),
    /// A query that must answer a row answered none.
    #[error("the row asked for is not there")]
    NoRow,
    #[error("database pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("database work failed: {0}")]
    Failed(Refused),
    /// A stored value is not of its type (an identifier or an address that does not parse).
    #[error("a stored value is malformed: {0}")]
    BadValue(String),
    /// What the work checked a moment before is not there (a row gone, a field missing).
    #[error("the data is inconsistent: {0}")]
    Inconsistent(String),
    /// A copy between databases that cannot be made as asked (a target that is not empty).
    #[error("{0}")]
    CopyRefused(String),
    /// The database file was written by a newer program.
    #[error(
        "the database has schema version {found}, newer than this customer-area ({}) knows \
         ({known}): a newer version migrated it; install that version again, or restore the \
         backup taken before the upgrade",
        crate::VERSION
    )]
    NewerSchema { found: i64, known: i64 },
    /// A backup copy failed SQLite's integrity check.
    #[error("the copy failed its integrity check: {0}")]
    BadCopy(String),
    /// The database file cannot be opened (or its directory created).
    #[error("cannot open database {path}: {cause}")]
    Open { path: PathBuf, cause: String },
    /// A file operation around the database failed (moving a backup into place).
    #[error("cannot {doing}: {source}")]
    File {
        doing: &'static str,
        source: std::io::Error,
    },
    /// The store's reader or writer threads could not be started.
    #[error("cannot start the {name} threads: {source}")]
    Threads {
        name: &'static str,
        source: std::io::Error,
    },
}

/// Where a page of a listing starts; in a page's JSON, `"offset": n` or `"after": "..."`.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Start<C> {
    /// So many rows in (`?offset=`): the database walks every row it skips, so a page a
    /// million rows in takes a second.
    Offset(u32),
    /// Just after the row that an earlier page's `next` cursor names (`?after=`): as quick a
    /// million rows in as at the first.
    After(C),
}

/// One page of a listing: its rows, how many rows the listing has in all, and the cursor of
/// the page after this one (`None` on the last page).
#[derive(Debug)]
pub struct Page<T, C> {
    pub rows: Vec<T>,
    pub total: i64,
    /// `false` when counting stopped at `total` and more rows match (a broad search).
    pub total_exact: bool,
    pub next: Option<C>,
}

impl<T, C> Page<T, C> {
    /// A page from up to `limit + 1` rows read: the one beyond `limit` only shows that more
    /// follow, and `cursor` names the last row kept.
    fn of(mut rows: Vec<T>, limit: u32, total: i64, cursor: impl Fn(&T) -> C) -> Page<T, C> {
        let more = rows.len() > limit as usize;
        rows.truncate(limit as usize);
        let next = rows.last().filter(|_| more).map(cursor);
        Page {
            rows,
            total,
            total_exact: true,
            next,
        }
    }
}

/// What a write transaction decided; its changes are committed either way.
#[derive(Debug)]
pub enum Outcome<T, R> {
    /// The work is done.
    Done(T),
    /// The work refused with `R`, keeping what it wrote before refusing.
    Refused(R),
}

impl<T, R> Outcome<T, R> {
    /// The value done, or the refusal as an error.
    pub fn into_result(self) -> Result<T, R> {
        match self {
            Outcome::Done(value) => Ok(value),
            Outcome::Refused(refusal) => Err(refusal),
        }
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> StoreError {
        match err.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Busy,
            Some(ErrorCode::DiskFull) => StoreError::Unwritable(Unwritable::Full),
            Some(ErrorCode::ReadOnly) => StoreError::Unwritable(Unwritable::ReadOnly),
            Some(ErrorCode::ConstraintViolation) => match unique_column(&err) {
                Some(field) => StoreError::Duplicate { field },
                None => StoreError::Sqlite(err),
            },
            _ if matches!(err, rusqlite::Error::QueryReturnedNoRows) => StoreError::NoRow,
            _ => StoreError::Sqlite(err),
        }
    }
}

impl From<postgres::Error> for StoreError {
    fn from(err: postgres::Error) -> StoreError {
        use postgres::error::SqlState;
        let Some(db) = err.as_db_error() else {
            // The connection broke (the server restarted, the network dropped): the pool
            // opens a fresh one, so the caller may try again.
            return if err.is_closed() {
                StoreError::Busy
            } else {
                StoreError::Postgres(err)
            };
        };
        let state = db.code();
        if *state == SqlState::UNIQUE_VIOLATION {
            let field = match db.constraint() {
                Some("customers_email_key") => Some("email"),
                Some("customers_identifier_key") => Some("identifier"),
                Some("subscription_lists_pkey") => Some("id"),
                Some("passkeys_credential_id_key") => Some("credential"),
                Some("staff_passkeys_credential_id_key") => Some("credential"),
                Some("staff_email_key") => Some("email"),
                _ => None,
            };
            return match field {
                Some(field) => StoreError::Duplicate { field },
                None => StoreError::Postgres(err),
            };
        }
        if *state == SqlState::T_R_SERIALIZATION_FAILURE
            || *state == SqlState::T_R_DEADLOCK_DETECTED
            || *state == SqlState::LOCK_NOT_AVAILABLE
            || *state == SqlState::TOO_MANY_CONNECTIONS
            || *state == SqlState::ADMIN_SHUTDOWN
            || *state == SqlState::CANNOT_CONNECT_NOW
        {
            StoreError::Busy
        } else if *state == SqlState::DISK_FULL {
            StoreError::Unwritable(Unwritable::Full)
        } else if *state == SqlState::READ_ONLY_SQL_TRANSACTION {
            StoreError::Unwritable(Unwritable::ReadOnly)
        } else {
            StoreError::Postgres(err)
        }
    }
}

/// A PostgreSQL error with what the server said (its `Display` says only "db error").
fn described(err: &postgres::Error) -> String {
    match err.as_db_error() {
        Some(db) => format!(
            "{} ({}): {}",
            db.message(),
            db.code().code(),
            db.detail().unwrap_or("")
        ),
        None => err.to_string(),
    }
}

/// The public name of the column a UNIQUE violation is about, if it is one callers can fix.
fn unique_column(err: &rusqlite::Error) -> Option<&'static str> {
    let message = err.to_string();
    let column = message.strip_prefix("UNIQUE constraint failed: ")?;
    match column {
        "customers.email" => Some("email"),
        "customers.identifier" => Some("identifier"),
        "subscription_lists.id" => Some("id"),
        "passkeys.credential_id" => Some("credential"),
        "staff_passkeys.credential_id" => Some("credential"),
        "staff.email" => Some("email"),
        _ => None,
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The database: a pool of connections to one SQLite file in WAL mode, or to one PostgreSQL
/// database ([`pg`]) that several instances may share.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    /// Threads that run reads, in parallel (SQLite's WAL lets them beside the writer), one
    /// pooled connection each at a time.
    readers: Lane,
    /// The thread that runs writes: writers queue here, in order, instead of inside SQLite,
    /// whose busy handler sleeps with growing pauses and turns a short queue into long tail
    /// latencies; the writes queued together share a transaction and its commit, each in a
    /// savepoint of its own ([`writer`]). On PostgreSQL, two such threads, whose transactions
    /// run beside each other's and other instances' where their writes' scopes let them
    /// ([`Scope`], [`pg`]).
    writer: Lane<writer::WriteJob>,
    /// How long a read or write may wait for its thread before the store answers busy.
    wait: Duration,
    /// Whether the last write failed for want of space or write access (SQLite: the file
    /// system is asked why; PostgreSQL's server says so itself).
    health: health::WriteHealth,
    /// The longest write transaction so far, in microseconds (for `/metrics`).
    longest_write: Arc<AtomicU64>,
}

/// The pool of connections to one database.
#[derive(Clone)]
enum Backend {
    Sqlite(Pool<SqliteConnectionManager>),
    Postgres {
        pool: Pool<pg::Manager>,
        /// `postgres://host/name`, for messages: never the password.
        name: String,
    },
}

/// A connection taken from the pool, for blocking callers (CLI, migrations, backup).
pub enum Pooled {
    Sqlite(r2d2::PooledConnection<SqliteConnectionManager>),
    Postgres(Box<r2d2::PooledConnection<pg::Manager>>),
}

impl Pooled {
    /// Statements on this connection.
    pub fn db(&self) -> Db<'_> {
        match self {
            Pooled::Sqlite(conn) => Db::sqlite(conn),
            Pooled::Postgres(conn) => Db::postgres(conn),
        }
    }

    /// The SQLite connection, for what only SQLite has; `None` on PostgreSQL.
    pub fn into_sqlite(self) -> Option<r2d2::PooledConnection<SqliteConnectionManager>> {
        match self {
            Pooled::Sqlite(conn) => Some(conn),
            Pooled::Postgres(_) => None,
        }
    }
}

impl Store {
    /// Opens the database: the PostgreSQL database of `url` when it is set, otherwise the
    /// SQLite file at `path` (creating it if needed), each connection set up for safe
    /// concurrent use. Does not migrate: see [`migrations`].
    pub fn open(settings: &config::Database) -> StoreResult<Store> {
        if settings.url.is_empty() {
            Self::open_path(&settings.path, settings)
        } else {
            Self::open_postgres(settings)
        }
    }

    fn open_postgres(settings: &config::Database) -> StoreResult<Store> {
        let ca_file = (!settings.ca_file.as_os_str().is_empty()).then_some(&*settings.ca_file);
        let manager =
            pg::Manager::new(settings.url.expose(), ca_file).map_err(|cause| StoreError::Open {
                path: "the database at database.url".into(),
                cause,
            })?;
        let name = manager.describe();
        // A broken connection is noticed when it comes back ([`pg::Manager::has_broken`]).
        let pool = pool(manager, settings, Path::new(&name))?;
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let writers = 2;
        let readers = (settings.pool_size.get() as usize)
            .saturating_sub(writers)
            .clamp(1, cores * 2);
        let longest_write = Arc::new(AtomicU64::new(0));
        let runner = writer::Writer {
            engine: pg::Engine { pool: pool.clone() },
            longest: longest_write.clone(),
        };
        let writer = Lane::start_batched(
            "db-write",
            writers,
            MAX_WAITING,
            writer::BATCH,
            move |jobs| runner.serve(jobs),
        )
        .map_err(|source| StoreError::Threads {
            name: "db-write",
            source,
        })?;
        let readers =
            Lane::start("db-read", readers, MAX_WAITING).map_err(|source| StoreError::Threads {
                name: "db-read",
                source,
            })?;
        Ok(Store {
            backend: Backend::Postgres { pool, name },
            readers,
            writer,
            wait: Duration::from_millis(settings.pool_timeout_ms),
            health: health::WriteHealth::new(Path::new("")),
            longest_write,
        })
    }

    fn open_path(path: &Path, settings: &config::Database) -> StoreResult<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
                path: path.to_owned(),
                cause: format!("cannot create directory {}: {e}", dir.display()),
            })?;
        }
        let busy_timeout = settings.busy_timeout_ms;
        let cache_kib = settings.cache_kib;
        let mmap_bytes = settings.mmap_mib.saturating_mul(1 << 20);
        let manager = SqliteConnectionManager::file(path).with_init(move |conn| {
            // WAL lets readers run beside the writer; synchronous=FULL makes every acknowledged
            // commit durable even across power loss; secure_delete zeroes what is deleted
            // (sent emails' bodies, ended sessions) instead of leaving it in free pages.
            conn.execute_batch(&format!(
                "PRAGMA journal_mode = WAL;
                 PRAGMA synchronous = FULL;
                 PRAGMA foreign_keys = ON;
                 PRAGMA busy_timeout = {busy_timeout};
                 PRAGMA secure_delete = ON;
                 PRAGMA cache_size = -{cache_kib};
                 PRAGMA mmap_size = {mmap_bytes};"
            ))?;
            conn.set_prepared_statement_cache_capacity(64);
            Ok(())
        });
        // A connection to a local file does not go stale, and the check (a `SELECT 1` on every
        // checkout) showed in the profile of GET /customers/self (docs/performance.md).
        let pool = pool(manager, settings, path)?;
        let lane = |name, threads| {
            Lane::start(name, threads, MAX_WAITING)
                .map_err(|source| StoreError::Threads { name, source })
        };
        // The writer holds one connection; the readers share the rest of the pool, one thread
        // per core: reads are short and CPU-bound (the pages are cached), and more reader
        // threads than cores only took turns on them (41k vs 28k GET /customers/self per
        // second with 2 and 7 readers on 2 cores, docs/performance.md).
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let readers = (settings.pool_size.get() as usize)
            .saturating_sub(1)
            .clamp(1, cores);
        let health = health::WriteHealth::new(path);
        let longest_write = Arc::new(AtomicU64::new(0));
        let runner = writer::Writer {
            engine: writer::Sqlite {
                pool: pool.clone(),
                health: health.clone(),
            },
            longest: longest_write.clone(),
        };
        let writer = Lane::start_batched("db-write", 1, MAX_WAITING, writer::BATCH, move |jobs| {
            runner.serve(jobs)
        })
        .map_err(|source| StoreError::Threads {
            name: "db-write",
            source,
        })?;
        Ok(Store {
            backend: Backend::Sqlite(pool),
            readers: lane("db-read", readers)?,
            writer,
            wait: Duration::from_millis(settings.pool_timeout_ms),
            health,
            longest_write,
        })
    }

    /// Runs read-only work on a pooled connection, on a reader thread. The work gets a
    /// [`ReadDb`]: it cannot change data.
    pub async fn read<R, F>(&self, work: F) -> StoreResult<R>
    where
        F: Fn(&ReadDb) -> StoreResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let backend = self.backend.clone();
        let work = move || match backend {
            Backend::Sqlite(pool) => {
                let conn = pool.get().map_err(|_| StoreError::Busy)?;
                work(&ReadDb::sqlite(&conn))
            }
            Backend::Postgres { pool, .. } => {
                // A connection the server ended (a restart, a fail-over) is noticed only when
                // used, and dropped from the pool then: a read, which changes nothing, is tried
                // again on the next one, so that a restart costs no request. Each try drops one
                // dead connection, so the pool's size bounds the tries.
                let mut tries = pool.max_size();
                loop {
                    let conn = pool.get().map_err(|_| StoreError::Busy)?;
                    let read = work(&ReadDb::postgres(&conn));
                    tries -= 1;
                    if read.is_ok() || tries == 0 || !pg::is_dead(&conn) {
                        return read;
                    }
                }
            }
        };
        self.readers.run(self.wait, work).await.map_err(refused)?
    }

    /// Runs work in a write transaction on the writer's lane (SQLite's `BEGIN IMMEDIATE`,
    /// PostgreSQL's write lock held exclusively, [`pg::begin`]), answered once it is committed
    /// when `work` returns `Ok` (an [`Outcome`] there commits a refusal too), and rolled back
    /// on `Err`. Writes queued together share the transaction and its commit, each in a
    /// savepoint of its own ([`writer`]). Taking the write lock up front means a
    /// read-then-write never fails half-way (another process, such as the CLI, may hold it).
    pub async fn write<R, F>(&self, work: F) -> StoreResult<R>
    where
        F: FnOnce(&Db) -> StoreResult<R> + Send + 'static,
        R: Send + 'static,
    {
        self.write_in(Scope::Global, work).await
    }

    /// Runs work as [`Store::write`] does, declaring what it may run beside: with
    /// [`Scope::Customer`], on PostgreSQL, beside the writes of other customers (the caller
    /// says, beside the call, why every statement of `work` is that customer's alone).
    pub async fn write_in<R, F>(&self, scope: Scope, work: F) -> StoreResult<R>
    where
        F: FnOnce(&Db) -> StoreResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let job = |answer| writer::WriteJob::in_transaction(scope, work, answer);
        self.writer.submit(self.wait, job).await.map_err(refused)?
    }

    /// Why the database takes no writes, or `None` when it does. Once a write has failed for
    /// want of space or write access, each call tries a one-page write to see whether that
    /// has passed; until then it writes nothing.
    pub async fn unwritable(&self) -> Option<Unwritable> {
        self.health.last()?;
        match self.write(health::probe).await {
            Ok(()) => None,
            Err(StoreError::Unwritable(condition)) => Some(condition),
            // Busy or broken otherwise: what the last write found still stands.
            Err(_) => self.health.last(),
        }
    }

    /// Checks with a one-page write that the database takes writes (blocking; at start-up).
    pub fn check_writable(&self) -> StoreResult<()> {
        let conn = self.connection()?;
        // Named, not logged: the caller says it once, in the line it stops with.
        write_tx(&conn.db(), health::probe).map_err(|e| self.health.explain(e))
    }

    /// Runs `work` on the writer thread outside any transaction, once every write queued
    /// before it has ended (the WAL checkpoint at shutdown).
    pub async fn after_writes<R, F>(&self, work: F) -> StoreResult<R>
    where
        F: FnOnce(&Db) -> StoreResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let job = |answer| writer::WriteJob::alone(work, answer);
        self.writer.submit(self.wait, job).await.map_err(refused)?
    }

    /// A pooled connection for blocking callers (CLI, migrations, backup).
    pub fn connection(&self) -> StoreResult<Pooled> {
        Ok(match &self.backend {
            Backend::Sqlite(pool) => Pooled::Sqlite(pool.get()?),
            Backend::Postgres { pool, .. } => Pooled::Postgres(Box::new(pool.get()?)),
        })
    }

    /// Which store this is: `sqlite` or `postgres` (for `/healthz` and `/metrics`).
    pub fn kind(&self) -> &'static str {
        match self.backend {
            Backend::Sqlite(_) => "sqlite",
            Backend::Postgres { .. } => "postgres",
        }
    }

    /// The SQL dialect of this store.
    pub fn dialect(&self) -> sql::Dialect {
        match self.backend {
            Backend::Sqlite(_) => sql::Dialect::Sqlite,
            Backend::Postgres { .. } => sql::Dialect::Postgres,
        }
    }

    /// The PostgreSQL database's `postgres://host/name` (never its password), or `None` on
    /// SQLite.
    pub fn postgres_name(&self) -> Option<&str> {
        match &self.backend {
            Backend::Sqlite(_) => None,
            Backend::Postgres { name, .. } => Some(name),
        }
    }

    /// The longest write transaction so far, from its `BEGIN` to its end: the longest the
    /// writer was held, and so the longest any other write waited behind one.
    pub fn longest_write(&self) -> Duration {
        Duration::from_micros(self.longest_write.load(Ordering::Relaxed))
    }

    /// Connections checked out right now, and the pool's size.
    pub fn pool_usage(&self) -> (u32, u32) {
        let (state, max) = match &self.backend {
            Backend::Sqlite(pool) => (pool.state(), pool.max_size()),
            Backend::Postgres { pool, .. } => (pool.state(), pool.max_size()),
        };
        (state.connections - state.idle_connections, max)
    }
}

/// A pool of `manager`'s connections, after one made by hand: a database this user may not
/// open or reach fails here at once, by `name`, where the pool would retry it until its
/// timeout, logging every try. Connections are not checked on checkout.
fn pool<M: r2d2::ManageConnection>(
    manager: M,
    settings: &config::Database,
    name: &Path,
) -> StoreResult<Pool<M>> {
    let failed = |cause: String| StoreError::Open {
        path: name.to_owned(),
        cause,
    };
    // With its causes: PostgreSQL's "error performing TLS handshake" says why only in them.
    manager.connect().map_err(|e| {
        let mut cause = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(inner) = source {
            cause = format!("{cause}: {inner}");
            source = inner.source();
        }
        failed(cause)
    })?;
    Pool::builder()
        .max_size(settings.pool_size.get())
        .min_idle(Some(1))
        .test_on_check_out(false)
        .connection_timeout(Duration::from_millis(settings.pool_timeout_ms))
        .build(manager)
        .map_err(|e| failed(e.to_string()))
}

/// Reads or writes queued beyond this answer busy at once.
const MAX_WAITING: usize = 4096;

fn refused(refused: Refused) -> StoreError {
    match refused {
        Refused::Full | Refused::TimedOut => StoreError::Busy,
        Refused::Failed => StoreError::Failed(refused),
    }
}

/// Runs `work` in a write transaction on a connection of its own (blocking callers): SQLite's
/// `BEGIN IMMEDIATE`, PostgreSQL's write lock ([`pg::begin`]); committed when it returns
/// `Ok`, rolled back otherwise.
pub fn write_tx<R>(db: &Db, work: impl FnOnce(&Db) -> StoreResult<R>) -> StoreResult<R> {
    match db.dialect() {
        sql::Dialect::Sqlite => db.execute_batch("BEGIN IMMEDIATE")?,
        sql::Dialect::Postgres => pg::begin(db)?,
    }
    match work(db) {
        Ok(result) => {
            db.execute_batch("COMMIT")?;
            Ok(result)
        }
        Err(err) => {
            let _ = db.execute_batch("ROLLBACK");
            Err(err)
        }
    }
}

/// Seconds since the Unix epoch, the unit of every time column.
pub fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Checks that the database answers a query.
pub fn ping(conn: &ReadDb) -> StoreResult<()> {
    conn.prepare_cached("SELECT 1")?
        .query_row(params![], |_| Ok(()))?;
    Ok(())
}

/// Copies the WAL into the main database file and truncates it (at shutdown).
pub fn checkpoint(conn: &Db) -> StoreResult<()> {
    if let Some(conn) = conn.as_sqlite() {
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sqlite_connection_takes_the_configured_page_cache_and_memory_map() {
        let dir = tempfile::tempdir().unwrap();
        let settings = config::Database {
            path: dir.path().join("pragmas.db"),
            cache_kib: 1234,
            mmap_mib: 3,
            ..config::Database::default()
        };
        let store = Store::open(&settings).unwrap();
        let Backend::Sqlite(pool) = &store.backend else {
            unreachable!("a path opens SQLite")
        };
        // Two connections at once: each is set up by the pool's initializer, not just the first.
        let (first, second) = (pool.get().unwrap(), pool.get().unwrap());
        for conn in [&first, &second] {
            let cache: i64 = conn
                .query_row("PRAGMA cache_size", [], |r| r.get(0))
                .unwrap();
            let mmap: i64 = conn
                .query_row("PRAGMA mmap_size", [], |r| r.get(0))
                .unwrap();
            assert_eq!((cache, mmap), (-1234, 3 << 20));
        }
    }
}
