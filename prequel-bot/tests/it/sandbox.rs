//! The sandbox through `prequel serve` as operators run it: a candidate in headless Chromium
//! reads "No such file" for the admin token in VS Code's terminal; a fork bomb in one instance
//! leaves serve answering and the next instance logging in; serve on a host without bubblewrap
//! refuses to start in one line, and with `--sandbox off` starts and warns. The attacks from
//! inside a sandbox, one by one, are prequel-core's `sandbox.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    self, KillInstancesOnDrop, ServeOptions, Server, interview_processes, run_inside,
};

/// `prequel interview --json now 30m python` on `server`: the active interview.
fn now(server: &Server) -> Value {
    let out = server
        .interview(&["--json", "now", "30m", "python"])
        .expect("run prequel interview");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON answer")
}

fn field(value: &Value, name: &str) -> String {
    value[name]
        .as_str()
        .unwrap_or_else(|| panic!("{name} in {value}"))
        .to_owned()
}

/// The `pct` percentile of `samples` (sorted in place).
fn percentile(samples: &mut [Duration], pct: f64) -> Duration {
    samples.sort_unstable();
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )]
    let index = ((samples.len() as f64 - 1.0) * pct / 100.0).round() as usize;
    samples[index]
}

/// `n` requests to serve's `/healthz` one after another; each must answer 200 (within the HTTP
/// client's own timeout). Their times.
fn healthz_times(server: &Server, n: usize) -> Vec<Duration> {
    (0..n)
        .map(|_| {
            let began = Instant::now();
            let (status, _) = support::get(&server.url, "/healthz", None).expect("GET /healthz");
            assert_eq!(status, 200, "/healthz");
            let took = began.elapsed();
            std::thread::sleep(Duration::from_millis(10));
            took
        })
        .collect()
}

#[test]
fn in_vs_codes_terminal_the_candidate_gets_no_such_file_for_the_admin_token() {
    let Some(code_server) = support::code_server("the terminal test") else {
        return;
    };
    let playwright = std::env::var("PREQUEL_PLAYWRIGHT_CORE")
        .ok()
        .filter(|p| !p.is_empty());
    let Some(playwright) = playwright else {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true needs Chromium and playwright-core: run ./scripts/setup-test-tools"
        );
        support::loud("SKIPPED: terminal test: PREQUEL_PLAYWRIGHT_CORE is not set");
        return;
    };
    let mut options = ServeOptions::new(code_server);
    options.challenges = Some(support::repository_challenges());
    let server = Server::start(options).expect("serve starts");
    let _cleanup = KillInstancesOnDrop(server.data_dir.join("instances"));
    let created = now(&server);
    let (id, url, password) = (
        field(&created, "id"),
        field(&created, "access_url"),
        field(&created, "password"),
    );
    // xterm.js draws the terminal on a canvas unless GPU rendering is off; off, its rows are text
    // in the page the script can read. (A candidate may set it too; nothing else changes.)
    let settings = server
        .data_dir
        .join("instances")
        .join(&id)
        .join("home/.local/share/code-server/User/settings.json");
    let mut values: Value =
        serde_json::from_slice(&std::fs::read(&settings).expect("settings")).expect("JSON");
    values["terminal.integrated.gpuAcceleration"] = "off".into();
    std::fs::write(&settings, values.to_string()).expect("write settings");

    let token = std::fs::canonicalize(server.data_dir.join("admin-token")).expect("token path");
    let artifacts = std::env::var_os("PREQUEL_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&artifacts).expect("artifacts folder");
    let screenshot = artifacts.join("sandbox-terminal-admin-token.png");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/terminal.mjs");
    let out = Command::new("node")
        .arg(&script)
        .arg(&url)
        .arg(&screenshot)
        .env("PREQUEL_TEST_PASSWORD", &password)
        .env("PREQUEL_TEST_COMMAND", format!("cat {}", token.display()))
        .env("PREQUEL_PLAYWRIGHT_CORE", &playwright)
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "the browser script failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("the script prints JSON");
    assert_eq!(report["login"], "ok", "{report}");
    let screen = report["screen"].as_str().unwrap_or_default();
    assert!(
        screen.contains(&format!("{}: No such file or directory", token.display())),
        "the terminal shows: {screen}"
    );
    assert!(screen.contains("candidate@interview"), "{screen}");
    assert!(
        !screen.contains(&server.token()),
        "the token is on the screen"
    );
    assert!(screenshot.is_file());
    support::loud(&format!(
        "sandbox terminal screenshot: {}",
        screenshot.display()
    ));
}

#[test]
fn a_fork_bomb_in_one_instance_leaves_serve_answering_and_the_next_instance_logging_in() {
    let Some(code_server) = support::code_server("the fork bomb test") else {
        return;
    };
    let mut options = ServeOptions::new(code_server);
    options.challenges = Some(support::repository_challenges());
    let server = Server::start(options).expect("serve starts");
    let _cleanup = KillInstancesOnDrop(server.data_dir.join("instances"));
    let bomber = now(&server);
    let neighbour = now(&server);
    let bomber_id = field(&bomber, "id");

    let mut before = healthz_times(&server, 200);
    // A runaway allocation first: stopped at the instance's memory limit, not the machine's.
    let allocation = run_inside(
        &server.data_dir,
        &bomber_id,
        "python3 -c 'b = bytearray(4 << 30)'",
    );
    assert!(
        !allocation.status.success(),
        "4 GiB were allocated in a 2 GiB sandbox"
    );

    let data_dir = server.data_dir.clone();
    let id = bomber_id.clone();
    let bomb = std::thread::spawn(move || {
        run_inside(
            &data_dir,
            &id,
            "timeout -s KILL 20 bash -c 'bomb() { bomb | bomb & }; bomb' 2>/dev/null",
        )
    });
    std::thread::sleep(Duration::from_secs(3));
    let tasks = interview_processes(&server.data_dir, &bomber_id).len();
    assert!(tasks > 50, "the bomb did not get going: {tasks} processes");
    let mut during = healthz_times(&server, 200);
    let login = support::http_raw(
        &field(&neighbour, "access_url"),
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &format!("password={}", field(&neighbour, "password")),
    )
    .expect("POST /login");
    assert!(
        login.contains("code-server-session="),
        "the neighbour could not log in: {login}"
    );
    let still = interview_processes(&server.data_dir, &bomber_id).len();
    assert!(
        still <= 512,
        "{still} processes in a sandbox limited to 512 tasks"
    );
    let _ = bomb.join();

    let (p99_before, p99_during) = (percentile(&mut before, 99.0), percentile(&mut during, 99.0));
    #[allow(clippy::cast_precision_loss)]
    let ratio = p99_during.as_secs_f64() / p99_before.as_secs_f64();
    support::loud(&format!(
        "sandbox fork bomb: serve /healthz p99 {:.2} ms before, {:.2} ms during ({ratio:.2}×); \
         {tasks} processes in the bomber's sandbox",
        p99_before.as_secs_f64() * 1000.0,
        p99_during.as_secs_f64() * 1000.0,
    ));

    let out = server
        .interview(&["--json", "destroy", &bomber_id])
        .expect("destroy");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let detail = support::api_get(&server, &format!("/api/interviews/{bomber_id}"));
        if detail["interview"]["status"] == "destroyed" {
            break;
        }
        assert!(Instant::now() < deadline, "never destroyed: {detail}");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        interview_processes(&server.data_dir, &bomber_id).is_empty(),
        "processes of the bomb survived destroy"
    );
}

#[test]
fn serve_without_bubblewrap_refuses_in_one_line_and_with_the_sandbox_off_starts_and_warns() {
    // Any executable will do as code-server: serve must stop before it would start one.
    let data = tempfile::tempdir().expect("data dir");
    let challenges = tempfile::tempdir().expect("challenges");
    support::write_challenges(challenges.path()).expect("challenges");
    let serve = |extra: &[&str]| {
        let mut command = support::prequel();
        command
            .arg("serve")
            .args(["--listen", "127.0.0.1:0", "--code-server", "/bin/true"])
            .arg("--data-dir")
            .arg(data.path())
            .arg("--challenges")
            .arg(challenges.path())
            .args(extra)
            // A host without bubblewrap: nothing on PATH.
            .env("PATH", "/nonexistent");
        command
    };
    let refused = serve(&[]).output().expect("run serve");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    assert!(
        last.starts_with(
            "error: cannot start the local provisioner: the sandbox for interview \
             instances cannot be made on this host: bubblewrap (bwrap) is not on PATH; install \
             it: apt-get install bubblewrap"
        ),
        "{stderr}"
    );
    assert!(last.contains("--sandbox off"), "{last}");
    assert!(
        String::from_utf8_lossy(&refused.stdout).is_empty(),
        "it announced itself"
    );
    assert!(
        !data
            .path()
            .join("instances")
            .join(".sandbox-probe")
            .exists()
    );

    let mut started = serve(&["--sandbox", "off"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run serve");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut out = Vec::new();
    let mut stdout = started.stdout.take().expect("stdout");
    use std::io::Read as _;
    let mut buf = [0u8; 256];
    while !String::from_utf8_lossy(&out).contains("prequel serving on") && Instant::now() < deadline
    {
        match stdout.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    let _ = Command::new("kill")
        .args(["-TERM", &started.id().to_string()])
        .status();
    let finished = started.wait_with_output().expect("serve stops");
    let log = String::from_utf8_lossy(&finished.stderr);
    assert!(
        String::from_utf8_lossy(&out).contains("prequel serving on"),
        "{log}"
    );
    assert!(
        log.contains(
            "the sandbox is off (--sandbox off): each candidate's terminal runs as this \
                      server's user, so a candidate can read the data dir (the admin token"
        ),
        "{log}"
    );
}

/// cgroup v1 folders handed to an unprivileged user, removed (with what serve made in them)
/// when dropped.
struct DelegatedCgroup {
    name: String,
}

impl DelegatedCgroup {
    const CONTROLLERS: [&str; 4] = ["memory", "pids", "cpu", "freezer"];

    fn hand_to(uid: u32) -> Option<Self> {
        let name = format!("prequel-unprivileged-test-{}", std::process::id());
        for controller in Self::CONTROLLERS {
            let dir = Path::new("/sys/fs/cgroup").join(controller).join(&name);
            if std::fs::create_dir_all(&dir).is_err() {
                return None;
            }
            let owned = Command::new("chown")
                .arg("-R")
                .arg(format!("{uid}:{uid}"))
                .arg(&dir)
                .status()
                .is_ok_and(|s| s.success());
            if !owned {
                return None;
            }
        }
        Some(Self { name })
    }
}

impl Drop for DelegatedCgroup {
    fn drop(&mut self) {
        for controller in Self::CONTROLLERS {
            // Deepest first: instance groups, the data dir's, then ours.
            let _ = Command::new("find")
                .arg(
                    Path::new("/sys/fs/cgroup")
                        .join(controller)
                        .join(&self.name),
                )
                .args(["-depth", "-type", "d", "-exec", "rmdir", "{}", ";"])
                .status();
        }
    }
}

#[test]
fn an_unprivileged_serve_sandboxes_its_instances_in_a_user_namespace() {
    let Some(code_server) = support::code_server("the unprivileged sandbox test") else {
        return;
    };
    // Root sets the scene (a user, a cgroup handed to it); serve then runs as that user.
    if !nix::unistd::geteuid().is_root() {
        assert_ne!(
            std::env::var("CI").as_deref(),
            Ok("true"),
            "CI=true runs the tests as root"
        );
        support::loud("SKIPPED: the unprivileged sandbox test needs root to hand out a cgroup");
        return;
    }
    let uid = 1_899_900_000 + std::process::id() % 10_000;
    let data = tempfile::tempdir().expect("data dir");
    let data_dir = data.path().join("data");
    std::fs::create_dir(&data_dir).expect("data dir");
    std::os::unix::fs::chown(&data_dir, Some(uid), Some(uid)).expect("hand the data dir over");
    let mut options = ServeOptions::new(code_server);
    options.challenges = Some(support::repository_challenges());
    options.data_dir = Some(data_dir.clone());
    options.run_as = Some(uid);

    // On cgroup v1 an unprivileged serve cannot make cgroups: it refuses, saying how to fix it.
    let refused = Server::start(options.clone()).expect_err("no cgroup of its own");
    assert!(
        refused.contains(
            "serve runs unprivileged on cgroup v1, where it cannot make cgroups of \
                          its own; run serve as root, or as root create and hand it a cgroup"
        ),
        "{refused}"
    );
    let delegated = DelegatedCgroup::hand_to(uid).expect("a cgroup handed to the user");
    // Dropped before `delegated`, even on a failure: the processes go, then their cgroups.
    let _cleanup = KillInstancesOnDrop(data_dir.join("instances"));
    options.args = vec!["--sandbox-cgroup".into(), delegated.name.clone()];
    let server = Server::start(options).expect("serve starts unprivileged");
    assert!(
        server
            .log()
            .contains("unprivileged, candidates mapped onto serve's uid"),
        "{}",
        server.log()
    );
    let created = now(&server);
    let (id, url, password) = (
        field(&created, "id"),
        field(&created, "access_url"),
        field(&created, "password"),
    );
    let login = support::http_raw(
        &url,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &format!("password={password}"),
    )
    .expect("POST /login");
    assert!(login.contains("code-server-session="), "{login}");

    // On the host, the candidate's processes are serve's user; inside, user 1000 in a world of
    // its own: no data dir, only its own processes, no network.
    let processes = interview_processes(&data_dir, &id);
    assert!(!processes.is_empty());
    for process in &processes {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", process.pid)).unwrap_or_default();
        let host_uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|u| u.split_whitespace().next())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(host_uid, uid.to_string(), "pid {}", process.pid);
    }
    let token = data_dir.join("admin-token");
    let inside = run_inside(
        &data_dir,
        &id,
        &format!(
            "id -u; cat '{}' 2>&1; ls -d /proc/[0-9]* | wc -l; timeout 5 bash -c 'echo > /dev/tcp/127.0.0.1/{}' 2>&1 || echo no-api",
            token.display(),
            server.url.rsplit(':').next().unwrap_or_default()
        ),
    );
    let text = String::from_utf8_lossy(&inside.stdout).into_owned();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("1000"), "{text}");
    assert!(text.contains("No such file or directory"), "{text}");
    assert!(text.contains("no-api"), "{text}");
    let visible: usize = text
        .lines()
        .nth(2)
        .and_then(|l| l.trim().parse().ok())
        .expect("a process count");
    assert!(visible < 40, "{text}");

    let out = server
        .interview(&["--json", "destroy", &id])
        .expect("destroy");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while support::api_get(&server, &format!("/api/interviews/{id}"))["interview"]["status"]
        != "destroyed"
    {
        assert!(
            Instant::now() < deadline,
            "never destroyed:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(interview_processes(&data_dir, &id).is_empty());
    drop(server);
    drop(delegated);
}
