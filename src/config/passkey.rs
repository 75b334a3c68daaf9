//! The passkeys' relying party: the domain credentials are bound to, the name authenticators
//! show, and the origins whose pages may use them.

use std::net::IpAddr;

use url::{Host, Url};

use super::{Config, ConfigError, invalid, parse_origin};

/// The WebAuthn relying party of this customer area.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelyingParty {
    /// The domain passkeys are bound to.
    pub id: String,
    /// The name authenticators show beside a passkey.
    pub name: String,
    /// The origins (retailer, this server's public URL, allowed origins, CORS origins) on that
    /// domain.
    pub origins: Vec<Url>,
}

impl Config {
    /// The relying party passkeys use, or `None` when passkeys are off (no `auth.passkey_rp_id`
    /// and `links.retailer_url`'s host is an IP address, to which WebAuthn binds nothing).
    pub fn relying_party(&self) -> Result<Option<RelyingParty>, ConfigError> {
        let configured = self.auth.passkey_rp_id.trim();
        let id = if configured.is_empty() {
            match self.retailer_url().host() {
                Some(Host::Domain(domain)) => domain.to_ascii_lowercase(),
                _ => return Ok(None),
            }
        } else {
            parse_rp_id(configured).map_err(|p| invalid("auth.passkey_rp_id", p))?
        };
        // The console is served at `links.public_url`: staff passkeys are used there.
        let mut candidates = vec![self.retailer_url().origin(), self.public_url().origin()];
        for origin in self
            .links
            .allowed_origins
            .iter()
            .chain(&self.server.cors_origins)
        {
            candidates.extend(parse_origin(origin).ok());
        }
        let mut origins: Vec<Url> = Vec::new();
        for origin in candidates {
            let Ok(url) = Url::parse(&origin.ascii_serialization()) else {
                continue;
            };
            let on_domain = url
                .domain()
                .is_some_and(|host| host == id || host.ends_with(&format!(".{id}")));
            if on_domain && !origins.contains(&url) {
                origins.push(url);
            }
        }
        if origins.is_empty() {
            return Err(invalid(
                "auth.passkey_rp_id",
                format!(
                    "`{id}` must be the host of links.retailer_url (or of an allowed origin) or a domain above it"
                ),
            ));
        }
        let name = match self.auth.passkey_rp_name.trim() {
            "" => self.mail.shop_name.clone(),
            name => name.to_owned(),
        };
        Ok(Some(RelyingParty { id, name, origins }))
    }
}

/// A WebAuthn relying party id: a domain name, without scheme, port or path, not an IP address.
fn parse_rp_id(raw: &str) -> Result<String, String> {
    if raw.contains("://") || raw.contains(['/', ':', '@', '[', ']']) {
        return Err(format!(
            "`{raw}` must be a bare domain such as shop.example.com, without a scheme, port or path"
        ));
    }
    if raw.parse::<IpAddr>().is_ok() {
        return Err(format!(
            "`{raw}` is an IP address; passkeys are bound to a domain name such as shop.example.com"
        ));
    }
    let id = raw.to_ascii_lowercase();
    let label_ok = |label: &str| {
        (1..=63).contains(&label.len())
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if id.len() > 253 || !id.split('.').all(label_ok) {
        return Err(format!("`{raw}` is not a domain name"));
    }
    // A name of digits and dots only is an IPv4 address in another spelling.
    if id.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!(
            "`{raw}` is an IP address; passkeys are bound to a domain name such as shop.example.com"
        ));
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(rp_id: &str, retailer: &str) -> Config {
        let mut config = Config::default();
        config.auth.passkey_rp_id = rp_id.into();
        config.links.retailer_url = retailer.into();
        config
    }

    #[test]
    fn the_default_relying_party_is_the_retailer_host_named_after_the_shop() {
        let rp = Config::default().relying_party().unwrap().unwrap();
        assert_eq!(rp.id, "localhost");
        assert_eq!(rp.name, Config::default().mail.shop_name);
        assert_eq!(rp.origins[0].as_str(), "http://localhost:8080/");
    }

    #[test]
    fn a_parent_domain_is_accepted_and_an_unrelated_one_names_the_key() {
        let rp = with("Example.com", "https://shop.example.com")
            .relying_party()
            .unwrap()
            .unwrap();
        assert_eq!(rp.id, "example.com");
        let err = with("other.com", "https://shop.example.com")
            .relying_party()
            .unwrap_err();
        assert!(err.to_string().contains("auth.passkey_rp_id"), "{err}");
    }

    #[test]
    fn ip_addresses_schemes_and_ports_are_refused_as_relying_party_ids() {
        for bad in [
            "127.0.0.1",
            "::1",
            "[::1]",
            "https://shop.example.com",
            "shop.example.com:443",
            "shop.example.com/path",
            "-bad.example.com",
            "a..b",
        ] {
            let err = with(bad, "https://shop.example.com")
                .relying_party()
                .unwrap_err();
            assert!(
                err.to_string().contains("auth.passkey_rp_id"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn an_ip_address_retailer_url_turns_passkeys_off_with_a_warning() {
        let config = with("", "http://127.0.0.1:8080");
        assert_eq!(config.relying_party().unwrap(), None);
        assert!(
            config
                .warnings()
                .iter()
                .any(|w| w.contains("passkeys are off"))
        );
    }
}
