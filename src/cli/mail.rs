use super::Loaded;
use crate::domain::EmailAddress;
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
}

/// `customer-area mail ...`: checks the mail settings without touching the outbox.
pub async fn run(loaded: Loaded, command: Command) -> anyhow::Result<()> {
    match command {
        Command::Test { to } => {
            let to = EmailAddress::parse(&to)
                .map_err(|problem| anyhow::anyhow!("--to `{to}` {problem}"))?;
            let mailer = Mailer::new(&loaded.config).map_err(anyhow::Error::msg)?;
            let transport = Transport::from_config(&loaded.config);
            let vars = Vars {
                email: to.to_string(),
                ..Vars::default()
            };
            let email = mailer.compose(Kind::Test, to.as_str(), &vars);
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
