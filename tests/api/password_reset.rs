//! Password reset over real HTTP and real SMTP: the emailed link, the code's rules, the JWT.

use crate::common;
use crate::common::{PASSWORD, PATIENCE, TestApp, eventually, spawn_app, spawn_app_with};
use customer_area::store::sql::params;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::num::NonZero;

const RESET_URI: &str = "/account/reset";
const LINK: &str = "https://shop.example.com/account/reset/";

#[derive(serde::Deserialize)]
struct Claims {
    passphrase: String,
}

async fn ask_reset(app: &TestApp, email: &str) -> (StatusCode, Value) {
    app.post(
        "/customers/password_reset",
        json!({"email": email, "reset_uri": RESET_URI}),
    )
    .await
}

/// Asks for a reset of `email` and returns the code from the emailed link.
async fn reset_code(app: &TestApp, email: &str) -> String {
    let before = reset_emails(app, email).len();
    let (status, body) = ask_reset(app, email).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"result": "email_sent"}))
    );
    wait_until(|| reset_emails(app, email).len() > before).await;
    let mail = reset_emails(app, email).pop().unwrap();
    mail.link(LINK)[LINK.len()..].to_owned()
}

fn reset_emails(app: &TestApp, email: &str) -> Vec<common::Email> {
    app.delivered()
        .into_iter()
        .filter(|e| e.to == email && e.subject.starts_with("Reset your"))
        .collect()
}

async fn do_reset(app: &TestApp, email: &str, code: &str) -> (StatusCode, Value) {
    app.post("/customers/do_reset", json!({"email": email, "code": code}))
        .await
}

/// The passphrase in a reset JWT, verified with the code as its key.
pub fn decode(token: &str, code: &str) -> String {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.alg, Algorithm::HS256);
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    jsonwebtoken::decode::<Claims>(
        token,
        &DecodingKey::from_secret(code.as_bytes()),
        &validation,
    )
    .expect("the code verifies the token")
    .claims
    .passphrase
}

fn assert_invalid_code(result: (StatusCode, Value)) {
    let (status, body) = result;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "invalid_code", "{body}");
    assert!(body["fields"]["code"].is_string(), "{body}");
}

/// Polls `done` for up to [`PATIENCE`]; mail is delivered in the background.
async fn wait_until(done: impl Fn() -> bool) {
    eventually(PATIENCE, "the condition holds", || {
        std::future::ready(done().then_some(()))
    })
    .await
}

#[tokio::test]
async fn a_forgotten_password_is_replaced_by_a_passphrase_only_the_code_can_read() {
    let app = spawn_app().await;
    let old_session = app.active_customer("reset@example.com").await;
    let code = reset_code(&app, "reset@example.com").await;
    assert!(
        code.len() == 10
            && code
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase()),
        "{code}"
    );

    let response = app
        .client
        .post(app.url("/customers/do_reset"))
        .json(&json!({"email": "reset@example.com", "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    let passphrase = decode(body["token"].as_str().unwrap(), &code);
    assert!(passphrase.len() >= 16, "{passphrase}");

    // The passphrase is the password now, every old session is over, the old password is dead.
    app.token("reset@example.com", &passphrase).await;
    assert_eq!(app.get_self(&old_session).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.login("reset@example.com", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    // The customer is told, without the password.
    let notice = app.wait_for_email("reset@example.com", "was reset").await;
    assert!(!notice.text.contains(&passphrase));
    assert!(!String::from_utf8_lossy(&notice.raw).contains(&passphrase));
    // The code works once.
    assert_invalid_code(do_reset(&app, "reset@example.com", &code).await);
}

#[tokio::test]
async fn the_reset_jwt_header_is_exactly_the_seeds() {
    use base64::Engine;
    let app = spawn_app().await;
    app.active_customer("header@example.com").await;
    let code = reset_code(&app, "header@example.com").await;
    let (status, body) = do_reset(&app, "header@example.com", &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let token = body["token"].as_str().unwrap();
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.split('.').next().unwrap())
        .unwrap();
    assert_eq!(
        String::from_utf8(header).unwrap(),
        r#"{"alg":"HS256"}"#,
        "no typ, exactly as the seed"
    );
    assert!(!decode(token, &code).is_empty());
}

#[tokio::test]
async fn unknown_pending_and_active_addresses_get_the_same_answer_and_only_active_ones_mail() {
    let app = spawn_app().await;
    app.active_customer("active@example.com").await;
    app.create_customer("pending@example.com", "Pending").await;
    app.wait_for_email("pending@example.com", "Activate").await;

    let answers = [
        ask_reset(&app, "nobody@example.com").await,
        ask_reset(&app, "pending@example.com").await,
        ask_reset(&app, "Active@Example.com").await,
    ];
    for answer in &answers {
        assert_eq!(answer, &(StatusCode::OK, json!({"result": "email_sent"})));
    }
    app.wait_for_email("active@example.com", "Reset your").await;
    // Emails leave in the order they were queued: anything for the other two would be out by now.
    for other in ["nobody@example.com", "pending@example.com"] {
        assert!(
            reset_emails(&app, other).is_empty(),
            "{other} got a reset email"
        );
    }
}

#[tokio::test]
async fn the_link_uses_the_configured_shop_whatever_the_request_says() {
    let app = spawn_app().await;
    app.active_customer("host@example.com").await;
    let response = app
        .client
        .post(app.url("/customers/password_reset"))
        .header("host", "evil.example.net")
        .header("x-forwarded-host", "evil.example.net")
        .header("forwarded", "host=evil.example.net;proto=http")
        .json(&json!({"email": "host@example.com", "reset_uri": "/account/reset"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let mail = app.wait_for_email("host@example.com", "Reset your").await;
    assert!(!mail.text.contains("evil"), "{}", mail.text);
    mail.link(LINK);
}

#[tokio::test]
async fn a_reset_uri_on_an_allowed_origin_is_followed() {
    let app = common::spawn_app_with(|c| {
        c.links.allowed_origins = vec!["https://account.example.com".into()];
    })
    .await;
    app.active_customer("origin@example.com").await;
    let (status, _) = app
        .post(
            "/customers/password_reset",
            json!({"email": "origin@example.com", "reset_uri": "https://account.example.com/reset/"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let mail = app.wait_for_email("origin@example.com", "Reset your").await;
    let link = mail.link("https://account.example.com/reset/");
    assert_eq!(link.len(), "https://account.example.com/reset/".len() + 10);
}

#[tokio::test]
async fn every_foreign_or_hostile_reset_uri_is_refused_and_sends_nothing() {
    let app = spawn_app().await;
    app.active_customer("target@example.com").await;
    let long = format!("/{}", "a".repeat(2048));
    for bad in [
        "//evil.example.net/reset",
        "https://shop.example.com@evil.example.net/reset",
        "https://shop.example.com.evil.net/reset",
        "http://shop.example.com/reset",
        "javascript:alert(1)",
        "/reset\r\nBcc: victim@example.com",
        "/reset\nx",
        "/reset\u{2028}x",
        "ftp://shop.example.com/reset",
        "",
        long.as_str(),
    ] {
        let (status, body) = app
            .post(
                "/customers/password_reset",
                json!({"email": "target@example.com", "reset_uri": bad}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}: {body}");
        assert_eq!(body["error"], "validation_failed");
        assert!(body["fields"]["reset_uri"].is_string(), "{bad:?}: {body}");
    }
    let (status, body) = app
        .post(
            "/customers/password_reset",
            json!({"email": "target@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["fields"]["reset_uri"], "is required");

    // One good request: its email is the only reset email there is.
    reset_code(&app, "target@example.com").await;
    assert_eq!(reset_emails(&app, "target@example.com").len(), 1);
}

#[tokio::test]
async fn concurrent_resets_with_one_code_let_exactly_one_through() {
    let app = spawn_app().await;
    app.active_customer("race@example.com").await;
    let code = reset_code(&app, "race@example.com").await;
    let attempts = (0..8).map(|_| do_reset(&app, "race@example.com", &code));
    let results = futures::future::join_all(attempts).await;
    let winners: Vec<_> = results
        .iter()
        .filter(|(status, _)| *status == StatusCode::OK)
        .collect();
    assert_eq!(winners.len(), 1, "{results:?}");
    for (status, body) in &results {
        if *status != StatusCode::OK {
            assert_eq!(body["error"], "invalid_code", "{body}");
        }
    }
    let passphrase = decode(winners[0].1["token"].as_str().unwrap(), &code);
    app.token("race@example.com", &passphrase).await;
}

#[tokio::test]
async fn four_wrong_codes_leave_the_code_alive() {
    let app = spawn_app().await;
    app.active_customer("four@example.com").await;
    let code = reset_code(&app, "four@example.com").await;
    let wrong = ["AAAAAAAAAA", "BBBBBBBBBB", "CCCCCCCCCC", "DDDDDDDDDD"];
    let guesses = wrong.iter().map(|w| do_reset(&app, "four@example.com", w));
    for result in futures::future::join_all(guesses).await {
        assert_invalid_code(result);
    }
    assert_eq!(
        do_reset(&app, "four@example.com", &code).await.0,
        StatusCode::OK
    );
}

/// The write behind the equal timing (the statistical check is in `enumeration`): a refusal
/// of a wrong code counts it for the address, whether an account has it or not.
#[tokio::test]
async fn a_wrong_code_is_counted_alike_for_unknown_pending_and_active_addresses() {
    let app = spawn_app().await;
    app.active_customer("counted@example.com").await;
    reset_code(&app, "counted@example.com").await;
    app.create_customer("pending@example.com", "Pending").await;
    for email in [
        "counted@example.com",
        "pending@example.com",
        "nobody@example.com",
        "nobody@example.com",
    ] {
        assert_invalid_code(do_reset(&app, email, "AAAAAAAAAA").await);
    }
    let counted: Vec<i64> = app
        .db()
        .query_map(
            "SELECT failed FROM reset_guesses ORDER BY failed",
            params![],
            |row| row.only(),
        )
        .unwrap();
    assert_eq!(counted, [1, 1, 2]);
}

#[tokio::test]
async fn wrong_codes_before_a_new_code_do_not_count_against_it() {
    let app = spawn_app_with(|c| {
        c.limits.emails_per_address_per_minute = NonZero::new(10).unwrap();
    })
    .await;
    app.active_customer("again@example.com").await;
    reset_code(&app, "again@example.com").await;
    for wrong in ["AAAAAAAAAA", "BBBBBBBBBB", "CCCCCCCCCC", "DDDDDDDDDD"] {
        assert_invalid_code(do_reset(&app, "again@example.com", wrong).await);
    }
    let code = reset_code(&app, "again@example.com").await;
    for wrong in ["EEEEEEEEEE", "FFFFFFFFFF", "GGGGGGGGGG", "HHHHHHHHHH"] {
        assert_invalid_code(do_reset(&app, "again@example.com", wrong).await);
    }
    assert_eq!(
        do_reset(&app, "again@example.com", &code).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn five_wrong_codes_kill_the_code_even_when_guessed_at_once() {
    let app = spawn_app().await;
    app.active_customer("guess@example.com").await;
    let code = reset_code(&app, "guess@example.com").await;
    // Exactly five at once: a lost update in the counting would leave the code alive.
    let wrong: Vec<String> = (0..6)
        .map(|i| format!("{i:0>10}"))
        .filter(|w| *w != code)
        .take(5)
        .collect();
    let guesses = wrong.iter().map(|w| do_reset(&app, "guess@example.com", w));
    for result in futures::future::join_all(guesses).await {
        assert_invalid_code(result);
    }
    assert_invalid_code(do_reset(&app, "guess@example.com", &code).await);
}

#[tokio::test]
async fn a_newer_request_replaces_the_older_code() {
    // Two reset emails to one address within a minute: lift the per-address allowance.
    let app =
        spawn_app_with(|c| c.limits.emails_per_address_per_minute = NonZero::new(10).unwrap())
            .await;
    app.active_customer("twice@example.com").await;
    let first = reset_code(&app, "twice@example.com").await;
    let second = reset_code(&app, "twice@example.com").await;
    assert_ne!(first, second);
    assert_invalid_code(do_reset(&app, "twice@example.com", &first).await);
    assert_eq!(
        do_reset(&app, "twice@example.com", &second).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_code_works_only_with_its_own_email() {
    let app = spawn_app().await;
    app.active_customer("owner@example.com").await;
    app.active_customer("other@example.com").await;
    let code = reset_code(&app, "owner@example.com").await;
    assert_invalid_code(do_reset(&app, "other@example.com", &code).await);
    assert_invalid_code(do_reset(&app, "nobody@example.com", &code).await);
    assert_invalid_code(do_reset(&app, "not an email", &code).await);
    assert_invalid_code(do_reset(&app, "owner@example.com", &code.to_lowercase()).await);
    assert_eq!(
        do_reset(&app, "owner@example.com", &code).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_expired_code_is_refused() {
    let app =
        common::spawn_app_with(|c| c.auth.reset_code_ttl_minutes = NonZero::new(1).unwrap()).await;
    app.active_customer("late@example.com").await;
    let code = reset_code(&app, "late@example.com").await;
    app.db()
        .execute(
            "UPDATE one_time_codes SET expires_at = expires_at - 120 WHERE purpose = 'password_reset'",
            params![],
        )
        .unwrap();
    assert_invalid_code(do_reset(&app, "late@example.com", &code).await);
}
