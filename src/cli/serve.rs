//! `customer-area serve`: the server, until SIGINT or SIGTERM, then a clean shutdown.

use std::io::Write;

use crate::app::App;
use crate::config::{Loaded, MailTransport};

/// `customer-area serve`: runs until SIGINT or SIGTERM.
pub async fn run(loaded: Loaded) -> anyhow::Result<()> {
    let source = super::describe_source(&loaded);
    let database = loaded.config.database.path.clone();
    // Handlers first: a SIGTERM arriving right after start must shut down cleanly too.
    let shutdown = shutdown_signal()?;
    // Before anything touches the database: two servers on one file would double every
    // throttle and race each other's housekeeping. Held until the server has shut down.
    // On PostgreSQL several servers share the database by design ([`crate::store::pg`]).
    let postgres = !loaded.config.database.url.is_empty();
    let database_path = database.clone();
    let _lock = if postgres {
        None
    } else {
        Some(
            tokio::task::spawn_blocking(move || crate::store::lock::acquire(&database_path))
                .await??,
        )
    };
    // Said in the banner, so that a typo in database.path is noticed at once rather than as a
    // shop whose customers have all vanished.
    let created = !postgres && !database.exists();
    let app = App::build(loaded.config).await?;
    let database = match app.services().store().postgres_name() {
        Some(name) => name.to_owned(),
        None => database.display().to_string(),
    };
    let mut banner = String::new();
    if created {
        banner += &format!("created new database at {database}\n");
    }
    for migration in app.applied_migrations() {
        banner += &format!(
            "applied migration {} ({})\n",
            migration.version, migration.name
        );
    }
    banner += &format!("customer-area {} using {source}\n", crate::VERSION);
    banner += &format!("  listening on  http://{}\n", app.local_addr());
    banner += &format!("  database      {database}\n");
    banner += &format!("  mail goes to  {}\n", app.mail_destination());
    let config = app.services().config();
    if config.mail.transport == MailTransport::File && !app.local_addr().ip().is_loopback() {
        // Files are for a laptop demo: a reachable server with them has a demo mailbox (for
        // local browsers only) and sends no customer a single email.
        tracing::warn!(
            "mail goes to files in {} while the server listens on {}, beyond this machine: \
             no customer gets an email; set mail.transport = \"smtp\" for a real shop",
            config.mail.dir.display(),
            app.local_addr()
        );
    }
    // A closed stdout (`serve | head`, a supervisor that drops it) must not stop the server.
    let mut stdout = std::io::stdout();
    let _ = stdout
        .write_all(banner.as_bytes())
        .and_then(|()| stdout.flush());
    app.run(shutdown).await
}

/// A future that completes on SIGINT (Ctrl-C) or SIGTERM; the handlers are installed at once.
fn shutdown_signal() -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
        tracing::info!("shutdown signal received; finishing requests in flight");
    })
}
