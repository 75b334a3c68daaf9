//! Every customer in the shape of the import file (`customers export-all`, SPEC 8.3): read a
//! page at a time in id order, each with their subscriptions (where each consent came from, and
//! until when a list is paused) and their password hash when the caller asks for it.

use super::sql::{ReadDb, Row, params};

use super::{StoreResult, customers, now};
use crate::domain::{FIELDS, Profile};

/// One customer, as an import file row holds them.
#[derive(Clone, Debug)]
pub struct Leaving {
    pub id: String,
    pub email: String,
    pub identifier: String,
    pub status: String,
    pub created_at: i64,
    pub language: Option<String>,
    pub profile: Profile,
    /// Only when asked for.
    pub password_hash: Option<String>,
    /// In list id order.
    pub subscriptions: Vec<Held>,
}

/// A subscription a customer holds: since when, the source of the opt-in that began it, and
/// the end of a pause that has not run out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub list: String,
    pub since: i64,
    /// The ledger's source of the latest opt-in to the list (`customer`, `import:magento2`...);
    /// `None` where the ledger has none.
    pub source: Option<String>,
    /// Until when the list is paused (left out of its exports); `None` when it is not, or the
    /// pause has run out.
    pub paused_until: Option<i64>,
}

/// Up to `limit` customers whose id comes after `after` (`""`: from the first), in id order.
pub fn customers_after(
    conn: &ReadDb,
    after: &str,
    limit: u32,
    with_password_hashes: bool,
) -> StoreResult<Vec<Leaving>> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT id, email, identifier, status, created_at, language, password_hash, {}
         FROM customers WHERE id > ?1 ORDER BY id LIMIT ?2",
        customers::profile_columns("")
    ))?;
    let rows = statement.query_map(params![after, limit], |row: &Row<'_>| {
        let mut profile = Profile::default();
        for spec in FIELDS {
            profile.set(spec.field, row.get(spec.key)?);
        }
        Ok(Leaving {
            id: row.get("id")?,
            email: row.get("email")?,
            identifier: row.get("identifier")?,
            status: row.get("status")?,
            created_at: row.get("created_at")?,
            language: row.get("language")?,
            profile,
            password_hash: if with_password_hashes {
                row.get("password_hash")?
            } else {
                None
            },
            subscriptions: Vec::new(),
        })
    })?;
    let mut page = rows.collect::<StoreResult<Vec<Leaving>>>()?;
    for customer in &mut page {
        customer.subscriptions = held(conn, &customer.id)?;
    }
    Ok(page)
}

fn held(conn: &ReadDb, customer: &str) -> StoreResult<Vec<Held>> {
    let mut statement = conn.prepare_cached(
        "SELECT s.list_id, s.subscribed_at,
                (SELECT r.source FROM consent_records r
                 WHERE r.customer_id = s.customer_id AND r.list_id = s.list_id AND r.action = 'in'
                 ORDER BY r.id DESC LIMIT 1) AS source,
                CASE WHEN s.paused_until > ?2 THEN s.paused_until END AS paused_until
         FROM subscriptions s WHERE s.customer_id = ?1 ORDER BY s.list_id",
    )?;
    let rows = statement.query_map(params![customer, now()], |row: &Row<'_>| {
        Ok(Held {
            list: row.get("list_id")?,
            since: row.get("subscribed_at")?,
            source: row.get("source")?,
            paused_until: row.get("paused_until")?,
        })
    })?;
    rows.collect::<StoreResult<_>>()
}
