//! Passkeys over HTTP, with a software authenticator that signs real WebAuthn answers:
//! adding one, signing in with it exactly as a password login does, and every way a
//! ceremony can be misused (replayed, expired, begun for someone else, a credential naming
//! another account, a counter gone backwards). Management, notices, throttling and the bound
//! on stored challenges.

use std::num::NonZero;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::passkey::{SHOP_ORIGIN, SoftAuthenticator};
use crate::common::{PASSWORD, TestApp, spawn_app, spawn_app_with};
use customer_area::store::sql::params;

fn count(app: &TestApp, sql: &str) -> i64 {
    app.db()
        .query_row(sql, params![], |row| row.only())
        .unwrap()
}

async fn get(app: &TestApp, path: &str, token: &str) -> Value {
    let (status, body) = app.call(Method::GET, path, Some(token), None).await;
    assert_eq!(status, StatusCode::OK, "{path}: {body}");
    body
}

fn assert_invalid_credentials(status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_credentials", "{body}");
}

#[tokio::test]
async fn a_customer_adds_a_passkey_and_signs_in_with_it_as_with_a_password() {
    let app = spawn_app().await;
    let email = "ada@example.com";
    let token = app.active_customer(email).await;
    let mut authenticator = SoftAuthenticator::new(SHOP_ORIGIN);

    let (status, added) = app
        .add_passkey(&token, &mut authenticator, Some("  Laptop "))
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(added["name"], "Laptop");
    assert!(added["id"].as_str().unwrap().len() == 16, "{added}");
    assert!(added["created_at"].is_string(), "{added}");
    app.wait_for_email(email, "A passkey was added").await;

    let (status, body) = app.passkey_login(&mut authenticator).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let passkey_token = body["token"].as_str().unwrap();
    assert_eq!(passkey_token.len(), token.len(), "a token like a login's");
    let (status, me) = app.get_self(passkey_token).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["email"], email);

    let sessions = get(&app, "/customers/sessions", passkey_token).await;
    assert_eq!(
        sessions["sessions"].as_array().unwrap().len(),
        2,
        "{sessions}"
    );
    let events = get(&app, "/customers/activity", passkey_token).await;
    let events = events["events"].as_array().unwrap().clone();
    assert_eq!(events[0]["kind"], "login_succeeded", "{events:?}");
    assert_eq!(events[0]["method"], "passkey", "{events:?}");
    assert!(events.iter().any(|e| e["kind"] == "passkey_added"));
    assert!(
        events
            .iter()
            .any(|e| e["kind"] == "login_succeeded" && e["method"] == "password"),
        "{events:?}"
    );
    let listed = get(&app, "/customers/passkeys", passkey_token).await;
    let passkeys = listed["passkeys"].as_array().unwrap();
    assert_eq!(passkeys.len(), 1, "{listed}");
    assert_eq!(passkeys[0]["id"], added["id"]);
    assert!(passkeys[0]["last_used_at"].is_string(), "{listed}");
}

#[tokio::test]
async fn a_replayed_login_finish_is_refused_because_its_challenge_is_used_up() {
    let app = spawn_app().await;
    let token = app.active_customer("replay@example.com").await;
    let mut authenticator = SoftAuthenticator::new(SHOP_ORIGIN);
    let (status, body) = app.add_passkey(&token, &mut authenticator, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["name"], "Passkey");

    let (challenge_id, options) = app.begin_passkey_login().await;
    let credential = authenticator.get(&options);
    let (status, body) = app.finish_passkey_login(&challenge_id, &credential).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.finish_passkey_login(&challenge_id, &credential).await;
    assert_invalid_credentials(status, &body);
}

#[tokio::test]
async fn a_registration_begun_by_one_customer_cannot_be_finished_by_another() {
    let app = spawn_app().await;
    let ada = app.active_customer("ada@example.com").await;
    let bob = app.active_customer("bob@example.com").await;
    let mut authenticator = SoftAuthenticator::new(SHOP_ORIGIN);
    let (_, begun) = app
        .call(
            Method::POST,
            "/customers/passkeys/register",
            Some(&ada),
            None,
        )
        .await;
    let credential = authenticator.create(&begun["options"]);
    let body = json!({ "challenge_id": begun["challenge_id"], "credential": credential });
    let (status, answer) = app
        .call(
            Method::POST,
            "/customers/passkeys/register/finish",
            Some(&bob),
            Some(body.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"], "invalid_code");
    assert!(answer["fields"]["challenge_id"].is_string(), "{answer}");
    assert_eq!(count(&app, "SELECT count(*) FROM passkeys"), 0);
    // The attempt used the challenge up: not even its customer can finish it now.
    let (status, answer) = app
        .call(
            Method::POST,
            "/customers/passkeys/register/finish",
            Some(&ada),
            Some(body),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
}

#[tokio::test]
async fn an_expired_challenge_is_refused() {
    let app = spawn_app().await;
    let token = app.active_customer("late@example.com").await;
    let mut authenticator = SoftAuthenticator::new(SHOP_ORIGIN);
    let (status, body) = app.add_passkey(&token, &mut authenticator, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (challenge_id, options) = app.begin_passkey_login().await;
    // Five minutes and a second later.
    app.db()
        .execute(
            "UPDATE passkey_challenges SET expires_at = expires_at - 301",
            params![],
        )
        .unwrap();
    let credential = authenticator.get(&options);
    let (status, body) = app.finish_passkey_login(&challenge_id, &credential).await;
    assert_invalid_credentials(status, &body);

    let (_, begun) = app
        .call(
            Method::POST,
            "/customers/passkeys/register",
            Some(&token),
            None,
        )
        .await;
    app.db()
        .execute(
            "UPDATE passkey_challenges SET expires_at = expires_at - 301",
            params![],
        )
        .unwrap();
    let credential = authenticator.create(&begun["options"]);
    let (status, body) = app
        .call(
            Method::POST,
            "/customers/passkeys/register/finish",
            Some(&token),
            Some(json!({ "challenge_id": begun["challenge_id"], "credential": credential })),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "invalid_code");
    // Expired challenges are swept when the next one is stored.
    app.begin_passkey_login().await;
    assert_eq!(count(&app, "SELECT count(*) FROM passkey_challenges"), 1);
}

#[tokio::test]
async fn a_credential_registered_by_one_customer_cannot_sign_in_as_another() {
    let app = spawn_app().await;
    let ada = app.active_customer("ada@example.com").await;
    let bob = app.active_customer("bob@example.com").await;
    let mut authenticator = SoftAuthenticator::new(SHOP_ORIGIN);
    assert_eq!(
        app.add_passkey(&ada, &mut authenticator, None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        app.add_passkey(&bob, &mut authenticator, None).await.0,
        StatusCode::OK
    );
    let bobs_handle = authenticator.credentials[1].user_handle.clone();
    assert_ne!(authenticator.credentials[0].user_handle, bobs_handle);

    // Ada's credential, validly signed, naming Bob's account.
    let (challenge_id, options) = app.begin_passkey_login().await;
    let credential = authenticator.assert(&options, 0, &bobs_handle);
    let (status, body) = app.finish_passkey_login(&challenge_id, &credential).await;
    assert_invalid_credentials(status, &body);

    // Signed with Ada's key but presented as Bob's credential.
    let (challenge_id, options) = app.begin_passkey_login().await;
    let mut credential = authenticator.assert(&options, 0, &bobs_handle);
    let bobs_id = credential_id_of(&authenticator, 1);
    credential["id"] = json!(bobs_id);
    credential["rawId"] = json!(bobs_id);
    let (status, body) = app.finish_passkey_login(&challenge_id, &credential).await;
    assert_invalid_credentials(status, &body);

    // Each still signs in as its own customer.
    let (status, body) = app.passkey_login(&mut authenticator).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, me) = app.get_self(body["token"].as_str().unwrap()).await;
    assert_eq!(me["email"], "bob@example.com");
}

fn credential_id_of(authenticator: &SoftAuthenticator, index: usize) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&authenticator.credentials[index].id)
}

#[tokio::test]
async fn a_signature_counter_that_does_not_grow_is_refused() {
    let app = spawn_app().await;
    let token = app.active_customer("clone@example.com").await;
    let mut authenticator = SoftAuthenticator::new(SHOP_ORIGIN);
    app.add_passkey(&token, &mut authenticator, None).await;
    let (status, body) = app.passkey_login(&mut authenticator).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.passkey_login(&mut authenticator).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A clone of the authenticator, a sign-in behind: its counter repeats one already seen.
    authenticator.credentials[0].counter -= 1;
    let (status, body) = app.passkey_login(&mut authenticator).await;
    assert_invalid_credentials(status, &body);
}

#[tokio::test]
async fn a_removed_passkey_signs_no_one_in_and_only_its_owner_can_remove_it() {
    let app = spawn_app().await;
    let email = "gone@example.com";
    let token = app.active_customer(email).await;
    let other = app.active_customer("other@example.com").await;
    let mut authenticator = SoftAuthenticator::new(SHOP_ORIGIN);
    let (_, added) = app.add_passkey(&token, &mut authenticator, None).await;
    let path = format!("/customers/passkeys/{}", added["id"].as_str().unwrap());

    let (status, body) = app.call(Method::DELETE, &path, Some(&other), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app
        .call(
            Method::DELETE,
            "/customers/passkeys/not-an-id",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (status, body) = app.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({ "result": "deleted" }));
    app.wait_for_email(email, "A passkey was removed").await;
    let listed = get(&app, "/customers/passkeys", &token).await;
    assert_eq!(listed, json!({ "passkeys": [] }));
    let events = get(&app, "/customers/activity", &token).await;
    assert_eq!(events["events"][0]["kind"], "passkey_removed");

    let (status, body) = app.passkey_login(&mut authenticator).await;
    assert_invalid_credentials(status, &body);
    let (status, _) = app.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_password_change_keeps_the_passkeys_and_an_account_deletion_removes_them() {
    let app = spawn_app().await;
    let email = "keeps@example.com";
    let token = app.active_customer(email).await;
    let mut authenticator = SoftAuthenticator::new(SHOP_ORIGIN);
    app.add_passkey(&token, &mut authenticator, None).await;
    let new_password = "a different passphrase 42";
    let (status, body) = app
        .patch_self(
            &token,
            json!({
                "current_password": PASSWORD,
                "password": new_password,
                "password_check": new_password,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.passkey_login(&mut authenticator).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap().to_owned();

    let (status, body) = app
        .call(Method::DELETE, "/customers/self", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(count(&app, "SELECT count(*) FROM passkeys"), 0);
    assert_eq!(count(&app, "SELECT count(*) FROM passkey_users"), 0);
    let (status, body) = app.passkey_login(&mut authenticator).await;
    assert_invalid_credentials(status, &body);
}

#[tokio::test]
async fn malformed_finishes_get_clear_errors_and_forged_ones_the_login_refusal() {
    let app = spawn_app().await;
    let (challenge_id, _) = app.begin_passkey_login().await;
    let (status, body) = app
        .post(
            "/customers/passkey_login/finish",
            json!({ "challenge_id": challenge_id }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["fields"]["credential"], "is required");
    let (status, body) = app
        .post(
            "/customers/passkey_login/finish",
            json!({ "challenge_id": challenge_id, "credential": "abc", "extra": 1 }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["fields"]["credential"].is_string(), "{body}");
    assert!(body["fields"]["extra"].is_string(), "{body}");
    let (status, body) = app
        .finish_passkey_login(&challenge_id, &json!({ "id": "x", "type": "public-key" }))
        .await;
    assert_invalid_credentials(status, &body);
    let (status, body) = app
        .finish_passkey_login("no-such-challenge", &json!({}))
        .await;
    assert_invalid_credentials(status, &body);

    let token = app.active_customer("named@example.com").await;
    let mut authenticator = SoftAuthenticator::new(SHOP_ORIGIN);
    let (status, body) = app
        .add_passkey(&token, &mut authenticator, Some(&"x".repeat(65)))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["fields"]["name"].is_string(), "{body}");
    // A credential from a page of another site does not verify.
    let mut phished = SoftAuthenticator::new("https://shop.example.com.evil.example");
    let (status, body) = app.add_passkey(&token, &mut phished, None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["fields"]["credential"].is_string(), "{body}");
    assert_eq!(count(&app, "SELECT count(*) FROM passkeys"), 0);
}

#[tokio::test]
async fn passkey_endpoints_draw_on_the_login_budget_of_the_address() {
    let app = spawn_app_with(|config| {
        config.limits.login_per_ip_per_minute = NonZero::new(3).unwrap();
    })
    .await;
    for _ in 0..2 {
        app.begin_passkey_login().await;
    }
    let (status, body) = app
        .finish_passkey_login("no-such-challenge", &json!({}))
        .await;
    assert_invalid_credentials(status, &body);
    let (status, body) = app.post("/customers/passkey_login", json!({})).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    let (status, body) = app.login("someone@example.com", "whatever").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
}

#[tokio::test]
async fn a_flood_of_begun_sign_ins_keeps_a_bounded_number_of_challenges() {
    let app = spawn_app_with(|config| {
        config.limits.login_per_ip_per_minute = NonZero::new(1000).unwrap();
    })
    .await;
    let mut last = None;
    for _ in 0..(customer_area::flows::CHALLENGES_PER_IP * 3) {
        last = Some(app.begin_passkey_login().await);
    }
    assert_eq!(
        count(&app, "SELECT count(*) FROM passkey_challenges"),
        customer_area::flows::CHALLENGES_PER_IP as i64
    );
    // The newest still finishes (here refused for want of a passkey, not of a challenge:
    // the row is gone afterwards).
    let (challenge_id, _) = last.unwrap();
    app.finish_passkey_login(&challenge_id, &json!({})).await;
    assert_eq!(
        count(&app, "SELECT count(*) FROM passkey_challenges"),
        customer_area::flows::CHALLENGES_PER_IP as i64 - 1
    );
}

#[tokio::test]
async fn one_ipv6_network_keeps_no_more_challenges_than_one_address() {
    let app = spawn_app_with(|config| {
        config.server.trusted_proxies = vec!["127.0.0.1".into()];
        config.limits.login_per_ip_per_minute = NonZero::new(1000).unwrap();
    })
    .await;
    let begin_from = |ip: String| {
        let request = app
            .client
            .post(app.url("/customers/passkey_login"))
            .header("x-forwarded-for", ip)
            .json(&json!({}));
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.status(), StatusCode::OK);
        }
    };
    begin_from("2001:db8:0:1::1".into()).await;
    // Every address of one /64 is the same client, as the throttles count it.
    for n in 0..(customer_area::flows::CHALLENGES_PER_IP * 3) {
        begin_from(format!("2001:db8:0:2::{:x}", n + 1)).await;
    }
    assert_eq!(
        count(&app, "SELECT count(*) FROM passkey_challenges"),
        customer_area::flows::CHALLENGES_PER_IP as i64 + 1,
        "the other network's ceremony stays"
    );
}

#[tokio::test]
async fn passkeys_do_not_exist_when_the_retailer_is_an_ip_address_and_no_rp_id_is_set() {
    let app = spawn_app_with(|config| {
        config.links.retailer_url = "http://127.0.0.1:8080".into();
    })
    .await;
    let (status, body) = app.post("/customers/passkey_login", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
}

#[tokio::test]
async fn an_ip_address_as_relying_party_id_stops_the_app_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = crate::common::test_config(dir.path(), 25);
    config.auth.passkey_rp_id = "127.0.0.1".into();
    let error = customer_area::app::App::build(config)
        .await
        .err()
        .expect("the app refuses to build");
    assert!(
        format!("{error:#}").contains("auth.passkey_rp_id"),
        "{error:#}"
    );
}
