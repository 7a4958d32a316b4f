//! `prequel serve`: settings, start-up refusals, the admin token and the API it serves.

use std::os::unix::fs::PermissionsExt as _;
use std::process::Output;

use serde_json::Value;

use crate::support::{self, ServeOptions, Server, prequel};

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_bad_setting_stops_the_start_naming_the_setting_and_where_it_came_from() -> std::io::Result<()>
{
    let dir = tempfile::tempdir()?;
    let data = dir.path().join("data");
    let output = prequel()
        .arg("serve")
        .arg("--data-dir")
        .arg(&data)
        .env("PREQUEL_LISTEN", "foo")
        .output()?;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert_eq!(
        stderr(&output),
        "error: PREQUEL_LISTEN: \"foo\" is not an address like 127.0.0.1:8080\n"
    );
    assert!(
        !data.exists(),
        "a refused start must not create the data dir"
    );

    let config = dir.path().join("prequel.toml");
    std::fs::write(
        &config,
        "tz = \"Europe/Berlin\"\nlisten_on = \"127.0.0.1:1\"\n",
    )?;
    let output = prequel()
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .output()?;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("line 2: unknown field `listen_on`"), "{text}");
    assert!(text.contains(&*config.to_string_lossy()), "{text}");
    Ok(())
}

#[test]
fn without_code_server_the_start_stops_with_the_install_command() -> std::io::Result<()> {
    let challenges = support::challenges()?;
    let data = tempfile::tempdir()?;
    let empty_path = tempfile::tempdir()?;
    let output = prequel()
        .arg("serve")
        .args(["--listen", "127.0.0.1:0"])
        .env("PATH", empty_path.path())
        .env("PREQUEL_DATA_DIR", data.path())
        .env("PREQUEL_CHALLENGES", challenges.path())
        .output()?;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stderr(&output);
    let last = text.lines().last().unwrap_or_default();
    assert!(last.starts_with("error: code-server not found"), "{text}");
    assert!(last.contains("./scripts/install-code-server"), "{text}");
    assert!(
        output.stdout.is_empty(),
        "announced although it did not start"
    );
    Ok(())
}

#[test]
fn an_empty_challenges_folder_stops_the_start_naming_it() -> std::io::Result<()> {
    let challenges = tempfile::tempdir()?;
    let data = tempfile::tempdir()?;
    let output = prequel()
        .arg("serve")
        .arg("--data-dir")
        .arg(data.path())
        .arg("--challenges")
        .arg(challenges.path())
        .output()?;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let text = stderr(&output);
    assert!(text.contains("no challenges found in"), "{text}");
    assert!(
        text.contains(&*challenges.path().to_string_lossy()),
        "{text}"
    );
    Ok(())
}

#[test]
fn serve_help_names_every_setting_and_says_instances_survive_a_stop() -> std::io::Result<()> {
    let output = prequel().args(["serve", "--help"]).output()?;
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    for needle in [
        "PREQUEL_DATA_DIR",
        "PREQUEL_LISTEN",
        "PREQUEL_CHALLENGES",
        "PREQUEL_TZ",
        "PREQUEL_CODE_SERVER",
        "PREQUEL_INSTANCE_BIND",
        "PREQUEL_CONFIG",
        "--log-format",
        "running interview instances stay up",
        "adopts",
    ] {
        assert!(text.contains(needle), "{needle} missing from: {text}");
    }
    Ok(())
}

/// A server for the tests below, or `None` (after a loud skip) without code-server.
fn server(test: &str) -> Option<Server> {
    let code_server = support::code_server(test)?;
    Some(Server::start(ServeOptions::new(code_server)).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn the_admin_token_is_private_strong_and_kept_across_restarts() {
    let Some(mut first) = server("the_admin_token_is_private_strong_and_kept_across_restarts")
    else {
        return;
    };
    let token_file = first.data_dir.join("admin-token");
    let mode = std::fs::metadata(&token_file)
        .expect("token file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let token = first.token();
    assert!(
        token.len() >= 32 && token.chars().all(|c| c.is_ascii_hexdigit()),
        "weak token"
    );
    assert!(!first.log().contains(&token), "the token was logged");
    assert!(
        first.log().contains(&*token_file.to_string_lossy()),
        "{}",
        first.log()
    );
    let status = first.stop().expect("stop");
    assert!(
        status.success(),
        "SIGTERM is a clean stop: {status}\n{}",
        first.log()
    );

    let code_server = support::code_server("restart").expect("checked above");
    let options = ServeOptions {
        data_dir: Some(first.data_dir.clone()),
        ..ServeOptions::new(code_server)
    };
    let second = Server::start(options).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(second.token(), token);
}

#[test]
fn a_taken_port_stops_a_second_server_with_a_clear_error() {
    let Some(first) = server("a_taken_port_stops_a_second_server_with_a_clear_error") else {
        return;
    };
    let challenges = support::challenges().expect("challenges");
    let data = tempfile::tempdir().expect("data dir");
    let code_server = support::code_server("taken port").expect("checked above");
    let output = prequel()
        .arg("serve")
        .args(["--listen", first.url.trim_start_matches("http://")])
        .arg("--data-dir")
        .arg(data.path())
        .arg("--challenges")
        .arg(challenges.path())
        .arg("--code-server")
        .arg(code_server)
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("the port is already in use"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn malformed_json_posted_raw_is_a_400_in_the_error_shape_and_creates_nothing() {
    let Some(server) =
        server("malformed_json_posted_raw_is_a_400_in_the_error_shape_and_creates_nothing")
    else {
        return;
    };
    let auth = format!("Bearer {}", server.token());
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let (status, body) = support::http(
        &server.url,
        "POST",
        "/api/commands",
        &headers,
        "{\"text\": \"now 1h python\"",
    )
    .expect("request");
    assert_eq!(status, 400, "{body}");
    let json: Value = serde_json::from_str(&body).expect("JSON error");
    assert_eq!(json["error"]["code"], "bad_request", "{body}");
    assert!(
        json["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );

    let (status, body) = support::get(
        &server.url,
        "/api/interviews?all=true",
        Some(&server.token()),
    )
    .expect("list");
    assert_eq!(status, 200, "{body}");
    let json: Value = serde_json::from_str(&body).expect("JSON list");
    assert_eq!(json["interviews"], Value::Array(Vec::new()), "{body}");
}

/// Secrets handed over in files never reach serve's environment (what `/proc/<pid>/environ`
/// shows to every process of its user), and what serve writes is its user's alone.
#[test]
fn a_secret_in_a_file_stays_out_of_serves_environment_and_its_data_is_private() {
    let test = "a_secret_in_a_file_stays_out_of_serves_environment_and_its_data_is_private";
    let Some(code_server) = support::code_server(test) else {
        return;
    };
    let secrets = tempfile::tempdir().expect("temp dir");
    let token = "file-token-0123456789abcdef0123456789abcdef";
    let token_file = secrets.path().join("admin-token");
    std::fs::write(&token_file, format!("{token}\n")).expect("write the token");
    std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    // A data dir from an earlier, looser setup is tightened too.
    let data = tempfile::tempdir().expect("temp dir");
    let data_dir = data.path().join("data");
    std::fs::create_dir(&data_dir).expect("mkdir");
    std::fs::set_permissions(&data_dir, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let server = Server::start(ServeOptions {
        data_dir: Some(data_dir.clone()),
        env: vec![(
            "PREQUEL_ADMIN_TOKEN_FILE".to_owned(),
            token_file.to_string_lossy().into_owned(),
        )],
        ..ServeOptions::new(code_server)
    })
    .unwrap_or_else(|e| panic!("{e}"));

    let environ = std::fs::read(format!("/proc/{}/environ", server.pid())).expect("environ");
    assert!(
        !String::from_utf8_lossy(&environ).contains(token),
        "the token is in serve's environment"
    );
    let (status, _) = support::get(&server.url, "/api/interviews", Some(token)).expect("GET");
    assert_eq!(status, 200, "the file's token is the admin token");
    assert!(
        !server.data_dir.join("admin-token").exists(),
        "no second token is made"
    );
    assert!(
        !server.log().contains("is read from the environment"),
        "{}",
        server.log()
    );
    assert!(!server.log().contains(token), "the token was logged");

    let mode = |path: &std::path::Path| {
        std::fs::metadata(path)
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode(&data_dir), 0o700, "the data dir");
    for file in [
        "prequel.sqlite3",
        "prequel.sqlite3-wal",
        "prequel.sqlite3-shm",
    ] {
        let path = data_dir.join(file);
        if path.exists() || file == "prequel.sqlite3" {
            assert_eq!(mode(&path), 0o600, "{file}");
        }
    }
    assert_eq!(
        mode(&data_dir.join("secrets")),
        0o700,
        "the passwords' folder"
    );
}

#[test]
fn a_secret_in_serves_environment_works_and_earns_a_warning_without_its_value() {
    let test = "a_secret_in_serves_environment_works_and_earns_a_warning_without_its_value";
    let Some(code_server) = support::code_server(test) else {
        return;
    };
    let token = "env-token-0123456789abcdef0123456789abcdef";
    let server = Server::start(ServeOptions {
        env: vec![("PREQUEL_ADMIN_TOKEN".to_owned(), token.to_owned())],
        ..ServeOptions::new(code_server)
    })
    .unwrap_or_else(|e| panic!("{e}"));
    let (status, _) = support::get(&server.url, "/api/interviews", Some(token)).expect("GET");
    assert_eq!(status, 200);
    let log = server.log();
    assert!(
        log.contains("PREQUEL_ADMIN_TOKEN is read from the environment")
            && log.contains("set PREQUEL_ADMIN_TOKEN_FILE"),
        "{log}"
    );
    assert!(!log.contains(token), "the token was logged");
}

#[test]
fn a_secret_given_both_ways_stops_the_start_without_showing_it() -> std::io::Result<()> {
    let secrets = tempfile::tempdir()?;
    let file = secrets.path().join("token");
    std::fs::write(&file, "from-the-file-0123456789abcdef0123456789")?;
    let data = tempfile::tempdir()?;
    let output = prequel()
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(data.path())
        .env(
            "PREQUEL_ADMIN_TOKEN",
            "from-the-env-0123456789abcdef0123456789",
        )
        .env("PREQUEL_ADMIN_TOKEN_FILE", &file)
        .output()?;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let said = stderr(&output);
    assert!(
        said.contains("PREQUEL_ADMIN_TOKEN") && said.contains("set only PREQUEL_ADMIN_TOKEN_FILE"),
        "{said}"
    );
    assert!(!said.contains("from-the-"), "a value was shown: {said}");
    Ok(())
}
