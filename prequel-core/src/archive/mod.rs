//! Where candidates' work is kept after their instance is destroyed: the [`Archive`] trait.
//!
//! The local provisioner writes its tarballs into the data directory itself (it has the
//! workspace on this machine). A cloud instance's workspace is out of reach, so there the
//! instance uploads its own tarball to a short-lived [`UploadTarget`] the provisioner hands it at
//! destroy time, and the interviewer gets a short-lived [`download_link`](Archive::download_link)
//! in a DM. `s3::S3Archive` (feature `aws`) keeps them in the history bucket.

#[cfg(feature = "aws")]
pub mod s3;

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use thiserror::Error;

use crate::domain::InterviewId;

/// Where an instance uploads its workspace tarball: one HTTP `PUT` of the gzipped tar to `url`
/// with `Content-Type: application/gzip`. The URL is a capability for exactly one object and
/// expires; it carries no long-lived credential.
#[derive(Clone, PartialEq, Eq)]
pub struct UploadTarget {
    /// The presigned URL.
    pub url: String,
    /// Where the object will be, for the record (`s3://bucket/key`).
    pub location: String,
}

impl fmt::Debug for UploadTarget {
    // The URL is a bearer capability (its signature lets anyone write the object): not printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UploadTarget")
            .field("url", &"[presigned]")
            .field("location", &self.location)
            .finish()
    }
}

/// Why an archive call failed. Messages never contain a presigned URL.
#[derive(Debug, Error)]
#[error("archive {location}: {message}")]
pub struct ArchiveError {
    /// The bucket/key or path concerned.
    pub location: String,
    /// What went wrong.
    pub message: String,
}

/// Keeps archived workspaces, one per interview.
///
/// Contract: keyed by interview id, so asking twice is harmless; [`stored`](Self::stored) and
/// [`download_link`](Self::download_link) answer `None` while nothing was uploaded.
#[async_trait]
pub trait Archive: Send + Sync + fmt::Debug {
    /// A place the instance can upload the interview's tarball to, valid for `valid_for`.
    async fn upload_target(
        &self,
        interview: &InterviewId,
        valid_for: Duration,
    ) -> Result<UploadTarget, ArchiveError>;

    /// The archive's location (`s3://bucket/key`) once something was uploaded.
    async fn stored(&self, interview: &InterviewId) -> Result<Option<String>, ArchiveError>;

    /// A link a person can open to download the archive, valid for `valid_for`; `None` when
    /// there is no archive.
    async fn download_link(
        &self,
        interview: &InterviewId,
        valid_for: Duration,
    ) -> Result<Option<String>, ArchiveError>;
}
