//! How fast Discord interactions are acknowledged under load (issue 6): 50 concurrent signed
//! `/interview` application commands per wave, against the real server on a loopback port.
//!
//! ```text
//! CARGO_TARGET_DIR=/var/tmp/prequel-target cargo bench -p prequel-bot --bench discord_ack
//! ```
//!
//! The server is put together as `prequel serve` does it: the real facade on a SQLite file
//! (the recording provisioner, the system clock), `Prequel::start` (scheduler and change
//! follower), `discord::start` in HTTP mode (its notifier too) with the REST API at the local
//! fake of `tests/it/discord_fake.rs`, and its route merged into prequel-web's router, served by
//! `axum::serve` on 127.0.0.1:0. Everything runs in this process, on one runtime.
//!
//! Each round sends one wave of 50 concurrent `POST /discord/interactions`, each signed with
//! RFC 8032 test key 1 over timestamp + body as Discord does (verification is real Ed25519),
//! a third each of `help`, `list` and `schedule tomorrow 2pm 90m python`; then one wave of 50
//! concurrent `GET /healthz` on the same server, the baseline. Latency is from just before
//! sending to the whole response read, over pooled keep-alive connections (one discarded
//! warm-up round opens them). Every answer is checked: 200, `help`/`list` answered at once
//! (type 4) and `schedule` deferred (type 5), all ephemeral (flags 64). At the end the bench
//! waits for the background work: one edit of the original response per `schedule`.
//!
//! Options (environment): `DISCORD_BENCH_WAVES` (20), `DISCORD_BENCH_CONCURRENCY` (50).

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

#[path = "../tests/it/discord_fake.rs"]
mod discord_fake;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use discord_fake::FakeDiscord;
use ed25519_dalek::{Signer, SigningKey};
use futures::future::join_all;
use prequel_bot::discord::{self, DiscordConfig, DiscordMode};
use prequel_core::Prequel;
use prequel_core::clock::SystemClock;
use prequel_core::domain::{ChallengeId, SecretString};
use prequel_core::secrets::file::FileSecrets;
use prequel_core::store::sqlite::SqliteStore;
use prequel_core::testkit::provisioner::RecordingProvisioner;
use prequel_web::ApiState;
use serde_json::{Value, json};
use tokio::sync::watch;

/// RFC 8032 section 7.1, test 1.
const SECRET_KEY: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const PUBLIC_KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const BOT_TOKEN: &str = "discord-bench-bot-token";
const ADMIN_TOKEN: &str = "discord-bench-admin-token-0123456789";
const APP: &str = "1100000000000000001";
const GUILD: &str = "1100000000000000002";
const CHANNEL: &str = "1100000000000000777";
/// Distinct requesters.
const USERS: usize = 10;
/// The goal at the 99th percentile (Discord allows 3 s; this is the same goal as Slack's).
const P99_GOAL: Duration = Duration::from_millis(50);
/// How long the background answers may take, all together, after the last wave.
const SETTLE: Duration = Duration::from_secs(20);

/// The commands of a wave, in turn.
const KINDS: [Kind; 3] = [Kind::Help, Kind::List, Kind::Schedule];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Help,
    List,
    Schedule,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::Help => "help",
            Self::List => "list",
            Self::Schedule => "schedule tomorrow 2pm 90m python",
        }
    }

    /// The subcommand and its options.
    fn sub(self) -> Value {
        match self {
            Self::Help => json!({ "name": "help", "type": 1, "options": [] }),
            Self::List => json!({ "name": "list", "type": 1, "options": [] }),
            Self::Schedule => json!({ "name": "schedule", "type": 1, "options": [
                { "name": "when", "type": 3, "value": "tomorrow 2pm" },
                { "name": "duration", "type": 3, "value": "90m" },
                { "name": "challenge", "type": 3, "value": "python" },
            ]}),
        }
    }

    /// Checks the immediate answer; the reason it is wrong, if it is.
    fn check(self, answer: &Value) -> Result<(), String> {
        let expected = if self == Self::Schedule { 5 } else { 4 };
        if answer["type"] != expected || answer["data"]["flags"] != 64 {
            return Err(format!("wrong acknowledgement for {self:?}: {answer}"));
        }
        Ok(())
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

/// The server of `prequel serve` with Discord in HTTP mode; its background tasks stop when
/// `_stop` is dropped (the runtime ends with the bench anyway).
struct Server {
    addr: SocketAddr,
    fake: FakeDiscord,
    _dir: tempfile::TempDir,
    _stop: watch::Sender<bool>,
}

async fn start_server() -> Server {
    let fake = FakeDiscord::start(BOT_TOKEN).await;
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
    let config = DiscordConfig {
        mode: DiscordMode::Http,
        public_key: PUBLIC_KEY.to_owned(),
        bot_token: SecretString::new(BOT_TOKEN),
        application_id: APP.to_owned(),
        api_url: fake.api_url().parse().expect("url"),
        guild_id: None,
        // Everyone, anywhere.
        allowed_guilds: Vec::new(),
        allowed_roles: Vec::new(),
        allowed_users: Vec::new(),
        admins: Vec::new(),
        admin_roles: Vec::new(),
    };
    let zone = chrono_tz::Europe::Berlin;
    let routes = discord::start(prequel.clone(), config, zone, stopped.clone())
        .expect("start discord")
        .expect("http mode has routes");
    let router = prequel_web::router(
        ApiState::new(prequel, SecretString::new(ADMIN_TOKEN), zone).with_shutdown(stopped),
    )
    .merge(routes);
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
        fake,
        _dir: dir,
        _stop: stop,
    }
}

/// One request's outcome: its kind (`None` for the baseline) and latency.
type Sample = (Option<Kind>, Duration);

/// One wave of `n` signed interactions; `round` makes their tokens unique.
async fn discord_wave(
    client: &reqwest::Client,
    key: &SigningKey,
    server: &Server,
    round: usize,
    n: usize,
) -> Vec<Sample> {
    let url = format!("http://{}/discord/interactions", server.addr);
    let requests = (0..n).map(|i| {
        let kind = KINDS[i % KINDS.len()];
        let user = format!("8035111022467891{}", i % USERS);
        let body = json!({
            "id": format!("12000000000{round:04}{i:04}"),
            "application_id": APP,
            "type": 2,
            "token": format!("itok-{round}-{i}"),
            "version": 1,
            "guild_id": GUILD,
            "channel_id": CHANNEL,
            "member": { "user": { "id": user, "username": format!("bench{i}") }, "roles": [] },
            "data": { "id": "1200000000000000002", "name": "interview", "type": 1,
                      "options": [kind.sub()] },
        })
        .to_string();
        let timestamp = Utc::now().timestamp().to_string();
        let mut message = timestamp.clone().into_bytes();
        message.extend_from_slice(body.as_bytes());
        let signature = hex::encode(key.sign(&message).to_bytes());
        let request = client
            .post(&url)
            .header("content-type", "application/json")
            .header("x-signature-ed25519", signature)
            .header("x-signature-timestamp", timestamp)
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
            let _ = response.bytes().await.expect("a body");
            let took = started.elapsed();
            assert_eq!(status, reqwest::StatusCode::OK);
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

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".to_owned())
}

async fn bench() {
    let waves = setting("DISCORD_BENCH_WAVES", 20);
    let n = setting("DISCORD_BENCH_CONCURRENCY", 50);
    println!("discord acknowledgement latency under {n} concurrent signed interactions (issue 6)");
    println!(
        "command: CARGO_TARGET_DIR=/var/tmp/prequel-target cargo bench -p prequel-bot --bench discord_ack"
    );
    println!("waves: {waves} of {n} interactions, each followed by {n} GET /healthz");
    println!("mix, in turn: {:?}", KINDS.map(Kind::name));
    println!("load average before: {}", load_average());

    let secret: [u8; 32] = hex::decode(SECRET_KEY)
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let key = SigningKey::from_bytes(&secret);
    let server = start_server().await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(n)
        .build()
        .expect("a client");

    // Warm-up: opens the pooled connections, first SQLite writes; not counted.
    discord_wave(&client, &key, &server, 0, n).await;
    health_wave(&client, &server, n).await;

    let started = Instant::now();
    let (mut samples, mut health_samples) = (Vec::new(), Vec::new());
    for round in 1..=waves {
        samples.extend(discord_wave(&client, &key, &server, round, n).await);
        health_samples.extend(health_wave(&client, &server, n).await);
    }
    let elapsed = started.elapsed();

    // The background work: one edit of the original response per schedule, warm-up included.
    let later = (0..n)
        .filter(|i| KINDS[i % KINDS.len()] == Kind::Schedule)
        .count()
        * (waves + 1);
    let deadline = Instant::now() + SETTLE;
    let answered = loop {
        let answered = server.fake.calls_of("edit_original").len();
        if answered >= later || Instant::now() > deadline {
            break answered;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let settled = started.elapsed();

    let all = stats(samples.iter().map(|(_, d)| *d));
    let health = stats(health_samples.iter().map(|(_, d)| *d));
    println!();
    println!("| requests (ms) | n | p50 | p99 | max |");
    println!("|---|---|---|---|---|");
    row("signed interactions, all", &all);
    for kind in KINDS {
        let of_kind = stats(
            samples
                .iter()
                .filter(|(k, _)| *k == Some(kind))
                .map(|(_, d)| *d),
        );
        row(&format!("· {}", kind.name()), &of_kind);
    }
    row("baseline: GET /healthz", &health);
    println!();
    println!(
        "ratio interactions / baseline: p50 {:.1}×, p99 {:.1}×",
        ms(all.p50) / ms(health.p50),
        ms(all.p99) / ms(health.p99)
    );
    println!(
        "p99 {:.1} ms, goal ≤ {} ms (Discord's limit is 3 s): {}",
        ms(all.p99),
        P99_GOAL.as_millis(),
        if all.p99 <= P99_GOAL {
            "met"
        } else {
            "NOT met"
        }
    );
    println!(
        "answers: {} interactions and {} health checks, all 200 with the expected body",
        all.n + n,
        health.n + n
    );
    println!(
        "deferred answers completed (edit of @original): {answered} of {later} \
         (waves took {:.1} s, answers done at {:.1} s)",
        elapsed.as_secs_f64(),
        settled.as_secs_f64()
    );
    let mut routes = std::collections::BTreeMap::<&str, usize>::new();
    for call in server.fake.calls() {
        *routes.entry(call.route).or_default() += 1;
    }
    println!("calls to the fake Discord meanwhile: {routes:?}");
    println!("load average after: {}", load_average());

    // The run's headline figures, for the table `scripts/bench` builds: the `GET /healthz`
    // waves between the interaction waves are the baseline.
    let what = format!("signed interactions ({}), {n} concurrent", all.n);
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
        "deferred answers completed (edit of @original)",
        &format!("{answered} of {later}"),
        "-",
        "-",
        "all",
    );
    assert_eq!(answered, later, "deferred answers missing");
}

/// One `summary:` line: a headline figure of this run, which `scripts/bench` gathers into one
/// markdown table (`| bench | figure | value | baseline (same run) | ratio | goal |`).
fn summary(figure: &str, value: &str, baseline: &str, ratio: &str, goal: &str) {
    let cell = |text: &str| text.replace('|', "/");
    println!(
        "summary: discord_ack | {} | {} | {} | {} | {}",
        cell(figure),
        cell(value),
        cell(baseline),
        cell(ratio),
        cell(goal)
    );
}
