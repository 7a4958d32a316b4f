//! How fast Slack's slash commands are acknowledged under load (issue 5): 50 concurrent signed
//! `/interview` commands per wave, against the real server on a loopback port.
//!
//! ```text
//! CARGO_TARGET_DIR=/var/tmp/prequel-target cargo bench -p prequel-bot --bench slack_ack
//! ```
//!
//! The server is put together as `prequel serve` does it: the real facade on a SQLite file
//! (the recording provisioner, the system clock), `Prequel::start` (scheduler and change
//! follower), `slack::start` in HTTP mode (its notifier too) with the Web API at the local fake
//! of `tests/it/slack_fake.rs`, and its routes merged into prequel-web's router, served by
//! `axum::serve` on 127.0.0.1:0 with the peer's address. The fake Slack is on another port; the
//! `response_url`s point at it. Everything runs in this process, on one runtime.
//!
//! Each round sends one wave of 50 concurrent signed `POST /slack/commands` (form bodies like
//! Slack's; a fresh timestamp and a unique `trigger_id` and `response_url` each, so the replay
//! guard lets them through), a quarter each of `help`, `list`, a mistake and
//! `schedule tomorrow 2pm 90m python`, then one wave of 50 concurrent `GET /healthz` on the same
//! server: the baseline, an answer that does nothing. Latency is from just before sending to
//! the whole response read, over pooled keep-alive connections (one discarded warm-up round
//! opens them). Every answer is checked: 200, and for Slack the right ephemeral
//! acknowledgement. At the end the bench waits for the background work: one `response_url`
//! post per `list` and `schedule`.
//!
//! Options (environment): `SLACK_BENCH_WAVES` (20), `SLACK_BENCH_CONCURRENCY` (50), and
//! `SLACK_BENCH_QUICK_ONLY=1` to send only `help` and the mistake (no background work), to see
//! what the background work of `list` and `schedule` costs the acknowledgements.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

#[path = "../tests/it/slack_fake.rs"]
mod slack_fake;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::future::join_all;
use prequel_bot::slack::inbound::WORKING;
use prequel_bot::slack::verify::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use prequel_bot::slack::{self, SlackConfig, SlackMode};
use prequel_core::Prequel;
use prequel_core::clock::SystemClock;
use prequel_core::domain::{ChallengeId, SecretString};
use prequel_core::secrets::file::FileSecrets;
use prequel_core::store::sqlite::SqliteStore;
use prequel_core::store::{InterviewScope, PageRequest};
use prequel_core::testkit::provisioner::RecordingProvisioner;
use prequel_web::ApiState;
use serde_json::Value;
use slack_fake::FakeSlack;
use tokio::sync::watch;

const SECRET: &str = "bench-signing-secret";
const BOT_TOKEN: &str = "xoxb-bench";
const ADMIN_TOKEN: &str = "slack-bench-admin-token-0123456789";
const CHANNEL: &str = "C0BENCH";
/// Distinct requesters (the fake answers `Europe/Paris` for each).
const USERS: usize = 10;
/// The goal at the 99th percentile.
const P99_GOAL: Duration = Duration::from_millis(50);
/// How long the background replies may take, all together, after the last wave.
const SETTLE: Duration = Duration::from_secs(20);

/// The commands of a wave, in turn.
const KINDS: [Kind; 4] = [Kind::Help, Kind::List, Kind::Mistake, Kind::Schedule];
/// With `SLACK_BENCH_QUICK_ONLY=1`: only the commands answered without a task.
const QUICK_KINDS: [Kind; 4] = [Kind::Help, Kind::Mistake, Kind::Help, Kind::Mistake];

/// The mix of a wave: request `i` is `kinds()[i % 4]`.
fn kinds() -> [Kind; 4] {
    if setting("SLACK_BENCH_QUICK_ONLY", 0) == 1 {
        QUICK_KINDS
    } else {
        KINDS
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Help,
    List,
    Mistake,
    Schedule,
}

impl Kind {
    fn text(self) -> &'static str {
        match self {
            Self::Help => "help",
            Self::List => "list",
            // 20 minutes is shorter than the shortest interview.
            Self::Mistake => "schedule tomorrow 2pm 20m python",
            Self::Schedule => "schedule tomorrow 2pm 90m python",
        }
    }

    /// Whether the command goes on in a task and answers through `response_url`.
    fn replies_later(self) -> bool {
        matches!(self, Self::List | Self::Schedule)
    }

    /// Checks the immediate answer's JSON; the reason it is wrong, if it is.
    fn check(self, answer: &Value) -> Result<(), String> {
        if answer["response_type"] != "ephemeral" {
            return Err(format!("not ephemeral: {answer}"));
        }
        let text = answer["text"].as_str().unwrap_or_default();
        let fine = match self {
            Self::Help => answer["blocks"].as_array().is_some_and(|b| !b.is_empty()),
            Self::List | Self::Schedule => text == WORKING,
            Self::Mistake => !text.is_empty() && text != WORKING && !text.contains('\n'),
        };
        if fine {
            Ok(())
        } else {
            Err(format!("wrong acknowledgement for {self:?}: {answer}"))
        }
    }
}

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(bench());
}

/// The server of `prequel serve` with Slack in HTTP mode; its background tasks stop when
/// `_stop` is dropped (the runtime ends with the bench anyway).
struct Server {
    addr: SocketAddr,
    prequel: Prequel,
    fake: FakeSlack,
    _dir: tempfile::TempDir,
    _stop: watch::Sender<bool>,
}

async fn start_server() -> Server {
    let fake = FakeSlack::start(BOT_TOKEN).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let clock = Arc::new(SystemClock);
    let prequel = Prequel::builder()
        .store(Arc::new(
            SqliteStore::open(&dir.path().join("prequel.sqlite3")).expect("open the store"),
        ))
        .provisioner(Arc::new(RecordingProvisioner::new(clock.clone())))
        .secrets(Arc::new(
            FileSecrets::open(dir.path().join("secrets")).expect("open the secrets"),
        ))
        .clock(clock)
        .challenges(vec![ChallengeId::parse("python").expect("valid")])
        .build()
        .expect("build the facade");
    let (stop, stopped) = watch::channel(false);
    let _background = prequel.start(stopped.clone()).await.expect("start");
    let config = SlackConfig {
        mode: SlackMode::Http,
        signing_secret: Some(SecretString::new(SECRET)),
        bot_token: SecretString::new(BOT_TOKEN),
        app_token: None,
        api_url: format!("{}/", fake.api_url()).parse().expect("url"),
        // Everyone, anywhere: no user-group lookup on the request path.
        allowed_users: Vec::new(),
        allowed_groups: Vec::new(),
        allowed_channels: Vec::new(),
        admins: Vec::new(),
    };
    let zone = chrono_tz::Europe::Berlin;
    let slack = slack::start(prequel.clone(), config, zone, stopped.clone())
        .expect("start slack")
        .expect("http mode has routes");
    let router = prequel_web::router(
        ApiState::new(prequel.clone(), SecretString::new(ADMIN_TOKEN), zone).with_shutdown(stopped),
    )
    .merge(slack);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        let _ = axum::serve(
            listener,
            router.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await;
    });
    Server {
        addr,
        prequel,
        fake,
        _dir: dir,
        _stop: stop,
    }
}

/// One request's outcome: its kind (`None` for the baseline) and latency.
type Sample = (Option<Kind>, Duration);

/// One wave of `n` signed slash commands; `round` makes their bodies unique.
async fn slack_wave(
    client: &reqwest::Client,
    server: &Server,
    round: usize,
    n: usize,
) -> Vec<Sample> {
    let url = format!("http://{}/slack/commands", server.addr);
    let mix = kinds();
    let secret = SecretString::new(SECRET);
    let requests = (0..n).map(|i| {
        let kind = mix[i % mix.len()];
        let user = format!("U0BENCH{}", i % USERS);
        let body = serde_urlencoded::to_string([
            ("token", "legacy"),
            ("team_id", "T0TEAM"),
            ("channel_id", CHANNEL),
            ("user_id", &user),
            ("user_name", &user.to_lowercase()),
            ("command", "/interview"),
            ("text", kind.text()),
            (
                "response_url",
                &server.fake.response_url(&format!("r{round}-{i}")),
            ),
            ("trigger_id", &format!("{round}.{i}.bench")),
        ])
        .expect("encodable");
        let timestamp = Utc::now().timestamp().to_string();
        let signature = sign(&secret, &timestamp, body.as_bytes());
        let request = client
            .post(&url)
            .header("content-type", "application/x-www-form-urlencoded")
            .header(TIMESTAMP_HEADER, timestamp)
            .header(SIGNATURE_HEADER, signature)
            .body(body);
        async move {
            let started = Instant::now();
            let response = request.send().await.expect("an answer");
            let status = response.status();
            let bytes = response.bytes().await.expect("a body");
            let took = started.elapsed();
            assert_eq!(
                status,
                reqwest::StatusCode::OK,
                "{}",
                String::from_utf8_lossy(&bytes)
            );
            let answer: Value = serde_json::from_slice(&bytes).expect("a JSON answer");
            if let Err(wrong) = kind.check(&answer) {
                panic!("{wrong}");
            }
            (Some(kind), took)
        }
    });
    join_all(requests).await
}

/// One wave of `n` `GET /healthz`.
async fn health_wave(client: &reqwest::Client, server: &Server, n: usize) -> Vec<Sample> {
    let url = format!("http://{}/healthz", server.addr);
    let requests = (0..n).map(|_| {
        let request = client.get(&url);
        async move {
            let started = Instant::now();
            let response = request.send().await.expect("an answer");
            let status = response.status();
            let bytes = response.bytes().await.expect("a body");
            let took = started.elapsed();
            assert_eq!(status, reqwest::StatusCode::OK);
            let answer: Value = serde_json::from_slice(&bytes).expect("a JSON answer");
            assert_eq!(answer["status"], "ok");
            (None, took)
        }
    });
    join_all(requests).await
}

/// Nearest-rank percentile of sorted `values`.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

struct Stats {
    p50: Duration,
    p99: Duration,
    max: Duration,
    n: usize,
}

fn stats(samples: impl Iterator<Item = Duration>) -> Stats {
    let mut sorted: Vec<Duration> = samples.collect();
    sorted.sort();
    Stats {
        p50: percentile(&sorted, 50.0),
        p99: percentile(&sorted, 99.0),
        max: *sorted.last().expect("samples"),
        n: sorted.len(),
    }
}

fn row(name: &str, s: &Stats) {
    println!(
        "| {name} | {} | {:.1} | {:.1} | {:.1} |",
        s.n,
        ms(s.p50),
        ms(s.p99),
        ms(s.max)
    );
}

/// Every interview in the store, page by page.
async fn count_interviews(prequel: &Prequel) -> usize {
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    let mut count = 0;
    loop {
        let found = prequel
            .list(InterviewScope::All, &page)
            .await
            .expect("list");
        count += found.items.len();
        match found.next {
            Some(token) => page = PageRequest::after(PageRequest::MAX_LIMIT, token),
            None => return count,
        }
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}

async fn bench() {
    let waves = setting("SLACK_BENCH_WAVES", 20);
    let n = setting("SLACK_BENCH_CONCURRENCY", 50);
    let mix = kinds();
    println!("slack acknowledgement latency under {n} concurrent signed requests (issue 5)");
    println!(
        "command: CARGO_TARGET_DIR=/var/tmp/prequel-target cargo bench -p prequel-bot --bench slack_ack"
    );
    println!("waves: {waves} of {n} slash commands, each followed by {n} GET /healthz");
    println!("mix, in turn: {:?}", mix.map(Kind::text));
    println!("load average before: {}", load_average());

    let server = start_server().await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(n)
        .build()
        .expect("a client");

    // Warm-up: opens the pooled connections, first SQLite writes; not counted.
    slack_wave(&client, &server, 0, n).await;
    health_wave(&client, &server, n).await;

    let started = Instant::now();
    let (mut slack_samples, mut health_samples) = (Vec::new(), Vec::new());
    for round in 1..=waves {
        slack_samples.extend(slack_wave(&client, &server, round, n).await);
        health_samples.extend(health_wave(&client, &server, n).await);
    }
    let elapsed = started.elapsed();

    // The background work: one response_url post per list and schedule, warm-up included.
    let later = (0..n)
        .filter(|i| mix[i % mix.len()].replies_later())
        .count()
        * (waves + 1);
    let deadline = Instant::now() + SETTLE;
    let replies = loop {
        let replies = server.fake.calls_of("response_url").len();
        if replies >= later || Instant::now() > deadline {
            break replies;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let settled = started.elapsed();
    let interviews = count_interviews(&server.prequel).await;
    let schedules = (0..n)
        .filter(|i| mix[i % mix.len()] == Kind::Schedule)
        .count()
        * (waves + 1);

    let slack = stats(slack_samples.iter().map(|(_, d)| *d));
    let health = stats(health_samples.iter().map(|(_, d)| *d));
    println!();
    println!("| requests (ms) | n | p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    row("signed slash commands, all", &slack);
    for kind in KINDS.into_iter().filter(|k| mix.contains(k)) {
        let of_kind = stats(
            slack_samples
                .iter()
                .filter(|(k, _)| *k == Some(kind))
                .map(|(_, d)| *d),
        );
        row(&format!("· {}", kind.text()), &of_kind);
    }
    row("baseline: GET /healthz", &health);
    println!();
    println!(
        "ratio slash commands / baseline: p50 {:.1}×, p99 {:.1}×",
        ms(slack.p50) / ms(health.p50),
        ms(slack.p99) / ms(health.p99)
    );
    println!(
        "p99 {:.1} ms, goal ≤ {} ms: {}",
        ms(slack.p99),
        P99_GOAL.as_millis(),
        if slack.p99 <= P99_GOAL {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "answers: {} slash commands and {} health checks, all 200 with the expected body",
        slack.n + n,
        health.n + n
    );
    println!(
        "background replies (response_url): {replies} of {later}; interviews scheduled: {} of {schedules} \
         (waves took {:.1} s, replies done at {:.1} s)",
        interviews,
        elapsed.as_secs_f64(),
        settled.as_secs_f64()
    );
    let mut methods = std::collections::BTreeMap::<String, usize>::new();
    for call in server.fake.calls() {
        *methods.entry(call.method).or_default() += 1;
    }
    println!("calls to the fake Slack meanwhile: {methods:?}");
    println!("load average after: {}", load_average());

    // The run's headline figures, for the table `scripts/bench` builds: the `GET /healthz`
    // waves between the command waves are the baseline.
    let what = format!("signed slash commands ({}), {n} concurrent", slack.n);
    summary(
        &format!("{what}: p50"),
        &format!("{:.1} ms", ms(slack.p50)),
        &format!("GET /healthz p50: {:.1} ms", ms(health.p50)),
        &format!("{:.1}×", ms(slack.p50) / ms(health.p50)),
        "-",
    );
    summary(
        &format!("{what}: p99"),
        &format!("{:.1} ms", ms(slack.p99)),
        &format!("GET /healthz p99: {:.1} ms", ms(health.p99)),
        &format!("{:.1}×", ms(slack.p99) / ms(health.p99)),
        &format!("≤ {} ms", P99_GOAL.as_millis()),
    );
    summary(
        "background replies (response_url)",
        &format!("{replies} of {later}"),
        "-",
        "-",
        "all",
    );
    assert_eq!(replies, later, "background replies missing");
}

/// One `summary:` line: a headline figure of this run, which `scripts/bench` gathers into one
/// markdown table (`| bench | figure | value | baseline (same run) | ratio | goal |`).
fn summary(figure: &str, value: &str, baseline: &str, ratio: &str, goal: &str) {
    let cell = |text: &str| text.replace('|', "/");
    println!(
        "summary: slack_ack | {} | {} | {} | {} | {}",
        cell(figure),
        cell(value),
        cell(baseline),
        cell(ratio),
        cell(goal)
    );
}
