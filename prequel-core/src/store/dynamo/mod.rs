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
//! The files: `schema.rs` (tables, indexes, limits, errors), `item.rs` (keys, attributes, records
//! to items and back, page tokens), `tx.rs` (one call's records, as the rules see them, and
//! the conditional writes they become), `query.rs` (reads), `commit.rs` (the transaction and the
//! feed head).
//!
//! # How the contract is kept
//!
//! * **Every write is one `TransactWriteItems`**: each mutating call reads the interview and its
//!   two operations (one consistent `BatchGetItem`, `query.rs`), runs the store's rules on them
//!   in memory (`store/rules.rs`, the same functions the SQLite backend runs; `tx.rs` is their
//!   view of the records), then writes every changed item conditional on the `rev` it read (and checks
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

mod access;
mod commit;
mod item;
mod query;
mod schema;
mod tx;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use chrono::{DateTime, Duration, Utc};
use tracing::instrument;

use self::commit::{Conflict, backoff};
use self::item::{
    Item, feed_sk, interview_key, json_attr, key, log_chunks, log_position, log_sk, n,
    operation_key, operation_of, parse_interview, parse_operation, put, s, setting_key,
    string_attr, time_key,
};
use self::schema::{
    CLOSED, FEED_PK, KEY_MAX, MAX_CHANGES_PER_BATCH, OPEN, build_error, call_error,
};
pub use self::schema::{
    DynamoError, HEAD_RACE_BUDGET, INTERVIEWS_BY_START_INDEX, INTERVIEWS_DESTROY_INDEX, LOG_GRACE,
    MAX_RERUNS, OPERATIONS_BY_INTERVIEW_INDEX, OPERATIONS_DUE_INDEX, TTL_ATTRIBUTE, create_tables,
};
use self::tx::Tx;
use super::page::Listing;
use super::rules::{self, plus, stored};
use super::{
    ApiToken, Change, ChangeBatch, ChangeCursor, ChangeKind, Claimed, Completion, Created,
    DEFAULT_RETENTION, DestroyRequested, InterviewScope, Lease, NewInterview, NextDue,
    OperationStore, Page, PageRequest, PageToken, StoreError, StoreResult,
};
use crate::aws::ResourceNames;
use crate::domain::{
    Interview, InterviewId, InterviewLength, InterviewState, LogLine, Operation, OperationId,
    OperationKind, OperationStatus, Platform, Requester,
};

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
        let created = rules::create_interview(&mut tx, new, now)?;
        let (fixed, changes) = tx.into_writes(self)?;
        if self
            .commit(fixed, &changes, |_| Ok(Vec::new()))
            .await?
            .is_ok()
        {
            return Ok(created);
        }
        self.run(&new.id, |tx| rules::create_interview(tx, new, now))
            .await
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
            .filter_map(|kind| tx.operation_of_kind(kind))
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
            rules::claim(tx, operation, expected_version, holder, lease_until, now)
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
            rules::renew_lease(tx, lease, until, now)
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
            rules::record_progress(tx, lease, state, now)
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
            rules::complete(tx, lease, completion.clone(), now)
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
            rules::retry_later(tx, lease, error, retry_at, now)
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
            rules::fail(tx, lease, reason, now)
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
            rules::request_destroy(tx, interview, requested_by, max_attempts, now)
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
        self.run(interview, |tx| {
            rules::cancel(tx, interview, requested_by, now)
        })
        .await
    }

    #[instrument(skip_all, fields(interview = %interview))]
    async fn extend(
        &self,
        interview: &InterviewId,
        new_length: InterviewLength,
        now: DateTime<Utc>,
    ) -> StoreResult<Interview> {
        self.run(interview, |tx| {
            rules::extend(tx, interview, new_length, now)
        })
        .await
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
        self.run(interview, |tx| rules::mark_warned(tx, interview, now))
            .await
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

    async fn claim_once(
        &self,
        key: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.put_once(key, expires_at, now).await
    }

    async fn insert_api_token(&self, token: &ApiToken) -> StoreResult<()> {
        self.put_token(token).await
    }

    async fn api_token(&self, id: &str) -> StoreResult<Option<ApiToken>> {
        self.get_token(id).await
    }

    async fn api_tokens(&self) -> StoreResult<Vec<ApiToken>> {
        self.all_tokens().await
    }

    async fn revoke_api_token(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ApiToken>> {
        self.stamp_token(id, "revokedAt", true, now).await
    }

    async fn touch_api_token(&self, id: &str, now: DateTime<Utc>) -> StoreResult<()> {
        self.stamp_token(id, "lastUsedAt", false, now)
            .await
            .map(drop)
    }

    /// Nothing to do: DynamoDB's TTL deletes items whose `expiresAt` passed.
    async fn purge_expired(&self, _now: DateTime<Utc>) -> StoreResult<u64> {
        Ok(0)
    }
}
