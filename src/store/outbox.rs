//! The outbox: emails written in the same transaction as the state they announce, delivered
//! later by the mail worker. A row is leased while a worker delivers it, so two processes
//! (the server and an admin command, or two instances on PostgreSQL) never send the same email
//! at once.

use super::sql::{Db, Dialect, OptionalRow, ReadDb, Row, params};

use super::{StoreResult, now};
use crate::domain::CustomerId;

/// An email ready to be queued.
#[derive(Clone, Debug)]
pub struct NewEmail {
    pub kind: &'static str,
    pub recipient: String,
    pub message_id: String,
    pub raw: Vec<u8>,
}

/// A queued email leased to a worker for delivery.
#[derive(Clone, Debug)]
pub struct Leased {
    pub id: i64,
    pub recipient: String,
    pub message_id: String,
    pub raw: Vec<u8>,
    pub attempts: i64,
    pub created_at: i64,
}

/// One row of the outbox, for `outbox list`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Entry {
    pub id: i64,
    pub kind: String,
    pub recipient: String,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    #[serde(serialize_with = "crate::domain::rfc3339_field")]
    pub created_at: i64,
    #[serde(serialize_with = "crate::domain::rfc3339_field")]
    pub next_attempt_at: i64,
}

/// Queues an email sent for the account `customer` (whatever address it goes to) for delivery
/// now; returns its row id. The account, not the address, is whose export lists it.
pub fn enqueue(conn: &Db, customer: &CustomerId, email: &NewEmail) -> StoreResult<i64> {
    enqueue_for(conn, Some(customer.as_str()), email)
}

/// Queues an email sent for no customer (a staff member's invitation): in no export.
pub fn enqueue_for_no_customer(conn: &Db, email: &NewEmail) -> StoreResult<i64> {
    enqueue_for(conn, None, email)
}

fn enqueue_for(conn: &Db, customer: Option<&str>, email: &NewEmail) -> StoreResult<i64> {
    let now = now();
    conn.prepare_cached(
        "INSERT INTO outbox
             (kind, recipient, message_id, raw, status, next_attempt_at, created_at, customer_id)
         VALUES (?1, ?2, ?3, ?4, 'queued', ?5, ?5, ?6) RETURNING id",
    )?
    .query_row(
        params![
            email.kind,
            email.recipient,
            email.message_id,
            email.raw,
            now,
            customer
        ],
        |row| row.only(),
    )
}

/// Ends every lease still held (at server start); returns how many there were.
pub fn release_leases(conn: &Db) -> StoreResult<usize> {
    conn.prepare_cached(
        "UPDATE outbox SET locked_until = 0 WHERE status = 'queued' AND locked_until > 0",
    )?
    .execute(params![])
}

/// Leases up to `limit` due emails for `lease_seconds`.
pub fn lease_due(conn: &Db, limit: u32, lease_seconds: i64) -> StoreResult<Vec<Leased>> {
    let now = now();
    // On PostgreSQL the rows are also locked as they are picked, skipping any another
    // transaction holds: a lease is taken by a global write, which holds the write lock
    // exclusively (so no two leases ever overlap), and this keeps two leasing workers apart
    // without it.
    let sql = match conn.dialect() {
        Dialect::Sqlite => {
            "UPDATE outbox SET locked_until = ?1 + ?2
             WHERE id IN (SELECT id FROM outbox
                          WHERE status = 'queued' AND next_attempt_at <= ?1 AND locked_until <= ?1
                          ORDER BY id LIMIT ?3)
             RETURNING id, recipient, message_id, raw, attempts, created_at"
        }
        Dialect::Postgres => {
            "UPDATE outbox SET locked_until = ?1 + ?2
             WHERE id IN (SELECT id FROM outbox
                          WHERE status = 'queued' AND next_attempt_at <= ?1 AND locked_until <= ?1
                          ORDER BY id LIMIT ?3 FOR UPDATE SKIP LOCKED)
             RETURNING id, recipient, message_id, raw, attempts, created_at"
        }
    };
    let mut statement = conn.prepare_cached(sql)?;
    let rows = statement.query_map(params![now, lease_seconds, limit], |row| {
        Ok(Leased {
            id: row.get("id")?,
            recipient: row.get("recipient")?,
            message_id: row.get("message_id")?,
            raw: row.get::<Option<Vec<u8>>>("raw")?.unwrap_or_default(),
            attempts: row.get("attempts")?,
            created_at: row.get("created_at")?,
        })
    })?;
    let mut leased = rows.collect::<StoreResult<Vec<_>>>()?;
    leased.sort_by_key(|l| l.id);
    Ok(leased)
}

/// Extends the lease of an email still being sent to `lease_seconds` from now.
pub fn renew_lease(conn: &Db, id: i64, lease_seconds: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE outbox SET locked_until = CAST(?2 AS BIGINT) + ?3
         WHERE id = ?1 AND status = 'queued' AND locked_until > 0",
    )?
    .execute(params![id, now(), lease_seconds])?;
    Ok(())
}

/// Records a delivery; the message body is dropped, since it may carry a one-time code.
pub fn mark_sent(conn: &Db, id: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE outbox SET status = 'sent', sent_at = ?2, attempts = attempts + 1, raw = NULL,
                           locked_until = 0, last_error = NULL
         WHERE id = ?1",
    )?
    .execute(params![id, now()])?;
    Ok(())
}

/// Records a failed attempt to be retried at `next_attempt_at`.
pub fn mark_retry(conn: &Db, id: i64, error: &str, next_attempt_at: i64) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE outbox SET attempts = attempts + 1, last_error = ?2, next_attempt_at = ?3, locked_until = 0
         WHERE id = ?1",
    )?
    .execute(params![id, error, next_attempt_at])?;
    Ok(())
}

/// Drops every email still queued for `recipient` (an account being deleted); returns how
/// many.
pub fn drop_queued_for(conn: &Db, recipient: &str) -> StoreResult<usize> {
    let now = now();
    let dropped = conn
        .prepare_cached(
            "DELETE FROM outbox WHERE recipient = ?1 AND status = 'queued' AND locked_until <= ?2",
        )?
        .execute(params![recipient, now])?;
    // An email the worker is sending right now (leased) keeps its row, so that the outcome has
    // somewhere to go, but leaves the queue with its body: an attempt that fails now is never
    // made again, and a success is still recorded as sent.
    let in_flight = conn
        .prepare_cached(
            "UPDATE outbox SET status = 'failed', raw = NULL,
                               last_error = 'the account was deleted while this was being sent'
             WHERE recipient = ?1 AND status = 'queued' AND locked_until > ?2",
        )?
        .execute(params![recipient, now])?;
    Ok(dropped + in_flight)
}

/// The kinds of email whose body carries a one-time code or link: their body lives only
/// while they are queued.
pub const CARRIES_CODE: [&str; 3] = ["activation", "password_reset", "email_change_new"];

/// Gives up on an email; the body of one that carries a code is erased with it.
pub fn mark_failed(conn: &Db, id: i64, error: &str) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE outbox SET status = 'failed', attempts = attempts + 1, last_error = ?2, locked_until = 0,
                           raw = CASE WHEN kind IN (?3, ?4, ?5) THEN NULL ELSE raw END
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        error,
        CARRIES_CODE[0],
        CARRIES_CODE[1],
        CARRIES_CODE[2]
    ])?;
    Ok(())
}

/// Failed emails (one, or all) whose body was erased: they cannot be sent again.
pub fn erased_failed(conn: &ReadDb, id: Option<i64>) -> StoreResult<Vec<(i64, String)>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, kind FROM outbox WHERE status = 'failed' AND raw IS NULL
                                     AND (CAST(?1 AS BIGINT) IS NULL OR id = ?1) ORDER BY id",
    )?;
    let rows = statement.query_map(params![id], |row| Ok((row.get("id")?, row.get("kind")?)))?;
    rows.collect::<StoreResult<_>>()
}

/// Puts failed emails (one, or all) that still have a body back in the queue; returns how
/// many.
pub fn requeue_failed(conn: &Db, id: Option<i64>) -> StoreResult<usize> {
    conn.prepare_cached(
        "UPDATE outbox SET status = 'queued', next_attempt_at = ?2, locked_until = 0, attempts = 0,
                               created_at = ?2
             WHERE status = 'failed' AND raw IS NOT NULL AND (CAST(?1 AS BIGINT) IS NULL OR id = ?1)",
    )?
    .execute(params![id, now()])
}

/// The newest `limit` rows of `table` (the outbox or the webhook outbox), of one `status` or
/// of all, each read from `columns` by `read`.
pub(super) fn newest<T>(
    conn: &ReadDb,
    table: &str,
    columns: &str,
    status: Option<&str>,
    limit: u32,
    read: impl FnMut(&Row) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    // Two statements, so that each reads in an index's order and stops at the limit (`?1 IS
    // NULL OR` would read every row to find the last failed one).
    // Every parameter a statement is given must appear in it (PostgreSQL types each from
    // its place).
    let (filter, limit_at) = match status {
        Some(_) => ("WHERE status = ?1", "?2"),
        None => ("", "?1"),
    };
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {columns} FROM {table} {filter} ORDER BY id DESC LIMIT {limit_at}"
    ))?;
    let by_status = params![status, limit];
    let all = params![limit];
    let given = if status.is_some() { by_status } else { all };
    let rows = statement.query_map(given, read)?;
    rows.collect::<StoreResult<_>>()
}

/// Up to `limit` emails of `statuses` (one to three), newest first, older than `before` when
/// given: the back office's pages of queued and failed emails.
pub fn page(
    conn: &ReadDb,
    statuses: &[&'static str],
    before: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<Entry>> {
    let columns = "id, kind, recipient, status, attempts, last_error, created_at, next_attempt_at";
    paged(conn, "outbox", columns, statuses, before, limit, entry)
}

/// A page of `table` (the outbox or the webhook outbox): rows of `statuses` (one to three),
/// newest first, older than `before`; each row read from `columns` by `read`.
pub(super) fn paged<T>(
    conn: &ReadDb,
    table: &str,
    columns: &str,
    statuses: &[&'static str],
    before: Option<i64>,
    limit: u32,
    read: impl FnMut(&Row) -> StoreResult<T>,
) -> StoreResult<Vec<T>> {
    assert!((1..=3).contains(&statuses.len()), "one to three statuses");
    let status = |i: usize| statuses.get(i).unwrap_or(&statuses[0]);
    // Each status is looked up in the table's (status, id) index.
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {columns} FROM {table} WHERE status IN (?1, ?2, ?3) AND id < ?4
         ORDER BY id DESC LIMIT ?5"
    ))?;
    let rows = statement.query_map(
        params![
            status(0),
            status(1),
            status(2),
            before.unwrap_or(i64::MAX),
            limit
        ],
        read,
    )?;
    rows.collect()
}

/// The status of the email `id`, and whether its body is still there; `None` when there is no
/// such email.
pub fn state_of(conn: &ReadDb, id: i64) -> StoreResult<Option<(String, bool)>> {
    OptionalRow::optional(
        conn.prepare_cached("SELECT status, raw IS NOT NULL AS kept FROM outbox WHERE id = ?1")?
            .query_row(params![id], |row| {
                Ok((row.get("status")?, row.get("kept")?))
            }),
    )
}

/// How many emails have `status`.
pub fn count_of(conn: &ReadDb, status: &str) -> StoreResult<i64> {
    conn.prepare_cached("SELECT COUNT(*) AS n FROM outbox WHERE status = ?1")?
        .query_row(params![status], |row| row.get("n"))
}

fn entry(row: &Row) -> StoreResult<Entry> {
    Ok(Entry {
        id: row.get("id")?,
        kind: row.get("kind")?,
        recipient: row.get("recipient")?,
        status: row.get("status")?,
        attempts: row.get("attempts")?,
        last_error: row.get("last_error")?,
        created_at: row.get("created_at")?,
        next_attempt_at: row.get("next_attempt_at")?,
    })
}

/// The newest `limit` emails, optionally of one status.
pub fn list(conn: &ReadDb, status: Option<&str>, limit: u32) -> StoreResult<Vec<Entry>> {
    let columns = "id, kind, recipient, status, attempts, last_error, created_at, next_attempt_at";
    newest(conn, "outbox", columns, status, limit, entry)
}

/// An email sent for a customer, as the shop's staff may see it: its kind, where it stands
/// and when it was written; never its body, link or code.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SentEmail {
    pub id: i64,
    pub kind: String,
    pub status: String,
    #[serde(serialize_with = "crate::domain::rfc3339_field")]
    pub at: i64,
}

/// Up to `limit` emails sent for `customer`, newest first, only those older than `before`
/// when given.
pub fn of_customer(
    conn: &ReadDb,
    customer: &CustomerId,
    before: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<SentEmail>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, kind, status, created_at FROM outbox
         WHERE customer_id = ?1 AND (CAST(?2 AS BIGINT) IS NULL OR id < ?2)
         ORDER BY id DESC LIMIT ?3",
    )?;
    let rows = statement.query_map(params![customer.as_str(), before, limit], |row| {
        Ok(SentEmail {
            id: row.get("id")?,
            kind: row.get("kind")?,
            status: row.get("status")?,
            at: row.get("created_at")?,
        })
    })?;
    rows.collect()
}

/// How many emails are queued, sent and failed.
pub fn counts(conn: &ReadDb) -> StoreResult<(i64, i64, i64)> {
    conn.prepare_cached(
        "SELECT COUNT(*) FILTER (WHERE status = 'queued') AS queued,
                COUNT(*) FILTER (WHERE status = 'sent') AS sent,
                COUNT(*) FILTER (WHERE status = 'failed') AS failed FROM outbox",
    )?
    .query_row(params![], |row| {
        Ok((row.get("queued")?, row.get("sent")?, row.get("failed")?))
    })
}

/// When the next queued email falls due, if any.
pub fn next_due(conn: &ReadDb) -> StoreResult<Option<i64>> {
    // SQLite's two-argument MAX is PostgreSQL's GREATEST.
    let sql = match conn.dialect() {
        Dialect::Sqlite => {
            "SELECT MIN(MAX(next_attempt_at, locked_until)) FROM outbox WHERE status = 'queued'"
        }
        Dialect::Postgres => {
            "SELECT MIN(GREATEST(next_attempt_at, locked_until)) FROM outbox WHERE status = 'queued'"
        }
    };
    Ok(conn
        .prepare_cached(sql)?
        .query_row(params![], |row| row.only())
        .optional()?
        .flatten())
}

/// Deletes up to `limit` emails sent before `cutoff` (Unix seconds); returns how many.
pub fn purge_sent_before(conn: &Db, cutoff: i64, limit: usize) -> StoreResult<usize> {
    conn.prepare_cached(
        "DELETE FROM outbox WHERE id IN \
             (SELECT id FROM outbox WHERE status = 'sent' AND sent_at < ?1 LIMIT ?2)",
    )?
    .execute(params![cutoff, limit as i64])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::{Connection, params};

    fn account() -> CustomerId {
        CustomerId::parse("10000000000001").unwrap()
    }

    fn email(n: u8) -> NewEmail {
        NewEmail {
            kind: "test",
            recipient: format!("r{n}@example.com"),
            message_id: format!("m{n}@localhost"),
            raw: b"Subject: x\r\n\r\nbody".to_vec(),
        }
    }

    #[test]
    fn an_email_leased_when_its_account_is_deleted_is_never_tried_again() {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrations::apply(&Db::sqlite(&conn)).unwrap();
        let leased = enqueue(&Db::sqlite(&conn), &account(), &email(1)).unwrap();
        assert_eq!(lease_due(&Db::sqlite(&conn), 1, 60).unwrap()[0].id, leased);
        let waiting = enqueue(
            &Db::sqlite(&conn),
            &account(),
            &NewEmail {
                message_id: "second@localhost".into(),
                ..email(1)
            },
        )
        .unwrap();
        assert_eq!(
            drop_queued_for(&Db::sqlite(&conn), "r1@example.com").unwrap(),
            2
        );
        // The attempt under way fails and asks to be retried: nothing is left to retry.
        mark_retry(&Db::sqlite(&conn), leased, "451 try later", 0).unwrap();
        assert!(lease_due(&Db::sqlite(&conn), 10, 60).unwrap().is_empty());
        let rows: Vec<(i64, String, Option<Vec<u8>>)> = conn
            .prepare("SELECT id, status, raw FROM outbox")
            .unwrap()
            .query_map(params![], |r| {
                Ok((r.get("id")?, r.get("status")?, r.get("raw")?))
            })
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows, vec![(leased, "failed".to_owned(), None)]);
        assert_ne!(leased, waiting);
    }

    #[test]
    fn a_leased_email_is_not_leased_twice_and_sent_ones_are_emptied_then_purged() {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrations::apply(&Db::sqlite(&conn)).unwrap();
        let first = enqueue(&Db::sqlite(&conn), &account(), &email(1)).unwrap();
        enqueue(&Db::sqlite(&conn), &account(), &email(2)).unwrap();
        let leased = lease_due(&Db::sqlite(&conn), 1, 60).unwrap();
        assert_eq!(leased.iter().map(|l| l.id).collect::<Vec<_>>(), vec![first]);
        let next = lease_due(&Db::sqlite(&conn), 10, 60).unwrap();
        assert_eq!(next.len(), 1, "the leased email is not handed out again");
        mark_sent(&Db::sqlite(&conn), first).unwrap();
        let raw: Option<Vec<u8>> = conn
            .query_row("SELECT raw FROM outbox WHERE id = ?1", [first], |r| {
                r.get("raw")
            })
            .unwrap();
        assert_eq!(raw, None, "a sent email's body is erased");
        assert_eq!(
            purge_sent_before(&Db::sqlite(&conn), now() - 10, 100).unwrap(),
            0,
            "recent ones are kept"
        );
        assert_eq!(
            purge_sent_before(&Db::sqlite(&conn), now() + 10, 100).unwrap(),
            1
        );
        assert_eq!(counts(&Db::sqlite(&conn)).unwrap(), (1, 0, 0));
    }

    #[test]
    fn a_failed_email_carrying_a_code_loses_its_body_and_is_not_requeued() {
        let conn = Connection::open_in_memory().unwrap();
        let conn = conn;
        crate::store::migrations::apply(&Db::sqlite(&conn)).unwrap();
        let mut reset = email(1);
        reset.kind = "password_reset";
        let reset = enqueue(&Db::sqlite(&conn), &account(), &reset).unwrap();
        let plain = enqueue(&Db::sqlite(&conn), &account(), &email(2)).unwrap();
        mark_failed(&Db::sqlite(&conn), reset, "550").unwrap();
        mark_failed(&Db::sqlite(&conn), plain, "550").unwrap();
        let raw = |id: i64| -> Option<Vec<u8>> {
            conn.query_row("SELECT raw FROM outbox WHERE id = ?1", [id], |r| {
                r.get("raw")
            })
            .unwrap()
        };
        assert_eq!(raw(reset), None, "the code is gone with the body");
        assert!(
            raw(plain).is_some(),
            "an email without a code can be resent"
        );
        assert_eq!(
            erased_failed(&Db::sqlite(&conn), None).unwrap(),
            vec![(reset, "password_reset".to_owned())]
        );
        assert_eq!(requeue_failed(&Db::sqlite(&conn), None).unwrap(), 1);
        assert_eq!(counts(&Db::sqlite(&conn)).unwrap(), (1, 0, 1));
    }
}
