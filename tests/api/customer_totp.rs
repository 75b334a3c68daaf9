//! The customers' second factor over real HTTP and SMTP: enrolling on a recent session, the
//! sign-in that then asks for a code (password and emailed code alike, a passkey not), TOTP
//! codes and recovery codes each accepted once, a challenge's lifetime, tries and owner, and
//! removal by the customer or by support. TOTP codes are computed with the test's own RFC 6238
//! implementation (`second_factor.rs`), never with the product's.

use std::num::NonZero;

use crate::common::passkey::SoftAuthenticator;
use crate::common::{PASSWORD, TestApp, spawn_app_with};
use crate::second_factor::{base32_decode, now, totp};
use customer_area::config::Secret;
use customer_area::store::sql::params;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "an-admin-token-long-enough-to-be-accepted";

async fn app() -> TestApp {
    spawn_app_with(|c| {
        c.admin.api_token = Secret::new(TOKEN);
        c.limits.emails_per_address_per_minute = NonZero::new(20).unwrap();
        c.limits.emails_per_address_per_hour = NonZero::new(50).unwrap();
    })
    .await
}

/// A code of `secret` that is wrong now, and at the steps around it.
fn wrong_code(secret: &[u8]) -> String {
    let taken: Vec<String> = [now() - 30, now(), now() + 30]
        .iter()
        .map(|t| totp(secret, *t, 6))
        .collect();
    (0..)
        .map(|n: u32| format!("{:06}", (n * 7919 + 13) % 1_000_000))
        .find(|c| !taken.contains(c))
        .unwrap()
}

/// Turns the second factor on for the session `token`: the secret, and the recovery codes.
async fn enroll(app: &TestApp, token: &str) -> (Vec<u8>, Vec<String>) {
    let (status, begun) = app
        .call(Method::POST, "/customers/totp", Some(token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{begun}");
    let uri = begun["otpauth_uri"].as_str().unwrap();
    assert!(uri.starts_with("otpauth://totp/"), "{uri}");
    let encoded = begun["secret"].as_str().unwrap();
    assert!(uri.contains(&format!("secret={encoded}")), "{uri}");
    let secret = base32_decode(encoded);
    let (status, refused) = confirm(app, token, &wrong_code(&secret)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    let (status, confirmed) = confirm(app, token, &totp(&secret, now(), 6)).await;
    assert_eq!(status, StatusCode::OK, "{confirmed}");
    let codes: Vec<String> = confirmed["recovery_codes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect();
    let distinct: std::collections::BTreeSet<&String> = codes.iter().collect();
    assert_eq!((codes.len(), distinct.len()), (10, 10), "{codes:?}");
    (secret, codes)
}

async fn confirm(app: &TestApp, token: &str, code: &str) -> (StatusCode, Value) {
    app.call(
        Method::POST,
        "/customers/totp/confirm",
        Some(token),
        Some(json!({"code": code})),
    )
    .await
}

/// Signs in with the password; answers the challenge of the 401 `second_factor_required`.
async fn challenge(app: &TestApp, email: &str) -> String {
    let (status, body) = app.login(email, PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "second_factor_required", "{body}");
    assert!(body.get("token").is_none(), "{body}");
    body["challenge"].as_str().unwrap().to_owned()
}

async fn answer(app: &TestApp, body: Value) -> (StatusCode, Value) {
    app.post("/customers/login/second_factor", body).await
}

fn assert_invalid(result: (StatusCode, Value), field: &str) {
    let (status, body) = result;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "invalid_code", "{body}");
    assert!(body["fields"][field].is_string(), "{field}: {body}");
}

/// Makes every session of the customer older than `auth.reauth_seconds`.
fn age_sessions(app: &TestApp) {
    app.db()
        .execute(
            "UPDATE sessions SET authenticated_at = authenticated_at - 301",
            params![],
        )
        .unwrap();
}

fn activity_kinds(body: &Value) -> Vec<String> {
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_customer_turns_on_totp_and_then_signs_in_with_a_code_once_or_a_recovery_code_once() {
    let app = app().await;
    let email = "two@example.com";
    let token = app.active_customer(email).await;
    let (secret, recovery) = enroll(&app, &token).await;
    let notice = app.wait_for_email(email, "second factor").await;
    assert!(!notice.text.contains(&recovery[0]), "{}", notice.text);
    let (_, activity) = app
        .call(Method::GET, "/customers/activity", Some(&token), None)
        .await;
    assert!(activity_kinds(&activity).contains(&"second_factor_added".to_owned()));

    // A wrong password still answers invalid_credentials, with no challenge.
    let (status, body) = app.login(email, "not the password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "invalid_credentials", "{body}");
    assert!(body.get("challenge").is_none(), "{body}");

    // The confirming step's code is spent: the next step's works, once.
    let pending = challenge(&app, email).await;
    let next = totp(&secret, now() + 30, 6);
    let (status, body) = answer(&app, json!({"challenge": pending, "code": next})).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let session = body["token"].as_str().unwrap();
    assert_eq!(app.get_self(session).await.0, StatusCode::OK);
    let again = challenge(&app, email).await;
    assert_invalid(
        answer(&app, json!({"challenge": again, "code": next})).await,
        "code",
    );
    // The spent challenge is gone.
    assert_invalid(
        answer(&app, json!({"challenge": pending, "code": next})).await,
        "challenge",
    );

    // A recovery code works once.
    let (status, body) = answer(
        &app,
        json!({"challenge": again, "recovery_code": recovery[3].to_uppercase()}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let later = challenge(&app, email).await;
    assert_invalid(
        answer(
            &app,
            json!({"challenge": later, "recovery_code": recovery[3]}),
        )
        .await,
        "recovery_code",
    );
    let (status, body) = answer(
        &app,
        json!({"challenge": later, "recovery_code": recovery[4]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn enrolling_and_removing_need_a_recent_sign_in_and_removal_is_told() {
    let app = app().await;
    let email = "recent@example.com";
    let token = app.active_customer(email).await;
    age_sessions(&app);
    let (status, body) = app
        .call(Method::POST, "/customers/totp", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "reauthentication_required");
    let (status, body) = app
        .call(
            Method::POST,
            "/customers/reauthenticate",
            Some(&token),
            Some(json!({"password": PASSWORD})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (secret, _) = enroll(&app, &token).await;
    // On already: a second enrollment is a conflict and changes nothing.
    let (status, body) = app
        .call(Method::POST, "/customers/totp", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");

    age_sessions(&app);
    let (status, body) = app
        .call(Method::DELETE, "/customers/totp", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    // Still on.
    challenge(&app, email).await;

    // A session opened with the second factor is recent.
    let pending = challenge(&app, email).await;
    let (status, body) = answer(
        &app,
        json!({"challenge": pending, "code": totp(&secret, now() + 30, 6)}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let fresh = body["token"].as_str().unwrap().to_owned();
    let (status, body) = app
        .call(Method::DELETE, "/customers/totp", Some(&fresh), None)
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"result": "deleted"}))
    );
    app.wait_for_email(email, "was removed").await;
    assert_eq!(app.queued("second_factor_removed"), 1);
    // The password alone signs in again; removing twice is a 404.
    app.token(email, PASSWORD).await;
    let (status, _) = app
        .call(Method::DELETE, "/customers/totp", Some(&fresh), None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (_, activity) = app
        .call(Method::GET, "/customers/activity", Some(&fresh), None)
        .await;
    assert!(activity_kinds(&activity).contains(&"second_factor_removed".to_owned()));
}

#[tokio::test]
async fn an_emailed_code_also_asks_for_the_second_factor() {
    let app = app().await;
    let email = "both@example.com";
    let token = app.active_customer(email).await;
    let (_, recovery) = enroll(&app, &token).await;
    let (status, _) = app
        .post("/customers/login_code", json!({"email": email}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let mail = app.wait_for_email(email, "sign-in code").await;
    let code = mail.link_param("https://shop.example.com/sign-in/code", "code");
    let (status, body) = app
        .post(
            "/customers/login_code/verify",
            json!({"email": email, "code": code}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "second_factor_required", "{body}");
    let pending = body["challenge"].as_str().unwrap();
    let (status, body) = answer(
        &app,
        json!({"challenge": pending, "recovery_code": recovery[0]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let session = body["token"].as_str().unwrap();
    let (_, activity) = app
        .call(Method::GET, "/customers/activity", Some(session), None)
        .await;
    assert_eq!(activity["events"][0]["method"], "email_code", "{activity}");
}

#[tokio::test]
async fn a_challenge_is_refused_for_another_account_after_five_wrong_codes_and_when_expired() {
    let app = app().await;
    let (alice, bob) = ("alice@example.com", "bob@example.com");
    let alice_token = app.active_customer(alice).await;
    let bob_token = app.active_customer(bob).await;
    let (alice_secret, _) = enroll(&app, &alice_token).await;
    let (_, bob_recovery) = enroll(&app, &bob_token).await;

    // Alice's challenge with Bob's recovery code: wrong, and Bob's code stays unused.
    let alices = challenge(&app, alice).await;
    assert_invalid(
        answer(
            &app,
            json!({"challenge": alices, "recovery_code": bob_recovery[0]}),
        )
        .await,
        "recovery_code",
    );
    let bobs = challenge(&app, bob).await;
    let (status, body) = answer(
        &app,
        json!({"challenge": bobs, "recovery_code": bob_recovery[0]}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Four more wrong codes kill Alice's challenge: then even the right code is refused.
    for _ in 0..4 {
        assert_invalid(
            answer(
                &app,
                json!({"challenge": alices, "code": wrong_code(&alice_secret)}),
            )
            .await,
            "code",
        );
    }
    let right = totp(&alice_secret, now() + 30, 6);
    assert_invalid(
        answer(&app, json!({"challenge": alices, "code": right})).await,
        "challenge",
    );

    // An expired challenge is refused, and the code it did not use stays good.
    let expiring = challenge(&app, alice).await;
    app.db()
        .execute(
            "UPDATE customer_challenges SET expires_at = expires_at - 301",
            params![],
        )
        .unwrap();
    assert_invalid(
        answer(&app, json!({"challenge": expiring, "code": right})).await,
        "challenge",
    );
    let fresh = challenge(&app, alice).await;
    let (status, body) = answer(&app, json!({"challenge": fresh, "code": right})).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Malformed answers never reach the database.
    for body in [
        json!({"challenge": "short", "code": "123456"}),
        json!({"challenge": fresh, "code": "12345"}),
        json!({"challenge": fresh, "recovery_code": "x"}),
        json!({"challenge": fresh, "code": "123456", "recovery_code": "abcd-efgh-ijkm"}),
        json!({"challenge": fresh}),
    ] {
        let (status, answer) = answer(&app, body.clone()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
    }
}

#[tokio::test]
async fn a_passkey_needs_no_second_factor_and_support_removes_one_audited() {
    let app = app().await;
    let email = "lost@example.com";
    let token = app.active_customer(email).await;
    let mut authenticator = SoftAuthenticator::new("https://shop.example.com");
    let (status, added) = app.add_passkey(&token, &mut authenticator, None).await;
    assert_eq!(status, StatusCode::OK, "{added}");
    enroll(&app, &token).await;
    challenge(&app, email).await;
    let (status, body) = app.passkey_login(&mut authenticator).await;
    assert_eq!(status, StatusCode::OK, "a passkey alone signs in: {body}");

    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/admin/customers/{email}/second_factor"),
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"result": "deleted"}))
    );
    app.wait_for_email(email, "was removed").await;
    app.token(email, PASSWORD).await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/admin/customers/{email}/second_factor"),
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, audit) = app
        .call(Method::GET, "/admin/audit", Some(TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    assert!(audit.to_string().contains("removeSecondFactor"), "{audit}");
}

#[tokio::test]
async fn the_status_says_whether_the_second_factor_is_on_and_counts_the_recovery_codes_left() {
    let app = app().await;
    let email = "status@example.com";
    let token = app.active_customer(email).await;
    let status = |token: String| {
        let app = &app;
        async move {
            let (status, body) = app
                .call(Method::GET, "/customers/totp", Some(&token), None)
                .await;
            assert_eq!(status, StatusCode::OK, "{body}");
            body
        }
    };
    let off = json!({"enabled": false, "added_at": null, "recovery_codes_left": 0});
    assert_eq!(status(token.clone()).await, off);

    // Begun but not confirmed is still off, and the answer never carries the secret.
    let (code, begun) = app
        .call(Method::POST, "/customers/totp", Some(&token), None)
        .await;
    assert_eq!(code, StatusCode::OK, "{begun}");
    assert_eq!(status(token.clone()).await, off);
    let (_, recovery) = enroll(&app, &token).await;
    let on = status(token.clone()).await;
    assert_eq!(on["enabled"], true, "{on}");
    assert_eq!(on["recovery_codes_left"], 10, "{on}");
    let added = on["added_at"].as_str().expect("added_at");
    assert!(added.ends_with('Z') && added.contains('T'), "{on}");
    let encoded = begun["secret"].as_str().unwrap();
    assert!(!on.to_string().contains(encoded), "{on}");
    assert_eq!(on.as_object().unwrap().len(), 3, "{on}");

    // A recovery code used is one fewer left.
    let challenge = challenge(&app, email).await;
    let (code, _) = answer(
        &app,
        json!({"challenge": challenge, "recovery_code": recovery[0]}),
    )
    .await;
    assert_eq!(code, StatusCode::OK);
    assert_eq!(status(token.clone()).await["recovery_codes_left"], 9);

    // Removed, it is off again; without a session the status is not told.
    let (code, body) = app
        .call(Method::DELETE, "/customers/totp", Some(&token), None)
        .await;
    assert_eq!(code, StatusCode::OK, "{body}");
    assert_eq!(status(token.clone()).await, off);
    let (code, _) = app.call(Method::GET, "/customers/totp", None, None).await;
    assert_eq!(code, StatusCode::UNAUTHORIZED);
}
