//! Where requests enter. Filters here describe the HTTP shape of each endpoint only (path,
//! method, credentials, body) and hand over to a handler; `error` maps every failure.

mod body;
mod customers;
mod error;
mod reply;
pub mod server;

use std::convert::Infallible;

use serde_json::json;
use warp::reject::Rejection;
use warp::reply::Response;
use warp::{Filter, Reply};

pub use error::error_response;

use crate::error::AppError;
use crate::flows::{Area, Session};
use body::json_object;

/// The whole HTTP API of the customer area, every error included.
pub fn routes(area: Area) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    let customers = customer_routes(&area);
    let health = warp::path!("healthz")
        .and(warp::get())
        .and(with_area(area))
        .and_then(healthz);
    customers
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
    // POST /customers/password_reset
    let password_reset = warp::path!("customers" / "password_reset")
        .and(warp::post())
        .and(with_area(area.clone()))
        .and(json_object())
        .and_then(customers::request_password_reset);
    // POST /customers/do_reset
    let do_reset = warp::path!("customers" / "do_reset")
        .and(warp::post())
        .and(with_area(area.clone()))
        .and(json_object())
        .and_then(customers::reset_password);
    // POST /customers/newemail_confirm
    let newemail_confirm = warp::path!("customers" / "newemail_confirm")
        .and(warp::post())
        .and(with_area(area.clone()))
        .and(json_object())
        .and_then(customers::confirm_new_email);
    // POST /customers/signup (only with auth.allow_signup; otherwise it does not exist)
    let signup = signup_enabled(area)
        .and(warp::path!("customers" / "signup"))
        .and(warp::post())
        .and(with_area(area.clone()))
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
            let token = header
                .as_deref()
                .and_then(|h| h.split_once(' '))
                .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                .map(|(_, token)| token.trim())
                .ok_or(AppError::Unauthenticated)?;
            area.authenticate(token).await.map_err(Rejection::from)
        })
}
