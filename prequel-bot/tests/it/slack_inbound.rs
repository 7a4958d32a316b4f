//! The Slack frontend's inbound side, against its router (`tower::ServiceExt::oneshot`): request
//! signing, body limits, `ssl_check`, slash commands (help, mistakes, scheduling in the user's
//! Slack zone), allow-lists, and the Extend / Destroy buttons.
//!
//! The engine is the real facade on a temporary SQLite store with the recording provisioner
//! (the scheduler is not started: these tests are about what the frontend records). Slack's Web
//! API and the `response_url`s are the recording fake of `slack_fake`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use chrono::{TimeZone as _, Utc};
use prequel_bot::slack::inbound::{CHANNEL_NOTE, DESTROY_ACTION, EXTEND_ACTION, WORKING};
use prequel_bot::slack::verify::sign;
use prequel_bot::slack::{self, SlackConfig, SlackMode, SlackState, api::SlackApi};
use prequel_core::Prequel;
use prequel_core::clock::ManualClock;
use prequel_core::command::COMMANDS;
use prequel_core::domain::{Interview, InterviewState, Platform, SecretString};
use prequel_core::store::{InterviewScope, OperationStore, PageRequest};
use prequel_core::testkit;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::shared_store::SharedStore;
use crate::slack_fake::FakeSlack;

pub(crate) const SECRET: &str = "test-signing-secret";
/// Allowed by id.
pub(crate) const ALICE: &str = "U0ALICE";
/// Allowed as a member of the allowed group.
pub(crate) const BOB: &str = "U0BOB";
/// On no list.
pub(crate) const STRANGER: &str = "U0STRANGER";
/// Allowed by id, and a Prequel admin (`PREQUEL_SLACK_ADMINS`).
const ADMIN: &str = "U0ADMIN";
/// Allowed by id; Alice names her as a co-interviewer.
const CAROL: &str = "U0CAROL";
const GROUP: &str = "S0INTERVIEWERS";
pub(crate) const CHANNEL: &str = "C0INTERVIEWS";
const OTHER_CHANNEL: &str = "C0RANDOM";
pub(crate) const BOT_TOKEN: &str = "xoxb-test";

pub(crate) struct Harness {
    _dir: tempfile::TempDir,
    store: SharedStore,
    clock: ManualClock,
    config: SlackConfig,
    pub(crate) router: Router,
    pub(crate) prequel: Prequel,
    state: SlackState,
    pub(crate) fake: FakeSlack,
}

pub(crate) async fn harness() -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SharedStore::Sqlite(dir.path().join("prequel.sqlite3"));
    harness_on(dir, store).await
}

/// A harness whose facade keeps its records in `store` (secrets in `dir`).
pub(crate) async fn harness_on(dir: tempfile::TempDir, store: SharedStore) -> Harness {
    let fake = FakeSlack::start(BOT_TOKEN).await;
    for user in [ALICE, BOB, STRANGER, ADMIN, CAROL] {
        fake.set_zone(user, "America/New_York");
    }
    fake.set_group(GROUP, &[BOB]);

    let clock = ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
            .single()
            .expect("valid time"),
    );
    let prequel = engine(store.open().await, dir.path(), &clock);
    let api_url: reqwest::Url = format!("{}/", fake.api_url()).parse().expect("url");
    let config = SlackConfig {
        mode: SlackMode::Http,
        signing_secret: Some(SecretString::new(SECRET)),
        bot_token: SecretString::new(BOT_TOKEN),
        app_token: None,
        api_url: api_url.clone(),
        allowed_users: vec![ALICE.to_owned(), ADMIN.to_owned(), CAROL.to_owned()],
        allowed_groups: vec![GROUP.to_owned()],
        allowed_channels: vec![CHANNEL.to_owned()],
        admins: vec![ADMIN.to_owned()],
    };
    let api = Arc::new(SlackApi::new(SecretString::new(BOT_TOKEN), api_url).expect("client"));
    let state = SlackState::new(
        prequel.clone(),
        config.clone(),
        api,
        chrono_tz::Europe::Berlin,
    );
    Harness {
        _dir: dir,
        store,
        clock,
        config,
        router: slack::router(state.clone()),
        state,
        prequel,
        fake,
    }
}

/// A facade on `store` with the recording provisioner.
fn engine(store: Arc<dyn OperationStore>, dir: &std::path::Path, clock: &ManualClock) -> Prequel {
    testkit::engine::in_dir(dir)
        .store(store)
        .clock(clock.clone())
        .build()
        .prequel
}

/// A form body, URL-encoded.
fn form(fields: &[(&str, &str)]) -> String {
    serde_urlencoded::to_string(fields).expect("encodable")
}

impl Harness {
    /// A second replica on the same store: its own store handle, facade and router.
    pub(crate) async fn replica(&self) -> Router {
        let prequel = engine(self.store.open().await, self._dir.path(), &self.clock);
        let api_url = self.config.api_url.clone();
        let api = Arc::new(SlackApi::new(SecretString::new(BOT_TOKEN), api_url).expect("client"));
        slack::router(SlackState::new(
            prequel,
            self.config.clone(),
            api,
            chrono_tz::Europe::Berlin,
        ))
    }

    pub(crate) fn command_body(&self, user: &str, channel: &str, text: &str) -> String {
        form(&[
            ("token", "legacy"),
            ("team_id", "T0TEAM"),
            ("channel_id", channel),
            ("user_id", user),
            ("user_name", &user.to_lowercase()),
            ("command", "/interview"),
            ("text", text),
            ("response_url", &self.fake.response_url(user)),
            ("trigger_id", "1.2.3"),
        ])
    }

    pub(crate) fn button_body(&self, user: &str, action: &str, interview: &str) -> String {
        let payload = json!({
            "type": "block_actions",
            "team": {"id": "T0TEAM"},
            "user": {"id": user, "username": user.to_lowercase()},
            "api_app_id": "A0APP",
            "container": {"type": "message", "channel_id": CHANNEL, "message_ts": "1.1"},
            "channel": {"id": CHANNEL},
            "trigger_id": "1.2.3",
            "response_url": self.fake.response_url(user),
            "actions": [{"type": "button", "action_id": action, "value": interview}],
        });
        form(&[("payload", &payload.to_string())])
    }

    /// Signs `body` with the clock's time (as Slack would) and posts it.
    async fn post_signed(&self, path: &str, body: &str) -> (StatusCode, Bytes) {
        let timestamp = self.clock_seconds().to_string();
        let signature = sign(&SecretString::new(SECRET), &timestamp, body.as_bytes());
        self.post(path, body, Some((&timestamp, &signature))).await
    }

    pub(crate) async fn post(
        &self,
        path: &str,
        body: &str,
        signed: Option<(&str, &str)>,
    ) -> (StatusCode, Bytes) {
        let mut request =
            Request::post(path).header("content-type", "application/x-www-form-urlencoded");
        if let Some((timestamp, signature)) = signed {
            request = request
                .header("x-slack-request-timestamp", timestamp)
                .header("x-slack-signature", signature);
        }
        let request = request.body(Body::from(body.to_owned())).expect("request");
        let response = self.router.clone().oneshot(request).await.expect("answer");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, body)
    }

    /// A signed slash command; its immediate JSON answer.
    async fn command(&self, user: &str, channel: &str, text: &str) -> Value {
        let (status, body) = self
            .post_signed("/slack/commands", &self.command_body(user, channel, text))
            .await;
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        serde_json::from_slice(&body).expect("JSON answer")
    }

    async fn press(&self, user: &str, action: &str, interview: &str) {
        let (status, _) = self
            .post_signed(
                "/slack/interactions",
                &self.button_body(user, action, interview),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
    }

    pub(crate) fn clock_seconds(&self) -> i64 {
        self.prequel.now().timestamp()
    }

    pub(crate) async fn interviews(&self) -> Vec<Interview> {
        self.prequel
            .list(InterviewScope::All, &PageRequest::first(100))
            .await
            .expect("list")
            .items
    }

    pub(crate) fn responses(&self) -> Vec<Value> {
        self.fake
            .calls_of("response_url")
            .into_iter()
            .map(|call| call.params)
            .collect()
    }

    /// Waits for the `n`th (1-based) `response_url` post; answers its body.
    async fn response(&self, n: usize) -> Value {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(found) = self.responses().get(n - 1) {
                return found.clone();
            }
            assert!(Instant::now() < deadline, "no response_url post #{n}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Schedules an interview as Alice and answers it.
    async fn scheduled_by_alice(&self) -> Interview {
        let ack = self
            .command(ALICE, CHANNEL, "schedule tomorrow 2pm 90m python")
            .await;
        assert_eq!(ack["text"], WORKING);
        let reply = self.response(1).await;
        assert_eq!(reply["response_type"], "ephemeral");
        let interviews = self.interviews().await;
        assert_eq!(interviews.len(), 1, "{reply}");
        interviews[0].clone()
    }
}

#[tokio::test]
async fn forged_missing_stale_and_replayed_signatures_get_401_and_create_nothing() {
    let h = harness().await;
    let body = h.command_body(ALICE, CHANNEL, "now 30m python");
    let now = h.clock_seconds().to_string();
    let good = sign(&SecretString::new(SECRET), &now, body.as_bytes());
    let forged = sign(&SecretString::new("not-the-secret"), &now, body.as_bytes());
    let stale_at = (h.clock_seconds() - 301).to_string();
    let stale = sign(&SecretString::new(SECRET), &stale_at, body.as_bytes());
    let tampered = body.replace("30m", "4h");

    for (what, body, signed) in [
        (
            "forged",
            body.as_str(),
            Some((now.as_str(), forged.as_str())),
        ),
        ("missing", body.as_str(), None),
        (
            "stale",
            body.as_str(),
            Some((stale_at.as_str(), stale.as_str())),
        ),
        (
            "tampered",
            tampered.as_str(),
            Some((now.as_str(), good.as_str())),
        ),
    ] {
        for path in ["/slack/commands", "/slack/interactions"] {
            let (status, _) = h.post(path, body, signed).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{what} on {path}");
        }
    }
    // A genuine request passes once; the same bytes again are a replay.
    let help = h.command_body(ALICE, CHANNEL, "help");
    let signature = sign(&SecretString::new(SECRET), &now, help.as_bytes());
    let (first, _) = h
        .post("/slack/commands", &help, Some((&now, &signature)))
        .await;
    assert_eq!(first, StatusCode::OK);
    let (again, _) = h
        .post("/slack/commands", &help, Some((&now, &signature)))
        .await;
    assert_eq!(again, StatusCode::UNAUTHORIZED);

    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(h.interviews().await.is_empty());
    assert!(h.responses().is_empty());
}

#[tokio::test]
async fn an_oversized_body_gets_413_and_ssl_check_gets_an_empty_200() {
    let h = harness().await;
    let huge = h.command_body(ALICE, CHANNEL, &"x".repeat(70 * 1024));
    let (status, _) = h.post_signed("/slack/commands", &huge).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let (status, body) = h
        .post(
            "/slack/commands",
            &form(&[("ssl_check", "1"), ("token", "x")]),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_empty());
    assert!(h.interviews().await.is_empty());
}

#[tokio::test]
async fn help_answers_at_once_with_every_command_from_the_list() {
    let h = harness().await;
    let answer = h.command(ALICE, CHANNEL, "help").await;
    assert_eq!(answer["response_type"], "ephemeral");
    let shown = answer.to_string();
    for spec in COMMANDS {
        assert!(shown.contains(spec.usage), "help lacks {}", spec.usage);
    }
}

#[tokio::test]
async fn a_mistake_answers_at_once_with_one_ephemeral_line() {
    let h = harness().await;
    let answer = h
        .command(ALICE, CHANNEL, "schedule tomorrow 2pm 20m python")
        .await;
    assert_eq!(answer["response_type"], "ephemeral");
    let text = answer["text"].as_str().expect("text");
    assert!(!text.is_empty() && !text.contains('\n'), "{text:?}");
    assert_ne!(text, WORKING);
    assert!(h.interviews().await.is_empty());
}

#[tokio::test]
async fn schedule_is_read_in_the_users_slack_zone_and_audited() {
    let h = harness().await;
    let interview = h.scheduled_by_alice().await;
    // 2pm in New York (the fake users.info), not in the server's Berlin.
    assert_eq!(
        interview.start_at,
        Utc.with_ymd_and_hms(2026, 11, 24, 19, 0, 0)
            .single()
            .expect("valid")
    );
    assert_eq!(interview.time_zone, "America/New_York");
    assert_eq!(interview.state, InterviewState::Scheduled);
    assert_eq!(interview.requested_by.platform, Platform::Slack);
    assert_eq!(interview.requested_by.user_id, ALICE);
    assert_eq!(interview.requested_by.display_name, ALICE.to_lowercase());
    let operations = h
        .prequel
        .operations(&interview.id)
        .await
        .expect("operations");
    assert!(operations.iter().all(|op| op.requested_by.user_id == ALICE));
    let notes = h.prequel.notes(&interview.id).await.expect("notes");
    assert_eq!(notes.get(CHANNEL_NOTE).map(String::as_str), Some(CHANNEL));
    assert!(!h.fake.calls_of("users.info").is_empty());
}

#[tokio::test]
async fn a_group_member_is_allowed() {
    let h = harness().await;
    let ack = h
        .command(BOB, CHANNEL, "schedule tomorrow 2pm 90m python")
        .await;
    assert_eq!(ack["text"], WORKING);
    h.response(1).await;
    assert_eq!(h.interviews().await.len(), 1);
}

#[tokio::test]
async fn strangers_and_other_channels_are_refused_and_nothing_is_created() {
    let h = harness().await;
    for (user, channel) in [(STRANGER, CHANNEL), (ALICE, OTHER_CHANNEL)] {
        let answer = h.command(user, channel, "now 30m python").await;
        assert_eq!(answer["response_type"], "ephemeral");
        let text = answer["text"].as_str().expect("text");
        assert!(
            text.starts_with("Sorry") || text.contains("not enabled"),
            "{text}"
        );
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(h.interviews().await.is_empty());
}

#[tokio::test]
async fn buttons_extend_and_destroy_for_the_requester_and_refuse_a_stranger() {
    let h = harness().await;
    let interview = h.scheduled_by_alice().await;
    let id = interview.id.to_string();

    h.press(STRANGER, EXTEND_ACTION, &id).await;
    let refused = h.response(2).await;
    assert!(
        refused["text"]
            .as_str()
            .expect("text")
            .contains("you are not allowed to use /interview"),
        "a stranger is refused by the allow-list before anything else: {refused}"
    );
    h.press(STRANGER, DESTROY_ACTION, &id).await;
    h.response(3).await;
    let unchanged = h.prequel.get(&interview.id).await.expect("get");
    assert_eq!(unchanged.destroy_at, interview.destroy_at);
    assert_eq!(unchanged.state, InterviewState::Scheduled);

    h.press(ALICE, EXTEND_ACTION, &id).await;
    let extended = h.response(4).await;
    assert_eq!(extended["response_type"], "ephemeral");
    let after = h.prequel.get(&interview.id).await.expect("get");
    assert_eq!(
        after.destroy_at - interview.destroy_at,
        chrono::Duration::minutes(30)
    );

    h.press(ALICE, DESTROY_ACTION, &id).await;
    h.response(5).await;
    let ended = h.prequel.get(&interview.id).await.expect("get");
    // Not started yet, so Destroy calls it off.
    assert_eq!(ended.state, InterviewState::Cancelled);
}

#[tokio::test]
async fn the_acknowledgement_comes_within_three_seconds() {
    let h = harness().await;
    let started = Instant::now();
    let ack = h.command(ALICE, CHANNEL, "now 30m python").await;
    assert_eq!(ack["text"], WORKING);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    h.response(1).await;
}

/// Socket Mode end to end against a local stand-in for Slack: `apps.connections.open` (with the
/// app token) answers a `ws://` URL; the websocket sends `hello`, then slash-command envelopes,
/// and reads the acknowledgements. Real Slack cannot be reached from tests; this checks our
/// callbacks, the routing to the same handlers as HTTP, and the ack payloads.
#[tokio::test]
async fn socket_mode_routes_commands_to_the_same_handlers_and_acks_each_envelope() {
    use futures::{SinkExt as _, StreamExt as _};
    use tokio_tungstenite::tungstenite::Message;

    let h = harness().await;
    let ws_listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the websocket");
    let ws_url = format!("ws://{}/link", ws_listener.local_addr().expect("address"));
    let opened = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let open = {
        let opened = opened.clone();
        axum::routing::post(move |headers: axum::http::HeaderMap| async move {
            let token = headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            if token != "Bearer xapp-test" {
                return axum::Json(json!({"ok": false, "error": "invalid_auth"}));
            }
            opened.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            axum::Json(json!({"ok": true, "url": ws_url}))
        })
    };
    let http = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind the fake api");
    let api_url: reqwest::Url = format!("http://{}/api/", http.local_addr().expect("address"))
        .parse()
        .expect("url");
    tokio::spawn(async move {
        let app = Router::new().route("/api/apps.connections.open", open);
        axum::serve(http, app).await
    });

    // The acknowledgements, by envelope id, from whichever connection carried them.
    let (acks_tx, mut acks) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let response_url = h.fake.response_url("socket");
    tokio::spawn(async move {
        let mut first = true;
        while let Ok((stream, _)) = ws_listener.accept().await {
            let acks_tx = acks_tx.clone();
            let send_envelopes = std::mem::take(&mut first);
            let response_url = response_url.clone();
            tokio::spawn(async move {
                let mut ws = tokio_tungstenite::accept_async(stream)
                    .await
                    .expect("handshake");
                let hello = json!({"type": "hello", "num_connections": 1,
                    "debug_info": {"host": "fake"}, "connection_info": {"app_id": "A0APP"}});
                ws.send(Message::text(hello.to_string()))
                    .await
                    .expect("hello");
                if send_envelopes {
                    for (id, text) in [
                        ("env-help", "help"),
                        ("env-schedule", "schedule tomorrow 2pm 90m python"),
                    ] {
                        let envelope = json!({
                            "envelope_id": id, "type": "slash_commands",
                            "accepts_response_payload": true,
                            "payload": {"team_id": "T0TEAM", "channel_id": CHANNEL, "user_id": ALICE,
                                "command": "/interview", "text": text,
                                "response_url": response_url, "trigger_id": "1.2.3"},
                        });
                        ws.send(Message::text(envelope.to_string()))
                            .await
                            .expect("envelope");
                    }
                }
                while let Some(Ok(message)) = ws.next().await {
                    if let Message::Text(text) = message
                        && let Ok(ack) = serde_json::from_str::<Value>(text.as_str())
                    {
                        let _ = acks_tx.send(ack);
                    }
                }
            });
        }
    });

    let mut config = (*h.state.config).clone();
    config.mode = SlackMode::Socket;
    config.app_token = Some(SecretString::new("xapp-test"));
    config.signing_secret = None;
    config.api_url = api_url;
    let state = SlackState::new(
        h.prequel.clone(),
        config,
        h.state.api.clone(),
        chrono_tz::Europe::Berlin,
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let socket = tokio::spawn(slack::socket::run(state, stopped));

    let mut by_id = std::collections::HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while by_id.len() < 2 {
        let ack = tokio::time::timeout_at(deadline, acks.recv())
            .await
            .expect("two acknowledgements in time")
            .expect("the fake is running");
        if let Some(id) = ack["envelope_id"].as_str() {
            by_id.insert(id.to_owned(), ack);
        }
    }
    let help = &by_id["env-help"]["payload"];
    assert_eq!(help["response_type"], "ephemeral", "{help}");
    assert!(help.to_string().contains("schedule"), "{help}");
    assert_eq!(by_id["env-schedule"]["payload"]["text"], WORKING);
    assert!(opened.load(std::sync::atomic::Ordering::SeqCst) >= 1);

    // The same handler as HTTP: the interview is recorded in Alice's Slack zone.
    h.response(1).await;
    let interviews = h.interviews().await;
    assert_eq!(interviews.len(), 1);
    assert_eq!(interviews[0].time_zone, "America/New_York");

    stop.send(true).expect("the socket listens");
    tokio::time::timeout(Duration::from_secs(10), socket)
        .await
        .expect("socket mode stops on shutdown")
        .expect("no panic")
        .expect("socket mode ran");
}

/// The answer to a typed command: waits for its `response_url` post (the `n`th in all).
async fn answered(h: &Harness, n: usize, user: &str, text: &str) -> String {
    let ack = h.command(user, CHANNEL, text).await;
    assert_eq!(ack["text"], WORKING, "{text}: {ack}");
    h.response(n).await.to_string()
}

#[tokio::test]
async fn only_the_requester_co_interviewers_and_admins_act_on_an_interview() {
    let h = harness().await;
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    // Alice names Carol with Slack's escaped mention (the manifest turns escaping on).
    let reply = answered(
        &h,
        next(),
        ALICE,
        "schedule tomorrow 2pm 90m python with <@U0CAROL|carol> for Ada",
    )
    .await;
    let interview = h.interviews().await.pop().expect("scheduled");
    assert_eq!(interview.co_interviewers, [CAROL], "{reply}");
    let id = interview.id.to_string();

    // Bob may use Prequel (the allowed group) but this interview is not his: every typed
    // command and both buttons are refused in one line, and nothing changes or is sent.
    for text in [
        format!("status {id}"),
        format!("creds {id}"),
        format!("extend {id} 30m"),
        format!("cancel {id}"),
        format!("destroy {id}"),
    ] {
        let reply = answered(&h, next(), BOB, &text).await;
        assert!(
            reply.contains("only they, the co-interviewers they named and Prequel admins"),
            "{text}: {reply}"
        );
    }
    for action in [EXTEND_ACTION, DESTROY_ACTION] {
        h.press(BOB, action, &id).await;
        let reply = h.response(next()).await.to_string();
        assert!(reply.contains("only they"), "{action}: {reply}");
    }
    let reply = answered(&h, next(), BOB, "list").await;
    assert!(!reply.contains(&id), "Bob's list shows only his: {reply}");
    let reply = answered(&h, next(), BOB, "list all").await;
    assert!(reply.contains("only Prequel admins"), "{reply}");
    let after = h.prequel.get(&interview.id).await.expect("interview");
    assert_eq!(after, interview, "Bob changed nothing");
    assert!(
        h.fake.calls_of("conversations.open").is_empty(),
        "no DM for Bob"
    );

    // Carol, named by Alice, may act on it and gets the credentials by DM herself.
    let reply = answered(&h, next(), CAROL, "list").await;
    assert!(reply.contains(&id), "{reply}");
    let reply = answered(&h, next(), CAROL, &format!("extend {id} 30m")).await;
    let extended = h.prequel.get(&interview.id).await.expect("interview");
    assert_eq!(extended.length.minutes(), 120, "{reply}");
    answered(&h, next(), CAROL, &format!("creds {id}")).await;
    let dms = h.fake.calls_of("conversations.open");
    assert_eq!(
        dms.iter().map(|c| c.user.as_deref()).collect::<Vec<_>>(),
        [Some(CAROL)],
        "the DM goes to Carol, who asked"
    );

    // The admin sees every interview and may end this one.
    let reply = answered(&h, next(), ADMIN, "list all").await;
    assert!(reply.contains(&id), "{reply}");
    let reply = answered(&h, next(), ADMIN, "list").await;
    assert!(
        !reply.contains(&id),
        "an admin's own list is theirs: {reply}"
    );
    answered(&h, next(), ADMIN, &format!("destroy {id}")).await;
    let ended = h.prequel.get(&interview.id).await.expect("interview");
    assert_eq!(ended.state, InterviewState::Cancelled);
    let destroy = h.prequel.operations(&interview.id).await.expect("ops");
    assert!(
        destroy.iter().all(|op| op.requested_by.user_id != BOB),
        "no operation of Bob's"
    );
}

#[tokio::test]
async fn a_plain_at_name_is_not_a_slack_identity_and_records_nothing() {
    let h = harness().await;
    let reply = answered(&h, 1, ALICE, "now 30m python with @carol").await;
    assert!(
        reply.contains("`with` takes people") && reply.contains("@-mention"),
        "{reply}"
    );
    assert!(h.interviews().await.is_empty());
}
