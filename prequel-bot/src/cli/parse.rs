//! `prequel parse`: show how words would be understood, as one JSON object.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use clap::Args;
use prequel_core::clock::{Clock as _, SystemClock};
use prequel_core::command::{self, CoInterviewer, Command, InterviewRequest, ParseContext};
use serde_json::{Value, json};

/// Arguments of `prequel parse`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  \
    prequel parse --tz Europe/Berlin -- schedule tomorrow 2pm 90m python for Ada")]
pub struct ParseArgs {
    /// The current time that relative words (`tomorrow`, `in 2 hours`) count from, RFC 3339
    /// [default: the current time]
    #[arg(long, value_name = "RFC3339", value_parser = parse_now)]
    now: Option<DateTime<Utc>>,

    /// The IANA time zone times are read in [default: the system's zone, else UTC]
    #[arg(long, value_name = "IANA", env = "PREQUEL_TZ", value_parser = parse_tz)]
    tz: Option<Tz>,

    /// The challenges folder: each sub-folder is a challenge
    #[arg(long, value_name = "DIR", default_value = "./challenge")]
    challenges: PathBuf,

    /// The words, as typed after `/interview`
    #[arg(
        value_name = "WORDS",
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    words: Vec<String>,
}

fn parse_now(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| "not an RFC 3339 time, e.g. `2026-11-23T10:00:00Z`".to_owned())
}

fn parse_tz(text: &str) -> Result<Tz, String> {
    command::parse_zone(text).map_err(|error| error.user_message())
}

/// Runs `prequel parse`.
pub fn run(args: ParseArgs) -> anyhow::Result<ExitCode> {
    let now = args.now.unwrap_or_else(|| SystemClock.now());
    let zone = args.tz.unwrap_or_else(crate::config::system_zone);
    let challenges = match command::challenge_ids_in_dir(&args.challenges) {
        Ok(ids) => ids,
        Err(error) => {
            let dir = args.challenges.display();
            return super::refuse(&format!(
                "cannot read the challenges folder `{dir}`: {error}; pass --challenges DIR"
            ));
        }
    };
    let ctx = ParseContext {
        now,
        zone,
        challenges: &challenges,
    };
    match command::parse(&args.words.join(" "), &ctx) {
        Ok(command) => {
            writeln!(std::io::stdout().lock(), "{}", command_json(&command))?;
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => super::refuse(&error.user_message()),
    }
}

/// A time in the user's zone, with their UTC offset: `2026-11-24T14:00:00+01:00`.
fn local_time(time: DateTime<Utc>, zone: Tz) -> String {
    time.with_timezone(&zone)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn request_json(action: &str, request: &InterviewRequest) -> Value {
    json!({
        "action": action,
        "start": local_time(request.start, request.zone),
        "end": local_time(request.end(), request.zone),
        "duration_minutes": request.length.minutes(),
        "challenge": request.challenge.as_str(),
        "candidate": request.candidate,
        "with": request.co_interviewers.iter().map(|person| match person {
            CoInterviewer::Id(id) => json!({ "id": id }),
            CoInterviewer::Name(name) => json!({ "name": name }),
        }).collect::<Vec<_>>(),
    })
}

/// The JSON shown for a command: `action`, and the command's details under stable keys.
pub fn command_json(command: &Command) -> Value {
    let action = command.action();
    match command {
        Command::Schedule(request) | Command::Create(request) => request_json(action, request),
        Command::Status(id)
        | Command::Cancel(id)
        | Command::Destroy(id)
        | Command::Creds(id)
        | Command::Report(id) => {
            json!({ "action": action, "interview": id.as_str() })
        }
        Command::Extend { interview, minutes } => {
            json!({ "action": action, "interview": interview.as_str(), "minutes": minutes })
        }
        Command::Tz(zone) => json!({ "action": action, "zone": zone.name() }),
        Command::List { all } => json!({ "action": action, "all": all }),
        Command::Challenges | Command::Help => json!({ "action": action }),
        Command::Note { interview, text } => {
            json!({ "action": action, "interview": interview.as_str(), "text": text })
        }
        Command::Score {
            interview,
            verdict,
            comment,
        } => json!({
            "action": action,
            "interview": interview.as_str(),
            "score": verdict.as_str(),
            "comment": comment,
        }),
    }
}
