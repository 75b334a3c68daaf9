//! The back office's overview: customers by status, sign-ups per day, emails and webhook
//! deliveries waiting or failed. The customers are read from the counters the database keeps
//! (migration 24, [`super::counters`]): three rows and at most thirty, whatever the number of
//! customers (counting them walked an index of every customer: 884 ms at a million). The
//! emails and deliveries are counted in the outboxes' `(status, id)` indexes, where only the
//! queued and failed ones are, which stay few.

use serde::Serialize;

use super::sql::{ReadDb, params};
use super::{StoreResult, counters, outbox, webhooks};

/// The days `signups_by_day` covers, today included.
pub const SIGNUP_DAYS: i64 = 30;

/// The overview, as `GET /admin/stats` answers it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub customers: Customers,
    /// New customers on each of the last [`SIGNUP_DAYS`] days (UTC), oldest first, today last.
    pub signups_by_day: Vec<Day>,
    pub emails: Waiting,
    pub webhooks: Waiting,
}

/// Customers by status; the three add up to every customer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Customers {
    /// Activated and not locked.
    pub active: i64,
    /// Not activated yet (and not locked).
    pub pending: i64,
    /// Locked after repeated failed sign-ins.
    pub locked: i64,
}

/// The sign-ups of one UTC day.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Day {
    /// `YYYY-MM-DD`.
    pub date: String,
    pub count: i64,
}

/// Emails or deliveries waiting to go and given up on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Waiting {
    pub queued: i64,
    pub failed: i64,
}

/// The overview at `now` (Unix seconds).
pub fn overview(conn: &ReadDb, now: i64) -> StoreResult<Stats> {
    let mut customers = Customers {
        active: 0,
        pending: 0,
        locked: 0,
    };
    let mut statement = conn.prepare_cached("SELECT bucket, customers FROM customer_counts")?;
    let buckets = statement.query_map(params![], |row| {
        Ok((row.get::<String>("bucket")?, row.get::<i64>("customers")?))
    })?;
    for bucket in buckets {
        let (bucket, n) = bucket?;
        match bucket.as_str() {
            "active" => customers.active = n,
            "pending" => customers.pending = n,
            "locked" => customers.locked = n,
            // A status this program does not know (a newer one wrote it) is in none of the three.
            _ => {}
        }
    }
    let today = now.div_euclid(counters::DAY);
    let first = today - (SIGNUP_DAYS - 1);
    let mut counts = vec![0; SIGNUP_DAYS as usize];
    let mut statement = conn
        .prepare_cached("SELECT day, customers FROM signup_counts WHERE day >= ?1 AND day <= ?2")?;
    let days = statement.query_map(params![first, today], |row| {
        Ok((row.get::<i64>("day")?, row.get::<i64>("customers")?))
    })?;
    for day in days {
        let (day, n) = day?;
        if let Some(slot) = usize::try_from(day - first)
            .ok()
            .and_then(|i| counts.get_mut(i))
        {
            *slot = n;
        }
    }
    let signups_by_day = counts
        .into_iter()
        .enumerate()
        .map(|(i, count)| Day {
            date: date_of(first + i as i64),
            count,
        })
        .collect();
    Ok(Stats {
        customers,
        signups_by_day,
        emails: Waiting {
            queued: outbox::count_of(conn, "queued")?,
            failed: outbox::count_of(conn, "failed")?,
        },
        webhooks: Waiting {
            queued: webhooks::count_of(conn, "queued")?,
            failed: webhooks::count_of(conn, "failed")?,
        },
    })
}

/// The UTC date of a day number (days since the Unix epoch), `YYYY-MM-DD`.
fn date_of(day: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(day * 86_400)
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::migrations;
    use crate::store::sql::Db;
    use std::time::{Duration, Instant};

    #[test]
    fn a_day_number_is_its_utc_date() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(20_791), "2026-12-04");
    }

    /// `cargo test --lib store::stats -- --ignored --nocapture`: a million customers written
    /// through the counting triggers (a third of them pending, one in a thousand locked, over
    /// 40 days), then the overview, timed (it counted them in 884 ms before migration 24).
    #[test]
    #[ignore = "a measurement: a million customers in a database file, about a minute"]
    fn the_overview_of_a_million_customers_reads_a_few_rows() {
        const CUSTOMERS: i64 = 1_000_000;
        let dir = tempfile::tempdir().unwrap();
        let conn = rusqlite::Connection::open(dir.path().join("scale.db")).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL").unwrap();
        migrations::apply(&Db::sqlite(&conn)).unwrap();
        let now = 1_796_376_659;
        let started = Instant::now();
        conn.execute_batch(&format!(
            "BEGIN;
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {CUSTOMERS})
             INSERT INTO customer_ids (id) SELECT 10000000000000 + i FROM n;
             INSERT INTO customers (id, identifier, email, status, created_at, updated_at, locked_at)
                 SELECT id, 'c' || id, id || '@example.com',
                        CASE WHEN id % 3 = 0 THEN 'pending' ELSE 'active' END,
                        {now} - (id % 40) * 86400, {now},
                        CASE WHEN id % 1000 = 0 THEN {now} END
                 FROM customer_ids;
             COMMIT;"
        ))
        .unwrap();
        eprintln!("{CUSTOMERS} customers written in {:?}", started.elapsed());
        let read = ReadDb::sqlite(&conn);
        let stats = overview(&read, now).unwrap();
        let started = Instant::now();
        for _ in 0..10 {
            overview(&read, now).unwrap();
        }
        let quick = started.elapsed() / 10;
        eprintln!("the overview of {CUSTOMERS} customers: {quick:?}");
        let total = stats.customers.active + stats.customers.pending + stats.customers.locked;
        assert_eq!(total, CUSTOMERS);
        assert_eq!(stats.customers.locked, CUSTOMERS / 1000);
        assert!(quick < Duration::from_millis(20), "{quick:?}");
    }
}
