//! Self sign-ups waiting for their activation: the lists the visitor chose, kept on the
//! customer until the owner of the address activates (double opt-in), and the sign-ups whose
//! activation ran out, for housekeeping to delete.

use std::collections::BTreeSet;

use super::StoreResult;
use super::sql::{Db, OptionalRow, ReadDb, params};
use crate::domain::CustomerId;

/// Marks a customer created by a sign-up, with the lists chosen on the form: they are joined
/// only at the activation ([`finish`]).
pub fn begin(conn: &Db, customer: &CustomerId, lists: &BTreeSet<String>) -> StoreResult<()> {
    let lists: Vec<&str> = lists.iter().map(String::as_str).collect();
    conn.prepare_cached("UPDATE customers SET sign_up_lists = ?2 WHERE id = ?1")?
        .execute(params![customer.as_str(), lists.join(";")])?;
    Ok(())
}

/// Whether the customer signed up themselves and has not activated yet.
pub fn is_waiting(conn: &ReadDb, customer: &CustomerId) -> StoreResult<bool> {
    Ok(lists(conn, customer)?.is_some())
}

/// Ends the customer's sign-up, at their activation: answers the lists chosen on the form, or
/// `None` for a customer who did not sign up themselves.
pub fn finish(conn: &Db, customer: &CustomerId) -> StoreResult<Option<Vec<String>>> {
    let chosen = lists(conn, customer)?;
    if chosen.is_some() {
        conn.prepare_cached("UPDATE customers SET sign_up_lists = NULL WHERE id = ?1")?
            .execute(params![customer.as_str()])?;
    }
    Ok(chosen)
}

fn lists(conn: &ReadDb, customer: &CustomerId) -> StoreResult<Option<Vec<String>>> {
    let stored: Option<String> = conn
        .prepare_cached("SELECT sign_up_lists FROM customers WHERE id = ?1")?
        .query_row(params![customer.as_str()], |row| row.only())
        .optional()?
        .flatten();
    Ok(stored.map(|lists| {
        lists
            .split(';')
            .filter(|list| !list.is_empty())
            .map(str::to_owned)
            .collect()
    }))
}

/// Up to `limit` waiting sign-ups whose activation expired by `now`. Found through the
/// expired activation codes, so housekeeping must ask before it sweeps the codes away.
pub fn expired(conn: &ReadDb, now: i64, limit: usize) -> StoreResult<Vec<CustomerId>> {
    let mut statement = conn.prepare_cached(
        "SELECT c.id FROM one_time_codes o JOIN customers c ON c.id = o.customer_id
         WHERE o.expires_at <= ?1 AND o.purpose = 'activation'
           AND c.status = 'pending' AND c.sign_up_lists IS NOT NULL
         LIMIT ?2",
    )?;
    let rows = statement.query_map(params![now, limit as i64], |row| row.only::<String>())?;
    rows.map(|id| CustomerId::parse(&id?).map_err(|e| super::StoreError::BadValue(e.to_string())))
        .collect()
}
