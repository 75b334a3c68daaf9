//! The preference page behind an unsubscribe link (SPEC 8.5): a pause of 30 or 90 days that
//! keeps the member out of the list's exports until its date, its early end, and "unsubscribe
//! from everything", each in the consent ledger with the source `preference_page`, the link's
//! token as the only credential.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::common::{TestApp, spawn_app_with};
use customer_area::config::Secret;
use customer_area::store::sql::params;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "admin-token-for-tests-0123456789";
const BROWSER: &str = "Preference-Page-Browser/1.0";
const DAY: i64 = 24 * 3600;

/// An app with the lists `newsletter` and `offers`, its links on `https://ca.example.com/base`.
async fn app_with_lists() -> TestApp {
    let app = spawn_app_with(|c| {
        c.admin.api_token = Secret::new(TOKEN);
        c.links.public_url = "https://ca.example.com/base".into();
    })
    .await;
    app.add_newsletter(TOKEN).await;
    app.add_list(TOKEN, "offers", "Offers").await;
    app
}

/// A signed-in customer subscribed to `lists`: their session token and the path (on this
/// server) of their unsubscribe link for `newsletter`.
async fn subscriber(app: &TestApp, email: &str, lists: &[&str]) -> (String, String) {
    let token = app.active_customer(email).await;
    let (status, body) = app
        .patch_self(&token, json!({ "subscriptions": lists }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let url = members(app, "newsletter")
        .await
        .into_iter()
        .find(|m| m["email"] == email)
        .unwrap_or_else(|| panic!("{email} is no member"))["unsubscribe_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = url
        .strip_prefix("https://ca.example.com/base")
        .unwrap_or_else(|| panic!("{url} is not on links.public_url"))
        .to_owned();
    (token, path)
}

/// The members of `list` as the JSON export pages them.
async fn members(app: &TestApp, list: &str) -> Vec<Value> {
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/admin/subscriptions/{list}/members"),
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body["total"].as_u64().unwrap() as usize,
        body["members"].as_array().unwrap().len()
    );
    body["members"].as_array().unwrap().clone()
}

/// The addresses of `list`'s members in the JSON export, and in the CSV export.
async fn exported(app: &TestApp, list: &str) -> (Vec<String>, Vec<String>) {
    let json = members(app, list)
        .await
        .iter()
        .map(|m| m["email"].as_str().unwrap().to_owned())
        .collect();
    let response = app
        .client
        .get(app.url(&format!("/admin/subscriptions/{list}/members?format=csv")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    let csv = text
        .lines()
        .skip(1)
        .map(|line| line.split(',').nth(1).unwrap().to_owned())
        .collect();
    (json, csv)
}

/// Whether `email` is in both exports of `list` (and the two agree).
async fn exports_name(app: &TestApp, list: &str, email: &str) -> bool {
    let (json, csv) = exported(app, list).await;
    assert_eq!(json, csv, "the JSON and CSV exports differ");
    json.iter().any(|e| e == email)
}

/// `method <link><suffix>` as the page's browser sends it.
async fn choose(
    app: &TestApp,
    link: &str,
    suffix: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app
        .client
        .request(
            if suffix == "/preferences" {
                Method::GET
            } else {
                Method::POST
            },
            app.url(&format!("{link}{suffix}")),
        )
        .header("user-agent", BROWSER);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

async fn pause(app: &TestApp, link: &str, list: &str, days: i64) -> (StatusCode, Value) {
    choose(
        app,
        link,
        "/pause",
        Some(json!({ "list": list, "days": days })),
    )
    .await
}

/// The customer's own subscriptions (`GET /customers/self`), by list id.
async fn own_subscription(app: &TestApp, token: &str, list: &str) -> Value {
    let (_, body) = app.get_self(token).await;
    body["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == list)
        .unwrap_or_else(|| panic!("not subscribed to {list}: {body}"))
        .clone()
}

/// The back office's view of the customer's subscription to `list`.
async fn admin_subscription(app: &TestApp, email: &str, list: &str) -> Value {
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/admin/customers/{email}"),
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == list)
        .unwrap_or_else(|| panic!("not subscribed to {list}: {body}"))
        .clone()
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Unix seconds of an RFC 3339 time the API wrote.
fn unix(time: &Value) -> i64 {
    let text = time
        .as_str()
        .unwrap_or_else(|| panic!("not a time: {time}"));
    time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339)
        .unwrap()
        .unix_timestamp()
}

/// Asserts `at` is `days` from now, give or take the test's own run time.
fn assert_days_ahead(at: &Value, days: i64) {
    let ahead = unix(at) - unix_now();
    assert!(
        (days * DAY - 60..=days * DAY).contains(&ahead),
        "{at} is not {days} days ahead ({ahead} s)"
    );
}

#[tokio::test]
async fn a_pause_of_30_or_90_days_leaves_the_exports_until_its_date_then_ends_by_itself() {
    let app = app_with_lists().await;
    let (token, link) = subscriber(&app, "month@example.com", &["newsletter"]).await;
    let (_, other_link) = subscriber(&app, "quarter@example.com", &["newsletter"]).await;
    subscriber(&app, "stays@example.com", &["newsletter"]).await;

    let (status, body) = pause(&app, &link, "newsletter", 30).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["result"], "paused");
    assert_eq!(body["list"], "newsletter");
    assert_days_ahead(&body["paused_until"], 30);
    let (status, quarter) = pause(&app, &other_link, "newsletter", 90).await;
    assert_eq!(status, StatusCode::OK, "{quarter}");
    assert_days_ahead(&quarter["paused_until"], 90);

    // Out of both exports, the others still in.
    assert!(!exports_name(&app, "newsletter", "month@example.com").await);
    assert!(!exports_name(&app, "newsletter", "quarter@example.com").await);
    assert!(exports_name(&app, "newsletter", "stays@example.com").await);
    // The console's lists screen counts them as the exports do: the `total` of a first page.
    let (status, first) = app
        .call(
            Method::GET,
            "/admin/subscriptions/newsletter/members?limit=1",
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{first}");
    assert_eq!(
        first["total"], 1,
        "the paused members are not counted: {first}"
    );
    // Still subscribed, with the date where the subscriptions are shown.
    let own = own_subscription(&app, &token, "newsletter").await;
    assert_eq!(own["paused_until"], body["paused_until"]);
    let seen = admin_subscription(&app, "month@example.com", "newsletter").await;
    assert_eq!(seen["paused_until"], body["paused_until"]);
    let (_, page) = choose(&app, &link, "/preferences", None).await;
    assert_eq!(page["list"], "newsletter");
    assert_eq!(
        page["subscriptions"][0]["paused_until"],
        body["paused_until"]
    );

    let ledger = app.consents(TOKEN, "month@example.com").await;
    let last = ledger.last().unwrap();
    assert_eq!(
        (&last["action"], &last["source"], &last["list_id"]),
        (
            &json!("pause"),
            &json!("preference_page"),
            &json!("newsletter")
        )
    );
    assert_eq!(last["paused_until"], body["paused_until"]);
    assert_eq!(last["ip"], "127.0.0.1");
    assert_eq!(last["user_agent"], BROWSER);
    assert_eq!(ledger.len(), 2, "the opt-in and the pause: {ledger:?}");

    // The date passes (the row's time moved back): the member is back with nothing run.
    let moved = app
        .db()
        .execute(
            "UPDATE subscriptions SET paused_until = ?1 WHERE list_id = 'newsletter' AND customer_id = (SELECT id FROM customers WHERE email = ?2)",
            params![unix_now() - 1, "month@example.com"],
        )
        .unwrap();
    assert_eq!(moved, 1);
    assert!(exports_name(&app, "newsletter", "month@example.com").await);
    assert!(!exports_name(&app, "newsletter", "quarter@example.com").await);
    assert_eq!(
        own_subscription(&app, &token, "newsletter").await["paused_until"],
        Value::Null
    );
    assert_eq!(
        admin_subscription(&app, "month@example.com", "newsletter").await["paused_until"],
        Value::Null
    );
    // Nothing to resume any more, and nothing recorded for it.
    let (status, body) = choose(
        &app,
        &link,
        "/resume",
        Some(json!({ "list": "newsletter" })),
    )
    .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({ "result": "not_paused" }))
    );
    assert_eq!(app.consents(TOKEN, "month@example.com").await.len(), 2);
}

#[tokio::test]
async fn a_pause_ended_early_brings_the_member_back_and_is_recorded() {
    let app = app_with_lists().await;
    let (token, link) = subscriber(&app, "back@example.com", &["newsletter", "offers"]).await;
    // The link of one list pauses another of the customer's lists.
    let (status, body) = pause(&app, &link, "offers", 90).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert!(!exports_name(&app, "offers", "back@example.com").await);
    assert!(exports_name(&app, "newsletter", "back@example.com").await);

    let (status, body) = choose(&app, &link, "/resume", Some(json!({ "list": "offers" }))).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({ "result": "resumed" }))
    );
    assert!(exports_name(&app, "offers", "back@example.com").await);
    assert_eq!(
        own_subscription(&app, &token, "offers").await["paused_until"],
        Value::Null
    );
    let ledger = app.consents(TOKEN, "back@example.com").await;
    let actions: Vec<(&Value, &Value, &Value)> = ledger
        .iter()
        .map(|r| (&r["list_id"], &r["action"], &r["source"]))
        .collect();
    assert_eq!(
        actions[2..],
        [
            (&json!("offers"), &json!("pause"), &json!("preference_page")),
            (
                &json!("offers"),
                &json!("resume"),
                &json!("preference_page")
            ),
        ]
    );
    assert_eq!(ledger[3].get("paused_until"), None, "{:?}", ledger[3]);
}

#[tokio::test]
async fn unsubscribing_from_everything_leaves_every_list_with_the_preference_page_in_the_ledger() {
    let app = app_with_lists().await;
    let (token, link) = subscriber(&app, "leaver@example.com", &["newsletter", "offers"]).await;
    subscriber(&app, "keeper@example.com", &["newsletter", "offers"]).await;

    let (status, body) = choose(&app, &link, "/all", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({ "result": "unsubscribed", "lists_left": ["newsletter", "offers"] })
    );
    let (_, me) = app.get_self(&token).await;
    assert_eq!(me["subscriptions"], json!([]));
    for list in ["newsletter", "offers"] {
        assert!(!exports_name(&app, list, "leaver@example.com").await);
        assert!(exports_name(&app, list, "keeper@example.com").await);
    }
    let ledger = app.consents(TOKEN, "leaver@example.com").await;
    let outs: Vec<&Value> = ledger.iter().filter(|r| r["action"] == "out").collect();
    assert_eq!(outs.len(), 2, "{ledger:?}");
    for (out, list) in outs.iter().zip(["newsletter", "offers"]) {
        assert_eq!(out["list_id"], list);
        assert_eq!(out["source"], "preference_page");
        assert_eq!(out["ip"], "127.0.0.1");
        assert_eq!(out["user_agent"], BROWSER);
    }

    // The link's subscription has ended: it speaks for no one any more.
    for (suffix, body) in [
        ("/preferences", None),
        ("/all", None),
        ("/pause", Some(json!({ "list": "newsletter", "days": 30 }))),
    ] {
        let (status, answer) = choose(&app, &link, suffix, body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{suffix}: {answer}"
        );
        assert_eq!(answer["error"], "invalid_code", "{suffix}");
        assert!(answer["fields"]["token"].is_string(), "{answer}");
    }
    assert_eq!(
        app.consents(TOKEN, "leaver@example.com").await.len(),
        ledger.len()
    );
}

#[tokio::test]
async fn a_forged_or_ended_link_is_refused_and_changes_nothing() {
    let app = app_with_lists().await;
    let (token, link) = subscriber(&app, "guarded@example.com", &["newsletter", "offers"]).await;
    let before = app.consents(TOKEN, "guarded@example.com").await;

    let mut flipped = link.clone();
    let last = flipped.pop().unwrap();
    flipped.push(if last == 'A' { 'B' } else { 'A' });
    let (payload, _) = link.rsplit_once('/').unwrap().1.split_once('.').unwrap();
    let unsigned = format!("/unsubscribe/{payload}.AAAA");
    for forged in [flipped, unsigned, format!("{link}x")] {
        for (suffix, body) in [
            ("/preferences", None),
            ("/pause", Some(json!({ "list": "newsletter", "days": 30 }))),
            ("/resume", Some(json!({ "list": "newsletter" }))),
            ("/all", None),
        ] {
            let (status, answer) = choose(&app, &forged, suffix, body).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{forged}{suffix}: {answer}");
            assert_eq!(answer["error"], "not_found");
        }
    }

    // Ended by the one-click unsubscribe of the same link: the other list stays untouched.
    let response = app
        .client
        .post(app.url(&link))
        .header("content-type", "application/x-www-form-urlencoded")
        .body("List-Unsubscribe=One-Click")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let ended = app.consents(TOKEN, "guarded@example.com").await;
    assert_eq!(ended.len(), before.len() + 1);
    for (suffix, body) in [
        ("/pause", Some(json!({ "list": "offers", "days": 90 }))),
        ("/resume", Some(json!({ "list": "offers" }))),
        ("/all", None),
    ] {
        let (status, answer) = choose(&app, &link, suffix, body).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{suffix}: {answer}"
        );
        assert_eq!(answer["error"], "invalid_code");
        assert!(answer["fields"]["token"].is_string(), "{answer}");
    }
    let offers = own_subscription(&app, &token, "offers").await;
    assert_eq!(offers["paused_until"], Value::Null);
    assert!(exports_name(&app, "offers", "guarded@example.com").await);
    assert_eq!(app.consents(TOKEN, "guarded@example.com").await, ended);
}

#[tokio::test]
async fn a_pause_other_than_30_or_90_days_is_refused_by_field_and_changes_nothing() {
    let app = app_with_lists().await;
    let (token, link) = subscriber(&app, "picky@example.com", &["newsletter"]).await;
    let before = app.consents(TOKEN, "picky@example.com").await;

    for (body, field) in [
        (json!({ "list": "newsletter", "days": 0 }), "days"),
        (json!({ "list": "newsletter", "days": 45 }), "days"),
        (json!({ "list": "newsletter", "days": -30 }), "days"),
        (json!({ "list": "newsletter", "days": 30.5 }), "days"),
        (json!({ "list": "newsletter", "days": "30" }), "days"),
        (json!({ "list": "newsletter", "days": null }), "days"),
        (json!({ "list": "newsletter" }), "days"),
        (json!({ "days": 30 }), "list"),
        (json!({ "list": "offers", "days": 30 }), "list"),
        (json!({ "list": "nope", "days": 30 }), "list"),
        (
            json!({ "list": "newsletter", "days": 30, "forever": true }),
            "forever",
        ),
    ] {
        let (status, answer) = choose(&app, &link, "/pause", Some(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {answer}");
        assert_eq!(answer["error"], "validation_failed", "{body}");
        assert!(answer["fields"][field].is_string(), "{body}: {answer}");
    }
    let (status, answer) = choose(&app, &link, "/resume", Some(json!({ "list": "offers" }))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert!(answer["fields"]["list"].is_string(), "{answer}");
    let (status, answer) = choose(&app, &link, "/all", Some(json!({ "really": true }))).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");

    assert_eq!(
        own_subscription(&app, &token, "newsletter").await["paused_until"],
        Value::Null
    );
    assert!(exports_name(&app, "newsletter", "picky@example.com").await);
    assert_eq!(app.consents(TOKEN, "picky@example.com").await, before);
}
