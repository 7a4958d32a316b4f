//! Making and unmaking interview instances: the [`Provisioner`] trait.
//!
//! Issue 3 adds the local code-server provisioner and issue 7 the ECS Fargate one; the scheduler
//! only knows this trait.

#[cfg(feature = "aws")]
pub mod ecs;
pub mod local;

use std::fmt;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use thiserror::Error;

use crate::domain::{ChallengeId, InterviewId, InterviewState, SecretString};

/// What to provision for one interview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceSpec {
    /// The interview (and the idempotency key of every provisioner call).
    pub interview_id: InterviewId,
    /// Whose starter files go into the workspace.
    pub challenge: ChallengeId,
    /// When the instance will be destroyed (for display inside the instance, and cloud tags).
    pub destroy_at: DateTime<Utc>,
    /// The password the instance must require. It reaches the instance only (an environment
    /// variable or a cloud secret), never its command line, a log line or a file others read.
    pub password: SecretString,
}

/// A running instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Where the candidate reaches it.
    pub access_url: String,
    /// The checksum of the challenge bundle put into its workspace (`sha256:…`), when known.
    pub challenge_checksum: Option<String>,
}

/// What a provisioner knows about an interview's instance right now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceStatus {
    /// Nothing exists for this interview.
    Absent,
    /// Something exists but is not ready (starting, or half torn down).
    Starting,
    /// Ready at this URL.
    Running(Instance),
}

/// What destroying produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Destroyed {
    /// Where the candidate's work was archived, if there was anything to archive.
    pub archive: Option<String>,
}

/// Where a provisioner reports how far it got: the stages become the interview's state
/// (`initializing`, `configuring`, `destroying`) and the lines its operation's log.
#[async_trait]
pub trait Progress: Send + Sync {
    /// The instance reached a stage.
    async fn stage(&self, state: InterviewState);
    /// A line for the operation's log (never a secret).
    async fn log(&self, message: String);
}

/// Progress that goes to the tracing log only: for work done outside an operation (the orphan
/// sweep at start), where there is no interview state to move.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogOnly;

#[async_trait]
impl Progress for LogOnly {
    async fn stage(&self, state: InterviewState) {
        tracing::info!(%state, "instance stage");
    }

    async fn log(&self, message: String) {
        tracing::info!("{message}");
    }
}

/// Why a provisioner call failed.
#[derive(Debug, Error)]
#[error("{message}")]
pub struct ProvisionError {
    /// What went wrong, in words a person reads (shown on the failed interview).
    pub message: String,
    /// Whether trying again may help (a timeout, a busy API) or not (an unknown challenge).
    pub retryable: bool,
}

impl ProvisionError {
    /// A failure worth retrying.
    pub fn transient(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }

    /// A failure no retry will fix.
    pub fn permanent(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }
}

/// Makes and unmakes instances.
///
/// Contract (checked by the provisioner conformance cases):
/// * Every method is **idempotent by interview id**: a create for an interview whose instance
///   already runs returns that instance; a destroy of an absent instance succeeds. A claim can
///   be retried after a crash, so the scheduler may call either twice.
/// * `create` reports its stages through `progress` and returns only when the instance is ready.
/// * `destroy` archives the candidate's work before tearing down, and waits for the archive.
/// * Safe to call concurrently for different interviews.
#[async_trait]
pub trait Provisioner: Send + Sync + fmt::Debug {
    /// Provisions the instance and waits until it is ready.
    async fn create(
        &self,
        spec: &InstanceSpec,
        progress: &dyn Progress,
    ) -> Result<Instance, ProvisionError>;

    /// Archives the work and tears the instance down.
    async fn destroy(
        &self,
        interview: &InterviewId,
        progress: &dyn Progress,
    ) -> Result<Destroyed, ProvisionError>;

    /// What exists for the interview now.
    async fn status(&self, interview: &InterviewId) -> Result<InstanceStatus, ProvisionError>;

    /// The interviews for which anything exists (running, starting or half torn down). At start
    /// the engine destroys those whose interview is unknown or ended: no orphan survives a
    /// crash.
    async fn instances(&self) -> Result<Vec<InterviewId>, ProvisionError>;
}
