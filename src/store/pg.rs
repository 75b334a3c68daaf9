//! The PostgreSQL store: connections in an r2d2 pool (TLS by rustls when the URL asks for it),
//! and what the one writer ([`super::writer`]) needs of PostgreSQL: its `BEGIN` under the
//! write locks, and how a connection the server ended is told.
//!
//! Several customer-area instances may share one database. SQLite runs one write at a time
//! and every flow was written for that: a code is checked and spent, an allowance counted and
//! charged, a lease taken, each by reading and then writing in one transaction. Here every
//! write transaction first takes transaction-level advisory locks, shared by all instances,
//! all of them in its `BEGIN` ([`begin_for`]):
//!
//! - a batch holding any global write ([`super::Scope::Global`], every write unless it says
//!   otherwise) takes [`WRITE_LOCK`] exclusively: it runs alone across all instances, exactly
//!   as on one SQLite file;
//! - a batch of customer-scoped writes only ([`super::Scope::Customer`]: every statement touches
//!   rows of that one customer, or only inserts new rows) takes [`WRITE_LOCK`] shared, then
//!   one lock per customer of the batch, keyed by the customer's id as a number, in ascending
//!   order. Such batches run beside each other, on any instance, unless they share a
//!   customer; a global write waits for them, and they for it.
//!
//! Every transaction takes [`WRITE_LOCK`] first and customer keys in one order, so no two can
//! wait for each other in a cycle; and as two customer-scoped transactions never write the
//! same row, READ COMMITTED gives each what a one-writer database would (no serialization
//! failure to retry). Reads run beside every write on their own connections. What the locks
//! cost is measured in docs/performance.md; what several instances buy is that one can go
//! away.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use r2d2::{Pool, PooledConnection};

use super::sql::{Db, PgConnection};
use super::writer::Locks;
use super::{StoreError, StoreResult};

/// The advisory lock every write transaction holds, exclusively for a global write and shared
/// for customer-scoped ones (a constant of this program: "ca-write"). Customer keys, numbers of
/// 14 digits, never meet it nor [`MIGRATION_LOCK`].
pub const WRITE_LOCK: i64 = 0x6361_2d77_7269_7465;
/// The advisory lock the migrations run under, so that instances starting together never
/// apply one twice.
pub const MIGRATION_LOCK: i64 = 0x6361_2d6d_6967_7261;
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

/// PostgreSQL for the writer ([`super::writer`]): a connection from the pool for each run of
/// jobs, `BEGIN` under the batch's locks ([`begin_for`]), and a connection that turns out dead
/// at `BEGIN` replaced by the next one.
pub(super) struct Engine {
    pub(super) pool: Pool<Manager>,
}

impl super::writer::Engine for Engine {
    type Conn = PooledConnection<Manager>;

    fn take(&self) -> StoreResult<Self::Conn> {
        self.pool.get().map_err(|_| StoreError::Busy)
    }

    fn db(conn: &Self::Conn) -> Db<'_> {
        Db::postgres(conn)
    }

    fn control(db: &Db, sql: &str) -> StoreResult<()> {
        db.execute_batch(sql)
    }

    fn begin(db: &Db, locks: &Locks) -> StoreResult<()> {
        begin_for(db, locks)
    }

    fn ended(_: &Db) -> bool {
        // PostgreSQL keeps a failed transaction open (aborted) until it is rolled back.
        false
    }

    fn is_dead(conn: &Self::Conn) -> bool {
        is_dead(conn)
    }

    fn tries(&self) -> u32 {
        // Each try drops one dead connection: after as many as the pool holds, a fresh one.
        self.pool.max_size() + 1
    }

    fn classify(&self, err: StoreError) -> StoreError {
        err
    }

    fn committed(&self) {}
}

/// Whether `conn`, after a statement on it failed, is a connection the server has ended (a
/// restart, a fail-over, an administrator): one empty query finds out, on the error path only.
pub(super) fn is_dead(conn: &RefCell<PgConnection>) -> bool {
    let mut conn = conn.borrow_mut();
    conn.client.is_closed() || conn.client.simple_query("").is_err()
}

/// Begins a global write transaction (the CLI's, a migration's): once it holds the write lock
/// exclusively, every write committed before it (by any instance) is visible to each of its
/// statements, and none runs beside it.
pub fn begin(db: &Db) -> StoreResult<()> {
    begin_for(db, &Locks::Everything)
}

/// Begins a write transaction holding `locks`, in one round trip: [`WRITE_LOCK`] (exclusive
/// for [`Locks::Everything`], shared otherwise), then each customer's key in ascending order.
/// Once it holds them, every write committed before it that touched the same customers (or
/// was global) is visible to each of its statements.
pub(super) fn begin_for(db: &Db, locks: &Locks) -> StoreResult<()> {
    let sql = match locks {
        Locks::Everything => format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})"),
        Locks::Customers(keys) => {
            let mut sql = format!("BEGIN; SELECT pg_advisory_xact_lock_shared({WRITE_LOCK})");
            // The statements of one simple query run in order: the keys are taken ascending.
            for key in keys {
                sql.push_str(&format!("; SELECT pg_advisory_xact_lock({key})"));
            }
            sql
        }
    };
    db.execute_batch(&sql)
}

/// How long a fresh connection may take, so that a database that is down fails a request in
/// time instead of holding it.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
