//! The built-in customer pages over real HTTP: headers, assets, relative URLs, the settings
//! that turn pages on and off, and the demo mailbox.

use std::collections::BTreeSet;

use crate::common::{TestApp, spawn_app, spawn_app_with};
use customer_area::config::{DemoMailbox, MailTransport};
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use url::Url;

/// Every page that is on with the test config (sign-up aside).
const PAGES: &[&str] = &[
    "/",
    "/activate?identifier=test-user-1&secret=ABCDE12345",
    "/forgot",
    "/reset/ABCDE12345",
    "/confirm-email?identifier=test-user-1&key=J32NA974R4F7N1HB",
    "/undo-email?identifier=test-user-1&key=J32NA974R4F7N1HB",
    "/not-me?identifier=test-user-1&key=J32NA974R4F7N1HB",
    "/sign-in/code?email=ada%40example.com&code=123456",
    "/console/",
    "/console/activate?identifier=test-user-1&secret=ABCDE12345",
];

async fn get(app: &TestApp, url: &str) -> (StatusCode, HeaderMap, Vec<u8>) {
    let response = app
        .client
        .get(url)
        .send()
        .await
        .expect("the server answers");
    let status = response.status();
    let headers = response.headers().clone();
    (status, headers, response.bytes().await.unwrap().to_vec())
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or_default()
}

/// The values of every `name="..."` attribute in `html`.
fn attribute_values(html: &str, name: &str) -> Vec<String> {
    let needle = format!(" {name}=\"");
    html.match_indices(&needle)
        .map(|(at, _)| {
            let rest = &html[at + needle.len()..];
            rest[..rest.find('"').unwrap()].to_owned()
        })
        .collect()
}

/// The modules a JavaScript file imports as it loads (`from './x.js'`).
fn imports(js: &str) -> Vec<String> {
    quoted_after(js, " from '")
}

/// The modules a JavaScript file loads later, when it needs them (`import('./x.js')`).
fn lazy_imports(js: &str) -> Vec<String> {
    quoted_after(js, "import('")
}

/// The text up to the next `'` after each `needle` in `js`.
fn quoted_after(js: &str, needle: &str) -> Vec<String> {
    js.match_indices(needle)
        .map(|(at, _)| {
            let rest = &js[at + needle.len()..];
            rest[..rest.find('\'').unwrap()].to_owned()
        })
        .collect()
}

fn assert_page_headers(url: &str, headers: &HeaderMap) {
    assert!(
        header(headers, "content-type").starts_with("text/html"),
        "{url}"
    );
    let csp = header(headers, "content-security-policy");
    assert!(csp.contains("default-src 'self'"), "{url}: {csp}");
    assert!(csp.contains("frame-ancestors 'none'"), "{url}: {csp}");
    assert!(
        !csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"),
        "{url}: {csp}"
    );
    assert_eq!(header(headers, "referrer-policy"), "no-referrer", "{url}");
    assert_eq!(header(headers, "cache-control"), "no-cache", "{url}");
    assert_eq!(
        header(headers, "x-content-type-options"),
        "nosniff",
        "{url}"
    );
}

/// Everything a page loads: its stylesheets, icon and scripts, and the modules they import,
/// as (absolute URL, body). Fails on any answer but 200.
async fn first_load(app: &TestApp, page: &str) -> Vec<(Url, Vec<u8>)> {
    first_load_at(app, &app.url(page)).await
}

/// [`first_load`] of a page at an absolute URL (e.g. through a proxy).
async fn first_load_at(app: &TestApp, page: &str) -> Vec<(Url, Vec<u8>)> {
    load_at(app, page, false).await
}

/// Everything a page may load: its first load and the modules its scripts fetch later (the
/// account's, once signed in), with theirs.
async fn every_load(app: &TestApp, page: &str) -> Vec<(Url, Vec<u8>)> {
    every_load_at(app, &app.url(page)).await
}

/// [`every_load`] of a page at an absolute URL.
async fn every_load_at(app: &TestApp, page: &str) -> Vec<(Url, Vec<u8>)> {
    load_at(app, page, true).await
}

/// The page at `page` and what it loads; with `later`, also what its scripts load later.
async fn load_at(app: &TestApp, page: &str, later: bool) -> Vec<(Url, Vec<u8>)> {
    let page_url = Url::parse(page).unwrap();
    let (status, _, html) = get(app, page_url.as_str()).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let html = String::from_utf8(html).unwrap();
    let mut pending: Vec<Url> = attribute_values(&html, "src")
        .into_iter()
        .chain(
            attribute_values(&html, "href")
                .into_iter()
                .filter(|h| h.contains("assets/")),
        )
        .map(|link| page_url.join(&link).unwrap())
        .collect();
    let mut seen = BTreeSet::new();
    let mut loaded = vec![(page_url.clone(), html.into_bytes())];
    while let Some(url) = pending.pop() {
        if !seen.insert(url.to_string()) {
            continue;
        }
        let (status, _, body) = get(app, url.as_str()).await;
        assert_eq!(status, StatusCode::OK, "{url} (from {page})");
        if url.path().ends_with(".js") {
            let js = std::str::from_utf8(&body).unwrap();
            let mut modules = imports(js);
            if later {
                modules.extend(lazy_imports(js));
            }
            for module in modules {
                pending.push(url.join(&module).unwrap());
            }
        }
        loaded.push((url, body));
    }
    loaded
}

#[tokio::test]
async fn every_page_answers_html_with_the_security_headers() {
    let app = spawn_app_with(|c| c.auth.allow_signup = true).await;
    for page in PAGES.iter().chain(&["/signup"]) {
        let (status, headers, body) = get(&app, &app.url(page)).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_page_headers(page, &headers);
        let html = String::from_utf8(body).unwrap();
        assert!(html.starts_with("<!doctype html>"), "{page}");
        assert!(!html.contains("{{"), "{page} has an unfilled placeholder");
    }
}

#[tokio::test]
async fn assets_are_versioned_and_cached_for_a_year_with_their_content_type() {
    let app = spawn_app().await;
    let mut assets = 0;
    for page in PAGES {
        for (url, _) in every_load(&app, page).await.into_iter().skip(1) {
            assert!(
                url.path().starts_with("/assets/") && url.path().split('/').count() == 4,
                "{url} is not under /assets/<version>/"
            );
            let (_, headers, _) = get(&app, url.as_str()).await;
            assert_eq!(
                header(&headers, "cache-control"),
                "public, max-age=31536000, immutable",
                "{url}"
            );
            let expected = match url.path().rsplit('.').next().unwrap() {
                "css" => "text/css; charset=utf-8",
                "js" => "text/javascript; charset=utf-8",
                "svg" => "image/svg+xml",
                other => panic!("unexpected asset type {other}: {url}"),
            };
            assert_eq!(header(&headers, "content-type"), expected, "{url}");
            assets += 1;
        }
    }
    assert!(assets >= 3 * PAGES.len(), "only {assets} assets found");
    let (status, _, _) = get(&app, &app.url("/assets/0000/app.css")).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "an old version is gone");
}

#[tokio::test]
async fn pages_and_assets_use_relative_urls_and_no_other_origin() {
    let app = spawn_app_with(|c| c.auth.allow_signup = true).await;
    for page in PAGES.iter().chain(&["/signup"]) {
        for (url, body) in every_load(&app, page).await {
            let text = String::from_utf8(body).unwrap();
            let mut links: Vec<String> = ["src", "href", "action"]
                .iter()
                .flat_map(|a| attribute_values(&text, a))
                .collect();
            if url.path().ends_with(".js") {
                links.extend(imports(&text));
                links.extend(lazy_imports(&text));
                for call in ["fetch('", "fetch(\"", "new URL('"] {
                    for (at, _) in text.match_indices(call) {
                        let rest = &text[at + call.len()..];
                        links.push(rest[..rest.find(['\'', '"']).unwrap()].to_owned());
                    }
                }
            }
            for link in &links {
                assert!(
                    !link.starts_with("http:")
                        && !link.starts_with("https:")
                        && !link.starts_with("//")
                        && !link.starts_with('/'),
                    "{url} links to {link}: pages use relative URLs only"
                );
            }
            if url.path().ends_with(".js") || url.path().ends_with(".css") {
                assert!(
                    !text.contains("http://") && !text.contains("https://"),
                    "{url}"
                );
            }
            if !url.path().contains("/assets/") {
                assert!(!text.contains("<style"), "{url}: styles come from files");
                assert!(!text.contains(" style="), "{url}: styles come from files");
                for (at, _) in text.match_indices("<script") {
                    let tag = &text[at..at + text[at..].find('>').unwrap()];
                    assert!(tag.contains(" src="), "{url}: inline script {tag}");
                }
                for (at, _) in text.match_indices(" on") {
                    let name: String = text[at + 3..]
                        .chars()
                        .take_while(char::is_ascii_alphabetic)
                        .collect();
                    assert!(
                        !text[at + 3 + name.len()..].starts_with('='),
                        "{url}: inline event handler on{name}"
                    );
                }
            }
        }
    }
}

/// A reverse proxy on a loopback port that serves `app` under `/account/`; returns its base URL.
async fn prefix_proxy(app: &TestApp) -> String {
    use warp::Filter;
    let upstream = app.base.clone();
    let client = app.client.clone();
    let route = warp::path("account")
        .and(warp::path::tail())
        .and(warp::query::raw().or(warp::any().map(String::new)).unify())
        .and(warp::method())
        .and(warp::body::bytes())
        .and_then(
            move |tail: warp::path::Tail, query: String, method, body: bytes::Bytes| {
                let (client, upstream) = (client.clone(), upstream.clone());
                async move {
                    let mut url = format!("{upstream}/{}", tail.as_str());
                    if !query.is_empty() {
                        url = format!("{url}?{query}");
                    }
                    let answer = client.request(method, url).body(body).send().await.unwrap();
                    let mut response = http::Response::builder().status(answer.status());
                    for (name, value) in answer.headers() {
                        if !["content-length", "transfer-encoding", "connection"]
                            .contains(&name.as_str())
                        {
                            response = response.header(name, value);
                        }
                    }
                    let body = answer.bytes().await.unwrap().to_vec();
                    Ok::<_, warp::Rejection>(response.body(body).unwrap())
                }
            },
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(warp::serve(route).incoming(listener).run());
    format!("http://{addr}/account/")
}

#[tokio::test]
async fn pages_and_their_links_work_under_a_path_prefix() {
    let app = spawn_app().await;
    let proxy = prefix_proxy(&app).await;
    for page in PAGES {
        let loaded = every_load_at(&app, &format!("{proxy}{}", &page[1..])).await;
        let (page_url, html) = &loaded[0];
        for (url, _) in &loaded {
            assert!(url.as_str().starts_with(&proxy), "{url} escapes the prefix");
        }
        for link in attribute_values(std::str::from_utf8(html).unwrap(), "href") {
            let target = page_url.join(&link).unwrap();
            assert!(
                target.as_str().starts_with(&proxy),
                "{page}: {link} leaves the prefix"
            );
            let (status, _, _) = get(&app, target.as_str()).await;
            assert_eq!(status, StatusCode::OK, "{page}: {link}");
        }
    }
}

#[tokio::test]
async fn a_page_refuses_other_methods_with_allow_get() {
    let app = spawn_app().await;
    let response = app.client.post(app.url("/forgot")).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(header(response.headers(), "allow"), "GET");
}

#[tokio::test]
async fn sign_up_page_is_an_unknown_route_when_sign_up_is_off() {
    let app = spawn_app().await;
    let (status, _, body) = get(&app, &app.url("/signup")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(body["error"], "not_found");
    let (_, _, index) = get(&app, &app.url("/")).await;
    assert!(!String::from_utf8(index).unwrap().contains("signup"));
}

#[tokio::test]
async fn with_web_disabled_no_page_is_served_and_the_api_still_answers() {
    let app = spawn_app_with(|c| c.web.enabled = false).await;
    for page in PAGES.iter().chain(&["/demo/mail", "/assets/x/app.css"]) {
        let (status, _, _) = get(&app, &app.url(page)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{page}");
    }
    let (status, _, _) = get(&app, &app.url("/healthz")).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.login("nobody@example.com", "whatever-password").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
}

#[tokio::test]
async fn the_emailed_activation_link_opens_the_activation_page() {
    let app = spawn_app().await;
    app.create_customer("page@example.com", "Page Customer")
        .await;
    let mail = app.wait_for_email("page@example.com", "Activate").await;
    let link = Url::parse(&mail.link("https://shop.example.com/activate?")).unwrap();
    assert_eq!(link.path(), "/activate");
    let keys: Vec<String> = link.query_pairs().map(|(k, _)| k.into_owned()).collect();
    assert_eq!(keys, ["identifier", "secret"]);
    let (status, headers, _) = get(
        &app,
        &app.url(&format!("/activate?{}", link.query().unwrap())),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_page_headers("/activate", &headers);
}

#[tokio::test]
async fn the_emailed_undo_link_opens_the_undo_page_which_posts_the_undo() {
    let app = spawn_app().await;
    let token = app.active_customer("undo-page@example.com").await;
    let (status, _) = app
        .patch_self(
            &token,
            serde_json::json!({"email": "undo-page2@example.com"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let confirm = app
        .wait_for_email("undo-page2@example.com", "Confirm your new email")
        .await;
    let link = Url::parse(&confirm.link("https://shop.example.com/confirm-email?")).unwrap();
    let pairs: std::collections::HashMap<String, String> =
        link.query_pairs().into_owned().collect();
    let (status, _) = app
        .post(
            "/customers/newemail_confirm",
            serde_json::json!({"identifier": pairs["identifier"], "key": pairs["key"]}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let notice = app
        .wait_for_email("undo-page@example.com", "email address was changed")
        .await;
    let link = Url::parse(&notice.link("https://shop.example.com/undo-email?")).unwrap();
    assert_eq!(link.path(), "/undo-email");
    let keys: Vec<String> = link.query_pairs().map(|(k, _)| k.into_owned()).collect();
    assert_eq!(keys, ["identifier", "key"]);
    let (status, headers, body) = get(
        &app,
        &app.url(&format!("/undo-email?{}", link.query().unwrap())),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_page_headers("/undo-email", &headers);
    let html = String::from_utf8(body).unwrap();
    assert!(html.contains("undo-email.js"), "{html}");
    // The page's script posts to the undo endpoint, relative to the server's root.
    let script = attribute_values(&html, "src")
        .into_iter()
        .find(|src| src.ends_with("undo-email.js"))
        .unwrap();
    let (status, _, js) = get(&app, link_of(&app, "/undo-email", &script).as_str()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        String::from_utf8(js)
            .unwrap()
            .contains("'customers/email_change_undo'")
    );
}

/// Resolves a page's relative reference against the page's URL on the test server.
fn link_of(app: &TestApp, page: &str, reference: &str) -> Url {
    Url::parse(&app.url(page)).unwrap().join(reference).unwrap()
}

#[tokio::test]
async fn the_account_page_has_the_sessions_activity_and_export_sections() {
    let app = spawn_app().await;
    let (status, _, body) = get(&app, &app.url("/")).await;
    assert_eq!(status, StatusCode::OK);
    let html = String::from_utf8(body).unwrap();
    for id in [
        "sessions-form",
        "sessions-list",
        "activity-list",
        "export-form",
        "totp-form",
        "totp-qr",
        "code-request-form",
        "code-form",
        "second-factor-form",
    ] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id} missing");
    }
    let loaded = every_load(&app, "/").await;
    let security = loaded
        .iter()
        .find(|(url, _)| url.path().ends_with("/security.js"))
        .expect("the account page loads security.js");
    let js = String::from_utf8_lossy(&security.1);
    for call in [
        "'customers/sessions'",
        "'customers/self/export'",
        "customers/activity",
    ] {
        assert!(js.contains(call), "{call} missing from security.js");
    }
}

#[tokio::test]
async fn the_sign_in_page_offers_only_the_ways_in_that_auth_login_methods_lists() {
    use customer_area::config::LoginMethod;
    let all = spawn_app().await;
    let (_, _, body) = get(
        &all,
        &all.url("/sign-in/code?email=a%40b.example&code=123456"),
    )
    .await;
    let html = String::from_utf8(body).unwrap();
    assert!(
        html.contains(r#"data-password="on" data-email-code="on""#),
        "{html}"
    );
    // One level down, its links still reach the root's pages.
    assert!(html.contains(r#"href="../forgot""#), "{html}");
    let no_codes = spawn_app_with(|c| c.auth.login_methods = vec![LoginMethod::Password]).await;
    let (_, _, body) = get(&no_codes, &no_codes.url("/")).await;
    let html = String::from_utf8(body).unwrap();
    assert!(
        html.contains(r#"data-passkeys="off" data-password="on" data-email-code="off""#),
        "{html}"
    );
}

#[tokio::test]
async fn the_reset_email_says_a_new_password_is_given_then_one_may_be_chosen() {
    let app = spawn_app().await;
    app.active_customer("forgetful@example.com").await;
    let (status, body) = app
        .post(
            "/customers/password_reset",
            serde_json::json!({"email": "forgetful@example.com", "reset_uri": "/reset"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let mail = app.wait_for_email("forgetful@example.com", "Reset").await;
    let link = Url::parse(&mail.link("https://shop.example.com/reset/")).unwrap();
    assert!(mail.text.contains("new password"), "{}", mail.text);
    assert!(
        mail.text.contains("choose a password of your own"),
        "{}",
        mail.text
    );
    let (status, headers, _) = get(&app, &app.url(link.path())).await;
    assert_eq!(status, StatusCode::OK);
    assert_page_headers(link.path(), &headers);
}

/// A test config with the file transport, so that the demo mailbox is on.
async fn spawn_with_file_transport(
    adjust: impl FnOnce(&mut customer_area::config::Config),
) -> TestApp {
    spawn_app_with(|c| {
        c.mail.transport = MailTransport::File;
        adjust(c);
    })
    .await
}

#[tokio::test]
async fn demo_mailbox_shows_a_fresh_email_with_a_clickable_link() {
    let app = spawn_with_file_transport(|_| {}).await;
    let (status, _, body) = get(&app, &app.url("/demo/mail")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8(body).unwrap().contains("mail-empty"));
    app.create_customer("demo@example.com", "Demo Customer")
        .await;
    let mail = app.wait_for_email("demo@example.com", "Activate").await;
    let (status, headers, body) = get(&app, &app.url("/demo/mail")).await;
    assert_eq!(status, StatusCode::OK);
    assert_page_headers("/demo/mail", &headers);
    let list = String::from_utf8(body).unwrap();
    assert!(list.contains(&mail.subject), "{list}");
    let entry = attribute_values(&list, "href")
        .into_iter()
        .find(|h| h.starts_with("mail/") && h.ends_with(".eml"))
        .unwrap_or_else(|| panic!("no email listed in {list}"));
    let message_url = Url::parse(&app.url("/demo/mail"))
        .unwrap()
        .join(&entry)
        .unwrap();
    let (status, headers, body) = get(&app, message_url.as_str()).await;
    assert_eq!(status, StatusCode::OK);
    assert_page_headers(message_url.path(), &headers);
    let page = String::from_utf8(body).unwrap();
    let link = mail.link("https://shop.example.com/activate?");
    assert!(
        page.contains(&format!("<a href=\"{}\">", link.replace('&', "&amp;"))),
        "the activation link is not clickable in:\n{page}"
    );
    let html = attribute_values(&page, "src")
        .into_iter()
        .find(|s| s.ends_with("/html"))
        .expect("the HTML part is shown");
    let (status, headers, _) = get(&app, message_url.join(&html).unwrap().as_str()).await;
    assert_eq!(status, StatusCode::OK);
    assert!(header(&headers, "content-security-policy").contains("sandbox"));
}

#[tokio::test]
async fn demo_mailbox_lists_the_newest_email_first() {
    let app = spawn_with_file_transport(|_| {}).await;
    app.create_customer("first@example.com", "First").await;
    app.wait_for_email("first@example.com", "Activate").await;
    app.create_customer("second@example.com", "Second").await;
    app.wait_for_email("second@example.com", "Activate").await;
    let (_, _, body) = get(&app, &app.url("/demo/mail")).await;
    let list = String::from_utf8(body).unwrap();
    let (first, second) = (
        list.find("first@example.com").unwrap(),
        list.find("second@example.com").unwrap(),
    );
    assert!(second < first, "newest first:\n{list}");
}

/// `GET /demo/mail` with `headers` added; answers the status.
async fn demo_mailbox_status(app: &TestApp, headers: &[(&str, &str)]) -> StatusCode {
    let mut request = app.client.get(app.url("/demo/mail"));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    request.send().await.unwrap().status()
}

#[tokio::test]
async fn demo_mailbox_refuses_every_request_a_local_proxy_relays() {
    // The usual install: Caddy or nginx on the same machine, no trusted_proxies set, so the
    // peer of every request from the internet is loopback.
    let app = spawn_with_file_transport(|_| {}).await;
    assert_eq!(demo_mailbox_status(&app, &[]).await, StatusCode::OK);
    for relayed in [
        ("x-forwarded-for", "203.0.113.9"),
        ("x-forwarded-for", "127.0.0.1"),
        ("forwarded", "for=203.0.113.9;proto=https"),
        ("x-real-ip", "203.0.113.9"),
        ("host", "account.shop.example.com"),
        ("host", "127.0.0.1.example.com"),
    ] {
        assert_eq!(
            demo_mailbox_status(&app, &[relayed]).await,
            StatusCode::NOT_FOUND,
            "{relayed:?}"
        );
    }
    for local in [
        "localhost",
        "LOCALHOST:8080",
        "127.0.0.1:80",
        "[::1]:3000",
        "[::1]",
    ] {
        assert_eq!(
            demo_mailbox_status(&app, &[("host", local)]).await,
            StatusCode::OK,
            "{local}"
        );
    }
}

#[tokio::test]
async fn demo_mailbox_refuses_a_client_behind_a_trusted_proxy() {
    let app = spawn_with_file_transport(|c| {
        c.server.trusted_proxies = vec!["127.0.0.1".into()];
    })
    .await;
    for forwarded in ["203.0.113.9", "127.0.0.1"] {
        assert_eq!(
            demo_mailbox_status(&app, &[("x-forwarded-for", forwarded)]).await,
            StatusCode::NOT_FOUND,
            "a relayed request is refused, whoever it names"
        );
    }
}

#[tokio::test]
async fn demo_mailbox_is_absent_with_smtp_or_when_off() {
    let app = spawn_app().await;
    assert_eq!(app.config.mail.transport, MailTransport::Smtp);
    let (status, _, _) = get(&app, &app.url("/demo/mail")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let app = spawn_with_file_transport(|c| c.web.demo_mailbox = DemoMailbox::Off).await;
    let (status, _, _) = get(&app, &app.url("/demo/mail")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn demo_mailbox_reads_only_email_files_of_its_folder() {
    let app = spawn_with_file_transport(|_| {}).await;
    std::fs::create_dir_all(&app.config.mail.dir).unwrap();
    std::fs::write(
        app.dir.path().join("secret.eml"),
        "Subject: secret\r\n\r\nno",
    )
    .unwrap();
    for path in [
        "/demo/mail/..%2Fsecret.eml",
        "/demo/mail/%2E%2E%2Fsecret.eml",
        "/demo/mail/customer-area.db",
        "/demo/mail/missing.eml",
    ] {
        let (status, _, _) = get(&app, &app.url(path)).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
    }
}

#[tokio::test]
async fn custom_css_is_served_after_the_built_in_stylesheet() {
    let dir = tempfile::tempdir().unwrap();
    let css = dir.path().join("shop.css");
    std::fs::write(&css, ":root { --accent: #8b1f5f; }\n").unwrap();
    let app = spawn_app_with(|c| c.web.custom_css = css.clone()).await;
    let (_, _, html) = get(&app, &app.url("/")).await;
    let html = String::from_utf8(html).unwrap();
    let sheets: Vec<String> = attribute_values(&html, "href")
        .into_iter()
        .filter(|h| h.ends_with(".css"))
        .collect();
    assert_eq!(sheets.len(), 2, "{sheets:?}");
    assert!(sheets[0].ends_with("/app.css") && sheets[1].ends_with("/custom.css"));
    let custom = Url::parse(&app.url("/")).unwrap().join(&sheets[1]).unwrap();
    let (status, headers, body) = get(&app, custom.as_str()).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(header(&headers, "content-type"), "text/css; charset=utf-8");
    assert_eq!(body, b":root { --accent: #8b1f5f; }\n");
}

#[tokio::test]
async fn the_sign_in_page_first_load_is_under_60_kb() {
    let app = spawn_app().await;
    let loaded = first_load(&app, "/").await;
    let total: usize = loaded.iter().map(|(_, body)| body.len()).sum();
    let files: Vec<String> = loaded
        .iter()
        .map(|(url, body)| format!("{} {}", url.path(), body.len()))
        .collect();
    println!(
        "sign-in page first load: {total} bytes in {} files: {files:?}",
        loaded.len()
    );
    assert!(loaded.len() >= 4, "{files:?}");
    assert!(total < 60 * 1024, "{total} bytes: {files:?}");
    // The account's scripts come once signed in, the passkeys' on a press; both are served.
    assert!(
        !files.iter().any(|f| f.contains("/account.js")),
        "{files:?}"
    );
    let everything = every_load(&app, "/").await;
    let later: Vec<String> = everything
        .iter()
        .filter(|(url, _)| !loaded.iter().any(|(first, _)| first == url))
        .map(|(url, body)| format!("{} {}", url.path(), body.len()))
        .collect();
    println!("loaded once signed in: {later:?}");
    for script in ["/account.js", "/security.js", "/totp.js", "/passkeys.js"] {
        assert!(later.iter().any(|f| f.contains(script)), "{later:?}");
    }
}

#[tokio::test]
async fn the_console_first_load_is_under_150_kb() {
    let app = spawn_app().await;
    let loaded = first_load(&app, "/console/").await;
    let total: usize = loaded.iter().map(|(_, body)| body.len()).sum();
    let files: Vec<String> = loaded
        .iter()
        .map(|(url, body)| format!("{} {}", url.path(), body.len()))
        .collect();
    println!(
        "console first load: {total} bytes in {} files: {files:?}",
        loaded.len()
    );
    assert!(
        files.iter().any(|f| f.contains("/console-customer.js")),
        "{files:?}"
    );
    assert!(total < 150 * 1024, "{total} bytes: {files:?}");
}

#[tokio::test]
async fn the_console_speaks_the_browser_language() {
    let app = spawn_app().await;
    for (language, title) in [
        ("de-DE,de;q=0.9", "Bei der Konsole anmelden"),
        ("fr", "Se connecter à la console"),
        ("en-GB", "Sign in to the console"),
    ] {
        let response = app
            .client
            .get(app.url("/console/"))
            .header("accept-language", language)
            .send()
            .await
            .unwrap();
        assert_eq!(
            header(response.headers(), "content-language"),
            &language[..2]
        );
        let html = response.text().await.unwrap();
        assert!(html.contains(title), "{language}: no {title:?}");
    }
}

#[tokio::test]
async fn the_console_without_its_slash_goes_to_it_relatively() {
    let app = spawn_app().await;
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url("/console"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PERMANENT_REDIRECT);
    assert_eq!(header(response.headers(), "location"), "console/");
}

#[test]
fn page_paths_have_bounded_route_patterns_for_logs_and_metrics() {
    use customer_area::http::route::{Verb, methods_of, route_label};
    for (path, pattern) in [
        ("/", "/"),
        ("/activate", "/activate"),
        ("/undo-email", "/undo-email"),
        ("/reset/ABCDE12345", "/reset/{code}"),
        ("/assets/0123abcd/app.css", "/assets/{version}/{file}"),
        ("/demo/mail/1795601818-000001.eml", "/demo/mail/{file}"),
        (
            "/demo/mail/1795601818-000001.eml/html",
            "/demo/mail/{file}/html",
        ),
    ] {
        assert_eq!(route_label(path), pattern, "{path}");
        assert_eq!(methods_of(pattern), [Verb::Get], "{pattern}");
    }
}
