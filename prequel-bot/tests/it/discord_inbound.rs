//! The Discord frontend's inbound side, against its router (`tower::ServiceExt::oneshot`):
//! Ed25519 signatures (RFC 8032 test key 1), stale timestamps, body limits, PING, typed
//! `/interview` subcommands (scheduling in the user's stored zone), autocomplete, the Extend /
//! Destroy buttons, allow-lists, and `prequel discord register` against the local fake.
//!
//! The engine is the real facade on a temporary SQLite store with the recording provisioner
//! (the scheduler is not started: these tests are about what the frontend records). Discord's
//! REST API is the recording fake of `discord_fake`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use chrono::{TimeZone as _, Utc};
use ed25519_dalek::{Signer as _, SigningKey};
use prequel_bot::discord::api::DiscordApi;
use prequel_bot::discord::{self, DiscordConfig, DiscordMode, DiscordState};
use prequel_core::Prequel;
use prequel_core::clock::ManualClock;
use prequel_core::domain::{Interview, InterviewState, Platform, SecretString};
use prequel_core::store::{InterviewScope, OperationStore, PageRequest};
use prequel_core::testkit;
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::discord_fake::FakeDiscord;
use crate::shared_store::SharedStore;

/// RFC 8032 test key 1.
const SECRET_KEY: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const PUBLIC_KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
pub(crate) const BOT_TOKEN: &str = "discord-bot-token";
const APP_ID: &str = "1100000000000000001";
pub(crate) const GUILD: &str = "1200000000000000001";
const OTHER_GUILD: &str = "1200000000000000002";
const ROLE: &str = "1300000000000000001";
const CHANNEL: &str = "1400000000000000001";
/// Allowed by id.
pub(crate) const ALICE: &str = "1500000000000000001";
/// Allowed by role.
const BOB: &str = "1500000000000000002";
/// On no list.
pub(crate) const STRANGER: &str = "1500000000000000003";
/// Allowed by id, and an admin by id (`PREQUEL_DISCORD_ADMINS`).
const ADMIN: &str = "1500000000000000004";
/// Allowed by id; Alice names her as a co-interviewer.
const CAROL: &str = "1500000000000000005";
/// Allowed by role, and an admin by role (`PREQUEL_DISCORD_ADMIN_ROLES`).
const DANA: &str = "1500000000000000006";
const ADMIN_ROLE: &str = "1300000000000000002";

/// A fresh interaction id: Discord gives every interaction its own, and the endpoint accepts each
/// id once (a second time is a replay).
pub(crate) fn interaction_id() -> String {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    format!("16{n:017}")
}

pub(crate) struct Harness {
    _dir: tempfile::TempDir,
    store: SharedStore,
    clock: ManualClock,
    config: DiscordConfig,
    pub(crate) router: Router,
    pub(crate) prequel: Prequel,
    pub(crate) fake: FakeDiscord,
}

pub(crate) async fn harness() -> Harness {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SharedStore::Sqlite(dir.path().join("prequel.sqlite3"));
    harness_on(dir, store).await
}

/// A harness whose facade keeps its records in `store` (secrets in `dir`).
pub(crate) async fn harness_on(dir: tempfile::TempDir, store: SharedStore) -> Harness {
    let fake = FakeDiscord::start(BOT_TOKEN).await;
    let clock = ManualClock::new(
        Utc.with_ymd_and_hms(2026, 11, 23, 10, 0, 0)
            .single()
            .expect("valid time"),
    );
    let prequel = engine(store.open().await, dir.path(), &clock);
    let config = DiscordConfig {
        mode: DiscordMode::Http,
        public_key: PUBLIC_KEY.to_owned(),
        bot_token: SecretString::new(BOT_TOKEN),
        application_id: APP_ID.to_owned(),
        api_url: fake.api_url().parse().expect("url"),
        guild_id: None,
        allowed_guilds: vec![GUILD.to_owned()],
        allowed_roles: vec![ROLE.to_owned()],
        allowed_users: vec![ALICE.to_owned(), ADMIN.to_owned(), CAROL.to_owned()],
        admins: vec![ADMIN.to_owned()],
        admin_roles: vec![ADMIN_ROLE.to_owned()],
    };
    Harness {
        _dir: dir,
        store,
        clock,
        router: router(prequel.clone(), config.clone()),
        config,
        prequel,
        fake,
    }
}

/// A facade on `store` with the recording provisioner and 30 challenges, 29 of them starting
/// with `py`: more than autocomplete may show.
fn engine(store: Arc<dyn OperationStore>, dir: &std::path::Path, clock: &ManualClock) -> Prequel {
    let names: Vec<String> = std::iter::once("rust".to_owned())
        .chain((0..29).map(|n| format!("py{n:02}")))
        .collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    testkit::engine::in_dir(dir)
        .store(store)
        .challenges(&names)
        .clock(clock.clone())
        .build()
        .prequel
}

/// The Discord router over `prequel`, speaking to the API `config` names.
fn router(prequel: Prequel, config: DiscordConfig) -> Router {
    let api = Arc::new(
        DiscordApi::new(
            SecretString::new(BOT_TOKEN),
            APP_ID.parse().expect("id"),
            config.api_url.clone(),
        )
        .expect("client"),
    );
    let state =
        DiscordState::new(prequel, config, api, chrono_tz::Europe::Berlin).expect("valid key");
    discord::router(state)
}

/// Signs `timestamp + body` as Discord does: hex Ed25519 signature.
pub(crate) fn sign(timestamp: &str, body: &[u8]) -> String {
    let secret: [u8; 32] = hex::decode(SECRET_KEY)
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let mut message = timestamp.as_bytes().to_vec();
    message.extend_from_slice(body);
    hex::encode(SigningKey::from_bytes(&secret).sign(&message).to_bytes())
}

/// A member of `guild` with `roles`.
fn member(user: &str, roles: &[&str]) -> Value {
    json!({ "user": { "id": user, "username": format!("user{user}") }, "roles": roles })
}

/// An application command interaction: `/interview <sub>` with string options.
pub(crate) fn command(
    user: &str,
    guild: &str,
    roles: &[&str],
    sub: &str,
    options: &[(&str, &str)],
) -> Value {
    let options: Vec<Value> = options
        .iter()
        .map(|(name, value)| json!({ "type": 3, "name": name, "value": value }))
        .collect();
    json!({
        "type": 2,
        "id": interaction_id(),
        "application_id": APP_ID,
        "token": format!("token-{sub}-{user}"),
        "version": 1,
        "guild_id": guild,
        "channel_id": CHANNEL,
        "member": member(user, roles),
        "data": {
            "id": "1700000000000000001",
            "name": "interview",
            "type": 1,
            "options": [{ "type": 1, "name": sub, "options": options }],
        },
    })
}

/// An autocomplete interaction with `focused` being typed as `typed`.
pub(crate) fn autocomplete(user: &str, sub: &str, focused: &str, typed: &str) -> Value {
    json!({
        "id": interaction_id(),
        "type": 4,
        "token": "token-autocomplete",
        "guild_id": GUILD,
        "channel_id": CHANNEL,
        "member": member(user, roles_of(user)),
        "data": {
            "name": "interview",
            "options": [{ "type": 1, "name": sub, "options": [
                { "type": 3, "name": focused, "value": typed, "focused": true },
            ]}],
        },
    })
}

/// A button press.
pub(crate) fn button(user: &str, custom_id: &str) -> Value {
    json!({
        "id": interaction_id(),
        "type": 3,
        "token": format!("token-button-{user}"),
        "guild_id": GUILD,
        "channel_id": CHANNEL,
        "member": member(user, roles_of(user)),
        "data": { "custom_id": custom_id, "component_type": 2 },
    })
}

impl Harness {
    /// A second replica on the same store: its own store handle, facade and router.
    pub(crate) async fn replica(&self) -> Router {
        let prequel = engine(self.store.open().await, self._dir.path(), &self.clock);
        router(prequel, self.config.clone())
    }

    pub(crate) fn now_seconds(&self) -> i64 {
        self.prequel.now().timestamp()
    }

    /// Posts `body` with the given signature headers.
    pub(crate) async fn post(
        &self,
        body: Vec<u8>,
        headers: Option<(String, String)>,
    ) -> (StatusCode, Bytes) {
        let mut request =
            Request::post("/discord/interactions").header("content-type", "application/json");
        if let Some((timestamp, signature)) = headers {
            request = request
                .header("x-signature-timestamp", timestamp)
                .header("x-signature-ed25519", signature);
        }
        let request = request.body(Body::from(body)).expect("request");
        let response = self.router.clone().oneshot(request).await.expect("answer");
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, body)
    }

    /// Signs with the clock's time and posts; the JSON answer.
    async fn send(&self, interaction: &Value) -> Value {
        let body = interaction.to_string().into_bytes();
        let timestamp = self.now_seconds().to_string();
        let signature = sign(&timestamp, &body);
        let (status, answer) = self.post(body, Some((timestamp, signature))).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "{}",
            String::from_utf8_lossy(&answer)
        );
        serde_json::from_slice(&answer).expect("JSON answer")
    }

    pub(crate) async fn interviews(&self) -> Vec<Interview> {
        self.prequel
            .list(InterviewScope::All, &PageRequest::first(100))
            .await
            .expect("list")
            .items
    }

    /// Waits for a deferred command's work: until `count` interviews exist.
    async fn wait_for_interviews(&self, count: usize) -> Vec<Interview> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let interviews = self.interviews().await;
            if interviews.len() >= count {
                return interviews;
            }
            assert!(
                Instant::now() < deadline,
                "only {} interviews",
                interviews.len()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the fake has recorded a call of `route` matching `matches`.
    async fn wait_for_call(
        &self,
        route: &str,
        matches: impl Fn(&crate::discord_fake::DiscordCall) -> bool,
    ) -> crate::discord_fake::DiscordCall {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(call) = self.fake.calls_of(route).into_iter().find(&matches) {
                return call;
            }
            assert!(
                Instant::now() < deadline,
                "no matching {route}: {:?}",
                self.fake.calls()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Schedules an interview for `user` through the frontend; its id.
    async fn schedule(&self, user: &str, when: &str) -> Interview {
        let before = self.interviews().await.len();
        let answer = self
            .send(&command(
                user,
                GUILD,
                roles_of(user),
                "schedule",
                &[("when", when), ("duration", "90m"), ("challenge", "rust")],
            ))
            .await;
        assert_eq!(answer["type"], 5, "schedule is deferred: {answer}");
        let interviews = self.wait_for_interviews(before + 1).await;
        interviews
            .into_iter()
            .max_by_key(|interview| interview.created_at)
            .expect("the new interview")
    }
}

/// Bob is allowed through the role only; Dana is allowed through it and an admin by role.
fn roles_of(user: &str) -> &'static [&'static str] {
    match user {
        BOB => &[ROLE],
        DANA => &[ROLE, ADMIN_ROLE],
        _ => &[],
    }
}

fn content(answer: &Value) -> String {
    answer["data"]["content"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn assert_ephemeral(answer: &Value) {
    assert_eq!(answer["data"]["flags"], 64, "not ephemeral: {answer}");
}

#[tokio::test]
async fn ping_gets_pong() {
    let h = harness().await;
    let answer = h.send(&json!({ "type": 1, "token": "t" })).await;
    assert_eq!(answer, json!({ "type": 1 }));
}

/// A signed interaction is accepted once: the same bytes again (a captured request) get 401 and
/// change nothing. The id is claimed in the store, so every replica on it refuses the replay too
/// (the store's conformance case `once_keys_have_one_winner_across_handles_until_they_expire`
/// runs that claim on SQLite, DynamoDB and memory).
#[tokio::test]
async fn a_replayed_interaction_is_refused_and_changes_nothing() {
    let h = harness().await;
    let body = command(
        ALICE,
        GUILD,
        &[],
        "schedule",
        &[
            ("when", "tomorrow 2pm"),
            ("duration", "1h"),
            ("challenge", "rust"),
        ],
    )
    .to_string()
    .into_bytes();
    let now = h.now_seconds().to_string();
    let signature = sign(&now, &body);
    let (first, answer) = h
        .post(body.clone(), Some((now.clone(), signature.clone())))
        .await;
    assert_eq!(
        first,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&answer)
    );
    let (again, _) = h.post(body, Some((now, signature))).await;
    assert_eq!(again, StatusCode::UNAUTHORIZED, "the replay");
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while h.interviews().await.is_empty() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(h.interviews().await.len(), 1, "scheduled once");
}

#[tokio::test]
async fn bad_missing_and_stale_signatures_are_refused_and_create_nothing() {
    let h = harness().await;
    let body = command(
        ALICE,
        GUILD,
        &[],
        "now",
        &[("duration", "1h"), ("challenge", "rust")],
    )
    .to_string()
    .into_bytes();
    let now = h.now_seconds().to_string();

    let (status, _) = h.post(body.clone(), None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "missing signature");

    let mut wrong = body.clone();
    wrong.push(b' ');
    let (status, _) = h
        .post(body.clone(), Some((now.clone(), sign(&now, &wrong))))
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "signature of another body"
    );

    let (status, _) = h
        .post(body.clone(), Some((now.clone(), "00".repeat(64))))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "garbage signature");

    let stale = (h.now_seconds() - 6 * 60).to_string();
    let (status, _) = h
        .post(body.clone(), Some((stale.clone(), sign(&stale, &body))))
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "stale timestamp");

    let future = (h.now_seconds() + 6 * 60).to_string();
    let (status, _) = h
        .post(body.clone(), Some((future.clone(), sign(&future, &body))))
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "timestamp from the future"
    );

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(h.interviews().await.is_empty(), "nothing may be created");
    assert!(h.fake.calls().is_empty(), "nothing may be sent");
}

#[tokio::test]
async fn oversized_bodies_get_413() {
    let h = harness().await;
    let body = vec![b' '; discord::BODY_LIMIT + 1];
    let now = h.now_seconds().to_string();
    let signature = sign(&now, &body);
    let (status, _) = h.post(body, Some((now, signature))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn schedule_reads_the_time_in_the_users_stored_zone() {
    let h = harness().await;
    let answer = h
        .send(&command(ALICE, GUILD, &[], "tz", &[("zone", "asia/tokyo")]))
        .await;
    assert_eq!(answer["type"], 4);
    assert_ephemeral(&answer);
    assert!(content(&answer).contains("Asia/Tokyo"), "{answer}");

    let interview = h.schedule(ALICE, "tomorrow 2pm").await;
    // Tomorrow 14:00 in Tokyo (UTC+9) is 05:00 UTC on 24 November.
    assert_eq!(
        interview.start_at,
        Utc.with_ymd_and_hms(2026, 11, 24, 5, 0, 0)
            .single()
            .expect("valid")
    );
    assert_eq!(interview.time_zone, "Asia/Tokyo");
    assert_eq!(interview.length.minutes(), 90);
    assert_eq!(interview.requested_by.platform, Platform::Discord);
    assert_eq!(interview.requested_by.user_id, ALICE);

    // The deferred answer arrives as an edit of the original response, without a password.
    let edit = h
        .wait_for_call("edit_original", |call| {
            call.interaction_token.as_deref() == Some(&format!("token-schedule-{ALICE}"))
        })
        .await;
    assert!(edit.content().contains(interview.id.as_str()), "{edit:?}");
    assert!(!edit.had_authorization, "no bot token on webhook routes");

    // Bob has no stored zone: the default (Berlin, UTC+1) applies.
    let bob = h.schedule(BOB, "tomorrow 2pm").await;
    assert_eq!(bob.time_zone, "Europe/Berlin");
}

#[tokio::test]
async fn typed_mistakes_get_the_grammars_messages() {
    let h = harness().await;
    let answer = h
        .send(&command(
            ALICE,
            GUILD,
            &[],
            "now",
            &[("duration", "10m"), ("challenge", "rust")],
        ))
        .await;
    assert_eq!(answer["type"], 4);
    assert_ephemeral(&answer);
    let expected = h
        .prequel
        .parse("now 10m rust", chrono_tz::UTC)
        .expect_err("too short")
        .user_message();
    assert!(
        content(&answer).contains(&discord::render::escape(&expected)),
        "the grammar's message: {answer} vs {expected}"
    );
    let answer = h
        .send(&command(
            ALICE,
            GUILD,
            &[],
            "tz",
            &[("zone", "Mars/Olympus")],
        ))
        .await;
    assert!(content(&answer).contains("Mars/Olympus"), "{answer}");
    assert!(h.interviews().await.is_empty());
}

#[tokio::test]
async fn challenge_autocomplete_is_prefix_filtered_and_at_most_25() {
    let h = harness().await;
    let answer = h
        .send(&autocomplete(ALICE, "schedule", "challenge", "py"))
        .await;
    assert_eq!(answer["type"], 8);
    let choices = answer["data"]["choices"].as_array().expect("choices");
    assert_eq!(choices.len(), 25, "29 match, 25 are shown");
    assert!(choices.iter().all(|choice| {
        choice["value"]
            .as_str()
            .is_some_and(|v| v.starts_with("py"))
    }));
    let answer = h.send(&autocomplete(ALICE, "now", "challenge", "RU")).await;
    assert_eq!(
        answer["data"]["choices"],
        json!([{ "name": "rust", "value": "rust" }])
    );
}

#[tokio::test]
async fn interview_autocomplete_offers_the_users_own_interviews() {
    let h = harness().await;
    let first = h.schedule(ALICE, "tomorrow 2pm").await;
    let second = h.schedule(ALICE, "tomorrow 4pm").await;
    let bobs = h.schedule(BOB, "tomorrow 2pm").await;
    let answer = h
        .send(&autocomplete(ALICE, "status", "interview", ""))
        .await;
    let mut offered: Vec<String> = answer["data"]["choices"]
        .as_array()
        .expect("choices")
        .iter()
        .filter_map(|choice| choice["value"].as_str().map(str::to_owned))
        .collect();
    offered.sort();
    let mut expected = vec![first.id.to_string(), second.id.to_string()];
    expected.sort();
    assert_eq!(offered, expected, "Bob's {} is not Alice's", bobs.id);
}

#[tokio::test]
async fn buttons_extend_and_destroy() {
    let h = harness().await;
    let interview = h.schedule(ALICE, "tomorrow 2pm").await;

    let answer = h
        .send(&button(ALICE, &format!("extend_30m:{}", interview.id)))
        .await;
    assert_eq!(answer["type"], 4);
    assert_ephemeral(&answer);
    let extended = h.prequel.get(&interview.id).await.expect("interview");
    assert_eq!(extended.length.minutes(), 120, "{answer}");

    // Destroy asks first (Discord buttons have no confirm dialog); only the confirmation acts.
    let answer = h
        .send(&button(ALICE, &format!("destroy:{}", interview.id)))
        .await;
    assert_ephemeral(&answer);
    assert!(
        answer
            .to_string()
            .contains(&format!("destroy_confirm:{}", interview.id)),
        "a confirmation button: {answer}"
    );
    let untouched = h.prequel.get(&interview.id).await.expect("interview");
    assert_eq!(
        untouched.state,
        InterviewState::Scheduled,
        "not destroyed before confirming"
    );
    let answer = h
        .send(&button(ALICE, &format!("destroy_confirm:{}", interview.id)))
        .await;
    assert_ephemeral(&answer);
    let ended = h.prequel.get(&interview.id).await.expect("interview");
    assert_eq!(
        ended.state,
        InterviewState::Cancelled,
        "destroying before the start calls it off: {answer}"
    );

    let answer = h.send(&button(ALICE, "launch:nothing")).await;
    assert_ephemeral(&answer);
}

#[tokio::test]
async fn unauthorised_users_guilds_and_roles_are_refused_and_create_nothing() {
    let h = harness().await;
    let now = |user: &str, guild: &str, roles: &[&str]| {
        command(
            user,
            guild,
            roles,
            "now",
            &[("duration", "1h"), ("challenge", "rust")],
        )
    };
    for (who, interaction) in [
        ("a stranger", now(STRANGER, GUILD, &[])),
        (
            "an allowed user in another guild",
            now(ALICE, OTHER_GUILD, &[]),
        ),
        (
            "a role member in another guild",
            now(BOB, OTHER_GUILD, &[ROLE]),
        ),
        ("a stranger with another role", now(STRANGER, GUILD, &["1"])),
    ] {
        let answer = h.send(&interaction).await;
        assert_eq!(answer["type"], 4, "{who}: {answer}");
        assert_ephemeral(&answer);
        assert!(content(&answer).contains("not allowed"), "{who}: {answer}");
    }
    let answer = h
        .send(&autocomplete(STRANGER, "now", "challenge", ""))
        .await;
    assert_eq!(
        answer["data"]["choices"],
        json!([]),
        "no hints for strangers"
    );
    let answer = h.send(&button(STRANGER, "destroy:k7mq2xw9ab3c")).await;
    assert!(content(&answer).contains("not allowed"), "{answer}");

    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(h.interviews().await.is_empty(), "nothing may be created");

    // A member with the allowed role in the allowed guild gets through.
    let answer = h.send(&now(BOB, GUILD, &[ROLE])).await;
    assert_eq!(answer["type"], 5, "{answer}");
    h.wait_for_interviews(1).await;
}

#[tokio::test]
async fn creds_go_by_dm_only() {
    let h = harness().await;
    let interview = h.schedule(ALICE, "tomorrow 2pm").await;
    let answer = h
        .send(&command(
            ALICE,
            GUILD,
            &[],
            "creds",
            &[("interview", interview.id.as_str())],
        ))
        .await;
    assert_eq!(answer["type"], 5);
    assert_ephemeral(&answer);
    let edit = h
        .wait_for_call("edit_original", |call| {
            call.interaction_token.as_deref() == Some(&format!("token-creds-{ALICE}"))
        })
        .await;
    assert!(edit.content().contains("DM"), "{edit:?}");
    let dm = h
        .wait_for_call("create_message", |call| {
            call.channel.as_deref() == Some(&format!("dm-{ALICE}"))
        })
        .await;
    assert!(dm.content().contains("Password"), "{dm:?}");
    assert!(
        !edit.content().contains("Password"),
        "the answer holds no password"
    );

    // Someone else's interview: refused, no DM.
    let answer = h
        .send(&command(
            BOB,
            GUILD,
            &[ROLE],
            "creds",
            &[("interview", interview.id.as_str())],
        ))
        .await;
    assert_eq!(answer["type"], 5);
    let refused = h
        .wait_for_call("edit_original", |call| {
            call.interaction_token.as_deref() == Some(&format!("token-creds-{BOB}"))
        })
        .await;
    assert!(refused.content().contains("only"), "{refused:?}");
    assert!(
        h.fake
            .calls_of("create_message")
            .iter()
            .all(|call| call.channel.as_deref() != Some(&format!("dm-{BOB}")))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_puts_every_subcommand_to_the_guild() {
    let fake = FakeDiscord::start(BOT_TOKEN).await;
    let mut register = crate::support::prequel();
    register
        .args(["discord", "register", "--guild", GUILD])
        .env("PREQUEL_DISCORD_PUBLIC_KEY", PUBLIC_KEY)
        .env("PREQUEL_DISCORD_BOT_TOKEN", BOT_TOKEN)
        .env("PREQUEL_DISCORD_APPLICATION_ID", APP_ID)
        .env("PREQUEL_DISCORD_API_URL", fake.api_url())
        .env_remove("PREQUEL_DISCORD_GUILD_ID")
        .env_remove("PREQUEL_CONFIG");
    let output = tokio::task::spawn_blocking(move || register.output())
        .await
        .expect("join")
        .expect("run prequel");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(GUILD), "{stdout}");
    let puts = fake.calls_of("put_commands");
    assert_eq!(puts.len(), 1, "{puts:?}");
    assert_eq!(puts[0].guild.as_deref(), Some(GUILD));
    assert!(puts[0].authorized, "the bot token goes along");
    assert_eq!(puts[0].body, discord::commands::registration());

    // Without the settings: a clear refusal, nothing sent.
    let mut unset = crate::support::prequel();
    unset
        .args(["discord", "register"])
        .env_remove("PREQUEL_DISCORD_PUBLIC_KEY")
        .env_remove("PREQUEL_DISCORD_BOT_TOKEN")
        .env_remove("PREQUEL_DISCORD_APPLICATION_ID")
        .env_remove("PREQUEL_CONFIG");
    let output = tokio::task::spawn_blocking(move || unset.output())
        .await
        .expect("join")
        .expect("run prequel");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("PREQUEL_DISCORD_BOT_TOKEN"));
}

#[tokio::test]
async fn only_the_requester_co_interviewers_and_admins_act_on_an_interview() {
    let h = harness().await;
    let answer = h
        .send(&command(
            ALICE,
            GUILD,
            &[],
            "schedule",
            &[
                ("when", "tomorrow 2pm"),
                ("duration", "90m"),
                ("challenge", "rust"),
                // What Discord sends for a mention picked in a string option.
                ("with", &format!("<@{CAROL}>")),
            ],
        ))
        .await;
    assert_eq!(answer["type"], 5, "{answer}");
    let interview = h.wait_for_interviews(1).await.remove(0);
    assert_eq!(interview.co_interviewers, [CAROL]);
    let id = interview.id.to_string();
    let on = |user: &str, sub: &str| {
        let mut options = vec![("interview", id.as_str())];
        if sub == "extend" {
            options.push(("duration", "30m"));
        }
        command(user, GUILD, roles_of(user), sub, &options)
    };

    // Bob may use Prequel (the role) but this interview is not his.
    for sub in ["status", "extend", "cancel", "destroy"] {
        let answer = h.send(&on(BOB, sub)).await;
        assert!(
            content(&answer)
                .contains("only they, the co-interviewers they named and Prequel admins"),
            "{sub}: {answer}"
        );
    }
    let answer = h.send(&on(BOB, "creds")).await;
    assert_eq!(answer["type"], 5);
    let refused = h
        .wait_for_call("edit_original", |call| {
            call.interaction_token.as_deref() == Some(&format!("token-creds-{BOB}"))
        })
        .await;
    assert!(refused.content().contains("only they"), "{refused:?}");
    for custom_id in [
        format!("extend_30m:{id}"),
        format!("destroy:{id}"),
        format!("destroy_confirm:{id}"),
    ] {
        let answer = h.send(&button(BOB, &custom_id)).await;
        assert!(
            content(&answer).contains("only they"),
            "{custom_id}: {answer}"
        );
        assert!(
            !answer.to_string().contains("destroy_confirm"),
            "no confirmation offered to Bob: {answer}"
        );
    }
    let answer = h.send(&autocomplete(BOB, "status", "interview", "")).await;
    assert_eq!(
        answer["data"]["choices"],
        json!([]),
        "Bob is offered nothing"
    );
    let answer = h.send(&command(BOB, GUILD, &[ROLE], "list", &[])).await;
    assert!(!answer.to_string().contains(&id), "{answer}");
    let answer = h
        .send(&command(BOB, GUILD, &[ROLE], "list", &[("all", "all")]))
        .await;
    assert!(content(&answer).contains("only Prequel admins"), "{answer}");
    assert_eq!(
        h.prequel.get(&interview.id).await.expect("interview"),
        interview,
        "Bob changed nothing"
    );
    assert!(
        h.fake
            .calls_of("create_message")
            .iter()
            .all(|call| call.channel.as_deref() != Some(&format!("dm-{BOB}"))),
        "no DM for Bob"
    );

    // Carol, named by Alice: autocomplete offers it, and she may act on it.
    let answer = h
        .send(&autocomplete(CAROL, "status", "interview", ""))
        .await;
    assert_eq!(
        answer["data"]["choices"][0]["value"],
        id.as_str(),
        "{answer}"
    );
    let answer = h.send(&button(CAROL, &format!("extend_30m:{id}"))).await;
    let extended = h.prequel.get(&interview.id).await.expect("interview");
    assert_eq!(extended.length.minutes(), 120, "{answer}");

    // Admins, by id and by role: `list all` shows it, and either may end it.
    for admin in [ADMIN, DANA] {
        let answer = h
            .send(&command(
                admin,
                GUILD,
                roles_of(admin),
                "list",
                &[("all", "all")],
            ))
            .await;
        assert!(answer.to_string().contains(&id), "{admin}: {answer}");
    }
    let answer = h.send(&on(DANA, "status")).await;
    assert!(answer.to_string().contains(&id), "{answer}");
    let answer = h
        .send(&button(ADMIN, &format!("destroy_confirm:{id}")))
        .await;
    let ended = h.prequel.get(&interview.id).await.expect("interview");
    assert_eq!(ended.state, InterviewState::Cancelled, "{answer}");
}
