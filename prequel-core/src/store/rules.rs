//! The store's decisions, written once.
//!
//! What each write of the [`OperationStore`](super::OperationStore) contract does to an interview
//! and its operations — who may claim what, when a create is cancelled instead, how a failure
//! cleans up, when records get their retention time, which change the feed records — is decided
//! here, by plain synchronous functions over [`Records`]: the records of one transaction, as a
//! backend reads and writes them. A backend runs a rule inside one of its own transactions (all
//! or nothing; an `Err` writes nothing) and keeps only storage: encoding, queries, transactions
//! and the feed's sequence. SQLite ([`super::sqlite`]), DynamoDB (`super::dynamo`, feature `aws`)
//! and memory ([`super::memory`]) all call these same functions, so there is one place to read
//! the rules, and the tests below check them without any backend's storage in the way.
//!
//! Every record a rule writes goes through [`save_interview`] / [`save_operation`] (or the two
//! inserts), which bump its version, stamp `updated_at`, set retention once it is terminal and
//! record the change in the feed — so no rule can forget one of them.

use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use serde::Serialize;

use super::{
    ChangeKind, Claimed, Completion, Created, DEFAULT_RETENTION, DestroyRequested, Lease,
    NewInterview, StoreError, StoreResult,
};
use crate::domain::{
    Interview, InterviewId, InterviewLength, InterviewState, Operation, OperationId, OperationKind,
    OperationStatus, Requester,
};

/// The records one store transaction can see and change: what a rule needs of a backend.
///
/// Reads see the transaction's own earlier writes. Writes are buffered or applied as the backend
/// likes, but land all together when the rule returns `Ok` and not at all when it returns `Err`.
/// An update names the version the record was read at; a backend that can check it in the write
/// (SQLite) refuses a record that changed, one that checks whole items another way (DynamoDB's
/// `rev`) may ignore it.
pub(crate) trait Records {
    /// The interview, if it exists.
    fn interview(&self, id: &InterviewId) -> StoreResult<Option<Interview>>;

    /// The request that created the interview (its [`fingerprint`]), if the interview exists.
    fn creating_request(&self, id: &InterviewId) -> StoreResult<Option<String>>;

    /// The operation, if it exists.
    fn operation(&self, id: &OperationId) -> StoreResult<Option<Operation>>;

    /// The interview's operation of `kind` (there is at most one), if it exists.
    fn operation_of(
        &self,
        interview: &InterviewId,
        kind: OperationKind,
    ) -> StoreResult<Option<Operation>>;

    /// The id a new operation of `kind` on `interview` gets (random, or derived from the two
    /// where the backend relies on that to find it).
    fn new_operation_id(
        &self,
        interview: &InterviewId,
        kind: OperationKind,
    ) -> StoreResult<OperationId>;

    /// Stores a new interview with the request that created it.
    fn insert_interview(&mut self, interview: &Interview, request: &str) -> StoreResult<()>;

    /// Stores a new operation.
    fn insert_operation(&mut self, operation: &Operation) -> StoreResult<()>;

    /// Writes back an interview read at `read_version`.
    fn update_interview(&mut self, interview: &Interview, read_version: u64) -> StoreResult<()>;

    /// Writes back an operation read at `read_version`.
    fn update_operation(&mut self, operation: &Operation, read_version: u64) -> StoreResult<()>;

    /// Appends a change to the feed, after the ones this transaction recorded before it.
    fn record_change(&mut self, at: DateTime<Utc>, kind: ChangeKind) -> StoreResult<()>;
}

// ---------------------------------------------------------------------------------------------
// Values every backend stores alike
// ---------------------------------------------------------------------------------------------

/// `at` at the precision every backend stores (milliseconds), so what a write returns equals
/// what a later read returns.
pub(crate) fn stored(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(at.timestamp_millis()).unwrap_or(at)
}

/// `at + by`, saturating instead of panicking at the end of chrono's range.
pub(crate) fn plus(at: DateTime<Utc>, by: Duration) -> DateTime<Utc> {
    at.checked_add_signed(by)
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

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

/// The text stored with an interview to recognise the same request again.
pub(crate) fn fingerprint(new: &NewInterview) -> StoreResult<String> {
    serde_json::to_string(&RequestFingerprint {
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
    .map_err(StoreError::backend)
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

// ---------------------------------------------------------------------------------------------
// Reading and writing records (every write goes through these)
// ---------------------------------------------------------------------------------------------

fn require_interview(tx: &impl Records, id: &InterviewId) -> StoreResult<Interview> {
    tx.interview(id)?.ok_or_else(|| StoreError::NotFound {
        what: format!("interview {id}"),
    })
}

/// Whether any operation of the interview can still run (so its records must not expire yet).
fn has_open_operations(tx: &impl Records, interview: &InterviewId) -> StoreResult<bool> {
    for kind in [OperationKind::Create, OperationKind::Destroy] {
        if tx.operation_of(interview, kind)?.is_some_and(|op| {
            matches!(
                op.status,
                OperationStatus::Pending | OperationStatus::Scheduled | OperationStatus::Running
            )
        }) {
            return Ok(true);
        }
    }
    Ok(false)
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
    tx: &mut impl Records,
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
    tx.update_interview(interview, read_version)?;
    let interview = interview.clone();
    let kind = match feed {
        FeedAs::Interview => ChangeKind::Interview { interview },
        FeedAs::Warning => ChangeKind::Warning { interview },
    };
    tx.record_change(stored(now), kind)
}

/// Writes back an operation changed in memory: bumps its version, stamps `updated_at`, drops
/// the lease unless it is running, sets the retention time once it is terminal, and records the
/// change.
fn save_operation(
    tx: &mut impl Records,
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
    tx.update_operation(operation, read_version)?;
    tx.record_change(
        stored(now),
        ChangeKind::Operation {
            operation: operation.clone(),
        },
    )
}

fn insert_operation(tx: &mut impl Records, operation: &Operation) -> StoreResult<()> {
    tx.insert_operation(operation)?;
    tx.record_change(
        operation.created_at,
        ChangeKind::Operation {
            operation: operation.clone(),
        },
    )
}

/// A fresh waiting operation (pending when already due, scheduled otherwise).
fn new_operation(
    tx: &impl Records,
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
        id: tx.new_operation_id(interview, kind)?,
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

// ---------------------------------------------------------------------------------------------
// The writes of the contract (see `OperationStore` for what each promises)
// ---------------------------------------------------------------------------------------------

/// [`OperationStore::create_interview`](super::OperationStore::create_interview).
pub(crate) fn create_interview(
    tx: &mut impl Records,
    new: &NewInterview,
    now: DateTime<Utc>,
) -> StoreResult<Created> {
    let request = fingerprint(new)?;
    if let Some(stored_request) = tx.creating_request(&new.id)? {
        if stored_request != request {
            return Err(StoreError::Conflict(format!(
                "interview {} already exists with other details",
                new.id
            )));
        }
        let interview = require_interview(tx, &new.id)?;
        let operation = tx
            .operation_of(&new.id, OperationKind::Create)?
            .ok_or_else(|| {
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
    tx.insert_interview(&interview, &request)?;
    tx.record_change(
        interview.created_at,
        ChangeKind::Interview {
            interview: interview.clone(),
        },
    )?;
    let operation = new_operation(
        tx,
        &new.id,
        OperationKind::Create,
        new.create_due_at,
        new.max_attempts,
        &new.requested_by,
        now,
    )?;
    insert_operation(tx, &operation)?;
    Ok(Created {
        interview,
        operation,
        newly_created: true,
    })
}

/// [`OperationStore::claim`](super::OperationStore::claim).
pub(crate) fn claim(
    tx: &mut impl Records,
    id: &OperationId,
    expected_version: u64,
    holder: &str,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<Option<Claimed>> {
    let Some(mut operation) = tx.operation(id)? else {
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
            let destroy = tx.operation_of(&interview.id, OperationKind::Destroy)?;
            if destroy.is_some() || interview.state.is_terminal() {
                operation.status = OperationStatus::Cancelled;
                operation.error = Some("cancelled: the interview is being destroyed".into());
                save_operation(tx, &mut operation, now)?;
                return Ok(None);
            }
        }
        OperationKind::Destroy => {
            if let Some(mut create) = tx.operation_of(&interview.id, OperationKind::Create)? {
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

    // The claim itself: one write of the operation, conditional on the version the decision
    // above was made on (invariant 6).
    let token = lease_token(holder);
    let lease_until = stored(lease_until);
    operation.status = OperationStatus::Running;
    operation.attempts += 1;
    operation.lease_holder = Some(token.clone());
    operation.lease_until = Some(lease_until);
    save_operation(tx, &mut operation, now)?;
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
fn leased_operation(tx: &impl Records, lease: &Lease) -> StoreResult<Operation> {
    let lost = || StoreError::LeaseLost {
        operation: lease.operation_id.clone(),
    };
    let operation = tx.operation(&lease.operation_id)?.ok_or_else(lost)?;
    if operation.status != OperationStatus::Running
        || operation.lease_holder.as_deref() != Some(lease.token.as_str())
    {
        return Err(lost());
    }
    Ok(operation)
}

/// [`OperationStore::renew_lease`](super::OperationStore::renew_lease).
pub(crate) fn renew_lease(
    tx: &mut impl Records,
    lease: &Lease,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> StoreResult<Lease> {
    let mut operation = leased_operation(tx, lease)?;
    let until = stored(until);
    operation.lease_until = Some(until);
    save_operation(tx, &mut operation, now)?;
    Ok(Lease {
        until,
        ..lease.clone()
    })
}

/// [`OperationStore::record_progress`](super::OperationStore::record_progress).
pub(crate) fn record_progress(
    tx: &mut impl Records,
    lease: &Lease,
    state: InterviewState,
    now: DateTime<Utc>,
) -> StoreResult<Interview> {
    let operation = leased_operation(tx, lease)?;
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
}

/// When a create lets go of its lease, a destroy that was waiting for it becomes due at once.
fn release_waiting_destroy(
    tx: &mut impl Records,
    interview: &InterviewId,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    if let Some(mut destroy) = tx.operation_of(interview, OperationKind::Destroy)?
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
    tx: &mut impl Records,
    interview: &InterviewId,
    requested_by: &Requester,
    max_attempts: u32,
    now: DateTime<Utc>,
) -> StoreResult<Operation> {
    if tx
        .operation_of(interview, OperationKind::Destroy)?
        .is_some()
    {
        release_waiting_destroy(tx, interview, now)?;
        return tx
            .operation_of(interview, OperationKind::Destroy)?
            .ok_or_else(|| StoreError::NotFound {
                what: format!("destroy of interview {interview}"),
            });
    }
    let destroy = new_operation(
        tx,
        interview,
        OperationKind::Destroy,
        now,
        max_attempts,
        requested_by,
        now,
    )?;
    insert_operation(tx, &destroy)?;
    Ok(destroy)
}

/// Fails an operation for good (see [`OperationStore::fail`](super::OperationStore::fail)).
fn fail_operation(
    tx: &mut impl Records,
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

/// [`OperationStore::fail`](super::OperationStore::fail).
pub(crate) fn fail(
    tx: &mut impl Records,
    lease: &Lease,
    reason: &str,
    now: DateTime<Utc>,
) -> StoreResult<Operation> {
    let operation = leased_operation(tx, lease)?;
    fail_operation(tx, operation, reason, now)
}

/// Cancels an interview whose create has not started, and that create.
fn cancel_before_start(
    tx: &mut impl Records,
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

/// [`OperationStore::complete`](super::OperationStore::complete).
pub(crate) fn complete(
    tx: &mut impl Records,
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

/// [`OperationStore::retry_later`](super::OperationStore::retry_later).
pub(crate) fn retry_later(
    tx: &mut impl Records,
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

/// [`OperationStore::request_destroy`](super::OperationStore::request_destroy).
pub(crate) fn request_destroy(
    tx: &mut impl Records,
    id: &InterviewId,
    requested_by: &Requester,
    max_attempts: u32,
    now: DateTime<Utc>,
) -> StoreResult<DestroyRequested> {
    let interview = require_interview(tx, id)?;
    if interview.state.is_terminal() {
        return Ok(DestroyRequested::AlreadyFinished(interview));
    }
    if let Some(existing) = tx.operation_of(id, OperationKind::Destroy)? {
        return Ok(DestroyRequested::Destroy(existing));
    }
    let create = tx.operation_of(id, OperationKind::Create)?;
    if create.as_ref().is_some_and(not_started) {
        let interview = cancel_before_start(tx, interview, create, requested_by, now)?;
        return Ok(DestroyRequested::Cancelled(interview));
    }
    let destroy = ensure_destroy(tx, id, requested_by, max_attempts, now)?;
    Ok(DestroyRequested::Destroy(destroy))
}

/// [`OperationStore::cancel`](super::OperationStore::cancel).
pub(crate) fn cancel(
    tx: &mut impl Records,
    id: &InterviewId,
    requested_by: &Requester,
    now: DateTime<Utc>,
) -> StoreResult<Option<Interview>> {
    let interview = require_interview(tx, id)?;
    if interview.state.is_terminal() || tx.operation_of(id, OperationKind::Destroy)?.is_some() {
        return Ok(None);
    }
    let create = tx.operation_of(id, OperationKind::Create)?;
    if !create.as_ref().is_some_and(not_started) {
        return Ok(None);
    }
    cancel_before_start(tx, interview, create, requested_by, now).map(Some)
}

/// [`OperationStore::extend`](super::OperationStore::extend).
pub(crate) fn extend(
    tx: &mut impl Records,
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
    if tx.operation_of(id, OperationKind::Destroy)?.is_some() {
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

/// [`OperationStore::mark_warned`](super::OperationStore::mark_warned).
pub(crate) fn mark_warned(
    tx: &mut impl Records,
    id: &InterviewId,
    now: DateTime<Utc>,
) -> StoreResult<Option<Interview>> {
    let mut interview = require_interview(tx, id)?;
    // Same conditions as the warning queue: not warned, not over, not already being destroyed.
    if interview.warned_at.is_some()
        || interview.state.is_terminal()
        || tx.operation_of(id, OperationKind::Destroy)?.is_some()
    {
        return Ok(None);
    }
    interview.warned_at = Some(stored(now));
    save_interview(tx, &mut interview, now, FeedAs::Warning)?;
    Ok(Some(interview))
}

#[cfg(test)]
mod tests {
    //! The rules on their own, run synchronously against the in-memory transaction: what each
    //! write changes and records, in which order — what the conformance suite sees only from
    //! outside.

    use chrono::TimeZone;

    use super::*;
    use crate::domain::{ChallengeId, Platform};
    use crate::store::memory::MemoryStore;

    fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
            .single()
            .expect("a valid time")
    }

    fn ada() -> Requester {
        Requester {
            platform: Platform::Slack,
            user_id: "U1".into(),
            display_name: "Ada".into(),
        }
    }

    fn request(max_attempts: u32) -> NewInterview {
        NewInterview {
            id: InterviewId::generate(),
            challenge: ChallengeId::parse("python").expect("challenge"),
            candidate: Some("Grace".into()),
            requested_by: ada(),
            co_interviewers: Vec::new(),
            time_zone: "Europe/Paris".into(),
            start_at: t0() + Duration::minutes(5),
            length: InterviewLength::from_minutes(60).expect("length"),
            create_due_at: t0(),
            max_attempts,
        }
    }

    /// What the feed recorded, as `(kind, what)` pairs that read like a story.
    fn story(changes: &[(DateTime<Utc>, ChangeKind)]) -> Vec<String> {
        changes
            .iter()
            .map(|(_, kind)| match kind {
                ChangeKind::Interview { interview } => format!("interview {}", interview.state),
                ChangeKind::Warning { .. } => "warning".to_owned(),
                ChangeKind::Operation { operation } => {
                    format!("{} {}", operation.kind, operation.status)
                }
                ChangeKind::Logs { .. } => "logs".to_owned(),
            })
            .collect()
    }

    /// Runs `rule` and returns its result with the changes it recorded.
    fn recorded<T>(
        store: &MemoryStore,
        rule: impl FnOnce(&mut crate::store::memory::Pending<'_>) -> StoreResult<T>,
    ) -> (T, Vec<String>) {
        store
            .apply(|tx| {
                let out = rule(tx)?;
                Ok((out, story(tx.recorded())))
            })
            .expect("the rule succeeds")
    }

    #[test]
    fn creating_records_the_interview_then_its_create() {
        let store = MemoryStore::new();
        let new = request(3);
        let (created, story) = recorded(&store, |tx| create_interview(tx, &new, t0()));
        assert!(created.newly_created);
        assert_eq!(created.operation.status, OperationStatus::Pending);
        assert_eq!(story, ["interview scheduled", "create pending"]);
        // The same request again changes nothing and records nothing.
        let (again, story) = recorded(&store, |tx| create_interview(tx, &new, t0()));
        assert!(!again.newly_created);
        assert_eq!(again.interview, created.interview);
        assert!(story.is_empty(), "{story:?}");
    }

    #[test]
    fn failing_a_create_cleans_up_in_the_same_write_and_in_this_order() {
        let store = MemoryStore::new();
        let new = request(3);
        let (created, _) = recorded(&store, |tx| create_interview(tx, &new, t0()));
        let (claimed, story) = recorded(&store, |tx| {
            claim(
                tx,
                &created.operation.id,
                1,
                "w",
                t0() + Duration::minutes(1),
                t0(),
            )
        });
        let claimed = claimed.expect("claimed");
        assert_eq!(story, ["create running"]);
        assert_eq!(claimed.operation.version, 2);
        let (failed, story) = recorded(&store, |tx| fail(tx, &claimed.lease, "no capacity", t0()));
        assert_eq!(failed.status, OperationStatus::Failed);
        assert_eq!(failed.version, 3);
        // The create fails, its destroy is requested, then the interview fails — one write, so
        // a crash can never leave a failed interview without its cleanup.
        assert_eq!(
            story,
            ["create failed", "destroy pending", "interview failed"]
        );
    }

    #[test]
    fn a_claim_on_a_stale_version_changes_nothing() {
        let store = MemoryStore::new();
        let new = request(3);
        let (created, _) = recorded(&store, |tx| create_interview(tx, &new, t0()));
        let (claimed, story) = recorded(&store, |tx| {
            claim(
                tx,
                &created.operation.id,
                7,
                "w",
                t0() + Duration::minutes(1),
                t0(),
            )
        });
        assert!(claimed.is_none());
        assert!(story.is_empty(), "{story:?}");
    }

    #[test]
    fn a_claim_with_no_attempts_left_fails_for_good_instead() {
        let store = MemoryStore::new();
        let new = request(0);
        let (created, _) = recorded(&store, |tx| create_interview(tx, &new, t0()));
        let (claimed, story) = recorded(&store, |tx| {
            claim(
                tx,
                &created.operation.id,
                1,
                "w",
                t0() + Duration::minutes(1),
                t0(),
            )
        });
        assert!(claimed.is_none());
        assert_eq!(
            story,
            ["create failed", "destroy pending", "interview failed"]
        );
    }

    #[test]
    fn a_write_that_errors_leaves_the_records_and_the_feed_as_they_were() {
        let store = MemoryStore::new();
        let new = request(3);
        let (created, _) = recorded(&store, |tx| create_interview(tx, &new, t0()));
        let longer = InterviewLength::from_minutes(90).expect("length");
        let err = store
            .apply(|tx| {
                extend(tx, &new.id, longer, t0())?;
                Err::<(), _>(StoreError::Conflict("stop here".into()))
            })
            .expect_err("the write fails");
        assert!(matches!(err, StoreError::Conflict(_)));
        let (interview, story) = recorded(&store, |tx| tx.interview(&new.id));
        assert_eq!(interview, Some(created.interview));
        assert!(story.is_empty());
    }
}
