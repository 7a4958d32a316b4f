//! `prequel interview WORDS…`: the same words as `/interview` in chat, sent to a running
//! `prequel serve` over its JSON API.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use chrono::DateTime;
use chrono_tz::Tz;
use clap::Args;
use prequel_core::command::parse_zone;
use prequel_core::domain::SecretString;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

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

    /// The `prequel serve` to talk to
    #[arg(long, value_name = "URL", env = "PREQUEL_SERVER", default_value = DEFAULT_SERVER)]
    server: String,

    /// The server's admin token; prefer --token-file (a flag shows in every process listing)
    /// [default: read from <data dir>/admin-token]
    #[arg(
        long,
        value_name = "TOKEN",
        env = "PREQUEL_TOKEN",
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    token: Option<String>,

    /// A file holding the server's admin token
    #[arg(long, value_name = "FILE", env = "PREQUEL_TOKEN_FILE")]
    token_file: Option<PathBuf>,

    /// The server's data dir, where its admin token is
    #[arg(
        long,
        value_name = "DIR",
        env = "PREQUEL_DATA_DIR",
        default_value = "./.prequel"
    )]
    data_dir: PathBuf,

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

const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

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

/// Why a request did not produce an answer.
enum Failure {
    /// The server refused the input (400, 404, 409): exit 2.
    Refused(String),
    /// Anything else (no server, bad token, server error): exit 1.
    Failed(String),
}

/// Runs `prequel interview`.
pub fn run(args: InterviewArgs) -> anyhow::Result<ExitCode> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    match runtime.block_on(interview(&args)) {
        Ok(code) => Ok(code),
        Err(Failure::Refused(message)) => super::refuse(&message),
        Err(Failure::Failed(message)) => super::fail(&message),
    }
}

async fn interview(args: &InterviewArgs) -> Result<ExitCode, Failure> {
    let client = Client::new(args)?;
    let zone = args.tz.unwrap_or_else(crate::config::system_zone);
    let user = std::env::var("USER").unwrap_or_else(|_| "cli".to_owned());
    let text = args.words.join(" ");
    let answer = client
        .post(
            "/api/commands",
            &json!({"text": text, "tz": zone.name(), "user": user}),
        )
        .await?;
    let action = answer["action"].as_str().unwrap_or_default().to_owned();
    let password = answer["password"].as_str().map(SecretString::new);
    let interview = match answer.get("interview") {
        Some(value) => Some(interview_from(value, password.as_ref())?),
        None => None,
    };
    match (action.as_str(), interview) {
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
        match client
            .get(&format!("/api/interviews/{}", interview.id))
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
        if action == "status" {
            value["operations"] = answer["operations"].clone();
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

fn say(text: &str) {
    // A closed stdout (`| head`) is not worth an error of our own.
    let _ = writeln!(std::io::stdout().lock(), "{text}");
}

fn say_err(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "{text}");
}

fn print_json(value: &Value) {
    say(&value.to_string());
}

/// The API client: the server's address and the admin token.
struct Client {
    http: reqwest::Client,
    base: String,
    token: Option<SecretString>,
    /// Where the token was looked for, for the hint on a 401.
    token_hint: String,
}

impl Client {
    fn new(args: &InterviewArgs) -> Result<Self, Failure> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| Failure::Failed(format!("cannot make an HTTP client: {e}")))?;
        let token_file = args.data_dir.join("admin-token");
        let (token, token_hint) = match (&args.token, &args.token_file) {
            (Some(token), _) => {
                if std::env::var("PREQUEL_TOKEN").ok().as_deref() != Some(token.as_str()) {
                    say_err(
                        "warning: --token shows the admin token to everyone who can list this \
                         machine's processes; use --token-file FILE instead",
                    );
                }
                (
                    Some(SecretString::new(token.trim())),
                    "from --token or PREQUEL_TOKEN".to_owned(),
                )
            }
            (None, Some(file)) => {
                let text = std::fs::read_to_string(file).map_err(|e| {
                    Failure::Failed(format!(
                        "cannot read the token file {}: {e}",
                        file.display()
                    ))
                })?;
                (
                    Some(SecretString::new(text.trim())),
                    format!("read from {}", file.display()),
                )
            }
            // No token is not an error yet: the server may be down (the better hint), and its
            // 401 says what is missing.
            (None, None) => (
                std::fs::read_to_string(&token_file)
                    .ok()
                    .map(|t| SecretString::new(t.trim())),
                format!(
                    "read from {}; pass --token-file or set PREQUEL_TOKEN_FILE",
                    token_file.display()
                ),
            ),
        };
        Ok(Self {
            http,
            base: args.server.trim_end_matches('/').to_owned(),
            token,
            token_hint,
        })
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value, Failure> {
        self.send(self.http.post(format!("{}{path}", self.base)).json(body))
            .await
    }

    async fn get(&self, path: &str) -> Result<Value, Failure> {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }

    async fn send(&self, mut request: reqwest::RequestBuilder) -> Result<Value, Failure> {
        if let Some(token) = &self.token {
            request = request.bearer_auth(token.expose());
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let message = body["error"]["message"]
            .as_str()
            .map_or_else(|| format!("the server answered {status}"), str::to_owned);
        Err(match status {
            StatusCode::BAD_REQUEST | StatusCode::NOT_FOUND | StatusCode::CONFLICT => {
                Failure::Refused(message)
            }
            StatusCode::UNAUTHORIZED => {
                Failure::Failed(format!("{message} (token {})", self.token_hint))
            }
            _ => Failure::Failed(message),
        })
    }

    fn unreachable(&self, error: &reqwest::Error) -> Failure {
        let why = if error.is_timeout() {
            "it did not answer in time"
        } else if error.is_connect() {
            "nothing answered"
        } else if error.is_builder() {
            return Failure::Failed(format!(
                "`{}` is not a server URL like {DEFAULT_SERVER}",
                self.base
            ));
        } else {
            "the connection failed"
        };
        Failure::Failed(format!(
            "cannot reach the Prequel server at {}: {why}; is `prequel serve` running? (choose the server with --server or PREQUEL_SERVER)",
            self.base
        ))
    }
}
