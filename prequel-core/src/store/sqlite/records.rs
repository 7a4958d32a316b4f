//! The SQLite side of a store transaction: [`SqlRecords`] gives the rules
//! ([`crate::store::rules`]) the records of one `BEGIN IMMEDIATE` transaction, and the functions
//! below are the writes and reads that involve no rule (logs, notes, settings, the feed, purging).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, named_params, params};

use super::codec::{get_time, interview_from_row, ms, operation_from_row, to_i64, token_from_row};
use super::sql::{
    CHANGES_SQL, CLAIM_ONCE_SQL, INSERT_CHANGE_SQL, INSERT_INTERVIEW_SQL, INSERT_LOG_SQL,
    INSERT_NOTE_IF_ABSENT_SQL, INSERT_OPERATION_SQL, INSERT_TOKEN_SQL, INTERVIEW_BY_ID_SQL,
    INTERVIEW_OF_OPERATION_SQL, MARK_HAS_DESTROY_SQL, NOTES_SQL, OPERATION_BY_ID_SQL,
    OPERATION_OF_KIND_SQL, PURGE_CHANGES_SQL, PURGE_INTERVIEWS_SQL, PURGE_ONCE_KEYS_SQL,
    PURGE_OPERATIONS_SQL, PUT_NOTE_SQL, PUT_SETTING_SQL, REQUEST_OF_SQL, REVOKE_TOKEN_SQL,
    SETTING_SQL, TOKEN_SQL, TOKENS_SQL, TOUCH_TOKEN_SQL, UPDATE_INTERVIEW_SQL,
    UPDATE_OPERATION_SQL,
};
use crate::domain::{
    Interview, InterviewId, LogLine, Operation, OperationId, OperationKind, Platform,
};
use crate::store::rules::{self, Records};
use crate::store::{
    ApiToken, Change, ChangeBatch, ChangeCursor, ChangeKind, DEFAULT_RETENTION, StoreError,
    StoreResult,
};

/// The records of one SQLite transaction, as the rules see them. Every write lands in the
/// transaction at once (reads see it); the caller commits or rolls back.
pub(super) struct SqlRecords<'a, 'c> {
    pub(super) tx: &'a Transaction<'c>,
}

impl Records for SqlRecords<'_, '_> {
    fn interview(&self, id: &InterviewId) -> StoreResult<Option<Interview>> {
        load_interview(self.tx, id)
    }

    fn creating_request(&self, id: &InterviewId) -> StoreResult<Option<String>> {
        Ok(self
            .tx
            .prepare_cached(REQUEST_OF_SQL)?
            .query_row([id.as_str()], |row| row.get(0))
            .optional()?)
    }

    fn operation(&self, id: &OperationId) -> StoreResult<Option<Operation>> {
        load_operation(self.tx, id)
    }

    fn operation_of(
        &self,
        interview: &InterviewId,
        kind: OperationKind,
    ) -> StoreResult<Option<Operation>> {
        Ok(self
            .tx
            .prepare_cached(OPERATION_OF_KIND_SQL)?
            .query_row([interview.as_str(), kind.as_str()], operation_from_row)
            .optional()?)
    }

    fn new_operation_id(
        &self,
        _interview: &InterviewId,
        _kind: OperationKind,
    ) -> StoreResult<OperationId> {
        // `UNIQUE (interview_id, kind)` keeps one of each kind; the id itself is just a name.
        Ok(OperationId::generate())
    }

    fn insert_interview(&mut self, interview: &Interview, request: &str) -> StoreResult<()> {
        self.tx
            .prepare_cached(INSERT_INTERVIEW_SQL)?
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
                ":co_interviewers": serde_json::to_string(&interview.co_interviewers)
                    .map_err(StoreError::backend)?,
            })?;
        Ok(())
    }

    fn insert_operation(&mut self, operation: &Operation) -> StoreResult<()> {
        self.tx
            .prepare_cached(INSERT_OPERATION_SQL)?
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
        if operation.kind == OperationKind::Destroy {
            self.tx
                .prepare_cached(MARK_HAS_DESTROY_SQL)?
                .execute([operation.interview_id.as_str()])?;
        }
        Ok(())
    }

    fn update_interview(&mut self, interview: &Interview, read_version: u64) -> StoreResult<()> {
        let changed = self
            .tx
            .prepare_cached(UPDATE_INTERVIEW_SQL)?
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
        Ok(())
    }

    fn update_operation(&mut self, operation: &Operation, read_version: u64) -> StoreResult<()> {
        let changed = self
            .tx
            .prepare_cached(UPDATE_OPERATION_SQL)?
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
        Ok(())
    }

    fn record_change(&mut self, at: DateTime<Utc>, kind: ChangeKind) -> StoreResult<()> {
        record_change(self.tx, at, &kind)
    }
}

pub(super) fn load_interview(
    tx: &Transaction<'_>,
    id: &InterviewId,
) -> StoreResult<Option<Interview>> {
    Ok(tx
        .prepare_cached(INTERVIEW_BY_ID_SQL)?
        .query_row([id.as_str()], interview_from_row)
        .optional()?)
}

pub(super) fn load_operation(
    tx: &Transaction<'_>,
    id: &OperationId,
) -> StoreResult<Option<Operation>> {
    Ok(tx
        .prepare_cached(OPERATION_BY_ID_SQL)?
        .query_row([id.as_str()], operation_from_row)
        .optional()?)
}

fn record_change(tx: &Transaction<'_>, at: DateTime<Utc>, kind: &ChangeKind) -> StoreResult<()> {
    let tag = match kind {
        ChangeKind::Interview { .. } => "interview",
        ChangeKind::Operation { .. } => "operation",
        ChangeKind::Logs { .. } => "logs",
        ChangeKind::Warning { .. } => "warning",
    };
    let body = serde_json::to_string(kind).map_err(StoreError::backend)?;
    tx.prepare_cached(INSERT_CHANGE_SQL)?.execute(params![
        ms(at),
        kind.interview_id().as_str(),
        tag,
        body
    ])?;
    Ok(())
}

pub(super) fn append_logs(
    tx: &Transaction<'_>,
    id: &OperationId,
    lines: Vec<LogLine>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let interview_id: Option<String> = tx
        .prepare_cached(INTERVIEW_OF_OPERATION_SQL)?
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
            at: rules::stored(line.at),
            message: line.message,
        })
        .collect();
    {
        let mut insert = tx.prepare_cached(INSERT_LOG_SQL)?;
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

pub(super) fn next_time(tx: &Transaction<'_>, sql: &str) -> StoreResult<Option<DateTime<Utc>>> {
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

pub(super) fn purge_expired(tx: &Transaction<'_>, now: DateTime<Utc>) -> StoreResult<u64> {
    let now_ms = ms(now);
    tx.prepare_cached(PURGE_ONCE_KEYS_SQL)?.execute([now_ms])?;
    // Only terminal records ever carry `expires_at` (a CHECK constraint), and an interview gets
    // it only once none of its operations can run, so nothing scheduled is deleted here.
    let operations = tx.prepare_cached(PURGE_OPERATIONS_SQL)?.execute([now_ms])?;
    let interviews = tx.prepare_cached(PURGE_INTERVIEWS_SQL)?.execute([now_ms])?;
    tx.prepare_cached(PURGE_CHANGES_SQL)?
        .execute([ms(now.checked_sub_signed(DEFAULT_RETENTION).unwrap_or(now))])?;
    Ok(operations as u64 + interviews as u64)
}

pub(super) fn put_note(
    tx: &Transaction<'_>,
    interview: &InterviewId,
    key: &str,
    value: &str,
    only_if_absent: bool,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    if load_interview(tx, interview)?.is_none() {
        return Err(StoreError::NotFound {
            what: format!("interview {interview}"),
        });
    }
    let sql = if only_if_absent {
        INSERT_NOTE_IF_ABSENT_SQL
    } else {
        PUT_NOTE_SQL
    };
    let written =
        tx.prepare_cached(sql)?
            .execute(params![interview.as_str(), key, value, ms(now)])?;
    Ok(written == 1)
}

pub(super) fn notes(
    tx: &Transaction<'_>,
    interview: &InterviewId,
) -> StoreResult<BTreeMap<String, String>> {
    let mut stmt = tx.prepare_cached(NOTES_SQL)?;
    let rows = stmt
        .query_map([interview.as_str()], |row| {
            Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
        })?
        .collect::<rusqlite::Result<BTreeMap<_, _>>>()?;
    Ok(rows)
}

pub(super) fn put_user_setting(
    tx: &Transaction<'_>,
    platform: Platform,
    user_id: &str,
    key: &str,
    value: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    tx.prepare_cached(PUT_SETTING_SQL)?.execute(params![
        platform.as_str(),
        user_id,
        key,
        value,
        ms(now)
    ])?;
    Ok(())
}

pub(super) fn user_setting(
    tx: &Transaction<'_>,
    platform: Platform,
    user_id: &str,
    key: &str,
) -> StoreResult<Option<String>> {
    let value = tx
        .prepare_cached(SETTING_SQL)?
        .query_row(params![platform.as_str(), user_id, key], |row| row.get(0))
        .optional()?;
    Ok(value)
}

pub(super) fn changes_since(
    tx: &Transaction<'_>,
    cursor: ChangeCursor,
    limit: u32,
) -> StoreResult<ChangeBatch> {
    let limit = limit.clamp(1, super::MAX_CHANGES_PER_BATCH);
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

pub(super) fn claim_once(
    tx: &Transaction<'_>,
    key: &str,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let changed =
        tx.prepare_cached(CLAIM_ONCE_SQL)?
            .execute(params![key, ms(expires_at), ms(now)])?;
    Ok(changed == 1)
}

pub(super) fn insert_api_token(tx: &Transaction<'_>, token: &ApiToken) -> StoreResult<()> {
    if api_token(tx, &token.id)?.is_some() {
        return Err(StoreError::Conflict(format!(
            "an API token with id {} exists",
            token.id
        )));
    }
    tx.prepare_cached(INSERT_TOKEN_SQL)?.execute(params![
        token.id,
        token.user,
        token.secret_hash,
        ms(token.created_at),
        token.created_by,
        token.last_used_at.map(ms),
        token.revoked_at.map(ms),
    ])?;
    Ok(())
}

pub(super) fn api_token(tx: &Transaction<'_>, id: &str) -> StoreResult<Option<ApiToken>> {
    Ok(tx
        .prepare_cached(TOKEN_SQL)?
        .query_row([id], token_from_row)
        .optional()?)
}

pub(super) fn api_tokens(tx: &Transaction<'_>) -> StoreResult<Vec<ApiToken>> {
    let mut stmt = tx.prepare_cached(TOKENS_SQL)?;
    let tokens = stmt
        .query_map([], token_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(tokens)
}

pub(super) fn revoke_api_token(
    tx: &Transaction<'_>,
    id: &str,
    now: DateTime<Utc>,
) -> StoreResult<Option<ApiToken>> {
    tx.prepare_cached(REVOKE_TOKEN_SQL)?
        .execute(params![id, ms(now)])?;
    api_token(tx, id)
}

pub(super) fn touch_api_token(
    tx: &Transaction<'_>,
    id: &str,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    tx.prepare_cached(TOUCH_TOKEN_SQL)?
        .execute(params![id, ms(now)])?;
    Ok(())
}
