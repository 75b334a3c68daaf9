//! Keys that undo a confirmed email change: one per change, mailed to the replaced address,
//! stored hashed, single use, expiring, dead for the customer after 5 wrong tries.

use super::sql::{Db, params};
use subtle::ConstantTimeEq;

use super::codes::MAX_FAILED_ATTEMPTS;
use super::{StoreResult, now};
use crate::domain::CustomerId;

/// What a presented undo key opens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UndoCheck {
    /// The key is right and live: the address its change replaced, and when that change was
    /// asked for (`None` for keys issued before this was recorded).
    Valid {
        old_email: String,
        asked_at: Option<i64>,
    },
    /// Wrong, expired, used or out of tries.
    Invalid,
}

/// The change an undo key reverses: from `old_email` to `new_email`, asked for at `asked_at`.
pub struct Change<'a> {
    pub old_email: &'a str,
    pub new_email: &'a str,
    pub asked_at: i64,
}

/// Stores the key of `change`.
pub fn issue(
    conn: &Db,
    customer: &CustomerId,
    key_hash: &[u8],
    change: &Change<'_>,
    ttl_seconds: i64,
) -> StoreResult<()> {
    let now = now();
    conn.prepare_cached(
        "INSERT INTO email_undo_keys
             (customer_id, key_hash, old_email, new_email, failed_attempts, created_at, expires_at,
              asked_at)
         VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6, ?7)",
    )?
    .execute(params![
        customer.as_str(),
        key_hash,
        change.old_email,
        change.new_email,
        now,
        now + ttl_seconds,
        change.asked_at
    ])?;
    Ok(())
}

/// Checks a presented key against every live key of the customer. A right key is deleted (it
/// works once); a wrong one counts against all of the customer's keys, which die at the limit.
/// Run it inside a write transaction so that concurrent guesses are counted one by one.
pub fn check(conn: &Db, customer: &CustomerId, presented_hash: &[u8]) -> StoreResult<UndoCheck> {
    conn.prepare_cached(
        "DELETE FROM email_undo_keys WHERE customer_id = ?1 AND (expires_at <= ?2 OR failed_attempts >= ?3)",
    )?
    .execute(params![customer.as_str(), now(), MAX_FAILED_ATTEMPTS])?;
    let mut statement = conn.prepare_cached(
        "SELECT id, key_hash, old_email, asked_at FROM email_undo_keys WHERE customer_id = ?1",
    )?;
    let keys = statement
        .query_map(params![customer.as_str()], |row| {
            Ok((
                row.get::<i64>("id")?,
                row.get::<Vec<u8>>("key_hash")?,
                row.get::<String>("old_email")?,
                row.get::<Option<i64>>("asked_at")?,
            ))
        })?
        .collect::<StoreResult<Vec<_>>>()?;
    // Every stored key is compared, so the time taken says nothing about which one matched.
    let mut found = None;
    for (id, hash, old_email, asked_at) in keys.iter() {
        if bool::from(hash.ct_eq(presented_hash)) {
            found = Some((*id, old_email.clone(), *asked_at));
        }
    }
    if let Some((id, old_email, asked_at)) = found {
        conn.prepare_cached("DELETE FROM email_undo_keys WHERE id = ?1")?
            .execute(params![id])?;
        return Ok(UndoCheck::Valid {
            old_email,
            asked_at,
        });
    }
    if !keys.is_empty() {
        conn.prepare_cached(
            "UPDATE email_undo_keys SET failed_attempts = failed_attempts + 1 WHERE customer_id = ?1",
        )?
        .execute(params![customer.as_str()])?;
        conn.prepare_cached(
            "DELETE FROM email_undo_keys WHERE customer_id = ?1 AND failed_attempts >= ?2",
        )?
        .execute(params![customer.as_str(), MAX_FAILED_ATTEMPTS])?;
    }
    Ok(UndoCheck::Invalid)
}

/// Deletes every undo key of the customer (once one is used, the others would move the
/// restored address away again).
pub fn revoke_all(conn: &Db, customer: &CustomerId) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM email_undo_keys WHERE customer_id = ?1")?
        .execute(params![customer.as_str()])?;
    Ok(())
}

/// Deletes up to `limit` expired keys; returns how many.
pub fn purge_expired(conn: &Db, limit: usize) -> StoreResult<usize> {
    conn.prepare_cached(
        "DELETE FROM email_undo_keys WHERE id IN \
             (SELECT id FROM email_undo_keys WHERE expires_at <= ?1 LIMIT ?2)",
    )?
    .execute(params![now(), limit as i64])
}
