//! Fan-out of `GET /api/events`: how long an update takes to reach 1,000 connected clients,
//! and what each client costs the server in memory.
//!
//! ```text
//! CARGO_TARGET_DIR=/var/tmp/prequel-target cargo bench -p prequel-web --bench sse_fanout
//! ```
//!
//! The bench re-executes itself as the server (`PREQUEL_SSE_BENCH_SERVER=<dir>`): a real facade
//! on a SQLite file, the scheduler and change follower started, the router on a loopback port,
//! production web settings. So the server's RSS (`/proc/<pid>/status`) holds no client memory.
//! The clients are tokio tasks in this process speaking raw HTTP/1.1 over TCP (a tiny chunked
//! decoder and SSE splitter), to keep their own overhead small.
//!
//! 1. One client, `UPDATES` `schedule` commands one every `EVERY`: the baseline latency.
//! 2. `CLIENTS` more clients connect; the server's RSS before and after gives bytes per client.
//! 3. The same updates again: latency from just before `POST /api/commands` to each client
//!    reading the interview's `operation_update`, over all client × update pairs.
//!
//! Options (environment): `SSE_BENCH_CLIENTS` (1000), `SSE_BENCH_UPDATES` (20),
//! `SSE_BENCH_EVERY_MS` (250).

#![allow(clippy::print_stdout, reason = "a benchmark reports on stdout")]

use std::collections::HashMap;
use std::io::{BufRead as _, BufReader as StdBufReader, Read as _};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow_free::{Error, Result, fail};
use prequel_core::domain::SecretString;
use prequel_web::{ApiState, router};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

const SERVER_ENV: &str = "PREQUEL_SSE_BENCH_SERVER";
const TOKEN: &str = "sse-bench-admin-token-0123456789";

/// Latency goal at the 99th percentile.
const P99_GOAL: Duration = Duration::from_millis(100);
/// Memory goal per connected client.
const RSS_GOAL_KIB: f64 = 64.0;

/// Tiny error plumbing: a bench has no `anyhow` dependency and needs none.
mod anyhow_free {
    pub type Error = Box<dyn std::error::Error + Send + Sync>;
    pub type Result<T> = std::result::Result<T, Error>;

    pub fn fail<T>(message: impl Into<String>) -> Result<T> {
        Err(message.into().into())
    }
}

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match std::env::var_os(SERVER_ENV) {
        Some(dir) => runtime.block_on(server(dir.into())),
        None => runtime.block_on(bench()),
    }
}

// ------------------------------------------------------------------------------------------
// The server process
// ------------------------------------------------------------------------------------------

async fn server(dir: std::path::PathBuf) -> Result<()> {
    let prequel = prequel_core::testkit::engine::in_dir(&dir).build_on_system_clock();
    let (_stop, stopped) = tokio::sync::watch::channel(false);
    let _background = prequel.start(stopped).await.map_err(|e| e.to_string())?;
    let state = ApiState::new(prequel, SecretString::new(TOKEN), chrono_tz::UTC);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?);
    // The parent closes our stdin when it is done (or dies): then we go too.
    std::thread::spawn(|| {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        std::process::exit(0);
    });
    axum::serve(listener, router(state)).await?;
    Ok(())
}

// ------------------------------------------------------------------------------------------
// The clients and the driver
// ------------------------------------------------------------------------------------------

/// What a client reports.
enum Note {
    /// It received its first `operation_status`: it is connected and caught up.
    Ready,
    /// It read the `operation_update` of this interview at this instant.
    Got(String, Instant),
}

/// The server child; killed when dropped.
struct ServerProcess(Child);

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn vm_rss_kib(pid: u32) -> Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| Error::from("no VmRSS in /proc/<pid>/status"))
}

fn raise_fd_limit(needed: u64) -> Result<()> {
    use nix::sys::resource::{Resource, getrlimit, setrlimit};
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE)?;
    if soft < needed {
        if hard < needed {
            return fail(format!(
                "needs {needed} open files but the hard limit is {hard}; run `ulimit -n {needed}` first"
            ));
        }
        setrlimit(Resource::RLIMIT_NOFILE, needed, hard)?;
    }
    Ok(())
}

async fn bench() -> Result<()> {
    let clients = setting("SSE_BENCH_CLIENTS", 1000) as usize;
    let updates = setting("SSE_BENCH_UPDATES", 20) as usize;
    let every = Duration::from_millis(setting("SSE_BENCH_EVERY_MS", 250));
    // Both processes hold one socket per client; the child inherits the limit.
    raise_fd_limit(clients as u64 * 2 + 256)?;

    let dir = tempfile::tempdir()?;
    let mut child = Command::new(std::env::current_exe()?)
        .env(SERVER_ENV, dir.path())
        .env("RUST_LOG", "off")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let mut first_line = String::new();
    let stdout = child.stdout.take().ok_or("no stdout")?;
    StdBufReader::new(stdout).read_line(&mut first_line)?;
    let server = ServerProcess(child);
    let pid = server.0.id();
    let addr: SocketAddr = first_line.trim().parse()?;
    let http = reqwest::Client::new();

    println!(
        "sse_fanout: {clients} clients, {updates} updates every {every:?}, server pid {pid} on {addr}"
    );

    // 1. Baseline: one client.
    let (notes, mut inbox) = mpsc::unbounded_channel();
    let baseline_client = tokio::spawn(client(addr, notes.clone()));
    wait_ready(&mut inbox, 1).await?;
    let baseline = drive(&http, addr, updates, every, &mut inbox, 1).await?;

    // 2. Memory per client: the server's RSS before and after the others connect.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = vm_rss_kib(pid)?;
    let connecting = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for i in 0..clients {
        tasks.push(tokio::spawn(client(addr, notes.clone())));
        // A short pause every 100 connects keeps the listen backlog from overflowing.
        if i % 100 == 99 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    wait_ready(&mut inbox, clients).await?;
    let connected_in = connecting.elapsed();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = vm_rss_kib(pid)?;
    let per_client_kib = (after.saturating_sub(before)) as f64 / clients as f64;

    // 3. Fan-out: every client (and the baseline one) should get every update.
    let fanout = drive(&http, addr, updates, every, &mut inbox, clients + 1).await?;

    baseline_client.abort();
    for task in tasks {
        task.abort();
    }
    drop(server);

    let (b50, b99, _) = percentiles(&baseline.latencies);
    let (p50, p99, max) = percentiles(&fanout.latencies);
    println!("baseline, 1 client:        p50 {b50:>8.2?}  p99 {b99:>8.2?}");
    println!(
        "fan-out, {} clients:    p50 {p50:>8.2?}  p99 {p99:>8.2?}  max {max:>8.2?}  ({} of {} deliveries; goal p99 <= {P99_GOAL:?}: {})",
        clients + 1,
        fanout.latencies.len(),
        (clients + 1) * updates,
        if p99 <= P99_GOAL { "met" } else { "MISSED" },
    );
    println!(
        "ratio fan-out/baseline:    p50 {:.1}x  p99 {:.1}x",
        ratio(p50, b50),
        ratio(p99, b99)
    );
    println!(
        "server RSS: {before} KiB -> {after} KiB with {clients} more clients (connected in {connected_in:.2?}): {per_client_kib:.1} KiB per client (goal <= {RSS_GOAL_KIB} KiB: {})",
        if per_client_kib <= RSS_GOAL_KIB {
            "met"
        } else {
            "MISSED"
        }
    );

    // The run's headline figures, for the table `scripts/bench` builds: the one client alone
    // is the baseline of the fan-out.
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    summary(
        &format!("fan-out to {} clients: p50", clients + 1),
        &format!("{:.2} ms", ms(p50)),
        &format!("1 client p50: {:.2} ms", ms(b50)),
        &format!("{:.1}×", ratio(p50, b50)),
        "-",
    );
    summary(
        &format!("fan-out to {} clients: p99", clients + 1),
        &format!("{:.2} ms", ms(p99)),
        &format!("1 client p99: {:.2} ms", ms(b99)),
        &format!("{:.1}×", ratio(p99, b99)),
        &format!("≤ {} ms", P99_GOAL.as_millis()),
    );
    summary(
        "fan-out deliveries",
        &format!("{} of {}", fanout.latencies.len(), (clients + 1) * updates),
        "-",
        "-",
        "all",
    );
    summary(
        "server memory per client",
        &format!("{per_client_kib:.1} KiB"),
        "-",
        "-",
        &format!("≤ {RSS_GOAL_KIB} KiB"),
    );
    Ok(())
}

/// One `summary:` line: a headline figure of this run, which `scripts/bench` gathers into one
/// markdown table (`| bench | figure | value | baseline (same run) | ratio | goal |`).
fn summary(figure: &str, value: &str, baseline: &str, ratio: &str, goal: &str) {
    let cell = |text: &str| text.replace('|', "/");
    println!(
        "summary: sse_fanout | {} | {} | {} | {} | {}",
        cell(figure),
        cell(value),
        cell(baseline),
        cell(ratio),
        cell(goal)
    );
}

fn ratio(a: Duration, b: Duration) -> f64 {
    a.as_secs_f64() / b.as_secs_f64().max(1e-9)
}

fn percentiles(latencies: &[Duration]) -> (Duration, Duration, Duration) {
    let mut sorted = latencies.to_vec();
    sorted.sort();
    let at = |q: f64| {
        let index = ((sorted.len() as f64 * q).ceil() as usize).clamp(1, sorted.len().max(1)) - 1;
        sorted.get(index).copied().unwrap_or_default()
    };
    (
        at(0.50),
        at(0.99),
        sorted.last().copied().unwrap_or_default(),
    )
}

async fn wait_ready(inbox: &mut mpsc::UnboundedReceiver<Note>, count: usize) -> Result<()> {
    let mut ready = 0;
    while ready < count {
        match tokio::time::timeout(Duration::from_secs(60), inbox.recv()).await {
            Ok(Some(Note::Ready)) => ready += 1,
            Ok(Some(Note::Got(..))) => {}
            Ok(None) => return fail("every client ended"),
            Err(_) => return fail(format!("only {ready} of {count} clients connected")),
        }
    }
    Ok(())
}

struct Run {
    latencies: Vec<Duration>,
}

/// `updates` schedule commands, one every `every`; collects each client's delivery latency.
async fn drive(
    http: &reqwest::Client,
    addr: SocketAddr,
    updates: usize,
    every: Duration,
    inbox: &mut mpsc::UnboundedReceiver<Note>,
    listeners: usize,
) -> Result<Run> {
    let mut written: HashMap<String, Instant> = HashMap::new();
    let mut pending: Vec<(String, Instant)> = Vec::new();
    let mut latencies = Vec::with_capacity(updates * listeners);
    let mut tick = tokio::time::interval(every);
    for _ in 0..updates {
        tick.tick().await;
        let at = Instant::now();
        let answer: serde_json::Value = http
            .post(format!("http://{addr}/api/commands"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({"text": "schedule tomorrow 2pm 90m python", "tz": "UTC"}))
            .send()
            .await?
            .json()
            .await?;
        let id = answer["interview"]["id"]
            .as_str()
            .ok_or_else(|| Error::from(format!("no interview in {answer}")))?;
        written.insert(id.to_owned(), at);
        // Deliveries may be read before the answer is: match them up now.
        while let Ok(note) = inbox.try_recv() {
            if let Note::Got(id, got) = note {
                pending.push((id, got));
            }
        }
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let want = updates * listeners;
    let matched = |pending: &mut Vec<(String, Instant)>, latencies: &mut Vec<Duration>| {
        pending.retain(|(id, got)| match written.get(id) {
            Some(at) => {
                latencies.push(got.saturating_duration_since(*at));
                false
            }
            None => true,
        });
    };
    matched(&mut pending, &mut latencies);
    while latencies.len() < want && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(200), inbox.recv()).await {
            Ok(Some(Note::Got(id, got))) => pending.push((id, got)),
            Ok(Some(Note::Ready)) | Err(_) => {}
            Ok(None) => break,
        }
        matched(&mut pending, &mut latencies);
    }
    Ok(Run { latencies })
}

/// One SSE client over raw HTTP/1.1: reports readiness and each interview's first update.
async fn client(addr: SocketAddr, notes: mpsc::UnboundedSender<Note>) -> Result<()> {
    let mut stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let request = format!(
        "GET /api/events HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {TOKEN}\r\nAccept: text/event-stream\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut reader = BufReader::with_capacity(8 * 1024, stream);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    if !line.starts_with("HTTP/1.1 200") {
        return fail(format!("the server answered {line:?}"));
    }
    loop {
        line.clear();
        reader.read_line(&mut line).await?;
        if line == "\r\n" || line.is_empty() {
            break;
        }
    }
    let mut text: Vec<u8> = Vec::new();
    let mut ready = false;
    loop {
        // One chunk of the chunked body: `<hex size>\r\n<bytes>\r\n`.
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or("0"), 16)?;
        if size == 0 {
            return Ok(());
        }
        let start = text.len();
        text.resize(start + size, 0);
        reader.read_exact(&mut text[start..]).await?;
        let mut crlf = [0; 2];
        reader.read_exact(&mut crlf).await?;
        let now = Instant::now();
        while let Some(end) = text.windows(2).position(|w| w == b"\n\n") {
            let block: Vec<u8> = text.drain(..end + 2).collect();
            let block = String::from_utf8_lossy(&block);
            let mut event = "";
            let mut data = "";
            for field in block.lines() {
                if let Some(value) = field.strip_prefix("event:") {
                    event = value.trim();
                } else if let Some(value) = field.strip_prefix("data:") {
                    data = value.trim();
                }
            }
            match event {
                "operation_status" if !ready => {
                    ready = true;
                    let _ = notes.send(Note::Ready);
                }
                // Only the interview's own update (`{"interview": {…, "id": …}}`), not its
                // operation's (`{"interview_id": …, "operation": …}`).
                "operation_update" if data.starts_with("{\"interview\":") => {
                    if let Some(id) = data
                        .split_once("\"id\":\"")
                        .and_then(|(_, rest)| rest.split_once('"'))
                        .map(|(id, _)| id.to_owned())
                    {
                        let _ = notes.send(Note::Got(id, now));
                    }
                }
                _ => {}
            }
        }
    }
}
