//! A signed chat request is accepted once, however many replicas see it: a Slack slash command,
//! a Slack button and a Discord interaction, accepted by replica 1, are refused by replica 2 on
//! the same store with 401 and change nothing — on SQLite and on DynamoDB (moto). Each replica
//! is its own store handle, facade and router, as two processes behind a load balancer are.

use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use prequel_bot::slack::inbound::DESTROY_ACTION;
use prequel_core::domain::SecretString;
use tower::ServiceExt as _;

use crate::shared_store::SharedStore;
use crate::{discord_inbound, slack_inbound};

/// The status `router` answers `request` with.
async fn status(router: &Router, request: Request<Body>) -> StatusCode {
    router
        .clone()
        .oneshot(request)
        .await
        .expect("answer")
        .status()
}

/// Waits until `count` interviews exist (the frontends record in the background), then a little
/// longer, so a second one that should not come has had its chance.
async fn settle(count: impl AsyncFn() -> usize, expected: usize) -> usize {
    let deadline = Instant::now() + Duration::from_secs(10);
    while count().await < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    count().await
}

async fn slack_requests_are_accepted_once_across_replicas(store: SharedStore) {
    let h = slack_inbound::harness_on(tempfile::tempdir().expect("temp dir"), store).await;
    let replica = h.replica().await;
    let now = h.clock_seconds().to_string();
    let command = h.command_body(
        slack_inbound::ALICE,
        slack_inbound::CHANNEL,
        "schedule tomorrow 2pm 1h python",
    );
    let button = h.button_body(slack_inbound::ALICE, DESTROY_ACTION, "k7mq2xw9ab3c");
    for (path, body) in [
        ("/slack/commands", command),
        ("/slack/interactions", button),
    ] {
        let signature = prequel_bot::slack::verify::sign(
            &SecretString::new(slack_inbound::SECRET),
            &now,
            body.as_bytes(),
        );
        let request = || {
            Request::post(path)
                .header("content-type", "application/x-www-form-urlencoded")
                .header("x-slack-request-timestamp", &now)
                .header("x-slack-signature", &signature)
                .body(Body::from(body.clone()))
                .expect("request")
        };
        assert_eq!(
            status(&h.router, request()).await,
            StatusCode::OK,
            "{path} on replica 1"
        );
        assert_eq!(
            status(&replica, request()).await,
            StatusCode::UNAUTHORIZED,
            "{path} replayed to replica 2"
        );
    }
    let count = async || h.interviews().await.len();
    assert_eq!(settle(count, 1).await, 1, "scheduled once");
}

async fn discord_interactions_are_accepted_once_across_replicas(store: SharedStore) {
    let h = discord_inbound::harness_on(tempfile::tempdir().expect("temp dir"), store).await;
    let replica = h.replica().await;
    let body = discord_inbound::command(
        discord_inbound::ALICE,
        discord_inbound::GUILD,
        &[],
        "schedule",
        &[
            ("when", "tomorrow 2pm"),
            ("duration", "1h"),
            ("challenge", "rust"),
        ],
    )
    .to_string();
    let now = h.now_seconds().to_string();
    let signature = discord_inbound::sign(&now, body.as_bytes());
    let request = || {
        Request::post("/discord/interactions")
            .header("content-type", "application/json")
            .header("x-signature-timestamp", &now)
            .header("x-signature-ed25519", &signature)
            .body(Body::from(body.clone()))
            .expect("request")
    };
    assert_eq!(status(&h.router, request()).await, StatusCode::OK);
    assert_eq!(
        status(&replica, request()).await,
        StatusCode::UNAUTHORIZED,
        "replayed to replica 2"
    );
    let count = async || h.interviews().await.len();
    assert_eq!(settle(count, 1).await, 1, "scheduled once");
}

#[tokio::test]
async fn on_sqlite_a_request_accepted_by_one_replica_is_refused_by_another() {
    for chat in ["slack", "discord"] {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = SharedStore::Sqlite(dir.path().join("shared.sqlite3"));
        match chat {
            "slack" => slack_requests_are_accepted_once_across_replicas(store).await,
            _ => discord_interactions_are_accepted_once_across_replicas(store).await,
        }
    }
}

#[cfg(feature = "aws")]
#[tokio::test]
async fn on_dynamodb_a_request_accepted_by_one_replica_is_refused_by_another() {
    let test = "on_dynamodb_a_request_accepted_by_one_replica_is_refused_by_another";
    let Some(store) = SharedStore::fresh_dynamo(test).await else {
        return;
    };
    slack_requests_are_accepted_once_across_replicas(store.clone()).await;
    let Some(store) = SharedStore::fresh_dynamo(test).await else {
        return;
    };
    discord_interactions_are_accepted_once_across_replicas(store).await;
}
