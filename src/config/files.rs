//! Paths and secrets that live in files: relative paths are taken from the config file's
//! directory (never the shell's), and `*_file` keys read a secret from a file, such as one
//! systemd's `LoadCredential=` hands over.

use std::path::{Path, PathBuf};

use super::{Config, ConfigError, Secret, invalid};

impl Config {
    /// Makes every relative path absolute against `base` (the config file's directory).
    pub(super) fn resolve_paths(&mut self, base: &Path) {
        let resolve = |path: &mut PathBuf| {
            if !path.as_os_str().is_empty() && path.is_relative() {
                *path = base.join(&*path);
            }
        };
        resolve(&mut self.database.path);
        resolve(&mut self.database.ca_file);
        resolve(&mut self.mail.dir);
        if let Some(dir) = self.mail.templates_dir.as_mut() {
            resolve(dir);
        }
        resolve(&mut self.web.custom_css);
        resolve(&mut self.mail.smtp.password_file);
        resolve(&mut self.mail.dkim.private_key_file);
        resolve(&mut self.admin.api_token_file);
    }

    /// Reads the secrets whose `*_file` key is set into their value keys.
    pub(super) fn read_secret_files(&mut self) -> Result<(), ConfigError> {
        read_secret(
            "mail.smtp.password",
            &mut self.mail.smtp.password,
            &self.mail.smtp.password_file,
        )?;
        read_secret(
            "admin.api_token",
            &mut self.admin.api_token,
            &self.admin.api_token_file,
        )
    }
}

/// Fills `secret` from `file` (one line; a trailing line break is not part of it).
fn read_secret(key: &str, secret: &mut Secret, file: &Path) -> Result<(), ConfigError> {
    if file.as_os_str().is_empty() {
        return Ok(());
    }
    let file_key = format!("{key}_file");
    if !secret.is_empty() {
        return Err(invalid(
            &file_key,
            format!("set either {key} or {file_key}, not both"),
        ));
    }
    let text = std::fs::read_to_string(file)
        .map_err(|e| invalid(&file_key, format!("cannot read {}: {e}", file.display())))?;
    let value = text.trim_end_matches(['\n', '\r']);
    if value.is_empty() {
        return Err(invalid(&file_key, format!("{} is empty", file.display())));
    }
    *secret = Secret::new(value);
    Ok(())
}
