//! The one way the store's modules talk to a database, whichever it is: a statement written
//! once, with `?1`-style parameters, runs on SQLite or on PostgreSQL, and hands back [`Row`]s
//! whose columns are read by name into plain Rust values (a query that answers one column
//! reads it with [`Row::only`]). Reads get a [`ReadDb`], which can only query; writes get a
//! [`Db`], which can also change data and serves as a `ReadDb` too. The few places where the
//! two dialects differ ask [`ReadDb::dialect`] and write each its own SQL.
//!
//! Values cross in five kinds ([`Value`]), as SQLite keeps them: integers (booleans are 0 and
//! 1, as in every table), reals, text, bytes and NULL. On PostgreSQL a parameter is written in
//! whatever type the statement gives it (so `?1` can be an `INTEGER`, a `BIGINT` or a
//! `BOOLEAN` column), and a column of any of those types reads back the same.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use super::{StoreError, StoreResult};

/// The SQL dialect of a database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

/// Statements that only read, on a connection or in a transaction: what [`super::Store::read`]
/// hands its work, and what every store function that only reads takes. It has no `execute`,
/// no `execute_batch`, no savepoint, and its prepared statements ([`Query`]) can only query:
/// only a write's handle, [`Db`], changes data. Like kanidm's read and write transactions,
/// the two are different types, so a read that tries to write does not compile:
///
/// ```compile_fail,E0599
/// # async fn f(store: customer_area::store::Store) {
/// use customer_area::store::sql::params;
/// store.read(|db| db.execute("DELETE FROM sessions", params![])).await;
/// # }
/// ```
///
/// The same work compiles as a write, whose handle also serves wherever a read's is asked
/// for (it dereferences to one):
///
/// ```
/// # async fn f(store: customer_area::store::Store) {
/// use customer_area::store::sql::{ReadDb, params};
/// fn count(db: &ReadDb) -> customer_area::store::StoreResult<i64> {
///     db.query_row("SELECT count(*) FROM sessions", params![], |row| row.only())
/// }
/// let _ = store.write(|db| db.execute("DELETE FROM sessions", params![])).await;
/// let _ = store.write(|db| count(db)).await;
/// let _ = store.read(|db| count(db)).await;
/// # }
/// ```
pub struct ReadDb<'c> {
    inner: Inner<'c>,
}

/// A write's handle on a connection (the writer's transaction, or a blocking caller's own
/// connection): everything a [`ReadDb`] has, through `Deref`, and the statements that change
/// data.
pub struct Db<'c> {
    read: ReadDb<'c>,
}

#[derive(Clone, Copy)]
enum Inner<'c> {
    Sqlite(&'c rusqlite::Connection),
    Postgres(&'c RefCell<PgConnection>),
}

impl<'c> ReadDb<'c> {
    /// Reads on a SQLite connection (or a transaction: it dereferences to one).
    pub fn sqlite(conn: &'c rusqlite::Connection) -> ReadDb<'c> {
        ReadDb {
            inner: Inner::Sqlite(conn),
        }
    }

    /// Reads on a PostgreSQL connection.
    pub fn postgres(conn: &'c RefCell<PgConnection>) -> ReadDb<'c> {
        ReadDb {
            inner: Inner::Postgres(conn),
        }
    }

    pub fn dialect(&self) -> Dialect {
        match self.inner {
            Inner::Sqlite(_) => Dialect::Sqlite,
            Inner::Postgres(_) => Dialect::Postgres,
        }
    }

    /// A query, prepared once per connection and kept for the next call with the same text.
    /// On SQLite, a statement that would change the database is refused.
    pub fn prepare_cached(&self, sql: &str) -> StoreResult<Query<'c>> {
        let statement = prepare(self.inner, sql)?;
        if let Statement::Sqlite(statement) = &statement
            && !statement.readonly()
        {
            return Err(StoreError::Inconsistent(format!(
                "a read ran a statement that writes: {sql}"
            )));
        }
        Ok(Query(statement))
    }

    /// The first row of a query, read by `read`; [`StoreError::NoRow`] when there is none.
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        read: impl FnOnce(&Row) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.prepare_cached(sql)?.query_row(params, read)
    }
}

impl<'c> std::ops::Deref for Db<'c> {
    type Target = ReadDb<'c>;

    fn deref(&self) -> &ReadDb<'c> {
        &self.read
    }
}

impl<'c> Db<'c> {
    /// Statements on a SQLite connection (or a transaction: it dereferences to one).
    pub fn sqlite(conn: &'c rusqlite::Connection) -> Db<'c> {
        Db {
            read: ReadDb::sqlite(conn),
        }
    }

    /// Statements on a PostgreSQL connection.
    pub fn postgres(conn: &'c RefCell<PgConnection>) -> Db<'c> {
        Db {
            read: ReadDb::postgres(conn),
        }
    }

    /// The SQLite connection underneath, for what only SQLite has (its backup API, pragmas);
    /// `None` on PostgreSQL.
    pub fn as_sqlite(&self) -> Option<&'c rusqlite::Connection> {
        match self.read.inner {
            Inner::Sqlite(conn) => Some(conn),
            Inner::Postgres(_) => None,
        }
    }

    /// A statement, prepared once per connection and kept for the next call with the same
    /// text.
    pub fn prepare_cached(&self, sql: &str) -> StoreResult<Statement<'c>> {
        prepare(self.read.inner, sql)
    }

    /// Runs statements separated by semicolons, without parameters.
    pub fn execute_batch(&self, sql: &str) -> StoreResult<()> {
        match self.read.inner {
            Inner::Sqlite(conn) => Ok(conn.execute_batch(sql)?),
            Inner::Postgres(conn) => Ok(conn.borrow_mut().client.batch_execute(sql)?),
        }
    }

    /// Runs one statement once; how many rows it changed.
    pub fn execute(&self, sql: &str, params: &[&dyn Param]) -> StoreResult<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    /// The first row of a statement (a query, or a change with `RETURNING`), read by `read`;
    /// [`StoreError::NoRow`] when there is none.
    pub fn query_row<T>(
        &self,
        sql: &str,
        params: &[&dyn Param],
        read: impl FnOnce(&Row) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.prepare_cached(sql)?.query_row(params, read)
    }

    /// Runs `work` in a savepoint: its changes stand if it returns `Ok` and are undone if it
    /// fails, leaving the rest of the transaction as it was.
    pub fn savepoint<T>(&self, work: impl FnOnce(&Db) -> StoreResult<T>) -> StoreResult<T> {
        self.execute_batch("SAVEPOINT store_work")?;
        match work(self) {
            Ok(value) => {
                self.execute_batch("RELEASE SAVEPOINT store_work")?;
                Ok(value)
            }
            Err(err) => {
                // A failed rollback leaves the transaction to fail at its commit: the work's
                // own error is the one to report.
                let _ = self.execute_batch(
                    "ROLLBACK TO SAVEPOINT store_work; RELEASE SAVEPOINT store_work",
                );
                Err(err)
            }
        }
    }
}

/// `sql` prepared on `conn`, or taken from the statements it prepared before.
fn prepare<'c>(conn: Inner<'c>, sql: &str) -> StoreResult<Statement<'c>> {
    match conn {
        Inner::Sqlite(conn) => Ok(Statement::Sqlite(conn.prepare_cached(sql)?)),
        Inner::Postgres(conn) => {
            let statement = conn.borrow_mut().prepare(sql)?;
            Ok(Statement::Postgres { conn, statement })
        }
    }
}

/// A prepared statement that can only query: a read's ([`ReadDb::prepare_cached`]).
pub struct Query<'c>(Statement<'c>);

impl Query<'_> {
    /// The first row, read by `read`; [`StoreError::NoRow`] when there is none.
    pub fn query_row<T>(
        &mut self,
        params: &[&dyn Param],
        read: impl FnOnce(&Row) -> StoreResult<T>,
    ) -> StoreResult<T> {
        self.0.query_row(params, read)
    }

    /// Every row, each read by `read` ([`Statement::query_map`]).
    pub fn query_map<'s, T, F>(
        &'s mut self,
        params: &[&dyn Param],
        read: F,
    ) -> StoreResult<Rows<'s, F>>
    where
        F: FnMut(&Row) -> StoreResult<T>,
    {
        self.0.query_map(params, read)
    }
}

/// A prepared statement.
pub enum Statement<'c> {
    Sqlite(rusqlite::CachedStatement<'c>),
    Postgres {
        conn: &'c RefCell<PgConnection>,
        statement: postgres::Statement,
    },
}

impl Statement<'_> {
    /// Runs the statement; how many rows it changed.
    pub fn execute(&mut self, params: &[&dyn Param]) -> StoreResult<usize> {
        match self {
            Statement::Sqlite(statement) => {
                Ok(statement.execute(rusqlite::params_from_iter(sqlite_values(params)))?)
            }
            Statement::Postgres { conn, statement } => {
                let values = pg_values(params);
                let changed = conn
                    .borrow_mut()
                    .client
                    .execute(statement, &pg_refs(&values))?;
                Ok(changed as usize)
            }
        }
    }

    /// The first row, read by `read`; [`StoreError::NoRow`] when there is none.
    pub fn query_row<T>(
        &mut self,
        params: &[&dyn Param],
        read: impl FnOnce(&Row) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut read = Some(read);
        let mut rows = self.query_map(params, |row| Ok(read.take().map(|read| read(row))))?;
        match rows.next() {
            Some(result) => result?.unwrap_or(Err(StoreError::NoRow)),
            None => Err(StoreError::NoRow),
        }
    }

    /// Every row, each read by `read`, as they come (SQLite) or once all have arrived
    /// (PostgreSQL).
    pub fn query_map<'s, T, F>(
        &'s mut self,
        params: &[&dyn Param],
        read: F,
    ) -> StoreResult<Rows<'s, F>>
    where
        F: FnMut(&Row) -> StoreResult<T>,
    {
        match self {
            Statement::Sqlite(statement) => {
                // The names once per query: rusqlite's `column_index` asks SQLite for each
                // column's name (under the connection's mutex) at every lookup, which cost the
                // profile read more than its SQL.
                let names = statement
                    .column_names()
                    .into_iter()
                    .map(Box::from)
                    .collect();
                let rows = statement.query(rusqlite::params_from_iter(sqlite_values(params)))?;
                Ok(Rows {
                    source: Source::Sqlite(rows, names),
                    read,
                })
            }
            Statement::Postgres { conn, statement } => {
                let values = pg_values(params);
                let rows = conn
                    .borrow_mut()
                    .client
                    .query(statement, &pg_refs(&values))?;
                Ok(Rows {
                    source: Source::Postgres(rows.into_iter()),
                    read,
                })
            }
        }
    }
}

/// The rows of a query, each read as it is taken.
pub struct Rows<'s, F> {
    source: Source<'s>,
    read: F,
}

enum Source<'s> {
    /// The rows, and the query's column names in order.
    Sqlite(rusqlite::Rows<'s>, Box<[Box<str>]>),
    Postgres(std::vec::IntoIter<postgres::Row>),
}

impl<T, F> Iterator for Rows<'_, F>
where
    F: FnMut(&Row) -> StoreResult<T>,
{
    type Item = StoreResult<T>;

    fn next(&mut self) -> Option<StoreResult<T>> {
        match &mut self.source {
            Source::Sqlite(rows, names) => match rows.next() {
                Ok(Some(row)) => Some((self.read)(&Row::Sqlite(row, names))),
                Ok(None) => None,
                Err(err) => Some(Err(err.into())),
            },
            Source::Postgres(rows) => {
                let row = rows.next()?;
                Some((self.read)(&Row::Postgres(&row)))
            }
        }
    }
}

/// One row of a query's answer.
pub enum Row<'r> {
    /// A row, and its query's column names in order.
    Sqlite(&'r rusqlite::Row<'r>, &'r [Box<str>]),
    Postgres(&'r postgres::Row),
}

impl Row<'_> {
    /// The column named `name` as a `T`. A name the query does not answer is an error that
    /// names it (a typo fails the first test that reads the row, never reads another column).
    pub fn get<T: Column>(&self, name: &str) -> StoreResult<T> {
        let value = match self {
            Row::Sqlite(row, names) => {
                let index = names
                    .iter()
                    .position(|column| column.eq_ignore_ascii_case(name))
                    .ok_or_else(|| no_column(name))?;
                Value::from(row.get_ref(index)?)
            }
            Row::Postgres(row) => {
                let index = row
                    .columns()
                    .iter()
                    .position(|column| column.name() == name)
                    .ok_or_else(|| no_column(name))?;
                row.try_get::<_, Cell>(index)?.0
            }
        };
        T::from_value(value).map_err(|wanted| {
            StoreError::BadValue(format!("column `{name}` does not hold {wanted}"))
        })
    }

    /// The one column of a query that answers a single column (a count, an `EXISTS`, one
    /// value), where a name would say nothing more; an error if the row has more than one.
    pub fn only<T: Column>(&self) -> StoreResult<T> {
        let value = match self {
            Row::Sqlite(row, _) => {
                if row.as_ref().column_count() != 1 {
                    return Err(not_single());
                }
                Value::from(row.get_ref(0)?)
            }
            Row::Postgres(row) => {
                if row.len() != 1 {
                    return Err(not_single());
                }
                row.try_get::<_, Cell>(0)?.0
            }
        };
        T::from_value(value)
            .map_err(|wanted| StoreError::BadValue(format!("the column does not hold {wanted}")))
    }
}

fn no_column(name: &str) -> StoreError {
    StoreError::BadValue(format!("the query answers no column named `{name}`"))
}

fn not_single() -> StoreError {
    StoreError::BadValue("a row read as one column has several".into())
}

/// A value as it crosses to and from the database.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(Cow<'a, str>),
    Blob(Cow<'a, [u8]>),
}

impl Value<'_> {
    /// The same value, owning what it holds.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Integer(n) => Value::Integer(n),
            Value::Real(x) => Value::Real(x),
            Value::Text(text) => Value::Text(Cow::Owned(text.into_owned())),
            Value::Blob(bytes) => Value::Blob(Cow::Owned(bytes.into_owned())),
        }
    }
}

impl From<i64> for Value<'_> {
    fn from(n: i64) -> Self {
        Value::Integer(n)
    }
}

impl From<String> for Value<'_> {
    fn from(text: String) -> Self {
        Value::Text(Cow::Owned(text))
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(text: &'a str) -> Self {
        Value::Text(Cow::Borrowed(text))
    }
}

impl<'a, T: Into<Value<'a>>> From<Option<T>> for Value<'a> {
    fn from(value: Option<T>) -> Self {
        value.map_or(Value::Null, Into::into)
    }
}

/// Parameters gathered at run time (a statement whose columns vary), for `execute` and the
/// queries.
pub fn each<T: Param>(values: &[T]) -> Vec<&dyn Param> {
    values.iter().map(|v| v as &dyn Param).collect()
}

impl<'a> From<rusqlite::types::ValueRef<'a>> for Value<'a> {
    fn from(value: rusqlite::types::ValueRef<'a>) -> Value<'a> {
        use rusqlite::types::ValueRef;
        match value {
            ValueRef::Null => Value::Null,
            ValueRef::Integer(n) => Value::Integer(n),
            ValueRef::Real(x) => Value::Real(x),
            // SQLite's text is UTF-8 as every write here puts it; anything else is kept as it
            // is, lossily, rather than failing the whole row.
            ValueRef::Text(text) => Value::Text(String::from_utf8_lossy(text)),
            ValueRef::Blob(bytes) => Value::Blob(Cow::Borrowed(bytes)),
        }
    }
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Integer(n) => ValueRef::Integer(*n),
            Value::Real(x) => ValueRef::Real(*x),
            Value::Text(text) => ValueRef::Text(text.as_bytes()),
            Value::Blob(bytes) => ValueRef::Blob(bytes),
        }))
    }
}

/// Something that can be a statement's parameter.
pub trait Param {
    fn value(&self) -> Value<'_>;
}

impl Param for Value<'_> {
    fn value(&self) -> Value<'_> {
        match self {
            Value::Text(text) => Value::Text(Cow::Borrowed(text)),
            Value::Blob(bytes) => Value::Blob(Cow::Borrowed(bytes)),
            other => other.clone(),
        }
    }
}

impl<T: Param + ?Sized> Param for &T {
    fn value(&self) -> Value<'_> {
        (**self).value()
    }
}

impl<T: Param> Param for Option<T> {
    fn value(&self) -> Value<'_> {
        self.as_ref().map_or(Value::Null, Param::value)
    }
}

impl Param for str {
    fn value(&self) -> Value<'_> {
        Value::Text(Cow::Borrowed(self))
    }
}

impl Param for String {
    fn value(&self) -> Value<'_> {
        Value::Text(Cow::Borrowed(self))
    }
}

impl Param for [u8] {
    fn value(&self) -> Value<'_> {
        Value::Blob(Cow::Borrowed(self))
    }
}

impl Param for Vec<u8> {
    fn value(&self) -> Value<'_> {
        Value::Blob(Cow::Borrowed(self))
    }
}

impl<const N: usize> Param for [u8; N] {
    fn value(&self) -> Value<'_> {
        Value::Blob(Cow::Borrowed(self))
    }
}

impl Param for bool {
    fn value(&self) -> Value<'_> {
        Value::Integer(i64::from(*self))
    }
}

impl Param for f64 {
    fn value(&self) -> Value<'_> {
        Value::Real(*self)
    }
}

macro_rules! integer_params {
    ($($t:ty),*) => {$(
        impl Param for $t {
            fn value(&self) -> Value<'_> {
                // Every integer the store writes fits: counts, ids, seconds, milliseconds.
                Value::Integer(i64::try_from(*self).unwrap_or(i64::MAX))
            }
        }
    )*};
}
integer_params!(i8, i16, i32, i64, u8, u16, u32, u64, usize);

/// The parameters of a statement, in order: `params![a, b, c]`.
#[macro_export]
#[doc(hidden)]
macro_rules! sql_params {
    () => { &[] as &[&dyn $crate::store::sql::Param] };
    ($($param:expr),+ $(,)?) => {
        &[$(&$param as &dyn $crate::store::sql::Param),+] as &[&dyn $crate::store::sql::Param]
    };
}
pub use crate::sql_params as params;

/// Something a column can be read as.
pub trait Column: Sized {
    /// The value as `Self`, or what was wanted (for the error).
    fn from_value(value: Value<'_>) -> Result<Self, &'static str>;
}

impl<T: Column> Column for Option<T> {
    fn from_value(value: Value<'_>) -> Result<Self, &'static str> {
        match value {
            Value::Null => Ok(None),
            value => T::from_value(value).map(Some),
        }
    }
}

impl Column for i64 {
    fn from_value(value: Value<'_>) -> Result<Self, &'static str> {
        match value {
            Value::Integer(n) => Ok(n),
            _ => Err("an integer"),
        }
    }
}

macro_rules! integer_columns {
    ($($t:ty),*) => {$(
        impl Column for $t {
            fn from_value(value: Value<'_>) -> Result<Self, &'static str> {
                match value {
                    Value::Integer(n) => <$t>::try_from(n).map_err(|_| "an integer in range"),
                    _ => Err("an integer"),
                }
            }
        }
    )*};
}
integer_columns!(i32, u32, u64, usize);

impl Column for bool {
    fn from_value(value: Value<'_>) -> Result<Self, &'static str> {
        match value {
            Value::Integer(n) => Ok(n != 0),
            _ => Err("a boolean"),
        }
    }
}

impl Column for f64 {
    fn from_value(value: Value<'_>) -> Result<Self, &'static str> {
        match value {
            Value::Real(x) => Ok(x),
            Value::Integer(n) => Ok(n as f64),
            _ => Err("a number"),
        }
    }
}

impl Column for String {
    fn from_value(value: Value<'_>) -> Result<Self, &'static str> {
        match value {
            Value::Text(text) => Ok(text.into_owned()),
            _ => Err("text"),
        }
    }
}

impl Column for Vec<u8> {
    fn from_value(value: Value<'_>) -> Result<Self, &'static str> {
        match value {
            Value::Blob(bytes) => Ok(bytes.into_owned()),
            Value::Text(text) => Ok(text.into_owned().into_bytes()),
            _ => Err("bytes"),
        }
    }
}

impl Column for Value<'static> {
    fn from_value(value: Value<'_>) -> Result<Self, &'static str> {
        Ok(value.into_owned())
    }
}

/// `None` for a missing row: `.query_row(...).optional()`.
pub trait OptionalRow<T> {
    fn optional(self) -> StoreResult<Option<T>>;
}

impl<T> OptionalRow<T> for StoreResult<T> {
    fn optional(self) -> StoreResult<Option<T>> {
        match self {
            Ok(value) => Ok(Some(value)),
            Err(StoreError::NoRow) => Ok(None),
            Err(err) => Err(err),
        }
    }
}

fn sqlite_values<'p>(params: &'p [&dyn Param]) -> Vec<Value<'p>> {
    params.iter().map(|p| p.value()).collect()
}

// ---- PostgreSQL ----

/// A PostgreSQL connection and the statements prepared on it, by their text as written.
pub struct PgConnection {
    pub client: postgres::Client,
    statements: HashMap<String, postgres::Statement>,
}

impl PgConnection {
    pub fn new(client: postgres::Client) -> PgConnection {
        PgConnection {
            client,
            statements: HashMap::new(),
        }
    }

    fn prepare(&mut self, sql: &str) -> StoreResult<postgres::Statement> {
        if let Some(statement) = self.statements.get(sql) {
            return Ok(statement.clone());
        }
        let statement = self
            .client
            .prepare(&numbered_parameters(sql))
            .inspect_err(|err| {
                // A statement PostgreSQL does not take is this program's fault: name it.
                if let Some(db) = err.as_db_error() {
                    tracing::error!(sql, error = db.message(), "PostgreSQL refused a statement");
                }
            })?;
        self.statements.insert(sql.to_owned(), statement.clone());
        Ok(statement)
    }
}

/// The statement with `?N` parameters written as PostgreSQL's `$N` (and a bare `?` as the
/// next number), leaving quoted text and names as they are.
pub fn numbered_parameters(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    let mut next = 1;
    while let Some(c) = chars.next() {
        match quote {
            Some(q) => {
                out.push(c);
                if c == q {
                    quote = None;
                }
            }
            None if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push(c);
            }
            None if c == '?' => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let number = if digits.is_empty() {
                    next
                } else {
                    digits.parse().unwrap_or(next)
                };
                next = number + 1;
                out.push('$');
                out.push_str(&number.to_string());
            }
            None => out.push(c),
        }
    }
    out
}

fn pg_values<'p>(params: &'p [&dyn Param]) -> Vec<PgValue<'p>> {
    params.iter().map(|p| PgValue(p.value())).collect()
}

fn pg_refs<'v>(values: &'v [PgValue<'_>]) -> Vec<&'v (dyn postgres::types::ToSql + Sync)> {
    values
        .iter()
        .map(|v| v as &(dyn postgres::types::ToSql + Sync))
        .collect()
}

/// A parameter written in the type PostgreSQL chose for its place in the statement.
#[derive(Debug)]
struct PgValue<'a>(Value<'a>);

impl postgres::types::ToSql for PgValue<'_> {
    fn to_sql(
        &self,
        ty: &postgres::types::Type,
        out: &mut bytes::BytesMut,
    ) -> Result<postgres::types::IsNull, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::{IsNull, Type};
        let mismatch = || -> Box<dyn std::error::Error + Sync + Send> {
            format!("cannot write {:?} as {ty}", self.0).into()
        };
        match &self.0 {
            Value::Null => Ok(IsNull::Yes),
            Value::Integer(n) => match *ty {
                Type::INT8 => n.to_sql(ty, out),
                Type::INT4 => i32::try_from(*n).map_err(|_| mismatch())?.to_sql(ty, out),
                Type::INT2 => i16::try_from(*n).map_err(|_| mismatch())?.to_sql(ty, out),
                Type::BOOL => (*n != 0).to_sql(ty, out),
                Type::FLOAT8 => (*n as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => n.to_string().to_sql(ty, out),
                _ => Err(mismatch()),
            },
            Value::Real(x) => match *ty {
                Type::FLOAT8 => x.to_sql(ty, out),
                Type::FLOAT4 => (*x as f32).to_sql(ty, out),
                _ => Err(mismatch()),
            },
            Value::Text(text) => match *ty {
                Type::BYTEA => text.as_bytes().to_sql(ty, out),
                _ => text.as_ref().to_sql(ty, out),
            },
            Value::Blob(bytes) => match *ty {
                Type::BYTEA => bytes.as_ref().to_sql(ty, out),
                _ => Err(mismatch()),
            },
        }
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// A column of any type PostgreSQL sends, as a [`Value`].
struct Cell(Value<'static>);

impl<'a> postgres::types::FromSql<'a> for Cell {
    fn from_sql(
        ty: &postgres::types::Type,
        raw: &'a [u8],
    ) -> Result<Cell, Box<dyn std::error::Error + Sync + Send>> {
        use postgres::types::Type;
        let value = match *ty {
            Type::INT8 => Value::Integer(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Integer(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Value::Integer(i16::from_sql(ty, raw)?.into()),
            Type::BOOL => Value::Integer(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f32::from_sql(ty, raw)?.into()),
            Type::BYTEA => Value::Blob(Cow::Owned(raw.to_vec())),
            _ => Value::Text(Cow::Owned(String::from_sql(ty, raw)?)),
        };
        Ok(Cell(value))
    }

    fn from_sql_null(
        _: &postgres::types::Type,
    ) -> Result<Cell, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Cell(Value::Null))
    }

    fn accepts(_: &postgres::types::Type) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_numbered_for_postgres_outside_quotes() {
        assert_eq!(
            numbered_parameters("SELECT ?1, ?2, '?3', \"a?\" FROM t WHERE x = ?1 AND y = ?"),
            "SELECT $1, $2, '?3', \"a?\" FROM t WHERE x = $1 AND y = $2"
        );
        assert_eq!(numbered_parameters("VALUES (?, ?)"), "VALUES ($1, $2)");
    }

    #[test]
    fn values_round_trip_through_sqlite_in_their_kinds() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let db = Db::sqlite(&conn);
        db.execute_batch("CREATE TABLE t (n INTEGER, s TEXT, b BLOB, f INTEGER)")
            .unwrap();
        let blob = vec![0u8, 1, 2];
        let none: Option<&str> = None;
        db.execute(
            "INSERT INTO t VALUES (?1, ?2, ?3, ?4)",
            params![42i64, "text", blob, true],
        )
        .unwrap();
        db.execute(
            "INSERT INTO t VALUES (?1, ?2, NULL, ?3)",
            params![-1, none, false],
        )
        .unwrap();
        type Stored = (i64, Option<String>, Option<Vec<u8>>, bool);
        let rows: Vec<Stored> = db
            .prepare_cached("SELECT n, s, b, f FROM t ORDER BY n DESC")
            .unwrap()
            .query_map(params![], |row| {
                Ok((row.get("n")?, row.get("s")?, row.get("b")?, row.get("f")?))
            })
            .unwrap()
            .collect::<StoreResult<_>>()
            .unwrap();
        assert_eq!(
            rows,
            vec![
                (42, Some("text".into()), Some(blob), true),
                (-1, None, None, false)
            ]
        );
        let missing = db
            .query_row("SELECT n FROM t WHERE n = 7", params![], |row| {
                row.only::<i64>()
            })
            .optional()
            .unwrap();
        assert_eq!(missing, None);
        assert!(matches!(
            db.query_row("SELECT s FROM t WHERE n = 42", params![], |row| row
                .get::<i64>("s")),
            Err(StoreError::BadValue(_))
        ));
    }

    #[test]
    fn a_column_is_read_by_its_name_and_a_wrong_name_is_an_error_that_names_it() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let db = Db::sqlite(&conn);
        let read = |sql: &str, name: &'static str| {
            db.query_row(sql, params![], |row| row.get::<i64>(name))
        };
        assert_eq!(read("SELECT 1 AS one, 2 AS two", "two").unwrap(), 2);
        match read("SELECT 1 AS one, 2 AS two", "tow") {
            Err(StoreError::BadValue(message)) => assert!(message.contains("`tow`"), "{message}"),
            other => panic!("a mistyped column read as {other:?}"),
        }
        let only = |sql: &str| db.query_row(sql, params![], |row| row.only::<i64>());
        assert_eq!(only("SELECT 7").unwrap(), 7);
        assert!(
            matches!(only("SELECT 7, 8"), Err(StoreError::BadValue(_))),
            "`only` refuses a row of several columns"
        );
    }

    #[test]
    fn a_failed_savepoint_undoes_only_its_own_changes() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let db = Db::sqlite(&conn);
        db.execute_batch("CREATE TABLE t (n INTEGER PRIMARY KEY); BEGIN")
            .unwrap();
        db.execute("INSERT INTO t VALUES (1)", params![]).unwrap();
        let failed = db.savepoint(|db| {
            db.execute("INSERT INTO t VALUES (2)", params![])?;
            db.execute("INSERT INTO t VALUES (1)", params![])
        });
        assert!(failed.is_err());
        db.execute_batch("COMMIT").unwrap();
        let count: i64 = db
            .query_row("SELECT count(*) FROM t", params![], |row| row.only())
            .unwrap();
        assert_eq!(count, 1);
    }
}
