//! What a route table entry is, and what follows from the table: the filter that matches an
//! entry, the `Allow` header of a 405, the CORS methods and the bounded labels of logs and
//! metrics. The entries themselves are in `table.rs`.

use std::sync::OnceLock;

use http::HeaderValue;
use warp::Filter;
use warp::reject::Rejection;

use super::openapi::Operation;
use super::table::ROUTES;

/// The methods routes can take. Metrics and logs label any other method `other`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verb {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

impl Verb {
    /// Every verb, in the order `Allow` and the CORS preflight list them.
    pub const ALL: [Verb; 5] = [Verb::Get, Verb::Post, Verb::Put, Verb::Patch, Verb::Delete];

    /// The method's name as HTTP spells it (`GET`).
    pub const fn as_str(self) -> &'static str {
        match self {
            Verb::Get => "GET",
            Verb::Post => "POST",
            Verb::Put => "PUT",
            Verb::Patch => "PATCH",
            Verb::Delete => "DELETE",
        }
    }

    fn is(self, method: &http::Method) -> bool {
        method.as_str() == self.as_str()
    }
}

/// What an entry serves.
#[derive(Debug)]
pub enum Kind {
    /// A JSON endpoint, described in the OpenAPI document by its operation.
    Api(Operation),
    /// An HTML page for browsers (always `GET`): served and counted, but not part of the API
    /// document.
    Page,
}

/// One entry of the route table: a method on a path pattern, and what it serves.
#[derive(Debug)]
pub struct Route {
    pub verb: Verb,
    /// The path as the OpenAPI document writes it; a `{name}` segment matches any one
    /// non-empty segment (at most one per pattern). Also the route's log and metrics label.
    pub path: &'static str,
    pub kind: Kind,
}

impl Route {
    /// A JSON endpoint.
    pub const fn api(verb: Verb, path: &'static str, operation: Operation) -> Route {
        Route {
            verb,
            path,
            kind: Kind::Api(operation),
        }
    }

    /// An HTML page, answered to `GET`.
    pub const fn page(path: &'static str) -> Route {
        Route {
            verb: Verb::Get,
            path,
            kind: Kind::Page,
        }
    }

    /// The operation of a JSON endpoint.
    pub fn operation(&self) -> Option<&Operation> {
        match &self.kind {
            Kind::Api(operation) => Some(operation),
            Kind::Page => None,
        }
    }
}

/// Passes only when `enabled`; otherwise the request is treated as an unknown route (a switched
/// off feature does not exist).
pub fn only_when(enabled: bool) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    warp::any()
        .and_then(move || async move {
            if enabled {
                Ok(())
            } else {
                Err(warp::reject::not_found())
            }
        })
        .untuple_one()
}

/// The rejection of a route whose path matched but whose method did not. It answers 405
/// (with `Allow`) when no other route takes the request.
#[derive(Debug)]
pub struct MethodMismatch;

impl warp::reject::Reject for MethodMismatch {}

/// Matches a request for `route`, a path without parameters; rejects "not found" for another
/// path and [`MethodMismatch`] for another method.
pub fn at(route: &'static Route) -> impl Filter<Extract = (), Error = Rejection> + Clone {
    assert!(
        !route.path.contains('{'),
        "{} takes a parameter",
        route.path
    );
    matching(route).map(|_| ()).untuple_one()
}

/// Matches a request for `route`, a path with one `{name}` segment, and extracts that segment.
pub fn at_with_param(
    route: &'static Route,
) -> impl Filter<Extract = (String,), Error = Rejection> + Clone {
    assert!(
        route.path.matches('{').count() == 1,
        "{} does not take exactly one parameter",
        route.path
    );
    matching(route).map(|param: Option<String>| param.unwrap_or_default())
}

fn matching(
    route: &'static Route,
) -> impl Filter<Extract = (Option<String>,), Error = Rejection> + Clone {
    assert!(
        ROUTES
            .iter()
            .any(|r| r.verb == route.verb && r.path == route.path),
        "{} {} is served but missing from the route table",
        route.verb.as_str(),
        route.path
    );
    warp::path::full().and(warp::method()).and_then(
        move |path: warp::path::FullPath, method: http::Method| {
            let matched = match match_path(route.path, path.as_str()) {
                None => Err(warp::reject::not_found()),
                Some(_) if !route.verb.is(&method) => Err(warp::reject::custom(MethodMismatch)),
                Some(param) => Ok(param.map(str::to_owned)),
            };
            std::future::ready(matched)
        },
    )
}

/// Whether `path` fits `pattern` (one trailing slash allowed, as warp allows it), with the
/// segment in the pattern's `{name}` place if it has one. Allocates nothing.
fn match_path<'p>(pattern: &str, path: &'p str) -> Option<Option<&'p str>> {
    let path = match path.strip_suffix('/') {
        Some(trimmed) if !trimmed.is_empty() => trimmed,
        _ => path,
    };
    let mut wanted = pattern.split('/');
    let mut given = path.split('/');
    let mut param = None;
    loop {
        match (wanted.next(), given.next()) {
            (None, None) => return Some(param),
            (Some(w), Some(g)) if w.starts_with('{') && !g.is_empty() => param = Some(g),
            (Some(w), Some(g)) if w == g => {}
            _ => return None,
        }
    }
}

/// The route table entry pattern a request path belongs to (`other` for unknown paths), so
/// that logs and metrics never carry ids or unbounded values.
pub fn route_label(path: &str) -> &'static str {
    ROUTES
        .iter()
        .find(|route| match_path(route.path, path).is_some())
        .map_or("other", |route| route.path)
}

/// The label of a request method: a [`Verb`], `HEAD`, `OPTIONS` or `other`, so that no
/// request can add a metrics series of its own.
pub fn method_label(method: &http::Method) -> &'static str {
    if method == http::Method::HEAD {
        return "HEAD";
    }
    if method == http::Method::OPTIONS {
        return "OPTIONS";
    }
    Verb::ALL
        .into_iter()
        .find(|verb| verb.is(method))
        .map_or("other", Verb::as_str)
}

/// The `Allow` header value for the path of a request: every method the table has on its
/// pattern. `None` for an unknown path.
pub fn allow_header(path: &str) -> Option<HeaderValue> {
    static ALLOW: OnceLock<Vec<(&'static str, HeaderValue)>> = OnceLock::new();
    let pattern = route_label(path);
    ALLOW
        .get_or_init(|| {
            let mut patterns: Vec<&'static str> = ROUTES.iter().map(|r| r.path).collect();
            patterns.sort_unstable();
            patterns.dedup();
            patterns
                .into_iter()
                .map(|pattern| (pattern, header(&methods_of(pattern))))
                .collect()
        })
        .iter()
        .find(|(p, _)| *p == pattern)
        .map(|(_, value)| value.clone())
}

/// The methods of one path pattern, in [`Verb::ALL`] order.
pub fn methods_of(pattern: &str) -> Vec<Verb> {
    let mut verbs: Vec<Verb> = ROUTES
        .iter()
        .filter(|r| r.path == pattern)
        .map(|r| r.verb)
        .collect();
    verbs.sort();
    verbs.dedup();
    verbs
}

/// The methods a CORS preflight allows: every method some route takes.
pub fn cors_methods() -> HeaderValue {
    let mut verbs: Vec<Verb> = ROUTES.iter().map(|r| r.verb).collect();
    verbs.sort();
    verbs.dedup();
    header(&verbs)
}

fn header(verbs: &[Verb]) -> HeaderValue {
    let text: Vec<&str> = verbs.iter().map(|v| v.as_str()).collect();
    HeaderValue::from_str(&text.join(", ")).expect("method names are header-safe")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_map_to_bounded_route_labels() {
        assert_eq!(route_label("/customers/self"), "/customers/self");
        assert_eq!(route_label("/customers/self/"), "/customers/self");
        assert_eq!(
            route_label("/admin/customers/12345678901234"),
            "/admin/customers/{id}"
        );
        assert_eq!(
            route_label("/admin/customers/12345678901234/resend_activation"),
            "/admin/customers/{id}/resend_activation"
        );
        assert_eq!(route_label("/admin/customers//consents"), "other");
        assert_eq!(route_label("/customers/self//"), "other");
        assert_eq!(route_label("/wp-admin/x.php"), "other");
    }

    #[test]
    fn unusual_methods_share_one_label() {
        let odd = http::Method::from_bytes(b"FOOBAR").unwrap();
        assert_eq!(method_label(&odd), "other");
        assert_eq!(method_label(&http::Method::TRACE), "other");
        assert_eq!(method_label(&http::Method::PATCH), "PATCH");
        assert_eq!(method_label(&http::Method::HEAD), "HEAD");
    }

    #[test]
    fn the_table_has_each_method_and_path_once_and_at_most_one_parameter_per_api_path() {
        for (n, route) in ROUTES.iter().enumerate() {
            assert!(route.path.starts_with('/'), "{}", route.path);
            // Pages may have more (the versioned asset path): their filters extract them.
            if route.operation().is_some() {
                assert!(route.path.matches('{').count() <= 1, "{}", route.path);
            }
            let twins = ROUTES[n + 1..]
                .iter()
                .filter(|r| r.path == route.path && r.verb == route.verb)
                .count();
            assert_eq!(twins, 0, "{} {} twice", route.verb.as_str(), route.path);
        }
    }

    #[test]
    fn allow_lists_every_method_of_the_pattern() {
        let allow = |path| allow_header(path).map(|v| v.to_str().unwrap().to_owned());
        assert_eq!(allow("/customers/self").unwrap(), "GET, PATCH, DELETE");
        assert_eq!(allow("/admin/customers/7").unwrap(), "GET, PATCH, DELETE");
        assert_eq!(allow("/admin/customers/7/subscriptions").unwrap(), "PUT");
        assert_eq!(allow("/nowhere"), None);
    }

    #[test]
    fn cors_allows_every_method_of_the_table() {
        assert_eq!(cors_methods(), "GET, POST, PUT, PATCH, DELETE");
    }
}
