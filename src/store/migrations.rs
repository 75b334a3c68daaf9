//! Versioned schema migrations, read from `schema.sql` (SQLite) and `schema.postgres.sql`
//! (PostgreSQL), both embedded in the binary, with the same versions and names.

use super::sql::{Db, Dialect, OptionalRow, params};
use super::{StoreError, StoreResult, now, pg, write_tx};

const SCHEMA: &str = include_str!("../../schema.sql");
const POSTGRES_SCHEMA: &str = include_str!("../../schema.postgres.sql");
const MARKER: &str = "-- migration:";

/// One step of the schema, as written in `schema.sql`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Migration {
    pub version: i64,
    pub name: String,
    pub sql: String,
}

/// A migration and whether this database has it.
#[derive(Clone, Debug)]
pub struct MigrationState {
    pub version: i64,
    pub name: String,
    pub applied_at: Option<i64>,
}

/// The SQLite migrations embedded in this binary, in order.
pub fn embedded() -> Vec<Migration> {
    embedded_for(Dialect::Sqlite)
}

/// The migrations of a dialect embedded in this binary, in order.
pub fn embedded_for(dialect: Dialect) -> Vec<Migration> {
    let text = match dialect {
        Dialect::Sqlite => SCHEMA,
        Dialect::Postgres => POSTGRES_SCHEMA,
    };
    parse(text).expect("both schema files are well-formed (checked by a unit test)")
}

fn parse(text: &str) -> Result<Vec<Migration>, String> {
    let mut migrations: Vec<Migration> = Vec::new();
    for line in text.lines() {
        if let Some(header) = line.strip_prefix(MARKER) {
            let header = header.trim();
            let (version, name) = header.split_once(' ').unwrap_or((header, ""));
            let version: i64 = version
                .parse()
                .map_err(|_| format!("bad migration header `{line}`"))?;
            let expected = migrations.last().map_or(1, |m| m.version + 1);
            if version != expected {
                return Err(format!(
                    "migration {version} found where {expected} was expected"
                ));
            }
            migrations.push(Migration {
                version,
                name: name.trim().to_owned(),
                sql: String::new(),
            });
        } else if let Some(current) = migrations.last_mut() {
            current.sql.push_str(line);
            current.sql.push('\n');
        }
    }
    Ok(migrations)
}

fn ensure_table(conn: &Db) -> StoreResult<()> {
    conn.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    BIGINT PRIMARY KEY,
             name       TEXT NOT NULL,
             applied_at BIGINT NOT NULL
         )",
    )
}

/// Every embedded migration with its applied time, if any.
pub fn status(conn: &Db) -> StoreResult<Vec<MigrationState>> {
    ensure_table(conn)?;
    let mut states = Vec::new();
    for migration in embedded_for(conn.dialect()) {
        let applied_at = conn
            .query_row(
                "SELECT applied_at FROM schema_migrations WHERE version = ?1",
                params![migration.version],
                |row| row.only(),
            )
            .optional()?;
        states.push(MigrationState {
            version: migration.version,
            name: migration.name,
            applied_at,
        });
    }
    Ok(states)
}

/// Migrations this database has that this binary does not know (a newer program applied them).
pub fn unknown(conn: &Db) -> StoreResult<Vec<MigrationState>> {
    ensure_table(conn)?;
    let known = embedded_for(conn.dialect()).last().map_or(0, |m| m.version);
    let mut statement = conn.prepare_cached(
        "SELECT version, name, applied_at FROM schema_migrations WHERE version > ?1 ORDER BY version",
    )?;
    let rows = statement.query_map(params![known], |row| {
        Ok(MigrationState {
            version: row.get("version")?,
            name: row.get("name")?,
            applied_at: row.get("applied_at")?,
        })
    })?;
    rows.collect()
}

/// The refusal of a database whose schema is newer than this binary's, if it is.
pub fn newer_schema(conn: &Db) -> StoreResult<Option<StoreError>> {
    let known = embedded_for(conn.dialect()).last().map_or(0, |m| m.version);
    Ok(unknown(conn)?.last().map(|newest| StoreError::NewerSchema {
        found: newest.version,
        known,
    }))
}

/// Applies every pending migration, each in its own transaction; returns those applied.
/// Refuses a database whose schema is newer than this binary. On PostgreSQL the whole run
/// holds an advisory lock, so that instances starting together apply each migration once.
pub fn apply(conn: &Db) -> StoreResult<Vec<Migration>> {
    if conn.dialect() == Dialect::Postgres {
        conn.execute_batch(&format!("SELECT pg_advisory_lock({})", pg::MIGRATION_LOCK))?;
        let applied = apply_all(conn);
        let unlocked = conn.execute_batch(&format!(
            "SELECT pg_advisory_unlock({})",
            pg::MIGRATION_LOCK
        ));
        return applied.and_then(|applied| unlocked.map(|()| applied));
    }
    apply_all(conn)
}

fn apply_all(conn: &Db) -> StoreResult<Vec<Migration>> {
    if let Some(refusal) = newer_schema(conn)? {
        return Err(refusal);
    }
    let migrations = embedded_for(conn.dialect());
    let newest: i64 = conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
        params![],
        |row| row.only(),
    )?;
    let mut applied = Vec::new();
    for migration in migrations.into_iter().filter(|m| m.version > newest) {
        let done = write_tx(conn, |tx| {
            // Another process may have applied it while we waited for the lock.
            let done: bool = tx.query_row(
                "SELECT EXISTS(SELECT 1 FROM schema_migrations WHERE version = ?1)",
                params![migration.version],
                |row| row.only(),
            )?;
            if !done {
                tx.execute_batch(&migration.sql)?;
                tx.execute(
                    "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, ?3)",
                    params![migration.version, migration.name, now()],
                )?;
            }
            Ok(done)
        })?;
        if !done {
            applied.push(migration);
        }
    }
    Ok(applied)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::counters::tests::pairs;
    use rusqlite::Connection;

    #[test]
    fn embedded_schema_parses_into_consecutive_versions() {
        let migrations = parse(SCHEMA).unwrap();
        assert!(!migrations.is_empty());
        for (i, m) in migrations.iter().enumerate() {
            assert_eq!(m.version, i as i64 + 1);
            assert!(!m.sql.trim().is_empty());
        }
    }

    #[test]
    fn both_stores_have_the_same_migrations_in_the_same_order() {
        let names = |dialect| {
            embedded_for(dialect)
                .into_iter()
                .map(|m| (m.version, m.name))
                .collect::<Vec<_>>()
        };
        assert_eq!(names(Dialect::Sqlite), names(Dialect::Postgres));
        assert!(
            embedded_for(Dialect::Postgres)
                .iter()
                .all(|m| !m.sql.trim().is_empty())
        );
    }

    #[test]
    fn out_of_order_versions_are_refused() {
        assert!(parse("-- migration: 1 a\nSELECT 1;\n-- migration: 3 c\nSELECT 1;").is_err());
    }

    #[test]
    fn sessions_opened_before_the_security_migration_get_an_id_and_a_last_use() {
        let conn = Connection::open_in_memory().unwrap();
        ensure_table(&Db::sqlite(&conn)).unwrap();
        for m in embedded().iter().take(3) {
            conn.execute_batch(&m.sql).unwrap();
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, 0)",
                rusqlite::params![m.version, m.name],
            )
            .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO customer_ids VALUES ('12345678901234');
             INSERT INTO customers (id, identifier, email, status, created_at, updated_at)
                 VALUES ('12345678901234', 'old-one', 'old@example.com', 'active', 1, 1);
             INSERT INTO sessions VALUES (x'01', '12345678901234', 100, 999999999999);
             INSERT INTO sessions VALUES (x'02', '12345678901234', 200, 999999999999);",
        )
        .unwrap();
        let applied = apply(&Db::sqlite(&conn)).unwrap();
        assert!(applied.iter().any(|m| m.version == 4));
        let rows: Vec<(String, i64, i64)> = conn
            .prepare("SELECT public_id, created_at, last_used_at FROM sessions ORDER BY created_at")
            .unwrap()
            .query_map([], |r| {
                Ok((
                    r.get("public_id")?,
                    r.get("created_at")?,
                    r.get("last_used_at")?,
                ))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(rows.len(), 2);
        assert_ne!(rows[0].0, rows[1].0, "each session its own id");
        for (id, created, last_used) in rows {
            assert!(crate::domain::SessionId::parse(&id).is_ok(), "{id}");
            assert_eq!(created, last_used);
        }
    }

    #[test]
    fn the_customer_counters_start_from_the_customers_already_there() {
        let conn = Connection::open_in_memory().unwrap();
        ensure_table(&Db::sqlite(&conn)).unwrap();
        let counters = embedded()
            .iter()
            .position(|m| m.name.contains("counters the database keeps"))
            .expect("the counters' migration");
        for m in embedded().iter().take(counters) {
            conn.execute_batch(&m.sql).unwrap();
            conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES (?1, ?2, 0)",
                rusqlite::params![m.version, m.name],
            )
            .unwrap();
        }
        conn.execute_batch(
            "INSERT INTO customer_ids VALUES ('10000000000001'), ('10000000000002'),
                 ('10000000000003'), ('10000000000004');
             INSERT INTO customers (id, identifier, email, status, created_at, updated_at, locked_at)
             VALUES ('10000000000001', 'a', 'a@example.com', 'active', 86400, 0, NULL),
                    ('10000000000002', 'b', 'b@example.com', 'active', 86401, 0, 5),
                    ('10000000000003', 'c', 'c@example.com', 'pending', 86399, 0, NULL),
                    ('10000000000004', 'd', 'd@example.com', 'pending', 864000, 0, NULL);",
        )
        .unwrap();
        apply(&Db::sqlite(&conn)).unwrap();
        let buckets: Vec<(String, i64)> = pairs(
            &conn,
            "SELECT bucket, customers FROM customer_counts ORDER BY bucket",
        );
        let owned = |pairs: &[(&str, i64)]| -> Vec<(String, i64)> {
            pairs.iter().map(|(k, n)| (k.to_string(), *n)).collect()
        };
        assert_eq!(
            buckets,
            owned(&[("active", 1), ("locked", 1), ("pending", 2)])
        );
        let days: Vec<(i64, i64)> = pairs(
            &conn,
            "SELECT day, customers FROM signup_counts ORDER BY day",
        );
        assert_eq!(days, [(0, 1), (1, 2), (10, 1)]);
    }

    #[test]
    fn applying_twice_changes_nothing() {
        let conn = Connection::open_in_memory().unwrap();
        let first = apply(&Db::sqlite(&conn)).unwrap();
        assert_eq!(first.len(), embedded().len());
        assert!(apply(&Db::sqlite(&conn)).unwrap().is_empty());
        assert!(
            status(&Db::sqlite(&conn))
                .unwrap()
                .iter()
                .all(|s| s.applied_at.is_some())
        );
    }
}
