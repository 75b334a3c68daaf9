//! What the outbox keeps: nothing queued for an account outlives its deletion but the receipt.

use crate::common::smtp::Mode;
use crate::common::{PATIENCE, spawn_app, wait_until};
use customer_area::store::sql::params;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn deleting_an_account_drops_its_queued_emails_but_the_receipt() {
    let app = spawn_app().await;
    let token = app.active_customer("leaving@example.com").await;
    app.smtp.set_mode(Mode::Down);
    let (status, _) = app
        .post(
            "/customers/password_reset",
            json!({"email": "leaving@example.com", "reset_uri": "/reset"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let db = app.db();
    let queued_kinds = || -> Vec<String> {
        db.query_map(
            "SELECT kind FROM outbox WHERE recipient = 'leaving@example.com'
             AND status = 'queued' ORDER BY id",
            params![],
            |r| r.only(),
        )
        .unwrap()
    };
    wait_until(PATIENCE, "the reset email is queued", || {
        queued_kinds().contains(&"password_reset".to_owned())
    })
    .await;
    let (status, _) = app
        .call(Method::DELETE, "/customers/self", Some(&token), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(queued_kinds(), vec!["account_deleted".to_owned()]);
}
