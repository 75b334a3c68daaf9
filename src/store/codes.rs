//! One-time codes sent by email (activation, password reset, email change, sign-in): stored
//! hashed, one live code per customer and purpose, expiring, with a bounded number of wrong
//! tries. The wrong tries of a code typed with an address (a reset code, a sign-in code) are
//! counted per address, known or not, so that a refusal does the same work whether or not an
//! account has the address.

use super::sql::{Db, OptionalRow, params};
use subtle::ConstantTimeEq;

use super::{StoreResult, now};
use crate::domain::{CustomerId, EmailAddress};

/// Wrong tries after which a code is destroyed.
pub const MAX_FAILED_ATTEMPTS: i64 = 5;

/// What a one-time code is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Activation,
    PasswordReset,
    EmailChange,
    LoginCode,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Activation => "activation",
            Purpose::PasswordReset => "password_reset",
            Purpose::EmailChange => "email_change",
            Purpose::LoginCode => "login_code",
        }
    }
}

/// The result of presenting a code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CodeCheck {
    /// The code is right and live: when it was issued and, for an email change, the address
    /// it confirms.
    Valid {
        new_email: Option<String>,
        issued_at: i64,
    },
    /// Wrong, expired, used, replaced or out of tries.
    Invalid,
}

/// Stores a fresh code, replacing any earlier code of the same purpose.
pub fn issue(
    conn: &Db,
    customer: &CustomerId,
    purpose: Purpose,
    code_hash: &[u8],
    new_email: Option<&str>,
    ttl_seconds: i64,
) -> StoreResult<()> {
    let now = now();
    conn.prepare_cached(
        "INSERT INTO one_time_codes
             (customer_id, purpose, code_hash, new_email, failed_attempts, created_at, expires_at)
         VALUES (?1, ?2, ?3, ?4, 0, ?5, ?6)
         ON CONFLICT (customer_id, purpose) DO UPDATE SET code_hash = excluded.code_hash,
             new_email = excluded.new_email, failed_attempts = 0,
             created_at = excluded.created_at, expires_at = excluded.expires_at",
    )?
    .execute(params![
        customer.as_str(),
        purpose.as_str(),
        code_hash,
        new_email,
        now,
        now + ttl_seconds
    ])?;
    Ok(())
}

/// Checks a presented code. A wrong guess is counted, and the code dies at the limit; with
/// `consume` a right code is deleted so it cannot be used again. Run it inside a write
/// transaction so that concurrent guesses are counted one after the other.
pub fn check(
    conn: &Db,
    customer: &CustomerId,
    purpose: Purpose,
    presented_hash: &[u8],
    consume: bool,
) -> StoreResult<CodeCheck> {
    let row = conn
        .prepare_cached(
            "SELECT code_hash, new_email, failed_attempts, expires_at, created_at FROM one_time_codes
             WHERE customer_id = ?1 AND purpose = ?2",
        )?
        .query_row(params![customer.as_str(), purpose.as_str()], |row| {
            Ok(Stored {
                hash: row.get("code_hash")?,
                new_email: row.get("new_email")?,
                failed: row.get("failed_attempts")?,
                expires_at: row.get("expires_at")?,
                issued_at: row.get("created_at")?,
            })
        })
        .optional()?;
    let Some(Stored {
        hash: stored,
        new_email,
        failed,
        expires_at,
        issued_at,
    }) = row
    else {
        return Ok(CodeCheck::Invalid);
    };
    if expires_at <= now() || failed >= MAX_FAILED_ATTEMPTS {
        revoke(conn, customer, purpose)?;
        return Ok(CodeCheck::Invalid);
    }
    if bool::from(stored.ct_eq(presented_hash)) {
        if consume {
            revoke(conn, customer, purpose)?;
        }
        return Ok(CodeCheck::Valid {
            new_email,
            issued_at,
        });
    }
    if failed + 1 >= MAX_FAILED_ATTEMPTS {
        revoke(conn, customer, purpose)?;
    } else {
        conn.prepare_cached(
            "UPDATE one_time_codes SET failed_attempts = failed_attempts + 1
             WHERE customer_id = ?1 AND purpose = ?2",
        )?
        .execute(params![customer.as_str(), purpose.as_str()])?;
    }
    Ok(CodeCheck::Invalid)
}

/// A stored code: its digest, the address it confirms, its wrong tries and its times.
struct Stored {
    hash: Vec<u8>,
    new_email: Option<String>,
    failed: i64,
    expires_at: i64,
    issued_at: i64,
}

/// Deletes the customer's code of this purpose, if any.
pub fn revoke(conn: &Db, customer: &CustomerId, purpose: Purpose) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM one_time_codes WHERE customer_id = ?1 AND purpose = ?2")?
        .execute(params![customer.as_str(), purpose.as_str()])?;
    Ok(())
}

/// Deletes every code of the customer, whatever its purpose (after a password reset or an
/// email change, nothing sent to the customer before may still work).
pub fn revoke_all(conn: &Db, customer: &CustomerId) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM one_time_codes WHERE customer_id = ?1")?
        .execute(params![customer.as_str()])?;
    Ok(())
}

/// A code typed with its address: which purpose, and which table counts its wrong tries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressCode {
    /// A password-reset code: only an active account has one.
    PasswordReset,
    /// An emailed sign-in code: an active or a pending account may have one.
    LoginCode,
}

impl AddressCode {
    fn purpose(self) -> Purpose {
        match self {
            AddressCode::PasswordReset => Purpose::PasswordReset,
            AddressCode::LoginCode => Purpose::LoginCode,
        }
    }

    /// The live code of the account with the address (`?1`) at time `?2`.
    fn live_sql(self) -> &'static str {
        match self {
            AddressCode::PasswordReset => {
                "SELECT customers.id, codes.code_hash FROM customers
                 JOIN one_time_codes codes ON codes.customer_id = customers.id
                     AND codes.purpose = 'password_reset' AND codes.expires_at > ?2
                 WHERE customers.email = ?1 AND customers.status = 'active'"
            }
            AddressCode::LoginCode => {
                "SELECT customers.id, codes.code_hash FROM customers
                 JOIN one_time_codes codes ON codes.customer_id = customers.id
                     AND codes.purpose = 'login_code' AND codes.expires_at > ?2
                 WHERE customers.email = ?1"
            }
        }
    }

    /// Counts one more wrong code for the address (`?1`) at time `?2`, answering the count.
    fn count_sql(self) -> &'static str {
        match self {
            AddressCode::PasswordReset => {
                "INSERT INTO reset_guesses (address_hash, failed, last_at) VALUES (?1, 1, ?2)
                 ON CONFLICT (address_hash) DO UPDATE SET failed = reset_guesses.failed + 1,
                     last_at = excluded.last_at
                 RETURNING failed"
            }
            AddressCode::LoginCode => {
                "INSERT INTO login_code_guesses (address_hash, failed, last_at) VALUES (?1, 1, ?2)
                 ON CONFLICT (address_hash) DO UPDATE SET failed = login_code_guesses.failed + 1,
                     last_at = excluded.last_at
                 RETURNING failed"
            }
        }
    }

    fn clear_sql(self) -> &'static str {
        match self {
            AddressCode::PasswordReset => "DELETE FROM reset_guesses WHERE address_hash = ?1",
            AddressCode::LoginCode => "DELETE FROM login_code_guesses WHERE address_hash = ?1",
        }
    }

    fn purge_sql(self) -> &'static str {
        match self {
            AddressCode::PasswordReset => {
                "DELETE FROM reset_guesses WHERE address_hash IN \
                     (SELECT address_hash FROM reset_guesses WHERE last_at <= ?1 LIMIT ?2)"
            }
            AddressCode::LoginCode => {
                "DELETE FROM login_code_guesses WHERE address_hash IN \
                     (SELECT address_hash FROM login_code_guesses WHERE last_at <= ?1 LIMIT ?2)"
            }
        }
    }
}

/// Checks a presented code of `kind` for `email`: the customer's id when it is the live code
/// of the account with that address (for a reset, an active one). Otherwise the wrong try is
/// counted for the address, whether or not an account has it, and the customer's code dies at
/// the limit. Every address costs the same statements: one read, one write (and, at the
/// limit, the deletion). A right code is left in place: the caller consumes it in the write
/// that relies on it. Run it inside a write transaction, so that concurrent guesses are
/// counted one after the other.
pub fn check_for_address(
    conn: &Db,
    kind: AddressCode,
    email: &EmailAddress,
    address_hash: &[u8],
    presented_hash: &[u8],
) -> StoreResult<Option<CustomerId>> {
    let live: Option<(String, Vec<u8>)> = conn
        .prepare_cached(kind.live_sql())?
        .query_row(params![email.as_str(), now()], |row| {
            Ok((row.get("id")?, row.get("code_hash")?))
        })
        .optional()?;
    let live = live
        .map(|(id, code)| CustomerId::parse(&id).map(|id| (id, code)))
        .transpose()
        .map_err(super::StoreError::BadValue)?;
    if let Some((id, stored)) = &live
        && bool::from(stored.ct_eq(presented_hash))
    {
        return Ok(Some(id.clone()));
    }
    let failed: i64 = conn
        .prepare_cached(kind.count_sql())?
        .query_row(params![address_hash, now()], |row| row.only())?;
    if failed >= MAX_FAILED_ATTEMPTS
        && let Some((id, _)) = live
    {
        revoke(conn, &id, kind.purpose())?;
    }
    Ok(None)
}

/// Forgets the wrong codes of `kind` counted for the address (a fresh code was just issued).
pub fn clear_guesses(conn: &Db, kind: AddressCode, address_hash: &[u8]) -> StoreResult<()> {
    conn.prepare_cached(kind.clear_sql())?
        .execute(params![address_hash])?;
    Ok(())
}

/// Deletes up to `limit` counts of wrong codes of `kind` whose last one came before `cutoff`;
/// returns how many.
pub fn purge_guesses(
    conn: &Db,
    kind: AddressCode,
    cutoff: i64,
    limit: usize,
) -> StoreResult<usize> {
    conn.prepare_cached(kind.purge_sql())?
        .execute(params![cutoff, limit as i64])
}

/// Deletes up to `limit` expired codes; returns how many.
pub fn purge_expired(conn: &Db, limit: usize) -> StoreResult<usize> {
    conn.prepare_cached(
        "DELETE FROM one_time_codes WHERE (customer_id, purpose) IN \
             (SELECT customer_id, purpose FROM one_time_codes WHERE expires_at <= ?1 LIMIT ?2)",
    )?
    .execute(params![now(), limit as i64])
}
