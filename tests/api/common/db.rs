//! The test's own look into the database an app runs on, whichever store it is: the same
//! statements (written as the store writes them, `?1` parameters) on the SQLite file or on the
//! PostgreSQL database of the test's config. Each call opens a connection of its own and
//! closes it, so it sees what the app committed and holds nothing between calls.
//!
//! PostgreSQL's blocking client runs a runtime of its own, which may not start inside a test's:
//! its calls run on a scoped thread of their own.

use std::cell::RefCell;
use std::path::PathBuf;
use std::time::Duration;

use customer_area::config::Config;
use customer_area::store::StoreResult;
use customer_area::store::sql::{Db, Param, PgConnection, Row, Value};

/// A database to look into: the SQLite file or the PostgreSQL database of a config.
#[derive(Clone, Debug)]
pub enum TestDb {
    Sqlite(PathBuf),
    Postgres(String),
}

impl TestDb {
    pub fn of(config: &Config) -> TestDb {
        let url = config.database.url.expose();
        if url.is_empty() {
            TestDb::Sqlite(config.database.path.clone())
        } else {
            TestDb::Postgres(url.to_owned())
        }
    }

    /// Runs `work` on a fresh connection (autocommit: each statement commits alone).
    pub fn with<R: Send>(&self, work: impl FnOnce(&Db) -> StoreResult<R> + Send) -> StoreResult<R> {
        match self {
            TestDb::Sqlite(path) => {
                let conn = rusqlite::Connection::open(path).expect("the test opens the database");
                conn.busy_timeout(Duration::from_secs(5)).unwrap();
                work(&Db::sqlite(&conn))
            }
            TestDb::Postgres(url) => std::thread::scope(|scope| {
                scope
                    .spawn(|| {
                        let client = postgres::Client::connect(url, postgres::NoTls)
                            .expect("the test connects to its PostgreSQL database");
                        let conn = RefCell::new(PgConnection::new(client));
                        work(&Db::postgres(&conn))
                    })
                    .join()
                    .expect("the test's database work does not panic")
            }),
        }
    }

    /// Runs one statement; how many rows it changed.
    pub fn execute(&self, sql: &str, params: &[&dyn Param]) -> StoreResult<usize> {
        let values = owned(params);
        self.with(|db| db.execute(sql, &refs(&values)))
    }

    /// Runs statements separated by semicolons, without parameters.
    pub fn execute_batch(&self, sql: &str) -> StoreResult<()> {
        self.with(|db| db.execute_batch(sql))
    }

    /// The first row of a query, read by `read`.
    pub fn query_row<T: Send>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        read: impl FnOnce(&Row) -> StoreResult<T> + Send,
    ) -> StoreResult<T> {
        let values = owned(params);
        self.with(|db| db.query_row(sql, &refs(&values), read))
    }

    /// Every row of a query, each read by `read`.
    pub fn query_map<T: Send>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        read: impl FnMut(&Row) -> StoreResult<T> + Send,
    ) -> StoreResult<Vec<T>> {
        let values = owned(params);
        self.with(|db| {
            db.prepare_cached(sql)?
                .query_map(&refs(&values), read)?
                .collect()
        })
    }

    /// Whether this is the PostgreSQL store.
    pub fn is_postgres(&self) -> bool {
        matches!(self, TestDb::Postgres(_))
    }
}

fn owned(params: &[&dyn Param]) -> Vec<Value<'static>> {
    params.iter().map(|p| p.value().into_owned()).collect()
}

fn refs<'v>(values: &'v [Value<'static>]) -> Vec<&'v dyn Param> {
    values.iter().map(|v| v as &dyn Param).collect()
}
