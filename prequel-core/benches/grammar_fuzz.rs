//! The command grammar fuzzed at scale (issue 9, "bad input"): the generators and checks of
//! `tests/it/grammar_fuzz.rs`, more than 10^6 cases in a release build, split over the cores.
//!
//! ```text
//! cargo bench -p prequel-core --bench grammar_fuzz            # 1 000 000 cases
//! PREQUEL_FUZZ_CASES=5000000 cargo bench -p prequel-core --bench grammar_fuzz
//! ```
//!
//! Prints the count, the time and the first failure (shrunk), if any; exits 1 on a failure.

#![allow(clippy::print_stdout)]

use std::time::Instant;

#[path = "../tests/it/grammar_fuzz.rs"]
mod grammar_fuzz;

fn main() {
    let total: u32 = std::env::var("PREQUEL_FUZZ_CASES")
        .ok()
        .and_then(|cases| cases.parse().ok())
        .unwrap_or(1_000_000);
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()) as u32;
    println!(
        "grammar fuzz: {total} cases on {threads} threads (the debug-build test runs {})",
        grammar_fuzz::CI_CASES
    );
    let started = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|worker| {
            let cases = total / threads + u32::from(worker < total % threads);
            std::thread::spawn(move || grammar_fuzz::run(cases, 1_000 + u64::from(worker)))
        })
        .collect();
    let mut failures = 0;
    let (mut cases, mut commands) = (0, 0);
    for (worker, handle) in workers.into_iter().enumerate() {
        match handle.join() {
            Ok(Ok(summary)) => {
                cases += summary.cases;
                commands += summary.commands;
                println!(
                    "worker {worker}: {} cases in {:.1?}",
                    summary.cases, summary.elapsed
                );
            }
            Ok(Err(failure)) => {
                failures += 1;
                println!("worker {worker} FAILED: {failure}");
            }
            Err(_) => {
                failures += 1;
                println!("worker {worker} panicked outside a case");
            }
        }
    }
    let elapsed = started.elapsed();
    println!(
        "grammar fuzz: {cases} cases passed ({commands} parsed to commands) in {elapsed:.1?}, \
         {:.0} cases/s",
        cases as f64 / elapsed.as_secs_f64()
    );

    // The run's headline figures, for the table `scripts/bench` builds (no same-run baseline).
    summary(
        "cases run and passed",
        &format!("{cases} of {total}"),
        "-",
        "-",
        "all",
    );
    summary(
        "cases parsed to commands",
        &commands.to_string(),
        "-",
        "-",
        "-",
    );
    summary(
        "time",
        &format!("{:.1} s", elapsed.as_secs_f64()),
        "-",
        "-",
        "-",
    );
    summary(
        "throughput",
        &format!(
            "{:.0} cases/s on {threads} threads",
            cases as f64 / elapsed.as_secs_f64()
        ),
        "-",
        "-",
        "-",
    );
    summary(
        "failures (workers that failed)",
        &format!("{failures} of {threads}"),
        "-",
        "-",
        "0",
    );
    if failures > 0 {
        std::process::exit(1);
    }
}

/// One `summary:` line: a headline figure of this run, which `scripts/bench` gathers into one
/// markdown table (`| bench | figure | value | baseline (same run) | ratio | goal |`).
fn summary(figure: &str, value: &str, baseline: &str, ratio: &str, goal: &str) {
    let cell = |text: &str| text.replace('|', "/");
    println!(
        "summary: grammar_fuzz | {} | {} | {} | {} | {}",
        cell(figure),
        cell(value),
        cell(baseline),
        cell(ratio),
        cell(goal)
    );
}
