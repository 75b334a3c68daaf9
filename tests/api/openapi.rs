//! The OpenAPI document: generated from the route table, served as generated, committed as
//! generated, and in step with the running server, so that it can neither miss an endpoint
//! nor describe one that does not exist.

use std::collections::BTreeSet;

use crate::common::passkey::{SHOP_ORIGIN, SoftAuthenticator};
use crate::common::{PASSWORD, spawn_app_with};
use customer_area::config::Secret;
use customer_area::http::openapi;
use customer_area::http::route::Kind;
use customer_area::http::table::ROUTES;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const ADMIN_TOKEN: &str = "admin-token-for-openapi-tests-0123";

fn document() -> Value {
    openapi::document()
}

const METHODS: [&str; 8] = [
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Every documented (path, method) pair.
fn operations(doc: &Value) -> Vec<(String, String)> {
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("a path item").keys() {
            if METHODS.contains(&method.as_str()) {
                operations.push((path.clone(), method.clone()));
            }
        }
    }
    operations
}

#[tokio::test]
async fn the_served_document_is_the_generated_one() {
    let app = spawn_app_with(|_| {}).await;
    let response = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "application/json");
    assert_eq!(headers["cache-control"], "public, max-age=300");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    let served: Value = response.json().await.unwrap();
    assert_eq!(served, document());
    let version = served["openapi"].as_str().expect("an `openapi` version");
    assert!(version.starts_with("3."), "OpenAPI 3, not {version}");
}

#[test]
fn the_committed_openapi_json_is_the_generated_document() {
    let committed = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json"))
        .expect("openapi.json at the top of the repository");
    assert!(
        committed == openapi::document_text(),
        "openapi.json is stale: regenerate it with `cargo run -- openapi > openapi.json`"
    );
}

#[test]
fn the_binary_prints_the_generated_document() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_customer-area"))
        // The document follows from the code alone: not even a missing config file matters.
        .args(["--config", "/nonexistent/customer-area.toml", "openapi"])
        .output()
        .unwrap();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        openapi::document_text()
    );
}

#[test]
fn documented_operations_are_the_api_entries_of_the_route_table() {
    let doc = document();
    let documented: BTreeSet<(String, String)> = operations(&doc)
        .into_iter()
        .map(|(path, method)| (path, method.to_uppercase()))
        .collect();
    let api: BTreeSet<(String, String)> = ROUTES
        .iter()
        .filter(|r| matches!(r.kind, Kind::Api(_)))
        .map(|r| (r.path.to_owned(), r.verb.as_str().to_owned()))
        .collect();
    assert_eq!(documented, api);
    let ids: BTreeSet<&str> = ROUTES
        .iter()
        .filter_map(|r| r.operation())
        .map(|op| op.id)
        .collect();
    assert_eq!(ids.len(), api.len(), "operation ids are unique");
}

/// For every documented path, a method it does not document answers 405 with an `Allow`
/// header naming exactly the documented methods (and GET where a page shares the path).
#[tokio::test]
async fn a_405_allows_exactly_the_documented_methods() {
    let app = spawn_app_with(|c| {
        c.admin.api_token = Secret::new(ADMIN_TOKEN);
        c.auth.allow_signup = true;
    })
    .await;
    let doc = document();
    for (path, item) in doc["paths"].as_object().unwrap() {
        let mut documented: BTreeSet<String> = item
            .as_object()
            .unwrap()
            .keys()
            .filter(|m| METHODS.contains(&m.as_str()))
            .map(|m| m.to_uppercase())
            .collect();
        if ROUTES
            .iter()
            .any(|r| r.path == path && r.operation().is_none())
        {
            documented.insert("GET".into());
        }
        let other = ["PUT", "PATCH", "GET", "POST"]
            .into_iter()
            .find(|m| !documented.contains(*m))
            .expect("no path takes every method");
        let concrete = path
            .replace("{id}", "12345678901234")
            .replace("{email}", "nobody%40example.com");
        let response = app
            .client
            .request(
                Method::from_bytes(other.as_bytes()).unwrap(),
                app.url(&concrete),
            )
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(
            response.status(),
            StatusCode::METHOD_NOT_ALLOWED,
            "{other} {path}"
        );
        let allowed: BTreeSet<String> = response.headers()["allow"]
            .to_str()
            .unwrap()
            .split(", ")
            .map(str::to_owned)
            .collect();
        assert_eq!(allowed, documented, "{path}");
    }
}

#[test]
fn every_reference_resolves_and_every_operation_documents_its_errors() {
    let doc = document();
    let text = doc.to_string();
    for reference in text.split("\"$ref\":\"").skip(1) {
        let target = &reference[..reference.find('"').unwrap()];
        let pointer = target.strip_prefix('#').expect("local references only");
        assert!(doc.pointer(pointer).is_some(), "{target} does not resolve");
    }
    for (path, method) in operations(&doc) {
        let operation = &doc["paths"][&path][&method];
        assert!(operation["operationId"].is_string(), "{method} {path}");
        let responses = operation["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path} documents no success"
        );
        let secured = operation["security"].as_array().is_some_and(|s| {
            s.iter()
                .any(|r| r.as_object().is_some_and(|r| !r.is_empty()))
        });
        let optional = operation["security"].as_array().is_some_and(|s| {
            s.iter()
                .any(|r| r.as_object().is_some_and(|r| r.is_empty()))
        });
        if secured && !optional {
            assert!(responses.contains_key("401"), "{method} {path} lacks 401");
        }
        if operation.get("requestBody").is_some() {
            for status in ["400", "413", "415", "422"] {
                assert!(
                    responses.contains_key(status),
                    "{method} {path} takes a body but lacks {status}"
                );
            }
        }
    }
}

/// Every documented operation exists on a running server: with real ids for the path
/// parameters and the right credentials, none answers the 404 of an unknown route or a 405,
/// and each answers a status the document lists for it.
#[tokio::test]
async fn every_documented_operation_is_served() {
    let app = spawn_app_with(|c| {
        c.admin.api_token = Secret::new(ADMIN_TOKEN);
        c.auth.allow_signup = true;
    })
    .await;
    let email = "openapi@example.com";
    app.active_customer(email).await;
    let doc = document();
    let (_, unknown_route) = app.call(Method::GET, "/no/such/route", None, None).await;

    let mut operations = operations(&doc);
    // Deleting the account last: the other customer operations need it.
    operations.sort_by_key(|(path, method)| path == "/customers/self" && method == "delete");
    for (n, (path, method)) in operations.into_iter().enumerate() {
        let operation = &doc["paths"][&path][&method];
        let admin = path.starts_with("/admin");
        let token = if admin {
            Some(ADMIN_TOKEN.to_owned())
        } else if path.starts_with("/customers/self")
            || path.starts_with("/customers/sessions")
            || path.starts_with("/customers/passkeys")
            || path == "/customers/activity"
            || path == "/customers/logout"
        {
            Some(app.token(email, PASSWORD).await)
        } else {
            None
        };
        // Real ids, fresh for each call, so that deleting operations find something to delete.
        let mut concrete = path.clone();
        if path.starts_with("/admin/customers/{id}") {
            let other = format!("openapi-{n}@example.com");
            let created = app.create_customer(&other, "Someone").await;
            concrete = concrete.replace("{id}", created.id.as_str());
        } else if path.starts_with("/admin/subscriptions/{id}") {
            let (status, _) = app
                .call(
                    Method::POST,
                    "/admin/subscriptions",
                    Some(ADMIN_TOKEN),
                    Some(json!({ "id": format!("list-{n}"), "name": "A list" })),
                )
                .await;
            assert_eq!(status, StatusCode::CREATED);
            concrete = concrete.replace("{id}", &format!("list-{n}"));
        } else if path.starts_with("/customers/sessions/{id}") {
            let (_, listed) = app
                .call(Method::GET, "/customers/sessions", token.as_deref(), None)
                .await;
            let id = listed["sessions"][0]["id"].as_str().unwrap().to_owned();
            concrete = concrete.replace("{id}", &id);
        } else if path.starts_with("/customers/passkeys/{id}") {
            let mut authenticator = SoftAuthenticator::new(SHOP_ORIGIN);
            let (status, added) = app
                .add_passkey(token.as_deref().unwrap(), &mut authenticator, None)
                .await;
            assert_eq!(status, StatusCode::OK, "{added}");
            concrete = concrete.replace("{id}", added["id"].as_str().unwrap());
        } else if path.starts_with("/admin/staff/passkeys/{id}") {
            // The admin token is no staff member (a documented 403): any id serves.
            concrete = concrete.replace("{id}", "AAAAAAAAAAAAAAAA");
        } else if path.starts_with("/admin/staff/{email}") {
            // No such staff member: a documented 404 (the one owner is never removed).
            concrete = concrete.replace("{email}", "nobody%40example.com");
        } else if path.starts_with("/admin/outbox/{id}")
            || path.starts_with("/admin/webhooks/deliveries/{id}")
        {
            // No such email or delivery: a documented 404.
            concrete = concrete.replace("{id}", "999999");
        }
        // The body is checked before the token: any token reaches the handler's checks.
        concrete = concrete.replace("{token}", "not-a-token");
        assert!(
            !concrete.contains('{'),
            "an unfilled parameter in {concrete}"
        );

        let mut request = app.client.request(
            Method::from_bytes(method.to_uppercase().as_bytes()).unwrap(),
            app.url(&concrete),
        );
        if let Some(token) = &token {
            request = request.bearer_auth(token);
        }
        if operation["requestBody"]["content"]
            .get("text/csv")
            .is_some()
        {
            // An import file, checked only (the query string is the operation's own).
            request = request
                .query(&[("dry_run", "true")])
                .header("content-type", "text/csv")
                .body("email,name\nopenapi-import@example.com,Imported\n");
        } else if operation.get("requestBody").is_some() {
            request = request.json(&json!({}));
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let what = format!("{} {concrete}: {status} {text}", method.to_uppercase());
        assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{what}");
        if status == StatusCode::NOT_FOUND {
            let body: Value = serde_json::from_str(&text).unwrap();
            assert_ne!(body, unknown_route, "an unknown route: {what}");
        }
        assert!(
            operation["responses"].get(status.as_str()).is_some(),
            "an undocumented status: {what}"
        );
    }
}
