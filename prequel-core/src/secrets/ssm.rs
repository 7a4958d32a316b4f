//! [`SsmSecrets`]: interview passwords as SSM Parameter Store `SecureString` parameters
//! (feature `aws`).
//!
//! One parameter per interview at [`ResourceNames::password_parameter`]
//! (`/{prefix}/{environment}/interviews/{id}/password`), encrypted with the account's default
//! SSM key or the KMS key given to [`SsmSecrets::with_kms_key`], and tagged
//! [`INTERVIEW_TAG`]` = {id}` and [`DEPLOYMENT_TAG`]` = {prefix}-{environment}` so a sweeper can
//! find leftovers.
//!
//! # Races
//!
//! [`password`](SecretStore::password) reads the parameter and, when it is absent, creates it
//! with `PutParameter` without `Overwrite`: SSM creates a parameter at most once, so of two
//! processes racing to create one exactly one succeeds and the other gets
//! `ParameterAlreadyExists`, reads the winner's password and returns it.
//!
//! # Errors
//!
//! Errors name the parameter, never the password: the SDK's message is kept, with any occurrence
//! of the password replaced by `[redacted]` should a service ever echo a request's value.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ssm::error::DisplayErrorContext;
use aws_sdk_ssm::types::{ParameterType, Tag};
use tracing::{debug, info, instrument};

use super::{SecretError, SecretStore, generate_password};
use crate::aws::{DEPLOYMENT_TAG, INTERVIEW_TAG, ResourceNames};
use crate::domain::{InterviewId, SecretString};

/// How many times [`SsmSecrets::password`] goes round read → create → read before giving up (a
/// parameter deleted between a lost race and the read sends it round again).
const ATTEMPTS: u32 = 5;

/// Passwords in SSM Parameter Store. Cloning is cheap; clones share the client.
#[derive(Debug, Clone)]
pub struct SsmSecrets {
    ssm: aws_sdk_ssm::Client,
    names: ResourceNames,
    kms_key: Option<String>,
}

/// An SSM failure, described without the secret.
#[derive(Debug)]
struct SsmFailure(String);

impl fmt::Display for SsmFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SsmFailure {}

fn backend(
    location: &str,
    what: &str,
    err: impl std::error::Error,
    secret: Option<&SecretString>,
) -> SecretError {
    let mut message = format!("{what}: {}", DisplayErrorContext(err));
    if let Some(secret) = secret.filter(|s| !s.expose().is_empty()) {
        message = message.replace(secret.expose(), "[redacted]");
    }
    SecretError::Backend {
        location: location.to_owned(),
        source: Box::new(SsmFailure(message)),
    }
}

impl SsmSecrets {
    /// Passwords of the deployment `names`, encrypted with the account's default SSM key
    /// (`alias/aws/ssm`).
    pub fn new(ssm: aws_sdk_ssm::Client, names: ResourceNames) -> Self {
        Self {
            ssm,
            names,
            kms_key: None,
        }
    }

    /// The same, encrypting with the KMS key `key_id` (id, ARN or alias) instead.
    pub fn with_kms_key(mut self, key_id: impl Into<String>) -> Self {
        self.kms_key = Some(key_id.into());
        self
    }

    /// The parameter holding `interview`'s password.
    pub fn parameter_name(&self, interview: &InterviewId) -> String {
        self.names.password_parameter(interview)
    }

    /// Checks that parameters under [`ResourceNames::parameter_root`] can be read (one
    /// `GetParametersByPath` of at most one result), for start-up.
    #[instrument(skip_all)]
    pub async fn check(&self) -> Result<(), SecretError> {
        let root = self.names.parameter_root();
        match self
            .ssm
            .get_parameters_by_path()
            .path(&root)
            .recursive(true)
            .max_results(1)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) => Err(backend(
                &root,
                &format!(
                    "cannot read SSM parameters under {root} (check the role's ssm:GetParametersByPath permission)"
                ),
                err,
                None,
            )),
        }
    }

    /// The stored password, or `None` when the parameter does not exist.
    async fn get(&self, name: &str) -> Result<Option<SecretString>, SecretError> {
        let result = self
            .ssm
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await;
        match result {
            Ok(output) => match output.parameter().and_then(|p| p.value()) {
                Some(value) if !value.is_empty() => Ok(Some(SecretString::new(value))),
                _ => Err(SecretError::Corrupt(name.to_owned())),
            },
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_parameter_not_found()) =>
            {
                Ok(None)
            }
            Err(err) => Err(backend(name, "cannot read the parameter", err, None)),
        }
    }

    /// Creates the parameter with `password`; `Ok(false)` when it already exists.
    async fn create(
        &self,
        name: &str,
        interview: &InterviewId,
        password: &SecretString,
    ) -> Result<bool, SecretError> {
        let tag = |key: &str, value: String| {
            Tag::builder()
                .key(key)
                .value(value)
                .build()
                .map_err(|err| backend(name, "cannot build a tag", err, None))
        };
        let mut request = self
            .ssm
            .put_parameter()
            .name(name)
            .description(format!("Prequel: password of interview {interview}"))
            .value(password.expose())
            .r#type(ParameterType::SecureString)
            // Never overwrite: creating at most once is what makes racing first calls agree.
            // (SSM refuses tags together with `Overwrite=true`; with `false` they are fine.)
            .overwrite(false)
            .tags(tag(INTERVIEW_TAG, interview.to_string())?)
            .tags(tag(DEPLOYMENT_TAG, self.names.stem())?);
        if let Some(key) = &self.kms_key {
            request = request.key_id(key);
        }
        match request.send().await {
            Ok(_) => Ok(true),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_parameter_already_exists()) =>
            {
                Ok(false)
            }
            Err(err) => Err(backend(
                name,
                "cannot create the parameter",
                err,
                Some(password),
            )),
        }
    }
}

#[async_trait]
impl SecretStore for SsmSecrets {
    #[instrument(skip_all, fields(interview = %interview))]
    async fn password(&self, interview: &InterviewId) -> Result<SecretString, SecretError> {
        let name = self.parameter_name(interview);
        for attempt in 0..ATTEMPTS {
            if let Some(existing) = self.get(&name).await? {
                return Ok(existing);
            }
            let password = generate_password();
            if self.create(&name, interview, &password).await? {
                info!(parameter = %name, "created the interview's password parameter");
                return Ok(password);
            }
            // Another process created it between our read and our write: read theirs.
            debug!(parameter = %name, attempt, "lost the race to create the password; reading the winner's");
            if let Some(existing) = self.get(&name).await? {
                return Ok(existing);
            }
            // Created and deleted meanwhile (or not yet visible): go round again, a bit later.
            tokio::time::sleep(Duration::from_millis(50 * u64::from(attempt + 1))).await;
        }
        Err(SecretError::Backend {
            location: name,
            source: Box::new(SsmFailure(format!(
                "the parameter kept appearing and disappearing over {ATTEMPTS} attempts"
            ))),
        })
    }

    #[instrument(skip_all, fields(interview = %interview))]
    async fn existing_password(
        &self,
        interview: &InterviewId,
    ) -> Result<Option<SecretString>, SecretError> {
        self.get(&self.parameter_name(interview)).await
    }

    #[instrument(skip_all, fields(interview = %interview))]
    async fn forget(&self, interview: &InterviewId) -> Result<(), SecretError> {
        let name = self.parameter_name(interview);
        match self.ssm.delete_parameter().name(&name).send().await {
            Ok(_) => {
                debug!(parameter = %name, "deleted the password parameter");
                Ok(())
            }
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_parameter_not_found()) =>
            {
                Ok(())
            }
            Err(err) => Err(backend(&name, "cannot delete the parameter", err, None)),
        }
    }
}
