//! Where requests enter. Filters here describe the HTTP shape of each endpoint only (path,
//! method, credentials, body) and hand over to a handler; `error` maps every failure.

mod admin;
mod body;
mod customers;
mod error;
mod reply;
pub mod server;

use std::convert::Infallible;

use serde_json::json;
use subtle::ConstantTimeEq;
use warp::reject::Rejection;
use warp::reply::Response;
use warp::{Filter, Reply};

pub use error::error_response;

use crate::error::AppError;
use crate::flows::{Area, Session};
use body::{json_object, optional_json_object};

/// The whole HTTP API of the customer area, every error included.
pub fn routes(area: Area) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    let customers = customer_routes(&area);
    let admin = admin_routes(&area);
    // GET /subscriptions
    let lists = warp::path!("subscriptions")
        .and(warp::get())
        .and(with_area(area.clone()))
        .and_then(admin::public_lists);
    let health = warp::path!("healthz")
        .and(warp::get())
        .and(with_area(area))
        .and_then(healthz);
    customers
        .or(admin)
        .unify()
        .or(lists)
        .unify()
        .or(health)
        .unify()
        .recover(error::recover)
        .unify()
        .map(reply::with_standard_headers)
}

fn customer_routes(
    area: &Area,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + use<> {
    // POST /customers/login
    let login = warp::path!("customers" / "login")
        .and(warp::post())
        .and(with_area(area.clone()))
        .and(json_object())
        .and_then(customers::login);
    // POST /customers/logout
    let logout = warp::path!("customers" / "logout")
        .and(warp::post())
        .and(with_area(area.clone()))
        .and(authenticated(area.clone()))
        .and_then(customers::logout);
    // GET /customers/self
    let show = warp::path!("customers" / "self")
        .and(warp::get())
        .and(with_area(area.clone()))
        .and(authenticated(area.clone()))
        .and_then(customers::show_self);
    // PATCH /customers/self
    let update = warp::path!("customers" / "self")
        .and(warp::patch())
        .and(with_area(area.clone()))
        .and(authenticated(area.clone()))
        .and(json_object())
        .and_then(customers::update_self);
    // DELETE /customers/self
    let delete = warp::path!("customers" / "self")
        .and(warp::delete())
        .and(with_area(area.clone()))
        .and(authenticated(area.clone()))
        .and_then(customers::delete_self);
    // POST /customers/activate
    let activate = warp::path!("customers" / "activate")
        .and(warp::post())
        .and(with_area(area.clone()))
        .and(json_object())
        .and_then(customers::activate);
    login
        .or(logout)
        .unify()
        .or(show)
        .unify()
        .or(update)
        .unify()
        .or(delete)
        .unify()
        .or(activate)
        .unify()
}

/// The back office under `/admin`, behind [`admin_gate`].
fn admin_routes(
    area: &Area,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + use<> {
    // POST /admin/customers
    let create = warp::path!("customers")
        .and(warp::post())
        .and(with_area(area.clone()))
        .and(json_object())
        .and_then(admin::create_customer);
    // GET /admin/customers?search=&limit=&offset=
    let list = warp::path!("customers")
        .and(warp::get())
        .and(with_area(area.clone()))
        .and(warp::query::<Vec<(String, String)>>())
        .and_then(admin::list_customers);
    // GET /admin/customers/{id}
    let show = warp::path!("customers" / String)
        .and(warp::get())
        .and(with_area(area.clone()))
        .and_then(admin::show_customer);
    // DELETE /admin/customers/{id}
    let delete = warp::path!("customers" / String)
        .and(warp::delete())
        .and(with_area(area.clone()))
        .and_then(admin::delete_customer);
    // POST /admin/customers/{id}/resend_activation
    let resend = warp::path!("customers" / String / "resend_activation")
        .and(warp::post())
        .and(with_area(area.clone()))
        .and(optional_json_object())
        .and_then(admin::resend_activation);
    // PUT /admin/customers/{id}/subscriptions
    let subscribe = warp::path!("customers" / String / "subscriptions")
        .and(warp::put())
        .and(with_area(area.clone()))
        .and(json_object())
        .and_then(admin::set_subscriptions);
    // GET /admin/customers/{id}/consents
    let consents = warp::path!("customers" / String / "consents")
        .and(warp::get())
        .and(with_area(area.clone()))
        .and_then(admin::consents);
    // GET /admin/subscriptions
    let lists = warp::path!("subscriptions")
        .and(warp::get())
        .and(with_area(area.clone()))
        .and_then(admin::lists);
    // POST /admin/subscriptions
    let add_list = warp::path!("subscriptions")
        .and(warp::post())
        .and(with_area(area.clone()))
        .and(json_object())
        .and_then(admin::add_list);
    // DELETE /admin/subscriptions/{id}
    let remove_list = warp::path!("subscriptions" / String)
        .and(warp::delete())
        .and(with_area(area.clone()))
        .and_then(admin::remove_list);
    let routes = create
        .or(list)
        .unify()
        .or(show)
        .unify()
        .or(delete)
        .unify()
        .or(resend)
        .unify()
        .or(subscribe)
        .unify()
        .or(consents)
        .unify()
        .or(lists)
        .unify()
        .or(add_list)
        .unify()
        .or(remove_list)
        .unify();
    warp::path("admin").and(admin_gate(area)).and(routes)
}

/// Lets a request into `/admin` only when `admin.api_token` is set (otherwise the whole
/// prefix is an unknown route) and the caller presents exactly that token.
fn admin_gate(area: &Area) -> impl Filter<Extract = (), Error = Rejection> + Clone + use<> {
    let configured = area.config.admin.api_token.clone();
    let enabled = !configured.is_empty();
    // Comparing digests keeps the comparison constant-time whatever the lengths.
    let expected = crate::auth::digest(configured.expose());
    let open = warp::any()
        .and_then(move || async move {
            if enabled {
                Ok(())
            } else {
                Err(warp::reject::not_found())
            }
        })
        .untuple_one();
    open.and(warp::header::optional::<String>("authorization"))
        .and_then(move |header: Option<String>| {
            let expected = expected.clone();
            async move {
                let presented = bearer(header.as_deref()).ok_or(AppError::Unauthenticated)?;
                if bool::from(crate::auth::digest(presented).ct_eq(&expected)) {
                    Ok(())
                } else {
                    Err(Rejection::from(AppError::Unauthenticated))
                }
            }
        })
        .untuple_one()
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(header: Option<&str>) -> Option<&str> {
    header
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .filter(|token| !token.is_empty())
}

/// GET /healthz
async fn healthz(area: Area) -> Result<Response, Rejection> {
    match area.store.read(crate::store::ping).await {
        Ok(()) => Ok(reply::ok_json(&json!({ "status": "ok", "database": "ok" }))),
        Err(e) => {
            tracing::error!(error = %e, "health check: database not answering");
            let body =
                json!({ "error": "unavailable", "message": "the database is not answering" });
            Ok(warp::reply::with_status(
                warp::reply::json(&body),
                http::StatusCode::SERVICE_UNAVAILABLE,
            )
            .into_response())
        }
    }
}

/// Hands the customer area to a handler.
fn with_area(area: Area) -> impl Filter<Extract = (Area,), Error = Infallible> + Clone {
    warp::any().map(move || area.clone())
}

/// The caller's session from `Authorization: Bearer <token>`; 401 without a live one.
/// Tokens are taken from this header only, never from a query parameter or a cookie.
fn authenticated(area: Area) -> impl Filter<Extract = (Session,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization")
        .and(with_area(area))
        .and_then(|header: Option<String>, area: Area| async move {
            let token = bearer(header.as_deref()).ok_or(AppError::Unauthenticated)?;
            area.authenticate(token).await.map_err(Rejection::from)
        })
}
