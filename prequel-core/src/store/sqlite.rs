//! SQLite backend: one database file, shared by every process of a single-machine deployment.
//!
//! # How the contract is kept
//!
//! * **Atomic read-modify-write across processes.** Every write runs in a `BEGIN IMMEDIATE`
//!   transaction, which takes the database's write lock before the first read, so the records a
//!   write inspects cannot change until it commits. Writers wait for the lock for up to
//!   [`BUSY_TIMEOUT`] (a busy handler) instead of failing with `SQLITE_BUSY`. Each
//!   record write is additionally conditional on the version it was read at (`… AND version = ?`),
//!   and a claim is the conditional `UPDATE … WHERE ready_at <= now` of invariant 6.
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

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use rusqlite::types::Type;
use rusqlite::{
    Connection, OptionalExtension, Row, Transaction, TransactionBehavior, named_params, params,
};
use serde::Serialize;
use tracing::instrument;

use super::{
    Change, ChangeBatch, ChangeCursor, ChangeKind, Claimed, Completion, Created, DEFAULT_RETENTION,
    DestroyRequested, InterviewScope, Lease, NewInterview, NextDue, OperationStore, Page,
    PageRequest, PageToken, StoreError, StoreResult,
};
use crate::domain::{
    ChallengeId, Interview, InterviewId, InterviewLength, InterviewState, InvalidValue, LogLine,
    Operation, OperationId, OperationKind, OperationStatus, Platform, Requester,
};

/// Schema migrations, applied in order; migration `n` (1-based) brings `PRAGMA user_version`
/// to `n`. Append only: a released migration is never edited.
const MIGRATIONS: &[&str] = &[
    include_str!("sqlite/0001_initial.sql"),
    include_str!("sqlite/0002_checksum_and_archive.sql"),
    include_str!("sqlite/0003_interview_notes.sql"),
    include_str!("sqlite/0004_user_settings.sql"),
    include_str!("sqlite/0005_co_interviewers.sql"),
];

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

fn migrate(conn: &mut Connection) -> StoreResult<()> {
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
// ---------------------------------------------------------------------------------------------

/// A stored value that is not valid for its column.
#[derive(Debug, thiserror::Error)]
#[error("column `{column}`: {message}")]
struct BadColumn {
    column: &'static str,
    message: String,
}

fn bad_column(column: &'static str, message: impl fmt::Display) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        usize::MAX,
        Type::Text,
        Box::new(BadColumn {
            column,
            message: message.to_string(),
        }),
    )
}

fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// `at` at the precision it is stored with, so what a write returns equals what a read returns.
fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

/// `at + by`, saturating instead of panicking at the end of chrono's range.
fn plus(at: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    at.checked_add_signed(by)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

fn get_time(row: &Row<'_>, column: &'static str) -> rusqlite::Result<DateTime<Utc>> {
    let millis: i64 = row.get(column)?;
    DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| bad_column(column, format!("{millis} is not a time")))
}

fn get_opt_time(row: &Row<'_>, column: &'static str) -> rusqlite::Result<Option<DateTime<Utc>>> {
    match row.get::<_, Option<i64>>(column)? {
        None => Ok(None),
        Some(millis) => DateTime::from_timestamp_millis(millis)
            .map(Some)
            .ok_or_else(|| bad_column(column, format!("{millis} is not a time"))),
    }
}

fn get_parsed<T>(
    row: &Row<'_>,
    column: &'static str,
    parse: impl FnOnce(&str) -> Result<T, InvalidValue>,
) -> rusqlite::Result<T> {
    let text: String = row.get(column)?;
    parse(&text).map_err(|err| bad_column(column, err))
}

fn get_u64(row: &Row<'_>, column: &'static str) -> rusqlite::Result<u64> {
    let value: i64 = row.get(column)?;
    u64::try_from(value).map_err(|_| bad_column(column, format!("{value} is negative")))
}

fn get_requester(row: &Row<'_>) -> rusqlite::Result<Requester> {
    Ok(Requester {
        platform: get_parsed(row, "requester_platform", Platform::parse)?,
        user_id: row.get("requester_user_id")?,
        display_name: row.get("requester_display_name")?,
    })
}

/// The columns [`interview_from_row`] reads, as a literal for the `concat!`s of the queries.
macro_rules! interview_columns {
    () => {
        "id, challenge, candidate, requester_platform, requester_user_id, \
         requester_display_name, time_zone, start_at, length_minutes, destroy_at, state, \
         access_url, reason, warned_at, created_at, updated_at, expires_at, version, \
         challenge_checksum, archive, co_interviewers"
    };
}

fn interview_from_row(row: &Row<'_>) -> rusqlite::Result<Interview> {
    Ok(Interview {
        id: get_parsed(row, "id", InterviewId::parse)?,
        challenge: get_parsed(row, "challenge", ChallengeId::parse)?,
        candidate: row.get("candidate")?,
        requested_by: get_requester(row)?,
        co_interviewers: {
            let text: String = row.get("co_interviewers")?;
            serde_json::from_str(&text).map_err(|err| bad_column("co_interviewers", err))?
        },
        time_zone: row.get("time_zone")?,
        start_at: get_time(row, "start_at")?,
        length: {
            let minutes: u32 = row.get("length_minutes")?;
            InterviewLength::from_minutes(minutes)
                .map_err(|err| bad_column("length_minutes", err))?
        },
        destroy_at: get_time(row, "destroy_at")?,
        state: get_parsed(row, "state", InterviewState::parse)?,
        access_url: row.get("access_url")?,
        challenge_checksum: row.get("challenge_checksum")?,
        archive: row.get("archive")?,
        reason: row.get("reason")?,
        warned_at: get_opt_time(row, "warned_at")?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
        expires_at: get_opt_time(row, "expires_at")?,
        version: get_u64(row, "version")?,
    })
}

/// The columns [`operation_from_row`] reads, as a literal for the `concat!`s of the queries.
macro_rules! operation_columns {
    () => {
        "id, interview_id, kind, status, due_at, attempts, max_attempts, lease_holder, \
         lease_until, requester_platform, requester_user_id, requester_display_name, result, \
         error, created_at, updated_at, expires_at, version"
    };
}

fn operation_from_row(row: &Row<'_>) -> rusqlite::Result<Operation> {
    Ok(Operation {
        id: get_parsed(row, "id", OperationId::parse)?,
        interview_id: get_parsed(row, "interview_id", InterviewId::parse)?,
        kind: get_parsed(row, "kind", OperationKind::parse)?,
        status: get_parsed(row, "status", OperationStatus::parse)?,
        due_at: get_time(row, "due_at")?,
        attempts: row.get("attempts")?,
        max_attempts: row.get("max_attempts")?,
        lease_holder: row.get("lease_holder")?,
        lease_until: get_opt_time(row, "lease_until")?,
        requested_by: get_requester(row)?,
        result: row.get("result")?,
        error: row.get("error")?,
        created_at: get_time(row, "created_at")?,
        updated_at: get_time(row, "updated_at")?,
        expires_at: get_opt_time(row, "expires_at")?,
        version: get_u64(row, "version")?,
    })
}

// ---------------------------------------------------------------------------------------------
// Page tokens
// ---------------------------------------------------------------------------------------------

/// Which listing a page token belongs to, so a token is never silently applied to another one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Listing {
    OpenInterviews,
    AllInterviews,
    DueOperations,
    DueDestroys,
    DueWarnings,
    Logs,
}

impl Listing {
    fn tag(self) -> &'static str {
        match self {
            Self::OpenInterviews => "io",
            Self::AllInterviews => "ia",
            Self::DueOperations => "od",
            Self::DueDestroys => "dd",
            Self::DueWarnings => "dw",
            Self::Logs => "lg",
        }
    }

    /// The token after an item with sort key `key` and tie-breaker `id`.
    fn token(self, key: i64, id: &str) -> PageToken {
        PageToken(format!("{}~{key}~{id}", self.tag()))
    }

    /// The keyset position a page starts after: before everything for the first page.
    fn position(self, after: Option<&PageToken>) -> StoreResult<(i64, String)> {
        let Some(PageToken(token)) = after else {
            return Ok((i64::MIN, String::new()));
        };
        let mut parts = token.splitn(3, '~');
        let (Some(tag), Some(key), Some(id)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(StoreError::InvalidPageToken);
        };
        let key: i64 = key.parse().map_err(|_| StoreError::InvalidPageToken)?;
        let id_ok = match self {
            Self::Logs => id.is_empty(),
            Self::DueOperations => OperationId::parse(id).is_ok(),
            _ => InterviewId::parse(id).is_ok_and(|parsed| parsed.as_str() == id),
        };
        if tag != self.tag() || !id_ok {
            return Err(StoreError::InvalidPageToken);
        }
        Ok((key, id.to_owned()))
    }
}

/// Runs a keyset query that selects `limit + 1` rows of `(item, key, id)` and cuts the page.
fn keyset_page<T>(
    tx: &Transaction<'_>,
    listing: Listing,
    sql: &str,
    params: &[(&str, &dyn rusqlite::ToSql)],
    page: &PageRequest,
    map: impl Fn(&Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Page<T>> {
    let (after_key, after_id) = listing.position(page.after.as_ref())?;
    let limit = page.effective_limit() as usize;
    let fetch = to_i64(limit as u64 + 1);
    let mut stmt = tx.prepare_cached(sql)?;
    let mut all: Vec<(&str, &dyn rusqlite::ToSql)> = params.to_vec();
    all.push((":after_key", &after_key));
    all.push((":after_id", &after_id));
    all.push((":fetch", &fetch));
    // Bind only what the statement names: the log listing has no id tie-breaker.
    let mut bound = Vec::with_capacity(all.len());
    for (name, value) in all {
        if stmt.parameter_index(name)?.is_some() {
            bound.push((name, value));
        }
    }
    let all = bound;
    let mut rows = stmt
        .query_map(all.as_slice(), |row| {
            let key: i64 = row.get("page_key")?;
            let id: String = row.get("page_id")?;
            Ok((map(row)?, key, id))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let next = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|(_, key, id)| listing.token(*key, id))
    } else {
        None
    };
    Ok(Page {
        items: rows.into_iter().map(|(item, _, _)| item).collect(),
        next,
    })
}

// ---------------------------------------------------------------------------------------------
// Queries (named so the query-plan test can check every one of them)
// ---------------------------------------------------------------------------------------------

macro_rules! interview_page_sql {
    ($key:literal, $where:literal) => {
        concat!(
            "SELECT ",
            interview_columns!(),
            ", ",
            $key,
            " AS page_key, id AS page_id FROM interviews WHERE ",
            $where,
            " AND (",
            $key,
            ", id) > (:after_key, :after_id) ORDER BY ",
            $key,
            ", id LIMIT :fetch"
        )
    };
}

const LIST_OPEN_SQL: &str = interview_page_sql!("open_start_at", "open_start_at IS NOT NULL");
const LIST_ALL_SQL: &str = interview_page_sql!("start_at", "1 = 1");
const DUE_DESTROYS_SQL: &str = interview_page_sql!("destroy_due_at", "destroy_due_at <= :now");
const DUE_WARNINGS_SQL: &str = interview_page_sql!("warn_due_at", "warn_due_at <= :until");

const DUE_OPERATIONS_SQL: &str = concat!(
    "SELECT ",
    operation_columns!(),
    ", ready_at AS page_key, id AS page_id ",
    "FROM operations WHERE ready_at <= :now AND (ready_at, id) > (:after_key, :after_id) ",
    "ORDER BY ready_at, id LIMIT :fetch"
);

const LOGS_SQL: &str = concat!(
    "SELECT at, message, seq AS page_key, '' AS page_id FROM operation_logs ",
    "WHERE operation_id = :operation AND seq > :after_key ORDER BY seq LIMIT :fetch"
);

const NEXT_OPERATION_SQL: &str = "SELECT waiting_due_at FROM operations \
     WHERE waiting_due_at IS NOT NULL ORDER BY waiting_due_at LIMIT 1";
const NEXT_LEASE_EXPIRY_SQL: &str = "SELECT lease_expiry_at FROM operations \
     WHERE lease_expiry_at IS NOT NULL ORDER BY lease_expiry_at LIMIT 1";
const NEXT_DESTROY_SQL: &str = "SELECT destroy_due_at FROM interviews \
     WHERE destroy_due_at IS NOT NULL ORDER BY destroy_due_at LIMIT 1";
const NEXT_WARNING_SQL: &str = "SELECT warn_due_at FROM interviews \
     WHERE warn_due_at IS NOT NULL ORDER BY warn_due_at LIMIT 1";

const CLAIM_SQL: &str = "UPDATE operations SET status = 'running', attempts = attempts + 1, \
     lease_holder = :token, lease_until = :lease_until, updated_at = :now, version = version + 1 \
     WHERE id = :id AND version = :version AND ready_at <= :now";

const CHANGES_SQL: &str =
    "SELECT seq, at, body FROM changes WHERE seq > :after ORDER BY seq LIMIT :limit";

const LATEST_CHANGE_SQL: &str = "SELECT COALESCE(MAX(seq), 0) FROM changes";

const INTERVIEW_BY_ID_SQL: &str = concat!(
    "SELECT ",
    interview_columns!(),
    " FROM interviews WHERE id = ?1"
);

const OPERATION_BY_ID_SQL: &str = concat!(
    "SELECT ",
    operation_columns!(),
    " FROM operations WHERE id = ?1"
);

const OPERATION_OF_KIND_SQL: &str = concat!(
    "SELECT ",
    operation_columns!(),
    " FROM operations WHERE interview_id = ?1 AND kind = ?2"
);

// `kind` breaks ties: a create always precedes its interview's destroy.
const OPERATIONS_FOR_SQL: &str = concat!(
    "SELECT ",
    operation_columns!(),
    " FROM operations WHERE interview_id = ?1 ORDER BY created_at, kind"
);

/// One hot-path statement of the store and how SQLite runs it (see [`SqliteStore::query_plans`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryPlan {
    /// The store call that runs the statement, and which page for a listing.
    pub name: &'static str,
    /// The statement, exactly as the store prepares it.
    pub sql: &'static str,
    /// The `detail` column of `EXPLAIN QUERY PLAN`, one step per row, in SQLite's order (for
    /// example `SEARCH operations USING INDEX operations_waiting (waiting_due_at>?)`).
    pub steps: Vec<String>,
}

/// The first page's keyset position, and a later page's (the listings bind it; others ignore it).
const FIRST_PAGE: (i64, &str) = (i64::MIN, "");
const LATER_PAGE: (i64, &str) = (1_800_000_000_000, "abcd2345");

/// What [`SqliteStore::query_plans`] plans: (store call, statement, page position).
const HOT_QUERIES: &[(&str, &str, (i64, &str))] = &[
    (
        "list_interviews(Open), first page",
        LIST_OPEN_SQL,
        FIRST_PAGE,
    ),
    (
        "list_interviews(Open), after a token",
        LIST_OPEN_SQL,
        LATER_PAGE,
    ),
    ("list_interviews(All), first page", LIST_ALL_SQL, FIRST_PAGE),
    (
        "list_interviews(All), after a token",
        LIST_ALL_SQL,
        LATER_PAGE,
    ),
    ("due_operations, first page", DUE_OPERATIONS_SQL, FIRST_PAGE),
    (
        "due_operations, after a token",
        DUE_OPERATIONS_SQL,
        LATER_PAGE,
    ),
    ("due_destroys, first page", DUE_DESTROYS_SQL, FIRST_PAGE),
    ("due_destroys, after a token", DUE_DESTROYS_SQL, LATER_PAGE),
    ("due_warnings, first page", DUE_WARNINGS_SQL, FIRST_PAGE),
    ("due_warnings, after a token", DUE_WARNINGS_SQL, LATER_PAGE),
    ("next_due.operation", NEXT_OPERATION_SQL, FIRST_PAGE),
    ("next_due.lease_expiry", NEXT_LEASE_EXPIRY_SQL, FIRST_PAGE),
    ("next_due.destroy", NEXT_DESTROY_SQL, FIRST_PAGE),
    ("next_due.warning", NEXT_WARNING_SQL, FIRST_PAGE),
    ("claim", CLAIM_SQL, FIRST_PAGE),
    (
        "claim: the interview's other operation",
        OPERATION_OF_KIND_SQL,
        FIRST_PAGE,
    ),
    ("changes_since", CHANGES_SQL, FIRST_PAGE),
    ("latest_change", LATEST_CHANGE_SQL, FIRST_PAGE),
    ("interview", INTERVIEW_BY_ID_SQL, FIRST_PAGE),
    ("operation", OPERATION_BY_ID_SQL, FIRST_PAGE),
    ("operations_for", OPERATIONS_FOR_SQL, FIRST_PAGE),
    ("logs, first page", LOGS_SQL, FIRST_PAGE),
    ("logs, after a token", LOGS_SQL, LATER_PAGE),
];

/// A value of the right type for parameter `name` of a hot query, for planning it: times and
/// counts are integers (every queue as if all of it were due), ids are text.
fn plan_parameter(
    name: Option<&str>,
    (after_key, after_id): (i64, &str),
) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match name.unwrap_or_default() {
        ":after_key" => Value::Integer(after_key),
        ":after_id" => Value::Text(after_id.to_owned()),
        ":fetch" => Value::Integer(i64::from(PageRequest::MAX_LIMIT) + 1),
        ":limit" => Value::Integer(i64::from(MAX_CHANGES_PER_BATCH)),
        ":after" | ":version" => Value::Integer(0),
        ":now" | ":until" | ":lease_until" => Value::Integer(i64::MAX),
        _ => Value::Text("abcd2345".to_owned()),
    }
}

// ---------------------------------------------------------------------------------------------
// Record access inside a transaction
// ---------------------------------------------------------------------------------------------

fn load_interview(tx: &Transaction<'_>, id: &InterviewId) -> StoreResult<Option<Interview>> {
    Ok(tx
        .prepare_cached(INTERVIEW_BY_ID_SQL)?
        .query_row([id.as_str()], interview_from_row)
        .optional()?)
}

fn require_interview(tx: &Transaction<'_>, id: &InterviewId) -> StoreResult<Interview> {
    load_interview(tx, id)?.ok_or_else(|| StoreError::NotFound {
        what: format!("interview {id}"),
    })
}

fn load_operation(tx: &Transaction<'_>, id: &OperationId) -> StoreResult<Option<Operation>> {
    Ok(tx
        .prepare_cached(OPERATION_BY_ID_SQL)?
        .query_row([id.as_str()], operation_from_row)
        .optional()?)
}

fn load_operation_of(
    tx: &Transaction<'_>,
    interview: &InterviewId,
    kind: OperationKind,
) -> StoreResult<Option<Operation>> {
    Ok(tx
        .prepare_cached(OPERATION_OF_KIND_SQL)?
        .query_row([interview.as_str(), kind.as_str()], operation_from_row)
        .optional()?)
}

/// Whether any operation of the interview can still run (so its records must not expire yet).
fn has_open_operations(tx: &Transaction<'_>, interview: &InterviewId) -> StoreResult<bool> {
    Ok(tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM operations WHERE interview_id = ?1 \
             AND status IN ('pending', 'scheduled', 'running'))",
        )?
        .query_row([interview.as_str()], |row| row.get(0))?)
}

fn record_change(tx: &Transaction<'_>, at: DateTime<Utc>, kind: &ChangeKind) -> StoreResult<()> {
    let tag = match kind {
        ChangeKind::Interview { .. } => "interview",
        ChangeKind::Operation { .. } => "operation",
        ChangeKind::Logs { .. } => "logs",
        ChangeKind::Warning { .. } => "warning",
    };
    let body = serde_json::to_string(kind).map_err(StoreError::backend)?;
    tx.prepare_cached(
        "INSERT INTO changes (at, interview_id, kind, body) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![ms(at), kind.interview_id().as_str(), tag, body])?;
    Ok(())
}

/// How an interview write appears in the change feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FeedAs {
    Interview,
    Warning,
}

/// Writes back an interview changed in memory: bumps its version, stamps `updated_at`, gives it
/// its retention time once it is terminal and nothing more can run for it, and records the change.
/// Operations must be saved first, so the retention check sees their new status.
fn save_interview(
    tx: &Transaction<'_>,
    interview: &mut Interview,
    now: DateTime<Utc>,
    feed: FeedAs,
) -> StoreResult<()> {
    let read_version = interview.version;
    interview.version = read_version + 1;
    interview.updated_at = stored(now);
    if interview.state.is_terminal()
        && interview.expires_at.is_none()
        && !has_open_operations(tx, &interview.id)?
    {
        interview.expires_at = Some(stored(plus(now, DEFAULT_RETENTION)));
    }
    let changed = tx
        .prepare_cached(
            "UPDATE interviews SET length_minutes = :length, destroy_at = :destroy_at, \
             state = :state, access_url = :access_url, reason = :reason, warned_at = :warned_at, \
             challenge_checksum = :challenge_checksum, archive = :archive, updated_at = :updated_at, expires_at = :expires_at, version = :version \
             WHERE id = :id AND version = :read_version",
        )?
        .execute(named_params! {
            ":length": interview.length.minutes(),
            ":destroy_at": ms(interview.destroy_at),
            ":state": interview.state.as_str(),
            ":access_url": interview.access_url,
            ":reason": interview.reason,
            ":warned_at": interview.warned_at.map(ms),
            ":challenge_checksum": interview.challenge_checksum,
            ":archive": interview.archive,
            ":updated_at": ms(interview.updated_at),
            ":expires_at": interview.expires_at.map(ms),
            ":version": to_i64(interview.version),
            ":id": interview.id.as_str(),
            ":read_version": to_i64(read_version),
        })?;
    if changed != 1 {
        // Cannot happen under BEGIN IMMEDIATE; if it does, refuse rather than overwrite.
        return Err(StoreError::Conflict(format!(
            "interview {} changed while it was being written",
            interview.id
        )));
    }
    let kind = match feed {
        FeedAs::Interview => ChangeKind::Interview {
            interview: interview.clone(),
        },
        FeedAs::Warning => ChangeKind::Warning {
            interview: interview.clone(),
        },
    };
    record_change(tx, now, &kind)
}

/// Writes back an operation changed in memory: bumps its version, stamps `updated_at`, drops
/// the lease and sets the retention time once it is terminal, and records the change.
fn save_operation(
    tx: &Transaction<'_>,
    operation: &mut Operation,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let read_version = operation.version;
    operation.version = read_version + 1;
    operation.updated_at = stored(now);
    if operation.status != OperationStatus::Running {
        operation.lease_holder = None;
        operation.lease_until = None;
    }
    if operation.status.is_terminal() && operation.expires_at.is_none() {
        operation.expires_at = Some(stored(plus(now, DEFAULT_RETENTION)));
    }
    let changed = tx
        .prepare_cached(
            "UPDATE operations SET status = :status, due_at = :due_at, attempts = :attempts, \
             lease_holder = :lease_holder, lease_until = :lease_until, result = :result, \
             error = :error, updated_at = :updated_at, expires_at = :expires_at, \
             version = :version WHERE id = :id AND version = :read_version",
        )?
        .execute(named_params! {
            ":status": operation.status.as_str(),
            ":due_at": ms(operation.due_at),
            ":attempts": operation.attempts,
            ":lease_holder": operation.lease_holder,
            ":lease_until": operation.lease_until.map(ms),
            ":result": operation.result,
            ":error": operation.error,
            ":updated_at": ms(operation.updated_at),
            ":expires_at": operation.expires_at.map(ms),
            ":version": to_i64(operation.version),
            ":id": operation.id.as_str(),
            ":read_version": to_i64(read_version),
        })?;
    if changed != 1 {
        return Err(StoreError::Conflict(format!(
            "operation {} changed while it was being written",
            operation.id
        )));
    }
    record_change(
        tx,
        now,
        &ChangeKind::Operation {
            operation: operation.clone(),
        },
    )
}

fn insert_interview(tx: &Transaction<'_>, interview: &Interview, request: &str) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO interviews (id, challenge, candidate, requester_platform, requester_user_id, \
         requester_display_name, time_zone, start_at, length_minutes, destroy_at, state, \
         access_url, reason, warned_at, created_at, updated_at, expires_at, version, request, \
         co_interviewers) \
         VALUES (:id, :challenge, :candidate, :platform, :user_id, :display_name, :time_zone, \
         :start_at, :length, :destroy_at, :state, :access_url, :reason, :warned_at, :created_at, \
         :updated_at, :expires_at, :version, :request, :co_interviewers)",
    )?
    .execute(named_params! {
        ":id": interview.id.as_str(),
        ":challenge": interview.challenge.as_str(),
        ":candidate": interview.candidate,
        ":platform": interview.requested_by.platform.as_str(),
        ":user_id": interview.requested_by.user_id,
        ":display_name": interview.requested_by.display_name,
        ":time_zone": interview.time_zone,
        ":start_at": ms(interview.start_at),
        ":length": interview.length.minutes(),
        ":destroy_at": ms(interview.destroy_at),
        ":state": interview.state.as_str(),
        ":access_url": interview.access_url,
        ":reason": interview.reason,
        ":warned_at": interview.warned_at.map(ms),
        ":created_at": ms(interview.created_at),
        ":updated_at": ms(interview.updated_at),
        ":expires_at": interview.expires_at.map(ms),
        ":version": to_i64(interview.version),
        ":request": request,
        ":co_interviewers": serde_json::to_string(&interview.co_interviewers).map_err(StoreError::backend)?,
    })?;
    record_change(
        tx,
        interview.created_at,
        &ChangeKind::Interview {
            interview: interview.clone(),
        },
    )
}

fn insert_operation(tx: &Transaction<'_>, operation: &Operation) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO operations (id, interview_id, kind, status, due_at, attempts, max_attempts, \
         lease_holder, lease_until, requester_platform, requester_user_id, \
         requester_display_name, result, error, created_at, updated_at, expires_at, version) \
         VALUES (:id, :interview_id, :kind, :status, :due_at, :attempts, :max_attempts, \
         :lease_holder, :lease_until, :platform, :user_id, :display_name, :result, :error, \
         :created_at, :updated_at, :expires_at, :version)",
    )?
    .execute(named_params! {
        ":id": operation.id.as_str(),
        ":interview_id": operation.interview_id.as_str(),
        ":kind": operation.kind.as_str(),
        ":status": operation.status.as_str(),
        ":due_at": ms(operation.due_at),
        ":attempts": operation.attempts,
        ":max_attempts": operation.max_attempts,
        ":lease_holder": operation.lease_holder,
        ":lease_until": operation.lease_until.map(ms),
        ":platform": operation.requested_by.platform.as_str(),
        ":user_id": operation.requested_by.user_id,
        ":display_name": operation.requested_by.display_name,
        ":result": operation.result,
        ":error": operation.error,
        ":created_at": ms(operation.created_at),
        ":updated_at": ms(operation.updated_at),
        ":expires_at": operation.expires_at.map(ms),
        ":version": to_i64(operation.version),
    })?;
    record_change(
        tx,
        operation.created_at,
        &ChangeKind::Operation {
            operation: operation.clone(),
        },
    )
}

/// A fresh waiting operation (pending when already due, scheduled otherwise).
fn new_operation(
    interview: &InterviewId,
    kind: OperationKind,
    due_at: DateTime<Utc>,
    max_attempts: u32,
    requested_by: &Requester,
    now: DateTime<Utc>,
) -> Operation {
    let now = stored(now);
    let due_at = stored(due_at);
    Operation {
        id: OperationId::generate(),
        interview_id: interview.clone(),
        kind,
        status: if due_at <= now {
            OperationStatus::Pending
        } else {
            OperationStatus::Scheduled
        },
        due_at,
        attempts: 0,
        max_attempts,
        lease_holder: None,
        lease_until: None,
        requested_by: requested_by.clone(),
        result: None,
        error: None,
        created_at: now,
        updated_at: now,
        expires_at: None,
        version: 1,
    }
}

// ---------------------------------------------------------------------------------------------
// The operations of the contract, each inside one transaction
// ---------------------------------------------------------------------------------------------

/// The creating request exactly as asked, for recognising an idempotent retry. Field order is
/// fixed by the struct, so equal requests serialise to equal text.
#[derive(Serialize)]
struct RequestFingerprint<'a> {
    challenge: &'a str,
    candidate: Option<&'a str>,
    requested_by: &'a Requester,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    co_interviewers: &'a [String],
    time_zone: &'a str,
    start_at: i64,
    length_minutes: u32,
    create_due_at: i64,
    max_attempts: u32,
}

fn fingerprint(new: &NewInterview) -> StoreResult<String> {
    serde_json::to_string(&RequestFingerprint {
        challenge: new.challenge.as_str(),
        candidate: new.candidate.as_deref(),
        requested_by: &new.requested_by,
        co_interviewers: &new.co_interviewers,
        time_zone: &new.time_zone,
        start_at: ms(new.start_at),
        length_minutes: new.length.minutes(),
        create_due_at: ms(new.create_due_at),
        max_attempts: new.max_attempts,
    })
    .map_err(StoreError::backend)
}

fn create_interview(
    tx: &Transaction<'_>,
    new: &NewInterview,
    now: DateTime<Utc>,
) -> StoreResult<Created> {
    let request = fingerprint(new)?;
    let stored_request: Option<String> = tx
        .prepare_cached("SELECT request FROM interviews WHERE id = ?1")?
        .query_row([new.id.as_str()], |row| row.get(0))
        .optional()?;
    if let Some(stored_request) = stored_request {
        if stored_request != request {
            return Err(StoreError::Conflict(format!(
                "interview {} already exists with other details",
                new.id
            )));
        }
        let interview = require_interview(tx, &new.id)?;
        let operation =
            load_operation_of(tx, &new.id, OperationKind::Create)?.ok_or_else(|| {
                StoreError::Conflict(format!(
                    "interview {} was recorded long ago and its create operation has expired",
                    new.id
                ))
            })?;
        return Ok(Created {
            interview,
            operation,
            newly_created: false,
        });
    }

    let now = stored(now);
    let start_at = stored(new.start_at);
    let interview = Interview {
        id: new.id.clone(),
        challenge: new.challenge.clone(),
        candidate: new.candidate.clone(),
        requested_by: new.requested_by.clone(),
        co_interviewers: new.co_interviewers.clone(),
        time_zone: new.time_zone.clone(),
        start_at,
        length: new.length,
        destroy_at: plus(start_at, new.length.as_duration()),
        state: InterviewState::Scheduled,
        access_url: None,
        challenge_checksum: None,
        archive: None,
        reason: None,
        warned_at: None,
        created_at: now,
        updated_at: now,
        expires_at: None,
        version: 1,
    };
    insert_interview(tx, &interview, &request)?;
    let operation = new_operation(
        &new.id,
        OperationKind::Create,
        new.create_due_at,
        new.max_attempts,
        &new.requested_by,
        now,
    );
    insert_operation(tx, &operation)?;
    Ok(Created {
        interview,
        operation,
        newly_created: true,
    })
}

/// A lease token: the holder's name, for people reading the record, and a random suffix, so two
/// claims by workers of the same name never share a token.
fn lease_token(holder: &str) -> String {
    let suffix: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(16)
        .map(char::from)
        .collect();
    format!("{holder}#{suffix}")
}

fn claim(
    tx: &Transaction<'_>,
    id: &OperationId,
    expected_version: u64,
    holder: &str,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<Option<Claimed>> {
    let Some(mut operation) = load_operation(tx, id)? else {
        return Err(StoreError::NotFound {
            what: format!("operation {id}"),
        });
    };
    let claimable = match operation.status {
        OperationStatus::Pending | OperationStatus::Scheduled => operation.due_at <= now,
        OperationStatus::Running => operation.lease_until.is_some_and(|until| until < now),
        _ => false,
    };
    if operation.version != expected_version || !claimable {
        return Ok(None);
    }

    if operation.attempts >= operation.max_attempts {
        // Every allowed attempt was claimed and the last worker vanished (or no attempts were
        // allowed at all): fail it for good instead of starting attempt max+1.
        let reason = if operation.status == OperationStatus::Running {
            format!(
                "gave up after {} attempts: the last worker stopped renewing its lease",
                operation.attempts
            )
        } else {
            format!(
                "gave up: no attempts left (allowed {})",
                operation.max_attempts
            )
        };
        fail_operation(tx, operation, &reason, now)?;
        return Ok(None);
    }

    let interview = require_interview(tx, &operation.interview_id)?;
    match operation.kind {
        OperationKind::Create => {
            // Provisioning an interview that is ending (or over) would only leak an instance.
            let destroy = load_operation_of(tx, &interview.id, OperationKind::Destroy)?;
            if destroy.is_some() || interview.state.is_terminal() {
                operation.status = OperationStatus::Cancelled;
                operation.error = Some("cancelled: the interview is being destroyed".into());
                save_operation(tx, &mut operation, now)?;
                return Ok(None);
            }
        }
        OperationKind::Destroy => {
            if let Some(mut create) = load_operation_of(tx, &interview.id, OperationKind::Create)? {
                match (create.status, create.lease_until) {
                    (OperationStatus::Running, Some(until)) if until >= now => {
                        // The create is still being worked on: tearing down under it would race
                        // its provisioning. Move the destroy to just after the create's lease
                        // (it comes back to `now` as soon as the create lets go), so the
                        // scheduler is not woken for it again and again meanwhile.
                        let after_lease = plus(until, Duration::milliseconds(1));
                        if operation.due_at < after_lease {
                            operation.due_at = stored(after_lease);
                            operation.status = OperationStatus::Scheduled;
                            save_operation(tx, &mut operation, now)?;
                        }
                        return Ok(None);
                    }
                    (
                        OperationStatus::Pending
                        | OperationStatus::Scheduled
                        | OperationStatus::Running,
                        _,
                    ) => {
                        // Waiting to start, waiting for a retry, or its worker vanished: it must
                        // never run after (or during) the destroy.
                        create.status = OperationStatus::Cancelled;
                        create.error = Some("cancelled: the interview is being destroyed".into());
                        save_operation(tx, &mut create, now)?;
                    }
                    _ => {}
                }
            }
        }
    }

    let token = lease_token(holder);
    let lease_until = stored(lease_until);
    // The conditional write of invariant 6. Under BEGIN IMMEDIATE the checks above already
    // hold, but the claim must not depend on that: it only lands on the version and due state
    // it was decided on.
    let changed = tx.prepare_cached(CLAIM_SQL)?.execute(named_params! {
        ":token": token,
        ":lease_until": ms(lease_until),
        ":now": ms(now),
        ":id": id.as_str(),
        ":version": to_i64(operation.version),
    })?;
    if changed != 1 {
        return Ok(None);
    }
    let operation = load_operation(tx, id)?.ok_or_else(|| StoreError::NotFound {
        what: format!("operation {id}"),
    })?;
    record_change(
        tx,
        now,
        &ChangeKind::Operation {
            operation: operation.clone(),
        },
    )?;
    let lease = Lease {
        operation_id: operation.id.clone(),
        interview_id: operation.interview_id.clone(),
        kind: operation.kind,
        token,
        until: lease_until,
    };
    Ok(Some(Claimed {
        operation,
        interview,
        lease,
    }))
}

/// The operation behind `lease`, if the lease still holds it.
fn leased_operation(tx: &Transaction<'_>, lease: &Lease) -> StoreResult<Operation> {
    let lost = || StoreError::LeaseLost {
        operation: lease.operation_id.clone(),
    };
    let operation = load_operation(tx, &lease.operation_id)?.ok_or_else(lost)?;
    if operation.status != OperationStatus::Running
        || operation.lease_holder.as_deref() != Some(lease.token.as_str())
    {
        return Err(lost());
    }
    Ok(operation)
}

/// When a create lets go of its lease, a destroy that was waiting for it becomes due at once.
fn release_waiting_destroy(
    tx: &Transaction<'_>,
    interview: &InterviewId,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    if let Some(mut destroy) = load_operation_of(tx, interview, OperationKind::Destroy)?
        && matches!(
            destroy.status,
            OperationStatus::Pending | OperationStatus::Scheduled
        )
        && destroy.due_at > now
    {
        destroy.due_at = stored(now);
        destroy.status = OperationStatus::Pending;
        save_operation(tx, &mut destroy, now)?;
    }
    Ok(())
}

/// Inserts the interview's destroy operation (due `now`), or makes the existing one due now.
fn ensure_destroy(
    tx: &Transaction<'_>,
    interview: &InterviewId,
    requested_by: &Requester,
    max_attempts: u32,
    now: DateTime<Utc>,
) -> StoreResult<Operation> {
    if let Some(existing) = load_operation_of(tx, interview, OperationKind::Destroy)? {
        release_waiting_destroy(tx, interview, now)?;
        return load_operation(tx, &existing.id)?.ok_or_else(|| StoreError::NotFound {
            what: format!("operation {}", existing.id),
        });
    }
    let destroy = new_operation(
        interview,
        OperationKind::Destroy,
        now,
        max_attempts,
        requested_by,
        now,
    );
    insert_operation(tx, &destroy)?;
    tx.prepare_cached("UPDATE interviews SET has_destroy = 1 WHERE id = ?1")?
        .execute([interview.as_str()])?;
    Ok(destroy)
}

/// Fails an operation for good (see [`OperationStore::fail`]).
fn fail_operation(
    tx: &Transaction<'_>,
    mut operation: Operation,
    reason: &str,
    now: DateTime<Utc>,
) -> StoreResult<Operation> {
    operation.status = OperationStatus::Failed;
    operation.error = Some(reason.to_owned());
    save_operation(tx, &mut operation, now)?;
    let mut interview = require_interview(tx, &operation.interview_id)?;
    match operation.kind {
        OperationKind::Create => {
            // Whatever was half-provisioned must be torn down: request the destroy in this
            // same write, so a crash cannot leave a failed interview with nobody cleaning up.
            ensure_destroy(
                tx,
                &interview.id,
                &interview.requested_by,
                operation.max_attempts,
                now,
            )?;
            if !interview.state.is_terminal() {
                interview.state = InterviewState::Failed;
                interview.reason = Some(reason.to_owned());
            }
        }
        OperationKind::Destroy => {
            if !interview.state.is_terminal() {
                interview.state = InterviewState::Failed;
                interview.reason = Some(format!("could not be destroyed: {reason}"));
            }
        }
    }
    save_interview(tx, &mut interview, now, FeedAs::Interview)?;
    Ok(operation)
}

/// Cancels an interview whose create has not started, and that create.
fn cancel_before_start(
    tx: &Transaction<'_>,
    mut interview: Interview,
    create: Option<Operation>,
    requested_by: &Requester,
    now: DateTime<Utc>,
) -> StoreResult<Interview> {
    if let Some(mut create) = create {
        create.status = OperationStatus::Cancelled;
        create.error = Some(format!("cancelled by {}", requested_by.display_name));
        save_operation(tx, &mut create, now)?;
    }
    interview.state = InterviewState::Cancelled;
    interview.reason = Some(format!(
        "cancelled by {} before it started",
        requested_by.display_name
    ));
    save_interview(tx, &mut interview, now, FeedAs::Interview)?;
    Ok(interview)
}

/// Whether a create has not been claimed yet, so nothing was provisioned for it.
fn not_started(create: &Operation) -> bool {
    matches!(
        create.status,
        OperationStatus::Pending | OperationStatus::Scheduled
    ) && create.attempts == 0
}

fn complete(
    tx: &Transaction<'_>,
    lease: &Lease,
    completion: Completion,
    now: DateTime<Utc>,
) -> StoreResult<Operation> {
    let mut operation = leased_operation(tx, lease)?;
    let mut interview = require_interview(tx, &operation.interview_id)?;
    match (operation.kind, completion) {
        (
            OperationKind::Create,
            Completion::Created {
                access_url,
                challenge_checksum,
            },
        ) => {
            operation.status = OperationStatus::Completed;
            operation.result = Some(access_url.clone());
            save_operation(tx, &mut operation, now)?;
            if !interview.state.is_terminal() {
                interview.state = InterviewState::Active;
                interview.access_url = Some(access_url);
                interview.challenge_checksum = challenge_checksum;
            }
            release_waiting_destroy(tx, &interview.id, now)?;
        }
        (OperationKind::Destroy, Completion::Destroyed { archive }) => {
            operation.status = OperationStatus::Completed;
            operation.result.clone_from(&archive);
            save_operation(tx, &mut operation, now)?;
            if archive.is_some() {
                interview.archive = archive;
            }
            if !matches!(
                interview.state,
                InterviewState::Failed | InterviewState::Cancelled
            ) {
                interview.state = InterviewState::Destroyed;
            }
        }
        (kind, completion) => {
            return Err(StoreError::Conflict(format!(
                "a {kind} operation cannot complete with {completion:?}"
            )));
        }
    }
    save_interview(tx, &mut interview, now, FeedAs::Interview)?;
    Ok(operation)
}

fn retry_later(
    tx: &Transaction<'_>,
    lease: &Lease,
    error: &str,
    retry_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<Operation> {
    let mut operation = leased_operation(tx, lease)?;
    if operation.attempts >= operation.max_attempts {
        return fail_operation(tx, operation, error, now);
    }
    operation.status = if retry_at <= now {
        OperationStatus::Pending
    } else {
        OperationStatus::Scheduled
    };
    operation.due_at = stored(retry_at);
    operation.error = Some(error.to_owned());
    save_operation(tx, &mut operation, now)?;
    if operation.kind == OperationKind::Create {
        release_waiting_destroy(tx, &operation.interview_id, now)?;
    }
    Ok(operation)
}

fn request_destroy(
    tx: &Transaction<'_>,
    id: &InterviewId,
    requested_by: &Requester,
    max_attempts: u32,
    now: DateTime<Utc>,
) -> StoreResult<DestroyRequested> {
    let interview = require_interview(tx, id)?;
    if interview.state.is_terminal() {
        return Ok(DestroyRequested::AlreadyFinished(interview));
    }
    if let Some(existing) = load_operation_of(tx, id, OperationKind::Destroy)? {
        return Ok(DestroyRequested::Destroy(existing));
    }
    let create = load_operation_of(tx, id, OperationKind::Create)?;
    if create.as_ref().is_some_and(not_started) {
        let interview = cancel_before_start(tx, interview, create, requested_by, now)?;
        return Ok(DestroyRequested::Cancelled(interview));
    }
    let destroy = ensure_destroy(tx, id, requested_by, max_attempts, now)?;
    Ok(DestroyRequested::Destroy(destroy))
}

fn cancel(
    tx: &Transaction<'_>,
    id: &InterviewId,
    requested_by: &Requester,
    now: DateTime<Utc>,
) -> StoreResult<Option<Interview>> {
    let interview = require_interview(tx, id)?;
    if interview.state.is_terminal() || load_operation_of(tx, id, OperationKind::Destroy)?.is_some()
    {
        return Ok(None);
    }
    let create = load_operation_of(tx, id, OperationKind::Create)?;
    if !create.as_ref().is_some_and(not_started) {
        return Ok(None);
    }
    cancel_before_start(tx, interview, create, requested_by, now).map(Some)
}

fn extend(
    tx: &Transaction<'_>,
    id: &InterviewId,
    new_length: InterviewLength,
    now: DateTime<Utc>,
) -> StoreResult<Interview> {
    let mut interview = require_interview(tx, id)?;
    if interview.state.is_terminal() {
        return Err(StoreError::Conflict(format!(
            "interview {id} has already ended ({})",
            interview.state
        )));
    }
    if load_operation_of(tx, id, OperationKind::Destroy)?.is_some() {
        return Err(StoreError::Conflict(format!(
            "interview {id} is already being destroyed"
        )));
    }
    interview.length = new_length;
    interview.destroy_at = plus(interview.start_at, new_length.as_duration());
    interview.warned_at = None;
    save_interview(tx, &mut interview, now, FeedAs::Interview)?;
    Ok(interview)
}

fn mark_warned(
    tx: &Transaction<'_>,
    id: &InterviewId,
    now: DateTime<Utc>,
) -> StoreResult<Option<Interview>> {
    let mut interview = require_interview(tx, id)?;
    // Same conditions as the warning queue: not warned, not over, not already being destroyed.
    if interview.warned_at.is_some()
        || interview.state.is_terminal()
        || load_operation_of(tx, id, OperationKind::Destroy)?.is_some()
    {
        return Ok(None);
    }
    interview.warned_at = Some(stored(now));
    save_interview(tx, &mut interview, now, FeedAs::Warning)?;
    Ok(Some(interview))
}

fn append_logs(
    tx: &Transaction<'_>,
    id: &OperationId,
    lines: Vec<LogLine>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let interview_id: Option<String> = tx
        .prepare_cached("SELECT interview_id FROM operations WHERE id = ?1")?
        .query_row([id.as_str()], |row| row.get(0))
        .optional()?;
    let Some(interview_id) = interview_id else {
        return Err(StoreError::NotFound {
            what: format!("operation {id}"),
        });
    };
    let interview_id = InterviewId::parse(&interview_id)
        .map_err(|err| StoreError::Corrupt(format!("operation {id}: {err}")))?;
    if lines.is_empty() {
        return Ok(());
    }
    let lines: Vec<LogLine> = lines
        .into_iter()
        .map(|line| LogLine {
            at: stored(line.at),
            message: line.message,
        })
        .collect();
    {
        let mut insert = tx.prepare_cached(
            "INSERT INTO operation_logs (operation_id, at, message) VALUES (?1, ?2, ?3)",
        )?;
        for line in &lines {
            insert.execute(params![id.as_str(), ms(line.at), line.message])?;
        }
    }
    record_change(
        tx,
        now,
        &ChangeKind::Logs {
            operation_id: id.clone(),
            interview_id,
            lines,
        },
    )
}

fn next_time(tx: &Transaction<'_>, sql: &str) -> StoreResult<Option<DateTime<Utc>>> {
    let millis: Option<i64> = tx
        .prepare_cached(sql)?
        .query_row([], |row| row.get(0))
        .optional()?;
    millis
        .map(|millis| {
            DateTime::from_timestamp_millis(millis)
                .ok_or_else(|| StoreError::Corrupt(format!("{millis} is not a time")))
        })
        .transpose()
}

fn purge_expired(tx: &Transaction<'_>, now: DateTime<Utc>) -> StoreResult<u64> {
    let now_ms = ms(now);
    // Logs go with their operations and operations with their interviews (ON DELETE CASCADE).
    // Only terminal records ever carry `expires_at` (a CHECK constraint), and an interview gets
    // it only once none of its operations can run, so nothing scheduled is deleted here.
    let operations = tx
        .prepare_cached("DELETE FROM operations WHERE expires_at < ?1")?
        .execute([now_ms])?;
    let interviews = tx
        .prepare_cached("DELETE FROM interviews WHERE expires_at < ?1")?
        .execute([now_ms])?;
    tx.prepare_cached("DELETE FROM changes WHERE at < ?1")?
        .execute([ms(now.checked_sub_signed(DEFAULT_RETENTION).unwrap_or(now))])?;
    Ok(operations as u64 + interviews as u64)
}

fn put_note(
    tx: &Transaction<'_>,
    interview: &InterviewId,
    key: &str,
    value: &str,
    only_if_absent: bool,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    require_interview(tx, interview)?;
    // A conditional insert under the write lock: of many writers asking `only_if_absent`, the
    // primary key lets exactly one row in.
    let sql = if only_if_absent {
        "INSERT INTO interview_notes (interview_id, key, value, updated_at) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (interview_id, key) DO NOTHING"
    } else {
        "INSERT INTO interview_notes (interview_id, key, value, updated_at) \
         VALUES (?1, ?2, ?3, ?4) ON CONFLICT (interview_id, key) \
         DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at"
    };
    let written =
        tx.prepare_cached(sql)?
            .execute(params![interview.as_str(), key, value, ms(now)])?;
    Ok(written == 1)
}

fn notes(tx: &Transaction<'_>, interview: &InterviewId) -> StoreResult<BTreeMap<String, String>> {
    let mut stmt =
        tx.prepare_cached("SELECT key, value FROM interview_notes WHERE interview_id = ?1")?;
    let rows = stmt
        .query_map([interview.as_str()], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<BTreeMap<_, _>>>()?;
    Ok(rows)
}

fn put_user_setting(
    tx: &Transaction<'_>,
    platform: Platform,
    user_id: &str,
    key: &str,
    value: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO user_settings (platform, user_id, key, value, updated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (platform, user_id, key) \
         DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )?
    .execute(params![platform.as_str(), user_id, key, value, ms(now)])?;
    Ok(())
}

fn user_setting(
    tx: &Transaction<'_>,
    platform: Platform,
    user_id: &str,
    key: &str,
) -> StoreResult<Option<String>> {
    let value = tx
        .prepare_cached(
            "SELECT value FROM user_settings WHERE platform = ?1 AND user_id = ?2 AND key = ?3",
        )?
        .query_row(params![platform.as_str(), user_id, key], |row| row.get(0))
        .optional()?;
    Ok(value)
}

fn changes_since(
    tx: &Transaction<'_>,
    cursor: ChangeCursor,
    limit: u32,
) -> StoreResult<ChangeBatch> {
    let limit = limit.clamp(1, MAX_CHANGES_PER_BATCH);
    let mut stmt = tx.prepare_cached(CHANGES_SQL)?;
    let rows = stmt
        .query_map(
            named_params! { ":after": to_i64(cursor.0), ":limit": limit },
            |row| {
                let seq: i64 = row.get("seq")?;
                let at = get_time(row, "at")?;
                let body: String = row.get("body")?;
                Ok((seq, at, body))
            },
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let mut changes = Vec::with_capacity(rows.len());
    for (seq, at, body) in rows {
        let seq = u64::try_from(seq)
            .map_err(|_| StoreError::Corrupt(format!("change {seq} has a negative cursor")))?;
        let kind: ChangeKind = serde_json::from_str(&body)
            .map_err(|err| StoreError::Corrupt(format!("change {seq}: {err}")))?;
        changes.push(Change {
            cursor: ChangeCursor(seq),
            at,
            kind,
        });
    }
    let cursor = changes.last().map_or(cursor, |change| change.cursor);
    Ok(ChangeBatch { changes, cursor })
}

// ---------------------------------------------------------------------------------------------
// The trait
// ---------------------------------------------------------------------------------------------

#[async_trait]
impl OperationStore for SqliteStore {
    #[instrument(skip_all, fields(interview = %new.id))]
    async fn create_interview(
        &self,
        new: &NewInterview,
        now: DateTime<Utc>,
    ) -> StoreResult<Created> {
        let new = new.clone();
        self.write(move |tx| create_interview(tx, &new, now)).await
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
        self.write(move |tx| claim(tx, &operation, expected_version, &holder, lease_until, now))
            .await
    }

    async fn renew_lease(
        &self,
        lease: &Lease,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Lease> {
        let lease = lease.clone();
        self.write(move |tx| {
            let mut operation = leased_operation(tx, &lease)?;
            let until = stored(until);
            operation.lease_until = Some(until);
            save_operation(tx, &mut operation, now)?;
            Ok(Lease { until, ..lease })
        })
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
        self.write(move |tx| {
            let operation = leased_operation(tx, &lease)?;
            if state.is_terminal() {
                return Err(StoreError::Conflict(format!(
                    "`{state}` is reached by completing or failing the operation, not as progress"
                )));
            }
            let mut interview = require_interview(tx, &operation.interview_id)?;
            // A failed interview being cleaned up stays failed; an unchanged state is no change.
            if interview.state.is_terminal() || interview.state == state {
                return Ok(interview);
            }
            interview.state = state;
            save_interview(tx, &mut interview, now, FeedAs::Interview)?;
            Ok(interview)
        })
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
        self.write(move |tx| append_logs(tx, &operation, lines, now))
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
        self.write(move |tx| complete(tx, &lease, completion, now))
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
        self.write(move |tx| retry_later(tx, &lease, &error, retry_at, now))
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
        self.write(move |tx| {
            let operation = leased_operation(tx, &lease)?;
            fail_operation(tx, operation, &reason, now)
        })
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
        self.write(move |tx| request_destroy(tx, &interview, &requested_by, max_attempts, now))
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
        self.write(move |tx| cancel(tx, &interview, &requested_by, now))
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
        self.write(move |tx| extend(tx, &interview, new_length, now))
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
        self.write(move |tx| mark_warned(tx, &interview, now)).await
    }

    async fn next_due(&self, warn_before: Duration) -> StoreResult<NextDue> {
        self.read(move |tx| {
            Ok(NextDue {
                operation: next_time(tx, NEXT_OPERATION_SQL)?,
                lease_expiry: next_time(tx, NEXT_LEASE_EXPIRY_SQL)?,
                destroy: next_time(tx, NEXT_DESTROY_SQL)?,
                warning: next_time(tx, NEXT_WARNING_SQL)?
                    .map(|at| at.checked_sub_signed(warn_before).unwrap_or(at)),
            })
        })
        .await
    }

    async fn changes_since(&self, cursor: ChangeCursor, limit: u32) -> StoreResult<ChangeBatch> {
        self.read(move |tx| changes_since(tx, cursor, limit)).await
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
        self.write(move |tx| put_note(tx, &interview, &key, &value, only_if_absent, now))
            .await
    }

    async fn notes(&self, interview: &InterviewId) -> StoreResult<BTreeMap<String, String>> {
        let interview = interview.clone();
        self.read(move |tx| notes(tx, &interview)).await
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
        self.write(move |tx| put_user_setting(tx, platform, &user_id, &key, &value, now))
            .await
    }

    async fn user_setting(
        &self,
        platform: Platform,
        user_id: &str,
        key: &str,
    ) -> StoreResult<Option<String>> {
        let (user_id, key) = (user_id.to_owned(), key.to_owned());
        self.read(move |tx| user_setting(tx, platform, &user_id, &key))
            .await
    }

    #[instrument(skip_all)]
    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        self.write(move |tx| purge_expired(tx, now)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn page_tokens_of_one_listing_are_refused_by_another() {
        let token = Listing::OpenInterviews.token(5, "abcd2345");
        assert_eq!(
            Listing::OpenInterviews.position(Some(&token)).ok(),
            Some((5, "abcd2345".to_owned()))
        );
        for listing in [
            Listing::AllInterviews,
            Listing::DueOperations,
            Listing::Logs,
        ] {
            assert!(matches!(
                listing.position(Some(&token)),
                Err(StoreError::InvalidPageToken)
            ));
        }
        for garbage in ["", "io", "io~x~abcd2345", "io~5~", "io~5~AB/CD", "lg~5~x"] {
            let garbage = PageToken(garbage.to_owned());
            assert!(
                matches!(
                    Listing::OpenInterviews.position(Some(&garbage)),
                    Err(StoreError::InvalidPageToken)
                ) && matches!(
                    Listing::Logs.position(Some(&garbage)),
                    Err(StoreError::InvalidPageToken)
                ),
                "{garbage:?} accepted"
            );
        }
    }
}
