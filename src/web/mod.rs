//! The built-in pages, the customers' and the retailer's console (`console.rs`): HTML, CSS and JavaScript modules compiled into the binary.
//! The pages call only the public HTTP API, as a shop's own front end would, and use relative
//! URLs only, so that a proxy may mount the server under a path prefix.

mod assets;
mod console;
mod mailbox;
mod text;

use std::sync::Arc;

use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use warp::Filter;
use warp::Reply;
use warp::filters::BoxedFilter;
use warp::reply::Response;

use crate::flows::Services;
use crate::http::route::{at, at_with_param, only_when};
use crate::http::table::{
    ACTIVATE_PAGE, CONFIRM_EMAIL_PAGE, FORGOT_PAGE, INDEX_PAGE, NOT_ME_PAGE, RESET_PAGE,
    SIGN_IN_CODE_PAGE, SIGN_UP_PAGE, UNDO_EMAIL_PAGE, UNSUBSCRIBE_PAGE,
};
use assets::Site;

/// What every page may load: its own origin only, no inline script or style, never framed.
pub(crate) const PAGE_CSP: &str = "default-src 'self'; base-uri 'none'; form-action 'self'; \
     object-src 'none'; frame-ancestors 'none'";

/// Every page and asset; with `[web] enabled = false`, nothing (each path is an unknown route).
pub fn routes(services: &Services) -> BoxedFilter<(Response,)> {
    let config = services.config();
    if !config.web.enabled {
        return warp::any()
            .and_then(|| async { Err::<Response, _>(warp::reject::not_found()) })
            .boxed();
    }
    let site = Arc::new(Site::build(config));
    // Each page in the browser's language (`Accept-Language`), among those of `src/web/text/`.
    let page = |name: &'static str| {
        let site = site.clone();
        warp::header::optional::<String>("accept-language").map(move |accept: Option<String>| {
            let language = site.language_for(accept.as_deref());
            in_language(html(site.page(name, language)), language)
        })
    };
    let index = at(&INDEX_PAGE).and(page("index"));
    // The sign-in page again, one level down, which fills in the code of the emailed link.
    let sign_in_code = at(&SIGN_IN_CODE_PAGE).and(page("sign-in-code"));
    let activate = at(&ACTIVATE_PAGE).and(page("activate"));
    let forgot = at(&FORGOT_PAGE).and(page("forgot"));
    // The page reads the code from its own URL.
    let reset = at_with_param(&RESET_PAGE)
        .map(|_code: String| ())
        .untuple_one()
        .and(page("reset"));
    let confirm = at(&CONFIRM_EMAIL_PAGE).and(page("confirm-email"));
    let undo = at(&UNDO_EMAIL_PAGE).and(page("undo-email"));
    let not_me = at(&NOT_ME_PAGE).and(page("not-me"));
    // Only with auth.allow_signup; otherwise an unknown route.
    let signup = at(&SIGN_UP_PAGE)
        .and(only_when(config.auth.allow_signup))
        .and(page("signup"));
    // Shown only for a token this server issued; opening it never unsubscribes.
    let unsubscribe_site = site.clone();
    let unsubscribe_services = services.clone();
    let unsubscribe = at_with_param(&UNSUBSCRIBE_PAGE)
        .and(warp::header::optional::<String>("accept-language"))
        .and_then(move |token: String, accept: Option<String>| {
            let (site, services) = (unsubscribe_site.clone(), unsubscribe_services.clone());
            async move {
                match services.unsubscribes().check_token(&token).await {
                    Ok(()) => {
                        let language = site.language_for(accept.as_deref());
                        Ok(in_language(
                            html(site.page("unsubscribe", language)),
                            language,
                        ))
                    }
                    Err(e) => Err(warp::reject::Rejection::from(e)),
                }
            }
        });
    // GET /assets/<version>/<name> (the `ASSET` table entry; two segments, so matched here)
    let asset_site = site.clone();
    let asset = warp::path!("assets" / String / String)
        .and(warp::get())
        .and_then(move |version: String, name: String| {
            let site = asset_site.clone();
            async move {
                site.asset(&version, &name)
                    .ok_or_else(warp::reject::not_found)
            }
        });
    index
        .or(sign_in_code)
        .unify()
        .or(activate)
        .unify()
        .or(forgot)
        .unify()
        .or(reset)
        .unify()
        .or(confirm)
        .unify()
        .or(undo)
        .unify()
        .or(not_me)
        .unify()
        .or(signup)
        .unify()
        .or(unsubscribe)
        .unify()
        .or(asset)
        .unify()
        .or(console::routes(site.clone()))
        .unify()
        .or(mailbox::routes(services, site))
        .unify()
        .boxed()
}

/// A page: HTML that is revalidated on each visit and locked down by its headers.
pub(crate) fn html(body: String) -> Response {
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    locked_down(response, PAGE_CSP)
}

/// Says which language a page is in, and that the answer depends on the browser's.
fn in_language(mut response: Response, language: &'static str) -> Response {
    let headers = response.headers_mut();
    headers.insert("content-language", HeaderValue::from_static(language));
    headers.insert(
        http::header::VARY,
        HeaderValue::from_static("accept-language"),
    );
    response
}

/// Adds the policy headers every page carries: the CSP, no Referer (codes travel in page URLs).
pub(crate) fn locked_down(mut response: Response, csp: &'static str) -> Response {
    let headers = response.headers_mut();
    headers.insert("content-security-policy", HeaderValue::from_static(csp));
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    response
}

/// Escapes text for HTML element content and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}
