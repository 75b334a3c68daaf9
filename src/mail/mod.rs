//! Where mail leaves: emails are composed here, queued in the outbox within the caller's
//! transaction (see `store::outbox`), and delivered by the [`worker`] through a [`transport`].

pub mod bounce;
pub mod dkim;
pub mod inbound;
mod kind;
pub mod templates;
pub mod transport;
pub mod worker;

use std::sync::Arc;

use mail_send::mail_builder::MessageBuilder;
use mail_send::mail_builder::headers::date::Date;
use mail_send::mail_builder::headers::raw::Raw;
use mail_send::mail_builder::mime::MimePart;
use tokio::sync::Notify;

use crate::config::Config;
use crate::domain::{Language, Mailbox};
use crate::store::outbox::NewEmail;
pub use kind::Kind;
pub use templates::{Rendered, Templates, Vars};

/// Composes emails from templates and wakes the delivery worker when new ones are queued.
#[derive(Clone)]
pub struct Mailer {
    from: Mailbox,
    shop: String,
    templates: Arc<Templates>,
    /// Signs every email when `[mail.dkim]` is set.
    dkim: Option<Arc<dkim::Signer>>,
    wake: Arc<Notify>,
}

impl Mailer {
    pub fn new(config: &Config) -> Result<Mailer, String> {
        let from = Mailbox::parse(&config.mail.from)?;
        let templates = Templates::load(
            config.mail.templates_dir.as_deref(),
            &config.mail.default_language,
        )?;
        let dkim = dkim::Signer::load(&config.mail.dkim)
            .map_err(|p| format!("config key `mail.dkim.private_key_file`: {p}"))?;
        Ok(Mailer {
            from,
            dkim: dkim.map(Arc::new),
            shop: config.mail.shop_name.clone(),
            templates: Arc::new(templates),
            wake: Arc::new(Notify::new()),
        })
    }

    /// A complete RFC 5322 message of `kind` for `to` in `language` (`None`: the default
    /// language), ready for the outbox. Header values are encoded by the message builder; no
    /// value can add a header or a recipient.
    pub fn compose(
        &self,
        kind: Kind,
        language: Option<&Language>,
        to: &str,
        vars: &Vars,
    ) -> NewEmail {
        let rendered = self.render(kind, language, vars);
        let message_id = self.new_message_id();
        let address = self.from.address().to_owned();
        let builder = match self.from.name() {
            Some(name) => MessageBuilder::new().from((name.to_owned(), address)),
            None => MessageBuilder::new().from(address),
        };
        let mut builder = builder
            .to(to.to_owned())
            .subject(rendered.subject)
            .header("Content-Language", Raw::new(rendered.language.to_string()))
            .message_id(message_id.clone())
            .date(Date::new(crate::store::now()));
        builder.text_body = Some(text_part(rendered.text));
        if let Some(html) = rendered.html {
            builder = builder.html_body(html);
        }
        let raw = builder
            .write_to_vec()
            .expect("writing to a Vec cannot fail");
        let raw = match &self.dkim {
            Some(signer) => signer.sign(raw.clone()).unwrap_or_else(|error| {
                // The key signed a trial message at start; a failure now is not this email's.
                tracing::error!(%error, "DKIM signing failed; the email goes out unsigned");
                raw
            }),
            None => raw,
        };
        NewEmail {
            kind: kind.name(),
            recipient: to.to_owned(),
            message_id,
            raw,
        }
    }

    /// The subject and bodies of `kind` in `language`, as [`Mailer::compose`] sends them.
    pub fn render(&self, kind: Kind, language: Option<&Language>, vars: &Vars) -> Rendered {
        self.templates.render(kind, language, &self.shop, vars)
    }

    /// Every language some email text exists in: the languages a sign-up may pick.
    pub fn languages(&self) -> &std::collections::BTreeSet<Language> {
        self.templates.languages()
    }

    /// The envelope sender.
    pub fn from_address(&self) -> &str {
        self.from.address()
    }

    /// The DKIM signer, when emails are signed.
    pub fn dkim(&self) -> Option<&dkim::Signer> {
        self.dkim.as_deref()
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
        crate::random::random_bytes(&mut bytes);
        let domain = self
            .from
            .address()
            .rsplit('@')
            .next()
            .unwrap_or("localhost");
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
    fn a_hostile_name_adds_no_header() {
        let mailer = Mailer::new(&Config::default()).unwrap();
        let vars = Vars {
            name: Some("Eve\r\nBcc: victim@example.com".into()),
            email: "eve@example.com".into(),
            link: Some("https://shop/x".into()),
            ..Vars::default()
        };
        let email = mailer.compose(Kind::Activation, None, "eve@example.com", &vars);
        let raw = String::from_utf8(email.raw).unwrap();
        let headers = raw.split("\r\n\r\n").next().unwrap();
        assert!(
            !headers.to_ascii_lowercase().contains("\nbcc:"),
            "{headers}"
        );
        assert!(headers.contains(&format!("Message-ID: <{}>", email.message_id)));
    }
}
