//! Scheduler lateness on the real clock: 1,000 interviews whose creates fall due within 10 s,
//! three schedulers (three store handles, as three processes would have) on one SQLite file, a
//! provisioner that only records when it was called.
//!
//! Prints p50/p99/max lateness from each create's due time to the provisioner call, and the
//! number of duplicate creates (must be 0). The original design polled every 30 s, so its
//! lateness is spread over 0–30 s (p50 ≈ 15 s, p99 ≈ 29.7 s); the figure below that is printed
//! as a ratio against that poll interval.
//!
//! Run: `cargo bench -p prequel-core --bench scheduler`
#![allow(clippy::print_stdout, clippy::unwrap_used)]

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::{Duration, Utc};
use hdrhistogram::Histogram;
use prequel_core::clock::{Clock, SystemClock};
use prequel_core::domain::{ChallengeId, InterviewId, InterviewLength, Platform, Requester};
use prequel_core::scheduler::SchedulerConfig;
use prequel_core::secrets::file::FileSecrets;
use prequel_core::store::sqlite::SqliteStore;
use prequel_core::store::{NewInterview, OperationStore};
use prequel_core::testkit::provisioner::RecordingProvisioner;
use prequel_core::{Prequel, PrequelConfig};
use tokio::sync::watch;

const INTERVIEWS: usize = 1_000;
const SPREAD: StdDuration = StdDuration::from_secs(10);
const SCHEDULERS: usize = 3;

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bench.sqlite3");
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let provisioner = RecordingProvisioner::new(clock.clone());
    let seed = SqliteStore::open(&path).unwrap();

    // Creates fall due from 3 s from now, evenly over 10 s.
    let first_due = Utc::now() + Duration::seconds(3);
    let step = SPREAD.as_micros() as i64 / INTERVIEWS as i64;
    let mut due = HashMap::new();
    let requester = Requester {
        platform: Platform::Cli,
        user_id: "bench".into(),
        display_name: "bench".into(),
    };
    for i in 0..INTERVIEWS {
        let create_due_at = first_due + Duration::microseconds(step * i as i64);
        let new = NewInterview {
            id: InterviewId::generate(),
            challenge: ChallengeId::parse("python").unwrap(),
            candidate: None,
            requested_by: requester.clone(),
            co_interviewers: Vec::new(),
            time_zone: "UTC".into(),
            start_at: create_due_at + Duration::minutes(5),
            length: InterviewLength::from_minutes(30).unwrap(),
            create_due_at,
            max_attempts: 4,
        };
        seed.create_interview(&new, Utc::now()).await.unwrap();
        due.insert(new.id, create_due_at);
    }

    let (stop, stopped) = watch::channel(false);
    let mut engines = Vec::new();
    for n in 0..SCHEDULERS {
        let store: Arc<dyn OperationStore> = Arc::new(SqliteStore::open(&path).unwrap());
        let prequel = Prequel::builder()
            .store(store)
            .provisioner(Arc::new(provisioner.clone()))
            .secrets(Arc::new(
                FileSecrets::open(dir.path().join("secrets")).unwrap(),
            ))
            .clock(clock.clone())
            .config(PrequelConfig {
                scheduler: SchedulerConfig {
                    worker_name: format!("bench-{n}"),
                    ..SchedulerConfig::default()
                },
            })
            .build()
            .unwrap();
        let background = prequel.start(stopped.clone()).await.unwrap();
        engines.push((prequel, background));
    }

    let deadline = std::time::Instant::now() + StdDuration::from_secs(60);
    while provisioner.calls().len() < INTERVIEWS && std::time::Instant::now() < deadline {
        tokio::time::sleep(StdDuration::from_millis(50)).await;
    }
    // Let any duplicate show itself before counting.
    tokio::time::sleep(StdDuration::from_secs(2)).await;
    let _ = stop.send(true);
    let claimed: Vec<u64> = engines
        .iter()
        .map(|(p, _)| p.stats().claimed.load(std::sync::atomic::Ordering::Relaxed))
        .collect();
    let lost: Vec<u64> = engines
        .iter()
        .map(|(p, _)| {
            p.stats()
                .lost_races
                .load(std::sync::atomic::Ordering::Relaxed)
        })
        .collect();
    for (_, background) in engines {
        background.join().await;
    }

    let calls = provisioner.calls();
    let mut seen = HashMap::new();
    let mut lateness = Histogram::<u64>::new(3).unwrap();
    for call in calls.iter().filter(|c| c.kind == "create") {
        *seen.entry(call.interview.clone()).or_insert(0) += 1;
        let late = (call.at - due[&call.interview])
            .num_microseconds()
            .unwrap_or(0)
            .max(0);
        lateness.record(late as u64).unwrap();
    }
    let duplicates: usize = seen.values().map(|n| n - 1).sum();
    let missing = INTERVIEWS - seen.len();
    let ms = |q: f64| lateness.value_at_quantile(q) as f64 / 1000.0;
    println!(
        "scheduler lateness: {INTERVIEWS} creates due within {}s, {SCHEDULERS} schedulers on one SQLite file",
        SPREAD.as_secs()
    );
    println!(
        "  p50 {:.1} ms   p99 {:.1} ms   max {:.1} ms",
        ms(0.5),
        ms(0.99),
        lateness.max() as f64 / 1000.0
    );
    println!(
        "  p99 vs the original 30 s poll's p99 (29.7 s): {:.4}x",
        ms(0.99) / 29_700.0
    );
    println!("  duplicates: {duplicates}   never created: {missing}");
    println!("  claims per scheduler: {claimed:?}   lost races: {lost:?}");
    println!("  command: cargo bench -p prequel-core --bench scheduler");
    // The run's headline figures, for the table `scripts/bench` builds. No same-run baseline:
    // the original 30 s poll is a design, not something this run measures.
    summary("lateness p50", &format!("{:.1} ms", ms(0.5)), "-", "-", "-");
    summary(
        "lateness p99",
        &format!("{:.1} ms", ms(0.99)),
        "-",
        "-",
        "≤ 250 ms",
    );
    summary(
        "lateness max",
        &format!("{:.1} ms", lateness.max() as f64 / 1000.0),
        "-",
        "-",
        "-",
    );
    summary("duplicate creates", &duplicates.to_string(), "-", "-", "0");
    summary(
        "interviews never created",
        &missing.to_string(),
        "-",
        "-",
        "0",
    );
    assert_eq!(duplicates, 0, "an interview was created twice");
    assert_eq!(missing, 0, "an interview was never created");
}

/// One `summary:` line: a headline figure of this run, which `scripts/bench` gathers into one
/// markdown table (`| bench | figure | value | baseline (same run) | ratio | goal |`).
fn summary(figure: &str, value: &str, baseline: &str, ratio: &str, goal: &str) {
    let cell = |text: &str| text.replace('|', "/");
    println!(
        "summary: scheduler | {} | {} | {} | {} | {}",
        cell(figure),
        cell(value),
        cell(baseline),
        cell(ratio),
        cell(goal)
    );
}
