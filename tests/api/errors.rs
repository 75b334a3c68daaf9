//! Every failure answers with the JSON error body and the right status, warp's own included.

use crate::common;
use crate::common::{PASSWORD, spawn_app, spawn_app_with};
use customer_area::store::sql::params;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::num::NonZero;

async fn raw(
    app: &common::TestApp,
    method: Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut request = app.client.request(method, app.url(path)).body(body);
    if let Some(ct) = content_type {
        request = request.header("content-type", ct);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body: Value = response.json().await.expect("a JSON error body");
    (status, headers, body)
}

fn assert_error(body: &Value, code: &str) {
    assert_eq!(body["error"], code, "{body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_get_json_errors() {
    let app = spawn_app().await;
    let (status, headers, body) = raw(&app, Method::GET, "/nowhere", None, vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&body, "not_found");
    assert_eq!(headers["x-content-type-options"], "nosniff");

    let (status, _, body) = raw(&app, Method::PUT, "/customers/self", None, vec![]).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_error(&body, "method_not_allowed");
    let (status, headers, _) = raw(&app, Method::GET, "/customers/login", None, vec![]).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    // RFC 9110: a 405 lists the methods the route takes.
    assert_eq!(headers["allow"], "POST");
    let (_, headers, _) = raw(&app, Method::PUT, "/customers/self", None, vec![]).await;
    assert_eq!(headers["allow"], "GET, PATCH, DELETE");
}

/// Found by schemathesis: a body problem on a route that takes the method was answered 405,
/// because a sibling route on the same path (GET /customers/self, GET /admin/customers)
/// refused the method and its rejection was looked at first.
#[tokio::test]
async fn a_body_problem_is_not_hidden_by_a_sibling_routes_405() {
    let token = "admin-token-for-error-tests-0123";
    let app =
        spawn_app_with(|c| c.admin.api_token = customer_area::config::Secret::new(token)).await;
    let customer = app.active_customer("ada@example.com").await;
    for (method, path, bearer) in [
        (Method::PATCH, "/customers/self", customer.as_str()),
        (Method::POST, "/admin/customers", token),
        (Method::POST, "/admin/subscriptions", token),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(bearer)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{method} {path}"
        );
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(bearer)
            .header("content-type", "application/json")
            .body(vec![b' '; 20 * 1024])
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "{method} {path}"
        );
    }
}

#[tokio::test]
async fn bodies_must_be_json_objects_of_bounded_size() {
    let app = spawn_app().await;
    let json_type = Some("application/json");

    let (status, _, body) = raw(
        &app,
        Method::POST,
        "/customers/login",
        Some("text/plain"),
        b"{}".to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_error(&body, "unsupported_media_type");
    let (status, _, _) = raw(&app, Method::POST, "/customers/login", None, b"{}".to_vec()).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let big = format!("{{\"email\":\"{}\"}}", "a".repeat(70 * 1024)).into_bytes();
    let (status, _, body) = raw(&app, Method::POST, "/customers/login", json_type, big).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_error(&body, "body_too_large");

    for bad in [
        &b"{"[..],
        b"not json",
        b"[1,2]",
        b"\"text\"",
        b"{} {}",
        b"{\"email\":\"\xff\"}",
        b"{\"a\":1,\"a\":2}",
        b"",
    ] {
        let (status, _, body) = raw(
            &app,
            Method::POST,
            "/customers/login",
            json_type,
            bad.to_vec(),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::BAD_REQUEST,
            "{:?}",
            String::from_utf8_lossy(bad)
        );
        assert_error(&body, "malformed_json");
    }
    let deep = format!("{{\"a\":{}{}}}", "[".repeat(200), "]".repeat(200));
    let (status, _, _) = raw(
        &app,
        Method::POST,
        "/customers/login",
        json_type,
        deep.into_bytes(),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    // charset parameters are fine.
    let (status, _, _) = raw(
        &app,
        Method::POST,
        "/customers/login",
        Some("application/json; charset=utf-8"),
        br#"{"email":"a@example.com","password":"x"}"#.to_vec(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_body_without_a_length_is_bounded_too() {
    let app = spawn_app().await;
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..40).map(|_| Ok(vec![b' '; 1024])).collect();
    let response = app
        .client
        .post(app.url("/customers/login"))
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures::stream::iter(chunks)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn missing_fields_wrong_types_and_unknown_fields_are_named() {
    let app = spawn_app().await;
    let (status, body) = app
        .post("/customers/login", json!({"email": 42, "extra": true}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&body, "validation_failed");
    assert_eq!(body["fields"]["email"], "must be a string");
    assert_eq!(body["fields"]["password"], "is required");
    assert_eq!(body["fields"]["extra"], "is not a known field");
}

#[tokio::test]
async fn bearer_tokens_are_required_and_checked() {
    let app = spawn_app().await;
    let token = app.active_customer("token@example.com").await;
    let cases: Vec<(Option<String>, &str)> = vec![
        (None, "no header"),
        (Some("Bearer".into()), "no token"),
        (Some(format!("Basic {token}")), "wrong scheme"),
        (Some("Bearer not-a-token".into()), "malformed token"),
        (Some(format!("Bearer {}", "A".repeat(43))), "unknown token"),
    ];
    for (header, case) in cases {
        let mut request = app.client.get(app.url("/customers/self"));
        if let Some(h) = header {
            request = request.header("authorization", h);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(response.headers()["www-authenticate"], "Bearer");
        let body: Value = response.json().await.unwrap();
        assert_error(&body, "unauthenticated");
    }
    // Never from the query string or a cookie.
    let response = app
        .client
        .get(app.url(&format!("/customers/self?access_token={token}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let response = app
        .client
        .get(app.url("/customers/self"))
        .header("cookie", format!("token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    // "bearer" in any case works.
    let response = app
        .client
        .get(app.url("/customers/self"))
        .header("authorization", format!("bEaReR {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn an_expired_token_is_refused() {
    let app = spawn_app().await;
    let token = app.active_customer("expired@example.com").await;
    app.db()
        .execute(
            "UPDATE sessions SET expires_at = ?1",
            params![customer_area::store::now() - 1],
        )
        .unwrap();
    assert_eq!(app.get_self(&token).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn login_failures_look_alike() {
    let app = spawn_app().await;
    app.active_customer("known@example.com").await;
    app.create_customer("pending@example.com", "Pending").await;
    let mut answers = Vec::new();
    for (email, password) in [
        ("known@example.com", "wrong password"),
        ("unknown@example.com", PASSWORD),
        ("pending@example.com", PASSWORD),
        ("not an email", PASSWORD),
        ("known@example.com", &"x".repeat(2000)[..]),
    ] {
        answers.push(app.login(email, password).await);
    }
    for answer in &answers {
        assert_eq!(answer, &answers[0]);
    }
    assert_eq!(answers[0].0, StatusCode::UNAUTHORIZED);
    assert_error(&answers[0].1, "invalid_credentials");
}

#[tokio::test]
async fn tokens_and_personal_data_are_never_cached() {
    let app = spawn_app().await;
    app.active_customer("cache@example.com").await;
    let response = app
        .client
        .post(app.url("/customers/login"))
        .json(&json!({"email": "cache@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert_eq!(response.headers()["x-content-type-options"], "nosniff");
    let token = response.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = app
        .client
        .get(app.url("/customers/self"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["cache-control"], "no-store");
}

#[tokio::test]
async fn internal_failures_answer_500_without_detail() {
    let app = spawn_app().await;
    app.active_customer("broken@example.com").await;
    app.db()
        .execute(
            "UPDATE customers SET password_hash = 'not a PHC string'",
            params![],
        )
        .unwrap();
    let (status, body) = app.login("broken@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        body,
        json!({"error": "internal_error", "message": "internal error"})
    );
}

#[tokio::test]
async fn a_saturated_database_pool_answers_503_quickly() {
    let app = spawn_app_with(|c| {
        c.database.pool_size = NonZero::new(1).unwrap();
        c.database.pool_timeout_ms = 300;
    })
    .await;
    let held = app.running.services.operations().hold_connection().unwrap();
    let started = std::time::Instant::now();
    let response = app
        .client
        .post(app.url("/customers/login"))
        .json(&json!({"email": "a@example.com", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_error(&body, "overloaded");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    drop(held);
    assert_eq!(
        app.login("a@example.com", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
}

/// Metrics label requests by route table pattern and a fixed list of methods: a method no
/// route takes, however many of them a client invents, shares the one `other` label.
#[tokio::test]
async fn invented_methods_do_not_create_metrics_labels() {
    let app = spawn_app().await;
    for n in 0..20 {
        let method = Method::from_bytes(format!("INVENTED{n}").as_bytes()).unwrap();
        let (status, _, body) = raw(&app, method, "/customers/self", None, vec![]).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_error(&body, "method_not_allowed");
    }
    let (status, _, _) = raw(&app, Method::GET, "/wp-admin/x.php", None, vec![]).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let metrics = app.metrics_text().await;
    assert!(!metrics.contains("INVENTED"), "{metrics}");
    assert!(!metrics.contains("wp-admin"), "{metrics}");
    assert!(
        metrics.contains(
            r#"customer_area_http_requests_total{method="other",route="/customers/self",status="405"} 20"#
        ),
        "{metrics}"
    );
    assert!(
        metrics.contains(
            r#"customer_area_http_requests_total{method="GET",route="other",status="404"} 1"#
        ),
        "{metrics}"
    );
}
