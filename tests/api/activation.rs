//! Activation of a pending customer through the emailed identifier and secret.

use crate::common::{PASSWORD, PATIENCE, TestApp, eventually, spawn_app, spawn_app_with};
use customer_area::store::sql::{Value as Stored, params};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::num::NonZero;

const LINK: &str = "https://shop.example.com/activate";

async fn pending(app: &TestApp, email: &str) -> (String, String) {
    app.create_customer(email, "Pending Customer").await;
    let mail = app.wait_for_email(email, "Activate").await;
    (
        mail.link_param(LINK, "identifier"),
        mail.link_param(LINK, "secret"),
    )
}

fn activation(identifier: &str, secret: &str, password: &str, check: &str) -> Value {
    json!({"identifier": identifier, "secret": secret, "password": password, "password_check": check})
}

#[tokio::test]
async fn activation_secret_cannot_be_used_twice() {
    let app = spawn_app().await;
    let (identifier, secret) = pending(&app, "once@example.com").await;
    let body = activation(&identifier, &secret, PASSWORD, PASSWORD);
    assert_eq!(
        app.post("/customers/activate", body.clone()).await.0,
        StatusCode::OK
    );
    let (status, body) = app.post("/customers/activate", body).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"], "invalid_code");
    assert!(body["fields"]["secret"].is_string());
}

#[tokio::test]
async fn mismatched_and_weak_passwords_are_named_and_keep_the_secret_alive() {
    let app = spawn_app().await;
    let (identifier, secret) = pending(&app, "weak@example.com").await;

    let (status, body) = app
        .post(
            "/customers/activate",
            activation(&identifier, &secret, PASSWORD, "something else"),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"], "validation_failed");
    assert!(body["fields"]["password_check"].is_string(), "{body}");

    for weak in ["short", "password123", "weak@example.com"] {
        let (status, body) = app
            .post(
                "/customers/activate",
                activation(&identifier, &secret, weak, weak),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{weak}");
        assert!(body["fields"]["password"].is_string(), "{weak}: {body}");
    }
    let (status, body) = app
        .post(
            "/customers/activate",
            activation(&identifier, &secret, PASSWORD, PASSWORD),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn wrong_secrets_are_refused_and_five_kill_the_secret() {
    let app = spawn_app().await;
    let (identifier, secret) = pending(&app, "guess@example.com").await;
    for wrong in [
        "AAAAAAAAAA",
        "BBBBBBBBBB",
        "CCCCCCCCCC",
        "DDDDDDDDDD",
        "EEEEEEEEEE",
    ] {
        let (status, body) = app
            .post(
                "/customers/activate",
                activation(&identifier, wrong, PASSWORD, PASSWORD),
            )
            .await;
        assert_eq!(
            (status, body["error"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!("invalid_code"))
        );
    }
    let (status, _) = app
        .post(
            "/customers/activate",
            activation(&identifier, &secret, PASSWORD, PASSWORD),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the right secret must be dead after five wrong tries"
    );
    // Malformed secrets and unknown identifiers get the same answer.
    for (id, s) in [
        (identifier.as_str(), "lowercase1"),
        ("no-such-customer", secret.as_str()),
        ("bad id!", secret.as_str()),
    ] {
        let (status, body) = app
            .post("/customers/activate", activation(id, s, PASSWORD, PASSWORD))
            .await;
        assert_eq!(
            (status, body["error"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!("invalid_code"))
        );
    }
}

#[tokio::test]
async fn an_expired_secret_is_refused() {
    let app = spawn_app_with(|c| c.auth.activation_ttl_hours = NonZero::new(1).unwrap()).await;
    let (identifier, secret) = pending(&app, "late@example.com").await;
    // Age the secret past its expiry directly in the database.
    app.db()
        .execute(
            "UPDATE one_time_codes SET expires_at = expires_at - 7200",
            params![],
        )
        .unwrap();
    let (status, body) = app
        .post(
            "/customers/activate",
            activation(&identifier, &secret, PASSWORD, PASSWORD),
        )
        .await;
    assert_eq!(
        (status, body["error"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("invalid_code"))
    );
}

#[tokio::test]
async fn concurrent_activations_with_one_secret_let_exactly_one_through() {
    let app = spawn_app().await;
    let (identifier, secret) = pending(&app, "race@example.com").await;
    let attempts = (0..8).map(|i| {
        let password = format!("{PASSWORD} {i}");
        app.post(
            "/customers/activate",
            activation(&identifier, &secret, &password, &password),
        )
    });
    let results = futures::future::join_all(attempts).await;
    let ok = results.iter().filter(|(s, _)| *s == StatusCode::OK).count();
    assert_eq!(ok, 1, "{results:?}");
    assert!(
        results
            .iter()
            .all(|(s, _)| *s == StatusCode::OK || *s == StatusCode::UNPROCESSABLE_ENTITY)
    );
}

#[tokio::test]
async fn the_secret_is_stored_only_as_a_hash() {
    let app = spawn_app().await;
    let (_, secret) = pending(&app, "hashed@example.com").await;
    // Once the email is marked sent its outbox row is emptied; then no value in any table
    // holds the secret.
    let db = app.db();
    eventually(PATIENCE, "every email is marked sent", || {
        let unsent: i64 = db
            .query_row(
                "SELECT COUNT(*) FROM outbox WHERE status != 'sent'",
                params![],
                |r| r.only(),
            )
            .unwrap();
        std::future::ready((unsent == 0).then_some(()))
    })
    .await;
    // Every column of every table, from the store's own catalogue.
    let catalogue = if db.is_postgres() {
        "SELECT table_name::text AS table_name, column_name::text AS column_name
         FROM information_schema.columns
         WHERE table_schema = current_schema() ORDER BY table_name, ordinal_position"
    } else {
        "SELECT m.name AS table_name, c.name AS column_name FROM sqlite_master m, pragma_table_info(m.name) c
         WHERE m.type = 'table' ORDER BY m.name, c.cid"
    };
    let columns: Vec<(String, String)> = db
        .query_map(catalogue, params![], |r| {
            Ok((r.get("table_name")?, r.get("column_name")?))
        })
        .unwrap();
    assert!(
        columns.iter().any(|(table, _)| table == "one_time_codes"),
        "the catalogue lists the tables: {columns:?}"
    );
    let mut hashes = 0;
    for (table, column) in columns {
        let values: Vec<Stored> = db
            .query_map(
                &format!("SELECT \"{column}\" FROM \"{table}\""),
                params![],
                |r| r.only(),
            )
            .unwrap();
        for value in values {
            let bytes: Vec<u8> = match value {
                Stored::Text(t) => t.as_bytes().to_vec(),
                Stored::Blob(b) => b.to_vec(),
                _ => continue,
            };
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "secret in clear in {table}.{column}"
            );
            if table == "one_time_codes" && bytes.len() == 32 {
                hashes += 1;
            }
        }
    }
    assert_eq!(hashes, 1, "the code is kept as a 32-byte digest");
}

#[tokio::test]
async fn a_weak_password_with_a_bogus_secret_answers_alike_for_pending_active_and_unknown() {
    let app = spawn_app().await;
    let (pending_id, _) = pending(&app, "hidden@example.com").await;
    app.active_customer("shown@example.com").await;
    let active_id: String = app
        .db()
        .query_row(
            "SELECT identifier FROM customers WHERE email = 'shown@example.com'",
            params![],
            |r| r.only(),
        )
        .unwrap();
    let bogus = "A".repeat(10);
    let mut answers = Vec::new();
    for identifier in [pending_id.as_str(), active_id.as_str(), "zzzzzzzzzzzz"] {
        answers.push(
            app.post(
                "/customers/activate",
                activation(identifier, &bogus, "short", "short"),
            )
            .await,
        );
    }
    assert_eq!(answers[0].0, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(answers[0].1["error"], "invalid_code", "{}", answers[0].1);
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[1], answers[2]);
}
