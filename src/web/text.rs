//! The pages' texts, one TOML file per language in `text/`, compiled in. Each file has the same
//! tables and keys: one table per page, `common` for texts several pages share, `js` for the
//! texts the pages' scripts show (written into each page as JSON). See docs/languages.md.

use std::collections::BTreeMap;

use crate::domain::Language;

/// Every language the pages are written in, with its texts.
pub const LANGUAGES: [(&str, &str); 3] = [
    ("en", include_str!("text/en.toml")),
    ("de", include_str!("text/de.toml")),
    ("fr", include_str!("text/fr.toml")),
];

/// The texts of every page language, parsed.
pub struct PageTexts {
    by_language: BTreeMap<&'static str, toml::Table>,
}

impl PageTexts {
    /// Parses the compiled-in files (a test proves they parse).
    pub fn load() -> PageTexts {
        let by_language = LANGUAGES
            .iter()
            .map(|(language, file)| {
                let table = toml::from_str(file)
                    .unwrap_or_else(|e| panic!("page texts `{language}` do not parse: {e}"));
                (*language, table)
            })
            .collect();
        PageTexts { by_language }
    }

    /// The texts of `language`, if the pages are written in it.
    pub fn of(&self, language: &str) -> Option<&toml::Table> {
        self.by_language.get(language)
    }

    /// Whether the pages are written in `language`.
    pub fn has(&self, language: &Language) -> bool {
        self.by_language.contains_key(language.as_str())
    }

    /// Every page language.
    pub fn languages(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.by_language.keys().copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `section.key` of a file.
    fn keys(table: &toml::Table) -> Vec<String> {
        let mut keys = Vec::new();
        for (section, value) in table {
            let texts = value.as_table().expect("each top-level entry is a table");
            for (key, text) in texts {
                assert!(text.is_str(), "{section}.{key} is not a string");
                keys.push(format!("{section}.{key}"));
            }
        }
        keys
    }

    #[test]
    fn every_language_has_the_same_keys() {
        let texts = PageTexts::load();
        let english = keys(texts.of("en").unwrap());
        for language in texts.languages() {
            assert_eq!(keys(texts.of(language).unwrap()), english, "{language}");
        }
    }

    #[test]
    fn every_text_keeps_the_blanks_of_its_english_one() {
        let texts = PageTexts::load();
        let english = texts.of("en").unwrap();
        let blanks = |text: &str| {
            let mut found: Vec<String> = text
                .split('{')
                .skip(1)
                .filter_map(|rest| rest.split_once('}').map(|(name, _)| name.to_owned()))
                .collect();
            found.sort();
            found
        };
        for language in texts.languages() {
            let other = texts.of(language).unwrap();
            for (section, entries) in english {
                for (key, text) in entries.as_table().unwrap() {
                    let translated = other[section][key].as_str().unwrap();
                    assert_eq!(
                        blanks(translated),
                        blanks(text.as_str().unwrap()),
                        "{language} {section}.{key}"
                    );
                }
            }
        }
    }

    #[test]
    fn every_text_a_page_or_script_uses_exists() {
        let english = PageTexts::load().of("en").unwrap().clone();
        let exists = |section: &str, key: &str| {
            english
                .get(section)
                .and_then(|s| s.get(key))
                .is_some_and(|t| t.is_str())
        };
        for (name, template, _) in super::super::assets::PAGES.iter().chain([&(
            "mailbox",
            super::super::assets::MAILBOX_LAYOUT,
            "",
        )]) {
            for used in template.split("{{ t.").skip(1) {
                let path: String = used
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '.')
                    .collect();
                let Some((section, key)) = path.split_once('.') else {
                    continue;
                };
                assert!(exists(section, key), "{name} uses {section}.{key}");
            }
        }
        for (name, script, _) in super::super::assets::FILES {
            // The console's scripts have their own table, `console_js`.
            let table = if name.starts_with("console") {
                "console_js"
            } else {
                "js"
            };
            for (at, _) in script.match_indices("t('") {
                // `t(` itself, not the end of `get(` or `.t(`.
                let before = script[..at].chars().next_back().unwrap_or(' ');
                if before.is_ascii_alphanumeric() || before == '_' || before == '.' {
                    continue;
                }
                let key = script[at + 3..].split('\'').next().unwrap();
                assert!(
                    exists(table, key) || exists("js", key),
                    "{name} uses t('{key}')"
                );
            }
        }
    }
}
