//! End to end on the embedded default, as an interviewer uses it: `prequel serve` with real
//! code-server and the repository's challenges, `prequel interview` on the command line, the
//! instance's login, the VS Code workbench in headless Chromium, the archive after `destroy`,
//! and a `kill -9` of the server in the middle of provisioning.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::{
    self, KillInstancesOnDrop, ServeOptions, Server, code_servers, interview_processes,
};

/// How long an interview may take to reach a state here (real code-server, a shared machine).
const E2E_WAIT: Duration = Duration::from_secs(90);

/// The response to `POST /login` with `password`, head and body.
fn login(access_url: &str, password: &str) -> String {
    let body = format!("password={password}");
    support::http_raw(
        access_url,
        "POST",
        "/login",
        &[("Content-Type", "application/x-www-form-urlencoded")],
        &body,
    )
    .expect("POST /login")
}

fn has_session_cookie(response: &str) -> bool {
    response.lines().any(|line| {
        line.to_ascii_lowercase().starts_with("set-cookie:")
            && line.contains("code-server-session=")
    })
}

/// Logs in with headless Chromium and returns what the workbench's explorer lists, saving a
/// screenshot to `$PREQUEL_ARTIFACTS` (or a temp folder). `None` when the browser tools are
/// not installed outside CI (said loudly); under `CI=true` their absence fails the test.
fn workbench_files(access_url: &str, password: &str) -> Option<Vec<String>> {
    let playwright = std::env::var("PREQUEL_PLAYWRIGHT_CORE")
        .ok()
        .filter(|p| !p.is_empty());
    let Some(playwright) = playwright else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true needs Chromium and playwright-core: run ./scripts/setup-test-tools"
        );
        support::loud(
            "SKIPPED: browser check: PREQUEL_PLAYWRIGHT_CORE is not set (./scripts/setup-test-tools)",
        );
        return None;
    };
    let artifacts = std::env::var_os("PREQUEL_ARTIFACTS")
        .map(PathBuf::from)
        .unwrap_or_else(std::env::temp_dir);
    std::fs::create_dir_all(&artifacts).expect("artifacts folder");
    let screenshot = artifacts.join("workbench-python.png");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/workbench.mjs");
    let out = Command::new("node")
        .arg(&script)
        .arg(access_url)
        .arg(&screenshot)
        .env("PREQUEL_TEST_PASSWORD", password)
        .env("PREQUEL_PLAYWRIGHT_CORE", &playwright)
        .output()
        .expect("run node");
    assert!(
        out.status.success(),
        "the browser check failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).expect("the script prints JSON");
    assert_eq!(report["login"], "ok", "{report}");
    assert!(screenshot.is_file(), "screenshot saved");
    support::loud(&format!("browser screenshot: {}", screenshot.display()));
    Some(
        report["files"]
            .as_array()
            .expect("files")
            .iter()
            .filter_map(|f| f.as_str().map(str::to_owned))
            .collect(),
    )
}

#[test]
fn now_gives_a_password_protected_vs_code_with_the_starter_files_and_destroy_archives_the_work() {
    let Some(code_server) = support::code_server("the end-to-end test") else {
        return;
    };
    let mut options = ServeOptions::new(code_server);
    options.challenges = Some(support::repository_challenges());
    let server = Server::start(options).expect("serve starts");
    let _cleanup = KillInstancesOnDrop(server.data_dir.join("instances"));

    let created = server.interview_json(&["now", "30m", "python"]);
    assert_eq!(created["status"], "active", "{created}");
    assert_eq!(created["challenge"], "python");
    let id = created["id"].as_str().expect("id").to_owned();
    let url = created["access_url"]
        .as_str()
        .expect("access URL")
        .to_owned();
    let password = created["password"].as_str().expect("password").to_owned();
    assert!(password.len() >= 26, "a strong password");

    // The password logs in; a wrong one does not.
    assert!(
        has_session_cookie(&login(&url, &password)),
        "right password → session"
    );
    assert!(
        !has_session_cookie(&login(&url, "wrong-password")),
        "wrong password → no session"
    );

    // In a real browser the workbench shows the starter files, and no hidden tests or solution.
    if let Some(files) = workbench_files(&url, &password) {
        for expected in ["README.md", "orders_report.py", "data"] {
            assert!(
                files.iter().any(|f| f == expected),
                "{expected} in {files:?}"
            );
        }
        for hidden in ["tests", "reference"] {
            assert!(
                !files.iter().any(|f| f == hidden),
                "{hidden} must not be shown: {files:?}"
            );
        }
    }

    // The candidate edits a file; destroy archives it, then kills the sandbox.
    let instance = server.data_dir.join("instances").join(&id);
    let record: Value = serde_json::from_str(
        &std::fs::read_to_string(instance.join("instance.json")).expect("instance record"),
    )
    .expect("JSON record");
    assert!(
        record["sandbox"].is_object(),
        "the instance runs in the sandbox: {record}"
    );
    let port = record["port"].as_u64().expect("port");
    let running = interview_processes(&server.data_dir, &id);
    assert_eq!(
        code_servers(&server.data_dir, &id),
        1,
        "one code-server: {running:?}"
    );
    let edited = instance.join("workspace/orders_report.py");
    let marker = "# the candidate's own line, kept in the archive";
    let mut text = std::fs::read_to_string(&edited).expect("starter file");
    text.push_str(marker);
    std::fs::write(&edited, text).expect("edit");

    let destroying = server.interview_json(&["destroy", &id]);
    assert_eq!(destroying["id"], id.as_str());
    server.wait_for_status(&id, "destroyed", E2E_WAIT);
    let archive = server.data_dir.join("history").join(format!("{id}.tar.gz"));
    // Entries sit under a folder named after the interview; find the edited file's entry.
    let entries = Command::new("tar")
        .arg("-tzf")
        .arg(&archive)
        .output()
        .expect("tar -t");
    let entries = String::from_utf8_lossy(&entries.stdout).into_owned();
    let entry = entries
        .lines()
        .find(|e| e.ends_with("/orders_report.py") && !e.contains("/data/"))
        .unwrap_or_else(|| panic!("orders_report.py in the archive: {entries}"));
    let listing = Command::new("tar")
        .arg("-xzOf")
        .arg(&archive)
        .arg(entry)
        .output()
        .expect("tar -x");
    assert!(
        String::from_utf8_lossy(&listing.stdout).contains(marker),
        "the edit is in {}: {}",
        archive.display(),
        String::from_utf8_lossy(&listing.stderr)
    );
    let left = interview_processes(&server.data_dir, &id);
    assert!(left.is_empty(), "the sandbox is gone, yet {left:?} run");
    let survivors: Vec<_> = running.iter().filter(|p| support::alive(p.pid)).collect();
    assert!(
        survivors.is_empty(),
        "processes of the sandbox outlived destroy: {survivors:?}"
    );
    assert!(
        TcpStream::connect(("127.0.0.1", port as u16)).is_err(),
        "port {port} is closed"
    );

    // The password was in the answer to `now` only: never in a listing, a status, or the log.
    let list = server.interview(&["--json", "list"]).expect("list");
    let status = server
        .interview(&["--json", "status", &id])
        .expect("status");
    for (what, text) in [
        ("list", String::from_utf8_lossy(&list.stdout).into_owned()),
        (
            "status",
            String::from_utf8_lossy(&status.stdout).into_owned(),
        ),
        ("server log", server.log()),
    ] {
        assert!(
            !text.contains(&password),
            "the password leaked into the {what}"
        );
    }
}

#[test]
fn serve_killed_while_provisioning_leaves_no_orphan_and_the_interview_recovers() {
    let Some(code_server) = support::code_server("the kill -9 test") else {
        return;
    };
    let data = tempfile::tempdir().expect("data dir");
    let data_dir = data.path().join("data");
    let mut options = ServeOptions::new(code_server);
    options.challenges = Some(support::repository_challenges());
    options.data_dir = Some(data_dir.clone());
    // A short lease, so the restarted server takes the unfinished create over in seconds.
    options.args = vec!["--lease-seconds".into(), "5".into()];
    let instances = data_dir.join("instances");
    let _cleanup = KillInstancesOnDrop(instances.clone());

    let mut first = Server::start(options.clone()).expect("serve starts");
    let asked = first.interview_json(&["--no-wait", "now", "30m", "python"]);
    let id = asked["id"].as_str().expect("id").to_owned();
    // Kill the server as soon as provisioning has begun (or, on a fast machine, just after).
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let status = first.fetch_interview(&id)["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if status != "scheduled" || Instant::now() > deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    first.kill9().expect("kill -9");
    drop(first);

    let second = Server::start(options).expect("serve restarts");
    let active = second.wait_for_status(&id, "active", E2E_WAIT);
    assert_eq!(
        code_servers(&data_dir, &id),
        1,
        "exactly one code-server for the interview: {:?}",
        interview_processes(&data_dir, &id)
    );
    let password = second.interview_json(&["creds", &id])["password"]
        .as_str()
        .expect("password")
        .to_owned();
    let url = active["access_url"].as_str().expect("URL");
    assert!(
        has_session_cookie(&login(url, &password)),
        "the recovered instance logs in"
    );

    second.interview_json(&["destroy", &id]);
    second.wait_for_status(&id, "destroyed", E2E_WAIT);
    assert!(
        interview_processes(&data_dir, &id).is_empty(),
        "no process of the interview is left"
    );
}

// ---------------------------------------------------------------------------------------------
// Downtime: the server is stopped across a destroy time or a start time. Waiting real hours is
// not possible in a test, so while the server is down the test moves the interview's times into
// the past in its database, exactly as the clock would have.
// ---------------------------------------------------------------------------------------------

/// Milliseconds since the epoch, as the store keeps times.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Runs `sql` with `?1` = the interview id on the stopped server's database.
fn rewrite_stopped_database(data_dir: &Path, sql: &str, id: &str) {
    let db = rusqlite::Connection::open(data_dir.join("prequel.sqlite3")).expect("open the db");
    let changed = db.execute(sql, [id]).expect("rewrite the interview");
    assert!(changed >= 1, "nothing matched: {sql}");
}

#[test]
fn a_destroy_time_that_passed_while_serve_was_down_is_met_at_restart() {
    let Some(code_server) = support::code_server("the downtime destroy test") else {
        return;
    };
    let data = tempfile::tempdir().expect("data dir");
    let data_dir = data.path().join("data");
    let mut options = ServeOptions::new(code_server);
    options.challenges = Some(support::repository_challenges());
    options.data_dir = Some(data_dir.clone());
    let instances = data_dir.join("instances");
    let _cleanup = KillInstancesOnDrop(instances.clone());

    let mut first = Server::start(options.clone()).expect("serve starts");
    let created = first.interview_json(&["now", "30m", "python"]);
    let id = created["id"].as_str().expect("id").to_owned();
    first.stop().expect("stop serve");
    drop(first);
    assert_eq!(
        code_servers(&data_dir, &id),
        1,
        "the instance outlives a graceful stop"
    );

    // The 30 minutes ran out a minute ago, while nothing was running.
    let ended = now_ms() - 60_000;
    rewrite_stopped_database(
        &data_dir,
        &format!(
            "UPDATE interviews SET destroy_at = {ended}, start_at = {} WHERE id = ?1",
            ended - 30 * 60_000
        ),
        &id,
    );

    let restarted = Instant::now();
    let second = Server::start(options).expect("serve restarts");
    second.wait_for_status(&id, "destroyed", E2E_WAIT);
    let took = restarted.elapsed();
    support::loud(&format!(
        "downtime: destroy met {:.2} s after the restart began (the server's start included)",
        took.as_secs_f64()
    ));
    assert!(
        took < Duration::from_secs(10),
        "the missed destroy ran at once, not at the next poll: {took:?}"
    );
    assert!(
        interview_processes(&data_dir, &id).is_empty(),
        "no process of the interview is left"
    );
    assert!(
        data_dir
            .join("history")
            .join(format!("{id}.tar.gz"))
            .is_file(),
        "the work was archived before the instance went"
    );
}

#[test]
fn a_start_missed_while_serve_was_down_is_reported_missed_not_run_late() {
    let Some(code_server) = support::code_server("the downtime start test") else {
        return;
    };
    let data = tempfile::tempdir().expect("data dir");
    let data_dir = data.path().join("data");
    let mut options = ServeOptions::new(code_server);
    options.challenges = Some(support::repository_challenges());
    options.data_dir = Some(data_dir.clone());
    let instances = data_dir.join("instances");
    let _cleanup = KillInstancesOnDrop(instances.clone());

    let mut first = Server::start(options.clone()).expect("serve starts");
    let scheduled = first.interview_json(&["schedule", "tomorrow", "9am", "4h", "python"]);
    let id = scheduled["id"].as_str().expect("id").to_owned();
    assert_eq!(scheduled["status"], "scheduled", "{scheduled}");
    first.stop().expect("stop serve");
    drop(first);

    // The start was 20 minutes ago (past the 15-minute grace) and the server was down; the
    // interview would still run for 3 h 40 min.
    let start = now_ms() - 20 * 60_000;
    rewrite_stopped_database(
        &data_dir,
        &format!(
            "UPDATE interviews SET start_at = {start}, destroy_at = {} WHERE id = ?1",
            start + 240 * 60_000
        ),
        &id,
    );
    rewrite_stopped_database(
        &data_dir,
        &format!(
            "UPDATE operations SET due_at = {} WHERE interview_id = ?1 AND kind = 'create'",
            start - 5 * 60_000
        ),
        &id,
    );

    let second = Server::start(options).expect("serve restarts");
    let failed = second.wait_for_status(&id, "failed", E2E_WAIT);
    let reason = failed["reason"].as_str().unwrap_or_default();
    assert!(reason.starts_with("missed"), "reported as missed: {failed}");
    assert!(
        !instances.join(&id).exists(),
        "nothing was provisioned for a missed start"
    );
}

// ---------------------------------------------------------------------------------------------
// Crashes: SIGKILL at random moments while instances are being made and unmade.
// ---------------------------------------------------------------------------------------------

/// How many times the crash test kills the server.
const KILLS: usize = 20;

#[test]
fn twenty_kills_during_provisioning_and_destroying_leave_every_interview_consistent() {
    use rand::{Rng as _, SeedableRng as _};

    let Some(code_server) = support::code_server("the crash loop test") else {
        return;
    };
    let seed: u64 = rand::rng().random();
    support::loud(&format!("crash loop seed {seed}"));
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let data = tempfile::tempdir().expect("data dir");
    let data_dir = data.path().join("data");
    let mut options = ServeOptions::new(code_server);
    options.challenges = Some(support::repository_challenges());
    options.data_dir = Some(data_dir.clone());
    // The shortest lease: a killed server's claims are taken over 5 s later.
    options.args = vec!["--lease-seconds".into(), "5".into()];
    let instances = data_dir.join("instances");
    let _cleanup = KillInstancesOnDrop(instances.clone());

    let mut ids: Vec<String> = Vec::new();
    let (mut killed_provisioning, mut killed_destroying) = (0, 0);
    let (mut passwords, mut logs) = (Vec::new(), String::new());
    let mut server = Server::start(options.clone()).expect("serve starts");
    for kill in 0..KILLS {
        // Every round asks for a new interview. Even rounds let the server live 0–7 s: long
        // enough, at times, for a killed server's lease (5 s) to run out and its work to be
        // resumed — and killed again. Odd rounds destroy an active interview and kill while its
        // archive and teardown run.
        let asked = server.interview_json(&["--no-wait", "now", "30m", "python"]);
        ids.push(asked["id"].as_str().expect("id").to_owned());
        passwords.push(asked["password"].as_str().expect("password").to_owned());
        if kill % 2 == 1 {
            // Wait (bounded) for an interview to be active, destroy it, and kill the server the
            // moment its teardown is seen under way.
            let deadline = Instant::now() + Duration::from_secs(30);
            let victim = loop {
                let active = ids
                    .iter()
                    .find(|id| server.fetch_interview(id)["status"] == "active")
                    .cloned();
                if active.is_some() || Instant::now() > deadline {
                    break active;
                }
                std::thread::sleep(Duration::from_millis(100));
            };
            if let Some(victim) = victim {
                let _ = server.interview(&["--json", "--no-wait", "destroy", &victim]);
                let deadline = Instant::now() + Duration::from_secs(10);
                while Instant::now() < deadline {
                    let status = server.fetch_interview(&victim)["status"].clone();
                    if status == "destroying" {
                        killed_destroying += 1;
                        break;
                    }
                    if status == "destroyed" {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
        } else {
            std::thread::sleep(Duration::from_millis(rng.random_range(0..7_000)));
            // What was in flight at the moment of the kill (read just before it).
            if ids.iter().any(|id| {
                ["scheduled", "initializing", "configuring"].contains(
                    &server.fetch_interview(id)["status"]
                        .as_str()
                        .unwrap_or_default(),
                )
            }) {
                killed_provisioning += 1;
            }
        }
        server.kill9().expect("kill -9");
        logs.push_str(&server.log());
        drop(server);
        server = Server::start(options.clone()).expect("serve restarts after a kill");
    }

    support::loud(&format!(
        "crash loop: {KILLS} kills, {killed_provisioning} with a create in flight, \
         {killed_destroying} with a destroy in flight"
    ));
    assert!(
        killed_provisioning > 0 && killed_destroying > 0,
        "the kills must land while instances are made and unmade, or the test proves nothing"
    );

    // After the last restart: every interview ends up active or finished, then all are destroyed.
    for id in &ids {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let status = server.fetch_interview(id)["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if ["active", "destroyed", "failed"].contains(&status.as_str()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "interview {id} is stuck {status}\n{}",
                server.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        if server.fetch_interview(id)["status"] == "active" {
            server.interview_json(&["destroy", id]);
        }
    }
    for id in &ids {
        let detail = {
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let (status, body) = support::get(
                    &server.url,
                    &format!("/api/interviews/{id}"),
                    Some(&server.token()),
                )
                .expect("GET the interview");
                assert_eq!(status, 200, "{body}");
                let detail: Value = serde_json::from_str(&body).expect("JSON");
                let state = detail["interview"]["status"].as_str().unwrap_or_default();
                if ["destroyed", "failed", "cancelled"].contains(&state) {
                    break detail;
                }
                assert!(
                    Instant::now() < deadline,
                    "interview {id} never finished: {detail}\n{}",
                    server.log()
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        };
        // No lost operation: one create and one destroy, both finished (an interview destroyed
        // before its create was ever claimed is cancelled instead, with nothing to tear down).
        let operations = detail["operations"].as_array().expect("operations");
        let kinds: Vec<_> = operations.iter().map(|o| o["kind"].clone()).collect();
        if detail["interview"]["status"] == "cancelled" {
            assert_eq!(kinds, ["create"], "{detail}");
        } else {
            assert_eq!(kinds, ["create", "destroy"], "{detail}");
        }
        for operation in operations {
            assert!(
                ["completed", "failed", "cancelled"]
                    .contains(&operation["status"].as_str().unwrap_or_default()),
                "operation left unfinished: {detail}"
            );
        }
        // No orphan: nothing of the interview runs.
        assert!(
            interview_processes(&data_dir, id).is_empty(),
            "a process of {id} is left"
        );
        // No lost archive: an interview that was active was archived when it was destroyed.
        if detail["interview"]["status"] == "destroyed" {
            assert!(
                data_dir
                    .join("history")
                    .join(format!("{id}.tar.gz"))
                    .is_file(),
                "the work of {id} was archived: {detail}"
            );
        }
    }

    // Secrets: no password in any server's log (the killed ones' too), a listing, an interview's
    // details, the status page or the event stream.
    let details: String = ids
        .iter()
        .map(|id| server.fetch_interview(id).to_string())
        .collect();
    let servers = [server];
    support::assert_no_secret_shown(
        &servers,
        &passwords,
        vec![
            ("the killed servers' logs".into(), logs),
            ("the interviews' details".into(), details),
        ],
    );
}
