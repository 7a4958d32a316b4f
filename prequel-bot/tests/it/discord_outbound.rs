//! The Discord REST client on its own, against the local fake of Discord's REST API:
//! interaction answers, DMs, posts, edits, command registration, tokens and rate limits. What
//! the notifier sends through it is `chat_outbound`'s, for both chats at once.

use std::time::Duration;

use prequel_bot::discord::api::DiscordApi;
use prequel_bot::discord::render;
use prequel_core::domain::SecretString;
use serde_json::json;

use super::discord_fake::FakeDiscord;

const TOKEN: &str = "discord-test-bot-token";
const APP: u64 = 1_100_000_000_000_000_001;
const CHANNEL: &str = "1100000000000000777";
const USER: &str = "80351110224678912";

fn client(discord: &FakeDiscord, token: &str) -> DiscordApi {
    DiscordApi::new(
        SecretString::new(token),
        APP,
        discord.api_url().parse().expect("url"),
    )
    .expect("discord client")
}

#[tokio::test]
async fn the_client_answers_interactions_opens_dms_posts_edits_and_registers() {
    let discord = FakeDiscord::start(TOKEN).await;
    let api = client(&discord, TOKEN);
    let hello = render::error_reply("hello");

    api.edit_original_response("itok-1", &hello)
        .await
        .expect("edit original");
    api.create_followup("itok-1", &hello, true)
        .await
        .expect("follow-up");
    assert_eq!(api.open_dm(USER).await.expect("dm"), format!("dm-{USER}"));
    let id = api.create_message(CHANNEL, &hello).await.expect("post");
    api.edit_message(CHANNEL, &id, &hello).await.expect("edit");
    let commands = json!([{ "name": "interview", "description": "Coding interviews", "type": 1 }]);
    api.put_commands(Some(42), &commands).await.expect("guild");
    api.put_commands(None, &commands).await.expect("global");

    let original = &discord.calls_of("edit_original")[0];
    assert_eq!(original.interaction_token.as_deref(), Some("itok-1"));
    assert!(!original.had_authorization, "no bot token to a webhook");
    let followup = &discord.calls_of("followup")[0];
    assert!(followup.ephemeral() && !followup.had_authorization);
    assert_eq!(followup.body, hello.to_json(true));
    let edit = &discord.calls_of("edit_message")[0];
    assert_eq!(edit.message_id.as_deref(), Some(id.as_str()));
    let registered = discord.calls_of("put_commands");
    assert_eq!(registered[0].guild.as_deref(), Some("42"));
    assert_eq!(registered[1].guild, None);
    assert_eq!(registered[0].body, commands);
    assert!(
        discord
            .calls()
            .iter()
            .filter(|c| !matches!(c.route, "edit_original" | "followup"))
            .all(|c| c.authorized)
    );
}

#[tokio::test]
async fn a_wrong_token_is_an_error_that_does_not_contain_the_token() {
    let discord = FakeDiscord::start(TOKEN).await;
    let api = client(&discord, "discord-wrong-token");
    let err = api.open_dm(USER).await.expect_err("refused");
    assert_eq!(
        err.to_string(),
        "discord refused open a DM: HTTP 401 (code 0)"
    );
    assert!(!format!("{err:?}").contains("wrong-token"));
}

#[tokio::test]
async fn rate_limits_are_waited_out_as_retry_after_says() {
    let discord = FakeDiscord::start(TOKEN).await;
    let api = client(&discord, TOKEN);
    let hello = render::error_reply("hello");
    discord.rate_limit("create_message", 1);
    let started = std::time::Instant::now();
    api.create_message(CHANNEL, &hello)
        .await
        .expect("posted after the wait");
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "waited for retry_after"
    );
    assert_eq!(discord.calls_of("create_message").len(), 2);

    discord.rate_limit("create_message", 10);
    let err = api
        .create_message(CHANNEL, &hello)
        .await
        .expect_err("gives up");
    assert!(err.to_string().contains("rate-limited"), "{err}");
}
