//! The Slack frontend: `/interview` as a slash command, Block Kit buttons, DMs with credentials
//! and channel status messages edited in place.
//!
//! Thin on purpose (DESIGN invariants 1, 2, 7): identify the Slack user → build a command with
//! the facade → execute → render → reply. Only this module knows Slack.
//!
//! - [`verify`]: request signing (`v0` HMAC-SHA256, timestamp window, replay memory).
//! - [`inbound`]: `POST /slack/commands` and `POST /slack/interactions` (HTTP mode), and the
//!   transport-free handlers Socket Mode shares.
//! - [`socket`]: Socket Mode (no public URL), routed to the same handlers as HTTP.
//! - [`auth`]: allow-lists of users, user groups and channels.
//! - [`api`]: the Web API client (users.info, conversations.open, chat.*, response_url).
//! - [`render`]: Block Kit rendering of outcomes and help.
//! - [`notifier`]: follows the engine's events and posts DMs and channel status messages.

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use chrono_tz::Tz;
use prequel_core::Prequel;
use prequel_core::domain::SecretString;
use reqwest::Url;
use tokio::sync::watch;

pub mod api;
pub mod auth;
pub mod inbound;
pub mod notifier;
pub mod render;
pub mod socket;
pub mod verify;

/// The largest request body accepted from Slack; larger ones get 413. Slash commands and
/// button payloads are a few KiB; 64 KiB leaves room for a message's blocks in a payload.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Slack's Web API, the default of `PREQUEL_SLACK_API_URL`.
pub const DEFAULT_API_URL: &str = "https://slack.com/api/";

/// How Slack reaches Prequel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlackMode {
    /// Slack posts to `/slack/commands` and `/slack/interactions` on serve's listener (needs a
    /// public HTTPS URL, e.g. behind a reverse proxy).
    Http,
    /// Prequel opens a websocket to Slack (`apps.connections.open`); no public URL needed.
    Socket,
}

/// Slack settings, resolved by `config.rs` (flag > env > file > default). Present only when
/// Slack is enabled: its secrets are set for the chosen mode.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackConfig {
    /// HTTP or Socket Mode.
    pub mode: SlackMode,
    /// `PREQUEL_SLACK_SIGNING_SECRET`: checks HTTP requests (required in HTTP mode).
    pub signing_secret: Option<SecretString>,
    /// `PREQUEL_SLACK_BOT_TOKEN` (`xoxb-…`): the Web API.
    pub bot_token: SecretString,
    /// `PREQUEL_SLACK_APP_TOKEN` (`xapp-…`): Socket Mode (required there).
    pub app_token: Option<SecretString>,
    /// `PREQUEL_SLACK_API_URL`: the Web API's base URL (tests point it at a local fake).
    pub api_url: Url,
    /// `PREQUEL_SLACK_ALLOWED_USERS`: user ids; with the groups empty too, everyone.
    pub allowed_users: Vec<String>,
    /// `PREQUEL_SLACK_ALLOWED_GROUPS`: user-group ids whose members are allowed.
    pub allowed_groups: Vec<String>,
    /// `PREQUEL_SLACK_ALLOWED_CHANNELS`: channel ids; empty, any channel.
    pub allowed_channels: Vec<String>,
    /// `PREQUEL_SLACK_ADMINS`: user ids who may act on every interview and `list all`.
    pub admins: Vec<String>,
}

/// Everything a Slack handler needs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SlackState {
    /// The engine.
    pub prequel: Prequel,
    /// The Slack settings.
    pub config: Arc<SlackConfig>,
    /// The Web API client (owned by the outbound side).
    pub api: Arc<api::SlackApi>,
    /// The zone commands are read in when the user's Slack zone cannot be read.
    pub default_zone: Tz,
    /// Request signing and replay memory (HTTP mode).
    pub verifier: Arc<verify::Verifier>,
    /// Who may use the commands and buttons.
    pub allow: Arc<auth::AllowList>,
}

impl SlackState {
    /// State for `config`, with the allow-lists and verifier built from it.
    pub fn new(
        prequel: Prequel,
        config: SlackConfig,
        api: Arc<api::SlackApi>,
        default_zone: Tz,
    ) -> Self {
        // In Socket Mode there is no signing secret; the verifier is then never reached
        // (the HTTP routes are not mounted) and an empty key would refuse everything anyway.
        let secret = config
            .signing_secret
            .clone()
            .unwrap_or_else(|| SecretString::new(""));
        let allow = auth::AllowList::new(
            config.allowed_users.clone(),
            config.allowed_groups.clone(),
            config.allowed_channels.clone(),
        );
        Self {
            prequel,
            config: Arc::new(config),
            api,
            default_zone,
            verifier: Arc::new(verify::Verifier::new(secret)),
            allow: Arc::new(allow),
        }
    }
}

/// The HTTP-mode routes, `POST /slack/commands` and `POST /slack/interactions`, to merge into
/// serve's router (they share its listener and port).
pub fn router(state: SlackState) -> Router {
    Router::new()
        .route("/slack/commands", post(inbound::commands))
        .route("/slack/interactions", post(inbound::interactions))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Starts the Slack frontend for `config`: builds the Web API client, starts the notifier and,
/// in Socket Mode, the socket (in the background, stopping when `shutdown` turns true), and
/// answers the HTTP routes to merge into serve's router (`None` in Socket Mode).
pub fn start(
    prequel: Prequel,
    config: SlackConfig,
    default_zone: Tz,
    shutdown: watch::Receiver<bool>,
) -> Result<Option<Router>, api::SlackError> {
    let api = Arc::new(api::SlackApi::new(
        config.bot_token.clone(),
        config.api_url.clone(),
    )?);
    let mode = config.mode;
    let state = SlackState::new(prequel, config, api, default_zone);
    notifier::spawn(state.prequel.clone(), state.api.clone(), shutdown.clone());
    match mode {
        SlackMode::Http => {
            tracing::info!("slack is on (http mode: POST /slack/commands, /slack/interactions)");
            Ok(Some(router(state)))
        }
        SlackMode::Socket => {
            tokio::spawn(async move {
                if let Err(error) = socket::run(state, shutdown).await {
                    tracing::error!(%error, "slack socket mode stopped");
                }
            });
            tracing::info!("slack is on (socket mode)");
            Ok(None)
        }
    }
}

#[cfg(test)]
mod tests {
    use prequel_core::command::COMMANDS;

    /// The manifest people paste into Slack's app config.
    const MANIFEST: &str = include_str!("../../slack/manifest.yaml");

    #[test]
    fn the_manifest_matches_the_routes_scopes_and_commands() {
        for needed in [
            "command: /interview",
            "https://YOUR_HOST/slack/commands",
            "https://YOUR_HOST/slack/interactions",
            "socket_mode_enabled: false",
        ] {
            assert!(MANIFEST.contains(needed), "manifest lacks {needed}");
        }
        for scope in [
            "commands",
            "chat:write",
            "im:write",
            "users:read",
            "usergroups:read",
        ] {
            assert!(
                MANIFEST.contains(&format!("- {scope}\n")),
                "manifest lacks scope {scope}"
            );
        }
        let hint = MANIFEST
            .lines()
            .find(|line| line.trim_start().starts_with("usage_hint:"))
            .expect("a usage hint");
        for spec in COMMANDS {
            let word = spec.usage.split_whitespace().next().expect("a first word");
            assert!(hint.contains(word), "the usage hint lacks `{word}`");
        }
    }
}
