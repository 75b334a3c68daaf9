//! Handlers of the console's overview and of the queues under `/admin` (owners): the stats,
//! the emails and webhook deliveries waiting or failed, their retries, and a test event.

use serde_json::json;
use warp::reject::Rejection;
use warp::reply::Response;

use super::query::{read_query, unknown, whole_number};
use super::reply::{ok_json, ok_result};
use crate::error::AppError;
use crate::flows::{AuditLine, Services};

/// Rows per page when the query does not say, and the most one page holds.
const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

/// GET /admin/stats
pub async fn stats(services: Services) -> Result<Response, Rejection> {
    Ok(ok_json(&services.back_office().stats().await?))
}

/// GET /admin/outbox?status=queued|failed&before=&limit=
pub async fn outbox(
    services: Services,
    query: Vec<(String, String)>,
) -> Result<Response, Rejection> {
    let (statuses, before, limit) = queue_query(query, &["queued", "failed"])?;
    let emails = services.outbox().page(statuses, before, limit).await?;
    Ok(ok_json(&json!({ "emails": emails })))
}

/// POST /admin/outbox/{id}/retry
pub async fn retry_email(
    id: String,
    line: AuditLine,
    services: Services,
) -> Result<Response, Rejection> {
    let id = row_id(&id).ok_or_else(|| AppError::NotFound(format!("there is no email {id}")))?;
    services.outbox().retry(id, line).await?;
    Ok(ok_result("queued"))
}

/// GET /admin/webhooks/deliveries?status=queued|sent|failed&before=&limit=
pub async fn deliveries(
    services: Services,
    query: Vec<(String, String)>,
) -> Result<Response, Rejection> {
    let (statuses, before, limit) = queue_query(query, &["queued", "sent", "failed"])?;
    let deliveries = services.webhooks().page(statuses, before, limit).await?;
    Ok(ok_json(&json!({ "deliveries": deliveries })))
}

/// POST /admin/webhooks/deliveries/{id}/retry
pub async fn retry_delivery(
    id: String,
    line: AuditLine,
    services: Services,
) -> Result<Response, Rejection> {
    let id = row_id(&id)
        .ok_or_else(|| AppError::NotFound(format!("there is no webhook delivery {id}")))?;
    services.webhooks().retry(id, line).await?;
    Ok(ok_result("queued"))
}

/// POST /admin/webhooks/test
pub async fn test_webhooks(line: AuditLine, services: Services) -> Result<Response, Rejection> {
    let count = services.webhooks().queue_test(line).await?;
    Ok(ok_json(&json!({ "result": "queued", "count": count })))
}

/// A row id in a path: a whole number from 1.
fn row_id(text: &str) -> Option<i64> {
    text.parse::<i64>().ok().filter(|id| *id >= 1)
}

/// Reads `?status=` (one of `all`, default all of them), `?before=<id>` and
/// `?limit=1..200 (50)`; anything else is a 422 naming the parameter.
fn queue_query(
    query: Vec<(String, String)>,
    all: &'static [&'static str],
) -> Result<(&'static [&'static str], Option<i64>, u32), AppError> {
    let (mut statuses, mut before, mut limit) = (all, None, DEFAULT_PAGE);
    read_query(query, |key, value| {
        match key {
            "status" => match all.iter().position(|s| *s == value) {
                Some(i) => statuses = &all[i..=i],
                None => return Err(format!("must be one of {}", all.join(", "))),
            },
            "before" => {
                before = Some(row_id(&value).ok_or("must be an id (a whole number from 1)")?)
            }
            "limit" => limit = whole_number(&value, 1..=MAX_PAGE)?,
            _ => unknown()?,
        }
        Ok(())
    })?;
    Ok((statuses, before, limit))
}
