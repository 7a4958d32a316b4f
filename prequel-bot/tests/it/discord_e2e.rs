//! Discord end to end through the real parts: a `/interview now` interaction signed with RFC
//! 8032 test key 1, posted to a real `prequel serve` (real code-server, the repository's
//! challenges), whose REST calls go to the local fake of Discord. The answer is a deferred
//! ephemeral acknowledgement within Discord's 3 s; the requester gets a DM whose URL and
//! password log in to code-server; the channel gets one status message edited in place; the
//! password is in no channel message, interaction answer or log line.

use std::path::Path;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signer, SigningKey};
use serde_json::{Value, json};

use crate::discord_fake::FakeDiscord;
use crate::support::{self, ServeOptions, Server};

/// RFC 8032 section 7.1, test 1: the secret key and its public key.
pub const SECRET_KEY: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
/// See [`SECRET_KEY`].
pub const PUBLIC_KEY: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const BOT_TOKEN: &str = "discord-e2e-bot-token";
const APP: &str = "1100000000000000001";
const GUILD: &str = "1100000000000000002";
const CHANNEL: &str = "1100000000000000777";
const USER: &str = "80351110224678912";

/// Signs `timestamp + body` as Discord does, with the test key: `(timestamp, signature hex)`.
pub fn sign(body: &str) -> (String, String) {
    let secret: [u8; 32] = hex::decode(SECRET_KEY)
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    let key = SigningKey::from_bytes(&secret);
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let mut message = timestamp.clone().into_bytes();
    message.extend_from_slice(body.as_bytes());
    (timestamp, hex::encode(key.sign(&message).to_bytes()))
}

/// The serve settings that turn Discord on against `fake`.
pub fn discord_env(fake: &FakeDiscord) -> Vec<(String, String)> {
    vec![
        ("PREQUEL_DISCORD_PUBLIC_KEY".into(), PUBLIC_KEY.into()),
        ("PREQUEL_DISCORD_BOT_TOKEN".into(), BOT_TOKEN.into()),
        ("PREQUEL_DISCORD_APPLICATION_ID".into(), APP.into()),
        ("PREQUEL_DISCORD_API_URL".into(), fake.api_url()),
    ]
}

/// A `/interview <sub>` application command interaction from [`USER`] in [`CHANNEL`].
pub fn interaction(token: &str, sub: &str, options: &[(&str, &str)]) -> Value {
    let options: Vec<Value> = options
        .iter()
        .map(|(name, value)| json!({ "name": name, "type": 3, "value": value }))
        .collect();
    json!({
        "id": crate::discord_inbound::interaction_id(),
        "application_id": APP,
        "type": 2,
        "token": token,
        "version": 1,
        "guild_id": GUILD,
        "channel_id": CHANNEL,
        "member": {
            "user": { "id": USER, "username": "nelly", "global_name": "Nelly" },
            "roles": [],
        },
        "data": {
            "id": "1200000000000000002",
            "name": "interview",
            "type": 1,
            "options": [{ "name": sub, "type": 1, "options": options }],
        },
    })
}

/// Posts a signed interaction: `(status, body)`.
pub fn signed_post(server: &Server, body: &Value) -> (u16, String) {
    let body = body.to_string();
    let (timestamp, signature) = sign(&body);
    support::http(
        &server.url,
        "POST",
        "/discord/interactions",
        &[
            ("Content-Type", "application/json"),
            ("X-Signature-Ed25519", &signature),
            ("X-Signature-Timestamp", &timestamp),
        ],
        &body,
    )
    .expect("POST to serve")
}

/// The `(url, password)` of the first credentials DM, once it has been sent.
fn credentials_dm(fake: &FakeDiscord) -> Option<(String, String)> {
    let dm_channel = format!("dm-{USER}");
    fake.calls_of("create_message")
        .into_iter()
        .filter(|call| call.channel.as_deref() == Some(dm_channel.as_str()))
        .find_map(|call| {
            let content = call.content();
            let url = content
                .split(|c: char| c.is_whitespace() || c == '"' || c == '`')
                .find(|w| w.starts_with("http://127.0.0.1:"))?
                .trim_end_matches(['*', '.', ','])
                .to_owned();
            // Passwords are seven groups of four: find the token of that shape.
            let password = content
                .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
                .find(|w| w.len() == 34 && w.matches('-').count() == 6)?
                .to_owned();
            Some((url, password))
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_interview_now_ends_in_a_dm_whose_credentials_open_code_server() {
    let Some(code_server) = support::code_server("the Discord end-to-end test") else {
        return;
    };
    let fake = FakeDiscord::start(BOT_TOKEN).await;
    let mut options = ServeOptions::new(code_server);
    options.challenges = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../challenge"));
    options.env = discord_env(&fake);
    let server = tokio::task::spawn_blocking(move || Server::start(options))
        .await
        .expect("join")
        .expect("serve starts");

    let now = interaction(
        "itok-e2e-now",
        "now",
        &[("duration", "30m"), ("challenge", "python")],
    );
    let started = Instant::now();
    let (status, ack) = signed_post(&server, &now);
    assert_eq!(status, 200, "{ack}\n{}", server.log());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "acknowledged within Discord's 3 s"
    );
    let ack_json: Value = serde_json::from_str(&ack).expect("JSON ack");
    assert_eq!(ack_json["type"], 5, "deferred: {ack}");
    assert_eq!(ack_json["data"]["flags"], 64, "ephemeral: {ack}");

    // The DM arrives once the instance is active.
    let deadline = Instant::now() + Duration::from_secs(90);
    let (url, password) = loop {
        if let Some(found) = credentials_dm(&fake) {
            break found;
        }
        assert!(
            Instant::now() < deadline,
            "no credentials DM; calls: {:#?}\n{}",
            fake.calls(),
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };

    // The DM's credentials log in to code-server; a wrong password does not.
    let login = |password: &str| {
        support::http_raw(
            &url,
            "POST",
            "/login",
            &[("Content-Type", "application/x-www-form-urlencoded")],
            &format!("password={password}"),
        )
        .expect("POST /login")
    };
    let has_session = |response: &str| {
        response.lines().any(|l| {
            l.to_ascii_lowercase().starts_with("set-cookie:") && l.contains("code-server-session=")
        })
    };
    assert!(has_session(&login(&password)), "the DM's password logs in");
    assert!(
        !has_session(&login("not-the-password")),
        "a wrong one does not"
    );

    // The deferred answer was completed, ephemerally, without the password.
    let original = fake.calls_of("edit_original");
    assert!(
        original
            .iter()
            .all(|c| c.interaction_token.as_deref() == Some("itok-e2e-now")),
        "{original:#?}"
    );

    // One channel message, edited in place; DMs only to the requester.
    let posts: Vec<_> = fake
        .calls_of("create_message")
        .into_iter()
        .filter(|c| c.channel.as_deref() == Some(CHANNEL))
        .collect();
    assert_eq!(posts.len(), 1, "one status message in the channel");
    for edit in fake.calls_of("edit_message") {
        assert_eq!(edit.channel.as_deref(), Some(CHANNEL));
        assert_eq!(edit.message_id, posts[0].message_id, "edited in place");
    }
    for open in fake.calls_of("open_dm") {
        assert_eq!(open.body["recipient_id"], USER, "DMs only to the requester");
    }

    // The password is nowhere but the DM: not in the acknowledgement, a channel message, an
    // interaction answer, or the server's log.
    assert!(!ack.contains(&password));
    let dm_channel = format!("dm-{USER}");
    for call in fake.calls() {
        let is_a_dm =
            call.route == "create_message" && call.channel.as_deref() == Some(dm_channel.as_str());
        if !is_a_dm {
            assert!(
                !call.content().contains(&password),
                "password leaked in {call:?}"
            );
        }
        if !matches!(call.route, "edit_original" | "followup") {
            assert!(call.authorized, "bot routes carry the bot token: {call:?}");
        } else {
            assert!(!call.had_authorization, "no bot token to a webhook");
        }
    }
    assert!(
        !server.log().contains(&password),
        "password in the server log"
    );

    // Clean up the instance through the same door.
    let id = interview_id(&fake);
    let destroy = interaction("itok-e2e-destroy", "destroy", &[("interview", &id)]);
    let (status, answer) = signed_post(&server, &destroy);
    assert_eq!(status, 200, "{answer}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (_, body) = support::get(
            &server.url,
            &format!("/api/interviews/{id}"),
            Some(&server.token()),
        )
        .expect("GET the interview");
        if body.contains("\"status\":\"destroyed\"") {
            break;
        }
        assert!(Instant::now() < deadline, "never destroyed: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The interview id shown in the channel status message (its embed's title, "Interview <id>").
fn interview_id(fake: &FakeDiscord) -> String {
    let post = fake
        .calls_of("create_message")
        .into_iter()
        .find(|c| c.channel.as_deref() == Some(CHANNEL))
        .expect("a channel message");
    let title = post.body["embeds"][0]["title"].as_str().unwrap_or_default();
    let id = title
        .strip_prefix("Interview ")
        .unwrap_or_else(|| panic!("no interview id in the status message: {}", post.body));
    prequel_core::domain::InterviewId::parse(id).expect("a valid interview id");
    id.to_owned()
}
