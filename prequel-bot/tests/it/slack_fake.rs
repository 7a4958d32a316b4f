//! A local fake of Slack's Web API for the Slack frontend's tests (inbound and outbound): an
//! axum server on a free loopback port that answers the methods Prequel calls, checks the bot
//! token on every Web API call, and records every call for assertions.
//!
//! - `GET|POST /api/<method>`: `users.info` (time zone per user, [`FakeSlack::set_zone`]),
//!   `conversations.open` (the DM channel with `U…` is `D…`), `chat.postMessage` (answers a new
//!   `ts`), `chat.update`, `chat.postEphemeral`, `usergroups.users.list`
//!   ([`FakeSlack::set_group`]); anything else is `unknown_method`. Without
//!   `Authorization: Bearer <bot token>` the answer is `{"ok":false,"error":"invalid_auth"}`.
//!   Parameters are read from the query, a JSON body or a form body, as Slack does.
//! - `POST /response/<id>`: a `response_url` ([`FakeSlack::response_url`]); recorded, with
//!   whether an `Authorization` header came along (it must not: the URL authorises itself).
//! - [`FakeSlack::rate_limit`] makes the next calls of a method answer 429 with `Retry-After`.

#![allow(dead_code)] // Each helper is used by some test module, not necessarily all.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, post};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// One recorded call.
#[derive(Debug, Clone, PartialEq)]
pub struct SlackCall {
    /// The Web API method (`chat.postMessage`, …), or `response_url` for a response URL.
    pub method: String,
    /// `channel` parameter, if any.
    pub channel: Option<String>,
    /// `user` (or `users`) parameter, if any.
    pub user: Option<String>,
    /// `text` parameter, if any.
    pub text: Option<String>,
    /// `ts` parameter (chat.update) or the `ts` answered (chat.postMessage).
    pub ts: Option<String>,
    /// `blocks`, as JSON (a string-encoded form body is decoded).
    pub blocks: Option<Value>,
    /// Every parameter as JSON, for anything else.
    pub params: Value,
    /// For `response_url`: its id. Otherwise `None`.
    pub response_id: Option<String>,
    /// Whether the call carried the right bot token (always checked for Web API calls).
    pub authorized: bool,
    /// Whether any `Authorization` header was sent.
    pub had_authorization: bool,
}

impl SlackCall {
    /// The call's text and blocks, for "does this message contain …" checks.
    pub fn content(&self) -> String {
        format!(
            "{}\n{}",
            self.text.as_deref().unwrap_or_default(),
            self.blocks
                .as_ref()
                .map(Value::to_string)
                .unwrap_or_default()
        )
    }

    /// `action_id`s of every button in the blocks.
    pub fn action_ids(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(blocks) = self.blocks.as_ref().and_then(Value::as_array) {
            for block in blocks.iter().filter(|b| b["type"] == "actions") {
                for element in block["elements"].as_array().into_iter().flatten() {
                    if let Some(id) = element["action_id"].as_str() {
                        out.push(id.to_owned());
                    }
                }
            }
        }
        out
    }
}

#[derive(Debug, Default)]
struct Fake {
    token: String,
    calls: Vec<SlackCall>,
    zones: HashMap<String, String>,
    groups: HashMap<String, Vec<String>>,
    rate_limits: HashMap<String, u32>,
    next_ts: u64,
}

/// The running fake. Stops when dropped.
#[derive(Debug)]
pub struct FakeSlack {
    addr: SocketAddr,
    state: Arc<Mutex<Fake>>,
    server: JoinHandle<()>,
}

impl Drop for FakeSlack {
    fn drop(&mut self) {
        self.server.abort();
    }
}

type Shared = Arc<Mutex<Fake>>;

fn lock(state: &Shared) -> MutexGuard<'_, Fake> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeSlack {
    /// Starts a fake that accepts `bot_token`. Users have the zone `Europe/Paris` unless set.
    pub async fn start(bot_token: &str) -> Self {
        let state: Shared = Arc::new(Mutex::new(Fake {
            token: bot_token.to_owned(),
            next_ts: 1_795_428_000_000_100,
            ..Fake::default()
        }));
        let app = Router::new()
            .route("/api/{method}", any(web_api))
            .route("/response/{id}", post(response_url))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake slack");
        let addr = listener.local_addr().expect("fake slack address");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            state,
            server,
        }
    }

    /// The Web API base URL to give the client (`PREQUEL_SLACK_API_URL`).
    pub fn api_url(&self) -> String {
        format!("http://{}/api", self.addr)
    }

    /// A response_url for a slash command or interaction, recorded as `response_url` with `id`.
    pub fn response_url(&self, id: &str) -> String {
        format!("http://{}/response/{id}", self.addr)
    }

    /// Sets a user's `tz` in users.info.
    pub fn set_zone(&self, user: &str, zone: &str) {
        lock(&self.state)
            .zones
            .insert(user.to_owned(), zone.to_owned());
    }

    /// Sets a user group's members (usergroups.users.list).
    pub fn set_group(&self, group: &str, members: &[&str]) {
        lock(&self.state).groups.insert(
            group.to_owned(),
            members.iter().map(|m| (*m).to_owned()).collect(),
        );
    }

    /// The next `times` calls of `method` answer HTTP 429 with `Retry-After: 1`.
    pub fn rate_limit(&self, method: &str, times: u32) {
        lock(&self.state)
            .rate_limits
            .insert(method.to_owned(), times);
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<SlackCall> {
        lock(&self.state).calls.clone()
    }

    /// The calls of one method, in order.
    pub fn calls_of(&self, method: &str) -> Vec<SlackCall> {
        self.calls()
            .into_iter()
            .filter(|call| call.method == method)
            .collect()
    }
}

/// Parameters from the query, then a JSON or form body.
fn params(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> serde_json::Map<String, Value> {
    let mut out = serde_json::Map::new();
    if let Some(query) = query {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_str(query).unwrap_or_default();
        for (k, v) in pairs {
            out.insert(k, Value::String(v));
        }
    }
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if content_type.starts_with("application/json") {
        if let Ok(Value::Object(map)) = serde_json::from_slice(body) {
            out.extend(map);
        }
    } else if !body.is_empty() {
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).unwrap_or_default();
        for (k, v) in pairs {
            out.insert(k, Value::String(v));
        }
    }
    out
}

fn text_param(params: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    match params.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => Some(
            items
                .iter()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(","),
        ),
        other => Some(other.to_string()),
    }
}

fn blocks_param(params: &serde_json::Map<String, Value>) -> Option<Value> {
    match params.get("blocks")? {
        // A form body carries blocks as a JSON string.
        Value::String(s) => serde_json::from_str(s).ok(),
        other => Some(other.clone()),
    }
}

fn ok(body: Value) -> Response {
    (StatusCode::OK, axum::Json(body)).into_response()
}

async fn web_api(
    State(state): State<Shared>,
    Path(method): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = params(query.as_deref(), &headers, &body);
    let mut fake = lock(&state);
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    let authorized = authorization == Some(format!("Bearer {}", fake.token).as_str());
    let mut call = SlackCall {
        method: method.clone(),
        channel: text_param(&params, "channel"),
        user: text_param(&params, "user").or_else(|| text_param(&params, "users")),
        text: text_param(&params, "text"),
        ts: text_param(&params, "ts"),
        blocks: blocks_param(&params),
        params: Value::Object(params.clone()),
        response_id: None,
        authorized,
        had_authorization: authorization.is_some(),
    };
    if let Some(left) = fake.rate_limits.get_mut(&method).filter(|left| **left > 0) {
        *left -= 1;
        fake.calls.push(call);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "1")],
            axum::Json(json!({ "ok": false, "error": "ratelimited" })),
        )
            .into_response();
    }
    if !authorized {
        fake.calls.push(call);
        return ok(json!({ "ok": false, "error": "invalid_auth" }));
    }
    let answer = match method.as_str() {
        "users.info" => {
            let user = call.user.clone().unwrap_or_default();
            let tz = fake
                .zones
                .get(&user)
                .cloned()
                .unwrap_or_else(|| "Europe/Paris".to_owned());
            json!({ "ok": true, "user": { "id": user, "name": user, "tz": tz } })
        }
        "conversations.open" => {
            let user = call.user.clone().unwrap_or_default();
            let id = format!("D{}", user.trim_start_matches('U'));
            json!({ "ok": true, "channel": { "id": id } })
        }
        "chat.postMessage" => match &call.channel {
            Some(channel) => {
                fake.next_ts += 1;
                let seq = fake.next_ts;
                let ts = format!("{}.{:06}", seq / 1_000_000, seq % 1_000_000);
                call.ts = Some(ts.clone());
                json!({ "ok": true, "channel": channel, "ts": ts, "message": { "text": call.text } })
            }
            None => json!({ "ok": false, "error": "channel_not_found" }),
        },
        "chat.update" => match (&call.channel, &call.ts) {
            (Some(channel), Some(ts)) => {
                let posted = fake.calls.iter().any(|c| {
                    c.method == "chat.postMessage"
                        && c.channel.as_ref() == Some(channel)
                        && c.ts.as_ref() == Some(ts)
                });
                if posted {
                    json!({ "ok": true, "channel": channel, "ts": ts, "text": call.text })
                } else {
                    json!({ "ok": false, "error": "message_not_found" })
                }
            }
            _ => json!({ "ok": false, "error": "message_not_found" }),
        },
        "chat.postEphemeral" => {
            fake.next_ts += 1;
            let seq = fake.next_ts;
            json!({ "ok": true, "message_ts": format!("{}.{:06}", seq / 1_000_000, seq % 1_000_000) })
        }
        "usergroups.users.list" => {
            let group = text_param(&params, "usergroup").unwrap_or_default();
            match fake.groups.get(&group) {
                Some(users) => json!({ "ok": true, "users": users }),
                None => json!({ "ok": false, "error": "no_such_subteam" }),
            }
        }
        _ => json!({ "ok": false, "error": "unknown_method" }),
    };
    fake.calls.push(call);
    ok(answer)
}

async fn response_url(
    State(state): State<Shared>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params = params(None, &headers, &body);
    let call = SlackCall {
        method: "response_url".to_owned(),
        channel: None,
        user: None,
        text: text_param(&params, "text"),
        ts: None,
        blocks: blocks_param(&params),
        params: Value::Object(params),
        response_id: Some(id),
        authorized: true,
        had_authorization: headers.contains_key(header::AUTHORIZATION),
    };
    lock(&state).calls.push(call);
    ok(json!({ "ok": true }))
}
