//! The customer counters the database keeps for `GET /admin/stats` (migration 24), on whichever
//! store the suite runs: after every flow that creates, changes or deletes customers, they hold
//! what counting every customer finds (the queries the overview ran before the counters, kept
//! here as the reference).

use std::collections::BTreeMap;
use std::num::NonZero;

use crate::common::{PASSWORD, PATIENCE, TestApp, TestDb, eventually, spawn_app_with};
use customer_area::config::Secret;
use customer_area::store::sql::params;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "admin-token-for-tests-0123456789";
const RESET_LINK: &str = "https://shop.example.com/reset/";
const CODE_LINK: &str = "https://shop.example.com/sign-in/code";

/// Customers by bucket and by day (`created_at / 86400`), as counted from every customer's row
/// and as the counters hold them (buckets and days of 0 left out).
#[derive(Debug, PartialEq, Eq)]
pub struct Counts {
    pub buckets: BTreeMap<String, i64>,
    pub days: BTreeMap<i64, i64>,
}

/// Every customer counted, with the statements `stats::overview` ran before the counters.
pub fn counted(db: &TestDb) -> Counts {
    let by_status = |status: &str| -> i64 {
        db.query_row(
            "SELECT COUNT(*) AS n FROM customers WHERE status = ?1 AND locked_at IS NULL",
            params![status],
            |row| row.get("n"),
        )
        .unwrap()
    };
    let locked: i64 = db
        .query_row(
            "SELECT COUNT(*) AS n FROM customers WHERE locked_at IS NOT NULL",
            params![],
            |row| row.get("n"),
        )
        .unwrap();
    let buckets = [
        ("active", by_status("active")),
        ("pending", by_status("pending")),
        ("locked", locked),
    ]
    .into_iter()
    .filter(|(_, n)| *n != 0)
    .map(|(bucket, n)| (bucket.to_owned(), n))
    .collect();
    let days = db
        .query_map(
            "SELECT created_at / 86400 AS day, COUNT(*) AS n FROM customers
             GROUP BY created_at / 86400",
            params![],
            |row| Ok((row.get("day")?, row.get("n")?)),
        )
        .unwrap()
        .into_iter()
        .collect();
    Counts { buckets, days }
}

/// What the counters hold.
pub fn kept(db: &TestDb) -> Counts {
    let buckets = db
        .query_map(
            "SELECT bucket, customers FROM customer_counts WHERE customers <> 0",
            params![],
            |row| Ok((row.get("bucket")?, row.get("customers")?)),
        )
        .unwrap()
        .into_iter()
        .collect();
    let days = db
        .query_map(
            "SELECT day, customers FROM signup_counts WHERE customers <> 0",
            params![],
            |row| Ok((row.get("day")?, row.get("customers")?)),
        )
        .unwrap()
        .into_iter()
        .collect();
    Counts { buckets, days }
}

async fn admin(app: &TestApp, method: Method, path: &str, body: Option<Value>) -> Value {
    let (status, answer) = app.call(method.clone(), path, Some(TOKEN), body).await;
    assert_eq!(status, StatusCode::OK, "{method} {path}: {answer}");
    answer
}

fn locked(app: &TestApp, email: &str) -> bool {
    app.db()
        .query_row(
            "SELECT locked_at IS NOT NULL AS locked FROM customers WHERE email = ?1",
            params![email],
            |row| row.get("locked"),
        )
        .unwrap()
}

/// Wrong passwords until the account locks.
async fn lock_out(app: &TestApp, email: &str) {
    for i in 0..3 {
        let (status, _) = app.login(email, &format!("wrong guess {i}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    eventually(PATIENCE, "the account is locked", || {
        std::future::ready(locked(app, email).then_some(()))
    })
    .await;
}

/// A password reset through the emailed link, which also lifts a lockout.
async fn reset_password(app: &TestApp, email: &str) {
    app.ask_reset(email).await;
    let mail = app.wait_for_email(email, "Reset your").await;
    let code = mail.link(RESET_LINK)[RESET_LINK.len()..].to_owned();
    let (status, body) = app
        .post("/customers/do_reset", json!({"email": email, "code": code}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// A pending sign-up activated by signing in with an emailed code (no password).
async fn sign_in_by_code(app: &TestApp, email: &str) {
    let (status, body) = app
        .post("/customers/login_code", json!({"email": email}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mail = app.wait_for_email(email, "sign-in code").await;
    let code = mail.link_param(CODE_LINK, "code");
    let (status, body) = app
        .post(
            "/customers/login_code/verify",
            json!({"email": email, "code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// `YYYY-MM-DDT00:00:00Z`, `days` before today (UTC).
fn days_ago(days: i64) -> String {
    let date = time::OffsetDateTime::now_utc().date() - time::Duration::days(days);
    format!("{date}T12:00:00Z")
}

#[tokio::test]
async fn the_counters_hold_a_full_count_after_every_flow_that_creates_changes_or_deletes_customers()
{
    let app = spawn_app_with(|c| {
        c.admin.api_token = Secret::new(TOKEN);
        c.auth.allow_signup = true;
        c.limits.login_lockout_failures = NonZero::new(3).unwrap();
        c.limits.login_free_failures = 100_000;
        c.limits.login_per_ip_per_minute = NonZero::new(100_000).unwrap();
        c.limits.emails_per_address_per_minute = NonZero::new(20).unwrap();
        c.limits.emails_per_address_per_hour = NonZero::new(50).unwrap();
    })
    .await;
    let db = app.db();
    let check = |when: &str| {
        let (counted, kept) = (counted(&db), kept(&db));
        assert_eq!(kept, counted, "{when}");
    };
    check("a new database");

    // Created by the retailer (pending), activated by link, by an emailed code.
    app.create_customer("pending@example.com", "Pending").await;
    let token = app.active_customer("active@example.com").await;
    app.active_customer("locks@example.com").await;
    app.active_customer("resets@example.com").await;
    app.active_customer("gone@example.com").await;
    let signed_up = app
        .post(
            "/customers/signup",
            json!({"email": "coded@example.com", "name": "Coded"}),
        )
        .await;
    assert_eq!(signed_up.0, StatusCode::OK, "{}", signed_up.1);
    app.wait_for_email("coded@example.com", "Activate").await;
    sign_in_by_code(&app, "coded@example.com").await;
    check("created and activated");

    // A profile edit moves no one.
    let (status, body) = app
        .patch_self(&token, json!({"name": "Still Active"}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Locked by wrong passwords; unlocked by support, and by a password reset.
    lock_out(&app, "locks@example.com").await;
    lock_out(&app, "resets@example.com").await;
    lock_out(&app, "gone@example.com").await;
    check("three locked");
    admin(
        &app,
        Method::POST,
        "/admin/customers/locks@example.com/unlock",
        None,
    )
    .await;
    reset_password(&app, "resets@example.com").await;
    assert!(!locked(&app, "resets@example.com"));
    // A reset of an account that was not locked sets `locked_at` too, and moves no one.
    reset_password(&app, "coded@example.com").await;
    check("unlocked by support and by a reset");

    // Moved in from another shop, some long ago, some within the chart's 30 days; a dry run
    // and a refused file write nothing.
    let file = format!(
        "email,name,created_at,status\n\
         old-one@example.com,Old One,2020-02-02T02:02:02Z,active\n\
         old-two@example.com,Old Two,2020-02-02T20:02:02Z,pending\n\
         older@example.com,Older,1999-12-31T23:59:59Z,active\n\
         recent@example.com,Recent,{},active\n\
         recent-two@example.com,Recent Two,{},pending\n",
        days_ago(3),
        days_ago(3)
    );
    let refused = format!("{file}not-an-email,Bad,2020-01-01T00:00:00Z,active\n");
    let (status, body) = app
        .post_csv("/admin/import?dry_run=false", TOKEN, &refused)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    let (status, body) = app
        .post_csv("/admin/import?dry_run=true", TOKEN, &file)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    check("a refused import and a dry run");
    let (status, body) = app
        .post_csv("/admin/import?dry_run=false", TOKEN, &file)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["created"], 5, "{body}");
    check("imported");

    // A creation time moved back (as the overview's own test does), then deletions: by the
    // customer, by the retailer (a locked one, an imported one), and by housekeeping (a
    // sign-up nobody activated).
    db.execute(
        "UPDATE customers SET created_at = created_at - 40 * 86400 WHERE email = ?1",
        params!["pending@example.com"],
    )
    .unwrap();
    let (status, _) = app
        .call(Method::DELETE, "/customers/self", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    admin(
        &app,
        Method::DELETE,
        "/admin/customers/gone@example.com",
        None,
    )
    .await;
    admin(
        &app,
        Method::DELETE,
        "/admin/customers/old-two@example.com",
        None,
    )
    .await;
    let (status, body) = app
        .post(
            "/customers/signup",
            json!({"email": "never@example.com", "name": "Never"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.wait_for_email("never@example.com", "Activate").await;
    db.execute(
        "UPDATE one_time_codes SET expires_at = expires_at - 7 * 86400
         WHERE purpose = 'activation'",
        params![],
    )
    .unwrap();
    app.running
        .services
        .operations()
        .sweep_expired()
        .await
        .unwrap();
    let never: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM customers WHERE email = ?1",
            params!["never@example.com"],
            |row| row.only(),
        )
        .unwrap();
    assert_eq!(never, 0, "the expired sign-up is gone");
    check("after the deletions");

    // What is left, by hand: active: locks, resets, coded, old-one, older, recent; pending:
    // pending (40 days ago), recent-two; locked: none.
    let counts = kept(&db);
    assert_eq!(
        counts.buckets,
        BTreeMap::from([("active".to_owned(), 6), ("pending".to_owned(), 2)])
    );
    let stats = admin(&app, Method::GET, "/admin/stats", None).await;
    assert_eq!(
        stats["customers"],
        json!({"active": 6, "pending": 2, "locked": 0})
    );
    let chart = stats["signups_by_day"].as_array().unwrap();
    assert_eq!(chart.len(), 30);
    assert_eq!(
        chart[26]["count"], 2,
        "the two moved in 3 days ago: {chart:?}"
    );
    assert_eq!(
        chart[29]["count"], 3,
        "locks, resets, coded today: {chart:?}"
    );
    let total: i64 = chart.iter().map(|d| d["count"].as_i64().unwrap()).sum();
    assert_eq!(total, 5, "{chart:?}");
    let (status, _) = app.login("locks@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "unlocked");
}
