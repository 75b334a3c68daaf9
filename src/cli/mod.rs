//! The command line: `serve`, `migrate`, and the retailer's admin commands.

mod backup;
mod customers;
mod db;
mod docs;
mod import;
mod inbound;
mod mail;
mod migrate;
mod outbox;
mod owner;
mod serve;
mod staff;
mod subscriptions;
mod webhooks;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{Config, Loaded};

#[derive(Debug, Parser)]
#[command(
    name = "customer-area",
    version = crate::VERSION,
    about = "A self-contained customer area for a retailer's web shop."
)]
pub struct Cli {
    /// Config file (default: ./customer-area.toml when it exists, else the built-in defaults).
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the HTTP server (applies pending migrations first).
    Serve,
    /// Apply pending database migrations and say what was done.
    Migrate(migrate::Args),
    /// Create, list, show, delete and import customers.
    #[command(subcommand)]
    Customers(customers::Command),
    /// Write a consistent copy of the database to FILE (safe while the server runs).
    Backup(backup::Args),
    /// Move the database: `db copy --to postgres://...` copies a SQLite database into
    /// PostgreSQL.
    #[command(subcommand)]
    Db(db::Command),
    /// Add, list and remove the subscription lists customers may opt in to; export members.
    #[command(subcommand)]
    Subscriptions(subscriptions::Command),
    /// Add, list, remove and reset the retailer's staff, who use the console.
    #[command(subcommand)]
    Staff(staff::Command),
    /// List queued, sent and failed emails, and retry failed ones.
    #[command(subcommand)]
    Outbox(outbox::Command),
    /// List the events queued for the shop's webhooks, retry failed ones, ping an endpoint.
    #[command(subcommand)]
    Webhooks(webhooks::Command),
    /// Check the mail settings: `mail test --to ADDRESS`.
    #[command(subcommand)]
    Mail(mail::Command),
    /// Print the OpenAPI document of the HTTP API (the one `GET /openapi.json` serves).
    Openapi,
    /// Write the man pages and shell completions into DIR (used to build the package).
    #[command(hide = true)]
    GenerateDocs(docs::Args),
}

impl Cli {
    /// Runs the chosen command; the exit code says whether it worked.
    pub fn run(self) -> ExitCode {
        if let Command::Openapi = self.command {
            // Needs no config: the document follows from the code alone.
            print!("{}", crate::http::openapi::document_text());
            return ExitCode::SUCCESS;
        }
        if let Command::GenerateDocs(args) = self.command {
            // Needs no config either: the pages follow from the clap definitions.
            return match docs::write(&args) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("customer-area: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
        // Everything from here on may create the database, its WAL and shared memory (SQLite
        // makes those itself), the lock, backups, emails as files, exports, and their folders:
        // readable by this user alone (files 0600, folders 0700) whatever umask was inherited.
        rustix::process::umask(rustix::fs::Mode::RWXG | rustix::fs::Mode::RWXO);
        let loaded = match Config::load(self.config.as_deref()) {
            Ok(loaded) => loaded,
            Err(e) => {
                eprintln!("customer-area: {e}");
                return ExitCode::from(2);
            }
        };
        let log = crate::telemetry::init(&loaded.config.log);
        for warning in loaded.config.warnings() {
            tracing::warn!("{warning}");
        }
        for name in &loaded.unknown_env {
            tracing::warn!("environment variable {name} matches no config key; ignored");
        }
        // The server runs as the database's owner by construction (the service's user); an
        // admin command run as anyone else would leave files the server cannot write.
        if !matches!(self.command, Command::Serve)
            && loaded.config.database.url.is_empty()
            && let Err(e) = owner::check(&loaded.config.database.path)
        {
            eprintln!("customer-area: {e:#}");
            return ExitCode::FAILURE;
        }
        let runtime = tokio::runtime::Runtime::new().expect("a tokio runtime");
        let result = runtime.block_on(async {
            match self.command {
                Command::Serve => serve::run(loaded).await,
                Command::Migrate(args) => migrate::run(loaded, args).await,
                Command::Customers(command) => customers::run(loaded, command).await,
                Command::Subscriptions(command) => subscriptions::run(loaded, command).await,
                Command::Staff(command) => staff::run(loaded, command).await,
                Command::Outbox(command) => outbox::run(loaded, command).await,
                Command::Webhooks(command) => webhooks::run(loaded, command).await,
                Command::Backup(args) => backup::run(loaded, args).await,
                Command::Db(command) => db::run(loaded, command).await,
                Command::Mail(command) => mail::run(loaded, command).await,
                Command::Openapi | Command::GenerateDocs(_) => {
                    unreachable!("answered before the config is loaded")
                }
            }
        });
        // Every log line is out before the last word is said.
        drop(log);
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("customer-area: {e:#}");
                e.downcast_ref::<Exit>()
                    .map_or(ExitCode::FAILURE, |exit| ExitCode::from(exit.code))
            }
        }
    }
}

/// A failure with an exit status of its own, for a command whose caller acts on the status
/// (a mail server's pipe retries on 75 and on nothing else).
#[derive(Debug)]
pub struct Exit {
    code: u8,
    message: String,
}

impl Exit {
    fn new(code: u8, message: impl Into<String>) -> Exit {
        Exit {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Exit {}

/// The config file in use, in words.
fn describe_source(loaded: &Loaded) -> String {
    match &loaded.file {
        Some(path) => format!("config {}", path.display()),
        None => "built-in default config (no customer-area.toml)".to_owned(),
    }
}

/// Prints `value` as pretty JSON.
fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The app an admin command works on: opened the way `serve` opens it, but not bound.
async fn open_app(loaded: &Loaded) -> anyhow::Result<crate::app::App> {
    crate::app::App::open(loaded.config.clone()).await
}

/// Delivers what an admin command queued, and says so; mail that cannot go out now stays
/// queued for the server's worker.
async fn deliver_now(worker: &crate::mail::worker::Worker) {
    match worker.deliver_due().await {
        Ok(pass) if pass.retried + pass.failed == 0 => {}
        Ok(pass) => eprintln!(
            "note: {} email(s) could not be delivered now and stay queued; see `customer-area outbox list`",
            pass.retried + pass.failed
        ),
        Err(e) => eprintln!("note: emails stay queued ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    /// Every command and every flag or argument the retailer can type says what it is for in
    /// `--help` (and so in the man pages generated from the same definitions).
    #[test]
    fn every_command_and_argument_has_a_help_line() {
        fn walk(command: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", command.get_name());
            for arg in command.get_arguments() {
                let id = arg.get_id().as_str();
                if matches!(id, "help" | "version") || arg.is_hide_set() {
                    continue;
                }
                if arg.get_help().is_none() {
                    missing.push(format!("{path} <{id}>"));
                }
            }
            for sub in command.get_subcommands() {
                if sub.is_hide_set() || sub.get_name() == "help" {
                    continue;
                }
                if sub.get_about().is_none() {
                    missing.push(format!("{path} {}", sub.get_name()));
                }
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&super::Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "without a help line: {missing:#?}");
    }
}
