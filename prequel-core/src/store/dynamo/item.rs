//! Items: the keys and attributes records are kept in, each record's item and back, page
//! tokens over index range keys, and log batches cut to DynamoDB's item size.

use std::collections::HashMap;
use std::fmt;

use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, Put, TransactWriteItem};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use super::schema::{
    CLOSED, FEED_PK, HEAD_SK, INTERVIEW_SK, LOG_CHUNK_BYTES, OPEN, OPERATION_SK, TTL_ATTRIBUTE,
    build_error,
};
use crate::domain::{
    Interview, InterviewId, LogLine, Operation, OperationId, OperationKind, OperationStatus,
    Platform,
};
use crate::store::page::Listing;
use crate::store::rules::plus;
use crate::store::{ChangeKind, PageToken, StoreError, StoreResult};

/// An item's attributes.
pub(super) type Item = HashMap<String, AttributeValue>;

/// The feed entries one write adds: when, and what.
pub(super) type Changes = Vec<(DateTime<Utc>, ChangeKind)>;

pub(super) fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub(super) fn n(value: impl fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub(super) fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

pub(super) fn interview_key(id: &InterviewId) -> Item {
    key(&format!("interview#{id}"), INTERVIEW_SK)
}

pub(super) fn operation_key(id: &OperationId) -> Item {
    key(id.as_str(), OPERATION_SK)
}

pub(super) fn feed_head_key() -> Item {
    key(FEED_PK, HEAD_SK)
}

pub(super) fn feed_sk(seq: u64) -> String {
    format!("{seq:020}")
}

pub(super) fn setting_key(platform: Platform, user_id: &str, setting: &str) -> Item {
    key(
        &format!("user#{}#{user_id}", platform.as_str()),
        &format!("setting#{setting}"),
    )
}

/// The id of an interview's create (`op-c{id}`) or destroy (`op-d{id}`).
pub(super) fn operation_id(
    interview: &InterviewId,
    kind: OperationKind,
) -> StoreResult<OperationId> {
    let letter = match kind {
        OperationKind::Create => 'c',
        OperationKind::Destroy => 'd',
    };
    OperationId::parse(&format!("op-{letter}{interview}"))
        .map_err(|err| StoreError::Corrupt(format!("interview {interview}: {err}")))
}

/// The interview and kind an operation id names, if it is one of ours.
pub(super) fn operation_of(id: &OperationId) -> Option<(InterviewId, OperationKind)> {
    let rest = id.as_str().strip_prefix("op-")?;
    let kind = match rest.chars().next()? {
        'c' => OperationKind::Create,
        'd' => OperationKind::Destroy,
        _ => return None,
    };
    let interview = InterviewId::parse(&rest[1..]).ok()?;
    (interview.as_str() == &rest[1..]).then_some((interview, kind))
}

/// A sortable fixed-width key for a time: milliseconds, 16 digits.
pub(super) fn time_key(at: DateTime<Utc>) -> String {
    format!("{:016}", at.timestamp_millis().max(0))
}

pub(super) fn string_attr(item: &Item, name: &str) -> StoreResult<String> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Ok(value.clone()),
        _ => Err(StoreError::Corrupt(format!(
            "item {} lacks string attribute {name}",
            describe_key(item)
        ))),
    }
}

pub(super) fn number_attr(item: &Item, name: &str) -> StoreResult<u64> {
    match item.get(name) {
        Some(AttributeValue::N(value)) => value.parse().map_err(|_| {
            StoreError::Corrupt(format!(
                "item {}: {name} = {value} is not a count",
                describe_key(item)
            ))
        }),
        _ => Err(StoreError::Corrupt(format!(
            "item {} lacks number attribute {name}",
            describe_key(item)
        ))),
    }
}

pub(super) fn describe_key(item: &Item) -> String {
    let part = |name: &str| match item.get(name) {
        Some(AttributeValue::S(value)) => value.clone(),
        _ => "?".into(),
    };
    format!("{}/{}", part("pk"), part("sk"))
}

pub(super) fn json_attr<T: serde::de::DeserializeOwned>(item: &Item, name: &str) -> StoreResult<T> {
    let text = string_attr(item, name)?;
    serde_json::from_str(&text)
        .map_err(|err| StoreError::Corrupt(format!("item {}: {err}", describe_key(item))))
}

pub(super) fn to_json(value: &impl Serialize) -> StoreResult<String> {
    serde_json::to_string(value).map_err(StoreError::backend)
}

pub(super) fn put(
    table: &str,
    item: Item,
    condition: Option<&str>,
    values: Option<(&str, AttributeValue)>,
) -> StoreResult<TransactWriteItem> {
    let mut builder = Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .set_condition_expression(condition.map(str::to_owned));
    if let Some((name, value)) = values {
        builder = builder.expression_attribute_values(name, value);
    }
    Ok(TransactWriteItem::builder()
        .put(builder.build().map_err(build_error)?)
        .build())
}

pub(super) fn condition_check(
    table: &str,
    key: Item,
    rev: Option<u64>,
) -> StoreResult<TransactWriteItem> {
    let mut builder = ConditionCheck::builder()
        .table_name(table)
        .set_key(Some(key));
    builder = match rev {
        Some(rev) => builder
            .condition_expression("rev = :rev")
            .expression_attribute_values(":rev", n(rev)),
        None => builder.condition_expression("attribute_not_exists(pk)"),
    };
    Ok(TransactWriteItem::builder()
        .condition_check(builder.build().map_err(build_error)?)
        .build())
}

/// An interview item's stored form, with what is not part of the record.
#[derive(Debug, Clone)]
pub(super) struct InterviewRow {
    pub(super) interview: Interview,
    pub(super) request: String,
    pub(super) rev: u64,
    pub(super) notes: AttributeValue,
}

#[derive(Debug, Clone)]
pub(super) struct OpRow {
    pub(super) op: Operation,
    pub(super) rev: u64,
}

pub(super) fn interview_row(item: &Item) -> StoreResult<InterviewRow> {
    Ok(InterviewRow {
        interview: json_attr(item, "data")?,
        request: string_attr(item, "request")?,
        rev: number_attr(item, "rev")?,
        notes: item
            .get("notes")
            .cloned()
            .unwrap_or_else(|| AttributeValue::M(HashMap::new())),
    })
}

pub(super) fn operation_row(item: &Item) -> StoreResult<OpRow> {
    Ok(OpRow {
        op: json_attr(item, "data")?,
        rev: number_attr(item, "rev")?,
    })
}

pub(super) fn parse_interview(item: &Item) -> StoreResult<Interview> {
    json_attr(item, "data")
}

pub(super) fn parse_operation(item: &Item) -> StoreResult<Operation> {
    json_attr(item, "data")
}

pub(super) fn interview_item(row: &InterviewRow, rev: u64, has_destroy: bool) -> StoreResult<Item> {
    let i = &row.interview;
    let mut item = interview_key(&i.id);
    item.insert("id".into(), s(i.id.as_str()));
    item.insert("data".into(), s(&to_json(i)?));
    item.insert("request".into(), s(&row.request));
    item.insert("rev".into(), n(rev));
    item.insert("version".into(), n(i.version));
    item.insert("state".into(), s(i.state.as_str()));
    let open = !i.state.is_terminal();
    item.insert("status".into(), s(if open { OPEN } else { CLOSED }));
    item.insert(
        "startKey".into(),
        s(&format!("{}#{}", time_key(i.start_at), i.id)),
    );
    if open && !has_destroy {
        item.insert(
            "autoDestroyAt".into(),
            s(&format!("{}#{}", time_key(i.destroy_at), i.id)),
        );
    }
    if let Some(warned) = i.warned_at {
        item.insert("warnedAt".into(), n(warned.timestamp_millis()));
    }
    if let Some(expires) = i.expires_at {
        item.insert(TTL_ATTRIBUTE.into(), n(expires.timestamp()));
    }
    item.insert("notes".into(), row.notes.clone());
    Ok(item)
}

pub(super) fn operation_item(op: &Operation, rev: u64) -> StoreResult<Item> {
    let mut item = operation_key(&op.id);
    item.insert("data".into(), s(&to_json(op)?));
    item.insert("rev".into(), n(rev));
    item.insert("version".into(), n(op.version));
    item.insert("status".into(), s(op.status.as_str()));
    item.insert("interviewId".into(), s(op.interview_id.as_str()));
    item.insert("type".into(), s(op.kind.as_str()));
    let ready = match op.status {
        OperationStatus::Pending | OperationStatus::Scheduled => Some(op.due_at),
        OperationStatus::Running => op
            .lease_until
            .map(|until| plus(until, Duration::milliseconds(1))),
        _ => None,
    };
    if let Some(ready) = ready {
        item.insert(
            "scheduledAt".into(),
            s(&format!("{}#{}", time_key(ready), op.id)),
        );
    }
    if let Some(expires) = op.expires_at {
        item.insert(TTL_ATTRIBUTE.into(), n(expires.timestamp()));
    }
    Ok(item)
}

// ---------------------------------------------------------------------------------------------
// Page tokens (`{listing}~{range key}`; see `store::page`)
// ---------------------------------------------------------------------------------------------

/// The index range key a page of `listing` starts after (`None` for the first page), checked to
/// be `{16 digits}#{id}` before it reaches a query.
pub(super) fn range_position(
    listing: Listing,
    after: Option<&PageToken>,
) -> StoreResult<Option<String>> {
    let Some(range_key) = listing.position(after)? else {
        return Ok(None);
    };
    let (time, id) = range_key
        .split_once('#')
        .ok_or(StoreError::InvalidPageToken)?;
    let time_ok = time.len() == 16 && time.bytes().all(|b| b.is_ascii_digit());
    if !time_ok || !listing.valid_id(id) {
        return Err(StoreError::InvalidPageToken);
    }
    Ok(Some(range_key.to_owned()))
}

/// A log page token: `lg~{item sk}~{line index in that item}` — where the next page starts.
pub(super) fn log_position(after: Option<&PageToken>) -> StoreResult<Option<(String, usize)>> {
    let Some(position) = Listing::Logs.position(after)? else {
        return Ok(None);
    };
    let (sk, index) = position
        .split_once('~')
        .ok_or(StoreError::InvalidPageToken)?;
    let sk_ok = sk.strip_prefix("log#").is_some_and(|rest| {
        rest.len() == 25
            && rest.as_bytes()[20] == b'#'
            && rest
                .bytes()
                .enumerate()
                .all(|(i, b)| i == 20 || b.is_ascii_digit())
    });
    let index: usize = index.parse().map_err(|_| StoreError::InvalidPageToken)?;
    if !sk_ok {
        return Err(StoreError::InvalidPageToken);
    }
    Ok(Some((sk.to_owned(), index)))
}

pub(super) fn log_sk(seq: u64, chunk: usize) -> String {
    format!("log#{seq:020}#{chunk:04}")
}

/// Splits lines into chunks whose JSON stays under [`LOG_CHUNK_BYTES`].
pub(super) fn log_chunks(lines: &[LogLine]) -> StoreResult<Vec<String>> {
    let mut chunks = Vec::new();
    let mut current: Vec<&LogLine> = Vec::new();
    let mut size = 2;
    for line in lines {
        let line_size = to_json(line)?.len() + 1;
        if !current.is_empty() && size + line_size > LOG_CHUNK_BYTES {
            chunks.push(to_json(&current)?);
            current.clear();
            size = 2;
        }
        current.push(line);
        size += line_size;
    }
    if !current.is_empty() {
        chunks.push(to_json(&current)?);
    }
    Ok(chunks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_ids_name_their_interview_and_kind() {
        let id = InterviewId::parse("k7mq2xw9ab3c").expect("id");
        for kind in [OperationKind::Create, OperationKind::Destroy] {
            let op = operation_id(&id, kind).expect("op id");
            assert_eq!(operation_of(&op), Some((id.clone(), kind)));
        }
        for foreign in ["op-zzzz9999", "op-c", "op-xabcd1234", "op-cAbcd"] {
            if let Ok(op) = OperationId::parse(foreign) {
                assert_eq!(operation_of(&op), None, "{foreign}");
            }
        }
    }

    #[test]
    fn page_tokens_are_checked_and_tied_to_their_listing() {
        let token = Listing::OpenInterviews.token("0001795428000000#abcd2345");
        assert_eq!(
            range_position(Listing::OpenInterviews, Some(&token)).ok(),
            Some(Some("0001795428000000#abcd2345".to_owned()))
        );
        assert!(range_position(Listing::AllInterviews, Some(&token)).is_err());
        for garbage in ["", "io", "io~x#abcd2345", "io~0001795428000000#", "~~~"] {
            assert!(
                range_position(Listing::OpenInterviews, Some(&PageToken(garbage.into()))).is_err(),
                "{garbage:?}"
            );
            assert!(log_position(Some(&PageToken(garbage.into()))).is_err());
        }
        let sk = log_sk(42, 3);
        assert_eq!(
            log_position(Some(&PageToken(format!("lg~{sk}~7")))).ok(),
            Some(Some((sk.clone(), 7)))
        );
    }

    #[test]
    fn log_chunks_stay_under_the_item_limit_and_keep_every_line() {
        let line = LogLine {
            at: DateTime::UNIX_EPOCH,
            message: "x".repeat(10_000),
        };
        let lines = vec![line; 100];
        let chunks = log_chunks(&lines).expect("chunks");
        assert!(chunks.len() > 1);
        let mut back = Vec::new();
        for chunk in &chunks {
            assert!(chunk.len() <= LOG_CHUNK_BYTES);
            back.extend(serde_json::from_str::<Vec<LogLine>>(chunk).expect("json"));
        }
        assert_eq!(back, lines);
    }
}
