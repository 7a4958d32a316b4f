//! The AWS backends of `prequel serve` (`PREQUEL_BACKEND=aws`, cargo feature `aws`): DynamoDB,
//! ECS Fargate behind the shared ALB, S3 and SSM, checked at start so that a missing table,
//! bucket or permission stops the server with a message naming the resource.

use std::sync::Arc;

use anyhow::{Context as _, bail};
use prequel_core::archive::s3::S3Archive;
use prequel_core::aws::{AwsClients, ConnectOptions, ResourceNames};
use prequel_core::challenge::ChallengeSource as _;
use prequel_core::challenge::s3::S3Challenges;
use prequel_core::domain::ChallengeId;
use prequel_core::provision::ecs::{EcsProvisioner, EcsSettings};
use prequel_core::secrets::ssm::SsmSecrets;
use prequel_core::store::dynamo::DynamoStore;

use crate::config::AwsSetup;

/// Everything the engine needs, built over AWS.
pub struct AwsEngine {
    /// The DynamoDB store.
    pub store: Arc<DynamoStore>,
    /// The SSM secrets.
    pub secrets: Arc<SsmSecrets>,
    /// The ECS provisioner.
    pub provisioner: Arc<EcsProvisioner>,
    /// The S3 archive (for the link in the DM).
    pub archive: Arc<S3Archive>,
    /// The challenges synced to S3.
    pub challenge_ids: Vec<ChallengeId>,
}

/// The names of every resource, from the prefix and environment.
pub fn names(setup: &AwsSetup) -> anyhow::Result<ResourceNames> {
    Ok(ResourceNames::new(&setup.prefix, &setup.environment)?)
}

/// Connects with the standard AWS variables and checks every resource before anything runs.
pub async fn connect(setup: &AwsSetup) -> anyhow::Result<AwsEngine> {
    let names = names(setup)?;
    let clients = AwsClients::connect(&ConnectOptions::default()).await;
    if clients.dynamodb.config().region().is_none() {
        bail!("PREQUEL_BACKEND=aws needs a region: set AWS_REGION (or a profile's region)");
    }
    let store = DynamoStore::new(clients.dynamodb.clone(), &names);
    store
        .check()
        .await
        .context("the operations store is not ready")?;
    let secrets = SsmSecrets::new(clients.ssm.clone(), names.clone());
    secrets
        .check()
        .await
        .context("the secret store is not ready")?;
    let challenges = Arc::new(S3Challenges::new(
        clients.s3.clone(),
        names.challenges_bucket(),
    ));
    challenges
        .check()
        .await
        .context("the challenges bucket is not ready")?;
    let archive = Arc::new(S3Archive::new(clients.s3.clone(), names.history_bucket()));
    archive
        .check()
        .await
        .context("the history bucket is not ready")?;
    let manifests = challenges.list().await.with_context(|| {
        format!(
            "cannot list the challenges in s3://{}",
            names.challenges_bucket()
        )
    })?;
    if manifests.is_empty() {
        bail!(
            "no challenges in s3://{}: run `prequel challenges sync` with the same AWS settings",
            names.challenges_bucket()
        );
    }
    let settings = EcsSettings {
        task_role_arn: setup.task_role_arn.clone(),
        log_group: setup.log_group.clone(),
        assign_public_ip: setup.assign_public_ip,
        ..EcsSettings::new(
            names.clone(),
            &setup.domain,
            &setup.ecs_cluster,
            setup.subnets.clone(),
            setup.security_groups.clone(),
            &setup.vpc_id,
            &setup.alb_listener_arn,
            &setup.execution_role_arn,
            &setup.instance_image,
        )
    };
    let provisioner = EcsProvisioner::new(&clients, settings, challenges, archive.clone());
    provisioner
        .check()
        .await
        .context("the ECS cluster or the load balancer is not ready")?;
    tracing::info!(
        stem = %names.stem(),
        challenges = manifests.len(),
        "aws backends ready"
    );
    Ok(AwsEngine {
        store: Arc::new(store),
        secrets: Arc::new(secrets),
        provisioner: Arc::new(provisioner),
        archive,
        challenge_ids: manifests.into_iter().map(|m| m.id).collect(),
    })
}
