//! `customer-area webhooks list`, `webhooks retry` and `webhooks test`: the webhook events
//! queued, sent or failed, failed ones queued again for the server, and a signed `ping`.

use super::outbox::{Delivery, print_deliveries};
use super::{Loaded, open_app};
use crate::webhooks::worker::Attempt;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List the newest webhook events with their endpoint, status, attempts and last error.
    List {
        /// Only events with this status.
        #[arg(long, value_parser = ["queued", "sent", "failed"])]
        status: Option<String>,
        /// At most this many events, newest first.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Queue failed events (all, or the one with ID) again; the running server delivers them,
    /// with the same webhook-id as before.
    Retry {
        /// The event's ID, as `list` shows it (none: every failed event).
        id: Option<i64>,
    },
    /// Send a signed `ping` event to the configured endpoint URL now and say how it answered.
    Test {
        /// One of the `[[webhooks]]` URLs of the config (its secret signs the ping).
        url: String,
    },
}

/// `customer-area webhooks ...`.
pub async fn run(loaded: Loaded, command: Command) -> anyhow::Result<()> {
    let app = open_app(&loaded).await?;
    let webhooks = app.services().webhooks();
    match command {
        Command::List {
            status,
            limit,
            json,
        } => {
            let entries = webhooks.list(status, limit).await?;
            print_deliveries(&entries, json, ("TYPE", 24), ("ENDPOINT", 36), |e| {
                Delivery {
                    id: e.id,
                    what: &e.event_type,
                    status: &e.status,
                    attempts: e.attempts,
                    created_at: e.created_at,
                    to: &e.endpoint,
                    last_error: e.last_error.as_deref(),
                }
            })?;
        }
        Command::Retry { id } => {
            let requeued = webhooks.retry_failed(id).await?;
            match (requeued, id) {
                (0, Some(id)) => anyhow::bail!("webhook event {id} is not a failed event"),
                (0, None) => println!("no failed webhook events"),
                (n, _) => println!("requeued {n} webhook event(s); the server delivers them"),
            }
        }
        Command::Test { url } => match webhooks.ping(&url).await? {
            Attempt::Delivered(status) => println!("ping delivered to {url}: answered {status}"),
            Attempt::Retry { error, .. } | Attempt::Failed(error) => {
                anyhow::bail!("ping to {url} not delivered: {error}")
            }
        },
    }
    Ok(())
}
