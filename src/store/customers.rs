//! Customers: creation, lookup, profile edits, passwords, activation and deletion.

use std::sync::LazyLock;

use super::sql::{self, Db, Dialect, OptionalRow, ReadDb, Row, Value, params};

use super::{Page, Start, StoreError, StoreResult, now, subscriptions};
use crate::domain::{
    Customer, CustomerId, EmailAddress, FIELDS, Identifier, Language, Profile, ProfileChanges,
    ProfileField, Status, Subscription,
};

/// What a new customer starts with.
#[derive(Clone, Debug)]
pub struct NewCustomer {
    /// The id to give, when it was never issued; otherwise (and when `None`) a random one.
    pub id: Option<CustomerId>,
    pub email: EmailAddress,
    pub identifier: Option<Identifier>,
    pub profile: ProfileChanges,
    /// The language of the customer's emails; `None`: `mail.default_language`.
    pub language: Option<Language>,
    /// How the account arrives: pending (the default), or moved in from another shop.
    pub arrival: Arrival,
}

/// How a new customer's account starts.
#[derive(Clone, Debug, Default)]
pub enum Arrival {
    /// Pending, created now: the customer chooses a password through an activation link.
    #[default]
    Pending,
    /// Moved in from another shop (an import): opened at `created_at` (Unix seconds), active
    /// or pending, with the old shop's password hash when it has one. An active customer's
    /// first sign-in sends no new-device notice: every device is new after a move.
    MovedIn {
        created_at: i64,
        status: Status,
        password_hash: Option<String>,
    },
}

/// What login needs to know about an account.
#[derive(Clone, Debug)]
pub struct LoginRecord {
    pub id: CustomerId,
    pub status: Status,
    pub password_hash: Option<String>,
    /// Locked after too many failed password checks: no password opens it until a reset.
    pub locked: bool,
}

/// A customer as the retailer's back office sees them.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AdminView {
    #[serde(flatten)]
    pub customer: Customer,
    pub identifier: String,
    pub status: Status,
    #[serde(serialize_with = "crate::domain::rfc3339_field")]
    pub created_at: i64,
    /// The language of the customer's emails; `null`: `mail.default_language`.
    pub language: Option<String>,
    /// Since when bounces showed the address dead, and why; `null` while it is deliverable.
    pub email_undeliverable: Option<Undeliverable>,
}

/// Why an address counts as undeliverable, for the back office.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Undeliverable {
    #[serde(serialize_with = "crate::domain::rfc3339_field")]
    pub since: i64,
    pub reason: String,
}

/// Inserts a customer (pending, or as [`Arrival`] says) with a never-used random id and its row of the search index; a
/// missing identifier is generated. One statement each for the id, the customer and the search
/// row, none of them run by a trigger (see migration 10).
pub fn insert(conn: &Db, new: &NewCustomer) -> StoreResult<(CustomerId, Identifier)> {
    let mut wanted = new.id.clone();
    let id = loop {
        let candidate = wanted.take().unwrap_or_else(CustomerId::random);
        let fresh = conn
            .prepare_cached("INSERT INTO customer_ids (id) VALUES (?1) ON CONFLICT DO NOTHING")?
            .execute(params![candidate.as_str()])?;
        if fresh == 1 {
            break candidate;
        }
    };
    let identifier = match &new.identifier {
        Some(identifier) => identifier.clone(),
        None => loop {
            let candidate = Identifier::random();
            if !identifier_taken(conn, &candidate)? {
                break candidate;
            }
        },
    };
    let now = now();
    let (created_at, status, password_hash) = match &new.arrival {
        Arrival::Pending => (now, Status::Pending, None),
        Arrival::MovedIn {
            created_at,
            status,
            password_hash,
        } => (*created_at, *status, password_hash.as_deref()),
    };
    let active = status == Status::Active;
    // The search row first: FTS5 writes rows out in order of their rowids, and one lower than
    // the last makes it flush what it holds, so a new row takes the next rowid there.
    let name = new
        .profile
        .fields
        .iter()
        .rev()
        .find(|(f, _)| *f == ProfileField::Name)
        .and_then(|(_, v)| v.as_deref());
    let search_row = index_for_search(conn, &id, new.email.as_str(), identifier.as_str(), name)?;
    let mut values: Vec<Value> = vec![
        id.as_str().into(),
        identifier.as_str().into(),
        new.email.as_str().into(),
        now.into(),
        new.language.as_ref().map(|l| l.as_str()).into(),
        search_row.into(),
        created_at.into(),
        status.as_str().into(),
        password_hash.into(),
        active.then_some(created_at).into(),
        i64::from(active).into(),
    ];
    values.extend(ProfileField::ALL.iter().map(|field| {
        new.profile
            .fields
            .iter()
            .rev()
            .find(|(f, _)| f == field)
            .and_then(|(_, v)| v.as_deref())
            .into()
    }));
    let inserted = conn
        .prepare_cached(&INSERT_CUSTOMER)?
        .execute(&sql::each(&values));
    if let Err(e) = inserted {
        // A refusal (an email in use) may be committed with the rest of its transaction.
        if let Some(row) = search_row {
            conn.prepare_cached("DELETE FROM customer_search WHERE rowid = ?1")?
                .execute(params![row])?;
        }
        return Err(e);
    }
    Ok((id, identifier))
}

/// Every column a new customer is written with: the profile columns in the order of
/// [`FIELDS`] follow the eleven fixed ones.
static INSERT_CUSTOMER: LazyLock<String> = LazyLock::new(|| {
    let values: Vec<String> = (0..FIELDS.len()).map(|i| format!("?{}", i + 12)).collect();
    format!(
        "INSERT INTO customers
         (id, identifier, email, updated_at, language, search_row, created_at, status,
          password_hash, activated_at, device_notice_skip, {})
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, {})",
        profile_columns(""),
        values.join(", ")
    )
});

/// Adds a customer's email, identifier and name to SQLite's trigram search index; answers the row,
/// for their `search_row`. A statement of its own: run from a trigger, it would make FTS5
/// write out its pending rows for every customer (migration 10). PostgreSQL indexes the
/// customers' own columns (`pg_trgm`) and has no such row: `None`.
pub(crate) fn index_for_search(
    conn: &Db,
    id: &CustomerId,
    email: &str,
    identifier: &str,
    name: Option<&str>,
) -> StoreResult<Option<i64>> {
    let Some(sqlite) = conn.as_sqlite() else {
        return Ok(None);
    };
    conn.prepare_cached(
        "INSERT INTO customer_search (id, email, identifier, name)
         VALUES (?1, ?2, lower(?3), lower(?4))",
    )?
    .execute(params![id.as_str(), email, identifier, name])?;
    Ok(Some(sqlite.last_insert_rowid()))
}

/// The account behind an email address, for login.
pub fn find_for_login(conn: &ReadDb, email: &EmailAddress) -> StoreResult<Option<LoginRecord>> {
    conn.prepare_cached(
        "SELECT id, status, password_hash, locked_at IS NOT NULL AS locked FROM customers
         WHERE email = ?1",
    )?
    .query_row(params![email.as_str()], |row| {
        Ok(LoginRecord {
            id: CustomerId::parse(&row.get::<String>("id")?).map_err(corrupt)?,
            status: status(row)?,
            password_hash: row.get("password_hash")?,
            locked: row.get("locked")?,
        })
    })
    .optional()
}

/// The id and status of the customer with this public identifier.
pub fn find_by_identifier(
    conn: &ReadDb,
    identifier: &str,
) -> StoreResult<Option<(CustomerId, Status)>> {
    conn.prepare_cached("SELECT id, status FROM customers WHERE identifier = ?1")?
        .query_row(params![identifier], |row| {
            Ok((
                CustomerId::parse(&row.get::<String>("id")?).map_err(corrupt)?,
                status(row)?,
            ))
        })
        .optional()
}

/// The public identifier of the customer with this id.
pub fn identifier_of(conn: &ReadDb, id: &CustomerId) -> StoreResult<Option<Identifier>> {
    let raw: Option<String> = conn
        .prepare_cached("SELECT identifier FROM customers WHERE id = ?1")?
        .query_row(params![id.as_str()], |row| row.only())
        .optional()?;
    raw.map(|r| Identifier::parse(&r).map_err(StoreError::BadValue))
        .transpose()
}

/// The columns of the customer object but its subscriptions, for `SELECT`.
static PROFILE_COLUMNS: LazyLock<String> =
    LazyLock::new(|| format!("id, email, undeliverable_at, {}", profile_columns("")));

/// The profile's columns in the order of [`FIELDS`], each after `table` (`"c."`, or `""`).
pub(super) fn profile_columns(table: &str) -> String {
    let columns: Vec<String> = FIELDS
        .iter()
        .map(|spec| format!("{table}{}", spec.key))
        .collect();
    columns.join(", ")
}

/// The customer object (without subscriptions) from a row that has [`PROFILE_COLUMNS`].
fn profile_from_row(row: &Row<'_>) -> StoreResult<Customer> {
    let mut profile = Profile::default();
    for spec in FIELDS {
        profile.set(spec.field, row.get(spec.key)?);
    }
    Ok(Customer {
        id: CustomerId::parse(&row.get::<String>("id")?).map_err(corrupt)?,
        email: row.get("email")?,
        email_deliverable: row.get::<Option<i64>>("undeliverable_at")?.is_none(),
        profile,
        subscriptions: Vec::new(),
    })
}

/// The customer object, with subscriptions.
pub fn profile(conn: &ReadDb, id: &CustomerId) -> StoreResult<Option<Customer>> {
    let customer = conn
        .prepare_cached(&format!(
            "SELECT {} FROM customers WHERE id = ?1",
            *PROFILE_COLUMNS
        ))?
        .query_row(params![id.as_str()], profile_from_row)
        .optional()?;
    let Some(mut customer) = customer else {
        return Ok(None);
    };
    customer.subscriptions = subscriptions::of_customer(conn, id)?;
    Ok(Some(customer))
}

/// The customer object of the live session whose token digest is `token_hash`, in one
/// statement: SQLite takes its file locks once per statement, and on the busiest read of the
/// product those locks cost more than the lookups (the token check, the profile and its
/// subscriptions were three statements). With the customer, when the session was last marked
/// used.
pub fn profile_of_session(
    conn: &ReadDb,
    token_hash: &[u8],
) -> StoreResult<Option<(Customer, i64)>> {
    let mut statement = conn.prepare_cached(&SESSION_PROFILE)?;
    let mut found: Option<(Customer, i64)> = None;
    let rows = statement.query_map(params![token_hash, now()], |row| {
        let (customer, _) = match &mut found {
            Some(found) => found,
            None => found.insert((profile_from_row(row)?, row.get("last_used_at")?)),
        };
        // No subscription: one row, its list columns NULL.
        if let Some(id) = row.get::<Option<String>>("list_id")? {
            customer.subscriptions.push(Subscription {
                id,
                name: row.get("list_name")?,
                subscribed_at: row.get("subscribed_at")?,
                paused_until: row.get("paused_until")?,
            });
        }
        Ok(())
    })?;
    rows.collect::<StoreResult<()>>()?;
    Ok(found)
}

/// One row per subscription of the session's customer (one with NULL list columns if none),
/// in list order. Ordered by `s.list_id` (equal to `l.id`), which the primary key of
/// `subscriptions` already gives, where `l.id` would sort in a temporary tree.
static SESSION_PROFILE: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT c.id, c.email, c.undeliverable_at, {}, \
         l.id AS list_id, l.name AS list_name, s.subscribed_at, \
         CASE WHEN s.paused_until > ?2 THEN s.paused_until END AS paused_until, t.last_used_at \
         FROM sessions t \
         JOIN customers c ON c.id = t.customer_id \
         LEFT JOIN subscriptions s ON s.customer_id = c.id \
         LEFT JOIN subscription_lists l ON l.id = s.list_id \
         WHERE t.token_hash = ?1 AND t.expires_at > ?2 \
         ORDER BY s.list_id",
        profile_columns("c.")
    )
});

/// The back-office view of a customer found by id, identifier or email.
pub fn admin_view(conn: &ReadDb, key: &str) -> StoreResult<Option<AdminView>> {
    let row = conn
        .prepare_cached(&format!(
            "SELECT {}, identifier, status, created_at, language, undeliverable_reason
             FROM customers WHERE id = ?1 OR identifier = ?1 OR email = lower(trim(?1))",
            *PROFILE_COLUMNS
        ))?
        .query_row(params![key], admin_from_row)
        .optional()?;
    let Some(mut view) = row else {
        return Ok(None);
    };
    view.customer.subscriptions = subscriptions::of_customer(conn, &view.customer.id)?;
    Ok(Some(view))
}

/// The back-office view (without subscriptions) from a row with [`PROFILE_COLUMNS`],
/// `identifier`, `status`, `created_at`, `language` and `undeliverable_reason`.
fn admin_from_row(row: &Row<'_>) -> StoreResult<AdminView> {
    let customer = profile_from_row(row)?;
    let email_undeliverable = match row.get::<Option<i64>>("undeliverable_at")? {
        Some(since) => Some(Undeliverable {
            since,
            reason: row
                .get::<Option<String>>("undeliverable_reason")?
                .unwrap_or_default(),
        }),
        None => None,
    };
    Ok(AdminView {
        customer,
        identifier: row.get("identifier")?,
        status: status(row)?,
        created_at: row.get("created_at")?,
        language: row.get("language")?,
        email_undeliverable,
    })
}

/// A customer's place in the listing's order (creation time, then id), written
/// `<created_at>-<id>`: the `next` of one page and the `after` of the page that follows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cursor {
    created_at: i64,
    id: CustomerId,
}

impl Cursor {
    pub fn parse(text: &str) -> Result<Cursor, String> {
        let problem = || "must be the `next` of an earlier page".to_owned();
        let (created_at, id) = text.split_once('-').ok_or_else(problem)?;
        Ok(Cursor {
            created_at: created_at.parse().map_err(|_| problem())?,
            id: CustomerId::parse(id).map_err(|_| problem())?,
        })
    }
}

impl std::fmt::Display for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.created_at, self.id)
    }
}

impl serde::Serialize for Cursor {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// How many matches a search counts before it stops: beyond it the page says that at least
/// this many match (`total_exact: false`), so that a search matching most customers
/// ("gmail") does not count a million of them at every page.
pub const COUNT_UP_TO: i64 = 1_000;

/// How many customers, in listing order from the page's start, a search first looks through
/// itself before it asks the trigram index. A broad search fills its page from these few; the
/// index would first gather every one of its matches (most customers) to put them in order.
const PROBED: i64 = 2_000;

/// The columns of one row of the admin listing.
fn listing_columns() -> String {
    format!(
        "{}, identifier, status, created_at, language, undeliverable_reason",
        *PROFILE_COLUMNS
    )
}

/// `(condition, offset clause)` of a page that starts at `start`, on parameters `?3` (and
/// `?4`).
fn page_start(start: &Start<Cursor>) -> (&'static str, &'static str) {
    match start {
        Start::Offset(_) => ("", "OFFSET ?3"),
        Start::After(_) => ("AND (created_at, id) > (?3, ?4)", ""),
    }
}

/// The SQL of one page of the admin listing: the customers `search` finds, in creation order,
/// from `start`, `?2` of them.
fn page_sql(search: &Search, start: &Start<Cursor>) -> String {
    let (after, offset) = page_start(start);
    format!(
        "SELECT {} FROM customers
         WHERE {} {after} ORDER BY created_at, id LIMIT ?2 {offset}",
        listing_columns(),
        search.filter()
    )
}

/// The SQL of the same page found among the next [`PROBED`] customers only (`search` a
/// [`Search::Scan`]): complete when it holds `?2` rows.
fn probe_sql(search: &Search, start: &Start<Cursor>) -> String {
    let (after, offset) = page_start(start);
    format!(
        "SELECT * FROM (SELECT {} FROM customers WHERE CAST(?1 AS TEXT) IS NOT NULL {after}
                        ORDER BY created_at, id LIMIT {PROBED}) AS probed
         WHERE {} ORDER BY created_at, id LIMIT ?2 {offset}",
        listing_columns(),
        search.filter()
    )
}

/// The SQL that counts the customers `search` finds: all of them without a text, else up to
/// one more than [`COUNT_UP_TO`].
fn count_sql(search: &Search) -> String {
    let beyond = COUNT_UP_TO + 1;
    match search {
        // The counters the database keeps in the transaction of every change (migration 24)
        // hold the same number as counting the rows, without reading a million of them at
        // every page.
        Search::All => format!(
            "SELECT CAST(COALESCE(SUM(customers), 0) AS BIGINT) FROM customer_counts WHERE {}",
            search.filter()
        ),
        // Every customer has one row in the index: counting there stops at the limit, where
        // `id IN (...)` would first gather every match.
        Search::Trigrams { .. } => format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM customer_search
                                   WHERE customer_search MATCH ?1 LIMIT {beyond}) AS matched"
        ),
        Search::Scan(_) | Search::Like(_) => format!(
            "SELECT COUNT(*) FROM (SELECT 1 FROM customers WHERE {} LIMIT {beyond}) AS matched",
            search.filter()
        ),
    }
}

/// Up to `limit + 1` rows of the page that `sql` reads for `search` from `start`.
fn page_rows(
    conn: &ReadDb,
    sql: &str,
    search: &Search,
    limit: u32,
    start: &Start<Cursor>,
) -> StoreResult<Vec<AdminView>> {
    let mut statement = conn.prepare_cached(sql)?;
    // One row more than the page holds says whether another page follows.
    let mut values: Vec<Value> = vec![search.value().into(), (i64::from(limit) + 1).into()];
    match start {
        Start::Offset(offset) => values.push(i64::from(*offset).into()),
        Start::After(cursor) => {
            values.extend([cursor.created_at.into(), cursor.id.as_str().into()])
        }
    }
    let rows = statement.query_map(&sql::each(&values), admin_from_row)?;
    rows.collect()
}

/// Customers in creation order, optionally only those whose email, identifier or name
/// contains `search`, `limit` at a time from `start`; with the number that match (all of
/// them, or for a search at least [`COUNT_UP_TO`]).
pub fn list(
    conn: &ReadDb,
    search: Option<&str>,
    limit: u32,
    start: &Start<Cursor>,
) -> StoreResult<Page<AdminView, Cursor>> {
    let search = Search::new(search, conn.dialect());
    let counted: i64 = conn
        .prepare_cached(&count_sql(&search))?
        .query_row(params![search.value()], |row| row.only())?;
    let probed = match search.probe() {
        Some(probe) => Some(page_rows(
            conn,
            &probe_sql(&probe, start),
            &probe,
            limit,
            start,
        )?)
        .filter(|rows| rows.len() > limit as usize),
        None => None,
    };
    let rows = match probed {
        Some(rows) => rows,
        None => page_rows(conn, &page_sql(&search, start), &search, limit, start)?,
    };
    let capped = !matches!(search, Search::All) && counted > COUNT_UP_TO;
    let total = if capped { COUNT_UP_TO } else { counted };
    let mut page = Page::of(rows, limit, total, |view: &AdminView| Cursor {
        created_at: view.created_at,
        id: view.customer.id.clone(),
    });
    page.total_exact = !capped;
    for view in &mut page.rows {
        view.customer.subscriptions = subscriptions::of_customer(conn, &view.customer.id)?;
    }
    Ok(page)
}

/// How the admin listing finds the customers whose email, identifier or name contains a text
/// (compared in lower case).
#[derive(Debug, PartialEq)]
enum Search {
    /// No text: every customer.
    All,
    /// Three characters or more on SQLite: a phrase of the trigram index `customer_search`,
    /// and for a text in ASCII the `LIKE` pattern that finds the same customers (the index
    /// folds case beyond ASCII, `LIKE` does not).
    Trigrams {
        phrase: String,
        ascii: Option<String>,
    },
    /// Fewer on SQLite: a `LIKE` pattern, checked against every customer (the index holds no
    /// shorter pieces).
    Scan(String),
    /// On PostgreSQL: a `LIKE` pattern on the lower-cased columns, which their trigram
    /// indexes answer from three characters on (`pg_trgm`).
    Like(String),
}

impl Search {
    fn new(text: Option<&str>, dialect: Dialect) -> Search {
        let text = text.map(|t| t.trim().to_lowercase()).unwrap_or_default();
        let pattern = || {
            format!(
                "%{}%",
                text.replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
            )
        };
        match (text.chars().count(), dialect) {
            (0, _) => Search::All,
            (_, Dialect::Postgres) => Search::Like(pattern()),
            (1 | 2, Dialect::Sqlite) => Search::Scan(pattern()),
            (_, Dialect::Sqlite) => Search::Trigrams {
                phrase: format!("\"{}\"", text.replace('"', "\"\"")),
                ascii: text.is_ascii().then(pattern),
            },
        }
    }

    /// The `WHERE` condition, on parameter `?1`.
    fn filter(&self) -> &'static str {
        match self {
            Search::All => "CAST(?1 AS TEXT) IS NULL",
            Search::Trigrams { .. } => {
                "id IN (SELECT id FROM customer_search WHERE customer_search MATCH ?1)"
            }
            Search::Scan(_) => {
                "(email LIKE ?1 ESCAPE '\\' OR lower(identifier) LIKE ?1 ESCAPE '\\' \
                 OR lower(name) LIKE ?1 ESCAPE '\\')"
            }
            Search::Like(_) => {
                "(lower(email) LIKE ?1 ESCAPE '\\' OR lower(identifier) LIKE ?1 ESCAPE '\\' \
                 OR lower(name) LIKE ?1 ESCAPE '\\')"
            }
        }
    }

    /// The value of `?1`.
    fn value(&self) -> Option<&str> {
        match self {
            Search::All => None,
            Search::Trigrams { phrase: text, .. } | Search::Scan(text) | Search::Like(text) => {
                Some(text)
            }
        }
    }

    /// The search that looks through the first customers of a page one by one, for
    /// [`probe_sql`]: a text in ASCII on SQLite.
    fn probe(&self) -> Option<Search> {
        match self {
            Search::Trigrams {
                ascii: Some(pattern),
                ..
            } => Some(Search::Scan(pattern.clone())),
            _ => None,
        }
    }
}

/// Applies profile changes; a no-op for an empty set.
pub fn update_profile(conn: &Db, id: &CustomerId, changes: &ProfileChanges) -> StoreResult<()> {
    if changes.is_empty() {
        return Ok(());
    }
    // Column names come from `ProfileField::key`, a fixed list: never from the request.
    let assignments: Vec<String> = changes
        .fields
        .iter()
        .enumerate()
        .map(|(i, (field, _))| format!("{} = ?{}", field.key(), i + 3))
        .collect();
    let sql = format!(
        "UPDATE customers SET updated_at = ?2, {} WHERE id = ?1",
        assignments.join(", ")
    );
    let mut values: Vec<Value> = vec![id.as_str().into(), now().into()];
    values.extend(changes.fields.iter().map(|(_, v)| v.as_deref().into()));
    // Cached by its text: a customer's form sends the same few sets of fields again and again.
    conn.prepare_cached(&sql)?.execute(&sql::each(&values))?;
    Ok(())
}

/// The stored password hash of an active customer.
pub fn password_hash(conn: &ReadDb, id: &CustomerId) -> StoreResult<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT password_hash FROM customers WHERE id = ?1")?
        .query_row(params![id.as_str()], |row| row.only())
        .optional()?
        .flatten())
}

/// The customer's current email address and name.
pub fn contact(conn: &ReadDb, id: &CustomerId) -> StoreResult<Option<(String, Option<String>)>> {
    conn.prepare_cached("SELECT email, name FROM customers WHERE id = ?1")?
        .query_row(params![id.as_str()], |row| {
            Ok((row.get("email")?, row.get("name")?))
        })
        .optional()
}

/// The language of the customer's emails, if one is stored.
pub fn language_of(conn: &ReadDb, id: &CustomerId) -> StoreResult<Option<Language>> {
    let raw: Option<String> = conn
        .prepare_cached("SELECT language FROM customers WHERE id = ?1")?
        .query_row(params![id.as_str()], |row| row.only())
        .optional()?
        .flatten();
    // A value this program cannot read falls back to the default language.
    Ok(raw.and_then(|raw| Language::parse(&raw).ok()))
}

/// Sets the language of the customer's emails; false if there is no such customer.
pub fn set_language(conn: &Db, id: &CustomerId, language: &Language) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("UPDATE customers SET language = ?2, updated_at = ?3 WHERE id = ?1")?
        .execute(params![id.as_str(), language.as_str(), now()])?
        == 1)
}

/// Whether the customer has never activated their account.
pub fn is_pending(conn: &ReadDb, id: &CustomerId) -> StoreResult<bool> {
    conn.prepare_cached("SELECT status = 'pending' FROM customers WHERE id = ?1")?
        .query_row(params![id.as_str()], |row| row.only())
        .optional()
        .map(|pending| pending.unwrap_or(false))
}

/// Replaces the password hash.
pub fn set_password(conn: &Db, id: &CustomerId, hash: &str) -> StoreResult<()> {
    // A new password starts a fresh count of failures and ends a lockout.
    conn.prepare_cached(
        "UPDATE customers SET password_hash = ?2, updated_at = ?3, failed_logins = 0,
             locked_at = NULL
         WHERE id = ?1",
    )?
    .execute(params![id.as_str(), hash, now()])?;
    Ok(())
}

/// Makes the password unusable (no password matches until a reset sets a new one), for an
/// account taken back from whoever knew it.
pub fn disable_password(conn: &Db, id: &CustomerId) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE customers SET password_hash = NULL, updated_at = ?2 WHERE id = ?1",
    )?
    .execute(params![id.as_str(), now()])?;
    Ok(())
}

/// The password hash and whether the account is locked, for a check inside a write.
pub fn login_state(conn: &ReadDb, id: &CustomerId) -> StoreResult<(Option<String>, bool)> {
    Ok(conn
        .prepare_cached(
            "SELECT password_hash, locked_at IS NOT NULL AS locked FROM customers WHERE id = ?1",
        )?
        .query_row(params![id.as_str()], |row| {
            Ok((row.get("password_hash")?, row.get("locked")?))
        })
        .optional()?
        .unwrap_or((None, false)))
}

/// Counts one failed check of the password `checked` (only while it is still the stored one
/// and the account is not locked). True when this failure is the `limit`th in a row: the
/// account is locked by it, in the same statement, so exactly one failure ever says so.
pub fn count_failed_login(
    conn: &Db,
    id: &CustomerId,
    checked: Option<&str>,
    limit: u32,
) -> StoreResult<bool> {
    let count: Option<i64> = conn
        .prepare_cached(
            "UPDATE customers SET failed_logins = failed_logins + 1,
                 locked_at = CASE WHEN failed_logins + 1 >= ?3 THEN CAST(?4 AS BIGINT) END
             WHERE id = ?1 AND password_hash IS NOT DISTINCT FROM ?2 AND locked_at IS NULL
             RETURNING failed_logins",
        )?
        .query_row(params![id.as_str(), checked, limit, now()], |row| {
            row.only()
        })
        .optional()?;
    Ok(count.is_some_and(|c| c >= i64::from(limit)))
}

/// A successful password check: the count of failures starts again from zero.
pub fn clear_failed_logins(conn: &Db, id: &CustomerId) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE customers SET failed_logins = 0 WHERE id = ?1 AND failed_logins != 0",
    )?
    .execute(params![id.as_str()])?;
    Ok(())
}

/// Lifts a lockout: the failed password checks counted against the account are forgotten and
/// it accepts its password again. False when there is no such customer.
pub fn unlock(conn: &Db, id: &CustomerId) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("UPDATE customers SET failed_logins = 0, locked_at = NULL WHERE id = ?1")?
        .execute(params![id.as_str()])?
        == 1)
}

/// Replaces the password hash only if it is still `expected` (a rehash must not undo a
/// password change that happened meanwhile).
pub fn replace_password_hash(
    conn: &Db,
    id: &CustomerId,
    expected: &str,
    hash: &str,
) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE customers SET password_hash = ?3 WHERE id = ?1 AND password_hash = ?2",
    )?
    .execute(params![id.as_str(), expected, hash])?;
    Ok(())
}

/// Records that the customer signed in now.
pub fn mark_login(conn: &Db, id: &CustomerId) -> StoreResult<()> {
    conn.prepare_cached("UPDATE customers SET last_login_at = ?2 WHERE id = ?1")?
        .execute(params![id.as_str(), now()])?;
    Ok(())
}

/// Makes a pending customer active with their first password (none: a sign-in by emailed code).
pub fn activate(conn: &Db, id: &CustomerId, hash: Option<&str>) -> StoreResult<()> {
    let now = now();
    conn.prepare_cached(
        "UPDATE customers SET status = 'active', password_hash = ?2, activated_at = ?3, updated_at = ?3
         WHERE id = ?1",
    )?
    .execute(params![id.as_str(), hash, now])?;
    Ok(())
}

/// Changes the email address (already confirmed by its owner). Whatever bounces said of the
/// old address does not hold for the new one: the undeliverable mark goes.
pub fn set_email(conn: &Db, id: &CustomerId, email: &EmailAddress) -> StoreResult<()> {
    conn.prepare_cached(
        "UPDATE customers SET email = ?2, updated_at = ?3,
             undeliverable_at = NULL, undeliverable_reason = NULL, soft_bounces = 0
         WHERE id = ?1",
    )?
    .execute(params![id.as_str(), email.as_str(), now()])?;
    Ok(())
}

/// Whether an account uses this email address.
pub fn email_taken(conn: &ReadDb, email: &EmailAddress) -> StoreResult<bool> {
    conn.prepare_cached("SELECT EXISTS(SELECT 1 FROM customers WHERE email = ?1)")?
        .query_row(params![email.as_str()], |row| row.only())
}

/// Whether this customer id was ever issued (ids are never reused, not even after a deletion).
pub fn id_issued(conn: &ReadDb, id: &CustomerId) -> StoreResult<bool> {
    conn.prepare_cached("SELECT EXISTS(SELECT 1 FROM customer_ids WHERE id = ?1)")?
        .query_row(params![id.as_str()], |row| row.only())
}

/// Whether a customer has this public identifier.
pub fn identifier_taken(conn: &ReadDb, identifier: &Identifier) -> StoreResult<bool> {
    conn.prepare_cached("SELECT EXISTS(SELECT 1 FROM customers WHERE identifier = ?1)")?
        .query_row(params![identifier.as_str()], |row| row.only())
}

/// Removes the customer and, by cascade, their sessions, codes, subscriptions and consent
/// records. The id stays reserved in `customer_ids`. Returns whether there was such a customer.
pub fn delete(conn: &Db, id: &CustomerId) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("DELETE FROM customers WHERE id = ?1")?
        .execute(params![id.as_str()])?
        == 1)
}

fn status(row: &Row<'_>) -> StoreResult<Status> {
    let raw: String = row.get("status")?;
    Status::parse(&raw).ok_or_else(|| corrupt(format!("unknown status {raw}")))
}

fn corrupt(message: String) -> StoreError {
    StoreError::BadValue(message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::{Connection, params};

    fn database(customers: &[(&str, &str, &str)]) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        crate::store::migrations::apply(&Db::sqlite(&conn)).unwrap();
        for (n, (id, identifier, email)) in customers.iter().enumerate() {
            insert_active(&conn, id, identifier, email, n as i64);
        }
        conn
    }

    /// An active customer with their search row, as [`insert`] writes them.
    fn insert_active(conn: &Connection, id: &str, identifier: &str, email: &str, at: i64) {
        let id = CustomerId::parse(id).unwrap();
        let row = index_for_search(&Db::sqlite(conn), &id, email, identifier, None).unwrap();
        conn.execute("INSERT INTO customer_ids (id) VALUES (?1)", [id.as_str()])
            .unwrap();
        conn.execute(
            "INSERT INTO customers (id, identifier, email, status, created_at, updated_at, search_row)
             VALUES (?1, ?2, ?3, 'active', ?4, ?4, ?5)",
            params![id.as_str(), identifier, email, at, row],
        )
        .unwrap();
    }

    fn found(conn: &Connection, search: &str) -> Vec<String> {
        let page = list(&Db::sqlite(conn), Some(search), 100, &Start::Offset(0)).unwrap();
        assert_eq!(page.total, page.rows.len() as i64, "{search}");
        assert_eq!(page.next, None, "{search}");
        page.rows
            .into_iter()
            .map(|v| v.customer.id.as_str().to_owned())
            .collect()
    }

    #[test]
    fn pages_after_a_cursor_walk_the_listing_once_in_order_as_offsets_do() {
        let conn = database(&[]);
        // Two customers created in the same second: the id orders them.
        for (i, at) in [
            (5, 100),
            (3, 100),
            (1, 200),
            (4, 300),
            (2, 300),
            (6, 400),
            (7, 500),
        ] {
            insert_active(
                &conn,
                &format!("3000000000000{i}"),
                &format!("c-{i}"),
                &format!("c{i}@example.com"),
                at,
            );
        }
        let ids = |page: &Page<AdminView, Cursor>| {
            page.rows
                .iter()
                .map(|v| v.customer.id.as_str()[13..].to_owned())
                .collect::<String>()
        };
        let mut walked = String::new();
        let mut start = Start::Offset(0);
        let mut pages = 0;
        loop {
            let page = list(&Db::sqlite(&conn), None, 3, &start).unwrap();
            assert_eq!(page.total, 7);
            walked += &ids(&page);
            pages += 1;
            match page.next {
                Some(next) => {
                    // A cursor survives its text form, as a client sends it back.
                    assert_eq!(Cursor::parse(&next.to_string()).unwrap(), next);
                    start = Start::After(next);
                }
                None => break,
            }
        }
        assert_eq!((walked.as_str(), pages), ("3512467", 3));
        let by_offset = (0..3)
            .map(|n| ids(&list(&Db::sqlite(&conn), None, 3, &Start::Offset(n * 3)).unwrap()))
            .collect::<String>();
        assert_eq!(by_offset, walked);
        // A full last page says no more follow; the row the cursor names may be gone.
        let last = list(&Db::sqlite(&conn), None, 1, &Start::Offset(6)).unwrap();
        assert_eq!((ids(&last).as_str(), last.next), ("7", None));
        let cursor = list(&Db::sqlite(&conn), None, 2, &Start::Offset(0))
            .unwrap()
            .next
            .unwrap();
        conn.execute("DELETE FROM customers WHERE id = '30000000000005'", [])
            .unwrap();
        let after = list(&Db::sqlite(&conn), None, 2, &Start::After(cursor)).unwrap();
        assert_eq!(ids(&after), "12");
        for bad in [
            "",
            "100",
            "100-",
            "x-30000000000001",
            "100-3000",
            "100_30000000000001",
        ] {
            assert!(Cursor::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_search_finds_any_part_of_an_email_or_identifier_through_every_change() {
        let conn = database(&[
            ("10000000000001", "Shop-0001", "ann@example.com"),
            ("10000000000002", "shop-0002", "bob@mail.test"),
            ("10000000000003", "x\"%_3", "cy@example.com"),
        ]);
        assert_eq!(
            found(&conn, "EXAMPLE"),
            ["10000000000001", "10000000000003"]
        );
        assert_eq!(
            found(&conn, "shop-000"),
            ["10000000000001", "10000000000002"]
        );
        assert_eq!(
            found(&conn, "b@"),
            ["10000000000002"],
            "two characters: read row by row"
        );
        assert_eq!(
            found(&conn, "x\"%"),
            ["10000000000003"],
            "quotes and wildcards are literal"
        );
        assert_eq!(found(&conn, "%_"), ["10000000000003"]);
        assert_eq!(
            found(&conn, "  "),
            ["10000000000001", "10000000000002", "10000000000003"],
            "no text: everyone"
        );
        conn.execute(
            "UPDATE customers SET email = 'ann@new.test' WHERE id = '10000000000001'",
            [],
        )
        .unwrap();
        assert_eq!(
            found(&conn, "example"),
            ["10000000000003"],
            "the old email is gone"
        );
        assert_eq!(found(&conn, "new.test"), ["10000000000001"]);
        conn.execute("DELETE FROM customers WHERE id = '10000000000002'", [])
            .unwrap();
        assert!(found(&conn, "mail.test").is_empty());
        let rows: i64 = conn
            .query_row("SELECT COUNT(*) FROM customer_search", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 2, "the index holds one row per customer");
    }

    /// A database with the migrations before `version` applied, as an older release left it.
    fn migrated_before(version: i64) -> Connection {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL,
                                             applied_at INTEGER NOT NULL)",
        )
        .unwrap();
        let migrations = crate::store::migrations::embedded();
        for m in migrations.iter().filter(|m| m.version < version) {
            conn.execute_batch(&m.sql).unwrap();
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?1, ?2, 0)",
                params![m.version, m.name],
            )
            .unwrap();
        }
        conn
    }

    #[test]
    fn customers_migrated_from_before_the_search_index_are_found() {
        let conn = migrated_before(5);
        conn.execute_batch(
            "INSERT INTO customer_ids VALUES ('20000000000001'), ('20000000000002');
             INSERT INTO customers (id, identifier, email, status, created_at, updated_at)
                 VALUES ('20000000000001', 'First', 'first@example.com', 'active', 1, 1),
                        ('20000000000002', 'Second', 'second@example.com', 'active', 2, 2);",
        )
        .unwrap();
        crate::store::migrations::apply(&Db::sqlite(&conn)).unwrap();
        assert_eq!(found(&conn, "second"), ["20000000000002"]);
        // A customer added since, whose search row the store writes (migration 10).
        insert_active(&conn, "20000000000003", "Third", "third@example.com", 3);
        assert_eq!(
            found(&conn, "example.com"),
            ["20000000000001", "20000000000002", "20000000000003"]
        );
        conn.execute("DELETE FROM customers WHERE id = '20000000000001'", [])
            .unwrap();
        assert_eq!(
            found(&conn, "example.com"),
            ["20000000000002", "20000000000003"]
        );
    }

    #[test]
    fn a_search_finds_part_of_a_name_from_before_the_name_was_indexed_and_through_changes() {
        let conn = migrated_before(22);
        // Written as the store wrote customers before migration 22: no name in the index.
        for (n, (id, name)) in [
            ("40000000000001", "Ada Lovelace"),
            ("40000000000002", "Bob Ré"),
        ]
        .into_iter()
        .enumerate()
        {
            conn.execute(
                "INSERT INTO customer_search (id, email, identifier) VALUES (?1, ?2, ?3)",
                params![id, format!("c{n}@example.com"), format!("c-{n}")],
            )
            .unwrap();
            let row = conn.last_insert_rowid();
            conn.execute("INSERT INTO customer_ids (id) VALUES (?1)", [id])
                .unwrap();
            conn.execute(
                "INSERT INTO customers (id, identifier, email, status, created_at, updated_at,
                                        search_row, name)
                 VALUES (?1, ?2, ?3, 'active', ?4, ?4, ?5, ?6)",
                params![
                    id,
                    format!("c-{n}"),
                    format!("c{n}@example.com"),
                    n as i64,
                    row,
                    name
                ],
            )
            .unwrap();
        }
        crate::store::migrations::apply(&Db::sqlite(&conn)).unwrap();
        assert_eq!(found(&conn, "LOVELACE"), ["40000000000001"]);
        assert_eq!(found(&conn, "ace"), ["40000000000001"]);
        assert_eq!(found(&conn, "bob ré"), ["40000000000002"]);
        assert_eq!(
            found(&conn, "bo"),
            ["40000000000002"],
            "two characters: row by row"
        );
        assert_eq!(found(&conn, "c-1"), ["40000000000002"], "identifiers still");
        // A customer the store adds now, with a name, and a name changed by a PATCH.
        let id = CustomerId::parse("40000000000003").unwrap();
        let row = index_for_search(
            &Db::sqlite(&conn),
            &id,
            "grace@example.com",
            "c-3",
            Some("Grace Hopper"),
        )
        .unwrap();
        conn.execute("INSERT INTO customer_ids (id) VALUES (?1)", [id.as_str()])
            .unwrap();
        conn.execute(
            "INSERT INTO customers (id, identifier, email, status, created_at, updated_at,
                                    search_row, name)
             VALUES (?1, 'c-3', 'grace@example.com', 'active', 3, 3, ?2, 'Grace Hopper')",
            params![id.as_str(), row],
        )
        .unwrap();
        assert_eq!(found(&conn, "hopper"), ["40000000000003"]);
        conn.execute(
            "UPDATE customers SET name = 'Ada King' WHERE id = '40000000000001'",
            [],
        )
        .unwrap();
        assert!(found(&conn, "lovelace").is_empty(), "the old name is gone");
        assert_eq!(found(&conn, "ada k"), ["40000000000001"]);
        conn.execute(
            "UPDATE customers SET name = NULL WHERE id = '40000000000003'",
            [],
        )
        .unwrap();
        assert!(
            found(&conn, "hopper").is_empty(),
            "a name removed is not found"
        );
    }

    /// The ids (last two digits and more) of one page of `search` from `start`.
    fn page_ids(conn: &Connection, search: &str, limit: u32, start: &Start<Cursor>) -> Vec<String> {
        let page = list(&Db::sqlite(conn), Some(search), limit, start).unwrap();
        page.rows
            .iter()
            .map(|v| v.customer.id.as_str().to_owned())
            .collect()
    }

    /// 3,000 customers in creation order: nine in ten at shop.example, the tenth at
    /// other.test; two far down the list with the identifier "rare-...".
    fn a_large_shop() -> (Connection, Vec<String>) {
        let conn = database(&[]);
        let mut at_shop = Vec::new();
        for i in 0..3_000_i64 {
            let id = format!("{:014}", 50_000_000_000_000 + i);
            let domain = if i % 10 == 0 {
                "other.test"
            } else {
                "shop.example"
            };
            let identifier = if i == 2_500 || i == 2_990 {
                format!("rare-{i}")
            } else {
                format!("c-{i}")
            };
            insert_active(&conn, &id, &identifier, &format!("c{i}@{domain}"), i);
            if i % 10 != 0 {
                at_shop.push(id);
            }
        }
        (conn, at_shop)
    }

    #[test]
    fn a_search_matching_most_customers_counts_to_its_limit_and_pages_as_the_index_would() {
        let (conn, at_shop) = a_large_shop();
        let db = Db::sqlite(&conn);
        let first = list(&db, Some("Shop.Example"), 50, &Start::Offset(0)).unwrap();
        assert_eq!((first.total, first.total_exact), (COUNT_UP_TO, false));
        let ids: Vec<&str> = first.rows.iter().map(|v| v.customer.id.as_str()).collect();
        assert_eq!(ids, at_shop[..50]);
        // Every page, walked by cursor, is the one the index alone reads.
        let search = Search::new(Some("shop.example"), Dialect::Sqlite);
        let mut start = Start::Offset(0);
        let mut walked = Vec::new();
        loop {
            let by_index = page_rows(&db, &page_sql(&search, &start), &search, 400, &start)
                .unwrap()
                .into_iter()
                .take(400)
                .map(|v| v.customer.id.as_str().to_owned())
                .collect::<Vec<_>>();
            let page = list(&db, Some("shop.example"), 400, &start).unwrap();
            let ids: Vec<String> = page
                .rows
                .iter()
                .map(|v| v.customer.id.as_str().to_owned())
                .collect();
            assert_eq!(ids, by_index, "from {start:?}");
            walked.extend(ids);
            match page.next {
                Some(next) => start = Start::After(next),
                None => break,
            }
        }
        assert_eq!(walked, at_shop);
        // A page asked for by offset far in is the same one.
        assert_eq!(
            page_ids(&conn, "shop.example", 50, &Start::Offset(2_000)),
            at_shop[2_000..2_050]
        );
    }

    #[test]
    fn a_search_whose_matches_lie_beyond_the_first_customers_still_finds_them_all() {
        let (conn, _) = a_large_shop();
        let db = Db::sqlite(&conn);
        let page = list(&db, Some("RARE-"), 50, &Start::Offset(0)).unwrap();
        assert_eq!((page.total, page.total_exact), (2, true));
        let ids: Vec<&str> = page.rows.iter().map(|v| v.customer.id.as_str()).collect();
        assert_eq!(ids, ["50000000002500", "50000000002990"]);
        // A thousand exactly is counted exactly.
        let other = list(&db, Some("other.test"), 10, &Start::Offset(0)).unwrap();
        assert_eq!((other.total, other.total_exact), (300, true));
        // Without a text, the total is every customer, counted.
        let all = list(&db, None, 10, &Start::Offset(0)).unwrap();
        assert_eq!((all.total, all.total_exact), (3_000, true));
        // A short text is compared row by row and counted to the limit too.
        let short = list(&db, Some("c1"), 10, &Start::Offset(0)).unwrap();
        assert_eq!((short.total, short.total_exact), (COUNT_UP_TO, false));
    }

    #[test]
    fn a_broad_search_beyond_ascii_finds_names_in_capitals_too() {
        let (conn, _) = a_large_shop();
        // Sixty customers called Özlem among the first, one of them written in capitals:
        // `LIKE` folds only ASCII, so such a text is looked up in the index, which folds all.
        for i in 0..60 {
            let id = format!("{:014}", 50_000_000_000_000_i64 + i);
            let name = if i == 3 {
                "ÖZLEM ÇELIK".to_owned()
            } else {
                format!("özlem {i}")
            };
            conn.execute(
                "UPDATE customers SET name = ?1 WHERE id = ?2",
                params![name, id],
            )
            .unwrap();
            conn.execute(
                "UPDATE customer_search SET name = lower(?1)
                 WHERE rowid = (SELECT search_row FROM customers WHERE id = ?2)",
                params![name, id],
            )
            .unwrap();
        }
        let ids = page_ids(&conn, "Özlem", 50, &Start::Offset(0));
        assert_eq!(ids.len(), 50);
        assert_eq!(ids[3], "50000000000003", "{ids:?}");
    }

    /// The query plan of the admin listing's page (from an offset and after a cursor) and
    /// count.
    fn plans(search: Option<&str>) -> Vec<String> {
        let conn = database(&[]);
        let search = Search::new(search, Dialect::Sqlite);
        let after = Start::After(Cursor::parse("1-20000000000001").unwrap());
        let mut statements = vec![
            page_sql(&search, &Start::Offset(0)),
            page_sql(&search, &after),
            count_sql(&search),
        ];
        if let Some(probe) = search.probe() {
            statements.push(probe_sql(&probe, &Start::Offset(0)));
            statements.push(probe_sql(&probe, &after));
        }
        statements
            .iter()
            .flat_map(|sql| {
                let mut statement = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
                // The search bound (it decides the plan); the rest of the parameters stay NULL.
                statement.raw_bind_parameter(1, search.value()).unwrap();
                let mut rows = statement.raw_query();
                let mut steps = Vec::new();
                while let Some(row) = rows.next().unwrap() {
                    steps.push(row.get::<_, String>("detail").unwrap());
                }
                steps
            })
            .collect()
    }

    #[test]
    fn the_admin_listing_and_its_search_never_read_every_customer_row() {
        for search in [None, Some("example.com")] {
            let plans = plans(search);
            for step in &plans {
                assert!(
                    step != "SCAN customers",
                    "{search:?} reads every customer: {plans:?}"
                );
            }
            if search.is_none() {
                assert!(
                    plans.iter().all(|p| !p.contains("TEMP B-TREE")),
                    "the page is read in index order, not sorted: {plans:?}"
                );
            } else {
                assert!(
                    plans
                        .iter()
                        .any(|p| p.contains("customer_search VIRTUAL TABLE")),
                    "{plans:?}"
                );
            }
        }
        assert!(
            plans(Some("ab")).iter().any(|p| p == "SCAN customers"),
            "two characters are looked for row by row, as docs/admin.md says"
        );
    }
}
