//! The retailer's staff over real HTTP: invitations, activation, sessions that are not
//! customers' sessions, role changes, removal and reset, the idle and absolute ends of a
//! session, and the throttle and lockout of their sign-in.

use crate::common::staff::STAFF_PASSWORD;
use crate::common::{TestApp, eventually, spawn_app_with};
use customer_area::config::{Config, SecondFactorRule};
use customer_area::domain::Role;
use customer_area::flows::{AuditLine, staff_actions};
use customer_area::store::sql::params;
use reqwest::{Method, StatusCode};
use serde_json::json;
use std::time::Duration;

/// An app whose staff sign in with a password alone (the second factor has tests of its own).
async fn console_app(adjust: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with(|c| {
        c.console.second_factor = SecondFactorRule::Optional;
        c.links.public_url = "https://area.shop.example.com".into();
        adjust(c);
    })
    .await
}

async fn staff_self(app: &TestApp, token: &str) -> (StatusCode, serde_json::Value) {
    app.call(Method::GET, "/admin/staff/self", Some(token), None)
        .await
}

#[tokio::test]
async fn a_staff_member_is_invited_activates_and_signs_in_and_out() {
    let app = console_app(|_| {}).await;
    let link = app
        .invite_staff("agent@shop.example.com", Role::Support)
        .await;
    assert!(
        link.starts_with("https://area.shop.example.com/console/activate?identifier="),
        "{link}"
    );
    assert!(link.contains("&secret="), "{link}");
    // Before activation no password opens the account.
    let (status, _) = app
        .post(
            "/admin/staff/login",
            json!({"email": "agent@shop.example.com", "password": STAFF_PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    let token = app.staff_token("owner@shop.example.com", Role::Owner).await;
    let (status, body) = staff_self(&app, &token).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"email": "owner@shop.example.com", "name": "Sam Staff", "role": "owner", "enrollment_only": false})
    );

    let (status, body) = app
        .call(Method::POST, "/admin/staff/logout", Some(&token), None)
        .await;
    assert_eq!(
        (status, body),
        (StatusCode::OK, json!({"result": "logged_out"}))
    );
    let (status, body) = staff_self(&app, &token).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "unauthenticated");
}

#[tokio::test]
async fn an_invitation_opens_once_and_a_wrong_secret_is_an_invalid_code() {
    let app = console_app(|_| {}).await;
    let link = app
        .invite_staff("agent@shop.example.com", Role::Support)
        .await;
    let link = url::Url::parse(&link).unwrap();
    let param = |name: &str| {
        link.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let body = |secret: &str| {
        json!({
            "identifier": param("identifier"),
            "secret": secret,
            "password": STAFF_PASSWORD,
            "password_check": STAFF_PASSWORD,
        })
    };
    let wrong = format!("{}x", &param("secret")[1..]);
    let (status, answer) = app.post("/admin/staff/activate", body(&wrong)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"], "invalid_code");

    let (status, answer) = app
        .post("/admin/staff/activate", body(&param("secret")))
        .await;
    assert_eq!(
        (status, answer),
        (StatusCode::OK, json!({"result": "activated"}))
    );
    let (status, answer) = app
        .post("/admin/staff/activate", body(&param("secret")))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    assert_eq!(answer["error"], "invalid_code");
    app.staff_login("agent@shop.example.com").await;
}

#[tokio::test]
async fn staff_and_customer_tokens_open_only_their_own_side() {
    let app = console_app(|c| {
        c.admin.api_token = customer_area::config::Secret::new("admin-token-for-tests-0123456789");
        c.limits.login_free_failures = 100;
    })
    .await;
    let staff = app.staff_token("owner@shop.example.com", Role::Owner).await;
    let customer = app.active_customer("shopper@example.com").await;
    // A staff token is no customer session.
    let (status, body) = app.get_self(&staff).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    let (status, _) = app
        .call(Method::GET, "/customers/sessions", Some(&staff), None)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // A customer token is no staff session.
    for path in ["/admin/staff/self", "/admin/customers"] {
        let (status, body) = app.call(Method::GET, path, Some(&customer), None).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{path}: {body}");
        assert_eq!(body["error"], "unauthenticated");
    }
    // The staff token works on /admin.
    let (status, body) = app
        .call(Method::GET, "/admin/customers", Some(&staff), None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["total"], 1);
}

#[tokio::test]
async fn tokens_and_secrets_are_stored_as_digests() {
    let app = console_app(|_| {}).await;
    let token = app.staff_token("owner@shop.example.com", Role::Owner).await;
    let db = app.db();
    let hashes: Vec<Vec<u8>> = db
        .query_map("SELECT token_hash FROM staff_sessions", params![], |row| {
            row.get("token_hash")
        })
        .unwrap();
    assert_eq!(hashes.len(), 1);
    assert_eq!(hashes[0].len(), 32, "a SHA-256 digest");
    assert_ne!(hashes[0], token.as_bytes());
    let (password, invitation): (Option<String>, Option<Vec<u8>>) = db
        .query_row(
            "SELECT password_hash, invite_hash FROM staff WHERE email = ?1",
            params!["owner@shop.example.com"],
            |row| Ok((row.get("password_hash")?, row.get("invite_hash")?)),
        )
        .unwrap();
    assert!(password.unwrap().starts_with("$pbkdf2-sha256$"));
    assert_eq!(
        invitation, None,
        "the invitation closed with the activation"
    );
}

#[tokio::test]
async fn removing_a_staff_member_ends_their_sessions_at_once() {
    let app = console_app(|_| {}).await;
    let token = app
        .staff_token("agent@shop.example.com", Role::Support)
        .await;
    assert_eq!(staff_self(&app, &token).await.0, StatusCode::OK);
    app.running
        .services
        .staff()
        .remove(
            "agent@shop.example.com",
            AuditLine::of_command_line(staff_actions::REMOVE_STAFF),
        )
        .await
        .unwrap();
    assert_eq!(staff_self(&app, &token).await.0, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .post(
            "/admin/staff/login",
            json!({"email": "agent@shop.example.com", "password": STAFF_PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_reset_ends_the_sessions_clears_the_password_and_sends_a_new_invitation() {
    let app = console_app(|_| {}).await;
    let token = app
        .staff_token("agent@shop.example.com", Role::Support)
        .await;
    let invited = app
        .running
        .services
        .staff()
        .reset(
            "agent@shop.example.com",
            AuditLine::of_command_line(staff_actions::RESET_STAFF),
        )
        .await
        .unwrap();
    assert_eq!(staff_self(&app, &token).await.0, StatusCode::UNAUTHORIZED);
    let (status, _) = app
        .post(
            "/admin/staff/login",
            json!({"email": "agent@shop.example.com", "password": STAFF_PASSWORD}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "the old password is gone");
    // The new invitation is emailed too.
    eventually(
        Duration::from_secs(10),
        "the new invitation arrives",
        || {
            std::future::ready(
                app.delivered()
                    .into_iter()
                    .find(|mail| mail.text.contains(&invited.link)),
            )
        },
    )
    .await;
}

#[tokio::test]
async fn a_staff_session_ends_when_idle_too_long_or_too_old() {
    let app = console_app(|_| {}).await;
    let idle = app
        .staff_token("agent@shop.example.com", Role::Support)
        .await;
    let old = app.staff_login("agent@shop.example.com").await;
    let digest = |token: &str| customer_area::auth::digest(token);
    let db = app.db();
    // 29 minutes unused: still live (console.idle_minutes is 30).
    db.execute(
        "UPDATE staff_sessions SET last_used_at = last_used_at - 29 * 60 WHERE token_hash = ?1",
        params![digest(&idle)],
    )
    .unwrap();
    assert_eq!(staff_self(&app, &idle).await.0, StatusCode::OK);
    // That use is recorded after the answer: wait for it, or it could land after the change
    // below and undo it.
    let last_used = || -> i64 {
        db.query_row(
            "SELECT last_used_at FROM staff_sessions WHERE token_hash = ?1",
            params![digest(&idle)],
            |row| row.get("last_used_at"),
        )
        .unwrap()
    };
    let a_minute_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        - 60;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while last_used() < a_minute_ago {
        assert!(
            std::time::Instant::now() < deadline,
            "the use was never recorded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    db.execute(
        "UPDATE staff_sessions SET last_used_at = last_used_at - 31 * 60 WHERE token_hash = ?1",
        params![digest(&idle)],
    )
    .unwrap();
    assert_eq!(staff_self(&app, &idle).await.0, StatusCode::UNAUTHORIZED);
    // Used a moment ago but opened more than console.session_hours (12) ago.
    let opened = 12 * 3600 + 60;
    db.execute(
        "UPDATE staff_sessions SET created_at = created_at - ?2, expires_at = expires_at - ?2
         WHERE token_hash = ?1",
        params![digest(&old), opened],
    )
    .unwrap();
    assert_eq!(staff_self(&app, &old).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn staff_sign_in_is_throttled_per_client() {
    let app = console_app(|c| {
        c.limits.login_per_ip_per_minute = std::num::NonZero::new(3).unwrap();
    })
    .await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let (status, _) = app
            .post(
                "/admin/staff/login",
                json!({"email": "nobody@shop.example.com", "password": "wrong password"}),
            )
            .await;
        statuses.push(status);
    }
    assert_eq!(
        statuses,
        [
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::UNAUTHORIZED,
            StatusCode::TOO_MANY_REQUESTS
        ]
    );
}

#[tokio::test]
async fn a_staff_member_is_locked_after_wrong_passwords_until_reset() {
    let app = console_app(|c| {
        c.limits.login_lockout_failures = std::num::NonZero::new(3).unwrap();
        c.limits.login_free_failures = 100;
    })
    .await;
    app.staff_token("agent@shop.example.com", Role::Support)
        .await;
    for _ in 0..3 {
        let (status, _) = app
            .post(
                "/admin/staff/login",
                json!({"email": "agent@shop.example.com", "password": "not the password"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    // The failures are counted after the answers.
    eventually(
        Duration::from_secs(10),
        "the staff member is locked",
        || {
            let locked: i64 = app
                .db()
                .query_row(
                    "SELECT locked FROM staff WHERE email = ?1",
                    params!["agent@shop.example.com"],
                    |row| row.get("locked"),
                )
                .unwrap();
            std::future::ready((locked == 1).then_some(()))
        },
    )
    .await;
    let (status, _) = app
        .post(
            "/admin/staff/login",
            json!({"email": "agent@shop.example.com", "password": STAFF_PASSWORD}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "locked: the right password too"
    );

    let invited = app
        .running
        .services
        .staff()
        .reset(
            "agent@shop.example.com",
            AuditLine::of_command_line(staff_actions::RESET_STAFF),
        )
        .await
        .unwrap();
    let link = url::Url::parse(&invited.link).unwrap();
    let pairs: std::collections::HashMap<_, _> = link.query_pairs().into_owned().collect();
    let (status, _) = app
        .post(
            "/admin/staff/activate",
            json!({
                "identifier": pairs["identifier"],
                "secret": pairs["secret"],
                "password": STAFF_PASSWORD,
                "password_check": STAFF_PASSWORD,
            }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    app.staff_login("agent@shop.example.com").await;
}

/// The owners' `/admin/staff` endpoints with `token`: the answer's status and body.
async fn staff_call(
    app: &TestApp,
    token: &str,
    method: Method,
    path: &str,
    body: Option<serde_json::Value>,
) -> (StatusCode, serde_json::Value) {
    app.call(method, path, Some(token), body).await
}

#[tokio::test]
async fn an_owner_lists_invites_resets_and_removes_staff_over_the_api() {
    let app = console_app(|_| {}).await;
    let owner = app.staff_token("owner@shop.example.com", Role::Owner).await;

    // Invited: the answer is the member, the invitation goes by email only.
    let (status, added) = staff_call(
        &app,
        &owner,
        Method::POST,
        "/admin/staff",
        Some(json!({"email": "Agent@Shop.Example.com", "role": "support", "name": "Sam Support"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["email"], "agent@shop.example.com", "{added}");
    assert_eq!(added["role"], "support");
    assert_eq!(added["name"], "Sam Support");
    assert_eq!(added["state"], "invited");
    let mail = app
        .wait_for_email("agent@shop.example.com", "console")
        .await;
    let secret = mail.link_param("https://area.shop.example.com/console/activate", "secret");
    assert!(
        !added.to_string().contains(&secret),
        "the answer carries no secret: {added}"
    );
    let (status, again) = staff_call(
        &app,
        &owner,
        Method::POST,
        "/admin/staff",
        Some(json!({"email": "agent@shop.example.com", "role": "owner"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{again}");
    let (status, refused) = staff_call(
        &app,
        &owner,
        Method::POST,
        "/admin/staff",
        Some(json!({"email": "not an address", "role": "boss"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{refused}");
    assert!(refused["fields"]["email"].is_string(), "{refused}");
    assert!(refused["fields"]["role"].is_string(), "{refused}");

    // Listed by address, without a hash or a secret.
    let (status, listed) = staff_call(&app, &owner, Method::GET, "/admin/staff", None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    let emails: Vec<&str> = listed["staff"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["email"].as_str().unwrap())
        .collect();
    assert_eq!(emails, ["agent@shop.example.com", "owner@shop.example.com"]);
    assert_eq!(listed["staff"][1]["state"], "active", "{listed}");
    assert!(!listed.to_string().contains("pbkdf2"), "{listed}");

    // The invitation accepted, the agent signs in; a reset ends the session at once and
    // emails a new invitation (the console encodes the `@` of the path).
    let agent = app
        .staff_token("second@shop.example.com", Role::Support)
        .await;
    assert_eq!(staff_self(&app, &agent).await.0, StatusCode::OK);
    let (status, reset) = staff_call(
        &app,
        &owner,
        Method::POST,
        "/admin/staff/second%40shop.example.com/reset",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reset}");
    assert_eq!(reset, json!({"result": "email_sent"}));
    assert_eq!(staff_self(&app, &agent).await.0, StatusCode::UNAUTHORIZED);
    eventually(Duration::from_secs(10), "a second invitation", || {
        let count = app
            .delivered()
            .into_iter()
            .filter(|m| m.to == "second@shop.example.com")
            .count();
        std::future::ready((count == 2).then_some(()))
    })
    .await;

    // Removed: gone from the list; an unknown address is 404.
    let (status, removed) = staff_call(
        &app,
        &owner,
        Method::DELETE,
        "/admin/staff/agent@shop.example.com",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{removed}");
    assert_eq!(
        removed,
        json!({"result": "deleted", "email": "agent@shop.example.com"})
    );
    let (_, listed) = staff_call(&app, &owner, Method::GET, "/admin/staff", None).await;
    assert!(!listed.to_string().contains("agent@"), "{listed}");
    let (status, _) = staff_call(
        &app,
        &owner,
        Method::DELETE,
        "/admin/staff/agent@shop.example.com",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Support may not manage staff.
    let support = app
        .staff_token("third@shop.example.com", Role::Support)
        .await;
    let (status, body) = staff_call(&app, &support, Method::GET, "/admin/staff", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "forbidden");
}

#[tokio::test]
async fn the_last_owner_is_not_removed_by_the_api_or_the_cli() {
    let app = console_app(|_| {}).await;
    let owner = app.staff_token("owner@shop.example.com", Role::Owner).await;
    let (status, body) = staff_call(
        &app,
        &owner,
        Method::DELETE,
        "/admin/staff/owner@shop.example.com",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "last_owner", "{body}");
    assert_eq!(staff_self(&app, &owner).await.0, StatusCode::OK, "still in");
    let staff = app.running.services.staff();
    let refused = staff
        .remove(
            "owner@shop.example.com",
            AuditLine::of_command_line(staff_actions::REMOVE_STAFF),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(refused, customer_area::error::AppError::LastOwner(_)),
        "{refused:?}"
    );

    // With a second owner, either may go; the one left stays.
    app.invite_staff("second@shop.example.com", Role::Owner)
        .await;
    let (status, body) = staff_call(
        &app,
        &owner,
        Method::DELETE,
        "/admin/staff/second@shop.example.com",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = staff_call(
        &app,
        &owner,
        Method::DELETE,
        "/admin/staff/owner@shop.example.com",
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
}

/// `PATCH /admin/staff/{email}` `{"role"}` with `token`.
async fn change_role(
    app: &TestApp,
    token: &str,
    email: &str,
    role: &str,
) -> (StatusCode, serde_json::Value) {
    let path = format!("/admin/staff/{email}");
    staff_call(
        app,
        token,
        Method::PATCH,
        &path,
        Some(json!({ "role": role })),
    )
    .await
}

/// `customer-area staff role EMAIL --role ROLE`'s code path.
async fn change_role_by_cli(
    app: &TestApp,
    email: &str,
    role: Role,
) -> Result<(customer_area::store::staff::Member, bool), customer_area::error::AppError> {
    let line = AuditLine::of_command_line(staff_actions::CHANGE_STAFF_ROLE);
    app.running
        .services
        .staff()
        .change_role(email, role, line)
        .await
}

/// The audit entries of `action`, newest first, as an owner reads them.
async fn audited(app: &TestApp, owner: &str, action: &str) -> Vec<serde_json::Value> {
    let (status, body) = staff_call(app, owner, Method::GET, "/admin/audit?limit=200", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["action"] == action)
        .cloned()
        .collect()
}

#[tokio::test]
async fn an_owner_changes_a_staff_members_role_and_their_sessions_end() {
    let app = console_app(|_| {}).await;
    let owner = app.staff_token("owner@shop.example.com", Role::Owner).await;
    let agent = app
        .staff_token("agent@shop.example.com", Role::Support)
        .await;

    // Support may not change a role, not even their own.
    let (status, body) = change_role(&app, &agent, "agent@shop.example.com", "owner").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert_eq!(body["error"], "forbidden");
    assert_eq!(staff_self(&app, &agent).await.1["role"], "support");

    // The owner makes the agent an owner: the answer is the member as the list shows them.
    let (status, changed) = change_role(&app, &owner, "agent%40shop.example.com", "owner").await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(changed["role"], "owner", "{changed}");
    let (_, listed) = staff_call(&app, &owner, Method::GET, "/admin/staff", None).await;
    assert_eq!(listed["staff"][0], changed, "{listed}");

    // The agent's session ended; signed in again, the new role applies.
    assert_eq!(staff_self(&app, &agent).await.0, StatusCode::UNAUTHORIZED);
    let promoted = app.staff_login("agent@shop.example.com").await;
    assert_eq!(staff_self(&app, &promoted).await.1["role"], "owner");
    let (status, body) = staff_call(&app, &promoted, Method::GET, "/admin/staff", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Audited with who did it and to whom; the role they have already changes nothing.
    let entries = audited(&app, &owner, staff_actions::CHANGE_STAFF_ROLE).await;
    assert_eq!(entries.len(), 1, "{entries:?}");
    assert_eq!(entries[0]["actor"], "staff:owner@shop.example.com");
    let detail = entries[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("agent@shop.example.com") && detail.contains("owner"),
        "{detail}"
    );
    let (status, same) = change_role(&app, &owner, "agent@shop.example.com", "owner").await;
    assert_eq!(status, StatusCode::OK, "{same}");
    assert_eq!(staff_self(&app, &promoted).await.0, StatusCode::OK);
    assert_eq!(
        audited(&app, &owner, staff_actions::CHANGE_STAFF_ROLE)
            .await
            .len(),
        1
    );

    // A role of no known name, and an unknown member, change nothing.
    let (status, body) = change_role(&app, &owner, "agent@shop.example.com", "boss").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(body["fields"]["role"].is_string(), "{body}");
    let (status, _) = change_role(&app, &owner, "nobody@shop.example.com", "support").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(staff_self(&app, &promoted).await.0, StatusCode::OK);

    // Made support again from the command line's code path: out at once, and refused the
    // owners' endpoints once signed in again.
    let (member, changed) = change_role_by_cli(&app, "agent@shop.example.com", Role::Support)
        .await
        .unwrap();
    assert!(changed);
    assert_eq!(member.role, Role::Support);
    assert_eq!(
        staff_self(&app, &promoted).await.0,
        StatusCode::UNAUTHORIZED
    );
    let demoted = app.staff_login("agent@shop.example.com").await;
    let (status, _) = staff_call(&app, &demoted, Method::GET, "/admin/staff", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let entries = audited(&app, &owner, staff_actions::CHANGE_STAFF_ROLE).await;
    assert_eq!(entries.len(), 2, "{entries:?}");
    assert_eq!(entries[0]["actor"], "cli");
}

#[tokio::test]
async fn the_last_owner_is_not_made_support_by_the_api_or_the_cli() {
    let app = console_app(|_| {}).await;
    let owner = app.staff_token("owner@shop.example.com", Role::Owner).await;
    let (status, body) = change_role(&app, &owner, "owner@shop.example.com", "support").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert_eq!(body["error"], "last_owner", "{body}");
    assert_eq!(
        staff_self(&app, &owner).await.1["role"],
        "owner",
        "still an owner, still in"
    );
    let refused = change_role_by_cli(&app, "owner@shop.example.com", Role::Support)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, customer_area::error::AppError::LastOwner(_)),
        "{refused:?}"
    );
    assert!(
        audited(&app, &owner, staff_actions::CHANGE_STAFF_ROLE)
            .await
            .is_empty()
    );

    // With a second owner (invited, not yet in), the first may step down; the second may
    // not then.
    app.invite_staff("second@shop.example.com", Role::Owner)
        .await;
    let (status, body) = change_role(&app, &owner, "owner@shop.example.com", "support").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["role"], "support");
    assert_eq!(staff_self(&app, &owner).await.0, StatusCode::UNAUTHORIZED);
    let refused = change_role_by_cli(&app, "second@shop.example.com", Role::Support)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, customer_area::error::AppError::LastOwner(_)),
        "{refused:?}"
    );
}

#[tokio::test]
async fn housekeeping_sweeps_idle_and_expired_staff_sessions_and_waiting_sign_ins() {
    let app = console_app(|_| {}).await;
    let idle = app
        .staff_token("agent@shop.example.com", Role::Support)
        .await;
    let live = app.staff_login("agent@shop.example.com").await;
    let db = app.db();
    let digest = |token: &str| customer_area::auth::digest(token);
    db.execute(
        "UPDATE staff_sessions SET last_used_at = last_used_at - 31 * 60 WHERE token_hash = ?1",
        params![digest(&idle)],
    )
    .unwrap();
    db.execute(
        "INSERT INTO staff_challenges (challenge_hash, staff_id, expires_at, ip)
         SELECT ?1, id, 1, '127.0.0.1' FROM staff",
        params![digest("an expired challenge")],
    )
    .unwrap();
    let rows = |table: &str| -> i64 {
        db.query_row(&format!("SELECT count(*) FROM {table}"), params![], |r| {
            r.only()
        })
        .unwrap()
    };
    assert_eq!(rows("staff_sessions"), 2);
    assert_eq!(rows("staff_challenges"), 1);
    app.running
        .services
        .operations()
        .sweep_expired()
        .await
        .unwrap();
    let left: Vec<Vec<u8>> = db
        .query_map("SELECT token_hash FROM staff_sessions", params![], |r| {
            r.get("token_hash")
        })
        .unwrap();
    assert_eq!(left, [digest(&live)], "the idle session's row is gone");
    assert_eq!(rows("staff_challenges"), 0);
    assert_eq!(staff_self(&app, &live).await.0, StatusCode::OK);
}
