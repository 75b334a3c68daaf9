//! Where mail leaves: emails are composed here, queued in the outbox within the caller's
//! transaction (see `store::outbox`), and delivered by the [`worker`] through a [`transport`].

pub mod templates;
pub mod transport;
pub mod worker;

use std::sync::Arc;

use mail_send::mail_builder::MessageBuilder;
use mail_send::mail_builder::headers::date::Date;
use mail_send::mail_builder::mime::MimePart;
use tokio::sync::Notify;

use crate::config::Config;
use crate::store::outbox::NewEmail;
pub use templates::{Kind, Templates, Vars};

/// Splits `Name <addr@host>` or `addr@host` into its display name and address.
pub fn parse_mailbox(value: &str) -> Result<(Option<String>, String), String> {
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
    Ok((name, address.to_owned()))
}

/// Composes emails from templates and wakes the delivery worker when new ones are queued.
#[derive(Clone)]
pub struct Mailer {
    from_name: Option<String>,
    from_address: String,
    shop: String,
    templates: Arc<Templates>,
    wake: Arc<Notify>,
}

impl Mailer {
    pub fn new(config: &Config) -> Result<Mailer, String> {
        let (from_name, from_address) = parse_mailbox(&config.mail.from)?;
        let templates = Templates::load(config.mail.templates_dir.as_deref())?;
        Ok(Mailer {
            from_name,
            from_address,
            shop: config.mail.shop_name.clone(),
            templates: Arc::new(templates),
            wake: Arc::new(Notify::new()),
        })
    }

    /// A complete RFC 5322 message of `kind` for `to`, ready for the outbox. Header values
    /// are encoded by the message builder; no value can add a header or a recipient.
    pub fn compose(&self, kind: Kind, to: &str, vars: &Vars) -> NewEmail {
        let rendered = self.templates.render(kind, &self.shop, vars);
        let message_id = self.new_message_id();
        let builder = match &self.from_name {
            Some(name) => MessageBuilder::new().from((name.clone(), self.from_address.clone())),
            None => MessageBuilder::new().from(self.from_address.clone()),
        };
        let mut builder = builder
            .to(to.to_owned())
            .subject(rendered.subject)
            .message_id(message_id.clone())
            .date(Date::new(crate::store::now()));
        builder.text_body = Some(text_part(rendered.text));
        if let Some(html) = rendered.html {
            builder = builder.html_body(html);
        }
        let raw = builder
            .write_to_vec()
            .expect("writing to a Vec cannot fail");
        NewEmail {
            kind: kind.name(),
            recipient: to.to_owned(),
            message_id,
            raw,
        }
    }

    /// The envelope sender.
    pub fn from_address(&self) -> &str {
        &self.from_address
    }

    /// Tells the worker that an email was queued (call after the transaction commits).
    pub fn wake_worker(&self) {
        self.wake.notify_one();
    }

    pub(crate) fn wake_signal(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    fn new_message_id(&self) -> String {
        let mut bytes = [0u8; 16];
        crate::auth::random_bytes(&mut bytes);
        let domain = self.from_address.rsplit('@').next().unwrap_or("localhost");
        let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        format!("{hex}@{domain}")
    }
}

/// The plain-text part. ASCII text with short enough lines goes out as 7bit, so that links
/// stay readable (and greppable) in the raw message; anything else is left to the builder's
/// quoted-printable or base64 choice.
fn text_part(text: String) -> MimePart<'static> {
    let crlf = text
        .replace("\r\n", "\n")
        .replace('\r', "\n")
        .replace('\n', "\r\n");
    let plain = crlf.is_ascii()
        && crlf.split("\r\n").all(|line| line.len() <= 998)
        && !crlf.bytes().any(|b| b == 0);
    if plain {
        MimePart::new("text/plain", crlf).transfer_encoding("7bit")
    } else {
        MimePart::new("text/plain", text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mailboxes_parse_with_or_without_a_name() {
        assert_eq!(
            parse_mailbox("Customer Area <no-reply@localhost>").unwrap(),
            (Some("Customer Area".into()), "no-reply@localhost".into())
        );
        assert_eq!(
            parse_mailbox("shop@example.com").unwrap(),
            (None, "shop@example.com".into())
        );
        assert!(parse_mailbox("Shop <no-reply").is_err());
        assert!(parse_mailbox("not an address").is_err());
    }

    #[test]
    fn a_hostile_name_adds_no_header() {
        let mailer = Mailer::new(&Config::default()).unwrap();
        let vars = Vars {
            name: Some("Eve\r\nBcc: victim@example.com".into()),
            email: "eve@example.com".into(),
            link: Some("https://shop/x".into()),
            ..Vars::default()
        };
        let email = mailer.compose(Kind::Activation, "eve@example.com", &vars);
        let raw = String::from_utf8(email.raw).unwrap();
        let headers = raw.split("\r\n\r\n").next().unwrap();
        assert!(
            !headers.to_ascii_lowercase().contains("\nbcc:"),
            "{headers}"
        );
        assert!(headers.contains(&format!("Message-ID: <{}>", email.message_id)));
    }
}
