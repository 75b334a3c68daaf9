//! Handlers of the account-security endpoints: the caller's sessions, activity and data
//! export, reauthentication, the undo of an email change and "this wasn't me".

use serde_json::json;
use warp::reject::Rejection;
use warp::reply::Response;

use super::body::JsonObject;
use super::customers::audit_outcome;
use super::query::{read_query, unknown, whole_number};
use super::reply::{ok_json, ok_result};
use crate::domain::Client;
use crate::error::AppError;
use crate::flows::{MAX_ACTIVITY_PAGE, Services, Session};

/// Events on a page of activity when `limit` is not given.
const DEFAULT_ACTIVITY_PAGE: u32 = 20;

/// GET /customers/sessions
pub async fn list_sessions(services: Services, session: Session) -> Result<Response, Rejection> {
    let sessions = services.security().sessions(&session).await?;
    Ok(ok_json(&json!({ "sessions": sessions })))
}

/// DELETE /customers/sessions/{id}
pub async fn revoke_session(
    id: String,
    services: Services,
    session: Session,
) -> Result<Response, Rejection> {
    services.security().revoke_session(&session, &id).await?;
    Ok(ok_result("revoked"))
}

/// DELETE /customers/sessions
pub async fn revoke_other_sessions(
    services: Services,
    session: Session,
) -> Result<Response, Rejection> {
    let count = services.security().revoke_other_sessions(&session).await?;
    Ok(ok_json(&json!({ "result": "revoked", "count": count })))
}

/// GET /customers/activity
pub async fn activity(
    services: Services,
    session: Session,
    query: Vec<(String, String)>,
) -> Result<Response, Rejection> {
    let (before, limit) = activity_query(query)?;
    let events = services
        .security()
        .activity(&session, before, limit)
        .await?;
    Ok(ok_json(&json!({ "events": events })))
}

/// GET /customers/self/export
pub async fn export(services: Services, session: Session) -> Result<Response, Rejection> {
    let export = services.security().export_own_data(&session).await?;
    let mut response = ok_json(&export);
    let disposition = format!(
        "attachment; filename=\"customer-{}.json\"",
        export.customer.id.as_str()
    );
    if let Ok(value) = http::HeaderValue::from_str(&disposition) {
        response
            .headers_mut()
            .insert(http::header::CONTENT_DISPOSITION, value);
    }
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("no-store"),
    );
    Ok(response)
}

/// POST /customers/email_change_undo
pub async fn undo_email_change(
    services: Services,
    client: Client,
    body: JsonObject,
) -> Result<Response, Rejection> {
    let (identifier, key) = body.identifier_and_key()?;
    services
        .email_changes()
        .undo_email_change(&identifier, &key, &client)
        .await?;
    Ok(ok_result("restored"))
}

/// Reads `?before=<event id>&limit=<1..=100>`; anything else is a 422 naming the parameter.
pub(super) fn activity_query(query: Vec<(String, String)>) -> Result<(Option<i64>, u32), AppError> {
    let (mut before, mut limit) = (None, DEFAULT_ACTIVITY_PAGE);
    read_query(query, |key, value| {
        match key {
            "before" => match value.parse::<i64>() {
                Ok(id) if id >= 1 => before = Some(id),
                _ => return Err("must be an event id (a whole number from 1)".into()),
            },
            "limit" => limit = whole_number(&value, 1..=MAX_ACTIVITY_PAGE)?,
            _ => unknown()?,
        }
        Ok(())
    })?;
    Ok((before, limit))
}

/// POST /customers/reauthenticate: `{"password"}`, or `{"challenge_id","credential"}` from a
/// passkey sign-in ceremony.
pub async fn reauthenticate(
    services: Services,
    session: Session,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let password = body.optional_str("password");
    let challenge_id = body.optional_str("challenge_id");
    let result = match (password, challenge_id) {
        (Some(password), None) => {
            body.finish()?;
            services
                .sessions()
                .reauthenticate(&session, &password)
                .await
        }
        (None, Some(challenge_id)) => {
            let credential = super::passkeys::credential_field(&mut body);
            let credential = body.finish_with(credential)?;
            services
                .passkeys()
                .reauthenticate(&session, &challenge_id, credential)
                .await
        }
        (password, _) => {
            let problem = match password {
                Some(_) => "is not taken with challenge_id: send one or the other",
                None => "is required (or challenge_id and credential, for a passkey)",
            };
            body.reject_field("password", problem);
            return Err(body
                .finish()
                .err()
                .unwrap_or(AppError::field("password", problem))
                .into());
        }
    };
    let outcome = audit_outcome(&result);
    tracing::info!(target: "customer_area::audit", outcome, customer = %session.customer, ip = %session.client.ip, "reauthenticate");
    result?;
    Ok(ok_result("reauthenticated"))
}

/// POST /customers/not_me
pub async fn secure_account(
    services: Services,
    client: Client,
    body: JsonObject,
) -> Result<Response, Rejection> {
    let (identifier, key) = body.identifier_and_key()?;
    services
        .security()
        .secure_account(&identifier, &key, &client)
        .await?;
    Ok(ok_result("secured"))
}
