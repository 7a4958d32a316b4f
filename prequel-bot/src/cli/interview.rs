//! `prequel interview WORDS…`: the same words as `/interview` in chat, sent to a running
//! `prequel serve` over its JSON API.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::DateTime;
use chrono_tz::Tz;
use clap::Args;
use prequel_core::command::parse_zone;
use prequel_core::domain::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::client::{Client, Failure, ServerArgs, say, say_err};

/// Arguments of `prequel interview`.
#[derive(Debug, Args)]
#[command(after_help = "Examples:\n  \
    prequel interview schedule tomorrow 2pm 90m python for Ada Lovelace\n  \
    prequel interview now 1h sql\n  \
    prequel interview --json list")]
pub struct InterviewArgs {
    /// Print one JSON object on stdout instead of text
    #[arg(long)]
    json: bool,

    #[command(flatten)]
    server: ServerArgs,

    /// For `now`: return once the interview is recorded instead of waiting until it is ready
    #[arg(long)]
    no_wait: bool,

    /// The IANA time zone your times are read in [default: the system's zone, else UTC]
    #[arg(long, value_name = "IANA", env = "PREQUEL_TZ", value_parser = parse_tz)]
    tz: Option<Tz>,

    /// The words, as typed after `/interview` (`help` lists them)
    #[arg(value_name = "WORDS", required = true)]
    words: Vec<String>,
}

/// How often `now` asks for the interview's state while it is provisioned: a cheap local request,
/// and a start takes ≈ 0.4 s, so a coarse poll would add most of a start again (issue 4's event
/// stream will replace polling).
const POLL_EVERY: Duration = Duration::from_millis(50);
/// How long `now` waits for an instance before giving up (the interview goes on regardless).
const WAIT_AT_MOST: Duration = Duration::from_secs(10 * 60);
/// Polls in a row that may fail (a server restart) before the wait is given up.
const POLL_FAILURES_TOLERATED: u32 = 10;

fn parse_tz(text: &str) -> Result<Tz, String> {
    parse_zone(text).map_err(|error| error.user_message())
}

/// An interview as the API answers it. `time_zone` is read for display, not printed in JSON;
/// `password` is filled in only from the answers to `now`/`create` and `creds`.
#[derive(Debug, Clone, Deserialize, Serialize)]
struct InterviewJson {
    id: String,
    status: String,
    challenge: String,
    candidate: Option<String>,
    start: String,
    end: String,
    access_url: Option<String>,
    reason: Option<String>,
    #[serde(skip_serializing)]
    time_zone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    password: Option<String>,
}

/// Runs `prequel interview`.
pub fn run(args: InterviewArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(interview(&args)).or_else(Failure::report)
}

async fn interview(args: &InterviewArgs) -> Result<ExitCode, Failure> {
    let client = Client::new(&args.server)?;
    let zone = args.tz.unwrap_or_else(crate::config::system_zone);
    let text = args.words.join(" ");
    let mut body = json!({"text": text, "tz": zone.name()});
    // A personal token is its user; the admin token acts on behalf of the login running this.
    if !client.is_personal() {
        body["user"] = json!(std::env::var("USER").unwrap_or_else(|_| "cli".to_owned()));
    }
    let answer = client.post("/api/commands", &body).await?;
    let action = answer["action"].as_str().unwrap_or_default().to_owned();
    let password = answer["password"].as_str().map(SecretString::new);
    let interview = match answer.get("interview") {
        Some(value) => Some(interview_from(value, password.as_ref())?),
        None => None,
    };
    match (action.as_str(), interview) {
        ("report", Some(interview)) => Ok(show_report(&interview, answer, args.json)),
        ("create", Some(created)) if !args.no_wait => {
            wait_until_ready(&client, created, args.json).await
        }
        (_, Some(interview)) => show_interview(&action, &interview, &answer, args.json),
        ("list", None) => show_list(&answer, args.json),
        _ => show_other(&action, &answer, args.json),
    }
}

fn interview_from(
    value: &Value,
    password: Option<&SecretString>,
) -> Result<InterviewJson, Failure> {
    let mut interview: InterviewJson = serde_json::from_value(value.clone())
        .map_err(|e| Failure::Failed(format!("the server's answer was not understood: {e}")))?;
    interview.password = password.map(|p| p.expose().to_owned());
    Ok(interview)
}

/// Follows a new interview until its instance is ready, printing each stage on stderr.
async fn wait_until_ready(
    client: &Client,
    mut interview: InterviewJson,
    json: bool,
) -> Result<ExitCode, Failure> {
    let password = interview.password.take();
    let started = Instant::now();
    let mut shown = String::new();
    let mut failures = 0;
    loop {
        if interview.status != shown && interview.status != "active" {
            say_err(&format!("{}…", interview.status));
            shown.clone_from(&interview.status);
        }
        match interview.status.as_str() {
            "active" => break,
            "failed" | "cancelled" | "destroying" | "destroyed" => {
                let reason = interview
                    .reason
                    .clone()
                    .unwrap_or_else(|| "no reason given".to_owned());
                if json {
                    print_json(&serde_json::to_value(&interview).unwrap_or_default());
                }
                return Err(Failure::Failed(format!(
                    "interview {} {}: {reason}",
                    interview.id, interview.status
                )));
            }
            _ if started.elapsed() > WAIT_AT_MOST => {
                return Err(Failure::Failed(format!(
                    "interview {} is still {} after {} minutes; follow it with `prequel interview status {}`",
                    interview.id,
                    interview.status,
                    WAIT_AT_MOST.as_secs() / 60,
                    interview.id
                )));
            }
            _ => {}
        }
        tokio::time::sleep(POLL_EVERY).await;
        // `status` through the commands route, which either kind of token opens.
        match client
            .post(
                "/api/commands",
                &json!({"text": format!("status {}", interview.id)}),
            )
            .await
        {
            Ok(answer) => {
                failures = 0;
                interview = interview_from(&answer["interview"], None)?;
            }
            Err(_) if failures < POLL_FAILURES_TOLERATED => failures += 1,
            Err(failure) => return Err(failure),
        }
    }
    interview.password = password;
    show_interview("create", &interview, &Value::Null, json)
}

fn show_interview(
    action: &str,
    interview: &InterviewJson,
    answer: &Value,
    json: bool,
) -> Result<ExitCode, Failure> {
    if json {
        let mut value = serde_json::to_value(interview).unwrap_or_default();
        match action {
            "status" => value["operations"] = answer["operations"].clone(),
            "note" | "score" => value[action] = answer[action].clone(),
            _ => {}
        }
        print_json(&value);
        return Ok(ExitCode::SUCCESS);
    }
    let id = &interview.id;
    let when = describe_times(interview);
    let mut lines = match action {
        "schedule" => vec![
            format!("scheduled {id}: {} {when}", what(interview)),
            format!("call it off with: prequel interview cancel {id}"),
        ],
        "cancel" => vec![format!("cancelled {id}: {} {when}", what(interview))],
        "destroy" => vec![format!("{id} is being archived and destroyed")],
        "extend" => vec![format!("{id} now runs {when}")],
        "note" => vec![format!(
            "noted on {id} (only you, the co-interviewers and admins can read it)"
        )],
        "score" => vec![format!(
            "your score for {id}: {}{}",
            answer["score"]["score"].as_str().unwrap_or("?"),
            answer["score"]["comment"]
                .as_str()
                .map(|c| format!(" — {c}"))
                .unwrap_or_default()
        )],
        "create" if interview.status == "active" => {
            vec![format!("{id} is ready: {} {when}", what(interview))]
        }
        _ => vec![format!(
            "{id}: {} {when} — {}",
            what(interview),
            interview.status
        )],
    };
    // The URL stays on the record after the instance is gone; show it only while it works.
    let reachable = matches!(interview.status.as_str(), "configuring" | "active");
    if let Some(url) = interview.access_url.as_ref().filter(|_| reachable) {
        lines.push(format!("  url:      {url}"));
    }
    if let Some(password) = &interview.password {
        lines.push(format!("  password: {password}"));
    } else if action == "creds" {
        lines.push(
            "  password: none (the instance is not provisioned yet, or already gone)".to_owned(),
        );
    }
    if let Some(reason) = &interview.reason {
        lines.push(format!("  reason:   {reason}"));
    }
    for op in answer["operations"].as_array().into_iter().flatten() {
        let error = op["error"]
            .as_str()
            .map(|e| format!(" — {e}"))
            .unwrap_or_default();
        lines.push(format!(
            "  {} {} (attempts {}, due {}){error}",
            op["kind"].as_str().unwrap_or("?"),
            op["status"].as_str().unwrap_or("?"),
            op["attempts"],
            op["due_at"].as_str().unwrap_or("?"),
        ));
    }
    say(&lines.join("\n"));
    Ok(ExitCode::SUCCESS)
}

/// `report`: with `--json`, the report object (`interview`, `grades`, `notes`, `scores`,
/// `snapshots`, `archive_url`); else a few lines.
fn show_report(interview: &InterviewJson, mut answer: Value, json: bool) -> ExitCode {
    if json {
        if let Some(object) = answer.as_object_mut() {
            object.remove("action");
        }
        print_json(&answer);
        return ExitCode::SUCCESS;
    }
    let mut lines = vec![format!(
        "{}: {} {} — {}",
        interview.id,
        what(interview),
        describe_times(interview),
        interview.status
    )];
    let list = |key: &str| answer[key].as_array().cloned().unwrap_or_default();
    let by = |item: &Value| {
        item["by"]["display_name"]
            .as_str()
            .unwrap_or("?")
            .to_owned()
    };
    for score in list("scores") {
        let comment = score["comment"]
            .as_str()
            .map(|c| format!(" — {c}"))
            .unwrap_or_default();
        lines.push(format!(
            "  score  {}: {}{comment}",
            by(&score),
            score["score"].as_str().unwrap_or("?")
        ));
    }
    for note in list("notes") {
        lines.push(format!(
            "  note   {} {}: {}",
            note["at"].as_str().unwrap_or("?"),
            by(&note),
            note["text"].as_str().unwrap_or_default()
        ));
    }
    lines.push(format!(
        "  grades: {}, snapshots: {}",
        list("grades").len(),
        list("snapshots").len()
    ));
    if let Some(url) = answer["archive_url"].as_str() {
        lines.push(format!("  archive: {url}"));
    }
    say(&lines.join("\n"));
    ExitCode::SUCCESS
}

fn show_list(answer: &Value, json: bool) -> Result<ExitCode, Failure> {
    let interviews: Vec<InterviewJson> = serde_json::from_value(answer["interviews"].clone())
        .map_err(|e| Failure::Failed(format!("the server's answer was not understood: {e}")))?;
    if json {
        print_json(&json!({ "interviews": interviews }));
    } else if interviews.is_empty() {
        say("no open interviews");
    } else {
        let lines: Vec<String> = interviews
            .iter()
            .map(|i| {
                format!(
                    "{}  {:<12}  {} {}",
                    i.id,
                    i.status,
                    what(i),
                    describe_times(i)
                )
            })
            .collect();
        say(&lines.join("\n"));
    }
    Ok(ExitCode::SUCCESS)
}

fn show_other(action: &str, answer: &Value, json: bool) -> Result<ExitCode, Failure> {
    if json {
        print_json(answer);
        return Ok(ExitCode::SUCCESS);
    }
    let text = match action {
        "help" => answer["text"].as_str().unwrap_or_default().to_owned(),
        "challenges" => answer["challenges"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join("\n"),
        "tz" => format!(
            "times are read in {}; the command line cannot keep it, so pass --tz or set PREQUEL_TZ",
            answer["time_zone"].as_str().unwrap_or("?")
        ),
        _ => answer.to_string(),
    };
    say(&text);
    Ok(ExitCode::SUCCESS)
}

/// `python for Ada Lovelace` / `python`.
fn what(interview: &InterviewJson) -> String {
    match &interview.candidate {
        Some(name) => format!("{} for {name}", interview.challenge),
        None => interview.challenge.clone(),
    }
}

/// `Tue 24 Nov 2026 14:00–15:30 (Europe/Berlin)`, the times as the server gave them (in the
/// interview's zone, which is the zone the words were read in).
fn describe_times(interview: &InterviewJson) -> String {
    let (Ok(start), Ok(end)) = (
        DateTime::parse_from_rfc3339(&interview.start),
        DateTime::parse_from_rfc3339(&interview.end),
    ) else {
        return format!("{} – {}", interview.start, interview.end);
    };
    let end_format = if start.date_naive() == end.date_naive() {
        "%H:%M"
    } else {
        "%a %-d %b %H:%M"
    };
    format!(
        "{}–{} ({})",
        start.format("%a %-d %b %Y %H:%M"),
        end.format(end_format),
        interview.time_zone
    )
}

fn print_json(value: &Value) {
    say(&value.to_string());
}
