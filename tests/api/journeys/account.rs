//! The account page as a person reads it: each signed-in device by name, the menu at the top
//! that reaches every section (at desktop and phone width), and a German page in German down
//! to the country list's empty choice.

use super::*;

/// What Firefox on Windows sends, from its release channel.
const FIREFOX_ON_WINDOWS: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:140.0) Gecko/20100101 Firefox/140.0";

/// Whether the section `#id` is shown from its top: at the top of the viewport, or lower when
/// the page ends before it could scroll further.
const REACHED: &str = "const section = document.getElementById(arguments[0]);\
     const top = section.getBoundingClientRect().top;\
     const root = document.documentElement;\
     const atEnd = window.scrollY + window.innerHeight >= root.scrollHeight - 1;\
     return top >= -1 && (top <= 16 || (atEnd && top < window.innerHeight));";

#[tokio::test]
async fn the_account_page_names_each_device_and_its_menu_reaches_every_section() {
    let app = spawn_linking_to_itself(|_| {}).await;
    let email = "ada@example.com";
    active_customer(&app, email, "Ada Lovelace").await;
    app.token_as(email, PASSWORD, FIREFOX_ON_WINDOWS).await;
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let browser = &journey.browser;
    journey.sign_in(email, PASSWORD).await;

    // The other session and its sign-in are named, not shown as the raw User-Agent; this
    // browser is named as the product names its own User-Agent.
    browser
        .wait_for_text("#sessions-list", "Firefox on Windows")
        .await;
    browser
        .wait_for_text("#activity-list", "Firefox on Windows")
        .await;
    let own = browser.execute("return navigator.userAgent;", vec![]).await;
    let own = customer_area::domain::device_name(own.as_str());
    browser.wait_for_text("#sessions-list", &own).await;
    for list in ["#sessions-list", "#activity-list"] {
        let shown = browser.text(list).await;
        assert!(
            !shown.contains("Mozilla/5.0"),
            "{list} shows a User-Agent: {shown}"
        );
    }
    browser.execute("window.scrollTo(0, 0);", vec![]).await;
    journey.check_page("account-menu", &[]).await;

    // Each link of the menu brings its section to the top, on a desktop and on a phone.
    let links = browser
        .execute(
            "return [...document.querySelectorAll('#account-menu a')]\
               .filter((a) => a.offsetParent !== null).map((a) => a.getAttribute('href'));",
            vec![],
        )
        .await;
    let links: Vec<String> = serde_json::from_value(links).expect("the menu's links");
    assert!(links.len() >= 8, "the menu links every section: {links:?}");
    for (width, height) in [DESKTOP, PHONE] {
        browser.set_window(width, height).await;
        for link in &links {
            browser.execute("window.scrollTo(0, 0);", vec![]).await;
            browser
                .click(&format!("#account-menu a[href='{link}']"))
                .await;
            let id = link.trim_start_matches('#');
            assert!(
                browser.is_shown(link).await,
                "{link} is a shown section at {width} px"
            );
            let mut reached = false;
            for _ in 0..100 {
                reached = browser.execute(REACHED, vec![json!(id)]).await == true;
                if reached {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(reached, "{link} never came into view at {width} px");
        }
    }
    browser.set_window(DESKTOP.0, DESKTOP.1).await;
    browser
        .click("#account-menu a[href='#sessions-form']")
        .await;
    browser.screenshot("account-devices").await;
    journey.assert_quiet("account menu", &[]).await;
}

#[tokio::test]
async fn a_german_account_page_is_german_down_to_the_empty_country() {
    let app = spawn_linking_to_itself(|_| {}).await;
    let email = "grete@example.com";
    active_customer(&app, email, "Grete Hermann").await;
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let browser = &journey.browser;
    browser.prefer_languages("de-DE,de").await;
    journey.sign_in(email, PASSWORD).await;
    assert_eq!(browser.attr("html", "lang").await.as_deref(), Some("de"));
    let none = browser
        .execute(
            "return document.querySelector('#country option[value=\"\"]').textContent;",
            vec![],
        )
        .await;
    assert_eq!(none, "(keine Angabe)");
    assert_eq!(
        browser.text("#account-menu a[href='#sessions-form']").await,
        "Geräte"
    );
    browser.execute("window.scrollTo(0, 0);", vec![]).await;
    journey.check_page("account-de", &[]).await;
}

#[tokio::test]
async fn a_customer_whose_address_bounced_is_asked_for_a_working_one_until_a_confirmed_change() {
    let app = spawn_linking_to_itself(|c| c.admin.api_token = Secret::new(ADMIN_TOKEN)).await;
    let (dead, working) = ("dead@example.com", "working@example.com");
    active_customer(&app, dead, "Bo Bounced").await;
    let (status, body) = app
        .call(
            Method::POST,
            "/admin/mail/events",
            Some(ADMIN_TOKEN),
            Some(json!({ "type": "bounce", "email": dead, "permanent": true })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "marked_undeliverable");
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let (app, browser) = (&journey.app, &journey.browser);

    // Signed in, the account asks for a working address.
    journey.sign_in(dead, PASSWORD).await;
    browser
        .wait_for_text("#email-undeliverable", "come back undelivered")
        .await;
    browser.execute("window.scrollTo(0, 0);", vec![]).await;
    journey.check_page("account-undeliverable", &[]).await;

    // The change is asked for: until it is confirmed, the notice stays.
    browser.fill("#new-email", working).await;
    browser.click("#email-submit").await;
    browser
        .wait_for_text("#email-status", "check your new inbox")
        .await;
    browser.client().refresh().await.expect("the page reloads");
    browser.wait_for_text("#current-email", dead).await;
    assert!(browser.is_shown("#email-undeliverable").await);

    // Confirmed through the emailed link: the new address signs in, and the notice is gone.
    let mail = app.wait_for_email(working, "Confirm your new email").await;
    browser.open(&journey.link(&mail, "/confirm-email?")).await;
    browser.wait_for("#confirm-form").await;
    browser.click("#confirm-submit").await;
    browser.wait_for("#confirm-done").await;
    journey.sign_in(working, PASSWORD).await;
    assert!(!browser.is_shown("#email-undeliverable").await);
    let token = app.token(working, PASSWORD).await;
    let (_, me) = app.get_self(&token).await;
    assert_eq!(me["email_deliverable"], true, "{me}");
    journey.check_page("account-deliverable-again", &[]).await;
}
