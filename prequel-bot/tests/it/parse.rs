//! `prequel parse`: words in, one JSON object (or one `error:` line) out.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};
use tempfile::TempDir;

const NOW: &str = "2026-11-23T10:00:00Z";

/// A challenges folder with `python` and `sql`, and a stray file that must be ignored.
fn challenges() -> std::io::Result<TempDir> {
    let dir = tempfile::tempdir()?;
    std::fs::create_dir(dir.path().join("python"))?;
    std::fs::create_dir(dir.path().join("sql"))?;
    std::fs::write(dir.path().join("README.md"), "not a challenge")?;
    Ok(dir)
}

/// Runs `prequel` with `args`, with no `PREQUEL_TZ` from the outside leaking in.
fn prequel(args: &[&str]) -> std::io::Result<Output> {
    Command::new(env!("CARGO_BIN_EXE_prequel"))
        .args(args)
        .env_remove("PREQUEL_TZ")
        .output()
}

fn parse_at(dir: &Path, zone: &str, words: &[&str]) -> std::io::Result<Output> {
    let dir = dir.to_string_lossy();
    let mut args = vec![
        "parse",
        "--now",
        NOW,
        "--tz",
        zone,
        "--challenges",
        &dir,
        "--",
    ];
    args.extend_from_slice(words);
    prequel(&args)
}

fn stdout_json(output: &Output) -> Value {
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(text.lines().count(), 1, "not one line: {text:?}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn schedule_prints_the_interview_as_json_in_the_users_offset() -> std::io::Result<()> {
    let dir = challenges()?;
    let words = "schedule tomorrow 2pm 90m python with @bob <@U024BE7LH|carol> for Ada Lovelace";
    let output = parse_at(
        dir.path(),
        "Europe/Berlin",
        &words.split(' ').collect::<Vec<_>>(),
    )?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout_json(&output),
        json!({
            "action": "schedule",
            "start": "2026-11-24T14:00:00+01:00",
            "end": "2026-11-24T15:30:00+01:00",
            "duration_minutes": 90,
            "challenge": "python",
            "candidate": "Ada Lovelace",
            "with": [{"name": "bob"}, {"id": "U024BE7LH"}],
        })
    );
    Ok(())
}

#[test]
fn create_starts_now_and_has_a_null_candidate() -> std::io::Result<()> {
    let dir = challenges()?;
    let output = parse_at(dir.path(), "America/New_York", &["now", "1h", "sql"])?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(
        stdout_json(&output),
        json!({
            "action": "create",
            "start": "2026-11-23T05:00:00-05:00",
            "end": "2026-11-23T06:00:00-05:00",
            "duration_minutes": 60,
            "challenge": "sql",
            "candidate": null,
            "with": [],
        })
    );
    Ok(())
}

#[test]
fn other_actions_print_their_arguments() -> std::io::Result<()> {
    let dir = challenges()?;
    for (words, want) in [
        (
            &["status", "K7MQ2XW9AB3C"][..],
            json!({"action": "status", "interview": "k7mq2xw9ab3c"}),
        ),
        (
            &["extend", "k7mq2xw9ab3c", "30m"],
            json!({"action": "extend", "interview": "k7mq2xw9ab3c", "minutes": 30}),
        ),
        (
            &["tz", "asia/tokyo"],
            json!({"action": "tz", "zone": "Asia/Tokyo"}),
        ),
        (&["list"], json!({"action": "list", "all": false})),
        (&["list", "all"], json!({"action": "list", "all": true})),
        (&["help"], json!({"action": "help"})),
    ] {
        let output = parse_at(dir.path(), "UTC", words)?;
        assert_eq!(
            output.status.code(),
            Some(0),
            "{words:?}: {}",
            stderr(&output)
        );
        assert_eq!(stdout_json(&output), want, "{words:?}");
    }
    Ok(())
}

#[test]
fn refused_words_print_one_error_line_and_exit_2() -> std::io::Result<()> {
    let dir = challenges()?;
    let output = parse_at(
        dir.path(),
        "Europe/Berlin",
        &["schedule", "9am", "90m", "python"],
    )?;
    assert_eq!(output.status.code(), Some(2));
    assert!(output.stdout.is_empty());
    assert_eq!(
        stderr(&output),
        "error: time in the past: 2026-11-23 09:00 in Europe/Berlin; \
         did you mean \"tomorrow 9am\"?\n"
    );

    let output = parse_at(
        dir.path(),
        "UTC",
        &["schedule", "tomorrow", "2pm", "90m", "rust"],
    )?;
    assert_eq!(output.status.code(), Some(2));
    assert_eq!(
        stderr(&output),
        "error: unknown challenge `rust`; known challenges: python, sql\n"
    );
    Ok(())
}

#[test]
fn the_zone_comes_from_prequel_tz_when_no_flag_is_given() -> std::io::Result<()> {
    let dir = challenges()?;
    let dir = dir.path().to_string_lossy();
    let output = Command::new(env!("CARGO_BIN_EXE_prequel"))
        .args([
            "parse",
            "--now",
            NOW,
            "--challenges",
            &dir,
            "--",
            "schedule",
            "tomorrow",
            "9am",
        ])
        .args(["90m", "python"])
        .env("PREQUEL_TZ", "America/New_York")
        .output()?;
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert_eq!(stdout_json(&output)["start"], "2026-11-24T09:00:00-05:00");
    Ok(())
}

#[test]
fn bad_flags_exit_2_with_an_error_line() -> std::io::Result<()> {
    let dir = challenges()?;
    let dir = dir.path().to_string_lossy();

    let output = prequel(&["parse", "--now", "yesterday", "--tz", "UTC", "--", "list"])?;
    assert_eq!(output.status.code(), Some(2));
    let first = stderr(&output)
        .lines()
        .next()
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(
        first.starts_with("error: ") && first.contains("--now"),
        "{first}"
    );
    assert!(first.contains("RFC 3339"), "{first}");

    let output = prequel(&[
        "parse",
        "--now",
        NOW,
        "--tz",
        "Mars/Olympus",
        "--challenges",
        &dir,
        "--",
        "list",
    ])?;
    assert_eq!(output.status.code(), Some(2));
    let first = stderr(&output)
        .lines()
        .next()
        .map(str::to_owned)
        .unwrap_or_default();
    assert!(
        first.starts_with("error: ") && first.contains("unknown time zone `Mars/Olympus`"),
        "{first}"
    );
    Ok(())
}

#[test]
fn a_missing_challenges_folder_is_named_in_the_error() -> std::io::Result<()> {
    let dir = tempfile::tempdir()?;
    let missing = dir.path().join("nowhere");
    let missing = missing.to_string_lossy();
    let output = prequel(&[
        "parse",
        "--now",
        NOW,
        "--tz",
        "UTC",
        "--challenges",
        &missing,
        "--",
        "list",
    ])?;
    assert_eq!(output.status.code(), Some(2));
    let text = stderr(&output);
    assert!(
        text.starts_with("error: cannot read the challenges folder `"),
        "{text}"
    );
    assert!(text.contains(&*missing), "{text}");
    assert_eq!(text.lines().count(), 1, "{text}");
    Ok(())
}

#[test]
fn help_describes_the_binary_and_the_parse_subcommand() -> std::io::Result<()> {
    let output = prequel(&["--help"])?;
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("Usage: prequel"), "{text}");
    assert!(text.contains("parse"), "{text}");

    let output = prequel(&["parse", "--help"])?;
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    for needle in ["--now", "--tz", "PREQUEL_TZ", "--challenges", "WORDS"] {
        assert!(text.contains(needle), "{needle} missing from: {text}");
    }
    Ok(())
}
