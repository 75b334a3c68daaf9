//! `customer-area customers import FILE.csv`: every row checked, every problem reported with its
//! line and column, then all rows imported in one transaction or none, with a progress bar on a
//! terminal.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::print_json;
use crate::flows::{ImportError, ImportFile, ImportOptions, ImportProgress, Services};

/// `customers import FILE.csv`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// A CSV file with a header row: email, name, and optionally id, identifier, created_at,
    /// status, password_hash, language, subscriptions (list ids separated by ';'),
    /// subscribed_at, consent_source and any other profile field, by its key in the customer
    /// object (phone, mobile, address, ...). See docs/moving-in.md.
    file: PathBuf,
    /// Queue the activation email of every new customer who stays pending (the rows without a
    /// password_hash); the server's mail worker sends them. Rows with a hash get no email.
    #[arg(long, alias = "send-activation")]
    invite: bool,
    /// Check every row against the file and the database, report, and import nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the outcome (created customers, or every problem) as JSON.
    #[arg(long)]
    json: bool,
}

/// Checks every row, reports every problem with its line, and imports all rows or none.
pub async fn run(services: &Services, args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let file = ImportFile::open(&args.file)
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let bar = progress_bar(args.json);
    let ticker = bar.clone();
    let options = ImportOptions {
        invite: args.invite,
        dry_run: args.dry_run,
        list_customers: args.json,
    };
    let outcome = services
        .imports()
        .import_customers(file, options, move |progress| match progress {
            ImportProgress::Checked(rows) => {
                ticker.set_message("checking");
                ticker.set_position(rows);
            }
            ImportProgress::Imported { done, of } => {
                if ticker.length() != Some(of) {
                    ticker.set_length(of);
                    ticker.set_message("importing");
                    ticker.reset_eta();
                }
                ticker.set_position(done);
            }
        })
        .await;
    bar.finish_and_clear();
    let summary = match outcome {
        Ok(summary) => summary,
        Err(ImportError::Invalid { problems, .. }) => {
            if args.json {
                print_json(&serde_json::json!({ "imported": 0, "problems": problems }))?;
            } else {
                for problem in &problems {
                    eprintln!("{problem}");
                }
            }
            bail!(
                "{}: {} problem(s) found; nothing was imported",
                args.file.display(),
                problems.len()
            );
        }
        Err(ImportError::Unreadable(e)) => bail!("cannot read {}: {e}", args.file.display()),
        Err(ImportError::Failed(e)) => {
            return Err(anyhow::Error::new(e).context("the import failed; nothing was imported"));
        }
    };
    if summary.dry_run {
        if args.json {
            return print_json(&serde_json::json!({
                "dry_run": true,
                "would_import": summary.created,
                "active": summary.active,
                "activations": summary.activations_queued,
                "subscriptions": summary.subscriptions,
                "problems": [],
            }));
        }
        println!(
            "{}: no problems; {} customer(s) would be imported ({} active), nothing was imported",
            args.file.display(),
            summary.created,
            summary.active
        );
        return Ok(());
    }
    if args.json {
        return print_json(&serde_json::json!({
            "imported": summary.created,
            "active": summary.active,
            "activations_queued": summary.activations_queued,
            "subscriptions": summary.subscriptions,
            "customers": summary.customers,
        }));
    }
    println!(
        "imported {} customer(s) from {} in {:.1} s",
        summary.created,
        args.file.display(),
        started.elapsed().as_secs_f64()
    );
    println!(
        "{} active (moved in with a password or as active), {} pending",
        summary.active,
        summary.created - summary.active
    );
    println!("{} subscription(s) recorded", summary.subscriptions);
    if summary.activations_queued > 0 {
        println!(
            "{} activation email(s) queued; `customer-area serve` sends them (see `customer-area outbox list`)",
            summary.activations_queued
        );
    }
    Ok(())
}

/// A progress bar on a terminal; nothing when stdout is a pipe or a file, or with `--json`.
/// It counts the rows checked (the first reading of the file), then those imported of all.
fn progress_bar(json: bool) -> ProgressBar {
    if json || !std::io::stdout().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
    if let Ok(style) =
        ProgressStyle::with_template("{msg:>9} {wide_bar} {human_pos}/{human_len} rows, {eta} left")
    {
        bar.set_style(style);
    }
    bar.set_message("checking");
    bar
}
