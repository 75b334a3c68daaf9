//! The CSV import: the file read twice, one row at a time (every row checked first, every
//! problem named with its line), then every row written in one transaction or none.

use crate::store::sql::Db;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::fmt;
use std::io::Read;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use super::NewAccount;
use crate::domain::{
    AscendingIds, CustomerId, EmailAddress, Identifier, Language, ListId, ProfileChanges,
    ProfileField,
};
use crate::error::AppError;
use crate::store::subscriptions::{self, ConsentSource};
use crate::store::{Outcome, StoreError, StoreResult, customers, import};

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
    /// The file cannot be read (or is not CSV); nothing was written.
    Unreadable(String),
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

/// One row as far as it parsed.
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

/// A CSV file of customers to import. It is read twice, one row at a time, inside the import's
/// transaction: once to check every row, once to write them, so that memory does not grow with
/// the file (issue 19: a million rows).
///
/// The header row names the columns: `email` and `name` (required), `identifier`,
/// `subscriptions` (list ids separated by `;`), `language` (empty: the default language) and
/// any profile field.
#[derive(Clone, Debug)]
pub struct ImportFile {
    source: Source,
}

#[derive(Clone, Debug)]
enum Source {
    Path(PathBuf),
    Bytes(Arc<[u8]>),
}

impl ImportFile {
    /// The file at `path`, which must be readable now (and stay unchanged until the import
    /// has read it twice).
    pub fn open(path: impl Into<PathBuf>) -> std::io::Result<ImportFile> {
        let path = path.into();
        std::fs::File::open(&path)?;
        Ok(ImportFile {
            source: Source::Path(path),
        })
    }

    /// A file held in memory (tests, and callers that already have the bytes).
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> ImportFile {
        ImportFile {
            source: Source::Bytes(bytes.into().into()),
        }
    }

    fn rows(&self) -> std::io::Result<Rows> {
        let input: Box<dyn Read + Send> = match &self.source {
            Source::Path(path) => Box::new(std::fs::File::open(path)?),
            Source::Bytes(bytes) => Box::new(std::io::Cursor::new(bytes.clone())),
        };
        let newlines = Arc::new(Mutex::new(VecDeque::new()));
        let input = Newlines {
            inner: input,
            read: 0,
            last: 0,
            found: newlines.clone(),
        };
        Ok(Rows {
            reader: csv::ReaderBuilder::new()
                .has_headers(false)
                .flexible(true)
                .buffer_capacity(64 * 1024)
                .from_reader(input),
            newlines,
            line: 1,
            columns: None,
            record: csv::ByteRecord::new(),
        })
    }
}

/// The rows of an import file, one at a time, each with the line it starts on.
struct Rows {
    reader: csv::Reader<Newlines>,
    /// Byte offsets of the line feeds read ahead of the current record.
    newlines: Arc<Mutex<VecDeque<(u64, bool)>>>,
    /// The line the current record starts on (1 is the header row).
    line: u64,
    columns: Option<Vec<Option<Column>>>,
    record: csv::ByteRecord,
}

impl Rows {
    /// The next row (`Some(None)` for a row too broken to use), its problems pushed to
    /// `problems`; `None` at the end of the file. The header row is read and checked first.
    fn next(&mut self, problems: &mut Vec<ImportProblem>) -> csv::Result<Option<Option<Row>>> {
        loop {
            if !self.reader.read_byte_record(&mut self.record)? {
                if self.columns.is_none() {
                    problems.push(problem(
                        1,
                        "header",
                        "the file is empty: the first row must name the columns",
                    ));
                }
                return Ok(None);
            }
            self.count_lines();
            match &self.columns {
                None => self.columns = Some(header(self.line, &self.record, problems)),
                Some(_) if self.record.len() == 1 && self.record[0].is_empty() => {}
                Some(columns) => return Ok(Some(row(self.line, columns, &self.record, problems))),
            }
        }
    }

    /// Moves `line` to where the current record starts. Lines are counted here: the reader's
    /// own count misses every `\r\n` line ending, which spreadsheet programs write.
    fn count_lines(&mut self) {
        let Some(position) = self.record.position() else {
            return;
        };
        let start = position.byte();
        let mut newlines = self.newlines.lock().unwrap_or_else(|e| e.into_inner());
        while let Some(&(at, after_cr)) = newlines.front() {
            // The reader starts a record after a `\r`, before the `\n` that ends that line.
            if at < start || (at == start && after_cr) {
                newlines.pop_front();
                self.line += 1;
            } else {
                break;
            }
        }
    }
}

/// A reader that notes where every line feed is, and whether a carriage return came before it,
/// for [`Rows`] to count lines by. It holds only those the csv reader has read ahead.
struct Newlines {
    inner: Box<dyn Read + Send>,
    read: u64,
    last: u8,
    found: Arc<Mutex<VecDeque<(u64, bool)>>>,
}

impl Read for Newlines {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        let mut found = self.found.lock().unwrap_or_else(|e| e.into_inner());
        for (i, &byte) in buf[..n].iter().enumerate() {
            if byte == b'\n' {
                found.push_back((self.read + i as u64, self.last == b'\r'));
            }
            self.last = byte;
        }
        self.read += n as u64;
        Ok(n)
    }
}

fn problem(line: u64, field: &str, problem: impl Into<String>) -> ImportProblem {
    ImportProblem {
        line,
        field: field.to_owned(),
        problem: problem.into(),
    }
}

fn header(
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
                    "`{name}` is not a known column (known: email, name, identifier, subscriptions, language, {})",
                    profile_keys()
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
    for (required, key) in [
        (Column::Email, "email"),
        (Column::Field(ProfileField::Name), "name"),
    ] {
        if !columns.contains(&Some(required)) {
            problems.push(problem(
                line,
                "header",
                format!("the column `{key}` is required"),
            ));
        }
    }
    columns
}

/// One row, as far as it parses: a row with problems is still checked against the database
/// and the rest of the file, so that one run reports every problem.
fn row(
    line: u64,
    columns: &[Option<Column>],
    record: &csv::ByteRecord,
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
    let mut report = |key: &str, p: String| problems.push(problem(line, key, p));
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
            report(key, "is not valid UTF-8".into());
            continue;
        };
        match column {
            Column::Email => match EmailAddress::parse(value) {
                Ok(parsed) => email = Some(parsed),
                Err(_) if value.trim().is_empty() => report(key, "is required".into()),
                Err(p) => report(key, p),
            },
            Column::Identifier if value.trim().is_empty() => {}
            Column::Identifier => match Identifier::parse(value.trim()) {
                Ok(parsed) => identifier = Some(parsed),
                Err(p) => report(key, p),
            },
            Column::Language if value.trim().is_empty() => {}
            Column::Language => match Language::parse(value) {
                Ok(parsed) => language = Some(parsed),
                Err(p) => report(key, p),
            },
            Column::Subscriptions => {
                for id in value.split(';').map(str::trim).filter(|s| !s.is_empty()) {
                    match ListId::parse(id) {
                        Ok(id) => {
                            lists.insert(id);
                        }
                        Err(p) => report(key, p),
                    }
                }
            }
            Column::Field(ProfileField::Name) => match ProfileField::Name.parse(value) {
                Ok(Some(parsed)) => name = Some(parsed),
                Ok(None) => report(key, "is required".into()),
                Err(p) => report(key, p),
            },
            Column::Field(field) => match field.parse(value) {
                Ok(Some(parsed)) => profile.fields.push((field, Some(parsed))),
                Ok(None) => {}
                Err(p) => report(key, p),
            },
        }
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

/// How an import runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct ImportOptions {
    /// Queue each new customer's activation email in the same transaction.
    pub send_activation: bool,
    /// List every created customer in the summary (memory grows with the file then, about a
    /// hundred bytes a customer: the CLI does it for `--json` only).
    pub list_customers: bool,
}

/// How far an import has come, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Rows checked so far, on the first reading of the file.
    Checked(u64),
    /// Rows written so far, on the second reading, of all the rows in the file.
    Imported { done: u64, of: u64 },
}

impl Imports<'_> {
    /// Imports every row of `file` in one transaction, or nothing: every problem in the file or
    /// against the database (emails and identifiers in use or repeated, unknown lists) is
    /// reported first. The file is read twice, one row at a time: once to check it, once to
    /// write it. `progress` is told how far each reading has come. Subscriptions are recorded
    /// as consent given through an import.
    pub async fn import_customers(
        &self,
        file: ImportFile,
        options: ImportOptions,
        progress: impl Fn(Progress) + Send + 'static,
    ) -> Result<ImportSummary, ImportError> {
        let services = self.0.clone();
        let summary = self
            .store
            .write(move |tx| {
                let _cache = import::ImportCache::enlarge(tx)?;
                let rows = match check(tx, &file, &progress)? {
                    Ok(rows) => rows,
                    Err(refused) => return Ok(Outcome::Refused(refused)),
                };
                let summary = write(tx, &services, &file, options, rows, &progress)?;
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

/// The first reading: every row checked on its own, against the rows before it and against the
/// database. Answers how many rows there are, or every problem in line order. Runs inside the
/// import's write transaction, so nothing can change before the second reading writes.
fn check(
    tx: &Db,
    file: &ImportFile,
    progress: &impl Fn(Progress),
) -> StoreResult<Result<u64, ImportError>> {
    let mut rows = match file.rows() {
        Ok(rows) => rows,
        Err(e) => return Ok(Err(ImportError::Unreadable(e.to_string()))),
    };
    let seen = import::Seen::new(tx)?;
    let mut lists: HashMap<ListId, bool> = HashMap::new();
    let mut problems = Vec::new();
    let mut count = 0;
    loop {
        let row = match rows.next(&mut problems) {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(e) => return Ok(Err(ImportError::Unreadable(e.to_string()))),
        };
        count += 1;
        if count % PROGRESS_EVERY == 0 {
            progress(Progress::Checked(count));
        }
        let Some(row) = row else { continue };
        let mut report = |field: &str, p: String| problems.push(problem(row.line, field, p));
        if let Some(email) = &row.email {
            if customers::email_taken(tx, email)? {
                report("email", "already belongs to a customer".into());
            }
            if let Some(first) = seen.first_seen("email", email.as_str(), row.line)? {
                report("email", format!("appears again (first on line {first})"));
            }
        }
        if let Some(identifier) = &row.identifier {
            if customers::identifier_taken(tx, identifier)? {
                report("identifier", "already belongs to a customer".into());
            }
            if let Some(first) = seen.first_seen("identifier", identifier.as_str(), row.line)? {
                report(
                    "identifier",
                    format!("appears again (first on line {first})"),
                );
            }
        }
        for list in &row.lists {
            let exists = match lists.get(list) {
                Some(exists) => *exists,
                None => {
                    let exists = subscriptions::list_exists(tx, list.as_str())?;
                    lists.insert(list.clone(), exists);
                    exists
                }
            };
            if !exists {
                report(
                    "subscriptions",
                    format!("there is no subscription list `{list}`"),
                );
            }
        }
    }
    seen.finish()?;
    progress(Progress::Checked(count));
    if problems.is_empty() {
        Ok(Ok(count))
    } else {
        problems.sort_by_key(|p| p.line);
        Ok(Err(ImportError::Invalid(problems)))
    }
}

/// The second reading: every row written, now that the first found none wrong. A row that
/// reads differently now (the file changed in between) rolls everything back.
fn write(
    tx: &Db,
    services: &super::Services,
    file: &ImportFile,
    options: ImportOptions,
    of: u64,
    progress: &impl Fn(Progress),
) -> StoreResult<ImportSummary> {
    let changed = |what: String| {
        StoreError::Inconsistent(format!("the file changed while it was imported: {what}"))
    };
    let mut rows = file.rows().map_err(|e| changed(e.to_string()))?;
    let mut summary = ImportSummary {
        created: 0,
        activations_queued: 0,
        subscriptions: 0,
        customers: Vec::new(),
    };
    let mut problems = Vec::new();
    let mut done = 0;
    // New customers in ascending id order: see [`AscendingIds`].
    let mut ids = AscendingIds::new(of);
    while let Some(row) = rows
        .next(&mut problems)
        .map_err(|e| changed(e.to_string()))?
    {
        let account = row
            .as_ref()
            .filter(|_| problems.is_empty())
            .and_then(|row| row.account(options.send_activation));
        let (Some(row), Some(account)) = (row, account) else {
            return Err(changed(match problems.first() {
                Some(problem) => problem.to_string(),
                None => format!("a row after line {} is incomplete", rows.line),
            }));
        };
        let created = services
            .activations()
            .insert_account(tx, &account, ids.next())?;
        let lists = row.lists.iter().map(|l| l.as_str().to_owned()).collect();
        services.subscribe_new_customer(tx, &created.id, &lists, ConsentSource::Import)?;
        summary.created += 1;
        summary.activations_queued += usize::from(created.activation_queued);
        summary.subscriptions += row.lists.len();
        if options.list_customers {
            summary.customers.push(Imported {
                line: row.line,
                id: created.id,
                identifier: created.identifier,
                email: account.email.as_str().to_owned(),
            });
        }
        done += 1;
        if done % PROGRESS_EVERY == 0 {
            progress(Progress::Imported { done, of });
        }
    }
    if done != of {
        return Err(changed(format!(
            "{of} rows were checked, {done} read again"
        )));
    }
    progress(Progress::Imported { done, of });
    Ok(summary)
}

/// Rows between two reports to the progress bar.
const PROGRESS_EVERY: u64 = 256;
