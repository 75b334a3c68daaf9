//! The request journal: password-reset, sign-up and sign-in-code requests stored before they
//! are answered, and the per-address email allowance they draw from.

use super::sql::{Db, ReadDb, params};

use super::{StoreResult, now};

/// What a journaled request asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    PasswordReset,
    SignUp,
    LoginCode,
}

impl RequestKind {
    fn name(self) -> &'static str {
        match self {
            RequestKind::PasswordReset => "password_reset",
            RequestKind::SignUp => "signup",
            RequestKind::LoginCode => "login_code",
        }
    }

    fn parse(raw: &str) -> Option<RequestKind> {
        match raw {
            "password_reset" => Some(RequestKind::PasswordReset),
            "signup" => Some(RequestKind::SignUp),
            "login_code" => Some(RequestKind::LoginCode),
            _ => None,
        }
    }
}

/// A request as stored: the address as parsed, the name typed at sign-up, the link's base.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub kind: RequestKind,
    pub email: String,
    pub name: Option<String>,
    pub link_base: Option<String>,
    /// The IP and User-Agent of the client that asked, for the account's activity.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// The language the visitor's browser asked for (a sign-up's emails are written in it).
    pub language: Option<String>,
    /// The lists a sign-up opted in to (ids; empty for a password reset).
    pub subscriptions: Vec<String>,
}

/// A stored request waiting to be resolved; `request` is `None` for a kind this program does
/// not know (it is removed unresolved).
#[derive(Clone, Debug)]
pub struct Pending {
    pub id: i64,
    pub request: Option<Request>,
}

/// Stores a request; the same one statement for every address.
pub fn journal(conn: &Db, request: &Request) -> StoreResult<i64> {
    conn.prepare_cached(
        "INSERT INTO email_requests
             (kind, email, name, link_base, created_at, ip, user_agent, language, subscriptions)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
    )?
    .query_row(
        params![
            request.kind.name(),
            request.email,
            request.name,
            request.link_base,
            now(),
            request.ip,
            request.user_agent,
            request.language,
            (!request.subscriptions.is_empty()).then(|| request.subscriptions.join(";"))
        ],
        |row| row.only(),
    )
}

/// The oldest `limit` requests still to resolve, oldest first.
pub fn pending(conn: &ReadDb, limit: u32) -> StoreResult<Vec<Pending>> {
    let mut statement = conn.prepare_cached(
        "SELECT id, kind, email, name, link_base, ip, user_agent, language, subscriptions
         FROM email_requests
         ORDER BY id LIMIT ?1",
    )?;
    let rows = statement.query_map(params![limit], |row| {
        let kind: String = row.get("kind")?;
        Ok(Pending {
            id: row.get("id")?,
            request: RequestKind::parse(&kind).map(|kind| Request {
                kind,
                email: row.get("email").unwrap_or_default(),
                name: row.get("name").unwrap_or_default(),
                link_base: row.get("link_base").unwrap_or_default(),
                ip: row.get("ip").unwrap_or_default(),
                user_agent: row.get("user_agent").unwrap_or_default(),
                language: row.get("language").unwrap_or_default(),
                subscriptions: row
                    .get::<Option<String>>("subscriptions")
                    .unwrap_or_default()
                    .map(|lists| lists.split(';').map(str::to_owned).collect())
                    .unwrap_or_default(),
            }),
        })
    })?;
    rows.collect::<StoreResult<_>>()
}

/// Removes a resolved request; false if it was already gone.
pub fn remove(conn: &Db, id: i64) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM email_requests WHERE id = ?1")?
        .execute(params![id])?
        == 1)
}

/// Draws one email from the address's allowance (`per_minute` and `per_hour`) if it has any
/// left; true when it did. Entries older than an hour are dropped on the way.
pub fn take_allowance(
    conn: &Db,
    address_hash: &[u8],
    per_minute: u32,
    per_hour: u32,
) -> StoreResult<bool> {
    let now = now();
    conn.prepare_cached("DELETE FROM email_allowance WHERE address_hash = ?1 AND at <= ?2")?
        .execute(params![address_hash, now - 3600])?;
    let (last_minute, last_hour): (u32, u32) = conn
        .prepare_cached(
            "SELECT COUNT(*) FILTER (WHERE at > ?2) AS last_minute, COUNT(*) AS last_hour
             FROM email_allowance
             WHERE address_hash = ?1",
        )?
        .query_row(params![address_hash, now - 60], |row| {
            Ok((row.get("last_minute")?, row.get("last_hour")?))
        })?;
    if last_minute >= per_minute.max(1) || last_hour >= per_hour.max(1) {
        return Ok(false);
    }
    conn.prepare_cached("INSERT INTO email_allowance (address_hash, at) VALUES (?1, ?2)")?
        .execute(params![address_hash, now])?;
    Ok(true)
}

/// Deletes up to `limit` allowance entries that no longer count (older than an hour);
/// returns how many.
pub fn purge_allowance(conn: &Db, limit: usize) -> StoreResult<usize> {
    conn.prepare_cached(
        "DELETE FROM email_allowance WHERE rowid IN \
             (SELECT rowid FROM email_allowance WHERE at <= ?1 LIMIT ?2)",
    )?
    .execute(params![now() - 3600, limit as i64])
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::Connection;

    #[test]
    fn an_address_gets_its_allowance_and_no_more() {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrations::apply(&Db::sqlite(&conn)).unwrap();
        assert!(take_allowance(&Db::sqlite(&conn), b"a", 2, 3).unwrap());
        assert!(take_allowance(&Db::sqlite(&conn), b"a", 2, 3).unwrap());
        assert!(!take_allowance(&Db::sqlite(&conn), b"a", 2, 3).unwrap());
        assert!(take_allowance(&Db::sqlite(&conn), b"b", 2, 3).unwrap());
    }

    #[test]
    fn journaled_requests_come_back_in_order_until_removed() {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrations::apply(&Db::sqlite(&conn)).unwrap();
        let request = |email: &str| Request {
            kind: RequestKind::SignUp,
            email: email.into(),
            name: Some("N".into()),
            link_base: None,
            ip: Some("192.0.2.1".into()),
            user_agent: Some("Agent/1".into()),
            language: Some("fr".into()),
            subscriptions: vec!["newsletter".into(), "box-bulletin".into()],
        };
        let first = journal(&Db::sqlite(&conn), &request("a@example.com")).unwrap();
        journal(&Db::sqlite(&conn), &request("b@example.com")).unwrap();
        let pending = pending(&Db::sqlite(&conn), 10).unwrap();
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0].request, Some(request("a@example.com")));
        assert!(remove(&Db::sqlite(&conn), first).unwrap());
        assert!(!remove(&Db::sqlite(&conn), first).unwrap());
        assert_eq!(super::pending(&Db::sqlite(&conn), 10).unwrap().len(), 1);
    }
}
