//! Webhooks: every customer change reaches the shop's endpoints signed per Standard Webhooks,
//! at least once, in order per customer, through outages, retries and a killed server.

use std::collections::HashMap;
use std::num::NonZero;

use crate::common::binary::Binary;
use crate::common::receiver::{Receiver, new_secret};
use crate::common::{PATIENCE, TestApp, TestDb, eventually, spawn_app_with, wait_until};
use customer_area::config::{Config, Secret, Webhook};
use customer_area::store::sql::params;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "admin-token-for-tests-0123456789";

/// Sends events to `receivers`, retrying after about a second.
fn with_hooks(config: &mut Config, receivers: &[&Receiver]) {
    config.admin.api_token = Secret::new(TOKEN);
    config.webhook_delivery.retry_first_seconds = NonZero::new(1).unwrap();
    config.webhook_delivery.retry_max_seconds = NonZero::new(1).unwrap();
    config.webhooks = receivers
        .iter()
        .map(|r| Webhook {
            url: r.url(),
            secret: Secret::new(r.secret.clone()),
            events: vec![],
        })
        .collect();
}

async fn app_for(receivers: &[&Receiver]) -> TestApp {
    spawn_app_with(|c| with_hooks(c, receivers)).await
}

/// Waits until `receiver` has accepted `count` events, and returns them.
async fn wait_for_events(
    receiver: &Receiver,
    count: usize,
) -> Vec<crate::common::receiver::Delivery> {
    let what = format!("{count} events are delivered");
    eventually(PATIENCE, &what, || {
        let delivered = receiver.delivered();
        std::future::ready((delivered.len() >= count).then_some(delivered))
    })
    .await
}

async fn rename(app: &TestApp, token: &str, name: &str) {
    let (status, body) = app.patch_self(token, json!({ "name": name })).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn every_kind_of_change_arrives_signed_and_without_secrets() {
    let receiver = Receiver::start().await;
    let app = app_for(&[&receiver]).await;
    app.add_newsletter(TOKEN).await;
    let token = app.active_customer("hooked@example.com").await;
    rename(&app, &token, "Renamed Customer").await;
    let (status, body) = app
        .patch_self(&token, json!({ "subscriptions": ["newsletter"] }))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let id = body["id"].as_str().unwrap().to_owned();
    let (status, _) = app
        .call(Method::DELETE, "/customers/self", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);

    let events = wait_for_events(&receiver, 5).await;
    let types: Vec<String> = events.iter().map(|e| e.event_type()).collect();
    assert_eq!(
        types,
        [
            "customer.created",
            "customer.activated",
            "customer.updated",
            "subscriptions.changed",
            "customer.deleted"
        ]
    );
    for event in &events {
        assert!(event.verified, "{event:?}");
        assert!(event.id.starts_with("msg_"));
        let body = event.json();
        assert!(body["timestamp"].is_string());
        assert_eq!(body["data"]["id"], id.as_str());
        for secret in ["password", "token", "secret", PASSWORD_SHOWN] {
            assert!(!event.body.contains(secret), "{secret} in {}", event.body);
        }
        // A body changed on the way no longer verifies.
        let tampered = event.body.replace("example.com", "example.net");
        assert!(tampered == event.body || !receiver.verifies(event, &tampered));
    }
    assert_eq!(events[2].json()["data"]["name"], "Renamed Customer");
    assert_eq!(
        events[3].json()["data"]["subscriptions"][0]["id"],
        "newsletter"
    );
    assert_eq!(events[4].json()["data"], json!({ "id": id }));
    // Every webhook-id is distinct: one per event.
    let mut ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
    ids.dedup();
    assert_eq!(ids.len(), events.len());
}

/// The test password, as it must never appear in an event.
const PASSWORD_SHOWN: &str = crate::common::PASSWORD;

#[tokio::test]
async fn a_receiver_that_was_down_gets_every_event_afterwards_in_order_per_customer() {
    let receiver = Receiver::start().await;
    receiver.set_down(true);
    let app = app_for(&[&receiver]).await;
    let alice = app.active_customer("alice@example.com").await;
    let bob = app.active_customer("bob@example.com").await;
    for round in 1..=4 {
        rename(&app, &alice, &format!("Alice {round}")).await;
        rename(&app, &bob, &format!("Bob {round}")).await;
    }
    wait_until(PATIENCE, "the receiver has refused attempts", || {
        receiver.refused() >= 2
    })
    .await;
    assert!(receiver.delivered().is_empty());
    receiver.set_down(false);

    // 2 × (created, activated) + 8 updates.
    let events = wait_for_events(&receiver, 12).await;
    assert_eq!(events.len(), 12, "each event once");
    let mut names: HashMap<String, Vec<String>> = HashMap::new();
    for event in events
        .iter()
        .filter(|e| e.event_type() == "customer.updated")
    {
        let data = event.json()["data"].clone();
        names
            .entry(data["email"].as_str().unwrap().to_owned())
            .or_default()
            .push(data["name"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        names["alice@example.com"],
        ["Alice 1", "Alice 2", "Alice 3", "Alice 4"]
    );
    assert_eq!(
        names["bob@example.com"],
        ["Bob 1", "Bob 2", "Bob 3", "Bob 4"]
    );
    for email in ["alice@example.com", "bob@example.com"] {
        let of_customer: Vec<String> = events
            .iter()
            .filter(|e| e.json()["data"]["email"] == email)
            .map(|e| e.event_type())
            .collect();
        assert_eq!(
            &of_customer[..2],
            ["customer.created", "customer.activated"]
        );
    }
}

#[tokio::test]
async fn a_500_then_200_delivers_the_same_webhook_id_twice_and_is_counted() {
    let receiver = Receiver::start().await;
    receiver.answer_next(&[500]);
    let app = app_for(&[&receiver]).await;
    app.create_customer("retried@example.com", "Retried").await;
    let delivered = wait_for_events(&receiver, 1).await;
    let all = receiver.deliveries();
    assert_eq!(all.len(), 2, "{all:?}");
    assert_eq!(all[0].status, 500);
    assert_eq!(all[1].status, 200);
    assert_eq!(all[0].id, all[1].id);
    assert_eq!(all[0].body, all[1].body);
    assert_eq!(delivered[0].id, all[0].id);

    let (status, metrics) = metrics(&app).await;
    assert_eq!(status, StatusCode::OK);
    let endpoint = receiver.url();
    for outcome in ["retry", "delivered"] {
        let line = format!(
            "customer_area_webhook_attempts_total{{endpoint=\"{endpoint}\",outcome=\"{outcome}\"}} 1"
        );
        assert!(metrics.contains(&line), "{line} missing from:\n{metrics}");
    }
    let listed = app
        .running
        .services
        .webhooks()
        .list(None, 10)
        .await
        .unwrap();
    assert_eq!(listed[0].status, "sent");
    assert_eq!(listed[0].attempts, 2);
}

#[tokio::test]
async fn a_429_with_retry_after_is_tried_again_no_sooner_than_asked() {
    let receiver = Receiver::start().await;
    receiver.answer_next(&[429]);
    receiver.ask_retry_after(4);
    // The backoff alone would try again within 2 s (1 s doubled once, jittered below it).
    let app = spawn_app_with(|c| {
        with_hooks(c, &[&receiver]);
        c.webhook_delivery.retry_max_seconds = NonZero::new(10).unwrap();
    })
    .await;
    app.create_customer("patient@example.com", "Patient").await;
    wait_for_events(&receiver, 1).await;
    let all = receiver.deliveries();
    assert_eq!(all.iter().map(|d| d.status).collect::<Vec<_>>(), [429, 200]);
    assert_eq!(all[0].id, all[1].id);
    let waited = all[1].at - all[0].at;
    assert!(
        waited >= std::time::Duration::from_secs(4),
        "tried again after {waited:?}, sooner than Retry-After asked"
    );
}

async fn metrics(app: &TestApp) -> (StatusCode, String) {
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    (response.status(), response.text().await.unwrap())
}

#[tokio::test]
async fn a_refusing_4xx_fails_at_once_and_webhooks_retry_sends_it_again() {
    let receiver = Receiver::start().await;
    receiver.answer_next(&[410]);
    let app = app_for(&[&receiver]).await;
    app.create_customer("refused@example.com", "Refused").await;
    let webhooks = app.running.services.webhooks();
    let failed = eventually(PATIENCE, "the event is marked failed", || async {
        let failed = webhooks.list(Some("failed".into()), 10).await.unwrap();
        (!failed.is_empty()).then_some(failed)
    })
    .await;
    assert_eq!(failed[0].attempts, 1);
    assert!(failed[0].last_error.as_deref().unwrap().contains("410"));
    assert_eq!(receiver.deliveries().len(), 1);

    assert_eq!(webhooks.retry_failed(Some(failed[0].id)).await.unwrap(), 1);
    let delivered = wait_for_events(&receiver, 1).await;
    assert_eq!(delivered[0].id, receiver.deliveries()[0].id);
}

#[tokio::test]
async fn one_endpoint_down_never_holds_back_another() {
    let (down, up) = (Receiver::start().await, Receiver::start().await);
    down.set_down(true);
    let app = app_for(&[&down, &up]).await;
    for n in 0..3 {
        app.create_customer(&format!("c{n}@example.com"), "Someone")
            .await;
    }
    let events = wait_for_events(&up, 3).await;
    assert!(events.iter().all(|e| e.verified));
    assert!(down.delivered().is_empty());
}

#[tokio::test]
async fn an_endpoint_gets_only_the_events_it_asked_for() {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(|c| {
        with_hooks(c, &[&receiver]);
        c.webhooks[0].events = vec!["customer.deleted".into()];
    })
    .await;
    let created = app
        .create_customer("filtered@example.com", "Filtered")
        .await;
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/admin/customers/{}", created.id.as_str()),
            Some(TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let events = wait_for_events(&receiver, 1).await;
    assert_eq!(events[0].event_type(), "customer.deleted");
    let all = app
        .running
        .services
        .webhooks()
        .list(None, 10)
        .await
        .unwrap();
    assert_eq!(all.len(), 1, "only the wanted event is queued");
}

/// The config file of a binary test: its own database (a fresh PostgreSQL one when the suite
/// runs on PostgreSQL), events to `receiver`.
fn config_file(dir: &std::path::Path, receiver: &Receiver, secret: &str) -> std::path::PathBuf {
    config_file_and_db(dir, receiver, secret).0
}

/// [`config_file`], and the database it names.
fn config_file_and_db(
    dir: &std::path::Path,
    receiver: &Receiver,
    secret: &str,
) -> (std::path::PathBuf, TestDb) {
    let path = dir.join("customer-area.toml");
    let url = crate::common::postgres_server()
        .map(|server| crate::common::fresh_postgres_database(&server))
        .unwrap_or_default();
    let db = if url.is_empty() {
        TestDb::Sqlite(dir.join("db.sqlite"))
    } else {
        TestDb::Postgres(url.clone())
    };
    std::fs::write(
        &path,
        format!(
            "[database]\npath = \"{db}\"\nurl = \"{database_url}\"\n[mail]\ndir = \"{outbox}\"\n[auth]\npbkdf2_iterations = 1000\n\
             [admin]\napi_token = \"{TOKEN}\"\n\
             [webhook_delivery]\nretry_first_seconds = 1\nretry_max_seconds = 1\n\
             [[webhooks]]\nurl = \"{url}\"\nsecret = \"{secret}\"\n",
            db = dir.join("db.sqlite").display(),
            database_url = url,
            outbox = dir.join("outbox").display(),
            url = receiver.url(),
        ),
    )
    .unwrap();
    (path, db)
}

#[tokio::test]
async fn a_server_killed_between_commit_and_delivery_loses_no_event() {
    let receiver = Receiver::start().await;
    receiver.set_down(true);
    let dir = tempfile::tempdir().unwrap();
    let (config, db) = config_file_and_db(dir.path(), &receiver, &receiver.secret);
    let mut serving = Binary::new().config(&config).quiet().serve();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{}", serving.port);
    for n in 0..5 {
        let response = client
            .post(format!("{base}/admin/customers"))
            .bearer_auth(TOKEN)
            .json(&json!({ "email": format!("k{n}@example.com"), "name": "Killed" }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
    }
    // SIGKILL: no shutdown, nothing flushed beyond what was committed.
    serving.child.kill().unwrap();
    serving.child.wait().unwrap();
    assert!(receiver.delivered().is_empty());
    // On PostgreSQL the killed server still holds the endpoint's lease, which the next server
    // may take only once it has run out (a minute): age it, as time would.
    db.execute(
        "UPDATE leases SET until_ms = 0 WHERE name LIKE 'webhook:%'",
        params![],
    )
    .unwrap();

    receiver.set_down(false);
    let mut restarted = Binary::new().config(&config).quiet().serve();
    let events = wait_for_events(&receiver, 5).await;
    restarted.child.kill().unwrap();
    restarted.child.wait().unwrap();
    let mut emails: Vec<String> = events
        .iter()
        .map(|e| e.json()["data"]["email"].as_str().unwrap().to_owned())
        .collect();
    emails.sort();
    emails.dedup();
    assert_eq!(
        emails.len(),
        5,
        "every committed creation announced: {emails:?}"
    );
    assert!(
        events
            .iter()
            .all(|e| e.verified && e.event_type() == "customer.created")
    );
}

#[tokio::test]
async fn webhooks_test_sends_a_signed_ping_and_list_shows_the_outbox() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let config = config_file(dir.path(), &receiver, &receiver.secret);
    let output = Binary::new()
        .config(&config)
        .args(["webhooks", "test", &receiver.url()])
        .output_async()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let pings = receiver.delivered();
    assert_eq!(pings.len(), 1);
    assert!(pings[0].verified);
    assert_eq!(pings[0].event_type(), "ping");

    let output = Binary::new()
        .config(&config)
        .args(["webhooks", "test", "http://127.0.0.1:9/not-configured"])
        .output_async()
        .await
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("not a configured webhook endpoint"));

    let output = Binary::new()
        .config(&config)
        .args(["webhooks", "list", "--status", "failed", "--json"])
        .output_async()
        .await
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let listed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(listed, json!([]));
}

#[tokio::test]
async fn serve_refuses_a_bad_webhook_secret_or_url_naming_it() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    for (secret, url, named) in [
        ("not-a-whsec-secret", receiver.url(), "webhooks[0].secret"),
        (
            &*new_secret(),
            "ftp://shop.example/hooks".to_owned(),
            "webhooks[0].url",
        ),
    ] {
        let path = config_file(dir.path(), &receiver, secret);
        let text = std::fs::read_to_string(&path)
            .unwrap()
            .replace(&receiver.url(), &url);
        std::fs::write(&path, text).unwrap();
        let output = Binary::new()
            .config(&path)
            .arg("serve")
            .env("CUSTOMER_AREA_SERVER_BIND", "127.0.0.1:0")
            .output_async()
            .await
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(named), "{named} not in {stderr}");
    }
}

#[tokio::test]
async fn a_sign_up_s_lists_are_announced_when_it_activates_and_not_before() {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(|c| {
        with_hooks(c, &[&receiver]);
        c.auth.allow_signup = true;
    })
    .await;
    app.add_newsletter(TOKEN).await;
    let (status, body) = app
        .post(
            "/customers/signup",
            json!({"email": "joiner@example.com", "name": "Joiner", "subscriptions": ["newsletter"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let created = wait_for_events(&receiver, 1).await;
    assert_eq!(created[0].event_type(), "customer.created");
    let data = &created[0].json()["data"];
    assert_eq!(data["subscriptions"], json!([]), "{data}");
    app.activate_pending("joiner@example.com").await;
    let events = lists_announced_at_activation(&receiver).await;
    let data = &events[2].json()["data"];
    assert_eq!(data["subscriptions"][0]["id"], "newsletter", "{data}");
}

#[tokio::test]
async fn a_pending_customer_s_lists_are_announced_only_when_it_activates() {
    let receiver = Receiver::start().await;
    let app = spawn_app_with(|c| with_hooks(c, &[&receiver])).await;
    app.add_newsletter(TOKEN).await;
    let created = app.create_customer("guest@example.com", "Guest").await;
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/admin/customers/{}/subscriptions", created.id.as_str()),
            Some(TOKEN),
            Some(json!({"subscriptions": ["newsletter"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let events = wait_for_events(&receiver, 1).await;
    assert_eq!(events[0].event_type(), "customer.created");
    // Activating is what the shop hears next: no subscriptions.changed came before it.
    app.activate_pending("guest@example.com").await;
    lists_announced_at_activation(&receiver).await;
}

/// Waits for the events of a customer created pending with lists and then activated: their
/// lists are announced right after the activation, never before.
async fn lists_announced_at_activation(
    receiver: &Receiver,
) -> Vec<crate::common::receiver::Delivery> {
    let events = wait_for_events(receiver, 3).await;
    let types: Vec<String> = events.iter().map(|e| e.event_type()).collect();
    assert_eq!(
        types,
        [
            "customer.created",
            "customer.activated",
            "subscriptions.changed"
        ]
    );
    events
}
