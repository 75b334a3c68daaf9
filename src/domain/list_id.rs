//! The id of a subscription list.

use std::fmt;

use serde::Serialize;

/// The id of a subscription list, e.g. `newsletter`: what customers and imports name it by.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct ListId(String);

impl ListId {
    pub const MAX_LEN: usize = 64;

    /// Lower-case letters, digits, `_` and `-`, starting with a letter or digit, at most 64.
    pub fn parse(raw: &str) -> Result<ListId, String> {
        let ok = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && raw
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
        if ok {
            Ok(ListId(raw.to_owned()))
        } else {
            Err(format!(
                "`{}` is not a list id: 1 to 64 lower-case letters, digits, '_' or '-', starting with a letter or digit",
                raw.chars().take(80).collect::<String>()
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ListId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_ids_are_lower_case_slugs() {
        for good in ["newsletter", "box-bulletin", "b2b_news", "0day"] {
            assert!(ListId::parse(good).is_ok(), "{good}");
        }
        for bad in ["", "News", "-x", "_x", "a b", "a.b", "é", &"a".repeat(65)] {
            assert!(ListId::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ListId::parse(&"a".repeat(64)).is_ok());
    }
}
