//! The ways an email leaves: written to a folder (demos, tests, a local MTA's pickup
//! directory) or handed to an SMTP server.

use std::path::PathBuf;
use std::time::Duration;

use mail_send::smtp::message::Message;
use mail_send::{SmtpClient, SmtpClientBuilder};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;

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
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub credentials: Option<(String, config::Secret)>,
    /// For the TCP connection, greeting, TLS, EHLO and login together.
    pub connect_timeout: Duration,
    /// For each later command, the message upload included.
    pub command_timeout: Duration,
    /// TLS settings with the trusted roots, loaded once rather than for every session.
    pub tls_connector: TlsConnector,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
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
                    tls_connector: tls_connector(),
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

    /// A sender for emails one after another, on one SMTP session while it lasts.
    pub fn sender(&self) -> Sender<'_> {
        Sender {
            transport: self,
            session: None,
        }
    }

    /// Delivers one email on a session of its own; returns the server's answer (or the file
    /// written).
    pub async fn deliver(&self, from: &str, email: &Leased) -> Result<String, DeliveryError> {
        let mut sender = self.sender();
        let result = sender.send(from, email).await;
        sender.close().await;
        result
    }
}

/// The TLS settings of every session: the platform's trusted roots (bundled with the binary),
/// TLS 1.2 and 1.3.
fn tls_connector() -> TlsConnector {
    // Building the connector only loads the bundled roots; it fails on no input this program
    // gives, so a failure here is a broken build.
    SmtpClientBuilder::new("localhost", 25)
        .expect("the bundled TLS roots load")
        .tls_connector
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

/// Emails one SMTP session carries at most before it is closed and a new one opened (servers
/// commonly cap a session near 100).
const EMAILS_PER_SESSION: usize = 50;

/// A byte stream an SMTP session runs on: plain TCP, or TLS over it.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send> Stream for S {}

/// An open SMTP session.
struct Session {
    client: SmtpClient<Box<dyn Stream>>,
    /// Emails accepted on it so far.
    carried: usize,
}

/// Delivers emails one after another, keeping one SMTP session open between them: a queue of
/// emails costs one connection, greeting, TLS handshake and login, not one per email.
pub struct Sender<'a> {
    transport: &'a Transport,
    session: Option<Session>,
}

impl Sender<'_> {
    /// Delivers one email; returns the server's answer (or the file written). A session that
    /// has already carried emails and then fails for a reason other than this email (the
    /// server closed it, or took no more) is replaced by a new one for a second try.
    pub async fn send(&mut self, from: &str, email: &Leased) -> Result<String, DeliveryError> {
        let settings = match self.transport {
            Transport::File(dir) => return write_file(dir.clone(), email).await,
            Transport::Smtp(settings) => settings,
        };
        let reused = self.session.is_some();
        match self.send_smtp(settings, from, email).await {
            Err(error) if reused && !error.permanent => {
                tracing::debug!(error = %error.message, "SMTP session ended; opening a new one");
                self.send_smtp(settings, from, email).await
            }
            result => result,
        }
    }

    async fn send_smtp(
        &mut self,
        settings: &SmtpSettings,
        from: &str,
        email: &Leased,
    ) -> Result<String, DeliveryError> {
        let mut session = match self.session.take() {
            Some(session) => session,
            None => open(settings).await?,
        };
        let message = Message::new(from, [email.recipient.as_str()], email.raw.as_slice());
        // A session that failed is left to close: whatever state it is in is not worth a RSET.
        let reply = send_one(&mut session.client, message).await?;
        session.carried += 1;
        if session.carried < EMAILS_PER_SESSION {
            self.session = Some(session);
        } else {
            quit(session).await;
        }
        Ok(format!(
            "{}:{} answered {}",
            settings.host,
            settings.port,
            templates::one_line(&reply)
        ))
    }

    /// Ends the open session, if any, with a QUIT.
    pub async fn close(mut self) {
        if let Some(session) = self.session.take() {
            quit(session).await;
        }
    }
}

/// Opens an SMTP session: connection, greeting, TLS and login, within one deadline.
async fn open(settings: &SmtpSettings) -> Result<Session, DeliveryError> {
    let mut builder = SmtpClientBuilder::new_with_tls_connector(
        settings.host.as_str(),
        settings.port,
        settings.tls_connector.clone(),
    )
    .implicit_tls(settings.tls == Tls::Implicit)
    .timeout(settings.command_timeout);
    if let Some((user, password)) = &settings.credentials {
        builder = builder.credentials((user.as_str(), password.expose()));
    }
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
    let client = match settings.tls {
        Tls::None => erase(
            tokio::time::timeout(deadline, builder.connect_plain())
                .await
                .map_err(|_| late())?
                .map_err(refusal)?,
        ),
        Tls::Starttls | Tls::Implicit => erase(
            tokio::time::timeout(deadline, builder.connect())
                .await
                .map_err(|_| late())?
                .map_err(refusal)?,
        ),
    };
    Ok(Session { client, carried: 0 })
}

/// The same session, over a stream whose type no longer says whether it is encrypted.
fn erase<S: Stream + 'static>(client: SmtpClient<S>) -> SmtpClient<Box<dyn Stream>> {
    SmtpClient {
        stream: Box::new(client.stream),
        timeout: client.timeout,
    }
}

/// Says goodbye; the emails are accepted already, so a failing QUIT changes nothing.
async fn quit(session: Session) {
    let _ = session.client.quit().await;
}

/// Sends one message on an open session; the answer is the reply to DATA.
async fn send_one(
    client: &mut SmtpClient<Box<dyn Stream>>,
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
