//! The retailer's console: two pages under `/console/` that call the admin API with a staff
//! session, built like the customer pages (compiled in, content-hashed assets, relative URLs,
//! the page languages). Its screens are `#/<screen>` routes inside `console.html`.

use std::sync::Arc;

use http::StatusCode;
use http::header::{HeaderValue, LOCATION};
use warp::Filter;
use warp::Reply;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use super::assets::Site;
use super::{html, in_language};
use crate::http::route::at;
use crate::http::table::{CONSOLE_ACTIVATE_PAGE, CONSOLE_PAGE};

/// `GET /console/` and `GET /console/activate`.
pub(super) fn routes(site: Arc<Site>) -> BoxedFilter<(Response,)> {
    let page = |name: &'static str| {
        let site = site.clone();
        warp::header::optional::<String>("accept-language").map(move |accept: Option<String>| {
            let language = site.language_for(accept.as_deref());
            in_language(html(site.page(name, language)), language)
        })
    };
    // The console's relative URLs start from `/console/`: `/console` goes there first.
    let shell = at(&CONSOLE_PAGE)
        .and(warp::path::full())
        .and(page("console"))
        .map(|path: warp::path::FullPath, shell: Response| {
            if path.as_str().ends_with('/') {
                shell
            } else {
                into_directory()
            }
        });
    let activate = at(&CONSOLE_ACTIVATE_PAGE).and(page("console-activate"));
    shell.or(activate).unify().boxed()
}

/// A permanent redirect from `/console` to `console/`, relative, so a path prefix stays.
fn into_directory() -> Response {
    let mut response = warp::reply().into_response();
    *response.status_mut() = StatusCode::PERMANENT_REDIRECT;
    response
        .headers_mut()
        .insert(LOCATION, HeaderValue::from_static("console/"));
    response
}
