use std::io::Write;

use crate::app::App;
use crate::config::Loaded;

/// `customer-area serve`: runs until SIGINT or SIGTERM.
pub async fn run(loaded: Loaded) -> anyhow::Result<()> {
    let source = super::describe_source(&loaded);
    let database = loaded.config.database.path.clone();
    let app = App::build(loaded.config).await?;
    let mut banner = String::new();
    for migration in app.applied_migrations() {
        banner += &format!(
            "applied migration {} ({})\n",
            migration.version, migration.name
        );
    }
    banner += &format!(
        "customer-area {} using {source}\n",
        env!("CARGO_PKG_VERSION")
    );
    banner += &format!("  listening on  http://{}\n", app.local_addr());
    banner += &format!("  database      {}\n", database.display());
    banner += &format!("  mail goes to  {}\n", app.mail_destination());
    // A closed stdout (`serve | head`, a supervisor that drops it) must not stop the server.
    let mut stdout = std::io::stdout();
    let _ = stdout
        .write_all(banner.as_bytes())
        .and_then(|()| stdout.flush());
    app.run(shutdown_signal()).await
}

/// Completes on SIGINT (Ctrl-C) or SIGTERM.
async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
                .expect("a SIGTERM handler");
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
    tracing::info!("shutdown signal received; finishing requests in flight");
}
