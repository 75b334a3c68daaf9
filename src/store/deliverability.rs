//! What bounces and complaints leave on a customer: the undeliverable mark of their address
//! and the count of temporary failures that leads to it.

use super::sql::{Db, OptionalRow, ReadDb, params};
use super::{StoreResult, now};
use crate::domain::CustomerId;

/// The email an outbox id names: its recipient and, if it was sent to a customer, who.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SentEmail {
    pub recipient: String,
    pub customer_id: Option<String>,
}

/// The outbox email with this id, while it is kept.
pub fn sent_email(conn: &ReadDb, id: i64) -> StoreResult<Option<SentEmail>> {
    conn.prepare_cached("SELECT recipient, customer_id FROM outbox WHERE id = ?1")?
        .query_row(params![id], |row| {
            Ok(SentEmail {
                recipient: row.get("recipient")?,
                customer_id: row.get("customer_id")?,
            })
        })
        .optional()
}

/// The outbox email with this Message-ID (without `<>`), while it is kept.
pub fn sent_email_by_message_id(conn: &ReadDb, message_id: &str) -> StoreResult<Option<SentEmail>> {
    conn.prepare_cached("SELECT recipient, customer_id FROM outbox WHERE message_id = ?1")?
        .query_row(params![message_id], |row| {
            Ok(SentEmail {
                recipient: row.get("recipient")?,
                customer_id: row.get("customer_id")?,
            })
        })
        .optional()
}

/// A customer's address as bounces left it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddressState {
    pub id: CustomerId,
    pub email: String,
    pub undeliverable_at: Option<i64>,
    pub undeliverable_reason: Option<String>,
    pub soft_bounces: i64,
}

/// The customer whose address is `email` (lower case), if any.
pub fn by_email(conn: &ReadDb, email: &str) -> StoreResult<Option<AddressState>> {
    state(conn, "email", email)
}

/// The customer with this id, if any.
pub fn by_id(conn: &ReadDb, id: &str) -> StoreResult<Option<AddressState>> {
    state(conn, "id", id)
}

fn state(conn: &ReadDb, column: &str, value: &str) -> StoreResult<Option<AddressState>> {
    let sql = format!(
        "SELECT id, email, undeliverable_at, undeliverable_reason, soft_bounces FROM customers
         WHERE {column} = ?1"
    );
    conn.prepare_cached(&sql)?
        .query_row(params![value], |row| {
            let id: String = row.get("id")?;
            Ok(AddressState {
                id: CustomerId::parse(&id).map_err(|e| {
                    rusqlite::Error::FromSqlConversionFailure(
                        0,
                        rusqlite::types::Type::Text,
                        e.into(),
                    )
                })?,
                email: row.get("email")?,
                undeliverable_at: row.get("undeliverable_at")?,
                undeliverable_reason: row.get("undeliverable_reason")?,
                soft_bounces: row.get("soft_bounces")?,
            })
        })
        .optional()
}

/// Marks the customer's address undeliverable for `reason`, unless it already is; answers
/// whether it was marked now.
pub fn mark_undeliverable(conn: &Db, id: &CustomerId, reason: &str) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached(
            "UPDATE customers SET undeliverable_at = ?2, undeliverable_reason = ?3
             WHERE id = ?1 AND undeliverable_at IS NULL",
        )?
        .execute(params![id.as_str(), now(), reason])?
        == 1)
}

/// Counts one more temporary failure for the customer's address; answers the count.
pub fn count_soft_bounce(conn: &Db, id: &CustomerId) -> StoreResult<i64> {
    conn.prepare_cached("UPDATE customers SET soft_bounces = soft_bounces + 1 WHERE id = ?1")?
        .execute(params![id.as_str()])?;
    conn.prepare_cached("SELECT soft_bounces FROM customers WHERE id = ?1")?
        .query_row(params![id.as_str()], |row| row.only())
}
