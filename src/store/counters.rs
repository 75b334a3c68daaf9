//! The customer counters the database keeps for the overview (migration 24): customers by
//! bucket (`locked` for a locked account, else its status) and by the UTC day they were created,
//! changed by triggers on `customers` in the transaction of every change. Here: how a bulk
//! creation of customers (an import, `db copy`) stays counted without a trigger per row, and a
//! recount from the customers' rows.
//!
//! A trigger per inserted row costs a bulk write dearly in both stores: in SQLite it makes each
//! insert open a statement savepoint, at which FTS5 writes out its pending search rows
//! (migration 10); in PostgreSQL a million updates of one counter row in one transaction leave
//! a million versions of it for each next update to step over (200,000 took 7.8 minutes). So
//! [`uncounted_inserts`] sets the insert trigger aside for the bulk write's own transaction and
//! adds what it wrote in one step at its end. Updates and deletions stay counted meanwhile.

use std::collections::BTreeMap;

use super::StoreResult;
use super::sql::{Db, Dialect, params};
use crate::domain::Status;

/// The SQLite trigger that counts each new customer (PostgreSQL's reads a setting instead).
const INSERT_TRIGGER: &str = "customers_counted_on_insert";
/// The PostgreSQL setting, local to a transaction, that its insert trigger skips rows under.
const UNCOUNTED_INSERTS: &str = "customer_area.uncounted_inserts";

/// Seconds in a UTC day: `signup_counts.day` is `created_at / 86400`.
pub const DAY: i64 = 86_400;

/// The new customers a bulk write created, by bucket and by day, added to the counters at its
/// end.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    buckets: BTreeMap<&'static str, i64>,
    days: BTreeMap<i64, i64>,
}

impl Tally {
    /// One new customer, not locked, of `status`, created at `created_at` (Unix seconds).
    pub fn new_customer(&mut self, status: Status, created_at: i64) {
        *self.buckets.entry(status.as_str()).or_default() += 1;
        // Truncated towards zero, as the triggers' integer division is in both stores.
        *self.days.entry(created_at / DAY).or_default() += 1;
    }
}

/// Runs `write`, which creates customers in bulk and answers them in a [`Tally`] beside its
/// result, with the counting of inserted rows set aside for this transaction; then adds the
/// tally. On an error nothing is added, and the transaction's rollback puts the trigger back.
pub fn uncounted_inserts<T>(
    tx: &Db,
    write: impl FnOnce() -> StoreResult<(T, Tally)>,
) -> StoreResult<T> {
    let trigger = set_aside(tx)?;
    let (written, tally) = write()?;
    restore(tx, trigger)?;
    add(tx, &tally)?;
    Ok(written)
}

/// What puts the insert trigger back: SQLite's trigger as it was written, or nothing for
/// PostgreSQL's setting.
struct SetAside(Option<String>);

fn set_aside(tx: &Db) -> StoreResult<SetAside> {
    match tx.dialect() {
        Dialect::Sqlite => {
            let sql: String = tx.query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'trigger' AND name = ?1",
                params![INSERT_TRIGGER],
                |row| row.only(),
            )?;
            // Inside the transaction: a rollback brings it back, and no other connection sees
            // the customers table without it.
            tx.execute_batch(&format!("DROP TRIGGER {INSERT_TRIGGER}"))?;
            Ok(SetAside(Some(sql)))
        }
        Dialect::Postgres => {
            set_uncounted(tx, "on")?;
            Ok(SetAside(None))
        }
    }
}

fn restore(tx: &Db, trigger: SetAside) -> StoreResult<()> {
    match trigger.0 {
        Some(sql) => tx.execute_batch(&sql),
        None => set_uncounted(tx, "off"),
    }
}

fn set_uncounted(tx: &Db, value: &str) -> StoreResult<()> {
    tx.query_row(
        "SELECT set_config(?1, ?2, true)",
        params![UNCOUNTED_INSERTS, value],
        |row| row.only::<String>(),
    )?;
    Ok(())
}

/// Adds a tally to the counters.
fn add(tx: &Db, tally: &Tally) -> StoreResult<()> {
    for (bucket, n) in &tally.buckets {
        tx.prepare_cached(
            "INSERT INTO customer_counts (bucket, customers) VALUES (?1, ?2)
             ON CONFLICT (bucket) DO UPDATE SET customers = customer_counts.customers + ?2",
        )?
        .execute(params![*bucket, *n])?;
    }
    for (day, n) in &tally.days {
        tx.prepare_cached(
            "INSERT INTO signup_counts (day, customers) VALUES (?1, ?2)
             ON CONFLICT (day) DO UPDATE SET customers = signup_counts.customers + ?2",
        )?
        .execute(params![*day, *n])?;
    }
    Ok(())
}

/// Counts every customer again, as migration 24 first did: for a copy, whose rows arrived
/// uncounted and with no tally.
pub fn recount(tx: &Db) -> StoreResult<()> {
    tx.execute_batch(
        "DELETE FROM customer_counts;
         DELETE FROM signup_counts;
         INSERT INTO customer_counts (bucket, customers)
             SELECT CASE WHEN locked_at IS NOT NULL THEN 'locked' ELSE status END, COUNT(*)
             FROM customers GROUP BY 1;
         INSERT INTO signup_counts (day, customers)
             SELECT created_at / 86400, COUNT(*) FROM customers GROUP BY 1;",
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::store::{StoreError, migrations, write_tx};
    use rusqlite::Connection;

    type Counts = (Vec<(String, i64)>, Vec<(i64, i64)>);

    fn database() -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        migrations::apply(&Db::sqlite(&conn)).unwrap();
        conn
    }

    fn insert(tx: &Db, id: &str, status: &str, created_at: i64) -> StoreResult<()> {
        tx.execute("INSERT INTO customer_ids (id) VALUES (?1)", params![id])?;
        tx.execute(
            "INSERT INTO customers (id, identifier, email, status, created_at, updated_at)
             VALUES (?1, ?1, ?1 || '@example.com', ?2, ?3, ?3)",
            params![id, status, created_at],
        )?;
        Ok(())
    }

    /// The rows of a two-column query (a key and a count), for the counters' tests here and in
    /// the migrations'.
    pub(crate) fn pairs<K: rusqlite::types::FromSql>(
        conn: &Connection,
        sql: &str,
    ) -> Vec<(K, i64)> {
        conn.prepare(sql)
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect()
    }

    /// The counters (zeros left out), and every customer counted.
    fn kept_and_counted(conn: &Connection) -> (Counts, Counts) {
        let kept = (
            pairs(
                conn,
                "SELECT bucket, customers FROM customer_counts WHERE customers <> 0 ORDER BY 1",
            ),
            pairs(
                conn,
                "SELECT day, customers FROM signup_counts WHERE customers <> 0 ORDER BY 1",
            ),
        );
        let counted = (
            pairs(
                conn,
                "SELECT CASE WHEN locked_at IS NOT NULL THEN 'locked' ELSE status END, COUNT(*)
                 FROM customers GROUP BY 1 ORDER BY 1",
            ),
            pairs(
                conn,
                "SELECT created_at / 86400, COUNT(*) FROM customers GROUP BY 1 ORDER BY 1",
            ),
        );
        (kept, counted)
    }

    fn has_insert_trigger(conn: &Connection) -> bool {
        conn.query_row(
            "SELECT EXISTS(SELECT 1 FROM sqlite_master WHERE type = 'trigger' AND name = ?1)",
            [INSERT_TRIGGER],
            |r| r.get(0),
        )
        .unwrap()
    }

    #[test]
    fn inserts_set_aside_count_once_by_their_tally_and_the_trigger_comes_back() {
        let conn = database();
        let db = Db::sqlite(&conn);
        write_tx(&db, |tx| {
            insert(tx, "10000000000001", "active", 10 * DAY)?;
            uncounted_inserts(tx, || {
                let mut tally = Tally::default();
                for (id, status, at) in [
                    ("10000000000002", Status::Active, 10 * DAY + 5),
                    ("10000000000003", Status::Pending, 12 * DAY),
                    // Before 1970: the day is truncated towards zero, as SQL's division is.
                    ("10000000000004", Status::Pending, -2 * DAY - 5),
                ] {
                    insert(tx, id, status.as_str(), at)?;
                    tally.new_customer(status, at);
                }
                // Changes other than insertions stay counted by their triggers meanwhile.
                tx.execute(
                    "UPDATE customers SET locked_at = 1 WHERE id = '10000000000001'",
                    params![],
                )?;
                Ok(((), tally))
            })?;
            insert(tx, "10000000000005", "pending", 12 * DAY)
        })
        .unwrap();
        assert!(has_insert_trigger(&conn));
        let (kept, counted) = kept_and_counted(&conn);
        assert_eq!(kept, counted);
        assert_eq!(
            kept.0,
            [
                ("active".to_owned(), 1),
                ("locked".to_owned(), 1),
                ("pending".to_owned(), 3)
            ]
        );
        assert_eq!(kept.1, [(-2, 1), (10, 2), (12, 2)]);
    }

    #[test]
    fn a_bulk_write_that_fails_leaves_the_counters_and_their_trigger_as_they_were() {
        let conn = database();
        let db = Db::sqlite(&conn);
        let failed = write_tx(&db, |tx| {
            uncounted_inserts(tx, || {
                insert(tx, "10000000000001", "active", DAY)?;
                Err::<((), Tally), _>(StoreError::Inconsistent("the file changed".into()))
            })
        });
        assert!(failed.is_err());
        assert!(has_insert_trigger(&conn));
        write_tx(&db, |tx| insert(tx, "10000000000002", "active", DAY)).unwrap();
        let (kept, counted) = kept_and_counted(&conn);
        assert_eq!(kept, counted);
        assert_eq!(kept.0, [("active".to_owned(), 1)]);
    }

    #[test]
    fn a_recount_makes_the_counters_from_the_customers_rows() {
        let conn = database();
        let db = Db::sqlite(&conn);
        write_tx(&db, |tx| {
            insert(tx, "10000000000001", "active", DAY)?;
            insert(tx, "10000000000002", "pending", 3 * DAY)?;
            tx.execute_batch(
                "UPDATE customer_counts SET customers = 7; DELETE FROM signup_counts WHERE day = 1",
            )?;
            recount(tx)
        })
        .unwrap();
        let (kept, counted) = kept_and_counted(&conn);
        assert_eq!(kept, counted);
        assert_eq!(kept.1, [(1, 1), (3, 1)]);
    }
}
