//! The Discord frontend: `/interview` as an application command with subcommands, typed options
//! and autocomplete, ephemeral replies, buttons and DMs.
//!
//! Thin on purpose (DESIGN invariants 1, 2, 7): identify the Discord user → build the same
//! `Command` the text grammar produces → execute with the facade → reply. Only this module knows
//! Discord.
//!
//! - [`verify`]: Ed25519 signatures over timestamp + body, stale timestamps refused.
//! - [`inbound`]: `POST /discord/interactions` (PING, commands, autocomplete, buttons).
//! - [`commands`]: the registration payload built from `COMMANDS`, and typed options → `Command`.
//! - [`gateway`]: gateway mode (no public URL).
//! - [`auth`]: allow-lists of guilds, roles and users.
//! - [`api`]: the REST client (follow-ups, DMs, messages).
//! - [`render`]: rendering of outcomes.
//! - [`notifier`]: follows the engine's events and sends DMs and status messages.

pub mod api;
pub mod auth;
pub mod commands;
pub mod gateway;
pub mod inbound;
pub mod notifier;
pub mod render;
pub mod verify;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::post;
use chrono_tz::Tz;
use prequel_core::Prequel;
use prequel_core::domain::SecretString;
use reqwest::Url;
use tokio::sync::watch;

/// The largest request body accepted from Discord; larger ones get 413. Interactions are a few
/// KiB (a button payload carries its message); 64 KiB leaves ample room.
pub const BODY_LIMIT: usize = 64 * 1024;

/// Discord's REST API, the default of `PREQUEL_DISCORD_API_URL`.
pub use api::DEFAULT_API_URL;

/// How Discord reaches Prequel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiscordMode {
    /// Discord posts to `/discord/interactions` on serve's listener (needs a public HTTPS URL).
    Http,
    /// Prequel connects to Discord's gateway; no public URL needed (see [`gateway`]).
    Gateway,
}

/// Discord settings, resolved by `config.rs`. Present only when Discord is enabled.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscordConfig {
    /// HTTP interactions endpoint or gateway.
    pub mode: DiscordMode,
    /// `PREQUEL_DISCORD_PUBLIC_KEY` (hex): checks interaction signatures. Public, not a secret.
    pub public_key: String,
    /// `PREQUEL_DISCORD_BOT_TOKEN`: the REST API.
    pub bot_token: SecretString,
    /// `PREQUEL_DISCORD_APPLICATION_ID`: follow-ups and command registration.
    pub application_id: String,
    /// `PREQUEL_DISCORD_API_URL`: the REST API's base URL (tests point it at a local fake).
    pub api_url: Url,
    /// `PREQUEL_DISCORD_GUILD_ID`: register the command in this guild (instant), else globally.
    pub guild_id: Option<String>,
    /// `PREQUEL_DISCORD_ALLOWED_GUILDS`: guild ids; empty, any guild.
    pub allowed_guilds: Vec<String>,
    /// `PREQUEL_DISCORD_ALLOWED_ROLES`: role ids whose members are allowed.
    pub allowed_roles: Vec<String>,
    /// `PREQUEL_DISCORD_ALLOWED_USERS`: user ids; with the roles empty too, everyone.
    pub allowed_users: Vec<String>,
    /// `PREQUEL_DISCORD_ADMINS`: user ids who may act on every interview and `list all`.
    pub admins: Vec<String>,
    /// `PREQUEL_DISCORD_ADMIN_ROLES`: role ids whose members are admins as well.
    pub admin_roles: Vec<String>,
}

/// Everything a Discord handler needs. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DiscordState {
    /// The engine.
    pub prequel: Prequel,
    /// The Discord settings.
    pub config: Arc<DiscordConfig>,
    /// The REST client (follow-ups, DMs; owned by the outbound side).
    pub api: Arc<api::DiscordApi>,
    /// The zone commands are read in when the user has not set one with `/interview tz`
    /// (`PREQUEL_DISCORD_DEFAULT_TZ`, else the server's zone).
    pub default_zone: Tz,
    /// Signature checks.
    pub verifier: Arc<verify::Verifier>,
    /// Who may use the commands and buttons.
    pub allow: Arc<auth::AllowList>,
}

impl DiscordState {
    /// State for `config`, with the verifier and allow-lists built from it.
    pub fn new(
        prequel: Prequel,
        config: DiscordConfig,
        api: Arc<api::DiscordApi>,
        default_zone: Tz,
    ) -> Result<Self, verify::InvalidPublicKey> {
        let verifier = verify::Verifier::new(&config.public_key)?;
        let allow = auth::AllowList::new(
            config.allowed_guilds.clone(),
            config.allowed_roles.clone(),
            config.allowed_users.clone(),
        );
        Ok(Self {
            prequel,
            config: Arc::new(config),
            api,
            default_zone,
            verifier: Arc::new(verifier),
            allow: Arc::new(allow),
        })
    }
}

/// The HTTP-mode route, `POST /discord/interactions`, to merge into serve's router.
pub fn router(state: DiscordState) -> Router {
    Router::new()
        .route("/discord/interactions", post(inbound::interactions))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Why Discord could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The public key is not valid.
    #[error(transparent)]
    PublicKey(#[from] verify::InvalidPublicKey),
    /// The application id is not a snowflake.
    #[error("PREQUEL_DISCORD_APPLICATION_ID is not a numeric application id")]
    ApplicationId,
    /// The REST client could not be built.
    #[error(transparent)]
    Api(#[from] api::DiscordError),
    /// Gateway mode is not in this build (cargo feature `discord-gateway`).
    #[error(
        "PREQUEL_DISCORD_MODE=gateway needs a build with the cargo feature `discord-gateway`; \
         use http (the interactions endpoint) or rebuild with that feature"
    )]
    GatewayUnsupported,
}

/// Starts the Discord frontend for `config`: builds the REST client, starts the notifier (which
/// stops when `shutdown` turns true) and answers the route to merge into serve's router.
pub fn start(
    prequel: Prequel,
    config: DiscordConfig,
    default_zone: Tz,
    shutdown: watch::Receiver<bool>,
) -> Result<Option<Router>, StartError> {
    // Checked before anything starts, so a bad setup stops serve with one clear line.
    if config.mode == DiscordMode::Gateway && !cfg!(feature = "discord-gateway") {
        return Err(StartError::GatewayUnsupported);
    }
    let application_id = config
        .application_id
        .trim()
        .parse::<u64>()
        .map_err(|_| StartError::ApplicationId)?;
    let api = Arc::new(api::DiscordApi::new(
        config.bot_token.clone(),
        application_id,
        config.api_url.clone(),
    )?);
    let state = DiscordState::new(prequel, config, api, default_zone)?;
    notifier::spawn(state.prequel.clone(), state.api.clone(), shutdown.clone());
    #[cfg(feature = "discord-gateway")]
    if state.config.mode == DiscordMode::Gateway {
        tokio::spawn(async move {
            if let Err(error) = gateway::run(state, shutdown).await {
                tracing::error!(%error, "discord gateway mode stopped");
            }
        });
        tracing::info!("discord is on (gateway mode)");
        return Ok(None);
    }
    tracing::info!("discord is on (http mode: POST /discord/interactions)");
    Ok(Some(router(state)))
}
