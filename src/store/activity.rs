//! The activity of each account: one row per event, written in the transaction of the change
//! it describes, read newest first.

use std::collections::HashMap;

use super::sql::{Db, ReadDb, params};
use serde::Serialize;

use super::{StoreResult, now};
use crate::domain::{ActivityKind, Client, CustomerId, device_name, rfc3339_field};

/// One recorded event, as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Event {
    pub id: i64,
    #[serde(serialize_with = "rfc3339_field")]
    pub at: i64,
    pub kind: String,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The device as its customer knows it ("Firefox on Windows"), named from `user_agent`.
    pub device: String,
    /// How the customer signed in (`password`, `passkey`), on `login_succeeded` events only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// What the shop's staff did, on `support_action` events only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// Records that `kind` happened to `customer`, caused by `client` (if a client caused it).
pub fn record(
    conn: &Db,
    customer: &CustomerId,
    kind: ActivityKind,
    client: Option<&Client>,
) -> StoreResult<()> {
    record_from(
        conn,
        customer,
        kind,
        client.map(|c| c.ip.to_string()),
        client.and_then(|c| c.user_agent.clone()),
    )
}

/// Records a successful sign-in of `customer` by `client`, and how they signed in.
pub fn record_login(
    conn: &Db,
    customer: &CustomerId,
    method: &str,
    client: &Client,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO activity (customer_id, kind, at, ip, user_agent, method)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        customer.as_str(),
        ActivityKind::LoginSucceeded.as_str(),
        now(),
        client.ip.to_string(),
        client.user_agent,
        method
    ])?;
    Ok(())
}

/// Records an event with an IP and User-Agent as stored (a journaled request's).
pub fn record_from(
    conn: &Db,
    customer: &CustomerId,
    kind: ActivityKind,
    ip: Option<String>,
    user_agent: Option<String>,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO activity (customer_id, kind, at, ip, user_agent) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        customer.as_str(),
        kind.as_str(),
        now(),
        ip,
        user_agent
    ])?;
    Ok(())
}

/// Up to `limit` events of `customer`, newest first, only those older than event `before`
/// when given.
pub fn page(
    conn: &ReadDb,
    customer: &CustomerId,
    before: Option<i64>,
    limit: u32,
) -> StoreResult<Vec<Event>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, at, kind, ip, user_agent, method, detail FROM activity
         WHERE customer_id = ?1 AND (CAST(?2 AS BIGINT) IS NULL OR id < ?2)
         ORDER BY id DESC LIMIT ?3",
    )?;
    // Most events of an account come from a few devices: each is named once.
    let mut names: HashMap<Option<String>, String> = HashMap::new();
    let rows = statement.query_map(params![customer.as_str(), before, limit], |row| {
        let user_agent: Option<String> = row.get("user_agent")?;
        let device = names
            .entry(user_agent.clone())
            .or_insert_with(|| device_name(user_agent.as_deref()))
            .clone();
        Ok(Event {
            id: row.get("id")?,
            at: row.get("at")?,
            kind: row.get("kind")?,
            ip: row.get("ip")?,
            user_agent,
            device,
            method: row.get("method")?,
            detail: row.get("detail")?,
        })
    })?;
    rows.collect::<StoreResult<Vec<_>>>()
}

/// Deletes up to `limit` events that happened before `cutoff`; returns how many.
pub fn purge_before(conn: &Db, cutoff: i64, limit: usize) -> StoreResult<usize> {
    conn.prepare_cached(
        "DELETE FROM activity WHERE id IN (SELECT id FROM activity WHERE at < ?1 LIMIT ?2)",
    )?
    .execute(params![cutoff, limit as i64])
}
