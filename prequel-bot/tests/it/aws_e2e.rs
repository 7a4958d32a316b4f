//! End to end on the AWS backends, against moto on loopback through the real SDK: the shared
//! infrastructure is made the way `infra/` would (tables, buckets, cluster, ALB and listener),
//! `prequel challenges sync` uploads the repository's challenges, and `prequel serve` runs with
//! `PREQUEL_BACKEND=aws`. moto's ECS is a simulation (its tasks never run a container), so these
//! tests check what Prequel asks AWS for — the task, its definition and secret, the target group,
//! the listener rule, the tags — and that destroying removes all of it.

use std::time::{Duration, Instant};

use prequel_core::aws::sdk::dynamodb::types::AttributeValue;
use prequel_core::aws::{AwsClients, ResourceNames};
use prequel_core::domain::InterviewId;
use prequel_core::testkit::moto::{self, Moto};
use serde_json::Value;

use crate::support::{self, ServeOptions, Server};

/// How long an interview may take to reach a state on moto (its ECS is slow to answer).
const AWS_WAIT: Duration = Duration::from_secs(120);
const DOMAIN: &str = "interviews.test";
const IMAGE: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com/prequel-instance:test";
const EXECUTION_ROLE: &str = "arn:aws:iam::123456789012:role/prequel-test-execution";

/// One deployment's shared infrastructure on moto, named apart from every other test's.
pub(crate) struct World {
    pub(crate) names: ResourceNames,
    pub(crate) clients: AwsClients,
    pub(crate) runtime: tokio::runtime::Runtime,
    pub(crate) listener_arn: String,
    env: Vec<(String, String)>,
}

impl World {
    /// Makes what `infra/` makes (tables, buckets, cluster, load balancer and listener, see
    /// `Moto::deployment`). `None` (after a loud skip) when moto is not available outside CI.
    fn new(test: &str) -> Option<Self> {
        moto::moto(test).map(Self::on)
    }

    /// The same on a given moto server (one of the test's own: [`moto::dedicated`]).
    pub(crate) fn on(moto: &Moto) -> Self {
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
        Self {
            names,
            clients,
            runtime,
            listener_arn,
            env,
        }
    }

    /// `prequel challenges sync` of the repository's challenges, as the deploy guide says.
    pub(crate) fn sync_challenges(&self) -> String {
        let out = support::prequel()
            .args(["challenges", "sync", "--challenges"])
            .arg(support::repository_challenges())
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

    pub(crate) fn serve(&self) -> Server {
        let mut options = ServeOptions::new("/nonexistent/code-server");
        options.challenges = Some(support::repository_challenges());
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
        self.parameter_named(self.names.password_parameter(id))
    }

    fn parameter_named(&self, name: String) -> Option<(String, String)> {
        self.runtime.block_on(async {
            let found = self
                .clients
                .ssm
                .get_parameter()
                .name(name)
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

    let created = server.interview_json(&["now", "30m", "python"]);
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
    // The candidate's container and the archiver, each with its own secret.
    let secrets_of = |name: &str| -> Vec<(String, String)> {
        let container = revision
            .container_definitions()
            .iter()
            .find(|c| c.name() == Some(name))
            .unwrap_or_else(|| panic!("no container {name}"));
        assert_eq!(container.image(), Some(IMAGE));
        container
            .secrets()
            .iter()
            .map(|s| (s.name().to_owned(), s.value_from().to_owned()))
            .collect()
    };
    assert_eq!(
        secrets_of("instance"),
        [("PASSWORD".to_owned(), world.names.password_parameter(&id))]
    );
    assert_eq!(
        secrets_of("archiver"),
        [(
            "PREQUEL_ARCHIVE_TOKEN".to_owned(),
            world.names.archive_token_parameter(&id)
        )]
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
    server.interview_json(&["destroy", &id_text]);
    server.wait_for_status(&id_text, "destroyed", AWS_WAIT);
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
    assert_eq!(
        world.parameter_named(world.names.archive_token_parameter(&id)),
        None,
        "the archive token parameter is gone"
    );
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
            let asked = replicas[n % 2].interview_json(&["--no-wait", "now", "30m", "python"]);
            asked["id"].as_str().expect("id").to_owned()
        })
        .collect();
    for (n, id) in ids.iter().enumerate() {
        replicas[(n + 1) % 2].wait_for_status(id, "active", AWS_WAIT);
    }
    for (n, id) in ids.iter().enumerate() {
        replicas[(n + 1) % 2].interview_json(&["destroy", id]);
    }
    for (n, id) in ids.iter().enumerate() {
        replicas[n % 2].wait_for_status(id, "destroyed", AWS_WAIT);
    }

    for id in &ids {
        // Created once: one task ever started for it.
        assert_eq!(world.tasks(id).len(), 1, "interview {id}: one task");
        // One create and one destroy, each done in one attempt by one replica.
        let operations =
            replicas[0].api_get(&format!("/api/interviews/{id}"))["operations"].clone();
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
        options.challenges = Some(support::repository_challenges());
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

// ---------------------------------------------------------------------------------------------
// Downtime on the AWS backends: every replica is stopped across a destroy time or a start time.
// As in e2e.rs, the test moves the interview's times into the past while nothing runs, here in
// its DynamoDB items, exactly as the clock would have.
// ---------------------------------------------------------------------------------------------

/// A time as the store's sortable keys hold it: milliseconds, 16 digits.
fn time_key(ms: i64) -> String {
    format!("{ms:016}")
}

/// Milliseconds since the epoch as RFC 3339, as the records' JSON holds times.
fn rfc3339(ms: i64) -> String {
    chrono::DateTime::<chrono::Utc>::from_timestamp_millis(ms)
        .expect("a time")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl World {
    /// Reads the item `pk`/`sk` of `table`, lets `change` edit its record (`data`, JSON) and
    /// its other attributes, and writes it back. Only while no replica runs.
    fn rewrite_item(
        &self,
        table: &str,
        pk: &str,
        sk: &str,
        change: impl FnOnce(&mut Value, &mut std::collections::HashMap<String, AttributeValue>),
    ) {
        self.runtime.block_on(async {
            let key = |name: &str, value: &str| (name.to_owned(), AttributeValue::S(value.into()));
            let found = self
                .clients
                .dynamodb
                .get_item()
                .table_name(table)
                .set_key(Some([key("pk", pk), key("sk", sk)].into()))
                .consistent_read(true)
                .send()
                .await
                .expect("get the item");
            let mut item = found.item().cloned().expect("the item exists");
            let mut data: Value = match item.get("data") {
                Some(AttributeValue::S(json)) => serde_json::from_str(json).expect("JSON data"),
                other => panic!("no data attribute: {other:?}"),
            };
            change(&mut data, &mut item);
            item.insert("data".into(), AttributeValue::S(data.to_string()));
            self.clients
                .dynamodb
                .put_item()
                .table_name(table)
                .set_item(Some(item))
                .send()
                .await
                .expect("write the item back");
        });
    }
}

#[test]
fn on_aws_a_destroy_time_that_passed_while_every_replica_was_down_is_met_at_restart() {
    let Some(world) = World::new("the AWS downtime destroy test") else {
        return;
    };
    world.sync_challenges();
    let mut first = world.serve();
    let created = first.interview_json(&["now", "30m", "python"]);
    let id = created["id"].as_str().expect("id").to_owned();
    first.stop().expect("stop serve");
    drop(first);

    // The 30 minutes ran out a minute ago, while nothing was running.
    let ended = now_ms() - 60_000;
    world.rewrite_item(
        &world.names.interviews_table(),
        &format!("interview#{id}"),
        "interview",
        |data, item| {
            data["start_at"] = rfc3339(ended - 30 * 60_000).into();
            data["destroy_at"] = rfc3339(ended).into();
            item.insert(
                "startKey".into(),
                AttributeValue::S(format!("{}#{id}", time_key(ended - 30 * 60_000))),
            );
            item.insert(
                "autoDestroyAt".into(),
                AttributeValue::S(format!("{}#{id}", time_key(ended))),
            );
        },
    );

    let restarted = Instant::now();
    let second = world.serve();
    second.wait_for_status(&id, "destroyed", AWS_WAIT);
    let took = restarted.elapsed();
    support::loud(&format!(
        "downtime on AWS: destroy met {:.2} s after the restart began (the server's start and \
         its checks of every AWS resource included)",
        took.as_secs_f64()
    ));
    assert!(
        took < Duration::from_secs(10),
        "the missed destroy ran at once, not at the next poll: {took:?}"
    );
    let parsed = InterviewId::parse(&id).expect("id");
    assert!(
        world
            .tasks(&id)
            .iter()
            .all(|t| t.desired_status() == Some("STOPPED")),
        "the task is stopped"
    );
    assert!(
        !world.target_group_exists(&parsed),
        "the target group is gone"
    );
    assert_eq!(world.parameter(&parsed), None, "the password is gone");
}

#[test]
fn on_aws_a_start_missed_while_every_replica_was_down_is_reported_missed_not_run_late() {
    let Some(world) = World::new("the AWS downtime start test") else {
        return;
    };
    world.sync_challenges();
    let mut first = world.serve();
    let scheduled = first.interview_json(&["schedule", "tomorrow", "9am", "4h", "python"]);
    let id = scheduled["id"].as_str().expect("id").to_owned();
    assert_eq!(scheduled["status"], "scheduled", "{scheduled}");
    first.stop().expect("stop serve");
    drop(first);

    // The start was 20 minutes ago (past the 15-minute grace) and no replica ran; the interview
    // would still run for 3 h 40 min.
    let start = now_ms() - 20 * 60_000;
    let end = start + 240 * 60_000;
    world.rewrite_item(
        &world.names.interviews_table(),
        &format!("interview#{id}"),
        "interview",
        |data, item| {
            data["start_at"] = rfc3339(start).into();
            data["destroy_at"] = rfc3339(end).into();
            item.insert(
                "startKey".into(),
                AttributeValue::S(format!("{}#{id}", time_key(start))),
            );
            item.insert(
                "autoDestroyAt".into(),
                AttributeValue::S(format!("{}#{id}", time_key(end))),
            );
        },
    );
    let due = start - 5 * 60_000;
    let create = format!("op-c{id}");
    world.rewrite_item(
        &world.names.operations_table(),
        &create,
        "operation",
        |data, item| {
            data["due_at"] = rfc3339(due).into();
            item.insert(
                "scheduledAt".into(),
                AttributeValue::S(format!("{}#{create}", time_key(due))),
            );
        },
    );

    let second = world.serve();
    let failed = second.wait_for_status(&id, "failed", AWS_WAIT);
    let reason = failed["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("missed"), "reported as missed: {failed}");
    assert!(world.tasks(&id).is_empty(), "no task for a missed start");
    let parsed = InterviewId::parse(&id).expect("id");
    assert!(
        !world.target_group_exists(&parsed),
        "nothing was provisioned for a missed start"
    );
}
