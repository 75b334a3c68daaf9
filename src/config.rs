//! Typed settings: built-in defaults, then the TOML file, then `CUSTOMER_AREA_<SECTION>_<KEY>`
//! environment variables, then validation that names the offending key.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use url::Url;

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
    pub links: Links,
    pub auth: Auth,
    pub mail: Mail,
    pub admin: Admin,
    pub log: Log,
    pub limits: Limits,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Server {
    pub bind: String,
    pub cors_origins: Vec<String>,
    pub trusted_proxies: Vec<String>,
    /// Open connections beyond this wait in the kernel's accept queue.
    pub max_connections: usize,
    /// A client must send its request headers within this many seconds.
    pub header_timeout_seconds: u64,
    /// On shutdown, in-flight requests get this long to finish.
    pub shutdown_grace_seconds: u64,
}

impl Default for Server {
    fn default() -> Self {
        Server {
            bind: "127.0.0.1:8080".into(),
            cors_origins: vec![],
            trusted_proxies: vec![],
            max_connections: 1024,
            header_timeout_seconds: 10,
            shutdown_grace_seconds: 10,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Database {
    pub path: PathBuf,
    /// Connections in the pool (readers run in parallel under WAL; writers queue).
    pub pool_size: u32,
    /// How long a request waits for a free connection before answering 503.
    pub pool_timeout_ms: u64,
    /// How long SQLite waits for a lock held by another connection or process.
    pub busy_timeout_ms: u64,
}

impl Default for Database {
    fn default() -> Self {
        Database {
            path: "customer-area.db".into(),
            pool_size: 8,
            pool_timeout_ms: 3000,
            busy_timeout_ms: 5000,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Links {
    pub retailer_url: String,
    pub allowed_origins: Vec<String>,
    pub activate_uri: String,
    pub newemail_confirm_uri: String,
}

impl Default for Links {
    fn default() -> Self {
        Links {
            retailer_url: "http://localhost:8080".into(),
            allowed_origins: vec![],
            activate_uri: "/customers/activate".into(),
            newemail_confirm_uri: "/customers/newemail_confirm".into(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Auth {
    pub token_ttl_hours: u64,
    pub pbkdf2_iterations: u32,
    pub min_password_length: usize,
    pub reset_code_ttl_minutes: u64,
    pub activation_ttl_hours: u64,
    pub email_change_ttl_hours: u64,
    pub allow_signup: bool,
}

impl Default for Auth {
    fn default() -> Self {
        Auth {
            token_ttl_hours: 720,
            pbkdf2_iterations: 600_000,
            min_password_length: 8,
            reset_code_ttl_minutes: 60,
            activation_ttl_hours: 168,
            email_change_ttl_hours: 24,
            allow_signup: false,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
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
    pub transport: Transport,
    pub from: String,
    pub dir: PathBuf,
    /// Name of the shop, used in email texts.
    pub shop_name: String,
    /// Directory with template overrides (`<kind>.subject`, `<kind>.txt`, `<kind>.html`).
    pub templates_dir: Option<PathBuf>,
    /// Give up on an email (mark it failed) once it has waited this long.
    pub max_age_hours: u64,
    /// The first retry of a failed delivery waits this long; each further one twice as long.
    pub retry_first_seconds: u64,
    /// No retry waits longer than this.
    pub retry_max_seconds: u64,
    pub smtp: Smtp,
}

impl Default for Mail {
    fn default() -> Self {
        Mail {
            transport: Transport::File,
            from: "Customer Area <no-reply@localhost>".into(),
            dir: "outbox".into(),
            shop_name: "Customer Area".into(),
            templates_dir: None,
            max_age_hours: 72,
            retry_first_seconds: 10,
            retry_max_seconds: 3600,
            smtp: Smtp::default(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Smtp {
    pub host: String,
    pub port: u16,
    pub tls: Tls,
    pub username: String,
    pub password: Secret,
    /// Connecting, the greeting, TLS, EHLO and login must be done within this many seconds.
    pub connect_timeout_seconds: u64,
    /// Each later SMTP command (and the message upload) must be answered within this many seconds.
    pub command_timeout_seconds: u64,
}

impl Default for Smtp {
    fn default() -> Self {
        Smtp {
            host: "localhost".into(),
            port: 587,
            tls: Tls::Starttls,
            username: String::new(),
            password: Secret::default(),
            connect_timeout_seconds: 10,
            command_timeout_seconds: 60,
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Admin {
    pub api_token: Secret,
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
pub struct Limits {
    /// Failed logins to one account before delays start.
    pub login_free_failures: u32,
    /// The ceiling of the per-account delay, which doubles with each further failure.
    pub login_max_delay_seconds: u64,
    /// Login attempts per client IP per minute.
    pub login_per_ip_per_minute: u32,
    /// activate, do_reset and newemail_confirm attempts per client IP per minute.
    pub codes_per_ip_per_minute: u32,
    /// password_reset and signup requests per client IP per hour.
    pub emails_per_ip_per_hour: u32,
    /// Emails one address may be sent per minute by password_reset, signup and email change.
    pub emails_per_address_per_minute: u32,
    /// The same, per hour.
    pub emails_per_address_per_hour: u32,
    /// Password hashes that may wait for a free core; beyond that, or after 5 s of waiting,
    /// requests answer 503 at once instead of piling up.
    pub hashing_queue: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            login_free_failures: 5,
            login_max_delay_seconds: 900,
            login_per_ip_per_minute: 60,
            codes_per_ip_per_minute: 30,
            emails_per_ip_per_hour: 30,
            emails_per_address_per_minute: 1,
            emails_per_address_per_hour: 5,
            hashing_queue: 64,
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

fn invalid(key: &str, problem: impl fmt::Display) -> ConfigError {
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

impl Config {
    /// Loads defaults, then `file` (or `./customer-area.toml` if present), then the environment.
    pub fn load(file: Option<&Path>) -> Result<Loaded, ConfigError> {
        let file = match file {
            Some(path) => Some(path.to_path_buf()),
            None => Some(PathBuf::from(DEFAULT_CONFIG_FILE)).filter(|p| p.exists()),
        };
        let text = match &file {
            Some(path) => std::fs::read_to_string(path).map_err(|e| {
                ConfigError(format!("cannot read config file {}: {e}", path.display()))
            })?,
            None => String::new(),
        };
        let env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k.starts_with(ENV_PREFIX))
            .collect();
        let (config, unknown_env) = Config::from_sources(&text, &env).map_err(|e| match &file {
            Some(path) => ConfigError(format!("{}: {e}", path.display())),
            None => e,
        })?;
        Ok(Loaded {
            config,
            file,
            unknown_env,
        })
    }

    /// Builds a config from TOML text and `CUSTOMER_AREA_*` pairs; returns it with the unknown variables.
    pub fn from_sources(
        toml_text: &str,
        env: &[(String, String)],
    ) -> Result<(Config, Vec<String>), ConfigError> {
        let mut tree: toml::Table = toml::from_str(toml_text)
            .map_err(|e| ConfigError(format!("not valid TOML: {}", e.message())))?;
        let keys = env_keys();
        let mut unknown = Vec::new();
        for (name, raw) in env {
            match keys.get(name.as_str()) {
                Some((path, default)) => set_path(&mut tree, path, env_value(name, raw, default)?),
                None => unknown.push(name.clone()),
            }
        }
        let config: Config = serde_path_to_error::deserialize(toml::Value::Table(tree))
            .map_err(|e| invalid(&e.path().to_string(), e.inner().message()))?;
        config.validate()?;
        Ok((config, unknown))
    }

    /// Checks what types alone cannot: addresses, URLs, ranges.
    fn validate(&self) -> Result<(), ConfigError> {
        self.bind_addr()?;
        for proxy in &self.server.trusted_proxies {
            proxy.parse::<IpAddr>().map_err(|_| {
                invalid(
                    "server.trusted_proxies",
                    format!("`{proxy}` is not an IP address"),
                )
            })?;
        }
        for origin in &self.server.cors_origins {
            parse_origin(origin).map_err(|p| invalid("server.cors_origins", p))?;
        }
        if self.server.max_connections == 0 {
            return Err(invalid("server.max_connections", "must be at least 1"));
        }
        if self.database.path.as_os_str().is_empty() {
            return Err(invalid("database.path", "must not be empty"));
        }
        if self.database.pool_size == 0 {
            return Err(invalid("database.pool_size", "must be at least 1"));
        }
        parse_origin_base(&self.links.retailer_url)
            .map_err(|p| invalid("links.retailer_url", p))?;
        for origin in &self.links.allowed_origins {
            parse_origin(origin).map_err(|p| invalid("links.allowed_origins", p))?;
        }
        for (key, uri) in [
            ("links.activate_uri", &self.links.activate_uri),
            (
                "links.newemail_confirm_uri",
                &self.links.newemail_confirm_uri,
            ),
        ] {
            self.retailer_url()
                .join(uri)
                .map_err(|e| invalid(key, format!("`{uri}` is not a valid URI ({e})")))?;
        }
        let auth = &self.auth;
        if auth.pbkdf2_iterations < 1000 {
            return Err(invalid("auth.pbkdf2_iterations", "must be at least 1000"));
        }
        if !(1..=1024).contains(&auth.min_password_length) {
            return Err(invalid(
                "auth.min_password_length",
                "must be between 1 and 1024",
            ));
        }
        for (key, value) in [
            ("auth.token_ttl_hours", auth.token_ttl_hours),
            ("auth.reset_code_ttl_minutes", auth.reset_code_ttl_minutes),
            ("auth.activation_ttl_hours", auth.activation_ttl_hours),
            ("auth.email_change_ttl_hours", auth.email_change_ttl_hours),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        crate::mail::parse_mailbox(&self.mail.from).map_err(|p| invalid("mail.from", p))?;
        if self.mail.transport == Transport::File && self.mail.dir.as_os_str().is_empty() {
            return Err(invalid("mail.dir", "must not be empty"));
        }
        if self.mail.transport == Transport::Smtp && self.mail.smtp.host.trim().is_empty() {
            return Err(invalid("mail.smtp.host", "must not be empty"));
        }
        for (key, value) in [
            ("mail.max_age_hours", self.mail.max_age_hours),
            ("mail.retry_first_seconds", self.mail.retry_first_seconds),
            ("mail.retry_max_seconds", self.mail.retry_max_seconds),
            (
                "mail.smtp.connect_timeout_seconds",
                self.mail.smtp.connect_timeout_seconds,
            ),
            (
                "mail.smtp.command_timeout_seconds",
                self.mail.smtp.command_timeout_seconds,
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if self.mail.retry_first_seconds > self.mail.retry_max_seconds {
            return Err(invalid(
                "mail.retry_first_seconds",
                "must not exceed mail.retry_max_seconds",
            ));
        }
        if self.mail.smtp.username.is_empty() != self.mail.smtp.password.is_empty() {
            return Err(invalid(
                "mail.smtp.username",
                "username and password must be set together",
            ));
        }
        for (key, value) in [
            (
                "limits.login_per_ip_per_minute",
                self.limits.login_per_ip_per_minute,
            ),
            (
                "limits.codes_per_ip_per_minute",
                self.limits.codes_per_ip_per_minute,
            ),
            (
                "limits.emails_per_ip_per_hour",
                self.limits.emails_per_ip_per_hour,
            ),
            (
                "limits.emails_per_address_per_minute",
                self.limits.emails_per_address_per_minute,
            ),
            (
                "limits.emails_per_address_per_hour",
                self.limits.emails_per_address_per_hour,
            ),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1"));
            }
        }
        if self
            .log
            .level
            .parse::<tracing_subscriber::EnvFilter>()
            .is_err()
        {
            return Err(invalid(
                "log.level",
                format!("`{}` is not a log filter", self.log.level),
            ));
        }
        Ok(())
    }

    /// Settings that work but are probably a mistake, in words.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        let smtp = &self.mail.smtp;
        if self.mail.transport == Transport::Smtp
            && smtp.tls == Tls::None
            && !smtp.username.is_empty()
        {
            warnings.push(
                "mail.smtp.tls = \"none\" with a username: the SMTP password crosses the network in clear".into(),
            );
        }
        if (1..24).contains(&self.admin.api_token.expose().len()) {
            warnings.push(
                "admin.api_token is shorter than 24 characters; use a long random value".into(),
            );
        }
        warnings
    }

    /// The socket address to listen on.
    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        self.server.bind.parse().map_err(|_| {
            invalid(
                "server.bind",
                format!(
                    "`{}` is not an address such as 127.0.0.1:8080",
                    self.server.bind
                ),
            )
        })
    }

    /// `links.retailer_url`, already validated.
    pub fn retailer_url(&self) -> Url {
        parse_origin_base(&self.links.retailer_url).expect("validated at load")
    }

    /// The proxies allowed to set `X-Forwarded-For`, already validated.
    pub fn trusted_proxies(&self) -> Vec<IpAddr> {
        self.server
            .trusted_proxies
            .iter()
            .filter_map(|p| p.parse().ok())
            .collect()
    }
}

/// An absolute http(s) URL usable as a base for links.
fn parse_origin_base(value: &str) -> Result<Url, String> {
    let url = Url::parse(value).map_err(|e| format!("`{value}` is not an absolute URL ({e})"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
        return Err(format!(
            "`{value}` must be an http or https URL with a host"
        ));
    }
    Ok(url)
}

/// A bare origin such as `https://shop.example.com` (no path, query or fragment).
pub fn parse_origin(value: &str) -> Result<url::Origin, String> {
    let url = parse_origin_base(value)?;
    if url.path() != "/"
        || url.query().is_some()
        || url.fragment().is_some()
        || !url.username().is_empty()
    {
        return Err(format!(
            "`{value}` must be an origin like https://shop.example.com"
        ));
    }
    Ok(url.origin())
}

/// Every key's environment variable name, with its path in the tree and its default value.
fn env_keys() -> BTreeMap<String, (Vec<String>, toml::Value)> {
    let defaults = toml::Value::try_from(Config::default()).expect("defaults serialize");
    let mut keys = BTreeMap::new();
    fn walk(
        value: &toml::Value,
        path: &mut Vec<String>,
        keys: &mut BTreeMap<String, (Vec<String>, toml::Value)>,
    ) {
        if let toml::Value::Table(table) = value {
            for (key, child) in table {
                path.push(key.clone());
                walk(child, path, keys);
                path.pop();
            }
        } else {
            let name = format!("{ENV_PREFIX}{}", path.join("_").to_uppercase());
            keys.insert(name, (path.clone(), value.clone()));
        }
    }
    walk(&defaults, &mut Vec::new(), &mut keys);
    // Optional keys have no default to serialize; list them by hand.
    keys.insert(
        format!("{ENV_PREFIX}MAIL_TEMPLATES_DIR"),
        (
            vec!["mail".into(), "templates_dir".into()],
            toml::Value::String(String::new()),
        ),
    );
    keys
}

/// Reads an environment value with the type of the key's default.
fn env_value(name: &str, raw: &str, default: &toml::Value) -> Result<toml::Value, ConfigError> {
    let bad = |what: &str| {
        ConfigError(format!(
            "environment variable `{name}`: `{raw}` is not {what}"
        ))
    };
    Ok(match default {
        toml::Value::Integer(_) => {
            toml::Value::Integer(raw.trim().parse().map_err(|_| bad("a whole number"))?)
        }
        toml::Value::Boolean(_) => toml::Value::Boolean(match raw.trim() {
            "true" | "1" | "yes" => true,
            "false" | "0" | "no" => false,
            _ => return Err(bad("true or false")),
        }),
        // Lists are comma-separated: CUSTOMER_AREA_SERVER_CORS_ORIGINS=https://a,https://b
        toml::Value::Array(_) => toml::Value::Array(
            raw.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| toml::Value::String(s.to_owned()))
                .collect(),
        ),
        _ => toml::Value::String(raw.to_owned()),
    })
}

fn set_path(tree: &mut toml::Table, path: &[String], value: toml::Value) {
    let (last, parents) = path.split_last().expect("non-empty path");
    let mut table = tree;
    for key in parents {
        let entry = table
            .entry(key.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        if !entry.is_table() {
            *entry = toml::Value::Table(toml::Table::new());
        }
        table = entry.as_table_mut().expect("just made a table");
    }
    table.insert(last.clone(), value);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str, env: &[(&str, &str)]) -> Result<Config, String> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_sources(text, &env)
            .map(|(c, _)| c)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn empty_config_gives_the_embedded_default() {
        let config = load("", &[]).unwrap();
        assert_eq!(config.server.bind, "127.0.0.1:8080");
        assert_eq!(config.database.path, PathBuf::from("customer-area.db"));
        assert_eq!(config.mail.transport, Transport::File);
        assert_eq!(config.auth.pbkdf2_iterations, 600_000);
    }

    #[test]
    fn environment_wins_over_the_file() {
        let config = load(
            "[auth]\npbkdf2_iterations = 2000\n[mail.smtp]\npassword = \"file\"",
            &[
                ("CUSTOMER_AREA_AUTH_PBKDF2_ITERATIONS", "3000"),
                ("CUSTOMER_AREA_MAIL_SMTP_PASSWORD", "env"),
                ("CUSTOMER_AREA_MAIL_SMTP_USERNAME", "user"),
                (
                    "CUSTOMER_AREA_SERVER_CORS_ORIGINS",
                    "https://a.example, https://b.example",
                ),
            ],
        )
        .unwrap();
        assert_eq!(config.auth.pbkdf2_iterations, 3000);
        assert_eq!(config.mail.smtp.password.expose(), "env");
        assert_eq!(config.server.cors_origins.len(), 2);
    }

    #[test]
    fn unknown_key_is_refused_by_name() {
        let err = load("[auth]\npbkdf2_iteration = 5", &[]).unwrap_err();
        assert!(err.contains("pbkdf2_iteration"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let err = load("[auth]\ntoken_ttl_hours = \"long\"", &[]).unwrap_err();
        assert!(err.contains("auth.token_ttl_hours"), "{err}");
    }

    #[test]
    fn bad_values_name_the_key() {
        for (text, key) in [
            ("[server]\nbind = \"nowhere\"", "server.bind"),
            ("[links]\nretailer_url = \"shop\"", "links.retailer_url"),
            ("[auth]\npbkdf2_iterations = 10", "auth.pbkdf2_iterations"),
            ("[mail]\ntransport = \"pigeon\"", "mail.transport"),
            ("[mail.smtp]\ntls = \"maybe\"", "mail.smtp.tls"),
            (
                "[mail]\nretry_first_seconds = 0",
                "mail.retry_first_seconds",
            ),
            (
                "[mail]\nretry_first_seconds = 60\nretry_max_seconds = 10",
                "mail.retry_first_seconds",
            ),
            (
                "[mail.smtp]\ncommand_timeout_seconds = 0",
                "mail.smtp.command_timeout_seconds",
            ),
            (
                "[server]\ntrusted_proxies = [\"proxy\"]",
                "server.trusted_proxies",
            ),
        ] {
            let err = load(text, &[]).unwrap_err();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn bad_environment_value_names_the_variable() {
        let err = load("", &[("CUSTOMER_AREA_AUTH_TOKEN_TTL_HOURS", "soon")]).unwrap_err();
        assert!(err.contains("CUSTOMER_AREA_AUTH_TOKEN_TTL_HOURS"), "{err}");
    }

    #[test]
    fn unknown_environment_variables_are_reported() {
        let env = vec![("CUSTOMER_AREA_AUTH_TYPO".to_string(), "1".to_string())];
        let (_, unknown) = Config::from_sources("", &env).unwrap();
        assert_eq!(unknown, vec!["CUSTOMER_AREA_AUTH_TYPO".to_string()]);
    }

    #[test]
    fn the_example_config_documents_exactly_the_defaults() {
        let text = include_str!("../customer-area.toml");
        let (example, _) = Config::from_sources(text, &[]).unwrap();
        let as_toml = |c: &Config| toml::to_string(c).unwrap();
        assert_eq!(as_toml(&example), as_toml(&Config::default()));
        // Every key is written out (optional ones as a commented line).
        let table: toml::Table = toml::from_str(text).unwrap();
        for (name, (path, _)) in env_keys() {
            let mut node = Some(&table);
            for part in &path[..path.len() - 1] {
                node = node.and_then(|t| t.get(part)).and_then(|v| v.as_table());
            }
            let key = path.last().unwrap();
            let present =
                node.is_some_and(|t| t.contains_key(key)) || text.contains(&format!("# {key} = "));
            assert!(present, "customer-area.toml does not document {name}");
        }
    }

    #[test]
    fn risky_but_valid_settings_are_warned_about() {
        let config = load(
            "[mail]\ntransport = \"smtp\"\n[mail.smtp]\ntls = \"none\"\nusername = \"u\"\npassword = \"p\"\n[admin]\napi_token = \"short\"",
            &[],
        )
        .unwrap();
        let warnings = config.warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(Config::default().warnings().is_empty());
    }

    #[test]
    fn secrets_do_not_print() {
        let mut config = Config::default();
        config.mail.smtp.password = Secret::new("hunter2");
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
