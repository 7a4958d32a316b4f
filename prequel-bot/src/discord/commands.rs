//! The `/interview` application command: its registration payload, generated from the same
//! [`COMMANDS`] list as the text grammar, and the conversion of typed options into the same
//! [`Command`] the grammar produces (with the grammar's error messages).

use prequel_core::command::{self, COMMANDS, Command, CommandError, CommandSpec, ParseContext};
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

fn description(text: &str) -> String {
    text.chars().take(MAX_DESCRIPTION).collect()
}

/// One subcommand: the spec's summary and its argument slots as string options (required
/// first, as Discord wants; a core test holds the specs to that).
fn subcommand(name: &str, spec: &CommandSpec) -> Value {
    let options: Vec<Value> = spec
        .args
        .iter()
        .map(|slot| {
            json!({
                "type": STRING,
                "name": slot.name,
                "description": description(slot.description),
                "required": slot.required,
                "autocomplete": slot.autocomplete,
            })
        })
        .collect();
    json!({
        "type": SUB_COMMAND,
        "name": name,
        "description": description(spec.summary),
        "options": options,
    })
}

/// The body of `PUT …/commands`: one `/interview` chat-input command with one subcommand per
/// entry of [`COMMANDS`] (plus `now`).
pub fn registration() -> Value {
    let mut subcommands: Vec<Value> = COMMANDS
        .iter()
        .map(|spec| subcommand(spec.name, spec))
        .collect();
    for (extra, spec_name) in EXTRA_NAMES {
        if let Some(spec) = COMMANDS.iter().find(|spec| spec.name == *spec_name) {
            subcommands.push(subcommand(extra, spec));
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

/// Builds the [`Command`] for `subcommand` with typed `options` (name → value): the words the
/// options stand for ([`CommandSpec::words`]) through the grammar itself, so the command and
/// every error message are the text path's exactly.
pub fn to_command(
    subcommand: &str,
    options: &[(String, String)],
    ctx: &ParseContext<'_>,
) -> Result<Command, CommandError> {
    let name = spec_name(subcommand);
    let Some(spec) = COMMANDS.iter().find(|spec| spec.name == name) else {
        return command::parse(name, ctx);
    };
    let words = spec.words(|slot| {
        options
            .iter()
            .find(|(key, _)| key == slot)
            .map(|(_, value)| value.as_str())
    });
    command::parse(&words, ctx)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};
    use prequel_core::domain::ChallengeId;

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
                ("with", "<@80351110224678912>"),
            ]),
            &ctx,
        );
        let text = command::parse(
            "schedule tomorrow 2pm 90m python with <@80351110224678912> for Ada Lovelace",
            &ctx,
        );
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
