//! The audit log of /admin over real HTTP: who did what to which customer from where, what a
//! support agent may read of it, the customer's own view (never naming the agent), and the
//! database refusing to rewrite it.

use crate::common::{TestApp, spawn_app_with};
use customer_area::config::{SecondFactorRule, Secret};
use customer_area::domain::Role;
use customer_area::store::sql::params;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const API_TOKEN: &str = "admin-token-for-tests-0123456789";

async fn audited_app() -> TestApp {
    spawn_app_with(|c| {
        c.admin.api_token = Secret::new(API_TOKEN);
        c.console.second_factor = SecondFactorRule::Optional;
    })
    .await
}

async fn customer_id(app: &TestApp, email: &str) -> String {
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/admin/customers/{email}"),
            Some(API_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["id"].as_str().unwrap().to_owned()
}

async fn audit(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let (status, body) = app
        .call(
            Method::GET,
            &format!("/admin/audit{query}"),
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"].as_array().unwrap().clone()
}

async fn set_subscriptions(app: &TestApp, token: &str, customer: &str) {
    let (status, body) = app
        .call(
            Method::PUT,
            &format!("/admin/customers/{customer}/subscriptions"),
            Some(token),
            Some(json!({"subscriptions": ["newsletter"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn the_audit_names_the_agent_and_the_customer_sees_what_was_done_but_not_who() {
    let app = audited_app().await;
    app.add_newsletter(API_TOKEN).await;
    let customer_token = app.active_customer("shopper@example.com").await;
    let id = customer_id(&app, "shopper@example.com").await;
    let support = app
        .staff_token("agent@shop.example.com", Role::Support)
        .await;
    set_subscriptions(&app, &support, "shopper@example.com").await;

    let owner = app.staff_token("owner@shop.example.com", Role::Owner).await;
    let events = audit(&app, &owner, "?actor=staff:agent@shop.example.com").await;
    assert_eq!(events.len(), 1, "{events:?}");
    let event = &events[0];
    assert_eq!(event["actor"], "staff:agent@shop.example.com");
    assert_eq!(event["action"], "setSubscriptions");
    assert_eq!(
        event["customer_id"],
        id.as_str(),
        "the id, though the path named the email"
    );
    assert_eq!(event["ip"], "127.0.0.1");
    assert_eq!(event["detail"], "Replace a customer's subscriptions");

    let (status, activity) = app
        .call(
            Method::GET,
            "/customers/activity",
            Some(&customer_token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let told: Vec<&Value> = activity["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "support_action")
        .collect();
    assert_eq!(told.len(), 1, "{activity}");
    assert_eq!(
        told[0]["detail"],
        "your subscriptions were changed by the shop"
    );
    assert!(
        !activity.to_string().contains("agent@"),
        "the agent is never named: {activity}"
    );
}

#[tokio::test]
async fn a_support_agent_reads_only_the_audit_of_customers_they_touched() {
    let app = audited_app().await;
    app.add_newsletter(API_TOKEN).await;
    app.active_customer("mine@example.com").await;
    app.active_customer("other@example.com").await;
    let mine = customer_id(&app, "mine@example.com").await;
    let other = customer_id(&app, "other@example.com").await;
    let support = app
        .staff_token("agent@shop.example.com", Role::Support)
        .await;
    set_subscriptions(&app, API_TOKEN, &other).await;
    set_subscriptions(&app, API_TOKEN, &mine).await;
    set_subscriptions(&app, &support, &mine).await;

    let seen = audit(&app, &support, "").await;
    // Every action on their customer, the machine token's too; none on the other.
    assert!(
        seen.iter().all(|e| e["customer_id"] == mine.as_str()),
        "{seen:?}"
    );
    assert_eq!(
        seen[0]["actor"], "staff:agent@shop.example.com",
        "newest first"
    );
    assert!(
        seen.iter()
            .any(|e| e["actor"] == "api_token" && e["action"] == "setSubscriptions")
    );
    assert!(
        audit(&app, &support, &format!("?customer={other}"))
            .await
            .is_empty()
    );

    // The machine token (as an owner would) reads everything, and filters by customer.
    let all = audit(&app, API_TOKEN, "").await;
    assert!(
        all.iter().any(|e| e["customer_id"] == other.as_str()),
        "{all:?}"
    );
    let about_other = audit(&app, API_TOKEN, &format!("?customer={other}")).await;
    assert!(!about_other.is_empty());
    assert!(
        about_other
            .iter()
            .all(|e| e["customer_id"] == other.as_str())
    );
    let page = audit(&app, API_TOKEN, "?limit=1").await;
    assert_eq!(page.len(), 1);
    let before = page[0]["id"].as_i64().unwrap();
    let older = audit(&app, API_TOKEN, &format!("?before={before}")).await;
    assert!(older.iter().all(|e| e["id"].as_i64().unwrap() < before));
    assert_eq!(older.len(), all.len() - 1);

    let (status, body) = app
        .call(Method::GET, "/admin/audit?limit=0", Some(API_TOKEN), None)
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
}

#[tokio::test]
async fn the_database_refuses_to_change_or_remove_an_audit_entry() {
    let app = audited_app().await;
    app.add_newsletter(API_TOKEN).await;
    app.active_customer("shopper@example.com").await;
    set_subscriptions(&app, API_TOKEN, "shopper@example.com").await;
    let db = app.db();
    let entries: i64 = db
        .query_row("SELECT count(*) FROM audit_log", params![], |r| r.only())
        .unwrap();
    assert!(entries >= 1);
    let update = db.execute("UPDATE audit_log SET actor = 'someone else'", params![]);
    assert!(update.is_err(), "an update went through");
    let delete = db.execute("DELETE FROM audit_log", params![]);
    assert!(delete.is_err(), "a delete went through");
    // Deleting the customer leaves the record of what was done to them.
    let (status, _) = app
        .call(
            Method::DELETE,
            "/admin/customers/shopper@example.com",
            Some(API_TOKEN),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let after: i64 = db
        .query_row("SELECT count(*) FROM audit_log", params![], |r| r.only())
        .unwrap();
    assert_eq!(after, entries + 1, "the deletion is recorded too");
}
