//! Outcomes and records as the API's JSON. This is the web frontend's renderer (invariant 2:
//! rendering lives beside the frontend).
//!
//! Times are RFC 3339 in the interview's own zone (the zone its requester's words were read
//! in), so `"start": "2026-11-24T14:00:00+01:00"` reads as the person meant it. Passwords appear
//! only in [`outcome`]'s answers to `now`/`create` and `creds`, beside the interview object,
//! never inside it: an interview object is the same everywhere and never holds a secret.

use chrono::{DateTime, SecondsFormat, Utc};
use chrono_tz::Tz;
use prequel_core::Outcome;
use prequel_core::command::parse_zone;
use prequel_core::domain::{Interview, Operation};
use serde::Serialize;
use serde_json::{Value, json};

/// An interview as the API shows it.
#[derive(Debug, Serialize)]
pub(crate) struct InterviewView<'a> {
    id: &'a str,
    status: &'static str,
    challenge: &'a str,
    candidate: Option<&'a str>,
    start: String,
    end: String,
    access_url: Option<&'a str>,
    reason: Option<&'a str>,
    time_zone: &'a str,
}

/// An operation as the API shows it.
#[derive(Debug, Serialize)]
pub(crate) struct OperationView<'a> {
    kind: &'static str,
    status: &'static str,
    attempts: u32,
    error: Option<&'a str>,
    due_at: String,
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

pub(crate) fn interview(interview: &Interview) -> InterviewView<'_> {
    let zone = zone_of(interview);
    InterviewView {
        id: interview.id.as_str(),
        status: interview.state.as_str(),
        challenge: interview.challenge.as_str(),
        candidate: interview.candidate.as_deref(),
        start: local(interview.start_at, zone),
        end: local(interview.destroy_at, zone),
        access_url: interview.access_url.as_deref(),
        reason: interview.reason.as_deref(),
        time_zone: &interview.time_zone,
    }
}

pub(crate) fn operations<'a>(
    interview: &Interview,
    ops: &'a [Operation],
) -> Vec<OperationView<'a>> {
    let zone = zone_of(interview);
    ops.iter()
        .map(|op| OperationView {
            kind: op.kind.as_str(),
            status: op.status.as_str(),
            attempts: op.attempts,
            error: op.error.as_deref(),
            due_at: local(op.due_at, zone),
        })
        .collect()
}

/// The answer to `POST /api/commands`: `{"action": …}` and what the command produced.
pub(crate) fn outcome(outcome: &Outcome) -> Value {
    match outcome {
        Outcome::Scheduled(i) => json!({"action": "schedule", "interview": interview(i)}),
        Outcome::Created {
            interview: i,
            password,
        } => json!({
            "action": "create",
            "interview": interview(i),
            // The one place besides `creds` where the password leaves: the requester asked for
            // an instance now and needs it to log in.
            "password": password.expose(),
        }),
        Outcome::List(list) => json!({
            "action": "list",
            "interviews": list.iter().map(interview).collect::<Vec<_>>(),
        }),
        Outcome::Status {
            interview: i,
            operations: ops,
        } => json!({
            "action": "status",
            "interview": interview(i),
            "operations": operations(i, ops),
        }),
        Outcome::Cancelled(i) => json!({"action": "cancel", "interview": interview(i)}),
        Outcome::DestroyRequested(i) => json!({"action": "destroy", "interview": interview(i)}),
        Outcome::Extended(i) => json!({"action": "extend", "interview": interview(i)}),
        Outcome::Credentials {
            interview: i,
            password,
        } => {
            let mut answer = json!({"action": "creds", "interview": interview(i)});
            // No password yet (not provisioned) or any more (destroyed): the key is absent.
            if let (Some(password), Some(map)) = (password, answer.as_object_mut()) {
                map.insert("password".to_owned(), password.expose().into());
            }
            answer
        }
        Outcome::Challenges(ids) => json!({
            "action": "challenges",
            "challenges": ids.iter().map(|id| id.as_str()).collect::<Vec<_>>(),
        }),
        Outcome::TimeZone(zone) => json!({"action": "tz", "time_zone": zone.name()}),
        Outcome::Help(text) => json!({"action": "help", "text": text}),
    }
}
