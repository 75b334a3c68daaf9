//! The sender's mailbox of outgoing mail (`mail.from`).

/// A sender's mailbox, `Name <addr@host>` or `addr@host`: an optional display name without
/// control characters and an address with one `@` and no spaces or brackets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mailbox {
    name: Option<String>,
    address: String,
}

impl Mailbox {
    /// Splits `Name <addr@host>` or `addr@host` into its display name and address.
    pub fn parse(value: &str) -> Result<Mailbox, String> {
        let value = value.trim();
        let (name, address) = match value.rsplit_once('<') {
            Some((name, rest)) => {
                let address = rest
                    .strip_suffix('>')
                    .ok_or_else(|| format!("`{value}` is missing the closing >"))?;
                let name = name.trim().trim_matches('"').trim();
                (
                    Some(name.to_owned()).filter(|n| !n.is_empty()),
                    address.trim(),
                )
            }
            None => (None, value),
        };
        let valid = address
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && !d.is_empty() && !d.contains('@'))
            && !address
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || "<>\"".contains(c));
        if !valid
            || name
                .as_deref()
                .is_some_and(|n| n.chars().any(char::is_control))
        {
            return Err(format!(
                "`{value}` is not a mailbox such as `Shop <no-reply@shop.example.com>`"
            ));
        }
        Ok(Mailbox {
            name,
            address: address.to_owned(),
        })
    }

    /// The display name, if any.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The address, `addr@host`.
    pub fn address(&self) -> &str {
        &self.address
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailboxes_parse_with_or_without_a_name() {
        assert_eq!(
            Mailbox::parse("Customer Area <no-reply@localhost>").unwrap(),
            Mailbox {
                name: Some("Customer Area".into()),
                address: "no-reply@localhost".into()
            }
        );
        assert_eq!(
            Mailbox::parse("shop@example.com").unwrap(),
            Mailbox {
                name: None,
                address: "shop@example.com".into()
            }
        );
        assert!(Mailbox::parse("Shop <no-reply").is_err());
        assert!(Mailbox::parse("not an address").is_err());
    }
}
