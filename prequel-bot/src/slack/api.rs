//! Slack's Web API, as the Slack frontend uses it: a thin wrapper over slack-morphism's
//! `SlackClient` (hyper + rustls) whose base URL is configurable, so tests point it at a local
//! fake (`PREQUEL_SLACK_API_URL`).
//!
//! Typed slack-morphism requests are used where the answer matters (users.info,
//! conversations.open, usergroups.users.list); messages are posted as JSON built by
//! [`render`](super::render) so the Block Kit we test is exactly what Slack receives.
//!
//! Every call is retried on HTTP 429, waiting as long as `Retry-After` says (capped), a bounded
//! number of times. The bot token is sent only in the `Authorization` header to the Web API —
//! never to a `response_url`, never in an error or log line.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono_tz::Tz;
use prequel_core::domain::SecretString;
use reqwest::Url;
use serde::Deserialize;
use serde_json::{Value, json};
use slack_morphism::errors::SlackClientError;
use slack_morphism::prelude::*;

/// How long a user's time zone is trusted before users.info is asked again.
const ZONE_TTL: Duration = Duration::from_secs(60 * 60);

/// How many times a call is tried in all when Slack answers 429.
const MAX_ATTEMPTS: u32 = 4;

/// The longest wait between tries, whatever `Retry-After` says: a notification an hour late is
/// worse than one that failed and was logged.
const MAX_RETRY_WAIT: Duration = Duration::from_secs(30);

/// The wait when a 429 carries no `Retry-After`.
const DEFAULT_RETRY_WAIT: Duration = Duration::from_secs(1);

/// Why a Slack call failed. Never contains the bot token.
#[derive(Debug, thiserror::Error)]
pub enum SlackError {
    /// Slack answered `ok: false` (e.g. `channel_not_found`, `invalid_auth`).
    #[error("slack refused {method}: {code}")]
    Api {
        /// The Web API method.
        method: &'static str,
        /// Slack's error code.
        code: String,
    },
    /// Slack kept answering 429 after every try.
    #[error("slack rate-limited {method} {attempts} times in a row")]
    RateLimited {
        /// The Web API method.
        method: &'static str,
        /// How many times it was tried.
        attempts: u32,
    },
    /// Slack could not be reached or answered something unreadable.
    #[error("calling slack {method} failed: {message}")]
    Transport {
        /// The Web API method.
        method: &'static str,
        /// What went wrong (no token, no URL path of a response_url).
        message: String,
    },
    /// The user's profile has no time zone Prequel knows.
    #[error("slack user {user} has no usable time zone")]
    NoTimeZone {
        /// The Slack user id.
        user: String,
    },
    /// The configured base URL or a response_url is not a usable URL.
    #[error("invalid slack url: {0}")]
    Url(String),
}

/// The Web API client. Cheap to share behind an `Arc`; one per process.
pub struct SlackApi {
    client: SlackClient<SlackClientHyperHttpsConnector>,
    token: SlackApiToken,
    /// users.info `tz` per user id, with when it was read.
    zones: Mutex<HashMap<String, (Instant, Tz)>>,
}

impl fmt::Debug for SlackApi {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // No token, not even redacted: there is nothing to learn from it.
        f.debug_struct("SlackApi").finish_non_exhaustive()
    }
}

/// chat.postMessage's answer (only what is used).
#[derive(Debug, Deserialize)]
struct Posted {
    ts: String,
}

impl SlackApi {
    /// A client calling the Web API at `base_url` (Slack's own is `https://slack.com/api`) with
    /// `bot_token` (`xoxb-…`).
    ///
    /// Plain `http` is accepted so tests can use a loopback fake; production URLs are https.
    pub fn new(bot_token: SecretString, base_url: Url) -> Result<Self, SlackError> {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()
            .map_err(|err| SlackError::Transport {
                method: "client setup",
                message: format!("no TLS root certificates: {err}"),
            })?
            .https_or_http()
            .enable_http1()
            .enable_http2()
            .build();
        let base = base_url.as_str().trim_end_matches('/').to_owned();
        let connector = SlackClientHyperConnector::from(https).with_slack_api_url(&base);
        Ok(Self {
            client: SlackClient::new(connector),
            token: SlackApiToken::new(SlackApiTokenValue::new(bot_token.expose().to_owned())),
            zones: Mutex::new(HashMap::new()),
        })
    }

    /// The user's time zone from their Slack profile (users.info `user.tz`), cached for an hour.
    pub async fn user_zone(&self, user_id: &str) -> Result<Tz, SlackError> {
        if let Some(zone) = self.cached_zone(user_id) {
            return Ok(zone);
        }
        let request = SlackApiUsersInfoRequest::new(SlackUserId::new(user_id.to_owned()));
        let info = self
            .retrying("users.info", || async {
                self.client
                    .open_session(&self.token)
                    .users_info(&request)
                    .await
            })
            .await?;
        let zone = info
            .user
            .tz
            .as_deref()
            .and_then(|tz| tz.parse::<Tz>().ok())
            .ok_or_else(|| SlackError::NoTimeZone {
                user: user_id.to_owned(),
            })?;
        self.zones
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(user_id.to_owned(), (Instant::now(), zone));
        Ok(zone)
    }

    fn cached_zone(&self, user_id: &str) -> Option<Tz> {
        let zones = self
            .zones
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        zones
            .get(user_id)
            .filter(|(at, _)| at.elapsed() < ZONE_TTL)
            .map(|(_, zone)| *zone)
    }

    /// The DM channel with a user (conversations.open), for messages only they may see.
    pub async fn open_dm(&self, user_id: &str) -> Result<String, SlackError> {
        let request = SlackApiConversationsOpenRequest::new()
            .with_users(vec![SlackUserId::new(user_id.to_owned())]);
        let opened = self
            .retrying("conversations.open", || async {
                self.client
                    .open_session(&self.token)
                    .conversations_open(&request)
                    .await
            })
            .await?;
        Ok(opened.channel.id.to_string())
    }

    /// Posts a message (chat.postMessage) and answers its `ts`, the id to update it by.
    pub async fn post_message(
        &self,
        channel: &str,
        text: &str,
        blocks: &Value,
    ) -> Result<String, SlackError> {
        let body = json!({ "channel": channel, "text": text, "blocks": blocks });
        let posted: Posted = self.post_json("chat.postMessage", &body).await?;
        Ok(posted.ts)
    }

    /// Replaces a message's text and blocks (chat.update).
    pub async fn update_message(
        &self,
        channel: &str,
        ts: &str,
        text: &str,
        blocks: &Value,
    ) -> Result<(), SlackError> {
        let body = json!({ "channel": channel, "ts": ts, "text": text, "blocks": blocks });
        let _: Value = self.post_json("chat.update", &body).await?;
        Ok(())
    }

    /// Shows a message in `channel` that only `user` sees (chat.postEphemeral).
    pub async fn post_ephemeral(
        &self,
        channel: &str,
        user: &str,
        text: &str,
        blocks: &Value,
    ) -> Result<(), SlackError> {
        let body = json!({ "channel": channel, "user": user, "text": text, "blocks": blocks });
        let _: Value = self.post_json("chat.postEphemeral", &body).await?;
        Ok(())
    }

    /// Answers a slash command or button via its `response_url`: `ephemeral` for the user
    /// only, otherwise in the channel. No bot token is sent there (the URL authorises itself).
    pub async fn respond(
        &self,
        response_url: &str,
        ephemeral: bool,
        text: &str,
        blocks: &Value,
    ) -> Result<(), SlackError> {
        let url: Url = response_url
            .parse()
            .map_err(|_| SlackError::Url("the response_url is not a URL".to_owned()))?;
        let body = json!({
            "response_type": if ephemeral { "ephemeral" } else { "in_channel" },
            "text": text,
            "blocks": blocks,
        });
        let span = tracing::Span::current();
        let _: Value = self
            .retrying("response_url", || async {
                let context = SlackClientApiCallContext {
                    rate_control_params: None,
                    token: None,
                    tracing_span: &span,
                    // The URL is a capability: keep it out of slack-morphism's logs.
                    is_sensitive_url: true,
                };
                self.client
                    .http_api
                    .connector
                    .http_post_uri(url.clone(), &body, context)
                    .await
            })
            .await?;
        Ok(())
    }

    /// The user ids in a user group (usergroups.users.list), for allow-lists.
    pub async fn usergroup_members(&self, group_id: &str) -> Result<Vec<String>, SlackError> {
        let request =
            SlackApiUserGroupsUsersListRequest::new(SlackUserGroupId::new(group_id.to_owned()));
        let list = self
            .retrying("usergroups.users.list", || async {
                self.client
                    .open_session(&self.token)
                    .usergroups_users_list(&request)
                    .await
            })
            .await?;
        Ok(list
            .users
            .into_iter()
            .map(|user| user.to_string())
            .collect())
    }

    async fn post_json<T>(&self, method: &'static str, body: &Value) -> Result<T, SlackError>
    where
        T: for<'de> Deserialize<'de> + Send,
    {
        self.retrying(method, || async {
            self.client
                .open_session(&self.token)
                .http_session_api
                .http_post(method, body, None)
                .await
        })
        .await
    }

    /// Runs `call` until it is not rate-limited, at most [`MAX_ATTEMPTS`] times, sleeping as
    /// `Retry-After` asks (capped at [`MAX_RETRY_WAIT`]).
    async fn retrying<T, F, Fut>(&self, method: &'static str, call: F) -> Result<T, SlackError>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = ClientResult<T>>,
    {
        for attempt in 1..=MAX_ATTEMPTS {
            match call().await {
                Ok(answer) => return Ok(answer),
                Err(SlackClientError::RateLimitError(limited)) if attempt < MAX_ATTEMPTS => {
                    let wait = limited
                        .retry_after
                        .unwrap_or(DEFAULT_RETRY_WAIT)
                        .min(MAX_RETRY_WAIT);
                    tracing::info!(
                        method,
                        attempt,
                        wait_ms = wait.as_millis() as u64,
                        "slack rate-limited a call; waiting"
                    );
                    tokio::time::sleep(wait).await;
                }
                Err(SlackClientError::RateLimitError(_)) => {
                    return Err(SlackError::RateLimited {
                        method,
                        attempts: attempt,
                    });
                }
                Err(SlackClientError::ApiError(api)) => {
                    return Err(SlackError::Api {
                        method,
                        code: api.code,
                    });
                }
                Err(other) => {
                    return Err(SlackError::Transport {
                        method,
                        message: transport_message(&other),
                    });
                }
            }
        }
        Err(SlackError::RateLimited {
            method,
            attempts: MAX_ATTEMPTS,
        })
    }
}

/// A transport failure in words, without a URL (a response_url is a capability) or a body.
fn transport_message(err: &SlackClientError) -> String {
    match err {
        SlackClientError::HttpError(http) => format!("HTTP status {}", http.status_code),
        SlackClientError::HttpProtocolError(_) => "the connection failed".to_owned(),
        SlackClientError::ProtocolError(_) => "slack answered something unreadable".to_owned(),
        SlackClientError::EndOfStream(_) => "the connection closed early".to_owned(),
        SlackClientError::SystemError(_) => "a local error".to_owned(),
        _ => "an unexpected error".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_name_the_method_and_never_a_token() {
        let err = SlackError::Api {
            method: "chat.postMessage",
            code: "channel_not_found".to_owned(),
        };
        assert_eq!(
            err.to_string(),
            "slack refused chat.postMessage: channel_not_found"
        );
        let api = SlackApi::new(
            SecretString::new("xoxb-secret-token".to_owned()),
            "http://127.0.0.1:9/api".parse().expect("url"),
        )
        .expect("client");
        assert!(!format!("{api:?}").contains("xoxb"));
    }
}
