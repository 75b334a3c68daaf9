use anyhow::bail;

use super::{Loaded, deliver_now, open_area, print_json};
use crate::domain::{CustomerId, EmailAddress, Identifier, ProfileChanges, ProfileField};
use crate::flows::NewAccount;
use crate::store::customers;

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a pending customer and email them an activation link.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: String,
        /// Public handle used in email links (generated when omitted).
        #[arg(long)]
        identifier: Option<String>,
        /// Do not send the activation email now.
        #[arg(long)]
        no_activation: bool,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List customers, optionally only those whose email or identifier contains TEXT.
    List {
        #[arg(long, value_name = "TEXT")]
        search: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: u32,
        #[arg(long, default_value_t = 0)]
        offset: u32,
        #[arg(long)]
        json: bool,
    },
    /// Show one customer, found by id, identifier or email.
    Show {
        key: String,
        #[arg(long)]
        json: bool,
    },
    /// Delete a customer (found by id, identifier or email) and everything tied to them.
    Delete { key: String },
}

/// `customer-area customers ...`.
pub async fn run(loaded: Loaded, command: Command) -> anyhow::Result<()> {
    let (area, worker) = open_area(&loaded).await?;
    match command {
        Command::Create {
            email,
            name,
            identifier,
            no_activation,
            json,
        } => {
            let email = EmailAddress::parse(&email).map_err(|p| anyhow::anyhow!("--email {p}"))?;
            let name = ProfileField::Name
                .parse(&name)
                .map_err(|p| anyhow::anyhow!("--name {p}"))?;
            let identifier = identifier
                .map(|i| Identifier::parse(&i))
                .transpose()
                .map_err(|p| anyhow::anyhow!("--identifier {p}"))?;
            let created = area
                .create_customer(NewAccount {
                    email: email.clone(),
                    name,
                    identifier,
                    profile: ProfileChanges::default(),
                    send_activation: !no_activation,
                    activate_uri: None,
                })
                .await?;
            deliver_now(&worker).await;
            if json {
                print_json(&serde_json::json!({
                    "id": created.id, "identifier": created.identifier, "email": email.as_str(),
                    "status": "pending", "activation_queued": created.activation_queued,
                }))?;
            } else {
                println!(
                    "created pending customer {} ({}) <{email}>",
                    created.id, created.identifier
                );
                if created.activation_queued {
                    println!("activation email queued for {email}");
                }
            }
        }
        Command::List {
            search,
            limit,
            offset,
            json,
        } => {
            let (views, total) = area
                .store
                .read(move |c| customers::list(c, search.as_deref(), limit, offset))
                .await?;
            if json {
                print_json(&serde_json::json!({ "customers": views, "total": total }))?;
            } else {
                println!(
                    "{:<14}  {:<20}  {:<8}  {:<32}  NAME",
                    "ID", "IDENTIFIER", "STATUS", "EMAIL"
                );
                for v in &views {
                    println!(
                        "{:<14}  {:<20}  {:<8}  {:<32}  {}",
                        v.customer.id,
                        v.identifier,
                        v.status.as_str(),
                        v.customer.email,
                        v.customer.name.as_deref().unwrap_or("")
                    );
                }
                println!("{} of {total} customer(s)", views.len());
            }
        }
        Command::Show { key, json } => {
            let lookup = key.clone();
            let Some(view) = area
                .store
                .read(move |c| customers::admin_view(c, &lookup))
                .await?
            else {
                bail!("no customer with id, identifier or email `{key}`");
            };
            if json {
                print_json(&view)?;
            } else {
                let c = &view.customer;
                let field = |v: &Option<String>| v.clone().unwrap_or_else(|| "-".into());
                println!("id             {}", c.id);
                println!("identifier     {}", view.identifier);
                println!("status         {}", view.status.as_str());
                println!("email          {}", c.email);
                println!("name           {}", field(&c.name));
                println!("phone          {}", field(&c.phone));
                println!("mobile         {}", field(&c.mobile));
                println!("address        {}", field(&c.address).replace('\n', ", "));
                println!("town           {}", field(&c.address_town));
                println!("postcode       {}", field(&c.address_postcode));
                println!("region         {}", field(&c.address_region));
                println!("country        {}", field(&c.country));
                let lists: Vec<&str> = c.subscriptions.iter().map(|s| s.id.as_str()).collect();
                println!(
                    "subscriptions  {}",
                    if lists.is_empty() {
                        "-".into()
                    } else {
                        lists.join(", ")
                    }
                );
            }
        }
        Command::Delete { key } => {
            let lookup = key.clone();
            let Some(view) = area
                .store
                .read(move |c| customers::admin_view(c, &lookup))
                .await?
            else {
                bail!("no customer with id, identifier or email `{key}`");
            };
            let id: CustomerId = view.customer.id;
            area.delete_customer(id.clone()).await?;
            deliver_now(&worker).await;
            println!("deleted customer {id} <{}>", view.customer.email);
        }
    }
    Ok(())
}
