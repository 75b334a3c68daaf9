//! The other ways in, in Chromium, driven by labels and button names: a code typed from the
//! email the SMTP catcher received, the emailed link that fills the code in (a guest becomes a
//! customer, in French), two-step sign-in turned on at the account page (QR code, key, recovery
//! codes) and then answered with a TOTP computed here (RFC 6238, the test's own
//! implementation) and with a recovery code, and a locked account's owner let in by the code
//! the right password mails. Each page on the way is checked like every other journey's.

use super::*;
use crate::second_factor::{base32_decode, now, totp};

/// The emails carrying a sign-in code to `to`, whatever their language, oldest first.
fn code_emails(app: &TestApp, to: &str) -> Vec<Email> {
    app.delivered()
        .into_iter()
        .filter(|e| e.to == to && e.text.contains("/sign-in/code?"))
        .collect()
}

/// Waits for the `n`-th sign-in code emailed to `to` (1 for the first); answers the six digits
/// and the email.
async fn nth_code(app: &TestApp, to: &str, n: usize) -> (String, Email) {
    for _ in 0..200 {
        if let Some(mail) = code_emails(app, to).get(n - 1) {
            let code = mail
                .text
                .split_whitespace()
                .find(|w| w.len() == 6 && w.bytes().all(|b| b.is_ascii_digit()))
                .unwrap_or_else(|| panic!("no code in:\n{}", mail.text))
                .to_owned();
            return (code, mail.clone());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no sign-in code number {n} to {to}");
}

/// A six-digit code that is not `code`.
fn other_than(code: &str) -> String {
    if code == "000000" { "000001" } else { "000000" }.to_owned()
}

/// The customer's status as the admin API says it.
async fn status_of(app: &TestApp, email: &str) -> String {
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/admin/customers/{email}"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["status"].as_str().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn a_customer_signs_in_with_the_code_from_the_email_after_a_wrong_one() {
    let app = spawn_linking_to_itself(|_| {}).await;
    let email = "cora@example.com";
    active_customer(&app, email, "Cora Code").await;
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let (app, browser) = (&journey.app, &journey.browser);

    // From the password form to the emailed code, the address carried over.
    browser.open(&app.url("/")).await;
    browser.fill_labelled("Email address", email).await;
    browser.press_button("Email me a code instead").await;
    browser.wait_for("#code-request-form").await;
    assert_eq!(browser.value("#code-request-email").await, email);
    journey.check_page("sign-in-code-request", &[]).await;
    browser.press_button("Email me a code").await;
    browser.wait_for("#code-form").await;
    browser.wait_for_text("#code-address", email).await;
    browser.wait_for_text("#code-sent", "10 minutes").await;
    let (code, _) = nth_code(app, email, 1).await;

    // A wrong code is refused in words, next to the field and at the top.
    browser.fill_labelled("Code", &other_than(&code)).await;
    browser.press_button("Sign in").await;
    browser
        .wait_for_text("#code-error", "This code is not right")
        .await;
    journey
        .check_page(
            "sign-in-code-wrong",
            &[("customers/login_code/verify", 422)],
        )
        .await;

    // The emailed code signs in; the activity says how.
    browser.fill_labelled("Code", &code).await;
    browser.press_button("Sign in").await;
    browser.wait_for_text("#current-email", email).await;
    browser
        .wait_for_text("#activity-list", "Signed in with an emailed code")
        .await;
    journey.assert_quiet("signed in by code", &[]).await;
}

#[tokio::test]
async fn the_emailed_link_fills_the_code_in_and_a_guest_signs_in_with_one_press_in_french() {
    let app = spawn_linking_to_itself(|c| c.admin.api_token = Secret::new(ADMIN_TOKEN)).await;
    let email = "gaston@example.com";
    // A guest of the shop: created, never activated, no password.
    app.create_customer(email, "Gaston Guest").await;
    assert_eq!(status_of(&app, email).await, "pending");
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let (app, browser) = (&journey.app, &journey.browser);
    browser.prefer_languages("fr-FR,fr").await;
    let (status, body) = app
        .post("/customers/login_code", json!({ "email": email }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (code, mail) = nth_code(app, email, 1).await;

    // The link opens the code step with the address and the code filled in; nothing is used
    // up until the press.
    let link = journey.link(&mail, "/sign-in/code?");
    browser.open(&link).await;
    browser.wait_for("#code-form").await;
    assert_eq!(browser.attr("html", "lang").await.as_deref(), Some("fr"));
    assert_eq!(browser.value("#code-input").await, code);
    browser.wait_for_text("#code-address", email).await;
    journey.check_page("sign-in-code-link", &[]).await;
    assert_eq!(status_of(app, email).await, "pending");
    browser.press_button("Se connecter").await;
    browser.wait_for_text("#current-email", email).await;
    browser
        .wait_for_text("#activity-list", "avec un code reçu par e-mail")
        .await;
    assert_eq!(status_of(app, email).await, "active");
    // The code leaves the address bar once used; a reload shows the account at the root.
    let url = browser.url().await;
    assert_eq!(url, app.url("/"), "the code stays in the address bar");
    browser.client().refresh().await.expect("the page reloads");
    browser.wait_for_text("#current-email", email).await;
    journey.assert_quiet("signed in from the link", &[]).await;

    // The same link again: the code is spent, said in French.
    browser.press_button("Se déconnecter").await;
    browser.wait_for("#signin-form").await;
    browser.open(&link).await;
    browser.press_button("Se connecter").await;
    browser
        .wait_for_text("#code-error", "Ce code n'est pas le bon")
        .await;
    journey
        .assert_quiet("a spent link", &[("customers/login_code/verify", 422)])
        .await;
}

#[tokio::test]
async fn a_customer_turns_on_two_step_sign_in_and_signs_in_with_the_app_then_a_recovery_code() {
    let app = spawn_linking_to_itself(|_| {}).await;
    let email = "tess@example.com";
    active_customer(&app, email, "Tess Totp").await;
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let (app, browser) = (&journey.app, &journey.browser);
    journey.sign_in(email, PASSWORD).await;
    browser.wait_for("#totp-start").await;
    // Minutes later: turning it on asks for the password first.
    app.db()
        .execute(
            "UPDATE sessions SET authenticated_at = authenticated_at - 301",
            params![],
        )
        .unwrap();
    browser.press_button("Turn on two-step sign-in").await;
    browser.wait_for("#reauth-password").await;
    browser.fill("#reauth-password", PASSWORD).await;
    browser.click("#reauth-submit").await;

    // The QR code the server drew, and the key as text.
    browser.wait_for("#totp-qr svg path").await;
    let secret = journey.words_in("#totp-secret").await;
    let key = base32_decode(&secret);
    let foreign = browser
        .execute(
            "return document.querySelectorAll('#totp-qr script, #totp-qr foreignObject, #totp-qr [style]').length;",
            vec![],
        )
        .await;
    assert_eq!(foreign, 0);
    browser
        .execute(
            "document.getElementById('totp-form').scrollIntoView();",
            vec![],
        )
        .await;
    journey
        .check_page("account-totp-enroll", &[("customers/totp", 403)])
        .await;

    // A wrong code is refused; the code computed here turns it on.
    let now_code = totp(&key, now(), 6);
    browser
        .fill_labelled("The six digits the app shows", &other_than(&now_code))
        .await;
    browser.press_button("Turn on").await;
    browser
        .wait_for_text("#totp-error", "This code is not right")
        .await;
    journey
        .assert_quiet("a wrong code", &[("customers/totp/confirm", 422)])
        .await;
    browser
        .fill_labelled("The six digits the app shows", &totp(&key, now(), 6))
        .await;
    browser.press_button("Turn on").await;
    browser.wait_for("#totp-recovery").await;
    let codes = browser
        .execute(
            "return [...document.querySelectorAll('#totp-recovery-codes li')].map(li => li.textContent);",
            vec![],
        )
        .await;
    let codes: Vec<String> = serde_json::from_value(codes).unwrap();
    assert_eq!(codes.len(), 10, "{codes:?}");
    let download = browser.attr("#totp-recovery-download", "href").await;
    assert!(download.unwrap_or_default().starts_with("blob:"));
    assert_eq!(
        browser
            .attr("#totp-recovery-download", "download")
            .await
            .as_deref(),
        Some("recovery-codes.txt")
    );
    journey.check_page("account-totp-recovery-codes", &[]).await;
    browser.press_button("I have kept them").await;
    browser
        .wait_for_text("#totp-since", "Recovery codes left: 10")
        .await;
    let left_on_page = browser
        .execute(
            "return document.getElementById('totp-recovery-codes').childElementCount;",
            vec![],
        )
        .await;
    assert_eq!(left_on_page, 0, "the recovery codes stay on the page");
    browser
        .wait_for_text("#activity-list", "Two-step sign-in turned on")
        .await;
    app.wait_for_email(email, "second factor").await;
    journey.assert_quiet("turned on", &[]).await;

    // Signed out, the password asks for the second step; the app's next code signs in.
    browser.press_button("Sign out").await;
    browser.wait_for("#signin-form").await;
    browser.fill_labelled("Email address", email).await;
    browser.fill_labelled("Password", PASSWORD).await;
    browser.press_button("Sign in").await;
    browser.wait_for("#second-factor-form").await;
    journey
        .check_page("sign-in-second-factor", &[("customers/login", 401)])
        .await;
    browser
        .fill_labelled("The six digits from the app", &totp(&key, now() + 30, 6))
        .await;
    browser.press_button("Continue").await;
    browser.wait_for_text("#current-email", email).await;
    journey.assert_quiet("signed in with the app", &[]).await;

    // And again with a recovery code instead, which is then spent.
    browser.press_button("Sign out").await;
    browser.wait_for("#signin-form").await;
    browser.fill_labelled("Email address", email).await;
    browser.fill_labelled("Password", PASSWORD).await;
    browser.press_button("Sign in").await;
    browser.press_button("Use a recovery code instead").await;
    browser.fill_labelled("Recovery code", &codes[0]).await;
    journey
        .check_page("sign-in-recovery-code", &[("customers/login", 401)])
        .await;
    browser.press_button("Continue").await;
    browser.wait_for_text("#current-email", email).await;
    browser
        .wait_for_text("#totp-since", "Recovery codes left: 9")
        .await;
    browser.press_button("Sign out").await;
    browser.wait_for("#signin-form").await;
    browser.fill_labelled("Email address", email).await;
    browser.fill_labelled("Password", PASSWORD).await;
    browser.press_button("Sign in").await;
    browser.press_button("Use a recovery code instead").await;
    browser.fill_labelled("Recovery code", &codes[0]).await;
    browser.press_button("Continue").await;
    browser
        .wait_for_text("#second-factor-error", "This code is not right")
        .await;
    journey
        .assert_quiet(
            "a spent recovery code",
            &[
                ("customers/login", 401),
                ("customers/login/second_factor", 422),
            ],
        )
        .await;

    // A second recovery code signs in; turned off, the password alone signs in again.
    browser.fill_labelled("Recovery code", &codes[1]).await;
    browser.press_button("Continue").await;
    browser.wait_for_text("#current-email", email).await;
    browser.press_button("Turn off two-step sign-in").await;
    browser
        .wait_for_text("#totp-status", "Two-step sign-in is off")
        .await;
    browser.wait_for("#totp-start").await;
    app.wait_for_email(email, "second factor").await;
    assert_eq!(app.login(email, PASSWORD).await.0, StatusCode::OK);
    journey.assert_quiet("turned off", &[]).await;
}

#[tokio::test]
async fn a_locked_account_s_owner_types_the_right_password_and_signs_in_with_the_emailed_code() {
    let app = spawn_linking_to_itself(|c| {
        c.limits.login_lockout_failures = NonZero::new(3).unwrap();
    })
    .await;
    let email = "lou@example.com";
    active_customer(&app, email, "Lou Locked").await;
    for _ in 0..3 {
        let (status, _) = app.login(email, "someone guessing").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let (app, browser) = (&journey.app, &journey.browser);

    // A wrong password is the usual refusal; the right one says a code was emailed.
    browser.open(&app.url("/")).await;
    browser.fill_labelled("Email address", email).await;
    browser.fill_labelled("Password", "still guessing").await;
    browser.press_button("Sign in").await;
    browser.wait_for_text("#signin-error", "do not match").await;
    assert!(code_emails(app, email).is_empty(), "a guess mailed a code");
    browser.fill_labelled("Password", PASSWORD).await;
    browser.press_button("Sign in").await;
    browser.wait_for("#code-form").await;
    browser
        .wait_for_text("#code-locked", "too many wrong passwords")
        .await;
    assert!(!browser.is_shown("#code-sent").await);
    browser.wait_for_text("#code-address", email).await;
    journey
        .check_page("sign-in-locked", &[("customers/login", 401)])
        .await;

    // The code the right password mailed lets the owner in.
    let (code, _) = nth_code(app, email, 1).await;
    browser.fill_labelled("Code", &code).await;
    browser.press_button("Sign in").await;
    browser.wait_for_text("#current-email", email).await;
    browser
        .wait_for_text("#activity-list", "Signed in with an emailed code")
        .await;
    journey.assert_quiet("the owner is in", &[]).await;
}
