//! Handlers of the passkey endpoints: adding, listing and removing a customer's passkeys,
//! and signing in with one.

use serde_json::{Value, json};
use warp::reject::Rejection;
use warp::reply::Response;

use super::body::JsonObject;
use super::customers::{audit_login, audit_outcome};
use super::reply::{ok_json, ok_result};
use crate::auth;
use crate::domain::{Client, PasskeyName};
use crate::flows::{Begun, NewPasskey, Services, Session};

/// POST /customers/passkeys/register
pub async fn begin_registration(
    services: Services,
    session: Session,
    body: JsonObject,
) -> Result<Response, Rejection> {
    body.finish()?;
    let begun = services.passkeys().begin_registration(&session).await?;
    Ok(begun_reply(begun))
}

/// POST /customers/passkeys/register/finish
pub async fn finish_registration(
    services: Services,
    session: Session,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let challenge_id = body.required_str("challenge_id");
    let credential = credential_field(&mut body);
    let name = body.optional_parsed("name", PasskeyName::parse);
    let credential = body.finish_with(credential)?;
    let added = services
        .passkeys()
        .finish_registration(
            &session,
            NewPasskey {
                challenge_id,
                credential,
                name,
            },
        )
        .await?;
    Ok(ok_json(&added))
}

/// GET /customers/passkeys
pub async fn list(services: Services, session: Session) -> Result<Response, Rejection> {
    let passkeys = services.passkeys().list(&session).await?;
    Ok(ok_json(&json!({ "passkeys": passkeys })))
}

/// DELETE /customers/passkeys/{id}
pub async fn remove(
    id: String,
    services: Services,
    session: Session,
) -> Result<Response, Rejection> {
    services.passkeys().remove(&session, &id).await?;
    Ok(ok_result("deleted"))
}

/// POST /customers/passkey_login
pub async fn begin_login(
    services: Services,
    client: Client,
    body: JsonObject,
) -> Result<Response, Rejection> {
    body.finish()?;
    let begun = services.passkeys().begin_login(&client).await?;
    Ok(begun_reply(begun))
}

/// POST /customers/passkey_login/finish
pub async fn finish_login(
    services: Services,
    client: Client,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let challenge_id = body.required_str("challenge_id");
    let credential = credential_field(&mut body);
    let credential = body.finish_with(credential)?;
    let result = services
        .passkeys()
        .finish_login(&client, &challenge_id, credential)
        .await;
    let outcome = audit_outcome(&result);
    let account = match &result {
        Ok(signed_in) => auth::log_hash(&signed_in.email),
        Err(_) => "-".into(),
    };
    audit_login(&services, outcome, &account, &client, Some("passkey"));
    Ok(ok_json(&json!({ "token": result?.token })))
}

/// The `credential` field: the browser's `PublicKeyCredential`, as a JSON object.
pub(super) fn credential_field(body: &mut JsonObject) -> Option<Value> {
    match body.take("credential") {
        Some(value @ Value::Object(_)) => Some(value),
        None | Some(Value::Null) => {
            body.reject_field("credential", "is required");
            None
        }
        Some(_) => {
            body.reject_field(
                "credential",
                "must be the browser's PublicKeyCredential object",
            );
            None
        }
    }
}

pub(super) fn begun_reply(begun: Begun) -> Response {
    ok_json(&json!({
        "challenge_id": begun.challenge_id,
        "options": begun.options,
    }))
}
