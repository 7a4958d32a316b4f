//! Three `prequel serve` replicas on one store, sharing hundreds of interviews whose creates fall
//! due over a few minutes: each interview is created exactly once and destroyed exactly once,
//! and nothing of any instance is left. The interviews are asked of, looked at and destroyed
//! through all three replicas in turn, so every replica's scheduler races the others for every
//! operation.
//!
//! - SQLite: the replicas share one data dir. The 500-interview run starts a stand-in for
//!   code-server (`tests/stand-in/code-server`: the local provisioner's real folders, record,
//!   health gate, archive and teardown, with a 40 ms process instead of a 2 s one) that keeps
//!   its own journal of starts and stops; a sample with real code-server logs in to each
//!   instance.
//! - DynamoDB on moto (feature `aws`): the replicas run with `PREQUEL_BACKEND=aws`, so the ECS
//!   provisioner makes a task, target group, listener rule and parameter per interview, all
//!   counted on moto afterwards.
//!
//! Every run ends with the secrets scan: no password of any interview in any replica's log, the
//! event stream replayed from the store, the listings, the interviews' details or the status
//! page.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    self, KillInstancesOnDrop, ServeOptions, Server, api_command, api_get, code_servers,
    instance_processes,
};

/// Replicas per run.
const REPLICAS: usize = 3;
/// Interviews per scale run.
const INTERVIEWS: usize = 500;
/// Over how many minutes their creates fall due.
const SPREAD_MINUTES: f64 = 2.0;
/// How far ahead of the start the scheduler provisions (the scheduler's default lead time):
/// an interview starting this many minutes from now is due for its create at once.
const LEAD_MINUTES: f64 = 5.0;
/// How long a run may go with no interview changing state before the test gives up.
const STALL: Duration = Duration::from_secs(180);

/// The stand-in for code-server (see the module's documentation).
fn stand_in_code_server() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/stand-in/code-server")
}

/// The last `lines` lines of what a replica printed.
fn log_tail(replica: &Server, lines: usize) -> String {
    let log = replica.log();
    let all: Vec<&str> = log.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n") + "\n"
}

/// Asks the replicas, in turn, for `count` interviews whose creates fall due evenly over the
/// next `spread_minutes` (the first at once). Returns their ids in order.
fn schedule_spread(replicas: &[Server], count: usize, spread_minutes: f64) -> Vec<String> {
    (0..count)
        .map(|n| {
            #[allow(clippy::cast_precision_loss)] // n and count are small
            let minutes = LEAD_MINUTES + spread_minutes * n as f64 / count as f64;
            let text = format!("schedule in {minutes:.2} minutes 30m python");
            let replica = &replicas[n % replicas.len()];
            let (status, answer) = api_command(replica, &text);
            assert!(
                status == 200 || status == 201,
                "{text}: {status} {answer}\n{}",
                log_tail(replica, 40)
            );
            assert_eq!(answer["interview"]["status"], "scheduled", "{answer}");
            answer["interview"]["id"]
                .as_str()
                .expect("the new interview's id")
                .to_owned()
        })
        .collect()
}

/// Watches the interviews through the replicas in turn until every one is finished: each one
/// seen `active` has its password read (`creds`) and is destroyed, through another replica
/// than the one that looked. Returns the passwords. Fails when nothing moves for [`STALL`].
fn destroy_each_once_active(replicas: &[Server], ids: &[String], poll: Duration) -> Vec<String> {
    let wanted: HashSet<&str> = ids.iter().map(String::as_str).collect();
    let mut statuses: HashMap<String, String> = HashMap::new();
    let mut destroy_asked: HashSet<String> = HashSet::new();
    let mut passwords = Vec::new();
    let mut moved = Instant::now();
    let started = Instant::now();
    for round in 0.. {
        let looker = &replicas[round % replicas.len()];
        let actor = &replicas[(round + 1) % replicas.len()];
        let open: HashMap<String, String> = support::api_list_all(looker, false)
            .into_iter()
            .filter_map(|i| {
                let id = i["id"].as_str()?.to_owned();
                let status = i["status"].as_str()?.to_owned();
                wanted.contains(id.as_str()).then_some((id, status))
            })
            .collect();
        for id in ids {
            // Not open any more: finished (destroyed, or failed; the checks after say which).
            let now = open.get(id).cloned().unwrap_or_else(|| "finished".into());
            if statuses.get(id) != Some(&now) {
                moved = Instant::now();
                statuses.insert(id.clone(), now.clone());
            }
            if now == "active" && destroy_asked.insert(id.clone()) {
                let (status, creds) = api_command(actor, &format!("creds {id}"));
                assert_eq!(status, 200, "creds {id}: {creds}");
                passwords.push(
                    creds["password"]
                        .as_str()
                        .unwrap_or_else(|| panic!("an active interview has a password: {creds}"))
                        .to_owned(),
                );
                let (status, answer) = api_command(actor, &format!("destroy {id}"));
                assert_eq!(status, 200, "destroy {id}: {answer}");
            }
        }
        let finished = statuses.values().filter(|s| *s == "finished").count();
        if finished == ids.len() {
            break;
        }
        if moved.elapsed() > STALL {
            let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
            for status in statuses.values() {
                *counts.entry(status.as_str()).or_default() += 1;
            }
            let tail: String = replicas.iter().map(|r| log_tail(r, 20)).collect();
            panic!("nothing moved for {STALL:?}; interviews by status: {counts:?}\n{tail}");
        }
        std::thread::sleep(poll);
    }
    support::loud(&format!(
        "replicas: {} interviews created and destroyed in {:.1} s",
        ids.len(),
        started.elapsed().as_secs_f64()
    ));
    passwords
}

/// Each interview, read through the replicas in turn: destroyed, with one create and one
/// destroy, each completed in one attempt (no replica ever redid another's work).
fn assert_each_created_and_destroyed_once(replicas: &[Server], ids: &[String]) -> Vec<Value> {
    ids.iter()
        .enumerate()
        .map(|(n, id)| {
            let detail = api_get(
                &replicas[n % replicas.len()],
                &format!("/api/interviews/{id}"),
            );
            assert_eq!(detail["interview"]["status"], "destroyed", "{detail}");
            let operations = detail["operations"].as_array().expect("operations");
            let kinds: Vec<_> = operations.iter().map(|o| o["kind"].clone()).collect();
            assert_eq!(kinds, ["create", "destroy"], "{detail}");
            for operation in operations {
                assert_eq!(operation["status"], "completed", "{detail}");
                assert_eq!(
                    operation["attempts"], 1,
                    "done once, by one replica: {detail}"
                );
            }
            detail
        })
        .collect()
}

/// The event stream, replayed from the store through one replica, holds every change any
/// replica made: each interview went `active` once and ended `destroyed`.
fn assert_events_tell_each_story(replica: &Server, ids: &[String]) {
    let stream = support::replayed_events(replica);
    let mut seen: HashMap<&str, Vec<&str>> = HashMap::new();
    let updates = support::event_data(&stream, "operation_update");
    for update in &updates {
        if let (Some(id), Some(status)) = (
            update["interview"]["id"].as_str(),
            update["interview"]["status"].as_str(),
        ) {
            let statuses = seen.entry(id).or_default();
            if statuses.last() != Some(&status) {
                statuses.push(status);
            }
        }
    }
    for id in ids {
        let statuses = seen.get(id.as_str()).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(
            statuses.iter().filter(|s| **s == "active").count(),
            1,
            "interview {id} went active once: {statuses:?}"
        );
        assert_eq!(
            statuses.last(),
            Some(&"destroyed"),
            "interview {id} ended destroyed: {statuses:?}"
        );
    }
}

/// Three replicas sharing one data dir, with `code_server` as the instances' program. The
/// first one writes the admin token; the others read it.
fn local_replicas(data_dir: &Path, code_server: &Path) -> Vec<Server> {
    (0..REPLICAS)
        .map(|_| {
            let mut options = ServeOptions::new(code_server);
            options.challenges = Some(support::repository_challenges());
            options.data_dir = Some(data_dir.to_owned());
            Server::start(options).expect("a replica starts")
        })
        .collect()
}

/// What the stand-in's journal says, per interview: how many `start`s and `stop`s it logged in
/// the instance's log, which destroy keeps beside the archive (`history/<id>.log`; every attempt
/// appends); and how many starts found their port taken by another instance (without the
/// sandbox only).
fn journal_counts(data_dir: &Path, ids: &[String]) -> (HashMap<String, (usize, usize)>, usize) {
    let mut counts: HashMap<String, (usize, usize)> = HashMap::new();
    let mut ports_taken = 0;
    for id in ids {
        let journal = std::fs::read_to_string(data_dir.join("history").join(format!("{id}.log")))
            .unwrap_or_default();
        let entry = counts.entry(id.clone()).or_default();
        for line in journal.lines() {
            match line.split_whitespace().next() {
                Some("start") => entry.0 += 1,
                Some("stop") => entry.1 += 1,
                Some("port-taken") => ports_taken += 1,
                other => panic!("the stand-in journal of {id} says {other:?}"),
            }
        }
    }
    (counts, ports_taken)
}

/// Nothing of any interview is left on the machine: no process, no instance folder; and each
/// interview's work was archived.
fn assert_no_local_orphans(data_dir: &Path, ids: &[String]) {
    let instances = data_dir.join("instances");
    let left = instance_processes(data_dir);
    assert!(left.is_empty(), "processes of instances are left: {left:?}");
    let folders: Vec<_> = std::fs::read_dir(&instances)
        .map(|entries| entries.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(folders.is_empty(), "instance folders are left: {folders:?}");
    for id in ids {
        assert!(
            data_dir
                .join("history")
                .join(format!("{id}.tar.gz"))
                .is_file(),
            "the work of {id} was archived"
        );
    }
}

#[test]
fn three_replicas_on_one_sqlite_data_dir_create_and_destroy_500_interviews_exactly_once() {
    let data = tempfile::tempdir().expect("data dir");
    let data_dir = data.path().join("data");
    let _cleanup = KillInstancesOnDrop(data_dir.join("instances"));
    let replicas = local_replicas(&data_dir, &stand_in_code_server());

    let ids = schedule_spread(&replicas, INTERVIEWS, SPREAD_MINUTES);
    let passwords = destroy_each_once_active(&replicas, &ids, Duration::from_millis(250));
    let details = assert_each_created_and_destroyed_once(&replicas, &ids);

    // The stand-in's own journal: each interview's instance started once, and was killed with
    // its sandbox (no process of any instance is left: `assert_no_local_orphans`), never asked
    // to stop a second time; no port clashes, since serve's gateway takes each port.
    let (journal, ports_taken) = journal_counts(&data_dir, &ids);
    assert_eq!(ports_taken, 0, "a sandboxed instance's port was taken");
    for id in &ids {
        assert_eq!(
            journal.get(id).copied(),
            Some((1, 0)),
            "interview {id}: (starts, stops) of its instance"
        );
    }
    assert_no_local_orphans(&data_dir, &ids);

    assert_events_tell_each_story(&replicas[2], &ids);
    assert_eq!(passwords.len(), ids.len(), "one password per interview");
    support::assert_no_secret_shown(
        &replicas,
        &passwords,
        vec![(
            "the interviews' details".into(),
            Value::Array(details).to_string(),
        )],
    );
}

#[test]
fn three_replicas_share_real_code_server_instances_each_made_and_unmade_once() {
    let Some(code_server) = support::code_server("the replicas' code-server sample") else {
        return;
    };
    let data = tempfile::tempdir().expect("data dir");
    let data_dir = data.path().join("data");
    let _cleanup = KillInstancesOnDrop(data_dir.join("instances"));
    let replicas = local_replicas(&data_dir, &code_server);

    // Six interviews due at once: two per replica, every replica racing for all six.
    let ids = schedule_spread(&replicas, 6, 0.0);
    let mut logged_in = 0;
    let passwords = {
        // Before destroying, log in to each instance with the password `creds` gives.
        let mut passwords = Vec::new();
        for (n, id) in ids.iter().enumerate() {
            let replica = &replicas[n % REPLICAS];
            let deadline = Instant::now() + Duration::from_secs(120);
            let interview = loop {
                let interview =
                    api_get(replica, &format!("/api/interviews/{id}"))["interview"].clone();
                if interview["status"] == "active" {
                    break interview;
                }
                assert!(
                    Instant::now() < deadline,
                    "interview {id} never became active: {interview}"
                );
                std::thread::sleep(Duration::from_millis(100));
            };
            // Made once: one sandbox with one code-server for the interview, whoever made it.
            assert_eq!(code_servers(&data_dir, id), 1, "one code-server for {id}");
            let (_, creds) = api_command(&replicas[(n + 1) % REPLICAS], &format!("creds {id}"));
            let password = creds["password"].as_str().expect("password").to_owned();
            let url = interview["access_url"].as_str().expect("access URL");
            let response = support::http_raw(
                url,
                "POST",
                "/login",
                &[("Content-Type", "application/x-www-form-urlencoded")],
                &format!("password={password}"),
            )
            .expect("POST /login");
            if response
                .to_ascii_lowercase()
                .contains("set-cookie: code-server-session=")
            {
                logged_in += 1;
            }
            passwords.push(password);
        }
        passwords
    };
    assert_eq!(
        logged_in,
        ids.len(),
        "every instance let its interviewer in"
    );
    let more = destroy_each_once_active(&replicas, &ids, Duration::from_millis(250));
    assert!(
        more.iter().all(|p| passwords.contains(p)),
        "creds gave the same passwords"
    );
    let details = assert_each_created_and_destroyed_once(&replicas, &ids);
    assert_no_local_orphans(&data_dir, &ids);
    assert_events_tell_each_story(&replicas[0], &ids);
    support::assert_no_secret_shown(
        &replicas,
        &passwords,
        vec![(
            "the interviews' details".into(),
            Value::Array(details).to_string(),
        )],
    );
}

/// Nothing of any interview is left on AWS (moto): no running task, target group, listener rule,
/// password parameter or active task-definition revision; and each interview had exactly one
/// task ever.
#[cfg(feature = "aws")]
fn assert_no_aws_orphans(world: &crate::aws_e2e::World, ids: &[String]) {
    use prequel_core::aws::sdk::ecs::types::{DesiredStatus, TaskDefinitionStatus};

    let cluster = world.names.stem();
    world.runtime.block_on(async {
        let ecs = &world.clients.ecs;
        let mut tasks_of: HashMap<String, usize> = HashMap::new();
        for status in [DesiredStatus::Running, DesiredStatus::Stopped] {
            let mut arns = Vec::new();
            let mut pages = ecs
                .list_tasks()
                .cluster(&cluster)
                .desired_status(status.clone())
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                arns.extend(page.expect("list tasks").task_arns().iter().cloned());
            }
            if status == DesiredStatus::Running {
                assert!(arns.is_empty(), "tasks still run: {arns:?}");
            }
            for chunk in arns.chunks(100) {
                let described = ecs
                    .describe_tasks()
                    .cluster(&cluster)
                    .set_tasks(Some(chunk.to_vec()))
                    .send()
                    .await
                    .expect("describe tasks");
                for task in described.tasks() {
                    *tasks_of
                        .entry(task.started_by().unwrap_or_default().to_owned())
                        .or_default() += 1;
                }
            }
        }
        for id in ids {
            assert_eq!(tasks_of.get(id), Some(&1), "interview {id}: one task ever");
        }
        assert_eq!(
            tasks_of.len(),
            ids.len(),
            "no task for anything else: {tasks_of:?}"
        );

        let mut revisions = Vec::new();
        let mut pages = ecs
            .list_task_definitions()
            .family_prefix(
                world
                    .names
                    .task_family(&"python".parse().expect("challenge id")),
            )
            .status(TaskDefinitionStatus::Active)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            revisions.extend(
                page.expect("list task definitions")
                    .task_definition_arns()
                    .to_vec(),
            );
        }
        assert!(
            revisions.is_empty(),
            "revisions still active: {revisions:?}"
        );

        let elb = &world.clients.elb;
        let mut groups = Vec::new();
        let mut pages = elb.describe_target_groups().into_paginator().send();
        while let Some(page) = pages.next().await {
            groups.extend(
                page.expect("describe target groups")
                    .target_groups()
                    .iter()
                    .filter_map(|g| g.target_group_name().map(str::to_owned))
                    .filter(|name| name.starts_with(&format!("{cluster}-"))),
            );
        }
        assert!(groups.is_empty(), "target groups left: {groups:?}");
        let rules = elb
            .describe_rules()
            .listener_arn(&world.listener_arn)
            .send()
            .await
            .expect("describe rules");
        let left: Vec<_> = rules
            .rules()
            .iter()
            .filter(|r| r.is_default() != Some(true))
            .collect();
        assert!(left.is_empty(), "listener rules left: {left:?}");

        let parameters = world
            .clients
            .ssm
            .get_parameters_by_path()
            .path(world.names.parameter_root())
            .recursive(true)
            .send()
            .await
            .expect("get parameters by path");
        assert!(
            parameters.parameters().is_empty(),
            "password parameters left: {:?}",
            parameters
                .parameters()
                .iter()
                .map(|p| p.name())
                .collect::<Vec<_>>()
        );
    });
}

/// Interviews in the DynamoDB run: [`DYNAMODB_INTERVIEWS`], or
/// `PREQUEL_DYNAMODB_REPLICA_INTERVIEWS`.
///
/// Why fewer than on SQLite: moto, not Prequel, sets the pace. It is a Python simulation of AWS
/// serving one request at a time, and its queries read every item of a table (its indexes are
/// filters over all items), so each request costs time in proportion to everything recorded so
/// far: 500 interviews (≈ 60,000 requests, tables growing to tens of thousands of items) take
/// over an hour on one saturated core. `PREQUEL_DYNAMODB_REPLICA_INTERVIEWS=500` runs the full
/// count (BENCHMARKS.md has the measured run).
#[cfg(feature = "aws")]
fn dynamodb_interviews() -> usize {
    const VARIABLE: &str = "PREQUEL_DYNAMODB_REPLICA_INTERVIEWS";
    match std::env::var(VARIABLE) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{VARIABLE} must be a number of interviews, not {value:?}")),
        Err(_) => DYNAMODB_INTERVIEWS,
    }
}

/// Interviews in the DynamoDB run by default (see [`dynamodb_interviews`]).
#[cfg(feature = "aws")]
const DYNAMODB_INTERVIEWS: usize = 60;

#[cfg(feature = "aws")]
#[test]
fn three_replicas_on_one_dynamodb_table_create_and_destroy_interviews_exactly_once() {
    // A moto of its own: this run's thousands of requests would slow every other test's on
    // the shared one, which serves one request at a time.
    let Some(moto) = prequel_core::testkit::moto::dedicated("the DynamoDB replicas test") else {
        return;
    };
    let world = crate::aws_e2e::World::on(&moto);
    world.sync_challenges();
    let replicas: Vec<Server> = (0..REPLICAS).map(|_| world.serve()).collect();

    let count = dynamodb_interviews();
    let ids = schedule_spread(&replicas, count, SPREAD_MINUTES);
    let passwords = destroy_each_once_active(&replicas, &ids, Duration::from_secs(2));
    let details = assert_each_created_and_destroyed_once(&replicas, &ids);
    assert_no_aws_orphans(&world, &ids);

    assert_events_tell_each_story(&replicas[1], &ids);
    assert_eq!(passwords.len(), ids.len(), "one password per interview");
    support::assert_no_secret_shown(
        &replicas,
        &passwords,
        vec![(
            "the interviews' details".into(),
            Value::Array(details).to_string(),
        )],
    );
}
