//! PATCH /customers/self: the profile rules.

use crate::common::{PASSWORD, spawn_app};
use reqwest::StatusCode;
use serde_json::json;

#[tokio::test]
async fn a_get_patch_round_trip_changes_nothing() {
    let app = spawn_app().await;
    let token = app.active_customer("round@example.com").await;
    let (_, before) = app.get_self(&token).await;
    let (status, after) = app.patch_self(&token, before.clone()).await;
    assert_eq!(status, StatusCode::OK, "{after}");
    assert_eq!(before, after);
}

#[tokio::test]
async fn null_clears_an_optional_field_and_absent_leaves_it() {
    let app = spawn_app().await;
    let token = app.active_customer("clear@example.com").await;
    app.patch_self(
        &token,
        json!({"mobile": "07700 900123", "address": "1 High Street\nFlat 2"}),
    )
    .await;
    let (status, me) = app.patch_self(&token, json!({"mobile": null})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["mobile"], json!(null));
    assert_eq!(me["address"], "1 High Street\nFlat 2");
    let (_, me) = app
        .patch_self(&token, json!({"address_region": "   "}))
        .await;
    assert_eq!(
        me["address_region"],
        json!(null),
        "blank text is stored as null"
    );
}

#[tokio::test]
async fn another_customers_id_is_refused() {
    let app = spawn_app().await;
    let token = app.active_customer("id@example.com").await;
    let (_, me) = app.get_self(&token).await;
    let (status, _) = app.patch_self(&token, json!({"id": me["id"]})).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .patch_self(&token, json!({"id": "12345678901234"}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["fields"]["id"].is_string(), "{body}");
}

#[tokio::test]
async fn every_bad_field_is_named_and_nothing_is_applied() {
    let app = spawn_app().await;
    let token = app.active_customer("fields@example.com").await;
    let (status, body) = app
        .patch_self(
            &token,
            json!({
                "name": "Ada\r\nBcc: evil@example.com",
                "phone": "call me maybe",
                "country": "Narnia",
                "address_town": "x".repeat(101),
                "mobile": 7700900123u64,
                "favourite_colour": "blue",
                "subscriptions": "newsletter",
                "address_postcode": "SW1A 1AA",
            }),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(body["error"], "validation_failed");
    for field in [
        "name",
        "phone",
        "country",
        "address_town",
        "mobile",
        "favourite_colour",
        "subscriptions",
    ] {
        assert!(
            body["fields"][field].is_string(),
            "{field} not named: {body}"
        );
    }
    let (_, me) = app.get_self(&token).await;
    assert_eq!(
        me["address_postcode"],
        json!(null),
        "a rejected PATCH applies nothing"
    );
}

#[tokio::test]
async fn country_codes_are_accepted_in_any_case_and_stored_upper_case() {
    let app = spawn_app().await;
    let token = app.active_customer("country@example.com").await;
    for (sent, stored) in [("fr", "FR"), ("De", "DE"), ("GB", "GB")] {
        let (status, me) = app.patch_self(&token, json!({"country": sent})).await;
        assert_eq!(
            (status, me["country"].clone()),
            (StatusCode::OK, json!(stored))
        );
    }
    assert_eq!(
        app.patch_self(&token, json!({"country": "UK"})).await.0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
}

#[tokio::test]
async fn hostile_text_is_stored_verbatim_and_returned_as_data() {
    let app = spawn_app().await;
    let token = app.active_customer("hostile@example.com").await;
    let name = "Robert'); DROP TABLE customers;-- <script>alert(1)</script> 🎉";
    let (status, me) = app.patch_self(&token, json!({"name": name})).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["name"], name);
    let (_, me) = app.get_self(&token).await;
    assert_eq!(me["name"], name);
}

#[tokio::test]
async fn a_password_change_needs_all_three_fields_and_the_right_current_password() {
    let app = spawn_app().await;
    let token = app.active_customer("pw@example.com").await;
    let new = "another good passphrase";

    let (status, body) = app.patch_self(&token, json!({"password": new})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["fields"]["password_check"].is_string()
            && body["fields"]["current_password"].is_string(),
        "{body}"
    );

    let (status, body) = app
        .patch_self(
            &token,
            json!({"password": new, "password_check": new, "current_password": "wrong"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(body["fields"]["current_password"].is_string(), "{body}");

    let (status, body) = app
        .patch_self(
            &token,
            json!({"password": "short", "password_check": "shorter", "current_password": PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["fields"]["password"].is_string() && body["fields"]["password_check"].is_string(),
        "{body}"
    );

    // Nothing changed so far.
    assert_eq!(
        app.login("pw@example.com", PASSWORD).await.0,
        StatusCode::OK
    );
    let (status, _) = app
        .patch_self(&token, json!({"password": new, "password_check": new, "current_password": PASSWORD, "name": "Renamed"}))
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(app.login("pw@example.com", new).await.0, StatusCode::OK);
    assert_eq!(app.get_self(&token).await.1["name"], "Renamed");
}
