//! A provisioner written for tests and benchmarks: it makes no instance, it records every call
//! (with the clock's time and the real time) and can be told to fail or to hang, so scheduler
//! tests can check "created once, destroyed once, on time" without code-server.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tokio::sync::Notify;

use crate::clock::Clock;
use crate::domain::{InterviewId, InterviewState};
use crate::provision::{
    Destroyed, Instance, InstanceSpec, InstanceStatus, Progress, ProvisionError, Provisioner,
};

/// One recorded call.
#[derive(Debug, Clone)]
pub struct Call {
    /// `create` or `destroy`.
    pub kind: &'static str,
    /// For which interview.
    pub interview: InterviewId,
    /// The injected clock's time at the call.
    pub at: DateTime<Utc>,
    /// The real time at the call (for lateness measured on the system clock).
    pub instant: Instant,
}

/// What the next calls should do.
#[derive(Debug, Clone, Default)]
pub enum Behaviour {
    /// Succeed at once.
    #[default]
    Succeed,
    /// Fail creates with a retryable error this many more times, then succeed.
    FailCreates {
        /// Remaining failures.
        times: u32,
    },
    /// Fail every create with a permanent error.
    RejectCreates,
    /// Never return from create (a stalled or crashed worker) until [`RecordingProvisioner::release`].
    HangCreates,
}

/// The recording provisioner. Clones share their records.
#[derive(Debug, Clone)]
pub struct RecordingProvisioner {
    clock: Arc<dyn Clock>,
    state: Arc<Mutex<State>>,
    release: Arc<Notify>,
}

#[derive(Debug, Default)]
struct State {
    calls: Vec<Call>,
    live: HashSet<InterviewId>,
    behaviour: Behaviour,
    creates: HashMap<InterviewId, u32>,
    destroys: HashMap<InterviewId, u32>,
}

impl RecordingProvisioner {
    /// A provisioner that succeeds at once, timestamping calls with `clock`.
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            state: Arc::default(),
            release: Arc::new(Notify::new()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock has failed already; keep reading.
        self.state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
    }

    /// Changes what the next calls do.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        self.state().behaviour = behaviour;
    }

    /// Lets hanging creates go on (they then succeed).
    pub fn release(&self) {
        self.set_behaviour(Behaviour::Succeed);
        self.release.notify_waiters();
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// How many creates ran to completion for `interview`.
    pub fn creates_of(&self, interview: &InterviewId) -> u32 {
        self.state().creates.get(interview).copied().unwrap_or(0)
    }

    /// How many destroys ran for `interview`.
    pub fn destroys_of(&self, interview: &InterviewId) -> u32 {
        self.state().destroys.get(interview).copied().unwrap_or(0)
    }

    /// Instances created and not destroyed.
    pub fn live(&self) -> HashSet<InterviewId> {
        self.state().live.clone()
    }

    fn record(&self, kind: &'static str, interview: &InterviewId) {
        let call = Call {
            kind,
            interview: interview.clone(),
            at: self.clock.now(),
            instant: Instant::now(),
        };
        self.state().calls.push(call);
    }
}

#[async_trait]
impl Provisioner for RecordingProvisioner {
    async fn create(
        &self,
        spec: &InstanceSpec,
        progress: &dyn Progress,
    ) -> Result<Instance, ProvisionError> {
        self.record("create", &spec.interview_id);
        progress.stage(InterviewState::Initializing).await;
        let behaviour = self.state().behaviour.clone();
        match behaviour {
            Behaviour::Succeed => {}
            Behaviour::FailCreates { times } => {
                if times > 0 {
                    self.state().behaviour = Behaviour::FailCreates { times: times - 1 };
                    return Err(ProvisionError::transient(
                        "the test provisioner was told to fail",
                    ));
                }
            }
            Behaviour::RejectCreates => {
                return Err(ProvisionError::permanent(
                    "the test provisioner rejects every create",
                ));
            }
            Behaviour::HangCreates => {
                let released = self.release.notified();
                released.await;
            }
        }
        progress.stage(InterviewState::Configuring).await;
        progress
            .log(format!("files of {} in place", spec.challenge))
            .await;
        let mut state = self.state();
        state.live.insert(spec.interview_id.clone());
        *state.creates.entry(spec.interview_id.clone()).or_default() += 1;
        Ok(Instance {
            access_url: format!("http://{}.test.invalid/", spec.interview_id),
            challenge_checksum: Some(format!("sha256:test-{}", spec.challenge)),
        })
    }

    async fn destroy(
        &self,
        interview: &InterviewId,
        progress: &dyn Progress,
    ) -> Result<Destroyed, ProvisionError> {
        self.record("destroy", interview);
        progress.log("archived the workspace".to_owned()).await;
        let mut state = self.state();
        let existed = state.live.remove(interview);
        *state.destroys.entry(interview.clone()).or_default() += 1;
        Ok(Destroyed {
            archive: existed.then(|| format!("history/{interview}.tar.gz")),
        })
    }

    async fn status(&self, interview: &InterviewId) -> Result<InstanceStatus, ProvisionError> {
        Ok(if self.state().live.contains(interview) {
            InstanceStatus::Running(Instance {
                access_url: format!("http://{interview}.test.invalid/"),
                challenge_checksum: None,
            })
        } else {
            InstanceStatus::Absent
        })
    }

    async fn instances(&self) -> Result<Vec<InterviewId>, ProvisionError> {
        let mut live: Vec<_> = self.state().live.iter().cloned().collect();
        live.sort();
        Ok(live)
    }
}
