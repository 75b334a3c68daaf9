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
    // Newest first: the change, then the agent's own sign-in.
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1]["action"], "staff.login", "{events:?}");
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

/// The entries of `action`, newest first, as the admin token reads them.
async fn entries_of(app: &TestApp, action: &str) -> Vec<Value> {
    audit(app, API_TOKEN, "?limit=200")
        .await
        .into_iter()
        .filter(|e| e["action"] == action)
        .collect()
}

/// Waits until `action` has `count` entries (refused sign-ins are written after the answer).
async fn wait_for_entries(app: &TestApp, action: &str, count: usize) -> Vec<Value> {
    for _ in 0..200 {
        let found = entries_of(app, action).await;
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "fewer than {count} {action} entries: {:?}",
        entries_of(app, action).await
    );
}

#[tokio::test]
async fn staff_sign_ins_enrollment_and_changes_to_the_staff_are_audited_without_a_secret() {
    use crate::common::staff::STAFF_PASSWORD;
    use customer_area::flows::{AuditLine, staff_actions};
    let app = audited_app().await;
    let owner_email = "owner@shop.example.com";
    let owner = app.staff_token(owner_email, Role::Owner).await;
    let owner_actor = format!("staff:{owner_email}");

    // Signed in (by staff_token above), a second factor enrolled, signed out.
    let (_, recovery) = crate::second_factor::enroll(&app, &owner).await;
    let (status, _) = app
        .call(Method::POST, "/admin/staff/logout", Some(&owner), None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let enrolled = entries_of(&app, "staff.second_factor_enrolled").await;
    assert_eq!(enrolled.len(), 1, "{enrolled:?}");
    assert_eq!(enrolled[0]["actor"], owner_actor.as_str());
    assert_eq!(enrolled[0]["ip"], "127.0.0.1");
    let logout = entries_of(&app, "staff.logout").await;
    assert_eq!(logout.len(), 1, "{logout:?}");
    assert_eq!(logout[0]["actor"], owner_actor.as_str());

    // A wrong password, an unknown address, a wrong code, then a recovery code.
    let wrong_password = "a wrong password typed in";
    let (status, _) = app
        .post(
            "/admin/staff/login",
            json!({"email": owner_email, "password": wrong_password}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let typed = "my-secret-password-in-the-email-field";
    let (status, _) = app
        .post(
            "/admin/staff/login",
            json!({"email": typed, "password": wrong_password}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, body) = app
        .post(
            "/admin/staff/login",
            json!({"email": owner_email, "password": STAFF_PASSWORD}),
        )
        .await;
    assert_eq!(body["error"], "second_factor_required", "{status} {body}");
    let challenge = body["challenge"].as_str().unwrap();
    let answer = |code: &str| {
        app.post(
            "/admin/staff/login/second_factor",
            json!({"challenge": challenge, "code": code}),
        )
    };
    let (status, _) = answer("not-a-recovery-code").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, signed_in) = answer(&recovery[0]).await;
    assert_eq!(status, StatusCode::OK, "{signed_in}");

    // The first sign-in (staff_token), two refusals by password, one by code, one by
    // recovery code: newest first.
    let logins = wait_for_entries(&app, "staff.login", 5).await;
    let details: Vec<(&str, &str)> = logins
        .iter()
        .map(|e| (e["actor"].as_str().unwrap(), e["detail"].as_str().unwrap()))
        .collect();
    assert_eq!(details.len(), 5, "{details:?}");
    assert!(
        details.contains(&(owner_actor.as_str(), "signed in with a password")),
        "{details:?}"
    );
    assert!(
        details.contains(&(owner_actor.as_str(), "sign-in refused: wrong password")),
        "{details:?}"
    );
    assert!(
        details.iter().any(|(actor, detail)| *actor == "visitor"
            && detail.starts_with("sign-in refused: no staff member")),
        "{details:?}"
    );
    assert_eq!(
        details[0],
        (
            owner_actor.as_str(),
            "signed in with a password and a recovery code"
        ),
        "{details:?}"
    );
    assert_eq!(
        details[1],
        (
            owner_actor.as_str(),
            "sign-in refused: a wrong second-factor code"
        )
    );

    // Staff changed from the command line (actor `cli`) and from the console (the owner).
    let staff = app.running.services.staff();
    let agent = customer_area::domain::EmailAddress::parse("agent@shop.example.com").unwrap();
    staff
        .add(
            agent,
            Role::Support,
            None,
            AuditLine::of_command_line(staff_actions::ADD_STAFF),
        )
        .await
        .unwrap();
    staff
        .reset(
            "agent@shop.example.com",
            AuditLine::of_command_line(staff_actions::RESET_STAFF),
        )
        .await
        .unwrap();
    staff
        .remove(
            "agent@shop.example.com",
            AuditLine::of_command_line(staff_actions::REMOVE_STAFF),
        )
        .await
        .unwrap();
    let token = signed_in["token"].as_str().unwrap();
    let (status, body) = app
        .call(
            Method::POST,
            "/admin/staff",
            Some(token),
            Some(json!({"email": "helper@shop.example.com", "role": "support"})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    for (action, actor, named) in [
        ("addStaff", "cli", "agent@shop.example.com"),
        ("resetStaff", "cli", "agent@shop.example.com"),
        ("removeStaff", "cli", "agent@shop.example.com"),
    ] {
        let found = entries_of(&app, action).await;
        assert!(
            found.iter().any(|e| e["actor"] == actor
                && e["ip"].is_null()
                && e["detail"].as_str().unwrap().contains(named)),
            "{action}: {found:?}"
        );
    }
    let added = entries_of(&app, "addStaff").await;
    assert_eq!(added[0]["actor"], owner_actor.as_str(), "{added:?}");
    assert_eq!(
        added[0]["detail"],
        "invited helper@shop.example.com as support"
    );

    // No entry holds a password, a code or what was typed as an address.
    let whole = serde_json::to_string(&audit(&app, API_TOKEN, "?limit=200").await).unwrap();
    for secret in [STAFF_PASSWORD, wrong_password, typed, recovery[0].as_str()] {
        assert!(!whole.contains(secret), "{secret} in {whole}");
    }
}

#[tokio::test]
async fn an_owner_renames_a_list_whose_id_and_members_stay_and_the_audit_names_both_names() {
    let app = audited_app().await;
    let owner = app.staff_token("owner@shop.example.com", Role::Owner).await;
    let support = app
        .staff_token("agent@shop.example.com", Role::Support)
        .await;
    app.add_list(API_TOKEN, "newsletter", "Monthly newsletter")
        .await;
    app.active_customer("reader@example.com").await;
    set_subscriptions(&app, API_TOKEN, "reader@example.com").await;
    let path = "/admin/subscriptions/newsletter";

    let (status, body) = app
        .call(
            Method::PATCH,
            path,
            Some(&support),
            Some(json!({"name": "Weekly"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    for refused in [json!({}), json!({"name": "  "}), json!({"name": "a\nb"})] {
        let (status, body) = app
            .call(Method::PATCH, path, Some(&owner), Some(refused.clone()))
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{refused}: {body}"
        );
        assert!(body["fields"]["name"].is_string(), "{body}");
    }
    let (status, body) = app
        .call(
            Method::PATCH,
            "/admin/subscriptions/nosuchlist",
            Some(&owner),
            Some(json!({"name": "Weekly"})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");

    let (status, renamed) = app
        .call(
            Method::PATCH,
            path,
            Some(&owner),
            Some(json!({"name": "Weekly news", "description": "Every Monday"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{renamed}");
    assert_eq!(
        renamed,
        json!({"id": "newsletter", "name": "Weekly news", "description": "Every Monday"})
    );
    let (_, lists) = app.call(Method::GET, "/subscriptions", None, None).await;
    assert_eq!(lists["subscriptions"][0]["name"], "Weekly news", "{lists}");
    let (_, members) = app
        .call(
            Method::GET,
            "/admin/subscriptions/newsletter/members",
            Some(API_TOKEN),
            None,
        )
        .await;
    assert_eq!(members["total"], 1, "{members}");

    let entries = audit(&app, API_TOKEN, "?actor=staff:owner@shop.example.com").await;
    let rename = entries
        .iter()
        .find(|e| e["action"] == "renameList")
        .unwrap_or_else(|| panic!("no renameList in {entries:?}"));
    assert_eq!(
        rename["detail"],
        "renamed list newsletter from \"Monthly newsletter\" to \"Weekly news\""
    );
    // A description alone leaves the name.
    let (status, body) = app
        .call(
            Method::PATCH,
            path,
            Some(&owner),
            Some(json!({"description": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        body,
        json!({"id": "newsletter", "name": "Weekly news", "description": null})
    );
}
