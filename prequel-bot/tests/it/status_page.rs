//! The status page in a real browser: `prequel serve` with real code-server and the repository's
//! challenges, headless Chromium signed in once with the admin token through the page's form,
//! and an interview that lives and dies while the page watches, updating in place over
//! `GET /api/events` without a reload. The script is `tests/browser/status.mjs`.

use std::io::{BufRead as _, BufReader, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{self, ServeOptions, Server};

/// The states the page may show, in life order.
const LIFE: [&str; 6] = [
    "scheduled",
    "initializing",
    "configuring",
    "active",
    "destroying",
    "destroyed",
];

/// How long each step of the script may take (real code-server on a shared machine).
const STEP: Duration = Duration::from_secs(180);

/// `PREQUEL_PLAYWRIGHT_CORE`, or `None` outside CI (said loudly); under `CI=true` its absence
/// fails the test.
fn playwright(test: &str) -> Option<String> {
    let path = std::env::var("PREQUEL_PLAYWRIGHT_CORE")
        .ok()
        .filter(|p| !p.is_empty());
    if path.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "{test}: CI=true needs Chromium and playwright-core: run ./scripts/setup-test-tools"
        );
        support::loud(&format!(
            "SKIPPED: {test}: PREQUEL_PLAYWRIGHT_CORE is not set (./scripts/setup-test-tools)"
        ));
    }
    path
}

/// The browser script, spoken to line by line.
struct Script {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    stderr: PathBuf,
}

impl Script {
    fn start(playwright: &str, url: &str, token: &str, screenshot: &Path, temp: &Path) -> Self {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/status.mjs");
        let stderr = temp.join("status.mjs.stderr");
        let mut child = Command::new("node")
            .arg(&script)
            .arg(format!("{url}/"))
            .arg(screenshot)
            // The token by environment, never on the command line (`ps` shows that).
            .env("PREQUEL_TEST_TOKEN", token)
            .env("PREQUEL_PLAYWRIGHT_CORE", playwright)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&stderr).expect("stderr file"))
            .spawn()
            .expect("run node");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (sender, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if sender.send(line).is_err() {
                    break;
                }
            }
        });
        Self {
            child,
            stdin,
            lines,
            stderr,
        }
    }

    /// The script's next line; panics with its output when it fails or takes longer than `STEP`.
    fn next_line(&self, waiting_for: &str) -> String {
        match self.lines.recv_timeout(STEP) {
            Ok(line) if line.starts_with("{\"error\"") => {
                panic!(
                    "the browser script failed waiting for {waiting_for}: {line}\n{}",
                    self.log()
                )
            }
            Ok(line) => line,
            Err(RecvTimeoutError::Timeout) => {
                panic!(
                    "no {waiting_for} from the browser script within {STEP:?}\n{}",
                    self.log()
                )
            }
            Err(RecvTimeoutError::Disconnected) => {
                panic!(
                    "the browser script ended before {waiting_for}\n{}",
                    self.log()
                )
            }
        }
    }

    fn expect_line(&self, wanted: &str) {
        let line = self.next_line(wanted);
        assert_eq!(line, wanted, "{}", self.log());
    }

    fn send(&mut self, line: &str) {
        writeln!(self.stdin, "{line}")
            .and_then(|()| self.stdin.flush())
            .expect("write to the script");
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Script {
    fn drop(&mut self) {
        if !matches!(self.child.try_wait(), Ok(Some(_))) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Destroys the interview's instance if the test stops half way, so no code-server outlives it.
struct DestroyOnDrop<'a> {
    server: &'a Server,
    id: Option<String>,
}

impl Drop for DestroyOnDrop<'_> {
    fn drop(&mut self) {
        let Some(id) = &self.id else { return };
        let _ = self.server.interview(&["destroy", id]);
        let token = self.server.token();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            let answer = support::get(
                &self.server.url,
                &format!("/api/interviews/{id}"),
                Some(&token),
            );
            let status = answer
                .ok()
                .and_then(|(_, body)| serde_json::from_str::<Value>(&body).ok())
                .map(|v| v["interview"]["status"].clone());
            if status.is_some_and(|s| s == "destroyed" || s == "failed") {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Whether `seen` lists states in life order (each at most once) and ends `destroyed`.
fn follows_the_life_order(seen: &[String]) -> bool {
    let mut rest = LIFE.iter();
    seen.iter().all(|state| rest.any(|s| s == state))
        && seen.last().is_some_and(|s| s == "destroyed")
}

#[test]
fn the_status_page_follows_an_interview_from_request_to_destroyed_without_reloading() {
    let test = "the status page browser test";
    let Some(code_server) = support::code_server(test) else {
        return;
    };
    let Some(playwright) = playwright(test) else {
        return;
    };
    let started = Instant::now();
    let mut options = ServeOptions::new(code_server);
    options.challenges = Some(support::repository_challenges());
    // Closed on loopback (the default, said explicitly so the caller's shell cannot open it):
    // the browser must sign in with the token through the form.
    options.env = vec![("PREQUEL_OPEN_STATUS_ON_LOOPBACK".into(), "false".into())];
    let server = Server::start(options).expect("serve starts");
    let token = server.token();
    let artifacts = std::env::var_os("PREQUEL_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&artifacts).expect("artifacts folder");
    let screenshot = artifacts.join("status-page.png");
    let _ = std::fs::remove_file(&screenshot);
    let temp = tempfile::tempdir().expect("temp dir");

    let mut script = Script::start(&playwright, &server.url, &token, &screenshot, temp.path());
    script.expect_line("ready");

    let asked = server.interview_json(&["--no-wait", "now", "30m", "python"]);
    let id = asked["id"].as_str().expect("id").to_owned();
    let mut cleanup = DestroyOnDrop {
        server: &server,
        id: Some(id.clone()),
    };
    script.send(&id);
    script.expect_line("active");
    let password = server.interview_json(&["creds", &id])["password"]
        .as_str()
        .expect("an active interview has a password")
        .to_owned();

    server.interview_json(&["destroy", &id]);
    let report: Value =
        serde_json::from_str(&script.next_line("the report")).expect("the report is JSON");
    cleanup.id = None;

    let states: Vec<String> = report["states"]
        .as_array()
        .expect("states")
        .iter()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect();
    support::loud(&format!(
        "status page: states seen {states:?} in {:?}; screenshot {}",
        started.elapsed(),
        screenshot.display()
    ));
    assert!(follows_the_life_order(&states), "{states:?}");
    assert!(states.iter().any(|s| s == "active"), "{states:?}");

    // Live updates, not reloads: one document from sign-in to the end.
    assert_eq!(
        report["navigationEntries"], 1,
        "{}",
        report["navigationEntries"]
    );
    assert_eq!(report["sameDocument"], true);
    assert_eq!(report["loadsAfterReady"], 0);
    assert_eq!(report["navigationsAfterReady"], 0);
    assert_eq!(report["connection"], "connected");
    assert_eq!(
        report["consoleErrors"],
        serde_json::json!([]),
        "the page logs no errors"
    );

    // The page never holds a secret.
    let html = report["html"].as_str().expect("the page's HTML");
    assert!(html.contains(&id), "the interview is on the page");
    assert!(!html.contains(&password), "the password is on the page");
    assert!(!html.contains(&token), "the admin token is on the page");
    assert!(screenshot.is_file(), "screenshot saved");
}

#[test]
fn the_life_order_check_accepts_subsequences_ending_destroyed_only() {
    let check = |states: &[&str]| {
        follows_the_life_order(&states.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>())
    };
    assert!(check(&["scheduled", "initializing", "active", "destroyed"]));
    assert!(check(&["active", "destroying", "destroyed"]));
    assert!(!check(&["active", "scheduled", "destroyed"]), "backwards");
    assert!(!check(&["active", "active", "destroyed"]), "repeated");
    assert!(!check(&["scheduled", "active"]), "not ended");
    assert!(!check(&[]), "nothing seen");
}
