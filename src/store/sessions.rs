//! Login sessions: one row per bearer token, keyed by the token's SHA-256.

use rusqlite::{Connection, OptionalExtension, params};

use super::{StoreResult, now};
use crate::domain::CustomerId;

/// Records a new session for `customer` lasting `ttl_seconds`.
pub fn create(
    conn: &Connection,
    token_hash: &[u8],
    customer: &CustomerId,
    ttl_seconds: i64,
) -> StoreResult<()> {
    let now = now();
    conn.prepare_cached(
        "INSERT INTO sessions (token_hash, customer_id, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![token_hash, customer.as_str(), now, now + ttl_seconds])?;
    Ok(())
}

/// The customer a live (unexpired) session token belongs to. One primary-key lookup.
pub fn customer_of(conn: &Connection, token_hash: &[u8]) -> StoreResult<Option<CustomerId>> {
    let id: Option<String> = conn
        .prepare_cached(
            "SELECT customer_id FROM sessions WHERE token_hash = ?1 AND expires_at > ?2",
        )?
        .query_row(params![token_hash, now()], |row| row.get(0))
        .optional()?;
    Ok(id.and_then(|id| CustomerId::parse(&id).ok()))
}

/// Ends one session.
pub fn end(conn: &Connection, token_hash: &[u8]) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?
        .execute([token_hash])?;
    Ok(())
}

/// Ends every session of `customer` except the one with `keep` (if given).
pub fn end_all(
    conn: &Connection,
    customer: &CustomerId,
    keep: Option<&[u8]>,
) -> StoreResult<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM sessions WHERE customer_id = ?1 AND token_hash IS NOT ?2")?
        .execute(params![customer.as_str(), keep])?)
}

/// Deletes expired sessions; returns how many.
pub fn purge_expired(conn: &Connection) -> StoreResult<usize> {
    Ok(conn
        .prepare_cached("DELETE FROM sessions WHERE expires_at <= ?1")?
        .execute([now()])?)
}
