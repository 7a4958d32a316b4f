//! Slash commands and button presses, from HTTP ([`commands`], [`interactions`]) or Socket
//! Mode (which builds a [`CommandRequest`] / [`ActionRequest`] and calls [`handle_command`] /
//! [`handle_action`] like the HTTP handlers do).
//!
//! Slack wants an answer within 3 seconds, so the request path does only what is local and
//! quick: verify the signature, check the allow-lists, and read the words once in the server's
//! zone to answer `help` and mistakes at once. Everything else (the user's Slack time zone,
//! executing the command, the reply) runs in a spawned task and answers through the
//! request's `response_url`, ephemerally to the requester; the channel status message and the
//! DM with the password are the notifier's.
//!
//! Payloads are read into small structs of our own rather than slack-morphism's
//! `SlackCommandEvent` / `SlackInteractionEvent`: the former lacks `user_name` (the display
//! name for the audit trail), and the latter insists on fields (team, app id, container) that
//! we never use and Slack varies between surfaces; a missing unused field must not cost a
//! button press. Socket Mode, which hands us slack-morphism's types, converts them.

use std::time::Duration;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use prequel_core::Outcome;
use prequel_core::access::Actor;
use prequel_core::command::Command;
use prequel_core::domain::{InterviewId, Platform, Requester};
use serde::Deserialize;

use super::SlackState;
use super::auth::Denial;
use super::notifier::Notifier;
use super::render;
use super::verify;

/// How long the request path waits for a user-group lookup before denying, so the
/// acknowledgement still beats Slack's 3 seconds.
const GROUP_LOOKUP_BUDGET: Duration = Duration::from_millis(1500);

/// How long the background task waits for the user's Slack zone before using the server's.
const ZONE_LOOKUP_BUDGET: Duration = Duration::from_secs(5);

/// The acknowledgement shown while a command runs.
pub const WORKING: &str = "Working on it…";

pub use super::render::{DESTROY_ACTION, EXTEND_ACTION, EXTEND_MINUTES};

pub use super::notifier::CHANNEL_NOTE;

/// A rendered message: the fallback text and the Block Kit blocks.
type Reply = (String, serde_json::Value);

/// A slash command, whichever way it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandRequest {
    /// The Slack user id.
    pub user_id: String,
    /// The user's name as Slack sent it (for the audit trail).
    pub user_name: String,
    /// Where it was typed.
    pub channel_id: Option<String>,
    /// The words after `/interview`.
    pub text: String,
    /// Where to send the outcome.
    pub response_url: String,
}

/// A button press, whichever way it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRequest {
    /// Who pressed.
    pub user_id: String,
    /// Their name.
    pub user_name: String,
    /// The button's `action_id`.
    pub action_id: String,
    /// The button's value: the interview id.
    pub value: String,
    /// Where to send the answer.
    pub response_url: Option<String>,
}

/// The immediate ephemeral answer to a slash command (HTTP body or Socket Mode ack payload).
#[derive(Debug, Clone, PartialEq)]
pub enum Ack {
    /// Plain text: the acknowledgement, an error line or a denial.
    Text(String),
    /// The help, as rendered blocks.
    Help,
}

impl Ack {
    /// The JSON body Slack expects: ephemeral, so only the requester sees it.
    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Self::Text(text) => serde_json::json!({"response_type": "ephemeral", "text": text}),
            Self::Help => {
                let (text, blocks) = render::help_blocks();
                serde_json::json!({"response_type": "ephemeral", "text": text, "blocks": blocks})
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------------------------

/// The form Slack posts for a slash command (only the fields we use).
#[derive(Debug, Deserialize)]
struct CommandForm {
    user_id: String,
    #[serde(default)]
    user_name: String,
    #[serde(default)]
    channel_id: Option<String>,
    #[serde(default)]
    text: String,
    response_url: String,
}

/// The form Slack posts for an interaction: one field holding JSON.
#[derive(Debug, Deserialize)]
struct InteractionForm {
    payload: String,
}

/// The JSON of a `block_actions` interaction (only the fields we use).
#[derive(Debug, Deserialize)]
struct ActionPayload {
    #[serde(rename = "type")]
    kind: String,
    user: PayloadUser,
    #[serde(default)]
    response_url: Option<String>,
    #[serde(default)]
    actions: Vec<PayloadAction>,
}

#[derive(Debug, Deserialize)]
struct PayloadUser {
    id: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Debug, Deserialize)]
struct PayloadAction {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
}

/// `ssl_check=1`: Slack checking the certificate; answered 200 with nothing.
#[derive(Debug, Deserialize)]
struct SslCheck {
    #[serde(default)]
    ssl_check: Option<String>,
}

/// `POST /slack/commands`.
pub async fn commands(
    State(state): State<SlackState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(early) = screen(&state, &headers, &body).await {
        return early;
    }
    let Ok(form) = serde_urlencoded::from_bytes::<CommandForm>(&body) else {
        return (StatusCode::BAD_REQUEST, "not a slash command form").into_response();
    };
    let request = CommandRequest {
        user_name: if form.user_name.is_empty() {
            form.user_id.clone()
        } else {
            form.user_name
        },
        user_id: form.user_id,
        channel_id: form.channel_id.filter(|id| !id.is_empty()),
        text: form.text,
        response_url: form.response_url,
    };
    Json(handle_command(&state, request).await.to_json()).into_response()
}

/// `POST /slack/interactions`.
pub async fn interactions(
    State(state): State<SlackState>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(early) = screen(&state, &headers, &body).await {
        return early;
    }
    let payload = serde_urlencoded::from_bytes::<InteractionForm>(&body)
        .ok()
        .and_then(|form| serde_json::from_str::<ActionPayload>(&form.payload).ok());
    let Some(payload) = payload else {
        return (StatusCode::BAD_REQUEST, "not an interaction payload").into_response();
    };
    if payload.kind == "block_actions" {
        let name = payload
            .user
            .username
            .or(payload.user.name)
            .unwrap_or_else(|| payload.user.id.clone());
        for action in payload.actions {
            handle_action(
                &state,
                ActionRequest {
                    user_id: payload.user.id.clone(),
                    user_name: name.clone(),
                    action_id: action.action_id,
                    value: action.value.unwrap_or_default(),
                    response_url: payload.response_url.clone(),
                },
            );
        }
    }
    // Slack only needs the 200; answers go through response_url.
    StatusCode::OK.into_response()
}

/// How long an accepted request's signature is remembered: past its timestamp window either
/// way, after which a replay fails the timestamp check anyway.
const REPLAY_WINDOW: chrono::Duration = chrono::Duration::seconds(2 * verify::WINDOW_SECONDS);

/// The checks before a body is read: `ssl_check` (200, nothing else), then the signature
/// (401, nothing else), then once only across replicas (401 for a replay). `None` when the
/// request may go on.
async fn screen(state: &SlackState, headers: &HeaderMap, body: &[u8]) -> Option<Response> {
    if serde_urlencoded::from_bytes::<SslCheck>(body)
        .is_ok_and(|check| check.ssl_check.as_deref() == Some("1"))
    {
        return Some(StatusCode::OK.into_response());
    }
    if let Err(error) = state.verifier.verify(headers, body, state.prequel.now()) {
        // The reason is for the operator; the caller learns nothing but 401.
        tracing::warn!(%error, "refused a Slack request");
        return Some(StatusCode::UNAUTHORIZED.into_response());
    }
    // The signature covers timestamp and body, so it names this exact request.
    let signature = headers
        .get(verify::SIGNATURE_HEADER)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    match state
        .prequel
        .claim_request(&format!("slack:{signature}"), REPLAY_WINDOW)
        .await
    {
        Ok(true) => None,
        Ok(false) => {
            tracing::warn!("refused a replayed Slack request");
            Some(StatusCode::UNAUTHORIZED.into_response())
        }
        Err(error) => {
            tracing::error!(%error, "cannot record the Slack request; refusing it");
            Some(StatusCode::SERVICE_UNAVAILABLE.into_response())
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Transport-free handlers
// ---------------------------------------------------------------------------------------------

/// Handles a slash command: answers at once (denial, help, a mistake, or "working on it") and
/// runs the rest in the background, replying through `response_url`.
pub async fn handle_command(state: &SlackState, request: CommandRequest) -> Ack {
    if let Err(denial) = authorize(state, &request.user_id, request.channel_id.as_deref()).await {
        tracing::info!(user = %request.user_id, channel = ?request.channel_id, ?denial, "Slack command refused");
        return Ack::Text(denial.user_message().to_owned());
    }
    // A first reading in the server's zone answers help and mistakes without waiting for
    // Slack: whether the words make a command does not depend on the zone.
    match state.prequel.parse(&request.text, state.default_zone) {
        Err(error) => return Ack::Text(error.user_message()),
        Ok(Command::Help) => return Ack::Help,
        Ok(_) => {}
    }
    let state = state.clone();
    tokio::spawn(async move { run_command(state, request).await });
    Ack::Text(WORKING.to_owned())
}

/// Reads the words again in the user's own zone, executes them and replies ephemerally.
async fn run_command(state: SlackState, request: CommandRequest) {
    let zone = match tokio::time::timeout(ZONE_LOOKUP_BUDGET, state.api.user_zone(&request.user_id))
        .await
    {
        Ok(Ok(zone)) => zone,
        Ok(Err(error)) => {
            tracing::warn!(user = %request.user_id, %error, "cannot read the Slack user's zone; using the server's");
            state.default_zone
        }
        Err(_) => {
            tracing::warn!(user = %request.user_id, "the Slack user's zone took too long; using the server's");
            state.default_zone
        }
    };
    let actor = actor(&state, &request.user_id, &request.user_name);
    let reply = match state.prequel.parse(&request.text, zone) {
        Err(error) => render::error_reply(&error.user_message()),
        Ok(command) => match state.prequel.execute(&actor, command).await {
            Ok(outcome) => {
                remember_channel(&state, &outcome, request.channel_id.as_deref()).await;
                reply_to(&state, &request.user_id, &outcome).await
            }
            Err(error) => render::error_reply(&error.user_message()),
        },
    };
    reply_ephemeral(&state, Some(&request.response_url), reply).await;
}

/// Handles a button press in the background; the answer goes through `response_url`.
pub fn handle_action(state: &SlackState, request: ActionRequest) {
    let state = state.clone();
    tokio::spawn(async move {
        let reply = run_action(&state, &request).await;
        reply_ephemeral(&state, request.response_url.as_deref(), reply).await;
    });
}

async fn run_action(state: &SlackState, request: &ActionRequest) -> Reply {
    let Ok(id) = InterviewId::parse(&request.value) else {
        return render::error_reply("that button does not name an interview");
    };
    let command = match request.action_id.as_str() {
        EXTEND_ACTION => Command::Extend {
            interview: id.clone(),
            minutes: EXTEND_MINUTES,
        },
        DESTROY_ACTION => Command::Destroy(id.clone()),
        other => {
            tracing::warn!(action = other, "unknown Slack button");
            return render::error_reply("that button is not one of Prequel's");
        }
    };
    // Who may press is the allow-list and then the facade's ownership rule, as for typed
    // commands; channels are not checked (the Extend reminder comes by DM).
    if !user_allowed(state, &request.user_id).await {
        tracing::info!(user = %request.user_id, interview = %id, "Slack button refused");
        return render::error_reply(Denial::User.user_message());
    }
    let actor = actor(state, &request.user_id, &request.user_name);
    match state.prequel.execute(&actor, command).await {
        Ok(outcome) => render::outcome_reply(&outcome),
        Err(error) => render::error_reply(&error.user_message()),
    }
}

async fn authorize(state: &SlackState, user: &str, channel: Option<&str>) -> Result<(), Denial> {
    if !state.allow.channel_allowed(channel) {
        return Err(Denial::Channel);
    }
    if user_allowed(state, user).await {
        Ok(())
    } else {
        Err(Denial::User)
    }
}

async fn user_allowed(state: &SlackState, user: &str) -> bool {
    tokio::time::timeout(
        GROUP_LOOKUP_BUDGET,
        state.allow.user_allowed(user, state.api.as_ref()),
    )
    .await
    .unwrap_or(false)
}

/// The person, as Slack identifies them, and their standing: an admin when listed in
/// `PREQUEL_SLACK_ADMINS`, else a member (the facade's ownership rule does the rest).
fn actor(state: &SlackState, user_id: &str, user_name: &str) -> Actor {
    let requester = Requester {
        platform: Platform::Slack,
        user_id: user_id.to_owned(),
        display_name: user_name.to_owned(),
    };
    if state.config.admins.iter().any(|admin| admin == user_id) {
        Actor::admin(requester)
    } else {
        Actor::member(requester)
    }
}

/// Records the channel a new interview was asked in, then has the notifier post its status
/// message there at once (its claim makes a second post by the event follower harmless).
async fn remember_channel(state: &SlackState, outcome: &Outcome, channel: Option<&str>) {
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
        tracing::warn!(interview = %interview.id, %error, "cannot note the Slack channel");
        return;
    }
    Notifier::new(state.prequel.clone(), state.api.clone())
        .status(interview)
        .await;
}

/// The reply to an outcome. `creds` sends the credentials by DM here (the only place a
/// password goes) and the reply only says so; the notifier DMs them for `now` when ready.
async fn reply_to(state: &SlackState, user_id: &str, outcome: &Outcome) -> Reply {
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
    let (text, blocks) = render::credentials_dm(interview, password);
    let sent = match state.api.open_dm(user_id).await {
        Ok(channel) => state
            .api
            .post_message(&channel, &text, &blocks)
            .await
            .map(drop),
        Err(error) => Err(error),
    };
    match sent {
        Ok(()) => render::outcome_reply(outcome),
        Err(error) => {
            tracing::warn!(interview = %interview.id, %error, "cannot DM the credentials");
            render::error_reply("I could not send you a DM with the credentials; please try again")
        }
    }
}

async fn reply_ephemeral(state: &SlackState, response_url: Option<&str>, reply: Reply) {
    let Some(url) = response_url else {
        tracing::warn!("a Slack request without response_url; its answer is dropped");
        return;
    };
    let (text, blocks) = reply;
    if let Err(error) = state.api.respond(url, true, &text, &blocks).await {
        tracing::warn!(%error, "cannot answer through Slack's response_url");
    }
}
