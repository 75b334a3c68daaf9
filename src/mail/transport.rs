//! The ways an email leaves: written to a folder (demos, tests, a local MTA's pickup
//! directory) or handed to an SMTP server.

use std::path::PathBuf;
use std::time::Duration;

use mail_send::smtp::message::Message;
use mail_send::{SmtpClient, SmtpClientBuilder};
use tokio::io::{AsyncRead, AsyncWrite};

use super::templates;
use crate::config::{self, Config, Tls};
use crate::store::outbox::Leased;

/// Why a delivery attempt failed, and whether trying again can help.
#[derive(Debug)]
pub struct DeliveryError {
    pub permanent: bool,
    pub message: String,
}

impl DeliveryError {
    fn transient(message: impl Into<String>) -> DeliveryError {
        DeliveryError {
            permanent: false,
            message: message.into(),
        }
    }
}

/// A configured way of delivering email.
#[derive(Clone, Debug)]
pub enum Transport {
    /// One `.eml` file per email in this folder.
    File(PathBuf),
    Smtp(SmtpSettings),
}

/// Where and how to reach the SMTP server.
#[derive(Clone, Debug)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub credentials: Option<(String, config::Secret)>,
    /// For the TCP connection, greeting, TLS, EHLO and login together.
    pub connect_timeout: Duration,
    /// For each later command, the message upload included.
    pub command_timeout: Duration,
}

impl Transport {
    pub fn from_config(config: &Config) -> Transport {
        match config.mail.transport {
            config::MailTransport::File => Transport::File(config.mail.dir.clone()),
            config::MailTransport::Smtp => {
                let smtp = &config.mail.smtp;
                Transport::Smtp(SmtpSettings {
                    host: smtp.host.clone(),
                    port: smtp.port,
                    tls: smtp.tls,
                    credentials: (!smtp.username.is_empty())
                        .then(|| (smtp.username.clone(), smtp.password.clone())),
                    connect_timeout: Duration::from_secs(smtp.connect_timeout_seconds.get()),
                    command_timeout: Duration::from_secs(smtp.command_timeout_seconds.get()),
                })
            }
        }
    }

    /// Where mail goes, for the start-up banner.
    pub fn describe(&self) -> String {
        match self {
            Transport::File(dir) => format!("files in {}/", dir.display()),
            Transport::Smtp(s) => {
                format!("SMTP {}:{} ({:?})", s.host, s.port, s.tls).to_lowercase()
            }
        }
    }

    /// Delivers one email; returns the server's answer (or the file written).
    pub async fn deliver(&self, from: &str, email: &Leased) -> Result<String, DeliveryError> {
        match self {
            Transport::File(dir) => write_file(dir.clone(), email).await,
            Transport::Smtp(settings) => send_smtp(settings, from, email).await,
        }
    }
}

async fn write_file(dir: PathBuf, email: &Leased) -> Result<String, DeliveryError> {
    // Named by creation time and outbox id: a retry rewrites the same file, never a second one.
    let name = format!("{}-{:06}.eml", email.created_at, email.id);
    let raw = email.raw.clone();
    tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&dir)?;
        let tmp = dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, &raw)?;
        let path = dir.join(&name);
        std::fs::rename(&tmp, &path)?;
        Ok::<_, std::io::Error>(path.display().to_string())
    })
    .await
    .map_err(|e| DeliveryError::transient(e.to_string()))?
    .map_err(|e| DeliveryError::transient(format!("cannot write email file: {e}")))
}

async fn send_smtp(
    settings: &SmtpSettings,
    from: &str,
    email: &Leased,
) -> Result<String, DeliveryError> {
    let mut builder = SmtpClientBuilder::new(settings.host.as_str(), settings.port)
        .map_err(DeliveryError::transient)?
        .implicit_tls(settings.tls == Tls::Implicit)
        .timeout(settings.command_timeout);
    if let Some((user, password)) = &settings.credentials {
        builder = builder.credentials((user.as_str(), password.expose()));
    }
    let message = Message::new(from, [email.recipient.as_str()], email.raw.as_slice());
    // mail-send does not bound the plain-text greeting wait itself: the whole connection
    // phase gets one deadline here.
    let deadline = settings.connect_timeout;
    let late = || {
        DeliveryError::transient(format!(
            "no SMTP session with {}:{} within {}s",
            settings.host,
            settings.port,
            deadline.as_secs()
        ))
    };
    let reply = match settings.tls {
        Tls::None => {
            let client = tokio::time::timeout(deadline, builder.connect_plain())
                .await
                .map_err(|_| late())?
                .map_err(refusal)?;
            send_and_quit(client, message).await
        }
        Tls::Starttls | Tls::Implicit => {
            let client = tokio::time::timeout(deadline, builder.connect())
                .await
                .map_err(|_| late())?
                .map_err(refusal)?;
            send_and_quit(client, message).await
        }
    }?;
    Ok(format!(
        "{}:{} answered {}",
        settings.host,
        settings.port,
        templates::one_line(&reply)
    ))
}

/// Sends one message on an open session and says goodbye; the answer is the reply to DATA.
async fn send_and_quit<S: AsyncRead + AsyncWrite + Unpin>(
    mut client: SmtpClient<S>,
    message: Message<'_>,
) -> Result<String, DeliveryError> {
    // A refused sender is the server refusing us, not this email: it says nothing about
    // the recipient, so it must not fail the email for good.
    client
        .mail_from(&message.mail_from.email, &message.mail_from.parameters)
        .await
        .map_err(refusal)?;
    for rcpt in &message.rcpt_to {
        client
            .rcpt_to(&rcpt.email, &rcpt.parameters)
            .await
            .map_err(classify)?;
    }
    let reply = client.data(message.body.as_ref()).await.map_err(classify)?;
    // The message is accepted at this point; a failing QUIT changes nothing.
    let _ = client.quit().await;
    let [class, subject, detail] = reply.esc;
    Ok(if class == 0 {
        format!("{} {}", reply.code, reply.message)
    } else {
        format!(
            "{} {class}.{subject}.{detail} {}",
            reply.code, reply.message
        )
    })
}

/// 5xx replies to this email's recipient or content are final; everything else (network,
/// timeouts, 4xx) is worth another try.
fn classify(error: mail_send::Error) -> DeliveryError {
    let permanent = match &error {
        mail_send::Error::UnexpectedReply(reply)
        | mail_send::Error::AuthenticationFailed(reply) => reply.code() >= 500,
        _ => false,
    };
    DeliveryError {
        permanent,
        message: mask_addresses(&error.to_string()),
    }
}

/// A failure of the session itself (greeting, EHLO, TLS, AUTH, MAIL FROM): even a 5xx is
/// about the server or our account there, never about this email, so it is retried later.
fn refusal(error: mail_send::Error) -> DeliveryError {
    DeliveryError::transient(format!(
        "SMTP session refused: {}",
        mask_addresses(&error.to_string())
    ))
}

/// `text` with the local part of every email address in it masked (`j***@example.com`):
/// servers echo recipients in their errors, and those texts go to logs and the outbox.
pub fn mask_addresses(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        match word.rsplit_once('@') {
            Some((local, domain)) if !local.is_empty() && !domain.is_empty() => {
                out.extend(local.chars().next());
                out.push_str("***@");
                out.push_str(domain);
            }
            _ => out.push_str(word),
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_whitespace() || "<>()[],;:\"'".contains(c) {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::mask_addresses;

    #[test]
    fn addresses_in_server_texts_keep_only_their_first_letter_and_domain() {
        assert_eq!(
            mask_addresses("550 5.1.1 <jane.doe@example.com>: Recipient address rejected"),
            "550 5.1.1 <j***@example.com>: Recipient address rejected"
        );
        assert_eq!(
            mask_addresses("user x@y.org unknown, @ alone"),
            "user x***@y.org unknown, @ alone"
        );
    }
}
