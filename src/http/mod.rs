//! Where requests enter. Filters here describe the HTTP shape of each endpoint only (path,
//! method, credentials, body) and hand over to a handler; `error` maps every failure.

mod admin;
mod body;
mod client;
mod cors;
mod customers;
mod error;
mod ops;
mod reply;
pub mod server;

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

/// The whole HTTP API of the customer area, every error included.
pub fn routes(area: Area) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    let cors = cors::Cors::new(&area.config.server.cors_origins);
    let preflight_cors = cors.clone();
    // OPTIONS on any path: a CORS preflight.
    let preflight = options_only()
        .and(warp::header::headers_cloned())
        .map(move |headers: http::HeaderMap| preflight_cors.preflight(&headers));
    // GET /subscriptions
    let lists = warp::path!("subscriptions")
        .and(warp::get())
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
    if response.status() == http::StatusCode::METHOD_NOT_ALLOWED {
        let allowed = allowed_methods(route_pattern(path));
        if !allowed.is_empty() {
            response
                .headers_mut()
                .insert(http::header::ALLOW, http::HeaderValue::from_static(allowed));
        }
    }
    response
}

fn customer_routes(
    area: &Area,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + use<> {
    let trusted: std::sync::Arc<[std::net::IpAddr]> = area.config.trusted_proxies().into();
    // POST /customers/login
    let login = warp::path!("customers" / "login")
        .and(warp::post())
        .and(with_area(area.clone()))
        .and(client::client_ip(trusted.clone()))
        .and(json_object())
        .and_then(customers::login);
    // POST /customers/logout
    let logout = warp::path!("customers" / "logout")
        .and(warp::post())
        .and(with_area(area.clone()))
        .and(authenticated(area.clone()))
        .and_then(customers::logout);
    // GET /customers/self (the handler checks the token and reads in one database trip)
    let show = warp::path!("customers" / "self")
        .and(warp::get())
        .and(with_area(area.clone()))
        .and(bearer_token())
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
        .and(client::client_ip(trusted.clone()))
        .and(json_object())
        .and_then(customers::activate);
    // POST /customers/password_reset
    let password_reset = warp::path!("customers" / "password_reset")
        .and(warp::post())
        .and(with_area(area.clone()))
        .and(client::client_ip(trusted.clone()))
        .and(json_object())
        .and_then(customers::request_password_reset);
    // POST /customers/do_reset
    let do_reset = warp::path!("customers" / "do_reset")
        .and(warp::post())
        .and(with_area(area.clone()))
        .and(client::client_ip(trusted.clone()))
        .and(json_object())
        .and_then(customers::reset_password);
    // POST /customers/newemail_confirm
    let newemail_confirm = warp::path!("customers" / "newemail_confirm")
        .and(warp::post())
        .and(with_area(area.clone()))
        .and(client::client_ip(trusted.clone()))
        .and(json_object())
        .and_then(customers::confirm_new_email);
    // POST /customers/signup (only with auth.allow_signup; otherwise it does not exist)
    let signup = signup_enabled(area)
        .and(warp::path!("customers" / "signup"))
        .and(warp::post())
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
    let throttles = area.throttles.clone();
    let trusted: std::sync::Arc<[std::net::IpAddr]> = area.config.trusted_proxies().into();
    open.and(warp::header::optional::<String>("authorization"))
        .and(client::client_ip(trusted))
        .and_then(move |header: Option<String>, ip: client::ClientIp| {
            let (expected, throttles) = (expected.clone(), throttles.clone());
            async move {
                let presented = bearer(header.as_deref()).ok_or(AppError::Unauthenticated)?;
                throttles
                    .check_admin_token(ip.0, || {
                        bool::from(crate::auth::digest(presented).ct_eq(&expected))
                    })
                    .map_err(Rejection::from)
            }
        })
        .untuple_one()
}

fn ops_routes(
    area: &Area,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + use<> {
    // GET /healthz
    let health = warp::path!("healthz")
        .and(warp::get())
        .and(with_area(area.clone()))
        .and_then(ops::healthz);
    // GET /metrics
    let metrics = warp::path!("metrics")
        .and(warp::get())
        .and(with_area(area.clone()))
        .and(warp::ext::optional::<server::PeerAddr>())
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::header::optional::<String>("x-forwarded-for"))
        .and_then(ops::metrics);
    // GET /openapi.json
    let openapi = warp::path!("openapi.json")
        .and(warp::get())
        .map(ops::openapi);
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

/// Every route pattern, for logs and metrics; `{}` matches one path segment. The OpenAPI
/// document's paths are checked against this list by `tests/openapi.rs`.
pub const ROUTE_PATTERNS: &[&str] = &[
    "/customers/login",
    "/customers/logout",
    "/customers/self",
    "/customers/activate",
    "/customers/signup",
    "/customers/password_reset",
    "/customers/do_reset",
    "/customers/newemail_confirm",
    "/subscriptions",
    "/admin/customers",
    "/admin/customers/{}",
    "/admin/customers/{}/resend_activation",
    "/admin/customers/{}/subscriptions",
    "/admin/customers/{}/consents",
    "/admin/subscriptions",
    "/admin/subscriptions/{}",
    "/healthz",
    "/metrics",
    "/openapi.json",
];

/// The methods a route pattern takes, as an `Allow` header value (empty for unknown patterns).
/// `tests/openapi.rs` holds it to the OpenAPI document's operations.
pub fn allowed_methods(pattern: &str) -> &'static str {
    match pattern {
        "/customers/self" => "GET, PATCH, DELETE",
        "/admin/customers" | "/admin/subscriptions" => "GET, POST",
        "/admin/customers/{}" => "GET, DELETE",
        "/admin/customers/{}/subscriptions" => "PUT",
        "/admin/subscriptions/{}" => "DELETE",
        "/customers/login"
        | "/customers/logout"
        | "/customers/activate"
        | "/customers/signup"
        | "/customers/password_reset"
        | "/customers/do_reset"
        | "/customers/newemail_confirm"
        | "/admin/customers/{}/resend_activation" => "POST",
        "/subscriptions"
        | "/admin/customers/{}/consents"
        | "/healthz"
        | "/metrics"
        | "/openapi.json" => "GET",
        _ => "",
    }
}

/// The route pattern a request path belongs to (`other` for unknown paths), so that logs and
/// metrics never carry ids or unbounded values.
pub fn route_pattern(path: &str) -> &'static str {
    let segments: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    ROUTE_PATTERNS
        .iter()
        .find(|pattern| {
            let parts: Vec<&str> = pattern.split('/').collect();
            parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(p, s)| *p == "{}" || p == s)
        })
        .copied()
        .unwrap_or("other")
}

#[cfg(test)]
mod tests {
    use super::route_pattern;

    #[test]
    fn paths_map_to_bounded_route_patterns() {
        assert_eq!(route_pattern("/customers/self"), "/customers/self");
        assert_eq!(
            route_pattern("/admin/customers/12345678901234"),
            "/admin/customers/{}"
        );
        assert_eq!(
            route_pattern("/admin/customers/12345678901234/resend_activation"),
            "/admin/customers/{}/resend_activation"
        );
        assert_eq!(route_pattern("/wp-admin/x.php"), "other");
    }
}
