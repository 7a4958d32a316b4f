//! `POST /discord/interactions`: verify → parse → authorize → build the `Command` → execute with
//! the facade → answer within Discord's 3 seconds.
//!
//! Quick answers (help, list, status, errors, buttons, autocomplete) go in the HTTP response.
//! Commands that create an interview or may involve credentials (`schedule`, `now`/`create`,
//! `creds`) are deferred (type 5) and answered by editing the original response through the
//! REST API once done. Every answer is ephemeral (flags 64): only the asker sees it. The only
//! password this module handles goes into the `creds` DM (DESIGN invariant 7); the notifier
//! DMs them for `now` when the instance is ready.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono_tz::Tz;
use prequel_core::access::Actor;
use prequel_core::command::{Command, ParseContext};
use prequel_core::domain::{InterviewId, Platform, Requester};
use prequel_core::{Outcome, PrequelError};
use serde::Deserialize;
use serde_json::{Value, json};

use super::DiscordState;
use super::api::DiscordError;
use super::auth::Caller;
use super::commands;
use super::notifier::{CHANNEL_NOTE, Notifier};
use super::render::{self, Message};

/// Interaction types (Discord's numbering).
const PING: u8 = 1;
const APPLICATION_COMMAND: u8 = 2;
const MESSAGE_COMPONENT: u8 = 3;
const AUTOCOMPLETE: u8 = 4;

/// Response types.
const PONG: u8 = 1;
const CHANNEL_MESSAGE: u8 = 4;
const DEFERRED_CHANNEL_MESSAGE: u8 = 5;
const AUTOCOMPLETE_RESULT: u8 = 8;

/// "Only the person who asked sees it."
const EPHEMERAL: u64 = render::EPHEMERAL;

/// Discord shows at most 25 autocomplete choices.
pub const MAX_CHOICES: usize = 25;

/// The fields of an interaction Prequel reads. Deliberately partial: Discord adds fields often,
/// and a strict model would turn an unknown field into a refused interaction. (serenity's
/// `Interaction` model is used for nothing here for that reason: it requires every documented
/// field.) `Debug` leaves out the token, which lets anyone answer as Prequel for 15 minutes.
#[derive(Deserialize)]
pub struct Interaction {
    /// The interaction type.
    #[serde(rename = "type")]
    pub kind: u8,
    /// The token for the follow-up of this interaction (valid 15 minutes).
    #[serde(default)]
    pub token: String,
    /// The channel it came from (a status message goes there).
    #[serde(default)]
    pub channel_id: Option<String>,
    /// Set in guilds.
    #[serde(default)]
    pub guild_id: Option<String>,
    /// The member (in guilds), with their roles.
    #[serde(default)]
    pub member: Option<Member>,
    /// The user (in DMs).
    #[serde(default)]
    pub user: Option<User>,
    /// The command or component data.
    #[serde(default)]
    pub data: Option<Data>,
}

impl std::fmt::Debug for Interaction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interaction")
            .field("kind", &self.kind)
            .field("guild_id", &self.guild_id)
            .field("channel_id", &self.channel_id)
            .field("member", &self.member)
            .field("user", &self.user)
            .field("data", &self.data)
            .finish_non_exhaustive()
    }
}

/// A guild member.
#[derive(Debug, Deserialize)]
pub struct Member {
    /// The user.
    pub user: User,
    /// Role ids.
    #[serde(default)]
    pub roles: Vec<String>,
    /// The guild nickname.
    #[serde(default)]
    pub nick: Option<String>,
}

/// A Discord user.
#[derive(Debug, Deserialize)]
pub struct User {
    /// Snowflake.
    pub id: String,
    /// Unique user name.
    #[serde(default)]
    pub username: String,
    /// Display name.
    #[serde(default)]
    pub global_name: Option<String>,
}

/// Command or component data.
#[derive(Debug, Default, Deserialize)]
pub struct Data {
    /// The command's name (`interview`).
    #[serde(default)]
    pub name: Option<String>,
    /// The subcommand with its options.
    #[serde(default)]
    pub options: Vec<DataOption>,
    /// A button's id.
    #[serde(default)]
    pub custom_id: Option<String>,
}

/// One option (a subcommand holds options of its own).
#[derive(Debug, Deserialize)]
pub struct DataOption {
    /// The option's name.
    pub name: String,
    /// Its value (strings here).
    #[serde(default)]
    pub value: Option<Value>,
    /// A subcommand's options.
    #[serde(default)]
    pub options: Vec<DataOption>,
    /// The option being typed (autocomplete).
    #[serde(default)]
    pub focused: bool,
}

impl DataOption {
    fn text(&self) -> String {
        match &self.value {
            Some(Value::String(text)) => text.clone(),
            Some(other) => other.to_string(),
            None => String::new(),
        }
    }
}

/// How long an accepted interaction's id is remembered: past the signature's timestamp window
/// either way ([`verify::MAX_SKEW_SECS`](super::verify::MAX_SKEW_SECS)), after which a replay
/// fails the timestamp check anyway.
const REPLAY_WINDOW: chrono::Duration = chrono::Duration::seconds(2 * super::verify::MAX_SKEW_SECS);

/// The handler of `POST /discord/interactions`.
pub async fn interactions(
    State(state): State<DiscordState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    if let Err(error) = state.verifier.verify(
        header("x-signature-ed25519"),
        header("x-signature-timestamp"),
        &body,
        state.prequel.now(),
    ) {
        tracing::warn!(%error, "discord interaction refused");
        return (StatusCode::UNAUTHORIZED, "invalid request signature").into_response();
    }
    // Signed and fresh; now once only, across every replica on this store. Ed25519 signatures
    // are deterministic and cover timestamp and body, so the signature names this exact request
    // and nobody without the key can make another for the same body.
    let key = format!(
        "discord:{}",
        header("x-signature-ed25519").unwrap_or_default()
    );
    match state.prequel.claim_request(&key, REPLAY_WINDOW).await {
        Ok(true) => {}
        Ok(false) => {
            tracing::warn!("discord interaction replayed; refused");
            return (StatusCode::UNAUTHORIZED, "request replayed").into_response();
        }
        Err(error) => {
            tracing::error!(%error, "cannot record the discord interaction; refusing it");
            return (StatusCode::SERVICE_UNAVAILABLE, "try again").into_response();
        }
    }
    let interaction: Interaction = match serde_json::from_slice(&body) {
        Ok(interaction) => interaction,
        Err(error) => {
            tracing::warn!(%error, "discord interaction unreadable");
            return (StatusCode::BAD_REQUEST, "unreadable interaction").into_response();
        }
    };
    Json(handle(&state, interaction).await).into_response()
}

/// Answers one verified interaction (transport-free, so a gateway can share it). Deferred work
/// runs in a spawned task that edits the original response.
pub async fn handle(state: &DiscordState, interaction: Interaction) -> Value {
    if interaction.kind == PING {
        return json!({ "type": PONG });
    }
    let Some(requester) = requester(&interaction) else {
        return reply(&render::error_reply("Prequel could not tell who you are."));
    };
    let roles = interaction
        .member
        .as_ref()
        .map(|member| member.roles.as_slice())
        .unwrap_or_default();
    let caller = Caller {
        guild_id: interaction.guild_id.as_deref(),
        user_id: &requester.user_id,
        roles,
    };
    if !state.allow.allows(&caller) {
        tracing::info!(user = %requester.user_id, "discord user not allowed");
        if interaction.kind == AUTOCOMPLETE {
            return choices(Vec::new());
        }
        return reply(&render::error_reply(
            "you are not allowed to use Prequel here; ask an admin to add you",
        ));
    }
    // Admins by user id or by role (`PREQUEL_DISCORD_ADMINS`, `_ADMIN_ROLES`); the facade's
    // ownership rule decides the rest, for commands, buttons and autocomplete alike.
    let config = &state.config;
    let admin = config.admins.contains(&requester.user_id)
        || roles.iter().any(|role| config.admin_roles.contains(role));
    let actor = if admin {
        Actor::admin(requester)
    } else {
        Actor::member(requester)
    };
    let data = interaction.data.unwrap_or_default();
    let asked = Asked {
        actor,
        token: interaction.token,
        channel_id: interaction.channel_id,
    };
    match interaction.kind {
        APPLICATION_COMMAND => command(state, asked, &data).await,
        AUTOCOMPLETE => autocomplete(state, &asked.actor, &data).await,
        MESSAGE_COMPONENT => button(state, &asked.actor, &data).await,
        other => {
            tracing::warn!(kind = other, "discord interaction type not handled");
            reply(&render::error_reply(
                "Prequel does not handle this kind of interaction",
            ))
        }
    }
}

/// Who asked, and where to answer later.
struct Asked {
    actor: Actor,
    token: String,
    channel_id: Option<String>,
}

fn requester(interaction: &Interaction) -> Option<Requester> {
    let (user, nick) = match (&interaction.member, &interaction.user) {
        (Some(member), _) => (&member.user, member.nick.as_deref()),
        (None, Some(user)) => (user, None),
        (None, None) => return None,
    };
    let display_name = nick
        .or(user.global_name.as_deref())
        .unwrap_or(&user.username)
        .to_owned();
    Some(Requester {
        platform: Platform::Discord,
        user_id: user.id.clone(),
        display_name,
    })
}

/// The zone the user's times are read in: the zone stored with `/interview tz`, else the
/// default. A store error falls back to the default rather than refusing: the command itself
/// hits the store next and reports the problem.
async fn zone_for(state: &DiscordState, requester: &Requester) -> Tz {
    match state.prequel.user_zone(requester).await {
        Ok(Some(zone)) => zone,
        Ok(None) => state.default_zone,
        Err(error) => {
            tracing::warn!(%error, "could not read the user's time zone");
            state.default_zone
        }
    }
}

async fn command(state: &DiscordState, asked: Asked, data: &Data) -> Value {
    let Some(sub) = data.options.first() else {
        return reply(&render::help());
    };
    let options: Vec<(String, String)> = sub
        .options
        .iter()
        .map(|option| (option.name.clone(), option.text()))
        .collect();
    let zone = zone_for(state, &asked.actor.requester).await;
    let parsed = commands::to_command(
        &sub.name,
        &options,
        &ParseContext {
            now: state.prequel.now(),
            zone,
            challenges: state.prequel.challenges(),
        },
    );
    let command = match parsed {
        Ok(command) => command,
        Err(error) => return reply(&render::error_reply(&error.user_message())),
    };
    if matches!(
        command,
        Command::Schedule(_) | Command::Create(_) | Command::Creds(_)
    ) {
        // Acknowledge now; the work and the real answer follow (an edit of this response).
        let state = state.clone();
        tokio::spawn(async move { deferred(&state, asked, command).await });
        return json!({ "type": DEFERRED_CHANNEL_MESSAGE, "data": { "flags": EPHEMERAL } });
    }
    reply(&execute(state, &asked.actor, command).await)
}

/// Runs a deferred command and edits the original (ephemeral) response with its answer.
async fn deferred(state: &DiscordState, asked: Asked, command: Command) {
    let answer = match state.prequel.execute(&asked.actor, command).await {
        Ok(outcome) => {
            remember_channel(state, &outcome, asked.channel_id.as_deref()).await;
            answer_to(state, &asked.actor.requester, &outcome).await
        }
        Err(error) => error_answer(&error),
    };
    // The work can finish before Discord has seen the deferral (the HTTP answer is still on
    // its way), and then there is no original response to edit yet: Discord says 404. Try
    // again a few times, briefly.
    for wait in [100, 400, 1500, 0] {
        match state
            .api
            .edit_original_response(&asked.token, &answer)
            .await
        {
            Ok(()) => return,
            Err(DiscordError::Api { status: 404, .. }) if wait > 0 => {
                tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
            }
            Err(error) => {
                tracing::warn!(%error, "cannot answer a deferred discord interaction");
                return;
            }
        }
    }
}

/// Records the channel a new interview was asked in, then has the notifier post its status
/// message there at once (its claim makes a second post by the event follower harmless).
async fn remember_channel(state: &DiscordState, outcome: &Outcome, channel: Option<&str>) {
    let interview = match outcome {
        Outcome::Scheduled(interview) | Outcome::Created { interview, .. } => interview,
        _ => return,
    };
    let Some(channel) = channel else { return };
    // Only if absent: the first answer wins; a retried command must not move the message.
    if let Err(error) = state
        .prequel
        .put_note(&interview.id, CHANNEL_NOTE, channel, true)
        .await
    {
        tracing::warn!(interview = %interview.id, %error, "cannot note the Discord channel");
        return;
    }
    Notifier::new(state.prequel.clone(), state.api.clone())
        .status(interview)
        .await;
}

/// The answer to an outcome. `creds` sends the credentials by DM here and the answer only says
/// so.
async fn answer_to(state: &DiscordState, requester: &Requester, outcome: &Outcome) -> Message {
    let Outcome::Credentials {
        interview,
        password,
    } = outcome
    else {
        return render::outcome_reply(outcome);
    };
    let Some(password) = password else {
        return render::error_reply(&format!(
            "interview {} has no credentials now (it is {}); they come by DM once it is ready",
            interview.id, interview.state
        ));
    };
    let dm = render::credentials_dm(interview, password);
    let sent = match state.api.open_dm(&requester.user_id).await {
        Ok(channel) => state.api.create_message(&channel, &dm).await.map(drop),
        Err(error) => Err(error),
    };
    match sent {
        Ok(()) => render::outcome_reply(outcome),
        Err(error) => {
            tracing::warn!(interview = %interview.id, %error, "cannot DM the credentials");
            render::error_reply(
                "I could not send you a DM with the credentials; allow DMs from this server's members and try again",
            )
        }
    }
}

/// Executes a quick command; its answer is the HTTP response.
async fn execute(state: &DiscordState, actor: &Actor, command: Command) -> Message {
    match state.prequel.execute(actor, command).await {
        Ok(outcome) => render::outcome_reply(&outcome),
        Err(error) => error_answer(&error),
    }
}

fn error_answer(error: &PrequelError) -> Message {
    if matches!(
        error,
        PrequelError::Store(_) | PrequelError::Secrets(_) | PrequelError::Archive(_)
    ) {
        tracing::error!(%error, "discord command failed");
    }
    render::error_reply(&error.user_message())
}

async fn button(state: &DiscordState, actor: &Actor, data: &Data) -> Value {
    let custom_id = data.custom_id.as_deref().unwrap_or_default();
    let not_ours = || reply(&render::error_reply("this button is not Prequel's"));
    let Some((action, id)) = custom_id.split_once(':') else {
        return not_ours();
    };
    let Ok(interview) = InterviewId::parse(id) else {
        return not_ours();
    };
    let command = match action {
        render::EXTEND_ACTION => Command::Extend {
            interview,
            minutes: render::EXTEND_MINUTES,
        },
        // Discord buttons have no confirm dialog: Destroy answers with a confirmation button
        // (for this person only), and only that one destroys. The confirmation is offered only
        // to someone the ownership rule lets act (`status` asks the facade exactly that).
        render::DESTROY_ACTION => {
            return match state
                .prequel
                .execute(actor, Command::Status(interview))
                .await
            {
                Ok(Outcome::Status { interview, .. }) => {
                    reply(&render::destroy_confirmation(&interview))
                }
                Ok(_) => reply(&render::error_reply("unexpected answer")),
                Err(error) => reply(&error_answer(&error)),
            };
        }
        render::DESTROY_CONFIRM_ACTION => Command::Destroy(interview),
        _ => return not_ours(),
    };
    reply(&execute(state, actor, command).await)
}

async fn autocomplete(state: &DiscordState, actor: &Actor, data: &Data) -> Value {
    let Some(focused) = data
        .options
        .iter()
        .flat_map(|sub| sub.options.iter())
        .find(|option| option.focused)
    else {
        return choices(Vec::new());
    };
    let typed = focused.text().trim().to_ascii_lowercase();
    let names: Vec<String> = match focused.name.as_str() {
        "challenge" => state
            .prequel
            .challenges()
            .iter()
            .map(|id| id.as_str().to_owned())
            .filter(|id| id.starts_with(&typed))
            .take(MAX_CHOICES)
            .collect(),
        // The facade's `list`: the interviews this person may act on.
        "interview" => match state
            .prequel
            .execute(actor, Command::List { all: false })
            .await
        {
            Ok(Outcome::List(interviews)) => interviews
                .into_iter()
                .map(|interview| interview.id.to_string())
                .filter(|id| id.starts_with(&typed))
                .take(MAX_CHOICES)
                .collect(),
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    choices(names)
}

fn choices(names: Vec<String>) -> Value {
    let choices: Vec<Value> = names
        .into_iter()
        .map(|name| json!({ "name": name, "value": name }))
        .collect();
    json!({ "type": AUTOCOMPLETE_RESULT, "data": { "choices": choices } })
}

/// An immediate ephemeral answer.
fn reply(message: &Message) -> Value {
    json!({ "type": CHANNEL_MESSAGE, "data": message.to_json(true) })
}
