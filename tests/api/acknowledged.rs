//! Password-reset and sign-up requests are stored before they are answered: a crash right
//! after the answer loses nothing, a failed write is never answered as a success, and the
//! per-address email allowance outlives a restart.

use crate::common::{TestApp, TestDb, spawn_app_with};
use customer_area::store::sql::params;
use reqwest::StatusCode;
use serde_json::json;

/// Whether the database holds anything for `email`: the stored request, or what resolving it
/// left (a queued email, a customer row).
fn stored_for(app: &TestApp, email: &str, kind: &str) -> i64 {
    let db = app.db();
    let requests: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM email_requests WHERE email = ?1 AND kind = ?2",
            params![email, kind],
            |r| r.only(),
        )
        .unwrap();
    let emails: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM outbox WHERE recipient = ?1",
            params![email],
            |r| r.only(),
        )
        .unwrap();
    requests + emails
}

fn reset_emails_queued(app: &TestApp, email: &str) -> i64 {
    app.db()
        .query_row(
            "SELECT COUNT(*) FROM outbox WHERE recipient = ?1 AND kind = 'password_reset'",
            params![email],
            |r| r.only(),
        )
        .unwrap()
}

/// Makes every insert into `table` fail as a full disk does.
fn refuse_inserts_as_a_full_disk(db: &TestDb, table: &str) {
    let sql = if db.is_postgres() {
        format!(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN RAISE EXCEPTION 'could not extend file' USING ERRCODE = 'disk_full'; END $$;
             CREATE TRIGGER refuse BEFORE INSERT ON {table}
             FOR EACH ROW EXECUTE FUNCTION refuse();"
        )
    } else {
        format!(
            "CREATE TRIGGER refuse BEFORE INSERT ON {table}
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;"
        )
    };
    db.execute_batch(&sql).unwrap();
}

async fn ask_reset(app: &TestApp, email: &str) -> (StatusCode, serde_json::Value) {
    app.post(
        "/customers/password_reset",
        json!({"email": email, "reset_uri": "/account/reset"}),
    )
    .await
}

#[tokio::test]
async fn an_answered_password_reset_is_already_stored() {
    let app = spawn_app_with(|_| {}).await;
    app.active_customer("stored@example.com").await;
    let before = stored_for(&app, "stored@example.com", "password_reset");
    let (status, _) = ask_reset(&app, "stored@example.com").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        stored_for(&app, "stored@example.com", "password_reset") > before,
        "the request is in the database when the answer arrives"
    );
}

#[tokio::test]
async fn an_answered_sign_up_is_already_stored() {
    let app = spawn_app_with(|c| c.auth.allow_signup = true).await;
    let (status, _) = app
        .post(
            "/customers/signup",
            json!({"email": "early@example.com", "name": "Early"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        stored_for(&app, "early@example.com", "signup") > 0,
        "the request is in the database when the answer arrives"
    );
}

#[tokio::test]
async fn a_request_that_cannot_be_stored_answers_503_for_every_address_alike() {
    let app = spawn_app_with(|c| c.auth.allow_signup = true).await;
    app.active_customer("known@example.com").await;
    refuse_inserts_as_a_full_disk(&app.db(), "email_requests");
    let known = ask_reset(&app, "known@example.com").await;
    let unknown = ask_reset(&app, "nobody@example.com").await;
    assert_eq!(known.0, StatusCode::SERVICE_UNAVAILABLE, "{}", known.1);
    assert_eq!(known.1["error"], "unavailable");
    assert_eq!(known, unknown);
    let signup = app
        .post(
            "/customers/signup",
            json!({"email": "known@example.com", "name": "Again"}),
        )
        .await;
    assert_eq!(signup, known);
}

#[tokio::test]
async fn requests_left_by_a_crash_are_resolved_at_restart() {
    let app = spawn_app_with(|_| {}).await;
    app.active_customer("crashed@example.com").await;
    let stopped = app.stop().await;
    // What a process killed right after answering leaves behind.
    TestDb::of(&stopped.config)
        .execute(
            "INSERT INTO email_requests (kind, email, link_base, created_at)
             VALUES ('password_reset', 'crashed@example.com', 'https://shop.example.com/account/reset', 0)",
            params![],
        )
        .unwrap();
    let app = stopped.boot().await;
    let mail = app.wait_for_email("crashed@example.com", "Reset").await;
    assert!(
        mail.text
            .contains("https://shop.example.com/account/reset/"),
        "{}",
        mail.text
    );
}

#[tokio::test]
async fn the_per_address_email_allowance_survives_a_restart() {
    let app = spawn_app_with(|_| {}).await;
    app.active_customer("allowance@example.com").await;
    app.active_customer("marker@example.com").await;
    assert_eq!(
        ask_reset(&app, "allowance@example.com").await.0,
        StatusCode::OK
    );
    app.wait_for_email("allowance@example.com", "Reset").await;
    let app = app.restart().await;
    assert_eq!(
        ask_reset(&app, "allowance@example.com").await.0,
        StatusCode::OK
    );
    // Requests are resolved in order: once the later one's email is queued, the earlier one
    // has been decided.
    assert_eq!(
        ask_reset(&app, "marker@example.com").await.0,
        StatusCode::OK
    );
    app.wait_for_email("marker@example.com", "Reset").await;
    assert_eq!(
        reset_emails_queued(&app, "allowance@example.com"),
        1,
        "a restart does not give the address a fresh minute"
    );
}
