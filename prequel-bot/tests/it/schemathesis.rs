//! schemathesis against a real `prequel serve`: it reads `/api/openapi.json`, generates valid
//! and invalid requests for every operation, and checks every answer against the document (no
//! server error, documented status, content type, headers and body schema, auth enforced,
//! invalid data refused, valid data accepted). Bounded and seeded, so it finishes in seconds
//! and fails the same way twice.
//!
//! Needs code-server (for `prequel serve`) and schemathesis (`PREQUEL_SCHEMATHESIS`, installed
//! by `./scripts/setup-test-tools`): outside CI a missing one skips loudly, under `CI=true` it
//! fails.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{self, KillInstancesOnDrop, ServeOptions, Server, instance_processes};

/// schemathesis's settings. Every deviation from its defaults is here, with its reason.
const CONFIG: &str = r#"
# `GET /api/events` never ends: read one frame (`connection`, always first), check it against
# the documented frame schema, and hang up.
max-stream-events = 1

# `positive_data_acceptance` expects schema-valid requests to succeed. Two inputs are valid JSON
# of the documented type that no schema can tell apart from nonsense, and 400 is the right
# answer to them:
# - the words of a command: their grammar is the command language, not a JSON Schema, so
#   generated text is refused with the grammar's one-line hint;
[[operations]]
include-path = "/api/commands"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "404", "409"]

# - a token id: any 12 letters and digits fit the schema, but only the ones the server made
#   name a token; the others are 404.
[[operations]]
include-path = "/api/tokens/{id}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "404"]

# - an interview id: any id of the documented shape fits, but only the server's name one.
[[operations]]
include-path = "/api/interviews/{id}/report"
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "404"]

# - `after`, the opaque page token only the server's own `next` gives out.
[[operations]]
include-path = "/api/interviews"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401"]
"#;

/// How long schemathesis may run before the test gives up on it (it needs about 5 s).
const RUN_LIMIT: Duration = Duration::from_secs(100);

/// The schemathesis executable from `PREQUEL_SCHEMATHESIS`, with the same skip rule as
/// code-server: a loud `SKIPPED:` outside CI, a failure under `CI=true`.
fn schemathesis(test: &str) -> Option<PathBuf> {
    match std::env::var_os("PREQUEL_SCHEMATHESIS").filter(|v| !v.is_empty()) {
        Some(path) => Some(PathBuf::from(path)),
        None if std::env::var("CI").is_ok_and(|v| v == "true") => panic!(
            "{test} needs schemathesis: set PREQUEL_SCHEMATHESIS (./scripts/setup-test-tools \
             installs it and prints the line to export)"
        ),
        None => {
            support::loud(&format!(
                "SKIPPED: {test}: schemathesis is not available; \
                 eval \"$(./scripts/setup-test-tools)\" to run it"
            ));
            None
        }
    }
}

/// Runs schemathesis in `dir` (its caches land there) and returns whether it passed and what it
/// printed.
fn run_schemathesis(st: &Path, dir: &Path, server: &Server) -> (bool, String) {
    let config = dir.join("schemathesis.toml");
    std::fs::write(&config, CONFIG).expect("write the schemathesis config");
    let output = dir.join("schemathesis.out");
    let out = std::fs::File::create(&output).expect("create the output file");
    let err = out.try_clone().expect("clone the output file");
    let mut child = Command::new(st)
        .arg("--config-file")
        .arg(&config)
        .arg("--no-color")
        .arg("run")
        .arg(format!("{}/api/openapi.json", server.url))
        .args([
            "--header",
            &format!("Authorization: Bearer {}", server.token()),
        ])
        // Every check schemathesis has, not only the defaults.
        .args(["--checks", "all"])
        .args(["--max-examples", "10"])
        .args(["--seed", "20261123"])
        .args(["--request-timeout", "10"])
        .current_dir(dir)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .expect("run schemathesis");
    let deadline = Instant::now() + RUN_LIMIT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for schemathesis") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let printed = std::fs::read_to_string(&output).unwrap_or_default();
    match status {
        Some(status) => (status.success(), printed),
        None => (false, format!("{printed}\n(stopped after {RUN_LIMIT:?})")),
    }
}

/// Every open interview's id, through the API.
fn open_interviews(server: &Server) -> Vec<String> {
    let token = server.token();
    let mut ids = Vec::new();
    let mut path = "/api/interviews?limit=500".to_owned();
    loop {
        let (status, body) = support::get(&server.url, &path, Some(&token)).expect("list");
        assert_eq!(status, 200, "{body}");
        let page: Value = serde_json::from_str(&body).expect("JSON");
        ids.extend(
            page["interviews"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["id"].as_str().map(str::to_owned)),
        );
        match page["next"].as_str() {
            Some(next) => path = format!("/api/interviews?limit=500&after={next}"),
            None => return ids,
        }
    }
}

/// Destroys (or cancels) every open interview and waits until none is open.
fn destroy_everything(server: &Server) {
    let token = server.token();
    let auth = format!("Bearer {token}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let open = open_interviews(server);
        if open.is_empty() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "interviews still open after destroying them: {open:?}\n{}",
            server.log()
        );
        for id in open {
            let body = json!({"text": format!("destroy {id}")}).to_string();
            // 409 when its destroy is already under way: the loop waits for it.
            let _ = support::http(
                &server.url,
                "POST",
                "/api/commands",
                &[
                    ("Authorization", &auth),
                    ("Content-Type", "application/json"),
                ],
                &body,
            );
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn schemathesis_finds_no_server_error_and_no_answer_that_contradicts_the_document() {
    let test = "the schemathesis run";
    let Some(code_server) = support::code_server(test) else {
        return;
    };
    let Some(st) = schemathesis(test) else {
        return;
    };
    let mut server = Server::start(ServeOptions::new(code_server)).expect("start prequel serve");
    let instances = server.data_dir.join("instances");
    let _cleanup = KillInstancesOnDrop(instances.clone());
    let data_dir = server.data_dir.clone();
    let dir = tempfile::tempdir().expect("temp dir");

    let started = Instant::now();
    let (passed, printed) = run_schemathesis(&st, dir.path(), &server);
    let took = started.elapsed();
    // Clean up before judging, so a failure leaves nothing running either.
    destroy_everything(&server);
    let status = server.stop().expect("stop the server");

    assert!(passed, "schemathesis failed after {took:?}:\n{printed}");
    assert!(
        printed.contains("passed") && !printed.contains("FAILURES"),
        "{printed}"
    );
    assert!(status.success(), "prequel serve exited {status}");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let left = instance_processes(&data_dir);
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "processes left of instances in {}: {left:?}",
            data_dir.display()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
