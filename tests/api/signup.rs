//! Self-service sign-up, and what a customer's name can and cannot do to an email.

use crate::common::{PASSWORD, PATIENCE, TestApp, eventually, spawn_app, spawn_app_with};
use customer_area::config::Secret;
use customer_area::store::sql::params;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::num::NonZero;

const LINK: &str = "https://shop.example.com/activate";
const TOKEN: &str = "admin-token-for-sign-up-tests-0123";

#[tokio::test]
async fn with_sign_up_off_the_endpoint_answers_404_naming_the_setting() {
    let app = spawn_app().await;
    let unknown = app.post("/customers/nowhere", json!({})).await;
    let signup = app
        .post(
            "/customers/signup",
            json!({"email": "new@example.com", "name": "New"}),
        )
        .await;
    assert_eq!(signup.0, StatusCode::NOT_FOUND);
    assert_eq!(signup.1["error"], unknown.1["error"]);
    let message = signup.1["message"].as_str().unwrap_or_default();
    assert!(message.contains("auth.allow_signup"), "{message}");
    // Said before the body is read: a malformed body gets the same word, and nothing is sent.
    let malformed = app
        .client
        .post(app.url("/customers/signup"))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(malformed.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        malformed.json::<serde_json::Value>().await.unwrap(),
        signup.1
    );
    assert_eq!(app.queued("activation"), 0);
}

#[tokio::test]
async fn a_new_customer_signs_up_activates_and_logs_in() {
    let app = spawn_app_with(|c| c.auth.allow_signup = true).await;
    let (status, body) = app
        .post(
            "/customers/signup",
            json!({"email": "Fresh@Example.com", "name": "Fresh Customer"}),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"result": "email_sent"}))
    );
    let mail = app.wait_for_email("fresh@example.com", "Activate").await;
    // Whoever filled in the form may not own the address: nothing they typed is mailed to it.
    assert!(!mail.text.contains("Fresh Customer"), "{}", mail.text);
    assert!(!String::from_utf8_lossy(&mail.raw).contains("Fresh"));
    let (status, body) = app
        .post(
            "/customers/activate",
            json!({
                "identifier": mail.link_param(LINK, "identifier"),
                "secret": mail.link_param(LINK, "secret"),
                "password": PASSWORD,
                "password_check": PASSWORD,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = app.token("fresh@example.com", PASSWORD).await;
    assert_eq!(app.get_self(&token).await.1["name"], "Fresh Customer");
}

#[tokio::test]
async fn signing_up_with_a_taken_address_answers_alike_and_tells_its_owner() {
    let app = spawn_app_with(|c| c.auth.allow_signup = true).await;
    app.active_customer("taken@example.com").await;
    let fresh = app
        .post(
            "/customers/signup",
            json!({"email": "free@example.com", "name": "Someone"}),
        )
        .await;
    let taken = app
        .post(
            "/customers/signup",
            json!({"email": "taken@example.com", "name": "Someone"}),
        )
        .await;
    assert_eq!(fresh, taken);
    let notice = app
        .wait_for_email("taken@example.com", "already have")
        .await;
    assert!(notice.text.contains("reset"), "{}", notice.text);
    assert!(!notice.text.contains(LINK), "{}", notice.text);
    // The account is untouched.
    app.token("taken@example.com", PASSWORD).await;
}

#[tokio::test]
async fn a_pending_address_signing_up_again_gets_a_fresh_activation_link() {
    // Two emails to one address within a minute: lift the per-address allowance.
    let app = spawn_app_with(|c| {
        c.auth.allow_signup = true;
        c.limits.emails_per_address_per_minute = NonZero::new(10).unwrap();
    })
    .await;
    let body = json!({"email": "again@example.com", "name": "Again"});
    app.post("/customers/signup", body.clone()).await;
    let first = app.wait_for_email("again@example.com", "Activate").await;
    app.post("/customers/signup", body).await;
    eventually(PATIENCE, "the second activation email arrives", || {
        let count = app
            .delivered()
            .iter()
            .filter(|e| e.to == "again@example.com")
            .count();
        std::future::ready((count == 2).then_some(()))
    })
    .await;
    let second = app.wait_for_email("again@example.com", "Activate").await;
    assert_ne!(first.message_id, second.message_id);
    assert_eq!(
        first.link_param(LINK, "identifier"),
        second.link_param(LINK, "identifier")
    );
    let (status, _) = app
        .post(
            "/customers/activate",
            json!({
                "identifier": second.link_param(LINK, "identifier"),
                "secret": second.link_param(LINK, "secret"),
                "password": PASSWORD,
                "password_check": PASSWORD,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn sign_up_refuses_bad_fields_and_foreign_activation_links() {
    let app = spawn_app_with(|c| c.auth.allow_signup = true).await;
    for (body, field) in [
        (json!({"email": "x", "name": "X"}), "email"),
        (json!({"email": "x@example.com"}), "name"),
        (
            json!({"email": "x@example.com", "name": "Eve\r\nBcc: victim@example.com"}),
            "name",
        ),
        (
            json!({"email": "x@example.com", "name": "Eve\u{2028}Bcc: v@example.com"}),
            "name",
        ),
        (
            json!({"email": "x@example.com", "name": "X", "activate_uri": "https://evil.example.net/a"}),
            "activate_uri",
        ),
        (
            json!({"email": "x@example.com", "name": "X", "extra": 1}),
            "extra",
        ),
    ] {
        let (status, answer) = app.post("/customers/signup", body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert!(answer["fields"][field].is_string(), "{body}: {answer}");
    }
}

#[tokio::test]
async fn an_activate_uri_on_the_shop_is_used_for_the_link() {
    let app = spawn_app_with(|c| c.auth.allow_signup = true).await;
    let (status, _) = app
        .post(
            "/customers/signup",
            json!({"email": "custom@example.com", "name": "C", "activate_uri": "/welcome"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mail = app.wait_for_email("custom@example.com", "Activate").await;
    mail.link_param("https://shop.example.com/welcome?", "secret");
}

#[tokio::test]
async fn a_name_carrying_line_breaks_adds_no_header_and_no_recipient() {
    let app = spawn_app().await;
    // The admin path takes names as given; the mail must stay safe whatever they hold.
    for (i, name) in [
        "Eve\r\nBcc: victim@example.com",
        "Eve\nBcc: victim@example.com",
        "Eve\u{85}Bcc: victim@example.com",
        "Eve\u{2028}Bcc: victim@example.com",
    ]
    .into_iter()
    .enumerate()
    {
        let to = format!("eve{i}@example.com");
        app.create_customer(&to, name).await;
        let mail = app.wait_for_email(&to, "Activate").await;
        assert_eq!(mail.envelope_to, vec![to.clone()]);
        let raw = String::from_utf8_lossy(&mail.raw);
        let headers = raw.split("\r\n\r\n").next().unwrap().to_ascii_lowercase();
        assert!(
            !headers.contains("bcc:") && !headers.contains("victim"),
            "{headers}"
        );
    }
    assert!(
        app.delivered()
            .iter()
            .all(|m| !m.envelope_to.iter().any(|r| r.contains("victim")))
    );
}

/// An app that takes sign-ups, with the list `newsletter` and an admin token.
async fn sign_up_app() -> TestApp {
    let app = spawn_app_with(|c| {
        c.auth.allow_signup = true;
        c.admin.api_token = Secret::new(TOKEN);
        c.limits.emails_per_address_per_minute = NonZero::new(10).unwrap();
    })
    .await;
    app.add_newsletter(TOKEN).await;
    app
}

/// The members of `newsletter`: the JSON listing's emails, and the CSV export's body.
async fn newsletter_members(app: &TestApp) -> (Vec<String>, String) {
    let (status, body) = app
        .call(
            Method::GET,
            "/admin/subscriptions/newsletter/members",
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let emails = body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(body["total"], body["members"].as_array().unwrap().len());
    let csv = app
        .client
        .get(app.url("/admin/subscriptions/newsletter/members?format=csv"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    (emails, csv)
}

#[tokio::test]
async fn a_sign_up_is_no_member_of_its_lists_until_its_owner_activates() {
    let app = sign_up_app().await;
    let (status, body) = app
        .post(
            "/customers/signup",
            json!({"email": "joiner@example.com", "name": "Joiner", "subscriptions": ["newsletter"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.wait_for_email("joiner@example.com", "Activate").await;
    let (members, csv) = newsletter_members(&app).await;
    assert!(members.is_empty(), "{members:?}");
    assert!(!csv.contains("joiner@example.com"), "{csv}");
    assert!(app.consents(TOKEN, "joiner@example.com").await.is_empty());

    app.activate_pending("joiner@example.com").await;
    let (members, csv) = newsletter_members(&app).await;
    assert_eq!(members, ["joiner@example.com"]);
    assert!(csv.contains("joiner@example.com"), "{csv}");
    let consents = app.consents(TOKEN, "joiner@example.com").await;
    assert_eq!(consents.len(), 1, "{consents:?}");
    assert_eq!(consents[0]["source"], "signup");
}

#[tokio::test]
async fn a_retailer_s_pending_customer_joins_the_member_listing_when_they_activate() {
    let app = sign_up_app().await;
    let (status, body) = app
        .call(
            Method::POST,
            "/admin/customers",
            Some(TOKEN),
            Some(json!({"email": "guest@example.com", "name": "Guest", "subscriptions": ["newsletter"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    // Kept with the customer, as the retailer asked, and recorded as theirs...
    assert_eq!(body["subscriptions"][0]["id"], "newsletter", "{body}");
    // ...but no list's member before the customer has an account.
    assert!(newsletter_members(&app).await.0.is_empty());
    app.activate_pending("guest@example.com").await;
    assert_eq!(newsletter_members(&app).await.0, ["guest@example.com"]);
}

#[tokio::test]
async fn a_sign_up_nobody_activates_is_deleted_when_its_activation_expires() {
    let app = sign_up_app().await;
    app.post(
        "/customers/signup",
        json!({"email": "never@example.com", "name": "Never"}),
    )
    .await;
    app.wait_for_email("never@example.com", "Activate").await;
    // A customer the retailer created stays pending however long it waits.
    app.create_customer("guest@example.com", "Guest").await;
    let customers = || -> i64 {
        app.db()
            .query_row("SELECT count(*) FROM customers", params![], |r| r.only())
            .unwrap()
    };
    assert_eq!(customers(), 2);
    let operations = app.running.services.operations();
    operations.sweep_expired().await.unwrap();
    assert_eq!(customers(), 2, "a live activation keeps the sign-up");
    app.db()
        .execute(
            "UPDATE one_time_codes SET expires_at = expires_at - 7 * 86400",
            params![],
        )
        .unwrap();
    operations.sweep_expired().await.unwrap();
    let left: Vec<String> = app
        .db()
        .query_map("SELECT email FROM customers", params![], |r| r.only())
        .unwrap();
    assert_eq!(left, ["guest@example.com"]);
    // The address is free for a sign-up of its own.
    app.post(
        "/customers/signup",
        json!({"email": "never@example.com", "name": "Again"}),
    )
    .await;
    eventually(PATIENCE, "the new sign-up is stored", || {
        std::future::ready((customers() == 2).then_some(()))
    })
    .await;
}
