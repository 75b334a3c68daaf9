//! The language of a customer's emails: a BCP 47 primary tag, and the choice among the
//! built-in languages by a browser's `Accept-Language`.

use std::fmt;

/// A language as a BCP 47 primary tag (`en`, `de`, `fr`), accepted in any case and kept
/// lower case. A longer tag (`de-CH`) is accepted and kept as its primary subtag.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize, serde::Deserialize,
)]
#[serde(try_from = "String", into = "String")]
pub struct Language(String);

impl Language {
    pub fn parse(raw: &str) -> Result<Language, String> {
        let problem = || "must be a language tag such as en, de or fr".to_owned();
        let mut subtags = raw.trim().split(['-', '_']);
        let primary = subtags.next().unwrap_or_default();
        let primary_ok =
            (2..=3).contains(&primary.len()) && primary.bytes().all(|b| b.is_ascii_alphabetic());
        let rest_ok = subtags
            .all(|s| (1..=8).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric()));
        if primary_ok && rest_ok {
            Ok(Language(primary.to_ascii_lowercase()))
        } else {
            Err(problem())
        }
    }

    /// English, the language every built-in text exists in first.
    pub fn english() -> Language {
        Language("en".into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The language an `Accept-Language` header prefers among those `supported` answers yes
    /// for: highest quality first (ties in the header's order), `q=0` and wildcards skipped.
    pub fn negotiate(header: &str, supported: impl Fn(&Language) -> bool) -> Option<Language> {
        let mut ranked: Vec<(u16, usize, Language)> = header
            .split(',')
            .enumerate()
            .filter_map(|(position, entry)| {
                let mut parts = entry.split(';');
                let language = Language::parse(parts.next()?).ok()?;
                let quality = parts
                    .filter_map(|p| p.trim().strip_prefix("q="))
                    .next()
                    .map_or(Some(1000), quality)?;
                (quality > 0).then_some((quality, position, language))
            })
            .collect();
        ranked.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        ranked
            .into_iter()
            .map(|(_, _, language)| language)
            .find(|language| supported(language))
    }
}

/// A quality value (`0` to `1`, at most three decimals) in thousandths; `None` if malformed.
fn quality(raw: &str) -> Option<u16> {
    let value: f32 = raw.trim().parse().ok()?;
    (0.0..=1.0)
        .contains(&value)
        .then(|| (value * 1000.0).round() as u16)
}

impl TryFrom<String> for Language {
    type Error = String;
    fn try_from(raw: String) -> Result<Language, String> {
        Language::parse(&raw)
    }
}

impl From<Language> for String {
    fn from(language: Language) -> String {
        language.0
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any(_: &Language) -> bool {
        true
    }

    #[test]
    fn a_tag_is_kept_as_its_lower_case_primary_subtag() {
        assert_eq!(Language::parse("de").unwrap().as_str(), "de");
        assert_eq!(Language::parse(" FR-ch ").unwrap().as_str(), "fr");
        assert_eq!(Language::parse("zh-Hant-TW").unwrap().as_str(), "zh");
    }

    #[test]
    fn malformed_tags_are_refused() {
        for bad in [
            "",
            "e",
            "english",
            "d3",
            "de-",
            "*",
            "de-toolongsubtag",
            "ｄｅ",
        ] {
            assert!(Language::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_highest_quality_supported_language_wins() {
        let supported = |l: &Language| ["en", "de", "fr"].contains(&l.as_str());
        let pick = |header| Language::negotiate(header, supported).map(|l| l.0);
        assert_eq!(pick("fr-CH, de;q=0.5").as_deref(), Some("fr"));
        assert_eq!(pick("de;q=0.5, fr;q=0.9").as_deref(), Some("fr"));
        assert_eq!(pick("fi, de;q=0.1").as_deref(), Some("de"));
        assert_eq!(pick("fr;q=0, en;q=0.2").as_deref(), Some("en"));
        assert_eq!(pick("*, fi").as_deref(), None);
        assert_eq!(pick("").as_deref(), None);
        assert_eq!(pick("de;q=2, fr;q=abc, en;q=0.3").as_deref(), Some("en"));
    }

    #[test]
    fn equal_qualities_keep_the_header_order() {
        let pick = Language::negotiate("de;q=0.8, fr;q=0.8", any).unwrap();
        assert_eq!(pick.as_str(), "de");
    }
}
