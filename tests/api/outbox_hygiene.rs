//! What the outbox keeps: nothing queued for an account outlives its deletion but the receipt.

use crate::common::smtp::Mode;
use crate::common::{PATIENCE, spawn_app, wait_until};
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
    let conn = rusqlite::Connection::open(&app.config.database.path).unwrap();
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .unwrap();
    let queued_kinds = || -> Vec<String> {
        let mut statement = conn
            .prepare(
                "SELECT kind FROM outbox WHERE recipient = 'leaving@example.com'
                 AND status = 'queued' ORDER BY id",
            )
            .unwrap();
        statement
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
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
