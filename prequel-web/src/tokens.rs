//! `POST/GET /api/tokens`, `DELETE /api/tokens/{id}`: personal API tokens, for admins (the
//! admin token only, like `/metrics`). A token is shown once, in the answer that makes it; the
//! listings show its id, whom it acts as, who made it and when it was last used, never the
//! token or its hash.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use prequel_core::store::ApiToken;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::ApiState;
use crate::error::{ApiError, ErrorBody};
use crate::extract::ApiJson;
use crate::routes::api_admin;

/// The body of `POST /api/tokens`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct NewTokenRequest {
    /// The login the token acts as (on platform `cli`): 1 to 64 letters, digits, `.`, `_`, `-`
    /// or `@`.
    #[schema(example = "alice", pattern = "^[A-Za-z0-9._@-]{1,64}$")]
    user: String,
}

/// A personal API token as the listings show it: never the token, never its hash.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenView {
    /// The token's id, the part after `pqt_`: 12 lowercase letters and digits.
    #[schema(example = "q3v8m2k9x1ab")]
    id: String,
    /// The login the token acts as.
    #[schema(example = "alice")]
    user: String,
    /// When it was made, RFC 3339 in UTC.
    #[schema(format = DateTime, example = "2026-12-05T10:00:00Z")]
    created_at: String,
    /// Who made it.
    #[schema(example = "admin")]
    created_by: String,
    /// When it was last presented (to the minute), if ever.
    #[schema(required = true, format = DateTime)]
    last_used_at: Option<String>,
    /// When it was revoked, if it was; a revoked token opens nothing.
    #[schema(required = true, format = DateTime)]
    revoked_at: Option<String>,
}

/// The answer to `POST /api/tokens`: the token, this once, and its record.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct NewToken {
    /// The token, `pqt_<id>_<secret>`. It is shown here only: hand it to its user and keep no
    /// copy (the server keeps only a hash).
    #[schema(example = "pqt_q3v8m2k9x1ab_…")]
    token: String,
    /// Its record, as `GET /api/tokens` lists it.
    api_token: TokenView,
}

/// The answer to `GET /api/tokens`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct TokenList {
    /// Every token, revoked ones too, oldest first.
    tokens: Vec<TokenView>,
}

fn rfc3339(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn view(token: ApiToken) -> TokenView {
    TokenView {
        id: token.id,
        user: token.user,
        created_at: rfc3339(token.created_at),
        created_by: token.created_by,
        last_used_at: token.last_used_at.map(rfc3339),
        revoked_at: token.revoked_at.map(rfc3339),
    }
}

/// `POST /api/tokens`: makes a personal API token for a user.
#[utoipa::path(
    post,
    path = "/api/tokens",
    tag = "tokens",
    request_body = NewTokenRequest,
    responses(
        (status = 201, description = "The token (shown this once) and its record.", body = NewToken),
        (status = 400, description = "Malformed JSON, unknown keys, or a `user` that is not a login (`bad_request`).", body = ErrorBody),
        (status = 401, description = "No admin token, or the wrong one (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A personal API token: only the admin token makes tokens (`forbidden`).", body = ErrorBody),
        (status = 413, description = "The body is larger than 16 KiB (`payload_too_large`).", body = ErrorBody),
        (status = 503, description = "The store is unreachable; retry later (`unavailable`).", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn create(
    State(state): State<ApiState>,
    ApiJson(request): ApiJson<NewTokenRequest>,
) -> Result<(StatusCode, Json<NewToken>), ApiError> {
    let issued = state
        .prequel
        .create_api_token(&api_admin(), &request.user)
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(NewToken {
            token: issued.token.expose().to_owned(),
            api_token: view(issued.record),
        }),
    ))
}

/// `GET /api/tokens`: every personal API token, revoked ones too.
#[utoipa::path(
    get,
    path = "/api/tokens",
    tag = "tokens",
    responses(
        (status = 200, description = "Every token, oldest first, without its secret.", body = TokenList),
        (status = 401, description = "No admin token, or the wrong one (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A personal API token: only the admin token lists tokens (`forbidden`).", body = ErrorBody),
        (status = 503, description = "The store is unreachable; retry later (`unavailable`).", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn list(State(state): State<ApiState>) -> Result<Json<TokenList>, ApiError> {
    let tokens = state.prequel.api_tokens(&api_admin()).await?;
    Ok(Json(TokenList {
        tokens: tokens.into_iter().map(view).collect(),
    }))
}

/// `DELETE /api/tokens/{id}`: revokes a token; from then on it opens nothing.
#[utoipa::path(
    delete,
    path = "/api/tokens/{id}",
    tag = "tokens",
    params(("id" = String, Path, pattern = "^[a-z0-9]{12}$", description = "The token's id, as `GET /api/tokens` lists it.", example = "q3v8m2k9x1ab")),
    responses(
        (status = 200, description = "The token, revoked (a second revoke keeps the first time).", body = TokenView),
        (status = 400, description = "The id is not a token id (`bad_request`).", body = ErrorBody),
        (status = 401, description = "No admin token, or the wrong one (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A personal API token: only the admin token revokes tokens (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No token has this id (`not_found`).", body = ErrorBody),
        (status = 503, description = "The store is unreachable; retry later (`unavailable`).", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn revoke(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<TokenView>, ApiError> {
    let Path(id) = id.map_err(|_| ApiError::BadRequest("the token id is not valid".into()))?;
    let token = state.prequel.revoke_api_token(&api_admin(), &id).await?;
    Ok(Json(view(token)))
}
