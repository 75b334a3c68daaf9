//! The data export: everything stored about a customer, for the customer (over HTTP) and for
//! the retailer (the CLI), and nothing about anyone else.

use std::collections::{BTreeMap, BTreeSet};
use std::num::NonZero;

use crate::common::binary::Binary;
use crate::common::passkey::{SHOP_ORIGIN, SoftAuthenticator};
use crate::common::{PASSWORD, PATIENCE, TestApp, TestDb, eventually, spawn_app_with};
use crate::second_factor::{base32_decode, now, totp};
use customer_area::config::Secret;
use customer_area::store::sql::params;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ADMIN: &str = "admin-token-for-export-tests-0123";
const CONFIRM_LINK: &str = "https://shop.example.com/confirm-email";

/// Where each table with a customer column appears in the export. A table missing here fails
/// the test: a new table cannot be left out of the export unnoticed.
const SECTIONS: &[(&str, &str)] = &[
    ("customers", "account"),
    ("sessions", "sessions"),
    ("one_time_codes", "pending_codes"),
    ("subscriptions", "customer.subscriptions"),
    ("consent_records", "consents"),
    ("activity", "activity"),
    ("email_undo_keys", "email_undo_keys"),
    ("outbox", "emails"),
    ("webhook_outbox", "webhook_events"),
    ("passkeys", "passkeys"),
    ("passkey_users", "passkey_user_handle"),
    ("passkey_challenges", "passkey_challenges"),
    ("known_devices", "known_devices"),
    ("not_me_keys", "new_device_notices"),
    ("customer_totp", "second_factor"),
    ("customer_recovery_codes", "recovery_codes"),
    ("customer_challenges", "second_factor_challenges"),
];

/// Every table that holds rows of one customer: those with a `customer_id` column, and
/// `customers` itself. Each store lists its tables' columns its own way.
fn customer_tables(db: &TestDb) -> Vec<String> {
    let sql = if db.is_postgres() {
        "SELECT CAST(table_name AS TEXT) FROM information_schema.columns
         WHERE table_schema = current_schema() AND column_name = 'customer_id'
         ORDER BY table_name"
    } else {
        "SELECT m.name FROM sqlite_master m, pragma_table_info(m.name) p
         WHERE m.type = 'table' AND p.name = 'customer_id' ORDER BY m.name"
    };
    let mut tables: Vec<String> = db.query_map(sql, params![], |row| row.only()).unwrap();
    assert!(!tables.is_empty(), "the store lists its tables");
    tables.push("customers".into());
    tables
}

/// A customer with something in every table: subscriptions, a changed address (an undo key),
/// a pending change (a code), two sessions, a failed login, mail, a passkey and a passkey
/// registration begun.
async fn busy_customer(app: &TestApp, email: &str, moved: &str, pending: &str) -> String {
    let token = app.active_customer(email).await;
    app.patch_self(
        &token,
        json!({"name": "Export Me", "subscriptions": ["news"]}),
    )
    .await;
    app.client
        .post(app.url("/customers/login"))
        .header("user-agent", format!("Agent of {email}"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    move_to(app, &token, moved).await;
    app.patch_self(&token, json!({"email": pending})).await;
    app.login(moved, "wrong password").await;
    let mut authenticator = SoftAuthenticator::new(SHOP_ORIGIN);
    let (status, body) = app.add_passkey(&token, &mut authenticator, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app
        .call(
            Method::POST,
            "/customers/passkeys/register",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A second factor, and a sign-in waiting for it.
    let (status, begun) = app
        .call(Method::POST, "/customers/totp", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{begun}");
    let secret = base32_decode(begun["secret"].as_str().unwrap());
    let (status, body) = app
        .call(
            Method::POST,
            "/customers/totp/confirm",
            Some(&token),
            Some(json!({"code": totp(&secret, now(), 6)})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.login(moved, PASSWORD).await;
    assert_eq!(body["error"], "second_factor_required", "{status} {body}");
    token
}

/// Changes the caller's address to `new` through the emailed link.
async fn move_to(app: &TestApp, token: &str, new: &str) {
    app.patch_self(token, json!({"email": new})).await;
    let mail = app.wait_for_email(new, "Confirm your new email").await;
    let (status, body) = app
        .post(
            "/customers/newemail_confirm",
            json!({"identifier": mail.link_param(CONFIRM_LINK, "identifier"),
                   "key": mail.link_param(CONFIRM_LINK, "key")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

async fn export(app: &TestApp, token: &str) -> (reqwest::header::HeaderMap, Value) {
    let response = app
        .client
        .get(app.url("/customers/self/export"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    (headers, response.json().await.unwrap())
}

fn section<'v>(export: &'v Value, path: &str) -> &'v Value {
    path.split('.').fold(export, |v, key| &v[key])
}

#[tokio::test]
async fn moving_to_an_address_another_account_left_exports_none_of_its_emails() {
    let app = spawn_app_with(|_| {}).await;
    let ada = app.active_customer("ada@example.com").await;
    let bob = app.active_customer("bob@example.com").await;
    move_to(&app, &bob, "bob2@example.com").await;
    // bob@example.com is free now; Ada asks to move there.
    app.patch_self(&ada, json!({"email": "bob@example.com"}))
        .await;
    let (_, data) = export(&app, &ada).await;
    let kinds: BTreeSet<&str> = data["emails"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["address"] == "bob@example.com")
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from(["email_change_new"]),
        "only Ada's own email to the address: {data}"
    );
}

#[tokio::test]
async fn the_export_holds_exactly_what_the_database_holds_for_the_customer() {
    let receiver = crate::common::receiver::Receiver::start().await;
    let app = spawn_app_with(|c| {
        c.admin.api_token = Secret::new(ADMIN);
        c.limits.emails_per_address_per_minute = NonZero::new(100).unwrap();
        c.webhooks = vec![customer_area::config::Webhook {
            url: receiver.url(),
            secret: Secret::new(receiver.secret.clone()),
            events: vec![],
        }];
    })
    .await;
    app.add_list(ADMIN, "news", "News").await;
    let token = busy_customer(
        &app,
        "ada@example.com",
        "ada2@example.com",
        "ada3@example.com",
    )
    .await;
    let other = busy_customer(
        &app,
        "bob@example.com",
        "bob2@example.com",
        "bob3@example.com",
    )
    .await;
    // Both failed logins are recorded (after their answers) before the export is read.
    eventually(PATIENCE, "the failed logins are recorded", || {
        let n: i64 = app
            .db()
            .query_row(
                "SELECT count(*) FROM activity WHERE kind = 'login_failed'",
                params![],
                |r| r.only(),
            )
            .unwrap();
        std::future::ready((n == 2).then_some(()))
    })
    .await;

    let (headers, data) = export(&app, &token).await;
    let id = data["customer"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        headers["content-disposition"],
        format!("attachment; filename=\"customer-{id}.json\"").as_str()
    );
    assert_eq!(headers["cache-control"], "no-store");

    let conn = app.db();
    let sections: BTreeMap<&str, &str> = SECTIONS.iter().copied().collect();
    for table in customer_tables(&conn) {
        let path = sections.get(table.as_str()).unwrap_or_else(|| {
            panic!("table `{table}` holds customer data but is not in the export")
        });
        let column = if table == "customers" {
            "id"
        } else {
            "customer_id"
        };
        let rows: i64 = conn
            .query_row(
                &format!("SELECT count(*) FROM {table} WHERE {column} = ?1"),
                params![id],
                |r| r.only(),
            )
            .unwrap();
        assert!(rows > 0, "the test customer has rows in `{table}`");
        let exported = section(&data, path);
        let exported = exported.as_array().map_or(1, Vec::len) as i64;
        assert_eq!(exported, rows, "`{table}` rows vs export `{path}`");
    }

    // The values, not only the counts.
    let stored: BTreeSet<(String, String)> = conn
        .query_map(
            "SELECT public_id, coalesce(user_agent, '') AS user_agent FROM sessions WHERE customer_id = ?1",
            params![id],
            |r| Ok((r.get("public_id")?, r.get("user_agent")?)),
        )
        .unwrap()
        .into_iter()
        .collect();
    let exported: BTreeSet<(String, String)> = data["sessions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_owned(),
                s["user_agent"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect();
    assert_eq!(exported, stored);
    let stored: Vec<i64> = conn
        .query_map(
            "SELECT id FROM activity WHERE customer_id = ?1 ORDER BY id DESC",
            params![id],
            |r| r.only(),
        )
        .unwrap();
    let exported: Vec<i64> = data["activity"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_i64().unwrap())
        .collect();
    assert_eq!(exported, stored);
    assert_eq!(data["customer"]["email"], "ada2@example.com");
    assert_eq!(data["pending_codes"][0]["new_email"], "ada3@example.com");
    assert_eq!(data["email_undo_keys"][0]["old_email"], "ada@example.com");
    assert!(data["account"]["last_login_at"].is_string());
    assert!(data["account"]["activated_at"].is_string());

    // Every email to one of the customer's addresses, without body, link or code.
    let addresses = ["ada@example.com", "ada2@example.com", "ada3@example.com"];
    let stored: i64 = conn
        .query_row(
            "SELECT count(*) FROM outbox WHERE recipient IN (?1, ?2, ?3)",
            params![addresses[0], addresses[1], addresses[2]],
            |r| r.only(),
        )
        .unwrap();
    let emails = data["emails"].as_array().unwrap();
    assert_eq!(emails.len() as i64, stored);
    for email in emails {
        let keys: BTreeSet<&str> = email
            .as_object()
            .unwrap()
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from(["kind", "address", "created_at", "sent_at", "status"])
        );
        assert!(addresses.contains(&email["address"].as_str().unwrap()));
    }

    // Nothing of the other customer, and no secret of this one.
    let text = data.to_string();
    let (_, theirs) = export(&app, &other).await;
    let their_id = theirs["customer"]["id"].as_str().unwrap();
    for foreign in [
        "bob@example.com",
        "bob2@example.com",
        "bob3@example.com",
        their_id,
    ] {
        assert!(!text.contains(foreign), "{foreign} leaked into the export");
    }
    for session in theirs["sessions"].as_array().unwrap() {
        assert!(!text.contains(session["id"].as_str().unwrap()));
    }
    let hash: String = conn
        .query_row(
            "SELECT password_hash FROM customers WHERE id = ?1",
            params![id],
            |r| r.only(),
        )
        .unwrap();
    assert!(!text.contains(&hash));
    assert!(!text.contains(&token));
    assert!(!text.contains("Agent of bob"));
}

#[tokio::test]
async fn the_retailer_exports_the_same_json_from_the_command_line() {
    let app = spawn_app_with(|c| c.admin.api_token = Secret::new(ADMIN)).await;
    let token = app.active_customer("cli-export@example.com").await;
    let (_, over_http) = export(&app, &token).await;
    let config = app.dir.path().join("cli.toml");
    std::fs::write(
        &config,
        format!(
            "[database]\npath = {:?}\nurl = {:?}\n\n[mail]\ndir = {:?}\n\n[auth]\npbkdf2_iterations = 1000\n",
            app.config.database.path,
            app.config.database.url.expose(),
            app.dir.path().join("cli-mail")
        ),
    )
    .unwrap();
    let output = Binary::new()
        .config(&config)
        .args(["customers", "export", "cli-export@example.com"])
        .in_dir(app.dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let from_cli: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(from_cli, over_http);

    let output = Binary::new()
        .config(&config)
        .args(["customers", "export", "nobody@example.com"])
        .in_dir(app.dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success(), "an unknown customer is an error");
}
