//! The ways an email leaves: written to a folder (demos, tests, a local MTA's pickup
//! directory) or handed to an SMTP server.

use std::path::PathBuf;
use std::time::Duration;

use mail_send::SmtpClientBuilder;
use mail_send::smtp::message::Message;

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

#[derive(Clone, Debug)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub credentials: Option<(String, config::Secret)>,
    pub timeout: Duration,
}

impl Transport {
    pub fn from_config(config: &Config) -> Transport {
        match config.mail.transport {
            config::Transport::File => Transport::File(config.mail.dir.clone()),
            config::Transport::Smtp => {
                let smtp = &config.mail.smtp;
                Transport::Smtp(SmtpSettings {
                    host: smtp.host.clone(),
                    port: smtp.port,
                    tls: smtp.tls,
                    credentials: (!smtp.username.is_empty())
                        .then(|| (smtp.username.clone(), smtp.password.clone())),
                    timeout: Duration::from_secs(smtp.timeout_seconds),
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
        .timeout(settings.timeout);
    if let Some((user, password)) = &settings.credentials {
        builder = builder.credentials((user.as_str(), password.expose()));
    }
    let message = Message::new(from, [email.recipient.as_str()], email.raw.as_slice());
    let result = match settings.tls {
        Tls::None => match builder.connect_plain().await {
            Ok(mut client) => client.send(message).await,
            Err(e) => Err(e),
        },
        Tls::Starttls | Tls::Implicit => match builder.connect().await {
            Ok(mut client) => client.send(message).await,
            Err(e) => Err(e),
        },
    };
    result
        .map(|_| format!("accepted by {}:{}", settings.host, settings.port))
        .map_err(classify)
}

/// 5xx replies are final; everything else (network, timeouts, 4xx) is worth another try.
fn classify(error: mail_send::Error) -> DeliveryError {
    let permanent = match &error {
        mail_send::Error::UnexpectedReply(reply)
        | mail_send::Error::AuthenticationFailed(reply) => reply.code() >= 500,
        _ => false,
    };
    DeliveryError {
        permanent,
        message: error.to_string(),
    }
}
