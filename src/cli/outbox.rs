//! `customer-area outbox list` and `outbox retry`: the emails queued, sent or failed, and
//! failed ones queued again and sent at once.

use super::{Loaded, deliver_now, open_app, print_json};
use crate::domain::format_time;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// List the newest emails with their status, attempts and last error.
    List {
        /// Only emails with this status.
        #[arg(long, value_parser = ["queued", "sent", "failed"])]
        status: Option<String>,
        /// At most this many emails, newest first.
        #[arg(long, default_value_t = 50)]
        limit: u32,
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Put failed emails (all, or the one with ID) back in the queue and try them now; a failed
    /// email that carried a one-time code (activation, reset, email confirmation) has no
    /// body left and is not sent again.
    Retry {
        /// The email's ID, as `list` shows it (none: every failed email).
        id: Option<i64>,
    },
}

/// `customer-area outbox ...`.
pub async fn run(loaded: Loaded, command: Command) -> anyhow::Result<()> {
    let app = open_app(&loaded).await?;
    let outbox = app.services().outbox();
    match command {
        Command::List {
            status,
            limit,
            json,
        } => {
            let entries = outbox.list(status, limit).await?;
            print_deliveries(&entries, json, ("KIND", 20), ("TO", 32), |e| Delivery {
                id: e.id,
                what: &e.kind,
                status: &e.status,
                attempts: e.attempts,
                created_at: e.created_at,
                to: &e.recipient,
                last_error: e.last_error.as_deref(),
            })?;
        }
        Command::Retry { id } => {
            let (requeued, erased) = outbox.retry_failed(id).await?;
            for (id, kind) in &erased {
                eprintln!(
                    "email {id} ({kind}) is not sent again: it carried a one-time code, erased \
                     when it failed; the customer asks for a new one"
                );
            }
            if requeued == 0 {
                if id.is_some() && !erased.is_empty() {
                    anyhow::bail!("nothing requeued");
                }
                match id {
                    Some(id) => anyhow::bail!("email {id} is not a failed email"),
                    None => println!("no failed emails"),
                }
                return Ok(());
            }
            println!("requeued {requeued} email(s)");
            deliver_now(app.worker()).await;
        }
    }
    Ok(())
}

/// One line of `outbox list` or `webhooks list`: what was sent, its delivery so far, and
/// where it goes.
pub(super) struct Delivery<'a> {
    pub id: i64,
    pub what: &'a str,
    pub status: &'a str,
    pub attempts: i64,
    pub created_at: i64,
    pub to: &'a str,
    pub last_error: Option<&'a str>,
}

/// Prints `entries` as JSON, or as a table of their [`Delivery`] lines, the `what` and `to`
/// columns under the given headers and widths, the last error at the end of each line.
pub(super) fn print_deliveries<T: serde::Serialize>(
    entries: &[T],
    json: bool,
    (what, what_width): (&str, usize),
    (to, to_width): (&str, usize),
    line: impl Fn(&T) -> Delivery<'_>,
) -> anyhow::Result<()> {
    if json {
        return print_json(&entries);
    }
    println!(
        "{:>6}  {:<what_width$}  {:<7}  {:>8}  {:<20}  {:<to_width$}  LAST ERROR",
        "ID", what, "STATUS", "ATTEMPTS", "CREATED", to
    );
    for row in entries.iter().map(line) {
        println!(
            "{:>6}  {:<what_width$}  {:<7}  {:>8}  {:<20}  {:<to_width$}  {}",
            row.id,
            row.what,
            row.status,
            row.attempts,
            format_time(row.created_at),
            row.to,
            row.last_error.unwrap_or("")
        );
    }
    Ok(())
}
