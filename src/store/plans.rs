//! The query plans of the back office and of housekeeping: every statement the admin API and
//! commands run to list, search and show, and every statement of the sweep, is collected as it
//! runs and shown to `EXPLAIN QUERY PLAN`, which must find its rows through an index, never by
//! reading every row of a table that grows with the customers (at a million customers such a
//! read took from 0.1 to 1 s, docs/performance.md).

use std::collections::BTreeSet;
use std::sync::Mutex;

use rusqlite::Connection;
use rusqlite::trace::{TraceEvent, TraceEventCodes};

use super::customers::{self, Cursor};
use super::sql::Db;
use super::{Start, activity, codes, export, outbox, passkeys, requests, sessions, sign_ups};
use super::{devices, stats, subscriptions, totp, undo, webhooks};
use crate::domain::CustomerId;

/// The SQL the traced connection ran (one traced connection at a time: see [`ran`]).
static RAN: Mutex<Vec<String>> = Mutex::new(Vec::new());
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn collect(event: TraceEvent<'_>) {
    if let TraceEvent::Stmt(statement, _) = event {
        RAN.lock().unwrap().push(statement.sql().to_string());
    }
}

/// The statements `work` runs on `conn`, each once.
fn ran(conn: &Connection, work: impl FnOnce(&Db)) -> BTreeSet<String> {
    let _one = ONE_AT_A_TIME.lock().unwrap();
    RAN.lock().unwrap().clear();
    conn.trace_v2(TraceEventCodes::SQLITE_TRACE_STMT, Some(collect));
    work(&Db::sqlite(conn));
    conn.trace_v2(TraceEventCodes::empty(), None);
    RAN.lock()
        .unwrap()
        .drain(..)
        // Trigger programs and FTS5's statements on its own shadow tables come too.
        .filter(|sql| !sql.starts_with("--"))
        .collect()
}

/// Tables small by design: the lists, the keys, the schema's own, the search index's settings,
/// the customer counters' buckets.
const SMALL_TABLES: &[&str] = &[
    "subscription_lists",
    "customer_counts",
    "server_keys",
    "schema_migrations",
    "main.customer_search_config",
];

/// The steps of the plan of `sql`.
fn plan(conn: &Connection, sql: &str) -> Vec<String> {
    let mut statement = conn
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    // The parameters stay unbound (NULL): a plan does not depend on them.
    let mut rows = statement.raw_query();
    let mut steps = Vec::new();
    while let Some(row) = rows.next().unwrap() {
        steps.push(row.get::<_, String>("detail").unwrap());
    }
    steps
}

/// Names given to subqueries in `FROM` (PostgreSQL wants one): scanning one reads the rows of
/// its own steps, which are checked too.
const SUBQUERIES: &[&str] = &["matched", "probed"];

/// The plan steps of `sql` that read every row of a table that grows.
fn full_scans(conn: &Connection, sql: &str) -> Vec<String> {
    let steps = plan(conn, sql);
    // A statement with no condition that reads in the table's own order (no sorting) and has
    // a LIMIT stops there: the newest emails of `mail outbox`.
    let stops_at_limit = !sql.contains("WHERE")
        && sql.contains("LIMIT")
        && !steps.iter().any(|step| step.contains("TEMP B-TREE"));
    steps
        .into_iter()
        .filter(|step| {
            let Some(table) = step.strip_prefix("SCAN ") else {
                return false;
            };
            // `SCAN t USING INDEX` walks an index in order, as a page does with its LIMIT, and
            // the `M` of a virtual table's index is a full-text MATCH; a bare `SCAN t` reads
            // the table. A subquery's scan reads the rows of its own steps, checked here too.
            !table.contains(" USING ")
                && !table.starts_with("(subquery-")
                && !SUBQUERIES.contains(&table)
                && !table.contains("VIRTUAL TABLE INDEX 0:M")
                && !SMALL_TABLES.contains(&table)
                && !stops_at_limit
        })
        .collect()
}

fn database() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    super::migrations::apply(&Db::sqlite(&conn)).unwrap();
    conn
}

fn assert_indexed(conn: &Connection, statements: &BTreeSet<String>) {
    let scans: Vec<(String, Vec<String>)> = statements
        .iter()
        .map(|sql| (sql.clone(), full_scans(conn, sql)))
        .filter(|(_, scans)| !scans.is_empty())
        .collect();
    assert!(
        scans.is_empty(),
        "statements that read whole tables: {scans:#?}"
    );
}

#[test]
fn every_back_office_listing_search_and_view_finds_its_rows_through_an_index() {
    let conn = database();
    let id = CustomerId::parse("10000000000001").unwrap();
    let statements = ran(&conn, |c| {
        let after = Start::After(Cursor::parse("1-10000000000001").unwrap());
        for search in [None, Some("example.com")] {
            customers::list(c, search, 50, &Start::Offset(0)).unwrap();
            customers::list(c, search, 50, &after).unwrap();
        }
        customers::admin_view(c, "10000000000001").unwrap();
        customers::admin_view(c, "ann@example.com").unwrap();
        subscriptions::lists(c).unwrap();
        subscriptions::list(c, "news").unwrap();
        subscriptions::members_page(c, "news", &Start::Offset(0), 100).unwrap();
        subscriptions::members_page(c, "news", &Start::After(id.clone()), 100).unwrap();
        subscriptions::members_after(c, "news", "", 500).unwrap();
        subscriptions::subscribers(c, "news").unwrap();
        subscriptions::of_customer(c, &id).unwrap();
        subscriptions::consent_history(c, &id).unwrap();
        activity::page(c, &id, None, 20).unwrap();
        activity::page(c, &id, Some(5), 20).unwrap();
        sessions::list(c, &id).unwrap();
        passkeys::list(c, &id).unwrap();
        export::of_customer(c, &id).unwrap();
        for status in [None, Some("failed")] {
            outbox::list(c, status, 50).unwrap();
            webhooks::list(c, status, 50).unwrap();
        }
        outbox::of_customer(c, &id, None, 20).unwrap();
        for before in [None, Some(9)] {
            outbox::page(c, &["queued", "failed"], before, 50).unwrap();
            webhooks::page(c, &["queued", "sent", "failed"], before, 50).unwrap();
        }
        stats::overview(c, 1_796_376_659).unwrap();
    });
    assert!(statements.len() >= 20, "{statements:#?}");
    assert_indexed(&conn, &statements);
}

#[test]
fn every_statement_of_the_housekeeping_sweep_finds_its_rows_through_an_index() {
    let conn = database();
    let statements = ran(&conn, |c| {
        sign_ups::expired(c, 0, 250).unwrap();
        sessions::purge_expired(c, 250).unwrap();
        codes::purge_expired(c, 250).unwrap();
        codes::purge_guesses(c, codes::AddressCode::PasswordReset, 0, 250).unwrap();
        codes::purge_guesses(c, codes::AddressCode::LoginCode, 0, 250).unwrap();
        totp::purge_expired_challenges(c, 250).unwrap();
        undo::purge_expired(c, 250).unwrap();
        devices::purge_expired(c, 250).unwrap();
        passkeys::purge_expired_challenges(c, 250).unwrap();
        activity::purge_before(c, 0, 250).unwrap();
        requests::purge_allowance(c, 250).unwrap();
        outbox::purge_sent_before(c, 0, 250).unwrap();
        webhooks::purge_sent_before(c, 0, 250).unwrap();
    });
    assert_eq!(statements.len(), 13, "{statements:#?}");
    assert_indexed(&conn, &statements);
    // And each finds the rows past its cutoff in the index, not by reading every row of a
    // status (the planner once chose `outbox(status, id)` and read two million sent emails).
    for sql in &statements {
        let steps = plan(&conn, sql);
        assert!(
            steps
                .iter()
                .any(|s| s.starts_with("SEARCH") && s.contains("<?)")),
            "{sql}: {steps:?}"
        );
    }
}

#[test]
fn the_check_sees_a_table_read_whole() {
    let conn = database();
    assert_eq!(
        full_scans(
            &conn,
            "SELECT id FROM outbox WHERE recipient = 'a@example.com'"
        ),
        ["SCAN outbox"]
    );
    assert_eq!(
        full_scans(&conn, "SELECT id FROM outbox ORDER BY recipient LIMIT 5"),
        ["SCAN outbox"],
        "a sorted read reads every row before its limit"
    );
    assert!(full_scans(&conn, "SELECT id FROM outbox ORDER BY id DESC LIMIT 5").is_empty());
    assert!(full_scans(&conn, "SELECT 1 FROM subscription_lists").is_empty());
}
