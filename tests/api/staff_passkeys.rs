//! Staff passkeys over HTTP, with the software authenticator that signs real WebAuthn answers:
//! a new staff member enrolls a passkey instead of a TOTP app and signs in with it alone; a
//! customer's passkey never signs a staff member in, nor the other way round; a ceremony works
//! once; removing a passkey, `staff remove` and `staff reset` end what it opened; every step is
//! in the audit log.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::common::passkey::{CUSTOMERS, SHOP_ORIGIN, STAFF, SoftAuthenticator};
use crate::common::staff::STAFF_PASSWORD;
use crate::common::{TestApp, eventually, spawn_app_with};
use customer_area::config::SecondFactorRule;
use customer_area::domain::Role;
use customer_area::flows::{AuditLine, staff_actions};
use customer_area::store::sql::params;
use std::time::Duration;

const OWNER: &str = "owner@shop.example.com";

/// An app whose staff must have a second factor (the default rule).
async fn required_app() -> TestApp {
    spawn_app_with(|c| c.console.second_factor = SecondFactorRule::Required).await
}

async fn get(app: &TestApp, path: &str, token: &str) -> (StatusCode, Value) {
    app.call(Method::GET, path, Some(token), None).await
}

fn assert_invalid_credentials(status: StatusCode, body: &Value) {
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "invalid_credentials", "{body}");
    assert!(body.get("token").is_none(), "{body}");
}

fn staff_passkeys(app: &TestApp) -> i64 {
    app.db()
        .query_row("SELECT count(*) FROM staff_passkeys", params![], |row| {
            row.only()
        })
        .unwrap()
}

/// A staff member in their enrollment-only session adds a passkey with `authenticator`;
/// answers the session token (now a full one) and the passkey added.
async fn enrolled_with_a_passkey(
    app: &TestApp,
    email: &str,
    role: Role,
    authenticator: &mut SoftAuthenticator,
) -> (String, Value) {
    let token = app.staff_token(email, role).await;
    let (status, added) = app
        .add_passkey_on(STAFF, &token, authenticator, Some(" Office key "))
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    (token, added)
}

#[tokio::test]
async fn a_new_staff_member_enrolls_a_passkey_instead_of_totp_and_signs_in_with_it_alone() {
    let app = required_app().await;
    let token = app.staff_token(OWNER, Role::Owner).await;
    let (status, body) = get(&app, "/admin/customers", &token).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "second_factor_enrollment_required");
    let (status, listed) = get(&app, "/admin/staff/passkeys", &token).await;
    assert_eq!(
        (status, listed),
        (StatusCode::OK, json!({"passkeys": []})),
        "the enrollment session lists its passkeys"
    );

    let mut authenticator = SoftAuthenticator::new(SHOP_ORIGIN);
    let (status, added) = app
        .add_passkey_on(STAFF, &token, &mut authenticator, Some(" Office key "))
        .await;
    assert_eq!(status, StatusCode::OK, "{added}");
    assert_eq!(added["name"], "Office key");
    assert_eq!(added["id"].as_str().unwrap().len(), 16, "{added}");
    assert!(added["created_at"].is_string(), "{added}");
    // The passkey is the member's second factor: the enrolling session may do everything.
    let (status, body) = get(&app, "/admin/customers", &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (_, me) = get(&app, "/admin/staff/self", &token).await;
    assert_eq!(me["enrollment_only"], false, "{me}");
    let (_, staff) = get(&app, "/admin/staff", &token).await;
    assert_eq!(staff["staff"][0]["second_factor"], true, "{staff}");
    // Stored apart from the customers' passkeys.
    let customer_passkeys: i64 = app
        .db()
        .query_row("SELECT count(*) FROM passkeys", params![], |row| row.only())
        .unwrap();
    assert_eq!((staff_passkeys(&app), customer_passkeys), (1, 0));

    // The password alone no longer signs in: the passkey does, with no password.
    let (status, body) = app
        .post(
            "/admin/staff/login",
            json!({"email": OWNER, "password": STAFF_PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["error"], "passkey_required", "{body}");
    assert!(body.get("token").is_none(), "{body}");

    let (status, body) = app.passkey_login_on(STAFF, &mut authenticator).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let passkey_token = body["token"].as_str().unwrap();
    assert_eq!(
        passkey_token.len(),
        token.len(),
        "a token like a password sign-in's"
    );
    let (status, body) = get(&app, "/admin/customers", passkey_token).await;
    assert_eq!(status, StatusCode::OK, "a full session at once: {body}");
    let (_, me) = get(&app, "/admin/staff/self", passkey_token).await;
    assert_eq!(me["email"], OWNER);
    assert_eq!(me["enrollment_only"], false, "{me}");
    let (_, listed) = get(&app, "/admin/staff/passkeys", passkey_token).await;
    let passkeys = listed["passkeys"].as_array().unwrap();
    assert_eq!(passkeys.len(), 1, "{listed}");
    assert_eq!(passkeys[0]["id"], added["id"]);
    assert!(passkeys[0]["last_used_at"].is_string(), "{listed}");
    // A staff token is no customer session.
    assert_eq!(
        app.get_self(passkey_token).await.0,
        StatusCode::UNAUTHORIZED
    );

    let (status, audit) = get(
        &app,
        "/admin/audit?actor=staff:owner@shop.example.com",
        passkey_token,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{audit}");
    let events = audit["events"].as_array().unwrap();
    let has = |action: &str, detail: &str| {
        events
            .iter()
            .any(|e| e["action"] == action && e["detail"].as_str().unwrap_or("").contains(detail))
    };
    assert!(has("staff.passkey_added", "Office key"), "{audit}");
    assert!(has("staff.login", "signed in with a passkey"), "{audit}");
    // The refused password is recorded after its answer.
    eventually(
        Duration::from_secs(10),
        "the password's refusal is audited",
        || {
            let refused: i64 = app
                .db()
                .query_row(
                    "SELECT count(*) FROM audit_log WHERE action = 'staff.login'
                         AND detail LIKE '%signs in with their passkey'",
                    params![],
                    |row| row.only(),
                )
                .unwrap();
            std::future::ready((refused == 1).then_some(()))
        },
    )
    .await;
}

#[tokio::test]
async fn a_customers_passkey_never_signs_in_a_staff_member_nor_a_staff_passkey_a_customer() {
    let app = required_app().await;
    let customer_token = app.active_customer("shopper@example.com").await;
    let mut customer_key = SoftAuthenticator::new(SHOP_ORIGIN);
    let (status, body) = app
        .add_passkey(&customer_token, &mut customer_key, Some("Phone"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mut staff_key = SoftAuthenticator::new(SHOP_ORIGIN);
    enrolled_with_a_passkey(&app, OWNER, Role::Owner, &mut staff_key).await;

    // A customer's passkey answering a staff ceremony.
    let (status, body) = app.passkey_login_on(STAFF, &mut customer_key).await;
    assert_invalid_credentials(status, &body);
    // A staff passkey answering a customer's ceremony.
    let (status, body) = app.passkey_login_on(CUSTOMERS, &mut staff_key).await;
    assert_invalid_credentials(status, &body);
    // A ceremony begun on one side finished on the other, with the right side's passkey.
    let (customer_ceremony, options) = app.begin_passkey_login_on(CUSTOMERS).await;
    let credential = staff_key.get(&options);
    let (status, body) = app
        .finish_passkey_login_on(STAFF, &customer_ceremony, &credential)
        .await;
    assert_invalid_credentials(status, &body);
    let (staff_ceremony, options) = app.begin_passkey_login_on(STAFF).await;
    let credential = customer_key.get(&options);
    let (status, body) = app
        .finish_passkey_login_on(CUSTOMERS, &staff_ceremony, &credential)
        .await;
    assert_invalid_credentials(status, &body);

    // Each still signs in on its own side.
    let (status, body) = app.passkey_login_on(STAFF, &mut staff_key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = app.passkey_login_on(CUSTOMERS, &mut customer_key).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // A customer's session cannot add a staff passkey.
    let (status, body) = app
        .call(Method::POST, STAFF.register, Some(&customer_token), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn a_staff_passkey_ceremony_works_once_and_for_whoever_began_it() {
    let app = required_app().await;
    let mut key = SoftAuthenticator::new(SHOP_ORIGIN);
    let (owner_token, _) = enrolled_with_a_passkey(&app, OWNER, Role::Owner, &mut key).await;

    // A sign-in ceremony is used up by its first answer, right or wrong.
    let (challenge_id, options) = app.begin_passkey_login_on(STAFF).await;
    let credential = key.get(&options);
    let (status, body) = app
        .finish_passkey_login_on(STAFF, &challenge_id, &credential)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let again = key.get(&options);
    let (status, body) = app
        .finish_passkey_login_on(STAFF, &challenge_id, &again)
        .await;
    assert_invalid_credentials(status, &body);
    // An assertion naming another account than the credential's owner.
    let (challenge_id, options) = app.begin_passkey_login_on(STAFF).await;
    let forged = key.assert(&options, 0, &[7u8; 16]);
    let (status, body) = app
        .finish_passkey_login_on(STAFF, &challenge_id, &forged)
        .await;
    assert_invalid_credentials(status, &body);
    // A replayed assertion (its counter no longer grows) on a fresh ceremony's id.
    let (challenge_id, _) = app.begin_passkey_login_on(STAFF).await;
    let (status, body) = app
        .finish_passkey_login_on(STAFF, &challenge_id, &credential)
        .await;
    assert_invalid_credentials(status, &body);

    // A registration ceremony begun by one member is not finished by another.
    let agent_token = app
        .staff_token("agent@shop.example.com", Role::Support)
        .await;
    let (status, begun) = app
        .call(Method::POST, STAFF.register, Some(&owner_token), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{begun}");
    let mut other_key = SoftAuthenticator::new(SHOP_ORIGIN);
    let credential = other_key.create(&begun["options"]);
    let finish = json!({"challenge_id": begun["challenge_id"], "credential": credential});
    let finish_path = format!("{}/finish", STAFF.register);
    let (status, body) = app
        .call(
            Method::POST,
            &finish_path,
            Some(&agent_token),
            Some(finish.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "invalid_code", "{body}");
    // ... and, used up, not by its own member either.
    let (status, body) = app
        .call(Method::POST, &finish_path, Some(&owner_token), Some(finish))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["error"], "invalid_code", "{body}");
    assert_eq!(staff_passkeys(&app), 1);

    // The refusals are audited (an unknown ceremony as a visitor's, a forged answer as the
    // member's).
    let (_, audit) = get(&app, "/admin/audit?limit=200", &owner_token).await;
    let refusals: Vec<&Value> = audit["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["action"] == "staff.login"
                && e["detail"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with("passkey sign-in refused")
        })
        .collect();
    assert!(refusals.len() >= 3, "{audit}");
    assert!(refusals.iter().any(|e| e["actor"] == "visitor"), "{audit}");
    assert!(
        refusals
            .iter()
            .any(|e| e["actor"] == "staff:owner@shop.example.com"),
        "{audit}"
    );
}

#[tokio::test]
async fn a_removed_passkey_and_a_removed_or_reset_member_sign_in_no_more() {
    let app = required_app().await;
    // Removing the passkey itself.
    let mut key = SoftAuthenticator::new(SHOP_ORIGIN);
    let (token, added) = enrolled_with_a_passkey(&app, OWNER, Role::Owner, &mut key).await;
    let path = format!("/admin/staff/passkeys/{}", added["id"].as_str().unwrap());
    let (status, body) = app.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"result": "deleted"}))
    );
    let (status, body) = app.call(Method::DELETE, &path, Some(&token), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, body) = app.passkey_login_on(STAFF, &mut key).await;
    assert_invalid_credentials(status, &body);
    let (_, audit) = get(&app, "/admin/audit", &token).await;
    assert!(
        audit["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["action"] == "staff.passkey_removed"
                && e["detail"].as_str().unwrap().contains("Office key")),
        "{audit}"
    );

    // `staff remove`: the member's passkeys and sessions go with them.
    let email = "agent@shop.example.com";
    let mut agent_key = SoftAuthenticator::new(SHOP_ORIGIN);
    let (agent_token, _) =
        enrolled_with_a_passkey(&app, email, Role::Support, &mut agent_key).await;
    let (status, _) = app.passkey_login_on(STAFF, &mut agent_key).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app
        .call(
            Method::DELETE,
            "/admin/staff/agent%40shop.example.com",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        get(&app, "/admin/staff/self", &agent_token).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (status, body) = app.passkey_login_on(STAFF, &mut agent_key).await;
    assert_invalid_credentials(status, &body);
    assert_eq!(staff_passkeys(&app), 0);

    // `staff reset`: the passkey is cleared with the password.
    let mut support_key = SoftAuthenticator::new(SHOP_ORIGIN);
    enrolled_with_a_passkey(
        &app,
        "help@shop.example.com",
        Role::Support,
        &mut support_key,
    )
    .await;
    assert_eq!(staff_passkeys(&app), 1);
    app.running
        .services
        .staff()
        .reset(
            "help@shop.example.com",
            AuditLine::of_command_line(staff_actions::RESET_STAFF),
        )
        .await
        .unwrap();
    let (status, body) = app.passkey_login_on(STAFF, &mut support_key).await;
    assert_invalid_credentials(status, &body);
    assert_eq!(staff_passkeys(&app), 0);
}

#[tokio::test]
async fn a_locked_staff_member_cannot_sign_in_with_a_passkey_and_sign_in_is_throttled() {
    let app = spawn_app_with(|c| {
        c.console.second_factor = SecondFactorRule::Required;
        c.limits.login_lockout_failures = std::num::NonZero::new(3).unwrap();
        c.limits.login_free_failures = 100;
    })
    .await;
    let email = "agent@shop.example.com";
    let mut key = SoftAuthenticator::new(SHOP_ORIGIN);
    enrolled_with_a_passkey(&app, email, Role::Support, &mut key).await;
    for _ in 0..3 {
        let (status, _) = app
            .post(
                "/admin/staff/login",
                json!({"email": email, "password": "not the password"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    eventually(Duration::from_secs(10), "the member is locked", || {
        let locked: i64 = app
            .db()
            .query_row(
                "SELECT locked FROM staff WHERE email = ?1",
                params![email],
                |row| row.get("locked"),
            )
            .unwrap();
        std::future::ready((locked == 1).then_some(()))
    })
    .await;
    let (status, body) = app.passkey_login_on(STAFF, &mut key).await;
    assert_invalid_credentials(status, &body);

    let throttled = spawn_app_with(|c| {
        c.limits.login_per_ip_per_minute = std::num::NonZero::new(3).unwrap();
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (status, _) = throttled.post(STAFF.login, json!({})).await;
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::OK,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}
