//! Success answers and the headers every answer carries.

use http::header::{CACHE_CONTROL, HeaderValue, X_CONTENT_TYPE_OPTIONS};
use serde::Serialize;
use warp::Reply;
use warp::reply::Response;

/// `200` with a JSON body.
pub fn ok_json<T: Serialize>(value: &T) -> Response {
    warp::reply::json(value).into_response()
}

/// `200` with `{"result": "<result>"}`: the answer of an operation that returns nothing else
/// (`Content::Result` in the route table).
pub fn ok_result(result: &'static str) -> Response {
    ok_json(&serde_json::json!({ "result": result }))
}

/// Adds the headers every response carries: `nosniff`, and `no-store` unless the handler
/// chose a caching policy itself (tokens and personal data must never be cached).
pub fn with_standard_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers
        .entry(CACHE_CONTROL)
        .or_insert(HeaderValue::from_static("no-store"));
    response
}
