//! A local fake of Discord's REST API for the Discord frontend's tests: an axum server on a
//! free loopback port, mounted under `/api/v10` like Discord's, answering the routes Prequel
//! calls and recording every call.
//!
//! - `PATCH /webhooks/{app}/{token}/messages/@original`, `POST /webhooks/{app}/{token}`:
//!   interaction responses; authorised by their token (any `Authorization` is recorded — the
//!   bot token must not go there).
//! - `POST /users/@me/channels` (`recipient_id` → DM channel `dm-<user>`),
//!   `POST /channels/{id}/messages` (answers a new id), `PATCH /channels/{id}/messages/{mid}`,
//!   `PUT /applications/{app}/commands`, `PUT /applications/{app}/guilds/{g}/commands`:
//!   bot routes; without `Authorization: Bot <token>` they answer 401 as Discord does.
//! - [`FakeDiscord::rate_limit`] makes the next calls of a route answer 429 with a JSON
//!   `retry_after`, as Discord does.

#![allow(dead_code)] // Each helper is used by some test module, not necessarily all.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post, put};
use serde_json::{Value, json};
use tokio::task::JoinHandle;

/// One recorded call.
#[derive(Debug, Clone, PartialEq)]
pub struct DiscordCall {
    /// Which route: `edit_original`, `followup`, `open_dm`, `create_message`, `edit_message`,
    /// `put_commands`.
    pub route: &'static str,
    /// The channel of a message route.
    pub channel: Option<String>,
    /// The message id: answered by `create_message`, addressed by `edit_message`.
    pub message_id: Option<String>,
    /// The interaction token of a webhook route.
    pub interaction_token: Option<String>,
    /// The guild of a guild command registration.
    pub guild: Option<String>,
    /// The JSON body.
    pub body: Value,
    /// Whether `Authorization: Bot <token>` came along.
    pub authorized: bool,
    /// Whether any `Authorization` header came along.
    pub had_authorization: bool,
}

impl DiscordCall {
    /// The body as text, for "does this message contain …" checks.
    pub fn content(&self) -> String {
        self.body.to_string()
    }

    /// `custom_id`s of every button in the body's components.
    pub fn custom_ids(&self) -> Vec<String> {
        let mut out = Vec::new();
        for row in self.body["components"].as_array().into_iter().flatten() {
            for button in row["components"].as_array().into_iter().flatten() {
                if let Some(id) = button["custom_id"].as_str() {
                    out.push(id.to_owned());
                }
            }
        }
        out
    }

    /// Whether the body carries the ephemeral flag (64).
    pub fn ephemeral(&self) -> bool {
        self.body["flags"].as_u64().is_some_and(|f| f & 64 != 0)
    }
}

#[derive(Debug, Default)]
struct Fake {
    token: String,
    calls: Vec<DiscordCall>,
    rate_limits: HashMap<&'static str, u32>,
    next_id: u64,
}

/// The running fake. Stops when dropped.
#[derive(Debug)]
pub struct FakeDiscord {
    addr: SocketAddr,
    state: Arc<Mutex<Fake>>,
    server: JoinHandle<()>,
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        self.server.abort();
    }
}

type Shared = Arc<Mutex<Fake>>;

fn lock(state: &Shared) -> MutexGuard<'_, Fake> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FakeDiscord {
    /// Starts a fake that accepts `bot_token`.
    pub async fn start(bot_token: &str) -> Self {
        let state: Shared = Arc::new(Mutex::new(Fake {
            token: bot_token.to_owned(),
            next_id: 1_180_000_000_000_000_000,
            ..Fake::default()
        }));
        let api = Router::new()
            .route(
                "/webhooks/{app}/{token}/messages/@original",
                patch(edit_original),
            )
            .route("/webhooks/{app}/{token}", post(followup))
            .route("/users/@me/channels", post(open_dm))
            .route("/channels/{channel}/messages", post(create_message))
            .route(
                "/channels/{channel}/messages/{message}",
                patch(edit_message),
            )
            .route("/applications/{app}/commands", put(put_global))
            .route(
                "/applications/{app}/guilds/{guild}/commands",
                put(put_guild),
            );
        let app = Router::new()
            .nest("/api/v10", api)
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake discord");
        let addr = listener.local_addr().expect("local addr");
        let server = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            addr,
            state,
            server,
        }
    }

    /// The REST base URL to configure (`PREQUEL_DISCORD_API_URL`).
    pub fn api_url(&self) -> String {
        format!("http://{}/api/v10/", self.addr)
    }

    /// The next `times` calls of `route` answer 429 with `retry_after` 0.05 s.
    pub fn rate_limit(&self, route: &'static str, times: u32) {
        lock(&self.state).rate_limits.insert(route, times);
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<DiscordCall> {
        lock(&self.state).calls.clone()
    }

    /// The calls of one route, in order.
    pub fn calls_of(&self, route: &str) -> Vec<DiscordCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.route == route)
            .collect()
    }
}

/// Which routes need the bot token (webhook routes are authorised by their path).
fn bot_route(route: &str) -> bool {
    !matches!(route, "edit_original" | "followup")
}

/// Records a call and answers it: 429 while rate-limited, 401 for a bot route without the
/// bot token, else `answer`'s JSON.
fn record(state: &Shared, headers: &HeaderMap, mut call: DiscordCall, body: &Bytes) -> Response {
    let mut fake = lock(state);
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    call.had_authorization = auth.is_some();
    call.authorized = auth == Some(format!("Bot {}", fake.token).as_str());
    call.body = serde_json::from_slice(body).unwrap_or(Value::Null);
    if let Some(left) = fake.rate_limits.get_mut(call.route)
        && *left > 0
    {
        *left -= 1;
        fake.calls.push(call);
        return (
            StatusCode::TOO_MANY_REQUESTS,
            Json(json!({ "message": "You are being rate limited.", "retry_after": 0.05, "global": false })),
        )
            .into_response();
    }
    if bot_route(call.route) && !call.authorized {
        fake.calls.push(call);
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "message": "401: Unauthorized", "code": 0 })),
        )
            .into_response();
    }
    let answer = match call.route {
        "open_dm" => {
            let user = call.body["recipient_id"].as_str().unwrap_or_default();
            json!({ "id": format!("dm-{user}"), "type": 1, "recipients": [{ "id": user }] })
        }
        "create_message" => {
            fake.next_id += 1;
            let id = fake.next_id.to_string();
            call.message_id = Some(id.clone());
            json!({ "id": id, "channel_id": call.channel, "content": call.body["content"] })
        }
        "edit_message" | "edit_original" | "followup" => json!({
            "id": call.message_id.clone().unwrap_or_else(|| "1".to_owned()),
            "content": call.body["content"],
        }),
        _ => call.body.clone(),
    };
    fake.calls.push(call);
    (StatusCode::OK, Json(answer)).into_response()
}

fn call(route: &'static str) -> DiscordCall {
    DiscordCall {
        route,
        channel: None,
        message_id: None,
        interaction_token: None,
        guild: None,
        body: Value::Null,
        authorized: false,
        had_authorization: false,
    }
}

async fn edit_original(
    State(state): State<Shared>,
    Path((_app, token)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut c = call("edit_original");
    c.interaction_token = Some(token);
    record(&state, &headers, c, &body)
}

async fn followup(
    State(state): State<Shared>,
    Path((_app, token)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut c = call("followup");
    c.interaction_token = Some(token);
    record(&state, &headers, c, &body)
}

async fn open_dm(State(state): State<Shared>, headers: HeaderMap, body: Bytes) -> Response {
    record(&state, &headers, call("open_dm"), &body)
}

async fn create_message(
    State(state): State<Shared>,
    Path(channel): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut c = call("create_message");
    c.channel = Some(channel);
    record(&state, &headers, c, &body)
}

async fn edit_message(
    State(state): State<Shared>,
    Path((channel, message)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut c = call("edit_message");
    c.channel = Some(channel);
    c.message_id = Some(message);
    record(&state, &headers, c, &body)
}

async fn put_global(
    State(state): State<Shared>,
    Path(_app): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&state, &headers, call("put_commands"), &body)
}

async fn put_guild(
    State(state): State<Shared>,
    Path((_app, guild)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let mut c = call("put_commands");
    c.guild = Some(guild);
    record(&state, &headers, c, &body)
}
