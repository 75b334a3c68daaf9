//! A customer's email address, normalised once where it enters (trimmed, lower case, ASCII).

use std::fmt;

/// A customer's email address: trimmed, lower-cased, at most 254 characters, ASCII only.
///
/// Only ASCII is accepted so that look-alike spellings (a Kelvin sign for `k`, a dotless `ı`,
/// full-width letters) can neither fold onto another customer's address nor be delivered to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EmailAddress(String);

impl EmailAddress {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<EmailAddress, String> {
        let value = raw.trim();
        if value.is_empty() {
            return Err("must not be empty".into());
        }
        if !value.is_ascii() {
            return Err("must contain only ASCII characters".into());
        }
        if value.len() > Self::MAX_LEN {
            return Err(format!("must be at most {} characters", Self::MAX_LEN));
        }
        let value = value.to_ascii_lowercase();
        let (local, domain) = match value.split_once('@') {
            Some((l, d)) if !d.contains('@') => (l, d),
            _ => return Err("must contain exactly one @".into()),
        };
        if local.is_empty() || local.len() > 64 {
            return Err("the part before @ must be 1 to 64 characters".into());
        }
        let local_ok = local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        if !local_ok || local.starts_with('.') || local.ends_with('.') || local.contains("..") {
            return Err("is not a valid email address".into());
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if !domain_ok {
            return Err("is not a valid email address".into());
        }
        Ok(EmailAddress(value))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for EmailAddress {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_lower_cases() {
        assert_eq!(
            EmailAddress::parse("  Ada@Example.COM ").unwrap().as_str(),
            "ada@example.com"
        );
    }

    #[test]
    fn refuses_malformed_addresses() {
        for bad in [
            "",
            "ada",
            "ada@",
            "@example.com",
            "a@b@example.com",
            "ada @example.com",
            "ada@example",
            "ada@exa_mple.com",
            ".ada@example.com",
            "a..da@example.com",
            "ada@example.com\r\nBcc: x@evil.com",
            "ada\0@example.com",
            "ada@-example.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn refuses_look_alike_characters() {
        // Kelvin sign, dotless i, full-width a: each lower-cases or folds to plain ASCII elsewhere.
        for bad in [
            "\u{212A}im@example.com",
            "\u{131}da@example.com",
            "\u{FF41}da@example.com",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn length_limit_is_254() {
        let local = "a".repeat(64);
        let domain = format!(
            "{}.{}.{}.com",
            "b".repeat(63),
            "c".repeat(63),
            "d".repeat(57)
        );
        let ok = format!("{local}@{domain}");
        assert_eq!(ok.len(), 254);
        assert!(EmailAddress::parse(&ok).is_ok());
        assert!(EmailAddress::parse(&format!("{local}@x{domain}")).is_err());
    }
}
