//! Slow clients and requests hyper refuses on its own: every answer is the JSON error body,
//! and a slow body cannot hold a connection slot.

use std::num::NonZero;
use std::time::Duration;

use crate::common::{TestApp, spawn_app_with};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Sends `first`, waits `pause`, sends `rest` (if the connection still takes it), and reads
/// the whole answer until the server closes the connection.
async fn exchange(app: &TestApp, first: &[u8], pause: Duration, rest: &[u8]) -> String {
    let mut stream = TcpStream::connect(app.running.addr).await.unwrap();
    stream.write_all(first).await.unwrap();
    if !rest.is_empty() {
        tokio::time::sleep(pause).await;
        let _ = stream.write_all(rest).await;
    }
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(15), stream.read_to_end(&mut answer))
        .await
        .expect("the server closes the connection")
        .ok();
    String::from_utf8_lossy(&answer).into_owned()
}

/// The status and JSON body of a raw answer.
fn parse(answer: &str) -> (u16, Value) {
    let status = answer
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {answer:?}"));
    let (head, body) = answer
        .split_once("\r\n\r\n")
        .unwrap_or_else(|| panic!("no head: {answer:?}"));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json"),
        "{head}"
    );
    (status, serde_json::from_str(body).expect("a JSON body"))
}

/// A request whose head arrives 3 s after it started, past `slow`'s 1 s header deadline.
async fn slow_head(app: &TestApp) -> String {
    exchange(
        app,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n",
        Duration::from_secs(3),
        b"\r\n",
    )
    .await
}

/// A request with more headers than the server takes.
fn too_many_headers() -> Vec<u8> {
    let mut request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n".to_vec();
    for i in 0..200 {
        request.extend_from_slice(format!("X-Header-{i}: v\r\n").as_bytes());
    }
    request.extend_from_slice(b"\r\n");
    request
}

fn slow(c: &mut customer_area::config::Config) {
    c.server.header_timeout_seconds = 1;
    c.server.body_timeout_seconds = NonZero::new(1).unwrap();
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_is_answered_408_with_the_json_error() {
    let app = spawn_app_with(slow).await;
    let head = b"POST /customers/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                 Content-Length: 60\r\n\r\n{\"email\":";
    let answer = exchange(&app, head, Duration::from_secs(3), b"\"a@example.com\"}").await;
    let (status, body) = parse(&answer);
    assert_eq!(status, 408, "{answer}");
    assert_eq!(body["error"], "request_timeout");
}

#[tokio::test]
async fn headers_that_do_not_arrive_in_time_are_answered_408_with_the_json_error() {
    let app = spawn_app_with(slow).await;
    let answer = slow_head(&app).await;
    let (status, body) = parse(&answer);
    assert_eq!(status, 408, "{answer}");
    assert_eq!(body["error"], "request_timeout");
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_without_an_answer() {
    let app = spawn_app_with(slow).await;
    let answer = exchange(
        &app,
        b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
        Duration::ZERO,
        b"",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(answer.matches("HTTP/1.1").count(), 1, "{answer}");
}

#[tokio::test]
async fn too_many_headers_are_answered_431_with_the_json_error() {
    let app = spawn_app_with(|_| {}).await;
    let answer = exchange(&app, &too_many_headers(), Duration::ZERO, b"").await;
    let (status, body) = parse(&answer);
    assert_eq!(status, 431, "{answer}");
    assert_eq!(body["error"], "headers_too_large");
}

#[tokio::test]
async fn an_unparsable_request_line_is_answered_400_with_the_json_error() {
    let app = spawn_app_with(|_| {}).await;
    let answer = exchange(&app, b"GE\x01T / HTTP/1.1\r\n\r\n", Duration::ZERO, b"").await;
    let (status, body) = parse(&answer);
    assert_eq!(status, 400, "{answer}");
    assert_eq!(body["error"], "malformed_request");
}

#[tokio::test]
async fn an_overlong_uri_is_answered_414_with_the_json_error() {
    let app = spawn_app_with(|_| {}).await;
    let mut request = b"GET /".to_vec();
    request.extend(std::iter::repeat_n(b'a', 70_000));
    request.extend_from_slice(b" HTTP/1.1\r\nHost: x\r\n\r\n");
    let answer = exchange(&app, &request, Duration::ZERO, b"").await;
    let (status, body) = parse(&answer);
    assert_eq!(status, 414, "{answer}");
    assert_eq!(body["error"], "uri_too_long");
}

#[tokio::test]
async fn slow_bodies_cannot_hold_the_connection_slots() {
    let app = spawn_app_with(|c| {
        slow(c);
        c.server.max_connections = NonZero::new(2).unwrap();
    })
    .await;
    // Both slots taken by bodies that never come.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut stream = TcpStream::connect(app.running.addr).await.unwrap();
        stream
            .write_all(
                b"POST /customers/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
                  Content-Length: 100\r\n\r\n{",
            )
            .await
            .unwrap();
        held.push(stream);
    }
    let response = app
        .client
        .get(app.url("/healthz"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .expect("served once the slow bodies time out");
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn requests_refused_before_any_route_are_counted_in_the_metrics() {
    let app = spawn_app_with(slow).await;
    let answer = exchange(&app, &too_many_headers(), Duration::ZERO, b"").await;
    assert_eq!(parse(&answer).0, 431, "{answer}");
    let answer = exchange(&app, b"GE\x01T / HTTP/1.1\r\n\r\n", Duration::ZERO, b"").await;
    assert_eq!(parse(&answer).0, 400, "{answer}");
    let answer = slow_head(&app).await;
    assert_eq!(parse(&answer).0, 408, "{answer}");

    let metrics = app.metrics_text().await;
    for status in [400, 408, 431] {
        let line = format!(
            r#"customer_area_http_requests_total{{method="other",route="other",status="{status}"}} 1"#
        );
        assert!(metrics.contains(&line), "{line} in:\n{metrics}");
    }
}
