//! Test harness: boots the real app (same path as `serve`) on a loopback port with a
//! temporary database file, delivering over SMTP to a sink running in the test process,
//! and reads the emails the sink received.
#![allow(dead_code)]

pub mod binary;
pub mod browser;
pub mod db;
pub mod passkey;
pub mod receiver;
pub mod smtp;
pub mod staff;

use std::future::Future;
use std::num::NonZero;
use std::path::PathBuf;
use std::time::Duration;

use customer_area::app::{App, Running};
use customer_area::config::{Config, MailTransport, Tls};
use customer_area::domain::{EmailAddress, Language};
use customer_area::flows::{Created, NewAccount};
use customer_area::store::sql::params;
pub use db::TestDb;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
pub use smtp::SmtpSink;

/// How long to wait for work the app does in the background (mail delivery, queued writes),
/// generous for a loaded machine: only a failing test waits that long.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Polls `check` until it answers `Some`, and returns that; fails the test naming `what` once
/// `deadline` has passed. The one way tests wait for a condition: never a fixed sleep.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let give_up = tokio::time::Instant::now() + deadline;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "gave up after {deadline:?} waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Waits up to `deadline` until `done` holds (a synchronous check, such as a sink's count).
pub async fn wait_until(deadline: Duration, what: &str, mut done: impl FnMut() -> bool) {
    eventually(deadline, what, || std::future::ready(done().then_some(()))).await
}

/// The password test customers get.
pub const PASSWORD: &str = "correct horse battery";

/// A running customer area and an HTTP client for it.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub running: Running,
    pub config: Config,
    pub dir: tempfile::TempDir,
    pub smtp: SmtpSink,
}

/// The PostgreSQL server the suite runs against instead of SQLite, when
/// `CUSTOMER_AREA_TEST_POSTGRES` names one (a URL whose user may create databases; `.ci/postgres`
/// starts such a server): each test app then gets a fresh database of its own there.
pub fn postgres_server() -> Option<String> {
    std::env::var("CUSTOMER_AREA_TEST_POSTGRES")
        .ok()
        .filter(|url| !url.is_empty())
}

/// Whether the suite runs against PostgreSQL ([`postgres_server`]).
pub fn on_postgres() -> bool {
    postgres_server().is_some()
}

/// Skips the rest of a test that checks what only the SQLite store has (its file, its WAL,
/// its backup), saying so, when the suite runs against PostgreSQL.
#[macro_export]
macro_rules! sqlite_only {
    ($why:literal) => {
        if $crate::common::on_postgres() {
            eprintln!("SKIPPED on PostgreSQL: {}", $why);
            return;
        }
    };
}

/// The PostgreSQL server for a test that needs one whatever the suite runs on (several
/// instances on one database, a copy from SQLite): [`postgres_server`], or `None` after a loud
/// `SKIPPED` banner. `.ci/run` runs the suite a second time on PostgreSQL, where these run.
pub fn postgres_or_skip() -> Option<String> {
    let server = postgres_server();
    if server.is_none() {
        use std::io::Write;
        // Straight to stderr: the test harness would hide eprintln! of a passing test.
        let _ = writeln!(
            std::io::stderr(),
            "\n=================== SKIPPED: PostgreSQL test ===================\n\
             {} needs PostgreSQL and checked nothing: CUSTOMER_AREA_TEST_POSTGRES is not set.\n\
             Run the PostgreSQL suite: url=$(.ci/postgres) && CUSTOMER_AREA_TEST_POSTGRES=$url cargo test --test api\n\
             ================================================================\n",
            std::thread::current().name().unwrap_or("this test")
        );
    }
    server
}

/// A new, empty database on the PostgreSQL server `server`; answers its URL.
pub fn fresh_postgres_database(server: &str) -> String {
    let mut bytes = [0u8; 8];
    customer_area::random::random_bytes(&mut bytes);
    let name = format!("ca_test_{:016x}", u64::from_le_bytes(bytes));
    let admin = server.to_owned();
    let create = format!("CREATE DATABASE {name}");
    // The blocking client runs its own runtime: on a thread of its own, not the test's.
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&admin, postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot reach the test PostgreSQL at {admin}: {e}"));
        client.batch_execute(&create).unwrap();
    })
    .join()
    .expect("the test database is created");
    let mut url = url::Url::parse(server).expect("CUSTOMER_AREA_TEST_POSTGRES is a URL");
    url.set_path(&name);
    url.to_string()
}

/// A test config: loopback port 0, a fresh database file (or a fresh PostgreSQL database, see
/// [`postgres_server`]), plain SMTP to the sink on `smtp_port` with retries after one second,
/// cheap hashing.
pub fn test_config(dir: &std::path::Path, smtp_port: u16) -> Config {
    let mut config = Config::default();
    config.server.bind = "127.0.0.1:0".into();
    config.database.path = dir.join("customer-area.db");
    if let Some(server) = postgres_server() {
        config.database.url = customer_area::config::Secret::new(fresh_postgres_database(&server));
    }
    config.mail.transport = MailTransport::Smtp;
    config.mail.smtp.host = "127.0.0.1".into();
    config.mail.smtp.port = smtp_port;
    config.mail.smtp.tls = Tls::None;
    config.mail.retry_first_seconds = NonZero::new(1).unwrap();
    config.mail.retry_max_seconds = NonZero::new(2).unwrap();
    config.mail.dir = dir.join("outbox");
    config.mail.from = "Test Shop <shop@shop.example.com>".into();
    config.mail.shop_name = "Test Shop".into();
    config.auth.pbkdf2_iterations = 1000;
    config.links.retailer_url = "https://shop.example.com".into();
    config
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Boots the app with a test config adjusted by `adjust`.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let smtp = SmtpSink::start().await;
    let mut config = test_config(dir.path(), smtp.port());
    adjust(&mut config);
    boot(config, dir, smtp).await
}

/// A test app whose server has stopped: what it needs to boot again on the same database.
pub struct Stopped {
    pub config: Config,
    pub dir: tempfile::TempDir,
    pub smtp: SmtpSink,
}

impl Stopped {
    /// Boots the app again on the same config, directory (database, outbox) and SMTP sink.
    pub async fn boot(self) -> TestApp {
        boot(self.config, self.dir, self.smtp).await
    }
}

/// Boots the app on an existing directory, config and sink (e.g. a restart on the same database).
pub async fn boot(config: Config, dir: tempfile::TempDir, smtp: SmtpSink) -> TestApp {
    try_boot(config, dir, smtp)
        .await
        .map_err(|(e, ..)| e)
        .expect("the app builds")
}

/// Like [`boot`], but hands the directory and sink back with the error when the app does not
/// build (e.g. its port was taken meanwhile), so that the caller may try again.
pub async fn try_boot(
    config: Config,
    dir: tempfile::TempDir,
    smtp: SmtpSink,
) -> Result<TestApp, (anyhow::Error, tempfile::TempDir, SmtpSink)> {
    log_when_asked();
    let app = match App::build(config.clone()).await {
        Ok(app) => app,
        Err(e) => return Err((e, dir, smtp)),
    };
    let running = app.spawn();
    Ok(TestApp {
        base: format!("http://{}", running.addr),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
        running,
        config,
        dir,
        smtp,
    })
}

/// With `CUSTOMER_AREA_TEST_LOG` set (to a filter such as `warn`), what the apps log goes to
/// each test's output: the way to see why a test's request failed on the server.
fn log_when_asked() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    if let Ok(filter) = std::env::var("CUSTOMER_AREA_TEST_LOG") {
        ONCE.call_once(|| {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .with_test_writer()
                .try_init();
        });
    }
}

/// A parsed email as delivered.
#[derive(Clone, Debug)]
pub struct Email {
    /// The envelope's recipients (RCPT TO), empty for the file transport.
    pub envelope_to: Vec<String>,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub message_id: String,
    pub raw: Vec<u8>,
}

impl Email {
    pub fn parse(raw: &[u8]) -> Email {
        let message = mail_parser::MessageParser::default()
            .parse(raw)
            .expect("a parsable email");
        Email {
            envelope_to: Vec::new(),
            to: message
                .to()
                .and_then(|a| a.first())
                .and_then(|a| a.address())
                .unwrap_or_default()
                .to_owned(),
            subject: message.subject().unwrap_or_default().to_owned(),
            text: message.body_text(0).unwrap_or_default().into_owned(),
            message_id: message.message_id().unwrap_or_default().to_owned(),
            raw: raw.to_vec(),
        }
    }

    /// The first link in the text body that starts with `prefix`.
    pub fn link(&self, prefix: &str) -> String {
        self.text
            .split_whitespace()
            .find(|w| w.starts_with(prefix))
            .unwrap_or_else(|| panic!("no link starting with {prefix} in:\n{}", self.text))
            .to_owned()
    }

    /// The value of query parameter `name` in the first link starting with `prefix`.
    pub fn link_param(&self, prefix: &str, name: &str) -> String {
        let link = url::Url::parse(&self.link(prefix)).unwrap();
        link.query_pairs()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.into_owned())
            .unwrap_or_else(|| panic!("no {name} in {link}"))
    }
}

impl TestApp {
    /// Stops the server as SIGTERM does (requests and the work they left finish), keeping its
    /// config, directory and SMTP sink for [`Stopped::boot`].
    pub async fn stop(self) -> Stopped {
        let TestApp {
            running,
            config,
            dir,
            smtp,
            ..
        } = self;
        running.stop().await.unwrap();
        Stopped { config, dir, smtp }
    }

    /// Stops the server and boots it again on the same database, outbox and SMTP sink.
    pub async fn restart(self) -> TestApp {
        self.stop().await.boot().await
    }

    /// Asks a password reset for `email` (with the built-in page's `reset_uri`); expects 200.
    pub async fn ask_reset(&self, email: &str) {
        let (status, body) = self
            .post(
                "/customers/password_reset",
                serde_json::json!({"email": email, "reset_uri": "/reset"}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Sends `method path` with an optional bearer token and JSON body; returns status and body.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the server answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
        (status, value)
    }

    /// `POST path` with a `text/csv` body (an import file) and a bearer token.
    pub async fn post_csv(&self, path: &str, token: &str, csv: &str) -> (StatusCode, Value) {
        let response = self
            .client
            .post(self.url(path))
            .bearer_auth(token)
            .header("content-type", "text/csv")
            .body(csv.to_owned())
            .send()
            .await
            .expect("the server answers");
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text:?}"));
        (status, value)
    }

    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, None, Some(body)).await
    }

    /// A customer's consent ledger, as the admin API shows it.
    pub async fn consents(&self, admin_token: &str, email: &str) -> Vec<Value> {
        let (status, body) = self
            .call(
                Method::GET,
                &format!("/admin/customers/{email}/consents"),
                Some(admin_token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["consents"].as_array().unwrap().clone()
    }

    /// The first page (up to 100) of `list`'s members as its JSON export gives them, with
    /// `admin_token`.
    pub async fn members(&self, admin_token: &str, list: &str) -> Vec<Value> {
        let (status, body) = self
            .call(
                Method::GET,
                &format!("/admin/subscriptions/{list}/members"),
                Some(admin_token),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["members"].as_array().unwrap().clone()
    }

    /// The `/metrics` text, asked for from loopback (which needs no token).
    pub async fn metrics_text(&self) -> String {
        let response = self.client.get(self.url("/metrics")).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.text().await.unwrap()
    }

    pub async fn get_self(&self, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, "/customers/self", Some(token), None)
            .await
    }

    pub async fn patch_self(&self, token: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, "/customers/self", Some(token), Some(body))
            .await
    }

    pub async fn login(&self, email: &str, password: &str) -> (StatusCode, Value) {
        self.post(
            "/customers/login",
            json!({ "email": email, "password": password }),
        )
        .await
    }

    /// Logs in and returns the token, failing the test otherwise.
    pub async fn token(&self, email: &str, password: &str) -> String {
        let (status, body) = self.login(email, password).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Logs in as a client sending `user_agent` and returns the token (this client sends none).
    pub async fn token_as(&self, email: &str, password: &str, user_agent: &str) -> String {
        let response = self
            .client
            .post(self.url("/customers/login"))
            .header("user-agent", user_agent)
            .json(&json!({ "email": email, "password": password }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["token"].as_str().unwrap().to_owned()
    }

    /// Adds the subscription list `newsletter` through the admin API, with `admin_token`.
    pub async fn add_newsletter(&self, admin_token: &str) {
        self.add_list(admin_token, "newsletter", "Newsletter").await;
    }

    /// Adds the subscription list `id` named `name` through the admin API, with `admin_token`.
    pub async fn add_list(&self, admin_token: &str, id: &str, name: &str) {
        let (status, body) = self
            .call(
                Method::POST,
                "/admin/subscriptions",
                Some(admin_token),
                Some(json!({"id": id, "name": name})),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
    }

    /// Creates a pending customer the way the admin command does.
    pub async fn create_customer(&self, email: &str, name: &str) -> Created {
        self.create_customer_in(email, name, None).await
    }

    /// Creates a pending customer whose emails are in `language` (`None`: the default).
    pub async fn create_customer_in(
        &self,
        email: &str,
        name: &str,
        language: Option<&str>,
    ) -> Created {
        self.running
            .services
            .activations()
            .create_customer(NewAccount {
                email: EmailAddress::parse(email).unwrap(),
                name: Some(name.to_owned()),
                identifier: None,
                profile: Default::default(),
                send_activation: true,
                activate_uri: None,
                language: language.map(|l| Language::parse(l).unwrap()),
                arrival: Default::default(),
            })
            .await
            .expect("customer created")
    }

    /// Creates a customer, activates them through the emailed link, and logs them in.
    pub async fn active_customer(&self, email: &str) -> String {
        self.create_customer(email, "Test Customer").await;
        self.activate_pending(email).await
    }

    /// Activates the pending customer of `email` through the link emailed to it, and logs
    /// them in.
    pub async fn activate_pending(&self, email: &str) -> String {
        let mail = self.wait_for_email(email, "Activate").await;
        let (status, body) = self
            .post(
                "/customers/activate",
                json!({
                    "identifier": mail.link_param("https://shop.example.com/activate", "identifier"),
                    "secret": mail.link_param("https://shop.example.com/activate", "secret"),
                    "password": PASSWORD,
                    "password_check": PASSWORD,
                }),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        self.token(email, PASSWORD).await
    }

    /// Every email delivered so far, oldest first.
    pub fn delivered(&self) -> Vec<Email> {
        if self.config.mail.transport == MailTransport::Smtp {
            return self
                .smtp
                .accepted()
                .iter()
                .map(|received| Email {
                    envelope_to: received.rcpt_to.clone(),
                    ..Email::parse(&received.data)
                })
                .collect();
        }
        let dir: PathBuf = self.config.mail.dir.clone();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map(|entries| entries.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        files.retain(|p| p.extension().is_some_and(|e| e == "eml"));
        files.sort();
        files
            .iter()
            .map(|p| Email::parse(&std::fs::read(p).unwrap()))
            .collect()
    }

    /// Waits (up to [`PATIENCE`]) for an email to `to` whose subject contains `subject`; the
    /// newest wins.
    pub async fn wait_for_email(&self, to: &str, subject: &str) -> Email {
        let what = format!("an email to {to} with subject containing {subject:?} arrives");
        eventually(PATIENCE, &what, || {
            std::future::ready(
                self.delivered()
                    .into_iter()
                    .rev()
                    .find(|e| e.to == to && e.subject.contains(subject)),
            )
        })
        .await
    }

    /// How many emails of `kind` (e.g. `password_reset`) the outbox table holds, whatever their
    /// state: what was ever queued, read from the database file itself. Checks that an email
    /// was *not* sent with this, never by waiting for it not to arrive.
    pub fn queued(&self, kind: &str) -> i64 {
        self.db()
            .query_row(
                "SELECT count(*) FROM outbox WHERE kind = ?1",
                params![kind],
                |row| row.only(),
            )
            .unwrap()
    }

    /// The database this app runs on, to look into ([`TestDb`]).
    pub fn db(&self) -> TestDb {
        TestDb::of(&self.config)
    }
}
