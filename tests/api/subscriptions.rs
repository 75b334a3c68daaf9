//! Subscription lists: the public list, a customer's own set, and the consent trail.

use crate::common::{TestApp, spawn_app_with};
use customer_area::config::Secret;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "admin-token-for-tests-0123456789";

/// An app with two lists, `newsletter` and `box-bulletin`.
async fn app_with_lists() -> TestApp {
    let app = spawn_app_with(|c| c.admin.api_token = Secret::new(TOKEN)).await;
    for (id, name) in [
        ("newsletter", "Newsletter"),
        ("box-bulletin", "Product-box bulletin"),
    ] {
        let (status, body) = app
            .call(
                Method::POST,
                "/admin/subscriptions",
                Some(TOKEN),
                Some(json!({"id": id, "name": name})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }
    app
}

fn ids(customer: &Value) -> Vec<&str> {
    customer["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_str().unwrap())
        .collect()
}

async fn consents(app: &TestApp, email: &str) -> Vec<(String, String, String)> {
    let path = format!("/admin/customers/{email}/consents");
    let (status, body) = app.call(Method::GET, &path, Some(TOKEN), None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["consents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            assert!(r["at"].as_str().unwrap().ends_with('Z'), "{r}");
            let field = |k: &str| r[k].as_str().unwrap().to_owned();
            (field("list_id"), field("action"), field("source"))
        })
        .collect()
}

fn record(list: &str, action: &str, source: &str) -> (String, String, String) {
    (list.into(), action.into(), source.into())
}

#[tokio::test]
async fn anyone_can_read_the_lists_and_shops_may_cache_them() {
    let app = app_with_lists().await;
    let response = app
        .client
        .get(app.url("/subscriptions"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "public, max-age=60");
    let body: Value = response.json().await.unwrap();
    assert_eq!(
        body,
        json!({"subscriptions": [
            {"id": "box-bulletin", "name": "Product-box bulletin", "description": null},
            {"id": "newsletter", "name": "Newsletter", "description": null},
        ]})
    );
}

#[tokio::test]
async fn patching_subscriptions_replaces_the_whole_set() {
    let app = app_with_lists().await;
    let token = app.active_customer("reader@example.com").await;

    let (status, body) = app
        .patch_self(
            &token,
            json!({"subscriptions": ["newsletter", "box-bulletin"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(&body), ["box-bulletin", "newsletter"]);
    let (_, shown) = app.get_self(&token).await;
    // GET reads the session's customer in one statement, PATCH answers from the profile
    // read: the two must agree to the byte.
    assert_eq!(shown, body);
    let first = &shown["subscriptions"][1];
    assert_eq!(first["name"], "Newsletter");
    assert!(first["subscribed_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(first["paused_until"], Value::Null, "not paused");
    assert_eq!(
        first.as_object().unwrap().len(),
        4,
        "exactly id, name, subscribed_at, paused_until"
    );

    let (_, body) = app
        .patch_self(&token, json!({"subscriptions": ["newsletter"]}))
        .await;
    assert_eq!(ids(&body), ["newsletter"]);
    assert_eq!(
        body["subscriptions"][0]["subscribed_at"], first["subscribed_at"],
        "staying keeps the date"
    );
    let (_, body) = app.patch_self(&token, json!({"subscriptions": []})).await;
    assert!(ids(&body).is_empty());
    assert_eq!(app.get_self(&token).await.1, body);
}

#[tokio::test]
async fn an_unknown_list_is_named_and_changes_nothing() {
    let app = app_with_lists().await;
    let token = app.active_customer("typo@example.com").await;
    app.patch_self(&token, json!({"subscriptions": ["newsletter"]}))
        .await;

    let (status, body) = app
        .patch_self(
            &token,
            json!({"subscriptions": ["box-bulletin", "no-such-list"], "name": "Changed"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["fields"]["subscriptions"]
            .as_str()
            .unwrap()
            .contains("no-such-list"),
        "{body}"
    );
    let (_, shown) = app.get_self(&token).await;
    assert_eq!(ids(&shown), ["newsletter"]);
    assert_eq!(shown["name"], "Test Customer");
}

#[tokio::test]
async fn every_opt_in_and_opt_out_is_kept_with_its_source() {
    let app = app_with_lists().await;
    let email = "consent@example.com";
    let token = app.active_customer(email).await;

    app.patch_self(
        &token,
        json!({"subscriptions": ["newsletter", "box-bulletin"]}),
    )
    .await;
    app.patch_self(&token, json!({"subscriptions": ["box-bulletin"]}))
        .await;
    let path = format!("/admin/customers/{email}/subscriptions");
    let (status, body) = app
        .call(
            Method::PUT,
            &path,
            Some(TOKEN),
            Some(json!({"subscriptions": ["newsletter", "box-bulletin"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(ids(&body), ["box-bulletin", "newsletter"]);
    let (status, _) = app
        .call(
            Method::DELETE,
            "/admin/subscriptions/newsletter",
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    assert_eq!(
        consents(&app, email).await,
        [
            record("box-bulletin", "in", "customer"),
            record("newsletter", "in", "customer"),
            record("newsletter", "out", "customer"),
            record("newsletter", "in", "admin"),
            record("newsletter", "out", "admin"),
        ]
    );
    let (_, shown) = app.get_self(&token).await;
    assert_eq!(ids(&shown), ["box-bulletin"]);
}

#[tokio::test]
async fn customers_created_by_the_admin_with_lists_have_admin_consent() {
    let app = app_with_lists().await;
    let (status, body) = app
        .call(
            Method::POST,
            "/admin/customers",
            Some(TOKEN),
            Some(json!({"email": "invited@example.com", "name": "Invited", "subscriptions": ["newsletter"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(ids(&body), ["newsletter"]);
    assert_eq!(
        consents(&app, "invited@example.com").await,
        [record("newsletter", "in", "admin")]
    );
}
