//! The Slack and Discord endpoints fuzzed (issue 9, "bad input"), in process through each
//! router (`tower::ServiceExt::oneshot`) with the inbound tests' harnesses, from a fixed seed:
//!
//! - (a) random bodies and random or missing signature headers: 401 (413 when over the body
//!   limit; Slack's unsigned `ssl_check=1` is an empty 200 by design), never anything else;
//! - (b) correctly signed but stale or future timestamps: 401;
//! - (c) correctly signed requests with one byte of the body, the signature or the timestamp
//!   changed afterwards: 401;
//!
//! and after (a)–(c) nothing happened: no interview, no call to the platform's API. Then
//!
//! - (d) correctly signed requests whose form or JSON is mangled (truncated, fields dropped or
//!   of the wrong type, huge strings, random command text): never a panic or a 5xx, and a 200
//!   answer has the platform's shape.
//!
//! No answer body, and no message the bot sends afterwards, contains the signing secret or the
//! bot token.

use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, Request, StatusCode};
use prequel_bot::slack::verify::sign as slack_sign;
use prequel_core::domain::SecretString;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom as _;
use rand::{Rng, SeedableRng as _};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use crate::discord_inbound as discord;
use crate::slack_inbound as slack;

/// Requests per part per endpoint.
const ROUNDS: usize = 600;

/// Both platforms' body limit (`slack::BODY_LIMIT`, `discord::BODY_LIMIT`).
const BODY_LIMIT: usize = 64 * 1024;

/// Words that reach deep into the grammar, and some that do not.
const WORDS: &[&str] = &[
    "schedule",
    "now",
    "list",
    "status",
    "cancel",
    "destroy",
    "extend",
    "creds",
    "challenges",
    "tz",
    "help",
    "tomorrow",
    "2pm",
    "14:00",
    "friday",
    "next",
    "in",
    "2",
    "hours",
    "90m",
    "1h30m",
    "30m",
    "5h",
    "python",
    "rust",
    "py01",
    "for",
    "Ada",
    "k7mq2xw9ab3c",
    "Europe/Berlin",
    "Mars/Base",
    "99999999999999999999",
    "\u{202e}",
    "\u{200b}",
    "\n",
    "\0",
    "`",
    "<!channel>",
    "<@U0ALICE>",
    "*bold*",
];

/// Posts raw bytes and raw header values; the status and body.
async fn raw(
    router: &Router,
    path: &str,
    content_type: &str,
    headers: &[(&str, Vec<u8>)],
    body: Vec<u8>,
) -> (StatusCode, Bytes) {
    let mut request = Request::post(path).header("content-type", content_type);
    for (name, value) in headers {
        // A value HTTP cannot carry (a newline, a NUL) is not sent at all.
        if let Ok(value) = HeaderValue::from_bytes(value) {
            request = request.header(*name, value);
        }
    }
    let request = request.body(Body::from(body)).expect("request");
    let response = router.clone().oneshot(request).await.expect("answer");
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("body");
    (status, body)
}

fn random_bytes(rng: &mut StdRng, max: usize) -> Vec<u8> {
    let len = rng.random_range(0..=max);
    (0..len).map(|_| rng.random()).collect()
}

fn random_text(rng: &mut StdRng) -> String {
    let words = rng.random_range(0..10);
    (0..words)
        .map(|_| {
            if rng.random_bool(0.8) {
                (*WORDS.choose(rng).expect("words")).to_owned()
            } else {
                String::from_utf8_lossy(&random_bytes(rng, 12)).into_owned()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A header value that is not a valid signature or timestamp: random bytes, a plausible shape
/// with random content, or a number out of any range.
fn junk_header(rng: &mut StdRng, hex_len: usize) -> Vec<u8> {
    match rng.random_range(0..6) {
        0 => random_bytes(rng, 80),
        1 => {
            let hex: String = (0..hex_len)
                .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
                .collect();
            format!("v0={hex}").into_bytes()
        }
        2 => (0..hex_len)
            .map(|_| b"0123456789abcdef"[rng.random_range(0..16)])
            .collect(),
        3 => rng.random::<i64>().to_string().into_bytes(),
        4 => format!("{}", rng.random::<u128>()).into_bytes(),
        _ => Vec::new(),
    }
}

/// A body for an unsigned request: random bytes, a genuine-looking form or JSON, or one over
/// the body limit.
fn unsigned_body(rng: &mut StdRng, genuine: &[u8]) -> Vec<u8> {
    match rng.random_range(0..10) {
        0..=3 => random_bytes(rng, 2048),
        4..=7 => genuine.to_vec(),
        8 => {
            let mut body = genuine.to_vec();
            body.extend(random_bytes(rng, 64));
            body
        }
        _ => vec![b'a'; BODY_LIMIT + rng.random_range(1..4096)],
    }
}

/// Changes one byte of `bytes` to a different one that stays printable ASCII, so a header
/// stays sendable.
fn flip_printable(rng: &mut StdRng, bytes: &mut [u8]) {
    if bytes.is_empty() {
        return;
    }
    let at = rng.random_range(0..bytes.len());
    let mut new = bytes[at];
    while new == bytes[at] {
        new = rng.random_range(0x21..0x7f);
    }
    bytes[at] = new;
}

/// Changes one byte of `bytes` to any different byte.
fn flip_any(rng: &mut StdRng, bytes: &mut [u8]) {
    if bytes.is_empty() {
        return;
    }
    let at = rng.random_range(0..bytes.len());
    bytes[at] ^= rng.random_range(1..=255u8);
}

/// Asserts neither secret appears in `body`.
fn assert_no_secret(body: &[u8], secrets: &[&str], what: &str) {
    let text = String::from_utf8_lossy(body);
    for secret in secrets {
        assert!(!text.contains(secret), "{what} leaks a secret: {text}");
    }
}

// ---------------------------------------------------------------------------------------------
// Slack
// ---------------------------------------------------------------------------------------------

const SLACK_PATHS: &[&str] = &["/slack/commands", "/slack/interactions"];
const SLACK_FORM: &str = "application/x-www-form-urlencoded";

/// Posts to Slack with the given timestamp and signature (each optional, raw bytes).
async fn slack_post(
    h: &slack::Harness,
    path: &str,
    timestamp: Option<Vec<u8>>,
    signature: Option<Vec<u8>>,
    body: Vec<u8>,
) -> (StatusCode, Bytes) {
    let mut headers = Vec::new();
    if let Some(timestamp) = timestamp {
        headers.push(("x-slack-request-timestamp", timestamp));
    }
    if let Some(signature) = signature {
        headers.push(("x-slack-signature", signature));
    }
    let (status, answer) = raw(&h.router, path, SLACK_FORM, &headers, body).await;
    assert_no_secret(
        &answer,
        &[slack::SECRET, slack::BOT_TOKEN],
        "a Slack answer",
    );
    (status, answer)
}

fn slack_signature(timestamp: &str, body: &[u8]) -> Vec<u8> {
    slack_sign(&SecretString::new(slack::SECRET), timestamp, body).into_bytes()
}

fn slack_genuine(h: &slack::Harness, rng: &mut StdRng, path: &str) -> Vec<u8> {
    let user = *[slack::ALICE, slack::BOB, slack::STRANGER]
        .choose(rng)
        .expect("users");
    if path == "/slack/commands" {
        h.command_body(user, slack::CHANNEL, &random_text(rng))
    } else {
        let action = *["extend", "destroy", "prequel_extend", "prequel_destroy", ""]
            .choose(rng)
            .expect("actions");
        let interview = if rng.random_bool(0.5) {
            format!("k7mq2xw9ab{:02}", rng.random_range(0..100))
        } else {
            random_text(rng)
        };
        h.button_body(user, action, &interview)
    }
    .into_bytes()
}

/// The refusals leave no trace: no interview, no call to Slack.
async fn slack_untouched(h: &slack::Harness, what: &str) {
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        h.interviews().await.is_empty(),
        "{what} created an interview"
    );
    assert!(
        h.fake.calls().is_empty(),
        "{what} called Slack: {:?}",
        h.fake.calls()
    );
}

#[tokio::test]
async fn slack_unsigned_stale_and_tampered_requests_get_401_and_do_nothing() {
    let h = slack::harness().await;
    let mut rng = StdRng::seed_from_u64(9_001);
    let now = h.clock_seconds();

    // (a) Unsigned: random bodies, random or missing headers.
    for round in 0..ROUNDS {
        let path = SLACK_PATHS[round % 2];
        let genuine = slack_genuine(&h, &mut rng, path);
        let body = unsigned_body(&mut rng, &genuine);
        let timestamp = match rng.random_range(0..4) {
            0 => None,
            1 => Some(now.to_string().into_bytes()),
            _ => Some(junk_header(&mut rng, 10)),
        };
        let signature = rng.random_bool(0.8).then(|| junk_header(&mut rng, 64));
        let ssl_check = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body)
            .is_ok_and(|fields| fields.iter().any(|(k, v)| k == "ssl_check" && v == "1"));
        let oversized = body.len() > BODY_LIMIT;
        let (status, answer) = slack_post(&h, path, timestamp, signature, body).await;
        match status {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::PAYLOAD_TOO_LARGE if oversized => {}
            StatusCode::OK if ssl_check => assert!(answer.is_empty()),
            other => panic!("unsigned request #{round} on {path} got {other}"),
        }
    }
    slack_untouched(&h, "an unsigned request").await;

    // (b) Signed with the right secret, but too old or too far ahead (the window is 5 minutes).
    for round in 0..ROUNDS {
        let path = SLACK_PATHS[round % 2];
        let body = slack_genuine(&h, &mut rng, path);
        let skew = rng.random_range(301..1_000_000_000i64);
        let at = if rng.random_bool(0.5) {
            now - skew
        } else {
            now + skew
        };
        let timestamp = at.to_string();
        let signature = slack_signature(&timestamp, &body);
        let (status, _) = slack_post(
            &h,
            path,
            Some(timestamp.into_bytes()),
            Some(signature),
            body,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "stale #{round} on {path}");
    }
    slack_untouched(&h, "a stale request").await;

    // (c) Signed now, then one byte changed: of the body, the signature or the timestamp.
    for round in 0..ROUNDS {
        let path = SLACK_PATHS[round % 2];
        let mut body = slack_genuine(&h, &mut rng, path);
        let mut timestamp = now.to_string().into_bytes();
        let mut signature = slack_signature(&now.to_string(), &body);
        match round % 3 {
            0 => flip_any(&mut rng, &mut body),
            1 => flip_printable(&mut rng, &mut signature),
            _ => flip_printable(&mut rng, &mut timestamp),
        }
        let (status, _) = slack_post(&h, path, Some(timestamp), Some(signature), body).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "tampered #{round} on {path}"
        );
    }
    slack_untouched(&h, "a tampered request").await;
}

/// A form with fields dropped, emptied, doubled, made huge or random, or its bytes cut.
fn mangle_form(rng: &mut StdRng, body: &[u8]) -> Vec<u8> {
    let mut fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    for _ in 0..rng.random_range(1..4) {
        if fields.is_empty() {
            break;
        }
        let at = rng.random_range(0..fields.len());
        match rng.random_range(0..7) {
            0 => {
                fields.remove(at);
            }
            1 => fields[at].1.clear(),
            2 => {
                let copy = fields[at].clone();
                fields.push(copy);
            }
            3 => fields[at].1 = "x".repeat(rng.random_range(1_000..40_000)),
            4 => fields[at].1 = random_text(rng),
            5 => fields[at].1 = String::from_utf8_lossy(&random_bytes(rng, 40)).into_owned(),
            _ => fields[at].1 = json!({"user": [1, null], "actions": 7}).to_string(),
        }
    }
    let mut body = serde_urlencoded::to_string(&fields)
        .unwrap_or_default()
        .into_bytes();
    match rng.random_range(0..5) {
        0 => body.truncate(rng.random_range(0..=body.len())),
        1 => flip_any(rng, &mut body),
        _ => {}
    }
    body
}

/// Mangles the JSON `payload` of an interaction form.
fn mangle_slack_payload(rng: &mut StdRng, body: &[u8]) -> Vec<u8> {
    let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
    let Some(payload) = fields
        .iter()
        .find(|(k, _)| k == "payload")
        .and_then(|(_, v)| serde_json::from_str::<Value>(v).ok())
    else {
        return body.to_vec();
    };
    let payload = mangle_json(rng, payload);
    serde_urlencoded::to_string([("payload", payload)])
        .unwrap_or_default()
        .into_bytes()
}

#[tokio::test]
async fn slack_signed_mangled_requests_never_get_a_5xx_or_leak_a_secret() {
    let h = slack::harness().await;
    let mut rng = StdRng::seed_from_u64(9_002);
    let now = h.clock_seconds().to_string();
    let mut statuses = std::collections::BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for round in 0..ROUNDS * 2 {
        let path = SLACK_PATHS[round % 2];
        let genuine = slack_genuine(&h, &mut rng, path);
        let body = match rng.random_range(0..4) {
            0 => genuine,
            1 | 2 if path == "/slack/interactions" => mangle_slack_payload(&mut rng, &genuine),
            _ => mangle_form(&mut rng, &genuine),
        };
        let signature = slack_signature(&now, &body);
        let fresh = seen.insert(body.clone());
        let (status, answer) = slack_post(
            &h,
            path,
            Some(now.clone().into_bytes()),
            Some(signature),
            body,
        )
        .await;
        *statuses.entry(status.as_u16()).or_insert(0) += 1;
        assert!(
            !status.is_server_error(),
            "signed request #{round} on {path} got {status}: {}",
            String::from_utf8_lossy(&answer)
        );
        // A body sent before (say, a form mangled down to nothing) is a replay: 401. A fresh
        // one is never refused.
        if fresh {
            assert!(
                [200, 400, 413].contains(&status.as_u16()),
                "#{round} on {path}: {status}"
            );
        } else {
            assert_eq!(
                status,
                StatusCode::UNAUTHORIZED,
                "replay #{round} on {path}"
            );
        }
        if status == StatusCode::OK && path == "/slack/commands" {
            let answer: Value = serde_json::from_slice(&answer).expect("a JSON answer");
            assert_eq!(answer["response_type"], "ephemeral", "{answer}");
            let text = answer["text"].as_str().expect("a text");
            assert!(!text.is_empty(), "{answer}");
        }
    }
    eprintln!("slack signed fuzz: statuses {statuses:?}");
    // What the bot sent afterwards (replies, lookups) carries no secret either.
    tokio::time::sleep(Duration::from_millis(500)).await;
    for call in h.fake.calls() {
        assert_no_secret(
            call.params.to_string().as_bytes(),
            &[slack::SECRET, slack::BOT_TOKEN],
            "a message to Slack",
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Discord
// ---------------------------------------------------------------------------------------------

const DISCORD_PATH: &str = "/discord/interactions";

async fn discord_post(
    h: &discord::Harness,
    timestamp: Option<Vec<u8>>,
    signature: Option<Vec<u8>>,
    body: Vec<u8>,
) -> (StatusCode, Bytes) {
    let mut headers = Vec::new();
    if let Some(timestamp) = timestamp {
        headers.push(("x-signature-timestamp", timestamp));
    }
    if let Some(signature) = signature {
        headers.push(("x-signature-ed25519", signature));
    }
    let (status, answer) = raw(&h.router, DISCORD_PATH, "application/json", &headers, body).await;
    assert_no_secret(&answer, &[discord::BOT_TOKEN], "a Discord answer");
    (status, answer)
}

fn discord_genuine(rng: &mut StdRng) -> Value {
    let user = *[discord::ALICE, discord::STRANGER]
        .choose(rng)
        .expect("users");
    let text = random_text(rng);
    match rng.random_range(0..6) {
        0 => json!({ "type": 1, "token": "t" }),
        1 => discord::command(
            user,
            discord::GUILD,
            &[],
            "schedule",
            &[("when", &text), ("duration", "90m"), ("challenge", "rust")],
        ),
        2 => discord::command(
            user,
            discord::GUILD,
            &[],
            "now",
            &[
                ("duration", &text),
                ("challenge", "rust"),
                ("candidate", &text),
            ],
        ),
        3 => discord::command(
            user,
            discord::GUILD,
            &[],
            [
                "list",
                "status",
                "cancel",
                "extend",
                "tz",
                "help",
                "challenges",
                "nope",
            ]
            .choose(rng)
            .expect("subs"),
            &[("interview", &text), ("zone", &text), ("duration", &text)],
        ),
        4 => discord::autocomplete(user, "schedule", "challenge", &text),
        _ => discord::button(user, &format!("extend:{text}")),
    }
}

/// A JSON value with one to three nodes replaced, removed or added.
fn mangle_json(rng: &mut StdRng, mut value: Value) -> Value {
    for _ in 0..rng.random_range(1..4) {
        let replacement = match rng.random_range(0..8) {
            0 => Value::Null,
            1 => json!(rng.random::<i64>()),
            2 => json!(rng.random::<f64>() * 1e300),
            3 => json!("x".repeat(rng.random_range(1_000..40_000))),
            4 => json!(random_text(rng)),
            5 => json!([1, "two", null, {"three": 3}]),
            6 => json!({}),
            _ => json!(rng.random_bool(0.5)),
        };
        mangle_node(rng, &mut value, replacement);
    }
    value
}

/// Walks down a random path and replaces, removes or adds there.
fn mangle_node(rng: &mut StdRng, value: &mut Value, replacement: Value) {
    let descend = rng.random_bool(0.7);
    match value {
        Value::Object(map) if !map.is_empty() => {
            let keys: Vec<String> = map.keys().cloned().collect();
            let key = keys.choose(rng).expect("a key").clone();
            if descend && let Some(child) = map.get_mut(&key) {
                return mangle_node(rng, child, replacement);
            }
            match rng.random_range(0..3) {
                0 => {
                    map.remove(&key);
                }
                1 => {
                    map.insert(key, replacement);
                }
                _ => {
                    map.insert(random_text(rng), replacement);
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let at = rng.random_range(0..items.len());
            if descend {
                return mangle_node(rng, &mut items[at], replacement);
            }
            if rng.random_bool(0.5) {
                items.remove(at);
            } else {
                items[at] = replacement;
            }
        }
        other => *other = replacement,
    }
}

fn discord_now_signed(h: &discord::Harness, body: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let timestamp = h.now_seconds().to_string();
    let signature = discord::sign(&timestamp, body);
    (timestamp.into_bytes(), signature.into_bytes())
}

async fn discord_untouched(h: &discord::Harness, what: &str) {
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(
        h.interviews().await.is_empty(),
        "{what} created an interview"
    );
    assert!(
        h.fake.calls().is_empty(),
        "{what} called Discord: {:?}",
        h.fake.calls()
    );
}

#[tokio::test]
async fn discord_unsigned_stale_and_tampered_requests_get_401_and_do_nothing() {
    let h = discord::harness().await;
    let mut rng = StdRng::seed_from_u64(9_003);
    let now = h.now_seconds();

    // (a) Unsigned: random bodies, random or missing headers.
    for round in 0..ROUNDS {
        let genuine = discord_genuine(&mut rng).to_string().into_bytes();
        let body = unsigned_body(&mut rng, &genuine);
        let timestamp = match rng.random_range(0..4) {
            0 => None,
            1 => Some(now.to_string().into_bytes()),
            _ => Some(junk_header(&mut rng, 10)),
        };
        let signature = rng.random_bool(0.8).then(|| junk_header(&mut rng, 128));
        let oversized = body.len() > BODY_LIMIT;
        let (status, _) = discord_post(&h, timestamp, signature, body).await;
        match status {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::PAYLOAD_TOO_LARGE if oversized => {}
            other => panic!("unsigned request #{round} got {other}"),
        }
    }
    discord_untouched(&h, "an unsigned request").await;

    // (b) Signed with the right key, but too old or too far ahead.
    for round in 0..ROUNDS {
        let body = discord_genuine(&mut rng).to_string().into_bytes();
        let skew = rng.random_range(301..1_000_000_000i64);
        let at = if rng.random_bool(0.5) {
            now - skew
        } else {
            now + skew
        };
        let timestamp = at.to_string();
        let signature = discord::sign(&timestamp, &body).into_bytes();
        let (status, _) =
            discord_post(&h, Some(timestamp.into_bytes()), Some(signature), body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "stale #{round}");
    }
    discord_untouched(&h, "a stale request").await;

    // (c) Signed now, then one byte changed.
    for round in 0..ROUNDS {
        let mut body = discord_genuine(&mut rng).to_string().into_bytes();
        let (mut timestamp, mut signature) = discord_now_signed(&h, &body);
        match round % 3 {
            0 => flip_any(&mut rng, &mut body),
            1 => flip_printable(&mut rng, &mut signature),
            _ => flip_printable(&mut rng, &mut timestamp),
        }
        let (status, _) = discord_post(&h, Some(timestamp), Some(signature), body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "tampered #{round}");
    }
    discord_untouched(&h, "a tampered request").await;
}

#[tokio::test]
async fn discord_signed_mangled_requests_never_get_a_5xx_or_leak_a_secret() {
    let h = discord::harness().await;
    let mut rng = StdRng::seed_from_u64(9_004);
    let mut statuses = std::collections::BTreeMap::new();
    let mut sent = std::collections::HashSet::new();
    for round in 0..ROUNDS * 2 {
        let genuine = discord_genuine(&mut rng);
        let body = match rng.random_range(0..5) {
            0 => genuine.to_string().into_bytes(),
            1 => {
                let mut body = genuine.to_string().into_bytes();
                body.truncate(rng.random_range(0..=body.len()));
                body
            }
            2 => {
                let mut body = genuine.to_string().into_bytes();
                flip_any(&mut rng, &mut body);
                body
            }
            _ => mangle_json(&mut rng, genuine).to_string().into_bytes(),
        };
        let (timestamp, signature) = discord_now_signed(&h, &body);
        // Ed25519 is deterministic: the same bytes at the same second carry the same signature,
        // which is a replay (401), as on Slack. A fresh body is never refused.
        let fresh = sent.insert((timestamp.clone(), body.clone()));
        let (status, answer) = discord_post(&h, Some(timestamp), Some(signature), body).await;
        *statuses.entry(status.as_u16()).or_insert(0) += 1;
        let expected: &[u16] = if fresh { &[200, 400, 413] } else { &[401] };
        assert!(
            expected.contains(&status.as_u16()),
            "signed request #{round} (fresh: {fresh}) got {status}: {}",
            String::from_utf8_lossy(&answer)
        );
        if status == StatusCode::OK {
            let answer: Value = serde_json::from_slice(&answer).expect("a JSON answer");
            assert!(
                answer["type"]
                    .as_u64()
                    .is_some_and(|kind| (1..=9).contains(&kind)),
                "not an interaction response: {answer}"
            );
            if let Some(content) = answer["data"]["content"].as_str() {
                assert!(!content.trim().is_empty(), "{answer}");
            }
        }
    }
    eprintln!("discord signed fuzz: statuses {statuses:?}");
    tokio::time::sleep(Duration::from_millis(500)).await;
    for call in h.fake.calls() {
        assert_no_secret(
            call.body.to_string().as_bytes(),
            &[discord::BOT_TOKEN],
            "a message to Discord",
        );
    }
}
