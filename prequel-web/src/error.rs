//! The one error shape of the API: every 4xx and 5xx answer is
//!
//! ```json
//! {"error": {"code": "not_found", "message": "there is no interview `k7mq2xw9ab3c` (see `list` for yours)"}}
//! ```
//!
//! `message` is one line for a person. Internal details (store errors, I/O) are logged with
//! `tracing` and never put in an answer.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prequel_core::PrequelError;
use prequel_core::store::StoreError;
use serde::Serialize;
use thiserror::Error;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

/// An error answer of the API.
#[derive(Debug, Error)]
pub enum ApiError {
    /// The request itself was wrong (bad JSON, bad words, bad query); the message says how.
    #[error("{0}")]
    BadRequest(String),
    /// No token, or the wrong one.
    #[error("{0}")]
    Unauthorized(String),
    /// The caller may not do this (someone else's interview, an admin's command).
    #[error("{0}")]
    Forbidden(String),
    /// No such interview or route.
    #[error("{0}")]
    NotFound(String),
    /// The route exists but not with this method.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The command is valid but not possible now (it has already started, ended, …).
    #[error("{0}")]
    Conflict(String),
    /// The body is larger than the API accepts.
    #[error("the request body is larger than {limit} bytes")]
    PayloadTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A backend is unreachable; the person may retry. `message` is for people, `detail` for
    /// the log only.
    #[error("{message}")]
    Unavailable {
        /// The line shown.
        message: String,
        /// What went wrong inside (logged, never returned).
        detail: String,
    },
    /// A bug or an unexpected failure; `detail` is logged, never returned.
    #[error("internal error")]
    Internal {
        /// What went wrong inside (logged, never returned).
        detail: String,
    },
}

impl ApiError {
    /// The HTTP status of the answer.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The machine-readable `code` of the answer.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest(_) => "bad_request",
            Self::Unauthorized(_) => "unauthorized",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::Conflict(_) => "conflict",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::Unavailable { .. } => "unavailable",
            Self::Internal { .. } => "internal",
        }
    }

    /// The line shown to a person: never an internal detail.
    pub fn message(&self) -> String {
        match self {
            Self::Internal { .. } => {
                "something went wrong inside Prequel; the server log has the details".to_owned()
            }
            other => other.to_string(),
        }
    }
}

impl From<PrequelError> for ApiError {
    fn from(error: PrequelError) -> Self {
        let message = error.user_message();
        match error {
            PrequelError::Command(_) | PrequelError::Invalid(_) => Self::BadRequest(message),
            PrequelError::NotFound(_) => Self::NotFound(message),
            PrequelError::Forbidden(_) => Self::Forbidden(message),
            // Raced with expiry or a delete between two reads; the store's text names the record.
            PrequelError::Store(StoreError::NotFound { what }) => {
                Self::NotFound(format!("{what} not found"))
            }
            PrequelError::Refused(_) | PrequelError::Store(StoreError::Conflict(_)) => {
                Self::Conflict(message)
            }
            PrequelError::Store(StoreError::InvalidPageToken) => Self::BadRequest(
                "`after` is not a page token this server gave out; start again without it"
                    .to_owned(),
            ),
            PrequelError::Store(_) | PrequelError::Secrets(_) | PrequelError::Archive(_) => {
                Self::Unavailable {
                    message,
                    detail: error.to_string(),
                }
            }
        }
    }
}

/// The one error shape of the API: every 4xx and 5xx answer is
/// `{"error": {"code": …, "message": …}}`.
// The same struct is what `into_response` sends and what the OpenAPI document describes
// (`openapi.rs`), so the two cannot disagree.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    error: ErrorDetail,
}

/// What went wrong.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorDetail {
    #[schema(schema_with = error_code_schema)]
    code: &'static str,
    /// One line for a person, with a hint of what would work. Never an internal detail.
    #[schema(example = "there is no interview `k7mq2xw9ab3c` (see `list` for yours)")]
    message: String,
}

impl From<&ApiError> for ErrorBody {
    fn from(error: &ApiError) -> Self {
        Self {
            error: ErrorDetail {
                code: error.code(),
                message: error.message(),
            },
        }
    }
}

/// Every `code` an [`ApiError`] can have, from the errors themselves.
pub(crate) fn error_codes() -> [&'static str; 9] {
    let text = String::new;
    [
        ApiError::BadRequest(text()),
        ApiError::Unauthorized(text()),
        ApiError::Forbidden(text()),
        ApiError::NotFound(text()),
        ApiError::MethodNotAllowed(text()),
        ApiError::Conflict(text()),
        ApiError::PayloadTooLarge { limit: 0 },
        ApiError::Unavailable {
            message: text(),
            detail: text(),
        },
        ApiError::Internal { detail: text() },
    ]
    .map(|error| match error {
        // Exhaustive on purpose: a new variant is a compile error here until it is listed above.
        ApiError::BadRequest(_)
        | ApiError::Unauthorized(_)
        | ApiError::Forbidden(_)
        | ApiError::NotFound(_)
        | ApiError::MethodNotAllowed(_)
        | ApiError::Conflict(_)
        | ApiError::PayloadTooLarge { .. }
        | ApiError::Unavailable { .. }
        | ApiError::Internal { .. } => error.code(),
    })
}

fn error_code_schema() -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(error_codes()))
        .description(Some(
            "Machine-readable: bad_request 400, unauthorized 401, forbidden 403, not_found 404, \
             method_not_allowed 405, conflict 409, payload_too_large 413, internal 500, \
             unavailable 503.",
        ))
        .build()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        match &self {
            Self::Unavailable { detail, .. } => tracing::warn!(%detail, "backend unavailable"),
            Self::Internal { detail } => tracing::error!(%detail, "internal error"),
            // Refusals are the person's business, not the operator's; keep them quiet.
            _ => tracing::debug!(code = self.code(), "request refused"),
        }
        let mut response = (status, Json(ErrorBody::from(&self))).into_response();
        if status == StatusCode::UNAUTHORIZED {
            // RFC 6750: tell the client which scheme is expected.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn internal_details_never_reach_the_message() {
        let error = ApiError::Internal {
            detail: "disk I/O error at /var/lib/prequel".to_owned(),
        };
        assert!(!error.message().contains("/var/lib"));
        let error = ApiError::Unavailable {
            message: "try again".to_owned(),
            detail: "database is locked".to_owned(),
        };
        assert_eq!(error.message(), "try again");
    }
}

/// The answer to a handler that panicked: `internal` in the one error shape. What the panic said
/// is logged, never returned (it may name internals).
pub(crate) fn panic_response(
    panic: Box<dyn std::any::Any + Send + 'static>,
) -> axum::response::Response {
    let detail = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
        .unwrap_or_else(|| "a handler panicked".to_owned());
    axum::response::IntoResponse::into_response(ApiError::Internal { detail })
}

#[cfg(test)]
mod panic_tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_handler_answers_500_in_the_error_shape_without_its_message() {
        let response = panic_response(Box::new("secret internal detail".to_owned()));
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        let body: serde_json::Value = serde_json::from_slice(&bytes).expect("JSON");
        assert_eq!(body["error"]["code"], "internal");
        assert!(!String::from_utf8_lossy(&bytes).contains("secret internal detail"));
    }
}
