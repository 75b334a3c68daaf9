//! Throttling over real HTTP: per-account login back-off, per-IP budgets, trusted proxies.

use std::num::NonZero;
use std::time::Duration;

use crate::common::{PASSWORD, TestApp, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn login_from(
    app: &TestApp,
    forwarded_for: Option<&str>,
    email: &str,
    password: &str,
) -> (StatusCode, Option<String>, Value) {
    let mut request = app
        .client
        .post(app.url("/customers/login"))
        .json(&json!({"email": email, "password": password}));
    if let Some(ip) = forwarded_for {
        request = request.header("x-forwarded-for", ip);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let retry_after = response
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    (status, retry_after, response.json().await.unwrap())
}

#[tokio::test]
async fn repeated_failures_delay_an_account_until_a_success_clears_it() {
    let app = spawn_app_with(|c| c.limits.login_free_failures = 2).await;
    app.active_customer("target@example.com").await;
    for _ in 0..3 {
        let (status, _, _) = login_from(&app, None, "target@example.com", "wrong").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, retry_after, body) = login_from(&app, None, "target@example.com", PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits: {body}"
    );
    assert_eq!(body["error"], "throttled");
    assert_eq!(retry_after.as_deref(), Some("1"));
    // Other accounts are not affected.
    assert_eq!(
        login_from(&app, None, "other@example.com", "x").await.0,
        StatusCode::UNAUTHORIZED
    );

    // The one-second delay runs out on the throttles' clock, without waiting for it.
    app.running
        .services
        .throttles()
        .clock()
        .advance(Duration::from_secs(1));
    assert_eq!(
        login_from(&app, None, "target@example.com", PASSWORD)
            .await
            .0,
        StatusCode::OK
    );
    // The success cleared the failures: the next mistake is free again.
    assert_eq!(
        login_from(&app, None, "target@example.com", "wrong")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        login_from(&app, None, "target@example.com", PASSWORD)
            .await
            .0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn unknown_addresses_are_throttled_exactly_like_known_ones() {
    let app = spawn_app_with(|c| c.limits.login_free_failures = 1).await;
    app.active_customer("known@example.com").await;
    let mut answers = Vec::new();
    for email in ["known@example.com", "ghost@example.com"] {
        let first = login_from(&app, None, email, "wrong").await;
        let second = login_from(&app, None, email, "wrong").await;
        let third = login_from(&app, None, email, "wrong").await;
        answers.push((first, second, third));
    }
    assert_eq!(answers[0], answers[1]);
    assert_eq!(answers[0].2.0, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn a_client_ip_has_a_login_budget() {
    let app = spawn_app_with(|c| c.limits.login_per_ip_per_minute = NonZero::new(3).unwrap()).await;
    for i in 0..3 {
        let (status, _, _) = login_from(&app, None, &format!("user{i}@example.com"), "x").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, retry_after, body) = login_from(&app, None, "fresh@example.com", "x").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert!(retry_after.unwrap().parse::<u64>().unwrap() >= 1);
    // X-Forwarded-For from an untrusted peer changes nothing.
    let (status, _, _) = login_from(&app, Some("198.51.100.7"), "fresh@example.com", "x").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}

#[tokio::test]
async fn forwarded_addresses_count_only_behind_a_trusted_proxy() {
    let app = spawn_app_with(|c| {
        c.limits.login_per_ip_per_minute = NonZero::new(2).unwrap();
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    for _ in 0..2 {
        assert_eq!(
            login_from(&app, Some("198.51.100.1"), "a@example.com", "x")
                .await
                .0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        login_from(&app, Some("198.51.100.1"), "a@example.com", "x")
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the same proxy has its own budget…
    assert_eq!(
        login_from(&app, Some("198.51.100.2"), "b@example.com", "x")
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    // …and a client cannot escape its budget by prepending a forged address.
    assert_eq!(
        login_from(&app, Some("10.9.9.9, 198.51.100.1"), "a@example.com", "x")
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn presenting_codes_has_a_per_ip_budget() {
    let app = spawn_app_with(|c| c.limits.codes_per_ip_per_minute = NonZero::new(2).unwrap()).await;
    let body = json!({"identifier": "someone", "secret": "AAAAAAAAAA", "password": PASSWORD, "password_check": PASSWORD});
    assert_eq!(
        app.post("/customers/activate", body.clone()).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.post("/customers/activate", body.clone()).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    let (status, body) = app.post("/customers/activate", body).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(body["error"], "throttled");
}

async fn reset(app: &TestApp, email: &str) -> (StatusCode, Value) {
    app.post(
        "/customers/password_reset",
        json!({"email": email, "reset_uri": "/reset"}),
    )
    .await
}

#[tokio::test]
async fn an_address_gets_one_reset_email_a_minute_and_the_answer_never_changes() {
    let app = spawn_app_with(|_| {}).await;
    app.active_customer("flooded@example.com").await;
    let answers = vec![
        reset(&app, "flooded@example.com").await,
        reset(&app, "flooded@example.com").await,
        reset(&app, "flooded@example.com").await,
    ];
    assert!(
        answers
            .iter()
            .all(|a| a == &(StatusCode::OK, json!({"result": "email_sent"}))),
        "{answers:?}"
    );
    app.wait_for_email("flooded@example.com", "Reset").await;
    // The budget is drawn before the answer; a refused request hands no work on, so the
    // outbox already holds everything these three answers will ever queue.
    assert_eq!(
        app.queued("password_reset"),
        1,
        "one email a minute to one address"
    );
}

#[tokio::test]
async fn a_client_ip_has_a_budget_for_email_requests_whatever_the_address() {
    let app = spawn_app_with(|c| c.limits.emails_per_ip_per_hour = NonZero::new(2).unwrap()).await;
    app.active_customer("known@example.com").await;
    assert_eq!(reset(&app, "known@example.com").await.0, StatusCode::OK);
    assert_eq!(reset(&app, "ghost@example.com").await.0, StatusCode::OK);
    let known = reset(&app, "known@example.com").await;
    let unknown = reset(&app, "ghost@example.com").await;
    assert_eq!(known.0, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        known, unknown,
        "the same 429 for known and unknown addresses"
    );
}

#[tokio::test]
async fn a_throttled_login_never_blocks_a_password_reset() {
    let app = spawn_app_with(|c| {
        c.limits.login_free_failures = 1;
        c.limits.login_per_ip_per_minute = NonZero::new(3).unwrap();
    })
    .await;
    app.active_customer("locked@example.com").await;
    for _ in 0..4 {
        login_from(&app, None, "locked@example.com", "wrong").await;
    }
    assert_eq!(
        login_from(&app, None, "locked@example.com", PASSWORD)
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(reset(&app, "locked@example.com").await.0, StatusCode::OK);
    app.wait_for_email("locked@example.com", "Reset").await;
}

#[tokio::test]
async fn reset_codes_and_email_keys_share_the_per_ip_budget_for_codes() {
    let app = spawn_app_with(|c| c.limits.codes_per_ip_per_minute = NonZero::new(2).unwrap()).await;
    let do_reset = json!({"email": "someone@example.com", "code": "AAAAAAAAAA"});
    let confirm = json!({"identifier": "someone", "key": "AAAAAAAAAAAAAAAAAAAAAA"});
    assert_eq!(
        app.post("/customers/do_reset", do_reset.clone()).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        app.post("/customers/newemail_confirm", confirm.clone())
            .await
            .0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    for (path, body) in [
        ("/customers/do_reset", do_reset),
        ("/customers/newemail_confirm", confirm),
    ] {
        let (status, body) = app.post(path, body).await;
        assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{path}: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parallel_guesses_each_count_as_a_failure() {
    let app = spawn_app_with(|c| {
        c.limits.login_free_failures = 3;
        c.limits.login_per_ip_per_minute = NonZero::new(1000).unwrap();
    })
    .await;
    app.active_customer("guessed@example.com").await;
    let guesses = (0..60).map(|i| {
        let (client, url) = (app.client.clone(), app.url("/customers/login"));
        tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"email": "guessed@example.com", "password": format!("guess {i}")}))
                .send()
                .await
                .unwrap()
                .status()
        })
    });
    let mut checked = 0;
    for guess in guesses.collect::<Vec<_>>() {
        if guess.await.unwrap() == StatusCode::UNAUTHORIZED {
            checked += 1;
        }
    }
    assert!(
        checked <= 4,
        "{checked} of 60 parallel guesses were checked; the budget is 3 free failures, then a wait"
    );
}

#[tokio::test]
async fn a_wrong_current_password_counts_as_a_failed_login() {
    let app = spawn_app_with(|c| c.limits.login_free_failures = 2).await;
    let token = app.active_customer("patcher@example.com").await;
    let change = json!({"current_password": "wrong", "password": "a new password", "password_check": "a new password"});
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(app.patch_self(&token, change.clone()).await.0);
    }
    assert_eq!(statuses[3], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    assert_eq!(
        login_from(&app, None, "patcher@example.com", PASSWORD)
            .await
            .0,
        StatusCode::TOO_MANY_REQUESTS,
        "the account's login waits too"
    );
}
