//! Writing: every write is one `TransactWriteItems` that also moves the change feed's head, raced
//! fairly against other replicas (see the module docs, "How the contract is kept").

use std::sync::atomic::Ordering;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update};
use chrono::{DateTime, Utc};
use rand::Rng;

use super::DynamoStore;
use super::item::{Item, feed_head_key, feed_sk, n, number_attr, put, s};
use super::schema::{
    DynamoError, FEED_PK, HEAD_RACE_BUDGET, MAX_RERUNS, TTL_ATTRIBUTE, build_error, call_error,
};
use super::tx::Tx;
use crate::domain::InterviewId;
use crate::store::rules::plus;
use crate::store::{ChangeKind, DEFAULT_RETENTION, StoreError, StoreResult};

impl DynamoStore {
    // -- writing ------------------------------------------------------------------------------

    /// Reads the interview's records, runs `decide` on them and writes what it changed, all or
    /// nothing; starts over when a record changed in between.
    pub(super) async fn run<T, F>(&self, id: &InterviewId, decide: F) -> StoreResult<T>
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
    pub(super) async fn commit(
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

    pub(super) async fn refresh_head(&self) -> StoreResult<u64> {
        let item = self.get_item(&self.interviews, feed_head_key()).await?;
        let seq = match item {
            Some(item) => number_attr(&item, "seq")?,
            None => 0,
        };
        self.head.fetch_max(seq, Ordering::Relaxed);
        Ok(seq)
    }

    pub(super) fn head_update(&self, expected: u64, new: u64) -> StoreResult<TransactWriteItem> {
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

    pub(super) fn change_put(
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
pub(super) struct Conflict {
    /// The indexes of the failed items among those the caller gave.
    pub(super) failed: Vec<usize>,
}

/// Sleeps a jittered, growing while (1–64 ms) before another try.
pub(super) async fn backoff(attempt: u32) {
    let cap = 1u64 << attempt.min(6);
    let millis = rand::rng().random_range(1..=cap);
    tokio::time::sleep(std::time::Duration::from_millis(millis)).await;
}
