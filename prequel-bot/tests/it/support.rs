//! Helpers for tests that run `prequel serve`: a server on a free loopback port that is stopped
//! when dropped, a raw HTTP client (so malformed requests can be sent as they are), and the
//! rule for tests that need code-server.

#![allow(dead_code)] // Each helper is used by some test binary module, not necessarily all.

use std::io::{Read as _, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

/// The variables `prequel` reads; cleared for every run so the caller's shell cannot leak in.
const PREQUEL_VARS: &[&str] = &[
    "PREQUEL_CONFIG",
    "PREQUEL_DATA_DIR",
    "PREQUEL_LISTEN",
    "PREQUEL_CHALLENGES",
    "PREQUEL_TZ",
    "PREQUEL_CODE_SERVER",
    "PREQUEL_INSTANCE_BIND",
    "PREQUEL_LEASE_SECONDS",
    "PREQUEL_OPEN_STATUS_ON_LOOPBACK",
    "PREQUEL_LOG_FORMAT",
    "PREQUEL_SERVER",
    "PREQUEL_TOKEN",
    "RUST_LOG",
    "PREQUEL_BACKEND",
    "PREQUEL_ADMIN_TOKEN",
    "PREQUEL_PREFIX",
    "PREQUEL_ENVIRONMENT",
    "PREQUEL_DOMAIN",
    "PREQUEL_ECS_CLUSTER",
    "PREQUEL_SUBNETS",
    "PREQUEL_SECURITY_GROUPS",
    "PREQUEL_VPC_ID",
    "PREQUEL_ALB_LISTENER_ARN",
    "PREQUEL_EXECUTION_ROLE_ARN",
    "PREQUEL_TASK_ROLE_ARN",
    "PREQUEL_INSTANCE_IMAGE",
    "PREQUEL_LOG_GROUP",
    "PREQUEL_ASSIGN_PUBLIC_IP",
    "PREQUEL_SANDBOX",
    "PREQUEL_SANDBOX_LIMITS",
    "PREQUEL_SANDBOX_MAX",
    "PREQUEL_SANDBOX_TOOLS",
    "PREQUEL_SANDBOX_CGROUP",
    "PREQUEL_SANDBOX_UIDS",
];

/// `prequel` with none of its variables set from outside.
pub fn prequel() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_prequel"));
    for var in PREQUEL_VARS {
        command.env_remove(var);
    }
    command.stdin(Stdio::null());
    command
}

/// Writes straight to the process's stderr: the test harness captures `eprintln!` of passing
/// tests, and a skip must be seen.
pub fn loud(message: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{message}");
}

/// The code-server executable from `PREQUEL_CODE_SERVER`. When it is not set: outside CI the
/// test prints a loud `SKIPPED:` line and gets `None`; under `CI=true` the test fails, because
/// CI must run every test (`./scripts/install-code-server` prints the path to export).
pub fn code_server(test: &str) -> Option<PathBuf> {
    match std::env::var_os("PREQUEL_CODE_SERVER").filter(|v| !v.is_empty()) {
        Some(path) => Some(PathBuf::from(path)),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "{test} needs code-server: set PREQUEL_CODE_SERVER (see ./scripts/install-code-server)"
        ),
        None => {
            loud(&format!(
                "SKIPPED: {test}: code-server is not available; \
                 export PREQUEL_CODE_SERVER=\"$(./scripts/install-code-server)\" to run it"
            ));
            None
        }
    }
}

/// A challenges folder with one valid challenge, `python`.
pub fn challenges() -> std::io::Result<TempDir> {
    let dir = tempfile::tempdir()?;
    write_challenges(dir.path())?;
    Ok(dir)
}

/// Writes one valid challenge, `python`, into `dir`.
pub fn write_challenges(dir: &Path) -> std::io::Result<()> {
    let python = dir.join("python");
    std::fs::create_dir_all(python.join("starter"))?;
    std::fs::write(
        python.join("challenge.toml"),
        "id = \"python\"\ntitle = \"Test\"\nlanguage = \"python\"\n\
         description = \"A test challenge.\"\ndefault_duration = \"1h\"\n",
    )?;
    std::fs::write(python.join("starter/main.py"), "print('hello')\n")
}

/// How to start a server.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// The code-server executable.
    pub code_server: PathBuf,
    /// The challenges folder (default: a temporary one with `python`, see [`challenges`]).
    pub challenges: Option<PathBuf>,
    /// The data dir (default: a fresh temporary one).
    pub data_dir: Option<PathBuf>,
    /// More arguments after `serve`.
    pub args: Vec<String>,
    /// More environment variables.
    pub env: Vec<(String, String)>,
    /// Run serve as this (unprivileged) user id, through `setpriv`, instead of as the test.
    pub run_as: Option<u32>,
}

impl ServeOptions {
    /// The defaults with this code-server.
    pub fn new(code_server: impl Into<PathBuf>) -> Self {
        Self {
            code_server: code_server.into(),
            challenges: None,
            data_dir: None,
            args: Vec::new(),
            env: Vec::new(),
            run_as: None,
        }
    }
}

/// A running `prequel serve`, stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    /// Its data dir (holds `admin-token`).
    pub data_dir: PathBuf,
    stdout: PathBuf,
    stderr: PathBuf,
    _temp: TempDir,
}

/// How long a server may take to say it is serving and answer `/healthz`.
const START_TIMEOUT: Duration = Duration::from_secs(60);

impl Server {
    /// Starts `prequel serve` on a free loopback port (`--listen 127.0.0.1:0`; the port is read
    /// from its `prequel serving on …` line, so no other process can take it in between) and
    /// waits until `/healthz` answers.
    pub fn start(options: ServeOptions) -> Result<Self, String> {
        let temp = tempfile::tempdir().map_err(|e| e.to_string())?;
        let data_dir = options
            .data_dir
            .clone()
            .unwrap_or_else(|| temp.path().join("data"));
        let challenges = match &options.challenges {
            Some(dir) => dir.clone(),
            None => {
                let dir = temp.path().join("challenge");
                write_challenges(&dir).map_err(|e| e.to_string())?;
                dir
            }
        };
        let stdout = temp.path().join("serve.stdout");
        let stderr = temp.path().join("serve.stderr");
        let file = |path: &Path| std::fs::File::create(path).map_err(|e| e.to_string());
        let mut command = match options.run_as {
            None => prequel(),
            Some(uid) => {
                let mut command = Command::new("setpriv");
                for var in PREQUEL_VARS {
                    command.env_remove(var);
                }
                command
                    .args([format!("--reuid={uid}"), format!("--regid={uid}")])
                    .args(["--clear-groups", "--"])
                    .arg(env!("CARGO_BIN_EXE_prequel"))
                    .stdin(Stdio::null());
                command
            }
        };
        let child = command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&data_dir)
            .arg("--challenges")
            .arg(&challenges)
            .arg("--code-server")
            .arg(&options.code_server)
            // The challenges' Python inside the sandboxes, as `./scripts/test` installed it.
            .envs(
                std::env::var_os("PREQUEL_SANDBOX_TOOLS")
                    .map(|tools| ("PREQUEL_SANDBOX_TOOLS", tools)),
            )
            .args(&options.args)
            .envs(options.env.iter().map(|(k, v)| (k, v)))
            .stdout(file(&stdout)?)
            .stderr(file(&stderr)?)
            .spawn()
            .map_err(|e| format!("cannot run prequel serve: {e}"))?;
        let mut server = Self {
            child,
            url: String::new(),
            data_dir,
            stdout,
            stderr,
            _temp: temp,
        };
        server.url = server.wait_for_announcement()?;
        server.wait_for_health()?;
        Ok(server)
    }

    fn wait_for_announcement(&mut self) -> Result<String, String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let out = std::fs::read_to_string(&self.stdout).unwrap_or_default();
            if let Some(rest) = out
                .lines()
                .find_map(|l| l.strip_prefix("prequel serving on "))
            {
                let url = rest.split_whitespace().next().unwrap_or_default();
                return Ok(url.to_owned());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("prequel serve exited ({status}):\n{}", self.log()));
            }
            if Instant::now() > deadline {
                return Err(format!("prequel serve did not start:\n{}", self.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn wait_for_health(&self) -> Result<(), String> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match get(&self.url, "/healthz", None) {
                Ok((200, _)) => return Ok(()),
                _ if Instant::now() > deadline => {
                    return Err(format!("/healthz never answered:\n{}", self.log()));
                }
                _ => std::thread::sleep(Duration::from_millis(50)),
            }
        }
    }

    /// The admin token the server wrote into its data dir.
    pub fn token(&self) -> String {
        std::fs::read_to_string(self.data_dir.join("admin-token"))
            .map(|t| t.trim().to_owned())
            .unwrap_or_default()
    }

    /// What the server printed so far, stdout then stderr.
    pub fn log(&self) -> String {
        let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
        format!("{}{}", read(&self.stdout), read(&self.stderr))
    }

    /// Runs `prequel interview ARGS…` against this server, its token read from its data dir
    /// (the flags go first, then the words).
    pub fn interview(&self, args: &[&str]) -> std::io::Result<Output> {
        prequel()
            .args(["interview", "--server", &self.url])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(args)
            .output()
    }

    /// `prequel token ARGS…` against this server, with its data dir (so its admin token).
    pub fn token_cli(&self, args: &[&str]) -> std::io::Result<Output> {
        prequel()
            .args(["token", "--server", &self.url])
            .arg("--data-dir")
            .arg(&self.data_dir)
            .args(args)
            .output()
    }

    /// Stops the server with SIGTERM, as an operator would, and returns how it exited.
    pub fn stop(&mut self) -> std::io::Result<ExitStatus> {
        if let Some(status) = self.child.try_wait()? {
            return Ok(status);
        }
        // `kill` rather than libc: the workspace forbids unsafe code.
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()?;
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                return Ok(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        self.child.kill()?;
        self.child.wait()
    }
}

impl Server {
    /// Kills the server with SIGKILL, as a crash or the OOM killer would: no cleanup runs.
    pub fn kill9(&mut self) -> std::io::Result<()> {
        self.child.kill()?;
        self.child.wait().map(|_| ())
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.stop().is_err() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A loopback port nothing listens on (bound, then released).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Sends one HTTP/1.1 request as given and returns the whole response (head and body), for
/// tests that look at headers.
pub fn http_raw(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<String> {
    let authority = base
        .trim_start_matches("http://")
        .split('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let mut stream = TcpStream::connect(&authority)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    Ok(String::from_utf8_lossy(&response).into_owned())
}

/// Sends one HTTP/1.1 request as given and returns the status and the body.
pub fn http(
    base: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> std::io::Result<(u16, String)> {
    let response = http_raw(base, method, path, headers, body)?;
    let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_owned()))
}

/// `GET path`, with the token if given.
pub fn get(base: &str, path: &str, token: Option<&str>) -> std::io::Result<(u16, String)> {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth.iter().map(|a| ("Authorization", a.as_str())).collect();
    http(base, "GET", path, &headers, "")
}

// ---------------------------------------------------------------------------------------------
// Log capture: every log line of this test binary, to check no password is ever logged.
// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
struct LogBuffer(Arc<Mutex<Vec<u8>>>);

impl Write for LogBuffer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of this test binary, captured by the one global subscriber this function
/// installs on first use (so every module checks the same capture). `None` only if something
/// else installed a subscriber first.
pub fn captured_log() -> Option<Arc<Mutex<Vec<u8>>>> {
    static LOG: OnceLock<Option<Arc<Mutex<Vec<u8>>>>> = OnceLock::new();
    LOG.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = LogBuffer(buffer.clone());
        tracing_subscriber::fmt()
            .with_env_filter("trace")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init()
            .ok()
            .map(|()| buffer)
    })
    .clone()
}

/// Fails if `secret` was ever logged by this test binary (a capture of every level).
pub fn assert_not_logged(secret: &str) {
    match captured_log() {
        Some(log) => {
            let log = log
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let text = String::from_utf8_lossy(&log);
            assert!(!text.is_empty(), "the log capture saw nothing");
            assert!(!text.contains(secret), "the password was logged");
        }
        None => panic!("the log capture could not be installed: log lines cannot be checked"),
    }
}

// ---------------------------------------------------------------------------------------------
// Processes: what still runs of an instance, read from /proc.
// ---------------------------------------------------------------------------------------------

/// A process seen in /proc.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ProcessSeen {
    /// Its pid.
    pub pid: u32,
    /// Its process group.
    pub pgid: u32,
}

/// Live processes of a data dir's instances: in their sandboxes' cgroups
/// (`…/<key>/<id>`, see `cgroup_key`) or, for instances without the sandbox, naming an
/// instance folder on their command line. Zombies are left out.
pub fn instance_processes(data_dir: &Path) -> Vec<ProcessSeen> {
    instance_processes_of(data_dir, None)
}

/// Live processes of one interview's instance (see [`instance_processes`]).
pub fn interview_processes(data_dir: &Path, interview: &str) -> Vec<ProcessSeen> {
    instance_processes_of(data_dir, Some(interview))
}

fn instance_processes_of(data_dir: &Path, interview: Option<&str>) -> Vec<ProcessSeen> {
    let resolved = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_owned());
    let key = prequel_core::provision::local::cgroup_key(&resolved);
    // `…/prequel/<key>/<id>` as root, `…/<delegated cgroup>/<key>/<id>` unprivileged.
    let group = match interview {
        Some(id) => format!("/{key}/{id}\n"),
        None => format!("/{key}/"),
    };
    let folder = match interview {
        Some(id) => resolved.join("instances").join(id),
        None => resolved.join("instances"),
    };
    let folder = folder.display().to_string();
    live_processes_with_cgroup(|cmdline, cgroups| {
        cgroups.contains(&group) || String::from_utf8_lossy(cmdline).contains(&folder)
    })
}

/// Runs `script` with `sh` inside an interview's running sandbox, the way its VS Code terminal
/// does (see `prequel_core::testkit::sandbox::run_inside`). Needs root.
pub fn run_inside(data_dir: &Path, interview: &str, script: &str) -> Output {
    let pids: Vec<u32> = interview_processes(data_dir, interview)
        .into_iter()
        .map(|p| p.pid)
        .collect();
    prequel_core::testkit::sandbox::run_inside(&pids, script)
}

/// Whether process `pid` runs (exists and is not a zombie waiting to be reaped).
pub fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

/// How many code-servers run for an interview: its sandbox's main code-server processes (a
/// sandbox is one bwrap with one code-server in it).
pub fn code_servers(data_dir: &Path, interview: &str) -> usize {
    interview_processes(data_dir, interview)
        .iter()
        .filter(|process| {
            let cmdline =
                std::fs::read(format!("/proc/{}/cmdline", process.pid)).unwrap_or_default();
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            !cmdline.contains("bwrap") && cmdline.contains("--socket /run/prequel/code-server.sock")
        })
        .count()
}

/// Live processes whose command line mentions `needle` (a folder of an instance), with their
/// process groups. Zombies are left out: they are dead, waiting for the machine's init (which
/// adopted them) to reap them on its own schedule.
pub fn processes_mentioning(needle: &str) -> Vec<ProcessSeen> {
    live_processes(|cmdline, _| String::from_utf8_lossy(cmdline).contains(needle))
}

/// Live processes of group `pgid`.
pub fn live_members_of_group(pgid: u32) -> Vec<u32> {
    live_processes(|_, group| group == pgid)
        .into_iter()
        .map(|p| p.pid)
        .collect()
}

/// Live processes for which `wanted(cmdline, /proc/<pid>/cgroup)` holds.
fn live_processes_with_cgroup(wanted: impl Fn(&[u8], &str) -> bool) -> Vec<ProcessSeen> {
    live_processes(|_, _| true)
        .into_iter()
        .filter(|process| {
            let cmdline =
                std::fs::read(format!("/proc/{}/cmdline", process.pid)).unwrap_or_default();
            let mut cgroups = std::fs::read_to_string(format!("/proc/{}/cgroup", process.pid))
                .unwrap_or_default();
            cgroups.push('\n');
            wanted(&cmdline, &cgroups)
        })
        .collect()
}

fn live_processes(wanted: impl Fn(&[u8], u32) -> bool) -> Vec<ProcessSeen> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter_map(|entry| {
            let pid = entry.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // Fields after the command (field 2, which may hold spaces): state, ppid, pgrp.
            let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
            let state = fields.next()?;
            let pgid = fields.nth(1)?.parse::<u32>().ok()?;
            let cmdline = std::fs::read(entry.path().join("cmdline")).ok()?;
            (state != "Z" && wanted(&cmdline, pgid)).then_some(ProcessSeen { pid, pgid })
        })
        .collect()
}

/// Kills (SIGKILL) whatever still runs from an instances folder when dropped: a failing test
/// must not leave code-server behind (a stopped server leaves its instances up on purpose).
pub struct KillInstancesOnDrop(pub PathBuf);

impl Drop for KillInstancesOnDrop {
    fn drop(&mut self) {
        let Some(data_dir) = self.0.parent() else {
            return;
        };
        let resolved = std::fs::canonicalize(data_dir).unwrap_or_else(|_| data_dir.to_owned());
        for _ in 0..3 {
            for process in instance_processes(data_dir) {
                let _ = Command::new("kill")
                    .args(["-KILL", &process.pid.to_string()])
                    .status();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        // What a serve killed mid-teardown leaves of its sandboxes: empty cgroups and uid claims.
        let key = prequel_core::provision::local::cgroup_key(&resolved);
        for controller in ["memory", "pids", "cpu", "freezer", ""] {
            let parent = Path::new("/sys/fs/cgroup")
                .join(controller)
                .join("prequel")
                .join(&key);
            if let Ok(groups) = std::fs::read_dir(&parent) {
                for group in groups.flatten() {
                    let _ = std::fs::remove_dir(group.path());
                }
                let _ = std::fs::remove_dir(&parent);
            }
        }
        let instances = resolved.join("instances").display().to_string();
        let claims = Path::new(prequel_core::provision::local::DEFAULT_CLAIMS_DIR);
        if let Ok(entries) = std::fs::read_dir(claims) {
            for entry in entries.flatten() {
                if std::fs::read_to_string(entry.path())
                    .is_ok_and(|owner| owner.starts_with(&instances))
                {
                    let _ = std::fs::remove_file(entry.path());
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The JSON API, as a script would use it: the admin token from the server's data dir.
// ---------------------------------------------------------------------------------------------

/// `GET path` with the admin token; panics unless the answer is 200 with JSON.
pub fn api_get(server: &Server, path: &str) -> serde_json::Value {
    let (status, body) =
        get(&server.url, path, Some(&server.token())).unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
}

/// `POST /api/commands` with the words `text` (as the user `api`); the status and the JSON
/// answer.
pub fn api_command(server: &Server, text: &str) -> (u16, serde_json::Value) {
    let auth = format!("Bearer {}", server.token());
    let body = serde_json::json!({ "text": text }).to_string();
    let (status, answer) = http(
        &server.url,
        "POST",
        "/api/commands",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        &body,
    )
    .unwrap_or_else(|e| panic!("POST /api/commands {text:?}: {e}"));
    let answer = serde_json::from_str(&answer)
        .unwrap_or_else(|e| panic!("POST /api/commands {text:?}: not JSON ({e}): {answer}"));
    (status, answer)
}

/// Every interview the server lists (`all`: the finished ones too), through every page.
pub fn api_list_all(server: &Server, all: bool) -> Vec<serde_json::Value> {
    let mut found = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/api/interviews?limit=500&all={all}");
        if let Some(token) = &after {
            path.push_str(&format!("&after={token}"));
        }
        let page = api_get(server, &path);
        found.extend(page["interviews"].as_array().cloned().unwrap_or_default());
        match page["next"].as_str() {
            Some(token) => after = Some(token.to_owned()),
            None => return found,
        }
    }
}

/// Opens `GET /api/events` (HTTP/1.0: the body comes as it is, not in chunks whose size lines
/// could split a secret), resuming after `last_event_id` if given, and reads frames into a
/// string until `done` says the text so far is enough; fails after two minutes.
fn read_events(server: &Server, last_event_id: Option<u64>, done: impl Fn(&str) -> bool) -> String {
    const LIMIT: Duration = Duration::from_secs(120);
    let authority = server.url.trim_start_matches("http://").to_owned();
    let mut stream = TcpStream::connect(&authority).expect("connect for the event stream");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set a read timeout");
    let resume = last_event_id
        .map(|id| format!("Last-Event-ID: {id}\r\n"))
        .unwrap_or_default();
    let request = format!(
        "GET /api/events HTTP/1.0\r\nHost: {authority}\r\nAuthorization: Bearer {}\r\n\
         Accept: text/event-stream\r\n{resume}\r\n",
        server.token()
    );
    stream
        .write_all(request.as_bytes())
        .expect("ask for the event stream");
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0_u8; 64 * 1024];
    loop {
        let text = String::from_utf8_lossy(&received);
        if done(&text) {
            return text.into_owned();
        }
        assert!(
            started.elapsed() < LIMIT,
            "the event stream did not get there in {LIMIT:?}; it sent {} bytes",
            received.len()
        );
        match stream.read(&mut buffer) {
            Ok(0) => panic!("the event stream ended early: {text}"),
            Ok(n) => received.extend_from_slice(&buffer[..n]),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("reading the event stream: {e}"),
        }
    }
}

/// The whole event stream replayed from the store's first change (`Last-Event-ID: 0`): every
/// change any replica made, as SSE frames. Read until a frame carries the store's newest cursor
/// (what a fresh stream's `connection` frame names), so the replay is complete however slowly
/// the store serves it.
pub fn replayed_events(server: &Server) -> String {
    let connection = |text: &str| {
        event_data(text, "connection")
            .first()
            .and_then(|c| c["cursor"].as_u64())
    };
    let fresh = read_events(server, None, |text| connection(text).is_some());
    let newest = connection(&fresh).expect("a connection frame");
    read_events(server, Some(0), |text| {
        text.lines()
            .filter_map(|l| l.strip_prefix("id:")?.trim().parse::<u64>().ok())
            .any(|id| id >= newest)
    })
}

/// The `data:` objects of SSE frames named `event`.
pub fn event_data(stream: &str, event: &str) -> Vec<serde_json::Value> {
    let mut found = Vec::new();
    let mut current = String::new();
    for line in stream.lines() {
        if let Some(name) = line.strip_prefix("event:") {
            current = name.trim().to_owned();
        } else if let Some(data) = line.strip_prefix("data:")
            && current == event
            && let Ok(value) = serde_json::from_str(data.trim())
        {
            found.push(value);
        }
    }
    found
}

/// Fails if any of `secrets` (the interviews' passwords) is in what the servers show: each
/// one's log, its listing of every interview, its status page, the event stream replayed from
/// the store's first change, and the `extra` (place, text) pairs the test gathered (logs of
/// servers gone, answers it kept). Every place must hold something, or nothing was scanned.
pub fn assert_no_secret_shown(
    servers: &[Server],
    secrets: &[String],
    extra: Vec<(String, String)>,
) {
    assert!(!secrets.is_empty(), "the run collected secrets to look for");
    let mut places = extra;
    for (n, server) in servers.iter().enumerate() {
        places.push((format!("server {n}'s log"), server.log()));
        places.push((
            format!("server {n}'s listing"),
            serde_json::Value::Array(api_list_all(server, true)).to_string(),
        ));
        let (status, page) =
            get(&server.url, "/", Some(&server.token())).expect("GET the status page");
        assert_eq!(status, 200, "the status page: {page}");
        places.push((format!("server {n}'s status page"), page));
    }
    if let Some(server) = servers.first() {
        places.push(("the replayed event stream".into(), replayed_events(server)));
    }
    for (place, text) in &places {
        assert!(!text.is_empty(), "{place} is empty: nothing was scanned");
        for secret in secrets {
            assert!(!text.contains(secret.as_str()), "a password is in {place}");
        }
    }
    loud(&format!(
        "secrets: {} passwords looked for in {} places ({} bytes): none found",
        secrets.len(),
        places.len(),
        places.iter().map(|(_, t)| t.len()).sum::<usize>()
    ));
}

/// The repository's own challenges (`challenge/` at the workspace root).
pub fn repository_challenges() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../challenge")
}

impl Server {
    /// Runs `prequel interview --json ARGS…` and returns its JSON answer; a failure shows the
    /// command's output and the server's log.
    pub fn interview_json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.interview(&all).expect("run prequel interview");
        assert!(
            out.status.success(),
            "prequel interview {args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        serde_json::from_slice(&out.stdout).expect("one JSON object on stdout")
    }

    /// `GET path` on the API with the admin token: the JSON answer (200 asserted).
    pub fn api_get(&self, path: &str) -> Value {
        let (status, body) = get(&self.url, path, Some(&self.token())).expect("GET from the API");
        assert_eq!(status, 200, "{path}: {body}");
        serde_json::from_str(&body).expect("JSON")
    }

    /// `GET /api/interviews/{id}` → the interview object.
    pub fn fetch_interview(&self, id: &str) -> Value {
        self.api_get(&format!("/api/interviews/{id}"))["interview"].clone()
    }

    /// Waits until interview `id` has status `wanted`, for at most `within`, and returns it.
    pub fn wait_for_status(&self, id: &str, wanted: &str, within: Duration) -> Value {
        let deadline = Instant::now() + within;
        loop {
            let interview = self.fetch_interview(id);
            if interview["status"] == wanted {
                return interview;
            }
            assert!(
                Instant::now() < deadline,
                "interview {id} never became {wanted}: {interview}\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}
