//! Slack end to end through the real parts: a signed `/interview now 30m python` posted to a
//! real `prequel serve` (real code-server, the repository's challenges), whose Web API calls go
//! to the local fake of Slack. The requester gets a DM whose URL and password log in to
//! code-server; the channel gets one status message edited in place; the password is in no
//! channel message, ephemeral answer or log line.

use std::path::Path;
use std::time::{Duration, Instant};

use prequel_bot::slack::verify::sign;
use prequel_core::domain::SecretString;

use crate::slack_fake::FakeSlack;
use crate::support::{self, ServeOptions, Server};

const SIGNING_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const BOT_TOKEN: &str = "xoxb-e2e-test-token";

fn signed_post(server: &Server, path: &str, body: &str) -> (u16, String) {
    let timestamp = chrono::Utc::now().timestamp().to_string();
    let signature = sign(
        &SecretString::new(SIGNING_SECRET),
        &timestamp,
        body.as_bytes(),
    );
    support::http(
        &server.url,
        "POST",
        path,
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("X-Slack-Request-Timestamp", &timestamp),
            ("X-Slack-Signature", &signature),
        ],
        body,
    )
    .expect("POST to serve")
}

/// The `(url, password)` of the first credentials DM, once it has been sent.
fn credentials_dm(fake: &FakeSlack, user: &str) -> Option<(String, String)> {
    // The fake names a DM channel `D` + the user id without its `U`.
    let dm_channel = format!("D{}", user.trim_start_matches('U'));
    fake.calls_of("chat.postMessage")
        .into_iter()
        .filter(|call| call.channel.as_deref() == Some(dm_channel.as_str()))
        .find_map(|call| {
            let content = call.content();
            let url = content
                .split(|c: char| c.is_whitespace() || c == '<' || c == '>' || c == '|' || c == '"')
                .find(|w| w.starts_with("http://127.0.0.1:"))?
                .trim_end_matches(['`', '*', '.', ','])
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
async fn a_signed_slash_command_ends_in_a_dm_whose_credentials_open_code_server() {
    let Some(code_server) = support::code_server("the Slack end-to-end test") else {
        return;
    };
    let fake = FakeSlack::start(BOT_TOKEN).await;
    fake.set_zone("U2CERLKJA", "America/New_York");
    let mut options = ServeOptions::new(code_server);
    options.challenges = Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../challenge"));
    options.env = vec![
        ("PREQUEL_SLACK_SIGNING_SECRET".into(), SIGNING_SECRET.into()),
        ("PREQUEL_SLACK_BOT_TOKEN".into(), BOT_TOKEN.into()),
        ("PREQUEL_SLACK_API_URL".into(), fake.api_url()),
    ];
    let server = tokio::task::spawn_blocking(move || Server::start(options))
        .await
        .expect("join")
        .expect("serve starts");

    let body = serde_urlencoded::to_string([
        ("token", "legacy"),
        ("team_id", "T1DC2JH3J"),
        ("channel_id", "C0INTERVIEWS"),
        ("user_id", "U2CERLKJA"),
        ("user_name", "roadrunner"),
        ("command", "/interview"),
        ("text", "now 30m python"),
        ("response_url", &fake.response_url("e2e")),
        (
            "trigger_id",
            "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c",
        ),
    ])
    .expect("form");
    let started = Instant::now();
    let (status, ack) = signed_post(&server, "/slack/commands", &body);
    assert_eq!(status, 200, "{ack}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "acknowledged within Slack's 3 s"
    );

    // The DM arrives once the instance is active.
    let deadline = Instant::now() + Duration::from_secs(90);
    let (url, password) = loop {
        if let Some(found) = credentials_dm(&fake, "U2CERLKJA") {
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

    // One channel message, edited in place; the DM went to the requester only.
    let posts: Vec<_> = fake
        .calls_of("chat.postMessage")
        .into_iter()
        .filter(|c| c.channel.as_deref() == Some("C0INTERVIEWS"))
        .collect();
    assert_eq!(posts.len(), 1, "one status message in the channel");
    for update in fake.calls_of("chat.update") {
        assert_eq!(update.channel.as_deref(), Some("C0INTERVIEWS"));
        assert_eq!(update.ts, posts[0].ts, "edited in place");
    }
    for open in fake.calls_of("conversations.open") {
        assert_eq!(
            open.user.as_deref(),
            Some("U2CERLKJA"),
            "DMs only to the requester"
        );
    }

    // The password is nowhere but the DM: not in the acknowledgement, a channel message, an
    // ephemeral answer, or the server's log.
    assert!(!ack.contains(&password));
    for call in fake.calls() {
        let is_the_dm =
            call.method == "chat.postMessage" && call.channel.as_deref() == Some("D2CERLKJA");
        if !is_the_dm {
            assert!(
                !call.content().contains(&password) && !call.params.to_string().contains(&password),
                "password leaked in {call:?}"
            );
        }
    }
    assert!(
        !server.log().contains(&password),
        "password in the server log"
    );

    // Clean up the instance through the same door.
    let id = url_interview(&fake);
    let destroy = serde_urlencoded::to_string([
        ("channel_id", "C0INTERVIEWS"),
        ("user_id", "U2CERLKJA"),
        ("user_name", "roadrunner"),
        ("command", "/interview"),
        ("text", &format!("destroy {id}")),
        ("response_url", &fake.response_url("e2e-destroy")),
    ])
    .expect("form");
    let (status, _) = signed_post(&server, "/slack/commands", &destroy);
    assert_eq!(status, 200);
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

/// The interview id shown in the channel status message.
fn url_interview(fake: &FakeSlack) -> String {
    let post = fake
        .calls_of("chat.postMessage")
        .into_iter()
        .find(|c| c.channel.as_deref() == Some("C0INTERVIEWS"))
        .expect("a channel message");
    post.content()
        .split(|c: char| !c.is_ascii_alphanumeric())
        .find(|w| {
            w.len() == 12
                && prequel_core::domain::InterviewId::parse(w).is_ok()
                && w.chars().any(|c| c.is_ascii_digit())
        })
        .expect("the interview id in the channel message")
        .to_owned()
}
