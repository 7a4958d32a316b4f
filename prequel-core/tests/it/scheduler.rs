//! The scheduler on a manual clock over a real SQLite file: interviews start on time (with the
//! lead time), end on time, are warned about, retried within bounds, failed as `missed` when
//! their start passed while nobody ran, resumed after a crash, and — with three schedulers on one
//! file — created once and destroyed once.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{DateTime, Duration, TimeZone, Utc};
use prequel_core::clock::{Clock, ManualClock};
use prequel_core::command::{Command, InterviewRequest};
use prequel_core::domain::{
    ChallengeId, Interview, InterviewId, InterviewLength, InterviewState, OperationKind,
    OperationStatus, Platform, Requester,
};
use prequel_core::events::{Event, SchedulerEventKind};
use prequel_core::scheduler::SchedulerConfig;
use prequel_core::secrets::SecretStore;
use prequel_core::secrets::file::FileSecrets;
use prequel_core::store::{OperationStore, PageRequest};
use prequel_core::testkit;
use prequel_core::testkit::provisioner::{Behaviour, RecordingProvisioner};
use prequel_core::{Background, Outcome, Prequel, PrequelConfig};
use tokio::sync::watch;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
        .single()
        .expect("valid time")
}

fn alice() -> Requester {
    Requester {
        platform: Platform::Slack,
        user_id: "U2CERLKJA".into(),
        display_name: "Alice".into(),
    }
}

/// One SQLite file, one manual clock, one recording provisioner, and any number of engines
/// (each with its own store handle, like separate processes).
struct World {
    _dir: tempfile::TempDir,
    clock: ManualClock,
    provisioner: RecordingProvisioner,
    stores: Vec<Arc<dyn OperationStore>>,
    engines: Vec<Engine>,
}

struct Engine {
    prequel: Prequel,
    stop: watch::Sender<bool>,
    background: Option<Background>,
}

impl World {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let clock = ManualClock::new(t0());
        let provisioner = RecordingProvisioner::new(Arc::new(clock.clone()));
        Self {
            _dir: dir,
            clock,
            provisioner,
            stores: Vec::new(),
            engines: Vec::new(),
        }
    }

    /// Opens another engine (store handle + facade) on the same file; not started.
    fn engine(&mut self, config: SchedulerConfig) -> usize {
        let engine = testkit::engine::in_dir(self._dir.path())
            .clock(self.clock.clone())
            .provisioner(self.provisioner.clone())
            .config(PrequelConfig { scheduler: config })
            .build();
        let prequel = engine.prequel;
        self.stores.push(engine.store);
        self.engines.push(Engine {
            prequel,
            stop: watch::Sender::new(false),
            background: None,
        });
        self.engines.len() - 1
    }

    async fn start(&mut self, index: usize) {
        let engine = &mut self.engines[index];
        let background = engine
            .prequel
            .start(engine.stop.subscribe())
            .await
            .expect("start the engine");
        engine.background = Some(background);
    }

    /// Stops an engine the hard way: its tasks are dropped mid-work, as in a crash (leases are
    /// left to expire).
    async fn crash(&mut self, index: usize) {
        let engine = &mut self.engines[index];
        let _ = engine.stop.send(true);
        if let Some(background) = engine.background.take() {
            background.join().await;
        }
    }

    fn prequel(&self, index: usize) -> &Prequel {
        &self.engines[index].prequel
    }

    fn store(&self) -> &Arc<dyn OperationStore> {
        &self.stores[0]
    }

    async fn schedule(&self, start: DateTime<Utc>, minutes: u32) -> Interview {
        let command = Command::Schedule(InterviewRequest {
            start,
            length: InterviewLength::from_minutes(minutes).expect("valid length"),
            challenge: challenge(),
            candidate: Some("Grace Hopper".into()),
            co_interviewers: Vec::new(),
            zone: chrono_tz::Europe::Berlin,
        });
        match self
            .prequel(0)
            .execute(&prequel_core::access::Actor::member(alice()), command)
            .await
        {
            Ok(Outcome::Scheduled(interview)) => interview,
            other => panic!("scheduling failed: {other:?}"),
        }
    }

    async fn interview(&self, id: &InterviewId) -> Interview {
        self.store()
            .interview(id)
            .await
            .expect("read the interview")
            .expect("the interview exists")
    }

    /// Waits (real time, bounded) until `check` holds for the interview.
    async fn wait_for(
        &self,
        id: &InterviewId,
        what: &str,
        check: impl Fn(&Interview) -> bool,
    ) -> Interview {
        let deadline = tokio::time::Instant::now() + StdDuration::from_secs(10);
        loop {
            let interview = self.interview(id).await;
            if check(&interview) {
                return interview;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {what}; interview is {interview:#?}"
            );
            tokio::time::sleep(StdDuration::from_millis(5)).await;
        }
    }

    async fn wait_for_state(&self, id: &InterviewId, state: InterviewState) -> Interview {
        self.wait_for(id, state.as_str(), |i| i.state == state)
            .await
    }

    /// Waits until no work is due at the clock's time and no operation is running.
    async fn settle(&self) {
        let deadline = tokio::time::Instant::now() + StdDuration::from_secs(20);
        loop {
            let now = self.clock.now();
            let store = self.store();
            let page = PageRequest::first(1);
            let due = store
                .due_operations(now, &page)
                .await
                .expect("due ops")
                .items;
            let destroys = store
                .due_destroys(now, &page)
                .await
                .expect("due destroys")
                .items;
            let next = store
                .next_due(Duration::minutes(10))
                .await
                .expect("next due");
            if due.is_empty() && destroys.is_empty() && next.lease_expiry.is_none() {
                // Give in-flight event/log writes a moment, then re-check once.
                tokio::time::sleep(StdDuration::from_millis(5)).await;
                if store
                    .next_due(Duration::minutes(10))
                    .await
                    .expect("next due")
                    .lease_expiry
                    .is_none()
                {
                    return;
                }
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the schedulers did not settle"
            );
            tokio::time::sleep(StdDuration::from_millis(5)).await;
        }
    }

    /// Moves the clock to `to` in steps, letting the schedulers finish each step's work.
    async fn advance_to(&self, to: DateTime<Utc>, step: Duration) {
        while self.clock.now() < to {
            let next = (self.clock.now() + step).min(to);
            self.clock.set(next);
            self.settle().await;
        }
    }
}

fn challenge() -> ChallengeId {
    ChallengeId::parse("python").expect("valid challenge")
}

fn config(name: &str) -> SchedulerConfig {
    SchedulerConfig {
        worker_name: name.to_owned(),
        ..SchedulerConfig::default()
    }
}

#[tokio::test]
async fn interview_is_active_by_its_start_and_destroyed_at_its_end() {
    let mut world = World::new();
    let engine = world.engine(config("a"));
    world.start(engine).await;
    let mut events = world.prequel(engine).subscribe();
    let start = t0() + Duration::hours(2);
    let interview = world.schedule(start, 90).await;
    assert_eq!(interview.state, InterviewState::Scheduled);
    assert_eq!(interview.destroy_at, start + Duration::minutes(90));

    // One second before start − lead time: nothing happens.
    world
        .advance_to(
            start - Duration::minutes(5) - Duration::seconds(1),
            Duration::minutes(10),
        )
        .await;
    assert!(world.provisioner.calls().is_empty(), "created too early");
    assert_eq!(
        world.interview(&interview.id).await.state,
        InterviewState::Scheduled
    );

    // At start − lead time the create runs, so the instance is active at the start.
    world
        .advance_to(start - Duration::minutes(5), Duration::seconds(1))
        .await;
    let active = world
        .wait_for_state(&interview.id, InterviewState::Active)
        .await;
    let calls = world.provisioner.calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(
        (calls[0].kind, calls[0].at),
        ("create", start - Duration::minutes(5))
    );
    assert!(active.access_url.is_some());
    assert_eq!(
        active.challenge_checksum.as_deref(),
        Some("sha256:test-python")
    );
    let secrets = FileSecrets::open(world._dir.path().join("secrets")).expect("secrets");
    let password = secrets
        .existing_password(&interview.id)
        .await
        .expect("read")
        .expect("the instance got a password");

    // Not destroyed a second early; destroyed at the end, with the archive recorded.
    world
        .advance_to(
            interview.destroy_at - Duration::seconds(1),
            Duration::minutes(10),
        )
        .await;
    assert_eq!(
        world.interview(&interview.id).await.state,
        InterviewState::Active
    );
    world
        .advance_to(interview.destroy_at, Duration::seconds(1))
        .await;
    let destroyed = world
        .wait_for_state(&interview.id, InterviewState::Destroyed)
        .await;
    assert_eq!(
        secrets
            .existing_password(&interview.id)
            .await
            .expect("read"),
        None,
        "the password is deleted with the instance"
    );
    // No event of the whole life carried the password.
    let mut seen = 0;
    while let Ok(event) = events.try_recv() {
        seen += 1;
        let json = serde_json::to_string(&event).expect("events serialise");
        assert!(
            !json.contains(password.expose()),
            "password leaked in {json}"
        );
    }
    assert!(seen > 5, "the life produced events ({seen})");
    let calls = world.provisioner.calls();
    assert_eq!(calls.len(), 2);
    assert_eq!(
        (calls[1].kind, calls[1].at),
        ("destroy", interview.destroy_at)
    );
    assert!(
        destroyed.expires_at.is_some(),
        "terminal records get a retention time"
    );
    assert!(world.provisioner.live().is_empty());

    let operations = world
        .store()
        .operations_for(&interview.id)
        .await
        .expect("operations");
    let kinds: Vec<_> = operations.iter().map(|o| (o.kind, o.status)).collect();
    assert_eq!(
        kinds,
        [
            (OperationKind::Create, OperationStatus::Completed),
            (OperationKind::Destroy, OperationStatus::Completed)
        ]
    );
    world.crash(engine).await;
}

#[tokio::test]
async fn requester_is_warned_once_ten_minutes_before_the_destroy_time() {
    let mut world = World::new();
    let engine = world.engine(config("a"));
    world.start(engine).await;
    let mut events = world.prequel(engine).subscribe();
    let interview = world.schedule(t0() + Duration::minutes(10), 30).await;
    let warn_at = interview.destroy_at - Duration::minutes(10);

    world
        .advance_to(warn_at - Duration::seconds(1), Duration::minutes(1))
        .await;
    assert!(
        world.interview(&interview.id).await.warned_at.is_none(),
        "warned too early"
    );
    world.advance_to(warn_at, Duration::seconds(1)).await;
    let warned = world
        .wait_for(&interview.id, "the warning", |i| i.warned_at.is_some())
        .await;
    assert_eq!(warned.warned_at, Some(warn_at));

    // The warning reaches subscribers as an event, exactly once.
    world
        .advance_to(
            interview.destroy_at - Duration::minutes(1),
            Duration::minutes(1),
        )
        .await;
    let mut warnings = 0;
    let deadline = tokio::time::Instant::now() + StdDuration::from_secs(2);
    while let Ok(Ok(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        if let Event::Warning {
            interview: warned, ..
        } = event
        {
            assert_eq!(warned.id, interview.id);
            warnings += 1;
        }
    }
    assert_eq!(warnings, 1);
    world.crash(engine).await;
}

#[tokio::test]
async fn start_missed_by_more_than_the_grace_period_fails_as_missed() {
    let mut world = World::new();
    let engine = world.engine(config("a"));
    let interview = world.schedule(t0() + Duration::minutes(30), 60).await;
    // The process was down from before the start until 16 minutes after it.
    world.clock.set(interview.start_at + Duration::minutes(16));
    world.start(engine).await;

    let failed = world
        .wait_for_state(&interview.id, InterviewState::Failed)
        .await;
    let reason = failed.reason.expect("a failed interview says why");
    assert!(reason.starts_with("missed"), "reason: {reason}");
    world.settle().await;
    assert_eq!(
        world.provisioner.creates_of(&interview.id),
        0,
        "never run late"
    );
    world.crash(engine).await;
}

#[tokio::test]
async fn start_late_within_the_grace_period_still_runs() {
    let mut world = World::new();
    let engine = world.engine(config("a"));
    let interview = world.schedule(t0() + Duration::minutes(30), 60).await;
    world.clock.set(interview.start_at + Duration::minutes(14));
    world.start(engine).await;
    world
        .wait_for_state(&interview.id, InterviewState::Active)
        .await;
    assert_eq!(world.provisioner.creates_of(&interview.id), 1);
    world.crash(engine).await;
}

#[tokio::test]
async fn destroy_missed_while_down_runs_at_once_on_restart() {
    let mut world = World::new();
    let first = world.engine(config("a"));
    world.start(first).await;
    let interview = world.schedule(t0() + Duration::minutes(10), 30).await;
    world
        .advance_to(interview.start_at, Duration::minutes(1))
        .await;
    world
        .wait_for_state(&interview.id, InterviewState::Active)
        .await;
    world.crash(first).await;

    // Down across the destroy time, by hours.
    world.clock.set(interview.destroy_at + Duration::hours(3));
    let second = world.engine(config("b"));
    world.start(second).await;
    world
        .wait_for_state(&interview.id, InterviewState::Destroyed)
        .await;
    let destroy = world
        .provisioner
        .calls()
        .into_iter()
        .find(|c| c.kind == "destroy")
        .expect("destroyed");
    assert_eq!(
        destroy.at,
        interview.destroy_at + Duration::hours(3),
        "ran at once on restart"
    );
    world.crash(second).await;
}

#[tokio::test]
async fn failed_creates_are_retried_with_backoff_then_succeed() {
    let mut world = World::new();
    let engine = world.engine(config("a"));
    world.start(engine).await;
    world
        .provisioner
        .set_behaviour(Behaviour::FailCreates { times: 2 });
    let interview = world.schedule(t0() + Duration::minutes(5), 60).await;

    world
        .advance_to(t0() + Duration::minutes(5), Duration::seconds(5))
        .await;
    let active = world
        .wait_for_state(&interview.id, InterviewState::Active)
        .await;
    assert_eq!(active.state, InterviewState::Active);
    let creates: Vec<_> = world
        .provisioner
        .calls()
        .into_iter()
        .filter(|c| c.kind == "create")
        .map(|c| c.at)
        .collect();
    assert_eq!(creates.len(), 3);
    // Default backoff: 15 s then 30 s, each with up to 20 % jitter taken off.
    let gaps: Vec<_> = creates.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps[0] >= Duration::seconds(12) && gaps[0] <= Duration::seconds(20),
        "gaps {gaps:?}"
    );
    assert!(
        gaps[1] >= Duration::seconds(24) && gaps[1] <= Duration::seconds(35),
        "gaps {gaps:?}"
    );
    let operations = world
        .store()
        .operations_for(&interview.id)
        .await
        .expect("operations");
    assert_eq!(operations[0].attempts, 3);
    world.crash(engine).await;
}

#[tokio::test]
async fn retries_are_bounded_and_the_interview_fails_with_the_reason() {
    let mut world = World::new();
    let engine = world.engine(config("a"));
    world.start(engine).await;
    let mut events = world.prequel(engine).subscribe();
    world
        .provisioner
        .set_behaviour(Behaviour::FailCreates { times: 1000 });
    let interview = world.schedule(t0() + Duration::minutes(5), 60).await;

    world
        .advance_to(t0() + Duration::minutes(15), Duration::seconds(5))
        .await;
    let failed = world
        .wait_for_state(&interview.id, InterviewState::Failed)
        .await;
    assert_eq!(
        failed.reason.as_deref(),
        Some("the test provisioner was told to fail")
    );
    let creates = world
        .provisioner
        .calls()
        .iter()
        .filter(|c| c.kind == "create")
        .count();
    assert_eq!(creates, 4, "max_attempts is 4");
    // The half-made instance is cleaned up by exactly one destroy.
    world.settle().await;
    assert_eq!(world.provisioner.destroys_of(&interview.id), 1);
    // A frontend hears about the failure.
    let mut heard = false;
    while let Ok(event) = events.try_recv() {
        if let Event::Scheduler(note) = event {
            heard |= note.kind == SchedulerEventKind::Failed
                && note.interview_id.as_ref() == Some(&interview.id);
        }
    }
    assert!(heard, "a scheduler `failed` event was published");
    world.crash(engine).await;
}

#[tokio::test]
async fn permanent_provisioning_errors_fail_without_retrying() {
    let mut world = World::new();
    let engine = world.engine(config("a"));
    world.start(engine).await;
    world.provisioner.set_behaviour(Behaviour::RejectCreates);
    let interview = world.schedule(t0() + Duration::minutes(5), 60).await;
    world
        .advance_to(t0() + Duration::minutes(5), Duration::seconds(5))
        .await;
    let failed = world
        .wait_for_state(&interview.id, InterviewState::Failed)
        .await;
    assert_eq!(
        failed.reason.as_deref(),
        Some("the test provisioner rejects every create")
    );
    assert_eq!(
        world
            .provisioner
            .calls()
            .iter()
            .filter(|c| c.kind == "create")
            .count(),
        1
    );
    world.crash(engine).await;
}

#[tokio::test]
async fn work_of_a_crashed_scheduler_is_resumed_after_its_lease_expires() {
    let mut world = World::new();
    let first = world.engine(config("crashes"));
    let second = world.engine(config("survives"));
    world.start(first).await;
    world.provisioner.set_behaviour(Behaviour::HangCreates);
    let interview = world.schedule(t0() + Duration::minutes(5), 60).await;

    // The create is due at once (start − lead time is now). The first scheduler claims the create and hangs inside the provisioner…
    world
        .wait_for_state(&interview.id, InterviewState::Initializing)
        .await;
    let claimed = world
        .store()
        .operations_for(&interview.id)
        .await
        .expect("operations");
    assert_eq!(claimed[0].status, OperationStatus::Running);
    assert!(
        claimed[0]
            .lease_holder
            .as_deref()
            .is_some_and(|h| h.starts_with("crashes"))
    );
    // …and dies there.
    world.crash(first).await;
    world.provisioner.release();

    world.start(second).await;
    // Within the lease nobody else may take it.
    world.clock.advance(Duration::seconds(59));
    tokio::time::sleep(StdDuration::from_millis(200)).await;
    assert_eq!(
        world.interview(&interview.id).await.state,
        InterviewState::Initializing
    );
    // Once it expires, the surviving scheduler resumes it.
    world.clock.advance(Duration::seconds(2));
    world
        .wait_for_state(&interview.id, InterviewState::Active)
        .await;
    let operations = world
        .store()
        .operations_for(&interview.id)
        .await
        .expect("operations");
    assert_eq!(operations[0].attempts, 2);
    assert!(
        operations[0].lease_holder.is_none() || operations[0].status == OperationStatus::Completed
    );
    assert_eq!(
        world.provisioner.creates_of(&interview.id),
        1,
        "the hung create never finished"
    );
    world.crash(second).await;
}

#[tokio::test]
async fn three_schedulers_on_one_file_create_and_destroy_every_interview_exactly_once() {
    let mut world = World::new();
    let engines: Vec<_> = ["a", "b", "c"]
        .into_iter()
        .map(|name| world.engine(config(name)))
        .collect();
    for &engine in &engines {
        world.start(engine).await;
    }
    let mut interviews = Vec::new();
    for i in 0..30 {
        let start = t0() + Duration::minutes(10 + 7 * i);
        interviews.push(world.schedule(start, 30 + (i as u32 % 4) * 30).await);
    }
    let end = interviews
        .iter()
        .map(|i| i.destroy_at)
        .max()
        .expect("some interviews");
    world
        .advance_to(end + Duration::minutes(1), Duration::seconds(20))
        .await;

    for interview in &interviews {
        let done = world
            .wait_for_state(&interview.id, InterviewState::Destroyed)
            .await;
        assert_eq!(
            world.provisioner.creates_of(&done.id),
            1,
            "{} created once",
            done.id
        );
        assert_eq!(
            world.provisioner.destroys_of(&done.id),
            1,
            "{} destroyed once",
            done.id
        );
    }
    assert!(
        world.provisioner.live().is_empty(),
        "no instance left behind"
    );
    for engine in engines {
        world.crash(engine).await;
    }
}
