//! How fast chat requests are acknowledged under load (issues 5 and 6): waves of 50 concurrent
//! signed Slack slash commands and Discord interactions against the whole app on a loopback
//! port, each platform against `GET /healthz` on the same server in the same run.
//!
//! ```text
//! CARGO_TARGET_DIR=/var/tmp/prequel-target cargo bench -p prequel-bot --bench chat_ack
//! CHAT_BENCH_PLATFORM=discord cargo bench -p prequel-bot --bench chat_ack
//! ```
//!
//! Each platform gets a fresh server, `prequel serve`'s own: `prequel_bot::app::App::spawn` with the real facade on
//! a SQLite file (`testkit::engine`, the recording provisioner, the system clock), its
//! scheduler and change follower, prequel-web's router, and both frontends in HTTP mode (their
//! notifiers too), with Slack's Web API and Discord's REST API at the local fakes of
//! `tests/it/`. Everything runs in this process, on one runtime.
//!
//! Each round of a platform sends one wave of 50 concurrent signed requests, then one wave of
//! 50 concurrent `GET /healthz` on the same server: the baseline, an answer that does nothing.
//! Latency is from just before sending to the whole response read, over pooled keep-alive
//! connections (one discarded warm-up round opens them). Every answer is checked.
//!
//! - Slack: `POST /slack/commands`, form bodies like Slack's, signed with the signing secret (a
//!   fresh timestamp and a unique `trigger_id` and `response_url` each, so the replay guard lets
//!   them through); a quarter each of `help`, `list`, a mistake and `schedule tomorrow 2pm 90m
//!   python`. Checked: 200 and the right ephemeral acknowledgement; at the end, one
//!   `response_url` post per `list` and `schedule`.
//! - Discord: `POST /discord/interactions`, signed with RFC 8032 test key 1 over timestamp +
//!   body (verification is real Ed25519); a third each of `help`, `list` and `schedule`.
//!   Checked: 200, `help`/`list` answered at once (type 4) and `schedule` deferred (type 5), all
//!   ephemeral (flags 64); at the end, one edit of the original response per `schedule`.
//!
//! Options (environment): `CHAT_BENCH_PLATFORM` (`slack`, `discord` or `both`, the default),
//! `CHAT_BENCH_WAVES` (20), `CHAT_BENCH_CONCURRENCY` (50), and `CHAT_BENCH_QUICK_ONLY=1` to send
//! only what is answered without background work (Slack: `help` and the mistake; Discord:
//! `help` and `list`), to see what the background work costs the acknowledgements.

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

#[path = "../tests/it/discord_fake.rs"]
mod discord_fake;
#[path = "../tests/it/slack_fake.rs"]
mod slack_fake;

use std::time::{Duration, Instant};

use chrono::Utc;
use discord_fake::FakeDiscord;
use ed25519_dalek::{Signer, SigningKey};
use futures::future::join_all;
use prequel_bot::app::{App, AppConfig, Running};
use prequel_bot::discord::{DiscordConfig, DiscordMode};
use prequel_bot::slack::inbound::WORKING;
use prequel_bot::slack::verify::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use prequel_bot::slack::{SlackConfig, SlackMode};
use prequel_core::Prequel;
use prequel_core::domain::SecretString;
use prequel_core::store::{InterviewScope, PageRequest};
use prequel_core::testkit::engine;
use prequel_web::WebConfig;
use serde_json::{Value, json};
use slack_fake::FakeSlack;

const SLACK_SECRET: &str = "bench-signing-secret";
const SLACK_TOKEN: &str = "xoxb-bench";
const SLACK_CHANNEL: &str = "C0BENCH";
/// RFC 8032 section 7.1, test 1.
const DISCORD_SECRET_KEY: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const DISCORD_PUBLIC_KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const DISCORD_TOKEN: &str = "discord-bench-bot-token";
const DISCORD_APP: &str = "1100000000000000001";
const DISCORD_GUILD: &str = "1100000000000000002";
const DISCORD_CHANNEL: &str = "1100000000000000777";
const ADMIN_TOKEN: &str = "chat-bench-admin-token-0123456789";
/// Distinct requesters.
const USERS: usize = 10;
/// The goal at the 99th percentile.
const P99_GOAL: Duration = Duration::from_millis(50);
/// How long the background answers may take, all together, after the last wave.
const SETTLE: Duration = Duration::from_secs(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Platform {
    Slack,
    Discord,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Help,
    List,
    Mistake,
    Schedule,
}

impl Platform {
    fn name(self) -> &'static str {
        match self {
            Self::Slack => "slack",
            Self::Discord => "discord",
        }
    }

    /// The mix of a wave: request `i` is `kinds()[i % len]`.
    fn kinds(self) -> Vec<Kind> {
        let quick = setting("CHAT_BENCH_QUICK_ONLY", 0) == 1;
        match (self, quick) {
            (Self::Slack, false) => vec![Kind::Help, Kind::List, Kind::Mistake, Kind::Schedule],
            (Self::Slack, true) => vec![Kind::Help, Kind::Mistake, Kind::Help, Kind::Mistake],
            (Self::Discord, false) => vec![Kind::Help, Kind::List, Kind::Schedule],
            (Self::Discord, true) => vec![Kind::Help, Kind::List],
        }
    }

    /// What the requests are, in the report.
    fn what(self) -> &'static str {
        match self {
            Self::Slack => "signed slash commands",
            Self::Discord => "signed interactions",
        }
    }

    /// Whether a kind goes on in the background and answers later (Slack: through
    /// `response_url`; Discord: by editing the deferred answer).
    fn replies_later(self, kind: Kind) -> bool {
        match self {
            Self::Slack => matches!(kind, Kind::List | Kind::Schedule),
            Self::Discord => kind == Kind::Schedule,
        }
    }

    /// The background answers seen so far, and what they are called in the report.
    fn background(self, server: &Server) -> (usize, &'static str) {
        match self {
            Self::Slack => (
                server.slack.calls_of("response_url").len(),
                "background replies (response_url)",
            ),
            Self::Discord => (
                server.discord.calls_of("edit_original").len(),
                "deferred answers completed (edit of @original)",
            ),
        }
    }

    /// Checks the immediate answer's JSON; the reason it is wrong, if it is.
    fn check(self, kind: Kind, answer: &Value) -> Result<(), String> {
        let fine = match self {
            Self::Slack => {
                let text = answer["text"].as_str().unwrap_or_default();
                answer["response_type"] == "ephemeral"
                    && match kind {
                        Kind::Help => answer["blocks"].as_array().is_some_and(|b| !b.is_empty()),
                        Kind::List | Kind::Schedule => text == WORKING,
                        Kind::Mistake => {
                            !text.is_empty() && text != WORKING && !text.contains('\n')
                        }
                    }
            }
            Self::Discord => {
                let expected = if kind == Kind::Schedule { 5 } else { 4 };
                answer["type"] == expected && answer["data"]["flags"] == 64
            }
        };
        if fine {
            Ok(())
        } else {
            Err(format!("wrong acknowledgement for {kind:?}: {answer}"))
        }
    }
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

    /// Discord's subcommand and options for it.
    fn discord_sub(self) -> Value {
        match self {
            Self::Help => json!({ "name": "help", "type": 1, "options": [] }),
            Self::List => json!({ "name": "list", "type": 1, "options": [] }),
            Self::Mistake | Self::Schedule => json!({ "name": "schedule", "type": 1, "options": [
                { "name": "when", "type": 3, "value": "tomorrow 2pm" },
                { "name": "duration", "type": 3,
                  "value": if self == Self::Mistake { "20m" } else { "90m" } },
                { "name": "challenge", "type": 3, "value": "python" },
            ]}),
        }
    }
}

fn setting(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn platforms() -> Vec<Platform> {
    match std::env::var("CHAT_BENCH_PLATFORM").as_deref() {
        Ok("slack") => vec![Platform::Slack],
        Ok("discord") => vec![Platform::Discord],
        Ok("both") | Err(_) => vec![Platform::Slack, Platform::Discord],
        Ok(other) => panic!("CHAT_BENCH_PLATFORM is slack, discord or both, not {other:?}"),
    }
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(bench());
}

/// `prequel serve`'s app with both frontends in HTTP mode, and the fakes they talk to.
struct Server {
    app: Running,
    prequel: Prequel,
    slack: FakeSlack,
    discord: FakeDiscord,
    key: SigningKey,
    _dir: tempfile::TempDir,
}

async fn start_server() -> Server {
    let slack = FakeSlack::start(SLACK_TOKEN).await;
    let discord = FakeDiscord::start(DISCORD_TOKEN).await;
    let dir = tempfile::tempdir().expect("temp dir");
    let prequel = engine::in_dir(dir.path())
        .challenges(&["python"])
        .build_on_system_clock();
    let zone = chrono_tz::Europe::Berlin;
    let config = AppConfig {
        admin_token: SecretString::new(ADMIN_TOKEN),
        zone,
        web: WebConfig::default(),
        // Everyone, anywhere: no user-group lookup on the request path.
        slack: Some(SlackConfig {
            mode: SlackMode::Http,
            signing_secret: Some(SecretString::new(SLACK_SECRET)),
            bot_token: SecretString::new(SLACK_TOKEN),
            app_token: None,
            api_url: format!("{}/", slack.api_url()).parse().expect("url"),
            allowed_users: Vec::new(),
            allowed_groups: Vec::new(),
            allowed_channels: Vec::new(),
            admins: Vec::new(),
        }),
        discord: Some((
            DiscordConfig {
                mode: DiscordMode::Http,
                public_key: DISCORD_PUBLIC_KEY.to_owned(),
                bot_token: SecretString::new(DISCORD_TOKEN),
                application_id: DISCORD_APP.to_owned(),
                api_url: discord.api_url().parse().expect("url"),
                guild_id: None,
                allowed_guilds: Vec::new(),
                allowed_roles: Vec::new(),
                allowed_users: Vec::new(),
                admins: Vec::new(),
                admin_roles: Vec::new(),
            },
            zone,
        )),
    };
    let app = App::spawn(prequel.clone(), config)
        .await
        .expect("start the app");
    let secret: [u8; 32] = hex::decode(DISCORD_SECRET_KEY)
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    Server {
        app,
        prequel,
        slack,
        discord,
        key: SigningKey::from_bytes(&secret),
        _dir: dir,
    }
}

/// One request's outcome: its kind (`None` for the baseline) and latency.
type Sample = (Option<Kind>, Duration);

/// One signed request of `platform`; `round` and `i` make it unique.
fn signed_request(
    client: &reqwest::Client,
    server: &Server,
    platform: Platform,
    kind: Kind,
    (round, i): (usize, usize),
) -> reqwest::RequestBuilder {
    let timestamp = Utc::now().timestamp().to_string();
    match platform {
        Platform::Slack => {
            let user = format!("U0BENCH{}", i % USERS);
            let body = serde_urlencoded::to_string([
                ("token", "legacy"),
                ("team_id", "T0TEAM"),
                ("channel_id", SLACK_CHANNEL),
                ("user_id", &user),
                ("user_name", &user.to_lowercase()),
                ("command", "/interview"),
                ("text", kind.text()),
                (
                    "response_url",
                    &server.slack.response_url(&format!("r{round}-{i}")),
                ),
                ("trigger_id", &format!("{round}.{i}.bench")),
            ])
            .expect("encodable");
            let signature = sign(
                &SecretString::new(SLACK_SECRET),
                &timestamp,
                body.as_bytes(),
            );
            client
                .post(format!("{}/slack/commands", server.app.url()))
                .header("content-type", "application/x-www-form-urlencoded")
                .header(TIMESTAMP_HEADER, timestamp)
                .header(SIGNATURE_HEADER, signature)
                .body(body)
        }
        Platform::Discord => {
            let user = format!("8035111022467891{}", i % USERS);
            let body = json!({
                "id": format!("12000000000{round:04}{i:04}"),
                "application_id": DISCORD_APP,
                "type": 2,
                "token": format!("itok-{round}-{i}"),
                "version": 1,
                "guild_id": DISCORD_GUILD,
                "channel_id": DISCORD_CHANNEL,
                "member": { "user": { "id": user, "username": format!("bench{i}") }, "roles": [] },
                "data": { "id": "1200000000000000002", "name": "interview", "type": 1,
                          "options": [kind.discord_sub()] },
            })
            .to_string();
            let mut message = timestamp.clone().into_bytes();
            message.extend_from_slice(body.as_bytes());
            let signature = hex::encode(server.key.sign(&message).to_bytes());
            client
                .post(format!("{}/discord/interactions", server.app.url()))
                .header("content-type", "application/json")
                .header("x-signature-ed25519", signature)
                .header("x-signature-timestamp", timestamp)
                .body(body)
        }
    }
}

/// One wave of `n` signed requests of `platform`.
async fn chat_wave(
    client: &reqwest::Client,
    server: &Server,
    platform: Platform,
    round: usize,
    n: usize,
) -> Vec<Sample> {
    let mix = platform.kinds();
    let requests = (0..n).map(|i| {
        let kind = mix[i % mix.len()];
        let request = signed_request(client, server, platform, kind, (round, i));
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
            if let Err(wrong) = platform.check(kind, &answer) {
                panic!("{wrong}");
            }
            (Some(kind), took)
        }
    });
    join_all(requests).await
}

/// One wave of `n` `GET /healthz`.
async fn health_wave(client: &reqwest::Client, server: &Server, n: usize) -> Vec<Sample> {
    let url = format!("{}/healthz", server.app.url());
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
    let waves = setting("CHAT_BENCH_WAVES", 20);
    let n = setting("CHAT_BENCH_CONCURRENCY", 50);
    println!("chat acknowledgement latency under {n} concurrent signed requests (issues 5 and 6)");
    println!(
        "command: CARGO_TARGET_DIR=/var/tmp/prequel-target cargo bench -p prequel-bot --bench chat_ack"
    );
    for platform in platforms() {
        // A fresh app and store each: what one platform recorded must not slow the other's
        // `list` (it reads the open interviews).
        let server = start_server().await;
        let client = reqwest::Client::builder()
            .pool_max_idle_per_host(n)
            .build()
            .expect("a client");
        measure(&client, &server, platform, waves, n).await;
        server.app.stop().await.expect("a graceful stop");
    }
}

/// The waves of one platform, its report and its summary lines.
async fn measure(
    client: &reqwest::Client,
    server: &Server,
    platform: Platform,
    waves: usize,
    n: usize,
) {
    let mix = platform.kinds();
    let name = platform.name();
    let interviews_before = count_interviews(&server.prequel).await;
    let (background_before, _) = platform.background(server);
    println!();
    println!(
        "{name}: {waves} waves of {n} {}, each followed by {n} GET /healthz",
        platform.what()
    );
    println!(
        "mix, in turn: {:?}",
        mix.iter().map(|k| k.text()).collect::<Vec<_>>()
    );
    println!("load average before: {}", load_average());

    // Warm-up: opens the pooled connections, first SQLite writes; not counted.
    chat_wave(client, server, platform, 0, n).await;
    health_wave(client, server, n).await;

    let started = Instant::now();
    let (mut samples, mut health_samples) = (Vec::new(), Vec::new());
    for round in 1..=waves {
        samples.extend(chat_wave(client, server, platform, round, n).await);
        health_samples.extend(health_wave(client, server, n).await);
    }
    let elapsed = started.elapsed();

    // The background work, warm-up included.
    let count_of = |wanted: &dyn Fn(Kind) -> bool| {
        (0..n).filter(|i| wanted(mix[i % mix.len()])).count() * (waves + 1)
    };
    let later = count_of(&|kind| platform.replies_later(kind));
    let deadline = Instant::now() + SETTLE;
    let (answered, answers) = loop {
        let (seen, what) = platform.background(server);
        let answered = seen - background_before;
        if answered >= later || Instant::now() > deadline {
            break (answered, what);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let settled = started.elapsed();
    let schedules = count_of(&|kind| kind == Kind::Schedule);
    let interviews = count_interviews(&server.prequel).await - interviews_before;

    let all = stats(samples.iter().map(|(_, d)| *d));
    let health = stats(health_samples.iter().map(|(_, d)| *d));
    println!();
    println!("| requests (ms) | n | p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    row(&format!("{}, all", platform.what()), &all);
    for kind in [Kind::Help, Kind::List, Kind::Mistake, Kind::Schedule] {
        if mix.contains(&kind) {
            let of_kind = stats(
                samples
                    .iter()
                    .filter(|(k, _)| *k == Some(kind))
                    .map(|(_, d)| *d),
            );
            row(&format!("· {}", kind.text()), &of_kind);
        }
    }
    row("baseline: GET /healthz", &health);
    println!();
    println!(
        "ratio {name} / baseline: p50 {:.1}×, p99 {:.1}×",
        ms(all.p50) / ms(health.p50),
        ms(all.p99) / ms(health.p99)
    );
    println!(
        "p99 {:.1} ms, goal ≤ {} ms: {}",
        ms(all.p99),
        P99_GOAL.as_millis(),
        if all.p99 <= P99_GOAL {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "answers: {} requests and {} health checks, all 200 with the expected body",
        all.n + n,
        health.n + n
    );
    println!(
        "{answers}: {answered} of {later}; interviews scheduled: {interviews} of {schedules} \
         (waves took {:.1} s, answers done at {:.1} s)",
        elapsed.as_secs_f64(),
        settled.as_secs_f64()
    );
    println!("load average after: {}", load_average());

    // The run's headline figures, for the table `scripts/bench` builds: the `GET /healthz`
    // waves between the request waves are the baseline.
    let what = format!("{name}: {} ({}), {n} concurrent", platform.what(), all.n);
    summary(
        &format!("{what}: p50"),
        &format!("{:.1} ms", ms(all.p50)),
        &format!("GET /healthz p50: {:.1} ms", ms(health.p50)),
        &format!("{:.1}×", ms(all.p50) / ms(health.p50)),
        "-",
    );
    summary(
        &format!("{what}: p99"),
        &format!("{:.1} ms", ms(all.p99)),
        &format!("GET /healthz p99: {:.1} ms", ms(health.p99)),
        &format!("{:.1}×", ms(all.p99) / ms(health.p99)),
        &format!("≤ {} ms", P99_GOAL.as_millis()),
    );
    summary(
        &format!("{name}: {answers}"),
        &format!("{answered} of {later}"),
        "-",
        "-",
        "all",
    );
    assert_eq!(answered, later, "{name}: background answers missing");
    assert_eq!(
        interviews, schedules,
        "{name}: every schedule recorded once"
    );
}

/// One `summary:` line: a headline figure of this run, which `scripts/bench` gathers into one
/// markdown table (`| bench | figure | value | baseline (same run) | ratio | goal |`).
fn summary(figure: &str, value: &str, baseline: &str, ratio: &str, goal: &str) {
    let cell = |text: &str| text.replace('|', "/");
    println!(
        "summary: chat_ack | {} | {} | {} | {} | {}",
        cell(figure),
        cell(value),
        cell(baseline),
        cell(ratio),
        cell(goal)
    );
}
