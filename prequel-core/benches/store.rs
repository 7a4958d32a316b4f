//! Throughput of the SQLite store on a temp file: claims (claim + complete of due operations)
//! from one handle and from three handles ("processes") at once, and log appends in batches of
//! 1 and 50 lines. A plain `main` that prints its figures; it runs in a few seconds.
//!
//! ```text
//! CARGO_TARGET_DIR=/var/tmp/prequel-target cargo bench -p prequel-core --bench store
//! ```
// A benchmark's output is its figures.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration as StdDuration, Instant};

use chrono::{DateTime, Duration, TimeZone, Utc};
use hdrhistogram::Histogram;
use prequel_core::domain::{
    ChallengeId, InterviewId, InterviewLength, LogLine, Operation, Platform, Requester,
};
use prequel_core::store::sqlite::SqliteStore;
use prequel_core::store::{Completion, NewInterview, OperationStore};

const COMMAND: &str =
    "CARGO_TARGET_DIR=/var/tmp/prequel-target cargo bench -p prequel-core --bench store";
const SINGLE_CLAIMS: usize = 2_000;
const PEER_CLAIMS: usize = 3_000;
const PEERS: usize = 3;
const LOG_CALLS_OF_1: usize = 2_000;
const LOG_CALLS_OF_50: usize = 400;

fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
        .single()
        .expect("a valid time")
}

fn request(now: DateTime<Utc>) -> NewInterview {
    NewInterview {
        id: InterviewId::generate(),
        challenge: ChallengeId::parse("python").expect("valid challenge"),
        candidate: Some("Renée Dubois".into()),
        requested_by: Requester {
            platform: Platform::Slack,
            user_id: "U2CERLKJA".into(),
            display_name: "Zoë".into(),
        },
        co_interviewers: Vec::new(),
        time_zone: "Europe/Paris".into(),
        start_at: now + Duration::minutes(15),
        length: InterviewLength::from_minutes(60).expect("valid length"),
        create_due_at: now,
        max_attempts: 3,
    }
}

async fn due_operations(store: &SqliteStore, count: usize) -> Vec<Operation> {
    let mut ops = Vec::with_capacity(count);
    for _ in 0..count {
        let created = store
            .create_interview(&request(t0()), t0())
            .await
            .expect("create_interview");
        ops.push(created.operation);
    }
    ops
}

/// Claims and completes each operation in turn; returns the latency of each pair.
async fn claim_and_complete(
    store: Arc<SqliteStore>,
    ops: Vec<Operation>,
    holder: String,
) -> Histogram<u64> {
    let mut latencies = Histogram::<u64>::new(3).expect("histogram");
    let now = t0();
    for op in ops {
        let started = Instant::now();
        let claimed = store
            .claim(&op.id, op.version, &holder, now + Duration::minutes(5), now)
            .await
            .expect("claim")
            .expect("the operation is due and unclaimed");
        store
            .complete(
                &claimed.lease,
                Completion::Created {
                    access_url: format!("https://{}.example.com", op.interview_id),
                    challenge_checksum: None,
                },
                now,
            )
            .await
            .expect("complete");
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        latencies.record(micros).expect("latency in range");
    }
    latencies
}

fn report(
    what: &str,
    count: usize,
    unit: &str,
    elapsed: StdDuration,
    latencies: Option<&Histogram<u64>>,
) -> f64 {
    let rate = count as f64 / elapsed.as_secs_f64();
    let mut line = format!(
        "{what:<44} {count:>6} {unit} in {:>7.3} s = {rate:>9.0} {unit}/s",
        elapsed.as_secs_f64()
    );
    if let Some(h) = latencies {
        line.push_str(&format!(
            "   (per claim+complete: p50 {} µs, p99 {} µs, max {} µs)",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.max()
        ));
    }
    println!("{line}");
    rate
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(run());
}

async fn run() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("bench.db");
    let store = Arc::new(SqliteStore::open(&path).expect("store opens"));
    println!(
        "prequel-core store benchmark: SQLite {} (WAL, synchronous=NORMAL) on {}",
        rusqlite::version(),
        path.display()
    );
    println!("run with: {COMMAND}");
    println!(
        "cores available: {}",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!();

    // Creating is setup, but its rate is worth knowing too.
    let started = Instant::now();
    let single_ops = due_operations(&store, SINGLE_CLAIMS).await;
    let create_rate = report(
        "create_interview (interview + create op)",
        SINGLE_CLAIMS,
        "creates",
        started.elapsed(),
        None,
    );
    let peer_ops = due_operations(&store, PEER_CLAIMS).await;

    let started = Instant::now();
    let latencies = claim_and_complete(Arc::clone(&store), single_ops, "bench-single".into()).await;
    let single_rate = report(
        "claim + complete, 1 handle",
        SINGLE_CLAIMS,
        "claims",
        started.elapsed(),
        Some(&latencies),
    );

    let mut shares: Vec<Vec<Operation>> = vec![Vec::new(); PEERS];
    for (i, op) in peer_ops.into_iter().enumerate() {
        shares[i % PEERS].push(op);
    }
    let handles: Vec<Arc<SqliteStore>> = (0..PEERS)
        .map(|_| Arc::new(SqliteStore::open(&path).expect("peer opens")))
        .collect();
    let started = Instant::now();
    let tasks: Vec<_> = handles
        .into_iter()
        .zip(shares)
        .enumerate()
        .map(|(i, (handle, ops))| {
            tokio::spawn(claim_and_complete(handle, ops, format!("bench-peer-{i}")))
        })
        .collect();
    let mut latencies = Histogram::<u64>::new(3).expect("histogram");
    for task in tasks {
        latencies
            .add(task.await.expect("peer task"))
            .expect("merge histograms");
    }
    let peer_rate = report(
        &format!("claim + complete, {PEERS} peer handles at once"),
        PEER_CLAIMS,
        "claims",
        started.elapsed(),
        Some(&latencies),
    );

    let op = due_operations(&store, 1).await.remove(0);
    let mut line_rates = Vec::new();
    for (calls, batch) in [(LOG_CALLS_OF_1, 1), (LOG_CALLS_OF_50, 50)] {
        let lines: Vec<LogLine> = (0..batch)
            .map(|i| LogLine {
                at: t0(),
                message: format!("step {i}: pulling layer sha256:0123456789abcdef… done"),
            })
            .collect();
        let started = Instant::now();
        for _ in 0..calls {
            store
                .append_logs(&op.id, &lines, t0())
                .await
                .expect("append_logs");
        }
        let elapsed = started.elapsed();
        report(
            &format!("append_logs, batches of {batch}"),
            calls,
            "calls",
            elapsed,
            None,
        );
        let lines_per_second = report(
            &format!("append_logs, batches of {batch}"),
            calls * batch,
            "lines",
            elapsed,
            None,
        );
        line_rates.push((batch, lines_per_second));
    }

    // The run's headline figures, for the table `scripts/bench` builds: one handle is the
    // baseline of three, batches of 1 the baseline of batches of 50.
    summary(
        "create_interview",
        &format!("{create_rate:.0} creates/s"),
        "-",
        "-",
        "-",
    );
    summary(
        "claim + complete, 1 handle",
        &format!("{single_rate:.0} claims/s"),
        "-",
        "-",
        "-",
    );
    summary(
        &format!("claim + complete, {PEERS} peer handles at once"),
        &format!("{peer_rate:.0} claims/s"),
        &format!("1 handle: {single_rate:.0} claims/s"),
        &format!("{:.2}×", peer_rate / single_rate),
        "-",
    );
    if let [(one, base), rest @ ..] = line_rates.as_slice() {
        summary(
            &format!("append_logs, batches of {one}"),
            &format!("{base:.0} lines/s"),
            "-",
            "-",
            "-",
        );
        for (batch, rate) in rest {
            summary(
                &format!("append_logs, batches of {batch}"),
                &format!("{rate:.0} lines/s"),
                &format!("batches of {one}: {base:.0} lines/s"),
                &format!("{:.2}×", rate / base),
                "-",
            );
        }
    }
}

/// One `summary:` line: a headline figure of this run, which `scripts/bench` gathers into one
/// markdown table (`| bench | figure | value | baseline (same run) | ratio | goal |`).
fn summary(figure: &str, value: &str, baseline: &str, ratio: &str, goal: &str) {
    let cell = |text: &str| text.replace('|', "/");
    println!(
        "summary: store | {} | {} | {} | {} | {}",
        cell(figure),
        cell(value),
        cell(baseline),
        cell(ratio),
        cell(goal)
    );
}
