//! Handlers of the staff endpoints under `/admin/staff`: activation, signing in and out, who is
//! signed in, and the owners' list, invitation, role change, removal and reset of staff
//! members. Which role each `/admin` route needs is checked by the route filter (`mod.rs`),
//! from the route table.

use http::StatusCode;
use serde_json::{Value, json};
use warp::Reply;
use warp::reject::Rejection;
use warp::reply::Response;

use super::body::JsonObject;
use super::reply::{ok_json, ok_result};
use crate::auth;
use crate::domain::{Client, EmailAddress, ProfileField, Role};
use crate::error::AppError;
use crate::flows::{Actor, AuditLine, Caller, Services, StaffSession};
use crate::store::staff::Member;

/// GET /admin/staff
pub async fn list(services: Services) -> Result<Response, Rejection> {
    let members = services.staff().list().await?;
    let staff: Vec<Value> = members.iter().map(member_json).collect();
    Ok(ok_json(&json!({ "staff": staff })))
}

/// POST /admin/staff: the invitation is emailed; its link is not in the answer (staff never
/// see a secret, and the console needs none).
pub async fn add(
    line: AuditLine,
    services: Services,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let email = body.required_parsed("email", |raw| {
        EmailAddress::parse(raw).map_err(|p| p.to_string())
    });
    let role = body.required_parsed("role", Role::parse);
    let name = body
        .optional_parsed("name", |raw| ProfileField::Name.parse(raw))
        .flatten();
    let (email, role) = body.finish_with(email.zip(role))?;
    let (_, member) = services.staff().add(email, role, name, line).await?;
    Ok(warp::reply::with_status(
        warp::reply::json(&member_json(&member)),
        StatusCode::CREATED,
    )
    .into_response())
}

/// DELETE /admin/staff/{email}
pub async fn remove(
    email: String,
    line: AuditLine,
    services: Services,
) -> Result<Response, Rejection> {
    let member = services.staff().remove(&path_email(&email), line).await?;
    Ok(ok_json(
        &json!({ "result": "deleted", "email": member.email }),
    ))
}

/// POST /admin/staff/{email}/reset
pub async fn reset(
    email: String,
    line: AuditLine,
    services: Services,
) -> Result<Response, Rejection> {
    services.staff().reset(&path_email(&email), line).await?;
    Ok(ok_result("email_sent"))
}

/// PATCH /admin/staff/{email}
pub async fn change_role(
    email: String,
    line: AuditLine,
    services: Services,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let role = body.required_parsed("role", Role::parse);
    let role = body.finish_with(role)?;
    let (member, _) = services
        .staff()
        .change_role(&path_email(&email), role, line)
        .await?;
    Ok(ok_json(&member_json(&member)))
}

/// The address a path names, percent-encoded or not (the console encodes the `@`).
fn path_email(raw: &str) -> String {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned()
}

/// A staff member as the owners' list shows them: never a hash, secret or invitation.
fn member_json(member: &Member) -> Value {
    let state = match (member.activated_at, member.locked) {
        (_, true) => "locked",
        (None, _) => "invited",
        (Some(_), _) => "active",
    };
    json!({
        "email": member.email,
        "name": member.name,
        "role": member.role,
        "state": state,
        "second_factor": member.has_second_factor,
        "created_at": crate::domain::format_time(member.created_at),
        "activated_at": member.activated_at.map(crate::domain::format_time),
    })
}

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

/// POST /admin/staff/login/second_factor
pub async fn second_factor(
    services: Services,
    client: Client,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let challenge = body.required_str("challenge");
    let code = body.required_str("code");
    body.finish()?;
    let token = services
        .second_factors()
        .finish_login(&challenge, &code, &client)
        .await?;
    Ok(ok_json(&json!({ "token": token })))
}

/// POST /admin/staff/totp
pub async fn begin_totp(services: Services, caller: Caller) -> Result<Response, Rejection> {
    let enrollment = services.second_factors().begin(staff_of(&caller)?).await?;
    Ok(ok_json(&json!({
        "secret": enrollment.secret,
        "otpauth_uri": enrollment.otpauth_uri,
        "qr_svg": qr_svg(&enrollment.otpauth_uri)?,
    })))
}

/// The `otpauth://` URI as a QR code an authenticator app scans: an SVG drawn here, so the
/// console needs no outside service; plain paths with no `style`, which the CSP would refuse.
pub(super) fn qr_svg(uri: &str) -> Result<String, AppError> {
    let code = qrcode::QrCode::new(uri.as_bytes())
        .map_err(|e| AppError::Internal(anyhow::anyhow!("the otpauth URI as a QR code: {e}")))?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

/// POST /admin/staff/totp/confirm
pub async fn confirm_totp(
    services: Services,
    caller: Caller,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let code = body.required_str("code");
    body.finish()?;
    let codes = services
        .second_factors()
        .confirm(staff_of(&caller)?, caller.ip, &code)
        .await?;
    Ok(ok_json(&json!({ "recovery_codes": codes })))
}

/// The staff session of a caller the route filter admitted as staff.
pub(super) fn staff_of(caller: &Caller) -> Result<&StaffSession, AppError> {
    match &caller.actor {
        Actor::Staff(session) => Ok(session),
        Actor::ApiToken => Err(AppError::Forbidden),
    }
}

/// POST /admin/staff/logout
pub async fn logout(services: Services, caller: Caller) -> Result<Response, Rejection> {
    services
        .staff()
        .logout(staff_of(&caller)?, caller.ip)
        .await?;
    Ok(ok_result("logged_out"))
}

/// GET /admin/staff/self
pub async fn show_self(_services: Services, caller: Caller) -> Result<Response, Rejection> {
    let session = staff_of(&caller)?;
    let member = &session.member;
    Ok(ok_json(&json!({
        "email": member.email,
        "name": member.name,
        "role": member.role,
        "enrollment_only": !session.second_factor,
    })))
}
