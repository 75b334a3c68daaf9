//! Email texts in every language: built-in subjects and plain-text bodies (one TOML file per
//! language in `text/`), each overridable per language by files in `mail.templates_dir`
//! (`<lang>/<kind>.subject`, `<lang>/<kind>.txt`, `<lang>/<kind>.html`). Templates are
//! minijinja: a value is inserted once and never read as template syntax; HTML bodies escape
//! every value, subjects and plain text do not. Placeholders: [`PLACEHOLDERS`].

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use minijinja::{Environment, context};

use super::Kind;
use crate::domain::Language;

/// The names a template may use; any other is refused when the templates are loaded.
pub const PLACEHOLDERS: [&str; 9] = [
    "name",
    "email",
    "new_email",
    "link",
    "shop",
    "device",
    "ip",
    "when",
    "code",
];

/// The built-in texts, by language; every file holds every kind (a test checks it).
pub const BUILT_IN: [(&str, &str); 3] = [
    ("en", include_str!("text/en.toml")),
    ("de", include_str!("text/de.toml")),
    ("fr", include_str!("text/fr.toml")),
];

/// The parts of an email a file can hold, by file extension.
const PARTS: [&str; 3] = ["subject", "txt", "html"];

/// The values placeholders stand for. Each is inserted as text; in HTML it is escaped.
#[derive(Clone, Debug, Default)]
pub struct Vars {
    pub name: Option<String>,
    pub email: String,
    pub new_email: Option<String>,
    pub link: Option<String>,
    /// A sign-in's device ("Firefox on Windows"), address and time, for the new-device notice.
    pub device: Option<String>,
    pub ip: Option<String>,
    pub when: Option<String>,
    /// A code the customer types (an emailed sign-in code).
    pub code: Option<String>,
}

/// Rendered subject and bodies of one email, and the language they are in.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub language: Language,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// A built-in kind's texts as its language file holds them.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct BuiltInText {
    subject: String,
    text: String,
}

/// Where a template comes from: the binary or the retailer's folder.
#[derive(Clone, Copy)]
enum Source {
    BuiltIn,
    Override,
}

/// Every kind's templates in every language, built-in or overridden.
pub struct Templates {
    env: Environment<'static>,
    default_language: Language,
    languages: BTreeSet<Language>,
    /// Override files by template name, to name the file when rendering fails.
    files: BTreeMap<String, PathBuf>,
}

impl Templates {
    /// The built-in texts, overridden by the files in `dir`. Every override is checked here
    /// (readable, a known kind and part, valid syntax, known placeholders, renders): the
    /// error names the file.
    pub fn load(dir: Option<&Path>, default_language: &Language) -> Result<Templates, String> {
        let mut env = Environment::new();
        // Files end in a newline that belongs to the body.
        env.set_keep_trailing_newline(true);
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                minijinja::AutoEscape::Html
            } else {
                minijinja::AutoEscape::None
            }
        });
        escape_only_html_specials(&mut env);
        let mut templates = Templates {
            env,
            default_language: default_language.clone(),
            languages: BTreeSet::new(),
            files: BTreeMap::new(),
        };
        for (language, file) in BUILT_IN {
            templates.add_built_in(language, file)?;
        }
        if let Some(dir) = dir {
            for (language, kind, part, path) in override_files(dir, default_language)? {
                templates.add_override(&language, kind, part, &path)?;
            }
        }
        Ok(templates)
    }

    /// Every language some text exists in (built-in or overridden).
    pub fn languages(&self) -> &BTreeSet<Language> {
        &self.languages
    }

    /// The language `mail.default_language` names.
    pub fn default_language(&self) -> &Language {
        &self.default_language
    }

    /// `kind`'s email in `language` (or, when that language has no subject and text for it,
    /// the default language, then English), its placeholders filled with `vars`.
    pub fn render(
        &self,
        kind: Kind,
        language: Option<&Language>,
        shop: &str,
        vars: &Vars,
    ) -> Rendered {
        let language = self.language_for(kind, language);
        let values = context! {
            name => vars.name.as_deref().unwrap_or(""),
            email => vars.email.as_str(),
            new_email => vars.new_email.as_deref().unwrap_or(""),
            link => vars.link.as_deref().unwrap_or(""),
            shop => shop,
            device => vars.device.as_deref().unwrap_or(""),
            ip => vars.ip.as_deref().unwrap_or(""),
            when => vars.when.as_deref().unwrap_or(""),
            code => vars.code.as_deref().unwrap_or(""),
        };
        let part = |part: &str| self.render_part(&language, kind, part, &values);
        Rendered {
            // A subject is one header line: no value may break it, whatever the template says.
            subject: one_line(part("subject").unwrap_or_default().trim()),
            text: part("txt").unwrap_or_default(),
            html: part("html"),
            language,
        }
    }

    /// The first of `wanted`, the default language and English that has `kind`'s subject and
    /// text, so that an email is never in two languages.
    fn language_for(&self, kind: Kind, wanted: Option<&Language>) -> Language {
        let english = Language::english();
        let complete = |language: &&Language| {
            ["subject", "txt"]
                .iter()
                .all(|part| self.find(language, kind, part).is_some())
        };
        [wanted, Some(&self.default_language), Some(&english)]
            .into_iter()
            .flatten()
            .find(complete)
            .unwrap_or(&english)
            .clone()
    }

    /// The template of one part: the language's override, else its built-in text.
    fn find(&self, language: &Language, kind: Kind, part: &str) -> Option<String> {
        [Source::Override, Source::BuiltIn]
            .into_iter()
            .map(|source| template_name(source, language.as_str(), kind, part))
            .find(|name| self.env.get_template(name).is_ok())
    }

    fn render_part(
        &self,
        language: &Language,
        kind: Kind,
        part: &str,
        values: &minijinja::Value,
    ) -> Option<String> {
        let name = self.find(language, kind, part)?;
        match self.env.get_template(&name).and_then(|t| t.render(values)) {
            Ok(rendered) => Some(rendered),
            Err(error) => {
                // Checked at start with sample values; a value-dependent failure falls back.
                let file = self.files.get(&name).map(|p| p.display().to_string());
                tracing::error!(template = %name, file, %error, "email template failed; using the built-in text");
                let built_in = template_name(Source::BuiltIn, language.as_str(), kind, part);
                self.env.get_template(&built_in).ok()?.render(values).ok()
            }
        }
    }

    fn add_built_in(&mut self, language: &str, file: &str) -> Result<(), String> {
        let texts: BTreeMap<String, BuiltInText> =
            toml::from_str(file).map_err(|e| format!("built-in email texts `{language}`: {e}"))?;
        for (name, text) in texts {
            let kind = Kind::from_name(&name).ok_or_else(|| {
                format!("built-in email texts `{language}`: unknown kind `{name}`")
            })?;
            for (part, source) in [("subject", text.subject), ("txt", text.text)] {
                let name = template_name(Source::BuiltIn, language, kind, part);
                self.env
                    .add_template_owned(name, source)
                    .map_err(|e| format!("built-in email texts `{language}`: {e}"))?;
            }
        }
        self.languages.insert(Language::parse(language)?);
        Ok(())
    }

    fn add_override(
        &mut self,
        language: &Language,
        kind: Kind,
        part: &str,
        path: &Path,
    ) -> Result<(), String> {
        let problem = |what: String| format!("email template {}: {what}", path.display());
        let source =
            std::fs::read_to_string(path).map_err(|e| problem(format!("cannot read it: {e}")))?;
        let name = template_name(Source::Override, language.as_str(), kind, part);
        self.env
            .add_template_owned(name.clone(), source)
            .map_err(|e| problem(e.to_string()))?;
        let template = self
            .env
            .get_template(&name)
            .map_err(|e| problem(e.to_string()))?;
        let unknown: BTreeSet<String> = template
            .undeclared_variables(false)
            .into_iter()
            .filter(|used| !PLACEHOLDERS.contains(&used.as_str()))
            .collect();
        if let Some(first) = unknown.first() {
            return Err(problem(format!(
                "unknown placeholder `{first}` (known: {})",
                PLACEHOLDERS.join(", ")
            )));
        }
        template
            .render(sample_values())
            .map_err(|e| problem(e.to_string()))?;
        self.files.insert(name, path.to_owned());
        self.languages.insert(language.clone());
        Ok(())
    }
}

/// Values that stand in for real ones: the check at start and `mail preview` use them.
pub fn sample_vars() -> Vars {
    Vars {
        name: Some("Ada Lovelace".into()),
        email: "ada@example.com".into(),
        new_email: Some("ada.lovelace@example.org".into()),
        link: Some("https://shop.example.com/activate?identifier=ada&secret=SAMPLE".into()),
        device: Some("Firefox on Windows".into()),
        ip: Some("203.0.113.7".into()),
        when: Some("2026-12-04 09:30 UTC".into()),
        code: Some("123456".into()),
    }
}

fn sample_values() -> minijinja::Value {
    let vars = sample_vars();
    context! {
        name => vars.name, email => vars.email, new_email => vars.new_email,
        link => vars.link, shop => "Shop", device => vars.device, ip => vars.ip,
        when => vars.when, code => vars.code,
    }
}

fn template_name(source: Source, language: &str, kind: Kind, part: &str) -> String {
    let source = match source {
        Source::BuiltIn => "built-in",
        Source::Override => "override",
    };
    format!("{source}/{language}/{}.{part}", kind.name())
}

/// Every override file in `dir`: `<lang>/<kind>.<part>`, and `<kind>.<part>` directly in
/// `dir` (the layout before languages) for the default language. Anything else is an error
/// naming the file, as is the same override in both places. Names starting with `.` are skipped.
fn override_files(
    dir: &Path,
    default_language: &Language,
) -> Result<Vec<(Language, Kind, &'static str, PathBuf)>, String> {
    let mut found = Vec::new();
    for entry in entries(dir)? {
        let name = entry
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if entry.is_dir() {
            let language = Language::parse(&name)
                .ok()
                .filter(|l| l.as_str() == name)
                .ok_or_else(|| {
                    format!(
                        "email template folder {}: not a language (name it by a primary language tag such as de)",
                        entry.display()
                    )
                })?;
            for file in entries(&entry)? {
                let (kind, part) = kind_and_part(&file)?;
                found.push((language.clone(), kind, part, file));
            }
        } else {
            let (kind, part) = kind_and_part(&entry)?;
            let moved = dir
                .join(default_language.as_str())
                .join(format!("{}.{part}", kind.name()));
            if moved.exists() {
                return Err(format!(
                    "email template {}: {} overrides the same text; keep one",
                    entry.display(),
                    moved.display()
                ));
            }
            found.push((default_language.clone(), kind, part, entry));
        }
    }
    Ok(found)
}

/// The entries of a folder, sorted, without hidden ones.
fn entries(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let read = std::fs::read_dir(dir).map_err(|e| {
        format!(
            "email templates folder {}: cannot read it: {e}",
            dir.display()
        )
    })?;
    let mut paths = Vec::new();
    for entry in read {
        let entry = entry.map_err(|e| format!("email templates folder {}: {e}", dir.display()))?;
        if !entry.file_name().to_string_lossy().starts_with('.') {
            paths.push(entry.path());
        }
    }
    paths.sort();
    Ok(paths)
}

fn kind_and_part(path: &Path) -> Result<(Kind, &'static str), String> {
    let file = path.file_name().unwrap_or_default().to_string_lossy();
    let (stem, extension) = file.rsplit_once('.').unwrap_or((&file, ""));
    let part = PARTS.into_iter().find(|p| *p == extension).ok_or_else(|| {
        format!(
            "email template {}: unknown part `.{extension}` (use .subject, .txt or .html)",
            path.display()
        )
    })?;
    let kind = Kind::from_name(stem).ok_or_else(|| {
        let known: Vec<&str> = Kind::ALL.iter().map(|k| k.name()).collect();
        format!(
            "email template {}: unknown kind `{stem}` (known: {})",
            path.display(),
            known.join(", ")
        )
    })?;
    Ok((kind, part))
}

/// Makes `env` escape values in HTML templates by `&`, `<`, `>`, `"` and `'` only: minijinja's
/// own escape also turns `/` into `&#x2f;`, which garbles every link for mail clients, link
/// checkers and readers of the page source.
pub fn escape_only_html_specials(env: &mut Environment<'_>) {
    env.set_formatter(|out, state, value| {
        if state.auto_escape() == minijinja::AutoEscape::Html && !value.is_safe() {
            let text = match value.as_str() {
                Some(text) => text.to_owned(),
                None if value.is_undefined() || value.is_none() => String::new(),
                None => value.to_string(),
            };
            out.write_str(&escape_html(&text)).map_err(|e| {
                minijinja::Error::new(minijinja::ErrorKind::WriteFailure, e.to_string())
            })
        } else {
            minijinja::escape_formatter(out, state, value)
        }
    });
}

/// Escapes text for HTML element content and attribute values.
fn escape_html(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Replaces every line-breaking or control character with a space.
pub fn one_line(value: &str) -> String {
    value
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') {
                ' '
            } else {
                c
            }
        })
        .collect()
}

#[cfg(test)]
mod tests;
