//! The columns of an import file and one row parsed: every value checked on its own and
//! against the other values of its row, each problem named with its line and column. What a
//! row means against the database and the rest of the file is checked in `mod.rs`.

use crate::auth::Scheme;
use crate::domain::{
    CustomerId, EmailAddress, Identifier, Language, ListId, ProfileChanges, ProfileField, Status,
    parse_past_time, parse_time,
};

use super::ImportProblem;

/// A column an import file may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Column {
    Id,
    Email,
    Identifier,
    CreatedAt,
    Status,
    PasswordHash,
    Subscriptions,
    SubscribedAt,
    ConsentSource,
    PausedUntil,
    Language,
    Field(ProfileField),
}

/// The columns besides the profile fields, by their header names.
const COLUMNS: [(&str, Column); 11] = [
    ("id", Column::Id),
    ("email", Column::Email),
    ("identifier", Column::Identifier),
    ("created_at", Column::CreatedAt),
    ("status", Column::Status),
    ("password_hash", Column::PasswordHash),
    ("subscriptions", Column::Subscriptions),
    ("subscribed_at", Column::SubscribedAt),
    ("consent_source", Column::ConsentSource),
    ("paused_until", Column::PausedUntil),
    ("language", Column::Language),
];

impl Column {
    fn from_header(name: &str) -> Option<Column> {
        COLUMNS
            .iter()
            .find(|(key, _)| *key == name)
            .map(|(_, column)| *column)
            .or_else(|| ProfileField::from_key(name).map(Column::Field))
    }

    /// The column's name in the header row, and in every problem about its values.
    pub(super) fn key(self) -> &'static str {
        match self {
            Column::Field(field) => field.key(),
            column => COLUMNS
                .iter()
                .find(|(_, c)| *c == column)
                .map_or("?", |(key, _)| key),
        }
    }
}

/// The longest `password_hash` taken (the longest known shape, Argon2 with a long salt, is
/// under 200 characters).
const MAX_HASH_LEN: usize = 512;
/// The longest `consent_source` text (the ledger keeps `import:` and this).
pub(super) const MAX_SOURCE_LEN: usize = 64;

/// A list a row subscribes to, with when and where the customer opted in, and until when they
/// paused it, when the file says.
#[derive(Clone, Debug)]
pub(super) struct Join {
    pub list: ListId,
    pub at: Option<i64>,
    pub source: Option<String>,
    pub paused_until: Option<i64>,
}

/// One row as far as it parsed.
#[derive(Clone, Debug)]
pub(super) struct Row {
    pub line: u64,
    pub id: Option<CustomerId>,
    pub email: Option<EmailAddress>,
    pub name: Option<String>,
    pub identifier: Option<Identifier>,
    pub created_at: Option<i64>,
    pub status: Status,
    pub password_hash: Option<String>,
    pub profile: ProfileChanges,
    /// The lists, each once, in the order the row names them.
    pub joins: Vec<Join>,
    pub language: Option<Language>,
}

pub(super) fn problem(line: u64, column: &str, message: impl Into<String>) -> ImportProblem {
    ImportProblem {
        line,
        column: column.to_owned(),
        message: message.into(),
    }
}

pub(super) fn header(
    line: u64,
    record: &csv::ByteRecord,
    problems: &mut Vec<ImportProblem>,
) -> Vec<Option<Column>> {
    let mut columns = Vec::new();
    for (i, raw) in record.iter().enumerate() {
        let raw = if i == 0 {
            raw.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(raw)
        } else {
            raw
        };
        let name: String = String::from_utf8_lossy(raw)
            .trim()
            .to_lowercase()
            .chars()
            .take(64)
            .filter(|c| !c.is_control())
            .collect();
        let column = Column::from_header(&name);
        if column.is_none() {
            problems.push(problem(
                line,
                "header",
                format!(
                    "`{name}` is not a known column (known: {})",
                    known_columns()
                ),
            ));
        } else if columns.contains(&column) {
            problems.push(problem(
                line,
                "header",
                format!("the column `{name}` appears twice"),
            ));
        }
        columns.push(column);
    }
    for required in [Column::Email, Column::Field(ProfileField::Name)] {
        if !columns.contains(&Some(required)) {
            problems.push(problem(
                line,
                "header",
                format!("the column `{}` is required", required.key()),
            ));
        }
    }
    columns
}

fn known_columns() -> String {
    let mut names: Vec<&str> = COLUMNS.iter().map(|(key, _)| *key).collect();
    names.extend(ProfileField::ALL.iter().map(|f| f.key()));
    names.join(", ")
}

/// The values of a row, as read before they are weighed against each other.
#[derive(Default)]
struct Values {
    lists: Vec<ListId>,
    times: Vec<i64>,
    sources: Vec<String>,
    /// `None` for a list the row leaves unpaused (an empty value between the `;`).
    pauses: Vec<Option<i64>>,
    status: Option<Status>,
}

/// One row, as far as it parses: a row with problems is still checked against the database
/// and the rest of the file, so that one run reports every problem. `now` bounds the times.
pub(super) fn row(
    line: u64,
    columns: &[Option<Column>],
    record: &csv::ByteRecord,
    now: i64,
    problems: &mut Vec<ImportProblem>,
) -> Option<Row> {
    if record.len() != columns.len() {
        problems.push(problem(
            line,
            "row",
            format!(
                "has {} fields but the header names {}",
                record.len(),
                columns.len()
            ),
        ));
        return None;
    }
    let mut report = |column: Column, p: String| problems.push(problem(line, column.key(), p));
    let mut parsed = Row {
        line,
        id: None,
        email: None,
        name: None,
        identifier: None,
        created_at: None,
        status: Status::Pending,
        password_hash: None,
        profile: ProfileChanges::default(),
        joins: Vec::new(),
        language: None,
    };
    let mut values = Values::default();
    for (column, raw) in columns.iter().zip(record.iter()) {
        let Some(column) = *column else { continue };
        let Ok(value) = std::str::from_utf8(raw) else {
            report(column, "is not valid UTF-8".into());
            continue;
        };
        let trimmed = value.trim();
        if let Err(p) = read_value(column, value, trimmed, now, &mut parsed, &mut values) {
            report(column, p);
        }
    }
    let hash = parsed.password_hash.is_some();
    parsed.status = match values.status {
        Some(Status::Pending) if hash => {
            report(
                Column::Status,
                "is `pending` but the row has a password_hash: a customer who moves in with a password is active".into(),
            );
            Status::Pending
        }
        Some(status) => status,
        None if hash => Status::Active,
        None => Status::Pending,
    };
    let lists = values.lists.len();
    let per_list = |n: usize| n <= 1 || n == lists;
    if !per_list(values.times.len()) {
        report(
            Column::SubscribedAt,
            format!(
                "has {} times for {lists} list(s): give one time for every list, or one per list in the order of `subscriptions`",
                values.times.len()
            ),
        );
    }
    if !per_list(values.pauses.len()) {
        report(
            Column::PausedUntil,
            format!(
                "has {} values for {lists} list(s): give one time for every list, or one per list in the order of `subscriptions` (empty for a list that is not paused)",
                values.pauses.len()
            ),
        );
    }
    if !per_list(values.sources.len()) {
        report(
            Column::ConsentSource,
            format!(
                "has {} sources for {lists} list(s): give one source for every list, or one per list in the order of `subscriptions`",
                values.sources.len()
            ),
        );
    }
    let nth = |all: &[i64], i: usize| all.get(i).or(all.first()).copied();
    for (i, list) in values.lists.into_iter().enumerate() {
        if parsed.joins.iter().any(|j| j.list == list) {
            continue;
        }
        let source = values.sources.get(i).or(values.sources.first());
        let paused_until = values.pauses.get(i).or(values.pauses.first());
        parsed.joins.push(Join {
            list,
            at: nth(&values.times, i),
            source: source.filter(|s| !s.is_empty()).cloned(),
            paused_until: paused_until.copied().flatten(),
        });
    }
    Some(parsed)
}

/// Reads one value into the row (or, for those weighed against others, into `values`).
fn read_value(
    column: Column,
    value: &str,
    trimmed: &str,
    now: i64,
    row: &mut Row,
    values: &mut Values,
) -> Result<(), String> {
    match column {
        Column::Email => match EmailAddress::parse(value) {
            Ok(parsed) => row.email = Some(parsed),
            Err(_) if trimmed.is_empty() => return Err("is required".into()),
            Err(p) => return Err(p),
        },
        Column::Field(ProfileField::Name) => match ProfileField::Name.parse(value)? {
            Some(parsed) => row.name = Some(parsed),
            None => return Err("is required".into()),
        },
        _ if trimmed.is_empty() => {}
        Column::Id => row.id = Some(CustomerId::parse(trimmed)?),
        Column::Identifier => row.identifier = Some(Identifier::parse(trimmed)?),
        Column::Language => row.language = Some(Language::parse(value)?),
        Column::CreatedAt => row.created_at = Some(parse_past_time(trimmed, now)?),
        Column::Status => {
            values.status = Some(match trimmed {
                "active" => Status::Active,
                "pending" => Status::Pending,
                _ => return Err("must be `active` or `pending`".into()),
            })
        }
        Column::PasswordHash => {
            // The value is a secret of sorts: never repeated in a message.
            if trimmed.len() > MAX_HASH_LEN || Scheme::of(trimmed).is_none() {
                return Err("is not a password hash of a known scheme (phpass, wordpress_bcrypt, bcrypt, argon2, magento2, django_pbkdf2_sha256, drupal7, pbkdf2_sha256), or one of those that is damaged".into());
            }
            row.password_hash = Some(trimmed.to_owned());
        }
        Column::Subscriptions => {
            let mut bad = Vec::new();
            for id in trimmed.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                match ListId::parse(id) {
                    Ok(id) => values.lists.push(id),
                    Err(p) => bad.push(p),
                }
            }
            if !bad.is_empty() {
                return Err(bad.join("; "));
            }
        }
        Column::SubscribedAt => {
            for time in trimmed.split(';').map(str::trim) {
                values.times.push(parse_past_time(time, now)?);
            }
        }
        Column::PausedUntil => {
            for time in trimmed.split(';').map(str::trim) {
                let end = (!time.is_empty()).then(|| parse_time(time)).transpose()?;
                values.pauses.push(end);
            }
        }
        Column::ConsentSource => {
            for source in trimmed.split(';').map(str::trim) {
                let fine = source.len() <= MAX_SOURCE_LEN
                    && source.chars().all(|c| c.is_ascii_graphic() || c == ' ');
                if !fine {
                    return Err(format!(
                        "must be at most {MAX_SOURCE_LEN} printable ASCII characters per list (such as `magento2`)"
                    ));
                }
                values.sources.push(source.to_owned());
            }
        }
        Column::Field(field) => {
            if let Some(parsed) = field.parse(value)? {
                row.profile.fields.push((field, Some(parsed)));
            }
        }
    }
    Ok(())
}
