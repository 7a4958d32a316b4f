//! The ECS Fargate provisioner against moto: the shared provisioner conformance suite, plus what
//! is particular to ECS and the ALB (the password only as an ECS secret, tags, rule priorities
//! under contention, half-made interviews, creates cut short at any point, request counts).
//!
//! Each fixture makes its own deployment in the shared moto server: a unique prefix (so unique
//! families, target group names, parameters and buckets), its own cluster, ALB and listener, and
//! a challenges bucket synced from the repository's `challenge/` folder with `S3Challenges`.
//!
//! What moto cannot do and how the tests cope (see the provisioner's module docs):
//! - moto advances a task's `lastStatus` one step per DescribeTasks (RUNNING → DEACTIVATING → …
//!   → STOPPED). [`keep_tasks_running`] sets moto's state manager so tasks stay RUNNING until
//!   StopTask: a server-wide setting, harmless to the other tests (none runs tasks).
//! - No container runs, so no archive agent listens at the task's IP. Each fixture runs a fake
//!   agent on loopback (the `agent_address_override` setting, tests only) that does what the
//!   real one does: checks the bearer password, PUTs a gzip to the presigned URL (into moto's
//!   S3) and answers 200.
//! - moto answers `healthy` for any registered target, so the health gate passes at once.
//! - An HTTPS listener needs a certificate moto's ACM knows; the tests use an HTTP listener
//!   (rules and priorities behave the same).

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ecs::types::{DesiredStatus, TaskDefinitionField, TaskField};
use aws_sdk_elasticloadbalancingv2::types::{ProtocolEnum, Rule, Tag as ElbTag, TargetTypeEnum};
use futures::future::join_all;
use prequel_core::archive::s3::S3Archive;
use prequel_core::aws::{AwsClients, DEPLOYMENT_TAG, INTERVIEW_TAG, RequestCounter, ResourceNames};
use prequel_core::challenge::s3::S3Challenges;
use prequel_core::challenge::{ChallengeSource, DirChallenges};
use prequel_core::domain::{ChallengeId, InterviewId};
use prequel_core::provision::ecs::{
    CHALLENGE_TAG, EcsProvisioner, EcsSettings, STOP_REASON, TASK_DEFINITION_TAG,
};
use prequel_core::provision::{InstanceStatus, Provisioner};
use prequel_core::testkit::moto::{moto, unique_name};
use prequel_core::testkit::provisioner_conformance::{
    ProvisionerFixture, ProvisionerHarness, RecordingProgress, create_ok, destroy_ok, spec,
};

const DOMAIN: &str = "interviews.example.test";
const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/prequel-instance:test";

fn python() -> ChallengeId {
    ChallengeId::parse("python").expect("challenge id")
}

fn repository_challenges() -> DirChallenges {
    DirChallenges::new(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../challenge"))
}

// ---------------------------------------------------------------------------------------------
// moto set-up
// ---------------------------------------------------------------------------------------------

/// One HTTP/1.1 request to `http://host:port`; the status and the body as text.
fn raw_http(
    endpoint: &str,
    method: &str,
    path_and_query: &str,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<(u16, String)> {
    let host = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut stream = TcpStream::connect(host)?;
    stream.set_read_timeout(Some(Duration::from_secs(10)))?;
    write!(
        stream,
        "{method} {path_and_query} HTTP/1.1\r\nHost: {host}\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    stream.write_all(body)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, text))
}

// ---------------------------------------------------------------------------------------------
// A fake archive agent
// ---------------------------------------------------------------------------------------------

/// What the fake agent was asked.
#[derive(Debug, Clone)]
struct AgentCall {
    authorization: String,
    upload_url: String,
}

/// Does what the instance image's agent does, on loopback: `POST /archive` with a bearer token
/// and `{"upload_url"}` → PUT a small gzip there → 200.
struct FakeAgent {
    address: SocketAddr,
    calls: Arc<Mutex<Vec<AgentCall>>>,
}

impl FakeAgent {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the fake agent");
        let address = listener.local_addr().expect("address");
        let calls = Arc::new(Mutex::new(Vec::new()));
        let recorded = calls.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = Self::serve(stream, &recorded);
            }
        });
        Self { address, calls }
    }

    fn calls(&self) -> Vec<AgentCall> {
        self.calls.lock().expect("calls").clone()
    }

    fn serve(stream: TcpStream, calls: &Mutex<Vec<AgentCall>>) -> std::io::Result<()> {
        let mut reader = BufReader::new(stream.try_clone()?);
        let mut length = 0;
        let mut authorization = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line)?;
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => length = value.trim().parse().unwrap_or(0),
                    "authorization" => authorization = value.trim().to_owned(),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let upload_url = json["upload_url"].as_str().unwrap_or_default().to_owned();
        calls.lock().expect("calls").push(AgentCall {
            authorization,
            upload_url: upload_url.clone(),
        });
        // The "workspace": a tiny gzip (its bytes do not matter to the provisioner).
        let tarball = [
            0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        let rest = upload_url.trim_start_matches("http://");
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let (status, _) = raw_http(
            &format!("http://{host}"),
            "PUT",
            path,
            "application/gzip",
            &tarball,
        )?;
        let answer = if (200..300).contains(&status) {
            "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
        } else {
            format!("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n(upload {status})")
        };
        let mut stream = stream;
        stream.write_all(answer.as_bytes())
    }
}

// ---------------------------------------------------------------------------------------------
// The fixture: one deployment in moto
// ---------------------------------------------------------------------------------------------

struct EcsFixture {
    provisioner: Arc<EcsProvisioner>,
    clients: AwsClients,
    counter: RequestCounter,
    names: ResourceNames,
    settings: EcsSettings,
    agent: FakeAgent,
    challenges: Arc<DirChallenges>,
}

struct Options {
    sync_challenges: bool,
}

impl EcsFixture {
    async fn open(test: &str) -> Option<Self> {
        Self::with(
            test,
            Options {
                sync_challenges: true,
            },
            |_| {},
        )
        .await
    }

    async fn with(
        test: &str,
        options: Options,
        tweak: impl FnOnce(&mut EcsSettings),
    ) -> Option<Self> {
        let moto = moto(test)?;
        let network = moto.default_network().expect("moto's default network");
        let counter = RequestCounter::new();
        let clients = AwsClients::connect(&moto.connect_options(Some(counter.clone()))).await;
        let names = ResourceNames::new(&unique_name("pq"), "test").expect("names");
        let stem = names.stem();

        let deployment = moto.deployment(&clients, &names).await;
        let (cluster, listener_arn) = (deployment.cluster, deployment.listener_arn);
        let challenges = Arc::new(repository_challenges());
        if options.sync_challenges {
            S3Challenges::new(clients.s3.clone(), names.challenges_bucket())
                .sync(&challenges)
                .await
                .expect("sync the challenges");
        }

        let agent = FakeAgent::start();
        let mut settings = EcsSettings::new(
            names.clone(),
            DOMAIN,
            &cluster,
            network.subnet_ids.iter().take(2).cloned().collect(),
            Vec::new(),
            &network.vpc_id,
            &listener_arn,
            "arn:aws:iam::123456789012:role/prequel-test-execution",
            IMAGE,
        );
        settings.log_group = Some(format!("/prequel/{stem}"));
        settings.ready_timeout = Duration::from_secs(20);
        settings.stop_timeout = Duration::from_secs(10);
        settings.archive_timeout = Duration::from_secs(10);
        settings.poll_interval = Duration::from_millis(20);
        settings.agent_address_override = Some(agent.address);
        tweak(&mut settings);

        let archive = Arc::new(S3Archive::new(clients.s3.clone(), names.history_bucket()));
        let provisioner = Arc::new(EcsProvisioner::new(
            &clients,
            settings.clone(),
            challenges.clone(),
            archive,
        ));
        counter.reset();
        Some(Self {
            provisioner,
            clients,
            counter,
            names,
            settings,
            agent,
            challenges,
        })
    }

    fn host(&self, id: &InterviewId) -> String {
        format!("{id}.{DOMAIN}")
    }

    async fn rules(&self) -> Vec<Rule> {
        self.clients
            .elb
            .describe_rules()
            .listener_arn(&self.settings.listener_arn)
            .send()
            .await
            .expect("describe rules")
            .rules()
            .iter()
            .filter(|r| r.is_default() != Some(true))
            .cloned()
            .collect()
    }

    async fn rules_for(&self, id: &InterviewId) -> Vec<Rule> {
        let host = self.host(id);
        self.rules()
            .await
            .into_iter()
            .filter(|r| {
                r.conditions().iter().any(|c| {
                    c.host_header_config()
                        .is_some_and(|h| h.values().contains(&host))
                })
            })
            .collect()
    }

    /// The target groups named for the interview (0 or 1).
    async fn target_groups_for(&self, id: &InterviewId) -> Vec<String> {
        match self
            .clients
            .elb
            .describe_target_groups()
            .names(self.names.target_group(id))
            .send()
            .await
        {
            Ok(out) => out
                .target_groups()
                .iter()
                .filter_map(|g| g.target_group_arn().map(str::to_owned))
                .collect(),
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_target_group_not_found_exception()) =>
            {
                Vec::new()
            }
            Err(err) => panic!("describe target groups: {err:?}"),
        }
    }

    async fn elb_tags(&self, arn: &str) -> Vec<(String, String)> {
        self.clients
            .elb
            .describe_tags()
            .resource_arns(arn)
            .send()
            .await
            .expect("describe tags")
            .tag_descriptions()
            .iter()
            .flat_map(|d| d.tags())
            .map(|t| {
                (
                    t.key().unwrap_or_default().to_owned(),
                    t.value().unwrap_or_default().to_owned(),
                )
            })
            .collect()
    }

    /// The interview's tasks ECS still means to run.
    async fn live_tasks(&self, id: &InterviewId) -> Vec<String> {
        self.clients
            .ecs
            .list_tasks()
            .cluster(&self.settings.cluster)
            .started_by(id.as_str())
            .desired_status(DesiredStatus::Running)
            .send()
            .await
            .expect("list tasks")
            .task_arns()
            .to_vec()
    }

    async fn parameter_exists(&self, name: String) -> bool {
        match self.clients.ssm.get_parameter().name(name).send().await {
            Ok(_) => true,
            Err(err)
                if err
                    .as_service_error()
                    .is_some_and(|e| e.is_parameter_not_found()) =>
            {
                false
            }
            Err(err) => panic!("get parameter: {err:?}"),
        }
    }

    /// The revision the interview's target group records.
    async fn revision_of(&self, id: &InterviewId) -> String {
        let group = self
            .target_groups_for(id)
            .await
            .into_iter()
            .next()
            .expect("a target group");
        self.elb_tags(&group)
            .await
            .into_iter()
            .find(|(k, _)| k == TASK_DEFINITION_TAG)
            .map(|(_, v)| v)
            .expect("the target group records its revision")
    }

    /// Panics unless nothing of the interview is left.
    async fn assert_all_gone(&self, id: &InterviewId, revision: Option<&str>) {
        assert_eq!(
            self.live_tasks(id).await,
            Vec::<String>::new(),
            "tasks left"
        );
        assert_eq!(
            self.target_groups_for(id).await,
            Vec::<String>::new(),
            "target group left"
        );
        assert!(self.rules_for(id).await.is_empty(), "rule left");
        assert!(
            !self
                .parameter_exists(self.names.password_parameter(id))
                .await,
            "password parameter left"
        );
        assert!(
            !self
                .parameter_exists(self.names.archive_token_parameter(id))
                .await,
            "archive token parameter left"
        );
        if let Some(revision) = revision {
            // An error means the revision is deleted altogether.
            if let Ok(out) = self
                .clients
                .ecs
                .describe_task_definition()
                .task_definition(revision)
                .send()
                .await
            {
                let status = out
                    .task_definition()
                    .and_then(|d| d.status())
                    .map(|s| s.as_str().to_owned());
                assert_ne!(status.as_deref(), Some("ACTIVE"), "revision still active");
            }
        }
        assert!(
            !self
                .provisioner
                .instances()
                .await
                .expect("instances")
                .contains(id),
            "{id} still listed"
        );
    }
}

impl ProvisionerFixture for EcsFixture {
    fn provisioner(&self) -> Arc<dyn Provisioner> {
        self.provisioner.clone()
    }

    fn challenge(&self) -> ChallengeId {
        python()
    }
}

struct EcsHarness;

#[async_trait]
impl ProvisionerHarness for EcsHarness {
    async fn open(&self) -> Option<Box<dyn ProvisionerFixture>> {
        Some(Box::new(EcsFixture::open("aws_ecs conformance").await?))
    }
}

mod conformance {
    use super::EcsHarness;

    prequel_core::provisioner_conformance_tests!(EcsHarness);
}

// ---------------------------------------------------------------------------------------------
// ECS-specific cases
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_reaches_the_task_only_as_an_ecs_secret_and_everything_is_tagged() {
    let Some(fx) = EcsFixture::open("the_password_reaches_the_task_only_as_an_ecs_secret").await
    else {
        return;
    };
    let spec = spec(&python());
    let id = &spec.interview_id;
    let password = spec.password.expose().to_owned();
    let (instance, _) = create_ok(fx.provisioner.as_ref(), &spec).await;
    assert_eq!(instance.access_url, format!("https://{id}.{DOMAIN}"));

    // The revision: image and size from the manifest, the password as a secret only.
    let manifest = fx.challenges.manifest(&python()).await.expect("manifest");
    let revision = fx.revision_of(id).await;
    let described = fx
        .clients
        .ecs
        .describe_task_definition()
        .task_definition(&revision)
        .include(TaskDefinitionField::Tags)
        .send()
        .await
        .expect("describe task definition");
    let definition = described.task_definition().expect("definition");
    assert_eq!(
        definition.family(),
        Some(fx.names.task_family(&python()).as_str())
    );
    assert_eq!(
        definition.cpu(),
        Some(manifest.cloud.cpu.to_string().as_str())
    );
    assert_eq!(
        definition.memory(),
        Some(manifest.cloud.memory_mib.to_string().as_str())
    );
    assert_eq!(
        definition.task_role_arn(),
        None,
        "the task holds no AWS role"
    );
    // Two containers: the candidate's, and the archiver they cannot reach into.
    let named = |name: &str| {
        definition
            .container_definitions()
            .iter()
            .find(|c| c.name() == Some(name))
            .unwrap_or_else(|| panic!("no container {name}"))
    };
    assert_eq!(definition.container_definitions().len(), 2);
    let container = named("instance");
    let archiver = named("archiver");
    let secrets_of = |c: &aws_sdk_ecs::types::ContainerDefinition| -> Vec<(String, String)> {
        c.secrets()
            .iter()
            .map(|s| (s.name().to_owned(), s.value_from().to_owned()))
            .collect()
    };
    let env_of = |c: &aws_sdk_ecs::types::ContainerDefinition| -> Vec<(String, String)> {
        c.environment()
            .iter()
            .map(|e| {
                (
                    e.name().unwrap_or("").to_owned(),
                    e.value().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    let ports_of = |c: &aws_sdk_ecs::types::ContainerDefinition| -> BTreeSet<i32> {
        c.port_mappings()
            .iter()
            .filter_map(|p| p.container_port())
            .collect()
    };
    assert_eq!(container.image(), Some(IMAGE));
    assert_eq!(archiver.image(), Some(IMAGE));
    assert_eq!(
        container.memory().unwrap_or(0) + archiver.memory().unwrap_or(0),
        manifest.cloud.memory_mib as i32,
        "the two share the task's memory"
    );
    let parameter = fx.names.password_parameter(id);
    let token_parameter = fx.names.archive_token_parameter(id);
    assert_eq!(
        secrets_of(container),
        [("PASSWORD".to_owned(), parameter.clone())],
        "the candidate's container gets its login and nothing else secret"
    );
    assert_eq!(
        secrets_of(archiver),
        [("PREQUEL_ARCHIVE_TOKEN".to_owned(), token_parameter.clone())]
    );
    let env = env_of(container);
    assert!(
        env.contains(&("PREQUEL_INTERVIEW_ID".to_owned(), id.to_string())),
        "{env:?}"
    );
    assert!(env.iter().any(|(k, _)| k == "PREQUEL_DESTROY_AT"));
    assert!(env.iter().all(|(_, v)| *v != password));
    let archiver_env = env_of(archiver);
    assert!(
        archiver_env
            .iter()
            .any(|(k, v)| k == "PREQUEL_CHALLENGE_CHECKSUM" && v.starts_with("sha256:")),
        "{archiver_env:?}"
    );
    assert_eq!(ports_of(container), BTreeSet::from([8080]));
    assert_eq!(ports_of(archiver), BTreeSet::from([8081]));
    assert_eq!(
        archiver.user(),
        Some("0"),
        "root in its own container: it reads everything"
    );
    assert_eq!(container.user(), None, "the image's user, coder");
    // The candidate's container starts only once the archiver is healthy, so the archiver has
    // bound its port (and unpacked the starter files) before any candidate process exists.
    let depends: Vec<(&str, &str)> = container
        .depends_on()
        .iter()
        .map(|d| (d.container_name(), d.condition().as_str()))
        .collect();
    assert_eq!(depends, [("archiver", "HEALTHY")]);
    assert!(archiver.health_check().is_some());
    assert!(container.essential() == Some(true) && archiver.essential() == Some(true));
    let mounts = |c: &aws_sdk_ecs::types::ContainerDefinition| -> Vec<(String, String)> {
        c.mount_points()
            .iter()
            .map(|m| {
                (
                    m.source_volume().unwrap_or("").to_owned(),
                    m.container_path().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    assert_eq!(
        mounts(container),
        [("workspace".to_owned(), "/home/coder/workspace".to_owned())]
    );
    assert_eq!(
        mounts(archiver),
        [("workspace".to_owned(), "/workspace".to_owned())]
    );
    assert_eq!(
        definition
            .volumes()
            .iter()
            .filter_map(|v| v.name())
            .collect::<Vec<_>>(),
        ["workspace"]
    );
    let tags: Vec<(&str, &str)> = described
        .tags()
        .iter()
        .map(|t| (t.key().unwrap_or(""), t.value().unwrap_or("")))
        .collect();
    assert!(tags.contains(&(INTERVIEW_TAG, id.as_str())), "{tags:?}");
    assert!(
        tags.contains(&(DEPLOYMENT_TAG, fx.names.stem().as_str())),
        "{tags:?}"
    );
    assert!(
        !format!("{described:?}").contains(&password),
        "the password is in the definition"
    );

    // The task: started by the interview, tagged, the starter URL as an override, no password.
    let tasks = fx.live_tasks(id).await;
    assert_eq!(tasks.len(), 1);
    let described_tasks = fx
        .clients
        .ecs
        .describe_tasks()
        .cluster(&fx.settings.cluster)
        .set_tasks(Some(tasks))
        .include(TaskField::Tags)
        .send()
        .await
        .expect("describe tasks");
    assert!(
        !format!("{described_tasks:?}").contains(&password),
        "the password is in the task"
    );
    let task = &described_tasks.tasks()[0];
    assert_eq!(task.started_by(), Some(id.as_str()));
    assert!(
        task.tags()
            .iter()
            .any(|t| t.key() == Some(INTERVIEW_TAG) && t.value() == Some(id.as_str()))
    );
    // The starter URL goes to the archiver only.
    let overridden: Vec<(String, String)> = task
        .overrides()
        .map(|o| o.container_overrides())
        .unwrap_or_default()
        .iter()
        .flat_map(|o| {
            o.environment().iter().map(|e| {
                (
                    o.name().unwrap_or("").to_owned(),
                    format!("{}={}", e.name().unwrap_or(""), e.value().unwrap_or("")),
                )
            })
        })
        .collect();
    assert_eq!(overridden.len(), 1, "{overridden:?}");
    assert_eq!(overridden[0].0, "archiver");
    assert!(
        overridden[0].1.starts_with("PREQUEL_CHALLENGE_URL=")
            && overridden[0].1.contains("starter.tar.gz"),
        "{overridden:?}"
    );

    // The parameter is a SecureString holding the password.
    let stored = fx
        .clients
        .ssm
        .get_parameter()
        .name(&parameter)
        .with_decryption(true)
        .send()
        .await
        .expect("get parameter");
    let stored = stored.parameter().expect("parameter");
    assert_eq!(stored.r#type().map(|t| t.as_str()), Some("SecureString"));
    assert_eq!(stored.value(), Some(password.as_str()));
    let token = fx
        .clients
        .ssm
        .get_parameter()
        .name(&token_parameter)
        .with_decryption(true)
        .send()
        .await
        .expect("get the token parameter");
    let token = token.parameter().expect("parameter");
    assert_eq!(token.r#type().map(|t| t.as_str()), Some("SecureString"));
    let token = token.value().expect("a token").to_owned();
    assert!(
        token.len() >= 16 && token != password,
        "its own strong token"
    );

    // The target group and the rule: host, forward, tags.
    let groups = fx.target_groups_for(id).await;
    assert_eq!(groups.len(), 1);
    let group_tags = fx.elb_tags(&groups[0]).await;
    assert!(group_tags.contains(&(INTERVIEW_TAG.to_owned(), id.to_string())));
    assert!(group_tags.contains(&(DEPLOYMENT_TAG.to_owned(), fx.names.stem())));
    let rules = fx.rules_for(id).await;
    assert_eq!(rules.len(), 1);
    let rule = &rules[0];
    assert_eq!(
        rule.actions()[0].target_group_arn(),
        Some(groups[0].as_str()),
        "the rule forwards to the interview's target group"
    );
    let rule_tags = fx.elb_tags(rule.rule_arn().expect("rule ARN")).await;
    assert!(rule_tags.contains(&(INTERVIEW_TAG.to_owned(), id.to_string())));
    let health = fx
        .clients
        .elb
        .describe_target_groups()
        .target_group_arns(&groups[0])
        .send()
        .await
        .expect("describe target group");
    let group = &health.target_groups()[0];
    assert_eq!(group.health_check_path(), Some("/healthz"));
    assert_eq!(group.target_type(), Some(&TargetTypeEnum::Ip));
    assert_eq!(group.port(), Some(8080));

    // Destroy: the archiver got its own token as a bearer token, never the candidate's
    // password; then nothing is left.
    let destroyed = destroy_ok(fx.provisioner.as_ref(), id).await;
    assert_eq!(
        destroyed.archive,
        Some(format!(
            "s3://{}/{}",
            fx.names.history_bucket(),
            ResourceNames::archive_key(id)
        ))
    );
    let calls = fx.agent.calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert_eq!(calls[0].authorization, format!("Bearer {token}"));
    assert!(
        calls[0]
            .upload_url
            .contains(&ResourceNames::archive_key(id))
    );
    fx.assert_all_gone(id, Some(&revision)).await;
    // The task was stopped with Prequel's reason.
    let stopped = fx
        .clients
        .ecs
        .list_tasks()
        .cluster(&fx.settings.cluster)
        .started_by(id.as_str())
        .desired_status(DesiredStatus::Stopped)
        .send()
        .await
        .expect("list stopped");
    let stopped = fx
        .clients
        .ecs
        .describe_tasks()
        .cluster(&fx.settings.cluster)
        .set_tasks(Some(stopped.task_arns().to_vec()))
        .send()
        .await
        .expect("describe stopped");
    assert_eq!(stopped.tasks()[0].stopped_reason(), Some(STOP_REASON));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_creates_get_distinct_rule_priorities() {
    let Some(fx) = EcsFixture::open("concurrent_creates_get_distinct_rule_priorities").await else {
        return;
    };
    let specs: Vec<_> = (0..5).map(|_| spec(&python())).collect();
    join_all(specs.iter().map(|s| create_ok(fx.provisioner.as_ref(), s))).await;
    let priorities: Vec<String> = fx
        .rules()
        .await
        .iter()
        .filter_map(|r| r.priority().map(str::to_owned))
        .collect();
    assert_eq!(priorities.len(), 5, "{priorities:?}");
    assert_eq!(
        priorities.iter().collect::<BTreeSet<_>>().len(),
        5,
        "priorities collide: {priorities:?}"
    );
    for s in &specs {
        assert_eq!(fx.rules_for(&s.interview_id).await.len(), 1);
    }
    join_all(
        specs
            .iter()
            .map(|s| destroy_ok(fx.provisioner.as_ref(), &s.interview_id)),
    )
    .await;
    assert!(fx.rules().await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_made_interview_is_listed_and_destroy_removes_it() {
    let Some(fx) = EcsFixture::open("a_half_made_interview_is_listed_and_destroy_removes_it").await
    else {
        return;
    };
    // What a crash right after the first step could leave: only a tagged target group.
    let id = InterviewId::generate();
    fx.clients
        .elb
        .create_target_group()
        .name(fx.names.target_group(&id))
        .protocol(ProtocolEnum::Http)
        .port(8080)
        .vpc_id(&fx.settings.vpc_id)
        .target_type(TargetTypeEnum::Ip)
        .tags(
            ElbTag::builder()
                .key(INTERVIEW_TAG)
                .value(id.as_str())
                .build(),
        )
        .tags(
            ElbTag::builder()
                .key(DEPLOYMENT_TAG)
                .value(fx.names.stem())
                .build(),
        )
        .send()
        .await
        .expect("create target group");
    // Another deployment's group with our interview tag is not ours.
    let stranger = InterviewId::generate();
    fx.clients
        .elb
        .create_target_group()
        .name(fx.names.target_group(&stranger))
        .protocol(ProtocolEnum::Http)
        .port(8080)
        .vpc_id(&fx.settings.vpc_id)
        .target_type(TargetTypeEnum::Ip)
        .tags(
            ElbTag::builder()
                .key(INTERVIEW_TAG)
                .value(stranger.as_str())
                .build(),
        )
        .tags(
            ElbTag::builder()
                .key(DEPLOYMENT_TAG)
                .value("someone-else")
                .build(),
        )
        .send()
        .await
        .expect("create target group");

    assert_eq!(
        fx.provisioner.instances().await.expect("instances"),
        std::slice::from_ref(&id)
    );
    assert_eq!(
        fx.provisioner.status(&id).await.expect("status"),
        InstanceStatus::Starting
    );
    let destroyed = destroy_ok(fx.provisioner.as_ref(), &id).await;
    assert_eq!(destroyed.archive, None);
    fx.assert_all_gone(&id, None).await;
    assert_eq!(
        fx.provisioner.instances().await.expect("instances"),
        Vec::<InterviewId>::new()
    );
    assert_eq!(
        fx.target_groups_for(&stranger).await.len(),
        1,
        "not ours: left alone"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_create_cut_short_anywhere_and_retried_leaves_one_of_everything() {
    let Some(fx) = EcsFixture::open("a_create_cut_short_anywhere_and_retried").await else {
        return;
    };
    // A create dropped at an arbitrary await point is what a crash of the process looks like to
    // AWS. Cut creates after growing delays, then retry each to the end.
    // How long a whole create takes here, to spread the cuts over it.
    let timing = spec(&python());
    let started = std::time::Instant::now();
    create_ok(fx.provisioner.as_ref(), &timing).await;
    let full = started.elapsed();
    destroy_ok(fx.provisioner.as_ref(), &timing.interview_id).await;
    let mut cut_at = Vec::new();
    let mut specs = Vec::new();
    for tenth in 1..=12u32 {
        let spec = spec(&python());
        let progress = RecordingProgress::default();
        let cut = full * tenth / 10;
        let first = tokio::time::timeout(cut, fx.provisioner.create(&spec, &progress)).await;
        cut_at.push((cut.as_millis(), first.is_ok(), progress.logs().len()));
        specs.push(spec);
    }
    for spec in &specs {
        let id = &spec.interview_id;
        let (instance, _) = create_ok(fx.provisioner.as_ref(), spec).await;
        let (again, _) = create_ok(fx.provisioner.as_ref(), spec).await;
        assert_eq!(instance, again);
        assert_eq!(
            fx.rules_for(id).await.len(),
            1,
            "rules for {id} ({cut_at:?})"
        );
        assert_eq!(
            fx.target_groups_for(id).await.len(),
            1,
            "target groups for {id}"
        );
        assert_eq!(
            fx.live_tasks(id).await.len(),
            1,
            "tasks for {id} ({cut_at:?})"
        );
    }
    for spec in &specs {
        let revision = fx.revision_of(&spec.interview_id).await;
        destroy_ok(fx.provisioner.as_ref(), &spec.interview_id).await;
        fx.assert_all_gone(&spec.interview_id, Some(&revision))
            .await;
    }
    // No revision was left behind by a cut create (the retry found and reused it).
    let active = fx
        .clients
        .ecs
        .list_task_definitions()
        .family_prefix(fx.names.task_family(&python()))
        .status(aws_sdk_ecs::types::TaskDefinitionStatus::Active)
        .send()
        .await
        .expect("list task definitions");
    eprintln!("cut creates (ms, finished, log lines): {cut_at:?}");
    assert_eq!(
        active.task_definition_arns(),
        Vec::<String>::new(),
        "revisions left active after destroys"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_agent_is_logged_and_teardown_goes_on_without_an_archive() {
    let closed = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let Some(fx) = EcsFixture::with(
        "an_unreachable_agent_is_logged",
        Options {
            sync_challenges: true,
        },
        |settings| settings.agent_address_override = Some(closed),
    )
    .await
    else {
        return;
    };
    let spec = spec(&python());
    let id = &spec.interview_id;
    create_ok(fx.provisioner.as_ref(), &spec).await;
    let revision = fx.revision_of(id).await;
    let progress = RecordingProgress::default();
    let destroyed = fx
        .provisioner
        .destroy(id, &progress)
        .await
        .expect("destroy goes on");
    assert_eq!(destroyed.archive, None);
    let logs = progress.logs();
    assert!(
        logs.iter()
            .any(|l| l.contains("not archived") && l.contains(&closed.to_string())),
        "{logs:?}"
    );
    progress.assert_never_logged(spec.password.expose());
    fx.assert_all_gone(id, Some(&revision)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_challenge_not_synced_to_s3_fails_permanently_naming_the_sync_command() {
    let Some(fx) = EcsFixture::with(
        "a_challenge_not_synced_to_s3",
        Options {
            sync_challenges: false,
        },
        |_| {},
    )
    .await
    else {
        return;
    };
    let spec = spec(&python());
    let err = fx
        .provisioner
        .create(&spec, &RecordingProgress::default())
        .await
        .expect_err("nothing to start from");
    assert!(!err.retryable, "{err}");
    assert!(err.message.contains("prequel challenges sync"), "{err}");
    assert!(
        err.message.contains(&format!(
            "s3://{}/python/starter.tar.gz",
            fx.names.challenges_bucket()
        )),
        "{err}"
    );
    assert_eq!(
        fx.provisioner
            .status(&spec.interview_id)
            .await
            .expect("status"),
        InstanceStatus::Absent
    );
    for name in [
        fx.names.password_parameter(&spec.interview_id),
        fx.names.archive_token_parameter(&spec.interview_id),
    ] {
        assert!(!fx.parameter_exists(name).await);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_a_missing_cluster_and_a_missing_listener() {
    let Some(fx) = EcsFixture::open("check_names_a_missing_cluster").await else {
        return;
    };
    fx.provisioner
        .check()
        .await
        .expect("the fixture's deployment checks out");
    let archive = Arc::new(S3Archive::new(
        fx.clients.s3.clone(),
        fx.names.history_bucket(),
    ));
    let mut settings = fx.settings.clone();
    settings.cluster = "no-such-cluster".to_owned();
    let err = EcsProvisioner::new(
        &fx.clients,
        settings,
        fx.challenges.clone(),
        archive.clone(),
    )
    .check()
    .await
    .expect_err("no cluster");
    assert!(err.message.contains("no-such-cluster"), "{err}");
    assert!(!err.retryable);
    let mut settings = fx.settings.clone();
    settings.listener_arn = format!("{}0", fx.settings.listener_arn);
    let err = EcsProvisioner::new(
        &fx.clients,
        settings.clone(),
        fx.challenges.clone(),
        archive,
    )
    .check()
    .await
    .expect_err("no listener");
    assert!(err.message.contains(&settings.listener_arn), "{err}");
}

/// The requests one interview's lifecycle costs, by operation (printed for BENCHMARKS.md), with
/// a budget so a regression is noticed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_lifecycle_costs_a_bounded_number_of_requests() {
    let Some(fx) = EcsFixture::open("one_lifecycle_costs_a_bounded_number_of_requests").await
    else {
        return;
    };
    let spec = spec(&python());
    fx.counter.reset();
    create_ok(fx.provisioner.as_ref(), &spec).await;
    let create = fx.counter.snapshot();
    fx.counter.reset();
    destroy_ok(fx.provisioner.as_ref(), &spec.interview_id).await;
    let destroy = fx.counter.snapshot();
    fx.counter.reset();
    fx.provisioner.instances().await.expect("instances");
    let instances = fx.counter.snapshot();
    let total =
        |counts: &[prequel_core::aws::RequestCount]| counts.iter().map(|c| c.count).sum::<u64>();
    for (what, counts) in [
        ("create", &create),
        ("destroy", &destroy),
        ("instances", &instances),
    ] {
        let line: Vec<String> = counts
            .iter()
            .map(|c| format!("{}.{}×{}", c.service, c.operation, c.count))
            .collect();
        eprintln!(
            "requests per {what}: {} = {}",
            total(counts),
            line.join(" ")
        );
    }
    assert!(total(&create) <= 16, "create: {create:?}");
    assert!(total(&destroy) <= 16, "destroy: {destroy:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revision_registered_but_not_recorded_is_reused_by_the_retry_and_removed_by_destroy() {
    let Some(fx) = EcsFixture::open("a_revision_registered_but_not_recorded").await else {
        return;
    };
    // A create cut short right after RegisterTaskDefinition: the anchor target group (with its
    // challenge tag) and a tagged revision exist, but the revision is not recorded on the group.
    let spec = spec(&python());
    let id = &spec.interview_id;
    fx.clients
        .elb
        .create_target_group()
        .name(fx.names.target_group(id))
        .protocol(ProtocolEnum::Http)
        .port(8080)
        .vpc_id(&fx.settings.vpc_id)
        .target_type(TargetTypeEnum::Ip)
        .tags(
            ElbTag::builder()
                .key(INTERVIEW_TAG)
                .value(id.as_str())
                .build(),
        )
        .tags(
            ElbTag::builder()
                .key(DEPLOYMENT_TAG)
                .value(fx.names.stem())
                .build(),
        )
        .tags(ElbTag::builder().key(CHALLENGE_TAG).value("python").build())
        .send()
        .await
        .expect("create target group");
    let registered = fx
        .clients
        .ecs
        .register_task_definition()
        .family(fx.names.task_family(&python()))
        .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
        .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
        .cpu("512")
        .memory("1024")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("instance")
                .image(IMAGE)
                .memory(1024)
                .build(),
        )
        .tags(
            aws_sdk_ecs::types::Tag::builder()
                .key(INTERVIEW_TAG)
                .value(id.as_str())
                .build(),
        )
        .send()
        .await
        .expect("register");
    let revision = registered
        .task_definition()
        .and_then(|d| d.task_definition_arn())
        .expect("ARN")
        .to_owned();
    assert_eq!(
        fx.provisioner.instances().await.expect("instances"),
        std::slice::from_ref(id)
    );

    fx.counter.reset();
    create_ok(fx.provisioner.as_ref(), &spec).await;
    let registrations: u64 = fx
        .counter
        .snapshot()
        .iter()
        .filter(|c| c.operation == "RegisterTaskDefinition")
        .map(|c| c.count)
        .sum();
    assert_eq!(registrations, 0, "the retry registered another revision");
    assert_eq!(fx.revision_of(id).await, revision);
    destroy_ok(fx.provisioner.as_ref(), id).await;
    fx.assert_all_gone(id, Some(&revision)).await;
}
