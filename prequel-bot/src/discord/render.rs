//! Rendering for Discord: every message Prequel sends to Discord is built here, as a
//! [`Message`] — `content`, `embeds` and `components` (buttons in an action row).
//!
//! Times are Discord timestamps (`<t:UNIX:f>`), which every viewer's client shows in their own
//! zone — Discord tells bots no one's zone. Mentions are never pinged by what people typed:
//! every message carries `allowed_mentions: {parse: []}` and names are markdown-escaped.
//!
//! Discord buttons have no confirmation dialog (Slack's have `confirm`), so the status
//! message's Destroy button (`destroy:<id>`) does not destroy: the inbound handler answers it
//! with [`destroy_confirmation`], an ephemeral message whose `destroy_confirm:<id>` button does.
//!
//! Only [`credentials_dm`] ever writes a password (DESIGN invariant 7): it is sent by DM to the
//! requester alone; a test checks every other rendering.

use prequel_core::Outcome;
use prequel_core::command::COMMANDS;
use prequel_core::domain::{Interview, InterviewState, SecretString};
use serde_json::{Value, json};

use crate::notify;
use crate::wording::{self, Markup};

/// The message flag that shows a message to the interaction's user only. Here, beside the
/// messages that carry it, so the REST client (`api.rs`) depends on rendering and not back.
pub const EPHEMERAL: u64 = 1 << 6;

/// `custom_id` prefix of the Extend button (`extend_30m:<interview id>`).
pub const EXTEND_ACTION: &str = "extend_30m";
/// `custom_id` prefix of the Destroy button (`destroy:<id>`): answered with a confirmation.
pub const DESTROY_ACTION: &str = "destroy";
/// `custom_id` prefix of the confirming button (`destroy_confirm:<id>`): destroys.
pub const DESTROY_CONFIRM_ACTION: &str = "destroy_confirm";
/// How much the Extend button adds, in minutes.
pub const EXTEND_MINUTES: u32 = 30;

/// Embed colours by how things stand (Discord wants an RGB integer).
const GREEN: u32 = 0x2e_cc_71;
const BLUE: u32 = 0x34_98_db;
const GREY: u32 = 0x95_a5_a6;
const RED: u32 = 0xe7_4c_3c;

/// One Discord message: what the API calls take.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// The text above the embeds (also the notification preview).
    pub content: String,
    /// Rich embeds.
    pub embeds: Vec<Value>,
    /// Action rows of buttons.
    pub components: Vec<Value>,
}

impl Message {
    /// The JSON body for a message create/edit, a follow-up or an interaction response's
    /// `data`; `ephemeral` sets flag 64 (only the interaction's user sees it).
    pub fn to_json(&self, ephemeral: bool) -> Value {
        let mut body = json!({
            "content": self.content,
            "embeds": self.embeds,
            "components": self.components,
            // Nothing anyone typed pings anyone.
            "allowed_mentions": { "parse": [] },
        });
        if ephemeral {
            body["flags"] = json!(EPHEMERAL);
        }
        body
    }

    /// Everything the message shows, as one string (for tests that look for a secret).
    pub fn all_text(&self) -> String {
        self.to_json(false).to_string()
    }
}

/// Escapes Discord markdown so names people typed render as typed.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(
            c,
            '\\' | '*' | '_' | '~' | '`' | '|' | '>' | '<' | '@' | '#' | '[' | ']' | '(' | ')'
        ) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A Discord timestamp: each viewer's client shows it in their own zone.
fn when(at: chrono::DateTime<chrono::Utc>) -> String {
    format!("<t:{}:f>", at.timestamp())
}

/// One line naming the interview: challenge and candidate.
fn headline(interview: &Interview) -> String {
    wording::headline::<Discord>(interview)
}

/// Discord's markdown, for [`wording`]'s sentences.
struct Discord;

impl Markup for Discord {
    fn bold(text: &str) -> String {
        format!("**{text}**")
    }
    fn escape(text: &str) -> String {
        escape(text)
    }
    fn when(_: &Interview, at: chrono::DateTime<chrono::Utc>) -> String {
        when(at)
    }
    const ZONE_SOURCE: &'static str = "times you type are read in it (set it with `/interview tz`)";
}

fn button(style: u8, label: &str, custom_id: String) -> Value {
    json!({ "type": 2, "style": style, "label": label, "custom_id": custom_id })
}

fn extend_button(interview: &Interview) -> Value {
    button(1, "Extend 30m", format!("{EXTEND_ACTION}:{}", interview.id))
}

fn row(buttons: Vec<Value>) -> Value {
    json!({ "type": 1, "components": buttons })
}

fn field(name: &str, value: String, inline: bool) -> Value {
    json!({ "name": name, "value": value, "inline": inline })
}

fn colour(state: InterviewState) -> u32 {
    match state {
        InterviewState::Active => GREEN,
        InterviewState::Failed => RED,
        InterviewState::Destroyed | InterviewState::Cancelled => GREY,
        _ => BLUE,
    }
}

/// The one channel message per interview, edited in place as its state changes: state,
/// challenge, candidate, start and end, who asked, why it failed, and the Extend/Destroy
/// buttons while it is not over. Never a password.
pub fn status_message(interview: &Interview) -> Message {
    let state = notify::state_in_words(interview.state);
    let mut fields = vec![
        field("Starts", when(interview.start_at), true),
        field(
            "Ends",
            format!("{} ({})", when(interview.destroy_at), interview.length),
            true,
        ),
        field(
            "Asked by",
            format!("<@{}>", escape(&interview.requested_by.user_id)),
            true,
        ),
        field("Interview", format!("`{}`", interview.id), true),
    ];
    if interview.state == InterviewState::Active {
        fields.push(field(
            "Credentials",
            "Sent to the requester in a DM".to_owned(),
            false,
        ));
    }
    if interview.state == InterviewState::Failed {
        fields.push(field(
            "Why",
            notify::failure_in_words(interview.reason.as_deref(), escape),
            false,
        ));
    }
    let mut components = Vec::new();
    if !interview.state.is_terminal() && interview.state != InterviewState::Destroying {
        components.push(row(vec![
            extend_button(interview),
            button(4, "Destroy", format!("{DESTROY_ACTION}:{}", interview.id)),
        ]));
    }
    Message {
        content: format!("{state} — {}", headline(interview)),
        embeds: vec![json!({
            "title": format!("Interview {}", interview.id),
            "color": colour(interview.state),
            "fields": fields,
        })],
        components,
    }
}

/// The ephemeral answer to the Destroy button: Discord buttons cannot ask "are you sure?"
/// themselves, so this does, and its button destroys.
pub fn destroy_confirmation(interview: &Interview) -> Message {
    Message {
        content: format!(
            "Destroy {} (`{}`)? The candidate's work is archived and the instance is removed. This cannot be undone.",
            headline(interview),
            interview.id
        ),
        embeds: Vec::new(),
        components: vec![row(vec![button(
            4,
            "Yes, destroy it",
            format!("{DESTROY_CONFIRM_ACTION}:{}", interview.id),
        )])],
    }
}

/// The DM to the requester with where to reach the instance and its password: the only
/// rendering that contains a password.
pub fn credentials_dm(interview: &Interview, password: &SecretString) -> Message {
    let url = interview.access_url.as_deref().unwrap_or("(not ready yet)");
    Message {
        content: format!(
            "🔑 Your {} (`{}`) is ready until {}.",
            headline(interview),
            interview.id,
            when(interview.destroy_at)
        ),
        embeds: vec![json!({
            "title": "Credentials",
            "color": GREEN,
            "fields": [
                field("URL", url.to_owned(), false),
                field("Password", format!("`{}`", password.expose()), false),
            ],
            "footer": { "text": "Only you received this. Share the URL and password with the candidate when the interview starts." },
        })],
        components: Vec::new(),
    }
}

/// The DM ten minutes before the destroy time, with an Extend button.
pub fn warning_dm(interview: &Interview) -> Message {
    Message {
        content: format!(
            "⏰ **10 minutes left** in {} (`{}`): the candidate's work is archived and the instance removed at {}.",
            headline(interview),
            interview.id,
            when(interview.destroy_at)
        ),
        embeds: Vec::new(),
        components: vec![row(vec![extend_button(interview)])],
    }
}

/// The DM with the link to the candidate's archived work.
pub fn archive_dm(interview: &Interview, link: &str, valid_for: std::time::Duration) -> Message {
    let days = valid_for.as_secs().div_ceil(24 * 3600);
    Message {
        content: format!(
            "📦 The candidate's work from {} (`{}`) is archived: [download the workspace](<{}>) (the link works for {days} days).",
            headline(interview),
            interview.id,
            link
        ),
        embeds: Vec::new(),
        components: Vec::new(),
    }
}

/// `/interview help`: the grammar's own command list.
pub fn help() -> Message {
    let mut content = String::from("**`/interview` commands**");
    for spec in COMMANDS {
        content.push_str(&format!("\n`{}` — {}", spec.usage, spec.summary));
    }
    Message {
        content,
        embeds: Vec::new(),
        components: Vec::new(),
    }
}

fn text(content: String) -> Message {
    Message {
        content,
        embeds: Vec::new(),
        components: Vec::new(),
    }
}

/// The ephemeral answer to a command. Never a password: for `now` and `creds` it says the
/// credentials went by DM.
pub fn outcome_reply(outcome: &Outcome) -> Message {
    match wording::outcome_text::<Discord>(outcome) {
        Some(content) => text(content),
        None => help(),
    }
}

/// An error answer (a `PrequelError::user_message()` line), ephemeral.
pub fn error_reply(message: &str) -> Message {
    text(format!("⚠️ {}", escape(message)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use prequel_core::domain::{ChallengeId, InterviewId, InterviewLength, Platform, Requester};

    const PASSWORD: &str = "hunter2-correct-horse-battery";

    #[test]
    fn archive_dm_links_the_work_and_says_how_long_the_link_lasts() {
        let link = "https://history.s3.amazonaws.com/k/workspace.tar.gz?X-Amz-Signature=abc";
        let message = archive_dm(
            &interview(InterviewState::Destroyed),
            link,
            std::time::Duration::from_secs(7 * 24 * 3600),
        );
        assert!(
            message
                .content
                .contains(&format!("[download the workspace](<{link}>)")),
            "{}",
            message.content
        );
        assert!(message.content.contains("7 days"), "{}", message.content);
    }

    fn interview(state: InterviewState) -> Interview {
        let start = Utc
            .with_ymd_and_hms(2026, 11, 24, 13, 0, 0)
            .single()
            .expect("time");
        Interview {
            id: InterviewId::parse("k7mq2xw9ab3c").expect("id"),
            challenge: ChallengeId::parse("python").expect("challenge"),
            candidate: Some("Renée *Dubois* @everyone".to_owned()),
            requested_by: Requester {
                platform: Platform::Discord,
                user_id: "80351110224678912".to_owned(),
                display_name: "nelly".to_owned(),
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

    #[test]
    fn the_active_status_message_is_exactly_this() {
        let message = status_message(&interview(InterviewState::Active));
        assert_eq!(
            message.to_json(false),
            json!({
                "content": "Active — **python** interview with Renée \\*Dubois\\* \\@everyone",
                "embeds": [{
                    "title": "Interview k7mq2xw9ab3c",
                    "color": GREEN,
                    "fields": [
                        { "name": "Starts", "value": "<t:1795525200:f>", "inline": true },
                        { "name": "Ends", "value": "<t:1795530600:f> (1h30m)", "inline": true },
                        { "name": "Asked by", "value": "<@80351110224678912>", "inline": true },
                        { "name": "Interview", "value": "`k7mq2xw9ab3c`", "inline": true },
                        { "name": "Credentials", "value": "Sent to the requester in a DM", "inline": false },
                    ],
                }],
                "components": [{ "type": 1, "components": [
                    { "type": 2, "style": 1, "label": "Extend 30m", "custom_id": "extend_30m:k7mq2xw9ab3c" },
                    { "type": 2, "style": 4, "label": "Destroy", "custom_id": "destroy:k7mq2xw9ab3c" },
                ]}],
                "allowed_mentions": { "parse": [] },
            })
        );
    }

    #[test]
    fn ephemeral_messages_carry_flag_64_and_destroy_asks_first() {
        let confirm = destroy_confirmation(&interview(InterviewState::Active)).to_json(true);
        assert_eq!(confirm["flags"], json!(64));
        assert_eq!(
            confirm["components"][0]["components"][0]["custom_id"],
            json!("destroy_confirm:k7mq2xw9ab3c")
        );
        assert_eq!(confirm["components"][0]["components"][0]["style"], json!(4));
    }

    #[test]
    fn failures_are_in_words_and_finished_interviews_have_no_buttons() {
        let failed = status_message(&interview(InterviewState::Failed));
        assert!(
            failed
                .all_text()
                .contains("The start time passed while Prequel was not running")
        );
        assert!(failed.components.is_empty());
        assert!(
            status_message(&interview(InterviewState::Destroyed))
                .components
                .is_empty()
        );
    }

    #[test]
    fn the_warning_has_only_an_extend_button() {
        let warning = warning_dm(&interview(InterviewState::Active)).to_json(false);
        assert!(
            warning["content"]
                .as_str()
                .is_some_and(|c| c.contains("10 minutes left"))
        );
        assert_eq!(
            warning["components"],
            json!([{ "type": 1, "components": [
                { "type": 2, "style": 1, "label": "Extend 30m", "custom_id": "extend_30m:k7mq2xw9ab3c" },
            ]}])
        );
    }

    #[test]
    fn only_the_credentials_dm_holds_the_password() {
        let password = SecretString::new(PASSWORD);
        let active = interview(InterviewState::Active);
        let dm = credentials_dm(&active, &password);
        assert!(dm.all_text().contains(PASSWORD));
        assert!(dm.all_text().contains("https://k7mq2xw9ab3c.example.com"));
        let mut others = vec![
            warning_dm(&active),
            destroy_confirmation(&active),
            help(),
            outcome_reply(&Outcome::Created {
                interview: active.clone(),
                password: password.clone(),
            }),
            outcome_reply(&Outcome::Credentials {
                interview: active.clone(),
                password: Some(password.clone()),
            }),
            outcome_reply(&Outcome::List(vec![active.clone()])),
            error_reply("no such interview"),
        ];
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
            others.push(status_message(&interview(state)));
        }
        for message in others {
            assert!(!message.all_text().contains(PASSWORD), "{message:?}");
        }
    }
}
