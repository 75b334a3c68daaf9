//! `customer-area migrate [--status]`: apply the schema migrations, or list which a database
//! has.

use crate::config::Loaded;
use crate::domain::format_time;
use crate::store::{Store, migrations};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Only report which migrations are applied and which are pending.
    #[arg(long)]
    status: bool,
}

/// `customer-area migrate [--status]`.
pub async fn run(loaded: Loaded, args: Args) -> anyhow::Result<()> {
    tokio::task::spawn_blocking(move || {
        let store = Store::open(&loaded.config.database)?;
        let path = store.postgres_name().map_or_else(
            || loaded.config.database.path.display().to_string(),
            str::to_owned,
        );
        let pooled = store.connection()?;
        let conn = pooled.db();
        if args.status {
            println!("database {}", path);
            for state in migrations::status(&conn)? {
                match state.applied_at {
                    Some(at) => println!(
                        "  {:>3} {:<50} applied {}",
                        state.version,
                        state.name,
                        format_time(at)
                    ),
                    None => println!("  {:>3} {:<50} pending", state.version, state.name),
                }
            }
            for state in migrations::unknown(&conn)? {
                println!(
                    "  {:>3} {:<50} applied {} by a newer customer-area",
                    state.version,
                    state.name,
                    state.applied_at.map_or_else(String::new, format_time)
                );
            }
            // The same words `serve` refuses such a database with.
            if let Some(refusal) = migrations::newer_schema(&conn)? {
                return Err(refusal.into());
            }
            return Ok(());
        }
        let applied = migrations::apply(&conn)?;
        if applied.is_empty() {
            println!("database {} is up to date; nothing to do", path);
        }
        for migration in applied {
            println!(
                "applied migration {} ({}) to {}",
                migration.version, migration.name, path
            );
        }
        Ok(())
    })
    .await?
}
