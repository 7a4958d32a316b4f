//! Every statement the store runs, in named constants (only the connection's `PRAGMA`s are
//! inline), and the means to check how SQLite plans each of them
//! ([`SqliteStore::query_plans`](super::SqliteStore::query_plans)).

use rusqlite::{Row, Transaction};

use super::codec::to_i64;
use crate::store::page::Listing;
use crate::store::{Page, PageRequest, StoreResult};

/// Runs a keyset query that selects `limit + 1` rows of `(item, key, id)` and cuts the page.
pub(super) fn keyset_page<T>(
    tx: &Transaction<'_>,
    listing: Listing,
    sql: &str,
    params: &[(&str, &dyn rusqlite::ToSql)],
    page: &PageRequest,
    map: impl Fn(&Row<'_>) -> rusqlite::Result<T>,
) -> StoreResult<Page<T>> {
    let (after_key, after_id) = listing.keyset(page.after.as_ref())?;
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
        rows.last()
            .map(|(_, key, id)| listing.keyset_token(*key, id))
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

pub(super) const LIST_OPEN_SQL: &str =
    interview_page_sql!("open_start_at", "open_start_at IS NOT NULL");
pub(super) const LIST_ALL_SQL: &str = interview_page_sql!("start_at", "1 = 1");
pub(super) const DUE_DESTROYS_SQL: &str =
    interview_page_sql!("destroy_due_at", "destroy_due_at <= :now");
pub(super) const DUE_WARNINGS_SQL: &str =
    interview_page_sql!("warn_due_at", "warn_due_at <= :until");

pub(super) const DUE_OPERATIONS_SQL: &str = concat!(
    "SELECT ",
    operation_columns!(),
    ", ready_at AS page_key, id AS page_id ",
    "FROM operations WHERE ready_at <= :now AND (ready_at, id) > (:after_key, :after_id) ",
    "ORDER BY ready_at, id LIMIT :fetch"
);

pub(super) const LOGS_SQL: &str = concat!(
    "SELECT at, message, seq AS page_key, '' AS page_id FROM operation_logs ",
    "WHERE operation_id = :operation AND seq > :after_key ORDER BY seq LIMIT :fetch"
);

pub(super) const NEXT_OPERATION_SQL: &str = "SELECT waiting_due_at FROM operations \
     WHERE waiting_due_at IS NOT NULL ORDER BY waiting_due_at LIMIT 1";
pub(super) const NEXT_LEASE_EXPIRY_SQL: &str = "SELECT lease_expiry_at FROM operations \
     WHERE lease_expiry_at IS NOT NULL ORDER BY lease_expiry_at LIMIT 1";
pub(super) const NEXT_DESTROY_SQL: &str = "SELECT destroy_due_at FROM interviews \
     WHERE destroy_due_at IS NOT NULL ORDER BY destroy_due_at LIMIT 1";
pub(super) const NEXT_WARNING_SQL: &str = "SELECT warn_due_at FROM interviews \
     WHERE warn_due_at IS NOT NULL ORDER BY warn_due_at LIMIT 1";

/// Every write of an operation, the claim among them: conditional on the version it was read at.
pub(super) const UPDATE_OPERATION_SQL: &str = "UPDATE operations SET status = :status, \
     due_at = :due_at, attempts = :attempts, lease_holder = :lease_holder, \
     lease_until = :lease_until, result = :result, error = :error, updated_at = :updated_at, \
     expires_at = :expires_at, version = :version WHERE id = :id AND version = :read_version";

/// Every write of an interview: conditional on the version it was read at.
pub(super) const UPDATE_INTERVIEW_SQL: &str = "UPDATE interviews SET length_minutes = :length, \
     destroy_at = :destroy_at, state = :state, access_url = :access_url, reason = :reason, \
     warned_at = :warned_at, challenge_checksum = :challenge_checksum, archive = :archive, \
     updated_at = :updated_at, expires_at = :expires_at, version = :version \
     WHERE id = :id AND version = :read_version";

pub(super) const INSERT_INTERVIEW_SQL: &str = "INSERT INTO interviews (id, challenge, candidate, \
     requester_platform, requester_user_id, requester_display_name, time_zone, start_at, \
     length_minutes, destroy_at, state, access_url, reason, warned_at, created_at, updated_at, \
     expires_at, version, request, co_interviewers) \
     VALUES (:id, :challenge, :candidate, :platform, :user_id, :display_name, :time_zone, \
     :start_at, :length, :destroy_at, :state, :access_url, :reason, :warned_at, :created_at, \
     :updated_at, :expires_at, :version, :request, :co_interviewers)";

pub(super) const INSERT_OPERATION_SQL: &str = "INSERT INTO operations (id, interview_id, kind, \
     status, due_at, attempts, max_attempts, lease_holder, lease_until, requester_platform, \
     requester_user_id, requester_display_name, result, error, created_at, updated_at, \
     expires_at, version) \
     VALUES (:id, :interview_id, :kind, :status, :due_at, :attempts, :max_attempts, \
     :lease_holder, :lease_until, :platform, :user_id, :display_name, :result, :error, \
     :created_at, :updated_at, :expires_at, :version)";

/// An interview's destroy operation takes it out of the due-destroy and warning queues.
pub(super) const MARK_HAS_DESTROY_SQL: &str = "UPDATE interviews SET has_destroy = 1 WHERE id = ?1";

pub(super) const REQUEST_OF_SQL: &str = "SELECT request FROM interviews WHERE id = ?1";

pub(super) const INSERT_CHANGE_SQL: &str =
    "INSERT INTO changes (at, interview_id, kind, body) VALUES (?1, ?2, ?3, ?4)";

pub(super) const INSERT_LOG_SQL: &str =
    "INSERT INTO operation_logs (operation_id, at, message) VALUES (?1, ?2, ?3)";

pub(super) const INTERVIEW_OF_OPERATION_SQL: &str =
    "SELECT interview_id FROM operations WHERE id = ?1";

/// A conditional insert under the write lock: of many writers asking `only_if_absent`, the
/// primary key lets exactly one row in.
pub(super) const INSERT_NOTE_IF_ABSENT_SQL: &str = "INSERT INTO interview_notes (interview_id, key, value, updated_at) \
     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (interview_id, key) DO NOTHING";

pub(super) const PUT_NOTE_SQL: &str = "INSERT INTO interview_notes (interview_id, key, value, \
     updated_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT (interview_id, key) \
     DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";

pub(super) const NOTES_SQL: &str = "SELECT key, value FROM interview_notes WHERE interview_id = ?1";

pub(super) const PUT_SETTING_SQL: &str = "INSERT INTO user_settings (platform, user_id, key, value, updated_at) \
     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (platform, user_id, key) \
     DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at";

pub(super) const SETTING_SQL: &str =
    "SELECT value FROM user_settings WHERE platform = ?1 AND user_id = ?2 AND key = ?3";

/// A claim lands when the key is new or its earlier claim has expired (`?3` is now); otherwise
/// the `WHERE` leaves the row alone and no row changes.
pub(super) const CLAIM_ONCE_SQL: &str = "INSERT INTO once_keys (key, expires_at) VALUES (?1, ?2) \
     ON CONFLICT (key) DO UPDATE SET expires_at = excluded.expires_at \
     WHERE once_keys.expires_at <= ?3";
pub(super) const PURGE_ONCE_KEYS_SQL: &str = "DELETE FROM once_keys WHERE expires_at <= ?1";

/// The columns [`token_from_row`](super::codec::token_from_row) reads.
macro_rules! token_columns {
    () => {
        "id, user_name, secret_hash, created_at, created_by, last_used_at, revoked_at"
    };
}
pub(super) const INSERT_TOKEN_SQL: &str = "INSERT INTO api_tokens (id, user_name, secret_hash, \
     created_at, created_by, last_used_at, revoked_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
pub(super) const TOKEN_SQL: &str = concat!(
    "SELECT ",
    token_columns!(),
    " FROM api_tokens WHERE id = ?1"
);
pub(super) const TOKENS_SQL: &str = concat!(
    "SELECT ",
    token_columns!(),
    " FROM api_tokens ORDER BY created_at, id"
);
pub(super) const REVOKE_TOKEN_SQL: &str =
    "UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL";
pub(super) const TOUCH_TOKEN_SQL: &str = "UPDATE api_tokens SET last_used_at = ?2 WHERE id = ?1";

/// Logs go with their operations and operations with their interviews (`ON DELETE CASCADE`).
pub(super) const PURGE_OPERATIONS_SQL: &str = "DELETE FROM operations WHERE expires_at < ?1";
pub(super) const PURGE_INTERVIEWS_SQL: &str = "DELETE FROM interviews WHERE expires_at < ?1";
pub(super) const PURGE_CHANGES_SQL: &str = "DELETE FROM changes WHERE at < ?1";

pub(super) const CHANGES_SQL: &str =
    "SELECT seq, at, body FROM changes WHERE seq > :after ORDER BY seq LIMIT :limit";

pub(super) const LATEST_CHANGE_SQL: &str = "SELECT COALESCE(MAX(seq), 0) FROM changes";

pub(super) const INTERVIEW_BY_ID_SQL: &str = concat!(
    "SELECT ",
    interview_columns!(),
    " FROM interviews WHERE id = ?1"
);

pub(super) const OPERATION_BY_ID_SQL: &str = concat!(
    "SELECT ",
    operation_columns!(),
    " FROM operations WHERE id = ?1"
);

pub(super) const OPERATION_OF_KIND_SQL: &str = concat!(
    "SELECT ",
    operation_columns!(),
    " FROM operations WHERE interview_id = ?1 AND kind = ?2"
);

// `kind` breaks ties: a create always precedes its interview's destroy.
pub(super) const OPERATIONS_FOR_SQL: &str = concat!(
    "SELECT ",
    operation_columns!(),
    " FROM operations WHERE interview_id = ?1 ORDER BY created_at, kind"
);

/// One hot-path statement of the store and how SQLite runs it (see [`SqliteStore::query_plans`](super::SqliteStore::query_plans)).
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
pub(super) const HOT_QUERIES: &[(&str, &str, (i64, &str))] = &[
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
    (
        "claim (and every write of an operation)",
        UPDATE_OPERATION_SQL,
        FIRST_PAGE,
    ),
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
pub(super) fn plan_parameter(
    name: Option<&str>,
    (after_key, after_id): (i64, &str),
) -> rusqlite::types::Value {
    use rusqlite::types::Value;
    match name.unwrap_or_default() {
        ":after_key" => Value::Integer(after_key),
        ":after_id" => Value::Text(after_id.to_owned()),
        ":fetch" => Value::Integer(i64::from(PageRequest::MAX_LIMIT) + 1),
        ":limit" => Value::Integer(i64::from(super::MAX_CHANGES_PER_BATCH)),
        ":after" | ":version" | ":read_version" | ":attempts" => Value::Integer(0),
        ":now" | ":until" | ":lease_until" => Value::Integer(i64::MAX),
        _ => Value::Text("abcd2345".to_owned()),
    }
}
