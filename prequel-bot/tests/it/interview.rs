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
        lines[0].starts_with("warning: --token shows the admin token to everyone"),
        "{text}"
    );
    assert!(
        lines[1].starts_with("error: the admin token is wrong"),
        "{text}"
    );
}
