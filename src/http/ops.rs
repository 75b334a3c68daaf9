//! Operator endpoints: health, metrics and the OpenAPI document.

use http::StatusCode;
use serde_json::json;
use warp::Reply;
use warp::reject::Rejection;
use warp::reply::Response;

use super::client::is_operator;
use super::reply::ok_json;
use super::server::PeerAddr;
use crate::error::AppError;
use crate::flows::Area;
use crate::metrics::Snapshot;
use crate::store::{self, outbox};

/// GET /healthz: 200 while the database answers and takes writes; otherwise 503 saying which
/// of the two fails and why, with `Retry-After`.
pub async fn healthz(area: Area) -> Result<Response, Rejection> {
    if let Err(e) = area.store.read(store::ping).await {
        tracing::error!(error = %e, "health check: database not answering");
        return Ok(unhealthy(
            "down",
            "unreachable",
            "the database is not answering".to_owned(),
        ));
    }
    Ok(match area.store.unwritable().await {
        None => ok_json(&json!({ "status": "ok", "database": "ok" })),
        Some(condition) => unhealthy(
            "degraded",
            condition.name(),
            format!("the database takes no writes (reads go on): {condition}"),
        ),
    })
}

/// The 503 of `/healthz`: the error body, plus what is wrong with the database.
fn unhealthy(status: &str, database: &str, message: String) -> Response {
    let body = json!({
        "status": status,
        "database": database,
        "error": "unavailable",
        "message": message,
    });
    let mut response =
        warp::reply::with_status(warp::reply::json(&body), StatusCode::SERVICE_UNAVAILABLE)
            .into_response();
    response.headers_mut().insert(
        http::header::RETRY_AFTER,
        http::HeaderValue::from_static("5"),
    );
    response
}

/// GET /metrics
pub async fn metrics(
    area: Area,
    peer: Option<PeerAddr>,
    authorization: Option<String>,
    forwarded_for: Option<String>,
) -> Result<Response, Rejection> {
    let admin_token = area.config.admin.api_token.expose();
    if !is_operator(
        admin_token,
        authorization.as_deref(),
        peer,
        forwarded_for.is_some(),
    ) {
        return Err(AppError::NotFound("there is no such endpoint".into()).into());
    }
    let (queued, sent, failed) = area
        .store
        .read(outbox::counts)
        .await
        .map_err(AppError::from)?;
    let (in_use, size) = area.store.pool_usage();
    let snapshot = Snapshot {
        emails_queued: queued,
        emails_sent: sent,
        emails_failed: failed,
        pool_in_use: i64::from(in_use),
        pool_size: i64::from(size),
        hashing_queue: area.hasher.queue_depth() as i64,
    };
    let mut response = area.metrics.render(snapshot).into_response();
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static(
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        ),
    );
    Ok(response)
}

/// GET /openapi.json: the document generated from the route table.
pub fn openapi() -> Response {
    let mut response = super::openapi::document_text().into_response();
    let headers = response.headers_mut();
    headers.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    // The same for everyone and only changes with the binary.
    headers.insert(
        http::header::CACHE_CONTROL,
        http::HeaderValue::from_static("public, max-age=300"),
    );
    response
}
