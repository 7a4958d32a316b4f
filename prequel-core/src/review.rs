//! What the interviewers think: private notes (`note <id> <text…>`, many per interview, each
//! with its time and author) and one score per interviewer (`score <id> strong-yes|yes|no|
//! strong-no [comment…]`, changeable). Only the people who may act on the interview (its
//! requester, its co-interviewers, admins) can write or read them; nothing public shows them.
//!
//! They are kept in the interview's own per-interview records (the same
//! [`OperationStore::put_note`](crate::store::OperationStore::put_note) records the frontends
//! keep their message ids in), under keys of their own: so every backend keeps them through the
//! one conformance-tested mechanism, and they go when the interview's record goes (its
//! retention starts only once it is terminal).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::domain::Requester;

/// The longest note or score comment, in characters.
pub const MAX_REVIEW_CHARS: usize = 1000;
/// The most notes one interview keeps (they live in its record, which has a size limit on
/// DynamoDB).
pub const MAX_NOTES: usize = 100;

/// An interviewer's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Hire, without doubt.
    StrongYes,
    /// Hire.
    Yes,
    /// Do not hire.
    No,
    /// Do not hire, without doubt.
    StrongNo,
}

impl Verdict {
    /// Every verdict, strongest yes first.
    pub const ALL: [Verdict; 4] = [Self::StrongYes, Self::Yes, Self::No, Self::StrongNo];

    /// The word for it: `strong-yes`, `yes`, `no`, `strong-no`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::StrongYes => "strong-yes",
            Self::Yes => "yes",
            Self::No => "no",
            Self::StrongNo => "strong-no",
        }
    }

    /// Reads the word, ignoring case; `strong_yes` and `strongyes` are taken too.
    pub fn parse(word: &str) -> Option<Self> {
        let word = word.to_ascii_lowercase().replace(['_', ' '], "-");
        let word = match word.as_str() {
            "strongyes" => "strong-yes",
            "strongno" => "strong-no",
            other => other,
        };
        Self::ALL.into_iter().find(|v| v.as_str() == word)
    }
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One private note on an interview.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewNote {
    /// When it was written.
    pub at: DateTime<Utc>,
    /// Who wrote it.
    pub by: Requester,
    /// What they wrote (one line to [`MAX_REVIEW_CHARS`]).
    pub text: String,
}

/// One interviewer's score of an interview (the latest they gave).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Score {
    /// When it was given.
    pub at: DateTime<Utc>,
    /// Who gave it.
    pub by: Requester,
    /// The verdict.
    pub verdict: Verdict,
    /// Why, if they said.
    pub comment: Option<String>,
}

/// Notes and scores of one interview, as the people who may see them get them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Review {
    /// Notes, oldest first.
    pub notes: Vec<ReviewNote>,
    /// One score per interviewer, in the order of their platform and user id.
    pub scores: Vec<Score>,
}

/// Everything about one interview, for its people: what `report` answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    /// The interview.
    pub interview: crate::domain::Interview,
    /// Its create and (if any) destroy operation.
    pub operations: Vec<crate::domain::Operation>,
    /// Its notes and scores.
    pub review: Review,
    /// A download link for the archived work, when there is an archive backend and an archive
    /// (a capability: it goes to the asker only, never into a log or an event).
    pub archive_link: Option<String>,
}

const NOTE_PREFIX: &str = "review.note/";
const SCORE_PREFIX: &str = "review.score/";

/// The record key of a note written at `at`: ordered by time, then by a random suffix that
/// keeps two notes of the same millisecond apart.
pub(crate) fn note_key(at: DateTime<Utc>) -> String {
    format!(
        "{NOTE_PREFIX}{:015}/{:08x}",
        at.timestamp_millis().max(0),
        rand::random::<u32>()
    )
}

/// The record key of `by`'s score: one per person, so a new score replaces theirs.
pub(crate) fn score_key(by: &Requester) -> String {
    format!("{SCORE_PREFIX}{}/{}", by.platform.as_str(), by.user_id)
}

/// How many of an interview's records are notes.
pub(crate) fn count_notes<'k>(keys: impl Iterator<Item = &'k String>) -> usize {
    keys.filter(|key| key.starts_with(NOTE_PREFIX)).count()
}

/// The notes and scores among an interview's records (ordered by key: notes by time). A record
/// that does not read is left out with a warning rather than hiding the rest.
pub(crate) fn from_records(records: &std::collections::BTreeMap<String, String>) -> Review {
    let mut review = Review::default();
    for (key, value) in records {
        if key.starts_with(NOTE_PREFIX) {
            match serde_json::from_str(value) {
                Ok(note) => review.notes.push(note),
                Err(error) => tracing::warn!(%key, %error, "an unreadable review note"),
            }
        } else if key.starts_with(SCORE_PREFIX) {
            match serde_json::from_str(value) {
                Ok(score) => review.scores.push(score),
                Err(error) => tracing::warn!(%key, %error, "an unreadable score"),
            }
        }
    }
    review
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;
    use crate::domain::Platform;

    #[test]
    fn verdicts_read_their_words_in_any_case() {
        for verdict in Verdict::ALL {
            assert_eq!(Verdict::parse(verdict.as_str()), Some(verdict));
            assert_eq!(
                Verdict::parse(&verdict.as_str().to_uppercase()),
                Some(verdict)
            );
        }
        assert_eq!(Verdict::parse("strong_yes"), Some(Verdict::StrongYes));
        assert_eq!(Verdict::parse("strongno"), Some(Verdict::StrongNo));
        for wrong in ["", "maybe", "yes!", "strong", "no-no"] {
            assert_eq!(Verdict::parse(wrong), None, "{wrong:?}");
        }
    }

    #[test]
    fn notes_sort_by_time_and_scores_are_one_per_person() {
        let at = |s| Utc.with_ymd_and_hms(2026, 12, 5, 10, 0, s).unwrap();
        let alice = Requester {
            platform: Platform::Slack,
            user_id: "U1".into(),
            display_name: "Alice".into(),
        };
        let mut records = std::collections::BTreeMap::new();
        for (second, text) in [(30, "second"), (5, "first")] {
            let note = ReviewNote {
                at: at(second),
                by: alice.clone(),
                text: text.into(),
            };
            records.insert(
                note_key(note.at),
                serde_json::to_string(&note).expect("json"),
            );
        }
        for verdict in [Verdict::No, Verdict::StrongYes] {
            let score = Score {
                at: at(40),
                by: alice.clone(),
                verdict,
                comment: None,
            };
            records.insert(
                score_key(&alice),
                serde_json::to_string(&score).expect("json"),
            );
        }
        records.insert("slack.channel".into(), "C1".into());
        records.insert("review.note/garbage".into(), "{".into());
        let review = from_records(&records);
        let texts: Vec<&str> = review.notes.iter().map(|n| n.text.as_str()).collect();
        assert_eq!(texts, ["first", "second"]);
        assert_eq!(review.scores.len(), 1);
        assert_eq!(review.scores[0].verdict, Verdict::StrongYes);
        assert_eq!(
            count_notes(records.keys()),
            3,
            "the unreadable one counts too"
        );
    }
}
