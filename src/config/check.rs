//! What types alone cannot check: addresses, URLs, ranges; and settings that work but are
//! probably a mistake.

use std::net::{IpAddr, SocketAddr};

use url::Url;

use super::{Config, ConfigError, MailTransport, Tls, invalid};

impl Config {
    /// Checks what types alone cannot: addresses, URLs, ranges.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        self.bind_addr()?;
        for proxy in &self.server.trusted_proxies {
            proxy.parse::<IpAddr>().map_err(|_| {
                invalid(
                    "server.trusted_proxies",
                    format!("`{proxy}` is not an IP address"),
                )
            })?;
        }
        for origin in &self.server.cors_origins {
            parse_origin(origin).map_err(|p| invalid("server.cors_origins", p))?;
        }
        if self.database.path.as_os_str().is_empty() {
            return Err(invalid("database.path", "must not be empty"));
        }
        let url = self.database.url.expose();
        if !(url.is_empty() || url.starts_with("postgres://") || url.starts_with("postgresql://")) {
            return Err(invalid(
                "database.url",
                "must be a PostgreSQL URL (postgres://user:password@host/database), or empty \
                 for the SQLite file at database.path",
            ));
        }
        parse_origin_base(&self.links.retailer_url)
            .map_err(|p| invalid("links.retailer_url", p))?;
        for origin in &self.links.allowed_origins {
            parse_origin(origin).map_err(|p| invalid("links.allowed_origins", p))?;
        }
        for (key, uri) in [
            ("links.activate_uri", &self.links.activate_uri),
            (
                "links.newemail_confirm_uri",
                &self.links.newemail_confirm_uri,
            ),
            ("links.email_undo_uri", &self.links.email_undo_uri),
            ("links.not_me_uri", &self.links.not_me_uri),
            ("links.reset_uri", &self.links.reset_uri),
            ("links.login_code_uri", &self.links.login_code_uri),
        ] {
            self.retailer_url()
                .join(uri)
                .map_err(|e| invalid(key, format!("`{uri}` is not a valid URI ({e})")))?;
        }
        if !self.links.public_url.is_empty() {
            parse_origin_base(&self.links.public_url)
                .map_err(|p| invalid("links.public_url", p))?;
        }
        if self.webhook_delivery.retry_first_seconds > self.webhook_delivery.retry_max_seconds {
            return Err(invalid(
                "webhook_delivery.retry_first_seconds",
                "must not exceed webhook_delivery.retry_max_seconds",
            ));
        }
        for (n, hook) in self.webhooks.iter().enumerate() {
            crate::webhooks::Endpoint::parse(hook)
                .map_err(|(key, p)| invalid(&format!("webhooks[{n}].{key}"), p))?;
        }
        if !self.web.custom_css.as_os_str().is_empty() && !self.web.custom_css.is_file() {
            return Err(invalid(
                "web.custom_css",
                format!("`{}` is not a readable file", self.web.custom_css.display()),
            ));
        }
        let auth = &self.auth;
        if auth.login_methods.is_empty() {
            return Err(invalid(
                "auth.login_methods",
                "must name at least one of \"password\", \"passkey\" and \"email_code\"",
            ));
        }
        if auth.pbkdf2_iterations < 1000 {
            return Err(invalid("auth.pbkdf2_iterations", "must be at least 1000"));
        }
        if !(1..=1024).contains(&auth.min_password_length) {
            return Err(invalid(
                "auth.min_password_length",
                "must be between 1 and 1024",
            ));
        }
        self.relying_party()?;
        crate::domain::Mailbox::parse(&self.mail.from).map_err(|p| invalid("mail.from", p))?;
        if self.mail.transport == MailTransport::File && self.mail.dir.as_os_str().is_empty() {
            return Err(invalid("mail.dir", "must not be empty"));
        }
        if self.mail.transport == MailTransport::Smtp && self.mail.smtp.host.trim().is_empty() {
            return Err(invalid("mail.smtp.host", "must not be empty"));
        }
        if let Some(bounce) = &self.mail.bounce_address {
            let address = crate::domain::EmailAddress::parse(bounce)
                .map_err(|p| invalid("mail.bounce_address", p))?;
            if address
                .as_str()
                .split('@')
                .next()
                .is_some_and(|l| l.contains('+'))
            {
                return Err(invalid(
                    "mail.bounce_address",
                    "must not contain `+`: the bounce token is added after one",
                ));
            }
        }
        if self.mail.retry_first_seconds > self.mail.retry_max_seconds {
            return Err(invalid(
                "mail.retry_first_seconds",
                "must not exceed mail.retry_max_seconds",
            ));
        }
        if self.mail.smtp.username.is_empty() != self.mail.smtp.password.is_empty() {
            return Err(invalid(
                "mail.smtp.username",
                "username and password must be set together",
            ));
        }
        self.check_dkim()?;
        if self
            .log
            .level
            .parse::<tracing_subscriber::EnvFilter>()
            .is_err()
        {
            return Err(invalid(
                "log.level",
                format!("`{}` is not a log filter", self.log.level),
            ));
        }
        Ok(())
    }

    /// `[mail.dkim]`: all three keys or none, and a key file that holds a key of the algorithm.
    fn check_dkim(&self) -> Result<(), ConfigError> {
        let dkim = &self.mail.dkim;
        if !dkim.enabled() {
            if !dkim.domain.is_empty() || !dkim.selector.is_empty() {
                return Err(invalid(
                    "mail.dkim.private_key_file",
                    "must be set with mail.dkim.domain and mail.dkim.selector (or leave all three \
                     empty: emails are then not signed)",
                ));
            }
            return Ok(());
        }
        for (key, value) in [
            ("mail.dkim.domain", &dkim.domain),
            ("mail.dkim.selector", &dkim.selector),
        ] {
            let valid = !value.is_empty()
                && value.split('.').all(|label| {
                    !label.is_empty()
                        && label
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                });
            if !valid {
                return Err(invalid(
                    key,
                    format!("`{value}` is not a DNS name (letters, digits, `-`, `_`, dots)"),
                ));
            }
        }
        crate::mail::dkim::Signer::load(dkim)
            .map(drop)
            .map_err(|p| invalid("mail.dkim.private_key_file", p))
    }

    /// Settings that work but are probably a mistake, in words.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let smtp = &self.mail.smtp;
        if self.mail.transport == MailTransport::Smtp
            && smtp.tls == Tls::None
            && !smtp.username.is_empty()
        {
            warnings.push(
                "mail.smtp.tls = \"none\" with a username: the SMTP password crosses the network in clear".into(),
            );
        }
        if (1..24).contains(&self.admin.api_token.expose().len()) {
            warnings.push(
                "admin.api_token is shorter than 24 characters; use a long random value".into(),
            );
        }
        if self.auth.passkey_rp_id.trim().is_empty() && matches!(self.relying_party(), Ok(None)) {
            warnings.push(
                "passkeys are off: links.retailer_url's host is an IP address; set auth.passkey_rp_id to a domain".into(),
            );
        }
        warnings
    }

    /// The socket address to listen on.
    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.bind.parse().map_err(|_| {
            invalid(
                "server.bind",
                format!(
                    "`{}` is not an address such as 127.0.0.1:8080",
                    self.server.bind
                ),
            )
        })
    }

    /// `links.retailer_url`, already validated.
    pub fn retailer_url(&self) -> Url {
        parse_origin_base(&self.links.retailer_url).expect("validated at load")
    }

    /// This server's own public base (`links.public_url`, else `retailer_url`), validated.
    pub fn public_url(&self) -> Url {
        match self.links.public_url.as_str() {
            "" => self.retailer_url(),
            url => parse_origin_base(url).expect("validated at load"),
        }
    }

    /// The webhook endpoints, validated at load.
    pub fn webhook_endpoints(&self) -> Vec<crate::webhooks::Endpoint> {
        self.webhooks
            .iter()
            .map(|hook| crate::webhooks::Endpoint::parse(hook).expect("validated at load"))
            .collect()
    }

    /// The proxies allowed to set `X-Forwarded-For`, already validated.
    pub fn trusted_proxies(&self) -> Vec<IpAddr> {
        self.server
            .trusted_proxies
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
}

/// An absolute http(s) URL usable as a base for links.
fn parse_origin_base(value: &str) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|e| format!("`{value}` is not an absolute URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!(
            "`{value}` must be an http or https URL with a host"
        ));
    }
    Ok(url)
}

/// A bare origin such as `https://shop.example.com` (no path, query or fragment).
pub fn parse_origin(value: &str) -> Result<url::Origin, String> {
    let url = parse_origin_base(value)?;
    if url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
    {
        return Err(format!(
            "`{value}` must be an origin like https://shop.example.com"
        ));
    }
    Ok(url.origin())
}
