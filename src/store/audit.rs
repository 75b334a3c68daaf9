//! The audit log: one row per action under `/admin` (who, what, on which customer, from
//! where), append-only (the database refuses to change or remove a row, both stores), read
//! newest first. What staff did to a customer is also written into that customer's activity as
//! a `support_action` event whose detail never names who.

use serde::Serialize;

use super::sql::{Db, ReadDb, Row, params};
use super::{StoreResult, now};
use crate::domain::{ActivityKind, CustomerId, rfc3339_field};

/// One action to record.
#[derive(Clone, Debug)]
pub struct NewEntry {
    /// `staff:<email>`, `api_token`, `cli` (a command on the server) or `visitor` (a staff
    /// sign-in with an unknown address).
    pub actor: String,
    pub action: &'static str,
    pub customer: Option<CustomerId>,
    /// The caller's address; none for a command run on the server.
    pub ip: Option<String>,
    pub detail: String,
}

/// One recorded action, as `GET /admin/audit` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Entry {
    pub id: i64,
    #[serde(serialize_with = "rfc3339_field")]
    pub at: i64,
    pub actor: String,
    pub action: String,
    pub customer_id: Option<String>,
    pub ip: Option<String>,
    pub detail: Option<String>,
}

/// Which entries a page shows.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Only entries older than this entry id.
    pub before: Option<i64>,
    pub customer: Option<String>,
    pub actor: Option<String>,
    /// Only entries about customers this actor acted on (a support agent's view).
    pub touched_by: Option<String>,
}

/// Appends an entry.
pub fn record(conn: &Db, entry: &NewEntry) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO audit_log (at, actor, action, about_customer, ip, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        now(),
        entry.actor,
        entry.action,
        entry.customer.as_ref().map(|c| c.as_str()),
        entry.ip,
        entry.detail
    ])?;
    Ok(())
}

/// Writes into the customer's own activity that the shop's staff did something to their
/// account: `detail` says what, never who.
pub fn tell_customer(conn: &Db, customer: &CustomerId, detail: &str) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO activity (customer_id, kind, at, detail)
         SELECT id, CAST(?2 AS TEXT), CAST(?3 AS BIGINT), CAST(?4 AS TEXT) FROM customers
         WHERE id = ?1",
    )?
    .execute(params![
        customer.as_str(),
        ActivityKind::SupportAction.as_str(),
        now(),
        detail
    ])?;
    Ok(())
}

/// Up to `limit` entries that pass `filter`, newest first.
pub fn page(conn: &ReadDb, filter: &Filter, limit: u32) -> StoreResult<Vec<Entry>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, at, actor, action, about_customer, ip, detail FROM audit_log
         WHERE (CAST(?1 AS BIGINT) IS NULL OR id < ?1)
           AND (CAST(?2 AS TEXT) IS NULL OR about_customer = ?2)
           AND (CAST(?3 AS TEXT) IS NULL OR actor = ?3)
           AND (CAST(?4 AS TEXT) IS NULL OR about_customer IN
                (SELECT about_customer FROM audit_log
                 WHERE actor = ?4 AND about_customer IS NOT NULL))
         ORDER BY id DESC LIMIT ?5",
    )?;
    let rows = statement.query_map(
        params![
            filter.before,
            filter.customer,
            filter.actor,
            filter.touched_by,
            limit
        ],
        entry,
    )?;
    rows.collect()
}

fn entry(row: &Row) -> StoreResult<Entry> {
    Ok(Entry {
        id: row.get("id")?,
        at: row.get("at")?,
        actor: row.get("actor")?,
        action: row.get("action")?,
        customer_id: row.get("about_customer")?,
        ip: row.get("ip")?,
        detail: row.get("detail")?,
    })
}

/// The id of the customer an admin path names by id, identifier or email.
pub fn customer_named(conn: &ReadDb, key: &str) -> StoreResult<Option<CustomerId>> {
    let id: Option<String> = super::sql::OptionalRow::optional(
        conn.prepare_cached(
            "SELECT id FROM customers WHERE id = ?1 OR identifier = ?1 OR email = lower(trim(?1))",
        )?
        .query_row(params![key], |row| row.only()),
    )?;
    Ok(id.and_then(|id| CustomerId::parse(&id).ok()))
}
