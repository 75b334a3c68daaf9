//! Who may call what under `/admin`, generated from the route table: every `/admin` route is
//! called with no token, a customer's token, a support agent's, an owner's and the admin
//! token, and each answer must be the one the route's table entry says, so that a new route
//! cannot be forgotten.

use crate::common::spawn_app_with;
use customer_area::config::{SecondFactorRule, Secret};
use customer_area::domain::Role;
use customer_area::http::openapi::{Access, Body};
use customer_area::http::route::{Route, Verb};
use customer_area::http::table::{ROUTES, STAFF_LOGOUT};
use reqwest::{Method, StatusCode};
use serde_json::json;

const API_TOKEN: &str = "admin-token-for-tests-0123456789";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    Nobody,
    Customer,
    Support,
    Owner,
    ApiToken,
}

/// What a caller must get from a route of `access`: refused with this status and error, or
/// let in (the route's own answer then, whatever it is).
fn expected(access: Access, who: Who) -> Option<(StatusCode, &'static str)> {
    let unauthenticated = Some((StatusCode::UNAUTHORIZED, "unauthenticated"));
    let forbidden = Some((StatusCode::FORBIDDEN, "forbidden"));
    match (access, who) {
        (Access::Public, _) => None,
        (_, Who::Nobody | Who::Customer) => unauthenticated,
        (Access::Admin(Role::Owner), Who::Support) => forbidden,
        (Access::Admin(_), _) => None,
        (Access::Staff, Who::ApiToken) => forbidden,
        (Access::Staff, _) => None,
        (other, _) => panic!("an /admin route with access {other:?}"),
    }
}

/// The routes under `/admin`, signing out last (it ends the sessions the other calls use).
fn admin_routes() -> Vec<&'static Route> {
    let mut routes: Vec<&Route> = ROUTES
        .iter()
        .filter(|r| r.path.starts_with("/admin"))
        .collect();
    routes.sort_by_key(|r| r.path == STAFF_LOGOUT.path && r.verb == STAFF_LOGOUT.verb);
    routes
}

#[tokio::test]
async fn every_admin_route_answers_each_kind_of_caller_as_its_table_entry_says() {
    let app = spawn_app_with(|c| {
        c.admin.api_token = Secret::new(API_TOKEN);
        c.console.second_factor = SecondFactorRule::Optional;
        // A customer's token on /admin counts as a wrong admin token: many are sent below.
        c.limits.login_free_failures = 100_000;
    })
    .await;
    let customer = app.active_customer("shopper@example.com").await;
    let support = app
        .staff_token("agent@shop.example.com", Role::Support)
        .await;
    let owner = app.staff_token("owner@shop.example.com", Role::Owner).await;
    let callers = [
        (Who::Nobody, None),
        (Who::Customer, Some(customer.as_str())),
        (Who::Support, Some(support.as_str())),
        (Who::Owner, Some(owner.as_str())),
        (Who::ApiToken, Some(API_TOKEN)),
    ];
    let routes = admin_routes();
    assert!(routes.len() >= 16, "{} admin routes", routes.len());
    let mut checked = 0;
    for route in routes {
        let operation = route.operation().expect("an API route");
        let access = operation.access;
        // No such customer, list or record: the id names nothing.
        let mut path = route
            .path
            .replace("{id}", "00000000000000")
            .replace("{email}", "nobody%40shop.example.com");
        let method = Method::from_bytes(route.verb.as_str().as_bytes()).unwrap();
        let body = (!matches!(route.verb, Verb::Get | Verb::Delete)).then(|| json!({}));
        // An import takes a CSV file, checked only (an empty one: the header alone).
        let csv = matches!(operation.body, Body::Csv(_));
        if csv {
            path.push_str("?dry_run=true");
        }
        for (who, token) in callers {
            let (status, answer) = match (csv, token) {
                (true, Some(token)) => app.post_csv(&path, token, "email,name\n").await,
                _ => app.call(method.clone(), &path, token, body.clone()).await,
            };
            let what = format!("{method} {path} as {who:?}: {status} {answer}");
            match expected(access, who) {
                Some((refused, error)) => {
                    assert_eq!(status, refused, "{what}");
                    assert_eq!(answer["error"], error, "{what}");
                }
                None => {
                    assert!(
                        status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                        "{what}"
                    );
                    assert_ne!(status, StatusCode::METHOD_NOT_ALLOWED, "{what}");
                    assert_ne!(
                        answer["message"], "there is no such endpoint",
                        "the route is served: {what}"
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 80, "{checked} calls");
}

#[test]
fn the_api_document_names_the_role_of_every_admin_route() {
    let document = customer_area::http::openapi::document();
    for route in admin_routes() {
        let operation = &document["paths"][route.path][route.verb.as_str().to_lowercase()];
        let role = match route.operation().unwrap().access {
            Access::Admin(role) => role.as_str(),
            Access::Staff => "staff",
            Access::Public => continue,
            other => panic!("{} with access {other:?}", route.path),
        };
        assert_eq!(operation["x-required-role"], role, "{}", route.path);
        if role != "staff" {
            let text = operation["description"].as_str().unwrap();
            assert!(text.contains(&format!("role `{role}`")), "{text}");
        }
    }
}
