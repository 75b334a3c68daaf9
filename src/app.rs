//! One boot path for `serve`, the admin commands and the tests: open and migrate the database,
//! build the services and the mail worker ([`App::open`]; the CLI stops here), bind the
//! listener ([`App::bind`]), run the HTTP server and the mail and webhook workers, shut down
//! cleanly.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::Config;
use crate::flows::Services;
use crate::http::server::{self, Limits};
use crate::mail::transport::Transport;
use crate::mail::worker::Worker;
use crate::store::{self, Store, StoreError, migrations};

/// How often expired sessions and codes are swept away.
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(3600);

/// An opened customer area: database migrated, services and mail worker built, not serving.
pub struct App {
    services: Services,
    worker: Worker,
    webhook_worker: crate::webhooks::worker::Worker,
    transport: Transport,
    applied_migrations: Vec<migrations::Migration>,
}

/// A customer area bound to its address, not yet serving.
pub struct Bound {
    app: App,
    listener: TcpListener,
}

/// Opens the database and applies pending migrations (blocking; call off the executor).
pub fn open_store(config: &Config) -> anyhow::Result<(Store, Vec<migrations::Migration>)> {
    // Its error names the database already.
    let store = Store::open(&config.database)?;
    let conn = store.connection()?;
    let applied = migrations::apply(&conn.db()).context("cannot migrate the database")?;
    drop(conn);
    Ok((store, applied))
}

/// Opens and migrates the database ([`open_store`]) and, with `check_writes`, checks with a
/// write that it takes writes: the server does not start on a database it cannot write, and
/// says why in one line.
fn open_writable(
    config: &Config,
    check_writes: bool,
) -> anyhow::Result<(Store, Vec<migrations::Migration>)> {
    let path = &config.database.path;
    let opened = open_store(config).and_then(|(store, applied)| {
        if check_writes {
            store.check_writable()?;
        }
        Ok((store, applied))
    });
    opened.map_err(|e| {
        let stored = e
            .chain()
            .find_map(|cause| cause.downcast_ref::<StoreError>());
        let condition = match stored {
            Some(StoreError::Unwritable(condition)) => Some(*condition),
            Some(StoreError::NewerSchema { .. }) => None,
            // PostgreSQL says itself why it takes no writes, and has no file here to look at.
            _ if !config.database.url.is_empty() => None,
            // Opening a database on a full or read-only file system fails in many ways (the
            // WAL index cannot be made, the file opens read-only): the file system says why.
            _ => store::health::diagnose(path),
        };
        match condition {
            Some(condition) => {
                anyhow::anyhow!(
                    "the database {} cannot be written: {condition}",
                    path.display()
                )
            }
            None => e,
        }
    })
}

impl App {
    /// Opens and migrates the database and builds the services and the mail worker.
    pub async fn open(config: Config) -> anyhow::Result<App> {
        App::open_checking(config, false).await
    }

    /// [`App::open`], checking with `check_writes` that the database takes writes.
    async fn open_checking(config: Config, check_writes: bool) -> anyhow::Result<App> {
        let opened = config.clone();
        let (store, applied_migrations) =
            tokio::task::spawn_blocking(move || open_writable(&opened, check_writes)).await??;
        let transport = Transport::from_config(&config);
        let services = Services::new(config, store)?;
        let worker = services.mail_worker(transport.clone());
        let webhook_worker = services.webhook_worker()?;
        Ok(App {
            services,
            worker,
            webhook_worker,
            transport,
            applied_migrations,
        })
    }

    /// Opens the app ([`App::open`]), checks that its database takes writes (a server must
    /// not start on one it cannot write) and binds `server.bind` ([`App::bind`]).
    pub async fn build(config: Config) -> anyhow::Result<Bound> {
        App::open_checking(config, true).await?.bind().await
    }

    /// Binds `server.bind` (port 0 picks a free one).
    pub async fn bind(self) -> anyhow::Result<Bound> {
        let bind = self.services.config().bind_addr()?;
        let listener = TcpListener::bind(bind)
            .await
            .with_context(|| format!("cannot listen on {bind}"))?;
        Ok(Bound {
            app: self,
            listener,
        })
    }

    pub fn services(&self) -> &Services {
        &self.services
    }

    /// The mail worker, for a command that delivers what it queued at once.
    pub fn worker(&self) -> &Worker {
        &self.worker
    }

    /// Where mail goes, in words.
    pub fn mail_destination(&self) -> String {
        self.transport.describe()
    }

    pub fn applied_migrations(&self) -> &[migrations::Migration] {
        &self.applied_migrations
    }
}

impl Bound {
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    pub fn services(&self) -> &Services {
        &self.app.services
    }

    /// Where mail goes, in words.
    pub fn mail_destination(&self) -> String {
        self.app.mail_destination()
    }

    pub fn applied_migrations(&self) -> &[migrations::Migration] {
        self.app.applied_migrations()
    }

    /// Serves until `shutdown` completes; then stops accepting, lets requests in flight and the
    /// work they left behind finish, stops the mail worker and checkpoints the WAL.
    pub async fn run(self, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
        let Bound { app, listener } = self;
        let services = app.services;
        let (stop, stopped) = watch::channel(false);
        let worker = tokio::spawn(app.worker.run(stopped.clone()));
        let webhook_worker = tokio::spawn(app.webhook_worker.run(stopped.clone()));
        let housekeeping = tokio::spawn(housekeeping(services.clone(), stopped));
        let (stop_resolver, resolver_stopped) = watch::channel(false);
        let resolver = tokio::spawn(crate::flows::resolve_until(
            services.clone(),
            resolver_stopped,
        ));
        let config = &services.config().server;
        let limits = Limits {
            max_connections: config.max_connections.get(),
            header_timeout: Duration::from_secs(config.header_timeout_seconds),
            body_timeout: Duration::from_secs(config.body_timeout_seconds.get()),
            shutdown_grace: Duration::from_secs(config.shutdown_grace_seconds),
        };
        let routes = crate::http::routes(services.clone());
        server::serve(
            listener,
            routes,
            limits,
            services.metrics().clone(),
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
        if !services.operations().finish_background_work(grace).await {
            tracing::warn!("background work was still running at the end of the grace period");
        }
        let _ = stop.send(true);
        let _ = worker.await;
        let _ = webhook_worker.await;
        let _ = housekeeping.await;
        services.operations().checkpoint().await?;
        tracing::info!("shut down cleanly");
        Ok(())
    }

    /// Runs in the background (tests): the server stops when the handle is dropped or stopped.
    pub fn spawn(self) -> Running {
        let addr = self.local_addr();
        let services = self.services().clone();
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(self.run(async move {
            let _ = stopped.wait_for(|s| *s).await;
        }));
        Running {
            addr,
            services,
            stop,
            task: Some(task),
        }
    }
}

/// A customer area running in the background.
pub struct Running {
    pub addr: SocketAddr,
    /// The services it runs on, for tests that look inside (the throttles' clock, the hasher).
    pub services: Services,
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

/// Sweeps expired rows every [`HOUSEKEEPING_EVERY`], until `stopped`. Instances sharing a
/// PostgreSQL database sweep one at a time: the one holding the `housekeeping` lease, renewed
/// at every round, taken over by another once it has run out (a minute after its holder's
/// last round).
async fn housekeeping(services: Services, mut stopped: watch::Receiver<bool>) {
    let shared = services.store().dialect() == crate::store::sql::Dialect::Postgres;
    let holder = crate::store::leases::new_holder();
    let lease = (HOUSEKEEPING_EVERY + Duration::from_secs(60)).as_millis() as i64;
    loop {
        let ours = !shared || {
            let holder = holder.clone();
            let now = crate::store::webhooks::now_ms();
            services
                .store()
                .write(move |tx| {
                    crate::store::leases::claim(tx, "housekeeping", &holder, now, now + lease)
                })
                .await
                .unwrap_or(false)
        };
        if ours {
            match services.operations().sweep_expired().await {
                Ok(n) if n > 0 => {
                    tracing::info!(removed = n, "housekeeping removed expired rows")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "housekeeping failed"),
            }
        }
        let stop = tokio::select! {
            _ = tokio::time::sleep(HOUSEKEEPING_EVERY) => false,
            _ = stopped.wait_for(|s| *s) => true,
        };
        if stop {
            // Given back, so that another instance (or this one restarted) sweeps next.
            if shared {
                let _ = services
                    .store()
                    .write(move |tx| crate::store::leases::release(tx, "housekeeping", &holder))
                    .await;
            }
            return;
        }
    }
}
