//! The whole app in-process (`prequel_bot::app::App::spawn`), as `prequel serve` wires it: one
//! port serves the JSON API, the status page and both chats' endpoints, and a stop is graceful
//! and complete.

use std::time::Duration;

use prequel_bot::app::{App, AppConfig};
use prequel_bot::discord::{DiscordConfig, DiscordMode};
use prequel_bot::slack::verify::{SIGNATURE_HEADER, TIMESTAMP_HEADER, sign};
use prequel_bot::slack::{SlackConfig, SlackMode};
use prequel_core::domain::SecretString;
use prequel_core::testkit::engine;
use prequel_web::WebConfig;
use serde_json::{Value, json};

use crate::discord_fake::FakeDiscord;
use crate::slack_fake::FakeSlack;

const ADMIN_TOKEN: &str = "app-test-admin-token-0123456789abcdef";
const SLACK_SECRET: &str = "app-test-signing-secret";
/// RFC 8032 test key 1's public half (the interaction below is a PING, which needs no key).
const DISCORD_PUBLIC_KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_serves_the_api_and_both_chats_on_one_port_and_stops_cleanly() {
    let slack = FakeSlack::start("xoxb-app").await;
    let discord = FakeDiscord::start("discord-app").await;
    let dir = tempfile::tempdir().expect("temp dir");
    let prequel = engine::in_dir(dir.path()).build_on_system_clock();
    let zone = chrono_tz::Europe::Berlin;
    let config = AppConfig {
        admin_token: SecretString::new(ADMIN_TOKEN),
        zone,
        web: WebConfig::default(),
        slack: Some(SlackConfig {
            mode: SlackMode::Http,
            signing_secret: Some(SecretString::new(SLACK_SECRET)),
            bot_token: SecretString::new("xoxb-app"),
            app_token: None,
            api_url: format!("{}/", slack.api_url()).parse().expect("url"),
            allowed_users: Vec::new(),
            allowed_groups: Vec::new(),
            allowed_channels: Vec::new(),
            admins: Vec::new(),
        }),
        discord: Some((
            DiscordConfig {
                mode: DiscordMode::Http,
                public_key: DISCORD_PUBLIC_KEY.to_owned(),
                bot_token: SecretString::new("discord-app"),
                application_id: "1100000000000000001".to_owned(),
                api_url: discord.api_url().parse().expect("url"),
                guild_id: None,
                allowed_guilds: Vec::new(),
                allowed_roles: Vec::new(),
                allowed_users: Vec::new(),
                admins: Vec::new(),
                admin_roles: Vec::new(),
            },
            zone,
        )),
    };
    let app = App::spawn(prequel, config).await.expect("start");
    let url = app.url();
    let client = reqwest::Client::new();

    let health: Value = client
        .get(format!("{url}/healthz"))
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(health, json!({"status": "ok"}));
    // The scheduler runs: ready.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let status = client
            .get(format!("{url}/readyz"))
            .send()
            .await
            .expect("answer")
            .status();
        if status == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never ready: {status}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let scheduled = client
        .post(format!("{url}/api/commands"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"text": "schedule tomorrow 2pm 90m python"}))
        .send()
        .await
        .expect("answer");
    assert_eq!(scheduled.status(), 200);

    let body = serde_urlencoded::to_string([
        ("team_id", "T0"),
        ("channel_id", "C0"),
        ("user_id", "U0"),
        ("user_name", "u0"),
        ("command", "/interview"),
        ("text", "help"),
        ("response_url", &slack.response_url("r1")),
        ("trigger_id", "1.2.3"),
    ])
    .expect("form");
    let now = chrono::Utc::now().timestamp().to_string();
    let signature = sign(&SecretString::new(SLACK_SECRET), &now, body.as_bytes());
    let help: Value = client
        .post(format!("{url}/slack/commands"))
        .header("content-type", "application/x-www-form-urlencoded")
        .header(TIMESTAMP_HEADER, &now)
        .header(SIGNATURE_HEADER, signature)
        .body(body)
        .send()
        .await
        .expect("answer")
        .json()
        .await
        .expect("JSON");
    assert_eq!(help["response_type"], "ephemeral", "{help}");

    // Discord's endpoint is mounted and checks signatures: an unsigned PING is refused.
    let unsigned = client
        .post(format!("{url}/discord/interactions"))
        .header("content-type", "application/json")
        .body(json!({"type": 1}).to_string())
        .send()
        .await
        .expect("answer");
    assert_eq!(unsigned.status(), 401);

    app.stop().await.expect("a graceful stop");
    assert!(
        client.get(format!("{url}/healthz")).send().await.is_err(),
        "nothing listens after the stop"
    );
}
