//! The local runtime against bare code-server (issue 3), measured in one run:
//!
//! 1. **Bare code-server**: started the way an operator would (`PASSWORD=… code-server
//!    --bind-addr 127.0.0.1:PORT --auth password --user-data-dir D --extensions-dir E --config C
//!    --disable-telemetry WORKSPACE`, its own process group, fresh folders and a fresh `HOME`),
//!    timed from spawn to the first 200 on `/healthz` (polled every 10 ms), then stopped. Twice
//!    per round: with the environment the local provisioner gives code-server (the variables in
//!    [`PASSED_ENV`] only) — the baseline, like for like — and with the bench's whole
//!    environment, as from an operator's shell. They differ: Node reads `NODE_EXTRA_CA_CERTS`
//!    and friends at start-up, in each of code-server's two node processes.
//! 2. **Prequel**: one release `prequel serve` with the repository's `challenge/` folder;
//!    `POST /api/commands {"text":"now 30m python"}`, then `GET /api/interviews/{id}` every
//!    20 ms until `active`; timed from sending the command to seeing `active`. Each instance is
//!    destroyed (and seen `destroyed`) before the next run. Bare and Prequel runs alternate, so
//!    drift on a noisy machine hits both alike; one warm-up run of each is discarded.
//!    Each round also times the command line a person types, `prequel interview now 30m python`,
//!    from spawning it to its exit (it exits once it has seen `active`; it polls every 50 ms).
//! 3. **`prequel serve` itself**: spawn → `/healthz` 200 over a few starts with fresh data dirs,
//!    and VmRSS after ~3 s idle with no instance.
//!
//! Prints a table, the ratio of Prequel's p50 to the bare p50 (goal ≤ 1.5×) and how many
//! processes were left behind (must be 0: every process is stopped by a guard, on panic too).
//! Where the time goes is split with code-server's own log line `HTTP server listening`
//! (millisecond timestamps) and the spawn time in Prequel's instance record.
//!
//! Run: `PREQUEL_CODE_SERVER=… cargo bench -p prequel-bot --bench local_runtime`
//! (`./scripts/install-code-server` prints the path). Cargo builds the `prequel` binary with the
//! bench profile (optimised, as `--release`) and hands its path to the bench as
//! `CARGO_BIN_EXE_prequel`, which is what `support::prequel()` runs.
#![allow(clippy::print_stdout, clippy::print_stderr)]

#[path = "../tests/it/support.rs"]
mod support;

use std::collections::BTreeMap;
use std::fs::File;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde_json::{Value, json};

use support::{ServeOptions, Server};

/// Measured runs of each of bare code-server and Prequel (after one discarded warm-up each).
const RUNS: usize = 8;
/// Measured starts of `prequel serve` alone.
const SERVE_STARTS: usize = 4;
/// How often the bench asks bare code-server's `/healthz`.
const HEALTH_POLL: Duration = Duration::from_millis(10);
/// How often the bench asks `prequel serve`'s `/healthz` while it starts.
const SERVE_POLL: Duration = Duration::from_millis(5);
/// How often the bench asks the API for the interview's status.
const API_POLL: Duration = Duration::from_millis(20);
/// How long anything may take before the run fails.
const TIMEOUT: Duration = Duration::from_secs(90);
/// How long `prequel serve` idles before its RSS is read.
const IDLE: Duration = Duration::from_secs(3);
/// The words sent for each Prequel run.
const COMMAND: &str = "now 30m python";
/// Same as the config file the local provisioner writes (`auth: password`, no TLS).
const CONFIG_YAML: &str = "auth: password\ncert: false\n";
/// The variables the local provisioner passes on to code-server (`PASSED_ENV` in
/// `prequel-core/src/provision/local/process.rs`; private there, so repeated here).
const PASSED_ENV: &[&str] = &[
    "PATH", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "USER", "LOGNAME", "SHELL", "TMPDIR",
];
/// What code-server logs once its HTTP server listens.
const LISTENING: &str = "HTTP server listening on ";

fn main() {
    let Some(code_server) = support::code_server("local_runtime bench") else {
        return;
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_owned();
    let challenges = repo.join("challenge");
    // Everything the bench creates lives under this folder, so leftovers are found by its path.
    let temp = tempfile::Builder::new()
        .prefix("prequel-bench-")
        .tempdir()
        .expect("temp dir");
    let root = std::fs::canonicalize(temp.path()).expect("canonical temp dir");

    println!("local runtime: bare code-server vs. `prequel {COMMAND}` (issue 3)");
    println!("command: PREQUEL_CODE_SERVER=… cargo bench -p prequel-bot --bench local_runtime");
    println!("code-server: {}", code_server.display());
    println!(
        "prequel: {} (bench profile = release)",
        env!("CARGO_BIN_EXE_prequel")
    );
    println!("load average before: {}", load_average());
    println!();

    let report = {
        let bare = Bare {
            code_server: code_server.clone(),
            starter: challenges.join("python/starter"),
            root: root.join("bare"),
        };
        let api = Api::start(&code_server, &challenges, &root.join("api"));
        let idle_rss_before = {
            std::thread::sleep(IDLE);
            api.rss_mib()
        };

        // Warm-up: page cache, the first SQLite writes; not counted.
        bare.run("warm-up", Env::Provisioner);
        api.run();

        let (mut bare_runs, mut shell_runs) = (Vec::new(), Vec::new());
        let (mut prequel, mut cli_ms) = (Vec::new(), Vec::new());
        for i in 1..=RUNS {
            let b = bare.run(&format!("p{i}"), Env::Provisioner);
            let s = bare.run(&format!("s{i}"), Env::Inherited);
            let p = api.run();
            let c = api.run_cli();
            eprintln!(
                "round {i}/{RUNS}: bare {:.0} ms, bare (caller's env) {:.0} ms, \
                 prequel API {:.0} ms, prequel CLI {c:.0} ms",
                b.healthy_ms, s.healthy_ms, p.active_ms
            );
            bare_runs.push(b);
            shell_runs.push(s);
            prequel.push(p);
            cli_ms.push(c);
        }
        std::thread::sleep(IDLE);
        let idle_rss_after = api.rss_mib();
        let log = api.server.log();
        drop(api);

        let mut ready_ms = Vec::new();
        let mut rss = Vec::new();
        for i in 0..SERVE_STARTS {
            let (ready, idle) = serve_start(&code_server, &challenges, &root.join(format!("s{i}")));
            ready_ms.push(ready);
            rss.push(idle);
        }
        Report {
            bare: bare_runs,
            shell: shell_runs,
            prequel,
            cli_ms,
            ready_ms,
            rss,
            idle_rss_before,
            idle_rss_after,
            log,
        }
    };
    let mut left = leftovers(&root);
    // Sandboxed instances are found by their cgroups (their processes name no folder of ours).
    for process in support::instance_processes(&root.join("api/data")) {
        if !left.iter().any(|(pid, _)| *pid as u32 == process.pid) {
            let cmd = std::fs::read(format!("/proc/{}/cmdline", process.pid)).unwrap_or_default();
            left.push((
                process.pid as i32,
                String::from_utf8_lossy(&cmd).replace('\0', " "),
            ));
        }
    }
    report.print();
    println!("load average after: {}", load_average());
    println!("processes left behind: {}", left.len());
    for (pid, cmd) in &left {
        println!("  {pid} {cmd}");
    }
    report.summarise(left.len());
    if !left.is_empty() {
        // Do not leave them running, but fail: a guard did not do its job.
        for (pid, _) in &left {
            let _ = nix::sys::signal::kill(Pid::from_raw(*pid), Signal::SIGKILL);
        }
        std::process::exit(1);
    }
}

// ---------------------------------------------------------------------------------------------
// 1. Bare code-server
// ---------------------------------------------------------------------------------------------

struct Bare {
    code_server: PathBuf,
    /// The challenge's starter files, copied into each workspace.
    starter: PathBuf,
    root: PathBuf,
}

/// The environment bare code-server gets (besides a fresh `HOME` and `PASSWORD`).
#[derive(Debug, Clone, Copy)]
enum Env {
    /// Only [`PASSED_ENV`], as the local provisioner does: the baseline.
    Provisioner,
    /// Everything the bench inherited, as from an operator's shell.
    Inherited,
}

/// What one bare start saw, in ms from spawn.
struct BareRun {
    /// code-server logged that its HTTP server listens.
    listening_ms: f64,
    /// `/healthz` first answered 200.
    healthy_ms: f64,
}

impl Bare {
    /// Starts code-server in fresh folders and times it until `/healthz` answers 200; the
    /// process group is stopped before returning.
    fn run(&self, name: &str, env: Env) -> BareRun {
        let dir = self.root.join(name);
        let (workspace, user_data, extensions, home) = (
            dir.join("workspace"),
            dir.join("user-data"),
            dir.join("extensions"),
            dir.join("home"),
        );
        for d in [&user_data, &extensions, &home] {
            std::fs::create_dir_all(d).expect("bare folders");
        }
        copy_dir(&self.starter, &workspace).expect("copy the starter files");
        let config = dir.join("config.yaml");
        std::fs::write(&config, CONFIG_YAML).expect("config");
        let port = support::free_port().expect("free port");
        let log_path = dir.join("code-server.log");
        let log = File::create(&log_path).expect("log");
        let mut command = Command::new(&self.code_server);
        command
            .arg("--bind-addr")
            .arg(format!("127.0.0.1:{port}"))
            .args(["--auth", "password"])
            .arg("--user-data-dir")
            .arg(&user_data)
            .arg("--extensions-dir")
            .arg(&extensions)
            .arg("--config")
            .arg(&config)
            .arg("--disable-telemetry")
            .arg(&workspace);
        if let Env::Provisioner = env {
            command.env_clear().envs(
                PASSED_ENV
                    .iter()
                    .filter_map(|key| std::env::var_os(key).map(|value| (key, value))),
            );
        }
        command
            // A fresh HOME: code-server keeps state under ~/.local/share and writes a default
            // ~/.config/code-server/config.yaml; neither may land in the caller's home.
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("PASSWORD", "bench-password-not-secret")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log);
        let url = format!("http://127.0.0.1:{port}");
        let wall = SystemTime::now();
        let began = Instant::now();
        let mut group = Group::spawn(&mut command, "code-server");
        loop {
            if matches!(support::get(&url, "/healthz", None), Ok((200, _))) {
                break;
            }
            group.check_alive(&log_path);
            assert!(began.elapsed() < TIMEOUT, "bare code-server never answered");
            std::thread::sleep(HEALTH_POLL);
        }
        let healthy_ms = ms(began.elapsed());
        group.stop();
        BareRun {
            listening_ms: listening_after(&log_path, wall),
            healthy_ms,
        }
    }
}

/// How long after `wall` code-server logged that it listens (its log has millisecond
/// timestamps: `[2026-11-23T16:17:26.951Z] info  HTTP server listening on …`).
fn listening_after(log: &Path, wall: SystemTime) -> f64 {
    let text = std::fs::read_to_string(log).expect("code-server log");
    let line = text
        .lines()
        .find(|l| l.contains(LISTENING))
        .unwrap_or_else(|| panic!("no `{LISTENING}` in {}:\n{text}", log.display()));
    let stamp = line
        .strip_prefix('[')
        .and_then(|l| l.split(']').next())
        .unwrap_or_default();
    since(wall, stamp)
}

/// Milliseconds from `wall` to the RFC 3339 time `stamp` (negative if before).
fn since(wall: SystemTime, stamp: &str) -> f64 {
    let at = chrono::DateTime::parse_from_rfc3339(stamp)
        .unwrap_or_else(|e| panic!("`{stamp}` is not an RFC 3339 time: {e}"));
    let from = chrono::DateTime::<chrono::Utc>::from(wall);
    (at.to_utc() - from).num_microseconds().unwrap_or_default() as f64 / 1000.0
}

fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// 2. Prequel: command → active
// ---------------------------------------------------------------------------------------------

/// One `prequel serve` for the Prequel runs.
struct Api {
    // Dropped first: the server stops (SIGTERM; it leaves instances running by design) …
    server: Server,
    token: String,
    data_dir: PathBuf,
    // … then every instance process it started is killed, should a run have failed midway.
    _sweep: Sweep,
}

/// What one Prequel run saw, in ms from sending the command.
struct PrequelRun {
    /// The command's answer arrived (the interview and its create operation are stored).
    answered_ms: f64,
    /// code-server was spawned (`started_at` in the instance record, wall clock).
    spawned_ms: f64,
    /// code-server logged that its HTTP server listens.
    listening_ms: f64,
    /// The API first said `active`.
    active_ms: f64,
    /// From sending `destroy` to seeing `destroyed`.
    destroy_ms: f64,
}

impl Api {
    fn start(code_server: &Path, challenges: &Path, dir: &Path) -> Self {
        let data_dir = dir.join("data");
        std::fs::create_dir_all(&data_dir).expect("data dir");
        let sweep = Sweep(data_dir.join("instances"));
        let server = Server::start(ServeOptions {
            challenges: Some(challenges.to_owned()),
            data_dir: Some(data_dir.clone()),
            ..ServeOptions::new(code_server)
        })
        .unwrap_or_else(|e| panic!("{e}"));
        let token = server.token();
        Self {
            server,
            token,
            data_dir,
            _sweep: sweep,
        }
    }

    fn command(&self, text: &str) -> Value {
        let auth = format!("Bearer {}", self.token);
        let headers = [
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
        ];
        let body = json!({ "text": text }).to_string();
        let (status, body) =
            support::http(&self.server.url, "POST", "/api/commands", &headers, &body)
                .expect("POST /api/commands");
        assert_eq!(status, 200, "`{text}` answered {status}: {body}");
        serde_json::from_str(&body).expect("JSON answer")
    }

    fn interview(&self, id: &str) -> Value {
        let path = format!("/api/interviews/{id}");
        let (status, body) =
            support::get(&self.server.url, &path, Some(&self.token)).expect("GET interview");
        assert_eq!(status, 200, "{path} answered {status}: {body}");
        let json: Value = serde_json::from_str(&body).expect("JSON answer");
        json["interview"].clone()
    }

    /// Polls until the interview has `status`; fails on `failed` or after [`TIMEOUT`].
    fn wait_for(&self, id: &str, status: &str, began: Instant) {
        loop {
            let interview = self.interview(id);
            match interview["status"].as_str() {
                Some(s) if s == status => return,
                Some("failed") => panic!(
                    "interview {id} failed: {}\n{}",
                    interview["reason"],
                    self.server.log()
                ),
                _ => {}
            }
            assert!(
                began.elapsed() < TIMEOUT,
                "interview {id} not {status} after {TIMEOUT:?}: {interview}\n{}",
                self.server.log()
            );
            std::thread::sleep(API_POLL);
        }
    }

    fn run(&self) -> PrequelRun {
        let wall = SystemTime::now();
        let began = Instant::now();
        let answer = self.command(COMMAND);
        let answered = began.elapsed();
        let id = answer["interview"]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no interview id in {answer}"))
            .to_owned();
        self.wait_for(&id, "active", began);
        let active = began.elapsed();
        let instance = self.data_dir.join("instances").join(&id);
        let spawned = spawned_after(&instance.join("instance.json"), wall);
        let listening = listening_after(&instance.join("code-server.log"), wall);

        let destroyed = self.destroy(&id);
        PrequelRun {
            answered_ms: ms(answered),
            spawned_ms: spawned,
            listening_ms: listening,
            active_ms: ms(active),
            destroy_ms: destroyed,
        }
    }

    /// Destroys the interview and waits until it is `destroyed`; returns the ms that took.
    fn destroy(&self, id: &str) -> f64 {
        let began = Instant::now();
        self.command(&format!("destroy {id}"));
        self.wait_for(id, "destroyed", began);
        ms(began.elapsed())
    }

    /// Runs `prequel interview --json now 30m python` and returns the ms from spawning it to its
    /// exit; then destroys the interview it made.
    fn run_cli(&self) -> f64 {
        let words: Vec<&str> = COMMAND.split_whitespace().collect();
        let mut args = vec!["--json"];
        args.extend_from_slice(&words);
        let began = Instant::now();
        let output = self.server.interview(&args).expect("run prequel interview");
        let elapsed = ms(began.elapsed());
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "prequel interview {COMMAND} failed ({}): {}{stdout}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let answer: Value = serde_json::from_str(&stdout).expect("one JSON object");
        let id = answer["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no interview id in {answer}"));
        assert_eq!(answer["status"], "active", "{answer}");
        self.destroy(id);
        elapsed
    }

    /// The server's VmRSS in MiB (its pid found by its data dir on its command line).
    fn rss_mib(&self) -> f64 {
        let needle = self.data_dir.as_os_str().as_encoded_bytes();
        let pid = pids()
            .into_iter()
            .find(|&pid| {
                let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                contains(&cmd, b"serve") && contains(&cmd, needle)
            })
            .expect("the prequel serve process");
        rss_mib(pid)
    }
}

/// How long after `wall` the instance's code-server was spawned, from its record.
fn spawned_after(record: &Path, wall: SystemTime) -> f64 {
    let text = std::fs::read_to_string(record).expect("instance record");
    let record: Value = serde_json::from_str(&text).expect("instance record JSON");
    since(wall, record["started_at"].as_str().expect("started_at"))
}

// ---------------------------------------------------------------------------------------------
// 3. `prequel serve`: time to ready and idle RSS
// ---------------------------------------------------------------------------------------------

/// Starts `prequel serve` with a fresh data dir; returns ms from spawn to `/healthz` 200 and its
/// VmRSS in MiB after [`IDLE`].
fn serve_start(code_server: &Path, challenges: &Path, dir: &Path) -> (f64, f64) {
    std::fs::create_dir_all(dir).expect("serve dir");
    let port = support::free_port().expect("free port");
    let out = File::create(dir.join("serve.log")).expect("log");
    let mut command = support::prequel();
    command
        .arg("serve")
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(dir.join("data"))
        .arg("--challenges")
        .arg(challenges)
        .arg("--code-server")
        .arg(code_server)
        .stdout(out.try_clone().expect("log"))
        .stderr(out);
    let url = format!("http://127.0.0.1:{port}");
    let began = Instant::now();
    let mut group = Group::spawn(&mut command, "prequel serve");
    loop {
        if matches!(support::get(&url, "/healthz", None), Ok((200, _))) {
            break;
        }
        group.check_alive(&dir.join("serve.log"));
        assert!(began.elapsed() < TIMEOUT, "prequel serve never answered");
        std::thread::sleep(SERVE_POLL);
    }
    let ready = ms(began.elapsed());
    std::thread::sleep(IDLE);
    let rss = rss_mib(group.pid());
    group.stop();
    (ready, rss)
}

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

/// A child in its own process group, stopped with the whole group (SIGTERM, then SIGKILL) when
/// dropped, on panic too.
struct Group {
    child: Child,
    what: &'static str,
    stopped: bool,
}

impl Group {
    fn spawn(command: &mut Command, what: &'static str) -> Self {
        let child = command
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        Self {
            child,
            what,
            stopped: false,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Fails, with the log, if the process has exited.
    fn check_alive(&mut self, log: &Path) {
        if let Ok(Some(status)) = self.child.try_wait() {
            let log = std::fs::read_to_string(log).unwrap_or_default();
            panic!("{} exited while starting ({status}):\n{log}", self.what);
        }
    }

    fn stop(&mut self) {
        if std::mem::replace(&mut self.stopped, true) {
            return;
        }
        let pgid = self.pid();
        stop_group(pgid, Duration::from_secs(5));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.stop();
    }
}

/// SIGTERM to the group, up to `grace` for it to empty, then SIGKILL until it has.
fn stop_group(pgid: u32, grace: Duration) {
    let Ok(raw) = i32::try_from(pgid) else {
        return;
    };
    // Never our own group, init, or everyone.
    if raw <= 1 || raw == nix::unistd::getpgrp().as_raw() {
        return;
    }
    let group = Pid::from_raw(raw);
    let _ = killpg(group, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if group_members(pgid) == 0 {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while group_members(pgid) > 0 && Instant::now() < deadline {
        let _ = killpg(group, Signal::SIGKILL);
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Kills, when dropped, every process whose environment names an instance folder under this
/// path (`PREQUEL_INSTANCE_DIR=<instances>/<id>`): what `prequel serve` leaves running by design
/// when it stops.
struct Sweep(PathBuf);

impl Drop for Sweep {
    fn drop(&mut self) {
        let mut needle = b"PREQUEL_INSTANCE_DIR=".to_vec();
        needle.extend_from_slice(self.0.as_os_str().as_encoded_bytes());
        let found: Vec<u32> = pids()
            .into_iter()
            .filter(|&pid| {
                let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
                contains(&environ, &needle)
            })
            .filter_map(pgrp)
            .collect();
        if !found.is_empty() {
            eprintln!("stopping {} instance processes left running", found.len());
        }
        let groups: std::collections::BTreeSet<u32> = found.into_iter().collect();
        for pgid in groups {
            stop_group(pgid, Duration::from_secs(2));
        }
        // Sandboxed instances: every process of their cgroups, and the cgroups.
        drop(support::KillInstancesOnDrop(self.0.clone()));
    }
}

fn pids() -> Vec<u32> {
    let own = std::process::id();
    std::fs::read_dir("/proc")
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .filter(|&pid| pid != own)
                .collect()
        })
        .unwrap_or_default()
}

/// The process group of a running (not zombie) process.
fn pgrp(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // `pid (comm) state ppid pgrp …`; comm may hold spaces, so split after the last `)`.
    let mut fields = stat.get(stat.rfind(')')? + 1..)?.split_ascii_whitespace();
    let state = fields.next()?;
    let _ppid = fields.next()?;
    let pgrp = fields.next()?.parse().ok()?;
    (state != "Z").then_some(pgrp)
}

fn group_members(pgid: u32) -> usize {
    pids()
        .into_iter()
        .filter(|&pid| pgrp(pid) == Some(pgid))
        .count()
}

/// Running processes whose command line or environment mentions `root`, with their command.
fn leftovers(root: &Path) -> Vec<(i32, String)> {
    let needle = root.as_os_str().as_encoded_bytes();
    pids()
        .into_iter()
        .filter(|&pid| pgrp(pid).is_some())
        .filter_map(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
            (contains(&cmd, needle) || contains(&env, needle)).then(|| {
                let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                (i32::try_from(pid).unwrap_or(0), cmd)
            })
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Figures
// ---------------------------------------------------------------------------------------------

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[derive(Debug, Clone, Copy)]
struct Stats {
    p50: f64,
    mean: f64,
    min: f64,
    max: f64,
}

impl Stats {
    /// p50 is the median (the mean of the middle two for an even count).
    fn of(values: &[f64]) -> Self {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        assert!(n > 0, "no values");
        let p50 = if n.is_multiple_of(2) {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        } else {
            v[n / 2]
        };
        Self {
            p50,
            mean: v.iter().sum::<f64>() / n as f64,
            min: v[0],
            max: v[n - 1],
        }
    }
}

struct Report {
    bare: Vec<BareRun>,
    shell: Vec<BareRun>,
    prequel: Vec<PrequelRun>,
    cli_ms: Vec<f64>,
    ready_ms: Vec<f64>,
    rss: Vec<f64>,
    idle_rss_before: f64,
    idle_rss_after: f64,
    log: String,
}

impl Report {
    fn print(&self) {
        let p = |f: fn(&PrequelRun) -> f64| self.prequel.iter().map(f).collect::<Vec<_>>();
        let b = |runs: &[BareRun], f: fn(&BareRun) -> f64| runs.iter().map(f).collect::<Vec<_>>();
        let bare = b(&self.bare, |r| r.healthy_ms);
        let shell = b(&self.shell, |r| r.healthy_ms);
        let active = p(|r| r.active_ms);
        let rows: Vec<(String, Vec<f64>)> = vec![
            (
                "bare code-server: spawn → /healthz 200".into(),
                bare.clone(),
            ),
            (
                "  of which: spawn → `listening` logged".into(),
                b(&self.bare, |r| r.listening_ms),
            ),
            (
                "  of which: `listening` → /healthz seen".into(),
                b(&self.bare, |r| r.healthy_ms - r.listening_ms),
            ),
            (
                "bare, caller's environment: → /healthz".into(),
                shell.clone(),
            ),
            (format!("prequel: `{COMMAND}` → active"), active.clone()),
            ("  of which: command answered".into(), p(|r| r.answered_ms)),
            ("  of which: command → spawned".into(), p(|r| r.spawned_ms)),
            (
                "  of which: spawned → `listening` logged".into(),
                p(|r| r.listening_ms - r.spawned_ms),
            ),
            (
                "  of which: `listening` → active seen".into(),
                p(|r| r.active_ms - r.listening_ms),
            ),
            (
                format!("CLI: `prequel interview {COMMAND}`"),
                self.cli_ms.clone(),
            ),
            ("prequel: destroy → destroyed".into(), p(|r| r.destroy_ms)),
            (
                "prequel serve: spawn → /healthz 200".into(),
                self.ready_ms.clone(),
            ),
        ];
        println!();
        println!(
            "{:<44} {:>4} {:>8} {:>8} {:>8} {:>8}",
            "figure (ms)", "n", "p50", "mean", "min", "max"
        );
        for (name, values) in &rows {
            let s = Stats::of(values);
            println!(
                "{name:<44} {:>4} {:>8.0} {:>8.0} {:>8.0} {:>8.0}",
                values.len(),
                s.p50,
                s.mean,
                s.min,
                s.max
            );
        }
        println!();
        let (bare, shell, active) = (Stats::of(&bare), Stats::of(&shell), Stats::of(&active));
        println!(
            "ratio prequel p50 / bare p50: {:.2}× (goal ≤ 1.5×); against bare with the caller's \
             environment: {:.2}×",
            active.p50 / bare.p50,
            active.p50 / shell.p50
        );
        let rss = Stats::of(&self.rss);
        println!(
            "prequel serve idle RSS (MiB, ~{} s idle, no instance): fresh start p50 {:.1} \
             (min {:.1}, max {:.1}, n {}); the API server before the runs {:.1}, after {} \
             create/destroy cycles {:.1}",
            IDLE.as_secs(),
            rss.p50,
            rss.min,
            rss.max,
            self.rss.len(),
            self.idle_rss_before,
            self.prequel.len() + self.cli_ms.len() + 1,
            self.idle_rss_after,
        );
        // What the provisioner itself said about readiness (its own 20 ms polling).
        let mut said: BTreeMap<String, usize> = BTreeMap::new();
        for line in self
            .log
            .lines()
            .filter(|l| l.contains("code-server ready after"))
        {
            if let Some(rest) = line.split("code-server ready after ").nth(1) {
                let secs = rest.split_whitespace().next().unwrap_or_default();
                *said.entry(secs.to_owned()).or_default() += 1;
            }
        }
        if !said.is_empty() {
            let said: Vec<String> = said.iter().map(|(s, n)| format!("{s} s ×{n}")).collect();
            println!(
                "provisioner's own \"code-server ready after\": {}",
                said.join(", ")
            );
        }
    }

    /// Prints the run's headline figures as `summary:` lines, for the table `scripts/bench`
    /// builds: bare code-server with the provisioner's environment is the baseline.
    fn summarise(&self, left_behind: usize) {
        let bare = Stats::of(&self.bare.iter().map(|r| r.healthy_ms).collect::<Vec<_>>());
        let active = Stats::of(&self.prequel.iter().map(|r| r.active_ms).collect::<Vec<_>>());
        let destroy = Stats::of(
            &self
                .prequel
                .iter()
                .map(|r| r.destroy_ms)
                .collect::<Vec<_>>(),
        );
        let cli = Stats::of(&self.cli_ms);
        let rss = Stats::of(&self.rss);
        let baseline = format!("bare code-server → /healthz p50: {:.0} ms", bare.p50);
        summary(
            &format!("Prequel `{COMMAND}` → active p50 (API)"),
            &format!("{:.0} ms", active.p50),
            &baseline,
            &format!("{:.2}×", active.p50 / bare.p50),
            "≤ 1.5×",
        );
        summary(
            &format!("CLI `prequel interview {COMMAND}` p50"),
            &format!("{:.0} ms", cli.p50),
            &baseline,
            &format!("{:.2}×", cli.p50 / bare.p50),
            "-",
        );
        summary(
            "destroy → destroyed p50",
            &format!("{:.0} ms", destroy.p50),
            "-",
            "-",
            "-",
        );
        summary(
            "`prequel serve` idle RSS, fresh start p50",
            &format!("{:.1} MiB", rss.p50),
            "-",
            "-",
            "-",
        );
        summary(
            "processes left behind",
            &left_behind.to_string(),
            "-",
            "-",
            "0",
        );
    }
}

/// One `summary:` line: a headline figure of this run, which `scripts/bench` gathers into one
/// markdown table (`| bench | figure | value | baseline (same run) | ratio | goal |`).
fn summary(figure: &str, value: &str, baseline: &str, ratio: &str, goal: &str) {
    let cell = |text: &str| text.replace('|', "/");
    println!(
        "summary: local_runtime | {} | {} | {} | {} | {}",
        cell(figure),
        cell(value),
        cell(baseline),
        cell(ratio),
        cell(goal)
    );
}
