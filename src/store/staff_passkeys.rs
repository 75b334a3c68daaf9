//! Staff members' passkeys: each member's WebAuthn user handle (a column of `staff`) and their
//! credentials, apart from the customers' (`store::passkeys`, whose table of begun ceremonies
//! both share). The credentials are stored as the WebAuthn library serialises them.

use super::passkeys::PasskeyView;
use super::sql::{Db, OptionalRow, ReadDb, params};
use super::{StoreError, StoreResult, now};
use crate::domain::{PasskeyId, PasskeyName};
use crate::random::random_bytes;

/// A staff passkey found by its credential id, with its member's state.
#[derive(Clone, Debug)]
pub struct Owned {
    pub id: PasskeyId,
    pub staff_id: i64,
    pub email: String,
    pub handle: Vec<u8>,
    pub credential: String,
    /// Locked after repeated wrong passwords: no way in until `staff reset`.
    pub locked: bool,
}

/// The member's user handle, made (16 random bytes) on first use.
pub fn user_handle(conn: &Db, staff_id: i64) -> StoreResult<Vec<u8>> {
    let found: Option<Option<Vec<u8>>> = conn
        .prepare_cached("SELECT passkey_handle FROM staff WHERE id = ?1")?
        .query_row(params![staff_id], |row| row.only())
        .optional()?;
    if let Some(Some(handle)) = found {
        return Ok(handle);
    }
    let mut handle = vec![0u8; 16];
    random_bytes(&mut handle);
    conn.prepare_cached("UPDATE staff SET passkey_handle = ?2 WHERE id = ?1")?
        .execute(params![staff_id, handle])?;
    Ok(handle)
}

/// The credential ids of the member's passkeys.
pub fn credential_ids(conn: &ReadDb, staff_id: i64) -> StoreResult<Vec<Vec<u8>>> {
    let mut statement =
        conn.prepare_cached("SELECT credential_id FROM staff_passkeys WHERE staff_id = ?1")?;
    let rows = statement.query_map(params![staff_id], |row| row.only())?;
    rows.collect::<StoreResult<Vec<_>>>()
}

/// Adds a passkey to the member. A credential id already stored fails as a duplicate.
pub fn insert(
    conn: &Db,
    staff_id: i64,
    credential_id: &[u8],
    name: &PasskeyName,
    credential: &str,
) -> StoreResult<PasskeyView> {
    let view = PasskeyView {
        id: PasskeyId::random(),
        name: name.clone(),
        created_at: now(),
        last_used_at: None,
    };
    conn.prepare_cached(
        "INSERT INTO staff_passkeys (id, staff_id, credential_id, name, credential, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        view.id.as_str(),
        staff_id,
        credential_id,
        name.as_str(),
        credential,
        view.created_at
    ])?;
    Ok(view)
}

/// The member's passkeys, oldest first.
pub fn list(conn: &ReadDb, staff_id: i64) -> StoreResult<Vec<PasskeyView>> {
    conn.prepare_cached(
        "SELECT id, name, created_at, last_used_at FROM staff_passkeys
         WHERE staff_id = ?1 ORDER BY created_at, id",
    )?
    .query_map(params![staff_id], PasskeyView::read)?
    .collect()
}

/// Removes one of the member's passkeys; answers its name if there was such a passkey.
pub fn delete(conn: &Db, staff_id: i64, id: &PasskeyId) -> StoreResult<Option<String>> {
    conn.prepare_cached(
        "DELETE FROM staff_passkeys WHERE id = ?1 AND staff_id = ?2 RETURNING name",
    )?
    .query_row(params![id.as_str(), staff_id], |row| row.only())
    .optional()
}

/// The staff passkey with this credential id, its member and the member's user handle, if the
/// member has accepted their invitation.
pub fn find_by_credential(conn: &ReadDb, credential_id: &[u8]) -> StoreResult<Option<Owned>> {
    let row: Option<(String, i64, String, Vec<u8>, String, i64)> = conn
        .prepare_cached(
            "SELECT p.id, p.staff_id, m.email, m.passkey_handle, p.credential, m.locked
             FROM staff_passkeys p JOIN staff m ON m.id = p.staff_id
             WHERE p.credential_id = ?1 AND m.password_hash IS NOT NULL
               AND m.passkey_handle IS NOT NULL",
        )?
        .query_row(params![credential_id], |row| {
            Ok((
                row.get("id")?,
                row.get("staff_id")?,
                row.get("email")?,
                row.get("passkey_handle")?,
                row.get("credential")?,
                row.get("locked")?,
            ))
        })
        .optional()?;
    let Some((id, staff_id, email, handle, credential, locked)) = row else {
        return Ok(None);
    };
    Ok(Some(Owned {
        id: PasskeyId::parse(&id).map_err(StoreError::BadValue)?,
        staff_id,
        email,
        handle,
        credential,
        locked: locked != 0,
    }))
}

/// Records a sign-in with the passkey: when, and its credential as it now is (counter,
/// backup state).
pub fn record_use(conn: &Db, id: &PasskeyId, credential: &str) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE staff_passkeys SET credential = ?2, last_used_at = ?3 WHERE id = ?1",
    )?
    .execute(params![id.as_str(), credential, now()])?;
    Ok(())
}
