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

/// GET /healthz
pub async fn healthz(services: Services) -> Result<Response, Rejection> {
    match services.operations().health().await {
        Ok(()) => Ok(ok_json(&json!({ "status": "ok", "database": "ok" }))),
        Err(e) => {
            tracing::error!(error = %e, "health check: database not answering");
            let body =
                json!({ "error": "unavailable", "message": "the database is not answering" });
            Ok(
                warp::reply::with_status(warp::reply::json(&body), StatusCode::SERVICE_UNAVAILABLE)
                    .into_response(),
            )
        }
    }
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
