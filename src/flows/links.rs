//! The links that go into emails, built from the configured retailer URL, never from the
//! request, the check of a caller's `reset_uri` or `activate_uri`, and the use of a link's key.

use url::{Origin, Url};

use super::Services;
use crate::auth;
use crate::config::Config;
use crate::domain::{Client, CustomerId, Identifier, LinkKey};
use crate::error::AppError;
use crate::store::sql::Db;
use crate::store::{Outcome, StoreResult, customers};
use crate::throttle::IpBudget;

/// The answer to a link's key that is wrong, used, expired or of the wrong shape.
pub(super) fn invalid_key() -> AppError {
    AppError::InvalidCode { field: "key" }
}

/// What a link's key is used with, inside the write that uses it.
pub(super) struct KeyUse<'a, 'c> {
    pub tx: &'a Db<'c>,
    /// The customer the link's `identifier` names.
    pub id: CustomerId,
    pub identifier: &'a str,
    /// The SHA-256 digest of the key, as keys are stored.
    pub digest: &'a [u8],
    pub services: &'a Services,
    pub client: &'a Client,
}

/// Uses the key of an emailed link (`?identifier=...&key=...`): the client's budget of code
/// attempts first, then the key (read by `parse`) and the identifier, so that one of the wrong
/// shape never reaches the database, then `act` in one write with the customer the identifier
/// names. An unknown identifier is [`invalid_key`], like the keys `act` refuses.
pub(super) async fn use_link_key<T: Send + 'static>(
    services: &Services,
    identifier: &str,
    key: &str,
    parse: fn(&str) -> Result<LinkKey, String>,
    client: &Client,
    act: impl FnOnce(KeyUse<'_, '_>) -> StoreResult<Outcome<T, AppError>> + Send + 'static,
) -> Result<T, AppError> {
    services.throttles.check_ip(IpBudget::Codes, client.ip)?;
    let (Ok(key), Ok(_)) = (parse(key), Identifier::parse(identifier)) else {
        return Err(invalid_key());
    };
    let (identifier, digest) = (identifier.to_owned(), auth::digest(key.as_str()));
    let (shared, client) = (services.clone(), client.clone());
    services
        .store
        .write(move |tx| {
            let Some((id, _)) = customers::find_by_identifier(tx, &identifier)? else {
                return Ok(Outcome::Refused(invalid_key()));
            };
            act(KeyUse {
                tx,
                id,
                identifier: &identifier,
                digest: &digest,
                services: &shared,
                client: &client,
            })
        })
        .await?
        .into_result()
}

/// Builds the links that go into emails, always from the configured retailer URL (never from
/// the request's Host or forwarding headers).
#[derive(Clone, Debug)]
pub struct Links {
    base: Url,
    allowed: Vec<Origin>,
    activate: String,
    newemail_confirm: String,
    email_undo: String,
    not_me: String,
    reset: String,
    login_code: String,
}

impl Links {
    pub fn new(config: &Config) -> Links {
        let base = config.retailer_url();
        let mut allowed = vec![base.origin()];
        allowed.extend(
            config
                .links
                .allowed_origins
                .iter()
                .filter_map(|o| crate::config::parse_origin(o).ok()),
        );
        Links {
            base,
            allowed,
            activate: config.links.activate_uri.clone(),
            newemail_confirm: config.links.newemail_confirm_uri.clone(),
            email_undo: config.links.email_undo_uri.clone(),
            not_me: config.links.not_me_uri.clone(),
            reset: config.links.reset_uri.clone(),
            login_code: config.links.login_code_uri.clone(),
        }
    }

    /// Resolves a URI a caller supplied (`reset_uri`, `activate_uri`): a path, or an absolute
    /// http(s) URL on the retailer's origin or an allowed origin. Anything else is refused.
    pub fn resolve(&self, uri: &str) -> Result<Url, String> {
        if uri.len() > 2048 {
            return Err("must be at most 2048 characters".into());
        }
        if uri.is_empty()
            || uri
                .chars()
                .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
        {
            return Err("must be a path or a URL without spaces or control characters".into());
        }
        // `//evil.example` is a network-path reference: another host, not a path.
        if uri.starts_with("//") {
            return Err("must be a path or an absolute URL, not a scheme-relative one".into());
        }
        let url = self
            .base
            .join(uri)
            .map_err(|_| "is not a valid URI".to_owned())?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err("must be an http or https URL".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not contain credentials".into());
        }
        if !self.allowed.contains(&url.origin()) {
            return Err("must be on the shop's own origin or an allowed origin".into());
        }
        Ok(url)
    }

    /// `<activate_uri resolved>?identifier=<identifier>&secret=<secret>`.
    pub fn activation(&self, activate_uri: Option<&Url>, identifier: &str, secret: &str) -> String {
        let base = activate_uri
            .cloned()
            .unwrap_or_else(|| self.configured(&self.activate));
        with_query(base, &[("identifier", identifier), ("secret", secret)])
    }

    /// `<newemail_confirm_uri resolved>?identifier=<identifier>&key=<key>`.
    pub fn email_confirmation(&self, identifier: &str, key: &str) -> String {
        let base = self.configured(&self.newemail_confirm);
        with_query(base, &[("identifier", identifier), ("key", key)])
    }

    /// `<email_undo_uri resolved>?identifier=<identifier>&key=<key>`.
    pub fn email_undo(&self, identifier: &str, key: &str) -> String {
        let base = self.configured(&self.email_undo);
        with_query(base, &[("identifier", identifier), ("key", key)])
    }

    /// `<not_me_uri resolved>?identifier=<identifier>&key=<key>`.
    pub fn not_me(&self, identifier: &str, key: &str) -> String {
        let base = self.configured(&self.not_me);
        with_query(base, &[("identifier", identifier), ("key", key)])
    }

    /// `<login_code_uri resolved>?email=<email>&code=<code>`.
    pub fn login_code(&self, email: &str, code: &str) -> String {
        let base = self.configured(&self.login_code);
        with_query(base, &[("email", email), ("code", code)])
    }

    /// `links.reset_uri` resolved: the base of the reset links the server sends on its own.
    pub fn configured_reset(&self) -> Url {
        self.configured(&self.reset)
    }

    /// `<reset_uri resolved>/<code>`.
    pub fn password_reset(&self, reset_uri: &Url, code: &str) -> String {
        let mut url = reset_uri.clone();
        let path = format!("{}/{code}", url.path().trim_end_matches('/'));
        url.set_path(&path);
        url.to_string()
    }

    fn configured(&self, uri: &str) -> Url {
        self.base.join(uri).expect("validated at config load")
    }
}

fn with_query(mut url: Url, pairs: &[(&str, &str)]) -> String {
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
    }
    url.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn links() -> Links {
        let mut config = Config::default();
        config.links.retailer_url = "https://shop.example.com".into();
        config.links.allowed_origins = vec!["https://account.example.com".into()];
        Links::new(&config)
    }

    #[test]
    fn activation_link_has_the_documented_form() {
        assert_eq!(
            links().activation(None, "test-user-1", "ABCDE12345"),
            "https://shop.example.com/activate?identifier=test-user-1&secret=ABCDE12345"
        );
    }

    #[test]
    fn undo_link_has_the_documented_form() {
        assert_eq!(
            links().email_undo("test-user-1", "J32NA974R4F7N1HB"),
            "https://shop.example.com/undo-email?identifier=test-user-1&key=J32NA974R4F7N1HB"
        );
    }

    #[test]
    fn not_me_link_has_the_documented_form() {
        assert_eq!(
            links().not_me("test-user-1", "J32NA974R4F7N1HB"),
            "https://shop.example.com/not-me?identifier=test-user-1&key=J32NA974R4F7N1HB"
        );
    }

    #[test]
    fn reset_link_appends_the_code() {
        let l = links();
        let uri = l.resolve("/account/reset/").unwrap();
        assert_eq!(
            l.password_reset(&uri, "ABCDE12345"),
            "https://shop.example.com/account/reset/ABCDE12345"
        );
        let uri = l.resolve("https://account.example.com/reset").unwrap();
        assert_eq!(
            l.password_reset(&uri, "Z"),
            "https://account.example.com/reset/Z"
        );
    }

    #[test]
    fn foreign_and_hostile_uris_are_refused() {
        let l = links();
        for bad in [
            "//evil.example.com/x",
            "https://shop.example.com@evil.example.com/x",
            "https://shop.example.com.evil.net/x",
            "http://shop.example.com/x",
            "javascript:alert(1)",
            "/reset\r\nBcc: x",
            "/reset\n",
            "\\\\evil.example.com",
            "ftp://shop.example.com/x",
            "",
        ] {
            assert!(l.resolve(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(l.resolve(&format!("/{}", "a".repeat(2048))).is_err());
    }
}
