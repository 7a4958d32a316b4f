//! `GET /metrics`: Prometheus text exposition format 0.0.4, written by hand (the format is a few
//! lines of text; an exporter crate would bring a registry we do not need).
//!
//! | family | type | what |
//! |---|---|---|
//! | `prequel_interviews{state}` | gauge | open interviews (not yet destroyed, failed or cancelled) by state, read from the store at each scrape; every open state is present, 0 when empty |
//! | `prequel_store_up` | gauge | 1 when the store answered this scrape, else 0 (and `prequel_interviews` is absent) |
//! | `prequel_operations_total{kind,result}` | counter | attempts this process's scheduler finished: `completed`, `failed` (for good), `retried` |
//! | `prequel_scheduler_claims_total` | counter | operations this process's scheduler claimed |
//! | `prequel_scheduler_lost_races_total` | counter | claims another scheduler won first |
//! | `prequel_scheduler_lateness_seconds` | histogram | claim time minus due time |
//! | `prequel_provisioning_duration_seconds` | histogram | a create's claim to its instance being active |
//! | `prequel_sse_clients` | gauge | open `/api/events` streams of this process |
//!
//! Terminal interviews are not counted by state: they are retained for a while and then expire,
//! so a count of them would be neither "since start" nor "ever"; how many ended which way since
//! the process started is in `prequel_operations_total`. Counters are per process (each replica
//! reports its own scheduler; sum them in the query), the interview gauge is the whole store's
//! (every replica reports the same; take `max`).
//!
//! The route needs the admin token like `/api`: the numbers are not secret, but they tell an
//! outsider how busy the service is and when interviews run, and Prometheus sends a bearer token
//! as easily as none (`authorization: {credentials_file: …}` in the scrape config).

use std::fmt::Write as _;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prequel_core::domain::{InterviewState, OperationKind};
use prequel_core::metrics::HistogramSnapshot;
use prequel_core::scheduler::OperationResult;
use prequel_core::store::{InterviewScope, PageRequest};

use crate::ApiState;
use crate::error::ErrorBody;

/// The content type of the text format, version 0.0.4.
pub(crate) const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Pages of open interviews read per scrape at most: 100 × 500 = 50 000 interviews, far beyond
/// any real backlog, so a scrape stays bounded even if the store holds something absurd.
const MAX_PAGES: usize = 100;

/// `GET /metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "health",
    responses(
        (status = 200, description = "Prometheus text format 0.0.4 (`text/plain; version=0.0.4`).", content_type = "text/plain", body = String),
        (status = 401, description = "No admin token, or the wrong one (`unauthorized`).", body = ErrorBody),
        (status = 403, description = "A personal API token: only the admin token reads metrics (`forbidden`).", body = ErrorBody),
    ),
    security(("bearer" = [])),
)]
pub(crate) async fn metrics(State(state): State<ApiState>) -> Response {
    let interviews = open_interviews(&state).await;
    let text = render(&state, interviews.as_ref());
    ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response()
}

/// Open interviews by state (in `InterviewState::ALL` order), or `None` when the store failed.
async fn open_interviews(state: &ApiState) -> Option<Vec<(InterviewState, u64)>> {
    let mut counts: Vec<(InterviewState, u64)> = InterviewState::ALL
        .into_iter()
        .filter(|s| !s.is_terminal())
        .map(|s| (s, 0))
        .collect();
    let mut page = PageRequest::first(PageRequest::MAX_LIMIT);
    for _ in 0..MAX_PAGES {
        let found = match state.prequel.list(InterviewScope::Open, &page).await {
            Ok(found) => found,
            Err(error) => {
                tracing::warn!(%error, "metrics: could not list the open interviews");
                return None;
            }
        };
        for interview in &found.items {
            match counts.iter_mut().find(|(s, _)| *s == interview.state) {
                Some((_, n)) => *n += 1,
                // A listing of open interviews that returns a terminal one (a race with its
                // end): count it under its own state rather than lose it.
                None => counts.push((interview.state, 1)),
            }
        }
        match found.next {
            Some(token) => page = PageRequest::after(PageRequest::MAX_LIMIT, token),
            None => return Some(counts),
        }
    }
    tracing::warn!(
        "metrics: more than {} open interviews; prequel_interviews counts the first ones only",
        MAX_PAGES * PageRequest::MAX_LIMIT as usize
    );
    Some(counts)
}

/// The exposition text.
fn render(state: &ApiState, interviews: Option<&Vec<(InterviewState, u64)>>) -> String {
    let stats = state.prequel.stats();
    let mut out = Text::default();

    if let Some(interviews) = interviews {
        out.family(
            "prequel_interviews",
            "gauge",
            "Open interviews (not destroyed, failed or cancelled) by state, from the store.",
        );
        for (interview_state, count) in interviews {
            out.sample(
                "prequel_interviews",
                &[("state", interview_state.as_str())],
                *count,
            );
        }
    }
    out.family(
        "prequel_store_up",
        "gauge",
        "Whether the store answered this scrape (1) or not (0).",
    );
    out.sample("prequel_store_up", &[], u64::from(interviews.is_some()));

    out.family(
        "prequel_operations_total",
        "counter",
        "Operation attempts this process's scheduler finished, by kind and result.",
    );
    for kind in [OperationKind::Create, OperationKind::Destroy] {
        for result in OperationResult::ALL {
            out.sample(
                "prequel_operations_total",
                &[("kind", kind.as_str()), ("result", result.as_str())],
                stats.operations(kind, result),
            );
        }
    }

    let counter = |out: &mut Text, name: &str, help: &str, value: u64| {
        out.family(name, "counter", help);
        out.sample(name, &[], value);
    };
    use std::sync::atomic::Ordering::Relaxed;
    counter(
        &mut out,
        "prequel_scheduler_claims_total",
        "Operations this process's scheduler claimed.",
        stats.claimed.load(Relaxed),
    );
    counter(
        &mut out,
        "prequel_scheduler_lost_races_total",
        "Claims another scheduler won first.",
        stats.lost_races.load(Relaxed),
    );

    out.histogram(
        "prequel_scheduler_lateness_seconds",
        "Claim time minus due time of the operations this process's scheduler claimed.",
        &stats.lateness.snapshot(),
    );
    out.histogram(
        "prequel_provisioning_duration_seconds",
        "From the claim of a create to its instance being active (successful creates).",
        &stats.provisioning.snapshot(),
    );

    out.family(
        "prequel_sse_clients",
        "gauge",
        "Open /api/events streams of this process.",
    );
    out.sample("prequel_sse_clients", &[], state.sse_clients() as u64);
    out.0
}

/// A text exposition being written.
#[derive(Default)]
struct Text(String);

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        // HELP text escapes only `\` and newlines; ours have neither, but stay correct anyway.
        let help = help.replace('\\', r"\\").replace('\n', r"\n");
        let _ = writeln!(self.0, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl std::fmt::Display) {
        self.0.push_str(name);
        if !labels.is_empty() {
            self.0.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.0.push(',');
                }
                let value = value
                    .replace('\\', r"\\")
                    .replace('"', r#"\""#)
                    .replace('\n', r"\n");
                let _ = write!(self.0, "{label}=\"{value}\"");
            }
            self.0.push('}');
        }
        let _ = writeln!(self.0, " {value}");
    }

    fn histogram(&mut self, name: &str, help: &str, snapshot: &HistogramSnapshot) {
        self.family(name, "histogram", help);
        let bucket = format!("{name}_bucket");
        for (bound, count) in &snapshot.buckets {
            // `{}` of an f64 never uses exponent notation: `0.005`, `1`, `300`.
            self.sample(&bucket, &[("le", &bound.to_string())], count);
        }
        self.sample(&bucket, &[("le", "+Inf")], snapshot.count);
        self.sample(&format!("{name}_sum"), &[], snapshot.sum);
        self.sample(&format!("{name}_count"), &[], snapshot.count);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped_and_histograms_end_with_inf_sum_and_count() {
        let mut text = Text::default();
        text.sample("m", &[("a", "x\"y\\z\nw")], 1);
        text.histogram(
            "h",
            "A histogram.",
            &HistogramSnapshot {
                buckets: vec![(0.5, 1), (1.0, 2)],
                count: 3,
                sum: 4.25,
            },
        );
        assert_eq!(
            text.0,
            "m{a=\"x\\\"y\\\\z\\nw\"} 1\n\
             # HELP h A histogram.\n# TYPE h histogram\n\
             h_bucket{le=\"0.5\"} 1\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 3\n\
             h_sum 4.25\nh_count 3\n"
        );
    }
}
