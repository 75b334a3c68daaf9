//! Handlers of the retailer's back-office API (`/admin/...`) and of the public list of
//! subscription lists: read the request into domain values, call the operation, shape the
//! answer. The admin token is checked by the route filter before any of these run.

use std::collections::BTreeSet;

use http::StatusCode;
use serde::Serialize;
use serde_json::{Value, json};
use warp::Reply;
use warp::reject::Rejection;
use warp::reply::Response;

use super::AuditDetail;
use super::body::JsonObject;
use super::query::{Listing, read_query, unknown};
use super::reply::{ok_json, ok_result};
use crate::domain::clean_text;
use crate::domain::{EmailAddress, Identifier, Language, ListId, ProfileChanges, ProfileField};
use crate::error::AppError;
use crate::flows::{
    AuditLine, ImportError, ImportFile, ImportOptions, ImportProblem, NewAccount, NewList, Services,
};
use crate::store::customers::Cursor;

/// Customers per page when the query does not say.
const DEFAULT_PAGE: u32 = 50;

/// GET /subscriptions
pub async fn public_lists(services: Services) -> Result<Response, Rejection> {
    let lists = services.back_office().subscription_lists().await?;
    let mut response = ok_json(&json!({ "subscriptions": lists }));
    // The lists are the same for everyone and change rarely: shops may cache them briefly.
    response.headers_mut().insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("public, max-age=60"),
    );
    Ok(response)
}

/// POST /admin/customers
pub async fn create_customer(services: Services, body: JsonObject) -> Result<Response, Rejection> {
    let (account, lists) = parse_new_customer(&services, body)?;
    let view = services
        .back_office()
        .admin_create_customer(account, lists)
        .await?;
    Ok(created(&view))
}

/// GET /admin/customers?search=&limit=&offset= (or &after=)
pub async fn list_customers(
    services: Services,
    query: Vec<(String, String)>,
) -> Result<Response, Rejection> {
    let (search, listing) = customer_query(query)?;
    let page = services
        .back_office()
        .customer_page(search, listing.limit, listing.start)
        .await?;
    Ok(ok_json(&page))
}

/// GET /admin/customers/{id}
pub async fn show_customer(key: String, services: Services) -> Result<Response, Rejection> {
    Ok(ok_json(&services.back_office().customer_view(&key).await?))
}

/// DELETE /admin/customers/{id}
pub async fn delete_customer(key: String, services: Services) -> Result<Response, Rejection> {
    let view = services.back_office().admin_delete_customer(&key).await?;
    Ok(ok_json(
        &json!({ "result": "deleted", "id": view.customer.id }),
    ))
}

/// POST /admin/customers/{id}/resend_activation
pub async fn resend_activation(
    key: String,
    services: Services,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let activate_uri = body.optional_parsed("activate_uri", |raw| services.links().resolve(raw));
    body.finish()?;
    services
        .activations()
        .resend_activation(&key, activate_uri)
        .await?;
    Ok(ok_result("email_sent"))
}

/// DELETE /admin/customers/{id}/second_factor
pub async fn remove_second_factor(key: String, services: Services) -> Result<Response, Rejection> {
    services.totps().remove_by_support(&key).await?;
    Ok(ok_result("deleted"))
}

/// PUT /admin/customers/{id}/subscriptions
pub async fn set_subscriptions(
    key: String,
    services: Services,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let lists = subscriptions_field(&mut body);
    if lists.is_none() {
        body.reject_field("subscriptions", "is required");
    }
    body.finish()?;
    let view = services
        .back_office()
        .admin_set_subscriptions(&key, lists.unwrap_or_default())
        .await?;
    Ok(ok_json(&view))
}

/// GET /admin/customers/{id}/consents
pub async fn consents(key: String, services: Services) -> Result<Response, Rejection> {
    let records = services.back_office().consent_history(&key).await?;
    Ok(ok_json(&json!({ "consents": records })))
}

/// GET /admin/subscriptions
pub async fn lists(services: Services) -> Result<Response, Rejection> {
    let lists = services.back_office().subscription_lists().await?;
    Ok(ok_json(&json!({ "subscriptions": lists })))
}

/// POST /admin/subscriptions
pub async fn add_list(services: Services, mut body: JsonObject) -> Result<Response, Rejection> {
    let id = body.required_str("id");
    let name = body.required_str("name");
    let description = body.optional_str("description");
    body.finish()?;
    let new = NewList::parse(&id, &name, description.as_deref())?;
    Ok(created(
        &services.back_office().add_subscription_list(new).await?,
    ))
}

/// DELETE /admin/subscriptions/{id}
pub async fn remove_list(id: String, services: Services) -> Result<Response, Rejection> {
    services.back_office().remove_subscription_list(&id).await?;
    Ok(ok_result("deleted"))
}

/// PATCH /admin/subscriptions/{id}
pub async fn rename_list(
    id: String,
    line: AuditLine,
    services: Services,
    mut body: JsonObject,
) -> Result<Response, Rejection> {
    let name = body.optional_parsed("name", |raw| match clean_text(raw, 200, false)? {
        Some(name) => Ok(name),
        None => Err("is required".to_owned()),
    });
    let description = match body.nullable_str("description") {
        Some(Some(raw)) => body.checked("description", clean_text(&raw, 2000, true)),
        Some(None) => Some(None),
        None => None,
    };
    if name.is_none() && description.is_none() {
        body.reject_field("name", "give a new name, a description, or both");
    }
    body.finish()?;
    let list = services
        .back_office()
        .change_subscription_list(&id, name, description, line)
        .await?;
    Ok(ok_json(&list))
}

/// The longest `reason` a mail event may carry.
const MAX_MAIL_EVENT_REASON: usize = 1000;

/// POST /admin/mail/events
pub async fn mail_event(services: Services, mut body: JsonObject) -> Result<Response, Rejection> {
    use crate::flows::{EventKind, MailEvent};
    let kind = body.required_parsed("type", |raw| {
        raw.parse::<EventKind>()
            .map_err(|()| "must be \"bounce\" or \"complaint\"".to_owned())
    });
    let email = body.required_parsed("email", |raw| {
        crate::domain::EmailAddress::parse(raw).map(|e| e.as_str().to_owned())
    });
    let permanent = body.optional_bool("permanent");
    let reason = body.optional_str("reason");
    if reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > MAX_MAIL_EVENT_REASON)
    {
        body.reject_field(
            "reason",
            format!("must be at most {MAX_MAIL_EVENT_REASON} characters"),
        );
    }
    let kind = match (kind, permanent) {
        (Some(EventKind::Bounce { .. }), Some(permanent)) => Some(EventKind::Bounce { permanent }),
        (Some(EventKind::Bounce { .. }), None) => {
            body.reject_field("permanent", "is required for a bounce");
            None
        }
        (Some(EventKind::Complaint), Some(_)) => {
            body.reject_field("permanent", "is only for a bounce");
            None
        }
        (kind, _) => kind,
    };
    body.finish()?;
    let (Some(kind), Some(email)) = (kind, email) else {
        // finish() has refused every body with a problem; this is for the compiler.
        return Err(
            crate::error::AppError::MalformedBody("the body is not complete".into()).into(),
        );
    };
    let reason = reason.unwrap_or_else(|| match kind {
        EventKind::Complaint => "complaint reported by the mail provider".to_owned(),
        EventKind::Bounce { .. } => "bounce reported by the mail provider".to_owned(),
    });
    let event = MailEvent {
        kind,
        email: Some(email),
        sent: None,
        reason,
    };
    match services.deliverability().record(event).await {
        Ok(outcome) => Ok(ok_json(&outcome)),
        Err(crate::flows::EventError::Failed(e)) => Err(e.into()),
        Err(e) => Err(crate::error::AppError::NotFound(e.to_string()).into()),
    }
}

/// GET /admin/audit?before=&limit=&customer=&actor=
pub async fn audit(
    caller: crate::flows::Caller,
    services: Services,
    query: Vec<(String, String)>,
) -> Result<Response, Rejection> {
    let mut filter = crate::store::audit::Filter::default();
    let mut limit = crate::flows::DEFAULT_AUDIT_PAGE;
    let mut problems = crate::error::FieldErrors::new();
    for (key, value) in query {
        match key.as_str() {
            "before" => match value.parse::<i64>() {
                Ok(id) if id >= 1 => filter.before = Some(id),
                _ => {
                    problems.insert(key, "must be an entry id".into());
                }
            },
            "limit" => match value.parse::<u32>() {
                Ok(n) if (1..=crate::flows::MAX_AUDIT_PAGE).contains(&n) => limit = n,
                _ => {
                    problems.insert(key, "must be a whole number from 1 to 200".into());
                }
            },
            // As long as the document says, so that a value no entry can hold is a 422.
            "customer" if value.chars().count() <= 40 => filter.customer = Some(value),
            "actor" if value.chars().count() <= 300 => filter.actor = Some(value),
            "customer" | "actor" => {
                problems.insert(key, "is longer than any id or actor".into());
            }
            _ => {
                problems.insert(key, "is not a parameter of this listing".into());
            }
        }
    }
    if let Some(invalid) = AppError::fields(problems) {
        return Err(invalid.into());
    }
    let events = services.audits().page(&caller, filter, limit).await?;
    Ok(ok_json(&json!({ "events": events })))
}

/// Reads a creation body: `email`, `name`, `identifier`?, `send_activation`? (default true),
/// `activate_uri`?, `language`?, any other profile field, and `subscriptions`?.
fn parse_new_customer(
    services: &Services,
    mut body: JsonObject,
) -> Result<(NewAccount, BTreeSet<ListId>), AppError> {
    let email = body.required_parsed("email", EmailAddress::parse);
    let name = body.required_parsed("name", |raw| {
        ProfileField::Name
            .parse(raw)?
            .ok_or_else(|| "is required".to_owned())
    });
    let identifier = body.optional_parsed("identifier", Identifier::parse);
    let send_activation = body.optional_bool("send_activation").unwrap_or(true);
    let activate_uri = body.optional_parsed("activate_uri", |raw| services.links().resolve(raw));
    let language = body.optional_parsed("language", Language::parse);
    let mut profile = ProfileChanges::default();
    for field in ProfileField::ALL
        .into_iter()
        .filter(|f| *f != ProfileField::Name)
    {
        if let Some(Some(value)) = body.optional_parsed(field.key(), |raw| field.parse(raw)) {
            profile.fields.push((field, Some(value)));
        }
    }
    let lists = subscriptions_field(&mut body).unwrap_or_default();
    body.finish()?;
    let (Some(email), Some(name)) = (email, name) else {
        return Err(AppError::field("email", "is required"));
    };
    let account = NewAccount {
        email,
        name: Some(name),
        identifier,
        profile,
        send_activation,
        activate_uri,
        language,
        arrival: Default::default(),
    };
    Ok((account, lists))
}

/// `201 Created` with a JSON body.
fn created<T: Serialize>(value: &T) -> Response {
    warp::reply::with_status(warp::reply::json(value), StatusCode::CREATED).into_response()
}

/// `subscriptions`: an array of list ids; `None` when absent. The `{"id": ...}` objects of a
/// GET are accepted too, so that a GET → PATCH round trip of the customer object works.
pub(super) fn subscriptions_field(body: &mut JsonObject) -> Option<BTreeSet<ListId>> {
    let value = body.take("subscriptions")?;
    let shape = "must be an array of subscription list ids";
    let Value::Array(items) = value else {
        body.reject_field("subscriptions", shape);
        return None;
    };
    let mut lists = BTreeSet::new();
    for item in items {
        let id = match item {
            Value::String(id) => id,
            Value::Object(mut object) => match object.remove("id") {
                Some(Value::String(id)) => id,
                _ => {
                    body.reject_field("subscriptions", shape);
                    return None;
                }
            },
            _ => {
                body.reject_field("subscriptions", shape);
                return None;
            }
        };
        lists.insert(body.checked("subscriptions", ListId::parse(&id))?);
    }
    Some(lists)
}

/// The query of a customer list: `search`, and the paging of [`Listing`].
fn customer_query(
    query: Vec<(String, String)>,
) -> Result<(Option<String>, Listing<Cursor>), AppError> {
    let mut search = None;
    let listing = Listing::parse(
        query,
        DEFAULT_PAGE,
        |v| Cursor::parse(v).ok(),
        |key, value| match key {
            "search" if value.chars().count() > 254 => Err("must be at most 254 characters".into()),
            "search" => {
                search = Some(value).filter(|s| !s.trim().is_empty());
                Ok(())
            }
            _ => unknown(),
        },
    )?;
    Ok((search, listing))
}

/// POST /admin/import?dry_run=true|false[&invite=true]: the CSV file of `customers import`.
pub async fn import_customers(
    services: Services,
    query: Vec<(String, String)>,
    body: bytes::Bytes,
) -> Result<Response, Rejection> {
    let (mut dry_run, mut invite) = (None, false);
    read_query(query, |key, value| {
        let flag = || match value.as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err("must be `true` or `false`".to_owned()),
        };
        match key {
            "dry_run" => dry_run = Some(flag()?),
            "invite" => invite = flag()?,
            _ => return unknown(),
        }
        Ok(())
    })?;
    let dry_run = dry_run.ok_or_else(|| {
        AppError::field(
            "dry_run",
            "is required: `true` to check the file, `false` to import it",
        )
    })?;
    let options = ImportOptions {
        invite,
        dry_run,
        list_customers: false,
    };
    let outcome = services
        .imports()
        .import_customers(ImportFile::from_bytes(body), options, |_| {})
        .await;
    let (problems, rows) = match outcome {
        Ok(summary) => {
            let mut response = ok_json(&json!({
                "created": summary.created,
                "skipped": 0,
                "errors": [],
                "active": summary.active,
                "activations_queued": summary.activations_queued,
                "dry_run": summary.dry_run,
            }));
            let done = if summary.dry_run {
                "dry run: would create"
            } else {
                "created"
            };
            let detail = format!(
                "import: {done} {} customer(s), {} active, {} activation email(s)",
                summary.created, summary.active, summary.activations_queued
            );
            response.extensions_mut().insert(AuditDetail(detail));
            return Ok(response);
        }
        Err(ImportError::Invalid { problems, rows }) => (problems, rows),
        Err(ImportError::Unreadable(e)) => {
            let problem = ImportProblem {
                line: 0,
                column: "file".into(),
                message: format!("cannot be read as CSV: {e}"),
            };
            (vec![problem], 0)
        }
        Err(ImportError::Failed(e)) => return Err(e.into()),
    };
    let answer = json!({
        "error": "import_refused",
        "message": format!("{} problem(s) found; nothing was imported", problems.len()),
        "created": 0,
        "skipped": rows,
        "errors": problems,
        "dry_run": dry_run,
    });
    Ok(
        warp::reply::with_status(warp::reply::json(&answer), StatusCode::UNPROCESSABLE_ENTITY)
            .into_response(),
    )
}
