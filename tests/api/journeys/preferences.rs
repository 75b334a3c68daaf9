//! The unsubscribe link's preference page in Chromium, by button names: a list paused for 30
//! days and resumed, another paused for 90, then "unsubscribe from everything"; the exports
//! and the consent ledger checked through the API after each choice, and the page checked like
//! every other (CSP, axe-core, 360 px, screenshots), also once its link has ended.

use super::*;
use serde_json::Value;

/// The addresses the JSON export of `list` names.
async fn exported(app: &TestApp, list: &str) -> Vec<String> {
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/admin/subscriptions/{list}/members"),
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap().to_owned())
        .collect()
}

/// The last line of the customer's consent ledger: list, action and source.
async fn last_consent(app: &TestApp, email: &str) -> (String, String, String) {
    let ledger = app.consents(ADMIN_TOKEN, email).await;
    let last = ledger.last().expect("a ledger line");
    let text = |key: &str| last[key].as_str().unwrap_or_default().to_owned();
    (text("list_id"), text("action"), text("source"))
}

fn line(list: &str, action: &str) -> (String, String, String) {
    (list.into(), action.into(), "preference_page".into())
}

#[tokio::test]
async fn a_subscriber_pauses_resumes_and_leaves_everything_from_the_unsubscribe_page() {
    let app = spawn_linking_to_itself(|c| c.admin.api_token = Secret::new(ADMIN_TOKEN)).await;
    app.add_list(ADMIN_TOKEN, "newsletter", "Monthly newsletter")
        .await;
    app.add_list(ADMIN_TOKEN, "offers", "Special offers").await;
    let email = "reader@example.com";
    active_customer(&app, email, "Rita Reader").await;
    let token = app.token(email, PASSWORD).await;
    let (status, body) = app
        .patch_self(&token, json!({ "subscriptions": ["newsletter", "offers"] }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, members) = app
        .call(
            Method::GET,
            "/admin/subscriptions/newsletter/members",
            Some(ADMIN_TOKEN),
            None,
        )
        .await;
    let link = members["members"][0]["unsubscribe_url"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(link.starts_with(&app.base), "{link}");
    let Some(journey) = Journey::start(app).await else {
        return;
    };
    let (app, browser) = (&journey.app, &journey.browser);

    // The page lists both newsletters, each received, with its choices.
    browser.open(&link).await;
    browser
        .wait_for_text("#preferences-lists", "Special offers")
        .await;
    browser
        .wait_for_text("#preferences-lists", "You receive this newsletter.")
        .await;
    journey.check_page("unsubscribe-preferences", &[]).await;

    // A 30-day pause of the offers: out of their export, in the ledger, said on the page.
    browser
        .press_button("Pause for 30 days: Special offers")
        .await;
    browser
        .wait_for_text("#preferences-status", "Special offers is paused until")
        .await;
    browser
        .wait_for_text("#preferences-lists", "Paused until")
        .await;
    assert!(!exported(app, "offers").await.contains(&email.to_owned()));
    assert_eq!(exported(app, "newsletter").await, [email]);
    assert_eq!(last_consent(app, email).await, line("offers", "pause"));
    journey.check_page("unsubscribe-paused", &[]).await;

    // Resumed at once: back in the export.
    browser.press_button("Resume now: Special offers").await;
    browser
        .wait_for_text("#preferences-status", "Special offers starts again.")
        .await;
    assert_eq!(exported(app, "offers").await, [email]);
    assert_eq!(last_consent(app, email).await, line("offers", "resume"));

    // A 90-day pause of the newsletter the link came with.
    browser
        .press_button("Pause for 90 days: Monthly newsletter")
        .await;
    browser
        .wait_for_text("#preferences-status", "Monthly newsletter is paused until")
        .await;
    assert!(exported(app, "newsletter").await.is_empty());
    assert_eq!(last_consent(app, email).await, line("newsletter", "pause"));

    // Everything: no list left, two opt-outs from the page in the ledger.
    browser.press_button("Unsubscribe from everything").await;
    browser.wait_for("#unsubscribe-done").await;
    browser
        .wait_for_text("#done-all-text", "any of our newsletters")
        .await;
    let (_, me) = app.get_self(&token).await;
    assert_eq!(me["subscriptions"], json!([]));
    let ledger = app.consents(ADMIN_TOKEN, email).await;
    let outs: Vec<(&Value, &Value)> = ledger
        .iter()
        .filter(|r| r["action"] == "out")
        .map(|r| (&r["list_id"], &r["source"]))
        .collect();
    assert_eq!(
        outs,
        [
            (&json!("newsletter"), &json!("preference_page")),
            (&json!("offers"), &json!("preference_page")),
        ]
    );
    journey.check_page("unsubscribe-everything", &[]).await;

    // The link opened again speaks for no one: the page says so and offers no choice.
    browser.open(&link).await;
    browser.wait_for("#link-ended").await;
    assert!(!browser.is_shown("#preferences").await);
    let path = link.strip_prefix(&format!("{}/", app.base)).unwrap();
    let refused = format!("{path}/preferences");
    journey
        .check_page("unsubscribe-link-ended", &[(refused.as_str(), 422)])
        .await;
}
