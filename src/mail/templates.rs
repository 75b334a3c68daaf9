//! Email texts: a built-in subject, plain-text body and HTML body for every kind of email,
//! each overridable by a file in `mail.templates_dir` (`<kind>.subject`, `<kind>.txt`,
//! `<kind>.html`). Placeholders: `{{name}}`, `{{email}}`, `{{new_email}}`, `{{link}}`, `{{shop}}`.

use std::collections::BTreeMap;
use std::path::Path;

/// Every kind of email the customer area sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Activation,
    PasswordReset,
    PasswordResetDone,
    EmailChangeNew,
    EmailChangeOld,
    AccountExists,
    AccountDeleted,
    PasswordChanged,
    EmailChangedNew,
    EmailChangedOld,
    EmailChangeUndone,
    AccountLocked,
    PasskeyAdded,
    PasskeyRemoved,
    Test,
}

impl Kind {
    pub const ALL: [Kind; 15] = [
        Kind::Activation,
        Kind::PasswordReset,
        Kind::PasswordResetDone,
        Kind::EmailChangeNew,
        Kind::EmailChangeOld,
        Kind::AccountExists,
        Kind::AccountDeleted,
        Kind::PasswordChanged,
        Kind::EmailChangedNew,
        Kind::EmailChangedOld,
        Kind::EmailChangeUndone,
        Kind::AccountLocked,
        Kind::PasskeyAdded,
        Kind::PasskeyRemoved,
        Kind::Test,
    ];

    /// The kind's name: the outbox's `kind` column and the template files' stem.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Activation => "activation",
            Kind::PasswordReset => "password_reset",
            Kind::PasswordResetDone => "password_reset_done",
            Kind::EmailChangeNew => "email_change_new",
            Kind::EmailChangeOld => "email_change_old",
            Kind::AccountExists => "account_exists",
            Kind::AccountDeleted => "account_deleted",
            Kind::PasswordChanged => "password_changed",
            Kind::EmailChangedNew => "email_changed_new",
            Kind::EmailChangedOld => "email_changed_old",
            Kind::EmailChangeUndone => "email_change_undone",
            Kind::AccountLocked => "account_locked",
            Kind::PasskeyAdded => "passkey_added",
            Kind::PasskeyRemoved => "passkey_removed",
            Kind::Test => "test",
        }
    }

    fn builtin(self) -> (&'static str, &'static str) {
        match self {
            Kind::Activation => (
                "Activate your {{shop}} account",
                "Hello {{name}},\n\nan account at {{shop}} has been created for {{email}}.\n\
                 To activate it and choose your password, open this link:\n\n{{link}}\n\n\
                 If you did not expect this email, you can ignore it.\n",
            ),
            Kind::PasswordReset => (
                "Reset your {{shop}} password",
                "Hello {{name}},\n\nsomeone asked to reset the password of your {{shop}} account.\n\
                 Open this link to get a new password, made for you and shown to you once:\n\n\
                 {{link}}\n\n\
                 Then sign in with it; you may keep it or choose a password of your own.\n\n\
                 If it was not you, ignore this email: your password stays as it is.\n",
            ),
            Kind::PasswordResetDone => (
                "Your {{shop}} password was reset",
                "Hello {{name}},\n\nthe password of your {{shop}} account was just reset, and every \
                 device signed in to it was signed out.\n\n\
                 If this was not you, reset your password again at once and contact us.\n",
            ),
            Kind::EmailChangeNew => (
                "Confirm your new email address for {{shop}}",
                "Hello {{name}},\n\nplease confirm that {{new_email}} is the new email address of \
                 your {{shop}} account by opening this link:\n\n{{link}}\n\n\
                 If you did not ask for this, ignore this email.\n",
            ),
            Kind::EmailChangeOld => (
                "A change of your {{shop}} email address was asked",
                "Hello {{name}},\n\nsomeone signed in to your {{shop}} account asked to change its \
                 email address. The change happens only once the new address is confirmed.\n\n\
                 If this was not you, change your password now.\n",
            ),
            Kind::AccountExists => (
                "You already have a {{shop}} account",
                "Hello,\n\nsomeone tried to use {{email}} for a {{shop}} account, but an account \
                 with this address already exists.\n\n\
                 If you forgot your password, you can reset it from the login page.\n\
                 If this was not you, you can ignore this email.\n",
            ),
            Kind::AccountDeleted => (
                "Your {{shop}} account was deleted",
                "Hello {{name}},\n\nyour {{shop}} account and everything tied to it has been \
                 deleted. We are sorry to see you go.\n",
            ),
            Kind::PasswordChanged => (
                "Your {{shop}} password was changed",
                "Hello {{name}},\n\nthe password of your {{shop}} account was just changed, and \
                 every other device signed in to it was signed out.\n\n\
                 If this was not you, reset your password at once from the sign-in page and \
                 contact us.\n",
            ),
            Kind::EmailChangedNew => (
                "Your {{shop}} email address was changed",
                "Hello {{name}},\n\n{{email}} is now the email address of your {{shop}} \
                 account. Sign in with it from now on.\n",
            ),
            Kind::EmailChangedOld => (
                "Your {{shop}} email address was changed",
                "Hello {{name}},\n\nthe email address of your {{shop}} account was changed from \
                 {{email}} to {{new_email}}.\n\n\
                 If this was not you, open this link to put {{email}} back and sign every device \
                 out of the account:\n\n{{link}}\n\n\
                 Then reset your password from the sign-in page. If it was you, ignore this \
                 email.\n",
            ),
            Kind::EmailChangeUndone => (
                "Your {{shop}} email address was restored",
                "Hello {{name}},\n\n{{email}} is again the email address of your {{shop}} \
                 account, and every device signed in to it was signed out.\n\n\
                 Choose a new password now: on the sign-in page, follow \"Forgot your \
                 password?\" and enter {{email}}; we will email you a link to reset it.\n",
            ),
            Kind::AccountLocked => (
                "Your {{shop}} account is locked",
                "Hello {{name}},\n\nyour {{shop}} account was locked because the password was \
                 entered wrongly too many times in a row. Until it is unlocked, no password \
                 opens it, not even the right one.\n\n\
                 To unlock it, reset your password: choose \"Forgot your password?\" on the \
                 sign-in page and follow the link you will receive by email.\n\n\
                 If these attempts were not yours, someone may be trying to guess your password; \
                 the reset gives your account a new one.\n",
            ),
            Kind::PasskeyAdded => (
                "A passkey was added to your {{shop}} account",
                "Hello {{name}},\n\na passkey was just added to your {{shop}} account: from now on \
                 it signs you in without a password.\n\n\
                 If this was not you, remove it at once from your account page, reset your \
                 password from the sign-in page and contact us.\n",
            ),
            Kind::PasskeyRemoved => (
                "A passkey was removed from your {{shop}} account",
                "Hello {{name}},\n\na passkey was just removed from your {{shop}} account; it no \
                 longer signs you in.\n\n\
                 If this was not you, reset your password at once from the sign-in page and \
                 contact us.\n",
            ),
            Kind::Test => (
                "Test email from {{shop}}",
                "This is a test email sent by customer-area to check the mail settings.\n",
            ),
        }
    }
}

/// The values placeholders stand for. Each is inserted as text; in HTML it is escaped.
#[derive(Clone, Debug, Default)]
pub struct Vars {
    pub name: Option<String>,
    pub email: String,
    pub new_email: Option<String>,
    pub link: Option<String>,
}

#[derive(Clone, Debug)]
struct Template {
    subject: String,
    text: String,
    html: Option<String>,
}

/// Rendered subject and bodies of one email.
#[derive(Clone, Debug)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// Every kind's template, built-in or overridden.
#[derive(Clone, Debug)]
pub struct Templates {
    by_kind: BTreeMap<Kind, Template>,
}

impl Templates {
    /// The built-in texts, overridden by whatever files `dir` holds.
    pub fn load(dir: Option<&Path>) -> Result<Templates, String> {
        let mut by_kind = BTreeMap::new();
        for kind in Kind::ALL {
            let (subject, text) = kind.builtin();
            let mut template = Template {
                subject: subject.to_owned(),
                text: text.to_owned(),
                html: None,
            };
            if let Some(dir) = dir {
                let read = |ext: &str| -> Result<Option<String>, String> {
                    let path = dir.join(format!("{}.{ext}", kind.name()));
                    match std::fs::read_to_string(&path) {
                        Ok(content) => Ok(Some(content)),
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                        Err(e) => Err(format!("cannot read template {}: {e}", path.display())),
                    }
                };
                if let Some(subject) = read("subject")? {
                    template.subject = subject.trim().to_owned();
                }
                if let Some(text) = read("txt")? {
                    template.text = text;
                }
                template.html = read("html")?;
            }
            by_kind.insert(kind, template);
        }
        Ok(Templates { by_kind })
    }

    /// Fills in the placeholders of `kind`'s template.
    pub fn render(&self, kind: Kind, shop: &str, vars: &Vars) -> Rendered {
        let template = &self.by_kind[&kind];
        let name = vars
            .name
            .as_deref()
            .filter(|n| !n.is_empty())
            .unwrap_or("customer");
        let values = [
            ("{{name}}", name),
            ("{{email}}", vars.email.as_str()),
            ("{{new_email}}", vars.new_email.as_deref().unwrap_or("")),
            ("{{link}}", vars.link.as_deref().unwrap_or("")),
            ("{{shop}}", shop),
        ];
        let fill = |text: &str, escape: fn(&str) -> String| fill(text, &values, escape);
        Rendered {
            // A subject is one header line: no value may break it, whatever the template says.
            subject: one_line(&fill(&template.subject, str::to_owned)),
            text: fill(&template.text, str::to_owned),
            html: template.html.as_deref().map(|html| fill(html, escape_html)),
        }
    }
}

/// Replaces each placeholder of `text` by its value in one pass over the template: a value
/// is never searched for placeholders, so a name such as `{{link}}` stays literal text.
fn fill(text: &str, values: &[(&str, &str)], escape: fn(&str) -> String) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let tail = &rest[start..];
        match values.iter().find(|(key, _)| tail.starts_with(key)) {
            Some((key, value)) => {
                out.push_str(&escape(value));
                rest = &tail[key.len()..];
            }
            None => {
                out.push_str("{{");
                rest = &tail[2..];
            }
        }
    }
    out.push_str(rest);
    out
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

fn escape_html(value: &str) -> String {
    value
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled() {
        let templates = Templates::load(None).unwrap();
        let vars = Vars {
            name: Some("Ada".into()),
            email: "ada@example.com".into(),
            link: Some("https://shop.example.com/a?x=1".into()),
            ..Vars::default()
        };
        let rendered = templates.render(Kind::Activation, "Shop", &vars);
        assert_eq!(rendered.subject, "Activate your Shop account");
        assert!(rendered.text.contains("Hello Ada,"));
        assert!(rendered.text.contains("https://shop.example.com/a?x=1"));
    }

    #[test]
    fn files_override_builtins_and_html_is_escaped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("activation.subject"), "Welcome {{name}}\n").unwrap();
        std::fs::write(dir.path().join("activation.html"), "<p>{{name}}</p>").unwrap();
        let templates = Templates::load(Some(dir.path())).unwrap();
        let vars = Vars {
            name: Some("<b>Ada\r\nBcc: x@evil.com".into()),
            ..Vars::default()
        };
        let rendered = templates.render(Kind::Activation, "Shop", &vars);
        assert_eq!(rendered.subject, "Welcome <b>Ada  Bcc: x@evil.com");
        assert!(rendered.html.unwrap().starts_with("<p>&lt;b&gt;Ada"));
    }

    #[test]
    fn a_value_holding_a_placeholder_stays_literal_text() {
        let templates = Templates::load(None).unwrap();
        let vars = Vars {
            name: Some("{{link}} {{shop}}".into()),
            email: "ada@example.com".into(),
            link: Some("https://shop.example.com/secret".into()),
            ..Vars::default()
        };
        let rendered = templates.render(Kind::Activation, "Shop", &vars);
        assert!(
            rendered.text.contains("Hello {{link}} {{shop}},"),
            "{}",
            rendered.text
        );
        assert_eq!(
            rendered
                .text
                .matches("https://shop.example.com/secret")
                .count(),
            1
        );
    }
}
