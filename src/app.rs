//! One boot path for `serve` and the tests: open and migrate the database, build the
//! customer area, bind the listener, run the HTTP server and the mail worker, shut down cleanly.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::flows::Area;
use crate::http::server::{self, Limits};
use crate::mail::transport::Transport;
use crate::mail::worker::Worker;
use crate::store::{self, Store, migrations};

/// How often expired sessions and codes are swept away.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(3600);
/// How long the record of a sent email (its recipient, kind and time) is kept.
const KEEP_SENT_EMAILS: Duration = Duration::from_secs(30 * 86_400);

/// A built, bound, not yet running customer area.
pub struct App {
    area: Area,
    listener: TcpListener,
    worker: Worker,
    transport: Transport,
    applied_migrations: Vec<migrations::Migration>,
}

/// Opens the database and applies pending migrations (blocking; call off the executor).
pub fn open_store(config: &Config) -> anyhow::Result<(Store, Vec<migrations::Migration>)> {
    let store = Store::open(&config.database)
        .with_context(|| format!("cannot open database {}", config.database.path.display()))?;
    let mut conn = store.connection()?;
    let applied = migrations::apply(&mut conn).context("cannot migrate the database")?;
    drop(conn);
    Ok((store, applied))
}

impl App {
    /// Migrates the database, builds the area and binds `server.bind` (port 0 picks a free one).
    pub async fn build(config: Config) -> anyhow::Result<App> {
        let bind = config.bind_addr()?;
        let opened = config.clone();
        let (store, applied_migrations) =
            tokio::task::spawn_blocking(move || open_store(&opened)).await??;
        let transport = Transport::from_config(&config);
        let area = Area::new(config, store.clone())?;
        let worker = Worker::new(store, transport.clone(), &area.mailer, &area.config.mail);
        let listener = TcpListener::bind(bind)
            .await
            .with_context(|| format!("cannot listen on {bind}"))?;
        Ok(App {
            area,
            listener,
            worker,
            transport,
            applied_migrations,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn area(&self) -> &Area {
        &self.area
    }

    /// Where mail goes, in words.
    pub fn mail_destination(&self) -> String {
        self.transport.describe()
    }

    pub fn applied_migrations(&self) -> &[migrations::Migration] {
        &self.applied_migrations
    }

    /// Serves until `shutdown` completes; then stops accepting, lets requests in flight and the
    /// work they left behind finish, stops the mail worker and checkpoints the WAL.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let (stop, stopped) = watch::channel(false);
        let worker = tokio::spawn(self.worker.run(stopped.clone()));
        let housekeeping = tokio::spawn(housekeeping(self.area.clone(), stopped));
        let (stop_resolver, resolver_stopped) = watch::channel(false);
        let resolver = tokio::spawn(crate::flows::resolve_until(
            self.area.clone(),
            resolver_stopped,
        ));
        let config = &self.area.config.server;
        let limits = Limits {
            max_connections: config.max_connections,
            header_timeout: Duration::from_secs(config.header_timeout_seconds),
            body_timeout: Duration::from_secs(config.body_timeout_seconds),
            shutdown_grace: Duration::from_secs(config.shutdown_grace_seconds),
        };
        let routes = crate::http::routes(self.area.clone());
        server::serve(
            self.listener,
            routes,
            limits,
            self.area.metrics.clone(),
            shutdown,
        )
        .await;
        // Stored reset and sign-up requests are resolved before the mail worker stops, and
        // re-hashes started by logins are let finish.
        let _ = stop_resolver.send(true);
        let grace = Duration::from_secs(config.shutdown_grace_seconds);
        if tokio::time::timeout(grace, resolver).await.is_err() {
            tracing::warn!(
                "stored requests were still being resolved at the end of the grace period"
            );
        }
        self.area.background.close();
        if tokio::time::timeout(grace, self.area.background.wait())
            .await
            .is_err()
        {
            tracing::warn!("background work was still running at the end of the grace period");
        }
        let _ = stop.send(true);
        let _ = worker.await;
        let _ = housekeeping.await;
        self.area.store.after_writes(store::checkpoint).await?;
        tracing::info!("shut down cleanly");
        Ok(())
    }

    /// Runs in the background (tests): the server stops when the handle is dropped or stopped.
    pub fn spawn(self) -> Running {
        let addr = self.local_addr();
        let area = self.area.clone();
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(self.run(async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
        Running {
            addr,
            area,
            stop,
            task: Some(task),
        }
    }
}

/// A customer area running in the background.
pub struct Running {
    pub addr: SocketAddr,
    pub area: Area,
    stop: watch::Sender<bool>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

impl Running {
    /// Shuts down gracefully and waits until it is done.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        match self.task.take() {
            Some(task) => task.await?,
            None => Ok(()),
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// Sweeps expired sessions and codes, sent emails older than [`KEEP_SENT_EMAILS`] (their
/// recipients are personal data). The throttles need no sweeping: their tables are bounded.
async fn housekeeping(area: Area, mut stopped: watch::Receiver<bool>) {
    loop {
        let swept = area
            .store
            .write(|tx| {
                let before = store::now() - KEEP_SENT_EMAILS.as_secs() as i64;
                Ok(store::sessions::purge_expired(tx)?
                    + store::codes::purge_expired(tx)?
                    + store::requests::purge_allowance(tx)?
                    + store::outbox::purge_sent_before(tx, before)?)
            })
            .await;
        match swept {
            Ok(n) if n > 0 => tracing::info!(removed = n, "housekeeping removed expired rows"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
        }
        tokio::select! {
            _ = tokio::time::sleep(HOUSEKEEPING_EVERY) => {}
            _ = stopped.wait_for(|s| *s) => return,
        }
    }
}
