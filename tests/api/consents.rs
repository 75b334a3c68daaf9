//! The consent ledger: every opt-in and opt-out, from every source, with who acted, kept
//! append-only, shown to the admin and in the customer's data export.

use crate::common::{TestApp, spawn_app_with};
use customer_area::config::Secret;
use customer_area::flows::{ImportFile, ImportOptions};
use customer_area::store::sql::params;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

const TOKEN: &str = "admin-token-for-tests-0123456789";
const BROWSER: &str = "Consent-Browser/2.0";
const OWNER: &str = "Owner-Browser/3.0";

async fn app_with_list() -> TestApp {
    app_with_list_and(|_| {}).await
}

/// [`app_with_list`], with `change` made to the config too.
async fn app_with_list_and(change: impl FnOnce(&mut customer_area::config::Config)) -> TestApp {
    let app = spawn_app_with(|c| {
        c.admin.api_token = Secret::new(TOKEN);
        change(c);
    })
    .await;
    app.add_newsletter(TOKEN).await;
    app
}

async fn ledger(app: &TestApp, email: &str) -> Vec<Value> {
    app.consents(TOKEN, email).await
}

fn summary(entries: &[Value]) -> Vec<(String, String, Option<String>, Option<String>)> {
    entries
        .iter()
        .map(|e| {
            (
                e["action"].as_str().unwrap().to_owned(),
                e["source"].as_str().unwrap().to_owned(),
                e["ip"].as_str().map(str::to_owned),
                e["user_agent"].as_str().map(str::to_owned),
            )
        })
        .collect()
}

#[tokio::test]
async fn each_source_is_recorded_with_the_customer_s_ip_and_agent_where_they_acted() {
    let app = app_with_list().await;
    let token = app.active_customer("ledger@example.com").await;
    let response = app
        .client
        .patch(app.url("/customers/self"))
        .bearer_auth(&token)
        .header("user-agent", BROWSER)
        .json(&json!({ "subscriptions": ["newsletter"] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let (status, body) = app
        .call(
            Method::PUT,
            "/admin/customers/ledger@example.com/subscriptions",
            Some(TOKEN),
            Some(json!({ "subscriptions": [] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let file =
        ImportFile::from_bytes("email,name,subscriptions\nimported@example.com,Imp,newsletter\n");
    app.running
        .services
        .imports()
        .import_customers(file, ImportOptions::default(), |_| {})
        .await
        .unwrap();

    let entries = ledger(&app, "ledger@example.com").await;
    assert_eq!(
        summary(&entries),
        [
            (
                "in".into(),
                "customer".into(),
                Some("127.0.0.1".into()),
                Some(BROWSER.into())
            ),
            ("out".into(), "admin".into(), None, None),
        ]
    );
    assert!(
        entries
            .iter()
            .all(|e| e["list_id"] == "newsletter" && e["at"].is_string())
    );
    assert_eq!(
        summary(&ledger(&app, "imported@example.com").await),
        [("in".into(), "import".into(), None, None)]
    );

    // The customer's own export shows the same ledger.
    let response = app
        .client
        .get(app.url("/customers/self/export"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    let export: Value = response.json().await.unwrap();
    assert_eq!(export["consents"], Value::Array(entries));
}

#[tokio::test]
async fn ledger_entries_are_never_changed_and_leave_only_with_their_customer() {
    let app = app_with_list().await;
    let token = app.active_customer("kept@example.com").await;
    let (status, _) = app
        .patch_self(&token, json!({ "subscriptions": ["newsletter"] }))
        .await;
    assert_eq!(status, StatusCode::OK);
    let db = app.db();
    let update = db.execute("UPDATE consent_records SET action = 'out'", params![]);
    let refused = update.unwrap_err().to_string();
    assert!(refused.contains("append-only"), "{refused}");
    let delete = db.execute("DELETE FROM consent_records", params![]);
    let refused = delete.unwrap_err().to_string();
    assert!(refused.contains("append-only"), "{refused}");
    assert_eq!(ledger(&app, "kept@example.com").await.len(), 1);

    // Erasure: the account's deletion takes its ledger along.
    let (status, _) = app
        .call(Method::DELETE, "/customers/self", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let left: i64 = db
        .query_row("SELECT count(*) FROM consent_records", params![], |r| {
            r.only()
        })
        .unwrap();
    assert_eq!(left, 0);
}

#[tokio::test]
async fn lists_chosen_at_sign_up_are_recorded_at_activation_for_a_new_account_only() {
    let app = app_with_list_and(|c| c.auth.allow_signup = true).await;
    let sign_up = |email: &'static str, lists: Value| {
        app.client
            .post(app.url("/customers/signup"))
            .header("user-agent", BROWSER)
            .json(&json!({"email": email, "name": "Joiner", "subscriptions": lists}))
            .send()
    };
    // An unknown list is refused by name, whatever the address.
    let refused = sign_up("joiner@example.com", json!(["newsletter", "nope"]))
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let body: Value = refused.json().await.unwrap();
    assert!(body["fields"]["subscriptions"].is_string(), "{body}");

    let answered = sign_up("joiner@example.com", json!(["newsletter"]))
        .await
        .unwrap();
    assert_eq!(answered.status(), StatusCode::OK);
    let mail = app.wait_for_email("joiner@example.com", "Activate").await;
    // Nothing is recorded for the visitor who filled in the form...
    assert!(ledger(&app, "joiner@example.com").await.is_empty());
    let link = "https://shop.example.com/activate";
    let activated = app
        .client
        .post(app.url("/customers/activate"))
        .header("user-agent", OWNER)
        .json(&json!({
            "identifier": mail.link_param(link, "identifier"),
            "secret": mail.link_param(link, "secret"),
            "password": crate::common::PASSWORD,
            "password_check": crate::common::PASSWORD,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(activated.status(), StatusCode::OK);
    let token = app
        .token("joiner@example.com", crate::common::PASSWORD)
        .await;
    let (_, customer) = app.get_self(&token).await;
    assert_eq!(
        customer["subscriptions"][0]["id"], "newsletter",
        "{customer}"
    );
    // ...but for the owner of the address, when they activate.
    assert_eq!(
        summary(&ledger(&app, "joiner@example.com").await),
        [(
            "in".to_owned(),
            "signup".to_owned(),
            Some("127.0.0.1".to_owned()),
            Some(OWNER.to_owned())
        )]
    );

    // A sign-up for an address that has an account subscribes it to nothing.
    app.active_customer("member@example.com").await;
    let again = sign_up("member@example.com", json!(["newsletter"]))
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::OK);
    app.wait_for_email("member@example.com", "already have")
        .await;
    assert!(ledger(&app, "member@example.com").await.is_empty());
}
