//! The conformance suite for [`OperationStore`] backends: every backend (SQLite, DynamoDB) runs
//! these same cases, so the contract written on the trait is checked, not just hoped for.
//!
//! A backend provides a [`StoreHarness`] (how to open a fresh store, and another handle on it as
//! another process would) and expands [`store_conformance_tests!`](crate::store_conformance_tests)
//! in its test module, which gives one `#[tokio::test]` per case, named after the case:
//!
//! ```text
//! mod conformance {
//!     use super::SqliteHarness;
//!     prequel_core::store_conformance_tests!(SqliteHarness);
//! }
//! ```
//!
//! Each case is also a public `async fn(&dyn StoreHarness)`, and [`run_all`] runs them all in a
//! row. A case panics with a message that names what broke.
//!
//! Every case uses fixed, realistic times (starting [`T0`], 2026-11-23T10:00:00Z, at whole
//! seconds so every backend stores them exactly) — stores take `now` from the caller and never
//! read the clock.

use std::collections::{BTreeMap, HashSet};
use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use futures::{FutureExt, StreamExt};

mod access;
pub use access::{
    api_tokens_are_kept_listed_touched_and_revoked,
    once_keys_have_one_winner_across_handles_until_they_expire,
};

use crate::domain::{
    ChallengeId, Interview, InterviewId, InterviewLength, InterviewState, LogLine, Operation,
    OperationId, OperationKind, OperationStatus, Platform, Requester,
};
use crate::store::{
    ChangeCursor, ChangeKind, Claimed, Completion, DEFAULT_RETENTION, DestroyRequested,
    InterviewScope, Lease, NewInterview, NextDue, OperationStore, Page, PageRequest, PageToken,
    StoreError,
};

/// How a backend is opened for the suite.
#[async_trait]
pub trait StoreHarness: Send + Sync {
    /// A fresh, empty store (a new file, a new table prefix, …), owned by the fixture.
    async fn open(&self) -> Box<dyn StoreFixture>;

    /// Whether [`OperationStore::purge_expired`] deletes expired records at once. Backends that
    /// leave deletion to the database's own TTL (DynamoDB) answer `false`; the purge case then
    /// checks only that nothing unexpired is deleted.
    fn purges_on_demand(&self) -> bool {
        true
    }
}

/// One fresh store under test. Dropping it may delete the store.
#[async_trait]
pub trait StoreFixture: Send + Sync {
    /// The first handle on the store.
    fn store(&self) -> Arc<dyn OperationStore>;

    /// Another handle on the same store, with its own connection or client, as another process
    /// would open it. Concurrency cases race these against each other.
    async fn peer(&self) -> Arc<dyn OperationStore>;
}

/// Expands into one `#[tokio::test]` per conformance case, each calling the case of the same
/// name in [`testkit::store_conformance`](crate::testkit::store_conformance) with `&$harness`
/// (anything that coerces to `&dyn StoreHarness`). The calling crate needs `tokio` with the
/// `macros` and `rt-multi-thread` features.
#[macro_export]
macro_rules! store_conformance_tests {
    ($harness:expr) => {
        $crate::store_conformance_tests!(@cases [tests $harness]);
    };
    // The one list of cases; `run_all` and the test expansion both come from it.
    (@cases $ctx:tt) => {
        $crate::store_conformance_tests!(@expand $ctx
            round_trip_keeps_every_field,
            create_is_idempotent_and_conflicts_on_other_contents,
            only_due_work_is_claimable,
            claim_is_exclusive_under_contention,
            expired_lease_can_be_reclaimed_and_old_holder_loses_it,
            renewed_lease_keeps_other_claimers_out,
            progress_and_completion_drive_the_interview_states,
            retry_counts_attempts_and_waits_for_the_retry_time,
            retry_after_the_last_attempt_fails_for_good,
            crashed_last_attempt_is_failed_by_the_next_claim,
            failed_create_fails_interview_and_requests_one_destroy,
            concurrent_destroy_requests_make_exactly_one_destroy,
            destroy_before_start_cancels_instead,
            cancel_only_before_provisioning_starts,
            destroy_waits_for_a_running_create_and_cancels_a_waiting_one,
            extend_moves_destroy_time_and_clears_warning_until_destroying,
            due_destroys_lists_interviews_past_their_time_without_a_destroy,
            due_warnings_and_mark_warned_have_exactly_one_winner,
            retention_is_set_only_on_terminal_records,
            purge_removes_only_expired_terminal_records,
            list_interviews_pages_through_every_interview_once_in_order,
            due_operations_page_in_due_order,
            logs_append_in_batches_and_page_in_order,
            change_feed_sees_every_change_once_in_order_across_handles,
            latest_change_then_changes_since_sees_only_newer_changes,
            next_due_reports_the_earliest_times,
            foreign_page_tokens_are_refused,
            notes_are_written_once_when_asked_and_read_back,
            user_settings_are_replaced_and_kept_per_platform_and_user,
            once_keys_have_one_winner_across_handles_until_they_expire,
            api_tokens_are_kept_listed_touched_and_revoked,
        );
    };
    (@expand [tests $harness:expr] $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::testkit::store_conformance::$case(&$harness).await;
            }
        )*
    };
    (@expand [run_all $harness:ident] $($case:ident),* $(,)?) => {
        $( run_case(stringify!($case), $case($harness)).await; )*
    };
}

/// Runs every case against `harness`, one after the other; panics naming the first case that
/// fails.
pub async fn run_all(harness: &dyn StoreHarness) {
    crate::store_conformance_tests!(@cases [run_all harness]);
}

async fn run_case(name: &str, case: impl std::future::Future<Output = ()>) {
    if let Err(panic) = AssertUnwindSafe(case).catch_unwind().await {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        panic!("store conformance case `{name}` failed: {message}");
    }
}

// ---------------------------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------------------------

/// 2026-11-23T10:00:00Z, a Monday morning: every case's time starts here.
pub const T0: DateTime<Utc> = match DateTime::from_timestamp(1_795_428_000, 0) {
    Some(at) => at,
    None => DateTime::<Utc>::UNIX_EPOCH,
};

/// `T0` plus `minutes`.
fn at(minutes: i64) -> DateTime<Utc> {
    T0 + Duration::minutes(minutes)
}

fn secs(seconds: i64) -> Duration {
    Duration::seconds(seconds)
}

fn minutes(minutes: u32) -> InterviewLength {
    InterviewLength::from_minutes(minutes).expect("a valid interview length")
}

fn requester() -> Requester {
    Requester {
        platform: Platform::Slack,
        user_id: "U2CERLKJA".into(),
        display_name: "Zoë Ångström".into(),
    }
}

fn scheduler() -> Requester {
    Requester {
        platform: Platform::Api,
        user_id: "prequel-scheduler".into(),
        display_name: "Prequel".into(),
    }
}

/// A request for an interview starting at `start` for `length` minutes, whose create is due at
/// `create_due`, with 3 attempts.
fn request(start: DateTime<Utc>, length: u32, create_due: DateTime<Utc>) -> NewInterview {
    NewInterview {
        id: InterviewId::generate(),
        challenge: ChallengeId::parse("python").expect("valid challenge"),
        candidate: Some("Renée Dubois".into()),
        requested_by: requester(),
        co_interviewers: Vec::new(),
        time_zone: "Europe/Paris".into(),
        start_at: start,
        length: minutes(length),
        create_due_at: create_due,
        max_attempts: 3,
    }
}

/// Records `new` at `now`, expecting a new record.
async fn create(
    store: &Arc<dyn OperationStore>,
    new: &NewInterview,
    now: DateTime<Utc>,
) -> (Interview, Operation) {
    let created = store
        .create_interview(new, now)
        .await
        .expect("create_interview succeeds");
    assert!(created.newly_created, "a new id is newly created");
    (created.interview, created.operation)
}

async fn get_interview(store: &Arc<dyn OperationStore>, id: &InterviewId) -> Interview {
    store
        .interview(id)
        .await
        .expect("interview() succeeds")
        .unwrap_or_else(|| panic!("interview {id} exists"))
}

async fn get_operation(store: &Arc<dyn OperationStore>, id: &OperationId) -> Operation {
    store
        .operation(id)
        .await
        .expect("operation() succeeds")
        .unwrap_or_else(|| panic!("operation {id} exists"))
}

async fn destroy_of(store: &Arc<dyn OperationStore>, id: &InterviewId) -> Option<Operation> {
    let destroys: Vec<Operation> = store
        .operations_for(id)
        .await
        .expect("operations_for succeeds")
        .into_iter()
        .filter(|op| op.kind == OperationKind::Destroy)
        .collect();
    assert!(
        destroys.len() <= 1,
        "at most one destroy per interview: {destroys:?}"
    );
    destroys.into_iter().next()
}

/// Claims `operation` at its current version, expecting to win.
async fn claim(
    store: &Arc<dyn OperationStore>,
    operation: &OperationId,
    holder: &str,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Claimed {
    let version = get_operation(store, operation).await.version;
    store
        .claim(operation, version, holder, lease_until, now)
        .await
        .expect("claim succeeds")
        .unwrap_or_else(|| panic!("{holder} claims {operation} at {now}"))
}

/// Claims `operation` at its current version, expecting to lose (`Ok(None)`).
async fn claim_refused(
    store: &Arc<dyn OperationStore>,
    operation: &OperationId,
    now: DateTime<Utc>,
    why: &str,
) {
    let version = get_operation(store, operation).await.version;
    let claimed = store
        .claim(
            operation,
            version,
            "intruder",
            now + Duration::minutes(5),
            now,
        )
        .await
        .expect("a lost claim is not an error");
    assert!(
        claimed.is_none(),
        "claim of {operation} at {now} must fail: {why}"
    );
}

async fn due_ids(store: &Arc<dyn OperationStore>, now: DateTime<Utc>) -> Vec<OperationId> {
    let mut ids = Vec::new();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    loop {
        let Page { items, next } = store
            .due_operations(now, &page)
            .await
            .expect("due_operations succeeds");
        ids.extend(items.into_iter().map(|op| op.id));
        match next {
            Some(token) => page = PageRequest::after(PageRequest::MAX_LIMIT, token),
            None => return ids,
        }
    }
}

/// An interview whose create completed at `now` (state `active`), with its create operation.
async fn active_interview(
    store: &Arc<dyn OperationStore>,
    start: DateTime<Utc>,
    length: u32,
    now: DateTime<Utc>,
) -> (Interview, Operation) {
    let (interview, op) = create(store, &request(start, length, now), now).await;
    let claimed = claim(store, &op.id, "worker-a", now + secs(60), now).await;
    let op = store
        .complete(
            &claimed.lease,
            Completion::Created {
                access_url: format!("https://{}.interviews.example.com", interview.id),
                challenge_checksum: Some(format!("sha256:{}", interview.challenge)),
            },
            now,
        )
        .await
        .expect("create completes");
    (get_interview(store, &interview.id).await, op)
}

fn assert_lease_lost<T: std::fmt::Debug>(result: Result<T, StoreError>, what: &str) {
    assert!(
        matches!(result, Err(StoreError::LeaseLost { .. })),
        "{what} with a lost lease must be LeaseLost, got {result:?}"
    );
}

async fn spawn_all<T, F>(futures: Vec<F>) -> Vec<T>
where
    T: Send + 'static,
    F: std::future::Future<Output = T> + Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for handle in handles {
        out.push(handle.await.expect("concurrent task did not panic"));
    }
    out
}

async fn peers(fixture: &dyn StoreFixture, count: usize) -> Vec<Arc<dyn OperationStore>> {
    let mut peers = Vec::with_capacity(count);
    for _ in 0..count {
        peers.push(fixture.peer().await);
    }
    peers
}

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

/// Interviews and operations read back exactly as written, through any handle: every field,
/// candidate absent or present, Unicode names, and the lease/result fields once set.
pub async fn round_trip_keeps_every_field(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let peer = fixture.peer().await;

    let mut new = request(at(90), 90, at(75));
    new.candidate = Some("山田 花子 — Zoë «Hanako» 🚀".into());
    new.requested_by = Requester {
        platform: Platform::Discord,
        user_id: "80351110224678912".into(),
        display_name: "Ångström 🚀 Ñandú".into(),
    };
    new.co_interviewers = vec!["80351110224678913".into(), "80351110224678914".into()];
    new.time_zone = "Asia/Tokyo".into();
    new.max_attempts = 4;
    let created = store.create_interview(&new, T0).await.expect("created");
    assert!(created.newly_created);
    let expected = Interview {
        id: new.id.clone(),
        challenge: new.challenge.clone(),
        candidate: new.candidate.clone(),
        requested_by: new.requested_by.clone(),
        co_interviewers: new.co_interviewers.clone(),
        time_zone: "Asia/Tokyo".into(),
        start_at: at(90),
        length: minutes(90),
        destroy_at: at(180),
        state: InterviewState::Scheduled,
        access_url: None,
        challenge_checksum: None,
        archive: None,
        reason: None,
        warned_at: None,
        created_at: T0,
        updated_at: T0,
        expires_at: None,
        version: created.interview.version,
    };
    assert_eq!(created.interview, expected);
    let op = &created.operation;
    assert_eq!(op.interview_id, new.id);
    assert_eq!(op.kind, OperationKind::Create);
    assert_eq!(
        op.status,
        OperationStatus::Scheduled,
        "due later → scheduled"
    );
    assert_eq!(op.due_at, at(75));
    assert_eq!((op.attempts, op.max_attempts), (0, 4));
    assert_eq!((&op.lease_holder, op.lease_until), (&None, None));
    assert_eq!(op.requested_by, new.requested_by);
    assert_eq!((&op.result, &op.error), (&None, &None));
    assert_eq!(
        (op.created_at, op.updated_at, op.expires_at),
        (T0, T0, None)
    );

    for handle in [&store, &peer] {
        assert_eq!(get_interview(handle, &new.id).await, created.interview);
        assert_eq!(get_operation(handle, &op.id).await, created.operation);
        assert_eq!(
            handle
                .operations_for(&new.id)
                .await
                .expect("operations_for"),
            vec![created.operation.clone()]
        );
    }

    // No candidate, due at once → pending.
    let mut bare = request(at(10), 30, T0);
    bare.candidate = None;
    let (interview, op) = create(&store, &bare, T0).await;
    assert_eq!(interview.candidate, None);
    assert_eq!(op.status, OperationStatus::Pending, "due now → pending");
    assert_eq!(get_interview(&peer, &bare.id).await, interview);

    // The lease and result fields round-trip too.
    let claimed = claim(&store, &op.id, "worker-é", at(1), T0).await;
    assert_eq!(claimed.operation, get_operation(&peer, &op.id).await);
    assert_eq!(claimed.operation.status, OperationStatus::Running);
    assert_eq!(claimed.operation.attempts, 1);
    assert_eq!(claimed.operation.lease_until, Some(at(1)));
    assert_eq!(
        claimed.operation.lease_holder.as_deref(),
        Some(claimed.lease.token.as_str())
    );
    assert!(
        claimed.lease.token.starts_with("worker-é"),
        "token names the holder"
    );
    assert_eq!(claimed.lease.operation_id, op.id);
    assert_eq!(claimed.lease.interview_id, bare.id);
    assert_eq!(claimed.lease.kind, OperationKind::Create);
    assert_eq!(claimed.lease.until, at(1));
    assert_eq!(claimed.interview, get_interview(&peer, &bare.id).await);
    let done = store
        .complete(
            &claimed.lease,
            Completion::Created {
                access_url: "https://ünïcode.example.com/?a=1&b=2".into(),
                challenge_checksum: None,
            },
            T0 + secs(30),
        )
        .await
        .expect("completes");
    assert_eq!(done, get_operation(&peer, &op.id).await);
    assert_eq!(
        done.result.as_deref(),
        Some("https://ünïcode.example.com/?a=1&b=2")
    );

    let unknown = InterviewId::parse("zzzz9999").expect("valid id");
    assert_eq!(store.interview(&unknown).await.expect("lookup"), None);
    assert_eq!(
        store.operations_for(&unknown).await.expect("lookup"),
        vec![]
    );
    let unknown_op = OperationId::parse("op-zzzz9999").expect("valid id");
    assert_eq!(store.operation(&unknown_op).await.expect("lookup"), None);
}

/// The same request twice records one interview; the same id with other contents is a Conflict
/// and changes nothing; racing identical requests from peers still make one record.
pub async fn create_is_idempotent_and_conflicts_on_other_contents(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let peer = fixture.peer().await;
    let new = request(at(60), 60, at(45));
    let (interview, op) = create(&store, &new, T0).await;

    let again = peer
        .create_interview(&new, at(1))
        .await
        .expect("retry succeeds");
    assert!(!again.newly_created, "a retried request is not new");
    assert_eq!(again.interview, interview);
    assert_eq!(again.operation, op);

    let mut other = new.clone();
    other.candidate = Some("Someone Else".into());
    let mut later = new.clone();
    later.start_at = at(120);
    for different in [other, later] {
        let result = peer.create_interview(&different, at(2)).await;
        assert!(
            matches!(result, Err(StoreError::Conflict(_))),
            "same id, other contents must conflict, got {result:?}"
        );
    }
    assert_eq!(
        get_interview(&store, &new.id).await,
        interview,
        "conflicts change nothing"
    );
    assert_eq!(store.operations_for(&new.id).await.expect("ops"), vec![op]);

    // Eight processes submit the same new request at once: one record, one create.
    let racing = request(at(60), 60, at(45));
    let handles = peers(fixture.as_ref(), 8).await;
    let results = spawn_all(
        handles
            .into_iter()
            .map(|handle| {
                let racing = racing.clone();
                async move { handle.create_interview(&racing, T0).await.expect("create") }
            })
            .collect(),
    )
    .await;
    assert_eq!(
        results.iter().filter(|c| c.newly_created).count(),
        1,
        "exactly one is new"
    );
    let ops: HashSet<_> = results.iter().map(|c| c.operation.id.clone()).collect();
    assert_eq!(ops.len(), 1, "every caller sees the same create operation");
    assert_eq!(
        store.operations_for(&racing.id).await.expect("ops").len(),
        1
    );
}

/// Operations are claimable only once due, and only at the version the caller read.
pub async fn only_due_work_is_claimable(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let (_, op) = create(&store, &request(at(75), 60, at(60)), T0).await;

    for now in [T0, at(60) - secs(1)] {
        assert!(
            due_ids(&store, now).await.is_empty(),
            "nothing is due at {now}"
        );
        claim_refused(&store, &op.id, now, "not due yet").await;
    }
    assert_eq!(
        get_operation(&store, &op.id).await,
        op,
        "a refused claim changes nothing"
    );

    assert_eq!(
        due_ids(&store, at(60)).await,
        vec![op.id.clone()],
        "due at its due time"
    );
    let stale = store
        .claim(&op.id, op.version + 1, "worker-a", at(65), at(60))
        .await
        .expect("claim");
    assert!(stale.is_none(), "a claim at another version loses");
    let claimed = claim(&store, &op.id, "worker-a", at(65), at(60)).await;
    assert_eq!(claimed.operation.status, OperationStatus::Running);
    assert_eq!(claimed.operation.attempts, 1);

    claim_refused(&store, &op.id, at(61), "leased until 65").await;
    assert!(
        due_ids(&store, at(61)).await.is_empty(),
        "a leased operation is not due"
    );

    store
        .complete(
            &claimed.lease,
            Completion::Created {
                access_url: "https://a.example.com".into(),
                challenge_checksum: None,
            },
            at(62),
        )
        .await
        .expect("completes");
    claim_refused(
        &store,
        &op.id,
        at(600),
        "completed operations never run again",
    )
    .await;
    assert!(due_ids(&store, at(600)).await.is_empty());
}

/// Eight processes claiming the same operation at the same version: exactly one wins, the rest
/// get `Ok(None)`; the same holds when they race to reclaim an expired lease.
pub async fn claim_is_exclusive_under_contention(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let handles = peers(fixture.as_ref(), 8).await;
    for round in 0..4 {
        let (_, op) = create(&store, &request(at(30), 60, T0), T0).await;
        let race = |now: DateTime<Utc>, version: u64| {
            handles
                .iter()
                .enumerate()
                .map(|(i, handle)| {
                    let handle = Arc::clone(handle);
                    let id = op.id.clone();
                    async move {
                        let holder = format!("worker-{i}");
                        handle
                            .claim(&id, version, &holder, now + Duration::minutes(1), now)
                            .await
                            .expect("a lost claim is not an error")
                    }
                })
                .collect::<Vec<_>>()
        };
        let won: Vec<Claimed> = spawn_all(race(T0, op.version))
            .await
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(
            won.len(),
            1,
            "round {round}: exactly one of 8 claimers wins"
        );
        let stored = get_operation(&store, &op.id).await;
        assert_eq!(
            stored.lease_holder.as_deref(),
            Some(won[0].lease.token.as_str())
        );
        assert_eq!(stored.attempts, 1);

        // The lease runs out; eight race to reclaim it.
        let later = at(2);
        let won: Vec<Claimed> = spawn_all(race(later, stored.version))
            .await
            .into_iter()
            .flatten()
            .collect();
        assert_eq!(
            won.len(),
            1,
            "round {round}: exactly one of 8 reclaimers wins"
        );
        assert_eq!(get_operation(&store, &op.id).await.attempts, 2);
    }
}

/// A lease that ran out can be claimed by another worker; from then on every lease-guarded
/// write of the old holder is `LeaseLost` and changes nothing.
pub async fn expired_lease_can_be_reclaimed_and_old_holder_loses_it(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let peer = fixture.peer().await;
    let (_, op) = create(&store, &request(at(30), 60, T0), T0).await;
    let first = claim(&store, &op.id, "worker-a", at(5), T0).await;

    claim_refused(&peer, &op.id, at(5), "the lease lasts until its end").await;
    assert_eq!(due_ids(&peer, at(5) + secs(1)).await, vec![op.id.clone()]);
    let second = claim(&peer, &op.id, "worker-b", at(10), at(5) + secs(1)).await;
    assert_ne!(
        first.lease.token, second.lease.token,
        "tokens are unique per claim"
    );
    assert_eq!(second.operation.attempts, 2);
    let held = get_operation(&store, &op.id).await;

    let now = at(6);
    let old = &first.lease;
    assert_lease_lost(store.renew_lease(old, at(20), now).await, "renew_lease");
    assert_lease_lost(
        store
            .record_progress(old, InterviewState::Initializing, now)
            .await,
        "record_progress",
    );
    assert_lease_lost(
        store
            .complete(
                old,
                Completion::Created {
                    access_url: "https://x".into(),
                    challenge_checksum: None,
                },
                now,
            )
            .await,
        "complete",
    );
    assert_lease_lost(
        store.retry_later(old, "boom", at(7), now).await,
        "retry_later",
    );
    assert_lease_lost(store.fail(old, "boom", now).await, "fail");
    let forged = Lease {
        token: format!("{}-forged", second.lease.token),
        ..second.lease.clone()
    };
    assert_lease_lost(
        store.renew_lease(&forged, at(20), now).await,
        "a forged token",
    );
    assert_eq!(
        get_operation(&store, &op.id).await,
        held,
        "the lost writes changed nothing"
    );
    assert_eq!(
        get_interview(&store, &op.interview_id).await.state,
        InterviewState::Scheduled
    );

    store
        .complete(
            &second.lease,
            Completion::Created {
                access_url: "https://b.example.com".into(),
                challenge_checksum: None,
            },
            now,
        )
        .await
        .expect("the current holder completes");
}

/// Renewing a lease keeps others from claiming the operation; a lease that ran out but was not
/// reclaimed can still be renewed.
pub async fn renewed_lease_keeps_other_claimers_out(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let peer = fixture.peer().await;
    let (_, op) = create(&store, &request(at(30), 60, T0), T0).await;
    let claimed = claim(&store, &op.id, "worker-a", at(1), T0).await;

    let renewed = store
        .renew_lease(&claimed.lease, at(10), T0 + secs(30))
        .await
        .expect("renews");
    assert_eq!(renewed.until, at(10));
    assert_eq!(renewed.token, claimed.lease.token);
    assert_eq!(get_operation(&peer, &op.id).await.lease_until, Some(at(10)));
    claim_refused(&peer, &op.id, at(5), "renewed until 10").await;
    assert!(due_ids(&peer, at(5)).await.is_empty());

    // Late but not reclaimed: the holder may still renew and finish.
    let renewed = store
        .renew_lease(&renewed, at(20), at(12))
        .await
        .expect("an expired lease nobody reclaimed still renews");
    claim_refused(&peer, &op.id, at(15), "renewed until 20").await;
    store
        .complete(
            &renewed,
            Completion::Created {
                access_url: "https://a.example.com".into(),
                challenge_checksum: None,
            },
            at(16),
        )
        .await
        .expect("completes");
}

/// Progress moves the interview through provisioning states; completing the create makes it
/// active at its URL, completing the destroy makes it destroyed; terminal states are not progress.
pub async fn progress_and_completion_drive_the_interview_states(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let (interview, op) = create(&store, &request(at(15), 60, T0), T0).await;
    let claimed = claim(&store, &op.id, "worker-a", at(5), T0).await;
    for state in [InterviewState::Initializing, InterviewState::Configuring] {
        let moved = store
            .record_progress(&claimed.lease, state, at(1))
            .await
            .expect("progress");
        assert_eq!(moved.state, state);
        assert_eq!(get_interview(&store, &interview.id).await, moved);
        assert_eq!(moved.expires_at, None);
    }
    let refused = store
        .record_progress(&claimed.lease, InterviewState::Destroyed, at(1))
        .await;
    assert!(
        matches!(refused, Err(StoreError::Conflict(_))),
        "terminal states come from complete/fail, got {refused:?}"
    );
    let url = format!("https://{}.interviews.example.com", interview.id);
    let done = store
        .complete(
            &claimed.lease,
            Completion::Created {
                access_url: url.clone(),
                challenge_checksum: Some("sha256:0123abcd".into()),
            },
            at(2),
        )
        .await
        .expect("completes");
    assert_eq!(done.status, OperationStatus::Completed);
    assert_eq!((&done.lease_holder, done.lease_until), (&None, None));
    let active = get_interview(&store, &interview.id).await;
    assert_eq!(active.state, InterviewState::Active);
    assert_eq!(active.access_url.as_deref(), Some(url.as_str()));
    assert_eq!(
        active.challenge_checksum.as_deref(),
        Some("sha256:0123abcd"),
        "the bundle's checksum is recorded on the interview"
    );
    assert_eq!(active.expires_at, None);
    assert!(
        active.version > interview.version,
        "versions bump on change"
    );
    assert_eq!(active.updated_at, at(2));

    let DestroyRequested::Destroy(destroy) = store
        .request_destroy(&interview.id, &requester(), 3, at(40))
        .await
        .expect("destroy requested")
    else {
        panic!("an active interview gets a destroy operation");
    };
    assert_eq!(destroy.status, OperationStatus::Pending);
    assert_eq!(destroy.due_at, at(40));
    let claimed = claim(&store, &destroy.id, "worker-b", at(45), at(40)).await;
    let destroying = store
        .record_progress(&claimed.lease, InterviewState::Destroying, at(41))
        .await
        .expect("progress");
    assert_eq!(destroying.state, InterviewState::Destroying);
    let done = store
        .complete(
            &claimed.lease,
            Completion::Destroyed {
                archive: Some("archive/abc.tar.gz".into()),
            },
            at(42),
        )
        .await
        .expect("completes");
    assert_eq!(done.result.as_deref(), Some("archive/abc.tar.gz"));
    let destroyed = get_interview(&store, &interview.id).await;
    assert_eq!(destroyed.state, InterviewState::Destroyed);
    assert_eq!(
        destroyed.archive.as_deref(),
        Some("archive/abc.tar.gz"),
        "the archive's place is recorded on the interview"
    );
    assert_eq!(destroyed.expires_at, Some(at(42) + DEFAULT_RETENTION));
}

/// `retry_later` counts the attempt, records the error and makes the operation claimable
/// again only from the retry time.
pub async fn retry_counts_attempts_and_waits_for_the_retry_time(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let (interview, op) = create(&store, &request(at(30), 60, T0), T0).await;
    let claimed = claim(&store, &op.id, "worker-a", at(5), T0).await;
    let retried = store
        .retry_later(&claimed.lease, "ECS capacity unavailable", at(10), at(1))
        .await
        .expect("retry");
    assert_eq!(retried.status, OperationStatus::Scheduled);
    assert_eq!(retried.due_at, at(10));
    assert_eq!(retried.attempts, 1);
    assert_eq!(retried.error.as_deref(), Some("ECS capacity unavailable"));
    assert_eq!((&retried.lease_holder, retried.lease_until), (&None, None));
    assert_eq!(retried.expires_at, None);
    assert_eq!(get_operation(&store, &op.id).await, retried);

    assert!(due_ids(&store, at(10) - secs(1)).await.is_empty());
    claim_refused(&store, &op.id, at(10) - secs(1), "before the retry time").await;
    assert_eq!(due_ids(&store, at(10)).await, vec![op.id.clone()]);
    let again = claim(&store, &op.id, "worker-b", at(15), at(10)).await;
    assert_eq!(again.operation.attempts, 2);
    assert_eq!(
        get_interview(&store, &interview.id).await.state,
        InterviewState::Scheduled
    );
}

/// `retry_later` after the last allowed attempt fails the operation for good, exactly as
/// `fail` would: the interview fails and its cleanup destroy is requested.
pub async fn retry_after_the_last_attempt_fails_for_good(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let mut new = request(at(30), 60, T0);
    new.max_attempts = 2;
    let (interview, op) = create(&store, &new, T0).await;
    let first = claim(&store, &op.id, "worker-a", at(5), T0).await;
    store
        .retry_later(&first.lease, "first failure", at(2), at(1))
        .await
        .expect("retry");
    let second = claim(&store, &op.id, "worker-a", at(7), at(2)).await;
    assert_eq!(second.operation.attempts, 2);
    let last = store
        .retry_later(&second.lease, "second failure", at(4), at(3))
        .await
        .expect("retry");
    assert_eq!(
        last.status,
        OperationStatus::Failed,
        "no attempts left → failed"
    );
    assert_eq!(last.error.as_deref(), Some("second failure"));
    claim_refused(&store, &op.id, at(10), "failed for good").await;
    let failed = get_interview(&store, &interview.id).await;
    assert_eq!(failed.state, InterviewState::Failed);
    assert_eq!(failed.reason.as_deref(), Some("second failure"));
    let destroy = destroy_of(&store, &interview.id)
        .await
        .expect("cleanup destroy requested");
    assert_eq!(destroy.due_at, at(3));
}

/// A worker that crashed on the last allowed attempt: the next claim after its lease ran out
/// fails the operation (and its interview) instead of running attempt max + 1.
pub async fn crashed_last_attempt_is_failed_by_the_next_claim(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let mut new = request(at(30), 60, T0);
    new.max_attempts = 1;
    let (interview, op) = create(&store, &new, T0).await;
    let crashed = claim(&store, &op.id, "worker-a", at(5), T0).await;

    let now = at(6);
    assert_eq!(
        due_ids(&store, now).await,
        vec![op.id.clone()],
        "the expired lease is due"
    );
    claim_refused(&store, &op.id, now, "the last attempt was used").await;
    let failed = get_operation(&store, &op.id).await;
    assert_eq!(failed.status, OperationStatus::Failed);
    assert_eq!(failed.attempts, 1, "no further attempt was started");
    assert!(failed.error.is_some(), "the failure says why");
    let interview = get_interview(&store, &interview.id).await;
    assert_eq!(interview.state, InterviewState::Failed);
    assert!(interview.reason.is_some());
    assert!(
        destroy_of(&store, &interview.id).await.is_some(),
        "cleanup is requested"
    );
    assert_lease_lost(
        store
            .complete(
                &crashed.lease,
                Completion::Created {
                    access_url: "https://x".into(),
                    challenge_checksum: None,
                },
                now,
            )
            .await,
        "the crashed worker's late complete",
    );
}

/// A failed create fails its interview with the reason and, in the same write, requests
/// exactly one destroy due at once; the failed interview keeps its state (and gets its
/// retention) only when that cleanup finishes.
pub async fn failed_create_fails_interview_and_requests_one_destroy(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let (interview, op) = create(&store, &request(at(30), 60, T0), T0).await;
    let claimed = claim(&store, &op.id, "worker-a", at(5), T0).await;
    store
        .record_progress(&claimed.lease, InterviewState::Initializing, at(1))
        .await
        .expect("progress");
    let failed = store
        .fail(&claimed.lease, "image pull failed", at(2))
        .await
        .expect("fails");
    assert_eq!(failed.status, OperationStatus::Failed);
    assert_eq!(failed.error.as_deref(), Some("image pull failed"));
    assert_eq!(failed.expires_at, Some(at(2) + DEFAULT_RETENTION));

    let after = get_interview(&store, &interview.id).await;
    assert_eq!(after.state, InterviewState::Failed);
    assert_eq!(after.reason.as_deref(), Some("image pull failed"));
    assert_eq!(
        after.expires_at, None,
        "cleanup still pending: the interview must not expire"
    );
    let ops = store.operations_for(&interview.id).await.expect("ops");
    assert_eq!(ops.len(), 2, "the create and exactly one destroy: {ops:?}");
    assert_eq!(ops[0].kind, OperationKind::Create);
    let destroy = ops[1].clone();
    assert_eq!(destroy.kind, OperationKind::Destroy);
    assert_eq!(destroy.status, OperationStatus::Pending);
    assert_eq!(destroy.due_at, at(2));
    assert_eq!(due_ids(&store, at(2)).await, vec![destroy.id.clone()]);

    let cleanup = claim(&store, &destroy.id, "worker-b", at(7), at(2)).await;
    let still = store
        .record_progress(&cleanup.lease, InterviewState::Destroying, at(3))
        .await
        .expect("progress");
    assert_eq!(
        still.state,
        InterviewState::Failed,
        "a failed interview stays failed"
    );
    store
        .complete(
            &cleanup.lease,
            Completion::Destroyed { archive: None },
            at(4),
        )
        .await
        .expect("cleanup completes");
    let done = get_interview(&store, &interview.id).await;
    assert_eq!(done.state, InterviewState::Failed);
    assert_eq!(done.reason.as_deref(), Some("image pull failed"));
    assert_eq!(done.expires_at, Some(at(4) + DEFAULT_RETENTION));
    let again = store
        .request_destroy(&interview.id, &requester(), 3, at(5))
        .await
        .expect("request_destroy");
    assert!(
        matches!(again, DestroyRequested::AlreadyFinished(_)),
        "a finished interview needs no destroy, got {again:?}"
    );
}

/// However many processes ask at once, an interview gets exactly one destroy operation and
/// every caller is told about that one.
pub async fn concurrent_destroy_requests_make_exactly_one_destroy(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let (interview, _) = active_interview(&store, at(0), 60, T0).await;
    let handles = peers(fixture.as_ref(), 8).await;
    let results = spawn_all(
        handles
            .into_iter()
            .map(|handle| {
                let id = interview.id.clone();
                async move {
                    handle
                        .request_destroy(&id, &requester(), 3, at(10))
                        .await
                        .expect("request_destroy")
                }
            })
            .collect(),
    )
    .await;
    let ids: HashSet<OperationId> = results
        .into_iter()
        .map(|result| match result {
            DestroyRequested::Destroy(op) => op.id,
            other => panic!("an active interview is destroyed, got {other:?}"),
        })
        .collect();
    assert_eq!(ids.len(), 1, "every caller sees the same destroy");
    let destroy = destroy_of(&store, &interview.id)
        .await
        .expect("one destroy");
    assert!(ids.contains(&destroy.id));
    let page = store
        .due_destroys(at(100), &PageRequest::first(10))
        .await
        .expect("due_destroys");
    assert!(
        page.items.is_empty(),
        "an interview with a destroy is not a due destroy"
    );
}

/// Asking to destroy an interview whose create has not started cancels it instead: nothing
/// was provisioned, so there is nothing to tear down, and nothing will be.
pub async fn destroy_before_start_cancels_instead(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let (interview, op) = create(&store, &request(at(75), 60, at(60)), T0).await;
    let result = store
        .request_destroy(&interview.id, &requester(), 3, at(1))
        .await
        .expect("request_destroy");
    let DestroyRequested::Cancelled(cancelled) = result else {
        panic!("not started → cancelled, got {result:?}");
    };
    assert_eq!(cancelled.state, InterviewState::Cancelled);
    assert!(cancelled.reason.is_some());
    assert_eq!(cancelled.expires_at, Some(at(1) + DEFAULT_RETENTION));
    assert_eq!(get_interview(&store, &interview.id).await, cancelled);
    let create_op = get_operation(&store, &op.id).await;
    assert_eq!(create_op.status, OperationStatus::Cancelled);
    assert_eq!(create_op.expires_at, Some(at(1) + DEFAULT_RETENTION));
    assert!(
        destroy_of(&store, &interview.id).await.is_none(),
        "no destroy was made"
    );
    assert!(due_ids(&store, at(60)).await.is_empty());
    claim_refused(&store, &op.id, at(60), "cancelled").await;
    let again = store
        .request_destroy(&interview.id, &requester(), 3, at(2))
        .await
        .expect("request_destroy");
    assert!(
        matches!(again, DestroyRequested::AlreadyFinished(_)),
        "got {again:?}"
    );
}

/// `cancel` works only until provisioning starts; after that it answers `Ok(None)` and changes
/// nothing (the interview must be destroyed instead).
pub async fn cancel_only_before_provisioning_starts(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let (waiting, waiting_op) = create(&store, &request(at(75), 60, at(60)), T0).await;
    let cancelled = store
        .cancel(&waiting.id, &requester(), at(1))
        .await
        .expect("cancel")
        .expect("a waiting interview can be cancelled");
    assert_eq!(cancelled.state, InterviewState::Cancelled);
    assert_eq!(cancelled.expires_at, Some(at(1) + DEFAULT_RETENTION));
    assert_eq!(
        get_operation(&store, &waiting_op.id).await.status,
        OperationStatus::Cancelled
    );
    assert_eq!(
        store
            .cancel(&waiting.id, &requester(), at(2))
            .await
            .expect("cancel"),
        None
    );

    let (started, op) = create(&store, &request(at(15), 60, T0), T0).await;
    let claimed = claim(&store, &op.id, "worker-a", at(5), T0).await;
    assert_eq!(
        store
            .cancel(&started.id, &requester(), at(1))
            .await
            .expect("cancel"),
        None,
        "provisioning started"
    );
    // Still too late while it waits for a retry: something may have been provisioned.
    store
        .retry_later(&claimed.lease, "boom", at(10), at(2))
        .await
        .expect("retry");
    let before = get_interview(&store, &started.id).await;
    assert_eq!(
        store
            .cancel(&started.id, &requester(), at(3))
            .await
            .expect("cancel"),
        None
    );
    assert_eq!(
        get_interview(&store, &started.id).await,
        before,
        "a refused cancel changes nothing"
    );
    assert_eq!(
        get_operation(&store, &op.id).await.status,
        OperationStatus::Scheduled
    );

    let unknown = InterviewId::parse("zzzz9999").expect("valid id");
    let missing = store.cancel(&unknown, &requester(), at(3)).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { .. })),
        "got {missing:?}"
    );
}

/// A destroy is not claimable while the create holds a live lease (and becomes due as soon
/// as the create lets go); claiming a destroy cancels a create that is waiting or whose worker
/// vanished, so the create can never run after the destroy.
pub async fn destroy_waits_for_a_running_create_and_cancels_a_waiting_one(
    harness: &dyn StoreHarness,
) {
    let fixture = harness.open().await;
    let store = fixture.store();

    // The create is running: the destroy waits for it.
    let (running, op) = create(&store, &request(at(15), 60, T0), T0).await;
    let create_lease = claim(&store, &op.id, "worker-a", at(5), T0).await.lease;
    let DestroyRequested::Destroy(destroy) = store
        .request_destroy(&running.id, &requester(), 3, at(1))
        .await
        .expect("request_destroy")
    else {
        panic!("a started interview gets a destroy");
    };
    claim_refused(&store, &destroy.id, at(1), "the create holds a live lease").await;
    assert!(
        !due_ids(&store, at(2)).await.contains(&destroy.id),
        "not due while blocked"
    );
    store
        .complete(
            &create_lease,
            Completion::Created {
                access_url: "https://a".into(),
                challenge_checksum: None,
            },
            at(2),
        )
        .await
        .expect("create completes");
    assert!(
        due_ids(&store, at(2)).await.contains(&destroy.id),
        "the destroy is due as soon as the create finishes"
    );
    claim(&store, &destroy.id, "worker-b", at(7), at(2)).await;

    // The create waits for a retry: claiming the destroy cancels it.
    let (retrying, op) = create(&store, &request(at(15), 60, T0), T0).await;
    let lease = claim(&store, &op.id, "worker-a", at(5), T0).await.lease;
    store
        .retry_later(&lease, "boom", at(30), at(1))
        .await
        .expect("retry");
    let DestroyRequested::Destroy(destroy) = store
        .request_destroy(&retrying.id, &requester(), 3, at(2))
        .await
        .expect("request_destroy")
    else {
        panic!("a started interview gets a destroy");
    };
    claim(&store, &destroy.id, "worker-b", at(7), at(2)).await;
    assert_eq!(
        get_operation(&store, &op.id).await.status,
        OperationStatus::Cancelled
    );
    claim_refused(&store, &op.id, at(30), "cancelled by the destroy").await;

    // The create's worker vanished: claiming the destroy after its lease cancels it.
    let (crashed, op) = create(&store, &request(at(15), 60, T0), T0).await;
    let lease = claim(&store, &op.id, "worker-a", at(5), T0).await.lease;
    let DestroyRequested::Destroy(destroy) = store
        .request_destroy(&crashed.id, &requester(), 3, at(1))
        .await
        .expect("request_destroy")
    else {
        panic!("a started interview gets a destroy");
    };
    claim(&store, &destroy.id, "worker-b", at(10), at(6)).await;
    assert_eq!(
        get_operation(&store, &op.id).await.status,
        OperationStatus::Cancelled
    );
    assert_lease_lost(
        store
            .complete(
                &lease,
                Completion::Created {
                    access_url: "https://x".into(),
                    challenge_checksum: None,
                },
                at(7),
            )
            .await,
        "the vanished create worker's complete",
    );
}

/// `extend` sets a new length and destroy time and clears the warning; once a destroy exists
/// or the interview ended it is a Conflict.
pub async fn extend_moves_destroy_time_and_clears_warning_until_destroying(
    harness: &dyn StoreHarness,
) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let (interview, _) = active_interview(&store, T0, 60, T0).await;
    assert_eq!(interview.destroy_at, at(60));
    store
        .mark_warned(&interview.id, at(50))
        .await
        .expect("mark_warned")
        .expect("first warning");
    let extended = store
        .extend(&interview.id, minutes(90), at(52))
        .await
        .expect("extends");
    assert_eq!(extended.length, minutes(90));
    assert_eq!(extended.destroy_at, at(90));
    assert_eq!(
        extended.warned_at, None,
        "the new destroy time gets its own warning"
    );
    assert_eq!(get_interview(&store, &interview.id).await, extended);
    let warn = Duration::minutes(10);
    let none = store
        .due_warnings(at(52), warn, &PageRequest::first(10))
        .await
        .expect("due_warnings");
    assert!(none.items.is_empty());
    let due = store
        .due_warnings(at(80), warn, &PageRequest::first(10))
        .await
        .expect("due_warnings");
    assert_eq!(due.items, vec![extended.clone()]);
    assert!(
        store
            .due_destroys(at(60), &PageRequest::first(10))
            .await
            .expect("due_destroys")
            .items
            .is_empty(),
        "the old destroy time no longer applies"
    );

    store
        .request_destroy(&interview.id, &requester(), 3, at(85))
        .await
        .expect("destroy requested");
    let late = store.extend(&interview.id, minutes(120), at(86)).await;
    assert!(
        matches!(late, Err(StoreError::Conflict(_))),
        "destroying → conflict, got {late:?}"
    );

    let (waiting, _) = create(&store, &request(at(75), 60, at(60)), T0).await;
    store
        .cancel(&waiting.id, &requester(), at(1))
        .await
        .expect("cancel");
    let ended = store.extend(&waiting.id, minutes(90), at(2)).await;
    assert!(
        matches!(ended, Err(StoreError::Conflict(_))),
        "ended → conflict, got {ended:?}"
    );
}

/// `due_destroys` lists non-terminal interviews past their destroy time that have no destroy
/// operation yet, earliest first.
pub async fn due_destroys_lists_interviews_past_their_time_without_a_destroy(
    harness: &dyn StoreHarness,
) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let (late, _) = active_interview(&store, T0, 90, T0).await; // destroy at 90
    let (early, _) = active_interview(&store, T0, 60, T0).await; // destroy at 60
    let (cancelled, _) = create(&store, &request(at(15), 30, at(10)), T0).await; // destroy at 45
    store
        .cancel(&cancelled.id, &requester(), at(1))
        .await
        .expect("cancel");
    let (_failed, op) = create(&store, &request(at(5), 30, T0), T0).await; // destroy at 35
    let lease = claim(&store, &op.id, "worker-a", at(5), T0).await.lease;
    store.fail(&lease, "boom", at(1)).await.expect("fail");

    let ids = |page: Page<Interview>| page.items.into_iter().map(|i| i.id).collect::<Vec<_>>();
    let page = PageRequest::first(10);
    assert!(ids(store.due_destroys(at(59), &page).await.expect("due")).is_empty());
    assert_eq!(
        ids(store.due_destroys(at(60), &page).await.expect("due")),
        vec![early.id.clone()]
    );
    assert_eq!(
        ids(store.due_destroys(at(100), &page).await.expect("due")),
        vec![early.id.clone(), late.id.clone()],
        "earliest destroy time first; terminal and failed ones are not listed"
    );
    store
        .request_destroy(&early.id, &scheduler(), 3, at(60))
        .await
        .expect("destroy requested");
    assert_eq!(
        ids(store.due_destroys(at(100), &page).await.expect("due")),
        vec![late.id.clone()]
    );
}

/// `due_warnings` lists interviews whose destroy time is within `warn_before`; of many racing
/// `mark_warned` calls exactly one wins, and the feed carries exactly one warning.
pub async fn due_warnings_and_mark_warned_have_exactly_one_winner(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let cursor = store.latest_change().await.expect("latest_change");
    let (interview, _) = active_interview(&store, T0, 60, T0).await;
    let warn = Duration::minutes(10);
    let page = PageRequest::first(10);
    let due = |now| {
        let store = Arc::clone(&store);
        let page = page.clone();
        async move {
            store
                .due_warnings(now, warn, &page)
                .await
                .expect("due_warnings")
                .items
                .into_iter()
                .map(|i| i.id)
                .collect::<Vec<_>>()
        }
    };
    assert!(due(at(49) + Duration::seconds(59)).await.is_empty());
    assert_eq!(due(at(50)).await, vec![interview.id.clone()]);

    let handles = peers(fixture.as_ref(), 8).await;
    let winners: Vec<Interview> = spawn_all(
        handles
            .into_iter()
            .map(|handle| {
                let id = interview.id.clone();
                async move { handle.mark_warned(&id, at(50)).await.expect("mark_warned") }
            })
            .collect(),
    )
    .await
    .into_iter()
    .flatten()
    .collect();
    assert_eq!(winners.len(), 1, "exactly one caller sends the warning");
    assert_eq!(winners[0].warned_at, Some(at(50)));
    assert!(
        due(at(55)).await.is_empty(),
        "warned interviews are not due again"
    );

    let mut warnings = 0;
    let mut cursor = cursor;
    loop {
        let batch = store.changes_since(cursor, 100).await.expect("changes");
        if batch.changes.is_empty() {
            break;
        }
        warnings += batch
            .changes
            .iter()
            .filter(
                |c| matches!(&c.kind, ChangeKind::Warning { interview: i } if i.id == interview.id),
            )
            .count();
        cursor = batch.cursor;
    }
    assert_eq!(warnings, 1, "one warning in the feed");

    let (cancelled, _) = create(&store, &request(at(15), 30, at(10)), T0).await;
    store
        .cancel(&cancelled.id, &requester(), at(1))
        .await
        .expect("cancel");
    assert_eq!(
        store
            .mark_warned(&cancelled.id, at(40))
            .await
            .expect("mark_warned"),
        None
    );
}

/// `expires_at` stays empty on every non-terminal record, however far its times lie in the
/// future, and is set (to now + retention) the moment a record becomes terminal.
pub async fn retention_is_set_only_on_terminal_records(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let far = T0 + Duration::days(400);
    let (interview, op) = create(&store, &request(far, 240, far - Duration::minutes(15)), T0).await;
    let check_open = |what: &'static str| {
        let store = Arc::clone(&store);
        let id = interview.id.clone();
        async move {
            let interview = get_interview(&store, &id).await;
            assert_eq!(
                interview.expires_at, None,
                "{what}: a {} interview must not expire",
                interview.state
            );
            for op in store.operations_for(&id).await.expect("ops") {
                if !op.status.is_terminal() {
                    assert_eq!(
                        op.expires_at, None,
                        "{what}: a {} operation must not expire",
                        op.status
                    );
                } else {
                    assert!(
                        op.expires_at.is_some(),
                        "{what}: a {} operation expires",
                        op.status
                    );
                }
            }
        }
    };
    check_open("scheduled").await;
    let now = far - Duration::minutes(15);
    let claimed = claim(&store, &op.id, "worker-a", now + secs(60), now).await;
    check_open("creating").await;
    store
        .retry_later(&claimed.lease, "boom", now + secs(30), now)
        .await
        .expect("retry");
    check_open("retrying").await;
    let claimed = claim(&store, &op.id, "worker-a", now + secs(90), now + secs(30)).await;
    store
        .complete(
            &claimed.lease,
            Completion::Created {
                access_url: "https://a".into(),
                challenge_checksum: None,
            },
            now + secs(40),
        )
        .await
        .expect("completes");
    check_open("active").await;
    store
        .extend(&interview.id, minutes(240), now + secs(50))
        .await
        .expect("extend");
    check_open("extended").await;
    let end = far + Duration::minutes(240);
    let DestroyRequested::Destroy(destroy) = store
        .request_destroy(&interview.id, &scheduler(), 3, end)
        .await
        .expect("request_destroy")
    else {
        panic!("an active interview gets a destroy");
    };
    check_open("destroy requested").await;
    let claimed = claim(&store, &destroy.id, "worker-b", end + secs(60), end).await;
    store
        .record_progress(&claimed.lease, InterviewState::Destroying, end)
        .await
        .expect("progress");
    check_open("destroying").await;
    store
        .complete(
            &claimed.lease,
            Completion::Destroyed { archive: None },
            end + secs(5),
        )
        .await
        .expect("completes");
    let done = get_interview(&store, &interview.id).await;
    assert_eq!(done.expires_at, Some(end + secs(5) + DEFAULT_RETENTION));
    let destroy = get_operation(&store, &destroy.id).await;
    assert_eq!(destroy.expires_at, Some(end + secs(5) + DEFAULT_RETENTION));
}

/// `purge_expired` deletes terminal records whose retention passed (with their logs) and
/// leaves everything else, including interviews scheduled far in the past or future.
pub async fn purge_removes_only_expired_terminal_records(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    // Cancelled at T0: expires at T0 + retention.
    let (cancelled, cancelled_op) = create(&store, &request(at(75), 60, at(60)), T0).await;
    store
        .append_logs(
            &cancelled_op.id,
            &[LogLine {
                at: T0,
                message: "queued".into(),
            }],
            T0,
        )
        .await
        .expect("logs");
    store
        .cancel(&cancelled.id, &requester(), T0)
        .await
        .expect("cancel");
    // Destroyed a day later: expires a day later.
    let day = T0 + Duration::days(1);
    let (destroyed, _) = active_interview(&store, day, 30, day).await;
    let DestroyRequested::Destroy(destroy) = store
        .request_destroy(&destroyed.id, &scheduler(), 3, day)
        .await
        .expect("request_destroy")
    else {
        panic!("an active interview gets a destroy");
    };
    let lease = claim(&store, &destroy.id, "worker-b", day + secs(60), day)
        .await
        .lease;
    store
        .complete(&lease, Completion::Destroyed { archive: None }, day)
        .await
        .expect("completes");
    // Never terminal: a scheduled interview whose start passed long ago, and an active one.
    let (stuck, _) = create(&store, &request(at(30), 60, at(15)), T0).await;
    let (active, _) = active_interview(&store, T0, 60, T0).await;
    let stuck = get_interview(&store, &stuck.id).await;
    let destroyed = get_interview(&store, &destroyed.id).await;

    let early = store
        .purge_expired(T0 + Duration::days(29))
        .await
        .expect("purge");
    assert_eq!(early, 0, "nothing has expired yet");
    assert!(
        store
            .interview(&cancelled.id)
            .await
            .expect("lookup")
            .is_some()
    );

    let after_first = T0 + DEFAULT_RETENTION + secs(1);
    let purged = store.purge_expired(after_first).await.expect("purge");
    if harness.purges_on_demand() {
        assert!(
            purged >= 2,
            "the cancelled interview and its create went, purged {purged}"
        );
        assert_eq!(store.interview(&cancelled.id).await.expect("lookup"), None);
        assert_eq!(
            store.operation(&cancelled_op.id).await.expect("lookup"),
            None
        );
        match store.logs(&cancelled_op.id, &PageRequest::first(10)).await {
            Err(StoreError::NotFound { .. }) => {}
            Ok(page) => assert!(page.items.is_empty(), "logs went with their operation"),
            Err(other) => panic!("logs of a purged operation: {other:?}"),
        }
    }
    assert_eq!(
        get_interview(&store, &destroyed.id).await,
        destroyed,
        "not expired yet"
    );
    assert_eq!(get_interview(&store, &stuck.id).await, stuck);
    assert_eq!(get_interview(&store, &active.id).await, active);

    let cursor = store.latest_change().await.expect("latest");
    store
        .purge_expired(T0 + Duration::days(400))
        .await
        .expect("purge");
    if harness.purges_on_demand() {
        assert_eq!(store.interview(&destroyed.id).await.expect("lookup"), None);
        assert!(
            store
                .operations_for(&destroyed.id)
                .await
                .expect("ops")
                .is_empty()
        );
        let old = store
            .changes_since(ChangeCursor::default(), 100)
            .await
            .expect("feed");
        assert!(
            old.changes.is_empty(),
            "feed entries older than the retention went"
        );
    }
    assert_eq!(
        get_interview(&store, &stuck.id).await,
        stuck,
        "scheduled records never expire"
    );
    assert_eq!(
        get_interview(&store, &active.id).await,
        active,
        "active records never expire"
    );
    let (fresh, _) = create(&store, &request(at(30), 60, T0), T0 + Duration::days(400)).await;
    let batch = store.changes_since(cursor, 100).await.expect("feed");
    assert!(
        batch.changes.iter().all(|c| c.cursor > cursor)
            && batch
                .changes
                .iter()
                .any(|c| c.kind.interview_id() == &fresh.id),
        "cursors keep increasing after a purge"
    );
}

/// 1,234 interviews listed in pages of 100: every one exactly once, by start time then id, in
/// both scopes (cancelled ones only in `All`).
pub async fn list_interviews_pages_through_every_interview_once_in_order(
    harness: &dyn StoreHarness,
) {
    let fixture = harness.open().await;
    let store = fixture.store();
    const COUNT: usize = 1234;
    // Three interviews share each start time, so the id must break ties.
    let requests: Vec<NewInterview> = (0..COUNT)
        .map(|i| request(at(30 + (i / 3) as i64), 30, at(10_000)))
        .collect();
    let created: Vec<Interview> = futures::stream::iter(requests.iter().cloned())
        .map(|new| {
            let store = Arc::clone(&store);
            async move {
                store
                    .create_interview(&new, T0)
                    .await
                    .expect("create")
                    .interview
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut cancelled = HashSet::new();
    for interview in created.iter().step_by(10) {
        store
            .cancel(&interview.id, &requester(), T0)
            .await
            .expect("cancel");
        cancelled.insert(interview.id.clone());
    }
    let mut all: Vec<(DateTime<Utc>, InterviewId)> =
        created.iter().map(|i| (i.start_at, i.id.clone())).collect();
    all.sort();
    let open: Vec<_> = all
        .iter()
        .filter(|(_, id)| !cancelled.contains(id))
        .cloned()
        .collect();

    for (scope, expected) in [(InterviewScope::All, all), (InterviewScope::Open, open)] {
        let mut seen = Vec::new();
        let mut page = PageRequest::first(100);
        let mut pages = 0;
        loop {
            let Page { items, next } = store.list_interviews(scope, &page).await.expect("list");
            pages += 1;
            assert!(items.len() <= 100, "a page holds at most its limit");
            seen.extend(items.into_iter().map(|i| (i.start_at, i.id)));
            match next {
                Some(token) => page = PageRequest::after(100, token),
                None => break,
            }
            assert!(
                pages <= COUNT / 100 + 2,
                "{scope:?}: pagination does not end"
            );
        }
        assert_eq!(
            seen.len(),
            expected.len(),
            "{scope:?}: every interview once"
        );
        assert_eq!(seen, expected, "{scope:?}: by start time, then id");
        assert_eq!(
            pages,
            expected.len().div_ceil(100),
            "{scope:?}: no empty trailing page"
        );
    }
}

/// `due_operations` pages through every due operation exactly once, oldest due first, and
/// leaves out what is not due yet.
pub async fn due_operations_page_in_due_order(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    const DUE: i64 = 250;
    let requests: Vec<NewInterview> = (0..DUE + 20)
        .map(|i| request(at(60), 30, T0 + Duration::seconds(i * 7 % ((DUE + 20) * 7))))
        .collect();
    let created: Vec<Operation> = futures::stream::iter(requests)
        .map(|new| {
            let store = Arc::clone(&store);
            async move {
                store
                    .create_interview(&new, T0)
                    .await
                    .expect("create")
                    .operation
            }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let now = T0 + Duration::seconds((DUE - 1) * 7);
    let mut expected: Vec<(DateTime<Utc>, OperationId)> = created
        .iter()
        .filter(|op| op.due_at <= now)
        .map(|op| (op.due_at, op.id.clone()))
        .collect();
    expected.sort();
    assert_eq!(expected.len(), DUE as usize);

    let mut seen = Vec::new();
    let mut page = PageRequest::first(40);
    loop {
        let Page { items, next } = store.due_operations(now, &page).await.expect("due");
        assert!(items.len() <= 40);
        seen.extend(items.into_iter().map(|op| (op.due_at, op.id)));
        match next {
            Some(token) => page = PageRequest::after(40, token),
            None => break,
        }
    }
    assert_eq!(seen, expected, "every due operation once, oldest due first");
}

/// A batch of 500 log lines is appended in one call and reads back in order over several
/// pages, followed by a later single line; each append is one change in the feed.
pub async fn logs_append_in_batches_and_page_in_order(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let (interview, op) = create(&store, &request(at(30), 60, T0), T0).await;
    let cursor = store.latest_change().await.expect("latest");
    let batch: Vec<LogLine> = (0..500)
        .map(|i| LogLine {
            at: T0 + Duration::seconds(i),
            message: format!(
                "step {i:03}: pulling layer ✓ — «{}»",
                "é".repeat((i % 7) as usize)
            ),
        })
        .collect();
    store
        .append_logs(&op.id, &batch, at(9))
        .await
        .expect("batch appended");
    let last = LogLine {
        at: at(10),
        message: "ready".into(),
    };
    store
        .append_logs(&op.id, std::slice::from_ref(&last), at(10))
        .await
        .expect("line appended");
    store
        .append_logs(&op.id, &[], at(10))
        .await
        .expect("an empty batch is fine");

    let mut read = Vec::new();
    let mut page = PageRequest::first(100);
    let mut pages = 0;
    loop {
        let Page { items, next } = store.logs(&op.id, &page).await.expect("logs");
        pages += 1;
        read.extend(items);
        match next {
            Some(token) => page = PageRequest::after(100, token),
            None => break,
        }
    }
    let mut expected = batch.clone();
    expected.push(last.clone());
    assert_eq!(read, expected, "every line once, in order");
    assert_eq!(pages, 6);

    let changes = store
        .changes_since(cursor, 100)
        .await
        .expect("feed")
        .changes;
    let logs: Vec<Vec<LogLine>> = changes
        .into_iter()
        .filter_map(|c| match c.kind {
            ChangeKind::Logs {
                operation_id,
                interview_id,
                lines,
            } => {
                assert_eq!((&operation_id, &interview_id), (&op.id, &interview.id));
                Some(lines)
            }
            _ => None,
        })
        .collect();
    assert_eq!(
        logs,
        vec![batch, vec![last]],
        "one change per append, with its lines"
    );

    let unknown = OperationId::parse("op-zzzz9999").expect("valid id");
    let missing = store.append_logs(&unknown, &expected[..1], at(11)).await;
    assert!(
        matches!(missing, Err(StoreError::NotFound { .. })),
        "got {missing:?}"
    );
}

/// Every change reaches the feed once, in commit order, whichever handle wrote it and whichever
/// reads it: each record's snapshots carry consecutive versions ending at the stored record.
pub async fn change_feed_sees_every_change_once_in_order_across_handles(
    harness: &dyn StoreHarness,
) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let peer = fixture.peer().await;
    let reader = fixture.peer().await;
    let start = reader.latest_change().await.expect("latest");

    let (a, a_op) = create(&store, &request(at(15), 60, T0), T0).await;
    let (b, _) = create(&peer, &request(at(75), 60, at(60)), T0).await;
    let claimed = claim(&peer, &a_op.id, "worker-a", at(5), T0).await;
    store
        .record_progress(&claimed.lease, InterviewState::Initializing, at(1))
        .await
        .expect("progress");
    store
        .append_logs(
            &a_op.id,
            &[LogLine {
                at: at(1),
                message: "booting".into(),
            }],
            at(1),
        )
        .await
        .expect("logs");
    peer.renew_lease(&claimed.lease, at(8), at(2))
        .await
        .expect("renew");
    peer.complete(
        &claimed.lease,
        Completion::Created {
            access_url: "https://a".into(),
            challenge_checksum: None,
        },
        at(3),
    )
    .await
    .expect("complete");
    store
        .mark_warned(&a.id, at(66))
        .await
        .expect("warn")
        .expect("warned");
    let DestroyRequested::Destroy(destroy) = peer
        .request_destroy(&a.id, &scheduler(), 3, at(75))
        .await
        .expect("destroy")
    else {
        panic!("an active interview gets a destroy");
    };
    store
        .cancel(&b.id, &requester(), at(4))
        .await
        .expect("cancel");

    // Read the feed in small batches through a third handle.
    let mut changes = Vec::new();
    let mut cursor = start;
    loop {
        let batch = reader
            .changes_since(cursor, 3)
            .await
            .expect("changes_since");
        assert!(batch.changes.len() <= 3);
        if batch.changes.is_empty() {
            assert_eq!(batch.cursor, cursor, "an empty batch keeps the cursor");
            break;
        }
        for change in &batch.changes {
            assert!(change.cursor > cursor, "cursors strictly increase");
            cursor = change.cursor;
        }
        assert_eq!(batch.cursor, cursor, "the batch cursor is its last change");
        changes.extend(batch.changes);
    }

    let mut interviews: BTreeMap<InterviewId, Vec<Interview>> = BTreeMap::new();
    let mut operations: BTreeMap<OperationId, Vec<Operation>> = BTreeMap::new();
    let mut logs = 0;
    let mut warnings = 0;
    for change in changes {
        match change.kind {
            ChangeKind::Interview { interview } => interviews
                .entry(interview.id.clone())
                .or_default()
                .push(interview),
            ChangeKind::Warning { interview } => {
                warnings += 1;
                interviews
                    .entry(interview.id.clone())
                    .or_default()
                    .push(interview)
            }
            ChangeKind::Operation { operation } => operations
                .entry(operation.id.clone())
                .or_default()
                .push(operation),
            ChangeKind::Logs { lines, .. } => {
                logs += 1;
                assert_eq!(
                    lines,
                    vec![LogLine {
                        at: at(1),
                        message: "booting".into()
                    }]
                );
            }
        }
    }
    assert_eq!((logs, warnings), (1, 1));
    assert_eq!(
        interviews.len(),
        2,
        "both interviews, whichever handle wrote them"
    );
    for (id, snapshots) in &interviews {
        let current = get_interview(&reader, id).await;
        assert_consecutive(id.as_str(), snapshots.iter().map(|i| i.version));
        assert_eq!(
            snapshots.last(),
            Some(&current),
            "{id}: the last snapshot is the record"
        );
    }
    assert_eq!(operations.len(), 3, "a's create and destroy, b's create");
    assert!(operations.contains_key(&destroy.id));
    for (id, snapshots) in &operations {
        let current = get_operation(&reader, id).await;
        assert_consecutive(id.as_str(), snapshots.iter().map(|o| o.version));
        assert_eq!(
            snapshots.last(),
            Some(&current),
            "{id}: the last snapshot is the record"
        );
    }
}

fn assert_consecutive(what: &str, versions: impl Iterator<Item = u64>) {
    let versions: Vec<u64> = versions.collect();
    let first = versions.first().copied().unwrap_or_default();
    let expected: Vec<u64> = (first..first + versions.len() as u64).collect();
    assert_eq!(
        versions, expected,
        "{what}: one change per version, none missing or repeated"
    );
}

/// Following the feed "from now" (`latest_change`) sees only changes written after that.
pub async fn latest_change_then_changes_since_sees_only_newer_changes(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let peer = fixture.peer().await;
    assert_eq!(
        store.latest_change().await.expect("latest"),
        ChangeCursor::default()
    );
    let empty = store
        .changes_since(ChangeCursor::default(), 10)
        .await
        .expect("feed");
    assert!(empty.changes.is_empty());
    assert_eq!(empty.cursor, ChangeCursor::default());

    for _ in 0..3 {
        create(&store, &request(at(30), 60, T0), T0).await;
    }
    let now = peer.latest_change().await.expect("latest");
    assert!(now > ChangeCursor::default());
    let nothing = peer.changes_since(now, 10).await.expect("feed");
    assert!(
        nothing.changes.is_empty(),
        "nothing after the latest change"
    );
    assert_eq!(nothing.cursor, now);

    let (newer, _) = create(&store, &request(at(30), 60, T0), at(1)).await;
    let batch = peer.changes_since(now, 10).await.expect("feed");
    assert!(!batch.changes.is_empty());
    assert!(
        batch
            .changes
            .iter()
            .all(|c| c.cursor > now && c.kind.interview_id() == &newer.id && c.at == at(1)),
        "only the newer write's changes: {batch:?}"
    );
    assert_eq!(peer.latest_change().await.expect("latest"), batch.cursor);
}

/// `next_due` reports the earliest due operation, lease expiry, destroy and warning times.
pub async fn next_due_reports_the_earliest_times(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let warn = Duration::minutes(10);
    assert_eq!(
        store.next_due(warn).await.expect("next_due"),
        NextDue::default()
    );

    let (_, _late_op) = create(&store, &request(at(120), 60, at(105)), T0).await;
    let (early, early_op) = create(&store, &request(at(30), 30, at(15)), T0).await;
    let next = store.next_due(warn).await.expect("next_due");
    assert_eq!(
        next,
        NextDue {
            operation: Some(at(15)),
            lease_expiry: None,
            destroy: Some(at(60)),
            warning: Some(at(50)),
        }
    );
    assert_eq!(next.earliest(), Some(at(15)));

    let claimed = claim(&store, &early_op.id, "worker-a", at(20), at(15)).await;
    let next = store.next_due(warn).await.expect("next_due");
    assert_eq!(
        (next.operation, next.lease_expiry),
        (Some(at(105)), Some(at(20)))
    );
    store
        .complete(
            &claimed.lease,
            Completion::Created {
                access_url: "https://a".into(),
                challenge_checksum: None,
            },
            at(16),
        )
        .await
        .expect("completes");
    assert_eq!(
        store.next_due(warn).await.expect("next_due").lease_expiry,
        None
    );

    store
        .request_destroy(&early.id, &scheduler(), 3, at(40))
        .await
        .expect("destroy");
    let next = store.next_due(warn).await.expect("next_due");
    assert_eq!(
        next,
        NextDue {
            operation: Some(at(40)),
            lease_expiry: None,
            destroy: Some(at(180)),
            warning: Some(at(170)),
        },
        "an interview with a destroy is neither a due destroy nor a due warning"
    );
    assert_eq!(next.earliest(), Some(at(40)));
}

/// A page token the backend did not issue is `InvalidPageToken` on every listing.
pub async fn foreign_page_tokens_are_refused(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let (_, op) = create(&store, &request(at(30), 60, T0), T0).await;
    for garbage in ["", "not a token", "~~~", "9223372036854775808"] {
        let page = PageRequest::after(10, PageToken(garbage.into()));
        let results = [
            store
                .list_interviews(InterviewScope::Open, &page)
                .await
                .map(|_| ()),
            store
                .list_interviews(InterviewScope::All, &page)
                .await
                .map(|_| ()),
            store.due_operations(at(60), &page).await.map(|_| ()),
            store.due_destroys(at(60), &page).await.map(|_| ()),
            store
                .due_warnings(at(60), Duration::minutes(10), &page)
                .await
                .map(|_| ()),
            store.logs(&op.id, &page).await.map(|_| ()),
        ];
        for result in results {
            assert!(
                matches!(result, Err(StoreError::InvalidPageToken)),
                "token {garbage:?} must be refused, got {result:?}"
            );
        }
    }
}

/// Frontend notes: a conditional put has exactly one winner among concurrent handles and keeps
/// the first value; a plain put replaces it; notes read back through any handle, are separate
/// per interview, and an unknown interview is `NotFound`.
pub async fn notes_are_written_once_when_asked_and_read_back(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let (interview, _) = create(&store, &request(at(30), 60, T0), T0).await;
    let (other, _) = create(&store, &request(at(30), 60, T0), T0).await;
    assert!(
        store.notes(&interview.id).await.expect("notes").is_empty(),
        "a new interview has no notes"
    );

    let handles = peers(fixture.as_ref(), 8).await;
    let results: Vec<(usize, bool)> = spawn_all(
        handles
            .into_iter()
            .enumerate()
            .map(|(n, handle)| {
                let id = interview.id.clone();
                async move {
                    let won = handle
                        .put_note(&id, "slack.message_ts", &format!("claim-{n}"), true, at(1))
                        .await
                        .expect("put_note");
                    (n, won)
                }
            })
            .collect(),
    )
    .await;
    let winners: Vec<usize> = results
        .iter()
        .filter(|(_, won)| *won)
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(winners.len(), 1, "exactly one claim wins: {results:?}");
    let read = fixture
        .peer()
        .await
        .notes(&interview.id)
        .await
        .expect("notes");
    assert_eq!(
        read.get("slack.message_ts").map(String::as_str),
        Some(format!("claim-{}", winners[0]).as_str()),
        "the winner's value is kept"
    );

    assert!(
        !store
            .put_note(&interview.id, "slack.message_ts", "late", true, at(2))
            .await
            .expect("put_note"),
        "a later conditional put loses too"
    );
    assert!(
        store
            .put_note(
                &interview.id,
                "slack.message_ts",
                "1700000000.000100",
                false,
                at(2)
            )
            .await
            .expect("put_note"),
        "a plain put replaces"
    );
    assert!(
        store
            .put_note(&interview.id, "slack.channel", "C0123ABCD", false, at(2))
            .await
            .expect("put_note")
    );
    assert_eq!(
        store.notes(&interview.id).await.expect("notes"),
        BTreeMap::from([
            ("slack.channel".to_owned(), "C0123ABCD".to_owned()),
            (
                "slack.message_ts".to_owned(),
                "1700000000.000100".to_owned()
            ),
        ])
    );
    assert!(
        store.notes(&other.id).await.expect("notes").is_empty(),
        "notes belong to one interview"
    );
    assert!(
        store
            .put_note(&other.id, "slack.message_ts", "mine", true, at(2))
            .await
            .expect("put_note"),
        "the same key on another interview is another note"
    );

    let unknown = InterviewId::generate();
    assert!(
        matches!(
            store.put_note(&unknown, "k", "v", true, at(2)).await,
            Err(StoreError::NotFound { .. })
        ),
        "a note on an unknown interview is NotFound"
    );
}

/// Per-user settings: absent until written, a second put replaces the value, and they are kept
/// apart per platform, user and key; they read back through another handle.
pub async fn user_settings_are_replaced_and_kept_per_platform_and_user(harness: &dyn StoreHarness) {
    let fixture = harness.open().await;
    let store = fixture.store();
    let discord = crate::domain::Platform::Discord;
    let slack = crate::domain::Platform::Slack;
    assert_eq!(
        store.user_setting(discord, "42", "tz").await.expect("read"),
        None
    );
    store
        .put_user_setting(discord, "42", "tz", "Europe/Berlin", T0)
        .await
        .expect("put");
    store
        .put_user_setting(discord, "42", "tz", "Asia/Tokyo", at(1))
        .await
        .expect("put again");
    let peer = fixture.peer().await;
    assert_eq!(
        peer.user_setting(discord, "42", "tz").await.expect("read"),
        Some("Asia/Tokyo".to_owned()),
        "the second put replaces the first, for every handle"
    );
    assert_eq!(
        store.user_setting(slack, "42", "tz").await.expect("read"),
        None,
        "settings are per platform"
    );
    assert_eq!(
        store.user_setting(discord, "43", "tz").await.expect("read"),
        None,
        "settings are per user"
    );
    assert_eq!(
        store
            .user_setting(discord, "42", "other")
            .await
            .expect("read"),
        None,
        "settings are per key"
    );
}
