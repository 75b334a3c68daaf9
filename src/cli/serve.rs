use crate::app::App;
use crate::config::Loaded;

/// `customer-area serve`: runs until SIGINT or SIGTERM.
pub async fn run(loaded: Loaded) -> anyhow::Result<()> {
    let source = super::describe_source(&loaded);
    let database = loaded.config.database.path.clone();
    let app = App::build(loaded.config).await?;
    for migration in app.applied_migrations() {
        println!(
            "applied migration {} ({})",
            migration.version, migration.name
        );
    }
    println!("customer-area {} using {source}", env!("CARGO_PKG_VERSION"));
    println!("  listening on  http://{}", app.local_addr());
    println!("  database      {}", database.display());
    println!("  mail goes to  {}", app.mail_destination());
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
