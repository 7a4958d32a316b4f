//! Discord's REST API, as the Discord frontend uses it: interaction responses and follow-ups,
//! DMs, channel messages (posted, then edited in place) and command registration.
//!
//! Built on reqwest rather than serenity's `Http`, on purpose. serenity *can* be pointed at a
//! local fake (`HttpBuilder::proxy` rewrites `https://discord.com` to the given origin, so the
//! fake would serve `/api/v10/…`), but its `Http::request` and `Request::build` are
//! `#[tracing::instrument]`ed with the whole `Request` — route (holding the interaction token)
//! and body (holding the password of the credentials DM) — as span fields, which DESIGN
//! invariant 7 forbids; and its typed methods parse full `Message`/`PrivateChannel` models we do
//! not need. Here only the ids we use are read, and nothing but the method name and status ever
//! reaches a log line or an error.
//!
//! `base_url` is the versioned API root (Discord's: [`DEFAULT_API_URL`]); tests point it at a
//! local fake (`PREQUEL_DISCORD_API_URL`). Every call is retried on HTTP 429, waiting as long as
//! the body's `retry_after` (or the `Retry-After` header) says — capped — a bounded number of
//! times. The bot token goes only in the `Authorization` header of bot routes: interaction
//! webhooks (`/webhooks/{app}/{token}/…`) are authorised by their token and get no bot token.

use std::fmt;
use std::time::Duration;

use prequel_core::domain::SecretString;
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;
use serde_json::{Value, json};

use super::render::Message;

/// Discord's REST API root, the default of `PREQUEL_DISCORD_API_URL`.
pub const DEFAULT_API_URL: &str = "https://discord.com/api/v10/";

/// How many times a call is tried in all when Discord answers 429.
const MAX_ATTEMPTS: u32 = 4;

/// The longest wait between tries, whatever `retry_after` says: a notification an hour late is
/// worse than one that failed and was logged.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);

/// The wait when a 429 says nothing about how long.
const DEFAULT_RETRY_WAIT: Duration = Duration::from_secs(1);

/// Per-request timeout: Discord answers in well under a second; a hung call must not stall the
/// notifier forever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a Discord call failed. Never contains the bot token or an interaction token.
#[derive(Debug, thiserror::Error)]
pub enum DiscordError {
    /// Discord answered an error status (e.g. 403 Missing Access, 404 Unknown Channel).
    #[error("discord refused {what}: HTTP {status}{}", code.map(|c| format!(" (code {c})")).unwrap_or_default())]
    Api {
        /// What was being done.
        what: &'static str,
        /// The HTTP status.
        status: u16,
        /// Discord's JSON error code, when it sent one.
        code: Option<u64>,
    },
    /// Discord kept answering 429 after every try.
    #[error("discord rate-limited {what} {attempts} times in a row")]
    RateLimited {
        /// What was being done.
        what: &'static str,
        /// How many times it was tried.
        attempts: u32,
    },
    /// Discord could not be reached or answered something unreadable.
    #[error("calling discord for {what} failed: {message}")]
    Transport {
        /// What was being done.
        what: &'static str,
        /// What went wrong (no URL: it may hold an interaction token).
        message: String,
    },
    /// The configured base URL is not usable.
    #[error("invalid discord url: {0}")]
    Url(String),
}

/// The REST client. Cheap to share behind an `Arc`; one per process.
pub struct DiscordApi {
    http: reqwest::Client,
    token: SecretString,
    application_id: u64,
    base: Url,
}

impl fmt::Debug for DiscordApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No token, not even redacted: there is nothing to learn from it.
        f.debug_struct("DiscordApi")
            .field("application_id", &self.application_id)
            .finish_non_exhaustive()
    }
}

/// The part of a created message or channel that is used: its id (a snowflake string).
#[derive(Debug, Deserialize)]
struct Created {
    id: String,
}

/// Whether a route is authorised by the bot token or by the interaction token in its path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    Bot,
    Interaction,
}

impl DiscordApi {
    /// A client for the application `application_id` calling the API at `base_url` with
    /// `bot_token`. Plain `http` is accepted so tests can use a loopback fake.
    pub fn new(
        bot_token: SecretString,
        application_id: u64,
        base_url: Url,
    ) -> Result<Self, DiscordError> {
        let mut base = base_url;
        // A base without the trailing slash would lose its last segment in `Url::join`.
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }
        if base.cannot_be_a_base() {
            return Err(DiscordError::Url("not a base URL".to_owned()));
        }
        let http = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!(
                "DiscordBot (https://github.com/prequel, ",
                env!("CARGO_PKG_VERSION"),
                ")"
            ))
            .build()
            .map_err(|err| DiscordError::Transport {
                what: "client setup",
                message: err.to_string(),
            })?;
        Ok(Self {
            http,
            token: bot_token,
            application_id,
            base,
        })
    }

    /// The application id the client was made for.
    pub fn application_id(&self) -> u64 {
        self.application_id
    }

    /// Replaces the interaction's original (deferred) response.
    pub async fn edit_original_response(
        &self,
        interaction_token: &str,
        message: &Message,
    ) -> Result<(), DiscordError> {
        let path = format!(
            "webhooks/{}/{interaction_token}/messages/@original",
            self.application_id
        );
        self.call(
            "edit the original response",
            Method::PATCH,
            &path,
            Auth::Interaction,
            Some(&message.to_json(false)),
        )
        .await?;
        Ok(())
    }

    /// Sends a follow-up message to an interaction; `ephemeral` shows it to its user only.
    pub async fn create_followup(
        &self,
        interaction_token: &str,
        message: &Message,
        ephemeral: bool,
    ) -> Result<(), DiscordError> {
        let path = format!("webhooks/{}/{interaction_token}", self.application_id);
        self.call(
            "send a follow-up",
            Method::POST,
            &path,
            Auth::Interaction,
            Some(&message.to_json(ephemeral)),
        )
        .await?;
        Ok(())
    }

    /// The DM channel with a user, for messages only they may see.
    pub async fn open_dm(&self, user_id: &str) -> Result<String, DiscordError> {
        let body = json!({ "recipient_id": user_id });
        let answer = self
            .call(
                "open a DM",
                Method::POST,
                "users/@me/channels",
                Auth::Bot,
                Some(&body),
            )
            .await?;
        created_id("open a DM", answer)
    }

    /// Posts a message in a channel and answers its id, the id to edit it by.
    pub async fn create_message(
        &self,
        channel_id: &str,
        message: &Message,
    ) -> Result<String, DiscordError> {
        let path = format!("channels/{channel_id}/messages");
        let answer = self
            .call(
                "post a message",
                Method::POST,
                &path,
                Auth::Bot,
                Some(&message.to_json(false)),
            )
            .await?;
        created_id("post a message", answer)
    }

    /// Replaces a message's content, embeds and components.
    pub async fn edit_message(
        &self,
        channel_id: &str,
        message_id: &str,
        message: &Message,
    ) -> Result<(), DiscordError> {
        let path = format!("channels/{channel_id}/messages/{message_id}");
        self.call(
            "edit a message",
            Method::PATCH,
            &path,
            Auth::Bot,
            Some(&message.to_json(false)),
        )
        .await?;
        Ok(())
    }

    /// Replaces the application's commands: in one guild (registered at once) or, with
    /// `None`, globally (Discord may take up to an hour to show them).
    pub async fn put_commands(
        &self,
        guild: Option<u64>,
        commands: &Value,
    ) -> Result<Value, DiscordError> {
        let path = match guild {
            Some(guild) => format!(
                "applications/{}/guilds/{guild}/commands",
                self.application_id
            ),
            None => format!("applications/{}/commands", self.application_id),
        };
        self.call(
            "register the commands",
            Method::PUT,
            &path,
            Auth::Bot,
            Some(commands),
        )
        .await
    }

    /// Sends one request, retrying on 429 as Discord asks (bounded), and answers the JSON body
    /// (`Null` for an empty one).
    async fn call(
        &self,
        what: &'static str,
        method: Method,
        path: &str,
        auth: Auth,
        body: Option<&Value>,
    ) -> Result<Value, DiscordError> {
        let url = self
            .base
            .join(path)
            .map_err(|_| DiscordError::Url(format!("cannot build the URL to {what}")))?;
        for attempt in 1..=MAX_ATTEMPTS {
            let mut request = self.http.request(method.clone(), url.clone());
            if auth == Auth::Bot {
                request = request.header(
                    reqwest::header::AUTHORIZATION,
                    format!("Bot {}", self.token.expose()),
                );
            }
            if let Some(body) = body {
                request = request.json(body);
            }
            // `without_url`: the path may hold an interaction token.
            let response = request
                .send()
                .await
                .map_err(|err| DiscordError::Transport {
                    what,
                    message: err.without_url().to_string(),
                })?;
            let status = response.status();
            let retry_header = response
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<f64>().ok());
            let bytes = response
                .bytes()
                .await
                .map_err(|err| DiscordError::Transport {
                    what,
                    message: err.without_url().to_string(),
                })?;
            let json: Value = if bytes.is_empty() {
                Value::Null
            } else {
                serde_json::from_slice(&bytes).unwrap_or(Value::Null)
            };
            if status == StatusCode::TOO_MANY_REQUESTS {
                if attempt == MAX_ATTEMPTS {
                    break;
                }
                let wait = json
                    .get("retry_after")
                    .and_then(Value::as_f64)
                    .or(retry_header)
                    .filter(|secs| secs.is_finite() && *secs >= 0.0)
                    .map_or(DEFAULT_RETRY_WAIT, Duration::from_secs_f64)
                    .min(MAX_RETRY_WAIT);
                tracing::info!(
                    what,
                    attempt,
                    wait_ms = wait.as_millis() as u64,
                    "discord rate-limited a call; waiting"
                );
                tokio::time::sleep(wait).await;
                continue;
            }
            if !status.is_success() {
                return Err(DiscordError::Api {
                    what,
                    status: status.as_u16(),
                    code: json.get("code").and_then(Value::as_u64),
                });
            }
            return Ok(json);
        }
        Err(DiscordError::RateLimited {
            what,
            attempts: MAX_ATTEMPTS,
        })
    }
}

fn created_id(what: &'static str, answer: Value) -> Result<String, DiscordError> {
    serde_json::from_value::<Created>(answer)
        .map(|created| created.id)
        .map_err(|_| DiscordError::Transport {
            what,
            message: "the answer has no id".to_owned(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_and_debug_never_show_a_token() {
        let err = DiscordError::Api {
            what: "post a message",
            status: 403,
            code: Some(50001),
        };
        assert_eq!(
            err.to_string(),
            "discord refused post a message: HTTP 403 (code 50001)"
        );
        let api = DiscordApi::new(
            SecretString::new("bot-secret-token"),
            42,
            "http://127.0.0.1:9/api/v10".parse().expect("url"),
        )
        .expect("client");
        assert!(!format!("{api:?}").contains("bot-secret-token"));
        assert_eq!(api.base.as_str(), "http://127.0.0.1:9/api/v10/");
    }
}
