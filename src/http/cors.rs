//! CORS for the shop's web app: only the exact origins in `server.cors_origins` (never `*`),
//! with `Vary: Origin` and answered preflights.

use std::sync::Arc;

use http::StatusCode;
use http::header::{
    ACCESS_CONTROL_ALLOW_HEADERS, ACCESS_CONTROL_ALLOW_METHODS, ACCESS_CONTROL_ALLOW_ORIGIN,
    ACCESS_CONTROL_EXPOSE_HEADERS, ACCESS_CONTROL_MAX_AGE, HeaderMap, HeaderValue, ORIGIN, VARY,
};
use serde_json::json;
use warp::Reply;
use warp::reply::Response;

/// The allowed browser origins.
#[derive(Clone, Debug)]
pub struct Cors {
    origins: Arc<[String]>,
    /// Every method of the route table.
    methods: HeaderValue,
}

impl Cors {
    pub fn new(origins: &[String]) -> Cors {
        let normalized: Vec<String> = origins
            .iter()
            .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
            .collect();
        Cors {
            origins: normalized.into(),
            methods: super::route::cors_methods(),
        }
    }

    fn allowed<'a>(&self, headers: &'a HeaderMap) -> Option<&'a HeaderValue> {
        let origin = headers.get(ORIGIN)?;
        self.allows(origin.to_str().ok()?).then_some(origin)
    }

    fn allows(&self, origin: &str) -> bool {
        self.origins.contains(&origin.to_ascii_lowercase())
    }

    /// Answers an `OPTIONS` preflight: 204 with the allowed methods and headers for an allowed
    /// origin, 403 otherwise.
    pub fn preflight(&self, headers: &HeaderMap) -> Response {
        if self.allowed(headers).is_none() {
            let body = json!({ "error": "cors_forbidden", "message": "this origin may not call the API from a browser" });
            return warp::reply::with_status(warp::reply::json(&body), StatusCode::FORBIDDEN)
                .into_response();
        }
        let mut response = StatusCode::NO_CONTENT.into_response();
        let h = response.headers_mut();
        h.insert(ACCESS_CONTROL_ALLOW_METHODS, self.methods.clone());
        h.insert(
            ACCESS_CONTROL_ALLOW_HEADERS,
            HeaderValue::from_static("authorization, content-type"),
        );
        h.insert(ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        response
    }

    /// Adds the CORS headers of an allowed origin to any answer, and `Vary: Origin` whenever
    /// CORS is configured (so that caches never serve one origin's answer to another).
    /// `origin` is the request's `Origin` header, if it has one.
    pub fn decorate(&self, origin: Option<&str>, mut response: Response) -> Response {
        if self.origins.is_empty() {
            return response;
        }
        let allowed = origin
            .filter(|o| self.allows(o))
            .and_then(|o| HeaderValue::from_str(o).ok());
        let h = response.headers_mut();
        h.append(VARY, HeaderValue::from_static("Origin"));
        if let Some(origin) = allowed {
            h.insert(ACCESS_CONTROL_ALLOW_ORIGIN, origin);
            h.insert(
                ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("retry-after, x-request-id"),
            );
        }
        response
    }
}
