//! Subscription lists the retailer offers, customers' opt-ins, and the consent trail.

use std::collections::BTreeSet;

use super::sql::{Db, OptionalRow, ReadDb, Row, params};

use super::{Page, Start, StoreResult, now};
use crate::domain::{Client, CustomerId, Subscription};

/// A list customers may opt in to.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct SubscriptionList {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
}

/// Who changed a customer's subscriptions, kept with every consent record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConsentSource {
    Customer,
    Admin,
    Import,
    Signup,
    UnsubscribeLink,
    /// The shop's staff, in the console (or the admin token acting for them).
    Support,
    /// A permanent bounce showed the address dead.
    Bounce,
    /// The customer reported an email as spam.
    Complaint,
    /// The customer chose on the unsubscribe link's page (a pause, its end, every list left).
    PreferencePage,
}

impl ConsentSource {
    fn as_str(self) -> &'static str {
        match self {
            ConsentSource::Customer => "customer",
            ConsentSource::Admin => "admin",
            ConsentSource::Import => "import",
            ConsentSource::Signup => "signup",
            ConsentSource::UnsubscribeLink => "unsubscribe_link",
            ConsentSource::Support => "support",
            ConsentSource::Bounce => "bounce",
            ConsentSource::Complaint => "complaint",
            ConsentSource::PreferencePage => "preference_page",
        }
    }
}

/// One opt-in or opt-out, as kept for proof of consent.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct ConsentRecord {
    pub list_id: String,
    pub action: String,
    pub source: String,
    #[serde(serialize_with = "crate::domain::rfc3339_field")]
    pub at: i64,
    /// Where the customer acted themselves: their IP and user agent.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    /// With `pause`: when the list's emails start again.
    #[serde(
        serialize_with = "crate::domain::rfc3339_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub paused_until: Option<i64>,
}

/// One member of a list, for the shop's newsletter tool.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberRow {
    pub customer_id: CustomerId,
    pub email: String,
    pub name: Option<String>,
    pub subscribed_at: i64,
}

/// Every list, in id order.
pub fn lists(conn: &ReadDb) -> StoreResult<Vec<SubscriptionList>> {
    let mut statement =
        conn.prepare_cached("SELECT id, name, description FROM subscription_lists ORDER BY id")?;
    let rows = statement.query_map(params![], |row| {
        Ok(SubscriptionList {
            id: row.get("id")?,
            name: row.get("name")?,
            description: row.get("description")?,
        })
    })?;
    rows.collect::<StoreResult<_>>()
}

/// Adds a list; a duplicate id is a `StoreError::Duplicate { field: "id" }`.
pub fn add_list(conn: &Db, list: &SubscriptionList) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO subscription_lists (id, name, description, created_at) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![list.id, list.name, list.description, now()])?;
    Ok(())
}

/// Removes a list and every subscription to it, recording an admin opt-out for each
/// subscriber; returns whether it existed.
pub fn remove_list(conn: &Db, id: &str) -> StoreResult<bool> {
    conn.prepare_cached(
        "INSERT INTO consent_records (customer_id, list_id, action, source, at)
         SELECT customer_id, list_id, 'out', 'admin', ?2 FROM subscriptions WHERE list_id = ?1",
    )?
    .execute(params![id, now()])?;
    Ok(conn
        .prepare_cached("DELETE FROM subscription_lists WHERE id = ?1")?
        .execute(params![id])?
        == 1)
}

/// Changes a list's name and description; returns whether it existed.
pub fn change_list(conn: &Db, list: &SubscriptionList) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("UPDATE subscription_lists SET name = ?2, description = ?3 WHERE id = ?1")?
        .execute(params![list.id, list.name, list.description])?
        == 1)
}

/// One list by id.
pub fn list(conn: &ReadDb, id: &str) -> StoreResult<Option<SubscriptionList>> {
    conn.prepare_cached("SELECT id, name, description FROM subscription_lists WHERE id = ?1")?
        .query_row(params![id], |row| {
            Ok(SubscriptionList {
                id: row.get("id")?,
                name: row.get("name")?,
                description: row.get("description")?,
            })
        })
        .optional()
}

/// Whether a list with this id exists.
pub fn list_exists(conn: &ReadDb, id: &str) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM subscription_lists WHERE id = ?1")?
        .query_row(params![id], |_| Ok(()))
        .optional()?
        .is_some())
}

/// The lists a customer is subscribed to, in list id order; a pause whose time has passed
/// reads as none.
pub fn of_customer(conn: &ReadDb, customer: &CustomerId) -> StoreResult<Vec<Subscription>> {
    let mut statement = conn.prepare_cached(
        "SELECT l.id, l.name, s.subscribed_at,
                CASE WHEN s.paused_until > ?2 THEN s.paused_until END AS paused_until
         FROM subscriptions s
         JOIN subscription_lists l ON l.id = s.list_id
         WHERE s.customer_id = ?1 ORDER BY l.id",
    )?;
    let rows = statement.query_map(params![customer.as_str(), now()], |row| {
        Ok(Subscription {
            id: row.get("id")?,
            name: row.get("name")?,
            subscribed_at: row.get("subscribed_at")?,
            paused_until: row.get("paused_until")?,
        })
    })?;
    rows.collect::<StoreResult<_>>()
}

/// When the customer's current subscription to `list` began; `None` if there is none.
pub fn subscribed_since(
    conn: &ReadDb,
    customer: &CustomerId,
    list: &str,
) -> StoreResult<Option<i64>> {
    conn.prepare_cached(
        "SELECT subscribed_at FROM subscriptions WHERE customer_id = ?1 AND list_id = ?2",
    )?
    .query_row(params![customer.as_str(), list], |row| row.only())
    .optional()
}

/// Leaves the customer's subscription to `list` out of the exports until `until`, recording
/// the pause with its end; answers whether there was a subscription to pause.
pub fn pause(
    conn: &Db,
    customer: &CustomerId,
    list: &str,
    until: i64,
    source: ConsentSource,
    client: Option<&Client>,
) -> StoreResult<bool> {
    let paused = conn
        .prepare_cached(
            "UPDATE subscriptions SET paused_until = ?3 WHERE customer_id = ?1 AND list_id = ?2",
        )?
        .execute(params![customer.as_str(), list, until])?;
    if paused == 1 {
        let entry = Entry {
            action: "pause",
            source: source.as_str(),
            client,
            at: now(),
            paused_until: Some(until),
        };
        entry.record(conn, customer, list)?;
    }
    Ok(paused == 1)
}

/// Ends a pause of the customer's subscription to `list` that has not run out, recording the
/// resumption; answers whether there was one to end.
pub fn resume(
    conn: &Db,
    customer: &CustomerId,
    list: &str,
    source: ConsentSource,
    client: Option<&Client>,
) -> StoreResult<bool> {
    let now = now();
    let resumed = conn
        .prepare_cached(
            "UPDATE subscriptions SET paused_until = NULL
             WHERE customer_id = ?1 AND list_id = ?2 AND paused_until > ?3",
        )?
        .execute(params![customer.as_str(), list, now])?;
    if resumed == 1 {
        record(conn, customer, list, "resume", source, client, now)?;
    }
    Ok(resumed == 1)
}

/// Makes `wanted` the customer's set of subscriptions, recording a consent record for each
/// list joined or left; answers whether the set changed. Ids must exist (checked by the
/// caller in the same transaction).
pub fn replace(
    conn: &Db,
    customer: &CustomerId,
    wanted: &BTreeSet<String>,
    source: ConsentSource,
    client: Option<&Client>,
) -> StoreResult<bool> {
    let current: BTreeSet<String> = of_customer(conn, customer)?
        .into_iter()
        .map(|s| s.id)
        .collect();
    let now = now();
    for joined in wanted.difference(&current) {
        conn.prepare_cached(
            "INSERT INTO subscriptions (customer_id, list_id, subscribed_at) VALUES (?1, ?2, ?3)",
        )?
        .execute(params![customer.as_str(), joined, now])?;
        record(conn, customer, joined, "in", source, client, now)?;
    }
    for left in current.difference(wanted) {
        conn.prepare_cached("DELETE FROM subscriptions WHERE customer_id = ?1 AND list_id = ?2")?
            .execute(params![customer.as_str(), left])?;
        record(conn, customer, left, "out", source, client, now)?;
    }
    Ok(wanted != &current)
}

/// A subscription a customer arrives with from another shop: the list, when they opted in
/// and the ledger's source for it (`import:<source>`, or `import` when the file gave none), and
/// the end of a pause they chose there that has not run out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MovedConsent {
    pub list: String,
    pub at: i64,
    pub source: String,
    pub paused_until: Option<i64>,
}

/// Subscribes a customer created in this transaction to the lists they moved in with, each
/// since its own time, with its consent recorded at that time and with its source; a paused
/// one stays paused, its pause recorded now with the same source and its end.
pub fn join_moved(conn: &Db, customer: &CustomerId, joins: &[MovedConsent]) -> StoreResult<()> {
    for join in joins {
        conn.prepare_cached(
            "INSERT INTO subscriptions (customer_id, list_id, subscribed_at, paused_until)
             VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![
            customer.as_str(),
            join.list,
            join.at,
            join.paused_until
        ])?;
        record_as(
            conn,
            customer,
            &join.list,
            "in",
            &join.source,
            None,
            join.at,
        )?;
        if join.paused_until.is_some() {
            let pause = Entry {
                action: "pause",
                source: &join.source,
                client: None,
                at: now(),
                paused_until: join.paused_until,
            };
            pause.record(conn, customer, &join.list)?;
        }
    }
    Ok(())
}

fn record(
    conn: &Db,
    customer: &CustomerId,
    list: &str,
    action: &str,
    source: ConsentSource,
    client: Option<&Client>,
    at: i64,
) -> StoreResult<()> {
    record_as(conn, customer, list, action, source.as_str(), client, at)
}

fn record_as(
    conn: &Db,
    customer: &CustomerId,
    list: &str,
    action: &str,
    source: &str,
    client: Option<&Client>,
    at: i64,
) -> StoreResult<()> {
    let entry = Entry {
        action,
        source,
        client,
        at,
        paused_until: None,
    };
    entry.record(conn, customer, list)
}

/// One line of the consent ledger, before it is written.
struct Entry<'a> {
    action: &'a str,
    source: &'a str,
    client: Option<&'a Client>,
    at: i64,
    paused_until: Option<i64>,
}

impl Entry<'_> {
    fn record(&self, conn: &Db, customer: &CustomerId, list: &str) -> StoreResult<()> {
        conn.prepare_cached(
            "INSERT INTO consent_records
                 (customer_id, list_id, action, source, at, ip, user_agent, paused_until)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![
            customer.as_str(),
            list,
            self.action,
            self.source,
            self.at,
            self.client.map(|c| c.ip.to_string()),
            self.client.and_then(|c| c.user_agent.as_deref()),
            self.paused_until,
        ])?;
        Ok(())
    }
}

/// Ends the customer's subscription to `list` if it is the one that began at `since`,
/// recording the opt-out with `source` and `client`; answers whether it did.
pub fn unsubscribe(
    conn: &Db,
    customer: &CustomerId,
    list: &str,
    since: i64,
    source: ConsentSource,
    client: Option<&Client>,
) -> StoreResult<bool> {
    let removed = conn
        .prepare_cached(
            "DELETE FROM subscriptions
             WHERE customer_id = ?1 AND list_id = ?2 AND subscribed_at = ?3",
        )?
        .execute(params![customer.as_str(), list, since])?;
    if removed == 1 {
        record(conn, customer, list, "out", source, client, now())?;
    }
    Ok(removed == 1)
}

/// Ends every subscription of the customer, recording an opt-out with `source` (and `client`,
/// where the customer acted) for each; answers the lists left, in id order.
pub fn leave_all(
    conn: &Db,
    customer: &CustomerId,
    source: ConsentSource,
    client: Option<&Client>,
) -> StoreResult<Vec<String>> {
    let lists: Vec<String> = of_customer(conn, customer)?
        .into_iter()
        .map(|s| s.id)
        .collect();
    let now = now();
    for list in &lists {
        conn.prepare_cached("DELETE FROM subscriptions WHERE customer_id = ?1 AND list_id = ?2")?
            .execute(params![customer.as_str(), list])?;
        record(conn, customer, list, "out", source, client, now)?;
    }
    Ok(lists)
}

/// The subscribers of `list`, in customer id order.
pub fn subscribers(conn: &ReadDb, list: &str) -> StoreResult<Vec<CustomerId>> {
    let mut statement = conn.prepare_cached(
        "SELECT customer_id FROM subscriptions WHERE list_id = ?1 ORDER BY customer_id",
    )?;
    let rows = statement.query_map(params![list], |row| row.only::<String>())?;
    rows.map(|id| CustomerId::parse(&id?).map_err(|e| super::StoreError::BadValue(e.to_string())))
        .collect()
}

/// The members of the list `?1` at the time `?2`: a customer who has not activated is no
/// member of any list (double opt-in), whatever subscriptions are kept for them; an address
/// bounces showed dead is left out until its owner confirms a working one; a paused
/// subscription is left out until its pause runs out, and is back then with nothing to run.
const MEMBERS: &str = "FROM subscriptions s JOIN customers c ON c.id = s.customer_id \
     AND c.status = 'active' AND c.undeliverable_at IS NULL \
     WHERE s.list_id = ?1 AND (s.paused_until IS NULL OR s.paused_until <= ?2)";

const MEMBER_COLUMNS: &str = "SELECT c.id, c.email, c.name, s.subscribed_at";

fn member_from_row(row: &Row<'_>) -> StoreResult<MemberRow> {
    let id: String = row.get("id")?;
    Ok(MemberRow {
        customer_id: CustomerId::parse(&id).map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Text, e.into())
        })?,
        email: row.get("email")?,
        name: row.get("name")?,
        subscribed_at: row.get("subscribed_at")?,
    })
}

/// Up to `limit` members of `list` from `start`, in customer id order, and how many there are
/// in all.
pub fn members_page(
    conn: &ReadDb,
    list: &str,
    start: &Start<CustomerId>,
    limit: u32,
) -> StoreResult<Page<MemberRow, CustomerId>> {
    let now = now();
    let total: i64 = conn
        .prepare_cached(&format!("SELECT count(*) {MEMBERS}"))?
        .query_row(params![list, now], |row| row.only())?;
    // One row more than the page holds says whether another page follows.
    let read = limit + 1;
    let rows = match start {
        Start::Offset(offset) => conn
            .prepare_cached(&format!(
                "{MEMBER_COLUMNS} {MEMBERS} ORDER BY s.customer_id LIMIT ?3 OFFSET ?4"
            ))?
            .query_map(params![list, now, read, offset], member_from_row)?
            .collect::<StoreResult<_>>()?,
        Start::After(after) => members_after(conn, list, after.as_str(), read)?,
    };
    Ok(Page::of(rows, limit, total, |row: &MemberRow| {
        row.customer_id.clone()
    }))
}

/// Up to `limit` members of `list` whose customer id comes after `after`, in id order: the
/// export reads a list of any length a page at a time.
pub fn members_after(
    conn: &ReadDb,
    list: &str,
    after: &str,
    limit: u32,
) -> StoreResult<Vec<MemberRow>> {
    let mut statement = conn.prepare_cached(&format!(
        "{MEMBER_COLUMNS} {MEMBERS} AND s.customer_id > ?3 ORDER BY s.customer_id LIMIT ?4"
    ))?;
    let rows = statement.query_map(params![list, now(), after, limit], member_from_row)?;
    rows.collect::<StoreResult<_>>()
}

/// The customer's consent trail, oldest first.
pub fn consent_history(conn: &ReadDb, customer: &CustomerId) -> StoreResult<Vec<ConsentRecord>> {
    let mut statement = conn.prepare_cached(
        "SELECT list_id, action, source, at, ip, user_agent, paused_until FROM consent_records
         WHERE customer_id = ?1 ORDER BY id",
    )?;
    let rows = statement.query_map(params![customer.as_str()], |row| {
        Ok(ConsentRecord {
            list_id: row.get("list_id")?,
            action: row.get("action")?,
            source: row.get("source")?,
            at: row.get("at")?,
            ip: row.get("ip")?,
            user_agent: row.get("user_agent")?,
            paused_until: row.get("paused_until")?,
        })
    })?;
    rows.collect::<StoreResult<_>>()
}
