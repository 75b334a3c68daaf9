//! Login sessions: one row per bearer token, keyed by the token's SHA-256, with a public id
//! for the customer's list, when it was opened, last used and last authenticated (its sign-in
//! or a reauthentication), and from where.

use super::sql::{Db, OptionalRow, ReadDb, params};

use super::{StoreResult, now};
use crate::domain::{Client, CustomerId, SessionId};

/// `last_used_at` is refreshed when it is at least this old, so that most requests only read.
pub const TOUCH_EVERY_SECONDS: i64 = 60;

/// A live session as its customer sees it.
#[derive(Clone, Debug)]
pub struct SessionInfo {
    pub id: SessionId,
    pub token_hash: Vec<u8>,
    pub created_at: i64,
    pub last_used_at: i64,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Who a live session belongs to, when it was last marked used and when its holder last proved
/// a credential (`None`: never, for sessions older than that record).
#[derive(Clone, Debug)]
pub struct Holder {
    pub customer: CustomerId,
    pub last_used_at: i64,
    pub authenticated_at: Option<i64>,
}

/// Records a new session for `customer` lasting `ttl_seconds`, opened by `client` with a
/// credential just checked (it counts as authenticated now).
pub fn create(
    conn: &Db,
    token_hash: &[u8],
    customer: &CustomerId,
    ttl_seconds: i64,
    client: &Client,
) -> StoreResult<SessionId> {
    let now = now();
    let id = SessionId::random();
    conn.prepare_cached(
        "INSERT INTO sessions
             (token_hash, customer_id, created_at, expires_at, public_id, last_used_at, ip, user_agent,
              authenticated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?3, ?6, ?7, ?3)",
    )?
    .execute(params![
        token_hash,
        customer.as_str(),
        now,
        now + ttl_seconds,
        id.as_str(),
        client.ip.to_string(),
        client.user_agent
    ])?;
    Ok(id)
}

/// The customer a live (unexpired) session token belongs to. One primary-key lookup.
pub fn customer_of(conn: &ReadDb, token_hash: &[u8]) -> StoreResult<Option<CustomerId>> {
    Ok(holder_of(conn, token_hash)?.map(|h| h.customer))
}

/// The holder of a live session token, when it was last marked used and last authenticated.
/// One primary-key lookup.
pub fn holder_of(conn: &ReadDb, token_hash: &[u8]) -> StoreResult<Option<Holder>> {
    let row: Option<(String, i64, Option<i64>)> = conn
        .prepare_cached(
            "SELECT customer_id, last_used_at, authenticated_at FROM sessions
             WHERE token_hash = ?1 AND expires_at > ?2",
        )?
        .query_row(params![token_hash, now()], |row| {
            Ok((
                row.get("customer_id")?,
                row.get("last_used_at")?,
                row.get("authenticated_at")?,
            ))
        })
        .optional()?;
    Ok(row.and_then(|(id, last_used_at, authenticated_at)| {
        CustomerId::parse(&id).ok().map(|customer| Holder {
            customer,
            last_used_at,
            authenticated_at,
        })
    }))
}

/// Records that the holder of a live session proved a credential now; false when the session
/// is gone.
pub fn mark_authenticated(conn: &Db, token_hash: &[u8]) -> StoreResult<bool> {
    let now = now();
    Ok(conn
        .prepare_cached(
            "UPDATE sessions SET authenticated_at = ?2 WHERE token_hash = ?1 AND expires_at > ?2",
        )?
        .execute(params![token_hash, now])?
        == 1)
}

/// The public id of a live session, for what it adds to the account (a passkey).
pub fn public_id_of(conn: &ReadDb, token_hash: &[u8]) -> StoreResult<Option<String>> {
    conn.prepare_cached("SELECT public_id FROM sessions WHERE token_hash = ?1")?
        .query_row(params![token_hash], |row| row.only::<Option<String>>())
        .optional()
        .map(Option::flatten)
}

/// Marks a session used now, unless it was marked less than [`TOUCH_EVERY_SECONDS`] ago.
pub fn touch(conn: &Db, token_hash: &[u8]) -> StoreResult<()> {
    let now = now();
    conn.prepare_cached(
        "UPDATE sessions SET last_used_at = ?2 WHERE token_hash = ?1 AND last_used_at <= ?3",
    )?
    .execute(params![token_hash, now, now - TOUCH_EVERY_SECONDS])?;
    Ok(())
}

/// Whether a session last marked used at `last_used_at` is due to be marked again.
pub fn due_for_touch(last_used_at: i64) -> bool {
    now() - last_used_at >= TOUCH_EVERY_SECONDS
}

/// The customer's live sessions, most recently used first.
pub fn list(conn: &ReadDb, customer: &CustomerId) -> StoreResult<Vec<SessionInfo>> {
    let mut statement = conn.prepare_cached(
        "SELECT public_id, token_hash, created_at, last_used_at, ip, user_agent FROM sessions
         WHERE customer_id = ?1 AND expires_at > ?2
         ORDER BY last_used_at DESC, created_at DESC",
    )?;
    let rows = statement.query_map(params![customer.as_str(), now()], |row| {
        let id: Option<String> = row.get("public_id")?;
        Ok(SessionInfo {
            id: id
                .and_then(|id| SessionId::parse(&id).ok())
                .unwrap_or_else(SessionId::random),
            token_hash: row.get("token_hash")?,
            created_at: row.get("created_at")?,
            last_used_at: row.get("last_used_at")?,
            ip: row.get("ip")?,
            user_agent: row.get("user_agent")?,
        })
    })?;
    rows.collect::<StoreResult<Vec<_>>>()
}

/// Ends one session.
pub fn end(conn: &Db, token_hash: &[u8]) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM sessions WHERE token_hash = ?1")?
        .execute(params![token_hash])?;
    Ok(())
}

/// Ends the session of `customer` with public id `id`; false when the customer has no such
/// session (another customer's id included).
pub fn end_by_id(conn: &Db, customer: &CustomerId, id: &SessionId) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM sessions WHERE customer_id = ?1 AND public_id = ?2")?
        .execute(params![customer.as_str(), id.as_str()])?
        == 1)
}

/// Ends every session of `customer` except the one with `keep` (if given).
pub fn end_all(conn: &Db, customer: &CustomerId, keep: Option<&[u8]>) -> StoreResult<usize> {
    conn.prepare_cached(
        "DELETE FROM sessions WHERE customer_id = ?1 AND token_hash IS DISTINCT FROM ?2",
    )?
    .execute(params![customer.as_str(), keep])
}

/// Deletes up to `limit` expired sessions; returns how many.
pub fn purge_expired(conn: &Db, limit: usize) -> StoreResult<usize> {
    conn.prepare_cached(
        "DELETE FROM sessions WHERE token_hash IN \
             (SELECT token_hash FROM sessions WHERE expires_at <= ?1 LIMIT ?2)",
    )?
    .execute(params![now(), limit as i64])
}
