//! The retailer's back-office API under /admin, over real HTTP.

use crate::common;
use crate::common::{TestApp, spawn_app, spawn_app_with};
use customer_area::config::Secret;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "admin-token-for-tests-0123456789";

async fn admin_app() -> TestApp {
    spawn_app_with(|c| c.admin.api_token = Secret::new(TOKEN)).await
}

async fn admin(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    app.call(method, path, Some(TOKEN), body).await
}

async fn create(app: &TestApp, body: Value) -> (StatusCode, Value) {
    admin(app, Method::POST, "/admin/customers", Some(body)).await
}

#[tokio::test]
async fn without_an_admin_token_configured_no_token_opens_the_admin_routes() {
    // The routes are there for staff sessions; no bearer token is the machine token.
    let app = spawn_app().await;
    for (method, path) in [
        (Method::GET, "/admin/customers"),
        (Method::POST, "/admin/customers"),
        (Method::GET, "/admin/subscriptions"),
        (Method::DELETE, "/admin/customers/12345678901234"),
    ] {
        for token in [None, Some(""), Some(TOKEN)] {
            let (status, body) = app.call(method.clone(), path, token, None).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
            assert_eq!(body["error"], "unauthenticated", "{method} {path}");
        }
    }
    let (_, unknown) = app.call(Method::GET, "/nowhere", None, None).await;
    let (status, body) = app.call(Method::GET, "/admin", Some(TOKEN), None).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, unknown));
}

#[tokio::test]
async fn a_missing_wrong_or_customer_token_is_refused() {
    // More wrong tokens than the default back-off allows are sent below.
    let app = spawn_app_with(|c| {
        c.admin.api_token = Secret::new(TOKEN);
        c.limits.login_free_failures = 100;
    })
    .await;
    let customer = app.active_customer("shopper@example.com").await;
    let wrong = format!("{TOKEN}x");
    for token in [
        None,
        Some(wrong.as_str()),
        Some(&TOKEN[..10]),
        Some(customer.as_str()),
    ] {
        let (status, body) = app.call(Method::GET, "/admin/customers", token, None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(body["error"], "unauthenticated");
        let (status, _) = app
            .call(
                Method::POST,
                "/admin/subscriptions",
                token,
                Some(json!({"id": "x", "name": "X"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{token:?}");
    }
    let response = app
        .client
        .get(app.url("/admin/customers"))
        .header("authorization", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        StatusCode::UNAUTHORIZED,
        "the Bearer scheme is required"
    );
    assert_eq!(
        admin(&app, Method::GET, "/admin/subscriptions", None)
            .await
            .0,
        StatusCode::OK
    );
    let (_, lists) = admin(&app, Method::GET, "/admin/subscriptions", None).await;
    assert_eq!(
        lists["subscriptions"],
        json!([]),
        "nothing was created by refused calls"
    );
}

#[tokio::test]
async fn creating_a_customer_answers_201_with_the_customer_and_emails_the_activation_link() {
    let app = admin_app().await;
    let (status, body) = create(
        &app,
        json!({"email": " Ada@Example.com ", "name": "Ada Lovelace", "identifier": "test-user-1",
               "activate_uri": "/welcome", "country": "gb"}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["email"], "ada@example.com");
    assert_eq!(body["name"], "Ada Lovelace");
    assert_eq!(body["identifier"], "test-user-1");
    assert_eq!(body["status"], "pending");
    assert_eq!(body["country"], "GB");
    assert_eq!(body["subscriptions"], json!([]));
    let id = body["id"].as_str().unwrap();
    assert!(
        id.len() == 14 && id.bytes().all(|b| b.is_ascii_digit()),
        "{id}"
    );

    let mail = app.wait_for_email("ada@example.com", "Activate").await;
    let link = "https://shop.example.com/welcome";
    assert_eq!(mail.link_param(link, "identifier"), "test-user-1");
    let secret = mail.link_param(link, "secret");
    let (status, _) = app
        .post(
            "/customers/activate",
            json!({"identifier": "test-user-1", "secret": secret,
                   "password": common::PASSWORD, "password_check": common::PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (_, shown) = admin(&app, Method::GET, &format!("/admin/customers/{id}"), None).await;
    assert_eq!(shown["status"], "active");
}

#[tokio::test]
async fn a_customer_created_without_activation_gets_the_email_only_when_resent() {
    let app = admin_app().await;
    let (status, body) = create(
        &app,
        json!({"email": "later@example.com", "name": "Later", "send_activation": false}),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let identifier = body["identifier"].as_str().unwrap().to_owned();

    let path = format!("/admin/customers/{identifier}/resend_activation");
    let (status, answer) = admin(&app, Method::POST, &path, None).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["result"], "email_sent");
    app.wait_for_email("later@example.com", "Activate").await;
    // The outbox is delivered in order, so an email queued at creation would be here by now.
    let sent = app
        .delivered()
        .into_iter()
        .filter(|e| e.to == "later@example.com")
        .count();
    assert_eq!(sent, 1);
}

#[tokio::test]
async fn resending_activation_is_refused_for_active_and_unknown_customers() {
    let app = admin_app().await;
    app.active_customer("active@example.com").await;
    let (status, body) = admin(
        &app,
        Method::POST,
        "/admin/customers/active@example.com/resend_activation",
        Some(json!({"activate_uri": "/activate"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    let (status, body) = admin(
        &app,
        Method::POST,
        "/admin/customers/99999999999999/resend_activation",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
}

#[tokio::test]
async fn a_duplicate_email_or_identifier_is_a_conflict_naming_the_field() {
    let app = admin_app().await;
    let first = json!({"email": "dup@example.com", "name": "First", "identifier": "dup-1"});
    assert_eq!(create(&app, first).await.0, StatusCode::CREATED);

    let (status, body) = create(&app, json!({"email": "DUP@example.com", "name": "Second"})).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(body["error"], "conflict");
    assert!(body["fields"]["email"].is_string(), "{body}");

    let (status, body) = create(
        &app,
        json!({"email": "other@example.com", "name": "Other", "identifier": "dup-1"}),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["fields"]["identifier"].is_string(), "{body}");
    let (_, list) = admin(&app, Method::GET, "/admin/customers", None).await;
    assert_eq!(list["total"], 1);
}

#[tokio::test]
async fn a_bad_creation_names_every_bad_field_and_creates_nothing() {
    let app = admin_app().await;
    let (status, body) = create(
        &app,
        json!({"email": "not-an-email", "identifier": "has space", "send_activation": "yes",
               "activate_uri": "https://evil.example/steal", "phone": "call me",
               "subscriptions": ["no-such-list"], "role": "admin"}),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    for field in [
        "email",
        "name",
        "identifier",
        "send_activation",
        "activate_uri",
        "phone",
        "role",
    ] {
        assert!(body["fields"][field].is_string(), "{field}: {body}");
    }
    let (status, body) = create(
        &app,
        json!({"email": "ok@example.com", "name": "Ok", "subscriptions": ["no-such-list"]}),
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
    let (_, list) = admin(&app, Method::GET, "/admin/customers", None).await;
    assert_eq!(list["total"], 0);
}

#[tokio::test]
async fn customers_are_searched_by_email_identifier_or_name_and_paginated() {
    let app = admin_app().await;
    for (email, identifier, name) in [
        ("anna@alpha.example", "north-1", "Anna Åberg"),
        ("ben@beta.example", "south-1", "Ben Brook"),
        ("cleo@alpha.example", "north-2", "Cleo Stream"),
    ] {
        let body = json!({"email": email, "name": name, "identifier": identifier, "send_activation": false});
        assert_eq!(create(&app, body).await.0, StatusCode::CREATED);
    }
    let (status, page) = admin(&app, Method::GET, "/admin/customers?search=ALPHA", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(page["total"], 2);
    // A search this small is counted exactly (past 1,000 matches it would say false).
    assert_eq!(page["total_exact"], true);
    assert_eq!(page["customers"].as_array().unwrap().len(), 2);
    let (_, page) = admin(&app, Method::GET, "/admin/customers?search=south", None).await;
    assert_eq!(page["customers"][0]["email"], "ben@beta.example");
    // By part of a name, in any case; a name changed is found by its new words only.
    let emails = |page: &Value| -> Vec<String> {
        page["customers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["email"].as_str().unwrap().to_owned())
            .collect()
    };
    let (_, page) = admin(&app, Method::GET, "/admin/customers?search=BROOK", None).await;
    assert_eq!(emails(&page), ["ben@beta.example"]);
    let (_, page) = admin(
        &app,
        Method::GET,
        "/admin/customers?search=%C3%A5berg",
        None,
    )
    .await;
    assert_eq!(emails(&page), ["anna@alpha.example"]);
    let ben = admin(&app, Method::GET, "/admin/customers?search=brook", None)
        .await
        .1["customers"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, _) = admin(
        &app,
        Method::PATCH,
        &format!("/admin/customers/{ben}"),
        Some(json!({"name": "Ben Field", "reason": "asked by phone"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, page) = admin(&app, Method::GET, "/admin/customers?search=brook", None).await;
    assert_eq!(page["total"], 0, "{page}");
    let (_, page) = admin(&app, Method::GET, "/admin/customers?search=n%20fie", None).await;
    assert_eq!(emails(&page), ["ben@beta.example"]);

    let (_, first) = admin(&app, Method::GET, "/admin/customers?limit=2", None).await;
    assert_eq!(
        (
            first["total"].clone(),
            first["limit"].clone(),
            first["offset"].clone()
        ),
        (json!(3), json!(2), json!(0))
    );
    assert_eq!(first["customers"].as_array().unwrap().len(), 2);
    let (_, rest) = admin(&app, Method::GET, "/admin/customers?limit=2&offset=2", None).await;
    assert_eq!(rest["customers"].as_array().unwrap().len(), 1);
    let mut seen: Vec<Value> = first["customers"]
        .as_array()
        .unwrap()
        .iter()
        .chain(rest["customers"].as_array().unwrap())
        .map(|c| c["id"].clone())
        .collect();
    seen.sort_by_key(|id| id.to_string());
    seen.dedup();
    assert_eq!(seen.len(), 3, "pages do not overlap");
    assert_eq!(rest["next"], Value::Null, "the last page says so");

    // The cursor of a page leads to the same next page as the offset did, and on from there.
    let next = first["next"]
        .as_str()
        .expect("a full page names the next")
        .to_owned();
    let (status, after) = admin(
        &app,
        Method::GET,
        &format!("/admin/customers?limit=2&after={next}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(after["customers"], rest["customers"]);
    assert_eq!(
        (after["after"].as_str(), &after["next"]),
        (Some(next.as_str()), &Value::Null)
    );
    assert_eq!(after.get("offset"), None, "{after}");
    let (_, one) = admin(
        &app,
        Method::GET,
        "/admin/customers?search=alpha&limit=1",
        None,
    )
    .await;
    let next = one["next"].as_str().unwrap();
    let (_, two) = admin(
        &app,
        Method::GET,
        &format!("/admin/customers?search=alpha&limit=1&after={next}"),
        None,
    )
    .await;
    let mut found = [&one, &two].map(|page| page["customers"][0]["email"].clone());
    found.sort_by_key(|email| email.to_string());
    assert_eq!(
        found,
        [json!("anna@alpha.example"), json!("cleo@alpha.example")]
    );
    assert_eq!(two["next"], Value::Null);

    for query in [
        "limit=0",
        "limit=501",
        "limit=ten",
        "offset=-1",
        "page=2",
        "limit=1&limit=2",
        "after=",
        "after=12345",
        "after=1-2",
        "after=x-10000000000000",
        "offset=0&after=1-10000000000000",
    ] {
        let (status, body) = admin(
            &app,
            Method::GET,
            &format!("/admin/customers?{query}"),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {body}");
        assert_eq!(body["error"], "validation_failed");
    }
}

#[tokio::test]
async fn a_customer_is_shown_by_id_or_identifier_and_unknown_ones_are_404() {
    let app = admin_app().await;
    let (_, created) = create(
        &app,
        json!({"email": "show@example.com", "name": "Show", "identifier": "show-me"}),
    )
    .await;
    let id = created["id"].as_str().unwrap();
    for key in [id, "show-me"] {
        let (status, body) =
            admin(&app, Method::GET, &format!("/admin/customers/{key}"), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(body, created);
    }
    let (status, body) = admin(&app, Method::GET, "/admin/customers/00000000000000", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"], "not_found");
}

#[tokio::test]
async fn deleting_a_customer_removes_them_and_ends_their_sessions() {
    let app = admin_app().await;
    let token = app.active_customer("gone@example.com").await;
    let (_, view) = admin(&app, Method::GET, "/admin/customers/gone@example.com", None).await;
    let path = format!("/admin/customers/{}", view["id"].as_str().unwrap());

    let (status, body) = admin(&app, Method::DELETE, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"], "deleted");
    assert_eq!(app.get_self(&token).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        admin(&app, Method::GET, &path, None).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        admin(&app, Method::DELETE, &path, None).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn subscription_lists_are_created_listed_and_deleted() {
    let app = admin_app().await;
    let list = json!({"id": "newsletter", "name": "Newsletter", "description": "Monthly news"});
    let (status, body) = admin(
        &app,
        Method::POST,
        "/admin/subscriptions",
        Some(list.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(body, list);
    let (status, body) = admin(&app, Method::POST, "/admin/subscriptions", Some(list)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body["fields"]["id"].is_string());
    let (status, body) = admin(
        &app,
        Method::POST,
        "/admin/subscriptions",
        Some(json!({"id": "Bad Id", "name": " "})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["fields"]["id"].is_string() && body["fields"]["name"].is_string(),
        "{body}"
    );

    let (_, lists) = admin(&app, Method::GET, "/admin/subscriptions", None).await;
    assert_eq!(lists["subscriptions"][0]["id"], "newsletter");
    assert_eq!(lists["subscriptions"].as_array().unwrap().len(), 1);

    let (status, body) = admin(
        &app,
        Method::DELETE,
        "/admin/subscriptions/newsletter",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["result"], "deleted");
    assert_eq!(
        admin(
            &app,
            Method::DELETE,
            "/admin/subscriptions/newsletter",
            None
        )
        .await
        .0,
        StatusCode::NOT_FOUND
    );
    let (_, lists) = admin(&app, Method::GET, "/admin/subscriptions", None).await;
    assert_eq!(lists["subscriptions"], json!([]));
}

#[tokio::test]
async fn wrong_admin_tokens_are_throttled_per_client_ip() {
    let app = spawn_app_with(|c| {
        c.admin.api_token = Secret::new(TOKEN);
        c.limits.login_free_failures = 3;
    })
    .await;
    let guess = |token: &'static str| {
        app.client
            .get(app.url("/admin/customers"))
            .bearer_auth(token)
            .send()
    };
    let mut statuses = Vec::new();
    for _ in 0..5 {
        statuses.push(guess("a wrong guess").await.unwrap().status());
    }
    assert_eq!(statuses[..4], [StatusCode::UNAUTHORIZED; 4], "{statuses:?}");
    assert_eq!(statuses[4], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    assert_eq!(
        guess(TOKEN).await.unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS,
        "while in back-off even the right token is not compared"
    );
}
