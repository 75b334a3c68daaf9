//! Handlers of one customer as the shop's staff see them (`/admin/customers/{id}/...`): read
//! the request, call the support flow, shape the answer. The route filter admits the caller
//! and hands over the [`AuditLine`] an action writes with its own transaction.

use serde_json::json;
use warp::reject::Rejection;
use warp::reply::Response;

use super::body::JsonObject;
use super::reply::{ok_json, ok_result};
use super::security::activity_query;
use crate::domain::{Language, ProfileField, clean_text};
use crate::flows::{AuditLine, Services, SupportEdit};

/// The longest `reason` kept in the audit log.
const MAX_REASON: usize = 500;

/// GET /admin/customers/{id}/sessions
pub async fn sessions(key: String, services: Services) -> Result<Response, Rejection> {
    let sessions = services.support().sessions(&key).await?;
    Ok(ok_json(&json!({ "sessions": sessions })))
}

/// DELETE /admin/customers/{id}/sessions
pub async fn revoke_sessions(
    key: String,
    line: AuditLine,
    services: Services,
) -> Result<Response, Rejection> {
    let count = services.support().revoke_sessions(&key, line).await?;
    Ok(ok_json(&json!({ "result": "revoked", "count": count })))
}

/// GET /admin/customers/{id}/activity?before=&limit=
pub async fn activity(
    key: String,
    services: Services,
    query: Vec<(String, String)>,
) -> Result<Response, Rejection> {
    let (before, limit) = activity_query(query)?;
    let events = services.support().activity(&key, before, limit).await?;
    Ok(ok_json(&json!({ "events": events })))
}

/// GET /admin/customers/{id}/emails?before=&limit=
pub async fn emails(
    key: String,
    services: Services,
    query: Vec<(String, String)>,
) -> Result<Response, Rejection> {
    let (before, limit) = activity_query(query)?;
    let emails = services.support().emails(&key, before, limit).await?;
    Ok(ok_json(&json!({ "emails": emails })))
}

/// GET /admin/customers/{id}/passkeys
pub async fn passkeys(key: String, services: Services) -> Result<Response, Rejection> {
    let passkeys = services.support().passkeys(&key).await?;
    Ok(ok_json(&json!({ "passkeys": passkeys })))
}

/// POST /admin/customers/{id}/password_reset `{"reset_uri"?}`
pub async fn send_password_reset(
    key: String,
    line: AuditLine,
    services: Services,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let reset_uri = body.optional_parsed("reset_uri", |raw| services.links().resolve(raw));
    body.finish()?;
    services
        .support()
        .send_password_reset(&key, reset_uri, line)
        .await?;
    Ok(ok_result("email_sent"))
}

/// POST /admin/customers/{id}/unlock
pub async fn unlock(
    key: String,
    line: AuditLine,
    services: Services,
) -> Result<Response, Rejection> {
    services.support().unlock(&key, line).await?;
    Ok(ok_result("unlocked"))
}

/// PATCH /admin/customers/{id}: any profile key, `language`, `subscriptions` and `reason`.
pub async fn update_customer(
    key: String,
    line: AuditLine,
    services: Services,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let profile = super::customers::profile_changes(&mut body);
    let language = body.optional_parsed("language", Language::parse);
    let subscriptions = super::admin::subscriptions_field(&mut body);
    let reason = body
        .optional_parsed("reason", |raw| clean_text(raw, MAX_REASON, false))
        .flatten();
    if profile.is_empty() && language.is_none() && subscriptions.is_none() {
        let keys: Vec<&str> = ProfileField::ALL.iter().map(|f| f.key()).collect();
        body.reject_field(
            "body",
            format!(
                "names nothing to change: send `language`, `subscriptions` or one of {}",
                keys.join(", ")
            ),
        );
    }
    body.finish()?;
    let edit = SupportEdit {
        profile,
        language,
        subscriptions,
        reason,
    };
    let view = services.support().edit(&key, edit, line).await?;
    Ok(ok_json(&view))
}
