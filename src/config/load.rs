//! Where settings come from: built-in defaults, then the TOML file, then
//! `CUSTOMER_AREA_<SECTION>_<KEY>` environment variables.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{Config, ConfigError, DEFAULT_CONFIG_FILE, ENV_PREFIX, Loaded, invalid};

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
        // Relative paths in a config file are the file's business, not the shell's.
        let base = match &file {
            Some(path) => Some(config_dir(path).map_err(|e| {
                ConfigError(format!(
                    "cannot find the directory of {}: {e}",
                    path.display()
                ))
            })?),
            None => None,
        };
        let (config, unknown_env) =
            Config::from_sources_in(&text, &env, base.as_deref()).map_err(|e| match &file {
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
        Config::from_sources_in(toml_text, env, None)
    }

    /// [`Config::from_sources`] with relative paths taken from `base` (the config file's
    /// directory; `None`: the working directory), and secrets read from their `*_file`s.
    pub fn from_sources_in(
        toml_text: &str,
        env: &[(String, String)],
        base: Option<&Path>,
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
        let mut config: Config = serde_path_to_error::deserialize(toml::Value::Table(tree))
            .map_err(|e| invalid(&e.path().to_string(), in_words(e.inner().message())))?;
        if let Some(base) = base {
            config.resolve_paths(base);
        }
        config.read_secret_files()?;
        config.validate()?;
        Ok((config, unknown))
    }
}

/// The absolute directory holding the config file `path`.
fn config_dir(path: &Path) -> std::io::Result<PathBuf> {
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    std::path::absolute(dir)
}

/// serde's message for a value a type refuses, in the words the other checks use.
fn in_words(message: &str) -> &str {
    // The `NonZero*` settings: serde says "invalid value: integer `0`, expected a nonzero u32".
    if message.contains("expected a nonzero") {
        "must be at least 1"
    } else {
        message
    }
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
    // `[[webhooks]]` is a list of tables: it comes from the file only.
    keys.remove(&format!("{ENV_PREFIX}WEBHOOKS"));
    // Optional keys have no default to serialize; list them by hand.
    for key in ["templates_dir", "bounce_address"] {
        keys.insert(
            format!("{ENV_PREFIX}MAIL_{}", key.to_uppercase()),
            (
                vec!["mail".into(), key.into()],
                toml::Value::String(String::new()),
            ),
        );
    }
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
    use crate::config::{MailTransport, Secret};

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
        assert_eq!(config.mail.transport, MailTransport::File);
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
    fn web_settings_can_come_from_the_environment() {
        let config = load(
            "",
            &[
                ("CUSTOMER_AREA_WEB_ENABLED", "false"),
                ("CUSTOMER_AREA_WEB_DEMO_MAILBOX", "off"),
            ],
        )
        .unwrap();
        assert!(!config.web.enabled);
        assert_eq!(config.web.demo_mailbox, crate::config::DemoMailbox::Off);
        let err = load("", &[("CUSTOMER_AREA_WEB_DEMO_MAILBOX", "sometimes")]).unwrap_err();
        assert!(err.contains("web.demo_mailbox"), "{err}");
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
            ("[web]\ndemo_mailbox = \"always\"", "web.demo_mailbox"),
            (
                "[web]\ncustom_css = \"/no/such/shop.css\"",
                "web.custom_css",
            ),
            ("[web]\nenabled = \"yes\"", "web.enabled"),
            ("[database]\npool_size = 0", "database.pool_size"),
            (
                "[limits]\nlogin_per_ip_per_minute = 0",
                "limits.login_per_ip_per_minute",
            ),
        ] {
            let err = load(text, &[]).unwrap_err();
            assert!(err.contains(key), "{text}: {err}");
        }
    }

    #[test]
    fn zero_where_one_is_the_least_says_so_by_key() {
        let err = load("[auth]\ntoken_ttl_hours = 0", &[]).unwrap_err();
        assert!(err.contains("auth.token_ttl_hours"), "{err}");
        assert!(err.contains("must be at least 1"), "{err}");
        let err = load("", &[("CUSTOMER_AREA_SERVER_MAX_CONNECTIONS", "0")]).unwrap_err();
        assert!(err.contains("server.max_connections"), "{err}");
        assert!(err.contains("must be at least 1"), "{err}");
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
        let text = include_str!("../../customer-area.toml");
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
    fn the_packaged_config_loads_and_sends_no_mail_to_files() {
        let text = include_str!("../../deploy/customer-area.toml");
        let (packaged, _) = Config::from_sources(text, &[]).unwrap();
        // Files would put every activation and reset link on the server's disk, unsent.
        assert_eq!(packaged.mail.transport, crate::config::MailTransport::Smtp);
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
    fn relative_paths_are_taken_from_the_config_files_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("smtp-password"), "s3cret\n").unwrap();
        let text = "[database]\npath = \"data/area.db\"\n[mail]\ndir = \"mail\"\n\
                    [mail.smtp]\nusername = \"u\"\npassword_file = \"smtp-password\"\n";
        let (config, _) = Config::from_sources_in(text, &[], Some(dir.path())).unwrap();
        assert_eq!(config.database.path, dir.path().join("data/area.db"));
        assert_eq!(config.mail.dir, dir.path().join("mail"));
        assert_eq!(config.mail.smtp.password.expose(), "s3cret");
        let absolute = "[database]\npath = \"/srv/area.db\"\n";
        let (config, _) = Config::from_sources_in(absolute, &[], Some(dir.path())).unwrap();
        assert_eq!(config.database.path, PathBuf::from("/srv/area.db"));
    }

    #[test]
    fn a_secret_file_is_refused_by_key_when_missing_empty_or_doubled() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("empty"), "\n").unwrap();
        std::fs::write(dir.path().join("token"), "t").unwrap();
        for (text, problem) in [
            ("[admin]\napi_token_file = \"missing\"", "cannot read"),
            ("[admin]\napi_token_file = \"empty\"", "is empty"),
            (
                "[admin]\napi_token = \"x\"\napi_token_file = \"token\"",
                "not both",
            ),
        ] {
            let err = Config::from_sources_in(text, &[], Some(dir.path()))
                .unwrap_err()
                .to_string();
            assert!(err.contains("admin.api_token_file"), "{err}");
            assert!(err.contains(problem), "{err}");
        }
    }

    #[test]
    fn secrets_do_not_print() {
        let mut config = Config::default();
        config.mail.smtp.password = Secret::new("hunter2");
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
