//! The retailer's staff: one row per member (email, role, password hash, the digest of an
//! open invitation, the TOTP second factor), their sessions (keyed by the token's SHA-256), the
//! recovery codes of their second factor and the sign-ins waiting for it. Their passkeys are
//! in `store::staff_passkeys`.

use super::sql::{Db, OptionalRow, ReadDb, Row, params};
use super::{StoreResult, now};
use crate::domain::{EmailAddress, Identifier, Role};

/// A staff member as stored, without their secrets but the password hash the sign-in checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    pub id: i64,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub identifier: String,
    pub password_hash: Option<String>,
    pub locked: bool,
    /// Whether a second factor is enrolled: a confirmed TOTP, a passkey, or both.
    pub has_second_factor: bool,
    /// Whether a confirmed TOTP second factor is enrolled.
    pub has_totp: bool,
    /// Whether the member has a passkey (which signs in alone, as both factors).
    pub has_passkey: bool,
    pub created_at: i64,
    pub activated_at: Option<i64>,
}

/// The columns [`member`] reads, of the `staff` row named `m` in the query.
const MEMBER_COLUMNS: &str = "m.id, m.email, m.name, m.role, m.identifier, m.password_hash, \
     m.locked, m.totp_confirmed, m.created_at, m.activated_at, \
     (SELECT count(*) FROM staff_passkeys p WHERE p.staff_id = m.id) AS passkeys";

fn member(row: &Row) -> StoreResult<Member> {
    let role: String = row.get("role")?;
    let has_totp = row.get::<i64>("totp_confirmed")? != 0;
    let has_passkey = row.get::<i64>("passkeys")? > 0;
    Ok(Member {
        id: row.get("id")?,
        email: row.get("email")?,
        name: row.get("name")?,
        role: Role::parse(&role).map_err(super::StoreError::BadValue)?,
        identifier: row.get("identifier")?,
        password_hash: row.get("password_hash")?,
        locked: row.get::<i64>("locked")? != 0,
        has_second_factor: has_totp || has_passkey,
        has_totp,
        has_passkey,
        created_at: row.get("created_at")?,
        activated_at: row.get("activated_at")?,
    })
}

/// An invitation to set a password: the digest of its secret and when it ends.
pub struct Invitation<'a> {
    pub identifier: &'a Identifier,
    pub secret_hash: &'a [u8],
    pub expires_at: i64,
}

/// Adds a staff member with an open invitation; `Duplicate { field: "email" }` when the
/// address is taken.
pub fn add(
    conn: &Db,
    email: &EmailAddress,
    name: Option<&str>,
    role: Role,
    invitation: &Invitation,
) -> StoreResult<i64> {
    conn.prepare_cached(
        "INSERT INTO staff (email, name, role, identifier, invite_hash, invite_expires_at, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
    )?
    .query_row(
        params![
            email.as_str(),
            name,
            role.as_str(),
            invitation.identifier.as_str(),
            invitation.secret_hash,
            invitation.expires_at,
            now()
        ],
        |row| row.only(),
    )
}

/// The staff member with this address.
pub fn find_by_email(conn: &ReadDb, email: &str) -> StoreResult<Option<Member>> {
    conn.prepare_cached(&format!(
        "SELECT {MEMBER_COLUMNS} FROM staff m WHERE m.email = ?1"
    ))?
    .query_row(params![email], member)
    .optional()
}

/// The staff member with this id.
pub fn find(conn: &ReadDb, id: i64) -> StoreResult<Option<Member>> {
    conn.prepare_cached(&format!(
        "SELECT {MEMBER_COLUMNS} FROM staff m WHERE m.id = ?1"
    ))?
    .query_row(params![id], member)
    .optional()
}

/// Every staff member, by address.
pub fn list(conn: &ReadDb) -> StoreResult<Vec<Member>> {
    let mut statement = conn.prepare_cached(&format!(
        "SELECT {MEMBER_COLUMNS} FROM staff m ORDER BY m.email"
    ))?;
    let rows = statement.query_map(params![], member)?;
    rows.collect()
}

/// What asking to remove a staff member came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Removal {
    /// Removed, with their sessions, codes and waiting sign-ins.
    Removed(Member),
    NoSuchMember,
    /// Refused: the member is the shop's last owner.
    LastOwner,
}

/// Removes a staff member; their sessions, codes and waiting sign-ins go with them. The last
/// owner stays: the shop always keeps someone who may manage its staff.
pub fn remove(conn: &Db, email: &str) -> StoreResult<Removal> {
    let Some(found) = find_by_email(conn, email)? else {
        return Ok(Removal::NoSuchMember);
    };
    if found.role == Role::Owner && owners(conn)? <= 1 {
        return Ok(Removal::LastOwner);
    }
    conn.prepare_cached("DELETE FROM staff WHERE id = ?1")?
        .execute(params![found.id])?;
    Ok(Removal::Removed(found))
}

/// What asking to give a staff member a role came to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RoleChange {
    /// Changed (the member as they are now); their sessions and waiting sign-ins ended.
    Changed(Member),
    /// The member has that role already: nothing changed.
    Unchanged(Member),
    NoSuchMember,
    /// Refused: the member is the shop's last owner, and the role is not owner.
    LastOwner,
}

/// Gives a staff member `role`, ending their sessions and waiting sign-ins so that the next
/// request is judged by the new role (and, where `console.second_factor` asks one of owners
/// only, a promoted member's sign-in by the new rule). The last owner keeps the role, as they
/// stay on removal.
pub fn change_role(conn: &Db, email: &str, role: Role) -> StoreResult<RoleChange> {
    let Some(found) = find_by_email(conn, email)? else {
        return Ok(RoleChange::NoSuchMember);
    };
    if found.role == role {
        return Ok(RoleChange::Unchanged(found));
    }
    if found.role == Role::Owner && owners(conn)? <= 1 {
        return Ok(RoleChange::LastOwner);
    }
    conn.prepare_cached("UPDATE staff SET role = ?2 WHERE id = ?1")?
        .execute(params![found.id, role.as_str()])?;
    end_everything(conn, found.id)?;
    Ok(RoleChange::Changed(Member { role, ..found }))
}

/// How many owners the shop has (invited ones too).
fn owners(conn: &ReadDb) -> StoreResult<i64> {
    conn.prepare_cached("SELECT count(*) FROM staff WHERE role = ?1")?
        .query_row(params![Role::Owner.as_str()], |row| row.only())
}

/// Opens a new invitation for a member: the password and the second factor (TOTP and
/// passkeys) are cleared, the lockout lifted, and every session and waiting sign-in ends. False when there is no such
/// member.
pub fn reset(conn: &Db, email: &str, invitation: &Invitation) -> StoreResult<bool> {
    let Some(id) = find_by_email(conn, email)?.map(|m| m.id) else {
        return Ok(false);
    };
    conn.prepare_cached(
        "UPDATE staff SET identifier = ?2, invite_hash = ?3, invite_expires_at = ?4,
             password_hash = NULL, failed_logins = 0, locked = 0, totp_secret = NULL,
             totp_confirmed = 0, totp_last_step = NULL
         WHERE id = ?1",
    )?
    .execute(params![
        id,
        invitation.identifier.as_str(),
        invitation.secret_hash,
        invitation.expires_at
    ])?;
    end_everything(conn, id)?;
    conn.prepare_cached("DELETE FROM staff_recovery_codes WHERE staff_id = ?1")?
        .execute(params![id])?;
    conn.prepare_cached("DELETE FROM staff_passkeys WHERE staff_id = ?1")?
        .execute(params![id])?;
    Ok(true)
}

/// Ends every session, waiting sign-in and begun passkey ceremony of a member.
fn end_everything(conn: &Db, id: i64) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM staff_sessions WHERE staff_id = ?1")?
        .execute(params![id])?;
    conn.prepare_cached("DELETE FROM staff_challenges WHERE staff_id = ?1")?
        .execute(params![id])?;
    conn.prepare_cached("DELETE FROM passkey_challenges WHERE staff_id = ?1")?
        .execute(params![id])?;
    Ok(())
}

/// Sets the password of the member whose live invitation this is, and closes it. False when
/// the identifier and secret name no live invitation.
pub fn accept_invitation(
    conn: &Db,
    identifier: &str,
    secret_hash: &[u8],
    password_hash: &str,
) -> StoreResult<bool> {
    let now = now();
    Ok(conn
        .prepare_cached(
            "UPDATE staff SET password_hash = ?3, invite_hash = NULL, invite_expires_at = NULL,
                 activated_at = ?4, failed_logins = 0, locked = 0
             WHERE identifier = ?1 AND invite_hash = ?2 AND invite_expires_at > ?4",
        )?
        .execute(params![identifier, secret_hash, password_hash, now])?
        == 1)
}

/// Whether an invitation with this identifier and secret is live (nothing is changed).
pub fn invitation_is_live(
    conn: &ReadDb,
    identifier: &str,
    secret_hash: &[u8],
) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached(
            "SELECT 1 FROM staff WHERE identifier = ?1 AND invite_hash = ?2 AND invite_expires_at > ?3",
        )?
        .query_row(params![identifier, secret_hash, now()], |_| Ok(()))
        .optional()?
        .is_some())
}

/// Counts a wrong password of a member whose stored hash is still `checked`; at `limit` in a
/// row the member is locked (no password opens it until `staff reset`). Answers whether this
/// failure locked it.
pub fn count_failed_login(
    conn: &Db,
    id: i64,
    checked: Option<&str>,
    limit: u32,
) -> StoreResult<bool> {
    let changed = conn
        .prepare_cached(
            "UPDATE staff SET failed_logins = failed_logins + 1,
                 locked = CASE WHEN failed_logins + 1 >= ?3 THEN 1 ELSE locked END
             WHERE id = ?1 AND password_hash IS NOT DISTINCT FROM ?2 AND locked = 0
             RETURNING locked",
        )?
        .query_row(params![id, checked, i64::from(limit)], |row| {
            row.get::<i64>("locked")
        })
        .optional()?;
    Ok(changed == Some(1))
}

/// Whether the password hash `checked` is still the member's and they are not locked; if so,
/// their count of wrong passwords starts again.
pub fn still_current(conn: &Db, id: i64, checked: &str) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached(
            "UPDATE staff SET failed_logins = 0
             WHERE id = ?1 AND password_hash = ?2 AND locked = 0",
        )?
        .execute(params![id, checked])?
        == 1)
}

/// A live staff session: whose, whether it passed the second factor, when last used.
#[derive(Clone, Debug)]
pub struct SessionHolder {
    pub member: Member,
    pub second_factor: bool,
    pub last_used_at: i64,
}

/// Opens a session for a member lasting `ttl_seconds`.
pub fn open_session(
    conn: &Db,
    token_hash: &[u8],
    staff_id: i64,
    ttl_seconds: i64,
    second_factor: bool,
    ip: &str,
) -> StoreResult<()> {
    let now = now();
    conn.prepare_cached(
        "INSERT INTO staff_sessions
             (token_hash, staff_id, created_at, expires_at, last_used_at, second_factor, ip)
         VALUES (?1, ?2, ?3, ?4, ?3, ?5, ?6)",
    )?
    .execute(params![
        token_hash,
        staff_id,
        now,
        now + ttl_seconds,
        i64::from(second_factor),
        ip
    ])?;
    Ok(())
}

/// The holder of a staff session that has neither expired nor been unused for `idle_seconds`.
pub fn session_holder(
    conn: &ReadDb,
    token_hash: &[u8],
    idle_seconds: i64,
) -> StoreResult<Option<SessionHolder>> {
    let now = now();
    conn.prepare_cached(&format!(
        "SELECT {MEMBER_COLUMNS}, s.second_factor, s.last_used_at
         FROM staff_sessions s JOIN staff m ON m.id = s.staff_id
         WHERE s.token_hash = ?1 AND s.expires_at > ?2 AND s.last_used_at > ?3"
    ))?
    .query_row(params![token_hash, now, now - idle_seconds], |row| {
        Ok(SessionHolder {
            member: member(row)?,
            second_factor: row.get::<i64>("second_factor")? != 0,
            last_used_at: row.get("last_used_at")?,
        })
    })
    .optional()
}

/// Marks a staff session used now.
pub fn touch_session(conn: &Db, token_hash: &[u8]) -> StoreResult<()> {
    conn.prepare_cached("UPDATE staff_sessions SET last_used_at = ?2 WHERE token_hash = ?1")?
        .execute(params![token_hash, now()])?;
    Ok(())
}

/// Ends one staff session.
pub fn end_session(conn: &Db, token_hash: &[u8]) -> StoreResult<()> {
    conn.prepare_cached("DELETE FROM staff_sessions WHERE token_hash = ?1")?
        .execute(params![token_hash])?;
    Ok(())
}

/// Deletes the staff sessions and waiting sign-ins that have ended (housekeeping).
pub fn sweep(conn: &Db, idle_seconds: i64) -> StoreResult<usize> {
    let now = now();
    let sessions = conn
        .prepare_cached("DELETE FROM staff_sessions WHERE expires_at <= ?1 OR last_used_at <= ?2")?
        .execute(params![now, now - idle_seconds])?;
    let challenges = conn
        .prepare_cached("DELETE FROM staff_challenges WHERE expires_at <= ?1")?
        .execute(params![now])?;
    Ok(sessions + challenges)
}

/// A member's TOTP second factor as stored: the secret, whether confirmed, the time step of
/// the last code accepted.
#[derive(Clone, Debug)]
pub struct Totp {
    pub secret: String,
    pub confirmed: bool,
    pub last_step: Option<i64>,
}

/// The member's TOTP second factor, if they began enrolling one.
pub fn totp(conn: &ReadDb, id: i64) -> StoreResult<Option<Totp>> {
    let row: Option<(Option<String>, i64, Option<i64>)> = conn
        .prepare_cached(
            "SELECT totp_secret, totp_confirmed, totp_last_step FROM staff WHERE id = ?1",
        )?
        .query_row(params![id], |row| {
            Ok((
                row.get("totp_secret")?,
                row.get("totp_confirmed")?,
                row.get("totp_last_step")?,
            ))
        })
        .optional()?;
    Ok(row.and_then(|(secret, confirmed, last_step)| {
        secret.map(|secret| Totp {
            secret,
            confirmed: confirmed != 0,
            last_step,
        })
    }))
}

/// Begins an enrollment: a new, unconfirmed TOTP secret. False when the member has a
/// confirmed one already (a `staff reset` clears it).
pub fn begin_totp(conn: &Db, id: i64, secret: &str) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached(
            "UPDATE staff SET totp_secret = ?2, totp_last_step = NULL
             WHERE id = ?1 AND totp_confirmed = 0",
        )?
        .execute(params![id, secret])?
        == 1)
}

/// Accepts a TOTP code of time step `step` once: false when a code of this step or a later one
/// was accepted before (a replay).
pub fn use_totp_step(conn: &Db, id: i64, step: i64) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached(
            "UPDATE staff SET totp_last_step = ?2
             WHERE id = ?1 AND (totp_last_step IS NULL OR totp_last_step < ?2)",
        )?
        .execute(params![id, step])?
        == 1)
}

/// Confirms the enrolled TOTP secret, replaces the recovery codes with these digests, and lets
/// the enrolling session (`token_hash`) do everything its role may.
pub fn confirm_totp(
    conn: &Db,
    id: i64,
    recovery_hashes: &[Vec<u8>],
    token_hash: &[u8],
) -> StoreResult<()> {
    conn.prepare_cached("UPDATE staff SET totp_confirmed = 1 WHERE id = ?1")?
        .execute(params![id])?;
    conn.prepare_cached("DELETE FROM staff_recovery_codes WHERE staff_id = ?1")?
        .execute(params![id])?;
    for hash in recovery_hashes {
        conn.prepare_cached(
            "INSERT INTO staff_recovery_codes (staff_id, code_hash) VALUES (?1, ?2)",
        )?
        .execute(params![id, hash])?;
    }
    pass_second_factor(conn, id, token_hash)
}

/// Lets the member's session `token_hash` do everything its role may (it enrolled a second
/// factor).
pub fn pass_second_factor(conn: &Db, id: i64, token_hash: &[u8]) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE staff_sessions SET second_factor = 1 WHERE token_hash = ?1 AND staff_id = ?2",
    )?
    .execute(params![token_hash, id])?;
    Ok(())
}

/// Uses up one recovery code; false when the member has no such (unused) code.
pub fn use_recovery_code(conn: &Db, id: i64, code_hash: &[u8]) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM staff_recovery_codes WHERE staff_id = ?1 AND code_hash = ?2")?
        .execute(params![id, code_hash])?
        == 1)
}

/// A sign-in waiting for its second factor, for `ttl_seconds`.
pub fn open_challenge(
    conn: &Db,
    hash: &[u8],
    id: i64,
    ttl_seconds: i64,
    ip: &str,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO staff_challenges (challenge_hash, staff_id, expires_at, ip) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![hash, id, now() + ttl_seconds, ip])?;
    Ok(())
}

/// The member a live challenge with fewer than `max_failures` wrong codes belongs to.
pub fn challenged(conn: &ReadDb, hash: &[u8], max_failures: i64) -> StoreResult<Option<i64>> {
    conn.prepare_cached(
        "SELECT staff_id FROM staff_challenges
         WHERE challenge_hash = ?1 AND expires_at > ?2 AND failed < ?3",
    )?
    .query_row(params![hash, now(), max_failures], |row| row.only())
    .optional()
}

/// Counts a wrong code against a challenge.
pub fn fail_challenge(conn: &Db, hash: &[u8]) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE staff_challenges SET failed = failed + 1 WHERE challenge_hash = ?1",
    )?
    .execute(params![hash])?;
    Ok(())
}

/// Ends a challenge (its sign-in finished). False when it was already gone.
pub fn end_challenge(conn: &Db, hash: &[u8]) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM staff_challenges WHERE challenge_hash = ?1")?
        .execute(params![hash])?
        == 1)
}
