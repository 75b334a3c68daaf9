//! `customer-area backup FILE`: a checked copy of the live SQLite database; on PostgreSQL, the
//! `pg_dump` commands to use instead.

use std::path::PathBuf;

use anyhow::bail;

use super::Loaded;
use crate::store::backup;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to write the copy.
    file: PathBuf,
    /// Replace FILE if it exists.
    #[arg(long)]
    force: bool,
}

/// `customer-area backup FILE`: a consistent copy of the database, safe while `serve` runs.
pub async fn run(loaded: Loaded, args: Args) -> anyhow::Result<()> {
    if !loaded.config.database.url.is_empty() {
        bail!("{}", postgres_backup_advice(&args.file));
    }
    let source = loaded.config.database.path.clone();
    if !source.exists() {
        bail!("there is no database at {}", source.display());
    }
    if args.file.exists() && !args.force {
        bail!("{} exists; pass --force to replace it", args.file.display());
    }
    let target = args.file.clone();
    let report = tokio::task::spawn_blocking(move || backup::to_file(&source, &target)).await??;
    println!(
        "backed up {} to {} ({} pages, {} customers; quick check ok)",
        loaded.config.database.path.display(),
        args.file.display(),
        report.pages,
        report.customers
    );
    Ok(())
}

/// What to do instead on PostgreSQL: its own tools copy a live database consistently, and a
/// copy of the customer area's tables made here would be neither complete (roles, settings)
/// nor restorable with them.
fn postgres_backup_advice(file: &std::path::Path) -> String {
    format!(
        "the database is PostgreSQL (database.url): back it up with PostgreSQL's own tools, \
         which copy a live database consistently:\n  \
         pg_dump --format=custom --file={file} \"$CUSTOMER_AREA_DATABASE_URL\"\n\
         and restore such a copy into an empty database with\n  \
         pg_restore --no-owner --dbname=\"$CUSTOMER_AREA_DATABASE_URL\" {file}\n\
         (for a standby or point-in-time recovery, see PostgreSQL's continuous archiving)",
        file = file.display()
    )
}
