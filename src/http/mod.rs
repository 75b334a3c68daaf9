//! Where requests enter. `table.rs` lists every route once; the filters here match those
//! entries, add what each endpoint takes (credentials, body) and hand over to a handler;
//! `error` maps every failure.

mod admin;
mod body;
pub(crate) mod client;
mod cors;
mod customers;
mod error;
pub mod openapi;
mod ops;
mod overview;
mod passkeys;
mod query;
mod reply;
pub mod route;
mod security;
pub mod server;
mod shop;
mod staff;
mod staff_passkeys;
mod support;
pub mod table;
mod wire;

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;

use warp::Filter;
use warp::reject::Rejection;
use warp::reply::Response;

pub use error::error_response;

use crate::config::LoginMethod;
use crate::error::AppError;
use crate::flows::{Services, Session};
use body::{json_object, optional_json_object};
use client::bearer;
use route::{Route, at, at_with_param};
use table::*;

/// `a.or(b).unify().or(c).unify()...`: the first of the filters that matches.
macro_rules! any_of {
    ($first:expr $(, $rest:expr)* $(,)?) => {
        $first $(.or($rest).unify())*
    };
}

/// The whole HTTP API of the customer services, every error included.
pub fn routes(
    services: Services,
) -> impl Filter<Extract = (Response,), Error = Infallible> + Clone {
    let cors = cors::Cors::new(&services.config().server.cors_origins);
    let preflight_cors = cors.clone();
    // OPTIONS on any path: a CORS preflight.
    let preflight = options_only()
        .and(warp::header::headers_cloned())
        .map(move |headers: http::HeaderMap| preflight_cors.preflight(&headers));
    let lists = at(&PUBLIC_LISTS)
        .and(with_services(services.clone()))
        .and_then(admin::public_lists);
    let api = any_of!(
        customer_routes(&services),
        admin_routes(&services),
        lists,
        ops_routes(&services),
        crate::web::routes(&services),
        preflight,
    )
    // Boxed: warp's `and` clones the filter after it for every request, and the future of the
    // whole table, unboxed, is kilobytes that hyper and warp move around as the request
    // proceeds (together a tenth of the CPU of `GET /customers/self`, docs/performance.md).
    .boxed()
    .recover(error::recover)
    .unify();
    warp::path::full().and(origin()).and(api).map(
        move |path: warp::path::FullPath, origin: Option<String>, response| {
            let response = with_allow(path.as_str(), response);
            cors.decorate(origin.as_deref(), reply::with_standard_headers(response))
        },
    )
}

/// The request's `Origin` header; none when it is absent or not text (never a rejection).
fn origin() -> impl Filter<Extract = (Option<String>,), Error = Infallible> + Clone {
    warp::header::optional::<String>("origin")
        .or(warp::any().map(|| None))
        .unify()
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
    services: &Services,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + use<> {
    let trusted: Arc<[IpAddr]> = services.config().trusted_proxies().into();
    // Anyone, with a JSON body; throttled by the client's address.
    let visitor = |route: &'static Route| {
        at(route)
            .and(with_services(services.clone()))
            .and(client::client(trusted.clone()))
            .and(json_object())
    };
    // Anyone, signing in by a method `auth.login_methods` may leave out (then 404, before the
    // body is read).
    let signing_in = |route: &'static Route, method: LoginMethod| {
        at(route)
            .and(login_method_enabled(services, method))
            .and(with_services(services.clone()))
            .and(client::client(trusted.clone()))
            .and(json_object())
    };
    // A signed-in customer.
    let customer = |route: &'static Route| {
        at(route)
            .and(with_services(services.clone()))
            .and(authenticated(services.clone()))
    };
    let customer_with_id = |route: &'static Route| {
        at_with_param(route)
            .and(with_services(services.clone()))
            .and(authenticated(services.clone()))
    };
    // Anyone holding an unsubscribe link (its token is the path's parameter).
    let link = |route: &'static Route| {
        at_with_param(route)
            .and(with_services(services.clone()))
            .and(client::client(trusted.clone()))
    };
    // The handler checks the token and reads in one database trip.
    let show = at(&SHOW_SELF)
        .and(with_services(services.clone()))
        .and(bearer_token())
        .and_then(customers::show_self);
    // The busiest routes first: every route before the one a request is for checks its path
    // (warp tries them in order), and GET /customers/self is most of the traffic.
    any_of!(
        show,
        customer(&UPDATE_SELF)
            .and(json_object())
            .and_then(customers::update_self),
        signing_in(&LOGIN, LoginMethod::Password).and_then(customers::login),
        signing_in(&REQUEST_LOGIN_CODE, LoginMethod::EmailCode)
            .and_then(customers::request_login_code),
        signing_in(&SIGN_IN_WITH_CODE, LoginMethod::EmailCode)
            .and_then(customers::sign_in_with_code),
        visitor(&CUSTOMER_SECOND_FACTOR).and_then(customers::finish_second_factor),
        customer(&CUSTOMER_TOTP_STATUS).and_then(customers::totp_status),
        customer(&BEGIN_CUSTOMER_TOTP).and_then(customers::begin_totp),
        customer(&CONFIRM_CUSTOMER_TOTP)
            .and(json_object())
            .and_then(customers::confirm_totp),
        customer(&REMOVE_CUSTOMER_TOTP).and_then(customers::remove_totp),
        customer(&LOGOUT).and_then(customers::logout),
        customer(&DELETE_SELF).and_then(customers::delete_self),
        visitor(&ACTIVATE).and_then(customers::activate),
        visitor(&REQUEST_PASSWORD_RESET).and_then(customers::request_password_reset),
        visitor(&RESET_PASSWORD).and_then(customers::reset_password),
        visitor(&CONFIRM_NEW_EMAIL).and_then(customers::confirm_new_email),
        customer(&LIST_SESSIONS).and_then(security::list_sessions),
        customer_with_id(&REVOKE_SESSION).and_then(security::revoke_session),
        customer(&REVOKE_OTHER_SESSIONS).and_then(security::revoke_other_sessions),
        customer(&EXPORT).and_then(security::export),
        customer(&ACTIVITY)
            .and(warp::query::<Vec<(String, String)>>())
            .and_then(security::activity),
        visitor(&UNDO_EMAIL_CHANGE).and_then(security::undo_email_change),
        visitor(&NOT_ME).and_then(security::secure_account),
        customer(&REAUTHENTICATE)
            .and(json_object())
            .and_then(security::reauthenticate),
        // A form body (RFC 8058), not JSON.
        link(&UNSUBSCRIBE)
            .and(body::form_body())
            .and_then(shop::unsubscribe),
        link(&SUBSCRIPTION_PREFERENCES).and_then(shop::preferences),
        link(&PAUSE_SUBSCRIPTION)
            .and(json_object())
            .and_then(shop::pause),
        link(&RESUME_SUBSCRIPTION)
            .and(json_object())
            .and_then(shop::resume),
        link(&UNSUBSCRIBE_ALL)
            .and(optional_json_object())
            .and_then(shop::unsubscribe_all),
        // Only with auth.allow_signup; otherwise 404 naming the setting, before the body is read.
        at(&SIGN_UP)
            .and(signup_enabled(services))
            .and(with_services(services.clone()))
            .and(client::client(trusted.clone()))
            .and(json_object())
            .and(warp::header::optional::<String>("accept-language"))
            .and_then(customers::sign_up),
        passkey_routes(services),
    )
}

/// The passkey endpoints; with passkeys off (no relying party) they do not exist.
fn passkey_routes(
    services: &Services,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + use<> {
    let trusted: Arc<[IpAddr]> = services.config().trusted_proxies().into();
    let visitor = |route: &'static Route| {
        at(route)
            .and(with_services(services.clone()))
            .and(client::client(trusted.clone()))
    };
    let customer = |route: &'static Route| {
        at(route)
            .and(with_services(services.clone()))
            .and(authenticated(services.clone()))
    };
    let routes = any_of!(
        customer(&BEGIN_PASSKEY_REGISTRATION)
            .and(optional_json_object())
            .and_then(passkeys::begin_registration),
        customer(&FINISH_PASSKEY_REGISTRATION)
            .and(json_object())
            .and_then(passkeys::finish_registration),
        customer(&LIST_PASSKEYS).and_then(passkeys::list),
        at_with_param(&REMOVE_PASSKEY)
            .and(with_services(services.clone()))
            .and(authenticated(services.clone()))
            .and_then(passkeys::remove),
        visitor(&BEGIN_PASSKEY_LOGIN)
            .and(optional_json_object())
            .and_then(passkeys::begin_login),
        at(&FINISH_PASSKEY_LOGIN)
            .and(login_method_enabled(services, LoginMethod::Passkey))
            .and(with_services(services.clone()))
            .and(client::client(trusted.clone()))
            .and(json_object())
            .and_then(passkeys::finish_login),
    );
    route::only_when(services.passkeys().enabled()).and(routes)
}

/// Passes only when sign-up is on; otherwise a 404 that says which setting switched it off.
fn signup_enabled(
    services: &Services,
) -> impl Filter<Extract = (), Error = Rejection> + Clone + use<> {
    switched_on(
        services.config().auth.allow_signup,
        crate::flows::signup_switched_off,
    )
}

/// Passes only when `auth.login_methods` lists `method`; otherwise a 404 naming the setting.
fn login_method_enabled(
    services: &Services,
    method: LoginMethod,
) -> impl Filter<Extract = (), Error = Rejection> + Clone + use<> {
    switched_on(services.config().auth.allows(method), move || {
        crate::flows::method_switched_off(method)
    })
}

/// Passes when `enabled`; otherwise answers `off()`, a 404 that says which setting switched the
/// endpoint off, so that a shop's developer is not left guessing at a typo in the path. It
/// runs before the body is read.
fn switched_on<F>(
    enabled: bool,
    off: F,
) -> impl Filter<Extract = (), Error = Rejection> + Clone + use<F>
where
    F: Fn() -> crate::error::AppError + Clone + Send + Sync + 'static,
{
    warp::any()
        .and_then(move || {
            let off = off.clone();
            async move {
                if enabled {
                    Ok(())
                } else {
                    Err(warp::reject::custom(error::ApiRejection(off())))
                }
            }
        })
        .untuple_one()
}

/// The back office under `/admin`: each route lets in the callers its table entry's access
/// names and is audited ([`guarded`]); and the staff's own endpoints.
fn admin_routes(
    services: &Services,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + use<> {
    let served = |route: &'static Route| at(route).and(with_services(services.clone()));
    let served_with_id =
        |route: &'static Route| at_with_param(route).and(with_services(services.clone()));
    let audit = at(&AUDIT)
        .and(admitted(&AUDIT, services))
        .and(with_services(services.clone()))
        .and(warp::query::<Vec<(String, String)>>())
        .and_then(admin::audit);
    let routes = any_of!(
        guarded(
            &CREATE_CUSTOMER,
            services,
            served(&CREATE_CUSTOMER)
                .and(json_object())
                .and_then(admin::create_customer),
        ),
        guarded(
            &LIST_CUSTOMERS,
            services,
            served(&LIST_CUSTOMERS)
                .and(warp::query::<Vec<(String, String)>>())
                .and_then(admin::list_customers),
        ),
        guarded(
            &SHOW_CUSTOMER,
            services,
            served_with_id(&SHOW_CUSTOMER).and_then(admin::show_customer),
        ),
        acting(&UPDATE_CUSTOMER, services)
            .and(json_object())
            .and_then(support::update_customer),
        guarded(
            &DELETE_CUSTOMER,
            services,
            served_with_id(&DELETE_CUSTOMER).and_then(admin::delete_customer),
        ),
        guarded(
            &RESEND_ACTIVATION,
            services,
            served_with_id(&RESEND_ACTIVATION)
                .and(optional_json_object())
                .and_then(admin::resend_activation),
        ),
        guarded(
            &REMOVE_SECOND_FACTOR,
            services,
            served_with_id(&REMOVE_SECOND_FACTOR).and_then(admin::remove_second_factor),
        ),
        guarded(
            &SET_SUBSCRIPTIONS,
            services,
            served_with_id(&SET_SUBSCRIPTIONS)
                .and(json_object())
                .and_then(admin::set_subscriptions),
        ),
        guarded(
            &CONSENTS,
            services,
            served_with_id(&CONSENTS).and_then(admin::consents),
        ),
        guarded(
            &CUSTOMER_SESSIONS,
            services,
            served_with_id(&CUSTOMER_SESSIONS).and_then(support::sessions),
        ),
        acting(&REVOKE_CUSTOMER_SESSIONS, services).and_then(support::revoke_sessions),
        guarded(
            &CUSTOMER_ACTIVITY,
            services,
            served_with_id(&CUSTOMER_ACTIVITY)
                .and(warp::query::<Vec<(String, String)>>())
                .and_then(support::activity),
        ),
        guarded(
            &CUSTOMER_EMAILS,
            services,
            served_with_id(&CUSTOMER_EMAILS)
                .and(warp::query::<Vec<(String, String)>>())
                .and_then(support::emails),
        ),
        guarded(
            &CUSTOMER_PASSKEYS,
            services,
            served_with_id(&CUSTOMER_PASSKEYS).and_then(support::passkeys),
        ),
        acting(&SEND_PASSWORD_RESET, services)
            .and(optional_json_object())
            .and_then(support::send_password_reset),
        acting(&UNLOCK_CUSTOMER, services).and_then(support::unlock),
        guarded(
            &MAIL_EVENT,
            services,
            served(&MAIL_EVENT)
                .and(json_object())
                .and_then(admin::mail_event),
        ),
        guarded(
            &ADMIN_LISTS,
            services,
            served(&ADMIN_LISTS).and_then(admin::lists),
        ),
        guarded(
            &ADD_LIST,
            services,
            served(&ADD_LIST)
                .and(json_object())
                .and_then(admin::add_list),
        ),
        guarded(
            &REMOVE_LIST,
            services,
            served_with_id(&REMOVE_LIST).and_then(admin::remove_list),
        ),
        acting(&RENAME_LIST, services)
            .and(json_object())
            .and_then(admin::rename_list),
        guarded(
            &LIST_MEMBERS,
            services,
            served_with_id(&LIST_MEMBERS)
                .and(warp::query::<Vec<(String, String)>>())
                .and_then(shop::members),
        ),
        guarded(&STATS, services, served(&STATS).and_then(overview::stats)),
        guarded(
            &OUTBOX,
            services,
            served(&OUTBOX)
                .and(warp::query::<Vec<(String, String)>>())
                .and_then(overview::outbox),
        ),
        acting(&RETRY_EMAIL, services).and_then(overview::retry_email),
        guarded(
            &WEBHOOK_DELIVERIES,
            services,
            served(&WEBHOOK_DELIVERIES)
                .and(warp::query::<Vec<(String, String)>>())
                .and_then(overview::deliveries),
        ),
        acting(&RETRY_DELIVERY, services).and_then(overview::retry_delivery),
        acting_without_id(&TEST_WEBHOOKS, services).and_then(overview::test_webhooks),
        // Moving in (SPEC 8.3).
        guarded(
            &IMPORT_CUSTOMERS,
            services,
            served(&IMPORT_CUSTOMERS)
                .and(warp::query::<Vec<(String, String)>>())
                .and(body::csv_body())
                .and_then(admin::import_customers),
        ),
        audit,
        staff_routes(services),
        staff_changes(services),
    );
    warp::path("admin").and(routes)
}

/// An `/admin` route behind its admission ([`admitted`]), and audited: every change, and every
/// look at one customer, is recorded once it succeeded, with the caller, the route's operation
/// and the customer its path names (looked up before the handler runs: a deletion removes it).
fn guarded<F>(
    route: &'static Route,
    services: &Services,
    handler: F,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + use<F>
where
    F: Filter<Extract = (Response,), Error = Rejection> + Clone + Send + Sync + 'static,
{
    let operation = route.operation().expect("an API route");
    let about_a_customer = route.path.starts_with("/admin/customers/{id}");
    let audited = route.verb != route::Verb::Get || about_a_customer;
    let (action, summary) = (operation.id, operation.summary);
    let key = if route.path.contains('{') {
        at_with_param(route).map(Some).boxed()
    } else {
        at(route).map(|| None).boxed()
    };
    key.and(admitted(route, services))
        .and(with_services(services.clone()))
        .and_then(
            move |key: Option<String>, caller: crate::flows::Caller, services: Services| async move {
                let customer = match key {
                    Some(key) if audited && about_a_customer => {
                        services.audits().customer_named(&key).await?
                    }
                    _ => None,
                };
                Ok::<_, Rejection>((caller, customer, services))
            },
        )
        .untuple_one()
        .and(handler)
        .and_then(
            move |caller: crate::flows::Caller,
                  customer,
                  services: Services,
                  response: Response| async move {
                if audited && response.status().is_success() {
                    let detail = response.extensions().get::<AuditDetail>().map(|d| d.0.clone());
                    let done = crate::flows::Action {
                        name: action,
                        summary,
                        customer,
                        detail,
                    };
                    // The action is done: a failed record is logged, not answered.
                    if let Err(e) = services.audits().record(&caller, done).await {
                        tracing::error!(error = %e, action, actor = %caller.name(), "an admin action could not be audited");
                    }
                }
                Ok::<_, Rejection>(response)
            },
        )
}

/// An `/admin/.../{id}...` action behind its admission ([`admitted`]) that audits itself: the
/// handler gets the path's key (a customer, a list, a staff member's address) and the
/// [`crate::flows::AuditLine`] its flow writes in the action's own transaction, so that no
/// action is done without its record.
fn acting(
    route: &'static Route,
    services: &Services,
) -> impl Filter<Extract = (String, crate::flows::AuditLine, Services), Error = Rejection> + Clone + use<>
{
    let operation = route.operation().expect("an API route");
    let (action, summary) = (operation.id, operation.summary);
    at_with_param(route)
        .and(admitted(route, services))
        .map(move |key: String, caller: crate::flows::Caller| {
            (key, crate::flows::AuditLine::new(&caller, action, summary))
        })
        .untuple_one()
        .and(with_services(services.clone()))
}

/// An `/admin` action without a path parameter that audits itself, as [`acting`] does.
fn acting_without_id(
    route: &'static Route,
    services: &Services,
) -> impl Filter<Extract = (crate::flows::AuditLine, Services), Error = Rejection> + Clone + use<> {
    let operation = route.operation().expect("an API route");
    let (action, summary) = (operation.id, operation.summary);
    at(route)
        .and(admitted(route, services))
        .map(move |caller: crate::flows::Caller| {
            crate::flows::AuditLine::new(&caller, action, summary)
        })
        .and(with_services(services.clone()))
}

/// What an admin handler adds to its answer for the audit log, in place of the operation's
/// summary (what an import did, say).
#[derive(Clone, Debug)]
pub(crate) struct AuditDetail(pub String);

/// The staff's own endpoints: activation and sign-in for anyone, the rest for a staff session.
fn staff_routes(
    services: &Services,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + use<> {
    let trusted: Arc<[IpAddr]> = services.config().trusted_proxies().into();
    let visitor = |route: &'static Route| {
        at(route)
            .and(with_services(services.clone()))
            .and(client::client(trusted.clone()))
            .and(json_object())
    };
    let member = |route: &'static Route| {
        at(route)
            .and(with_services(services.clone()))
            .and(staff_session(route, services))
    };
    any_of!(
        visitor(&STAFF_ACTIVATE).and_then(staff::activate),
        visitor(&STAFF_LOGIN).and_then(staff::login),
        visitor(&STAFF_SECOND_FACTOR).and_then(staff::second_factor),
        member(&STAFF_LOGOUT).and_then(staff::logout),
        member(&STAFF_SELF).and_then(staff::show_self),
        member(&BEGIN_TOTP).and_then(staff::begin_totp),
        member(&CONFIRM_TOTP)
            .and(json_object())
            .and_then(staff::confirm_totp),
        member(&BEGIN_STAFF_PASSKEY_REGISTRATION)
            .and(optional_json_object())
            .and_then(staff_passkeys::begin_registration),
        member(&FINISH_STAFF_PASSKEY_REGISTRATION)
            .and(json_object())
            .and_then(staff_passkeys::finish_registration),
        member(&LIST_STAFF_PASSKEYS).and_then(staff_passkeys::list),
        at_with_param(&REMOVE_STAFF_PASSKEY)
            .and(with_services(services.clone()))
            .and(staff_session(&REMOVE_STAFF_PASSKEY, services))
            .and_then(staff_passkeys::remove),
        at(&BEGIN_STAFF_PASSKEY_LOGIN)
            .and(with_services(services.clone()))
            .and(client::client(trusted.clone()))
            .and(optional_json_object())
            .and_then(staff_passkeys::begin_login),
        visitor(&FINISH_STAFF_PASSKEY_LOGIN).and_then(staff_passkeys::finish_login),
    )
}

/// The owners' endpoints that list and change the staff (after [`staff_routes`], whose fixed
/// paths `{email}` would match too); each change audits itself, as the CLI's does.
fn staff_changes(
    services: &Services,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + use<> {
    any_of!(
        guarded(
            &LIST_STAFF,
            services,
            at(&LIST_STAFF)
                .and(with_services(services.clone()))
                .and_then(staff::list),
        ),
        acting_without_id(&ADD_STAFF, services)
            .and(json_object())
            .and_then(staff::add),
        acting(&REMOVE_STAFF, services).and_then(staff::remove),
        acting(&RESET_STAFF, services).and_then(staff::reset),
        acting(&CHANGE_STAFF_ROLE, services)
            .and(json_object())
            .and_then(staff::change_role),
    )
}

/// Lets a caller into an `/admin` route only when its table entry's access allows them: the
/// admin token (when `admin.api_token` is set), or a staff session of at least the route's
/// role that has passed its second factor. No live token is 401, a lesser role 403
/// `forbidden`, a session that may only enroll a second factor 403
/// `second_factor_enrollment_required`.
fn admitted(
    route: &'static Route,
    services: &Services,
) -> impl Filter<Extract = (crate::flows::Caller,), Error = Rejection> + Clone + use<> {
    let Some(openapi::Access::Admin(needed)) = route.operation().map(|op| op.access) else {
        panic!(
            "{} is served to admin callers but its table entry says otherwise",
            route.path
        );
    };
    caller(services).and_then(move |caller: crate::flows::Caller| async move {
        if let crate::flows::Actor::Staff(session) = &caller.actor
            && !session.second_factor
        {
            return Err(Rejection::from(AppError::SecondFactorEnrollmentRequired));
        }
        if caller.role() < needed {
            return Err(Rejection::from(AppError::Forbidden));
        }
        Ok(caller)
    })
}

/// The caller of a staff-only route: a staff session, also one that may only enroll a second
/// factor (the admin token is no staff member: 403).
fn staff_session(
    route: &'static Route,
    services: &Services,
) -> impl Filter<Extract = (crate::flows::Caller,), Error = Rejection> + Clone + use<> {
    assert!(
        matches!(
            route.operation().map(|op| op.access),
            Some(openapi::Access::Staff)
        ),
        "{} is served to staff but its table entry says otherwise",
        route.path
    );
    caller(services).and_then(|caller: crate::flows::Caller| async move {
        match caller.actor {
            crate::flows::Actor::Staff(_) => Ok(caller),
            crate::flows::Actor::ApiToken => Err(Rejection::from(AppError::Forbidden)),
        }
    })
}

/// Who calls: the admin token or a live staff session, from `Authorization: Bearer`; 401
/// otherwise (a customer's token too).
fn caller(
    services: &Services,
) -> impl Filter<Extract = (crate::flows::Caller,), Error = Rejection> + Clone + use<> {
    let trusted: Arc<[IpAddr]> = services.config().trusted_proxies().into();
    warp::header::optional::<String>("authorization")
        .and(client::client_ip(trusted))
        .and(with_services(services.clone()))
        .and_then(
            |header: Option<String>, ip: client::ClientIp, services: Services| async move {
                let presented = bearer(header.as_deref()).ok_or(AppError::Unauthenticated)?;
                services
                    .staff()
                    .identify(presented, ip.0)
                    .await
                    .map_err(Rejection::from)
            },
        )
}

fn ops_routes(
    services: &Services,
) -> impl Filter<Extract = (Response,), Error = Rejection> + Clone + use<> {
    let health = at(&HEALTHZ)
        .and(with_services(services.clone()))
        .and_then(ops::healthz);
    let metrics = at(&METRICS)
        .and(with_services(services.clone()))
        .and(warp::ext::optional::<server::PeerAddr>())
        .and(warp::header::optional::<String>("authorization"))
        .and(warp::header::optional::<String>("x-forwarded-for"))
        .and_then(ops::metrics);
    let openapi = at(&OPENAPI).map(ops::openapi);
    any_of!(health, metrics, openapi)
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

/// Hands the customer services to a handler.
fn with_services(
    services: Services,
) -> impl Filter<Extract = (Services,), Error = Infallible> + Clone {
    warp::any().map(move || services.clone())
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
fn authenticated(
    services: Services,
) -> impl Filter<Extract = (Session,), Error = Rejection> + Clone {
    let trusted: Arc<[IpAddr]> = services.config().trusted_proxies().into();
    warp::header::optional::<String>("authorization")
        .and(with_services(services))
        .and(client::client(trusted))
        .and_then(
            |header: Option<String>, services: Services, client: crate::domain::Client| async move {
                let token = bearer(header.as_deref()).ok_or(AppError::Unauthenticated)?;
                services
                    .sessions()
                    .authenticate(token, client)
                    .await
                    .map_err(Rejection::from)
            },
        )
}
