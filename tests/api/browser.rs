//! The browser harness catches what it must: console errors, requests to another origin,
//! axe-core violations, sideways scrolling on a phone, and it writes screenshots. Each test
//! serves small pages of its own on loopback and drives a real headless Chromium over them.

use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::common::browser::{Browser, DESKTOP, Impact, PHONE, screenshot_dir};
use crate::common::eventually;
use futures::FutureExt;
use warp::Filter;
use warp::http::header::{CONTENT_SECURITY_POLICY, CONTENT_TYPE};

/// The policy the product's pages are served with: the harness must work under it.
const CSP: &str = "default-src 'self'; frame-ancestors 'none'";

/// A page that does everything right: labelled fields, a landmark, a title, a language,
/// its script and style from its own origin, a same-origin fetch.
const CLEAN: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Greeting</title><link rel="icon" href="/favicon.svg">
<link rel="stylesheet" href="/style.css"><script type="module" src="/greet.js"></script>
</head><body><main><h1>Greeting</h1>
<form id="greet">
<label for="name">Name</label><input id="name" name="name" autocomplete="name">
<label for="country">Country</label>
<select id="country" name="country"><option value="FR">France</option><option value="DE">Germany</option></select>
<button type="submit">Greet</button>
</form>
<p id="out" aria-live="polite"></p>
<p id="secret" hidden>Not shown</p>
<a id="next" href="/wide">A wide page</a>
</main></body></html>"#;

const STYLE: &str = "body { font: 16px/1.5 sans-serif; margin: 1rem; color: #111; background: #fff; }\n\
                     label, input, select, button { display: block; margin: .25rem 0; }\n\
                     .wide { width: 1000px; }\n";

const GREET_JS: &str = r#"
const ping = await fetch('/ping');
document.body.dataset.ping = await ping.text();
document.getElementById('greet').addEventListener('submit', (event) => {
  event.preventDefault();
  const name = document.getElementById('name').value;
  const country = document.getElementById('country').value;
  document.getElementById('out').textContent = `Hello ${name} from ${country}`;
});
"#;

/// A page whose script logs an error, then throws.
const BROKEN: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Broken</title><link rel="icon" href="/favicon.svg">
<script src="/broken.js"></script></head><body><main><h1>Broken</h1></main></body></html>"#;

const BROKEN_JS: &str = "console.error('logged on purpose');\n\
                         throw new Error('thrown on purpose');\n";

/// A page with an input nobody can name.
const UNLABELED: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Search</title><link rel="icon" href="/favicon.svg">
</head><body><main><h1>Search</h1><input id="query" type="text"></main></body></html>"#;

/// A page wider than a phone.
const WIDE: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Wide</title><link rel="icon" href="/favicon.svg"><link rel="stylesheet" href="/style.css">
</head><body><main><h1>Wide</h1><div class="wide">A table of 1000 pixels</div></main></body></html>"#;

/// An image: the icon of every page, and what the other origin serves.
const PIXEL: &str = r#"<svg xmlns="http://www.w3.org/2000/svg" width="1" height="1"/>"#;

/// Pages served on one loopback origin, plus a second origin that counts what it is asked.
struct Site {
    origin: String,
    other_origin: String,
    closed_url: String,
    other_hits: Arc<AtomicUsize>,
}

impl Site {
    async fn start() -> Site {
        let other_hits = Arc::new(AtomicUsize::new(0));
        let hits = other_hits.clone();
        let pixel = warp::path!("pixel.svg").map(move || {
            hits.fetch_add(1, Ordering::SeqCst);
            warp::reply::with_header(PIXEL, CONTENT_TYPE, "image/svg+xml")
        });
        let other = serve(pixel).await;
        let other_origin = format!("http://{other}");

        // A port nobody listens on: the request fails, and still counts.
        let closed = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap();
        let closed_url = format!("http://{closed}/gone.svg");
        let image = format!(
            r#"<img src="{other_origin}/pixel.svg" alt="A pixel"><img src="{closed_url}" alt="Gone">"#
        );
        let foreign = format!(
            r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Foreign</title><link rel="icon" href="/favicon.svg">
</head><body><main><h1>Foreign</h1>{image}</main></body></html>"#
        );
        let pages = page("clean", CLEAN, "text/html")
            .or(page("style.css", STYLE, "text/css"))
            .or(page("greet.js", GREET_JS, "text/javascript"))
            .or(page("ping", "pong", "text/plain"))
            .or(page("favicon.svg", PIXEL, "image/svg+xml"))
            .or(page("broken", BROKEN, "text/html"))
            .or(page("broken.js", BROKEN_JS, "text/javascript"))
            .or(page("unlabeled", UNLABELED, "text/html"))
            .or(page("wide", WIDE, "text/html"))
            // The same image under the policy: the browser refuses to ask for it.
            .or(page("blocked", foreign.clone(), "text/html"))
            .map(|reply| warp::reply::with_header(reply, CONTENT_SECURITY_POLICY, CSP));
        // Without the policy, the browser does ask the other origin.
        let unguarded = warp::path!("foreign").map(move || {
            warp::reply::with_header(foreign.clone(), CONTENT_TYPE, "text/html; charset=utf-8")
        });
        let addr = serve(pages.or(unguarded)).await;
        Site {
            origin: format!("http://{addr}"),
            other_origin,
            closed_url,
            other_hits,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.origin)
    }
}

/// `GET /<name>` answers `body` as `content_type`.
fn page(
    name: &'static str,
    body: impl Into<String>,
    content_type: &'static str,
) -> impl Filter<Extract = (impl warp::Reply,), Error = warp::Rejection> + Clone {
    let body = body.into();
    warp::get()
        .and(warp::path(name))
        .and(warp::path::end())
        .map(move || warp::reply::with_header(body.clone(), CONTENT_TYPE, content_type))
}

/// Serves `filter` on a free loopback port until the test ends.
async fn serve<F>(filter: F) -> SocketAddr
where
    F: Filter + Clone + Send + Sync + 'static,
    F::Extract: warp::Reply,
{
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(filter).incoming(listener).run());
    addr
}

/// The width and height of a PNG, read from its header.
fn png_size(path: &std::path::Path) -> (u32, u32) {
    let png = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(
        &png[..8],
        b"\x89PNG\r\n\x1a\n",
        "{} is a PNG",
        path.display()
    );
    let number = |at: usize| u32::from_be_bytes(png[at..at + 4].try_into().unwrap());
    (number(16), number(20))
}

#[tokio::test]
async fn a_clean_page_reports_nothing_and_is_screenshot_at_phone_and_desktop_width() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let site = Site::start().await;

    browser.open(&site.url("/clean")).await;
    browser.fill("#name", "Ada").await;
    browser.select("#country", "DE").await;
    browser.click("button[type=submit]").await;
    browser.wait_for_text("#out", "Hello Ada from DE").await;
    assert_eq!(browser.value("#name").await, "Ada");
    assert_eq!(browser.text("h1").await, "Greeting");

    let desktop = browser.screenshot("harness-clean").await;
    browser.set_window(PHONE.0, PHONE.1).await;
    assert!(!browser.has_horizontal_scroll().await);
    let phone = browser.screenshot("harness-clean").await;
    assert_eq!(desktop, screenshot_dir().join("harness-clean-1280.png"));
    assert_eq!(phone, screenshot_dir().join("harness-clean-360.png"));
    assert_eq!(png_size(&desktop), DESKTOP);
    assert_eq!(png_size(&phone), PHONE);

    assert_eq!(browser.axe_violations(Impact::Minor).await, []);
    assert_eq!(browser.console_errors().await, Vec::<String>::new());
    assert_eq!(
        browser.foreign_requests(&site.origin).await,
        Vec::<String>::new()
    );

    assert!(browser.is_shown("#out").await);
    assert!(!browser.is_shown("#secret").await);
    assert!(!browser.is_shown("#no-such-element").await);
    assert_eq!(
        browser.attr("#next", "href").await.as_deref(),
        Some("/wide")
    );
    browser.click("#next").await;
    assert_eq!(browser.wait_for_url("/wide").await, site.url("/wide"));
    browser.wait_for_text("h1", "Wide").await;
}

#[tokio::test]
async fn a_console_error_and_an_uncaught_exception_are_both_reported() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let site = Site::start().await;

    browser.open(&site.url("/broken")).await;
    let errors = browser.console_errors().await;
    assert!(
        errors.iter().any(|e| e.contains("logged on purpose")),
        "{errors:?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("thrown on purpose")),
        "{errors:?}"
    );

    browser.forget_logs().await;
    browser.open(&site.url("/clean")).await;
    assert_eq!(browser.console_errors().await, Vec::<String>::new());
}

#[tokio::test]
async fn a_request_to_another_loopback_origin_is_reported() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let site = Site::start().await;

    browser.open(&site.url("/foreign")).await;
    let mut foreign = browser.foreign_requests(&site.origin).await;
    foreign.sort();
    let mut expected = [format!("{}/pixel.svg", site.other_origin), site.closed_url];
    expected.sort();
    assert_eq!(foreign, expected);
    // The report matches what really went out.
    assert_eq!(site.other_hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_request_the_content_security_policy_blocks_is_a_console_error() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let site = Site::start().await;

    browser.open(&site.url("/blocked")).await;
    let errors = browser.console_errors().await;
    assert!(
        errors.iter().any(|e| e.contains("Content Security Policy")),
        "{errors:?}"
    );
    assert_eq!(site.other_hits.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn an_unlabeled_input_is_a_critical_axe_violation() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let site = Site::start().await;

    browser.open(&site.url("/unlabeled")).await;
    let violations = browser.axe_violations(Impact::Serious).await;
    let label = violations
        .iter()
        .find(|v| v.rule == "label")
        .unwrap_or_else(|| panic!("no label violation in {violations:?}"));
    assert_eq!(label.impact, Impact::Critical);
    assert_eq!(label.targets, ["#query"]);
}

#[tokio::test]
async fn a_page_wider_than_a_phone_scrolls_sideways_at_360_px() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let site = Site::start().await;

    browser.open(&site.url("/wide")).await;
    assert!(!browser.has_horizontal_scroll().await, "1000 px fit 1280");
    browser.set_window(PHONE.0, PHONE.1).await;
    assert!(browser.has_horizontal_scroll().await);
    let shot = browser.screenshot("harness-wide").await;
    assert_eq!(png_size(&shot), PHONE);
}

#[tokio::test]
async fn waiting_for_text_that_never_shows_fails_at_the_deadline() {
    let Some(mut browser) = Browser::start().await else {
        return;
    };
    let site = Site::start().await;
    browser.set_wait(Duration::from_millis(300));

    browser.open(&site.url("/clean")).await;
    let waited = AssertUnwindSafe(browser.wait_for_text("#out", "Hello"))
        .catch_unwind()
        .await;
    assert!(waited.is_err(), "waiting for absent text must fail");
    let missing = AssertUnwindSafe(browser.click("#no-such-button"))
        .catch_unwind()
        .await;
    assert!(missing.is_err(), "clicking a missing element must fail");
}

#[tokio::test]
async fn a_panicking_test_still_ends_its_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let group = browser.process_group();
    let outcome = AssertUnwindSafe(async move {
        let _browser = browser;
        panic!("a failing assertion");
    })
    .catch_unwind()
    .await;
    assert!(outcome.is_err());

    // chromedriver is reaped at once; Chromium's processes go with the group.
    let what = format!("process group {group} ends with its browser");
    eventually(Duration::from_secs(10), &what, || {
        // SAFETY: signal 0 only asks whether any process of the group still exists.
        let alive = unsafe { libc::kill(-group, 0) } == 0;
        std::future::ready((!alive).then_some(()))
    })
    .await;
}
