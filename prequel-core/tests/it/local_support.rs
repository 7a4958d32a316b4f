//! What the local provisioner's tests share: finding code-server, a provisioner on a fresh data
//! folder (sandboxed unless a test says otherwise) that cleans up on drop, HTTP over plain
//! sockets, `/proc`, and entering a running sandbox the way its VS Code terminal does.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use prequel_core::challenge::DirChallenges;
use prequel_core::domain::{ChallengeId, InterviewId};
use prequel_core::provision::Provisioner;
use prequel_core::provision::local::{
    INSTANCE_ENV, LocalConfig, LocalProvisioner, find_code_server,
};
use prequel_core::testkit::provisioner_conformance::{
    ProvisionerFixture, ProvisionerHarness, RecordingProgress,
};
use prequel_core::testkit::sandbox as testkit_sandbox;

/// The code-server to test with, or `None` (after saying so) when it is not installed outside
/// CI.
pub fn code_server() -> Option<PathBuf> {
    static FOUND: OnceLock<Option<PathBuf>> = OnceLock::new();
    FOUND.get_or_init(locate_code_server).clone()
}

fn locate_code_server() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("PREQUEL_CODE_SERVER") {
        let path = PathBuf::from(path);
        assert!(
            path.is_file(),
            "PREQUEL_CODE_SERVER={} is not a file; run ./scripts/install-code-server",
            path.display()
        );
        return Some(path);
    }
    // Where `./scripts/install-code-server` puts it when run from the repository root.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the crate is inside the workspace");
    let data_dir = root.join(".prequel");
    match find_code_server(None, &data_dir) {
        Ok(path) => Some(path),
        Err(missing) if in_ci() => {
            panic!(
                "CI=true needs code-server for these tests: {missing} (scripts/install-code-server)"
            )
        }
        Err(missing) => {
            // Loud: straight to the process's stderr, past the test harness's capture (which
            // hides `eprintln!` of passing tests). Once per run.
            let line = format!(
                "SKIPPED: code-server not installed (run ./scripts/install-code-server): {missing}\n"
            );
            let _ = std::io::stderr().write_all(line.as_bytes());
            None
        }
    }
}

/// The challenges' toolchain for inside sandboxes (`./scripts/install-sandbox`), from
/// `PREQUEL_SANDBOX_TOOLS` as `./scripts/test` exports it.
pub fn sandbox_tools() -> Option<PathBuf> {
    std::env::var_os("PREQUEL_SANDBOX_TOOLS")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

pub fn in_ci() -> bool {
    std::env::var("CI").as_deref() == Ok("true")
}

pub fn repository_challenges() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../challenge")
}

pub fn python() -> ChallengeId {
    ChallengeId::parse("python").expect("valid challenge id")
}

/// A provisioner on a fresh temp data folder. Dropping it destroys every instance left under
/// that folder (a failing test stops before its destroy): processes, cgroups, uids.
pub struct LocalFixture {
    pub provisioner: Arc<LocalProvisioner>,
    pub challenge: ChallengeId,
    pub sandboxed: bool,
    // Dropped after the instances are destroyed (fields drop after `Drop::drop`).
    pub dir: tempfile::TempDir,
}

impl LocalFixture {
    /// Sandboxed, on the repository's challenges, python.
    pub fn new(code_server: &Path) -> Self {
        Self::with(code_server, &repository_challenges(), python(), |_| {})
    }

    /// Without the sandbox (`--sandbox off`).
    pub fn unconfined(code_server: &Path) -> Self {
        Self::with(code_server, &repository_challenges(), python(), |config| {
            config.sandbox = None;
        })
    }

    pub fn with(
        code_server: &Path,
        challenges: &Path,
        challenge: ChallengeId,
        tweak: impl FnOnce(&mut LocalConfig),
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp data folder");
        let mut config = LocalConfig::new(dir.path(), code_server);
        config.stop_timeout = Duration::from_secs(5);
        config.start_timeout = Duration::from_secs(30);
        if let (Some(sandbox), Some(tools)) = (&mut config.sandbox, sandbox_tools()) {
            sandbox.tools = vec![tools];
        }
        tweak(&mut config);
        let sandboxed = config.sandbox.is_some();
        let provisioner = LocalProvisioner::new(config, Arc::new(DirChallenges::new(challenges)))
            .expect("provisioner opens");
        Self {
            provisioner: Arc::new(provisioner),
            challenge,
            sandboxed,
            dir,
        }
    }

    /// Another provisioner on the same data folder, as a restarted `prequel serve` would open.
    pub fn reopen(&self, code_server: &Path) -> LocalProvisioner {
        let mut config = LocalConfig::new(self.dir.path(), code_server);
        config.stop_timeout = Duration::from_secs(5);
        if !self.sandboxed {
            config.sandbox = None;
        }
        if let (Some(sandbox), Some(tools)) = (&mut config.sandbox, sandbox_tools()) {
            sandbox.tools = vec![tools];
        }
        LocalProvisioner::new(
            config,
            Arc::new(DirChallenges::new(repository_challenges())),
        )
        .expect("provisioner reopens")
    }
}

impl Drop for LocalFixture {
    fn drop(&mut self) {
        let provisioner = self.provisioner.clone();
        // Destroy on a runtime of its own: the test's may be gone, and `Drop` cannot wait.
        let cleanup = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async {
                for id in provisioner.instances().await.unwrap_or_default() {
                    let _ = provisioner
                        .destroy(&id, &RecordingProgress::default())
                        .await;
                }
            });
        });
        let _ = cleanup.join();
        // The data dir's (now empty) cgroup folder, or every test run would leave one.
        let key = prequel_core::provision::local::cgroup_key(&self.provisioner.config().data_dir);
        for controller in ["memory", "pids", "cpu", "freezer", ""] {
            let _ = fs::remove_dir(
                Path::new("/sys/fs/cgroup")
                    .join(controller)
                    .join("prequel")
                    .join(&key),
            );
        }
        // Without the sandbox, anything still carrying a marker of this folder goes too.
        let instances = self.provisioner.config().data_dir.join("instances");
        for (pid, pgid) in processes_under(&instances) {
            kill_pid_and_group(pid, pgid, Signal::SIGKILL);
        }
    }
}

impl ProvisionerFixture for LocalFixture {
    fn provisioner(&self) -> Arc<dyn Provisioner> {
        self.provisioner.clone()
    }

    fn challenge(&self) -> ChallengeId {
        self.challenge.clone()
    }
}

/// Sandboxed instances, for the conformance suite.
pub struct LocalHarness;

#[async_trait]
impl ProvisionerHarness for LocalHarness {
    async fn open(&self) -> Option<Box<dyn ProvisionerFixture>> {
        Some(Box::new(LocalFixture::new(&code_server()?)))
    }
}

/// Instances without the sandbox, for the conformance suite.
pub struct UnconfinedHarness;

#[async_trait]
impl ProvisionerHarness for UnconfinedHarness {
    async fn open(&self) -> Option<Box<dyn ProvisionerFixture>> {
        Some(Box::new(LocalFixture::unconfined(&code_server()?)))
    }
}

/// Running processes whose instance marker names a folder below `folder`, with their groups
/// (instances without the sandbox).
pub fn processes_under(folder: &Path) -> Vec<(i32, i32)> {
    let prefix = format!("{INSTANCE_ENV}={}", folder.display());
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: i32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let after = &stat[stat.rfind(')')? + 1..];
            let mut fields = after.split_whitespace();
            let state = fields.next()?;
            let pgid: i32 = fields.nth(1)?.parse().ok()?;
            if state == "Z" {
                return None;
            }
            let environ = fs::read(format!("/proc/{pid}/environ")).ok()?;
            environ
                .split(|&b| b == 0)
                .any(|var| var.starts_with(prefix.as_bytes()))
                .then_some((pid, pgid))
        })
        .collect()
}

pub fn kill_pid_and_group(pid: i32, pgid: i32, sig: Signal) {
    let own = nix::unistd::getpgrp().as_raw();
    if pgid > 1 && pgid != own {
        let _ = signal::killpg(Pid::from_raw(pgid), sig);
    }
    if pid > 1 && pid != std::process::id() as i32 {
        let _ = signal::kill(Pid::from_raw(pid), sig);
    }
}

pub fn cmdline(pid: i32) -> String {
    fs::read(format!("/proc/{pid}/cmdline"))
        .map(|bytes| String::from_utf8_lossy(&bytes).replace('\0', " "))
        .unwrap_or_default()
}

/// Whether process `pid` exists and has not exited.
pub fn alive(pid: u32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        stat.rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

/// `host:port` of an `http://host:port/` URL.
pub fn authority(url: &str) -> &str {
    url.trim_start_matches("http://").trim_end_matches('/')
}

/// One HTTP/1.1 exchange over a plain socket (the request must say `Connection: close`).
pub fn exchange(authority: &str, request: &str) -> String {
    let mut stream = TcpStream::connect(authority).expect("connect to code-server");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("send request");
    let mut response = Vec::new();
    // code-server may keep the socket open briefly after a short response; what arrived is
    // enough.
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).into_owned()
}

pub fn post_login(authority: &str, password: &str) -> String {
    let body = format!("password={password}");
    exchange(
        authority,
        &format!(
            "POST /login HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        ),
    )
}

pub fn session_cookie(response: &str) -> Option<String> {
    response.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        if !name.eq_ignore_ascii_case("set-cookie") {
            return None;
        }
        let cookie = value.trim().split(';').next()?;
        cookie
            .starts_with("code-server-session=")
            .then(|| cookie.to_owned())
    })
}

/// A challenge folder with one challenge `tiny`: an executable script and a plain file in
/// `starter/`, and `tests/` and `reference/` that must never reach a workspace; `manifest_extra`
/// is appended to its `challenge.toml` (a `[sandbox]` section, say).
pub fn tiny_challenges_with(manifest_extra: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp challenges");
    let root = dir.path().join("tiny");
    let write = |path: &str, text: &str| {
        let path = root.join(path);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, text).expect("write");
    };
    write(
        "challenge.toml",
        &format!(
            "id = \"tiny\"\ntitle = \"Tiny\"\nlanguage = \"python\"\ndescription = \"A test challenge.\"\ndefault_duration = \"30m\"\n{manifest_extra}"
        ),
    );
    write("starter/README.md", "# Tiny\n");
    write("starter/bin/run.sh", "#!/bin/sh\necho run\n");
    write("starter/src/main.py", "print('todo')\n");
    write("tests/test_main.py", "assert secret\n");
    write("reference/src/main.py", "print('solution')\n");
    fs::set_permissions(
        root.join("starter/bin/run.sh"),
        fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    dir
}

pub fn tiny_challenges() -> tempfile::TempDir {
    tiny_challenges_with("")
}

pub fn tiny() -> ChallengeId {
    ChallengeId::parse("tiny").expect("id")
}

/// Every file below `dir`, as `/`-separated relative paths.
pub fn files_below(dir: &Path) -> BTreeSet<String> {
    fn walk(dir: &Path, base: &Path, out: &mut BTreeSet<String>) {
        for entry in fs::read_dir(dir).expect("read_dir") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, base, out);
            } else {
                let relative = path.strip_prefix(base).expect("below base");
                out.insert(relative.to_string_lossy().into_owned());
            }
        }
    }
    let mut out = BTreeSet::new();
    walk(dir, dir, &mut out);
    out
}

/// A fake `code-server` (a shell script named like it) running `body`.
pub fn fake_code_server(dir: &Path, body: &str) -> PathBuf {
    let path = dir.join("code-server");
    fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write fake");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod fake");
    path
}

/// The pid (as the host sees it) of code-server's main process in an instance's sandbox.
pub fn code_server_pid(provisioner: &LocalProvisioner, interview: &InterviewId) -> u32 {
    testkit_sandbox::code_server_pid(&provisioner.sandbox_pids(interview))
        .expect("code-server runs in the sandbox")
}

/// Runs `script` inside a running sandbox the way its VS Code terminal runs a command (see
/// `testkit::sandbox::run_inside`).
pub fn inside(provisioner: &LocalProvisioner, interview: &InterviewId, script: &str) -> Output {
    testkit_sandbox::run_inside(&provisioner.sandbox_pids(interview), script)
}

/// Standard output of a command run inside, as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}
