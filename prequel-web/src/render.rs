//! Outcomes and records as the API's JSON. This is the web frontend's renderer (invariant 2:
//! rendering lives beside the frontend).
//!
//! Every answer is a typed struct deriving `Serialize` and `ToSchema`, so the JSON and the
//! OpenAPI document (`crate::openapi`) come from the same definition and cannot drift apart.
//!
//! Times are RFC 3339 in the interview's own zone (the zone its requester's words were read
//! in), so `"start": "2026-11-24T14:00:00+01:00"` reads as the person meant it. Passwords appear
//! only in [`outcome`]'s answers to `now`/`create` and `creds`, beside the interview object,
//! never inside it: an interview object is the same everywhere and never holds a secret.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use prequel_core::Outcome;
use prequel_core::command::parse_zone;
use prequel_core::domain::{Interview, InterviewState, Operation, OperationKind, OperationStatus};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa::openapi::schema::{Object, ObjectBuilder, Type};

/// An interview as the API shows it. It never holds a secret.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Interview)]
pub(crate) struct InterviewView {
    /// The interview's id: 12 lowercase letters and digits, starting with a letter.
    #[schema(example = "k7mq2xw9ab3c")]
    id: String,
    #[schema(schema_with = interview_status_schema)]
    status: &'static str,
    /// The challenge's id (its folder name).
    #[schema(example = "python")]
    challenge: String,
    /// The candidate's name, when the words gave one (`… for Ada Lovelace`).
    #[schema(required = true)]
    candidate: Option<String>,
    /// When the interview starts, RFC 3339 in the interview's zone.
    #[schema(format = DateTime, example = "2026-11-24T14:00:00+01:00")]
    start: String,
    /// When the instance is archived and destroyed, RFC 3339 in the interview's zone.
    #[schema(format = DateTime, example = "2026-11-24T15:30:00+01:00")]
    end: String,
    /// Where the candidate works, once the instance is active.
    #[schema(required = true)]
    access_url: Option<String>,
    /// Why the interview failed or ended early, if it did.
    #[schema(required = true)]
    reason: Option<String>,
    /// The IANA zone the requester's words were read in.
    #[schema(example = "Europe/Berlin")]
    time_zone: String,
    /// Who asked for the interview.
    requested_by: RequesterView,
}

/// Who asked for an interview, as the platform named them at the time.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Requester)]
pub(crate) struct RequesterView {
    /// Where the request came from: `slack`, `discord`, `cli` or `api`.
    #[schema(example = "cli")]
    platform: &'static str,
    /// The platform's stable id of the person (a Slack or Discord id, a login on the CLI).
    #[schema(example = "alice")]
    user_id: String,
    /// The name to show.
    #[schema(example = "alice")]
    display_name: String,
}

/// An operation (the create or the destroy of an interview's instance) as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Operation)]
pub(crate) struct OperationView {
    #[schema(schema_with = operation_kind_schema)]
    kind: &'static str,
    #[schema(schema_with = operation_status_schema)]
    status: &'static str,
    /// Attempts so far (claims by a scheduler).
    attempts: u32,
    /// The last attempt's error, if it failed.
    #[schema(required = true)]
    error: Option<String>,
    /// When the operation is (or was) due, RFC 3339 in the interview's zone.
    #[schema(format = DateTime, example = "2026-11-24T13:55:00+01:00")]
    due_at: String,
}

/// The answer to `POST /api/commands`: `action` names the command, the other keys are what it
/// produced.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum CommandAnswer {
    /// `schedule …`: the interview recorded for later.
    Schedule {
        /// The new interview.
        interview: InterviewView,
    },
    /// `now …` / `create …`: the interview being provisioned now.
    Create {
        /// The new interview.
        interview: InterviewView,
        /// The instance's password, for the requester only; it appears nowhere else.
        password: String,
    },
    /// `list`: the open interviews.
    List {
        /// Open interviews, soonest first.
        interviews: Vec<InterviewView>,
    },
    /// `status <id>`: one interview and its operations.
    Status {
        /// The interview.
        interview: InterviewView,
        /// Its create and (if any) destroy operation.
        operations: Vec<OperationView>,
    },
    /// `cancel <id>` (or `destroy` before the start): the interview, now `cancelled`.
    Cancel {
        /// The interview.
        interview: InterviewView,
    },
    /// `destroy <id>`: the interview, whose destroy was requested.
    Destroy {
        /// The interview.
        interview: InterviewView,
    },
    /// `extend <id> <duration>`: the interview with its new end.
    Extend {
        /// The interview.
        interview: InterviewView,
    },
    /// `creds <id>`: where to reach the interview, and its password for the requester.
    Creds {
        /// The interview (`access_url` is set once active).
        interview: InterviewView,
        /// The password; absent before the instance is first provisioned and after it is
        /// destroyed.
        #[serde(skip_serializing_if = "Option::is_none")]
        password: Option<String>,
    },
    /// `challenges`: the challenges one can ask for.
    Challenges {
        /// Challenge ids.
        challenges: Vec<String>,
    },
    /// `tz <zone>`: the zone, as understood.
    Tz {
        /// An IANA zone name.
        time_zone: &'static str,
    },
    /// `help`: the help text.
    Help {
        /// Lines for a person.
        text: String,
    },
    /// `note <id> <text>`: the note as kept (visible to the interview's people only).
    Note {
        /// The interview.
        interview: InterviewView,
        /// The note.
        note: NoteView,
    },
    /// `report <id>`: everything about one interview (its people only), as
    /// `GET /api/interviews/{id}/report` answers it.
    Report {
        /// The interview.
        interview: InterviewView,
        /// Grades of the candidate's work, latest first (none until a grader has run).
        #[schema(value_type = Vec<Object>)]
        grades: Vec<serde_json::Value>,
        /// Private notes, oldest first.
        notes: Vec<NoteView>,
        /// One score per interviewer.
        scores: Vec<ScoreView>,
        /// Snapshots of the workspace over time (none until snapshots are taken).
        #[schema(value_type = Vec<Object>)]
        snapshots: Vec<serde_json::Value>,
        /// A download link for the archived work, when there is one.
        #[schema(required = true)]
        archive_url: Option<String>,
    },
    /// `score <id> <verdict> [comment]`: the caller's score as kept.
    Score {
        /// The interview.
        interview: InterviewView,
        /// The score.
        score: ScoreView,
    },
}

/// Everything about one interview, for its people: the answer to `report` and to
/// `GET /api/interviews/{id}/report`.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Report)]
pub(crate) struct ReportView {
    /// The interview.
    interview: InterviewView,
    /// Grades of the candidate's work, latest first (none until a grader has run).
    #[schema(value_type = Vec<Object>)]
    grades: Vec<serde_json::Value>,
    /// Private notes, oldest first.
    notes: Vec<NoteView>,
    /// One score per interviewer.
    scores: Vec<ScoreView>,
    /// Snapshots of the workspace over time (none until snapshots are taken).
    #[schema(value_type = Vec<Object>)]
    snapshots: Vec<serde_json::Value>,
    /// A download link for the archived work, when there is one (a capability: keep it private).
    #[schema(required = true)]
    archive_url: Option<String>,
}

/// The report, with times in the interview's zone.
pub(crate) fn report(report: &prequel_core::review::Report) -> ReportView {
    let i = &report.interview;
    ReportView {
        interview: interview(i),
        grades: Vec::new(),
        notes: report.review.notes.iter().map(|n| note(i, n)).collect(),
        scores: report.review.scores.iter().map(|s| score(i, s)).collect(),
        snapshots: Vec::new(),
        archive_url: report.archive_link.clone(),
    }
}

/// A private note on an interview.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Note)]
pub(crate) struct NoteView {
    /// When it was written, RFC 3339 in the interview's zone.
    #[schema(format = DateTime, example = "2026-11-24T15:40:00+01:00")]
    at: String,
    /// Who wrote it.
    by: RequesterView,
    /// What they wrote.
    #[schema(example = "strong on SQL, missed the index")]
    text: String,
}

/// One interviewer's score.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = Score)]
pub(crate) struct ScoreView {
    /// When it was given, RFC 3339 in the interview's zone.
    #[schema(format = DateTime, example = "2026-11-24T15:45:00+01:00")]
    at: String,
    /// Who gave it.
    by: RequesterView,
    #[schema(schema_with = verdict_schema)]
    score: &'static str,
    /// Why, if they said.
    #[schema(required = true)]
    comment: Option<String>,
}

fn verdict_schema() -> Object {
    string_enum(
        prequel_core::review::Verdict::ALL.map(prequel_core::review::Verdict::as_str),
        "The verdict: strong-yes, yes, no or strong-no.",
    )
}

fn requester(who: &prequel_core::domain::Requester) -> RequesterView {
    RequesterView {
        platform: who.platform.as_str(),
        user_id: who.user_id.clone(),
        display_name: who.display_name.clone(),
    }
}

/// A note with its time in the interview's zone.
pub(crate) fn note(interview: &Interview, note: &prequel_core::review::ReviewNote) -> NoteView {
    NoteView {
        at: local(note.at, zone_of(interview)),
        by: requester(&note.by),
        text: note.text.clone(),
    }
}

/// A score with its time in the interview's zone.
pub(crate) fn score(interview: &Interview, score: &prequel_core::review::Score) -> ScoreView {
    ScoreView {
        at: local(score.at, zone_of(interview)),
        by: requester(&score.by),
        score: score.verdict.as_str(),
        comment: score.comment.clone(),
    }
}

/// The answer to `GET /api/interviews`: one page of interviews.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InterviewPage {
    /// This page's interviews.
    pub(crate) interviews: Vec<InterviewView>,
    /// The token for the next page (`?after=`), or null on the last page.
    #[schema(required = true)]
    pub(crate) next: Option<String>,
}

/// The answer to `GET /api/interviews/{id}`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct InterviewDetail {
    /// The interview.
    pub(crate) interview: InterviewView,
    /// Its create and (if any) destroy operation.
    pub(crate) operations: Vec<OperationView>,
}

/// The answer to `GET /healthz`.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Health {
    /// Always `ok`: the process answers.
    #[schema(example = "ok")]
    pub(crate) status: &'static str,
}

/// The answer to `GET /readyz` when this process can do its work.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Readiness {
    /// Always `ready` (an unready process answers 503 in the error shape).
    #[schema(example = "ready")]
    pub(crate) status: &'static str,
    /// `ok`: the store answered.
    #[schema(example = "ok")]
    pub(crate) store: &'static str,
    /// `ok`: the scheduler's loop ran within twice its poll cap.
    #[schema(example = "ok")]
    pub(crate) scheduler: &'static str,
}

/// A string schema whose values are `names`, described by `description`.
fn string_enum(names: impl IntoIterator<Item = &'static str>, description: &str) -> Object {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(names))
        .description(Some(description))
        .build()
}

/// Generated from the domain's own list, so a new state appears in the document by itself.
fn interview_status_schema() -> Object {
    string_enum(
        InterviewState::ALL.map(InterviewState::as_str),
        "The interview's state: scheduled → initializing → configuring → active → destroying → \
         destroyed, or failed, or cancelled.",
    )
}

fn operation_kind_schema() -> Object {
    // Written out because the domain has no list of kinds; the match makes a new kind a compile
    // error here rather than a silent gap in the document.
    let kinds = [OperationKind::Create, OperationKind::Destroy].map(|kind| match kind {
        OperationKind::Create | OperationKind::Destroy => kind.as_str(),
    });
    string_enum(
        kinds,
        "What the operation does: provision or tear down the instance.",
    )
}

fn operation_status_schema() -> Object {
    string_enum(
        OperationStatus::ALL.map(OperationStatus::as_str),
        "Where the operation is.",
    )
}

/// The interview's zone; UTC if the stored name is not one we know (it was valid when stored,
/// but the tz database could have dropped it since).
fn zone_of(interview: &Interview) -> Tz {
    parse_zone(&interview.time_zone).unwrap_or(chrono_tz::UTC)
}

fn local(time: DateTime<Utc>, zone: Tz) -> String {
    time.with_timezone(&zone)
        .to_rfc3339_opts(SecondsFormat::Secs, false)
}

/// An interview as the API (and the event stream) shows it.
pub(crate) fn interview(interview: &Interview) -> InterviewView {
    let zone = zone_of(interview);
    InterviewView {
        id: interview.id.as_str().to_owned(),
        status: interview.state.as_str(),
        challenge: interview.challenge.as_str().to_owned(),
        candidate: interview.candidate.clone(),
        start: local(interview.start_at, zone),
        end: local(interview.destroy_at, zone),
        access_url: interview.access_url.clone(),
        reason: interview.reason.clone(),
        time_zone: interview.time_zone.clone(),
        requested_by: requester(&interview.requested_by),
    }
}

/// An interview's operations, with times in the interview's zone.
pub(crate) fn operations(interview: &Interview, ops: &[Operation]) -> Vec<OperationView> {
    let zone = zone_of(interview);
    ops.iter()
        .map(|op| OperationView {
            kind: op.kind.as_str(),
            status: op.status.as_str(),
            attempts: op.attempts,
            error: op.error.clone(),
            due_at: local(op.due_at, zone),
        })
        .collect()
}

/// The answer to `POST /api/commands`: `{"action": …}` and what the command produced.
pub(crate) fn outcome(outcome: &Outcome) -> CommandAnswer {
    match outcome {
        Outcome::Scheduled(i) => CommandAnswer::Schedule {
            interview: interview(i),
        },
        Outcome::Created {
            interview: i,
            password,
        } => CommandAnswer::Create {
            interview: interview(i),
            // The one place besides `creds` where the password leaves: the requester asked for
            // an instance now and needs it to log in.
            password: password.expose().to_owned(),
        },
        Outcome::List(list) => CommandAnswer::List {
            interviews: list.iter().map(interview).collect(),
        },
        Outcome::Status {
            interview: i,
            operations: ops,
        } => CommandAnswer::Status {
            interview: interview(i),
            operations: operations(i, ops),
        },
        Outcome::Cancelled(i) => CommandAnswer::Cancel {
            interview: interview(i),
        },
        Outcome::DestroyRequested(i) => CommandAnswer::Destroy {
            interview: interview(i),
        },
        Outcome::Extended(i) => CommandAnswer::Extend {
            interview: interview(i),
        },
        Outcome::Credentials {
            interview: i,
            password,
        } => CommandAnswer::Creds {
            interview: interview(i),
            // No password yet (not provisioned) or any more (destroyed): the key is absent.
            password: password.as_ref().map(|p| p.expose().to_owned()),
        },
        Outcome::Challenges(ids) => CommandAnswer::Challenges {
            challenges: ids.iter().map(|id| id.as_str().to_owned()).collect(),
        },
        Outcome::TimeZone(zone) => CommandAnswer::Tz {
            time_zone: zone.name(),
        },
        Outcome::Help(text) => CommandAnswer::Help { text: text.clone() },
        Outcome::Report(r) => {
            let ReportView {
                interview,
                grades,
                notes,
                scores,
                snapshots,
                archive_url,
            } = report(r);
            CommandAnswer::Report {
                interview,
                grades,
                notes,
                scores,
                snapshots,
                archive_url,
            }
        }
        Outcome::Noted {
            interview: i,
            note: n,
        } => CommandAnswer::Note {
            interview: interview(i),
            note: note(i, n),
        },
        Outcome::Scored {
            interview: i,
            score: s,
        } => CommandAnswer::Score {
            interview: interview(i),
            score: score(i, s),
        },
    }
}
