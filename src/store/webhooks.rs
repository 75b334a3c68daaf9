//! The webhook outbox: one row per event and endpoint, written in the transaction of the
//! change it announces and delivered later, in row order per endpoint, by the webhook worker.

use std::time::{SystemTime, UNIX_EPOCH};

use super::sql::{Db, OptionalRow, ReadDb, params};

use super::{StoreResult, now};

/// An event ready to be queued for one endpoint.
#[derive(Clone, Debug)]
pub struct NewEvent<'a> {
    pub webhook_id: &'a str,
    pub endpoint: &'a str,
    pub event_type: &'a str,
    pub customer_id: Option<&'a str>,
    pub body: &'a str,
}

/// The next event an endpoint is due to receive.
#[derive(Clone, Debug)]
pub struct Due {
    pub id: i64,
    pub webhook_id: String,
    pub body: String,
    pub attempts: i64,
    pub next_attempt_ms: i64,
    pub created_at: i64,
}

/// One row of the webhook outbox, for `webhooks list`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Entry {
    pub id: i64,
    pub webhook_id: String,
    pub endpoint: String,
    pub event_type: String,
    pub customer_id: Option<String>,
    pub status: String,
    pub attempts: i64,
    pub last_error: Option<String>,
    #[serde(serialize_with = "crate::domain::rfc3339_field")]
    pub created_at: i64,
}

/// Milliseconds since the Unix epoch, the unit of `next_attempt_ms`.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Queues an event for delivery now.
pub fn enqueue(conn: &Db, event: &NewEvent<'_>) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO webhook_outbox
             (webhook_id, endpoint, event_type, customer_id, body, status, next_attempt_ms, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, 'queued', ?6, ?7)",
    )?
    .execute(params![
        event.webhook_id,
        event.endpoint,
        event.event_type,
        event.customer_id,
        event.body,
        now_ms(),
        now()
    ])?;
    Ok(())
}

/// The oldest `limit` queued events of `endpoint`, due or not, oldest first: an endpoint
/// receives its events in the order they were committed, so a later one never overtakes one
/// before it.
pub fn next_for(conn: &ReadDb, endpoint: &str, limit: u32) -> StoreResult<Vec<Due>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, webhook_id, body, attempts, next_attempt_ms, created_at FROM webhook_outbox
         WHERE endpoint = ?1 AND status = 'queued' ORDER BY id LIMIT ?2",
    )?;
    let rows = statement.query_map(params![endpoint, limit], |row| {
        Ok(Due {
            id: row.get("id")?,
            webhook_id: row.get("webhook_id")?,
            body: row.get("body")?,
            attempts: row.get("attempts")?,
            next_attempt_ms: row.get("next_attempt_ms")?,
            created_at: row.get("created_at")?,
        })
    })?;
    rows.collect::<StoreResult<_>>()
}

/// Marks events delivered.
pub fn mark_sent(conn: &Db, ids: &[i64]) -> StoreResult<()> {
    let mut statement = conn.prepare_cached(
        "UPDATE webhook_outbox SET status = 'sent', attempts = attempts + 1, last_error = NULL,
             sent_at = ?2 WHERE id = ?1",
    )?;
    let now = now();
    for id in ids {
        statement.execute(params![id, now])?;
    }
    Ok(())
}

/// Records a failed attempt: tried again at `retry_at_ms`, or given up with `None`.
pub fn mark_attempt_failed(
    conn: &Db,
    id: i64,
    error: &str,
    retry_at_ms: Option<i64>,
) -> StoreResult<()> {
    match retry_at_ms {
        Some(at) => conn
            .prepare_cached(
                "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = ?2,
                     next_attempt_ms = ?3 WHERE id = ?1",
            )?
            .execute(params![id, error, at])?,
        None => conn
            .prepare_cached(
                "UPDATE webhook_outbox SET status = 'failed', attempts = attempts + 1,
                     last_error = ?2 WHERE id = ?1",
            )?
            .execute(params![id, error])?,
    };
    Ok(())
}

/// Gives up on the queued events of endpoints no longer configured; returns how many.
pub fn fail_unconfigured(conn: &Db, configured: &[String]) -> StoreResult<usize> {
    let mut statement = conn
        .prepare_cached("SELECT DISTINCT endpoint FROM webhook_outbox WHERE status = 'queued'")?;
    let queued: Vec<String> = statement
        .query_map(params![], |row| row.only())?
        .collect::<StoreResult<_>>()?;
    let mut failed = 0;
    for endpoint in queued.iter().filter(|e| !configured.contains(e)) {
        failed += conn
            .prepare_cached(
                "UPDATE webhook_outbox SET status = 'failed',
                     last_error = 'the endpoint is no longer configured'
                 WHERE endpoint = ?1 AND status = 'queued'",
            )?
            .execute(params![endpoint])?;
    }
    Ok(failed)
}

/// The newest `limit` events, optionally of one status.
pub fn list(conn: &ReadDb, status: Option<&str>, limit: u32) -> StoreResult<Vec<Entry>> {
    let columns = "id, webhook_id, endpoint, event_type, customer_id, status, attempts, \
                   last_error, created_at";
    super::outbox::newest(conn, "webhook_outbox", columns, status, limit, entry)
}

/// Up to `limit` deliveries of `statuses` (one to three), newest first, older than `before`
/// when given: the back office's pages.
pub fn page(
    conn: &ReadDb,
    statuses: &[&'static str],
    before: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<Entry>> {
    let columns = "id, webhook_id, endpoint, event_type, customer_id, status, attempts, \
                   last_error, created_at";
    super::outbox::paged(
        conn,
        "webhook_outbox",
        columns,
        statuses,
        before,
        limit,
        entry,
    )
}

/// The status of the delivery `id`; `None` when there is no such delivery.
pub fn status_of(conn: &ReadDb, id: i64) -> StoreResult<Option<String>> {
    OptionalRow::optional(
        conn.prepare_cached("SELECT status FROM webhook_outbox WHERE id = ?1")?
            .query_row(params![id], |row| row.only()),
    )
}

/// How many deliveries have `status`.
pub fn count_of(conn: &ReadDb, status: &str) -> StoreResult<i64> {
    conn.prepare_cached("SELECT COUNT(*) AS n FROM webhook_outbox WHERE status = ?1")?
        .query_row(params![status], |row| row.get("n"))
}

fn entry(row: &super::sql::Row) -> StoreResult<Entry> {
    Ok(Entry {
        id: row.get("id")?,
        webhook_id: row.get("webhook_id")?,
        endpoint: row.get("endpoint")?,
        event_type: row.get("event_type")?,
        customer_id: row.get("customer_id")?,
        status: row.get("status")?,
        attempts: row.get("attempts")?,
        last_error: row.get("last_error")?,
        created_at: row.get("created_at")?,
    })
}

/// Queues failed events again for delivery now (all of them, or the one with `id`); returns
/// how many. Their `webhook-id` stays the same.
pub fn retry_failed(conn: &Db, id: Option<i64>) -> StoreResult<usize> {
    conn.prepare_cached(
        "UPDATE webhook_outbox SET status = 'queued', next_attempt_ms = ?2
             WHERE status = 'failed' AND (CAST(?1 AS BIGINT) IS NULL OR id = ?1)",
    )?
    .execute(params![id, now_ms()])
}

/// Events by status, for the metrics.
pub fn counts(conn: &ReadDb) -> StoreResult<Vec<(String, i64)>> {
    let mut statement = conn
        .prepare_cached("SELECT status, count(*) AS events FROM webhook_outbox GROUP BY status")?;
    let rows = statement.query_map(params![], |row| {
        Ok((row.get("status")?, row.get("events")?))
    })?;
    rows.collect::<StoreResult<_>>()
}

/// Removes up to `limit` events delivered before `cutoff` (their bodies are personal data);
/// answers how many went.
pub fn purge_sent_before(conn: &Db, cutoff: i64, limit: usize) -> StoreResult<usize> {
    conn.prepare_cached(
        "DELETE FROM webhook_outbox WHERE id IN \
             (SELECT id FROM webhook_outbox WHERE status = 'sent' AND sent_at < ?1 LIMIT ?2)",
    )?
    .execute(params![cutoff, limit as i64])
}
