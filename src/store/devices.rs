//! The devices customers sign in from (a digest of the User-Agent and the client's network),
//! and the keys of the "this wasn't me" links that a sign-in from a new one sends.

use super::sql::{Db, OptionalRow, params};

use super::{StoreResult, now};
use crate::domain::CustomerId;

/// Records a sign-in from `device` now; answers whether the device had been seen within
/// `known_seconds` before.
pub fn sign_in_from(
    conn: &Db,
    customer: &CustomerId,
    device: &[u8],
    known_seconds: i64,
) -> StoreResult<bool> {
    let now = now();
    let last_seen: Option<i64> = conn
        .prepare_cached(
            "SELECT last_seen_at FROM known_devices WHERE customer_id = ?1 AND device_hash = ?2",
        )?
        .query_row(params![customer.as_str(), device], |row| row.only())
        .optional()?;
    conn.prepare_cached(
        "INSERT INTO known_devices (customer_id, device_hash, last_seen_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (customer_id, device_hash) DO UPDATE SET last_seen_at = excluded.last_seen_at",
    )?
    .execute(params![customer.as_str(), device, now])?;
    Ok(last_seen.is_some_and(|seen| seen > now - known_seconds))
}

/// Forgets one device of the customer: its next sign-in is new again.
pub fn forget(conn: &Db, customer: &CustomerId, device: &[u8]) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM known_devices WHERE customer_id = ?1 AND device_hash = ?2")?
        .execute(params![customer.as_str(), device])?;
    Ok(())
}

/// Whether the customer's next sign-in is exempt from the new-device notice (the first after
/// an activation, a reset or a secured account), clearing the exemption.
pub fn take_notice_exemption(conn: &Db, customer: &CustomerId) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached(
            "UPDATE customers SET device_notice_skip = 0 WHERE id = ?1 AND device_notice_skip <> 0",
        )?
        .execute(params![customer.as_str()])?
        == 1)
}

/// Exempts the customer's next sign-in from the new-device notice.
pub fn exempt_next_sign_in(conn: &Db, customer: &CustomerId) -> StoreResult<()> {
    conn.prepare_cached("UPDATE customers SET device_notice_skip = 1 WHERE id = ?1")?
        .execute(params![customer.as_str()])?;
    Ok(())
}

/// What a "this wasn't me" key names: the session whose sign-in it reported, and its device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reported {
    pub session_id: String,
    pub device: Vec<u8>,
}

/// Stores the key (its SHA-256) of the "this wasn't me" link reporting a sign-in.
pub fn issue_not_me(
    conn: &Db,
    customer: &CustomerId,
    key_hash: &[u8],
    reported: &Reported,
    ttl_seconds: i64,
) -> StoreResult<()> {
    let now = now();
    conn.prepare_cached(
        "INSERT INTO not_me_keys (key_hash, customer_id, session_id, device_hash, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        key_hash,
        customer.as_str(),
        reported.session_id,
        reported.device,
        now,
        now + ttl_seconds
    ])?;
    Ok(())
}

/// Uses up the customer's live "this wasn't me" key `key_hash`: answers what it reported, and
/// deletes every key of the customer (the account is secured once). The key is 16 random
/// characters of 36 (82 bits) looked up by digest: guessing is bounded by the client's budget.
pub fn take_not_me(
    conn: &Db,
    customer: &CustomerId,
    key_hash: &[u8],
) -> StoreResult<Option<Reported>> {
    let reported = conn
        .prepare_cached(
            "SELECT session_id, device_hash FROM not_me_keys
             WHERE key_hash = ?1 AND customer_id = ?2 AND expires_at > ?3",
        )?
        .query_row(params![key_hash, customer.as_str(), now()], |row| {
            Ok(Reported {
                session_id: row.get("session_id")?,
                device: row.get("device_hash")?,
            })
        })
        .optional()?;
    if reported.is_some() {
        conn.prepare_cached("DELETE FROM not_me_keys WHERE customer_id = ?1")?
            .execute(params![customer.as_str()])?;
    }
    Ok(reported)
}

/// Deletes up to `limit` expired "this wasn't me" keys; returns how many.
pub fn purge_expired(conn: &Db, limit: usize) -> StoreResult<usize> {
    conn.prepare_cached(
        "DELETE FROM not_me_keys WHERE key_hash IN \
             (SELECT key_hash FROM not_me_keys WHERE expires_at <= ?1 LIMIT ?2)",
    )?
    .execute(params![now(), limit as i64])
}
