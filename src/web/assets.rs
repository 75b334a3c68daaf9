//! The pages and their assets, compiled in and rendered once at start. Assets live under
//! `assets/<version>/`, where the version is a hash of their content, so they can be cached
//! for a year; pages reach them (and each other) through relative URLs.

use std::collections::HashMap;

use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use sha2::{Digest, Sha256};
use warp::Reply;
use warp::reply::Response;

use crate::config::Config;
use crate::domain::Country;

/// The static files, by name: (content, content type).
const FILES: &[(&str, &str, &str)] = &[
    ("app.css", include_str!("assets/app.css"), "text/css"),
    ("api.js", include_str!("assets/api.js"), "text/javascript"),
    (
        "index.js",
        include_str!("assets/index.js"),
        "text/javascript",
    ),
    (
        "account.js",
        include_str!("assets/account.js"),
        "text/javascript",
    ),
    (
        "activate.js",
        include_str!("assets/activate.js"),
        "text/javascript",
    ),
    (
        "forgot.js",
        include_str!("assets/forgot.js"),
        "text/javascript",
    ),
    (
        "reset.js",
        include_str!("assets/reset.js"),
        "text/javascript",
    ),
    (
        "confirm-email.js",
        include_str!("assets/confirm-email.js"),
        "text/javascript",
    ),
    (
        "security.js",
        include_str!("assets/security.js"),
        "text/javascript",
    ),
    (
        "undo-email.js",
        include_str!("assets/undo-email.js"),
        "text/javascript",
    ),
    (
        "signup.js",
        include_str!("assets/signup.js"),
        "text/javascript",
    ),
    (
        "passkeys.js",
        include_str!("assets/passkeys.js"),
        "text/javascript",
    ),
    (
        "mailbox.js",
        include_str!("assets/mailbox.js"),
        "text/javascript",
    ),
    ("icon.svg", include_str!("assets/icon.svg"), "image/svg+xml"),
];

/// The page templates, by name, with the path from the page's directory to the root.
const PAGES: &[(&str, &str, &str)] = &[
    ("index", include_str!("assets/index.html"), "./"),
    ("activate", include_str!("assets/activate.html"), "./"),
    ("forgot", include_str!("assets/forgot.html"), "./"),
    ("reset", include_str!("assets/reset.html"), "../"),
    (
        "confirm-email",
        include_str!("assets/confirm-email.html"),
        "./",
    ),
    ("signup", include_str!("assets/signup.html"), "./"),
    ("undo-email", include_str!("assets/undo-email.html"), "./"),
];

/// The layout around the demo mailbox's server-made content.
const MAILBOX_LAYOUT: &str = include_str!("assets/mailbox.html");

/// Every page rendered, and every asset with its headers' values.
pub struct Site {
    version: String,
    pages: HashMap<&'static str, String>,
    assets: HashMap<String, (Vec<u8>, &'static str)>,
    has_custom_css: bool,
    min_password_length: usize,
    allow_signup: bool,
    /// Whether the server has passkeys on (the pages still ask the browser for WebAuthn).
    passkeys: bool,
}

impl Site {
    /// Renders every page for `config`; `web.custom_css` is read here, once.
    pub fn build(config: &Config) -> Site {
        let mut assets: HashMap<String, (Vec<u8>, &'static str)> = FILES
            .iter()
            .map(|(name, body, kind)| (name.to_string(), (body.as_bytes().to_vec(), *kind)))
            .collect();
        let custom = &config.web.custom_css;
        let has_custom_css = !custom.as_os_str().is_empty();
        if has_custom_css {
            let css = std::fs::read(custom).unwrap_or_else(|e| {
                tracing::error!(path = %custom.display(), error = %e, "web.custom_css unreadable");
                Vec::new()
            });
            assets.insert("custom.css".into(), (css, "text/css"));
        }
        let mut hasher = Sha256::new();
        let mut names: Vec<&String> = assets.keys().collect();
        names.sort();
        for name in names {
            hasher.update(name.as_bytes());
            hasher.update(&assets[name].0);
        }
        let version: String = hasher
            .finalize()
            .iter()
            .take(6)
            .map(|b| format!("{b:02x}"))
            .collect();
        let mut site = Site {
            version,
            pages: HashMap::new(),
            assets,
            has_custom_css,
            min_password_length: config.auth.min_password_length,
            allow_signup: config.auth.allow_signup,
            passkeys: matches!(config.relying_party(), Ok(Some(_))),
        };
        for (name, template, root) in PAGES {
            let page = site.render(template, root);
            site.pages.insert(name, page);
        }
        site
    }

    /// Fills a template's placeholders for a page whose path to the root is `root`.
    pub fn render(&self, template: &str, root: &str) -> String {
        let assets = format!("{root}assets/{}/", self.version);
        let mut styles = format!(r#"<link rel="stylesheet" href="{assets}app.css">"#);
        if self.has_custom_css {
            styles.push_str(&format!(
                r#"<link rel="stylesheet" href="{assets}custom.css">"#
            ));
        }
        styles.push_str(&format!(
            r#"<link rel="icon" href="{assets}icon.svg" type="image/svg+xml">"#
        ));
        let signup = if self.allow_signup {
            format!(r#"<a id="signup-link" href="{root}signup">Create an account</a>"#)
        } else {
            String::new()
        };
        template
            .replace("{{styles}}", &styles)
            .replace("{{assets}}", &assets)
            .replace("{{root}}", root)
            .replace("{{min_password}}", &self.min_password_length.to_string())
            .replace("{{signup_link}}", &signup)
            .replace("{{passkeys}}", if self.passkeys { "on" } else { "off" })
            .replace("{{countries}}", &country_options())
    }

    /// The demo mailbox's layout around `content`, for a page whose path to the root is `root`.
    pub fn mailbox_page(&self, root: &str, title: &str, content: &str) -> String {
        self.render(MAILBOX_LAYOUT, root)
            .replace("{{title}}", &super::escape(title))
            .replace("{{content}}", content)
    }

    /// A rendered page by name.
    pub fn page(&self, name: &str) -> String {
        self.pages.get(name).cloned().unwrap_or_default()
    }

    /// An asset of this build's version, cached for a year.
    pub fn asset(&self, version: &str, name: &str) -> Option<Response> {
        if version != self.version {
            return None;
        }
        let (body, kind) = self.assets.get(name)?;
        let mut response = body.clone().into_response();
        let headers = response.headers_mut();
        let content_type = if kind.starts_with("text/") {
            HeaderValue::from_str(&format!("{kind}; charset=utf-8")).ok()?
        } else {
            HeaderValue::from_static(kind)
        };
        headers.insert(CONTENT_TYPE, content_type);
        headers.insert(
            CACHE_CONTROL,
            HeaderValue::from_static("public, max-age=31536000, immutable"),
        );
        Some(response)
    }
}

/// `<option>`s of every ISO 3166-1 country, code as value; the page names them in the
/// browser's language.
fn country_options() -> String {
    let mut options = String::from(r#"<option value="">(none)</option>"#);
    for code in Country::codes() {
        options.push_str(&format!(r#"<option value="{code}">{code}</option>"#));
    }
    options
}
