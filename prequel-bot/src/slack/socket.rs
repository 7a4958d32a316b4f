//! Socket Mode: Prequel opens a websocket to Slack with the app token (`apps.connections.open`,
//! at the configured API URL) instead of receiving HTTP requests, so no public URL is needed.
//!
//! slack-morphism's `SlackClientSocketModeListener` does the connection work (reconnects,
//! pings, acknowledging each envelope); its callbacks convert the slash command and the
//! button press into our [`CommandRequest`] / [`ActionRequest`] and call the same handlers as
//! HTTP mode, so authorization, parsing and replies are identical. A command's immediate
//! answer travels back as the envelope's acknowledgement payload.
//!
//! Requests over the websocket are authenticated by the connection itself (the app token), so
//! there is no signature to check here.
//!
//! Not tested against real Slack (impossible here): the unit tests cover the conversions; the
//! websocket loop is slack-morphism's.

use std::sync::Arc;

use slack_morphism::prelude::*;
use thiserror::Error;
use tokio::sync::watch;

use super::SlackState;
use super::inbound::{self, Ack, ActionRequest, CommandRequest};

/// Why Socket Mode could not start.
#[derive(Debug, Error)]
pub enum SocketError {
    /// Socket Mode needs `PREQUEL_SLACK_APP_TOKEN`.
    #[error("socket mode needs PREQUEL_SLACK_APP_TOKEN")]
    NoAppToken,
    /// The HTTPS client could not be built (no TLS roots).
    #[error("cannot build the slack client: {0}")]
    Client(String),
    /// Slack refused to open the connection (wrong token, no Socket Mode in the app).
    #[error("cannot open the slack socket: {0}")]
    Connect(String),
}

/// Connects to Slack and serves commands and buttons until `shutdown` turns true.
pub async fn run(
    state: SlackState,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), SocketError> {
    let app_token = state
        .config
        .app_token
        .clone()
        .ok_or(SocketError::NoAppToken)?;
    let base = state
        .config
        .api_url
        .as_str()
        .trim_end_matches('/')
        .to_owned();
    // Built like api.rs's: slack-morphism's default connector refuses plain http, which the
    // local stand-in for Slack in the tests speaks; Slack itself is https.
    let https = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|error| SocketError::Client(format!("no TLS root certificates: {error}")))?
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    let connector = SlackClientHyperConnector::from(https).with_slack_api_url(&base);
    let client = Arc::new(SlackClient::new(connector));
    let callbacks = SlackSocketModeListenerCallbacks::new()
        .with_command_events(on_command)
        .with_interaction_events(on_interaction);
    let environment = Arc::new(
        SlackClientEventsListenerEnvironment::new(client)
            .with_error_handler(on_error)
            .with_user_state(state),
    );
    let listener = SlackClientSocketModeListener::new(
        &SlackClientSocketModeConfig::new(),
        environment,
        callbacks,
    );
    let token = SlackApiToken::new(SlackApiTokenValue::new(app_token.expose().to_owned()));
    listener
        .listen_for(&token)
        .await
        .map_err(|error| SocketError::Connect(error.to_string()))?;
    listener.start().await;
    // The connections are made (and remade) in the background from here on.
    tracing::info!("slack socket mode started");
    // Wait for the shutdown signal (or its sender going away, which means the same).
    while !*shutdown.borrow() {
        if shutdown.changed().await.is_err() {
            break;
        }
    }
    listener.shutdown().await;
    Ok(())
}

/// The client's connector: https (or http, for the tests' stand-in) over rustls.
type Connector = SlackClientHyperHttpsConnector;

async fn state_of(states: &SlackClientEventsUserState) -> Option<SlackState> {
    states.read().await.get_user_state::<SlackState>().cloned()
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<SlackClient<Connector>>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let state = state_of(&states).await.ok_or("slack state missing")?;
    let ack = inbound::handle_command(&state, command_request(event)).await;
    Ok(ack_response(&ack))
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<SlackClient<Connector>>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    let state = state_of(&states).await.ok_or("slack state missing")?;
    for request in action_requests(event) {
        inbound::handle_action(&state, request);
    }
    Ok(())
}

fn on_error(
    error: Box<dyn std::error::Error + Send + Sync>,
    _client: Arc<SlackClient<Connector>>,
    _states: SlackClientEventsUserState,
) -> axum::http::StatusCode {
    tracing::warn!(%error, "slack socket mode error");
    axum::http::StatusCode::OK
}

/// The command as our handlers take it. Socket Mode's payload has no `user_name`, so the id
/// stands in as the display name.
pub fn command_request(event: SlackCommandEvent) -> CommandRequest {
    let user_id = event.user_id.to_string();
    CommandRequest {
        user_name: user_id.clone(),
        user_id,
        channel_id: Some(event.channel_id.to_string()),
        text: event.text.unwrap_or_default(),
        response_url: event.response_url.0.to_string(),
    }
}

/// The button presses in an interaction (only `block_actions` carry ours).
pub fn action_requests(event: SlackInteractionEvent) -> Vec<ActionRequest> {
    let SlackInteractionEvent::BlockActions(event) = event else {
        return Vec::new();
    };
    let Some(user) = event.user else {
        return Vec::new();
    };
    let user_id = user.id.to_string();
    let user_name = user
        .username
        .or(user.name)
        .unwrap_or_else(|| user_id.clone());
    let response_url = event.response_url.map(|url| url.0.to_string());
    event
        .actions
        .unwrap_or_default()
        .into_iter()
        .map(|action| ActionRequest {
            user_id: user_id.clone(),
            user_name: user_name.clone(),
            action_id: action.action_id.to_string(),
            value: action.value.unwrap_or_default(),
            response_url: response_url.clone(),
        })
        .collect()
}

/// The acknowledgement payload: the same ephemeral answer HTTP mode gives. Help's blocks are
/// carried when they read as slack-morphism blocks, else its text alone.
pub fn ack_response(ack: &Ack) -> SlackCommandEventResponse {
    let json = ack.to_json();
    let text = json["text"].as_str().unwrap_or_default().to_owned();
    let mut content = SlackMessageContent::new().with_text(text);
    if let Some(blocks) = json
        .get("blocks")
        .and_then(|blocks| serde_json::from_value::<Vec<SlackBlock>>(blocks.clone()).ok())
    {
        content = content.with_blocks(blocks);
    }
    SlackCommandEventResponse::new(content).with_response_type(SlackMessageResponseType::Ephemeral)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_mode_command_becomes_our_request() {
        let event: SlackCommandEvent = serde_json::from_value(serde_json::json!({
            "team_id": "T1", "channel_id": "C1", "user_id": "U1", "command": "/interview",
            "text": "now 30m python", "response_url": "https://hooks.slack.com/commands/T1/1/x",
            "trigger_id": "1.2.3"
        }))
        .expect("a command event");
        assert_eq!(
            command_request(event),
            CommandRequest {
                user_id: "U1".into(),
                user_name: "U1".into(),
                channel_id: Some("C1".into()),
                text: "now 30m python".into(),
                response_url: "https://hooks.slack.com/commands/T1/1/x".into(),
            }
        );
    }

    #[test]
    fn a_socket_mode_button_press_becomes_our_requests() {
        let event: SlackInteractionEvent = serde_json::from_value(serde_json::json!({
            "type": "block_actions",
            "team": {"id": "T1"},
            "user": {"id": "U1", "username": "alice"},
            "api_app_id": "A1",
            "container": {"type": "message", "message_ts": "1.1", "channel_id": "C1"},
            "trigger_id": "1.2.3",
            "response_url": "https://hooks.slack.com/actions/T1/1/x",
            "actions": [{"type": "button", "action_id": "extend_30m", "value": "iv-1"}]
        }))
        .expect("an interaction event");
        assert_eq!(
            action_requests(event),
            [ActionRequest {
                user_id: "U1".into(),
                user_name: "alice".into(),
                action_id: "extend_30m".into(),
                value: "iv-1".into(),
                response_url: Some("https://hooks.slack.com/actions/T1/1/x".into()),
            }]
        );
    }

    #[test]
    fn the_acknowledgement_is_ephemeral() {
        let response = ack_response(&Ack::Text(inbound::WORKING.to_owned()));
        assert_eq!(
            response.response_type,
            Some(SlackMessageResponseType::Ephemeral)
        );
        assert_eq!(response.content.text.as_deref(), Some(inbound::WORKING));
    }
}
