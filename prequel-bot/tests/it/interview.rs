//! `prequel interview`: words to a running server, its answer (or its one-line refusal) back.

use std::process::Output;

use serde_json::{Value, json};

use crate::support::{self, ServeOptions, Server, prequel};

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn without_a_server_it_fails_with_a_hint_to_start_one() -> std::io::Result<()> {
    let port = support::free_port()?;
    let output = prequel()
        .args(["interview", "--server", &format!("http://127.0.0.1:{port}")])
        .arg("list")
        .env("PREQUEL_TOKEN", "whatever")
        .output()?;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(
        text.starts_with("error: cannot reach the Prequel server at http://127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("is `prequel serve` running?"), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(output.stdout.is_empty());
    Ok(())
}

#[test]
fn interview_help_names_its_flags_and_hides_the_token_value() -> std::io::Result<()> {
    let output = prequel()
        .args(["interview", "--help"])
        .env("PREQUEL_TOKEN", "secret-token-value")
        .output()?;
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "--json",
        "--server",
        "PREQUEL_SERVER",
        "--token",
        "PREQUEL_TOKEN",
        "--no-wait",
        "--tz",
    ] {
        assert!(text.contains(needle), "{needle} missing from: {text}");
    }
    assert!(!text.contains("secret-token-value"), "{text}");
    Ok(())
}

fn server(test: &str) -> Option<Server> {
    let code_server = support::code_server(test)?;
    Some(Server::start(ServeOptions::new(code_server)).unwrap_or_else(|e| panic!("{e}")))
}

/// `prequel interview` against `server`, with times read in Berlin.
fn interview(server: &Server, args: &[&str]) -> std::io::Result<Output> {
    let mut all = vec!["--tz", "Europe/Berlin"];
    all.extend_from_slice(args);
    server.interview(&all)
}

#[test]
fn json_list_on_a_fresh_server_is_an_empty_list() {
    let Some(server) = server("json_list_on_a_fresh_server_is_an_empty_list") else {
        return;
    };
    let output = interview(&server, &["--json", "list"]).expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let text = String::from_utf8_lossy(&output.stdout);
    let json: Value = serde_json::from_str(&text).expect("one JSON object");
    assert_eq!(json, json!({"interviews": []}));
}

#[test]
fn schedule_confirms_the_time_in_the_users_zone_and_refusals_exit_2() {
    let Some(server) = server("schedule_confirms_the_time_in_the_users_zone_and_refusals_exit_2")
    else {
        return;
    };
    let output = interview(
        &server,
        &["--json", "schedule", "tomorrow", "2pm", "90m", "python"],
    )
    .expect("run");
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let json: Value = serde_json::from_slice(&output.stdout).expect("one JSON object");
    let start = json["start"].as_str().expect("start");
    assert!(
        start.ends_with("T14:00:00+01:00") || start.ends_with("T14:00:00+02:00"),
        "{json}"
    );
    assert_eq!(json["status"], "scheduled");
    assert!(json["access_url"].is_null());
    assert!(json.get("password").is_none(), "{json}");

    let output = interview(&server, &["schedule", "tomorrow", "2pm", "90m", "cobol"]).expect("run");
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        "error: unknown challenge `cobol`; known challenges: python\n"
    );
}

#[test]
fn a_wrong_token_fails_with_the_servers_401_message() {
    let Some(server) = server("a_wrong_token_fails_with_the_servers_401_message") else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("token");
    std::fs::write(&file, "not-the-token\n").expect("write");
    let file = file.to_string_lossy().into_owned();
    let output = interview(&server, &["--token-file", &file, "list"]).expect("run");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(
        text.starts_with("error: the admin token is wrong"),
        "{text}"
    );
    assert!(
        text.contains(&format!("(token read from {file})")),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");

    // On the command line it still works, with a warning first: `ps` shows it to everyone.
    let output = interview(&server, &["--token", "not-the-token", "list"]).expect("run");
    let text = stderr(&output);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].starts_with("warning: --token shows the token to everyone"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("error: the admin token is wrong"),
        "{text}"
    );
}

/// Personal tokens end to end: the admin makes them with `prequel token`, each person uses
/// `prequel interview --token-file` as themselves, another person's token reaches nothing of
/// theirs, and a revoked token opens nothing.
#[test]
fn personal_tokens_let_each_person_use_the_cli_as_themselves_and_no_one_else() {
    let Some(server) =
        server("personal_tokens_let_each_person_use_the_cli_as_themselves_and_no_one_else")
    else {
        return;
    };
    let dir = tempfile::tempdir().expect("temp dir");
    let mut files = Vec::new();
    for user in ["alice", "bob"] {
        let made = server.token_cli(&["create", "--user", user]).expect("run");
        assert_eq!(made.status.code(), Some(0), "{}", stderr(&made));
        let token = String::from_utf8(made.stdout.clone()).expect("UTF-8");
        assert!(
            token.starts_with("pqt_") && token.lines().count() == 1,
            "{token}"
        );
        assert!(
            stderr(&made).contains(&format!("for {user}")),
            "{}",
            stderr(&made)
        );
        let file = dir.path().join(user);
        std::fs::write(&file, &token).expect("write the token file");
        files.push((file.to_string_lossy().into_owned(), token.trim().to_owned()));
    }
    let [(alice, alice_token), (bob, _)] = [files[0].clone(), files[1].clone()];
    let as_user = |file: &str, args: &[&str]| {
        let mut all = vec!["--token-file", file];
        all.extend_from_slice(args);
        interview(&server, &all).expect("run")
    };

    let created = as_user(&alice, &["--json", "now", "30m", "python"]);
    assert_eq!(created.status.code(), Some(0), "{}", stderr(&created));
    let created: Value = serde_json::from_slice(&created.stdout).expect("JSON");
    assert_eq!(created["status"], "active", "{created}");
    let id = created["id"].as_str().expect("id").to_owned();
    let password = created["password"].as_str().expect("password").to_owned();

    let listed = as_user(&alice, &["--json", "list"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    assert_eq!(listed["interviews"][0]["id"], id.as_str(), "{listed}");
    let listed = as_user(&bob, &["--json", "list"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("JSON");
    assert_eq!(listed, json!({"interviews": []}));

    for words in [["creds", &id], ["destroy", &id], ["status", &id]] {
        let refused = as_user(&bob, &words);
        assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
        assert!(
            stderr(&refused).starts_with(&format!("error: interview `{id}` is alice's")),
            "{}",
            stderr(&refused)
        );
        assert!(refused.stdout.is_empty());
    }
    // Notes, a score and the report, on the command line, with the interface's keys.
    let noted = as_user(&alice, &["note", &id, "clean", "start"]);
    assert_eq!(noted.status.code(), Some(0), "{}", stderr(&noted));
    let scored = as_user(&alice, &["--json", "score", &id, "yes", "good", "tests"]);
    let scored: Value = serde_json::from_slice(&scored.stdout).expect("JSON");
    assert_eq!(scored["score"]["score"], "yes", "{scored}");
    let report = as_user(&alice, &["--json", "report", &id]);
    assert_eq!(report.status.code(), Some(0), "{}", stderr(&report));
    let report: Value = serde_json::from_slice(&report.stdout).expect("JSON");
    let keys: Vec<&String> = report.as_object().expect("object").keys().collect();
    assert_eq!(
        keys,
        [
            "archive_url",
            "grades",
            "interview",
            "notes",
            "scores",
            "snapshots"
        ]
    );
    assert_eq!(report["notes"][0]["text"], "clean start");
    assert_eq!(report["scores"][0]["comment"], "good tests");
    let refused = as_user(&bob, &["report", &id]);
    assert_eq!(refused.status.code(), Some(2), "{}", stderr(&refused));
    assert!(refused.stdout.is_empty());

    let creds = as_user(&alice, &["--json", "creds", &id]);
    let creds: Value = serde_json::from_slice(&creds.stdout).expect("JSON");
    assert_eq!(
        creds["password"],
        password.as_str(),
        "still hers, still alive"
    );

    let list = server.token_cli(&["list"]).expect("run");
    assert_eq!(list.status.code(), Some(0), "{}", stderr(&list));
    let text = String::from_utf8(list.stdout).expect("UTF-8");
    assert_eq!(text.lines().count(), 3, "a header and two tokens: {text}");
    assert!(text.contains("alice") && text.contains("bob"), "{text}");
    assert!(
        !text.contains(&alice_token[17..]),
        "no secret listed: {text}"
    );

    let alice_id = &alice_token[4..16];
    let revoked = server.token_cli(&["revoke", alice_id]).expect("run");
    assert_eq!(revoked.status.code(), Some(0), "{}", stderr(&revoked));
    let after = as_user(&alice, &["list"]);
    assert_eq!(after.status.code(), Some(1), "{}", stderr(&after));
    assert!(
        stderr(&after).starts_with("error: this API token is not valid"),
        "{}",
        stderr(&after)
    );
    let unknown = server.token_cli(&["revoke", "aaaaaaaaaaaa"]).expect("run");
    assert_eq!(unknown.status.code(), Some(2), "{}", stderr(&unknown));
    assert_eq!(
        stderr(&unknown),
        "error: API token aaaaaaaaaaaa not found\n"
    );
    let as_token = server
        .token_cli(&["--token-file", &bob, "list"])
        .expect("run");
    assert_eq!(as_token.status.code(), Some(2), "{}", stderr(&as_token));
    assert!(stderr(&as_token).contains("this route needs the admin token"));

    let destroyed = interview(&server, &["destroy", &id]).expect("run");
    assert_eq!(destroyed.status.code(), Some(0), "{}", stderr(&destroyed));
}
