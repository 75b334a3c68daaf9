//! A stolen session never becomes a stolen account: what needs a recent sign-in, the email
//! change keys that die with the sessions, the undo that takes an account back, and the
//! new-device notice with its "this wasn't me".

use std::num::NonZero;

use crate::common::passkey::{SHOP_ORIGIN, SoftAuthenticator};
use crate::common::{PASSWORD, PATIENCE, TestApp, spawn_app_with, wait_until};
use customer_area::config::Config;
use customer_area::store::sql::params;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const OWNER: &str = "owner@example.com";
const ATTACKER_INBOX: &str = "mallory@evil.example";
const CONFIRM_LINK: &str = "https://shop.example.com/confirm-email";
const UNDO_LINK: &str = "https://shop.example.com/undo-email";
const NOT_ME_LINK: &str = "https://shop.example.com/not-me";
const RESET_LINK: &str = "https://shop.example.com/reset/";
/// The attacker's browser: a device the owner's account has never used.
const ATTACKER_BROWSER: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0";

fn generous(c: &mut Config) {
    c.limits.codes_per_ip_per_minute = NonZero::new(10_000).unwrap();
    c.limits.emails_per_address_per_minute = NonZero::new(100).unwrap();
    c.limits.emails_per_address_per_hour = NonZero::new(100).unwrap();
}

async fn app() -> TestApp {
    spawn_app_with(generous).await
}

/// Ages every session past `auth.reauth_seconds`: a token stolen from a browser, used some
/// minutes after its sign-in.
fn age_sessions(app: &TestApp) {
    app.db()
        .execute(
            "UPDATE sessions SET authenticated_at = authenticated_at - 301",
            params![],
        )
        .unwrap();
}

fn count(app: &TestApp, sql: &str) -> i64 {
    app.db().query_row(sql, params![], |r| r.only()).unwrap()
}

/// Signs in to `email` from the attacker's browser; answers the token.
async fn sign_in_from_attackers_browser(app: &TestApp, email: &str, password: &str) -> String {
    sign_in_from(app, ATTACKER_BROWSER, email, password).await
}

/// Signs in to `email` from a browser sending `user_agent`; answers the token.
async fn sign_in_from(app: &TestApp, user_agent: &str, email: &str, password: &str) -> String {
    let response = reqwest::Client::builder()
        .user_agent(user_agent)
        .build()
        .unwrap()
        .post(app.url("/customers/login"))
        .json(&json!({"email": email, "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["token"].as_str().unwrap().to_owned()
}

/// Asks, with `token`, to move the account to the attacker's inbox; answers the confirmation
/// body (`identifier`, `key`) mailed there.
async fn ask_email_change(app: &TestApp, token: &str) -> Value {
    let (status, body) = app
        .patch_self(token, json!({"email": ATTACKER_INBOX}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mail = app
        .wait_for_email(ATTACKER_INBOX, "Confirm your new email")
        .await;
    json!({"identifier": mail.link_param(CONFIRM_LINK, "identifier"),
           "key": mail.link_param(CONFIRM_LINK, "key")})
}

async fn confirm(app: &TestApp, confirmation: &Value) -> (StatusCode, Value) {
    app.post("/customers/newemail_confirm", confirmation.clone())
        .await
}

fn assert_invalid_code(result: (StatusCode, Value), field: &str) {
    let (status, body) = result;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "invalid_code", "{body}");
    assert!(body["fields"][field].is_string(), "{body}");
}

fn assert_reauthentication_required(result: (StatusCode, Value)) {
    let (status, body) = result;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "reauthentication_required", "{body}");
    assert!(body["message"].as_str().unwrap().contains("reauthenticate"));
}

/// Follows the newest reset link mailed to `email`; answers the new password.
async fn reset_from_email(app: &TestApp, email: &str) -> String {
    let mail = app.wait_for_email(email, "Reset your").await;
    let code = mail.link(RESET_LINK)[RESET_LINK.len()..].to_owned();
    let (status, body) = app
        .post("/customers/do_reset", json!({"email": email, "code": code}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    crate::password_reset::decode(body["token"].as_str().unwrap(), &code)
}

/// What kills the attacker's pending email change.
enum Revoker {
    PasswordChange,
    SignOutEverywhereElse,
    Reset,
    NotMe,
}

/// The owner signs in; the attacker signs in from their own browser with a stolen password and
/// asks to move the account to their inbox; the owner does `revoker`; the confirmation key in
/// the attacker's inbox is dead, and the address stays the owner's.
async fn a_pending_email_change_dies_with(revoker: Revoker) {
    let app = app().await;
    let owner = app.active_customer(OWNER).await;
    let attacker = sign_in_from_attackers_browser(&app, OWNER, PASSWORD).await;
    let confirmation = ask_email_change(&app, &attacker).await;
    match revoker {
        Revoker::PasswordChange => {
            let (status, body) = app
                .patch_self(
                    &owner,
                    json!({"current_password": PASSWORD, "password": "a fresh secret",
                           "password_check": "a fresh secret"}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        Revoker::SignOutEverywhereElse => {
            let (status, body) = app
                .call(Method::DELETE, "/customers/sessions", Some(&owner), None)
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
        }
        Revoker::Reset => {
            app.ask_reset(OWNER).await;
            reset_from_email(&app, OWNER).await;
        }
        Revoker::NotMe => {
            let notice = app.wait_for_email(OWNER, "New sign-in").await;
            let (status, body) = app
                .post(
                    "/customers/not_me",
                    json!({"identifier": notice.link_param(NOT_ME_LINK, "identifier"),
                           "key": notice.link_param(NOT_ME_LINK, "key")}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            assert_eq!(body, json!({"result": "secured"}));
        }
    }
    assert_invalid_code(confirm(&app, &confirmation).await, "key");
    let stored: String = app
        .db()
        .query_row("SELECT email FROM customers", params![], |r| r.only())
        .unwrap();
    assert_eq!(stored, OWNER);
}

#[tokio::test]
async fn a_password_change_kills_a_pending_email_change() {
    a_pending_email_change_dies_with(Revoker::PasswordChange).await;
}

#[tokio::test]
async fn signing_out_everywhere_else_kills_a_pending_email_change() {
    a_pending_email_change_dies_with(Revoker::SignOutEverywhereElse).await;
}

#[tokio::test]
async fn a_reset_kills_a_pending_email_change() {
    a_pending_email_change_dies_with(Revoker::Reset).await;
}

#[tokio::test]
async fn this_wasnt_me_kills_a_pending_email_change() {
    a_pending_email_change_dies_with(Revoker::NotMe).await;
}

#[tokio::test]
async fn what_needs_a_recent_sign_in_answers_403_on_an_aged_session_and_changes_nothing() {
    let app = app().await;
    let token = app.active_customer(OWNER).await;
    let mut authenticator = SoftAuthenticator::new(SHOP_ORIGIN);
    let (status, passkey) = app.add_passkey(&token, &mut authenticator, None).await;
    assert_eq!(status, StatusCode::OK, "{passkey}");
    age_sessions(&app);

    assert_reauthentication_required(
        app.patch_self(&token, json!({"email": ATTACKER_INBOX, "name": "Mallory"}))
            .await,
    );
    let (_, me) = app.get_self(&token).await;
    assert_eq!(me["name"], "Test Customer", "a refused PATCH keeps nothing");
    assert_eq!(app.queued("email_change_new"), 0);
    assert_eq!(count(&app, "SELECT count(*) FROM one_time_codes"), 0);

    assert_reauthentication_required(
        app.call(Method::GET, "/customers/self/export", Some(&token), None)
            .await,
    );
    assert_reauthentication_required(
        app.call(Method::DELETE, "/customers/self", Some(&token), None)
            .await,
    );
    assert_eq!(app.get_self(&token).await.0, StatusCode::OK);
    assert_reauthentication_required(
        app.call(
            Method::POST,
            "/customers/passkeys/register",
            Some(&token),
            None,
        )
        .await,
    );
    let path = format!("/customers/passkeys/{}", passkey["id"].as_str().unwrap());
    assert_reauthentication_required(app.call(Method::DELETE, &path, Some(&token), None).await);
    assert_eq!(count(&app, "SELECT count(*) FROM passkeys"), 1);
    // Other edits need no recent sign-in.
    let (status, body) = app.patch_self(&token, json!({"name": "Ada"})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn reauthenticating_with_the_password_opens_the_window_and_a_wrong_one_is_a_failed_login() {
    let app = app().await;
    let token = app.active_customer(OWNER).await;
    age_sessions(&app);
    let reauthenticate = |password: &str| {
        app.call(
            Method::POST,
            "/customers/reauthenticate",
            Some(&token),
            Some(json!({ "password": password })),
        )
    };
    let (status, body) = reauthenticate("not the password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_credentials", "{body}");
    // Counted after the answer, as a failed login is.
    wait_until(PATIENCE, "the failure counts toward the lockout", || {
        count(&app, "SELECT failed_logins FROM customers") == 1
    })
    .await;

    let (status, body) = reauthenticate(PASSWORD).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"result": "reauthenticated"}));
    assert_eq!(count(&app, "SELECT failed_logins FROM customers"), 0);
    let (status, _) = app
        .call(Method::GET, "/customers/self/export", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .call(Method::DELETE, "/customers/self", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn the_current_password_in_the_patch_counts_as_a_recent_sign_in() {
    let app = app().await;
    let token = app.active_customer(OWNER).await;
    age_sessions(&app);
    let (status, body) = app
        .patch_self(
            &token,
            json!({"email": ATTACKER_INBOX, "current_password": "a wrong guess"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["fields"]["current_password"].is_string(), "{body}");
    assert_eq!(app.queued("email_change_new"), 0);

    let (status, body) = app
        .patch_self(
            &token,
            json!({"email": ATTACKER_INBOX, "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.wait_for_email(ATTACKER_INBOX, "Confirm your new email")
        .await;
}

#[tokio::test]
async fn reauthenticate_refuses_malformed_bodies_with_clear_errors() {
    let app = app().await;
    let token = app.active_customer(OWNER).await;
    for (body, field) in [
        (json!({}), "password"),
        (json!({"password": 12}), "password"),
        (
            json!({"password": PASSWORD, "challenge_id": "x"}),
            "password",
        ),
        (json!({"password": PASSWORD, "admin": true}), "admin"),
        (json!({"challenge_id": "x"}), "credential"),
    ] {
        let (status, answer) = app
            .call(
                Method::POST,
                "/customers/reauthenticate",
                Some(&token),
                Some(body.clone()),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert!(answer["fields"][field].is_string(), "{body}: {answer}");
    }
    let (status, _) = app
        .post("/customers/reauthenticate", json!({"password": PASSWORD}))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_passkey_reauthenticates_its_owners_session_only() {
    let app = app().await;
    let owner = app.active_customer(OWNER).await;
    let stranger = app.active_customer("stranger@example.com").await;
    let mut authenticator = SoftAuthenticator::new(SHOP_ORIGIN);
    let (status, body) = app.add_passkey(&owner, &mut authenticator, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    age_sessions(&app);
    let with_passkey = |token: String, challenge_id: String, credential: Value| {
        let app = &app;
        async move {
            app.call(
                Method::POST,
                "/customers/reauthenticate",
                Some(&token),
                Some(json!({"challenge_id": challenge_id, "credential": credential})),
            )
            .await
        }
    };

    let (challenge_id, options) = app.begin_passkey_login().await;
    let credential = authenticator.get(&options);
    let (status, body) = with_passkey(stranger.clone(), challenge_id, credential).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_credentials");
    assert_reauthentication_required(
        app.call(Method::GET, "/customers/self/export", Some(&stranger), None)
            .await,
    );

    let (challenge_id, options) = app.begin_passkey_login().await;
    let credential = authenticator.get(&options);
    let (status, body) =
        with_passkey(owner.clone(), challenge_id.clone(), credential.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, _) = app
        .call(Method::GET, "/customers/self/export", Some(&owner), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    // A ceremony is used up by its first finish.
    let (status, _) = with_passkey(owner.clone(), challenge_id, credential).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_undo_takes_the_account_back_from_whoever_changed_the_address() {
    let app = app().await;
    let owner = app.active_customer(OWNER).await;
    let mut owners_device = SoftAuthenticator::new(SHOP_ORIGIN);
    let (status, _) = app.add_passkey(&owner, &mut owners_device, None).await;
    assert_eq!(status, StatusCode::OK);
    // Registered a while before the attack (times are whole seconds).
    app.db()
        .execute(
            "UPDATE passkeys SET created_at = created_at - 60",
            params![],
        )
        .unwrap();
    // The attacker knows the password and moves the account to their inbox.
    let attacker = sign_in_from_attackers_browser(&app, OWNER, PASSWORD).await;
    let confirmation = ask_email_change(&app, &attacker).await;
    assert_eq!(confirm(&app, &confirmation).await.0, StatusCode::OK);
    let undo_notice = app.wait_for_email(OWNER, "changed").await;
    // ... adds a passkey of their own and sets a password of their own.
    let mut attackers_device = SoftAuthenticator::new(SHOP_ORIGIN);
    let (status, _) = app
        .add_passkey(&attacker, &mut attackers_device, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let attackers_password = "the attacker's own secret";
    let (status, body) = app
        .patch_self(
            &attacker,
            json!({"current_password": PASSWORD, "password": attackers_password,
                   "password_check": attackers_password}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    let (status, body) = app
        .post(
            "/customers/email_change_undo",
            json!({"identifier": undo_notice.link_param(UNDO_LINK, "identifier"),
                   "key": undo_notice.link_param(UNDO_LINK, "key")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    assert_eq!(app.get_self(&attacker).await.0, StatusCode::UNAUTHORIZED);
    for (email, password) in [
        (OWNER, attackers_password),
        (ATTACKER_INBOX, attackers_password),
        (OWNER, PASSWORD),
    ] {
        let (status, body) = app.login(email, password).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{email}: {body}");
    }
    let (status, _) = app.passkey_login(&mut attackers_device).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the attacker's passkey is gone"
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM passkeys"),
        1,
        "the owner's passkey, older than the change, stays"
    );
    let password = reset_from_email(&app, OWNER).await;
    app.token(OWNER, &password).await;
}

#[tokio::test]
async fn a_sign_in_from_a_new_device_is_told_and_this_wasnt_me_takes_the_account_back() {
    let app = app().await;
    let owner = app.active_customer(OWNER).await;
    assert_eq!(
        app.queued("new_sign_in"),
        0,
        "the first sign-in after an activation is expected"
    );
    app.token(OWNER, PASSWORD).await;
    assert_eq!(app.queued("new_sign_in"), 0, "the owner's own device");
    let mut owners_device = SoftAuthenticator::new(SHOP_ORIGIN);
    assert_eq!(
        app.add_passkey(&owner, &mut owners_device, None).await.0,
        StatusCode::OK
    );

    let attacker = sign_in_from_attackers_browser(&app, OWNER, PASSWORD).await;
    let notice = app.wait_for_email(OWNER, "New sign-in").await;
    assert!(
        notice.text.contains("Device: Firefox on Windows"),
        "{}",
        notice.text
    );
    assert!(notice.text.contains("127.0.0.1"), "{}", notice.text);
    assert!(notice.text.contains(" UTC"), "{}", notice.text);
    let key = notice.link_param(NOT_ME_LINK, "key");
    assert_eq!(key.len(), 16);
    assert!(
        key.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    );
    sign_in_from_attackers_browser(&app, OWNER, PASSWORD).await;
    assert_eq!(
        app.queued("new_sign_in"),
        1,
        "a known device is not told twice"
    );
    let mut attackers_device = SoftAuthenticator::new(SHOP_ORIGIN);
    assert_eq!(
        app.add_passkey(&attacker, &mut attackers_device, None)
            .await
            .0,
        StatusCode::OK
    );

    let not_me = json!({"identifier": notice.link_param(NOT_ME_LINK, "identifier"), "key": key});
    let (status, body) = app.post("/customers/not_me", not_me.clone()).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"result": "secured"}));

    for token in [&owner, &attacker] {
        assert_eq!(app.get_self(token).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(app.login(OWNER, PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.passkey_login(&mut attackers_device).await.0,
        StatusCode::UNAUTHORIZED,
        "the passkey that sign-in added is gone"
    );
    assert_eq!(
        app.passkey_login(&mut owners_device).await.0,
        StatusCode::OK,
        "the owner's own passkey stays"
    );
    assert_invalid_code(app.post("/customers/not_me", not_me).await, "key");
    let password = reset_from_email(&app, OWNER).await;
    app.token(OWNER, &password).await;
    let kinds: Vec<String> = app
        .db()
        .query_map("SELECT kind FROM activity", params![], |r| r.only())
        .unwrap();
    assert!(kinds.iter().any(|k| k == "account_secured"), "{kinds:?}");
}

#[tokio::test]
async fn the_first_sign_in_after_a_reset_sends_no_notice_and_the_next_new_device_does() {
    let app = app().await;
    app.active_customer(OWNER).await;
    app.ask_reset(OWNER).await;
    let password = reset_from_email(&app, OWNER).await;
    sign_in_from_attackers_browser(&app, OWNER, &password).await;
    assert_eq!(app.queued("new_sign_in"), 0, "expected after a reset");
    let phone = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 \
                 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1";
    sign_in_from(&app, phone, OWNER, &password).await;
    app.wait_for_email(OWNER, "New sign-in").await;
}

#[tokio::test]
async fn the_new_device_notice_can_be_switched_off() {
    let app = spawn_app_with(|c| {
        generous(c);
        c.auth.new_device_notice = false;
    })
    .await;
    app.active_customer(OWNER).await;
    app.token(OWNER, PASSWORD).await;
    sign_in_from_attackers_browser(&app, OWNER, PASSWORD).await;
    assert_eq!(app.queued("new_sign_in"), 0);
}

#[tokio::test]
async fn wrong_unknown_and_malformed_not_me_keys_are_refused_alike() {
    let app = app().await;
    app.active_customer(OWNER).await;
    sign_in_from_attackers_browser(&app, OWNER, PASSWORD).await;
    let notice = app.wait_for_email(OWNER, "New sign-in").await;
    let identifier = notice.link_param(NOT_ME_LINK, "identifier");
    for (identifier, key) in [
        (identifier.as_str(), "AAAAAAAAAAAAAAAA"),
        (identifier.as_str(), "short"),
        (identifier.as_str(), "aaaaaaaaaaaaaaaa"),
        ("no-such-customer", "AAAAAAAAAAAAAAAA"),
        ("", ""),
    ] {
        assert_invalid_code(
            app.post(
                "/customers/not_me",
                json!({"identifier": identifier, "key": key}),
            )
            .await,
            "key",
        );
    }
    let (status, body) = app.post("/customers/not_me", json!({"key": "x"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["fields"]["identifier"].is_string(), "{body}");
    // Nothing was secured by the failures: the session still works.
    assert_eq!(app.login(OWNER, PASSWORD).await.0, StatusCode::OK);
}
