//! The scheduler: one loop per process that makes interviews start and end on time.
//!
//! It sleeps until the earliest of: the next create due (start minus lead time), the next
//! destroy time, the next retry, the next lease expiry (a crashed worker's work to resume), the
//! next destroy warning, and a poll cap (the safety net). It wakes at once when this process
//! records new work. Every piece of work is claimed from the store with a lease, so any number of
//! schedulers — in this process or others, on the same store — do each piece exactly once.
//!
//! A worker renews its lease while it works; if it loses the lease (it stalled and another
//! process took over) it stops. A start missed by more than the grace period fails the interview
//! with reason `missed` instead of running it late; a missed destroy simply runs at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use rand::Rng;
use tokio::sync::{Mutex, Notify, Semaphore, watch};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::clock::Clock;
use crate::domain::{
    InterviewId, InterviewState, LogLine, Operation, OperationKind, OperationStatus, Platform,
    Requester,
};
use crate::events::{Event, EventBus, SchedulerEvent, SchedulerEventKind};
use crate::metrics::Histogram;
use crate::provision::{InstanceSpec, Progress, ProvisionError, Provisioner};
use crate::secrets::SecretStore;
use crate::store::{
    Claimed, Completion, Lease, OperationStore, PageRequest, StoreError, StoreResult,
};

/// How the scheduler paces itself. `Default` gives the production values.
#[derive(Debug, Clone)]
pub struct SchedulerConfig {
    /// This process's name in leases and logs (host and pid by default).
    pub worker_name: String,
    /// How long before the start a create is claimed, so the instance is active *at* the start.
    pub lead_time: Duration,
    /// How late a start may be before the interview is failed as `missed` instead of run late.
    pub start_grace: Duration,
    /// The longest the loop sleeps without looking at the store (the safety net).
    pub poll_cap: Duration,
    /// How long a claim lasts without renewal; renewed every third of it.
    pub lease: Duration,
    /// Claims an operation gets before it is failed for good.
    pub max_attempts: u32,
    /// First retry delay; doubled each attempt, with jitter.
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_cap: Duration,
    /// How long before the destroy time the requester is warned.
    pub warn_before: Duration,
    /// Operations this process works on at once.
    pub max_concurrent: usize,
    /// Lines buffered before a log batch is written (also flushed at every stage and at the end).
    pub log_batch: usize,
}

impl Default for SchedulerConfig {
    fn default() -> Self {
        Self {
            worker_name: default_worker_name(),
            lead_time: Duration::minutes(5),
            start_grace: Duration::minutes(15),
            poll_cap: Duration::seconds(30),
            lease: Duration::seconds(60),
            max_attempts: 4,
            retry_base: Duration::seconds(15),
            retry_cap: Duration::minutes(2),
            warn_before: Duration::minutes(10),
            max_concurrent: 32,
            log_batch: 20,
        }
    }
}

fn default_worker_name() -> String {
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "prequel".to_owned());
    format!("{host}:{}", std::process::id())
}

/// The requester recorded on operations the scheduler starts by itself (time-up destroys).
pub fn scheduler_requester() -> Requester {
    Requester {
        platform: Platform::Api,
        user_id: "scheduler".to_owned(),
        display_name: "Prequel scheduler".to_owned(),
    }
}

/// Counters a benchmark or `/metrics` can read. Shared (`Arc`) between the scheduler, which
/// records, and the facade ([`crate::Prequel::stats`]), which hands it to readers; every field is
/// an atomic, so recording never waits for a reader. Counts are this process's since it started.
#[derive(Debug)]
pub struct SchedulerStats {
    /// Operations claimed by this scheduler.
    pub claimed: AtomicU64,
    /// Claims lost to another scheduler.
    pub lost_races: AtomicU64,
    /// Loop iterations.
    pub ticks: AtomicU64,
    /// Claim time minus due time of every operation this scheduler claimed, in seconds: how
    /// late work starts (a busy or stalled scheduler shows here first).
    pub lateness: Histogram,
    /// From the claim of a create to its instance being active, in seconds (successful creates
    /// only; failures show in [`SchedulerStats::operations`]).
    pub provisioning: Histogram,
    /// `[kind][result]`, see [`SchedulerStats::operations`].
    outcomes: [[AtomicU64; OperationResult::ALL.len()]; 2],
    /// The start of the latest loop pass, milliseconds since the Unix epoch on the scheduler's
    /// clock; `i64::MIN` before the first.
    last_tick_ms: AtomicI64,
}

/// Upper bounds of [`SchedulerStats::lateness`], in seconds: a healthy scheduler claims within
/// milliseconds of the due time; the poll cap (30 s) and a backlog show in the upper buckets.
pub const LATENESS_BUCKETS: [f64; 14] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
];

/// Upper bounds of [`SchedulerStats::provisioning`], in seconds: a local code-server is active
/// in a few seconds, a cloud task in one to three minutes.
pub const PROVISIONING_BUCKETS: [f64; 12] = [
    0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 180.0, 300.0, 600.0,
];

/// How an operation's attempt ended, as counted in [`SchedulerStats::operations`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperationResult {
    /// The operation is done.
    Completed = 0,
    /// The operation failed for good (a permanent error, or the last attempt).
    Failed = 1,
    /// The attempt failed and another is scheduled.
    Retried = 2,
}

impl OperationResult {
    /// Every result, in the order of their discriminants (which index the counters).
    pub const ALL: [Self; 3] = [Self::Completed, Self::Failed, Self::Retried];

    /// The result's name in metrics (`completed`, `failed`, `retried`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Retried => "retried",
        }
    }
}

impl Default for SchedulerStats {
    fn default() -> Self {
        Self {
            claimed: AtomicU64::new(0),
            lost_races: AtomicU64::new(0),
            ticks: AtomicU64::new(0),
            lateness: Histogram::new(&LATENESS_BUCKETS),
            provisioning: Histogram::new(&PROVISIONING_BUCKETS),
            outcomes: Default::default(),
            last_tick_ms: AtomicI64::new(i64::MIN),
        }
    }
}

impl SchedulerStats {
    /// Attempts of `kind` that ended with `result`.
    pub fn operations(&self, kind: OperationKind, result: OperationResult) -> u64 {
        self.outcomes[kind_index(kind)][result as usize].load(Ordering::Relaxed)
    }

    /// When the latest loop pass started (on the scheduler's clock); `None` before the first,
    /// that is, when the scheduler never ran.
    pub fn last_tick(&self) -> Option<DateTime<Utc>> {
        match self.last_tick_ms.load(Ordering::Relaxed) {
            i64::MIN => None,
            ms => DateTime::from_timestamp_millis(ms),
        }
    }

    fn record(&self, kind: OperationKind, result: OperationResult) {
        self.outcomes[kind_index(kind)][result as usize].fetch_add(1, Ordering::Relaxed);
    }

    fn tick(&self, now: DateTime<Utc>) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
        self.last_tick_ms
            .store(now.timestamp_millis(), Ordering::Relaxed);
    }
}

fn kind_index(kind: OperationKind) -> usize {
    match kind {
        OperationKind::Create => 0,
        OperationKind::Destroy => 1,
    }
}

/// The scheduler. Cheap to clone handles are not needed: run it once per process with
/// [`Scheduler::run`].
#[derive(Debug)]
pub struct Scheduler {
    store: Arc<dyn OperationStore>,
    provisioner: Arc<dyn Provisioner>,
    secrets: Arc<dyn SecretStore>,
    clock: Arc<dyn Clock>,
    bus: EventBus,
    config: SchedulerConfig,
    new_work: Arc<Notify>,
    stats: Arc<SchedulerStats>,
}

/// The backends a scheduler drives.
#[derive(Debug, Clone)]
pub struct Backends {
    /// Where the work is claimed from.
    pub store: Arc<dyn OperationStore>,
    /// What makes and unmakes instances.
    pub provisioner: Arc<dyn Provisioner>,
    /// Where interview passwords live.
    pub secrets: Arc<dyn SecretStore>,
    /// The time.
    pub clock: Arc<dyn Clock>,
}

impl Scheduler {
    /// A scheduler over these backends. `new_work` is rung by whoever records work in this
    /// process (the facade) so the loop does not wait for its next wake-up time.
    pub fn new(
        backends: Backends,
        bus: EventBus,
        config: SchedulerConfig,
        new_work: Arc<Notify>,
    ) -> Self {
        let Backends {
            store,
            provisioner,
            secrets,
            clock,
        } = backends;
        Self {
            store,
            provisioner,
            secrets,
            clock,
            bus,
            config,
            new_work,
            stats: Arc::new(SchedulerStats::default()),
        }
    }

    /// Records into `stats` instead of counters of its own (the facade shares its counters this
    /// way, so they can be read before and after the scheduler runs).
    pub fn with_stats(mut self, stats: Arc<SchedulerStats>) -> Self {
        self.stats = stats;
        self
    }

    /// The scheduler's counters.
    pub fn stats(&self) -> Arc<SchedulerStats> {
        self.stats.clone()
    }

    /// Runs until `shutdown` turns true, then stops claiming and waits for the work in hand.
    ///
    /// Work in hand at shutdown is abandoned, not finished: its lease expires and the next
    /// scheduler resumes it (provisioners are idempotent), so a stop never waits minutes.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let this = Arc::new(self);
        let permits = Arc::new(Semaphore::new(this.config.max_concurrent.max(1)));
        let worker_done = Arc::new(Notify::new());
        let mut workers = JoinSet::new();
        this.note(
            None,
            SchedulerEventKind::Started,
            format!("scheduler {} started", this.config.worker_name),
        );
        loop {
            if *shutdown.borrow() {
                break;
            }
            this.stats.tick(this.clock.now());
            let progress = match this.tick(&permits, &worker_done, &mut workers).await {
                Ok(progress) => progress,
                Err(err) => {
                    tracing::warn!(error = %err, "scheduler pass failed; retrying");
                    this.note(
                        None,
                        SchedulerEventKind::StoreError,
                        format!("store error: {err}"),
                    );
                    false
                }
            };
            while workers.try_join_next().is_some() {}
            let wake = this.next_wake(progress).await;
            tokio::select! {
                _ = wake.wait(this.clock.as_ref()) => {}
                _ = this.new_work.notified() => {}
                _ = worker_done.notified() => {}
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        workers.abort_all();
        while workers.join_next().await.is_some() {}
        this.note(
            None,
            SchedulerEventKind::Stopped,
            format!("scheduler {} stopped", this.config.worker_name),
        );
    }

    /// When to look at the store next.
    async fn next_wake(&self, made_progress: bool) -> Wake {
        let now = self.clock.now();
        let cap = now + self.config.poll_cap;
        let next = match self.store.next_due(self.config.warn_before).await {
            Ok(mut next) => {
                // An expired lease is claimable from the millisecond after `lease_until`.
                next.lease_expiry = next.lease_expiry.map(|t| t + Duration::milliseconds(1));
                next.earliest().unwrap_or(cap).min(cap)
            }
            // The store is unreachable: try again soon, but not in a tight loop.
            Err(_) => return Wake::Pause(std::time::Duration::from_secs(1)),
        };
        // Work that is due but could not be taken (all permits busy, a destroy waiting for its
        // create) would make the loop spin; without progress, look again after a short pause —
        // a finishing worker rings `worker_done` sooner.
        if !made_progress && next <= now {
            Wake::Pause(std::time::Duration::from_millis(250))
        } else {
            Wake::At(next)
        }
    }

    /// One pass: request due destroys, issue due warnings, claim due operations. Returns
    /// whether anything was done.
    async fn tick(
        self: &Arc<Self>,
        permits: &Arc<Semaphore>,
        worker_done: &Arc<Notify>,
        workers: &mut JoinSet<()>,
    ) -> StoreResult<bool> {
        let mut progress = false;
        let now = self.clock.now();
        progress |= self.request_due_destroys(now).await?;
        progress |= self.issue_due_warnings(now).await?;

        let mut page = PageRequest::first(100);
        loop {
            let due = self.store.due_operations(now, &page).await?;
            let mut ops = due.items;
            // Peers read the same due list at the same moment; taking it in a different order
            // each makes them collide on fewer claims.
            shuffle(&mut ops);
            for op in ops {
                let Ok(permit) = permits.clone().try_acquire_owned() else {
                    return Ok(progress);
                };
                let lease_until = now + self.config.lease;
                match self
                    .store
                    .claim(
                        &op.id,
                        op.version,
                        &self.config.worker_name,
                        lease_until,
                        now,
                    )
                    .await?
                {
                    Some(claimed) => {
                        progress = true;
                        self.stats.claimed.fetch_add(1, Ordering::Relaxed);
                        self.stats.lateness.observe_duration(now - op.due_at);
                        let this = self.clone();
                        let done = worker_done.clone();
                        let span = tracing::info_span!("operation", interview = %claimed.interview.id, kind = %claimed.operation.kind);
                        workers.spawn(
                            async move {
                                this.work(claimed).await;
                                drop(permit);
                                done.notify_one();
                            }
                            .instrument(span),
                        );
                    }
                    None => {
                        self.stats.lost_races.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            match due.next {
                Some(token) => page = PageRequest::after(100, token),
                None => break,
            }
        }
        Ok(progress)
    }

    async fn request_due_destroys(&self, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut progress = false;
        let mut page = PageRequest::first(100);
        loop {
            let due = self.store.due_destroys(now, &page).await?;
            for interview in due.items {
                self.store
                    .request_destroy(
                        &interview.id,
                        &scheduler_requester(),
                        self.config.max_attempts,
                        now,
                    )
                    .await?;
                progress = true;
                self.note(
                    Some(interview.id.clone()),
                    SchedulerEventKind::DestroyDue,
                    format!(
                        "interview {} reached its end time; destroying",
                        interview.id
                    ),
                );
            }
            match due.next {
                Some(token) => page = PageRequest::after(100, token),
                None => break,
            }
        }
        if progress {
            self.bus.wrote();
        }
        Ok(progress)
    }

    async fn issue_due_warnings(&self, now: DateTime<Utc>) -> StoreResult<bool> {
        let mut progress = false;
        let mut page = PageRequest::first(100);
        loop {
            let due = self
                .store
                .due_warnings(now, self.config.warn_before, &page)
                .await?;
            for interview in due.items {
                // `mark_warned` succeeds for one caller only; the feed carries the warning to
                // every process's frontends.
                progress |= self.store.mark_warned(&interview.id, now).await?.is_some();
            }
            match due.next {
                Some(token) => page = PageRequest::after(100, token),
                None => break,
            }
        }
        if progress {
            self.bus.wrote();
        }
        Ok(progress)
    }

    /// Does one claimed operation, renewing its lease meanwhile, and records how it ended.
    async fn work(&self, claimed: Claimed) {
        let Claimed {
            operation,
            interview,
            lease,
        } = claimed;
        self.bus.wrote();
        self.note(
            Some(interview.id.clone()),
            SchedulerEventKind::Claimed,
            format!(
                "{} of interview {} claimed (attempt {} of {})",
                operation.kind, interview.id, operation.attempts, operation.max_attempts
            ),
        );
        let progress = StoreProgress {
            store: self.store.clone(),
            clock: self.clock.clone(),
            bus: self.bus.clone(),
            lease: lease.clone(),
            buffer: Mutex::new(Vec::new()),
            batch: self.config.log_batch,
            track_state: !interview.state.is_terminal(),
        };
        let now = self.clock.now();
        let result = match operation.kind {
            OperationKind::Create if now > interview.start_at + self.config.start_grace => {
                Some(Err(missed_start(now - interview.start_at)))
            }
            OperationKind::Create => {
                self.with_lease(&lease, async {
                    let password = self.secrets.password(&interview.id).await.map_err(|err| {
                        ProvisionError::transient(format!("could not make the password: {err}"))
                    })?;
                    let spec = InstanceSpec {
                        interview_id: interview.id.clone(),
                        challenge: interview.challenge.clone(),
                        destroy_at: interview.destroy_at,
                        password,
                    };
                    progress
                        .log(format!(
                            "provisioning {} for interview {}",
                            spec.challenge, spec.interview_id
                        ))
                        .await;
                    self.provisioner
                        .create(&spec, &progress)
                        .await
                        .map(|instance| Completion::Created {
                            access_url: instance.access_url,
                            challenge_checksum: instance.challenge_checksum,
                        })
                })
                .await
            }
            OperationKind::Destroy => {
                self.with_lease(&lease, async {
                    progress.stage(InterviewState::Destroying).await;
                    progress
                        .log(format!(
                            "destroying the instance of interview {}",
                            interview.id
                        ))
                        .await;
                    self.provisioner
                        .destroy(&interview.id, &progress)
                        .await
                        .map(|destroyed| Completion::Destroyed {
                            archive: destroyed.archive,
                        })
                })
                .await
            }
        };
        let Some(result) = result else {
            progress.flush().await;
            self.lost(&interview.id);
            return;
        };
        let outcome = self
            .finish(&operation, &lease, result, &progress, now)
            .await;
        progress.flush().await;
        match outcome {
            Ok(()) => {}
            Err(StoreError::LeaseLost { .. }) => self.lost(&interview.id),
            Err(err) => {
                // The lease will expire and another attempt will record the outcome.
                tracing::warn!(error = %err, "could not record the outcome; the operation will be resumed");
            }
        }
        self.bus.wrote();
    }

    /// Runs `work` while renewing the lease; `None` if the lease was lost meanwhile.
    async fn with_lease<T>(
        &self,
        lease: &Lease,
        work: impl std::future::Future<Output = T>,
    ) -> Option<T> {
        let renew = async {
            let mut lease = lease.clone();
            loop {
                let renew_at = lease.until - self.config.lease * 2 / 3;
                self.clock.sleep_until(renew_at).await;
                let now = self.clock.now();
                match self
                    .store
                    .renew_lease(&lease, now + self.config.lease, now)
                    .await
                {
                    Ok(renewed) => lease = renewed,
                    Err(StoreError::LeaseLost { .. }) => return,
                    Err(err) => {
                        tracing::warn!(error = %err, "renewing the lease failed; will try again");
                        self.clock.sleep_until(now + Duration::seconds(1)).await;
                    }
                }
            }
        };
        tokio::select! {
            out = work => Some(out),
            () = renew => None,
        }
    }

    async fn finish(
        &self,
        operation: &Operation,
        lease: &Lease,
        result: Result<Completion, ProvisionError>,
        progress: &StoreProgress,
        started: DateTime<Utc>,
    ) -> StoreResult<()> {
        let now = self.clock.now();
        match result {
            Ok(completion) => {
                progress.log(format!("{} completed", operation.kind)).await;
                progress.flush().await;
                self.store.complete(lease, completion, now).await?;
                self.stats
                    .record(operation.kind, OperationResult::Completed);
                if operation.kind == OperationKind::Create {
                    self.stats.provisioning.observe_duration(now - started);
                }
                self.forget_password_if_ended(&operation.interview_id).await;
            }
            Err(err) if err.retryable => {
                let delay = self.retry_delay(operation.attempts);
                progress
                    .log(format!(
                        "attempt {} failed: {}",
                        operation.attempts, err.message
                    ))
                    .await;
                progress.flush().await;
                let after = self
                    .store
                    .retry_later(lease, &err.message, now + delay, now)
                    .await?;
                if after.status == OperationStatus::Failed {
                    self.stats.record(operation.kind, OperationResult::Failed);
                    self.failed(operation, &err.message);
                    self.forget_password_if_ended(&operation.interview_id).await;
                } else {
                    self.stats.record(operation.kind, OperationResult::Retried);
                    self.note(
                        Some(operation.interview_id.clone()),
                        SchedulerEventKind::Retrying,
                        format!(
                            "{} of interview {} failed ({}); retrying in {}s",
                            operation.kind,
                            operation.interview_id,
                            err.message,
                            delay.num_seconds()
                        ),
                    );
                }
            }
            Err(err) => {
                progress
                    .log(format!("{} failed: {}", operation.kind, err.message))
                    .await;
                progress.flush().await;
                self.store.fail(lease, &err.message, now).await?;
                self.stats.record(operation.kind, OperationResult::Failed);
                self.failed(operation, &err.message);
                self.forget_password_if_ended(&operation.interview_id).await;
            }
        }
        Ok(())
    }

    /// Deletes the password of an interview that has ended (destroyed, or failed for good): it
    /// opens nothing any more, so it is not kept where it could leak. A still-open interview
    /// keeps it (a retried create, or a destroy after an extension).
    async fn forget_password_if_ended(&self, id: &InterviewId) {
        match self.store.interview(id).await {
            Ok(Some(interview)) if !interview.state.is_terminal() => return,
            Ok(_) => {}
            Err(err) => {
                tracing::warn!(error = %err, interview = %id, "could not read the interview; its password stays until it is destroyed");
                return;
            }
        }
        if let Err(err) = self.secrets.forget(id).await {
            tracing::warn!(error = %err, interview = %id, "could not delete the interview's password");
        }
    }

    /// Exponential backoff with jitter: base·2^(attempt−1), capped, times a random 0.8–1.0.
    fn retry_delay(&self, attempt: u32) -> Duration {
        let exponent = attempt.saturating_sub(1).min(20);
        let raw = self.config.retry_base * 2_i32.pow(exponent);
        let capped = raw.min(self.config.retry_cap);
        let factor = rand::rng().random_range(0.8..=1.0);
        Duration::milliseconds((capped.num_milliseconds() as f64 * factor) as i64)
    }

    fn failed(&self, operation: &Operation, reason: &str) {
        self.note(
            Some(operation.interview_id.clone()),
            SchedulerEventKind::Failed,
            format!(
                "{} of interview {} failed: {reason}",
                operation.kind, operation.interview_id
            ),
        );
    }

    fn lost(&self, interview: &InterviewId) {
        tracing::warn!(%interview, "lease lost: another scheduler took this operation over");
        self.note(
            Some(interview.clone()),
            SchedulerEventKind::LeaseLost,
            format!("lost the lease on interview {interview}; another scheduler resumed it"),
        );
    }

    fn note(&self, interview_id: Option<InterviewId>, kind: SchedulerEventKind, message: String) {
        tracing::info!(
            interview = interview_id.as_ref().map(|i| i.as_str()),
            ?kind,
            "{message}"
        );
        self.bus.publish(Event::Scheduler(SchedulerEvent {
            at: self.clock.now(),
            interview_id,
            kind,
            message,
        }));
    }
}

/// When the loop looks at the store again.
enum Wake {
    /// At this moment of the injected clock (work falls due then).
    At(DateTime<Utc>),
    /// After this much real time: a pause to keep the loop from spinning (the store is
    /// unreachable, or due work cannot be taken yet). Real time, not the injected clock, since
    /// it paces the process, not the schedule — on a manual clock that stopped moving, a
    /// clock-timed pause would never end.
    Pause(std::time::Duration),
}

impl Wake {
    async fn wait(self, clock: &dyn Clock) {
        match self {
            Self::At(deadline) => clock.sleep_until(deadline).await,
            Self::Pause(pause) => tokio::time::sleep(pause).await,
        }
    }
}

/// The failure of a create whose start passed more than the grace period ago (the process was
/// down, or every worker was busy): never run an interview hours late.
fn missed_start(late_by: Duration) -> ProvisionError {
    ProvisionError::permanent(format!(
        "missed: the start time passed {} minutes ago while no scheduler could run it",
        late_by.num_minutes()
    ))
}

fn shuffle<T>(items: &mut [T]) {
    let mut rng = rand::rng();
    for i in (1..items.len()).rev() {
        items.swap(i, rng.random_range(0..=i));
    }
}

/// Reports a worker's progress into the store: stages become interview states, log lines are
/// buffered and written in batches.
struct StoreProgress {
    store: Arc<dyn OperationStore>,
    clock: Arc<dyn Clock>,
    bus: EventBus,
    lease: Lease,
    buffer: Mutex<Vec<LogLine>>,
    batch: usize,
    /// False when the interview is already terminal (a cleanup destroy of a failed interview):
    /// its state must stay `failed`.
    track_state: bool,
}

impl StoreProgress {
    async fn flush(&self) {
        let lines = std::mem::take(&mut *self.buffer.lock().await);
        if lines.is_empty() {
            return;
        }
        if let Err(err) = self
            .store
            .append_logs(&self.lease.operation_id, &lines, self.clock.now())
            .await
        {
            tracing::warn!(error = %err, "could not write {} log lines", lines.len());
        }
        self.bus.wrote();
    }
}

#[async_trait]
impl Progress for StoreProgress {
    async fn stage(&self, state: InterviewState) {
        self.flush().await;
        if !self.track_state {
            return;
        }
        match self
            .store
            .record_progress(&self.lease, state, self.clock.now())
            .await
        {
            Ok(_) => self.bus.wrote(),
            Err(err) => tracing::warn!(error = %err, %state, "could not record the stage"),
        }
    }

    async fn log(&self, message: String) {
        tracing::info!(interview = %self.lease.interview_id, "{message}");
        let full = {
            let mut buffer = self.buffer.lock().await;
            buffer.push(LogLine {
                at: self.clock.now(),
                message,
            });
            buffer.len() >= self.batch
        };
        if full {
            self.flush().await;
        }
    }
}
