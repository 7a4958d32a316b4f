//! The handlers. Each is: identify the user → build the command → call the facade → render.
//!
//! Each carries its `#[utoipa::path]`: the route, its parameters, and every answer it can give,
//! errors included, for the OpenAPI document (`crate::openapi`).

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::{Extension, Json};
use prequel_core::access::Actor;
use prequel_core::command::parse_zone;
use prequel_core::domain::{InterviewId, Platform, Requester};
use prequel_core::store::{InterviewScope, PageRequest, PageToken};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::ApiState;
use crate::auth::Caller;
use crate::error::ApiError;
use crate::error::ErrorBody;
use crate::extract::{ApiJson, ApiQuery};
use crate::render::{
    self, CommandAnswer, Health, InterviewDetail, InterviewPage, Readiness, ReportView,
};

/// `GET /healthz`: the process answers. Needs no token, so load balancers and scripts can poll it.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "health",
    responses((status = 200, description = "The process answers.", body = Health)),
)]
pub(crate) async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// `GET /readyz`: whether this process can do its work — the store answers and the scheduler's
/// loop is running. Needs no token (load balancers poll it); says nothing about secrets.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "health",
    responses(
        (status = 200, description = "The store answers and the scheduler runs.", body = Readiness),
        (status = 503, description = "Not ready; `message` says which part (`unavailable`).", body = ErrorBody),
    ),
)]
pub(crate) async fn readyz(State(state): State<ApiState>) -> Result<Json<Readiness>, ApiError> {
    let store = state.prequel.check_store().await;
    let scheduler = state.prequel.scheduler_alive();
    let mut missing = Vec::new();
    if store.is_err() {
        missing.push("the store does not answer");
    }
    if !scheduler {
        missing.push("the scheduler is not running");
    }
    if missing.is_empty() {
        return Ok(Json(Readiness {
            status: "ready",
            store: "ok",
            scheduler: "ok",
        }));
    }
    Err(ApiError::Unavailable {
        message: format!("not ready: {}", missing.join("; ")),
        detail: match store {
            // The store's own words go to the log only.
            Err(error) => format!("readiness: {error}"),
            Ok(()) => "readiness: the scheduler's last pass is older than twice its poll cap, \
                       or it never started"
                .to_owned(),
        },
    })
}

/// The body of `POST /api/commands`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CommandRequest {
    /// The words, as typed after `/interview` (see `help`).
    #[schema(example = "schedule tomorrow 2pm 90m python for Ada Lovelace")]
    text: String,
    /// The IANA zone the words are read in (default: the server's zone).
    #[schema(example = "Europe/Berlin")]
    tz: Option<String>,
    /// On whose behalf the admin asks (default: the admin itself, recorded as `api`): 1 to 64
    /// printable characters once trimmed, a login. The interview is recorded as that person's,
    /// shown as "admin on behalf of NAME", so the audit trail says who really acted. Only the
    /// admin token may name someone: with a personal API token it is refused (403), since the
    /// token already says who is asking.
    #[schema(example = "alice")]
    user: Option<String>,
}

/// The longest `user` accepted: a login or display name, not a paragraph.
const MAX_USER_CHARS: usize = 64;

/// The admin acting as itself, recorded as `api`.
pub(crate) fn api_admin() -> Actor {
    Actor::admin(Requester {
        platform: Platform::Cli,
        user_id: "api".to_owned(),
        display_name: "admin".to_owned(),
    })
}

/// Who the command acts for. The credential decides ([`Caller`]); `user` may only narrow the
/// admin token down to "admin on behalf of NAME".
fn actor_for(caller: Caller, user: Option<String>) -> Result<Actor, ApiError> {
    let user = match (caller, user) {
        (Caller::Admin, None) => return Ok(api_admin()),
        (Caller::Admin, Some(user)) => user,
        (Caller::Person(actor), None) => return Ok(actor),
        (Caller::Person(actor), Some(_)) => {
            return Err(ApiError::Forbidden(format!(
                "`user` is for the admin token only: a personal API token always acts as its \
                 own user ({}); leave `user` out",
                actor.requester.user_id
            )));
        }
    };
    let user = user.trim().to_owned();
    if user.is_empty()
        || user.chars().count() > MAX_USER_CHARS
        || user
            .chars()
            .any(|c| c.is_control() || c.is_whitespace() && c != ' ')
    {
        return Err(ApiError::BadRequest(format!(
            "`user` must be 1 to {MAX_USER_CHARS} printable characters"
        )));
    }
    Ok(Actor::admin(Requester {
        platform: Platform::Cli,
        display_name: format!("admin on behalf of {user}"),
        user_id: user,
    }))
}

/// `POST /api/commands`: runs the words as `/interview` would and renders the outcome.
#[utoipa::path(
    post,
    path = "/api/commands",
    tag = "interviews",
    request_body = CommandRequest,
    responses(
        (status = 200, description = "What the command did; `action` names it.", body = CommandAnswer),
        (status = 400, description = "Malformed JSON, wrong content type, unknown keys, a bad `user` or `tz`, or words the grammar refuses (`bad_request`; the message says what would work).", body = ErrorBody),
        (status = 401, description = "No token, a wrong admin token, or a personal token that is unknown or revoked (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "Not allowed for this caller: someone else's interview, `list all`, or `user` with a personal token (`forbidden`).", body = ErrorBody),
        (status = 404, description = "The words name an interview that does not exist (`not_found`).", body = ErrorBody),
        (status = 409, description = "Valid, but not possible now: already started, already ended (`conflict`).", body = ErrorBody),
        (status = 413, description = "The body is larger than 16 KiB (`payload_too_large`).", body = ErrorBody),
        (status = 503, description = "The store or the secret store is unreachable; retry later (`unavailable`).", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn command(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    ApiJson(request): ApiJson<CommandRequest>,
) -> Result<Json<CommandAnswer>, ApiError> {
    let actor = actor_for(caller, request.user)?;
    let zone = match request.tz.as_deref() {
        Some(text) => parse_zone(text).map_err(|e| ApiError::BadRequest(e.user_message()))?,
        None => state.default_zone,
    };
    let outcome = state
        .prequel
        .execute_text(&actor, &request.text, zone)
        .await?;
    Ok(Json(render::outcome(&outcome)))
}

/// The query of `GET /api/interviews`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub(crate) struct ListQuery {
    /// Include ended interviews (still retained) too.
    #[serde(default)]
    all: bool,
    /// Page size, 1 to 500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// The `next` token of the previous page.
    after: Option<String>,
}

const DEFAULT_PAGE: u32 = 50;

/// `GET /api/interviews`: open interviews (or all with `?all=true`), one page at a time.
#[utoipa::path(
    get,
    path = "/api/interviews",
    tag = "interviews",
    params(ListQuery),
    responses(
        (status = 200, description = "One page of interviews, soonest first.", body = InterviewPage),
        (status = 400, description = "A bad `all`, `limit` or `after`, or an unknown parameter (`bad_request`).", body = ErrorBody),
        (status = 401, description = "No admin token or session, or a wrong token (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A personal API token: it opens `POST /api/commands` only (`forbidden`).", body = ErrorBody),
        (status = 503, description = "The store is unreachable; retry later (`unavailable`).", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn list(
    State(state): State<ApiState>,
    ApiQuery(query): ApiQuery<ListQuery>,
) -> Result<Json<InterviewPage>, ApiError> {
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
    Ok(Json(InterviewPage {
        interviews: page.items.iter().map(render::interview).collect(),
        next: page.next.map(|PageToken(token)| token),
    }))
}

/// `GET /api/interviews/{id}`: one interview and its operations.
#[utoipa::path(
    get,
    path = "/api/interviews/{id}",
    tag = "interviews",
    params(("id" = String, Path, pattern = "^[A-Za-z][A-Za-z0-9]{3,31}$", description = "The interview's id (4 to 32 letters and digits, starting with a letter; case does not matter).", example = "k7mq2xw9ab3c")),
    responses(
        (status = 200, description = "The interview and its operations.", body = InterviewDetail),
        (status = 400, description = "The id is not an interview id (`bad_request`).", body = ErrorBody),
        (status = 401, description = "No admin token or session, or a wrong token (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A personal API token: it opens `POST /api/commands` only (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such interview, or it has expired (`not_found`).", body = ErrorBody),
        (status = 503, description = "The store is unreachable; retry later (`unavailable`).", body = ErrorBody),
    ),
    security(("bearer" = []), ("session" = [])),
)]
pub(crate) async fn one(
    State(state): State<ApiState>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<InterviewDetail>, ApiError> {
    let Path(id) = id.map_err(|_| ApiError::BadRequest("the interview id is not valid".into()))?;
    let id = InterviewId::parse(&id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let interview = state.prequel.get(&id).await?;
    let operations = state.prequel.operations(&id).await?;
    Ok(Json(InterviewDetail {
        interview: render::interview(&interview),
        operations: render::operations(&interview, &operations),
    }))
}

/// `GET /api/interviews/{id}/report`: everything about one interview, for its people: the
/// admin token, or the personal token of its requester or a co-interviewer.
#[utoipa::path(
    get,
    path = "/api/interviews/{id}/report",
    tag = "interviews",
    params(("id" = String, Path, pattern = "^[A-Za-z][A-Za-z0-9]{3,31}$", description = "The interview's id.", example = "k7mq2xw9ab3c")),
    responses(
        (status = 200, description = "The interview, its grades, notes, scores, snapshots and archive link.", body = ReportView),
        (status = 400, description = "The id is not an interview id (`bad_request`).", body = ErrorBody),
        (status = 401, description = "No token, a wrong admin token, or a personal token that is unknown or revoked (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A personal token of someone who is not the interview's requester or co-interviewer (`forbidden`).", body = ErrorBody),
        (status = 404, description = "No such interview, or it has expired (`not_found`).", body = ErrorBody),
        (status = 503, description = "The store is unreachable; retry later (`unavailable`).", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn report(
    State(state): State<ApiState>,
    Extension(caller): Extension<Caller>,
    id: Result<Path<String>, PathRejection>,
) -> Result<Json<ReportView>, ApiError> {
    let Path(id) = id.map_err(|_| ApiError::BadRequest("the interview id is not valid".into()))?;
    let id = InterviewId::parse(&id).map_err(|e| ApiError::BadRequest(e.to_string()))?;
    let actor = actor_for(caller, None)?;
    match state
        .prequel
        .execute(&actor, prequel_core::command::Command::Report(id))
        .await?
    {
        prequel_core::Outcome::Report(report) => Ok(Json(render::report(&report))),
        other => Err(ApiError::Internal {
            detail: format!("report answered {other:?}"),
        }),
    }
}

/// Any other path.
pub(crate) async fn not_found() -> ApiError {
    ApiError::NotFound("no such endpoint; see the API list in prequel-web's documentation".into())
}

/// A known path with the wrong method.
pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed("this endpoint does not take that method".into())
}
