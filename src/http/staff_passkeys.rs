//! Handlers of the staff passkey endpoints under `/admin/staff`: a staff member adds, lists and
//! removes their own passkeys (also in a session that may only enroll a second factor), and
//! signs in with one.

use serde_json::json;
use warp::reject::Rejection;
use warp::reply::Response;

use super::body::JsonObject;
use super::passkeys::{begun_reply, credential_field};
use super::reply::{ok_json, ok_result};
use super::staff::staff_of;
use crate::domain::{Client, PasskeyName};
use crate::flows::{Caller, NewPasskey, Services};

/// POST /admin/staff/passkeys/register
pub async fn begin_registration(
    services: Services,
    caller: Caller,
    body: JsonObject,
) -> Result<Response, Rejection> {
    body.finish()?;
    let begun = services
        .staff_passkeys()
        .begin_registration(staff_of(&caller)?, caller.ip)
        .await?;
    Ok(begun_reply(begun))
}

/// POST /admin/staff/passkeys/register/finish
pub async fn finish_registration(
    services: Services,
    caller: Caller,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let challenge_id = body.required_str("challenge_id");
    let credential = credential_field(&mut body);
    let name = body.optional_parsed("name", PasskeyName::parse);
    let credential = body.finish_with(credential)?;
    let new = NewPasskey {
        challenge_id,
        credential,
        name,
    };
    let added = services
        .staff_passkeys()
        .finish_registration(staff_of(&caller)?, caller.ip, new)
        .await?;
    Ok(ok_json(&added))
}

/// GET /admin/staff/passkeys
pub async fn list(services: Services, caller: Caller) -> Result<Response, Rejection> {
    let passkeys = services.staff_passkeys().list(staff_of(&caller)?).await?;
    Ok(ok_json(&json!({ "passkeys": passkeys })))
}

/// DELETE /admin/staff/passkeys/{id}
pub async fn remove(id: String, services: Services, caller: Caller) -> Result<Response, Rejection> {
    services
        .staff_passkeys()
        .remove(staff_of(&caller)?, caller.ip, &id)
        .await?;
    Ok(ok_result("deleted"))
}

/// POST /admin/staff/passkey_login
pub async fn begin_login(
    services: Services,
    client: Client,
    body: JsonObject,
) -> Result<Response, Rejection> {
    body.finish()?;
    let begun = services.staff_passkeys().begin_login(&client).await?;
    Ok(begun_reply(begun))
}

/// POST /admin/staff/passkey_login/finish
pub async fn finish_login(
    services: Services,
    client: Client,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let challenge_id = body.required_str("challenge_id");
    let credential = credential_field(&mut body);
    let credential = body.finish_with(credential)?;
    let result = services
        .staff_passkeys()
        .finish_login(&client, &challenge_id, credential)
        .await;
    let outcome = if result.is_ok() { "success" } else { "refused" };
    tracing::info!(target: "customer_area::audit", outcome, method = "passkey", ip = %client.ip, "staff login");
    Ok(ok_json(&json!({ "token": result? })))
}
