//! Typed settings: built-in defaults, then the TOML file, then `CUSTOMER_AREA_<SECTION>_<KEY>`
//! environment variables, then validation that names the offending key.

mod check;
mod files;
mod load;
mod passkey;

use std::fmt;
use std::num::{NonZero, NonZeroU32, NonZeroU64, NonZeroUsize};
use std::path::PathBuf;

use crate::domain::Language;
use serde::{Deserialize, Serialize};

pub use check::parse_origin;
pub use passkey::RelyingParty;

/// Prefix of every environment variable that overrides a config key.
pub const ENV_PREFIX: &str = "CUSTOMER_AREA_";

/// The config file read when `--config` is not given and the file exists.
pub const DEFAULT_CONFIG_FILE: &str = "customer-area.toml";

/// The whole configuration of one customer-area instance.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: Server,
    pub database: Database,
    pub links: LinkSettings,
    pub auth: Auth,
    pub mail: Mail,
    pub admin: Admin,
    pub log: Log,
    pub limits: RateLimits,
    pub web: Web,
    pub console: Console,
    pub webhook_delivery: WebhookDelivery,
    /// The shop's webhook endpoints (`[[webhooks]]`); none: no events are recorded.
    pub webhooks: Vec<Webhook>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Server {
    pub bind: String,
    pub cors_origins: Vec<String>,
    pub trusted_proxies: Vec<String>,
    /// Open connections beyond this wait in the kernel's accept queue.
    pub max_connections: NonZeroUsize,
    /// A client must send its request headers within this many seconds.
    pub header_timeout_seconds: u64,
    /// A client must send a request's body within this many seconds of its headers.
    pub body_timeout_seconds: NonZeroU64,
    /// On shutdown, in-flight requests get this long to finish.
    pub shutdown_grace_seconds: u64,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            bind: "127.0.0.1:8080".into(),
            cors_origins: vec![],
            trusted_proxies: vec![],
            max_connections: NonZero::new(1024).unwrap(),
            header_timeout_seconds: 10,
            body_timeout_seconds: NonZero::new(10).unwrap(),
            shutdown_grace_seconds: 10,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Database {
    pub path: PathBuf,
    /// A PostgreSQL database (`postgres://user:password@host/name?sslmode=require`) instead of
    /// the SQLite file at `path`: what several instances behind one proxy share. Empty: SQLite.
    pub url: Secret,
    /// Certificate authorities (PEM) trusted for the PostgreSQL server's TLS certificate,
    /// besides the system's; empty: the system's only.
    pub ca_file: PathBuf,
    /// Connections in the pool (readers run in parallel under WAL; writers queue).
    pub pool_size: NonZeroU32,
    /// How long a request waits for a free connection before answering 503.
    pub pool_timeout_ms: u64,
    /// How long SQLite waits for a lock held by another connection or process.
    pub busy_timeout_ms: u64,
    /// SQLite's page cache per connection, in KiB (`PRAGMA cache_size`; SQLite's own default,
    /// 2,000). Each reader and the writer has its own, so the server's memory grows by this
    /// times `pool_size`.
    pub cache_kib: u64,
    /// How much of the SQLite file each connection maps into memory, in MiB
    /// (`PRAGMA mmap_size`; 0, the default, reads through the kernel instead). Mapped pages
    /// are shared with the kernel's page cache and count in the server's resident memory.
    pub mmap_mib: u64,
}

impl Default for Database {
    fn default() -> Self {
        Database {
            path: "customer-area.db".into(),
            url: Secret::default(),
            ca_file: PathBuf::new(),
            pool_size: NonZero::new(8).unwrap(),
            pool_timeout_ms: 3000,
            busy_timeout_ms: 5000,
            cache_kib: 2000,
            mmap_mib: 0,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LinkSettings {
    pub retailer_url: String,
    pub allowed_origins: Vec<String>,
    pub activate_uri: String,
    pub newemail_confirm_uri: String,
    /// Where the link that undoes a confirmed email change points (sent to the old address).
    pub email_undo_uri: String,
    /// Where the "this wasn't me" link of a new-device notice points.
    pub not_me_uri: String,
    /// The base of the reset links the server sends on its own (after an undone email change
    /// or a "this wasn't me"): `<reset_uri>/<code>`, like the `reset_uri` a client sends.
    pub reset_uri: String,
    /// Where the link of an emailed sign-in code points: `<login_code_uri>?email=&code=`.
    pub login_code_uri: String,
    /// This server's own public base, for the unsubscribe links; empty: `retailer_url`.
    pub public_url: String,
}

impl Default for LinkSettings {
    fn default() -> Self {
        LinkSettings {
            retailer_url: "http://localhost:8080".into(),
            allowed_origins: vec![],
            activate_uri: "/activate".into(),
            newemail_confirm_uri: "/confirm-email".into(),
            email_undo_uri: "/undo-email".into(),
            not_me_uri: "/not-me".into(),
            reset_uri: "/reset".into(),
            login_code_uri: "/sign-in/code".into(),
            public_url: String::new(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Auth {
    pub token_ttl_hours: NonZeroU64,
    pub pbkdf2_iterations: u32,
    pub min_password_length: usize,
    pub reset_code_ttl_minutes: NonZeroU64,
    pub activation_ttl_hours: NonZeroU64,
    pub email_change_ttl_hours: NonZeroU64,
    pub allow_signup: bool,
    /// Activity events older than this many days are swept.
    pub activity_retention_days: NonZeroU64,
    /// How long the link that undoes a confirmed email change works, in days.
    pub email_undo_ttl_days: NonZeroU64,
    /// The domain passkeys are bound to; empty: the host of `links.retailer_url`.
    pub passkey_rp_id: String,
    /// The name authenticators show beside a passkey; empty: `mail.shop_name`.
    pub passkey_rp_name: String,
    /// How long, in seconds, a session counts as recently authenticated after a sign-in or a
    /// reauthentication (what an email change, a passkey change, the export and a deletion need).
    pub reauth_seconds: NonZeroU64,
    /// A device not signed in from for this many days is new again.
    pub known_device_days: NonZeroU64,
    /// Whether a sign-in from a new device emails the customer a "this wasn't me" link.
    pub new_device_notice: bool,
    /// How long an emailed sign-in code works, in minutes.
    pub login_code_ttl_minutes: NonZeroU64,
    /// The ways customers may sign in; an endpoint of a method left out answers 404.
    pub login_methods: Vec<LoginMethod>,
}

/// A way for a customer to sign in (`auth.login_methods`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LoginMethod {
    Password,
    Passkey,
    EmailCode,
}

impl LoginMethod {
    /// The method's name in `auth.login_methods`.
    pub fn name(self) -> &'static str {
        match self {
            LoginMethod::Password => "password",
            LoginMethod::Passkey => "passkey",
            LoginMethod::EmailCode => "email_code",
        }
    }
}

impl Auth {
    /// Whether `auth.login_methods` lets customers sign in by `method`.
    pub fn allows(&self, method: LoginMethod) -> bool {
        self.login_methods.contains(&method)
    }
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            token_ttl_hours: NonZero::new(720).unwrap(),
            pbkdf2_iterations: 600_000,
            min_password_length: 8,
            reset_code_ttl_minutes: NonZero::new(60).unwrap(),
            activation_ttl_hours: NonZero::new(168).unwrap(),
            email_change_ttl_hours: NonZero::new(24).unwrap(),
            allow_signup: false,
            activity_retention_days: NonZero::new(90).unwrap(),
            email_undo_ttl_days: NonZero::new(7).unwrap(),
            passkey_rp_id: String::new(),
            passkey_rp_name: String::new(),
            reauth_seconds: NonZero::new(300).unwrap(),
            known_device_days: NonZero::new(90).unwrap(),
            new_device_notice: true,
            login_code_ttl_minutes: NonZero::new(10).unwrap(),
            login_methods: vec![
                LoginMethod::Password,
                LoginMethod::Passkey,
                LoginMethod::EmailCode,
            ],
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MailTransport {
    File,
    Smtp,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Tls {
    Starttls,
    Implicit,
    None,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Mail {
    pub transport: MailTransport,
    pub from: String,
    pub dir: PathBuf,
    /// Name of the shop, used in email texts.
    pub shop_name: String,
    /// Directory with template overrides (`<lang>/<kind>.subject`, `.txt`, `.html`).
    pub templates_dir: Option<PathBuf>,
    /// The language of customers who have none, and the first fallback of every text.
    pub default_language: Language,
    /// Give up on an email (mark it failed) once it has waited this long.
    pub max_age_hours: NonZeroU64,
    /// The first retry of a failed delivery waits this long; each further one twice as long.
    pub retry_first_seconds: NonZeroU64,
    /// No retry waits longer than this.
    pub retry_max_seconds: NonZeroU64,
    /// Where bounces go: each email's envelope sender becomes `<local>+<token>@<domain>` of
    /// this address, so that a bounce names its email (`mail inbound`). Unset: the envelope
    /// sender is `from`'s address.
    pub bounce_address: Option<String>,
    /// Temporary delivery failures (a full mailbox) reported for one address before it counts
    /// as undeliverable.
    pub soft_bounce_limit: NonZeroU64,
    pub smtp: Smtp,
    pub dkim: Dkim,
}

impl Default for Mail {
    fn default() -> Self {
        Mail {
            transport: MailTransport::File,
            from: "Customer Area <no-reply@localhost>".into(),
            dir: "outbox".into(),
            shop_name: "Customer Area".into(),
            templates_dir: None,
            default_language: Language::english(),
            max_age_hours: NonZero::new(72).unwrap(),
            retry_first_seconds: NonZero::new(10).unwrap(),
            retry_max_seconds: NonZero::new(3600).unwrap(),
            bounce_address: None,
            soft_bounce_limit: NonZero::new(3).unwrap(),
            smtp: Smtp::default(),
            dkim: Dkim::default(),
        }
    }
}

/// DKIM signing of every email (`[mail.dkim]`): on when `private_key_file` is set.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Dkim {
    /// The signing domain (`d=`), whose DNS publishes the public key.
    pub domain: String,
    /// The selector (`s=`): the key's record is `<selector>._domainkey.<domain>`.
    pub selector: String,
    /// A PEM file with the private key (RSA in PKCS #1 or PKCS #8, or Ed25519 in PKCS #8);
    /// read at start, relative to the config file's directory. Empty: emails are not signed.
    pub private_key_file: PathBuf,
    pub algorithm: DkimAlgorithm,
}

impl Dkim {
    /// Whether emails are signed.
    pub fn enabled(&self) -> bool {
        !self.private_key_file.as_os_str().is_empty()
    }
}

/// The DKIM signature algorithm; it must match the key.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum DkimAlgorithm {
    #[default]
    #[serde(rename = "rsa-sha256")]
    RsaSha256,
    #[serde(rename = "ed25519-sha256")]
    Ed25519Sha256,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub username: String,
    pub password: Secret,
    /// A file holding the password (read at start; relative to the config file's directory).
    pub password_file: PathBuf,
    /// Connecting, the greeting, TLS, EHLO and login must be done within this many seconds.
    pub connect_timeout_seconds: NonZeroU64,
    /// Each later SMTP command (and the message upload) must be answered within this many seconds.
    pub command_timeout_seconds: NonZeroU64,
}

impl Default for Smtp {
    fn default() -> Self {
        Smtp {
            host: "localhost".into(),
            port: 587,
            tls: Tls::Starttls,
            username: String::new(),
            password: Secret::default(),
            password_file: PathBuf::new(),
            connect_timeout_seconds: NonZero::new(10).unwrap(),
            command_timeout_seconds: NonZero::new(60).unwrap(),
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Admin {
    pub api_token: Secret,
    /// A file holding the token (read at start; relative to the config file's directory).
    pub api_token_file: PathBuf,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Log {
    /// A tracing filter such as `info` or `customer_area=debug`; `RUST_LOG` wins when set.
    pub level: String,
    pub format: LogFormat,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

/// Throttling of login attempts and of requests that send email or present a code.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RateLimits {
    /// Failed logins to one account before delays start.
    pub login_free_failures: u32,
    /// The ceiling of the per-account delay, which doubles with each further failure.
    pub login_max_delay_seconds: u64,
    /// Failed password checks in a row that lock an account until a password reset.
    pub login_lockout_failures: NonZeroU32,
    /// Login attempts per client IP per minute.
    pub login_per_ip_per_minute: NonZeroU32,
    /// activate, do_reset and newemail_confirm attempts per client IP per minute.
    pub codes_per_ip_per_minute: NonZeroU32,
    /// password_reset and signup requests per client IP per hour.
    pub emails_per_ip_per_hour: NonZeroU32,
    /// Emails one address may be sent per minute by password_reset, signup and email change.
    pub emails_per_address_per_minute: NonZeroU32,
    /// The same, per hour.
    pub emails_per_address_per_hour: NonZeroU32,
    /// Password hashes that may wait for a free core; beyond that, or after 5 s of waiting,
    /// requests answer 503 at once instead of piling up.
    pub hashing_queue: usize,
}

impl Default for RateLimits {
    fn default() -> Self {
        RateLimits {
            login_free_failures: 5,
            login_max_delay_seconds: 900,
            login_lockout_failures: NonZero::new(100).unwrap(),
            login_per_ip_per_minute: NonZero::new(60).unwrap(),
            codes_per_ip_per_minute: NonZero::new(30).unwrap(),
            emails_per_ip_per_hour: NonZero::new(30).unwrap(),
            emails_per_address_per_minute: NonZero::new(1).unwrap(),
            emails_per_address_per_hour: NonZero::new(5).unwrap(),
            hashing_queue: 64,
        }
    }
}

/// The built-in customer pages (`src/web`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Web {
    /// `false`: no pages at all, the API only.
    pub enabled: bool,
    /// A stylesheet file, read once at start, served after the built-in one; empty: none.
    pub custom_css: PathBuf,
    pub demo_mailbox: DemoMailbox,
}

impl Default for Web {
    fn default() -> Self {
        Web {
            enabled: true,
            custom_css: PathBuf::new(),
            demo_mailbox: DemoMailbox::Auto,
        }
    }
}

/// The retailer's console and its staff (`customer-area staff ...`, `/admin/staff/...`).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Console {
    /// A staff session ends this long after its sign-in.
    pub session_hours: NonZeroU64,
    /// A staff session ends after this long unused.
    pub idle_minutes: NonZeroU64,
    /// Who must sign in with a second factor.
    pub second_factor: SecondFactorRule,
}

impl Default for Console {
    fn default() -> Self {
        Console {
            session_hours: NonZero::new(12).unwrap(),
            idle_minutes: NonZero::new(30).unwrap(),
            second_factor: SecondFactorRule::Required,
        }
    }
}

/// `console.second_factor`: which staff must prove a second factor (TOTP) at sign-in. Where it
/// is required, a staff member without one signs in to a session that may only enroll it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecondFactorRule {
    /// Everyone.
    Required,
    /// Owners only.
    Owner,
    /// No one (those who enrolled one are still asked for it).
    Optional,
}

/// Whether `/demo/mail` shows the emails in `mail.dir` (to loopback callers only).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DemoMailbox {
    /// On with `mail.transport = "file"`, off with SMTP.
    Auto,
    Off,
}

/// One endpoint of the shop that receives signed events (Standard Webhooks).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Webhook {
    /// Where events are POSTed (http or https).
    pub url: String,
    /// `whsec_` followed by the base64 of 24 to 64 random bytes: the HMAC key.
    pub secret: Secret,
    /// The event types this endpoint receives; empty: every event.
    pub events: Vec<String>,
}

/// How events are delivered to the webhook endpoints.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookDelivery {
    /// Each attempt (connect, send, answer) must be done within this many seconds.
    pub timeout_seconds: NonZeroU64,
    /// The first retry waits about this long; each further one about twice as long (jittered).
    pub retry_first_seconds: NonZeroU64,
    /// No retry waits longer than this, whatever `Retry-After` asks.
    pub retry_max_seconds: NonZeroU64,
    /// Give up on an event (mark it failed) once it has waited this long.
    pub max_age_hours: NonZeroU64,
}

impl Default for WebhookDelivery {
    fn default() -> Self {
        WebhookDelivery {
            timeout_seconds: NonZero::new(10).unwrap(),
            retry_first_seconds: NonZero::new(5).unwrap(),
            retry_max_seconds: NonZero::new(3600).unwrap(),
            max_age_hours: NonZero::new(72).unwrap(),
        }
    }
}

/// A string that never shows itself in logs or debug output.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.is_empty() { "\"\"" } else { "***" })
    }
}

/// A configuration that could not be loaded; the message names the key and the problem.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(String);

pub(crate) fn invalid(key: &str, problem: impl fmt::Display) -> ConfigError {
    ConfigError(format!("config key `{key}`: {problem}"))
}

/// Where the settings came from, for the start-up banner.
#[derive(Clone, Debug)]
pub struct Loaded {
    pub config: Config,
    pub file: Option<PathBuf>,
    /// `CUSTOMER_AREA_*` variables that match no key: probably typos.
    pub unknown_env: Vec<String>,
}
