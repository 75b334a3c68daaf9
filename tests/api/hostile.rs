//! Hostile clients: slow and idle connections, floods of logins, forged tokens, junk input.

use std::num::NonZero;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::common::{PASSWORD, PATIENCE, eventually, spawn_app_with};
use reqwest::StatusCode;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

#[tokio::test]
async fn slow_and_idle_connections_cannot_starve_real_clients() {
    let app = spawn_app_with(|c| {
        c.server.max_connections = NonZero::new(4).unwrap();
        c.server.header_timeout_seconds = 1;
    })
    .await;
    // Fill every connection slot with clients that never finish their headers.
    let mut slow = Vec::new();
    for _ in 0..4 {
        let mut stream = TcpStream::connect(app.running.addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await
            .unwrap();
        slow.push(stream);
    }
    // A real client still gets its answer, once the header deadline frees the slots.
    let response = app
        .client
        .get(app.url("/healthz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await;
    assert_eq!(
        response.expect("served despite the slow clients").status(),
        StatusCode::OK
    );
    // And the slow clients were cut off.
    for mut stream in slow {
        let mut buf = [0u8; 256];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf))
            .await
            .expect("closed in time");
        let closed = match read {
            Ok(0) | Err(_) => true,
            Ok(n) => String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"),
        };
        assert!(closed, "a slow connection was left open");
    }
}

#[tokio::test]
async fn a_full_hashing_queue_answers_503_quickly_and_health_stays_up() {
    let app = spawn_app_with(|c| {
        c.auth.pbkdf2_iterations = 100_000;
        c.limits.hashing_queue = 2;
        c.limits.login_per_ip_per_minute = NonZero::new(1000).unwrap();
        c.limits.login_free_failures = 1000;
    })
    .await;
    let emails: Vec<String> = (0..24).map(|i| format!("flood{i}@example.com")).collect();
    let turned_away = AtomicBool::new(false);
    let wave = || {
        futures::future::join_all(emails.iter().map(|email| async {
            let answer = app.login(email, PASSWORD).await;
            if answer.0 == StatusCode::SERVICE_UNAVAILABLE {
                turned_away.store(true, Ordering::Relaxed);
            }
            answer
        }))
    };
    // Waves of 24 logins at once until one is turned away: on a machine busy with other
    // tests one wave can arrive too spread out to fill the queue.
    let logins = async {
        let mut answers = Vec::new();
        for _ in 0..10 {
            answers.extend(wave().await);
            if turned_away.load(Ordering::Relaxed) {
                break;
            }
        }
        answers
    };
    // Health is asked while the queue is full: once a login has been turned away.
    let health = async {
        eventually(PATIENCE * 6, "a login is turned away", || {
            std::future::ready(turned_away.load(Ordering::Relaxed).then_some(()))
        })
        .await;
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status()
    };
    let (answers, health) = tokio::join!(logins, health);
    assert_eq!(health, StatusCode::OK);
    let overloaded: Vec<_> = answers
        .iter()
        .filter(|(s, _)| *s == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(!overloaded.is_empty(), "some logins must be turned away");
    assert!(
        overloaded
            .iter()
            .all(|(_, body)| body["error"] == "overloaded")
    );
    assert!(
        answers
            .iter()
            .all(|(s, _)| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::SERVICE_UNAVAILABLE)
    );
    let response = app
        .client
        .post(app.url("/customers/login"))
        .json(&json!({"email": "x@example.com", "password": "x"}))
        .send()
        .await
        .unwrap();
    assert_ne!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[tokio::test]
async fn jwts_and_forged_tokens_are_never_bearer_tokens() {
    let app = spawn_app_with(|_| {}).await;
    let token = app.active_customer("jwt@example.com").await;
    let jwt = jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &json!({"sub": "jwt@example.com", "passphrase": "x"}),
        &jsonwebtoken::EncodingKey::from_secret(b"ABCDE12345"),
    )
    .unwrap();
    let alg_none = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJqd3RAZXhhbXBsZS5jb20ifQ.";
    let truncated = &token[..42];
    let padded = format!("{token}=");
    for forged in [
        jwt.as_str(),
        alg_none,
        truncated,
        padded.as_str(),
        "' OR 1=1 --",
    ] {
        let (status, body) = app.get_self(forged).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{forged}: {body}");
    }
}

#[tokio::test]
async fn nul_bytes_and_overlong_passwords_are_refused_before_any_work() {
    let app = spawn_app_with(|_| {}).await;
    let (status, body) = app.login("ada\u{0}@example.com", PASSWORD).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["fields"]["email"].is_string());
    let long = "p".repeat(1025);
    let (status, body) = app
        .post("/customers/activate", json!({"identifier": "x", "secret": "AAAAAAAAAA", "password": long, "password_check": long}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn look_alike_addresses_never_reach_another_customers_account_or_mail() {
    let app = spawn_app_with(|_| {}).await;
    app.active_customer("kim@example.com").await;
    // Kelvin sign, full-width letters: each folds to "kim" somewhere, never here.
    for look_alike in ["\u{212A}im@example.com", "\u{FF4B}im@example.com"] {
        let (status, body) = app.login(look_alike, PASSWORD).await;
        assert_eq!(
            (status, body["error"].clone()),
            (StatusCode::UNAUTHORIZED, json!("invalid_credentials"))
        );
        let (status, body) = app
            .post(
                "/customers/password_reset",
                json!({"email": look_alike, "reset_uri": "/reset"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(body["fields"]["email"].is_string());
    }
    // A refused request is refused before any work is handed on: nothing can be queued later.
    assert_eq!(app.queued("password_reset"), 0, "no reset email was queued");
}
