//! `customer-area customers ...`: create, list, show, delete and export customers, and the CSV
//! import (`import.rs`), over the same operations as the admin API.

use super::{Loaded, deliver_now, import, open_app, print_json};
use crate::domain::{
    EmailAddress, FIELDS, Identifier, Language, ProfileChanges, ProfileField, format_time,
};
use crate::flows::{MAX_PAGE, NewAccount};
use crate::store::Start;
use crate::store::customers::{AdminView, Cursor};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a pending customer and email them an activation link.
    Create {
        /// The customer's email address (the activation link goes there).
        #[arg(long)]
        email: String,
        /// The customer's name, as emails greet them.
        #[arg(long)]
        name: String,
        /// Public handle used in email links (generated when omitted).
        #[arg(long)]
        identifier: Option<String>,
        /// The language of the customer's emails (en, de, fr...; default: mail.default_language).
        #[arg(long, value_name = "TAG")]
        language: Option<String>,
        /// Do not send the activation email now.
        #[arg(long)]
        no_activation: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List customers, optionally only those whose email, identifier or name contains TEXT.
    List {
        /// Only customers whose email, identifier or name contains TEXT (indexed from 3 characters).
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        /// At most this many customers, in the order they were created.
        #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_PAGE)))]
        limit: u32,
        /// Skip this many customers first (the next page).
        #[arg(long, default_value_t = 0, conflicts_with = "after")]
        offset: u32,
        /// Start after the customer this cursor names: the `next` an earlier page printed
        /// (as quick a million customers in as at the first).
        #[arg(long, value_name = "CURSOR", value_parser = Cursor::parse)]
        after: Option<Cursor>,
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show one customer, found by id, identifier or email.
    Show {
        /// The customer's id, identifier or email.
        key: String,
        /// Print the customer as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete a customer (found by id, identifier or email) and everything tied to them;
    /// asks first on a terminal.
    Delete {
        /// The customer's id, identifier or email.
        key: String,
        /// Delete without asking (needed when standard input is not a terminal, e.g. in scripts).
        #[arg(long)]
        yes: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Email a pending customer (found by id, identifier or email) a new activation link; the
    /// old link stops working.
    ResendActivation {
        /// The customer's id, identifier or email.
        key: String,
    },
    /// Print everything stored about a customer (found by id, identifier or email) as JSON:
    /// the same document as their own download, `GET /customers/self/export`.
    Export {
        /// The customer's id, identifier or email.
        key: String,
    },
    /// Create customers in bulk from a CSV file: all rows or none.
    Import(import::Args),
    /// Write every customer to FILE.csv in the import format (ids, times, statuses,
    /// subscriptions with the time and source of each consent): moving to another
    /// customer-area, or a copy to keep. The file must not exist yet.
    ExportAll {
        /// The CSV file to create (readable by this user only).
        file: std::path::PathBuf,
        /// Include each customer's password hash (PHC strings of this product, or an imported
        /// hash not yet upgraded): with them, customers sign in to the new instance with their
        /// passwords. Keep such a file as secret as the database.
        #[arg(long)]
        with_password_hashes: bool,
    },
}

/// `customer-area customers ...`.
pub async fn run(loaded: Loaded, command: Command) -> anyhow::Result<()> {
    let app = open_app(&loaded).await?;
    let back_office = app.services().back_office();
    match command {
        Command::Import(args) => return import::run(app.services(), args).await,
        Command::ExportAll {
            file,
            with_password_hashes,
        } => {
            // Never over an existing file: an export is often of secrets, and a typo must not
            // destroy what was there.
            let out = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&file)
                .map_err(|e| anyhow::anyhow!("cannot create {}: {e}", file.display()))?;
            let out = std::io::BufWriter::new(out);
            let written = app
                .services()
                .imports()
                .export_all(out, with_password_hashes)
                .await?;
            println!(
                "wrote {written} customer(s) to {}{}",
                file.display(),
                if with_password_hashes {
                    " with their password hashes"
                } else {
                    ""
                }
            );
        }
        Command::Create {
            email,
            name,
            identifier,
            language,
            no_activation,
            json,
        } => {
            let email = EmailAddress::parse(&email).map_err(|p| anyhow::anyhow!("--email {p}"))?;
            let name = ProfileField::Name
                .parse(&name)
                .and_then(|name| name.ok_or_else(|| "must not be empty".to_owned()))
                .map_err(|p| anyhow::anyhow!("--name {p}"))?;
            let identifier = identifier
                .map(|i| Identifier::parse(&i))
                .transpose()
                .map_err(|p| anyhow::anyhow!("--identifier {p}"))?;
            let language = language
                .map(|l| Language::parse(&l))
                .transpose()
                .map_err(|p| anyhow::anyhow!("--language {p}"))?;
            let account = NewAccount {
                email,
                name: Some(name),
                identifier,
                profile: ProfileChanges::default(),
                send_activation: !no_activation,
                activate_uri: None,
                language,
                arrival: Default::default(),
            };
            let view = back_office
                .admin_create_customer(account, Default::default())
                .await?;
            deliver_now(app.worker()).await;
            if json {
                print_json(&view)?;
            } else {
                println!(
                    "created pending customer {} ({}) <{}>",
                    view.customer.id, view.identifier, view.customer.email
                );
                if !no_activation {
                    println!("activation email queued for {}", view.customer.email);
                }
            }
        }
        Command::List {
            search,
            limit,
            offset,
            after,
            json,
        } => {
            let start = after.map_or(Start::Offset(offset), Start::After);
            let page = back_office.customer_page(search, limit, start).await?;
            if json {
                print_json(&page)?;
            } else {
                println!(
                    "{:<14}  {:<20}  {:<8}  {:<32}  NAME",
                    "ID", "IDENTIFIER", "STATUS", "EMAIL"
                );
                for v in &page.customers {
                    println!(
                        "{:<14}  {:<20}  {:<8}  {:<32}  {}",
                        v.customer.id,
                        v.identifier,
                        v.status.as_str(),
                        v.customer.email,
                        v.customer.name().unwrap_or("")
                    );
                }
                let more = if page.total_exact { "" } else { "more than " };
                println!(
                    "{} of {more}{} customer(s)",
                    page.customers.len(),
                    page.total
                );
                if let Some(next) = page.next {
                    println!("next page: --after {next}");
                }
            }
        }
        Command::Show { key, json } => {
            let view = back_office.customer_view(&key).await?;
            let scheme = back_office.password_scheme(&view.customer.id).await?;
            if json {
                let mut shown = serde_json::to_value(&view)?;
                shown["password_scheme"] = scheme.into();
                print_json(&shown)?;
            } else {
                let c = &view.customer;
                println!("id             {}", c.id);
                println!("identifier     {}", view.identifier);
                println!("status         {}", view.status.as_str());
                println!("email          {}", c.email);
                for spec in FIELDS {
                    // An address's lines, on one line.
                    let value = c.profile.get(spec.field).unwrap_or("-");
                    println!("{:<15}{}", spec.label, value.replace('\n', ", "));
                }
                let lists: Vec<&str> = c.subscriptions.iter().map(|s| s.id.as_str()).collect();
                println!(
                    "subscriptions  {}",
                    if lists.is_empty() {
                        "-".into()
                    } else {
                        lists.join(", ")
                    }
                );
                println!("password       {}", scheme.unwrap_or("-"));
                println!("created        {}", format_time(view.created_at));
                for record in back_office.consent_history(&key).await? {
                    let verb = if record.action == "in" {
                        "opted in to"
                    } else {
                        "opted out of"
                    };
                    println!(
                        "consent        {} {verb} {} ({})",
                        format_time(record.at),
                        record.list_id,
                        record.source
                    );
                }
            }
        }
        Command::Export { key } => {
            print_json(&app.services().security().export_customer(&key).await?)?;
        }
        Command::Delete { key, yes, json } => {
            let view = back_office.customer_view(&key).await?;
            if !yes && !confirm_deletion(&view)? {
                anyhow::bail!("nothing deleted");
            }
            let view = back_office.admin_delete_customer(&key).await?;
            deliver_now(app.worker()).await;
            if json {
                print_json(&serde_json::json!({ "result": "deleted", "id": view.customer.id }))?;
            } else {
                println!(
                    "deleted customer {} <{}>",
                    view.customer.id, view.customer.email
                );
            }
        }
        Command::ResendActivation { key } => {
            app.services()
                .activations()
                .resend_activation(&key, None)
                .await?;
            deliver_now(app.worker()).await;
            println!("activation email queued for {key}");
        }
    }
    Ok(())
}

/// Asks on the terminal whether to delete `view`'s customer; refuses without a terminal.
fn confirm_deletion(view: &AdminView) -> anyhow::Result<bool> {
    use std::io::{BufRead, IsTerminal, Write};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!(
            "customers delete asks for confirmation, and standard input is not a terminal: \
             pass --yes to delete {} <{}>",
            view.customer.id,
            view.customer.email
        );
    }
    eprint!(
        "delete customer {} <{}> and everything stored about them? [y/N] ",
        view.customer.id, view.customer.email
    );
    std::io::stderr().flush()?;
    let mut answer = String::new();
    stdin.lock().read_line(&mut answer)?;
    Ok(matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes"))
}
