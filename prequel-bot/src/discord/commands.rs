//! The `/interview` application command: its registration payload, generated from the same
//! [`COMMANDS`] list as the text grammar, and the conversion of typed options into the same
//! [`Command`] the grammar produces (with the grammar's error messages).

use prequel_core::command::{
    self, COMMANDS, Command, CommandError, InterviewRequest, ParseContext, candidate_name,
    co_interviewers, parse_length, parse_zone, resolve_when,
};
use prequel_core::domain::ChallengeId;
use serde_json::{Value, json};

/// Discord's option types used here.
const SUB_COMMAND: u8 = 1;
const STRING: u8 = 3;

/// Discord caps descriptions at 100 characters.
const MAX_DESCRIPTION: usize = 100;

/// The name of the one application command.
pub const COMMAND_NAME: &str = "interview";

/// Subcommand names registered besides each spec's name: `now` reads better than `create` in
/// Discord's picker, and the grammar accepts both.
const EXTRA_NAMES: &[(&str, &str)] = &[("now", "create")];

/// One typed option of a subcommand.
struct Opt {
    name: &'static str,
    description: &'static str,
    required: bool,
    autocomplete: bool,
}

const fn opt(name: &'static str, description: &'static str, required: bool) -> Opt {
    Opt {
        name,
        description,
        required,
        autocomplete: false,
    }
}

const fn auto(name: &'static str, description: &'static str) -> Opt {
    Opt {
        name,
        description,
        required: true,
        autocomplete: true,
    }
}

const WHEN: Opt = opt(
    "when",
    "start, e.g. `tomorrow 2pm` (your /interview tz)",
    true,
);
const DURATION: Opt = opt("duration", "length, e.g. `90m` or `1h30m`", true);
const CHALLENGE: Opt = auto("challenge", "the challenge");
const CANDIDATE: Opt = opt("candidate", "the candidate's name", false);
const WITH: Opt = opt(
    "with",
    "co-interviewers who may also act on it and get the credentials, e.g. @alice",
    false,
);
const INTERVIEW: Opt = auto("interview", "the interview id");

/// The typed options of the spec named `name` (a spec name from [`COMMANDS`]).
fn options_for(name: &str) -> Vec<Opt> {
    match name {
        "schedule" => vec![WHEN, DURATION, CHALLENGE, CANDIDATE, WITH],
        "create" => vec![DURATION, CHALLENGE, CANDIDATE, WITH],
        "list" => vec![opt("all", "`all`: every interview (admins only)", false)],
        "status" | "cancel" | "destroy" | "creds" => vec![INTERVIEW],
        "extend" => vec![INTERVIEW, opt("duration", "extra time, e.g. `30m`", true)],
        "tz" => vec![opt("zone", "IANA time zone, e.g. `Europe/Berlin`", true)],
        _ => Vec::new(),
    }
}

fn description(text: &str) -> String {
    text.chars().take(MAX_DESCRIPTION).collect()
}

fn subcommand(name: &str, summary: &str, spec_name: &str) -> Value {
    let options: Vec<Value> = options_for(spec_name)
        .into_iter()
        .map(|opt| {
            json!({
                "type": STRING,
                "name": opt.name,
                "description": description(opt.description),
                "required": opt.required,
                "autocomplete": opt.autocomplete,
            })
        })
        .collect();
    json!({
        "type": SUB_COMMAND,
        "name": name,
        "description": description(summary),
        "options": options,
    })
}

/// The body of `PUT …/commands`: one `/interview` chat-input command with one subcommand per
/// entry of [`COMMANDS`] (plus `now`).
pub fn registration() -> Value {
    let mut subcommands: Vec<Value> = COMMANDS
        .iter()
        .map(|spec| subcommand(spec.name, spec.summary, spec.name))
        .collect();
    for (extra, spec_name) in EXTRA_NAMES {
        if let Some(spec) = COMMANDS.iter().find(|spec| spec.name == *spec_name) {
            subcommands.push(subcommand(extra, spec.summary, spec.name));
        }
    }
    json!([{
        "name": COMMAND_NAME,
        "type": 1,
        "description": "Run coding interviews",
        "options": subcommands,
    }])
}

/// The spec name a registered subcommand stands for (`now` → `create`).
pub fn spec_name(subcommand: &str) -> &str {
    EXTRA_NAMES
        .iter()
        .find(|(extra, _)| *extra == subcommand)
        .map_or(subcommand, |(_, spec)| spec)
}

/// Builds the [`Command`] for `subcommand` with typed `options` (name → value). Missing or bad
/// values give the grammar's errors.
pub fn to_command(
    subcommand: &str,
    options: &[(String, String)],
    ctx: &ParseContext<'_>,
) -> Result<Command, CommandError> {
    let get = |name: &str| {
        options
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.trim())
            .filter(|value| !value.is_empty())
    };
    let need = |name: &str, what: &str, example: &str| {
        get(name).ok_or_else(|| CommandError::Missing {
            what: what.to_owned(),
            example: example.to_owned(),
        })
    };
    let name = spec_name(subcommand);
    match name {
        "schedule" | "create" => {
            let start = if name == "schedule" {
                resolve_when(need("when", "the start time", "tomorrow 2pm")?, ctx)?
            } else {
                ctx.now
            };
            let length = parse_length(need("duration", "the duration", "90m")?)?;
            let challenge = challenge(need("challenge", "the challenge", "python")?, ctx)?;
            let candidate = get("candidate").map(candidate_name).transpose()?;
            let co_interviewers = get("with").map(co_interviewers).transpose()?;
            let request = InterviewRequest {
                start,
                length,
                challenge,
                candidate,
                co_interviewers: co_interviewers.unwrap_or_default(),
                zone: ctx.zone,
            };
            Ok(if name == "schedule" {
                Command::Schedule(request)
            } else {
                Command::Create(request)
            })
        }
        "tz" => Ok(Command::Tz(parse_zone(need(
            "zone",
            "the time zone",
            "Europe/Berlin",
        )?)?)),
        "list" => command::parse(&format!("list {}", get("all").unwrap_or_default()), ctx),
        "status" | "cancel" | "destroy" | "creds" | "extend" => {
            // The id (and extension) go through the grammar itself, so the command and its
            // error messages are the text path's exactly.
            let id = need("interview", "the interview id", "k7mq2xw9ab3c")?;
            let mut text = format!("{name} {id}");
            if name == "extend" {
                text.push(' ');
                text.push_str(need("duration", "the extra time", "30m")?);
            }
            command::parse(&text, ctx)
        }
        _ => command::parse(name, ctx),
    }
}

/// A challenge the installation has, or the grammar's "unknown challenge" error.
fn challenge(text: &str, ctx: &ParseContext<'_>) -> Result<ChallengeId, CommandError> {
    ChallengeId::parse(text)
        .ok()
        .filter(|id| ctx.challenges.contains(id))
        .ok_or_else(|| CommandError::UnknownChallenge {
            name: text.chars().take(40).collect(),
            known: ctx.challenges.to_vec(),
            suggestion: None,
        })
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::*;

    #[test]
    fn the_registration_lists_every_command() {
        let payload = registration();
        let names: Vec<&str> = payload[0]["options"]
            .as_array()
            .expect("subcommands")
            .iter()
            .filter_map(|sub| sub["name"].as_str())
            .collect();
        for spec in COMMANDS {
            assert!(
                names.contains(&spec.name),
                "{} is not registered",
                spec.name
            );
        }
        assert!(names.contains(&"now"));
        for sub in payload[0]["options"].as_array().expect("subcommands") {
            assert!(sub["description"].as_str().expect("text").chars().count() <= 100);
        }
    }

    #[test]
    fn typed_options_make_the_grammars_command() {
        let challenges = [ChallengeId::parse("python").expect("id")];
        let ctx = ParseContext {
            now: Utc
                .with_ymd_and_hms(2026, 3, 2, 9, 0, 0)
                .single()
                .expect("time"),
            zone: chrono_tz::Europe::Berlin,
            challenges: &challenges,
        };
        let options = |pairs: &[(&str, &str)]| -> Vec<(String, String)> {
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect()
        };
        let typed = to_command(
            "schedule",
            &options(&[
                ("when", "tomorrow 2pm"),
                ("duration", "90m"),
                ("challenge", "python"),
                ("candidate", "Ada Lovelace"),
            ]),
            &ctx,
        );
        let text = command::parse("schedule tomorrow 2pm 90m python for Ada Lovelace", &ctx);
        assert_eq!(typed, text);
        let typed = to_command(
            "now",
            &options(&[("duration", "1h"), ("challenge", "python")]),
            &ctx,
        );
        assert_eq!(typed, command::parse("now 1h python", &ctx));
        let typed = to_command(
            "extend",
            &options(&[("interview", "k7mq2xw9ab3c"), ("duration", "30m")]),
            &ctx,
        );
        assert_eq!(typed, command::parse("extend k7mq2xw9ab3c 30m", &ctx));
        let bad = to_command(
            "now",
            &options(&[("duration", "1h"), ("challenge", "cobol")]),
            &ctx,
        );
        assert!(matches!(bad, Err(CommandError::UnknownChallenge { .. })));
    }
}
