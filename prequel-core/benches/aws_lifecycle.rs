//! What one interview costs in AWS requests on the AWS backends, counted by an SDK interceptor
//! on every client, and how long Prequel's own calls take against moto on loopback.
//!
//! The whole engine runs as `prequel serve` would on AWS (DynamoDB store, SSM secrets, S3
//! challenges and archive, ECS provisioner, the scheduler and the change-feed follower); each
//! lifecycle is `now 30m python` → active → `destroy` → destroyed. A running engine also polls
//! while idle (the scheduler's next-due queries, the follower's feed reads), so the idle rate is
//! measured in the same run and subtracted, and both figures are printed.
//!
//! ```text
//! eval "$(./scripts/setup-test-tools)"   # moto 5.2.5, PREQUEL_MOTO_SERVER
//! CARGO_TARGET_DIR=/var/tmp/prequel-target cargo bench -p prequel-core --features aws,testkit --bench aws_lifecycle
//! ```
// A benchmark's output is its figures.
#![allow(clippy::print_stdout)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prequel_core::archive::s3::S3Archive;
use prequel_core::aws::{AwsClients, RequestCounter, ResourceNames};
use prequel_core::challenge::s3::S3Challenges;
use prequel_core::challenge::{ChallengeSource as _, DirChallenges};
use prequel_core::command::Command;
use prequel_core::domain::{InterviewId, InterviewState, Platform, Requester};
use prequel_core::events::Event;
use prequel_core::provision::ecs::{EcsProvisioner, EcsSettings};
use prequel_core::secrets::ssm::SsmSecrets;
use prequel_core::store::dynamo::DynamoStore;
use prequel_core::testkit::moto;
use prequel_core::{Outcome, Prequel};
use tokio::sync::broadcast;

const COMMAND: &str = "CARGO_TARGET_DIR=/var/tmp/prequel-target cargo bench -p prequel-core \
                       --features aws,testkit --bench aws_lifecycle";
const LIFECYCLES: usize = 10;
const BASELINE_CALLS: usize = 100;
const IDLE_WINDOW: Duration = Duration::from_secs(10);
/// The issue's budget for DynamoDB requests per lifecycle.
const DYNAMODB_GOAL: f64 = 20.0;

fn main() {
    let Some(moto) = moto::moto("the aws_lifecycle benchmark") else {
        return;
    };
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(run(moto));
}

async fn run(moto: &'static moto::Moto) {
    let counter = RequestCounter::new();
    let clients = AwsClients::connect(&moto.connect_options(Some(counter.clone()))).await;
    let names = ResourceNames::new(&moto::unique_name("b"), "bench").expect("names");
    let deployment = moto.deployment(&clients, &names).await;
    let (network, listener_arn) = (deployment.network, deployment.listener_arn);

    let challenges = Arc::new(S3Challenges::new(
        clients.s3.clone(),
        names.challenges_bucket(),
    ));
    let local =
        DirChallenges::new(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../challenge"));
    challenges.sync(&local).await.expect("sync the challenges");
    let ids = challenges
        .list()
        .await
        .expect("list")
        .into_iter()
        .map(|m| m.id)
        .collect();
    let archive = Arc::new(S3Archive::new(clients.s3.clone(), names.history_bucket()));
    let settings = EcsSettings {
        // moto answers `healthy` at once; poll quickly so the figures show our calls, not sleeps.
        poll_interval: Duration::from_millis(50),
        ..EcsSettings::new(
            names.clone(),
            "interviews.bench",
            names.stem(),
            network.subnet_ids[..2].to_vec(),
            vec![network.security_group_id.clone()],
            network.vpc_id.clone(),
            listener_arn,
            "arn:aws:iam::123456789012:role/bench-execution",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/prequel-instance:bench",
        )
    };
    let provisioner = EcsProvisioner::new(&clients, settings, challenges, archive.clone());
    let prequel = Prequel::builder()
        .store(Arc::new(DynamoStore::new(clients.dynamodb.clone(), &names)))
        .secrets(Arc::new(SsmSecrets::new(
            clients.ssm.clone(),
            names.clone(),
        )))
        .provisioner(Arc::new(provisioner))
        .archive(archive)
        .challenges(ids)
        .build()
        .expect("engine");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let background = prequel.start(stopped).await.expect("start");

    // Baseline: one trivial DynamoDB call against the same moto, on the same client.
    let mut baseline = Vec::with_capacity(BASELINE_CALLS);
    for _ in 0..BASELINE_CALLS {
        let started = Instant::now();
        clients
            .dynamodb
            .describe_table()
            .table_name(names.interviews_table())
            .send()
            .await
            .expect("describe table");
        baseline.push(started.elapsed());
    }
    let round_trip = median(&mut baseline);

    // What the engine asks while nothing happens.
    tokio::time::sleep(Duration::from_secs(2)).await;
    counter.reset();
    tokio::time::sleep(IDLE_WINDOW).await;
    let idle = counter.snapshot();
    let idle_per_second: BTreeMap<(String, String), f64> = idle
        .iter()
        .map(|c| {
            (
                (c.service.clone(), c.operation.clone()),
                c.count as f64 / IDLE_WINDOW.as_secs_f64(),
            )
        })
        .collect();

    let requester = Requester {
        platform: Platform::Cli,
        user_id: "bench".into(),
        display_name: "Bench".into(),
    };
    let mut totals: BTreeMap<(String, String), u64> = BTreeMap::new();
    let mut lifecycle_seconds = 0.0;
    let mut creates = Vec::new();
    let mut destroys = Vec::new();
    for _ in 0..LIFECYCLES {
        let mut events = prequel.subscribe();
        counter.reset();
        let started = Instant::now();
        let outcome = prequel
            .execute(
                &prequel_core::access::Actor::member(requester.clone()),
                prequel
                    .parse("now 30m python", chrono_tz::UTC)
                    .expect("words"),
            )
            .await
            .expect("now");
        let id = match outcome {
            Outcome::Created { interview, .. } => interview.id,
            other => panic!("unexpected outcome {other:?}"),
        };
        wait_for(&mut events, &id, InterviewState::Active).await;
        creates.push(started.elapsed());
        let destroying = Instant::now();
        prequel
            .execute(
                &prequel_core::access::Actor::member(requester.clone()),
                Command::Destroy(id.clone()),
            )
            .await
            .expect("destroy");
        wait_for(&mut events, &id, InterviewState::Destroyed).await;
        destroys.push(destroying.elapsed());
        lifecycle_seconds += started.elapsed().as_secs_f64();
        for count in counter.snapshot() {
            *totals.entry((count.service, count.operation)).or_default() += count.count;
        }
    }
    let _ = stop.send(true);
    background.join().await;

    let per = |total: u64| total as f64 / LIFECYCLES as f64;
    let idle_share = |key: &(String, String)| {
        idle_per_second.get(key).copied().unwrap_or(0.0) * lifecycle_seconds / LIFECYCLES as f64
    };
    println!(
        "AWS requests per interview lifecycle ({LIFECYCLES} lifecycles, `now 30m python` → active → destroy → destroyed)"
    );
    println!("command: {COMMAND}");
    println!(
        "{:<14} {:<28} {:>10} {:>14} {:>10}",
        "service", "operation", "measured", "idle share", "lifecycle"
    );
    let mut by_service: BTreeMap<String, (f64, f64)> = BTreeMap::new();
    for (key, total) in &totals {
        let measured = per(*total);
        let idle = idle_share(key);
        let own = (measured - idle).max(0.0);
        println!(
            "{:<14} {:<28} {:>10.1} {:>14.1} {:>10.1}",
            key.0, key.1, measured, idle, own
        );
        let entry = by_service.entry(key.0.clone()).or_default();
        entry.0 += measured;
        entry.1 += own;
    }
    for (service, (measured, own)) in &by_service {
        println!("total {service:<8} measured {measured:>6.1}  lifecycle {own:>6.1}");
    }
    let dynamodb = by_service
        .iter()
        .find(|(s, _)| s.eq_ignore_ascii_case("dynamodb"))
        .map_or(0.0, |(_, (_, own))| *own);
    println!(
        "DynamoDB per lifecycle: {dynamodb:.1} (goal <= {DYNAMODB_GOAL}: {})",
        if dynamodb <= DYNAMODB_GOAL {
            "met"
        } else {
            "NOT met"
        }
    );
    let idle_rate = idle_per_second.values().sum::<f64>();
    println!(
        "idle engine: {:.2} requests/s ({})",
        idle_rate,
        idle_per_second
            .iter()
            .map(|((s, o), r)| format!("{s} {o} {r:.2}/s"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let create = median(&mut creates);
    let destroy = median(&mut destroys);
    println!(
        "baseline: one DescribeTable round trip to moto p50 {:.1} ms",
        ms(round_trip)
    );
    println!(
        "create (command → active) p50 {:.0} ms = {:.0}× the baseline round trip",
        ms(create),
        create.as_secs_f64() / round_trip.as_secs_f64()
    );
    println!(
        "destroy (command → destroyed) p50 {:.0} ms = {:.0}× the baseline round trip",
        ms(destroy),
        destroy.as_secs_f64() / round_trip.as_secs_f64()
    );

    // The run's headline figures, for the table `scripts/bench` builds; the baseline of the
    // wall times is the DescribeTable round trip measured above.
    let all_services: f64 = by_service.values().map(|(_, own)| own).sum();
    summary(
        "DynamoDB requests per lifecycle (idle share subtracted)",
        &format!("{dynamodb:.1}"),
        "-",
        "-",
        &format!("≤ {DYNAMODB_GOAL}"),
    );
    summary(
        "AWS requests per lifecycle, all services (idle share subtracted)",
        &format!("{all_services:.1}"),
        "-",
        "-",
        "-",
    );
    summary(
        "idle engine requests",
        &format!("{idle_rate:.2}/s"),
        "-",
        "-",
        "-",
    );
    let base = format!("DescribeTable round trip p50: {:.1} ms", ms(round_trip));
    summary(
        "create (command → active) p50",
        &format!("{:.0} ms", ms(create)),
        &base,
        &format!("{:.0}×", create.as_secs_f64() / round_trip.as_secs_f64()),
        "-",
    );
    summary(
        "destroy (command → destroyed) p50",
        &format!("{:.0} ms", ms(destroy)),
        &base,
        &format!("{:.0}×", destroy.as_secs_f64() / round_trip.as_secs_f64()),
        "-",
    );
}

/// One `summary:` line: a headline figure of this run, which `scripts/bench` gathers into one
/// markdown table (`| bench | figure | value | baseline (same run) | ratio | goal |`).
fn summary(figure: &str, value: &str, baseline: &str, ratio: &str, goal: &str) {
    let cell = |text: &str| text.replace('|', "/");
    println!(
        "summary: aws_lifecycle | {} | {} | {} | {} | {}",
        cell(figure),
        cell(value),
        cell(baseline),
        cell(ratio),
        cell(goal)
    );
}

async fn wait_for(
    events: &mut broadcast::Receiver<Event>,
    id: &InterviewId,
    state: InterviewState,
) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("interview {id} never became {state}"));
        match event {
            Ok(Event::InterviewUpdate { interview, .. }) if &interview.id == id => {
                assert!(
                    !(interview.state == InterviewState::Failed),
                    "interview {id} failed: {:?}",
                    interview.reason
                );
                if interview.state == state {
                    return;
                }
            }
            Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
            Err(broadcast::error::RecvError::Closed) => panic!("the event bus closed"),
        }
    }
}

fn median(samples: &mut [Duration]) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
