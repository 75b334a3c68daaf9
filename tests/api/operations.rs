//! Operating the service: metrics, request ids, logs without secrets, online backup.

use std::io::Read;

use crate::common::binary::{Binary, sigterm};
use crate::common::{PASSWORD, PATIENCE, eventually, spawn_app, spawn_app_with};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn metrics_are_served_to_loopback_and_the_admin_token_only() {
    let app = spawn_app_with(|c| {
        c.admin.api_token = customer_area::config::Secret::new("operator-token")
    })
    .await;
    app.active_customer("metrics@example.com").await;
    app.login("metrics@example.com", "wrong password").await;

    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.unwrap();
    for needle in [
        r#"customer_area_http_requests_total{method="POST",route="/customers/login",status="401"} 1"#,
        r#"customer_area_logins_total{outcome="success"} 1"#,
        r#"customer_area_logins_total{outcome="invalid_credentials"} 1"#,
        "customer_area_http_request_duration_seconds_bucket",
        r#"customer_area_outbox_emails{status="sent"} 1"#,
        "customer_area_db_pool_connections_in_use",
        "customer_area_password_hashing_queue",
    ] {
        assert!(text.contains(needle), "missing {needle} in\n{text}");
    }
    // The writer has been held (the activation and the login wrote), for a moment only.
    let longest: f64 = text
        .lines()
        .find_map(|l| l.strip_prefix("customer_area_db_longest_write_seconds "))
        .expect("the longest write is reported")
        .parse()
        .unwrap();
    assert!(longest > 0.0 && longest < 5.0, "{longest}");

    // A loopback peer relaying someone else's request (a local reverse proxy) is not enough…
    let relayed = app
        .client
        .get(app.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.7")
        .send()
        .await
        .unwrap();
    assert_eq!(relayed.status(), StatusCode::NOT_FOUND);
    // …but the admin token is.
    let with_token = app
        .client
        .get(app.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.7")
        .bearer_auth("operator-token")
        .send()
        .await
        .unwrap();
    assert_eq!(with_token.status(), StatusCode::OK);
    let wrong = app
        .client
        .get(app.url("/metrics"))
        .header("x-forwarded-for", "203.0.113.7")
        .bearer_auth("guess")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = spawn_app().await;
    let response = app.client.get(app.url("/healthz")).send().await.unwrap();
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(id.len(), 16);
    let response = app
        .client
        .get(app.url("/nowhere"))
        .header("x-request-id", "proxy-abc.123")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "proxy-abc.123");
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "bad id\twith junk")
        .send()
        .await
        .unwrap();
    let fresh = response.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(fresh, "bad id\twith junk");
    assert!(fresh.len() == 16 && fresh.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_ne!(fresh, id, "each request gets its own id");
}

/// Starts `serve` from the built binary in `dir` on a free port; returns the child and port.
fn start_server(dir: &std::path::Path, log_level: &str) -> (std::process::Child, String) {
    start_server_with(dir, log_level, &[])
}

/// Starts `serve` with extra environment overrides.
fn start_server_with(
    dir: &std::path::Path,
    log_level: &str,
    env: &[(&str, &str)],
) -> (std::process::Child, String) {
    let serving = Binary::new()
        .in_dir(dir)
        .env("CUSTOMER_AREA_AUTH_PBKDF2_ITERATIONS", "1000")
        .env("RUST_LOG", log_level)
        .envs(env)
        .serve();
    (serving.child, serving.port)
}

fn stop(mut child: std::process::Child) -> String {
    sigterm(&child);
    let mut log = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut log)
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}\n{log}");
    log
}

fn create_customer(dir: &std::path::Path, email: &str) -> String {
    let output = Binary::new()
        .args([
            "customers",
            "create",
            "--email",
            email,
            "--name",
            "Log Test",
            "--identifier",
            "log-test",
        ])
        .in_dir(dir)
        .env("CUSTOMER_AREA_AUTH_PBKDF2_ITERATIONS", "1000")
        .output()
        .unwrap();
    assert!(output.status.success());
    let eml = std::fs::read_dir(dir.join("outbox"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let raw = std::fs::read_to_string(eml).unwrap();
    raw.split("secret=").nth(1).unwrap()[..10].to_owned()
}

/// Creates `email` with the CLI and activates it through the server at `base` with
/// [`PASSWORD`]; returns the activation secret.
async fn active_customer(dir: &std::path::Path, base: &str, email: &str) -> String {
    let secret = create_customer(dir, email);
    let activated = reqwest::Client::new()
        .post(format!("{base}/customers/activate"))
        .json(&json!({"identifier": "log-test", "secret": secret, "password": PASSWORD, "password_check": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(activated.status(), StatusCode::OK);
    secret
}

#[tokio::test]
async fn debug_logs_hold_no_password_token_code_or_email() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port) = start_server(dir.path(), "debug");
    let email = "secretive@example.com";
    let base = format!("http://127.0.0.1:{port}");
    let secret = active_customer(dir.path(), &base, email).await;
    let client = reqwest::Client::new();
    let token = client
        .post(format!("{base}/customers/login"))
        .json(&json!({"email": email, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json::<serde_json::Value>()
        .await
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_password = "an entirely new passphrase";
    let changed = client
        .patch(format!("{base}/customers/self"))
        .bearer_auth(&token)
        .json(&json!({"password": new_password, "password_check": new_password, "current_password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(changed.status(), StatusCode::OK);
    client
        .post(format!("{base}/customers/logout"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();

    let log = stop(server);
    assert!(
        log.contains(r#"route="/customers/login""#) || log.contains("route=/customers/login"),
        "{log}"
    );
    assert!(log.contains("login"), "{log}");
    for secret_value in [
        PASSWORD,
        new_password,
        token.as_str(),
        secret.as_str(),
        email,
    ] {
        assert!(
            !log.contains(secret_value),
            "{secret_value:?} leaked into the log:\n{log}"
        );
    }
}

#[tokio::test]
async fn a_backup_taken_while_serving_is_consistent_and_complete() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port) = start_server(dir.path(), "warn");
    create_customer(dir.path(), "backup@example.com");
    let base = format!("http://127.0.0.1:{port}");
    // Keep the server busy with writes while the backup runs.
    let client = reqwest::Client::new();
    let load = tokio::spawn(async move {
        for i in 0..50 {
            let _ = client
                .post(format!("{base}/customers/login"))
                .json(&json!({"email": format!("nobody{i}@example.com"), "password": "x"}))
                .send()
                .await;
        }
    });
    let copy = dir.path().join("copy.db");
    let output = Binary::new()
        .args(["backup", copy.to_str().unwrap()])
        .in_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("quick check ok"));
    load.await.unwrap();

    let conn = rusqlite::Connection::open(&copy).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
    let email: String = conn
        .query_row("SELECT email FROM customers", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        email, "backup@example.com",
        "a write acknowledged before the backup is in it"
    );

    let again = Binary::new()
        .args(["backup", copy.to_str().unwrap()])
        .in_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        !again.status.success(),
        "an existing file is not overwritten without --force"
    );
    stop(server);
}

#[tokio::test]
async fn json_logs_are_one_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port) =
        start_server_with(dir.path(), "info", &[("CUSTOMER_AREA_LOG_FORMAT", "json")]);
    let base = format!("http://127.0.0.1:{port}");
    reqwest::get(format!("{base}/healthz")).await.unwrap();
    let log = stop(server);
    let lines: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not JSON: {l}")))
        .collect();
    let request = lines
        .iter()
        .find(|l| l["message"] == "request")
        .expect("a request line");
    assert_eq!(request["route"], "/healthz");
    assert_eq!(request["status"], 200);
    assert!(request["request_id"].is_string() && request["latency_ms"].is_number());
}

#[tokio::test]
async fn sigterm_lets_a_request_in_flight_finish_and_a_restart_is_clean() {
    let dir = tempfile::tempdir().unwrap();
    // A login slow enough (heavy hashing) to be in flight when the signal arrives.
    let slow = [("CUSTOMER_AREA_AUTH_PBKDF2_ITERATIONS", "400000")];
    let (server, port) = start_server_with(dir.path(), "info", &slow);
    create_customer(dir.path(), "inflight@example.com");
    let base = format!("http://127.0.0.1:{port}");
    let in_flight = tokio::spawn({
        let base = base.clone();
        async move {
            reqwest::Client::new()
                .post(format!("{base}/customers/login"))
                .json(&json!({"email": "inflight@example.com", "password": "whatever it is"}))
                .send()
                .await
                .map(|r| r.status())
        }
    });
    // The signal goes out once the server counts the login in flight (besides the scrape
    // asking, which counts itself).
    let client = reqwest::Client::new();
    eventually(PATIENCE, "the login is in flight", || async {
        let text = client
            .get(format!("{base}/metrics"))
            .send()
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        let in_flight: i64 = text
            .lines()
            .find_map(|l| l.strip_prefix("customer_area_http_requests_in_flight "))?
            .trim()
            .parse()
            .ok()?;
        (in_flight >= 2).then_some(())
    })
    .await;
    let log = tokio::task::spawn_blocking(move || stop(server))
        .await
        .unwrap();
    let status = in_flight
        .await
        .unwrap()
        .expect("the request in flight got its answer");
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(log.contains("shut down cleanly"), "{log}");

    // The same database and outbox, a new process: everything is there.
    let (server, port) = start_server(dir.path(), "warn");
    let health = reqwest::get(format!("http://127.0.0.1:{port}/healthz"))
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let output = Binary::new()
        .args(["customers", "show", "inflight@example.com"])
        .in_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stop(server);
}

#[tokio::test]
async fn sigterm_right_after_a_reset_request_still_queues_its_email() {
    let dir = tempfile::tempdir().unwrap();
    let (server, port) = start_server(dir.path(), "info");
    let email = "leaving@example.com";
    let base = format!("http://127.0.0.1:{port}");
    active_customer(dir.path(), &base, email).await;
    let client = reqwest::Client::new();
    let asked = client
        .post(format!("{base}/customers/password_reset"))
        .json(&json!({"email": email, "reset_uri": "/account/reset"}))
        .send()
        .await
        .unwrap();
    assert_eq!(asked.status(), StatusCode::OK);
    // The email is queued ~20 ms after the answer; the signal comes before that, and a clean
    // stop waits for it rather than dropping it.
    let log = tokio::task::spawn_blocking(move || stop(server))
        .await
        .unwrap();
    assert!(log.contains("shut down cleanly"), "{log}");
    let conn = rusqlite::Connection::open(dir.path().join("customer-area.db")).unwrap();
    let queued: i64 = conn
        .query_row(
            "SELECT count(*) FROM outbox WHERE kind = 'password_reset' AND recipient = ?1",
            [email],
            |row| row.get(0),
        )
        .unwrap();
    assert_eq!(queued, 1, "{log}");
}
