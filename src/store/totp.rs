//! Customers' second factor: the TOTP secret with the time step of the last code accepted, the
//! recovery codes (SHA-256 digests, each used once), and the sign-ins waiting for a code
//! (challenges, by SHA-256 digest, with the way the first factor was proven).

use super::sql::{Db, OptionalRow, ReadDb, params};
use super::{StoreResult, now};
use crate::domain::CustomerId;

/// A customer's TOTP as stored: the secret (base32), whether confirmed, the time step of the
/// last code accepted.
#[derive(Clone, Debug)]
pub struct Totp {
    pub secret: String,
    pub confirmed: bool,
    pub last_step: Option<i64>,
}

/// The customer's TOTP, if they began enrolling one.
pub fn of_customer(conn: &ReadDb, id: &CustomerId) -> StoreResult<Option<Totp>> {
    conn.prepare_cached(
        "SELECT secret, confirmed, last_step FROM customer_totp WHERE customer_id = ?1",
    )?
    .query_row(params![id.as_str()], |row| {
        Ok(Totp {
            secret: row.get("secret")?,
            confirmed: row.get::<i64>("confirmed")? != 0,
            last_step: row.get("last_step")?,
        })
    })
    .optional()
}

/// Whether the customer has a confirmed TOTP: a password or emailed code alone no longer signs
/// them in.
pub fn is_on(conn: &ReadDb, id: &CustomerId) -> StoreResult<bool> {
    conn.prepare_cached(
        "SELECT EXISTS(SELECT 1 FROM customer_totp WHERE customer_id = ?1 AND confirmed = 1)",
    )?
    .query_row(params![id.as_str()], |row| row.only())
}

/// A confirmed second factor as its owner sees it: since when, and how many recovery codes
/// are left unused.
#[derive(Clone, Debug)]
pub struct TotpStatus {
    /// Unix seconds.
    pub added_at: i64,
    pub recovery_codes_left: i64,
}

/// The customer's confirmed second factor, if any.
pub fn status(conn: &ReadDb, id: &CustomerId) -> StoreResult<Option<TotpStatus>> {
    conn.prepare_cached(
        "SELECT t.created_at AS added_at,
                (SELECT COUNT(*) FROM customer_recovery_codes r
                 WHERE r.customer_id = t.customer_id) AS recovery_codes_left
         FROM customer_totp t WHERE t.customer_id = ?1 AND t.confirmed = 1",
    )?
    .query_row(params![id.as_str()], |row| {
        Ok(TotpStatus {
            added_at: row.get("added_at")?,
            recovery_codes_left: row.get("recovery_codes_left")?,
        })
    })
    .optional()
}

/// Begins an enrollment: a new, unconfirmed secret, replacing an unconfirmed one. False when
/// the customer has a confirmed one already.
pub fn begin(conn: &Db, id: &CustomerId, secret: &str) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached(
            "INSERT INTO customer_totp (customer_id, secret, confirmed, last_step, created_at)
             VALUES (?1, ?2, 0, NULL, ?3)
             ON CONFLICT (customer_id) DO UPDATE SET secret = excluded.secret,
                 last_step = NULL, created_at = excluded.created_at
             WHERE customer_totp.confirmed = 0",
        )?
        .execute(params![id.as_str(), secret, now()])?
        == 1)
}

/// Accepts a code of time step `step` once: false when a code of this step or a later one was
/// accepted before (a replay).
pub fn use_step(conn: &Db, id: &CustomerId, step: i64) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached(
            "UPDATE customer_totp SET last_step = ?2
             WHERE customer_id = ?1 AND (last_step IS NULL OR last_step < ?2)",
        )?
        .execute(params![id.as_str(), step])?
        == 1)
}

/// Confirms the enrolled secret and replaces the recovery codes with these digests.
pub fn confirm(conn: &Db, id: &CustomerId, recovery_hashes: &[Vec<u8>]) -> StoreResult<()> {
    conn.prepare_cached("UPDATE customer_totp SET confirmed = 1 WHERE customer_id = ?1")?
        .execute(params![id.as_str()])?;
    conn.prepare_cached("DELETE FROM customer_recovery_codes WHERE customer_id = ?1")?
        .execute(params![id.as_str()])?;
    for hash in recovery_hashes {
        conn.prepare_cached(
            "INSERT INTO customer_recovery_codes (customer_id, code_hash) VALUES (?1, ?2)",
        )?
        .execute(params![id.as_str(), hash])?;
    }
    Ok(())
}

/// Removes the customer's second factor: the secret, the recovery codes and the sign-ins
/// waiting for a code. False when there was no confirmed one.
pub fn remove(conn: &Db, id: &CustomerId) -> StoreResult<bool> {
    let removed = conn
        .prepare_cached("DELETE FROM customer_totp WHERE customer_id = ?1 AND confirmed = 1")?
        .execute(params![id.as_str()])?
        == 1;
    // An unconfirmed enrollment goes too.
    conn.prepare_cached("DELETE FROM customer_totp WHERE customer_id = ?1")?
        .execute(params![id.as_str()])?;
    conn.prepare_cached("DELETE FROM customer_recovery_codes WHERE customer_id = ?1")?
        .execute(params![id.as_str()])?;
    conn.prepare_cached("DELETE FROM customer_challenges WHERE customer_id = ?1")?
        .execute(params![id.as_str()])?;
    Ok(removed)
}

/// Uses up one recovery code; false when the customer has no such (unused) code.
pub fn use_recovery_code(conn: &Db, id: &CustomerId, code_hash: &[u8]) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached(
            "DELETE FROM customer_recovery_codes WHERE customer_id = ?1 AND code_hash = ?2",
        )?
        .execute(params![id.as_str(), code_hash])?
        == 1)
}

/// A sign-in waiting for its second factor for `ttl_seconds`; `method` is how the first factor
/// was proven (`password`, `email_code`), for the session's activity line.
pub fn open_challenge(
    conn: &Db,
    hash: &[u8],
    id: &CustomerId,
    ttl_seconds: i64,
    method: &str,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO customer_challenges (challenge_hash, customer_id, expires_at, failed, method)
         VALUES (?1, ?2, ?3, 0, ?4)",
    )?
    .execute(params![hash, id.as_str(), now() + ttl_seconds, method])?;
    Ok(())
}

/// The customer a live challenge with fewer than `max_failures` wrong codes belongs to, and
/// how its first factor was proven.
pub fn challenged(
    conn: &ReadDb,
    hash: &[u8],
    max_failures: i64,
) -> StoreResult<Option<(CustomerId, String)>> {
    let row: Option<(String, String)> = conn
        .prepare_cached(
            "SELECT customer_id, method FROM customer_challenges
             WHERE challenge_hash = ?1 AND expires_at > ?2 AND failed < ?3",
        )?
        .query_row(params![hash, now(), max_failures], |row| {
            Ok((row.get("customer_id")?, row.get("method")?))
        })
        .optional()?;
    row.map(|(id, method)| {
        CustomerId::parse(&id)
            .map(|id| (id, method))
            .map_err(super::StoreError::BadValue)
    })
    .transpose()
}

/// Counts a wrong code against a challenge.
pub fn fail_challenge(conn: &Db, hash: &[u8]) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE customer_challenges SET failed = failed + 1 WHERE challenge_hash = ?1",
    )?
    .execute(params![hash])?;
    Ok(())
}

/// Ends a challenge (its sign-in finished).
pub fn end_challenge(conn: &Db, hash: &[u8]) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM customer_challenges WHERE challenge_hash = ?1")?
        .execute(params![hash])?;
    Ok(())
}

/// Deletes up to `limit` expired challenges; returns how many.
pub fn purge_expired_challenges(conn: &Db, limit: usize) -> StoreResult<usize> {
    conn.prepare_cached(
        "DELETE FROM customer_challenges WHERE challenge_hash IN \
             (SELECT challenge_hash FROM customer_challenges WHERE expires_at <= ?1 LIMIT ?2)",
    )?
    .execute(params![now(), limit as i64])
}
