//! Keys the server makes for itself and keeps in the database, so that what they sign stays
//! valid across restarts and in a restored backup.

use super::sql::{Db, OptionalRow, params};

use super::{StoreError, StoreResult, now};

/// The key named `name`, storing `fresh` as that key first if there is none yet.
pub fn get_or_insert(conn: &Db, name: &str, fresh: &[u8; 32]) -> StoreResult<[u8; 32]> {
    conn.prepare_cached(
        "INSERT INTO server_keys (name, key, created_at) VALUES (?1, ?2, ?3)
         ON CONFLICT (name) DO NOTHING",
    )?
    .execute(params![name, fresh.as_slice(), now()])?;
    let key: Option<Vec<u8>> = conn
        .prepare_cached("SELECT key FROM server_keys WHERE name = ?1")?
        .query_row(params![name], |row| row.only())
        .optional()?;
    key.and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok())
        .ok_or_else(|| StoreError::BadValue(format!("server key `{name}` is not 32 bytes")))
}

/// The key named `name`, read (or made) once and then kept in `cell`.
pub async fn cached(
    store: &super::Store,
    cell: &tokio::sync::OnceCell<[u8; 32]>,
    name: &'static str,
) -> StoreResult<[u8; 32]> {
    let key = cell
        .get_or_try_init(|| async move {
            let mut fresh = [0u8; 32];
            crate::random::random_bytes(&mut fresh);
            store.write(move |tx| get_or_insert(tx, name, &fresh)).await
        })
        .await?;
    Ok(*key)
}
