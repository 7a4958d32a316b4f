//! What Prequel says about a command's outcome, once, for every chat platform.
//!
//! The words are the same on Slack and Discord; only their markup differs (bold, escaping, how
//! a time is shown). Each renderer implements [`Markup`] and calls [`outcome_text`] and
//! [`headline`], so a sentence changes in one place.

use chrono::{DateTime, Utc};
use prequel_core::Outcome;
use prequel_core::domain::{Interview, InterviewState};

/// How one platform marks text up.
pub trait Markup {
    /// `text` in bold (already escaped).
    fn bold(text: &str) -> String;
    /// `text` made safe to show as itself (a candidate's name may hold markup characters).
    fn escape(text: &str) -> String;
    /// A moment of `interview`, as the platform best shows it to the requester.
    fn when(interview: &Interview, at: DateTime<Utc>) -> String;
    /// What the `tz` answer says about where the user's zone comes from.
    const ZONE_SOURCE: &'static str;
}

/// One line naming the interview: challenge and candidate.
pub fn headline<M: Markup>(interview: &Interview) -> String {
    let challenge = M::bold(&M::escape(interview.challenge.as_str()));
    match &interview.candidate {
        Some(candidate) => format!("{challenge} interview with {}", M::escape(candidate)),
        None => format!("{challenge} interview"),
    }
}

/// The answer to a command's outcome; `None` for help, which each platform lays out itself.
pub fn outcome_text<M: Markup>(outcome: &Outcome) -> Option<String> {
    let when = |interview: &Interview, at| M::when(interview, at);
    Some(match outcome {
        Outcome::Scheduled(interview) => format!(
            "Scheduled {} (`{}`) for {}. I'll post its status here.",
            headline::<M>(interview),
            interview.id,
            when(interview, interview.start_at)
        ),
        Outcome::Created { interview, .. } => format!(
            "Starting {} (`{}`) now. I'll send you the credentials in a DM when it is ready.",
            headline::<M>(interview),
            interview.id
        ),
        Outcome::List(interviews) if interviews.is_empty() => "No open interviews.".to_owned(),
        Outcome::List(interviews) => {
            let mut out = M::bold("Open interviews");
            for interview in interviews {
                out.push_str(&format!(
                    "\n• `{}` {} — {}, {}",
                    interview.id,
                    headline::<M>(interview),
                    interview.state,
                    when(interview, interview.start_at)
                ));
            }
            out
        }
        Outcome::Status { interview, .. } => {
            let mut out = format!(
                "`{}` {} — {}; starts {}, ends {}",
                interview.id,
                headline::<M>(interview),
                interview.state,
                when(interview, interview.start_at),
                when(interview, interview.destroy_at)
            );
            if interview.state == InterviewState::Failed {
                out.push('\n');
                out.push_str(&crate::notify::failure_in_words(
                    interview.reason.as_deref(),
                    M::escape,
                ));
            }
            out
        }
        Outcome::Cancelled(interview) => format!("Cancelled interview `{}`.", interview.id),
        Outcome::DestroyRequested(interview) => format!(
            "Interview `{}` is being archived and removed.",
            interview.id
        ),
        Outcome::Extended(interview) => format!(
            "Interview `{}` now ends at {} ({}).",
            interview.id,
            when(interview, interview.destroy_at),
            interview.length
        ),
        Outcome::Credentials { interview, .. } => {
            format!("I sent you the credentials for `{}` in a DM.", interview.id)
        }
        Outcome::Challenges(challenges) => {
            let names: Vec<String> = challenges.iter().map(|c| format!("`{c}`")).collect();
            format!("Challenges: {}", names.join(", "))
        }
        Outcome::TimeZone(zone) => format!("Your time zone is {zone}; {}.", M::ZONE_SOURCE),
        Outcome::Help(_) => return None,
        Outcome::Report(report) => report_text::<M>(report),
        Outcome::Noted { interview, .. } => format!(
            "Noted on `{}`. Only you, the co-interviewers and Prequel admins can read it.",
            interview.id
        ),
        Outcome::Scored { interview, score } => format!(
            "Your score for `{}`: {}{}. Only you, the co-interviewers and Prequel admins can \
             read it; a new `score` replaces it.",
            interview.id,
            M::bold(score.verdict.as_str()),
            score
                .comment
                .as_deref()
                .map(|c| format!(" — {}", M::escape(c)))
                .unwrap_or_default()
        ),
    })
}

/// The report of one interview, for the asker: what it was, when, and what its people wrote.
/// The archive's download link is not in it (it goes by DM when the interview ends).
fn report_text<M: Markup>(report: &prequel_core::review::Report) -> String {
    let interview = &report.interview;
    let mut out = format!(
        "{} `{}` {} — {}; {} to {}",
        M::bold("Report"),
        interview.id,
        headline::<M>(interview),
        interview.state,
        M::when(interview, interview.start_at),
        M::when(interview, interview.destroy_at)
    );
    out.push_str(&format!(
        "\nAsked by {}{}.",
        M::escape(&interview.requested_by.display_name),
        match interview.co_interviewers.len() {
            0 => String::new(),
            n => format!(" with {n} co-interviewer{}", if n == 1 { "" } else { "s" }),
        }
    ));
    let review = &report.review;
    if review.scores.is_empty() {
        out.push_str("\nNo scores yet (`score <id> yes|no|…`).");
    } else {
        out.push_str(&format!("\n{}", M::bold("Scores")));
        for score in &review.scores {
            out.push_str(&format!(
                "\n• {}: {}{}",
                M::escape(&score.by.display_name),
                M::bold(score.verdict.as_str()),
                score
                    .comment
                    .as_deref()
                    .map(|c| format!(" — {}", M::escape(c)))
                    .unwrap_or_default()
            ));
        }
    }
    if review.notes.is_empty() {
        out.push_str("\nNo notes yet (`note <id> …`).");
    } else {
        out.push_str(&format!("\n{}", M::bold("Notes")));
        for note in &review.notes {
            out.push_str(&format!(
                "\n• {} {}: {}",
                M::when(interview, note.at),
                M::escape(&note.by.display_name),
                M::escape(&note.text)
            ));
        }
    }
    out
}
