//! The ECS Fargate [`Provisioner`] (feature `aws`): one Fargate task per interview behind the
//! deployment's shared ALB, reached at `https://{id}.{domain}`.
//!
//! # What one interview is made of
//!
//! | resource | name | made at |
//! |---|---|---|
//! | ALB target group (type `ip`, health check `/healthz`) | [`ResourceNames::target_group`] | create, first |
//! | SSM SecureString parameter with the password | [`ResourceNames::password_parameter`] | create |
//! | SSM SecureString parameter with the archiver's token | [`ResourceNames::archive_token_parameter`] | create |
//! | task definition revision | family [`ResourceNames::task_family`] (one per challenge), one revision per interview | create |
//! | listener rule on the shared HTTPS listener, host `{id}.{domain}` | lowest free priority | create |
//! | the task (`startedBy` = the interview id) | — | create, last |
//!
//! Everything carries the tags [`INTERVIEW_TAG`] = the id and [`DEPLOYMENT_TAG`] = the
//! deployment's stem, so [`instances`](Provisioner::instances) finds what a crash left behind,
//! and the engine's orphan sweep at start destroys those whose interview ended.
//!
//! # Decisions
//!
//! - **RunTask, not a service.** An interview is one short-lived task. A service would restart a
//!   crashed container with an empty workspace, silently losing the candidate's work, and costs
//!   a service (and a deployment) per interview; a task that stops is instead reported: create
//!   fails fast with the task's `stoppedReason`, and `status` stops saying `Running`.
//! - **A task definition revision per interview.** The password reaches the container only as an
//!   ECS secret (`PASSWORD` from the SSM parameter, resolved by the execution role when the task
//!   starts): it is never an environment value, a tag, a log line or an error message. ECS
//!   secrets are fixed per task definition (RunTask overrides cannot add one), and the parameter
//!   name holds the interview id, so each interview registers its own revision of its
//!   challenge's family, tagged with the interview, and deregisters and deletes it at destroy.
//!   The provisioner writes the parameter itself, so it works with any `SecretStore`. The
//!   starter bundle's presigned URL (not secret, valid 30 minutes) goes in the RunTask overrides,
//!   so a create retried later starts the task with a fresh URL; the task role needs no S3 right.
//! - **No task role by default.** The candidate has a shell in the task, so the task must hold
//!   no AWS permissions ([`EcsSettings::task_role_arn`] is `None`).
//! - **`FARGATE` by default, not `FARGATE_SPOT`.** A Spot interruption gives two minutes' notice
//!   and ends the candidate's session in the middle of an interview; the saving on half a vCPU
//!   for 90 minutes is cents. [`CapacityProvider::FargateSpot`] is there for teams that accept it.
//! - **Listener rule priorities that cannot collide.** The rules are read (all pages) and the
//!   lowest free priority is taken; when CreateRule answers `PriorityInUse` (another replica
//!   raced us) the rules are read again and the next free one is tried, with a random pause,
//!   at most 20 times. Before creating, a rule already routing our host is reused, so a create
//!   retried after a crash never makes a second rule.
//! - **The target group is the interview's anchor.** It is looked up by name and made **first**
//!   (moto, unlike AWS, refuses a second CreateTargetGroup with the same name, so it is never
//!   created blindly), tagged with the challenge ([`CHALLENGE_TAG`]); after the revision is
//!   registered its ARN is recorded on it ([`TASK_DEFINITION_TAG`]); destroy deletes it
//!   **last**. So as long as anything of an interview exists, its target group does, and
//!   `instances()` (tasks, target groups and rules carrying our tags) lists the interview for
//!   the orphan sweep. A create cut short between registering and recording is repaired: the
//!   retry (or destroy) searches the challenge family's newest active revisions for one tagged
//!   with the interview. Task definitions are therefore not listed by `instances()`.
//! - **Health gate.** The task's private IP (from its ENI attachment) is registered in the
//!   target group, and create returns only when DescribeTargetHealth says `healthy` (the ALB's
//!   own `/healthz` check, which code-server answers with 200 without a login), within
//!   [`EcsSettings::ready_timeout`]; a task that stops meanwhile fails the create at once with
//!   its `stoppedReason`.
//! - **Two containers: the candidate's and the archiver.** The candidate has a shell, so the
//!   archive is made by something they cannot impersonate, stop or feed: the `archiver`
//!   container (same image, `agent.py archiver`, run as root) unpacks the starter files into a
//!   task volume shared with the candidate's `instance` container, hands them to the candidate's
//!   user, and only then answers its health check; the candidate's container starts after that
//!   (`dependsOn` … `HEALTHY`). It holds the only copy of the archive token (its own ECS secret
//!   from its own parameter) and the starter bundle's URL (its RunTask override); the candidate's
//!   container gets neither. Containers of a task have their own PID namespaces, so the candidate
//!   cannot see or signal it; it has bound the agent port before the candidate's container
//!   exists, and it is essential, so if it dies the task stops.
//! - **Destroy archives first.** If the task runs, its archiver is asked to upload the
//!   workspace: `POST http://{task_ip}:{agent_port}/archive` with
//!   `{"upload_url": <presigned PUT from the Archive>}` and `Authorization: Bearer <archive
//!   token>` (read back from its parameter). Whatever it answers, the archive recorded is what
//!   is in the bucket afterwards (`Archive::stored`). If the agent cannot be reached or fails, that is logged and
//!   teardown continues without an archive: a dead instance must not keep its resources (and
//!   its bill) forever. Then, each step tolerating "already gone": StopTask and wait for
//!   `STOPPED`, DeleteRule, deregister and delete the revision, DeleteParameter, and finally
//!   DeleteTargetGroup (which also drops its targets, so no DeregisterTargets is sent).
//!
//! # What moto (5.2.5) simulates, and what the tests do about it
//!
//! RunTask returns an ENI attachment with a private IP; DescribeTargetHealth answers `healthy`
//! for any registered target; PriorityInUse, DeleteTaskDefinitions and tags are real. A task's
//! `lastStatus` advances one step (RUNNING → DEACTIVATING → … → STOPPED) on each DescribeTasks by
//! default, so the tests configure moto's state manager to keep tasks RUNNING until StopTask.
//! No container runs, so no archive agent answers: [`EcsSettings::agent_address_override`]
//! (tests only) points destroy at a fake agent on loopback.

mod agent;
mod alb;
mod errors;

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, CapacityProviderStrategyItem, Compatibility,
    ContainerCondition, ContainerDefinition, ContainerDependency, ContainerOverride, DesiredStatus,
    HealthCheck, KeyValuePair, LogConfiguration, LogDriver, MountPoint, NetworkConfiguration,
    NetworkMode, PortMapping, PropagateTags, Secret, Tag, Task, TaskField, TaskOverride,
    TransportProtocol, Volume,
};
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_ssm::types::ParameterType;
use tokio::time::Instant;
use tracing::instrument;

use crate::archive::Archive;
use crate::aws::{AwsClients, CHECKSUM_METADATA, DEPLOYMENT_TAG, INTERVIEW_TAG, ResourceNames};
use crate::challenge::{ChallengeError, ChallengeSource};
use crate::domain::{ChallengeId, InterviewId, SecretString};
use crate::provision::{
    Destroyed, Instance, InstanceSpec, InstanceStatus, Progress, ProvisionError, Provisioner,
};

/// The tag on an interview's target group naming its task definition revision (an ARN), so a
/// retried create reuses it and destroy deletes it.
pub const TASK_DEFINITION_TAG: &str = "prequel:task-definition";

/// The tag on an interview's target group naming its challenge, so the revision of a create cut
/// short before it was recorded can still be found in the challenge's family.
pub const CHALLENGE_TAG: &str = "prequel:challenge";

/// How many of a family's newest active revisions are searched for one a cut-short create
/// registered but did not record.
const REVISION_SEARCH: i32 = 20;

/// The tag on an interview's task holding the challenge bundle's checksum (`sha256:…`).
pub const CHECKSUM_TAG: &str = "prequel:challenge-checksum";

/// The container's name in every task definition.
pub const CONTAINER_NAME: &str = "instance";

/// The archiver's container in an interview's task (see the module documentation).
pub const ARCHIVER_CONTAINER: &str = "archiver";

/// Where the shared workspace volume is mounted in the archiver and in the candidate's
/// container (the image's `PREQUEL_WORKSPACE`).
const ARCHIVER_WORKSPACE: &str = "/workspace";
const CANDIDATE_WORKSPACE: &str = "/home/coder/workspace";

/// The task volume both containers mount.
const WORKSPACE_VOLUME: &str = "workspace";

/// The candidate's user in the instance image (`coder`).
const CANDIDATE_OWNER: &str = "1001:1001";

/// The archiver's share of the task's memory (MiB); the candidate's container gets the rest.
const ARCHIVER_MEMORY_MIB: u32 = 256;

/// The most the archiver packs (file contents), as the local provisioner's archive.
const ARCHIVE_MAX_BYTES: u64 = 1024 * 1024 * 1024;

/// The reason given to StopTask.
pub const STOP_REASON: &str = "prequel: interview ended";

/// How long the presigned starter-bundle URL handed to a task is valid.
const CHALLENGE_URL_VALIDITY: Duration = Duration::from_secs(30 * 60);

/// How long the archive agent's presigned upload URL is valid.
const ARCHIVE_URL_VALIDITY: Duration = Duration::from_secs(15 * 60);

/// Which Fargate capacity the tasks run on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CapacityProvider {
    /// On-demand Fargate (the default: an interview is never interrupted).
    #[default]
    Fargate,
    /// Fargate Spot: cheaper, but AWS may stop a task with two minutes' notice.
    FargateSpot,
}

impl CapacityProvider {
    /// The capacity provider's name in the ECS API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fargate => "FARGATE",
            Self::FargateSpot => "FARGATE_SPOT",
        }
    }
}

/// Where the ECS provisioner puts things: one-to-one with the settings `prequel serve` reads
/// and the outputs of the Terraform in `infra/`.
#[derive(Debug, Clone)]
pub struct EcsSettings {
    /// The deployment's resource names (families, target groups, parameters, buckets).
    pub names: ResourceNames,
    /// Interviews are served at `https://{id}.{domain}` (a wildcard DNS record and certificate
    /// point at the shared ALB).
    pub domain: String,
    /// The ECS cluster's name or ARN.
    pub cluster: String,
    /// The subnets tasks run in (private subnets with a NAT, or public ones with
    /// [`assign_public_ip`](Self::assign_public_ip)).
    pub subnets: Vec<String>,
    /// The tasks' security groups (they must admit the ALB on both ports and the Prequel
    /// server on the agent port).
    pub security_groups: Vec<String>,
    /// The VPC of the subnets and the ALB (target groups are made in it).
    pub vpc_id: String,
    /// The shared ALB's HTTPS listener, on which each interview gets a host-header rule.
    pub listener_arn: String,
    /// The task execution role: pulls the image, writes logs and reads the password parameter.
    pub execution_role_arn: String,
    /// The role the task itself holds. `None` (the default and the advice): the candidate has
    /// a shell in the task, so it must hold no AWS permission.
    pub task_role_arn: Option<String>,
    /// The instance image (code-server, the toolchains and the archive agent).
    pub instance_image: String,
    /// A CloudWatch log group for the containers' output (`awslogs`), if any.
    pub log_group: Option<String>,
    /// Whether tasks get a public IP (needed in public subnets without a NAT to pull images).
    pub assign_public_ip: bool,
    /// The port code-server listens on in the container (8080).
    pub container_port: u16,
    /// The port the archive agent listens on in the container (8081).
    pub agent_port: u16,
    /// How long create waits for the target to be healthy.
    pub ready_timeout: Duration,
    /// How long destroy waits for the task to stop.
    pub stop_timeout: Duration,
    /// How long destroy waits for the archive agent's answer (it answers after the upload).
    pub archive_timeout: Duration,
    /// Pause between polls of the task and the target health.
    pub poll_interval: Duration,
    /// Fargate or Fargate Spot.
    pub capacity_provider: CapacityProvider,
    /// **Tests only**: ask the archive agent at this address instead of
    /// `{task_ip}:{agent_port}` (moto's tasks never run, so no agent listens at their IP).
    /// `None` in every real deployment.
    pub agent_address_override: Option<SocketAddr>,
}

impl EcsSettings {
    /// Settings with the defaults for everything a deployment does not name: no task role, no
    /// log group, no public IP, ports 8080 and 8081, 5 minutes to become healthy, 2 to stop, 10
    /// for the archive, polls every 2 seconds, on-demand Fargate.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        names: ResourceNames,
        domain: impl Into<String>,
        cluster: impl Into<String>,
        subnets: Vec<String>,
        security_groups: Vec<String>,
        vpc_id: impl Into<String>,
        listener_arn: impl Into<String>,
        execution_role_arn: impl Into<String>,
        instance_image: impl Into<String>,
    ) -> Self {
        Self {
            names,
            domain: domain.into(),
            cluster: cluster.into(),
            subnets,
            security_groups,
            vpc_id: vpc_id.into(),
            listener_arn: listener_arn.into(),
            execution_role_arn: execution_role_arn.into(),
            task_role_arn: None,
            instance_image: instance_image.into(),
            log_group: None,
            assign_public_ip: false,
            container_port: 8080,
            agent_port: 8081,
            ready_timeout: Duration::from_secs(5 * 60),
            stop_timeout: Duration::from_secs(2 * 60),
            archive_timeout: Duration::from_secs(10 * 60),
            poll_interval: Duration::from_secs(2),
            capacity_provider: CapacityProvider::Fargate,
            agent_address_override: None,
        }
    }
}

/// Interviews as ECS Fargate tasks behind the shared ALB. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct EcsProvisioner {
    ecs: aws_sdk_ecs::Client,
    elb: aws_sdk_elasticloadbalancingv2::Client,
    ssm: aws_sdk_ssm::Client,
    s3: aws_sdk_s3::Client,
    settings: Arc<EcsSettings>,
    challenges: Arc<dyn ChallengeSource>,
    archive: Arc<dyn Archive>,
}

/// What exists of one interview, as destroy and status read it.
struct Found {
    /// Its tasks that have not stopped.
    tasks: Vec<Task>,
    /// Its target group's ARN and tags.
    target_group: Option<(String, BTreeMap<String, String>)>,
}

impl EcsProvisioner {
    /// A provisioner using `clients` (ECS, ELB, SSM and S3), placing things as `settings` say.
    pub fn new(
        clients: &AwsClients,
        settings: EcsSettings,
        challenges: Arc<dyn ChallengeSource>,
        archive: Arc<dyn Archive>,
    ) -> Self {
        Self {
            ecs: clients.ecs.clone(),
            elb: clients.elb.clone(),
            ssm: clients.ssm.clone(),
            s3: clients.s3.clone(),
            settings: Arc::new(settings),
            challenges,
            archive,
        }
    }

    /// The settings.
    pub fn settings(&self) -> &EcsSettings {
        &self.settings
    }

    /// For `serve`'s start-up: the cluster and the listener exist. The errors name the missing
    /// one.
    pub async fn check(&self) -> Result<(), ProvisionError> {
        let cluster = &self.settings.cluster;
        let out = self
            .ecs
            .describe_clusters()
            .clusters(cluster)
            .send()
            .await
            .map_err(|e| errors::aws(format!("describe ECS cluster {cluster}"), e))?;
        let active = out
            .clusters()
            .iter()
            .any(|c| c.status().is_none_or(|s| s == "ACTIVE"));
        if !active {
            return Err(ProvisionError::permanent(format!(
                "ECS cluster {cluster} does not exist (or is not active); check the cluster \
                 setting against the Terraform outputs"
            )));
        }
        let listener = &self.settings.listener_arn;
        match self
            .elb
            .describe_listeners()
            .listener_arns(listener)
            .send()
            .await
        {
            Ok(out) if !out.listeners().is_empty() => Ok(()),
            Ok(_) => Err(missing_listener(listener)),
            Err(err) if errors::is(&err, &["ListenerNotFound", "ValidationError"]) => {
                Err(missing_listener(listener))
            }
            Err(err) => Err(errors::aws(format!("describe listener {listener}"), err)),
        }
    }

    fn host(&self, interview: &InterviewId) -> String {
        format!("{interview}.{}", self.settings.domain)
    }

    fn access_url(&self, interview: &InterviewId) -> String {
        format!("https://{}", self.host(interview))
    }

    fn stem(&self) -> String {
        self.settings.names.stem()
    }

    fn tags(&self, interview: &InterviewId) -> Vec<(String, String)> {
        vec![
            (INTERVIEW_TAG.to_owned(), interview.to_string()),
            (DEPLOYMENT_TAG.to_owned(), self.stem()),
        ]
    }

    /// The checksum of the challenge's synced bundle and a presigned GET of it.
    async fn bundle(&self, challenge: &ChallengeId) -> Result<(String, String), ProvisionError> {
        let bucket = self.settings.names.challenges_bucket();
        let key = ResourceNames::starter_bundle_key(challenge);
        let not_synced = || {
            ProvisionError::permanent(format!(
                "challenge {challenge} is not synced to s3://{bucket}/{key}; run `prequel \
                 challenges sync`"
            ))
        };
        let head = match self.s3.head_object().bucket(&bucket).key(&key).send().await {
            Ok(head) => head,
            Err(err) if is_not_found(&err) => return Err(not_synced()),
            Err(err) => return Err(errors::aws(format!("head s3://{bucket}/{key}"), err)),
        };
        let checksum = head
            .metadata()
            .and_then(|m| m.get(CHECKSUM_METADATA))
            .filter(|c| c.starts_with("sha256:"))
            .cloned()
            .ok_or_else(not_synced)?;
        let presigning = PresigningConfig::expires_in(CHALLENGE_URL_VALIDITY)
            .map_err(|e| errors::build("presign the starter bundle", e))?;
        let url = self
            .s3
            .get_object()
            .bucket(&bucket)
            .key(&key)
            .presigned(presigning)
            .await
            .map_err(|e| errors::aws(format!("presign s3://{bucket}/{key}"), e))?
            .uri()
            .to_owned();
        Ok((checksum, url))
    }

    /// Writes a secret parameter of the interview (SecureString, tagged). Tags and `Overwrite`
    /// cannot go in one request, so a first put carries the tags; when the parameter exists
    /// already (a retried create), `overwrite` says whether it is written again (the password,
    /// the same value) or kept (the archive token, which a running archiver already holds).
    async fn put_secret_parameter(
        &self,
        interview: &InterviewId,
        name: String,
        password: &SecretString,
        overwrite: bool,
    ) -> Result<(), ProvisionError> {
        let mut tags = Vec::new();
        for (key, value) in self.tags(interview) {
            tags.push(
                aws_sdk_ssm::types::Tag::builder()
                    .key(key)
                    .value(value)
                    .build()
                    .map_err(|e| errors::build(format!("tag parameter {name}"), e))?,
            );
        }
        let first = self
            .ssm
            .put_parameter()
            .name(&name)
            .value(password.expose())
            .r#type(ParameterType::SecureString)
            .set_tags(Some(tags))
            .send()
            .await;
        match first {
            Ok(_) => Ok(()),
            Err(err) if errors::is(&err, &["ParameterAlreadyExists"]) && !overwrite => Ok(()),
            Err(err) if errors::is(&err, &["ParameterAlreadyExists"]) => self
                .ssm
                .put_parameter()
                .name(&name)
                .value(password.expose())
                .r#type(ParameterType::SecureString)
                .overwrite(true)
                .send()
                .await
                .map(|_| ())
                .map_err(|e| redacted(errors::aws(format!("put parameter {name}"), e), password)),
            Err(err) => Err(redacted(
                errors::aws(format!("put parameter {name}"), err),
                password,
            )),
        }
    }

    /// Registers the interview's revision of its challenge's family.
    async fn register_task_definition(
        &self,
        spec: &InstanceSpec,
        cpu: u32,
        memory_mib: u32,
        checksum: &str,
    ) -> Result<String, ProvisionError> {
        let settings = &self.settings;
        let id = &spec.interview_id;
        let family = settings.names.task_family(&spec.challenge);
        let failed = |e| errors::build(format!("register task definition {family}"), e);
        let secret = |name: &str, parameter: String| {
            Secret::builder()
                .name(name)
                .value_from(parameter)
                .build()
                .map_err(failed)
        };
        let pairs = |env: Vec<(&str, String)>| -> Vec<KeyValuePair> {
            env.into_iter()
                .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
                .collect()
        };
        let port = |port: u16| {
            PortMapping::builder()
                .container_port(i32::from(port))
                .protocol(TransportProtocol::Tcp)
                .build()
        };
        let mount = |path: &str, read_only: bool| {
            MountPoint::builder()
                .source_volume(WORKSPACE_VOLUME)
                .container_path(path)
                .read_only(read_only)
                .build()
        };
        // The candidate's container: code-server, its password, the shared workspace; it
        // starts once the archiver is healthy (the starter files are in place).
        let memory = i32::try_from(memory_mib).unwrap_or(i32::MAX);
        let archiver_memory = i32::try_from(ARCHIVER_MEMORY_MIB).unwrap_or(i32::MAX);
        let mut container = ContainerDefinition::builder()
            .name(CONTAINER_NAME)
            .image(&settings.instance_image)
            .essential(true)
            // The container's own limit (moto answers RunTask with HTTP 500 without it).
            .memory(memory.saturating_sub(archiver_memory).max(archiver_memory))
            .set_environment(Some(pairs(vec![
                ("PREQUEL_INTERVIEW_ID", id.to_string()),
                ("PREQUEL_DESTROY_AT", spec.destroy_at.to_rfc3339()),
                ("PREQUEL_WORKSPACE", CANDIDATE_WORKSPACE.to_owned()),
            ])))
            .secrets(secret("PASSWORD", settings.names.password_parameter(id))?)
            .port_mappings(port(settings.container_port))
            .mount_points(mount(CANDIDATE_WORKSPACE, false))
            .depends_on(
                ContainerDependency::builder()
                    .container_name(ARCHIVER_CONTAINER)
                    .condition(ContainerCondition::Healthy)
                    .build()
                    .map_err(failed)?,
            );
        // The archiver: its own token, the bundle's checksum (and, at RunTask, its URL), root
        // in its own container, healthy once the starter files are unpacked and handed over.
        let health = HealthCheck::builder()
            .command("CMD")
            .command("python3")
            .command("-c")
            .command(format!(
                "import urllib.request; urllib.request.urlopen('http://127.0.0.1:{}/healthz', timeout=4)",
                settings.agent_port
            ))
            .interval(5)
            .timeout(5)
            .retries(3)
            .start_period(10)
            .build()
            .map_err(failed)?;
        let mut archiver = ContainerDefinition::builder()
            .name(ARCHIVER_CONTAINER)
            .image(&settings.instance_image)
            .essential(true)
            .memory(archiver_memory)
            .user("0")
            .entry_point("/usr/bin/tini")
            .entry_point("--")
            .entry_point("python3")
            .entry_point("/opt/prequel/agent.py")
            .entry_point("archiver")
            .set_environment(Some(pairs(vec![
                ("PREQUEL_INTERVIEW_ID", id.to_string()),
                ("PREQUEL_CHALLENGE_CHECKSUM", checksum.to_owned()),
                ("PREQUEL_AGENT_PORT", settings.agent_port.to_string()),
                ("PREQUEL_WORKSPACE", ARCHIVER_WORKSPACE.to_owned()),
                ("PREQUEL_WORKSPACE_OWNER", CANDIDATE_OWNER.to_owned()),
                ("PREQUEL_ARCHIVE_MAX_BYTES", ARCHIVE_MAX_BYTES.to_string()),
            ])))
            .secrets(secret(
                "PREQUEL_ARCHIVE_TOKEN",
                settings.names.archive_token_parameter(id),
            )?)
            .port_mappings(port(settings.agent_port))
            .mount_points(mount(ARCHIVER_WORKSPACE, false))
            .health_check(health);
        if let Some(group) = &settings.log_group {
            let logs = LogConfiguration::builder()
                .log_driver(LogDriver::Awslogs)
                .options("awslogs-group", group)
                .options("awslogs-stream-prefix", id.as_str())
                .options(
                    "awslogs-region",
                    self.ecs
                        .config()
                        .region()
                        .map(|r| r.to_string())
                        .unwrap_or_default(),
                )
                .build()
                .map_err(failed)?;
            container = container.log_configuration(logs.clone());
            archiver = archiver.log_configuration(logs);
        }
        let out = self
            .ecs
            .register_task_definition()
            .family(&family)
            .network_mode(NetworkMode::Awsvpc)
            .requires_compatibilities(Compatibility::Fargate)
            .cpu(cpu.to_string())
            .memory(memory_mib.to_string())
            .execution_role_arn(&settings.execution_role_arn)
            .set_task_role_arn(settings.task_role_arn.clone())
            .container_definitions(archiver.build())
            .container_definitions(container.build())
            .volumes(Volume::builder().name(WORKSPACE_VOLUME).build())
            .set_tags(Some(ecs_tags(self.tags(id))))
            .send()
            .await
            .map_err(|e| errors::aws(format!("register task definition {family}"), e))?;
        out.task_definition()
            .and_then(|d| d.task_definition_arn())
            .map(str::to_owned)
            .ok_or_else(|| {
                ProvisionError::transient(format!(
                    "register task definition {family}: no ARN in the answer"
                ))
            })
    }

    /// The newest active revision of the challenge's family tagged with the interview, if any
    /// (searched among the newest [`REVISION_SEARCH`]): only after a create was cut short
    /// between RegisterTaskDefinition and recording the ARN on the target group.
    async fn find_revision(
        &self,
        challenge: &ChallengeId,
        interview: &InterviewId,
    ) -> Result<Option<String>, ProvisionError> {
        let family = self.settings.names.task_family(challenge);
        let listed = self
            .ecs
            .list_task_definitions()
            .family_prefix(&family)
            .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
            .sort(aws_sdk_ecs::types::SortOrder::Desc)
            .max_results(REVISION_SEARCH)
            .send()
            .await
            .map_err(|e| errors::aws(format!("list task definitions of {family}"), e))?;
        for arn in listed.task_definition_arns() {
            let described = self
                .ecs
                .describe_task_definition()
                .task_definition(arn)
                .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
                .send()
                .await
                .map_err(|e| errors::aws(format!("describe task definition {arn}"), e))?;
            let ours = described
                .tags()
                .iter()
                .any(|t| t.key() == Some(INTERVIEW_TAG) && t.value() == Some(interview.as_str()));
            if ours {
                return Ok(Some(arn.clone()));
            }
        }
        Ok(None)
    }

    /// The interview's tasks that have not stopped (described, with tags).
    async fn live_tasks(&self, interview: &InterviewId) -> Result<Vec<Task>, ProvisionError> {
        let cluster = &self.settings.cluster;
        let listed = self
            .ecs
            .list_tasks()
            .cluster(cluster)
            .started_by(interview.as_str())
            .desired_status(DesiredStatus::Running)
            .send()
            .await
            .map_err(|e| errors::aws(format!("list tasks of {interview} in {cluster}"), e))?;
        let arns = listed.task_arns().to_vec();
        let tasks = self.describe_tasks(&arns).await?;
        Ok(tasks
            .into_iter()
            .filter(|t| t.last_status() != Some("STOPPED"))
            .collect())
    }

    async fn describe_tasks(&self, arns: &[String]) -> Result<Vec<Task>, ProvisionError> {
        let cluster = &self.settings.cluster;
        let mut tasks = Vec::new();
        for batch in arns.chunks(100) {
            let out = self
                .ecs
                .describe_tasks()
                .cluster(cluster)
                .set_tasks(Some(batch.to_vec()))
                .include(TaskField::Tags)
                .send()
                .await
                .map_err(|e| errors::aws(format!("describe tasks in {cluster}"), e))?;
            tasks.extend(out.tasks().iter().cloned());
        }
        Ok(tasks)
    }

    async fn describe_task(&self, arn: &str) -> Result<Option<Task>, ProvisionError> {
        Ok(self
            .describe_tasks(&[arn.to_owned()])
            .await?
            .into_iter()
            .next())
    }

    /// What exists of the interview: live tasks and the target group (with its tags).
    async fn find(&self, interview: &InterviewId) -> Result<Found, ProvisionError> {
        let name = self.settings.names.target_group(interview);
        let (tasks, group) = futures::try_join!(
            self.live_tasks(interview),
            alb::find_target_group(&self.elb, &name)
        )?;
        let target_group = match group.and_then(|g| g.target_group_arn().map(str::to_owned)) {
            Some(arn) => {
                let mut tags = alb::tags_of(&self.elb, std::slice::from_ref(&arn)).await?;
                let tags = tags.remove(&arn).unwrap_or_default();
                Some((arn, tags))
            }
            None => None,
        };
        Ok(Found {
            tasks,
            target_group,
        })
    }

    async fn run_task(
        &self,
        spec: &InstanceSpec,
        task_definition: &str,
        checksum: &str,
        challenge_url: &str,
    ) -> Result<Task, ProvisionError> {
        let settings = &self.settings;
        let id = &spec.interview_id;
        let network = AwsVpcConfiguration::builder()
            .set_subnets(Some(settings.subnets.clone()))
            .set_security_groups(Some(settings.security_groups.clone()))
            .assign_public_ip(if settings.assign_public_ip {
                AssignPublicIp::Enabled
            } else {
                AssignPublicIp::Disabled
            })
            .build()
            .map_err(|e| errors::build(format!("run task for {id}"), e))?;
        let capacity = CapacityProviderStrategyItem::builder()
            .capacity_provider(settings.capacity_provider.as_str())
            .weight(1)
            .build()
            .map_err(|e| errors::build(format!("run task for {id}"), e))?;
        let overrides = TaskOverride::builder()
            .container_overrides(
                // The archiver fetches the starter files; the candidate's container never sees
                // the URL.
                ContainerOverride::builder()
                    .name(ARCHIVER_CONTAINER)
                    .environment(
                        KeyValuePair::builder()
                            .name("PREQUEL_CHALLENGE_URL")
                            .value(challenge_url)
                            .build(),
                    )
                    .build(),
            )
            .build();
        let mut tags = self.tags(id);
        tags.push((CHECKSUM_TAG.to_owned(), checksum.to_owned()));
        let out = self
            .ecs
            .run_task()
            .cluster(&settings.cluster)
            .task_definition(task_definition)
            .count(1)
            .capacity_provider_strategy(capacity)
            .network_configuration(
                NetworkConfiguration::builder()
                    .awsvpc_configuration(network)
                    .build(),
            )
            .overrides(overrides)
            .started_by(id.as_str())
            .enable_ecs_managed_tags(true)
            .propagate_tags(PropagateTags::TaskDefinition)
            .set_tags(Some(ecs_tags(tags)))
            .send()
            .await
            .map_err(|e| errors::aws(format!("run task {task_definition} for {id}"), e))?;
        if let Some(task) = out.tasks().first() {
            return Ok(task.clone());
        }
        let reasons: Vec<String> = out
            .failures()
            .iter()
            .map(|f| {
                format!(
                    "{} ({})",
                    f.reason().unwrap_or("unknown"),
                    f.detail().unwrap_or("")
                )
            })
            .collect();
        Err(ProvisionError::transient(format!(
            "run task {task_definition} for {id} started nothing: {}",
            reasons.join("; ")
        )))
    }

    /// Waits (until `deadline`) for the task's private IP; fails at once if it stopped.
    async fn wait_for_ip(
        &self,
        mut task: Task,
        deadline: Instant,
        progress: &dyn Progress,
    ) -> Result<(String, Task), ProvisionError> {
        let arn = task.task_arn().unwrap_or_default().to_owned();
        let mut reported = String::new();
        loop {
            stopped_error(&task)?;
            if let Some(ip) = task_ip(&task) {
                return Ok((ip, task));
            }
            if Instant::now() >= deadline {
                return Err(ProvisionError::transient(format!(
                    "task {arn} got no private IP within {} s (last status {})",
                    self.settings.ready_timeout.as_secs(),
                    task.last_status().unwrap_or("unknown")
                )));
            }
            tokio::time::sleep(self.settings.poll_interval).await;
            task = self.describe_task(&arn).await?.ok_or_else(|| {
                ProvisionError::transient(format!("task {arn} disappeared while starting"))
            })?;
            let status = task.last_status().unwrap_or("unknown").to_lowercase();
            if status != reported {
                progress.log(format!("task is {status}")).await;
                reported = status;
            }
        }
    }

    /// The health gate: waits until the ALB says the target is healthy, failing fast if the task
    /// stops and with a retryable error when `deadline` passes.
    async fn wait_healthy(
        &self,
        target_group_arn: &str,
        ip: &str,
        task_arn: &str,
        deadline: Instant,
        progress: &dyn Progress,
    ) -> Result<(), ProvisionError> {
        let port = self.settings.container_port;
        let mut last = String::new();
        loop {
            let (state, reason) = alb::target_health(&self.elb, target_group_arn, ip, port).await?;
            if state == "healthy" {
                progress
                    .log("the load balancer reports the instance healthy".to_owned())
                    .await;
                return Ok(());
            }
            let described = match &reason {
                Some(reason) => format!("{state} ({reason})"),
                None => state.clone(),
            };
            if described != last {
                progress
                    .log(format!(
                        "waiting for the instance to be healthy: {described}"
                    ))
                    .await;
                last = described;
            }
            if let Some(task) = self.describe_task(task_arn).await? {
                stopped_error(&task)?;
            }
            if Instant::now() >= deadline {
                return Err(ProvisionError::transient(format!(
                    "the instance at {ip} was not healthy in target group {target_group_arn} \
                     within {} s (last: {last})",
                    self.settings.ready_timeout.as_secs()
                )));
            }
            tokio::time::sleep(self.settings.poll_interval).await;
        }
    }

    /// Asks the running task's agent to archive; `None` (logged) when it cannot.
    async fn archive_work(
        &self,
        interview: &InterviewId,
        task: &Task,
        progress: &dyn Progress,
    ) -> Option<()> {
        let address = match (self.settings.agent_address_override, task_ip(task)) {
            (Some(address), _) => address,
            (None, Some(ip)) => match ip.parse::<IpAddr>() {
                Ok(ip) => SocketAddr::new(ip, self.settings.agent_port),
                Err(_) => {
                    progress
                        .log(format!(
                            "not archived: the task's address {ip} is not an IP"
                        ))
                        .await;
                    return None;
                }
            },
            (None, None) => {
                progress
                    .log("not archived: the task has no private IP".to_owned())
                    .await;
                return None;
            }
        };
        let token = match self.read_archive_token(interview).await {
            Ok(Some(token)) => token,
            Ok(None) => {
                progress
                    .log("not archived: the archiver's token parameter is gone".to_owned())
                    .await;
                return None;
            }
            Err(err) => {
                progress.log(format!("not archived: {err}")).await;
                return None;
            }
        };
        let target = match self
            .archive
            .upload_target(interview, ARCHIVE_URL_VALIDITY)
            .await
        {
            Ok(target) => target,
            Err(err) => {
                progress.log(format!("not archived: {err}")).await;
                return None;
            }
        };
        progress
            .log(format!(
                "asking the instance to archive its workspace to {}",
                target.location
            ))
            .await;
        match agent::request_archive(address, &target.url, &token, self.settings.archive_timeout)
            .await
        {
            Ok(()) => Some(()),
            Err(err) => {
                tracing::warn!(error = %err.0, "archive agent failed; tearing down without an archive");
                progress
                    .log(format!("not archived, tearing down anyway: {}", err.0))
                    .await;
                None
            }
        }
    }

    /// The archiver's token, read back from its parameter.
    async fn read_archive_token(
        &self,
        interview: &InterviewId,
    ) -> Result<Option<SecretString>, ProvisionError> {
        let name = self.settings.names.archive_token_parameter(interview);
        match self
            .ssm
            .get_parameter()
            .name(&name)
            .with_decryption(true)
            .send()
            .await
        {
            Ok(out) => Ok(out
                .parameter()
                .and_then(|p| p.value())
                .map(SecretString::new)),
            Err(err) if errors::is(&err, &["ParameterNotFound"]) => Ok(None),
            Err(err) => Err(errors::aws(format!("get parameter {name}"), err)),
        }
    }

    /// Stops the tasks and waits (bounded) until they are STOPPED.
    async fn stop_tasks(
        &self,
        tasks: &[Task],
        progress: &dyn Progress,
    ) -> Result<(), ProvisionError> {
        let cluster = &self.settings.cluster;
        let mut arns = Vec::new();
        for task in tasks {
            let Some(arn) = task.task_arn() else { continue };
            match self
                .ecs
                .stop_task()
                .cluster(cluster)
                .task(arn)
                .reason(STOP_REASON)
                .send()
                .await
            {
                Ok(_) => arns.push(arn.to_owned()),
                Err(err) if errors::is(&err, &["InvalidParameterException"]) => {
                    // The task is gone already.
                }
                Err(err) => return Err(errors::aws(format!("stop task {arn}"), err)),
            }
        }
        if arns.is_empty() {
            return Ok(());
        }
        progress
            .log(format!("stopping {} task(s)", arns.len()))
            .await;
        let deadline = Instant::now() + self.settings.stop_timeout;
        loop {
            let running: Vec<String> = self
                .describe_tasks(&arns)
                .await?
                .iter()
                .filter(|t| t.last_status() != Some("STOPPED"))
                .filter_map(|t| t.task_arn().map(str::to_owned))
                .collect();
            if running.is_empty() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(ProvisionError::transient(format!(
                    "task(s) {} did not stop within {} s",
                    running.join(", "),
                    self.settings.stop_timeout.as_secs()
                )));
            }
            tokio::time::sleep(self.settings.poll_interval).await;
        }
    }

    /// Deregisters and deletes the revisions; already inactive or deleted is fine.
    async fn remove_task_definitions(&self, arns: &BTreeSet<String>) -> Result<(), ProvisionError> {
        for arn in arns {
            match self
                .ecs
                .deregister_task_definition()
                .task_definition(arn)
                .send()
                .await
            {
                Ok(_) => {}
                // ECS answers ClientException for a revision that is inactive or unknown.
                Err(err) if errors::is(&err, &["ClientException", "InvalidParameterException"]) => {
                }
                Err(err) => {
                    return Err(errors::aws(
                        format!("deregister task definition {arn}"),
                        err,
                    ));
                }
            }
        }
        if arns.is_empty() {
            return Ok(());
        }
        let all: Vec<String> = arns.iter().cloned().collect();
        for batch in all.chunks(10) {
            match self
                .ecs
                .delete_task_definitions()
                .set_task_definitions(Some(batch.to_vec()))
                .send()
                .await
            {
                // Per-revision failures (already deleted) are in `failures`, not an error.
                Ok(_) => {}
                Err(err) if errors::is(&err, &["ClientException", "InvalidParameterException"]) => {
                }
                Err(err) => return Err(errors::aws("delete task definitions", err)),
            }
        }
        Ok(())
    }

    /// Deletes the interview's password and archive token parameters (each may be gone).
    async fn delete_secret_parameters(
        &self,
        interview: &InterviewId,
    ) -> Result<(), ProvisionError> {
        let names = &self.settings.names;
        for name in [
            names.password_parameter(interview),
            names.archive_token_parameter(interview),
        ] {
            match self.ssm.delete_parameter().name(&name).send().await {
                Ok(_) => {}
                Err(err) if errors::is(&err, &["ParameterNotFound"]) => {}
                Err(err) => return Err(errors::aws(format!("delete parameter {name}"), err)),
            }
        }
        Ok(())
    }

    /// Whether the tags are this deployment's, and whose interview they name.
    fn interview_of(&self, tags: &BTreeMap<String, String>) -> Option<InterviewId> {
        if tags.get(DEPLOYMENT_TAG).map(String::as_str) != Some(self.stem().as_str()) {
            return None;
        }
        tags.get(INTERVIEW_TAG)
            .and_then(|id| InterviewId::parse(id).ok())
    }

    async fn task_interviews(&self) -> Result<BTreeSet<InterviewId>, ProvisionError> {
        let cluster = &self.settings.cluster;
        let mut arns = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .ecs
                .list_tasks()
                .cluster(cluster)
                .desired_status(DesiredStatus::Running)
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| errors::aws(format!("list tasks in {cluster}"), e))?;
            arns.extend(out.task_arns().iter().cloned());
            match out.next_token() {
                Some(next) if !next.is_empty() => token = Some(next.to_owned()),
                _ => break,
            }
        }
        Ok(self
            .describe_tasks(&arns)
            .await?
            .iter()
            .filter(|t| t.last_status() != Some("STOPPED"))
            .filter_map(|t| self.interview_of(&task_tags(t)))
            .collect())
    }

    async fn alb_interviews(&self) -> Result<BTreeSet<InterviewId>, ProvisionError> {
        let prefix = format!("{}-", self.stem());
        let groups = alb::target_groups_named(&self.elb, &prefix).await?;
        let mut arns: Vec<String> = groups
            .iter()
            .filter_map(|g| g.target_group_arn().map(str::to_owned))
            .collect();
        let rules = alb::listener_rules(&self.elb, &self.settings.listener_arn).await?;
        arns.extend(
            rules
                .iter()
                .filter(|r| r.is_default() != Some(true))
                .filter_map(|r| r.rule_arn().map(str::to_owned)),
        );
        Ok(alb::tags_of(&self.elb, &arns)
            .await?
            .values()
            .filter_map(|tags| self.interview_of(tags))
            .collect())
    }
}

#[async_trait]
impl Provisioner for EcsProvisioner {
    #[instrument(skip_all, fields(interview = %spec.interview_id))]
    async fn create(
        &self,
        spec: &InstanceSpec,
        progress: &dyn Progress,
    ) -> Result<Instance, ProvisionError> {
        let id = &spec.interview_id;
        let settings = &self.settings;
        // Before anything is made: an unknown or unsynced challenge leaves nothing behind.
        let manifest = self
            .challenges
            .manifest(&spec.challenge)
            .await
            .map_err(challenge_error)?;
        let (checksum, challenge_url) = self.bundle(&spec.challenge).await?;
        let found = self.find(id).await?;
        progress
            .stage(crate::domain::InterviewState::Initializing)
            .await;

        // The target group first: it is the interview's anchor (see the module docs).
        let group_name = settings.names.target_group(id);
        let group_existed = found.target_group.is_some();
        let (target_group_arn, group_tags) = match found.target_group {
            Some(group) => group,
            None => {
                let mut tags = self.tags(id);
                tags.push((CHALLENGE_TAG.to_owned(), spec.challenge.to_string()));
                let (group, created) = alb::create_target_group(
                    &self.elb,
                    &alb::TargetGroupSpec {
                        name: &group_name,
                        vpc_id: &settings.vpc_id,
                        port: settings.container_port,
                        tags: tags.clone(),
                    },
                )
                .await?;
                if created {
                    progress
                        .log(format!("created target group {group_name}"))
                        .await;
                }
                let arn = group.target_group_arn().unwrap_or_default().to_owned();
                (arn, tags.into_iter().collect())
            }
        };

        let names = &self.settings.names;
        self.put_secret_parameter(id, names.password_parameter(id), &spec.password, true)
            .await?;
        let token = crate::secrets::generate_password();
        self.put_secret_parameter(id, names.archive_token_parameter(id), &token, false)
            .await?;
        let existing_task = found.tasks.first().cloned();
        let recorded = group_tags.get(TASK_DEFINITION_TAG).cloned();
        let reused = match (
            existing_task
                .as_ref()
                .and_then(|t| t.task_definition_arn().map(str::to_owned)),
            recorded.clone(),
        ) {
            (Some(arn), _) | (None, Some(arn)) => Some(arn),
            // A create cut short between registering and recording: find what it registered.
            (None, None) if group_existed => self.find_revision(&spec.challenge, id).await?,
            (None, None) => None,
        };
        let task_definition = match reused {
            Some(arn) => arn,
            None => {
                let arn = self
                    .register_task_definition(
                        spec,
                        manifest.cloud.cpu,
                        manifest.cloud.memory_mib,
                        &checksum,
                    )
                    .await?;
                progress
                    .log(format!("registered task definition {}", short_arn(&arn)))
                    .await;
                arn
            }
        };
        if recorded.as_deref() != Some(task_definition.as_str()) {
            alb::add_tags(
                &self.elb,
                &target_group_arn,
                &[(TASK_DEFINITION_TAG.to_owned(), task_definition.clone())],
            )
            .await?;
        }

        let host = self.host(id);
        let (_, created) = alb::ensure_rule(
            &self.elb,
            &settings.listener_arn,
            &host,
            &target_group_arn,
            &self.tags(id),
        )
        .await?;
        if created {
            progress
                .log(format!("routing {host} to the instance"))
                .await;
        }

        progress
            .stage(crate::domain::InterviewState::Configuring)
            .await;
        let deadline = Instant::now() + settings.ready_timeout;
        let task = match existing_task {
            Some(task) => task,
            None => {
                let task = self
                    .run_task(spec, &task_definition, &checksum, &challenge_url)
                    .await?;
                progress.log("started the task".to_owned()).await;
                task
            }
        };
        let (ip, task) = self.wait_for_ip(task, deadline, progress).await?;
        alb::register_target(&self.elb, &target_group_arn, &ip, settings.container_port).await?;
        self.wait_healthy(
            &target_group_arn,
            &ip,
            task.task_arn().unwrap_or_default(),
            deadline,
            progress,
        )
        .await?;
        Ok(Instance {
            access_url: self.access_url(id),
            challenge_checksum: Some(checksum),
        })
    }

    #[instrument(skip_all, fields(interview = %interview))]
    async fn destroy(
        &self,
        interview: &InterviewId,
        progress: &dyn Progress,
    ) -> Result<Destroyed, ProvisionError> {
        let found = self.find(interview).await?;
        // The candidate's work first.
        if let Some(task) = found
            .tasks
            .iter()
            .find(|t| t.last_status() == Some("RUNNING"))
        {
            self.archive_work(interview, task, progress).await;
        }
        self.stop_tasks(&found.tasks, progress).await?;

        let host = self.host(interview);
        for rule in alb::listener_rules(&self.elb, &self.settings.listener_arn)
            .await?
            .iter()
            .filter(|r| r.is_default() != Some(true) && alb::routes_host(r, &host))
        {
            if let Some(arn) = rule.rule_arn() {
                alb::delete_rule(&self.elb, arn).await?;
            }
        }

        let mut revisions: BTreeSet<String> = found
            .tasks
            .iter()
            .filter_map(|t| t.task_definition_arn().map(str::to_owned))
            .collect();
        if let Some((_, tags)) = &found.target_group {
            match (tags.get(TASK_DEFINITION_TAG), tags.get(CHALLENGE_TAG)) {
                (Some(arn), _) => {
                    revisions.insert(arn.clone());
                }
                // A create cut short before recording its revision.
                (None, Some(challenge)) => {
                    if let Ok(challenge) = ChallengeId::parse(challenge) {
                        revisions.extend(self.find_revision(&challenge, interview).await?);
                    }
                }
                (None, None) => {}
            }
        }
        self.remove_task_definitions(&revisions).await?;
        self.delete_secret_parameters(interview).await?;
        // Last: while anything of the interview is left, its target group is, and lists it.
        if let Some((arn, _)) = &found.target_group {
            alb::delete_target_group(&self.elb, arn, self.settings.poll_interval).await?;
        }
        if !found.tasks.is_empty() || found.target_group.is_some() {
            progress
                .log("removed the task, its route and its target group".to_owned())
                .await;
        }
        let archive = self
            .archive
            .stored(interview)
            .await
            .map_err(|e| ProvisionError::transient(e.to_string()))?;
        Ok(Destroyed { archive })
    }

    #[instrument(skip_all, fields(interview = %interview))]
    async fn status(&self, interview: &InterviewId) -> Result<InstanceStatus, ProvisionError> {
        let found = self.find(interview).await?;
        let (task, (group_arn, _)) = match (found.tasks.first(), &found.target_group) {
            (None, None) => return Ok(InstanceStatus::Absent),
            (Some(task), Some(group)) if task.last_status() == Some("RUNNING") => (task, group),
            _ => return Ok(InstanceStatus::Starting),
        };
        let Some(ip) = task_ip(task) else {
            return Ok(InstanceStatus::Starting);
        };
        let (state, _) =
            alb::target_health(&self.elb, group_arn, &ip, self.settings.container_port).await?;
        if state != "healthy" {
            return Ok(InstanceStatus::Starting);
        }
        Ok(InstanceStatus::Running(Instance {
            access_url: self.access_url(interview),
            challenge_checksum: task_tags(task).remove(CHECKSUM_TAG),
        }))
    }

    #[instrument(skip_all)]
    async fn instances(&self) -> Result<Vec<InterviewId>, ProvisionError> {
        let (tasks, alb) = futures::try_join!(self.task_interviews(), self.alb_interviews())?;
        Ok(tasks.union(&alb).cloned().collect())
    }
}

fn missing_listener(listener: &str) -> ProvisionError {
    ProvisionError::permanent(format!(
        "the ALB listener {listener} does not exist; check the listener setting against the \
         Terraform outputs"
    ))
}

fn challenge_error(err: ChallengeError) -> ProvisionError {
    match err {
        ChallengeError::Io { .. } => ProvisionError::transient(err.to_string()),
        ChallengeError::Unknown { .. } => ProvisionError::permanent(err.user_message()),
        _ => ProvisionError::permanent(err.to_string()),
    }
}

fn is_not_found<E: aws_smithy_types::error::metadata::ProvideErrorMetadata>(
    err: &aws_smithy_runtime_api::client::result::SdkError<
        E,
        aws_smithy_runtime_api::http::Response,
    >,
) -> bool {
    use aws_smithy_runtime_api::client::result::SdkError;
    match err {
        SdkError::ServiceError(ctx) => {
            ctx.raw().status().as_u16() == 404 || errors::is(err, &["NotFound", "NoSuchKey"])
        }
        _ => false,
    }
}

/// Replaces the password in an error's message (an API error should never echo it; this makes
/// sure).
fn redacted(mut err: ProvisionError, password: &SecretString) -> ProvisionError {
    if !password.expose().is_empty() {
        err.message = err.message.replace(password.expose(), "[redacted]");
    }
    err
}

fn ecs_tags(tags: Vec<(String, String)>) -> Vec<Tag> {
    tags.into_iter()
        .map(|(key, value)| Tag::builder().key(key).value(value).build())
        .collect()
}

fn task_tags(task: &Task) -> BTreeMap<String, String> {
    task.tags()
        .iter()
        .filter_map(|t| Some((t.key()?.to_owned(), t.value().unwrap_or("").to_owned())))
        .collect()
}

/// The private IPv4 address of the task's ENI, once it has one.
fn task_ip(task: &Task) -> Option<String> {
    task.attachments()
        .iter()
        .filter(|a| a.r#type() == Some("ElasticNetworkInterface"))
        .flat_map(|a| a.details())
        .find(|d| d.name() == Some("privateIPv4Address"))
        .and_then(|d| d.value())
        .filter(|v| !v.is_empty())
        .map(str::to_owned)
}

/// A task that stopped, as an error carrying why.
fn stopped_error(task: &Task) -> Result<(), ProvisionError> {
    if task.last_status() == Some("STOPPED") || task.desired_status() == Some("STOPPED") {
        let why = task
            .stopped_reason()
            .filter(|r| !r.is_empty())
            .unwrap_or("no reason given");
        return Err(ProvisionError::transient(format!(
            "task {} stopped while starting: {why}",
            task.task_arn().unwrap_or("?")
        )));
    }
    Ok(())
}

/// `family:revision` of a task definition ARN, for log lines.
fn short_arn(arn: &str) -> &str {
    arn.rsplit('/').next().unwrap_or(arn)
}

#[cfg(test)]
mod tests {
    use aws_sdk_ecs::types::{Attachment, KeyValuePair};

    use super::*;

    fn task(last_status: &str, reason: Option<&str>, ip: Option<&str>) -> Task {
        let mut attachment = Attachment::builder()
            .r#type("ElasticNetworkInterface")
            .details(
                KeyValuePair::builder()
                    .name("subnetId")
                    .value("subnet-1")
                    .build(),
            );
        if let Some(ip) = ip {
            attachment = attachment.details(
                KeyValuePair::builder()
                    .name("privateIPv4Address")
                    .value(ip)
                    .build(),
            );
        }
        Task::builder()
            .task_arn("arn:aws:ecs:us-east-1:1:task/c/abc")
            .last_status(last_status)
            .set_stopped_reason(reason.map(str::to_owned))
            .attachments(attachment.build())
            .build()
    }

    #[test]
    fn a_stopped_task_fails_with_its_reason() {
        let err = stopped_error(&task(
            "STOPPED",
            Some("CannotPullContainerError: pull access denied"),
            None,
        ))
        .expect_err("stopped");
        assert!(err.message.contains("CannotPullContainerError"), "{err}");
        assert!(err.message.contains("task/c/abc"), "{err}");
        assert!(stopped_error(&task("PROVISIONING", None, None)).is_ok());
        assert!(
            stopped_error(&task("STOPPED", None, None))
                .expect_err("stopped")
                .message
                .contains("no reason given")
        );
    }

    #[test]
    fn the_task_ip_comes_from_its_eni_attachment_once_assigned() {
        assert_eq!(task_ip(&task("PENDING", None, None)), None);
        assert_eq!(
            task_ip(&task("RUNNING", None, Some("10.0.3.7"))).as_deref(),
            Some("10.0.3.7")
        );
    }

    #[test]
    fn capacity_providers_have_their_api_names() {
        assert_eq!(CapacityProvider::default().as_str(), "FARGATE");
        assert_eq!(CapacityProvider::FargateSpot.as_str(), "FARGATE_SPOT");
    }

    #[test]
    fn short_arns_name_the_family_and_revision() {
        assert_eq!(
            short_arn("arn:aws:ecs:us-east-1:1:task-definition/prequel-prod-python:7"),
            "prequel-prod-python:7"
        );
    }
}
