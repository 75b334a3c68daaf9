//! Leases: work that one instance at a time does when several share a database (delivering
//! one webhook endpoint's events in order, the housekeeping sweep). The holder renews its
//! lease while it works and gives it back when it stops; a lease whose holder died runs out,
//! and the next instance to ask takes it.

use super::StoreResult;
use super::sql::{Db, OptionalRow, params};

/// A holder name for this process: its PID and a random part (PIDs repeat across machines).
pub fn new_holder() -> String {
    let mut bytes = [0u8; 8];
    crate::random::random_bytes(&mut bytes);
    format!("{}-{:016x}", std::process::id(), u64::from_le_bytes(bytes))
}

/// Takes or renews the lease `name` for `holder` until `until_ms` (milliseconds since the
/// epoch): granted when no one holds it, when `holder` does, or when it ran out before
/// `now_ms`. Answers whether `holder` now holds it.
pub fn claim(db: &Db, name: &str, holder: &str, now_ms: i64, until_ms: i64) -> StoreResult<bool> {
    Ok(db
        .prepare_cached(
            "INSERT INTO leases (name, holder, until_ms) VALUES (?1, ?2, ?3)
             ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, until_ms = excluded.until_ms
             WHERE leases.holder = excluded.holder OR leases.until_ms <= ?4
             RETURNING holder",
        )?
        .query_row(params![name, holder, until_ms, now_ms], |row| {
            row.get::<String>("holder")
        })
        .optional()?
        .is_some())
}

/// Gives the lease back, if `holder` holds it, so that another instance may take it at once.
pub fn release(db: &Db, name: &str, holder: &str) -> StoreResult<()> {
    db.prepare_cached("DELETE FROM leases WHERE name = ?1 AND holder = ?2")?
        .execute(params![name, holder])?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_held_by_one_holder_until_it_runs_out_or_is_given_back() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let db = Db::sqlite(&conn);
        crate::store::migrations::apply(&db).unwrap();
        assert!(claim(&db, "sweep", "a", 1_000, 2_000).unwrap());
        assert!(
            !claim(&db, "sweep", "b", 1_500, 2_500).unwrap(),
            "a holds it"
        );
        assert!(
            claim(&db, "sweep", "a", 1_500, 3_000).unwrap(),
            "a renews it"
        );
        assert!(!claim(&db, "sweep", "b", 2_999, 4_000).unwrap());
        assert!(
            claim(&db, "sweep", "b", 3_000, 4_000).unwrap(),
            "a's ran out"
        );
        assert!(!claim(&db, "sweep", "a", 3_100, 5_000).unwrap());
        release(&db, "sweep", "a").unwrap();
        assert!(
            !claim(&db, "sweep", "a", 3_100, 5_000).unwrap(),
            "a holds nothing to give"
        );
        release(&db, "sweep", "b").unwrap();
        assert!(
            claim(&db, "sweep", "a", 3_100, 5_000).unwrap(),
            "given back"
        );
        assert!(
            claim(&db, "other", "b", 3_100, 5_000).unwrap(),
            "leases are per name"
        );
    }
}
