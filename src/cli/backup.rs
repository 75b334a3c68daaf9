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
