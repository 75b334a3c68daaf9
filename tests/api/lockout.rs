//! Lockout over real HTTP and SMTP: after `limits.login_lockout_failures` failed password
//! checks in a row an account accepts no password alone until a password reset, and its owner
//! is emailed once; the right password then has a sign-in code emailed, which signs in.

use std::num::NonZero;

use crate::common::{PASSWORD, PATIENCE, TestApp, eventually, spawn_app_with};
use customer_area::store::sql::params;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{Value, json};

const RESET_LINK: &str = "https://shop.example.com/reset/";

/// Per-IP and per-account throttles that never get in the way of many guesses in a row.
fn permissive(c: &mut customer_area::config::Config) {
    c.limits.login_free_failures = 100_000;
    c.limits.login_per_ip_per_minute = NonZero::new(100_000).unwrap();
    c.limits.emails_per_address_per_minute = NonZero::new(10).unwrap();
}

/// The account's stored count of failed logins and whether it is locked, read from the store.
fn lock_state(app: &TestApp, email: &str) -> (i64, bool) {
    app.db()
        .query_row(
            "SELECT failed_logins, locked_at IS NOT NULL AS locked FROM customers WHERE email = ?1",
            params![email],
            |row| Ok((row.get("failed_logins")?, row.get("locked")?)),
        )
        .unwrap()
}

/// Waits until the failures counted after the answers reach `count`.
async fn wait_for_count(app: &TestApp, email: &str, count: i64) {
    eventually(PATIENCE, &format!("{count} failures are counted"), || {
        std::future::ready((lock_state(app, email).0 == count).then_some(()))
    })
    .await
}

async fn fail_logins(app: &TestApp, email: &str, times: usize) {
    for i in 0..times {
        let (status, body) = app.login(email, &format!("wrong guess {i}")).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
}

fn lock_notices(app: &TestApp, email: &str) -> usize {
    app.delivered()
        .iter()
        .filter(|e| e.to == email && e.subject.contains("locked"))
        .count()
}

/// Resets the password through the emailed link and answers the new passphrase.
async fn reset(app: &TestApp, email: &str) -> String {
    app.ask_reset(email).await;
    let mail = app.wait_for_email(email, "Reset your").await;
    let code = mail.link(RESET_LINK)[RESET_LINK.len()..].to_owned();
    let (status, body) = app
        .post("/customers/do_reset", json!({"email": email, "code": code}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<Value>(
        body["token"].as_str().unwrap(),
        &DecodingKey::from_secret(code.as_bytes()),
        &validation,
    )
    .unwrap()
    .claims;
    claims["passphrase"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_hundred_failed_logins_lock_an_account_until_a_password_reset() {
    let app = spawn_app_with(permissive).await;
    assert_eq!(
        app.config.limits.login_lockout_failures.get(),
        100,
        "the default"
    );
    app.active_customer("locked@example.com").await;
    fail_logins(&app, "locked@example.com", 100).await;

    let notice = app.wait_for_email("locked@example.com", "locked").await;
    assert_eq!(lock_state(&app, "locked@example.com"), (100, true));
    assert!(notice.text.contains("locked"), "{}", notice.text);
    assert!(
        notice.text.contains("Forgot your password?"),
        "{}",
        notice.text
    );
    assert!(!notice.text.contains("http"), "no link: {}", notice.text);
    assert!(!notice.text.contains(PASSWORD), "{}", notice.text);

    // A wrong password is refused exactly like an unknown address; the right one alone does
    // not sign in either.
    let wrong = app.login("locked@example.com", "not the password").await;
    let unknown = app.login("nobody@example.com", PASSWORD).await;
    assert_eq!(wrong.0, StatusCode::UNAUTHORIZED);
    assert_eq!(wrong, unknown);
    let (status, body) = app.login("locked@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "email_code_required", "{body}");
    assert!(body.get("token").is_none(), "{body}");

    // More guesses send no second notice.
    fail_logins(&app, "locked@example.com", 5).await;
    app.wait_for_email("locked@example.com", "sign-in code")
        .await;
    let passphrase = reset(&app, "locked@example.com").await;
    assert_eq!(app.queued("account_locked"), 1);
    assert_eq!(lock_notices(&app, "locked@example.com"), 1);

    // The reset ends the lockout and starts the count again.
    app.token("locked@example.com", &passphrase).await;
    assert_eq!(lock_state(&app, "locked@example.com"), (0, false));
}

#[tokio::test]
async fn a_successful_login_before_the_limit_starts_the_count_again() {
    let app = spawn_app_with(permissive).await;
    app.active_customer("almost@example.com").await;
    fail_logins(&app, "almost@example.com", 99).await;
    wait_for_count(&app, "almost@example.com", 99).await;
    app.token("almost@example.com", PASSWORD).await;
    assert_eq!(lock_state(&app, "almost@example.com"), (0, false));
    fail_logins(&app, "almost@example.com", 99).await;
    wait_for_count(&app, "almost@example.com", 99).await;
    app.token("almost@example.com", PASSWORD).await;
    assert_eq!(app.queued("account_locked"), 0);
}

#[tokio::test]
async fn a_lockout_survives_a_restart() {
    let app = spawn_app_with(|c| {
        permissive(c);
        c.limits.login_lockout_failures = NonZero::new(3).unwrap();
    })
    .await;
    app.active_customer("restart@example.com").await;
    fail_logins(&app, "restart@example.com", 3).await;
    app.wait_for_email("restart@example.com", "locked").await;
    let app = app.restart().await;
    let (status, body) = app.login("restart@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "email_code_required");
}

/// The sign-in code emailed to `email` (the newest).
async fn emailed_code(app: &TestApp, email: &str) -> String {
    let mail = app.wait_for_email(email, "sign-in code").await;
    mail.link_param("https://shop.example.com/sign-in/code", "code")
}

#[tokio::test]
async fn the_owner_of_a_locked_account_signs_in_with_the_right_password_and_the_emailed_code() {
    let app = spawn_app_with(|c| {
        permissive(c);
        c.limits.login_lockout_failures = NonZero::new(3).unwrap();
    })
    .await;
    app.active_customer("owner@example.com").await;
    fail_logins(&app, "owner@example.com", 3).await;
    app.wait_for_email("owner@example.com", "locked").await;
    assert_eq!(app.queued("login_code"), 0, "guesses mail no code");

    let (status, body) = app.login("owner@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "email_code_required", "{body}");
    let code = emailed_code(&app, "owner@example.com").await;
    let (status, body) = app
        .post(
            "/customers/login_code/verify",
            json!({"email": "owner@example.com", "code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap();
    assert_eq!(app.get_self(token).await.0, StatusCode::OK);

    // Whoever only guessed gets neither a code nor a session: a wrong password stays
    // `invalid_credentials`, and the account stays locked against passwords alone.
    let (status, body) = app.login("owner@example.com", "a guess").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_credentials", "{body}");
    assert_eq!(app.queued("login_code"), 1);
    let (status, body) = app.login("owner@example.com", PASSWORD).await;
    assert_eq!(body["error"], "email_code_required", "{status} {body}");
    assert!(lock_state(&app, "owner@example.com").1);
}

#[tokio::test]
async fn without_email_codes_a_locked_account_refuses_the_right_password_like_a_wrong_one() {
    let app = spawn_app_with(|c| {
        permissive(c);
        c.limits.login_lockout_failures = NonZero::new(3).unwrap();
        c.auth.login_methods = vec![customer_area::config::LoginMethod::Password];
    })
    .await;
    app.active_customer("strict@example.com").await;
    fail_logins(&app, "strict@example.com", 3).await;
    app.wait_for_email("strict@example.com", "locked").await;
    let right = app.login("strict@example.com", PASSWORD).await;
    let unknown = app.login("nobody@example.com", PASSWORD).await;
    assert_eq!(right.0, StatusCode::UNAUTHORIZED);
    assert_eq!(right, unknown);
    assert_eq!(app.queued("login_code"), 0);
}

#[tokio::test]
async fn wrong_current_passwords_count_towards_the_lockout_and_a_locked_account_refuses_the_right_one()
 {
    let app = spawn_app_with(|c| {
        permissive(c);
        c.limits.login_lockout_failures = NonZero::new(3).unwrap();
    })
    .await;
    let token = app.active_customer("patch@example.com").await;
    let change = |current: &str| {
        json!({
            "password": "a new and long password",
            "password_check": "a new and long password",
            "current_password": current,
        })
    };
    for i in 0..3 {
        let (status, body) = app.patch_self(&token, change(&format!("wrong {i}"))).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
    app.wait_for_email("patch@example.com", "locked").await;
    let (status, body) = app.patch_self(&token, change(PASSWORD)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["fields"]["current_password"], "is not correct");
    assert_eq!(
        app.login("patch@example.com", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The session itself lives on: only passwords are refused.
    assert_eq!(app.get_self(&token).await.0, StatusCode::OK);
}
