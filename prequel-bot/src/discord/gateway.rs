//! Gateway mode (no public URL): Prequel connects out to Discord's gateway and receives
//! interactions there instead of on `POST /discord/interactions`.
//!
//! Behind the cargo feature `discord-gateway` (serenity's `client` and `gateway`), on by
//! default; `--no-default-features` leaves it out, and its compile time with it. It is not
//! exercised against Discord by the tests (there is no local fake of the gateway). Without the feature,
//! `PREQUEL_DISCORD_MODE=gateway` is refused by [`super::start`] with a clear error.
//!
//! Each `INTERACTION_CREATE` goes to the same transport-free handler as HTTP mode
//! ([`super::inbound::handle`]); the answer that HTTP mode returns as the response body is sent
//! here with `POST {api}/interactions/{id}/{token}/callback`. The gateway itself verifies
//! nothing: the connection is authenticated by the bot token.

#[cfg(feature = "discord-gateway")]
pub use enabled::{GatewayError, run};

use super::inbound;

/// serenity's interaction, through JSON, as the partial model HTTP mode reads, so both
/// transports share one handler. (Outside the feature so the tests check it in every build.)
pub fn from_serenity(
    interaction: &serenity::all::Interaction,
) -> Result<inbound::Interaction, serde_json::Error> {
    use serenity::all::Interaction;
    let mut value = serde_json::to_value(interaction)?;
    // serenity writes the variant's fields but not the `type` that tells them apart.
    let kind = match interaction {
        Interaction::Ping(_) => 1,
        Interaction::Command(_) => 2,
        Interaction::Component(_) => 3,
        Interaction::Autocomplete(_) => 4,
        Interaction::Modal(_) => 5,
        _ => 0,
    };
    if let Some(fields) = value.as_object_mut() {
        fields.insert("type".to_owned(), kind.into());
    }
    serde_json::from_value(value)
}

#[cfg(feature = "discord-gateway")]
mod enabled {
    use std::time::Duration;

    use serde_json::Value;
    use serenity::all::{Client, Context, EventHandler, GatewayIntents, Interaction};
    use tokio::sync::watch;

    use super::super::DiscordState;
    use super::super::inbound;

    /// How long one interaction callback may take; Discord drops answers after 3 s anyway.
    const CALLBACK_TIMEOUT: Duration = Duration::from_secs(5);

    struct Handler {
        state: DiscordState,
        http: reqwest::Client,
    }

    #[serenity::async_trait]
    impl EventHandler for Handler {
        async fn interaction_create(&self, _ctx: Context, interaction: Interaction) {
            let (id, token) = (interaction.id(), interaction.token().to_owned());
            let ours = match super::from_serenity(&interaction) {
                Ok(ours) => ours,
                Err(error) => {
                    tracing::warn!(%error, "discord gateway interaction unreadable");
                    return;
                }
            };
            let answer = inbound::handle(&self.state, ours).await;
            self.callback(id.get(), &token, &answer).await;
        }
    }

    impl Handler {
        async fn callback(&self, id: u64, token: &str, answer: &Value) {
            let path = format!("interactions/{id}/{token}/callback");
            let Ok(url) = self.state.config.api_url.join(&path) else {
                tracing::warn!("cannot build the interaction callback URL");
                return;
            };
            // No URL in the log: it holds the interaction token.
            match self.http.post(url).json(answer).send().await {
                Ok(response) if response.status().is_success() => {}
                Ok(response) => {
                    tracing::warn!(status = %response.status(), "discord refused an interaction callback");
                }
                Err(error) => {
                    tracing::warn!(error = %error.without_url(), "discord interaction callback failed");
                }
            }
        }
    }

    /// Why the gateway stopped.
    #[derive(Debug, thiserror::Error)]
    pub enum GatewayError {
        /// The HTTP client for the callbacks could not be built.
        #[error("cannot set up the interaction callback client: {0}")]
        Client(String),
        /// serenity's client failed (bad token, no connection).
        #[error(transparent)]
        Serenity(#[from] serenity::Error),
    }

    /// Runs the gateway connection until `shutdown` turns true.
    pub async fn run(
        state: DiscordState,
        mut shutdown: watch::Receiver<bool>,
    ) -> Result<(), GatewayError> {
        let http = reqwest::Client::builder()
            .timeout(CALLBACK_TIMEOUT)
            .build()
            .map_err(|error| GatewayError::Client(error.without_url().to_string()))?;
        let token = state.config.bot_token.expose().to_owned();
        // Interactions need no privileged (or any) intents.
        let mut client = Client::builder(token, GatewayIntents::empty())
            .event_handler(Handler { state, http })
            .await?;
        let shards = client.shard_manager.clone();
        tokio::spawn(async move {
            while !*shutdown.borrow() {
                if shutdown.changed().await.is_err() {
                    break;
                }
            }
            shards.shutdown_all().await;
        });
        Ok(client.start().await?)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A gateway interaction as Discord documents it, read by serenity, reaches the shared
    /// handler with the subcommand, its options, the member's roles and the token.
    #[test]
    fn a_serenity_command_interaction_becomes_ours() {
        let payload = json!({
            "id": "1600000000000000001",
            "application_id": "1100000000000000001",
            "type": 2,
            "token": "interaction-token",
            "version": 1,
            "guild_id": "1200000000000000001",
            "channel_id": "1400000000000000001",
            "locale": "en-US",
            "app_permissions": "0",
            "entitlements": [],
            "attachment_size_limit": 8388608,
            "authorizing_integration_owners": {},
            "member": {
                "user": { "id": "1500000000000000001", "username": "alice", "discriminator": "0", "avatar": null },
                "roles": ["1300000000000000001"],
                "joined_at": "2026-01-01T00:00:00+00:00",
                "deaf": false,
                "mute": false,
                "flags": 0,
            },
            "data": {
                "id": "1700000000000000001",
                "name": "interview",
                "type": 1,
                "options": [{ "type": 1, "name": "now", "options": [
                    { "type": 3, "name": "duration", "value": "1h" },
                    { "type": 3, "name": "challenge", "value": "py", "focused": true },
                ]}],
            },
        });
        let theirs: serenity::all::Interaction =
            serde_json::from_value(payload).expect("serenity reads it");
        let ours = from_serenity(&theirs).expect("ours reads it");
        assert_eq!(ours.kind, 2);
        assert_eq!(ours.token, "interaction-token");
        let member = ours.member.expect("member");
        assert_eq!(member.user.id, "1500000000000000001");
        assert_eq!(member.roles, ["1300000000000000001"]);
        let data = ours.data.expect("data");
        assert_eq!(data.options[0].name, "now");
        let options = &data.options[0].options;
        assert_eq!(options[0].name, "duration");
        assert_eq!(options[0].value, Some(json!("1h")));
        assert!(options[1].focused);
    }
}
