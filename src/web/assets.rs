//! The pages and their assets, compiled in and rendered once at start. Assets live under
//! `assets/<version>/`, where the version is a hash of their content, so they can be cached
//! for a year; pages reach them (and each other) through relative URLs.

use std::collections::HashMap;

use http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use sha2::{Digest, Sha256};
use warp::Reply;
use warp::reply::Response;

use minijinja::{Environment, context};

use super::text::PageTexts;
use crate::config::{Config, LoginMethod};
use crate::domain::{Country, FIELDS, Language, Rule};

/// The static files, by name: (content, content type).
pub(super) const FILES: &[(&str, &str, &str)] = &[
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
        "link-action.js",
        include_str!("assets/link-action.js"),
        "text/javascript",
    ),
    (
        "not-me.js",
        include_str!("assets/not-me.js"),
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
        "webauthn.js",
        include_str!("assets/webauthn.js"),
        "text/javascript",
    ),
    (
        "sign-in-ways.js",
        include_str!("assets/sign-in-ways.js"),
        "text/javascript",
    ),
    ("totp.js", include_str!("assets/totp.js"), "text/javascript"),
    (
        "mailbox.js",
        include_str!("assets/mailbox.js"),
        "text/javascript",
    ),
    (
        "unsubscribe.js",
        include_str!("assets/unsubscribe.js"),
        "text/javascript",
    ),
    ("icon.svg", include_str!("assets/icon.svg"), "image/svg+xml"),
    // The retailer's console (`console.rs`).
    (
        "console.js",
        include_str!("assets/console.js"),
        "text/javascript",
    ),
    (
        "console-api.js",
        include_str!("assets/console-api.js"),
        "text/javascript",
    ),
    (
        "console-screens.js",
        include_str!("assets/console-screens.js"),
        "text/javascript",
    ),
    (
        "console-customer.js",
        include_str!("assets/console-customer.js"),
        "text/javascript",
    ),
    (
        "console-passkeys.js",
        include_str!("assets/console-passkeys.js"),
        "text/javascript",
    ),
    (
        "console-activate.js",
        include_str!("assets/console-activate.js"),
        "text/javascript",
    ),
    (
        "console.css",
        include_str!("assets/console.css"),
        "text/css",
    ),
];

/// The page templates, by name, with the path from the page's directory to the root.
pub(super) const PAGES: &[(&str, &str, &str)] = &[
    ("index", include_str!("assets/index.html"), "./"),
    // The link of an emailed sign-in code: the sign-in page, one level down.
    ("sign-in-code", include_str!("assets/index.html"), "../"),
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
    ("not-me", include_str!("assets/not-me.html"), "./"),
    (
        "unsubscribe",
        include_str!("assets/unsubscribe.html"),
        "../",
    ),
    ("console", include_str!("assets/console.html"), "../"),
    (
        "console-activate",
        include_str!("assets/console-activate.html"),
        "../",
    ),
];

/// The layout around the demo mailbox's server-made content.
pub(super) const MAILBOX_LAYOUT: &str = include_str!("assets/mailbox.html");

/// Every page rendered in every page language, and every asset with its headers' values.
pub struct Site {
    version: String,
    /// Rendered pages by language, then by name.
    pages: HashMap<&'static str, HashMap<&'static str, String>>,
    assets: HashMap<String, (Vec<u8>, &'static str)>,
    has_custom_css: bool,
    min_password_length: usize,
    allow_signup: bool,
    texts: PageTexts,
    /// The language of a visitor whose browser asks for none the pages are written in.
    default_language: &'static str,
    templates: Environment<'static>,
    /// Whether the server has passkeys on (the pages still ask the browser for WebAuthn).
    passkeys: bool,
    /// Whether `auth.login_methods` lists `password`, and `email_code`.
    password_sign_in: bool,
    email_code: bool,
    /// How long an emailed sign-in code works (`auth.login_code_ttl_minutes`).
    code_minutes: u64,
}

impl Site {
    /// Renders every page for `config` in every language; `web.custom_css` is read here, once.
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
        let mut templates = Environment::new();
        // Every page is HTML: each value is escaped unless it is markup made here.
        templates.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        crate::mail::templates::escape_only_html_specials(&mut templates);
        for (name, template, _) in PAGES {
            templates
                .add_template(name, template)
                .unwrap_or_else(|e| panic!("page {name}: {e}"));
        }
        templates
            .add_template("mailbox", MAILBOX_LAYOUT)
            .expect("the mailbox layout parses");
        let texts = PageTexts::load();
        let default_language = texts
            .languages()
            .find(|l| *l == config.mail.default_language.as_str())
            .unwrap_or("en");
        let mut site = Site {
            version,
            pages: HashMap::new(),
            assets,
            has_custom_css,
            min_password_length: config.auth.min_password_length,
            allow_signup: config.auth.allow_signup,
            texts,
            default_language,
            templates,
            passkeys: config.auth.allows(LoginMethod::Passkey)
                && matches!(config.relying_party(), Ok(Some(_))),
            password_sign_in: config.auth.allows(LoginMethod::Password),
            email_code: config.auth.allows(LoginMethod::EmailCode),
            code_minutes: config.auth.login_code_ttl_minutes.get(),
        };
        let languages: Vec<&'static str> = site.texts.languages().collect();
        for language in languages {
            for (name, _, root) in PAGES {
                let page = site.render(name, language, root, minijinja::Value::UNDEFINED);
                site.pages.entry(language).or_default().insert(name, page);
            }
        }
        site
    }

    /// The page language for a request's `Accept-Language` header.
    pub fn language_for(&self, accept_language: Option<&str>) -> &'static str {
        accept_language
            .and_then(|header| Language::negotiate(header, |l| self.texts.has(l)))
            .and_then(|chosen| self.texts.languages().find(|l| *l == chosen.as_str()))
            .unwrap_or(self.default_language)
    }

    /// Renders the template `name` in `language` for a page whose path to the root is
    /// `root`, with `extra` values (the mailbox's title and content).
    fn render(&self, name: &str, language: &str, root: &str, extra: minijinja::Value) -> String {
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
        let texts = self.texts.of(language).expect("a page language");
        let signup = if self.allow_signup {
            let words = texts["index"]["signup_link"].as_str().unwrap_or_default();
            format!(
                r#"<a id="signup-link" href="{root}signup">{}</a>"#,
                super::escape(words)
            )
        } else {
            String::new()
        };
        // An attribute value, escaped like every other value. The console's scripts have
        // texts of their own besides those of `api.js`.
        let mut script_texts = texts["js"].as_table().cloned().unwrap_or_default();
        if name.starts_with("console") {
            script_texts.extend(texts["console_js"].as_table().cloned().unwrap_or_default());
        }
        let js_texts = serde_json::to_string(&script_texts).expect("texts serialize");
        let values = context! {
            lang => language,
            t => minijinja::Value::from_serialize(texts),
            styles => minijinja::Value::from_safe_string(styles),
            assets => assets,
            root => root,
            min_password => self.min_password_length.to_string(),
            signup_link => minijinja::Value::from_safe_string(signup),
            countries => minijinja::Value::from_safe_string(country_options()),
            profile_fields => profile_form(),
            js_texts => js_texts,
            passkeys => on_off(self.passkeys),
            password_sign_in => on_off(self.password_sign_in),
            email_code => on_off(self.email_code),
            code_minutes => self.code_minutes.to_string(),
            ..extra
        };
        self.templates
            .get_template(name)
            .and_then(|template| template.render(values))
            .unwrap_or_else(|e| panic!("page {name} ({language}): {e}"))
    }

    /// The demo mailbox's layout around `content`, for a page whose path to the root is `root`.
    pub fn mailbox_page(&self, root: &str, title: &str, content: &str) -> String {
        let extra = context! {
            title => title,
            content => minijinja::Value::from_safe_string(content.to_owned()),
        };
        self.render("mailbox", self.default_language, root, extra)
    }

    /// A rendered page by name, in `language` (one of the page languages).
    pub fn page(&self, name: &str, language: &str) -> String {
        self.pages
            .get(language)
            .and_then(|pages| pages.get(name))
            .cloned()
            .unwrap_or_default()
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

/// A switch as the pages' `data-*` attributes say it.
fn on_off(on: bool) -> &'static str {
    if on { "on" } else { "off" }
}

/// One control of the account page's profile form, as `index.html` writes it.
#[derive(serde::Serialize)]
struct FormField {
    key: &'static str,
    /// The keys of its label and hint in the page's texts.
    text: &'static str,
    hint: Option<&'static str>,
    /// `input`, `textarea` or `select` (of the countries).
    control: &'static str,
    /// An input's `type`, where it is not text.
    kind: Option<&'static str>,
    autocomplete: &'static str,
    max_length: Option<usize>,
}

/// The profile form's controls, one per field of [`FIELDS`], in their order.
fn profile_form() -> Vec<FormField> {
    FIELDS
        .iter()
        .map(|spec| FormField {
            key: spec.key,
            text: spec.text,
            hint: spec.hint,
            control: match spec.rule {
                Rule::Line { .. } | Rule::Phone => "input",
                Rule::Lines { .. } => "textarea",
                Rule::Country => "select",
            },
            kind: (spec.rule == Rule::Phone).then_some("tel"),
            autocomplete: spec.autocomplete,
            max_length: spec.rule.max_length(),
        })
        .collect()
}

/// `<option>`s of every ISO 3166-1 country, code as value; the page names them in the
/// browser's language (and writes the empty choice, "(none)", in its own).
fn country_options() -> String {
    Country::codes()
        .map(|code| format!(r#"<option value="{code}">{code}</option>"#))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_profile_form_is_written_from_the_fields_as_it_was_by_hand() {
        let page = Site::build(&Config::default()).page("index", "en");
        // Each field's label, control and error line, as the page had them written out.
        for control in [
            r#"<label for="name">Name <span class="hint">Up to 200 characters.</span></label>
<input id="name" name="name" autocomplete="name" maxlength="200">
<p class="field-error" data-error-for="name"></p>"#,
            r#"<label for="phone">Phone <span class="hint">Digits, spaces and + - ( ) . only; at least 3 digits.</span></label>
<input id="phone" name="phone" type="tel" autocomplete="tel" maxlength="32">
<p class="field-error" data-error-for="phone"></p>"#,
            r#"<label for="mobile">Mobile <span class="hint">Digits, spaces and + - ( ) . only; at least 3 digits.</span></label>
<input id="mobile" name="mobile" type="tel" autocomplete="tel" maxlength="32">
<p class="field-error" data-error-for="mobile"></p>"#,
            r#"<label for="address">Address <span class="hint">Street and number; several lines allowed, up to 500 characters.</span></label>
<textarea id="address" name="address" autocomplete="street-address" maxlength="500"></textarea>
<p class="field-error" data-error-for="address"></p>"#,
            r#"<label for="address_town">Town <span class="hint">Up to 100 characters.</span></label>
<input id="address_town" name="address_town" autocomplete="address-level2" maxlength="100">
<p class="field-error" data-error-for="address_town"></p>"#,
            r#"<label for="address_postcode">Postcode <span class="hint">Up to 20 characters.</span></label>
<input id="address_postcode" name="address_postcode" autocomplete="postal-code" maxlength="20">
<p class="field-error" data-error-for="address_postcode"></p>"#,
            r#"<label for="address_region">Region <span class="hint">County, state or province; up to 100 characters.</span></label>
<input id="address_region" name="address_region" autocomplete="address-level1" maxlength="100">
<p class="field-error" data-error-for="address_region"></p>"#,
            r#"<label for="country">Country</label>
<select id="country" name="country" autocomplete="country"><option value="">(none)</option>"#,
        ] {
            assert!(page.contains(control), "{control}");
        }
    }
}
