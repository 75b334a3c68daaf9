//! `customer-area db copy --to postgres://...`: moves a SQLite customer area to PostgreSQL.

use anyhow::{Context, bail};

use super::Loaded;
use crate::config::Secret;
use crate::store::{Store, copy};

#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Copy this SQLite database (running or stopped) into an empty PostgreSQL database,
    /// check that every table has as many rows there, and say how to switch over.
    Copy {
        /// The PostgreSQL database to copy into, e.g.
        /// postgres://customer_area:secret@db.example.com/customer_area?sslmode=require;
        /// it must exist, and hold none of this program's rows.
        #[arg(long, value_name = "URL")]
        to: String,
    },
}

/// `customer-area db ...`.
pub async fn run(loaded: Loaded, command: Command) -> anyhow::Result<()> {
    let Command::Copy { to } = command;
    if !loaded.config.database.url.is_empty() {
        bail!(
            "this customer area already runs on PostgreSQL (database.url); there is nothing to copy"
        );
    }
    if !(to.starts_with("postgres://") || to.starts_with("postgresql://")) {
        bail!("--to must be a PostgreSQL URL (postgres://user:password@host/database)");
    }
    let source = loaded.config.database.path.clone();
    if !source.exists() {
        bail!("there is no database at {}", source.display());
    }
    let mut target = loaded.config.database.clone();
    target.url = Secret::new(to);
    // The snapshot lies beside the database (as large as it), and goes when the copy is done.
    let scratch = source.with_extension("copy-snapshot");
    let snapshot = scratch.clone();
    let copied = tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
        let store = Store::open(&target)?;
        let conn = store.connection()?;
        let copied = copy::sqlite_to_postgres(&source, &snapshot, &conn.db());
        let _ = std::fs::remove_file(&snapshot);
        Ok((
            copied?,
            store.postgres_name().unwrap_or_default().to_owned(),
        ))
    })
    .await
    .context("the copy stopped")?;
    let _ = std::fs::remove_file(&scratch);
    let (copied, name) = copied?;
    println!(
        "copied {} into {name}; every table has as many rows there:",
        loaded.config.database.path.display()
    );
    for table in &copied {
        println!("  {:<20} {:>10}", table.table, table.rows);
    }
    println!(
        "\nTo switch over (a copy of a running server misses what it writes from now on: for \
         the final move, stop it first, then copy into a fresh database):\n  \
         1. systemctl stop customer-area\n  \
         2. set the URL in /etc/customer-area/customer-area.toml, [database] url = \"postgres://...\" \
         (or CUSTOMER_AREA_DATABASE_URL in the service's environment)\n  \
         3. systemctl start customer-area\n\
         Keep {} as it is until the shop runs well on PostgreSQL: it is the way back.",
        loaded.config.database.path.display()
    );
    Ok(())
}
