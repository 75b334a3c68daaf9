//! `customer-area staff ...`: the retailer's staff, who use the console.

use super::{Loaded, deliver_now, open_app, print_json};
use crate::domain::{EmailAddress, ProfileField, Role, format_time};
use crate::flows::AuditLine;
use crate::flows::staff_actions::{ADD_STAFF, CHANGE_STAFF_ROLE, REMOVE_STAFF, RESET_STAFF};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Add a staff member; prints the invitation link (also emailed) where they choose a
    /// password.
    Add {
        /// The staff member's email address (the invitation goes there).
        email: String,
        /// `support` (helps customers) or `owner` (everything, staff included).
        #[arg(long, value_parser = Role::parse)]
        role: Role,
        /// The staff member's name, as the invitation greets them.
        #[arg(long)]
        name: Option<String>,
    },
    /// List the staff members.
    List {
        /// Print the list as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Remove a staff member; their sessions end at once. The last owner stays (invite
    /// another owner first).
    Remove {
        /// The staff member's email address.
        email: String,
    },
    /// Give a staff member another role; their sessions end at once. The last owner stays an
    /// owner (invite another owner first).
    Role {
        /// The staff member's email address.
        email: String,
        /// `support` (helps customers) or `owner` (everything, staff included).
        #[arg(long, value_parser = Role::parse)]
        role: Role,
    },
    /// Send a staff member a new invitation: their password and second factor are cleared, a
    /// lockout lifted, and their sessions end.
    Reset {
        /// The staff member's email address.
        email: String,
    },
}

/// `customer-area staff ...`.
pub async fn run(loaded: Loaded, command: Command) -> anyhow::Result<()> {
    let app = open_app(&loaded).await?;
    let staff = app.services().staff();
    match command {
        Command::Add { email, role, name } => {
            let email = EmailAddress::parse(&email).map_err(|p| anyhow::anyhow!("EMAIL {p}"))?;
            let name = match name {
                Some(name) => ProfileField::Name
                    .parse(&name)
                    .map_err(|p| anyhow::anyhow!("--name {p}"))?,
                None => None,
            };
            let (invited, _) = staff
                .add(email, role, name, AuditLine::of_command_line(ADD_STAFF))
                .await?;
            deliver_now(app.worker()).await;
            println!("added {role} {}; invitation (also emailed):", invited.email);
            println!("{}", invited.link);
        }
        Command::List { json } => {
            let members = staff.list().await?;
            if json {
                let rows: Vec<_> = members
                    .iter()
                    .map(|m| {
                        serde_json::json!({
                            "email": m.email,
                            "name": m.name,
                            "role": m.role,
                            "activated": m.activated_at.is_some(),
                            "second_factor": m.has_second_factor,
                            "locked": m.locked,
                        })
                    })
                    .collect();
                print_json(&rows)?;
            } else {
                println!(
                    "{:<32}  {:<8}  {:<10}  {:<17}  NAME",
                    "EMAIL", "ROLE", "STATE", "ADDED"
                );
                for m in &members {
                    let state = match (m.activated_at, m.locked) {
                        (_, true) => "locked",
                        (None, _) => "invited",
                        (Some(_), _) => "active",
                    };
                    println!(
                        "{:<32}  {:<8}  {:<10}  {:<17}  {}",
                        m.email,
                        m.role,
                        state,
                        format_time(m.created_at),
                        m.name.as_deref().unwrap_or("")
                    );
                }
                println!("{} staff member(s)", members.len());
            }
        }
        Command::Remove { email } => {
            staff
                .remove(&email, AuditLine::of_command_line(REMOVE_STAFF))
                .await?;
            println!("removed {}; their sessions have ended", email.trim());
        }
        Command::Role { email, role } => {
            let (member, changed) = staff
                .change_role(&email, role, AuditLine::of_command_line(CHANGE_STAFF_ROLE))
                .await?;
            if changed {
                println!("{} is now {role}; their sessions have ended", member.email);
            } else {
                println!("{} is {role} already; nothing changed", member.email);
            }
        }
        Command::Reset { email } => {
            let invited = staff
                .reset(&email, AuditLine::of_command_line(RESET_STAFF))
                .await?;
            deliver_now(app.worker()).await;
            println!(
                "reset {}: sessions ended; new invitation (also emailed):",
                invited.email
            );
            println!("{}", invited.link);
        }
    }
    Ok(())
}
