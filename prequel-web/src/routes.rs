//! The handlers. Each is: identify the user → build the command → call the facade → render.

use axum::Json;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use prequel_core::command::parse_zone;
use prequel_core::domain::{InterviewId, Platform, Requester};
use prequel_core::store::{InterviewScope, PageRequest, PageToken};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::ApiState;
use crate::error::ApiError;
use crate::extract::{ApiJson, ApiQuery};
use crate::render;

/// `GET /healthz`: the process answers. Needs no token, so load balancers and scripts can poll it.
pub(crate) async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The body of `POST /api/commands`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommandRequest {
    /// The words, as typed after `/interview`.
    text: String,
    /// The IANA zone the words are read in (default: the server's zone).
    tz: Option<String>,
    /// Who is asking (default `api`); recorded on the interview, and the only one who may see
    /// its credentials.
    user: Option<String>,
}

/// The longest `user` accepted: a login or display name, not a paragraph.
const MAX_USER_CHARS: usize = 64;

fn requester(user: Option<String>) -> Result<Requester, ApiError> {
    let user = user.as_deref().map_or("api", str::trim).to_owned();
    if user.is_empty()
        || user.chars().count() > MAX_USER_CHARS
        || user.chars().any(char::is_control)
    {
        return Err(ApiError::BadRequest(format!(
            "`user` must be 1 to {MAX_USER_CHARS} printable characters"
        )));
    }
    Ok(Requester {
        platform: Platform::Cli,
        display_name: user.clone(),
        user_id: user,
    })
}

/// `POST /api/commands`: runs the words as `/interview` would and renders the outcome.
pub(crate) async fn command(
    State(state): State<ApiState>,
    ApiJson(request): ApiJson<CommandRequest>,
) -> Result<Json<Value>, ApiError> {
    let requester = requester(request.user)?;
    let zone = match request.tz.as_deref() {
        Some(text) => parse_zone(text).map_err(|e| ApiError::BadRequest(e.user_message()))?,
        None => state.default_zone,
    };
    let outcome = state
        .prequel
        .execute_text(&requester, &request.text, zone)
        .await?;
    Ok(Json(render::outcome(&outcome)))
}

/// The query of `GET /api/interviews`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ListQuery {
    /// Include ended interviews (still retained) too.
    #[serde(default)]
    all: bool,
    /// Page size, 1 to [`PageRequest::MAX_LIMIT`].
    limit: Option<u32>,
    /// The `next` token of the previous page.
    after: Option<String>,
}

const DEFAULT_PAGE: u32 = 50;

/// `GET /api/interviews`: open interviews (or all with `?all=true`), one page at a time.
pub(crate) async fn list(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=PageRequest::MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "`limit` must be between 1 and {}",
            PageRequest::MAX_LIMIT
        )));
    }
    let page = PageRequest {
        limit,
        after: query.after.map(PageToken),
    };
    let scope = if query.all {
        InterviewScope::All
    } else {
        InterviewScope::Open
    };
    let page = state.prequel.list(scope, &page).await?;
    Ok(Json(json!({
        "interviews": page.items.iter().map(render::interview).collect::<Vec<_>>(),
        "next": page.next.map(|PageToken(token)| token),
    })))
}

/// `GET /api/interviews/{id}`: one interview and its operations.
pub(crate) async fn one(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<Value>, ApiError> {
    let Path(id) = id.map_err(|_| ApiError::BadRequest("the interview id is not valid".into()))?;
    let id = InterviewId::parse(&id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let interview = state.prequel.get(&id).await?;
    let operations = state.prequel.operations(&id).await?;
    Ok(Json(json!({
        "interview": render::interview(&interview),
        "operations": render::operations(&interview, &operations),
    })))
}

/// Any other path.
pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint; see the API list in prequel-web's documentation".into())
}

/// A known path with the wrong method.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("this endpoint does not take that method".into())
}
