//! The local code-server provisioner: the shared provisioner conformance suite against real
//! code-server, in the sandbox and without it, plus what is particular to processes on this
//! machine (the password's path, the login, the workspace, the archive, teardown, adoption after
//! a restart, failed starts). The attacks a candidate can try from inside a sandbox are in
//! `sandbox.rs`.
//!
//! code-server comes from `$PREQUEL_CODE_SERVER`, else wherever `find_code_server` finds it
//! (PATH, `./.prequel/tools/code-server`). Without it the tests that need it print `SKIPPED: …`
//! and pass, except under `CI=true`, where they fail. The tests of failed starts use a fake
//! `code-server` script and always run. Every fixture destroys, on drop, each instance it left.

use std::collections::BTreeSet;
use std::fs;
use std::io::Read;
use std::net::TcpStream;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::{self, Signal};
use nix::unistd::Pid;
use prequel_core::challenge::{ChallengeSource, DirChallenges};
use prequel_core::domain::InterviewState;
use prequel_core::provision::local::{
    INSTANCE_ENV, LocalConfig, LocalProvisioner, find_code_server,
};
use prequel_core::provision::{InstanceStatus, Provisioner};
use prequel_core::testkit::provisioner_conformance::{
    RecordingProgress, create_ok, destroy_ok, spec,
};

use crate::local_support::{
    LocalFixture, LocalHarness, UnconfinedHarness, alive, authority, cmdline, code_server,
    exchange, fake_code_server, files_below, post_login, processes_under, python,
    repository_challenges, session_cookie, tiny, tiny_challenges,
};

mod conformance {
    use super::LocalHarness;

    prequel_core::provisioner_conformance_tests!(LocalHarness);
}

mod conformance_unconfined {
    use super::UnconfinedHarness;

    prequel_core::provisioner_conformance_tests!(UnconfinedHarness);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_password_is_in_no_command_line_environment_file_or_log() {
    let Some(cs) = code_server() else { return };
    let fixture = LocalFixture::new(&cs);
    let spec = spec(&fixture.challenge);
    let password = spec.password.expose().to_owned();
    create_ok(fixture.provisioner.as_ref(), &spec).await;
    let root = fixture.provisioner.instance_dir(&spec.interview_id);
    let pids = fixture.provisioner.sandbox_pids(&spec.interview_id);
    assert!(
        pids.len() >= 3,
        "the launcher, bwrap's init and code-server: {pids:?}"
    );
    let record = fixture
        .provisioner
        .record(&spec.interview_id)
        .await
        .expect("record")
        .expect("a record exists");
    assert!(record.sandbox.is_some(), "{record:?}");
    assert!(
        pids.iter().any(|pid| {
            let line = cmdline(*pid as i32);
            line.contains("--auth password")
                && line.contains("--socket /run/prequel/code-server.sock")
        }),
        "no code-server in the sandbox"
    );
    for pid in &pids {
        assert!(
            !cmdline(*pid as i32).contains(&password),
            "the password is on the command line of pid {pid}"
        );
        let environ = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&environ).contains(&password),
            "the password is in the environment of pid {pid}"
        );
    }
    for file in files_below(&root) {
        let bytes = fs::read(root.join(&file)).unwrap_or_default();
        assert!(
            !String::from_utf8_lossy(&bytes).contains(&password),
            "the password is in {file}"
        );
    }
    // What code-server checks logins against: an argon2 hash.
    let config = fs::read_to_string(root.join("etc/code-server.yaml")).expect("config");
    assert!(config.contains("hashed-password: \"$argon2id$"), "{config}");
    destroy_ok(fixture.provisioner.as_ref(), &spec.interview_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_the_right_password_sets_a_session_cookie_and_a_wrong_one_does_not() {
    let Some(cs) = code_server() else { return };
    let fixture = LocalFixture::new(&cs);
    let spec = spec(&fixture.challenge);
    let (instance, _) = create_ok(fixture.provisioner.as_ref(), &spec).await;
    let host = authority(&instance.access_url).to_owned();
    let password = spec.password.expose().to_owned();
    let (wrong, right, anonymous, signed_in) = tokio::task::spawn_blocking(move || {
        let wrong = post_login(&host, "not-the-password");
        let right = post_login(&host, &password);
        let get = |cookie: Option<&str>| {
            let cookie = cookie
                .map(|c| format!("Cookie: {c}\r\n"))
                .unwrap_or_default();
            exchange(
                &host,
                &format!("GET / HTTP/1.1\r\nHost: {host}\r\n{cookie}Connection: close\r\n\r\n"),
            )
        };
        let anonymous = get(None);
        let signed_in = session_cookie(&right).map(|cookie| get(Some(&cookie)));
        (wrong, right, anonymous, signed_in)
    })
    .await
    .expect("http exchanges");
    assert_eq!(
        session_cookie(&wrong),
        None,
        "a wrong password got a session"
    );
    assert!(right.starts_with("HTTP/1.1 302"), "{right}");
    assert!(
        session_cookie(&right).is_some(),
        "no session cookie: {right}"
    );
    assert!(
        anonymous.starts_with("HTTP/1.1 302") && anonymous.contains("login"),
        "GET / without a session is not sent to the login page: {anonymous}"
    );
    // With the session, `/` opens the workspace (its path inside the sandbox) instead of the
    // login page.
    let signed_in = signed_in.expect("signed in");
    assert!(
        signed_in.starts_with("HTTP/1.1 302")
            && signed_in.contains("Location: ./?folder=/workspace"),
        "{signed_in}"
    );
    destroy_ok(fixture.provisioner.as_ref(), &spec.interview_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workspace_holds_exactly_the_starter_files_with_their_modes() {
    let Some(cs) = code_server() else { return };
    let challenges = tiny_challenges();
    let tiny = tiny();
    let fixture = LocalFixture::with(&cs, challenges.path(), tiny.clone(), |_| {});
    let spec = spec(&tiny);
    let (instance, _) = create_ok(fixture.provisioner.as_ref(), &spec).await;
    let bundle = DirChallenges::new(challenges.path())
        .starter_bundle(&tiny)
        .await
        .expect("bundle");
    assert_eq!(instance.challenge_checksum, Some(bundle.checksum));
    let workspace = fixture.provisioner.workspace_dir(&spec.interview_id);
    let files = files_below(&workspace);
    let expected: BTreeSet<String> = ["README.md", "bin/run.sh", "src/main.py"]
        .map(String::from)
        .into();
    assert_eq!(files, expected);
    assert!(
        files
            .iter()
            .all(|f| !f.starts_with("tests/") && !f.starts_with("reference/"))
    );
    let mode = |path: &str| {
        fs::metadata(workspace.join(path))
            .expect("metadata")
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("bin/run.sh"), 0o755);
    assert_eq!(mode("README.md"), 0o644);

    // The settings that keep the instance quiet and the operator's config out.
    let root = fixture.provisioner.instance_dir(&spec.interview_id);
    let settings: serde_json::Value = serde_json::from_slice(
        &fs::read(root.join("home/.local/share/code-server/User/settings.json"))
            .expect("settings.json"),
    )
    .expect("settings are JSON");
    assert_eq!(settings["telemetry.telemetryLevel"], "off");
    assert_eq!(settings["chat.disableAIFeatures"], true);
    assert_eq!(settings["security.workspace.trust.enabled"], false);
    assert_eq!(settings["workbench.startupEditor"], "none");
    destroy_ok(fixture.provisioner.as_ref(), &spec.interview_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edited_file_is_in_the_archive_after_destroy() {
    let Some(cs) = code_server() else { return };
    let fixture = LocalFixture::new(&cs);
    let spec = spec(&fixture.challenge);
    create_ok(fixture.provisioner.as_ref(), &spec).await;
    let workspace = fixture.provisioner.workspace_dir(&spec.interview_id);
    let starter = files_below(&workspace);
    assert!(starter.contains("orders_report.py"), "{starter:?}");
    fs::write(
        workspace.join("orders_report.py"),
        "# the candidate's answer\n",
    )
    .expect("edit");
    fs::write(workspace.join("NOTES.md"), "thoughts\n").expect("new file");
    std::os::unix::fs::symlink("/etc/hostname", workspace.join("link")).expect("symlink");

    let destroyed = destroy_ok(fixture.provisioner.as_ref(), &spec.interview_id).await;
    let archive = PathBuf::from(destroyed.archive.expect("an archive"));
    assert_eq!(
        archive,
        fixture.provisioner.archive_path(&spec.interview_id)
    );
    let mut entries = std::collections::BTreeMap::new();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(
        fs::File::open(&archive).expect("open archive"),
    ));
    for entry in tar.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        let kind = entry.header().entry_type();
        let mut text = String::new();
        if kind.is_file() {
            entry.read_to_string(&mut text).expect("read entry");
        }
        entries.insert(path, (kind, text));
    }
    let id = spec.interview_id.as_str();
    assert_eq!(
        entries
            .get(&format!("{id}/orders_report.py"))
            .map(|e| e.1.as_str()),
        Some("# the candidate's answer\n")
    );
    assert_eq!(
        entries.get(&format!("{id}/NOTES.md")).map(|e| e.1.as_str()),
        Some("thoughts\n")
    );
    // A link is archived as a link, not as the file it points to.
    assert!(
        entries
            .get(&format!("{id}/link"))
            .is_some_and(|e| e.0.is_symlink())
    );
    for file in &starter {
        assert!(
            entries.contains_key(&format!("{id}/{file}")),
            "{file} missing from the archive"
        );
    }
    // Only the final archive and the instance's log are left: no temp file beside them.
    let history: BTreeSet<_> = fs::read_dir(archive.parent().expect("history"))
        .expect("history")
        .map(|e| e.expect("entry").file_name())
        .collect();
    let log = fixture.provisioner.log_path(&spec.interview_id);
    assert_eq!(
        history,
        BTreeSet::from([
            archive.file_name().expect("name").to_owned(),
            log.file_name().expect("name").to_owned()
        ])
    );
    // The log kept beside the archive is code-server's own.
    let kept = fs::read_to_string(&log).expect("the instance's log");
    assert!(
        kept.contains("HTTP server listening on /run/prequel/code-server.sock"),
        "{kept}"
    );
    assert!(
        !fixture
            .provisioner
            .instance_dir(&spec.interview_id)
            .exists()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_sandbox_destroy_stops_the_process_group_and_marked_processes() {
    let Some(cs) = code_server() else { return };
    let fixture = LocalFixture::unconfined(&cs);
    let spec = spec(&fixture.challenge);
    let (instance, _) = create_ok(fixture.provisioner.as_ref(), &spec).await;
    let record = fixture
        .provisioner
        .record(&spec.interview_id)
        .await
        .expect("record")
        .expect("a record exists");
    assert_eq!(record.pgid, record.pid, "code-server leads its own group");
    let pgid = Pid::from_raw(record.pgid as i32);
    assert_eq!(signal::killpg(pgid, None), Ok(()));
    // What a candidate's `setsid nohup … &` would leave: another session and process group,
    // but the instance's environment.
    let root = fixture.provisioner.instance_dir(&spec.interview_id);
    let mut escaped = std::process::Command::new("sleep")
        .arg("300")
        .env(INSTANCE_ENV, &root)
        .process_group(0)
        .spawn()
        .expect("spawn an escaped process");
    let escaped_pid = escaped.id();

    destroy_ok(fixture.provisioner.as_ref(), &spec.interview_id).await;

    // The leader is reaped by the provisioner, its children by init: allow a moment for that.
    let deadline = Instant::now() + Duration::from_secs(5);
    while signal::killpg(pgid, None) != Err(Errno::ESRCH) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        signal::killpg(pgid, None),
        Err(Errno::ESRCH),
        "the process group outlived destroy"
    );
    let status = escaped.wait().expect("wait for the escaped process");
    assert!(
        !status.success(),
        "the escaped process was not stopped: {escaped_pid}"
    );
    assert!(
        TcpStream::connect(authority(&instance.access_url)).is_err(),
        "the port still accepts connections"
    );
    assert!(processes_under(&root).is_empty());
    assert!(!root.exists(), "the instance folder is still there");
    assert!(
        fixture
            .provisioner
            .archive_path(&spec.interview_id)
            .is_file()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destroy_kills_the_whole_sandbox_and_closes_the_port() {
    let Some(cs) = code_server() else { return };
    let fixture = LocalFixture::new(&cs);
    let spec = spec(&fixture.challenge);
    let (instance, _) = create_ok(fixture.provisioner.as_ref(), &spec).await;
    let pids = fixture.provisioner.sandbox_pids(&spec.interview_id);
    assert!(!pids.is_empty());
    let record = fixture
        .provisioner
        .record(&spec.interview_id)
        .await
        .expect("record")
        .expect("a record exists");
    let uid = record.sandbox.as_ref().and_then(|s| s.uid);

    destroy_ok(fixture.provisioner.as_ref(), &spec.interview_id).await;

    let left: Vec<u32> = pids.iter().copied().filter(|pid| alive(*pid)).collect();
    assert!(left.is_empty(), "processes {left:?} outlived destroy");
    assert!(
        fixture
            .provisioner
            .sandbox_pids(&spec.interview_id)
            .is_empty()
    );
    assert!(
        TcpStream::connect(authority(&instance.access_url)).is_err(),
        "the port still accepts connections"
    );
    let root = fixture.provisioner.instance_dir(&spec.interview_id);
    assert!(!root.exists(), "the instance folder is still there");
    assert!(
        fixture
            .provisioner
            .archive_path(&spec.interview_id)
            .is_file()
    );
    // As root the instance had a uid of its own, and gave it back.
    if nix::unistd::geteuid().is_root() {
        let uid = uid.expect("a uid of its own as root");
        let claim =
            Path::new(prequel_core::provision::local::DEFAULT_CLAIMS_DIR).join(uid.to_string());
        assert!(!claim.exists(), "uid {uid} is still claimed");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_provisioner_adopts_a_live_instance_and_replaces_a_dead_one() {
    let Some(cs) = code_server() else { return };
    let fixture = LocalFixture::new(&cs);
    let (live, dead) = (spec(&fixture.challenge), spec(&fixture.challenge));
    // The first `serve`: it makes both, then is gone (its gateway and locks with it).
    let first = fixture.reopen(&cs);
    let (live_instance, _) = create_ok(&first, &live).await;
    create_ok(&first, &dead).await;
    let live_pids = first.sandbox_pids(&live.interview_id);
    // A crash of one instance: every process of its sandbox dies at once.
    for pid in first.sandbox_pids(&dead.interview_id) {
        let _ = signal::kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while !first.sandbox_pids(&dead.interview_id).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    drop(first);
    let url = authority(&live_instance.access_url).to_owned();
    let answered = {
        let url = url.clone();
        tokio::task::spawn_blocking(move || TcpStream::connect(url).is_ok())
            .await
            .expect("connect")
    };
    assert!(!answered, "the port answers with no serve running");

    let restarted = fixture.reopen(&cs);
    assert_eq!(
        restarted.instances().await.expect("instances").len(),
        2,
        "both instances are listed"
    );
    assert_eq!(
        restarted.status(&dead.interview_id).await.expect("status"),
        InstanceStatus::Starting,
        "a dead instance is not running"
    );

    let (adopted, progress) = create_ok(&restarted, &live).await;
    assert_eq!(adopted, live_instance, "the same URL");
    assert_eq!(progress.stages(), Vec::new(), "adoption restarts nothing");
    assert_eq!(
        restarted.sandbox_pids(&live.interview_id),
        live_pids,
        "adoption kept the processes"
    );
    // The adopting provisioner serves the URL again.
    let login = tokio::task::spawn_blocking(move || {
        exchange(
            &url,
            &format!("GET /login HTTP/1.1\r\nHost: {url}\r\nConnection: close\r\n\r\n"),
        )
    })
    .await
    .expect("login page");
    assert!(login.starts_with("HTTP/1.1 200"), "{login}");

    let (replaced, progress) = create_ok(&restarted, &dead).await;
    assert_eq!(
        progress.stages(),
        [InterviewState::Initializing, InterviewState::Configuring]
    );
    assert_eq!(
        restarted.status(&dead.interview_id).await.expect("status"),
        InstanceStatus::Running(replaced)
    );
    destroy_ok(&restarted, &live.interview_id).await;
    destroy_ok(&restarted, &dead.interview_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_sandbox_a_port_taken_at_start_is_retried_on_another_port() {
    let Some(cs) = code_server() else { return };
    let scripts = tempfile::tempdir().expect("temp");
    let first_done = scripts.path().join("first-done");
    // The first start fails the way code-server does when another process took its port; the
    // next one is the real thing.
    let fake = fake_code_server(
        scripts.path(),
        &format!(
            "if [ ! -e '{flag}' ]; then touch '{flag}'; echo 'Error: listen EADDRINUSE: address already in use' >&2; exit 1; fi\nexec '{cs}' \"$@\"",
            flag = first_done.display(),
            cs = cs.display()
        ),
    );
    let fixture = LocalFixture::with(&fake, &repository_challenges(), python(), |config| {
        config.sandbox = None;
    });
    let spec = spec(&fixture.challenge);
    let (_, progress) = create_ok(fixture.provisioner.as_ref(), &spec).await;
    let logs = progress.logs();
    assert_eq!(
        logs.iter().filter(|l| l.contains("trying another")).count(),
        1,
        "{logs:?}"
    );
    assert!(matches!(
        fixture.provisioner.status(&spec.interview_id).await,
        Ok(InstanceStatus::Running(_))
    ));
    destroy_ok(fixture.provisioner.as_ref(), &spec.interview_id).await;
}

// ---------------------------------------------------------------------------------------------
// Failed starts, with a fake code-server (always run)
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_start_that_never_answers_times_out_retryably_and_leaves_no_process() {
    let scripts = tempfile::tempdir().expect("temp");
    let fake = fake_code_server(scripts.path(), "exec sleep 300");
    let fixture = LocalFixture::with(&fake, &repository_challenges(), python(), |config| {
        config.start_timeout = Duration::from_millis(800);
    });
    let spec = spec(&fixture.challenge);
    let progress = RecordingProgress::default();
    let err = fixture
        .provisioner
        .create(&spec, &progress)
        .await
        .expect_err("a silent code-server cannot be ready");
    assert!(err.retryable, "{err}");
    assert!(err.message.contains("/healthz"), "{err}");
    let root = fixture.provisioner.instance_dir(&spec.interview_id);
    assert!(
        fixture
            .provisioner
            .sandbox_pids(&spec.interview_id)
            .is_empty(),
        "the failed start left processes"
    );
    // What is left (the folder and its log) is listed, so a cleanup destroy removes it.
    assert_eq!(
        fixture.provisioner.instances().await.expect("instances"),
        std::slice::from_ref(&spec.interview_id)
    );
    assert_eq!(
        fixture
            .provisioner
            .status(&spec.interview_id)
            .await
            .expect("status"),
        InstanceStatus::Starting
    );
    destroy_ok(fixture.provisioner.as_ref(), &spec.interview_id).await;
    assert!(!root.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_code_server_that_exits_at_once_fails_retryably_with_its_log() {
    let scripts = tempfile::tempdir().expect("temp");
    let fake = fake_code_server(
        scripts.path(),
        "echo 'boom: cannot load module' >&2\nexit 3",
    );
    let fixture = LocalFixture::with(&fake, &repository_challenges(), python(), |_| {});
    let spec = spec(&fixture.challenge);
    let err = fixture
        .provisioner
        .create(&spec, &RecordingProgress::default())
        .await
        .expect_err("an exiting code-server cannot be ready");
    assert!(err.retryable, "{err}");
    assert!(
        err.message.contains("exit code 3") && err.message.contains("boom"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_sandbox_a_port_clash_on_every_attempt_is_a_retryable_error() {
    let scripts = tempfile::tempdir().expect("temp");
    let fake = fake_code_server(
        scripts.path(),
        "echo 'Error: listen EADDRINUSE: address already in use' >&2\nexit 1",
    );
    let fixture = LocalFixture::with(&fake, &repository_challenges(), python(), |config| {
        config.sandbox = None;
    });
    let spec = spec(&fixture.challenge);
    let progress = RecordingProgress::default();
    let err = fixture
        .provisioner
        .create(&spec, &progress)
        .await
        .expect_err("no port can be bound");
    assert!(err.retryable && err.message.contains("port"), "{err}");
    assert_eq!(
        progress
            .logs()
            .iter()
            .filter(|l| l.contains("trying another"))
            .count(),
        2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_sandbox_the_password_reaches_code_server_through_its_environment() {
    // The fake prints what it received; the test reads it from the instance log.
    let scripts = tempfile::tempdir().expect("temp");
    let fake = fake_code_server(
        scripts.path(),
        "echo \"args: $*\"\necho \"password: $PASSWORD\"\necho \"home: $HOME\"\nexit 7",
    );
    let fixture = LocalFixture::with(&fake, &repository_challenges(), python(), |config| {
        config.sandbox = None;
    });
    let spec = spec(&fixture.challenge);
    let err = fixture
        .provisioner
        .create(&spec, &RecordingProgress::default())
        .await
        .expect_err("the fake exits");
    assert!(err.message.contains("exit code 7"), "{err}");
    let root = fixture.provisioner.instance_dir(&spec.interview_id);
    let log = fs::read_to_string(root.join("code-server.log")).expect("log");
    assert!(
        log.contains(&format!("password: {}", spec.password.expose())),
        "{log}"
    );
    let args = log
        .lines()
        .find(|l| l.starts_with("args: "))
        .expect("args line");
    assert!(!args.contains(spec.password.expose()));
    for flag in [
        "--auth password",
        "--disable-telemetry",
        "--disable-update-check",
        "--disable-workspace-trust",
        "--disable-getting-started-override",
        "--user-data-dir",
        "--extensions-dir",
        "--config",
        "--bind-addr 127.0.0.1:",
    ] {
        assert!(args.contains(flag), "{flag} missing from {args}");
    }
    assert!(log.contains(&format!("home: {}", root.join("home").display())));
    // The error shown to people carries the log's end, but never the password (which only
    // this fake prints).
    assert!(!err.message.contains(spec.password.expose()), "{err}");
    assert!(err.message.contains("[redacted]"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_the_sandbox_code_server_gets_its_socket_a_hash_and_a_clean_environment() {
    // The fake prints what it sees from inside; the test reads the instance log.
    let scripts = tempfile::tempdir().expect("temp");
    let fake = fake_code_server(
        scripts.path(),
        "echo \"args: $*\"\nenv | sort | sed 's/^/env: /'\necho \"id: $(id -u) $(id -g)\"\necho \"config: $(cat /etc/prequel/code-server.yaml | grep hashed)\"\nexit 7",
    );
    let fixture = LocalFixture::with(&fake, &repository_challenges(), python(), |_| {});
    let spec = spec(&fixture.challenge);
    let err = fixture
        .provisioner
        .create(&spec, &RecordingProgress::default())
        .await
        .expect_err("the fake exits");
    assert!(err.message.contains("exit code 7"), "{err}");
    let root = fixture.provisioner.instance_dir(&spec.interview_id);
    let log = fs::read_to_string(root.join("code-server.log")).expect("log");
    assert!(!log.contains(spec.password.expose()), "{log}");
    let args = log
        .lines()
        .find(|l| l.starts_with("args: "))
        .expect("args line");
    for flag in [
        "--socket /run/prequel/code-server.sock",
        "--config /etc/prequel/code-server.yaml",
        "--auth password",
        "--disable-proxy",
        "--disable-telemetry",
        "--user-data-dir /home/candidate/.local/share/code-server",
        "/workspace",
    ] {
        assert!(args.contains(flag), "{flag} missing from {args}");
    }
    assert!(!args.contains("--bind-addr"), "{args}");
    let env: Vec<&str> = log
        .lines()
        .filter_map(|l| l.strip_prefix("env: "))
        .collect();
    let names: BTreeSet<&str> = env.iter().filter_map(|l| l.split('=').next()).collect();
    // The sandbox's own variables only: nothing of serve's environment (tokens, cloud
    // credentials), no marker, no password.
    for name in &names {
        assert!(
            [
                "HOME", "USER", "LOGNAME", "SHELL", "LANG", "PATH", "PWD", "SHLVL", "_", "TZ",
                "OLDPWD"
            ]
            .contains(name),
            "unexpected variable {name} in {env:?}"
        );
    }
    assert!(env.contains(&"HOME=/home/candidate"), "{env:?}");
    assert!(log.contains("id: 1000 1000"), "{log}");
    assert!(
        log.contains("config: hashed-password: \"$argon2id$"),
        "{log}"
    );
}

#[tokio::test]
async fn find_code_server_names_where_it_looked_and_the_install_command() {
    let data = tempfile::tempdir().expect("temp");
    let missing = data.path().join("nowhere/code-server");
    let err = find_code_server(Some(&missing), data.path()).expect_err("configured path missing");
    let message = err.to_string();
    assert!(
        message.contains(&missing.display().to_string()),
        "{message}"
    );
    assert!(
        message.contains(&format!(
            "./scripts/install-code-server {}",
            data.path().join("tools/code-server").display()
        )),
        "{message}"
    );
    let default = find_code_server(Some(&missing), Path::new("./.prequel")).expect_err("missing");
    assert!(
        default
            .to_string()
            .ends_with("install it with `./scripts/install-code-server`"),
        "{default}"
    );

    let installed = data
        .path()
        .join("tools/code-server/node_modules/.bin/code-server");
    fake_code_server(data.path(), "exit 0");
    fs::create_dir_all(installed.parent().expect("parent")).expect("mkdir");
    fs::rename(data.path().join("code-server"), &installed).expect("install fake");
    assert_eq!(
        find_code_server(Some(&installed), Path::new("/nonexistent")),
        Ok(installed.clone())
    );
    match find_code_server(None, data.path()) {
        // PATH comes before the data folder; on a machine with code-server on PATH that wins.
        Ok(found) => assert!(found == installed || found.ends_with("code-server")),
        Err(err) => panic!("installed code-server not found: {err}"),
    }
    let empty = tempfile::tempdir().expect("temp");
    if let Err(err) = find_code_server(None, empty.path()) {
        assert!(err.to_string().contains("on PATH"), "{err}");
        assert!(
            err.to_string()
                .contains(&empty.path().join("tools/code-server").display().to_string()),
            "{err}"
        );
    }
}

#[test]
fn a_provisioner_without_code_server_refuses_to_open_naming_the_install_script() {
    let data = tempfile::tempdir().expect("temp");
    let config = LocalConfig::new(data.path(), data.path().join("missing/code-server"));
    let err = LocalProvisioner::new(
        config,
        Arc::new(DirChallenges::new(repository_challenges())),
    )
    .expect_err("no code-server");
    assert!(!err.retryable);
    assert!(
        err.message.contains("./scripts/install-code-server"),
        "{err}"
    );
}

/// The whole engine over real code-server, on a manual clock: an interview asked for `now`
/// becomes active, and when its 30 minutes pass the scheduler archives and destroys it on its
/// own — no process left, the archive recorded on the interview.
#[tokio::test]
async fn an_interview_is_destroyed_on_its_own_when_its_time_is_up() {
    use chrono::TimeZone;
    use prequel_core::clock::ManualClock;
    use prequel_core::domain::{Platform, Requester};
    use prequel_core::secrets::file::FileSecrets;
    use prequel_core::store::OperationStore;
    use prequel_core::store::sqlite::SqliteStore;
    use prequel_core::{Outcome, Prequel};

    let Some(code_server) = code_server() else {
        return;
    };
    let fixture = LocalFixture::new(&code_server);
    let data = fixture.dir.path();
    let start = chrono::Utc
        .with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
        .single()
        .expect("valid time");
    let clock = ManualClock::new(start);
    let store: Arc<dyn OperationStore> =
        Arc::new(SqliteStore::open(&data.join("prequel.sqlite3")).expect("store"));
    let prequel = Prequel::builder()
        .store(store.clone())
        .provisioner(fixture.provisioner.clone())
        .secrets(Arc::new(
            FileSecrets::open(data.join("secrets")).expect("secrets"),
        ))
        .clock(Arc::new(clock.clone()))
        .challenges(vec![python()])
        .build()
        .expect("engine");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let background = prequel.start(stopped).await.expect("start");
    let requester = Requester {
        platform: Platform::Cli,
        user_id: "ada".into(),
        display_name: "Ada".into(),
    };
    let Ok(Outcome::Created { interview, .. }) = prequel
        .execute_text(
            &prequel_core::access::Actor::member(requester.clone()),
            "now 30m python",
            chrono_tz::UTC,
        )
        .await
    else {
        panic!("`now 30m python` was refused");
    };

    let wait_for = |state: InterviewState| {
        let prequel = prequel.clone();
        let id = interview.id.clone();
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let now = prequel.get(&id).await.expect("read the interview");
                if now.state == state {
                    return now;
                }
                assert!(Instant::now() < deadline, "never {state}: {now:#?}");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let active = wait_for(InterviewState::Active).await;
    assert!(
        !fixture.provisioner.sandbox_pids(&interview.id).is_empty(),
        "code-server runs for the active interview"
    );
    assert!(
        active
            .challenge_checksum
            .is_some_and(|c| c.starts_with("sha256:"))
    );

    // 29 minutes in: still there.
    clock.advance(chrono::Duration::minutes(29));
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        prequel.get(&interview.id).await.expect("read").state,
        InterviewState::Active
    );
    // 30 minutes in: archived and destroyed by the scheduler alone.
    clock.advance(chrono::Duration::minutes(1));
    let destroyed = wait_for(InterviewState::Destroyed).await;
    let archive = destroyed.archive.expect("the archive is recorded");
    assert!(Path::new(&archive).is_file(), "{archive} exists");
    assert!(
        fixture.provisioner.sandbox_pids(&interview.id).is_empty(),
        "no process of the instance is left"
    );
    let _ = stop.send(true);
    background.join().await;
}
