//! The CSV import (SPEC 8.3): the file read twice, one row at a time (every row checked first,
//! every problem named with its line and column), then every row written in one transaction or
//! none. `file.rs` reads the rows, `row.rs` parses one; here they are weighed against the rest
//! of the file and the database, and written. The CLI and `POST /admin/import` share it.

mod file;
mod leaving;
mod row;

use std::collections::HashMap;
use std::fmt;

use serde::Serialize;

pub use file::ImportFile;

use super::NewAccount;
use crate::domain::{AscendingIds, CustomerId, Identifier, ListId, Status};
use crate::error::AppError;
use crate::store::counters::Tally;
use crate::store::customers::Arrival;
use crate::store::sql::Db;
use crate::store::subscriptions::{self, MovedConsent};
use crate::store::{Outcome, StoreError, StoreResult, counters, customers, import, now};
use row::{Row, problem};

/// One thing wrong with an import file, on a line of it (1 is the header row), in a column
/// (or `header`, `row` or `file` for what is wrong with more than one value).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImportProblem {
    pub line: u64,
    pub column: String,
    pub message: String,
}

impl fmt::Display for ImportProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.column, self.message)
    }
}

/// Why an import wrote nothing.
#[derive(Debug)]
pub enum ImportError {
    /// The file has problems, all of them listed in line order; it has `rows` rows.
    Invalid {
        problems: Vec<ImportProblem>,
        rows: u64,
    },
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

/// What an import did, or (a dry run) would do.
#[derive(Clone, Debug, Serialize)]
pub struct ImportSummary {
    /// Customers created (a dry run: that would be).
    pub created: usize,
    /// Of those, the active ones (moved in with a password hash, or `status` `active`).
    pub active: usize,
    pub activations_queued: usize,
    pub subscriptions: usize,
    pub customers: Vec<Imported>,
    pub dry_run: bool,
}

flow_handle!(
    /// Importing customers from a CSV file.
    Imports,
    imports
);

/// How an import runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct ImportOptions {
    /// Queue the activation email of each new customer who is pending (every row without a
    /// password hash or `status` `active`), in the same transaction (`--invite`).
    pub invite: bool,
    /// Check every row and write nothing: the summary says what the import would do.
    pub dry_run: bool,
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
    /// against the database (ids, emails and identifiers in use or repeated, unknown lists) is
    /// reported first. The file is read twice, one row at a time: once to check it, once to
    /// write it (not at all in a dry run). `progress` is told how far each reading has come.
    /// Subscriptions are recorded as consent given at `subscribed_at` (else now) with the
    /// source `import:<consent_source>` (else `import`); one paused until a time to come
    /// (`paused_until`) stays out of its list's exports until then, the pause recorded too.
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
                let seen = import::Seen::new(tx)?;
                let checked = check(tx, &file, &seen, &progress)?;
                let summary = match checked {
                    Err(refused) => Outcome::Refused(refused),
                    Ok(checked) if options.dry_run => Outcome::Done(ImportSummary {
                        created: checked.rows as usize,
                        active: checked.active as usize,
                        activations_queued: if options.invite {
                            (checked.rows - checked.active) as usize
                        } else {
                            0
                        },
                        subscriptions: checked.subscriptions as usize,
                        customers: Vec::new(),
                        dry_run: true,
                    }),
                    // Counted once at the end, not by a trigger per row (store::counters).
                    Ok(checked) => Outcome::Done(counters::uncounted_inserts(tx, || {
                        write(tx, &services, &file, &seen, options, checked, &progress)
                    })?),
                };
                seen.finish()?;
                Ok(summary)
            })
            .await
            .map_err(AppError::from)?
            .into_result()?;
        if summary.activations_queued > 0 && !summary.dry_run {
            self.mailer.wake_worker();
        }
        self.announcer.wake();
        Ok(summary)
    }
}

/// What the first reading found in a file with no problems.
#[derive(Clone, Copy, Debug)]
struct Checked {
    rows: u64,
    /// Rows that name their own customer id.
    with_id: u64,
    active: u64,
    subscriptions: u64,
}

/// The first reading: every row checked on its own, against the rows before it and against the
/// database. Answers what the file holds, or every problem in line order. Runs inside the
/// import's write transaction, so nothing can change before the second reading writes.
fn check(
    tx: &Db,
    file: &ImportFile,
    seen: &import::Seen,
    progress: &impl Fn(Progress),
) -> StoreResult<Result<Checked, ImportError>> {
    let mut rows = match file.rows() {
        Ok(rows) => rows,
        Err(e) => return Ok(Err(ImportError::Unreadable(e.to_string()))),
    };
    let now = now();
    let mut lists: HashMap<ListId, bool> = HashMap::new();
    let mut problems = Vec::new();
    let mut checked = Checked {
        rows: 0,
        with_id: 0,
        active: 0,
        subscriptions: 0,
    };
    loop {
        let row = match rows.next(now, &mut problems) {
            Ok(Some(row)) => row,
            Ok(None) => break,
            Err(e) => return Ok(Err(ImportError::Unreadable(e.to_string()))),
        };
        checked.rows += 1;
        if checked.rows.is_multiple_of(PROGRESS_EVERY) {
            progress(Progress::Checked(checked.rows));
        }
        let Some(row) = row else { continue };
        checked.with_id += u64::from(row.id.is_some());
        checked.active += u64::from(row.status == Status::Active);
        checked.subscriptions += row.joins.len() as u64;
        let mut report = |column: &str, p: String| problems.push(problem(row.line, column, p));
        if let Some(id) = &row.id {
            if customers::id_issued(tx, id)? {
                report(
                    "id",
                    "was already given to a customer of this database (ids are never reused)"
                        .into(),
                );
            }
            if let Some(first) = seen.first_seen("id", id.as_str(), row.line)? {
                report("id", format!("appears again (first on line {first})"));
            }
        }
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
        for join in &row.joins {
            let exists = match lists.get(&join.list) {
                Some(exists) => *exists,
                None => {
                    let exists = subscriptions::list_exists(tx, join.list.as_str())?;
                    lists.insert(join.list.clone(), exists);
                    exists
                }
            };
            if !exists {
                report(
                    "subscriptions",
                    format!("there is no subscription list `{}`", join.list),
                );
            }
        }
    }
    progress(Progress::Checked(checked.rows));
    if problems.is_empty() {
        Ok(Ok(checked))
    } else {
        problems.sort_by_key(|p| p.line);
        Ok(Err(ImportError::Invalid {
            problems,
            rows: checked.rows,
        }))
    }
}

/// The second reading: every row written, now that the first found none wrong, and the new
/// customers tallied for the counters. A row that reads differently now (the file changed in
/// between) rolls everything back.
fn write(
    tx: &Db,
    services: &super::Services,
    file: &ImportFile,
    seen: &import::Seen,
    options: ImportOptions,
    checked: Checked,
    progress: &impl Fn(Progress),
) -> StoreResult<(ImportSummary, Tally)> {
    let changed = |what: String| {
        StoreError::Inconsistent(format!("the file changed while it was imported: {what}"))
    };
    let mut rows = file.rows().map_err(|e| changed(e.to_string()))?;
    let mut summary = ImportSummary {
        created: 0,
        active: 0,
        activations_queued: 0,
        subscriptions: 0,
        customers: Vec::new(),
        dry_run: false,
    };
    let now = now();
    let mut problems = Vec::new();
    let of = checked.rows;
    let mut done: u64 = 0;
    let mut tally = Tally::default();
    // New customers in ascending id order: see [`AscendingIds`].
    let mut ids = AscendingIds::new(of - checked.with_id);
    while let Some(row) = rows
        .next(now, &mut problems)
        .map_err(|e| changed(e.to_string()))?
    {
        let row = row.filter(|_| problems.is_empty());
        let Some((row, account)) = row.and_then(|row| {
            let account = account(&row, options.invite, now)?;
            Some((row, account))
        }) else {
            return Err(changed(match problems.first() {
                Some(problem) => problem.to_string(),
                None => format!("a row after line {} is incomplete", rows.line),
            }));
        };
        let id = match &row.id {
            Some(id) => id.clone(),
            None => fresh_id(&mut ids, seen, checked.with_id > 0)?,
        };
        let created = services
            .activations()
            .insert_account(tx, &account, Some(id.clone()))?;
        if created.id != id {
            return Err(changed(format!(
                "the id {id} of line {} is taken",
                row.line
            )));
        }
        let joins: Vec<MovedConsent> = row
            .joins
            .iter()
            .map(|join| MovedConsent {
                list: join.list.as_str().to_owned(),
                at: join.at.unwrap_or(now),
                source: join
                    .source
                    .as_ref()
                    .map_or_else(|| "import".to_owned(), |s| format!("import:{s}")),
                // A pause that has run out is no pause: the list is exported as any other.
                paused_until: join.paused_until.filter(|end| *end > now),
            })
            .collect();
        services.subscribe_new_customer(tx, &created.id, &joins)?;
        tally.new_customer(row.status, row.created_at.unwrap_or(now));
        summary.created += 1;
        summary.active += usize::from(row.status == Status::Active);
        summary.activations_queued += usize::from(created.activation_queued);
        summary.subscriptions += joins.len();
        if options.list_customers {
            summary.customers.push(Imported {
                line: row.line,
                id: created.id,
                identifier: created.identifier,
                email: account.email.as_str().to_owned(),
            });
        }
        done += 1;
        if done.is_multiple_of(PROGRESS_EVERY) {
            progress(Progress::Imported { done, of });
        }
    }
    if done != of {
        return Err(changed(format!(
            "{of} rows were checked, {done} read again"
        )));
    }
    progress(Progress::Imported { done, of });
    Ok((summary, tally))
}

/// The customer a row creates, once it parsed completely: pending rows get the activation
/// email when `invite` says so.
fn account(row: &Row, invite: bool, now: i64) -> Option<NewAccount> {
    Some(NewAccount {
        email: row.email.clone()?,
        name: Some(row.name.clone()?),
        identifier: row.identifier.clone(),
        profile: row.profile.clone(),
        send_activation: invite && row.status == Status::Pending,
        activate_uri: None,
        language: row.language.clone(),
        arrival: Arrival::MovedIn {
            created_at: row.created_at.unwrap_or(now),
            status: row.status,
            password_hash: row.password_hash.clone(),
        },
    })
}

/// The next generated id for a row that names none; when other rows name theirs, one that no
/// row of the file names (the store makes sure it was never issued before).
fn fresh_id(
    ids: &mut AscendingIds,
    seen: &import::Seen,
    file_names_ids: bool,
) -> StoreResult<CustomerId> {
    let mut id = ids.next().unwrap_or_else(CustomerId::random);
    while file_names_ids && seen.contains("id", id.as_str())? {
        id = CustomerId::random();
    }
    Ok(id)
}

/// Rows between two reports to the progress bar.
const PROGRESS_EVERY: u64 = 256;
