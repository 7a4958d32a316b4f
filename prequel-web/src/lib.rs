//! # prequel-web
//!
//! Prequel's HTTP surface: [`router`] builds an `axum::Router` over an [`ApiState`] (the
//! [`Prequel`] facade and the admin token): the JSON API, the server-sent events stream and the
//! status page.
//!
//! ## The JSON API
//!
//! `POST /api/commands` needs `Authorization: Bearer <token>`: the admin token (acting as the
//! admin, or on behalf of a named `user`), or a personal API token (acting as its user; `user`
//! refused). `POST/GET /api/tokens` and `DELETE /api/tokens/{id}` make, list and revoke personal
//! tokens, with the admin token only. The read-only routes
//! (`GET /api/interviews…`, `GET /api/events`) take the token too, or the status page's session
//! cookie, or nothing from a loopback peer when [`WebConfig::open_on_loopback`] is set.
//!
//! ## The status page
//!
//! `GET /` is a live, read-only page of the interviews (one self-contained HTML file). A visitor
//! without access gets a form asking for the admin token once; `POST /session` (form or JSON
//! field `token`) sets the `HttpOnly`, `SameSite=Strict` cookie `prequel_session`, whose value
//! is derived from the token (HMAC-SHA256), not the token itself, so it opens the read-only
//! routes and never `POST /api/commands`. `POST /session/logout` clears it.
//!
//! | route | answer |
//! |---|---|
//! | `GET /healthz` | `{"status": "ok"}` |
//! | `POST /api/commands` | the outcome of the words, see below |
//! | `GET /api/interviews?all=&limit=&after=` | `{"interviews": [interview…], "next": token \| null}` |
//! | `GET /api/interviews/{id}` | `{"interview": interview, "operations": [operation…]}` |
//! | `GET /api/interviews/{id}/report` | `{"interview", "grades", "notes", "scores", "snapshots", "archive_url"}`: the admin token or the personal token of the interview's people |
//! | `POST /api/tokens` | 201 `{"token": "pqt_…", "api_token": token}` (the token shown this once) |
//! | `GET /api/tokens` | `{"tokens": [token…]}` (never a token or its hash) |
//! | `DELETE /api/tokens/{id}` | the token, revoked |
//! | `GET /readyz` | `{"status": "ready", "store": "ok", "scheduler": "ok"}`, else 503 `unavailable` naming what is not ready |
//! | `GET /metrics` | Prometheus text format 0.0.4 (the families are listed in `metrics.rs`) |
//! | `GET /api/openapi.json` | the OpenAPI 3.1 document of every route here, generated from the code |
//!
//! `GET /healthz`, `GET /readyz` and `GET /api/openapi.json` need nothing (probes and tools
//! read them; none tells a secret); `GET /metrics` needs the admin token, like
//! `POST /api/commands`. Ready means the store answers and this process's scheduler made a
//! pass within twice its poll cap.
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
//! "reason", "time_zone", "requested_by": {"platform", "user_id", "display_name"}}` with
//! `start`/`end` in RFC 3339 in the interview's zone; an operation is `{"kind", "status",
//! "attempts", "error", "due_at"}`. Neither ever holds a secret.
//!
//! ## Errors
//!
//! Every 4xx/5xx answer is `{"error": {"code": …, "message": "<one line for a person>"}}` (see
//! [`ApiError`]): `bad_request` 400 (malformed JSON, wrong content type, unknown keys, words the
//! grammar refuses, a malformed id), `unauthorized` 401, `forbidden` 403 (someone else's
//! interview, or a personal token where the admin token is needed), `not_found` 404, `method_not_allowed`
//! 405, `conflict` 409 (valid but not possible now), `payload_too_large` 413 (bodies over
//! [`BODY_LIMIT`]), `internal` 500, `unavailable` 503 (the store or secret store is
//! unreachable; retry later).

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{delete, get, post};
use chrono_tz::Tz;
use prequel_core::Prequel;
use prequel_core::domain::SecretString;
use tokio::sync::watch;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::trace::{DefaultMakeSpan, DefaultOnResponse, TraceLayer};
use tracing::Level;

mod auth;
mod error;
mod extract;
mod metrics;
mod openapi;
mod page;
mod render;
mod routes;
mod sse;
mod tokens;

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
    /// What the `/api/events` streams share (their count, rendered events); shared by clones.
    sse: std::sync::Arc<sse::Shared>,
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
            sse: std::sync::Arc::default(),
        }
    }

    /// How many `GET /api/events` streams are open now (for metrics). A stream counts from the
    /// moment its request is accepted until it ends: client gone, or shutdown.
    pub fn sse_clients(&self) -> usize {
        self.sse.clients()
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
    // Commands: the admin token, or a personal API token acting as its user (see `auth`).
    let commands = Router::new()
        .route("/api/commands", post(routes::command))
        // The report is the interview's people's business: the same credentials as commands.
        .route("/api/interviews/{id}/report", get(routes::report))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_caller,
        ));
    // The admin's routes: the admin token only.
    let api = Router::new()
        .route("/api/tokens", post(tokens::create).get(tokens::list))
        .route("/api/tokens/{id}", delete(tokens::revoke))
        // Not secret, but it shows how busy the service is and when (see `metrics`).
        .route("/metrics", get(metrics::metrics))
        // A route layer runs only for matched routes, so unknown paths are a 404, not a 401.
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin,
        ));
    // The read-only routes: the admin token, the status page's session cookie, or a loopback
    // peer when `WebConfig::open_on_loopback` (see `auth`). Nothing here may change anything.
    let read = Router::new()
        .route("/api/interviews", get(routes::list))
        .route("/api/interviews/{id}", get(routes::one))
        .route("/api/events", get(sse::events))
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_reader,
        ));
    Router::new()
        .route("/healthz", get(routes::healthz))
        // Load balancers poll it without a token; it says only "ready" or which part is not.
        .route("/readyz", get(routes::readyz))
        .route("/api/openapi.json", get(openapi::openapi_json))
        // The status page decides itself between the page and its sign-in form.
        .route("/", get(page::index))
        .route("/session", post(page::sign_in))
        .route("/session/logout", post(page::sign_out))
        .merge(commands)
        .merge(api)
        .merge(read)
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        // A handler that panics answers 500 in the one error shape (its message goes to the
        // log), instead of dropping the connection.
        .layer(CatchPanicLayer::custom(error::panic_response))
        // The default span records method, URI and version, not headers, so the
        // `Authorization` header never reaches the log.
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(DefaultMakeSpan::new().level(Level::INFO))
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        .with_state(state)
}
