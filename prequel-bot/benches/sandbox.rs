//! What the local sandbox costs (issue 14), measured in one run on this machine:
//!
//! 1. **Start**: `now 30m python` → `active` through the JSON API (`POST /api/commands`, then
//!    `GET /api/interviews/{id}` every 20 ms), on one release `prequel serve` with the sandbox
//!    and one with `--sandbox off`, against bare code-server (spawned in fresh folders with
//!    `PASSWORD`, timed to its first `/healthz` 200, polled every 10 ms). The three alternate,
//!    one discarded warm-up each, so the machine's drift hits all alike. Goal: sandboxed ≤ 1.15×
//!    unsandboxed.
//! 2. **Memory**: the VmRSS of an idle, active instance's processes 3 s after `active`, summed:
//!    with the sandbox (everything in its cgroup: the launcher, bwrap's init, code-server),
//!    without (code-server's process group). The difference is the sandbox's own.
//! 3. **Fork bomb**: serve's `/healthz` one request at a time, before and while one instance
//!    runs a fork bomb (a second instance is active beside it); p99 during / p99 before.
//!    Goal ≤ 3×.
//!
//! Run: `PREQUEL_CODE_SERVER=… cargo bench -p prequel-bot --bench sandbox` (as root, with
//! bubblewrap: `./scripts/bench sandbox` sets everything up).
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "../tests/it/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use support::{ServeOptions, Server, interview_processes, live_members_of_group, run_inside};

/// Measured starts of each kind (after one warm-up).
const RUNS: usize = 8;
/// `/healthz` requests before and during the fork bomb.
const HEALTH_SAMPLES: usize = 400;
/// How long anything may take.
const TIMEOUT: Duration = Duration::from_secs(120);

fn main() {
    let Some(code_server) = support::code_server("sandbox bench") else {
        return;
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_owned();
    let challenges = repo.join("challenge");
    let temp = tempfile::tempdir().expect("temp dir");
    println!(
        "local sandbox: `prequel now 30m python` with and without the sandbox, bare code-server (issue 14)"
    );
    println!("command: PREQUEL_CODE_SERVER=… cargo bench -p prequel-bot --bench sandbox");
    println!(
        "prequel: {} (bench profile = release)",
        env!("CARGO_BIN_EXE_prequel")
    );
    println!(
        "load average before: {}",
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .trim()
    );
    println!();

    let serve = |sandbox: bool| {
        let mut options = ServeOptions::new(&code_server);
        options.challenges = Some(challenges.clone());
        if !sandbox {
            options.args = vec!["--sandbox".into(), "off".into()];
        }
        let server = Server::start(options).expect("serve starts");
        let cleanup = support::KillInstancesOnDrop(server.data_dir.join("instances"));
        (server, cleanup)
    };
    let (sandboxed, _clean_sandboxed) = serve(true);
    let (unsandboxed, _clean_unsandboxed) = serve(false);
    let bare = temp.path().join("bare");

    // Warm-up: page cache, first SQLite writes.
    start(&sandboxed, true);
    start(&unsandboxed, false);
    bare_start(&code_server, &challenges, &bare.join("warm-up"));

    let (mut with, mut without, mut raw) = (Vec::new(), Vec::new(), Vec::new());
    let (mut rss_with, mut rss_without) = (Vec::new(), Vec::new());
    for i in 1..=RUNS {
        let (ms, rss) = start(&sandboxed, true);
        with.push(ms);
        rss_with.push(rss);
        let (ms, rss) = start(&unsandboxed, false);
        without.push(ms);
        rss_without.push(rss);
        raw.push(bare_start(
            &code_server,
            &challenges,
            &bare.join(format!("run-{i}")),
        ));
        println!(
            "run {i}: sandboxed {:.0} ms ({:.0} MiB), unsandboxed {:.0} ms ({:.0} MiB), bare code-server {:.0} ms",
            with[i - 1],
            rss_with[i - 1],
            without[i - 1],
            rss_without[i - 1],
            raw[i - 1]
        );
    }
    let (p_with, p_without, p_raw) = (median(&with), median(&without), median(&raw));
    let (m_with, m_without) = (median(&rss_with), median(&rss_without));
    println!();
    println!(
        "start → active, median of {RUNS}: sandboxed {p_with:.0} ms, unsandboxed {p_without:.0} ms, bare code-server → /healthz {p_raw:.0} ms"
    );
    println!(
        "memory of an idle instance, median: sandboxed {m_with:.1} MiB, unsandboxed {m_without:.1} MiB"
    );

    let (before, during, tasks) = fork_bomb(&sandboxed);
    println!(
        "serve /healthz p99: {before:.2} ms before the bomb, {during:.2} ms during it ({tasks} processes in the bomber's sandbox)"
    );
    println!();
    summary(
        "now → active, sandboxed (p50)",
        &format!("{p_with:.0} ms"),
        &format!("{p_without:.0} ms unsandboxed"),
        &format!("{:.2}×", p_with / p_without),
        "≤ 1.15×",
    );
    summary(
        "now → active, sandboxed vs bare code-server (p50)",
        &format!("{p_with:.0} ms"),
        &format!("{p_raw:.0} ms bare"),
        &format!("{:.2}×", p_with / p_raw),
        "-",
    );
    summary(
        "idle instance memory, sandboxed (RSS)",
        &format!("{m_with:.1} MiB"),
        &format!("{m_without:.1} MiB unsandboxed"),
        &format!("+{:.1} MiB", m_with - m_without),
        "-",
    );
    summary(
        "serve /healthz p99 during a fork bomb",
        &format!("{during:.2} ms"),
        &format!("{before:.2} ms before"),
        &format!("{:.2}×", during / before),
        "≤ 3×",
    );
}

/// One `now 30m python` → active on `server`: ms, and the instance's memory (MiB) once idle;
/// then the instance is destroyed and seen destroyed.
fn start(server: &Server, sandboxed: bool) -> (f64, f64) {
    let began = Instant::now();
    let (status, answer) = support::api_command(server, "now 30m python");
    assert!(status == 200 || status == 201, "{status} {answer}");
    let id = answer["interview"]["id"].as_str().expect("id").to_owned();
    wait_for(server, &id, "active");
    let ms = began.elapsed().as_secs_f64() * 1000.0;
    std::thread::sleep(Duration::from_secs(3));
    let pids: Vec<u32> = if sandboxed {
        interview_processes(&server.data_dir, &id)
            .iter()
            .map(|p| p.pid)
            .collect()
    } else {
        let record: Value = serde_json::from_slice(
            &std::fs::read(
                server
                    .data_dir
                    .join("instances")
                    .join(&id)
                    .join("instance.json"),
            )
            .expect("record"),
        )
        .expect("JSON");
        live_members_of_group(record["pgid"].as_u64().expect("pgid") as u32)
    };
    let rss: f64 = pids.iter().map(|pid| rss_mib(*pid)).sum();
    let (status, answer) = support::api_command(server, &format!("destroy {id}"));
    assert_eq!(status, 200, "{answer}");
    wait_for(server, &id, "destroyed");
    (ms, rss)
}

fn wait_for(server: &Server, id: &str, state: &str) {
    let began = Instant::now();
    loop {
        let detail = support::api_get(server, &format!("/api/interviews/{id}"));
        if detail["interview"]["status"] == state {
            return;
        }
        assert!(began.elapsed() < TIMEOUT, "{id} never {state}: {detail}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Bare code-server in fresh folders, spawn → first `/healthz` 200, in ms; then stopped.
fn bare_start(code_server: &Path, challenges: &Path, dir: &Path) -> f64 {
    let workspace = dir.join("workspace");
    let home = dir.join("home");
    std::fs::create_dir_all(&home).expect("home");
    let copied = Command::new("cp")
        .arg("-r")
        .arg(challenges.join("python/starter"))
        .arg(&workspace)
        .status()
        .expect("cp");
    assert!(copied.success());
    std::fs::write(dir.join("config.yaml"), "auth: password\ncert: false\n").expect("config");
    let port = support::free_port().expect("port");
    let began = Instant::now();
    let mut child: Child = {
        use std::os::unix::process::CommandExt as _;
        Command::new(code_server)
            .arg("--bind-addr")
            .arg(format!("127.0.0.1:{port}"))
            .args(["--auth", "password", "--disable-telemetry"])
            .arg("--user-data-dir")
            .arg(dir.join("user-data"))
            .arg("--extensions-dir")
            .arg(dir.join("extensions"))
            .arg("--config")
            .arg(dir.join("config.yaml"))
            .arg(&workspace)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &home)
            .env("PASSWORD", "bench-password-not-secret")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn code-server")
    };
    let url = format!("http://127.0.0.1:{port}");
    while !matches!(support::get(&url, "/healthz", None), Ok((200, _))) {
        assert!(began.elapsed() < TIMEOUT, "bare code-server never answered");
        std::thread::sleep(Duration::from_millis(10));
    }
    let ms = began.elapsed().as_secs_f64() * 1000.0;
    // The whole group: code-server's own node child too.
    if let Ok(pgid) = i32::try_from(child.id()) {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.wait();
    ms
}

/// serve's `/healthz` p99 (ms) before and during a fork bomb in one of two active instances,
/// and how many processes the bomber's sandbox held.
fn fork_bomb(server: &Server) -> (f64, f64, usize) {
    let (_, bomber) = support::api_command(server, "now 30m python");
    let (_, neighbour) = support::api_command(server, "now 30m python");
    let bomber = bomber["interview"]["id"].as_str().expect("id").to_owned();
    let neighbour = neighbour["interview"]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    wait_for(server, &bomber, "active");
    wait_for(server, &neighbour, "active");
    let before = p99(&healthz(server));
    let data_dir: PathBuf = server.data_dir.clone();
    let id = bomber.clone();
    let bomb = std::thread::spawn(move || {
        run_inside(
            &data_dir,
            &id,
            "timeout -s KILL 30 bash -c 'bomb() { bomb | bomb & }; bomb' 2>/dev/null",
        )
    });
    std::thread::sleep(Duration::from_secs(3));
    let tasks = interview_processes(&server.data_dir, &bomber).len();
    let during = p99(&healthz(server));
    let _ = bomb.join();
    for id in [&bomber, &neighbour] {
        support::api_command(server, &format!("destroy {id}"));
        wait_for(server, id, "destroyed");
    }
    (before, during, tasks)
}

fn healthz(server: &Server) -> Vec<f64> {
    (0..HEALTH_SAMPLES)
        .map(|_| {
            let began = Instant::now();
            let (status, _) = support::get(&server.url, "/healthz", None).expect("GET /healthz");
            assert_eq!(status, 200);
            let ms = began.elapsed().as_secs_f64() * 1000.0;
            std::thread::sleep(Duration::from_millis(5));
            ms
        })
        .collect()
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n.is_multiple_of(2) {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    } else {
        v[n / 2]
    }
}

fn p99(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((v.len() as f64 - 1.0) * 0.99).round() as usize;
    v[index]
}

fn rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|status| {
            status.lines().find_map(|line| {
                line.strip_prefix("VmRSS:")?
                    .trim()
                    .trim_end_matches("kB")
                    .trim()
                    .parse::<f64>()
                    .ok()
            })
        })
        .map_or(0.0, |kib| kib / 1024.0)
}

/// One `summary:` line for `scripts/bench`'s table.
fn summary(figure: &str, value: &str, baseline: &str, ratio: &str, goal: &str) {
    println!("summary: sandbox | {figure} | {value} | {baseline} | {ratio} | {goal}");
}
