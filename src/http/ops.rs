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
use crate::flows::Services;

/// GET /healthz: 200 while the database answers and takes writes; otherwise 503 saying which
/// of the two fails and why, with `Retry-After`.
pub async fn healthz(services: Services) -> Result<Response, Rejection> {
    let operations = services.operations();
    let store = operations.store_kind();
    if let Err(e) = operations.health().await {
        tracing::error!(error = %e, "health check: database not answering");
        return Ok(unhealthy(
            store,
            "down",
            "unreachable",
            "the database is not answering".to_owned(),
        ));
    }
    Ok(match operations.unwritable().await {
        None => ok_json(&json!({ "status": "ok", "database": "ok", "store": store })),
        Some(condition) => unhealthy(
            store,
            "degraded",
            condition.name(),
            format!("the database takes no writes (reads go on): {condition}"),
        ),
    })
}

/// The 503 of `/healthz`: the error body, plus what is wrong with the database.
fn unhealthy(store: &str, status: &str, database: &str, message: String) -> Response {
    let body = json!({
        "status": status,
        "database": database,
        "store": store,
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
    services: Services,
    peer: Option<PeerAddr>,
    authorization: Option<String>,
    forwarded_for: Option<String>,
) -> Result<Response, Rejection> {
    let admin_token = services.config().admin.api_token.expose();
    if !is_operator(
        admin_token,
        authorization.as_deref(),
        peer,
        forwarded_for.is_some(),
    ) {
        return Err(AppError::NotFound("there is no such endpoint".into()).into());
    }
    let mut response = services.operations().metrics_text().await?.into_response();
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
