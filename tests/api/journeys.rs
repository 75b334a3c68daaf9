//! The customer's journeys through the built-in pages in a real headless Chromium, each
//! following the links from the emails the customer receives: activation and profile,
//! forgotten password, email change, deletion, validation errors, sign-up with the demo
//! mailbox, passkeys (with Chromium's virtual authenticator). Every page visited is also checked: no request to another origin, no console
//! error but the API answers the journey expects, the CSP header, no serious axe-core
//! violation, no sideways scrolling at 360 px; and it is screenshot at phone and desktop width.

use std::num::NonZero;
use std::time::Duration;

use crate::common::browser::{Browser, DESKTOP, Impact, PHONE};
use crate::common::{Email, PASSWORD, SmtpSink, TestApp, test_config};
use customer_area::config::{Config, MailTransport, Secret};
use customer_area::store::sql::params;
use reqwest::{Method, StatusCode};
use serde_json::json;

/// WebDriver's codes for the Tab, Enter and Backspace keys.
const TAB: &str = "\u{E004}";
const ENTER: &str = "\u{E007}";
const BACKSPACE: &str = "\u{E003}";

const ADMIN_TOKEN: &str = "admin-token-for-journeys-0123456789";

mod account;
mod console;
mod preferences;
mod ways_in;

/// Boots the app with its pages on a port chosen beforehand, so that `links.retailer_url` is
/// the app's own origin and every emailed link opens its pages. Another process may take the
/// chosen port before the app binds it: then it tries another.
async fn spawn_linking_to_itself(adjust: impl Fn(&mut Config)) -> TestApp {
    let mut last_error = None;
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free loopback port")
            .port();
        let dir = tempfile::tempdir().unwrap();
        let smtp = SmtpSink::start().await;
        let mut config = test_config(dir.path(), smtp.port());
        config.server.bind = format!("127.0.0.1:{port}");
        config.links.retailer_url = format!("http://127.0.0.1:{port}");
        adjust(&mut config);
        assert!(config.web.enabled, "the journeys need the pages");
        match crate::common::try_boot(config, dir, smtp).await {
            Ok(app) => return app,
            Err((e, ..)) => last_error = Some(e),
        }
    }
    panic!("the app never bound a port: {last_error:?}");
}

/// A browser on the pages of one app, checking each page it is asked to.
struct Journey {
    browser: Browser,
    app: TestApp,
}

impl Journey {
    /// `None` (said loudly by the harness) when no browser is installed outside CI.
    async fn start(app: TestApp) -> Option<Journey> {
        let browser = Browser::start().await?;
        Some(Journey { browser, app })
    }

    /// The link in `email` to the app's page at `path`.
    fn link(&self, email: &Email, path: &str) -> String {
        email.link(&format!("{}{path}", self.app.base))
    }

    /// Checks the page shown, and screenshots it as `name` at desktop and phone width:
    /// its CSP header, no serious axe-core violation, no sideways scrolling at 360 px, and,
    /// since the last check, no request to another origin and no console error but the
    /// failed API calls in `expected` (path from the root, status).
    async fn check_page(&self, name: &str, expected: &[(&str, u16)]) {
        let browser = &self.browser;
        let url = browser.url().await;
        let response = self.app.client.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name}: {url}");
        let csp = response
            .headers()
            .get("content-security-policy")
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        assert!(
            csp.contains("default-src 'self'")
                && csp.contains("frame-ancestors 'none'")
                && !csp.contains("unsafe-"),
            "{name}: CSP {csp:?}"
        );

        let violations = browser.axe_violations(Impact::Serious).await;
        assert!(
            violations.is_empty(),
            "{name}: axe-core violations:\n{}",
            violations
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join("\n")
        );

        browser.screenshot(name).await;
        browser.set_window(PHONE.0, PHONE.1).await;
        assert!(
            !browser.has_horizontal_scroll().await,
            "{name} scrolls sideways at {} px",
            PHONE.0
        );
        browser.screenshot(name).await;
        browser.set_window(DESKTOP.0, DESKTOP.1).await;

        self.assert_quiet(name, expected).await;
    }

    /// Since the last check: no request to another origin, and no console error but the
    /// failed API calls in `expected` (which Chromium logs for any 4xx answer to a fetch).
    async fn assert_quiet(&self, name: &str, expected: &[(&str, u16)]) {
        let browser = &self.browser;
        assert_eq!(
            browser.foreign_requests(&self.app.base).await,
            Vec::<String>::new(),
            "{name}: requests to another origin"
        );
        let unexpected: Vec<String> = browser
            .console_errors()
            .await
            .into_iter()
            .filter(|error| {
                !expected.iter().any(|(path, status)| {
                    error.starts_with(&format!(
                        "{}/{path} - Failed to load resource: the server responded with a status of {status} ",
                        self.app.base
                    ))
                })
            })
            .collect();
        assert_eq!(unexpected, Vec::<String>::new(), "{name}: console errors");
        browser.forget_logs().await;
    }

    /// Waits until the error slot of `field` in `form` says something, and answers it.
    async fn field_error(&self, form: &str, field: &str) -> String {
        self.words_in(&format!("#{form} [data-error-for={field}]"))
            .await
    }

    /// Waits until the element `#id` has the focus.
    async fn wait_for_focus(&self, id: &str) {
        for _ in 0..200 {
            let focused = self
                .browser
                .execute("return document.activeElement.id;", vec![])
                .await;
            if focused == id {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("#{id} never had the focus");
    }

    /// Waits until the element matching `selector` has some text, and answers it.
    async fn words_in(&self, selector: &str) -> String {
        let script = "return document.querySelector(arguments[0]).textContent;";
        for _ in 0..200 {
            let shown = self.browser.execute(script, vec![json!(selector)]).await;
            if let Some(text) = shown.as_str().filter(|t| !t.is_empty()) {
                return text.to_owned();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{selector} never said anything");
    }

    /// Types `keys` (WebDriver key codes allowed) into whatever has the focus.
    async fn press(&self, keys: &str) {
        let focused = self.browser.client().active_element().await;
        focused
            .expect("a focused element")
            .send_keys(keys)
            .await
            .unwrap_or_else(|e| panic!("type {keys:?}: {e}"));
    }

    /// Presses Tab until the element `#id` has the focus, as a keyboard user would, and checks
    /// that the focus shows there.
    async fn tab_to(&self, id: &str) {
        for _ in 0..60 {
            let focused = self
                .browser
                .execute("return document.activeElement.id;", vec![])
                .await;
            if focused == id {
                let shown = self
                    .browser
                    .execute(
                        "const e = document.activeElement;\
                         return e.matches(':focus-visible') && getComputedStyle(e).outlineStyle !== 'none';",
                        vec![],
                    )
                    .await;
                assert_eq!(shown, true, "the focus on #{id} does not show");
                return;
            }
            self.press(TAB).await;
        }
        panic!("Tab never reaches #{id}");
    }

    /// Signs in through the sign-in page and waits for the account.
    async fn sign_in(&self, email: &str, password: &str) {
        let browser = &self.browser;
        browser.open(&self.app.url("/")).await;
        browser.fill("#signin-email", email).await;
        browser.fill("#signin-password", password).await;
        browser.click("#signin-submit").await;
        browser.wait_for_text("#current-email", email).await;
    }
}

/// Creates a customer and activates them through the API with the emailed link's codes.
async fn active_customer(app: &TestApp, email: &str, name: &str) {
    app.create_customer(email, name).await;
    let mail = app.wait_for_email(email, "Activate").await;
    let link = format!("{}/activate?", app.base);
    let (status, body) = app
        .post(
            "/customers/activate",
            json!({
                "identifier": mail.link_param(&link, "identifier"),
                "secret": mail.link_param(&link, "secret"),
                "password": PASSWORD,
                "password_check": PASSWORD,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// Waits for the `n`-th email (1 for the first) to `to` whose subject contains `subject`.
async fn wait_for_nth_email(app: &TestApp, to: &str, subject: &str, n: usize) -> Email {
    for _ in 0..200 {
        let found: Vec<Email> = app
            .delivered()
            .into_iter()
            .filter(|e| e.to == to && e.subject.contains(subject))
            .collect();
        if found.len() >= n {
            return found[n - 1].clone();
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("no email number {n} to {to} about {subject:?}");
}

/// The subscription list ids the API says a customer is on.
async fn subscriptions(app: &TestApp, email: &str, password: &str) -> Vec<String> {
    let token = app.token(email, password).await;
    let (status, me) = app.get_self(&token).await;
    assert_eq!(status, StatusCode::OK, "{me}");
    me["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_new_customer_activates_signs_in_fills_every_profile_field_and_subscribes() {
    let app = spawn_linking_to_itself(|c| c.admin.api_token = Secret::new(ADMIN_TOKEN)).await;
    app.add_list(ADMIN_TOKEN, "newsletter", "Monthly newsletter")
        .await;
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let (app, browser) = (&journey.app, &journey.browser);
    let email = "ada@example.com";
    app.create_customer(email, "Ada Lovelace").await;

    // The emailed activation link opens the activation page; a password is chosen.
    let mail = app.wait_for_email(email, "Activate").await;
    browser.open(&journey.link(&mail, "/activate?")).await;
    browser.wait_for("#activate-form").await;
    journey.check_page("activate", &[]).await;
    browser.fill("#password", PASSWORD).await;
    browser.fill("#password_check", PASSWORD).await;
    browser.click("#activate-submit").await;
    browser.wait_for("#activate-done").await;
    browser.click("#activate-signin").await;
    browser.wait_for("#signin-form").await;
    browser.fill("#signin-email", email).await;
    browser.fill("#signin-password", PASSWORD).await;
    journey.check_page("sign-in", &[]).await;

    // Signed in, every profile field is edited, the country from the list.
    browser.click("#signin-submit").await;
    browser.wait_for_text("#current-email", email).await;
    assert_eq!(browser.value("#name").await, "Ada Lovelace");
    let fields = [
        ("name", "Ada King, Countess of Lovelace"),
        ("phone", "+44 20 7946 0958"),
        ("mobile", "+44 7700 900123"),
        ("address", "12 St James's Square"),
        ("address_town", "London"),
        ("address_postcode", "SW1Y 4JH"),
        ("address_region", "Greater London"),
    ];
    for (field, value) in fields {
        browser.fill(&format!("#{field}"), value).await;
    }
    browser.select("#country", "GB").await;
    browser.click("#profile-submit").await;
    browser
        .wait_for_text("#profile-status", "Your details are saved")
        .await;

    // The API has them, and a reload of the page shows them again.
    let token = app.token(email, PASSWORD).await;
    let (_, me) = app.get_self(&token).await;
    for (field, value) in fields {
        assert_eq!(me[field], value, "{field} in {me}");
    }
    assert_eq!(me["country"], "GB");
    browser.client().refresh().await.expect("the page reloads");
    browser.wait_for_text("#current-email", email).await;
    browser.wait_for("#subscription-newsletter").await;
    for (field, value) in fields {
        assert_eq!(browser.value(&format!("#{field}")).await, value, "{field}");
    }
    assert_eq!(browser.value("#country").await, "GB");
    browser.execute("window.scrollTo(0, 0);", vec![]).await;
    journey.check_page("account", &[]).await;

    // A switch subscribes, and the API says so; a second click unsubscribes.
    assert_eq!(
        subscriptions(app, email, PASSWORD).await,
        Vec::<String>::new()
    );
    browser.click("#subscription-newsletter").await;
    browser
        .wait_for_text("#subscriptions-status", "saved")
        .await;
    assert_eq!(subscriptions(app, email, PASSWORD).await, ["newsletter"]);
    browser
        .execute(
            "document.getElementById('subscriptions-status').textContent = '';",
            vec![],
        )
        .await;
    browser.click("#subscription-newsletter").await;
    browser
        .wait_for_text("#subscriptions-status", "saved")
        .await;
    assert_eq!(
        subscriptions(app, email, PASSWORD).await,
        Vec::<String>::new()
    );
    journey.assert_quiet("subscriptions", &[]).await;
}

/// Replaces the page's `fetch` by one that forges the passphrase inside the JWT that
/// `customers/do_reset` answers, keeping the server's signature.
const FORGE_RESET_TOKEN: &str = r#"
const real = window.fetch;
window.fetch = async (...args) => {
  const answer = await real(...args);
  if (!String(args[0]).endsWith('customers/do_reset') || !answer.ok) return answer;
  const body = await answer.json();
  const [header, , signature] = body.token.split('.');
  const claims = { passphrase: 'chosen by an attacker' };
  const forged = btoa(JSON.stringify(claims)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  body.token = `${header}.${forged}.${signature}`;
  return new Response(JSON.stringify(body), { status: answer.status, headers: answer.headers });
};
"#;

#[tokio::test]
async fn a_forgotten_password_is_replaced_through_the_emailed_link_and_the_passphrase_signs_in() {
    // The journey asks for a second link within the minute.
    let app = spawn_linking_to_itself(|c| {
        c.limits.emails_per_address_per_minute = NonZero::new(2).unwrap()
    })
    .await;
    let email = "grace@example.com";
    active_customer(&app, email, "Grace Hopper").await;
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let (app, browser) = (&journey.app, &journey.browser);

    // From the sign-in page to the forgotten-password page, which sends the link.
    browser.open(&app.url("/")).await;
    browser.click("#forgot-link").await;
    browser.wait_for("#forgot-form").await;
    journey.check_page("forgot", &[]).await;
    browser.fill("#email", email).await;
    browser.click("#forgot-submit").await;
    browser.wait_for("#forgot-done").await;

    // A code that is not the emailed one is refused at the top of the form.
    browser.open(&app.url("/reset/ABCDE12345")).await;
    browser.fill("#email", email).await;
    browser.click("#reset-submit").await;
    browser
        .wait_for_text("#reset-error", "no longer valid")
        .await;
    journey
        .assert_quiet("reset with a wrong code", &[("customers/do_reset", 422)])
        .await;

    // The emailed link: the page checks the JWT with its code, and refuses a forged one.
    let first = wait_for_nth_email(app, email, "Reset your", 1).await;
    browser.open(&journey.link(&first, "/reset/")).await;
    browser.wait_for("#reset-form").await;
    journey.check_page("reset", &[]).await;
    browser.execute(FORGE_RESET_TOKEN, vec![]).await;
    browser.fill("#email", email).await;
    browser.click("#reset-submit").await;
    browser
        .wait_for_text("#reset-error", "could not check the new password")
        .await;
    assert!(!browser.is_shown("#reset-done").await);
    let shown = browser
        .execute(
            "return document.getElementById('passphrase').textContent;",
            vec![],
        )
        .await;
    assert_eq!(shown, "", "a forged passphrase is never shown");

    // A new link, followed without interference: the passphrase is shown and signs in.
    browser.click("#reset-form .links a").await;
    browser.wait_for("#forgot-form").await;
    browser.fill("#email", email).await;
    browser.click("#forgot-submit").await;
    browser.wait_for("#forgot-done").await;
    let second = wait_for_nth_email(app, email, "Reset your", 2).await;
    browser.open(&journey.link(&second, "/reset/")).await;
    browser.fill("#email", email).await;
    browser.click("#reset-submit").await;
    browser.wait_for("#reset-done").await;
    let passphrase = browser.text("#passphrase").await;
    assert!(!passphrase.trim().is_empty());
    browser.click("#copy-passphrase").await;
    let copied = journey.words_in("#copy-status").await;
    assert!(
        copied == "Copied." || copied.starts_with("Selected"),
        "{copied}"
    );
    journey.check_page("reset-done", &[]).await;
    assert_eq!(
        app.login(email, PASSWORD).await.0,
        StatusCode::UNAUTHORIZED,
        "the old password is gone"
    );

    // The page's own button signs in with it and opens the password form.
    browser.click("#reset-signin").await;
    browser.wait_for_url("#password-form").await;
    browser.wait_for_text("#current-email", email).await;
    journey.wait_for_focus("current_password").await;
    journey.assert_quiet("reset sign-in", &[]).await;

    // Signed out, the passphrase signs in through the sign-in page too.
    browser.click("#signout").await;
    browser.wait_for_text("#notice", "signed out").await;
    journey.sign_in(email, &passphrase).await;

    // Then the customer chooses a password of their own, which signs in from then on.
    let own = "a passphrase of my own";
    browser.fill("#current_password", &passphrase).await;
    browser.fill("#password", own).await;
    browser.fill("#password_check", own).await;
    browser.click("#password-submit").await;
    browser
        .wait_for_text("#password-status", "Your password is changed")
        .await;
    browser.click("#signout").await;
    browser.wait_for_text("#notice", "signed out").await;
    journey.sign_in(email, own).await;
    assert_eq!(
        app.login(email, &passphrase).await.0,
        StatusCode::UNAUTHORIZED
    );
    journey
        .assert_quiet("sign in with one's own password", &[])
        .await;
}

#[tokio::test]
async fn an_email_change_is_confirmed_through_the_link_and_the_new_address_signs_in() {
    let app = spawn_linking_to_itself(|_| {}).await;
    let (old, new) = ("old@example.com", "new@example.com");
    active_customer(&app, old, "Alan Turing").await;
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let (app, browser) = (&journey.app, &journey.browser);

    journey.sign_in(old, PASSWORD).await;
    browser.fill("#new-email", new).await;
    browser.click("#email-submit").await;
    browser
        .wait_for_text("#email-status", "check your new inbox")
        .await;

    let mail = app.wait_for_email(new, "Confirm your new email").await;
    browser.open(&journey.link(&mail, "/confirm-email?")).await;
    browser.wait_for("#confirm-form").await;
    journey.check_page("confirm-email", &[]).await;
    browser.click("#confirm-submit").await;
    browser.wait_for("#confirm-done").await;
    browser.click("#confirm-signin").await;
    browser.wait_for("#signin-form").await;

    // The old address no longer signs in; the new one does.
    browser.fill("#signin-email", old).await;
    browser.fill("#signin-password", PASSWORD).await;
    browser.click("#signin-submit").await;
    browser.wait_for_text("#signin-error", "do not match").await;
    browser.fill("#signin-email", new).await;
    browser.click("#signin-submit").await;
    browser.wait_for_text("#current-email", new).await;
    journey
        .assert_quiet("sign in after the change", &[("customers/login", 401)])
        .await;
}

#[tokio::test]
async fn a_hostile_email_change_is_undone_from_the_old_address_and_other_devices_signed_out() {
    let app = spawn_linking_to_itself(|_| {}).await;
    let (owner, thief) = ("owner@example.com", "thief@example.com");
    active_customer(&app, owner, "Ada Lovelace").await;
    // Someone with a stolen session changes the address to theirs and confirms it.
    let stolen = app.token(owner, PASSWORD).await;
    let (status, _) = app.patch_self(&stolen, json!({"email": thief})).await;
    assert_eq!(status, StatusCode::OK);
    let mail = app.wait_for_email(thief, "Confirm your new email").await;
    let link = format!("{}/confirm-email?", app.base);
    let (status, body) = app
        .post(
            "/customers/newemail_confirm",
            json!({"identifier": mail.link_param(&link, "identifier"),
                   "key": mail.link_param(&link, "key")}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let (app, browser) = (&journey.app, &journey.browser);

    // The owner follows the link in the notice their old address got.
    let notice = app.wait_for_email(owner, "email address was changed").await;
    browser.open(&journey.link(&notice, "/undo-email?")).await;
    browser.wait_for("#undo-form").await;
    journey.check_page("undo-email", &[]).await;
    browser.click("#undo-submit").await;
    browser.wait_for("#undo-done").await;
    assert_eq!(app.get_self(&stolen).await.0, StatusCode::UNAUTHORIZED);

    // The password the thief may know is dead; the restored address got a reset link, and
    // the owner signs in again with the new password it gives.
    assert_eq!(app.login(owner, PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    let reset = app.wait_for_email(owner, "Reset your").await;
    let link = journey.link(&reset, "/reset/");
    let code = link.rsplit('/').next().unwrap();
    let (status, body) = app
        .post("/customers/do_reset", json!({"email": owner, "code": code}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let password = crate::password_reset::decode(body["token"].as_str().unwrap(), code);

    // Signed in again, the account page lists the activity and the sessions; the owner signs
    // out every other device from it.
    let elsewhere = app.token(owner, &password).await;
    journey.sign_in(owner, &password).await;
    browser
        .wait_for_text("#activity-list", "Email change undone")
        .await;
    browser.wait_for("#sessions-submit").await;
    journey.check_page("account-security", &[]).await;
    browser.click("#sessions-submit").await;
    browser
        .wait_for_text("#sessions-status", "signed out")
        .await;
    assert_eq!(app.get_self(&elsewhere).await.0, StatusCode::UNAUTHORIZED);
    journey.assert_quiet("sign out everywhere else", &[]).await;
}

#[tokio::test]
async fn a_stranger_signs_in_and_the_owner_secures_the_account_from_the_notice() {
    let app = spawn_linking_to_itself(|_| {}).await;
    let owner = "noticed@example.com";
    active_customer(&app, owner, "Noticed Owner").await;
    // The owner's own first sign-in (the first after an activation is never told).
    app.token(owner, PASSWORD).await;
    // Someone with the password signs in from a browser the account has never used.
    let stranger = reqwest::Client::builder()
        .user_agent("Mozilla/5.0 (X11; Linux x86_64; rv:133.0) Gecko/20100101 Firefox/133.0")
        .build()
        .unwrap();
    let response = stranger
        .post(app.url("/customers/login"))
        .json(&json!({"email": owner, "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let token = response.json::<serde_json::Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let (app, browser) = (&journey.app, &journey.browser);

    let notice = app.wait_for_email(owner, "New sign-in").await;
    assert!(notice.text.contains("Firefox on Linux"), "{}", notice.text);
    browser.open(&journey.link(&notice, "/not-me?")).await;
    browser.wait_for("#not-me-form").await;
    journey.check_page("not-me", &[]).await;
    browser.click("#not-me-submit").await;
    browser.wait_for("#not-me-done").await;
    assert_eq!(app.get_self(&token).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.login(owner, PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    app.wait_for_email(owner, "Reset your").await;
    journey.assert_quiet("this wasn't me", &[]).await;
}

#[tokio::test]
async fn a_session_signed_in_long_ago_deletes_the_account_once_the_password_is_typed_again() {
    let app = spawn_linking_to_itself(|_| {}).await;
    let email = "aged@example.com";
    active_customer(&app, email, "Aged Session").await;
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let (app, browser) = (&journey.app, &journey.browser);
    journey.sign_in(email, PASSWORD).await;
    browser.wait_for_text("#current-email", email).await;
    // Minutes later: the sign-in is no longer recent.
    app.db()
        .execute(
            "UPDATE sessions SET authenticated_at = authenticated_at - 301",
            params![],
        )
        .unwrap();

    browser.fill("#delete-confirm", "DELETE").await;
    browser.click("#delete-submit").await;
    browser.wait_for("#reauth-password").await;
    journey
        .check_page("reauthenticate", &[("customers/self", 403)])
        .await;
    browser.fill("#reauth-password", "not my password").await;
    browser.click("#reauth-submit").await;
    browser
        .wait_for_text("#reauth-error", "not your password")
        .await;
    assert_eq!(
        app.login(email, PASSWORD).await.0,
        StatusCode::OK,
        "nothing deleted before the password is right"
    );
    browser.fill("#reauth-password", PASSWORD).await;
    browser.click("#reauth-submit").await;
    browser.wait_for_text("#notice", "deleted").await;
    assert_eq!(app.login(email, PASSWORD).await.0, StatusCode::UNAUTHORIZED);
    journey
        .assert_quiet(
            "delete after reauthenticating",
            &[("customers/reauthenticate", 401)],
        )
        .await;
}

#[tokio::test]
async fn a_customer_deletes_their_account_with_the_keyboard_alone_and_cannot_sign_in_again() {
    let app = spawn_linking_to_itself(|_| {}).await;
    let email = "leaving@example.com";
    active_customer(&app, email, "Leaving Customer").await;
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let (app, browser) = (&journey.app, &journey.browser);

    // With the keyboard alone: sign in, then type the confirmation and press Enter.
    browser.open(&app.url("/")).await;
    journey.tab_to("signin-email").await;
    journey.press(email).await;
    journey.tab_to("signin-password").await;
    journey.press(&format!("{PASSWORD}{ENTER}")).await;
    browser.wait_for_text("#current-email", email).await;
    journey.tab_to("delete-confirm").await;
    journey.press(&format!("delete{ENTER}")).await;
    browser
        .wait_for_text("#delete-form [data-error-for=confirm]", "Type DELETE")
        .await;
    assert_eq!(
        app.login(email, PASSWORD).await.0,
        StatusCode::OK,
        "not deleted without the typed confirmation"
    );

    // The refused field keeps the focus: the customer corrects it there.
    journey
        .press(&format!("{}DELETE{ENTER}", BACKSPACE.repeat(6)))
        .await;
    browser.wait_for_text("#notice", "deleted").await;
    browser.wait_for("#signin-form").await;
    assert_eq!(app.login(email, PASSWORD).await.0, StatusCode::UNAUTHORIZED);

    browser.fill("#signin-email", email).await;
    browser.fill("#signin-password", PASSWORD).await;
    browser.click("#signin-submit").await;
    browser.wait_for_text("#signin-error", "do not match").await;
    journey
        .assert_quiet("sign in after deletion", &[("customers/login", 401)])
        .await;
}

#[tokio::test]
async fn validation_errors_are_shown_next_to_their_field() {
    let app = spawn_linking_to_itself(|_| {}).await;
    let email = "careless@example.com";
    app.create_customer(email, "Careless Customer").await;
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let (app, browser) = (&journey.app, &journey.browser);

    // A common password is refused next to the password field, with the reason.
    let mail = app.wait_for_email(email, "Activate").await;
    browser.open(&journey.link(&mail, "/activate?")).await;
    browser.fill("#password", "password").await;
    browser.fill("#password_check", "password").await;
    browser.click("#activate-submit").await;
    let error = journey.field_error("activate-form", "password").await;
    assert!(error.contains("common"), "{error}");
    assert_eq!(
        browser.attr("#password", "aria-invalid").await.as_deref(),
        Some("true")
    );
    journey
        .check_page("activate-invalid", &[("customers/activate", 422)])
        .await;

    // Activated, signed in: a phone number with letters is refused next to the phone field.
    browser.fill("#password", PASSWORD).await;
    browser.fill("#password_check", PASSWORD).await;
    browser.click("#activate-submit").await;
    browser.wait_for("#activate-done").await;
    journey.sign_in(email, PASSWORD).await;
    browser.fill("#phone", "call me maybe").await;
    browser.click("#profile-submit").await;
    let error = journey.field_error("profile-form", "phone").await;
    assert!(error.contains("digits"), "{error}");
    assert_eq!(
        browser.attr("#phone", "aria-invalid").await.as_deref(),
        Some("true")
    );
    let token = app.token(email, PASSWORD).await;
    assert_eq!(
        app.get_self(&token).await.1["phone"],
        serde_json::Value::Null
    );
    journey
        .assert_quiet("profile with a bad phone", &[("customers/self", 422)])
        .await;
}

#[tokio::test]
async fn a_sign_up_with_a_chosen_list_shows_in_the_demo_mailbox_whose_link_activates_it() {
    let app = spawn_linking_to_itself(|c| {
        c.mail.transport = MailTransport::File;
        c.auth.allow_signup = true;
        c.admin.api_token = Secret::new(ADMIN_TOKEN);
    })
    .await;
    app.add_list(ADMIN_TOKEN, "newsletter", "Monthly newsletter")
        .await;
    app.add_list(ADMIN_TOKEN, "offers", "Special offers").await;
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let (app, browser) = (&journey.app, &journey.browser);
    let email = "marie@example.com";

    browser.open(&app.url("/")).await;
    browser.click("#signup-link").await;
    browser.wait_for("#signup-subscription-offers").await;
    journey.check_page("signup", &[]).await;
    browser.fill("#name", "Marie Curie").await;
    browser.fill("#email", email).await;
    // Every list starts unticked: consent is given, never presumed.
    for list in ["newsletter", "offers"] {
        let ticked = browser
            .execute(
                &format!("return document.getElementById('signup-subscription-{list}').checked;"),
                vec![],
            )
            .await;
        assert_eq!(ticked, json!(false), "{list}");
    }
    browser.click("#signup-subscription-offers").await;
    browser.click("#signup-submit").await;
    browser.wait_for("#signup-done").await;
    let mail = app.wait_for_email(email, "Activate").await;

    // The mailbox lists it; keeping focus in the list stops its periodic refresh.
    browser.open(&app.url("/demo/mail")).await;
    browser.wait_for_text("#mail-list", &mail.subject).await;
    browser
        .execute("document.querySelector('#mail-list a').focus();", vec![])
        .await;
    journey.check_page("demo-mail", &[]).await;
    browser.click("#mail-list a").await;
    browser.wait_for("#mail-text").await;
    journey.check_page("demo-mail-message", &[]).await;

    // Its activation link is clickable and opens the activation page, which activates.
    let link = journey.link(&mail, "/activate?");
    browser
        .click(&format!("#mail-text a[href=\"{link}\"]"))
        .await;
    assert_eq!(browser.wait_for_url("/activate?").await, link);
    browser.fill("#password", PASSWORD).await;
    browser.fill("#password_check", PASSWORD).await;
    browser.click("#activate-submit").await;
    browser.wait_for("#activate-done").await;
    assert_eq!(subscriptions(app, email, PASSWORD).await, ["offers"]);
    let entries = app.consents(ADMIN_TOKEN, email).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["list_id"], "offers", "{entries:?}");
    assert_eq!(entries[0]["source"], "signup", "{entries:?}");
    journey
        .assert_quiet("activation from the mailbox", &[])
        .await;
}

#[tokio::test]
async fn a_customer_adds_a_passkey_signs_in_with_it_and_cannot_once_it_is_removed() {
    // WebAuthn binds passkeys to a domain: the pages are opened at `localhost`, not at an IP.
    let mut app = spawn_linking_to_itself(|config| {
        config.links.retailer_url = config.links.retailer_url.replace("127.0.0.1", "localhost");
    })
    .await;
    app.base = app.base.replace("127.0.0.1", "localhost");
    let email = "pia@example.com";
    active_customer(&app, email, "Pia Passkey").await;
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let (app, browser) = (&journey.app, &journey.browser);
    browser.add_virtual_authenticator().await;

    journey.sign_in(email, PASSWORD).await;
    browser.wait_for("#passkeys-form").await;
    browser
        .wait_for_text("#passkeys-none", "no passkey yet")
        .await;
    browser.fill("#passkey-name", "This laptop").await;
    browser.click("#passkey-add").await;
    browser
        .wait_for_text("#passkeys-status", "Your passkey is added")
        .await;
    browser.wait_for_text("#passkeys-list", "This laptop").await;
    journey.check_page("account-with-passkey", &[]).await;
    app.wait_for_email(email, "A passkey was added").await;

    // Signed out, the passkey alone signs in: no email, no password.
    browser.click("#signout").await;
    browser.wait_for("#signin-form").await;
    browser.wait_for("#passkey-signin").await;
    journey.check_page("signin-with-passkey-button", &[]).await;
    browser.click("#passkey-signin").await;
    browser.wait_for_text("#current-email", email).await;
    browser
        .wait_for_text("#sessions-list", "This browser")
        .await;
    browser
        .wait_for_text("#activity-list", "Signed in with a passkey")
        .await;
    browser.wait_for_text("#passkeys-list", "last used").await;
    // The session is the API's like any other: listed, and its token works.
    let token = browser
        .execute(
            "return sessionStorage.getItem('customer-area-token');",
            vec![],
        )
        .await;
    let token = token.as_str().expect("a token in the tab");
    let (status, sessions) = app
        .call(Method::GET, "/customers/sessions", Some(token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{sessions}");
    assert!(
        sessions["sessions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["current"] == true),
        "{sessions}"
    );

    // Removed, it signs no one in, though the authenticator still holds it.
    browser.click("#passkeys-list button[data-passkey]").await;
    browser
        .wait_for_text("#passkeys-status", "The passkey is removed")
        .await;
    browser
        .wait_for_text("#passkeys-none", "no passkey yet")
        .await;
    app.wait_for_email(email, "A passkey was removed").await;
    browser.click("#signout").await;
    browser.wait_for("#passkey-signin").await;
    browser.click("#passkey-signin").await;
    browser.wait_for_text("#signin-error", "not accepted").await;
    journey
        .assert_quiet(
            "passkey refused after removal",
            &[("customers/passkey_login/finish", 401)],
        )
        .await;
}
