//! [`S3Archive`]: archived workspaces in the history bucket (feature `aws`).
//!
//! One object per interview at [`ResourceNames::archive_key`] (`{interview}/workspace.tar.gz`).
//! The instance uploads it itself with a presigned `PUT` ([`Archive::upload_target`]); the
//! interviewer downloads it with a presigned `GET` ([`Archive::download_link`]). Presigning is
//! local computation (no request to S3), signed with this process's credentials, so a link is
//! valid for at most the shorter of `valid_for` and those credentials' remaining life (hours for
//! an ECS task role). Presigned URLs are capabilities: they are never logged nor kept in errors.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::presigning::PresigningConfig;
use tracing::{debug, instrument};

use super::{Archive, ArchiveError, UploadTarget};
use crate::aws::ResourceNames;
use crate::domain::InterviewId;

/// The content type the instance must send with its `PUT` (it is part of the signature).
pub const ARCHIVE_CONTENT_TYPE: &str = "application/gzip";

/// Archives in an S3 bucket (usually [`ResourceNames::history_bucket`]). Cloning is cheap.
#[derive(Debug, Clone)]
pub struct S3Archive {
    s3: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Archive {
    /// Archives in `bucket`.
    pub fn new(s3: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            s3,
            bucket: bucket.into(),
        }
    }

    /// The bucket.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// `s3://bucket/{interview}/workspace.tar.gz`.
    pub fn location(&self, interview: &InterviewId) -> String {
        format!(
            "s3://{}/{}",
            self.bucket,
            ResourceNames::archive_key(interview)
        )
    }

    /// Checks that the bucket exists and can be read (HeadBucket), for start-up.
    #[instrument(skip_all, fields(bucket = %self.bucket))]
    pub async fn check(&self) -> Result<(), ArchiveError> {
        match self.s3.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(err) => Err(ArchiveError {
                location: format!("s3://{}", self.bucket),
                message: format!(
                    "S3 bucket `{}` does not exist or is not readable: {}",
                    self.bucket,
                    DisplayErrorContext(&err)
                ),
            }),
        }
    }

    fn presigning(
        &self,
        interview: &InterviewId,
        valid_for: Duration,
    ) -> Result<PresigningConfig, ArchiveError> {
        PresigningConfig::expires_in(valid_for).map_err(|err| ArchiveError {
            location: self.location(interview),
            message: format!("cannot presign for {valid_for:?}: {err}"),
        })
    }

    fn presign_error(&self, interview: &InterviewId, err: impl std::error::Error) -> ArchiveError {
        // The error describes why signing failed (credentials, configuration); it holds no URL,
        // since none was made.
        ArchiveError {
            location: self.location(interview),
            message: format!("cannot presign a request: {}", DisplayErrorContext(err)),
        }
    }
}

#[async_trait]
impl Archive for S3Archive {
    #[instrument(skip_all, fields(interview = %interview))]
    async fn upload_target(
        &self,
        interview: &InterviewId,
        valid_for: Duration,
    ) -> Result<UploadTarget, ArchiveError> {
        let config = self.presigning(interview, valid_for)?;
        let request = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(ResourceNames::archive_key(interview))
            .content_type(ARCHIVE_CONTENT_TYPE)
            .presigned(config)
            .await
            .map_err(|err| self.presign_error(interview, err))?;
        let location = self.location(interview);
        debug!(%location, ?valid_for, "presigned an archive upload");
        Ok(UploadTarget {
            url: request.uri().to_owned(),
            location,
        })
    }

    #[instrument(skip_all, fields(interview = %interview))]
    async fn stored(&self, interview: &InterviewId) -> Result<Option<String>, ArchiveError> {
        match self
            .s3
            .head_object()
            .bucket(&self.bucket)
            .key(ResourceNames::archive_key(interview))
            .send()
            .await
        {
            Ok(_) => Ok(Some(self.location(interview))),
            Err(err) if err.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(err) => Err(ArchiveError {
                location: self.location(interview),
                message: format!("cannot read the object: {}", DisplayErrorContext(&err)),
            }),
        }
    }

    #[instrument(skip_all, fields(interview = %interview))]
    async fn download_link(
        &self,
        interview: &InterviewId,
        valid_for: Duration,
    ) -> Result<Option<String>, ArchiveError> {
        if self.stored(interview).await?.is_none() {
            return Ok(None);
        }
        let config = self.presigning(interview, valid_for)?;
        let request = self
            .s3
            .get_object()
            .bucket(&self.bucket)
            .key(ResourceNames::archive_key(interview))
            // A browser saves it under a useful name rather than `workspace.tar.gz`.
            .response_content_disposition(format!(
                "attachment; filename=\"{interview}-workspace.tar.gz\""
            ))
            .presigned(config)
            .await
            .map_err(|err| self.presign_error(interview, err))?;
        debug!(location = %self.location(interview), ?valid_for, "presigned an archive download");
        Ok(Some(request.uri().to_owned()))
    }
}
