//! What the AWS backends share (feature `aws`): one way to build the SDK's configuration, the
//! names of every resource derived from a prefix and an environment, and a request counter.
//!
//! The backends themselves live beside their local counterparts: [`store::dynamo`](crate::store::dynamo),
//! [`challenge::s3`](crate::challenge::s3), [`archive`](crate::archive), [`secrets::ssm`](crate::secrets::ssm),
//! [`provision::ecs`](crate::provision::ecs).
//!
//! # Connecting
//!
//! [`sdk_config`] reads the standard variables (`AWS_REGION`, `AWS_ENDPOINT_URL`, the
//! credentials chain: environment, profile, web identity, ECS task role, instance metadata) and
//! adds what Prequel always wants: an HTTP client over rustls with ring (no C toolchain needed),
//! and the SDK's standard retry mode with up to [`MAX_ATTEMPTS`] attempts, which retries
//! throttling and 5xx answers with exponential backoff and full jitter. Tests point it at moto
//! with [`ConnectOptions::endpoint_url`] and static credentials.

mod counter;

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_smithy_http_client::tls;
use aws_smithy_types::retry::RetryConfig;

pub use counter::{RequestCount, RequestCounter};

use crate::domain::{ChallengeId, InterviewId};

/// The AWS SDK crates the backends are built on, re-exported so that embedders and tests name
/// their types (a `Tag`, an error) with the very versions Prequel uses.
pub mod sdk {
    pub use aws_sdk_dynamodb as dynamodb;
    pub use aws_sdk_ecs as ecs;
    pub use aws_sdk_elasticloadbalancingv2 as elb;
    pub use aws_sdk_s3 as s3;
    pub use aws_sdk_ssm as ssm;
}

/// Attempts per AWS call (the first and four retries) before an error reaches the backend.
pub const MAX_ATTEMPTS: u32 = 5;

/// How to reach AWS, beyond what the environment says.
#[derive(Debug, Clone, Default)]
pub struct ConnectOptions {
    /// The region; `None` reads `AWS_REGION` / the profile.
    pub region: Option<String>,
    /// Another endpoint for every service (moto in tests); `None` reads `AWS_ENDPOINT_URL`.
    pub endpoint_url: Option<String>,
    /// Fixed credentials (tests); `None` uses the standard credentials chain.
    pub static_credentials: Option<(String, String)>,
    /// Counts every request sent (the benchmark's interceptor), when given; used by
    /// [`AwsClients::connect`].
    pub counter: Option<RequestCounter>,
}

/// One client per AWS service Prequel uses, all built from the same configuration (and the same
/// request counter, when one is given). Clients are cheap to clone.
#[derive(Debug, Clone)]
pub struct AwsClients {
    /// DynamoDB: the operations store.
    pub dynamodb: aws_sdk_dynamodb::Client,
    /// S3: challenges and archives.
    pub s3: aws_sdk_s3::Client,
    /// SSM Parameter Store: interview passwords.
    pub ssm: aws_sdk_ssm::Client,
    /// ECS: interview tasks and their task definitions.
    pub ecs: aws_sdk_ecs::Client,
    /// Elastic Load Balancing v2: target groups and listener rules on the shared ALB.
    pub elb: aws_sdk_elasticloadbalancingv2::Client,
}

impl AwsClients {
    /// Connects as `options` say (see [`sdk_config`]).
    pub async fn connect(options: &ConnectOptions) -> Self {
        let config = sdk_config(options).await;
        Self::from_config(&config, options.counter.as_ref())
    }

    /// Builds every client from one configuration, counting requests with `counter` if given.
    pub fn from_config(config: &SdkConfig, counter: Option<&RequestCounter>) -> Self {
        macro_rules! client {
            ($krate:ident) => {{
                let mut builder = $krate::config::Builder::from(config);
                if let Some(counter) = counter {
                    builder = builder.interceptor(counter.clone());
                }
                $krate::Client::from_conf(builder.build())
            }};
        }
        // Path-style addressing whenever a custom endpoint is set: moto, MinIO and other
        // S3-compatible servers do not serve virtual-hosted buckets on loopback.
        let s3 = {
            let mut builder = aws_sdk_s3::config::Builder::from(config)
                .force_path_style(config.endpoint_url().is_some());
            if let Some(counter) = counter {
                builder = builder.interceptor(counter.clone());
            }
            aws_sdk_s3::Client::from_conf(builder.build())
        };
        Self {
            dynamodb: client!(aws_sdk_dynamodb),
            s3,
            ssm: client!(aws_sdk_ssm),
            ecs: client!(aws_sdk_ecs),
            elb: client!(aws_sdk_elasticloadbalancingv2),
        }
    }
}

/// The SDK configuration every Prequel AWS client is built from.
pub async fn sdk_config(options: &ConnectOptions) -> SdkConfig {
    let http_client = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http_client)
        .retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::from_millis(50))
                .with_max_backoff(Duration::from_secs(5)),
        );
    if let Some(region) = &options.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(endpoint) = &options.endpoint_url {
        loader = loader.endpoint_url(endpoint.clone());
    }
    if let Some((key, secret)) = &options.static_credentials {
        loader = loader.credentials_provider(Credentials::new(
            key.clone(),
            secret.clone(),
            None,
            None,
            "prequel-static",
        ));
    }
    loader.load().await
}

/// The names of Prequel's AWS resources for one deployment: `{prefix}-{environment}-…`, as
/// the Terraform in `infra/` creates them and as its outputs name them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceNames {
    prefix: String,
    environment: String,
}

/// Why a prefix or environment was refused.
#[derive(Debug, thiserror::Error)]
#[error("{setting} `{value}` is not valid: {reason}")]
pub struct NameError {
    /// Which setting (`PREQUEL_PREFIX`, `PREQUEL_ENVIRONMENT`).
    pub setting: &'static str,
    /// The value given.
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl ResourceNames {
    /// Checks that `prefix` and `environment` make valid names for every resource: lowercase
    /// letters, digits and `-`, starting with a letter, together at most 18 characters (a target
    /// group name is at most 32: `{prefix}-{environment}-` plus a 12-character interview id).
    pub fn new(prefix: &str, environment: &str) -> Result<Self, NameError> {
        for (setting, value) in [
            ("PREQUEL_PREFIX", prefix),
            ("PREQUEL_ENVIRONMENT", environment),
        ] {
            let reason = if value.is_empty() {
                Some("it is empty")
            } else if !value.starts_with(|c: char| c.is_ascii_lowercase()) {
                Some("it must start with a lowercase letter")
            } else if !value
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            {
                Some("use lowercase letters, digits and `-` only")
            } else if value.ends_with('-') || value.contains("--") {
                Some("it must not end with `-` or hold `--`")
            } else {
                None
            };
            if let Some(reason) = reason {
                return Err(NameError {
                    setting,
                    value: value.to_owned(),
                    reason,
                });
            }
        }
        if prefix.len() + environment.len() > 18 {
            return Err(NameError {
                setting: "PREQUEL_PREFIX",
                value: format!("{prefix}-{environment}"),
                reason: "prefix and environment together must be at most 18 characters \
                         (AWS limits target group names to 32)",
            });
        }
        Ok(Self {
            prefix: prefix.to_owned(),
            environment: environment.to_owned(),
        })
    }

    /// The prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The environment (`prod`, `staging`, …).
    pub fn environment(&self) -> &str {
        &self.environment
    }

    /// `{prefix}-{environment}`: the stem of every name.
    pub fn stem(&self) -> String {
        format!("{}-{}", self.prefix, self.environment)
    }

    /// The DynamoDB table of interviews (and their notes, user settings and the change feed).
    pub fn interviews_table(&self) -> String {
        format!("{}-interviews", self.stem())
    }

    /// The DynamoDB table of operations and their logs.
    pub fn operations_table(&self) -> String {
        format!("{}-operations", self.stem())
    }

    /// The S3 bucket `prequel challenges sync` uploads to and instances read starter files from.
    pub fn challenges_bucket(&self) -> String {
        format!("{}-challenges", self.stem())
    }

    /// The S3 bucket of archived workspaces.
    pub fn history_bucket(&self) -> String {
        format!("{}-history", self.stem())
    }

    /// The SSM path under which interview passwords live (`/{prefix}/{environment}/interviews`).
    pub fn parameter_root(&self) -> String {
        format!("/{}/{}/interviews", self.prefix, self.environment)
    }

    /// The SSM SecureString parameter holding one interview's password.
    pub fn password_parameter(&self, interview: &InterviewId) -> String {
        format!("{}/{interview}/password", self.parameter_root())
    }

    /// The SSM SecureString parameter holding the token of one interview's archiver: only the
    /// archiver container gets it, never the candidate's.
    pub fn archive_token_parameter(&self, interview: &InterviewId) -> String {
        format!("{}/{interview}/archive-token", self.parameter_root())
    }

    /// The key of a challenge's starter bundle in the challenges bucket: a gzipped tar of the
    /// files under `starter/` (paths relative to it), whose [`bundle_checksum`](crate::challenge::bundle_checksum)
    /// is in the object's user metadata under [`CHECKSUM_METADATA`].
    pub fn starter_bundle_key(challenge: &ChallengeId) -> String {
        format!("{challenge}/starter.tar.gz")
    }

    /// The key of an interview's archived workspace in the history bucket.
    pub fn archive_key(interview: &InterviewId) -> String {
        format!("{interview}/workspace.tar.gz")
    }

    /// The ECS task definition family of a challenge: one family per challenge.
    pub fn task_family(&self, challenge: &ChallengeId) -> String {
        format!("{}-{challenge}", self.stem())
    }

    /// The ALB target group of one interview (at most 32 characters, see [`ResourceNames::new`]).
    pub fn target_group(&self, interview: &InterviewId) -> String {
        format!("{}-{interview}", self.stem())
    }
}

/// The user-metadata key (`x-amz-meta-sha256`) holding a starter bundle's checksum
/// (`sha256:<hex>`), so readers can check the bytes they got without another object.
pub const CHECKSUM_METADATA: &str = "sha256";

/// The tag every resource made for an interview carries, with the interview id as its value.
pub const INTERVIEW_TAG: &str = "prequel:interview";

/// The tag naming the deployment (`{prefix}-{environment}`) on every resource Prequel makes, so
/// one deployment's sweeper never touches another's.
pub const DEPLOYMENT_TAG: &str = "prequel:deployment";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_prefix_and_environment() {
        let names = ResourceNames::new("prequel", "prod").expect("valid");
        assert_eq!(names.interviews_table(), "prequel-prod-interviews");
        assert_eq!(names.operations_table(), "prequel-prod-operations");
        assert_eq!(names.challenges_bucket(), "prequel-prod-challenges");
        assert_eq!(names.history_bucket(), "prequel-prod-history");
        let id = InterviewId::parse("k7mq2xw9ab3c").expect("id");
        assert_eq!(
            names.password_parameter(&id),
            "/prequel/prod/interviews/k7mq2xw9ab3c/password"
        );
        assert_eq!(names.target_group(&id), "prequel-prod-k7mq2xw9ab3c");
    }

    #[test]
    fn the_longest_names_fit_aws_limits() {
        let names = ResourceNames::new("abcdefghij", "staging1").expect("18 characters");
        let id = InterviewId::parse("k7mq2xw9ab3c").expect("id");
        assert!(names.target_group(&id).len() <= 32);
        assert!(names.history_bucket().len() <= 63);
    }

    #[test]
    fn bad_names_are_refused_naming_the_setting() {
        for (prefix, env, setting) in [
            ("", "prod", "PREQUEL_PREFIX"),
            ("Prequel", "prod", "PREQUEL_PREFIX"),
            ("prequel", "prod_1", "PREQUEL_ENVIRONMENT"),
            ("prequel-", "prod", "PREQUEL_PREFIX"),
            ("9lives", "prod", "PREQUEL_PREFIX"),
            ("abcdefghijk", "staging1", "PREQUEL_PREFIX"),
        ] {
            let err = ResourceNames::new(prefix, env).expect_err(prefix);
            assert_eq!(err.setting, setting, "{prefix} {env}: {err}");
        }
    }
}
