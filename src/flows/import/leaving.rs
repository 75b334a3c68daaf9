//! `customers export-all`: every customer written as a row of the import file, so that
//! importing it into an empty database gives the same customers, with their ids, times,
//! statuses, lists, the time and source of each list's consent and the end of each list's
//! pause, and (asked for) their password hashes: this product's own PHC strings, or an imported
//! hash not yet upgraded.

use std::io::Write;

use super::Imports;
use crate::domain::{FIELDS, ProfileField, format_time};
use crate::error::AppError;
use crate::store::export_all::{self, Held, Leaving};

/// Customers read from the database at a time.
const PAGE: u32 = 500;

impl Imports<'_> {
    /// Writes every customer to `out` as an import file (header row first), a page at a time
    /// in id order; answers how many. The password hashes only `with_password_hashes`.
    pub async fn export_all(
        &self,
        out: impl Write,
        with_password_hashes: bool,
    ) -> Result<u64, AppError> {
        let mut csv = csv::Writer::from_writer(out);
        csv.write_record(header(with_password_hashes))
            .map_err(AppError::internal)?;
        let mut after = String::new();
        let mut written = 0;
        loop {
            let from = after.clone();
            let page = self
                .store
                .read(move |c| export_all::customers_after(c, &from, PAGE, with_password_hashes))
                .await?;
            let Some(last) = page.last() else { break };
            after = last.id.clone();
            for customer in &page {
                csv.write_record(row(customer, with_password_hashes))
                    .map_err(AppError::internal)?;
                written += 1;
            }
        }
        csv.flush().map_err(AppError::internal)?;
        Ok(written)
    }
}

/// The columns of the file: those of the import, the profile fields in the order of the
/// customer object.
fn header(with_password_hashes: bool) -> Vec<&'static str> {
    let mut columns = vec![
        "id",
        "email",
        "name",
        "identifier",
        "status",
        "created_at",
        "language",
    ];
    columns.extend(
        FIELDS
            .iter()
            .filter(|spec| spec.field != ProfileField::Name)
            .map(|spec| spec.key),
    );
    columns.extend([
        "subscriptions",
        "subscribed_at",
        "consent_source",
        "paused_until",
    ]);
    if with_password_hashes {
        columns.push("password_hash");
    }
    columns
}

fn row(customer: &Leaving, with_password_hashes: bool) -> Vec<String> {
    let field = |f: ProfileField| customer.profile.get(f).unwrap_or_default().to_owned();
    let mut values = vec![
        customer.id.clone(),
        customer.email.clone(),
        field(ProfileField::Name),
        customer.identifier.clone(),
        customer.status.clone(),
        format_time(customer.created_at),
        customer.language.clone().unwrap_or_default(),
    ];
    values.extend(
        FIELDS
            .iter()
            .filter(|spec| spec.field != ProfileField::Name)
            .map(|spec| field(spec.field)),
    );
    let held = &customer.subscriptions;
    values.push(per_list(held, |h| h.list.clone()));
    values.push(per_list(held, |h| format_time(h.since)));
    values.push(per_list(held, |h| consent_source(h.source.as_deref())));
    values.push(per_list(held, |h| {
        h.paused_until.map(format_time).unwrap_or_default()
    }));
    if with_password_hashes {
        values.push(customer.password_hash.clone().unwrap_or_default());
    }
    values
}

/// One value per list separated by `;` (an empty one where a list has none), or the one value
/// they all share.
fn per_list(held: &[Held], value: impl Fn(&Held) -> String) -> String {
    let values: Vec<String> = held.iter().map(value).collect();
    match values.first() {
        Some(first) if values.iter().all(|v| v == first) && values.len() > 1 => first.clone(),
        _ => values.join(";"),
    }
}

/// The `consent_source` that an import records as the same source again: the import's own
/// `import:<source>` gives `<source>` back, and a plain `import` nothing; any other (`customer`,
/// `signup`, `admin`...) is kept as the text, recorded as `import:<source>` on the way in.
fn consent_source(source: Option<&str>) -> String {
    match source {
        None | Some("import") => String::new(),
        Some(source) => source.strip_prefix("import:").unwrap_or(source).to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consent_source_comes_back_as_the_same_ledger_source() {
        assert_eq!(consent_source(Some("import:magento2")), "magento2");
        assert_eq!(consent_source(Some("import")), "");
        assert_eq!(consent_source(None), "");
        assert_eq!(consent_source(Some("customer")), "customer");
    }

    #[test]
    fn per_list_values_collapse_when_they_agree() {
        let held = |list: &str, since| Held {
            list: list.into(),
            since,
            source: None,
            paused_until: None,
        };
        let two = [held("a", 1), held("b", 1)];
        assert_eq!(per_list(&two, |h| h.list.clone()), "a;b");
        assert_eq!(per_list(&two, |h| h.since.to_string()), "1");
        let differ = [held("a", 1), held("b", 2)];
        assert_eq!(per_list(&differ, |h| h.since.to_string()), "1;2");
        assert_eq!(per_list(&[], |h| h.list.clone()), "");
        let paused = [
            held("a", 1),
            Held {
                paused_until: Some(2),
                ..held("b", 1)
            },
        ];
        let pause = |h: &Held| h.paused_until.map(|t| t.to_string()).unwrap_or_default();
        assert_eq!(per_list(&paused, pause), ";2");
        assert_eq!(per_list(&two, pause), "");
    }
}
