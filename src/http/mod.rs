//! Where requests enter. `table.rs` lists every route once; the filters here match those
//! entries, add what each endpoint takes (credentials, body) and hand over to a handler;
//! `error` maps every failure.

mod admin;
mod body;
mod client;
mod cors;
mod customers;
mod error;
pub mod openapi;
mod ops;
mod reply;
pub mod route;
pub mod server;
pub mod table;

use std::convert::Infallible;

use subtle::ConstantTimeEq;
use warp::Filter;
use warp::reject::Rejection;
use warp::reply::Response;

pub use error::error_response;

use crate::error::AppError;
use crate::flows::{Area, Session};
use body::{json_object, optional_json_object};
use client::bearer;
use route::{at, at_with_param};
use table::*;

/// The whole HTTP API of the customer area, every error included.
pub fn routes(area: Area) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    let cors = cors::Cors::new(&area.config.server.cors_origins);
    let preflight_cors = cors.clone();
    // OPTIONS on any path: a CORS preflight.
    let preflight = options_only()
        .and(warp::header::headers_cloned())
        .map(move |headers: http::HeaderMap| preflight_cors.preflight(&headers));
    let lists = at(&PUBLIC_LISTS)
        .and(with_area(area.clone()))
        .and_then(admin::public_lists);
    let api = customer_routes(&area)
        .or(admin_routes(&area))
        .unify()
        .or(lists)
        .unify()
        .or(ops_routes(&area))
        .unify()
        .or(preflight)
        .unify()
        .recover(error::recover)
        .unify();
    warp::path::full()
        .and(warp::header::headers_cloned())
        .and(api)
        .map(
            move |path: warp::path::FullPath, request: http::HeaderMap, response| {
                let response = with_allow(path.as_str(), response);
                cors.decorate(&request, reply::with_standard_headers(response))
            },
        )
}

/// A 405 says which methods the route does take (`Allow`, RFC 9110).
fn with_allow(path: &str, mut response: Response) -> Response {
    if response.status() == http::StatusCode::METHOD_NOT_ALLOWED
        && let Some(allowed) = route::allow_header(path)
    {
        response.headers_mut().insert(http::header::ALLOW, allowed);
    }
    response
}

fn customer_routes(
    area: &Area,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + use<> {
    let trusted: std::sync::Arc<[std::net::IpAddr]> = area.config.trusted_proxies().into();
    let login = at(&LOGIN)
        .and(with_area(area.clone()))
        .and(client::client_ip(trusted.clone()))
        .and(json_object())
        .and_then(customers::login);
    let logout = at(&LOGOUT)
        .and(with_area(area.clone()))
        .and(authenticated(area.clone()))
        .and_then(customers::logout);
    let show = at(&SHOW_SELF)
        .and(with_area(area.clone()))
        .and(bearer_token())
        .and_then(customers::show_self);
    let update = at(&UPDATE_SELF)
        .and(with_area(area.clone()))
        .and(authenticated(area.clone()))
        .and(json_object())
        .and_then(customers::update_self);
    let delete = at(&DELETE_SELF)
        .and(with_area(area.clone()))
        .and(authenticated(area.clone()))
        .and_then(customers::delete_self);
    let activate = at(&ACTIVATE)
        .and(with_area(area.clone()))
        .and(client::client_ip(trusted.clone()))
        .and(json_object())
        .and_then(customers::activate);
    let password_reset = at(&REQUEST_PASSWORD_RESET)
        .and(with_area(area.clone()))
        .and(client::client_ip(trusted.clone()))
        .and(json_object())
        .and_then(customers::request_password_reset);
    let do_reset = at(&RESET_PASSWORD)
        .and(with_area(area.clone()))
        .and(client::client_ip(trusted.clone()))
        .and(json_object())
        .and_then(customers::reset_password);
    let newemail_confirm = at(&CONFIRM_NEW_EMAIL)
        .and(with_area(area.clone()))
        .and(client::client_ip(trusted.clone()))
        .and(json_object())
        .and_then(customers::confirm_new_email);
    let signup = signup_enabled(area)
        .and(at(&SIGN_UP))
        .and(with_area(area.clone()))
        .and(client::client_ip(trusted.clone()))
        .and(json_object())
        .and_then(customers::sign_up);
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
        .or(password_reset)
        .unify()
        .or(do_reset)
        .unify()
        .or(newemail_confirm)
        .unify()
        .or(signup)
        .unify()
}

/// Passes only when sign-up is on; otherwise the request is treated as an unknown route.
fn signup_enabled(area: &Area) -> impl Filter<Extract = (), Error = Rejection> + Clone + use<> {
    let enabled = area.config.auth.allow_signup;
    warp::any()
        .and_then(move || async move {
            if enabled {
                Ok(())
            } else {
                Err(warp::reject::not_found())
            }
        })
        .untuple_one()
}

/// The back office under `/admin`, behind [`admin_gate`].
fn admin_routes(
    area: &Area,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + use<> {
    let create = at(&CREATE_CUSTOMER)
        .and(with_area(area.clone()))
        .and(json_object())
        .and_then(admin::create_customer);
    let list = at(&LIST_CUSTOMERS)
        .and(with_area(area.clone()))
        .and(warp::query::<Vec<(String, String)>>())
        .and_then(admin::list_customers);
    let show = at_with_param(&SHOW_CUSTOMER)
        .and(with_area(area.clone()))
        .and_then(admin::show_customer);
    let delete = at_with_param(&DELETE_CUSTOMER)
        .and(with_area(area.clone()))
        .and_then(admin::delete_customer);
    let resend = at_with_param(&RESEND_ACTIVATION)
        .and(with_area(area.clone()))
        .and(optional_json_object())
        .and_then(admin::resend_activation);
    let subscribe = at_with_param(&SET_SUBSCRIPTIONS)
        .and(with_area(area.clone()))
        .and(json_object())
        .and_then(admin::set_subscriptions);
    let consents = at_with_param(&CONSENTS)
        .and(with_area(area.clone()))
        .and_then(admin::consents);
    let lists = at(&ADMIN_LISTS)
        .and(with_area(area.clone()))
        .and_then(admin::lists);
    let add_list = at(&ADD_LIST)
        .and(with_area(area.clone()))
        .and(json_object())
        .and_then(admin::add_list);
    let remove_list = at_with_param(&REMOVE_LIST)
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

fn ops_routes(
    area: &Area,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + use<> {
    let health = at(&HEALTHZ)
        .and(with_area(area.clone()))
        .and_then(ops::healthz);
    let metrics = at(&METRICS)
        .and(with_area(area.clone()))
        .and(warp::ext::optional::<server::PeerAddr>())
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::header::optional::<String>("x-forwarded-for"))
        .and_then(ops::metrics);
    let openapi = at(&OPENAPI).map(ops::openapi);
    health.or(metrics).unify().or(openapi).unify()
}

/// Passes `OPTIONS` requests only; any other method is "not found" here (not "method not
/// allowed"), so that this catch-all never hides a real route's 404 or 405.
fn options_only() -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::method()
        .and_then(|method: http::Method| async move {
            if method == http::Method::OPTIONS {
                Ok(())
            } else {
                Err(warp::reject::not_found())
            }
        })
        .untuple_one()
}

/// Hands the customer area to a handler.
fn with_area(area: Area) -> impl Filter<Extract = (Area,), Error = Infallible> + Clone {
    warp::any().map(move || area.clone())
}

/// The token of `Authorization: Bearer <token>`, unchecked; 401 without one. The handler
/// must check it, as [`authenticated`] does.
fn bearer_token() -> impl Filter<Extract = (String,), Error = Rejection> + Clone {
    warp::header::optional::<String>("authorization").and_then(
        |header: Option<String>| async move {
            bearer(header.as_deref())
                .map(str::to_owned)
                .ok_or_else(|| Rejection::from(AppError::Unauthenticated))
        },
    )
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
