//! The back office's overview: customers by status, sign-ups per day, emails and webhook
//! deliveries waiting or failed. Every count is read from an index (the status indexes of
//! migration 18, `customers_by_creation`, the outboxes' `(status, id)`), so that the overview
//! stays quick with a million customers.

use serde::Serialize;

use super::sql::{ReadDb, params};
use super::{StoreResult, outbox, webhooks};

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
    let by_status = |status: &str| -> StoreResult<i64> {
        conn.prepare_cached(
            "SELECT COUNT(*) AS n FROM customers WHERE status = ?1 AND locked_at IS NULL",
        )?
        .query_row(params![status], |row| row.get("n"))
    };
    let locked: i64 = conn
        .prepare_cached("SELECT COUNT(*) AS n FROM customers WHERE locked_at IS NOT NULL")?
        .query_row(params![], |row| row.get("n"))?;
    let customers = Customers {
        active: by_status("active")?,
        pending: by_status("pending")?,
        locked,
    };
    let today = now.div_euclid(86_400);
    let first = today - (SIGNUP_DAYS - 1);
    let mut counts = vec![0; SIGNUP_DAYS as usize];
    let mut statement = conn.prepare_cached(
        "SELECT created_at / 86400 AS day, COUNT(*) AS n FROM customers
         WHERE created_at >= ?1 GROUP BY created_at / 86400",
    )?;
    let rows = statement.query_map(params![first * 86_400], |row| {
        Ok((row.get::<i64>("day")?, row.get::<i64>("n")?))
    })?;
    for row in rows {
        let (day, n) = row?;
        if let Some(slot) = usize::try_from(day - first)
            .ok()
            .and_then(|i| counts.get_mut(i))
        {
            *slot += n;
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

    #[test]
    fn a_day_number_is_its_utc_date() {
        assert_eq!(date_of(0), "1970-01-01");
        assert_eq!(date_of(20_791), "2026-12-04");
    }
}
