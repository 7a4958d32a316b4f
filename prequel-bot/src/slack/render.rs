//! Block Kit rendering for Slack: every message Prequel sends to Slack is built here, as a
//! `(text, blocks)` pair — `text` is the notification and accessibility fallback, `blocks` the
//! Block Kit JSON.
//!
//! Only [`credentials_dm`] ever writes a password (DESIGN invariant 7): it is sent by DM to the
//! requester alone. Everything else — ephemeral replies, the channel status message, the
//! warning DM — says where the credentials went instead, and a test checks it.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use prequel_core::Outcome;
use prequel_core::command::{COMMANDS, help_text};
use prequel_core::domain::{Interview, InterviewState, SecretString};
use serde_json::{Value, json};

use crate::wording::{self, Markup};

/// `action_id` of the Extend button (its `value` is the interview id).
pub const EXTEND_ACTION: &str = "extend_30m";
/// `action_id` of the Destroy button (its `value` is the interview id).
pub const DESTROY_ACTION: &str = "destroy";
/// How much the Extend button adds, in minutes.
pub const EXTEND_MINUTES: u32 = 30;

/// Escapes the three characters Slack's mrkdwn treats as control characters, so names people
/// typed cannot become mentions or links.
pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn section(text: &str) -> Value {
    json!({ "type": "section", "text": { "type": "mrkdwn", "text": text } })
}

fn context(text: &str) -> Value {
    json!({ "type": "context", "elements": [{ "type": "mrkdwn", "text": text }] })
}

fn extend_button(interview: &Interview) -> Value {
    json!({
        "type": "button",
        "action_id": EXTEND_ACTION,
        "text": { "type": "plain_text", "text": "Extend 30m" },
        "value": interview.id.as_str(),
    })
}

fn destroy_button(interview: &Interview) -> Value {
    json!({
        "type": "button",
        "action_id": DESTROY_ACTION,
        "style": "danger",
        "text": { "type": "plain_text", "text": "Destroy" },
        "value": interview.id.as_str(),
        "confirm": {
            "title": { "type": "plain_text", "text": "Destroy this interview?" },
            "text": {
                "type": "mrkdwn",
                "text": format!(
                    "The candidate's work in `{}` is archived and the instance is removed. This cannot be undone.",
                    interview.id
                ),
            },
            "confirm": { "type": "plain_text", "text": "Destroy" },
            "deny": { "type": "plain_text", "text": "Keep it" },
            "style": "danger",
        },
    })
}

/// A time in the interview's zone (the requester's), e.g. `Mon 23 Nov 14:00 CET`.
fn when(interview: &Interview, at: DateTime<Utc>) -> String {
    let zone: Tz = interview.time_zone.parse().unwrap_or(Tz::UTC);
    at.with_timezone(&zone)
        .format("%a %-d %b %H:%M %Z")
        .to_string()
}

/// Slack's mrkdwn, for [`wording`]'s sentences.
struct Slack;

impl Markup for Slack {
    fn bold(text: &str) -> String {
        format!("*{text}*")
    }
    fn escape(text: &str) -> String {
        escape(text)
    }
    fn when(interview: &Interview, at: DateTime<Utc>) -> String {
        when(interview, at)
    }
    const ZONE_SOURCE: &'static str = "Prequel reads it from your Slack profile";
}

/// A failure reason as stored by the engine, in words a person reads (the wording is shared
/// with the other frontends in [`crate::notify::failure_in_words`]).
pub fn failure_in_words(reason: Option<&str>) -> String {
    crate::notify::failure_in_words(reason, escape)
}

/// What a state means, for the status line.
fn state_in_words(state: InterviewState) -> &'static str {
    match state {
        InterviewState::Scheduled => ":calendar: Scheduled",
        InterviewState::Initializing => ":hourglass_flowing_sand: Starting the instance",
        InterviewState::Configuring => ":hourglass_flowing_sand: Putting the challenge in place",
        InterviewState::Active => ":large_green_circle: Active",
        InterviewState::Destroying => ":package: Archiving and removing",
        InterviewState::Destroyed => ":white_check_mark: Finished",
        InterviewState::Failed => ":x: Failed",
        InterviewState::Cancelled => ":no_entry_sign: Cancelled",
    }
}

/// One line naming the interview: challenge and candidate.
fn headline(interview: &Interview) -> String {
    wording::headline::<Slack>(interview)
}

/// The one channel message per interview, edited in place as its state changes: state,
/// challenge, candidate, start and end in the requester's zone, who asked, why it failed, and
/// the Extend/Destroy buttons while it is not over. Never a password or the access URL's
/// password: the URL alone opens nothing.
pub fn status_message(interview: &Interview) -> (String, Value) {
    let state = state_in_words(interview.state);
    let text = format!(
        "{} — {} ({})",
        state.split_once(' ').map_or(state, |(_, words)| words),
        headline(interview).replace('*', ""),
        interview.id
    );
    let mut blocks = vec![section(&format!("{state} — {}", headline(interview)))];
    let mut fields = vec![
        json!({ "type": "mrkdwn", "text": format!("*Starts*\n{}", when(interview, interview.start_at)) }),
        json!({ "type": "mrkdwn", "text": format!("*Ends*\n{} ({})", when(interview, interview.destroy_at), interview.length) }),
        json!({ "type": "mrkdwn", "text": format!("*Asked by*\n<@{}>", escape(&interview.requested_by.user_id)) }),
        json!({ "type": "mrkdwn", "text": format!("*Interview*\n`{}`", interview.id) }),
    ];
    if interview.state == InterviewState::Active {
        fields.push(json!({
            "type": "mrkdwn",
            "text": "*Credentials*\nSent to the requester in a DM",
        }));
    }
    blocks.push(json!({ "type": "section", "fields": fields }));
    if interview.state == InterviewState::Failed {
        blocks.push(section(&format!(
            "*Why:* {}",
            failure_in_words(interview.reason.as_deref())
        )));
    }
    if !interview.state.is_terminal() && interview.state != InterviewState::Destroying {
        blocks.push(json!({
            "type": "actions",
            "elements": [extend_button(interview), destroy_button(interview)],
        }));
    }
    (text, Value::Array(blocks))
}

/// The DM to the requester with where to reach the instance and its password: the only
/// rendering that contains a password.
pub fn credentials_dm(interview: &Interview, password: &SecretString) -> (String, Value) {
    let url = interview.access_url.as_deref().unwrap_or("(not ready yet)");
    let text = format!(
        "Your {} interview `{}` is ready: {url} — password `{}`",
        interview.challenge,
        interview.id,
        password.expose()
    );
    let blocks = json!([
        section(&format!(
            ":key: {} is ready until {}.",
            headline(interview),
            when(interview, interview.destroy_at)
        )),
        section(&format!(
            "*URL:* {url}\n*Password:* `{}`",
            password.expose()
        )),
        context(
            "Only you received this. Share the URL and password with the candidate when the interview starts."
        ),
    ]);
    (text, blocks)
}

/// The DM ten minutes before the destroy time, with an Extend button.
pub fn warning_dm(interview: &Interview) -> (String, Value) {
    let text = format!(
        "10 minutes left in interview `{}`: it ends at {}",
        interview.id,
        when(interview, interview.destroy_at)
    );
    let blocks = json!([
        section(&format!(
            ":alarm_clock: *10 minutes left* in {} (`{}`): the candidate's work is archived and the instance removed at {}.",
            headline(interview),
            interview.id,
            when(interview, interview.destroy_at)
        )),
        { "type": "actions", "elements": [extend_button(interview)] },
    ]);
    (text, blocks)
}

/// The DM with the link to the candidate's archived work.
pub fn archive_dm(
    interview: &Interview,
    link: &str,
    valid_for: std::time::Duration,
) -> (String, Value) {
    let days = valid_for.as_secs().div_ceil(24 * 3600);
    let text = format!("The work from interview `{}` is archived", interview.id);
    let blocks = json!([section(&format!(
        ":package: The candidate's work from {} (`{}`) is archived: <{}|download the workspace> (the link works for {days} days).",
        headline(interview),
        interview.id,
        link
    ))]);
    (text, blocks)
}

/// `/interview help`: one section per command from the grammar's own list, then the rules for
/// times and durations.
pub fn help_blocks() -> (String, Value) {
    let mut blocks = vec![section("*`/interview` commands*")];
    for spec in COMMANDS {
        let mut line = format!("`{}` — {}", spec.usage, spec.summary);
        if !spec.aliases.is_empty() {
            let aliases: Vec<String> = spec.aliases.iter().map(|a| format!("`{a}`")).collect();
            line.push_str(&format!(" (also {})", aliases.join(", ")));
        }
        if spec.example != spec.usage {
            line.push_str(&format!("\ne.g. `/interview {}`", spec.example));
        }
        blocks.push(section(&line));
    }
    let help = help_text();
    // The rules come after the command list in the one help text; reuse them as they are.
    let rules = help
        .lines()
        .filter(|line| !line.starts_with('•') && *line != "Commands:")
        .collect::<Vec<_>>()
        .join("\n");
    blocks.push(context(&rules));
    (help, Value::Array(blocks))
}

/// The ephemeral reply to a command. Never a password: for `now` and `creds` it says the
/// credentials went by DM (the notifier or the inbound handler sends that DM).
pub fn outcome_reply(outcome: &Outcome) -> (String, Value) {
    let Some(text) = wording::outcome_text::<Slack>(outcome) else {
        return help_blocks();
    };
    let blocks = json!([section(&text)]);
    (text, blocks)
}

/// An error answer (a `PrequelError::user_message()` line), ephemeral.
pub fn error_reply(message: &str) -> (String, Value) {
    let text = format!(":warning: {}", escape(message));
    let blocks = json!([section(&text)]);
    (text, blocks)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use prequel_core::domain::{ChallengeId, InterviewId, InterviewLength, Platform, Requester};

    const PASSWORD: &str = "hunter2-correct-horse-battery";

    fn interview(state: InterviewState) -> Interview {
        let start = Utc
            .with_ymd_and_hms(2026, 11, 24, 13, 0, 0)
            .single()
            .expect("time");
        Interview {
            id: InterviewId::parse("k7mq2xw9ab3c").expect("id"),
            challenge: ChallengeId::parse("python").expect("challenge"),
            candidate: Some("Renée <Dubois>".to_owned()),
            requested_by: Requester {
                platform: Platform::Slack,
                user_id: "U2CERLKJA".to_owned(),
                display_name: "roadrunner".to_owned(),
            },
            co_interviewers: Vec::new(),
            time_zone: "Europe/Paris".to_owned(),
            start_at: start,
            length: InterviewLength::from_minutes(90).expect("length"),
            destroy_at: start + chrono::Duration::minutes(90),
            state,
            access_url: Some("https://k7mq2xw9ab3c.example.com".to_owned()),
            challenge_checksum: None,
            archive: None,
            reason: (state == InterviewState::Failed)
                .then(|| "missed: the start time passed 40 minutes ago".to_owned()),
            warned_at: None,
            created_at: start,
            updated_at: start,
            expires_at: None,
            version: 1,
        }
    }

    fn action_ids(blocks: &Value) -> Vec<String> {
        blocks
            .as_array()
            .expect("blocks")
            .iter()
            .filter(|b| b["type"] == "actions")
            .flat_map(|b| b["elements"].as_array().cloned().unwrap_or_default())
            .map(|e| e["action_id"].as_str().unwrap_or_default().to_owned())
            .collect()
    }

    #[test]
    fn status_message_of_a_scheduled_interview_has_times_in_the_requesters_zone_and_buttons() {
        let (text, blocks) = status_message(&interview(InterviewState::Scheduled));
        assert_eq!(
            text,
            "Scheduled — python interview with Renée &lt;Dubois&gt; (k7mq2xw9ab3c)"
        );
        assert_eq!(
            blocks[0],
            json!({"type": "section", "text": {"type": "mrkdwn",
                "text": ":calendar: Scheduled — *python* interview with Renée &lt;Dubois&gt;"}})
        );
        assert_eq!(
            blocks[1]["fields"],
            json!([
                {"type": "mrkdwn", "text": "*Starts*\nTue 24 Nov 14:00 CET"},
                {"type": "mrkdwn", "text": "*Ends*\nTue 24 Nov 15:30 CET (1h30m)"},
                {"type": "mrkdwn", "text": "*Asked by*\n<@U2CERLKJA>"},
                {"type": "mrkdwn", "text": "*Interview*\n`k7mq2xw9ab3c`"},
            ])
        );
        assert_eq!(action_ids(&blocks), vec![EXTEND_ACTION, DESTROY_ACTION]);
        let destroy = &blocks[2]["elements"][1];
        assert_eq!(destroy["value"], "k7mq2xw9ab3c");
        assert_eq!(destroy["confirm"]["confirm"]["text"], "Destroy");
        assert_eq!(blocks[2]["elements"][0]["value"], "k7mq2xw9ab3c");
    }

    #[test]
    fn status_message_of_a_failed_interview_says_why_in_words_and_has_no_buttons() {
        let (_, blocks) = status_message(&interview(InterviewState::Failed));
        let all = blocks.to_string();
        assert!(
            all.contains(
                "The start time passed while Prequel was not running, so the interview was not started."
            ),
            "{all}"
        );
        assert!(action_ids(&blocks).is_empty());
        let (_, blocks) = status_message(&interview(InterviewState::Destroyed));
        assert!(action_ids(&blocks).is_empty());
    }

    #[test]
    fn other_failures_are_explained_too() {
        assert_eq!(
            failure_in_words(Some("code-server did not answer /healthz.")),
            "Prequel could not set up the instance: code-server did not answer /healthz."
        );
        assert_eq!(
            failure_in_words(None),
            "Prequel could not set up the instance."
        );
    }

    #[test]
    fn credentials_dm_holds_the_url_and_the_password_in_a_code_span() {
        let secret = SecretString::new(PASSWORD);
        let (text, blocks) = credentials_dm(&interview(InterviewState::Active), &secret);
        assert!(text.contains("https://k7mq2xw9ab3c.example.com"));
        assert!(text.contains(&format!("`{PASSWORD}`")));
        assert_eq!(
            blocks[1]["text"]["text"],
            format!("*URL:* https://k7mq2xw9ab3c.example.com\n*Password:* `{PASSWORD}`")
        );
    }

    #[test]
    fn archive_dm_links_the_work_and_says_how_long_the_link_lasts() {
        let link = "https://history.s3.amazonaws.com/k/workspace.tar.gz?X-Amz-Signature=abc";
        let (text, blocks) = archive_dm(
            &interview(InterviewState::Destroyed),
            link,
            std::time::Duration::from_secs(7 * 24 * 3600),
        );
        assert!(
            !text.contains(link),
            "the notification text is shown in previews: {text}"
        );
        let shown = blocks.to_string();
        assert!(
            shown.contains(&format!("<{link}|download the workspace>")),
            "{shown}"
        );
        assert!(shown.contains("7 days"), "{shown}");
    }

    #[test]
    fn warning_dm_says_ten_minutes_and_has_an_extend_button() {
        let (text, blocks) = warning_dm(&interview(InterviewState::Active));
        assert!(text.starts_with("10 minutes left"), "{text}");
        assert_eq!(action_ids(&blocks), vec![EXTEND_ACTION]);
    }

    #[test]
    fn help_lists_every_command_from_the_grammar() {
        let (text, blocks) = help_blocks();
        assert_eq!(text, help_text());
        let all = blocks.to_string();
        for spec in COMMANDS {
            assert!(all.contains(spec.usage), "{} missing", spec.usage);
        }
        assert_eq!(blocks.as_array().map(Vec::len), Some(COMMANDS.len() + 2));
    }

    #[test]
    fn no_rendering_but_the_credentials_dm_contains_the_password() {
        let secret = SecretString::new(PASSWORD);
        let mut rendered = Vec::new();
        for state in [
            InterviewState::Scheduled,
            InterviewState::Initializing,
            InterviewState::Configuring,
            InterviewState::Active,
            InterviewState::Destroying,
            InterviewState::Destroyed,
            InterviewState::Failed,
            InterviewState::Cancelled,
        ] {
            let interview = interview(state);
            rendered.push(status_message(&interview));
            rendered.push(warning_dm(&interview));
            rendered.push(outcome_reply(&Outcome::Created {
                interview: interview.clone(),
                password: secret.clone(),
            }));
            rendered.push(outcome_reply(&Outcome::Credentials {
                interview: interview.clone(),
                password: Some(secret.clone()),
            }));
            rendered.push(outcome_reply(&Outcome::Status {
                interview: interview.clone(),
                operations: Vec::new(),
            }));
            rendered.push(outcome_reply(&Outcome::List(vec![interview])));
        }
        rendered.push(help_blocks());
        for (text, blocks) in rendered {
            assert!(!text.contains(PASSWORD), "password in {text}");
            assert!(
                !blocks.to_string().contains(PASSWORD),
                "password in {blocks}"
            );
        }
        let (text, _) = outcome_reply(&Outcome::Credentials {
            interview: interview(InterviewState::Active),
            password: Some(secret),
        });
        assert_eq!(
            text,
            "I sent you the credentials for `k7mq2xw9ab3c` in a DM."
        );
    }
}
