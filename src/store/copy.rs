//! Moving a SQLite customer area to PostgreSQL: every row of every table, copied from one
//! snapshot of the SQLite database into an empty PostgreSQL database in one transaction, and
//! the row counts of both compared before it commits. Passwords (their PBKDF2 hashes),
//! sessions, codes, queued emails and webhook events, the consent ledger and the server's
//! keys all travel, so customers stay signed in and every link already mailed still works.

use std::path::Path;

use super::counters::{self, Tally};
use super::sql::{Db, Dialect, Param, ReadDb, Value, params};
use super::{StoreError, StoreResult, backup, migrations};

/// The tables copied, parents before the tables whose rows point at them. `customer_search`
/// stays behind: it is SQLite's own index, which PostgreSQL keeps in the customers' table.
/// `schema_migrations` is the target's own, and the customer counters are counted there again
/// from the customers copied.
pub const TABLES: &[&str] = &[
    "customer_ids",
    "customers",
    "sessions",
    "one_time_codes",
    "outbox",
    "subscription_lists",
    "subscriptions",
    "consent_records",
    "email_requests",
    "email_allowance",
    "activity",
    "email_undo_keys",
    "webhook_outbox",
    "server_keys",
    "passkey_users",
    "passkeys",
    "known_devices",
    "not_me_keys",
    "leases",
    "reset_guesses",
    "login_code_guesses",
    "customer_totp",
    "customer_recovery_codes",
    "customer_challenges",
    "staff",
    "staff_sessions",
    "staff_recovery_codes",
    "staff_challenges",
    "staff_passkeys",
    // After `staff`: a staff member's ceremonies point at them.
    "passkey_challenges",
    "audit_log",
];

/// Rows written per `INSERT` (a few thousand parameters, well under PostgreSQL's limit).
const ROWS_PER_INSERT: usize = 200;

/// How many rows one table had in the snapshot and has in the target after the copy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Copied {
    pub table: &'static str,
    pub rows: i64,
}

/// Copies the SQLite database at `source` (running or stopped: a snapshot is taken with the
/// backup API into `scratch`, then migrated to this program's schema) into the database
/// `target`, which must be PostgreSQL, migrated and empty. Answers each table's row count,
/// checked equal on both sides before the copy commits.
pub fn sqlite_to_postgres(source: &Path, scratch: &Path, target: &Db) -> StoreResult<Vec<Copied>> {
    if target.dialect() != Dialect::Postgres {
        return Err(StoreError::CopyRefused(
            "the copy's target must be a PostgreSQL database".into(),
        ));
    }
    backup::to_file(source, scratch)?;
    let snapshot = rusqlite::Connection::open(scratch)?;
    let from = Db::sqlite(&snapshot);
    migrations::apply(&from)?;
    migrations::apply(target)?;
    super::write_tx(target, |to| {
        for table in TABLES {
            let rows: i64 =
                to.query_row(&format!("SELECT COUNT(*) FROM {table}"), params![], |r| {
                    r.only()
                })?;
            if rows > 0 {
                return Err(StoreError::CopyRefused(format!(
                    "the target database is not empty: its table {table} holds {rows} rows; \
                     copy into a new, empty database"
                )));
            }
        }
        // Every customer arrives uncounted, then all are counted at once (store::counters).
        let copied = counters::uncounted_inserts(to, || {
            let mut copied = Vec::new();
            for table in TABLES {
                copied.push(copy_rows(&from, to, table)?);
            }
            Ok((copied, Tally::default()))
        })?;
        counters::recount(to)?;
        Ok(copied)
    })
}

/// Copies one table and checks that the target has as many rows as the source.
fn copy_rows(from: &Db, to: &Db, table: &'static str) -> StoreResult<Copied> {
    let columns = shared_columns(from, to, table)?;
    copy_table(from, to, table, &columns)?;
    restart_identity(to, table)?;
    let count = |db: &Db| -> StoreResult<i64> {
        db.query_row(&format!("SELECT COUNT(*) FROM {table}"), params![], |r| {
            r.only()
        })
    };
    let (had, has) = (count(from)?, count(to)?);
    if had != has {
        return Err(StoreError::Inconsistent(format!(
            "{table}: {had} rows in the SQLite database, {has} copied; nothing was kept"
        )));
    }
    Ok(Copied { table, rows: has })
}

/// The columns of `table` on both sides (the target's generated `rowid` columns are left to
/// it), in the source's order.
fn shared_columns(from: &ReadDb, to: &ReadDb, table: &str) -> StoreResult<Vec<String>> {
    let source: Vec<String> = from
        .prepare_cached(&format!("SELECT name FROM pragma_table_info('{table}')"))?
        .query_map(params![], |r| r.only())?
        .collect::<StoreResult<_>>()?;
    let target: Vec<String> = to
        .prepare_cached(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = ?1",
        )?
        .query_map(params![table], |r| r.only())?
        .collect::<StoreResult<_>>()?;
    Ok(source
        .into_iter()
        .filter(|c| target.contains(c) && c != "rowid")
        .collect())
}

fn copy_table(from: &Db, to: &Db, table: &str, columns: &[String]) -> StoreResult<()> {
    let list = columns.join(", ");
    // SQLite's search index row means nothing to PostgreSQL.
    let select: Vec<String> = columns
        .iter()
        .map(|c| match (table, c.as_str()) {
            ("customers", "search_row") => "NULL AS search_row".to_owned(),
            _ => c.clone(),
        })
        .collect();
    let mut statement =
        from.prepare_cached(&format!("SELECT {} FROM {table}", select.join(", ")))?;
    let width = columns.len();
    let rows = statement.query_map(params![], |row| {
        columns
            .iter()
            .map(|column| row.get::<Value<'static>>(column))
            .collect::<StoreResult<Vec<_>>>()
    })?;
    let mut batch: Vec<Value<'static>> = Vec::with_capacity(width * ROWS_PER_INSERT);
    for row in rows {
        batch.extend(row?);
        if batch.len() == width * ROWS_PER_INSERT {
            insert(to, table, &list, width, &batch)?;
            batch.clear();
        }
    }
    if !batch.is_empty() {
        insert(to, table, &list, width, &batch)?;
    }
    Ok(())
}

fn insert(
    to: &Db,
    table: &str,
    list: &str,
    width: usize,
    values: &[Value<'static>],
) -> StoreResult<()> {
    let rows = values.len() / width;
    let mut sql = format!("INSERT INTO {table} ({list}) VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..width {
            if c > 0 {
                sql.push_str(", ");
            }
            sql.push_str(&format!("?{}", r * width + c + 1));
        }
        sql.push(')');
    }
    let params: Vec<&dyn Param> = values.iter().map(|v| v as &dyn Param).collect();
    to.execute(&sql, &params)?;
    Ok(())
}

/// Moves the sequences of the table's identity columns past the ids copied, so that the next
/// row PostgreSQL numbers does not collide with one of them.
fn restart_identity(to: &Db, table: &str) -> StoreResult<()> {
    let identities: Vec<String> = to
        .prepare_cached(
            "SELECT column_name::text FROM information_schema.columns
             WHERE table_schema = current_schema() AND table_name = ?1 AND is_identity = 'YES'",
        )?
        .query_map(params![table], |r| r.only())?
        .collect::<StoreResult<_>>()?;
    for column in identities {
        to.execute_batch(&format!(
            "SELECT setval(pg_get_serial_sequence('{table}', '{column}'),
                           COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)"
        ))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrations;
    use crate::store::sql::Db;

    /// The tables a copy leaves out on purpose: the migrations' own record (the target has
    /// its own), the search index (rebuilt from the customers) and the counters (recounted).
    const NOT_COPIED: &[&str] = &["schema_migrations", "customer_counts", "signup_counts"];

    #[test]
    fn a_copy_takes_every_table_of_the_schema_but_those_left_out_on_purpose() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        migrations::apply(&Db::sqlite(&conn)).unwrap();
        let mut tables: Vec<String> = conn
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table'
                 AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'customer_search%'",
            )
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        tables.retain(|t| !NOT_COPIED.contains(&t.as_str()));
        tables.sort();
        let mut copied: Vec<String> = TABLES.iter().map(|t| t.to_string()).collect();
        copied.sort();
        assert_eq!(
            copied, tables,
            "a table of the schema is neither copied nor left out"
        );
    }
}
