//! Turning AWS SDK errors into [`ProvisionError`]s: transient for throttling, 5xx answers,
//! timeouts and connection failures; permanent for everything else (bad configuration, missing
//! permissions), always naming the resource.

use std::fmt::Display;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::provision::ProvisionError;

/// Error codes that mean "busy, try again later" whatever their HTTP status.
const TRANSIENT_CODES: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "ServerException",
    "ServiceUnavailable",
    "InternalFailure",
    "InternalError",
    "ResourceInUse",
    "ProvisionedThroughputExceededException",
];

/// The error code AWS answered with, if it answered.
pub(super) fn code<E: ProvideErrorMetadata>(err: &SdkError<E, Response>) -> Option<&str> {
    match err {
        SdkError::ServiceError(_) => err.code(),
        _ => None,
    }
}

/// Whether the error carries one of `codes`.
pub(super) fn is<E: ProvideErrorMetadata>(err: &SdkError<E, Response>, codes: &[&str]) -> bool {
    code(err).is_some_and(|c| codes.contains(&c))
}

/// `{what}: {the error}` as a transient or permanent [`ProvisionError`].
pub(super) fn aws<E>(what: impl Display, err: SdkError<E, Response>) -> ProvisionError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let transient = match &err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(ctx) => {
            ctx.raw().status().is_server_error() || is(&err, TRANSIENT_CODES)
        }
        _ => false,
    };
    let detail = match (code(&err), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        (Some(code), None) => code.to_owned(),
        _ => DisplayErrorContext(&err).to_string(),
    };
    let message = format!("{what}: {detail}");
    if transient {
        ProvisionError::transient(message)
    } else {
        ProvisionError::permanent(message)
    }
}

/// A request that could not even be built (a missing required field): a bug, not a retry case.
pub(super) fn build(what: impl Display, err: impl Display) -> ProvisionError {
    ProvisionError::permanent(format!("{what}: cannot build the request: {err}"))
}
