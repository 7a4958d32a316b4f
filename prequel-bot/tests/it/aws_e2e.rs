//! End to end on the AWS backends, against moto on loopback through the real SDK: the shared
//! infrastructure is made the way `infra/` would (tables, buckets, cluster, ALB and listener),
//! `prequel challenges sync` uploads the repository's challenges, and `prequel serve` runs with
//! `PREQUEL_BACKEND=aws`. moto's ECS is a simulation (its tasks never run a container), so these
//! tests check what Prequel asks AWS for — the task, its definition and secret, the target group,
//! the listener rule, the tags — and that destroying removes all of it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use prequel_core::aws::{AwsClients, ResourceNames};
use prequel_core::domain::InterviewId;
use prequel_core::testkit::moto::{self, Moto};
use serde_json::Value;

use crate::support::{self, ServeOptions, Server};

const DOMAIN: &str = "interviews.test";
const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/prequel-instance:test";
const EXECUTION_ROLE: &str = "arn:aws:iam::123456789012:role/prequel-test-execution";

fn repository_challenges() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../challenge")
}

/// One deployment's shared infrastructure on moto, named apart from every other test's.
struct World {
    names: ResourceNames,
    clients: AwsClients,
    runtime: tokio::runtime::Runtime,
    listener_arn: String,
    env: Vec<(String, String)>,
}

impl World {
    /// Makes what `infra/` makes (tables, buckets, cluster, load balancer and listener, see
    /// `Moto::deployment`). `None` (after a loud skip) when moto is not available outside CI.
    fn new(test: &str) -> Option<Self> {
        let moto: &Moto = moto::moto(test)?;
        let names = ResourceNames::new(&moto::unique_name("e"), "test").expect("names");
        let runtime = tokio::runtime::Runtime::new().expect("runtime");
        let clients = runtime.block_on(moto.clients());
        let deployment = runtime.block_on(moto.deployment(&clients, &names));
        let (network, listener_arn) = (deployment.network, deployment.listener_arn);
        let mut env: Vec<(String, String)> = moto
            .env()
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        for (key, value) in [
            ("PREQUEL_BACKEND", "aws".to_owned()),
            ("PREQUEL_PREFIX", names.prefix().to_owned()),
            ("PREQUEL_ENVIRONMENT", names.environment().to_owned()),
            ("PREQUEL_DOMAIN", DOMAIN.to_owned()),
            ("PREQUEL_ECS_CLUSTER", names.stem()),
            ("PREQUEL_SUBNETS", network.subnet_ids[..2].join(",")),
            ("PREQUEL_SECURITY_GROUPS", network.security_group_id.clone()),
            ("PREQUEL_VPC_ID", network.vpc_id.clone()),
            ("PREQUEL_ALB_LISTENER_ARN", listener_arn.clone()),
            ("PREQUEL_EXECUTION_ROLE_ARN", EXECUTION_ROLE.to_owned()),
            ("PREQUEL_INSTANCE_IMAGE", IMAGE.to_owned()),
        ] {
            env.push((key.to_owned(), value));
        }
        Some(Self {
            names,
            clients,
            runtime,
            listener_arn,
            env,
        })
    }

    /// `prequel challenges sync` of the repository's challenges, as the deploy guide says.
    fn sync_challenges(&self) -> String {
        let out = support::prequel()
            .args(["challenges", "sync", "--challenges"])
            .arg(repository_challenges())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
            .expect("run prequel challenges sync");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "sync failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    }

    fn serve(&self) -> Server {
        let mut options = ServeOptions::new("/nonexistent/code-server");
        options.challenges = Some(repository_challenges());
        options.env = self.env.clone();
        Server::start(options).expect("serve starts on the AWS backends")
    }

    /// The tasks ECS has (or had) for an interview: `startedBy` is the interview id.
    fn tasks(&self, id: &str) -> Vec<prequel_core::aws::sdk::ecs::types::Task> {
        self.runtime.block_on(async {
            let mut arns = Vec::new();
            for status in [
                prequel_core::aws::sdk::ecs::types::DesiredStatus::Running,
                prequel_core::aws::sdk::ecs::types::DesiredStatus::Stopped,
            ] {
                let listed = self
                    .clients
                    .ecs
                    .list_tasks()
                    .cluster(self.names.stem())
                    .started_by(id)
                    .desired_status(status)
                    .send()
                    .await
                    .expect("list tasks");
                arns.extend(listed.task_arns().iter().cloned());
            }
            if arns.is_empty() {
                return Vec::new();
            }
            self.clients
                .ecs
                .describe_tasks()
                .cluster(self.names.stem())
                .set_tasks(Some(arns))
                .include(prequel_core::aws::sdk::ecs::types::TaskField::Tags)
                .send()
                .await
                .expect("describe tasks")
                .tasks()
                .to_vec()
        })
    }

    fn rules_for_host(&self, host: &str) -> Vec<prequel_core::aws::sdk::elb::types::Rule> {
        self.runtime.block_on(async {
            let rules = self
                .clients
                .elb
                .describe_rules()
                .listener_arn(&self.listener_arn)
                .send()
                .await
                .expect("describe rules");
            rules
                .rules()
                .iter()
                .filter(|rule| format!("{rule:?}").contains(host))
                .cloned()
                .collect()
        })
    }

    fn target_group_exists(&self, id: &InterviewId) -> bool {
        self.runtime.block_on(async {
            self.clients
                .elb
                .describe_target_groups()
                .names(self.names.target_group(id))
                .send()
                .await
                .is_ok_and(|found| !found.target_groups().is_empty())
        })
    }

    fn parameter(&self, id: &InterviewId) -> Option<(String, String)> {
        self.runtime.block_on(async {
            let found = self
                .clients
                .ssm
                .get_parameter()
                .name(self.names.password_parameter(id))
                .with_decryption(true)
                .send()
                .await
                .ok()?;
            let parameter = found.parameter()?;
            Some((
                parameter.value()?.to_owned(),
                parameter.r#type()?.as_str().to_owned(),
            ))
        })
    }
}

/// Runs `prequel interview --json ARGS…` and returns its JSON answer.
fn interview_json(server: &Server, args: &[&str]) -> Value {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let out = server.interview(&all).expect("run prequel interview");
    assert!(
        out.status.success(),
        "prequel interview {args:?} failed: {}{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        server.log()
    );
    serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
}

fn fetch(server: &Server, path: &str) -> Value {
    let (status, body) =
        support::get(&server.url, path, Some(&server.token())).expect("GET from the API");
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).expect("JSON")
}

fn wait_for_status(server: &Server, id: &str, wanted: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let interview = fetch(server, &format!("/api/interviews/{id}"))["interview"].clone();
        if interview["status"] == wanted {
            return interview;
        }
        assert!(
            Instant::now() < deadline,
            "interview {id} never became {wanted}: {interview}\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn now_on_aws_runs_a_fargate_task_behind_its_own_rule_and_destroy_removes_everything() {
    let Some(world) = World::new("the AWS end-to-end test") else {
        return;
    };
    let synced = world.sync_challenges();
    assert!(
        synced.contains("python"),
        "sync names the challenges: {synced}"
    );
    let server = world.serve();

    let created = interview_json(&server, &["now", "30m", "python"]);
    assert_eq!(created["status"], "active", "{created}");
    let id_text = created["id"].as_str().expect("id").to_owned();
    let id = InterviewId::parse(&id_text).expect("an interview id");
    let host = format!("{id}.{DOMAIN}");
    assert_eq!(created["access_url"], format!("https://{host}"));
    let password = created["password"].as_str().expect("password").to_owned();

    // One task, started for this interview, from a revision of the python family that takes
    // the password from SSM as a secret and never as an environment value.
    let tasks = world.tasks(&id_text);
    assert_eq!(tasks.len(), 1, "exactly one task: {tasks:?}");
    let task = &tasks[0];
    assert!(
        task.tags()
            .iter()
            .any(|t| t.key() == Some("prequel:interview") && t.value() == Some(&id_text)),
        "the task is tagged with its interview: {:?}",
        task.tags()
    );
    let definition = world.runtime.block_on(async {
        world
            .clients
            .ecs
            .describe_task_definition()
            .task_definition(task.task_definition_arn().expect("definition"))
            .include(prequel_core::aws::sdk::ecs::types::TaskDefinitionField::Tags)
            .send()
            .await
            .expect("describe the task definition")
    });
    let revision = definition.task_definition().expect("definition");
    assert_eq!(
        revision.family(),
        Some(
            world
                .names
                .task_family(&"python".parse().expect("id"))
                .as_str()
        )
    );
    assert_eq!(
        (revision.cpu(), revision.memory()),
        (Some("512"), Some("1024"))
    );
    let container = &revision.container_definitions()[0];
    assert_eq!(container.image(), Some(IMAGE));
    let secrets: Vec<_> = container
        .secrets()
        .iter()
        .map(|s| (s.name(), s.value_from()))
        .collect();
    assert_eq!(
        secrets,
        [("PASSWORD", world.names.password_parameter(&id).as_str())]
    );
    let described = format!("{definition:?} {tasks:?}");
    assert!(
        !described.contains(&password),
        "the password is in the task or its definition"
    );
    assert!(
        definition
            .tags()
            .iter()
            .any(|t| t.key() == Some("prequel:interview") && t.value() == Some(&id_text)),
        "the revision is tagged: {:?}",
        definition.tags()
    );
    assert_eq!(
        world.parameter(&id),
        Some((password.clone(), "SecureString".to_owned())),
        "the password is a SecureString parameter"
    );

    // A target group and one rule for `{id}.{domain}` on the shared listener.
    assert!(world.target_group_exists(&id), "the target group exists");
    assert_eq!(world.rules_for_host(&host).len(), 1, "one rule for {host}");

    // Destroy removes all of it.
    interview_json(&server, &["destroy", &id_text]);
    wait_for_status(&server, &id_text, "destroyed");
    assert!(
        world
            .tasks(&id_text)
            .iter()
            .all(|t| t.last_status() == Some("STOPPED") || t.desired_status() == Some("STOPPED")),
        "the task is stopped"
    );
    assert!(!world.target_group_exists(&id), "the target group is gone");
    assert!(world.rules_for_host(&host).is_empty(), "the rule is gone");
    assert_eq!(world.parameter(&id), None, "the password parameter is gone");
    let status = world.runtime.block_on(async {
        world
            .clients
            .ecs
            .describe_task_definition()
            .task_definition(task.task_definition_arn().expect("definition"))
            .send()
            .await
            .ok()
            .and_then(|d| d.task_definition().and_then(|t| t.status().cloned()))
    });
    assert_ne!(
        status.as_ref().map(|s| s.as_str()),
        Some("ACTIVE"),
        "the interview's revision is no longer active"
    );

    // The password was in the answer to `now` only.
    let list = server.interview(&["--json", "list"]).expect("list");
    for (what, text) in [
        ("list", String::from_utf8_lossy(&list.stdout).into_owned()),
        ("server log", server.log()),
    ] {
        assert!(
            !text.contains(&password),
            "the password leaked into the {what}"
        );
    }
}

#[test]
fn two_replicas_on_one_table_create_and_destroy_each_interview_once() {
    let Some(world) = World::new("the AWS two-replica test") else {
        return;
    };
    world.sync_challenges();
    let replicas = [world.serve(), world.serve()];

    // Interviews asked of either replica; both schedulers race for every operation.
    let ids: Vec<String> = (0..4)
        .map(|n| {
            let asked = interview_json(&replicas[n % 2], &["--no-wait", "now", "30m", "python"]);
            asked["id"].as_str().expect("id").to_owned()
        })
        .collect();
    for (n, id) in ids.iter().enumerate() {
        wait_for_status(&replicas[(n + 1) % 2], id, "active");
    }
    for (n, id) in ids.iter().enumerate() {
        interview_json(&replicas[(n + 1) % 2], &["destroy", id]);
    }
    for (n, id) in ids.iter().enumerate() {
        wait_for_status(&replicas[n % 2], id, "destroyed");
    }

    for id in &ids {
        // Created once: one task ever started for it.
        assert_eq!(world.tasks(id).len(), 1, "interview {id}: one task");
        // One create and one destroy, each done in one attempt by one replica.
        let operations =
            fetch(&replicas[0], &format!("/api/interviews/{id}"))["operations"].clone();
        let operations = operations.as_array().expect("operations").clone();
        let kinds: Vec<_> = operations.iter().map(|o| o["kind"].clone()).collect();
        assert_eq!(kinds, ["create", "destroy"], "{operations:?}");
        for operation in &operations {
            assert_eq!(operation["status"], "completed", "{operation}");
            assert_eq!(operation["attempts"], 1, "{operation}");
        }
    }
}

#[test]
fn serve_on_aws_stops_at_start_naming_what_is_missing() {
    let Some(world) = World::new("the AWS start-up check test") else {
        return;
    };
    let start = || {
        let mut options = ServeOptions::new("/nonexistent/code-server");
        options.challenges = Some(repository_challenges());
        options.env = world.env.clone();
        Server::start(options).expect_err("serve must refuse to start")
    };

    // Nothing synced yet: the bucket is named, with the command that fills it.
    let refused = start();
    assert!(
        refused.contains(&world.names.challenges_bucket())
            && refused.contains("prequel challenges sync"),
        "{refused}"
    );

    // A missing table is named.
    world.sync_challenges();
    world.runtime.block_on(async {
        world
            .clients
            .dynamodb
            .delete_table()
            .table_name(world.names.interviews_table())
            .send()
            .await
            .expect("delete the table")
    });
    let refused = start();
    assert!(
        refused.contains(&world.names.interviews_table()),
        "{refused}"
    );

    // A prefix AWS cannot name things with is refused before anything is asked of AWS.
    let mut options = ServeOptions::new("/nonexistent/code-server");
    options.env = world.env.clone();
    options
        .env
        .push(("PREQUEL_PREFIX".to_owned(), "Not_Valid".to_owned()));
    let refused = Server::start(options).expect_err("a bad prefix");
    assert!(refused.contains("PREQUEL_PREFIX"), "{refused}");
}
