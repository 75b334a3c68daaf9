//! The console's overview and the queues over real HTTP (owners): `GET /admin/stats`, the
//! emails and webhook deliveries waiting or failed, their retries and a test event.

use crate::common::receiver::Receiver;
use crate::common::{PATIENCE, TestApp, eventually, spawn_app_with};
use customer_area::config::{Secret, Webhook};
use customer_area::store::sql::params;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "admin-token-for-tests-0123456789";

async fn owner_app(receiver: Option<&Receiver>) -> TestApp {
    spawn_app_with(|c| {
        c.admin.api_token = Secret::new(TOKEN);
        c.webhooks = receiver
            .iter()
            .map(|r| Webhook {
                url: r.url(),
                secret: Secret::new(r.secret.clone()),
                events: vec!["customer.deleted".into()],
            })
            .collect();
    })
    .await
}

async fn call(app: &TestApp, method: Method, path: &str) -> (StatusCode, Value) {
    app.call(method, path, Some(TOKEN), None).await
}

async fn ok(app: &TestApp, method: Method, path: &str) -> Value {
    let (status, body) = call(app, method.clone(), path).await;
    assert_eq!(status, StatusCode::OK, "{method} {path}: {body}");
    body
}

#[tokio::test]
async fn the_stats_count_customers_by_status_and_thirty_days_of_sign_ups_oldest_first() {
    let app = owner_app(None).await;
    app.active_customer("active@example.com").await;
    app.active_customer("locked@example.com").await;
    app.create_customer("pending@example.com", "Pending").await;
    app.db()
        .execute(
            "UPDATE customers SET locked_at = 1 WHERE email = ?1",
            params!["locked@example.com"],
        )
        .unwrap();
    // A customer created 40 days ago counts, but on no day of the chart.
    app.create_customer("old@example.com", "Old").await;
    app.db()
        .execute(
            "UPDATE customers SET created_at = created_at - 40 * 86400 WHERE email = ?1",
            params!["old@example.com"],
        )
        .unwrap();

    let stats = ok(&app, Method::GET, "/admin/stats").await;
    assert_eq!(
        stats["customers"],
        json!({"active": 1, "pending": 2, "locked": 1})
    );
    let days = stats["signups_by_day"].as_array().unwrap();
    assert_eq!(days.len(), 30);
    let dates: Vec<&str> = days.iter().map(|d| d["date"].as_str().unwrap()).collect();
    let mut sorted = dates.clone();
    sorted.sort();
    assert_eq!(dates, sorted, "oldest first");
    let today = time::OffsetDateTime::now_utc().date().to_string();
    assert_eq!(days[29], json!({"date": today, "count": 3}));
    assert!(days[..29].iter().all(|d| d["count"] == 0), "{days:?}");
    assert!(stats["emails"]["queued"].is_number() && stats["emails"]["failed"] == 0);
    assert_eq!(stats["webhooks"], json!({"queued": 0, "failed": 0}));
}

#[tokio::test]
async fn a_failed_email_is_listed_without_its_body_and_retried_once() {
    let app = owner_app(None).await;
    app.create_customer("bounce@example.com", "Bounce").await;
    app.wait_for_email("bounce@example.com", "Activate").await;
    let id: i64 = app
        .db()
        .query_row(
            "SELECT id FROM outbox WHERE recipient = ?1",
            params!["bounce@example.com"],
            |row| row.get("id"),
        )
        .unwrap();
    app.db()
        .execute(
            "UPDATE outbox SET status = 'failed', last_error = '550 no such user' WHERE id = ?1",
            params![id],
        )
        .unwrap();

    let stats = ok(&app, Method::GET, "/admin/stats").await;
    assert_eq!(stats["emails"]["failed"], 1);
    let page = ok(&app, Method::GET, "/admin/outbox?status=failed").await;
    let emails = page["emails"].as_array().unwrap();
    assert_eq!(emails.len(), 1, "{page}");
    assert_eq!(emails[0]["id"], id);
    assert_eq!(emails[0]["kind"], "activation");
    assert!(emails[0].get("raw").is_none() && !page.to_string().contains("secret="));
    let sent_excluded = ok(&app, Method::GET, "/admin/outbox").await;
    assert_eq!(sent_excluded["emails"].as_array().unwrap().len(), 1);
    let older = ok(&app, Method::GET, &format!("/admin/outbox?before={id}")).await;
    assert_eq!(older["emails"], json!([]));

    let retry = format!("/admin/outbox/{id}/retry");
    let (status, body) = call(&app, Method::POST, &retry).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("erased"),
        "{body}"
    );
    // An email whose body is kept (one without a code) can go again.
    let raw = "From: shop@example.com\r\nTo: bounce@example.com\r\nSubject: Kept\r\n\r\nHello\r\n";
    app.db()
        .execute(
            "UPDATE outbox SET raw = ?2 WHERE id = ?1",
            params![id, raw.as_bytes()],
        )
        .unwrap();
    assert_eq!(
        ok(&app, Method::POST, &retry).await,
        json!({"result": "queued"})
    );
    eventually(PATIENCE, "the email is sent again", || {
        std::future::ready(
            (app.delivered()
                .iter()
                .filter(|m| m.to == "bounce@example.com")
                .count()
                == 2)
                .then_some(()),
        )
    })
    .await;
    let (status, body) = call(&app, Method::POST, &retry).await;
    assert_eq!(status, StatusCode::CONFLICT, "not failed any more: {body}");
    let (status, _) = call(&app, Method::POST, "/admin/outbox/999999/retry").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&app, Method::GET, "/admin/outbox?status=sent").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);

    let log = ok(&app, Method::GET, "/admin/audit").await;
    let retries: Vec<&Value> = log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == "retryEmail")
        .collect();
    assert_eq!(retries.len(), 1, "refused retries are not audited: {log}");
}

#[tokio::test]
async fn a_test_event_goes_to_every_endpoint_and_a_failed_delivery_is_retried() {
    let receiver = Receiver::start().await;
    let app = owner_app(Some(&receiver)).await;
    let queued = ok(&app, Method::POST, "/admin/webhooks/test").await;
    assert_eq!(queued, json!({"result": "queued", "count": 1}));
    let delivered = eventually(PATIENCE, "the test event arrives", || {
        std::future::ready(receiver.delivered().first().cloned())
    })
    .await;
    assert_eq!(
        delivered.event_type(),
        "ping",
        "though the endpoint takes only deletions"
    );

    let page = eventually(PATIENCE, "the delivery is recorded as sent", || async {
        let page = ok(&app, Method::GET, "/admin/webhooks/deliveries?status=sent").await;
        (page["deliveries"].as_array().unwrap().len() == 1).then_some(page)
    })
    .await;
    let id = page["deliveries"][0]["id"].as_i64().unwrap();
    assert_eq!(page["deliveries"][0]["event_type"], "ping");
    let retry = format!("/admin/webhooks/deliveries/{id}/retry");
    let (status, body) = call(&app, Method::POST, &retry).await;
    assert_eq!(status, StatusCode::CONFLICT, "sent, not failed: {body}");

    app.db()
        .execute(
            "UPDATE webhook_outbox SET status = 'failed' WHERE id = ?1",
            params![id],
        )
        .unwrap();
    let stats = ok(&app, Method::GET, "/admin/stats").await;
    assert_eq!(stats["webhooks"]["failed"], 1);
    assert_eq!(
        ok(&app, Method::POST, &retry).await,
        json!({"result": "queued"})
    );
    eventually(PATIENCE, "the retried delivery arrives", || {
        std::future::ready((receiver.delivered().len() == 2).then_some(()))
    })
    .await;
    let (status, _) = call(
        &app,
        Method::POST,
        "/admin/webhooks/deliveries/999999/retry",
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
