//! # prequel-web
//!
//! Prequel's HTTP surface: [`router`] builds an `axum::Router` over an [`ApiState`] (the
//! [`Prequel`] facade and the admin token). The server-sent events stream and the status page
//! (issue 4) will join it.
//!
//! ## The JSON API
//!
//! Every route except `GET /healthz` needs `Authorization: Bearer <admin token>`.
//!
//! | route | answer |
//! |---|---|
//! | `GET /healthz` | `{"status": "ok"}` |
//! | `POST /api/commands` | the outcome of the words, see below |
//! | `GET /api/interviews?all=&limit=&after=` | `{"interviews": [interview…], "next": token \| null}` |
//! | `GET /api/interviews/{id}` | `{"interview": interview, "operations": [operation…]}` |
//!
//! `POST /api/commands` takes `{"text": "schedule tomorrow 2pm 90m python", "tz":
//! "Europe/Berlin", "user": "alice"}` (`tz` defaults to the server's zone, `user` to `api`;
//! unknown keys are refused) and answers `{"action": "<schedule|create|list|status|cancel|
//! destroy|extend|creds|challenges|tz|help>", …}` with
//!
//! - `"interview": interview` for the actions about one interview, and `"operations":
//!   [operation…]` beside it for `status`;
//! - `"password": "…"` beside the interview **only** in the answers to `create` (`now`) and
//!   `creds` (absent from `creds` while the interview has no password);
//! - `"interviews": [interview…]` for `list`, `"challenges": [id…]` for `challenges`,
//!   `"time_zone": "Europe/Berlin"` for `tz`, `"text": "…"` for `help`.
//!
//! An interview is `{"id", "status", "challenge", "candidate", "start", "end", "access_url",
//! "reason", "time_zone"}` with `start`/`end` in RFC 3339 in the interview's zone; an operation
//! is `{"kind", "status", "attempts", "error", "due_at"}`. Neither ever holds a secret.
//!
//! ## Errors
//!
//! Every 4xx/5xx answer is `{"error": {"code": …, "message": "<one line for a person>"}}` (see
//! [`ApiError`]): `bad_request` 400 (malformed JSON, wrong content type, unknown keys, words the
//! grammar refuses, a malformed id), `unauthorized` 401, `not_found` 404, `method_not_allowed`
//! 405, `conflict` 409 (valid but not possible now), `payload_too_large` 413 (bodies over
//! [`BODY_LIMIT`]), `internal` 500, `unavailable` 503 (the store or secret store is
//! unreachable; retry later).

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post};
use chrono_tz::Tz;
use prequel_core::Prequel;
use prequel_core::domain::SecretString;
use tokio::sync::watch;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

mod auth;
mod error;
mod extract;
mod render;
mod routes;

pub use error::ApiError;
pub use extract::BODY_LIMIT;

/// What the handlers share.
#[derive(Debug, Clone)]
pub struct ApiState {
    /// The engine.
    pub prequel: Prequel,
    /// The token every `/api` request must present as `Authorization: Bearer …`.
    pub admin_token: SecretString,
    /// The zone commands are read in when the request names none.
    pub default_zone: Tz,
    /// Timings and switches of the web surface.
    pub config: WebConfig,
    /// Turns true when the server shuts down: open event streams end at once, so a graceful
    /// shutdown does not wait for clients that never hang up.
    pub shutdown: watch::Receiver<bool>,
    /// Keeps the default signal's sender alive, so an unset signal never reads as "closed".
    _never_sent: Option<std::sync::Arc<watch::Sender<bool>>>,
}

impl ApiState {
    /// State with the default [`WebConfig`] and no shutdown signal (streams end when their
    /// client leaves).
    pub fn new(prequel: Prequel, admin_token: SecretString, default_zone: Tz) -> Self {
        let (sender, shutdown) = watch::channel(false);
        Self {
            prequel,
            admin_token,
            default_zone,
            config: WebConfig::default(),
            shutdown,
            _never_sent: Some(std::sync::Arc::new(sender)),
        }
    }

    /// Ends event streams when `shutdown` turns true.
    pub fn with_shutdown(mut self, shutdown: watch::Receiver<bool>) -> Self {
        self.shutdown = shutdown;
        self._never_sent = None;
        self
    }

    /// Uses these timings and switches.
    pub fn with_config(mut self, config: WebConfig) -> Self {
        self.config = config;
        self
    }
}

/// Timings and switches of the web surface. `Default` gives the production values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebConfig {
    /// How often an event stream sends `heartbeat` (keeps proxies from closing idle streams).
    pub heartbeat: std::time::Duration,
    /// How often an event stream sends `operation_status` (the summary of open interviews).
    pub status_every: std::time::Duration,
    /// Whether the status page and its read-only data are open, without the admin token, to
    /// requests from loopback addresses (for a single-machine setup).
    pub open_on_loopback: bool,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self {
            heartbeat: std::time::Duration::from_secs(30),
            status_every: std::time::Duration::from_secs(15),
            open_on_loopback: false,
        }
    }
}

/// The HTTP routes of Prequel (see the crate documentation for the API).
pub fn router(state: ApiState) -> Router {
    let api = Router::new()
        .route("/api/commands", post(routes::command))
        .route("/api/interviews", get(routes::list))
        .route("/api/interviews/{id}", get(routes::one))
        // A route layer runs only for matched routes, so unknown paths are a 404, not a 401.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin,
        ));
    Router::new()
        .route("/healthz", get(routes::healthz))
        .merge(api)
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // The default span records method, URI and version, not headers, so the
        // `Authorization` header never reaches the log.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(state)
}
