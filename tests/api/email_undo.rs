//! Undoing a confirmed email change from the address it replaced, and the notices that tell
//! the customer about changes to their account.

use std::num::NonZero;

use crate::common::{self, PASSWORD, TestApp, spawn_app_with};
use customer_area::store::sql::params;
use reqwest::StatusCode;
use serde_json::{Value, json};

const CONFIRM_LINK: &str = "https://shop.example.com/confirm-email";
const UNDO_LINK: &str = "https://shop.example.com/undo-email";

async fn app() -> TestApp {
    spawn_app_with(|c| {
        c.limits.codes_per_ip_per_minute = NonZero::new(10_000).unwrap();
        c.limits.emails_per_address_per_minute = NonZero::new(100).unwrap();
        c.limits.emails_per_address_per_hour = NonZero::new(100).unwrap();
    })
    .await
}

/// Changes the caller's address to `new` through the emailed link; returns the undo notice
/// the replaced address `old` got for this change.
async fn change_email(app: &TestApp, token: &str, old: &str, new: &str) -> common::Email {
    let notices_before = undo_notices(app, old).len();
    let (status, body) = app.patch_self(token, json!({"email": new})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mail = app.wait_for_email(new, "Confirm your new email").await;
    let (status, body) = app
        .post(
            "/customers/newemail_confirm",
            json!({"identifier": mail.link_param(CONFIRM_LINK, "identifier"),
                   "key": mail.link_param(CONFIRM_LINK, "key")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    crate::common::eventually(common::PATIENCE, "the undo notice arrives", || {
        let mut notices = undo_notices(app, old);
        std::future::ready((notices.len() > notices_before).then(|| notices.pop().unwrap()))
    })
    .await
}

fn undo_notices(app: &TestApp, to: &str) -> Vec<common::Email> {
    app.delivered()
        .into_iter()
        .filter(|e| e.to == to && e.text.contains(UNDO_LINK))
        .collect()
}

async fn undo(app: &TestApp, identifier: &str, key: &str) -> (StatusCode, Value) {
    app.post(
        "/customers/email_change_undo",
        json!({"identifier": identifier, "key": key}),
    )
    .await
}

async fn undo_with(app: &TestApp, notice: &common::Email) -> (StatusCode, Value) {
    undo(
        app,
        &notice.link_param(UNDO_LINK, "identifier"),
        &notice.link_param(UNDO_LINK, "key"),
    )
    .await
}

fn assert_invalid_key(result: (StatusCode, Value)) {
    let (status, body) = result;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "invalid_code", "{body}");
    assert!(body["fields"]["key"].is_string(), "{body}");
}

#[tokio::test]
async fn the_owner_undoes_a_hostile_email_change_and_takes_the_account_back() {
    let app = app().await;
    app.active_customer("owner@example.com").await;
    // The attacker holds a session of the owner's account (a stolen token).
    let attacker = app.token("owner@example.com", PASSWORD).await;
    let notice = change_email(&app, &attacker, "owner@example.com", "thief@evil.example").await;
    assert_eq!(
        app.get_self(&attacker).await.1["email"],
        "thief@evil.example"
    );

    // The new address is told too, and neither notice carries a token or a password.
    let told = app
        .wait_for_email("thief@evil.example", "email address was changed")
        .await;
    for mail in [&notice, &told] {
        assert!(!mail.text.contains(&attacker));
        assert!(!mail.text.contains(PASSWORD));
    }
    let key = notice.link_param(UNDO_LINK, "key");
    assert!(
        key.len() == 16
            && key
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()),
        "{key}"
    );
    assert!(
        !told.text.contains(&key),
        "only the replaced address gets the key"
    );

    let (status, body) = undo_with(&app, &notice).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"result": "restored"}));
    assert_eq!(
        app.get_self(&attacker).await.0,
        StatusCode::UNAUTHORIZED,
        "every session ended"
    );
    assert_invalid_key(undo_with(&app, &notice).await);

    // The restored address is told, and sent a reset link without asking, which works.
    let restored = app
        .wait_for_email("owner@example.com", "email address was restored")
        .await;
    assert!(restored.text.contains("new password"), "{}", restored.text);
    let reset = app.wait_for_email("owner@example.com", "Reset your").await;
    let link = reset.link("https://shop.example.com/reset/");
    let code = link.rsplit('/').next().unwrap();
    let (status, body) = app
        .post(
            "/customers/do_reset",
            json!({"email": "owner@example.com", "code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        app.login("thief@evil.example", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn each_notice_undoes_its_own_change_even_after_a_second_change() {
    let app = app().await;
    let token = app.active_customer("first@example.com").await;
    let first = change_email(&app, &token, "first@example.com", "second@example.com").await;
    let second = change_email(&app, &token, "second@example.com", "third@example.com").await;
    assert_eq!(app.get_self(&token).await.1["email"], "third@example.com");

    let (status, body) = undo_with(&app, &first).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let email: String = app
        .db()
        .query_row("SELECT email FROM customers", params![], |r| r.only())
        .unwrap();
    assert_eq!(email, "first@example.com");
    // The later change's key cannot move the restored address away again.
    assert_invalid_key(undo_with(&app, &second).await);
    let email: String = app
        .db()
        .query_row("SELECT email FROM customers", params![], |r| r.only())
        .unwrap();
    assert_eq!(email, "first@example.com");
}

#[tokio::test]
async fn undo_answers_409_when_another_account_took_the_old_address() {
    let app = app().await;
    let token = app.active_customer("taken@example.com").await;
    let notice = change_email(&app, &token, "taken@example.com", "moved@example.com").await;
    app.create_customer("taken@example.com", "Newcomer").await;
    let (status, body) = undo_with(&app, &notice).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(app.get_self(&token).await.1["email"], "moved@example.com");
}

#[tokio::test]
async fn undo_fails_once_the_seven_days_are_over() {
    let app = app().await;
    let token = app.active_customer("late@example.com").await;
    let notice = change_email(&app, &token, "late@example.com", "later@example.com").await;
    app.db()
        .execute(
            "UPDATE email_undo_keys SET created_at = created_at - 7 * 86400, \
             expires_at = expires_at - 7 * 86400",
            params![],
        )
        .unwrap();
    assert_invalid_key(undo_with(&app, &notice).await);
    assert_eq!(app.get_self(&token).await.1["email"], "later@example.com");
}

#[tokio::test]
async fn the_undo_link_lives_email_undo_ttl_days() {
    let app = app().await;
    let token = app.active_customer("ttl@example.com").await;
    change_email(&app, &token, "ttl@example.com", "ttl2@example.com").await;
    let (created, expires): (i64, i64) = app
        .db()
        .query_row(
            "SELECT created_at, expires_at FROM email_undo_keys",
            params![],
            |row| Ok((row.get("created_at")?, row.get("expires_at")?)),
        )
        .unwrap();
    assert_eq!(expires - created, 7 * 86400);
    let stored: Vec<u8> = app
        .db()
        .query_row("SELECT key_hash FROM email_undo_keys", params![], |row| {
            row.only()
        })
        .unwrap();
    assert_eq!(stored.len(), 32, "only a SHA-256 digest is stored");
}

#[tokio::test]
async fn keys_of_the_wrong_shape_are_refused_without_costing_a_try() {
    let app = app().await;
    let token = app.active_customer("shape@example.com").await;
    let notice = change_email(&app, &token, "shape@example.com", "shape2@example.com").await;
    let identifier = notice.link_param(UNDO_LINK, "identifier");
    for bad in [
        "",
        "short",
        "j32na974r4f7n1hb",
        "J32NA974R4F7N1H!",
        "AbCdEfGhIjKlMnOpQrSt-_",
        "J32NA974R4F7N1HBX",
        "' OR 1=1 --xxxxxx",
    ] {
        assert_invalid_key(undo(&app, &identifier, bad).await);
    }
    let failed: i64 = app
        .db()
        .query_row(
            "SELECT failed_attempts FROM email_undo_keys",
            params![],
            |r| r.only(),
        )
        .unwrap();
    assert_eq!(failed, 0, "malformed keys never reached the database");
    let (status, body) = undo_with(&app, &notice).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn five_wrong_keys_kill_the_undo_key() {
    let app = app().await;
    let token = app.active_customer("tries@example.com").await;
    let notice = change_email(&app, &token, "tries@example.com", "tries2@example.com").await;
    let identifier = notice.link_param(UNDO_LINK, "identifier");
    for n in 0..5 {
        assert_invalid_key(undo(&app, &identifier, &format!("WRONGKEY0000000{n}")).await);
    }
    assert_invalid_key(undo_with(&app, &notice).await);
    assert_eq!(app.get_self(&token).await.1["email"], "tries2@example.com");
}

#[tokio::test]
async fn a_password_change_is_notified_without_the_password() {
    let app = app().await;
    let token = app.active_customer("notice@example.com").await;
    let new_password = "a fresh and private passphrase";
    let (status, body) = app
        .patch_self(
            &token,
            json!({"password": new_password, "password_check": new_password, "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let notice = app
        .wait_for_email("notice@example.com", "password was changed")
        .await;
    assert!(!notice.text.contains(new_password));
    assert!(!String::from_utf8_lossy(&notice.raw).contains(new_password));
    assert!(!notice.text.contains(&token));
    assert_eq!(app.queued("password_changed"), 1);
}
