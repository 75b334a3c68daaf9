//! Free text from customers and the retailer: trimmed, bounded in characters, printable.

/// Trims `raw` and checks it is at most `max_chars` characters of printable text (line breaks
/// only where `multiline`). Returns `None` for an empty string.
pub fn clean_text(raw: &str, max_chars: usize, multiline: bool) -> Result<Option<String>, String> {
    let value = raw.trim();
    if value.is_empty() {
        return Ok(None);
    }
    if value.chars().count() > max_chars {
        return Err(format!("must be at most {max_chars} characters"));
    }
    let allowed = |c: char| multiline && (c == '\n' || c == '\r' || c == '\t');
    // U+2028/U+2029 and other format characters break mail headers and log lines as surely as
    // ASCII controls do.
    if value
        .chars()
        .any(|c| (c.is_control() || matches!(c, '\u{2028}' | '\u{2029}')) && !allowed(c))
    {
        return Err("must not contain control characters".into());
    }
    Ok(Some(value.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_and_empties_to_none() {
        assert_eq!(clean_text("  Ada ", 10, false).unwrap(), Some("Ada".into()));
        assert_eq!(clean_text("   ", 10, false).unwrap(), None);
    }

    #[test]
    fn refuses_controls_and_overlong_text() {
        assert!(clean_text("a\0b", 10, false).is_err());
        assert!(clean_text("a\r\nBcc: x", 50, false).is_err());
        assert!(clean_text("a\u{2028}b", 10, true).is_err());
        assert!(clean_text("a\u{85}b", 10, true).is_err());
        assert!(clean_text("line\nline", 20, true).is_ok());
        assert!(clean_text(&"é".repeat(11), 10, false).is_err());
        assert!(clean_text(&"é".repeat(10), 10, false).is_ok());
    }
}
