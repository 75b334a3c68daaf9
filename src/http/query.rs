//! Query strings: each parameter at most once, every problem named, and the paging of the
//! listings (`limit`, and `offset` or `after`).

use std::collections::BTreeSet;
use std::ops::RangeInclusive;

use crate::error::{AppError, FieldErrors};
use crate::flows::MAX_PAGE;
use crate::store::Start;

/// Gives `read` every parameter of `query`, which answers what is wrong with a value it
/// refuses or a name it does not know; a parameter given twice is a problem of its own. Every
/// problem is named in one 422.
pub fn read_query(
    query: Vec<(String, String)>,
    mut read: impl FnMut(&str, String) -> Result<(), String>,
) -> Result<(), AppError> {
    let mut problems = FieldErrors::new();
    let mut seen = BTreeSet::new();
    for (key, value) in query {
        if !seen.insert(key.clone()) {
            problems.insert(key, "must be given at most once".into());
        } else if let Err(problem) = read(&key, value) {
            problems.insert(key, problem);
        }
    }
    AppError::fields(problems).map_or(Ok(()), Err)
}

/// A whole number within `range`.
pub fn whole_number(value: &str, range: RangeInclusive<u32>) -> Result<u32, String> {
    match value.parse::<u32>() {
        Ok(n) if range.contains(&n) => Ok(n),
        _ if *range.end() == u32::MAX => {
            Err(format!("must be a whole number from {}", range.start()))
        }
        _ => Err(format!(
            "must be a whole number from {} to {}",
            range.start(),
            range.end()
        )),
    }
}

/// The name of a parameter a query does not take.
pub fn unknown() -> Result<(), String> {
    Err("is not a known query parameter".into())
}

/// Where a page of a listing starts and how long it is: `?limit=` (1 to [`MAX_PAGE`]) and
/// either `?offset=` or `?after=` (the `next` of an earlier page, read by `cursor`, which
/// answers `None` for a text that is no cursor of its listing).
pub struct Listing<C> {
    pub limit: u32,
    pub start: Start<C>,
}

impl<C> Listing<C> {
    /// Reads the paging parameters of `query`; every other one goes to `other`.
    pub fn parse(
        query: Vec<(String, String)>,
        default_limit: u32,
        cursor: impl Fn(&str) -> Option<C>,
        mut other: impl FnMut(&str, String) -> Result<(), String>,
    ) -> Result<Listing<C>, AppError> {
        let (mut limit, mut offset, mut after) = (default_limit, None, None);
        read_query(query, |key, value| {
            match key {
                "limit" => limit = whole_number(&value, 1..=MAX_PAGE)?,
                "offset" => offset = Some(whole_number(&value, 0..=u32::MAX)?),
                "after" => {
                    let read = cursor(&value).ok_or("must be the `next` of an earlier page")?;
                    after = Some(read);
                }
                _ => other(key, value)?,
            }
            Ok(())
        })?;
        let start = match (offset, after) {
            (Some(_), Some(_)) => {
                let problem = ("after".to_owned(), "cannot be given with offset".to_owned());
                return Err(AppError::fields(FieldErrors::from([problem])).expect("a problem"));
            }
            (_, Some(cursor)) => Start::After(cursor),
            (offset, None) => Start::Offset(offset.unwrap_or(0)),
        };
        Ok(Listing { limit, start })
    }
}
