//! DynamoDB backend (feature `aws`): the [`OperationStore`] for replicas on AWS.
//!
//! # Schema (what `infra/` creates; [`create_tables`] makes the same for tests)
//!
//! Two tables, both `PAY_PER_REQUEST`, both keyed by a string partition key `pk` and a string sort
//! key `sk`, both with TTL on the Number attribute `expiresAt` (epoch seconds). Every global
//! secondary index projects `ALL` attributes (the scheduler's queries return whole records).
//!
//! ## `{prefix}-{env}-interviews`
//!
//! | item | `pk` | `sk` |
//! |------|------|------|
//! | an interview (its notes inside, in the map `notes`) | `interview#{id}` | `interview` |
//! | the change feed's head (attribute `seq`, Number) | `feed` | `head` |
//! | one change of the feed | `feed` | the change's cursor, 20 digits zero-padded |
//! | a per-user setting (attribute `value`) | `user#{platform}#{user id}` | `setting#{key}` |
//!
//! Attributes of an interview item: `data` (the [`Interview`] as JSON), `rev` (Number: the item's
//! revision, bumped by every write of the item and the condition of every write), `version`
//! (Number, copy of the record's version), `request` (the creating request, to recognise an
//! idempotent retry), `state` (the interview's state), `status` (`open` while the interview is
//! not terminal, `closed` once it is), `startKey` (`{start_at ms, 16 digits}#{id}`),
//! `autoDestroyAt` (`{destroy_at ms, 16 digits}#{id}`, present only while the interview is open
//! and has no destroy operation), `warnedAt` (Number, ms, present once warned), `expiresAt`
//! (present only once terminal) and `notes` (a map of the frontends' notes). Indexes:
//!
//! * `status-autoDestroyAt-index` — hash `status`, range `autoDestroyAt` (sparse): due destroys
//!   (`status = open AND autoDestroyAt <= now`), due warnings (the same up to `now + warn_before`,
//!   filtered on `attribute_not_exists(warnedAt)`), and the next destroy/warning time.
//! * `status-startKey-index` — hash `status`, range `startKey`: `list_interviews` (`Open` reads
//!   the `open` partition; `All` merges the `open` and `closed` partitions by `startKey`).
//!
//! Change items: `at` (Number, ms), `interviewId`, `change` (the [`ChangeKind`] as JSON),
//! `expiresAt` (`at` + retention, like the SQLite purge of old feed entries).
//!
//! ## `{prefix}-{env}-operations`
//!
//! | item | `pk` | `sk` |
//! |------|------|------|
//! | an operation | the operation id | `operation` |
//! | a batch of its log lines (one `append_logs` call; split in chunks of < 300 KB) | the operation id | `log#{feed cursor, 20 digits}#{chunk, 4 digits}` |
//!
//! Operation ids are deterministic: `op-c{interview id}` for the create and `op-d{interview id}`
//! for the destroy, so an interview has at most one of each by construction (the put is
//! conditional on `attribute_not_exists(pk)`), and every record an operation's logic needs is
//! read with one consistent `BatchGetItem` (interview, create, destroy).
//!
//! Attributes of an operation item: `data` (the [`Operation`] as JSON), `rev`, `version`,
//! `status` (the operation's status), `scheduledAt` (`{ms, 16 digits}#{operation id}`: when the
//! operation becomes claimable — `due_at` while `pending`/`scheduled`, one millisecond after the
//! lease ends while `running`; absent on terminal operations), `interviewId`, `type` (`create` /
//! `destroy`) and `expiresAt` (only once terminal). Log items: `lines` (JSON array of lines),
//! `count`, `expiresAt`. Indexes:
//!
//! * `status-scheduledAt-index` — hash `status`, range `scheduledAt` (sparse): `due_operations`
//!   merges the `pending`, `scheduled` and `running` partitions up to `{now}#~`; `next_due` reads
//!   the first item of each.
//! * `interviewId-type-index` — hash `interviewId`, range `type`: operations of an interview for
//!   operators and tools. The store itself reads them by their deterministic ids with a
//!   consistent `BatchGetItem` (an index read could miss a write that just happened).
//!
//! # How the contract is kept
//!
//! * **Every write is one `TransactWriteItems`**: each mutating call reads the interview and its
//!   two operations (one consistent `BatchGetItem`), decides in memory exactly as the SQLite
//!   backend does, then writes every changed item conditional on the `rev` it read (and checks
//!   the unchanged ones with `ConditionCheck`s), so the call behaves as if it ran alone. If any
//!   of those items changed meanwhile the call starts over from the read; a claim that lost its
//!   race then finds the operation at another version and answers `Ok(None)`.
//!   `TransactionConflict` cancellations are retried the same way, with jittered backoff,
//!   bounded ([`MAX_RERUNS`]); throttling and 5xx are retried by the SDK.
//! * **Change feed.** The same transaction updates the feed head (`seq = :expected` →
//!   `:expected + n`) and puts its `n` change items at the following cursors, so changes become
//!   visible atomically and in commit order: a reader never sees cursor `N + 1` before `N`. Each
//!   handle sends its feed-moving transactions one at a time (its own tasks never race each
//!   other for the head) and remembers the last head it saw; when another replica moved it, the
//!   cancellation reason carries the current head (`ReturnValuesOnConditionCheckFailure`) or a
//!   consistent `GetItem` reads it, and the write is sent again (the records it checked were
//!   unchanged, so it need not be recomputed). `changes_since` is a consistent `Query`.
//! * **Retention only on terminal records.** `expiresAt` is put on an interview or operation item
//!   only in the write that makes it terminal (for an interview: once none of its operations can
//!   run). Notes live inside their interview item and so share its TTL exactly. Log items get
//!   `expiresAt` = the append time + retention + [`LOG_GRACE`]: logs are written by the worker
//!   holding the operation's lease, and an operation that is still open a year after it last
//!   logged is not a state Prequel leaves records in (the scheduler fails operations after their
//!   attempts); were it to happen, only those old lines would go — never a record. Feed items
//!   expire at `at` + retention. [`OperationStore::purge_expired`] does nothing: DynamoDB's TTL
//!   deletes expired items itself (typically within a few days of `expiresAt`).
//! * **Queries are indexed and paginated** (`Query` with `Limit` and `ExclusiveStartKey`, never
//!   `Scan`); page tokens are `{listing}~{range key}` and are checked before use. Index reads
//!   are eventually consistent on DynamoDB (a just-written operation may show up in
//!   `due_operations` a moment later); every claim re-reads the record consistently.
//!
//! Times are kept at millisecond precision, as in the SQLite backend.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TableStatus, TimeToLiveSpecification,
    TransactWriteItem, Update,
};
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde::Serialize;
use tracing::instrument;

use super::{
    Change, ChangeBatch, ChangeCursor, ChangeKind, Claimed, Completion, Created, DEFAULT_RETENTION,
    DestroyRequested, InterviewScope, Lease, NewInterview, NextDue, OperationStore, Page,
    PageRequest, PageToken, StoreError, StoreResult,
};
use crate::aws::ResourceNames;
use crate::domain::{
    Interview, InterviewId, InterviewLength, InterviewState, LogLine, Operation, OperationId,
    OperationKind, OperationStatus, Platform, Requester,
};

/// The index of due operations and lease expiries on the operations table.
pub const OPERATIONS_DUE_INDEX: &str = "status-scheduledAt-index";
/// The index of an interview's operations on the operations table.
pub const OPERATIONS_BY_INTERVIEW_INDEX: &str = "interviewId-type-index";
/// The index of due destroys and warnings on the interviews table.
pub const INTERVIEWS_DESTROY_INDEX: &str = "status-autoDestroyAt-index";
/// The index of interviews by start time on the interviews table.
pub const INTERVIEWS_BY_START_INDEX: &str = "status-startKey-index";
/// The TTL attribute of both tables (epoch seconds).
pub const TTL_ATTRIBUTE: &str = "expiresAt";

/// How many times one call reads, decides and writes again when the records it read changed
/// under it (or the transaction met another one) before giving up with a backend error.
pub const MAX_RERUNS: u32 = 60;

/// How long a write keeps racing other replicas for the feed head (and at least
/// [`MAX_RERUNS`] times) before it gives up. Every write of every replica moves that one item,
/// so in a burst a write can lose many rounds in a row; each lost round costs a round trip, so a
/// count alone gives up sooner the faster the burst comes. Three replicas provisioning a few
/// hundred interviews at once against moto lost 60 rounds in 6 s; a caller would rather wait.
pub const HEAD_RACE_BUDGET: std::time::Duration = std::time::Duration::from_secs(30);

/// How long past the retention a log batch is kept (see the module docs).
pub const LOG_GRACE: Duration = Duration::days(365);

/// The most changes one [`OperationStore::changes_since`] call returns.
const MAX_CHANGES_PER_BATCH: u32 = 1000;

/// Log lines per item are cut so that an item stays well under DynamoDB's 400 KB.
const LOG_CHUNK_BYTES: usize = 300_000;

const INTERVIEW_SK: &str = "interview";
const OPERATION_SK: &str = "operation";
const FEED_PK: &str = "feed";
const HEAD_SK: &str = "head";
const OPEN: &str = "open";
const CLOSED: &str = "closed";
/// Above every range key we write (`{digits}#{id}`; ids use `[a-z0-9-]`).
const KEY_MAX: &str = "~";
/// Below every range key we write.
const KEY_MIN: &str = "!";

type Item = HashMap<String, AttributeValue>;

/// The feed entries one write adds: when, and what.
type Changes = Vec<(DateTime<Utc>, ChangeKind)>;

/// Why a DynamoDB call failed, in words an operator can act on (inside [`StoreError::Backend`]).
#[derive(Debug, thiserror::Error)]
pub enum DynamoError {
    /// A table is missing.
    #[error(
        "DynamoDB table {table} does not exist (create it with infra/ or prequel_core::store::dynamo::create_tables)"
    )]
    MissingTable {
        /// The table.
        table: String,
    },
    /// A table lacks one of the indexes the store queries.
    #[error("DynamoDB table {table} lacks index {index} (apply infra/ to add it)")]
    MissingIndex {
        /// The table.
        table: String,
        /// The missing index.
        index: String,
    },
    /// A table has no TTL on `expiresAt`, so terminal records would never be deleted.
    #[error("DynamoDB table {table} has no TTL on attribute {TTL_ATTRIBUTE} (apply infra/)")]
    MissingTtl {
        /// The table.
        table: String,
    },
    /// The credentials may not do this.
    #[error("access denied: {action} on DynamoDB table {table} ({message})")]
    AccessDenied {
        /// The API action.
        action: &'static str,
        /// The table.
        table: String,
        /// What AWS said.
        message: String,
    },
    /// Any other failed call.
    #[error("DynamoDB {action} on table {table} failed: {message}")]
    Call {
        /// The API action.
        action: &'static str,
        /// The table.
        table: String,
        /// What AWS said.
        message: String,
    },
    /// A write kept meeting concurrent writes.
    #[error("DynamoDB write kept conflicting with concurrent writes after {0} attempts")]
    Contention(u32),
}

fn call_error<E>(action: &'static str, table: &str, err: SdkError<E>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let code = err.code().map(str::to_owned);
    let message = DisplayErrorContext(&err).to_string();
    let table = table.to_owned();
    StoreError::backend(match code.as_deref() {
        Some("ResourceNotFoundException") => DynamoError::MissingTable { table },
        Some("AccessDeniedException") | Some("UnrecognizedClientException") => {
            DynamoError::AccessDenied {
                action,
                table,
                message,
            }
        }
        _ => DynamoError::Call {
            action,
            table,
            message,
        },
    })
}

fn build_error(err: aws_sdk_dynamodb::error::BuildError) -> StoreError {
    StoreError::backend(err)
}

// ---------------------------------------------------------------------------------------------
// Tables
// ---------------------------------------------------------------------------------------------

/// Creates both tables with their indexes and TTL (`PAY_PER_REQUEST`), for tests and small
/// setups; production tables come from `infra/`. Idempotent: an existing table is left as it is
/// (and only its TTL is switched on if it is off). Waits until both tables are active.
pub async fn create_tables(client: &Client, names: &ResourceNames) -> Result<(), StoreError> {
    let tables = [
        (
            names.operations_table(),
            vec![
                (OPERATIONS_DUE_INDEX, "status", "scheduledAt"),
                (OPERATIONS_BY_INTERVIEW_INDEX, "interviewId", "type"),
            ],
        ),
        (
            names.interviews_table(),
            vec![
                (INTERVIEWS_DESTROY_INDEX, "status", "autoDestroyAt"),
                (INTERVIEWS_BY_START_INDEX, "status", "startKey"),
            ],
        ),
    ];
    for (table, indexes) in &tables {
        let mut attributes = vec!["pk", "sk"];
        for (_, hash, range) in indexes {
            for name in [*hash, *range] {
                if !attributes.contains(&name) {
                    attributes.push(name);
                }
            }
        }
        let mut request = client
            .create_table()
            .table_name(table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key_element("pk", KeyType::Hash)?)
            .key_schema(key_element("sk", KeyType::Range)?);
        for name in attributes {
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(name)
                    .attribute_type(ScalarAttributeType::S)
                    .build()
                    .map_err(build_error)?,
            );
        }
        for (index, hash, range) in indexes {
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(*index)
                    .key_schema(key_element(hash, KeyType::Hash)?)
                    .key_schema(key_element(range, KeyType::Range)?)
                    .projection(
                        Projection::builder()
                            .projection_type(ProjectionType::All)
                            .build(),
                    )
                    .build()
                    .map_err(build_error)?,
            );
        }
        match request.send().await {
            Ok(_) => {}
            Err(err) if err.code() == Some("ResourceInUseException") => {}
            Err(err) => return Err(call_error("CreateTable", table, err)),
        }
    }
    for (table, _) in &tables {
        wait_until_active(client, table).await?;
        let ttl = client
            .describe_time_to_live()
            .table_name(table)
            .send()
            .await
            .map_err(|err| call_error("DescribeTimeToLive", table, err))?;
        let enabled = ttl.time_to_live_description().is_some_and(|d| {
            d.attribute_name() == Some(TTL_ATTRIBUTE)
                && d.time_to_live_status()
                    .is_some_and(|s| s.as_str() != "DISABLED")
        });
        if !enabled {
            client
                .update_time_to_live()
                .table_name(table)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(TTL_ATTRIBUTE)
                        .enabled(true)
                        .build()
                        .map_err(build_error)?,
                )
                .send()
                .await
                .map_err(|err| call_error("UpdateTimeToLive", table, err))?;
        }
    }
    Ok(())
}

fn key_element(name: &str, key_type: KeyType) -> StoreResult<KeySchemaElement> {
    KeySchemaElement::builder()
        .attribute_name(name)
        .key_type(key_type)
        .build()
        .map_err(build_error)
}

async fn wait_until_active(client: &Client, table: &str) -> StoreResult<()> {
    for _ in 0..300 {
        let described = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|err| call_error("DescribeTable", table, err))?;
        let active = described.table().is_some_and(|t| {
            t.table_status() == Some(&TableStatus::Active)
                && t.global_secondary_indexes()
                    .iter()
                    .all(|index| index.index_status().is_none_or(|s| s.as_str() == "ACTIVE"))
        });
        if active {
            return Ok(());
        }
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    }
    Err(StoreError::backend(DynamoError::Call {
        action: "DescribeTable",
        table: table.to_owned(),
        message: "the table did not become active within 5 minutes".into(),
    }))
}

// ---------------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------------

/// An [`OperationStore`] in two DynamoDB tables (see the module docs for the schema).
///
/// Cloning is cheap and shares the client and the remembered feed head; a second `new` on the
/// same tables is an independent handle, as another replica would have.
#[derive(Clone)]
pub struct DynamoStore {
    client: Client,
    interviews: String,
    operations: String,
    /// The newest feed head this handle has seen (a hint: every write checks it).
    head: Arc<AtomicU64>,
    /// Taken while a transaction that moves the feed head is sent, so this handle's own writers
    /// do not race each other for the head (only other replicas' writes can move it under them).
    /// It holds when this handle may send its next one (see [`DynamoStore::commit`]).
    commit_turn: Arc<tokio::sync::Mutex<Option<tokio::time::Instant>>>,
}

impl fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoStore")
            .field("interviews", &self.interviews)
            .field("operations", &self.operations)
            .finish_non_exhaustive()
    }
}

impl DynamoStore {
    /// A store on the tables `names` gives (`{prefix}-{env}-interviews` and `-operations`).
    pub fn new(client: Client, names: &ResourceNames) -> Self {
        Self {
            client,
            interviews: names.interviews_table(),
            operations: names.operations_table(),
            head: Arc::new(AtomicU64::new(0)),
            commit_turn: Arc::new(tokio::sync::Mutex::new(None)),
        }
    }

    /// Checks that both tables exist with every index the store queries and TTL on `expiresAt`;
    /// the error names the missing table or index (or the denied action). Call it at startup.
    pub async fn check(&self) -> StoreResult<()> {
        for (table, indexes) in [
            (
                &self.interviews,
                [INTERVIEWS_DESTROY_INDEX, INTERVIEWS_BY_START_INDEX],
            ),
            (
                &self.operations,
                [OPERATIONS_DUE_INDEX, OPERATIONS_BY_INTERVIEW_INDEX],
            ),
        ] {
            let described = self
                .client
                .describe_table()
                .table_name(table)
                .send()
                .await
                .map_err(|err| call_error("DescribeTable", table, err))?;
            let present: Vec<&str> = described
                .table()
                .map(|t| {
                    t.global_secondary_indexes()
                        .iter()
                        .filter_map(|i| i.index_name())
                        .collect()
                })
                .unwrap_or_default();
            for index in indexes {
                if !present.contains(&index) {
                    return Err(StoreError::backend(DynamoError::MissingIndex {
                        table: table.clone(),
                        index: index.to_owned(),
                    }));
                }
            }
            let ttl = self
                .client
                .describe_time_to_live()
                .table_name(table)
                .send()
                .await
                .map_err(|err| call_error("DescribeTimeToLive", table, err))?;
            let enabled = ttl.time_to_live_description().is_some_and(|d| {
                d.attribute_name() == Some(TTL_ATTRIBUTE)
                    && d.time_to_live_status()
                        .is_some_and(|s| matches!(s.as_str(), "ENABLED" | "ENABLING"))
            });
            if !enabled {
                return Err(StoreError::backend(DynamoError::MissingTtl {
                    table: table.clone(),
                }));
            }
        }
        Ok(())
    }

    // -- reading ------------------------------------------------------------------------------

    async fn get_item(&self, table: &str, key: Item) -> StoreResult<Option<Item>> {
        let out = self
            .client
            .get_item()
            .table_name(table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| call_error("GetItem", table, err))?;
        Ok(out.item().cloned())
    }

    /// The interview and both its operations, read consistently in one request.
    async fn load_bundle(&self, id: &InterviewId) -> StoreResult<Tx> {
        let create_id = operation_id(id, OperationKind::Create)?;
        let destroy_id = operation_id(id, OperationKind::Destroy)?;
        let mut wanted: HashMap<String, KeysAndAttributes> = HashMap::new();
        wanted.insert(
            self.interviews.clone(),
            KeysAndAttributes::builder()
                .keys(interview_key(id))
                .consistent_read(true)
                .build()
                .map_err(build_error)?,
        );
        wanted.insert(
            self.operations.clone(),
            KeysAndAttributes::builder()
                .keys(operation_key(&create_id))
                .keys(operation_key(&destroy_id))
                .consistent_read(true)
                .build()
                .map_err(build_error)?,
        );
        let mut found: Vec<(String, Item)> = Vec::new();
        let mut attempt = 0;
        while !wanted.is_empty() {
            let out = self
                .client
                .batch_get_item()
                .set_request_items(Some(wanted))
                .send()
                .await
                .map_err(|err| call_error("BatchGetItem", &self.interviews, err))?;
            for (table, items) in out.responses().into_iter().flatten() {
                for item in items {
                    found.push((table.clone(), item.clone()));
                }
            }
            wanted = out.unprocessed_keys().cloned().unwrap_or_default();
            wanted.retain(|_, keys| !keys.keys().is_empty());
            if !wanted.is_empty() {
                attempt += 1;
                if attempt > MAX_RERUNS {
                    return Err(StoreError::backend(DynamoError::Contention(attempt)));
                }
                backoff(attempt).await;
            }
        }
        let mut tx = Tx::new(id.clone());
        for (table, item) in found {
            if table == self.interviews {
                let row = interview_row(&item)?;
                tx.interview = Slot::loaded(row.rev, row);
            } else {
                let row = operation_row(&item)?;
                let slot = Slot::loaded(row.rev, row);
                match slot.row.as_ref().map(|r| r.op.kind) {
                    Some(OperationKind::Create) => tx.create = slot,
                    Some(OperationKind::Destroy) => tx.destroy = slot,
                    None => {}
                }
            }
        }
        Ok(tx)
    }

    /// Up to `want` items of one index partition with range key in `lo..=hi`, in order.
    async fn query_range(&self, q: &RangeQuery<'_>, want: usize) -> StoreResult<Vec<Item>> {
        let mut items = Vec::new();
        if q.lo > q.hi || want == 0 {
            return Ok(items);
        }
        let mut start: Option<Item> = None;
        loop {
            let limit = i32::try_from((want - items.len()).clamp(1, 1000)).unwrap_or(1000);
            let mut request = self
                .client
                .query()
                .table_name(q.table)
                .index_name(q.index)
                .key_condition_expression("#h = :h AND #r BETWEEN :lo AND :hi")
                .expression_attribute_names("#h", q.hash_attr)
                .expression_attribute_names("#r", q.range_attr)
                .expression_attribute_values(":h", s(q.hash_value))
                .expression_attribute_values(":lo", s(&q.lo))
                .expression_attribute_values(":hi", s(&q.hi))
                .limit(limit)
                .set_exclusive_start_key(start.take());
            if let Some(filter) = q.filter {
                request = request.filter_expression(filter);
                if let Some((name, attr)) = q.filter_name {
                    request = request.expression_attribute_names(name, attr);
                }
            }
            let out = request
                .send()
                .await
                .map_err(|err| call_error("Query", q.table, err))?;
            items.extend(out.items().iter().cloned());
            match out.last_evaluated_key() {
                Some(key) if items.len() < want => start = Some(key.clone()),
                _ => break,
            }
        }
        items.truncate(want);
        Ok(items)
    }

    /// One page of a listing merged from several index partitions by range key.
    async fn merged_page<T>(
        &self,
        listing: Listing,
        queries: Vec<RangeQuery<'_>>,
        page: &PageRequest,
        parse: fn(&Item) -> StoreResult<T>,
    ) -> StoreResult<Page<T>> {
        let after = listing.position(page.after.as_ref())?;
        let limit = page.effective_limit() as usize;
        let queries: Vec<RangeQuery<'_>> = queries
            .into_iter()
            .map(|mut q| {
                if let Some(after) = &after {
                    // Strictly after the token: `!` sorts below every character of an id.
                    q.lo = format!("{after}{KEY_MIN}");
                }
                q
            })
            .collect();
        let fetched =
            futures::future::try_join_all(queries.iter().map(|q| self.query_range(q, limit + 1)))
                .await?;
        let mut keyed: Vec<(String, Item)> = Vec::new();
        for (q, items) in queries.iter().zip(fetched) {
            for item in items {
                let key = string_attr(&item, q.range_attr)?;
                keyed.push((key, item));
            }
        }
        keyed.sort_by(|a, b| a.0.cmp(&b.0));
        let next = if keyed.len() > limit {
            keyed.truncate(limit);
            keyed.last().map(|(key, _)| listing.token(key))
        } else {
            None
        };
        let items = keyed
            .iter()
            .map(|(_, item)| parse(item))
            .collect::<StoreResult<Vec<T>>>()?;
        Ok(Page { items, next })
    }

    fn due_ops_query(&self, status: OperationStatus, hi: String) -> RangeQuery<'_> {
        RangeQuery {
            table: &self.operations,
            index: OPERATIONS_DUE_INDEX,
            hash_attr: "status",
            hash_value: status.as_str(),
            range_attr: "scheduledAt",
            lo: KEY_MIN.to_owned(),
            hi,
            filter: None,
            filter_name: None,
        }
    }

    fn destroy_query(&self, hi: String, unwarned: bool) -> RangeQuery<'_> {
        RangeQuery {
            table: &self.interviews,
            index: INTERVIEWS_DESTROY_INDEX,
            hash_attr: "status",
            hash_value: OPEN,
            range_attr: "autoDestroyAt",
            lo: KEY_MIN.to_owned(),
            hi,
            filter: unwarned.then_some("attribute_not_exists(#w)"),
            filter_name: unwarned.then_some(("#w", "warnedAt")),
        }
    }

    fn start_query(&self, status: &'static str) -> RangeQuery<'_> {
        RangeQuery {
            table: &self.interviews,
            index: INTERVIEWS_BY_START_INDEX,
            hash_attr: "status",
            hash_value: status,
            range_attr: "startKey",
            lo: KEY_MIN.to_owned(),
            hi: KEY_MAX.to_owned(),
            filter: None,
            filter_name: None,
        }
    }

    // -- writing ------------------------------------------------------------------------------

    /// Reads the interview's records, runs `decide` on them and writes what it changed, all or
    /// nothing; starts over when a record changed in between.
    async fn run<T, F>(&self, id: &InterviewId, decide: F) -> StoreResult<T>
    where
        F: Fn(&mut Tx) -> StoreResult<T> + Send + Sync,
        T: Send,
    {
        for attempt in 1..=MAX_RERUNS {
            let mut tx = self.load_bundle(id).await?;
            let out = decide(&mut tx)?;
            let (fixed, changes) = tx.into_writes(self)?;
            match self.commit(fixed, &changes, |_| Ok(Vec::new())).await? {
                Ok(()) => return Ok(out),
                Err(Conflict { .. }) => backoff(attempt).await,
            }
        }
        Err(StoreError::backend(DynamoError::Contention(MAX_RERUNS)))
    }

    /// Sends `fixed` plus the feed entries of `changes` (and `extra(first cursor)`) in one
    /// transaction. `Ok(Err(Conflict))` when one of `fixed`'s conditions failed; a moved feed
    /// head or a transaction conflict is retried here.
    async fn commit(
        &self,
        fixed: Vec<TransactWriteItem>,
        changes: &[(DateTime<Utc>, ChangeKind)],
        extra: impl Fn(u64) -> StoreResult<Vec<TransactWriteItem>> + Send + Sync,
    ) -> StoreResult<Result<(), Conflict>> {
        if fixed.is_empty() && changes.is_empty() {
            return Ok(Ok(()));
        }
        let bodies = changes
            .iter()
            .map(|(at, kind)| {
                serde_json::to_string(kind)
                    .map(|body| (*at, kind.interview_id().to_string(), body))
                    .map_err(StoreError::backend)
            })
            .collect::<StoreResult<Vec<_>>>()?;
        let count = bodies.len() as u64;
        let fixed_len = fixed.len();
        // Writes that touch no feed entry (none today) would not need the turn.
        let mut turn = if count > 0 {
            Some(self.commit_turn.lock().await)
        } else {
            None
        };
        if let Some(not_before) = turn.as_deref().copied().flatten() {
            tokio::time::sleep_until(not_before).await;
        }
        let started = tokio::time::Instant::now();
        let mut attempt = 0;
        loop {
            attempt += 1;
            if attempt > MAX_RERUNS && started.elapsed() >= HEAD_RACE_BUDGET {
                return Err(StoreError::backend(DynamoError::Contention(attempt - 1)));
            }
            let sent_at = tokio::time::Instant::now();
            let base = self.head.load(Ordering::Relaxed);
            let mut items = fixed.clone();
            items.extend(extra(base + 1)?);
            let head_index = items.len();
            if count > 0 {
                items.push(self.head_update(base, base + count)?);
                for (i, (at, interview, body)) in bodies.iter().enumerate() {
                    items.push(self.change_put(base + 1 + i as u64, *at, interview, body)?);
                }
            }
            let sent = self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await;
            let err = match sent {
                Ok(_) => {
                    self.head.fetch_max(base + count, Ordering::Relaxed);
                    // Fairness. A replica that lost the race for the head learns the new head
                    // from its cancellation and sends again at once, but a replica with more
                    // writes queued sends its next one at once too, with the head it just
                    // wrote, and when requests are served in arrival order it wins every round
                    // while its queue lasts (three replicas starting 500 interviews measured
                    // writes failing after 60 lost rounds). So the next commit of this handle
                    // waits a random part of this round trip, letting the losers' retries in;
                    // a handle that writes now and then never waits.
                    if let Some(turn) = turn.as_deref_mut() {
                        let round_trip = sent_at.elapsed();
                        let pause = round_trip.mul_f64(rand::rng().random_range(0.0..1.0));
                        *turn = Some(tokio::time::Instant::now() + pause);
                    }
                    return Ok(Ok(()));
                }
                Err(err) => err,
            };
            let reasons = match err.as_service_error() {
                Some(
                    aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(
                        canceled,
                    ),
                ) => canceled.cancellation_reasons().to_vec(),
                _ if err.code() == Some("TransactionConflictException")
                    || err.code() == Some("TransactionInProgressException") =>
                {
                    backoff(attempt).await;
                    continue;
                }
                _ => return Err(call_error("TransactWriteItems", &self.interviews, err)),
            };
            let code = |i: usize| reasons.get(i).and_then(|r| r.code()).unwrap_or("None");
            let failed: Vec<usize> = (0..fixed_len)
                .filter(|&i| code(i) == "ConditionalCheckFailed")
                .collect();
            let head_moved = count > 0 && code(head_index) == "ConditionalCheckFailed";
            if head_moved || reasons.is_empty() {
                let seen = reasons
                    .get(head_index)
                    .and_then(|r| r.item())
                    .and_then(|item| number_attr(item, "seq").ok());
                match seen {
                    Some(seq) => {
                        self.head.fetch_max(seq, Ordering::Relaxed);
                    }
                    None => {
                        self.refresh_head().await?;
                    }
                }
            }
            if !failed.is_empty() || reasons.is_empty() {
                return Ok(Err(Conflict { failed }));
            }
            if reasons
                .iter()
                .any(|r| matches!(r.code(), Some("TransactionConflict")))
            {
                backoff(attempt).await;
                continue;
            }
            if head_moved {
                // Another replica wrote meanwhile; under heavy contention, spread the retries.
                if attempt > 2 {
                    backoff(attempt).await;
                }
                continue;
            }
            let why: Vec<String> = reasons
                .iter()
                .filter_map(|r| {
                    let code = r.code()?;
                    (code != "None").then(|| format!("{code}: {}", r.message().unwrap_or_default()))
                })
                .collect();
            return Err(StoreError::backend(DynamoError::Call {
                action: "TransactWriteItems",
                table: self.interviews.clone(),
                message: why.join("; "),
            }));
        }
    }

    async fn refresh_head(&self) -> StoreResult<u64> {
        let item = self.get_item(&self.interviews, feed_head_key()).await?;
        let seq = match item {
            Some(item) => number_attr(&item, "seq")?,
            None => 0,
        };
        self.head.fetch_max(seq, Ordering::Relaxed);
        Ok(seq)
    }

    fn head_update(&self, expected: u64, new: u64) -> StoreResult<TransactWriteItem> {
        Ok(TransactWriteItem::builder()
            .update(
                Update::builder()
                    .table_name(&self.interviews)
                    .set_key(Some(feed_head_key()))
                    .update_expression("SET seq = :new")
                    .condition_expression("attribute_not_exists(seq) OR seq = :expected")
                    .expression_attribute_values(":new", n(new))
                    .expression_attribute_values(":expected", n(expected))
                    .return_values_on_condition_check_failure(
                        ReturnValuesOnConditionCheckFailure::AllOld,
                    )
                    .build()
                    .map_err(build_error)?,
            )
            .build())
    }

    fn change_put(
        &self,
        seq: u64,
        at: DateTime<Utc>,
        interview: &str,
        body: &str,
    ) -> StoreResult<TransactWriteItem> {
        let mut item = Item::new();
        item.insert("pk".into(), s(FEED_PK));
        item.insert("sk".into(), s(&feed_sk(seq)));
        item.insert("at".into(), n(at.timestamp_millis()));
        item.insert("interviewId".into(), s(interview));
        item.insert("change".into(), s(body));
        item.insert(
            TTL_ATTRIBUTE.into(),
            n(plus(at, DEFAULT_RETENTION).timestamp()),
        );
        put(
            &self.interviews,
            item,
            Some("attribute_not_exists(pk)"),
            None,
        )
    }
}

/// One or more of a transaction's record conditions failed: the records changed.
#[derive(Debug)]
struct Conflict {
    /// The indexes of the failed items among those the caller gave.
    failed: Vec<usize>,
}

/// Sleeps a jittered, growing while (1–64 ms) before another try.
async fn backoff(attempt: u32) {
    let cap = 1u64 << attempt.min(6);
    let millis = rand::rng().random_range(1..=cap);
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}

struct RangeQuery<'a> {
    table: &'a str,
    index: &'static str,
    hash_attr: &'static str,
    hash_value: &'a str,
    range_attr: &'static str,
    lo: String,
    hi: String,
    filter: Option<&'static str>,
    filter_name: Option<(&'static str, &'static str)>,
}

// ---------------------------------------------------------------------------------------------
// Keys and attributes
// ---------------------------------------------------------------------------------------------

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: impl fmt::Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn key(pk: &str, sk: &str) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

fn interview_key(id: &InterviewId) -> Item {
    key(&format!("interview#{id}"), INTERVIEW_SK)
}

fn operation_key(id: &OperationId) -> Item {
    key(id.as_str(), OPERATION_SK)
}

fn feed_head_key() -> Item {
    key(FEED_PK, HEAD_SK)
}

fn feed_sk(seq: u64) -> String {
    format!("{seq:020}")
}

fn setting_key(platform: Platform, user_id: &str, setting: &str) -> Item {
    key(
        &format!("user#{}#{user_id}", platform.as_str()),
        &format!("setting#{setting}"),
    )
}

/// The id of an interview's create (`op-c{id}`) or destroy (`op-d{id}`).
fn operation_id(interview: &InterviewId, kind: OperationKind) -> StoreResult<OperationId> {
    let letter = match kind {
        OperationKind::Create => 'c',
        OperationKind::Destroy => 'd',
    };
    OperationId::parse(&format!("op-{letter}{interview}"))
        .map_err(|err| StoreError::Corrupt(format!("interview {interview}: {err}")))
}

/// The interview and kind an operation id names, if it is one of ours.
fn operation_of(id: &OperationId) -> Option<(InterviewId, OperationKind)> {
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
fn time_key(at: DateTime<Utc>) -> String {
    format!("{:016}", at.timestamp_millis().max(0))
}

fn string_attr(item: &Item, name: &str) -> StoreResult<String> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Ok(value.clone()),
        _ => Err(StoreError::Corrupt(format!(
            "item {} lacks string attribute {name}",
            describe_key(item)
        ))),
    }
}

fn number_attr(item: &Item, name: &str) -> StoreResult<u64> {
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

fn describe_key(item: &Item) -> String {
    let part = |name: &str| match item.get(name) {
        Some(AttributeValue::S(value)) => value.clone(),
        _ => "?".into(),
    };
    format!("{}/{}", part("pk"), part("sk"))
}

fn json_attr<T: serde::de::DeserializeOwned>(item: &Item, name: &str) -> StoreResult<T> {
    let text = string_attr(item, name)?;
    serde_json::from_str(&text)
        .map_err(|err| StoreError::Corrupt(format!("item {}: {err}", describe_key(item))))
}

fn to_json(value: &impl Serialize) -> StoreResult<String> {
    serde_json::to_string(value).map_err(StoreError::backend)
}

fn put(
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

fn condition_check(table: &str, key: Item, rev: Option<u64>) -> StoreResult<TransactWriteItem> {
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
struct InterviewRow {
    interview: Interview,
    request: String,
    rev: u64,
    notes: AttributeValue,
}

#[derive(Debug, Clone)]
struct OpRow {
    op: Operation,
    rev: u64,
}

fn interview_row(item: &Item) -> StoreResult<InterviewRow> {
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

fn operation_row(item: &Item) -> StoreResult<OpRow> {
    Ok(OpRow {
        op: json_attr(item, "data")?,
        rev: number_attr(item, "rev")?,
    })
}

fn parse_interview(item: &Item) -> StoreResult<Interview> {
    json_attr(item, "data")
}

fn parse_operation(item: &Item) -> StoreResult<Operation> {
    json_attr(item, "data")
}

fn interview_item(row: &InterviewRow, rev: u64, has_destroy: bool) -> StoreResult<Item> {
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

fn operation_item(op: &Operation, rev: u64) -> StoreResult<Item> {
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

/// `at` at the precision it is stored with, so what a write returns equals what a read returns.
fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

/// `at + by`, saturating instead of panicking at the end of chrono's range.
fn plus(at: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    at.checked_add_signed(by)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
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
}

impl Listing {
    fn tag(self) -> &'static str {
        match self {
            Self::OpenInterviews => "io",
            Self::AllInterviews => "ia",
            Self::DueOperations => "od",
            Self::DueDestroys => "dd",
            Self::DueWarnings => "dw",
        }
    }

    fn token(self, range_key: &str) -> PageToken {
        PageToken(format!("{}~{range_key}", self.tag()))
    }

    /// The range key a page starts after (`None` for the first page).
    fn position(self, after: Option<&PageToken>) -> StoreResult<Option<String>> {
        let Some(PageToken(token)) = after else {
            return Ok(None);
        };
        let (tag, range_key) = token.split_once('~').ok_or(StoreError::InvalidPageToken)?;
        let (time, id) = range_key
            .split_once('#')
            .ok_or(StoreError::InvalidPageToken)?;
        let time_ok = time.len() == 16 && time.bytes().all(|b| b.is_ascii_digit());
        let id_ok = match self {
            Self::DueOperations => OperationId::parse(id).is_ok(),
            _ => InterviewId::parse(id).is_ok_and(|parsed| parsed.as_str() == id),
        };
        if tag != self.tag() || !time_ok || !id_ok {
            return Err(StoreError::InvalidPageToken);
        }
        Ok(Some(range_key.to_owned()))
    }
}

/// A log page token: `lg~{item sk}~{line index in that item}` — where the next page starts.
fn log_position(after: Option<&PageToken>) -> StoreResult<Option<(String, usize)>> {
    let Some(PageToken(token)) = after else {
        return Ok(None);
    };
    let mut parts = token.splitn(3, '~');
    let (Some("lg"), Some(sk), Some(index)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(StoreError::InvalidPageToken);
    };
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

fn log_sk(seq: u64, chunk: usize) -> String {
    format!("log#{seq:020}#{chunk:04}")
}

// ---------------------------------------------------------------------------------------------
// One call's view of an interview and its operations
// ---------------------------------------------------------------------------------------------

/// An item as read (`loaded` = its `rev`, `None` if it did not exist) and as it should be.
#[derive(Debug, Clone)]
struct Slot<T> {
    loaded: Option<u64>,
    row: Option<T>,
    dirty: bool,
}

impl<T> Slot<T> {
    fn absent() -> Self {
        Self {
            loaded: None,
            row: None,
            dirty: false,
        }
    }

    fn loaded(rev: u64, row: T) -> Self {
        Self {
            loaded: Some(rev),
            row: Some(row),
            dirty: false,
        }
    }

    fn next_rev(&self) -> u64 {
        self.loaded.map_or(1, |rev| rev + 1)
    }
}

/// The records of one interview as one call sees and changes them, and the changes it makes.
#[derive(Debug)]
struct Tx {
    id: InterviewId,
    interview: Slot<InterviewRow>,
    create: Slot<OpRow>,
    destroy: Slot<OpRow>,
    changes: Changes,
}

/// How an interview write appears in the change feed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FeedAs {
    Interview,
    Warning,
}

impl Tx {
    fn new(id: InterviewId) -> Self {
        Self {
            id,
            interview: Slot::absent(),
            create: Slot::absent(),
            destroy: Slot::absent(),
            changes: Vec::new(),
        }
    }

    fn interview(&self) -> Option<Interview> {
        self.interview.row.as_ref().map(|r| r.interview.clone())
    }

    fn require_interview(&self) -> StoreResult<Interview> {
        self.interview().ok_or_else(|| StoreError::NotFound {
            what: format!("interview {}", self.id),
        })
    }

    fn slot(&self, kind: OperationKind) -> &Slot<OpRow> {
        match kind {
            OperationKind::Create => &self.create,
            OperationKind::Destroy => &self.destroy,
        }
    }

    fn slot_mut(&mut self, kind: OperationKind) -> &mut Slot<OpRow> {
        match kind {
            OperationKind::Create => &mut self.create,
            OperationKind::Destroy => &mut self.destroy,
        }
    }

    fn operation_of(&self, kind: OperationKind) -> Option<Operation> {
        self.slot(kind).row.as_ref().map(|r| r.op.clone())
    }

    fn operation(&self, id: &OperationId) -> Option<Operation> {
        [OperationKind::Create, OperationKind::Destroy]
            .into_iter()
            .filter_map(|kind| self.operation_of(kind))
            .find(|op| &op.id == id)
    }

    fn has_open_operations(&self) -> bool {
        [&self.create, &self.destroy].iter().any(|slot| {
            slot.row.as_ref().is_some_and(|r| {
                matches!(
                    r.op.status,
                    OperationStatus::Pending
                        | OperationStatus::Scheduled
                        | OperationStatus::Running
                )
            })
        })
    }

    fn insert_interview(&mut self, interview: Interview, request: String) {
        self.changes.push((
            interview.created_at,
            ChangeKind::Interview {
                interview: interview.clone(),
            },
        ));
        self.interview.row = Some(InterviewRow {
            interview,
            request,
            rev: 0,
            notes: AttributeValue::M(HashMap::new()),
        });
        self.interview.dirty = true;
    }

    fn insert_operation(&mut self, operation: Operation) {
        self.changes.push((
            operation.created_at,
            ChangeKind::Operation {
                operation: operation.clone(),
            },
        ));
        if operation.kind == OperationKind::Destroy {
            // The interview leaves the due-destroy index: its item is written again.
            self.interview.dirty = true;
        }
        let slot = self.slot_mut(operation.kind);
        slot.row = Some(OpRow {
            op: operation,
            rev: 0,
        });
        slot.dirty = true;
    }

    /// See the SQLite backend's `save_interview`: version, `updated_at`, retention once terminal
    /// and nothing more can run, and the change.
    fn save_interview(
        &mut self,
        interview: &mut Interview,
        now: DateTime<Utc>,
        feed: FeedAs,
    ) -> StoreResult<()> {
        interview.version += 1;
        interview.updated_at = stored(now);
        if interview.state.is_terminal()
            && interview.expires_at.is_none()
            && !self.has_open_operations()
        {
            interview.expires_at = Some(stored(plus(now, DEFAULT_RETENTION)));
        }
        let row = self
            .interview
            .row
            .as_mut()
            .ok_or_else(|| StoreError::NotFound {
                what: format!("interview {}", interview.id),
            })?;
        row.interview = interview.clone();
        self.interview.dirty = true;
        let kind = match feed {
            FeedAs::Interview => ChangeKind::Interview {
                interview: interview.clone(),
            },
            FeedAs::Warning => ChangeKind::Warning {
                interview: interview.clone(),
            },
        };
        self.changes.push((stored(now), kind));
        Ok(())
    }

    /// See the SQLite backend's `save_operation`.
    fn save_operation(&mut self, operation: &mut Operation, now: DateTime<Utc>) -> StoreResult<()> {
        operation.version += 1;
        operation.updated_at = stored(now);
        if operation.status != OperationStatus::Running {
            operation.lease_holder = None;
            operation.lease_until = None;
        }
        if operation.status.is_terminal() && operation.expires_at.is_none() {
            operation.expires_at = Some(stored(plus(now, DEFAULT_RETENTION)));
        }
        let slot = self.slot_mut(operation.kind);
        let row = slot.row.as_mut().ok_or_else(|| StoreError::NotFound {
            what: format!("operation {}", operation.id),
        })?;
        row.op = operation.clone();
        slot.dirty = true;
        self.changes.push((
            stored(now),
            ChangeKind::Operation {
                operation: operation.clone(),
            },
        ));
        Ok(())
    }

    /// The transaction items: a conditional put of every changed item and a condition check of
    /// every other item read, so the write lands only on exactly what was decided on. The
    /// interview item is always among them (written or checked).
    fn into_writes(self, store: &DynamoStore) -> StoreResult<(Vec<TransactWriteItem>, Changes)> {
        let any_dirty = self.interview.dirty || self.create.dirty || self.destroy.dirty;
        if !any_dirty {
            return Ok((Vec::new(), self.changes));
        }
        let mut items = Vec::with_capacity(3);
        let condition = |loaded: Option<u64>| match loaded {
            Some(_) => "rev = :rev",
            None => "attribute_not_exists(pk)",
        };
        let has_destroy = self.destroy.row.is_some();
        match (&self.interview.row, self.interview.dirty) {
            (Some(row), true) => items.push(put(
                &store.interviews,
                interview_item(row, self.interview.next_rev(), has_destroy)?,
                Some(condition(self.interview.loaded)),
                self.interview.loaded.map(|rev| (":rev", n(rev))),
            )?),
            _ => items.push(condition_check(
                &store.interviews,
                interview_key(&self.id),
                self.interview.loaded,
            )?),
        }
        for kind in [OperationKind::Create, OperationKind::Destroy] {
            let slot = self.slot(kind);
            match (&slot.row, slot.dirty) {
                (Some(row), true) => items.push(put(
                    &store.operations,
                    operation_item(&row.op, slot.next_rev())?,
                    Some(condition(slot.loaded)),
                    slot.loaded.map(|rev| (":rev", n(rev))),
                )?),
                (Some(_), false) => items.push(condition_check(
                    &store.operations,
                    operation_key(&operation_id(&self.id, kind)?),
                    slot.loaded,
                )?),
                // An operation that did not exist needs no check: an operation is only ever
                // inserted together with a write of its interview item, whose `rev` this
                // transaction checks (or writes) anyway.
                (None, _) => {}
            }
        }
        Ok((items, self.changes))
    }
}

// ---------------------------------------------------------------------------------------------
// The operations of the contract (the same decisions as the SQLite backend)
// ---------------------------------------------------------------------------------------------

/// The creating request exactly as asked, for recognising an idempotent retry.
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
    to_json(&RequestFingerprint {
        challenge: new.challenge.as_str(),
        candidate: new.candidate.as_deref(),
        requested_by: &new.requested_by,
        co_interviewers: &new.co_interviewers,
        time_zone: &new.time_zone,
        start_at: new.start_at.timestamp_millis(),
        length_minutes: new.length.minutes(),
        create_due_at: new.create_due_at.timestamp_millis(),
        max_attempts: new.max_attempts,
    })
}

/// A fresh waiting operation (pending when already due, scheduled otherwise).
fn new_operation(
    interview: &InterviewId,
    kind: OperationKind,
    due_at: DateTime<Utc>,
    max_attempts: u32,
    requested_by: &Requester,
    now: DateTime<Utc>,
) -> StoreResult<Operation> {
    let now = stored(now);
    let due_at = stored(due_at);
    Ok(Operation {
        id: operation_id(interview, kind)?,
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
    })
}

fn create_interview(tx: &mut Tx, new: &NewInterview, now: DateTime<Utc>) -> StoreResult<Created> {
    let request = fingerprint(new)?;
    if let Some(row) = &tx.interview.row {
        if row.request != request {
            return Err(StoreError::Conflict(format!(
                "interview {} already exists with other details",
                new.id
            )));
        }
        let operation = tx.operation_of(OperationKind::Create).ok_or_else(|| {
            StoreError::Conflict(format!(
                "interview {} was recorded long ago and its create operation has expired",
                new.id
            ))
        })?;
        return Ok(Created {
            interview: row.interview.clone(),
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
    tx.insert_interview(interview.clone(), request);
    let operation = new_operation(
        &new.id,
        OperationKind::Create,
        new.create_due_at,
        new.max_attempts,
        &new.requested_by,
        now,
    )?;
    tx.insert_operation(operation.clone());
    Ok(Created {
        interview,
        operation,
        newly_created: true,
    })
}

/// A lease token: the holder's name and a random suffix.
fn lease_token(holder: &str) -> String {
    let suffix: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(16)
        .map(char::from)
        .collect();
    format!("{holder}#{suffix}")
}

fn claim(
    tx: &mut Tx,
    id: &OperationId,
    expected_version: u64,
    holder: &str,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<Option<Claimed>> {
    let Some(mut operation) = tx.operation(id) else {
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
    let interview = tx.require_interview()?;
    match operation.kind {
        OperationKind::Create => {
            if tx.destroy.row.is_some() || interview.state.is_terminal() {
                operation.status = OperationStatus::Cancelled;
                operation.error = Some("cancelled: the interview is being destroyed".into());
                tx.save_operation(&mut operation, now)?;
                return Ok(None);
            }
        }
        OperationKind::Destroy => {
            if let Some(mut create) = tx.operation_of(OperationKind::Create) {
                match (create.status, create.lease_until) {
                    (OperationStatus::Running, Some(until)) if until >= now => {
                        let after_lease = plus(until, Duration::milliseconds(1));
                        if operation.due_at < after_lease {
                            operation.due_at = stored(after_lease);
                            operation.status = OperationStatus::Scheduled;
                            tx.save_operation(&mut operation, now)?;
                        }
                        return Ok(None);
                    }
                    (
                        OperationStatus::Pending
                        | OperationStatus::Scheduled
                        | OperationStatus::Running,
                        _,
                    ) => {
                        create.status = OperationStatus::Cancelled;
                        create.error = Some("cancelled: the interview is being destroyed".into());
                        tx.save_operation(&mut create, now)?;
                    }
                    _ => {}
                }
            }
        }
    }
    let token = lease_token(holder);
    let lease_until = stored(lease_until);
    operation.status = OperationStatus::Running;
    operation.attempts += 1;
    operation.lease_holder = Some(token.clone());
    operation.lease_until = Some(lease_until);
    tx.save_operation(&mut operation, now)?;
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
fn leased_operation(tx: &Tx, lease: &Lease) -> StoreResult<Operation> {
    let lost = || StoreError::LeaseLost {
        operation: lease.operation_id.clone(),
    };
    let operation = tx.operation(&lease.operation_id).ok_or_else(lost)?;
    if operation.status != OperationStatus::Running
        || operation.lease_holder.as_deref() != Some(lease.token.as_str())
    {
        return Err(lost());
    }
    Ok(operation)
}

/// When a create lets go of its lease, a destroy that was waiting for it becomes due at once.
fn release_waiting_destroy(tx: &mut Tx, now: DateTime<Utc>) -> StoreResult<()> {
    if let Some(mut destroy) = tx.operation_of(OperationKind::Destroy)
        && matches!(
            destroy.status,
            OperationStatus::Pending | OperationStatus::Scheduled
        )
        && destroy.due_at > now
    {
        destroy.due_at = stored(now);
        destroy.status = OperationStatus::Pending;
        tx.save_operation(&mut destroy, now)?;
    }
    Ok(())
}

/// Inserts the interview's destroy operation (due `now`), or makes the existing one due now.
fn ensure_destroy(
    tx: &mut Tx,
    requested_by: &Requester,
    max_attempts: u32,
    now: DateTime<Utc>,
) -> StoreResult<Operation> {
    if tx.destroy.row.is_some() {
        release_waiting_destroy(tx, now)?;
        return tx
            .operation_of(OperationKind::Destroy)
            .ok_or_else(|| StoreError::NotFound {
                what: format!("destroy of interview {}", tx.id),
            });
    }
    let destroy = new_operation(
        &tx.id,
        OperationKind::Destroy,
        now,
        max_attempts,
        requested_by,
        now,
    )?;
    tx.insert_operation(destroy.clone());
    Ok(destroy)
}

fn fail_operation(
    tx: &mut Tx,
    mut operation: Operation,
    reason: &str,
    now: DateTime<Utc>,
) -> StoreResult<Operation> {
    operation.status = OperationStatus::Failed;
    operation.error = Some(reason.to_owned());
    tx.save_operation(&mut operation, now)?;
    let mut interview = tx.require_interview()?;
    match operation.kind {
        OperationKind::Create => {
            let requested_by = interview.requested_by.clone();
            ensure_destroy(tx, &requested_by, operation.max_attempts, now)?;
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
    tx.save_interview(&mut interview, now, FeedAs::Interview)?;
    Ok(operation)
}

fn cancel_before_start(
    tx: &mut Tx,
    mut interview: Interview,
    create: Option<Operation>,
    requested_by: &Requester,
    now: DateTime<Utc>,
) -> StoreResult<Interview> {
    if let Some(mut create) = create {
        create.status = OperationStatus::Cancelled;
        create.error = Some(format!("cancelled by {}", requested_by.display_name));
        tx.save_operation(&mut create, now)?;
    }
    interview.state = InterviewState::Cancelled;
    interview.reason = Some(format!(
        "cancelled by {} before it started",
        requested_by.display_name
    ));
    tx.save_interview(&mut interview, now, FeedAs::Interview)?;
    Ok(interview)
}

fn not_started(create: &Operation) -> bool {
    matches!(
        create.status,
        OperationStatus::Pending | OperationStatus::Scheduled
    ) && create.attempts == 0
}

fn complete(
    tx: &mut Tx,
    lease: &Lease,
    completion: Completion,
    now: DateTime<Utc>,
) -> StoreResult<Operation> {
    let mut operation = leased_operation(tx, lease)?;
    let mut interview = tx.require_interview()?;
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
            tx.save_operation(&mut operation, now)?;
            if !interview.state.is_terminal() {
                interview.state = InterviewState::Active;
                interview.access_url = Some(access_url);
                interview.challenge_checksum = challenge_checksum;
            }
            release_waiting_destroy(tx, now)?;
        }
        (OperationKind::Destroy, Completion::Destroyed { archive }) => {
            operation.status = OperationStatus::Completed;
            operation.result.clone_from(&archive);
            tx.save_operation(&mut operation, now)?;
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
    tx.save_interview(&mut interview, now, FeedAs::Interview)?;
    Ok(operation)
}

fn retry_later(
    tx: &mut Tx,
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
    tx.save_operation(&mut operation, now)?;
    if operation.kind == OperationKind::Create {
        release_waiting_destroy(tx, now)?;
    }
    Ok(operation)
}

fn request_destroy(
    tx: &mut Tx,
    requested_by: &Requester,
    max_attempts: u32,
    now: DateTime<Utc>,
) -> StoreResult<DestroyRequested> {
    let interview = tx.require_interview()?;
    if interview.state.is_terminal() {
        return Ok(DestroyRequested::AlreadyFinished(interview));
    }
    if let Some(existing) = tx.operation_of(OperationKind::Destroy) {
        return Ok(DestroyRequested::Destroy(existing));
    }
    let create = tx.operation_of(OperationKind::Create);
    if create.as_ref().is_some_and(not_started) {
        let interview = cancel_before_start(tx, interview, create, requested_by, now)?;
        return Ok(DestroyRequested::Cancelled(interview));
    }
    let destroy = ensure_destroy(tx, requested_by, max_attempts, now)?;
    Ok(DestroyRequested::Destroy(destroy))
}

fn cancel(
    tx: &mut Tx,
    requested_by: &Requester,
    now: DateTime<Utc>,
) -> StoreResult<Option<Interview>> {
    let interview = tx.require_interview()?;
    if interview.state.is_terminal() || tx.destroy.row.is_some() {
        return Ok(None);
    }
    let create = tx.operation_of(OperationKind::Create);
    if !create.as_ref().is_some_and(not_started) {
        return Ok(None);
    }
    cancel_before_start(tx, interview, create, requested_by, now).map(Some)
}

fn extend(tx: &mut Tx, new_length: InterviewLength, now: DateTime<Utc>) -> StoreResult<Interview> {
    let mut interview = tx.require_interview()?;
    let id = &interview.id;
    if interview.state.is_terminal() {
        return Err(StoreError::Conflict(format!(
            "interview {id} has already ended ({})",
            interview.state
        )));
    }
    if tx.destroy.row.is_some() {
        return Err(StoreError::Conflict(format!(
            "interview {id} is already being destroyed"
        )));
    }
    interview.length = new_length;
    interview.destroy_at = plus(interview.start_at, new_length.as_duration());
    interview.warned_at = None;
    tx.save_interview(&mut interview, now, FeedAs::Interview)?;
    Ok(interview)
}

fn mark_warned(tx: &mut Tx, now: DateTime<Utc>) -> StoreResult<Option<Interview>> {
    let mut interview = tx.require_interview()?;
    if interview.warned_at.is_some() || interview.state.is_terminal() || tx.destroy.row.is_some() {
        return Ok(None);
    }
    interview.warned_at = Some(stored(now));
    tx.save_interview(&mut interview, now, FeedAs::Warning)?;
    Ok(Some(interview))
}

/// Splits lines into chunks whose JSON stays under [`LOG_CHUNK_BYTES`].
fn log_chunks(lines: &[LogLine]) -> StoreResult<Vec<String>> {
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

// ---------------------------------------------------------------------------------------------
// The trait
// ---------------------------------------------------------------------------------------------

#[async_trait]
impl OperationStore for DynamoStore {
    #[instrument(skip_all, fields(interview = %new.id))]
    async fn create_interview(
        &self,
        new: &NewInterview,
        now: DateTime<Utc>,
    ) -> StoreResult<Created> {
        // Optimistically first: a new id needs no read (the puts are conditional on the items
        // not existing); a retried or conflicting request then takes the read-decide-write path.
        let mut tx = Tx::new(new.id.clone());
        let created = create_interview(&mut tx, new, now)?;
        let (fixed, changes) = tx.into_writes(self)?;
        if self
            .commit(fixed, &changes, |_| Ok(Vec::new()))
            .await?
            .is_ok()
        {
            return Ok(created);
        }
        self.run(&new.id, |tx| create_interview(tx, new, now)).await
    }

    async fn interview(&self, id: &InterviewId) -> StoreResult<Option<Interview>> {
        self.get_item(&self.interviews, interview_key(id))
            .await?
            .map(|item| parse_interview(&item))
            .transpose()
    }

    async fn list_interviews(
        &self,
        scope: InterviewScope,
        page: &PageRequest,
    ) -> StoreResult<Page<Interview>> {
        let (listing, queries) = match scope {
            InterviewScope::Open => (Listing::OpenInterviews, vec![self.start_query(OPEN)]),
            InterviewScope::All => (
                Listing::AllInterviews,
                vec![self.start_query(OPEN), self.start_query(CLOSED)],
            ),
        };
        self.merged_page(listing, queries, page, parse_interview)
            .await
    }

    async fn operation(&self, id: &OperationId) -> StoreResult<Option<Operation>> {
        if operation_of(id).is_none() {
            return Ok(None);
        }
        self.get_item(&self.operations, operation_key(id))
            .await?
            .map(|item| parse_operation(&item))
            .transpose()
    }

    async fn operations_for(&self, interview: &InterviewId) -> StoreResult<Vec<Operation>> {
        let tx = self.load_bundle(interview).await?;
        let mut operations: Vec<Operation> = [OperationKind::Create, OperationKind::Destroy]
            .into_iter()
            .filter_map(|kind| tx.operation_of(kind))
            .collect();
        operations
            .sort_by(|a, b| (a.created_at, a.kind.as_str()).cmp(&(b.created_at, b.kind.as_str())));
        Ok(operations)
    }

    async fn logs(
        &self,
        operation: &OperationId,
        page: &PageRequest,
    ) -> StoreResult<Page<LogLine>> {
        let position = log_position(page.after.as_ref())?;
        let not_found = || StoreError::NotFound {
            what: format!("operation {operation}"),
        };
        if operation_of(operation).is_none() {
            return Err(not_found());
        }
        let limit = page.effective_limit() as usize;
        let (start_sk, skip) = position.unwrap_or_else(|| ("log#".to_owned(), 0));
        let mut lines: Vec<(String, usize, LogLine)> = Vec::new();
        let mut start: Option<Item> = None;
        let mut saw_items = false;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.operations)
                .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", s(operation.as_str()))
                .expression_attribute_values(":lo", s(&start_sk))
                .expression_attribute_values(":hi", s("log#~"))
                .consistent_read(true)
                .limit(25)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| call_error("Query", &self.operations, err))?;
            for item in out.items() {
                saw_items = true;
                let sk = string_attr(item, "sk")?;
                let batch: Vec<LogLine> = json_attr(item, "lines")?;
                let from = if sk == start_sk { skip } else { 0 };
                for (index, line) in batch.into_iter().enumerate().skip(from) {
                    lines.push((sk.clone(), index, line));
                }
            }
            match out.last_evaluated_key() {
                Some(key) if lines.len() <= limit => start = Some(key.clone()),
                _ => break,
            }
        }
        if !saw_items
            && self
                .get_item(&self.operations, operation_key(operation))
                .await?
                .is_none()
        {
            return Err(not_found());
        }
        let next = lines
            .get(limit)
            .map(|(sk, index, _)| PageToken(format!("lg~{sk}~{index}")));
        lines.truncate(limit);
        Ok(Page {
            items: lines.into_iter().map(|(_, _, line)| line).collect(),
            next,
        })
    }

    async fn due_operations(
        &self,
        now: DateTime<Utc>,
        page: &PageRequest,
    ) -> StoreResult<Page<Operation>> {
        let hi = format!("{}#{KEY_MAX}", time_key(now));
        let queries = [
            OperationStatus::Pending,
            OperationStatus::Scheduled,
            OperationStatus::Running,
        ]
        .into_iter()
        .map(|status| self.due_ops_query(status, hi.clone()))
        .collect();
        self.merged_page(Listing::DueOperations, queries, page, parse_operation)
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
        let Some((interview, _)) = operation_of(operation) else {
            return Err(StoreError::NotFound {
                what: format!("operation {operation}"),
            });
        };
        self.run(&interview, |tx| {
            claim(tx, operation, expected_version, holder, lease_until, now)
        })
        .await
    }

    async fn renew_lease(
        &self,
        lease: &Lease,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Lease> {
        self.run(&lease.interview_id, |tx| {
            let mut operation = leased_operation(tx, lease)?;
            let until = stored(until);
            operation.lease_until = Some(until);
            tx.save_operation(&mut operation, now)?;
            Ok(Lease {
                until,
                ..lease.clone()
            })
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
        self.run(&lease.interview_id, |tx| {
            leased_operation(tx, lease)?;
            if state.is_terminal() {
                return Err(StoreError::Conflict(format!(
                    "`{state}` is reached by completing or failing the operation, not as progress"
                )));
            }
            let mut interview = tx.require_interview()?;
            if interview.state.is_terminal() || interview.state == state {
                return Ok(interview);
            }
            interview.state = state;
            tx.save_interview(&mut interview, now, FeedAs::Interview)?;
            Ok(interview)
        })
        .await
    }

    #[instrument(skip_all, fields(operation = %operation, lines = lines.len()))]
    async fn append_logs(
        &self,
        operation: &OperationId,
        lines: &[LogLine],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let not_found = || StoreError::NotFound {
            what: format!("operation {operation}"),
        };
        let Some((interview_id, _)) = operation_of(operation) else {
            return Err(not_found());
        };
        if lines.is_empty() {
            return match self
                .get_item(&self.operations, operation_key(operation))
                .await?
            {
                Some(_) => Ok(()),
                None => Err(not_found()),
            };
        }
        let lines: Vec<LogLine> = lines
            .iter()
            .map(|line| LogLine {
                at: stored(line.at),
                message: line.message.clone(),
            })
            .collect();
        let chunks = log_chunks(&lines)?;
        let expires = plus(plus(now, DEFAULT_RETENTION), LOG_GRACE).timestamp();
        let guard = TransactWriteItem::builder()
            .condition_check(
                ConditionCheck::builder()
                    .table_name(&self.operations)
                    .set_key(Some(operation_key(operation)))
                    .condition_expression("attribute_exists(pk)")
                    .build()
                    .map_err(build_error)?,
            )
            .build();
        let changes = vec![(
            stored(now),
            ChangeKind::Logs {
                operation_id: operation.clone(),
                interview_id,
                lines,
            },
        )];
        let extra = |seq: u64| {
            chunks
                .iter()
                .enumerate()
                .map(|(index, chunk)| {
                    let mut item = key(operation.as_str(), &log_sk(seq, index));
                    item.insert("lines".into(), s(chunk));
                    item.insert(TTL_ATTRIBUTE.into(), n(expires));
                    put(
                        &self.operations,
                        item,
                        Some("attribute_not_exists(pk)"),
                        None,
                    )
                })
                .collect::<StoreResult<Vec<_>>>()
        };
        for attempt in 1..=MAX_RERUNS {
            match self.commit(vec![guard.clone()], &changes, &extra).await? {
                Ok(()) => return Ok(()),
                // The guard (item 0) failed: there is no such operation.
                Err(Conflict { failed }) if failed.contains(&0) => return Err(not_found()),
                Err(Conflict { .. }) => backoff(attempt).await,
            }
        }
        Err(StoreError::backend(DynamoError::Contention(MAX_RERUNS)))
    }

    #[instrument(skip_all, fields(interview = %lease.interview_id, operation = %lease.operation_id))]
    async fn complete(
        &self,
        lease: &Lease,
        completion: Completion,
        now: DateTime<Utc>,
    ) -> StoreResult<Operation> {
        self.run(&lease.interview_id, |tx| {
            complete(tx, lease, completion.clone(), now)
        })
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
        self.run(&lease.interview_id, |tx| {
            retry_later(tx, lease, error, retry_at, now)
        })
        .await
    }

    #[instrument(skip_all, fields(interview = %lease.interview_id, operation = %lease.operation_id))]
    async fn fail(
        &self,
        lease: &Lease,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Operation> {
        self.run(&lease.interview_id, |tx| {
            let operation = leased_operation(tx, lease)?;
            fail_operation(tx, operation, reason, now)
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
        self.run(interview, |tx| {
            request_destroy(tx, requested_by, max_attempts, now)
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
        self.run(interview, |tx| cancel(tx, requested_by, now))
            .await
    }

    #[instrument(skip_all, fields(interview = %interview))]
    async fn extend(
        &self,
        interview: &InterviewId,
        new_length: InterviewLength,
        now: DateTime<Utc>,
    ) -> StoreResult<Interview> {
        self.run(interview, |tx| extend(tx, new_length, now)).await
    }

    async fn due_destroys(
        &self,
        now: DateTime<Utc>,
        page: &PageRequest,
    ) -> StoreResult<Page<Interview>> {
        let hi = format!("{}#{KEY_MAX}", time_key(now));
        self.merged_page(
            Listing::DueDestroys,
            vec![self.destroy_query(hi, false)],
            page,
            parse_interview,
        )
        .await
    }

    async fn due_warnings(
        &self,
        now: DateTime<Utc>,
        warn_before: Duration,
        page: &PageRequest,
    ) -> StoreResult<Page<Interview>> {
        let hi = format!("{}#{KEY_MAX}", time_key(plus(now, warn_before)));
        self.merged_page(
            Listing::DueWarnings,
            vec![self.destroy_query(hi, true)],
            page,
            parse_interview,
        )
        .await
    }

    #[instrument(skip_all, fields(interview = %interview))]
    async fn mark_warned(
        &self,
        interview: &InterviewId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Interview>> {
        self.run(interview, |tx| mark_warned(tx, now)).await
    }

    async fn next_due(&self, warn_before: Duration) -> StoreResult<NextDue> {
        let queries = [
            self.due_ops_query(OperationStatus::Pending, KEY_MAX.into()),
            self.due_ops_query(OperationStatus::Scheduled, KEY_MAX.into()),
            self.due_ops_query(OperationStatus::Running, KEY_MAX.into()),
            self.destroy_query(KEY_MAX.into(), false),
            self.destroy_query(KEY_MAX.into(), true),
        ];
        let (pending, scheduled, running, destroy, warning) = futures::try_join!(
            self.query_range(&queries[0], 1),
            self.query_range(&queries[1], 1),
            self.query_range(&queries[2], 1),
            self.query_range(&queries[3], 1),
            self.query_range(&queries[4], 1),
        )?;
        let op = |items: Vec<Item>| -> StoreResult<Option<Operation>> {
            items.first().map(parse_operation).transpose()
        };
        let interview = |items: Vec<Item>| -> StoreResult<Option<Interview>> {
            items.first().map(parse_interview).transpose()
        };
        let waiting = [op(pending)?, op(scheduled)?]
            .into_iter()
            .flatten()
            .map(|o| o.due_at)
            .min();
        Ok(NextDue {
            operation: waiting,
            lease_expiry: op(running)?.and_then(|o| o.lease_until),
            destroy: interview(destroy)?.map(|i| i.destroy_at),
            warning: interview(warning)?.map(|i| {
                i.destroy_at
                    .checked_sub_signed(warn_before)
                    .unwrap_or(i.destroy_at)
            }),
        })
    }

    async fn changes_since(&self, cursor: ChangeCursor, limit: u32) -> StoreResult<ChangeBatch> {
        let limit = limit.clamp(1, MAX_CHANGES_PER_BATCH) as usize;
        let mut changes = Vec::new();
        let Some(from) = cursor.0.checked_add(1) else {
            return Ok(ChangeBatch { changes, cursor });
        };
        let mut start: Option<Item> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.interviews)
                .key_condition_expression("pk = :pk AND sk BETWEEN :lo AND :hi")
                .expression_attribute_values(":pk", s(FEED_PK))
                .expression_attribute_values(":lo", s(&feed_sk(from)))
                .expression_attribute_values(":hi", s(&feed_sk(u64::MAX)))
                .consistent_read(true)
                .limit(i32::try_from(limit - changes.len()).unwrap_or(1000))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|err| call_error("Query", &self.interviews, err))?;
            for item in out.items() {
                let sk = string_attr(item, "sk")?;
                let seq: u64 = sk
                    .parse()
                    .map_err(|_| StoreError::Corrupt(format!("feed entry {sk}")))?;
                let millis: i64 = match item.get("at") {
                    Some(AttributeValue::N(value)) => value.parse().ok(),
                    _ => None,
                }
                .ok_or_else(|| StoreError::Corrupt(format!("feed entry {sk}: bad time")))?;
                let at = DateTime::from_timestamp_millis(millis)
                    .ok_or_else(|| StoreError::Corrupt(format!("feed entry {sk}: bad time")))?;
                let kind: ChangeKind = json_attr(item, "change")?;
                changes.push(Change {
                    cursor: ChangeCursor(seq),
                    at,
                    kind,
                });
            }
            match out.last_evaluated_key() {
                Some(key) if changes.len() < limit => start = Some(key.clone()),
                _ => break,
            }
        }
        changes.truncate(limit);
        let cursor = changes.last().map_or(cursor, |change| change.cursor);
        Ok(ChangeBatch { changes, cursor })
    }

    async fn latest_change(&self) -> StoreResult<ChangeCursor> {
        self.refresh_head().await.map(ChangeCursor)
    }

    #[instrument(skip_all, fields(interview = %interview, key = key))]
    async fn put_note(
        &self,
        interview: &InterviewId,
        key: &str,
        value: &str,
        only_if_absent: bool,
        _now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        // Notes live in the interview item, so they share its TTL; `rev` is bumped so a
        // concurrent full write of the item (conditional on `rev`) starts over and keeps them.
        let condition = if only_if_absent {
            "attribute_exists(pk) AND attribute_not_exists(#notes.#key)"
        } else {
            "attribute_exists(pk)"
        };
        let result = self
            .client
            .update_item()
            .table_name(&self.interviews)
            .set_key(Some(interview_key(interview)))
            .update_expression("SET #notes.#key = :value, #rev = #rev + :one")
            .condition_expression(condition)
            .expression_attribute_names("#notes", "notes")
            .expression_attribute_names("#key", key)
            .expression_attribute_names("#rev", "rev")
            .expression_attribute_values(":value", s(value))
            .expression_attribute_values(":one", n(1))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(err) => {
                if let Some(
                    aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(failed),
                ) = err.as_service_error()
                {
                    let exists = match failed.item() {
                        Some(item) => !item.is_empty(),
                        None => self
                            .get_item(&self.interviews, interview_key(interview))
                            .await?
                            .is_some(),
                    };
                    if exists {
                        return Ok(false);
                    }
                    return Err(StoreError::NotFound {
                        what: format!("interview {interview}"),
                    });
                }
                Err(call_error("UpdateItem", &self.interviews, err))
            }
        }
    }

    async fn notes(&self, interview: &InterviewId) -> StoreResult<BTreeMap<String, String>> {
        let Some(item) = self
            .get_item(&self.interviews, interview_key(interview))
            .await?
        else {
            return Ok(BTreeMap::new());
        };
        let Some(AttributeValue::M(notes)) = item.get("notes") else {
            return Ok(BTreeMap::new());
        };
        notes
            .iter()
            .map(|(key, value)| match value {
                AttributeValue::S(value) => Ok((key.clone(), value.clone())),
                _ => Err(StoreError::Corrupt(format!(
                    "note {key} of interview {interview} is not text"
                ))),
            })
            .collect()
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
        let mut item = setting_key(platform, user_id, key);
        item.insert("value".into(), s(value));
        item.insert("updatedAt".into(), n(now.timestamp_millis()));
        self.client
            .put_item()
            .table_name(&self.interviews)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|err| call_error("PutItem", &self.interviews, err))?;
        Ok(())
    }

    async fn user_setting(
        &self,
        platform: Platform,
        user_id: &str,
        key: &str,
    ) -> StoreResult<Option<String>> {
        self.get_item(&self.interviews, setting_key(platform, user_id, key))
            .await?
            .map(|item| string_attr(&item, "value"))
            .transpose()
    }

    /// Nothing to do: DynamoDB's TTL deletes items whose `expiresAt` passed.
    async fn purge_expired(&self, _now: DateTime<Utc>) -> StoreResult<u64> {
        Ok(0)
    }
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
            Listing::OpenInterviews.position(Some(&token)).ok(),
            Some(Some("0001795428000000#abcd2345".to_owned()))
        );
        assert!(Listing::AllInterviews.position(Some(&token)).is_err());
        for garbage in ["", "io", "io~x#abcd2345", "io~0001795428000000#", "~~~"] {
            assert!(
                Listing::OpenInterviews
                    .position(Some(&PageToken(garbage.into())))
                    .is_err(),
                "{garbage:?}"
            );
            assert!(log_position(Some(&PageToken(garbage.into()))).is_err());
        }
        let sk = log_sk(42, 3);
        assert_eq!(
            log_position(Some(&PageToken(format!("lg~{sk}~7")))).ok(),
            Some(Some((sk, 7)))
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
