//! Races between a password check and a change of the password: whatever finishes last, a
//! password that is no longer the customer's never opens a session or changes anything.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::common::{PASSWORD, TestApp, spawn_app_with};
use customer_area::auth::Requester;
use customer_area::domain::NewPassword;
use customer_area::store::sql::params;
use reqwest::StatusCode;
use serde_json::json;

/// Runs `request` while every hashing core is busy, and once it waits for a core (so it has
/// read the stored hash already), replaces `email`'s password hash and ends its sessions, as a
/// password reset does. Returns the request's outcome.
async fn with_reset_while_hashing<T>(
    app: &TestApp,
    email: &str,
    request: impl Future<Output = T> + Send + 'static,
) -> T
where
    T: Send + 'static,
{
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let hasher = app.running.services.hasher().clone();
    // Two more jobs than cores, each queued at once (polled one time here): once only two
    // wait, every core is taken, until the first of them is done.
    let mut busy = Vec::new();
    for _ in 0..cores + 2 {
        let hasher = hasher.clone();
        let mut job = Box::pin(async move {
            hasher
                .hash(
                    &NewPassword::trusted("occupying a core".into()),
                    Requester::Server,
                )
                .await
        });
        std::future::poll_fn(|cx| {
            assert!(job.as_mut().poll(cx).is_pending());
            std::task::Poll::Ready(())
        })
        .await;
        busy.push(job);
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while hasher.queue_depth() > 2 {
        assert!(
            Instant::now() < deadline,
            "the hashing threads never started"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let task = tokio::spawn(request);
    while hasher.queue_depth() < 3 {
        assert!(
            Instant::now() < deadline,
            "the request never queued for a core"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let db = app.db();
    db.execute(
        "UPDATE customers SET password_hash = 'replaced by a reset' WHERE email = ?1",
        params![email],
    )
    .unwrap();
    db.execute(
        "DELETE FROM sessions WHERE customer_id = (SELECT id FROM customers WHERE email = ?1)",
        params![email],
    )
    .unwrap();
    for b in busy {
        b.await.unwrap();
    }
    task.await.unwrap()
}

fn slow_hashing(c: &mut customer_area::config::Config) {
    // Long enough that the password change lands while the request waits for a core.
    c.auth.pbkdf2_iterations = 40_000;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_login_checked_before_a_reset_opens_no_session_after_it() {
    let app = spawn_app_with(slow_hashing).await;
    app.active_customer("raced@example.com").await;
    let (client, url) = (app.client.clone(), app.url("/customers/login"));
    let (status, body) = with_reset_while_hashing(&app, "raced@example.com", async move {
        let response = client
            .post(url)
            .json(&json!({"email": "raced@example.com", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        (
            response.status(),
            response.json::<serde_json::Value>().await.unwrap(),
        )
    })
    .await;
    if let Some(token) = body["token"].as_str() {
        assert_eq!(
            app.get_self(token).await.0,
            StatusCode::UNAUTHORIZED,
            "a session opened with the old password outlives the reset"
        );
    } else {
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_password_change_checked_before_a_reset_changes_nothing_after_it() {
    let app = spawn_app_with(slow_hashing).await;
    let token = app.active_customer("patched@example.com").await;
    let (client, url) = (app.client.clone(), app.url("/customers/self"));
    let status = with_reset_while_hashing(&app, "patched@example.com", async move {
        client
            .patch(url)
            .bearer_auth(token)
            .json(&json!({"current_password": PASSWORD, "password": "a brand new secret", "password_check": "a brand new secret"}))
            .send()
            .await
            .unwrap()
            .status()
    })
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let stored: String = app
        .db()
        .query_row(
            "SELECT password_hash FROM customers WHERE email = 'patched@example.com'",
            params![],
            |r| r.only(),
        )
        .unwrap();
    assert_eq!(stored, "replaced by a reset");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_patch_refused_by_a_reset_during_its_password_check_keeps_none_of_its_other_changes() {
    let app = spawn_app_with(slow_hashing).await;
    let token = app.active_customer("refused@example.com").await;
    let (client, url) = (app.client.clone(), app.url("/customers/self"));
    let status = with_reset_while_hashing(&app, "refused@example.com", async move {
        client
            .patch(url)
            .bearer_auth(token)
            .json(
                &json!({"name": "Changed By The Refused Patch", "phone": "+44 20 7946 0958",
                          "current_password": PASSWORD, "password": "a brand new secret",
                          "password_check": "a brand new secret"}),
            )
            .send()
            .await
            .unwrap()
            .status()
    })
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (name, phone): (Option<String>, Option<String>) = app
        .db()
        .query_row(
            "SELECT name, phone FROM customers WHERE email = 'refused@example.com'",
            params![],
            |r| Ok((r.get("name")?, r.get("phone")?)),
        )
        .unwrap();
    assert_eq!(
        name.as_deref(),
        Some("Test Customer"),
        "refused means unchanged"
    );
    assert_eq!(phone, None);
}
