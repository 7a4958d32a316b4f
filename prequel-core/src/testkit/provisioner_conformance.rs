//! The conformance suite for [`Provisioner`] backends: the local code-server provisioner and the
//! ECS one run these same cases, so the contract written on the trait is checked, not hoped
//! for.
//!
//! A backend provides a [`ProvisionerHarness`] (how to get a fresh provisioner, or a loud skip
//! when its outside tool is absent) and expands
//! [`provisioner_conformance_tests!`](crate::provisioner_conformance_tests) in its test module,
//! which gives one `#[tokio::test]` per case, named after the case:
//!
//! ```text
//! mod conformance {
//!     use super::LocalHarness;
//!     prequel_core::provisioner_conformance_tests!(LocalHarness);
//! }
//! ```
//!
//! Each case is also a public `async fn(&dyn ProvisionerHarness)`, and [`run_all`] runs them all
//! in a row. A case panics with a message that names what broke. Every case destroys what it
//! created; a fixture must still clean up on drop, because a failing case stops half-way.

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use chrono::{DateTime, Duration, Utc};
use futures::FutureExt;
use futures::future::join_all;

use crate::domain::{ChallengeId, InterviewId, InterviewState};
use crate::provision::{
    Destroyed, Instance, InstanceSpec, InstanceStatus, Progress, ProvisionError, Provisioner,
};
use crate::secrets::generate_password;

/// How a backend is opened for the suite.
#[async_trait]
pub trait ProvisionerHarness: Send + Sync {
    /// A provisioner for one case. `None` means the backend's outside tool (code-server, moto)
    /// is absent and the case is skipped; the harness says so loudly itself, and must panic
    /// instead when `CI=true`.
    async fn open(&self) -> Option<Box<dyn ProvisionerFixture>>;
}

/// One provisioner under test. Dropping it must stop whatever it still runs.
pub trait ProvisionerFixture: Send + Sync {
    /// The provisioner.
    fn provisioner(&self) -> Arc<dyn Provisioner>;

    /// A challenge the provisioner's challenge source has.
    fn challenge(&self) -> ChallengeId;

    /// A challenge the provisioner's challenge source does not have.
    fn unknown_challenge(&self) -> ChallengeId {
        ChallengeId::parse("no-such-challenge").expect("a valid challenge id")
    }

    /// Whether this provisioner's instances are only the ones the case makes (a fresh folder,
    /// a fresh cluster). When `false`, `instances()` is checked only for the case's own ids.
    fn exclusive(&self) -> bool {
        true
    }
}

/// Expands into one `#[tokio::test]` per conformance case, each calling the case of the same
/// name in [`testkit::provisioner_conformance`](crate::testkit::provisioner_conformance) with
/// `&$harness` (anything that coerces to `&dyn ProvisionerHarness`). The calling crate needs
/// `tokio` with the `macros` and `rt-multi-thread` features.
#[macro_export]
macro_rules! provisioner_conformance_tests {
    ($harness:expr) => {
        $crate::provisioner_conformance_tests!(@cases [tests $harness]);
    };
    // The one list of cases; `run_all` and the test expansion both come from it.
    (@cases $ctx:tt) => {
        $crate::provisioner_conformance_tests!(@expand $ctx
            create_reports_stages_in_order_and_status_is_running_at_the_same_url,
            create_twice_returns_the_same_instance,
            destroy_archives_the_work_and_leaves_status_absent,
            destroy_twice_succeeds,
            destroy_of_a_never_created_instance_succeeds,
            instances_lists_exactly_the_live_ones,
            concurrent_creates_of_different_interviews_all_succeed,
            unknown_challenge_fails_permanently_and_leaves_nothing,
        );
    };
    (@expand [tests $harness:expr] $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                $crate::testkit::provisioner_conformance::$case(&$harness).await;
            }
        )*
    };
    (@expand [run_all $harness:ident] $($case:ident),* $(,)?) => {
        $( run_case(stringify!($case), $case($harness)).await; )*
    };
}

/// Runs every case against `harness`, one after the other; panics naming the first case that
/// fails.
pub async fn run_all(harness: &dyn ProvisionerHarness) {
    crate::provisioner_conformance_tests!(@cases [run_all harness]);
}

async fn run_case(name: &str, case: impl std::future::Future<Output = ()>) {
    if let Err(panic) = AssertUnwindSafe(case).catch_unwind().await {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        panic!("provisioner conformance case `{name}` failed: {message}");
    }
}

// ---------------------------------------------------------------------------------------------
// Helpers (public: backends' own tests use them too)
// ---------------------------------------------------------------------------------------------

/// 2026-11-23T10:00:00Z: the destroy time in every spec is fixed, so nothing reads the clock.
pub const T0: DateTime<Utc> = match DateTime::from_timestamp(1_795_428_000, 0) {
    Some(at) => at,
    None => DateTime::<Utc>::UNIX_EPOCH,
};

/// A spec for a new interview on `challenge`, with a fresh id and a fresh password.
pub fn spec(challenge: &ChallengeId) -> InstanceSpec {
    InstanceSpec {
        interview_id: InterviewId::generate(),
        challenge: challenge.clone(),
        destroy_at: T0 + Duration::minutes(90),
        password: generate_password(),
    }
}

/// A [`Progress`] that records what it is told.
#[derive(Debug, Default)]
pub struct RecordingProgress {
    stages: Mutex<Vec<InterviewState>>,
    logs: Mutex<Vec<String>>,
}

impl RecordingProgress {
    /// The stages reported so far, in order.
    pub fn stages(&self) -> Vec<InterviewState> {
        self.stages
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    /// The log lines reported so far, in order.
    pub fn logs(&self) -> Vec<String> {
        self.logs
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .clone()
    }

    /// Panics if any log line contains `secret` (a password must never reach a log).
    pub fn assert_never_logged(&self, secret: &str) {
        for line in self.logs() {
            assert!(
                !line.contains(secret),
                "a log line contains the password: {line:?}"
            );
        }
    }
}

#[async_trait]
impl Progress for RecordingProgress {
    async fn stage(&self, state: InterviewState) {
        self.stages
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .push(state);
    }

    async fn log(&self, message: String) {
        self.logs
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .push(message);
    }
}

/// Creates `spec`, expecting success; checks the password stayed out of the log.
pub async fn create_ok(
    provisioner: &dyn Provisioner,
    spec: &InstanceSpec,
) -> (Instance, RecordingProgress) {
    let progress = RecordingProgress::default();
    let instance = provisioner
        .create(spec, &progress)
        .await
        .unwrap_or_else(|err| panic!("create of {} failed: {err}", spec.interview_id));
    progress.assert_never_logged(spec.password.expose());
    assert!(
        instance.access_url.starts_with("http://") || instance.access_url.starts_with("https://"),
        "access URL {:?} is not an http(s) URL",
        instance.access_url
    );
    (instance, progress)
}

/// Destroys `interview`, expecting success.
pub async fn destroy_ok(provisioner: &dyn Provisioner, interview: &InterviewId) -> Destroyed {
    provisioner
        .destroy(interview, &RecordingProgress::default())
        .await
        .unwrap_or_else(|err| panic!("destroy of {interview} failed: {err}"))
}

async fn status(provisioner: &dyn Provisioner, interview: &InterviewId) -> InstanceStatus {
    provisioner
        .status(interview)
        .await
        .unwrap_or_else(|err| panic!("status of {interview} failed: {err}"))
}

async fn instances(provisioner: &dyn Provisioner) -> Vec<InterviewId> {
    provisioner
        .instances()
        .await
        .unwrap_or_else(|err| panic!("instances() failed: {err}"))
}

/// Panics unless `stages` is `expected` with some stages left out, in the same order.
fn assert_in_order(stages: &[InterviewState], expected: &[InterviewState]) {
    let mut rest = expected.iter();
    for stage in stages {
        assert!(
            rest.any(|e| e == stage),
            "stages {stages:?} are not in the order {expected:?} (or repeat one)"
        );
    }
}

const CREATE_STAGES: [InterviewState; 2] =
    [InterviewState::Initializing, InterviewState::Configuring];

// ---------------------------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------------------------

/// A first create reports `initializing` then `configuring` and returns a ready instance;
/// `status` then says it runs at the same URL with the same checksum.
pub async fn create_reports_stages_in_order_and_status_is_running_at_the_same_url(
    harness: &dyn ProvisionerHarness,
) {
    let Some(fixture) = harness.open().await else {
        return;
    };
    let provisioner = fixture.provisioner();
    let spec = spec(&fixture.challenge());
    let (instance, progress) = create_ok(provisioner.as_ref(), &spec).await;
    assert_eq!(progress.stages(), CREATE_STAGES, "stages of a first create");
    assert!(
        instance
            .challenge_checksum
            .as_deref()
            .is_some_and(|c| c.starts_with("sha256:")),
        "checksum {:?} is not a sha256",
        instance.challenge_checksum
    );
    match status(provisioner.as_ref(), &spec.interview_id).await {
        InstanceStatus::Running(running) => {
            assert_eq!(running.access_url, instance.access_url);
            if let Some(checksum) = &running.challenge_checksum {
                assert_eq!(Some(checksum), instance.challenge_checksum.as_ref());
            }
        }
        other => panic!("status after create is {other:?}, expected Running"),
    }
    destroy_ok(provisioner.as_ref(), &spec.interview_id).await;
}

/// A second create of a running interview (a retried claim) returns the same instance, reports
/// stages in order at most once each, and leaves one instance.
pub async fn create_twice_returns_the_same_instance(harness: &dyn ProvisionerHarness) {
    let Some(fixture) = harness.open().await else {
        return;
    };
    let provisioner = fixture.provisioner();
    let spec = spec(&fixture.challenge());
    let (first, _) = create_ok(provisioner.as_ref(), &spec).await;
    let (second, progress) = create_ok(provisioner.as_ref(), &spec).await;
    assert_eq!(second, first, "a repeated create returned another instance");
    assert_in_order(&progress.stages(), &CREATE_STAGES);
    let listed = instances(provisioner.as_ref()).await;
    assert_eq!(
        listed.iter().filter(|id| **id == spec.interview_id).count(),
        1,
        "instances() after two creates: {listed:?}"
    );
    assert!(matches!(
        status(provisioner.as_ref(), &spec.interview_id).await,
        InstanceStatus::Running(running) if running.access_url == first.access_url
    ));
    destroy_ok(provisioner.as_ref(), &spec.interview_id).await;
}

/// Destroy archives the work (and says where), and afterwards nothing exists.
pub async fn destroy_archives_the_work_and_leaves_status_absent(harness: &dyn ProvisionerHarness) {
    let Some(fixture) = harness.open().await else {
        return;
    };
    let provisioner = fixture.provisioner();
    let spec = spec(&fixture.challenge());
    create_ok(provisioner.as_ref(), &spec).await;
    let destroyed = destroy_ok(provisioner.as_ref(), &spec.interview_id).await;
    assert!(
        destroyed.archive.as_deref().is_some_and(|a| !a.is_empty()),
        "destroy returned no archive: {destroyed:?}"
    );
    assert_eq!(
        status(provisioner.as_ref(), &spec.interview_id).await,
        InstanceStatus::Absent
    );
    assert!(
        !instances(provisioner.as_ref())
            .await
            .contains(&spec.interview_id),
        "a destroyed instance is still listed"
    );
}

/// A repeated destroy (a retried claim) succeeds; if it names an archive, it is the first one.
pub async fn destroy_twice_succeeds(harness: &dyn ProvisionerHarness) {
    let Some(fixture) = harness.open().await else {
        return;
    };
    let provisioner = fixture.provisioner();
    let spec = spec(&fixture.challenge());
    create_ok(provisioner.as_ref(), &spec).await;
    let first = destroy_ok(provisioner.as_ref(), &spec.interview_id).await;
    let second = destroy_ok(provisioner.as_ref(), &spec.interview_id).await;
    if second.archive.is_some() {
        assert_eq!(
            second.archive, first.archive,
            "a repeated destroy moved the archive"
        );
    }
    assert_eq!(
        status(provisioner.as_ref(), &spec.interview_id).await,
        InstanceStatus::Absent
    );
}

/// Destroying an interview that never had an instance succeeds and archives nothing.
pub async fn destroy_of_a_never_created_instance_succeeds(harness: &dyn ProvisionerHarness) {
    let Some(fixture) = harness.open().await else {
        return;
    };
    let provisioner = fixture.provisioner();
    let never = InterviewId::generate();
    assert_eq!(
        status(provisioner.as_ref(), &never).await,
        InstanceStatus::Absent
    );
    let destroyed = destroy_ok(provisioner.as_ref(), &never).await;
    assert_eq!(
        destroyed.archive, None,
        "an archive of nothing: {destroyed:?}"
    );
    assert_eq!(
        status(provisioner.as_ref(), &never).await,
        InstanceStatus::Absent
    );
}

/// `instances()` lists the created instances and drops the destroyed ones.
pub async fn instances_lists_exactly_the_live_ones(harness: &dyn ProvisionerHarness) {
    let Some(fixture) = harness.open().await else {
        return;
    };
    let provisioner = fixture.provisioner();
    let challenge = fixture.challenge();
    let (gone, kept) = (spec(&challenge), spec(&challenge));
    if fixture.exclusive() {
        assert_eq!(
            instances(provisioner.as_ref()).await,
            Vec::new(),
            "a fresh provisioner lists instances"
        );
    }
    create_ok(provisioner.as_ref(), &gone).await;
    create_ok(provisioner.as_ref(), &kept).await;
    let ours: BTreeSet<_> = [gone.interview_id.clone(), kept.interview_id.clone()].into();
    let listed: BTreeSet<_> = instances(provisioner.as_ref()).await.into_iter().collect();
    assert!(
        listed.is_superset(&ours),
        "instances() is {listed:?}, missing some of {ours:?}"
    );
    destroy_ok(provisioner.as_ref(), &gone.interview_id).await;
    let listed = instances(provisioner.as_ref()).await;
    if fixture.exclusive() {
        assert_eq!(listed, std::slice::from_ref(&kept.interview_id));
    } else {
        assert!(listed.contains(&kept.interview_id) && !listed.contains(&gone.interview_id));
    }
    destroy_ok(provisioner.as_ref(), &kept.interview_id).await;
}

/// Creates of different interviews may run at once: all succeed, each with its own URL.
pub async fn concurrent_creates_of_different_interviews_all_succeed(
    harness: &dyn ProvisionerHarness,
) {
    let Some(fixture) = harness.open().await else {
        return;
    };
    let provisioner = fixture.provisioner();
    let specs: Vec<InstanceSpec> = (0..3).map(|_| spec(&fixture.challenge())).collect();
    let created = join_all(specs.iter().map(|s| create_ok(provisioner.as_ref(), s))).await;
    let urls: BTreeSet<&str> = created.iter().map(|(i, _)| i.access_url.as_str()).collect();
    assert_eq!(urls.len(), specs.len(), "instances share a URL: {urls:?}");
    for ((instance, _), spec) in created.iter().zip(&specs) {
        match status(provisioner.as_ref(), &spec.interview_id).await {
            InstanceStatus::Running(running) => assert_eq!(running.access_url, instance.access_url),
            other => panic!(
                "{} is {other:?} after a concurrent create",
                spec.interview_id
            ),
        }
    }
    let progress = RecordingProgress::default();
    let destroyed: Vec<Result<Destroyed, ProvisionError>> = join_all(
        specs
            .iter()
            .map(|s| provisioner.destroy(&s.interview_id, &progress)),
    )
    .await;
    for result in destroyed {
        result.unwrap_or_else(|err| panic!("concurrent destroy failed: {err}"));
    }
}

/// An unknown challenge is a permanent error (no retry will find it) and creates nothing.
pub async fn unknown_challenge_fails_permanently_and_leaves_nothing(
    harness: &dyn ProvisionerHarness,
) {
    let Some(fixture) = harness.open().await else {
        return;
    };
    let provisioner = fixture.provisioner();
    let spec = spec(&fixture.unknown_challenge());
    let progress = RecordingProgress::default();
    match provisioner.create(&spec, &progress).await {
        Err(err) => assert!(!err.retryable, "an unknown challenge is retryable: {err}"),
        Ok(instance) => panic!("an unknown challenge was provisioned: {instance:?}"),
    }
    progress.assert_never_logged(spec.password.expose());
    assert_eq!(
        status(provisioner.as_ref(), &spec.interview_id).await,
        InstanceStatus::Absent
    );
    assert!(
        !instances(provisioner.as_ref())
            .await
            .contains(&spec.interview_id)
    );
}
