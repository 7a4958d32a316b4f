//! The schema and its migrations: one `.sql` file each, applied in order, recorded in SQLite's
//! `PRAGMA user_version`.

use rusqlite::{Connection, TransactionBehavior};

use crate::store::{StoreError, StoreResult};

/// Schema migrations, applied in order; migration `n` (1-based) brings `PRAGMA user_version`
/// to `n`. Append only: a released migration is never edited.
pub(super) const MIGRATIONS: &[&str] = &[
    include_str!("0001_initial.sql"),
    include_str!("0002_checksum_and_archive.sql"),
    include_str!("0003_interview_notes.sql"),
    include_str!("0004_user_settings.sql"),
    include_str!("0005_co_interviewers.sql"),
    include_str!("0006_once_keys_and_api_tokens.sql"),
];

pub(super) fn migrate(conn: &mut Connection) -> StoreResult<()> {
    for (index, sql) in MIGRATIONS.iter().enumerate() {
        let target = index as i64 + 1;
        // One transaction per migration, re-reading the version under the write lock: another
        // process may have applied it while we waited.
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: i64 = tx.query_row("PRAGMA user_version", [], |row| row.get(0))?;
        if current > MIGRATIONS.len() as i64 {
            return Err(StoreError::Corrupt(format!(
                "the database has schema version {current}, newer than the {} this build of \
                 prequel knows; upgrade prequel or open another file",
                MIGRATIONS.len()
            )));
        }
        if current >= target {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", target)?;
        tx.commit()?;
    }
    Ok(())
}
