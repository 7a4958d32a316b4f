//! The Slack Web API client on its own, against the local fake of Slack's Web API: zones, DMs,
//! posts, edits, group members, response URLs, tokens and rate limits. What the notifier sends
//! through it is `chat_outbound`'s, for both chats at once.

use std::time::Duration;

use prequel_bot::slack::{api, render};
use prequel_core::domain::SecretString;

use super::slack_fake::FakeSlack;

const TOKEN: &str = "xoxb-test-bot-token";

fn client(slack: &FakeSlack, token: &str) -> api::SlackApi {
    api::SlackApi::new(
        SecretString::new(token),
        slack.api_url().parse().expect("url"),
    )
    .expect("slack client")
}

#[tokio::test]
async fn the_client_reads_zones_opens_dms_posts_updates_and_lists_groups() {
    let slack = FakeSlack::start(TOKEN).await;
    slack.set_zone("U1", "America/New_York");
    slack.set_group("S1", &["U1", "U2"]);
    let api = client(&slack, TOKEN);

    assert_eq!(
        api.user_zone("U1").await.expect("zone"),
        chrono_tz::America::New_York
    );
    // Cached: the second question does not reach Slack.
    api.user_zone("U1").await.expect("zone");
    assert_eq!(slack.calls_of("users.info").len(), 1);

    assert_eq!(api.open_dm("U1").await.expect("dm"), "D1");
    let blocks =
        serde_json::json!([{ "type": "section", "text": { "type": "mrkdwn", "text": "hi" } }]);
    let ts = api.post_message("C1", "hi", &blocks).await.expect("post");
    api.update_message("C1", &ts, "bye", &blocks)
        .await
        .expect("update");
    api.post_ephemeral("C1", "U1", "psst", &blocks)
        .await
        .expect("ephemeral");
    assert_eq!(
        api.usergroup_members("S1").await.expect("members"),
        vec!["U1".to_owned(), "U2".to_owned()]
    );
    let update = &slack.calls_of("chat.update")[0];
    assert_eq!(update.ts.as_deref(), Some(ts.as_str()));
    assert_eq!(update.blocks.as_ref(), Some(&blocks));
    let ephemeral = &slack.calls_of("chat.postEphemeral")[0];
    assert_eq!(ephemeral.user.as_deref(), Some("U1"));

    let err = api
        .update_message("C1", "1.000001", "x", &blocks)
        .await
        .expect_err("unknown message");
    assert_eq!(
        err.to_string(),
        "slack refused chat.update: message_not_found"
    );
    assert!(slack.calls().iter().all(|c| c.authorized));
}

#[tokio::test]
async fn responses_go_to_the_response_url_without_the_bot_token() {
    let slack = FakeSlack::start(TOKEN).await;
    let api = client(&slack, TOKEN);
    let (text, blocks) = render::help_blocks();
    api.respond(&slack.response_url("r1"), true, &text, &blocks)
        .await
        .expect("respond");
    let calls = slack.calls_of("response_url");
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].response_id.as_deref(), Some("r1"));
    assert_eq!(calls[0].params["response_type"], "ephemeral");
    assert_eq!(calls[0].blocks.as_ref(), Some(&blocks));
    assert!(!calls[0].had_authorization, "no token to a response_url");
}

#[tokio::test]
async fn a_wrong_token_is_an_error_that_does_not_contain_the_token() {
    let slack = FakeSlack::start(TOKEN).await;
    let api = client(&slack, "xoxb-wrong-token");
    let err = api.open_dm("U1").await.expect_err("refused");
    assert_eq!(
        err.to_string(),
        "slack refused conversations.open: invalid_auth"
    );
    assert!(!format!("{err:?}").contains("xoxb"));
}

#[tokio::test]
async fn rate_limits_are_waited_out_as_retry_after_says() {
    let slack = FakeSlack::start(TOKEN).await;
    let api = client(&slack, TOKEN);
    slack.rate_limit("chat.postMessage", 1);
    let started = std::time::Instant::now();
    api.post_message("C1", "hi", &serde_json::json!([]))
        .await
        .expect("posted after the wait");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "waited for Retry-After"
    );
    assert_eq!(slack.calls_of("chat.postMessage").len(), 2);

    slack.rate_limit("chat.postMessage", 10);
    let err = api
        .post_message("C1", "hi", &serde_json::json!([]))
        .await
        .expect_err("gives up");
    assert!(err.to_string().contains("rate-limited"), "{err}");
}
