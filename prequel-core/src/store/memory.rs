//! In-memory backend: an [`OperationStore`] that lives and dies with its process.
//!
//! For tests and for embedders who want an engine without a file (a demo, a dry run, a tool that
//! schedules nothing durable). It runs the store's rules (`store/rules.rs`) like the other
//! backends and passes the same conformance suite; what it cannot give is durability, and it is
//! shared only by the handles of one process ([`Clone`] gives another handle on the same store,
//! as a second process would have on a file).
//!
//! # How the contract is kept
//!
//! * **Atomic writes.** One mutex guards the whole store; a write runs its rule against a
//!   pending overlay of the records it changes and applies the overlay only when the rule
//!   returns `Ok`, so a failed write changes nothing.
//! * **Indexed queues.** Every queue and listing is an ordered set of `(queue, key, id)` entries
//!   kept up to date by each write (the same keys SQLite's generated columns hold), read as a
//!   range: no call walks every record.
//! * **Change feed**: a counter and an ordered map, written under the same lock as the records.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};

use super::page::Listing;
use super::rules::{self, Records, plus, stored};
use super::{
    ApiToken, Change, ChangeBatch, ChangeCursor, ChangeKind, Claimed, Completion, Created,
    DEFAULT_RETENTION, DestroyRequested, InterviewScope, Lease, NewInterview, NextDue,
    OperationStore, Page, PageRequest, StoreError, StoreResult,
};
use crate::domain::{
    Interview, InterviewId, InterviewLength, InterviewState, LogLine, Operation, OperationId,
    OperationKind, OperationStatus, Platform, Requester,
};

/// The most changes one [`OperationStore::changes_since`] call returns (as in the other backends).
const MAX_CHANGES_PER_BATCH: u32 = 1000;

/// An [`OperationStore`] in this process's memory. Cloning gives another handle on the same store.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<State>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock happened before `apply`, so the state is whole.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs a rule on the records and applies what it changed, all or nothing.
    pub(super) fn apply<T>(
        &self,
        rule: impl FnOnce(&mut Pending<'_>) -> StoreResult<T>,
    ) -> StoreResult<T> {
        let mut state = self.lock();
        let mut pending = Pending::new(&state);
        let out = rule(&mut pending)?;
        let Pending {
            interviews,
            operations,
            changes,
            ..
        } = pending;
        state.commit(interviews, operations, changes);
        Ok(out)
    }
}

/// Which ordered set an index entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Queue {
    /// Every interview, by start time.
    AllByStart,
    /// Non-terminal interviews, by start time.
    OpenByStart,
    /// Non-terminal interviews without a destroy, by destroy time.
    DestroyDue,
    /// The same, not yet warned.
    WarnDue,
    /// Operations by when they become claimable (due, or just after an expired lease).
    Ready,
    /// Waiting operations, by due time.
    Waiting,
    /// Running operations, by lease expiry.
    LeaseExpiry,
    /// Terminal interviews, by retention time.
    ExpiringInterviews,
    /// Terminal operations, by retention time.
    ExpiringOperations,
    /// Claimed once-keys, by expiry.
    OnceKeys,
}

type Entry = (Queue, i64, String);

#[derive(Debug, Clone)]
struct StoredInterview {
    interview: Interview,
    request: String,
    notes: BTreeMap<String, String>,
}

#[derive(Debug, Default)]
struct State {
    interviews: HashMap<InterviewId, StoredInterview>,
    operations: HashMap<OperationId, Operation>,
    by_kind: HashMap<(InterviewId, OperationKind), OperationId>,
    logs: HashMap<OperationId, Vec<LogLine>>,
    changes: BTreeMap<u64, Change>,
    /// `(at, cursor)` of every change, for purging old ones.
    change_times: BTreeSet<(i64, u64)>,
    last_change: u64,
    settings: HashMap<(Platform, String, String), String>,
    once_keys: HashMap<String, DateTime<Utc>>,
    tokens: HashMap<String, ApiToken>,
    index: BTreeSet<Entry>,
}

fn ms(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// The index entries of an interview (the keys SQLite's generated columns hold).
fn interview_entries(interview: &Interview, has_destroy: bool) -> Vec<(Queue, i64)> {
    let mut entries = vec![(Queue::AllByStart, ms(interview.start_at))];
    if !interview.state.is_terminal() {
        entries.push((Queue::OpenByStart, ms(interview.start_at)));
        if !has_destroy {
            entries.push((Queue::DestroyDue, ms(interview.destroy_at)));
            if interview.warned_at.is_none() {
                entries.push((Queue::WarnDue, ms(interview.destroy_at)));
            }
        }
    }
    if let Some(expires) = interview.expires_at {
        entries.push((Queue::ExpiringInterviews, ms(expires)));
    }
    entries
}

/// The index entries of an operation.
fn operation_entries(operation: &Operation) -> Vec<(Queue, i64)> {
    let mut entries = Vec::new();
    match operation.status {
        OperationStatus::Pending | OperationStatus::Scheduled => {
            entries.push((Queue::Ready, ms(operation.due_at)));
            entries.push((Queue::Waiting, ms(operation.due_at)));
        }
        OperationStatus::Running => {
            if let Some(until) = operation.lease_until {
                entries.push((Queue::Ready, ms(until).saturating_add(1)));
                entries.push((Queue::LeaseExpiry, ms(until)));
            }
        }
        _ => {}
    }
    if let Some(expires) = operation.expires_at {
        entries.push((Queue::ExpiringOperations, ms(expires)));
    }
    entries
}

impl State {
    fn has_destroy(&self, interview: &InterviewId) -> bool {
        self.by_kind
            .contains_key(&(interview.clone(), OperationKind::Destroy))
    }

    fn index_interview(&mut self, id: &InterviewId, add: bool) {
        let Some(stored) = self.interviews.get(id) else {
            return;
        };
        for (queue, key) in interview_entries(&stored.interview, self.has_destroy(id)) {
            let entry = (queue, key, id.as_str().to_owned());
            if add {
                self.index.insert(entry);
            } else {
                self.index.remove(&entry);
            }
        }
    }

    fn index_operation(&mut self, id: &OperationId, add: bool) {
        let Some(operation) = self.operations.get(id) else {
            return;
        };
        for (queue, key) in operation_entries(operation) {
            let entry = (queue, key, id.as_str().to_owned());
            if add {
                self.index.insert(entry);
            } else {
                self.index.remove(&entry);
            }
        }
    }

    /// Applies a write: its records, their index entries and its changes.
    fn commit(
        &mut self,
        interviews: HashMap<InterviewId, (Interview, Option<String>)>,
        operations: HashMap<OperationId, Operation>,
        changes: Vec<(DateTime<Utc>, ChangeKind)>,
    ) {
        // An interview's entries depend on its operations (a destroy takes it out of the
        // destroy and warning queues), so every interview an operation belongs to is reindexed.
        let mut touched: BTreeSet<InterviewId> = interviews.keys().cloned().collect();
        touched.extend(operations.values().map(|op| op.interview_id.clone()));
        for id in &touched {
            self.index_interview(id, false);
        }
        for id in operations.keys() {
            self.index_operation(id, false);
        }
        for (id, (interview, request)) in interviews {
            match (self.interviews.get_mut(&id), request) {
                (Some(stored), _) => stored.interview = interview,
                (None, request) => {
                    self.interviews.insert(
                        id,
                        StoredInterview {
                            interview,
                            request: request.unwrap_or_default(),
                            notes: BTreeMap::new(),
                        },
                    );
                }
            }
        }
        for (id, operation) in operations {
            self.by_kind
                .insert((operation.interview_id.clone(), operation.kind), id.clone());
            self.operations.insert(id, operation);
        }
        for id in &touched {
            self.index_interview(id, true);
        }
        let ids: Vec<OperationId> = touched
            .iter()
            .flat_map(|interview| {
                [OperationKind::Create, OperationKind::Destroy]
                    .into_iter()
                    .filter_map(|kind| self.by_kind.get(&(interview.clone(), kind)).cloned())
            })
            .collect();
        for id in &ids {
            // Re-adding an unchanged operation's entries is a no-op; a changed one was removed.
            self.index_operation(id, true);
        }
        for (at, kind) in changes {
            self.push_change(at, kind);
        }
    }

    fn push_change(&mut self, at: DateTime<Utc>, kind: ChangeKind) {
        self.last_change += 1;
        let cursor = ChangeCursor(self.last_change);
        self.change_times.insert((ms(at), self.last_change));
        self.changes
            .insert(self.last_change, Change { cursor, at, kind });
    }

    /// One page of `queue` entries with key `<= max_key`, after the page token.
    fn page<T>(
        &self,
        queue: Queue,
        listing: Listing,
        max_key: i64,
        page: &PageRequest,
        item: impl Fn(&str) -> Option<T>,
    ) -> StoreResult<Page<T>> {
        let (after_key, after_id) = listing.keyset(page.after.as_ref())?;
        let limit = page.effective_limit() as usize;
        let range = (
            Bound::Excluded((queue, after_key, after_id)),
            Bound::Included((queue, max_key, char::MAX.to_string())),
        );
        let mut entries: Vec<&Entry> = self.index.range(range).take(limit + 1).collect();
        let next = if entries.len() > limit {
            entries.truncate(limit);
            entries
                .last()
                .map(|(_, key, id)| listing.keyset_token(*key, id))
        } else {
            None
        };
        let items = entries.iter().filter_map(|(_, _, id)| item(id)).collect();
        Ok(Page { items, next })
    }

    fn interview_by_str(&self, id: &str) -> Option<Interview> {
        let id = InterviewId::parse(id).ok()?;
        self.interviews.get(&id).map(|s| s.interview.clone())
    }

    fn operation_by_str(&self, id: &str) -> Option<Operation> {
        let id = OperationId::parse(id).ok()?;
        self.operations.get(&id).cloned()
    }

    fn first(&self, queue: Queue) -> Option<DateTime<Utc>> {
        let start = (queue, i64::MIN, String::new());
        self.index
            .range(start..)
            .next()
            .filter(|(q, _, _)| *q == queue)
            .and_then(|(_, key, _)| DateTime::from_timestamp_millis(*key))
    }

    fn remove_interview(&mut self, id: &InterviewId) {
        self.index_interview(id, false);
        for kind in [OperationKind::Create, OperationKind::Destroy] {
            if let Some(op) = self.by_kind.get(&(id.clone(), kind)).cloned() {
                self.remove_operation(&op);
            }
        }
        self.interviews.remove(id);
    }

    fn remove_operation(&mut self, id: &OperationId) {
        self.index_operation(id, false);
        if let Some(op) = self.operations.remove(id) {
            let key = (op.interview_id, op.kind);
            if self.by_kind.get(&key) == Some(id) {
                self.by_kind.remove(&key);
            }
        }
        self.logs.remove(id);
    }

    /// The ids of `queue` entries whose key is `< before`.
    fn due_before(&self, queue: Queue, before: i64) -> Vec<String> {
        let range = (
            Bound::Included((queue, i64::MIN, String::new())),
            Bound::Excluded((queue, before, String::new())),
        );
        self.index
            .range(range)
            .map(|(_, _, id)| id.clone())
            .collect()
    }
}

/// One write's view of the records: the store as it is, under what the write changed so far.
#[derive(Debug)]
pub(super) struct Pending<'s> {
    state: &'s State,
    /// Interviews written, with the creating request for new ones.
    interviews: HashMap<InterviewId, (Interview, Option<String>)>,
    operations: HashMap<OperationId, Operation>,
    changes: Vec<(DateTime<Utc>, ChangeKind)>,
}

impl<'s> Pending<'s> {
    fn new(state: &'s State) -> Self {
        Self {
            state,
            interviews: HashMap::new(),
            operations: HashMap::new(),
            changes: Vec::new(),
        }
    }

    /// The changes this write recorded so far (for the rules' own tests).
    #[cfg(test)]
    pub(super) fn recorded(&self) -> &[(DateTime<Utc>, ChangeKind)] {
        &self.changes
    }

    fn version_conflict(what: String) -> StoreError {
        StoreError::Conflict(format!("{what} changed while it was being written"))
    }
}

impl Records for Pending<'_> {
    fn interview(&self, id: &InterviewId) -> StoreResult<Option<Interview>> {
        Ok(match self.interviews.get(id) {
            Some((interview, _)) => Some(interview.clone()),
            None => self.state.interviews.get(id).map(|s| s.interview.clone()),
        })
    }

    fn creating_request(&self, id: &InterviewId) -> StoreResult<Option<String>> {
        Ok(match self.interviews.get(id) {
            Some((_, Some(request))) => Some(request.clone()),
            _ => self.state.interviews.get(id).map(|s| s.request.clone()),
        })
    }

    fn operation(&self, id: &OperationId) -> StoreResult<Option<Operation>> {
        Ok(self
            .operations
            .get(id)
            .or_else(|| self.state.operations.get(id))
            .cloned())
    }

    fn operation_of(
        &self,
        interview: &InterviewId,
        kind: OperationKind,
    ) -> StoreResult<Option<Operation>> {
        if let Some(op) = self
            .operations
            .values()
            .find(|op| &op.interview_id == interview && op.kind == kind)
        {
            return Ok(Some(op.clone()));
        }
        match self.state.by_kind.get(&(interview.clone(), kind)) {
            Some(id) => self.operation(id),
            None => Ok(None),
        }
    }

    fn new_operation_id(
        &self,
        _interview: &InterviewId,
        _kind: OperationKind,
    ) -> StoreResult<OperationId> {
        Ok(OperationId::generate())
    }

    fn insert_interview(&mut self, interview: &Interview, request: &str) -> StoreResult<()> {
        if self.interview(&interview.id)?.is_some() {
            return Err(StoreError::Conflict(format!(
                "interview {} already exists",
                interview.id
            )));
        }
        self.interviews.insert(
            interview.id.clone(),
            (interview.clone(), Some(request.to_owned())),
        );
        Ok(())
    }

    fn insert_operation(&mut self, operation: &Operation) -> StoreResult<()> {
        if self
            .operation_of(&operation.interview_id, operation.kind)?
            .is_some()
        {
            return Err(StoreError::Conflict(format!(
                "interview {} already has a {} operation",
                operation.interview_id, operation.kind
            )));
        }
        self.operations
            .insert(operation.id.clone(), operation.clone());
        Ok(())
    }

    fn update_interview(&mut self, interview: &Interview, read_version: u64) -> StoreResult<()> {
        let current = self.interview(&interview.id)?;
        if current.map(|i| i.version) != Some(read_version) {
            return Err(Self::version_conflict(format!(
                "interview {}",
                interview.id
            )));
        }
        let request = self
            .interviews
            .get(&interview.id)
            .and_then(|(_, request)| request.clone());
        self.interviews
            .insert(interview.id.clone(), (interview.clone(), request));
        Ok(())
    }

    fn update_operation(&mut self, operation: &Operation, read_version: u64) -> StoreResult<()> {
        let current = self.operation(&operation.id)?;
        if current.map(|op| op.version) != Some(read_version) {
            return Err(Self::version_conflict(format!(
                "operation {}",
                operation.id
            )));
        }
        self.operations
            .insert(operation.id.clone(), operation.clone());
        Ok(())
    }

    fn record_change(&mut self, at: DateTime<Utc>, kind: ChangeKind) -> StoreResult<()> {
        self.changes.push((at, kind));
        Ok(())
    }
}

fn not_found(what: impl std::fmt::Display) -> StoreError {
    StoreError::NotFound {
        what: what.to_string(),
    }
}

#[async_trait]
impl OperationStore for MemoryStore {
    async fn create_interview(
        &self,
        new: &NewInterview,
        now: DateTime<Utc>,
    ) -> StoreResult<Created> {
        self.apply(|tx| rules::create_interview(tx, new, now))
    }

    async fn interview(&self, id: &InterviewId) -> StoreResult<Option<Interview>> {
        Ok(self.lock().interviews.get(id).map(|s| s.interview.clone()))
    }

    async fn list_interviews(
        &self,
        scope: InterviewScope,
        page: &PageRequest,
    ) -> StoreResult<Page<Interview>> {
        let (queue, listing) = match scope {
            InterviewScope::Open => (Queue::OpenByStart, Listing::OpenInterviews),
            InterviewScope::All => (Queue::AllByStart, Listing::AllInterviews),
        };
        let state = self.lock();
        state.page(queue, listing, i64::MAX, page, |id| {
            state.interview_by_str(id)
        })
    }

    async fn operation(&self, id: &OperationId) -> StoreResult<Option<Operation>> {
        Ok(self.lock().operations.get(id).cloned())
    }

    async fn operations_for(&self, interview: &InterviewId) -> StoreResult<Vec<Operation>> {
        let state = self.lock();
        let mut operations: Vec<Operation> = [OperationKind::Create, OperationKind::Destroy]
            .into_iter()
            .filter_map(|kind| state.by_kind.get(&(interview.clone(), kind)))
            .filter_map(|id| state.operations.get(id).cloned())
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
        let state = self.lock();
        if !state.operations.contains_key(operation) {
            return Err(not_found(format!("operation {operation}")));
        }
        let (after, _) = Listing::Logs.keyset(page.after.as_ref())?;
        let start = usize::try_from(after.saturating_add(1)).unwrap_or(0);
        let limit = page.effective_limit() as usize;
        let lines = state.logs.get(operation).map_or(&[][..], Vec::as_slice);
        let items: Vec<LogLine> = lines.iter().skip(start).take(limit).cloned().collect();
        let last = start + items.len();
        let next = (last < lines.len() && !items.is_empty())
            .then(|| Listing::Logs.keyset_token(i64::try_from(last - 1).unwrap_or(i64::MAX), ""));
        Ok(Page { items, next })
    }

    async fn due_operations(
        &self,
        now: DateTime<Utc>,
        page: &PageRequest,
    ) -> StoreResult<Page<Operation>> {
        let state = self.lock();
        state.page(Queue::Ready, Listing::DueOperations, ms(now), page, |id| {
            state.operation_by_str(id)
        })
    }

    async fn claim(
        &self,
        operation: &OperationId,
        expected_version: u64,
        holder: &str,
        lease_until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Claimed>> {
        self.apply(|tx| rules::claim(tx, operation, expected_version, holder, lease_until, now))
    }

    async fn renew_lease(
        &self,
        lease: &Lease,
        until: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Lease> {
        self.apply(|tx| rules::renew_lease(tx, lease, until, now))
    }

    async fn record_progress(
        &self,
        lease: &Lease,
        state: InterviewState,
        now: DateTime<Utc>,
    ) -> StoreResult<Interview> {
        self.apply(|tx| rules::record_progress(tx, lease, state, now))
    }

    async fn append_logs(
        &self,
        operation: &OperationId,
        lines: &[LogLine],
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let mut state = self.lock();
        let interview_id = state
            .operations
            .get(operation)
            .map(|op| op.interview_id.clone())
            .ok_or_else(|| not_found(format!("operation {operation}")))?;
        if lines.is_empty() {
            return Ok(());
        }
        let lines: Vec<LogLine> = lines
            .iter()
            .map(|line| LogLine {
                at: stored(line.at),
                message: line.message.clone(),
            })
            .collect();
        state
            .logs
            .entry(operation.clone())
            .or_default()
            .extend(lines.iter().cloned());
        state.push_change(
            stored(now),
            ChangeKind::Logs {
                operation_id: operation.clone(),
                interview_id,
                lines,
            },
        );
        Ok(())
    }

    async fn complete(
        &self,
        lease: &Lease,
        completion: Completion,
        now: DateTime<Utc>,
    ) -> StoreResult<Operation> {
        self.apply(|tx| rules::complete(tx, lease, completion, now))
    }

    async fn retry_later(
        &self,
        lease: &Lease,
        error: &str,
        retry_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<Operation> {
        self.apply(|tx| rules::retry_later(tx, lease, error, retry_at, now))
    }

    async fn fail(
        &self,
        lease: &Lease,
        reason: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Operation> {
        self.apply(|tx| rules::fail(tx, lease, reason, now))
    }

    async fn request_destroy(
        &self,
        interview: &InterviewId,
        requested_by: &Requester,
        max_attempts: u32,
        now: DateTime<Utc>,
    ) -> StoreResult<DestroyRequested> {
        self.apply(|tx| rules::request_destroy(tx, interview, requested_by, max_attempts, now))
    }

    async fn cancel(
        &self,
        interview: &InterviewId,
        requested_by: &Requester,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Interview>> {
        self.apply(|tx| rules::cancel(tx, interview, requested_by, now))
    }

    async fn extend(
        &self,
        interview: &InterviewId,
        new_length: InterviewLength,
        now: DateTime<Utc>,
    ) -> StoreResult<Interview> {
        self.apply(|tx| rules::extend(tx, interview, new_length, now))
    }

    async fn due_destroys(
        &self,
        now: DateTime<Utc>,
        page: &PageRequest,
    ) -> StoreResult<Page<Interview>> {
        let state = self.lock();
        state.page(
            Queue::DestroyDue,
            Listing::DueDestroys,
            ms(now),
            page,
            |id| state.interview_by_str(id),
        )
    }

    async fn due_warnings(
        &self,
        now: DateTime<Utc>,
        warn_before: Duration,
        page: &PageRequest,
    ) -> StoreResult<Page<Interview>> {
        let until = ms(plus(now, warn_before));
        let state = self.lock();
        state.page(Queue::WarnDue, Listing::DueWarnings, until, page, |id| {
            state.interview_by_str(id)
        })
    }

    async fn mark_warned(
        &self,
        interview: &InterviewId,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<Interview>> {
        self.apply(|tx| rules::mark_warned(tx, interview, now))
    }

    async fn next_due(&self, warn_before: Duration) -> StoreResult<NextDue> {
        let state = self.lock();
        Ok(NextDue {
            operation: state.first(Queue::Waiting),
            lease_expiry: state.first(Queue::LeaseExpiry),
            destroy: state.first(Queue::DestroyDue),
            warning: state
                .first(Queue::WarnDue)
                .map(|at| at.checked_sub_signed(warn_before).unwrap_or(at)),
        })
    }

    async fn changes_since(&self, cursor: ChangeCursor, limit: u32) -> StoreResult<ChangeBatch> {
        let limit = limit.clamp(1, MAX_CHANGES_PER_BATCH) as usize;
        let state = self.lock();
        let changes: Vec<Change> = state
            .changes
            .range((Bound::Excluded(cursor.0), Bound::Unbounded))
            .take(limit)
            .map(|(_, change)| change.clone())
            .collect();
        let cursor = changes.last().map_or(cursor, |change| change.cursor);
        Ok(ChangeBatch { changes, cursor })
    }

    async fn latest_change(&self) -> StoreResult<ChangeCursor> {
        Ok(ChangeCursor(self.lock().last_change))
    }

    async fn put_note(
        &self,
        interview: &InterviewId,
        key: &str,
        value: &str,
        only_if_absent: bool,
        _now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut state = self.lock();
        let stored = state
            .interviews
            .get_mut(interview)
            .ok_or_else(|| not_found(format!("interview {interview}")))?;
        if only_if_absent && stored.notes.contains_key(key) {
            return Ok(false);
        }
        stored.notes.insert(key.to_owned(), value.to_owned());
        Ok(true)
    }

    async fn notes(&self, interview: &InterviewId) -> StoreResult<BTreeMap<String, String>> {
        Ok(self
            .lock()
            .interviews
            .get(interview)
            .map(|s| s.notes.clone())
            .unwrap_or_default())
    }

    async fn put_user_setting(
        &self,
        platform: Platform,
        user_id: &str,
        key: &str,
        value: &str,
        _now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.lock().settings.insert(
            (platform, user_id.to_owned(), key.to_owned()),
            value.to_owned(),
        );
        Ok(())
    }

    async fn user_setting(
        &self,
        platform: Platform,
        user_id: &str,
        key: &str,
    ) -> StoreResult<Option<String>> {
        Ok(self
            .lock()
            .settings
            .get(&(platform, user_id.to_owned(), key.to_owned()))
            .cloned())
    }

    async fn claim_once(
        &self,
        key: &str,
        expires_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        let mut state = self.lock();
        if let Some(until) = state.once_keys.get(key).copied() {
            if until > now {
                return Ok(false);
            }
            state
                .index
                .remove(&(Queue::OnceKeys, ms(until), key.to_owned()));
        }
        state.once_keys.insert(key.to_owned(), expires_at);
        state
            .index
            .insert((Queue::OnceKeys, ms(expires_at), key.to_owned()));
        Ok(true)
    }

    async fn insert_api_token(&self, token: &ApiToken) -> StoreResult<()> {
        let mut state = self.lock();
        if state.tokens.contains_key(&token.id) {
            return Err(StoreError::Conflict(format!(
                "an API token with id {} exists",
                token.id
            )));
        }
        state.tokens.insert(token.id.clone(), token.clone());
        Ok(())
    }

    async fn api_token(&self, id: &str) -> StoreResult<Option<ApiToken>> {
        Ok(self.lock().tokens.get(id).cloned())
    }

    async fn api_tokens(&self) -> StoreResult<Vec<ApiToken>> {
        let mut tokens: Vec<ApiToken> = self.lock().tokens.values().cloned().collect();
        tokens.sort_by(|a, b| (a.created_at, &a.id).cmp(&(b.created_at, &b.id)));
        Ok(tokens)
    }

    async fn revoke_api_token(
        &self,
        id: &str,
        now: DateTime<Utc>,
    ) -> StoreResult<Option<ApiToken>> {
        let mut state = self.lock();
        Ok(state.tokens.get_mut(id).map(|token| {
            token.revoked_at.get_or_insert(stored(now));
            token.clone()
        }))
    }

    async fn touch_api_token(&self, id: &str, now: DateTime<Utc>) -> StoreResult<()> {
        if let Some(token) = self.lock().tokens.get_mut(id) {
            token.last_used_at = Some(stored(now));
        }
        Ok(())
    }

    async fn purge_expired(&self, now: DateTime<Utc>) -> StoreResult<u64> {
        let mut state = self.lock();
        let mut purged = 0;
        // Claims expire at `expires_at` itself (`<=`), records after it (`<`), as in SQLite.
        for key in state.due_before(Queue::OnceKeys, ms(now).saturating_add(1)) {
            if let Some(until) = state.once_keys.remove(&key) {
                state.index.remove(&(Queue::OnceKeys, ms(until), key));
            }
        }
        // As in SQLite: expired operations, then expired interviews with whatever is theirs.
        for id in state.due_before(Queue::ExpiringOperations, ms(now)) {
            if let Ok(id) = OperationId::parse(&id) {
                state.remove_operation(&id);
                purged += 1;
            }
        }
        for id in state.due_before(Queue::ExpiringInterviews, ms(now)) {
            if let Ok(id) = InterviewId::parse(&id) {
                state.remove_interview(&id);
                purged += 1;
            }
        }
        let cutoff = ms(now.checked_sub_signed(DEFAULT_RETENTION).unwrap_or(now));
        let old: Vec<(i64, u64)> = state.change_times.range(..(cutoff, 0)).copied().collect();
        for entry in old {
            state.change_times.remove(&entry);
            state.changes.remove(&entry.1);
        }
        Ok(purged)
    }
}
