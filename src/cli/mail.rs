//! `customer-area mail test` and `mail preview`: check the mail settings by sending one email
//! at once, and show an email as it would be sent, with sample values; `mail dkim-record`:
//! the DNS record that publishes the DKIM key.

use super::Loaded;
use crate::domain::{EmailAddress, Language};
use crate::mail::templates::sample_vars;
use crate::mail::transport::Transport;
use crate::mail::{Kind, Mailer, Vars};
use crate::store::{now, outbox::Leased};

/// `customer-area mail ...` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Send one test email through the configured transport, now, and print the answer.
    Test {
        /// The address to send the test email to.
        #[arg(long, value_name = "ADDRESS")]
        to: String,
    },
    /// Print an email of KIND as it would be sent, with sample values in its placeholders
    /// (checks the templates in mail.templates_dir without sending anything).
    Preview {
        /// The kind of email: activation, password_reset, ... (`mail preview --help` lists them).
        #[arg(value_name = "KIND", value_parser = kind_names())]
        kind: String,
        /// The customer's language (default: mail.default_language).
        #[arg(long, value_name = "TAG")]
        language: Option<String>,
    },
    /// Print the DNS TXT record that publishes the public key of [mail.dkim] (its name, then
    /// its value), to add to the signing domain's zone.
    DkimRecord,
    /// Read one bounce (RFC 3464) or abuse report (RFC 5965) on standard input, as a mail
    /// server's pipe for mail.bounce_address delivers it, and apply it: a dead address is
    /// marked and leaves every list, a complaint unsubscribes. The exit status says what
    /// became of it (0 applied, 75 try again later; docs/deliverability.md lists them all).
    Inbound {
        /// The address the report was delivered to (Postfix: `${recipient}`), where the
        /// bounce token is; without it, the report's own headers are searched.
        #[arg(long, value_name = "ADDRESS")]
        recipient: Option<String>,
    },
}

/// Every kind's name, for clap to offer and check.
fn kind_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(Kind::ALL.map(Kind::name))
}

/// `customer-area mail ...`: checks the mail settings without touching the outbox.
pub async fn run(loaded: Loaded, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Inbound { recipient } => super::inbound::run(loaded, recipient).await,
        Command::DkimRecord => {
            let mailer = Mailer::new(&loaded.config).map_err(anyhow::Error::msg)?;
            let Some(signer) = mailer.dkim() else {
                anyhow::bail!(
                    "DKIM signing is off: set mail.dkim.domain, mail.dkim.selector and \
                     mail.dkim.private_key_file"
                );
            };
            let (name, value) = signer.dns_record();
            println!("name:  {name}");
            println!("value: {value}");
            println!("zone:  {name}. IN TXT {}", txt_strings(&value));
            Ok(())
        }
        Command::Preview { kind, language } => {
            let kind = Kind::from_name(&kind).expect("clap checked the kind");
            let language = language
                .map(|l| Language::parse(&l))
                .transpose()
                .map_err(|p| anyhow::anyhow!("--language {p}"))?;
            let mailer = Mailer::new(&loaded.config).map_err(anyhow::Error::msg)?;
            print!("{}", preview(&mailer, kind, language.as_ref()));
            Ok(())
        }
        Command::Test { to } => {
            let to = EmailAddress::parse(&to)
                .map_err(|problem| anyhow::anyhow!("--to `{to}` {problem}"))?;
            let mailer = Mailer::new(&loaded.config).map_err(anyhow::Error::msg)?;
            let transport = Transport::from_config(&loaded.config);
            let vars = Vars {
                email: to.to_string(),
                ..Vars::default()
            };
            let email = mailer.compose(Kind::Test, None, to.as_str(), &vars);
            println!(
                "sending a test email to {to} through {}",
                transport.describe()
            );
            // Sent directly rather than queued: the point is to see this attempt's answer.
            let unqueued = Leased {
                id: 0,
                recipient: email.recipient,
                message_id: email.message_id,
                raw: email.raw,
                attempts: 0,
                created_at: now(),
            };
            match transport.deliver(mailer.from_address(), &unqueued).await {
                Ok(answer) => {
                    println!("sent: {answer}");
                    Ok(())
                }
                Err(error) => {
                    let kind = if error.permanent {
                        "refused"
                    } else {
                        "failed (temporary)"
                    };
                    anyhow::bail!("test email {kind}: {}", error.message)
                }
            }
        }
    }
}

/// A TXT record's value as zone files write it: quoted strings of at most 255 characters
/// each (an RSA key is longer than one string may be; resolvers join them).
fn txt_strings(value: &str) -> String {
    value
        .as_bytes()
        .chunks(255)
        .map(|chunk| format!("\"{}\"", String::from_utf8_lossy(chunk)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The headers a reader checks, then the plain-text body, then the HTML body if there is one.
fn preview(mailer: &Mailer, kind: Kind, language: Option<&Language>) -> String {
    let vars = sample_vars();
    let rendered = mailer.render(kind, language, &vars);
    let mut out = format!(
        "From: {}\nTo: {}\nSubject: {}\nContent-Language: {}\n\n{}",
        mailer.from_address(),
        vars.email,
        rendered.subject,
        rendered.language,
        rendered.text
    );
    if let Some(html) = rendered.html {
        out.push_str("\n----- HTML -----\n");
        out.push_str(&html);
        if !html.ends_with('\n') {
            out.push('\n');
        }
    }
    out
}
