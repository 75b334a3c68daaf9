//! Changing the email address: PATCH asks, the emailed link confirms.

use crate::common;
use crate::common::{PASSWORD, PATIENCE, TestApp, eventually, spawn_app, spawn_app_with};
use customer_area::store::sql::params;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::num::NonZero;

const LINK: &str = "https://shop.example.com/confirm-email";

/// Asks for a change to `new` and returns the emailed identifier and key.
async fn ask_change(app: &TestApp, token: &str, new: &str) -> (String, String) {
    let before = confirmations(app, new).len();
    let (status, body) = app.patch_self(token, json!({"email": new})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mail = eventually(PATIENCE, "a confirmation email arrives", || {
        let mut sent = confirmations(app, new);
        std::future::ready((sent.len() > before).then(|| sent.pop().unwrap()))
    })
    .await;
    (
        mail.link_param(LINK, "identifier"),
        mail.link_param(LINK, "key"),
    )
}

fn confirmations(app: &TestApp, to: &str) -> Vec<common::Email> {
    app.delivered()
        .into_iter()
        .filter(|e| e.to == to && e.subject.starts_with("Confirm your new email"))
        .collect()
}

async fn confirm(app: &TestApp, identifier: &str, key: &str) -> (StatusCode, Value) {
    app.post(
        "/customers/newemail_confirm",
        json!({"identifier": identifier, "key": key}),
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
async fn a_new_email_applies_only_once_confirmed_through_the_link() {
    let app = spawn_app().await;
    let token = app.active_customer("old@example.com").await;

    let (status, me) = app
        .patch_self(
            &token,
            json!({"email": "New@Example.com", "name": "Renamed"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(
        me["email"], "old@example.com",
        "not applied before confirmation"
    );
    assert_eq!(
        me["name"], "Renamed",
        "the rest of the PATCH applies at once"
    );

    let mail = app
        .wait_for_email("new@example.com", "Confirm your new email")
        .await;
    let identifier = mail.link_param(LINK, "identifier");
    let key = mail.link_param(LINK, "key");
    assert!(
        key.len() == 16
            && key
                .bytes()
                .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()),
        "the key is 16 characters of [0-9A-Z], like the seed's J32NA974R4F7N1HB: {key}"
    );
    assert!(mail.text.contains("Hello Renamed"), "{}", mail.text);
    let notice = app
        .wait_for_email("old@example.com", "change of your")
        .await;
    assert!(!notice.text.contains(&key));

    // The old address still logs in until the change is confirmed.
    app.token("old@example.com", PASSWORD).await;
    assert_eq!(
        confirm(&app, &identifier, &key).await,
        (StatusCode::OK, json!({"result": "updated"}))
    );
    assert_eq!(app.get_self(&token).await.1["email"], "new@example.com");
    app.token("new@example.com", PASSWORD).await;
    assert_eq!(
        app.login("old@example.com", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_invalid_key(confirm(&app, &identifier, &key).await);
}

#[tokio::test]
async fn codes_sent_to_the_old_address_die_with_the_change() {
    let app = spawn_app().await;
    let token = app.active_customer("before@example.com").await;
    let (identifier, key) = ask_change(&app, &token, "after@example.com").await;
    let (status, _) = app
        .post(
            "/customers/password_reset",
            json!({"email": "before@example.com", "reset_uri": "/reset"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let reset = app.wait_for_email("before@example.com", "Reset your").await;
    let code = reset.link("https://shop.example.com/reset/")
        ["https://shop.example.com/reset/".len()..]
        .to_owned();

    assert_eq!(confirm(&app, &identifier, &key).await.0, StatusCode::OK);
    for email in ["before@example.com", "after@example.com"] {
        let (status, body) = app
            .post("/customers/do_reset", json!({"email": email, "code": code}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{email}: {body}");
    }
}

#[tokio::test]
async fn an_address_of_another_account_gets_a_notice_and_no_link() {
    let app = spawn_app().await;
    app.active_customer("owner@example.com").await;
    let token = app.active_customer("asker@example.com").await;

    let (status, me) = app
        .patch_self(&token, json!({"email": "owner@example.com"}))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the same answer as for a free address: {me}"
    );
    assert_eq!(me["email"], "asker@example.com");

    let notice = app
        .wait_for_email("owner@example.com", "already have")
        .await;
    assert!(!notice.text.contains(LINK), "{}", notice.text);
    assert!(notice.text.contains("reset"), "{}", notice.text);
    app.wait_for_email("asker@example.com", "change of your")
        .await;
    assert!(confirmations(&app, "owner@example.com").is_empty());
    // Nothing changed for either account.
    app.token("owner@example.com", PASSWORD).await;
    app.token("asker@example.com", PASSWORD).await;
}

#[tokio::test]
async fn two_accounts_confirming_one_address_at_once_get_one_success_and_one_conflict() {
    // Two change requests to one address within a minute: lift the per-address allowance.
    let app =
        spawn_app_with(|c| c.limits.emails_per_address_per_minute = NonZero::new(10).unwrap())
            .await;
    let first = app.active_customer("first@example.com").await;
    let second = app.active_customer("second@example.com").await;
    let a = ask_change(&app, &first, "shared@example.com").await;
    let b = ask_change(&app, &second, "shared@example.com").await;
    assert_ne!(a.0, b.0);

    let (ra, rb) = tokio::join!(confirm(&app, &a.0, &a.1), confirm(&app, &b.0, &b.1));
    let mut statuses = [ra.0, rb.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{ra:?} {rb:?}"
    );
    let loser = if ra.0 == StatusCode::OK { rb.1 } else { ra.1 };
    assert_eq!(loser["error"], "conflict");
    app.token("shared@example.com", PASSWORD).await;
}

#[tokio::test]
async fn wrong_keys_are_refused_and_five_kill_the_key() {
    let app = spawn_app().await;
    let token = app.active_customer("keys@example.com").await;
    let (identifier, key) = ask_change(&app, &token, "keys2@example.com").await;
    // Five wrong keys at once, each the right one with its first character changed.
    let wrong: Vec<String> = "ABCDEF"
        .chars()
        .filter(|c| !key.starts_with(*c))
        .take(5)
        .map(|c| format!("{c}{}", &key[1..]))
        .collect();
    let guesses = wrong.iter().map(|w| confirm(&app, &identifier, w));
    for result in futures::future::join_all(guesses).await {
        assert_invalid_key(result);
    }
    assert_invalid_key(confirm(&app, &identifier, &key).await);
    for (id, k) in [
        ("no-such-customer", key.as_str()),
        (identifier.as_str(), "short"),
        ("bad id!", key.as_str()),
    ] {
        assert_invalid_key(confirm(&app, id, k).await);
    }
}

#[tokio::test]
async fn a_newer_request_replaces_the_pending_address() {
    let app = spawn_app().await;
    let token = app.active_customer("fickle@example.com").await;
    let (identifier, first_key) = ask_change(&app, &token, "one@example.com").await;
    let (_, second_key) = ask_change(&app, &token, "two@example.com").await;
    assert_invalid_key(confirm(&app, &identifier, &first_key).await);
    assert_eq!(
        confirm(&app, &identifier, &second_key).await.0,
        StatusCode::OK
    );
    assert_eq!(app.get_self(&token).await.1["email"], "two@example.com");
}

#[tokio::test]
async fn an_expired_key_is_refused() {
    let app = spawn_app().await;
    let token = app.active_customer("slow@example.com").await;
    let (identifier, key) = ask_change(&app, &token, "slow2@example.com").await;
    app.db()
        .execute(
            "UPDATE one_time_codes SET expires_at = expires_at - 25 * 3600 WHERE purpose = 'email_change'",
            params![],
        )
        .unwrap();
    assert_invalid_key(confirm(&app, &identifier, &key).await);
}

#[tokio::test]
async fn a_malformed_new_email_is_a_field_error() {
    let app = spawn_app().await;
    let token = app.active_customer("typo@example.com").await;
    let (status, body) = app
        .patch_self(&token, json!({"email": "not-an-address"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["fields"]["email"].is_string(), "{body}");
}
