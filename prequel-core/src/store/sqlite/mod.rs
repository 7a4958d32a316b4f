//! SQLite backend: one database file, shared by every process of a single-machine deployment.
//!
//! The decisions (what a claim, a failure, a destroy request does) are the store's rules
//! (`store/rules.rs`); this backend keeps the records: `records.rs` gives the rules the rows of
//! one transaction, `sql.rs` holds every statement, `codec.rs` reads rows back, `migrate.rs` the
//! schema (the `.sql` files beside them).
//!
//! # How the contract is kept
//!
//! * **Atomic read-modify-write across processes.** Every write runs in a `BEGIN IMMEDIATE`
//!   transaction, which takes the database's write lock before the first read, so the records a
//!   write inspects cannot change until it commits. Writers wait for the lock for up to
//!   [`BUSY_TIMEOUT`] (a busy handler) instead of failing with `SQLITE_BUSY`. Each
//!   record write is additionally conditional on the version it was read at (`… AND version = ?`):
//!   a claim is decided in Rust under the lock, then lands as one `UPDATE … WHERE id = ? AND
//!   version = ?` (invariant 6).
//! * **Exactly one destroy per interview** is a `UNIQUE (interview_id, kind)` constraint.
//! * **Retention only on terminal records** is a `CHECK` constraint on both tables.
//! * **Indexed queues.** Each scheduler query reads one partial index over a VIRTUAL generated
//!   column that is non-NULL exactly for rows in that queue (see `sqlite/0001_initial.sql`);
//!   listings are keyset-paginated on `(key, id)`, never `OFFSET`.
//! * **Change feed.** Each write inserts its change rows in the same transaction into a table with
//!   an `AUTOINCREMENT` key; writers are serialised, so keys become visible in commit order and
//!   are never reused.
//!
//! Times are stored as integer milliseconds since the epoch, so they are kept at millisecond
//! precision. Async callers never block a runtime thread: each call runs on
//! [`tokio::task::spawn_blocking`] with the handle's own connection. Several [`SqliteStore`]s
//! opened on the same file behave like several processes.

#[macro_use]
mod codec;
mod migrate;
mod records;
mod sql;

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rusqlite::{Connection, Transaction, TransactionBehavior};
use tracing::instrument;

use self::codec::{get_time, interview_from_row, ms, operation_from_row};
use self::migrate::{MIGRATIONS, migrate};
use self::records::{SqlRecords, load_interview, load_operation};
pub use self::sql::QueryPlan;
use self::sql::{
    DUE_DESTROYS_SQL, DUE_OPERATIONS_SQL, DUE_WARNINGS_SQL, HOT_QUERIES, LATEST_CHANGE_SQL,
    LIST_ALL_SQL, LIST_OPEN_SQL, LOGS_SQL, NEXT_DESTROY_SQL, NEXT_LEASE_EXPIRY_SQL,
    NEXT_OPERATION_SQL, NEXT_WARNING_SQL, OPERATIONS_FOR_SQL, keyset_page, plan_parameter,
};
use super::page::Listing;
use super::rules::{self, plus};
use super::{
    ApiToken, ChangeBatch, ChangeCursor, Claimed, Completion, Created, DestroyRequested,
    InterviewScope, Lease, NewInterview, NextDue, OperationStore, Page, PageRequest, StoreError,
    StoreResult,
};
use crate::domain::{
    Interview, InterviewId, InterviewLength, InterviewState, LogLine, Operation, OperationId,
    Platform, Requester,
};

/// How long a call waits (about) for another connection's write lock before giving up with
/// [`StoreError::Backend`].
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// How long a waiting writer sleeps between tries for the write lock.
const BUSY_SLEEP: std::time::Duration = std::time::Duration::from_millis(1);

/// SQLite's busy handler: sleep briefly and try again, for up to [`BUSY_TIMEOUT`].
///
/// Not `busy_timeout`: its built-in handler backs off 1, 2, 5, … 100 ms between tries, and
/// under steady contention a waiter that has backed off keeps losing the lock to writers that
/// arrive later (measured: 330 ms stalls with three busy handles). Trying every millisecond
/// keeps waits near the length of the transactions ahead of it.
fn busy_wait(tries: i32) -> bool {
    let budget = BUSY_TIMEOUT.as_millis() / BUSY_SLEEP.as_millis().max(1);
    if u128::try_from(tries).unwrap_or(u128::MAX) >= budget {
        return false;
    }
    std::thread::sleep(BUSY_SLEEP);
    true
}

/// The most changes one [`OperationStore::changes_since`] call returns.
const MAX_CHANGES_PER_BATCH: u32 = 1000;

/// An [`OperationStore`] in one SQLite file (WAL mode).
///
/// Cloning is cheap and shares the connection; [`SqliteStore::open`] on the same path again gives
/// an independent handle with its own connection, as another process would have.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    conn: Mutex<Connection>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// The schema version this build writes (`PRAGMA user_version`).
    pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

    /// Opens (creating if needed) the database at `path` and brings its schema up to date.
    ///
    /// Fails with [`StoreError::Corrupt`] when the file was written by a newer Prequel (a schema
    /// version this build does not know), and with [`StoreError::Backend`] when SQLite cannot open
    /// it. Blocks while it migrates; call it at startup.
    pub fn open(path: &Path) -> StoreResult<Self> {
        let mut conn = Connection::open(path)?;
        // The busy handler comes first: the pragmas and migrations below may wait for another
        // process that is opening the same file at the same moment.
        conn.busy_handler(Some(busy_wait))?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            // Without WAL, readers block the writer and vice versa; SQLite refuses WAL on
            // some file systems (network mounts), and that must be said at startup.
            return Err(StoreError::backend(std::io::Error::other(format!(
                "{} cannot use write-ahead logging (journal mode is {mode})",
                path.display()
            ))));
        }
        // NORMAL is durable in WAL mode except for the last commits before a power cut, and
        // saves an fsync per commit.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        migrate(&mut conn)?;
        Ok(Self {
            inner: Arc::new(Inner {
                path: path.to_owned(),
                conn: Mutex::new(conn),
            }),
        })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// SQLite's `EXPLAIN QUERY PLAN` for every statement the store runs on its hot path (the
    /// listings, the scheduler's queues and wake-up times, the claim, the change feed, an
    /// interview's operations and logs), planned on this database as it is now.
    ///
    /// Each statement is the very text the store prepares. A keyset listing is one statement for
    /// every page; it is planned twice, with the first page's position and with a later page's
    /// bound, to show that the plan does not change with the page. Blocks on the store's
    /// connection for the time it takes to plan (no statement is run); meant for tests,
    /// benchmarks and diagnostics.
    pub fn query_plans(&self) -> StoreResult<Vec<QueryPlan>> {
        let conn = self
            .inner
            .conn
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        HOT_QUERIES
            .iter()
            .map(|&(name, sql, after)| {
                let mut stmt = conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
                for index in 1..=stmt.parameter_count() {
                    let value = plan_parameter(stmt.parameter_name(index), after);
                    stmt.raw_bind_parameter(index, value)?;
                }
                let mut steps = Vec::new();
                let mut rows = stmt.raw_query();
                while let Some(row) = rows.next()? {
                    steps.push(row.get::<_, String>("detail")?);
                }
                Ok(QueryPlan { name, sql, steps })
            })
            .collect()
    }

    /// Runs `f` in a read transaction (one consistent snapshot) on a blocking thread.
    async fn read<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.run(TransactionBehavior::Deferred, f).await
    }

    /// Runs `f` in a write transaction on a blocking thread. `BEGIN IMMEDIATE` takes the write
    /// lock up front, so everything `f` reads stays as read until it commits; an `Err` from `f`
    /// rolls everything back.
    async fn write<T, F>(&self, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        self.run(TransactionBehavior::Immediate, f).await
    }

    /// Runs a rule (see [`rules`]) on the records of one write transaction.
    async fn apply<T, F>(&self, rule: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut SqlRecords<'_, '_>) -> StoreResult<T> + Send + 'static,
    {
        self.write(move |tx| rule(&mut SqlRecords { tx })).await
    }

    async fn run<T, F>(&self, behavior: TransactionBehavior, f: F) -> StoreResult<T>
    where
        T: Send + 'static,
        F: FnOnce(&Transaction<'_>) -> StoreResult<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            // A panic elsewhere while holding the lock dropped its transaction, which rolled
            // back; the connection itself is fine to keep using.
            let mut conn = inner.conn.lock().unwrap_or_else(PoisonError::into_inner);
            let tx = conn.transaction_with_behavior(behavior)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
        .await
        .map_err(StoreError::backend)?
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(err: rusqlite::Error) -> Self {
        match err {
            // Raised while reading a row back: the stored data is not a valid record.
            rusqlite::Error::FromSqlConversionFailure(_, _, source) => {
                StoreError::Corrupt(source.to_string())
            }
            rusqlite::Error::IntegralValueOutOfRange(column, value) => {
                StoreError::Corrupt(format!("column {column} holds out-of-range value {value}"))
            }
            rusqlite::Error::InvalidColumnType(_, name, ty) => {
                StoreError::Corrupt(format!("column `{name}` holds a {ty} value"))
            }
            other => StoreError::backend(other),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Values
#[async_trait]
impl OperationStore for SqliteStore {
    #[instrument(skip_all, fields(interview = %new.id))]
    async fn create_interview(
        &self,
        new: &NewInterview,
        now: DateTime<Utc>,
    ) -> StoreResult<Created> {
        let new = new.clone();
        self.apply(move |tx| rules::create_interview(tx, &new, now))
            .await
    }

    async fn interview(&self, id: &InterviewId) -> StoreResult<Option<Interview>> {
        let id = id.clone();
        self.read(move |tx| load_interview(tx, &id)).await
    }

    async fn list_interviews(
        &self,
        scope: InterviewScope,
        page: &PageRequest,
    ) -> StoreResult<Page<Interview>> {
        let page = page.clone();
        self.read(move |tx| {
            let (listing, sql) = match scope {
                InterviewScope::Open => (Listing::OpenInterviews, LIST_OPEN_SQL),
                InterviewScope::All => (Listing::AllInterviews, LIST_ALL_SQL),
            };
            keyset_page(tx, listing, sql, &[], &page, interview_from_row)
        })
        .await
    }

    async fn operation(&self, id: &OperationId) -> StoreResult<Option<Operation>> {
        let id = id.clone();
        self.read(move |tx| load_operation(tx, &id)).await
    }

    async fn operations_for(&self, interview: &InterviewId) -> StoreResult<Vec<Operation>> {
        let interview = interview.clone();
        self.read(move |tx| {
            let mut stmt = tx.prepare_cached(OPERATIONS_FOR_SQL)?;
            let operations = stmt
                .query_map([interview.as_str()], operation_from_row)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(operations)
        })
        .await
    }

    async fn logs(
        &self,
        operation: &OperationId,
        page: &PageRequest,
    ) -> StoreResult<Page<LogLine>> {
        let operation = operation.clone();
        let page = page.clone();
        self.read(move |tx| {
            if load_operation(tx, &operation)?.is_none() {
                return Err(StoreError::NotFound {
                    what: format!("operation {operation}"),
                });
            }
            keyset_page(
                tx,
                Listing::Logs,
                LOGS_SQL,
                &[(":operation", &operation.as_str())],
                &page,
                |row| {
                    Ok(LogLine {
                        at: get_time(row, "at")?,
                        message: row.get("message")?,
                    })
                },
            )
        })
        .await
    }

    async fn due_operations(
        &self,
        now: DateTime<Utc>,
        page: &PageRequest,
    ) -> StoreResult<Page<Operation>> {
        let page = page.clone();
        self.read(move |tx| {
            keyset_page(
                tx,
                Listing::DueOperations,
                DUE_OPERATIONS_SQL,
                &[(":now", &ms(now))],
                &page,
                operation_from_row,
            )
        })
        .await
    }

    #[instrument(skip_all, fields(operation = %operation, holder = holder))]
    async fn claim(
        &self,
        operation: &OperationId,
        expected_version: u64,
        holder: &str,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Claimed>> {
        let operation = operation.clone();
        let holder = holder.to_owned();
        self.apply(move |tx| {
            rules::claim(tx, &operation, expected_version, &holder, lease_until, now)
        })
        .await
    }

    async fn renew_lease(
        &self,
        lease: &Lease,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Lease> {
        let lease = lease.clone();
        self.apply(move |tx| rules::renew_lease(tx, &lease, until, now))
            .await
    }

    #[instrument(skip_all, fields(interview = %lease.interview_id, state = %state))]
    async fn record_progress(
        &self,
        lease: &Lease,
        state: InterviewState,
        now: DateTime<Utc>,
    ) -> StoreResult<Interview> {
        let lease = lease.clone();
        self.apply(move |tx| rules::record_progress(tx, &lease, state, now))
            .await
    }

    async fn append_logs(
        &self,
        operation: &OperationId,
        lines: &[LogLine],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let operation = operation.clone();
        let lines = lines.to_vec();
        self.write(move |tx| records::append_logs(tx, &operation, lines, now))
            .await
    }

    #[instrument(skip_all, fields(interview = %lease.interview_id, operation = %lease.operation_id))]
    async fn complete(
        &self,
        lease: &Lease,
        completion: Completion,
        now: DateTime<Utc>,
    ) -> StoreResult<Operation> {
        let lease = lease.clone();
        self.apply(move |tx| rules::complete(tx, &lease, completion, now))
            .await
    }

    #[instrument(skip_all, fields(interview = %lease.interview_id, operation = %lease.operation_id))]
    async fn retry_later(
        &self,
        lease: &Lease,
        error: &str,
        retry_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Operation> {
        let lease = lease.clone();
        let error = error.to_owned();
        self.apply(move |tx| rules::retry_later(tx, &lease, &error, retry_at, now))
            .await
    }

    #[instrument(skip_all, fields(interview = %lease.interview_id, operation = %lease.operation_id))]
    async fn fail(
        &self,
        lease: &Lease,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Operation> {
        let lease = lease.clone();
        let reason = reason.to_owned();
        self.apply(move |tx| rules::fail(tx, &lease, &reason, now))
            .await
    }

    #[instrument(skip_all, fields(interview = %interview))]
    async fn request_destroy(
        &self,
        interview: &InterviewId,
        requested_by: &Requester,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<DestroyRequested> {
        let interview = interview.clone();
        let requested_by = requested_by.clone();
        self.apply(move |tx| {
            rules::request_destroy(tx, &interview, &requested_by, max_attempts, now)
        })
        .await
    }

    #[instrument(skip_all, fields(interview = %interview))]
    async fn cancel(
        &self,
        interview: &InterviewId,
        requested_by: &Requester,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Interview>> {
        let interview = interview.clone();
        let requested_by = requested_by.clone();
        self.apply(move |tx| rules::cancel(tx, &interview, &requested_by, now))
            .await
    }

    #[instrument(skip_all, fields(interview = %interview))]
    async fn extend(
        &self,
        interview: &InterviewId,
        new_length: InterviewLength,
        now: DateTime<Utc>,
    ) -> StoreResult<Interview> {
        let interview = interview.clone();
        self.apply(move |tx| rules::extend(tx, &interview, new_length, now))
            .await
    }

    async fn due_destroys(
        &self,
        now: DateTime<Utc>,
        page: &PageRequest,
    ) -> StoreResult<Page<Interview>> {
        let page = page.clone();
        self.read(move |tx| {
            keyset_page(
                tx,
                Listing::DueDestroys,
                DUE_DESTROYS_SQL,
                &[(":now", &ms(now))],
                &page,
                interview_from_row,
            )
        })
        .await
    }

    async fn due_warnings(
        &self,
        now: DateTime<Utc>,
        warn_before: Duration,
        page: &PageRequest,
    ) -> StoreResult<Page<Interview>> {
        let page = page.clone();
        self.read(move |tx| {
            keyset_page(
                tx,
                Listing::DueWarnings,
                DUE_WARNINGS_SQL,
                &[(":until", &ms(plus(now, warn_before)))],
                &page,
                interview_from_row,
            )
        })
        .await
    }

    #[instrument(skip_all, fields(interview = %interview))]
    async fn mark_warned(
        &self,
        interview: &InterviewId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Interview>> {
        let interview = interview.clone();
        self.apply(move |tx| rules::mark_warned(tx, &interview, now))
            .await
    }

    async fn next_due(&self, warn_before: Duration) -> StoreResult<NextDue> {
        self.read(move |tx| {
            Ok(NextDue {
                operation: records::next_time(tx, NEXT_OPERATION_SQL)?,
                lease_expiry: records::next_time(tx, NEXT_LEASE_EXPIRY_SQL)?,
                destroy: records::next_time(tx, NEXT_DESTROY_SQL)?,
                warning: records::next_time(tx, NEXT_WARNING_SQL)?
                    .map(|at| at.checked_sub_signed(warn_before).unwrap_or(at)),
            })
        })
        .await
    }

    async fn changes_since(&self, cursor: ChangeCursor, limit: u32) -> StoreResult<ChangeBatch> {
        self.read(move |tx| records::changes_since(tx, cursor, limit))
            .await
    }

    async fn latest_change(&self) -> StoreResult<ChangeCursor> {
        self.read(|tx| {
            let seq: i64 = tx
                .prepare_cached(LATEST_CHANGE_SQL)?
                .query_row([], |row| row.get(0))?;
            Ok(ChangeCursor(u64::try_from(seq).unwrap_or(0)))
        })
        .await
    }

    #[instrument(skip_all, fields(interview = %interview, key = key))]
    async fn put_note(
        &self,
        interview: &InterviewId,
        key: &str,
        value: &str,
        only_if_absent: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let (interview, key, value) = (interview.clone(), key.to_owned(), value.to_owned());
        self.write(move |tx| records::put_note(tx, &interview, &key, &value, only_if_absent, now))
            .await
    }

    async fn notes(&self, interview: &InterviewId) -> StoreResult<BTreeMap<String, String>> {
        let interview = interview.clone();
        self.read(move |tx| records::notes(tx, &interview)).await
    }

    #[instrument(skip_all, fields(platform = platform.as_str(), key = key))]
    async fn put_user_setting(
        &self,
        platform: Platform,
        user_id: &str,
        key: &str,
        value: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (user_id, key, value) = (user_id.to_owned(), key.to_owned(), value.to_owned());
        self.write(move |tx| records::put_user_setting(tx, platform, &user_id, &key, &value, now))
            .await
    }

    async fn user_setting(
        &self,
        platform: Platform,
        user_id: &str,
        key: &str,
    ) -> StoreResult<Option<String>> {
        let (user_id, key) = (user_id.to_owned(), key.to_owned());
        self.read(move |tx| records::user_setting(tx, platform, &user_id, &key))
            .await
    }

    async fn claim_once(
        &self,
        key: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let key = key.to_owned();
        self.write(move |tx| records::claim_once(tx, &key, expires_at, now))
            .await
    }

    async fn insert_api_token(&self, token: &ApiToken) -> StoreResult<()> {
        let token = token.clone();
        self.write(move |tx| records::insert_api_token(tx, &token))
            .await
    }

    async fn api_token(&self, id: &str) -> StoreResult<Option<ApiToken>> {
        let id = id.to_owned();
        self.read(move |tx| records::api_token(tx, &id)).await
    }

    async fn api_tokens(&self) -> StoreResult<Vec<ApiToken>> {
        self.read(records::api_tokens).await
    }

    async fn revoke_api_token(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ApiToken>> {
        let id = id.to_owned();
        self.write(move |tx| records::revoke_api_token(tx, &id, now))
            .await
    }

    async fn touch_api_token(&self, id: &str, now: DateTime<Utc>) -> StoreResult<()> {
        let id = id.to_owned();
        self.write(move |tx| records::touch_api_token(tx, &id, now))
            .await
    }

    #[instrument(skip_all)]
    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.write(move |tx| records::purge_expired(tx, now)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ChallengeId;

    fn open_temp() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SqliteStore::open(&dir.path().join("prequel.db")).expect("store opens");
        (dir, store)
    }

    /// Every query the scheduler runs on a timer must search an index, never scan a table:
    /// they run every few seconds against a table that grows with every interview ever held.
    /// (`tests/it/scale.rs` checks the same plans on a database of 10,000 interviews.)
    #[test]
    fn scheduler_queries_search_indexes_and_never_scan_a_table() {
        let (_dir, store) = open_temp();
        let plans = store.query_plans().expect("query plans");
        assert_eq!(plans.len(), HOT_QUERIES.len());
        for QueryPlan { name, steps, .. } in plans {
            let plan = steps.join(" | ");
            assert!(
                steps.iter().any(|d| d.starts_with("SEARCH ")),
                "{name} does not search an index: {plan}"
            );
            assert!(
                !steps.iter().any(|d| d.starts_with("SCAN ")),
                "{name} scans a table: {plan}"
            );
            // `operations_for` sorts the at most two rows (create, destroy) that
            // `UNIQUE (interview_id, kind)` finds for it.
            assert!(
                name == "operations_for" || !steps.iter().any(|d| d.contains("TEMP B-TREE")),
                "{name} sorts instead of reading an index in order: {plan}"
            );
        }
    }

    #[test]
    fn opening_a_file_from_a_newer_prequel_is_a_clear_error() {
        let (dir, store) = open_temp();
        let path = store.path().to_owned();
        drop(store);
        let conn = Connection::open(&path).expect("raw connection");
        conn.pragma_update(None, "user_version", SqliteStore::SCHEMA_VERSION + 1)
            .expect("set version");
        drop(conn);
        let err = SqliteStore::open(&path).expect_err("newer schema is refused");
        let message = err.to_string();
        assert!(
            matches!(err, StoreError::Corrupt(_)) && message.contains("newer"),
            "unexpected error: {message}"
        );
        drop(dir);
    }

    #[test]
    fn reopening_keeps_the_schema_version_and_applies_no_migration_twice() {
        let (_dir, store) = open_temp();
        let path = store.path().to_owned();
        let again = SqliteStore::open(&path).expect("reopens");
        let conn = again.inner.conn.lock().expect("connection");
        let version: u32 = conn
            .query_row("PRAGMA user_version", [], |row| row.get(0))
            .expect("version");
        assert_eq!(version, SqliteStore::SCHEMA_VERSION);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |row| row.get(0))
            .expect("journal mode");
        assert_eq!(mode, "wal");
    }

    #[tokio::test]
    async fn a_record_that_does_not_validate_reads_back_as_corrupt_not_a_panic() {
        use chrono::TimeZone;
        let (_dir, store) = open_temp();
        let now = Utc
            .with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
            .single()
            .expect("valid time");
        let new = NewInterview {
            id: InterviewId::parse("corruptme").expect("id"),
            challenge: ChallengeId::parse("python").expect("challenge"),
            candidate: None,
            requested_by: Requester {
                platform: Platform::Cli,
                user_id: "ana".into(),
                display_name: "Ana".into(),
            },
            co_interviewers: Vec::new(),
            time_zone: "Europe/Paris".into(),
            start_at: now + Duration::hours(1),
            length: InterviewLength::from_minutes(60).expect("length"),
            create_due_at: now,
            max_attempts: 3,
        };
        store.create_interview(&new, now).await.expect("created");
        {
            let conn = store.inner.conn.lock().expect("connection");
            conn.execute(
                "UPDATE interviews SET challenge = 'not a challenge!' WHERE id = 'corruptme'",
                [],
            )
            .expect("corrupt the row");
        }
        let err = store.interview(&new.id).await.expect_err("corrupt row");
        assert!(
            matches!(&err, StoreError::Corrupt(message) if message.contains("challenge")),
            "unexpected error: {err}"
        );
    }
}
