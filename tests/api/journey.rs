//! The whole life of a customer, over real HTTP: create → activate → login → GET → PATCH →
//! password change → logout → delete.

use crate::common::{PASSWORD, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn a_customer_lives_their_whole_life_through_the_api() {
    let app = spawn_app().await;

    // Created by the retailer: pending, with an activation email.
    let created = app.create_customer("Ada@Example.com", "Ada Lovelace").await;
    assert_eq!(created.id.as_str().len(), 14);
    let (status, body) = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "a pending account cannot log in: {body}"
    );

    let mail = app.wait_for_email("ada@example.com", "Activate").await;
    let link = "https://shop.example.com/activate";
    assert_eq!(
        mail.link_param(link, "identifier"),
        created.identifier.as_str()
    );
    let secret = mail.link_param(link, "secret");
    assert!(
        secret.len() == 10
            && secret
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())
    );

    let (status, body) = app
        .post(
            "/customers/activate",
            json!({"identifier": created.identifier.as_str(), "secret": secret, "password": PASSWORD, "password_check": PASSWORD}),
        )
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"result": "activated"}))
    );

    // Login (email in any case) and read the profile.
    let token = app.token("ADA@example.com", PASSWORD).await;
    let (status, me) = app.get_self(&token).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        me,
        json!({
            "id": created.id.as_str(), "name": "Ada Lovelace", "email": "ada@example.com",
            "email_deliverable": true, "phone": null, "mobile": null, "address": null, "address_town": null,
            "address_postcode": null, "address_region": null, "country": null, "subscriptions": []
        })
    );

    // Edit it.
    let (status, me) = app
        .patch_self(
            &token,
            json!({"phone": "+44 20 7946 0958", "country": "gb", "address_town": "London"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{me}");
    assert_eq!(me["country"], "GB");
    assert_eq!(me["address_town"], "London");

    // A second device, then a password change from the first: the second is signed out.
    let other_device = app.token("ada@example.com", PASSWORD).await;
    let new_password = "a much better passphrase";
    let (status, body) = app
        .patch_self(&token, json!({"password": new_password, "password_check": new_password, "current_password": PASSWORD}))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        app.get_self(&other_device).await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(app.get_self(&token).await.0, StatusCode::OK);
    assert_eq!(
        app.login("ada@example.com", PASSWORD).await.0,
        StatusCode::UNAUTHORIZED
    );
    let fresh = app.token("ada@example.com", new_password).await;

    // Logout ends only the calling token.
    let (status, body) = app
        .call(Method::POST, "/customers/logout", Some(&token), None)
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"result": "logged_out"}))
    );
    assert_eq!(app.get_self(&token).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_self(&fresh).await.0, StatusCode::OK);

    // Delete: every token and the password stop working at once.
    let spare = app.token("ada@example.com", new_password).await;
    let (status, body) = app
        .call(Method::DELETE, "/customers/self", Some(&fresh), None)
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"result": "deleted"}))
    );
    assert_eq!(app.get_self(&fresh).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(app.get_self(&spare).await.0, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.login("ada@example.com", new_password).await.0,
        StatusCode::UNAUTHORIZED
    );
    app.wait_for_email("ada@example.com", "deleted").await;
}

#[tokio::test]
async fn a_deleted_customers_id_is_never_issued_again() {
    let app = spawn_app().await;
    let token = app.active_customer("grace@example.com").await;
    let (_, me) = app.get_self(&token).await;
    app.call(Method::DELETE, "/customers/self", Some(&token), None)
        .await;
    // The same address may come back, but under a new id.
    let again = app.create_customer("grace@example.com", "Grace").await;
    assert_ne!(again.id.as_str(), me["id"].as_str().unwrap());
}
