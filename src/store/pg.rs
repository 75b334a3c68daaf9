//! The PostgreSQL store: connections in an r2d2 pool (TLS by rustls when the URL asks for it),
//! and what the one writer ([`super::writer`]) needs of PostgreSQL: its `BEGIN` under the
//! write lock, and how a connection the server ended is told.
//!
//! Several customer-area instances may share one database. SQLite runs one write at a time
//! and every flow was written for that: a code is checked and spent, an allowance counted and
//! charged, a lease taken, each by reading and then writing in one transaction. So every
//! write transaction here first takes one transaction-level advisory lock ([`WRITE_LOCK`]),
//! shared by all instances: writes run one at a time across all of them, exactly as on one
//! SQLite file, and reads run beside them on their own connections. What that costs is
//! measured in docs/performance.md; what several instances buy is that one can go away.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use r2d2::{Pool, PooledConnection};

use super::sql::{Db, PgConnection};
use super::{StoreError, StoreResult};

/// The advisory lock every write transaction holds (a constant of this program: "ca-write").
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
/// jobs, `BEGIN` under [`WRITE_LOCK`], and a connection that turns out dead at `BEGIN`
/// replaced by the next one.
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

    fn begin(db: &Db) -> StoreResult<()> {
        begin(db)
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
