//! Rows to records: how an interview and an operation are read back from their columns, and the
//! integer-millisecond times every column holds. A value that does not validate reads back as
//! [`StoreError::Corrupt`](crate::store::StoreError::Corrupt), never a panic.

use std::fmt;

use chrono::{DateTime, Utc};
use rusqlite::Row;
use rusqlite::types::Type;

use crate::domain::{
    ChallengeId, Interview, InterviewId, InterviewLength, InterviewState, InvalidValue, Operation,
    OperationId, OperationKind, OperationStatus, Platform, Requester,
};
use crate::store::ApiToken;

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

pub(super) fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

pub(super) fn to_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

pub(super) fn get_time(row: &Row<'_>, column: &'static str) -> rusqlite::Result<DateTime<Utc>> {
    let millis: i64 = row.get(column)?;
    DateTime::from_timestamp_millis(millis)
        .ok_or_else(|| bad_column(column, format!("{millis} is not a time")))
}

pub(super) fn get_opt_time(
    row: &Row<'_>,
    column: &'static str,
) -> rusqlite::Result<Option<DateTime<Utc>>> {
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

pub(super) fn interview_from_row(row: &Row<'_>) -> rusqlite::Result<Interview> {
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

pub(super) fn operation_from_row(row: &Row<'_>) -> rusqlite::Result<Operation> {
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

pub(super) fn token_from_row(row: &Row<'_>) -> rusqlite::Result<ApiToken> {
    Ok(ApiToken {
        id: row.get("id")?,
        user: row.get("user_name")?,
        secret_hash: row.get("secret_hash")?,
        created_at: get_time(row, "created_at")?,
        created_by: row.get("created_by")?,
        last_used_at: get_opt_time(row, "last_used_at")?,
        revoked_at: get_opt_time(row, "revoked_at")?,
    })
}
