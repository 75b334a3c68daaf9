//! `customer-area subscriptions ...`: the retailer's subscription lists (add, list, remove)
//! and a list's members with their unsubscribe URLs.

use super::{Loaded, open_app, print_json};
use crate::flows::NewList;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Add a list customers may opt in to, e.g. `add newsletter --name "Monthly newsletter"`.
    Add {
        /// Lower-case letters, digits, '_' and '-' (what customers and imports name it by).
        id: String,
        /// The list's name, as the customer pages show it.
        #[arg(long)]
        name: String,
        /// A sentence that says what the list sends, shown beside its name.
        #[arg(long, value_name = "TEXT")]
        description: Option<String>,
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the subscription lists.
    List {
        /// Print the lists as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print a list's members with their one-click unsubscribe URLs (JSON lines, or CSV).
    Members {
        /// The list's id.
        id: String,
        /// CSV with a header row, formula-looking values defused, as the HTTP export.
        #[arg(long)]
        csv: bool,
    },
    /// Remove a list; its subscribers are opted out, and that is recorded as consent history.
    Remove {
        /// The list's id.
        id: String,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `customer-area subscriptions ...`.
pub async fn run(loaded: Loaded, command: Command) -> anyhow::Result<()> {
    let app = open_app(&loaded).await?;
    let lists = app.services().back_office();
    match command {
        Command::Add {
            id,
            name,
            description,
            json,
        } => {
            let new = NewList::parse(&id, &name, description.as_deref())?;
            let list = lists.add_subscription_list(new).await?;
            if json {
                print_json(&list)?;
            } else {
                println!("added subscription list {} ({})", list.id, list.name);
            }
        }
        Command::List { json } => {
            let lists = lists.subscription_lists().await?;
            if json {
                return print_json(&serde_json::json!({ "subscriptions": lists }));
            }
            println!("{:<24}  {:<32}  DESCRIPTION", "ID", "NAME");
            for list in &lists {
                println!(
                    "{:<24}  {:<32}  {}",
                    list.id,
                    list.name,
                    list.description.as_deref().unwrap_or("").replace('\n', " ")
                );
            }
            println!("{} subscription list(s)", lists.len());
        }
        Command::Members { id, csv } => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            if csv {
                out.write_all(crate::flows::CSV_HEADER.as_bytes())?;
            }
            let members = app.services().unsubscribes();
            let mut batch = members.members_after(&id, "").await?;
            while let Some(last) = batch.last() {
                let after = last.id.clone();
                if csv {
                    out.write_all(&crate::flows::csv_rows(&batch))?;
                } else {
                    for member in &batch {
                        serde_json::to_writer(&mut out, member)?;
                        out.write_all(b"\n")?;
                    }
                }
                batch = members.members_after(&id, &after).await?;
            }
            out.flush()?;
        }
        Command::Remove { id, json } => {
            lists.remove_subscription_list(&id).await?;
            if json {
                print_json(&serde_json::json!({ "result": "deleted", "id": id }))?;
            } else {
                println!("removed subscription list {id}");
            }
        }
    }
    Ok(())
}
