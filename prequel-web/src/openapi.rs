//! The OpenAPI 3.1 document of the HTTP API, served at `GET /api/openapi.json` (no token: it
//! holds no secret).
//!
//! It is generated from the code with `utoipa`: each handler carries a `#[utoipa::path]` with its
//! route, parameters and every answer it gives (errors included), and each answer is a typed
//! struct in `render` deriving `ToSchema` — the same struct the handler serialises, so the
//! document cannot describe a shape the API does not send. The router itself stays plain axum
//! (the other modules add routes with `.route`); `tests/it/openapi.rs` compares the document with
//! the router's real routes and methods, so a route added without documentation fails a test.
//!
//! Every 4xx/5xx answer is documented with the one error shape, [`ErrorBody`].

use std::sync::LazyLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};

use crate::error::ErrorBody;
#[cfg(test)]
use crate::error::{ApiError, error_codes};
use crate::{metrics, routes, tokens};

/// `GET /api/openapi.json`: this document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "health",
    responses((status = 200, description = "The OpenAPI 3.1 document of this API.", content_type = "application/json", body = Object)),
)]
pub(crate) async fn openapi_json() -> impl IntoResponse {
    static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
        document()
            .to_json()
            .unwrap_or_else(|error| format!("{{\"error\": \"{error}\"}}"))
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        DOCUMENT.as_str(),
    )
}

/// One frame of `GET /api/events`, as a client's event-source parser sees it.
#[derive(ToSchema)]
#[allow(dead_code)] // Describes frames `sse.rs` writes; never built.
struct StreamEvent {
    #[schema(schema_with = stream_event_name_schema)]
    event: String,
    /// A position in the store's change feed; send it back as `Last-Event-ID` to resume.
    #[schema(example = "42")]
    id: String,
    /// One JSON object; its shape depends on `event` (see prequel-web's `sse` module).
    #[schema(content_media_type = "application/json")]
    data: String,
}

fn stream_event_name_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some([
            "connection",
            "heartbeat",
            "operation_status",
            "operation_update",
            "operation_logs",
            "scheduler_event",
        ]))
        .description(Some("What the frame reports."))
        .build()
}

/// `GET /api/events`, documented here because its handler lives in `sse.rs` and the document is
/// this module's business; never called.
#[utoipa::path(
    get,
    path = "/api/events",
    tag = "events",
    params(("Last-Event-ID" = Option<String>, Header, description = "The `id` of the last frame received: the stream first replays every change after it. Absent or malformed: the stream starts now.")),
    responses(
        (status = 200, description = "Server-sent events, one JSON object per `data:`: `connection` first, `operation_status` (every open interview) right after and then periodically, `heartbeat` every 30 s, `operation_update`, `operation_logs`, `scheduler_event`. The stream stays open until the client leaves or the server stops.", content_type = "text/event-stream", body = StreamEvent),
        (status = 401, description = "No admin token or session, or a wrong token (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A personal API token: it opens `POST /api/commands` only (`forbidden`).", body = ErrorBody),
        (status = 503, description = "The store is unreachable; retry later (`unavailable`).", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
#[allow(dead_code)] // Only its generated `__path_events` is used.
fn events() {}

/// The generated document.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Prequel",
        description = "Coding interviews on demand. Every 4xx/5xx answer is \
                       `{\"error\": {\"code\", \"message\"}}`.",
    ),
    paths(
        routes::command,
        routes::list,
        routes::one,
        routes::report,
        events,
        tokens::create,
        tokens::list,
        tokens::revoke,
        routes::healthz,
        routes::readyz,
        metrics::metrics,
        openapi_json,
    ),
    components(schemas(ErrorBody)),
    modifiers(&Security),
    tags(
        (name = "interviews", description = "Commands and the interviews they make."),
        (name = "events", description = "Live changes."),
        (name = "tokens", description = "Personal API tokens (admin token only)."),
        (name = "health", description = "Probes, metrics and this document."),
    ),
)]
struct ApiDoc;

/// Declares the schemes the operations name: `bearer`, the admin token, which opens every
/// route, or a personal API token, which opens `POST /api/commands` only; `session`, the status page's cookie, which opens the read-only ones (see `auth`).
/// Read-only routes are also open to loopback peers when `WebConfig::open_on_loopback` is set;
/// that is a deployment switch, not a scheme, so the document leaves it out.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "The admin token, kept in the server's <data dir>/admin-token; or, for \
                         `POST /api/commands` only, a personal API token (`pqt_…`) acting as \
                         its user.",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::with_description(
                crate::auth::SESSION_COOKIE,
                "The status page's session, set by signing in at `/` with the admin token.",
            ))),
        );
    }
}

/// The OpenAPI document, `info.version` being this crate's version.
pub(crate) fn document() -> utoipa::openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    env!("CARGO_PKG_VERSION").clone_into(&mut document.info.version);
    document
}

#[cfg(test)]
mod tests {
    use axum::body::to_bytes;

    use super::*;

    #[tokio::test]
    async fn every_api_error_answers_exactly_the_documented_shape() {
        for code in error_codes() {
            let error = match code {
                "payload_too_large" => ApiError::PayloadTooLarge { limit: 1 },
                "unavailable" => ApiError::Unavailable {
                    message: "m".into(),
                    detail: "d".into(),
                },
                "internal" => ApiError::Internal { detail: "d".into() },
                "bad_request" => ApiError::BadRequest("m".into()),
                "unauthorized" => ApiError::Unauthorized("m".into()),
                "forbidden" => ApiError::Forbidden("m".into()),
                "not_found" => ApiError::NotFound("m".into()),
                "method_not_allowed" => ApiError::MethodNotAllowed("m".into()),
                "conflict" => ApiError::Conflict("m".into()),
                other => panic!("unknown code {other}"),
            };
            let documented = serde_json::to_value(ErrorBody::from(&error)).expect("serialise");
            let response = error.into_response();
            let bytes = to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body");
            let sent: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
            assert_eq!(sent, documented, "{code}");
        }
    }

    #[test]
    fn the_document_carries_the_crate_version_and_the_bearer_scheme() {
        let document = serde_json::to_value(document()).expect("serialise");
        assert_eq!(document["info"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(
            document["components"]["securitySchemes"]["bearer"]["scheme"],
            "bearer"
        );
        assert_eq!(
            document["components"]["schemas"]["ErrorDetail"]["properties"]["code"]["enum"]
                .as_array()
                .map(Vec::len),
            Some(9)
        );
    }
}
