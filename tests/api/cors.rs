//! CORS: exact origins only, `Vary: Origin`, working preflights.

use crate::common;
use crate::common::spawn_app_with;
use reqwest::{Method, StatusCode};

const SHOP: &str = "https://www.shop.example.com";

async fn app() -> common::TestApp {
    spawn_app_with(|c| c.server.cors_origins = vec![SHOP.into()]).await
}

#[tokio::test]
async fn an_allowed_origin_is_echoed_and_others_get_nothing() {
    let app = app().await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("origin", SHOP)
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], SHOP);
    assert_eq!(response.headers()["vary"], "Origin");

    for other in [
        "https://evil.example.com",
        "https://www.shop.example.com.evil.net",
        "null",
    ] {
        let response = app
            .client
            .get(app.url("/healthz"))
            .header("origin", other)
            .send()
            .await
            .unwrap();
        assert!(
            response
                .headers()
                .get("access-control-allow-origin")
                .is_none(),
            "{other}"
        );
        assert_eq!(response.headers()["vary"], "Origin");
    }
    // Errors carry the headers too, so the shop's front end can read them.
    let response = app
        .client
        .get(app.url("/customers/self"))
        .header("origin", SHOP)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(response.headers()["access-control-allow-origin"], SHOP);
}

#[tokio::test]
async fn preflights_are_answered_for_allowed_origins_only() {
    let app = app().await;
    let preflight = |origin: &'static str| {
        app.client
            .request(Method::OPTIONS, app.url("/customers/self"))
            .header("origin", origin)
            .header("access-control-request-method", "PATCH")
            .header(
                "access-control-request-headers",
                "authorization, content-type",
            )
            .send()
    };
    let response = preflight(SHOP).await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let headers = response.headers();
    assert_eq!(headers["access-control-allow-origin"], SHOP);
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("PATCH")
    );
    assert!(
        headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("authorization")
    );

    let response = preflight("https://evil.example.com").await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "cors_forbidden");
}

#[tokio::test]
async fn without_configured_origins_no_browser_origin_is_allowed() {
    let app = spawn_app_with(|_| {}).await;
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("origin", SHOP)
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    let response = app
        .client
        .request(Method::OPTIONS, app.url("/customers/login"))
        .header("origin", SHOP)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
}

/// `PUT /admin/customers/{id}/subscriptions` is called from browsers too: a preflight for it
/// must allow `PUT`, as it allows every method some route takes.
#[tokio::test]
async fn a_preflight_for_a_put_route_allows_put() {
    let app = app().await;
    let response = app
        .client
        .request(
            Method::OPTIONS,
            app.url("/admin/customers/12345678901234/subscriptions"),
        )
        .header("origin", SHOP)
        .header("access-control-request-method", "PUT")
        .header(
            "access-control-request-headers",
            "authorization, content-type",
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let methods = response.headers()["access-control-allow-methods"]
        .to_str()
        .unwrap()
        .to_owned();
    let methods: Vec<&str> = methods.split(", ").collect();
    assert!(methods.contains(&"PUT"), "{methods:?}");
    for method in ["GET", "POST", "PATCH", "DELETE"] {
        assert!(methods.contains(&method), "{method} missing: {methods:?}");
    }
}
