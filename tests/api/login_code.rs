//! Signing in with an emailed code over real HTTP and real SMTP: the email with its code and
//! link, a guest becoming a customer, the code's rules (one use, five wrong tries, a newer one
//! replacing it, its lifetime, its shape), a race for one code, and `auth.login_methods`.

use std::num::NonZero;

use crate::common::{PASSWORD, TestApp, spawn_app_with};
use customer_area::config::{Config, LoginMethod, Secret};
use customer_area::store::sql::params;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const LINK: &str = "https://shop.example.com/sign-in/code";
const TOKEN: &str = "an-admin-token-long-enough-to-be-accepted";

/// Room for several codes a minute to one address.
fn roomy(c: &mut Config) {
    c.limits.emails_per_address_per_minute = NonZero::new(20).unwrap();
    c.limits.emails_per_address_per_hour = NonZero::new(50).unwrap();
}

async fn ask_code(app: &TestApp, email: &str) -> (StatusCode, Value) {
    app.post("/customers/login_code", json!({"email": email}))
        .await
}

async fn verify(app: &TestApp, email: &str, code: &str) -> (StatusCode, Value) {
    app.post(
        "/customers/login_code/verify",
        json!({"email": email, "code": code}),
    )
    .await
}

fn code_emails(app: &TestApp, email: &str) -> Vec<crate::common::Email> {
    app.delivered()
        .into_iter()
        .filter(|e| e.to == email && e.subject.contains("sign-in code"))
        .collect()
}

/// Asks for a code for `email` and answers the code the email carries (checking that its link
/// carries the same code and address).
async fn emailed_code(app: &TestApp, email: &str) -> String {
    let before = code_emails(app, email).len();
    let answer = ask_code(app, email).await;
    assert_eq!(answer, (StatusCode::OK, json!({"result": "email_sent"})));
    crate::common::wait_until(crate::common::PATIENCE, "the code arrives", || {
        code_emails(app, email).len() > before
    })
    .await;
    let mail = code_emails(app, email).pop().unwrap();
    let code = mail
        .text
        .split_whitespace()
        .find(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit()))
        .unwrap_or_else(|| panic!("no code in:\n{}", mail.text))
        .to_owned();
    assert_eq!(mail.link_param(LINK, "code"), code);
    assert_eq!(mail.link_param(LINK, "email"), email);
    code
}

fn assert_invalid_code(result: (StatusCode, Value)) {
    let (status, body) = result;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "invalid_code", "{body}");
    assert!(body["fields"]["code"].is_string(), "{body}");
}

fn token_of(result: (StatusCode, Value)) -> String {
    let (status, body) = result;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

/// The wrong codes counted for an address, read from the store.
fn counted_guesses(app: &TestApp, email: &str) -> i64 {
    let address = customer_area::auth::digest(email);
    app.db()
        .query_row(
            "SELECT COALESCE(MAX(failed), 0) AS n FROM login_code_guesses WHERE address_hash = ?1",
            params![address],
            |row| row.get("n"),
        )
        .unwrap()
}

fn sessions_of(app: &TestApp, email: &str) -> i64 {
    app.db()
        .query_row(
            "SELECT count(*) AS n FROM sessions JOIN customers ON customers.id = sessions.customer_id
             WHERE customers.email = ?1",
            params![email],
            |row| row.get("n"),
        )
        .unwrap()
}

#[tokio::test]
async fn an_active_customer_signs_in_with_the_emailed_code() {
    let app = spawn_app_with(roomy).await;
    app.active_customer("coder@example.com").await;
    let code = emailed_code(&app, "coder@example.com").await;
    let token = token_of(verify(&app, "coder@example.com", &code).await);
    let (status, me) = app.get_self(&token).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["email"], "coder@example.com");
    // The password still works; the activity says how the customer came in.
    app.token("coder@example.com", PASSWORD).await;
    let (_, activity) = app
        .call(Method::GET, "/customers/activity", Some(&token), None)
        .await;
    let methods: Vec<&str> = activity["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["method"].as_str())
        .collect();
    assert!(methods.contains(&"email_code"), "{activity}");
}

#[tokio::test]
async fn a_guest_who_signs_in_by_code_becomes_active_with_no_password_and_joins_the_chosen_lists() {
    let app = spawn_app_with(|c| {
        roomy(c);
        c.auth.allow_signup = true;
        c.admin.api_token = Secret::new(TOKEN);
    })
    .await;
    app.add_newsletter(TOKEN).await;
    let (status, body) = app
        .post(
            "/customers/signup",
            json!({"email": "guest@example.com", "name": "Guest", "subscriptions": ["newsletter"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let activation = app.wait_for_email("guest@example.com", "Activate").await;

    let code = emailed_code(&app, "guest@example.com").await;
    let token = token_of(verify(&app, "guest@example.com", &code).await);
    let (status, me) = app.get_self(&token).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["subscriptions"][0]["id"], "newsletter", "{me}");
    let (state, hash): (String, Option<String>) = app
        .db()
        .query_row(
            "SELECT status, password_hash FROM customers WHERE email = ?1",
            params!["guest@example.com"],
            |row| Ok((row.get("status")?, row.get("password_hash")?)),
        )
        .unwrap();
    assert_eq!((state.as_str(), hash), ("active", None));
    let consents = app.consents(TOKEN, "guest@example.com").await;
    assert_eq!(consents.len(), 1, "{consents:?}");
    assert_eq!(consents[0]["source"], "signup");
    // No password opens the account, and the activation link is spent.
    let (status, body) = app.login("guest@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let link = "https://shop.example.com/activate";
    let (status, body) = app
        .post(
            "/customers/activate",
            json!({
                "identifier": activation.link_param(link, "identifier"),
                "secret": activation.link_param(link, "secret"),
                "password": PASSWORD,
                "password_check": PASSWORD,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn asking_for_a_code_answers_alike_for_every_address_and_mails_only_an_account() {
    let app = spawn_app_with(roomy).await;
    app.active_customer("known@example.com").await;
    let known = ask_code(&app, "known@example.com").await;
    let unknown = ask_code(&app, "nobody@example.com").await;
    assert_eq!(known, unknown);
    assert_eq!(known, (StatusCode::OK, json!({"result": "email_sent"})));
    app.wait_for_email("known@example.com", "sign-in code")
        .await;
    // Both requests are resolved by now (oldest first); only the account got an email.
    crate::common::wait_until(crate::common::PATIENCE, "the journal is empty", || {
        app.db()
            .query_row(
                "SELECT count(*) AS n FROM email_requests",
                params![],
                |row| row.get::<i64>("n"),
            )
            .unwrap()
            == 0
    })
    .await;
    assert_eq!(app.queued("login_code"), 1);
    // A malformed address is a field error, as for a reset.
    let (status, body) = ask_code(&app, "not an address").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["fields"]["email"].is_string(), "{body}");
}

#[tokio::test]
async fn a_code_works_once_and_a_newer_one_replaces_it() {
    let app = spawn_app_with(roomy).await;
    app.active_customer("once@example.com").await;
    let first = emailed_code(&app, "once@example.com").await;
    let second = emailed_code(&app, "once@example.com").await;
    if first != second {
        assert_invalid_code(verify(&app, "once@example.com", &first).await);
    }
    let sessions = sessions_of(&app, "once@example.com");
    token_of(verify(&app, "once@example.com", &second).await);
    // A replay changes nothing.
    assert_invalid_code(verify(&app, "once@example.com", &second).await);
    assert_eq!(sessions_of(&app, "once@example.com"), sessions + 1);
}

#[tokio::test]
async fn five_wrong_codes_kill_the_code_and_a_fresh_one_starts_afresh() {
    let app = spawn_app_with(roomy).await;
    app.active_customer("guessed@example.com").await;
    let code = emailed_code(&app, "guessed@example.com").await;
    let wrong = |i: u32| format!("{:06}", (code.parse::<u32>().unwrap() + 1 + i) % 1_000_000);
    for i in 0..5 {
        assert_invalid_code(verify(&app, "guessed@example.com", &wrong(i)).await);
    }
    assert_eq!(counted_guesses(&app, "guessed@example.com"), 5);
    assert_invalid_code(verify(&app, "guessed@example.com", &code).await);

    let fresh = emailed_code(&app, "guessed@example.com").await;
    assert_eq!(counted_guesses(&app, "guessed@example.com"), 0);
    for i in 0..4 {
        assert_invalid_code(verify(&app, "guessed@example.com", &wrong(i + 10)).await);
    }
    token_of(verify(&app, "guessed@example.com", &fresh).await);
}

#[tokio::test]
async fn codes_of_the_wrong_shape_never_reach_the_database() {
    let app = spawn_app_with(roomy).await;
    app.active_customer("shape@example.com").await;
    let code = emailed_code(&app, "shape@example.com").await;
    for bad in [
        "12345",
        "1234567",
        "12345a",
        " 123456",
        "１２３４５６",
        "",
        "' OR 1=1 --",
    ] {
        assert_invalid_code(verify(&app, "shape@example.com", bad).await);
    }
    // None of them was counted: they were refused before any read or write.
    assert_eq!(counted_guesses(&app, "shape@example.com"), 0);
    // A well-formed wrong code is counted, and the right code still works.
    let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
    assert_invalid_code(verify(&app, "shape@example.com", &wrong).await);
    assert_eq!(counted_guesses(&app, "shape@example.com"), 1);
    // A body of the wrong type is the usual field error.
    let (status, body) = app
        .post(
            "/customers/login_code/verify",
            json!({"email": "shape@example.com", "code": 123456}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    token_of(verify(&app, "shape@example.com", &code).await);
}

#[tokio::test]
async fn an_expired_code_is_refused_and_changes_nothing() {
    let app = spawn_app_with(roomy).await;
    assert_eq!(
        app.config.auth.login_code_ttl_minutes.get(),
        10,
        "the default"
    );
    app.active_customer("late@example.com").await;
    let code = emailed_code(&app, "late@example.com").await;
    let expires_at: i64 = app
        .db()
        .query_row(
            "SELECT expires_at - created_at AS ttl FROM one_time_codes WHERE purpose = 'login_code'",
            params![],
            |row| row.get("ttl"),
        )
        .unwrap();
    assert_eq!(expires_at, 600);
    app.db()
        .execute(
            "UPDATE one_time_codes SET expires_at = expires_at - 601 WHERE purpose = 'login_code'",
            params![],
        )
        .unwrap();
    let sessions = sessions_of(&app, "late@example.com");
    assert_invalid_code(verify(&app, "late@example.com", &code).await);
    assert_eq!(sessions_of(&app, "late@example.com"), sessions);
}

#[tokio::test]
async fn two_verifications_of_one_code_at_once_open_one_session() {
    let app = spawn_app_with(roomy).await;
    app.active_customer("race@example.com").await;
    for _ in 0..3 {
        let code = emailed_code(&app, "race@example.com").await;
        let sessions = sessions_of(&app, "race@example.com");
        let (a, b) = tokio::join!(
            verify(&app, "race@example.com", &code),
            verify(&app, "race@example.com", &code)
        );
        let wins = [&a, &b]
            .iter()
            .filter(|(status, _)| *status == StatusCode::OK)
            .count();
        assert_eq!(wins, 1, "{a:?} {b:?}");
        let loser = if a.0 == StatusCode::OK { b } else { a };
        assert_invalid_code(loser);
        assert_eq!(sessions_of(&app, "race@example.com"), sessions + 1);
    }
}

#[tokio::test]
async fn a_method_left_out_of_login_methods_answers_404_naming_the_setting() {
    let app = spawn_app_with(|c| c.auth.login_methods = vec![LoginMethod::Password]).await;
    for (path, body) in [
        ("/customers/login_code", json!({"email": "a@example.com"})),
        (
            "/customers/login_code/verify",
            json!({"email": "a@example.com", "code": "123456"}),
        ),
        (
            "/customers/passkey_login/finish",
            json!({"challenge_id": "x", "credential": {}}),
        ),
    ] {
        let (status, answer) = app.post(path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {answer}");
        assert!(
            answer["message"]
                .as_str()
                .unwrap()
                .contains("auth.login_methods"),
            "{path}: {answer}"
        );
    }
    assert_eq!(app.queued("login_code"), 0);

    let app = spawn_app_with(|c| c.auth.login_methods = vec![LoginMethod::EmailCode]).await;
    let (status, answer) = app.login("a@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{answer}");
    assert!(
        answer["message"].as_str().unwrap().contains("\"password\""),
        "{answer}"
    );
    // Other endpoints are not affected.
    let (status, answer) = ask_code(&app, "a@example.com").await;
    assert_eq!(status, StatusCode::OK, "{answer}");
}
