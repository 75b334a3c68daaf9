//! The demo mailbox: the emails the file transport wrote to `mail.dir`, newest first, each
//! readable with its links clickable. On only with `[web] demo_mailbox = "auto"` and the file
//! transport, and only for a browser on the server's own machine
//! ([`crate::http::client::is_local_browser`]): a request relayed by a proxy, even one on the
//! same machine, and anyone else get the unknown-route 404.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use http::HeaderMap;
use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use warp::Filter;
use warp::Reply;
use warp::filters::BoxedFilter;
use warp::reject::Rejection;
use warp::reply::Response;

use super::assets::Site;
use super::{escape, html, locked_down};
use crate::config::{DemoMailbox, MailTransport};
use crate::flows::Services;
use crate::http::client::is_local_browser;
use crate::http::server::PeerAddr;

/// The HTML part of an email, shown in a sandboxed frame: no script, no loads, links open
/// only on a click.
const EMAIL_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'; \
     sandbox allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation";

/// `/demo/mail`, `/demo/mail/<file>` and `/demo/mail/<file>/html`, when the mailbox is on.
pub fn routes(services: &Services, site: Arc<Site>) -> BoxedFilter<(Response,)> {
    let config = services.config();
    let on = config.web.demo_mailbox == DemoMailbox::Auto
        && config.mail.transport == MailTransport::File;
    let dir = Arc::new(config.mail.dir.clone());
    let gate = warp::path("demo")
        .and(warp::path("mail"))
        .and(warp::get())
        .and(warp::ext::optional::<PeerAddr>())
        .and(warp::header::headers_cloned())
        .and_then(
            move |peer: Option<PeerAddr>, headers: HeaderMap| async move {
                if on && is_local_browser(peer, &headers) {
                    Ok(())
                } else {
                    Err(warp::reject::not_found())
                }
            },
        )
        .untuple_one();
    let (list_site, list_dir) = (site.clone(), dir.clone());
    // GET /demo/mail
    let list = warp::path::end().and_then(move || {
        let (site, dir) = (list_site.clone(), list_dir.clone());
        async move { blocking(move || list_page(&site, &dir)).await }
    });
    let (show_site, show_dir) = (site, dir.clone());
    // GET /demo/mail/<file>
    let show = warp::path!(String).and_then(move |name: String| {
        let (site, dir) = (show_site.clone(), show_dir.clone());
        async move { blocking(move || message_page(&site, &dir, &name)).await }
    });
    // GET /demo/mail/<file>/html
    let html_part = warp::path!(String / "html").and_then(move |name: String| {
        let dir = dir.clone();
        async move { blocking(move || html_part(&dir, &name)).await }
    });
    gate.and(list.or(show).unify().or(html_part).unify())
        .boxed()
}

/// Runs file reading off the async executor; `None` is an unknown route.
async fn blocking(
    work: impl FnOnce() -> Option<Response> + Send + 'static,
) -> Result<Response, Rejection> {
    tokio::task::spawn_blocking(work)
        .await
        .ok()
        .flatten()
        .ok_or_else(warp::reject::not_found)
}

/// The `.eml` files in `dir`, newest first (their names start with the time they were made).
fn emails(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|name| is_email_name(name))
                .collect()
        })
        .unwrap_or_default();
    names.sort_unstable_by(|a, b| b.cmp(a));
    names
}

/// A file name the transport could have written: no path, no hidden file.
fn is_email_name(name: &str) -> bool {
    name.ends_with(".eml")
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:+".contains(c))
}

fn read(dir: &Path, name: &str) -> Option<Vec<u8>> {
    if !is_email_name(name) {
        return None;
    }
    std::fs::read(PathBuf::from(dir).join(name)).ok()
}

fn list_page(site: &Site, dir: &Path) -> Option<Response> {
    let mut content = String::from(r#"<ul id="mail-list" class="mail-list">"#);
    let names = emails(dir);
    for name in &names {
        let Some(raw) = read(dir, name) else { continue };
        let Some(message) = mail_parser::MessageParser::default().parse(&raw) else {
            continue;
        };
        let to = message
            .to()
            .and_then(|a| a.first())
            .and_then(|a| a.address())
            .unwrap_or_default();
        let date = message.date().map(|d| d.to_rfc3339()).unwrap_or_default();
        content.push_str(&format!(
            r#"<li><a href="mail/{href}">{subject}</a> <span class="meta">to {to}, {date}</span></li>"#,
            href = escape(name),
            subject = escape(message.subject().unwrap_or("(no subject)")),
            to = escape(to),
            date = escape(&date),
        ));
    }
    content.push_str("</ul>");
    if names.is_empty() {
        content = format!(
            r#"<p id="mail-empty">No email yet. They appear here as soon as they are written to <code>{}</code>.</p>"#,
            escape(&dir.display().to_string())
        );
    }
    Some(html(site.mailbox_page("../", "Demo mailbox", &content)))
}

fn message_page(site: &Site, dir: &Path, name: &str) -> Option<Response> {
    let raw = read(dir, name)?;
    let message = mail_parser::MessageParser::default().parse(&raw)?;
    let header = |label: &str, value: &str| format!("<dt>{label}</dt><dd>{}</dd>", escape(value));
    let to = message
        .to()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or_default();
    let from = message
        .from()
        .and_then(|a| a.first())
        .and_then(|a| a.address())
        .unwrap_or_default();
    let subject = message.subject().unwrap_or("(no subject)").to_owned();
    let mut content = format!(
        r#"<p><a id="mail-back" href="../mail">All emails</a></p><dl class="mail-headers">{}{}{}</dl>"#,
        header("From", from),
        header("To", to),
        header(
            "Date",
            &message.date().map(|d| d.to_rfc3339()).unwrap_or_default()
        ),
    );
    let text = message.body_text(0).unwrap_or_default();
    content.push_str(&format!(
        r#"<h2>Text</h2><pre id="mail-text" class="mail-text">{}</pre>"#,
        linkify(&text)
    ));
    if message.html_body_count() > 0 {
        content.push_str(&format!(
            r#"<h2>HTML</h2><iframe id="mail-html" title="The email as HTML" src="./{}/html" sandbox="allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"></iframe>"#,
            escape(name)
        ));
    }
    Some(html(site.mailbox_page("../../", &subject, &content)))
}

fn html_part(dir: &Path, name: &str) -> Option<Response> {
    let raw = read(dir, name)?;
    let message = mail_parser::MessageParser::default().parse(&raw)?;
    let body = message.body_html(0)?.into_owned();
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    let mut response = locked_down(response, EMAIL_CSP);
    // Framed by the mailbox page only (the CSP's frame-ancestors says the same).
    response
        .headers_mut()
        .insert("x-frame-options", HeaderValue::from_static("SAMEORIGIN"));
    Some(response)
}

/// Escapes plain text and turns each `http(s)://` word into a link.
fn linkify(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 2);
    for (i, line) in text.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for (j, word) in line.split(' ').enumerate() {
            if j > 0 {
                out.push(' ');
            }
            if word.starts_with("http://") || word.starts_with("https://") {
                let url = escape(word.trim_end_matches('\r'));
                out.push_str(&format!(r#"<a href="{url}">{url}</a>"#));
            } else {
                out.push_str(&escape(word));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_in_text_become_anchors_and_the_rest_is_escaped() {
        assert_eq!(
            linkify("open <this>:\nhttp://x.test/a?b=1&c=2 now"),
            "open &lt;this&gt;:\n<a href=\"http://x.test/a?b=1&amp;c=2\">http://x.test/a?b=1&amp;c=2</a> now"
        );
    }

    #[test]
    fn only_plain_email_file_names_are_read() {
        assert!(is_email_name("2026-11-25T09:00:00Z-000001.eml"));
        for bad in [
            "../secret.eml",
            ".hidden.eml",
            "a/b.eml",
            "notes.txt",
            "a%2fb.eml",
        ] {
            assert!(!is_email_name(bad), "{bad}");
        }
    }
}
