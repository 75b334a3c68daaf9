//! Property test: arbitrary JSON bodies and headers at every endpoint never cause a 500 or a
//! non-JSON answer, and the server lives on.

use crate::common::spawn_app_with;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use reqwest::Method;
use serde_json::{Map, Value};
use std::num::NonZero;

const FIELDS: &[&str] = &[
    "email",
    "password",
    "password_check",
    "current_password",
    "name",
    "phone",
    "mobile",
    "address",
    "address_town",
    "address_postcode",
    "address_region",
    "country",
    "subscriptions",
    "id",
    "identifier",
    "secret",
    "key",
    "code",
    "reset_uri",
    "activate_uri",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,40}".prop_map(Value::String),
        "[a-zA-Z0-9@.+ -]{0,30}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (prop::sample::select(FIELDS).prop_map(str::to_owned), inner),
                0..6
            )
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn body() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        // An object with known keys and arbitrary values: reaches the validation code.
        prop::collection::vec(
            (
                prop::sample::select(FIELDS).prop_map(str::to_owned),
                json_value()
            ),
            0..8
        )
        .prop_map(|pairs| serde_json::to_vec(&Value::Object(pairs.into_iter().collect())).unwrap()),
        json_value().prop_map(|v| serde_json::to_vec(&v).unwrap()),
        prop::collection::vec(any::<u8>(), 0..200),
    ]
}

#[test]
fn arbitrary_requests_never_cause_a_500() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let app = runtime.block_on(spawn_app_with(|c| {
        c.limits.login_per_ip_per_minute = NonZero::new(100_000).unwrap();
        c.limits.codes_per_ip_per_minute = NonZero::new(100_000).unwrap();
        c.limits.login_free_failures = 100_000;
    }));
    let token = runtime.block_on(app.active_customer("fuzz@example.com"));
    let endpoints: Vec<(Method, &str, bool)> = vec![
        (Method::POST, "/customers/login", false),
        (Method::POST, "/customers/activate", false),
        (Method::PATCH, "/customers/self", true),
        (Method::GET, "/customers/self", true),
        (Method::POST, "/customers/logout", false),
        (Method::DELETE, "/customers/self", false),
        (Method::POST, "/customers/password_reset", false),
        (Method::POST, "/customers/do_reset", false),
        (Method::POST, "/customers/newemail_confirm", false),
        (Method::POST, "/customers/signup", false),
        (Method::GET, "/subscriptions", false),
        (Method::GET, "/healthz", false),
        (Method::PUT, "/customers/self", true),
    ];
    let content_types = [
        "application/json",
        "application/json; charset=utf-8",
        "text/plain",
        "",
        "application/JSON",
    ];
    let strategy = (
        prop::sample::select((0..endpoints.len()).collect::<Vec<_>>()),
        body(),
        prop::sample::select(content_types.to_vec()),
        ".{0,60}",
    );
    let mut runner = TestRunner::new(Config {
        cases: 400,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&strategy, |(endpoint, body, content_type, junk_header)| {
            let (method, path, authenticated) = &endpoints[endpoint];
            let (status, text) = runtime.block_on(async {
                let mut request = app.client.request(method.clone(), app.url(path)).body(body);
                if !content_type.is_empty() {
                    request = request.header("content-type", content_type);
                }
                if *authenticated {
                    request = request.bearer_auth(&token);
                }
                if let Ok(value) = reqwest::header::HeaderValue::from_str(&junk_header) {
                    request = request
                        .header("x-junk", value.clone())
                        .header("x-forwarded-for", value);
                }
                let response = request.send().await.expect("the server answers");
                (response.status(), response.text().await.unwrap())
            });
            prop_assert!(
                status.as_u16() < 500,
                "{method} {path} answered {status}: {text}"
            );
            prop_assert!(
                serde_json::from_str::<Value>(&text).is_ok(),
                "not JSON: {text:?}"
            );
            Ok(())
        })
        .unwrap();
    let health = runtime.block_on(async {
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status()
    });
    assert_eq!(health, reqwest::StatusCode::OK, "the process lives on");
}
