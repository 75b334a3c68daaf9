//! Handlers of the staff's own endpoints under `/admin/staff`: activation, signing in and out,
//! and who is signed in. Which role each `/admin` route needs is checked by the route filter
//! (`mod.rs`), from the route table.

use serde_json::json;
use warp::reject::Rejection;
use warp::reply::Response;

use super::body::JsonObject;
use super::reply::{ok_json, ok_result};
use crate::auth;
use crate::domain::Client;
use crate::flows::{Services, StaffSession};

/// POST /admin/staff/activate
pub async fn activate(
    services: Services,
    client: Client,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let identifier = body.required_str("identifier");
    let secret = body.required_str("secret");
    let password = body.required_str("password");
    let password_check = body.required_str("password_check");
    body.finish()?;
    services
        .staff()
        .activate(&identifier, &secret, &password, &password_check, &client)
        .await?;
    Ok(ok_result("activated"))
}

/// POST /admin/staff/login
pub async fn login(
    services: Services,
    client: Client,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let email = body.required_str("email");
    let password = body.required_str("password");
    body.finish()?;
    let result = services.staff().login(&email, &password, &client).await;
    let outcome = if result.is_ok() { "success" } else { "refused" };
    tracing::info!(target: "customer_area::audit", outcome, staff = %auth::log_hash(&email), ip = %client.ip, "staff login");
    Ok(ok_json(&json!({ "token": result? })))
}

/// POST /admin/staff/logout
pub async fn logout(services: Services, session: StaffSession) -> Result<Response, Rejection> {
    services.staff().logout(&session).await?;
    Ok(ok_result("logged_out"))
}

/// GET /admin/staff/self
pub async fn show_self(_services: Services, session: StaffSession) -> Result<Response, Rejection> {
    let member = &session.member;
    Ok(ok_json(&json!({
        "email": member.email,
        "name": member.name,
        "role": member.role,
    })))
}
