//! The sandbox, attacked from inside the way a candidate would from VS Code's terminal: a shell
//! entered into a running instance's namespaces and cgroup as its user (`local_support::inside`),
//! real code-server, the real provisioner. Each test says what the attack gets: nothing, and
//! nothing changed.

use std::fs;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use prequel_core::challenge::DirChallenges;
use prequel_core::provision::local::{
    DEFAULT_UIDS, LocalConfig, LocalProvisioner, NOTES_FILE, SandboxConfig,
};
use prequel_core::testkit::provisioner_conformance::{create_ok, destroy_ok, spec};

use crate::local_support::{
    LocalFixture, alive, authority, code_server, code_server_pid, inside, post_login,
    repository_challenges, session_cookie, stdout, tiny, tiny_challenges_with,
};

/// The archive's entries: path → (is a link, contents).
fn archive_entries(archive: &Path) -> std::collections::BTreeMap<String, (bool, Vec<u8>)> {
    let mut out = std::collections::BTreeMap::new();
    let mut tar = tar::Archive::new(flate2::read::GzDecoder::new(
        fs::File::open(archive).expect("open archive"),
    ));
    for entry in tar.entries().expect("entries") {
        let mut entry = entry.expect("entry");
        let path = entry.path().expect("path").to_string_lossy().into_owned();
        let link = entry.header().entry_type().is_symlink();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).expect("read");
        out.insert(path, (link, bytes));
    }
    out
}

/// Fails the test with what the command printed.
fn expect_fails(output: &std::process::Output, what: &str) {
    assert!(
        !output.status.success(),
        "{what} succeeded from inside the sandbox: {}{}",
        stdout(output),
        String::from_utf8_lossy(&output.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn from_inside_nothing_of_the_server_other_instances_or_the_host_is_in_reach() {
    let Some(cs) = code_server() else { return };
    let fixture = LocalFixture::new(&cs);
    let data = fixture.provisioner.config().data_dir.clone();
    // What serve keeps beside the instances.
    fs::write(data.join("admin-token"), "the-admin-token\n").expect("token");
    fs::write(data.join("prequel.sqlite3"), "a database").expect("db");
    fs::create_dir_all(data.join("secrets")).expect("secrets");
    fs::write(data.join("secrets/other"), "another interview's password").expect("secret");
    // A service of the host on loopback, as serve's API is.
    let api = TcpListener::bind("127.0.0.1:0").expect("a loopback service");
    let api_port = api.local_addr().expect("addr").port();

    let (mine, other) = (spec(&fixture.challenge), spec(&fixture.challenge));
    create_ok(fixture.provisioner.as_ref(), &mine).await;
    let (other_instance, _) = create_ok(fixture.provisioner.as_ref(), &other).await;
    let other_workspace = fixture.provisioner.workspace_dir(&other.interview_id);
    let other_pid = code_server_pid(&fixture.provisioner, &other.interview_id);
    let other_port = authority(&other_instance.access_url)
        .rsplit(':')
        .next()
        .expect("port")
        .to_owned();
    let provisioner = fixture.provisioner.clone();
    let id = mine.interview_id.clone();
    let run = move |script: String| {
        let provisioner = provisioner.clone();
        let id = id.clone();
        async move {
            tokio::task::spawn_blocking(move || inside(&provisioner, &id, &script))
                .await
                .expect("inside")
        }
    };

    // Files: the data dir, its token, database and secrets, another instance's workspace,
    // serve's home and the challenges' hidden tests and reference solution do not exist.
    let reference = repository_challenges().join("python/reference");
    for path in [
        data.join("admin-token"),
        data.join("prequel.sqlite3"),
        data.join("secrets/other"),
        other_workspace.join("orders_report.py"),
        reference.join("orders_report.py"),
        PathBuf::from("/root/.bashrc"),
    ] {
        let output = run(format!("cat '{}'", path.display())).await;
        expect_fails(&output, &format!("reading {}", path.display()));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            stderr.contains("No such file"),
            "{}: {stderr}",
            path.display()
        );
    }
    expect_fails(
        &run(format!("ls '{}'", data.display())).await,
        "listing the data dir",
    );
    // Of /var/tmp, only code-server's install (read-only) is there when it lives there.
    let var_tmp = stdout(&run("ls -A /var/tmp /tmp".to_owned()).await);
    assert!(
        !var_tmp.contains("moto") && !var_tmp.contains("browser"),
        "{var_tmp}"
    );
    expect_fails(
        &run("touch /usr/bin/planted".to_owned()).await,
        "writing to /usr",
    );

    // Identity: the candidate's own user, with no capabilities and no new privileges.
    let id_line =
        stdout(&run("id -u; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status".to_owned()).await);
    assert!(id_line.starts_with("1000\n"), "{id_line}");
    assert!(id_line.contains("CapEff:\t0000000000000000"), "{id_line}");
    assert!(id_line.contains("NoNewPrivs:\t1"), "{id_line}");
    let host_uid = fs::read_to_string(format!(
        "/proc/{}/status",
        code_server_pid(&fixture.provisioner, &mine.interview_id)
    ))
    .expect("status")
    .lines()
    .find_map(|l| {
        l.strip_prefix("Uid:")
            .map(|u| u.split_whitespace().next().unwrap_or_default().to_owned())
    })
    .expect("uid line");
    let serve_uid = nix::unistd::geteuid().as_raw().to_string();
    assert_ne!(host_uid, serve_uid, "the candidate runs as serve's user");
    if nix::unistd::geteuid().is_root() {
        let uid: u32 = host_uid.parse().expect("uid");
        assert!(
            DEFAULT_UIDS.contains(&uid),
            "{uid} is outside the sandbox range"
        );
    }

    // Processes: only the instance's own; the other instance's code-server and this process
    // (standing in for serve) cannot be signalled.
    let procs = stdout(
        &run(
            "cat /proc/[0-9]*/cmdline | tr '\\0' ' '; echo; ls -d /proc/[0-9]* | wc -l".to_owned(),
        )
        .await,
    );
    assert!(!procs.contains(other.interview_id.as_str()), "{procs}");
    assert!(
        !procs.contains("cargo") && !procs.contains("it-"),
        "{procs}"
    );
    let count: usize = procs
        .lines()
        .last()
        .and_then(|l| l.trim().parse().ok())
        .expect("count");
    assert!(count < 40, "{count} processes visible: {procs}");
    for pid in [other_pid, std::process::id()] {
        expect_fails(
            &run(format!("kill -9 {pid}")).await,
            &format!("killing pid {pid}"),
        );
    }
    assert!(
        alive(other_pid),
        "the other instance's code-server was killed from inside"
    );

    // Network: nothing on the host's loopback, the other instance, link-local metadata.
    for (host, port) in [
        ("127.0.0.1", api_port.to_string()),
        ("127.0.0.1", other_port.clone()),
        ("169.254.169.254", "80".to_owned()),
    ] {
        let output = run(format!(
            "timeout 5 bash -c 'echo hi > /dev/tcp/{host}/{port}'"
        ))
        .await;
        expect_fails(&output, &format!("connecting to {host}:{port}"));
    }
    let routes = stdout(&run("cat /proc/net/route /proc/net/dev".to_owned()).await);
    assert!(
        !routes.contains("eth"),
        "the host's interfaces are visible: {routes}"
    );
    drop(api);

    // A link planted in the workspace to the admin token archives as a link, never the token.
    let planted = run(format!(
        "ln -s '{}' /workspace/token && echo planted",
        data.join("admin-token").display()
    ))
    .await;
    assert!(stdout(&planted).contains("planted"), "{planted:?}");
    let destroyed = destroy_ok(fixture.provisioner.as_ref(), &mine.interview_id).await;
    let entries = archive_entries(Path::new(&destroyed.archive.expect("archive")));
    let token = &entries[&format!("{}/token", mine.interview_id)];
    assert!(token.0, "the link was not archived as a link");
    assert!(
        !entries
            .values()
            .any(|(_, bytes)| bytes.starts_with(b"the-admin-token"))
    );
    destroy_ok(fixture.provisioner.as_ref(), &other.interview_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_active_instance_has_its_challenges_limits_in_its_cgroup() {
    let Some(cs) = code_server() else { return };
    let challenges = tiny_challenges_with("\n[sandbox]\nmemory = 1536\ntasks = 300\ncpus = 1.5\n");
    let fixture = LocalFixture::with(&cs, challenges.path(), tiny(), |_| {});
    let spec = spec(&fixture.challenge);
    create_ok(fixture.provisioner.as_ref(), &spec).await;
    let pid = code_server_pid(&fixture.provisioner, &spec.interview_id);
    let cgroups = fs::read_to_string(format!("/proc/{pid}/cgroup")).expect("cgroups");
    let file = |controller: &str, name: &str| {
        let line = cgroups
            .lines()
            .find(|l| l.split(':').nth(1) == Some(controller))
            .unwrap_or_else(|| panic!("no {controller} cgroup: {cgroups}"));
        let path = line.splitn(3, ':').nth(2).expect("path");
        fs::read_to_string(format!("/sys/fs/cgroup/{controller}{path}/{name}"))
            .expect("cgroup file")
            .trim()
            .to_owned()
    };
    if cgroups
        .lines()
        .any(|l| l.split(':').nth(1) == Some("memory"))
    {
        // cgroup v1, as on the development machines.
        assert_eq!(
            file("memory", "memory.limit_in_bytes"),
            (1536u64 << 20).to_string()
        );
        assert_eq!(file("pids", "pids.max"), "300");
        assert_eq!(
            file("cpu", "cpu.cfs_quota_us"),
            "150000",
            "the CPU cap once active"
        );
    } else {
        assert_eq!(file("", "memory.max"), (1536u64 << 20).to_string());
        assert_eq!(file("", "pids.max"), "300");
        assert_eq!(file("", "cpu.max"), "150000 100000");
    }
    destroy_ok(fixture.provisioner.as_ref(), &spec.interview_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_setsid_process_without_markers_is_gone_after_destroy() {
    let Some(cs) = code_server() else { return };
    let fixture = LocalFixture::new(&cs);
    let spec = spec(&fixture.challenge);
    create_ok(fixture.provisioner.as_ref(), &spec).await;
    let (provisioner, id) = (fixture.provisioner.clone(), spec.interview_id.clone());
    let escaped = tokio::task::spawn_blocking(move || {
        inside(
            &provisioner,
            &id,
            "setsid env -i sleep 4242 </dev/null >/dev/null 2>&1 & echo started",
        )
    })
    .await
    .expect("inside");
    assert!(stdout(&escaped).contains("started"), "{escaped:?}");
    let sleeper = {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let found = fixture
                .provisioner
                .sandbox_pids(&spec.interview_id)
                .into_iter()
                .find(|pid| crate::local_support::cmdline(*pid as i32).contains("sleep 4242"));
            if let Some(pid) = found {
                break pid;
            }
            assert!(
                Instant::now() < deadline,
                "the escaped process never showed up"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    destroy_ok(fixture.provisioner.as_ref(), &spec.interview_id).await;
    assert!(
        !alive(sleeper),
        "the setsid process {sleeper} survived destroy"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_files_and_a_fifo_do_not_stop_destroy_and_are_named_in_the_archive() {
    let Some(cs) = code_server() else { return };
    let fixture = LocalFixture::new(&cs);
    let spec = spec(&fixture.challenge);
    create_ok(fixture.provisioner.as_ref(), &spec).await;
    let (provisioner, id) = (fixture.provisioner.clone(), spec.interview_id.clone());
    let prepared = tokio::task::spawn_blocking(move || {
        inside(
            &provisioner,
            &id,
            "cd /workspace && echo 'print(42)' > answer.py && echo hidden > locked.txt \
             && chmod 000 locked.txt && mkdir closed && echo x > closed/f && chmod 000 closed \
             && mkfifo pipe && echo ready",
        )
    })
    .await
    .expect("inside");
    assert!(stdout(&prepared).contains("ready"), "{prepared:?}");
    let destroyed = destroy_ok(fixture.provisioner.as_ref(), &spec.interview_id).await;
    let id = spec.interview_id.as_str();
    let entries = archive_entries(Path::new(&destroyed.archive.expect("archive")));
    assert_eq!(entries[&format!("{id}/answer.py")].1, b"print(42)\n");
    let notes = String::from_utf8(entries[&format!("{id}/{NOTES_FILE}")].1.clone()).expect("utf8");
    assert!(
        notes.contains(&format!("{id}/pipe: not a regular file")),
        "{notes}"
    );
    // As root the unreadable file is still read; unprivileged it is named as skipped.
    assert!(
        entries.contains_key(&format!("{id}/locked.txt"))
            || notes.contains("locked.txt: permission denied"),
        "{notes}"
    );
    assert!(
        !fixture
            .provisioner
            .instance_dir(&spec.interview_id)
            .exists()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_workspace_cannot_be_swapped_from_inside_and_a_swapped_one_is_archived_as_a_link() {
    let Some(cs) = code_server() else { return };
    // In the sandbox the workspace is a mount point: it cannot be moved or replaced.
    let fixture = LocalFixture::new(&cs);
    let spec = spec(&fixture.challenge);
    create_ok(fixture.provisioner.as_ref(), &spec).await;
    let (provisioner, id) = (fixture.provisioner.clone(), spec.interview_id.clone());
    let swap =
        tokio::task::spawn_blocking(move || inside(&provisioner, &id, "cd / && mv workspace w2"))
            .await
            .expect("inside");
    expect_fails(&swap, "moving the workspace");
    destroy_ok(fixture.provisioner.as_ref(), &spec.interview_id).await;

    // Without the sandbox the candidate can reach the host folder: the archive follows nothing.
    let fixture = LocalFixture::unconfined(&cs);
    let spec = prequel_core::testkit::provisioner_conformance::spec(&fixture.challenge);
    create_ok(fixture.provisioner.as_ref(), &spec).await;
    let data = fixture.provisioner.config().data_dir.clone();
    fs::create_dir_all(data.join("secrets")).expect("secrets");
    fs::write(data.join("secrets/other"), "another interview's password").expect("secret");
    let workspace = fixture.provisioner.workspace_dir(&spec.interview_id);
    fs::rename(&workspace, workspace.with_extension("real")).expect("move the work away");
    std::os::unix::fs::symlink(data.join("secrets"), &workspace).expect("swap in a link");
    let destroyed = destroy_ok(fixture.provisioner.as_ref(), &spec.interview_id).await;
    let entries = archive_entries(Path::new(&destroyed.archive.expect("archive")));
    assert!(entries[spec.interview_id.as_str()].0, "{entries:?}");
    assert!(
        !entries
            .values()
            .any(|(_, bytes)| bytes.starts_with(b"another interview")),
        "a secret was archived: {entries:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_bomb_and_a_runaway_allocation_stop_inside_their_instance() {
    let Some(cs) = code_server() else { return };
    let fixture = LocalFixture::new(&cs);
    let (bomber, neighbour) = (spec(&fixture.challenge), spec(&fixture.challenge));
    create_ok(fixture.provisioner.as_ref(), &bomber).await;
    let (next_door, _) = create_ok(fixture.provisioner.as_ref(), &neighbour).await;
    let (provisioner, id) = (fixture.provisioner.clone(), bomber.interview_id.clone());
    let allocation = tokio::task::spawn_blocking(move || {
        inside(
            &provisioner,
            &id,
            "python3 -c 'b = bytearray(4 << 30); print(len(b))'",
        )
    })
    .await
    .expect("inside");
    // The kernel kills it at the instance's 2 GiB (or Python gives up): either way, no 4 GiB.
    expect_fails(&allocation, "allocating 4 GiB");

    let (provisioner, id) = (fixture.provisioner.clone(), bomber.interview_id.clone());
    let bomb = std::thread::spawn(move || {
        inside(
            &provisioner,
            &id,
            "timeout -s KILL 8 bash -c 'bomb() { bomb | bomb & }; bomb' 2>/dev/null; echo done",
        )
    });
    // While it runs (the group at its task limit), the neighbour still logs in.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let tasks = fixture.provisioner.sandbox_pids(&bomber.interview_id).len();
    assert!(tasks > 50, "the bomb did not get going ({tasks} processes)");
    assert!(
        tasks <= 512,
        "{tasks} processes: the task limit did not hold"
    );
    let host = authority(&next_door.access_url).to_owned();
    let password = neighbour.password.expose().to_owned();
    let login = tokio::task::spawn_blocking(move || post_login(&host, &password))
        .await
        .expect("login");
    assert!(
        session_cookie(&login).is_some(),
        "the neighbour could not log in: {login}"
    );
    let _ = bomb.join();
    let pids = fixture.provisioner.sandbox_pids(&bomber.interview_id);
    destroy_ok(fixture.provisioner.as_ref(), &bomber.interview_id).await;
    assert!(
        pids.iter().all(|pid| !alive(*pid)),
        "processes of the bomb survived destroy"
    );
    assert!(
        fixture
            .provisioner
            .sandbox_pids(&bomber.interview_id)
            .is_empty()
    );
    destroy_ok(fixture.provisioner.as_ref(), &neighbour.interview_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_internet_challenge_reaches_public_registries_through_the_proxy_and_nothing_private() {
    let Some(cs) = code_server() else { return };
    let challenges = tiny_challenges_with("\n[sandbox]\nnetwork = \"internet\"\n");
    let fixture = LocalFixture::with(&cs, challenges.path(), tiny(), |_| {});
    let (online, offline_challenges) = (spec(&fixture.challenge), tiny_challenges_with(""));
    create_ok(fixture.provisioner.as_ref(), &online).await;
    let api = TcpListener::bind("0.0.0.0:0").expect("a service on every address");
    let api_port = api.local_addr().expect("addr").port();
    let (provisioner, id) = (fixture.provisioner.clone(), online.interview_id.clone());
    let script = format!(
        "code() {{ curl -s -o /dev/null -m 20 -w '%{{http_code}}' \"$@\"; echo \" $?\"; }}; \
         echo \"pypi $(code https://pypi.org/simple/six/)\"; \
         echo \"metadata $(code http://169.254.169.254/latest/meta-data/)\"; \
         echo \"loopback $(code http://localhost:{api_port}/ --noproxy '')\"; \
         echo \"private $(code http://10.1.2.3/)\"; \
         echo \"ssh $(code http://pypi.org:22/)\"; \
         echo \"direct $(code --noproxy '*' https://pypi.org/simple/six/)\""
    );
    let output = tokio::task::spawn_blocking(move || inside(&provisioner, &id, &script))
        .await
        .expect("inside");
    let text = stdout(&output);
    let result = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap_or_default()
            .to_owned()
    };
    assert_eq!(result("pypi"), "200 0", "{text}");
    for refused in ["metadata", "loopback", "private", "ssh"] {
        assert!(result(refused).starts_with("403"), "{refused}: {text}");
    }
    assert!(
        !result("direct").starts_with("200"),
        "reached the internet without the proxy: {text}"
    );
    destroy_ok(fixture.provisioner.as_ref(), &online.interview_id).await;
    drop(api);

    // The default is no network at all: the same request through no proxy goes nowhere.
    let offline = LocalFixture::with(&cs, offline_challenges.path(), tiny(), |_| {});
    let spec = spec(&offline.challenge);
    create_ok(offline.provisioner.as_ref(), &spec).await;
    let (provisioner, id) = (offline.provisioner.clone(), spec.interview_id.clone());
    let output = tokio::task::spawn_blocking(move || {
        inside(&provisioner, &id, "env | grep -i proxy; curl -s -o /dev/null -m 10 -w '%{http_code}' https://pypi.org/simple/six/; echo \" $?\"")
    })
    .await
    .expect("inside");
    let text = stdout(&output);
    assert!(!text.to_lowercase().contains("proxy="), "{text}");
    assert!(!text.starts_with("200"), "{text}");
    destroy_ok(offline.provisioner.as_ref(), &spec.interview_id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_challenge_has_python_with_pandas_node_sqlite3_and_git_in_its_terminal() {
    let Some(cs) = code_server() else { return };
    if crate::local_support::sandbox_tools().is_none() {
        assert!(
            !crate::local_support::in_ci(),
            "CI=true needs PREQUEL_SANDBOX_TOOLS (./scripts/install-sandbox) for this test"
        );
        eprintln!(
            "SKIPPED: PREQUEL_SANDBOX_TOOLS is not set (./scripts/install-sandbox prints it)"
        );
        return;
    }
    for challenge in ["python", "javascript", "sql"] {
        let challenge = prequel_core::domain::ChallengeId::parse(challenge).expect("id");
        let fixture = LocalFixture::with(&cs, &repository_challenges(), challenge.clone(), |_| {});
        let spec = spec(&challenge);
        create_ok(fixture.provisioner.as_ref(), &spec).await;
        let (provisioner, id) = (fixture.provisioner.clone(), spec.interview_id.clone());
        let output = tokio::task::spawn_blocking(move || {
            inside(
                &provisioner,
                &id,
                "cd /workspace && python3 -c 'import pandas, pytest; print(\"pandas\", pandas.__version__)' \
                 && node -e 'console.log(\"node\", 6 * 7)' \
                 && sqlite3 :memory: 'select \"sqlite\", 40 + 2;' \
                 && git --version && ls",
            )
        })
        .await
        .expect("inside");
        let text = stdout(&output);
        assert!(output.status.success(), "{challenge}: {output:?}");
        assert!(text.contains("pandas 2.2.3"), "{challenge}: {text}");
        assert!(text.contains("node 42"), "{challenge}: {text}");
        assert!(text.contains("sqlite|42"), "{challenge}: {text}");
        assert!(text.contains("git version"), "{challenge}: {text}");
        // The starter files are there, the hidden tests and the reference are not.
        assert!(text.contains("README.md"), "{challenge}: {text}");
        assert!(!text.contains("reference"), "{challenge}: {text}");
        destroy_ok(fixture.provisioner.as_ref(), &spec.interview_id).await;
    }
}

#[test]
fn without_bubblewrap_the_provisioner_refuses_to_open_and_says_how_to_fix_it() {
    let data = tempfile::tempdir().expect("temp");
    let scripts = tempfile::tempdir().expect("temp");
    let fake = crate::local_support::fake_code_server(scripts.path(), "exit 0");
    let mut config = LocalConfig::new(data.path(), &fake);
    config.sandbox = Some(SandboxConfig {
        bwrap: Some(data.path().join("no/bwrap")),
        ..SandboxConfig::default()
    });
    let err = LocalProvisioner::new(
        config,
        std::sync::Arc::new(DirChallenges::new(repository_challenges())),
    )
    .expect_err("no bubblewrap");
    assert!(!err.retryable);
    assert!(!err.message.contains('\n'), "{err}");
    assert!(err.message.contains("bwrap"), "{err}");
    assert!(err.message.contains("apt-get install bubblewrap"), "{err}");
    assert!(err.message.contains("--sandbox off"), "{err}");
    // Nothing was made: no instance, no probe folder left in the data dir.
    let left: Vec<_> = fs::read_dir(data.path())
        .expect("data")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with(".sandbox-probe"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
