use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde::Serialize;

use super::NewAccount;
use crate::domain::{
    CustomerId, EmailAddress, Identifier, Language, ListId, ProfileChanges, ProfileField,
};
use crate::error::AppError;
use crate::store::subscriptions::{self, ConsentSource};
use crate::store::{Outcome, StoreError, customers};

/// One thing wrong with an import file, on a line of it (1 is the header row).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImportProblem {
    pub line: u64,
    pub field: String,
    pub problem: String,
}

impl fmt::Display for ImportProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.field, self.problem)
    }
}

/// Why an import wrote nothing.
#[derive(Debug)]
pub enum ImportError {
    /// The file has problems, all of them listed in line order.
    Invalid(Vec<ImportProblem>),
    /// The database refused or failed; the transaction was rolled back.
    Failed(AppError),
}

impl From<AppError> for ImportError {
    fn from(err: AppError) -> ImportError {
        ImportError::Failed(err)
    }
}

/// A customer an import created.
#[derive(Clone, Debug, Serialize)]
pub struct Imported {
    pub line: u64,
    pub id: CustomerId,
    pub identifier: Identifier,
    pub email: String,
}

/// What an import did.
#[derive(Clone, Debug, Serialize)]
pub struct ImportSummary {
    pub created: usize,
    pub activations_queued: usize,
    pub subscriptions: usize,
    pub customers: Vec<Imported>,
}

/// A column an import file may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Column {
    Email,
    Identifier,
    Subscriptions,
    Language,
    Field(ProfileField),
}

impl Column {
    fn from_header(name: &str) -> Option<Column> {
        match name {
            "email" => Some(Column::Email),
            "identifier" => Some(Column::Identifier),
            "subscriptions" => Some(Column::Subscriptions),
            "language" => Some(Column::Language),
            other => ProfileField::from_key(other).map(Column::Field),
        }
    }
}

/// One row as far as it parsed: what did is still checked against the database, so that
/// one run reports every problem.
#[derive(Clone, Debug)]
struct Row {
    line: u64,
    email: Option<EmailAddress>,
    name: Option<String>,
    identifier: Option<Identifier>,
    profile: ProfileChanges,
    lists: BTreeSet<ListId>,
    language: Option<Language>,
}

impl Row {
    /// The customer to create, once the row parsed completely.
    fn account(&self, send_activation: bool) -> Option<NewAccount> {
        Some(NewAccount {
            email: self.email.clone()?,
            name: Some(self.name.clone()?),
            identifier: self.identifier.clone(),
            profile: self.profile.clone(),
            send_activation,
            activate_uri: None,
            language: self.language.clone(),
        })
    }
}

/// A CSV file of customers, read and checked on its own (the database checks come at import).
#[derive(Clone, Debug, Default)]
pub struct ImportFile {
    rows: Vec<Row>,
    problems: Vec<ImportProblem>,
    records: usize,
}

impl ImportFile {
    /// Reads a CSV file whose header row names its columns: `email` and `name` (required),
    /// `identifier`, `subscriptions` (list ids separated by `;`), `language` (empty: the
    /// default language) and any profile field.
    /// Problems in the file are kept for [`Imports::import_customers`] to report with the rest.
    pub fn read(mut input: impl std::io::Read) -> Result<ImportFile, csv::Error> {
        let mut data = Vec::new();
        input.read_to_end(&mut data)?;
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(data.as_slice());
        let mut file = ImportFile::default();
        let mut columns: Option<Vec<Option<Column>>> = None;
        let mut seen = Seen::default();
        // Lines are counted here, from where each record starts: the reader's own count misses
        // every `\r\n` line ending, which spreadsheet programs write.
        let (mut counted_to, mut line) = (0usize, 1u64);
        for record in reader.byte_records() {
            let record = record?;
            let mut start = record.position().map_or(counted_to, |p| p.byte() as usize);
            // The reader starts a record after a `\r`, before the `\n` that ends that line.
            if start > 0 && data.get(start - 1..=start) == Some(b"\r\n".as_slice()) {
                start += 1;
            }
            let skipped = data.get(counted_to..start).unwrap_or_default();
            line += skipped.iter().filter(|&&b| b == b'\n').count() as u64;
            counted_to = counted_to.max(start);
            match &columns {
                None => columns = Some(file.header(line, &record)),
                Some(_) if record.len() == 1 && record[0].is_empty() => {}
                Some(columns) => {
                    file.records += 1;
                    if let Some(row) = file.row(line, columns, &record, &mut seen) {
                        file.rows.push(row);
                    }
                }
            }
        }
        if columns.is_none() {
            file.problem(
                1,
                "header",
                "the file is empty: the first row must name the columns",
            );
        }
        Ok(file)
    }

    /// The number of customer rows in the file.
    pub fn len(&self) -> usize {
        self.records
    }

    /// Whether the file has no customer rows.
    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    fn problem(&mut self, line: u64, field: &str, problem: impl Into<String>) {
        self.problems.push(ImportProblem {
            line,
            field: field.to_owned(),
            problem: problem.into(),
        });
    }

    fn header(&mut self, line: u64, record: &csv::ByteRecord) -> Vec<Option<Column>> {
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
                self.problem(
                    line,
                    "header",
                    format!(
                        "`{name}` is not a known column (known: email, name, identifier, subscriptions, language, {})",
                        profile_keys()
                    ),
                );
            } else if columns.contains(&column) {
                self.problem(line, "header", format!("the column `{name}` appears twice"));
            }
            columns.push(column);
        }
        for (required, key) in [
            (Column::Email, "email"),
            (Column::Field(ProfileField::Name), "name"),
        ] {
            if !columns.contains(&Some(required)) {
                self.problem(line, "header", format!("the column `{key}` is required"));
            }
        }
        columns
    }

    fn row(
        &mut self,
        line: u64,
        columns: &[Option<Column>],
        record: &csv::ByteRecord,
        seen: &mut Seen,
    ) -> Option<Row> {
        if record.len() != columns.len() {
            self.problem(
                line,
                "row",
                format!(
                    "has {} fields but the header names {}",
                    record.len(),
                    columns.len()
                ),
            );
            return None;
        }
        let mut email = None;
        let mut name = None;
        let mut identifier = None;
        let mut profile = ProfileChanges::default();
        let mut lists = BTreeSet::new();
        let mut language = None;
        for (column, raw) in columns.iter().zip(record.iter()) {
            let Some(column) = *column else { continue };
            let key = column_key(column);
            let Ok(value) = std::str::from_utf8(raw) else {
                self.problem(line, key, "is not valid UTF-8");
                continue;
            };
            match column {
                Column::Email => match EmailAddress::parse(value) {
                    Ok(parsed) => email = Some(parsed),
                    Err(_) if value.trim().is_empty() => self.problem(line, key, "is required"),
                    Err(p) => self.problem(line, key, p),
                },
                Column::Identifier if value.trim().is_empty() => {}
                Column::Identifier => match Identifier::parse(value.trim()) {
                    Ok(parsed) => identifier = Some(parsed),
                    Err(p) => self.problem(line, key, p),
                },
                Column::Language if value.trim().is_empty() => {}
                Column::Language => match Language::parse(value) {
                    Ok(parsed) => language = Some(parsed),
                    Err(p) => self.problem(line, key, p),
                },
                Column::Subscriptions => {
                    for id in value.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                        match ListId::parse(id) {
                            Ok(id) => {
                                lists.insert(id);
                            }
                            Err(p) => self.problem(line, key, p),
                        }
                    }
                }
                Column::Field(ProfileField::Name) => match ProfileField::Name.parse(value) {
                    Ok(Some(parsed)) => name = Some(parsed),
                    Ok(None) => self.problem(line, key, "is required"),
                    Err(p) => self.problem(line, key, p),
                },
                Column::Field(field) => match field.parse(value) {
                    Ok(Some(parsed)) => profile.fields.push((field, Some(parsed))),
                    Ok(None) => {}
                    Err(p) => self.problem(line, key, p),
                },
            }
        }
        if let Some(email) = &email
            && let Some(first) = first_seen(&mut seen.emails, email.as_str(), line)
        {
            self.problem(
                line,
                "email",
                format!("appears again (first on line {first})"),
            );
        }
        if let Some(identifier) = &identifier
            && let Some(first) = first_seen(&mut seen.identifiers, identifier.as_str(), line)
        {
            self.problem(
                line,
                "identifier",
                format!("appears again (first on line {first})"),
            );
        }
        Some(Row {
            line,
            email,
            name,
            identifier,
            profile,
            lists,
            language,
        })
    }
}

/// Emails and identifiers met so far in the file, with the line each was first on.
#[derive(Default)]
struct Seen {
    emails: HashMap<String, u64>,
    identifiers: HashMap<String, u64>,
}

/// The line `value` was first seen on, if that is an earlier one.
fn first_seen(seen: &mut HashMap<String, u64>, value: &str, line: u64) -> Option<u64> {
    let first = *seen.entry(value.to_owned()).or_insert(line);
    (first != line).then_some(first)
}

fn column_key(column: Column) -> &'static str {
    match column {
        Column::Email => "email",
        Column::Identifier => "identifier",
        Column::Subscriptions => "subscriptions",
        Column::Language => "language",
        Column::Field(field) => field.key(),
    }
}

fn profile_keys() -> String {
    ProfileField::ALL
        .iter()
        .filter(|f| **f != ProfileField::Name)
        .map(|f| f.key())
        .collect::<Vec<_>>()
        .join(", ")
}

flow_handle!(
    /// Importing customers from a CSV file.
    Imports,
    imports
);

impl Imports<'_> {
    /// Imports every row of `file` in one transaction, or nothing: every problem in the file or
    /// against the database (emails and identifiers in use, unknown lists) is reported first.
    /// `progress` is told how many rows went in so far. Subscriptions are recorded as consent
    /// given through an import; with `send_activation` each customer's activation email is
    /// queued in the same transaction.
    pub async fn import_customers(
        &self,
        file: ImportFile,
        send_activation: bool,
        progress: impl Fn(u64) + Send + 'static,
    ) -> Result<ImportSummary, ImportError> {
        let services = self.0.clone();
        let summary = self
            .store
            .write(move |tx| {
                let mut problems = file.problems;
                problems.extend(database_problems(tx, &file.rows)?);
                if !problems.is_empty() {
                    problems.sort_by_key(|p| p.line);
                    return Ok(Outcome::Refused(ImportError::Invalid(problems)));
                }
                let mut summary = ImportSummary {
                    created: 0,
                    activations_queued: 0,
                    subscriptions: 0,
                    customers: Vec::with_capacity(file.rows.len()),
                };
                for (done, row) in file.rows.into_iter().enumerate() {
                    // Every row is complete here: an incomplete one was reported as a problem.
                    let account = row.account(send_activation).ok_or_else(|| {
                        StoreError::Inconsistent(format!("line {}: incomplete row", row.line))
                    })?;
                    let created = services.activations().insert_account(tx, &account)?;
                    if !row.lists.is_empty() {
                        let lists = row.lists.iter().map(|l| l.as_str().to_owned()).collect();
                        services.replace_subscriptions(
                            tx,
                            &created.id,
                            &lists,
                            ConsentSource::Import,
                        )?;
                    }
                    summary.created += 1;
                    summary.activations_queued += usize::from(created.activation_queued);
                    summary.subscriptions += row.lists.len();
                    summary.customers.push(Imported {
                        line: row.line,
                        id: created.id,
                        identifier: created.identifier,
                        email: account.email.as_str().to_owned(),
                    });
                    progress(done as u64 + 1);
                }
                Ok(Outcome::Done(summary))
            })
            .await
            .map_err(AppError::from)?
            .into_result()?;
        if summary.activations_queued > 0 {
            self.mailer.wake_worker();
        }
        self.announcer.wake();
        Ok(summary)
    }
}

/// Rows whose email or identifier is already in use, or that name a list that does not exist.
/// Runs inside the import's write transaction, so nothing can change before the inserts.
fn database_problems(
    conn: &rusqlite::Connection,
    rows: &[Row],
) -> crate::store::StoreResult<Vec<ImportProblem>> {
    let mut problems = Vec::new();
    let mut lists: HashMap<ListId, bool> = HashMap::new();
    let mut problem = |line: u64, field: &str, problem: String| {
        problems.push(ImportProblem {
            line,
            field: field.to_owned(),
            problem,
        })
    };
    for row in rows {
        if let Some(email) = &row.email
            && customers::email_taken(conn, email)?
        {
            problem(row.line, "email", "already belongs to a customer".into());
        }
        if let Some(identifier) = &row.identifier
            && customers::identifier_taken(conn, identifier)?
        {
            problem(
                row.line,
                "identifier",
                "already belongs to a customer".into(),
            );
        }
        for list in &row.lists {
            let exists = match lists.get(list) {
                Some(exists) => *exists,
                None => {
                    let exists = subscriptions::list_exists(conn, list.as_str())?;
                    lists.insert(list.clone(), exists);
                    exists
                }
            };
            if !exists {
                problem(
                    row.line,
                    "subscriptions",
                    format!("there is no subscription list `{list}`"),
                );
            }
        }
    }
    Ok(problems)
}
