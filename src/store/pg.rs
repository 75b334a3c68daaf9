//! The PostgreSQL store: connections in an r2d2 pool (TLS by rustls when the URL asks for it),
//! and the writer that runs each write in a transaction of its own.
//!
//! Several customer-area instances may share one database. SQLite runs one write at a time
//! and every flow was written for that: a code is checked and spent, an allowance counted and
//! charged, a lease taken, each by reading and then writing in one transaction. So every
//! write transaction here first takes one transaction-level advisory lock ([`WRITE_LOCK`]),
//! shared by all instances: writes run one at a time across all of them, exactly as on one
//! SQLite file, and reads run beside them on their own connections. What that costs is
//! measured in docs/performance.md; what several instances buy is that one can go away.

use std::cell::RefCell;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use r2d2::{Pool, PooledConnection};

use super::sql::{Db, PgConnection};
use super::writer::{Step, Write, WriteJob};
use super::{StoreError, StoreResult};

/// The advisory lock every write transaction holds (a constant of this program: "ca-write").
pub const WRITE_LOCK: i64 = 0x6361_2d77_7269_7465;
/// The advisory lock the migrations run under, so that instances starting together never
/// apply one twice.
pub const MIGRATION_LOCK: i64 = 0x6361_2d6d_6967_7261;
/// The advisory lock of the housekeeping sweep: one instance sweeps at a time.
pub const SWEEP_LOCK: i64 = 0x6361_2d73_7765_6570;

/// Opens connections to one PostgreSQL database for the pool.
pub struct Manager {
    config: postgres::Config,
    tls: Option<tokio_postgres_rustls::MakeRustlsConnect>,
}

impl Manager {
    /// A manager for `url` (`postgres://user:password@host:port/database?sslmode=...`); with
    /// `sslmode=require` (or `prefer`, the default) connections are made with TLS, checked
    /// against the system's certificate authorities and `ca_file` if given.
    pub fn new(url: &str, ca_file: Option<&std::path::Path>) -> Result<Manager, String> {
        let mut config: postgres::Config = url
            .parse()
            .map_err(|e| format!("the database URL is not valid: {e}"))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        config.application_name("customer-area");
        // The server's notices ("already exists, skipping") are not the operator's business.
        config.options("-c client_min_messages=warning");
        let tls = match config.get_ssl_mode() {
            postgres::config::SslMode::Disable => None,
            _ => Some(tls(ca_file)?),
        };
        Ok(Manager { config, tls })
    }

    /// The database's name and host, for messages (never the password).
    pub fn describe(&self) -> String {
        let host = self
            .config
            .get_hosts()
            .first()
            .map(|host| match host {
                postgres::config::Host::Tcp(name) => name.clone(),
                postgres::config::Host::Unix(path) => path.display().to_string(),
            })
            .unwrap_or_else(|| "localhost".into());
        let name = self.config.get_dbname().unwrap_or("postgres");
        format!("postgres://{host}/{name}")
    }
}

fn tls(
    ca_file: Option<&std::path::Path>,
) -> Result<tokio_postgres_rustls::MakeRustlsConnect, String> {
    use tokio_rustls::rustls;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        use rustls::pki_types::CertificateDer;
        use rustls::pki_types::pem::PemObject;
        let certs = CertificateDer::pem_file_iter(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        for cert in certs {
            let cert = cert.map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{} holds a bad certificate: {e}", path.display()))?;
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(tokio_postgres_rustls::MakeRustlsConnect::new(config))
}

impl r2d2::ManageConnection for Manager {
    type Connection = RefCell<PgConnection>;
    type Error = postgres::Error;

    fn connect(&self) -> Result<Self::Connection, postgres::Error> {
        let client = match &self.tls {
            Some(tls) => self.config.connect(tls.clone())?,
            None => self.config.connect(postgres::NoTls)?,
        };
        Ok(RefCell::new(PgConnection::new(client)))
    }

    fn is_valid(&self, conn: &mut Self::Connection) -> Result<(), postgres::Error> {
        conn.get_mut().client.simple_query("").map(|_| ())
    }

    fn has_broken(&self, conn: &mut Self::Connection) -> bool {
        conn.get_mut().client.is_closed()
    }
}

/// Runs the writer lane's jobs on PostgreSQL: the writes queued together in one transaction
/// under [`WRITE_LOCK`], each in a savepoint of its own, so that one commit (one WAL flush)
/// stores them all, as SQLite's writer does ([`super::writer`]).
pub(super) struct Writer {
    pub(super) pool: Pool<Manager>,
    pub(super) longest: Arc<AtomicU64>,
}

/// A pooled connection to PostgreSQL.
type Pooled = PooledConnection<Manager>;

/// What answers a write once its transaction is committed (or not).
type Answer = Box<dyn FnOnce(StoreResult<()>) + Send>;

impl Writer {
    /// Runs `jobs`, in order: each run of writes in one transaction, work alone on its own.
    pub(super) fn serve(&self, jobs: &mut Vec<WriteJob>) {
        let mut conn = None;
        let mut writes = Vec::new();
        for job in jobs.drain(..) {
            match job {
                WriteJob::InTransaction(write) => writes.push(write),
                WriteJob::Alone(work) => {
                    self.run_batch(&mut conn, std::mem::take(&mut writes));
                    match self.connection(&mut conn) {
                        // A panic drops its answer: its caller learns it failed.
                        Some(conn) => {
                            let db = Db::postgres(conn);
                            let _ = std::panic::catch_unwind(AssertUnwindSafe(|| work.run(&db)));
                        }
                        None => work.refuse(StoreError::Busy),
                    }
                }
            }
        }
        self.run_batch(&mut conn, writes);
    }

    /// The connection in hand, or a new one from the pool.
    fn connection<'c>(&self, conn: &'c mut Option<Pooled>) -> Option<&'c Pooled> {
        if conn.is_none() {
            *conn = self.pool.get().ok();
        }
        conn.as_ref()
    }

    /// Runs `writes` as one batch. A connection the server ended (a restart, a fail-over) is
    /// noticed only when the batch begins on it, before anything ran: the batch is then run on
    /// the next connection, and the dead one leaves the pool. The pool's size bounds the tries.
    fn run_batch(&self, conn: &mut Option<Pooled>, mut writes: Vec<Box<dyn Write>>) {
        if writes.is_empty() {
            return;
        }
        for _ in 0..self.pool.max_size() {
            let Some(pooled) = self.connection(conn) else {
                break;
            };
            match self.write_batch(pooled, writes) {
                Ok(()) => return,
                Err(unrun) => {
                    writes = unrun;
                    *conn = None;
                }
            }
        }
        for write in writes {
            write.refuse(StoreError::Busy);
        }
    }

    /// Runs `writes` in one transaction and commits it. A write that fails is rolled back to
    /// its savepoint and answered with its own error; the others stand.
    /// Hands the writes back, unrun, when the connection turns out to be closed.
    fn write_batch(
        &self,
        conn: &Pooled,
        writes: Vec<Box<dyn Write>>,
    ) -> Result<(), Vec<Box<dyn Write>>> {
        let db = &Db::postgres(conn);
        let started = Instant::now();
        // One write alone needs no savepoint: its failure rolls the transaction back.
        let alone = writes.len() == 1;
        let mut done: Vec<Answer> = Vec::new();
        let mut writes = writes.into_iter();
        if let Err(err) = begin(db) {
            // Nothing ran: on a dead connection the batch may go to the next one.
            let _ = db.execute_batch("ROLLBACK");
            if is_dead(conn) {
                return Err(writes.collect());
            }
            abandon(db, done, &err, writes);
            return Ok(());
        }
        while let Some(write) = writes.next() {
            if !alone && let Err(err) = db.execute_batch("SAVEPOINT write") {
                write.refuse(again(&err));
                abandon(db, done, &err, writes);
                return Ok(());
            }
            let step = std::panic::catch_unwind(AssertUnwindSafe(|| write.run(db)));
            match step {
                Ok(Step::Done(answer)) => {
                    let kept = if alone {
                        Ok(())
                    } else {
                        db.execute_batch("RELEASE write")
                    };
                    match kept {
                        Ok(()) => done.push(answer),
                        Err(err) => {
                            answer(Err(again(&err)));
                            abandon(db, done, &err, writes);
                            return Ok(());
                        }
                    }
                    continue;
                }
                Ok(Step::Failed(err, answer)) => answer(err),
                // The panic dropped the answer: its caller learns it failed.
                Err(_) => {}
            }
            if alone {
                break;
            }
            if let Err(err) = db.execute_batch("ROLLBACK TO write; RELEASE write") {
                abandon(db, done, &err, writes);
                return Ok(());
            }
        }
        if done.is_empty() {
            let _ = db.execute_batch("ROLLBACK");
        } else {
            let committed = db.execute_batch("COMMIT");
            for answer in done {
                answer(committed.as_ref().map(|_| ()).map_err(again));
            }
        }
        self.longest
            .fetch_max(started.elapsed().as_micros() as u64, Ordering::Relaxed);
        Ok(())
    }
}

/// Ends a batch's transaction after `err`: what was done in it is gone, and what was not run
/// is refused.
fn abandon(
    db: &Db,
    done: Vec<Answer>,
    err: &StoreError,
    rest: impl Iterator<Item = Box<dyn Write>>,
) {
    let _ = db.execute_batch("ROLLBACK");
    for answer in done {
        answer(Err(again(err)));
    }
    for write in rest {
        write.refuse(again(err));
    }
}

/// The same failure again, for each write it befell: a full or read-only database as such,
/// "busy" (try again: nothing was stored) otherwise.
fn again(err: &StoreError) -> StoreError {
    match err {
        StoreError::Unwritable(condition) => StoreError::Unwritable(*condition),
        _ => StoreError::Busy,
    }
}

/// Whether `conn`, after a statement on it failed, is a connection the server has ended (a
/// restart, a fail-over, an administrator): one empty query finds out, on the error path only.
pub(super) fn is_dead(conn: &RefCell<PgConnection>) -> bool {
    let mut conn = conn.borrow_mut();
    conn.client.is_closed() || conn.client.simple_query("").is_err()
}

/// Begins a write transaction: once it holds the write lock, every write committed before it
/// (by any instance) is visible to each of its statements.
pub fn begin(db: &Db) -> StoreResult<()> {
    db.execute_batch(&format!(
        "BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"
    ))
}

/// How long a fresh connection may take, so that a database that is down fails a request in
/// time instead of holding it.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
