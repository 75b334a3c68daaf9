//! Passkeys: each customer's WebAuthn user handle, their credentials, and the challenges of
//! ceremonies begun and not yet finished. The credentials and ceremony states are stored as
//! the WebAuthn library serialises them; this module does not look inside.

use super::sql::{Db, OptionalRow, ReadDb, Row, params};
use serde::Serialize;

use super::{StoreError, StoreResult, now};
use crate::domain::{CustomerId, PasskeyId, PasskeyName, format_time, rfc3339_field};
use crate::random::random_bytes;

/// A passkey as its customer sees it.
#[derive(Clone, Debug, Serialize)]
pub struct PasskeyView {
    pub id: PasskeyId,
    pub name: PasskeyName,
    #[serde(serialize_with = "rfc3339_field")]
    pub created_at: i64,
    #[serde(serialize_with = "optional_time")]
    pub last_used_at: Option<i64>,
}

impl PasskeyView {
    /// Reads a row of `id, name, created_at, last_used_at`, from the customers' passkeys or
    /// the staff's.
    pub(super) fn read(row: &Row) -> StoreResult<Self> {
        Ok(Self {
            id: PasskeyId::parse(&row.get::<String>("id")?).map_err(StoreError::BadValue)?,
            name: PasskeyName::stored(row.get("name")?),
            created_at: row.get("created_at")?,
            last_used_at: row.get("last_used_at")?,
        })
    }
}

fn optional_time<S: serde::Serializer>(unix: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match unix {
        Some(unix) => s.serialize_str(&format_time(*unix)),
        None => s.serialize_none(),
    }
}

/// A credential found by its id, with its owner and the owner's user handle.
#[derive(Clone, Debug)]
pub struct Owned {
    pub id: PasskeyId,
    pub customer: CustomerId,
    pub handle: Vec<u8>,
    pub credential: String,
}

/// What a ceremony is for. A ceremony is finished only for the purpose it was begun for, so a
/// customer's sign-in ceremony never signs a staff member in, nor the other way round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Adding a passkey to the account of the customer who began it.
    Register,
    /// Signing in with whichever passkey the browser offers.
    Login,
    /// Adding a passkey to the staff member who began it.
    StaffRegister,
    /// A staff member signing in with one of their passkeys.
    StaffLogin,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Register => "register",
            Purpose::Login => "login",
            Purpose::StaffRegister => "staff_register",
            Purpose::StaffLogin => "staff_login",
        }
    }
}

/// Who began a ceremony of adding a passkey (nobody, for a sign-in).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BegunBy {
    Nobody,
    Customer(CustomerId),
    /// A staff member, by id.
    Staff(i64),
}

/// A ceremony taken out of the table: who began it and its state.
#[derive(Clone, Debug)]
pub struct Taken {
    pub by: BegunBy,
    pub state: String,
}

/// A ceremony begun: the digest of its id, who began it and its state.
#[derive(Clone, Debug)]
pub struct NewChallenge<'a> {
    pub id_hash: &'a [u8],
    pub purpose: Purpose,
    pub by: &'a BegunBy,
    /// The client as the throttles count it ([`crate::throttle::client_net`]): the cap per
    /// client is kept by it, so a client is not many by moving within its /64.
    pub client_net: &'a str,
    pub state: &'a str,
    pub ttl_seconds: i64,
}

/// The customer's user handle, made (16 random bytes) on first use.
pub fn user_handle(conn: &Db, customer: &CustomerId) -> StoreResult<Vec<u8>> {
    let found: Option<Vec<u8>> = conn
        .prepare_cached("SELECT handle FROM passkey_users WHERE customer_id = ?1")?
        .query_row(params![customer.as_str()], |row| row.only())
        .optional()?;
    if let Some(handle) = found {
        return Ok(handle);
    }
    let mut handle = vec![0u8; 16];
    random_bytes(&mut handle);
    conn.prepare_cached("INSERT INTO passkey_users (customer_id, handle) VALUES (?1, ?2)")?
        .execute(params![customer.as_str(), handle])?;
    Ok(handle)
}

/// The credential ids of the customer's passkeys.
pub fn credential_ids(conn: &ReadDb, customer: &CustomerId) -> StoreResult<Vec<Vec<u8>>> {
    let mut statement =
        conn.prepare_cached("SELECT credential_id FROM passkeys WHERE customer_id = ?1")?;
    let rows = statement.query_map(params![customer.as_str()], |row| row.only())?;
    rows.collect::<StoreResult<Vec<_>>>()
}

/// Adds a passkey to the customer's account, registered by the session with public id
/// `session_id`. A credential id already stored (for anyone) fails as a duplicate `credential`.
pub fn insert(
    conn: &Db,
    customer: &CustomerId,
    credential_id: &[u8],
    name: &PasskeyName,
    credential: &str,
    session_id: Option<&str>,
) -> StoreResult<PasskeyView> {
    let view = PasskeyView {
        id: PasskeyId::random(),
        name: name.clone(),
        created_at: now(),
        last_used_at: None,
    };
    conn.prepare_cached(
        "INSERT INTO passkeys (id, customer_id, credential_id, name, credential, created_at, session_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        view.id.as_str(),
        customer.as_str(),
        credential_id,
        name.as_str(),
        credential,
        view.created_at,
        session_id
    ])?;
    Ok(view)
}

/// The customer's passkeys, oldest first.
pub fn list(conn: &ReadDb, customer: &CustomerId) -> StoreResult<Vec<PasskeyView>> {
    conn.prepare_cached(
        "SELECT id, name, created_at, last_used_at FROM passkeys
         WHERE customer_id = ?1 ORDER BY created_at, id",
    )?
    .query_map(params![customer.as_str()], PasskeyView::read)?
    .collect()
}

/// Removes one of the customer's passkeys; answers whether there was such a passkey.
pub fn delete(conn: &Db, customer: &CustomerId, id: &PasskeyId) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM passkeys WHERE id = ?1 AND customer_id = ?2")?
        .execute(params![id.as_str(), customer.as_str()])?
        > 0)
}

/// Removes the customer's passkeys that the session with public id `session_id` registered;
/// answers how many.
pub fn delete_registered_by(
    conn: &Db,
    customer: &CustomerId,
    session_id: &str,
) -> StoreResult<usize> {
    conn.prepare_cached("DELETE FROM passkeys WHERE customer_id = ?1 AND session_id = ?2")?
        .execute(params![customer.as_str(), session_id])
}

/// Removes the customer's passkeys registered at or after `since`; answers how many.
pub fn delete_registered_since(conn: &Db, customer: &CustomerId, since: i64) -> StoreResult<usize> {
    conn.prepare_cached("DELETE FROM passkeys WHERE customer_id = ?1 AND created_at >= ?2")?
        .execute(params![customer.as_str(), since])
}

/// The passkey with this credential id, its owner and the owner's user handle, if its owner's
/// account is active.
pub fn find_by_credential(conn: &ReadDb, credential_id: &[u8]) -> StoreResult<Option<Owned>> {
    let row: Option<(String, String, Vec<u8>, String)> = conn
        .prepare_cached(
            "SELECT p.id, p.customer_id, u.handle, p.credential
             FROM passkeys p
             JOIN passkey_users u ON u.customer_id = p.customer_id
             JOIN customers c ON c.id = p.customer_id
             WHERE p.credential_id = ?1 AND c.status = 'active'",
        )?
        .query_row(params![credential_id], |row| {
            Ok((
                row.get("id")?,
                row.get("customer_id")?,
                row.get("handle")?,
                row.get("credential")?,
            ))
        })
        .optional()?;
    let Some((id, customer, handle, credential)) = row else {
        return Ok(None);
    };
    Ok(Some(Owned {
        id: PasskeyId::parse(&id).map_err(super::StoreError::BadValue)?,
        customer: CustomerId::parse(&customer).map_err(super::StoreError::BadValue)?,
        handle,
        credential,
    }))
}

/// Records a sign-in with the passkey: when, and its credential as it now is (counter,
/// backup state).
pub fn record_use(conn: &Db, id: &PasskeyId, credential: &str) -> StoreResult<()> {
    conn.prepare_cached("UPDATE passkeys SET credential = ?2, last_used_at = ?3 WHERE id = ?1")?
        .execute(params![id.as_str(), credential, now()])?;
    Ok(())
}

/// Stores a ceremony begun, after sweeping the expired ones and, past `per_ip` ceremonies of
/// its client's network or `total` in all, the oldest ones: the table stays bounded whatever
/// the traffic.
pub fn save_challenge(
    conn: &Db,
    challenge: &NewChallenge<'_>,
    per_ip: usize,
    total: usize,
) -> StoreResult<()> {
    let now = now();
    purge_expired_challenges(conn, total)?;
    conn.prepare_cached(
        "DELETE FROM passkey_challenges WHERE id_hash IN (
             SELECT id_hash FROM passkey_challenges WHERE ip = ?1
             ORDER BY created_at DESC, rowid DESC LIMIT 9223372036854775807 OFFSET ?2)",
    )?
    .execute(params![
        challenge.client_net,
        per_ip.saturating_sub(1) as i64
    ])?;
    conn.prepare_cached(
        "DELETE FROM passkey_challenges WHERE id_hash IN (
             SELECT id_hash FROM passkey_challenges
             ORDER BY created_at DESC, rowid DESC LIMIT 9223372036854775807 OFFSET ?1)",
    )?
    .execute(params![total.saturating_sub(1) as i64])?;
    conn.prepare_cached(
        "INSERT INTO passkey_challenges
             (id_hash, purpose, customer_id, staff_id, ip, state, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        challenge.id_hash,
        challenge.purpose.as_str(),
        match challenge.by {
            BegunBy::Customer(c) => Some(c.as_str()),
            _ => None,
        },
        match challenge.by {
            BegunBy::Staff(id) => Some(*id),
            _ => None,
        },
        challenge.client_net,
        challenge.state,
        now,
        now + challenge.ttl_seconds
    ])?;
    Ok(())
}

/// Takes the ceremony with this id digest and purpose out of the table (it can be finished
/// once only); answers who began it and its state, if it had not expired.
pub fn take_challenge(conn: &Db, id_hash: &[u8], purpose: Purpose) -> StoreResult<Option<Taken>> {
    let row: Option<(Option<String>, Option<i64>, String, i64)> = conn
        .prepare_cached(
            "DELETE FROM passkey_challenges WHERE id_hash = ?1 AND purpose = ?2
             RETURNING customer_id, staff_id, state, expires_at",
        )?
        .query_row(params![id_hash, purpose.as_str()], |row| {
            Ok((
                row.get("customer_id")?,
                row.get("staff_id")?,
                row.get("state")?,
                row.get("expires_at")?,
            ))
        })
        .optional()?;
    let Some((customer, staff, state, expires_at)) = row else {
        return Ok(None);
    };
    if expires_at <= now() {
        return Ok(None);
    }
    let by = match (customer, staff) {
        (Some(c), _) => {
            BegunBy::Customer(CustomerId::parse(&c).map_err(super::StoreError::BadValue)?)
        }
        (None, Some(id)) => BegunBy::Staff(id),
        (None, None) => BegunBy::Nobody,
    };
    Ok(Some(Taken { by, state }))
}

/// How many ceremonies are stored (for the tests of the bound).
pub fn challenge_count(conn: &ReadDb) -> StoreResult<i64> {
    conn.query_row(
        "SELECT COUNT(*) FROM passkey_challenges",
        params![],
        |row| row.only(),
    )
}

/// Deletes up to `limit` expired ceremonies; returns how many.
pub fn purge_expired_challenges(conn: &Db, limit: usize) -> StoreResult<usize> {
    conn.prepare_cached(
        "DELETE FROM passkey_challenges WHERE id_hash IN \
             (SELECT id_hash FROM passkey_challenges WHERE expires_at <= ?1 LIMIT ?2)",
    )?
    .execute(params![now(), limit as i64])
}

/// A ceremony the customer began and has not finished (its state is never exported).
#[derive(Clone, Debug, Serialize)]
pub struct ChallengeRecord {
    pub purpose: String,
    #[serde(serialize_with = "rfc3339_field")]
    pub created_at: i64,
    #[serde(serialize_with = "rfc3339_field")]
    pub expires_at: i64,
}

/// The customer's user handle in hex, if they ever began adding a passkey.
pub fn exported_handle(conn: &ReadDb, customer: &CustomerId) -> StoreResult<Option<String>> {
    let handle: Option<Vec<u8>> = conn
        .prepare_cached("SELECT handle FROM passkey_users WHERE customer_id = ?1")?
        .query_row(params![customer.as_str()], |row| row.only())
        .optional()?;
    Ok(handle.map(|h| h.iter().map(|b| format!("{b:02x}")).collect()))
}

/// The ceremonies the customer began and has not finished, oldest first.
pub fn exported_challenges(
    conn: &ReadDb,
    customer: &CustomerId,
) -> StoreResult<Vec<ChallengeRecord>> {
    let mut statement = conn.prepare_cached(
        "SELECT purpose, created_at, expires_at FROM passkey_challenges
         WHERE customer_id = ?1 ORDER BY created_at, rowid",
    )?;
    let rows = statement.query_map(params![customer.as_str()], |row| {
        Ok(ChallengeRecord {
            purpose: row.get("purpose")?,
            created_at: row.get("created_at")?,
            expires_at: row.get("expires_at")?,
        })
    })?;
    rows.collect::<StoreResult<Vec<_>>>()
}
